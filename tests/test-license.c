/* The license object: properties, release semantics, validation, and the
 * invalidated handlers (revocation, expiry, background invalidation). */
#include "test-util.h"

typedef struct
{
  char *dir;
  char *log;
  TesseraEngine *engine;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  const char *settings = data ? data : "";
  f->dir = test_tmpdir_new ();
  f->log = g_build_filename (f->dir, "ops.log", NULL);
  g_autofree char *extra = g_strdup_printf ("[provider:alpha]\nlog=%s\n%s\n", f->log, settings);
  g_autoptr (GError) error = NULL;
  f->engine = test_engine_new ("alpha", extra, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  tessera_engine_unref (f->engine);
  g_free (f->log);
  test_tmpdir_free (f->dir);
}

static TesseraLicense *
activate (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TesseraLicense *license = tessera_engine_activate (f->engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (license);
  return license;
}

static void
test_properties (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraLicense) license = activate (f);
  g_assert_cmpstr (tessera_license_get_product (license), ==, "KRE");
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "alpha");
  g_assert_cmpstr (tessera_license_get_id (license), ==, "alpha-0");
  g_assert_cmpint (tessera_license_get_kind (license), ==, TESSERA_LICENSE_KIND_FLOATING);
  g_assert_cmpstr (tessera_license_kind_to_string (tessera_license_get_kind (license)), ==,
                   "floating");
  g_assert_cmpstr (tessera_license_get_org (license), ==, "test-org");
  g_assert_cmpstr (tessera_license_get_machine_id (license), ==, "TEST-MACH-INE0-0001");
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_assert_cmpint (tessera_license_get_issued_at (license), <=, now);
  g_assert_cmpint (tessera_license_get_expires_at (license), >, now + 3000);
  g_assert_true (tessera_license_has_feature (license, "export"));
  g_assert_true (tessera_license_has_feature (license, "reports"));
  g_assert_false (tessera_license_has_feature (license, "debug"));
  g_auto (GStrv) features = tessera_license_dup_features (license);
  g_assert_cmpstrv (features, ((const char *[]){ "export", "reports", NULL }));
  g_auto (GStrv) keys = tessera_license_dup_attribute_keys (license);
  g_assert_cmpstrv (keys, ((const char *[]){ NULL }));
  g_assert_null (tessera_license_get_attribute (license, "alpha.api-key"));
  g_assert_true (tessera_license_is_held (license));
  g_assert_cmpint (tessera_license_get_flags (license), ==, TESSERA_LICENSE_FLAG_NONE);

  /* Sealed: a backend (or anybody) can no longer change it. */
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*sealed*");
  tessera_license_add_feature (license, "debug");
  g_test_assert_expected_messages ();
  g_assert_false (tessera_license_has_feature (license, "debug"));
}

static void
test_release_twice (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = activate (f);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (test_count_lines (f->log, "alpha release"), ==, 1);
  g_assert_false (tessera_license_is_held (license));
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_RELEASED);
  g_clear_pointer (&license, tessera_license_unref);
  g_assert_cmpuint (test_count_lines (f->log, "alpha release"), ==, 1); /* not again on unref */
}

