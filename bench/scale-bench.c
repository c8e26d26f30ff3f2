/* tessera-server scale-out benchmark (issue 9, item 5): in one run,
 *   SQLite     x 1 instance
 *   PostgreSQL x 1, 2, 3 instances on one database (each its own port;
 *              a fresh database for each instance count, the instances
 *              sharing PG_CONNECTIONS connections)
 * each under two loads at 64 clients:
 *   hot:    every client in one organization, one pool
 *   spread: 1,000 organizations, each with its own pool and member key;
 *           client i's request j goes to organization (i + 64 j) mod 1000
 * Client i talks to instance i mod N on a keep-alive connection (the lean
 * client of bench-util.c: the clients share the machine's cores with the
 * servers and PostgreSQL). Per cell: activations/s and heartbeats/s with
 * their p50/p99 latency, each phase run for a fixed time, and the CPU the
 * instances and PostgreSQL's processes used in it per request (/proc, see
 * scale-proc.c). scale-model.c prints issue 17's targets from them (PASS or
 * MISS, never asserted: timing depends on the machine) and a capacity model
 * for larger hosts. Every process shares the machine's cores, so more
 * instances cannot show more throughput here; what can be shown is that
 * they add no contention. Asserted after each cell (correctness, not timing): active
 * sessions in the database == successful activations - releases, and 64
 * clients against a fresh quota-10 pool get exactly 10 seats across the
 * instances.
 *
 *   tests/with-postgres.sh scale-bench [--quick] [--seconds S] [--keep]
 *
 * Without TESSERA_TEST_POSTGRES (with-postgres.sh sets it) only the SQLite
 * row runs. --quick: a few requests per client in every cell (the ctest
 * smoke test). BENCH_DEBUG=1 prints every failed request's status and answer. */
#include "bench-util.h"
#include "scale-bench.h"
#include "scale-proc.h"
#include "store.h"
#include "store-backend.h"

#include <gio/gio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BENCH_SERVER
#error "BENCH_SERVER must be defined (bench/CMakeLists.txt)"
#endif

#define DAY (24 * 3600)
#define BIG_QUOTA 1000000
#define SMALL_QUOTA 10
#define N_CLIENTS 64
#define N_ORGS 1000
#define N_HOT_KEYS 8
#define MAX_INSTANCES 3
/* The connections the instances share (pool_size = PG_CONNECTIONS / N,
 * rounded up): one per worker thread of one server (16 in http-server.c),
 * as a deployer sizes the database's connections, not each instance's.
 * Given 16 each, 3 instances keep 48 backends busy on the same 2 cores, and
 * the database's CPU per request grows with them (docs/deployment.md,
 * "Scale-out benchmark"); --pool-size measures that. */
#define PG_CONNECTIONS 16

typedef struct
{
  GSubprocess *proc;
  guint16 port;
  char *log;
} Instance;

/* One database and what was bootstrapped in it. */
typedef struct
{
  const char *backend; /* "SQLite" / "PostgreSQL" */
  char *location;      /* file or URL, as tests/store-backend.h made it */
  char *server_db;     /* what the servers get: PostgreSQL adds pool_size */
  char *hot_pool;
  char *hot_keys[N_HOT_KEYS];
  char *spread_keys[N_ORGS]; /* one member per organization */
  char *small_pools[N_CELLS];
  char *small_keys[N_CELLS];
  Instance inst[MAX_INSTANCES];
  guint n_inst;
  guint activated, released; /* over every cell on this database */
  GPid postmaster;           /* 0: its CPU is not measured */
} Db;

typedef enum
{
  OP_ACTIVATE,
  OP_HEARTBEAT,
  OP_RELEASE,
} Op;

typedef struct
{
  Db *db;
  guint index;
  guint16 port;
  Load load;
  guint cell;
  const char *tag; /* unique per phase, in the nonces */
  Op op;
  guint count;      /* requests to make; 0: until *stop */
  const gint *stop; /* atomic */
  GArray *lat_ms;
  guint ok, failed, rejected, released;
  GPtrArray *sessions; /* ids; sessions_org[i]: its organization */
  GArray *sessions_org;
} Client;

static const char *
org_name (Load load, guint n, char buf[static 32])
{
  if (load == LOAD_HOT)
    return "hot";
  g_snprintf (buf, 32, load == LOAD_SMALL ? "small%u" : "org%04u", n);
  return buf;
}

