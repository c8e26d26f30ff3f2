/* tessera-server benchmark: the real binary (BENCH_SERVER) on 127.0.0.1,
 * port 0, a temporary SQLite database (commits as durable as the server
 * makes them), bootstrapped through the store API.
 *
 * Client threads, each with its own keep-alive connection (a lean
 * hand-written HTTP/1.1 client: it shares the two cores with the server;
 * --libsoup: a SoupSession each instead), at 1, 8 and 64 concurrent
 * clients measure:
 *   - activations/s (POST /activate, a new nonce each time: a new seat)
 *   - heartbeats/s (POST /heartbeat on the client's own session)
 *   - p50 / p99 latency of each, as seen by the client
 *   - the server's peak RSS (VmHWM of /proc/PID/status)
 * then prove the quota intact: active sessions == successful activations -
 * releases, <= quota; and, against a pool of quota 10, 64 clients get
 * exactly 10 seats. Targets at 64 clients (printed PASS/MISS, never
 * asserted: timings depend on the machine): >= 2000 activations/s,
 * >= 10000 heartbeats/s, p99 < 50 ms. "memory flat": VmRSS after the
 * warm-up vs after the run.
 *
 *   server-bench [--quick] [--soak SECONDS] [--keep] [--baseline BINARY] [--libsoup]
 *
 * --quick: a few requests per client (the ctest smoke test). --soak: after
 * the run, SECONDS of 64 clients heart-beating and activating/releasing,
 * VmRSS sampled every 10 s (the 10-minute soak is --soak 600; not in CI).
 * BENCH_DEBUG=1 prints every failed request's status; $TESSERA_SERVER runs
 * another tessera-server binary (to compare builds).
 * --baseline: a second tessera-server (an older build) runs beside this
 * one, the two taking turns phase by phase, and the ratios are printed:
 * the machine's other load (it is shared) falls on both alike.
 * --keep: leave the database and the server's request log (one line per
 * request with its server-side time) in the temporary directory.
 * The quota checks are asserted (they are correctness, not timing). */
#include "bench-util.h"
#include "store.h"

#include <libsoup/soup.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BENCH_SERVER
#error "BENCH_SERVER must be defined (bench/CMakeLists.txt)"
#endif

#define DAY (24 * 3600)
#define BIG_QUOTA 1000000
#define SMALL_QUOTA 10
#define N_KEYS 8
#define MAX_CLIENTS 64

typedef struct
{
  const char *binary; /* the tessera-server it runs */
  char *dir;
  char *db;
  char *log;
  GSubprocess *proc;
  gint closed_responses; /* atomic: responses that said Connection: close */
  gint64 trimmed_from;   /* older_schema() hid the migrations after this one */
  char *url;
  char *pool;         /* bench KRE floating, BIG_QUOTA */
  char *small_pool;   /* small KRE floating, SMALL_QUOTA */
  char *keys[N_KEYS]; /* members of bench */
  char *small_keys[N_KEYS];
} Bench;

typedef enum
{
  OP_ACTIVATE,
  OP_HEARTBEAT,
  OP_RELEASE,
} Op;

typedef struct
{
  Bench *bench;
  guint index;
  const char *key;
  const char *org;
  const char *tag; /* unique per run, in the nonces */
  Op op;
  guint count;
  /* results */
  double *lat_ms; /* one per request */
  guint ok;
  guint failed;   /* transport errors and unexpected statuses */
  guint rejected; /* 409 quota-exceeded (the small pool) */
  GPtrArray *sessions;
  guint released;
  /* soak: run until stop */
  gint *stop;
} Client;

/* ---------------------------------------------------------------- server */

/* $TESSERA_SERVER overrides the build tree's binary (to compare builds). */
static const char *
server_binary (void)
{
  const char *env = g_getenv ("TESSERA_SERVER");
  return env != NULL && *env != '\0' ? env : BENCH_SERVER;
}

/* The server refused the database as newer than it knows: forgets the
 * migrations it does not know. Returns whether it did. */
