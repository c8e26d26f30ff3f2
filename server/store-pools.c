/* tessera-store: pools, grants (node-locked), machines recognized by their
 * components (docs/fingerprint.md "Online") and offline licenses. */
#include "store-private.h"

#include <string.h>

static gboolean
ts_check_quota (gint64 quota, GError **error)
{
  if (quota < 0 || quota > TS_QUOTA_MAX)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "invalid quota: 0 to %d",
                   TS_QUOTA_MAX);
      return FALSE;
    }
  return TRUE;
}

static gboolean
ts_pool_fill_usage (sqlite3 *db, TsPool *p, gint64 now, GError **error)
{
  return ts_query_int (db, error, &p->granted, NULL,
                       "SELECT count(*) FROM grants WHERE pool_id = ?", "s", p->id)
         && ts_query_int (db, error, &p->machines, NULL,
                          "SELECT count(*) FROM machines WHERE pool_id = ?", "s", p->id)
         && ts_count_sessions (db, p->id, now, &p->sessions, error)
         && ts_count_offline (db, p->id, now, &p->offline, error);
}

TsPool *
ts_store_create_pool (TsStore *store, const char *actor, const char *org_id, const char *product,
                      const char *kind, const char *billing, gint64 quota, gint64 subscription_end,
                      gint64 now, GError **error)
{
  if (!ts_check_product (product, error) || !ts_check_quota (quota, error))
    return NULL;
  if (g_strcmp0 (kind, "node-locked") != 0 && g_strcmp0 (kind, "floating") != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "invalid kind: node-locked or floating");
      return NULL;
    }
  if (g_strcmp0 (billing, "annual") != 0 && g_strcmp0 (billing, "monthly") != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "invalid billing: annual or monthly");
      return NULL;
    }
  if (subscription_end <= 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "invalid subscription_end: a positive Unix time");
      return NULL;
    }
  sqlite3 *db = ts_db_begin (store, TRUE, error);
  if (db == NULL)
    return NULL;
  TsPool *pool = NULL;
  gint64 exists = 0;
  gboolean ok = ts_require_admin (db, actor, org_id, NULL, error)
                && ts_query_int (db, error, &exists, NULL,
                                 "SELECT count(*) FROM pools WHERE org_id = ? AND product = ?"
                                 " AND kind = ?",
                                 "sss", org_id, product, kind);
  if (ok && exists)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "organization %s already has a %s %s pool", org_id, kind, product);
      ok = FALSE;
    }
  if (ok)
    {
      pool = g_new0 (TsPool, 1);
      pool->id = ts_new_id ();
      pool->org_id = g_strdup (org_id);
      pool->product = g_strdup (product);
      pool->kind = g_strdup (kind);
      pool->billing = g_strdup (billing);
      pool->quota = quota;
      pool->subscription_end = subscription_end;
      pool->match_policy = g_strdup (TESSERA_MATCH_DEFAULT);
      char *detail
          = g_strdup_printf ("%s %s %s quota %" G_GINT64_FORMAT, product, kind, billing, quota);
      ok = ts_exec (db, error, NULL,
                    "INSERT INTO pools (id, org_id, product, kind, billing, quota,"
                    " subscription_end, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    "sssssiii", pool->id, org_id, product, kind, billing, quota, subscription_end,
                    now)
           && ts_audit (db, now, org_id, actor, "pool.create", pool->id, detail, error);
      g_free (detail);
    }
  if (!ts_db_finish (store, db, ok, error))
    g_clear_pointer (&pool, ts_pool_free);
  return pool;
}

