/* Fingerprint tolerance through the real offline provider and the real
 * tessera tool (docs/fingerprint.md, "Tolerance"). The provider always
 * binds to this machine's real fingerprint (no override exists, on
 * purpose), so a "machine before the change" is faked instead: a fake root
 * holding this machine's own machine-id, DMI UUID and processor, with
 * another network card (or processor, or user). Its request is what an
 * issuer would have received before the part was replaced. */
#include "test-util.h"
#include "call-counter.h"
#include "fake-root.h"

#include <json-glib/json-glib.h>

#define DAY (24 * 3600)

typedef struct
{
  char *dir;
  char *license_dir;
  char *key_path;
  char *config_path;
  char *config;
  TesseraSigningKey *key;
  TesseraFingerprint *real;
} Env;

static void
env_free (Env *env)
{
  test_rm_rf (env->dir);
  g_free (env->dir);
  g_free (env->license_dir);
  g_free (env->key_path);
  g_free (env->config_path);
  g_free (env->config);
  tessera_signing_key_unref (env->key);
  tessera_fingerprint_unref (env->real);
  g_free (env);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Env, env_free)

/* NULL (the test skipped) when this machine lacks what the "before"
 * machines need: a machine-id and a processor to keep. */
static Env *
env_new (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) real = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  if (tessera_fingerprint_get_component_digest (real, "machine-id") == NULL
      || tessera_fingerprint_get_component_digest (real, "cpu") == NULL)
    {
      g_test_skip ("this machine has no machine-id or no processor entry to keep");
      return NULL;
    }
  Env *env = g_new0 (Env, 1);
  env->real = g_steal_pointer (&real);
  env->dir = test_tmpdir_new ();
  env->license_dir = g_build_filename (env->dir, "license", NULL);
  g_assert_cmpint (g_mkdir (env->license_dir, 0755), ==, 0);
  env->key = tessera_signing_key_generate ();
  g_autofree char *pub = tessera_signing_key_dup_public (env->key);
  env->key_path = test_write_file (env->dir, "issuer.pub", pub);
  g_autofree char *state = g_build_filename (env->dir, "state", NULL);
  env->config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                                 "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n",
                                 env->license_dir, env->key_path, state);
  env->config_path = test_write_file (env->dir, "tessera.conf", env->config);
  return env;
}

static void
copy_into (const char *root, const char *from, const char *relpath)
{
  g_autofree char *contents = NULL;
  if (g_file_get_contents (from, &contents, NULL, NULL))
    root_write (root, relpath, contents);
}

/* This machine's identity files, in a fake root, with @mac as its only
 * network card and, if @cpu_model, another processor. */
static char *
before_root (const char *mac, const char *cpu_model)
{
  char *root = fake_root_new ();
  copy_into (root, "/etc/machine-id", "etc/machine-id");
  copy_into (root, "/var/lib/dbus/machine-id", "var/lib/dbus/machine-id");
  copy_into (root, "/sys/class/dmi/id/product_uuid", "sys/class/dmi/id/product_uuid");
  if (cpu_model != NULL)
    {
      g_autofree char *cpuinfo = make_cpuinfo (1, cpu_model, "1000.000", "0x1");
      root_write (root, "proc/cpuinfo", cpuinfo);
    }
  else
    copy_into (root, "/proc/cpuinfo", "proc/cpuinfo");
  root_add_nic (root, "eth9", mac, NIC_PCI, "1f", "0");
  return root;
}

/* Issues a license for @request with @match into the folder, under the
 * name the issuer gives it; returns its path. */
static char *
put_tolerant (Env *env, TesseraFingerprint *request, const char *match, const char *license_id)
{
  g_autoptr (GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  TesseraLicfileInfo info = {
    .license_id = license_id,
    .org = "org-1",
    .product = "KRE",
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = now - 60,
    .subscription_end = now + 365 * DAY,
  };
  g_autoptr (GBytes) bytes
      = tessera_licfile_sign_for_request (env->key, &info, request, match, &error);
  g_assert_no_error (error);
  g_autofree char *name
      = tessera_licfile_file_name ("KRE", tessera_fingerprint_get_id (request), 0);
  char *path = g_build_filename (env->license_dir, name, NULL);
  g_file_set_contents (path, g_bytes_get_data (bytes, NULL), (gssize) g_bytes_get_size (bytes),
                       &error);
  g_assert_no_error (error);
  return path;
}

static TesseraEngine *
env_engine (Env *env)
{
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = tessera_engine_new_from_data (env->config, -1, &error);
  g_assert_no_error (error);
  return engine;
}

static GError *
activate_error (Env *env)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_null (license);
  g_assert_nonnull (error);
  g_test_message ("refused: %s", error->message);
  return error;
}

