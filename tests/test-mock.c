/* The mock provider (plugins/mock, docs/mock.md) driven through the real
 * engine and the built plugin: defaults, every scripted error, quota,
 * after/times, delays and cancellation, counters, malformed scenarios,
 * machine IDs, threads and the environment variables testers use. */
#include "mock-util.h"

#include <json-glib/json-glib.h>

/* ---- helpers ---- */

static TesseraLicense *
activate_ok (TesseraEngine *engine, const char *product)
{
  g_autoptr (GError) error = NULL;
  TesseraLicense *license = tessera_engine_activate (engine, product, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (license);
  return license;
}

/* One value of the counters file. */
static gint64
read_counter (const char *path, const char *key)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  JsonNode *root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  JsonObject *object = json_node_get_object (root);
  g_assert_true (json_object_has_member (object, key));
  return json_object_get_int_member (object, key);
}

/* ---- default grant and license contents ---- */

static void
test_default_grant (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (NULL);
  g_auto (GStrv) providers = tessera_engine_dup_providers (engine);
  g_assert_cmpstrv (providers, ((const char *const[]){ "mock", NULL }));

  gint64 before = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  gint64 after = g_get_real_time () / G_USEC_PER_SEC;

  g_assert_cmpstr (tessera_license_get_product (license), ==, "KRE");
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "mock");
  g_assert_cmpstr (tessera_license_get_id (license), ==, "mock-license");
  g_assert_cmpint (tessera_license_get_kind (license), ==, TESSERA_LICENSE_KIND_FLOATING);
  g_assert_cmpint (tessera_license_get_flags (license), ==, TESSERA_LICENSE_FLAG_NONE);
  g_assert_null (tessera_license_get_org (license));
  g_assert_cmpint (tessera_license_get_expires_at (license), ==, 0);
  g_assert_cmpint (tessera_license_get_issued_at (license), >=, before);
  g_assert_cmpint (tessera_license_get_issued_at (license), <=, after);
  g_assert_cmpstr (tessera_license_get_attribute (license, "mock.scenario"), ==, "none");
  g_auto (GStrv) features = tessera_license_dup_features (license);
  g_assert_cmpstrv (features, ((const char *const[]){ NULL }));

  /* Without machine_id, the license and the engine agree on the core
   * fingerprint. */
  g_autofree char *machine_id = tessera_engine_dup_machine_id (engine, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_machine_id (license), ==, machine_id);
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  g_assert_cmpstr (machine_id, ==, tessera_fingerprint_get_id (fp));

  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (tessera_license_is_held (license));

  /* Any product: the mock grants everything without a scenario. */
  g_autoptr (TesseraLicense) other = activate_ok (engine, "SOME-OTHER-PRODUCT");
}

static void
test_empty_scenario (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, "{}");
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KSE");
  g_assert_cmpstr (tessera_license_get_id (license), ==, "mock-license");
  g_assert_cmpstr (tessera_license_get_attribute (license, "mock.scenario"), ==, scenario);
  g_clear_pointer (&license, tessera_license_unref);
}

static void
test_license_fields (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (
      dir, "{\n"
           "  \"license\": {\n"
           "    \"kind\": \"session\", \"id\": \"lic-42\", \"org\": \"org-1\",\n"
           "    \"expires_in\": 3600, \"issued_at\": 1700000000,\n"
           "    \"entitlements\": [\"reports\", \"export\"],\n"
           "    \"attributes\": {\"tier\": \"gold\", \"mock.scenario\": \"overridden\"},\n"
           "    \"development\": true\n"
           "  }\n"
           "}\n");
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);

  gint64 before = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  gint64 after = g_get_real_time () / G_USEC_PER_SEC;

  g_assert_cmpstr (tessera_license_get_id (license), ==, "lic-42");
  g_assert_cmpint (tessera_license_get_kind (license), ==, TESSERA_LICENSE_KIND_SESSION);
  g_assert_cmpstr (tessera_license_get_org (license), ==, "org-1");
  g_assert_cmpint (tessera_license_get_issued_at (license), ==, 1700000000);
  g_assert_cmpint (tessera_license_get_expires_at (license), >=, before + 3600);
  g_assert_cmpint (tessera_license_get_expires_at (license), <=, after + 3600);
  g_assert_cmpint (tessera_license_get_flags (license), ==, TESSERA_LICENSE_FLAG_DEVELOPMENT);

  g_assert_true (tessera_license_has_feature (license, "reports"));
  g_assert_true (tessera_license_has_feature (license, "export"));
  g_assert_false (tessera_license_has_feature (license, "parallel-execution"));
  g_auto (GStrv) features = tessera_license_dup_features (license);
  g_assert_cmpstrv (features, ((const char *const[]){ "export", "reports", NULL }));

  g_assert_cmpstr (tessera_license_get_attribute (license, "tier"), ==, "gold");
  /* The mock's own attribute wins over the scenario's. */
  g_assert_cmpstr (tessera_license_get_attribute (license, "mock.scenario"), ==, scenario);
  g_auto (GStrv) keys = tessera_license_dup_attribute_keys (license);
  g_assert_cmpstrv (keys, ((const char *const[]){ "mock.scenario", "tier", NULL }));
  g_clear_pointer (&license, tessera_license_unref);
}

