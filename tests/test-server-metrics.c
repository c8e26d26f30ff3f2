/* tessera-server's Prometheus metrics (issue 19, docs/deployment.md
 * "Monitoring"): GET /metrics behind its own token, every line of it in
 * the text format, and its values moved by exactly what the test did
 * between two scrapes (an activation, one refused by quota, a heartbeat,
 * a reaped lease), on SQLite and on PostgreSQL (tests/store-backend.h). */
#include "server-test-fixture.h"

#include <string.h>

#define TOKEN "0123456789abcdef-metrics-test-token"

typedef struct
{
  guint status;
  char *content_type;
  char *body;
} Scrape;

static void
scrape_clear (Scrape *s)
{
  g_free (s->content_type);
  g_free (s->body);
}

/* @method @path on the server at @base (a listener's URL). */
static Scrape
get_at (Fixture *f, const char *base, const char *method, const char *path, const char *bearer)
{
  g_autofree char *url = g_strconcat (base, path, NULL);
  SoupMessage *msg = soup_message_new (method, url);
  if (bearer != NULL)
    {
      g_autofree char *auth = g_strdup_printf ("Bearer %s", bearer);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
    }
  GError *error = NULL;
  GBytes *raw = soup_session_send_and_read (f->session, msg, NULL, &error);
  g_assert_no_error (error);
  Scrape s = { 0 };
  s.status = soup_message_get_status (msg);
  s.content_type = g_strdup (
      soup_message_headers_get_one (soup_message_get_response_headers (msg), "Content-Type"));
  s.body = g_strndup (g_bytes_get_data (raw, NULL), g_bytes_get_size (raw));
  if (s.status == 401)
    g_assert_cmpstr (
        soup_message_headers_get_one (soup_message_get_response_headers (msg), "WWW-Authenticate"),
        ==, "Bearer");
  g_bytes_unref (raw);
  g_object_unref (msg);
  return s;
}

static Scrape
get_metrics (Fixture *f, const char *method, const char *bearer)
{
  return get_at (f, f->url, method, "/metrics", bearer);
}

/* Every line of @text a comment (# HELP name text, # TYPE name type) or a
 * sample "name{label="value",…} number"; returns series → value. */
static GHashTable *
parse_exposition (const char *text)
{
  static GRegex *sample, *comment;
  if (sample == NULL)
    {
      sample = g_regex_new ("^([a-zA-Z_:][a-zA-Z0-9_:]*"
                            "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\[\\\\\"n])*\""
                            "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\[\\\\\"n])*\")*\\})?)"
                            " ([^ ]+)$",
                            0, 0, NULL);
      comment = g_regex_new ("^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* "
                             "(counter|gauge|histogram|summary|untyped))$",
                             0, 0, NULL);
    }
  g_assert_true (g_str_has_suffix (text, "\n"));
  GHashTable *values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++)
    {
      if (lines[i][0] == '#')
        {
          if (!g_regex_match (comment, lines[i], 0, NULL))
            g_error ("not a HELP or TYPE line: '%s'", lines[i]);
          continue;
        }
      GMatchInfo *m = NULL;
      if (!g_regex_match (sample, lines[i], 0, &m))
        g_error ("not a sample line: '%s'", lines[i]);
      char *series = g_match_info_fetch (m, 1);
      g_autofree char *number = g_match_info_fetch (m, 6);
      g_match_info_free (m);
      char *end = NULL;
      double *v = g_new (double, 1);
      *v = g_ascii_strtod (number, &end);
      if (end == number || *end != '\0')
        g_error ("not a number in '%s'", lines[i]);
      g_assert_false (g_hash_table_contains (values, series)); /* each series once */
      g_hash_table_insert (values, series, v);
    }
  return values;
}

/* A series' value; a series not exposed counts as 0 (counters appear with
 * their first event). */
