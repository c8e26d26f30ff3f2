/* tessera-server as a process, over HTTP (tests/server-test-fixture.h):
 * 64 concurrent clients on one or several HTTP threads, a restart, SIGTERM
 * and SIGKILL under load, refused options, TLS. */
#include "server-test-fixture.h"

#include <signal.h>
#include <string.h>

typedef struct
{
  Fixture *f;
  guint index;
  gint *ok;
} Worker;

static gpointer
concurrent_worker (gpointer data)
{
  Worker *w = data;
  SoupSession *session = soup_session_new_with_options ("timeout", 120, NULL);
  for (guint i = 0; i < 5; i++)
    {
      char *body = g_strdup_printf (
          "{\"product\":\"KRE\",\"machine_id\":\"C-%u\",\"nonce\":\"nonce-%03u-%u\"}",
          w->index % 10, w->index, i);
      Resp r
          = call_full (session, w->f->url, "POST", "/activate", w->f->member_key, NULL, body, -1);
      g_free (body);
      if (r.status == 200)
        g_atomic_int_inc (w->ok);
      else if (r.status != 409 || !g_str_equal (error_code (&r), "quota-exceeded"))
        g_error ("activation: %u", r.status);
      resp_clear (&r);
    }
  g_object_unref (session);
  return NULL;
}

/* 64 clients, 320 activations, quota 10: exactly 10 seats. */
static void
test_concurrent (Fixture *f, gconstpointer data)
{
  Worker workers[64];
  GThread *threads[64];
  gint ok = 0;
  for (guint i = 0; i < 64; i++)
    {
      workers[i] = (Worker){ f, i, &ok };
      threads[i] = g_thread_new ("client", concurrent_worker, &workers[i]);
    }
  for (guint i = 0; i < 64; i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (ok, ==, 10);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 10);
}

/* The same, with the connections spread over @data (a string) HTTP
 * threads: still exactly 10 seats, and one log line per request. */
static void
test_concurrent_threads (Fixture *f, gconstpointer data)
{
  const char *extra[] = { "--http-threads", data, NULL };
  server_start (f, extra);
  test_concurrent (f, NULL);
  server_stop (f);
  g_autofree char *log = NULL;
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  guint lines = 0;
  for (const char *p = log; (p = strstr (p, "POST /api/v1/activate ")) != NULL; p++)
    lines++;
  g_assert_cmpuint (lines, ==, 64 * 5);
}

/* --http-threads out of range or not a number: one line, exit 1, and no
 * database or key made. */
static void
test_http_threads_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *db = g_build_filename (f->dir, "never.db", NULL);
  const char *values[] = { "0", "65", "-1", "two" };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      const char *args[]
          = { "--database",     db,        "--key-dir", f->keys, "--listen", "127.0.0.1:0",
              "--http-threads", values[i], NULL };
      g_autofree char *err = server_util_refused (args, 1);
      g_assert_nonnull (strstr (err, "http-threads"));
      g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
      g_assert_false (g_file_test (f->keys, G_FILE_TEST_EXISTS));
    }
}

/* SIGTERM exits 0; a restart on the same database keeps everything. */
static void
test_restart (Fixture *f, gconstpointer data)
{
  char *grants = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  char *offline = g_strdup_printf ("/orgs/acme/pools/%s/offline", f->nl_pool);
  char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", f->member_id);
  Resp r = call (f, "POST", grants, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  r = call (f, "POST", offline, f->owner_key, "{\"machine_id\":\"OFF-1\"}");
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  char *sid = activate (f, f->owner_key, "M-1", "nonce-restart", 200);
  r = call (f, "GET", "/public-key", NULL, NULL);
  GBytes *pub = g_bytes_ref (r.raw);
  resp_clear (&r);

  server_stop (f); /* asserts exit status 0 */
  char *log = NULL;
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, "shutting down"));
  g_free (log);
  server_start (f, NULL);

  g_assert_cmpuint (count_list (f, grants, "grants"), ==, 1);
  g_assert_cmpuint (count_list (f, offline, "offline"), ==, 1);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  g_assert_cmpuint (heartbeat (f, f->owner_key, sid, NULL), ==, 200);
  r = call (f, "GET", "/public-key", NULL, NULL);
  g_assert_true (g_bytes_equal (pub, r.raw));
  resp_clear (&r);
  g_bytes_unref (pub);
  g_free (sid);
  g_free (body);
  g_free (grants);
  g_free (offline);
}

