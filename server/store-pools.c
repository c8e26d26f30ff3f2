/* tessera-store: pools, grants (node-locked), machines recognized by their
 * components (docs/fingerprint.md "Online") and offline licenses. */
#include "db.h"

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
ts_pool_fill_usage (TsTx *tx, TsPool *p, gint64 now, GError **error)
{
  return ts_tx_int (tx, error, &p->granted, NULL, "SELECT count(*) FROM grants WHERE pool_id = ?",
                    "s", p->id)
         && ts_tx_int (tx, error, &p->machines, NULL,
                       "SELECT count(*) FROM machines WHERE pool_id = ?", "s", p->id)
         && ts_tx_count_sessions (tx, p->id, now, &p->sessions, error)
         && ts_tx_count_offline (tx, p->id, now, &p->offline, error);
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
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  TsPool *pool = NULL;
  gint64 exists = 0;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, NULL, error)
                && ts_tx_int (tx, error, &exists, NULL,
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
      ok = ts_tx_exec (tx, error, NULL,
                       "INSERT INTO pools (id, org_id, product, kind, billing, quota,"
                       " subscription_end, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       "sssssiii", pool->id, org_id, product, kind, billing, quota,
                       subscription_end, now)
           && ts_tx_audit (tx, now, org_id, actor, "pool.create", pool->id, detail, error);
      g_free (detail);
    }
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&pool, ts_pool_free);
  return pool;
}

TsPool *
ts_store_update_pool (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                      gint64 quota, gint64 subscription_end, gint64 now, GError **error)
{
  return ts_store_update_pool_policy (store, actor, org_id, pool_id, quota, subscription_end, NULL,
                                      now, error);
}

/* A floating quota lowered below the seats in use ends the newest sessions
 * beyond it, here, under the pool's lock (ts_tx_load_pool()): the rule
 * lives where the quota changes, so no heartbeat counts the pool's seats
 * (issue 17: that count was the largest part of a heartbeat's cost), and
 * the seats are free at once rather than at each client's next heartbeat.
 * The clients hear it at their next heartbeat ("over quota"). */
static gboolean
ts_end_over_quota (TsTx *tx, TsPool *pool, gint64 now, GError **error)
{
  gint64 offline = 0, active = 0;
  if (!ts_tx_count_offline (tx, pool->id, now, &offline, error)
      || !ts_tx_count_sessions (tx, pool->id, now, &active, error))
    return FALSE;
  if (active + offline <= pool->quota)
    return TRUE;
  g_autofree char *reason
      = g_strdup_printf ("over quota: the quota was lowered to %" G_GINT64_FORMAT, pool->quota);
  /* The newest first, by started_at then id: the oldest keep their seats. */
  return ts_tx_exec (tx, error, NULL,
                     "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                     " WHERE id IN (SELECT id FROM sessions WHERE pool_id = ? AND ended_at IS NULL"
                     " AND lease_expires_at > ? ORDER BY started_at DESC, id DESC LIMIT ?)",
                     "iissii", now, (gint64) TESSERA_ERROR_TERMINATED, reason, pool->id, now,
                     active + offline - pool->quota);
}

TsPool *
ts_store_update_pool_policy (TsStore *store, const char *actor, const char *org_id,
                             const char *pool_id, gint64 quota, gint64 subscription_end,
                             const char *match_policy, gint64 now, GError **error)
{
  if (match_policy != NULL && !tessera_match_policy_check (match_policy, error))
    return NULL;
  if (quota >= 0 && !ts_check_quota (quota, error))
    return NULL;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  TsPool *pool = NULL;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, NULL, error)
                && (pool = ts_tx_load_pool (tx, org_id, pool_id, error)) != NULL;
  if (ok && quota >= 0 && g_str_equal (pool->kind, "node-locked"))
    {
      /* Grants and offline licenses are not ended by a lower quota: refuse. */
      gint64 granted = 0, offline = 0;
      ok = ts_tx_int (tx, error, &granted, NULL, "SELECT count(*) FROM grants WHERE pool_id = ?",
                      "s", pool_id)
           && ts_tx_count_offline (tx, pool_id, now, &offline, error);
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
      ok = ts_tx_exec (tx, error, NULL,
                       "UPDATE pools SET quota = ?, subscription_end = ?, match_policy = ?"
                       " WHERE id = ?",
                       "iiss", pool->quota, pool->subscription_end, pool->match_policy, pool_id)
           && (quota < 0 || !g_str_equal (pool->kind, "floating")
               || ts_end_over_quota (tx, pool, now, error))
           && ts_tx_audit (tx, now, org_id, actor, "pool.update", pool_id, detail, error)
           && ts_pool_fill_usage (tx, pool, now, error);
      g_free (detail);
    }
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&pool, ts_pool_free);
  return pool;
}