/* ---------------------------------------------------------------- servers */

static char *work_dir;

/* Starts instance @index of the server on @database. This is the one place
 * that knows how instances get their signing keys, which is changing
 * (issue 9). With --key-dir every instance reads the same directory (the
 * first to start creates the key there, which is one reason instances start
 * one after the other). A server that has --key-encryption-key requires it
 * with PostgreSQL instead: the key then lives in the database, sealed with
 * the key-encryption key in @key_arg_dir/kek (64 hex characters, mode 0600,
 * what tessera-admin signing-key create-kek writes), which every instance
 * is given. */
static void
scale_spawn_instance (Instance *inst, const char *database, const char *key_arg_dir, guint index)
{
  g_autoptr (GError) error = NULL;
  static char *help;
  if (help == NULL
      && !g_spawn_sync (NULL, (char *[]){ BENCH_SERVER, "--help", NULL }, NULL, 0, NULL, NULL,
                        &help, NULL, NULL, &error))
    g_error ("%s --help: %s", BENCH_SERVER, error->message);
  g_autofree char *kek = NULL;
  if (test_store_is_url (database) && strstr (help, "--key-encryption-key") != NULL)
    {
      kek = g_build_filename (key_arg_dir, "kek", NULL);
      guint8 raw[32];
      g_autoptr (GFile) urandom = g_file_new_for_path ("/dev/urandom");
      g_autoptr (GFileInputStream) rs = g_file_read (urandom, NULL, &error);
      if (g_mkdir_with_parents (key_arg_dir, 0700) != 0 || rs == NULL
          || !g_input_stream_read_all (G_INPUT_STREAM (rs), raw, sizeof raw, NULL, NULL, &error))
        g_error ("cannot make a key-encryption key in %s", key_arg_dir);
      GString *hex = g_string_new (NULL);
      for (guint i = 0; i < sizeof raw; i++)
        g_string_append_printf (hex, "%02x", raw[i]);
      g_string_append_c (hex, '\n');
      if (!g_file_test (kek, G_FILE_TEST_EXISTS)
          && (!g_file_set_contents_full (kek, hex->str, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                         &error)))
        g_error ("%s", error->message);
      g_string_free (hex, TRUE);
    }
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  inst->log = g_strdup_printf ("%s/server-%s-%u.log", work_dir,
                               test_store_is_url (database) ? "pg" : "sqlite", index);
  g_subprocess_launcher_set_stderr_file_path (l, inst->log);
  g_subprocess_launcher_set_child_setup (l, bench_die_with_parent, NULL, NULL);
  /* A lease longer than the run: the checks count every session. */
  inst->proc = g_subprocess_launcher_spawn (l, &error, BENCH_SERVER, "--database", database,
                                            kek != NULL ? "--key-encryption-key" : "--key-dir",
                                            kek != NULL ? kek : key_arg_dir, "--listen",
                                            "127.0.0.1:0", "--lease", "86400", NULL);
  if (inst->proc == NULL)
    g_error ("cannot start %s: %s", BENCH_SERVER, error->message);
  g_autoptr (GDataInputStream) in
      = g_data_input_stream_new (g_subprocess_get_stdout_pipe (inst->proc));
  g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  const char *prefix = "listening on http://127.0.0.1:";
  if (line == NULL || !g_str_has_prefix (line, prefix))
    g_error ("instance %u did not start (see %s)", index, inst->log);
  inst->port = (guint16) g_ascii_strtoull (line + strlen (prefix), NULL, 10);
}

static void
instance_stop (Instance *inst)
{
  g_autoptr (GError) error = NULL;
  g_subprocess_send_signal (inst->proc, SIGTERM);
  if (!g_subprocess_wait (inst->proc, NULL, &error))
    g_error ("%s", error->message);
  if (!g_subprocess_get_if_exited (inst->proc) || g_subprocess_get_exit_status (inst->proc) != 0)
    g_error ("an instance did not exit 0 (see %s)", inst->log);
  g_clear_object (&inst->proc);
  g_clear_pointer (&inst->log, g_free);
}

static void
db_start_instances (Db *db, guint n)
{
  g_autofree char *keys = g_build_filename (work_dir, "keys", NULL);
  for (; db->n_inst < n; db->n_inst++)
    scale_spawn_instance (&db->inst[db->n_inst], db->server_db, keys, db->n_inst);
}

