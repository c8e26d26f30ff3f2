/* Signed license files: keys, issuing rules, and that no byte of a file can
 * change unnoticed. */
#include "test-util.h"

#include <sodium.h>

#define DAY (24 * 3600)

typedef struct
{
  char *dir;
  TesseraSigningKey *key;
  TesseraTrustedKeys *trusted;
  gint64 now;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = test_tmpdir_new ();
  f->key = tessera_signing_key_generate ();
  f->trusted = test_trusted_keys_of (f->key);
  f->now = g_get_real_time () / G_USEC_PER_SEC;
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  tessera_signing_key_unref (f->key);
  tessera_trusted_keys_unref (f->trusted);
  test_tmpdir_free (f->dir);
}

static const char *const entitlements[] = { "reports", "export", "reports", NULL };

static TesseraLicfileInfo
default_info (Fixture *f)
{
  TesseraLicfileInfo info = {
    .license_id = "lic-0001",
    .org = "org-42",
    .product = "KRE",
    .machine_id = "ABCD-EFGH-JKMN-PQRS",
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = f->now - 60,
    .subscription_end = f->now + 365 * DAY,
    .entitlements = entitlements,
  };
  return info;
}

static GBytes *
sign_default (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TesseraLicfileInfo info = default_info (f);
  GBytes *bytes = tessera_licfile_sign (f->key, &info, &error);
  g_assert_no_error (error);
  return bytes;
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = sign_default (f);
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, f->trusted, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_licfile_get_license_id (file), ==, "lic-0001");
  g_assert_cmpstr (tessera_licfile_get_org (file), ==, "org-42");
  g_assert_cmpstr (tessera_licfile_get_product (file), ==, "KRE");
  g_assert_cmpstr (tessera_licfile_get_machine_id (file), ==, "ABCD-EFGH-JKMN-PQRS");
  g_assert_cmpstr (tessera_licfile_get_kind (file), ==, "node-locked");
  g_assert_cmpstr (tessera_licfile_get_billing (file), ==, "annual");
  g_assert_cmpstr (tessera_licfile_get_key_id (file), ==, tessera_signing_key_get_id (f->key));
  g_assert_cmpint (tessera_licfile_get_issued_at (file), ==, f->now - 60);
  /* Default validity: 60 days, within the subscription. */
  g_assert_cmpint (tessera_licfile_get_expires_at (file), ==, f->now - 60 + 60 * DAY);
  g_assert_cmpint (tessera_licfile_get_subscription_end (file), ==, f->now + 365 * DAY);
  g_assert_cmpstrv (tessera_licfile_get_entitlements (file),
                    ((const char *[]){ "export", "reports", NULL }));
  g_assert_true (tessera_licfile_check (file, "KRE", "ABCD-EFGH-JKMN-PQRS", f->now, &error));
  g_assert_no_error (error);

  /* The envelope is one canonical line. */
  gsize len = 0;
  const char *text = g_bytes_get_data (bytes, &len);
  g_assert_true (g_str_has_prefix (text, "{\"tessera-license\":1,\"key-id\":\""));
  g_assert_cmpint (text[len - 1], ==, '\n');
  g_assert_null (memchr (text, '\n', len - 1));
}

static void
test_capped_by_subscription (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  TesseraLicfileInfo info = default_info (f);
  info.subscription_end = f->now + 10 * DAY;
  g_autoptr (GBytes) bytes = tessera_licfile_sign (f->key, &info, &error);
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, f->trusted, &error);
  g_assert_no_error (error);
  g_assert_cmpint (tessera_licfile_get_expires_at (file), ==, f->now + 10 * DAY);
}

static void
assert_refused_as_modified (Fixture *f, const guint8 *data, gsize len, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = g_bytes_new (data, len);
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, f->trusted, &error);
  if (file != NULL || !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED))
    g_error ("%s: not refused as modified (%s)", what, error ? error->message : "accepted");
}

/* No byte of the file is unauthenticated: flipping any bit of any byte,
 * inserting or removing a byte anywhere is refused as modified. */