static double
value (GHashTable *values, const char *series)
{
  const double *v = g_hash_table_lookup (values, series);
  return v != NULL ? *v : 0.0;
}

static GHashTable *
scrape_at (Fixture *f, const char *base, const char *bearer)
{
  Scrape s = get_at (f, base, "GET", "/metrics", bearer);
  g_assert_cmpuint (s.status, ==, 200);
  g_assert_cmpstr (s.content_type, ==, "text/plain; version=0.0.4; charset=utf-8");
  /* No credential of any kind. */
  g_assert_null (strstr (s.body, TOKEN));
  g_assert_null (strstr (s.body, f->owner_key));
  g_assert_null (strstr (s.body, f->member_key));
  g_assert_null (strstr (s.body, "tsk_"));
  g_assert_null (strstr (s.body, "postgresql://"));
  GHashTable *values = parse_exposition (s.body);
  scrape_clear (&s);
  return values;
}

static GHashTable *
scrape (Fixture *f)
{
  return scrape_at (f, f->url, TOKEN);
}

static char *
token_file (Fixture *f, const char *name, const char *content)
{
  char *path = g_build_filename (f->dir, name, NULL);
  g_assert_true (g_file_set_contents (path, content, -1, NULL));
  return path;
}

static void
start_with_token (Fixture *f)
{
  g_autofree char *path = token_file (f, "metrics-token", TOKEN "\n");
  const char *const args[] = { "--metrics-token-file", path, "--reap-interval", "1", NULL };
  server_start (f, args);
}

#define REQ(method, route, code)                                                                   \
  "tessera_http_requests_total{method=\"" method "\",route=\"/api/v1/" route "\",code=\"" code "\"}"
#define POOL(metric, pool, kind)                                                                   \
  g_strdup_printf ("tessera_pool_%s{org=\"acme\",pool=\"%s\",product=\"KRE\",kind=\"%s\"}",        \
                   metric, pool, kind)

static double
delta (GHashTable *before, GHashTable *after, const char *series)
{
  return value (after, series) - value (before, series);
}

static double
pool_value (GHashTable *values, const char *metric, const char *pool, const char *kind)
{
  g_autofree char *series = POOL (metric, pool, kind);
  g_assert_true (g_hash_table_contains (values, series));
  return value (values, series);
}

