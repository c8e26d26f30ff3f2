/* tessera (tools/tessera*.c) as processes, where a table of cases cannot
 * say it: `tessera run` holding a seat, passing its command's status
 * through and releasing the seat when the command is killed, when tessera
 * gets SIGTERM or SIGINT and when the license is revoked; an activation
 * interrupted, the progress indicator on a terminal, an offline-only
 * install; and, with the online provider (TESSERA_TEST_ONLINE), run,
 * activate and release against the real tessera-server. The table of cases
 * is test-cli.c; the fixture is tests/cli-util.h. */
#ifdef TESSERA_TEST_ONLINE
#include "server-util.h"
#endif
#include "cli-util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

/* ---- run: sessions and signals ---- */

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

/* The counters file exists and counts at least @min calls of @op. */
static gboolean
counter_at_least (const char *path, const char *op, gint64 min)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  g_autoptr (JsonObject) c = parse_object (text);
  return json_object_get_int_member_with_default (c, op, 0) >= min;
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
                        "{\"delay_ms\": 3600000}}}");
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
  /* The mock counts the activation when it begins, before its 60 s delay;
   * the CLI handles SIGINT from before it starts the activation. */
  g_autofree char *counters = fixture_file (&f, "counters.json");
  for (int i = 0; i < 6000 && !counter_at_least (counters, "activate", 1); i++)
    g_usleep (10000);
  g_assert_true (counter_at_least (counters, "activate", 1));
  g_subprocess_send_signal (p, SIGINT);
  g_autofree char *out = NULL, *err = NULL;
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  strip_valgrind_lines (&err);
  g_assert_true (g_subprocess_get_if_exited (p));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 130);
  /* The mock's delay is an hour: ending with 130 at all is the interrupt. */
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
  g_assert_cmpint (run_cli (&f, status, &out, &err), ==, 9);
  assert_one_line (err, "provider 'testops' is not installed in .*/plugins \\(installed: "
                        "offline\\)");

  g_setenv ("TESSERA_PLUGIN_DIR", saved, TRUE);
  fixture_tear_down (&f);
}

/* ---- parallel offline files ---- */

/* Waits (up to a minute: valgrind is slow) until @path holds a whole
 * line; returns it without its newline. */
static char *
wait_for_line (const char *path)
{
  for (int i = 0; i < 6000; i++)
    {
      g_autofree char *text = NULL;
      if (g_file_get_contents (path, &text, NULL, NULL) && strchr (text, '\n') != NULL)
        return g_strndup (text, strcspn (text, "\n"));
      g_usleep (10000);
    }
  g_error ("%s never appeared", path);
}

/* The reference rule, through the real CLI: three distinct license files
 * for this machine installed one after the other land as KRE_<mid>.lic,
 * .1.lic and .2.lic; the first again is refused and writes nothing; three
 * `tessera run` hold one file each at the same time (their commands wait
 * for a file the test creates), a fourth is refused with quota-exceeded
 * and runs nothing; status lists the three as usable meanwhile; once the
 * three end, a run is granted again. */
