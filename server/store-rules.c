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

TsRows *
ts_tx_pool_query (TsTx *tx, const char *org_id, const char *pool_id, GError **error)
{
  if (pool_id == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "pool_id is missing");
      return NULL;
    }
  /* FOR NO KEY UPDATE: see ts_tx_lock_row(). */
  return ts_tx_rows (tx, error,
                     ts_tx_row_locks (tx) ? "SELECT " TS_POOL_COLUMNS " FROM pools"
                                            " WHERE id = ? AND org_id = ? FOR NO KEY UPDATE"
                                          : "SELECT " TS_POOL_COLUMNS " FROM pools"
                                            " WHERE id = ? AND org_id = ?",
                     "ss", pool_id, org_id);
}

TsPool *
ts_tx_pool_read (TsRows *rows, const char *org_id, const char *pool_id, GError **error)
{
  if (ts_rows_next (rows, error))
    return ts_tx_pool_from_row (rows);
  if (ts_rows_ok (rows))
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "organization %s has no pool %s",
                 org_id, pool_id);
  return NULL;
}

TsPool *
ts_tx_load_pool (TsTx *tx, const char *org_id, const char *pool_id, GError **error)
{
  g_autoptr (TsRows) rows = ts_tx_pool_query (tx, org_id, pool_id, error);
  return rows != NULL ? ts_tx_pool_read (rows, org_id, pool_id, error) : NULL;
}

gboolean
ts_tx_count_offline (TsTx *tx, const char *pool_id, gint64 now, gint64 *out, GError **error)
{
  return ts_tx_int (tx, error, out, NULL,
                    "SELECT count(*) FROM offline WHERE pool_id = ? AND expires_at > ?", "si",
                    pool_id, now);
}

gboolean
ts_tx_count_sessions (TsTx *tx, const char *pool_id, gint64 now, gint64 *out, GError **error)
{
  return ts_tx_int (tx, error, out, NULL,
                    "SELECT count(*) FROM sessions WHERE pool_id = ? AND ended_at IS NULL"
                    " AND lease_expires_at > ?",
                    "si", pool_id, now);
}

G_STATIC_ASSERT (TESSERA_ERROR_TERMINATED == 25); /* TS_MIGRATION_OVER_QUOTA */

/* ---- sessions ---- */

gpointer
ts_tx_session_from_row (TsRows *rows)
{
  TsSession *s = g_new0 (TsSession, 1);
  s->id = ts_rows_strdup (rows, 0);
  s->org_id = ts_rows_strdup (rows, 1);
  s->pool_id = ts_rows_strdup (rows, 2);
  s->product = ts_rows_strdup (rows, 3);
  s->kind = ts_rows_strdup (rows, 4);
  s->user_id = ts_rows_strdup (rows, 5);
  s->machine_id = ts_rows_strdup (rows, 6);
  s->nonce = ts_rows_strdup (rows, 7);
  s->started_at = ts_rows_int (rows, 8);
  s->last_heartbeat = ts_rows_int (rows, 9);
  s->lease_expires_at = ts_rows_int (rows, 10);
  s->subscription_end = ts_rows_int (rows, 11);
  return s;
}

void
ts_tx_session_row_clear (TsSessionRow *row)
{
  g_clear_pointer (&row->session, ts_session_free);
  g_clear_pointer (&row->end_reason, g_free);
}

TsRows *
ts_tx_session_query (TsTx *tx, GError **error, const char *where, const char *a, const char *b,
                     const char *c)
{
  g_autofree char *sql = g_strconcat (TS_SESSION_SELECT, where,
                                      ts_tx_row_locks (tx) ? " FOR NO KEY UPDATE OF s" : "", NULL);
  return c != NULL   ? ts_tx_rows (tx, error, sql, "sss", a, b, c)
         : b != NULL ? ts_tx_rows (tx, error, sql, "ss", a, b)
                     : ts_tx_rows (tx, error, sql, "s", a);
}

gboolean
ts_tx_session_read (TsRows *rows, TsSessionRow *row, gboolean *found, GError **error)
{
  *found = FALSE;
  if (ts_rows_next (rows, error))
    {
      *found = TRUE;
      row->session = ts_tx_session_from_row (rows);
      row->ended = !ts_rows_is_null (rows, 12);
      row->end_code = (TesseraError) ts_rows_int (rows, 13);
      row->end_reason = ts_rows_strdup (rows, 14);
      row->quota = ts_rows_int (rows, 15);
    }
  return ts_rows_ok (rows);
}

gboolean
ts_tx_load_session (TsTx *tx, TsSessionRow *row, gboolean *found, GError **error, const char *where,
                    const char *a, const char *b, const char *c)
{
  g_autoptr (TsRows) rows = ts_tx_session_query (tx, error, where, a, b, c);
  *found = FALSE;
  return rows != NULL && ts_tx_session_read (rows, row, found, error);
}

