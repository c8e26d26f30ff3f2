/* tessera-store's database layer (db.h): the engine-neutral half. Each call
 * goes to the engine of the store (TsTxOps of db-sqlite.c or db-pg.c). */
#include "db.h"
#include "metrics.h"
#include "store-pg.h"
#include "store-private.h"

struct _TsTx
{
  const TsTxOps *ops;
  gpointer store; /* the engine's store */
  gpointer conn;  /* the engine's transaction */
  TsTxMode mode;
  /* Seat credits its commit gives (ts_tx_seat_credits_on_commit()) */
  char *credit_pool;
  gint64 credit_epoch, credit_n;
};

struct _TsRows
{
  TsTx *tx;
  gpointer cursor;
  gboolean failed;
};

/* The engine by the location: PostgreSQL for a postgresql:// or
 * postgres:// URL (a libpq connection URI), the embedded SQLite store for
 * anything else, a file path. */
static gboolean
ts_store_is_postgresql_url (const char *location)
{
  return g_str_has_prefix (location, "postgresql://") || g_str_has_prefix (location, "postgres://");
}

/* What ts_store_open() adds around the engine's own store. */
static void
ts_store_free_shell (TsStore *store)
{
  g_mutex_clear (&store->ready.lock);
  g_cond_clear (&store->ready.done);
  g_free (store->ready.reason);
  g_mutex_clear (&store->guesses.lock);
  g_clear_pointer (&store->guesses.pools, g_hash_table_unref);
  g_free (store);
}

TsStore *
ts_store_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  TsStore *store = g_new0 (TsStore, 1);
  g_mutex_init (&store->ready.lock);
  g_cond_init (&store->ready.done);
  g_mutex_init (&store->guesses.lock);
  if (ts_store_is_postgresql_url (path))
    {
      store->kind = TS_STORE_POSTGRESQL;
      store->pg = ts_pg_open (path, error);
    }
  else
    {
      store->kind = TS_STORE_SQLITE;
      store->sqlite = ts_sqlite_open (path, error);
    }
  if (store->kind == TS_STORE_POSTGRESQL ? store->pg == NULL : store->sqlite == NULL)
    {
      ts_store_free_shell (store);
      return NULL;
    }
  return store;
}

void
ts_store_close (TsStore *store)
{
  if (store == NULL)
    return;
  if (store->kind == TS_STORE_POSTGRESQL)
    ts_pg_close (store->pg);
  else
    ts_sqlite_close (store->sqlite);
  ts_store_free_shell (store);
}

static const TsTxOps *
ts_store_ops (TsStore *store, gpointer *engine)
{
  gboolean pg = store->kind == TS_STORE_POSTGRESQL;
  *engine = pg ? (gpointer) store->pg : (gpointer) store->sqlite;
  return pg ? &ts_tx_pg_ops : &ts_tx_sqlite_ops;
}

gboolean
ts_store_engine_heartbeat (TsStore *store, TsCaller *who, const char *session_id,
                           gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data)
{
  gpointer engine;
  const TsTxOps *ops = ts_store_ops (store, &engine);
  if (ops->heartbeat_async == NULL)
    return FALSE;
  ops->heartbeat_async (engine, who, session_id, lease_seconds, now, done, data);
  return TRUE;
}

gboolean
ts_store_heartbeat_queues (TsStore *store)
{
  gpointer engine;
  return ts_store_ops (store, &engine)->heartbeat_async != NULL;
}

gboolean
ts_store_round_trips (TsStore *store, guint *round_trips, guint *statements)
{
  *round_trips = *statements = 0;
  if (store->kind != TS_STORE_POSTGRESQL)
    return FALSE;
  ts_pg_counts (store->pg, round_trips, statements);
  return TRUE;
}

guint
ts_store_connections (TsStore *store)
{
  return store->kind == TS_STORE_POSTGRESQL ? ts_pg_pool_size (store->pg) : 0;
}

TsTx *
ts_tx_begin (TsStore *store, TsTxMode mode, GError **error)
{
  gpointer engine;
  const TsTxOps *ops = ts_store_ops (store, &engine);
  gpointer conn = ops->begin (engine, mode, error);
  return conn != NULL ? ts_tx_wrap (ops, engine, conn, mode) : NULL;
}

TsTx *
ts_tx_wrap (const TsTxOps *ops, gpointer store, gpointer conn, TsTxMode mode)
{
  TsTx *tx = g_new0 (TsTx, 1);
  tx->ops = ops;
  tx->store = store;
  tx->conn = conn;
  tx->mode = mode;
  return tx;
}

