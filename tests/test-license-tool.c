/* tessera-license (tools/tessera-license.c) as a user runs it: every
 * subcommand, every exit code, every error case, each one spawned as a
 * separate process. A case is one row of the table at the end: arguments,
 * exit code, what stdout and stderr must say (stderr: exactly one line on
 * error, nothing on success), and extra checks on the files it left.
 *
 * $TESSERA_LICENSE_TOOL is the built tool. Under valgrind
 * ($TESSERA_TEST_UNDER_VALGRIND) every spawned tool runs under valgrind too. */
#include "test-util.h"
#include "tool-util.h"

#include <json-glib/json-glib.h>

/* A fixed key pair, for tests only: Ed25519 signatures are deterministic, so
 * files issued with it can be compared byte for byte with golden copies. */
#define TEST_KEY_ID "65f5989d1506bc0a"
#define TEST_SECRET_KEY                                                                            \
  "tessera-ed25519-secret " TEST_KEY_ID " uL6N79Ut0UvvNiVmSnAJag11QxhmH2Q8eOInfeyisy8=\n"
#define TEST_PUBLIC_KEY                                                                            \
  "tessera-ed25519-public " TEST_KEY_ID " eW/R/EvH8cpCeQbHjGk/xFkmIe9CTG3xWVl4j6JorsQ=\n"

/* tessera-license issue --key TEST --machine-id 7QK2-M4RD-X9T1-0BHC --product KRE
 *   --subscription-end 2020-02-01 --issued-at 2020-01-01 --license-id golden-1
 *   --org example-org -e reports -e parallel-execution */
#define GOLDEN_EXPIRED                                                                             \
  "{\"tessera-license\":1,\"key-id\":\"65f5989d1506bc0a\",\"payload\":\""                          \
  "eyJmb3JtYXQiOjEsImxpY2Vuc2VfaWQiOiJnb2xkZW4tMSIsIm9yZyI6ImV4YW1wbGUtb3JnIiwicHJvZHVjdCI6Ik"     \
  "tSRSIsIm1hY2hpbmVfaWQiOiI3UUsyLU00UkQtWDlUMS0wQkhDIiwia2luZCI6Im5vZGUtbG9ja2VkIiwiYmlsbGlu"     \
  "ZyI6ImFubnVhbCIsImlzc3VlZF9hdCI6MTU3NzgzNjgwMCwiZXhwaXJlc19hdCI6MTU4MDUxNTIwMCwic3Vic2NyaX"     \
  "B0aW9uX2VuZCI6MTU4MDUxNTIwMCwiZW50aXRsZW1lbnRzIjpbInBhcmFsbGVsLWV4ZWN1dGlvbiIsInJlcG9ydHMi"     \
  "XX0=\",\"signature\":\"3QSTj1tIoVrhpEIw5TullkQJarp4MKIZ3VsFp2KlVtX13A8R+TUrBoCwRGq+fZRzh5tj9y"  \
  "2OgbVOopDokvmaAw==\"}\n"

/* The same for 2100-01-01 .. 2100-02-01, license id golden-2, no entitlements. */
#define GOLDEN_NOT_YET_VALID                                                                       \
  "{\"tessera-license\":1,\"key-id\":\"65f5989d1506bc0a\",\"payload\":\""                          \
  "eyJmb3JtYXQiOjEsImxpY2Vuc2VfaWQiOiJnb2xkZW4tMiIsIm9yZyI6ImV4YW1wbGUtb3JnIiwicHJvZHVjdCI6Ik"     \
  "tSRSIsIm1hY2hpbmVfaWQiOiI3UUsyLU00UkQtWDlUMS0wQkhDIiwia2luZCI6Im5vZGUtbG9ja2VkIiwiYmlsbGlu"     \
  "ZyI6ImFubnVhbCIsImlzc3VlZF9hdCI6NDEwMjQ0NDgwMCwiZXhwaXJlc19hdCI6NDEwNTEyMzIwMCwic3Vic2NyaX"     \
  "B0aW9uX2VuZCI6NDEwNTEyMzIwMCwiZW50aXRsZW1lbnRzIjpbXX0=\",\"signature\":\"ANrfaACvGSIQgMnHu2a"   \
  "HFEM0dwvDxbcdRpOWyZ1QeeQR1WMm+vyqE9USah2Scpa8VgiEgUMb0L77JAq6/kHDBw==\"}\n"

#define MID "AAAA-BBBB-CCCC-DDDD"
#define OTHER_MID "ZZZZ-ZZZZ-ZZZZ-ZZZZ"

typedef struct
{
  char *dir;      /* @DIR@: keys and license files made by setup */
  char *out;      /* @OUT@: an empty directory for issued files */
  char *this_mid; /* @THISMID@: this machine's ID */
} Fixture;

typedef struct _ToolCase ToolCase;
struct _ToolCase
{
  const char *name;
  const char *args[32]; /* after the tool's name; placeholders @DIR@ @OUT@ @THISMID@ */
  int exit_code;
  const char *stdout_re; /* regex stdout must match; NULL: stdout must be empty */
  const char *stdout_is; /* or: exactly this (placeholders, day counts normalized) */
  const char *stderr_re; /* regex the one stderr line must match; NULL: stderr empty */
  gboolean as_nobody;    /* run as uid/gid 65534 (the test runs as root in CI) */
  void (*prepare) (Fixture *f);
  void (*check) (Fixture *f, const char *out, const char *err);
};

/* ---- helpers ---- */