/* ---------------------------------------------------------------- setup */

typedef struct
{
  Db *db;
  TsStore *store;
  gint64 now;
  gint next; /* atomic: the next organization to make */
} Boot;

static char *
make_member (TsStore *store, const char *org, const char *email, gint64 now)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *uid = ts_store_set_member (store, NULL, org, email, TS_ROLE_MEMBER, now, &error);
  if (uid == NULL)
    g_error ("%s", error->message);
  g_autofree char *kid = NULL;
  char *key = ts_store_create_api_key (store, uid, "bench", now, &kid, &error);
  if (key == NULL)
    g_error ("%s", error->message);
  return key;
}

static char *
make_org (TsStore *store, const char *org, gint64 quota, gint64 now)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *owner = g_strdup_printf ("owner@%s.test", org);
  g_free (ts_store_bootstrap_org (store, org, org, owner, now, &error));
  if (error != NULL)
    g_error ("%s", error->message);
  TsPool *p = ts_store_create_pool (store, NULL, org, "KRE", "floating", "annual", quota,
                                    now + 365 * DAY, now, &error);
  if (p == NULL)
    g_error ("%s", error->message);
  char *id = g_strdup (p->id);
  ts_pool_free (p);
  return id;
}

/* The 1,000 organizations, from several threads: on PostgreSQL their
 * durable commits then share WAL flushes. */
static gpointer
boot_thread (gpointer data)
{
  Boot *boot = data;
  char name[32];
  for (gint k; (k = g_atomic_int_add (&boot->next, 1)) < N_ORGS;)
    {
      org_name (LOAD_SPREAD, (guint) k, name);
      g_free (make_org (boot->store, name, BIG_QUOTA, boot->now));
      g_autofree char *email = g_strdup_printf ("user@%s.test", name);
      boot->db->spread_keys[k] = make_member (boot->store, name, email, boot->now);
    }
  return NULL;
}

static void
db_bootstrap (Db *db)
{
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  TsStore *store = ts_store_open (db->location, &error);
  if (store == NULL)
    g_error ("%s", error->message);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  db->hot_pool = make_org (store, "hot", BIG_QUOTA, now);
  for (guint i = 0; i < N_HOT_KEYS; i++)
    {
      g_autofree char *email = g_strdup_printf ("user%u@hot.test", i);
      db->hot_keys[i] = make_member (store, "hot", email, now);
    }
  char name[32];
  for (guint c = 0; c < N_CELLS; c++)
    {
      org_name (LOAD_SMALL, c, name);
      db->small_pools[c] = make_org (store, name, SMALL_QUOTA, now);
      g_autofree char *email = g_strdup_printf ("user@%s.test", name);
      db->small_keys[c] = make_member (store, name, email, now);
    }
  Boot boot = { .db = db, .store = store, .now = now };
  GThread *threads[8];
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("boot", boot_thread, &boot);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  ts_store_close (store);
  printf ("%s: %d organizations bootstrapped in %.1f s\n", db->backend, N_ORGS + 1 + N_CELLS,
          (g_get_monotonic_time () - t0) / 1e6);
  fflush (stdout);
}

/* @keep: the database stays (PostgreSQL: until with-postgres.sh ends, for
 * a look from the command it runs, e.g. EXPLAIN). */
static void
db_free (Db *db, gboolean keep)
{
  for (guint i = 0; i < db->n_inst; i++)
    instance_stop (&db->inst[i]);
  db->n_inst = 0;
  g_free (db->hot_pool);
  for (guint i = 0; i < N_HOT_KEYS; i++)
    g_free (db->hot_keys[i]);
  for (guint i = 0; i < N_ORGS; i++)
    g_free (db->spread_keys[i]);
  for (guint c = 0; c < N_CELLS; c++)
    {
      g_free (db->small_pools[c]);
      g_free (db->small_keys[c]);
    }
  g_free (db->server_db);
  if (keep && test_store_is_url (db->location))
    {
      g_autofree char *name = test_pg_db_of (db->location);
      printf ("PostgreSQL database %s kept\n", name);
    }
  if (keep)
    g_free (db->location);
  else
    test_store_location_free (db->location);
  g_free (db);
}

/* ---------------------------------------------------------------- client */

