/* The online provider against servers that misbehave or lie: a stall, a
 * reset, a garbage or truncated answer, an HTML error page from a proxy, a
 * proxy that drops or cuts the real server's first answer, fake servers
 * answering "OK" unsigned, signed with another key, in an old server's
 * answer format, or with a genuine answer replayed, and a proxy that changes
 * one field of the real server's genuine answers. Each activation ends in
 * bounded time with a clear error, a lost answer costs no second seat, and
 * no fake "OK" or altered field is believed. */
#include "server-util.h"
#include "test-util.h"

#include "answer-signature.h"

#include <sys/socket.h>

typedef enum
{
  FAKE_STALL,
  FAKE_RESET,
  FAKE_GARBAGE,
  FAKE_TRUNCATED,
  FAKE_HTML_502,
  FAKE_WRONG_SHAPE,
  FAKE_PROXY_DROP_FIRST,
  FAKE_PROXY_TRUNCATE_FIRST,
  FAKE_UNSIGNED,
  FAKE_WRONG_KEY,
  FAKE_PROXY_REPLAY,
  FAKE_OLD_SERVER,
  FAKE_PROXY_TAMPER,
} FakeMode;

/* FAKE_PROXY_TAMPER: which answers, which field, and where the forged
 * value goes. */
typedef enum
{
  TAMPER_IN_PAYLOAD, /* rewritten inside the signed payload text */
  TAMPER_BESIDE,     /* set beside it, where a format-1 client read it */
} TamperWhere;

typedef struct
{
  const char *op; /* "activate", "heartbeat" (the thread's) or "validate" */
  const char *field;
  TamperWhere where;
} TamperCase;

typedef struct
{
  FakeMode mode;
  GSocket *listener;
  char *url;      /* http://127.0.0.1:PORT of this fake */
  char *upstream; /* the real server, for the proxy mode */
  GThread *thread;
  gint stop;
  gint requests;
  GCancellable *cancel;
  GMutex lock;
  GString *recorded;        /* FAKE_PROXY_REPLAY: the first answer, replayed after */
  const TamperCase *tamper; /* FAKE_PROXY_TAMPER */
  gint tampered;            /* answers it changed */
} Fake;

typedef struct
{
  Fake *fake;
  GSocket *sock;
} Conn;

/* Reads one HTTP message (headers and a Content-Length body). */
static GString *
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

static void
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

static void
send_text (GSocket *sock, const char *text)
{
  send_all (sock, text, strlen (text));
}

/* Forwards @req to the real server and returns its whole answer. */
static GString *
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
static JsonObject *
request_body (GString *req)
{
  const char *body = strstr (req->str, "\r\n\r\n");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_nonnull (body);
  g_assert_true (json_parser_load_from_data (parser, body + 4, -1, NULL));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
send_json (GSocket *sock, JsonNode *answer)
{
  g_autofree char *json = json_to_string (answer, FALSE);
  g_autofree char *http = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                           strlen (json), json);
  send_text (sock, http);
}

