/* tessera (tools/tessera*.c, docs/tessera.1) as a user runs it: every
 * subcommand, every exit code of its table, every error case, each one a
 * separate process. A case is one row of the table below: arguments, exit
 * code, what stdout and stderr must say (stderr: exactly one line on error,
 * nothing on success), and extra checks (JSON parsed with json-glib).
 * Then what a table cannot say: `tessera run` holding a seat, passing its
 * command's status through and releasing the seat when the command is
 * killed, when tessera gets SIGTERM and when the license is revoked; and
 * the README's command-line walk-through, pasted as a user would.
 *
 * Offline keys and license files are made with the real tessera-license
 * ($TESSERA_LICENSE_TOOL); $TESSERA_CLI_TOOL is the tool under test. Under
 * valgrind ($TESSERA_TEST_UNDER_VALGRIND) every tessera runs under valgrind. */
#ifdef TESSERA_TEST_ONLINE
#include "server-util.h"
#endif
#include "test-util.h"
#include "tool-util.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <signal.h>

#define OTHER_MID "AAAA-BBBB-CCCC-DDDD"

/* Made once: the issuer's keys and license files (tessera-license). */
static char *files_dir;
static char *this_mid;

typedef struct
{
  char *dir; /* @DIR@: the case's configs, license folder @LIC@, state */
} Fixture;

typedef struct
{
  const char *name;
  const char *args[24]; /* placeholders @DIR@ @LIC@ @FILES@ @MID@ */
  const char *env;      /* "NAME=VALUE" set for the run, or NULL */
  int exit_code;
  const char *stdout_re; /* NULL: stdout must be empty */
  const char *stderr_re; /* NULL: stderr must be empty; else its one line */
  void (*prepare) (Fixture *f);
  void (*check) (Fixture *f, const char *out);
} CliCase;

/* ---- helpers ---- */

static const char *
cli_path (void)
{
  const char *tool = g_getenv ("TESSERA_CLI_TOOL");
  g_assert_nonnull (tool);
  return tool;
}

static char *
expand (Fixture *f, const char *text)
{
  g_autoptr (GString) s = g_string_new (text);
  g_autofree char *lic = g_build_filename (f->dir, "license", NULL);
  g_string_replace (s, "@LIC@", lic, 0);
  g_string_replace (s, "@DIR@", f->dir, 0);
  g_string_replace (s, "@FILES@", files_dir, 0);
  g_string_replace (s, "@MID@", this_mid, 0);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static GPtrArray *cli_argv (Fixture *f, const char *const *args);

/* Under valgrind: drops valgrind's own "--PID-- " lines (it warns about
 * pidfd_open, which GLib's child watch tries first and does without), so
 * stderr checks see what tessera printed. */
static void
strip_valgrind_lines (char **err)
{
  if (g_getenv ("TESSERA_TEST_UNDER_VALGRIND") == NULL || *err == NULL)
    return;
  g_autoptr (GRegex) re = g_regex_new ("^--[0-9]+-- .*\n", G_REGEX_MULTILINE, 0, NULL);
  char *clean = g_regex_replace_literal (re, *err, -1, 0, "", 0, NULL);
  g_free (*err);
  *err = clean;
}

/* Runs tessera with @args (placeholders expanded) in the case's folder,
 * with LC_ALL=C; under valgrind when the test is. Returns its exit code
 * (-1 if it did not exit normally). */
static int
run_cli (Fixture *f, const char *const *args, char **out, char **err)
{
  g_autoptr (GPtrArray) argv = cli_argv (f, args);
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (f->dir, (char **) argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err,
                &status, &error);
  g_assert_no_error (error);
  strip_valgrind_lines (err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* tessera-license with @args; asserts it succeeds; returns its stdout. */
static char *
license_tool (const char *const *args)
{
  const char *tool = g_getenv ("TESSERA_LICENSE_TOOL");
  g_assert_nonnull (tool);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) tool);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, 0, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("tessera-license %s failed: %s", args[0], err);
  return out;
}

static char *
days_from_now (int days)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GDateTime) then = g_date_time_add_days (now, days);
  return g_date_time_format (then, "%Y-%m-%d");
}

/* Issues @output in files_dir: @product for @mid, valid from @from_days
 * (relative to today) for the default 60 days, signed with @key. */
static void
issue (const char *output, const char *key, const char *product, const char *mid, int from_days)
{
  g_autofree char *path = g_build_filename (files_dir, output, NULL);
  g_autofree char *key_path = g_build_filename (files_dir, key, NULL);
  g_autofree char *issued = days_from_now (from_days);
  g_autofree char *end = days_from_now (365);
  const char *args[]
      = { "issue",     "--key",       key_path, "--machine-id",       mid,
          "--product", product,       "--org",  "example-org",        "--entitlement",
          "reports",   "--issued-at", issued,   "--subscription-end", end,
          "--output",  path,          NULL };
  g_autofree char *out = license_tool (args);
}