static void
test_license_kinds (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  for (TesseraLicenseKind kind = TESSERA_LICENSE_KIND_NODE_LOCKED;
       kind <= TESSERA_LICENSE_KIND_SESSION; kind++)
    {
      g_autofree char *json = g_strdup_printf ("{\"license\": {\"kind\": \"%s\"}}",
                                               tessera_license_kind_to_string (kind));
      g_autofree char *scenario = write_scenario (dir, json);
      g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
      g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
      g_assert_cmpint (tessera_license_get_kind (license), ==, kind);
    }
}

/* ---- every error nick ---- */

typedef struct
{
  TesseraError code;
} NickCase;

static gboolean
code_is_terminal (TesseraError code)
{
  /* What tessera_license_validate() documents as terminal, plus an
   * untrusted key, which the core treats as terminal as well. */
  switch (code)
    {
    case TESSERA_ERROR_EXPIRED:
    case TESSERA_ERROR_REVOKED:
    case TESSERA_ERROR_TAMPERED:
    case TESSERA_ERROR_MACHINE_MISMATCH:
    case TESSERA_ERROR_PRODUCT_MISMATCH:
    case TESSERA_ERROR_TERMINATED:
    case TESSERA_ERROR_CLOCK_ROLLBACK:
    case TESSERA_ERROR_UNTRUSTED_KEY:
      return TRUE;
    default:
      return FALSE;
    }
}

