/* Fuzzes the signed license file loader, tessera_licfile_verify(), trusting a
 * fixed key (fuzz/keys/fuzz-only.key: public and test-only, so the seeds in
 * fuzz/corpus/licfile verify), then tessera_licfile_check() and the getters on
 * whatever verified. Every input is tried twice:
 *  1. as a whole license file: the envelope, key lookup and signature checks;
 *  2. as the payload of a file the harness signs with the fixed key, because
 *     a mutated payload never carries a valid signature, and the strict
 *     payload parser behind the signature check would otherwise stay out of
 *     reach. */
#include "fuzz-common.h"

#include <string.h>

#include <sodium.h>

#include <glib/gstdio.h>

static TesseraTrustedKeys *trusted;
static TesseraFingerprint *machine;
static char *fixed_id;
static unsigned char fixed_sk[crypto_sign_SECRETKEYBYTES];

/* tessera_signing_key_load() wants a private (0600) file; git does not keep
 * modes, so load from a private copy. */
static TesseraSigningKey *
load_fuzz_key (void)
{
  if (sodium_init () < 0)
    g_error ("fuzz-licfile: sodium_init failed");
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  if (!g_file_get_contents (TESSERA_FUZZ_KEY, &contents, &length, &error))
    g_error ("fuzz-licfile: %s", error->message);
  g_autofree char *dir = g_dir_make_tmp ("tessera-fuzz-key-XXXXXX", &error);
  if (dir == NULL)
    g_error ("fuzz-licfile: %s", error->message);
  g_autofree char *path = g_build_filename (dir, "fuzz-only.key", NULL);
  if (!g_file_set_contents_full (path, contents, (gssize) length, G_FILE_SET_CONTENTS_NONE, 0600,
                                 &error))
    g_error ("fuzz-licfile: %s", error->message);
  g_chmod (path, 0600);
  TesseraSigningKey *key = tessera_signing_key_load (path, &error);
  g_unlink (path);
  g_rmdir (dir);
  if (key == NULL)
    g_error ("fuzz-licfile: %s: %s", TESSERA_FUZZ_KEY, error->message);

  /* "tessera-ed25519-secret KEYID BASE64SEED": the seed signs raw payloads. */
  g_auto (GStrv) parts = g_strsplit (g_strstrip (contents), " ", -1);
  gsize seed_len = 0;
  g_autofree guchar *seed
      = g_strv_length (parts) == 3 ? g_base64_decode (parts[2], &seed_len) : NULL;
  if (seed_len != crypto_sign_SEEDBYTES)
    g_error ("fuzz-licfile: %s: unexpected key file format", TESSERA_FUZZ_KEY);
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair (pk, fixed_sk, seed);
  fixed_id = g_strdup (tessera_signing_key_get_id (key));
  return key;
}

static void
trust (TesseraSigningKey *key)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line = tessera_signing_key_dup_public (key);
  if (!tessera_trusted_keys_add_public (trusted, line, &error))
    g_error ("fuzz-licfile: %s", error->message);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  trusted = tessera_trusted_keys_new ();
  g_autoptr (TesseraSigningKey) fixed = load_fuzz_key ();
  trust (fixed);
  /* A second, random key: lookups among several trusted keys. */
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  trust (other);
  machine = fuzz_fingerprint ();
  return 0;
}

static void
check (TesseraLicfile *file, const char *product, const char *machine_id, gint64 now)
{
  g_autoptr (GError) error = NULL;
  gboolean ok = tessera_licfile_check (file, product, machine_id, now, &error);
  if (ok == (error != NULL))
    g_error ("tessera_licfile_check: result and error disagree");
  fuzz_check_error (error);
}

/* The component comparison of format 2 files (docs/fingerprint.md): every
 * accessor on whatever verified, and the check must agree with the match. */
