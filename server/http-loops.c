/* The HTTP threads of tessera-server: several SoupServers, each in a
 * GMainContext and a thread of its own (see http-private.h for why). The
 * main thread accepts connections and deals them out in turn; everything of
 * a connection (TLS, libsoup's reading and writing, the handlers' quick
 * checks, the answers) then happens in its loop's thread. */
#include "http-log.h"
#include "http-private.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/* libsoup 3.2.3 keeps a connection open after a response only while the
 * server has a listener of its own (request_finished() in soup-server.c
 * tests priv->listeners), so connections given to it by
 * soup_server_accept_iostream() were closed after every response: a TCP
 * connect, accept and close per request on both sides (server-bench: the
 * largest single cost). This gives it a listener nobody can reach: a Unix
 * socket whose name is unlinked at once, in a private directory. It never
 * accepts anything, so its per-connection leak never happens. */
static GSocket *
ts_keepalive_listener (SoupServer *soup, GError **error)
{
  char *dir = g_dir_make_tmp ("tessera-server-XXXXXX", error);
  if (dir == NULL)
    return NULL;
  char *path = g_build_filename (dir, "unreachable", NULL);
  GSocketAddress *addr = g_unix_socket_address_new (path);
  GSocket *sock
      = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  gboolean ok
      = sock != NULL && g_socket_bind (sock, addr, FALSE, error) && g_socket_listen (sock, error);
  g_unlink (path);
  g_rmdir (dir);
  ok = ok && soup_server_listen_socket (soup, sock, 0, error);
  g_object_unref (addr);
  g_free (path);
  g_free (dir);
  if (!ok)
    g_clear_object (&sock);
  return sock;
}

static gpointer
ts_loop_thread (gpointer data)
{
  TsLoop *loop = data;
  g_main_context_push_thread_default (loop->context);
  g_main_loop_run (loop->loop);
  g_main_context_pop_thread_default (loop->context);
  return NULL;
}

static void
ts_loop_free (TsLoop *loop)
{
  ts_conns_free (loop);
  g_clear_object (&loop->soup);
  g_clear_object (&loop->keepalive);
  g_clear_pointer (&loop->loop, g_main_loop_unref);
  g_clear_pointer (&loop->context, g_main_context_unref);
  g_mutex_clear (&loop->done_lock);
  g_free (loop);
}

/* Made in the calling thread, with the loop's context as its default:
 * libsoup attaches its sources to the thread-default context of the moment
 * (the keep-alive listener's now, a connection's when it is accepted). */
static TsLoop *
ts_loop_new (TsServer *server, guint index, GError **error)
{
  TsLoop *loop = g_new0 (TsLoop, 1);
  loop->server = server;
  loop->context = g_main_context_new ();
  loop->loop = g_main_loop_new (loop->context, FALSE);
  loop->soup = soup_server_new ("server-header", "tessera-server", NULL);
  if (server->cert != NULL)
    soup_server_set_tls_certificate (loop->soup, server->cert);
  ts_http_setup_loop (loop);
  ts_conns_setup (loop);
  g_main_context_push_thread_default (loop->context);
  GError *local = NULL;
  loop->keepalive = ts_keepalive_listener (loop->soup, &local);
  g_main_context_pop_thread_default (loop->context);
  if (loop->keepalive == NULL)
    {
      /* Still correct, only slower: every response closes its connection
       * (ts_request_finish_main() says so in Connection: close). */
      ts_log (TS_LOG_WARNING, "no keep-alive on HTTP thread %u: %s", index + 1, local->message);
      g_clear_error (&local);
    }
  char *name = g_strdup_printf ("http-%u", index);
  loop->thread = g_thread_try_new (name, ts_loop_thread, loop, error);
  g_free (name);
  if (loop->thread == NULL)
    {
      ts_loop_free (loop);
      return NULL;
    }
  return loop;
}

gboolean
ts_loops_start (TsServer *server, guint n, GError **error)
{
  server->loops = g_ptr_array_new ();
  for (guint i = 0; i < n; i++)
    {
      TsLoop *loop = ts_loop_new (server, i, error);
      if (loop == NULL)
        {
          g_prefix_error (error, "cannot start HTTP thread %u: ", i + 1);
          ts_loops_stop (server);
          return FALSE;
        }
      g_ptr_array_add (server->loops, loop);
    }
  return TRUE;
}

