/* One client connection of tessera-server (TsConn), in its HTTP thread.
 *
 * libsoup 3.2.3 reads from the stream made here rather than from the socket,
 * for three reasons:
 *
 * - It never closes a keep-alive connection that the client closes between
 *   requests: the message waiting for the next request has no completion
 *   callback until its first byte arrives, so an end of stream there ends
 *   the message and nothing else, and the socket stays open (in CLOSE-WAIT)
 *   for the life of the process (fixed upstream in libsoup 3.3, d20c6601).
 *   200 requests from curl left 200 descriptors; then accept() failed.
 *   Here an end of stream (or any error) on such a connection is preceded by
 *   one byte, so libsoup starts a message, fails it, and disconnects.
 * - Deadlines: libsoup has none for a server connection. Each phase of a
 *   request (waiting for it, reading it, writing its answer) must end within
 *   --idle-timeout; a sweep each second shuts the late ones down, and the
 *   read that wakes libsoup fails, so it disconnects.
 * - Refusals libsoup cannot make: headers over TS_MAX_HEADERS (libsoup cuts
 *   the connection at 64 KB without an answer) get 431, and a Content-Length
 *   that is no number (libsoup reads "-1" as 2^64-1 and waits for that body)
 *   gets 400, at once. The answer is written under libsoup, then the
 *   connection is closed after a lingering read, so the client reads the
 *   answer rather than a reset. */
#include "http-log.h"
#include "http-private.h"

#include <errno.h>
#include <string.h>

/* A refused connection is read (and the bytes thrown away) for at most this
 * long and this much before it is closed: enough for a client to finish
 * sending and read the answer. */
#define TS_LINGER_SECONDS 5
#define TS_LINGER_BYTES (1024 * 1024)
/* RFC 6585; not in libsoup 3.2's SoupStatus. */
#define TS_STATUS_HEADERS_TOO_LARGE 431

struct _TsConn
{
  TsLoop *loop;
  GSocketConnection *tcp;
  GSocket *socket;
  GIOStream *base; /* @tcp, or TLS over it */
  gboolean metrics_only;
  TsPhase phase;
  gboolean unstarted; /* libsoup waits for a request it has not started */
  gsize header_bytes; /* read since the request began, while in its headers */
  gint64 deadline;    /* monotonic µs; 0: none */
  gboolean expired;   /* the deadline passed once already */
  GError *failed;     /* every read fails with this from now on */
  gboolean lingering; /* refused: read until the client is done, then close */
  gboolean closed;    /* libsoup closed it */
  gboolean finished;  /* the socket is closed */
  GSource *drain;     /* the lingering read */
  gsize drained;
};

static void
ts_conn_clear (gpointer data)
{
  TsConn *conn = data;
  if (!conn->finished)
    g_socket_close (conn->socket, NULL);
  g_clear_object (&conn->base);
  g_clear_object (&conn->tcp);
  g_clear_error (&conn->failed);
}

static TsConn *
ts_conn_ref (TsConn *conn)
{
  return g_rc_box_acquire (conn);
}

static void
ts_conn_unref (gpointer conn)
{
  g_rc_box_release_full (conn, ts_conn_clear);
}

/* Closes the socket first: a TLS close would otherwise try to send its
 * close_notify and could block on a client that does not read. */
static void
ts_conn_finish (TsConn *conn)
{
  if (conn->finished)
    return;
  conn->finished = TRUE;
  if (conn->drain != NULL)
    {
      g_source_destroy (conn->drain);
      g_clear_pointer (&conn->drain, g_source_unref);
    }
  g_socket_close (conn->socket, NULL);
  g_io_stream_close (conn->base, NULL, NULL);
  g_hash_table_remove (conn->loop->conns, conn);
}

static void
ts_conn_fail (TsConn *conn, GError *error)
{
  if (conn->failed == NULL)
    conn->failed = error;
  else
    g_error_free (error);
}

static void
ts_conn_set_deadline (TsConn *conn, guint seconds)
{
  conn->deadline = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;
  conn->expired = FALSE;
}