static void
assert_contains (const char *text, const char *fragment)
{
  if (strstr (text, fragment) == NULL)
    g_error ("expected “%s” in: %s", fragment, text);
}

/* Runs @tool with @args; returns its exit status, output in @out, @err. */
static int
run_tool (const char *tool, const char *const *args, char **out, char **err)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) tool);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  int status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out,
                               err, &status, &error));
  g_assert_no_error (error);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static int
run_cli (const char *const *args, char **out, char **err)
{
  return run_tool (g_getenv ("TESSERA_CLI_TOOL"), args, out, err);
}

/* ---- tests ---- */

/* The network card was replaced after the license was issued: the ID
 * changed, so did the name the file was issued under, and the license
 * still works under the default policy. */
static void
test_nic_replaced (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  g_autoptr (FakeRoot) root = before_root ("02:00:00:00:fe:01", NULL);
  g_autoptr (TesseraFingerprint) request = fake_root_fingerprint (root, getuid (), NULL);
  g_assert_cmpstr (tessera_fingerprint_get_id (request), !=,
                   tessera_fingerprint_get_id (env->real));
  g_autofree char *path = put_tolerant (env, request, NULL, "LIC-NIC");

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_id (license), ==, "LIC-NIC");
  g_assert_cmpstr (tessera_license_get_machine_id (license), ==,
                   tessera_fingerprint_get_id (request));
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.file"), ==, path);
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.match-policy"), ==,
                   "all-but-one");
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.components-changed"), ==,
                   "nic");
  const char *matched = tessera_license_get_attribute (license, "offline.components-matched");
  assert_contains (matched, "machine-id");
  assert_contains (matched, "cpu");
  assert_contains (matched, "user");
  assert_contains (tessera_license_get_attribute (license, "offline.match"), "(nic)");
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));

  /* `tessera status --json` shows the same. */
  g_autofree char *out = NULL, *err = NULL;
  const char *const args[] = { "--config", env->config_path, "--json", "status", NULL };
  int rc = run_cli (args, &out, &err);
  if (rc != 0)
    g_error ("tessera status: exit %d: %s", rc, err);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, out, -1, NULL));
  JsonObject *root_obj = json_node_get_object (json_parser_get_root (parser));
  JsonArray *licenses = json_object_get_array_member (root_obj, "licenses");
  g_assert_cmpuint (json_array_get_length (licenses), ==, 1);
  JsonObject *entry = json_array_get_object_element (licenses, 0);
  g_assert_true (json_object_get_boolean_member (entry, "usable"));
  JsonObject *attrs = json_object_get_object_member (entry, "attributes");
  g_assert_cmpstr (json_object_get_string_member (attrs, "offline.match-policy"), ==,
                   "all-but-one");
  g_assert_cmpstr (json_object_get_string_member (attrs, "offline.components-changed"), ==, "nic");
  JsonObject *m = json_object_get_object_member (entry, "machine_match");
  g_assert_nonnull (m);
  g_assert_cmpstr (json_object_get_string_member (m, "policy"), ==, "all-but-one");
  JsonArray *changed = json_object_get_array_member (m, "changed");
  g_assert_cmpuint (json_array_get_length (changed), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (changed, 0), ==, "nic");

  /* And `tessera machine-id --explain FILE`, component by component. */
  g_free (out);
  g_free (err);
  const char *const explain[]
      = { "machine-id", "--explain", path, "--trusted-key", env->key_path, NULL };
  g_assert_cmpint (run_cli (explain, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  assert_contains (out, "matches this machine");
  g_autoptr (GRegex) nic_line = g_regex_new ("^nic .*(changed|unread)", G_REGEX_MULTILINE, 0, NULL);
  g_assert_true (g_regex_match (nic_line, out, 0, NULL));
  g_autoptr (GRegex) cpu_line = g_regex_new ("^cpu .* matched$", G_REGEX_MULTILINE, 0, NULL);
  g_assert_true (g_regex_match (cpu_line, out, 0, NULL));
}

/* A folder shared by several machines: besides this machine's own file,
 * tolerant files issued for other machine IDs (here: this machine before
 * five different network cards, each of which would match). The own file
 * is granted, and the others are never verified: one signature check per
 * activation, not one per file in the folder (bench/offline-bench (d)).
 * Counted, not timed (tests/call-counter.h). */
static void
test_own_file_first (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *mac = g_strdup_printf ("02:00:00:00:fe:%02x", i + 1);
      g_autofree char *id = g_strdup_printf ("LIC-BEFORE-%u", i);
      g_autoptr (FakeRoot) root = before_root (mac, NULL);
      g_autoptr (TesseraFingerprint) request = fake_root_fingerprint (root, getuid (), NULL);
      g_autofree char *path = put_tolerant (env, request, NULL, id);
    }
  g_autofree char *own = put_tolerant (env, env->real, NULL, "LIC-OWN");

  /* The counting reaches the plugin, and the other files are usable: with
   * the own file gone, one of them is granted after verifying them. */
  g_autofree char *aside = g_strconcat (own, ".aside", NULL);
  g_assert_cmpint (g_rename (own, aside), ==, 0);
  g_autoptr (GError) error = NULL;
  {
    g_autoptr (TesseraEngine) engine = env_engine (env);
    call_counter_reset ();
    g_autoptr (TesseraLicense) license
        = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_str_has_prefix (tessera_license_get_id (license), "LIC-BEFORE-"));
    g_assert_cmpuint (call_counter_get ().verifies, >=, 5);
    g_assert_true (tessera_license_release (license, NULL, &error));
  }
  g_assert_cmpint (g_rename (aside, own), ==, 0);

  g_autoptr (TesseraEngine) engine = env_engine (env);
  call_counter_reset ();
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_id (license), ==, "LIC-OWN");
  g_assert_cmpuint (call_counter_get ().verifies, ==, 1);
  g_assert_true (tessera_license_release (license, NULL, &error));
}

