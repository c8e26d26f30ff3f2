/* tessera (tools/tessera*.c) waiting on the real tessera-server (issue 16):
 * a hung server costs one request bounded by timeout-seconds, and `run`
 * exits once its command stopped; `run --wait` shows its progress on a
 * terminal and one final line elsewhere. The server stands behind a
 * loopback forwarder that can hang (tests/forwarder-util.h); the fixture
 * is tests/cli-online-util.h. */
#include "cli-online-util.h"
#include "forwarder-util.h"

/* ---- a loopback forwarder that can hang (tests/forwarder-util.h) ---- */

/* How many requests for @path ("/release"; NULL: any) it left unanswered. */
static guint
fwd_hung (Fwd *p, const char *path)
{
  g_autofree char *line = path ? g_strconcat ("POST /api/v1", path, NULL) : NULL;
  guint n = 0;
  g_mutex_lock (&p->lock);
  for (guint i = 0; i < p->hung->len; i++)
    n += line == NULL || g_str_equal (p->hung->pdata[i], line);
  g_mutex_unlock (&p->lock);
  return n;
}

/* How many requests it had left hanging when a client first gave up on one
 * (all of them if none gave up yet). */
static guint
fwd_hung_before_first_give_up (Fwd *p)
{
  guint n = 0;
  g_mutex_lock (&p->lock);
  for (guint i = 0; i < p->events->len && g_str_equal (p->events->pdata[i], "hang"); i++)
    n++;
  g_mutex_unlock (&p->lock);
  return n;
}

static void
fwd_reset_events (Fwd *p)
{
  g_mutex_lock (&p->lock);
  g_ptr_array_set_size (p->events, 0);
  g_ptr_array_set_size (p->hung, 0);
  g_mutex_unlock (&p->lock);
}

/* ---- a hung server ---- */

/* A server with @sessions floating KRE seats behind a forwarder, a kept
 * session on each (tessera activate), then the forwarder hangs. */
static Fwd *
hung_set_up (Online *o, guint sessions)
{
  online_set_up (o, "floating", sessions, NULL);
  Fwd *fwd = fwd_start (o->url, FWD_FORWARD, NULL);
  write_conf (o->f.dir, fwd->url, o->keys, "timeout-seconds=2\n");
  g_setenv ("TESSERA_API_KEY", o->api_key, TRUE);
  const char *activate[]
      = { "--config", "@DIR@/online.conf", "activate", "--product", "KRE", NULL };
  g_autofree char *out = NULL, *err = NULL;
  for (guint i = 0; i < sessions; i++)
    cli_expect (o, 0, activate, &out, &err);
  g_assert_cmpuint (online_sessions (o, NULL), ==, sessions);
  fwd_set_mode (fwd, FWD_HANG);
  return fwd;
}

/* validate against a server that accepts and never answers: one request,
 * given up after timeout-seconds (no retries past it); within the lease the
 * last known state holds. */
static void
test_hung_validate (void)
{
  Online o = { 0 };
  Fwd *fwd = hung_set_up (&o, 1);

  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", NULL };
  g_autoptr (GSubprocess) p = spawn_cli (&o.f, validate);
  g_autofree char *verr = NULL;
  g_assert_cmpint (wait_bounded (p, 60, &verr), ==, 0);
  g_assert_cmpuint (fwd_hung (fwd, "/heartbeat"), ==, 1);

  g_unsetenv ("TESSERA_API_KEY");
  fwd_free (fwd);
  online_tear_down (&o);
}

/* Two kept sessions and a server that accepts and never answers: status
 * and validate ask about both at once, so the command waits one
 * timeout-seconds, not one per session. Shown by order, not by time: the
 * second request reaches the server before the client gives up the first. */
static void
test_hung_several (void)
{
  Online o = { 0 };
  Fwd *fwd = hung_set_up (&o, 2);

  const char *status[] = { "--config", "@DIR@/online.conf", "status", "--product", "KRE", NULL };
  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", NULL };
  const char *const *commands[] = { status, validate };
  for (guint c = 0; c < G_N_ELEMENTS (commands); c++)
    {
      fwd_reset_events (fwd);
      g_autoptr (GSubprocess) p = spawn_cli (&o.f, commands[c]);
      g_autofree char *perr = NULL;
      /* Within the lease, the last signed state holds for both. */
      g_assert_cmpint (wait_bounded (p, 120, &perr), ==, 0);
      g_assert_cmpuint (fwd_hung (fwd, "/heartbeat"), ==, 2);
      g_assert_cmpuint (fwd_hung_before_first_give_up (fwd), ==, 2);
    }
  g_unsetenv ("TESSERA_API_KEY");
  fwd_free (fwd);
  online_tear_down (&o);
}

/* `run`: the command stops while the server hangs; tessera releases once,
 * bounded by timeout-seconds, says the seat frees when its lease runs out,
 * and exits with the command's status. */
