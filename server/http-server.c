/* tessera-server: routing, authentication, request parsing
 * and the request log (docs/protocol.md); replies and the mapping of errors
 * to them are in http-reply.c, JSON building in http-body.c, the log's
 * format in http-log.c. */
#include "http-log.h"
#include "http-private.h"
#include "metrics.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Worker threads of an instance on an embedded database (SQLite): the
 * requests one instance runs at once; fewer on PostgreSQL, see
 * ts_http_setup(). */
#define TS_WORKERS 16

typedef struct
{
  const char *method;
  const char *pattern; /* segments after /api/v1/, '*' captures one */
  gboolean body;       /* takes a JSON body */
  TsHandlerFunc handler;
  /* Runs on the HTTP thread, not a worker, when the store queues its write
   * (ts_store_heartbeat_queues()): it only reads (authentication) and
   * queues, never waits for a write. */
  gboolean quick;
} TsRoute;

static void ts_handle_health (TsRequest *req);
static void ts_handle_ready (TsRequest *req);
static void ts_handle_public_key (TsRequest *req);

/* health, ready and public-key need no authentication (a load balancer
 * checks them). */
static const TsRoute ts_routes[] = {
  { "GET", "health", FALSE, ts_handle_health, FALSE },
  { "GET", "ready", FALSE, ts_handle_ready, FALSE },
  { "GET", "public-key", FALSE, ts_handle_public_key, FALSE },
  { "GET", "me", FALSE, ts_handle_me, FALSE },
  { "POST", "activate", TRUE, ts_handle_activate, FALSE },
  { "POST", "heartbeat", TRUE, ts_handle_heartbeat, TRUE },
  { "POST", "release", TRUE, ts_handle_release, FALSE },
  { "GET", "orgs/*/pools", FALSE, ts_handle_pools_list, FALSE },
  { "POST", "orgs/*/pools", TRUE, ts_handle_pools_create, FALSE },
  { "PATCH", "orgs/*/pools/*", TRUE, ts_handle_pools_update, FALSE },
  { "GET", "orgs/*/members", FALSE, ts_handle_members_list, FALSE },
  { "POST", "orgs/*/members", TRUE, ts_handle_members_add, FALSE },
  { "DELETE", "orgs/*/members/*", FALSE, ts_handle_members_remove, FALSE },
  { "GET", "orgs/*/pools/*/grants", FALSE, ts_handle_grants_list, FALSE },
  { "POST", "orgs/*/pools/*/grants", TRUE, ts_handle_grants_add, FALSE },
  { "DELETE", "orgs/*/pools/*/grants/*", FALSE, ts_handle_grants_remove, FALSE },
  { "GET", "orgs/*/pools/*/machines", FALSE, ts_handle_machines_list, FALSE },
  { "DELETE", "orgs/*/pools/*/machines/*", FALSE, ts_handle_machines_remove, FALSE },
  { "GET", "orgs/*/pools/*/sessions", FALSE, ts_handle_sessions_list, FALSE },
  { "DELETE", "orgs/*/pools/*/sessions/*", FALSE, ts_handle_sessions_remove, FALSE },
  { "GET", "orgs/*/pools/*/offline", FALSE, ts_handle_offline_list, FALSE },
  { "POST", "orgs/*/pools/*/offline", TRUE, ts_handle_offline_create, FALSE },
  { "GET", "orgs/*/pools/*/offline/*", FALSE, ts_handle_offline_download, FALSE },
  { "GET", "orgs/*/pools/*/usage", FALSE, ts_handle_usage, FALSE },
  { "GET", "orgs/*/audit", FALSE, ts_handle_audit, FALSE },
  { "GET", "keys", FALSE, ts_handle_keys_list, FALSE },
  { "POST", "keys", TRUE, ts_handle_keys_create, FALSE },
  { "DELETE", "keys/*", FALSE, ts_handle_keys_revoke, FALSE },
  /* web sign-in (http-web.c); login, logout and accept-invite need no credentials */
  { "POST", "web/login", TRUE, ts_handle_web_login, FALSE },
  { "POST", "web/logout", FALSE, ts_handle_web_logout, FALSE },
  { "GET", "web/session", FALSE, ts_handle_web_session, FALSE },
  { "POST", "web/password", TRUE, ts_handle_web_password, FALSE },
  { "POST", "web/accept-invite", TRUE, ts_handle_web_accept_invite, FALSE },
  { "POST", "orgs/*/invites", TRUE, ts_handle_web_invite, FALSE },
  { "GET", "web/my-licenses", FALSE, ts_handle_web_my_licenses, FALSE },
};