static guint
client_org (Client *c, guint i)
{
  switch (c->load)
    {
    case LOAD_HOT:
      return 0;
    case LOAD_SPREAD:
      return (c->index + N_CLIENTS * i) % N_ORGS;
    case LOAD_SMALL:
    default:
      return c->cell;
    }
}

static const char *
org_key (Client *c, guint org)
{
  switch (c->load)
    {
    case LOAD_HOT:
      return c->db->hot_keys[c->index % N_HOT_KEYS];
    case LOAD_SPREAD:
      return c->db->spread_keys[org];
    case LOAD_SMALL:
    default:
      return c->db->small_keys[org];
    }
}

/* The session id of an activation's reply, or NULL. It is in the signed
 * payload, a JSON text inside a JSON string: ..."payload":"{\"session_id\":
 * \"ID\",... (a UUID needs no escape). */
static char *
reply_session_id (GBytes *reply)
{
  static const char key[] = "\\\"session_id\\\":\\\"";
  gsize len = 0;
  const char *data = reply != NULL ? g_bytes_get_data (reply, &len) : NULL;
  const char *p = data != NULL ? g_strstr_len (data, len, key) : NULL;
  const char *q = p != NULL ? p + strlen (key) : NULL;
  const char *e = q != NULL ? memchr (q, '\\', len - (q - data)) : NULL;
  return e != NULL ? g_strndup (q, e - q) : NULL;
}

static void
client_one (Client *c, guint i)
{
  char body[256], name[32];
  guint status = 0;
  GBytes *reply = NULL;
  gboolean closed = FALSE;
  gint64 start = g_get_monotonic_time ();
  switch (c->op)
    {
    case OP_ACTIVATE:
      {
        guint org = client_org (c, i);
        g_snprintf (body, sizeof body,
                    "{\"product\":\"KRE\",\"machine_id\":\"BENCH-%02u\",\"nonce\":\"%s-%02u-%06u\","
                    "\"org_id\":\"%s\"}",
                    c->index, c->tag, c->index, i, org_name (c->load, org, name));
        status = bench_http_post (c->port, org_key (c, org), "/activate", body, &reply, &closed);
        char *sid = status == 200 ? reply_session_id (reply) : NULL;
        if (status == 200 && sid == NULL)
          status = 0;
        if (sid != NULL)
          {
            g_ptr_array_add (c->sessions, sid);
            g_array_append_val (c->sessions_org, org);
          }
        break;
      }
    case OP_HEARTBEAT:
    case OP_RELEASE:
      {
        if (c->sessions->len == 0)
          break; /* its activations failed: counted there and here */
        guint k = c->op == OP_RELEASE ? c->sessions->len - 1 : i % c->sessions->len;
        g_snprintf (body, sizeof body, "{\"session_id\":\"%s\"}",
                    (const char *) c->sessions->pdata[k]);
        status = bench_http_post (c->port, org_key (c, g_array_index (c->sessions_org, guint, k)),
                                  c->op == OP_RELEASE ? "/release" : "/heartbeat", body, &reply,
                                  &closed);
        if (status == 200 && c->op == OP_RELEASE)
          {
            g_ptr_array_remove_index (c->sessions, k);
            g_array_remove_index (c->sessions_org, k);
            c->released++;
          }
        break;
      }
    }
  if (status != 200 && status != 409 && g_getenv ("BENCH_DEBUG") != NULL)
    fprintf (stderr, "op %d: status %u %.*s\n", (int) c->op, status,
             reply != NULL ? (int) g_bytes_get_size (reply) : 0,
             reply != NULL ? (const char *) g_bytes_get_data (reply, NULL) : "");
  g_clear_pointer (&reply, g_bytes_unref);
  double ms = (g_get_monotonic_time () - start) / 1000.0;
  g_array_append_val (c->lat_ms, ms);
  if (status == 200)
    c->ok++;
  else if (status == 409)
    c->rejected++;
  else
    c->failed++;
}

static gpointer
client_thread (gpointer data)
{
  Client *c = data;
  for (guint i = 0; c->count > 0 ? i < c->count : !g_atomic_int_get (c->stop); i++)
    client_one (c, i);
  bench_http_close ();
  return NULL;
}