static void
test_every_byte (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) bytes = sign_default (f);
  gsize len = 0;
  const guint8 *orig = g_bytes_get_data (bytes, &len);
  g_autofree guint8 *buf = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    for (guint bit = 0; bit < 8; bit++)
      {
        memcpy (buf, orig, len);
        buf[i] ^= (guint8) (1u << bit);
        g_autofree char *what = g_strdup_printf ("bit %u of byte %zu flipped", bit, i);
        assert_refused_as_modified (f, buf, len, what);
      }
  for (gsize i = 0; i <= len; i++)
    {
      const guint8 inserts[] = { ' ', 'A', '\n', '"' };
      for (guint k = 0; k < G_N_ELEMENTS (inserts); k++)
        {
          memcpy (buf, orig, i);
          buf[i] = inserts[k];
          memcpy (buf + i + 1, orig + i, len - i);
          g_autofree char *what = g_strdup_printf ("byte 0x%02x inserted at %zu", inserts[k], i);
          assert_refused_as_modified (f, buf, len + 1, what);
        }
      if (i < len)
        {
          memcpy (buf, orig, i);
          memcpy (buf + i, orig + i + 1, len - i - 1);
          g_autofree char *what = g_strdup_printf ("byte %zu removed", i);
          assert_refused_as_modified (f, buf, len - 1, what);
        }
    }
  /* Truncated at every length. */
  for (gsize i = 0; i < len; i++)
    assert_refused_as_modified (f, orig, i, "truncated");
}

static void
test_key_id_changed (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) bytes = sign_default (f);
  gsize len = 0;
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, &len), g_bytes_get_size (bytes));
  char *id = strstr (text, "\"key-id\":\"") + strlen ("\"key-id\":\"");
  id[0] = id[0] == '0' ? '1' : '0'; /* still valid lowercase hex */
  assert_refused_as_modified (f, (const guint8 *) text, len, "key id edited");
}

static void
test_signature_from_other_file (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) a = sign_default (f);
  TesseraLicfileInfo info = default_info (f);
  info.machine_id = "ZZZZ-ZZZZ-ZZZZ-ZZZZ";
  g_autoptr (GBytes) b = tessera_licfile_sign (f->key, &info, &error);
  g_assert_no_error (error);

  g_autofree char *ta = g_strndup (g_bytes_get_data (a, NULL), g_bytes_get_size (a));
  const char *tb = g_bytes_get_data (b, NULL);
  char *sa = strstr (ta, "\"signature\":\"");
  const char *sb = strstr (tb, "\"signature\":\"");
  memcpy (sa, sb, strlen (sa)); /* same length: 88 base64 + suffix */
  assert_refused_as_modified (f, (const guint8 *) ta, strlen (ta), "signature from another file");
}

static void
test_untrusted_and_rotation (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  TesseraLicfileInfo info = default_info (f);
  g_autoptr (GBytes) bytes = tessera_licfile_sign (other, &info, &error);

  g_autoptr (TesseraLicfile) refused = tessera_licfile_verify (bytes, f->trusted, &error);
  g_assert_null (refused);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY);
  g_assert_nonnull (strstr (error->message, tessera_signing_key_get_id (other)));
  g_assert_nonnull (strstr (error->message, tessera_signing_key_get_id (f->key)));
  g_clear_error (&error);

  /* Trust both (key rotation): files of either key verify. */
  g_autofree char *pub = tessera_signing_key_dup_public (other);
  g_assert_true (tessera_trusted_keys_add_public (f->trusted, pub, &error));
  g_assert_cmpuint (tessera_trusted_keys_get_count (f->trusted), ==, 2);
  g_autoptr (TesseraLicfile) ok = tessera_licfile_verify (bytes, f->trusted, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) old = sign_default (f);
  g_autoptr (TesseraLicfile) ok2 = tessera_licfile_verify (old, f->trusted, &error);
  g_assert_no_error (error);

  g_autoptr (TesseraTrustedKeys) none = tessera_trusted_keys_new ();
  g_assert_null (tessera_licfile_verify (old, none, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY);
  g_assert_nonnull (strstr (error->message, "trusted keys: none"));
}

static void
test_garbage_files (Fixture *f, gconstpointer data)
{
  const char *garbage[] = { "",
                            "\n",
                            "garbage",
                            "{}",
                            "{\"tessera-license\":1}",
                            "\x7f"
                            "ELF\x02\x01\x01" };
  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
    assert_refused_as_modified (f, (const guint8 *) garbage[i], strlen (garbage[i]), garbage[i]);

  gsize big_len = TESSERA_LICFILE_MAX_SIZE + 1;
  g_autofree guint8 *big = g_malloc0 (big_len);
  assert_refused_as_modified (f, big, big_len, "oversized");
}