/* Metrics slots (metrics.h) past those of ts_routes: /metrics, the
 * /admin/ pages, and whatever matched no route (bounded labels, never
 * the raw path). */
#define TS_SLOT_METRICS G_N_ELEMENTS (ts_routes)
#define TS_SLOT_ADMIN (TS_SLOT_METRICS + 1)
#define TS_SLOT_NONE (TS_SLOT_METRICS + 2)
G_STATIC_ASSERT (TS_SLOT_NONE < TS_METRICS_MAX_ROUTES);

static gpointer
ts_metrics_name_routes (gpointer data)
{
  static char names[G_N_ELEMENTS (ts_routes)][64];
  for (guint i = 0; i < G_N_ELEMENTS (ts_routes); i++)
    {
      g_snprintf (names[i], sizeof names[i], TS_API_PREFIX "/%s", ts_routes[i].pattern);
      ts_metrics_route_name (i, ts_routes[i].method, names[i]);
    }
  ts_metrics_route_name (TS_SLOT_METRICS, "GET", "/metrics");
  ts_metrics_route_name (TS_SLOT_ADMIN, "GET", "/admin/*");
  ts_metrics_route_name (TS_SLOT_NONE, "other", "other");
  return NULL;
}

/* ---------------------------------------------------------------- requests */

void
ts_request_free (TsRequest *req)
{
  g_clear_object (&req->msg);
  g_free (req->method);
  g_free (req->path);
  for (guint i = 0; i < G_N_ELEMENTS (req->args); i++)
    g_free (req->args[i]);
  if (req->api_key != NULL)
    sodium_memzero (req->api_key, strlen (req->api_key));
  g_free (req->api_key);
  g_free (req->content_type);
  g_free (req->query);
  g_free (req->accept);
  g_clear_pointer (&req->body, g_bytes_unref);
  g_free (req->user_id);
  g_free (req->key_hash);
  g_free (req->caller.found);
  g_clear_pointer (&req->json, json_object_unref);
  g_free (req->org);
  g_free (req->product);
  g_free (req->resp_type);
  g_clear_pointer (&req->resp_body, g_bytes_unref);
  g_free (req->resp_disposition);
  ts_web_request_clear (req);
  g_free (req);
}

static void
ts_handle_health (TsRequest *req)
{
  ts_reply_json (req, SOUP_STATUS_OK, ts_json_object ("status", 's', "ok", NULL));
}

/* Liveness (health) stays without the database; readiness writes to it. */
static void
ts_handle_ready (TsRequest *req)
{
  GError *error = NULL;
  g_autofree char *detail = NULL;
  if (ts_store_check_writable (req->server->store, g_get_monotonic_time (), &detail, &error))
    ts_reply_json (req, SOUP_STATUS_OK, ts_json_object ("status", 's', "ready", NULL));
  else
    {
      /* The full story for the administrator; the caller (a load balancer,
       * unauthenticated) gets only its kind. */
      if (detail != NULL) /* once per check, not per probe */
        ts_log (TS_LOG_WARNING, "not ready: %s", detail);
      ts_reply_json (
          req, SOUP_STATUS_SERVICE_UNAVAILABLE,
          ts_json_object ("status", 's', "unavailable", "reason", 's', error->message, NULL));
      g_error_free (error);
    }
}