/* The members of a well-formed activation answer to @in. */
static JsonNode *
fake_activation_payload (JsonObject *in)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, "11111111-2222-3333-4444-555555555555");
  json_builder_set_member_name (b, "org_id");
  json_builder_add_string_value (b, "acme");
  json_builder_set_member_name (b, "product");
  json_builder_add_string_value (b, json_object_get_string_member (in, "product"));
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, "floating");
  json_builder_set_member_name (b, "license_id");
  json_builder_add_string_value (b, "fake-pool");
  json_builder_set_member_name (b, "machine_id");
  json_builder_add_string_value (b, json_object_get_string_member (in, "machine_id"));
  json_builder_set_member_name (b, "lease_seconds");
  json_builder_add_int_value (b, 3600);
  json_builder_set_member_name (b, "lease_expires_at");
  json_builder_add_int_value (b, now + 3600);
  json_builder_set_member_name (b, "subscription_end");
  json_builder_add_int_value (b, now + 365 * 86400);
  json_builder_set_member_name (b, "server_time");
  json_builder_add_int_value (b, now);
  json_builder_set_member_name (b, "entitlements");
  json_builder_begin_array (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* A well-formed activation answer (format 2) for the request in @req,
 * signed with @key over its nonce when @key is not NULL: what an emulator
 * would send. */
static void
send_fake_activation (GSocket *sock, GString *req, TesseraSigningKey *key)
{
  g_autoptr (JsonObject) in = request_body (req);
  g_autoptr (JsonNode) payload = fake_activation_payload (in);
  g_autofree char *text = json_to_string (payload, FALSE);
  g_autoptr (JsonNode) answer = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (answer, json_object_new ());
  JsonObject *o = json_node_get_object (answer);
  json_object_set_int_member (o, "format", TS_ANSWER_FORMAT);
  json_object_set_string_member (o, "payload", text);
  if (key != NULL)
    {
      g_autoptr (GBytes) message
          = ts_answer_message (json_object_get_string_member (in, "nonce"), text);
      g_autofree char *sig = tessera_signing_key_sign_message (key, "activate", message);
      json_object_set_string_member (o, "signature", sig);
    }
  send_json (sock, answer);
}

/* The key the plugin trusts when no real server runs: the fake old server
 * signs with it. */
static TesseraSigningKey *trusted_fake_key;

/* What a server of answer format 1 sent: the fields side by side and a
 * signature over "NAME=LENGTH:VALUE\n" of some of them and the nonce,
 * genuinely signed by the key the plugin trusts. Written out here rather
 * than taken from protocol/, which no longer speaks it. */
static void
send_old_activation (GSocket *sock, GString *req)
{
  static const char *const signed_v1[] = { "session_id", "org_id",           "product",     "kind",
                                           "machine_id", "lease_expires_at", "server_time", NULL };
  g_autoptr (JsonObject) in = request_body (req);
  g_autoptr (JsonNode) answer = fake_activation_payload (in);
  JsonObject *o = json_node_get_object (answer);
  g_autoptr (GString) message = g_string_new (NULL);
  for (guint i = 0; signed_v1[i] != NULL; i++)
    {
      JsonNode *n = json_object_get_member (o, signed_v1[i]);
      g_autofree char *value = json_node_get_value_type (n) == G_TYPE_STRING
                                   ? g_strdup (json_node_get_string (n))
                                   : g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (n));
      g_string_append_printf (message, "%s=%zu:%s\n", signed_v1[i], strlen (value), value);
    }
  const char *nonce = json_object_get_string_member (in, "nonce");
  g_string_append_printf (message, "nonce=%zu:%s\n", strlen (nonce), nonce);
  g_autoptr (GBytes) bytes = g_bytes_new (message->str, message->len);
  g_autofree char *sig = tessera_signing_key_sign_message (trusted_fake_key, "activate", bytes);
  json_object_set_string_member (o, "signature", sig);
  send_json (sock, answer);
}

/* A value unlike @genuine, of its type: what a forger would put there. */
static JsonNode *
forge (const char *field, JsonNode *genuine)
{
  JsonNode *forged = json_node_new (JSON_NODE_VALUE);
  if (JSON_NODE_HOLDS_ARRAY (genuine))
    {
      JsonArray *a = json_array_new ();
      for (guint i = 0; i < json_array_get_length (json_node_get_array (genuine)); i++)
        json_array_add_element (a, json_array_dup_element (json_node_get_array (genuine), i));
      json_array_add_string_element (a, "forged-feature");
      json_node_free (forged);
      forged = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (forged, a);
    }
  else if (json_node_get_value_type (genuine) == G_TYPE_INT64)
    /* A server time long past makes any lease end look far away. */
    json_node_set_int (
        forged, g_str_equal (field, "server_time") ? 1 : json_node_get_int (genuine) + 1000000000);
  else
    {
      g_autofree char *s = g_strconcat ("forged-", json_node_get_string (genuine), NULL);
      json_node_set_string (forged, s);
    }
  return forged;
}

