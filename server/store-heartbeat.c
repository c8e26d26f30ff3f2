/* tessera-store: the heartbeat, written once over db.h for both engines.
 * The rules of docs/protocol.md ("Floating rules": a lease is extended, or
 * the session ends when its subscription ended or its lease ran out; one
 * ended meanwhile, e.g. by a lowered quota (ts_end_over_quota()), says
 * why). SQLite runs ts_tx_heartbeat() from its lease writer, many in one
 * write (store-sessions.c); PostgreSQL runs it in its caller, one
 * transaction each, the session's row locked (ts_tx_load_session()) so
 * that a reaper of another instance skips it. */
#include "db.h"

gboolean
ts_heartbeat_check (const char *user_id, const char *session_id, gint64 lease_seconds,
                    GError **error)
{
  return ts_check_id ("user_id", user_id, error) && ts_check_id ("session_id", session_id, error)
         && ts_check_lease (lease_seconds, error);
}

/* Why the session @row (loaded, alive until now) ends at @now, or NULL. */
static gboolean
ts_heartbeat_end (TsTx *tx, TsSessionRow *row, gint64 now, GError **ended, GError **error)
{
  TsSession *s = row->session;
  if (row->ended)
    {
      g_set_error (
          ended, TESSERA_ERROR,
          (row->end_code == TESSERA_ERROR_REVOKED || row->end_code == TESSERA_ERROR_EXPIRED)
              ? (TesseraError) row->end_code
              : TESSERA_ERROR_TERMINATED,
          "the session has ended: %s", row->end_reason ? row->end_reason : "ended");
      return TRUE;
    }
  TesseraError code = TESSERA_ERROR_TERMINATED;
  g_autofree char *reason = NULL;
  if (now >= s->subscription_end)
    {
      code = TESSERA_ERROR_EXPIRED;
      reason = g_strdup ("the subscription ended");
      g_set_error (ended, TESSERA_ERROR, code, "the session has ended: the %s subscription ended",
                   s->product);
    }
  else if (s->lease_expires_at <= now)
    reason = g_strdup ("lease expired");
  if (reason == NULL)
    return TRUE;
  if (*ended == NULL)
    g_set_error (ended, TESSERA_ERROR, code, "the session has ended: %s", reason);
  /* A seat freed: the end must survive a crash. */
  return ts_tx_end_session (tx, s->id, now, code, reason, error) && ts_tx_mark_durable (tx, error);
}

/* A machine's last_seen is kept to this many seconds: a heartbeat writes
 * it only when it is older (clients beat every third of a 60 s lease, the
 * tables show minutes), so most heartbeats write one row, not two. */
#define TS_MACHINE_SEEN_PRECISION 60

/* The caller's session, as TS_SESSION_SELECT, and its machine's last_seen
 * (column 16; NULL: the machine was removed). */
static TsRows *
ts_heartbeat_query (TsTx *tx, const char *user_id, const char *session_id, GError **error)
{
  g_autofree char *sql
      = g_strconcat ("SELECT " TS_SESSION_COLUMNS ", (SELECT m.last_seen FROM machines m"
                     " WHERE m.pool_id = s.pool_id AND m.machine_id = s.machine_id)" TS_SESSION_FROM
                         TS_OWN_SESSION,
                     ts_tx_row_locks (tx) ? " FOR NO KEY UPDATE OF s" : "", NULL);
  return ts_tx_rows (tx, error, sql, "ss", session_id, user_id);
}

gboolean
ts_tx_heartbeat (TsTx *tx, const char *user_id, const char *session_id, gint64 lease_seconds,
                 gint64 now, TsSession **result, GError **ended, GError **error)
{
  TsSessionRow row = { 0 };
  *result = NULL;
  g_autoptr (TsRows) load = ts_heartbeat_query (tx, user_id, session_id, error);
  gboolean ok = load != NULL && ts_tx_own_session_read (load, &row, session_id, error);
  /* Read while @load is on the session's row. */
  gboolean seen_now = ok && !ts_rows_is_null (load, 16)
                      && now - ts_rows_int (load, 16) >= TS_MACHINE_SEEN_PRECISION;
  ok = ok && ts_heartbeat_end (tx, &row, now, ended, error);
  if (ok && *ended == NULL)
    {
      row.session->last_heartbeat = now;
      row.session->lease_expires_at = now + lease_seconds;
      /* The session's row first (locked already by ts_tx_load_session()),
       * then its machine's: the order an activation locks them in. */
      /* Nobody reads their changes: on PostgreSQL they go with the COMMIT. */
      ok = ts_tx_exec_defer (tx, error,
                             "UPDATE sessions SET last_heartbeat = ?, lease_expires_at = ?"
                             " WHERE id = ?",
                             "iis", now, row.session->lease_expires_at, session_id)
           && (!seen_now
               || ts_tx_exec_defer (
                   tx, error,
                   "UPDATE machines SET last_seen = ? WHERE pool_id = ? AND machine_id = ?", "iss",
                   now, row.session->pool_id, row.session->machine_id));
      if (ok)
        *result = g_steal_pointer (&row.session);
    }
  if (!ok)
    g_clear_error (ended);
  ts_tx_session_row_clear (&row);
  return ok;
}

/* PostgreSQL: each heartbeat is its own transaction, in its caller. */
static TsSession *
ts_heartbeat_inline (TsStore *store, const char *user_id, const char *session_id,
                     gint64 lease_seconds, gint64 now, GError **error)
{
  /* A heartbeat only extends a lease: its commit need not wait for the
   * disk (TS_TX_LEASE); ending the session does (ts_tx_mark_durable()). */
  TsTx *tx = ts_tx_begin (store, TS_TX_LEASE, error);
  if (tx == NULL)
    return NULL;
  TsSession *result = NULL;
  GError *ended = NULL; /* the session ended: committed, then reported */
  gboolean ok
      = ts_tx_heartbeat (tx, user_id, session_id, lease_seconds, now, &result, &ended, error);
  if (!ts_tx_finish (tx, ok, error))
    {
      g_clear_error (&ended);
      g_clear_pointer (&result, ts_session_free);
    }
  else if (ended != NULL)
    g_propagate_error (error, ended);
  return result;
}

void
ts_store_heartbeat_async (TsStore *store, const char *user_id, const char *session_id,
                          gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data)
{
  GError *error = NULL;
  if (!ts_heartbeat_check (user_id, session_id, lease_seconds, &error))
    {
      done (NULL, error, data);
      return;
    }
  if (ts_store_engine_heartbeat (store, user_id, session_id, lease_seconds, now, done, data))
    return;
  TsSession *s = ts_heartbeat_inline (store, user_id, session_id, lease_seconds, now, &error);
  done (s, error, data);
}

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean done;
  TsSession *session;
  GError *error;
} TsHeartbeatWait;

static void
ts_heartbeat_waited (TsSession *session, GError *error, gpointer data)
{
  TsHeartbeatWait *w = data;
  g_mutex_lock (&w->lock);
  w->session = session;
  w->error = error;
  w->done = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

TsSession *
ts_store_heartbeat (TsStore *store, const char *user_id, const char *session_id,
                    gint64 lease_seconds, gint64 now, GError **error)
{
  TsHeartbeatWait w = { 0 };
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  ts_store_heartbeat_async (store, user_id, session_id, lease_seconds, now, ts_heartbeat_waited,
                            &w);
  g_mutex_lock (&w.lock);
  while (!w.done)
    g_cond_wait (&w.cond, &w.lock);
  g_mutex_unlock (&w.lock);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  if (w.error != NULL)
    g_propagate_error (error, w.error);
  return w.session;
}
