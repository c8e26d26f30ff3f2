/* Writes the seed corpus of fuzz-licfile (fuzz/corpus/licfile), not a harness:
 *
 *   fuzz-licfile-seeds [--new-key] KEYFILE OUTDIR
 *
 * --new-key first creates KEYFILE (and KEYFILE.pub) with a fresh key; that
 * was done once for fuzz/keys/fuzz-only.key. KEYFILE must be mode 0600
 * (git does not keep modes: chmod 600 it first). The output is deterministic
 * (fixed times), so regenerating gives the same files. */
#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"

#define DAY (24 * 3600)
#define T0 G_GINT64_CONSTANT (1700000000)

static void
write_seed (const char *dir, const char *name, const void *data, gsize length)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (dir, name, NULL);
  if (!g_file_set_contents (path, data, (gssize) length, &error))
    g_error ("%s", error->message);
  printf ("%s (%" G_GSIZE_FORMAT " bytes)\n", path, length);
}

static GBytes *
sign (TesseraSigningKey *key, const TesseraLicfileInfo *info)
{
  g_autoptr (GError) error = NULL;
  GBytes *bytes = tessera_licfile_sign (key, info, &error);
  if (bytes == NULL)
    g_error ("%s", error->message);
  return bytes;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  gboolean new_key = argc == 4 && strcmp (argv[1], "--new-key") == 0;
  if (argc != 3 && !new_key)
    {
      fprintf (stderr, "usage: %s [--new-key] KEYFILE OUTDIR\n", argv[0]);
      return 2;
    }
  const char *key_path = argv[argc - 2], *dir = argv[argc - 1];
  if (new_key)
    {
      g_autoptr (TesseraSigningKey) fresh = tessera_signing_key_generate ();
      g_autofree char *pub = g_strconcat (key_path, ".pub", NULL);
      if (!tessera_signing_key_save (fresh, key_path, pub, &error))
        g_error ("%s", error->message);
    }
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_load (key_path, &error);
  if (key == NULL)
    g_error ("%s", error->message);
  g_mkdir_with_parents (dir, 0755);

  static const char *const entitlements[] = { "reports", "export", NULL };
  TesseraLicfileInfo info = {
    .license_id = "lic-0001",
    .org = "org-42",
    .product = "KRE",
    .machine_id = "ABCD-EFGH-JKMN-PQRS",
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = T0,
    .subscription_end = T0 + 365 * DAY,
    .entitlements = entitlements,
  };
  g_autoptr (GBytes) valid = sign (key, &info);
  gsize n = 0;
  const char *v = g_bytes_get_data (valid, &n);
  write_seed (dir, "valid-kre.lic", v, n);
  write_seed (dir, "truncated-half.lic", v, n / 2);
  write_seed (dir, "truncated-no-newline.lic", v, n - 1);
  write_seed (dir, "truncated-no-brace.lic", v, n - 2);
  g_autofree char *tampered = g_memdup2 (v, n);
  tampered[n / 2] ^= 0x01;
  write_seed (dir, "tampered-byte.lic", tampered, n);

  /* Short, no entitlements, explicit expiry at the subscription end. */
  TesseraLicfileInfo short_info = {
    .license_id = "k.2_x-9",
    .org = "o",
    .product = "KSE",
    .machine_id = "0000-0000-0000-0000",
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = T0,
    .expires_at = T0 + DAY,
    .subscription_end = T0 + DAY,
  };
  g_autoptr (GBytes) valid2 = sign (key, &short_info);
  v = g_bytes_get_data (valid2, &n);
  write_seed (dir, "valid-kse-short.lic", v, n);

  /* Well-formed, but signed by a key nobody trusts. */
  g_autoptr (TesseraSigningKey) stranger = tessera_signing_key_generate ();
  g_autoptr (GBytes) untrusted = sign (stranger, &info);
  v = g_bytes_get_data (untrusted, &n);
  write_seed (dir, "untrusted-key.lic", v, n);

  /* Payloads: fuzz-licfile also signs each input as a payload. From
   * tests/test-licfile.c (test_signed_but_malformed). */
#define GOOD_FIELDS                                                                                \
  "\"license_id\":\"l\",\"org\":\"o\",\"product\":\"KRE\",\"machine_id\":\"M\","                   \
  "\"kind\":\"node-locked\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"        \
  "\"subscription_end\":3000,\"entitlements\":[]"
  static const char *const payloads[][2] = {
    { "payload-valid.json", "{\"format\":1," GOOD_FIELDS "}" },
    { "payload-entitlements.json",
      "{\"format\":1,\"license_id\":\"l\",\"org\":\"o\",\"product\":\"KRE\",\"machine_id\":\"M\","
      "\"kind\":\"node-locked\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"
      "\"subscription_end\":3000,\"entitlements\":[\"a\",\"b\"]}" },
    { "payload-unknown-field.json", "{\"format\":1," GOOD_FIELDS ",\"extra\":1}" },
    { "payload-missing-field.json", "{\"format\":1}" },
    { "payload-wrong-type.json", "{\"format\":\"1\"," GOOD_FIELDS "}" },
    { "payload-floating.json",
      "{\"format\":1,\"license_id\":\"l\",\"org\":\"o\",\"product\":\"KRE\",\"machine_id\":\"M\","
      "\"kind\":\"floating\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"
      "\"subscription_end\":3000,\"entitlements\":[]}" },
    { "payload-entitlement-number.json",
      "{\"format\":1,\"license_id\":\"l\",\"org\":\"o\",\"product\":\"KRE\",\"machine_id\":\"M\","
      "\"kind\":\"node-locked\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"
      "\"subscription_end\":3000,\"entitlements\":[1]}" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (payloads); i++)
    write_seed (dir, payloads[i][0], payloads[i][1], strlen (payloads[i][1]));

  /* Format 2, for the machine the harness matches against: a file, and its
   * payload (which the harness signs, so mutations of it reach the
   * component parser), with "match" variants. */
  g_autoptr (TesseraFingerprint) machine = fuzz_fingerprint ();
  TesseraLicfileInfo tolerant = info;
  tolerant.machine_id = NULL;
  g_autoptr (GBytes) components
      = tessera_licfile_sign_for_request (key, &tolerant, machine, NULL, &error);
  if (components == NULL)
    g_error ("%s", error->message);
  v = g_bytes_get_data (components, &n);
  write_seed (dir, "valid-kre-components.lic", v, n);
  /* The payload: the base64 between the third and fourth quote pair. */
  g_autofree char *text = g_strndup (v, n);
  g_auto (GStrv) parts = g_strsplit (text, "\"", -1);
  gsize payload_len = 0;
  g_autofree guchar *payload = g_base64_decode (parts[9], &payload_len);
  write_seed (dir, "payload-components.json", payload, payload_len);
  g_autofree char *json = g_strndup ((const char *) payload, payload_len);
  const char *const variants[][2] = {
    { "payload-components-match-any.json", "\"match\":\"any\"" },
    { "payload-components-match-2.json", "\"match\":\"2\"" },
    { "payload-components-match-9.json", "\"match\":\"9\"" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_autoptr (GString) changed = g_string_new (json);
      g_string_replace (changed, "\"match\":\"all-but-one\"", variants[i][1], 1);
      write_seed (dir, variants[i][0], changed->str, changed->len);
    }
  g_autoptr (GString) no_user = g_string_new (json);
  g_string_replace (no_user, "\"user\":", "\"disk\":", 1);
  write_seed (dir, "payload-components-no-user.json", no_user->str, no_user->len);
  return 0;
}
