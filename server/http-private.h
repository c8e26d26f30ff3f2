/* tessera-server HTTP layer internals (server/http-*.c, main.c).
 *
 * Threading: the main thread accepts connections and hands each to one of
 * the HTTP threads (TsLoop, http-loops.c), each with a SoupServer in its
 * own GMainContext: one thread was a bottleneck (libsoup's parsing and
 * writing took 70-90% of it under load while the other core idled). A
 * handler does only cheap checks there (route, Authorization header
 * present, body size), then pauses the message and pushes the request to a
 * GThreadPool; the worker authenticates, parses the body, calls the store
 * (whose commits wait for the disk) and builds the whole response; the
 * response is then attached and the message unpaused back in its loop's
 * thread (libsoup objects are not thread-safe). So a slow fsync never
 * blocks other requests. Heartbeats skip the worker: the HTTP thread reads
 * (authentication) and queues the lease to the store's writer, which
 * answers through the loop's queue once committed (TsRoute.quick). */
#pragma once

#include "store.h"
#include "usage.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define TS_API_PREFIX "/api/v1"
#define TS_MAX_BODY (64 * 1024)
/* Request headers past this many bytes are answered 431 (http-conn.c);
 * libsoup's own limit (64 KB) would cut the connection without a word. */
#define TS_MAX_HEADERS (48 * 1024)
/* The TsConn of a connection, on the remote GSocketAddress given to
 * soup_server_accept_iostream() (http-loops.c), which the messages keep. */
#define TS_CONN_KEY "ts-conn"

typedef struct _TsServer TsServer;
typedef struct _TsConn TsConn;

/* A listening socket and its accept loop (http-loops.c, main thread). */
typedef struct
{
  TsServer *server;
  GSocket *socket;
  gboolean metrics_only; /* --metrics-listen: plain HTTP, GET /metrics only */
  GSource *source;       /* the socket is readable, or a retry after failing */
  guint backoff_ms;      /* 0: accepting; else the wait after a failed accept */
  guint failures;        /* since the last log line */
  gint64 logged;         /* monotonic time of that line */
} TsListener;

/* One HTTP thread (http-loops.c): a SoupServer of its own in a GMainContext
 * of its own. Connections are spread over them; a connection stays on one. */
typedef struct
{
  TsServer *server;
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  SoupServer *soup;
  GSocket *keepalive; /* see ts_keepalive_listener() in http-loops.c */
  gint inflight;      /* atomic: dispatched, response not yet written */
  GHashTable *conns;  /* TsConn * (a reference each): its open connections */
  GSource *sweep;     /* closes the connections past their deadline */
  /* Requests the workers finished, for this loop (http-server.c,
   * ts_request_done_idle()): one wake-up of the loop serves them all. */
  GMutex done_lock;
  GQueue done;
  gboolean done_scheduled; /* an idle source will take @done */
} TsLoop;

struct _TsServer
{
  TsStore *store;
  TesseraSigningKey *key; /* the current signing key */
  char *public_key;       /* its public line */
  gint64 lease_seconds;
  GTlsCertificate *cert; /* NULL: plain HTTP */
  GThreadPool *workers;
  GPtrArray *loops;    /* TsLoop *, at least one */
  guint next_loop;     /* main thread: where the next connection goes */
  gint draining;       /* atomic: SIGTERM seen: new requests get 503 */
  guint idle_timeout;  /* seconds: --idle-timeout (http-conn.c) */
  char *metrics_token; /* GET /metrics's bearer token, or NULL: no /metrics */
  TsUsage *usage;      /* activations and refusals counted (nullable: none) */

  /* The API's listener and --metrics-listen's (each NULL until started). */
  TsListener *listener;
  TsListener *metrics_listener;
};

typedef struct _TsRequest TsRequest;
typedef struct _TsWaiter TsWaiter;
typedef void (*TsHandlerFunc) (TsRequest *req);

