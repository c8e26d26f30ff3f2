/* tessera-server's connections, from hostile raw-socket peers
 * (tests/server-test-fixture.h): descriptors come back after 2,000
 * keep-alive clients close, --idle-timeout closes idle and slow clients,
 * running out of descriptors is survived with a bounded log, and HTTP edge
 * cases (duplicate Authorization, bad Content-Length, 100 KB headers,
 * \u0000 in a label) get their answer at once. */
#include "server-test-fixture.h"

#include <sys/resource.h>
#include <unistd.h>

/* Generous bound on waiting for an event (never a measured duration). */
#define WAIT_SECONDS 30

static guint
server_pid (Fixture *f)
{
  return (guint) g_ascii_strtoull (g_subprocess_get_identifier (f->proc), NULL, 10);
}

static guint
count_fds (guint pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/fd", pid);
  GDir *dir = g_dir_open (path, 0, NULL);
  g_assert_nonnull (dir);
  guint n = 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  g_dir_close (dir);
  return n;
}

/* Polls until the server holds at most @max descriptors; returns the last
 * count. */
static guint
wait_fds_at_most (guint pid, guint max)
{
  gint64 end = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;
  guint n;
  while ((n = count_fds (pid)) > max && g_get_monotonic_time () < end)
    g_usleep (50 * 1000);
  return n;
}

static guint16
url_port (const char *url)
{
  return (guint16) g_ascii_strtoull (strrchr (url, ':') + 1, NULL, 10);
}

static GSocket *
raw_connect (const char *url)
{
  GError *error = NULL;
  GSocket *sock
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, url_port (url));
  g_socket_set_timeout (sock, WAIT_SECONDS);
  g_assert_true (g_socket_connect (sock, addr, NULL, &error));
  g_assert_no_error (error);
  return sock;
}

static void
raw_send (GSocket *sock, const char *data, gsize len)
{
  gsize done = 0;
  while (done < len)
    {
      GError *error = NULL;
      gssize n = g_socket_send (sock, data + done, len - done, NULL, &error);
      g_assert_no_error (error);
      done += (gsize) n;
    }
}

/* Everything until the server closes (a time-out fails the test). */
static char *
raw_read_to_end (GSocket *sock)
{
  GString *all = g_string_new (NULL);
  char buf[4096];
  for (;;)
    {
      GError *error = NULL;
      gssize n = g_socket_receive (sock, buf, sizeof buf, NULL, &error);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
        {
          g_error_free (error);
          break;
        }
      g_assert_no_error (error);
      if (n == 0)
        break;
      g_string_append_len (all, buf, n);
    }
  return g_string_free (all, FALSE);
}

