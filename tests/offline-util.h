/* Shared by the offline provider's tests (test-offline*.c: plugins/offline,
 * docs/offline.md), which run the real engine and the built plugin with
 * license files issued for this machine's real ID: the environment (a key,
 * a license folder, a state folder, a config), issuing and placing files,
 * activation that must succeed or be refused, the clock state, and the
 * session holder spawned as a real process (tests/offline-holder.c). */
#pragma once

#include "test-util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define DAY (24 * 3600)
#define OTHER_MACHINE "AAAA-BBBB-CCCC-DDDD"

/* This machine's ID for the user running the tests: what files are issued for. */
static char *machine_id;

/* ---- environment: a key, a license folder, a state folder, a config ---- */

typedef struct
{
  char *dir;
  char *license_dir;
  char *state_dir;
  char *keys_dir;
  char *key_path;
  char *config;      /* the configuration text */
  char *config_path; /* the same, in a file (for holders) */
  TesseraSigningKey *key;
} Env;

static inline TesseraSigningKey *
key_new_saved (const char *dir, const char *name, char **path_out)
{
  TesseraSigningKey *key = tessera_signing_key_generate ();
  g_assert_nonnull (key);
  g_autofree char *line = tessera_signing_key_dup_public (key);
  char *path = test_write_file (dir, name, line);
  if (path_out)
    *path_out = path;
  else
    g_free (path);
  return key;
}

static inline void
env_write_config (Env *env, const char *extra)
{
  g_free (env->config);
  env->config
      = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                         "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n%s",
                         env->license_dir, env->key_path, env->state_dir, extra ? extra : "");
  g_free (env->config_path);
  env->config_path = test_write_file (env->dir, "tessera.conf", env->config);
}

static inline Env *
env_new (void)
{
  Env *env = g_new0 (Env, 1);
  env->dir = test_tmpdir_new ();
  env->license_dir = g_build_filename (env->dir, "license", NULL);
  env->state_dir = g_build_filename (env->dir, "state", NULL);
  env->keys_dir = g_build_filename (env->dir, "keys", NULL);
  g_assert_cmpint (g_mkdir (env->license_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (env->keys_dir, 0755), ==, 0);
  env->key = key_new_saved (env->keys_dir, "issuer.pub", &env->key_path);
  env_write_config (env, NULL);
  return env;
}

static inline void
env_free (Env *env)
{
  test_rm_rf (env->dir);
  g_free (env->dir);
  g_free (env->license_dir);
  g_free (env->state_dir);
  g_free (env->keys_dir);
  g_free (env->key_path);
  g_free (env->config);
  g_free (env->config_path);
  tessera_signing_key_unref (env->key);
  g_free (env);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Env, env_free)

static inline TesseraEngine *
engine_from (const char *config)
{
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = tessera_engine_new_from_data (config, -1, &error);
  g_assert_no_error (error);
  return engine;
}

static inline TesseraEngine *
env_engine (Env *env)
{
  return engine_from (env->config);
}

static inline gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* A license file's bytes; @expires_at 0: the default (60 days). */
/* @id: the license ID, as an issuer reissuing (renewing) a license keeps it. */
static inline GBytes *
issue_id (TesseraSigningKey *key, const char *product, const char *machine, gint64 issued_at,
          gint64 expires_at, const char *id)
{
  const char *const entitlements[] = { "reports", "parallel-run", NULL };
  TesseraLicfileInfo info = {
    .license_id = id,
    .org = "Example Org",
    .product = product,
    .machine_id = machine,
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = issued_at,
    .expires_at = expires_at,
    .subscription_end = issued_at + 365 * DAY,
    .entitlements = entitlements,
  };
  g_autoptr (GError) error = NULL;
  GBytes *bytes = tessera_licfile_sign (key, &info, &error);
  g_assert_no_error (error);
  return bytes;
}

static inline GBytes *
issue (TesseraSigningKey *key, const char *product, const char *machine, gint64 issued_at,
       gint64 expires_at)
{
  static gint counter;
  g_autofree char *id = g_strdup_printf ("LIC-%d", g_atomic_int_add (&counter, 1));
  return issue_id (key, product, machine, issued_at, expires_at, id);
}

static inline GBytes *
issue_valid (Env *env, const char *product)
{
  return issue (env->key, product, machine_id, now_s () - 60, 0);
}

static inline char *
put_bytes (const char *dir, const char *name, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  return path;
}

static inline char *
put (const char *dir, const char *name, GBytes *bytes)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  return put_bytes (dir, name, data, len);
}