static gboolean
older_schema (Bench *b)
{
  char *log = NULL;
  const char *needle = "newer than this program knows (";
  g_file_get_contents (b->log, &log, NULL, NULL);
  const char *p = log != NULL ? strstr (log, needle) : NULL;
  gint64 known = p != NULL ? g_ascii_strtoll (p + strlen (needle), NULL, 10) : 0;
  g_free (log);
  if (known <= 0)
    return FALSE;
  sqlite3 *db = NULL;
  b->trimmed_from = known;
  char *sql = g_strdup_printf ("CREATE TABLE bench_trimmed AS SELECT * FROM schema_version"
                               " WHERE version > %" G_GINT64_FORMAT ";"
                               " DELETE FROM schema_version WHERE version > %" G_GINT64_FORMAT,
                               known, known);
  gboolean ok = sqlite3_open (b->db, &db) == SQLITE_OK
                && sqlite3_exec (db, sql, NULL, NULL, NULL) == SQLITE_OK;
  sqlite3_close (db);
  g_free (sql);
  return ok;
}

static void server_start_try (Bench *b, gboolean retried);

static void
server_start (Bench *b)
{
  server_start_try (b, FALSE);
}

static void
server_start_try (Bench *b, gboolean retried)
{
  GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_stderr_file_path (l, b->log);
  g_subprocess_launcher_set_child_setup (l, bench_die_with_parent, NULL, NULL);
  GError *error = NULL;
  char *keys = g_build_filename (b->dir, "keys", NULL);
  /* A lease longer than the run: the quota check counts every session. */
  b->proc = g_subprocess_launcher_spawn (l, &error, b->binary, "--database", b->db, "--key-dir",
                                         keys, "--listen", "127.0.0.1:0", "--lease", "86400", NULL);
  g_free (keys);
  g_object_unref (l);
  if (b->proc == NULL)
    g_error ("cannot start %s: %s", b->binary, error->message);
  GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (b->proc));
  char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  if (line == NULL && !retried && older_schema (b))
    {
      /* An older baseline build: it refuses a database with migrations
       * newer than it knows. Their tables stay (it never looks at them);
       * only their schema_version rows go, and it starts again. */
      g_object_unref (in);
      g_subprocess_wait (b->proc, NULL, NULL);
      g_clear_object (&b->proc);
      server_start_try (b, TRUE);
      return;
    }
  if (line == NULL || !g_str_has_prefix (line, "listening on http://"))
    g_error ("server did not start (see %s)", b->log);
  b->url = g_strdup (line + strlen ("listening on "));
  g_free (line);
  g_object_unref (in);
}

static void
server_stop (Bench *b)
{
  GError *error = NULL;
  g_subprocess_send_signal (b->proc, SIGTERM);
  if (!g_subprocess_wait (b->proc, NULL, &error))
    g_error ("%s", error->message);
  if (!g_subprocess_get_if_exited (b->proc) || g_subprocess_get_exit_status (b->proc) != 0)
    g_error ("the server did not exit 0 (see %s)", b->log);
  g_clear_object (&b->proc);
  if (b->trimmed_from > 0)
    {
      /* Puts back what older_schema() took, for the store of this build. */
      sqlite3 *db = NULL;
      if (sqlite3_open (b->db, &db) != SQLITE_OK
          || sqlite3_exec (db,
                           "INSERT INTO schema_version SELECT * FROM bench_trimmed;"
                           " DROP TABLE bench_trimmed",
                           NULL, NULL, NULL)
                 != SQLITE_OK)
        g_error ("%s: %s", b->db, sqlite3_errmsg (db));
      sqlite3_close (db);
      b->trimmed_from = 0;
    }
}

/* A field of /proc/PID/status in KiB (VmHWM, VmRSS), or 0. */
static guint64
proc_kib (Bench *b, const char *field)
{
  char *path = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (b->proc));
  char *text = NULL;
  guint64 v = 0;
  if (g_file_get_contents (path, &text, NULL, NULL))
    {
      char *needle = g_strdup_printf ("\n%s:", field);
      const char *p = strstr (text, needle);
      if (p != NULL)
        v = g_ascii_strtoull (p + strlen (needle), NULL, 10);
      g_free (needle);
    }
  g_free (text);
  g_free (path);
  return v;
}

/* The server's CPU time so far (user + system, every thread), in µs. */
static double
proc_cpu_us (Bench *b)
{
  char *path = g_strdup_printf ("/proc/%s/stat", g_subprocess_get_identifier (b->proc));
  char *text = NULL;
  double us = 0;
  /* utime and stime are fields 14 and 15, counted after the ")" that ends
   * the command name (which may hold spaces). */
  const char *p = g_file_get_contents (path, &text, NULL, NULL) ? strrchr (text, ')') : NULL;
  char **f = p != NULL ? g_strsplit (p + 2, " ", 16) : NULL;
  if (f != NULL && g_strv_length (f) >= 14)
    us = (g_ascii_strtod (f[11], NULL) + g_ascii_strtod (f[12], NULL)) * 1e6
         / (double) sysconf (_SC_CLK_TCK);
  g_strfreev (f);
  g_free (text);
  g_free (path);
  return us;
}