static void
test_values (Fixture *f, gconstpointer data)
{
  start_with_token (f);
  g_autoptr (GHashTable) a = scrape (f);
  g_autofree char *build
      = g_strdup_printf ("tessera_build_info{version=\"%s\"}", TESSERA_VERSION_STRING);
  g_assert_cmpfloat (value (a, build), ==, 1);

  g_autofree char *path = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  Resp r = call (f, "PATCH", path, f->owner_key, "{\"quota\":1}");
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_autofree char *sid = activate (f, f->member_key, "M-1", "nonce-0001", 200);
  g_free (activate (f, f->owner_key, "M-1", "nonce-0002", 409)); /* every seat taken */
  g_free (activate (f, f->owner_key, "M-2", "nonce-0003", 409)); /* every machine too */
  g_assert_cmpuint (heartbeat (f, f->member_key, sid, NULL), ==, 200);
  /* A session whose lease ran out, for the reaper (each second). */
  TestDb *db = test_db_open (f->db);
  gint64 now = now_s ();
  test_db_insert_session (db, "expired-session", f->nl_pool, f->owner_id, "M-9", "nonce-0009",
                          now - 120, now - 60);
  test_db_close (db);
  GHashTable *b = NULL;
  for (guint i = 0; i < 600; i++)
    {
      g_clear_pointer (&b, g_hash_table_unref);
      b = scrape (f);
      if (delta (a, b, "tessera_leases_reaped_total") > 0)
        break;
      g_usleep (100 * 1000);
    }
  g_assert_cmpfloat (delta (a, b, "tessera_leases_reaped_total"), ==, 1);

  g_assert_cmpfloat (delta (a, b, REQ ("PATCH", "orgs/*/pools/*", "200")), ==, 1);
  g_assert_cmpfloat (delta (a, b, REQ ("POST", "activate", "200")), ==, 1);
  g_assert_cmpfloat (delta (a, b, REQ ("POST", "activate", "409")), ==, 2);
  g_assert_cmpfloat (delta (a, b, REQ ("POST", "heartbeat", "200")), ==, 1);
  const char *hist = "tessera_http_request_duration_seconds";
  const char *act = "{method=\"POST\",route=\"/api/v1/activate\"";
  g_autofree char *count = g_strdup_printf ("%s_count%s}", hist, act);
  g_autofree char *inf = g_strdup_printf ("%s_bucket%s,le=\"+Inf\"}", hist, act);
  g_autofree char *le10 = g_strdup_printf ("%s_bucket%s,le=\"10\"}", hist, act);
  g_autofree char *sum = g_strdup_printf ("%s_sum%s}", hist, act);
  g_assert_cmpfloat (delta (a, b, count), ==, 3);
  g_assert_cmpfloat (value (b, inf), ==, value (b, count));
  g_assert_cmpfloat (value (b, le10), <=, value (b, inf));
  g_assert_cmpfloat (value (b, sum), >, 0);

  const char *reasons[] = { "quota",           "machine_quota", "revoked", "no_grant",
                            "not_member",      "org_required",  "expired", "terminated",
                            "invalid_request", "unavailable",   "other" };
  for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
    {
      g_autofree char *series
          = g_strdup_printf ("tessera_activations_refused_total{reason=\"%s\"}", reasons[i]);
      g_assert_true (g_hash_table_contains (b, series));
      gboolean expected
          = g_str_equal (reasons[i], "quota") || g_str_equal (reasons[i], "machine_quota");
      g_assert_cmpfloat (delta (a, b, series), ==, expected ? 1 : 0);
    }
  g_assert_cmpfloat (delta (a, b, "tessera_database_errors_total"), ==, 0);
  g_assert_cmpfloat (delta (a, b, "tessera_store_commit_duration_seconds_count"), >=, 1);
  g_assert_cmpfloat (value (b, "tessera_store_commit_duration_seconds_bucket{le=\"+Inf\"}"), ==,
                     value (b, "tessera_store_commit_duration_seconds_count"));
  /* SQLite's lease writer has a queue; on PostgreSQL each heartbeat is a
   * transaction of its own. */
  g_assert_true (g_hash_table_contains (b, "tessera_store_lease_queue_depth")
                 == !test_store_postgresql ());

  /* One series per pool, read at scrape time. */
  g_assert_cmpfloat (pool_value (a, "seats_in_use", f->floating_pool, "floating"), ==, 0);
  g_assert_cmpfloat (pool_value (a, "seats_quota", f->floating_pool, "floating"), ==, 10);
  g_assert_cmpfloat (pool_value (b, "seats_in_use", f->floating_pool, "floating"), ==, 1);
  g_assert_cmpfloat (pool_value (b, "seats_quota", f->floating_pool, "floating"), ==, 1);
  g_assert_cmpfloat (pool_value (b, "machines_registered", f->floating_pool, "floating"), ==, 1);
  g_assert_cmpfloat (pool_value (b, "seats_in_use", f->nl_pool, "node-locked"), ==, 0);
  g_assert_cmpfloat (pool_value (b, "seats_quota", f->nl_pool, "node-locked"), ==, 5);
  g_assert_cmpfloat (pool_value (b, "machines_registered", f->nl_pool, "node-locked"), ==, 0);
  g_hash_table_unref (b);
}