static void
raw_receive_exact (GSocket *sock, char *buf, gsize len)
{
  gsize done = 0;
  while (done < len)
    {
      GError *error = NULL;
      gssize n = g_socket_receive (sock, buf + done, len - done, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      done += (gsize) n;
    }
}

/* One response (headers, Content-Length body) of a keep-alive connection:
 * read a byte at a time up to the body, so nothing of the next is taken. */
static char *
raw_read_response (GSocket *sock)
{
  GString *msg = g_string_new (NULL);
  while (!g_str_has_suffix (msg->str, "\r\n\r\n"))
    {
      char c;
      raw_receive_exact (sock, &c, 1);
      g_string_append_c (msg, c);
    }
  g_autofree char *lower = g_ascii_strdown (msg->str, -1);
  const char *cl = strstr (lower, "\r\ncontent-length:");
  gsize length = cl != NULL ? g_ascii_strtoull (cl + strlen ("\r\ncontent-length:"), NULL, 10) : 0;
  gsize header_len = msg->len;
  g_string_set_size (msg, header_len + length);
  raw_receive_exact (sock, msg->str + header_len, length);
  return g_string_free (msg, FALSE);
}

/* The raw exchange of one request on a fresh connection, until the server
 * closes it. */
static char *
raw_exchange (Fixture *f, const char *request, gsize len)
{
  GSocket *sock = raw_connect (f->url);
  raw_send (sock, request, len);
  char *reply = raw_read_to_end (sock);
  g_object_unref (sock);
  return reply;
}

/* ---------------------------------------------------------------- fds */

/* 2,000 clients in turn, each two requests on one keep-alive connection,
 * then a close: the server's descriptors come back to where they were
 * (libsoup 3.2.3 kept each such socket open in CLOSE-WAIT). The idle
 * timeout is an hour, so only the clients' closing can free them. */
static void
test_keepalive_fds (Fixture *f, gconstpointer data)
{
  const char *extra[] = { "--idle-timeout", "3600", NULL };
  server_start (f, extra);
  guint pid = server_pid (f);
  guint before = count_fds (pid);
  static const char req[] = "GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n";
  for (guint i = 0; i < 2000; i++)
    {
      GSocket *sock = raw_connect (f->url);
      for (guint j = 0; j < 2; j++)
        {
          raw_send (sock, req, strlen (req));
          g_autofree char *resp = raw_read_response (sock);
          g_assert_true (g_str_has_prefix (resp, "HTTP/1.1 200 "));
        }
      g_object_unref (sock);
    }
  guint after = wait_fds_at_most (pid, before + 3);
  g_assert_cmpuint (after, <=, before + 3);
}

/* --idle-timeout 1: a connection that sends nothing, one that stops in its
 * headers, one that stops in its body and one idle after an answer are all
 * closed by the server (each client reads the end), and the descriptors
 * come back. */
static void
test_idle_timeout (Fixture *f, gconstpointer data)
{
  const char *extra[] = { "--idle-timeout", "1", NULL };
  server_start (f, extra);
  guint pid = server_pid (f);
  guint before = count_fds (pid);
  GSocket *idle = raw_connect (f->url);
  GSocket *half_headers = raw_connect (f->url);
  raw_send (half_headers, "GET /api/v1/health HTTP/1.1\r\nHost: t\r\n", 38);
  GSocket *half_body = raw_connect (f->url);
  static const char post[]
      = "POST /api/v1/activate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer x\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pro";
  raw_send (half_body, post, strlen (post));
  GSocket *kept = raw_connect (f->url);
  static const char req[] = "GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n";
  raw_send (kept, req, strlen (req));
  g_autofree char *resp = raw_read_response (kept);
  g_assert_true (g_str_has_prefix (resp, "HTTP/1.1 200 "));

  GSocket *all[] = { idle, half_headers, half_body, kept };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      /* The end, without an answer: nothing was asked in full. */
      g_autofree char *rest = raw_read_to_end (all[i]);
      g_assert_cmpstr (rest, ==, "");
      g_object_unref (all[i]);
    }
  g_assert_cmpuint (wait_fds_at_most (pid, before), <=, before);
  g_autofree char *log = NULL;
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  g_test_message ("%s", log);
  /* Neither half request reached a handler (which would answer 401 to
   * that key); the one cut in its body is logged as aborted. */
  g_assert_null (strstr (log, "/api/v1/activate 401"));
  g_assert_null (strstr (log, "GET /api/v1/health 400"));
}

static void
test_idle_timeout_refused (Fixture *f, gconstpointer data)
{
  const char *bad[] = { "0", "3601", "-5", "x" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const char *args[] = { "--database", "never-opened.db", "--idle-timeout", bad[i], NULL };
      g_autofree char *line = server_util_refused (args, 1);
      g_assert_nonnull (strstr (line, "idle-timeout"));
    }
}

/* ---------------------------------------------------------------- limit */

/* The limit is set by prlimit(1), which then execs the server: a
 * setrlimit() in a child setup would run inside valgrind in the memcheck
 * run, which emulates RLIMIT_NOFILE for its client and leaves the real
 * limit, so the exec'ed server would never run out. */
static void
die_with_parent (gpointer data)
{
  server_util_die_with_parent (NULL);
}

static gsize
file_size (const char *path)
{
  GStatBuf st;
  return g_stat (path, &st) == 0 ? (gsize) st.st_size : 0;
}

