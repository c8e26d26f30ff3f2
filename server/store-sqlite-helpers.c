/* tessera-store on SQLite: the helpers the store-*.c files share (the
 * admin check, pools and their seat counts, listings, the audit trail), as
 * their PostgreSQL namesakes in store-pg-helpers.c. */
#include "store-private.h"

#include <stdarg.h>
#include <string.h>

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

gboolean
ts_audit_account (sqlite3 *db, gint64 now, const char *user_id, const char *org_id,
                  const char *actor, const char *action, const char *detail, GError **error)
{
  g_autofree char *elsewhere
      = org_id != NULL ? g_strdup_printf ("in %s: %s", org_id, detail != NULL ? detail : "")
                       : g_strdup (detail);
  gint64 rows = 0;
  if (!ts_exec (db, error, &rows,
                "INSERT INTO audit (at, org_id, actor, action, target, detail)"
                " SELECT ?, org_id, ?, ?, ?, ? FROM members WHERE user_id = ? AND org_id IS NOT ?"
                " ORDER BY org_id",
                "issssss", now, actor != NULL ? actor : "tessera-admin", action, user_id, elsewhere,
                user_id, org_id))
    return FALSE;
  if (org_id == NULL && rows > 0)
    return TRUE;
  return ts_audit (db, now, org_id, actor, action, user_id, detail, error);
}

gboolean
ts_account_held (sqlite3 *db, const char *user_id, const char *org_id, gboolean *held,
                 GError **error)
{
  gint64 v = 0;
  if (!ts_query_int (db, error, &v, NULL,
                     "SELECT EXISTS (SELECT 1 FROM web_passwords WHERE user_id = ?)"
                     " OR EXISTS (SELECT 1 FROM api_keys WHERE user_id = ?)"
                     " OR EXISTS (SELECT 1 FROM members WHERE user_id = ? AND org_id IS NOT ?)",
                     "ssss", user_id, user_id, user_id, org_id))
    return FALSE;
  *held = v != 0;
  return TRUE;
}

gboolean
ts_require_admin (sqlite3 *db, const char *actor, const char *org_id, TsRole *role, GError **error)
{
  if (!ts_check_org_id (org_id, error))
    return FALSE;
  gint64 v = 0;
  gboolean found = FALSE;
  if (actor == NULL)
    {
      if (!ts_query_int (db, error, &v, &found, "SELECT 1 FROM orgs WHERE id = ?", "s", org_id))
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
  if (!ts_query_int (db, error, &v, &found,
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

TsPool *
ts_load_pool (sqlite3 *db, const char *org_id, const char *pool_id, GError **error)
{
  if (pool_id == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "pool_id is missing");
      return NULL;
    }
  sqlite3_stmt *stmt = ts_stmt_cached (
      db, error, "SELECT " TS_POOL_COLUMNS " FROM pools WHERE id = ? AND org_id = ?", "ss", pool_id,
      org_id);
  if (stmt == NULL)
    return NULL;
  TsPool *pool = NULL;
  int rc = ts_step (db, stmt, error);
  if (rc == SQLITE_ROW)
    pool = ts_pool_from_row (stmt);
  else if (rc == SQLITE_DONE)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "organization %s has no pool %s",
                 org_id, pool_id);
  ts_stmt_done (db, stmt);
  return pool;
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

/* ---- listings ---- */

GPtrArray *
ts_list_rows (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
              TsRowFunc map, GDestroyNotify free_item, GError **error, const char *sql,
              const char *types, ...)
{
  sqlite3 *db = ts_db_begin (store, FALSE, error);
  if (db == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (free_item);
  g_autoptr (TsPool) pool = NULL;
  sqlite3_stmt *stmt = NULL;
  gboolean ok = (org_id == NULL || ts_require_admin (db, actor, org_id, NULL, error))
                && (pool_id == NULL || (pool = ts_load_pool (db, org_id, pool_id, error)) != NULL);
  if (ok)
    {
      va_list ap;
      va_start (ap, types);
      stmt = ts_stmt_v (db, error, TRUE, sql, types, ap);
      va_end (ap);
      ok = stmt != NULL;
    }
  int rc = SQLITE_DONE;
  while (ok && (rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (out, map (stmt));
  ok = ok && rc == SQLITE_DONE;
  ts_stmt_done (db, stmt);
  if (!ts_db_finish (store, db, ok, error))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}

static gpointer
ts_audit_from_row (sqlite3_stmt *stmt)
{
  TsAudit *a = g_new0 (TsAudit, 1);
  a->at = sqlite3_column_int64 (stmt, 0);
  a->actor = ts_col_strdup (stmt, 1);
  a->action = ts_col_strdup (stmt, 2);
  a->target = ts_col_strdup (stmt, 3);
  a->detail = ts_col_strdup (stmt, 4);
  return a;
}

GPtrArray *
ts_store_list_audit (TsStore *store, const char *actor, const char *org_id, guint limit,
                     GError **error)
{
  return ts_list_rows (store, actor, org_id, NULL, ts_audit_from_row,
                       (GDestroyNotify) ts_audit_free, error,
                       "SELECT at, actor, action, target, detail FROM audit"
                       " WHERE org_id = ? ORDER BY seq DESC LIMIT ?",
                       "si", org_id, (gint64) (limit > 0 ? limit : 1000));
}