static void
ts_handle_public_key (TsRequest *req)
{
  const char *line = req->server->public_key;
  ts_reply_bytes (req, SOUP_STATUS_OK, "text/plain", g_bytes_new (line, strlen (line)));
}

TsCaller *
ts_request_caller (TsRequest *req)
{
  req->caller = (TsCaller){ .user_id = req->user_id, .key_hash = req->key_hash };
  return &req->caller;
}

void
ts_request_caller_done (TsRequest *req)
{
  if (req->user_id == NULL)
    req->user_id = g_steal_pointer (&req->caller.found);
  g_clear_pointer (&req->caller.found, g_free);
}

/* The client requests: their API key is checked by the store in the
 * request's own transaction (TsCaller), not in one of its own before. */
static gboolean
ts_key_checked_by_store (TsHandlerFunc handler)
{
  return handler == ts_handle_activate || handler == ts_handle_heartbeat
         || handler == ts_handle_release;
}

/* Authentication and body parsing, then the handler. */
void
ts_request_run (TsRequest *req)
{
  GError *error = NULL;
  if (req->handler == ts_handle_ready || req->handler == ts_handle_metrics)
    {
      req->handler (req);
      return;
    }
  /* No Bearer key: a session cookie, or a route that needs no credentials. */
  if (req->api_key == NULL && !ts_web_authenticate (req))
    return;
  if (req->handler != ts_handle_health && req->handler != ts_handle_public_key
      && req->api_key != NULL)
    {
      if (ts_key_checked_by_store (req->handler))
        req->key_hash = ts_api_key_hash (req->api_key, &error);
      else
        req->user_id = ts_store_authenticate (req->server->store, req->api_key, &error);
      if (req->user_id == NULL && req->key_hash == NULL)
        {
          if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_AUTH))
            ts_reply_errorf (req, SOUP_STATUS_UNAUTHORIZED, TESSERA_ERROR_AUTH,
                             "unknown or revoked API key");
          else
            ts_reply_error (req, error);
          g_error_free (error);
          return;
        }
    }
  if (req->want_body)
    {
      gsize size = req->body != NULL ? g_bytes_get_size (req->body) : 0;
      if (g_strcmp0 (req->content_type, "application/json") != 0)
        {
          ts_reply_errorf (req, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, TESSERA_ERROR_INVALID_ARGUMENT,
                           "the request body must be application/json");
          return;
        }
      if (size > TS_MAX_BODY)
        {
          ts_reply_errorf (req, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                           TESSERA_ERROR_INVALID_ARGUMENT, "the request body is over %d bytes",
                           TS_MAX_BODY);
          return;
        }
      const char *data = size > 0 ? g_bytes_get_data (req->body, NULL) : "";
      g_autoptr (JsonNode) root = NULL;
      if (size == 0 || !g_utf8_validate (data, size, NULL) || !ts_body_no_nul (data, size, &error)
          || (root = ts_body_parse (data, size, &error)) == NULL)
        {
          ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                           "malformed JSON body%s%s", error != NULL ? ": " : "",
                           error != NULL ? error->message : "");
          g_clear_error (&error);
          return;
        }
      if (!JSON_NODE_HOLDS_OBJECT (root))
        {
          ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                           "the request body must be a JSON object");
          return;
        }
      req->json = json_object_ref (json_node_get_object (root));
    }
  req->handler (req);
}

/* libsoup writes a response's headers and its body in two sends: on a
 * TCP_NODELAY socket, two segments, each waking the client. Corked until
 * the request has ended (ts_request_ended()), they leave as one. */
static void
ts_cork (SoupServerMessage *msg, gboolean cork)
{
  GSocket *sock = ts_conn_get_socket (ts_conn_of (msg));
  if (sock != NULL)
    g_socket_set_option (sock, IPPROTO_TCP, TCP_CORK, cork, NULL);
}

