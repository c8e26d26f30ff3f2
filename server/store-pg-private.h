/* tessera-store on PostgreSQL: internals shared by the store-pg*.c files.
 *
 * The SQL helpers mirror those of the SQLite store (store-private.h) so the
 * rules read the same in both: ts_pg_exec(), ts_pg_query_int(),
 * ts_pg_query_str() take the SQL with '?' placeholders (numbered $1, $2, …
 * before it reaches libpq) and the same type letters. Values always travel
 * as parameters of PQexecParams(), never inside the SQL text. */
#pragma once

#include "store-pg.h"
/* Shared, backend-neutral helpers (ts_check_*, ts_new_id, limits); its
 * struct _TsStore is the SQLite one's and is never used here. */
#include "store-private.h"

#include <libpq-fe.h>
#include <stdarg.h>

G_BEGIN_DECLS

#define TS_PG_POOL_DEFAULT 8 /* connections per server instance */
#define TS_PG_POOL_MAX 256

struct _TsPgStore
{
  char *location; /* the URL as given, for messages (password masked) */
  char *conninfo; /* the URL handed to libpq (our own parameters removed) */
  guint pool_size;
  GMutex lock;
  GCond freed; /* a connection went back to @idle, or a slot opened */
  GQueue idle; /* TsPgConn *: open connections not in use */
  guint open;  /* connections open or being opened (idle + in use) */
  /* What the store sent, for tests and benches (ts_store_pg_counts()):
   * round trips (waits for the server's answer) and statements. */
  guint round_trips;
  guint statements;
  /* Seat credits (store-common.h): pool id → TsSeatCredits, under
   * @credits_lock. */
  GMutex credits_lock;
  GHashTable *credits;
};

typedef struct
{
  gint64 epoch; /* of the pool row when they were counted in */
  gint64 n;
} TsSeatCredits;

typedef struct _TsPgConn TsPgConn;
/* One pooled connection and the statements prepared on it. */
struct _TsPgConn
{
  PGconn *conn;
  /* SQL as the caller wrote it (its '?' form) → TsPgPrepared: parsing and
   * planning each statement once per connection, not once per request. */
  GHashTable *prepared;
  guint next_name;
};

typedef struct
{
  char name[16];
  char *types; /* the caller's type letters it was prepared with */
} TsPgPrepared;

/* ---- what db-pg.c's pipelined transactions share with store-pg.c ---- */

void ts_pg_prepared_free (gpointer data);
/* @sql with '?' numbered $1, $2, …; *count: the highest number. */
/* Values one statement may bind (db-pg.c copies them per statement): a
 * session's insert (10) with its machine's write (8 or 9) joined. */
#define TS_PG_MAX_PARAMS 24

char *ts_pg_number_params (const char *sql, int *count);
/* Whether @sql is worth a prepared statement (SELECT/INSERT/UPDATE/DELETE/WITH). */
gboolean ts_pg_preparable (const char *sql);
/* Takes a connection from the pool (waiting while all are busy, opening
 * one as needed) and gives it back (@broken: closed, not pooled). */
TsPgConn *ts_pg_conn_acquire (TsPgStore *store, GError **error);
void ts_pg_conn_release (TsPgStore *store, TsPgConn *conn, gboolean broken);
/* Closes every idle connection (one was found dead: the others likely too). */
void ts_pg_drop_idle (TsPgStore *store);

/* A transaction on one pooled connection, used by one thread. */
typedef struct
{
  TsPgConn *pc;
  PGconn *conn;    /* pc's */
  gboolean write;  /* pool rows are locked (FOR NO KEY UPDATE) when read */
  gboolean broken; /* the connection failed: close it, do not pool it */
} TsPgDb;

/* @error from @res (nullable: the connection's own error): UNAVAILABLE for
 * what a retry may cure (the connection, a conflict), FAILED otherwise;
 * marks @db broken when its connection is. */
void ts_pg_set_error (TsPgDb *db, const PGresult *res, GError **error);

/* ---- connections and transactions (store-pg.c) ---- */

/* Takes a connection from the pool (waiting while all are busy, opening one
 * if fewer than pool_size are open) and begins a transaction: READ
 * COMMITTED for writes, whose rules lock the rows they count against
 * (ts_tx_load_pool()); a REPEATABLE READ READ ONLY
 * snapshot for reads. UNAVAILABLE when the database cannot be reached. */
TsPgDb *ts_pg_begin (TsPgStore *store, gboolean write, GError **error);
/* Commits if @ok, rolls back otherwise, gives the connection back. Returns
 * whether it committed. */
gboolean ts_pg_finish (TsPgStore *store, TsPgDb *db, gboolean ok, GError **error);

/* Runs one statement: '?' placeholders bound from @types ('s' const char *
 * (NULL binds NULL), 'i' gint64, 'b' GBytes *). Returns the result (rows or
 * command) or NULL with @error set. */
PGresult *ts_pg_query (TsPgDb *db, GError **error, const char *sql, const char *types, ...);
PGresult *ts_pg_query_va (TsPgDb *db, GError **error, const char *sql, const char *types,
                          va_list ap);
/* Runs a statement; *changes (nullable) receives the row count. */
gboolean ts_pg_exec (TsPgDb *db, GError **error, gint64 *changes, const char *sql,
                     const char *types, ...);
/* One integer from the first row and column (NULL reads 0); *found (nullable)
 * says whether there was a row. */
gboolean ts_pg_query_int (TsPgDb *db, GError **error, gint64 *out, gboolean *found, const char *sql,
                          const char *types, ...);
/* One string (transfer full) in *out, NULL if no row or a NULL value. */
gboolean ts_pg_query_str (TsPgDb *db, GError **error, char **out, const char *sql,
                          const char *types, ...);
/* Column accessors on a result: NULL values read NULL and 0. */
char *ts_pg_col_strdup (const PGresult *res, int row, int col);
gint64 ts_pg_col_int (const PGresult *res, int row, int col);

G_END_DECLS
