/* Config resolution: search order and every kind of bad config. */
#include "test-util.h"

typedef struct
{
  const char *name;
  const char *data;
  TesseraError code;
  const char *message; /* substring the message must contain */
} BadConfig;

static const BadConfig bad_configs[] = {
  { "garbled", "this is not a key file\n[[[\n", TESSERA_ERROR_CONFIG, "not a valid config file" },
  { "unknown-engine-key", "[engine]\nprovider=alpha\n", TESSERA_ERROR_CONFIG,
    "unknown key 'provider'" },
  { "provider-twice", "[engine]\nproviders=alpha;beta;alpha\n", TESSERA_ERROR_CONFIG,
    "'alpha' is listed twice" },
  { "provider-uppercase", "[engine]\nproviders=Alpha\n", TESSERA_ERROR_CONFIG,
    "'Alpha' is not a provider name" },
  { "provider-path", "[engine]\nproviders=../../tmp/evil\n", TESSERA_ERROR_CONFIG,
    "is not a provider name" },
  { "provider-empty-entry", "[engine]\nproviders=alpha;;beta\n", TESSERA_ERROR_CONFIG,
    "'' is not a provider name" },
  { "relative-plugin-dir", "[engine]\nproviders=alpha\nplugin-dir=plugins\n", TESSERA_ERROR_CONFIG,
    "plugin-dir must be an absolute path" },
  { "bad-provider-section", "[engine]\nproviders=alpha\n[provider:Bad Name]\nx=1\n",
    TESSERA_ERROR_CONFIG, "does not name a valid provider" },
  { "bad-product", "[engine]\nproviders=alpha\nproducts=KRE;K_SE\n", TESSERA_ERROR_CONFIG,
    "'K_SE' is not a product name" },
  { "key-outside-group", "providers=alpha\n", TESSERA_ERROR_CONFIG, "not a valid config file" },
};

static void
test_bad_config_data (gconstpointer data)
{
  const BadConfig *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new_from_data (c->data, -1, &error);
  g_assert_null (engine);
  g_assert_error (error, TESSERA_ERROR, (gint) c->code);
  g_assert_nonnull (strstr (error->message, c->message));
}

/* The same configs from a file: the message must name the file. */
static void
test_bad_config_file (gconstpointer data)
{
  const BadConfig *c = data;
  char *dir = test_tmpdir_new ();
  g_autofree char *path = test_write_file (dir, "bad.conf", c->data);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (path, &error);
  g_assert_null (engine);
  g_assert_error (error, TESSERA_ERROR, (gint) c->code);
  g_assert_nonnull (strstr (error->message, path));
  test_tmpdir_free (dir);
}

static void
test_binary_garbage (void)
{
  static const char garbage[] = "\xff\xfe\x00\x01[engine]\x00providers=\x80\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine
      = tessera_engine_new_from_data (garbage, sizeof garbage - 1, &error);
  g_assert_null (engine);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
}

static void
test_too_large (void)
{
  char *dir = test_tmpdir_new ();
  g_autoptr (GString) big = g_string_new ("[engine]\nproviders=alpha\n[provider:alpha]\n");
  while (big->len < 2 * 1024 * 1024)
    g_string_append (big, "padding=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
  g_autofree char *path = test_write_file (dir, "big.conf", big->str);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (path, &error);
  g_assert_null (engine);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "too large"));
  g_clear_error (&error);
  engine = tessera_engine_new_from_data (big->str, (gssize) big->len, &error);
  g_assert_null (engine);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  test_tmpdir_free (dir);
}

static void
test_missing_explicit (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine
      = tessera_engine_new ("/nonexistent/tessera/tessera.conf", &error);
  g_assert_null (engine);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "/nonexistent/tessera/tessera.conf"));
  g_assert_nonnull (strstr (error->message, "No such file"));
}

static void
test_directory_as_config (void)
{
  char *dir = test_tmpdir_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (dir, &error);
  g_assert_null (engine);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "not a regular file"));
  test_tmpdir_free (dir);
}

/* Runs as an unprivileged user in a subprocess: root could read anything. */
static void
test_unreadable (void)
{
  if (g_test_subprocess ())
    {
      const char *path = g_getenv ("TESSERA_TEST_UNREADABLE");
      test_drop_privileges ();
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraEngine) engine = tessera_engine_new (path, &error);
      g_assert_null (engine);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
      g_assert_nonnull (strstr (error->message, "Permission denied"));
      /* The same through $TESSERA_CONFIG. */
      g_clear_error (&error);
      g_setenv ("TESSERA_CONFIG", path, TRUE);
      TesseraEngine *e2 = tessera_engine_new (NULL, &error);
      g_assert_null (e2);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
      return;
    }
  char *dir = test_tmpdir_new ();
  g_autofree char *path = test_write_file (dir, "secret.conf", "[engine]\nproviders=alpha\n");
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_setenv ("TESSERA_TEST_UNREADABLE", path, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_unsetenv ("TESSERA_TEST_UNREADABLE");
  test_tmpdir_free (dir);
}