static void
ts_request_finish_main (TsRequest *req)
{
  SoupServerMessage *msg = req->msg;
  if (req->org != NULL)
    g_object_set_data_full (G_OBJECT (msg), "ts-org", g_strdup (req->org), g_free);
  if (req->user_id != NULL)
    g_object_set_data_full (G_OBJECT (msg), "ts-user", g_strdup (req->user_id), g_free);
  if (!g_object_get_data (G_OBJECT (msg), "ts-done"))
    {
      /* Counted before the answer leaves: a client that reads it, then
       * /metrics, sees it counted. */
      const gint64 *start = g_object_get_data (G_OBJECT (msg), "ts-start");
      ts_metrics_request (req->route_slot, req->status,
                          start != NULL ? g_get_monotonic_time () - *start : 0);
      ts_conn_set_phase (ts_conn_of (msg), TS_PHASE_RESPONSE);
      ts_cork (msg, TRUE);
      /* libsoup 3.2.3 closes a connection after each response when it has
       * no listener of its own (see ts_keepalive_listener() in http-loops.c), so
       * then say so rather than let a client send its next request into a
       * closing socket. Likewise while shutting down: open connections are
       * closed once in-flight requests are done. */
      GSList *listeners = soup_server_get_listeners (req->loop->soup);
      if (listeners == NULL || g_atomic_int_get (&req->server->draining))
        soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                      "close");
      g_slist_free (listeners);
      /* Here, not in the early handler: libsoup starts the response's
       * headers afresh once the request is read. */
      const char *id = g_object_get_data (G_OBJECT (msg), "ts-request-id");
      if (id != NULL)
        soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                      TS_REQUEST_ID_HEADER, id);
      if (req->resp_disposition != NULL)
        soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                      "Content-Disposition", req->resp_disposition);
      for (guint i = 0; req->resp_headers != NULL && i + 1 < req->resp_headers->len; i += 2)
        soup_message_headers_append (soup_server_message_get_response_headers (msg),
                                     g_ptr_array_index (req->resp_headers, i),
                                     g_ptr_array_index (req->resp_headers, i + 1));
      gsize len = 0;
      const char *data = g_bytes_get_data (req->resp_body, &len);
      soup_server_message_set_response (msg, req->resp_type, SOUP_MEMORY_COPY, data, len);
      soup_server_message_set_status (msg, req->status, NULL);
    }
}

static gboolean
ts_request_done_idle (gpointer data)
{
  TsLoop *loop = data;
  g_mutex_lock (&loop->done_lock);
  GQueue done = loop->done;
  g_queue_init (&loop->done);
  loop->done_scheduled = FALSE;
  g_mutex_unlock (&loop->done_lock);
  TsRequest *req;
  while ((req = g_queue_pop_head (&done)) != NULL)
    {
      ts_request_finish_main (req);
      if (!g_object_get_data (G_OBJECT (req->msg), "ts-done"))
        soup_server_message_unpause (req->msg);
      ts_request_free (req);
    }
  return G_SOURCE_REMOVE;
}

void
ts_request_defer (TsRequest *req)
{
  g_atomic_int_inc (&req->pending);
}

struct _TsWaiter
{
  GMutex lock;
  GCond cond;
  gboolean done;
};