void
ts_conn_set_phase (TsConn *conn, TsPhase phase)
{
  if (conn == NULL || conn->closed)
    return;
  conn->phase = phase;
  switch (phase)
    {
    case TS_PHASE_IDLE:
      /* libsoup makes the next message only when this one is done, and
       * starts it at its first byte. */
      conn->unstarted = TRUE;
      conn->header_bytes = 0;
      break;
    case TS_PHASE_REQUEST:
      conn->unstarted = FALSE;
      break;
    case TS_PHASE_BODY:
    case TS_PHASE_RESPONSE:
      break;
    case TS_PHASE_HANDLER:
      conn->deadline = 0;
      return;
    }
  ts_conn_set_deadline (conn, conn->loop->server->idle_timeout);
}

/* ---------------------------------------------------------------- refusal */

static gboolean
ts_conn_drain_ready (GSocket *socket, GIOCondition condition, gpointer data)
{
  TsConn *conn = data;
  char buf[4096];
  for (;;)
    {
      GError *error = NULL;
      gssize n = g_socket_receive_with_blocking (socket, buf, sizeof buf, FALSE, NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_error_free (error);
          return G_SOURCE_CONTINUE;
        }
      g_clear_error (&error);
      if (n <= 0 || (conn->drained += (gsize) n) > TS_LINGER_BYTES)
        break;
    }
  ts_conn_finish (conn);
  return G_SOURCE_REMOVE;
}

static void
ts_conn_linger (TsConn *conn)
{
  conn->drain = g_socket_create_source (conn->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (conn->drain, G_SOURCE_FUNC (ts_conn_drain_ready), ts_conn_ref (conn),
                         ts_conn_unref);
  g_source_attach (conn->drain, conn->loop->context);
  ts_conn_set_deadline (conn, MIN (conn->loop->server->idle_timeout, TS_LINGER_SECONDS));
}

/* Writes an error answer under libsoup (which is reading, and will be told
 * by the next read that the connection failed) and ends the sending side,
 * so the client sees the answer and then the end. */
/* The peer's address, for the log. Returns: (transfer full) (nullable). */
static char *
ts_conn_remote (TsConn *conn)
{
  GSocketAddress *remote = g_socket_get_remote_address (conn->socket, NULL);
  if (remote == NULL)
    return NULL;
  char *text = G_IS_INET_SOCKET_ADDRESS (remote) ? g_inet_address_to_string (
                   g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)))
                                                 : NULL;
  g_object_unref (remote);
  return text;
}

static void
ts_conn_refuse (TsConn *conn, guint status, const char *message)
{
  JsonNode *err
      = ts_json_object ("code", 's', tessera_error_to_nick (TESSERA_ERROR_INVALID_ARGUMENT),
                        "message", 's', message, NULL);
  JsonNode *root = ts_json_wrap ("error", err);
  g_autofree char *body = json_to_string (root, FALSE);
  json_node_unref (root);
  g_autofree char *resp
      = g_strdup_printf ("HTTP/1.1 %u %s\r\nServer: tessera-server\r\nConnection: close\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         status,
                         status == TS_STATUS_HEADERS_TOO_LARGE ? "Request Header Fields Too Large"
                                                               : soup_status_get_phrase (status),
                         strlen (body), body);
  /* Nothing of an answer is pending while a request is being read, so
   * this small one fits in the socket's buffer; if not, the client gets
   * part of it and then the end. */
  GOutputStream *out = g_io_stream_get_output_stream (conn->base);
  gsize len = strlen (resp), done = 0;
  while (done < len)
    {
      gssize n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (out),
                                                             resp + done, len - done, NULL, NULL);
      if (n <= 0)
        break;
      done += (gsize) n;
    }
  g_socket_shutdown (conn->socket, FALSE, TRUE, NULL);
  g_autofree char *request_id = ts_request_id_new ();
  g_autofree char *remote = ts_conn_remote (conn);
  TsLogRequest line
      = { .request_id = request_id, .remote = remote, .status = status, .note = message };
  ts_log_request (TS_LOG_WARNING, &line);
  conn->lingering = TRUE;
  ts_conn_fail (conn, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "refused: %s", message));
}

/* Headers a request may carry once at most: two Authorization headers,
 * the first bogus and the second valid, must not leave it to chance
 * (soup_message_headers_get_one()) which one is checked. */
static const char *const ts_single_headers[]
    = { "Authorization",    "Content-Length", "Content-Type",      "Host",
        TS_WEB_CSRF_HEADER, "Cookie",         "Transfer-Encoding", NULL };

