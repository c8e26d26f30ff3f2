/* tessera-server over HTTP: the real binary ($TESSERA_SERVER) on 127.0.0.1,
 * port 0, a temporary SQLite file bootstrapped through the store API, and a
 * libsoup-3 client: the API's rules. The server as a process (concurrency,
 * restarts, signals, TLS, its options) is tests/test-server-process.c. */
#include "server-test-fixture.h"

/* ---------------------------------------------------------------- tests */

static void
test_health (Fixture *f, gconstpointer data)
{
  Resp r = call (f, "GET", "/health", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (str (&r, "status"), ==, "ok");
  resp_clear (&r);
  r = call (f, "GET", "/nope", f->owner_key, NULL);
  assert_error (&r, 404, "not-found");
  resp_clear (&r);
  r = call (f, "DELETE", "/health", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 405);
  resp_clear (&r);
  r = call (f, "GET", "/me", f->member_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (
      json_object_get_string_member (json_object_get_object_member (obj (&r), "user"), "email"), ==,
      "member@acme.test");
  JsonArray *orgs = json_object_get_array_member (obj (&r), "orgs");
  g_assert_cmpuint (json_array_get_length (orgs), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (orgs, 0), "role"),
                   ==, "member");
  resp_clear (&r);
}

/* An offline license's file comes back byte for byte, to admins of its
 * organization only, and nothing else is issued or counted. */
static void
test_offline_download (Fixture *f, gconstpointer data)
{
  char *grants = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", f->member_id);
  Resp r = call (f, "POST", grants, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  char *path = g_strdup_printf ("/orgs/acme/pools/%s/offline", f->nl_pool);
  r = call (f, "POST", path, f->owner_key, "{\"machine_id\":\"QD56-P8HQ\"}");
  g_assert_cmpuint (r.status, ==, 201);
  GBytes *created = g_bytes_ref (r.raw);
  resp_clear (&r);
  r = call (f, "GET", path, f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  JsonArray *list = json_object_get_array_member (obj (&r), "offline");
  char *id
      = g_strdup (json_object_get_string_member (json_array_get_object_element (list, 0), "id"));
  resp_clear (&r);

  char *one = g_strdup_printf ("%s/%s", path, id);
  r = call (f, "GET", one, f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (r.content_type, ==, "application/octet-stream");
  g_assert_cmpstr (r.disposition, ==, "attachment; filename=\"KRE_QD56-P8HQ.lic\"");
  g_assert_true (g_bytes_equal (r.raw, created));
  resp_clear (&r);
  g_assert_cmpuint (count_list (f, path, "offline"), ==, 1);

  /* a member may not */
  r = call (f, "GET", one, f->member_key, NULL);
  assert_error (&r, 403, "permission-denied");
  resp_clear (&r);
  /* not under another pool, nor an unknown id */
  char *elsewhere = g_strdup_printf ("/orgs/acme/pools/%s/offline/%s", f->floating_pool, id);
  r = call (f, "GET", elsewhere, f->owner_key, NULL);
  assert_error (&r, 404, "not-found");
  resp_clear (&r);
  char *unknown = g_strdup_printf ("%s/no-such-license", path);
  r = call (f, "GET", unknown, f->owner_key, NULL);
  assert_error (&r, 404, "not-found");
  resp_clear (&r);

  g_free (unknown);
  g_free (elsewhere);
  g_free (one);
  g_free (id);
  g_bytes_unref (created);
  g_free (path);
  g_free (body);
  g_free (grants);
}

/* The public key verifies an offline license the server issues. */
static void
test_public_key_offline (Fixture *f, gconstpointer data)
{
  Resp r = call (f, "GET", "/public-key", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (r.content_type, ==, "text/plain");
  char *line = g_strndup (g_bytes_get_data (r.raw, NULL), g_bytes_get_size (r.raw));
  g_assert_true (g_str_has_prefix (line, "tessera-ed25519-public "));
  resp_clear (&r);

  char *path = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", f->member_id);
  r = call (f, "POST", path, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 201);
  g_assert_cmpstr (str (&r, "user_id"), ==, f->member_id);
  g_assert_cmpstr (str (&r, "email"), ==, "member@acme.test");
  resp_clear (&r);
  g_free (body);
  g_free (path);

  path = g_strdup_printf ("/orgs/acme/pools/%s/offline", f->nl_pool);
  r = call (f, "POST", path, f->owner_key,
            "{\"machine_id\":\"QD56-P8HQ\",\"entitlements\":[\"pro\"]}");
  g_assert_cmpuint (r.status, ==, 201);
  g_assert_cmpstr (r.content_type, ==, "application/octet-stream");
  g_assert_cmpstr (r.disposition, ==, "attachment; filename=\"KRE_QD56-P8HQ.lic\"");
  GError *error = NULL;
  TesseraTrustedKeys *keys = tessera_trusted_keys_new ();
  g_strstrip (line);
  g_assert_true (tessera_trusted_keys_add_public (keys, line, &error));
  g_assert_no_error (error);
  TesseraLicfile *lic = tessera_licfile_verify (r.raw, keys, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_licfile_check (lic, "KRE", "QD56-P8HQ", now_s (), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_licfile_get_org (lic), ==, "acme");
  g_assert_cmpstr (tessera_licfile_get_entitlements (lic)[0], ==, "pro");
  tessera_licfile_unref (lic);
  tessera_trusted_keys_unref (keys);
  resp_clear (&r);
  g_assert_cmpuint (count_list (f, path, "offline"), ==, 1);
  /* a member may not */
  r = call (f, "POST", path, f->member_key, "{\"machine_id\":\"QD56-P8HQ\"}");
  assert_error (&r, 403, "permission-denied");
  resp_clear (&r);
  g_free (path);
  g_free (line);
}

static void
test_flow (Fixture *f, gconstpointer data)
{
  Resp r = call (f, "POST", "/activate", f->member_key,
                 "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}");
  g_assert_cmpuint (r.status, ==, 200);
  /* Answer format 2: the payload as signed text, nothing beside it. */
  g_assert_cmpuint (json_object_get_size (obj (&r)), ==, 3);
  g_assert_cmpint (json_object_get_int_member (obj (&r), "format"), ==, 2);
  g_assert_nonnull (str (&r, "signature"));
  JsonObject *p = answer_payload (obj (&r));
  g_assert_cmpstr (json_object_get_string_member (p, "org_id"), ==, "acme");
  g_assert_cmpstr (json_object_get_string_member (p, "product"), ==, "KRE");
  g_assert_cmpstr (json_object_get_string_member (p, "kind"), ==, "floating");
  g_assert_cmpstr (json_object_get_string_member (p, "machine_id"), ==, "M-1");
  g_assert_cmpstr (json_object_get_string_member (p, "license_id"), ==, f->floating_pool);
  g_assert_cmpint (json_object_get_int_member (p, "lease_seconds"), ==, 60);
  gint64 server_time = json_object_get_int_member (p, "server_time");
  g_assert_cmpint (ABS (server_time - now_s ()), <=, 5);
  g_assert_cmpint (json_object_get_int_member (p, "lease_expires_at"), ==, server_time + 60);
  g_assert_cmpint (json_object_get_int_member (p, "subscription_end"), >, server_time);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (p, "entitlements")), ==,
                    0);
  char *sid = g_strdup (json_object_get_string_member (p, "session_id"));
  json_object_unref (p);
  resp_clear (&r);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);

  char *body = g_strdup_printf ("{\"session_id\":\"%s\"}", sid);
  r = call (f, "POST", "/heartbeat", f->member_key, body);
  g_assert_cmpuint (r.status, ==, 200);
  p = answer_payload (obj (&r));
  g_assert_cmpint (json_object_get_int_member (p, "lease_expires_at"), >=, server_time + 60);
  g_assert_true (json_object_has_member (p, "server_time"));
  json_object_unref (p);
  resp_clear (&r);
  /* someone else's session */
  r = call (f, "POST", "/heartbeat", f->owner_key, body);
  g_assert_cmpuint (r.status, >=, 400);
  resp_clear (&r);

  for (int i = 0; i < 2; i++) /* releasing twice is fine */
    {
      r = call (f, "POST", "/release", f->member_key, body);
      g_assert_cmpuint (r.status, ==, 200);
      g_assert_cmpuint (json_object_get_size (obj (&r)), ==, 0);
      resp_clear (&r);
    }
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
  char *code = NULL;
  g_assert_cmpuint (heartbeat (f, f->member_key, sid, &code), ==, 410);
  g_assert_cmpstr (code, ==, "terminated");
  g_free (code);
  g_free (body);
  g_free (sid);

  /* the request log: one line per request, with the org */
  char *log = NULL;
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, "POST /api/v1/activate 200 "));
  g_assert_nonnull (strstr (log, "org=acme"));
  g_free (log);
}

static void
test_auth (Fixture *f, gconstpointer data)
{
  /* a second key, revoked through the API */
  Resp r = call (f, "POST", "/keys", f->member_key, "{\"label\":\"laptop\"}");
  g_assert_cmpuint (r.status, ==, 201);
  char *key = g_strdup (str (&r, "key"));
  char *kid = g_strdup (str (&r, "id"));
  g_assert_true (g_str_has_prefix (key, "tsk_"));
  resp_clear (&r);
  r = call (f, "GET", "/me", key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_assert_cmpuint (count_list (f, "/keys", "keys"), ==, 1); /* the owner's own */
  char *path = g_strdup_printf ("/keys/%s", kid);
  r = call (f, "DELETE", path, f->member_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_free (path);
  r = call (f, "GET", "/keys", f->member_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj (&r), "keys")), ==, 2);
  resp_clear (&r);

  char *wrong = g_strdup (f->member_key);
  wrong[strlen (wrong) - 1] = wrong[strlen (wrong) - 1] == 'A' ? 'B' : 'A';
  const struct
  {
    const char *method, *path, *key, *body;
  } cases[] = {
    { "GET", "/me", NULL, NULL },
    { "GET", "/me", "", NULL },
    { "GET", "/me", wrong, NULL },
    { "GET", "/me", key, NULL },
    { "GET", "/me", "tsk_nope", NULL },
    { "POST", "/activate", NULL,
      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}" },
    { "POST", "/activate", key,
      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}" },
    { "GET", "/orgs/acme/pools", wrong, NULL },
    { "POST", "/keys", NULL, "{\"label\":\"x\"}" },
    /* the client requests check their key in their own transaction: an
     * unknown or revoked one is still 401, not "no such session" */
    { "POST", "/activate", wrong,
      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}" },
    { "POST", "/activate", "tsk_nope",
      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}" },
    { "POST", "/heartbeat", key, "{\"session_id\":\"nope\"}" },
    { "POST", "/heartbeat", wrong, "{\"session_id\":\"nope\"}" },
    { "POST", "/release", key, "{\"session_id\":\"nope\"}" },
    { "POST", "/release", "tsk_nope", "{\"session_id\":\"nope\"}" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      r = call (f, cases[i].method, cases[i].path, cases[i].key, cases[i].body);
      assert_error (&r, 401, "auth");
      resp_clear (&r);
    }
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
  g_free (wrong);
  g_free (key);
  g_free (kid);
}

static void
test_bad_requests (Fixture *f, gconstpointer data)
{
  char *big = g_malloc (64 * 1024 + 2);
  memset (big, ' ', 64 * 1024 + 1);
  big[0] = '{';
  big[64 * 1024] = '}';
  big[64 * 1024 + 1] = '\0';
  const struct
  {
    const char *path, *ctype, *body;
    guint status;
    const char *in_message;
  } cases[] = {
    { "/activate", NULL, "{\"product\":\"KRE\",", 400, "malformed" },
    { "/activate", NULL, "", 400, "malformed" },
    { "/activate", NULL, "[1,2]", 400, "object" },
    { "/activate", NULL, "\"KRE\"", 400, "object" },
    { "/activate", NULL,
      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\",\"org\":\"acme\"}", 400,
      "\"org\"" },
    { "/activate", NULL, "{\"product\":\"KRE\",\"nonce\":\"nonce-0001\"}", 400, "machine_id" },
    { "/activate", NULL, "{\"product\":\"KRE\",\"machine_id\":7,\"nonce\":\"nonce-0001\"}", 400,
      "machine_id" },
    { "/activate", NULL, "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"short\"}", 400,
      "nonce" },
    { "/activate", "text/plain",
      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}", 415,
      "application/json" },
    { "/activate", "application/x-www-form-urlencoded", "product=KRE", 415, "application/json" },
    { "/activate", NULL, big, 413, "65536" },
    { "/heartbeat", NULL, "{}", 400, "session_id" },
    { "/heartbeat", NULL, "{\"session_id\":null}", 400, "session_id" },
    { "/release", NULL, "{\"session_id\":\"x\",\"extra\":1}", 400, "extra" },
    { "/keys", NULL, "{\"label\":[]}", 400, "label" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Resp r = call_full (f->session, f->url, "POST", cases[i].path, f->member_key, cases[i].ctype,
                          cases[i].body, -1);
      if (r.status != cases[i].status)
        g_error ("case %u: %u", i, r.status);
      assert_error (&r, cases[i].status, "invalid-argument");
      const char *message = json_object_get_string_member (
          json_object_get_object_member (obj (&r), "error"), "message");
      if (strstr (message, cases[i].in_message) == NULL)
        g_error ("case %u: message \"%s\" does not name %s", i, message, cases[i].in_message);
      resp_clear (&r);
    }
  /* a chunked body (no Content-Length) over the limit */
  {
    char *full = g_strconcat (f->url, "/api/v1/activate", NULL);
    SoupMessage *msg = soup_message_new ("POST", full);
    g_free (full);
    char *auth = g_strdup_printf ("Bearer %s", f->member_key);
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
    g_free (auth);
    GBytes *b = g_bytes_new (big, strlen (big));
    GInputStream *in = g_memory_input_stream_new_from_bytes (b);
    soup_message_set_request_body (msg, "application/json", in, -1);
    GError *error = NULL;
    GBytes *reply = soup_session_send_and_read (f->session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 413);
    g_assert_nonnull (g_strstr_len (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply),
                                    "\"invalid-argument\""));
    g_bytes_unref (reply);
    g_object_unref (in);
    g_bytes_unref (b);
    g_object_unref (msg);
  }
  /* admin bodies too */
  char *path = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  Resp r = call (f, "PATCH", path, f->owner_key, "{\"quota\":\"3\"}");
  assert_error (&r, 400, "invalid-argument");
  resp_clear (&r);
  r = call (f, "PATCH", path, f->owner_key, "{}");
  assert_error (&r, 400, "invalid-argument");
  resp_clear (&r);
  r = call (f, "POST", "/orgs/acme/pools", f->owner_key,
            "{\"product\":\"KRE\",\"kind\":\"floating\",\"billing\":\"annual\",\"quota\":3,"
            "\"subscription_end\":1900000000}");
  assert_error (&r, 409, "invalid-argument"); /* already exists */
  resp_clear (&r);
  g_free (path);
  /* nothing changed */
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
  r = call (f, "GET", "/orgs/acme/pools", f->owner_key, NULL);
  JsonArray *pools = json_object_get_array_member (obj (&r), "pools");
  g_assert_cmpuint (json_array_get_length (pools), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *p = json_array_get_object_element (pools, i);
      g_assert_cmpint (json_object_get_int_member (p, "machines"), ==, 0);
      g_assert_cmpint (json_object_get_int_member (p, "sessions"), ==, 0);
      if (g_strcmp0 (json_object_get_string_member (p, "kind"), "floating") == 0)
        g_assert_cmpint (json_object_get_int_member (p, "quota"), ==, 10);
    }
  resp_clear (&r);
  g_free (big);
}

static void
test_org_required (Fixture *f, gconstpointer data)
{
  /* the member also belongs to beta, which has KRE too */
  server_stop (f);
  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  g_free (ts_store_bootstrap_org (store, "beta", "Beta", "boss@beta.test", now, &error));
  g_assert_no_error (error);
  g_free (
      ts_store_set_member (store, NULL, "beta", "member@acme.test", TS_ROLE_MEMBER, now, &error));
  g_assert_no_error (error);
  ts_pool_free (ts_store_create_pool (store, NULL, "beta", "KRE", "floating", "monthly", 3,
                                      now + 30 * DAY, now, &error));
  g_assert_no_error (error);
  /* gamma has no KRE: not offered */
  g_free (ts_store_bootstrap_org (store, "gamma", "Gamma", "boss@gamma.test", now, &error));
  g_assert_no_error (error);
  g_free (
      ts_store_set_member (store, NULL, "gamma", "member@acme.test", TS_ROLE_MEMBER, now, &error));
  g_assert_no_error (error);
  ts_store_close (store);
  server_start (f, NULL);

  Resp r = call (f, "POST", "/activate", f->member_key,
                 "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}");
  assert_error (&r, 409, "org-required");
  JsonArray *orgs
      = json_object_get_array_member (json_object_get_object_member (obj (&r), "error"), "orgs");
  g_assert_nonnull (orgs);
  g_assert_cmpuint (json_array_get_length (orgs), ==, 2);
  GHashTable *names = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *o = json_array_get_object_element (orgs, i);
      g_hash_table_insert (names, (char *) json_object_get_string_member (o, "id"),
                           (char *) json_object_get_string_member (o, "name"));
    }
  g_assert_cmpstr (g_hash_table_lookup (names, "acme"), ==, "Acme");
  g_assert_cmpstr (g_hash_table_lookup (names, "beta"), ==, "Beta");
  g_hash_table_unref (names);
  resp_clear (&r);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);

  r = call (f, "POST", "/activate", f->member_key,
            "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\","
            "\"org_id\":\"beta\"}");
  g_assert_cmpuint (r.status, ==, 200);
  g_autofree char *org = payload_str (&r, "org_id");
  g_assert_cmpstr (org, ==, "beta");
  resp_clear (&r);
}