static char *
read_text (const char *path)
{
  char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static void
write_text (const char *path, const char *text)
{
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
files_set_up (void)
{
  files_dir = test_tmpdir_new ();
  g_autofree char *sec = g_build_filename (files_dir, "issuer.sec", NULL);
  g_autofree char *pub = g_build_filename (files_dir, "issuer.pub", NULL);
  g_autofree char *osec = g_build_filename (files_dir, "other.sec", NULL);
  g_autofree char *opub = g_build_filename (files_dir, "other.pub", NULL);
  const char *k1[] = { "keygen", "--secret", sec, "--public", pub, NULL };
  const char *k2[] = { "keygen", "--secret", osec, "--public", opub, NULL };
  g_free (license_tool (k1));
  g_free (license_tool (k2));
  const char *mid_args[] = { "machine-id", NULL };
  g_autofree char *mid = license_tool (mid_args);
  this_mid = g_strdup (g_strstrip (mid));

  issue ("good.lic", "issuer.sec", "KRE", this_mid, -1);
  issue ("newer.lic", "issuer.sec", "KRE", this_mid, 0);
  issue ("kse.lic", "issuer.sec", "KSE", this_mid, -1);
  issue ("expiring.lic", "issuer.sec", "KRE", this_mid, -50); /* 10 days left */
  issue ("expired.lic", "issuer.sec", "KRE", this_mid, -70);
  issue ("other-machine.lic", "issuer.sec", "KRE", OTHER_MID, -1);
  issue ("untrusted.lic", "other.sec", "KRE", this_mid, -1);
  issue ("kat.lic", "issuer.sec", "KAT", this_mid, -1);
  /* One byte of the signed payload changed. */
  g_autofree char *good = g_build_filename (files_dir, "good.lic", NULL);
  g_autofree char *text = read_text (good);
  char *p = strstr (text, "\"payload\":\"") + strlen ("\"payload\":\"") + 20;
  *p = *p == 'A' ? 'B' : 'A';
  g_autofree char *bad = g_build_filename (files_dir, "tampered.lic", NULL);
  write_text (bad, text);
}

static char *
fixture_file (Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

/* The offline config, and mock configs scripting each error family. */
static void
fixture_set_up (Fixture *f)
{
  f->dir = test_tmpdir_new ();
  g_autofree char *lic = fixture_file (f, "license");
  g_assert_cmpint (g_mkdir (lic, 0700), ==, 0);
  g_autofree char *conf = fixture_file (f, "tessera.conf");
  g_autofree char *text
      = g_strdup_printf ("[engine]\nproviders=offline\nproducts=KRE;KSE\n[provider:offline]\n"
                         "license-dir=license\ntrusted-keys=%s/issuer.pub\nstate-dir=state\n",
                         files_dir);
  write_text (conf, text);

  static const char *const nicks[] = { "quota-exceeded", "auth", "network", "org-required" };
  for (guint i = 0; i < G_N_ELEMENTS (nicks); i++)
    {
      g_autofree char *scenario_name = g_strdup_printf ("mock-%s.json", nicks[i]);
      g_autofree char *scenario = fixture_file (f, scenario_name);
      g_autofree char *json = g_strdup_printf (
          "{\"ops\": {\"activate\": {\"error\": \"%s\", \"message\": \"scripted %s\"}}}", nicks[i],
          nicks[i]);
      write_text (scenario, json);
      g_autofree char *conf_name = g_strdup_printf ("mock-%s.conf", nicks[i]);
      g_autofree char *mock_conf = fixture_file (f, conf_name);
      g_autofree char *conf_text = g_strdup_printf (
          "[engine]\nproviders=mock\n[provider:mock]\nscenario=%s\n", scenario_name);
      write_text (mock_conf, conf_text);
    }
  g_autofree char *missing = fixture_file (f, "missing-provider.conf");
  write_text (missing, "[engine]\nproviders=nosuch;offline\n");
  g_autofree char *garbled = fixture_file (f, "garbled.conf");
  write_text (garbled, "this is [not a key file\n");
  g_autofree char *nokey = fixture_file (f, "bad-key.conf");
  write_text (nokey, "[engine]\nproviders=offline\n[provider:offline]\n"
                     "license-dir=license\ntrusted-keys=/nonexistent/issuer.pub\n");
  g_autofree char *mock = fixture_file (f, "mock.conf");
  write_text (mock, "[engine]\nproviders=mock\n");
}

static void
fixture_tear_down (Fixture *f)
{
  test_rm_rf (f->dir);
  g_free (f->dir);
}

/* Copies an issued file into the case's license folder under its name. */
static void
install_as (Fixture *f, const char *issued, const char *product, const char *suffix)
{
  g_autofree char *lic = fixture_file (f, "license");
  g_assert_cmpint (g_mkdir_with_parents (lic, 0700), ==, 0);
  g_autofree char *src = g_build_filename (files_dir, issued, NULL);
  g_autofree char *text = read_text (src);
  g_autofree char *name = g_strdup_printf ("%s_%s%s.lic", product, this_mid, suffix);
  g_autofree char *dst = g_build_filename (lic, name, NULL);
  write_text (dst, text);
}

static void
prep_installed (Fixture *f)
{
  install_as (f, "good.lic", "KRE", "");
}

static void
prep_expiring (Fixture *f)
{
  install_as (f, "expiring.lic", "KRE", "");
}

static void
prep_expired (Fixture *f)
{
  install_as (f, "expired.lic", "KRE", "");
}

static void
prep_mixed (Fixture *f)
{
  install_as (f, "good.lic", "KRE", "");
  install_as (f, "tampered.lic", "KRE", ".2");
  install_as (f, "expired.lic", "KRE", ".3");
  install_as (f, "kse.lic", "KSE", "");
}

static void
prep_newer_installed (Fixture *f)
{
  install_as (f, "newer.lic", "KRE", "");
}

static JsonObject *
parse_object (const char *out)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  JsonNode *root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_object_ref (json_node_get_object (root));
}

/* ---- checks ---- */

static void
check_json_machine_id (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  g_assert_cmpstr (json_object_get_string_member (o, "machine_id"), ==, this_mid);
}

static void
check_json_error (const char *out, const char *code, int exit_code)
{
  g_autoptr (JsonObject) o = parse_object (out);
  JsonObject *e = json_object_get_object_member (o, "error");
  g_assert_nonnull (e);
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, code);
  g_assert_cmpint (json_object_get_int_member (e, "exit_code"), ==, exit_code);
  g_assert_nonnull (json_object_get_string_member (e, "message"));
}

static void
check_json_usage (Fixture *f, const char *out)
{
  check_json_error (out, "usage", 1);
}

static void
check_json_not_found (Fixture *f, const char *out)
{
  check_json_error (out, "not-found", 2);
}

static void
check_json_quota (Fixture *f, const char *out)
{
  check_json_error (out, "quota-exceeded", 4);
}

static void
check_installed_file (Fixture *f, const char *out)
{
  g_autofree char *name = g_strdup_printf ("KRE_%s.lic", this_mid);
  g_autofree char *path = g_build_filename (f->dir, "license", name, NULL);
  g_autofree char *src = g_build_filename (files_dir, "good.lic", NULL);
  g_autofree char *a = read_text (path);
  g_autofree char *b = read_text (src);
  g_assert_cmpstr (a, ==, b);
}

static void
check_nothing_installed (Fixture *f, const char *out)
{
  g_autofree char *lic = fixture_file (f, "license");
  if (g_file_test (lic, G_FILE_TEST_IS_DIR))
    g_assert_cmpuint (count_entries (lic), ==, 0);
}

static void
check_not_ran (Fixture *f, const char *out)
{
  g_autofree char *ran = fixture_file (f, "ran");
  g_assert_false (g_file_test (ran, G_FILE_TEST_EXISTS));
}

static void
check_json_installed (Fixture *f, const char *out)
{
  check_installed_file (f, out);
  g_autoptr (JsonObject) o = parse_object (out);
  JsonObject *l = json_object_get_object_member (o, "installed");
  g_assert_cmpstr (json_object_get_string_member (l, "product"), ==, "KRE");
  g_assert_cmpstr (json_object_get_string_member (l, "provider"), ==, "offline");
  g_assert_cmpstr (json_object_get_string_member (l, "machine_id"), ==, this_mid);
}

static void
check_json_status (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  JsonArray *a = json_object_get_array_member (o, "licenses");
  g_assert_cmpuint (json_array_get_length (a), ==, 4);
  /* Name order: KRE_ID.2.lic (tampered), KRE_ID.3.lic (expired), KRE_ID.lic, KSE_ID.lic */
  const struct
  {
    gboolean usable;
    const char *code;
  } want[] = { { FALSE, "tampered" }, { FALSE, "expired" }, { TRUE, NULL }, { TRUE, NULL } };
  for (guint i = 0; i < 4; i++)
    {
      JsonObject *l = json_array_get_object_element (a, i);
      g_assert_cmpint (json_object_get_boolean_member (l, "usable"), ==, want[i].usable);
      if (want[i].code != NULL)
        {
          JsonObject *e = json_object_get_object_member (l, "error");
          g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, want[i].code);
        }
      else
        {
          g_assert_false (json_object_has_member (l, "error"));
          g_assert_cmpint (json_object_get_int_member (l, "days_left"), >=, 58);
        }
    }
}

static void
check_json_expiring (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  JsonArray *a = json_object_get_array_member (o, "licenses");
  g_assert_cmpuint (json_array_get_length (a), ==, 1);
  JsonObject *l = json_array_get_object_element (a, 0);
  g_assert_true (json_object_get_boolean_member (l, "expiry_warning"));
  g_assert_cmpint (json_object_get_int_member (l, "days_left"), <=, 10);
}

