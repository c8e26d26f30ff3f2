/* tessera-store: what /metrics reads from the database (metrics.h),
 * written once over db.h for both engines. */
#include "db.h"
#include "metrics.h"
#include "store-private.h"

/* One row per pool: the cardinality of the per-pool gauges is the number
 * of pools (docs/deployment.md, "Monitoring"). Seats in use are what the
 * quota counts (ts_tx_count_sessions() and ts_tx_count_offline()). */
#define TS_POOL_METRICS_SELECT                                                                     \
  "SELECT p.org_id, p.id, p.product, p.kind, p.quota,"                                             \
  " (SELECT count(*) FROM sessions s WHERE s.pool_id = p.id AND s.ended_at IS NULL"                \
  "  AND s.lease_expires_at > ?1)"                                                                 \
  " + (SELECT count(*) FROM offline o WHERE o.pool_id = p.id AND o.expires_at > ?1),"              \
  " (SELECT count(*) FROM machines m WHERE m.pool_id = p.id)"                                      \
  " FROM pools p ORDER BY p.org_id, p.product, p.kind"

void
ts_pool_metrics_free (TsPoolMetrics *p)
{
  g_free (p->org_id);
  g_free (p->pool_id);
  g_free (p->product);
  g_free (p->kind);
  g_free (p);
}

GPtrArray *
ts_store_pool_metrics (TsStore *store, gint64 now, GError **error)
{
  TsTx *tx = ts_tx_begin (store, TS_TX_READ, error);
  if (tx == NULL)
    return NULL;
  GPtrArray *pools = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_pool_metrics_free);
  TsRows *rows = ts_tx_rows (tx, error, TS_POOL_METRICS_SELECT, "i", now);
  while (rows != NULL && ts_rows_next (rows, error))
    {
      TsPoolMetrics *p = g_new0 (TsPoolMetrics, 1);
      p->org_id = ts_rows_strdup (rows, 0);
      p->pool_id = ts_rows_strdup (rows, 1);
      p->product = ts_rows_strdup (rows, 2);
      p->kind = ts_rows_strdup (rows, 3);
      p->quota = ts_rows_int (rows, 4);
      p->in_use = ts_rows_int (rows, 5);
      p->machines = ts_rows_int (rows, 6);
      g_ptr_array_add (pools, p);
    }
  gboolean ok = rows != NULL && ts_rows_ok (rows);
  g_clear_pointer (&rows, ts_rows_free);
  if (!ts_tx_finish (tx, ok, ok ? error : NULL) || !ok)
    g_clear_pointer (&pools, g_ptr_array_unref);
  return pools;
}

gint64
ts_store_lease_queue_depth (TsStore *store)
{
  if (store->kind != TS_STORE_SQLITE)
    return -1;
  TsSqliteStore *s = store->sqlite;
  g_mutex_lock (&s->lease_lock);
  gint64 n = g_queue_get_length (&s->lease_pending);
  g_mutex_unlock (&s->lease_lock);
  return n;
}