static void
test_hung_run (void)
{
  Online o = { 0 };
  online_set_up (&o, "floating", 1, NULL);
  Fwd *fwd = fwd_start (o.url, FWD_FORWARD, NULL);
  write_conf (o.f.dir, fwd->url, o.keys, "timeout-seconds=2\n");
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  const char *run[]
      = { "--config",
          "@DIR@/online.conf",
          "run",
          "--product",
          "KRE",
          "--check-interval",
          "0",
          "--",
          "sh",
          "-c",
          "touch @DIR@/started; while [ ! -e @DIR@/stop ]; do sleep 0.1; done; exit 3",
          NULL };
  g_autoptr (GSubprocess) p = spawn_cli (&o.f, run);
  g_autofree char *started = fixture_file (&o.f, "started");
  for (int i = 0; i < 6000 && !g_file_test (started, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_assert_true (g_file_test (started, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (online_sessions (&o, NULL), ==, 1);
  fwd_set_mode (fwd, FWD_HANG);
  g_autofree char *stop = fixture_file (&o.f, "stop");
  write_text (stop, "");
  g_autofree char *err = NULL;
  g_assert_cmpint (wait_bounded (p, 60, &err), ==, 3);
  assert_one_line (err, "^tessera run: warning: the license was not released \\(.*no answer within "
                        "2 s.*\\): its seat frees when its lease runs out");
  g_assert_cmpuint (fwd_hung (fwd, "/release"), ==, 1);
  g_unsetenv ("TESSERA_API_KEY");
  fwd_free (fwd);
  online_tear_down (&o);
}

/* ---- run --wait: progress ---- */

/* Holds the one seat with `run` until killed; returns it once the seat is
 * taken. */
static GSubprocess *
hold_seat (Online *o)
{
  const char *holder[] = { "--config",
                           "@DIR@/online.conf",
                           "run",
                           "--product",
                           "KRE",
                           "--",
                           "sh",
                           "-c",
                           "touch @DIR@/holding; exec sleep 600",
                           NULL };
  GSubprocess *p = spawn_cli (&o->f, holder);
  g_autofree char *holding = fixture_file (&o->f, "holding");
  for (int i = 0; i < 6000 && !g_file_test (holding, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_assert_true (g_file_test (holding, G_FILE_TEST_EXISTS));
  return p;
}

/* Not a terminal: one line at the end, nothing while waiting. On a
 * terminal (script(1) gives it a pty): the time waited, the time left and
 * the seats in use of how many. */
static void
test_wait_progress (void)
{
  Online o = { 0 };
  online_set_up (&o, "floating", 1, NULL);
  write_conf (o.f.dir, o.url, o.keys, NULL);
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  g_autoptr (GSubprocess) holder = hold_seat (&o);

  const char *waiter[]
      = { "--config", "@DIR@/online.conf", "run", "--product", "KRE", "--wait", "3", "--", "true",
          NULL };
  g_autofree char *out = NULL, *err = NULL;
  cli_expect (&o, 4, waiter, &out, &err);
  assert_one_line (
      err, "^tessera run: testops: no seat within 3 seconds: .*all 1 KRE floating licenses");
  g_assert_cmpstr (out, ==, "");

  g_autofree char *script = g_find_program_in_path ("script");
  if (script == NULL)
    g_test_message ("script(1) not found: the terminal form is not tested");
  else
    {
      g_autoptr (GPtrArray) argv = cli_argv (&o.f, waiter);
      g_autoptr (GString) command = g_string_new (NULL);
      for (guint i = 0; i < argv->len - 1; i++)
        {
          g_autofree char *q = g_shell_quote (argv->pdata[i]);
          g_string_append_printf (command, "%s%s", i ? " " : "", q);
        }
      /* stdout of script(1) is what the pty showed (stderr included). */
      const char *sargv[] = { script, "-qec", command->str, "/dev/null", NULL };
      g_auto (GStrv) env = g_get_environ ();
      env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
      g_autofree char *tty = NULL, *tty_err = NULL;
      int status = 0;
      g_autoptr (GError) error = NULL;
      g_spawn_sync (o.f.dir, (char **) sargv, env, 0, NULL, NULL, &tty, &tty_err, &status, &error);
      g_assert_no_error (error);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 4);
      assert_matches ("terminal", "waiting for a KRE seat: [0-9]+ s, [0-9]+ s left, 1 of 1 in use",
                      tty);
      assert_matches ("terminal", "tessera run: testops: no seat within 3 seconds", tty);
    }
  g_subprocess_send_signal (holder, SIGTERM);
  g_autofree char *herr = NULL;
  wait_bounded (holder, 60, &herr);
  g_unsetenv ("TESSERA_API_KEY");
  online_tear_down (&o);
}

int
main (int argc, char **argv)
{
  cli_online_init (&argc, &argv);
  g_test_add_func ("/cli-online/hung/validate", test_hung_validate);
  g_test_add_func ("/cli-online/hung/several", test_hung_several);
  g_test_add_func ("/cli-online/hung/run", test_hung_run);
  g_test_add_func ("/cli-online/run/wait-progress", test_wait_progress);
  return cli_online_run ();
}