/* The same change under `--match all`: refused, and the message says why. */
static void
test_strict_policy (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  g_autoptr (FakeRoot) root = before_root ("02:00:00:00:fe:02", NULL);
  g_autoptr (TesseraFingerprint) request = fake_root_fingerprint (root, getuid (), NULL);
  g_autofree char *path = put_tolerant (env, request, "all", "LIC-STRICT");

  g_autoptr (GError) error = activate_error (env);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH);
  assert_contains (error->message, "no offline KRE license file in");
  assert_contains (error->message, path);
  assert_contains (error->message, "(nic); ");
  assert_contains (error->message, "hardware components match, the license needs");
  assert_contains (error->message, "(match policy all)");
}

/* Two parts changed: refused, and both are named, by the provider and by
 * `tessera machine-id --explain` (exit 8, one line on stderr). */
static void
test_two_changed (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  g_autoptr (FakeRoot) root = before_root ("02:00:00:00:fe:03", "Imaginary CPU 9000");
  g_autoptr (TesseraFingerprint) request = fake_root_fingerprint (root, getuid (), NULL);
  g_autofree char *path = put_tolerant (env, request, NULL, "LIC-TWO");

  g_autoptr (GError) error = activate_error (env);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH);
  assert_contains (error->message, "the processor changed (cpu) and the network card ");
  assert_contains (error->message, "(nic); ");

  g_autofree char *out = NULL, *err = NULL;
  const char *const explain[]
      = { "machine-id", "--explain", path, "--trusted-key", env->key_path, NULL };
  g_assert_cmpint (run_cli (explain, &out, &err), ==, 8);
  assert_contains (out, "does not match this machine");
  assert_contains (err, "the processor changed (cpu)");
  guint lines = 0;
  for (const char *p = err; *p; p++)
    lines += *p == '\n';
  g_assert_cmpuint (lines, ==, 1);
}

/* Another account on this very hardware: refused whatever the policy. */
static void
test_other_user (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  g_autoptr (FakeRoot) root = before_root ("02:00:00:00:fe:04", NULL);
  /* Every hardware component as this machine's would be, but another user. */
  g_autoptr (TesseraFingerprint) request
      = fake_root_fingerprint (root, getuid () + 4242, "someone-else");
  g_autofree char *path = put_tolerant (env, request, "any", "LIC-USER");

  g_autoptr (GError) error = activate_error (env);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH);
  assert_contains (error->message, "the license is for another user account (user)");
}

/* A file issued for a machine ID alone (format 1) for the old ID stays
 * unopened and unusable, with the message of before. */