/* ---------------------------------------------------------------- setup */

static void
bootstrap (Bench *b)
{
  GError *error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  TsStore *store = ts_store_open (b->db, &error);
  if (store == NULL)
    g_error ("%s", error->message);
  const struct
  {
    const char *org;
    gint64 quota;
    char **pool;
    char **keys;
  } orgs[] = {
    { "bench", BIG_QUOTA, &b->pool, b->keys },
    { "small", SMALL_QUOTA, &b->small_pool, b->small_keys },
  };
  for (guint o = 0; o < G_N_ELEMENTS (orgs); o++)
    {
      char *owner_email = g_strdup_printf ("owner@%s.test", orgs[o].org);
      g_free (ts_store_bootstrap_org (store, orgs[o].org, orgs[o].org, owner_email, now, &error));
      g_free (owner_email);
      if (error != NULL)
        g_error ("%s", error->message);
      TsPool *p = ts_store_create_pool (store, NULL, orgs[o].org, "KRE", "floating", "annual",
                                        orgs[o].quota, now + 365 * DAY, now, &error);
      if (p == NULL)
        g_error ("%s", error->message);
      *orgs[o].pool = g_strdup (p->id);
      ts_pool_free (p);
      for (guint i = 0; i < N_KEYS; i++)
        {
          char *email = g_strdup_printf ("user%u@%s.test", i, orgs[o].org);
          char *uid
              = ts_store_set_member (store, NULL, orgs[o].org, email, TS_ROLE_MEMBER, now, &error);
          g_free (email);
          if (uid == NULL)
            g_error ("%s", error->message);
          char *kid = NULL;
          orgs[o].keys[i] = ts_store_create_api_key (store, uid, "bench", now, &kid, &error);
          if (orgs[o].keys[i] == NULL)
            g_error ("%s", error->message);
          g_free (kid);
          g_free (uid);
        }
    }
  ts_store_close (store);
}

/* ---------------------------------------------------------------- client */

/* Requests and responses go out in two writes (headers, body); with
 * keep-alive, Nagle holds the second until the peer's delayed ACK: 40 ms
 * each. The server sets TCP_NODELAY on its side; this is the client's. */
static void
network_event (SoupMessage *msg, GSocketClientEvent event, GIOStream *connection, gpointer data)
{
  if (event == G_SOCKET_CLIENT_CONNECTED && G_IS_SOCKET_CONNECTION (connection))
    g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection)),
                         IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

/* The lean client (the default, bench-util.c); --libsoup measures with a
 * SoupSession per client instead. */
static gboolean use_libsoup;

static guint
raw_request (Client *c, const char *path, const char *body, GBytes **reply)
{
  guint16 port = (guint16) g_ascii_strtoull (strrchr (c->bench->url, ':') + 1, NULL, 10);
  gboolean closed = FALSE;
  guint status = bench_http_post (port, c->key, path, body, reply, &closed);
  if (closed)
    g_atomic_int_inc (&c->bench->closed_responses);
  return status;
}

static guint soup_request (SoupSession *session, Client *c, const char *path, const char *body,
                           GBytes **reply);

/* One request; returns the status (0: transport error) and, for a 200
 * activation, the session id. */
static guint
request (SoupSession *session, Client *c, const char *path, const char *body, char **session_id)
{
  GBytes *reply = NULL;
  guint status = use_libsoup ? soup_request (session, c, path, body, &reply)
                             : raw_request (c, path, body, &reply);
  if (status == 200 && session_id != NULL)
    {
      /* In the signed payload, a JSON text inside a JSON string:
       * ..."payload":"{\"session_id\":\"ID\",... (a UUID needs no escape) */
      static const char key[] = "\\\"session_id\\\":\\\"";
      gsize len = 0;
      const char *data = g_bytes_get_data (reply, &len);
      const char *p = g_strstr_len (data, len, key);
      const char *q = p != NULL ? p + strlen (key) : NULL;
      const char *e = q != NULL ? memchr (q, '\\', len - (q - data)) : NULL;
      *session_id = e != NULL ? g_strndup (q, e - q) : NULL;
      if (*session_id == NULL)
        status = 0;
    }
  g_clear_pointer (&reply, g_bytes_unref);
  return status;
}