/* Only the metrics token opens /metrics; no token configured: no /metrics. */
static void
test_token (Fixture *f, gconstpointer data)
{
  Scrape s = get_metrics (f, "GET", TOKEN);
  g_assert_cmpuint (s.status, ==, 404);
  scrape_clear (&s);
  server_stop (f);

  start_with_token (f);
  const char *refused[] = { NULL, "wrong-token-of-the-same-sort-0000", TOKEN "x", "" };
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      s = get_metrics (f, "GET", refused[i]);
      g_assert_cmpuint (s.status, ==, 401);
      g_assert_null (strstr (s.body, TOKEN));
      scrape_clear (&s);
    }
  /* An API key is no metrics token, even its owner's. */
  s = get_metrics (f, "GET", f->owner_key);
  g_assert_cmpuint (s.status, ==, 401);
  scrape_clear (&s);
  s = get_metrics (f, "POST", TOKEN);
  g_assert_cmpuint (s.status, ==, 405);
  scrape_clear (&s);
  s = get_metrics (f, "GET", TOKEN);
  g_assert_cmpuint (s.status, ==, 200);
  scrape_clear (&s);
  /* The refusals are counted under their route, never under the path. */
  g_autoptr (GHashTable) v = scrape (f);
  g_assert_cmpfloat (value (v, "tessera_http_requests_total{method=\"GET\",route=\"/metrics\","
                               "code=\"401\"}"),
                     ==, 5);
}

/* ---------------------------------------------------------------- --metrics-listen */

/* Starts the server with --metrics-listen 127.0.0.1:0 and @extra; returns
 * the metrics listener's URL, read from its "metrics listening on" line. */
static char *
start_with_listener (Fixture *f, const char *const *extra)
{
  GPtrArray *args = g_ptr_array_new ();
  g_ptr_array_add (args, "--metrics-listen");
  g_ptr_array_add (args, "127.0.0.1:0");
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (args, (char *) extra[i]);
  g_ptr_array_add (args, NULL);
  char *metrics_url = NULL;
  f->proc = server_util_spawn_full (f->db, f->keys, f->log, (const char *const *) args->pdata,
                                    f->tls, &f->url, &metrics_url);
  g_ptr_array_unref (args);
  g_assert_true (g_str_has_prefix (metrics_url, "http://127.0.0.1:"));
  g_assert_cmpstr (metrics_url, !=, f->url);
  return metrics_url;
}

/* What the API serves on its own listener, asked of the metrics listener:
 * 404 for each, whatever the credentials. */
static void
assert_only_metrics (Fixture *f, const char *base)
{
  const char *paths[] = { "/api/v1/health", "/api/v1/public-key",
                          "/api/v1/me",     "/api/v1/orgs/acme/pools",
                          "/admin/",        "/",
                          "/metrics/",      "/METRICS" };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      Scrape s = get_at (f, base, "GET", paths[i], f->owner_key);
      if (s.status != 404)
        g_error ("GET %s on the metrics listener: %u, not 404", paths[i], s.status);
      g_assert_nonnull (strstr (s.body, "this listener serves only GET /metrics"));
      scrape_clear (&s);
    }
  Resp r = call_full (f->session, base, "POST", "/activate", f->member_key, NULL,
                      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}", -1);
  g_assert_cmpuint (r.status, ==, 404);
  resp_clear (&r);
  Scrape s = get_at (f, base, "POST", "/metrics", NULL);
  g_assert_cmpuint (s.status, ==, 405);
  scrape_clear (&s);
}

/* --metrics-listen without a token file: /metrics there needs no token, and
 * nothing else is served there; the API's listener serves the API and no
 * /metrics (no token configured), as before. */