struct _TsRequest
{
  TsServer *server;
  TsLoop *loop;           /* whose thread answers it */
  SoupServerMessage *msg; /* only touched in its loop's thread */
  char *method;
  char *path;
  char *args[3];      /* the '*' segments of the route, unescaped */
  char *api_key;      /* from Authorization; wiped when freed */
  char *content_type; /* of the request */
  char *query;        /* the URL's query, still encoded (NULL: none) */
  char *accept;       /* the Accept header (NULL: none) */
  GBytes *body;       /* of the request */
  gboolean want_body; /* the route takes a JSON body */
  gboolean quick;     /* the route runs on the HTTP thread (http-server.c) */
  guint route_slot;   /* its route's metrics (http-server.c, metrics.h) */
  TsHandlerFunc handler;
  gint64 now;

  /* filled by the worker */
  gint pending;      /* atomic: ts_request_defer() less ts_request_resume() */
  TsWaiter *waiter;  /* ts_request_run_sync()'s, or NULL */
  const char *nonce; /* heartbeat: in @json, or "" */
  char *user_id;     /* authenticated user (by key: once the store knew it) */
  /* activate, heartbeat, release by API key: the key's hash, checked in
   * the request's own transaction (TsCaller, store.h) */
  char *key_hash;
  TsCaller caller;  /* of the heartbeat under way (ts_request_caller()) */
  JsonObject *json; /* the parsed body */
  char *org;        /* for the log line */
  char *product;    /* activate: to list the orgs to choose from */
  guint status;
  char *resp_type;
  GBytes *resp_body;
  char *resp_disposition;

  /* web sign-in (http-web.c) */
  char *web_token;         /* from the session cookie (loop thread); wiped when freed */
  char *csrf_header;       /* X-CSRF-Token of the request */
  char *client_address;    /* the peer's IP address, for the sign-in rate limit */
  gboolean tls;            /* served over HTTPS: cookies get Secure */
  gboolean metrics_only;   /* came on --metrics-listen's socket */
  TsWebSession *web;       /* the session, when authenticated by cookie */
  GPtrArray *resp_headers; /* extra response headers: name, value, name, value… */
};

/* ---- http-server.c: routing, auth, JSON helpers, errors ---- */

/* The worker pool; ts_http_setup_loop() for each loop (http-loops.c). */
void ts_http_setup (TsServer *server);
void ts_http_setup_loop (TsLoop *loop);
/* TRUE when no request is in flight on any loop. */
gboolean ts_http_idle (TsServer *server);

/* ---- http-loops.c: the HTTP threads ---- */

/* Starts @n loops, each a SoupServer (with server->cert) and a thread.
 * FALSE with @error if one cannot be made (those made are stopped). */
gboolean ts_loops_start (TsServer *server, guint n, GError **error);
/* Accepts connections on @socket (taken) in the calling thread's context
 * and deals them out to the loops; ts_accept_stop() closes it (and the
 * other listener). @metrics_only: --metrics-listen's socket, whose
 * connections are plain HTTP and get only GET /metrics. */
void ts_accept_start (TsServer *server, GSocket *socket, gboolean metrics_only);
void ts_accept_stop (TsServer *server);
/* Disconnects every loop's clients, stops and frees the loops. */
void ts_loops_stop (TsServer *server);

/* ---- http-conn.c: one client connection, in its loop's thread ---- */

/* Where a connection's current request is: each phase but HANDLER (the
 * server's own work) must end within --idle-timeout, or the connection is
 * closed. */
typedef enum
{
  TS_PHASE_IDLE,     /* between requests (keep-alive) */
  TS_PHASE_REQUEST,  /* its first bytes came: headers and body must follow */
  TS_PHASE_BODY,     /* headers read */
  TS_PHASE_HANDLER,  /* read in full, being answered */
  TS_PHASE_RESPONSE, /* the answer is being written */
} TsPhase;

/* Wraps @tcp (and @tls over it, or NULL) for soup_server_accept_iostream():
 * returns the stream to give libsoup; the TsConn hangs on @remote. */
