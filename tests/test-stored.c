/* ABI 1.1: listing stored licenses, installing a license file, forgetting
 * credentials — routed through the engine, with the op contract enforced and
 * older plugins (no 1.1 slots) answering sensibly. */
#include "test-util.h"

#include <unistd.h>

typedef struct
{
  const char *name;
  const char *providers;
  const char *extra;
  const char *product; /* NULL: every product */
  guint expect_count;  /* when no error is expected */
  TesseraError code;   /* -1: success */
  const char *message_part;
} ListCase;

static const ListCase list_cases[] = {
  { "two-providers", "alpha;beta", "[provider:beta]\nlist-count=2\n", "KRE", 3, -1, NULL },
  { "every-product", "alpha", NULL, NULL, 1, -1, NULL },
  { "none", "alpha", "[provider:alpha]\nlist-count=0\n", "KRE", 0, -1, NULL },
  { "old-abi-empty", "abi10;alpha", NULL, "KRE", 1, -1, NULL },
  { "oldest-abi-empty", "oldabi", NULL, "KRE", 0, -1, NULL },
  { "provider-error", "alpha;beta", "[provider:beta]\nlist=error:permission-denied\n", "KRE", 0,
    TESSERA_ERROR_PERMISSION_DENIED, "provider 'beta': beta list failed as scripted" },
  { "null-no-error", "alpha", "[provider:alpha]\nlist=null\n", "KRE", 0, TESSERA_ERROR_BACKEND,
    "list returned NULL without an error" },
  { "value-and-error", "alpha", "[provider:alpha]\nlist=both\n", "KRE", 0, TESSERA_ERROR_BACKEND,
    "list returned a list and set an error" },
  { "null-entry", "alpha", "[provider:alpha]\nlist-answer=null-entry\n", "KRE", 0,
    TESSERA_ERROR_BACKEND, "list returned a NULL entry" },
  { "other-product", "alpha", "[provider:alpha]\nlist-answer=other-product\n", "KRE", 0,
    TESSERA_ERROR_BACKEND, "returned a license for 'OTHER' when asked for 'KRE'" },
  { "bad-product-name", "alpha", NULL, "no spaces", 0, TESSERA_ERROR_INVALID_ARGUMENT,
    "is not a product name" },
  { "missing-provider", "alpha;nosuch", NULL, "KRE", 0, TESSERA_ERROR_NO_PROVIDER, "nosuch" },
};

static void
test_list (gconstpointer data)
{
  const ListCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new (c->providers, c->extra, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) list = tessera_engine_list_licenses (engine, c->product, &error);
  if ((int) c->code == -1)
    {
      g_assert_no_error (error);
      g_assert_nonnull (list);
      g_assert_cmpuint (list->len, ==, c->expect_count);
      for (guint i = 0; i < list->len; i++)
        {
          TesseraLicense *license = list->pdata[i];
          if (c->product != NULL)
            g_assert_cmpstr (tessera_license_get_product (license), ==, c->product);
          g_assert_true (tessera_license_is_held (license));
          g_assert_nonnull (strstr (tessera_license_get_activation_report (license), "stored"));
        }
      return;
    }
  g_assert_null (list);
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_assert_nonnull (strstr (error->message, c->message_part));
}

/* A license already handed out cannot be listed again as new. */
static void
test_list_sealed (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine
      = test_engine_new ("alpha", "[provider:alpha]\nlist-answer=sealed\nlist-count=0\n", &error);
  g_autoptr (TesseraLicense) held = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) list = tessera_engine_list_licenses (engine, "KRE", &error);
  g_assert_null (list);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_BACKEND);
  g_assert_nonnull (strstr (error->message, "already handed out"));
  g_clear_error (&error);
  g_assert_true (tessera_license_release (held, NULL, &error));
  g_assert_no_error (error);
}

/* Persistent licenses are released only on request, never by the last unref:
 * they belong to the machine, not to the process that listed them. */