static void
test_listener (Fixture *f, gconstpointer data)
{
  g_autofree char *metrics_url = start_with_listener (f, NULL);
  g_autoptr (GHashTable) a = scrape_at (f, metrics_url, NULL);
  g_autofree char *build
      = g_strdup_printf ("tessera_build_info{version=\"%s\"}", TESSERA_VERSION_STRING);
  g_assert_cmpfloat (value (a, build), ==, 1);
  assert_only_metrics (f, metrics_url);

  /* The API's listener: the API, and no /metrics without a token file. */
  g_autofree char *sid = activate (f, f->member_key, "M-1", "nonce-0001", 200);
  Scrape s = get_metrics (f, "GET", NULL);
  g_assert_cmpuint (s.status, ==, 404);
  scrape_clear (&s);
  /* The same counters, whichever listener: the activation is seen there,
   * and the requests refused on the metrics listener are not API routes. */
  g_autoptr (GHashTable) b = scrape_at (f, metrics_url, NULL);
  g_assert_cmpfloat (delta (a, b, REQ ("POST", "activate", "200")), ==, 1);
  g_assert_cmpfloat (delta (a, b, REQ ("POST", "activate", "404")), ==, 0);
  g_assert_cmpfloat (pool_value (b, "seats_in_use", f->floating_pool, "floating"), ==, 1);
}

/* --metrics-listen with --metrics-token-file: the token is needed on both
 * listeners. */
static void
test_listener_token (Fixture *f, gconstpointer data)
{
  g_autofree char *path = token_file (f, "metrics-token", TOKEN "\n");
  const char *const extra[] = { "--metrics-token-file", path, NULL };
  g_autofree char *metrics_url = start_with_listener (f, extra);
  const char *bases[] = { metrics_url, f->url };
  for (guint i = 0; i < G_N_ELEMENTS (bases); i++)
    {
      const char *refused[] = { NULL, "wrong-token-of-the-same-sort-0000", f->owner_key };
      for (guint j = 0; j < G_N_ELEMENTS (refused); j++)
        {
          Scrape s = get_at (f, bases[i], "GET", "/metrics", refused[j]);
          g_assert_cmpuint (s.status, ==, 401);
          scrape_clear (&s);
        }
      g_autoptr (GHashTable) v = scrape_at (f, bases[i], TOKEN);
      g_assert_true (g_hash_table_size (v) > 0);
    }
  assert_only_metrics (f, metrics_url);
}

/* Label values are escaped (backslash, double quote, line feed): a product
 * name the API would refuse, written into the database behind its back. */
