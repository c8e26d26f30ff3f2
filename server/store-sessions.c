/* tessera-store on SQLite: heartbeats (activation: store-activate.c, both
 * engines). The rules of docs/protocol.md ("Floating rules"). */
#include "store-private.h"

#include <string.h>

#define TS_SESSION_SELECT                                                                          \
  "SELECT s.id, p.org_id, s.pool_id, p.product, p.kind, s.user_id, s.machine_id, s.nonce,"         \
  " s.started_at, s.last_heartbeat, s.lease_expires_at, p.subscription_end, s.ended_at,"           \
  " s.end_code, s.end_reason, p.quota FROM sessions s JOIN pools p ON p.id = s.pool_id "

/* The first 12 columns of TS_SESSION_SELECT. */
static gpointer
ts_session_from_row (sqlite3_stmt *stmt)
{
  TsSession *s = g_new0 (TsSession, 1);
  s->id = ts_col_strdup (stmt, 0);
  s->org_id = ts_col_strdup (stmt, 1);
  s->pool_id = ts_col_strdup (stmt, 2);
  s->product = ts_col_strdup (stmt, 3);
  s->kind = ts_col_strdup (stmt, 4);
  s->user_id = ts_col_strdup (stmt, 5);
  s->machine_id = ts_col_strdup (stmt, 6);
  s->nonce = ts_col_strdup (stmt, 7);
  s->started_at = sqlite3_column_int64 (stmt, 8);
  s->last_heartbeat = sqlite3_column_int64 (stmt, 9);
  s->lease_expires_at = sqlite3_column_int64 (stmt, 10);
  s->subscription_end = sqlite3_column_int64 (stmt, 11);
  return s;
}

typedef struct
{
  TsSession *session;
  gboolean ended;
  TesseraError end_code;
  char *end_reason;
} TsSessionRow;

static void
ts_session_row_clear (TsSessionRow *row)
{
  g_clear_pointer (&row->session, ts_session_free);
  g_clear_pointer (&row->end_reason, g_free);
}

static gboolean
ts_end_session (sqlite3 *db, const char *session_id, gint64 now, TesseraError code,
                const char *reason, GError **error)
{
  return ts_exec (db, error, NULL,
                  "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                  " WHERE id = ? AND ended_at IS NULL",
                  "iiss", now, (gint64) code, reason, session_id);
}

/* Floating pools whose quota was lowered: is @s among the sessions beyond
 * the quota (the newest, by started_at then id)? */
static gboolean
ts_is_over_quota (TsStore *store, sqlite3 *db, TsSession *s, gint64 quota, gint64 now,
                  gboolean *over, GError **error)
{
  gint64 older = 0, offline = 0, active = 0;
  *over = FALSE;
  /* Counting even the active sessions reads them all, every heartbeat
   * (server-bench: 19% of the server's CPU with 2000 sessions): a pool
   * known to be within its quota is not counted again (ts_quota_known_ok). */
  if (ts_quota_known_ok (store, db, s->pool_id))
    return TRUE;
  /* Counting the older sessions reads every active session's row: only
   * when the pool is over its quota at all (the index answers that). */
  if (!ts_count_offline (db, s->pool_id, now, &offline, error)
      || !ts_count_sessions (db, s->pool_id, now, &active, error))
    return FALSE;
  if (active + offline <= quota)
    {
      ts_quota_remember_ok (store, db, s->pool_id);
      return TRUE;
    }
  if (!ts_query_int (db, error, &older, NULL,
                     "SELECT count(*) FROM sessions WHERE pool_id = ? AND ended_at IS NULL"
                     " AND lease_expires_at > ? AND (started_at < ?"
                     " OR (started_at = ? AND id < ?))",
                     "siiis", s->pool_id, now, s->started_at, s->started_at, s->id))
    return FALSE;
  *over = older + offline >= quota;
  return TRUE;
}

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
  const char *user_id;
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

/* One heartbeat in the lease writer's write: *ended is set (and the write made
 * durable) when it ends the session. */