gboolean
ts_conn_check_headers (TsConn *conn, SoupServerMessage *msg)
{
  if (conn == NULL)
    return TRUE;
  ts_conn_set_phase (conn, TS_PHASE_BODY);
  SoupMessageHeaders *hdrs = soup_server_message_get_request_headers (msg);
  guint counts[G_N_ELEMENTS (ts_single_headers)] = { 0 };
  SoupMessageHeadersIter iter;
  const char *name, *value;
  soup_message_headers_iter_init (&iter, hdrs);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    for (guint i = 0; ts_single_headers[i] != NULL; i++)
      if (g_ascii_strcasecmp (name, ts_single_headers[i]) == 0 && ++counts[i] == 2)
        {
          g_autofree char *m = g_strdup_printf ("more than one %s header", ts_single_headers[i]);
          ts_conn_refuse (conn, SOUP_STATUS_BAD_REQUEST, m);
          g_object_set_data (G_OBJECT (msg), "ts-refused", GINT_TO_POINTER (1));
          return FALSE;
        }
  /* libsoup takes the value with strtoull(): "-1" and 20 digits both come
   * out as 2^64-1, a body it would wait for. RFC 9110: 1*DIGIT. */
  const char *length = soup_message_headers_get_one (hdrs, "Content-Length");
  if (length != NULL)
    {
      gsize n = strlen (length);
      gboolean ok = n > 0 && n <= 18;
      for (gsize i = 0; ok && i < n; i++)
        ok = g_ascii_isdigit (length[i]);
      if (!ok)
        {
          ts_conn_refuse (conn, SOUP_STATUS_BAD_REQUEST,
                          "Content-Length must be a decimal number of at most 18 digits");
          g_object_set_data (G_OBJECT (msg), "ts-refused", GINT_TO_POINTER (1));
          return FALSE;
        }
    }
  return TRUE;
}

/* ---------------------------------------------------------------- input */

#define TS_TYPE_CONN_INPUT (ts_conn_input_get_type ())
G_DECLARE_FINAL_TYPE (TsConnInput, ts_conn_input, TS, CONN_INPUT, GInputStream)

struct _TsConnInput
{
  GInputStream parent;
  GInputStream *base;
  TsConn *conn;
};

static void ts_conn_input_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TsConnInput, ts_conn_input, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      ts_conn_input_pollable_init))

static gssize
ts_conn_input_read_common (TsConnInput *self, void *buffer, gsize count, gboolean blocking,
                           GCancellable *cancellable, GError **error)
{
  TsConn *conn = self->conn;
  if (conn->failed == NULL)
    {
      GError *local = NULL;
      gssize n = g_pollable_stream_read (self->base, buffer, count, blocking, cancellable, &local);
      if (n < 0
          && (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)
              || g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED)))
        {
          g_propagate_error (error, local);
          return -1;
        }
      if (n > 0)
        {
          if (conn->phase == TS_PHASE_IDLE || conn->phase == TS_PHASE_REQUEST)
            conn->header_bytes += (gsize) n;
          if (conn->header_bytes <= TS_MAX_HEADERS)
            {
              conn->unstarted = FALSE;
              return n;
            }
          g_autofree char *m
              = g_strdup_printf ("the request headers are over %d bytes", TS_MAX_HEADERS);
          ts_conn_refuse (conn, TS_STATUS_HEADERS_TOO_LARGE, m);
        }
      else if (n == 0)
        /* An end in the middle of a request is an error too: libsoup would
         * take half-sent headers for whole ones. */
        ts_conn_fail (conn, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                                 "the client closed the connection"));
      else
        ts_conn_fail (conn, local);
    }
  if (conn->unstarted && count > 0)
    {
      /* See the top of this file: a byte makes libsoup start a message,
       * whose failure then disconnects. */
      conn->unstarted = FALSE;
      ((char *) buffer)[0] = '\n';
      return 1;
    }
  g_propagate_error (error, g_error_copy (conn->failed));
  return -1;
}

static gssize
ts_conn_input_read (GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
                    GError **error)
{
  return ts_conn_input_read_common (TS_CONN_INPUT (stream), buffer, count, TRUE, cancellable,
                                    error);
}

static gssize
ts_conn_input_read_nonblocking (GPollableInputStream *stream, void *buffer, gsize count,
                                GError **error)
{
  return ts_conn_input_read_common (TS_CONN_INPUT (stream), buffer, count, FALSE, NULL, error);
}

