/* The offline provider's configuration (its keys, defaults, relative
 * paths), key rotation, and what validate notices about a file in use
 * (tests/offline-util.h). */
#include "offline-util.h"
#include "call-counter.h"

/* ---- configuration ---- */

typedef struct
{
  const char *name;
  const char *extra; /* @DIR@: the test dir */
  gboolean replace_keys;
  const char *message;
} ConfigCase;

static const ConfigCase config_cases[] = {
  { "missing-key-file", "trusted-keys=@DIR@/nope.pub\n", TRUE, "trusted-keys: " },
  { "empty-trusted-keys", "trusted-keys= ; \n", TRUE, "trusted-keys is empty" },
  { "key-dir-without-keys", "trusted-keys=@DIR@/license\n", TRUE, "configure trusted-keys" },
  { "not-a-key", "trusted-keys=@DIR@/tessera.conf\n", TRUE, "trusted-keys: " },
  { "relative-from-memory", "trusted-keys=keys/issuer.pub\n", TRUE,
    "relative path 'keys/issuer.pub' needs a config file" },
  { "relative-lock-dir-from-memory", "lock-dir=locks\n", FALSE,
    "lock-dir: relative path 'locks' needs a config file" },
  { "empty-lock-dir", "lock-dir=\n", FALSE, "lock-dir: the path is empty" },
  { "unknown-key", "licence-dir=/tmp\n", FALSE, "has no key 'licence-dir'" },
  { "bad-tolerance", "clock-tolerance=soon\n", FALSE, "clock-tolerance" },
  { "negative-tolerance", "clock-tolerance=-5\n", FALSE, "is not between 0 and" },
};

static void
test_config (gconstpointer data)
{
  const ConfigCase *c = data;
  g_autoptr (Env) env = env_new ();
  g_auto (GStrv) parts = g_strsplit (c->extra, "@DIR@", -1);
  g_autofree char *extra = g_strjoinv (env->dir, parts);
  g_autofree char *config = NULL;
  if (c->replace_keys)
    config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                              "license-dir=%s\nstate-dir=%s\n%s",
                              env->license_dir, env->state_dir, extra);
  else
    config = g_strconcat (env->config, extra, NULL);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (GError) error = NULL;
  g_assert_false (tessera_engine_load (engine, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, c->message));
}

/* Without trusted-keys the installed key folders are used; here there are
 * none, which is a configuration error saying what to configure. */
static void
test_config_no_keys (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                                             "license-dir=%s\nstate-dir=%s\n",
                                             env->license_dir, env->state_dir);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (GError) error = NULL;
  gboolean loaded = tessera_engine_load (engine, &error);
  if (loaded)
    {
      g_test_skip ("trusted keys are installed on this machine");
      return;
    }
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "configure trusted-keys"));
}

/* Relative paths in a config file are relative to it, each list element too. */
static void
test_config_relative (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (TesseraSigningKey) second = NULL;
  g_autofree char *subdir = g_build_filename (env->keys_dir, "more", NULL);
  g_assert_cmpint (g_mkdir (subdir, 0755), ==, 0);
  second = key_new_saved (subdir, "second.pub", NULL);
  g_autofree char *conf
      = test_write_file (env->dir, "relative.conf",
                         "[engine]\nproviders=offline\n[provider:offline]\n"
                         "license-dir=license\ntrusted-keys=keys/issuer.pub; ./keys/more/\n"
                         "state-dir=state\n");
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (GBytes) bytes = issue (second, "KRE", machine_id, now_s () - 60, 0);
  g_autofree char *name = own_name ("KRE", 1);
  g_autofree char *path2 = put (env->license_dir, name, bytes);

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (conf, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraLicense) a = activate_ok (engine, "KRE");
  g_autoptr (TesseraLicense) b = activate_ok (engine, "KRE");
  g_assert_cmpint (read_state (env), >, 0);
}

/* Key rotation: files signed by the old and the new key both work while
 * both are trusted, given as a list or as a folder. */
