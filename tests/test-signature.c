/* Detached signatures (signed server answers): what verifies, and every way
 * a forged, altered, replayed or foreign answer is refused. */
#include "test-util.h"

typedef struct
{
  TesseraSigningKey *key;
  TesseraTrustedKeys *trusted;
  GBytes *message;
  char *signature;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  f->key = tessera_signing_key_generate ();
  f->trusted = test_trusted_keys_of (f->key);
  const char *text = "nonce=abc\nmachine=QD56\nproduct=KRE\nlease=1700000060\ntime=1700000000";
  f->message = g_bytes_new_static (text, strlen (text));
  f->signature = tessera_signing_key_sign_message (f->key, "activate", f->message);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  tessera_signing_key_unref (f->key);
  tessera_trusted_keys_unref (f->trusted);
  g_bytes_unref (f->message);
  g_free (f->signature);
}

static void
test_roundtrip (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (g_str_has_prefix (f->signature, tessera_signing_key_get_id (f->key)));
  g_assert_true (tessera_trusted_keys_verify_message (f->trusted, "activate", f->message,
                                                      f->signature, &error));
  g_assert_no_error (error);
  /* Deterministic (Ed25519): the same message gives the same signature. */
  g_autofree char *again = tessera_signing_key_sign_message (f->key, "activate", f->message);
  g_assert_cmpstr (again, ==, f->signature);
}

typedef enum
{
  BREAK_OTHER_CONTEXT,
  BREAK_ONE_BYTE,
  BREAK_SIGNATURE_BIT,
  BREAK_MISSING,
  BREAK_NO_DOT,
  BREAK_SHORT,
  BREAK_JUNK_BASE64,
  BREAK_UNTRUSTED,
  BREAK_EMPTY_MESSAGE,
} Break;

typedef struct
{
  const char *name;
  Break how;
  TesseraError code;
  const char *message_part;
} BreakCase;

static const BreakCase break_cases[] = {
  { "other-context", BREAK_OTHER_CONTEXT, TESSERA_ERROR_TAMPERED, "does not match" },
  { "one-byte", BREAK_ONE_BYTE, TESSERA_ERROR_TAMPERED, "does not match" },
  { "signature-bit", BREAK_SIGNATURE_BIT, TESSERA_ERROR_TAMPERED, "does not match" },
  { "missing", BREAK_MISSING, TESSERA_ERROR_TAMPERED, "carries no signature" },
  { "no-dot", BREAK_NO_DOT, TESSERA_ERROR_TAMPERED, "carries no signature" },
  { "short", BREAK_SHORT, TESSERA_ERROR_TAMPERED, "malformed" },
  { "junk-base64", BREAK_JUNK_BASE64, TESSERA_ERROR_TAMPERED, "malformed" },
  { "untrusted", BREAK_UNTRUSTED, TESSERA_ERROR_UNTRUSTED_KEY, "which is not trusted" },
  { "empty-message", BREAK_EMPTY_MESSAGE, TESSERA_ERROR_TAMPERED, "does not match" },
};

static void
test_refused (Fixture *f, gconstpointer data)
{
  const BreakCase *c = data;
  const char *context = "activate";
  g_autoptr (GBytes) message = g_bytes_ref (f->message);
  g_autofree char *sig = g_strdup (f->signature);
  switch (c->how)
    {
    case BREAK_OTHER_CONTEXT:
      context = "heartbeat"; /* a heartbeat answer replayed as an activation */
      break;
    case BREAK_ONE_BYTE:
      {
        gsize len = 0;
        const char *text = g_bytes_get_data (f->message, &len);
        g_autofree char *copy = g_strndup (text, len);
        copy[len - 1] ^= 1; /* another server time */
        g_bytes_unref (message);
        message = g_bytes_new (copy, len);
        break;
      }
    case BREAK_SIGNATURE_BIT:
      {
        /* Flip a bit inside the base64 signature, keeping it valid base64. */
        char *p = sig + strlen (sig) - 10;
        *p = *p == 'A' ? 'B' : 'A';
        break;
      }
    case BREAK_MISSING:
      g_clear_pointer (&sig, g_free);
      break;
    case BREAK_NO_DOT:
      sig[16] = '-';
      break;
    case BREAK_SHORT:
      sig[40] = '\0';
      break;
    case BREAK_JUNK_BASE64:
      sig[30] = '!';
      break;
    case BREAK_UNTRUSTED:
      {
        g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
        g_free (sig);
        sig = tessera_signing_key_sign_message (other, context, message);
        break;
      }
    case BREAK_EMPTY_MESSAGE:
      g_bytes_unref (message);
      message = g_bytes_new (NULL, 0);
      break;
    }
  g_autoptr (GError) error = NULL;
  g_assert_false (tessera_trusted_keys_verify_message (f->trusted, context, message, sig, &error));
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_assert_nonnull (strstr (error->message, c->message_part));
}

