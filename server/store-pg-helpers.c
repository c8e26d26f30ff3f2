/* tessera-store on PostgreSQL: the helpers the store-pg-*.c files share
 * (the admin check, pools and their seat counts, listings, the audit
 * trail), as their SQLite namesakes in store-sqlite.c. */
#include "store-pg-private.h"

#include <stdarg.h>

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

gboolean
ts_pg_audit_account (TsPgDb *db, gint64 now, const char *user_id, const char *org_id,
                     const char *actor, const char *action, const char *detail, GError **error)
{
  g_autofree char *elsewhere
      = org_id != NULL ? g_strdup_printf ("in %s: %s", org_id, detail != NULL ? detail : "")
                       : g_strdup (detail);
  gint64 rows = 0;
  if (!ts_pg_exec (db, error, &rows,
                   "INSERT INTO audit (at, org_id, actor, action, target, detail)"
                   " SELECT ?, org_id, ?, ?, ?, ? FROM members"
                   " WHERE user_id = ? AND org_id IS DISTINCT FROM ? ORDER BY org_id",
                   "issssss", now, actor != NULL ? actor : "tessera-admin", action, user_id,
                   elsewhere, user_id, org_id))
    return FALSE;
  if (org_id == NULL && rows > 0)
    return TRUE;
  return ts_pg_audit (db, now, org_id, actor, action, user_id, detail, error);
}

gboolean
ts_pg_account_held (TsPgDb *db, const char *user_id, const char *org_id, gboolean *held,
                    GError **error)
{
  gint64 v = 0;
  if (!ts_pg_query_int (
          db, error, &v, NULL,
          "SELECT CASE WHEN EXISTS (SELECT 1 FROM web_passwords WHERE user_id = ?)"
          " OR EXISTS (SELECT 1 FROM api_keys WHERE user_id = ?)"
          " OR EXISTS (SELECT 1 FROM members WHERE user_id = ? AND org_id IS DISTINCT FROM ?)"
          " THEN 1 ELSE 0 END",
          "ssss", user_id, user_id, user_id, org_id))
    return FALSE;
  *held = v != 0;
  return TRUE;
}

gboolean
ts_pg_require_admin (TsPgDb *db, const char *actor, const char *org_id, TsRole *role,
                     GError **error)
{
  if (!ts_check_org_id (org_id, error))
    return FALSE;
  gint64 v = 0;
  gboolean found = FALSE;
  /* A write by an administrator locks the organization's row first, so
   * administrative changes of one organization run one after the other on
   * every instance, as SQLite's single writer runs them: the "last owner"
   * rule counts owners and then changes one, which two concurrent changes
   * would both pass. Seat changes (activation) lock only their pool. */
  if (db->write
      && !ts_pg_query_int (db, error, &v, &found,
                           "SELECT 1 FROM orgs WHERE id = ? FOR NO KEY UPDATE", "s", org_id))
    return FALSE;
  if (actor == NULL)
    {
      if (!db->write
          && !ts_pg_query_int (db, error, &v, &found, "SELECT 1 FROM orgs WHERE id = ?", "s",
                               org_id))
        return FALSE;
      if (!found)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "no organization %s", org_id);
          return FALSE;
        }
      if (role != NULL)
        *role = TS_ROLE_OWNER;
      return TRUE;
    }
  if (!ts_pg_query_int (db, error, &v, &found,
                        "SELECT role FROM members WHERE org_id = ? AND user_id = ?", "ss", org_id,
                        actor))
    return FALSE;
  if (!found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "you are not a member of organization %s", org_id);
      return FALSE;
    }
  if (v != TS_ROLE_OWNER && v != TS_ROLE_ADMIN)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "only an owner or admin of organization %s may do this", org_id);
      return FALSE;
    }
  if (role != NULL)
    *role = (TsRole) v;
  return TRUE;
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