static void
test_error_nick (gconstpointer data)
{
  const NickCase *c = data;
  const char *nick = tessera_error_to_nick (c->code);
  g_autoptr (GError) error = NULL;
  g_autoptr (TestDir) dir = test_tmpdir_new ();

  /* activate answers the scripted code with a default message... */
  g_autofree char *json = g_strdup_printf ("{\"ops\": {\"activate\": {\"error\": \"%s\"}}}", nick);
  g_autofree char *scenario = write_scenario (dir, json);
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_autofree char *expected
      = g_strdup_printf ("mock: activate call 1 failed as scripted (%s)", nick);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  /* ...or the scenario's message. */
  g_autofree char *json2 = g_strdup_printf (
      "{\"ops\": {\"activate\": {\"error\": \"%s\", \"message\": \"custom %s text\"}}}", nick,
      nick);
  g_autofree char *scenario2 = write_scenario (dir, json2);
  g_autoptr (TesseraEngine) engine2 = mock_engine_loaded (scenario2);
  g_assert_null (tessera_engine_activate (engine2, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_autofree char *expected2 = g_strdup_printf ("mock: custom %s text", nick);
  g_assert_cmpstr (error->message, ==, expected2);
  g_clear_error (&error);

  /* validate answers it too; the core invalidates on terminal codes only. */
  g_autofree char *json3 = g_strdup_printf ("{\"ops\": {\"validate\": {\"error\": \"%s\"}}}", nick);
  g_autofree char *scenario3 = write_scenario (dir, json3);
  g_autoptr (TesseraEngine) engine3 = mock_engine_loaded (scenario3);
  g_autoptr (TesseraLicense) license = activate_ok (engine3, "KRE");
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_clear_error (&error);
  g_assert_cmpint (tessera_license_is_held (license), ==, !code_is_terminal (c->code));
  g_clear_pointer (&license, tessera_license_unref);
}

/* ---- quota ---- */

static void
test_quota (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario
      = write_scenario (dir, "{\"quota\": 2, \"counters\": \"counters.json\"}");
  g_autofree char *counters = g_build_filename (dir, "counters.json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);

  TesseraLicense *a = activate_ok (engine, "KRE");
  TesseraLicense *b = activate_ok (engine, "KSE");
  g_assert_cmpint (read_counter (counters, "held"), ==, 2);
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_assert_cmpstr (error->message, ==, "mock: all 2 seats of the mock quota are taken");
  g_clear_error (&error);

  /* Releasing frees a seat. */
  g_assert_true (tessera_license_release (a, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (read_counter (counters, "held"), ==, 1);
  TesseraLicense *c = activate_ok (engine, "KRE");
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);

  /* So does dropping a held license (the core releases it). */
  tessera_license_unref (b);
  g_assert_cmpint (read_counter (counters, "held"), ==, 1);
  TesseraLicense *d = activate_ok (engine, "KRE");
  g_assert_cmpint (read_counter (counters, "held"), ==, 2);

  tessera_license_unref (a);
  tessera_license_unref (c);
  tessera_license_unref (d);
  g_assert_cmpint (read_counter (counters, "held"), ==, 0);
}

static void
test_quota_zero (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, "{\"quota\": 0}");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
}

/* A development license refused by a production-only engine gives its seat back. */
static void
test_production_only_gives_seat_back (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (
      dir, "{\"quota\": 1, \"license\": {\"development\": true}, \"counters\": \"c.json\"}");
  g_autofree char *counters = g_build_filename (dir, "c.json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_new (scenario);
  tessera_engine_set_flags (engine, TESSERA_ENGINE_FLAG_PRODUCTION_ONLY);
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER);
  g_assert_cmpint (read_counter (counters, "held"), ==, 0);
  g_assert_cmpint (read_counter (counters, "release"), ==, 1);
}

/* ---- after / times ---- */

typedef struct
{
  const char *name;
  const char *op;
  const char *script;  /* the op's JSON object */
  const char *pattern; /* per call: '.' succeeds, 'x' fails */
} AfterTimesCase;

static const AfterTimesCase after_times_cases[] = {
  { "forever", "activate", "{\"error\": \"network\"}", "xxxx" },
  { "after-2", "activate", "{\"error\": \"network\", \"after\": 2}", "..xxxx" },
  { "times-2", "activate", "{\"error\": \"network\", \"times\": 2}", "xx...." },
  { "after-1-times-2", "activate", "{\"error\": \"network\", \"after\": 1, \"times\": 2}",
    ".xx..." },
  { "validate-after-2-times-1", "validate",
    "{\"error\": \"unavailable\", \"after\": 2, \"times\": 1}", "..x..." },
  { "validate-times-3", "validate", "{\"error\": \"network\", \"times\": 3}", "xxx.." },
  { "release-after-1-times-1", "release", "{\"error\": \"network\", \"after\": 1, \"times\": 1}",
    ".x.." },
  { "fingerprint-after-1", "fingerprint", "{\"error\": \"unavailable\", \"after\": 1}", ".xxx" },
  { "delay-only", "activate", "{\"delay_ms\": 1}", "...." },
};

static void
test_after_times (gconstpointer data)
{
  const AfterTimesCase *c = data;
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *json = g_strdup_printf ("{\"machine_id\": \"MOCK-0000-0000-0001\", "
                                           "\"ops\": {\"%s\": %s}}",
                                           c->op, c->script);
  g_autofree char *scenario = write_scenario (dir, json);
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  g_autoptr (TesseraLicense) held = NULL;
  if (g_str_equal (c->op, "validate"))
    held = activate_ok (engine, "KRE");

  for (guint i = 0; c->pattern[i] != '\0'; i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok;
      if (g_str_equal (c->op, "activate"))
        {
          g_autoptr (TesseraLicense) license
              = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
          ok = license != NULL;
        }
      else if (g_str_equal (c->op, "validate"))
        ok = tessera_license_validate (held, NULL, &error);
      else if (g_str_equal (c->op, "release"))
        {
          g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
          ok = tessera_license_release (license, NULL, &error);
        }
      else
        {
          g_autofree char *id = tessera_engine_dup_machine_id (engine, &error);
          ok = id != NULL;
          if (ok)
            g_assert_cmpstr (id, ==, "MOCK-0000-0000-0001");
        }

      g_test_message ("call %u: %s", i + 1, ok ? "ok" : error->message);
      if (c->pattern[i] == '.')
        {
          g_assert_no_error (error);
          g_assert_true (ok);
        }
      else
        {
          g_assert_false (ok);
          g_assert_nonnull (error);
          g_assert_true (error->domain == TESSERA_ERROR);
          g_assert_true (error->code == TESSERA_ERROR_NETWORK
                         || error->code == TESSERA_ERROR_UNAVAILABLE);
        }
    }
  g_clear_pointer (&held, tessera_license_unref);
}

/* docs/mock.md: "simulate revocation at second validate". */
static void
test_revocation_at_second_validate (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario
      = write_scenario (dir, "{\"ops\": {\"validate\": {\"error\": \"revoked\", \"after\": 1, "
                             "\"message\": \"revoked by the administrator\"}},"
                             " \"counters\": \"c.json\"}");
  g_autofree char *counters = g_build_filename (dir, "c.json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");

  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_REVOKED);
  g_assert_cmpstr (error->message, ==, "revoked by the administrator");
  g_clear_error (&error);
  g_assert_false (tessera_license_is_held (license));

  /* Invalidated: the core answers without asking the mock again. */
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_REVOKED);
  g_clear_error (&error);
  g_assert_cmpint (read_counter (counters, "validate"), ==, 2);

  /* Releasing an invalidated license still frees its seat in the mock. */
  g_assert_cmpint (read_counter (counters, "held"), ==, 1);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (read_counter (counters, "held"), ==, 0);
  g_clear_pointer (&license, tessera_license_unref);
}

/* A failed release keeps the seat until the license is finalized. */
static void
test_release_failure (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (
      dir,
      "{\"quota\": 1, \"ops\": {\"release\": {\"error\": \"network\"}}, \"counters\": \"c.json\"}");
  g_autofree char *counters = g_build_filename (dir, "c.json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  TesseraLicense *license = activate_ok (engine, "KRE");

  g_assert_false (tessera_license_release (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_clear_error (&error);
  g_assert_false (tessera_license_is_held (license));
  g_assert_cmpint (read_counter (counters, "held"), ==, 1);
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);

  /* Released locally: the core neither validates nor releases it again. */
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_RELEASED);
  g_clear_error (&error);
  tessera_license_unref (license);
  g_assert_cmpint (read_counter (counters, "release"), ==, 1);
  g_assert_cmpint (read_counter (counters, "held"), ==, 0);
  g_autoptr (TesseraLicense) again = activate_ok (engine, "KRE");
}

/* ---- products ---- */

static void
test_products (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, "{\"products\": [\"KRE\", \"KSE\"]}");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  g_autoptr (TesseraLicense) kre = activate_ok (engine, "KRE");
  g_autoptr (TesseraLicense) kse = activate_ok (engine, "KSE");
  g_assert_null (tessera_engine_activate (engine, "KSD", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH);
  g_assert_nonnull (strstr (error->message, "licenses KRE, KSE, not KSD"));
  g_clear_error (&error);

  /* An empty list licenses nothing. */
  g_autofree char *none = write_scenario (dir, "{\"products\": []}");
  g_autoptr (TesseraEngine) engine2 = mock_engine_loaded (none);
  g_assert_null (tessera_engine_activate (engine2, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH);
  g_clear_pointer (&kre, tessera_license_unref);
  g_clear_pointer (&kse, tessera_license_unref);
}

/* ---- delays and cancellation ---- */

static gpointer
cancel_later (gpointer data)
{
  g_usleep (100 * G_TIME_SPAN_MILLISECOND);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_delay_cancelled (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  /* A server that takes an hour to answer. */
  g_autofree char *scenario = write_scenario (
      dir,
      "{\"ops\": {\"activate\": {\"delay_ms\": 3600000}, \"validate\": {\"delay_ms\": 3600000},"
      " \"release\": {\"delay_ms\": 3600000}}}");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);

  /* Cancelled while waiting, from another thread. */
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  GThread *thread = g_thread_new ("cancel", cancel_later, cancellable);
  /* The scripted delay is an hour: the CANCELLED error is the canceller. */
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, cancellable, &error));
  g_thread_join (thread);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  /* Already cancelled: refused without waiting for the delay. */
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
}

static void
test_delay_cancelled_validate (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (
      dir, "{\"ops\": {\"validate\": {\"delay_ms\": 3600000, \"error\": \"revoked\"},"
           " \"release\": {\"delay_ms\": 3600000}}, \"counters\": \"c.json\"}");
  g_autofree char *counters = g_build_filename (dir, "c.json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");

  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  GThread *thread = g_thread_new ("cancel", cancel_later, cancellable);
  g_assert_false (tessera_license_validate (license, cancellable, &error));
  g_thread_join (thread);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  /* Cancelled before the scripted answer: still held. */
  g_assert_true (tessera_license_is_held (license));

  /* A cancelled release: released locally, the seat kept until finalize. */
  g_assert_false (tessera_license_release (license, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpint (read_counter (counters, "held"), ==, 1);
  g_clear_pointer (&license, tessera_license_unref);
  g_assert_cmpint (read_counter (counters, "held"), ==, 0);
}

/* docs/mock.md: "slow server". */
static void
test_delay_slow_server (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario
      = write_scenario (dir, "{\"ops\": {\"activate\": {\"delay_ms\": 200}}}");
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  /* A slow answer is still an answer (how slow is bench/'s business). */
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_true (tessera_license_is_held (license));
  g_clear_pointer (&license, tessera_license_unref);
}

/* ---- counters ---- */

static void
test_counters (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, "{\"counters\": \"sub/../counters.json\", "
                                                   "\"machine_id\": \"MOCK-0000-0000-0001\"}");
  g_autofree char *counters = g_build_filename (dir, "counters.json", NULL);
  g_autoptr (GError) error = NULL;

  TesseraEngine *engine = mock_engine_new (scenario);
  g_assert_false (g_file_test (counters, G_FILE_TEST_EXISTS));
  g_assert_true (tessera_engine_load (engine, &error));
  g_assert_no_error (error);
  g_autofree char *initial = NULL;
  g_assert_true (g_file_get_contents (counters, &initial, NULL, NULL));
  g_assert_cmpstr (initial, ==,
                   "{\"create\":1,\"activate\":0,\"validate\":0,\"release\":0,"
                   "\"fingerprint\":0,\"list\":0,\"install\":0,\"forget\":0,\"destroy\":0,"
                   "\"held\":0}\n");

  TesseraLicense *a = activate_ok (engine, "KRE");
  TesseraLicense *b = activate_ok (engine, "KSE");
  TesseraLicense *c = activate_ok (engine, "KRE");
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (tessera_license_validate (a, NULL, &error));
      g_assert_no_error (error);
    }
  g_assert_true (tessera_license_release (b, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *id = tessera_engine_dup_machine_id (engine, &error);
  g_assert_no_error (error);

  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (counters, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==,
                   "{\"create\":1,\"activate\":3,\"validate\":2,\"release\":1,"
                   "\"fingerprint\":1,\"list\":0,\"install\":0,\"forget\":0,"
                   "\"destroy\":0,\"held\":2}\n");

  /* No temporary file is left behind. */
  g_autoptr (GDir) d = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  guint n_files = 0;
  while (g_dir_read_name (d) != NULL)
    n_files++;
  g_assert_cmpuint (n_files, ==, 2);

  /* The engine goes first: the instance lives on while licenses do. */
  tessera_engine_unref (engine);
  g_assert_cmpint (read_counter (counters, "destroy"), ==, 0);
  tessera_license_unref (a); /* released by the core */
  tessera_license_unref (b);
  g_assert_cmpint (read_counter (counters, "held"), ==, 1);
  tessera_license_unref (c);
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (counters, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==,
                   "{\"create\":1,\"activate\":3,\"validate\":2,\"release\":3,"
                   "\"fingerprint\":1,\"list\":0,\"install\":0,\"forget\":0,"
                   "\"destroy\":1,\"held\":0}\n");
}

/* ---- malformed scenarios ---- */

typedef enum
{
  BAD_CONTENTS,
  BAD_MISSING,
  BAD_DIRECTORY,
  BAD_TOO_LARGE,
} BadKind;

typedef struct
{
  const char *name;
  BadKind kind;
  const char *contents;
  const char *expected; /* in the message, after "mock scenario PATH: " */
} BadScenario;

static const BadScenario bad_scenarios[] = {
  { "bad-json", BAD_CONTENTS, "{\"quota\": }", "not valid JSON: 1:" },
  { "trailing-comma", BAD_CONTENTS, "{\"quota\": 1,}", "not valid JSON" },
  { "trailing-garbage", BAD_CONTENTS, "{} x", "not valid JSON" },
  { "binary", BAD_CONTENTS,
    "\x7f"
    "ELF\x01\x02",
    "expected a JSON object at the top level" },
  { "unclosed", BAD_CONTENTS, "{\"quota\": 1", "not valid JSON" },
  { "second-object", BAD_CONTENTS, "{\"quota\": 1}\n{\"quota\": 2}",
    "not valid JSON: more than one value at the top level" },
  { "trailing-array", BAD_CONTENTS, "{} /* comment */ []",
    "not valid JSON: more than one value at the top level" },
  { "scalar-then-object", BAD_CONTENTS, "1 {}", "expected a JSON object at the top level" },
  { "empty-file", BAD_CONTENTS, "", "the file is empty" },
  { "whitespace-only", BAD_CONTENTS, " \n\t\n", "the file is empty" },
  { "not-an-object", BAD_CONTENTS, "[1, 2]", "expected a JSON object at the top level" },
  { "string-top-level", BAD_CONTENTS, "\"quota\"", "expected a JSON object at the top level" },
  { "null-top-level", BAD_CONTENTS, "null", "expected a JSON object at the top level" },
  { "unknown-key", BAD_CONTENTS, "{\"quotas\": 2}", "quotas: unknown key" },
  { "unknown-license-key", BAD_CONTENTS, "{\"license\": {\"kind\": \"floating\", \"colour\": 1}}",
    "license.colour: unknown key" },
  { "unknown-op", BAD_CONTENTS, "{\"ops\": {\"activte\": {}}}", "ops.activte: unknown key" },
  { "unknown-op-key", BAD_CONTENTS, "{\"ops\": {\"activate\": {\"eror\": \"revoked\"}}}",
    "ops.activate.eror: unknown key" },
  { "unknown-nick", BAD_CONTENTS, "{\"ops\": {\"activate\": {\"error\": \"quota-exceded\"}}}",
    "ops.activate.error: unknown error 'quota-exceded'" },
  { "unknown-kind", BAD_CONTENTS, "{\"license\": {\"kind\": \"perpetual\"}}",
    "license.kind: unknown kind 'perpetual'" },
  { "wrong-type-quota", BAD_CONTENTS, "{\"quota\": \"2\"}", "quota: expected an integer" },
  { "wrong-type-float", BAD_CONTENTS, "{\"quota\": 2.5}", "quota: expected an integer" },
  { "wrong-type-bool", BAD_CONTENTS, "{\"quota\": true}", "quota: expected an integer" },
  { "wrong-type-products", BAD_CONTENTS, "{\"products\": \"KRE\"}",
    "products: expected an array of strings" },
  { "wrong-type-product", BAD_CONTENTS, "{\"products\": [\"KRE\", 7]}",
    "products: element 1: expected a non-empty string" },
  { "wrong-type-license", BAD_CONTENTS, "{\"license\": []}", "license: expected an object" },
  { "wrong-type-ops", BAD_CONTENTS, "{\"ops\": \"fail\"}", "ops: expected an object" },
  { "wrong-type-op", BAD_CONTENTS, "{\"ops\": {\"validate\": 1}}",
    "ops.validate: expected an object" },
  { "wrong-type-error", BAD_CONTENTS, "{\"ops\": {\"validate\": {\"error\": 11}}}",
    "ops.validate.error: expected a string" },
  { "wrong-type-development", BAD_CONTENTS, "{\"license\": {\"development\": \"yes\"}}",
    "license.development: expected true or false" },
  { "wrong-type-attribute", BAD_CONTENTS, "{\"license\": {\"attributes\": {\"tier\": 1}}}",
    "license.attributes.tier: expected a string" },
  { "wrong-type-attributes", BAD_CONTENTS, "{\"license\": {\"attributes\": [\"a\"]}}",
    "license.attributes: expected an object" },
  { "wrong-type-entitlement", BAD_CONTENTS, "{\"license\": {\"entitlements\": [\"a\", null]}}",
    "license.entitlements: element 1" },
  { "empty-entitlement", BAD_CONTENTS, "{\"license\": {\"entitlements\": [\"\"]}}",
    "license.entitlements: element 0" },
  { "null-machine-id", BAD_CONTENTS, "{\"machine_id\": null}", "machine_id: expected a string" },
  { "empty-machine-id", BAD_CONTENTS, "{\"machine_id\": \"\"}", "machine_id: must not be empty" },
  { "empty-attribute-name", BAD_CONTENTS, "{\"license\": {\"attributes\": {\"\": \"v\"}}}",
    "license.attributes: an attribute name is empty" },
  { "negative-quota", BAD_CONTENTS, "{\"quota\": -1}", "quota: must not be negative" },
  { "negative-delay", BAD_CONTENTS, "{\"ops\": {\"release\": {\"delay_ms\": -5}}}",
    "ops.release.delay_ms: must not be negative" },
  { "negative-after", BAD_CONTENTS,
    "{\"ops\": {\"release\": {\"error\": \"auth\", \"after\": -1}}}",
    "ops.release.after: must not be negative" },
  { "negative-times", BAD_CONTENTS,
    "{\"ops\": {\"release\": {\"error\": \"auth\", \"times\": -2}}}",
    "ops.release.times: must not be negative" },
  { "negative-expires-in", BAD_CONTENTS, "{\"license\": {\"expires_in\": -3600}}",
    "license.expires_in: must not be negative" },
  { "negative-issued-at", BAD_CONTENTS, "{\"license\": {\"issued_at\": -1}}",
    "license.issued_at: must not be negative" },
  { "overflowing-integer", BAD_CONTENTS, "{\"quota\": 99999999999999999999}", "quota: " },
  { "delay-too-long", BAD_CONTENTS, "{\"ops\": {\"activate\": {\"delay_ms\": 86400001}}}",
    "ops.activate.delay_ms: must be at most 86400000" },
  { "message-without-error", BAD_CONTENTS, "{\"ops\": {\"activate\": {\"message\": \"x\"}}}",
    "ops.activate.message: only means something with \"error\"" },
  { "after-without-error", BAD_CONTENTS, "{\"ops\": {\"activate\": {\"after\": 1}}}",
    "ops.activate.after: only means something with \"error\"" },
  { "duplicate-key", BAD_CONTENTS, "{\"quota\": 1, \"quota\": 2}",
    "quota: the key appears more than once" },
  { "duplicate-nested-key", BAD_CONTENTS,
    "{\"ops\": {\"activate\": {\"error\": \"auth\", \"error\": \"revoked\"}}}",
    "ops.activate.error: the key appears more than once" },
  { "counters-unwritable", BAD_CONTENTS, "{\"counters\": \"/nonexistent-tessera-dir/c.json\"}",
    "counters: cannot write the counters file /nonexistent-tessera-dir/c.json" },
  { "missing-file", BAD_MISSING, NULL, "cannot open it: No such file or directory" },
  { "directory", BAD_DIRECTORY, NULL, "not a regular file" },
  { "too-large", BAD_TOO_LARGE, NULL, "larger than 1048576 bytes" },
};

static void
test_bad_scenario (gconstpointer data)
{
  const BadScenario *c = data;
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *path = NULL;

  switch (c->kind)
    {
    case BAD_CONTENTS:
      path = write_scenario (dir, c->contents);
      break;
    case BAD_MISSING:
      path = g_build_filename (dir, "missing.json", NULL);
      break;
    case BAD_DIRECTORY:
      path = g_strdup (dir);
      break;
    case BAD_TOO_LARGE:
      {
        /* Valid JSON, but padded past 1 MiB. */
        gsize size = 1024 * 1024 + 1;
        g_autofree char *big = g_malloc (size + 1);
        memset (big, ' ', size);
        big[0] = '{';
        big[size - 1] = '}';
        big[size] = '\0';
        path = write_scenario (dir, big);
        break;
      }
    }

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_new (path);
  g_assert_false (tessera_engine_load (engine, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_autofree char *expected = g_strdup_printf ("mock scenario %s: %s", path, c->expected);
  g_assert_nonnull (strstr (error->message, expected));
  g_clear_error (&error);

  /* Activation loads the providers itself and fails the same way. */
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, expected));
}

/* Braces in strings and comments do not confuse the check for trailing values. */
static void
test_tricky_json (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (
      dir, "/* a comment with } and { */\n"
           "{\"ops\": {\"activate\": {\"error\": \"auth\", \"message\": \"a } b ] \\\" c {\"}}}\n"
           "/* trailing comment [ */\n");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_cmpstr (error->message, ==, "mock: a } b ] \" c {");
}

/* A scenario the OS refuses to read: PERMISSION_DENIED, naming the path. Runs
 * as an unprivileged user in a subprocess, since root can read anything. */
static void
test_unreadable_scenario (void)
{
  if (g_test_subprocess ())
    {
      const char *path = g_getenv ("TESSERA_TEST_UNREADABLE");
      test_drop_privileges ();
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraEngine) engine = mock_engine_new (path);
      g_assert_false (tessera_engine_load (engine, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
      g_autofree char *expected = g_strdup_printf ("mock scenario %s: cannot open it", path);
      g_assert_nonnull (strstr (error->message, expected));
      return;
    }
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *path = write_scenario (dir, "{}");
  /* Mode 0: unreadable by its owner too, unless the owner is root. */
  g_assert_cmpint (g_chmod (path, 0), ==, 0);
  g_setenv ("TESSERA_TEST_UNREADABLE", path, TRUE);
  test_trap_unprivileged (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_unsetenv ("TESSERA_TEST_UNREADABLE");
}

/* ---- machine ID ---- */

static void
test_machine_id (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, "{\"machine_id\": \"MOCK-0000-0000-0001\"}");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = mock_engine_new (scenario);
  g_autofree char *id = tessera_engine_dup_machine_id (engine, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, "MOCK-0000-0000-0001");
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_machine_id (license), ==, "MOCK-0000-0000-0001");
  g_clear_pointer (&license, tessera_license_unref);

  /* A scripted fingerprint failure reaches the product. */
  g_autofree char *failing = write_scenario (
      dir, "{\"ops\": {\"fingerprint\": {\"error\": \"unavailable\", \"message\": \"no id\"}}}");
  g_autoptr (TesseraEngine) engine2 = mock_engine_new (failing);
  g_autofree char *none = tessera_engine_dup_machine_id (engine2, &error);
  g_assert_null (none);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  g_assert_cmpstr (error->message, ==, "no id");
}

/* ---- threads ---- */

#define N_THREADS 8
#define N_ROUNDS 50
#define QUOTA 3

typedef struct
{
  TesseraEngine *engine;
  gint in_use; /* licenses the workers hold right now */
  gint max_in_use;
  gint granted;
  gint refused;
  gint unexpected; /* errors other than QUOTA_EXCEEDED */
  gint running;
} ThreadsData;

static gpointer
threads_worker (gpointer data)
{
  ThreadsData *t = data;
  for (guint i = 0; i < N_ROUNDS; i++)
    {
      g_autoptr (GError) error = NULL;
      TesseraLicense *license = tessera_engine_activate (t->engine, "KRE", NULL, NULL, &error);
      if (license == NULL)
        {
          if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED))
            g_atomic_int_inc (&t->refused);
          else
            g_atomic_int_inc (&t->unexpected);
          g_thread_yield ();
          continue;
        }
      g_atomic_int_inc (&t->granted);
      gint now = g_atomic_int_add (&t->in_use, 1) + 1;
      gint max = g_atomic_int_get (&t->max_in_use);
      while (now > max && !g_atomic_int_compare_and_exchange (&t->max_in_use, max, now))
        max = g_atomic_int_get (&t->max_in_use);

      if (!tessera_license_validate (license, NULL, &error))
        g_atomic_int_inc (&t->unexpected);
      g_clear_error (&error);
      g_atomic_int_add (&t->in_use, -1);
      if (!tessera_license_release (license, NULL, &error))
        g_atomic_int_inc (&t->unexpected);
      tessera_license_unref (license);
    }
  g_atomic_int_add (&t->running, -1);
  return NULL;
}

static void
test_threads (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (
      dir, "{\"quota\": 3, \"counters\": \"c.json\", \"machine_id\": \"MOCK-0000-0000-0001\"}");
  g_autofree char *counters = g_build_filename (dir, "c.json", NULL);
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (scenario);
  ThreadsData t = { .engine = engine, .running = N_THREADS };
  GThread *threads[N_THREADS];

  for (guint i = 0; i < N_THREADS; i++)
    threads[i] = g_thread_new ("mock-worker", threads_worker, &t);
  /* Meanwhile, the counters file never shows more than the quota held. */
  guint reads = 0;
  while (g_atomic_int_get (&t.running) > 0)
    {
      g_assert_cmpint (read_counter (counters, "held"), <=, QUOTA);
      reads++;
      g_usleep (500);
    }
  for (guint i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);
  g_test_message ("granted %d, refused %d, %u reads of the counters", t.granted, t.refused, reads);

  g_assert_cmpint (t.unexpected, ==, 0);
  g_assert_cmpint (t.granted + t.refused, ==, N_THREADS * N_ROUNDS);
  g_assert_cmpint (t.granted, >, 0);
  g_assert_cmpint (t.max_in_use, <=, QUOTA);
  g_assert_cmpint (read_counter (counters, "activate"), ==, N_THREADS * N_ROUNDS);
  g_assert_cmpint (read_counter (counters, "validate"), ==, t.granted);
  g_assert_cmpint (read_counter (counters, "release"), ==, t.granted);
  g_assert_cmpint (read_counter (counters, "held"), ==, 0);
}

/* ---- the environment testers use ---- */

static void
test_env_scenario (void)
{
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *env_scenario
      = test_write_file (dir, "env.json", "{\"license\": {\"id\": \"from-env\"}}");
  g_autofree char *config_scenario
      = test_write_file (dir, "config.json", "{\"license\": {\"id\": \"from-config\"}}");

  g_setenv ("TESSERA_MOCK_SCENARIO", env_scenario, TRUE);
  /* Used when the config has no scenario key... */
  g_autoptr (TesseraEngine) engine = mock_engine_loaded (NULL);
  /* ...but the config's key wins. */
  g_autoptr (TesseraEngine) configured = mock_engine_loaded (config_scenario);
  g_unsetenv ("TESSERA_MOCK_SCENARIO");

  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_id (license), ==, "from-env");
  g_assert_cmpstr (tessera_license_get_attribute (license, "mock.scenario"), ==, env_scenario);
  g_autoptr (TesseraLicense) license2 = activate_ok (configured, "KRE");
  g_assert_cmpstr (tessera_license_get_id (license2), ==, "from-config");

  /* A broken scenario given by the environment fails the same way. */
  g_autofree char *bad = test_write_file (dir, "bad.json", "{\"quota\": -1}");
  g_setenv ("TESSERA_MOCK_SCENARIO", bad, TRUE);
  g_autoptr (TesseraEngine) broken = mock_engine_new (NULL);
  g_autoptr (GError) error = NULL;
  g_assert_false (tessera_engine_load (broken, &error));
  g_unsetenv ("TESSERA_MOCK_SCENARIO");
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "quota: must not be negative"));

  g_clear_pointer (&license, tessera_license_unref);
  g_clear_pointer (&license2, tessera_license_unref);
}

