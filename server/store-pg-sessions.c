/* tessera-store on PostgreSQL (as store-sessions.c): heartbeats
 * (activation: store-activate.c, both engines). */
#include "store-pg-private.h"

#include <string.h>

#define TS_SESSION_SELECT                                                                          \
  "SELECT s.id, p.org_id, s.pool_id, p.product, p.kind, s.user_id, s.machine_id, s.nonce,"         \
  " s.started_at, s.last_heartbeat, s.lease_expires_at, p.subscription_end, s.ended_at,"           \
  " s.end_code, s.end_reason FROM sessions s JOIN pools p ON p.id = s.pool_id "

/* The first 12 columns of TS_SESSION_SELECT. */
static gpointer
ts_session_from_row (const PGresult *res, int i)
{
  TsSession *s = g_new0 (TsSession, 1);
  s->id = ts_pg_col_strdup (res, i, 0);
  s->org_id = ts_pg_col_strdup (res, i, 1);
  s->pool_id = ts_pg_col_strdup (res, i, 2);
  s->product = ts_pg_col_strdup (res, i, 3);
  s->kind = ts_pg_col_strdup (res, i, 4);
  s->user_id = ts_pg_col_strdup (res, i, 5);
  s->machine_id = ts_pg_col_strdup (res, i, 6);
  s->nonce = ts_pg_col_strdup (res, i, 7);
  s->started_at = ts_pg_col_int (res, i, 8);
  s->last_heartbeat = ts_pg_col_int (res, i, 9);
  s->lease_expires_at = ts_pg_col_int (res, i, 10);
  s->subscription_end = ts_pg_col_int (res, i, 11);
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

/* Row @i of a result whose first 15 columns are TS_SESSION_SELECT's. */
static void
ts_session_row_read (TsSessionRow *row, const PGresult *res, int i)
{
  row->session = ts_session_from_row (res, i);
  row->ended = !PQgetisnull (res, i, 12);
  row->end_code = (TesseraError) ts_pg_col_int (res, i, 13);
  row->end_reason = ts_pg_col_strdup (res, i, 14);
}

/* One session by a TS_SESSION_SELECT query; *found FALSE if none. */
static gboolean
ts_load_session (TsPgDb *db, TsSessionRow *row, gboolean *found, GError **error, const char *where,
                 const char *a, const char *b, const char *c)
{
  /* In a write, the session's row is locked: a heartbeat and a reaper (on
   * another instance) never both act on it; the reaper skips it. */
  char *sql
      = g_strconcat (TS_SESSION_SELECT, where, db->write ? " FOR NO KEY UPDATE OF s" : "", NULL);
  PGresult *res = c != NULL   ? ts_pg_query (db, error, sql, "sss", a, b, c)
                  : b != NULL ? ts_pg_query (db, error, sql, "ss", a, b)
                              : ts_pg_query (db, error, sql, "s", a);
  g_free (sql);
  if (res == NULL)
    return FALSE;
  *found = PQntuples (res) > 0;
  if (*found)
    ts_session_row_read (row, res, 0);
  PQclear (res);
  return TRUE;
}

static gboolean
ts_end_session (TsPgDb *db, const char *session_id, gint64 now, TesseraError code,
                const char *reason, GError **error)
{
  return ts_pg_exec (db, error, NULL,
                     "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                     " WHERE id = ? AND ended_at IS NULL",
                     "iiss", now, (gint64) code, reason, session_id);
}

/* ---- heartbeat ----
 *
 * Round trips per heartbeat: BEGIN, the session (locked), its pool's counts
 * (floating pools), the extension, COMMIT. Each statement is a plain one
 * with the pool as a parameter: a single statement doing it all (the pool
 * then being the locked row's, unknown to the plan) measured slower in the
 * scale bench than these three. */

/* Floating pools whose quota was lowered: is the session among those beyond
 * the quota (the newest, by started_at then id)? Columns: quota, offline,
 * active, older (NULL unless the pool is over its quota at all: counting
 * the older sessions reads every active session's row). OFFSET 0 keeps the
 * counts in the subquery, each run once. */
#define TS_OVER_QUOTA_SELECT                                                                       \
  "SELECT q.quota, q.offline, q.active, CASE WHEN q.active + q.offline > q.quota THEN"             \
  " (SELECT count(*) FROM sessions WHERE pool_id = ?1 AND ended_at IS NULL"                        \
  " AND lease_expires_at > ?2 AND (started_at < ?3 OR (started_at = ?3 AND id < ?4))) END"         \
  " FROM (SELECT quota,"                                                                           \
  " (SELECT count(*) FROM offline WHERE pool_id = ?1 AND expires_at > ?2) AS offline,"             \
  " (SELECT count(*) FROM sessions WHERE pool_id = ?1 AND ended_at IS NULL"                        \
  " AND lease_expires_at > ?2) AS active FROM pools WHERE id = ?1 OFFSET 0) q"

static gboolean
ts_is_over_quota (TsPgDb *db, TsSession *s, gint64 now, gint64 *quota, gboolean *over,
                  GError **error)
{
  PGresult *res = ts_pg_query (db, error, TS_OVER_QUOTA_SELECT, "siis", s->pool_id, now,
                               s->started_at, s->id);
  if (res == NULL)
    return FALSE;
  *over = FALSE;
  if (PQntuples (res) > 0)
    {
      *quota = ts_pg_col_int (res, 0, 0);
      *over = !PQgetisnull (res, 0, 3)
              && ts_pg_col_int (res, 0, 3) + ts_pg_col_int (res, 0, 1) >= *quota;
    }
  PQclear (res);
  return TRUE;
}

TsSession *
ts_pg_heartbeat (TsPgStore *store, const char *user_id, const char *session_id,
                 gint64 lease_seconds, gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error) || !ts_check_id ("session_id", session_id, error)
      || !ts_check_lease (lease_seconds, error))
    return NULL;
  /* A heartbeat only extends a lease: its commit need not wait for the
   * disk (ts_pg_begin_lease); ending the session below does. */
  TsPgDb *db = ts_pg_begin_lease (store, error);
  if (db == NULL)
    return NULL;
  TsSessionRow row = { 0 };
  gboolean found = FALSE;
  GError *ended = NULL; /* the session ended: committed, then reported */
  gboolean ok = ts_load_session (db, &row, &found, error, "WHERE s.id = ? AND s.user_id = ?",
                                 session_id, user_id, NULL);
  if (ok && !found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "you have no session %s",
                   session_id);
      ok = FALSE;
    }
  if (ok && row.ended)
    g_set_error (&ended, TESSERA_ERROR,
                 (row.end_code == TESSERA_ERROR_REVOKED || row.end_code == TESSERA_ERROR_EXPIRED)
                     ? (TesseraError) row.end_code
                     : TESSERA_ERROR_TERMINATED,
                 "the session has ended: %s", row.end_reason ? row.end_reason : "ended");
  else if (ok && now >= row.session->subscription_end)
    {
      ok = ts_end_session (db, session_id, now, TESSERA_ERROR_EXPIRED, "the subscription ended",
                           error);
      g_set_error (&ended, TESSERA_ERROR, TESSERA_ERROR_EXPIRED,
                   "the session has ended: the %s subscription ended", row.session->product);
    }
  else if (ok && row.session->lease_expires_at <= now)
    {
      ok = ts_end_session (db, session_id, now, TESSERA_ERROR_TERMINATED, "lease expired", error);
      g_set_error (&ended, TESSERA_ERROR, TESSERA_ERROR_TERMINATED,
                   "the session has ended: lease expired");
    }
  else if (ok && g_str_equal (row.session->kind, "floating"))
    {
      gint64 quota = 0;
      gboolean over = FALSE;
      ok = ts_is_over_quota (db, row.session, now, &quota, &over, error);
      if (ok && over)
        {
          char *reason
              = g_strdup_printf ("over quota: the quota was lowered to %" G_GINT64_FORMAT, quota);
          ok = ts_end_session (db, session_id, now, TESSERA_ERROR_TERMINATED, reason, error);
          g_set_error (&ended, TESSERA_ERROR, TESSERA_ERROR_TERMINATED, "the session has ended: %s",
                       reason);
          g_free (reason);
        }
    }
  if (ok && ended == NULL)
    {
      row.session->last_heartbeat = now;
      row.session->lease_expires_at = now + lease_seconds;
      /* The session's row is locked already (ts_load_session): the machine
       * is locked after it, whatever order the two writes run in. */
      ok = ts_pg_exec (
          db, error, NULL,
          "WITH m AS (UPDATE machines SET last_seen = ?1"
          " WHERE pool_id = ?3 AND machine_id = ?4)"
          " UPDATE sessions SET last_heartbeat = ?1, lease_expires_at = ?2 WHERE id = ?5",
          "iisss", now, row.session->lease_expires_at, row.session->pool_id,
          row.session->machine_id, session_id);
    }
  if (ok && ended != NULL && !row.ended)
    ok = ts_pg_mark_durable (db, error); /* a seat freed */
  TsSession *result = ok && ended == NULL ? g_steal_pointer (&row.session) : NULL;
  ts_session_row_clear (&row);
  if (!ts_pg_finish (store, db, ok, error))
    {
      g_clear_error (&ended);
      g_clear_pointer (&result, ts_session_free);
    }
  else if (ended != NULL)
    g_propagate_error (error, ended);
  return result;
}
