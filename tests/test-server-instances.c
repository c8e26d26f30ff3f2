/* Several real tessera-server processes on one PostgreSQL database (issue
 * 9): 64 clients spread over 3 instances never exceed a quota of 10; an
 * instance killed with SIGKILL mid-load loses and duplicates no seat while
 * its clients move to the others with the same nonce; every instance
 * reaping at once ends each expired session exactly once. Run by ctest
 * under tests/with-postgres.sh; exits 77 (skipped) without
 * TESSERA_TEST_POSTGRES. */
#include "answer-payload.h"
#include "instances-util.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#define N_CLIENTS 64
#define QUOTA 10
#define DAY (24 * 3600)

typedef struct
{
  InstancesBase b;
} Fixture;

static void
start_instances (Fixture *f, const char *const *extra)
{
  for (guint i = 0; i < N_INSTANCES; i++)
    f->b.procs[i]
        = server_util_spawn (f->b.db, f->b.keys, f->b.logs[i], extra, FALSE, &f->b.urls[i]);
}

static void
setup (Fixture *f, gconstpointer data)
{
  instances_base_setup (&f->b, QUOTA);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  instances_base_teardown (&f->b);
}

static gint64
active_sessions (Fixture *f)
{
  g_autofree char *sql = g_strdup_printf (
      "SELECT count(*) FROM sessions WHERE pool_id = '%s' AND ended_at IS NULL", f->b.pool);
  return test_store_count (f->b.db, sql);
}

/* ---- a client that fails over ---- */

typedef struct
{
  Fixture *f;
  guint index;
  SoupSession *session;
  guint instance; /* the one it uses now */
  guint nonces;   /* activations it asked for: each a new nonce */
  gint *budget;   /* activations left to try, shared (atomic) */
  gint *stop;     /* atomic */
  /* results */
  guint activated;
  guint refused; /* 409 quota-exceeded */
  guint failovers;
  char *held; /* the session it holds now */
  GPtrArray *released;
  GString *problems; /* anything unexpected, reported by the test */
} Client;

/* POST @path with @body to the client's instance; on a transport failure
 * (no HTTP answer: a killed instance) the same request goes to the next
 * instance, up to once around. Returns the status (0: none answered) and
 * the answer's JSON object in *@out (nullable). */
static guint
post (Client *c, const char *path, const char *body, JsonObject **out)
{
  for (guint tries = 0; tries < N_INSTANCES; tries++)
    {
      g_autofree char *url = g_strconcat (c->f->b.urls[c->instance], "/api/v1", path, NULL);
      guint status = instances_post_once (c->session, url, c->f->b.key, body, out);
      if (status == 0)
        {
          c->instance = (c->instance + 1) % N_INSTANCES;
          c->failovers++;
          continue;
        }
      return status;
    }
  return 0;
}

static gpointer
client_run (gpointer data)
{
  Client *c = data;
  for (guint n = 0; !g_atomic_int_get (c->stop); n++)
    {
      if (c->held == NULL)
        {
          /* @budget counts activation attempts, shared by all clients */
          if (c->budget != NULL && g_atomic_int_add (c->budget, -1) <= 0)
            break;
          /* a retry (post() to another instance) keeps the nonce; a new
           * activation, also in a later run, never reuses one: the server
           * would answer with the old session, ended or not */
          g_autofree char *body = g_strdup_printf (
              "{\"product\":\"KRE\",\"machine_id\":\"M-%u\",\"nonce\":\"nonce-%03u-%u\"}",
              c->index % QUOTA, c->index, c->nonces++);
          JsonObject *o = NULL;
          guint st = post (c, "/activate", body, &o);
          if (st == 200)
            {
              c->activated++;
              g_autoptr (JsonObject) p = answer_payload (o);
              c->held = g_strdup (json_object_get_string_member (p, "session_id"));
            }
          else if (st == 409)
            c->refused++;
          else
            g_string_append_printf (c->problems, "client %u: activate answered %u\n", c->index, st);
          g_clear_pointer (&o, json_object_unref);
          if (st == 409)
            g_usleep (g_random_int_range (1, 10) * 1000);
          continue;
        }
      if (c->budget != NULL)
        break; /* it keeps its seat */
      g_autofree char *body = g_strdup_printf ("{\"session_id\":\"%s\"}", c->held);
      if (n % 4 == 3)
        {
          /* churn: give the seat back, so seats move between clients
           * while an instance dies */
          guint st = post (c, "/release", body, NULL);
          if (st != 200)
            g_string_append_printf (c->problems, "client %u: release answered %u\n", c->index, st);
          g_ptr_array_add (c->released, g_steal_pointer (&c->held));
          continue;
        }
      guint st = post (c, "/heartbeat", body, NULL);
      if (st != 200)
        g_string_append_printf (c->problems, "client %u: heartbeat of %s answered %u\n", c->index,
                                c->held, st);
    }
  return NULL;
}

