/* Helpers shared by the tests of tessera, the user's tool (tools/tessera*.c):
 * test-cli (the table of cases, --help, the README and the man page) and
 * test-cli-process (`tessera run` and activate as processes: seats,
 * signals, revocation, the online provider). Each case gets a folder of its
 * own (Fixture) with the offline config and mock configs scripting each
 * error family; the issuer's keys and license files are made once per
 * program (cli_files_set_up) with the real tessera-license
 * ($TESSERA_LICENSE_TOOL); $TESSERA_CLI_TOOL is the tool under test. Under
 * valgrind ($TESSERA_TEST_UNDER_VALGRIND) every tessera runs under valgrind. */
#pragma once

#include "test-util.h"
#include "tool-util.h"

#include <json-glib/json-glib.h>

#define OTHER_MID "AAAA-BBBB-CCCC-DDDD"

/* Made once: the issuer's keys and license files (tessera-license). */
static char *files_dir;
static char *this_mid;

typedef struct
{
  char *dir; /* @DIR@: the case's configs, license folder @LIC@, state */
} Fixture;

/* The global --config option with the case's offline config, then @...: a
 * command line's arguments. */
#define C(...) "--config", "@DIR@/tessera.conf", __VA_ARGS__

static inline const char *
cli_path (void)
{
  const char *tool = g_getenv ("TESSERA_CLI_TOOL");
  g_assert_nonnull (tool);
  return tool;
}

static inline char *
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

/* Under valgrind: drops valgrind's own "--PID-- " lines (it warns about
 * pidfd_open, which GLib's child watch tries first and does without), so
 * stderr checks see what tessera printed. */
static inline void
strip_valgrind_lines (char **err)
{
  if (g_getenv ("TESSERA_TEST_UNDER_VALGRIND") == NULL || *err == NULL)
    return;
  g_autoptr (GRegex) re = g_regex_new ("^--[0-9]+-- .*\n", G_REGEX_MULTILINE, 0, NULL);
  char *clean = g_regex_replace_literal (re, *err, -1, 0, "", 0, NULL);
  g_free (*err);
  *err = clean;
}

/* The argv to spawn tessera with @args (placeholders expanded), under
 * valgrind when the test is. */
static inline GPtrArray *
cli_argv (Fixture *f, const char *const *args)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  tool_util_add_valgrind (argv, NULL);
  g_ptr_array_add (argv, g_strdup (cli_path ()));
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, expand (f, args[i]));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* Runs tessera with @args (placeholders expanded) in the case's folder,
 * with the environment @env; under valgrind when the test is. Returns its
 * exit code (-1 if it did not exit normally). */
static inline int
run_cli_env (Fixture *f, const char *const *args, char **env, char **out, char **err)
{
  g_autoptr (GPtrArray) argv = cli_argv (f, args);
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (f->dir, (char **) argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err,
                &status, &error);
  g_assert_no_error (error);
  strip_valgrind_lines (err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* run_cli_env() in this test's environment with LC_ALL=C. */
static inline int
run_cli (Fixture *f, const char *const *args, char **out, char **err)
{
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "LC_ALL", "C", TRUE);
  return run_cli_env (f, args, env, out, err);
}

/* tessera-license with @args; asserts it succeeds; returns its stdout. */
static inline char *
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

static inline char *
days_from_now (int days)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GDateTime) then = g_date_time_add_days (now, days);
  return g_date_time_format (then, "%Y-%m-%d");
}

/* Issues @output in files_dir: @product for @mid, valid from @from_days
 * (relative to today) for the default 60 days, signed with @key. */
/* @license_id: NULL for a random one. */
static inline void
issue_with_id (const char *output, const char *key, const char *product, const char *mid,
               int from_days, const char *license_id)
{
  g_autofree char *path = g_build_filename (files_dir, output, NULL);
  g_autofree char *key_path = g_build_filename (files_dir, key, NULL);
  g_autofree char *issued = days_from_now (from_days);
  g_autofree char *end = days_from_now (365);
  const char *args[] = { "issue",       "--key",
                         key_path,      "--machine-id",
                         mid,           "--product",
                         product,       "--org",
                         "example-org", "--entitlement",
                         "reports",     "--issued-at",
                         issued,        "--subscription-end",
                         end,           "--output",
                         path,          NULL,
                         NULL,          NULL };
  if (license_id != NULL)
    {
      args[G_N_ELEMENTS (args) - 3] = "--license-id";
      args[G_N_ELEMENTS (args) - 2] = license_id;
    }
  g_autofree char *out = license_tool (args);
}

static inline void
issue (const char *output, const char *key, const char *product, const char *mid, int from_days)
{
  issue_with_id (output, key, product, mid, from_days, NULL);
}

/* Returns: (transfer full): the contents of @path. Never inlined: GCC 12
 * at -O2 then takes the returned text for a pointer to the local variable
 * it was read through (-Wdangling-pointer, a false positive). */
G_GNUC_UNUSED static G_GNUC_NO_INLINE char *
read_text (const char *path)
{
  char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static inline void
write_text (const char *path, const char *text)
{
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static inline void
cli_files_set_up (void)
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

  issue_with_id ("good.lic", "issuer.sec", "KRE", this_mid, -1, "lic-good");
  issue ("newer.lic", "issuer.sec", "KRE", this_mid, 0);
  issue ("third.lic", "issuer.sec", "KRE", this_mid, -2);
  /* good.lic reissued a day later: the same license, a later end. */
  issue_with_id ("renewed.lic", "issuer.sec", "KRE", this_mid, 0, "lic-good");
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

static inline char *
fixture_file (Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

/* The offline config, and mock configs scripting each error family. */
static inline void
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

static inline void
fixture_tear_down (Fixture *f)
{
  test_rm_rf (f->dir);
  g_free (f->dir);
}

/* Copies an issued file into the case's license folder under its name. */
static inline void
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

static inline void
prep_installed (Fixture *f)
{
  install_as (f, "good.lic", "KRE", "");
}

static inline JsonObject *
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

/* @out is a JSON error: @code, @exit_code and a message. */
static inline void
check_json_error (const char *out, const char *code, int exit_code)
{
  g_autoptr (JsonObject) o = parse_object (out);
  JsonObject *e = json_object_get_object_member (o, "error");
  g_assert_nonnull (e);
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, code);
  g_assert_cmpint (json_object_get_int_member (e, "exit_code"), ==, exit_code);
  g_assert_nonnull (json_object_get_string_member (e, "message"));
}

/* @pattern NULL: @err must be empty. Otherwise @err is exactly one line,
 * starts with "tessera" and matches @pattern. */
static inline void
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

/* Frees what cli_files_set_up made. */
static inline void
cli_files_tear_down (void)
{
  test_rm_rf (files_dir);
  g_free (files_dir);
  g_free (this_mid);
}