/* ---- sealed keys ---- */

static const guint8 test_kek[TESSERA_KEY_ENCRYPTION_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

/* A sealed key opens with its key-encryption key into the same key: same
 * id, and what it signs verifies with the original's public key; two
 * seals of one key differ (a fresh nonce each). */
static void
test_seal_roundtrip (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) sealed = tessera_signing_key_seal (f->key, test_kek, sizeof test_kek, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) again = tessera_signing_key_seal (f->key, test_kek, sizeof test_kek, &error);
  g_assert_no_error (error);
  g_assert_false (g_bytes_equal (sealed, again));
  g_autoptr (TesseraSigningKey) opened = tessera_signing_key_unseal (
      tessera_signing_key_get_id (f->key), sealed, test_kek, sizeof test_kek, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_signing_key_get_id (opened), ==, tessera_signing_key_get_id (f->key));
  g_autofree char *sig = tessera_signing_key_sign_message (opened, "activate", f->message);
  g_assert_true (
      tessera_trusted_keys_verify_message (f->trusted, "activate", f->message, sig, &error));
  g_assert_no_error (error);
}

typedef enum
{
  SEAL_WRONG_KEK,
  SEAL_FLIP_BYTE,
  SEAL_TRUNCATED,
  SEAL_EMPTY,
  SEAL_OTHER_ID,
  SEAL_SHORT_ID,
  SEAL_SHORT_KEK,
} SealBreak;

typedef struct
{
  const char *name;
  SealBreak how;
  TesseraError code;
  const char *message_part;
} SealCase;

static const SealCase seal_cases[] = {
  { "wrong-kek", SEAL_WRONG_KEK, TESSERA_ERROR_AUTH, "same key file" },
  { "flipped-byte", SEAL_FLIP_BYTE, TESSERA_ERROR_AUTH, "does not open" },
  { "truncated", SEAL_TRUNCATED, TESSERA_ERROR_TAMPERED, "damaged" },
  { "empty", SEAL_EMPTY, TESSERA_ERROR_TAMPERED, "damaged" },
  { "other-id", SEAL_OTHER_ID, TESSERA_ERROR_AUTH, "does not open" },
  { "short-id", SEAL_SHORT_ID, TESSERA_ERROR_TAMPERED, "damaged" },
  { "short-kek", SEAL_SHORT_KEK, TESSERA_ERROR_INVALID_ARGUMENT, "32 bytes" },
};

static void
test_seal_refused (Fixture *f, gconstpointer data)
{
  const SealCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) sealed = tessera_signing_key_seal (f->key, test_kek, sizeof test_kek, &error);
  g_assert_no_error (error);
  gsize len = 0;
  const guint8 *orig = g_bytes_get_data (sealed, &len);
  guint8 *bytes = g_memdup2 (orig, len);
  guint8 kek[TESSERA_KEY_ENCRYPTION_KEY_LEN];
  memcpy (kek, test_kek, sizeof kek);
  gsize kek_len = sizeof kek;
  const char *id = tessera_signing_key_get_id (f->key);
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  switch (c->how)
    {
    case SEAL_WRONG_KEK:
      kek[0] ^= 0x80;
      break;
    case SEAL_FLIP_BYTE:
      bytes[len - 1] ^= 0x01;
      break;
    case SEAL_TRUNCATED:
      len--;
      break;
    case SEAL_EMPTY:
      len = 0;
      break;
    case SEAL_OTHER_ID:
      id = tessera_signing_key_get_id (other);
      break;
    case SEAL_SHORT_ID:
      id = "abc";
      break;
    case SEAL_SHORT_KEK:
      kek_len = 16;
      break;
    }
  g_autoptr (GBytes) broken = g_bytes_new_take (bytes, len);
  TesseraSigningKey *key = tessera_signing_key_unseal (id, broken, kek, kek_len, &error);
  g_assert_null (key);
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_assert_nonnull (strstr (error->message, c->message_part));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/signature/roundtrip", Fixture, NULL, setup, test_roundtrip, teardown);
  for (guint i = 0; i < G_N_ELEMENTS (break_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/signature/refused/%s", break_cases[i].name);
      g_test_add (path, Fixture, &break_cases[i], setup, test_refused, teardown);
    }
  g_test_add ("/signature/seal/roundtrip", Fixture, NULL, setup, test_seal_roundtrip, teardown);
  for (guint i = 0; i < G_N_ELEMENTS (seal_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/signature/seal/refused/%s", seal_cases[i].name);
      g_test_add (path, Fixture, &seal_cases[i], setup, test_seal_refused, teardown);
    }
  return g_test_run ();
}
