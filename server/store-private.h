/* tessera-store internals shared by the store-*.c files (not installed). */
#pragma once

#include "store-common.h"

#include <sqlite3.h>
#include <stdarg.h>

G_BEGIN_DECLS

typedef struct _TsBatch TsBatch;
/* The SQLite engine's store: what TsStore holds for a file path (db.h). */
typedef struct _TsSqliteStore TsSqliteStore;

struct _TsSqliteStore
{
  char *path;
  GMutex lock;
  GPtrArray *idle; /* sqlite3*: connections not in use (reads) */
  guint open_count;

  /* Writes: group commit (store-sqlite.c, "writes: group commit"). */
  sqlite3 *writer;        /* the one connection writes go through */
  GMutex write_lock;      /* held by the thread using @writer */
  gint write_wanting;     /* atomic: threads waiting for write_lock */
  TsBatch *batch;         /* the transaction open on @writer, or NULL */
  guint batch_members;    /* writes in it so far */
  gboolean batch_durable; /* it must be fsync-durable at its commit */
  gboolean write_bare;    /* the write in progress opened the batch: no savepoint */
  GMutex commit_lock;     /* batch->done, with @committed */
  GCond committed;
  GHashTable *seat_bound; /* pool id → gint64 *: see ts_seats_bound(); write_lock */
  gint64 data_version;    /* of @writer, when @seat_bound was last valid */
  guint64 batch_serial;   /* batches opened on @writer so far */
  guint64 version_serial; /* the batch in which data_version was last read */

  /* Heartbeats waiting for the lease writer (store-sessions.c). */
  GMutex lease_lock;
  GCond lease_cond;         /* the writer waits for heartbeats */
  GQueue lease_pending;     /* TsLeaseItem * */
  gboolean lease_combining; /* the writer runs ts_lease_combine() */
  gboolean lease_stop;      /* ts_store_close(): the writer ends when idle */
  GThread *lease_thread;    /* the lease writer, once a heartbeat came */
};

TsSqliteStore *ts_sqlite_open (const char *path, GError **error);
void ts_sqlite_close (TsSqliteStore *store);
/* Queues a heartbeat whose arguments were checked (ts_heartbeat_check())
 * for the lease writer (store-sessions.c). */
void ts_sqlite_heartbeat_async (TsSqliteStore *store, TsCaller *who, const char *session_id,
                                gint64 lease_seconds, gint64 now, TsHeartbeatDone done,
                                gpointer data);

/* ---- connections and transactions (store-sqlite.c) ---- */

/* A connection for this thread's exclusive use until ts_db_finish(). */
sqlite3 *ts_db_acquire (TsSqliteStore *store, GError **error);
/* Begins a transaction: when @write, a write inside the process's one
 * immediate transaction (group commit: several writes, one commit, one
 * fsync; see store-sqlite.c), durable before ts_db_finish() returns;
 * a deferred read transaction otherwise. One write at a time per thread.
 * On failure the connection is released. */
sqlite3 *ts_db_begin (TsSqliteStore *store, gboolean write, GError **error);
/* A write that only extends leases (heartbeats): committed like any write
 * but not synced to disk, unless ts_db_mark_durable() is called on it. */
sqlite3 *ts_db_begin_lease (TsSqliteStore *store, GError **error);
/* Ends the lease writer (store-sessions.c) once its queue is empty. */
void ts_lease_writer_stop (TsSqliteStore *store);
/* The write on @db changes seats after all: sync its commit. */
void ts_db_mark_durable (TsSqliteStore *store, sqlite3 *db);
/* A savepoint inside the open write on @db, so that several requests
 * carried by one write (the lease writer) each undo only themselves:
 * ts_db_item_end() releases it if @ok, else rolls back to it. */
gboolean ts_db_item_begin (sqlite3 *db, GError **error);
void ts_db_item_end (sqlite3 *db, gboolean ok);
/* Commits if @ok (a failed commit rolls back and sets @error), rolls back
 * otherwise, and gives the connection back. Returns whether it committed
 * (for a write: whether its batch did, after it did). */
gboolean ts_db_finish (TsSqliteStore *store, sqlite3 *db, gboolean ok, GError **error);
/* Gives back a connection of ts_db_acquire() used without a transaction
 * (a single statement is one on its own). */
void ts_db_release (TsSqliteStore *store, sqlite3 *db);

/* Sets @error from a SQLite result code: UNAVAILABLE (disk full, I/O error,
 * read-only, cannot open, busy) or FAILED. */
void ts_db_set_error (sqlite3 *db, int rc, GError **error);
/* Gives a new connection @db its statement cache (store-sqlite-stmt.c). */
void ts_stmt_cache_add (sqlite3 *db);
/* Finalizes @db's cached statements (sqlite3_close refuses a connection
 * with statements left) and closes it. NULL: nothing. */
void ts_db_close (sqlite3 *db);

/* Prepared statements bound from @types: 's' const char * (NULL binds NULL),
 * 'i' gint64, 'b' GBytes *. */
sqlite3_stmt *ts_stmt (sqlite3 *db, GError **error, const char *sql, const char *types, ...);
/* As ts_stmt() (@cached: as ts_stmt_cached()), the parameters in @ap. */
sqlite3_stmt *ts_stmt_v (sqlite3 *db, GError **error, gboolean cached, const char *sql,
                         const char *types, va_list ap);
/* The same, from @db's cache of compiled statements (store-sqlite.c):
 * give it back with ts_stmt_done(), never sqlite3_finalize(). */
sqlite3_stmt *ts_stmt_cached (sqlite3 *db, GError **error, const char *sql, const char *types, ...);
/* Resets @stmt (from ts_stmt_cached(); NULL is fine) into @db's cache. */
void ts_stmt_done (sqlite3 *db, sqlite3_stmt *stmt);
/* sqlite3_step(): SQLITE_ROW, SQLITE_DONE, or -1 with @error set. */
int ts_step (sqlite3 *db, sqlite3_stmt *stmt, GError **error);
/* Runs a statement to completion; *changes (nullable) receives the row count. */
gboolean ts_exec (sqlite3 *db, GError **error, gint64 *changes, const char *sql, const char *types,
                  ...);
/* One integer: TRUE with *out set, TRUE with *found FALSE when no row (then
 * *out = 0), FALSE on a database error. @found nullable. */
gboolean ts_query_int (sqlite3 *db, GError **error, gint64 *out, gboolean *found, const char *sql,
                       const char *types, ...);
/* One string (transfer full) in *out, NULL if no row or NULL value. */
gboolean ts_query_str (sqlite3 *db, GError **error, char **out, const char *sql, const char *types,
                       ...);
char *ts_col_strdup (sqlite3_stmt *stmt, int col);

/* ---- bounds on the seats of pools (store-sqlite.c) ----
 *
 * A number the active sessions of floating pool @pool_id do not exceed:
 * activations (the only writes that add one) raise it, nothing lowers it
 * but a recount (ts_seats_set_bound() after a count of the active
 * sessions), so it stays an upper bound, even across a rolled-back batch.
 * FALSE if none is known, or another process (tessera-admin, another
 * server on the same file) committed since, seen in PRAGMA data_version.
 * Only on the writer connection, in a write (write_lock held). */
gboolean ts_seats_bound (TsSqliteStore *store, sqlite3 *db, const char *pool_id, gint64 *bound);
void ts_seats_set_bound (TsSqliteStore *store, sqlite3 *db, const char *pool_id, gint64 bound);

G_END_DECLS
