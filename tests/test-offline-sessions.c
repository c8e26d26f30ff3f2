/* The offline provider's sessions: in one process, in threads and in real
 * processes (tests/offline-holder.c) killed with SIGKILL; copies of a file
 * are one license; the lock folder and its files (tests/offline-util.h). */
#include "offline-util.h"

/* ---- sessions in one process ---- */

static void
test_release_frees (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  TesseraLicense *license = activate_ok (engine, "KRE");
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *fragment
      = g_strdup_printf ("the offline KRE license for this machine is in use (%s)", name);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, fragment,
                  "one file, second session");

  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  license = activate_ok (engine, "KRE");
  /* Dropping the last reference releases too. */
  tessera_license_unref (license);
  license = activate_ok (engine, "KRE");
  tessera_license_unref (license);
}

static void
test_quota_in_process (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *a = put_valid (env, "KRE", 0);
  g_autofree char *b = put_valid (env, "KRE", 1);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) first = activate_ok (engine, "KRE");
  g_autoptr (TesseraLicense) second = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (first, "offline.file"), !=,
                   tessera_license_get_attribute (second, "offline.file"));
  g_autofree char *name_a = g_path_get_basename (a), *name_b = g_path_get_basename (b);
  g_autofree char *fragment = g_strdup_printf (
      "all 2 offline KRE licenses for this machine are in use (%s, %s): end a session that "
      "holds one, or ask your administrator for another license file for machine ID %s",
      name_b, name_a, machine_id);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, fragment, "third session");

  /* An invalid file does not count toward the quota. */
  g_autofree char *name = own_name ("KRE", 3);
  g_autofree char *bad = put_bytes (env->license_dir, name, "garbage", 7);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, "all 2 offline",
                  "third session with a bad file");
}

typedef struct
{
  TesseraEngine *engine;
  GMutex lock;
  GCond cond;
  guint activated;
  guint total;
  GPtrArray *files;
  guint quota_errors;
} ThreadShared;

static gpointer
session_thread (gpointer data)
{
  ThreadShared *shared = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_engine_activate (shared->engine, "KRE", NULL, NULL, &error);

  g_mutex_lock (&shared->lock);
  if (license)
    g_ptr_array_add (shared->files,
                     g_strdup (tessera_license_get_attribute (license, "offline.file")));
  else if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED))
    shared->quota_errors++;
  else
    g_error ("unexpected: %s", error->message);
  /* Everyone holds on until every thread has tried. */
  shared->activated++;
  g_cond_broadcast (&shared->cond);
  while (shared->activated < shared->total)
    g_cond_wait (&shared->cond, &shared->lock);
  g_mutex_unlock (&shared->lock);

  for (guint i = 0; license && i < 200; i++)
    {
      g_assert_true (tessera_license_validate (license, NULL, &error));
      g_assert_no_error (error);
    }
  if (license)
    g_assert_true (tessera_license_release (license, NULL, NULL));
  return NULL;
}

static void
test_threads (void)
{
  g_autoptr (Env) env = env_new ();
  for (guint i = 0; i < 4; i++)
    g_free (put_valid (env, "KRE", i));
  g_autoptr (TesseraEngine) engine = env_engine (env);
  ThreadShared shared = { .engine = engine, .total = 8 };
  g_mutex_init (&shared.lock);
  g_cond_init (&shared.cond);
  shared.files = g_ptr_array_new_with_free_func (g_free);
  GThread *threads[8];
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("session", session_thread, &shared);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpuint (shared.files->len, ==, 4);
  g_assert_cmpuint (shared.quota_errors, ==, 4);
  g_ptr_array_sort (shared.files, (GCompareFunc) g_strcmp0);
  for (guint i = 1; i < shared.files->len; i++)
    g_assert_cmpstr (shared.files->pdata[i - 1], !=, shared.files->pdata[i]);
  g_ptr_array_unref (shared.files);
  g_cond_clear (&shared.cond);
  g_mutex_clear (&shared.lock);

  /* Every file is free again. */
  g_autoptr (TesseraLicense) again = activate_ok (engine, "KRE");
}