static void
clients_init (Fixture *f, Client *clients, gint *budget, gint *stop)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    clients[i] = (Client){
      .f = f,
      .index = i,
      .session = soup_session_new_with_options ("timeout", 60, NULL),
      .instance = i % N_INSTANCES,
      .budget = budget,
      .stop = stop,
      .released = g_ptr_array_new_with_free_func (g_free),
      .problems = g_string_new (NULL),
    };
}

static void
clients_clear (Client *clients)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_object_unref (clients[i].session);
      g_free (clients[i].held);
      g_ptr_array_unref (clients[i].released);
      g_string_free (clients[i].problems, TRUE);
    }
}

/* Runs every client to its end (a budget spent); returns the activations
 * they got, and in *@refused (nullable) the quota refusals. */
static guint
clients_run (Client *clients, guint *refused)
{
  GThread *threads[N_CLIENTS];
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i].activated = clients[i].refused = 0;
      threads[i] = g_thread_new ("client", client_run, &clients[i]);
    }
  guint activated = 0;
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_thread_join (threads[i]);
      activated += clients[i].activated;
      if (refused != NULL)
        *refused += clients[i].refused;
    }
  return activated;
}

static void
assert_no_problems (Client *clients)
{
  GString *all = g_string_new (NULL);
  for (guint i = 0; i < N_CLIENTS; i++)
    g_string_append (all, clients[i].problems->str);
  if (all->len > 0)
    g_error ("%s", all->str);
  g_string_free (all, TRUE);
}

/* ---- tests ---- */

/* 600 activations by 64 clients over 3 instances, quota 10: exactly 10
 * seats, however the requests fall. */
static void
quota_run (Fixture *f)
{
  gint budget = 600, stop = 0;
  Client clients[N_CLIENTS];
  clients_init (f, clients, &budget, &stop);
  guint refused = 0;
  guint activated = clients_run (clients, &refused);
  assert_no_problems (clients);
  g_assert_cmpuint (activated, ==, QUOTA);
  g_assert_cmpuint (activated + refused, ==, 600);
  g_assert_cmpint (active_sessions (f), ==, QUOTA);
  clients_clear (clients);
}

static void
test_quota (Fixture *f, gconstpointer data)
{
  start_instances (f, NULL);
  quota_run (f);
}

/* The same with one connection per instance, and so one worker each
 * (ts_http_setup()): 64 clients queue at three workers; each answered,
 * still exactly 10 seats. */
static void
test_quota_one_connection (Fixture *f, gconstpointer data)
{
  g_autofree char *db
      = g_strdup_printf ("%s%cpool_size=1", f->b.db, strchr (f->b.db, '?') != NULL ? '&' : '?');
  for (guint i = 0; i < N_INSTANCES; i++)
    f->b.procs[i] = server_util_spawn (db, f->b.keys, f->b.logs[i], NULL, FALSE, &f->b.urls[i]);
  quota_run (f);
}

/* An instance killed mid-load: its clients carry on at the others (the
 * same nonce on a retried activation), and afterwards the database holds
 * exactly the sessions the clients hold, within the quota. */