/* "PRODUCT_ID.lic" or "PRODUCT_ID.SERIAL.lic" for this machine. */
static inline char *
own_name (const char *product, guint serial)
{
  return tessera_licfile_file_name (product, machine_id, serial);
}

/* Puts a valid file for this machine into the folder; returns its path. */
static inline char *
put_valid (Env *env, const char *product, guint serial)
{
  g_autoptr (GBytes) bytes = issue_valid (env, product);
  g_autofree char *name = own_name (product, serial);
  return put (env->license_dir, name, bytes);
}

static inline TesseraLicense *
activate_ok (TesseraEngine *engine, const char *product)
{
  g_autoptr (GError) error = NULL;
  TesseraLicense *license = tessera_engine_activate (engine, product, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (license);
  return license;
}

/* Activation must fail with @code (and @fragment in the message, if given). */
static inline void
assert_refused (TesseraEngine *engine, const char *product, TesseraActivateOptions *options,
                TesseraError code, const char *fragment, const char *context)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_engine_activate (engine, product, options, NULL, &error);
  if (license != NULL)
    g_error ("%s: a license was granted; expected %s", context, tessera_error_to_nick (code));
  if (!g_error_matches (error, TESSERA_ERROR, (gint) code)
      || (fragment != NULL && strstr (error->message, fragment) == NULL))
    g_error ("%s: expected %s%s%s, got %s: %s", context, tessera_error_to_nick (code),
             fragment ? " saying " : "", fragment ? fragment : "",
             error->domain == TESSERA_ERROR ? tessera_error_to_nick (error->code) : "?",
             error->message);
  g_test_message ("%s: %s", context, error->message);
}

static inline gint64
read_state (Env *env)
{
  g_autofree char *path = g_build_filename (env->state_dir, "offline-clock", NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  gint64 value = -1;
  g_assert_true (g_str_has_prefix (text, "tessera-offline-clock 1 "));
  g_assert_true (g_str_has_suffix (text, "\n"));
  value = g_ascii_strtoll (text + strlen ("tessera-offline-clock 1 "), NULL, 10);
  g_assert_cmpint (value, >, 0);
  return value;
}

/* Writes a clock state far ahead of now: the clock looks rolled back. */
static inline void
put_future_state (Env *env)
{
  g_assert_cmpint (g_mkdir_with_parents (env->state_dir, 0700), ==, 0);
  g_autofree char *text
      = g_strdup_printf ("tessera-offline-clock 1 %" G_GINT64_FORMAT "\n", now_s () + 3 * DAY);
  g_autofree char *path = test_write_file (env->state_dir, "offline-clock", text);
}

static inline GBytes *
modified (GBytes *orig, gsize offset, gsize remove, const char *insert)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (orig, &len);
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, data, (guint) MIN (offset, len));
  if (insert)
    g_byte_array_append (out, (const guint8 *) insert, (guint) strlen (insert));
  if (offset + remove < len)
    g_byte_array_append (out, data + offset + remove, (guint) (len - offset - remove));
  return g_byte_array_free_to_bytes (out);
}

/* ---- real processes: tests/offline-holder.c ---- */

typedef struct
{
  GPid pid;
  int in_fd;
  FILE *out;
  char *line; /* the first line it printed */
} Holder;