static char *
expand (Fixture *f, const char *text)
{
  g_autoptr (GString) s = g_string_new (text);
  g_string_replace (s, "@DIR@", f->dir, 0);
  g_string_replace (s, "@OUT@", f->out, 0);
  g_string_replace (s, "@THISMID@", f->this_mid, 0);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static const char *
tool_path (void)
{
  const char *tool = g_getenv ("TESSERA_LICENSE_TOOL");
  g_assert_nonnull (tool);
  return tool;
}

/* Runs the tool with @args (NULL-terminated, placeholders expanded).
 * Returns its exit code (-1 if it did not exit normally). */
static int
run_tool (Fixture *f, const char *const *args, gboolean as_nobody, char **out, char **err)
{
  g_autoptr (GPtrArray) expanded = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (expanded, expand (f, args[i]));
  g_ptr_array_add (expanded, NULL);
  return tool_util_run (tool_path (), f->dir, (char *const *) expanded->pdata, as_nobody, out, err);
}

static char *
fixture_path (Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

static char *
read_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;
  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

static void
write_file_mode (const char *path, const char *contents, int mode)
{
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

static void
assert_mode (const char *path, int mode)
{
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, mode);
}

/* A license signed by the library with the test key, issued an hour ago. */
static void
sign_to (Fixture *f, const char *name, const char *machine_id)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *secret = fixture_path (f, "signing.sec");
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_load (secret, &error);
  g_assert_no_error (error);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const char *const entitlements[] = { "reports", NULL };
  TesseraLicfileInfo info = {
    .license_id = "valid-1",
    .org = "example-org",
    .product = "KRE",
    .machine_id = machine_id,
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = now - 3600,
    .subscription_end = now + 365 * 24 * 3600,
    .entitlements = entitlements,
  };
  g_autoptr (GBytes) bytes = tessera_licfile_sign (key, &info, &error);
  g_assert_no_error (error);
  g_autofree char *path = fixture_path (f, name);
  g_file_set_contents (path, g_bytes_get_data (bytes, NULL), (gssize) g_bytes_get_size (bytes),
                       &error);
  g_assert_no_error (error);
}

static void
fixture_set_up (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  f->dir = test_tmpdir_new ();
  f->out = fixture_path (f, "out");
  g_assert_cmpint (g_mkdir (f->out, 0755), ==, 0);
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  f->this_mid = g_strdup (tessera_fingerprint_get_id (fp));

  static const struct
  {
    const char *name, *contents;
    int mode;
  } files[] = {
    { "signing.sec", TEST_SECRET_KEY, 0600 },  { "signing.pub", TEST_PUBLIC_KEY, 0644 },
    { "key644.sec", TEST_SECRET_KEY, 0644 },   { "garbage.sec", "not a key at all\n", 0600 },
    { "expired.lic", GOLDEN_EXPIRED, 0644 },   { "notyet.lic", GOLDEN_NOT_YET_VALID, 0644 },
    { "garbage.lic", "hello, world\n", 0644 }, { "empty.lic", "", 0644 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = fixture_path (f, files[i].name);
      write_file_mode (path, files[i].contents, files[i].mode);
    }
  g_autofree char *keys = fixture_path (f, "keys");
  g_assert_cmpint (g_mkdir (keys, 0755), ==, 0);
  g_autofree char *keys_pub = g_build_filename (keys, "test.pub", NULL);
  write_file_mode (keys_pub, TEST_PUBLIC_KEY, 0644);

  /* A second key that nobody trusts. */
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  g_autofree char *other_sec = fixture_path (f, "other.sec");
  g_autofree char *other_pub = fixture_path (f, "other.pub");
  g_assert_true (tessera_signing_key_save (other, other_sec, other_pub, &error));
  g_assert_no_error (error);

  sign_to (f, "valid.lic", MID);
  sign_to (f, "this.lic", f->this_mid);

  /* One flipped bit in the middle of the payload. */
  g_autofree char *valid = fixture_path (f, "valid.lic");
  g_autofree char *contents = read_file (valid);
  contents[strlen (contents) / 3] ^= 0x01;
  g_autofree char *tampered = fixture_path (f, "tampered.lic");
  write_file_mode (tampered, contents, 0644);
}

static void
fixture_tear_down (Fixture *f)
{
  /* Files a case made as nobody, or a directory it made read-only. */
  g_chmod (f->out, 0755);
  test_tmpdir_free (f->dir);
  g_free (f->out);
  g_free (f->this_mid);
}

/* Day counts change every day: golden text has N instead. */
static char *
normalize (const char *text)
{
  static const char *const rules[][2] = {
    { "in [0-9]+ days?", "in N days" },
    { "[0-9]+ days? ago", "N days ago" },
    { "\"days_left\":-?[0-9]+", "\"days_left\":N" },
  };
  char *result = g_strdup (text);
  for (guint i = 0; i < G_N_ELEMENTS (rules); i++)
    {
      g_autoptr (GRegex) re = g_regex_new (rules[i][0], 0, 0, NULL);
      char *next = g_regex_replace_literal (re, result, -1, 0, rules[i][1], 0, NULL);
      g_free (result);
      result = next;
    }
  return result;
}

static void
run_case (gconstpointer data)
{
  const ToolCase *c = data;
  Fixture f = { 0 };
  fixture_set_up (&f);
  if (c->prepare)
    c->prepare (&f);

  g_autofree char *out = NULL, *err = NULL;
  int rc = run_tool (&f, c->args, c->as_nobody, &out, &err);
  if (g_test_verbose ())
    g_printerr ("exit %d\nstdout:\n%sstderr:\n%s", rc, out, err);

  if (rc != c->exit_code)
    g_error ("exit code %d, expected %d; stderr: %s", rc, c->exit_code, err);

  g_autofree char *err_pattern = c->stderr_re ? expand (&f, c->stderr_re) : NULL;
  tool_util_assert_stderr ("tessera-license", err_pattern, err);

  if (c->stdout_is != NULL)
    {
      g_autofree char *expected = expand (&f, c->stdout_is);
      g_autofree char *got = normalize (out);
      g_assert_cmpstr (got, ==, expected);
    }
  else if (c->stdout_re != NULL)
    {
      g_autofree char *pattern = expand (&f, c->stdout_re);
      assert_matches ("stdout", pattern, out);
    }
  else
    g_assert_cmpstr (out, ==, "");

  if (c->check)
    c->check (&f, out, err);
  fixture_tear_down (&f);
}

/* ---- prepare and check functions ---- */

static void
check_out_empty (Fixture *f, const char *out, const char *err)
{
  g_assert_cmpuint (count_entries (f->out), ==, 0);
}

static void
check_keygen_ok (Fixture *f, const char *out, const char *err)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *secret = g_build_filename (f->out, "new.sec", NULL);
  g_autofree char *public = g_build_filename (f->out, "new.pub", NULL);
  assert_mode (secret, 0600);
  assert_mode (public, 0644);
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_load (secret, &error);
  g_assert_no_error (error);
  g_autofree char *id_line = g_strdup_printf ("%s\n", tessera_signing_key_get_id (key));
  g_assert_cmpstr (out, ==, id_line);
  g_autofree char *pub_text = read_file (public);
  g_autofree char *expected_pub = tessera_signing_key_dup_public (key);
  g_assert_cmpstr (pub_text, ==, expected_pub);
  g_assert_cmpuint (count_entries (f->out), ==, 2);
}

static void
check_keys_untouched (Fixture *f, const char *out, const char *err)
{
  g_autofree char *secret = fixture_path (f, "signing.sec");
  g_autofree char *public = fixture_path (f, "signing.pub");
  g_autofree char *s = read_file (secret);
  g_autofree char *p = read_file (public);
  g_assert_cmpstr (s, ==, TEST_SECRET_KEY);
  g_assert_cmpstr (p, ==, TEST_PUBLIC_KEY);
  assert_mode (secret, 0600);
  g_assert_cmpuint (count_entries (f->out), ==, 0); /* the other file was not made either */
}

static void
check_golden_issue (Fixture *f, const char *out, const char *err)
{
  g_autofree char *path = g_build_filename (f->out, "golden.lic", NULL);
  g_autofree char *contents = read_file (path);
  g_assert_cmpstr (contents, ==, GOLDEN_EXPIRED);
  g_assert_cmpuint (count_entries (f->out), ==, 1);
}

static TesseraLicfile *
verify_with_test_key (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  g_assert_true (tessera_trusted_keys_add_public (keys, TEST_PUBLIC_KEY, &error));
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (path, FALSE, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = g_mapped_file_get_bytes (mapped);
  TesseraLicfile *file = tessera_licfile_verify (bytes, keys, &error);
  g_assert_no_error (error);
  return file;
}

static void
check_issue_defaults (Fixture *f, const char *out, const char *err)
{
  g_autofree char *path = g_build_filename (f->out, "KRE_" MID ".lic", NULL);
  g_autoptr (TesseraLicfile) file = verify_with_test_key (path);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_assert_cmpstr (tessera_licfile_get_org (file), ==, "default");
  g_assert_true (g_uuid_string_is_valid (tessera_licfile_get_license_id (file)));
  g_assert_cmpstr (tessera_licfile_get_kind (file), ==, "node-locked");
  g_assert_cmpstr (tessera_licfile_get_billing (file), ==, "annual");
  g_assert_cmpstr (tessera_licfile_get_key_id (file), ==, TEST_KEY_ID);
  g_assert_cmpint (ABS (tessera_licfile_get_issued_at (file) - now), <, 120);
  g_assert_cmpint (tessera_licfile_get_expires_at (file) - tessera_licfile_get_issued_at (file), ==,
                   TESSERA_LICFILE_MAX_VALIDITY);
  g_assert_cmpstrv (tessera_licfile_get_entitlements (file),
                    ((const char *const[]){ "a-feature", "reports", NULL }));
  g_assert_true (tessera_licfile_check (file, "KRE", MID, now, NULL));
  g_assert_cmpuint (count_entries (f->out), ==, 1); /* no temporary file left */
}

static const char *const issue_args[]
    = { "issue",     "--key", "@DIR@/signing.sec",  "--machine-id", MID,
        "--product", "KRE",   "--subscription-end", "2099-01-01",   "--out",
        "@OUT@",     NULL };

static void
prepare_issue_once (Fixture *f)
{
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_tool (f, issue_args, FALSE, &out, &err), ==, 0);
  g_autofree char *expected = g_strdup_printf ("%s/KRE_" MID ".lic\n", f->out);
  g_assert_cmpstr (out, ==, expected);
}

static void
check_issued_twice (Fixture *f, const char *out, const char *err)
{
  g_autofree char *first = g_build_filename (f->out, "KRE_" MID ".lic", NULL);
  g_autofree char *second = g_build_filename (f->out, "KRE_" MID ".1.lic", NULL);
  g_autoptr (TesseraLicfile) a = verify_with_test_key (first);
  g_autoptr (TesseraLicfile) b = verify_with_test_key (second);
  g_assert_cmpstr (tessera_licfile_get_license_id (a), !=, tessera_licfile_get_license_id (b));
  g_assert_cmpuint (count_entries (f->out), ==, 2);
}

/* When the round-trip's license was about to be issued: its issued_at is
 * between this and the check, however long the machine took in between. */
static gint64 roundtrip_issue_started;

static void
prepare_issue_for_roundtrip (Fixture *f)
{
  const char *const args[]
      = { "issue", "-k",   "@DIR@/signing.sec", "-m",    MID,  "-p",   "KSE", "-s",    "2099-12-31",
          "--org", "acme", "--license-id",      "rt-42", "-e", "zeta", "-e",  "alpha", "--out",
          "@OUT@", NULL };
  g_autofree char *out = NULL, *err = NULL;
  roundtrip_issue_started = g_get_real_time () / G_USEC_PER_SEC;
  g_assert_cmpint (run_tool (f, args, FALSE, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
}

static JsonObject *
parse_json_object (const char *text, JsonParser *parser)
{
  g_autoptr (GError) error = NULL;
  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  JsonNode *root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_node_get_object (root);
}

static void
check_roundtrip_json (Fixture *f, const char *out, const char *err)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = parse_json_object (out, parser);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_assert_true (json_object_get_boolean_member (o, "valid"));
  g_assert_false (json_object_has_member (o, "error"));
  g_assert_cmpstr (json_object_get_string_member (o, "product"), ==, "KSE");
  g_assert_cmpstr (json_object_get_string_member (o, "machine_id"), ==, MID);
  g_assert_cmpstr (json_object_get_string_member (o, "org"), ==, "acme");
  g_assert_cmpstr (json_object_get_string_member (o, "license_id"), ==, "rt-42");
  g_assert_cmpstr (json_object_get_string_member (o, "key_id"), ==, TEST_KEY_ID);
  g_assert_cmpstr (json_object_get_string_member (o, "kind"), ==, "node-locked");
  g_assert_cmpstr (json_object_get_string_member (o, "billing"), ==, "annual");
  gint64 issued = json_object_get_int_member (o, "issued_at");
  g_assert_cmpint (issued, >=, roundtrip_issue_started);
  g_assert_cmpint (issued, <=, now);
  g_assert_cmpint (json_object_get_int_member (o, "expires_at"), ==, issued + 60 * 24 * 3600);
  g_assert_cmpint (json_object_get_int_member (o, "days_left"), >=, 59);
  g_assert_cmpint (json_object_get_int_member (o, "days_left"), <=, 60);
  g_assert_cmpstr (json_object_get_string_member (o, "subscription_end_iso"), ==,
                   "2099-12-31T00:00:00Z");
  JsonArray *ents = json_object_get_array_member (o, "entitlements");
  g_assert_cmpuint (json_array_get_length (ents), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (ents, 0), ==, "alpha");
  g_assert_cmpstr (json_array_get_string_element (ents, 1), ==, "zeta");
}

/* Option values are bytes, not converted from the locale (LC_ALL=C here). */
static void
check_utf8_org (Fixture *f, const char *out, const char *err)
{
  g_autofree char *path = g_build_filename (f->out, "utf8.lic", NULL);
  g_autoptr (TesseraLicfile) file = verify_with_test_key (path);
  g_assert_cmpstr (tessera_licfile_get_org (file), ==,
                   "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale");
}

static void
check_json_tampered (Fixture *f, const char *out, const char *err)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = parse_json_object (out, parser);
  g_assert_false (json_object_get_boolean_member (o, "valid"));
  g_assert_false (json_object_has_member (o, "product")); /* nothing unverified is shown */
  JsonObject *e = json_object_get_object_member (o, "error");
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, "tampered");
  g_assert_nonnull (strstr (json_object_get_string_member (e, "message"), "modified"));
}