/* Changes the case's field in @answer, a genuine answer body (any format):
 * inside the payload text (the signature left as it was), or beside it;
 * a format-1 answer's field is where it is. Returns: (transfer full) the
 * altered body, or NULL when it has no such field. */
static char *
tamper_body (const TamperCase *c, const char *body)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, body, -1, NULL))
    return NULL;
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  JsonObject *where = o;
  g_autoptr (JsonParser) payload_parser = json_parser_new ();
  gboolean in_payload = json_object_has_member (o, "payload");
  if (in_payload)
    {
      g_assert_true (json_parser_load_from_data (
          payload_parser, json_object_get_string_member (o, "payload"), -1, NULL));
      where = json_node_get_object (json_parser_get_root (payload_parser));
    }
  JsonNode *genuine = json_object_get_member (where, c->field);
  if (genuine == NULL)
    return NULL;
  JsonNode *forged = forge (c->field, genuine);
  if (in_payload && c->where == TAMPER_IN_PAYLOAD)
    {
      json_object_set_member (where, c->field, forged);
      g_autofree char *text = json_to_string (json_parser_get_root (payload_parser), FALSE);
      json_object_set_string_member (o, "payload", text);
    }
  else
    json_object_set_member (o, c->field, forged);
  return json_to_string (json_parser_get_root (parser), FALSE);
}

/* Forwards @req and sends back the answer, with the case's field changed
 * when it answers the case's endpoint with 200. */
static void
proxy_tamper (Fake *fake, GSocket *sock, GString *req)
{
  g_autoptr (GString) answer = forward (fake, req);
  const char *path = g_str_equal (fake->tamper->op, "activate") ? "POST /api/v1/activate "
                                                                : "POST /api/v1/heartbeat ";
  const char *body = strstr (answer->str, "\r\n\r\n");
  g_autofree char *altered = NULL;
  if (g_str_has_prefix (req->str, path) && g_str_has_prefix (answer->str, "HTTP/1.1 200")
      && body != NULL)
    altered = tamper_body (fake->tamper, body + 4);
  if (altered == NULL)
    {
      send_all (sock, answer->str, answer->len);
      return;
    }
  g_atomic_int_inc (&fake->tampered);
  g_autofree char *http = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                           strlen (altered), altered);
  send_text (sock, http);
}