GPtrArray *
ts_store_list_pools (TsStore *store, const char *actor, const char *org_id, gint64 now,
                     GError **error)
{
  TsTx *tx = ts_tx_begin (store, TS_TX_READ, error);
  if (tx == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_pool_free);
  TsRows *rows = NULL;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, NULL, error)
                && (rows = ts_tx_rows (tx, error,
                                       "SELECT " TS_POOL_COLUMNS " FROM pools WHERE org_id = ?"
                                       " ORDER BY product, kind",
                                       "s", org_id))
                       != NULL;
  while (ok && ts_rows_next (rows, error))
    g_ptr_array_add (out, ts_tx_pool_from_row (rows));
  ok = ok && ts_rows_ok (rows);
  ts_rows_free (rows);
  for (guint i = 0; ok && i < out->len; i++)
    ok = ts_pool_fill_usage (tx, out->pdata[i], now, error);
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}

/* ---- grants ---- */

/* The node-locked rule: users granted and offline licenses running take a
 * seat each, within the quota. A grant or an offline license is one more:
 * is there a seat for it? @pool was loaded in this write, which locked its
 * row (ts_tx_load_pool()): the count and the insert it allows are one step. */
static gboolean
ts_node_locked_seat_free (TsTx *tx, const TsPool *pool, gint64 now, GError **error)
{
  gint64 granted = 0, offline = 0;
  if (!ts_tx_int (tx, error, &granted, NULL, "SELECT count(*) FROM grants WHERE pool_id = ?", "s",
                  pool->id)
      || !ts_tx_count_offline (tx, pool->id, now, &offline, error))
    return FALSE;
  if (granted + offline < pool->quota)
    return TRUE;
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
               "all %" G_GINT64_FORMAT " %s node-locked licenses of organization %s are "
               "taken (%" G_GINT64_FORMAT " granted, %" G_GINT64_FORMAT " offline)",
               pool->quota, pool->product, pool->org_id, granted, offline);
  return FALSE;
}

gboolean
ts_store_grant (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                const char *user_id, gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  g_autoptr (TsPool) pool = NULL;
  gint64 member = 0, already = 0;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, NULL, error)
                && (pool = ts_tx_load_pool (tx, org_id, pool_id, error)) != NULL;
  if (ok && !g_str_equal (pool->kind, "node-locked"))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "only node-locked licenses are granted; any member may use a floating one");
      ok = FALSE;
    }
  ok = ok
       && ts_tx_int (tx, error, &member, NULL,
                     "SELECT count(*) FROM members WHERE org_id = ? AND user_id = ?", "ss", org_id,
                     user_id);
  if (ok && !member)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                   "%s is not a member of organization %s", user_id, org_id);
      ok = FALSE;
    }
  ok = ok
       && ts_tx_int (tx, error, &already, NULL,
                     "SELECT count(*) FROM grants WHERE pool_id = ? AND user_id = ?", "ss", pool_id,
                     user_id);
  if (ok && already) /* granting twice is fine */
    return ts_tx_finish (tx, TRUE, error);
  ok = ok && ts_node_locked_seat_free (tx, pool, now, error);
  ok = ok
       && ts_tx_exec (tx, error, NULL,
                      "INSERT INTO grants (pool_id, user_id, granted_at) VALUES (?, ?, ?)", "ssi",
                      pool_id, user_id, now)
       && ts_tx_audit (tx, now, org_id, actor, "grant", pool_id, user_id, error);
  return ts_tx_finish (tx, ok, error);
}