typedef struct
{
  const char *url;
  const char *key;
  guint index;
  gint ok;
  gint stop;
} Hammer;

/* POSTs @body to @path; the status, or 0 when the connection was cut (the
 * server stopped): no answer, like a 503. *@reply (nullable) gets the body
 * of a 200. */
static guint
hammer_post (SoupSession *session, const char *url, const char *key, const char *path,
             const char *body, GBytes **reply)
{
  char *full = g_strconcat (url, "/api/v1", path, NULL);
  SoupMessage *msg = soup_message_new ("POST", full);
  g_free (full);
  char *auth = g_strdup_printf ("Bearer %s", key);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  g_free (auth);
  GBytes *b = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", b);
  g_bytes_unref (b);
  GBytes *got = soup_session_send_and_read (session, msg, NULL, NULL);
  guint status = got != NULL ? soup_message_get_status (msg) : 0;
  g_object_unref (msg);
  if (status != 0 && status != 200)
    g_assert_cmpuint (status, ==, 503); /* draining */
  if (status == 200 && reply != NULL)
    *reply = g_steal_pointer (&got);
  g_clear_pointer (&got, g_bytes_unref);
  return status;
}

/* Activates until the server stops answering; counts the 200s. */
static gpointer
hammer_thread (gpointer data)
{
  Hammer *h = data;
  SoupSession *session = soup_session_new_with_options ("timeout", 60, NULL);
  for (guint i = 0; !g_atomic_int_get (&h->stop); i++)
    {
      char *body = g_strdup_printf (
          "{\"product\":\"KRE\",\"machine_id\":\"H-%u\",\"nonce\":\"hammer-%u-%u\"}", h->index,
          h->index, i);
      guint status = hammer_post (session, h->url, h->key, "/activate", body, NULL);
      g_free (body);
      if (status != 200)
        break;
      h->ok++;
    }
  g_object_unref (session);
  return NULL;
}

typedef struct
{
  const char *url;
  const char *key;
  const char *session_id;
  gint stop;
  gint ok;          /* atomic */
  gint64 max_lease; /* the latest lease_expires_at answered */
} HbHammer;

/* Heart-beats its session until the server stops answering; keeps the
 * latest lease it was told. */
static gpointer
hb_hammer_thread (gpointer data)
{
  HbHammer *h = data;
  SoupSession *session = soup_session_new_with_options ("timeout", 60, NULL);
  char *body = g_strdup_printf ("{\"session_id\":\"%s\"}", h->session_id);
  while (!g_atomic_int_get (&h->stop))
    {
      GBytes *reply = NULL;
      if (hammer_post (session, h->url, h->key, "/heartbeat", body, &reply) != 200)
        break;
      g_autoptr (JsonParser) parser = json_parser_new ();
      gsize len = 0;
      const char *text = g_bytes_get_data (reply, &len);
      g_assert_true (json_parser_load_from_data (parser, text, (gssize) len, NULL));
      g_autoptr (JsonObject) o
          = answer_payload (json_node_get_object (json_parser_get_root (parser)));
      h->max_lease = MAX (h->max_lease, json_object_get_int_member (o, "lease_expires_at"));
      g_atomic_int_inc (&h->ok);
      g_bytes_unref (reply);
    }
  g_free (body);
  g_object_unref (session);
  return NULL;
}

/* SIGTERM during a burst: the server exits 0 and every 200 a client got is
 * a committed session, and nothing else is. Heartbeats answered 200 while
 * it stops are committed too (the database has at least the lease each
 * client was told). */
