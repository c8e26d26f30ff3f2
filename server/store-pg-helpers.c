/* tessera-store on PostgreSQL: what activation and heartbeat
 * (store-pg-sessions.c) need until they are written once over db.h like
 * the rest (store-rules.c has the shared rules). */
#include "store-pg-private.h"

/* ---- helpers ---- */

gboolean
ts_pg_audit (TsPgDb *db, gint64 now, const char *org_id, const char *actor, const char *action,
             const char *target, const char *detail, GError **error)
{
  return ts_pg_exec (db, error, NULL,
                     "INSERT INTO audit (at, org_id, actor, action, target, detail)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     "isssss", now, org_id, actor != NULL ? actor : "tessera-admin", action, target,
                     detail);
}

TsPool *
ts_pg_pool_from_row (const PGresult *res, int row)
{
  TsPool *p = g_new0 (TsPool, 1);
  p->id = ts_pg_col_strdup (res, row, 0);
  p->org_id = ts_pg_col_strdup (res, row, 1);
  p->product = ts_pg_col_strdup (res, row, 2);
  p->kind = ts_pg_col_strdup (res, row, 3);
  p->billing = ts_pg_col_strdup (res, row, 4);
  p->quota = ts_pg_col_int (res, row, 5);
  p->subscription_end = ts_pg_col_int (res, row, 6);
  p->match_policy = ts_pg_col_strdup (res, row, 7);
  return p;
}

gboolean
ts_pg_lock_pool (TsPgDb *db, TsPool *pool, GError **error)
{
  g_return_val_if_fail (db->write, FALSE);
  PGresult *res = ts_pg_query (db, error,
                               "SELECT quota, subscription_end FROM pools WHERE id = ?"
                               " FOR NO KEY UPDATE",
                               "s", pool->id);
  if (res == NULL)
    return FALSE;
  gboolean ok = PQntuples (res) > 0;
  if (ok)
    {
      pool->quota = ts_pg_col_int (res, 0, 0);
      pool->subscription_end = ts_pg_col_int (res, 0, 1);
    }
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "organization %s has no pool %s",
                 pool->org_id, pool->id);
  PQclear (res);
  return ok;
}

/* ---- audit ---- */