static gboolean
ts_conn_input_can_poll (GPollableInputStream *stream)
{
  return TRUE;
}

static gboolean
ts_conn_input_is_readable (GPollableInputStream *stream)
{
  TsConnInput *self = TS_CONN_INPUT (stream);
  return self->conn->failed != NULL
         || g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (self->base));
}

static GSource *
ts_conn_input_create_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  TsConnInput *self = TS_CONN_INPUT (stream);
  GSource *child
      = self->conn->failed != NULL
            ? g_timeout_source_new (0)
            : g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (self->base), NULL);
  GSource *source = g_pollable_source_new_full (stream, child, cancellable);
  g_source_unref (child);
  return source;
}

static void
ts_conn_input_finalize (GObject *object)
{
  TsConnInput *self = TS_CONN_INPUT (object);
  g_clear_object (&self->base);
  g_clear_pointer (&self->conn, ts_conn_unref);
  G_OBJECT_CLASS (ts_conn_input_parent_class)->finalize (object);
}

static void
ts_conn_input_init (TsConnInput *self)
{
}

static void
ts_conn_input_class_init (TsConnInputClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ts_conn_input_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = ts_conn_input_read;
}

static void
ts_conn_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = ts_conn_input_can_poll;
  iface->is_readable = ts_conn_input_is_readable;
  iface->create_source = ts_conn_input_create_source;
  iface->read_nonblocking = ts_conn_input_read_nonblocking;
}

/* ---------------------------------------------------------------- stream */

#define TS_TYPE_CONN_STREAM (ts_conn_stream_get_type ())
G_DECLARE_FINAL_TYPE (TsConnStream, ts_conn_stream, TS, CONN_STREAM, GIOStream)

struct _TsConnStream
{
  GIOStream parent;
  TsConn *conn;
  GInputStream *input;
};

G_DEFINE_FINAL_TYPE (TsConnStream, ts_conn_stream, G_TYPE_IO_STREAM)

static GInputStream *
ts_conn_stream_get_input (GIOStream *stream)
{
  return TS_CONN_STREAM (stream)->input;
}

static GOutputStream *
ts_conn_stream_get_output (GIOStream *stream)
{
  return g_io_stream_get_output_stream (TS_CONN_STREAM (stream)->conn->base);
}

/* libsoup is done with the connection (soup_server_connection_disconnect()). */
static gboolean
ts_conn_stream_close (GIOStream *stream, GCancellable *cancellable, GError **error)
{
  TsConn *conn = TS_CONN_STREAM (stream)->conn;
  if (conn->closed)
    return TRUE;
  conn->closed = TRUE;
  if (conn->lingering && !conn->finished)
    ts_conn_linger (conn);
  else
    ts_conn_finish (conn);
  return TRUE;
}

static void
ts_conn_stream_finalize (GObject *object)
{
  TsConnStream *self = TS_CONN_STREAM (object);
  g_clear_object (&self->input);
  g_clear_pointer (&self->conn, ts_conn_unref);
  G_OBJECT_CLASS (ts_conn_stream_parent_class)->finalize (object);
}

static void
ts_conn_stream_init (TsConnStream *self)
{
}

static void
ts_conn_stream_class_init (TsConnStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ts_conn_stream_finalize;
  GIOStreamClass *io = G_IO_STREAM_CLASS (klass);
  io->get_input_stream = ts_conn_stream_get_input;
  io->get_output_stream = ts_conn_stream_get_output;
  io->close_fn = ts_conn_stream_close;
}

/* ---------------------------------------------------------------- loop */

GIOStream *
ts_conn_new (TsLoop *loop, GSocketConnection *tcp, GIOStream *tls, GSocketAddress *remote,
             gboolean metrics_only)
{
  TsConn *conn = g_rc_box_new0 (TsConn);
  conn->loop = loop;
  conn->metrics_only = metrics_only;
  conn->tcp = g_object_ref (tcp);
  conn->socket = g_socket_connection_get_socket (tcp);
  conn->base = tls != NULL ? g_object_ref (tls) : g_object_ref (G_IO_STREAM (tcp));
  /* libsoup starts the first message at once, unlike the next ones. */
  conn->phase = TS_PHASE_REQUEST;
  ts_conn_set_deadline (conn, loop->server->idle_timeout);
  g_hash_table_add (loop->conns, conn);
  if (remote != NULL)
    g_object_set_data_full (G_OBJECT (remote), TS_CONN_KEY, ts_conn_ref (conn), ts_conn_unref);

  TsConnInput *input = g_object_new (TS_TYPE_CONN_INPUT, NULL);
  input->base = g_object_ref (g_io_stream_get_input_stream (conn->base));
  input->conn = ts_conn_ref (conn);
  TsConnStream *stream = g_object_new (TS_TYPE_CONN_STREAM, NULL);
  stream->conn = ts_conn_ref (conn);
  stream->input = G_INPUT_STREAM (input);
  return G_IO_STREAM (stream);
}