static void
test_sigterm_inflight (Fixture *f, gconstpointer data)
{
  char *path = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  Resp r = call (f, "PATCH", path, f->owner_key, "{\"quota\":100000}");
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_free (path);
  soup_session_abort (f->session);
  HbHammer hb[8];
  GThread *hb_threads[8];
  for (guint i = 0; i < 8; i++)
    {
      g_autofree char *machine = g_strdup_printf ("HB-%u", i);
      g_autofree char *nonce = g_strdup_printf ("hb-hammer-%u", i);
      hb[i] = (HbHammer){
        f->url, f->member_key, activate (f, f->member_key, machine, nonce, 200), 0, 0, 0
      };
    }
  soup_session_abort (f->session);
  Hammer h[16];
  GThread *threads[16];
  for (guint i = 0; i < 16; i++)
    {
      h[i] = (Hammer){ f->url, f->member_key, i, 0, 0 };
      threads[i] = g_thread_new ("hammer", hammer_thread, &h[i]);
    }
  for (guint i = 0; i < 8; i++)
    hb_threads[i] = g_thread_new ("hb-hammer", hb_hammer_thread, &hb[i]);
  g_usleep (300 * 1000);
  /* Every heart-beating client has had answers (a loaded machine, ASan, or
   * PostgreSQL may take longer than the 300 ms). */
  for (guint i = 0, waited = 0; i < 8 && waited < 60000; waited += 10)
    if (g_atomic_int_get (&hb[i].ok) > 0)
      i++;
    else
      g_usleep (10 * 1000);
  server_util_stop_clean (f->proc, f->log);
  g_clear_object (&f->proc);
  gint ok = 8; /* the heart-beaten sessions */
  for (guint i = 0; i < 16; i++)
    {
      g_atomic_int_set (&h[i].stop, 1);
      g_thread_join (threads[i]);
      ok += h[i].ok;
    }
  g_assert_cmpint (ok, >, 8);
  for (guint i = 0; i < 8; i++)
    {
      g_atomic_int_set (&hb[i].stop, 1);
      g_thread_join (hb_threads[i]);
      g_assert_cmpint (hb[i].ok, >, 0);
    }

  GError *error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  GPtrArray *sessions
      = ts_store_list_sessions (store, NULL, "acme", f->floating_pool, now_s (), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sessions->len, ==, (guint) ok);
  for (guint i = 0; i < 8; i++)
    {
      TsSession *s = NULL;
      for (guint j = 0; j < sessions->len && s == NULL; j++)
        if (g_str_equal (((TsSession *) sessions->pdata[j])->id, hb[i].session_id))
          s = sessions->pdata[j];
      g_assert_nonnull (s);
      g_assert_cmpint (s->lease_expires_at, >=, hb[i].max_lease);
      g_free ((char *) hb[i].session_id);
    }
  g_ptr_array_unref (sessions);
  ts_store_close (store);
}

typedef struct
{
  const char *url;
  const char *key;
  guint index;
  GPtrArray *ok; /* session ids of the 200s */
  guint refused; /* 409 quota-exceeded */
} Killed;

/* Activates until the connection fails (the server was killed). */
static gpointer
killed_thread (gpointer data)
{
  Killed *k = data;
  SoupSession *session = soup_session_new_with_options ("timeout", 30, NULL);
  for (guint i = 0;; i++)
    {
      char *body = g_strdup_printf (
          "{\"product\":\"KRE\",\"machine_id\":\"K-%u\",\"nonce\":\"killed-%u-%u\"}", k->index,
          k->index, i);
      char *full = g_strconcat (k->url, "/api/v1/activate", NULL);
      SoupMessage *msg = soup_message_new ("POST", full);
      g_free (full);
      char *auth = g_strdup_printf ("Bearer %s", k->key);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
      g_free (auth);
      GBytes *b = g_bytes_new_take (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", b);
      g_bytes_unref (b);
      GBytes *reply = soup_session_send_and_read (session, msg, NULL, NULL);
      guint status = reply != NULL ? soup_message_get_status (msg) : 0;
      /* Killed between the headers and the body: the outcome is unknown to
       * this client (the session may or may not exist), like a dropped
       * connection. Only complete 200 answers are promises to check. */
      if (status == 200 && g_bytes_get_size (reply) == 0)
        status = 0;
      if (status == 200)
        {
          JsonParser *parser = json_parser_new ();
          g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (reply, NULL),
                                                     g_bytes_get_size (reply), NULL));
          g_autoptr (JsonObject) p
              = answer_payload (json_node_get_object (json_parser_get_root (parser)));
          g_ptr_array_add (k->ok, g_strdup (json_object_get_string_member (p, "session_id")));
          g_object_unref (parser);
        }
      else if (status == 409)
        k->refused++;
      else if (status != 0)
        g_error ("activation: %u", status);
      g_clear_pointer (&reply, g_bytes_unref);
      g_object_unref (msg);
      if (status == 0)
        break;
    }
  g_object_unref (session);
  return NULL;
}