static void
test_old_file (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  g_autoptr (FakeRoot) root = before_root ("02:00:00:00:fe:05", NULL);
  g_autoptr (TesseraFingerprint) request = fake_root_fingerprint (root, getuid (), NULL);
  g_autoptr (GError) local = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  TesseraLicfileInfo info = {
    .license_id = "LIC-OLD",
    .org = "org-1",
    .product = "KRE",
    .machine_id = tessera_fingerprint_get_id (request),
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = now - 60,
    .subscription_end = now + 365 * DAY,
  };
  g_autoptr (GBytes) bytes = tessera_licfile_sign (env->key, &info, &local);
  g_assert_no_error (local);
  g_autofree char *name = tessera_licfile_file_name ("KRE", info.machine_id, 0);
  g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (bytes, NULL),
                                      (gssize) g_bytes_get_size (bytes), NULL));

  g_autoptr (GError) error = activate_error (env);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  assert_contains (error->message, "license files for other machine IDs");

  /* Issued for this very ID, the old format works as it always did. */
  info.machine_id = tessera_fingerprint_get_id (env->real);
  info.license_id = "LIC-OLD-HERE";
  g_autoptr (GBytes) here = tessera_licfile_sign (env->key, &info, &local);
  g_autofree char *here_name = tessera_licfile_file_name ("KRE", info.machine_id, 0);
  g_autofree char *here_path = g_build_filename (env->license_dir, here_name, NULL);
  g_assert_true (g_file_set_contents (here_path, g_bytes_get_data (here, NULL),
                                      (gssize) g_bytes_get_size (here), NULL));
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &local);
  g_assert_no_error (local);
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.match-policy"), ==, "exact");
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.components-changed"), ==, "");
}

/* Installing a tolerant file names it by the ID it holds (a name must agree
 * with the content), and it then activates. */
static void
test_install (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  g_autoptr (FakeRoot) root = before_root ("02:00:00:00:fe:06", NULL);
  g_autoptr (TesseraFingerprint) request = fake_root_fingerprint (root, getuid (), NULL);
  g_autofree char *issued = put_tolerant (env, request, NULL, "LIC-INSTALL");
  g_autofree char *download = g_build_filename (env->dir, "download.lic", NULL);
  g_assert_cmpint (g_rename (issued, download), ==, 0);

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) installed
      = tessera_engine_install_license (engine, NULL, download, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (installed, "offline.file"), ==, issued);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_id (license), ==, "LIC-INSTALL");
}

/* `tessera-license inspect` shows a format 2 file's policy. */
static void
test_inspect (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  g_autoptr (FakeRoot) root = before_root ("02:00:00:00:fe:08", NULL);
  g_autoptr (TesseraFingerprint) request = fake_root_fingerprint (root, getuid (), NULL);
  g_autofree char *file = put_tolerant (env, request, "most", "LIC-INSPECT");
  g_autofree char *out = NULL, *err = NULL;
  const char *const text[] = { "inspect", file, "--trusted-key", env->key_path, NULL };
  g_assert_cmpint (run_tool (g_getenv ("TESSERA_LICENSE_TOOL"), text, &out, &err), ==, 0);
  g_autoptr (GRegex) re = g_regex_new ("^ *match policy: +most$", G_REGEX_MULTILINE, 0, NULL);
  if (!g_regex_match (re, out, 0, NULL))
    g_error ("no match policy in: %s", out);
  g_free (out);
  g_free (err);
  const char *const json[] = { "inspect", "--json", file, "--trusted-key", env->key_path, NULL };
  g_assert_cmpint (run_tool (g_getenv ("TESSERA_LICENSE_TOOL"), json, &out, &err), ==, 0);
  assert_contains (out, "\"match\":\"most\"");
}

/* Every bad command line or input of the new options: a non-zero exit and
 * exactly one line on stderr saying what is wrong. */