TsPool *
ts_store_update_pool_policy (TsStore *store, const char *actor, const char *org_id,
                             const char *pool_id, gint64 quota, gint64 subscription_end,
                             const char *match_policy, gint64 now, GError **error)
{
  if (quota >= 0 && !ts_check_quota (quota, error))
    return NULL;
  sqlite3 *db = ts_db_begin (store, TRUE, error);
  if (db == NULL)
    return NULL;
  ts_quota_forget (store, db); /* a lower quota may put sessions over it */
  TsPool *pool = NULL;
  gboolean ok = ts_require_admin (db, actor, org_id, NULL, error)
                && (pool = ts_load_pool (db, org_id, pool_id, error)) != NULL;
  if (ok && quota >= 0 && g_str_equal (pool->kind, "node-locked"))
    {
      /* Grants and offline licenses are not ended by a lower quota: refuse. */
      gint64 granted = 0, offline = 0;
      ok = ts_query_int (db, error, &granted, NULL, "SELECT count(*) FROM grants WHERE pool_id = ?",
                         "s", pool_id)
           && ts_count_offline (db, pool_id, now, &offline, error);
      if (ok && granted + offline > quota)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                       "%" G_GINT64_FORMAT " users are granted and %" G_GINT64_FORMAT
                       " offline licenses run: revoke grants before lowering the quota to "
                       "%" G_GINT64_FORMAT,
                       granted, offline, quota);
          ok = FALSE;
        }
    }
  if (ok)
    {
      if (quota >= 0)
        pool->quota = quota;
      if (subscription_end >= 0)
        pool->subscription_end = subscription_end;
      if (match_policy != NULL)
        {
          g_free (pool->match_policy);
          pool->match_policy = g_strdup (match_policy);
        }
      /* The policy only when it changes: the detail of a quota or an end
       * date stays what it was. */
      char *detail = g_strdup_printf (
          "quota %" G_GINT64_FORMAT " subscription_end %" G_GINT64_FORMAT "%s%s", pool->quota,
          pool->subscription_end, match_policy ? " match_policy " : "",
          match_policy ? match_policy : "");
      ok = ts_exec (db, error, NULL,
                    "UPDATE pools SET quota = ?, subscription_end = ?, match_policy = ?"
                    " WHERE id = ?",
                    "iiss", pool->quota, pool->subscription_end, pool->match_policy, pool_id)
           && ts_audit (db, now, org_id, actor, "pool.update", pool_id, detail, error)
           && ts_pool_fill_usage (db, pool, now, error);
      g_free (detail);
    }
  if (!ts_db_finish (store, db, ok, error))
    g_clear_pointer (&pool, ts_pool_free);
  return pool;
}

GPtrArray *
ts_store_list_pools (TsStore *store, const char *actor, const char *org_id, gint64 now,
                     GError **error)
{
  sqlite3 *db = ts_db_begin (store, FALSE, error);
  if (db == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_pool_free);
  sqlite3_stmt *stmt = NULL;
  gboolean ok = ts_require_admin (db, actor, org_id, NULL, error)
                && (stmt = ts_stmt (db, error,
                                    "SELECT " TS_POOL_COLUMNS " FROM pools WHERE org_id = ?"
                                    " ORDER BY product, kind",
                                    "s", org_id))
                       != NULL;
  int rc = SQLITE_DONE;
  while (ok && (rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (out, ts_pool_from_row (stmt));
  ok = ok && rc == SQLITE_DONE;
  sqlite3_finalize (stmt);
  for (guint i = 0; ok && i < out->len; i++)
    ok = ts_pool_fill_usage (db, out->pdata[i], now, error);
  if (!ts_db_finish (store, db, ok, error))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}

/* ---- grants ---- */

gboolean
ts_store_grant (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                const char *user_id, gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return FALSE;
  sqlite3 *db = ts_db_begin (store, TRUE, error);
  if (db == NULL)
    return FALSE;
  g_autoptr (TsPool) pool = NULL;
  gint64 member = 0, granted = 0, offline = 0, already = 0;
  gboolean ok = ts_require_admin (db, actor, org_id, NULL, error)
                && (pool = ts_load_pool (db, org_id, pool_id, error)) != NULL;
  if (ok && !g_str_equal (pool->kind, "node-locked"))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "only node-locked licenses are granted; any member may use a floating one");
      ok = FALSE;
    }
  ok = ok
       && ts_query_int (db, error, &member, NULL,
                        "SELECT count(*) FROM members WHERE org_id = ? AND user_id = ?", "ss",
                        org_id, user_id);
  if (ok && !member)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                   "%s is not a member of organization %s", user_id, org_id);
      ok = FALSE;
    }
  ok = ok
       && ts_query_int (db, error, &already, NULL,
                        "SELECT count(*) FROM grants WHERE pool_id = ? AND user_id = ?", "ss",
                        pool_id, user_id);
  if (ok && already) /* granting twice is fine */
    return ts_db_finish (store, db, TRUE, error);
  ok = ok
       && ts_query_int (db, error, &granted, NULL, "SELECT count(*) FROM grants WHERE pool_id = ?",
                        "s", pool_id)
       && ts_count_offline (db, pool_id, now, &offline, error);
  if (ok && granted + offline >= pool->quota)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                   "all %" G_GINT64_FORMAT " %s node-locked licenses of organization %s are "
                   "taken (%" G_GINT64_FORMAT " granted, %" G_GINT64_FORMAT " offline)",
                   pool->quota, pool->product, org_id, granted, offline);
      ok = FALSE;
    }
  ok = ok
       && ts_exec (db, error, NULL,
                   "INSERT INTO grants (pool_id, user_id, granted_at) VALUES (?, ?, ?)", "ssi",
                   pool_id, user_id, now)
       && ts_audit (db, now, org_id, actor, "grant", pool_id, user_id, error);
  return ts_db_finish (store, db, ok, error);
}