static void
check_json_activate (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  g_assert_false (json_object_get_boolean_member (o, "kept"));
  JsonObject *l = json_object_get_object_member (o, "license");
  g_assert_cmpstr (json_object_get_string_member (l, "kind"), ==, "node-locked");
  JsonArray *features = json_object_get_array_member (l, "features");
  g_assert_cmpstr (json_array_get_string_element (features, 0), ==, "reports");
}

static void
check_json_validate (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  g_assert_false (json_object_get_boolean_member (o, "activated"));
}

static void
check_json_providers (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  g_assert_true (json_object_get_boolean_member (o, "usable"));
  g_assert_true (g_str_has_suffix (json_object_get_string_member (o, "config"), "tessera.conf"));
  JsonArray *providers = json_object_get_array_member (o, "providers");
  g_assert_cmpuint (json_array_get_length (providers), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (providers, 0), ==, "offline");
  JsonArray *installed = json_object_get_array_member (o, "installed");
  gboolean found = FALSE;
  for (guint i = 0; i < json_array_get_length (installed); i++)
    {
      JsonObject *p = json_array_get_object_element (installed, i);
      if (g_str_equal (json_object_get_string_member (p, "name"), "offline"))
        found = strstr (json_object_get_string_member (p, "description"), "offline") != NULL;
    }
  g_assert_true (found);
}

static void
check_json_release (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "released")), ==, 0);
}

static void
check_json_forget (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  g_assert_cmpint (json_object_get_int_member (o, "forgotten"), ==, 0);
}

/* ---- the table ---- */

#define C(...) "--config", "@DIR@/tessera.conf", __VA_ARGS__
/* One row: the arguments come last (at least one; the rest of the array
 * is NULL). */
#define CASE(name_, env_, exit_, stdout_, stderr_, prepare_, check_, ...)                          \
  {                                                                                                \
    name_, { __VA_ARGS__ }, env_, exit_, stdout_, stderr_, prepare_, check_                        \
  }

