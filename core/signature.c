/* Detached signatures over short messages, for answers that must be
 * authentic but are not license files: the online server signs its
 * activation and heartbeat answers with them. The signed bytes are prefixed
 * with a context string, so a signature made for one purpose (a heartbeat)
 * never verifies for another (an activation, a license file). */
#include "tessera-private.h"

#include <sodium.h>
#include <string.h>

#define SIGNATURE_DOMAIN "tessera-signature-v1"

/* "tessera-signature-v1" NUL context NUL message: unambiguous, since the
 * context holds no NUL. */
static GBytes *
signed_bytes (const char *context, GBytes *message)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (message, &len);
  GByteArray *buf = g_byte_array_sized_new (sizeof SIGNATURE_DOMAIN + strlen (context) + 1 + len);
  g_byte_array_append (buf, (const guint8 *) SIGNATURE_DOMAIN, sizeof SIGNATURE_DOMAIN);
  g_byte_array_append (buf, (const guint8 *) context, (guint) strlen (context) + 1);
  if (len > 0)
    g_byte_array_append (buf, data, (guint) len);
  return g_byte_array_free_to_bytes (buf);
}

char *
tessera_signing_key_sign_message (TesseraSigningKey *key, const char *context, GBytes *message)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (context != NULL && *context != '\0', NULL);
  g_return_val_if_fail (message != NULL, NULL);

  g_autoptr (GBytes) bytes = signed_bytes (context, message);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached (sig, NULL, data, len, _tessera_signing_key_get_secret (key));
  g_autofree char *b64 = g_base64_encode (sig, sizeof sig);
  return g_strconcat (tessera_signing_key_get_id (key), ".", b64, NULL);
}

gboolean
tessera_trusted_keys_verify_message (TesseraTrustedKeys *keys, const char *context, GBytes *message,
                                     const char *signature, GError **error)
{
  g_return_val_if_fail (keys != NULL, FALSE);
  g_return_val_if_fail (context != NULL && *context != '\0', FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!_tessera_sodium_init (error))
    return FALSE;
  const char *dot = signature ? strchr (signature, '.') : NULL;
  if (dot == NULL || dot - signature != TESSERA_KEY_ID_LEN)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "the %s answer carries no signature in the form KEYID.BASE64", context);
      return FALSE;
    }
  char key_id[TESSERA_KEY_ID_LEN + 1];
  memcpy (key_id, signature, TESSERA_KEY_ID_LEN);
  key_id[TESSERA_KEY_ID_LEN] = '\0';

  /* Decode by hand-checked length: g_base64_decode accepts junk silently. */
  const char *b64 = dot + 1;
  gsize b64_len = strlen (b64);
  gsize sig_len = 0;
  g_autofree guchar *sig = NULL;
  if (b64_len == 88
      && strspn (b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789+/=")
             == b64_len)
    sig = g_base64_decode (b64, &sig_len);
  if (sig == NULL || sig_len != crypto_sign_BYTES)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "the %s answer's signature is malformed", context);
      return FALSE;
    }

  const unsigned char *pk = _tessera_trusted_keys_lookup (keys, key_id);
  if (pk == NULL)
    {
      g_autofree char *known = _tessera_trusted_keys_describe (keys);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY,
                   "the %s answer is signed by key %s, which is not trusted (trusted: %s)", context,
                   key_id, known);
      return FALSE;
    }

  g_autoptr (GBytes) bytes = signed_bytes (context, message);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  if (crypto_sign_verify_detached (sig, data, len, pk) != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "the %s answer's signature does not match its contents (a forged, altered "
                   "or replayed answer)",
                   context);
      return FALSE;
    }
  return TRUE;
}
