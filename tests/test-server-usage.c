/* GET /api/v1/orgs/{org}/pools/{pool}/usage against the real server
 * (server/http-usage.c): the history its own requests made, refusals
 * included, as JSON and CSV; owners and admins only; bad parameters
 * refused with 400; what is counted in memory written on a clean
 * shutdown. Also on PostgreSQL (tests/store-backend.h). */
#include "server-test-fixture.h"

/* The pool's quota down to 2, then 2 seats taken, a third refused (quota)
 * and a third machine refused (machine quota). */
static void
make_history (Fixture *f)
{
  g_autofree char *path = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  Resp r = call (f, "PATCH", path, f->owner_key, "{\"quota\":2}");
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_autofree char *a = activate (f, f->member_key, "AAAA-0001", "nonce-usage-1", 200);
  g_autofree char *b = activate (f, f->owner_key, "AAAA-0002", "nonce-usage-2", 200);
  g_assert_null (activate (f, f->member_key, "AAAA-0001", "nonce-usage-3", 409));
  g_assert_null (activate (f, f->member_key, "AAAA-0003", "nonce-usage-4", 409));
}

static Resp
get_usage (Fixture *f, const char *key, const char *query)
{
  g_autofree char *path = g_strdup_printf ("/orgs/acme/pools/%s/usage%s", f->floating_pool, query);
  return call (f, "GET", path, key, NULL);
}

/* The sums (peak: the most) over the hours of a JSON answer: the test may
 * run across the turn of an hour. */
typedef struct
{
  gint64 peak, activations, quota_refused, machine_refused, users, machines;
} Sums;

static Sums
sum_hours (JsonObject *o)
{
  Sums s = { 0 };
  JsonArray *hours = json_object_get_array_member (o, "hours");
  g_assert_cmpuint (json_array_get_length (hours), >=, 1);
  for (guint i = 0; i < json_array_get_length (hours); i++)
    {
      JsonObject *h = json_array_get_object_element (hours, i);
      JsonObject *refused = json_object_get_object_member (h, "refused");
      s.peak = MAX (s.peak, json_object_get_int_member (h, "peak"));
      s.activations += json_object_get_int_member (h, "activations");
      s.quota_refused += json_object_get_int_member (refused, "quota");
      s.machine_refused += json_object_get_int_member (refused, "machine_quota");
      s.users = MAX (s.users, json_object_get_int_member (h, "users"));
      s.machines = MAX (s.machines, json_object_get_int_member (h, "machines"));
      g_assert_cmpint (json_object_get_int_member (h, "quota"), ==, 2);
      g_assert_cmpint (json_object_get_int_member (h, "hour") % 3600, ==, 0);
    }
  return s;
}

static void
test_history (Fixture *f, gconstpointer data)
{
  (void) data;
  make_history (f);
  Resp r = get_usage (f, f->owner_key, "");
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (obj (&r), "quota"), ==, 2);
  g_assert_cmpstr (str (&r, "product"), ==, "KRE");
  Sums s = sum_hours (obj (&r));
  g_assert_cmpint (s.peak, ==, 2);
  g_assert_cmpint (s.activations, ==, 2);
  g_assert_cmpint (s.quota_refused, ==, 1);
  g_assert_cmpint (s.machine_refused, ==, 1);
  g_assert_cmpint (s.users, ==, 2);
  g_assert_cmpint (s.machines, ==, 2);
  guint rows = json_array_get_length (json_object_get_array_member (obj (&r), "hours"));
  resp_clear (&r);

  /* CSV, by format=csv or by Accept: the same hours, a header first. */
  r = get_usage (f, f->owner_key, "?format=csv");
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (r.content_type, ==, "text/csv");
  g_assert_nonnull (r.disposition);
  g_assert_true (g_str_has_prefix (r.disposition, "attachment; filename=\"usage-acme-KRE-"));
  g_autofree char *csv = g_strndup (g_bytes_get_data (r.raw, NULL), g_bytes_get_size (r.raw));
  g_auto (GStrv) lines = g_strsplit (csv, "\r\n", -1);
  g_assert_cmpstr (lines[0], ==,
                   "hour,peak,quota,activations,refused_quota,refused_machine_quota,"
                   "refused_expired,users,machines");
  g_assert_cmpuint (g_strv_length (lines), ==, rows + 2); /* and "" after the last \r\n */
  if (rows == 1)
    g_assert_true (g_str_has_suffix (lines[1], ",2,2,2,1,1,0,2,2"));
  resp_clear (&r);

  char *full = g_strdup_printf ("%s/api/v1/orgs/acme/pools/%s/usage", f->url, f->floating_pool);
  SoupMessage *msg = soup_message_new ("GET", full);
  g_free (full);
  g_autofree char *auth = g_strdup_printf ("Bearer %s", f->owner_key);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Authorization", auth);
  soup_message_headers_replace (h, "Accept", "text/csv");
  GError *error = NULL;
  GBytes *body = soup_session_send_and_read (f->session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_assert_cmpstr (
      soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL), ==,
      "text/csv");
  g_assert_cmpmem (g_bytes_get_data (body, NULL), g_bytes_get_size (body), csv, strlen (csv));
  g_bytes_unref (body);
  g_object_unref (msg);
}

