/* tessera-store: the rules every operation shares (the audit trail, the
 * admin check, loading a pool), once for both engines, over db.h. */
#include "db.h"

gboolean
ts_tx_audit (TsTx *tx, gint64 now, const char *org_id, const char *actor, const char *action,
             const char *target, const char *detail, GError **error)
{
  return ts_tx_exec (tx, error, NULL,
                     "INSERT INTO audit (at, org_id, actor, action, target, detail)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     "isssss", now, org_id, actor != NULL ? actor : "tessera-admin", action, target,
                     detail);
}

/* "org_id <> ?" that a NULL parameter never fails (members.org_id is NOT
 * NULL): SQLite before 3.39 has no IS DISTINCT FROM, PostgreSQL no IS NOT
 * between values. */
#define TS_OTHER_ORG "coalesce (org_id <> ?, TRUE)"

gboolean
ts_tx_audit_account (TsTx *tx, gint64 now, const char *user_id, const char *org_id,
                     const char *actor, const char *action, const char *detail, GError **error)
{
  g_autofree char *elsewhere
      = org_id != NULL ? g_strdup_printf ("in %s: %s", org_id, detail != NULL ? detail : "")
                       : g_strdup (detail);
  gint64 rows = 0;
  if (!ts_tx_exec (tx, error, &rows,
                   "INSERT INTO audit (at, org_id, actor, action, target, detail)"
                   " SELECT ?, org_id, ?, ?, ?, ? FROM members"
                   " WHERE user_id = ? AND " TS_OTHER_ORG " ORDER BY org_id",
                   "issssss", now, actor != NULL ? actor : "tessera-admin", action, user_id,
                   elsewhere, user_id, org_id))
    return FALSE;
  if (org_id == NULL && rows > 0)
    return TRUE;
  return ts_tx_audit (tx, now, org_id, actor, action, user_id, detail, error);
}

gboolean
ts_tx_account_held (TsTx *tx, const char *user_id, const char *org_id, gboolean *held,
                    GError **error)
{
  gint64 v = 0;
  if (!ts_tx_int (tx, error, &v, NULL,
                  "SELECT CASE WHEN EXISTS (SELECT 1 FROM web_passwords WHERE user_id = ?)"
                  " OR EXISTS (SELECT 1 FROM api_keys WHERE user_id = ?)"
                  " OR EXISTS (SELECT 1 FROM members WHERE user_id = ? AND " TS_OTHER_ORG ")"
                  " THEN 1 ELSE 0 END",
                  "ssss", user_id, user_id, user_id, org_id))
    return FALSE;
  *held = v != 0;
  return TRUE;
}

gboolean
ts_tx_require_admin (TsTx *tx, const char *actor, const char *org_id, TsRole *role, GError **error)
{
  if (!ts_check_org_id (org_id, error))
    return FALSE;
  gint64 v = 0;
  gboolean found = FALSE;
  if (!ts_tx_lock_row (tx, "orgs", org_id, &found, error))
    return FALSE;
  if (actor == NULL)
    {
      if (!ts_tx_row_locks (tx)
          && !ts_tx_int (tx, error, &v, &found, "SELECT 1 FROM orgs WHERE id = ?", "s", org_id))
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
  if (!ts_tx_int (tx, error, &v, &found,
                  "SELECT role FROM members WHERE org_id = ? AND user_id = ?", "ss", org_id, actor))
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
ts_tx_pool_from_row (TsRows *rows)
{
  TsPool *p = g_new0 (TsPool, 1);
  p->id = ts_rows_strdup (rows, 0);
  p->org_id = ts_rows_strdup (rows, 1);
  p->product = ts_rows_strdup (rows, 2);
  p->kind = ts_rows_strdup (rows, 3);
  p->billing = ts_rows_strdup (rows, 4);
  p->quota = ts_rows_int (rows, 5);
  p->subscription_end = ts_rows_int (rows, 6);
  p->match_policy = ts_rows_strdup (rows, 7);
  return p;
}

TsPool *
ts_tx_load_pool (TsTx *tx, const char *org_id, const char *pool_id, GError **error)
{
  if (pool_id == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "pool_id is missing");
      return NULL;
    }
  /* FOR NO KEY UPDATE: see ts_tx_lock_row(). */
  g_autoptr (TsRows) rows
      = ts_tx_rows (tx, error,
                    ts_tx_row_locks (tx) ? "SELECT " TS_POOL_COLUMNS " FROM pools"
                                           " WHERE id = ? AND org_id = ? FOR NO KEY UPDATE"
                                         : "SELECT " TS_POOL_COLUMNS " FROM pools"
                                           " WHERE id = ? AND org_id = ?",
                    "ss", pool_id, org_id);
  if (rows == NULL)
    return NULL;
  if (ts_rows_next (rows, error))
    return ts_tx_pool_from_row (rows);
  if (ts_rows_ok (rows))
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "organization %s has no pool %s",
                 org_id, pool_id);
  return NULL;
}