/* The request is answered: back to its loop, or to ts_request_run_sync(). */
static void
ts_request_answered (TsRequest *req)
{
  TsLoop *loop = req->loop;
  if (req->waiter != NULL)
    {
      TsWaiter *w = req->waiter;
      g_mutex_lock (&w->lock);
      w->done = TRUE;
      g_cond_signal (&w->cond);
      g_mutex_unlock (&w->lock);
      return;
    }
  g_assert (loop != NULL);
  if (req->resp_body == NULL)
    ts_reply_errorf (req, SOUP_STATUS_INTERNAL_SERVER_ERROR, TESSERA_ERROR_FAILED,
                     "internal error: no response");
  /* A source and a wake-up of the loop per request were a good part of
   * its thread's time under load (perf: futexes and g_source_*):
   * requests finished while one is pending share it. */
  g_mutex_lock (&loop->done_lock);
  g_queue_push_tail (&loop->done, req);
  gboolean schedule = !loop->done_scheduled;
  loop->done_scheduled = TRUE;
  g_mutex_unlock (&loop->done_lock);
  if (schedule)
    {
      GSource *source = g_idle_source_new ();
      /* Not below the sockets' priority: under load some socket is always
       * ready, and answers waited for a quiet moment of the loop. */
      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, ts_request_done_idle, loop, NULL);
      g_source_attach (source, loop->context);
      g_source_unref (source);
    }
}

void
ts_request_resume (TsRequest *req)
{
  if (g_atomic_int_dec_and_test (&req->pending))
    ts_request_answered (req);
}

void
ts_request_run_sync (TsRequest *req)
{
  TsWaiter w = { 0 };
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  req->waiter = &w;
  req->pending = 1;
  ts_request_run (req);
  ts_request_resume (req);
  g_mutex_lock (&w.lock);
  while (!w.done)
    g_cond_wait (&w.cond, &w.lock);
  g_mutex_unlock (&w.lock);
  req->waiter = NULL;
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
}

static void
ts_worker (gpointer data, gpointer user_data)
{
  TsRequest *req = data;
  req->pending = 1; /* this worker's */
  ts_request_run (req);
  ts_request_resume (req);
}

/* ---------------------------------------------------------------- routing */

static gboolean
ts_route_match (const TsRoute *route, char **segs, char **args)
{
  char **pat = g_strsplit (route->pattern, "/", -1);
  guint n = g_strv_length (pat), a = 0;
  gboolean ok = n == g_strv_length (segs);
  for (guint i = 0; ok && i < n; i++)
    {
      if (strcmp (pat[i], "*") == 0)
        {
          char *v = g_uri_unescape_string (segs[i], "/");
          ok = v != NULL && *v != '\0' && a < 3;
          if (ok)
            args[a++] = v;
          else
            g_free (v);
        }
      else
        ok = strcmp (pat[i], segs[i]) == 0;
    }
  g_strfreev (pat);
  if (!ok)
    for (guint i = 0; i < 3; i++)
      g_clear_pointer (&args[i], g_free);
  return ok;
}

/* Finds the route of req->method req->path: sets the handler, its
 * arguments and whether it takes a body; else answers 404 or 405 itself.
 * Also the entry point of the request fuzzer (fuzz/server-request.c). */
gboolean
ts_route_resolve (TsRequest *req)
{
  if (strcmp (req->path, "/metrics") == 0)
    {
      req->route_slot = TS_SLOT_METRICS;
      if (strcmp (req->method, "GET") == 0)
        {
          req->handler = ts_handle_metrics;
          return TRUE;
        }
      ts_reply_errorf (req, SOUP_STATUS_METHOD_NOT_ALLOWED, TESSERA_ERROR_NOT_SUPPORTED,
                       "%s is not allowed on %s", req->method, req->path);
      return FALSE;
    }
  if (!g_str_has_prefix (req->path, TS_API_PREFIX "/"))
    {
      ts_reply_errorf (req, SOUP_STATUS_NOT_FOUND, TESSERA_ERROR_NOT_FOUND, "no such endpoint");
      return FALSE;
    }
  char **segs = g_strsplit (req->path + strlen (TS_API_PREFIX "/"), "/", -1);
  const TsRoute *route = NULL;
  gboolean path_known = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (ts_routes) && route == NULL; i++)
    {
      char *args[3] = { NULL, NULL, NULL };
      if (!ts_route_match (&ts_routes[i], segs, args))
        continue;
      path_known = TRUE;
      if (strcmp (ts_routes[i].method, req->method) == 0)
        {
          route = &ts_routes[i];
          req->route_slot = i;
          memcpy (req->args, args, sizeof args);
        }
      else
        for (guint j = 0; j < 3; j++)
          g_free (args[j]);
    }
  g_strfreev (segs);
  if (route == NULL)
    {
      if (path_known)
        ts_reply_errorf (req, SOUP_STATUS_METHOD_NOT_ALLOWED, TESSERA_ERROR_NOT_SUPPORTED,
                         "%s is not allowed on %s", req->method, req->path);
      else
        ts_reply_errorf (req, SOUP_STATUS_NOT_FOUND, TESSERA_ERROR_NOT_FOUND, "no such endpoint");
      return FALSE;
    }
  req->handler = route->handler;
  req->want_body = route->body;
  req->quick = route->quick && ts_store_heartbeat_queues (req->server->store);
  return TRUE;
}