static void
test_persistent_not_released_on_unref (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *extra = g_strdup_printf ("[provider:alpha]\nlog=%s\nlist-count=2\n", log);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", extra, &error);
  g_autoptr (GPtrArray) list = tessera_engine_list_licenses (engine, "KSE", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 2);

  /* Explicit release of the first reaches the backend... */
  g_assert_true (tessera_license_release (list->pdata[0], NULL, &error));
  g_assert_no_error (error);
  g_assert_false (tessera_license_is_held (list->pdata[0]));
  /* ...dropping the second does not. */
  g_clear_pointer (&list, g_ptr_array_unref);
  g_assert_cmpuint (test_count_lines (log, "alpha release alpha-stored-0"), ==, 1);
  g_assert_cmpuint (test_count_lines (log, "alpha release alpha-stored-1"), ==, 0);

  /* A stored license validates through its backend like an activated one. */
  list = tessera_engine_list_licenses (engine, "KSE", &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_validate (list->pdata[1], NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (test_count_lines (log, "alpha validate alpha-stored-1"), ==, 1);
  test_tmpdir_free (dir);
}

typedef struct
{
  const char *name;
  const char *providers;
  const char *extra;
  const char *provider; /* the provider argument */
  const char *file;     /* contents, or NULL: the path is a directory; "@missing": no file */
  TesseraError code;    /* -1: success */
  const char *message_part;
  TesseraInstallFlags flags;
} InstallCase;

static const InstallCase install_cases[] = {
  { "first-installer", "oldabi;alpha;beta", NULL, NULL, "KSE\n", -1, "alpha", 0 },
  { "named", "alpha;beta", NULL, "beta", "KRE\n", -1, "beta", 0 },
  { "named-unknown", "alpha", NULL, "nosuch", "KRE\n", TESSERA_ERROR_NO_PROVIDER,
    "provider 'nosuch' is not configured (configured: alpha)", 0 },
  { "none-installs", "oldabi;abi10", NULL, NULL, "KRE\n", TESSERA_ERROR_NOT_SUPPORTED,
    "no configured provider installs license files (configured: oldabi, abi10)", 0 },
  { "named-cannot", "abi10", NULL, "abi10", "KRE\n", TESSERA_ERROR_NOT_SUPPORTED,
    "provider 'abi10' does not install license files", 0 },
  { "provider-refuses", "alpha", "[provider:alpha]\ninstall=error:machine-mismatch\n", NULL,
    "KRE\n", TESSERA_ERROR_MACHINE_MISMATCH, "alpha install failed as scripted", 0 },
  { "null-no-error", "alpha", "[provider:alpha]\ninstall=null\n", NULL, "KRE\n",
    TESSERA_ERROR_BACKEND, "install returned NULL without an error", 0 },
  { "value-and-error", "alpha", "[provider:alpha]\ninstall=both\n", NULL, "KRE\n",
    TESSERA_ERROR_BACKEND, "install returned a license and set an error", 0 },
  { "missing-file", "alpha", NULL, NULL, "@missing", TESSERA_ERROR_NOT_FOUND, "cannot read", 0 },
  { "directory", "alpha", NULL, NULL, NULL, TESSERA_ERROR_INVALID_ARGUMENT, "is a directory", 0 },
  { "too-big", "alpha", NULL, NULL, "@big", TESSERA_ERROR_INVALID_ARGUMENT,
    "far more than any license file", 0 },
  /* A provider with only the 1.1 install op would ignore the flag: the
   * core refuses instead of letting the caller believe it replaced. */
  { "replace-without-op", "alpha", NULL, NULL, "KRE\n", TESSERA_ERROR_NOT_SUPPORTED,
    "provider 'alpha' cannot replace an installed license file", TESSERA_INSTALL_REPLACE },
  { "no-flags-without-op", "alpha", NULL, NULL, "KRE\n", -1, "alpha", TESSERA_INSTALL_NONE },
};

static void
test_install (gconstpointer data)
{
  const InstallCase *c = data;
  char *dir = test_tmpdir_new ();
  g_autofree char *path = g_build_filename (dir, "KRE_given.lic", NULL);
  if (c->file == NULL)
    g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  else if (g_str_equal (c->file, "@big"))
    {
      g_autofree char *big = g_malloc0 (2 * 1024 * 1024);
      g_assert_true (g_file_set_contents (path, big, 2 * 1024 * 1024, NULL));
    }
  else if (!g_str_equal (c->file, "@missing"))
    g_assert_true (g_file_set_contents (path, c->file, -1, NULL));

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new (c->providers, c->extra, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraLicense) license
      = tessera_engine_install_license_with_flags (engine, c->provider, path, c->flags, &error);
  if ((int) c->code == -1)
    {
      g_assert_no_error (error);
      g_assert_cmpstr (tessera_license_get_provider (license), ==, c->message_part);
      /* The backend sees the file's name, not where it was found. */
      g_assert_cmpstr (tessera_license_get_id (license), ==, "KRE_given.lic");
      g_assert_nonnull (strstr (tessera_license_get_activation_report (license), "installed"));
    }
  else
    {
      g_assert_null (license);
      g_assert_error (error, TESSERA_ERROR, c->code);
      g_assert_nonnull (strstr (error->message, c->message_part));
    }
  test_tmpdir_free (dir);
}

/* The file must be readable by the caller, not by root: run the install as
 * an unprivileged user against a 0600 file root owns. */
static void
test_install_unreadable (void)
{
  if (getuid () != 0)
    {
      g_test_skip ("needs root to create a file another user cannot read");
      return;
    }
  if (g_test_subprocess ())
    {
      test_drop_privileges ();
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", NULL, &error);
      g_assert_no_error (error);
      const char *path = g_getenv ("STORED_TEST_FILE");
      g_assert_null (tessera_engine_install_license (engine, NULL, path, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
      g_assert_nonnull (strstr (error->message, "cannot read"));
      return;
    }
  char *dir = test_tmpdir_new ();
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  g_autofree char *path = g_build_filename (dir, "KRE_secret.lic", NULL);
  g_assert_true (g_file_set_contents (path, "KRE\n", -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_setenv ("STORED_TEST_FILE", path, TRUE);
  test_trap_unprivileged (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  test_tmpdir_free (dir);
}

typedef struct
{
  const char *name;
  const char *providers;
  const char *extra;
  const char *provider;
  guint expect_n;
  TesseraError code; /* -1: success */
  const char *message_part;
} ForgetCase;

static const ForgetCase forget_cases[] = {
  { "all", "alpha;beta;abi10",
    "[provider:alpha]\nforget-count=2\n[provider:beta]\nforget-count=1\n", NULL, 3, -1, NULL },
  { "one", "alpha;beta", "[provider:alpha]\nforget-count=2\n[provider:beta]\nforget-count=1\n",
    "beta", 1, -1, NULL },
  { "nothing", "alpha", NULL, NULL, 0, -1, NULL },
  { "old-abi-nothing", "abi10", NULL, "abi10", 0, -1, NULL },
  { "unknown", "alpha", NULL, "nosuch", 0, TESSERA_ERROR_NO_PROVIDER,
    "provider 'nosuch' is not configured" },
  { "refused", "alpha", "[provider:alpha]\nforget=error:permission-denied\n", NULL, 0,
    TESSERA_ERROR_PERMISSION_DENIED, "alpha forget failed as scripted" },
  { "false-no-error", "alpha", "[provider:alpha]\nforget=null\n", NULL, 0, TESSERA_ERROR_BACKEND,
    "forget returned FALSE without an error" },
  { "true-and-error", "alpha", "[provider:alpha]\nforget=both\n", NULL, 0, TESSERA_ERROR_BACKEND,
    "forget returned TRUE and set an error" },
};

static void
test_forget (gconstpointer data)
{
  const ForgetCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new (c->providers, c->extra, &error);
  g_assert_no_error (error);
  guint n = 99;
  gboolean ok = tessera_engine_forget_credentials (engine, c->provider, &n, &error);
  if ((int) c->code == -1)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpuint (n, ==, c->expect_n);
    }
  else
    {
      g_assert_false (ok);
      g_assert_error (error, TESSERA_ERROR, c->code);
      g_assert_nonnull (strstr (error->message, c->message_part));
      g_assert_cmpuint (n, ==, 0);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("TESSERA_PLUGIN_DIR", test_plugin_dir (), TRUE);
  g_unsetenv ("TESSERA_PROVIDER");

  for (guint i = 0; i < G_N_ELEMENTS (list_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/stored/list/%s", list_cases[i].name);
      g_test_add_data_func (path, &list_cases[i], test_list);
    }
  g_test_add_func ("/stored/list/sealed", test_list_sealed);
  g_test_add_func ("/stored/persistent-not-released-on-unref",
                   test_persistent_not_released_on_unref);
  for (guint i = 0; i < G_N_ELEMENTS (install_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/stored/install/%s", install_cases[i].name);
      g_test_add_data_func (path, &install_cases[i], test_install);
    }
  g_test_add_func ("/stored/install/unreadable", test_install_unreadable);
  for (guint i = 0; i < G_N_ELEMENTS (forget_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/stored/forget/%s", forget_cases[i].name);
      g_test_add_data_func (path, &forget_cases[i], test_forget);
    }
  return g_test_run ();
}
