/* tessera-store internals shared by the store-*.c files (not installed). */
#pragma once

#include "store.h"

#include <sqlite3.h>
#include <stdarg.h>

G_BEGIN_DECLS

struct _TsStore
{
  char *path;
  GMutex lock;
  GPtrArray *idle; /* sqlite3*: connections not in use */
  guint open_count;
};

/* Input limits of docs/protocol.md (lease: 5 s to one day). */
#define TS_LEASE_MIN 5
#define TS_LEASE_MAX 86400
#define TS_QUOTA_MAX 1000000
#define TS_OFFLINE_VALIDITY TESSERA_LICFILE_MAX_VALIDITY

/* ---- connections and transactions (store-sqlite.c) ---- */

/* A connection for this thread's exclusive use until ts_db_finish(). */
sqlite3 *ts_db_acquire (TsStore *store, GError **error);
/* Begins a transaction: BEGIN IMMEDIATE when @write (retried on SQLITE_BUSY),
 * a deferred one otherwise. On failure the connection is released. */
sqlite3 *ts_db_begin (TsStore *store, gboolean write, GError **error);
/* Commits if @ok (a failed commit rolls back and sets @error), rolls back
 * otherwise, and gives the connection back. Returns whether it committed. */
gboolean ts_db_finish (TsStore *store, sqlite3 *db, gboolean ok, GError **error);

/* Sets @error from a SQLite result code: UNAVAILABLE (disk full, I/O error,
 * read-only, cannot open, busy) or FAILED. */
void ts_db_set_error (sqlite3 *db, int rc, GError **error);

/* Prepared statements bound from @types: 's' const char * (NULL binds NULL),
 * 'i' gint64, 'b' GBytes *. */
sqlite3_stmt *ts_stmt (sqlite3 *db, GError **error, const char *sql, const char *types, ...);
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

/* ---- helpers ---- */

char *ts_new_id (void);
gboolean ts_audit (sqlite3 *db, gint64 now, const char *org_id, const char *actor,
                   const char *action, const char *target, const char *detail, GError **error);
/* @actor NULL: trusted (the org must exist, else NOT_FOUND). Otherwise
 * @actor must be owner or admin of @org_id (else PERMISSION_DENIED). The
 * actor's role goes to *role (nullable; OWNER for NULL). */
gboolean ts_require_admin (sqlite3 *db, const char *actor, const char *org_id, TsRole *role,
                           GError **error);
/* The pool @pool_id if it belongs to @org_id, else NOT_FOUND. */
TsPool *ts_load_pool (sqlite3 *db, const char *org_id, const char *pool_id, GError **error);
TsPool *ts_pool_from_row (sqlite3_stmt *stmt); /* columns of TS_POOL_COLUMNS */
#define TS_POOL_COLUMNS "id, org_id, product, kind, billing, quota, subscription_end"
/* Seats taken by unexpired offline licenses of @pool_id. */
gboolean ts_count_offline (sqlite3 *db, const char *pool_id, gint64 now, gint64 *out,
                           GError **error);
/* Active sessions (not ended, lease running) of @pool_id. */
gboolean ts_count_sessions (sqlite3 *db, const char *pool_id, gint64 now, gint64 *out,
                            GError **error);

gboolean ts_check_product (const char *product, GError **error);
gboolean ts_check_machine_id (const char *machine_id, GError **error);
gboolean ts_check_org_id (const char *org_id, GError **error);
gboolean ts_check_email (const char *email, GError **error);
gboolean ts_check_id (const char *what, const char *id, GError **error);

G_END_DECLS