static void
test_escaping (Fixture *f, gconstpointer data)
{
  TestDb *db = test_db_open (f->db);
  const char *sql = "INSERT INTO pools (id, org_id, product, kind, billing, quota,"
                    " subscription_end, created_at) VALUES ('odd-pool', 'acme',"
                    " 'K\"R\\E\nX', 'floating', 'annual', 3, 4102444800, 0)";
  if (db->pg != NULL)
    PQclear (test_pg_run (db->pg, sql));
  else
    g_assert_cmpint (sqlite3_exec (db->lite, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  test_db_close (db);
  start_with_token (f);
  g_autoptr (GHashTable) v = scrape (f);
  g_assert_cmpfloat (value (v, "tessera_pool_seats_quota{org=\"acme\",pool=\"odd-pool\","
                               "product=\"K\\\"R\\\\E\\nX\",kind=\"floating\"}"),
                     ==, 3);
}

/* A statement the database refuses (a trigger of this test's making) is
 * counted: the series an alert on database errors watches. */
static void
test_db_errors (Fixture *f, gconstpointer data)
{
  TestDb *db = test_db_open (f->db);
  if (db->pg != NULL)
    {
      PQclear (test_pg_run (db->pg, "CREATE FUNCTION boom () RETURNS trigger LANGUAGE plpgsql"
                                    " AS $$BEGIN RAISE EXCEPTION 'injected'; END$$"));
      PQclear (test_pg_run (db->pg, "CREATE TRIGGER boom BEFORE INSERT ON sessions"
                                    " FOR EACH ROW EXECUTE FUNCTION boom ()"));
    }
  else
    g_assert_cmpint (sqlite3_exec (db->lite,
                                   "CREATE TRIGGER boom BEFORE INSERT ON sessions"
                                   " BEGIN SELECT RAISE (ABORT, 'injected'); END",
                                   NULL, NULL, NULL),
                     ==, SQLITE_OK);
  test_db_close (db);
  start_with_token (f);
  g_autoptr (GHashTable) a = scrape (f);
  g_free (activate (f, f->member_key, "M-1", "nonce-0001", 500));
  g_autoptr (GHashTable) b = scrape (f);
  g_assert_cmpfloat (delta (a, b, "tessera_database_errors_total"), >=, 1);
  g_assert_cmpfloat (delta (a, b, REQ ("POST", "activate", "500")), ==, 1);
  g_assert_cmpfloat (delta (a, b, "tessera_activations_refused_total{reason=\"other\"}"), ==, 1);
}

/* A bad token file stops the server before it opens anything, in one
 * line that says what to do; --check-config names the file, never the
 * token. */
static void
test_options (Fixture *f, gconstpointer data)
{
  g_autofree char *db = g_build_filename (f->dir, "never.db", NULL);
  g_autofree char *good = token_file (f, "good", TOKEN "\n");
  g_autofree char *shorter = token_file (f, "short", "too-short\n");
  g_autofree char *spaced = token_file (f, "spaced", "a token with spaces in it\n");
  g_autofree char *lines = token_file (f, "lines", TOKEN "\n" TOKEN "\n");
  g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);
  g_autofree char *conf_text = g_strdup_printf ("[server]\nmetrics-token-file=%s\n", shorter);
  g_autofree char *conf = token_file (f, "server.conf", conf_text);
  const struct
  {
    const char *flag, *value;
    int code;
    const char *says;
  } bad[] = {
    { "--metrics-token-file", shorter, 1, "at least 16 printable characters" },
    { "--metrics-token-file", spaced, 1, "without spaces" },
    { "--metrics-token-file", lines, 1, "one line" },
    { "--metrics-token-file", missing, 10, "cannot read --metrics-token-file" },
    { "--config", conf, 9, "metrics-token-file (in " },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      /* --check-config: refused all the same, and a server that wrongly
       * took the option would print and exit, never listen. */
      const char *args[] = { "--database", db, bad[i].flag, bad[i].value, "--check-config", NULL };
      g_autofree char *err = NULL;
      g_assert_cmpint (server_util_run (args, NULL, &err), ==, bad[i].code);
      g_assert_true (g_str_has_prefix (err, "tessera-server: "));
      g_assert_nonnull (strstr (err, bad[i].says));
      g_assert_cmpuint (strchr (err, '\n') - err, ==, strlen (err) - 1); /* one line */
      g_assert_null (strstr (err, "too-short"));
    }
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));

  const char *args[] = { "--database", db, "--metrics-token-file", good, "--check-config", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (server_util_run (args, &out, &err), ==, 0);
  g_autofree char *line = g_strdup_printf ("\nmetrics-token-file=%s\n", good);
  g_assert_nonnull (strstr (out, line));
  g_assert_null (strstr (out, TOKEN));
  g_assert_nonnull (strstr (out, "\n#metrics-listen=\n"));
}

/* A --metrics-listen that is no address, or that cannot be bound, stops
 * the server with one line; --check-config prints the one in effect. */