static void
test_offline_parallel (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  g_autofree char *lic = fixture_file (&f, "license");
  const char *issued[] = { "good.lic", "newer.lic", "third.lic" };
  const char *suffix[] = { "", ".1", ".2" };
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *source = g_strdup_printf ("@FILES@/%s", issued[i]);
      const char *install[] = { C ("offline", "install", source, NULL) };
      g_autofree char *out = NULL, *err = NULL;
      g_assert_cmpint (run_cli (&f, install, &out, &err), ==, 0);
      g_assert_cmpstr (err, ==, "");
      g_autofree char *tail = g_strdup_printf (", as @LIC@/KRE_@MID@%s.lic\n", suffix[i]);
      g_autofree char *want = expand (&f, tail);
      if (!g_str_has_suffix (out, want))
        g_error ("install %s: '%s' does not end with '%s'", issued[i], out, want);
      g_autofree char *name = g_strdup_printf ("KRE_%s%s.lic", this_mid, suffix[i]);
      g_autofree char *path = g_build_filename (lic, name, NULL);
      g_autofree char *src = g_build_filename (files_dir, issued[i], NULL);
      g_autofree char *a = read_text (path);
      g_autofree char *b = read_text (src);
      g_assert_cmpstr (a, ==, b);
    }
  g_assert_cmpuint (count_entries (lic), ==, 3);

  const char *again[] = { C ("offline", "install", "@FILES@/good.lic", NULL) };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&f, again, &out, &err), ==, 11);
  g_assert_cmpstr (out, ==, "");
  assert_one_line (err, "^tessera offline install: good.lic: not installed: license lic-good is "
                        "already installed as .*/KRE_[A-Z0-9-]+\\.lic \\(the same file\\)");
  g_assert_cmpuint (count_entries (lic), ==, 3);

  GSubprocess *holders[3] = { NULL };
  g_autoptr (GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *script = g_strdup_printf (
          "echo \"$TESSERA_RUN_LICENSE_ID\" > @DIR@/held%u.tmp && mv @DIR@/held%u.tmp "
          "@DIR@/held%u; while [ ! -e @DIR@/go ]; do sleep 0.1; done",
          i, i, i);
      const char *holder[] = { C ("run", "--product", "KRE", "--", "sh", "-c", script, NULL) };
      holders[i] = spawn_cli (&f, holder);
      /* One after the other: each takes the seat the earlier ones left. */
      g_autofree char *held_name = g_strdup_printf ("held%u", i);
      g_autofree char *held = fixture_file (&f, held_name);
      char *id = wait_for_line (held);
      g_assert_true (g_hash_table_add (ids, id));
    }
  /* Each holds another license (another file). */
  g_assert_cmpuint (g_hash_table_size (ids), ==, 3);
  g_assert_true (g_hash_table_contains (ids, "lic-good"));

  const char *fourth[]
      = { C ("--json", "run", "--product", "KRE", "--", "touch", "@DIR@/ran", NULL) };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, fourth, &out, &err), ==, 4);
  assert_one_line (err, "all 3 offline KRE licenses for this machine are in use");
  check_json_error (out, "quota-exceeded", 4);
  g_autofree char *ran = fixture_file (&f, "ran");
  g_assert_false (g_file_test (ran, G_FILE_TEST_EXISTS));

  /* Listing takes no seat: all three show usable while held. */
  const char *status[] = { C ("status", NULL) };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, status, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_autofree char *listed
      = expand (&f, "^usable: KRE [^\n]*, file @LIC@/KRE_@MID@.1.lic\n"
                    "usable: KRE [^\n]*, file @LIC@/KRE_@MID@.2.lic\n"
                    "usable: KRE [^\n]*lic-good[^\n]*, file @LIC@/KRE_@MID@.lic\n$");
  assert_matches ("stdout", listed, out);

  g_autofree char *go = fixture_file (&f, "go");
  write_text (go, "");
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *holder_err = NULL;
      g_assert_cmpint (wait_exit (holders[i], &holder_err), ==, 0);
      g_assert_cmpstr (holder_err, ==, "");
      g_object_unref (holders[i]);
    }
  const char *after[] = { C ("run", "--product", "KRE", "--", "true", NULL) };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, after, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  fixture_tear_down (&f);
}

/* Runs tessera as the unprivileged user NOBODY (setpriv) when the test runs
 * as root, so that a file made unreadable (chmod 000) is unreadable to it. */
static int
run_cli_as_user (Fixture *f, const char *const *args, char **out, char **err)
{
  /* tool_util_run() runs a readable copy of the CLI and its libtessera;
   * the plugins it loads get a readable copy too, since the build tree may
   * sit in a directory NOBODY cannot enter (scripts/private-dir-check.sh). */
  g_autoptr (GPtrArray) expanded = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (expanded, expand (f, args[i]));
  g_ptr_array_add (expanded, NULL);
  g_autofree char *saved = g_strdup (g_getenv ("TESSERA_PLUGIN_DIR"));
  char *plugins = NULL;
  if (geteuid () == 0 && saved != NULL)
    {
      plugins = test_tmpdir_new ();
      g_autofree char *copy = test_copy_dir_files (saved, plugins, "plugins");
      g_setenv ("TESSERA_PLUGIN_DIR", copy, TRUE);
    }
  const gboolean as_nobody = TRUE;
  int code
      = tool_util_run (cli_path (), f->dir, (char *const *) expanded->pdata, as_nobody, out, err);
  if (plugins != NULL)
    {
      g_setenv ("TESSERA_PLUGIN_DIR", saved, TRUE);
      test_tmpdir_free (plugins);
    }
  strip_valgrind_lines (err);
  return code;
}

/* A user's three files, one then tampered with and one made unreadable:
 * status shows each with its own state, the two as unusable with their
 * reason (not as a license that "never expires"), in text and in JSON;
 * run still takes the good one. Everything runs as that user. */