static void
test_rotation (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *new_path = NULL;
  g_autoptr (TesseraSigningKey) new_key = key_new_saved (env->keys_dir, "new.pub", &new_path);
  g_autofree char *old_file = put_valid (env, "KRE", 1);
  g_autoptr (GBytes) bytes = issue (new_key, "KRE", machine_id, now_s () - 60, 0);
  g_autofree char *name = own_name ("KRE", 2);
  g_autofree char *new_file = put (env->license_dir, name, bytes);

  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *keys = i == 0 ? g_strdup_printf ("%s;%s", env->key_path, new_path)
                                     : g_strdup_printf ("%s/", env->keys_dir);
      g_autofree char *config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                                                 "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n",
                                                 env->license_dir, keys, env->state_dir);
      g_autoptr (TesseraEngine) engine = engine_from (config);
      g_autoptr (TesseraLicense) a = activate_ok (engine, "KRE");
      g_autoptr (TesseraLicense) b = activate_ok (engine, "KRE");
      g_assert_cmpstr (tessera_license_get_attribute (a, "offline.file"), ==, old_file);
      g_assert_cmpstr (tessera_license_get_attribute (b, "offline.file"), ==, new_file);
      g_assert_cmpstr (tessera_license_get_attribute (b, "offline.key-id"), ==,
                       tessera_signing_key_get_id (new_key));
    }

  /* Once the old key is no longer trusted, its file is refused. */
  g_autofree char *config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                                             "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n",
                                             env->license_dir, new_path, env->state_dir);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (TesseraLicense) b = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (b, "offline.file"), ==, new_file);
  /* While the new file is held, the old one (invalid now) is no seat. */
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, "is in use",
                  "old key dropped, new file held");
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
  tessera_activate_options_set (options, "offline-file", old_file);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_UNTRUSTED_KEY, "which is not trusted here",
                  "old key dropped");
}

/* The default folders: ~/.katalon/license and $XDG_STATE_HOME/tessera. */
static void
test_defaults (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *home_dir = g_build_filename (g_get_home_dir (), ".katalon", "license", NULL);
  g_assert_cmpint (g_mkdir_with_parents (home_dir, 0755), ==, 0);
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (home_dir, name, bytes);
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=offline\n[provider:offline]\ntrusted-keys=%s\n", env->key_path);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.file"), ==, path);
  g_autofree char *state
      = g_build_filename (g_get_user_state_dir (), "tessera", "offline-clock", NULL);
  g_assert_true (g_file_test (state, G_FILE_TEST_IS_REGULAR));
  test_rm_rf (home_dir);
  g_unlink (state);
}

/* ---- validate ---- */

typedef enum
{
  CHANGE_REWRITE_IN_PLACE,
  CHANGE_REPLACE,
  CHANGE_REPLACE_SAME_BYTES,
  CHANGE_REMOVE,
  CHANGE_MOVE,
  CHANGE_TOUCH,
  CHANGE_CHMOD,
} Change;

typedef struct
{
  const char *name;
  Change change;
  gboolean still_valid;
  const char *message;
} ValidateCase;

static const ValidateCase validate_cases[] = {
  { "rewritten-in-place", CHANGE_REWRITE_IN_PLACE, FALSE,
    "was modified after its license was "
    "activated (it now holds another "
    "license file)" },
  { "replaced", CHANGE_REPLACE, FALSE, "was replaced by another file" },
  { "replaced-same-bytes", CHANGE_REPLACE_SAME_BYTES, FALSE, "was replaced by another file" },
  { "removed", CHANGE_REMOVE, FALSE, "was removed or moved" },
  { "moved", CHANGE_MOVE, FALSE, "was removed or moved" },
  { "touched", CHANGE_TOUCH, TRUE, NULL },
  { "chmod", CHANGE_CHMOD, TRUE, NULL },
};

