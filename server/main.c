/* tessera-server: the reference license server (docs/protocol.md).
 * Options, signing keys, listening, the lease reaper and shutdown; the HTTP
 * API itself is in http-*.c. */
#include "http-log.h"
#include "http-private.h"
#include "keys.h"
#include "metrics.h"
#include "options.h"
#include "tool-cli.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

typedef struct
{
  TsServer server;
  GMainLoop *loop;
  gint reaping;  /* atomic: a reap is running */
  gint flushing; /* atomic: a write of the usage counts is running */
  guint drain_ticks;
} TsMain;

/* ---------------------------------------------------------------- reaper */

static void
ts_reap_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  TsMain *m = task_data;
  GError *error = NULL;
  guint n = ts_store_reap (m->server.store, g_get_real_time () / G_USEC_PER_SEC, &error);
  if (error != NULL)
    {
      ts_log (TS_LOG_ERROR, "reaping expired sessions failed: %s", error->message);
      g_error_free (error);
    }
  else if (n > 0)
    ts_log (TS_LOG_INFO, "reaped %u expired session%s", n, n == 1 ? "" : "s");
  ts_metrics_reaped (n);
  g_atomic_int_set (&m->reaping, 0);
  g_task_return_boolean (task, TRUE);
}

/* Runs @func in a thread for @m, unless the previous run (*@busy) has not
 * finished: a slow database must not pile up runs. @func clears *@busy. */
static void
ts_run_unless_busy (TsMain *m, gint *busy, GTaskThreadFunc func)
{
  if (!g_atomic_int_compare_and_exchange (busy, 0, 1))
    return;
  GTask *task = g_task_new (NULL, NULL, NULL, NULL);
  g_task_set_task_data (task, m, NULL);
  g_task_run_in_thread (task, func);
  g_object_unref (task);
}

static gboolean
ts_reap_tick (gpointer data)
{
  TsMain *m = data;
  ts_run_unless_busy (m, &m->reaping, ts_reap_thread);
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------- usage */

static void
ts_usage_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  TsMain *m = task_data;
  GError *error = NULL;
  /* Kept in memory on failure: the next flush tries again. */
  if (!ts_usage_flush (m->server.usage, g_get_real_time () / G_USEC_PER_SEC, &error))
    {
      ts_log (TS_LOG_ERROR, "writing the usage history failed: %s", error->message);
      g_error_free (error);
    }
  g_atomic_int_set (&m->flushing, 0);
  g_task_return_boolean (task, TRUE);
}

static gboolean
ts_usage_tick (gpointer data)
{
  TsMain *m = data;
  ts_run_unless_busy (m, &m->flushing, ts_usage_thread);
  return G_SOURCE_CONTINUE;
}

#ifdef __GLIBC__
/* Every thread's malloc arena keeps what it freed. In a 10-minute soak
 * (server-bench --soak 600) the server's RSS crept from 23.6 to 27.9 MB
 * while its live heap stayed flat (massif: 6.2-6.9 MB through a 3-minute
 * soak; SQLite's share a constant 4.1 MB): the growth was free memory held
 * by the arenas (mallinfo2: 2.3 to 5.2 MB). Handing back what can be
 * every 30 s took the same soak to 22.9-26.0 MB; the main thread only
 * accepts connections, so it has the time. */
static gboolean
ts_trim_tick (gpointer data)
{
  (void) data;
  malloc_trim (0);
  return G_SOURCE_CONTINUE;
}
#endif

/* ---------------------------------------------------------------- shutdown */