gboolean
ts_tx_own_session_read (TsRows *rows, TsSessionRow *row, const char *session_id, GError **error)
{
  gboolean found = FALSE;
  if (!ts_tx_session_read (rows, row, &found, error))
    return FALSE;
  if (!found)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "you have no session %s",
                 session_id);
  return found;
}

gboolean
ts_tx_load_own_session (TsTx *tx, TsSessionRow *row, TsCaller *who, const char *session_id,
                        GError **error)
{
  TsRows *rows = ts_tx_session_query (tx, error, ts_own_session_where (who), session_id,
                                      ts_caller_param (who), NULL);
  gboolean ok = rows != NULL && ts_tx_own_session_read (rows, row, session_id, error);
  g_clear_pointer (&rows, ts_rows_free);
  if (ok)
    ts_caller_found (who, row->session->user_id);
  else
    ts_tx_caller_miss (tx, who, error);
  return ok;
}

/* ---- the caller ---- */

gboolean
ts_caller_check (const TsCaller *who, GError **error)
{
  if (who->user_id != NULL || who->key_hash == NULL)
    return ts_check_id ("user_id", who->user_id, error);
  return TRUE;
}

gboolean
ts_caller_by_key (const TsCaller *who)
{
  return who->user_id == NULL;
}

const char *
ts_caller_param (const TsCaller *who)
{
  return who->user_id != NULL ? who->user_id : who->key_hash;
}

const char *
ts_caller_user (const TsCaller *who)
{
  return who->user_id != NULL ? who->user_id : who->found;
}

void
ts_caller_found (TsCaller *who, const char *user_id)
{
  if (ts_caller_by_key (who) && who->found == NULL)
    who->found = g_strdup (user_id);
}

void
ts_tx_caller_miss (TsTx *tx, TsCaller *who, GError **error)
{
  if (!ts_caller_by_key (who) || error == NULL || *error == NULL
      || (!g_error_matches (*error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND)
          && !g_error_matches (*error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED)))
    return;
  GError *failed = NULL;
  char *user_id = ts_tx_key_user (tx, who->key_hash, &failed);
  if (user_id == NULL)
    {
      /* the key's answer (AUTH), or the database's error, replaces it */
      g_clear_error (error);
      g_propagate_error (error, failed);
    }
  else
    ts_caller_found (who, user_id);
  g_free (user_id);
}

char *
ts_tx_key_user (TsTx *tx, const char *key_hash, GError **error)
{
  char *user_id = NULL;
  if (!ts_tx_str (tx, error, &user_id,
                  "SELECT user_id FROM api_keys WHERE hash = ? AND revoked_at = 0", "s", key_hash))
    return NULL;
  if (user_id == NULL)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH, "unknown or revoked API key");
  return user_id;
}

const char *
ts_own_session_where (const TsCaller *who)
{
  return ts_caller_by_key (who) ? "WHERE s.id = ? AND s.user_id = " TS_KEY_USER ("?")
                                : "WHERE s.id = ? AND s.user_id = ?";
}

gboolean
ts_tx_end_session (TsTx *tx, const char *session_id, gint64 now, TesseraError code,
                   const char *reason, GError **error)
{
  /* Nobody reads its changes: "AND ended_at IS NULL" makes it a no-op on
   * a session another request ended first. */
  return ts_tx_exec_defer (tx, error,
                           "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                           " WHERE id = ? AND ended_at IS NULL",
                           "iiss", now, (gint64) code, reason, session_id);
}

/* ---- audit ---- */

static gpointer
ts_audit_from_row (TsRows *rows)
{
  TsAudit *a = g_new0 (TsAudit, 1);
  a->at = ts_rows_int (rows, 0);
  a->actor = ts_rows_strdup (rows, 1);
  a->action = ts_rows_strdup (rows, 2);
  a->target = ts_rows_strdup (rows, 3);
  a->detail = ts_rows_strdup (rows, 4);
  a->actor_email = ts_rows_strdup (rows, 5);
  a->target_email = ts_rows_strdup (rows, 6);
  return a;
}

GPtrArray *
ts_store_list_audit (TsStore *store, const char *actor, const char *org_id, guint limit,
                     GError **error)
{
  return ts_tx_list_rows (store, actor, org_id, NULL, ts_audit_from_row,
                          (GDestroyNotify) ts_audit_free, error,
                          "SELECT a.at, a.actor, a.action, a.target, a.detail, u.email, t.email"
                          " FROM audit a LEFT JOIN users u ON u.id = a.actor"
                          " LEFT JOIN users t ON t.id = a.target"
                          " WHERE a.org_id = ? ORDER BY a.seq DESC LIMIT ?",
                          "si", org_id, (gint64) (limit > 0 ? limit : 1000));
}