/* SIGKILL mid-load, restart on the same database: every session that got a
 * 200 is there, nothing is over quota, grants and offline licenses are
 * intact. */
static void
test_sigkill (Fixture *f, gconstpointer data)
{
  const gint64 quota = 40;
  char *pool = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  char *body = g_strdup_printf ("{\"quota\":%" G_GINT64_FORMAT "}", quota);
  Resp r = call (f, "PATCH", pool, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_free (body);
  char *grants = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  char *offline = g_strdup_printf ("/orgs/acme/pools/%s/offline", f->nl_pool);
  body = g_strdup_printf ("{\"user_id\":\"%s\"}",
                          f->owner_id); /* not the member: their activations stay floating */
  r = call (f, "POST", grants, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  g_free (body);
  r = call (f, "POST", offline, f->owner_key, "{\"machine_id\":\"OFF-K\"}");
  g_assert_cmpuint (r.status, ==, 201);
  GBytes *lic = g_bytes_ref (r.raw);
  resp_clear (&r);
  GBytes *pub = get_public_key (f);
  soup_session_abort (f->session);

  Killed k[8];
  GThread *threads[G_N_ELEMENTS (k)];
  for (guint i = 0; i < G_N_ELEMENTS (k); i++)
    {
      k[i] = (Killed){ f->url, f->member_key, i, g_ptr_array_new_with_free_func (g_free), 0 };
      threads[i] = g_thread_new ("killed", killed_thread, &k[i]);
    }
  /* until some activations succeeded, then at once */
  for (guint t = 0; t < 3000; t++)
    {
      guint n = 0;
      for (guint i = 0; i < G_N_ELEMENTS (k); i++)
        n += g_atomic_int_get (&k[i].ok->len);
      if (n >= 8)
        break;
      g_usleep (10 * 1000);
    }
  g_usleep (20 * 1000);
  g_subprocess_send_signal (f->proc, SIGKILL);
  GError *error = NULL;
  g_subprocess_wait (f->proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_signaled (f->proc));
  g_assert_cmpint (g_subprocess_get_term_sig (f->proc), ==, SIGKILL);
  g_clear_object (&f->proc);
  guint ok = 0;
  for (guint i = 0; i < G_N_ELEMENTS (k); i++)
    {
      g_thread_join (threads[i]);
      ok += k[i].ok->len;
    }
  g_assert_cmpuint (ok, >, 0);
  g_assert_cmpuint (ok, <=, quota);

  server_start (f, NULL);
  char *sessions = g_strdup_printf ("%s/sessions", pool);
  r = call (f, "GET", sessions, f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  JsonArray *list = json_object_get_array_member (obj (&r), "sessions");
  guint n = json_array_get_length (list);
  g_assert_cmpuint (n, >=, ok);
  g_assert_cmpuint (n, <=, quota);
  GHashTable *ids = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++)
    g_hash_table_add (ids, (char *) json_object_get_string_member (
                               json_array_get_object_element (list, i), "id"));
  for (guint i = 0; i < G_N_ELEMENTS (k); i++)
    for (guint j = 0; j < k[i].ok->len; j++)
      if (!g_hash_table_contains (ids, k[i].ok->pdata[j]))
        g_error ("session %s got a 200 but is gone", (char *) k[i].ok->pdata[j]);
  g_hash_table_unref (ids);
  resp_clear (&r);
  /* they still heartbeat (any client's first session: some got none) */
  const char *survivor = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (k) && survivor == NULL; i++)
    if (k[i].ok->len > 0)
      survivor = k[i].ok->pdata[0];
  g_assert_nonnull (survivor);
  g_assert_cmpuint (heartbeat (f, f->member_key, survivor, NULL), ==, 200);
  /* usage of the pools agrees */
  r = call (f, "GET", "/orgs/acme/pools", f->owner_key, NULL);
  JsonArray *pools = json_object_get_array_member (obj (&r), "pools");
  for (guint i = 0; i < json_array_get_length (pools); i++)
    {
      JsonObject *p = json_array_get_object_element (pools, i);
      g_assert_cmpint (json_object_get_int_member (p, "sessions"), <=,
                       json_object_get_int_member (p, "quota"));
      g_assert_cmpint (json_object_get_int_member (p, "machines"), <=,
                       json_object_get_int_member (p, "quota"));
    }
  resp_clear (&r);
  /* grants and offline licenses intact; the same signing key */
  g_assert_cmpuint (count_list (f, grants, "grants"), ==, 1);
  g_assert_cmpuint (count_list (f, offline, "offline"), ==, 1);
  GBytes *pub_after = get_public_key (f);
  g_assert_true (g_bytes_equal (pub, pub_after));
  g_assert_true (verifies_with (lic, pub_after));
  /* one more activation is refused if the quota is full, else granted */
  char *sid = activate (f, f->member_key, "K-0", "nonce-after-kill", n < quota ? 200 : 409);
  g_free (sid);
  g_bytes_unref (pub_after);
  g_bytes_unref (pub);
  g_bytes_unref (lic);
  for (guint i = 0; i < G_N_ELEMENTS (k); i++)
    g_ptr_array_unref (k[i].ok);
  g_free (sessions);
  g_free (grants);
  g_free (offline);
  g_free (pool);
}

/* Plain HTTP on a non-loopback address is refused before anything binds. */
static void
test_insecure_refused (Fixture *f, gconstpointer data)
{
  gboolean url = test_store_is_url (f->db);
  g_autofree char *kek = url ? server_util_kek_path (f->keys) : NULL;
  const char *args[] = { "--database",
                         f->db,
                         url ? "--key-encryption-key" : "--key-dir",
                         url ? kek : f->keys,
                         "--listen",
                         "0.0.0.0:0",
                         NULL };
  g_autofree char *err = server_util_refused (args, 1);
  g_assert_nonnull (strstr (err, "--allow-insecure"));
  /* nothing was created either */
  g_assert_false (g_file_test (f->keys, G_FILE_TEST_EXISTS));
}

/* Instances on PostgreSQL share their signing keys through the database:
 * --key-encryption-key is required (one line on stderr, exit 1, nothing
 * contacted). */
static void
test_url_needs_kek (Fixture *f, gconstpointer data)
{
  const char *args[]
      = { "--database", "postgresql://127.0.0.1:1/none", "--listen", "127.0.0.1:0", NULL };
  g_autofree char *err = server_util_refused (args, 1);
  g_assert_nonnull (strstr (err, "--key-encryption-key FILE is required with a PostgreSQL"));
}

static gboolean
accept_test_cert (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors,
                  gpointer data)
{
  return g_tls_certificate_is_same (cert, data);
}

static void
test_tls (Fixture *f, gconstpointer data)
{
  char *cert = g_build_filename (f->dir, "cert.pem", NULL);
  char *key = g_build_filename (f->dir, "key.pem", NULL);
  char *cmd = g_strdup_printf ("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
                               "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s "
                               "-out %s",
                               key, cert);
  int status = 0;
  GError *error = NULL;
  char *out = NULL, *err = NULL, *metrics_url = NULL;
  if (!g_spawn_command_line_sync (cmd, &out, &err, &status, &error) || status != 0)
    {
      g_test_skip ("openssl cannot make a certificate");
      g_clear_error (&error);
      goto out;
    }
  const char *const args[]
      = { "--tls-cert", cert, "--tls-key", key, "--metrics-listen", "127.0.0.1:0", NULL };
  f->tls = TRUE;
  f->proc = server_util_spawn_full (f->db, f->keys, f->log, args, f->tls, &f->url, &metrics_url);
  g_assert_true (g_str_has_prefix (f->url, "https://127.0.0.1:"));
  /* The metrics listener stays plain HTTP beside TLS: a scraper on the
   * monitoring network needs no certificate. */
  g_assert_true (g_str_has_prefix (metrics_url, "http://127.0.0.1:"));
  {
    g_autofree char *scrape_url = g_strconcat (metrics_url, "/metrics", NULL);
    SoupMessage *scrape = soup_message_new ("GET", scrape_url);
    GBytes *scraped = soup_session_send_and_read (f->session, scrape, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (scrape), ==, 200);
    g_bytes_unref (scraped);
    g_object_unref (scrape);
  }

  GTlsCertificate *trusted = g_tls_certificate_new_from_file (cert, &error);
  g_assert_no_error (error);
  char *full = g_strconcat (f->url, "/api/v1/me", NULL);
  SoupMessage *msg = soup_message_new ("GET", full);
  g_free (full);
  char *auth = g_strdup_printf ("Bearer %s", f->owner_key);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  g_free (auth);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_test_cert), trusted);
  GBytes *bytes = soup_session_send_and_read (f->session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_assert_nonnull (
      g_strstr_len (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), "owner@acme.test"));
  g_assert_nonnull (soup_message_get_tls_peer_certificate (msg));
  g_bytes_unref (bytes);
  g_object_unref (msg);

  /* without accepting the self-signed certificate: refused */
  SoupSession *plain = soup_session_new ();
  full = g_strconcat (f->url, "/api/v1/health", NULL);
  msg = soup_message_new ("GET", full);
  g_free (full);
  bytes = soup_session_send_and_read (plain, msg, NULL, &error);
  g_assert_null (bytes);
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_object_unref (msg);
  g_object_unref (plain);
  g_object_unref (trusted);
