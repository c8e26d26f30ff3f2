/* The two engines under db.h (db-sqlite.c, db-pg.c). Only db.c calls
 * them; this header does not define struct _TsStore, so the SQLite sources
 * (compiled with store-sqlite-names.h) can include it. */
#pragma once

#include "store.h"

#include <stdarg.h>

G_BEGIN_DECLS

typedef enum
{
  TS_TX_READ,  /* a consistent snapshot, no writes */
  TS_TX_WRITE, /* durable at its commit */
  TS_TX_LEASE, /* extends leases only: need not reach the disk (heartbeats) */
  TS_TX_ONE,   /* one read statement: no BEGIN/COMMIT where the engine can
                * skip them (SQLite); a read transaction otherwise */
} TsTxMode;

typedef struct _TsTxOps TsTxOps;
struct _TsTxOps
{
  gpointer (*begin) (gpointer store, TsTxMode mode, GError **error);
  gboolean (*finish) (gpointer store, gpointer conn, TsTxMode mode, gboolean ok, GError **error);
  /* Runs @sql: a cursor on its rows (when @rows), else to completion
   * with *changes set. NULL/FALSE with @error. */
  gpointer (*query) (gpointer conn, GError **error, gboolean rows, gint64 *changes, const char *sql,
                     const char *types, va_list ap);
  int (*next) (gpointer conn, gpointer cursor, GError **error); /* 1 row, 0 end, -1 error */
  const char *(*text) (gpointer cursor, int col);
  gint64 (*int64) (gpointer cursor, int col);
  gboolean (*is_null) (gpointer cursor, int col);
  GBytes *(*bytes) (gpointer cursor, int col); /* NULL for NULL */
  int (*columns) (gpointer cursor);
  /* A write that may put a pool over its quota: the engine forgets what
   * it knew to be within (SQLite, ts_quota_forget()). Nullable. */
  void (*quota_forget) (gpointer store, gpointer conn);
  /* What the engine remembers of a pool's seats across writes (SQLite,
   * ts_seats_bound(), ts_quota_known_ok()). Nullable: nothing known. */
  gboolean (*seats_bound) (gpointer store, gpointer conn, const char *pool_id, gint64 *bound);
  void (*seats_set_bound) (gpointer store, gpointer conn, const char *pool_id, gint64 bound);
  gboolean (*quota_known_ok) (gpointer store, gpointer conn, const char *pool_id);
  void (*quota_remember_ok) (gpointer store, gpointer conn, const char *pool_id);
  void (*done) (gpointer conn, gpointer cursor);
  gboolean row_locks;
  gboolean postgresql; /* for ts_tx_sql() */
};
extern const TsTxOps ts_tx_sqlite_ops;
extern const TsTxOps ts_tx_pg_ops;

G_END_DECLS