static const CliCase cases[] = {
  /* help and usage */
  CASE ("help", NULL, 0, "Commands:(.|\n)*offline install(.|\n)*Exit status", NULL, NULL, NULL,
        "--help"),
  CASE ("no-command", NULL, 1, NULL, "^tessera: no command given", NULL, NULL, NULL),
  CASE ("unknown-command", NULL, 1, NULL, "unknown command 'frobnicate'", NULL, NULL, "frobnicate"),
  CASE ("unknown-global-option", NULL, 1, NULL, "unknown option --frob", NULL, NULL, "--frob",
        "status"),
  CASE ("config-without-file", NULL, 1, NULL, "needs a FILE", NULL, NULL, "--config"),
  CASE ("unknown-option", NULL, 1, NULL, "^tessera status: .*--frob", NULL, NULL,
        C ("status", "--frob")),
  CASE ("extra-argument", NULL, 1, NULL, "unexpected argument 'extra'", NULL, NULL,
        C ("status", "extra")),
  CASE ("activate-no-product", NULL, 1, NULL, "--product is required", NULL, NULL, C ("activate")),
  CASE ("validate-no-product", NULL, 1, NULL, "--product is required", NULL, NULL, C ("validate")),
  CASE ("run-no-product", NULL, 1, NULL, "--product is required", NULL, NULL,
        C ("run", "--", "true")),
  CASE ("run-no-command", NULL, 1, NULL, "after --", NULL, NULL, C ("run", "--product", "KRE")),
  CASE ("install-no-file", NULL, 1, NULL, "which license file", NULL, NULL,
        C ("offline", "install")),
  CASE ("warn-days-negative", NULL, 1, NULL, "--warn-days", NULL, NULL,
        C ("status", "--warn-days", "-1")),
  CASE ("json-usage", NULL, 1, "\"usage\"", "--product is required", NULL, check_json_usage,
        C ("--json", "activate")),
  CASE ("offline-without-install", NULL, 1, NULL, "'offline' needs a subcommand: 'offline install'",
        NULL, NULL, C ("offline")),

  /* machine-id */
  CASE ("machine-id", NULL, 0, "^@MID@\n$", NULL, NULL, NULL, C ("machine-id")),
  CASE ("machine-id-json", NULL, 0, "machine_id", NULL, NULL, check_json_machine_id, "--json",
        C ("machine-id")),
  CASE ("machine-id-missing-config", NULL, 9, NULL, "nope.conf", NULL, NULL, "--config",
        "@DIR@/nope.conf", "machine-id"),

  /* offline install */
  CASE ("install", NULL, 0,
        "^installed: KRE node-locked license .* from offline \\(org example-org\\), expires .* "
        "\\(5[89] "
        "days left\\), as @LIC@/KRE_@MID@.lic\n$",
        NULL, NULL, check_installed_file, C ("offline", "install", "@FILES@/good.lic")),
  CASE ("install-json", NULL, 0, "\"installed\"", NULL, NULL, check_json_installed,
        C ("--json", "offline", "install", "@FILES@/good.lic")),
  CASE ("install-identical", NULL, 0, "^installed:", NULL, prep_installed, check_installed_file,
        C ("offline", "install", "@FILES@/good.lic")),
  CASE ("install-older", NULL, 10, NULL, "not installed: .* expires later", prep_newer_installed,
        NULL, C ("offline", "install", "@FILES@/good.lic")),
  CASE ("install-tampered", NULL, 7, NULL, "tampered.lic: the license file was modified or damaged",
        NULL, check_nothing_installed, C ("offline", "install", "@FILES@/tampered.lic")),
  CASE ("install-untrusted", NULL, 7, NULL, "untrusted.lic: .*not trusted", NULL,
        check_nothing_installed, C ("offline", "install", "@FILES@/untrusted.lic")),
  CASE ("install-other-machine", NULL, 8, NULL, "bound to machine " OTHER_MID, NULL,
        check_nothing_installed, C ("offline", "install", "@FILES@/other-machine.lic")),
  CASE ("install-expired", NULL, 3, NULL, "expired.lic: .*expired", NULL, check_nothing_installed,
        C ("offline", "install", "@FILES@/expired.lic")),
  CASE ("install-other-product", NULL, 2, NULL,
        "for KAT, which this configuration does not license", NULL, check_nothing_installed,
        C ("offline", "install", "@FILES@/kat.lic")),
  CASE ("install-missing-file", NULL, 2, NULL, "cannot read '.*nope.lic'", NULL, NULL,
        C ("offline", "install", "@DIR@/nope.lic")),
  CASE ("install-directory", NULL, 10, NULL, "it is a directory", NULL, NULL,
        C ("offline", "install", "@DIR@")),
  CASE ("install-not-configured", NULL, 2, NULL, "provider 'offline' is not configured", NULL, NULL,
        "--config", "@DIR@/mock.conf", "offline", "install", "@FILES@/good.lic"),
  CASE ("install-too-many", NULL, 1, NULL, "unexpected argument 'b'", NULL, NULL,
        C ("offline", "install", "a", "b")),

  /* status */
  CASE ("status-empty", NULL, 0, "^no stored license\n$", NULL, NULL, NULL, C ("status")),
  CASE ("status", NULL, 0,
        "^unusable: KRE .*KRE_@MID@.2.lic\n  reason: .*modified or damaged.*\n"
        "unusable: KRE .*KRE_@MID@.3.lic\n  reason: .*expired.*\n"
        "usable: KRE .*\\(5[89] days left\\), file @LIC@/KRE_@MID@.lic\n"
        "usable: KSE .*\n$",
        NULL, prep_mixed, NULL, C ("status")),
  CASE ("status-json", NULL, 0, "licenses", NULL, prep_mixed, check_json_status,
        C ("--json", "status")),
  CASE ("status-product", NULL, 0, "^usable: KSE [^\n]*\n$", NULL, prep_mixed, NULL,
        C ("status", "--product", "KSE")),
  CASE ("status-warning", NULL, 0,
        "^usable: KRE .*\n  warning: expires in [0-9]+ days: ask your administrator", NULL,
        prep_expiring, NULL, C ("status")),
  CASE ("status-warning-json", NULL, 0, "expiry_warning", NULL, prep_expiring, check_json_expiring,
        C ("status", "--json")),
  CASE ("status-warn-days-0", NULL, 0, "^usable: KRE [^\n]*\n$", NULL, prep_expiring, NULL,
        C ("status", "--warn-days", "0")),
  CASE ("status-bad-product", NULL, 10, NULL, "is not a product name", NULL, NULL,
        C ("status", "--product", "K R E")),

  /* validate */
  CASE ("validate-stored", NULL, 0, "^valid: KRE ", NULL, prep_installed, NULL,
        C ("validate", "--product", "KRE")),
  CASE ("validate-json", NULL, 0, "\"activated\"", NULL, prep_installed, check_json_validate,
        C ("validate", "--product", "KRE", "--json")),
  CASE ("validate-none", NULL, 2, NULL, "no offline KRE license file for this machine", NULL, NULL,
        C ("validate", "--product", "KRE")),
  CASE ("validate-none-json", NULL, 2, "not-found", "no offline KRE license file", NULL,
        check_json_not_found, C ("validate", "--product", "KRE", "--json")),
  CASE ("validate-stored-only-none", NULL, 2, NULL, "no stored KRE license", NULL, NULL,
        C ("validate", "--product", "KRE", "--stored-only")),
  CASE ("validate-expired", NULL, 3, NULL, "expired", prep_expired, NULL,
        C ("validate", "--product", "KRE")),
  CASE ("validate-expired-stored-only", NULL, 3, NULL, "expired", prep_expired, NULL,
        C ("validate", "--product", "KRE", "--stored-only")),
  CASE ("validate-activates", NULL, 0,
        "^valid \\(activated and released\\): KRE floating license mock-license from mock", NULL,
        NULL, NULL, "--config", "@DIR@/mock.conf", "validate", "--product", "KRE"),

  /* activate: every error family, through the mock */
  CASE ("activate", NULL, 0,
        "^activated: KRE node-locked license .* from offline .*\nnot kept: offline holds", NULL,
        prep_installed, NULL, C ("activate", "--product", "KRE")),
  CASE ("activate-json", NULL, 0, "\"kept\"", NULL, prep_installed, check_json_activate,
        C ("activate", "--product", "KRE", "--json")),
  CASE ("activate-not-found", NULL, 2, NULL, "no offline KRE license file", NULL, NULL,
        C ("activate", "--product", "KRE")),
  CASE ("activate-expired", NULL, 3, NULL, "expired", prep_expired, NULL,
        C ("activate", "--product", "KRE")),
  CASE ("activate-quota", NULL, 4, NULL, "scripted quota-exceeded", NULL, NULL, "--config",
        "@DIR@/mock-quota-exceeded.conf", "activate", "--product", "KRE"),
  CASE ("activate-quota-json", NULL, 4, "quota-exceeded", "scripted quota-exceeded", NULL,
        check_json_quota, "--config", "@DIR@/mock-quota-exceeded.conf", "--json", "activate",
        "--product", "KRE", "--wait", "0"),
  CASE ("activate-auth", NULL, 5, NULL, "scripted auth", NULL, NULL, "--config",
        "@DIR@/mock-auth.conf", "activate", "--product", "KRE", "--api-key", "k"),
  CASE ("activate-org-required", NULL, 5, NULL, "scripted org-required", NULL, NULL, "--config",
        "@DIR@/mock-org-required.conf", "activate", "--product", "KRE", "--org-id", "x"),
  CASE ("activate-network", NULL, 6, NULL, "scripted network", NULL, NULL, "--config",
        "@DIR@/mock-network.conf", "activate", "--product", "KRE"),
  CASE ("activate-mock", NULL, 0, "^activated: KRE floating license mock-license from mock", NULL,
        NULL, NULL, "--config", "@DIR@/mock.conf", "activate", "--product", "KRE"),
  CASE ("activate-forced-provider", "TESSERA_PROVIDER=mock", 0, "from mock", NULL, NULL, NULL,
        C ("activate", "--product", "KRE")),

  /* release */
  CASE ("release-nothing", NULL, 0, "^nothing to release\n$", NULL, prep_installed, NULL,
        C ("release")),
  CASE ("release-json", NULL, 0, "released", NULL, prep_installed, check_json_release,
        C ("release", "--json", "--product", "KRE")),

  /* providers and configuration errors */
  CASE ("providers", NULL, 0,
        "^config: @DIR@/tessera.conf\nplugin directory: .*\ninstalled:\n(.|\n)*  offline +Signed "
        "offline license files(.|\n)*activation tries, in order: offline\n$",
        NULL, NULL, NULL, C ("providers")),
  CASE ("providers-json", NULL, 0, "\"installed\"", NULL, NULL, check_json_providers,
        C ("providers", "--json")),
  CASE ("providers-missing", NULL, 2, "installed:", "provider 'nosuch' is not installed", NULL,
        NULL, "--config", "@DIR@/missing-provider.conf", "providers"),
  CASE ("providers-forced", "TESSERA_PROVIDER=mock", 0,
        "TESSERA_PROVIDER=mock overrides(.|\n)*activation tries, in order: mock", NULL, NULL, NULL,
        C ("providers")),
  CASE ("missing-provider", NULL, 2, NULL,
        "provider 'nosuch' is not installed in .*installed: .*offline", NULL, NULL, "--config",
        "@DIR@/missing-provider.conf", "status"),
  CASE ("missing-config", NULL, 9, NULL, "nope.conf", NULL, NULL, "--config", "@DIR@/nope.conf",
        "status"),
  CASE ("garbled-config", NULL, 9, NULL, "garbled.conf", NULL, NULL, "--config",
        "@DIR@/garbled.conf", "status"),
  CASE ("bad-trusted-key", NULL, 9, NULL, "trusted-keys", NULL, NULL, "--config",
        "@DIR@/bad-key.conf", "status"),
  CASE ("config-after-command", NULL, 0, "^no stored license\n$", NULL, NULL, NULL, "status",
        "--config", "@DIR@/tessera.conf"),

  /* keys forget */
  CASE ("keys-forget", NULL, 0, "^forgot 0 credentials\n$", NULL, NULL, NULL, C ("keys", "forget")),
  CASE ("keys-forget-json", NULL, 0, "forgotten", NULL, NULL, check_json_forget,
        C ("keys", "forget", "--json")),
  CASE ("keys-forget-unknown", NULL, 2, NULL, "provider 'nosuch' is not configured", NULL, NULL,
        C ("keys", "forget", "--provider", "nosuch")),
  CASE ("keys-alone", NULL, 1, NULL, "'keys' needs a subcommand: 'keys forget'", NULL, NULL,
        C ("keys")),

  /* run: what a table can say */
  CASE ("run-passes-status", NULL, 3, "^KRE offline\n$", NULL, prep_installed, NULL,
        C ("run", "--product", "KRE", "--", "sh", "-c",
           "echo \"$TESSERA_RUN_PRODUCT $TESSERA_RUN_PROVIDER\"; exit 3")),
  CASE ("run-json", NULL, 0, "^\\{\"license\":\\{.*\"exit_code\":0,\"signal\":null\\}\n$", NULL,
        prep_installed, NULL, C ("--json", "run", "--product", "KRE", "--", "true")),
  CASE ("run-signal-status", NULL, 137, NULL, NULL, prep_installed, NULL,
        C ("run", "--product", "KRE", "--", "sh", "-c", "kill -KILL $$")),
  CASE ("run-not-licensed", NULL, 2, NULL, "no offline KRE license file", NULL, check_not_ran,
        C ("run", "--product", "KRE", "--", "touch", "@DIR@/ran")),
  CASE ("run-not-runnable", NULL, 126, NULL,
        "cannot run @DIR@/tessera.conf: it is not an "
        "executable file",
        prep_installed, NULL, C ("run", "--product", "KRE", "--", "@DIR@/tessera.conf")),
  CASE ("run-not-found-json", NULL, 127, "\"command-not-found\".*\"exit_code\":127",
        "cannot run no-such-command-here: command not found", prep_installed, NULL,
        C ("--json", "run", "--product", "KRE", "--", "no-such-command-here")),
  CASE ("run-not-found", NULL, 127, NULL, "cannot run /nonexistent/cmd", prep_installed, NULL,
        C ("run", "--product", "KRE", "--", "/nonexistent/cmd")),
  CASE ("run-options-after-dash", NULL, 0, "^--json\n$", NULL, prep_installed, NULL,
        C ("run", "--product", "KRE", "--", "sh", "-c", "echo $1", "sh", "--json")),
};