gboolean
ts_store_revoke_grant (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                       const char *user_id, gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return FALSE;
  sqlite3 *db = ts_db_begin (store, TRUE, error);
  if (db == NULL)
    return FALSE;
  g_autoptr (TsPool) pool = NULL;
  gint64 changes = 0;
  gboolean ok
      = ts_require_admin (db, actor, org_id, NULL, error)
        && (pool = ts_load_pool (db, org_id, pool_id, error)) != NULL
        && ts_exec (db, error, &changes, "DELETE FROM grants WHERE pool_id = ? AND user_id = ?",
                    "ss", pool_id, user_id);
  if (ok && changes == 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "%s has no grant in pool %s",
                   user_id, pool_id);
      ok = FALSE;
    }
  ok = ok
       && ts_exec (db, error, NULL,
                   "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = 'revoked'"
                   " WHERE pool_id = ? AND user_id = ? AND ended_at IS NULL",
                   "iiss", now, (gint64) TESSERA_ERROR_REVOKED, pool_id, user_id)
       && ts_exec (db, error, NULL, "DELETE FROM machines WHERE pool_id = ? AND user_id = ?", "ss",
                   pool_id, user_id)
       && ts_audit (db, now, org_id, actor, "grant.revoke", pool_id, user_id, error);
  return ts_db_finish (store, db, ok, error);
}

static gpointer
ts_grant_from_row (sqlite3_stmt *stmt)
{
  TsGrant *g = g_new0 (TsGrant, 1);
  g->user_id = ts_col_strdup (stmt, 0);
  g->email = ts_col_strdup (stmt, 1);
  g->granted_at = sqlite3_column_int64 (stmt, 2);
  return g;
}

GPtrArray *
ts_store_list_grants (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                      GError **error)
{
  return ts_list_rows (store, actor, org_id, pool_id, ts_grant_from_row,
                       (GDestroyNotify) ts_grant_free, error,
                       "SELECT g.user_id, u.email, g.granted_at FROM grants g"
                       " JOIN users u ON u.id = g.user_id WHERE g.pool_id = ?"
                       " ORDER BY g.granted_at, u.email",
                       "s", pool_id);
}

/* ---- machines ---- */

/* A machine ID new to the pool, whose @components match a machine the same
 * user registered by the pool's policy, is that machine: its registration
 * takes the new ID (docs/fingerprint.md, "Online"). */