/* N files, N+1 processes: N sessions and one quota-exceeded; a session
 * killed with SIGKILL frees its file at once. */
static void
test_processes (void)
{
  g_autoptr (Env) env = env_new ();
  for (guint i = 0; i < 3; i++)
    g_free (put_valid (env, "KRE", i));

  Holder *holders[4];
  for (guint i = 0; i < 4; i++)
    holders[i] = holder_spawn_full (NULL, env->config_path, "KRE", NULL);
  g_autoptr (GHashTable) files = g_hash_table_new (g_str_hash, g_str_equal);
  Holder *failed = NULL, *victim = NULL;
  for (guint i = 0; i < 4; i++)
    {
      holders[i]->line = holder_read_line (holders[i]);
      g_assert_nonnull (holders[i]->line);
      g_test_message ("holder %u: %s", i, holders[i]->line);
      if (g_str_has_prefix (holders[i]->line, "OK "))
        {
          g_assert_true (g_hash_table_add (files, holders[i]->line + 3));
          victim = holders[i];
        }
      else
        {
          g_assert_null (failed);
          failed = holders[i];
          g_assert_true (g_str_has_prefix (
              failed->line, "ERR quota-exceeded offline: all 3 offline KRE licenses for this "
                            "machine are in use"));
        }
    }
  g_assert_cmpuint (g_hash_table_size (files), ==, 3);
  g_assert_nonnull (failed);
  g_hash_table_remove_all (files);
  for (guint i = 0; i < 4; i++)
    if (holders[i] == victim || holders[i] == failed)
      holders[i] = NULL;
  int status = holder_finish (failed);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);

  /* The kernel drops the lock of a killed process: its file is free. */
  g_autofree char *victim_file = g_strdup (victim->line + 3);
  holder_kill (victim);
  Holder *next = holder_spawn (env->config_path, "KRE");
  g_assert_cmpstr (next->line + 3, ==, victim_file);
  g_autofree char *answer = holder_validate (next);
  g_assert_cmpstr (answer, ==, "OK");

  g_assert_cmpint (holder_finish (next), ==, 0);
  for (guint i = 0; i < 4; i++)
    if (holders[i] != NULL)
      {
        status = holder_finish (holders[i]);
        g_assert_true (WIFEXITED (status));
        g_assert_cmpint (WEXITSTATUS (status), ==, 0);
      }
}

/* ---- sessions per license: copies of a file are one license ---- */

/* Copies @src (byte for byte) to @name in the license folder. */
static char *
copy_as (Env *env, const char *src, const char *name)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (src, &contents, &len, NULL));
  return put_bytes (env->license_dir, name, contents, len);
}

/* "KRE_<ID><suffix>" for this machine. */
static char *
own_name_with (const char *product, const char *suffix)
{
  return g_strdup_printf ("%s_%s%s", product, machine_id, suffix);
}

/* The lock file of a license ID in @lock_dir. */
static char *
lock_path (const char *lock_dir, const char *license_id)
{
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, license_id, -1);
  g_autofree char *name = g_strconcat (digest, ".lock", NULL);
  return g_build_filename (lock_dir, name, NULL);
}

/* A file and a byte-identical copy under another name (and under the .N.lic
 * suffix): one license, one session, in one process. */