GIOStream *ts_conn_new (TsLoop *loop, GSocketConnection *tcp, GIOStream *tls,
                        GSocketAddress *remote, gboolean metrics_only);
/* Whether @conn came on --metrics-listen's socket (FALSE for NULL). */
gboolean ts_conn_metrics_only (TsConn *conn);
/* The TsConn of @msg, or NULL (a request without a connection: fuzz/). */
TsConn *ts_conn_of (SoupServerMessage *msg);
void ts_conn_set_phase (TsConn *conn, TsPhase phase);
/* Checks the request headers once read (duplicates of headers that must be
 * single, a Content-Length that is no number): FALSE when @msg was refused
 * (answered at once and the connection closed). */
gboolean ts_conn_check_headers (TsConn *conn, SoupServerMessage *msg);
GSocket *ts_conn_get_socket (TsConn *conn);
/* The loop's connection table and deadline sweep; closes what is left. */
void ts_conns_setup (TsLoop *loop);
void ts_conns_free (TsLoop *loop);

/* Replies (worker side). ts_reply_json takes @node. */
/* Returns: (transfer full) the signed answer body carrying @payload (taken)
 * as JSON text, signed over it and @nonce under @context (http-sign.c,
 * protocol/answer-signature.h). */
JsonNode *ts_sign_answer (TsRequest *req, JsonNode *payload, const char *context,
                          const char *nonce);
/* The request path below HTTP framing (http-server.c), also what
 * fuzz/server-request.c drives: ts_route_resolve() finds the handler of
 * req->method and req->path (FALSE: it answered 404/405 itself);
 * ts_request_run() authenticates, parses the body and runs the handler in
 * the calling thread; ts_request_run_sync() does that and waits for the
 * answer of a handler that defers it (a request without a loop);
 * ts_request_free() frees a request. */
gboolean ts_route_resolve (TsRequest *req);
void ts_request_run (TsRequest *req);
void ts_request_run_sync (TsRequest *req);
void ts_request_free (TsRequest *req);
/* A handler that answers later, from another thread, calls
 * ts_request_defer() before it returns and ts_request_resume() once the
 * answer is set: the request goes back to its loop (or wakes
 * ts_request_run_sync()) when both the caller and it are done with it. */
void ts_request_defer (TsRequest *req);
void ts_request_resume (TsRequest *req);
/* The caller of a client request (activate, heartbeat, release): the user,
 * or the API key the store checks (TsCaller), in @req until
 * ts_request_caller_done(), which keeps the user the store found. */
TsCaller *ts_request_caller (TsRequest *req);
void ts_request_caller_done (TsRequest *req);

void ts_reply_json (TsRequest *req, guint status, JsonNode *node);
void ts_reply_empty (TsRequest *req);
void ts_reply_error (TsRequest *req, const GError *error);
void ts_reply_errorf (TsRequest *req, guint status, TesseraError code, const char *fmt, ...)
    G_GNUC_PRINTF (4, 5);
void ts_reply_bytes (TsRequest *req, guint status, const char *content_type, GBytes *bytes);
guint ts_error_status (const GError *error);

/* Body accessors: FALSE with INVALID_ARGUMENT naming the field. */
gboolean ts_body_only (TsRequest *req, const char *const *allowed, GError **error);
gboolean ts_body_string (TsRequest *req, const char *name, gboolean required, const char **out,
                         GError **error);
gboolean ts_body_int (TsRequest *req, const char *name, gboolean required, gint64 *out,
                      gboolean *present, GError **error);
gboolean ts_body_strv (TsRequest *req, const char *name, gboolean required, GStrv *out,
                       GError **error);
/* FALSE with INVALID_ARGUMENT when the JSON text @data has a \u0000 escape
 * in a string (http-body.c). */
gboolean ts_body_no_nul (const char *data, gsize size, GError **error);
/* json_parser_load_from_data() that also refuses an object with two
 * members of one name (INVALID_ARGUMENT naming it). Returns: (transfer
 * full) the root (a null node for an empty document), or NULL. */
