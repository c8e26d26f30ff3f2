/* tessera-store's database layer on PostgreSQL (db-engine.h): pooled
 * connections and transactions of store-pg.c, statements prepared once per
 * connection, every result read whole (a cursor is a PGresult and a row
 * number). */
#include "db-engine.h"
#include "store-pg-private.h"

typedef struct
{
  PGresult *res;
  int row; /* the current row; -1 before the first */
} TsPgCursor;

static gpointer
ts_pg_tx_begin (gpointer store, TsTxMode mode, GError **error)
{
  if (mode == TS_TX_LEASE)
    return ts_pg_begin_lease (store, error);
  return ts_pg_begin (store, mode == TS_TX_WRITE, error);
}

static gboolean
ts_pg_tx_finish (gpointer store, gpointer conn, TsTxMode mode, gboolean ok, GError **error)
{
  (void) mode;
  return ts_pg_finish (store, conn, ok, error);
}

static gpointer
ts_pg_tx_query (gpointer conn, GError **error, gboolean rows, gint64 *changes, const char *sql,
                const char *types, va_list ap)
{
  PGresult *res = ts_pg_query_va (conn, error, sql, types, ap);
  if (res == NULL)
    return NULL;
  if (rows)
    {
      TsPgCursor *c = g_new0 (TsPgCursor, 1);
      c->res = res;
      c->row = -1;
      return c;
    }
  const char *n = PQcmdTuples (res);
  *changes = n != NULL && *n ? g_ascii_strtoll (n, NULL, 10) : 0;
  PQclear (res);
  return conn;
}

static int
ts_pg_tx_next (gpointer conn, gpointer cursor, GError **error)
{
  (void) conn;
  (void) error;
  TsPgCursor *c = cursor;
  if (c->row + 1 >= PQntuples (c->res))
    return 0;
  c->row++;
  return 1;
}

static const char *
ts_pg_tx_text (gpointer cursor, int col)
{
  TsPgCursor *c = cursor;
  return PQgetisnull (c->res, c->row, col) ? NULL : PQgetvalue (c->res, c->row, col);
}

static gint64
ts_pg_tx_int64 (gpointer cursor, int col)
{
  TsPgCursor *c = cursor;
  return ts_pg_col_int (c->res, c->row, col);
}

static gboolean
ts_pg_tx_is_null (gpointer cursor, int col)
{
  TsPgCursor *c = cursor;
  return PQgetisnull (c->res, c->row, col);
}

static GBytes *
ts_pg_tx_bytes (gpointer cursor, int col)
{
  TsPgCursor *c = cursor;
  if (PQgetisnull (c->res, c->row, col))
    return NULL;
  /* Results come as text (PQexecParams' result format is all-or-none):
   * bytea in its hex form, decoded here. */
  size_t len = 0;
  unsigned char *bin
      = PQunescapeBytea ((const unsigned char *) PQgetvalue (c->res, c->row, col), &len);
  if (bin == NULL)
    return NULL;
  GBytes *b = g_bytes_new (bin, len);
  PQfreemem (bin);
  return b;
}

static int
ts_pg_tx_columns (gpointer cursor)
{
  TsPgCursor *c = cursor;
  return PQnfields (c->res);
}

static void
ts_pg_tx_done (gpointer conn, gpointer cursor)
{
  (void) conn;
  TsPgCursor *c = cursor;
  if (c == NULL)
    return;
  PQclear (c->res);
  g_free (c);
}

static gboolean
ts_pg_tx_mark_durable (gpointer store, gpointer conn, GError **error)
{
  (void) store;
  return ts_pg_mark_durable (conn, error);
}

const TsTxOps ts_tx_pg_ops = {
  .begin = ts_pg_tx_begin,
  .finish = ts_pg_tx_finish,
  .query = ts_pg_tx_query,
  .next = ts_pg_tx_next,
  .text = ts_pg_tx_text,
  .int64 = ts_pg_tx_int64,
  .is_null = ts_pg_tx_is_null,
  .bytes = ts_pg_tx_bytes,
  .columns = ts_pg_tx_columns,
  .done = ts_pg_tx_done,
  .mark_durable = ts_pg_tx_mark_durable,
  /* Several server instances write at once: rules lock what they count. */
  .row_locks = TRUE,
  .postgresql = TRUE,
};