static Client *
clients_new (Db *db, guint n_inst, Load load, guint cell)
{
  Client *clients = g_new0 (Client, N_CLIENTS);
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i].db = db;
      clients[i].index = i;
      clients[i].port = db->inst[i % n_inst].port;
      clients[i].load = load;
      clients[i].cell = cell;
      clients[i].sessions = g_ptr_array_new_with_free_func (g_free);
      clients[i].sessions_org = g_array_new (FALSE, FALSE, sizeof (guint));
      clients[i].lat_ms = g_array_new (FALSE, FALSE, sizeof (double));
    }
  return clients;
}

static void
clients_free (Client *clients)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_ptr_array_unref (clients[i].sessions);
      g_array_unref (clients[i].sessions_org);
      g_array_unref (clients[i].lat_ms);
    }
  g_free (clients);
}

/* CPU seconds the instances of @db have used so far. */
static double
instances_cpu (Db *db)
{
  double total = 0;
  for (guint i = 0; i < db->n_inst; i++)
    {
      GPid pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (db->inst[i].proc), NULL, 10);
      double s = scale_proc_cpu (pid, FALSE);
      if (s < 0)
        g_error ("cannot read the CPU time of instance %u (pid %d)", i, (int) pid);
      total += s;
    }
  return total;
}

/* CPU seconds PostgreSQL has used so far; -1: not measured. */
static double
database_cpu (Db *db)
{
  return db->postmaster > 0 ? scale_proc_tree_cpu (db->postmaster) : -1;
}

/* Runs @op on every client at once, @count requests each, or for @seconds
 * when @count is 0. */
static void
run_phase (Client *clients, Op op, const char *tag, guint count, double seconds, Phase *ph)
{
  Db *db = clients[0].db;
  GThread *threads[N_CLIENTS];
  gint stop = 0;
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i].op = op;
      clients[i].tag = tag;
      clients[i].count = count;
      clients[i].stop = &stop;
      clients[i].ok = clients[i].failed = clients[i].rejected = 0;
      g_array_set_size (clients[i].lat_ms, 0);
    }
  double inst0 = instances_cpu (db), db0 = database_cpu (db);
  gint64 start = g_get_monotonic_time ();
  for (guint i = 0; i < N_CLIENTS; i++)
    threads[i] = g_thread_new ("client", client_thread, &clients[i]);
  if (count == 0)
    {
      g_usleep ((gulong) (seconds * G_USEC_PER_SEC));
      g_atomic_int_set (&stop, 1);
    }
  for (guint i = 0; i < N_CLIENTS; i++)
    g_thread_join (threads[i]);
  double secs = (g_get_monotonic_time () - start) / 1e6;
  double inst1 = instances_cpu (db), db1 = database_cpu (db);
  GArray *all = g_array_new (FALSE, FALSE, sizeof (double));
  *ph = (Phase){ 0 };
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_array_append_vals (all, clients[i].lat_ms->data, clients[i].lat_ms->len);
      ph->ok += clients[i].ok;
      ph->failed += clients[i].failed;
      ph->rejected += clients[i].rejected;
    }
  g_array_sort (all, bench_compare_doubles);
  ph->per_s = ph->ok / secs;
  ph->inst_cpu_s = inst1 - inst0;
  ph->db_cpu_s = db0 >= 0 && db1 >= 0 ? db1 - db0 : -1;
  ph->p50 = bench_percentile ((double *) all->data, all->len, 0.50);
  ph->p99 = bench_percentile ((double *) all->data, all->len, 0.99);
  g_array_unref (all);
}

/* ---------------------------------------------------------------- cells */

static gboolean quick;
static double phase_seconds = 4;
static gint pool_size; /* --pool-size: per instance; 0: PG_CONNECTIONS shared */

static gint
pool_size_for (guint n_inst)
{
  return pool_size > 0 ? pool_size : (gint) ((PG_CONNECTIONS + n_inst - 1) / n_inst);
}

/* Active sessions in the whole database, behind the servers' backs. */
static guint
db_count_active (Db *db)
{
  return (guint) test_store_count (db->location,
                                   "SELECT count(*) FROM sessions WHERE ended_at IS NULL");
}