out:
  g_free (out);
  g_free (err);
  g_free (metrics_url);
  g_free (cmd);
  g_free (cert);
  g_free (key);
}

/* No private directory for an HTTP thread's keep-alive listener (TMPDIR
 * unusable): one warning per thread, and the server still answers, saying
 * Connection: close on every response. */
static void
test_no_keepalive (Fixture *f, gconstpointer data)
{
  g_autofree char *old = g_strdup (g_getenv ("TMPDIR"));
  g_setenv ("TMPDIR", "/nonexistent/tessera-no-tmp", TRUE);
  const char *extra[] = { "--http-threads", "2", NULL };
  server_start (f, extra);
  if (old != NULL)
    g_setenv ("TMPDIR", old, TRUE);
  else
    g_unsetenv ("TMPDIR");
  g_autofree char *url = g_strconcat (f->url, "/api/v1/health", NULL);
  for (guint i = 0; i < 3; i++)
    {
      SoupMessage *msg = soup_message_new ("GET", url);
      GError *error = NULL;
      GBytes *reply = soup_session_send_and_read (f->session, msg, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
      g_assert_true (soup_message_headers_header_contains (soup_message_get_response_headers (msg),
                                                           "Connection", "close"));
      g_bytes_unref (reply);
      g_object_unref (msg);
    }
  server_stop (f);
  g_autofree char *log = NULL;
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, " warning no keep-alive on HTTP thread 1: "));
  g_assert_nonnull (strstr (log, " warning no keep-alive on HTTP thread 2: "));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gconstpointer no_server = NO_SERVER;
  ADD ("concurrent", test_concurrent, NULL);
  ADD ("concurrent-1-http-thread", test_concurrent_threads, "1");
  ADD ("concurrent-5-http-threads", test_concurrent_threads, "5");
  ADD ("http-threads-refused", test_http_threads_refused, no_server);
  ADD ("restart", test_restart, NULL);
  ADD ("sigterm-inflight", test_sigterm_inflight, NULL);
  ADD ("sigkill", test_sigkill, NULL);
  ADD ("insecure-refused", test_insecure_refused, no_server);
  ADD ("url-needs-kek", test_url_needs_kek, no_server);
  ADD ("tls", test_tls, no_server);
  ADD ("no-keepalive", test_no_keepalive, no_server);
  return g_test_run ();
}