static void
prepare_existing_license (Fixture *f)
{
  g_autofree char *path = g_build_filename (f->out, "KRE_" MID ".lic", NULL);
  write_file_mode (path, "someone else's file\n", 0644);
}

static void
check_existing_kept (Fixture *f, const char *out, const char *err)
{
  g_autofree char *path = g_build_filename (f->out, "KRE_" MID ".lic", NULL);
  g_autofree char *contents = read_file (path);
  g_assert_cmpstr (contents, ==, "someone else's file\n");
}

static void
check_existing_kept_only (Fixture *f, const char *out, const char *err)
{
  check_existing_kept (f, out, err);
  g_assert_cmpuint (count_entries (f->out), ==, 1);
}

static void
check_existing_kept_and_serial (Fixture *f, const char *out, const char *err)
{
  check_existing_kept (f, out, err);
  g_autofree char *second = g_build_filename (f->out, "KRE_" MID ".1.lic", NULL);
  g_autoptr (TesseraLicfile) file = verify_with_test_key (second);
  g_assert_cmpuint (count_entries (f->out), ==, 2);
}

/* trust: the key lands in @OUT@ as KEYID.pub, mode 0644, the same line. */
static void
check_trusted (Fixture *f, const char *out, const char *err)
{
  g_autofree char *public = fixture_path (f, "signing.pub");
  g_autofree char *line = read_file (public);
  g_auto (GStrv) fields = g_strsplit (line, " ", 3);
  g_autofree char *name = g_strconcat (fields[1], ".pub", NULL);
  g_autofree char *target = g_build_filename (f->out, name, NULL);
  g_autofree char *expected_out = g_strconcat (target, "\n", NULL);
  if (*out != '{') /* --json: its stdout_re checks the object */
    g_assert_cmpstr (out, ==, expected_out);
  assert_mode (target, 0644);
  g_autofree char *copy = read_file (target);
  g_assert_cmpstr (copy, ==, line);
  g_assert_cmpuint (count_entries (f->out), ==, 1);
  /* What the offline provider loads by default: the key verifies. */
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_trusted_keys_add_path (keys, f->out, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (tessera_trusted_keys_get_count (keys), ==, 1);
}

static void
prepare_trusted_already (Fixture *f)
{
  g_autofree char *public = fixture_path (f, "signing.pub");
  g_autofree char *line = read_file (public);
  g_auto (GStrv) fields = g_strsplit (line, " ", 3);
  g_autofree char *name = g_strconcat (fields[1], ".pub", NULL);
  g_autofree char *target = g_build_filename (f->out, name, NULL);
  write_file_mode (target, line, 0644);
}

/* Another key under the trusted key's file name: never replaced. */
static void
prepare_trusted_clash (Fixture *f)
{
  g_autofree char *public = fixture_path (f, "signing.pub");
  g_autofree char *line = read_file (public);
  g_auto (GStrv) fields = g_strsplit (line, " ", 3);
  g_autofree char *name = g_strconcat (fields[1], ".pub", NULL);
  g_autofree char *target = g_build_filename (f->out, name, NULL);
  write_file_mode (target, "tessera-ed25519-public 0000000000000000 AAAA\n", 0644);
}

static void
check_clash_untouched (Fixture *f, const char *out, const char *err)
{
  g_assert_cmpuint (count_entries (f->out), ==, 1);
}

static void
prepare_not_a_key (Fixture *f)
{
  g_autofree char *path = fixture_path (f, "garbage.pub");
  write_file_mode (path, "this is no key\n", 0644);
}

/* The output directory belongs to root (0755) and the key to nobody, so the
 * only thing that fails is writing. Without root: a read-only directory. */
static void
prepare_unwritable_out (Fixture *f)
{
  g_autofree char *key = fixture_path (f, "nobody.sec");
  write_file_mode (key, TEST_SECRET_KEY, 0600);
  if (geteuid () == 0)
    g_assert_cmpint (chown (key, NOBODY, NOBODY), ==, 0);
  else
    g_assert_cmpint (g_chmod (f->out, 0555), ==, 0);
}

static void
check_machine_id (Fixture *f, const char *out, const char *err)
{
  g_autofree char *expected = g_strdup_printf ("%s\n", f->this_mid);
  g_assert_true (g_str_has_prefix (out, expected));
}

/* ---- the cases ---- */

#define USAGE_ERR "^tessera-license: .*$"

#define GOLDEN_EXPIRED_TEXT                                                                        \
  "file:             @DIR@/expired.lic\n"                                                          \
  "product:          KRE\n"                                                                        \
  "machine id:       7QK2-M4RD-X9T1-0BHC\n"                                                        \
  "organization:     example-org\n"                                                                \
  "license id:       golden-1\n"                                                                   \
  "kind:             node-locked, annual billing\n"                                                \
  "signed by key:    65f5989d1506bc0a\n"                                                           \
  "issued:           2020-01-01T00:00:00Z\n"                                                       \
  "expires:          2020-02-01T00:00:00Z (N days ago)\n"                                          \
  "subscription end: 2020-02-01T00:00:00Z\n"                                                       \
  "entitlements:     parallel-execution, reports\n"                                                \
  "status:           NOT VALID (expired): the offline license expired at "                         \
  "2020-02-01T00:00:00Z; ask your administrator for a new one\n"

/* --json issue: the new file described as inspect --json would, and there. */
static void
check_json_issue (Fixture *f, const char *out, const char *err)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = parse_json_object (out, parser);
  g_autofree char *path = g_build_filename (f->out, "KRE_" MID ".lic", NULL);
  g_assert_cmpstr (json_object_get_string_member (o, "file"), ==, path);
  g_assert_true (json_object_get_boolean_member (o, "valid"));
  g_assert_false (json_object_has_member (o, "error"));
  g_autoptr (TesseraLicfile) file = verify_with_test_key (path);
  g_assert_cmpstr (json_object_get_string_member (o, "license_id"), ==,
                   tessera_licfile_get_license_id (file));
  g_assert_cmpint (json_object_get_int_member (o, "expires_at"), ==,
                   tessera_licfile_get_expires_at (file));
  g_assert_cmpstr (json_object_get_string_member (o, "key_id"), ==, TEST_KEY_ID);
  g_assert_cmpuint (count_entries (f->out), ==, 1);
}

