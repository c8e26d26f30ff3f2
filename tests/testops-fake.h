/* Loopback fakes in front of (or instead of) tessera-server, and the real
 * server itself, for the online provider's tests of hostile servers and
 * proxies (test-testops-faults.c, test-testops-tamper.c). A fake accepts on
 * 127.0.0.1, reads each request (headers, Content-Length body) and hands it
 * to its handler in a thread of its own; the handler may forward it to the
 * real server and send back whatever it likes. */
#pragma once

#include "server-util.h"
#include "test-util.h"

#include <json-glib/json-glib.h>

typedef struct Fake Fake;
/* Answers @req, the fake's @nth request (from 0), on @sock (closed after). */
typedef void (*FakeHandler) (Fake *fake, GSocket *sock, GString *req, gint nth);

struct Fake
{
  FakeHandler handle;
  int mode; /* the handler's */
  GSocket *listener;
  char *url;      /* http://127.0.0.1:PORT of this fake */
  char *upstream; /* the real server, for proxies */
  GThread *thread;
  gint stop;
  gint requests;
  GCancellable *cancel;
  GMutex lock;
  GString *recorded;  /* a proxy's recorded answer (guarded by @lock), freed at stop */
  gconstpointer data; /* the handler's */
  gint changed;       /* answers a proxy altered */
};

typedef struct
{
  Fake *fake;
  GSocket *sock;
} Conn;

/* Reads one HTTP message (headers and a Content-Length body). */
static inline GString *
read_request (GSocket *sock, GCancellable *cancel)
{
  GString *req = g_string_new (NULL);
  char buf[4096];
  gssize body_len = -1;
  gsize header_end = 0;
  for (;;)
    {
      gssize n = g_socket_receive (sock, buf, sizeof buf, cancel, NULL);
      if (n <= 0)
        break;
      g_string_append_len (req, buf, n);
      if (body_len < 0)
        {
          const char *end = strstr (req->str, "\r\n\r\n");
          if (end == NULL)
            continue;
          header_end = (gsize) (end - req->str) + 4;
          const char *cl = g_strstr_len (req->str, (gssize) header_end, "Content-Length:");
          body_len = cl ? g_ascii_strtoll (cl + strlen ("Content-Length:"), NULL, 10) : 0;
        }
      if (req->len >= header_end + (gsize) body_len)
        break;
    }
  return req;
}

static inline void
send_all (GSocket *sock, const char *data, gsize len)
{
  while (len > 0)
    {
      gssize n = g_socket_send (sock, data, len, NULL, NULL);
      if (n <= 0)
        return;
      data += n;
      len -= (gsize) n;
    }
}

static inline void
send_text (GSocket *sock, const char *text)
{
  send_all (sock, text, strlen (text));
}

/* Forwards @req to the real server and returns its whole answer. */
static inline GString *
forward (Fake *fake, GString *req)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) up
      = g_socket_client_connect_to_uri (client, fake->upstream, 0, NULL, &error);
  g_assert_no_error (error);
  GSocket *s = g_socket_connection_get_socket (up);
  send_all (s, req->str, req->len);
  /* Framed like a request (headers, Content-Length body): the server may
   * keep the connection open, so EOF does not end the answer. */
  GString *answer = read_request (s, NULL);
  return answer;
}

/* The JSON body of the request in @req. */
static inline JsonObject *
request_body (GString *req)
{
  const char *body = strstr (req->str, "\r\n\r\n");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_nonnull (body);
  g_assert_true (json_parser_load_from_data (parser, body + 4, -1, NULL));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static inline void
send_json (GSocket *sock, JsonNode *answer)
{
  g_autofree char *json = json_to_string (answer, FALSE);
  g_autofree char *http = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                           strlen (json), json);
  send_text (sock, http);
}

static inline gpointer
conn_thread (gpointer data)
{
  Conn *c = data;
  Fake *fake = c->fake;
  g_autoptr (GString) req = read_request (c->sock, fake->cancel);
  gint nth = g_atomic_int_add (&fake->requests, 1);
  fake->handle (fake, c->sock, req, nth);
  g_socket_close (c->sock, NULL);
  g_object_unref (c->sock);
  g_free (c);
  return NULL;
}

static inline gpointer
accept_thread (gpointer data)
{
  Fake *fake = data;
  GPtrArray *threads = g_ptr_array_new ();
  while (!g_atomic_int_get (&fake->stop))
    {
      GSocket *sock = g_socket_accept (fake->listener, fake->cancel, NULL);
      if (sock == NULL)
        break;
      Conn *c = g_new0 (Conn, 1);
      c->fake = fake;
      c->sock = sock;
      g_ptr_array_add (threads, g_thread_new ("fake-conn", conn_thread, c));
    }
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (threads->pdata[i]);
  g_ptr_array_free (threads, TRUE);
  return NULL;
}

/* Starts a fake on 127.0.0.1 that answers each request with @handle in a
 * thread of its own; @upstream: the real server it may forward to. */