/* ---- issuing rules ---- */

typedef struct
{
  const char *name;
  TesseraError code;
  const char *message;
} IssueCase;

static void
mutate_info (const char *name, TesseraLicfileInfo *info, gint64 now)
{
  if (g_str_equal (name, "floating"))
    info->kind = "floating";
  else if (g_str_equal (name, "monthly"))
    info->billing = "monthly";
  else if (g_str_equal (name, "no-kind"))
    info->kind = NULL;
  else if (g_str_equal (name, "over-60-days"))
    info->expires_at = info->issued_at + 61 * DAY;
  else if (g_str_equal (name, "past-subscription"))
    {
      info->subscription_end = now + 5 * DAY;
      info->expires_at = now + 6 * DAY;
    }
  else if (g_str_equal (name, "subscription-over"))
    info->subscription_end = info->issued_at - 1;
  else if (g_str_equal (name, "expires-before-issue"))
    info->expires_at = info->issued_at - 10;
  else if (g_str_equal (name, "bad-product"))
    info->product = "K_RE";
  else if (g_str_equal (name, "bad-machine"))
    info->machine_id = "../../etc/passwd";
  else if (g_str_equal (name, "empty-org"))
    info->org = "";
  else if (g_str_equal (name, "bad-license-id"))
    info->license_id = "a b";
  else if (g_str_equal (name, "bad-entitlement"))
    {
      static const char *const bad[] = { "ok", "not ok", NULL };
      info->entitlements = bad;
    }
  else if (g_str_equal (name, "no-issue-time"))
    info->issued_at = 0;
  else
    g_assert_not_reached ();
}

static const IssueCase issue_cases[] = {
  { "floating", TESSERA_ERROR_NOT_SUPPORTED, "only an annual node-locked license" },
  { "monthly", TESSERA_ERROR_NOT_SUPPORTED, "only an annual node-locked license" },
  { "no-kind", TESSERA_ERROR_NOT_SUPPORTED, "only an annual node-locked license" },
  { "over-60-days", TESSERA_ERROR_INVALID_ARGUMENT, "at most 60 days" },
  { "past-subscription", TESSERA_ERROR_INVALID_ARGUMENT, "cannot outlive the subscription" },
  { "subscription-over", TESSERA_ERROR_INVALID_ARGUMENT, "subscription ended" },
  { "expires-before-issue", TESSERA_ERROR_INVALID_ARGUMENT, "expire before it is issued" },
  { "bad-product", TESSERA_ERROR_INVALID_ARGUMENT, "product 'K_RE'" },
  { "bad-machine", TESSERA_ERROR_INVALID_ARGUMENT, "machine ID" },
  { "empty-org", TESSERA_ERROR_INVALID_ARGUMENT, "organization" },
  { "bad-license-id", TESSERA_ERROR_INVALID_ARGUMENT, "license id" },
  { "bad-entitlement", TESSERA_ERROR_INVALID_ARGUMENT, "entitlement 'not ok'" },
  { "no-issue-time", TESSERA_ERROR_INVALID_ARGUMENT, "issue time" },
};

static void
test_issue_refused (Fixture *f, gconstpointer data)
{
  const IssueCase *c = data;
  g_autoptr (GError) error = NULL;
  TesseraLicfileInfo info = default_info (f);
  mutate_info (c->name, &info, f->now);
  g_autoptr (GBytes) bytes = tessera_licfile_sign (f->key, &info, &error);
  g_assert_null (bytes);
  g_assert_error (error, TESSERA_ERROR, (gint) c->code);
  g_assert_nonnull (strstr (error->message, c->message));
}

/* ---- checks against this machine and time ---- */