/* Measures one cell, then checks the quotas; returns 0 or 1. */
static int
run_cell (Db *db, guint n_inst, Load load, guint cell_index, Cell *cell)
{
  int rc = 0;
  char tag[32];
  cell->backend = db->backend;
  cell->n_inst = n_inst;
  cell->load = load;
  cell->ran = TRUE;
  Client *clients = clients_new (db, n_inst, load, cell_index);
  Phase ph;
  /* warm-up, not measured: the instances' connections to PostgreSQL (the
   * pools fill on demand) and worker threads */
  g_snprintf (tag, sizeof tag, "w%u", cell_index);
  run_phase (clients, OP_ACTIVATE, tag, quick ? 1 : 0, 0.5, &ph);
  db->activated += ph.ok;
  cell->failed += ph.failed;
  g_snprintf (tag, sizeof tag, "a%u", cell_index);
  run_phase (clients, OP_ACTIVATE, tag, quick ? 3 : 0, phase_seconds, &cell->act);
  db->activated += cell->act.ok;
  run_phase (clients, OP_HEARTBEAT, tag, quick ? 6 : 0, phase_seconds, &cell->hb);
  cell->failed += cell->act.failed + cell->act.rejected + cell->hb.failed + cell->hb.rejected;
  /* Releases, so that the check below counts them too, and their CPU: a
   * quarter of each client's sessions. */
  guint fewest = G_MAXUINT;
  for (guint i = 0; i < N_CLIENTS; i++)
    fewest = MIN (fewest, clients[i].sessions->len);
  run_phase (clients, OP_RELEASE, tag, MAX (1, fewest / 4), 0, &cell->rel);
  cell->failed += cell->rel.failed + cell->rel.rejected;
  for (guint i = 0; i < N_CLIENTS; i++)
    db->released += clients[i].released;
  clients_free (clients);

  /* quota 10, 64 clients spread over the instances: exactly 10 seats */
  Client *small = clients_new (db, n_inst, LOAD_SMALL, cell_index);
  Phase sp;
  g_snprintf (tag, sizeof tag, "s%u", cell_index);
  run_phase (small, OP_ACTIVATE, tag, 2, 0, &sp);
  db->activated += sp.ok;
  clients_free (small);
  g_autofree char *sql
      = g_strdup_printf ("SELECT count(*) FROM sessions WHERE ended_at IS NULL AND pool_id = '%s'",
                         db->small_pools[cell_index]);
  guint small_active = (guint) test_store_count (db->location, sql);
  guint active = db_count_active (db);

  const char *what = load == LOAD_HOT ? "hot" : "spread";
  if (active != db->activated - db->released)
    {
      fprintf (stderr,
               "scale-bench: FAIL: %s x %u %s: %u active sessions in the database, %u "
               "activations - %u releases expected\n",
               db->backend, n_inst, what, active, db->activated, db->released);
      rc = 1;
    }
  if (sp.ok != SMALL_QUOTA || small_active != SMALL_QUOTA || sp.failed != 0)
    {
      fprintf (stderr,
               "scale-bench: FAIL: %s x %u %s: quota %d gave %u seats (%u in the database, "
               "%u failed)\n",
               db->backend, n_inst, what, SMALL_QUOTA, sp.ok, small_active, sp.failed);
      rc = 1;
    }
  if (cell->failed != 0)
    {
      fprintf (stderr, "scale-bench: FAIL: %s x %u %s: %u requests failed (see %s)\n", db->backend,
               n_inst, what, cell->failed, work_dir);
      rc = 1;
    }
  printf ("  %-10s x %u %-6s  %7.0f act/s %7.0f hb/s   checks: %u active = %u - %u; quota %d: "
          "%u seats of %u attempts  %s\n",
          db->backend, n_inst, what, cell->act.per_s, cell->hb.per_s, active, db->activated,
          db->released, SMALL_QUOTA, sp.ok, sp.ok + sp.rejected + sp.failed,
          rc == 0 ? "ok" : "FAIL");
  fflush (stdout);
  return rc;
}