static guint
soup_request (SoupSession *session, Client *c, const char *path, const char *body, GBytes **reply)
{
  char *full = g_strconcat (c->bench->url, "/api/v1", path, NULL);
  SoupMessage *msg = soup_message_new ("POST", full);
  g_free (full);
  char *auth = g_strdup_printf ("Bearer %s", c->key);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  g_free (auth);
  GBytes *bytes = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  g_bytes_unref (bytes);
  /* libsoup opens a new connection for every POST unless told it is safe
   * to resend; these are (activation by its nonce, heartbeat and release by
   * the session id), so they reuse the keep-alive connection. */
  soup_message_add_flags (msg, SOUP_MESSAGE_IDEMPOTENT);
  g_signal_connect (msg, "network-event", G_CALLBACK (network_event), NULL);
  *reply = soup_session_send_and_read (session, msg, NULL, NULL);
  guint status = *reply != NULL ? soup_message_get_status (msg) : 0;
  if (soup_message_headers_header_contains (soup_message_get_response_headers (msg), "Connection",
                                            "close"))
    g_atomic_int_inc (&c->bench->closed_responses);
  g_object_unref (msg);
  return status;
}

static void
client_one (SoupSession *session, Client *c, guint i, double *lat)
{
  char body[256];
  char *sid = NULL;
  guint status = 0;
  gint64 start = g_get_monotonic_time ();
  switch (c->op)
    {
    case OP_ACTIVATE:
      g_snprintf (body, sizeof body,
                  "{\"product\":\"KRE\",\"machine_id\":\"BENCH-%02u\",\"nonce\":\"%s-%u-%u\","
                  "\"org_id\":\"%s\"}",
                  c->index, c->tag, c->index, i, c->org);
      status = request (session, c, "/activate", body, &sid);
      if (status == 200)
        g_ptr_array_add (c->sessions, sid);
      break;
    case OP_HEARTBEAT:
      if (c->sessions->len == 0)
        break; /* its activations failed: counted there and here */
      g_snprintf (body, sizeof body, "{\"session_id\":\"%s\"}",
                  (const char *) c->sessions->pdata[i % MIN (c->sessions->len, 4)]);
      status = request (session, c, "/heartbeat", body, NULL);
      break;
    case OP_RELEASE:
      g_snprintf (body, sizeof body, "{\"session_id\":\"%s\"}",
                  (const char *) c->sessions->pdata[c->sessions->len - 1]);
      status = request (session, c, "/release", body, NULL);
      if (status == 200)
        {
          g_ptr_array_remove_index (c->sessions, c->sessions->len - 1);
          c->released++;
        }
      break;
    }
  if (lat != NULL)
    *lat = (g_get_monotonic_time () - start) / 1000.0;
  if (status == 200)
    c->ok++;
  else if (status == 409)
    c->rejected++;
  else
    {
      if (g_getenv ("BENCH_DEBUG") != NULL)
        fprintf (stderr, "op %d: status %u\n", (int) c->op, status);
      c->failed++;
    }
}

static gpointer
client_thread (gpointer data)
{
  Client *c = data;
  SoupSession *session = soup_session_new_with_options ("timeout", 60, NULL);
  if (c->stop != NULL)
    {
      /* soak: heartbeat, activate, release, over and over */
      const Op ops[] = { OP_HEARTBEAT, OP_ACTIVATE, OP_HEARTBEAT, OP_RELEASE };
      for (guint i = 0; !g_atomic_int_get (c->stop); i++)
        {
          c->op = ops[i % G_N_ELEMENTS (ops)];
          if (c->op == OP_RELEASE && c->sessions->len <= 1)
            continue;
          client_one (session, c, i, NULL);
        }
    }
  else
    for (guint i = 0; i < c->count; i++)
      client_one (session, c, i, &c->lat_ms[i]);
  g_object_unref (session);
  bench_http_close ();
  return NULL;
}

/* ---------------------------------------------------------------- phases */

typedef struct
{
  guint clients;
  const char *what;
  guint requests;
  guint ok, failed, rejected;
  double per_s, p50, p99;
  double cpu_us; /* the server's CPU time per request */
} Row;