JsonNode *ts_body_parse (const char *data, gsize size, GError **error);
/* The optional "components" object of an activation (docs/protocol.md),
 * checked, as *@out "NAME=HEX ..." (tessera_machine_digests_check()), or
 * NULL when absent. */
gboolean ts_body_components (TsRequest *req, char **out, GError **error);

/* JSON building: pass an even list of "name", type char, value, ending NULL.
 * Types: 's' const char * (NULL → null), 'i' gint64, 'n' JsonNode * (taken). */
JsonNode *ts_json_object (const char *first, ...) G_GNUC_NULL_TERMINATED;
JsonNode *ts_json_array (GPtrArray *items, JsonNode *(*convert) (gconstpointer item));
JsonNode *ts_json_wrap (const char *name, JsonNode *value);

/* ---- handlers (run in a worker) ---- */

/* http-licenses.c */
void ts_handle_activate (TsRequest *req);
void ts_handle_heartbeat (TsRequest *req);
void ts_handle_release (TsRequest *req);
void ts_handle_me (TsRequest *req);

/* http-admin.c */
void ts_handle_pools_list (TsRequest *req);
void ts_handle_pools_create (TsRequest *req);
void ts_handle_pools_update (TsRequest *req);
void ts_handle_members_list (TsRequest *req);
void ts_handle_members_add (TsRequest *req);
void ts_handle_members_remove (TsRequest *req);
void ts_handle_grants_list (TsRequest *req);
void ts_handle_grants_add (TsRequest *req);
void ts_handle_grants_remove (TsRequest *req);
void ts_handle_machines_list (TsRequest *req);
void ts_handle_machines_remove (TsRequest *req);
void ts_handle_sessions_list (TsRequest *req);
void ts_handle_sessions_remove (TsRequest *req);
void ts_handle_offline_list (TsRequest *req);
void ts_handle_offline_create (TsRequest *req);
void ts_handle_offline_download (TsRequest *req);
/* http-usage.c */
void ts_handle_usage (TsRequest *req);
void ts_handle_audit (TsRequest *req);

/* http-web.c: sign-in, cookie sessions, CSRF, the /admin/ pages */
#define TS_WEB_COOKIE "tessera_session"
#define TS_WEB_CSRF_HEADER "X-CSRF-Token"
/* Main thread, before dispatch: reads the session cookie, the CSRF header and
 * the client address. Returns TRUE when the request may go on without a
 * Bearer key (it has a session cookie, or its route needs no credentials). */
gboolean ts_web_prepare (TsRequest *req, gboolean bearer);
/* Worker: authenticates a cookie request (and checks its CSRF token when it
 * changes state). Returns FALSE after replying with the error. */
gboolean ts_web_authenticate (TsRequest *req);
/* Main thread: serves /admin/… from the GResource; FALSE if @path is not
 * under /admin. */
gboolean ts_web_static (TsRequest *req, const char *path);
/* Frees the web fields of @req (from ts_request_free). */
void ts_web_request_clear (TsRequest *req);
/* Adds a response header (worker or loop thread, before the reply is sent). */
void ts_reply_header (TsRequest *req, const char *name, const char *value);
void ts_handle_web_login (TsRequest *req);
void ts_handle_web_logout (TsRequest *req);
void ts_handle_web_session (TsRequest *req);
void ts_handle_web_password (TsRequest *req);
void ts_handle_web_accept_invite (TsRequest *req);
void ts_handle_web_invite (TsRequest *req);
void ts_handle_web_my_licenses (TsRequest *req);

/* http-metrics.c: GET /metrics; the reason of a refused activation counted */
void ts_handle_metrics (TsRequest *req);
void ts_metrics_activation_refused (const GError *error);

/* http-keys.c */
void ts_handle_keys_list (TsRequest *req);
void ts_handle_keys_create (TsRequest *req);
void ts_handle_keys_revoke (TsRequest *req);

G_END_DECLS
