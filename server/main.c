/* tessera-server: the reference license server (docs/protocol.md).
 * Options, signing keys, listening, the lease reaper and shutdown; the HTTP
 * API itself is in http-*.c. */
#include "http-private.h"
#include "keys.h"
#include "tool-cli.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct
{
  TsServer server;
  GMainLoop *loop;
  gint reaping; /* atomic: a reap is running */
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
      g_printerr ("tessera-server: reaping expired sessions failed: %s\n", error->message);
      g_error_free (error);
    }
  else if (n > 0)
    g_printerr ("tessera-server: reaped %u expired session%s\n", n, n == 1 ? "" : "s");
  g_atomic_int_set (&m->reaping, 0);
  g_task_return_boolean (task, TRUE);
}

static gboolean
ts_reap_tick (gpointer data)
{
  TsMain *m = data;
  if (!g_atomic_int_compare_and_exchange (&m->reaping, 0, 1))
    return G_SOURCE_CONTINUE;
  GTask *task = g_task_new (NULL, NULL, NULL, NULL);
  g_task_set_task_data (task, m, NULL);
  g_task_run_in_thread (task, ts_reap_thread);
  g_object_unref (task);
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
      g_printerr ("tessera-server: requests still running after 30 s, exiting anyway\n");
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
  g_printerr ("tessera-server: shutting down\n");
  /* No new connections; new requests on open ones get 503 (and
   * Connection: close); soup_server_disconnect() would also cut the
   * in-flight ones, so it runs once they are done. */
  g_atomic_int_set (&m->server.draining, 1);
  ts_accept_stop (&m->server);
  g_timeout_add (50, ts_drain_tick, m);
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------- listen */

static GSocketAddress *
ts_parse_listen (const char *spec, GError **error)
{
  const char *colon = strrchr (spec, ':');
  if (colon == NULL || colon == spec || colon[1] == '\0')
    goto bad;
  char *host = g_strndup (spec, colon - spec);
  if (host[0] == '[' && host[strlen (host) - 1] == ']')
    {
      char *inner = g_strndup (host + 1, strlen (host) - 2);
      g_free (host);
      host = inner;
    }
  guint64 port = 0;
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &port, NULL))
    {
      g_free (host);
      goto bad;
    }
  GInetAddress *addr
      = g_inet_address_new_from_string (strcmp (host, "localhost") == 0 ? "127.0.0.1" : host);
  g_free (host);
  if (addr == NULL)
    goto bad;
  GSocketAddress *sa = g_inet_socket_address_new (addr, (guint16) port);
  g_object_unref (addr);
  return sa;
bad:
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
               "invalid --listen %s: expected ADDRESS:PORT with a numeric address", spec);
  return NULL;
}

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

/* ---------------------------------------------------------------- main */

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

G_GNUC_PRINTF (2, 3)
static int
ts_usage (int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("tessera-server: %s\n", message);
  return code;
}