gboolean
ts_recognize_sqlite (sqlite3 *db, const char *user_id, TsPool *pool, const char *machine_id,
                     const char *components, gint64 now, GError **error)
{
  gint64 registered = 0;
  if (!ts_query_int (db, error, &registered, NULL,
                     "SELECT count(*) FROM machines WHERE pool_id = ? AND machine_id = ?", "ss",
                     pool->id, machine_id))
    return FALSE;
  if (registered)
    return TRUE;
  sqlite3_stmt *stmt = ts_stmt_cached (db, error,
                                       "SELECT machine_id, components FROM machines"
                                       " WHERE pool_id = ? AND user_id = ?"
                                       " AND components IS NOT NULL ORDER BY last_seen DESC",
                                       "ss", pool->id, user_id);
  if (stmt == NULL)
    return FALSE;
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (g_free);
  int rc;
  while ((rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    {
      g_ptr_array_add (rows, ts_col_strdup (stmt, 0));
      g_ptr_array_add (rows, ts_col_strdup (stmt, 1));
    }
  ts_stmt_done (db, stmt);
  if (rc == -1)
    return FALSE;
  g_autofree char *detail = NULL;
  g_autofree char *old
      = ts_recognize_machine (pool->match_policy, rows, machine_id, components, &detail);
  if (old == NULL)
    return TRUE;
  return ts_exec (db, error, NULL,
                  "UPDATE machines SET machine_id = ?, last_seen = ?"
                  " WHERE pool_id = ? AND machine_id = ?",
                  "siss", machine_id, now, pool->id, old)
         && ts_audit (db, now, pool->org_id, user_id, "machine.replace", pool->id, detail, error);
}

/* ---- offline ---- */

TsOffline *
ts_store_create_offline_request (TsStore *store, const char *actor, const char *org_id,
                                 const char *pool_id, const char *machine_id,
                                 TesseraFingerprint *request, const char *const *entitlements,
                                 TesseraSigningKey *key, gint64 now, GError **error)
{
  if (!ts_check_offline_machine (&machine_id, request, error))
    return NULL;
  if (key == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "no signing key: the server has none configured");
      return NULL;
    }
  sqlite3 *db = ts_db_begin (store, TRUE, error);
  if (db == NULL)
    return NULL;
  ts_quota_forget (store, db); /* an offline license takes a seat */
  g_autoptr (TsPool) pool = NULL;
  TsOffline *off = NULL;
  gint64 granted = 0, offline = 0;
  gboolean ok = ts_require_admin (db, actor, org_id, NULL, error)
                && (pool = ts_load_pool (db, org_id, pool_id, error)) != NULL;
  if (ok && (!g_str_equal (pool->kind, "node-locked") || !g_str_equal (pool->billing, "annual")))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "only an annual node-locked license can be converted to offline (pool %s is "
                   "%s %s)",
                   pool_id, pool->billing, pool->kind);
      ok = FALSE;
    }
  ok = ok
       && ts_query_int (db, error, &granted, NULL, "SELECT count(*) FROM grants WHERE pool_id = ?",
                        "s", pool_id)
       && ts_count_offline (db, pool_id, now, &offline, error);
  if (ok && granted + offline >= pool->quota)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                   "all %" G_GINT64_FORMAT " %s node-locked licenses of organization %s are "
                   "taken (%" G_GINT64_FORMAT " granted, %" G_GINT64_FORMAT " offline)",
                   pool->quota, pool->product, org_id, granted, offline);
      ok = FALSE;
    }
  if (ok)
    {
      off = g_new0 (TsOffline, 1);
      off->id = ts_new_id ();
      off->pool_id = g_strdup (pool_id);
      off->machine_id = g_strdup (machine_id);
      off->created_by = g_strdup (actor != NULL ? actor : "tessera-admin");
      off->created_at = now;
      off->expires_at = MIN (now + TS_OFFLINE_VALIDITY, pool->subscription_end);
      TesseraLicfileInfo info = {
        .license_id = off->id,
        .org = org_id,
        .product = pool->product,
        .machine_id = machine_id,
        .kind = "node-locked",
        .billing = "annual",
        .issued_at = now,
        .expires_at = off->expires_at,
        .subscription_end = pool->subscription_end,
        .entitlements = entitlements,
      };
      off->file = ts_sign_offline (key, &info, request, pool->match_policy, error);
      off->file_name = tessera_licfile_file_name (pool->product, machine_id, 0);
      char *detail
          = g_strdup_printf ("machine %s expires %" G_GINT64_FORMAT, machine_id, off->expires_at);
      ok = off->file != NULL
           && ts_exec (db, error, NULL,
                       "INSERT INTO offline (id, pool_id, machine_id, created_by, created_at,"
                       " expires_at, file, file_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       "ssssiibs", off->id, pool_id, machine_id, off->created_by, now,
                       off->expires_at, off->file, off->file_name)
           && ts_audit (db, now, org_id, actor, "offline.create", off->id, detail, error);
      g_free (detail);
    }
  if (!ts_db_finish (store, db, ok, error))
    g_clear_pointer (&off, ts_offline_free);
  return off;
}