/* @n_inst: the instances that will share it (PostgreSQL: their pool_size). */
static Db *
db_new (const char *backend, gboolean pg, guint n_inst)
{
  Db *db = g_new0 (Db, 1);
  db->backend = backend;
  if (pg)
    {
      db->location = test_store_location (work_dir);
      db->server_db = g_strdup_printf ("%s%cpool_size=%d", db->location,
                                       strchr (db->location, '?') != NULL ? '&' : '?',
                                       pool_size_for (n_inst));
      g_autofree char *why = NULL;
      db->postmaster = scale_pg_postmaster (db->location, &why);
      if (db->postmaster > 0)
        printf ("PostgreSQL: postmaster pid %d; its processes' CPU is the database's\n",
                (int) db->postmaster);
      else
        printf ("PostgreSQL: its CPU is not measured (%s)\n", why);
    }
  else
    {
      /* test_store_location() would make a PostgreSQL database here. */
      db->location = g_build_filename (work_dir, "store.db", NULL);
      db->server_db = g_strdup (db->location);
    }
  db_bootstrap (db);
  return db;
}

int
main (int argc, char **argv)
{
  gboolean keep = FALSE;
  const GOptionEntry entries[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &quick, "A few requests per client (smoke test)", NULL },
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &phase_seconds,
      "Seconds per measured phase (default 4)", "S" },
    { "keep", 0, 0, G_OPTION_ARG_NONE, &keep, "Keep the databases and server logs", NULL },
    { "pool-size", 0, 0, G_OPTION_ARG_INT, &pool_size,
      "PostgreSQL connections per instance (default: 16 shared by the instances)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- tessera-server scale-out bench");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "scale-bench: %s\n", error->message);
      return 1;
    }
  if (pool_size < 0 || pool_size > 64)
    {
      fprintf (stderr, "scale-bench: --pool-size must be 1 to 64\n");
      return 1;
    }
  if (phase_seconds <= 0 || phase_seconds > 600)
    {
      fprintf (stderr, "scale-bench: --seconds must be above 0 and at most 600\n");
      return 1;
    }
  work_dir = g_dir_make_tmp ("tessera-scale-bench-XXXXXX", &error);
  if (work_dir == NULL)
    g_error ("%s", error->message);

  gboolean pg = test_store_postgresql ();
  char per_phase[32];
  g_snprintf (per_phase, sizeof per_phase, "%.1f s", phase_seconds);
  printf ("scale-bench: %d clients (lean HTTP/1.1, keep-alive; client i -> instance i mod N), "
          "%s per phase; %d organizations for \"spread\"%s\n",
          N_CLIENTS, quick ? "a few requests" : per_phase, N_ORGS,
          quick ? " [--quick: figures meaningless]" : "");
  if (pg)
    printf ("PostgreSQL: a fresh database for each of 1, 2, 3 instances; pool_size %d, %d, %d per "
            "instance%s\n",
            pool_size_for (1), pool_size_for (2), pool_size_for (3),
            pool_size > 0 ? " (--pool-size)" : " (16 connections shared)");
  else
    printf ("TESSERA_TEST_POSTGRES is not set: the PostgreSQL rows are skipped (run under "
            "tests/with-postgres.sh)\n");
  fflush (stdout);

  Cell cells[N_CELLS];
  memset (cells, 0, sizeof cells);
  int rc = 0;
  guint ci = 0;

  Db *lite = db_new ("SQLite", FALSE, 1);
  db_start_instances (lite, 1);
  rc |= run_cell (lite, 1, LOAD_HOT, ci, &cells[ci]);
  ci++;
  rc |= run_cell (lite, 1, LOAD_SPREAD, ci, &cells[ci]);
  ci++;
  db_free (lite, rc != 0 || keep);

  if (pg)
    {
      /* Each instance count on a database of its own, bootstrapped the same
       * way: cells that shared one would differ in more than their instance
       * count (x 3 would count seats in pools holding the sessions x 1 and
       * x 2 left, in tables they had grown). */
      for (guint n = 1; n <= MAX_INSTANCES; n++)
        {
          Db *db = db_new ("PostgreSQL", TRUE, n);
          db_start_instances (db, n);
          rc |= run_cell (db, n, LOAD_HOT, ci, &cells[ci]);
          ci++;
          rc |= run_cell (db, n, LOAD_SPREAD, ci, &cells[ci]);
          ci++;
          db_free (db, keep);
        }
    }

  scale_report (cells, quick);
  if (rc != 0 || keep)
    printf ("\nserver logs and the SQLite database kept in %s\n", work_dir);
  else
    {
      const char *rm[] = { "rm", "-rf", "--", work_dir, NULL };
      if (!g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                         NULL, NULL))
        fprintf (stderr, "scale-bench: cannot remove %s\n", work_dir);
    }
  g_free (work_dir);
  return rc;
}