static void
test_sigkill (Fixture *f, gconstpointer data)
{
  start_instances (f, NULL);
  gint stop = 0;
  Client clients[N_CLIENTS];
  GThread *threads[N_CLIENTS];
  clients_init (f, clients, NULL, &stop);
  for (guint i = 0; i < N_CLIENTS; i++)
    threads[i] = g_thread_new ("client", client_run, &clients[i]);
  /* under load: some seats taken and given back */
  for (guint t = 0; t < 3000; t++)
    {
      guint churn = 0;
      for (guint i = 0; i < N_CLIENTS; i++)
        churn += clients[i].released->len;
      if (churn >= 20)
        break;
      g_usleep (10 * 1000);
    }
  g_subprocess_send_signal (f->b.procs[0], SIGKILL);
  g_subprocess_wait (f->b.procs[0], NULL, NULL);
  g_assert_true (g_subprocess_get_if_signaled (f->b.procs[0]));
  g_clear_object (&f->b.procs[0]);
  g_usleep (1500 * 1000); /* the load goes on at the others */
  g_atomic_int_set (&stop, 1);
  guint failovers = 0, activated = 0;
  GHashTable *held = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_thread_join (threads[i]);
      failovers += clients[i].failovers;
      activated += clients[i].activated;
      if (clients[i].held != NULL)
        g_assert_true (g_hash_table_add (held, clients[i].held)); /* no seat twice */
    }
  assert_no_problems (clients);
  g_test_message ("%u activations, %u failovers, %u seats held at the end", activated, failovers,
                  g_hash_table_size (held));
  g_assert_cmpuint (failovers, >, 0); /* instance 0's clients moved */
  g_assert_cmpuint (g_hash_table_size (held), <=, QUOTA);

  /* The database's active sessions are exactly the held ones: none lost
   * (a held seat gone), none duplicated (an activation whose answer the
   * kill cut off, retried elsewhere, is the same session). */
  TestDb *db = test_db_open (f->b.db);
  gint64 active = test_db_count_active (db, f->b.pool, now_s ());
  test_db_close (db);
  g_assert_cmpint (active, ==, g_hash_table_size (held));
  GHashTableIter it;
  gpointer id;
  g_hash_table_iter_init (&it, held);
  while (g_hash_table_iter_next (&it, &id, NULL))
    {
      g_autofree char *sql = g_strdup_printf (
          "SELECT count(*) FROM sessions WHERE id = '%s' AND ended_at IS NULL", (char *) id);
      g_assert_cmpint (test_store_count (f->b.db, sql), ==, 1);
    }
  /* released seats stay released */
  for (guint i = 0; i < N_CLIENTS; i++)
    for (guint j = 0; j < clients[i].released->len; j++)
      {
        g_autofree char *sql
            = g_strdup_printf ("SELECT count(*) FROM sessions WHERE id = '%s' AND ended_at IS NULL",
                               (char *) g_ptr_array_index (clients[i].released, j));
        g_assert_cmpint (test_store_count (f->b.db, sql), ==, 0);
      }
  g_hash_table_unref (held);
  clients_clear (clients);
}

/* Every instance reaps (a short lease, a reap each second): each expired
 * session ends once (what the instances report adds up to the sessions
 * there were), the seats come back, and no instance reports an error. */