static gboolean
ts_heartbeat_one (TsStore *store, sqlite3 *db, TsLeaseItem *it, GError **ended, GError **error)
{
  const char *session_id = it->session_id;
  gint64 now = it->now;
  TsSessionRow row = { 0 };
  gboolean found = FALSE;
  gint64 quota = 0;
  /* The pool's quota comes with the session (column 15), not from a
   * second statement. */
  sqlite3_stmt *stmt
      = ts_stmt_cached (db, error, TS_SESSION_SELECT "WHERE s.id = ? AND s.user_id = ?", "ss",
                        session_id, it->user_id);
  if (stmt == NULL)
    return FALSE;
  int rc = ts_step (db, stmt, error);
  found = rc == SQLITE_ROW;
  if (found)
    {
      row.session = ts_session_from_row (stmt);
      row.ended = sqlite3_column_type (stmt, 12) != SQLITE_NULL;
      row.end_code = (TesseraError) sqlite3_column_int (stmt, 13);
      row.end_reason = ts_col_strdup (stmt, 14);
      quota = sqlite3_column_int64 (stmt, 15);
    }
  ts_stmt_done (db, stmt);
  gboolean ok = rc != -1;
  if (ok && !found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "you have no session %s",
                   session_id);
      ok = FALSE;
    }
  if (ok && row.ended)
    g_set_error (ended, TESSERA_ERROR,
                 (row.end_code == TESSERA_ERROR_REVOKED || row.end_code == TESSERA_ERROR_EXPIRED)
                     ? (TesseraError) row.end_code
                     : TESSERA_ERROR_TERMINATED,
                 "the session has ended: %s", row.end_reason ? row.end_reason : "ended");
  else if (ok && now >= row.session->subscription_end)
    {
      ok = ts_end_session (db, session_id, now, TESSERA_ERROR_EXPIRED, "the subscription ended",
                           error);
      g_set_error (ended, TESSERA_ERROR, TESSERA_ERROR_EXPIRED,
                   "the session has ended: the %s subscription ended", row.session->product);
    }
  else if (ok && row.session->lease_expires_at <= now)
    {
      ok = ts_end_session (db, session_id, now, TESSERA_ERROR_TERMINATED, "lease expired", error);
      g_set_error (ended, TESSERA_ERROR, TESSERA_ERROR_TERMINATED,
                   "the session has ended: lease expired");
    }
  else if (ok && g_str_equal (row.session->kind, "floating"))
    {
      gboolean over = FALSE;
      ok = ts_is_over_quota (store, db, row.session, quota, now, &over, error);
      if (ok && over)
        {
          char *reason
              = g_strdup_printf ("over quota: the quota was lowered to %" G_GINT64_FORMAT, quota);
          ok = ts_end_session (db, session_id, now, TESSERA_ERROR_TERMINATED, reason, error);
          g_set_error (ended, TESSERA_ERROR, TESSERA_ERROR_TERMINATED, "the session has ended: %s",
                       reason);
          g_free (reason);
        }
    }
  if (ok && *ended == NULL)
    {
      row.session->last_heartbeat = now;
      row.session->lease_expires_at = now + it->lease_seconds;
      ok = ts_exec (db, error, NULL,
                    "UPDATE sessions SET last_heartbeat = ?, lease_expires_at = ? WHERE id = ?",
                    "iis", now, row.session->lease_expires_at, session_id)
           && ts_exec (db, error, NULL,
                       "UPDATE machines SET last_seen = ? WHERE pool_id = ? AND machine_id = ?",
                       "iss", now, row.session->pool_id, row.session->machine_id);
    }
  if (ok && *ended != NULL && !row.ended)
    ts_db_mark_durable (store, db); /* a seat freed */
  if (ok && *ended == NULL)
    it->result = g_steal_pointer (&row.session);
  ts_session_row_clear (&row);
  return ok;
}

/* The lease writer's write: runs @items (TsLeaseItem *, taken from lease_pending) and
 * whatever queues up meanwhile, in one write, then answers them all. */
static void
ts_lease_combine (TsStore *store, GQueue *items)
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
  TsStore *store = data;
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

void
ts_store_heartbeat_async (TsStore *store, const char *user_id, const char *session_id,
                          gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data)
{
  TsLeaseItem *item = g_new0 (TsLeaseItem, 1);
  *item = (TsLeaseItem){ .user_id = user_id,
                         .session_id = session_id,
                         .lease_seconds = lease_seconds,
                         .now = now,
                         .done = done,
                         .data = data };
  if (!ts_check_id ("user_id", user_id, &item->error)
      || !ts_check_id ("session_id", session_id, &item->error)
      || !ts_check_lease (lease_seconds, &item->error))
    {
      ts_lease_item_done (item);
      return;
    }
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
ts_lease_writer_stop (TsStore *store)
{
  g_mutex_lock (&store->lease_lock);
  store->lease_stop = TRUE;
  g_cond_signal (&store->lease_cond);
  GThread *thread = g_steal_pointer (&store->lease_thread);
  g_mutex_unlock (&store->lease_lock);
  if (thread != NULL)
    g_thread_join (thread);
}