static void
test_copy_in_process (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *orig = put_valid (env, "KRE", 0);
  g_autofree char *copy_name = own_name_with ("KRE", ".copy.lic");
  g_autofree char *copy = copy_as (env, orig, copy_name);
  g_autoptr (TesseraEngine) engine = env_engine (env);

  TesseraLicense *first = activate_ok (engine, "KRE");
  /* In name order, "KRE_ID.copy.lic" comes before "KRE_ID.lic". */
  g_assert_cmpstr (tessera_license_get_attribute (first, "offline.file"), ==, copy);
  g_autofree char *orig_name = g_path_get_basename (orig);
  g_autofree char *fragment
      = g_strdup_printf ("the offline KRE license for this machine is in use (%s = %s; files that "
                         "are copies of one license (=) are that one license): end the session "
                         "that holds it, or ask your administrator for another license file for "
                         "machine ID %s",
                         copy_name, orig_name, machine_id);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, fragment, "copy of the file");

  /* Named explicitly, the copy is the same license too. */
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
  tessera_activate_options_set (options, "offline-file", orig);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_QUOTA_EXCEEDED,
                  "the offline KRE license for this machine is in use", "explicit copy");

  /* Released: the license is free again, through either file. */
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_release (first, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (first);
  g_autoptr (TesseraLicense) again = tessera_engine_activate (engine, "KRE", options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (again, "offline.file"), ==, orig);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED,
                  "the offline KRE license for this machine is in use", "copy, second round");

  /* The same bytes under the name tessera-license gives a second file, and
   * a second, distinct license: 4 files, 2 licenses, 2 sessions. */
  g_autofree char *serial_name = own_name ("KRE", 2);
  g_autofree char *serial = copy_as (env, orig, serial_name);
  g_autofree char *other = put_valid (env, "KRE", 3);
  g_autoptr (TesseraLicense) second = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (second, "offline.file"), ==, other);
  g_assert_cmpstr (tessera_license_get_id (second), !=, tessera_license_get_id (again));
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED,
                  "all 2 offline KRE licenses for this machine are in use", "4 files, 2 licenses");
  g_autofree char *copies
      = g_strdup_printf ("in use (%s = %s = %s, ", serial_name, copy_name, orig_name);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, copies, "4 files, 2 licenses");
}

/* The lock files: one per license ID, in the lock folder (0700), 0600,
 * named for the SHA-256 of the ID, kept after release. */