TsPool *
ts_pg_load_pool (TsPgDb *db, const char *org_id, const char *pool_id, GError **error)
{
  if (pool_id == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "pool_id is missing");
      return NULL;
    }
  /* FOR NO KEY UPDATE: excludes the other seat changes of this pool but not
   * the foreign-key checks of rows that merely reference it. */
  PGresult *res = ts_pg_query (db, error,
                               db->write ? "SELECT " TS_POOL_COLUMNS " FROM pools"
                                           " WHERE id = ? AND org_id = ? FOR NO KEY UPDATE"
                                         : "SELECT " TS_POOL_COLUMNS " FROM pools"
                                           " WHERE id = ? AND org_id = ?",
                               "ss", pool_id, org_id);
  if (res == NULL)
    return NULL;
  TsPool *pool = NULL;
  if (PQntuples (res) > 0)
    pool = ts_pg_pool_from_row (res, 0);
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "organization %s has no pool %s",
                 org_id, pool_id);
  PQclear (res);
  return pool;
}

gboolean
ts_pg_check_pool (TsPgDb *db, const char *org_id, const char *pool_id, GError **error)
{
  TsPool *pool = ts_pg_load_pool (db, org_id, pool_id, error);
  gboolean ok = pool != NULL;
  ts_pool_free (pool);
  return ok;
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

gboolean
ts_pg_count_offline (TsPgDb *db, const char *pool_id, gint64 now, gint64 *out, GError **error)
{
  return ts_pg_query_int (db, error, out, NULL,
                          "SELECT count(*) FROM offline WHERE pool_id = ? AND expires_at > ?", "si",
                          pool_id, now);
}

gboolean
ts_pg_count_sessions (TsPgDb *db, const char *pool_id, gint64 now, gint64 *out, GError **error)
{
  return ts_pg_query_int (db, error, out, NULL,
                          "SELECT count(*) FROM sessions WHERE pool_id = ? AND ended_at IS NULL"
                          " AND lease_expires_at > ?",
                          "si", pool_id, now);
}

/* ---- listings ---- */

GPtrArray *
ts_pg_list_rows (TsPgStore *store, const char *actor, const char *org_id, const char *pool_id,
                 TsPgRowFunc map, GDestroyNotify free_item, GError **error, const char *sql,
                 const char *types, ...)
{
  TsPgDb *db = ts_pg_begin (store, FALSE, error);
  if (db == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (free_item);
  PGresult *res = NULL;
  gboolean ok = (org_id == NULL || ts_pg_require_admin (db, actor, org_id, NULL, error))
                && (pool_id == NULL || ts_pg_check_pool (db, org_id, pool_id, error));
  if (ok)
    {
      va_list ap;
      va_start (ap, types);
      res = ts_pg_query_va (db, error, sql, types, ap);
      va_end (ap);
      ok = res != NULL;
    }
  for (int i = 0; ok && i < PQntuples (res); i++)
    g_ptr_array_add (out, map (res, i));
  PQclear (res);
  if (!ts_pg_finish (store, db, ok, error))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}

/* ---- audit ---- */

GPtrArray *
ts_pg_list_audit (TsPgStore *store, const char *actor, const char *org_id, guint limit,
                  GError **error)
{
  TsPgDb *db = ts_pg_begin (store, FALSE, error);
  if (db == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_audit_free);
  PGresult *res = NULL;
  gboolean ok = ts_pg_require_admin (db, actor, org_id, NULL, error)
                && (res = ts_pg_query (db, error,
                                       "SELECT at, actor, action, target, detail FROM audit"
                                       " WHERE org_id = ? ORDER BY seq DESC LIMIT ?",
                                       "si", org_id, (gint64) (limit > 0 ? limit : 1000)))
                       != NULL;
  for (int i = 0; ok && i < PQntuples (res); i++)
    {
      TsAudit *a = g_new0 (TsAudit, 1);
      a->at = ts_pg_col_int (res, i, 0);
      a->actor = ts_pg_col_strdup (res, i, 1);
      a->action = ts_pg_col_strdup (res, i, 2);
      a->target = ts_pg_col_strdup (res, i, 3);
      a->detail = ts_pg_col_strdup (res, i, 4);
      g_ptr_array_add (out, a);
    }
  PQclear (res);
  if (!ts_pg_finish (store, db, ok, error))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}
