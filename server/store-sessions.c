/* tessera-store on SQLite: the lease writer, which runs the heartbeats
 * (their rules: store-heartbeat.c, the same on every engine) several in one
 * write. */
#include "db-engine.h"
#include "store-private.h"

/* ---- heartbeats: the lease writer ----
 *
 * A heartbeat is a small write, and every write takes the one writer
 * connection in turn: with 64 clients, each heartbeat handed write_lock
 * to the next worker and then slept again until its batch committed (two
 * context switches a heartbeat; perf on server-bench: the scheduler and
 * futexes were a third of the server's CPU). So heartbeats queue up here
 * instead, and one thread of the store's own, the lease writer, runs every
 * queued heartbeat in one write (each in its own savepoint: a failure undoes only itself)
 * and, once it is committed, calls each one's callback. Nobody else waits:
 * ts_store_heartbeat_async() queues and returns, so the server's HTTP
 * thread answers a heartbeat itself without a worker (two wake-ups fewer a
 * heartbeat; server-bench: CPU a heartbeat -10 to -20%). The rules
 * are the same as one write per heartbeat: each heartbeat is checked and
 * extended under the write lock, seeing every earlier write. */

typedef struct
{
  TsCaller *who;
  const char *session_id;
  gint64 lease_seconds;
  gint64 now;
  TsSession *result; /* the extended session, or NULL with @error */
  GError *error;
  TsHeartbeatDone done;
  gpointer data;
} TsLeaseItem;

static void
ts_lease_item_done (TsLeaseItem *it)
{
  it->done (it->result, it->error, it->data);
  g_free (it);
}

/* Heartbeats in one write at most: the write lock is held for no longer,
 * and the first answers wait for no more. */
#define TS_LEASE_MAX_COMBINED 256

/* One heartbeat in the lease writer's write (the rules: ts_tx_heartbeat(),
 * the same on every engine): *ended is set when it ends the session. */
static gboolean
ts_heartbeat_one (TsSqliteStore *store, sqlite3 *db, TsLeaseItem *it, GError **ended,
                  GError **error)
{
  TsTx *tx = ts_tx_wrap (&ts_tx_sqlite_ops, store, db, TS_TX_LEASE);
  gboolean ok = ts_tx_heartbeat (tx, it->who, it->session_id, it->lease_seconds, it->now,
                                 &it->result, ended, error);
  ts_tx_unwrap (tx);
  return ok;
}

/* The lease writer's write: runs @items (TsLeaseItem *, taken from lease_pending) and
 * whatever queues up meanwhile, in one write, then answers them all. */
static void
ts_lease_combine (TsSqliteStore *store, GQueue *items)
{
  GError *error = NULL;
  sqlite3 *db = ts_db_begin_lease (store, &error);
  GQueue ran = G_QUEUE_INIT;
  /* Alone (the usual case on two cores: ~1.3 heartbeats a write), a
   * heartbeat is the whole write and needs no savepoint of its own: if it
   * fails, so does the write, and nothing joins it. */
  gboolean alone = items->length == 1;
  gboolean write_ok = TRUE;
  while (db != NULL && !g_queue_is_empty (items))
    {
      TsLeaseItem *it;
      while ((it = g_queue_pop_head (items)) != NULL)
        {
          GError *ended = NULL;
          gboolean ok = alone || ts_db_item_begin (db, &it->error);
          if (ok && alone)
            write_ok = ok = ts_heartbeat_one (store, db, it, &ended, &it->error);
          else if (ok)
            {
              ok = ts_heartbeat_one (store, db, it, &ended, &it->error);
              ts_db_item_end (db, ok);
            }
          if (!ok)
            {
              g_clear_error (&ended);
              g_clear_pointer (&it->result, ts_session_free);
            }
          else if (ended != NULL)
            it->error = ended; /* reported once committed */
          g_queue_push_tail (&ran, it);
        }
      if (!write_ok)
        break;
      alone = FALSE;
      /* Heartbeats that came while this write ran join it. */
      g_mutex_lock (&store->lease_lock);
      while (ran.length + items->length < TS_LEASE_MAX_COMBINED
             && (it = g_queue_pop_head (&store->lease_pending)) != NULL)
        g_queue_push_tail (items, it);
      g_mutex_unlock (&store->lease_lock);
    }
  /* ts_db_finish() waits for the batch's commit: nobody is answered
   * before it. */
  if (db != NULL && !ts_db_finish (store, db, write_ok, &error))
    db = NULL;
  TsLeaseItem *it;
  while ((it = g_queue_pop_head (&ran)) != NULL || (it = g_queue_pop_head (items)) != NULL)
    {
      if (db == NULL && write_ok)
        {
          /* Nothing of this write was committed. */
          g_clear_error (&it->error);
          g_clear_pointer (&it->result, ts_session_free);
          it->error = g_error_copy (error);
        }
      ts_lease_item_done (it);
    }
  g_clear_error (&error);
}