/* docs/mock.md: swapping in the mock with the environment only. */
static void
test_env_swap_in (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      /* A product configured for another provider (not even installed). */
      g_autoptr (TesseraEngine) engine
          = tessera_engine_new_from_data ("[engine]\nproviders=online\n", -1, &error);
      g_assert_no_error (error);
      g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
      g_assert_cmpstr (tessera_license_get_provider (license), ==, "mock");
      g_assert_cmpstr (tessera_license_get_id (license), ==, "swapped");
      return;
    }
  g_autoptr (TestDir) dir = test_tmpdir_new ();
  g_autofree char *scenario = write_scenario (dir, "{\"license\": {\"id\": \"swapped\"}}");
  g_setenv ("TESSERA_PROVIDER", "mock", TRUE);
  g_setenv ("TESSERA_MOCK_SCENARIO", scenario, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_MOCK_SCENARIO");
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *plugin_dir = g_getenv ("TESSERA_PLUGIN_DIR");
  g_assert_nonnull (plugin_dir);
  /* The caller's environment must not steer the tests; a subprocess gets
   * what its parent test set on purpose. */
  if (!g_test_subprocess ())
    {
      g_unsetenv ("TESSERA_CONFIG");
      g_unsetenv ("TESSERA_PROVIDER");
      g_unsetenv ("TESSERA_MOCK_SCENARIO");
    }

  g_test_add_func ("/mock/default-grant", test_default_grant);
  g_test_add_func ("/mock/empty-scenario", test_empty_scenario);
  g_test_add_func ("/mock/license-fields", test_license_fields);
  g_test_add_func ("/mock/license-kinds", test_license_kinds);
  for (TesseraError code = TESSERA_ERROR_FAILED; code <= TESSERA_ERROR_TERMINATED; code++)
    {
      const char *nick = tessera_error_to_nick (code);
      if (nick == NULL)
        continue;
      /* Static: a test subprocess exits without freeing test data. */
      static NickCase nick_cases[TESSERA_ERROR_TERMINATED + 1];
      nick_cases[code].code = code;
      g_autofree char *path = g_strdup_printf ("/mock/error-nick/%s", nick);
      g_test_add_data_func_full (path, &nick_cases[code], test_error_nick, NULL);
    }
  g_test_add_func ("/mock/quota", test_quota);
  g_test_add_func ("/mock/quota-zero", test_quota_zero);
  g_test_add_func ("/mock/production-only-gives-seat-back", test_production_only_gives_seat_back);
  for (guint i = 0; i < G_N_ELEMENTS (after_times_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/mock/after-times/%s", after_times_cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &after_times_cases[i], test_after_times, NULL);
    }
  g_test_add_func ("/mock/revocation-at-second-validate", test_revocation_at_second_validate);
  g_test_add_func ("/mock/release-failure", test_release_failure);
  g_test_add_func ("/mock/products", test_products);
  g_test_add_func ("/mock/delay/cancelled", test_delay_cancelled);
  g_test_add_func ("/mock/delay/cancelled-validate", test_delay_cancelled_validate);
  g_test_add_func ("/mock/delay/slow-server", test_delay_slow_server);
  g_test_add_func ("/mock/counters", test_counters);
  for (guint i = 0; i < G_N_ELEMENTS (bad_scenarios); i++)
    {
      g_autofree char *path = g_strdup_printf ("/mock/bad-scenario/%s", bad_scenarios[i].name);
      g_test_add_data_func_full (path, (gpointer) &bad_scenarios[i], test_bad_scenario, NULL);
    }
  g_test_add_func ("/mock/tricky-json", test_tricky_json);
  g_test_add_func ("/mock/unreadable-scenario", test_unreadable_scenario);
  g_test_add_func ("/mock/machine-id", test_machine_id);
  g_test_add_func ("/mock/threads", test_threads);
  g_test_add_func ("/mock/env/scenario", test_env_scenario);
  g_test_add_func ("/mock/env/swap-in", test_env_swap_in);
  return g_test_run ();
}