static void
test_check (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = sign_default (f);
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, f->trusted, &error);
  g_assert_no_error (error);

  g_assert_false (tessera_licfile_check (file, "KSE", NULL, f->now, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH);
  g_clear_error (&error);

  g_assert_false (tessera_licfile_check (file, "KRE", "WXYZ-0000-1111-2222", f->now, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH);
  g_assert_nonnull (strstr (error->message, "ABCD-EFGH-JKMN-PQRS"));
  g_assert_nonnull (strstr (error->message, "WXYZ-0000-1111-2222"));
  g_clear_error (&error);

  g_assert_false (tessera_licfile_check (file, NULL, NULL, f->now - 2 * DAY, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_YET_VALID);
  g_clear_error (&error);

  gint64 expiry = tessera_licfile_get_expires_at (file);
  g_assert_true (tessera_licfile_check (file, NULL, NULL, expiry - 1, &error));
  g_assert_false (tessera_licfile_check (file, NULL, NULL, expiry, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED);
}

static void
test_file_names (void)
{
  g_autofree char *a = tessera_licfile_file_name ("KRE", "ABCD-EFGH-JKMN-PQRS", 0);
  g_autofree char *b = tessera_licfile_file_name ("KSE", "ABCD-EFGH-JKMN-PQRS", 2);
  g_assert_cmpstr (a, ==, "KRE_ABCD-EFGH-JKMN-PQRS.lic");
  g_assert_cmpstr (b, ==, "KSE_ABCD-EFGH-JKMN-PQRS.2.lic");
}

/* ---- a correctly signed but malformed payload (an issuer bug) ---- */

static GBytes *
sign_raw_payload (Fixture *f, const char *payload)
{
  /* Re-create the key pair from its saved seed to sign arbitrary bytes. */
  g_autoptr (GError) error = NULL;
  g_autofree char *sec = g_build_filename (f->dir, "raw.key", NULL);
  g_unlink (sec);
  g_assert_true (tessera_signing_key_save (f->key, sec, NULL, &error));
  g_autofree char *line = NULL;
  g_assert_true (g_file_get_contents (sec, &line, NULL, NULL));
  g_auto (GStrv) parts = g_strsplit (g_strstrip (line), " ", -1);
  gsize seed_len = 0;
  g_autofree guchar *seed = g_base64_decode (parts[2], &seed_len);
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair (pk, sk, seed);

  const char *id = tessera_signing_key_get_id (f->key);
  g_autoptr (GByteArray) msg = g_byte_array_new ();
  g_byte_array_append (msg, (const guint8 *) "tessera-license-v1", 19);
  g_byte_array_append (msg, (const guint8 *) id, 16);
  g_byte_array_append (msg, (const guint8 *) "", 1);
  g_byte_array_append (msg, (const guint8 *) payload, (guint) strlen (payload));
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached (sig, NULL, msg->data, msg->len, sk);
  g_autofree char *p64 = g_base64_encode ((const guchar *) payload, strlen (payload));
  g_autofree char *s64 = g_base64_encode (sig, sizeof sig);
  char *text = g_strdup_printf (
      "{\"tessera-license\":1,\"key-id\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}\n", id,
      p64, s64);
  return g_bytes_new_take (text, strlen (text));
}

typedef struct
{
  const char *name;
  const char *payload;
} RawCase;

#define GOOD_FIELDS                                                                                \
  "\"license_id\":\"l\",\"org\":\"o\",\"product\":\"KRE\",\"machine_id\":\"M\","                   \
  "\"kind\":\"node-locked\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"        \
  "\"subscription_end\":3000,\"entitlements\":[]"

/* Format 2: keyed component digests (32 hex digits) and a match policy. */
#define K32 "00112233445566778899aabbccddeeff"
#define K32_UPPER "00112233445566778899AABBCCDDEEFF"
#define COMPONENTS                                                                                 \
  "\"components\":{\"machine-id\":\"" K32 "\",\"nic\":\"" K32 "\",\"user\":\"" K32 "\"}"

/* The first GOOD_CASES are valid; the others a signed but malformed payload. */
#define GOOD_CASES 2
static const RawCase raw_cases[] = {
  { "valid-control", "{\"format\":1," GOOD_FIELDS "}" },
  { "valid-format-2", "{\"format\":2," GOOD_FIELDS "," COMPONENTS ",\"match\":\"2\"}" },
  { "not-json", "not json" },
  { "not-object", "[1,2]" },
  { "unknown-field", "{\"format\":1," GOOD_FIELDS ",\"extra\":1}" },
  { "missing-field", "{\"format\":1}" },
  { "wrong-type", "{\"format\":\"1\"," GOOD_FIELDS "}" },
  { "format-2", "{\"format\":2," GOOD_FIELDS "}" },
  { "format-3", "{\"format\":3," GOOD_FIELDS "," COMPONENTS ",\"match\":\"all\"}" },
  { "format-1-with-components", "{\"format\":1," GOOD_FIELDS "," COMPONENTS "}" },
  { "format-1-with-match", "{\"format\":1," GOOD_FIELDS ",\"match\":\"all\"}" },
  { "format-2-no-match", "{\"format\":2," GOOD_FIELDS "," COMPONENTS "}" },
  { "format-2-no-components", "{\"format\":2," GOOD_FIELDS ",\"match\":\"all\"}" },
  { "format-2-components-array",
    "{\"format\":2," GOOD_FIELDS ",\"components\":[\"" K32 "\"],\"match\":\"all\"}" },
  { "format-2-match-number", "{\"format\":2," GOOD_FIELDS "," COMPONENTS ",\"match\":2}" },
  { "format-2-match-unknown", "{\"format\":2," GOOD_FIELDS "," COMPONENTS ",\"match\":\"some\"}" },
  { "format-2-match-more-than-bound",
    "{\"format\":2," GOOD_FIELDS "," COMPONENTS ",\"match\":\"3\"}" },
  { "format-2-match-zero", "{\"format\":2," GOOD_FIELDS "," COMPONENTS ",\"match\":\"0\"}" },
  { "format-2-no-user", "{\"format\":2," GOOD_FIELDS ",\"components\":{\"cpu\":\"" K32
                        "\",\"nic\":\"" K32 "\"},\"match\":\"all\"}" },
  { "format-2-no-hardware",
    "{\"format\":2," GOOD_FIELDS ",\"components\":{\"user\":\"" K32 "\"},\"match\":\"any\"}" },
  { "format-2-unknown-component",
    "{\"format\":2," GOOD_FIELDS ",\"components\":{\"disk\":\"" K32 "\",\"cpu\":\"" K32
    "\",\"user\":\"" K32 "\"},\"match\":\"any\"}" },
  { "format-2-short-digest",
    "{\"format\":2," GOOD_FIELDS ",\"components\":{\"cpu\":\"0123\",\"user\":\"" K32
    "\"},\"match\":\"any\"}" },
  { "format-2-uppercase-digest",
    "{\"format\":2," GOOD_FIELDS ",\"components\":{\"cpu\":\"" K32_UPPER "\",\"user\":\"" K32
    "\"},\"match\":\"any\"}" },
  { "format-2-digest-number",
    "{\"format\":2," GOOD_FIELDS ",\"components\":{\"cpu\":7,\"user\":\"" K32
    "\"},\"match\":\"any\"}" },
  { "floating",
    "{\"format\":1,\"license_id\":\"l\",\"org\":\"o\",\"product\":\"KRE\",\"machine_id\":\"M\","
    "\"kind\":\"floating\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"
    "\"subscription_end\":3000,\"entitlements\":[]}" },
  { "90-days",
    "{\"format\":1,\"license_id\":\"l\",\"org\":\"o\",\"product\":\"KRE\",\"machine_id\":\"M\","
    "\"kind\":\"node-locked\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":7777000,"
    "\"subscription_end\":9999000,\"entitlements\":[]}" },
  { "entitlement-number",
    "{\"format\":1,\"license_id\":\"l\",\"org\":\"o\",\"product\":\"KRE\",\"machine_id\":\"M\","
    "\"kind\":\"node-locked\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"
    "\"subscription_end\":3000,\"entitlements\":[1]}" },
};

static void
test_signed_but_malformed (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (raw_cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) bytes = sign_raw_payload (f, raw_cases[i].payload);
      g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, f->trusted, &error);
      if (i < GOOD_CASES)
        {
          g_assert_no_error (error);
          continue;
        }
      if (file != NULL || !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT))
        g_error ("%s: expected INVALID_ARGUMENT, got %s", raw_cases[i].name,
                 error ? error->message : "accepted");
    }
}