int
main (int argc, char **argv)
{
  g_autofree char *database = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *tls_cert = NULL;
  g_autofree char *tls_key = NULL;
  g_autofree char *key_dir = NULL;
  g_autofree char *kek_path = NULL;
  gboolean allow_insecure = FALSE;
  gint lease = 60;
  gint reap_interval = 0;
  gint idle_timeout = 60;
  gint http_threads = (gint) MIN (g_get_num_processors (), 8);
  gboolean help = FALSE, version = FALSE;
  GOptionEntry entries[]
      = { { "database", 0, 0, G_OPTION_ARG_FILENAME, &database, NULL, NULL },
          { "listen", 0, 0, G_OPTION_ARG_STRING, &listen, NULL, NULL },
          { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert, NULL, NULL },
          { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, NULL, NULL },
          { "allow-insecure", 0, 0, G_OPTION_ARG_NONE, &allow_insecure, NULL, NULL },
          { "key-dir", 0, 0, G_OPTION_ARG_FILENAME, &key_dir, NULL, NULL },
          { "key-encryption-key", 0, 0, G_OPTION_ARG_FILENAME, &kek_path, NULL, NULL },
          { "lease", 0, 0, G_OPTION_ARG_INT, &lease, NULL, NULL },
          { "reap-interval", 0, 0, G_OPTION_ARG_INT, &reap_interval, NULL, NULL },
          { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_timeout, NULL, NULL },
          { "http-threads", 0, 0, G_OPTION_ARG_INT, &http_threads, NULL, NULL },
          { "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL },
          { "version", 0, 0, G_OPTION_ARG_NONE, &version, NULL, NULL },
          G_OPTION_ENTRY_NULL };
  GError *error = NULL;
  /* Before GOption, which says only "Unknown option": the nearest one. */
  g_autofree char *unknown = tool_cli_unknown_option (&tool_spec_server, NULL, argc, argv);
  if (unknown != NULL)
    return ts_usage (TOOL_EXIT_USAGE, "%s (see 'tessera-server --help')", unknown);
  g_autofree GOptionEntry *checked = tool_cli_entries (&tool_spec_server, NULL, entries);
  GOptionContext *ctx = g_option_context_new (NULL);
  /* --help from the table, and no exit() from inside the parser. */
  g_option_context_set_help_enabled (ctx, FALSE);
  g_option_context_add_main_entries (ctx, checked, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_option_context_free (ctx);
      return ts_fail (TOOL_EXIT_USAGE, error);
    }
  g_option_context_free (ctx);
  if (help)
    {
      g_autofree char *text = tool_cli_help (&tool_spec_server, NULL);
      fputs (text, stdout);
      return TOOL_EXIT_OK;
    }
  if (version)
    {
      tool_cli_print_version (&tool_spec_server);
      return TOOL_EXIT_OK;
    }
  if (argc > 1)
    return ts_usage (TOOL_EXIT_USAGE, "unexpected argument %s", argv[1]);
  if (database == NULL)
    database = g_strdup ("tessera.db");
  if (listen == NULL)
    listen = g_strdup ("127.0.0.1:8443");
  gboolean url
      = g_str_has_prefix (database, "postgresql://") || g_str_has_prefix (database, "postgres://");
  if (key_dir != NULL && kek_path != NULL)
    {
      g_printerr ("tessera-server: --key-dir and --key-encryption-key exclude each other (keys in "
                  "a directory, or sealed in the database)\n");
      return TOOL_EXIT_USAGE;
    }
  if (url && kek_path == NULL)
    {
      /* Several instances must sign with the same key, and no instance's
       * disk is the place for it: the database is, sealed. */
      g_printerr ("tessera-server: --key-encryption-key FILE is required with a PostgreSQL "
                  "database: the instances share their signing keys through it, sealed with "
                  "that key (create one with tessera-admin signing-key create-kek --file FILE%s)\n",
                  key_dir != NULL ? "; move keys of --key-dir there with tessera-admin "
                                    "signing-key import"
                                  : "");
      return TOOL_EXIT_USAGE;
    }
  if (key_dir == NULL && kek_path == NULL)
    key_dir = g_strdup_printf ("%s.keys", database);
  g_autoptr (TsKek) kek = NULL;
  if (kek_path != NULL && (kek = ts_kek_load (kek_path, &error)) == NULL)
    return ts_fail (TOOL_EXIT_IO, error);
  if (lease < 5 || lease > 86400)
    {
      g_printerr ("tessera-server: --lease must be 5 to 86400 seconds\n");
      return TOOL_EXIT_USAGE;
    }
  if (idle_timeout < 1 || idle_timeout > 3600)
    {
      g_printerr ("tessera-server: --idle-timeout must be 1 to 3600 seconds\n");
      return TOOL_EXIT_USAGE;
    }
  if (http_threads < 1 || http_threads > 64)
    {
      g_printerr ("tessera-server: --http-threads must be 1 to 64\n");
      return TOOL_EXIT_USAGE;
    }
  if (reap_interval <= 0)
    reap_interval = MAX (1, lease / 4);
  if ((tls_cert == NULL) != (tls_key == NULL))
    {
      g_printerr ("tessera-server: --tls-cert and --tls-key go together\n");
      return TOOL_EXIT_USAGE;
    }

  GSocketAddress *address = ts_parse_listen (listen, &error);
  if (address == NULL)
    return ts_fail (TOOL_EXIT_USAGE, error);
  GInetAddress *inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  if (tls_cert == NULL && !g_inet_address_get_is_loopback (inet) && !allow_insecure)
    {
      g_printerr ("tessera-server: refusing plain HTTP on non-loopback address %s: use "
                  "--tls-cert/--tls-key, or --allow-insecure\n",
                  listen);
      g_object_unref (address);
      return TOOL_EXIT_USAGE;
    }
  GTlsCertificate *cert = NULL;
  if (tls_cert != NULL)
    {
      cert = g_tls_certificate_new_from_files (tls_cert, tls_key, &error);
      if (cert == NULL)
        {
          g_object_unref (address);
          return ts_fail (TOOL_EXIT_CONFIG, error);
        }
    }

  TsMain m = { 0 };
  TsServer *server = &m.server;
  server->lease_seconds = lease;
  server->idle_timeout = (guint) idle_timeout;
  server->store = ts_store_open (database, &error);
  if (server->store != NULL)
    {
      server->key = kek != NULL ? ts_keys_load_db (server->store, kek, TRUE, &error)
                                : ts_keys_load_dir (key_dir, TRUE, &error);
      if (server->key == NULL)
        g_clear_pointer (&server->store, ts_store_close);
    }
  g_clear_pointer (&kek, ts_kek_free);
  if (server->store == NULL)
    {
      g_clear_object (&cert);
      g_object_unref (address);
      return ts_fail (TOOL_EXIT_IO, error);
    }
  server->public_key = tessera_signing_key_dup_public (server->key);

  server->cert = cert;
  ts_http_setup (server);
  GMainContext *context = g_main_context_ref_thread_default ();
  /* Signals are caught before "listening on" is printed, so a client that
   * reads that line may stop the server at once. */
  m.loop = g_main_loop_new (context, FALSE);
  guint sig_term = g_unix_signal_add (SIGTERM, ts_on_signal, &m);
  guint sig_int = g_unix_signal_add (SIGINT, ts_on_signal, &m);
  int rc = 0;
  /* Our own socket: GLib's default listen backlog (10) drops bursts of
   * connections, and libsoup 3.2 does not raise it. */
  /* Accepted by http-loops.c (ts_accept_start()), not libsoup's listener
   * (libsoup 3.2.3 leaks a GSocket per connection) nor GSocketService
   * (which spins when accept() fails): handed to the HTTP threads, and
   * SIGTERM can close it while in-flight requests finish. */
  GSocket *sock = ts_listen_socket (address, &error);
  if (sock == NULL)
    {
      g_printerr ("tessera-server: cannot listen on %s: %s\n", listen, error->message);
      g_clear_error (&error);
      rc = TOOL_EXIT_CONFIG;
    }
  else if (!ts_loops_start (server, (guint) http_threads, &error))
    {
      g_printerr ("tessera-server: %s\n", error->message);
      g_clear_error (&error);
      rc = TOOL_EXIT_CONFIG;
    }
  else
    {
      /* The bound port from the socket itself (soup_server_get_uris() of
       * libsoup 3.2.3 leaks an address). */
      GSocketAddress *local = g_socket_get_local_address (sock, NULL);
      char *host = g_inet_address_to_string (inet);
      gboolean v6 = strchr (host, ':') != NULL;
      printf ("listening on %s://%s%s%s:%u\n", cert != NULL ? "https" : "http", v6 ? "[" : "", host,
              v6 ? "]" : "",
              local != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) : 0);
      fflush (stdout);
      g_free (host);
      g_clear_object (&local);

      ts_accept_start (server, g_steal_pointer (&sock));
      guint reaper = g_timeout_add_seconds ((guint) reap_interval, ts_reap_tick, &m);
#ifdef __GLIBC__
      guint trim = g_timeout_add_seconds (30, ts_trim_tick, NULL);
#endif
      g_main_loop_run (m.loop);
      g_source_remove (reaper);
#ifdef __GLIBC__
      g_source_remove (trim);
#endif
    }

  ts_accept_stop (server);
  g_clear_object (&sock);
  g_source_remove (sig_term);
  g_source_remove (sig_int);
  g_thread_pool_free (server->workers, FALSE, TRUE);
  while (g_atomic_int_get (&m.reaping))
    g_usleep (10000);
  g_main_loop_unref (m.loop);
  m.loop = NULL;
  /* Before the HTTP threads stop: the store's lease writer answers its last
   * heartbeats through them. New requests meanwhile get 503 (draining). */
  ts_store_close (server->store);
  ts_loops_stop (server);
  tessera_signing_key_unref (server->key);
  g_free (server->public_key);
  g_main_context_unref (context);
  g_clear_object (&cert);
  g_object_unref (address);
  if (rc == 0)
    g_printerr ("tessera-server: stopped\n");
  return rc;
}
