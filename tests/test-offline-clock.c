/* The offline provider against clock rollback, attacked for real with
 * faketime on the session holder (tests/offline-holder.c), and its clock
 * state deleted, corrupt or unwritable (tests/offline-util.h). */
#include "offline-util.h"

/* ---- clock rollback, attacked with faketime ---- */

/* The faketime wrapper makes /dev/shm/sem.faketime_sem_PID and
 * faketime_shm_PID with O_EXCL and removes them when it exits; one killed
 * (a test's holder, a run stopped by hand) leaves them, and a later wrapper
 * given the same PID (pid_max is 32768 here) refuses to start ("sem_open:
 * File exists"). Those of processes that are gone are removed first. */
static void
faketime_clear_stale (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/dev/shm", 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      const char *pid = g_str_has_prefix (name, "sem.faketime_sem_")
                            ? name + strlen ("sem.faketime_sem_")
                        : g_str_has_prefix (name, "faketime_shm_") ? name + strlen ("faketime_shm_")
                                                                   : NULL;
      guint64 n = 0;
      if (pid == NULL || !g_ascii_string_to_unsigned (pid, 10, 1, G_MAXINT, &n, NULL))
        continue;
      g_autofree char *proc = g_strdup_printf ("/proc/%" G_GUINT64_FORMAT, n);
      if (g_file_test (proc, G_FILE_TEST_EXISTS))
        continue;
      g_autofree char *path = g_build_filename ("/dev/shm", name, NULL);
      g_unlink (path);
    }
}

static char *
faketime_path (void)
{
  faketime_clear_stale ();
  char *path = g_find_program_in_path ("faketime");
  if (path == NULL)
    g_error ("faketime is not installed: run scripts/install-deps.sh (Debian package faketime); "
             "the clock-rollback tests use it to attack the clock for real");
  return path;
}

/* The environment for a holder under faketime: monotonic time left alone,
 * and (in sanitizer builds) ASan told that the preloaded libfaketime coming
 * before it is expected. */
static char **
faketime_environ (void)
{
  char **envp = g_environ_setenv (g_get_environ (), "FAKETIME_DONT_FAKE_MONOTONIC", "1", TRUE);
  const char *asan = g_environ_getenv (envp, "ASAN_OPTIONS");
  g_autofree char *options = asan && *asan ? g_strconcat (asan, ":verify_asan_link_order=0", NULL)
                                           : g_strdup ("verify_asan_link_order=0");
  return g_environ_setenv (envp, "ASAN_OPTIONS", options, TRUE);
}

/* Runs a holder under `faketime -f OFFSET` and returns its first line. */
static char *
holder_under_faketime (Env *env, const char *offset)
{
  g_autofree char *faketime = faketime_path ();
  const char *const prefix[] = { faketime, "-f", offset, NULL };
  g_auto (GStrv) envp = faketime_environ ();
  Holder *h = holder_spawn_full (prefix, env->config_path, "KRE", envp);
  char *line = holder_read_line (h);
  g_assert_nonnull (line);
  g_test_message ("faketime %s: %s", offset, line);
  holder_finish (h);
  return line;
}

/* A license issued 40 days ago (valid for 20 more): what a rollback of 30
 * days would still find valid, were the rollback not noticed. */
static Env *
rollback_env_new (void)
{
  Env *env = env_new ();
  gint64 issued = now_s () - 40 * DAY;
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, issued, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_free (put (env->license_dir, name, bytes));
  return env;
}

static void
assert_rollback (const char *line)
{
  if (!g_str_has_prefix (line, "ERR clock-rollback ")
      || strstr (line, "the system clock is behind the last time an offline license was used on "
                       "this machine by ")
             == NULL)
    g_error ("expected a clock rollback, got: %s", line);
}

/* Sanity check of the attack tool: the faked clock reaches the holder. */
static void
test_faketime_works (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_autofree char *line = holder_under_faketime (env, "+100d");
  g_assert_true (g_str_has_prefix (line, "ERR expired "));
}

static void
test_rollback (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_true (tessera_license_release (license, NULL, NULL));
  gint64 seen = read_state (env);
  g_assert_cmpint (seen, >, now_s () - 60);

  g_autofree char *line = holder_under_faketime (env, "-30d");
  assert_rollback (line);
  /* 30 days, less the seconds between the activation and the holder's
   * clock (a slow build, ASan or valgrind, crosses a second). */
  if (strstr (line, "by 30 days") == NULL && strstr (line, "by 29 days 23 hours") == NULL)
    g_error ("expected a rollback by 30 days: %s", line);

  /* Within the tolerance (600 s): no false alarm. */
  g_autofree char *small = holder_under_faketime (env, "-5m");
  g_assert_true (g_str_has_prefix (small, "OK "));
  g_assert_cmpint (read_state (env), >=, seen);
}

