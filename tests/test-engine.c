/* Activation: provider order and fallback, the backend contract, products,
 * production-only, async variants and sharing an engine between threads. */
#include "test-util.h"

static void
test_first_provider_grants (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha;beta", NULL, &error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "alpha");
  g_assert_cmpstr (tessera_license_get_activation_report (license), ==, "");
}

static void
test_fallback_order (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *extra = g_strdup_printf ("[provider:alpha]\nactivate=error:network\nlog=%s\n"
                                            "[provider:beta]\nactivate=error:not-found\nlog=%s\n"
                                            "[provider:gamma]\nlog=%s\n",
                                            log, log, log);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha;beta;gamma", extra, &error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "gamma");
  g_assert_cmpstr (tessera_license_get_activation_report (license), ==,
                   "alpha: alpha activate failed as scripted\n"
                   "beta: beta activate failed as scripted");

  /* Tried in the configured order, each exactly once. */
  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (log, &contents, NULL, NULL));
  g_assert_nonnull (
      strstr (contents, "alpha activate KRE\nbeta activate KRE\ngamma activate KRE\n"));
  test_tmpdir_free (dir);
}

static void
test_all_providers_fail (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine
      = test_engine_new ("alpha;beta",
                         "[provider:alpha]\nactivate=error:quota-exceeded\n"
                         "[provider:beta]\nactivate=error:expired\n",
                         &error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KSE", NULL, NULL, &error);
  g_assert_null (license);
  /* The preferred provider's code, every provider's reason. */
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "no provider granted a KSE license"));
  g_assert_nonnull (strstr (error->message, "alpha: alpha activate failed"));
  g_assert_nonnull (strstr (error->message, "beta: beta activate failed"));

  /* A single provider's error comes through with its own code. */
  g_clear_error (&error);
  g_autoptr (TesseraEngine) single
      = test_engine_new ("beta", "[provider:beta]\nactivate=error:revoked\n", &error);
  g_assert_null (tessera_engine_activate (single, "KSE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_REVOKED);
  g_assert_cmpstr (error->message, ==, "beta: beta activate failed as scripted");
}

static void
test_cancelled_stops_fallback (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *extra
      = g_strdup_printf ("[provider:alpha]\nlog=%s\n[provider:beta]\nlog=%s\n", log, log);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha;beta", extra, &error);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_cancellable_cancel (cancellable);
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (test_count_lines (log, "activate"), ==, 0);
  test_tmpdir_free (dir);
}

typedef struct
{
  const char *name;
  const char *setting;
  TesseraError code;
  const char *message;
  guint releases; /* backend release calls expected for a refused license */
} ContractCase;

static const ContractCase contract_cases[] = {
  { "activate-null-no-error", "activate=null", TESSERA_ERROR_BACKEND,
    "activate returned NULL without an error", 0 },
  { "activate-value-and-error", "activate=both", TESSERA_ERROR_BACKEND,
    "activate returned a license and set an error", 1 },
  { "activate-wrong-product", "product=KSE", TESSERA_ERROR_BACKEND,
    "returned a license for 'KSE' when asked for 'KRE'", 1 },
  { "create-null-no-error", "create=null", TESSERA_ERROR_BACKEND,
    "create returned NULL without an error", 0 },
  { "create-value-and-error", "create=both", TESSERA_ERROR_BACKEND,
    "create returned an instance and set an error", 0 },
  { "create-error", "create=error:config", TESSERA_ERROR_CONFIG, "provider 'alpha': alpha create",
    0 },
};

static void
test_contract (gconstpointer data)
{
  const ContractCase *c = data;
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *extra = g_strdup_printf ("[provider:alpha]\n%s\nlog=%s\n", c->setting, log);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", extra, &error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, (gint) c->code);
  g_assert_nonnull (strstr (error->message, c->message));
  g_assert_cmpuint (test_count_lines (log, "alpha release"), ==, c->releases);
  /* An instance created with an error is destroyed, never leaked. */
  if (g_str_equal (c->setting, "create=both"))
    g_assert_cmpuint (test_count_lines (log, "alpha destroy"), ==, 1);
  test_tmpdir_free (dir);
}

static void
test_products (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", "products=KSE;KRE\n", &error);
  g_autoptr (TesseraLicense) ok = tessera_engine_activate (engine, "KSE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (tessera_engine_activate (engine, "KER", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH);
  g_assert_nonnull (strstr (error->message, "unknown product 'KER'"));

  const char *bad[]
      = { "",      "K_SE", "../KRE",
          "KRE\n", "a/b",  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_clear_error (&error);
      g_assert_null (tessera_engine_activate (engine, bad[i], NULL, NULL, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_options_reach_backend (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", NULL, &error);
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
  tessera_activate_options_set (options, TESSERA_OPTION_API_KEY, "k-123");
  tessera_activate_options_set (options, TESSERA_OPTION_ORG_ID, "org");
  tessera_activate_options_set (options, TESSERA_OPTION_ORG_ID, NULL);
  g_assert_null (tessera_activate_options_get (options, TESSERA_OPTION_ORG_ID));
  g_autoptr (TesseraLicense) license
      = tessera_engine_activate (engine, "KRE", options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (license, "alpha.api-key"), ==, "k-123");
}

static void
test_production_only (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *extra = g_strdup_printf (
      "[provider:alpha]\ndevelopment=true\nlog=%s\n[provider:beta]\nlog=%s\n", log, log);
  g_autoptr (GError) error = NULL;

  /* Without the flag a development license is granted, and marked. */
  g_autoptr (TesseraEngine) dev = test_engine_new ("alpha", extra, &error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (dev, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_DEVELOPMENT);

  g_autoptr (TesseraEngine) prod = test_engine_new ("alpha;beta", extra, &error);
  tessera_engine_set_flags (prod, TESSERA_ENGINE_FLAG_PRODUCTION_ONLY);
  g_assert_cmpint (tessera_engine_get_flags (prod), ==, TESSERA_ENGINE_FLAG_PRODUCTION_ONLY);
  g_autoptr (TesseraLicense) l2 = tessera_engine_activate (prod, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_provider (l2), ==, "beta");
  g_assert_nonnull (
      strstr (tessera_license_get_activation_report (l2), "production licenses only"));
  g_assert_cmpuint (test_count_lines (log, "alpha release"), ==, 1); /* seat given back */

  g_autoptr (TesseraEngine) prod_only = test_engine_new ("alpha", extra, &error);
  tessera_engine_set_flags (prod_only, TESSERA_ENGINE_FLAG_PRODUCTION_ONLY);
  g_assert_null (tessera_engine_activate (prod_only, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER);
  test_tmpdir_free (dir);
}

/* The engine may go away while its licenses are held. */
static void
test_license_outlives_engine (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *extra = g_strdup_printf ("[provider:alpha]\nlog=%s\n", log);
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = test_engine_new ("alpha", extra, &error);
  TesseraLicense *license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  tessera_engine_unref (engine);
  g_assert_cmpuint (test_count_lines (log, "alpha destroy"), ==, 0);
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license); /* releases, then the instance goes */
  g_assert_cmpuint (test_count_lines (log, "alpha release"), ==, 1);
  g_assert_cmpuint (test_count_lines (log, "alpha destroy"), ==, 1);
  test_tmpdir_free (dir);
}

/* ---- async ---- */

typedef struct
{
  GMainLoop *loop;
  TesseraLicense *license;
  GError *error;
  gboolean ok;
} AsyncResult;

static void
activated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncResult *r = user_data;
  TesseraEngine *engine = g_object_get_data (G_OBJECT (result), "tessera-engine");
  r->license = tessera_engine_activate_finish (engine, result, &r->error);
  g_main_loop_quit (r->loop);
}

static void
validated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncResult *r = user_data;
  r->ok = tessera_license_validate_finish (r->license, result, &r->error);
  g_main_loop_quit (r->loop);
}

static void
released_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncResult *r = user_data;
  r->ok = tessera_license_release_finish (r->license, result, &r->error);
  g_main_loop_quit (r->loop);
}

static void
test_async (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", NULL, &error);
  AsyncResult r = { g_main_loop_new (NULL, FALSE), NULL, NULL, FALSE };

  tessera_engine_activate_async (engine, "KRE", NULL, NULL, activated_cb, &r);
  g_main_loop_run (r.loop);
  g_assert_no_error (r.error);
  g_assert_nonnull (r.license);

  tessera_license_validate_async (r.license, NULL, validated_cb, &r);
  g_main_loop_run (r.loop);
  g_assert_no_error (r.error);
  g_assert_true (r.ok);

  tessera_license_release_async (r.license, NULL, released_cb, &r);
  g_main_loop_run (r.loop);
  g_assert_no_error (r.error);
  g_assert_true (r.ok);

  tessera_license_validate_async (r.license, NULL, validated_cb, &r);
  g_main_loop_run (r.loop);
  g_assert_error (r.error, TESSERA_ERROR, TESSERA_ERROR_RELEASED);
  g_clear_error (&r.error);
  g_clear_pointer (&r.license, tessera_license_unref);

  /* Errors travel through the async path too. */
  g_autoptr (TesseraEngine) failing
      = test_engine_new ("alpha", "[provider:alpha]\nactivate=error:auth\n", &error);
  tessera_engine_activate_async (failing, "KRE", NULL, NULL, activated_cb, &r);
  g_main_loop_run (r.loop);
  g_assert_null (r.license);
  g_assert_error (r.error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&r.error);
  g_main_loop_unref (r.loop);
}

/* ---- threads: one engine, many threads ---- */

#define N_THREADS 8
#define N_ROUNDS 200

static gpointer
worker (gpointer data)
{
  TesseraEngine *engine = data;
  for (guint i = 0; i < N_ROUNDS; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraLicense) license
          = tessera_engine_activate (engine, (i % 2) ? "KRE" : "KSE", NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (tessera_license_validate (license, NULL, &error));
      if (i % 3 == 0)
        g_assert_true (tessera_license_release (license, NULL, &error));
      /* else: the last unref releases */
    }
  return NULL;
}

static void
test_threads (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *extra = g_strdup_printf ("[provider:alpha]\nlog=%s\n", log);
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = test_engine_new ("alpha", extra, &error);
  GThread *threads[N_THREADS];
  for (guint i = 0; i < N_THREADS; i++)
    threads[i] = g_thread_new ("worker", worker, engine);
  for (guint i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);
  tessera_engine_unref (engine);
  g_assert_cmpuint (test_count_lines (log, "alpha activate"), ==, N_THREADS * N_ROUNDS);
  g_assert_cmpuint (test_count_lines (log, "alpha release"), ==, N_THREADS * N_ROUNDS);
  g_assert_cmpuint (test_count_lines (log, "alpha create"), ==, 1);
  g_assert_cmpuint (test_count_lines (log, "alpha destroy"), ==, 1);
  test_tmpdir_free (dir);
}

/* Concurrent first use: the providers are instantiated exactly once. */
static gpointer
loader_thread (gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_engine_load (data, &error));
  return NULL;
}

static void
test_concurrent_load (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *extra = g_strdup_printf ("[provider:beta]\nlog=%s\n", log);
  TesseraEngine *engine = test_engine_new ("beta", extra, NULL);
  GThread *threads[N_THREADS];
  for (guint i = 0; i < N_THREADS; i++)
    threads[i] = g_thread_new ("loader", loader_thread, engine);
  for (guint i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);
  tessera_engine_unref (engine);
  g_assert_cmpuint (test_count_lines (log, "beta create"), ==, 1);
  test_tmpdir_free (dir);
}

static void
test_null_arguments (void)
{
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", NULL, NULL);
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*product != NULL*");
  g_assert_null (tessera_engine_activate (engine, NULL, NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*engine != NULL*");
  g_assert_null (tessera_engine_activate (NULL, "KRE", NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*engine != NULL*");
  g_assert_null (tessera_engine_dup_machine_id (NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*key != NULL*");
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
  tessera_activate_options_set (options, NULL, "x");
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*options != NULL*");
  g_assert_null (tessera_activate_options_get (NULL, "x"));
  g_test_assert_expected_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("TESSERA_PLUGIN_DIR", test_plugin_dir (), TRUE);
  g_unsetenv ("TESSERA_PROVIDER");

  g_test_add_func ("/engine/first-provider-grants", test_first_provider_grants);
  g_test_add_func ("/engine/fallback-order", test_fallback_order);
  g_test_add_func ("/engine/all-providers-fail", test_all_providers_fail);
  g_test_add_func ("/engine/cancelled-stops-fallback", test_cancelled_stops_fallback);
  for (guint i = 0; i < G_N_ELEMENTS (contract_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/contract/%s", contract_cases[i].name);
      g_test_add_data_func (path, &contract_cases[i], test_contract);
    }
  g_test_add_func ("/engine/products", test_products);
  g_test_add_func ("/engine/options", test_options_reach_backend);
  g_test_add_func ("/engine/production-only", test_production_only);
  g_test_add_func ("/engine/license-outlives-engine", test_license_outlives_engine);
  g_test_add_func ("/engine/async", test_async);
  g_test_add_func ("/engine/threads", test_threads);
  g_test_add_func ("/engine/concurrent-load", test_concurrent_load);
  g_test_add_func ("/engine/null-arguments", test_null_arguments);
  return g_test_run ();
}