static char *
write_xdg_config (const char *contents)
{
  g_autofree char *xdg_dir = g_build_filename (g_get_user_config_dir (), "tessera", NULL);
  g_assert_cmpint (g_mkdir_with_parents (xdg_dir, 0755), ==, 0);
  return test_write_file (xdg_dir, "tessera.conf", contents);
}

/* explicit path > $TESSERA_CONFIG > $XDG_CONFIG_HOME > system. */
static void
test_search_order (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *explicit_path = test_write_file (dir, "explicit.conf", "[engine]\n");
  g_autofree char *env_path = test_write_file (dir, "env.conf", "[engine]\n");
  g_autofree char *xdg_path = write_xdg_config ("[engine]\n");
  g_autoptr (GError) error = NULL;

  g_setenv ("TESSERA_CONFIG", env_path, TRUE);
  g_autoptr (TesseraEngine) e1 = tessera_engine_new (explicit_path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_engine_get_config_path (e1), ==, explicit_path);

  g_autoptr (TesseraEngine) e2 = tessera_engine_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_engine_get_config_path (e2), ==, env_path);

  g_unsetenv ("TESSERA_CONFIG");
  g_autoptr (TesseraEngine) e3 = tessera_engine_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_engine_get_config_path (e3), ==, xdg_path);

  /* $TESSERA_CONFIG naming a missing file is an error, not a fall-through. */
  g_setenv ("TESSERA_CONFIG", "/nonexistent/env.conf", TRUE);
  g_autoptr (TesseraEngine) e4 = tessera_engine_new (NULL, &error);
  g_assert_null (e4);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "/nonexistent/env.conf"));
  g_unsetenv ("TESSERA_CONFIG");

  g_unlink (xdg_path);
  test_tmpdir_free (dir);
}

/* A user config that exists but is broken is reported, never skipped. */
static void
test_broken_xdg_not_skipped (void)
{
  g_unsetenv ("TESSERA_CONFIG");
  g_autofree char *xdg_path = write_xdg_config ("[engine]\nproviders=alpha;alpha\n");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (NULL, &error);
  g_assert_null (engine);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, xdg_path));
  g_unlink (xdg_path);
}

static void
test_no_config_anywhere (void)
{
  g_unsetenv ("TESSERA_CONFIG");
  g_unsetenv ("TESSERA_PROVIDER");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (NULL, &error);
  g_assert_no_error (error);
  if (tessera_engine_get_config_path (engine) != NULL)
    {
      g_test_skip ("a system-wide tessera.conf is installed on this machine");
      return;
    }
  g_assert_false (tessera_engine_load (engine, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER);
  g_assert_nonnull (strstr (error->message, "TESSERA_CONFIG"));
}

static void
test_shipped_configs_parse (void)
{
  const char *src = g_getenv ("TESSERA_TEST_SRCDIR");
  g_assert_nonnull (src);
  const char *files[] = { "data/tessera.conf", "data/tessera-offline.conf",
                          "data/tessera-mock.conf", "examples/example.conf" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (src, files[i], NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraEngine) engine = tessera_engine_new (path, &error);
      g_assert_no_error (error);
      g_assert_nonnull (engine);
    }
}

static void
test_null_arguments (void)
{
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*data != NULL*");
  g_assert_null (tessera_engine_new_from_data (NULL, -1, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*engine != NULL*");
  g_assert_false (tessera_engine_load (NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*engine != NULL*");
  g_assert_null (tessera_engine_get_config_path (NULL));
  g_test_assert_expected_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_setenv ("TESSERA_PLUGIN_DIR", test_plugin_dir (), TRUE);
  g_unsetenv ("TESSERA_CONFIG");

  for (guint i = 0; i < G_N_ELEMENTS (bad_configs); i++)
    {
      g_autofree char *p1 = g_strdup_printf ("/config/bad-data/%s", bad_configs[i].name);
      g_autofree char *p2 = g_strdup_printf ("/config/bad-file/%s", bad_configs[i].name);
      g_test_add_data_func (p1, &bad_configs[i], test_bad_config_data);
      g_test_add_data_func (p2, &bad_configs[i], test_bad_config_file);
    }
  g_test_add_func ("/config/binary-garbage", test_binary_garbage);
  g_test_add_func ("/config/too-large", test_too_large);
  g_test_add_func ("/config/missing-explicit", test_missing_explicit);
  g_test_add_func ("/config/directory", test_directory_as_config);
  g_test_add_func ("/config/unreadable", test_unreadable);
  g_test_add_func ("/config/search-order", test_search_order);
  g_test_add_func ("/config/broken-user-config-not-skipped", test_broken_xdg_not_skipped);
  g_test_add_func ("/config/none-anywhere", test_no_config_anywhere);
  g_test_add_func ("/config/shipped-configs-parse", test_shipped_configs_parse);
  g_test_add_func ("/config/null-arguments", test_null_arguments);
  return g_test_run ();
}