static void
test_quota (Fixture *f, gconstpointer data)
{
  char *path = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  Resp r = call (f, "PATCH", path, f->owner_key, "{\"quota\":2}");
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (obj (&r), "quota"), ==, 2);
  resp_clear (&r);
  g_free (path);
  g_free (activate (f, f->member_key, "M-1", "nonce-0001", 200));
  g_free (activate (f, f->member_key, "M-2", "nonce-0002", 200));
  r = call (f, "POST", "/activate", f->member_key,
            "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0003\"}");
  assert_error (&r, 409, "quota-exceeded");
  resp_clear (&r);
  r = call (f, "POST", "/activate", f->member_key,
            "{\"product\":\"KRE\",\"machine_id\":\"M-3\",\"nonce\":\"nonce-0004\"}");
  g_assert_cmpuint (r.status, ==, 409);
  g_assert_true (g_str_equal (error_code (&r), "machine-quota-exceeded")
                 || g_str_equal (error_code (&r), "quota-exceeded"));
  resp_clear (&r);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 2);
}

/* Same nonce: same session, never a second seat. */
static void
test_nonce_retry (Fixture *f, gconstpointer data)
{
  char *a = activate (f, f->member_key, "M-1", "retry-nonce-1", 200);
  char *b = activate (f, f->member_key, "M-1", "retry-nonce-1", 200);
  g_assert_cmpstr (a, ==, b);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  g_free (a);
  g_free (b);
}