static void
test_lock_files (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autofree char *lock_dir = g_build_filename (env->state_dir, "offline-locks", NULL);
  g_assert_false (g_file_test (lock_dir, G_FILE_TEST_EXISTS));

  TesseraLicense *license = activate_ok (engine, "KRE");
  g_autofree char *lock = lock_path (lock_dir, tessera_license_get_id (license));
  GStatBuf st;
  g_assert_cmpint (g_stat (lock_dir, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_lstat (lock, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (st.st_size, ==, 0);
  /* Held: another open file description cannot lock it. */
  int fd = open (lock, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX | LOCK_NB), ==, -1);
  g_assert_cmpint (errno, ==, EWOULDBLOCK);

  g_assert_true (tessera_license_release (license, NULL, NULL));
  tessera_license_unref (license);
  /* Released, and still there: deleting it could give a license two holders. */
  g_assert_true (g_file_test (lock, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (flock (fd, LOCK_EX | LOCK_NB), ==, 0);
  /* Whoever holds the license ID's lock holds the license: the file alone,
   * unlocked, is no session. */
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, "is in use",
                  "license lock held elsewhere");
  close (fd);
  g_autoptr (TesseraLicense) again = activate_ok (engine, "KRE");

  /* A configured lock-dir (relative to the config file) is used instead. */
  g_autofree char *conf = g_strdup_printf ("%slock-dir=my-locks\n", env->config);
  g_autofree char *conf_path = test_write_file (env->dir, "locks.conf", conf);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) configured = tessera_engine_new (conf_path, &error);
  g_assert_no_error (error);
  g_autofree char *my_locks = g_build_filename (env->dir, "my-locks", NULL);
  g_autofree char *other = put_valid (env, "KRE", 1);
  g_autoptr (TesseraLicense) b = activate_ok (configured, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (b, "offline.file"), ==, other);
  g_autofree char *my_lock = lock_path (my_locks, tessera_license_get_id (b));
  g_assert_true (g_file_test (my_lock, G_FILE_TEST_IS_REGULAR));
}

/* 2 licenses, each with a copy (4 files), 4 processes: 2 sessions, 2
 * quota-exceeded counting 2 licenses; a session killed with SIGKILL frees
 * its license at once. */
static void
test_copies_processes (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *a = put_valid (env, "KRE", 0);
  g_autofree char *b = put_valid (env, "KRE", 2);
  g_autofree char *a_copy_name = own_name_with ("KRE", ".copy.lic");
  g_autofree char *b_copy_name = own_name_with ("KRE", ".2.copy.lic");
  g_autofree char *a_copy = copy_as (env, a, a_copy_name);
  g_autofree char *b_copy = copy_as (env, b, b_copy_name);
  /* file -> which license (1 or 2) */
  g_autoptr (GHashTable) license_of = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (license_of, a, GUINT_TO_POINTER (1));
  g_hash_table_insert (license_of, a_copy, GUINT_TO_POINTER (1));
  g_hash_table_insert (license_of, b, GUINT_TO_POINTER (2));
  g_hash_table_insert (license_of, b_copy, GUINT_TO_POINTER (2));

  Holder *holders[4];
  for (guint i = 0; i < 4; i++)
    holders[i] = holder_spawn_full (NULL, env->config_path, "KRE", NULL);
  Holder *ok[2] = { NULL, NULL };
  guint n_ok = 0, n_quota = 0;
  gboolean held[3] = { FALSE, FALSE, FALSE };
  for (guint i = 0; i < 4; i++)
    {
      holders[i]->line = holder_read_line (holders[i]);
      g_assert_nonnull (holders[i]->line);
      g_test_message ("holder %u: %s", i, holders[i]->line);
      if (g_str_has_prefix (holders[i]->line, "OK "))
        {
          guint lic = GPOINTER_TO_UINT (g_hash_table_lookup (license_of, holders[i]->line + 3));
          g_assert_cmpuint (lic, >=, 1);
          g_assert_false (held[lic]); /* never two sessions of one license */
          held[lic] = TRUE;
          g_assert_cmpuint (n_ok, <, 2);
          ok[n_ok++] = holders[i];
        }
      else
        {
          if (!g_str_has_prefix (holders[i]->line,
                                 "ERR quota-exceeded offline: all 2 offline KRE licenses for "
                                 "this machine are in use ("))
            g_error ("holder %u: expected quota-exceeded for 2 licenses, got: %s", i,
                     holders[i]->line);
          n_quota++;
        }
    }
  g_assert_cmpuint (n_ok, ==, 2);
  g_assert_cmpuint (n_quota, ==, 2);
  for (guint i = 0; i < 4; i++)
    if (holders[i] != ok[0] && holders[i] != ok[1])
      {
        int status = holder_finish (holders[i]);
        g_assert_true (WIFEXITED (status));
        g_assert_cmpint (WEXITSTATUS (status), ==, 1);
      }

  /* SIGKILL: the kernel drops both locks; the license is free at once,
   * through either of its files. */
  guint victim_license = GPOINTER_TO_UINT (g_hash_table_lookup (license_of, ok[0]->line + 3));
  holder_kill (ok[0]);
  Holder *next = holder_spawn (env->config_path, "KRE");
  g_test_message ("after SIGKILL: %s", next->line);
  g_assert_true (g_str_has_prefix (next->line, "OK "));
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (license_of, next->line + 3)), ==,
                    victim_license);
  g_autofree char *answer = holder_validate (next);
  g_assert_cmpstr (answer, ==, "OK");
  /* And full again. */
  Holder *extra = holder_spawn (env->config_path, "KRE");
  g_assert_true (g_str_has_prefix (extra->line, "ERR quota-exceeded offline: all 2 offline KRE "
                                                "licenses for this machine are in use"));
  int status = holder_finish (extra);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);

  g_assert_cmpint (holder_finish (next), ==, 0);
  g_assert_cmpint (holder_finish (ok[1]), ==, 0);
}

/* A lock folder that cannot be written: no session that cannot be counted.
 * Run as an unprivileged user (the suite runs as root in CI). */