/* Runs @op on every client at once; fills @row. */
static void
run_phase (Client *clients, guint n, Op op, guint count, Row *row)
{
  GThread *threads[MAX_CLIENTS];
  for (guint i = 0; i < n; i++)
    {
      clients[i].op = op;
      clients[i].count = count;
      g_free (clients[i].lat_ms);
      clients[i].lat_ms = g_new0 (double, count);
      clients[i].ok = clients[i].failed = clients[i].rejected = 0;
    }
  double cpu = proc_cpu_us (clients[0].bench);
  gint64 start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    threads[i] = g_thread_new ("client", client_thread, &clients[i]);
  for (guint i = 0; i < n; i++)
    g_thread_join (threads[i]);
  double secs = (g_get_monotonic_time () - start) / 1e6;
  cpu = proc_cpu_us (clients[0].bench) - cpu;
  guint total = n * count;
  double *all = g_new (double, total);
  row->ok = row->failed = row->rejected = 0;
  for (guint i = 0; i < n; i++)
    {
      memcpy (all + i * count, clients[i].lat_ms, count * sizeof (double));
      row->ok += clients[i].ok;
      row->failed += clients[i].failed;
      row->rejected += clients[i].rejected;
    }
  qsort (all, total, sizeof (double), bench_compare_doubles);
  row->clients = n;
  row->requests = total;
  row->per_s = row->ok / secs;
  row->cpu_us = cpu / total;
  row->p50 = bench_percentile (all, total, 0.50);
  row->p99 = bench_percentile (all, total, 0.99);
  g_free (all);
}

static Client *
clients_new (Bench *b, guint n, char **keys, const char *org, const char *tag)
{
  Client *clients = g_new0 (Client, n);
  for (guint i = 0; i < n; i++)
    {
      clients[i].bench = b;
      clients[i].index = i;
      clients[i].key = keys[i % N_KEYS];
      clients[i].org = org;
      clients[i].tag = tag;
      clients[i].sessions = g_ptr_array_new_with_free_func (g_free);
    }
  return clients;
}

static void
clients_free (Client *clients, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      g_free (clients[i].lat_ms);
      g_ptr_array_unref (clients[i].sessions);
    }
  g_free (clients);
}

static guint
count_sessions (Bench *b, const char *org, const char *pool)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (b->db, &error);
  if (store == NULL)
    g_error ("%s", error->message);
  GPtrArray *s = ts_store_list_sessions (store, NULL, org, pool,
                                         g_get_real_time () / G_USEC_PER_SEC, &error);
  if (s == NULL)
    g_error ("%s", error->message);
  guint n = s->len;
  g_ptr_array_unref (s);
  ts_store_close (store);
  return n;
}

static void
print_row (const Row *r)
{
  printf ("%7u  %-10s %8u %7u %6u %8u %10.0f %8.2f %8.2f %8.0f\n", r->clients, r->what, r->requests,
          r->ok, r->rejected, r->failed, r->per_s, r->p50, r->p99, r->cpu_us);
}

static const char *
verdict (gboolean pass)
{
  return pass ? "PASS" : "MISS";
}

/* Everything measured of one server. */
typedef struct
{
  Bench b;
  Row rows[6]; /* activate, heartbeat at 1, 8, 64 clients */
  Row small;   /* quota 10 */
  guint activated, released;
  guint64 rss_warm, rss_end, hwm, hwm_final;
  guint active, small_active;
} Run;

static void
print_table (Run *r, gboolean quick)
{
  printf ("tessera-server benchmark: %s\n(%s; %s)%s\n", r->b.binary,
          use_libsoup ? "libsoup-3 clients, one SoupSession per client thread"
                      : "lean clients: a socket per client thread, HTTP/1.1 by hand",
          g_atomic_int_get (&r->b.closed_responses) > 0 ? "the server closes connections"
                                                        : "keep-alive connections",
          quick ? " [--quick: figures meaningless]" : "");
  printf ("%7s  %-10s %8s %7s %6s %8s %10s %8s %8s %8s\n", "clients", "request", "sent", "ok",
          "409", "failed", "ok/s", "p50 ms", "p99 ms", "cpu µs");
  for (guint i = 0; i < G_N_ELEMENTS (r->rows); i++)
    print_row (&r->rows[i]);
  print_row (&r->small);
  printf ("cpu µs: the server's CPU time (all threads) per request\n");
  printf ("server memory: peak RSS (VmHWM) %" G_GUINT64_FORMAT " KiB\n", r->hwm);
}