static void
assert_one_line (const char *err, const char *pattern)
{
  if (pattern == NULL)
    {
      g_assert_cmpstr (err, ==, "");
      return;
    }
  g_assert_true (g_str_has_prefix (err, "tessera"));
  g_assert_true (g_str_has_suffix (err, "\n"));
  if (strchr (err, '\n') != err + strlen (err) - 1)
    g_error ("stderr is more than one line:\n%s", err);
  assert_matches ("stderr", pattern, err);
}

static void
run_case (gconstpointer data)
{
  const CliCase *c = data;
  Fixture f = { 0 };
  fixture_set_up (&f);
  if (c->prepare)
    c->prepare (&f);
  g_auto (GStrv) env = c->env ? g_strsplit (c->env, "=", 2) : NULL;
  if (env != NULL)
    g_setenv (env[0], env[1], TRUE);
  g_autofree char *out = NULL, *err = NULL;
  int rc = run_cli (&f, c->args, &out, &err);
  if (env != NULL)
    g_unsetenv (env[0]);
  g_test_message ("exit %d\nstdout: %s\nstderr: %s", rc, out, err);
  g_assert_cmpint (rc, ==, c->exit_code);
  if (c->stdout_re == NULL)
    g_assert_cmpstr (out, ==, "");
  else
    {
      g_autofree char *re = expand (&f, c->stdout_re);
      assert_matches ("stdout", re, out);
    }
  g_autofree char *err_re = c->stderr_re ? expand (&f, c->stderr_re) : NULL;
  assert_one_line (err, err_re);
  if (c->check)
    c->check (&f, out);
  fixture_tear_down (&f);
}

/* Every command has --help, on stdout, exit 0, listing its options and the
 * exit codes; also as "tessera --help COMMAND". */
static void
test_help_each (void)
{
  static const char *const commands[][2] = {
    { "machine-id", NULL },          { "activate", "--product" },   { "status", "--warn-days" },
    { "validate", "--stored-only" }, { "release", "--product" },    { "providers", NULL },
    { "keys forget", "--provider" }, { "offline install", "FILE" }, { "run", "--check-interval" }
  };
  Fixture f = { 0 };
  fixture_set_up (&f);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    for (guint before = 0; before < 2; before++)
      {
        g_auto (GStrv) words = g_strsplit (commands[i][0], " ", -1);
        g_autoptr (GPtrArray) args = g_ptr_array_new ();
        if (before)
          g_ptr_array_add (args, "--help");
        for (guint j = 0; words[j]; j++)
          g_ptr_array_add (args, words[j]);
        if (!before)
          g_ptr_array_add (args, "--help");
        g_ptr_array_add (args, NULL);
        g_autofree char *out = NULL, *err = NULL;
        int rc = run_cli (&f, (const char *const *) args->pdata, &out, &err);
        g_assert_cmpint (rc, ==, 0);
        g_assert_cmpstr (err, ==, "");
        g_autofree char *usage = g_strdup_printf ("tessera %s [OPTION", commands[i][0]);
        g_assert_nonnull (strstr (out, usage));
        g_assert_nonnull (strstr (out, "Exit status:"));
        g_assert_nonnull (strstr (out, "--json"));
        if (commands[i][1] != NULL)
          g_assert_nonnull (strstr (out, commands[i][1]));
      }
  fixture_tear_down (&f);
}

/* ---- run: sessions and signals ---- */

/* The argv to spawn tessera with @args (placeholders expanded), under
 * valgrind when the test is. */
static GPtrArray *
cli_argv (Fixture *f, const char *const *args)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  if (g_getenv ("TESSERA_TEST_UNDER_VALGRIND") != NULL)
    {
      const char *srcdir = g_getenv ("TESSERA_TEST_SRCDIR");
      g_ptr_array_add (argv, g_strdup ("valgrind"));
      g_ptr_array_add (argv, g_strdup ("--quiet"));
      g_ptr_array_add (argv, g_strdup ("--leak-check=full"));
      g_ptr_array_add (argv, g_strdup ("--errors-for-leak-kinds=definite"));
      /* GLib's worker and pool threads still run at exit: "possibly
       * lost", and not an error, but printed, which would break the
       * one-line stderr every case checks. */
      g_ptr_array_add (argv, g_strdup ("--show-possibly-lost=no"));
      g_ptr_array_add (argv, g_strdup ("--error-exitcode=99"));
      g_ptr_array_add (argv, g_strdup ("--suppressions=/usr/share/glib-2.0/valgrind/glib.supp"));
      g_ptr_array_add (argv, g_strdup_printf ("--suppressions=%s/tests/valgrind.supp", srcdir));
    }
  g_ptr_array_add (argv, g_strdup (cli_path ()));
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, expand (f, args[i]));
  g_ptr_array_add (argv, NULL);
  return argv;
}

static GSubprocess *
spawn_cli (Fixture *f, const char *const *args)
{
  g_autoptr (GPtrArray) argv = cli_argv (f, args);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_cwd (l, f->dir);
  GSubprocess *p = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  return p;
}

/* Waits (up to a minute: valgrind is slow) until @path exists; returns the
 * pid written in it. */
static GPid
wait_for_pid (const char *path)
{
  for (int i = 0; i < 6000; i++)
    {
      g_autofree char *text = NULL;
      if (g_file_get_contents (path, &text, NULL, NULL) && strchr (text, '\n') != NULL)
        return (GPid) g_ascii_strtoll (text, NULL, 10);
      g_usleep (10000);
    }
  g_error ("%s never appeared", path);
}