/* A valid file's JSON carries no error member. */
static void
check_json_no_error (Fixture *f, const char *out, const char *err)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o = parse_json_object (out, parser);
  g_assert_true (json_object_get_boolean_member (o, "valid"));
  g_assert_false (json_object_has_member (o, "error"));
}

#define GOLDEN_EXPIRED_JSON                                                                        \
  "{\"file\":\"@DIR@/expired.lic\",\"valid\":false,\"key_id\":\"65f5989d1506bc0a\","               \
  "\"license_id\":\"golden-1\",\"org\":\"example-org\",\"product\":\"KRE\","                       \
  "\"machine_id\":\"7QK2-M4RD-X9T1-0BHC\",\"kind\":\"node-locked\",\"billing\":\"annual\","        \
  "\"issued_at\":1577836800,\"issued_at_iso\":\"2020-01-01T00:00:00Z\","                           \
  "\"expires_at\":1580515200,\"expires_at_iso\":\"2020-02-01T00:00:00Z\","                         \
  "\"subscription_end\":1580515200,\"subscription_end_iso\":\"2020-02-01T00:00:00Z\","             \
  "\"days_left\":N,\"entitlements\":[\"parallel-execution\",\"reports\"],"                         \
  "\"error\":{\"code\":\"expired\",\"message\":\"the offline license expired at "                  \
  "2020-02-01T00:00:00Z; ask your administrator for a new one\",\"exit_code\":3}}\n"

