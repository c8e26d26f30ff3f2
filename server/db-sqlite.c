/* tessera-store's database layer on SQLite (db-engine.h): transactions of
 * store-sqlite.c (one writer, group commit), statements from the
 * connection's cache (store-sqlite-stmt.c). */
#include "db-engine.h"
#include "store-private.h"

static gpointer
ts_sqlite_tx_begin (gpointer store, TsTxMode mode, GError **error)
{
  if (mode == TS_TX_LEASE)
    return ts_db_begin_lease (store, error);
  if (mode == TS_TX_ONE)
    return ts_db_acquire (store, error);
  return ts_db_begin (store, mode == TS_TX_WRITE, error);
}

static gboolean
ts_sqlite_tx_finish (gpointer store, gpointer conn, TsTxMode mode, gboolean ok, GError **error)
{
  if (mode != TS_TX_ONE)
    return ts_db_finish (store, conn, ok, error);
  ts_db_release (store, conn);
  return ok;
}

static gpointer
ts_sqlite_tx_query (gpointer conn, GError **error, gboolean rows, gint64 *changes, const char *sql,
                    const char *types, va_list ap)
{
  sqlite3 *db = conn;
  sqlite3_stmt *stmt = ts_stmt_v (db, error, TRUE, sql, types, ap);
  if (stmt == NULL || rows)
    return stmt;
  int rc;
  while ((rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    ;
  *changes = sqlite3_changes64 (db);
  ts_stmt_done (db, stmt);
  return rc == SQLITE_DONE ? conn : NULL;
}

static int
ts_sqlite_tx_next (gpointer conn, gpointer cursor, GError **error)
{
  int rc = ts_step (conn, cursor, error);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static const char *
ts_sqlite_tx_text (gpointer cursor, int col)
{
  return (const char *) sqlite3_column_text (cursor, col);
}

static gint64
ts_sqlite_tx_int64 (gpointer cursor, int col)
{
  return sqlite3_column_int64 (cursor, col);
}

static gboolean
ts_sqlite_tx_is_null (gpointer cursor, int col)
{
  return sqlite3_column_type (cursor, col) == SQLITE_NULL;
}

static GBytes *
ts_sqlite_tx_bytes (gpointer cursor, int col)
{
  if (sqlite3_column_type (cursor, col) == SQLITE_NULL)
    return NULL;
  return g_bytes_new (sqlite3_column_blob (cursor, col), sqlite3_column_bytes (cursor, col));
}

static int
ts_sqlite_tx_columns (gpointer cursor)
{
  return sqlite3_column_count (cursor);
}

static gboolean
ts_sqlite_tx_seats_bound (gpointer store, gpointer conn, const char *pool_id, gint64 *bound)
{
  return ts_seats_bound (store, conn, pool_id, bound);
}

static void
ts_sqlite_tx_seats_set_bound (gpointer store, gpointer conn, const char *pool_id, gint64 bound)
{
  ts_seats_set_bound (store, conn, pool_id, bound);
}

static gboolean
ts_sqlite_tx_mark_durable (gpointer store, gpointer conn, GError **error)
{
  (void) error;
  ts_db_mark_durable (store, conn);
  return TRUE;
}

static void
ts_sqlite_tx_done (gpointer conn, gpointer cursor)
{
  ts_stmt_done (conn, cursor);
}

static void
ts_sqlite_tx_heartbeat_async (gpointer store, TsCaller *who, const char *session_id,
                              gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data)
{
  ts_sqlite_heartbeat_async (store, who, session_id, lease_seconds, now, done, data);
}

const TsTxOps ts_tx_sqlite_ops = {
  .begin = ts_sqlite_tx_begin,
  .finish = ts_sqlite_tx_finish,
  .query = ts_sqlite_tx_query,
  .next = ts_sqlite_tx_next,
  .text = ts_sqlite_tx_text,
  .int64 = ts_sqlite_tx_int64,
  .is_null = ts_sqlite_tx_is_null,
  .bytes = ts_sqlite_tx_bytes,
  .columns = ts_sqlite_tx_columns,
  .seats_bound = ts_sqlite_tx_seats_bound,
  .seats_set_bound = ts_sqlite_tx_seats_set_bound,
  .done = ts_sqlite_tx_done,
  .mark_durable = ts_sqlite_tx_mark_durable,
  .heartbeat_async = ts_sqlite_tx_heartbeat_async,
  /* One writer holds the database for the whole write transaction. */
  .row_locks = FALSE,
};