static int
wait_exit (GSubprocess *p, char **err)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) err_bytes = NULL;
  g_subprocess_communicate (p, NULL, NULL, NULL, &err_bytes, &error);
  g_assert_no_error (error);
  gsize len = 0;
  const char *data = g_bytes_get_data (err_bytes, &len);
  *err = len ? g_strndup (data, len) : g_strdup ("");
  strip_valgrind_lines (err);
  g_assert_true (g_subprocess_get_if_exited (p));
  return g_subprocess_get_exit_status (p);
}

static gboolean
process_gone (GPid pid)
{
  for (int i = 0; i < 500; i++)
    {
      if (kill (pid, 0) != 0 && errno == ESRCH)
        return TRUE;
      g_usleep (10000);
    }
  return FALSE;
}

/* The one offline seat is held while the command runs (a second run is
 * refused with exit 4), and free once it is killed: tessera exits 137 and
 * a second run takes the seat. */
static void
test_run_child_killed (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  prep_installed (&f);
  const char *holder[] = { C ("run", "--product", "KRE", "--", "sh", "-c",
                              "echo $$ > @DIR@/pid.tmp && mv @DIR@/pid.tmp @DIR@/pid; "
                              "exec sleep 600",
                              NULL) };
  g_autoptr (GSubprocess) p = spawn_cli (&f, holder);
  g_autofree char *pid_path = fixture_file (&f, "pid");
  GPid child = wait_for_pid (pid_path);

  const char *second[] = { C ("run", "--product", "KRE", "--", "true", NULL) };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&f, second, &out, &err), ==, 4);
  assert_one_line (err, "in use");

  g_assert_cmpint (kill (child, SIGKILL), ==, 0);
  g_autofree char *holder_err = NULL;
  g_assert_cmpint (wait_exit (p, &holder_err), ==, 137);
  g_assert_cmpstr (holder_err, ==, "");

  g_clear_pointer (&err, g_free);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&f, second, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  fixture_tear_down (&f);
}

/* SIGTERM to tessera: forwarded to the command, which ends; tessera
 * releases and exits 143 (the command's status); the seat is free. The
 * same for SIGINT (130). */
static void
test_run_terminated (void)
{
  const int signals[] = { SIGTERM, SIGINT };
  for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
    {
      Fixture f = { 0 };
      fixture_set_up (&f);
      prep_installed (&f);
      const char *holder[] = { C ("run", "--product", "KRE", "--", "sh", "-c",
                                  "echo $$ > @DIR@/pid.tmp && mv @DIR@/pid.tmp @DIR@/pid; "
                                  "exec sleep 600",
                                  NULL) };
      g_autoptr (GSubprocess) p = spawn_cli (&f, holder);
      g_autofree char *pid_path = fixture_file (&f, "pid");
      GPid child = wait_for_pid (pid_path);
      g_subprocess_send_signal (p, signals[i]);
      g_autofree char *err = NULL;
      g_assert_cmpint (wait_exit (p, &err), ==, 128 + signals[i]);
      g_assert_cmpstr (err, ==, "");
      g_assert_true (process_gone (child));

      const char *second[] = { C ("run", "--product", "KRE", "--", "true", NULL) };
      g_autofree char *out = NULL, *err2 = NULL;
      g_assert_cmpint (run_cli (&f, second, &out, &err2), ==, 0);
      fixture_tear_down (&f);
    }
}

static JsonObject *
read_counters (Fixture *f)
{
  g_autofree char *path = fixture_file (f, "counters.json");
  g_autofree char *text = read_text (path);
  return parse_object (text);
}

/* With the mock: the command killed, tessera released its session (the
 * provider's counters say so). */
static void
test_run_mock_released (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  g_autofree char *scenario = fixture_file (&f, "counting.json");
  write_text (scenario, "{\"counters\": \"counters.json\"}");
  g_autofree char *conf = fixture_file (&f, "counting.conf");
  write_text (conf, "[engine]\nproviders=mock\n[provider:mock]\nscenario=counting.json\n");
  const char *args[] = { "--config", "@DIR@/counting.conf", "run", "--product", "KRE", "--", "sh",
                         "-c",       "kill -KILL $$",       NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&f, args, &out, &err), ==, 137);
  g_autoptr (JsonObject) counters = read_counters (&f);
  g_assert_cmpint (json_object_get_int_member (counters, "activate"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (counters, "release"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (counters, "held"), ==, 0);
  fixture_tear_down (&f);
}

/* The license revoked while the command runs: tessera says so on stderr,
 * stops the command and exits with the license error's code (2), not the
 * command's; the session is released. */
static void
test_run_revoked (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  g_autofree char *scenario = fixture_file (&f, "revoked.json");
  write_text (scenario, "{\"counters\": \"counters.json\", \"ops\": {\"validate\": "
                        "{\"error\": \"revoked\", \"message\": \"revoked by the admin\"}}}");
  g_autofree char *conf = fixture_file (&f, "revoked.conf");
  write_text (conf, "[engine]\nproviders=mock\n[provider:mock]\nscenario=revoked.json\n");
  const char *args[] = { "--config",
                         "@DIR@/revoked.conf",
                         "--json",
                         "run",
                         "--product",
                         "KRE",
                         "--check-interval",
                         "1",
                         "--",
                         "sleep",
                         "600",
                         NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&f, args, &out, &err), ==, 2);
  assert_one_line (err, "^tessera run: the KRE license is no longer valid \\(.*revoked by the "
                        "admin\\): stopping the command\n$");
  g_autoptr (JsonObject) o = parse_object (out);
  g_assert_cmpint (json_object_get_int_member (o, "signal"), ==, SIGTERM);
  JsonObject *e = json_object_get_object_member (o, "error");
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, "revoked");
  g_autoptr (JsonObject) counters = read_counters (&f);
  g_assert_cmpint (json_object_get_int_member (counters, "held"), ==, 0);
  fixture_tear_down (&f);
}

/* SIGINT while a slow activation runs: cancelled, exit 130, the error in
 * JSON too ("cancelled"), nothing left held. */
static void
test_activate_interrupted (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  g_autofree char *scenario = fixture_file (&f, "slow.json");
  write_text (scenario, "{\"counters\": \"counters.json\", \"ops\": {\"activate\": "
                        "{\"delay_ms\": 60000}}}");
  g_autofree char *conf = fixture_file (&f, "slow.conf");
  write_text (conf, "[engine]\nproviders=mock\n[provider:mock]\nscenario=slow.json\n");
  const char *args[]
      = { "--config", "@DIR@/slow.conf", "--json", "activate", "--product", "KRE", NULL };
  g_autoptr (GPtrArray) argv = cli_argv (&f, args);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) l
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_cwd (l, f.dir);
  g_autoptr (GSubprocess) p
      = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  /* The provider exists once its counters are written; the activation
   * (and its signal handling) starts right after. */
  g_autofree char *counters = fixture_file (&f, "counters.json");
  for (int i = 0; i < 6000 && !g_file_test (counters, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_usleep (g_getenv ("TESSERA_TEST_UNDER_VALGRIND") ? 3 * G_USEC_PER_SEC : G_USEC_PER_SEC);
  gint64 start = g_get_monotonic_time ();
  g_subprocess_send_signal (p, SIGINT);
  g_autofree char *out = NULL, *err = NULL;
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  strip_valgrind_lines (&err);
  g_assert_true (g_subprocess_get_if_exited (p));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 130);
  /* At once, not after the 60 s delay. */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 30 * G_USEC_PER_SEC);
  assert_one_line (err, "^tessera activate: ");
  check_json_error (out, "cancelled", 130);
  g_autoptr (JsonObject) c = read_counters (&f);
  g_assert_cmpint (json_object_get_int_member (c, "held"), ==, 0);
  fixture_tear_down (&f);
}