static const ToolCase cases[] = {
  /* top level */
  { .name = "top/no-command", .args = { NULL }, .exit_code = 1, .stderr_re = "no command given" },
  { .name = "top/unknown-command",
    .args = { "frobnicate", NULL },
    .exit_code = 1,
    .stderr_re = "unknown command 'frobnicate'" },
  { .name = "top/help",
    .args = { "--help", NULL },
    .exit_code = 0,
    .stdout_re
    = "^  keygen .*\n  issue .*\n(.*\n)?  inspect .*\n(.*\n)?  verify .*\n(.*\n)?  machine-id .*\n"
      "  trust .*\n(.|\n)*"
      "^Exit status \\(the same table for tessera, tessera-admin,\n.*\n"
      "  0    success.*\n  1    usage error.*\n  2    not licensed.*\n(.|\n)*"
      "^  7    invalid license file(.|\n)*^  10   file or database problem(.|\n)*"
      "^  11   refused by a rule(.|\n)*^  130  interrupted" },
  { .name = "top/help-command",
    .args = { "help", "verify", NULL },
    .exit_code = 0,
    .stdout_re = "Usage:\n  tessera-license verify" },
  { .name = "top/version",
    .args = { "--version", NULL },
    .exit_code = 0,
    .stdout_re = "^tessera-license [0-9]+\\.[0-9]+\\.[0-9]+\n$" },

  /* keygen */
  { .name = "keygen/ok",
    .args = { "keygen", "--secret", "@OUT@/new.sec", "--public", "@OUT@/new.pub", NULL },
    .exit_code = 0,
    .stdout_re = "^[0-9a-f]{16}\n$",
    .check = check_keygen_ok },
  { .name = "keygen/refuses-existing-secret",
    .args = { "keygen", "--secret", "@DIR@/signing.sec", "--public", "@OUT@/new.pub", NULL },
    .exit_code = 10,
    .stderr_re = "signing.sec already exists: refusing to overwrite",
    .check = check_keys_untouched },
  { .name = "keygen/refuses-existing-public",
    .args = { "keygen", "--secret", "@OUT@/new.sec", "--public", "@DIR@/signing.pub", NULL },
    .exit_code = 10,
    .stderr_re = "signing.pub already exists: refusing to overwrite",
    .check = check_keys_untouched },
  { .name = "keygen/missing-option",
    .args = { "keygen", "--secret", "@OUT@/new.sec", NULL },
    .exit_code = 1,
    .stderr_re = "both --secret FILE and --public FILE are required",
    .check = check_out_empty },
  { .name = "keygen/unwritable-dir",
    .args = { "keygen", "--secret", "@OUT@/new.sec", "--public", "@OUT@/new.pub", NULL },
    .exit_code = 10,
    .stderr_re = "cannot create .*new.sec: Permission denied$",
    .as_nobody = TRUE,
    .prepare = prepare_unwritable_out,
    .check = check_out_empty },
  { .name = "keygen/help",
    .args = { "keygen", "--help", NULL },
    .exit_code = 0,
    .stdout_re = "^Usage:\n  tessera-license keygen(.|\n)*--secret=FILE(.|\n)*"
                 "\n\nExit status: see 'tessera-license --help' or man tessera-license\\.\n$" },

  /* trust */
  { .name = "trust/ok",
    .args = { "trust", "@DIR@/signing.pub", "--dir", "@OUT@", NULL },
    .exit_code = 0,
    .stdout_re = "\\.pub\n$",
    .check = check_trusted },
  { .name = "trust/already-trusted",
    .args = { "trust", "@DIR@/signing.pub", "--dir", "@OUT@", NULL },
    .exit_code = 0,
    .stdout_re = "\\.pub\n$",
    .stderr_re = "key [0-9a-f]{16} is already trusted",
    .prepare = prepare_trusted_already,
    .check = check_trusted },
  { .name = "trust/other-key-same-name",
    .args = { "trust", "@DIR@/signing.pub", "--dir", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "exists and holds another key: remove it first$",
    .prepare = prepare_trusted_clash,
    .check = check_clash_untouched },
  { .name = "trust/secret-key-refused",
    .args = { "trust", "@DIR@/signing.sec", "--dir", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "signing.sec is not a public key file .*never the secret key$",
    .check = check_out_empty },
  { .name = "trust/not-a-key",
    .args = { "trust", "@DIR@/garbage.pub", "--dir", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "garbage.pub is not a public key file",
    .prepare = prepare_not_a_key,
    .check = check_out_empty },
  { .name = "trust/missing-file",
    .args = { "trust", "@DIR@/nothing.pub", "--dir", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "nothing.pub.*No such file or directory",
    .check = check_out_empty },
  { .name = "trust/missing-dir",
    .args = { "trust", "@DIR@/signing.pub", "--dir", "@OUT@/nowhere", NULL },
    .exit_code = 10,
    .stderr_re = "the trusted-key folder .*nowhere does not exist",
    .check = check_out_empty },
  { .name = "trust/unwritable-dir",
    .args = { "trust", "@DIR@/signing.pub", "--dir", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "trust: cannot write in .*: Permission denied$",
    .as_nobody = TRUE,
    .prepare = prepare_unwritable_out,
    .check = check_out_empty },
  { .name = "trust/no-file",
    .args = { "trust", "--dir", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "trust: ",
    .check = check_out_empty },

  /* issue */
  { .name = "issue/golden",
    .args = { "issue",
              "--key",
              "@DIR@/signing.sec",
              "--machine-id",
              "7QK2-M4RD-X9T1-0BHC",
              "--product",
              "KRE",
              "--subscription-end",
              "2020-02-01",
              "--issued-at",
              "2020-01-01",
              "--license-id",
              "golden-1",
              "--org",
              "example-org",
              "-e",
              "reports",
              "-e",
              "parallel-execution",
              "--output",
              "@OUT@/golden.lic",
              NULL },
    .exit_code = 0,
    .stdout_re = "^@OUT@/golden.lic\n$",
    .check = check_golden_issue },
  { .name = "issue/golden-unix-times",
    .args = { "issue",
              "--key",
              "@DIR@/signing.sec",
              "--machine-id",
              "7QK2-M4RD-X9T1-0BHC",
              "--product",
              "KRE",
              "--subscription-end",
              "1580515200",
              "--issued-at",
              "2020-01-01T00:00:00Z",
              "--expires-at",
              "1580515200",
              "--license-id",
              "golden-1",
              "--org",
              "example-org",
              "-e",
              "parallel-execution",
              "-e",
              "reports",
              "-e",
              "reports",
              "--output",
              "@OUT@/golden.lic",
              NULL },
    .exit_code = 0,
    .stdout_re = "^@OUT@/golden.lic\n$",
    .check = check_golden_issue },
  { .name = "issue/defaults",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "-e", "reports", "-e", "a-feature", "--out",
              "@OUT@", NULL },
    .exit_code = 0,
    .stdout_re = "^@OUT@/KRE_" MID ".lic\n$",
    .check = check_issue_defaults },
  { .name = "issue/twice-side-by-side",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 0,
    .stdout_re = "^@OUT@/KRE_" MID ".1.lic\n$",
    .prepare = prepare_issue_once,
    .check = check_issued_twice },
  { .name = "issue/keeps-existing-file",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 0,
    .stdout_re = "^@OUT@/KRE_" MID ".1.lic\n$",
    .prepare = prepare_existing_license,
    .check = check_existing_kept_and_serial },
  { .name = "issue/output-exists",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--output", "@OUT@/KRE_" MID ".lic", NULL },
    .exit_code = 10,
    .stderr_re
    = "^tessera-license: issue: @OUT@/KRE_" MID ".lic already exists: refusing to overwrite it$",
    .prepare = prepare_existing_license,
    .check = check_existing_kept_only },
  { .name = "issue/floating-refused",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--kind", "floating", "--out", "@OUT@", NULL },
    .exit_code = 11,
    .stderr_re = "^tessera-license: issue: only an annual node-locked license can be converted "
                 "to offline",
    .check = check_out_empty },
  { .name = "issue/monthly-refused",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--billing", "monthly", "--out", "@OUT@", NULL },
    .exit_code = 11,
    .stderr_re = "only an annual node-locked license can be converted to offline.*monthly",
    .check = check_out_empty },
  { .name = "issue/over-60-days-refused",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--issued-at", "2098-01-01", "--expires-at",
              "2098-03-03", "--out", "@OUT@", NULL },
    .exit_code = 11,
    .stderr_re = "^tessera-license: issue: an offline license is valid for at most 60 days$",
    .check = check_out_empty },
  { .name = "issue/past-subscription-refused",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2098-01-10", "--issued-at", "2098-01-01", "--expires-at",
              "2098-01-20", "--out", "@OUT@", NULL },
    .exit_code = 11,
    .stderr_re = "cannot outlive the subscription$",
    .check = check_out_empty },
  { .name = "issue/subscription-over-refused",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2020-01-01", "--out", "@OUT@", NULL },
    .exit_code = 11,
    .stderr_re = "subscription ended before the license would be issued$",
    .check = check_out_empty },
  { .name = "issue/utf8-org",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--org",
              "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale", "--output", "@OUT@/utf8.lic", NULL },
    .exit_code = 0,
    .stdout_re = "^@OUT@/utf8.lic\n$",
    .check = check_utf8_org },
  { .name = "issue/org-not-utf8",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--org", "\xff\xfe", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "the organization must be a non-empty UTF-8 string$",
    .check = check_out_empty },
  { .name = "issue/missing-key-file",
    .args = { "issue", "--key", "@DIR@/nonexistent.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "nonexistent.sec: No such file or directory$",
    .check = check_out_empty },
  { .name = "issue/garbage-key-file",
    .args = { "issue", "--key", "@DIR@/garbage.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "garbage.sec is not a Tessera secret key",
    .check = check_out_empty },
  { .name = "issue/public-key-as-secret",
    .args = { "issue", "--key", "@DIR@/keys/test.pub", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "test.pub is accessible by other users",
    .check = check_out_empty },
  { .name = "issue/key-mode-0644-refused",
    .args = { "issue", "--key", "@DIR@/key644.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "key644.sec is accessible by other users \\(mode 644\\): run 'chmod 600 ",
    .check = check_out_empty },
  { .name = "issue/unwritable-dir",
    .args = { "issue", "--key", "@DIR@/nobody.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 10,
    .stderr_re = "^tessera-license: issue: cannot create a file in @OUT@: Permission denied$",
    .as_nobody = TRUE,
    .prepare = prepare_unwritable_out,
    .check = check_out_empty },
  { .name = "issue/missing-out-dir",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@/no/such/dir", NULL },
    .exit_code = 10,
    .stderr_re = "cannot create a file in .*: No such file or directory$",
    .check = check_out_empty },
  { .name = "issue/missing-required",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--product", "KRE", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "--machine-id or --request, --product and --subscription-end are required",
    .check = check_out_empty },
  { .name = "issue/bad-date",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-13-45", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "--subscription-end '2099-13-45' is not a date",
    .check = check_out_empty },
  { .name = "issue/expires-before-issued",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--issued-at", "2098-01-10", "--expires-at",
              "2098-01-01", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "--expires-at must be later than the issue time",
    .check = check_out_empty },
  { .name = "issue/bad-machine-id",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", "../../etc/x", "--product",
              "KRE", "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "--machine-id '\\.\\./\\.\\./etc/x' is not a machine ID: it is what 'tessera "
                 "machine-id' \\(or 'tessera-license machine-id'\\) prints on the user's machine",
    .check = check_out_empty },
  { .name = "issue/machine-id-hello",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", "hello", "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-license: issue: --machine-id 'hello' is not a machine ID: .*"
                 "XXXX-XXXX-XXXX-XXXX in digits and capital letters other than I, L, O and U$",
    .check = check_out_empty },
  { .name = "issue/machine-id-lower-case",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", "aaaa-bbbb-cccc-dddd",
              "--product", "KRE", "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "--machine-id 'aaaa-bbbb-cccc-dddd' is not a machine ID",
    .check = check_out_empty },
  { .name = "issue/machine-id-not-base32",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", "AAAA-BBBB-CCCC-DDDO",
              "--product", "KRE", "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "--machine-id 'AAAA-BBBB-CCCC-DDDO' is not a machine ID",
    .check = check_out_empty },
  { .name = "issue/machine-id-control-chars",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", "AAAA-BBBB\nCCCC-DDDD",
              "--product", "KRE", "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "--machine-id 'AAAA-BBBB\\\\nCCCC-DDDD' is not a machine ID",
    .check = check_out_empty },
  { .name = "issue/this-machine",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", "@THISMID@", "--product",
              "KRE", "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 0,
    .stdout_re = "^@OUT@/KRE_@THISMID@\\.lic\n$" },
  { .name = "issue/bad-kind",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--kind", "site", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stderr_re = "--kind must be node-locked or floating, not 'site'$",
    .check = check_out_empty },
  { .name = "issue/unknown-option",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--frobnicate", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-license: issue: unknown option '--frobnicate' \\(see "
                 "'tessera-license issue --help'\\)$",
    .check = check_out_empty },
  { .name = "issue/out-and-output",
    .args
    = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
        "--subscription-end", "2099-01-01", "--out", "@OUT@", "--output", "@OUT@/x.lic", NULL },
    .exit_code = 1,
    .stderr_re = "either --out DIR or --output FILE, not both",
    .check = check_out_empty },
  { .name = "issue/help",
    .args = { "issue", "--help", NULL },
    .exit_code = 0,
    .stdout_re
    = "^Usage:\n  tessera-license issue(.|\n)*--machine-id=ID(.|\n)*--issued-at=DATE(.|\n)*"
      "\n\nExit status: see 'tessera-license --help' or man tessera-license\\.\n$" },

  /* inspect */
  { .name = "inspect/json-roundtrip",
    .args
    = { "inspect", "--json", "@OUT@/KSE_" MID ".lic", "--trusted-key", "@DIR@/signing.pub", NULL },
    .exit_code = 0,
    .stdout_re = "^\\{.*\\}\n$",
    .prepare = prepare_issue_for_roundtrip,
    .check = check_roundtrip_json },
  { .name = "inspect/valid-text",
    .args = { "inspect", "@DIR@/valid.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 0,
    .stdout_re
    = "^product: +KRE\nmachine id: +" MID "\norganization: +example-org\nlicense id: +valid-1\n"
      "(.|\n)*^expires: +[-0-9T:]+Z \\(in (59|60) days\\)\n(.|\n)*^entitlements: +reports\n"
      "status: +VALID\n$" },
  { .name = "inspect/golden-expired-text",
    .args = { "inspect", "@DIR@/expired.lic", "--trusted-key", "@DIR@/signing.pub", NULL },
    .exit_code = 3,
    .stdout_is = GOLDEN_EXPIRED_TEXT,
    .stderr_re = "^tessera-license: @DIR@/expired.lic: the offline license expired at "
                 "2020-02-01T00:00:00Z; ask your administrator for a new one$" },
  { .name = "inspect/golden-expired-json",
    .args
    = { "inspect", "--json", "@DIR@/expired.lic", "--trusted-key", "@DIR@/signing.pub", NULL },
    .exit_code = 3,
    .stdout_is = GOLDEN_EXPIRED_JSON,
    .stderr_re = "expired at 2020-02-01T00:00:00Z" },
  { .name = "inspect/not-yet-valid",
    .args = { "inspect", "--json", "@DIR@/notyet.lic", "--trusted-key", "@DIR@/keys", NULL },
    .exit_code = 3,
    .stdout_re
    = "\"valid\":false,.*\"license_id\":\"golden-2\".*\"error\":\\{\"code\":\"not-yet-valid\"",
    .stderr_re = "valid from 2100-01-01T00:00:00Z only" },
  { .name = "inspect/without-trusted-key",
    .args = { "inspect", "@DIR@/valid.lic", NULL },
    .exit_code = 7,
    .stdout_re
    = "^file: +@DIR@/valid.lic\nstatus: +NOT VALID \\(untrusted-key\\): cannot verify without "
      "--trusted-key: .*" TEST_KEY_ID ".*\n$",
    .stderr_re = "^tessera-license: @DIR@/valid.lic: cannot verify without --trusted-key: the "
                 "license file is signed by key " TEST_KEY_ID },
  { .name = "inspect/untrusted-json",
    .args = { "inspect", "--json", "@DIR@/valid.lic", "-t", "@DIR@/other.pub", NULL },
    .exit_code = 7,
    .stdout_re
    = "^\\{\"file\":\"@DIR@/valid.lic\",\"valid\":false,\"error\":\\{\"code\":\"untrusted-key\","
      "\"message\":\"the license file is signed by key " TEST_KEY_ID ", which is not trusted",
    .stderr_re = "not trusted here" },
  { .name = "inspect/tampered-json",
    .args = { "inspect", "--json", "@DIR@/tampered.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 7,
    .stdout_re = "^\\{.*\\}\n$",
    .stderr_re = "was modified or damaged",
    .check = check_json_tampered },
  { .name = "inspect/missing-file",
    .args = { "inspect", "@DIR@/nonexistent.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 10,
    .stderr_re = "^tessera-license: inspect: cannot open @DIR@/nonexistent.lic: No such file" },
  { .name = "inspect/directory",
    .args = { "inspect", "@DIR@", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 10,
    .stderr_re = "is not a regular file$" },
  { .name = "inspect/no-file",
    .args = { "inspect", "--json", NULL },
    .exit_code = 1,
    .stdout_re = "^\\{\"error\":\\{\"code\":\"usage\",\"message\":\"inspect: missing FILE",
    .stderr_re = "^tessera-license: inspect: missing FILE" },
  { .name = "inspect/two-files",
    .args = { "inspect", "@DIR@/valid.lic", "@DIR@/expired.lic", NULL },
    .exit_code = 1,
    .stderr_re = "unexpected argument '@DIR@/expired.lic'" },
  { .name = "inspect/help",
    .args = { "inspect", "-h", NULL },
    .exit_code = 0,
    .stdout_re = "--trusted-key=PUB(.|\n)*Exit status: see 'tessera-license --help'" },

  /* verify */
  { .name = "verify/ok",
    .args = { "verify", "@DIR@/valid.lic", "--trusted-key", "@DIR@/signing.pub", "--machine-id",
              MID, "--product", "KRE", NULL },
    .exit_code = 0,
    .stdout_re
    = "^@DIR@/valid.lic: valid: KRE for machine " MID ", license valid-1, expires [-0-9T:]+Z \\(in "
      "(59|60) days\\)\n$" },
  { .name = "verify/ok-key-directory",
    .args = { "verify", "@DIR@/valid.lic", "-t", "@DIR@/other.pub", "-t", "@DIR@/keys", NULL },
    .exit_code = 0,
    .stdout_re = ": valid: " },
  { .name = "verify/this-machine",
    .args = { "verify", "@DIR@/this.lic", "-t", "@DIR@/signing.pub", "-m", "@THISMID@", "-p", "KRE",
              NULL },
    .exit_code = 0,
    .stdout_re = ": valid: KRE for machine @THISMID@" },
  { .name = "verify/tampered",
    .args = { "verify", "@DIR@/tampered.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 7,
    .stderr_re = "^tessera-license: @DIR@/tampered.lic: the license file was modified or "
                 "damaged \\(.*\\): it is no longer valid" },
  { .name = "verify/garbage",
    .args = { "verify", "@DIR@/garbage.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 7,
    .stderr_re = "does not start like a Tessera license file" },
  { .name = "verify/empty",
    .args = { "verify", "@DIR@/empty.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 7,
    .stderr_re = "the file is empty" },
  { .name = "verify/untrusted",
    .args = { "verify", "@DIR@/valid.lic", "-t", "@DIR@/other.pub", NULL },
    .exit_code = 7,
    .stderr_re = "signed by key " TEST_KEY_ID ", which is not trusted here \\(trusted keys: "
                 "[0-9a-f]{16}\\)$" },
  { .name = "verify/wrong-machine",
    .args
    = { "verify", "@DIR@/valid.lic", "-t", "@DIR@/signing.pub", "--machine-id", OTHER_MID, NULL },
    .exit_code = 8,
    .stderr_re = "bound to machine " MID ", but this machine's ID is " OTHER_MID },
  { .name = "verify/wrong-product",
    .args = { "verify", "@DIR@/valid.lic", "-t", "@DIR@/signing.pub", "--product", "KSE", NULL },
    .exit_code = 2,
    .stderr_re = "the license file is for KRE, not KSE$" },
  { .name = "verify/expired",
    .args = { "verify", "@DIR@/expired.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 3,
    .stderr_re = "^tessera-license: @DIR@/expired.lic: the offline license expired at "
                 "2020-02-01T00:00:00Z" },
  { .name = "verify/not-yet-valid",
    .args = { "verify", "@DIR@/notyet.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 3,
    .stderr_re = "valid from 2100-01-01T00:00:00Z only \\(check this machine's clock\\)$" },
  { .name = "verify/no-trusted-key",
    .args = { "verify", "@DIR@/valid.lic", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-license: verify: at least one --trusted-key PUB is required$" },
  { .name = "verify/missing-trusted-key-file",
    .args = { "verify", "@DIR@/valid.lic", "-t", "@DIR@/nonexistent.pub", NULL },
    .exit_code = 10,
    .stderr_re = "nonexistent.pub: No such file or directory$" },
  { .name = "verify/garbage-trusted-key",
    .args = { "verify", "@DIR@/valid.lic", "-t", "@DIR@/garbage.lic", NULL },
    .exit_code = 10,
    .stderr_re = "garbage.lic is not a Tessera public key" },
  { .name = "verify/missing-file",
    .args = { "verify", "@DIR@/nonexistent.lic", "-t", "@DIR@/signing.pub", NULL },
    .exit_code = 10,
    .stderr_re = "cannot open @DIR@/nonexistent.lic: No such file or directory$" },
  { .name = "verify/unknown-option",
    .args = { "verify", "@DIR@/valid.lic", "--frobnicate", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-license: verify: unknown option '--frobnicate'" },
  { .name = "verify/missing-option-value",
    .args = { "verify", "@DIR@/valid.lic", "--trusted-key", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-license: verify: Missing argument for --trusted-key" },

  /* machine-id */
  { .name = "machine-id/plain",
    .args = { "machine-id", NULL },
    .exit_code = 0,
    .stdout_re = "^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\n$",
    .check = check_machine_id },
  { .name = "machine-id/components",
    .args = { "machine-id", "--components", NULL },
    .exit_code = 0,
    .stdout_re
    = "^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}\n(machine-id|dmi-uuid|cpu|nic) +[0-9a-f]{16}\n(.|\n)*"
      "^user +[0-9a-f]{16}\n$",
    .check = check_machine_id },
  { .name = "machine-id/extra-argument",
    .args = { "machine-id", "extra", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-license: machine-id: unexpected argument 'extra'" },
  /* --json: one JSON object on stdout for every command, failures too */
  { .name = "json/issue",
    .args = { "--json", "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product",
              "KRE", "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 0,
    .stdout_re = "^\\{\"file\":\"@OUT@/KRE_" MID "\\.lic\",\"valid\":true,.*\"machine_id\":\"" MID
                 "\".*\\}\n$",
    .check = check_json_issue },
  { .name = "json/issue-after-command",
    .args = { "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
              "--subscription-end", "2099-01-01", "--out", "@OUT@", "--json", NULL },
    .exit_code = 0,
    .stdout_re = "^\\{\"file\":\"@OUT@/KRE_" MID "\\.lic\",\"valid\":true,",
    .check = check_json_issue },
  { .name = "json/issue-bad-machine-id",
    .args = { "--json", "issue", "--key", "@DIR@/signing.sec", "--machine-id", "hello", "--product",
              "KRE", "--subscription-end", "2099-01-01", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .stdout_re = "^\\{\"error\":\\{\"code\":\"usage\",\"message\":\"issue: --machine-id "
                 "'hello' is not a machine ID[^\"]*\",\"exit_code\":1\\}\\}\n$",
    .stderr_re = "is not a machine ID",
    .check = check_out_empty },
  { .name = "json/issue-refused",
    .args
    = { "--json", "issue", "--key", "@DIR@/signing.sec", "--machine-id", MID, "--product", "KRE",
        "--subscription-end", "2099-01-01", "--kind", "floating", "--out", "@OUT@", NULL },
    .exit_code = 11,
    .stdout_re = "^\\{\"error\":\\{\"code\":\"refused\",\"message\":\"issue: [^\"]*\","
                 "\"exit_code\":11\\}\\}\n$",
    .stderr_re = "^tessera-license: issue: ",
    .check = check_out_empty },
  { .name = "json/keygen",
    .args = { "--json", "keygen", "--secret", "@OUT@/k.sec", "--public", "@OUT@/k.pub", NULL },
    .exit_code = 0,
    .stdout_re = "^\\{\"key_id\":\"[0-9a-f]{16}\",\"secret\":\"@OUT@/k\\.sec\",\"public\":"
                 "\"@OUT@/k\\.pub\"\\}\n$" },
  { .name = "json/keygen-exists",
    .args
    = { "keygen", "--json", "--secret", "@DIR@/signing.sec", "--public", "@OUT@/k.pub", NULL },
    .exit_code = 10,
    .stdout_re = "^\\{\"error\":\\{\"code\":\"file\",\"message\":\"keygen: [^\"]*\","
                 "\"exit_code\":10\\}\\}\n$",
    .stderr_re = "^tessera-license: keygen: " },
  { .name = "json/machine-id",
    .args = { "--json", "machine-id", NULL },
    .exit_code = 0,
    .stdout_re = "^\\{\"machine_id\":\"@THISMID@\"\\}\n$" },
  { .name = "json/machine-id-components",
    .args = { "machine-id", "--components", "--json", NULL },
    .exit_code = 0,
    .stdout_re = "^\\{\"machine_id\":\"@THISMID@\",\"components\":\\{\"[a-z-]+\":"
                 "\"[0-9a-f]{16}\".*,\"user\":\"[0-9a-f]{16}\"\\}\\}\n$" },
  { .name = "json/verify-ok",
    .args = { "--json", "verify", "@DIR@/valid.lic", "--trusted-key", "@DIR@/signing.pub",
              "--machine-id", MID, NULL },
    .exit_code = 0,
    .stdout_re = "^\\{\"file\":\"@DIR@/valid\\.lic\",\"valid\":true,.*\"license_id\":"
                 "\"valid-1\".*\\}\n$",
    .check = check_json_no_error },
  { .name = "json/verify-tampered",
    .args
    = { "--json", "verify", "@DIR@/tampered.lic", "--trusted-key", "@DIR@/signing.pub", NULL },
    .exit_code = 7,
    .stdout_re = "^\\{\"file\":\"@DIR@/tampered\\.lic\",\"valid\":false,\"error\":\\{\"code\":"
                 "\"tampered\",\"message\":\"[^\"]*\",\"exit_code\":7\\}\\}\n$",
    .stderr_re = "modified" },
  { .name = "json/verify-wrong-machine",
    .args = { "--json", "verify", "@DIR@/valid.lic", "--trusted-key", "@DIR@/signing.pub",
              "--machine-id", OTHER_MID, NULL },
    .exit_code = 8,
    .stdout_re = "^\\{\"file\":\"@DIR@/valid\\.lic\",\"valid\":false,.*\"error\":\\{\"code\":"
                 "\"machine-mismatch\",\"message\":\"[^\"]*\",\"exit_code\":8\\}\\}\n$",
    .stderr_re = "bound to machine " MID },
  { .name = "json/verify-missing-file",
    .args = { "--json", "verify", "@DIR@/nope.lic", "--trusted-key", "@DIR@/signing.pub", NULL },
    .exit_code = 10,
    .stdout_re = "^\\{\"error\":\\{\"code\":\"file\",\"message\":\"[^\"]*nope\\.lic[^\"]*\","
                 "\"exit_code\":10\\}\\}\n$",
    .stderr_re = "nope\\.lic" },
  { .name = "json/trust",
    .args = { "--json", "trust", "@DIR@/signing.pub", "--dir", "@OUT@", NULL },
    .exit_code = 0,
    .stdout_re = "^\\{\"file\":\"@OUT@/" TEST_KEY_ID "\\.pub\",\"key_id\":\"" TEST_KEY_ID
                 "\",\"already_trusted\":false\\}\n$",
    .check = check_trusted },
  { .name = "json/unknown-command",
    .args = { "--json", "frobnicate", NULL },
    .exit_code = 1,
    .stdout_re = "^\\{\"error\":\\{\"code\":\"usage\",\"message\":\"unknown command "
                 "'frobnicate'[^\"]*\",\"exit_code\":1\\}\\}\n$",
    .stderr_re = "unknown command 'frobnicate'" },
  { .name = "json/unknown-option",
    .args = { "--json", "verify", "--frobnicate", NULL },
    .exit_code = 1,
    .stdout_re = "^\\{\"error\":\\{\"code\":\"usage\",.*\"exit_code\":1\\}\\}\n$",
    .stderr_re = "unknown option '--frobnicate'" },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/license-tool/%s", cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &cases[i], run_case, NULL);
    }
  return g_test_run ();
}
