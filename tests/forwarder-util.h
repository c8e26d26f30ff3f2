/* A loopback forwarder in front of the real tessera-server, for the tests
 * that need a server which misbehaves in one particular way without
 * touching the server itself (test-cli-online-wait.c,
 * test-testops-failover.c). It listens on 127.0.0.1 (a free port) and,
 * per request, does what its mode says; the mode may change while clients
 * are connected (a server that hangs only after the session was made). */
#pragma once

#include "server-util.h"

#include <gio/gio.h>
#include <string.h>

typedef enum
{
  FWD_FORWARD,    /* every request to the server, every answer back */
  FWD_CUT_ANSWER, /* forwards /activate, then closes before answering */
  FWD_RESET,      /* accepts and closes at once */
  FWD_FIXED,      /* answers @fixed itself */
  FWD_HANG,       /* reads the request and never answers */
} FwdMode;

typedef struct
{
  GSocketListener *listener;
  GCancellable *cancel;
  GThread *thread;
  char *target;      /* host:port of the server */
  char *url;         /* http://127.0.0.1:PORT, this forwarder */
  gint mode;         /* (atomic) FwdMode */
  const char *fixed; /* FWD_FIXED: the whole answer */
  GMutex lock;
  GPtrArray *workers;  /* GThread *, one per connection */
  GPtrArray *requests; /* "POST /api/v1/x\nBODY", in order */
  GPtrArray *hung;     /* "POST /api/v1/x" left unanswered, in order */
  GPtrArray *events;   /* "hang" and "gave-up" (the client closed), in order */
  guint connections;
} Fwd;

typedef struct
{
  Fwd *p;
  GSocketConnection *client;
} FwdConn;

static inline void
fwd_log (Fwd *p, GPtrArray *into, char *entry)
{
  g_mutex_lock (&p->lock);
  g_ptr_array_add (into, entry);
  g_mutex_unlock (&p->lock);
}

/* Says nothing until the client gives up (EOF) or the test ends: a server
 * whose socket accepts and then stays silent. */
static inline void
fwd_hang (Fwd *p, GInputStream *cin, const char *line)
{
  g_mutex_lock (&p->lock);
  g_ptr_array_add (p->hung, g_strdup (line));
  g_ptr_array_add (p->events, g_strdup ("hang"));
  g_mutex_unlock (&p->lock);
  char byte;
  while (g_input_stream_read (cin, &byte, 1, p->cancel, NULL) > 0)
    ;
  fwd_log (p, p->events, g_strdup ("gave-up"));
}

/* The server's answer to @req, or NULL if it could not be had. */
static inline GString *
fwd_exchange (Fwd *p, GSocketConnection **server, const GString *req)
{
  if (*server == NULL)
    {
      GSocketClient *sc = g_socket_client_new ();
      /* Loopback: no proxy (and no GSettings lookup for one). */
      g_socket_client_set_enable_proxy (sc, FALSE);
      *server = g_socket_client_connect_to_host (sc, p->target, 0, p->cancel, NULL);
      g_object_unref (sc);
    }
  if (*server == NULL
      || !g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (*server)),
                                     req->str, req->len, NULL, p->cancel, NULL))
    return NULL;
  return server_util_read_message (g_io_stream_get_input_stream (G_IO_STREAM (*server)), p->cancel,
                                   NULL);
}