/* A member, and another organization's admin, are refused exactly as on
 * the pool's sessions; an unknown pool is not found. */
static void
test_access (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  g_autofree char *other
      = ts_store_bootstrap_org (store, "globex", "Globex", "owner@globex.test", now_s (), &error);
  g_assert_no_error (error);
  g_autofree char *kid = NULL;
  g_autofree char *other_key = ts_store_create_api_key (store, other, "t", now_s (), &kid, &error);
  g_assert_no_error (error);
  ts_store_close (store);
  server_start (f, NULL);

  const char *keys[] = { f->member_key, other_key };
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *sessions
          = g_strdup_printf ("/orgs/acme/pools/%s/sessions", f->floating_pool);
      Resp want = call (f, "GET", sessions, keys[i], NULL);
      Resp r = get_usage (f, keys[i], "");
      g_assert_cmpuint (want.status, ==, 403);
      assert_error (&r, want.status, error_code (&want));
      resp_clear (&r);
      resp_clear (&want);
    }
  Resp r = call (f, "GET", "/orgs/acme/pools/no-such-pool/usage", f->owner_key, NULL);
  assert_error (&r, 404, "not-found");
  resp_clear (&r);
  r = call (f, "GET", "/orgs/acme/pools/x/usage", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 401);
  resp_clear (&r);
}

static void
test_bad_params (Fixture *f, gconstpointer data)
{
  (void) data;
  const struct
  {
    const char *query, *says;
  } bad[] = {
    { "?since=yesterday", "\"since\" must be a date" },
    { "?until=2026-13-01", "\"until\" must be a date" },
    { "?since=2026-02-01&until=2026-01-01", "\"since\" must come before \"until\"" },
    { "?since=2020-01-01&until=2026-01-01", "over 800 days" },
    { "?format=xml", "\"format\" must be json or csv" },
    { "?limit=3", "unknown parameter \"limit\"" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      Resp r = get_usage (f, f->owner_key, bad[i].query);
      assert_error (&r, 400, "invalid-argument");
      const char *message = json_object_get_string_member (
          json_object_get_object_member (obj (&r), "error"), "message");
      if (strstr (message, bad[i].says) == NULL)
        g_error ("%s: '%s' does not say '%s'", bad[i].query, message, bad[i].says);
      resp_clear (&r);
    }
  /* Dates, ISO times and Unix seconds are all fine. */
  Resp r = get_usage (f, f->owner_key, "?since=2026-01-01T00:00:00Z&until=2026-01-02");
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
}

/* Nothing asked the server to write its counts: SIGTERM does. */
static void
test_shutdown_flush (Fixture *f, gconstpointer data)
{
  (void) data;
  make_history (f);
  server_stop (f);
  GError *error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  gint64 now = now_s ();
  g_autoptr (GPtrArray) hours
      = ts_store_usage_list (store, NULL, "acme", f->floating_pool, now - 7200, now + 1, &error);
  g_assert_no_error (error);
  gint64 activations = 0, refused = 0;
  for (guint i = 0; i < hours->len; i++)
    {
      const TsUsageHour *h = hours->pdata[i];
      activations += h->activations;
      refused += h->refused[TS_USAGE_REFUSED_QUOTA] + h->refused[TS_USAGE_REFUSED_MACHINES];
    }
  g_assert_cmpint (activations, ==, 2);
  g_assert_cmpint (refused, ==, 2);
  ts_store_close (store);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("usage/history", test_history, NULL);
  ADD ("usage/access", test_access, NO_SERVER);
  ADD ("usage/bad-params", test_bad_params, NULL);
  ADD ("usage/shutdown-flush", test_shutdown_flush, NULL);
  return g_test_run ();
}