static void
test_validate_notices (gconstpointer data)
{
  const ValidateCase *c = data;
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (license, NULL, &error));

  switch (c->change)
    {
    case CHANGE_REWRITE_IN_PLACE:
      {
        /* Another valid license, written through the same inode. */
        g_autoptr (GBytes) other = issue_valid (env, "KRE");
        int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        g_assert_cmpint (fd, >=, 0);
        gsize len = 0;
        const char *bytes = g_bytes_get_data (other, &len);
        g_assert_cmpint (write (fd, bytes, len), ==, (gssize) len);
        close (fd);
        break;
      }
    case CHANGE_REPLACE:
      {
        g_autoptr (GBytes) other = issue_valid (env, "KRE");
        g_autofree char *name = g_path_get_basename (path);
        g_autofree char *p = put (env->license_dir, name, other);
        break;
      }
    case CHANGE_REPLACE_SAME_BYTES:
      {
        g_autofree char *contents = NULL;
        gsize len = 0;
        g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
        g_autofree char *name = g_path_get_basename (path);
        g_autofree char *p = put_bytes (env->license_dir, name, contents, len);
        break;
      }
    case CHANGE_REMOVE:
      g_assert_cmpint (g_unlink (path), ==, 0);
      break;
    case CHANGE_MOVE:
      {
        g_autofree char *name = own_name ("KRE", 5);
        g_autofree char *to = g_build_filename (env->license_dir, name, NULL);
        g_assert_cmpint (g_rename (path, to), ==, 0);
        break;
      }
    case CHANGE_TOUCH:
      g_usleep (20 * 1000);
      g_assert_cmpint (g_utime (path, NULL), ==, 0);
      break;
    case CHANGE_CHMOD:
      g_assert_cmpint (g_chmod (path, 0600), ==, 0);
      break;
    }

  gboolean ok = tessera_license_validate (license, NULL, &error);
  if (c->still_valid)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_true (tessera_license_is_held (license));
      return;
    }
  g_assert_false (ok);
  g_test_message ("%s", error->message);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED);
  g_assert_nonnull (strstr (error->message, c->message));
  g_assert_nonnull (strstr (error->message, path));
  /* Terminal: the license is invalidated (but still releasable). */
  g_assert_false (tessera_license_is_held (license));
  g_assert_true (tessera_license_release (license, NULL, NULL));
}

/* A license that expires while held: validate says so. */
static void
test_validate_expiry (void)
{
  g_autoptr (Env) env = env_new ();
  gint64 now = now_s ();
  /* Expiring a few seconds from now: room for a slow (loaded, valgrind)
   * activation before it, and the wait after it stays short. */
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, now - 100, now + 6);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (license, NULL, &error));
  while (now_s () < now + 7)
    g_usleep (100 * 1000);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED);
  g_assert_false (tessera_license_is_held (license));
}

/* A repeat validate of an unchanged file is cheap because it neither
 * verifies the signature again nor reads the file: checked by counting those
 * calls, not by timing them (bench/offline-bench prints the speed, row (c)). */
static void
test_validate_fast (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);

  /* The counting reaches the plugin: activation reads and verifies. */
  call_counter_reset ();
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  CallCounts c = call_counter_get ();
  g_assert_cmpuint (c.verifies, >=, 1);
  g_assert_cmpuint (c.reads, >=, 1);

  /* Right after a write, a file's metadata cannot prove it unchanged (a
   * second write within the timestamps' granularity leaves them equal), so
   * validate compares the bytes: a read, but never a verify. */
  call_counter_reset ();
  g_assert_true (tessera_license_validate (license, NULL, NULL));
  g_assert_cmpuint (call_counter_get ().verifies, ==, 0);

  /* Once the file is older than that window, metadata alone tells: wait for
   * the clock (an event, not a speed), validate once to leave the window... */
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  for (guint i = 0; i < 600 && now_s () <= (gint64) st.st_ctime + 3; i++)
    g_usleep (50 * 1000);
  g_assert_cmpint (now_s (), >, (gint64) st.st_ctime + 3);
  g_assert_true (tessera_license_validate (license, NULL, NULL));

  /* ...and from then on, no verify, no read, no open. */
  call_counter_reset ();
  for (guint i = 0; i < 1000; i++)
    g_assert_true (tessera_license_validate (license, NULL, NULL));
  c = call_counter_get ();
  g_assert_cmpuint (c.verifies, ==, 0);
  g_assert_cmpuint (c.reads, ==, 0);
  g_assert_cmpuint (c.opens, ==, 0);

  /* Fast, but not blind: a change right after is still noticed. */
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_autoptr (GError) error = NULL;
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED);
}

int
main (int argc, char **argv)
{
  offline_test_init (&argc, &argv);

  OFFLINE_ADD_CASES ("/offline/config", config_cases, test_config);
  g_test_add_func ("/offline/config/no-trusted-keys", test_config_no_keys);
  g_test_add_func ("/offline/config/relative-paths", test_config_relative);
  g_test_add_func ("/offline/config/defaults", test_defaults);
  g_test_add_func ("/offline/key-rotation", test_rotation);
  OFFLINE_ADD_CASES ("/offline/validate", validate_cases, test_validate_notices);
  g_test_add_func ("/offline/validate/expiry", test_validate_expiry);
  g_test_add_func ("/offline/validate/fast-path", test_validate_fast);

  return offline_test_run ();
}