#define TS_OFFLINE_COLUMNS                                                                         \
  "o.id, o.pool_id, o.machine_id, o.created_by, o.created_at, o.expires_at, o.file_name"

/* TS_OFFLINE_COLUMNS, then the file when selected (column 7). */
static gpointer
ts_offline_from_row (sqlite3_stmt *stmt)
{
  TsOffline *o = g_new0 (TsOffline, 1);
  o->id = ts_col_strdup (stmt, 0);
  o->pool_id = ts_col_strdup (stmt, 1);
  o->machine_id = ts_col_strdup (stmt, 2);
  o->created_by = ts_col_strdup (stmt, 3);
  o->created_at = sqlite3_column_int64 (stmt, 4);
  o->expires_at = sqlite3_column_int64 (stmt, 5);
  o->file_name = ts_col_strdup (stmt, 6);
  if (sqlite3_column_count (stmt) > 7)
    o->file = g_bytes_new (sqlite3_column_blob (stmt, 7), sqlite3_column_bytes (stmt, 7));
  return o;
}

GPtrArray *
ts_store_list_offline (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                       GError **error)
{
  return ts_list_rows (store, actor, org_id, pool_id, ts_offline_from_row,
                       (GDestroyNotify) ts_offline_free, error,
                       "SELECT " TS_OFFLINE_COLUMNS " FROM offline o WHERE o.pool_id = ?"
                       " ORDER BY o.created_at, o.id",
                       "s", pool_id);
}

TsOffline *
ts_store_get_offline (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                      const char *offline_id, GError **error)
{
  if (!ts_check_id ("offline license id", offline_id, error)
      || (pool_id != NULL && !ts_check_id ("pool_id", pool_id, error)))
    return NULL;
  if (actor != NULL && org_id == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "org_id is missing");
      return NULL;
    }
  /* The pool is checked against the organization by the query itself, so a
   * license of another organization is simply not found. */
  g_autoptr (GPtrArray) rows = ts_list_rows (
      store, actor, org_id, NULL, ts_offline_from_row, (GDestroyNotify) ts_offline_free, error,
      "SELECT " TS_OFFLINE_COLUMNS ", o.file FROM offline o"
      " JOIN pools p ON p.id = o.pool_id WHERE o.id = ?"
      " AND (?2 IS NULL OR p.org_id = ?2) AND (?3 IS NULL OR o.pool_id = ?3)",
      "sss", offline_id, org_id, pool_id);
  if (rows == NULL)
    return NULL;
  if (rows->len == 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "no offline license %s%s%s",
                   offline_id, org_id != NULL ? " in organization " : "",
                   org_id != NULL ? org_id : "");
      return NULL;
    }
  return g_ptr_array_steal_index (rows, 0);
}