static void
test_lock_dir_unwritable (void)
{
  if (!g_test_subprocess ())
    {
      test_trap_unprivileged (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  test_drop_privileges ();
  g_assert_cmpuint (geteuid (), !=, 0);
  /* Files are issued for the machine ID of the user running. */
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  g_free (machine_id);
  machine_id = g_strdup (tessera_fingerprint_get_id (fp));

  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autofree char *locks = g_build_filename (env->dir, "locks", NULL);
  g_assert_cmpint (g_mkdir (locks, 0500), ==, 0);
  g_autofree char *extra = g_strdup_printf ("lock-dir=%s\n", locks);
  env_write_config (env, extra);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  assert_lock_dir_refused (engine, NULL, locks, "read-only lock folder");
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
  tessera_activate_options_set (options, "offline-file", path);
  assert_lock_dir_refused (engine, options, locks, "read-only lock folder, explicit file");

  /* The default, in a state folder that cannot be written. */
  g_assert_cmpint (g_mkdir (env->state_dir, 0500), ==, 0);
  env_write_config (env, NULL);
  g_autoptr (TesseraEngine) defaults = env_engine (env);
  g_autofree char *default_locks = g_build_filename (env->state_dir, "offline-locks", NULL);
  g_autofree char *fragment = g_strdup_printf (
      "cannot create the offline license lock folder %s: Permission denied", default_locks);
  assert_refused (defaults, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, fragment,
                  "read-only state folder");

  /* Only the folder stood in the way. */
  g_assert_cmpint (g_chmod (locks, 0700), ==, 0);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
}

/* A lock folder that is a file, a lock file that is a link or a FIFO:
 * refused as well. */
static void
test_lock_dir_broken (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autofree char *blocker = test_write_file (env->dir, "locks", "a file, not a folder\n");
  g_autofree char *extra = g_strdup_printf ("lock-dir=%s\n", blocker);
  env_write_config (env, extra);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  assert_lock_dir_refused (engine, NULL, blocker, "lock folder is a file");
  g_autofree char *below = g_strdup_printf ("lock-dir=%s/sub\n", blocker);
  env_write_config (env, below);
  g_autoptr (TesseraEngine) engine_below = env_engine (env);
  g_autofree char *below_dir = g_build_filename (blocker, "sub", NULL);
  assert_lock_dir_refused (engine_below, NULL, below_dir, "lock folder below a file");

  /* The lock file itself replaced by a symbolic link, then by a FIFO. */
  g_assert_cmpint (g_unlink (blocker), ==, 0);
  g_assert_cmpint (g_mkdir (blocker, 0700), ==, 0);
  env_write_config (env, extra);
  g_autoptr (TesseraEngine) engine2 = env_engine (env);
  TesseraLicense *license = activate_ok (engine2, "KRE");
  g_autofree char *lock = lock_path (blocker, tessera_license_get_id (license));
  tessera_license_unref (license);
  g_assert_cmpint (g_unlink (lock), ==, 0);
  g_autofree char *target = g_build_filename (env->dir, "elsewhere", NULL);
  g_assert_cmpint (symlink (target, lock), ==, 0);
  assert_refused (engine2, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, "is a symbolic link",
                  "lock file is a link");
  g_assert_false (g_file_test (target, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_unlink (lock), ==, 0);
  g_assert_cmpint (mkfifo (lock, 0600), ==, 0);
  assert_refused (engine2, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, "is not a regular file",
                  "lock file is a FIFO");
}

int
main (int argc, char **argv)
{
  offline_test_init (&argc, &argv);

  g_test_add_func ("/offline/sessions/release-frees", test_release_frees);
  g_test_add_func ("/offline/sessions/quota", test_quota_in_process);
  g_test_add_func ("/offline/sessions/threads", test_threads);
  g_test_add_func ("/offline/sessions/processes", test_processes);
  g_test_add_func ("/offline/sessions/copy-in-process", test_copy_in_process);
  g_test_add_func ("/offline/sessions/lock-files", test_lock_files);
  g_test_add_func ("/offline/sessions/copies-processes", test_copies_processes);
  g_test_add_func ("/offline/sessions/lock-dir-unwritable", test_lock_dir_unwritable);
  g_test_add_func ("/offline/sessions/lock-dir-broken", test_lock_dir_broken);

  return offline_test_run ();
}