static gpointer
conn_thread (gpointer data)
{
  Conn *c = data;
  Fake *fake = c->fake;
  g_autoptr (GString) req = read_request (c->sock, fake->cancel);
  gint nth = g_atomic_int_add (&fake->requests, 1);
  switch (fake->mode)
    {
    case FAKE_STALL:
      /* Never answer: only the client's timeout ends this. */
      while (!g_atomic_int_get (&fake->stop))
        g_usleep (20 * 1000);
      break;
    case FAKE_RESET:
      {
        /* SO_LINGER 0: close sends a RST instead of a FIN. */
        struct linger l = { 1, 0 };
        setsockopt (g_socket_get_fd (c->sock), SOL_SOCKET, SO_LINGER, &l, sizeof l);
        break;
      }
    case FAKE_GARBAGE:
      send_text (c->sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: 13\r\nConnection: close\r\n\r\n\x01not json\xff\xfe}");
      break;
    case FAKE_TRUNCATED:
      send_text (c->sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: 400\r\nConnection: close\r\n\r\n{\"session_id\":\"ab");
      break;
    case FAKE_HTML_502:
      send_text (c->sock, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n"
                          "Content-Length: 34\r\nConnection: close\r\n\r\n"
                          "<html><h1>Bad Gateway</h1></html>\n");
      break;
    case FAKE_WRONG_SHAPE:
      send_text (c->sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: 37\r\nConnection: close\r\n\r\n"
                          "{\"session_id\":5,\"lease_seconds\":\"x\"}");
      break;
    case FAKE_PROXY_DROP_FIRST:
      {
        g_autoptr (GString) answer = forward (fake, req);
        /* The server granted the first activation; its answer is lost. */
        if (nth > 0)
          send_all (c->sock, answer->str, answer->len);
        break;
      }
    case FAKE_UNSIGNED:
      send_fake_activation (c->sock, req, NULL);
      break;
    case FAKE_WRONG_KEY:
      {
        g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
        send_fake_activation (c->sock, req, other);
        break;
      }
    case FAKE_PROXY_REPLAY:
      {
        /* The first activation reaches the server; every later request
         * gets that first (genuine, signed) answer again. */
        g_mutex_lock (&fake->lock);
        if (fake->recorded == NULL)
          fake->recorded = forward (fake, req);
        g_autoptr (GString) answer = g_string_new (fake->recorded->str);
        g_mutex_unlock (&fake->lock);
        send_all (c->sock, answer->str, answer->len);
        break;
      }
    case FAKE_OLD_SERVER:
      send_old_activation (c->sock, req);
      break;
    case FAKE_PROXY_TAMPER:
      proxy_tamper (fake, c->sock, req);
      break;
    case FAKE_PROXY_TRUNCATE_FIRST:
      {
        g_autoptr (GString) answer = forward (fake, req);
        /* The first answer loses its last bytes: headers intact, the JSON cut. */
        send_all (c->sock, answer->str, nth > 0 ? answer->len : answer->len - 10);
        break;
      }
    }
  g_socket_close (c->sock, NULL);
  g_object_unref (c->sock);
  g_free (c);
  return NULL;
}

static gpointer
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

static Fake *
fake_start (FakeMode mode, const char *upstream)
{
  Fake *fake = g_new0 (Fake, 1);
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

static void
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

/* ----------------------------------------------------------------- tests */

/* The key the plugin trusts: the real server's, or one nobody signs with. */
static char *trusted_key_path;
static char *default_key_path;

/* @timeout: seconds per request; @extra: more [provider:testops] lines, or "". */
static TesseraEngine *
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

static TesseraEngine *
engine_for (const char *url)
{
  return engine_with (url, 1, "");
}

typedef struct
{
  const char *name;
  FakeMode mode;
  TesseraError code;
  const char *message_part;
} FaultCase;

static const FaultCase fault_cases[] = {
  { "stall", FAKE_STALL, TESSERA_ERROR_NETWORK, "cannot reach the license server" },
  { "reset", FAKE_RESET, TESSERA_ERROR_NETWORK, "cannot reach the license server" },
  { "garbage", FAKE_GARBAGE, TESSERA_ERROR_UNAVAILABLE, "answered no JSON object" },
  { "truncated", FAKE_TRUNCATED, TESSERA_ERROR_UNAVAILABLE, "answered no JSON object" },
  { "html-502", FAKE_HTML_502, TESSERA_ERROR_UNAVAILABLE, "(HTTP 502)" },
  { "wrong-shape", FAKE_WRONG_SHAPE, TESSERA_ERROR_TAMPERED, "refusing its answer" },
  { "unsigned", FAKE_UNSIGNED, TESSERA_ERROR_TAMPERED, "carries no signature" },
  { "wrong-key", FAKE_WRONG_KEY, TESSERA_ERROR_UNTRUSTED_KEY, "which is not trusted" },
  /* Signed with the trusted key, but in the format that left fields
   * unsigned: refused, saying which side to upgrade. */
  { "old-server", FAKE_OLD_SERVER, TESSERA_ERROR_NOT_SUPPORTED,
    "speaks answer format 1; this client needs format 2 (every field signed): upgrade "
    "tessera-server" },
};

static void
test_fault (gconstpointer data)
{
  const FaultCase *c = data;
  Fake *fake = fake_start (c->mode, NULL);
  g_autoptr (TesseraEngine) engine = engine_for (fake->url);
  g_autoptr (TesseraActivateOptions) opts = tessera_activate_options_new ();
  tessera_activate_options_set (opts, TESSERA_OPTION_API_KEY, "tsk_fake_key_for_faults");
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", opts, NULL, &error);
  gint64 took = g_get_monotonic_time () - start;
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_assert_nonnull (strstr (error->message, c->message_part));
  /* Bounded: a few 1-second attempts, not a hang. Generous, since this is a
   * correctness bound, not a speed target. */
  g_assert_cmpint (took, <, 60 * G_USEC_PER_SEC);
  g_assert_cmpint (g_atomic_int_get (&fake->requests), >=, 1);
  fake_stop (fake);
}

/* The real tessera-server with an org, a member's API key and a floating
 * KRE pool of 5; the plugin trusts its key while it runs. */
typedef struct
{
  char *dir, *db, *keys, *log, *url, *key, *pool;
  GSubprocess *proc;
} Real;

static void
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

static void
real_start (Real *r)
{
  real_start_with (r, NULL);
}

static guint
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

static void
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

static TesseraLicense *
real_activate (const char *url, const char *key, GError **error)
{
  g_autoptr (TesseraEngine) engine = engine_for (url);
  g_autoptr (TesseraActivateOptions) opts = tessera_activate_options_new ();
  tessera_activate_options_set (opts, TESSERA_OPTION_API_KEY, key);
  return tessera_engine_activate (engine, "KRE", opts, NULL, error);
}

/* The real server grants a seat, the proxy loses (or cuts) its answer: the
 * plugin's retry carries the same nonce and gets the same seat, never a
 * second. */
static void
test_lost_answer_same_seat (gconstpointer data)
{
  FakeMode mode = GPOINTER_TO_INT (data);
  Real r = { 0 };
  real_start (&r);
  Fake *fake = fake_start (mode, r.url);
  GError *error = NULL;
  TesseraLicense *license = real_activate (fake->url, r.key, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_atomic_int_get (&fake->requests), >=, 2);
  g_assert_cmpuint (real_sessions (&r), ==, 1);

  /* Release through the proxy (now passing answers): the seat is free. */
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_cmpuint (real_sessions (&r), ==, 0);
  fake_stop (fake);
  real_stop (&r);
}

/* A genuine, signed answer recorded by a proxy and replayed for a later
 * activation: signed over another nonce, it is refused. */
static void
test_replayed (void)
{
  Real r = { 0 };
  real_start (&r);
  Fake *fake = fake_start (FAKE_PROXY_REPLAY, r.url);
  GError *error = NULL;
  TesseraLicense *first = real_activate (fake->url, r.key, &error);
  g_assert_no_error (error);
  g_assert_null (real_activate (fake->url, r.key, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED);
  g_assert_nonnull (strstr (error->message, "does not match its contents"));
  g_clear_error (&error);
  /* One seat on the server: the replay took none, nor did it fake one. */
  g_assert_cmpuint (real_sessions (&r), ==, 1);
  fake_stop (fake);
  /* The first license is real: released directly on the server. */
  tessera_license_unref (first);
  real_stop (&r);
}

/* ------------------------------------------------- a proxy changing fields */

/* The fields of each answer, as protocol/answer-signature.h lists them:
 * a field added there gets its tampering cases here by itself, and
 * test_fields_listed() fails when the server answers one not listed. */
static GPtrArray *tamper_cases;

static const char *
tamper_refusal (const TamperCase *c)
{
  return c->where == TAMPER_IN_PAYLOAD ? "does not match its contents"
                                       : "outside its signed payload";
}

/* The real server's genuine activation answer with one field changed: no
 * license. */
static void
test_tamper_activate (gconstpointer data)
{
  const TamperCase *c = data;
  Real r = { 0 };
  real_start (&r);
  Fake *fake = fake_start (FAKE_PROXY_TAMPER, r.url);
  fake->tamper = c;
  GError *error = NULL;
  TesseraLicense *license = real_activate (fake->url, r.key, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED);
  g_assert_nonnull (strstr (error->message, "refusing its answer"));
  g_assert_nonnull (strstr (error->message, tamper_refusal (c)));
  g_clear_error (&error);
  g_assert_cmpint (g_atomic_int_get (&fake->tampered), >=, 1);
  fake_stop (fake);
  real_stop (&r);
}

static void
on_invalidated (TesseraLicense *license, const GError *reason, gpointer data)
{
  GError **out = data;
  if (*out == NULL)
    *out = g_error_copy (reason);
}

/* The real server's genuine heartbeat answers with one field changed (a
 * lease of 10^9 s, a server time long past, another session): none extends
 * the lease, so the license ends when the last genuine lease and the grace
 * are over, by the heartbeat thread or at a validation, saying why. */
static void
test_tamper_session (gconstpointer data)
{
  const TamperCase *c = data;
  static const char *const short_lease[] = { "--lease", "5", "--reap-interval", "1", NULL };
  Real r = { 0 };
  real_start_with (&r, short_lease);
  Fake *fake = fake_start (FAKE_PROXY_TAMPER, r.url);
  fake->tamper = c;
  /* Generous timeouts: the last answer before the end is the refused one,
   * not a busy machine's late one. */
  g_autoptr (TesseraEngine) engine = engine_with (fake->url, 30, "grace-seconds=0\n");
  g_autoptr (TesseraActivateOptions) opts = tessera_activate_options_new ();
  tessera_activate_options_set (opts, TESSERA_OPTION_API_KEY, r.key);
  GError *error = NULL;
  TesseraLicense *license = tessera_engine_activate (engine, "KRE", opts, NULL, &error);
  g_assert_no_error (error);
  GError *reason = NULL;
  gboolean validate = g_str_equal (c->op, "validate");
  /* Validating, the answer is validate's own: no handler left to run
   * later, into a finished test's @reason. */
  if (!validate)
    tessera_license_add_invalidated_handler (license, on_invalidated, &reason, NULL);

  /* A generous bound on waiting for the end (lease 5 s, no grace): with a
   * forged lease believed, it would not come before 10^9 s. */
  gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (reason == NULL && g_get_monotonic_time () < end)
    {
      if (validate && !tessera_license_validate (license, NULL, &reason))
        break;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (200 * 1000);
    }
  g_assert_nonnull (reason);
  g_test_message ("%s", reason->message);
  g_assert_true (reason->domain == TESSERA_ERROR);
  g_assert_nonnull (strstr (reason->message, "refusing its answer"));
  g_assert_nonnull (strstr (reason->message, tamper_refusal (c)));
  g_assert_nonnull (strstr (reason->message, "grace ran out"));
  g_clear_error (&reason);
  if (!validate)
    g_assert_false (tessera_license_is_held (license));
  /* And it stays over: no later answer revives it. */
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_cmpint (g_atomic_int_get (&fake->tampered), >=, 1);

  /* The seat goes back through the proxy (it alters no release). */
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_cmpuint (real_sessions (&r), ==, 0);
  fake_stop (fake);
  real_stop (&r);
}

/* The member names of the payload of a genuine @path answer. */
static GStrv
payload_members (const char *url, const char *key, const char *path, const char *body)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  GError *error = NULL;
  g_autoptr (GSocketConnection) conn
      = g_socket_client_connect_to_uri (client, url, 0, NULL, &error);
  g_assert_no_error (error);
  GSocket *sock = g_socket_connection_get_socket (conn);
  g_autofree char *req = g_strdup_printf (
      "POST /api/v1%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
      "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
      path, key, strlen (body), body);
  send_text (sock, req);
  g_autoptr (GString) answer = read_request (sock, NULL);
  g_assert_true (g_str_has_prefix (answer->str, "HTTP/1.1 200"));
  const char *json = strstr (answer->str, "\r\n\r\n");
  g_assert_nonnull (json);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, json + 4, -1, NULL));
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  g_autoptr (JsonParser) payload = json_parser_new ();
  g_assert_true (
      json_parser_load_from_data (payload, json_object_get_string_member (o, "payload"), -1, NULL));
  g_autoptr (GList) names
      = json_object_get_members (json_node_get_object (json_parser_get_root (payload)));
  GPtrArray *out = g_ptr_array_new ();
  for (GList *l = names; l != NULL; l = l->next)
    g_ptr_array_add (out, g_strdup (l->data));
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (out, FALSE);
}

