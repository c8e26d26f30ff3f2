/* ts_store_heartbeat_async() (server/store-sessions.c): heartbeats queued
 * from many threads at once reach the store's lease writer, each answered
 * exactly once with its own result; bad arguments are answered at once;
 * ts_store_close() answers every queued one before it returns. On a real
 * SQLite file (or PostgreSQL under tests/with-postgres.sh: store-backend.h). */
#include "store-fixture.h"

#include <string.h>

#define NOW ((gint64) 1700000000)
#define SUB_END (NOW + 365 * (gint64) 86400)
#define LEASE 60
#define N_SESSIONS 8

typedef struct
{
  char *dir;
  char *path;
  TsStore *store;
  char *member;
  char *pool;
  char *sessions[N_SESSIONS];
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  f->store = test_store_fresh (&f->dir, &f->path);
  g_autofree char *owner = test_store_org (f->store, "acme", "Acme", "owner@acme.test", NOW);
  f->member = test_store_member (f->store, owner, "acme", "member@acme.test", TS_ROLE_MEMBER, NOW);
  f->pool = test_store_pool_id (f->store, "acme", "KRE", "floating", "annual", N_SESSIONS, SUB_END,
                                NOW);
  for (guint i = 0; i < N_SESSIONS; i++)
    {
      g_autofree char *machine = g_strdup_printf ("M-%u", i);
      g_autofree char *nonce = g_strdup_printf ("nonce-lease-%u", i);
      TsSession *s = ts_store_activate (f->store, f->member, "acme", "KRE", machine, nonce, LEASE,
                                        NOW, &error);
      g_assert_no_error (error);
      f->sessions[i] = g_strdup (s->id);
      ts_session_free (s);
    }
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  test_store_fresh_free (f->store, f->path, f->dir);
  for (guint i = 0; i < N_SESSIONS; i++)
    g_free (f->sessions[i]);
  g_free (f->member);
  g_free (f->pool);
}

/* One queued heartbeat: what its callback saw. */
typedef struct
{
  const char *session_id;
  gint64 now;
  gint calls; /* atomic */
  gint64 lease_expires_at;
  char *answered_id;
  GError *error;
  GThread *thread; /* the thread of the callback */
} Beat;

typedef struct
{
  GMutex lock;
  GCond cond;
  guint done;
} Counter;

static Counter counter;

static void
beat_done (TsSession *s, GError *error, gpointer data)
{
  Beat *b = data;
  g_atomic_int_inc (&b->calls);
  g_assert_true ((s == NULL) != (error == NULL));
  b->thread = g_thread_self ();
  if (s != NULL)
    {
      b->lease_expires_at = s->lease_expires_at;
      b->answered_id = g_strdup (s->id);
      ts_session_free (s);
    }
  b->error = error;
  g_mutex_lock (&counter.lock);
  counter.done++;
  g_cond_broadcast (&counter.cond);
  g_mutex_unlock (&counter.lock);
}

static void
counter_wait (guint n)
{
  g_mutex_lock (&counter.lock);
  while (counter.done < n)
    g_cond_wait (&counter.cond, &counter.lock);
  g_mutex_unlock (&counter.lock);
}

static void
counter_reset (void)
{
  g_mutex_lock (&counter.lock);
  counter.done = 0;
  g_mutex_unlock (&counter.lock);
}

static void
beat_clear (Beat *b)
{
  g_clear_pointer (&b->answered_id, g_free);
  g_clear_error (&b->error);
}

#define N_THREADS 8
#define PER_THREAD 100

typedef struct
{
  Fixture *f;
  Beat *beats; /* PER_THREAD of them */
} Queuer;

static gpointer
queuer_thread (gpointer data)
{
  Queuer *q = data;
  for (guint i = 0; i < PER_THREAD; i++)
    ts_store_heartbeat_async (q->f->store, q->f->member, q->beats[i].session_id, LEASE,
                              q->beats[i].now, beat_done, &q->beats[i]);
  return NULL;
}

/* 8 threads queue 800 heartbeats on 8 sessions at once: every one is
 * answered once, with its own session and its own lease. */