typedef struct
{
  TsLoop *loop;
  GSocketConnection *conn;
  gboolean metrics_only;
} TsAccept;

static void
ts_accept_free (gpointer data)
{
  TsAccept *a = data;
  g_object_unref (a->conn);
  g_free (a);
}

/* In the loop's thread. */
static gboolean
ts_loop_accept (gpointer data)
{
  TsAccept *a = data;
  TsServer *server = a->loop->server;
  GError *error = NULL;
  GIOStream *tls = NULL;
  /* The metrics listener is plain HTTP: a scraper on the private network
   * needs no certificate for it. */
  if (server->cert != NULL && !a->metrics_only
      && (tls = g_tls_server_connection_new (G_IO_STREAM (a->conn), server->cert, &error)) == NULL)
    {
      ts_log (TS_LOG_WARNING, "cannot accept a connection: %s", error->message);
      g_clear_error (&error);
      g_io_stream_close (G_IO_STREAM (a->conn), NULL, NULL);
      return G_SOURCE_REMOVE;
    }
  GSocketAddress *local = g_socket_connection_get_local_address (a->conn, NULL);
  GSocketAddress *remote = g_socket_connection_get_remote_address (a->conn, NULL);
  if (local == NULL || remote == NULL)
    {
      /* The client is gone already (ENOTCONN). */
      g_io_stream_close (tls != NULL ? tls : G_IO_STREAM (a->conn), NULL, NULL);
      g_io_stream_close (G_IO_STREAM (a->conn), NULL, NULL);
    }
  else
    {
      GIOStream *stream = ts_conn_new (a->loop, a->conn, tls, remote, a->metrics_only);
      /* Cannot fail in libsoup 3.2.3; closes the connection when done. */
      soup_server_accept_iostream (a->loop->soup, stream, local, remote, NULL);
      g_object_unref (stream);
    }
  g_clear_object (&local);
  g_clear_object (&remote);
  g_clear_object (&tls);
  return G_SOURCE_REMOVE;
}

static void
ts_loops_accept (TsServer *server, GSocketConnection *conn, gboolean metrics_only)
{
  TsAccept *a = g_new0 (TsAccept, 1);
  a->loop = g_ptr_array_index (server->loops, server->next_loop++ % server->loops->len);
  a->conn = g_object_ref (conn);
  a->metrics_only = metrics_only;
  g_main_context_invoke_full (a->loop->context, G_PRIORITY_DEFAULT, ts_loop_accept, a,
                              ts_accept_free);
}

/* ---------------------------------------------------------------- accept */

/* Out of descriptors (or memory), accept() fails as long as the pending
 * connection waits, and GSocketService retried at once and logged every
 * failure: a core at 86% and 2.47 GB of log in 9 minutes. Here a failure
 * stops accepting for a while (50 ms, doubling up to 1 s) and is logged at
 * most once per TS_ACCEPT_LOG_SECONDS, with a count. */
#define TS_ACCEPT_LOG_SECONDS 10
#define TS_ACCEPT_BACKOFF_MAX_MS 1000

static void ts_accept_watch (TsListener *l);

static gboolean
ts_accept_retry (gpointer data)
{
  TsListener *l = data;
  g_clear_pointer (&l->source, g_source_unref);
  ts_accept_watch (l);
  return G_SOURCE_REMOVE;
}

static void
ts_accept_failed (TsListener *l, const GError *error)
{
  gint64 now = g_get_monotonic_time ();
  l->failures++;
  if (l->logged == 0 || now - l->logged >= TS_ACCEPT_LOG_SECONDS * G_USEC_PER_SEC)
    {
      ts_log (TS_LOG_ERROR,
              "cannot accept %sconnections: %s (%u time%s since the last such line); retrying at "
              "most every %d ms",
              l->metrics_only ? "metrics " : "", error->message, l->failures,
              l->failures == 1 ? "" : "s", TS_ACCEPT_BACKOFF_MAX_MS);
      l->logged = now;
      l->failures = 0;
    }
  l->backoff_ms = l->backoff_ms == 0 ? 50 : MIN (l->backoff_ms * 2, TS_ACCEPT_BACKOFF_MAX_MS);
  g_source_destroy (l->source);
  g_source_unref (l->source);
  l->source = g_timeout_source_new (l->backoff_ms);
  g_source_set_callback (l->source, ts_accept_retry, l, NULL);
  g_source_attach (l->source, g_main_context_get_thread_default ());
}

