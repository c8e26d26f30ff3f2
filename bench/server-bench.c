/* tessera-server benchmark: the real binary (BENCH_SERVER) on 127.0.0.1,
 * port 0, a temporary SQLite database (commits as durable as the server
 * makes them), bootstrapped through the store API.
 *
 * Client threads, each with its own SoupSession (libsoup-3), at 1, 8 and
 * 64 concurrent clients measure:
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
 *   server-bench [--quick] [--soak SECONDS] [--keep]
 *
 * --quick: a few requests per client (the ctest smoke test). --soak: after
 * the run, SECONDS of 64 clients heart-beating and activating/releasing,
 * VmRSS sampled every 10 s (the 10-minute soak is --soak 600; not in CI).
 * BENCH_DEBUG=1 prints every failed request's status; $TESSERA_SERVER runs
 * another tessera-server binary (to compare builds).
 * --keep: leave the database and the server's request log (one line per
 * request with its server-side time) in the temporary directory.
 * The quota checks are asserted (they are correctness, not timing). */
#include "store.h"

#include <libsoup/soup.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

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
  char *dir;
  char *db;
  char *log;
  GSubprocess *proc;
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

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* ---------------------------------------------------------------- server */

/* $TESSERA_SERVER overrides the build tree's binary (to compare builds). */
static const char *
server_binary (void)
{
  const char *env = g_getenv ("TESSERA_SERVER");
  return env != NULL && *env != '\0' ? env : BENCH_SERVER;
}

/* Responses that said Connection: close (atomic). */
static gint closed_responses;

static void
server_start (Bench *b)
{
  GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_stderr_file_path (l, b->log);
  g_subprocess_launcher_set_child_setup (l, die_with_parent, NULL, NULL);
  GError *error = NULL;
  char *keys = g_build_filename (b->dir, "keys", NULL);
  /* A lease longer than the run: the quota check counts every session. */
  b->proc
      = g_subprocess_launcher_spawn (l, &error, server_binary (), "--database", b->db, "--key-dir",
                                     keys, "--listen", "127.0.0.1:0", "--lease", "86400", NULL);
  g_free (keys);
  g_object_unref (l);
  if (b->proc == NULL)
    g_error ("cannot start %s: %s", server_binary (), error->message);
  GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (b->proc));
  char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
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

/* One request; returns the status (0: transport error) and, for a 200
 * activation, the session id. */
static guint
request (SoupSession *session, Client *c, const char *path, const char *body, char **session_id)
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
  GBytes *reply = soup_session_send_and_read (session, msg, NULL, NULL);
  guint status = reply != NULL ? soup_message_get_status (msg) : 0;
  if (soup_message_headers_header_contains (soup_message_get_response_headers (msg), "Connection",
                                            "close"))
    g_atomic_int_inc (&closed_responses);
  if (status == 200 && session_id != NULL)
    {
      /* "session_id": "..." is the first member of the reply */
      gsize len = 0;
      const char *data = g_bytes_get_data (reply, &len);
      const char *p = g_strstr_len (data, len, "\"session_id\"");
      const char *q = p != NULL ? memchr (p + 12, '"', len - (p + 12 - data)) : NULL;
      const char *e = q != NULL ? memchr (q + 1, '"', len - (q + 1 - data)) : NULL;
      *session_id = e != NULL ? g_strndup (q + 1, e - q - 1) : NULL;
      if (*session_id == NULL)
        status = 0;
    }
  g_clear_pointer (&reply, g_bytes_unref);
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
} Row;

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
percentile (double *v, guint n, double p)
{
  if (n == 0)
    return 0;
  guint i = (guint) (p * (n - 1) + 0.5);
  return v[MIN (i, n - 1)];
}

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
  gint64 start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    threads[i] = g_thread_new ("client", client_thread, &clients[i]);
  for (guint i = 0; i < n; i++)
    g_thread_join (threads[i]);
  double secs = (g_get_monotonic_time () - start) / 1e6;
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
  qsort (all, total, sizeof (double), compare_doubles);
  row->clients = n;
  row->requests = total;
  row->per_s = row->ok / secs;
  row->p50 = percentile (all, total, 0.50);
  row->p99 = percentile (all, total, 0.99);
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
  printf ("%7u  %-10s %8u %7u %6u %8u %10.0f %8.2f %8.2f\n", r->clients, r->what, r->requests,
          r->ok, r->rejected, r->failed, r->per_s, r->p50, r->p99);
}

