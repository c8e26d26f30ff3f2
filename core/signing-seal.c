/* Signing keys sealed for storage in a shared database: the Ed25519 seed
 * encrypted with XChaCha20-Poly1305 under a key-encryption key that only
 * the servers hold. The key id is authenticated with it (associated data),
 * so a sealed key copied onto another key's row does not open. */
#include "tessera-private.h"

#include <sodium.h>
#include <string.h>

#define SEAL_VERSION 1
#define SEAL_AD_PREFIX "tessera-sealed-signing-key-v1:"
#define SEAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEAL_LEN (1 + SEAL_NONCE + crypto_sign_SEEDBYTES + SEAL_TAG)

G_STATIC_ASSERT (TESSERA_KEY_ENCRYPTION_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);

/* The associated data: the prefix and @id (TESSERA_KEY_ID_LEN characters). */
static void
seal_ad (const char *id, unsigned char *ad, gsize *len)
{
  *len = (gsize) g_snprintf ((char *) ad, sizeof SEAL_AD_PREFIX + TESSERA_KEY_ID_LEN, "%s%.*s",
                             SEAL_AD_PREFIX, TESSERA_KEY_ID_LEN, id);
}

/* libsodium is usable and @kek_len is a key-encryption key's. */
static gboolean
seal_ready (gsize kek_len, GError **error)
{
  if (!_tessera_sodium_init (error))
    return FALSE;
  if (kek_len != TESSERA_KEY_ENCRYPTION_KEY_LEN)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "a key-encryption key is %d bytes, not %" G_GSIZE_FORMAT,
                   TESSERA_KEY_ENCRYPTION_KEY_LEN, kek_len);
      return FALSE;
    }
  return TRUE;
}

GBytes *
tessera_signing_key_seal (TesseraSigningKey *key, const guint8 *kek, gsize kek_len, GError **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (kek != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!seal_ready (kek_len, error))
    return NULL;
  unsigned char *seed = sodium_malloc (crypto_sign_SEEDBYTES);
  g_assert (seed != NULL);
  crypto_sign_ed25519_sk_to_seed (seed, _tessera_signing_key_secret (key));
  guint8 *out = g_malloc (SEAL_LEN);
  out[0] = SEAL_VERSION;
  randombytes_buf (out + 1, SEAL_NONCE);
  unsigned char ad[sizeof SEAL_AD_PREFIX + TESSERA_KEY_ID_LEN];
  gsize ad_len;
  seal_ad (tessera_signing_key_get_id (key), ad, &ad_len);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt (
      out + 1 + SEAL_NONCE, &clen, seed, crypto_sign_SEEDBYTES, ad, ad_len, NULL, out + 1, kek);
  sodium_free (seed);
  g_assert (clen == crypto_sign_SEEDBYTES + SEAL_TAG);
  return g_bytes_new_take (out, SEAL_LEN);
}

TesseraSigningKey *
tessera_signing_key_unseal (const char *id, GBytes *sealed, const guint8 *kek, gsize kek_len,
                            GError **error)
{
  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (sealed != NULL, NULL);
  g_return_val_if_fail (kek != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!seal_ready (kek_len, error))
    return NULL;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (sealed, &len);
  if (strlen (id) != TESSERA_KEY_ID_LEN || len != SEAL_LEN || data[0] != SEAL_VERSION)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "sealed signing key %s is damaged: not a sealed key of this version", id);
      return NULL;
    }
  unsigned char ad[sizeof SEAL_AD_PREFIX + TESSERA_KEY_ID_LEN];
  gsize ad_len;
  seal_ad (id, ad, &ad_len);
  unsigned char *seed = sodium_malloc (crypto_sign_SEEDBYTES);
  g_assert (seed != NULL);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt (seed, &mlen, NULL, data + 1 + SEAL_NONCE,
                                                  len - 1 - SEAL_NONCE, ad, ad_len, data + 1, kek)
      != 0)
    {
      sodium_free (seed);
      /* One message for both causes: the two cannot be told apart, and the
       * wrong key file is by far the likelier. */
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "sealed signing key %s does not open with this key-encryption key: every "
                   "instance needs the same key file (or the stored key was altered)",
                   id);
      return NULL;
    }
  TesseraSigningKey *key = _tessera_signing_key_new_from_seed (seed);
  /* The id is authenticated (associated data): what opens is that key. */
  sodium_free (seed);
  return key;
}
