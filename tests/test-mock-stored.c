/* The mock provider's stored-license ops (ABI 1.1): "stored" licenses that
 * list returns, install of a file named PRODUCT_…, forget of "credentials",
 * each scriptable like the other ops — so a tester can drive a product's
 * "status", "install" and "sign out" paths with no server or file. */
#include "mock-util.h"

#include <json-glib/json-glib.h>

static void
test_list (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario
      = write_scenario (dir, "{\"products\": [\"KSE\", \"KRE\"], \"stored\": 2, "
                             "\"machine_id\": \"MOCK-MACH-INE0-0001\", \"counters\": \"c.json\"}");
  g_autoptr (TesseraEngine) engine = mock_engine_new (scenario);
  g_autoptr (GError) error = NULL;

  g_autoptr (GPtrArray) all = tessera_engine_list_licenses (engine, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (all->len, ==, 4);
  g_autoptr (GPtrArray) kre = tessera_engine_list_licenses (engine, "KRE", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (kre->len, ==, 2);
  TesseraLicense *first = kre->pdata[0];
  g_assert_cmpstr (tessera_license_get_id (first), ==, "mock-stored-KRE-0");
  g_assert_cmpstr (tessera_license_get_machine_id (first), ==, "MOCK-MACH-INE0-0001");
  g_assert_true (tessera_license_get_flags (first) & TESSERA_LICENSE_FLAG_PERSISTENT);

  /* Listing takes no seat; validating and releasing a stored one works. */
  g_autofree char *counters = g_build_filename (dir, "c.json", NULL);
  g_assert_true (tessera_license_validate (first, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (first, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *json = NULL;
  g_assert_true (g_file_get_contents (counters, &json, NULL, NULL));
  g_assert_nonnull (strstr (json, "\"list\":2"));
  g_assert_nonnull (strstr (json, "\"held\":0"));
}

static void
test_list_scripted_error (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (
      dir, "{\"stored\": 1, \"ops\": {\"list\": {\"error\": \"permission-denied\", "
           "\"message\": \"the license folder is unreadable\"}}}");
  g_autoptr (TesseraEngine) engine = mock_engine_new (scenario);
  g_autoptr (GError) error = NULL;
  g_assert_null (tessera_engine_list_licenses (engine, "KRE", &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_assert_cmpstr (error->message, ==, "provider 'mock': the license folder is unreadable");
}

typedef struct
{
  const char *name;
  const char *scenario;
  const char *file_name;
  TesseraError code; /* -1: installs */
  const char *message_part;
} InstallCase;

static const InstallCase install_cases[] = {
  { "ok", "{\"products\": [\"KRE\"]}", "KRE_anything.lic", -1, NULL },
  { "any-product", "{}", "KSE_x.lic", -1, NULL },
  { "other-product", "{\"products\": [\"KRE\"]}", "KSE_x.lic", TESSERA_ERROR_PRODUCT_MISMATCH,
    "licenses KRE, not KSE" },
  { "no-product-in-name", "{}", "license.lic", TESSERA_ERROR_INVALID_ARGUMENT,
    "installs files named PRODUCT_" },
  { "scripted", "{\"ops\": {\"install\": {\"error\": \"tampered\"}}}", "KRE_x.lic",
    TESSERA_ERROR_TAMPERED, "install call 1 failed as scripted (tampered)" },
};

static void
test_install (gconstpointer data)
{
  const InstallCase *c = data;
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, c->scenario);
  g_autofree char *file = test_write_file (dir, c->file_name, "whatever the tester wants\n");
  g_autoptr (TesseraEngine) engine = mock_engine_new (scenario);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = tessera_engine_install_license (engine, NULL, file, &error);
  g_autoptr (GPtrArray) listed = NULL;
  if ((int) c->code != -1)
    {
      g_assert_null (license);
      g_assert_error (error, TESSERA_ERROR, c->code);
      g_assert_nonnull (strstr (error->message, c->message_part));
      /* Nothing was stored. */
      g_clear_error (&error);
      listed = tessera_engine_list_licenses (engine, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (listed->len, ==, 0);
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_id (license), ==, "mock-installed-0");
  /* The same engine lists what it installed (in memory only). */
  listed = tessera_engine_list_licenses (engine, tessera_license_get_product (license), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (listed->len, ==, 1);
}

static void
test_forget (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, "{\"credentials\": 3}");
  g_autoptr (TesseraEngine) engine = mock_engine_new (scenario);
  g_autoptr (GError) error = NULL;
  guint n = 0;
  g_assert_true (tessera_engine_forget_credentials (engine, NULL, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 3);
  /* Forgotten once: nothing left the second time. */
  g_assert_true (tessera_engine_forget_credentials (engine, "mock", &n, &error));
  g_assert_cmpuint (n, ==, 0);

  g_autofree char *failing = write_scenario (
      dir, "{\"ops\": {\"forget\": {\"error\": \"permission-denied\", \"message\": "
           "\"the keyring is locked\"}}}");
  g_autoptr (TesseraEngine) locked = mock_engine_new (failing);
  g_assert_false (tessera_engine_forget_credentials (locked, NULL, &n, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_assert_cmpstr (error->message, ==, "the keyring is locked");
}

static void
test_bad_values (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, "{\"stored\": -1}");
  g_autoptr (TesseraEngine) engine = mock_engine_new (scenario);
  g_autoptr (GError) error = NULL;
  g_assert_null (tessera_engine_list_licenses (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "stored"));
}

/* A config file named relative to the working directory: its relative paths
 * (the scenario) are relative to the file's folder, not to the working
 * directory, and never a critical warning. */
static void
test_relative_config_path (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *sub = g_build_filename (dir, "sub", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_free (write_scenario (sub, "{\"license\": {\"id\": \"from-the-scenario\"}}"));
  g_free (test_write_file (sub, "x.conf",
                           "[engine]\nproviders=mock\n[provider:mock]\nscenario=scenario.json\n"));
  g_autofree char *cwd = g_get_current_dir ();
  g_assert_cmpint (g_chdir (dir), ==, 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new ("sub/x.conf", &error);
  g_assert_no_error (error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_id (license), ==, "from-the-scenario");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_MOCK_SCENARIO");
  g_test_add_func ("/mock-stored/list", test_list);
  g_test_add_func ("/mock-stored/list-scripted-error", test_list_scripted_error);
  for (guint i = 0; i < G_N_ELEMENTS (install_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/mock-stored/install/%s", install_cases[i].name);
      g_test_add_data_func (path, &install_cases[i], test_install);
    }
  g_test_add_func ("/mock-stored/forget", test_forget);
  g_test_add_func ("/mock-stored/bad-values", test_bad_values);
  g_test_add_func ("/mock-stored/relative-config-path", test_relative_config_path);
  return g_test_run ();
}