TsConn *
ts_conn_of (SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  return remote != NULL ? g_object_get_data (G_OBJECT (remote), TS_CONN_KEY) : NULL;
}

gboolean
ts_conn_metrics_only (TsConn *conn)
{
  return conn != NULL && conn->metrics_only;
}

GSocket *
ts_conn_get_socket (TsConn *conn)
{
  return conn != NULL && !conn->finished ? conn->socket : NULL;
}

/* Once a second: connections past their deadline are shut down (libsoup,
 * woken by that, reads the failure and disconnects); one still open a
 * deadline later, or lingering past its time, is closed here. */
static gboolean
ts_conns_sweep (gpointer data)
{
  TsLoop *loop = data;
  gint64 now = g_get_monotonic_time ();
  GPtrArray *late = g_ptr_array_new_with_free_func (ts_conn_unref);
  GHashTableIter iter;
  gpointer key;
  g_hash_table_iter_init (&iter, loop->conns);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      TsConn *conn = key;
      if (conn->deadline != 0 && now >= conn->deadline)
        g_ptr_array_add (late, ts_conn_ref (conn));
    }
  for (guint i = 0; i < late->len; i++)
    {
      TsConn *conn = g_ptr_array_index (late, i);
      if (conn->closed || conn->expired)
        ts_conn_finish (conn);
      else
        {
          ts_conn_fail (conn, g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                           "nothing from the client in %u s",
                                           loop->server->idle_timeout));
          g_socket_shutdown (conn->socket, TRUE, TRUE, NULL);
          ts_conn_set_deadline (conn, loop->server->idle_timeout);
          conn->expired = TRUE;
        }
    }
  g_ptr_array_unref (late);
  return G_SOURCE_CONTINUE;
}

static void
ts_conn_started (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  ts_conn_set_phase (ts_conn_of (msg), TS_PHASE_REQUEST);
}

static void
ts_conn_read (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  ts_conn_set_phase (ts_conn_of (msg), TS_PHASE_HANDLER);
}

static void
ts_conn_ended (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  ts_conn_set_phase (ts_conn_of (msg), TS_PHASE_IDLE);
}

void
ts_conns_setup (TsLoop *loop)
{
  g_signal_connect (loop->soup, "request-started", G_CALLBACK (ts_conn_started), NULL);
  g_signal_connect (loop->soup, "request-read", G_CALLBACK (ts_conn_read), NULL);
  g_signal_connect (loop->soup, "request-finished", G_CALLBACK (ts_conn_ended), NULL);
  g_signal_connect (loop->soup, "request-aborted", G_CALLBACK (ts_conn_ended), NULL);
  loop->conns = g_hash_table_new_full (NULL, NULL, ts_conn_unref, NULL);
  loop->sweep = g_timeout_source_new_seconds (1);
  g_source_set_callback (loop->sweep, ts_conns_sweep, loop, NULL);
  g_source_attach (loop->sweep, loop->context);
}

void
ts_conns_free (TsLoop *loop)
{
  if (loop->sweep != NULL)
    {
      g_source_destroy (loop->sweep);
      g_clear_pointer (&loop->sweep, g_source_unref);
    }
  if (loop->conns == NULL)
    return;
  GPtrArray *left = g_ptr_array_new_with_free_func (ts_conn_unref);
  GHashTableIter iter;
  gpointer key;
  g_hash_table_iter_init (&iter, loop->conns);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (left, ts_conn_ref (key));
  for (guint i = 0; i < left->len; i++)
    ts_conn_finish (g_ptr_array_index (left, i));
  g_ptr_array_unref (left);
  g_clear_pointer (&loop->conns, g_hash_table_unref);
}