static inline gpointer
fwd_conn_thread (gpointer data)
{
  FwdConn *c = data;
  Fwd *p = c->p;
  GSocketConnection *server = NULL;
  GInputStream *cin = g_io_stream_get_input_stream (G_IO_STREAM (c->client));
  GOutputStream *cout = g_io_stream_get_output_stream (G_IO_STREAM (c->client));
  while (g_atomic_int_get (&p->mode) != FWD_RESET)
    {
      char *body = NULL;
      GString *req = server_util_read_message (cin, p->cancel, &body);
      if (req == NULL)
        break;
      FwdMode mode = g_atomic_int_get (&p->mode);
      const char *eol = strstr (req->str, " HTTP/");
      g_autofree char *line = g_strndup (req->str, eol != NULL ? (gsize) (eol - req->str) : 0);
      fwd_log (p, p->requests, g_strdup_printf ("%s\n%s", line, body));
      g_free (body);
      if (mode == FWD_HANG)
        {
          g_string_free (req, TRUE);
          fwd_hang (p, cin, line);
          break;
        }
      if (mode == FWD_FIXED)
        {
          g_string_free (req, TRUE);
          g_output_stream_write_all (cout, p->fixed, strlen (p->fixed), NULL, p->cancel, NULL);
          continue;
        }
      GString *resp = fwd_exchange (p, &server, req);
      g_string_free (req, TRUE);
      if (resp == NULL)
        break;
      /* The server did the work; the client never hears of it. */
      if (mode == FWD_CUT_ANSWER && g_str_equal (line, "POST /api/v1/activate"))
        {
          g_string_free (resp, TRUE);
          break;
        }
      g_output_stream_write_all (cout, resp->str, resp->len, NULL, p->cancel, NULL);
      g_string_free (resp, TRUE);
    }
  g_io_stream_close (G_IO_STREAM (c->client), NULL, NULL);
  g_object_unref (c->client);
  if (server != NULL)
    {
      g_io_stream_close (G_IO_STREAM (server), NULL, NULL);
      g_object_unref (server);
    }
  g_free (c);
  return NULL;
}

static inline gpointer
fwd_accept_thread (gpointer data)
{
  Fwd *p = data;
  for (;;)
    {
      GSocketConnection *client = g_socket_listener_accept (p->listener, NULL, p->cancel, NULL);
      if (client == NULL)
        break;
      FwdConn *c = g_new0 (FwdConn, 1);
      c->p = p;
      c->client = client;
      g_mutex_lock (&p->lock);
      p->connections++;
      g_ptr_array_add (p->workers, g_thread_new ("fwd-conn", fwd_conn_thread, c));
      g_mutex_unlock (&p->lock);
    }
  return NULL;
}

/* A forwarder on 127.0.0.1 (a free port) to @server_url. @fixed: the
 * answer in FWD_FIXED mode (not copied), else NULL. */
static inline Fwd *
fwd_start (const char *server_url, FwdMode mode, const char *fixed)
{
  Fwd *p = g_new0 (Fwd, 1);
  p->target = g_strdup (server_url + strlen ("http://"));
  p->mode = mode;
  p->fixed = fixed;
  p->cancel = g_cancellable_new ();
  p->workers = g_ptr_array_new ();
  p->requests = g_ptr_array_new_with_free_func (g_free);
  p->hung = g_ptr_array_new_with_free_func (g_free);
  p->events = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&p->lock);
  p->listener = g_socket_listener_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) effective = NULL;
  GError *error = NULL;
  g_socket_listener_add_address (p->listener, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  p->url = g_strdup_printf ("http://127.0.0.1:%u",
                            g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));
  p->thread = g_thread_new ("fwd", fwd_accept_thread, p);
  return p;
}

/* From the next request on (connections already open included). */
static inline void
fwd_set_mode (Fwd *p, FwdMode mode)
{
  g_atomic_int_set (&p->mode, mode);
}

/* Stops listening (new connections are refused) and cuts every connection
 * in flight; what it saw stays readable. Idempotent. */
static inline void
fwd_stop (Fwd *p)
{
  if (p->thread == NULL)
    return;
  g_cancellable_cancel (p->cancel);
  g_thread_join (g_steal_pointer (&p->thread));
  g_socket_listener_close (p->listener);
  g_mutex_lock (&p->lock);
  g_autoptr (GPtrArray) workers = g_steal_pointer (&p->workers);
  p->workers = g_ptr_array_new ();
  g_mutex_unlock (&p->lock);
  for (guint i = 0; i < workers->len; i++)
    g_thread_join (workers->pdata[i]);
}

static inline void
fwd_free (Fwd *p)
{
  fwd_stop (p);
  g_object_unref (p->listener);
  g_object_unref (p->cancel);
  g_ptr_array_unref (p->workers);
  g_ptr_array_unref (p->requests);
  g_ptr_array_unref (p->hung);
  g_ptr_array_unref (p->events);
  g_mutex_clear (&p->lock);
  g_free (p->target);
  g_free (p->url);
  g_free (p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Fwd, fwd_free)