static void
ts_main_reply (SoupServerMessage *msg, TsRequest *req)
{
  ts_request_finish_main (req);
  ts_request_free (req);
  (void) msg;
}

static void
ts_server_callback (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
                    gpointer user_data)
{
  TsLoop *loop = user_data;
  TsServer *server = loop->server;
  TsRequest *req = g_new0 (TsRequest, 1);
  req->server = server;
  req->loop = loop;
  req->msg = g_object_ref (msg);
  req->method = g_strdup (soup_server_message_get_method (msg));
  req->path = g_strdup (path);
  req->now = g_get_real_time () / G_USEC_PER_SEC;
  req->route_slot = TS_SLOT_NONE;

  if (g_atomic_int_get (&server->draining))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                    "close");
      ts_reply_errorf (req, SOUP_STATUS_SERVICE_UNAVAILABLE, TESSERA_ERROR_UNAVAILABLE,
                       "the server is shutting down");
      ts_main_reply (msg, req);
      return;
    }
  req->metrics_only = ts_conn_metrics_only (ts_conn_of (msg));
  if (req->metrics_only && strcmp (path, "/metrics") != 0)
    {
      /* --metrics-listen is meant to be reachable by a scraper only: none
       * of the API, its sign-in or its pages is served there. */
      ts_reply_errorf (req, SOUP_STATUS_NOT_FOUND, TESSERA_ERROR_NOT_FOUND,
                       "no such endpoint (this listener serves only GET /metrics)");
      ts_main_reply (msg, req);
      return;
    }
  if (ts_web_static (req, path))
    {
      req->route_slot = TS_SLOT_ADMIN;
      ts_main_reply (msg, req);
      return;
    }
  if (!ts_route_resolve (req))
    {
      ts_main_reply (msg, req);
      return;
    }
  if (g_object_get_data (G_OBJECT (msg), "ts-too-large"))
    {
      ts_reply_errorf (req, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, TESSERA_ERROR_INVALID_ARGUMENT,
                       "the request body is over %d bytes", TS_MAX_BODY);
      ts_main_reply (msg, req);
      return;
    }
  if (req->handler == ts_handle_health || req->handler == ts_handle_public_key)
    {
      req->handler (req);
      ts_main_reply (msg, req);
      return;
    }

  SoupMessageHeaders *hdrs = soup_server_message_get_request_headers (msg);
  /* ready needs no credentials either, but runs on a worker: its write may
   * wait for the disk or for PostgreSQL. */
  gboolean open_route = req->handler == ts_handle_ready || req->handler == ts_handle_metrics;
  /* /metrics checks its own token (http-metrics.c), never an API key. */
  const char *auth = req->handler == ts_handle_ready
                         ? NULL
                         : soup_message_headers_get_one (hdrs, "Authorization");
  gboolean bearer
      = auth != NULL && g_ascii_strncasecmp (auth, "Bearer ", 7) == 0 && auth[7] != '\0';
  if (!open_route && !ts_web_prepare (req, bearer) && !bearer)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "WWW-Authenticate", "Bearer");
      ts_reply_errorf (req, SOUP_STATUS_UNAUTHORIZED, TESSERA_ERROR_AUTH,
                       "missing Authorization: Bearer <api-key>");
      ts_main_reply (msg, req);
      return;
    }
  if (bearer)
    {
      req->api_key = g_strdup (auth + 7);
      g_strstrip (req->api_key);
    }
  GUri *uri = soup_server_message_get_uri (msg);
  req->query = g_strdup (uri != NULL ? g_uri_get_query (uri) : NULL);
  req->accept = g_strdup (soup_message_headers_get_list (hdrs, "Accept"));
  if (req->want_body)
    {
      req->content_type = g_strdup (soup_message_headers_get_content_type (hdrs, NULL));
      req->body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
    }
  g_atomic_int_inc (&loop->inflight);
  g_object_set_data (G_OBJECT (msg), "ts-counted", GINT_TO_POINTER (1));
  soup_server_message_pause (msg);
  if (req->quick)
    ts_worker (req, NULL); /* answered through the loop's queue all the same */
  else
    g_thread_pool_push (server->workers, req, NULL); /* see http-private.h */
}

