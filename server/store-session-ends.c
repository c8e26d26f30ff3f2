/* tessera-store: the end of sessions (release, reaping, an
 * administrator's force-release) and the machines of a pool, once for both
 * engines (as activation, store-activate.c, and the heartbeat,
 * store-heartbeat.c). */
#include "db.h"

gboolean
ts_store_release_as (TsStore *store, TsCaller *who, const char *session_id, gint64 now,
                     GError **error)
{
  if (!ts_caller_check (who, error) || !ts_check_id ("session_id", session_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  TsSessionRow row = { 0 };
  gboolean ok = ts_tx_load_own_session (tx, &row, who, session_id, error);
  /* Releasing twice is fine. */
  ok = ok && ts_tx_end_session (tx, session_id, now, TESSERA_ERROR_TERMINATED, "released", error);
  ts_tx_session_row_clear (&row);
  return ts_tx_finish (tx, ok, error);
}

gboolean
ts_store_release (TsStore *store, const char *user_id, const char *session_id, gint64 now,
                  GError **error)
{
  TsCaller who = { .user_id = user_id };
  return ts_store_release_as (store, &who, session_id, now, error);
}

guint
ts_store_reap (TsStore *store, gint64 now, GError **error)
{
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return 0;
  gint64 changes = 0;
  /* With row locks (several instances reap at once), rows another
   * instance is reaping or a heartbeat is extending are skipped, not waited
   * for: reapers never block each other and a session is ended once. */
  gboolean ok = ts_tx_exec (tx, error, &changes,
                            ts_tx_row_locks (tx)
                                ? "UPDATE sessions SET ended_at = lease_expires_at, end_code = ?,"
                                  " end_reason = 'lease expired'"
                                  " WHERE id IN (SELECT id FROM sessions WHERE ended_at IS NULL"
                                  " AND lease_expires_at <= ? FOR UPDATE SKIP LOCKED)"
                                  " AND ended_at IS NULL"
                                : "UPDATE sessions SET ended_at = lease_expires_at, end_code = ?,"
                                  " end_reason = 'lease expired'"
                                  " WHERE ended_at IS NULL AND lease_expires_at <= ?",
                            "ii", (gint64) TESSERA_ERROR_TERMINATED, now);
  if (!ts_tx_finish (tx, ok, error))
    return 0;
  return (guint) changes;
}

/* The first 12 columns of TS_SESSION_SELECT, then the client's host name
 * and OS: only listings show them, so the session rows every activation
 * and heartbeat load stay as they are. */
#define TS_SESSION_LIST_SELECT                                                                     \
  "SELECT s.id, p.org_id, s.pool_id, p.product, p.kind, s.user_id, s.machine_id, s.nonce,"         \
  " s.started_at, s.last_heartbeat, s.lease_expires_at, p.subscription_end, s.hostname, s.os"      \
  " FROM sessions s JOIN pools p ON p.id = s.pool_id "

static gpointer
ts_listed_session_from_row (TsRows *rows)
{
  TsSession *s = ts_tx_session_from_row (rows);
  s->hostname = ts_rows_strdup (rows, 12);
  s->os = ts_rows_strdup (rows, 13);
  return s;
}

GPtrArray *
ts_store_list_sessions (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                        gint64 now, GError **error)
{
  return ts_tx_list_rows (store, actor, org_id, pool_id, ts_listed_session_from_row,
                          (GDestroyNotify) ts_session_free, error,
                          TS_SESSION_LIST_SELECT
                          "WHERE s.pool_id = ? AND s.ended_at IS NULL"
                          " AND s.lease_expires_at > ? ORDER BY s.started_at, s.id",
                          "si", pool_id, now);
}

gboolean
ts_store_force_release (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                        const char *session_id, gint64 now, GError **error)
{
  if (!ts_check_id ("session_id", session_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  g_autoptr (TsPool) pool = NULL;
  TsSessionRow row = { 0 };
  gboolean found = FALSE;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, NULL, error)
                && (pool = ts_tx_load_pool (tx, org_id, pool_id, error)) != NULL
                && ts_tx_load_session (tx, &row, &found, error, "WHERE s.id = ? AND s.pool_id = ?",
                                       session_id, pool_id, NULL);
  if (ok && !found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "pool %s has no session %s",
                   pool_id, session_id);
      ok = FALSE;
    }
  ok = ok
       && ts_tx_end_session (tx, session_id, now, TESSERA_ERROR_TERMINATED,
                             "force-released by an administrator", error)
       && ts_tx_audit (tx, now, org_id, actor, "session.force-release", session_id,
                       row.session->user_id, error);
  ts_tx_session_row_clear (&row);
  return ts_tx_finish (tx, ok, error);
}

static gpointer
ts_machine_from_row (TsRows *rows)
{
  TsMachine *m = g_new0 (TsMachine, 1);
  m->pool_id = ts_rows_strdup (rows, 0);
  m->machine_id = ts_rows_strdup (rows, 1);
  m->user_id = ts_rows_strdup (rows, 2);
  m->registered_at = ts_rows_int (rows, 3);
  m->last_seen = ts_rows_int (rows, 4);
  m->hostname = ts_rows_strdup (rows, 5);
  m->os = ts_rows_strdup (rows, 6);
  return m;
}

GPtrArray *
ts_store_list_machines (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                        GError **error)
{
  return ts_tx_list_rows (
      store, actor, org_id, pool_id, ts_machine_from_row, (GDestroyNotify) ts_machine_free, error,
      "SELECT pool_id, machine_id, user_id, registered_at, last_seen,"
      " hostname, os FROM machines WHERE pool_id = ? ORDER BY registered_at, machine_id",
      "s", pool_id);
}

gboolean
ts_store_remove_machine (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                         const char *machine_id, gint64 now, GError **error)
{
  if (!ts_check_machine_id (machine_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  g_autoptr (TsPool) pool = NULL;
  gint64 changes = 0;
  /* Sessions first, then the machine: the order a heartbeat locks them in
   * (its session, then the machine's last_seen), so the two never wait for
   * each other in a cycle. A machine that is not registered rolls it all
   * back. */
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, NULL, error)
                && (pool = ts_tx_load_pool (tx, org_id, pool_id, error)) != NULL
                && ts_tx_exec (tx, error, NULL,
                               "UPDATE sessions SET ended_at = ?, end_code = ?,"
                               " end_reason = 'machine removed by an administrator'"
                               " WHERE pool_id = ? AND machine_id = ? AND ended_at IS NULL",
                               "iiss", now, (gint64) TESSERA_ERROR_TERMINATED, pool_id, machine_id)
                && ts_tx_exec (tx, error, &changes,
                               "DELETE FROM machines WHERE pool_id = ? AND machine_id = ?", "ss",
                               pool_id, machine_id);
  if (ok && changes == 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                   "machine %s is not registered in pool %s", machine_id, pool_id);
      ok = FALSE;
    }
  ok = ok && ts_tx_audit (tx, now, org_id, actor, "machine.remove", pool_id, machine_id, error);
  return ts_tx_finish (tx, ok, error);
}