static inline Fake *
fake_start (FakeHandler handle, int mode, const char *upstream)
{
  Fake *fake = g_new0 (Fake, 1);
  fake->handle = handle;
  fake->mode = mode;
  fake->upstream = g_strdup (upstream);
  fake->cancel = g_cancellable_new ();
  g_mutex_init (&fake->lock);
  g_autoptr (GError) error = NULL;
  fake->listener
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_assert_true (g_socket_bind (fake->listener, addr, TRUE, &error));
  g_assert_true (g_socket_listen (fake->listener, &error));
  g_autoptr (GSocketAddress) bound = g_socket_get_local_address (fake->listener, &error);
  g_assert_no_error (error);
  fake->url = g_strdup_printf ("http://127.0.0.1:%u",
                               g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  fake->thread = g_thread_new ("fake-accept", accept_thread, fake);
  return fake;
}

static inline void
fake_stop (Fake *fake)
{
  g_atomic_int_set (&fake->stop, 1);
  g_cancellable_cancel (fake->cancel);
  g_thread_join (fake->thread);
  g_socket_close (fake->listener, NULL);
  g_object_unref (fake->listener);
  g_object_unref (fake->cancel);
  g_free (fake->url);
  g_free (fake->upstream);
  if (fake->recorded != NULL)
    g_string_free (fake->recorded, TRUE);
  g_mutex_clear (&fake->lock);
  g_free (fake);
}

/* ------------------------------------------------------- the real server */

/* The key the plugin trusts: the real server's, or one nobody signs with. */
static char *trusted_key_path;
static char *default_key_path;

/* @timeout: seconds per request; @extra: more [provider:testops] lines, or "". */
static inline TesseraEngine *
engine_with (const char *url, int timeout, const char *extra)
{
  g_autofree char *conf = g_strdup_printf ("[engine]\nproviders=testops\n"
                                           "[provider:testops]\nserver=%s\nallow-http=true\n"
                                           "timeout-seconds=%d\nkey-storage=env-only\n"
                                           "server-key=%s\n%s",
                                           url, timeout, trusted_key_path, extra);
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = tessera_engine_new_from_data (conf, -1, &error);
  g_assert_no_error (error);
  return engine;
}

static inline TesseraEngine *
engine_for (const char *url)
{
  return engine_with (url, 1, "");
}

/* The real tessera-server with an org, a member's API key and a floating
 * KRE pool of 5; the plugin trusts its key while it runs. */
typedef struct
{
  char *dir, *db, *keys, *log, *url, *key, *pool;
  GSubprocess *proc;
} Real;

static inline void
real_start_with (Real *r, const char *const *extra)
{
  r->dir = test_tmpdir_new ();
  r->db = g_build_filename (r->dir, "tessera.db", NULL);
  r->keys = g_build_filename (r->dir, "keys", NULL);
  r->log = g_build_filename (r->dir, "server.log", NULL);
  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (r->db, &error);
  g_assert_no_error (error);
  g_free (ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", now, &error));
  g_assert_no_error (error);
  g_autofree char *member
      = ts_store_set_member (store, NULL, "acme", "ci@acme.test", TS_ROLE_MEMBER, now, &error);
  g_assert_no_error (error);
  char *kid = NULL;
  r->key = ts_store_create_api_key (store, member, "ci", now, &kid, &error);
  g_assert_no_error (error);
  g_free (kid);
  r->pool = server_util_create_pool (store, "floating", 5, now);
  ts_store_close (store);
  r->proc = server_util_spawn (r->db, r->keys, r->log, extra, TRUE, &r->url);
  trusted_key_path = r->keys;
}

static inline void
real_start (Real *r)
{
  real_start_with (r, NULL);
}

static inline guint
real_sessions (Real *r)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (r->db, &error);
  g_assert_no_error (error);
  GPtrArray *sessions = ts_store_list_sessions (store, NULL, "acme", r->pool, now_s (), &error);
  g_assert_no_error (error);
  guint n = sessions->len;
  g_ptr_array_unref (sessions);
  ts_store_close (store);
  return n;
}

static inline void
real_stop (Real *r)
{
  trusted_key_path = default_key_path;
  server_util_terminate (r->proc);
  g_object_unref (r->proc);
  test_tmpdir_free (r->dir);
  g_free (r->db);
  g_free (r->keys);
  g_free (r->log);
  g_free (r->url);
  g_free (r->key);
  g_free (r->pool);
}

/* A generous timeout: the real server answers, and a busy machine may slow
 * it past the 1 s the stalling fakes are given. */
static inline TesseraLicense *
real_activate (const char *url, const char *key, GError **error)
{
  g_autoptr (TesseraEngine) engine = engine_with (url, 60, "");
  g_autoptr (TesseraActivateOptions) opts = tessera_activate_options_new ();
  tessera_activate_options_set (opts, TESSERA_OPTION_API_KEY, key);
  return tessera_engine_activate (engine, "KRE", opts, NULL, error);
}