static void
test_many (Fixture *f, gconstpointer data)
{
  (void) data;
  counter_reset ();
  Beat *beats = g_new0 (Beat, N_THREADS * PER_THREAD);
  Queuer queuers[N_THREADS];
  GThread *threads[N_THREADS];
  for (guint t = 0; t < N_THREADS; t++)
    {
      queuers[t] = (Queuer){ f, beats + t * PER_THREAD };
      for (guint i = 0; i < PER_THREAD; i++)
        {
          Beat *b = &queuers[t].beats[i];
          b->session_id = f->sessions[(t + i) % N_SESSIONS];
          b->now = NOW + 1 + (gint64) (i % 5);
        }
    }
  for (guint t = 0; t < N_THREADS; t++)
    threads[t] = g_thread_new ("queuer", queuer_thread, &queuers[t]);
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);
  counter_wait (N_THREADS * PER_THREAD);
  for (guint i = 0; i < N_THREADS * PER_THREAD; i++)
    {
      Beat *b = &beats[i];
      g_assert_cmpint (g_atomic_int_get (&b->calls), ==, 1);
      g_assert_no_error (b->error);
      g_assert_cmpstr (b->answered_id, ==, b->session_id);
      g_assert_cmpint (b->lease_expires_at, ==, b->now + LEASE);
      /* answered by the lease writer, not the queueing thread */
      for (guint t = 0; t < N_THREADS; t++)
        g_assert_true (b->thread != threads[t]);
      beat_clear (b);
    }
  g_free (beats);
  /* The leases are in the database: the latest heartbeat of each session
   * (NOW + 5 at most) set it. */
  GError *error = NULL;
  TsSession *s = ts_store_heartbeat (f->store, f->member, f->sessions[0], LEASE, NOW + 5, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->lease_expires_at, ==, NOW + 5 + LEASE);
  ts_session_free (s);
}

/* Bad arguments are answered before ts_store_heartbeat_async() returns, in
 * the calling thread; an unknown or ended session through the writer, with
 * its own error. */
static void
test_errors (Fixture *f, gconstpointer data)
{
  (void) data;
  counter_reset ();
  Beat bad[3] = { { .session_id = "" }, { .session_id = f->sessions[0] }, { .session_id = NULL } };
  ts_store_heartbeat_async (f->store, f->member, "", LEASE, NOW + 1, beat_done, &bad[0]);
  ts_store_heartbeat_async (f->store, f->member, f->sessions[0], 1, NOW + 1, beat_done, &bad[1]);
  ts_store_heartbeat_async (f->store, "", f->sessions[0], LEASE, NOW + 1, beat_done, &bad[2]);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_cmpint (g_atomic_int_get (&bad[i].calls), ==, 1);
      g_assert_true (bad[i].thread == g_thread_self ());
      g_assert_error (bad[i].error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      beat_clear (&bad[i]);
    }

  GError *error = NULL;
  g_assert_true (ts_store_release (f->store, f->member, f->sessions[1], NOW + 2, &error));
  g_assert_no_error (error);
  Beat unknown = { .session_id = "no-such-session" };
  Beat ended = { .session_id = f->sessions[1] };
  Beat fine = { .session_id = f->sessions[2], .now = NOW + 3 };
  counter_reset ();
  ts_store_heartbeat_async (f->store, f->member, unknown.session_id, LEASE, NOW + 3, beat_done,
                            &unknown);
  ts_store_heartbeat_async (f->store, f->member, ended.session_id, LEASE, NOW + 3, beat_done,
                            &ended);
  ts_store_heartbeat_async (f->store, f->member, fine.session_id, LEASE, NOW + 3, beat_done, &fine);
  counter_wait (3);
  g_assert_error (unknown.error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_assert_error (ended.error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
  g_assert_nonnull (strstr (ended.error->message, "released"));
  g_assert_no_error (fine.error);
  g_assert_cmpint (fine.lease_expires_at, ==, NOW + 3 + LEASE);
  beat_clear (&unknown);
  beat_clear (&ended);
  beat_clear (&fine);
}

/* Closing the store with heartbeats queued answers them all first, and
 * commits them: a reopened store has the leases. */
static void
test_close_drains (Fixture *f, gconstpointer data)
{
  (void) data;
  counter_reset ();
  Beat beats[400];
  memset (beats, 0, sizeof beats);
  for (guint i = 0; i < G_N_ELEMENTS (beats); i++)
    {
      beats[i].session_id = f->sessions[i % N_SESSIONS];
      beats[i].now = NOW + 7;
      ts_store_heartbeat_async (f->store, f->member, beats[i].session_id, LEASE, beats[i].now,
                                beat_done, &beats[i]);
    }
  ts_store_close (f->store);
  g_assert_cmpuint (counter.done, ==, G_N_ELEMENTS (beats));
  for (guint i = 0; i < G_N_ELEMENTS (beats); i++)
    {
      g_assert_cmpint (beats[i].calls, ==, 1);
      g_assert_no_error (beats[i].error);
      beat_clear (&beats[i]);
    }
  GError *error = NULL;
  f->store = test_store_open (f->path);
  GPtrArray *list = ts_store_list_sessions (f->store, NULL, "acme", f->pool, NOW + 7, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, N_SESSIONS);
  for (guint i = 0; i < list->len; i++)
    g_assert_cmpint (((TsSession *) list->pdata[i])->lease_expires_at, ==, NOW + 7 + LEASE);
  g_ptr_array_unref (list);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_mutex_init (&counter.lock);
  g_cond_init (&counter.cond);
#define ADD(path, func)                                                                            \
  g_test_add ("/store-lease/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("many-threads", test_many);
  ADD ("errors", test_errors);
  ADD ("close-drains", test_close_drains);
#undef ADD
  return g_test_run ();
}