/* Checks the quotas of @r; returns 0 or 1. */
static int
check_run (Run *r)
{
  int rc = 0;
  printf ("%s: quota: %u activations succeeded, %u released: %u active sessions expected, %u in "
          "the database (quota %d)\n",
          r->b.binary, r->activated, r->released, r->activated - r->released, r->active, BIG_QUOTA);
  printf ("%s: quota %d, 64 clients, %u attempts: %u seats granted, %u refused (409), %u in the "
          "database\n",
          r->b.binary, SMALL_QUOTA, r->small.requests, r->small.ok, r->small.rejected,
          r->small_active);
  if (r->active != r->activated - r->released || r->active > BIG_QUOTA)
    {
      fprintf (stderr, "server-bench: FAIL: sessions in the database do not match\n");
      rc = 1;
    }
  if (r->small.ok != SMALL_QUOTA || r->small_active != SMALL_QUOTA || r->small.failed != 0)
    {
      fprintf (stderr, "server-bench: FAIL: quota %d gave %u seats (%u failed)\n", SMALL_QUOTA,
               r->small.ok, r->small.failed);
      rc = 1;
    }
  for (guint i = 0; i < G_N_ELEMENTS (r->rows); i++)
    if (r->rows[i].failed > 0)
      {
        fprintf (stderr, "server-bench: FAIL: %u %s requests failed at %u clients (see %s)\n",
                 r->rows[i].failed, r->rows[i].what, r->rows[i].clients, r->b.log);
        rc = 1;
      }
  return rc;
}

static void
bench_setup (Bench *b, const char *binary)
{
  GError *error = NULL;
  b->binary = binary;
  b->dir = g_dir_make_tmp ("tessera-server-bench-XXXXXX", &error);
  if (b->dir == NULL)
    g_error ("%s", error->message);
  b->db = g_build_filename (b->dir, "tessera.db", NULL);
  b->log = g_build_filename (b->dir, "server.log", NULL);
  bootstrap (b);
  server_start (b);
}

static void
bench_free (Bench *b, gboolean keep)
{
  if (!keep)
    {
      /* No shell: the path is passed as one argument. */
      const char *argv[] = { "rm", "-rf", "--", b->dir, NULL };
      gint status = 0;
      if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                         &status, NULL)
          || !g_spawn_check_wait_status (status, NULL))
        fprintf (stderr, "server-bench: cannot remove %s\n", b->dir);
    }
  for (guint i = 0; i < N_KEYS; i++)
    {
      g_free (b->keys[i]);
      g_free (b->small_keys[i]);
    }
  g_free (b->pool);
  g_free (b->small_pool);
  g_free (b->url);
  g_free (b->db);
  g_free (b->log);
  g_free (b->dir);
}