static void
test_bad_input (void)
{
  g_autoptr (Env) env = env_new ();
  if (env == NULL)
    return;
  g_autoptr (FakeRoot) root = before_root ("02:00:00:00:fe:07", NULL);
  g_autoptr (TesseraFingerprint) request = fake_root_fingerprint (root, getuid (), NULL);
  g_autofree char *file = put_tolerant (env, request, NULL, "LIC-BAD");
  g_autofree char *line = tessera_fingerprint_to_string (request);
  g_autofree char *req_path = test_write_file (env->dir, "request.txt", line);
  g_autofree char *other_pub = NULL;
  {
    g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
    g_autofree char *pub = tessera_signing_key_dup_public (other);
    other_pub = test_write_file (env->dir, "other.pub", pub);
  }
  g_autofree char *sec = g_build_filename (env->dir, "issuer.sec", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_signing_key_save (env->key, sec, NULL, &error));
  g_autofree char *missing = g_build_filename (env->dir, "missing.lic", NULL);
  g_autofree char *two_lines = test_write_file (env->dir, "two.txt", "tessera-fp1 A\nB\n");
  const char *cli = g_getenv ("TESSERA_CLI_TOOL");
  const char *lic = g_getenv ("TESSERA_LICENSE_TOOL");
  const struct
  {
    const char *tool;
    const char *args[12];
    int status;
    const char *fragment;
  } cases[] = {
    { cli, { "machine-id", "--request", "--explain" }, 1, "not both" },
    { cli, { "machine-id", file }, 1, "only taken with --explain" },
    { cli,
      { "machine-id", "--explain", "--trusted-key", env->key_path },
      1,
      "needs --explain FILE" },
    { cli, { "machine-id", "--explain", file, "extra" }, 1, "unexpected argument" },
    { cli,
      { "machine-id", "--explain", missing, "--trusted-key", env->key_path },
      10,
      "cannot read" },
    { cli,
      { "machine-id", "--explain", env->dir, "--trusted-key", env->key_path },
      10,
      "not a regular file" },
    { cli, { "machine-id", "--explain", file, "--trusted-key", other_pub }, 7, "not trusted" },
    { cli,
      { "machine-id", "--explain", req_path, "--trusted-key", env->key_path },
      7,
      "modified or damaged" },
    { lic,
      { "issue", "--key", sec, "--machine-id", "AAAA-BBBB-CCCC-DDDD", "--match", "all", "--product",
        "KRE", "--subscription-end", "2099-01-01" },
      1,
      "--match needs --request" },
    { lic,
      { "issue", "--key", sec, "--request", req_path, "--match", "9", "--product", "KRE",
        "--subscription-end", "2099-01-01" },
      1,
      "needs 9 hardware components" },
    { lic,
      { "issue", "--key", sec, "--request", req_path, "--match", "some", "--product", "KRE",
        "--subscription-end", "2099-01-01" },
      1,
      "unknown match policy" },
    { lic,
      { "issue", "--key", sec, "--request", req_path, "--machine-id", "AAAA-BBBB-CCCC-DDDD",
        "--product", "KRE", "--subscription-end", "2099-01-01" },
      1,
      "is not the ID of the request" },
    { lic,
      { "issue", "--key", sec, "--request", missing, "--product", "KRE", "--subscription-end",
        "2099-01-01" },
      10,
      "--request:" },
    { lic,
      { "issue", "--key", sec, "--request", two_lines, "--product", "KRE", "--subscription-end",
        "2099-01-01" },
      1,
      "one line" },
    { lic,
      { "issue", "--key", sec, "--request", "tessera-fp1 X", "--product", "KRE",
        "--subscription-end", "2099-01-01" },
      1,
      "Malformed fingerprint" },
    { lic, { "machine-id", "--request", "--components" }, 1, "already holds the components" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL, *err = NULL;
      int status = run_tool (cases[i].tool, cases[i].args, &out, &err);
      guint lines = 0;
      for (const char *p = err; *p; p++)
        lines += *p == '\n';
      if (status != cases[i].status || lines != 1 || strstr (err, cases[i].fragment) == NULL)
        g_error ("case %u (%s): exit %d (expected %d), stderr: %s", i, cases[i].args[0], status,
                 cases[i].status, err);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/offline-tolerance/nic-replaced", test_nic_replaced);
  g_test_add_func ("/offline-tolerance/own-file-first", test_own_file_first);
  g_test_add_func ("/offline-tolerance/strict-policy", test_strict_policy);
  g_test_add_func ("/offline-tolerance/two-changed", test_two_changed);
  g_test_add_func ("/offline-tolerance/other-user", test_other_user);
  g_test_add_func ("/offline-tolerance/old-file", test_old_file);
  g_test_add_func ("/offline-tolerance/install", test_install);
  g_test_add_func ("/offline-tolerance/inspect", test_inspect);
  g_test_add_func ("/offline-tolerance/bad-input", test_bad_input);
  return g_test_run ();
}
