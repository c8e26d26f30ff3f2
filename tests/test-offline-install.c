/* The offline provider's installing (install op; install_with_flags since
 * ABI 1.2): every kind of file to install and folder it lands in, concurrent
 * installs, and license and lock folders that are symbolic links
 * (tests/offline-util.h). */
#include "offline-util.h"

/* ---- installing (install op; install_with_flags since ABI 1.2) ---- */

typedef struct
{
  const char *name;
  /* Returns the file to install (its path), having prepared the folder. */
  char *(*setup) (Env *env);
  gint code; /* -1: installed */
  const char *fragment;
  guint serial; /* installed: it is PRODUCT_ID.<serial>.lic (0: PRODUCT_ID.lic); refused: that
                 * file is unchanged */
  TesseraInstallFlags flags;
} InstallCase;

static char *
source_file (Env *env, GBytes *bytes)
{
  return put (env->dir, "downloaded license (1).lic", bytes);
}

static char *
install_fresh (Env *env)
{
  test_rm_rf (env->license_dir); /* created, 0700 */
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

static char *
install_tampered (Env *env)
{
  g_autoptr (GBytes) good = issue_valid (env, "KRE");
  g_autoptr (GBytes) bad = modified (good, 40, 1, "#");
  return source_file (env, bad);
}

static char *
install_untrusted (Env *env)
{
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  g_autoptr (GBytes) bytes = issue (other, "KRE", machine_id, now_s () - 60, 0);
  return source_file (env, bytes);
}

static char *
install_other_machine (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", OTHER_MACHINE, now_s () - 60, 0);
  return source_file (env, bytes);
}

static char *
install_other_product (Env *env)
{
  g_autoptr (GBytes) bytes = issue_valid (env, "KAT");
  return source_file (env, bytes);
}

static char *
install_expired (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, now_s () - 70 * DAY, 0);
  return source_file (env, bytes);
}

