/* tessera (tools/tessera*.c, docs/man/tessera.1.in) as a user runs it: every
 * subcommand, every exit code of its table, every error case, each one a
 * separate process. A case is one row of the table below: arguments, exit
 * code, what stdout and stderr must say (stderr: exactly one line on error,
 * nothing on success), and extra checks (JSON parsed with json-glib). Then
 * every command's --help, the README's command-line walk-through, pasted as
 * a user would, and the man page. What a table cannot say (`tessera run`
 * holding a seat, signals, revocation, the online provider) is in
 * test-cli-process.c; the fixture is tests/cli-util.h. */
#include "cli-util.h"

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

/* License files whose names a hostile user chose: bytes that are not UTF-8,
 * and a terminal escape (ESC [31m turns the terminal red; others rewrite
 * lines or the window title). */
static void
prep_hostile_names (Fixture *f)
{
  install_as (f, "good.lic", "KRE", "\xff\xfe");
  install_as (f, "good.lic", "KRE", "\x1b[31m");
}

/* ---- checks ---- */

/* Text output: no ESC byte, valid UTF-8, both names shown escaped. */
static void
check_hostile_text (Fixture *f, const char *out)
{
  g_assert_null (strchr (out, '\x1b'));
  g_assert_true (g_utf8_validate (out, -1, NULL));
  g_assert_nonnull (strstr (out, "KRE_"));
  g_assert_nonnull (strstr (out, "\\x1b[31m.lic"));
  g_assert_nonnull (strstr (out, "\\xff\\xfe.lic"));
}

/* JSON output parses (json-glib refuses invalid UTF-8) and says the same. */
static void
check_hostile_json (Fixture *f, const char *out)
{
  g_assert_true (g_utf8_validate (out, -1, NULL));
  g_autoptr (JsonObject) o = parse_object (out);
  JsonArray *a = json_object_get_array_member (o, "licenses");
  g_assert_cmpuint (json_array_get_length (a), ==, 2);
  gboolean seen_esc = FALSE, seen_bytes = FALSE;
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *l = json_array_get_object_element (a, i);
      JsonObject *attrs = json_object_get_object_member (l, "attributes");
      const char *file = json_object_get_string_member (attrs, "offline.file");
      g_assert_null (strchr (file, '\x1b'));
      seen_esc |= g_str_has_suffix (file, "\\x1b[31m.lic");
      seen_bytes |= g_str_has_suffix (file, "\\xff\\xfe.lic");
      g_assert_null (strchr (json_object_get_string_member (l, "id"), '\x1b'));
      if (json_object_has_member (l, "error"))
        {
          JsonObject *e = json_object_get_object_member (l, "error");
          g_assert_null (strchr (json_object_get_string_member (e, "message"), '\x1b'));
        }
    }
  g_assert_true (seen_esc);
  g_assert_true (seen_bytes);
}