static void
test_reap (Fixture *f, gconstpointer data)
{
  const char *const args[] = { "--lease", "8", "--reap-interval", "1", NULL };
  start_instances (f, args);
  gint budget = 40, stop = 0;
  Client clients[N_CLIENTS];
  clients_init (f, clients, &budget, &stop);
  guint activated = clients_run (clients, NULL);
  assert_no_problems (clients);
  /* at least the quota; more only where a lease ran out meanwhile (a slow
   * machine) and another client took the seat */
  g_assert_cmpuint (activated, >=, QUOTA);
  g_assert_cmpint (active_sessions (f), <=, QUOTA);
  /* nobody heart-beats: all expire and are reaped */
  for (guint t = 0; t < 300 && active_sessions (f) > 0; t++)
    g_usleep (100 * 1000);
  g_assert_cmpint (active_sessions (f), ==, 0);
  g_autofree char *ended = g_strdup_printf (
      "SELECT count(*) FROM sessions WHERE pool_id = '%s' AND ended_at IS NOT NULL", f->b.pool);
  g_assert_cmpint (test_store_count (f->b.db, ended), ==, activated);
  guint reaped = 0;
  for (guint i = 0; i < N_INSTANCES; i++)
    {
      g_autofree char *log = NULL;
      g_assert_true (g_file_get_contents (f->b.logs[i], &log, NULL, NULL));
      if (strstr (log, "reaping expired sessions failed") != NULL)
        g_error ("instance %u: %s", i, log);
      g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
      for (guint l = 0; lines[l] != NULL; l++)
        {
          guint n = 0;
          const char *at = strstr (lines[l], " info reaped ");
          if (at != NULL && sscanf (at, " info reaped %u expired session", &n) == 1)
            reaped += n;
        }
    }
  g_assert_cmpuint (reaped, ==, activated);
  /* the seats are free again, at any instance */
  budget = 20;
  for (guint i = 0; i < N_CLIENTS; i++)
    g_clear_pointer (&clients[i].held, g_free);
  guint again = clients_run (clients, NULL);
  assert_no_problems (clients);
  g_assert_cmpuint (again, >=, QUOTA);
  g_assert_cmpint (active_sessions (f), <=, QUOTA);
  clients_clear (clients);
}

/* The product's path: an engine whose online provider lists the three
 * instances. The instance that granted the seat is killed; validation
 * (heart-beating) moves to the next, the seat is never duplicated, and
 * release frees it there. A new activation starting at the dead instance
 * gets its seat from another. */
static void
test_product_failover (Fixture *f, gconstpointer data)
{
  start_instances (f, NULL);
  g_autofree char *full = g_strconcat (f->b.urls[1], "/api/v1/public-key", NULL);
  g_autoptr (SoupSession) session = soup_session_new ();
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", full);
  GError *error = NULL;
  g_autoptr (GBytes) pub = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *pub_path = g_build_filename (f->b.dir, "server.pub", NULL);
  g_assert_true (g_file_set_contents (pub_path, g_bytes_get_data (pub, NULL),
                                      (gssize) g_bytes_get_size (pub), &error));
  g_autofree char *state = g_build_filename (f->b.dir, "state", NULL);
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=testops\n[provider:testops]\nserver=%s;%s;%s\nallow-http=true\n"
      "server-key=%s\nkey-storage=env-only\nstate-dir=%s\n",
      f->b.urls[0], f->b.urls[1], f->b.urls[2], pub_path, state);
  g_autoptr (TesseraEngine) engine = tessera_engine_new_from_data (config, -1, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraActivateOptions) o = tessera_activate_options_new ();
  tessera_activate_options_set (o, TESSERA_OPTION_API_KEY, f->b.key);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", o, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, f->b.urls[0]);
  g_assert_cmpint (active_sessions (f), ==, 1);

  g_subprocess_send_signal (f->b.procs[0], SIGKILL);
  g_subprocess_wait (f->b.procs[0], NULL, NULL);
  g_clear_object (&f->b.procs[0]);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (tessera_license_validate (license, NULL, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpint (active_sessions (f), ==, 1);

  /* a second seat, asked of the dead instance first */
  g_autoptr (TesseraEngine) engine2 = tessera_engine_new_from_data (config, -1, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraLicense) second = tessera_engine_activate (engine2, "KRE", o, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (second, "testops.server"), !=, f->b.urls[0]);
  g_assert_cmpint (active_sessions (f), ==, 2);

  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (second, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (active_sessions (f), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!test_store_postgresql ())
    {
      g_printerr ("test-server-instances: needs TESSERA_TEST_POSTGRES (tests/with-postgres.sh)\n");
      return 77;
    }
  g_test_add ("/instances/quota", Fixture, NULL, setup, test_quota, teardown);
  g_test_add ("/instances/quota/one-connection", Fixture, NULL, setup, test_quota_one_connection,
              teardown);
  g_test_add ("/instances/sigkill", Fixture, NULL, setup, test_sigkill, teardown);
  g_test_add ("/instances/reap", Fixture, NULL, setup, test_reap, teardown);
  g_test_add ("/instances/product-failover", Fixture, NULL, setup, test_product_failover, teardown);
  return g_test_run ();
}