/* Counts the body as it arrives: past TS_MAX_BODY it is dropped (no
 * longer accumulated) and the handler answers 413. */
static void
ts_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  GObject *obj = G_OBJECT (msg);
  gsize total
      = GPOINTER_TO_SIZE (g_object_get_data (obj, "ts-body-size")) + g_bytes_get_size (chunk);
  g_object_set_data (obj, "ts-body-size", GSIZE_TO_POINTER (total));
  if (total > TS_MAX_BODY && !g_object_get_data (obj, "ts-too-large"))
    {
      SoupMessageBody *body = soup_server_message_get_request_body (msg);
      g_object_set_data (obj, "ts-too-large", GINT_TO_POINTER (1));
      soup_message_body_set_accumulate (body, FALSE);
      soup_message_body_truncate (body);
    }
}

/* The client's X-Request-Id when it is a sane one (one header, a short
 * token) and no part of its credentials (it is logged); else a new one. */
static char *
ts_request_id_of (SoupMessageHeaders *hdrs)
{
  const char *id = soup_message_headers_get_list (hdrs, TS_REQUEST_ID_HEADER);
  if (!ts_request_id_valid (id))
    return ts_request_id_new ();
  const char *secrets[] = { "Authorization", "Cookie", TS_WEB_CSRF_HEADER };
  for (guint i = 0; i < G_N_ELEMENTS (secrets); i++)
    {
      const char *value = soup_message_headers_get_list (hdrs, secrets[i]);
      if (value != NULL && strstr (value, id) != NULL)
        return ts_request_id_new ();
    }
  return g_strdup (id);
}

/* Before the body is read: the start time, the request id; a body announced (or turning
 * out) too large is read and thrown away, never kept (answering before
 * reading it would cut clients still sending it). */
static void
ts_early_callback (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
                   gpointer user_data)
{
  gint64 *start = g_new (gint64, 1);
  *start = g_get_monotonic_time ();
  g_object_set_data_full (G_OBJECT (msg), "ts-start", start, g_free);
  SoupMessageHeaders *hdrs = soup_server_message_get_request_headers (msg);
  g_object_set_data_full (G_OBJECT (msg), "ts-request-id", ts_request_id_of (hdrs), g_free);
  if (!ts_conn_check_headers (ts_conn_of (msg), msg))
    return;
  SoupEncoding encoding = soup_message_headers_get_encoding (hdrs);
  if (encoding == SOUP_ENCODING_CONTENT_LENGTH
      && soup_message_headers_get_content_length (hdrs) > TS_MAX_BODY)
    {
      g_object_set_data (G_OBJECT (msg), "ts-too-large", GINT_TO_POINTER (1));
      soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
    }
  /* A Content-Length body within the limit is read to that length and no
   * further: counting its chunks (a handler connected per request) is only
   * for bodies of unknown length. */
  else if (encoding != SOUP_ENCODING_CONTENT_LENGTH && encoding != SOUP_ENCODING_NONE)
    g_signal_connect (msg, "got-chunk", G_CALLBACK (ts_got_chunk), NULL);
}