void
ts_tx_unwrap (TsTx *tx)
{
  g_free (tx->credit_pool);
  g_free (tx);
}

gboolean
ts_tx_mark_durable (TsTx *tx, GError **error)
{
  return tx->ops->mark_durable (tx->store, tx->conn, error);
}

gboolean
ts_tx_finish (TsTx *tx, gboolean ok, GError **error)
{
  /* SQLite's commits are timed where its batches commit (store-sqlite.c). */
  gboolean timed = ok && tx->ops->postgresql && tx->mode != TS_TX_READ && tx->mode != TS_TX_ONE;
  gint64 start = timed ? g_get_monotonic_time () : 0;
  ok = tx->ops->finish (tx->store, tx->conn, tx->mode, ok, error);
  if (timed && ok)
    ts_metrics_commit (g_get_monotonic_time () - start);
  /* Only a commit known to have happened gives them: after any failure
   * (even one that may have committed) they are lost, which only leaves
   * the bound looser. */
  if (ok && tx->credit_pool != NULL && tx->credit_n > 0)
    tx->ops->seat_credits_add (tx->store, tx->credit_pool, tx->credit_epoch, tx->credit_n);
  g_free (tx->credit_pool);
  g_free (tx);
  return ok;
}

const char *
ts_tx_sql (TsTx *tx, const char *sqlite_sql, const char *pg_sql)
{
  return tx->ops->postgresql ? pg_sql : sqlite_sql;
}

gboolean
ts_tx_seats_bound (TsTx *tx, const char *pool_id, gint64 *bound)
{
  return tx->ops->seats_bound != NULL && tx->ops->seats_bound (tx->store, tx->conn, pool_id, bound);
}

void
ts_tx_seats_set_bound (TsTx *tx, const char *pool_id, gint64 bound)
{
  if (tx->ops->seats_set_bound != NULL)
    tx->ops->seats_set_bound (tx->store, tx->conn, pool_id, bound);
}

gboolean
ts_tx_seat_credits (TsTx *tx)
{
  return tx->ops->seat_credit_take != NULL;
}

gboolean
ts_tx_seat_credit_take (TsTx *tx, const char *pool_id, gint64 epoch)
{
  return tx->ops->seat_credit_take != NULL && tx->ops->seat_credit_take (tx->store, pool_id, epoch);
}

void
ts_tx_seat_credits_on_commit (TsTx *tx, const char *pool_id, gint64 epoch, gint64 n)
{
  g_free (tx->credit_pool);
  tx->credit_pool = g_strdup (pool_id);
  tx->credit_epoch = epoch;
  tx->credit_n = n;
}

gboolean
ts_tx_row_locks (TsTx *tx)
{
  return tx->ops->row_locks && (tx->mode == TS_TX_WRITE || tx->mode == TS_TX_LEASE);
}

gboolean
ts_tx_lock_row (TsTx *tx, const char *table, const char *id, gboolean *found, GError **error)
{
  if (found != NULL)
    *found = FALSE;
  if (!ts_tx_row_locks (tx))
    return TRUE;
  /* FOR NO KEY UPDATE: excludes the other writers of the row but not the
   * foreign-key checks of rows that merely reference it. */
  g_autofree char *sql = g_strdup_printf ("SELECT 1 FROM %s WHERE id = ? FOR NO KEY UPDATE", table);
  gint64 v = 0;
  return ts_tx_int (tx, error, &v, found, sql, "s", id);
}

gboolean
ts_tx_lock_table (TsTx *tx, const char *table, GError **error)
{
  if (!ts_tx_row_locks (tx))
    return TRUE;
  /* A mode that conflicts with itself but not with readers. */
  g_autofree char *sql = g_strdup_printf ("LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", table);
  return ts_tx_exec (tx, error, NULL, sql, NULL);
}

static gboolean
ts_tx_exec_v (TsTx *tx, GError **error, gint64 *changes, const char *sql, const char *types,
              va_list ap)
{
  gint64 n = 0;
  gboolean ok = tx->ops->query (tx->conn, error, FALSE, &n, sql, types, ap) != NULL;
  if (changes != NULL)
    *changes = ok ? n : 0;
  return ok;
}

gboolean
ts_tx_exec (TsTx *tx, GError **error, gint64 *changes, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  gboolean ok = ts_tx_exec_v (tx, error, changes, sql, types, ap);
  va_end (ap);
  return ok;
}