gboolean
ts_store_revoke_grant (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                       const char *user_id, gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  g_autoptr (TsPool) pool = NULL;
  gint64 changes = 0;
  gboolean ok
      = ts_tx_require_admin (tx, actor, org_id, NULL, error)
        && (pool = ts_tx_load_pool (tx, org_id, pool_id, error)) != NULL
        && ts_tx_exec (tx, error, &changes, "DELETE FROM grants WHERE pool_id = ? AND user_id = ?",
                       "ss", pool_id, user_id);
  if (ok && changes == 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "%s has no grant in pool %s",
                   user_id, pool_id);
      ok = FALSE;
    }
  ok = ok
       && ts_tx_exec (tx, error, NULL,
                      "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = 'revoked'"
                      " WHERE pool_id = ? AND user_id = ? AND ended_at IS NULL",
                      "iiss", now, (gint64) TESSERA_ERROR_REVOKED, pool_id, user_id)
       && ts_tx_exec (tx, error, NULL, "DELETE FROM machines WHERE pool_id = ? AND user_id = ?",
                      "ss", pool_id, user_id)
       && ts_tx_audit (tx, now, org_id, actor, "grant.revoke", pool_id, user_id, error);
  return ts_tx_finish (tx, ok, error);
}

static gpointer
ts_grant_from_row (TsRows *rows)
{
  TsGrant *g = g_new0 (TsGrant, 1);
  g->user_id = ts_rows_strdup (rows, 0);
  g->email = ts_rows_strdup (rows, 1);
  g->granted_at = ts_rows_int (rows, 2);
  return g;
}

GPtrArray *
ts_store_list_grants (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                      GError **error)
{
  return ts_tx_list_rows (store, actor, org_id, pool_id, ts_grant_from_row,
                          (GDestroyNotify) ts_grant_free, error,
                          "SELECT g.user_id, u.email, g.granted_at FROM grants g"
                          " JOIN users u ON u.id = g.user_id WHERE g.pool_id = ?"
                          " ORDER BY g.granted_at, u.email",
                          "s", pool_id);
}

/* ---- offline ---- */

TsOffline *
ts_store_create_offline (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                         const char *machine_id, const char *const *entitlements,
                         TesseraSigningKey *key, gint64 now, GError **error)
{
  return ts_store_create_offline_request (store, actor, org_id, pool_id, machine_id, NULL,
                                          entitlements, key, now, error);
}

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
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  g_autoptr (TsPool) pool = NULL;
  TsOffline *off = NULL;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, NULL, error)
                && (pool = ts_tx_load_pool (tx, org_id, pool_id, error)) != NULL;
  if (ok && (!g_str_equal (pool->kind, "node-locked") || !g_str_equal (pool->billing, "annual")))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "only an annual node-locked license can be converted to offline (pool %s is "
                   "%s %s)",
                   pool_id, pool->billing, pool->kind);
      ok = FALSE;
    }
  ok = ok && ts_node_locked_seat_free (tx, pool, now, error);
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
           && ts_tx_exec (tx, error, NULL,
                          "INSERT INTO offline (id, pool_id, machine_id, created_by, created_at,"
                          " expires_at, file, file_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          "ssssiibs", off->id, pool_id, machine_id, off->created_by, now,
                          off->expires_at, off->file, off->file_name)
           && ts_tx_audit (tx, now, org_id, actor, "offline.create", off->id, detail, error);
      g_free (detail);
    }
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&off, ts_offline_free);
  return off;
}

#define TS_OFFLINE_COLUMNS                                                                         \
  "o.id, o.pool_id, o.machine_id, o.created_by, o.created_at, o.expires_at, o.file_name"

/* TS_OFFLINE_COLUMNS, then the file when selected (column 7). */
static gpointer
ts_offline_from_row (TsRows *rows)
{
  TsOffline *o = g_new0 (TsOffline, 1);
  o->id = ts_rows_strdup (rows, 0);
  o->pool_id = ts_rows_strdup (rows, 1);
  o->machine_id = ts_rows_strdup (rows, 2);
  o->created_by = ts_rows_strdup (rows, 3);
  o->created_at = ts_rows_int (rows, 4);
  o->expires_at = ts_rows_int (rows, 5);
  o->file_name = ts_rows_strdup (rows, 6);
  if (ts_rows_columns (rows) > 7)
    o->file = ts_rows_bytes (rows, 7);
  return o;
}

GPtrArray *
ts_store_list_offline (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                       GError **error)
{
  return ts_tx_list_rows (store, actor, org_id, pool_id, ts_offline_from_row,
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
  g_autoptr (GPtrArray) rows = ts_tx_list_rows (
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