static char *
install_rollback (Env *env)
{
  put_future_state (env);
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

static char *
install_identical (Env *env)
{
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = put (env->license_dir, name, bytes);
  return source_file (env, bytes);
}

static char *
install_older (Env *env)
{
  g_autoptr (GBytes) newer = issue_valid (env, "KRE");
  g_autoptr (GBytes) older = issue (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = put (env->license_dir, name, newer);
  return source_file (env, older);
}

static char *
install_newer (Env *env)
{
  g_autoptr (GBytes) older = issue (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0);
  g_autoptr (GBytes) newer = issue_valid (env, "KRE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = put (env->license_dir, name, older);
  return source_file (env, newer);
}

static char *
install_over_damaged (Env *env)
{
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = test_write_file (env->license_dir, name, "garbage");
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

/* The installed license reissued with a later end: the same license ID. */
static char *
install_renewed (Env *env)
{
  g_autoptr (GBytes) installed
      = issue_id (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0, "LIC-RENEWED");
  g_autoptr (GBytes) renewed
      = issue_id (env->key, "KRE", machine_id, now_s () - 60, 0, "LIC-RENEWED");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = put (env->license_dir, name, installed);
  return source_file (env, renewed);
}

/* The copy of the same license is the second file: that one is replaced,
 * the other license stays. */
static char *
install_renewed_second (Env *env)
{
  g_autoptr (GBytes) other = issue_valid (env, "KRE");
  g_autoptr (GBytes) installed
      = issue_id (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0, "LIC-RENEWED-2");
  g_autoptr (GBytes) renewed
      = issue_id (env->key, "KRE", machine_id, now_s () - 60, 0, "LIC-RENEWED-2");
  g_autofree char *first = own_name ("KRE", 0);
  g_autofree char *second = own_name ("KRE", 1);
  g_autofree char *p1 = put (env->license_dir, first, other);
  g_autofree char *p2 = put (env->license_dir, second, installed);
  return source_file (env, renewed);
}

/* Three licenses already: the fourth is PRODUCT_ID.3.lic. */
static char *
install_fourth (Env *env)
{
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *p = put_valid (env, "KRE", i);
    }
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

/* A hostile user put a link where the next file would go, to have install
 * write through it ("victim" stands for a file of another user): the name
 * is taken, the file goes to the next one, the victim is untouched. */
static char *
install_link_in_the_way (Env *env)
{
  g_autofree char *victim = test_write_file (env->dir, "victim", "victim");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *link = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (symlink (victim, link), ==, 0);
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

/* A copy of the license under a link to a file that holds it: not a copy
 * install may replace through (links are never license files). */
static char *
install_replace_link (Env *env)
{
  g_autoptr (GBytes) installed
      = issue_id (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0, "LIC-LINKED");
  g_autoptr (GBytes) renewed
      = issue_id (env->key, "KRE", machine_id, now_s () - 60, 0, "LIC-LINKED");
  g_autofree char *victim = put (env->dir, "victim", installed);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *link = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (symlink (victim, link), ==, 0);
  return source_file (env, renewed);
}

/* A folder someone filled with every name install may use: refused with a
 * message that says so, nothing written. */
static char *
install_folder_full (Env *env)
{
  for (guint i = 0; i < 1000; i++)
    {
      g_autofree char *name = own_name ("KRE", i);
      g_autofree char *path = test_write_file (env->license_dir, name, "garbage");
    }
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

#define REPLACE TESSERA_INSTALL_REPLACE

static const InstallCase install_cases[] = {
  { "fresh", install_fresh, -1, NULL, 0, 0 },
  { "tampered", install_tampered, TESSERA_ERROR_TAMPERED, "downloaded license (1).lic", 0, 0 },
  { "untrusted-key", install_untrusted, TESSERA_ERROR_UNTRUSTED_KEY, NULL, 0, 0 },
  { "other-machine", install_other_machine, TESSERA_ERROR_MACHINE_MISMATCH, OTHER_MACHINE, 0, 0 },
  { "other-product", install_other_product, TESSERA_ERROR_PRODUCT_MISMATCH, "KAT", 0, 0 },
  { "expired", install_expired, TESSERA_ERROR_EXPIRED, NULL, 0, 0 },
  { "clock-rollback", install_rollback, TESSERA_ERROR_CLOCK_ROLLBACK, NULL, 0, 0 },
  { "identical", install_identical, TESSERA_ERROR_INVALID_ARGUMENT, "is already installed as", 0,
    0 },
  { "identical-replace", install_identical, -1, NULL, 0, REPLACE },
  /* Another license: one more file (one more parallel session), whatever
   * either one's end. */
  { "older-than-installed", install_older, -1, NULL, 1, 0 },
  { "newer-than-installed", install_newer, -1, NULL, 1, 0 },
  { "fourth", install_fourth, -1, NULL, 3, 0 },
  /* A damaged file grants nothing, and is not touched: it keeps its name. */
  { "beside-damaged", install_over_damaged, -1, NULL, 1, 0 },
  { "renewed", install_renewed, TESSERA_ERROR_INVALID_ARGUMENT, "another file of the same license",
    0, 0 },
  { "renewed-replace", install_renewed, -1, NULL, 0, REPLACE },
  { "renewed-replace-second", install_renewed_second, -1, NULL, 1, REPLACE },
  { "link-in-the-way", install_link_in_the_way, -1, NULL, 1, 0 },
  { "link-in-the-way-replace", install_link_in_the_way, -1, NULL, 1, REPLACE },
  { "replace-through-link", install_replace_link, -1, NULL, 1, REPLACE },
  { "folder-full", install_folder_full, TESSERA_ERROR_INVALID_ARGUMENT,
    "already holds 1000 files named KRE_", 0, 0 },
};

static char *
read_all (const char *path)
{
  char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &text, &len, NULL))
    return NULL;
  return text;
}

/* The IDs of every session the engine grants for @product, all held at
 * once: one per usable license, in parallel. */
static GHashTable *
activatable_ids (TesseraEngine *engine, const char *product)
{
  GHashTable *ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) held
      = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      TesseraLicense *license = tessera_engine_activate (engine, product, NULL, NULL, &error);
      if (license == NULL)
        {
          g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
          break;
        }
      g_assert_true (g_hash_table_add (ids, g_strdup (tessera_license_get_id (license))));
      g_ptr_array_add (held, license);
    }
  return ids;
}

/* Each case: exactly the right error and nothing written; or the file
 * under the name of its case, 0644, activatable beside the others, every
 * other file as it was and no temporary file left. */
static void
test_install (gconstpointer data)
{
  const InstallCase *c = data;
  g_autoptr (Env) env = env_new ();
  /* Products restricted: install refuses others. */
  g_free (env->config);
  env->config = g_strdup_printf ("[engine]\nproviders=offline\nproducts=KRE;KSE\n"
                                 "[provider:offline]\nlicense-dir=%s\ntrusted-keys=%s\n"
                                 "state-dir=%s\n",
                                 env->license_dir, env->key_path, env->state_dir);
  g_autofree char *source = c->setup (env);
  g_autofree char *name = own_name ("KRE", c->serial);
  g_autofree char *target = g_build_filename (env->license_dir, name, NULL);
  g_autofree char *before = read_all (target);
  g_autofree char *victim_path = g_build_filename (env->dir, "victim", NULL);
  g_autofree char *victim_before = read_all (victim_path);
  guint n_before
      = g_file_test (env->license_dir, G_FILE_TEST_IS_DIR) ? count_entries (env->license_dir) : 0;
  g_autoptr (TesseraEngine) engine = env_engine (env);

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_engine_install_license_with_flags (engine, NULL, source, c->flags, &error);
  g_autofree char *after = read_all (target);
  g_autofree char *victim_after = read_all (victim_path);
  g_assert_cmpstr (victim_after, ==, victim_before);
  if (c->code >= 0)
    {
      g_assert_null (license);
      g_assert_error (error, TESSERA_ERROR, c->code);
      if (c->fragment != NULL && strstr (error->message, c->fragment) == NULL)
        g_error ("%s: '%s' does not say '%s'", c->name, error->message, c->fragment);
      g_test_message ("%s: %s", c->name, error->message);
      /* Nothing written: not the target, not a temporary file. */
      g_assert_cmpstr (after, ==, before);
      if (g_file_test (env->license_dir, G_FILE_TEST_IS_DIR))
        g_assert_cmpuint (count_entries (env->license_dir), ==, n_before);
      return;
    }
  g_assert_no_error (error);
  g_assert_nonnull (license);
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.file"), ==, target);
  g_autofree char *source_text = read_all (source);
  g_assert_cmpstr (after, ==, source_text);
  /* A new name is one more file; a replaced one is not. */
  g_assert_cmpuint (count_entries (env->license_dir), ==, n_before + (before == NULL ? 1 : 0));
  GStatBuf st;
  g_assert_cmpint (g_lstat (target, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0644);
  g_assert_cmpint (st.st_nlink, ==, 1);
  g_assert_cmpint (g_stat (env->license_dir, &st), ==, 0);
  if (n_before == 0)
    g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (GHashTable) ids = activatable_ids (engine, "KRE");
  g_assert_true (g_hash_table_contains (ids, tessera_license_get_id (license)));
}

/* Installing again is refused, whatever the file is called, and a 1.1
 * plugin's install cannot be asked to replace (test-stored.c): here, the
 * flags the core does not know are refused before any provider runs. */
static void
test_install_unknown_flags (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  g_autofree char *source = source_file (env, bytes);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = tessera_engine_install_license_with_flags (
      engine, NULL, source, (TesseraInstallFlags) (1 << 7), &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "unknown install flags 0x80"));
  g_assert_cmpuint (count_entries (env->license_dir), ==, 0);
}

/* Two installs of the same new license at once (two processes' worth of
 * threads): one installs it, the other is refused as already installed;
 * never two copies. Installs of different licenses at once each get a
 * name of their own. */
typedef struct
{
  TesseraEngine *engine;
  const char *source;
  gboolean ok;
  GError *error;
} InstallThread;

static gpointer
install_thread (gpointer data)
{
  InstallThread *t = data;
  g_autoptr (TesseraLicense) license
      = tessera_engine_install_license (t->engine, NULL, t->source, &t->error);
  t->ok = license != NULL;
  return NULL;
}

static void
test_install_concurrent (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (GBytes) same = issue_valid (env, "KRE");
  g_autofree char *same_path = put (env->dir, "same.lic", same);
  enum
  {
    N = 8
  };
  char *paths[N] = { NULL };
  InstallThread threads[2 * N] = { { 0 } };
  GThread *handles[2 * N] = { NULL };
  g_autoptr (TesseraEngine) engine = env_engine (env);
  for (guint i = 0; i < N; i++)
    {
      g_autoptr (GBytes) other = issue_valid (env, "KRE");
      g_autofree char *file = g_strdup_printf ("other-%u.lic", i);
      paths[i] = put (env->dir, file, other);
      threads[i] = (InstallThread){ engine, same_path, FALSE, NULL };
      threads[N + i] = (InstallThread){ engine, paths[i], FALSE, NULL };
    }
  for (guint i = 0; i < 2 * N; i++)
    handles[i] = g_thread_new ("install", install_thread, &threads[i]);
  guint same_ok = 0;
  for (guint i = 0; i < 2 * N; i++)
    {
      g_thread_join (handles[i]);
      if (i < N)
        {
          same_ok += threads[i].ok;
          if (!threads[i].ok)
            g_assert_error (threads[i].error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
        }
      else
        g_assert_no_error (threads[i].error);
      g_clear_error (&threads[i].error);
      if (i >= N)
        g_free (paths[i - N]);
    }
  g_assert_cmpuint (same_ok, ==, 1);
  /* One copy of the same license, one file per other license, names
   * PRODUCT_ID.lic to PRODUCT_ID.<N>.lic, nothing else. */
  g_assert_cmpuint (count_entries (env->license_dir), ==, N + 1);
  for (guint i = 0; i <= N; i++)
    {
      g_autofree char *name = own_name ("KRE", i);
      g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    }
  g_autoptr (GHashTable) ids = activatable_ids (engine, "KRE");
  g_assert_cmpuint (g_hash_table_size (ids), ==, N + 1);
}

/* Lock and license folders that are symbolic links are refused, as license
 * files that are links are: a link could lead a product running as root
 * anywhere (a lock folder linked to /etc had it create /etc/<hash>.lock).
 * "victim" stands for /etc: nothing may appear in it. */
static void
test_folder_links (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autofree char *victim = g_build_filename (env->dir, "victim", NULL);
  g_assert_cmpint (g_mkdir (victim, 0755), ==, 0);

  /* The lock folder, a link to an existing folder, then a dangling one. */
  g_autofree char *locks = g_build_filename (env->dir, "locks", NULL);
  g_assert_cmpint (symlink (victim, locks), ==, 0);
  g_autofree char *extra = g_strdup_printf ("lock-dir=%s\n", locks);
  env_write_config (env, extra);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autofree char *lock_link = g_strdup_printf (
      "the offline license lock folder %s is a symbolic link: lock files are not created", locks);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, lock_link,
                  "lock folder is a link");
  g_assert_cmpuint (count_entries (victim), ==, 0);
  g_assert_cmpint (g_unlink (locks), ==, 0);
  g_autofree char *missing = g_build_filename (victim, "made", NULL);
  g_assert_cmpint (symlink (missing, locks), ==, 0);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, lock_link,
                  "lock folder is a dangling link");
  g_assert_cmpuint (count_entries (victim), ==, 0);
  g_assert_cmpint (g_unlink (locks), ==, 0);
  /* A real folder there: granted (the folder was the only reason). */
  g_assert_cmpint (g_mkdir (locks, 0700), ==, 0);
  {
    g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  }

  /* The license folder, a link to the folder holding the valid file: not
   * read for activation or listing, not written by install. */
  g_autofree char *real_licenses = g_strconcat (env->license_dir, ".real", NULL);
  g_assert_cmpint (g_rename (env->license_dir, real_licenses), ==, 0);
  g_assert_cmpint (symlink (real_licenses, env->license_dir), ==, 0);
  g_autoptr (TesseraEngine) linked = env_engine (env);
  g_autofree char *license_link
      = g_strdup_printf ("the offline license folder %s is a symbolic link", env->license_dir);
  assert_refused (linked, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, license_link,
                  "license folder is a link");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) listed = tessera_engine_list_licenses (linked, NULL, &error);
  g_assert_null (listed);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, license_link));
  g_clear_error (&error);
  g_autofree char *source = g_build_filename (env->dir, "to-install.lic", NULL);
  g_autofree char *contents = read_all (path);
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_true (g_file_set_contents (source, contents, -1, NULL));
  g_autoptr (TesseraLicense) installed
      = tessera_engine_install_license (linked, "offline", source, &error);
  g_assert_null (installed);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, license_link));
  g_assert_cmpuint (count_entries (real_licenses), ==, 0);
  /* Through a dangling link, install creates nothing either. */
  g_clear_error (&error);
  g_assert_cmpint (g_unlink (env->license_dir), ==, 0);
  g_autofree char *nowhere = g_build_filename (victim, "licenses", NULL);
  g_assert_cmpint (symlink (nowhere, env->license_dir), ==, 0);
  g_autoptr (TesseraLicense) installed2
      = tessera_engine_install_license (linked, "offline", source, &error);
  g_assert_null (installed2);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_assert_cmpuint (count_entries (victim), ==, 0);
}

int
main (int argc, char **argv)
{
  offline_test_init (&argc, &argv);

  OFFLINE_ADD_CASES ("/offline/install", install_cases, test_install);
  g_test_add_func ("/offline/install/unknown-flags", test_install_unknown_flags);
  g_test_add_func ("/offline/install/concurrent", test_install_concurrent);
  g_test_add_func ("/offline/folder/links", test_folder_links);

  return offline_test_run ();
}