/* A revoked grant ends the session with 410 revoked at the next heartbeat. */
static void
test_revoke (Fixture *f, gconstpointer data)
{
  char *path = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", f->member_id);
  Resp r = call (f, "POST", path, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  g_assert_cmpuint (count_list (f, path, "grants"), ==, 1);
  g_free (body);

  body = g_strdup ("{\"product\":\"KRE\",\"machine_id\":\"NL-1\",\"nonce\":\"nonce-nl-1\"}");
  r = call (f, "POST", "/activate", f->member_key, body);
  g_assert_cmpuint (r.status, ==, 200);
  g_autofree char *kind = payload_str (&r, "kind");
  g_assert_cmpstr (kind, ==, "node-locked");
  char *sid = payload_str (&r, "session_id");
  resp_clear (&r);
  g_free (body);
  g_assert_cmpuint (heartbeat (f, f->member_key, sid, NULL), ==, 200);

  char *del = g_strdup_printf ("%s/%s", path, f->member_id);
  r = call (f, "DELETE", del, f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  char *code = NULL;
  g_assert_cmpuint (heartbeat (f, f->member_key, sid, &code), ==, 410);
  g_assert_cmpstr (code, ==, "revoked");
  g_free (code);
  /* audited, with the people's emails beside their ids */
  r = call (f, "GET", "/orgs/acme/audit", f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  JsonArray *audit = json_object_get_array_member (obj (&r), "audit");
  g_assert_cmpuint (json_array_get_length (audit), >=, 2);
  JsonObject *last = json_array_get_object_element (audit, 0);
  /* not a person: no email */
  g_assert_true (json_object_get_null_member (last, "target_email"));
  g_assert_cmpstr (json_object_get_string_member (last, "actor"), ==, f->owner_id);
  g_assert_cmpstr (json_object_get_string_member (last, "actor_email"), ==, "owner@acme.test");
  resp_clear (&r);
  g_free (del);
  g_free (sid);
  g_free (path);
}

/* A client that stops heart-beating is reaped and its seat reused. */
static void
test_reap (Fixture *f, gconstpointer data)
{
  const char *const args[] = { "--lease", "5", "--reap-interval", "1", NULL };
  server_start (f, args);
  char *path = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  Resp r = call (f, "PATCH", path, f->owner_key, "{\"quota\":1}");
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_free (path);
  char *sid = activate (f, f->member_key, "M-1", "nonce-old-1", 200);
  g_free (activate (f, f->owner_key, "M-1", "nonce-new-1", 409));
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  /* lease 5 s, then reaped (waited for, up to a generous minute) */
  for (int i = 0; i < 600 && count_sessions (f, f->floating_pool) > 0; i++)
    g_usleep (100 * 1000);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
  char *sid2 = activate (f, f->owner_key, "M-1", "nonce-new-1", 200);
  char *code = NULL;
  g_assert_cmpuint (heartbeat (f, f->member_key, sid, &code), ==, 410);
  g_assert_cmpstr (code, ==, "terminated");
  g_free (code);
  g_free (sid);
  g_free (sid2);
}

static void
test_cross_org (Fixture *f, gconstpointer data)
{
  server_stop (f);
  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  g_free (ts_store_bootstrap_org (store, "other", "Other", "boss@other.test", now, &error));
  g_assert_no_error (error);
  TsPool *p = ts_store_create_pool (store, NULL, "other", "KRE", "floating", "annual", 3,
                                    now + 30 * DAY, now, &error);
  g_assert_no_error (error);
  char *other_pool = g_strdup (p->id);
  ts_pool_free (p);
  ts_store_close (store);
  server_start (f, NULL);

  char *sessions = g_strdup_printf ("/orgs/other/pools/%s/sessions", other_pool);
  char *grants = g_strdup_printf ("/orgs/other/pools/%s/grants", other_pool);
  char *acme_other = g_strdup_printf ("/orgs/acme/pools/%s/sessions", other_pool);
  const struct
  {
    const char *method, *path, *body;
  } cases[] = {
    { "GET", "/orgs/other/pools", NULL },
    { "GET", "/orgs/other/members", NULL },
    { "POST", "/orgs/other/members", "{\"email\":\"x@y.test\",\"role\":\"admin\"}" },
    { "GET", sessions, NULL },
    { "POST", grants, "{\"user_id\":\"nobody\"}" },
    { "GET", "/orgs/other/audit", NULL },
    { "GET", acme_other, NULL }, /* another org's pool under acme */
    { "POST", "/activate",
      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\",\"org_id\":"
      "\"other\"}" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Resp r = call (f, cases[i].method, cases[i].path, f->owner_key, cases[i].body);
      if (r.status != 403 && r.status != 404)
        g_error ("case %u: %s %s gave %u", i, cases[i].method, cases[i].path, r.status);
      g_assert_true (g_str_equal (error_code (&r), "permission-denied")
                     || g_str_equal (error_code (&r), "not-found"));
      resp_clear (&r);
    }
  g_free (sessions);
  g_free (grants);
  g_free (acme_other);
  g_free (other_pool);
}

static void
test_member_forbidden (Fixture *f, gconstpointer data)
{
  char *pool = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  char *grants = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  char *sessions = g_strdup_printf ("%s/sessions", pool);
  char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", f->member_id);
  const struct
  {
    const char *method, *path, *body;
  } cases[] = {
    { "GET", "/orgs/acme/pools", NULL },
    { "POST", "/orgs/acme/pools",
      "{\"product\":\"XYZ\",\"kind\":\"floating\",\"billing\":\"annual\",\"quota\":3,"
      "\"subscription_end\":1900000000}" },
    { "PATCH", pool, "{\"quota\":100}" },
    { "GET", "/orgs/acme/members", NULL },
    { "POST", "/orgs/acme/members", "{\"email\":\"x@y.test\",\"role\":\"owner\"}" },
    { "POST", grants, body },
    { "GET", sessions, NULL },
    { "GET", "/orgs/acme/audit", NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Resp r = call (f, cases[i].method, cases[i].path, f->member_key, cases[i].body);
      if (r.status != 403)
        g_error ("case %u: %s %s gave %u", i, cases[i].method, cases[i].path, r.status);
      assert_error (&r, 403, "permission-denied");
      resp_clear (&r);
    }
  g_assert_cmpuint (count_list (f, grants, "grants"), ==, 0);
  g_assert_cmpuint (count_list (f, "/orgs/acme/members", "members"), ==, 2);
  /* the owner may */
  Resp r = call (f, "POST", "/orgs/acme/members", f->owner_key,
                 "{\"email\":\"new@acme.test\",\"role\":\"admin\"}");
  g_assert_cmpuint (r.status, ==, 201);
  g_assert_cmpstr (str (&r, "role"), ==, "admin");
  resp_clear (&r);
  /* audited with both people's emails */
  r = call (f, "GET", "/orgs/acme/audit", f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  JsonObject *last
      = json_array_get_object_element (json_object_get_array_member (obj (&r), "audit"), 0);
  g_assert_cmpstr (json_object_get_string_member (last, "actor_email"), ==, "owner@acme.test");
  g_assert_cmpstr (json_object_get_string_member (last, "target_email"), ==, "new@acme.test");
  resp_clear (&r);
  g_free (pool);
  g_free (grants);
  g_free (sessions);
  g_free (body);
}

static void
test_offline_refused (Fixture *f, gconstpointer data)
{
  Resp r = call (f, "POST", "/orgs/acme/pools", f->owner_key,
                 "{\"product\":\"MON\",\"kind\":\"node-locked\",\"billing\":\"monthly\","
                 "\"quota\":3,\"subscription_end\":1900000000}");
  g_assert_cmpuint (r.status, ==, 201);
  g_assert_cmpstr (str (&r, "billing"), ==, "monthly");
  char *monthly = g_strdup (str (&r, "id"));
  resp_clear (&r);
  const char *pools[] = { f->floating_pool, monthly };
  for (guint i = 0; i < G_N_ELEMENTS (pools); i++)
    {
      char *path = g_strdup_printf ("/orgs/acme/pools/%s/offline", pools[i]);
      r = call (f, "POST", path, f->owner_key, "{\"machine_id\":\"QD56-P8HQ\"}");
      assert_error (&r, 409, "not-supported");
      resp_clear (&r);
      g_assert_cmpuint (count_list (f, path, "offline"), ==, 0);
      g_free (path);
    }
  g_free (monthly);
}

/* status, error code and message of a heartbeat */
static guint
heartbeat_full (Fixture *f, const char *key, const char *session_id, char **code, char **message)
{
  char *body = g_strdup_printf ("{\"session_id\":\"%s\"}", session_id);
  Resp r = call (f, "POST", "/heartbeat", key, body);
  g_free (body);
  *code = NULL;
  *message = NULL;
  if (r.status != 200)
    {
      JsonObject *e = json_object_get_object_member (obj (&r), "error");
      *code = g_strdup (json_object_get_string_member (e, "code"));
      *message = g_strdup (json_object_get_string_member (e, "message"));
    }
  guint status = r.status;
  resp_clear (&r);
  return status;
}

typedef struct
{
  guint session; /* index */
  guint status;
  const char *code, *in_message;
} HeartbeatCase;

static void
check_heartbeats (Fixture *f, const char *key, char **sessions, const HeartbeatCase *cases, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      char *code = NULL, *message = NULL;
      guint status = heartbeat_full (f, key, sessions[cases[i].session], &code, &message);
      if (status != cases[i].status || g_strcmp0 (code, cases[i].code) != 0
          || (cases[i].in_message != NULL
              && (message == NULL || strstr (message, cases[i].in_message) == NULL)))
        g_error ("case %u: session %u: %u %s \"%s\"", i, cases[i].session, status, code, message);
      g_free (code);
      g_free (message);
    }
}

/* A node-locked license activated on another machine moves there: the old
 * machine's session ends with 410 terminated "moved" at its next heartbeat. */
static void
test_moved (Fixture *f, gconstpointer data)
{
  char *path = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", f->member_id);
  Resp r = call (f, "POST", path, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  g_free (body);
  g_free (path);

  const char *machines[] = { "NL-A", "NL-B", "NL-C" };
  char *sessions[G_N_ELEMENTS (machines)];
  for (guint i = 0; i < G_N_ELEMENTS (machines); i++)
    {
      char *nonce = g_strdup_printf ("nonce-move-%u", i);
      body = g_strdup_printf (
          "{\"product\":\"KRE\",\"machine_id\":\"%s\",\"nonce\":\"%s\",\"org_id\":\"acme\"}",
          machines[i], nonce);
      r = call (f, "POST", "/activate", f->member_key, body);
      g_assert_cmpuint (r.status, ==, 200);
      g_autofree char *kind = payload_str (&r, "kind");
      g_assert_cmpstr (kind, ==, "node-locked");
      sessions[i] = payload_str (&r, "session_id");
      resp_clear (&r);
      g_free (body);
      g_free (nonce);
    }
  const HeartbeatCase cases[] = {
    { 0, 410, "terminated", "moved to machine NL-B" },
    { 1, 410, "terminated", "moved to machine NL-C" },
    { 2, 200, NULL, NULL },
    { 0, 410, "terminated", "moved" }, /* and stays ended */
  };
  check_heartbeats (f, f->member_key, sessions, cases, G_N_ELEMENTS (cases));
  g_assert_cmpuint (count_sessions (f, f->nl_pool), ==, 1);
  /* one machine registered: the last */
  path = g_strdup_printf ("/orgs/acme/pools/%s/machines", f->nl_pool);
  r = call (f, "GET", path, f->owner_key, NULL);
  JsonArray *list = json_object_get_array_member (obj (&r), "machines");
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  g_assert_cmpstr (
      json_object_get_string_member (json_array_get_object_element (list, 0), "machine_id"), ==,
      "NL-C");
  resp_clear (&r);
  g_free (path);
  for (guint i = 0; i < G_N_ELEMENTS (machines); i++)
    g_free (sessions[i]);
}

/* Lowering a floating quota below the sessions in use: the newest get 410
 * terminated "over quota" at their next heartbeat, the oldest keep going.
 * The sessions are started through the store, 10 s apart, so "newest" does
 * not depend on which second an HTTP activation lands in. */
static void
test_quota_lowered (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  char *sessions[5];
  for (guint i = 0; i < G_N_ELEMENTS (sessions); i++)
    {
      char *machine = g_strdup_printf ("Q-%u", i);
      char *nonce = g_strdup_printf ("nonce-quota-%u", i);
      TsSession *s = ts_store_activate (store, f->member_id, "acme", "KRE", machine, nonce, 3600,
                                        now - 100 + 10 * i, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (s->kind, ==, "floating");
      sessions[i] = g_strdup (s->id);
      ts_session_free (s);
      g_free (machine);
      g_free (nonce);
    }
  ts_store_close (store);
  server_start (f, NULL);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 5);

  char *path = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  Resp r = call (f, "PATCH", path, f->owner_key, "{\"quota\":3}");
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (obj (&r), "quota"), ==, 3);
  resp_clear (&r);
  g_free (path);
  /* newest first: whatever the order of the heartbeats, the same two end */
  const HeartbeatCase cases[] = {
    { 4, 410, "terminated", "over quota" },
    { 3, 410, "terminated", "over quota" },
    { 2, 200, NULL, NULL },
    { 1, 200, NULL, NULL },
    { 0, 200, NULL, NULL },
    { 0, 200, NULL, NULL },
    { 2, 200, NULL, NULL },
    { 3, 410, "terminated", "over quota" },
  };
  check_heartbeats (f, f->member_key, sessions, cases, G_N_ELEMENTS (cases));
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 3);
  /* and no new seat while 3 are in use */
  g_free (activate (f, f->member_key, "Q-0", "nonce-quota-new", 409));
  for (guint i = 0; i < G_N_ELEMENTS (sessions); i++)
    g_free (sessions[i]);
}

/* Key rotation: a second key in the key directory, named in `current`,
 * signs new offline licenses and is what /public-key returns; naming the
 * first again (although the second is newer) switches back. */
static void
test_key_rotation (Fixture *f, gconstpointer data)
{
  if (test_store_is_url (f->db))
    {
      g_test_skip ("keys live in the database on PostgreSQL: test-server-keys rotates them there");
      return;
    }
  server_start (f, NULL); /* generates the first key */
  GBytes *pub1 = get_public_key (f);
  server_stop (f);

  TesseraSigningKey *k2 = tessera_signing_key_generate ();
  char *base = g_strdup_printf ("%s.key", tessera_signing_key_get_id (k2));
  char *secret = g_build_filename (f->keys, base, NULL);
  char *pub_base = g_strdup_printf ("%s.pub", tessera_signing_key_get_id (k2));
  char *pub_path = g_build_filename (f->keys, pub_base, NULL);
  GError *error = NULL;
  g_assert_true (tessera_signing_key_save (k2, secret, pub_path, &error));
  g_assert_no_error (error);
  char *line2 = tessera_signing_key_dup_public (k2);
  GBytes *pub2 = g_bytes_new (line2, strlen (line2));
  char *id1 = g_strndup (g_bytes_get_data (pub1, NULL), g_bytes_get_size (pub1));
  /* "tessera-ed25519-public KEYID BASE64" */
  char **parts = g_strsplit (id1, " ", 3);
  g_assert_cmpuint (g_strv_length (parts), ==, 3);
  char *current = g_build_filename (f->keys, "current", NULL);

  const struct
  {
    const char *current;
    GBytes *want, *other;
  } cases[] = {
    { tessera_signing_key_get_id (k2), pub2, pub1 },
    { parts[1], pub1, pub2 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char *contents = g_strdup_printf ("%s\n", cases[i].current);
      g_assert_true (g_file_set_contents (current, contents, -1, &error));
      g_assert_no_error (error);
      g_free (contents);
      server_start (f, NULL);
      GBytes *served = get_public_key (f);
      char *a = g_strstrip (g_strndup (g_bytes_get_data (served, NULL), g_bytes_get_size (served)));
      char *b = g_strstrip (
          g_strndup (g_bytes_get_data (cases[i].want, NULL), g_bytes_get_size (cases[i].want)));
      if (strcmp (a, b) != 0)
        g_error ("case %u: /public-key is %s, not %s", i, a, b);
      g_free (a);
      g_free (b);
      g_bytes_unref (served);

      char *path = g_strdup_printf ("/orgs/acme/pools/%s/offline", f->nl_pool);
      char *body = g_strdup_printf ("{\"machine_id\":\"ROT-%u\"}", i);
      Resp r = call (f, "POST", path, f->owner_key, body);
      g_assert_cmpuint (r.status, ==, 201);
      if (!verifies_with (r.raw, cases[i].want) || verifies_with (r.raw, cases[i].other))
        g_error ("case %u: the offline license is not signed by the current key", i);
      resp_clear (&r);
      g_free (body);
      g_free (path);
      server_stop (f);
    }
  g_free (current);
  g_strfreev (parts);
  g_free (id1);
  g_bytes_unref (pub1);
  g_bytes_unref (pub2);
  g_free (line2);
  g_free (base);
  g_free (secret);
  g_free (pub_base);
  g_free (pub_path);
  tessera_signing_key_unref (k2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gconstpointer no_server = NO_SERVER;
  ADD ("health", test_health, NULL);
  ADD ("public-key-offline", test_public_key_offline, NULL);
  ADD ("offline-download", test_offline_download, NULL);
  ADD ("flow", test_flow, NULL);
  ADD ("auth", test_auth, NULL);
  ADD ("bad-requests", test_bad_requests, NULL);
  ADD ("org-required", test_org_required, NULL);
  ADD ("quota", test_quota, NULL);
  ADD ("nonce-retry", test_nonce_retry, NULL);
  ADD ("revoke", test_revoke, NULL);
  ADD ("reap", test_reap, no_server);
  ADD ("cross-org", test_cross_org, NULL);
  ADD ("member-forbidden", test_member_forbidden, NULL);
  ADD ("offline-refused", test_offline_refused, NULL);
  ADD ("moved", test_moved, NULL);
  ADD ("quota-lowered", test_quota_lowered, no_server);
  ADD ("key-rotation", test_key_rotation, no_server);
  return g_test_run ();
}
