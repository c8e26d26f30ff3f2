/* The two engines under db.h (db-sqlite.c, db-pg.c), and what an engine's
 * own code calls back (ts_tx_wrap(), ts_tx_heartbeat()). It does not define
 * struct _TsStore: the engines' sources include it without db.h. */
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
  /* Sends a write whose outcome is needed by nobody before the commit:
   * its error fails the next statement read or the commit. Nullable: the
   * engine runs it at once (query). */
  gboolean (*defer) (gpointer conn, GError **error, const char *sql, const char *types, va_list ap);
  /* defer, beside the write deferred just before (ts_tx_exec_defer_beside()).
   * Nullable: defer. */
  gboolean (*defer_beside) (gpointer conn, GError **error, const char *sql, const char *types,
                            va_list ap);
  int (*next) (gpointer conn, gpointer cursor, GError **error); /* 1 row, 0 end, -1 error */
  const char *(*text) (gpointer cursor, int col);
  gint64 (*int64) (gpointer cursor, int col);
  gboolean (*is_null) (gpointer cursor, int col);
  GBytes *(*bytes) (gpointer cursor, int col); /* NULL for NULL */
  int (*columns) (gpointer cursor);
  /* What the engine remembers of a pool's seats across writes (SQLite,
   * ts_seats_bound()). Nullable: nothing known. */
  gboolean (*seats_bound) (gpointer store, gpointer conn, const char *pool_id, gint64 *bound);
  void (*seats_set_bound) (gpointer store, gpointer conn, const char *pool_id, gint64 bound);
  /* Seats the instance has counted into the pool row's bound already and
   * not used yet (PostgreSQL: store-common.h, "seat credits"), for
   * @epoch. Nullable: the engine keeps no bound in the row. take: uses
   * one, TRUE if there was one; add: after the commit that raised it. */
  gboolean (*seat_credit_take) (gpointer store, const char *pool_id, gint64 epoch);
  void (*seat_credits_add) (gpointer store, const char *pool_id, gint64 epoch, gint64 n);
  void (*done) (gpointer conn, gpointer cursor);
  /* A TS_TX_LEASE write frees a seat after all: its commit must reach the
   * disk. */
  gboolean (*mark_durable) (gpointer store, gpointer conn, GError **error);
  /* Queues a checked heartbeat to be run by the engine (SQLite's lease
   * writer: many in one write). Nullable: the store runs it in its caller. */
  void (*heartbeat_async) (gpointer store, TsCaller *who, const char *session_id,
                           gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data);
  gboolean row_locks;
  gboolean postgresql; /* for ts_tx_sql() */
};
extern const TsTxOps ts_tx_sqlite_ops;
extern const TsTxOps ts_tx_pg_ops;

typedef struct _TsTx TsTx;
/* A TsTx over a transaction the engine already began on @conn (SQLite's
 * lease writer, one write for many heartbeats): ts_tx_unwrap() frees it
 * and leaves the transaction to its owner. */
TsTx *ts_tx_wrap (const TsTxOps *ops, gpointer store, gpointer conn, TsTxMode mode);
void ts_tx_unwrap (TsTx *tx);

/* One heartbeat (store-heartbeat.c), in @tx (TS_TX_LEASE): extends the
 * lease of @session_id, or ends it (*ended set: a seat was freed or the
 * session had ended; commit @tx, then report *ended). *result (transfer
 * full): the extended session. FALSE with @error: roll @tx back. Every
 * engine runs this; SQLite from its lease writer, several in one write. */
gboolean ts_tx_heartbeat (TsTx *tx, TsCaller *who, const char *session_id, gint64 lease_seconds,
                          gint64 now, TsSession **result, GError **ended, GError **error);
/* The arguments of a heartbeat, checked before it is queued or run. */
gboolean ts_heartbeat_check (const TsCaller *who, const char *session_id, gint64 lease_seconds,
                             GError **error);

G_END_DECLS