static const char *
verdict (gboolean pass)
{
  return pass ? "PASS" : "MISS";
}

int
main (int argc, char **argv)
{
  gboolean quick = FALSE, keep = FALSE;
  int soak = 0;
  const GOptionEntry entries[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &quick, "A few requests only (smoke test)", NULL },
    { "soak", 0, 0, G_OPTION_ARG_INT, &soak, "Then SECONDS of 64-client load, RSS sampled",
      "SECONDS" },
    { "keep", 0, 0, G_OPTION_ARG_NONE, &keep, "Keep the database and server log", NULL },
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

  Bench b = { 0 };
  b.dir = g_dir_make_tmp ("tessera-server-bench-XXXXXX", &error);
  if (b.dir == NULL)
    g_error ("%s", error->message);
  b.db = g_build_filename (b.dir, "tessera.db", NULL);
  b.log = g_build_filename (b.dir, "server.log", NULL);
  bootstrap (&b);
  server_start (&b);

  const guint levels[] = { 1, 8, 64 };
  /* requests per client: activations, heartbeats */
  const guint act_per[] = { quick ? 10 : 400, quick ? 4 : 100, quick ? 2 : 25 };
  const guint hb_per[] = { quick ? 20 : 1000, quick ? 8 : 400, quick ? 4 : 100 };
  Row rows[2 * G_N_ELEMENTS (levels)];
  guint activated = 0, released = 0;
  guint64 rss_warm = 0;

  /* warm-up at 64 clients, a few of each (not in the table): the worker
   * threads, malloc arenas and SQLite caches the run will need */
  {
    Client *w = clients_new (&b, MAX_CLIENTS, b.keys, "bench", "warm");
    Row r;
    run_phase (w, MAX_CLIENTS, OP_ACTIVATE, quick ? 2 : 10, &r);
    activated += r.ok;
    run_phase (w, MAX_CLIENTS, OP_HEARTBEAT, quick ? 4 : 40, &r);
    clients_free (w, MAX_CLIENTS);
    rss_warm = proc_kib (&b, "VmRSS");
  }

  for (guint l = 0; l < G_N_ELEMENTS (levels); l++)
    {
      guint n = levels[l];
      char *tag = g_strdup_printf ("run%u", n);
      Client *clients = clients_new (&b, n, b.keys, "bench", tag);
      Row *ra = &rows[2 * l], *rh = &rows[2 * l + 1];
      run_phase (clients, n, OP_ACTIVATE, act_per[l], ra);
      ra->what = "activate";
      activated += ra->ok;
      for (guint i = 0; i < n; i++)
        if (clients[i].sessions->len == 0)
          g_error ("client %u got no session (see %s)", i, b.log);
      run_phase (clients, n, OP_HEARTBEAT, hb_per[l], rh);
      rh->what = "heartbeat";
      /* release half of each client's sessions */
      for (guint i = 0; i < n; i++)
        {
          guint half = clients[i].sessions->len / 2;
          clients[i].op = OP_RELEASE;
          SoupSession *s = soup_session_new ();
          for (guint k = 0; k < half; k++)
            client_one (s, &clients[i], k, NULL);
          g_object_unref (s);
          released += clients[i].released;
        }
      clients_free (clients, n);
      g_free (tag);
    }
  guint64 rss_end = proc_kib (&b, "VmRSS");
  guint64 hwm = proc_kib (&b, "VmHWM");

  /* quota 10, 64 clients, 5 attempts each: exactly 10 seats */
  Client *small = clients_new (&b, MAX_CLIENTS, b.small_keys, "small", "small");
  Row rs;
  run_phase (small, MAX_CLIENTS, OP_ACTIVATE, quick ? 2 : 5, &rs);
  rs.what = "act q=10";
  clients_free (small, MAX_CLIENTS);

  /* soak */
  GArray *soak_rss = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint soak_act = 0, soak_rel = 0, soak_failed = 0;
  if (soak > 0)
    {
      gint stop = 0;
      Client *c = clients_new (&b, MAX_CLIENTS, b.keys, "bench", "soak");
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
          guint64 v = proc_kib (&b, "VmRSS");
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
      activated += soak_act;
      released += soak_rel;
      clients_free (c, MAX_CLIENTS);
    }
  guint64 hwm_final = proc_kib (&b, "VmHWM");
  server_stop (&b);

  guint active = count_sessions (&b, "bench", b.pool);
  guint small_active = count_sessions (&b, "small", b.small_pool);

  printf ("tessera-server benchmark: %s\n(libsoup-3 clients, one SoupSession per client thread; "
          "%s)%s\n",
          server_binary (),
          g_atomic_int_get (&closed_responses) > 0 ? "the server closes connections"
                                                   : "keep-alive connections",
          quick ? " [--quick: figures meaningless]" : "");
  printf ("%7s  %-10s %8s %7s %6s %8s %10s %8s %8s\n", "clients", "request", "sent", "ok", "409",
          "failed", "ok/s", "p50 ms", "p99 ms");
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    print_row (&rows[i]);
  print_row (&rs);
  const Row *a64 = &rows[4], *h64 = &rows[5];
  printf ("\ntargets at 64 clients:\n");
  printf ("  activations/s >= 2000: %.0f  %s\n", a64->per_s, verdict (a64->per_s >= 2000));
  printf ("  heartbeats/s >= 10000: %.0f  %s\n", h64->per_s, verdict (h64->per_s >= 10000));
  printf ("  p99 < 50 ms: activate %.2f ms %s, heartbeat %.2f ms %s\n", a64->p99,
          verdict (a64->p99 < 50), h64->p99, verdict (h64->p99 < 50));
  printf ("\nserver memory: peak RSS (VmHWM) %" G_GUINT64_FORMAT " KiB\n", hwm);
  gint64 growth = (gint64) rss_end - (gint64) rss_warm;
  printf ("  memory flat: VmRSS after warm-up %" G_GUINT64_FORMAT
          " KiB, after the run %" G_GUINT64_FORMAT " KiB (%+" G_GINT64_FORMAT " KiB)  %s\n",
          rss_warm, rss_end, growth,
          /* thread stacks, SQLite page cache and malloc arenas of 64 clients
           * at once are expected; flat means no per-request growth */
          verdict (growth < 16 * 1024));
  if (soak > 0)
    {
      printf ("  soak %d s at 64 clients: %u activations, %u releases, %u failed; VmRSS:", soak,
              soak_act, soak_rel, soak_failed);
      for (guint i = 0; i < soak_rss->len; i++)
        printf (" %" G_GUINT64_FORMAT, g_array_index (soak_rss, guint64, i));
      printf (" KiB; VmHWM %" G_GUINT64_FORMAT " KiB\n", hwm_final);
    }
  g_array_unref (soak_rss);

  printf ("\nquota: %u activations succeeded, %u released: %u active sessions expected, %u in "
          "the database (quota %d)\n",
          activated, released, activated - released, active, BIG_QUOTA);
  printf ("quota %d, 64 clients, %u attempts: %u seats granted, %u refused (409), %u in the "
          "database\n",
          SMALL_QUOTA, rs.requests, rs.ok, rs.rejected, small_active);
  int rc = 0;
  if (active != activated - released || active > BIG_QUOTA)
    {
      fprintf (stderr, "server-bench: FAIL: sessions in the database do not match\n");
      rc = 1;
    }
  if (rs.ok != SMALL_QUOTA || small_active != SMALL_QUOTA || rs.failed != 0)
    {
      fprintf (stderr, "server-bench: FAIL: quota %d gave %u seats (%u failed)\n", SMALL_QUOTA,
               rs.ok, rs.failed);
      rc = 1;
    }
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    if (rows[i].failed > 0)
      {
        fprintf (stderr, "server-bench: FAIL: %u %s requests failed at %u clients (see %s)\n",
                 rows[i].failed, rows[i].what, rows[i].clients, b.log);
        rc = 1;
      }

  if (rc != 0 || keep)
    printf ("database and server log kept in %s\n", b.dir);
  if (rc == 0 && !keep)
    {
      char *cmd = g_strdup_printf ("rm -rf '%s'", b.dir);
      if (system (cmd) != 0)
        fprintf (stderr, "server-bench: cannot remove %s\n", b.dir);
      g_free (cmd);
    }
  for (guint i = 0; i < N_KEYS; i++)
    {
      g_free (b.keys[i]);
      g_free (b.small_keys[i]);
    }
  g_free (b.pool);
  g_free (b.small_pool);
  g_free (b.url);
  g_free (b.db);
  g_free (b.log);
  g_free (b.dir);
  return rc;
}
