/* The dev-mode provider: off unless config AND environment say so, refused
 * in production-only products, marked, and loud. */
#include "test-util.h"

static TesseraEngine *
engine_for (const char *section)
{
  g_autofree char *conf
      = g_strdup_printf ("[engine]\nproviders=devmode\n[provider:devmode]\n%s\n", section);
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = tessera_engine_new_from_data (conf, -1, &error);
  g_assert_no_error (error);
  return engine;
}

typedef struct
{
  const char *name;
  const char *section;
  const char *env; /* TESSERA_DEVMODE, or NULL */
  gboolean production_only;
  const char *message;
} OffCase;

static const OffCase off_cases[] = {
  { "default", "", NULL, FALSE, "enabled=true in [provider:devmode] (not set)" },
  { "config-only", "enabled=true", NULL, FALSE, "TESSERA_DEVMODE=1 in the environment (not set)" },
  { "env-only", "", "1", FALSE, "(not set) and TESSERA_DEVMODE=1 in the environment (set)" },
  { "env-not-1", "enabled=true", "yes", FALSE, "TESSERA_DEVMODE=1" },
  { "disabled", "enabled=false", "1", FALSE, "enabled=true" },
  { "production-only", "enabled=true", "1", TRUE, "accepts production licenses only" },
};

static void
test_off (gconstpointer data)
{
  const OffCase *c = data;
  if (c->env)
    g_setenv ("TESSERA_DEVMODE", c->env, TRUE);
  else
    g_unsetenv ("TESSERA_DEVMODE");
  g_autoptr (TesseraEngine) engine = engine_for (c->section);
  if (c->production_only)
    tessera_engine_set_flags (engine, TESSERA_ENGINE_FLAG_PRODUCTION_ONLY);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, c->message));
  g_unsetenv ("TESSERA_DEVMODE");
}

static void
test_on (void)
{
  if (g_test_subprocess ())
    {
      g_setenv ("TESSERA_DEVMODE", "1", TRUE);
      g_autoptr (TesseraEngine) engine
          = engine_for ("enabled=true\nvalid-hours=2\nfeatures=reports;export\n");
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraLicense) license
          = tessera_engine_activate (engine, "KSE", NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (tessera_license_get_provider (license), ==, "devmode");
      g_assert_true (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_DEVELOPMENT);
      g_assert_true (tessera_license_has_feature (license, "reports"));
      g_assert_cmpint (tessera_license_get_expires_at (license)
                           - tessera_license_get_issued_at (license),
                       ==, 2 * 3600);
      g_assert_nonnull (tessera_license_get_attribute (license, "devmode.notice"));
      g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
      g_assert_cmpstr (tessera_license_get_machine_id (license), ==,
                       tessera_fingerprint_get_id (fp));
      g_assert_true (tessera_license_validate (license, NULL, &error));
      g_assert_true (tessera_license_release (license, NULL, &error));
      /* A second activation warns again. */
      g_autoptr (TesseraLicense) again
          = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
      g_assert_no_error (error);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*WARNING: KSE runs on a DEVELOPMENT license*"
                             "*WARNING: KRE runs on a DEVELOPMENT license*");
}

typedef struct
{
  const char *name;
  const char *section;
  const char *message;
} BadConfig;

static const BadConfig bad_configs[] = {
  { "enabled-yes", "enabled=yes", "must be true or false" },
  { "hours-zero", "valid-hours=0", "valid-hours must be between" },
  { "hours-text", "valid-hours=many", "valid-hours" },
  { "unknown-key", "enable=true", "unknown key 'enable'" },
};

static void
test_bad_config (gconstpointer data)
{
  const BadConfig *c = data;
  g_autoptr (TesseraEngine) engine = engine_for (c->section);
  g_autoptr (GError) error = NULL;
  g_assert_false (tessera_engine_load (engine, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, c->message));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("TESSERA_PROVIDER");
  for (guint i = 0; i < G_N_ELEMENTS (off_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/devmode/off/%s", off_cases[i].name);
      g_test_add_data_func (path, &off_cases[i], test_off);
    }
  g_test_add_func ("/devmode/on", test_on);
  for (guint i = 0; i < G_N_ELEMENTS (bad_configs); i++)
    {
      g_autofree char *path = g_strdup_printf ("/devmode/bad-config/%s", bad_configs[i].name);
      g_test_add_data_func (path, &bad_configs[i], test_bad_config);
    }
  return g_test_run ();
}