/* ---- what JSON parsers disagree on ----
 *
 * The payload parser changed from json-glib to Jansson (issue 20). These pin
 * each verdict; where the old parser's differed, the case says so. @org: the
 * org an accepted file reads; NULL: refused as malformed. */

typedef struct
{
  const char *name;
  const char *payload;
  const char *org;
} EdgeCase;

#define TAIL_FIELDS                                                                                \
  "\"license_id\":\"l\",\"product\":\"KRE\",\"machine_id\":\"M\","                                 \
  "\"kind\":\"node-locked\",\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"        \
  "\"subscription_end\":3000,\"entitlements\":[]"
#define WITH_ORG(org) "{\"format\":1,\"org\":\"" org "\"," TAIL_FIELDS "}"

static const EdgeCase edge_cases[] = {
  /* The same verdict from both parsers. */
  { "control", WITH_ORG ("o"), "o" },
  { "whitespace-around", " \n\t" WITH_ORG ("o") " \r\n", "o" },
  { "duplicate-key", "{\"format\":1,\"org\":\"first\",\"org\":\"second\"," TAIL_FIELDS "}",
    "second" },
  { "duplicate-format", "{\"format\":3,\"format\":1,\"org\":\"o\"," TAIL_FIELDS "}", "o" },
  /* json-glib wrapped these to -1 and -9223372036854775807, refused as
   * unsupported formats; Jansson refuses the number itself. */
  { "huge-integer", "{\"format\":18446744073709551617,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "int64-overflow", "{\"format\":9223372036854775809,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "float-format", "{\"format\":1.0,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "exponent-format", "{\"format\":1e0,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "negative-zero-format", "{\"format\":-0,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "plus-sign", "{\"format\":+1,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "unicode-escape", WITH_ORG ("\\u00e9\\ud83d\\ude00"), "\xc3\xa9\xf0\x9f\x98\x80" },
  { "lone-surrogate", WITH_ORG ("\\ud800"), NULL },
  { "invalid-utf8", WITH_ORG ("\xff"), NULL },
  { "overlong-utf8", WITH_ORG ("\xc0\xaf"), NULL },
  { "trailing-garbage", WITH_ORG ("o") "x", NULL },
  { "trailing-comma", "{\"format\":1,\"org\":\"o\"," TAIL_FIELDS ",}", NULL },
  { "line-comment", WITH_ORG ("o") "\n// c\n", NULL },
  { "bare-key", "{format:1,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "null-org", "{\"format\":1,\"org\":null," TAIL_FIELDS "}", NULL },
  /* json-glib's tokenizer took these (it read "o\u0000x" as "o"); no issuer
   * writes them, and a payload two parsers read two ways is refused. */
  { "hex-number", "{\"format\":0x1,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "leading-zero", "{\"format\":01,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "nul-escape", WITH_ORG ("o\\u0000x"), NULL },
  { "nul-escape-in-key", "{\"format\":1,\"org\\u0000x\":\"o\"," TAIL_FIELDS "}", NULL },
  { "raw-control-char", WITH_ORG ("o\x01"), NULL },
  { "trailing-object", WITH_ORG ("o") "{}", NULL },
  { "block-comment", "/* c */" WITH_ORG ("o"), NULL },
  { "single-quotes", "{'format':1,\"org\":\"o\"," TAIL_FIELDS "}", NULL },
  { "byte-order-mark", "\xef\xbb\xbf" WITH_ORG ("o"), NULL },
};

static void
check_edge (Fixture *f, const char *name, const char *payload, const char *org)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = sign_raw_payload (f, payload);
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, f->trusted, &error);
  if (org == NULL)
    {
      /* Not fatal: a parser change shows every verdict that moved at once. */
      if (file != NULL || !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT)
          || strstr (error->message, "malformed") == NULL)
        {
          g_test_message ("%s: expected refused as malformed, got %s", name,
                          error ? error->message : "accepted");
          g_test_fail ();
        }
      return;
    }
  if (file == NULL)
    {
      g_test_message ("%s: expected accepted, got %s", name, error->message);
      g_test_fail ();
      return;
    }
  g_assert_cmpstr (tessera_licfile_get_org (file), ==, org);
}

static void
test_parser_edge (Fixture *f, gconstpointer data)
{
  const EdgeCase *c = data;
  check_edge (f, c->name, c->payload, c->org);
}

/* The signed payload, byte for byte: member order, no spaces, which
 * characters are escaped and how (as json-glib wrote it, but for the case
 * of \u escapes' hex digits, DEL left as is, and U+001F escaped: the
 * payload is carried as signed, so either form reads back). */
static void
test_payload_bytes (Fixture *f, gconstpointer data)
{
  TesseraLicfileInfo info = default_info (f);
  info.org = "q\"b\\n\n\t\x01\x0b\x1e\x7f/\xc3\xa9";
  info.issued_at = 1000;
  info.subscription_end = 2000;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = tessera_licfile_sign (f->key, &info, &error);
  g_assert_no_error (error);
  const char *text = g_bytes_get_data (bytes, NULL);
  const char *start = strstr (text, "\"payload\":\"");
  g_assert_nonnull (start);
  start += strlen ("\"payload\":\"");
  g_autofree char *b64 = g_strndup (start, (gsize) (strchr (start, '"') - start));
  gsize len = 0;
  g_autofree char *payload = (char *) g_base64_decode (b64, &len);
  const char *expected
      = "{\"format\":1,\"license_id\":\"lic-0001\","
        "\"org\":\"q\\\"b\\\\n\\n\\t\\u0001\\u000B\\u001E\x7f/\xc3\xa9\",\"product\":\"KRE\","
        "\"machine_id\":\"ABCD-EFGH-JKMN-PQRS\",\"kind\":\"node-locked\","
        "\"billing\":\"annual\",\"issued_at\":1000,\"expires_at\":2000,"
        "\"subscription_end\":2000,\"entitlements\":[\"export\",\"reports\"]}";
  g_assert_cmpmem (payload, len, expected, strlen (expected));
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, f->trusted, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_licfile_get_org (file), ==, info.org);

  /* json-glib wrote U+001F raw (not JSON); escaped, so it reads back. */
  info.org = "unit\x1fseparator";
  g_autoptr (GBytes) us = tessera_licfile_sign (f->key, &info, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraLicfile) us_file = tessera_licfile_verify (us, f->trusted, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_licfile_get_org (us_file), ==, info.org);
}

/* Nested arrays where a string is expected: refused at any depth, and
 * deep enough to overflow a parser that recursed without a limit. */
static void
test_parser_deep_nesting (Fixture *f, gconstpointer data)
{
  const guint depths[] = { 2, 64, 20000 };
  for (guint i = 0; i < G_N_ELEMENTS (depths); i++)
    {
      g_autoptr (GString) s = g_string_new ("{\"format\":1,\"org\":\"o\"," TAIL_FIELDS);
      g_string_truncate (s, s->len - 2);
      g_string_append_c (s, '[');
      for (guint d = 0; d < depths[i]; d++)
        g_string_append_c (s, '[');
      for (guint d = 0; d < depths[i]; d++)
        g_string_append_c (s, ']');
      g_string_append (s, "]}");
      g_autofree char *name = g_strdup_printf ("depth %u", depths[i]);
      check_edge (f, name, s->str, NULL);
    }
}

/* ---- key files ---- */

static void
test_key_files (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *sec = g_build_filename (f->dir, "k.key", NULL);
  g_autofree char *pub = g_build_filename (f->dir, "k.pub", NULL);
  g_assert_true (tessera_signing_key_save (f->key, sec, pub, &error));
  g_assert_no_error (error);

  struct stat st;
  g_assert_cmpint (g_stat (sec, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  g_autoptr (TesseraSigningKey) loaded = tessera_signing_key_load (sec, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_signing_key_get_id (loaded), ==, tessera_signing_key_get_id (f->key));

  /* Never overwritten, and a refused save leaves nothing behind. */
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  g_assert_false (tessera_signing_key_save (other, sec, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_autofree char *sec2 = g_build_filename (f->dir, "k2.key", NULL);
  g_assert_false (tessera_signing_key_save (other, sec2, pub, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_false (g_file_test (sec2, G_FILE_TEST_EXISTS));
  g_clear_error (&error);
  g_autoptr (TesseraSigningKey) again = tessera_signing_key_load (sec, &error);
  g_assert_cmpstr (tessera_signing_key_get_id (again), ==, tessera_signing_key_get_id (f->key));

  /* A secret key others can read is refused. */
  g_assert_cmpint (g_chmod (sec, 0644), ==, 0);
  g_assert_null (tessera_signing_key_load (sec, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "chmod 600"));
  g_clear_error (&error);

  g_assert_null (tessera_signing_key_load ("/nonexistent/k.key", &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);

  const char *bad_keys[] = { "", "garbage\n", "tessera-ed25519-secret 0123456789abcdef AAAA\n",
                             "tessera-ed25519-public 0123456789abcdef AAAA\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_keys); i++)
    {
      g_autofree char *path = test_write_file (f->dir, "bad.key", bad_keys[i]);
      g_assert_cmpint (g_chmod (path, 0600), ==, 0);
      g_assert_null (tessera_signing_key_load (path, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }

  /* A secret key whose id does not match its bytes. */
  g_autofree char *line = NULL;
  g_assert_cmpint (g_chmod (sec, 0600), ==, 0);
  g_assert_true (g_file_get_contents (sec, &line, NULL, NULL));
  line[strlen ("tessera-ed25519-secret ")] ^= 1;
  g_autofree char *wrong = test_write_file (f->dir, "wrong.key", line);
  g_assert_cmpint (g_chmod (wrong, 0600), ==, 0);
  g_assert_null (tessera_signing_key_load (wrong, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Trusted keys from a directory of *.pub files. */
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  g_assert_true (tessera_trusted_keys_add_path (keys, f->dir, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (tessera_trusted_keys_get_count (keys), ==, 1);
  g_autofree char *bad_pub = test_write_file (f->dir, "bad.pub", "not a key\n");
  g_assert_false (tessera_trusted_keys_add_path (keys, f->dir, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "bad.pub"));
  g_clear_error (&error);
  g_assert_false (tessera_trusted_keys_add_path (keys, "/nonexistent/k.pub", &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
}

/* Runs as an unprivileged user: a key directory it cannot read. */
static void
test_unreadable_key_dir (void)
{
  if (g_test_subprocess ())
    {
      test_drop_privileges ();
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
      g_assert_false (tessera_trusted_keys_add_path (keys, g_getenv ("TEST_KEY_DIR"), &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
      return;
    }
  char *dir = test_tmpdir_new ();
  g_autofree char *keys = g_build_filename (dir, "keys", NULL);
  g_assert_cmpint (g_mkdir (keys, 0700), ==, 0);
  g_setenv ("TEST_KEY_DIR", keys, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  test_tmpdir_free (dir);
}

static void
test_null_arguments (void)
{
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*contents != NULL*");
  g_assert_null (tessera_licfile_verify (NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*key != NULL*");
  g_assert_null (tessera_licfile_sign (NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*path != NULL*");
  g_assert_null (tessera_signing_key_load (NULL, NULL));
  g_test_assert_expected_messages ();
}

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("/licfile/round-trip", test_round_trip);
  ADD ("/licfile/capped-by-subscription", test_capped_by_subscription);
  ADD ("/licfile/every-byte", test_every_byte);
  ADD ("/licfile/key-id-changed", test_key_id_changed);
  ADD ("/licfile/signature-from-other-file", test_signature_from_other_file);
  ADD ("/licfile/untrusted-and-rotation", test_untrusted_and_rotation);
  ADD ("/licfile/garbage", test_garbage_files);
  for (guint i = 0; i < G_N_ELEMENTS (issue_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/licfile/issue-refused/%s", issue_cases[i].name);
      g_test_add (path, Fixture, &issue_cases[i], fixture_set_up, test_issue_refused,
                  fixture_tear_down);
    }
  ADD ("/licfile/check", test_check);
  g_test_add_func ("/licfile/file-names", test_file_names);
  ADD ("/licfile/signed-but-malformed", test_signed_but_malformed);
  for (guint i = 0; i < G_N_ELEMENTS (edge_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/licfile/parser/%s", edge_cases[i].name);
      g_test_add (path, Fixture, &edge_cases[i], fixture_set_up, test_parser_edge,
                  fixture_tear_down);
    }
  ADD ("/licfile/parser/deep-nesting", test_parser_deep_nesting);
  ADD ("/licfile/payload-bytes", test_payload_bytes);
  ADD ("/licfile/key-files", test_key_files);
  g_test_add_func ("/licfile/unreadable-key-dir", test_unreadable_key_dir);
  g_test_add_func ("/licfile/null-arguments", test_null_arguments);
  return g_test_run ();
}