static gboolean
ts_drain_tick (gpointer data)
{
  TsMain *m = data;
  /* In-flight requests finish; give up after 30 s. */
  if (ts_http_idle (&m->server) && !g_atomic_int_get (&m->reaping))
    {
      g_main_loop_quit (m->loop);
      return G_SOURCE_REMOVE;
    }
  if (++m->drain_ticks > 600)
    {
      ts_log (TS_LOG_WARNING, "requests still running after 30 s, exiting anyway");
      g_main_loop_quit (m->loop);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
ts_on_signal (gpointer data)
{
  TsMain *m = data;
  if (g_atomic_int_get (&m->server.draining))
    return G_SOURCE_CONTINUE;
  ts_log (TS_LOG_INFO, "shutting down");
  /* No new connections; new requests on open ones get 503 (and
   * Connection: close); soup_server_disconnect() would also cut the
   * in-flight ones, so it runs once they are done. */
  g_atomic_int_set (&m->server.draining, 1);
  ts_accept_stop (&m->server);
  g_timeout_add (50, ts_drain_tick, m);
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------- listen */

static GSocket *
ts_listen_socket (GSocketAddress *address, GError **error)
{
  GSocket *sock = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                                G_SOCKET_PROTOCOL_TCP, error);
  if (sock == NULL)
    return NULL;
  g_socket_set_listen_backlog (sock, 1024);
  if (!g_socket_bind (sock, address, TRUE, error) || !g_socket_listen (sock, error))
    g_clear_object (&sock);
  return sock;
}

/* "@what on SCHEME://HOST:PORT" on stdout, what clients and tests wait
 * for: the bound port from the socket itself (soup_server_get_uris() of
 * libsoup 3.2.3 leaks an address). */
static void
ts_print_listening (const char *what, GSocket *sock, GSocketAddress *address, gboolean https)
{
  GSocketAddress *local = g_socket_get_local_address (sock, NULL);
  GInetAddress *inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  char *host = g_inet_address_to_string (inet);
  gboolean v6 = strchr (host, ':') != NULL;
  printf ("%s on %s://%s%s%s:%u\n", what, https ? "https" : "http", v6 ? "[" : "", host,
          v6 ? "]" : "",
          local != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) : 0);
  fflush (stdout);
  g_free (host);
  g_clear_object (&local);
}

/* ---------------------------------------------------------------- main */

static void
ts_keys_note (gboolean warning, const char *message)
{
  ts_log (warning ? TS_LOG_WARNING : TS_LOG_INFO, "%s", message);
}

/* Exit codes: the table every tool shares (tools/tool-cli.h): 1 a bad
 * command line, 9 an address or certificate it cannot use, 10 the database
 * or the keys. */
static int
ts_fail (int code, GError *error)
{
  g_printerr ("tessera-server: %s\n", error->message);
  g_error_free (error);
  return code;
}

int
main (int argc, char **argv)
{
  TsOptions o = { 0 };
  GError *error = NULL;
  int rc = ts_options_parse (&o, argc, argv);
  if (rc >= 0)
    {
      ts_options_clear (&o);
      return rc;
    }
  g_autoptr (TsKek) kek = NULL;
  if (o.kek_path != NULL && (kek = ts_kek_load (o.kek_path, &error)) == NULL)
    {
      ts_options_clear (&o);
      return ts_fail (TOOL_EXIT_IO, error);
    }
  GTlsCertificate *cert = NULL;
  if (o.tls_cert != NULL)
    {
      cert = g_tls_certificate_new_from_files (o.tls_cert, o.tls_key, &error);
      if (cert == NULL)
        {
          ts_options_clear (&o);
          return ts_fail (TOOL_EXIT_CONFIG, error);
        }
    }
  if (o.check_config)
    {
      /* Checked as far as it can be without opening the database (which
       * would create it): the options, the key-encryption key, TLS. */
      ts_options_print (&o);
      g_clear_object (&cert);
      ts_options_clear (&o);
      return TOOL_EXIT_OK;
    }
  ts_log_setup (o.log_format, o.log_level);
  ts_keys_set_note_func (ts_keys_note);

  /* Bound before the database is opened: an address that cannot be used
   * leaves no database or signing key behind. Our own sockets: GLib's
   * default listen backlog (10) drops bursts of connections, and libsoup
   * 3.2 does not raise it. Accepted by http-loops.c (ts_accept_start()),
   * not libsoup's listener (libsoup 3.2.3 leaks a GSocket per connection)
   * nor GSocketService (which spins when accept() fails): handed to the
   * HTTP threads, and SIGTERM can close them while in-flight requests
   * finish. */
  GSocket *sock = ts_listen_socket (o.address, &error);
  GSocket *metrics_sock = NULL;
  if (sock == NULL)
    g_prefix_error (&error, "cannot listen on %s: ", o.listen);
  else if (o.metrics_address != NULL
           && (metrics_sock = ts_listen_socket (o.metrics_address, &error)) == NULL)
    g_prefix_error (&error, "cannot listen on %s (--metrics-listen): ", o.metrics_listen);
  if (error != NULL)
    {
      g_clear_object (&sock);
      g_clear_object (&cert);
      ts_options_clear (&o);
      return ts_fail (TOOL_EXIT_CONFIG, error);
    }

  TsMain m = { 0 };
  TsServer *server = &m.server;
  server->lease_seconds = o.lease;
  server->idle_timeout = (guint) o.idle_timeout;
  server->metrics_token = g_steal_pointer (&o.metrics_token);
  server->store = ts_store_open (o.database, &error);
  if (server->store != NULL)
    {
      server->key = kek != NULL ? ts_keys_load_db (server->store, kek, TRUE, &error)
                                : ts_keys_load_dir (o.key_dir, TRUE, &error);
      if (server->key == NULL)
        g_clear_pointer (&server->store, ts_store_close);
    }
  g_clear_pointer (&kek, ts_kek_free);
  if (server->store == NULL)
    {
      g_clear_object (&sock);
      g_clear_object (&metrics_sock);
      g_clear_object (&cert);
      ts_options_clear (&o);
      return ts_fail (TOOL_EXIT_IO, error);
    }
  server->public_key = tessera_signing_key_dup_public (server->key);
  server->usage
      = ts_usage_new (server->store, o.usage_retention_days, g_get_real_time () / G_USEC_PER_SEC);

  server->cert = cert;
  ts_http_setup (server);
  GMainContext *context = g_main_context_ref_thread_default ();
  /* Signals are caught before "listening on" is printed, so a client that
   * reads that line may stop the server at once. */
  m.loop = g_main_loop_new (context, FALSE);
  guint sig_term = g_unix_signal_add (SIGTERM, ts_on_signal, &m);
  guint sig_int = g_unix_signal_add (SIGINT, ts_on_signal, &m);
  rc = 0;
  if (!ts_loops_start (server, (guint) o.http_threads, &error))
    {
      g_printerr ("tessera-server: %s\n", error->message);
      g_clear_error (&error);
      rc = TOOL_EXIT_CONFIG;
    }
  else
    {
      /* The API's line first: clients that know nothing of the metrics
       * listener read only that one. */
      ts_print_listening ("listening", sock, o.address, cert != NULL);
      if (metrics_sock != NULL)
        ts_print_listening ("metrics listening", metrics_sock, o.metrics_address, FALSE);
      ts_accept_start (server, g_steal_pointer (&sock), FALSE);
      if (metrics_sock != NULL)
        ts_accept_start (server, g_steal_pointer (&metrics_sock), TRUE);
      guint reaper = g_timeout_add_seconds ((guint) o.reap_interval, ts_reap_tick, &m);
      guint usage = g_timeout_add_seconds ((guint) o.usage_flush_interval, ts_usage_tick, &m);
#ifdef __GLIBC__
      guint trim = g_timeout_add_seconds (30, ts_trim_tick, NULL);
#endif
      g_main_loop_run (m.loop);
      g_source_remove (reaper);
      g_source_remove (usage);
#ifdef __GLIBC__
      g_source_remove (trim);
#endif
    }

  ts_accept_stop (server);
  g_clear_object (&sock);
  g_clear_object (&metrics_sock);
  g_source_remove (sig_term);
  g_source_remove (sig_int);
  g_thread_pool_free (server->workers, FALSE, TRUE);
  while (g_atomic_int_get (&m.reaping) || g_atomic_int_get (&m.flushing))
    g_usleep (10000);
  /* Every request is answered: what they counted is written now, so a
   * clean shutdown loses none of it. */
  ts_usage_free (g_steal_pointer (&server->usage), g_get_real_time () / G_USEC_PER_SEC, &error);
  if (error != NULL)
    {
      ts_log (TS_LOG_ERROR, "writing the usage history failed: %s", error->message);
      g_clear_error (&error);
    }
  g_main_loop_unref (m.loop);
  m.loop = NULL;
  /* Before the HTTP threads stop: the store's lease writer answers its last
   * heartbeats through them. New requests meanwhile get 503 (draining). */
  ts_store_close (server->store);
  ts_loops_stop (server);
  tessera_signing_key_unref (server->key);
  g_free (server->public_key);
  if (server->metrics_token != NULL)
    sodium_memzero (server->metrics_token, strlen (server->metrics_token));
  g_free (server->metrics_token);
  g_main_context_unref (context);
  g_clear_object (&cert);
  ts_options_clear (&o);
  if (rc == 0)
    ts_log (TS_LOG_INFO, "stopped");
  return rc;
}
