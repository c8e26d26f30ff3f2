#include "bench-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

void
bench_die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static _Thread_local int raw_fd = -1;
static _Thread_local guint16 raw_port;

void
bench_http_close (void)
{
  if (raw_fd >= 0)
    close (raw_fd);
  raw_fd = -1;
}

static int
raw_connect (guint16 port)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons (port) };
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  /* Nagle would hold a request's tail until the server's delayed ACK. */
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (struct sockaddr *) &a, sizeof a) != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static gboolean
raw_send_all (int fd, const char *p, gsize n)
{
  while (n > 0)
    {
      ssize_t w = send (fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return FALSE;
      p += w;
      n -= (gsize) w;
    }
  return TRUE;
}

/* One response into @buf: its status (0: transport or parse error), its
 * body and whether the server closes the connection after it. */
static guint
raw_read_response (int fd, char *buf, gsize size, const char **body, gsize *body_len,
                   gboolean *close_after)
{
  gsize have = 0;
  const char *end = NULL;
  while (end == NULL)
    {
      if (have >= size - 1)
        return 0;
      ssize_t r = recv (fd, buf + have, size - 1 - have, 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return 0;
      have += (gsize) r;
      buf[have] = '\0';
      end = strstr (buf, "\r\n\r\n");
    }
  gsize head = (gsize) (end + 4 - buf);
  guint status = 0;
  /* "HTTP/1.x NNN ...": three digits after the first space. */
  const char *sp = strchr (buf, ' ');
  guint64 code = 0;
  g_autofree char *digits
      = sp != NULL && g_str_has_prefix (buf, "HTTP/1.") ? g_strndup (sp + 1, 3) : NULL;
  if (digits == NULL || !g_ascii_string_to_unsigned (digits, 10, 100, 599, &code, NULL))
    return 0;
  status = (guint) code;
  gsize clen = 0;
  *close_after = FALSE;
  for (const char *line = strstr (buf, "\r\n") + 2; line < end;)
    {
      const char *eol = strstr (line, "\r\n");
      if (g_ascii_strncasecmp (line, "Content-Length:", 15) == 0)
        clen = strtoul (line + 15, NULL, 10);
      else if (g_ascii_strncasecmp (line, "Connection:", 11) == 0
               && g_strstr_len (line, eol - line, "close") != NULL)
        *close_after = TRUE;
      line = eol + 2;
    }
  if (head + clen >= size)
    return 0;
  while (have < head + clen)
    {
      ssize_t r = recv (fd, buf + have, head + clen - have, 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return 0;
      have += (gsize) r;
    }
  *body = buf + head;
  *body_len = clen;
  return status;
}

guint
bench_http_post (guint16 port, const char *key, const char *path, const char *body, GBytes **reply,
                 gboolean *closed)
{
  *reply = NULL;
  *closed = FALSE;
  if (raw_fd >= 0 && raw_port != port)
    bench_http_close ();
  char req[1024];
  int n = g_snprintf (req, sizeof req,
                      "POST /api/v1%s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s",
                      path, port, key, strlen (body), body);
  g_assert (n > 0 && (gsize) n < sizeof req);
  char buf[16384];
  const char *data = NULL;
  gsize len = 0;
  gboolean close_after = FALSE;
  guint status = 0;
  for (;;)
    {
      gboolean reused = raw_fd >= 0;
      if (!reused)
        {
          raw_fd = raw_connect (port);
          raw_port = port;
          if (raw_fd < 0)
            return 0;
        }
      if (raw_send_all (raw_fd, req, (gsize) n)
          && (status = raw_read_response (raw_fd, buf, sizeof buf, &data, &len, &close_after)) != 0)
        break;
      bench_http_close ();
      /* A kept connection the server had closed: these requests are
       * idempotent, send it again on a new one (as libsoup would). */
      if (!reused)
        return 0;
    }
  if (close_after)
    {
      *closed = TRUE;
      bench_http_close ();
    }
  *reply = g_bytes_new (data, len);
  return status;
}

int
bench_compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

double
bench_percentile (const double *v, guint n, double p)
{
  if (n == 0)
    return 0;
  guint i = (guint) (p * (n - 1) + 0.5);
  return v[MIN (i, n - 1)];
}