static void
match (TesseraLicfile *file)
{
  static const char *const names[] = { "machine-id", "dmi-uuid", "cpu", "nic", "user", "disk" };
  g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, machine);
  const char *policy = tessera_licfile_get_match_policy (file);
  if (g_strcmp0 (tessera_machine_match_get_policy (m), policy ? policy : "exact") != 0)
    g_error ("tessera_machine_match_get_policy: not the file's");
  if (tessera_machine_match_get_matched (m) > tessera_machine_match_get_bound (m)
      || tessera_machine_match_get_required (m) > tessera_machine_match_get_bound (m)
      || (policy != NULL && tessera_machine_match_get_required (m) == 0))
    g_error ("tessera_licfile_match_machine: inconsistent counts");
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    (void) tessera_component_match_to_string (tessera_machine_match_get_component (m, names[i]));
  for (int state = TESSERA_COMPONENT_MATCHED; state <= TESSERA_COMPONENT_UNKNOWN; state++)
    {
      g_auto (GStrv) list = tessera_machine_match_dup_components (m, state);
      (void) list;
    }
  g_autofree char *why = tessera_machine_match_dup_explanation (m);
  if (why == NULL || !g_utf8_validate (why, -1, NULL))
    g_error ("tessera_machine_match_dup_explanation: not a sentence");

  g_autoptr (GError) error = NULL;
  gboolean ok = tessera_licfile_check_fingerprint (file, NULL, machine,
                                                   tessera_licfile_get_issued_at (file), &error);
  if (ok == (error != NULL))
    g_error ("tessera_licfile_check_fingerprint: result and error disagree");
  if (ok != tessera_machine_match_is_match (m))
    g_error ("tessera_licfile_check_fingerprint: disagrees with the match");
  fuzz_check_error (error);
}

/* The envelope of docs/license-file.md around @payload, signed with the
 * fixed key over "tessera-license-v1\0" KEYID "\0" PAYLOAD. */
static GBytes *
sign_payload (const uint8_t *payload, size_t size)
{
  g_autoptr (GByteArray) msg = g_byte_array_new ();
  g_byte_array_append (msg, (const guint8 *) "tessera-license-v1", 19);
  g_byte_array_append (msg, (const guint8 *) fixed_id, 16);
  g_byte_array_append (msg, (const guint8 *) "", 1);
  g_byte_array_append (msg, payload, (guint) size);
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached (sig, NULL, msg->data, msg->len, fixed_sk);
  g_autofree char *p64 = g_base64_encode (payload, size);
  g_autofree char *s64 = g_base64_encode (sig, sizeof sig);
  char *text = g_strdup_printf (
      "{\"tessera-license\":1,\"key-id\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}\n",
      fixed_id, p64, s64);
  return g_bytes_new_take (text, strlen (text));
}

static void
verify (GBytes *bytes)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, trusted, &error);
  if (file == NULL)
    {
      if (error == NULL)
        g_error ("tessera_licfile_verify: NULL without an error");
      fuzz_check_error (error);
      return;
    }
  if (error != NULL)
    g_error ("tessera_licfile_verify: a file and an error");

  const char *product = tessera_licfile_get_product (file);
  const char *machine_id = tessera_licfile_get_machine_id (file);
  gint64 issued = tessera_licfile_get_issued_at (file);
  gint64 expires = tessera_licfile_get_expires_at (file);
  (void) tessera_licfile_get_license_id (file);
  (void) tessera_licfile_get_org (file);
  (void) tessera_licfile_get_kind (file);
  (void) tessera_licfile_get_billing (file);
  (void) tessera_licfile_get_key_id (file);
  (void) tessera_licfile_get_subscription_end (file);
  for (const char *const *e = tessera_licfile_get_entitlements (file); e != NULL && *e != NULL; e++)
    (void) strlen (*e);

  check (file, product, machine_id, issued);
  check (file, product, machine_id, expires);
  check (file, product, machine_id, g_get_real_time () / G_USEC_PER_SEC);
  check (file, "KRE", "ABCD-EFGH-JKMN-PQRS", G_MININT64);
  check (file, NULL, NULL, G_MAXINT64);
  match (file);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GBytes) file = g_bytes_new (data, size);
  verify (file);
  if (size <= TESSERA_LICFILE_MAX_SIZE / 2)
    {
      g_autoptr (GBytes) signed_payload = sign_payload (data, size);
      verify (signed_payload);
    }
  return 0;
}