gboolean
ts_tx_exec_defer (TsTx *tx, GError **error, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  gboolean ok = tx->ops->defer != NULL ? tx->ops->defer (tx->conn, error, sql, types, ap)
                                       : ts_tx_exec_v (tx, error, NULL, sql, types, ap);
  va_end (ap);
  return ok;
}

gboolean
ts_tx_exec_defer_beside (TsTx *tx, GError **error, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  gboolean ok = tx->ops->defer_beside != NULL
                    ? tx->ops->defer_beside (tx->conn, error, sql, types, ap)
                : tx->ops->defer != NULL ? tx->ops->defer (tx->conn, error, sql, types, ap)
                                         : ts_tx_exec_v (tx, error, NULL, sql, types, ap);
  va_end (ap);
  return ok;
}

TsRows *
ts_tx_rows_v (TsTx *tx, GError **error, const char *sql, const char *types, va_list ap)
{
  gpointer cursor = tx->ops->query (tx->conn, error, TRUE, NULL, sql, types, ap);
  if (cursor == NULL)
    return NULL;
  TsRows *rows = g_new0 (TsRows, 1);
  rows->tx = tx;
  rows->cursor = cursor;
  return rows;
}

TsRows *
ts_tx_rows (TsTx *tx, GError **error, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  TsRows *rows = ts_tx_rows_v (tx, error, sql, types, ap);
  va_end (ap);
  return rows;
}

gboolean
ts_rows_next (TsRows *rows, GError **error)
{
  if (rows->failed)
    return FALSE;
  int rc = rows->tx->ops->next (rows->tx->conn, rows->cursor, error);
  rows->failed = rc < 0;
  return rc > 0;
}

gboolean
ts_rows_ok (TsRows *rows)
{
  return !rows->failed;
}

gint64
ts_rows_int (TsRows *rows, int col)
{
  return rows->tx->ops->int64 (rows->cursor, col);
}

char *
ts_rows_strdup (TsRows *rows, int col)
{
  return g_strdup (rows->tx->ops->text (rows->cursor, col));
}

gboolean
ts_rows_is_null (TsRows *rows, int col)
{
  return rows->tx->ops->is_null (rows->cursor, col);
}

GBytes *
ts_rows_bytes (TsRows *rows, int col)
{
  return rows->tx->ops->bytes (rows->cursor, col);
}

int
ts_rows_columns (TsRows *rows)
{
  return rows->tx->ops->columns (rows->cursor);
}

void
ts_rows_free (TsRows *rows)
{
  if (rows == NULL)
    return;
  rows->tx->ops->done (rows->tx->conn, rows->cursor);
  g_free (rows);
}

gboolean
ts_tx_int (TsTx *tx, GError **error, gint64 *out, gboolean *found, const char *sql,
           const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  g_autoptr (TsRows) rows = ts_tx_rows_v (tx, error, sql, types, ap);
  va_end (ap);
  *out = 0;
  if (found != NULL)
    *found = FALSE;
  if (rows == NULL)
    return FALSE;
  gboolean row = ts_rows_next (rows, error);
  if (row)
    *out = ts_rows_int (rows, 0);
  if (found != NULL)
    *found = row;
  return ts_rows_ok (rows);
}

gboolean
ts_tx_str (TsTx *tx, GError **error, char **out, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  g_autoptr (TsRows) rows = ts_tx_rows_v (tx, error, sql, types, ap);
  va_end (ap);
  *out = NULL;
  if (rows == NULL)
    return FALSE;
  if (ts_rows_next (rows, error))
    *out = ts_rows_strdup (rows, 0);
  return ts_rows_ok (rows);
}

GPtrArray *
ts_tx_list_rows (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                 TsTxRowFunc map, GDestroyNotify free_item, GError **error, const char *sql,
                 const char *types, ...)
{
  TsTx *tx = ts_tx_begin (store, TS_TX_READ, error);
  if (tx == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (free_item);
  g_autoptr (TsPool) pool = NULL;
  g_autoptr (TsRows) rows = NULL;
  gboolean ok
      = (org_id == NULL || ts_tx_require_admin (tx, actor, org_id, NULL, error))
        && (pool_id == NULL || (pool = ts_tx_load_pool (tx, org_id, pool_id, error)) != NULL);
  if (ok)
    {
      va_list ap;
      va_start (ap, types);
      rows = ts_tx_rows_v (tx, error, sql, types, ap);
      va_end (ap);
      ok = rows != NULL;
    }
  while (ok && ts_rows_next (rows, error))
    g_ptr_array_add (out, map (rows));
  ok = ok && ts_rows_ok (rows);
  g_clear_pointer (&rows, ts_rows_free);
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}