/* The server under RLIMIT_NOFILE 96 gets more connections than it has
 * descriptors: accept() fails, logged once with a count rather than once
 * per failure (GSocketService retried at once: a spinning core and
 * gigabytes of log); a connection it holds is still served; once the
 * clients close, it accepts and answers again. */
static void
test_fd_exhaustion (Fixture *f, gconstpointer data)
{
  const guint limit = 96;
  const char *bin = g_getenv ("TESSERA_SERVER");
  GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_stderr_file_path (l, f->log);
  g_subprocess_launcher_set_child_setup (l, die_with_parent, NULL, NULL);
  g_autofree char *nofile = g_strdup_printf ("--nofile=%u:%u", limit, limit);
  const char *asan = g_getenv ("ASAN_OPTIONS");
  if (asan != NULL)
    {
      /* LeakSanitizer's tracer needs descriptors of its own at exit. */
      g_autofree char *opts = g_strdup_printf ("%s:detect_leaks=0", asan);
      g_subprocess_launcher_setenv (l, "ASAN_OPTIONS", opts, TRUE);
    }
  gboolean pg = g_str_has_prefix (f->db, "postgres");
  g_autofree char *kek = pg ? server_util_kek_path (f->keys) : NULL;
  const char *argv[] = { "prlimit",
                         nofile,
                         "--",
                         bin,
                         "--database",
                         f->db,
                         pg ? "--key-encryption-key" : "--key-dir",
                         pg ? kek : f->keys,
                         "--listen",
                         "127.0.0.1:0",
                         "--http-threads",
                         "1",
                         "--idle-timeout",
                         "3600",
                         NULL };
  GError *error = NULL;
  f->proc = g_subprocess_launcher_spawnv (l, argv, &error);
  g_assert_no_error (error);
  g_object_unref (l);
  GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (f->proc));
  g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_object_unref (in);
  g_free (f->url);
  f->url = g_strdup (line + strlen ("listening on "));
  guint pid = server_pid (f);

  /* The first connection is accepted (and kept) before the others. */
  static const char req[] = "GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n";
  GSocket *first = raw_connect (f->url);
  raw_send (first, req, strlen (req));
  g_free (raw_read_response (first));
  GPtrArray *socks = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < limit + 20; i++)
    g_ptr_array_add (socks, raw_connect (f->url));

  gint64 end = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;
  g_autofree char *log = NULL;
  while (g_get_monotonic_time () < end)
    {
      g_clear_pointer (&log, g_free);
      g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
      if (strstr (log, "cannot accept connections") != NULL)
        break;
      g_usleep (50 * 1000);
    }
  g_assert_nonnull (strstr (log, "cannot accept connections"));
  g_assert_cmpuint (count_fds (pid), >=, limit - 1);
  /* Time for a server that retries at once to show it: the old one wrote
   * megabytes here; a correct one passes however slow the machine. */
  gsize size = file_size (f->log);
  g_usleep (2 * G_USEC_PER_SEC);
  g_assert_cmpuint (file_size (f->log) - size, <, 1024);
  /* What it holds, it still serves. */
  raw_send (first, req, strlen (req));
  g_autofree char *resp = raw_read_response (first);
  g_assert_true (g_str_has_prefix (resp, "HTTP/1.1 200 "));

  g_ptr_array_unref (socks);
  g_object_unref (first);
  /* Waits in the backlog until the server has descriptors again. */
  GSocket *again = raw_connect (f->url);
  raw_send (again, req, strlen (req));
  g_autofree char *resp2 = raw_read_response (again);
  g_assert_true (g_str_has_prefix (resp2, "HTTP/1.1 200 "));
  g_object_unref (again);
  g_clear_pointer (&log, g_free);
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, " warning accepting connections again"));
  g_assert_cmpuint (strlen (log), <, 16 * 1024);
  server_util_stop_clean (f->proc, f->log);
  g_clear_object (&f->proc);
}