static inline const char *
holder_path (void)
{
  const char *path = g_getenv ("TESSERA_TEST_OFFLINE_HOLDER");
  g_assert_nonnull (path);
  return path;
}

static inline char *
holder_read_line (Holder *h)
{
  char buf[4096];
  if (fgets (buf, sizeof buf, h->out) == NULL)
    return NULL;
  g_strchomp (buf);
  return g_strdup (buf);
}

/* Spawns @prefix (e.g. faketime and its options, may be NULL) + the holder
 * and reads its first line. */
static inline Holder *
holder_spawn_full (const char *const *prefix, const char *config_path, const char *product,
                   char **envp)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  for (guint i = 0; prefix && prefix[i]; i++)
    g_ptr_array_add (argv, (gpointer) prefix[i]);
  g_ptr_array_add (argv, (gpointer) holder_path ());
  g_ptr_array_add (argv, (gpointer) config_path);
  g_ptr_array_add (argv, (gpointer) product);
  g_ptr_array_add (argv, NULL);

  Holder *h = g_new0 (Holder, 1);
  int out_fd = -1;
  g_autoptr (GError) error = NULL;
  g_spawn_async_with_pipes (NULL, (char **) argv->pdata, envp,
                            G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES, NULL, NULL, &h->pid,
                            &h->in_fd, &out_fd, NULL, &error);
  g_assert_no_error (error);
  h->out = fdopen (out_fd, "r");
  g_assert_nonnull (h->out);
  return h;
}

static inline Holder *
holder_spawn (const char *config_path, const char *product)
{
  Holder *h = holder_spawn_full (NULL, config_path, product, NULL);
  h->line = holder_read_line (h);
  g_assert_nonnull (h->line);
  return h;
}

/* Closes its stdin (it releases and exits) and reaps it. */
static inline int
holder_finish (Holder *h)
{
  if (h->in_fd >= 0)
    close (h->in_fd);
  int status = 0;
  g_assert_cmpint (waitpid (h->pid, &status, 0), ==, h->pid);
  g_spawn_close_pid (h->pid);
  fclose (h->out);
  g_free (h->line);
  g_free (h);
  return status;
}

static inline void
holder_kill (Holder *h)
{
  g_assert_cmpint (kill (h->pid, SIGKILL), ==, 0);
  int status = holder_finish (h);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
}

/* Asks a holder to validate; returns its answer line. */
static inline char *
holder_validate (Holder *h)
{
  g_assert_cmpint (write (h->in_fd, "validate\n", 9), ==, 9);
  char *line = holder_read_line (h);
  g_assert_nonnull (line);
  return line;
}

/* Activation must fail for want of the lock folder @lock_dir. */
static inline void
assert_lock_dir_refused (TesseraEngine *engine, TesseraActivateOptions *options,
                         const char *lock_dir, const char *context)
{
  g_autofree char *fragment = g_strdup_printf ("in the offline license lock folder %s: ", lock_dir);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_PERMISSION_DENIED, fragment, context);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_PERMISSION_DENIED,
                  "no offline license is granted without it", context);
}

/* Every program's start: GTest, and this machine's ID (which files are
 * issued for). */
static inline void
offline_test_init (int *argc, char ***argv)
{
  g_test_init (argc, argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  machine_id = g_strdup (tessera_fingerprint_get_id (fp));
}

/* Adds a case of @func for each element of the array @cases (each with a
 * name), as @prefix/NAME. */
#define OFFLINE_ADD_CASES(prefix, cases, func)                                                     \
  for (guint i_ = 0; i_ < G_N_ELEMENTS (cases); i_++)                                              \
    {                                                                                              \
      g_autofree char *path_ = g_strdup_printf ("%s/%s", prefix, (cases)[i_].name);                \
      g_test_add_data_func_full (path_, (gpointer) & (cases)[i_], func, NULL);                     \
    }

/* Runs the cases added; every program's end. */
static inline int
offline_test_run (void)
{
  int rc = g_test_run ();
  g_free (machine_id);
  return rc;
}
