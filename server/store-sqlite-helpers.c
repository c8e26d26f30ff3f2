/* tessera-store on SQLite: what activation and heartbeat (store-sessions.c)
 * need until they are written once over db.h like the rest (store-rules.c
 * has the shared rules). */
#include "store-private.h"

/* ---- helpers ---- */

gboolean
ts_audit (sqlite3 *db, gint64 now, const char *org_id, const char *actor, const char *action,
          const char *target, const char *detail, GError **error)
{
  return ts_exec (db, error, NULL,
                  "INSERT INTO audit (at, org_id, actor, action, target, detail)"
                  " VALUES (?, ?, ?, ?, ?, ?)",
                  "isssss", now, org_id, actor != NULL ? actor : "tessera-admin", action, target,
                  detail);
}

TsPool *
ts_pool_from_row (sqlite3_stmt *stmt)
{
  TsPool *p = g_new0 (TsPool, 1);
  p->id = ts_col_strdup (stmt, 0);
  p->org_id = ts_col_strdup (stmt, 1);
  p->product = ts_col_strdup (stmt, 2);
  p->kind = ts_col_strdup (stmt, 3);
  p->billing = ts_col_strdup (stmt, 4);
  p->quota = sqlite3_column_int64 (stmt, 5);
  p->subscription_end = sqlite3_column_int64 (stmt, 6);
  p->match_policy = ts_col_strdup (stmt, 7);
  return p;
}

gboolean
ts_count_offline (sqlite3 *db, const char *pool_id, gint64 now, gint64 *out, GError **error)
{
  return ts_query_int (db, error, out, NULL,
                       "SELECT count(*) FROM offline WHERE pool_id = ? AND expires_at > ?", "si",
                       pool_id, now);
}

gboolean
ts_count_sessions (sqlite3 *db, const char *pool_id, gint64 now, gint64 *out, GError **error)
{
  return ts_query_int (db, error, out, NULL,
                       "SELECT count(*) FROM sessions WHERE pool_id = ? AND ended_at IS NULL"
                       " AND lease_expires_at > ?",
                       "si", pool_id, now);
}