/* The progress indicator: drawn on a terminal while a call takes time
 * (script(1) gives tessera one), never on a pipe. */
static void
test_activate_spinner (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  g_autofree char *scenario = fixture_file (&f, "slow.json");
  write_text (scenario, "{\"ops\": {\"activate\": {\"delay_ms\": 1500}}}");
  g_autofree char *conf = fixture_file (&f, "slow.conf");
  write_text (conf, "[engine]\nproviders=mock\n[provider:mock]\nscenario=slow.json\n");
  const char *args[] = { "--config", "@DIR@/slow.conf", "activate", "--product", "KRE", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&f, args, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");

  g_autofree char *script = g_find_program_in_path ("script");
  if (script == NULL)
    {
      g_test_skip ("script(1) is not installed: no terminal to test the spinner on");
      fixture_tear_down (&f);
      return;
    }
  g_autoptr (GPtrArray) argv = cli_argv (&f, args);
  g_autoptr (GString) command = g_string_new (NULL);
  for (guint i = 0; argv->pdata[i] != NULL; i++)
    {
      g_autofree char *quoted = g_shell_quote (argv->pdata[i]);
      g_string_append_printf (command, "%s%s", i ? " " : "", quoted);
    }
  const char *script_argv[] = { script, "-qec", command->str, "/dev/null", NULL };
  g_autofree char *tty_out = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (f.dir, (char **) script_argv, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                &tty_out, NULL, &status, &error);
  g_assert_no_error (error);
  g_test_message ("on a terminal: %s", tty_out);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (tty_out, "activating KRE..."));
  /* Erased before the answer is printed. */
  g_assert_nonnull (strstr (tty_out, "\r\033[K"));
  g_assert_nonnull (strstr (tty_out, "activated: KRE"));
  fixture_tear_down (&f);
}

/* An offline-only install: a plugin folder holding the offline plugin
 * alone (as -DTESSERA_PLUGINS=offline installs it). providers shows it
 * alone; install, status and run work; a config asking for the online
 * provider names it as missing. */
static void
test_offline_only (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  g_autofree char *plugins = fixture_file (&f, "plugins");
  g_assert_cmpint (g_mkdir (plugins, 0755), ==, 0);
  g_autofree char *src
      = g_build_filename (g_getenv ("TESSERA_PLUGIN_DIR"), "tessera-offline.so", NULL);
  g_autofree char *dst = g_build_filename (plugins, "tessera-offline.so", NULL);
  g_autoptr (GFile) from = g_file_new_for_path (src);
  g_autoptr (GFile) to = g_file_new_for_path (dst);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_copy (from, to, G_FILE_COPY_NONE, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (dst, 0755), ==, 0);
  g_autofree char *saved = g_strdup (g_getenv ("TESSERA_PLUGIN_DIR"));
  g_setenv ("TESSERA_PLUGIN_DIR", plugins, TRUE);

  const char *providers[] = { C ("providers", NULL) };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&f, providers, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  assert_matches ("stdout",
                  "^installed:\n  offline +Signed offline license files[^\n]*\n"
                  "activation tries, in order: offline\n$",
                  out);

  const char *install[] = { C ("offline", "install", "@FILES@/good.lic", NULL) };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, install, &out, &err), ==, 0);
  const char *run[] = { C ("run", "--product", "KRE", "--", "sh", "-c", "exit 5", NULL) };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, run, &out, &err), ==, 5);
  g_assert_cmpstr (err, ==, "");

  g_autofree char *online = fixture_file (&f, "online-first.conf");
  g_autofree char *conf = fixture_file (&f, "tessera.conf");
  g_autofree char *text = read_text (conf);
  g_autofree char *with_online
      = g_strjoin ("", "[engine]\nproviders=testops;offline\n", strstr (text, "products="), NULL);
  write_text (online, with_online);
  const char *status[] = { "--config", "@DIR@/online-first.conf", "status", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, status, &out, &err), ==, 2);
  assert_one_line (err, "provider 'testops' is not installed in .*/plugins \\(installed: "
                        "offline\\)");

  g_setenv ("TESSERA_PLUGIN_DIR", saved, TRUE);
  fixture_tear_down (&f);
}

/* ---- run with the online provider (the real tessera-server) ---- */

#ifdef TESSERA_TEST_ONLINE
/* A server with one floating KRE seat (org acme) and a member's API key,
 * and @f's online.conf pointing testops at it (no keyring: env-only),
 * trusting the key the server signs its answers with (its key folder). */
typedef struct
{
  char *db, *keys, *log, *url, *owner_id, *api_key, *pool;
  GSubprocess *proc;
} Online;

static void
online_set_up (Online *o, Fixture *f)
{
  o->db = fixture_file (f, "tessera.db");
  o->keys = fixture_file (f, "server-keys");
  o->log = fixture_file (f, "server.log");
  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (o->db, &error);
  g_assert_no_error (error);
  o->owner_id = ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", now, &error);
  g_assert_no_error (error);
  g_autofree char *member
      = ts_store_set_member (store, NULL, "acme", "member@acme.test", TS_ROLE_MEMBER, now, &error);
  g_assert_no_error (error);
  g_autofree char *key_id = NULL;
  o->api_key = ts_store_create_api_key (store, member, "cli", now, &key_id, &error);
  g_assert_no_error (error);
  o->pool = server_util_create_pool (store, "floating", 1, now);
  ts_store_close (store);
  o->proc = server_util_spawn (o->db, o->keys, o->log, NULL, TRUE, &o->url);

  g_autofree char *conf = fixture_file (f, "online.conf");
  g_autofree char *text
      = g_strdup_printf ("[engine]\nproviders=testops\nproducts=KRE\n[provider:testops]\n"
                         "server=%s\nallow-http=true\nkey-storage=env-only\nstate-dir=state\n"
                         "server-key=%s\n",
                         o->url, o->keys);
  write_text (conf, text);
}

static void
online_tear_down (Online *o)
{
  server_util_terminate (o->proc);
  g_object_unref (o->proc);
  g_free (o->db);
  g_free (o->keys);
  g_free (o->log);
  g_free (o->url);
  g_free (o->owner_id);
  g_free (o->api_key);
  g_free (o->pool);
}

static guint
online_sessions (Online *o)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (o->db, &error);
  g_assert_no_error (error);
  GPtrArray *list = ts_store_list_sessions (store, o->owner_id, "acme", o->pool, now_s (), &error);
  g_assert_no_error (error);
  guint n = list->len;
  g_ptr_array_unref (list);
  ts_store_close (store);
  return n;
}

/* The one online seat is a server session while the command runs (a
 * second run is refused, 4), and the server has none left once the command
 * is killed (137) or tessera gets SIGTERM (143): a new run takes the seat. */