static void
assert_same_set (GStrv answered, const char *const *listed)
{
  for (guint i = 0; answered[i] != NULL; i++)
    if (!g_strv_contains (listed, answered[i]))
      g_error ("the server answers \"%s\", which protocol/answer-signature.h does not list "
               "(so no tampering case covers it)",
               answered[i]);
  g_assert_cmpuint (g_strv_length (answered), ==, g_strv_length ((GStrv) listed));
}

/* Every field the real server answers has its tampering cases above. */
static void
test_fields_listed (void)
{
  Real r = { 0 };
  real_start (&r);
  g_auto (GStrv) activate = payload_members (
      r.url, r.key, "/activate",
      "{\"product\":\"KRE\",\"machine_id\":\"M-LISTED\",\"nonce\":\"nonce-listed-1\"}");
  assert_same_set (activate, ts_answer_activate_fields);
  GError *error = NULL;
  TesseraLicense *license = real_activate (r.url, r.key, &error);
  g_assert_no_error (error);
  g_autofree char *body
      = g_strdup_printf ("{\"session_id\":\"%s\",\"nonce\":\"nonce-listed-2\"}",
                         tessera_license_get_attribute (license, "testops.session-id"));
  g_auto (GStrv) heartbeat = payload_members (r.url, r.key, "/heartbeat", body);
  assert_same_set (heartbeat, ts_answer_heartbeat_fields);
  tessera_license_unref (license);
  real_stop (&r);
}

