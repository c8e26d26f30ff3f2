/* The offline provider's listing (ABI 1.1 list op): what each kind of file
 * in the folder lists as, and that listing takes no lock
 * (tests/offline-util.h). */
#include "offline-util.h"

/* ---- listing (ABI 1.1 list op) ---- */

static GPtrArray *
list_ok (TesseraEngine *engine, const char *product)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *licenses = tessera_engine_list_licenses (engine, product, &error);
  g_assert_no_error (error);
  g_assert_nonnull (licenses);
  return licenses;
}

typedef struct
{
  const char *name;
  /* Puts one file into the folder. */
  void (*setup) (Env *env);
  gint code; /* what validate of the one listed entry says; -1: valid */
  const char *fragment;
} ListCase;

static void
list_valid (Env *env)
{
  g_autofree char *path = put_valid (env, "KRE", 0);
}

static void
list_expired (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, now_s () - 70 * DAY, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
}

static void
list_tampered (Env *env)
{
  g_autoptr (GBytes) good = issue_valid (env, "KRE");
  g_autoptr (GBytes) bad = modified (good, 40, 1, "#");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bad);
}

static void
list_other_machine (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", OTHER_MACHINE, now_s () - 60, 0);
  g_autofree char *name = tessera_licfile_file_name ("KRE", OTHER_MACHINE, 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
}

static void
list_renamed (Env *env)
{
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  g_autofree char *name = tessera_licfile_file_name ("KRE", OTHER_MACHINE, 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
}

static void
list_untrusted (Env *env)
{
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  g_autoptr (GBytes) bytes = issue (other, "KRE", machine_id, now_s () - 60, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
}

static void
list_rollback (Env *env)
{
  list_valid (env);
  put_future_state (env);
}

static void
list_unreadable (Env *env)
{
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (symlink ("/etc/hostname", path), ==, 0);
}

static const ListCase list_cases[] = {
  { "valid", list_valid, -1, NULL },
  { "expired", list_expired, TESSERA_ERROR_EXPIRED, "expired" },
  { "tampered", list_tampered, TESSERA_ERROR_TAMPERED, "modified or damaged" },
  { "other-machine", list_other_machine, TESSERA_ERROR_MACHINE_MISMATCH, OTHER_MACHINE },
  { "renamed", list_renamed, TESSERA_ERROR_TAMPERED, "renamed" },
  { "untrusted-key", list_untrusted, TESSERA_ERROR_UNTRUSTED_KEY, NULL },
  { "clock-rollback", list_rollback, TESSERA_ERROR_CLOCK_ROLLBACK, NULL },
  { "symlink", list_unreadable, TESSERA_ERROR_NOT_FOUND, "symbolic link" },
};

/* Every file is listed, usable or not, and validate says exactly why not. */
static void
test_list_entry (gconstpointer data)
{
  const ListCase *c = data;
  g_autoptr (Env) env = env_new ();
  c->setup (env);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (GPtrArray) licenses = list_ok (engine, "KRE");
  g_assert_cmpuint (licenses->len, ==, 1);
  TesseraLicense *license = licenses->pdata[0];
  g_assert_cmpstr (tessera_license_get_product (license), ==, "KRE");
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "offline");
  g_assert_true (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_OFFLINE);
  g_assert_false (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_PERSISTENT);
  g_assert_true (
      g_str_has_prefix (tessera_license_get_attribute (license, "offline.file"), env->license_dir));

  g_autoptr (GError) error = NULL;
  gboolean ok = tessera_license_validate (license, NULL, &error);
  if (c->code < 0)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_true (g_str_has_prefix (tessera_license_get_id (license), "LIC-"));
    }
  else
    {
      g_assert_false (ok);
      g_assert_error (error, TESSERA_ERROR, c->code);
      if (c->fragment != NULL && strstr (error->message, c->fragment) == NULL)
        g_error ("%s: '%s' does not say '%s'", c->name, error->message, c->fragment);
      g_test_message ("%s: %s", c->name, error->message);
    }
  /* Releasing an entry gives back nothing and does not fail. */
  g_clear_error (&error);
  g_assert_true (tessera_license_release (license, NULL, &error));
}

/* No folder or an empty one: nothing listed, no error; products filter. */
static void
test_list_folder (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (GPtrArray) empty = list_ok (engine, NULL);
  g_assert_cmpuint (empty->len, ==, 0);

  g_autofree char *kre = put_valid (env, "KRE", 0);
  g_autofree char *kre2 = put_valid (env, "KRE", 2);
  g_autofree char *kse = put_valid (env, "KSE", 0);
  g_autofree char *junk = test_write_file (env->license_dir, "notes.txt", "hello");
  g_autofree char *hidden = test_write_file (env->license_dir, ".KRE_x.lic.tmp", "x");
  g_autoptr (GPtrArray) all = list_ok (engine, NULL);
  g_assert_cmpuint (all->len, ==, 3);
  g_autoptr (GPtrArray) only_kre = list_ok (engine, "KRE");
  g_assert_cmpuint (only_kre->len, ==, 2);
  for (guint i = 0; i < only_kre->len; i++)
    g_assert_cmpstr (tessera_license_get_product (only_kre->pdata[i]), ==, "KRE");

  test_rm_rf (env->license_dir);
  g_autoptr (GPtrArray) missing = list_ok (engine, NULL);
  g_assert_cmpuint (missing->len, ==, 0);
}

/* Listing takes no lock and no seat: it runs beside a session, and a
 * session can start while entries are held. */
static void
test_list_no_lock (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);

  g_autoptr (GPtrArray) before = list_ok (engine, "KRE");
  g_autoptr (TesseraLicense) session = activate_ok (engine, "KRE");
  g_autoptr (GPtrArray) during = list_ok (engine, "KRE");
  g_assert_cmpuint (during->len, ==, 1);
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (during->pdata[0], NULL, &error));
  g_assert_no_error (error);
  /* Releasing the entry does not free the session's seat. */
  g_assert_true (tessera_license_release (during->pdata[0], NULL, &error));
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, NULL, "entry released");
  g_assert_true (tessera_license_validate (session, NULL, &error));
  g_assert_true (tessera_license_release (session, NULL, &error));
  g_clear_pointer (&during, g_ptr_array_unref);
  g_autoptr (TesseraLicense) again = activate_ok (engine, "KRE");
}

int
main (int argc, char **argv)
{
  offline_test_init (&argc, &argv);

  OFFLINE_ADD_CASES ("/offline/list", list_cases, test_list_entry);
  g_test_add_func ("/offline/list/folder", test_list_folder);
  g_test_add_func ("/offline/list/no-lock", test_list_no_lock);

  return offline_test_run ();
}