/* Deleting the state does not help: the file's ctime (set by the kernel
 * when it was put in place) proves the time had passed. */
static void
test_rollback_state_deleted (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_true (tessera_license_release (license, NULL, NULL));
  g_autofree char *state = g_build_filename (env->state_dir, "offline-clock", NULL);
  g_assert_cmpint (g_unlink (state), ==, 0);

  g_autofree char *line = holder_under_faketime (env, "-30d");
  assert_rollback (line);
  /* The state learned what the file proves. */
  gint64 proven = read_state (env);
  g_assert_cmpint (proven, >, now_s () - 600);

  /* Back before the license's issue time: refused as well. */
  g_assert_cmpint (g_unlink (state), ==, 0);
  g_autofree char *before = holder_under_faketime (env, "-50d");
  assert_rollback (before);
}

static void
test_rollback_state_corrupt (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_assert_cmpint (g_mkdir (env->state_dir, 0700), ==, 0);
  g_autofree char *state = test_write_file (env->state_dir, "offline-clock", "garbage\x01\n");

  g_autofree char *line = holder_under_faketime (env, "-30d");
  assert_rollback (line);
  /* Rewritten, with what the license file proves. */
  g_assert_cmpint (read_state (env), >, now_s () - 600);

  g_assert_true (g_file_set_contents (state, "tessera-offline-clock 1 12x\n", -1, NULL));
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_cmpint (read_state (env), >=, now_s () - 5);
}

/* The clock going back while a session runs: validate notices. The holder
 * reads its faked time from a file (libfaketime's FAKETIME_TIMESTAMP_FILE)
 * that the test changes between activation and validation. */
static void
test_rollback_during_session (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_autofree char *faketime = faketime_path ();
  g_autofree char *stamp = test_write_file (env->dir, "faketime", "+0\n");
  g_autofree char *stamp_env = g_strconcat ("FAKETIME_TIMESTAMP_FILE=", stamp, NULL);
  const char *const prefix[]
      = { faketime, "-f", "+0", "env", "-u", "FAKETIME", stamp_env, "FAKETIME_NO_CACHE=1", NULL };
  g_auto (GStrv) envp = faketime_environ ();
  Holder *h = holder_spawn_full (prefix, env->config_path, "KRE", envp);
  h->line = holder_read_line (h);
  g_assert_nonnull (h->line);
  g_assert_true (g_str_has_prefix (h->line, "OK "));
  g_autofree char *ok = holder_validate (h);
  g_assert_cmpstr (ok, ==, "OK");

  g_assert_true (g_file_set_contents (stamp, "-30d\n", -1, NULL));
  g_autofree char *answer = holder_validate (h);
  assert_rollback (answer);
  g_autofree char *again = holder_validate (h); /* terminal: it stays invalid */
  assert_rollback (again);
  g_assert_cmpint (holder_finish (h), ==, 0);
}

/* A clock state that cannot be written never blocks a valid license, as
 * long as sessions can still be counted: the lock folder (lock-dir) is
 * usable. Without lock-dir, the locks live in the state folder, and a state
 * folder that cannot be written refuses every license (fail safe). */
static void
test_state_unwritable (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *blocker = test_write_file (env->dir, "blocker", "a file, not a folder\n");
  g_autofree char *locks = g_build_filename (env->dir, "locks", NULL);
  g_autofree char *config
      = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                         "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s/sub\nlock-dir=%s\n",
                         env->license_dir, env->key_path, blocker, locks);
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (locks, G_FILE_TEST_IS_DIR));
  g_assert_true (tessera_license_release (license, NULL, NULL));

  g_autofree char *default_config
      = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                         "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s/sub\n",
                         env->license_dir, env->key_path, blocker);
  g_autoptr (TesseraEngine) defaults = engine_from (default_config);
  g_autofree char *default_locks = g_build_filename (blocker, "sub", "offline-locks", NULL);
  assert_lock_dir_refused (defaults, NULL, default_locks, "state folder unwritable, no lock-dir");
}

int
main (int argc, char **argv)
{
  offline_test_init (&argc, &argv);

  g_test_add_func ("/offline/clock/faketime-works", test_faketime_works);
  g_test_add_func ("/offline/clock/rollback", test_rollback);
  g_test_add_func ("/offline/clock/state-deleted", test_rollback_state_deleted);
  g_test_add_func ("/offline/clock/state-corrupt", test_rollback_state_corrupt);
  g_test_add_func ("/offline/clock/during-session", test_rollback_during_session);
  g_test_add_func ("/offline/clock/state-unwritable", test_state_unwritable);

  return offline_test_run ();
}