int
main (int argc, char **argv)
{
  gboolean quick = FALSE, keep = FALSE;
  int soak = 0;
  char *baseline = NULL;
  const GOptionEntry entries[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &quick, "A few requests only (smoke test)", NULL },
    { "soak", 0, 0, G_OPTION_ARG_INT, &soak, "Then SECONDS of 64-client load, RSS sampled",
      "SECONDS" },
    { "keep", 0, 0, G_OPTION_ARG_NONE, &keep, "Keep the database and server log", NULL },
    { "libsoup", 0, 0, G_OPTION_ARG_NONE, &use_libsoup,
      "Clients on libsoup-3 (SoupSession), not the lean socket client", NULL },
    { "baseline", 0, 0, G_OPTION_ARG_FILENAME, &baseline,
      "Also run this tessera-server, phase by phase in turn, and print ratios", "BINARY" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- tessera-server benchmark");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "server-bench: %s\n", error->message);
      return 1;
    }

  /* runs[0]: the baseline, if any; the last: the server under test. Both
   * run at once, idle but for the phase being measured, and take turns
   * phase by phase, so the load of the machine (shared) hits both alike. */
  Run runs[2];
  memset (runs, 0, sizeof runs);
  guint n_runs = baseline != NULL ? 2 : 1;
  Run *cur = &runs[n_runs - 1];
  if (baseline != NULL)
    bench_setup (&runs[0].b, baseline);
  bench_setup (&cur->b, server_binary ());

  const guint levels[] = { 1, 8, 64 };
  /* requests per client: activations, heartbeats (64 x 400: two seconds
   * or so, not the half second in which 64 threads start and connect) */
  const guint act_per[] = { quick ? 10 : 400, quick ? 4 : 100, quick ? 2 : 25 };
  const guint hb_per[] = { quick ? 20 : 1000, quick ? 8 : 400, quick ? 4 : 400 };

  /* warm-up at 64 clients, a few of each (not in the table): the worker
   * threads, malloc arenas and SQLite caches the run will need */
  for (guint k = 0; k < n_runs; k++)
    {
      Run *r = &runs[k];
      Client *w = clients_new (&r->b, MAX_CLIENTS, r->b.keys, "bench", "warm");
      Row row;
      run_phase (w, MAX_CLIENTS, OP_ACTIVATE, quick ? 2 : 10, &row);
      r->activated += row.ok;
      run_phase (w, MAX_CLIENTS, OP_HEARTBEAT, quick ? 4 : 40, &row);
      clients_free (w, MAX_CLIENTS);
      r->rss_warm = proc_kib (&r->b, "VmRSS");
    }

  for (guint l = 0; l < G_N_ELEMENTS (levels); l++)
    {
      guint n = levels[l];
      char *tag = g_strdup_printf ("run%u", n);
      Client *clients[2];
      for (guint k = 0; k < n_runs; k++)
        {
          Run *r = &runs[k];
          clients[k] = clients_new (&r->b, n, r->b.keys, "bench", tag);
          Row *ra = &r->rows[2 * l];
          run_phase (clients[k], n, OP_ACTIVATE, act_per[l], ra);
          ra->what = "activate";
          r->activated += ra->ok;
          for (guint i = 0; i < n; i++)
            if (clients[k][i].sessions->len == 0)
              g_error ("client %u got no session (see %s)", i, r->b.log);
        }
      for (guint k = 0; k < n_runs; k++)
        {
          Row *rh = &runs[k].rows[2 * l + 1];
          run_phase (clients[k], n, OP_HEARTBEAT, hb_per[l], rh);
          rh->what = "heartbeat";
        }
      /* release half of each client's sessions */
      for (guint k = 0; k < n_runs; k++)
        {
          for (guint i = 0; i < n; i++)
            {
              guint half = clients[k][i].sessions->len / 2;
              clients[k][i].op = OP_RELEASE;
              SoupSession *s = soup_session_new ();
              for (guint j = 0; j < half; j++)
                client_one (s, &clients[k][i], j, NULL);
              g_object_unref (s);
              runs[k].released += clients[k][i].released;
            }
          clients_free (clients[k], n);
        }
      g_free (tag);
    }
  for (guint k = 0; k < n_runs; k++)
    {
      runs[k].rss_end = proc_kib (&runs[k].b, "VmRSS");
      runs[k].hwm = proc_kib (&runs[k].b, "VmHWM");
      /* quota 10, 64 clients, 5 attempts each: exactly 10 seats */
      Client *small = clients_new (&runs[k].b, MAX_CLIENTS, runs[k].b.small_keys, "small", "small");
      run_phase (small, MAX_CLIENTS, OP_ACTIVATE, quick ? 2 : 5, &runs[k].small);
      runs[k].small.what = "act q=10";
      clients_free (small, MAX_CLIENTS);
    }
  bench_http_close (); /* the main thread's, from the releases */
  if (baseline != NULL)
    {
      runs[0].hwm_final = proc_kib (&runs[0].b, "VmHWM");
      server_stop (&runs[0].b);
    }

  /* soak: the server under test only */
  Bench *b = &cur->b;
  GArray *soak_rss = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint soak_act = 0, soak_rel = 0, soak_failed = 0;
  if (soak > 0)
    {
      gint stop = 0;
      Client *c = clients_new (b, MAX_CLIENTS, b->keys, "bench", "soak");
      GThread *threads[MAX_CLIENTS];
      /* each starts with one session */
      for (guint i = 0; i < MAX_CLIENTS; i++)
        {
          c[i].op = OP_ACTIVATE;
          SoupSession *s = soup_session_new ();
          client_one (s, &c[i], G_MAXUINT, NULL);
          g_object_unref (s);
          c[i].stop = &stop;
        }
      for (guint i = 0; i < MAX_CLIENTS; i++)
        threads[i] = g_thread_new ("soak", client_thread, &c[i]);
      for (int t = 0; t < soak; t += 10)
        {
          g_usleep (MIN (10, soak - t) * G_USEC_PER_SEC);
          guint64 v = proc_kib (b, "VmRSS");
          g_array_append_val (soak_rss, v);
        }
      g_atomic_int_set (&stop, 1);
      for (guint i = 0; i < MAX_CLIENTS; i++)
        {
          g_thread_join (threads[i]);
          /* ok counts every op; sessions held = activations - releases */
          soak_rel += c[i].released;
          soak_act += c[i].sessions->len + c[i].released;
          soak_failed += c[i].failed;
        }
      cur->activated += soak_act;
      cur->released += soak_rel;
      clients_free (c, MAX_CLIENTS);
    }
  cur->hwm_final = proc_kib (b, "VmHWM");
  bench_http_close ();
  server_stop (b);

  for (guint k = 0; k < n_runs; k++)
    {
      runs[k].active = count_sessions (&runs[k].b, "bench", runs[k].b.pool);
      runs[k].small_active = count_sessions (&runs[k].b, "small", runs[k].b.small_pool);
    }

  if (baseline != NULL)
    {
      printf ("BASELINE ");
      print_table (&runs[0], quick);
      printf ("\n");
    }
  print_table (cur, quick);
  if (baseline != NULL)
    {
      printf ("\nratios, this server / baseline (same run, phases taken in turn):\n");
      printf ("%7s  %-10s %10s %8s %8s %8s\n", "clients", "request", "ok/s", "p50", "p99", "cpu");
      for (guint i = 0; i < G_N_ELEMENTS (cur->rows); i++)
        {
          const Row *x = &cur->rows[i], *y = &runs[0].rows[i];
          printf ("%7u  %-10s %9.2fx %7.2fx %7.2fx %7.2fx\n", x->clients, x->what,
                  y->per_s > 0 ? x->per_s / y->per_s : 0, y->p50 > 0 ? x->p50 / y->p50 : 0,
                  y->p99 > 0 ? x->p99 / y->p99 : 0, y->cpu_us > 0 ? x->cpu_us / y->cpu_us : 0);
        }
      printf ("  peak RSS: %.2fx\n", runs[0].hwm > 0 ? (double) cur->hwm / runs[0].hwm : 0);
    }
  const Row *a64 = &cur->rows[4], *h64 = &cur->rows[5];
  printf ("\ntargets at 64 clients:\n");
  printf ("  activations/s >= 2000: %.0f  %s\n", a64->per_s, verdict (a64->per_s >= 2000));
  printf ("  heartbeats/s >= 10000: %.0f  %s\n", h64->per_s, verdict (h64->per_s >= 10000));
  printf ("  p99 < 50 ms: activate %.2f ms %s, heartbeat %.2f ms %s\n", a64->p99,
          verdict (a64->p99 < 50), h64->p99, verdict (h64->p99 < 50));
  gint64 growth = (gint64) cur->rss_end - (gint64) cur->rss_warm;
  printf ("  memory flat: VmRSS after warm-up %" G_GUINT64_FORMAT
          " KiB, after the run %" G_GUINT64_FORMAT " KiB (%+" G_GINT64_FORMAT " KiB)  %s\n",
          cur->rss_warm, cur->rss_end, growth,
          /* thread stacks, SQLite page cache and malloc arenas of 64 clients
           * at once are expected; flat means no per-request growth */
          verdict (growth < 16 * 1024));
  if (soak > 0)
    {
      printf ("  soak %d s at 64 clients: %u activations, %u releases, %u failed; VmRSS:", soak,
              soak_act, soak_rel, soak_failed);
      for (guint i = 0; i < soak_rss->len; i++)
        printf (" %" G_GUINT64_FORMAT, g_array_index (soak_rss, guint64, i));
      printf (" KiB; VmHWM %" G_GUINT64_FORMAT " KiB\n", cur->hwm_final);
    }
  g_array_unref (soak_rss);
  printf ("\n");

  int rc = 0;
  for (guint k = 0; k < n_runs; k++)
    rc |= check_run (&runs[k]);
  for (guint k = 0; k < n_runs; k++)
    {
      if (rc != 0 || keep)
        printf ("database and server log kept in %s\n", runs[k].b.dir);
      bench_free (&runs[k].b, rc != 0 || keep);
    }
  g_free (baseline);
  return rc;
}