static void
test_listener_options (Fixture *f, gconstpointer data)
{
  g_autofree char *db = g_build_filename (f->dir, "never.db", NULL);
  g_autofree char *conf = token_file (f, "server.conf", "[server]\nmetrics-listen=127.0.0.1\n");
  const struct
  {
    const char *flag, *value;
    int code;
    const char *says;
  } bad[] = {
    { "--metrics-listen", "nonsense", 1,
      "invalid --metrics-listen nonsense: expected ADDRESS:PORT with a numeric address" },
    { "--metrics-listen", "127.0.0.1:65536", 1, "invalid --metrics-listen 127.0.0.1:65536" },
    { "--metrics-listen", "metrics.example:9100", 1, "invalid --metrics-listen metrics.example" },
    { "--config", conf, 9, "invalid metrics-listen (in " },
    { "--metrics-listen", "0.0.0.0:9100", 1,
      "refusing an unauthenticated /metrics on non-loopback --metrics-listen 0.0.0.0:9100: give "
      "--metrics-token-file, or --allow-insecure" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      /* --check-config: refused all the same, and a server that wrongly
       * took the option would print and exit, never listen. */
      const char *args[] = { "--database", db, bad[i].flag, bad[i].value, "--check-config", NULL };
      g_autofree char *err = NULL;
      g_assert_cmpint (server_util_run (args, NULL, &err), ==, bad[i].code);
      g_assert_true (g_str_has_prefix (err, "tessera-server: "));
      if (strstr (err, bad[i].says) == NULL)
        g_error ("'%s' does not say '%s'", err, bad[i].says);
      g_assert_cmpuint (strchr (err, '\n') - err, ==, strlen (err) - 1); /* one line */
    }
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));

  const char *check[]
      = { "--database", db, "--metrics-listen", "127.0.0.1:9100", "--check-config", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (server_util_run (check, &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "\nmetrics-listen=127.0.0.1:9100\n"));
  /* Off loopback: with the token, or when the administrator allows it. */
  g_autofree char *tok = token_file (f, "metrics.token", TOKEN "\n");
  const char *with_token[] = { "--database",           db,  "--metrics-listen", "0.0.0.0:9100",
                               "--metrics-token-file", tok, "--check-config",   NULL };
  g_autofree char *out2 = NULL, *err2 = NULL;
  g_assert_cmpint (server_util_run (with_token, &out2, &err2), ==, 0);
  const char *allowed[]
      = { "--database",     db,  "--metrics-listen", "0.0.0.0:9100", "--allow-insecure",
          "--check-config", NULL };
  g_autofree char *out3 = NULL, *err3 = NULL;
  g_assert_cmpint (server_util_run (allowed, &out3, &err3), ==, 0);

  /* A port already taken (held here): the server says so and exits
   * before it opens the database, and never prints that it listens. */
  GError *error = NULL;
  g_autoptr (GSocket) held
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_assert_true (g_socket_bind (held, any, FALSE, &error));
  g_assert_true (g_socket_listen (held, &error));
  g_autoptr (GSocketAddress) bound = g_socket_get_local_address (held, &error);
  g_assert_no_error (error);
  g_autofree char *taken = g_strdup_printf (
      "127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_autofree char *keys = g_build_filename (f->dir, "keys", NULL);
  const char *busy[] = { "--database",       db,    "--key-dir", keys, "--listen", "127.0.0.1:0",
                         "--metrics-listen", taken, NULL };
  g_autofree char *busy_out = NULL, *busy_err = NULL;
  g_assert_cmpint (server_util_run (busy, &busy_out, &busy_err), ==, 9);
  g_autofree char *says
      = g_strdup_printf ("tessera-server: cannot listen on %s (--metrics-listen): ", taken);
  if (!g_str_has_prefix (busy_err, says))
    g_error ("'%s' does not begin with '%s'", busy_err, says);
  g_assert_cmpuint (strchr (busy_err, '\n') - busy_err, ==, strlen (busy_err) - 1);
  g_assert_null (strstr (busy_out, "listening on"));
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (keys, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("metrics/values", test_values, NO_SERVER);
  ADD ("metrics/token", test_token, NULL);
  ADD ("metrics/options", test_options, NO_SERVER);
  ADD ("metrics/listener", test_listener, NO_SERVER);
  ADD ("metrics/listener-token", test_listener_token, NO_SERVER);
  ADD ("metrics/listener-options", test_listener_options, NO_SERVER);
  ADD ("metrics/escaping", test_escaping, NO_SERVER);
  ADD ("metrics/database-errors", test_db_errors, NO_SERVER);
  return g_test_run ();
}