/* ---------------------------------------------------------------- log */

static void
ts_request_ended (SoupServer *soup, SoupServerMessage *msg, gpointer user_data)
{
  TsLoop *loop = user_data;
  GObject *obj = G_OBJECT (msg);
  if (g_object_get_data (obj, "ts-done"))
    return;
  g_object_set_data (obj, "ts-done", GINT_TO_POINTER (1));
  /* Answered and logged by http-conn.c. */
  if (g_object_get_data (obj, "ts-refused"))
    return;
  ts_cork (msg, FALSE);
  if (g_object_get_data (obj, "ts-counted"))
    g_atomic_int_add (&loop->inflight, -1);
  const gint64 *start = g_object_get_data (obj, "ts-start");
  GUri *uri = soup_server_message_get_uri (msg);
  guint status = soup_server_message_get_status (msg);
  const char *id = g_object_get_data (obj, "ts-request-id");
  g_autofree char *own_id = id == NULL ? ts_request_id_new () : NULL;
  TsLogRequest line = {
    .request_id = id != NULL ? id : own_id,
    .remote = soup_server_message_get_remote_host (msg),
    .method = soup_server_message_get_method (msg),
    .path = uri != NULL ? g_uri_get_path (uri) : "-",
    .status = status,
    .ms = start != NULL ? (g_get_monotonic_time () - *start) / 1000.0 : 0.0,
    .org = g_object_get_data (obj, "ts-org"),
    .user = g_object_get_data (obj, "ts-user"),
  };
  /* A server error is the administrator's to see; a client's mistake is
   * an ordinary answer. */
  ts_log_request (status >= 500 && status != SOUP_STATUS_SERVICE_UNAVAILABLE ? TS_LOG_ERROR
                                                                             : TS_LOG_INFO,
                  &line);
}

gboolean
ts_http_idle (TsServer *server)
{
  for (guint i = 0; server->loops != NULL && i < server->loops->len; i++)
    {
      TsLoop *loop = g_ptr_array_index (server->loops, i);
      if (g_atomic_int_get (&loop->inflight) != 0)
        return FALSE;
    }
  return TRUE;
}

void
ts_http_setup (TsServer *server)
{
  static GOnce named = G_ONCE_INIT;
  g_once (&named, ts_metrics_name_routes, NULL);
  /* No more workers than the database has connections for them: a worker
   * beyond them would only wait for one, and the threads that wait cost
   * the instance and the database's host their context switches (with 16
   * workers on 6 connections, scale-bench's 3 instances on 2 cores did 11 %
   * fewer activations a second than with 6). */
  guint connections = ts_store_connections (server->store);
  gint workers = connections > 0 && connections < TS_WORKERS ? (gint) connections : TS_WORKERS;
  server->workers = g_thread_pool_new (ts_worker, server, workers, FALSE, NULL);
}

void
ts_http_setup_loop (TsLoop *loop)
{
  soup_server_add_early_handler (loop->soup, NULL, ts_early_callback, loop, NULL);
  soup_server_add_handler (loop->soup, NULL, ts_server_callback, loop, NULL);
  g_signal_connect (loop->soup, "request-finished", G_CALLBACK (ts_request_ended), loop);
  g_signal_connect (loop->soup, "request-aborted", G_CALLBACK (ts_request_ended), loop);
  g_mutex_init (&loop->done_lock);
  g_queue_init (&loop->done);
}
