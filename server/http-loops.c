/* The HTTP threads of tessera-server: several SoupServers, each in a
 * GMainContext and a thread of its own (see http-private.h for why). The
 * main thread accepts connections and deals them out in turn; everything of
 * a connection (TLS, libsoup's reading and writing, the handlers' quick
 * checks, the answers) then happens in its loop's thread. */
#include "http-private.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

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
  g_main_context_push_thread_default (loop->context);
  GError *local = NULL;
  loop->keepalive = ts_keepalive_listener (loop->soup, &local);
  g_main_context_pop_thread_default (loop->context);
  if (loop->keepalive == NULL)
    {
      /* Still correct, only slower: every response closes its connection
       * (ts_request_finish_main() says so in Connection: close). */
      g_printerr ("tessera-server: warning: no keep-alive on HTTP thread %u: %s\n", index + 1,
                  local->message);
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
  GIOStream *stream = G_IO_STREAM (g_object_ref (a->conn));
  if (server->cert != NULL)
    {
      GIOStream *tls = g_tls_server_connection_new (stream, server->cert, &error);
      g_object_unref (stream);
      stream = tls;
    }
  GSocketAddress *local = g_socket_connection_get_local_address (a->conn, NULL);
  GSocketAddress *remote = g_socket_connection_get_remote_address (a->conn, NULL);
  if (remote != NULL)
    g_object_set_data_full (G_OBJECT (remote), TS_SOCKET_KEY,
                            g_object_ref (g_socket_connection_get_socket (a->conn)),
                            g_object_unref);
  if (stream == NULL || !soup_server_accept_iostream (a->loop->soup, stream, local, remote, &error))
    {
      g_printerr ("tessera-server: cannot accept a connection: %s\n",
                  error != NULL ? error->message : "no stream");
      g_clear_error (&error);
    }
  g_clear_object (&local);
  g_clear_object (&remote);
  g_clear_object (&stream);
  return G_SOURCE_REMOVE;
}

void
ts_loops_accept (TsServer *server, GSocketConnection *conn)
{
  TsAccept *a = g_new0 (TsAccept, 1);
  a->loop = g_ptr_array_index (server->loops, server->next_loop++ % server->loops->len);
  a->conn = g_object_ref (conn);
  g_main_context_invoke_full (a->loop->context, G_PRIORITY_DEFAULT, ts_loop_accept, a,
                              ts_accept_free);
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