/* ---------------------------------------------------------------- HTTP */

static void
assert_refused (const char *reply, const char *status_line, const char *message)
{
  g_assert_true (g_str_has_prefix (reply, status_line));
  g_assert_nonnull (strstr (reply, "\r\nConnection: close\r\n"));
  g_assert_nonnull (strstr (reply, "\"code\":\"invalid-argument\""));
  g_assert_nonnull (strstr (reply, message));
}

/* Two Authorization headers are refused, whichever comes first: with one
 * bogus and one valid, which one counts must not be left to chance. */
static void
test_two_authorizations (Fixture *f, gconstpointer data)
{
  for (guint order = 0; order < 2; order++)
    {
      g_autofree char *req = g_strdup_printf (
          "GET /api/v1/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
          "Authorization: Bearer %s\r\n\r\n",
          order == 0 ? "bogus" : f->owner_key, order == 0 ? f->owner_key : "bogus");
      g_autofree char *reply = raw_exchange (f, req, strlen (req));
      assert_refused (reply, "HTTP/1.1 400 ", "more than one Authorization header");
    }
  /* One valid header alone passes. */
  g_autofree char *req = g_strdup_printf (
      "GET /api/v1/me HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer %s\r\n\r\n",
      f->owner_key);
  g_autofree char *reply = raw_exchange (f, req, strlen (req));
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 200 "));
}

/* Content-Length -1 and 20 digits (both 2^64-1 to libsoup, which waited
 * for that body) get 400 at once: the client keeps its side open, so only
 * the server's answer and close end the read. */
static void
test_bad_content_length (Fixture *f, gconstpointer data)
{
  const char *bad[] = { "-1", "99999999999999999999", "+5", "1 2" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *req = g_strdup_printf (
          "POST /api/v1/activate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
          "Content-Type: application/json\r\nContent-Length: %s\r\n\r\n{}",
          f->member_key, bad[i]);
      g_autofree char *reply = raw_exchange (f, req, strlen (req));
      if (strcmp (bad[i], "1 2") == 0)
        /* libsoup refuses this one itself. */
        g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 400 "));
      else
        assert_refused (reply, "HTTP/1.1 400 ", "Content-Length must be a decimal number");
    }
}

/* 100 KB of headers get 431 (libsoup cut the connection at 64 KB with no
 * answer); 40 KB still pass. */
