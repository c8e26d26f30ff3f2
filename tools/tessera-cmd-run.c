/* tessera run: holds one license (one session) while a command runs.
 *
 * The license is activated before the command starts and released after
 * it ends, however it ends: its exit status is passed through (128+N when
 * signal N killed it). SIGINT, SIGTERM and SIGHUP sent to tessera are
 * forwarded to the command, and tessera releases once it has exited. If
 * tessera itself is killed outright, the command gets SIGTERM (Linux
 * parent-death signal) and the seat frees as after any crash: the kernel
 * drops an offline file's lock at once, an online session ends when its
 * heartbeats stop.
 *
 * If the license stops being valid while the command runs (revoked,
 * terminated by an administrator, expired, the file tampered with), the
 * command is stopped: SIGTERM, then SIGKILL after RUN_KILL_GRACE seconds;
 * tessera says why on stderr and exits with that error's code, not the
 * command's, so a CI job shows a licensing failure as one. */
#include "tessera-cli.h"

#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define RUN_KILL_GRACE 10
#define RUN_DEFAULT_CHECK_INTERVAL 60

static char *opt_product;
static char *opt_api_key;
static char *opt_org_id;
static int opt_wait = -1;
static int opt_check_interval = RUN_DEFAULT_CHECK_INTERVAL;

typedef struct
{
  GMainLoop *loop;
  GSubprocess *child;
  TesseraLicense *license;
  GError *invalidated; /* why the license stopped being valid, or NULL */
  gboolean exited;
  guint kill_timer;
  GCancellable *checks; /* cancels a check in flight once the command ended */
} Run;

static void
child_setup (gpointer data)
{
  /* tessera killed outright (SIGKILL): the command must not go on running
   * without the license it was started under. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
child_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  Run *run = data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  run->exited = TRUE;
  g_main_loop_quit (run->loop);
}

typedef struct
{
  Run *run;
  int signum;
} Forward;

static gboolean
forward_signal (gpointer data)
{
  Forward *f = data;
  if (!f->run->exited)
    g_subprocess_send_signal (f->run->child, f->signum);
  return G_SOURCE_CONTINUE;
}

static gboolean
kill_child (gpointer data)
{
  Run *run = data;
  run->kill_timer = 0;
  if (!run->exited)
    g_subprocess_force_exit (run->child);
  return G_SOURCE_REMOVE;
}

static void
on_invalidated (TesseraLicense *license, const GError *reason, gpointer data)
{
  Run *run = data;
  if (run->invalidated != NULL || run->exited)
    return;
  run->invalidated = g_error_copy (reason);
  g_autofree char *why = cli_one_line (reason->message);
  g_printerr ("tessera run: the %s license is no longer valid (%s): stopping the command\n",
              tessera_license_get_product (license), why);
  g_subprocess_send_signal (run->child, SIGTERM);
  run->kill_timer = g_timeout_add_seconds (RUN_KILL_GRACE, kill_child, run);
}

static void
validated (GObject *source, GAsyncResult *result, gpointer data)
{
  /* A failure that ends the license invalidates it (on_invalidated acts);
   * one that does not (the server briefly unreachable) is no reason to
   * stop a build. */
  g_autoptr (GError) error = NULL;
  if (!tessera_license_validate_finish (data, result, &error) && tessera_license_is_held (data)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_printerr ("tessera run: warning: could not check the license: %s\n", error->message);
  tessera_license_unref (data);
}

static gboolean
check_license (gpointer data)
{
  Run *run = data;
  if (!run->exited && run->invalidated == NULL)
    tessera_license_validate_async (run->license, run->checks, validated,
                                    tessera_license_ref (run->license));
  return G_SOURCE_CONTINUE;
}

static TesseraActivateOptions *
run_options (void)
{
  TesseraActivateOptions *options = tessera_activate_options_new ();
  if (opt_api_key != NULL)
    tessera_activate_options_set (options, TESSERA_OPTION_API_KEY, opt_api_key);
  if (opt_org_id != NULL)
    tessera_activate_options_set (options, TESSERA_OPTION_ORG_ID, opt_org_id);
  if (opt_wait >= 0)
    {
      g_autofree char *wait = g_strdup_printf ("%d", opt_wait);
      tessera_activate_options_set (options, TESSERA_OPTION_WAIT_TIMEOUT, wait);
    }
  return options;
}

static void
print_result (TesseraLicense *license, int exit_code, int signum, const GError *invalidated)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "license");
  json_builder_begin_object (b);
  cli_json_add_license (b, license);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "exit_code");
  json_builder_add_int_value (b, exit_code);
  json_builder_set_member_name (b, "signal");
  if (signum > 0)
    json_builder_add_int_value (b, signum);
  else
    json_builder_add_null_value (b);
  if (invalidated != NULL)
    cli_json_add_error (b, invalidated);
  json_builder_end_object (b);
  cli_json_print (b);
}

/* Reports a command that could not be started: 127 when it does not
 * exist, 126 otherwise, as a shell does. */
static int
spawn_failed (const GError *error)
{
  int code = g_error_matches (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT) ? 127 : 126;
  g_autofree char *line = cli_one_line (error->message);
  g_printerr ("tessera run: %s\n", line);
  if (cli_opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "error");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "code");
      json_builder_add_string_value (b, code == 127 ? "command-not-found" : "command-not-runnable");
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, line);
      json_builder_set_member_name (b, "exit_code");
      json_builder_add_int_value (b, code);
      json_builder_end_object (b);
      json_builder_end_object (b);
      cli_json_print (b);
    }
  return code;
}