static gboolean
ts_accept_ready (GSocket *socket, GIOCondition condition, gpointer data)
{
  TsListener *l = data;
  /* A bounded batch, so that signals and timers get their turn. */
  for (guint i = 0; i < 64; i++)
    {
      GError *error = NULL;
      GSocket *sock = g_socket_accept (socket, NULL, &error);
      if (sock == NULL)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              g_error_free (error);
              break;
            }
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)
              || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
            {
              /* That client gave up before it was accepted. */
              g_error_free (error);
              continue;
            }
          ts_accept_failed (l, error);
          g_error_free (error);
          return G_SOURCE_REMOVE;
        }
      if (l->backoff_ms != 0)
        {
          if (l->failures > 0)
            ts_log (TS_LOG_WARNING, "accepting %sconnections again (%u more failure%s)",
                    l->metrics_only ? "metrics " : "", l->failures, l->failures == 1 ? "" : "s");
          else
            ts_log (TS_LOG_WARNING, "accepting %sconnections again",
                    l->metrics_only ? "metrics " : "");
          l->backoff_ms = 0;
          l->failures = 0;
          l->logged = 0;
        }
      /* With keep-alive, a response written in two pieces (headers, body)
       * waits for the client's delayed ACK of the first one under Nagle:
       * 40 ms a request. */
      g_socket_set_option (sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
      GSocketConnection *conn = g_socket_connection_factory_create_connection (sock);
      g_object_unref (sock);
      ts_loops_accept (l->server, conn, l->metrics_only);
      g_object_unref (conn);
    }
  return G_SOURCE_CONTINUE;
}

static void
ts_accept_watch (TsListener *l)
{
  l->source = g_socket_create_source (l->socket, G_IO_IN, NULL);
  g_source_set_callback (l->source, G_SOURCE_FUNC (ts_accept_ready), l, NULL);
  g_source_attach (l->source, g_main_context_get_thread_default ());
}

void
ts_accept_start (TsServer *server, GSocket *socket, gboolean metrics_only)
{
  TsListener *l = g_new0 (TsListener, 1);
  l->server = server;
  l->socket = socket;
  l->metrics_only = metrics_only;
  if (metrics_only)
    server->metrics_listener = l;
  else
    server->listener = l;
  g_socket_set_blocking (socket, FALSE);
  ts_accept_watch (l);
}

static void
ts_listener_free (TsListener *l)
{
  if (l == NULL)
    return;
  if (l->source != NULL)
    {
      g_source_destroy (l->source);
      g_source_unref (l->source);
    }
  g_socket_close (l->socket, NULL);
  g_object_unref (l->socket);
  g_free (l);
}

void
ts_accept_stop (TsServer *server)
{
  g_clear_pointer (&server->listener, ts_listener_free);
  g_clear_pointer (&server->metrics_listener, ts_listener_free);
}

static gboolean
ts_loop_quit (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static gboolean
ts_loop_disconnect (gpointer data)
{
  TsLoop *loop = data;
  soup_server_disconnect (loop->soup);
  /* Let the disconnections of idle keep-alive connections settle. */
  GSource *source = g_timeout_source_new (100);
  g_source_set_callback (source, ts_loop_quit, loop->loop, NULL);
  g_source_attach (source, loop->context);
  g_source_unref (source);
  return G_SOURCE_REMOVE;
}

void
ts_loops_stop (TsServer *server)
{
  for (guint i = 0; server->loops != NULL && i < server->loops->len; i++)
    {
      TsLoop *loop = g_ptr_array_index (server->loops, i);
      g_main_context_invoke (loop->context, ts_loop_disconnect, loop);
    }
  for (guint i = 0; server->loops != NULL && i < server->loops->len; i++)
    {
      TsLoop *loop = g_ptr_array_index (server->loops, i);
      g_thread_join (loop->thread);
      ts_loop_free (loop);
    }
  g_clear_pointer (&server->loops, g_ptr_array_unref);
}