/* The lease writer: a thread of the store's own, which runs whatever
 * heartbeats are queued in one write, then answers them, until
 * ts_store_close() stops it. Its callers never wait for a write (not even
 * the first of a burst, as a combiner taken from the callers did), so an
 * HTTP thread may queue heartbeats itself. */
static gpointer
ts_lease_writer (gpointer data)
{
  TsSqliteStore *store = data;
  g_mutex_lock (&store->lease_lock);
  for (;;)
    {
      while (g_queue_is_empty (&store->lease_pending) && !store->lease_stop)
        g_cond_wait (&store->lease_cond, &store->lease_lock);
      if (g_queue_is_empty (&store->lease_pending))
        break; /* stopping, and nothing left */
      GQueue items = G_QUEUE_INIT;
      TsLeaseItem *it;
      while (items.length < TS_LEASE_MAX_COMBINED
             && (it = g_queue_pop_head (&store->lease_pending)) != NULL)
        g_queue_push_tail (&items, it);
      store->lease_combining = TRUE;
      g_mutex_unlock (&store->lease_lock);
      ts_lease_combine (store, &items);
      g_mutex_lock (&store->lease_lock);
      store->lease_combining = FALSE;
    }
  g_mutex_unlock (&store->lease_lock);
  return NULL;
}

/* Queues a heartbeat whose arguments were checked (ts_heartbeat_check()). */
void
ts_sqlite_heartbeat_async (TsSqliteStore *store, TsCaller *who, const char *session_id,
                           gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data)
{
  TsLeaseItem *item = g_new0 (TsLeaseItem, 1);
  *item = (TsLeaseItem){ .who = who,
                         .session_id = session_id,
                         .lease_seconds = lease_seconds,
                         .now = now,
                         .done = done,
                         .data = data };
  g_mutex_lock (&store->lease_lock);
  if (store->lease_stop)
    {
      /* ts_store_close() has begun: nobody would run it. */
      g_mutex_unlock (&store->lease_lock);
      g_set_error (&item->error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "cannot extend the lease now: the license database is closing");
      ts_lease_item_done (item);
      return;
    }
  if (store->lease_thread == NULL)
    {
      GError *error = NULL;
      store->lease_thread = g_thread_try_new ("lease-writer", ts_lease_writer, store, &error);
      if (store->lease_thread == NULL)
        {
          g_mutex_unlock (&store->lease_lock);
          g_clear_error (&item->error);
          g_set_error (&item->error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                       "cannot extend the lease now: %s", error->message);
          g_error_free (error);
          ts_lease_item_done (item);
          return;
        }
    }
  g_queue_push_tail (&store->lease_pending, item);
  /* A busy writer looks at the queue again before it waits. */
  if (!store->lease_combining)
    g_cond_signal (&store->lease_cond);
  g_mutex_unlock (&store->lease_lock);
}

void
ts_lease_writer_stop (TsSqliteStore *store)
{
  g_mutex_lock (&store->lease_lock);
  store->lease_stop = TRUE;
  g_cond_signal (&store->lease_cond);
  GThread *thread = g_steal_pointer (&store->lease_thread);
  g_mutex_unlock (&store->lease_lock);
  if (thread != NULL)
    g_thread_join (thread);
}