int
cli_run_command (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "product", 'p', 0, G_OPTION_ARG_STRING, &opt_product, NULL, NULL },
    { "wait", 'w', 0, G_OPTION_ARG_INT, &opt_wait, NULL, NULL },
    { "api-key", 'k', 0, G_OPTION_ARG_STRING, &opt_api_key, NULL, NULL },
    { "org-id", 'o', 0, G_OPTION_ARG_STRING, &opt_org_id, NULL, NULL },
    { "check-interval", 0, 0, G_OPTION_ARG_INT, &opt_check_interval, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  /* Everything after "--" is the command, options included. */
  int sep = -1;
  for (int i = 1; i < argc && sep < 0; i++)
    if (g_str_equal (argv[i], "--"))
      sep = i;
  int opt_argc = sep >= 0 ? sep : argc;
  int rc = cli_parse (name, entries, 0, &opt_argc, &argv);
  if (rc >= 0)
    return rc;
  if (opt_product == NULL)
    return cli_usage (name, "--product is required");
  if (sep < 0 || sep + 1 >= argc)
    return cli_usage (name, "give the command to run after --");
  if (opt_check_interval < 0)
    return cli_usage (name, "--check-interval must be 0 or more");
  char **command = argv + sep + 1;

  g_autoptr (GError) error = NULL;
  /* A command that cannot run is said before a seat is taken for it, as a
   * shell says it: 127 not found, 126 found but not runnable. */
  g_autofree char *program = g_find_program_in_path (command[0]);
  if (program == NULL)
    {
      gboolean exists
          = strchr (command[0], '/') != NULL && g_file_test (command[0], G_FILE_TEST_EXISTS);
      g_set_error (&error, G_SPAWN_ERROR, exists ? G_SPAWN_ERROR_ACCES : G_SPAWN_ERROR_NOENT,
                   "cannot run %s: %s", command[0],
                   exists ? "it is not an executable file" : "command not found");
      return spawn_failed (error);
    }
  g_autoptr (TesseraEngine) engine = cli_engine_new (&error);
  if (engine == NULL)
    return cli_fail (error);
  if ((rc = cli_check_product (name, engine, opt_product)) >= 0)
    return rc;
  g_autoptr (TesseraActivateOptions) options = run_options ();
  g_autoptr (TesseraLicense) license = cli_activate (engine, opt_product, options, &error);
  if (license == NULL)
    return cli_fail (error);

  Run run = { .loop = g_main_loop_new (NULL, FALSE),
              .license = license,
              .checks = g_cancellable_new () };
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  /* What the command may want to know (a report, a log line). */
  g_subprocess_launcher_setenv (launcher, "TESSERA_RUN_PRODUCT", opt_product, TRUE);
  g_subprocess_launcher_setenv (launcher, "TESSERA_RUN_LICENSE_ID",
                                tessera_license_get_id (license), TRUE);
  g_subprocess_launcher_setenv (launcher, "TESSERA_RUN_PROVIDER",
                                tessera_license_get_provider (license), TRUE);
  /* Before the command starts: a signal sent once it runs must be
   * forwarded, never kill tessera by its default action. They are
   * dispatched only from the main loop, so the child exists by then. */
  const int signals[] = { SIGINT, SIGTERM, SIGHUP };
  Forward forwards[G_N_ELEMENTS (signals)];
  guint signal_sources[G_N_ELEMENTS (signals)];
  for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
    {
      forwards[i] = (Forward){ &run, signals[i] };
      signal_sources[i] = g_unix_signal_add (signals[i], forward_signal, &forwards[i]);
    }
  run.child = g_subprocess_launcher_spawnv (launcher, (const char *const *) command, &error);
  if (run.child == NULL)
    {
      for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
        g_source_remove (signal_sources[i]);
      g_main_loop_unref (run.loop);
      g_object_unref (run.checks);
      tessera_license_release (license, NULL, NULL);
      g_prefix_error (&error, "cannot run %s: ", command[0]);
      return spawn_failed (error);
    }

  guint handler = tessera_license_add_invalidated_handler (license, on_invalidated, &run, NULL);
  g_subprocess_wait_async (run.child, NULL, child_exited, &run);
  guint check_timer = opt_check_interval > 0
                          ? g_timeout_add_seconds (opt_check_interval, check_license, &run)
                          : 0;

  g_main_loop_run (run.loop);

  for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
    g_source_remove (signal_sources[i]);
  if (check_timer)
    g_source_remove (check_timer);
  if (run.kill_timer)
    g_source_remove (run.kill_timer);
  tessera_license_remove_invalidated_handler (license, handler);

  /* The command has stopped: nothing may keep tessera from exiting now but
   * the release, which the provider bounds by its own timeout (a check in
   * flight would hold the license until it timed out: it is cancelled). */
  g_cancellable_cancel (run.checks);
  g_autoptr (GError) release_error = NULL;
  if (!tessera_license_release (license, NULL, &release_error))
    {
      g_autofree char *why = cli_one_line (release_error->message);
      g_printerr ("tessera run: warning: the license was not released (%s): its seat frees "
                  "when its lease runs out\n",
                  why);
    }

  int signum = g_subprocess_get_if_signaled (run.child) ? g_subprocess_get_term_sig (run.child) : 0;
  int code = signum > 0 ? 128 + signum : g_subprocess_get_exit_status (run.child);
  if (run.invalidated != NULL)
    code = cli_exit_code (run.invalidated);
  if (cli_opt_json)
    print_result (license, code, signum, run.invalidated);
  g_clear_error (&run.invalidated);
  g_object_unref (run.child);
  g_main_loop_unref (run.loop);
  g_clear_object (&run.checks);
  /* Pending validations hold their own reference; let them finish. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return code;
}