static void
test_huge_headers (Fixture *f, gconstpointer data)
{
  GString *req = g_string_new ("GET /api/v1/health HTTP/1.1\r\nHost: t\r\n");
  for (guint i = 0; i < 100; i++)
    {
      g_string_append_printf (req, "X-Filler-%u: ", i);
      for (guint j = 0; j < 1000; j++)
        g_string_append_c (req, 'a');
      g_string_append (req, "\r\n");
    }
  g_string_append (req, "\r\n");
  g_autofree char *reply = raw_exchange (f, req->str, req->len);
  assert_refused (reply, "HTTP/1.1 431 Request Header Fields Too Large",
                  "request headers are over");
  g_string_free (req, TRUE);

  req = g_string_new ("GET /api/v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
  for (guint i = 0; i < 40; i++)
    {
      g_string_append_printf (req, "X-Filler-%u: ", i);
      for (guint j = 0; j < 1000; j++)
        g_string_append_c (req, 'a');
      g_string_append (req, "\r\n");
    }
  g_string_append (req, "\r\n");
  g_autofree char *ok = raw_exchange (f, req->str, req->len);
  g_assert_true (g_str_has_prefix (ok, "HTTP/1.1 200 "));
  g_string_free (req, TRUE);
}

static const char *
error_message (Resp *r)
{
  return json_object_get_string_member (json_object_get_object_member (obj (r), "error"),
                                        "message");
}

/* "\u0000" in a label (json-glib would cut the string there) is refused
 * and creates nothing; an escaped backslash before "u0000" is text. */
static void
test_nul_in_label (Fixture *f, gconstpointer data)
{
  guint before = count_list (f, "/keys", "keys");
  Resp r = call (f, "POST", "/keys", f->owner_key, "{\"label\":\"ci\\u0000admin\"}");
  assert_error (&r, 400, "invalid-argument");
  g_assert_nonnull (strstr (error_message (&r), "\\u0000"));
  resp_clear (&r);
  r = call (f, "POST", "/keys", f->owner_key, "{\"label\":\"ok\", \"x\":\"\\\\u0000\"}");
  /* Unknown member, but past the NUL check: the body was read as text. */
  assert_error (&r, 400, "invalid-argument");
  g_assert_null (strstr (error_message (&r), "NUL"));
  resp_clear (&r);
  g_assert_cmpuint (count_list (f, "/keys", "keys"), ==, before);
  r = call (f, "POST", "/keys", f->owner_key, "{\"label\":\"back\\\\u0000slash\"}");
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  g_assert_cmpuint (count_list (f, "/keys", "keys"), ==, before + 1);
}

/* The metrics listener (--metrics-listen) under the same hygiene as the
 * API's: 300 keep-alive clients, each a scrape and a refused path, then a
 * close; a client that sends nothing, one that stops in its headers and
 * one that sends garbage; --idle-timeout 1 closes the silent ones. Every
 * descriptor comes back. */
static void
test_metrics_listener_fds (Fixture *f, gconstpointer data)
{
  const char *extra[] = { "--idle-timeout", "1", "--metrics-listen", "127.0.0.1:0", NULL };
  g_autofree char *metrics_url = NULL;
  f->proc = server_util_spawn_full (f->db, f->keys, f->log, extra, f->tls, &f->url, &metrics_url);
  guint pid = server_pid (f);
  guint before = count_fds (pid);
  static const char scrape[] = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
  static const char api[] = "GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n";
  for (guint i = 0; i < 300; i++)
    {
      GSocket *sock = raw_connect (metrics_url);
      raw_send (sock, scrape, strlen (scrape));
      g_autofree char *a = raw_read_response (sock);
      g_assert_true (g_str_has_prefix (a, "HTTP/1.1 200 "));
      raw_send (sock, api, strlen (api));
      g_autofree char *b = raw_read_response (sock);
      g_assert_true (g_str_has_prefix (b, "HTTP/1.1 404 "));
      g_object_unref (sock);
    }
  GSocket *idle = raw_connect (metrics_url);
  GSocket *half = raw_connect (metrics_url);
  raw_send (half, "GET /metrics HTTP/1.1\r\nHost: t\r\n", 33);
  GSocket *garbage = raw_connect (metrics_url);
  /* A TLS hello on the plain-HTTP listener: the server ends it. */
  static const char hello[] = "\x16\x03\x01 not HTTP at all\r\n\r\n";
  raw_send (garbage, hello, sizeof hello - 1);
  g_free (raw_read_to_end (garbage));
  g_object_unref (garbage);
  GSocket *silent[] = { idle, half };
  for (guint i = 0; i < G_N_ELEMENTS (silent); i++)
    {
      g_autofree char *rest = raw_read_to_end (silent[i]);
      g_assert_cmpstr (rest, ==, "");
      g_object_unref (silent[i]);
    }
  g_assert_cmpuint (wait_fds_at_most (pid, before), <=, before);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gconstpointer no_server = NO_SERVER;
  ADD ("keepalive-fds", test_keepalive_fds, no_server);
  ADD ("idle-timeout", test_idle_timeout, no_server);
  ADD ("idle-timeout-refused", test_idle_timeout_refused, no_server);
  ADD ("metrics-listener-fds", test_metrics_listener_fds, no_server);
  ADD ("fd-exhaustion", test_fd_exhaustion, no_server);
  ADD ("two-authorizations", test_two_authorizations, NULL);
  ADD ("bad-content-length", test_bad_content_length, NULL);
  ADD ("huge-headers", test_huge_headers, NULL);
  ADD ("nul-in-label", test_nul_in_label, NULL);
  return g_test_run ();
}