static void
add_tamper_cases (const char *op, const char *const *fields, GTestDataFunc func)
{
  for (guint i = 0; fields[i] != NULL; i++)
    for (TamperWhere where = TAMPER_IN_PAYLOAD; where <= TAMPER_BESIDE; where++)
      {
        TamperCase *c = g_new0 (TamperCase, 1);
        c->op = op;
        c->field = fields[i];
        c->where = where;
        g_ptr_array_add (tamper_cases, c);
        g_autofree char *path
            = g_strdup_printf ("/testops-faults/tamper/%s/%s/%s", op, fields[i],
                               where == TAMPER_IN_PAYLOAD ? "in-payload" : "beside");
        g_test_add_data_func (path, c, func);
      }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_API_KEY");
  for (guint i = 0; i < G_N_ELEMENTS (fault_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/testops-faults/%s", fault_cases[i].name);
      g_test_add_data_func (path, &fault_cases[i], test_fault);
    }
  g_test_add_data_func ("/testops-faults/dropped-answer-same-seat",
                        GINT_TO_POINTER (FAKE_PROXY_DROP_FIRST), test_lost_answer_same_seat);
  g_test_add_data_func ("/testops-faults/truncated-answer-same-seat",
                        GINT_TO_POINTER (FAKE_PROXY_TRUNCATE_FIRST), test_lost_answer_same_seat);
  g_test_add_func ("/testops-faults/replayed", test_replayed);
  tamper_cases = g_ptr_array_new_with_free_func (g_free);
  add_tamper_cases ("activate", ts_answer_activate_fields, test_tamper_activate);
  add_tamper_cases ("heartbeat", ts_answer_heartbeat_fields, test_tamper_session);
  add_tamper_cases ("validate", ts_answer_heartbeat_fields, test_tamper_session);
  g_test_add_func ("/testops-faults/tamper/fields-listed", test_fields_listed);

  /* A key no real server here signs with, for the fake servers (only the
   * fake old server signs with it). */
  g_autoptr (TesseraSigningKey) nobody = tessera_signing_key_generate ();
  trusted_fake_key = nobody;
  g_autofree char *pub = tessera_signing_key_dup_public (nobody);
  g_autofree char *key_dir = g_dir_make_tmp ("tessera-faults-key-XXXXXX", NULL);
  g_assert_nonnull (key_dir);
  default_key_path = test_write_file (key_dir, "nobody.pub", pub);
  trusted_key_path = default_key_path;
  int status = g_test_run ();
  g_unlink (default_key_path);
  g_rmdir (key_dir);
  g_free (default_key_path);
  g_ptr_array_unref (tamper_cases);
  return status;
}