static void
check_json_machine_id (Fixture *f, const char *out)
{
  g_autoptr (JsonObject) o = parse_object (out);
  g_assert_cmpstr (json_object_get_string_member (o, "machine_id"), ==, this_mid);
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

/* @LIC@/@name holds exactly the issued file @issued. */
static void
assert_holds (Fixture *f, const char *name, const char *issued)
{
  g_autofree char *path = g_build_filename (f->dir, "license", name, NULL);
  g_autofree char *src = g_build_filename (files_dir, issued, NULL);
  g_autofree char *a = read_text (path);
  g_autofree char *b = read_text (src);
  g_assert_cmpstr (a, ==, b);
}

/* good.lic as KRE_<mid>.lic, and nothing else (no temporary file). */
static void
check_good_only (Fixture *f, const char *out)
{
  g_autofree char *name = g_strdup_printf ("KRE_%s.lic", this_mid);
  assert_holds (f, name, "good.lic");
  g_autofree char *lic = fixture_file (f, "license");
  g_assert_cmpuint (count_entries (lic), ==, 1);
}

/* newer.lic stays; good.lic (another license) is the second file. */
static void
check_second_file (Fixture *f, const char *out)
{
  g_autofree char *first = g_strdup_printf ("KRE_%s.lic", this_mid);
  g_autofree char *second = g_strdup_printf ("KRE_%s.1.lic", this_mid);
  assert_holds (f, first, "newer.lic");
  assert_holds (f, second, "good.lic");
  g_autofree char *lic = fixture_file (f, "license");
  g_assert_cmpuint (count_entries (lic), ==, 2);
}

/* renewed.lic replaced good.lic (the same license) in place. */
static void
check_replaced (Fixture *f, const char *out)
{
  g_autofree char *name = g_strdup_printf ("KRE_%s.lic", this_mid);
  assert_holds (f, name, "renewed.lic");
  g_autofree char *lic = fixture_file (f, "license");
  g_assert_cmpuint (count_entries (lic), ==, 1);
}

static void
check_json_replaced (Fixture *f, const char *out)
{
  check_replaced (f, out);
  g_autoptr (JsonObject) o = parse_object (out);
  JsonObject *l = json_object_get_object_member (o, "installed");
  g_assert_cmpstr (json_object_get_string_member (l, "id"), ==, "lic-good");
}

static void
check_json_already (Fixture *f, const char *out)
{
  check_good_only (f, out);
  check_json_error (out, "invalid-argument", 11);
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
          /* 57 once midnight UTC has passed since the files were issued. */
          g_assert_cmpint (json_object_get_int_member (l, "days_left"), >=, 57);
          g_assert_cmpint (json_object_get_int_member (l, "days_left"), <=, 58);
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
  CASE ("unknown-global-option", NULL, 1, NULL,
        "unknown option '--frob' \\(see 'tessera --help'\\)", NULL, NULL, "--frob", "status"),
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

  /* offline install. The files are issued once, at start, from yesterday's
   * date: 58 days are left, or 57 once midnight UTC has passed since. */
  CASE ("install", NULL, 0,
        "^installed: KRE node-locked license .* from offline \\(org example-org\\), expires .* "
        "\\(5[78] "
        "days left\\), as @LIC@/KRE_@MID@.lic\n$",
        NULL, NULL, check_installed_file, C ("offline", "install", "@FILES@/good.lic")),
  CASE ("install-json", NULL, 0, "\"installed\"", NULL, NULL, check_json_installed,
        C ("--json", "offline", "install", "@FILES@/good.lic")),
  /* The same license again: refused, nothing written; a renewed file of it
   * only with --replace; another license is one more file. */
  CASE ("install-identical", NULL, 11, NULL,
        "good.lic: not installed: license lic-good is already installed as "
        "@LIC@/KRE_@MID@.lic \\(the same file\\); .*--replace",
        prep_installed, check_good_only, C ("offline", "install", "@FILES@/good.lic")),
  CASE ("install-identical-json", NULL, 11, "invalid-argument", "already installed", prep_installed,
        check_json_already, C ("--json", "offline", "install", "@FILES@/good.lic")),
  CASE ("install-renewed", NULL, 11, NULL,
        "renewed.lic: not installed: license lic-good is already installed as "
        "@LIC@/KRE_@MID@.lic \\(another file of the same license\\)",
        prep_installed, check_good_only, C ("offline", "install", "@FILES@/renewed.lic")),
  CASE ("install-replace", NULL, 0,
        "^installed: KRE node-locked license lic-good .*, as "
        "@LIC@/KRE_@MID@.lic\n$",
        NULL, prep_installed, check_replaced,
        C ("offline", "install", "--replace", "@FILES@/renewed.lic")),
  CASE ("install-replace-json", NULL, 0, "\"installed\"", NULL, prep_installed, check_json_replaced,
        C ("--json", "offline", "install", "@FILES@/renewed.lic", "--replace")),
  CASE ("install-replace-nothing", NULL, 0, "^installed: .* as @LIC@/KRE_@MID@.lic\n$", NULL, NULL,
        check_installed_file, C ("offline", "install", "--replace", "@FILES@/good.lic")),
  CASE ("install-second", NULL, 0, "as @LIC@/KRE_@MID@.1.lic\n$", NULL, prep_newer_installed,
        check_second_file, C ("offline", "install", "@FILES@/good.lic")),
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
  CASE ("install-missing-file", NULL, 10, NULL, "cannot read '.*nope.lic'", NULL, NULL,
        C ("offline", "install", "@DIR@/nope.lic")),
  CASE ("install-directory", NULL, 10, NULL, "it is a directory", NULL, NULL,
        C ("offline", "install", "@DIR@")),
  CASE ("install-not-configured", NULL, 9, NULL, "provider 'offline' is not configured", NULL, NULL,
        "--config", "@DIR@/mock.conf", "offline", "install", "@FILES@/good.lic"),
  CASE ("install-too-many", NULL, 1, NULL, "unexpected argument 'b'", NULL, NULL,
        C ("offline", "install", "a", "b")),

  /* status */
  CASE ("status-empty", NULL, 0, "^no stored license\n$", NULL, NULL, NULL, C ("status")),
  CASE ("status", NULL, 0,
        "^unusable: KRE node-locked license KRE_@MID@.2.lic from offline, file "
        "@LIC@/KRE_@MID@.2.lic\n  reason: .*modified or damaged.*\n"
        "unusable: KRE .*KRE_@MID@.3.lic\n  reason: .*expired.*\n"
        "usable: KRE .*\\(5[78] days left\\), file @LIC@/KRE_@MID@.lic\n"
        "usable: KSE .*\n$",
        NULL, prep_mixed, NULL, C ("status")),
  CASE ("status-json", NULL, 0, "licenses", NULL, prep_mixed, check_json_status,
        C ("--json", "status")),
  CASE ("status-hostile-names", NULL, 0, "file ", NULL, prep_hostile_names, check_hostile_text,
        C ("status")),
  CASE ("status-hostile-names-json", NULL, 0, "licenses", NULL, prep_hostile_names,
        check_hostile_json, C ("--json", "status")),
  CASE ("status-product", NULL, 0, "^usable: KSE [^\n]*\n$", NULL, prep_mixed, NULL,
        C ("status", "--product", "KSE")),
  CASE ("status-warning", NULL, 0,
        "^usable: KRE .*\n  warning: expires in [0-9]+ days: ask your administrator", NULL,
        prep_expiring, NULL, C ("status")),
  CASE ("status-warning-json", NULL, 0, "expiry_warning", NULL, prep_expiring, check_json_expiring,
        C ("status", "--json")),
  CASE ("status-warn-days-0", NULL, 0, "^usable: KRE [^\n]*\n$", NULL, prep_expiring, NULL,
        C ("status", "--warn-days", "0")),
  CASE ("status-bad-product", NULL, 1, NULL,
        "^tessera status: unknown product 'K R E' \\(this configuration licenses KRE, KSE\\)", NULL,
        NULL, C ("status", "--product", "K R E")),

  /* validate */
  CASE ("validate-stored", NULL, 0, "^valid: KRE ", NULL, prep_installed, NULL,
        C ("validate", "--product", "KRE")),
  CASE ("validate-json", NULL, 0, "\"activated\"", NULL, prep_installed, check_json_validate,
        C ("validate", "--product", "KRE", "--json")),
  CASE ("validate-none", NULL, 2, NULL,
        "no stored KRE license on this machine: 'tessera activate --product KRE' takes one.*"
        "'tessera offline install FILE'.*validate never takes a seat",
        NULL, NULL, C ("validate", "--product", "KRE")),
  CASE ("validate-none-json", NULL, 2, "not-found", "no stored KRE license on this machine", NULL,
        check_json_not_found, C ("validate", "--product", "KRE", "--json")),
  CASE ("validate-other-org", NULL, 2, NULL, "no stored KRE license of organization beta",
        prep_installed, NULL, C ("validate", "--product", "KRE", "--org-id", "beta")),
  CASE ("validate-stored-only-none", NULL, 2, NULL, "no stored KRE license", NULL, NULL,
        C ("validate", "--product", "KRE", "--stored-only")),
  CASE ("validate-expired", NULL, 3, NULL, "expired", prep_expired, NULL,
        C ("validate", "--product", "KRE")),
  CASE ("validate-expired-stored-only", NULL, 3, NULL, "expired", prep_expired, NULL,
        C ("validate", "--product", "KRE", "--stored-only")),
  /* A provider that could grant (the mock) is never asked to: validate
   * checks what the machine holds. */
  CASE ("validate-never-activates", NULL, 2, NULL, "no stored KRE license on this machine", NULL,
        NULL, "--config", "@DIR@/mock.conf", "validate", "--product", "KRE"),

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
  CASE ("providers-missing", NULL, 9, "installed:", "provider 'nosuch' is not installed", NULL,
        NULL, "--config", "@DIR@/missing-provider.conf", "providers"),
  CASE ("providers-forced", "TESSERA_PROVIDER=mock", 0,
        "TESSERA_PROVIDER=mock overrides(.|\n)*activation tries, in order: mock", NULL, NULL, NULL,
        C ("providers")),
  CASE ("missing-provider", NULL, 9, NULL,
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
  CASE ("keys-forget-unknown", NULL, 9, NULL, "provider 'nosuch' is not configured", NULL, NULL,
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

/* The man page (generated from docs/man/tessera.1.in and the command
 * table) renders without a single groff warning. */
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
      = g_build_filename (g_getenv ("TESSERA_TEST_BUILDDIR"), "tools", "man", "tessera.1", NULL);
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
  cli_files_set_up ();
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/cli/case/%s", cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &cases[i], run_case, NULL);
    }
  g_test_add_func ("/cli/help/each-command", test_help_each);
  g_test_add_func ("/cli/readme", test_readme);
  g_test_add_func ("/cli/man-page", test_man_page);
  int rc = g_test_run ();
  cli_files_tear_down ();
  return rc;
}