static void
test_release_failure (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = activate (f);
  g_assert_false (tessera_license_release (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  /* Marked released all the same: the seat frees when its lease runs out. */
  g_assert_false (tessera_license_is_held (license));
  g_clear_error (&error);
  g_assert_true (tessera_license_release (license, NULL, &error));
}

static void
test_unref_releases (Fixture *f, gconstpointer data)
{
  TesseraLicense *license = activate (f);
  tessera_license_unref (license);
  g_assert_cmpuint (test_count_lines (f->log, "alpha release"), ==, 1);
}

typedef struct
{
  GMainLoop *loop;
  guint calls;
  TesseraError code;
  GThread *thread;
  gboolean freed;
} HandlerState;

static void
on_invalidated (TesseraLicense *license, const GError *reason, gpointer user_data)
{
  HandlerState *s = user_data;
  g_assert_nonnull (reason);
  g_assert_true (reason->domain == TESSERA_ERROR);
  s->calls++;
  s->code = (TesseraError) reason->code;
  s->thread = g_thread_self ();
  if (s->loop)
    g_main_loop_quit (s->loop);
}

static void
state_freed (gpointer data)
{
  ((HandlerState *) data)->freed = TRUE;
}

static gboolean
timeout_cb (gpointer data)
{
  g_error ("timed out waiting for the invalidated handler");
  return G_SOURCE_REMOVE;
}

static void
run_until_called (HandlerState *s)
{
  guint id = g_timeout_add_seconds (20, timeout_cb, NULL);
  while (s->calls == 0)
    g_main_loop_run (s->loop);
  g_source_remove (id);
}

static void
test_revoked_on_validate (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = activate (f);
  HandlerState s = { .loop = g_main_loop_new (NULL, FALSE) };
  guint id = tessera_license_add_invalidated_handler (license, on_invalidated, &s, state_freed);
  g_assert_cmpuint (id, >, 0);

  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_REVOKED);
  /* Never called synchronously, inside validate. */
  g_assert_cmpuint (s.calls, ==, 0);
  run_until_called (&s);
  g_assert_cmpuint (s.calls, ==, 1);
  g_assert_cmpint (s.code, ==, TESSERA_ERROR_REVOKED);
  g_assert_false (tessera_license_is_held (license));

  /* Invalid for good: the backend is not asked again. */
  g_clear_error (&error);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_REVOKED);
  g_assert_cmpuint (test_count_lines (f->log, "alpha validate"), ==, 1);

  /* A handler added now is told at once (on the next iteration). */
  HandlerState late = { .loop = g_main_loop_new (NULL, FALSE) };
  tessera_license_add_invalidated_handler (license, on_invalidated, &late, NULL);
  run_until_called (&late);
  g_assert_cmpint (late.code, ==, TESSERA_ERROR_REVOKED);

  /* An invalidated license still gives its seat back. */
  g_clear_error (&error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_cmpuint (test_count_lines (f->log, "alpha release"), ==, 1);
  g_assert_true (tessera_license_remove_invalidated_handler (license, id));
  g_assert_true (s.freed);
  g_assert_false (tessera_license_remove_invalidated_handler (license, id));
  g_main_loop_unref (s.loop);
  g_main_loop_unref (late.loop);
}

static void
test_transient_error_keeps_license (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = activate (f);
  HandlerState s = { .loop = NULL };
  tessera_license_add_invalidated_handler (license, on_invalidated, &s, NULL);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_assert_true (tessera_license_is_held (license));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (s.calls, ==, 0);
}

static void
test_expired_before_backend (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = activate (f);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED);
  g_assert_nonnull (strstr (error->message, "expired at"));
  g_assert_cmpuint (test_count_lines (f->log, "alpha validate"), ==, 0);
  g_assert_false (tessera_license_is_held (license));
}

/* The handler's main context is told when the expiry time passes, with no
 * validate call at all. */
static void
test_expiry_timer (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraLicense) license = activate (f);
  HandlerState s = { .loop = g_main_loop_new (NULL, FALSE) };
  tessera_license_add_invalidated_handler (license, on_invalidated, &s, NULL);
  run_until_called (&s);
  g_assert_cmpint (s.code, ==, TESSERA_ERROR_EXPIRED);
  g_assert_cmpuint (test_count_lines (f->log, "alpha validate"), ==, 0);
  g_main_loop_unref (s.loop);
}

/* A license dropped before it expires leaves no timer behind. */
static void
test_expiry_timer_after_unref (Fixture *f, gconstpointer data)
{
  TesseraLicense *license = activate (f);
  HandlerState s = { .loop = NULL };
  tessera_license_add_invalidated_handler (license, on_invalidated, &s, state_freed);
  tessera_license_unref (license);
  g_assert_true (s.freed);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (s.calls, ==, 0);
}

/* A backend thread invalidates; the handler runs in the main thread. */
static void
test_background_invalidation (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraLicense) license = activate (f);
  HandlerState s = { .loop = g_main_loop_new (NULL, FALSE) };
  tessera_license_add_invalidated_handler (license, on_invalidated, &s, NULL);
  run_until_called (&s);
  g_assert_cmpint (s.code, ==, TESSERA_ERROR_REVOKED);
  g_assert_true (s.thread == g_thread_self ());
  g_main_loop_unref (s.loop);
}

/* A handler registered in a worker thread with its own main context runs
 * there, not in the main thread. */
typedef struct
{
  TesseraLicense *license;
  HandlerState state;
} WorkerData;