static void
test_offline_unusable_files (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  g_autofree char *lic = fixture_file (&f, "license");
  if (geteuid () == 0)
    {
      g_assert_cmpint (chown (f.dir, NOBODY, NOBODY), ==, 0);
      g_assert_cmpint (chown (lic, NOBODY, NOBODY), ==, 0);
    }
  /* The machine ID includes the user: the files are issued for that user's. */
  const char *mid_args[] = { C ("machine-id", NULL) };
  g_autofree char *mid_out = NULL, *err = NULL;
  g_assert_cmpint (run_cli_as_user (&f, mid_args, &mid_out, &err), ==, 0);
  g_autofree char *mid = g_strdup (g_strstrip (mid_out));
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("user-%u.lic", i);
      issue (name, "issuer.sec", "KRE", mid, -1);
      g_autofree char *path = g_build_filename (files_dir, name, NULL);
      g_assert_cmpint (g_chmod (path, 0644), ==, 0);
      g_autofree char *source = g_strdup_printf ("@FILES@/%s", name);
      const char *install[] = { C ("offline", "install", source, NULL) };
      g_autofree char *out = NULL;
      g_clear_pointer (&err, g_free);
      g_assert_cmpint (run_cli_as_user (&f, install, &out, &err), ==, 0);
      g_assert_cmpstr (err, ==, "");
    }
  g_autofree char *second = g_strdup_printf ("%s/KRE_%s.1.lic", lic, mid);
  g_autofree char *third = g_strdup_printf ("%s/KRE_%s.2.lic", lic, mid);
  /* One byte of the signed payload changed, in place. */
  g_autofree char *text = read_text (second);
  char *p = strstr (text, "\"payload\":\"") + strlen ("\"payload\":\"") + 20;
  *p = *p == 'A' ? 'B' : 'A';
  FILE *fp = fopen (second, "r+");
  g_assert_nonnull (fp);
  g_assert_cmpint (fputs (text, fp), >=, 0);
  g_assert_cmpint (fclose (fp), ==, 0);
  g_assert_cmpint (g_chmod (third, 0), ==, 0);

  const char *status[] = { C ("status", NULL) };
  g_autofree char *out = NULL;
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli_as_user (&f, status, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_autofree char *want
      = g_strdup_printf ("^unusable: KRE node-locked license KRE_%s.1.lic from offline, file %s\n"
                         "  reason: [^\n]*modified or damaged[^\n]*\n"
                         "unusable: KRE node-locked license KRE_%s.2.lic from offline, file %s\n"
                         "  reason: [^\n]*cannot (open|read)[^\n]*[Pp]ermission denied[^\n]*\n"
                         "usable: KRE node-locked license [^\n]*, file %s/KRE_%s.lic\n$",
                         mid, second, mid, third, lic, mid);
  assert_matches ("stdout", want, out);

  const char *json[] = { C ("--json", "status", NULL) };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli_as_user (&f, json, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_autoptr (JsonObject) o = parse_object (out);
  JsonArray *a = json_object_get_array_member (o, "licenses");
  g_assert_cmpuint (json_array_get_length (a), ==, 3);
  const char *codes[] = { "tampered", "permission-denied", NULL };
  const char *files[] = { second, third, NULL };
  for (guint i = 0; i < 3; i++)
    {
      JsonObject *l = json_array_get_object_element (a, i);
      g_assert_cmpint (json_object_get_boolean_member (l, "usable"), ==, codes[i] == NULL);
      if (codes[i] == NULL)
        continue;
      JsonObject *e = json_object_get_object_member (l, "error");
      g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, codes[i]);
      JsonObject *attrs = json_object_get_object_member (l, "attributes");
      g_assert_cmpstr (json_object_get_string_member (attrs, "offline.file"), ==, files[i]);
    }

  /* The good file still grants; the other two never do. */
  const char *run[] = { C ("run", "--product", "KRE", "--", "true", NULL) };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli_as_user (&f, run, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
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

/* The member also belongs to beta, which has KRE too: activate without
 * --org-id is refused (5) with one line naming the two organizations once,
 * the flag and the config key; with --org-id it is granted there. */
static void
test_online_org_required (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  Online o = { 0 };
  online_set_up (&o, &f);
  GError *error = NULL;
  TsStore *store = ts_store_open (o.db, &error);
  g_assert_no_error (error);
  gint64 now = now_s ();
  g_free (ts_store_bootstrap_org (store, "beta", "Beta Corp", "owner@beta.test", now, &error));
  g_assert_no_error (error);
  TsPool *p = ts_store_create_pool (store, NULL, "beta", "KRE", "floating", "annual", 1,
                                    now + 365 * 24 * 3600, now, &error);
  g_assert_no_error (error);
  ts_pool_free (p);
  g_free (
      ts_store_set_member (store, NULL, "beta", "member@acme.test", TS_ROLE_MEMBER, now, &error));
  g_assert_no_error (error);
  ts_store_close (store);

  const char *activate[] = { "--config", "@DIR@/online.conf", "activate", "--product",
                             "KRE",      "--api-key",         o.api_key,  NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&f, activate, &out, &err), ==, 5);
  assert_one_line (err, "^tessera activate: testops: license server http://127\\.0\\.0\\.1:[0-9]+: "
                        "you belong to several organizations with this product: "
                        "(acme \\(Acme\\), beta \\(Beta Corp\\)|beta \\(Beta Corp\\), acme "
                        "\\(Acme\\)); choose one with --org-id ORG, or org-id=ORG in "
                        "\\[provider:testops\\]\n$");
  g_assert_cmpuint (online_sessions (&o), ==, 0);

  const char *with_org[]
      = { "--config",  "@DIR@/online.conf", "--json",   "activate", "--product", "KRE",
          "--api-key", o.api_key,           "--org-id", "beta",     NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (&f, with_org, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_autoptr (JsonObject) a = parse_object (out);
  g_assert_cmpstr (
      json_object_get_string_member (json_object_get_object_member (a, "license"), "org"), ==,
      "beta");
  online_tear_down (&o);
  fixture_tear_down (&f);
}

/* ---- the default config on a headless machine (no keyring) ---- */

/* @f's default.conf: the online provider as shipped, keys in the keyring
 * (no key-storage line), its state in $XDG_STATE_HOME. */
static void
write_default_conf (Fixture *f, Online *o)
{
  g_autofree char *conf = fixture_file (f, "default.conf");
  g_autofree char *text
      = g_strdup_printf ("[engine]\nproviders=testops\nproducts=KRE\n[provider:testops]\n"
                         "server=%s\nallow-http=true\nserver-key=%s\n",
                         o->url, o->keys);
  write_text (conf, text);
}

/* The environment of a machine with no desktop session: no D-Bus session
 * bus to find (no address, no display to autolaunch one, no bus socket in
 * the runtime folder), HOME and the XDG folders inside @f (so that what
 * tessera leaves there can be searched), no TESSERA_API_KEY. */
static char **
headless_env (Fixture *f)
{
  char **env = g_get_environ ();
  const char *const unset[] = { "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY",
                                "TESSERA_API_KEY", "GNOME_KEYRING_CONTROL" };
  for (guint i = 0; i < G_N_ELEMENTS (unset); i++)
    env = g_environ_unsetenv (env, unset[i]);
  env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
  g_autofree char *home = fixture_file (f, "home");
  const char *const xdg[][2] = {
    { "XDG_CONFIG_HOME", ".config" },     { "XDG_DATA_HOME", ".local/share" },
    { "XDG_STATE_HOME", ".local/state" }, { "XDG_CACHE_HOME", ".cache" },
    { "XDG_RUNTIME_DIR", "run" },
  };
  g_assert_cmpint (g_mkdir_with_parents (home, 0700), ==, 0);
  env = g_environ_setenv (env, "HOME", home, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (xdg); i++)
    {
      g_autofree char *dir = g_build_filename (home, xdg[i][1], NULL);
      g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
      env = g_environ_setenv (env, xdg[i][0], dir, TRUE);
    }
  return env;
}

/* No file under @dir holds @key, nor its part after the prefix the server
 * shows (a key written in any plain form would). */
static void
assert_key_nowhere (const char *dir, const char *key)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  const char *tail = key + strlen (key) - 16;
  for (const char *name; (name = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        continue;
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          assert_key_nowhere (path, key);
          continue;
        }
      g_autofree char *data = NULL;
      gsize len = 0;
      if (!g_file_get_contents (path, &data, &len, NULL))
        continue;
      if (memmem (data, len, tail, strlen (tail)) != NULL)
        g_error ("%s holds the API key", path);
    }
}

static const char not_kept_re[]
    = "^tessera: notice: the API key for http://127\\.0\\.0\\.1:[0-9]+ was used for this run "
      "only, not kept in the system keyring: no Secret Service is reachable \\(.+\\); to make it "
      "permanent, run a Secret Service .*TESSERA_API_KEY \\(e\\.g\\. a CI secret\\) with "
      "key-storage=env-only in \\[provider:testops\\]\n$";

/* The shipped config (keys in the keyring) on a machine with no D-Bus at
 * all, against the real server: a key given with --api-key, or in
 * TESSERA_API_KEY, activates (and status, release and run work with it),
 * each activation saying in one line that the key was not kept and how to
 * make it permanent; with no key, exit 5 naming --api-key and
 * TESSERA_API_KEY, no seat taken; and no file in HOME or the XDG folders
 * (nor anywhere in the test's folder) holds the key. */
static void
test_online_headless (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  Online o = { 0 };
  online_set_up (&o, &f);
  write_default_conf (&f, &o);
  g_auto (GStrv) env = headless_env (&f);

  const char *activate[] = { "--config", "@DIR@/default.conf", "activate", "--product",
                             "KRE",      "--api-key",          o.api_key,  NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli_env (&f, activate, env, &out, &err), ==, 0);
  g_test_message ("%s", err);
  assert_matches ("stdout", "^activated: KRE floating license .* from testops", out);
  assert_one_line (err, not_kept_re);
  g_assert_cmpuint (online_sessions (&o), ==, 1);

  /* The kept session, checked and released with the key in the
   * environment (nothing to keep: no notice). */
  g_auto (GStrv) with_key = g_environ_setenv (g_strdupv (env), "TESSERA_API_KEY", o.api_key, TRUE);
  const char *status[] = { "--config", "@DIR@/default.conf", "status", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli_env (&f, status, with_key, &out, &err), ==, 0);
  assert_matches ("stdout", "^usable: KRE floating license .* from testops", out);
  g_assert_cmpstr (err, ==, "");
  const char *release[] = { "--config", "@DIR@/default.conf", "release", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli_env (&f, release, with_key, &out, &err), ==, 0);
  assert_matches ("stdout", "^released: KRE floating license", out);
  g_assert_cmpuint (online_sessions (&o), ==, 0);

  /* A CI job: the key in TESSERA_API_KEY, a command under a seat. */
  const char *run[]
      = { "--config", "@DIR@/default.conf", "run", "--product", "KRE", "--", "sh", "-c", "exit 3",
          NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli_env (&f, run, with_key, &out, &err), ==, 3);
  assert_one_line (err, not_kept_re);
  g_assert_cmpuint (online_sessions (&o), ==, 0);

  /* No key at all: refused before the server is asked, saying how. */
  const char *no_key[] = { "--config", "@DIR@/default.conf", "activate", "--product", "KRE", NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli_env (&f, no_key, env, &out, &err), ==, 5);
  assert_one_line (err, "^tessera activate: testops: no API key for the license server "
                        "http://127\\.0\\.0\\.1:[0-9]+: give it with --api-key or set "
                        "TESSERA_API_KEY .* cannot be used: no Secret Service is reachable "
                        "\\(.+\\)\\. .*key-storage=env-only");
  g_assert_cmpuint (online_sessions (&o), ==, 0);

  g_autofree char *key = g_strdup (o.api_key);
  online_tear_down (&o);
  g_autofree char *home = fixture_file (&f, "home");
  assert_key_nowhere (home, key);
  assert_key_nowhere (f.dir, key);
  fixture_tear_down (&f);
}

/* The same config with a real keyring (tests/with-keyring.sh, one
 * throw-away Secret Service for a shell running the commands): the key
 * given once is kept there without a notice, and later commands need none
 * (release, run); keys forget removes it. Nothing in HOME holds it. */
static void
test_online_keyring (void)
{
  Fixture f = { 0 };
  fixture_set_up (&f);
  Online o = { 0 };
  online_set_up (&o, &f);
  write_default_conf (&f, &o);
  g_auto (GStrv) env = headless_env (&f);
  /* Under ASan, LeakSanitizer reports the suppressions it used (libdbus'
   * one-time allocations, tests/lsan.supp) on stderr, which must stay
   * empty here: the report, not a leak, is turned off. */
  const char *lsan = g_environ_getenv (env, "LSAN_OPTIONS");
  g_autofree char *quiet = g_strconcat (lsan != NULL ? lsan : "", lsan != NULL ? ":" : "",
                                        "print_suppressions=0", NULL);
  env = g_environ_setenv (env, "LSAN_OPTIONS", quiet, TRUE);

  const char *const commands[][8] = {
    { "--config", "@DIR@/default.conf", "activate", "--product", "KRE", "--api-key", o.api_key,
      NULL },
    { "--config", "@DIR@/default.conf", "release", "--product", "KRE", NULL },
    { "--config", "@DIR@/default.conf", "run", "--product", "KRE", "--", "true", NULL },
    { "--config", "@DIR@/default.conf", "keys", "forget", NULL },
    { "--config", "@DIR@/default.conf", "activate", "--product", "KRE", NULL },
  };
  /* Each command's stdout, stderr and status into files of the case. */
  g_autoptr (GString) script = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autoptr (GPtrArray) argv = cli_argv (&f, commands[i]);
      for (guint j = 0; argv->pdata[j] != NULL; j++)
        {
          g_autofree char *quoted = g_shell_quote (argv->pdata[j]);
          g_string_append_printf (script, "%s ", quoted);
        }
      g_string_append_printf (script, ">out%u 2>err%u; echo $? >rc%u\n", i, i, i);
    }
  g_autofree char *wrapper
      = g_build_filename (g_getenv ("TESSERA_TEST_SRCDIR"), "tests", "with-keyring.sh", NULL);
  const char *argv[] = { "sh", wrapper, "sh", "-c", script->str, NULL };
  g_autofree char *wrapper_err = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (f.dir, (char **) argv, env, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                NULL, NULL, &wrapper_err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("with-keyring.sh failed: %s", wrapper_err);

  const int want_rc[] = { 0, 0, 0, 0, 5 };
  const char *const want_out[] = { "^activated: KRE floating license", "^released: KRE floating",
                                   "^$", "^forgot 1 credential", "^$" };
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *name = g_strdup_printf ("rc%u", i);
      g_autofree char *rc_path = fixture_file (&f, name);
      g_autofree char *rc = read_text (rc_path);
      g_free (name);
      name = g_strdup_printf ("out%u", i);
      g_autofree char *out_path = fixture_file (&f, name);
      g_autofree char *out = read_text (out_path);
      g_free (name);
      name = g_strdup_printf ("err%u", i);
      g_autofree char *err_path = fixture_file (&f, name);
      g_autofree char *err = read_text (err_path);
      strip_valgrind_lines (&err);
      g_test_message ("command %u: exit %s%s%s", i, rc, out, err);
      g_assert_cmpint (atoi (rc), ==, want_rc[i]);
      assert_matches ("stdout", want_out[i], out);
      if (want_rc[i] == 0)
        g_assert_cmpstr (err, ==, ""); /* kept: no notice */
    }
  /* after forget: the keyring reachable, no key in it */
  g_autofree char *last_err_path = fixture_file (&f, "err4");
  g_autofree char *last_err = read_text (last_err_path);
  assert_one_line (last_err, "no API key for the license server .*: give it with --api-key or set "
                             "TESSERA_API_KEY once");
  g_assert_cmpuint (online_sessions (&o), ==, 0);

  g_autofree char *key = g_strdup (o.api_key);
  online_tear_down (&o);
  g_autofree char *home = fixture_file (&f, "home");
  assert_key_nowhere (home, key);
  fixture_tear_down (&f);
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  cli_files_set_up ();
  g_test_add_func ("/cli/run/child-killed", test_run_child_killed);
  g_test_add_func ("/cli/run/terminated", test_run_terminated);
  g_test_add_func ("/cli/run/mock-released", test_run_mock_released);
  g_test_add_func ("/cli/run/revoked", test_run_revoked);
  g_test_add_func ("/cli/activate/interrupted", test_activate_interrupted);
  g_test_add_func ("/cli/activate/spinner", test_activate_spinner);
  g_test_add_func ("/cli/offline-only", test_offline_only);
  g_test_add_func ("/cli/offline/parallel", test_offline_parallel);
  g_test_add_func ("/cli/offline/unusable-files", test_offline_unusable_files);
#ifdef TESSERA_TEST_ONLINE
  g_test_add_func ("/cli/online/run", test_online_run);
  g_test_add_func ("/cli/online/activate-release", test_online_activate_release);
  g_test_add_func ("/cli/online/org-required", test_online_org_required);
  g_test_add_func ("/cli/online/headless-default-config", test_online_headless);
  g_test_add_func ("/cli/online/keyring-default-config", test_online_keyring);
#endif
  int rc = g_test_run ();
  cli_files_tear_down ();
  return rc;
}