static void
test_online_run (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  Online o = { 0 };
  online_set_up (&o, &f);
  for (int round = 0; round < 2; round++)
    {
      g_autofree char *pid_path = fixture_file (&f, "pid");
      g_unlink (pid_path);
      const char *holder[] = { "--config",
                               "@DIR@/online.conf",
                               "run",
                               "--product",
                               "KRE",
                               "--api-key",
                               o.api_key,
                               "--",
                               "sh",
                               "-c",
                               "echo $$ > @DIR@/pid.tmp && mv @DIR@/pid.tmp @DIR@/pid; "
                               "exec sleep 600",
                               NULL };
      g_autoptr (GSubprocess) p = spawn_cli (&f, holder);
      GPid child = wait_for_pid (pid_path);
      g_assert_cmpuint (online_sessions (&o), ==, 1);

      const char *second[] = { "--config", "@DIR@/online.conf",
                               "run",      "--product",
                               "KRE",      "--api-key",
                               o.api_key,  "--wait",
                               "0",        "--",
                               "true",     NULL };
      g_autofree char *out = NULL, *err = NULL;
      g_assert_cmpint (run_cli (&f, second, &out, &err), ==, 4);
      assert_one_line (err, "^tessera run: ");

      if (round == 0)
        g_assert_cmpint (kill (child, SIGKILL), ==, 0);
      else
        g_subprocess_send_signal (p, SIGTERM);
      g_autofree char *holder_err = NULL;
      g_assert_cmpint (wait_exit (p, &holder_err), ==, round == 0 ? 137 : 143);
      g_assert_cmpstr (holder_err, ==, "");
      g_assert_true (process_gone (child));
      g_assert_cmpuint (online_sessions (&o), ==, 0);

      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      g_assert_cmpint (run_cli (&f, second, &out, &err), ==, 0);
      g_assert_cmpuint (online_sessions (&o), ==, 0);
    }
  online_tear_down (&o);
  fixture_tear_down (&f);
}

/* activate keeps an online session after tessera exits (persist); status
 * lists it, validate finds it, release ends it on the server. */
static void
test_online_activate_release (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  Online o = { 0 };
  online_set_up (&o, &f);
  const char *activate[] = { "--config", "@DIR@/online.conf", "--json",  "activate", "--product",
                             "KRE",      "--api-key",         o.api_key, NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&f, activate, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_autoptr (JsonObject) a = parse_object (out);
  g_assert_true (json_object_get_boolean_member (a, "kept"));
  g_assert_cmpuint (online_sessions (&o), ==, 1);

  /* Without the key (env-only storage keeps none), the kept session is
   * listed but cannot be checked, and status says why. */
  const char *status[] = { "--config", "@DIR@/online.conf", "status", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, status, &out, &err), ==, 0);
  assert_matches ("stdout", "^unusable: KRE floating license .* from testops(.|\n)*no API key",
                  out);
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, status, &out, &err), ==, 0);
  assert_matches ("stdout", "^usable: KRE floating license .* from testops", out);

  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", "--stored-only", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, validate, &out, &err), ==, 0);

  const char *release[] = { "--config", "@DIR@/online.conf", "release", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, release, &out, &err), ==, 0);
  assert_matches ("stdout", "^released: KRE floating license", out);
  g_assert_cmpuint (online_sessions (&o), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, release, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "nothing to release\n");
  g_unsetenv ("TESSERA_API_KEY");
  online_tear_down (&o);
  fixture_tear_down (&f);
}
#endif

/* ---- the README ---- */

/* The README's "Command line" walk-through, pasted as a user would, in a
 * scratch HOME, against this build tree. */
static void
test_readme (void)
{
  const char *src = g_getenv ("TESSERA_TEST_SRCDIR");
  const char *build = g_getenv ("TESSERA_TEST_BUILDDIR");
  g_assert_nonnull (src);
  g_assert_nonnull (build);
  g_autofree char *readme_path = g_build_filename (src, "README.md", NULL);
  g_autofree char *readme = read_text (readme_path);
  const char *section = strstr (readme, "\n## Command line");
  g_assert_nonnull (section);
  const char *start = strstr (section, "\n```sh\n");
  g_assert_nonnull (start);
  start += strlen ("\n```sh\n");
  const char *end = strstr (start, "\n```\n");
  g_assert_nonnull (end);
  g_autoptr (GString) script = g_string_new_len (start, end - start + 1);
  g_autofree char *build_slash = g_strconcat (build, "/", NULL);
  /* Through a placeholder: the build path itself ends in "build/". */
  g_string_replace (script, "$PWD/build/", "\001", 0);
  g_string_replace (script, "build/", "\001", 0);
  g_string_replace (script, "\001", build_slash, 0);

  Fixture f = { 0 };
  fixture_set_up (&f);
  g_autofree char *home = fixture_file (&f, "home");
  g_assert_cmpint (g_mkdir (home, 0700), ==, 0);
  g_autofree char *script_path = fixture_file (&f, "walk.sh");
  write_text (script_path, script->str);
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "HOME", home, TRUE);
  env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
  env = g_environ_unsetenv (env, "TESSERA_CONFIG");
  env = g_environ_unsetenv (env, "XDG_STATE_HOME");
  env = g_environ_unsetenv (env, "XDG_CONFIG_HOME");
  const char *argv[] = { "sh", script_path, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (src, (char **) argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  g_test_message ("stdout:\n%s\nstderr:\n%s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_autofree char *mid_re = g_strdup_printf ("^%s$", this_mid);
  assert_matches ("stdout", mid_re, out);
  assert_matches ("stdout", "^installed: KRE node-locked license .* as .*/KRE_.*\\.lic$", out);
  assert_matches ("stdout", "^usable: KRE node-locked license .* \\((59|60) days left\\)", out);
  assert_matches ("stdout", "^running under ", out);
  assert_matches ("stdout", "^exit status 3$", out);
  fixture_tear_down (&f);
}

/* ---- the man page ---- */

/* docs/tessera.1 renders without a single groff warning. */
static void
test_man_page (void)
{
  g_autofree char *groff = g_find_program_in_path ("groff");
  if (groff == NULL)
    {
      g_test_skip ("groff is not installed");
      return;
    }
  g_autofree char *page
      = g_build_filename (g_getenv ("TESSERA_TEST_SRCDIR"), "docs", "tessera.1", NULL);
  const char *argv[] = { groff, "-man", "-Tutf8", "-ww", page, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (err, ==, "");
  g_assert_nonnull (strstr (out, "licenses of Tessera products on this machine"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  files_set_up ();
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli/case/%s", cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &cases[i], run_case, NULL);
    }
  g_test_add_func ("/cli/help/each-command", test_help_each);
  g_test_add_func ("/cli/run/child-killed", test_run_child_killed);
  g_test_add_func ("/cli/run/terminated", test_run_terminated);
  g_test_add_func ("/cli/run/mock-released", test_run_mock_released);
  g_test_add_func ("/cli/run/revoked", test_run_revoked);
  g_test_add_func ("/cli/activate/interrupted", test_activate_interrupted);
  g_test_add_func ("/cli/activate/spinner", test_activate_spinner);
  g_test_add_func ("/cli/offline-only", test_offline_only);
#ifdef TESSERA_TEST_ONLINE
  g_test_add_func ("/cli/online/run", test_online_run);
  g_test_add_func ("/cli/online/activate-release", test_online_activate_release);
#endif
  g_test_add_func ("/cli/readme", test_readme);
  g_test_add_func ("/cli/man-page", test_man_page);
  int rc = g_test_run ();
  test_rm_rf (files_dir);
  g_free (files_dir);
  g_free (this_mid);
  return rc;
}