static gpointer
context_worker (gpointer data)
{
  WorkerData *w = data;
  GMainContext *ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  w->state.loop = g_main_loop_new (ctx, FALSE);
  tessera_license_add_invalidated_handler (w->license, on_invalidated, &w->state, NULL);
  g_autoptr (GError) reason = g_error_new (TESSERA_ERROR, TESSERA_ERROR_TERMINATED, "over quota");
  tessera_license_invalidate (w->license, reason);
  tessera_license_invalidate (w->license, reason); /* idempotent */
  while (w->state.calls == 0)
    g_main_loop_run (w->state.loop);
  g_main_loop_unref (w->state.loop);
  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);
  return NULL;
}

static void
test_handler_context (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraLicense) license = activate (f);
  WorkerData w = { .license = license };
  GThread *thread = g_thread_new ("ctx", context_worker, &w);
  g_thread_join (thread);
  g_assert_cmpuint (w.state.calls, ==, 1);
  g_assert_cmpint (w.state.code, ==, TESSERA_ERROR_TERMINATED);
  g_assert_true (w.state.thread == thread);
}

/* Many threads validating one license while one of them releases it. */
static gpointer
validator (gpointer data)
{
  TesseraLicense *license = data;
  for (guint i = 0; i < 300; i++)
    {
      g_autoptr (GError) error = NULL;
      if (!tessera_license_validate (license, NULL, &error))
        g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_RELEASED);
    }
  return NULL;
}

static void
test_shared_between_threads (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraLicense) license = activate (f);
  GThread *threads[6];
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("validator", validator, license);
  g_usleep (1000);
  g_assert_true (tessera_license_release (license, NULL, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpuint (test_count_lines (f->log, "alpha release"), ==, 1);
}

static void
test_unsealed (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_license_new ("KRE", TESSERA_LICENSE_KIND_NODE_LOCKED, "loose");
  g_assert_null (tessera_license_get_provider (license));
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_true (tessera_license_release (license, NULL, NULL));
}

static void
test_null_arguments (void)
{
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*license != NULL*");
  g_assert_false (tessera_license_validate (NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*license != NULL*");
  g_assert_false (tessera_license_release (NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*license != NULL*");
  g_assert_null (tessera_license_get_product (NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*product != NULL*");
  g_assert_null (tessera_license_new (NULL, TESSERA_LICENSE_KIND_FLOATING, "x"));
  g_test_assert_expected_messages ();
  g_autoptr (TesseraLicense) license
      = tessera_license_new ("KRE", TESSERA_LICENSE_KIND_FLOATING, "x");
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*feature != NULL*");
  g_assert_false (tessera_license_has_feature (license, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*func != NULL*");
  g_assert_cmpuint (tessera_license_add_invalidated_handler (license, NULL, NULL, NULL), ==, 0);
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*reason != NULL*");
  tessera_license_invalidate (license, NULL);
  g_test_assert_expected_messages ();
}

#define ADD(path, settings, func)                                                                  \
  g_test_add (path, Fixture, settings, fixture_set_up, func, fixture_tear_down)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("TESSERA_PLUGIN_DIR", test_plugin_dir (), TRUE);
  g_unsetenv ("TESSERA_PROVIDER");

  ADD ("/license/properties", "features=export;reports\nexpires-in=3600", test_properties);
  ADD ("/license/release-twice", NULL, test_release_twice);
  ADD ("/license/release-failure", "release=error:network", test_release_failure);
  ADD ("/license/unref-releases", NULL, test_unref_releases);
  ADD ("/license/revoked-on-validate", "validate=error:revoked", test_revoked_on_validate);
  ADD ("/license/transient-error", "validate=error:network", test_transient_error_keeps_license);
  ADD ("/license/expired-before-backend", "expires-in=-10", test_expired_before_backend);
  ADD ("/license/expiry-timer", "expires-in=1", test_expiry_timer);
  ADD ("/license/expiry-timer-after-unref", "expires-in=3600", test_expiry_timer_after_unref);
  ADD ("/license/background-invalidation", "invalidate-ms=50", test_background_invalidation);
  ADD ("/license/handler-context", NULL, test_handler_context);
  ADD ("/license/shared-between-threads", NULL, test_shared_between_threads);
  g_test_add_func ("/license/unsealed", test_unsealed);
  g_test_add_func ("/license/null-arguments", test_null_arguments);
  return g_test_run ();
}
