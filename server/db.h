/* tessera-store's database layer: one transaction type over SQLite and
 * PostgreSQL, so each store operation is written once (issue #17).
 *
 * SQL is written once, with '?' placeholders (numbered $1, $2, … for
 * libpq) and the type letters of ts_stmt(): 's' const char * (NULL binds
 * NULL), 'i' gint64, 'b' GBytes *. What differs between the engines stays
 * behind this header: how a write transaction excludes the others (SQLite:
 * one writer, BEGIN IMMEDIATE, group commit; PostgreSQL: READ COMMITTED
 * and row locks, see ts_tx_row_locks()), statement caching, and the mapping
 * of engine errors to TESSERA_ERROR codes (UNAVAILABLE: retry; FAILED). */
#pragma once

#include "db-engine.h"
#include "store-common.h"

#include <stdarg.h>

G_BEGIN_DECLS

typedef struct _TsSqliteStore TsSqliteStore;
typedef struct _TsPgStore TsPgStore;

typedef enum
{
  TS_STORE_SQLITE,
  TS_STORE_POSTGRESQL,
} TsStoreKind;

/* What ts_store_open() returns: the backend chosen by the location. */
struct _TsStore
{
  TsStoreKind kind;
  union
  {
    TsSqliteStore *sqlite;
    TsPgStore *pg;
  };
  /* ts_store_check_writable()'s last answer (store-ready.c): a flood of
   * unauthenticated readiness probes costs one write a second, not one each. */
  struct
  {
    GMutex lock;
    GCond done;       /* a check finished */
    gboolean running; /* a check is under way */
    gint64 at;        /* monotonic µs of the last check; 0: none yet */
    gboolean ok;
    char *reason; /* its error's message when !ok */
  } ready;
  /* The pool each caller's last activation chose (store-guess.h): where
   * the pool's lock is a statement, the next activation sends it, and the
   * seat count, with the statement that chooses the pool again. */
  struct
  {
    GMutex lock;
    GHashTable *pools; /* "caller\x1forg\x1fproduct" -> TsPoolGuess */
  } guesses;
};

/* One transaction on one connection, used by one thread (TsTx: db-engine.h). */
/* The rows of one statement, read forward. */
typedef struct _TsRows TsRows;

TsTx *ts_tx_begin (TsStore *store, TsTxMode mode, GError **error);
/* Hands a checked heartbeat to the engine's own queue (TsTxOps.
 * heartbeat_async); FALSE when the engine has none: run it in the caller. */
gboolean ts_store_engine_heartbeat (TsStore *store, TsCaller *who, const char *session_id,
                                    gint64 lease_seconds, gint64 now, TsHeartbeatDone done,
                                    gpointer data);
/* Commits if @ok (a failed commit rolls back and sets @error), rolls back
 * otherwise, and frees @tx. Returns whether it committed. */
gboolean ts_tx_finish (TsTx *tx, gboolean ok, GError **error);
/* Whether the other writers are kept out row by row (PostgreSQL, several
 * server instances): rules that count rows and then insert must lock what
 * they count (ts_tx_lock_row(), ts_tx_lock_table()). SQLite's writer holds
 * the whole database for the transaction: FALSE. */
gboolean ts_tx_row_locks (TsTx *tx);
/* Locks the row of @table whose primary key "id" is @id until the end of
 * the transaction, against other writers of it (not against readers nor
 * foreign-key checks); nothing when !ts_tx_row_locks(). *found (nullable):
 * whether the row exists (only known when it was locked). */
gboolean ts_tx_lock_row (TsTx *tx, const char *table, const char *id, gboolean *found,
                         GError **error);
/* Makes writers of @table take turns until the end of the transaction
 * (readers go on); nothing when !ts_tx_row_locks(). @table: a constant. */
gboolean ts_tx_lock_table (TsTx *tx, const char *table, GError **error);

/* The same statement in each engine's words: only where the dialects
 * differ and no common form keeps an index in use (TS_SQL_* below). */
const char *ts_tx_sql (TsTx *tx, const char *sqlite_sql, const char *pg_sql);
/* A user by email, whatever its case: SQLite's column is COLLATE NOCASE,
 * PostgreSQL's unique index is on lower (email). */
#define TS_SQL_USER_BY_EMAIL                                                                       \
  "SELECT id FROM users WHERE email = ?", "SELECT id FROM users WHERE lower (email) = lower (?)"

/* Counting a pool's active sessions reads them all under the write lock:
 * an engine that sees every write (SQLite's one writer) remembers a bound
 * above that count across writes.
 * FALSE when nothing is known (always on PostgreSQL, whose other instances
 * write too): the caller counts, then tells what it found. */
gboolean ts_tx_seats_bound (TsTx *tx, const char *pool_id, gint64 *bound);
void ts_tx_seats_set_bound (TsTx *tx, const char *pool_id, gint64 bound);
/* The engine keeps the bound in the pool row and hands out seat credits
 * (store-common.h): TRUE on PostgreSQL. */
gboolean ts_tx_seat_credits (TsTx *tx);
/* Uses one of this instance's credits of @pool_id for @epoch (the epoch
 * of the pool row, read under its lock): TRUE if there was one. */
gboolean ts_tx_seat_credit_take (TsTx *tx, const char *pool_id, gint64 epoch);
/* @n credits of @pool_id for @epoch, given once @tx commits. */
void ts_tx_seat_credits_on_commit (TsTx *tx, const char *pool_id, gint64 epoch, gint64 n);
/* See TsTxOps.mark_durable. */
gboolean ts_tx_mark_durable (TsTx *tx, GError **error);

/* Runs a statement to completion; *changes (nullable): rows it changed. */
gboolean ts_tx_exec (TsTx *tx, GError **error, gint64 *changes, const char *sql, const char *types,
                     ...);
/* A write whose outcome (its changes) the caller does not need: the engine
 * may send it with the next statement or the commit, one round trip for
 * all (PostgreSQL's pipeline, db-pg.c). An error it meets fails that
 * statement or the commit, and so the transaction, as if met here. */
gboolean ts_tx_exec_defer (TsTx *tx, GError **error, const char *sql, const char *types, ...);
/* ts_tx_exec_defer() of a write beside the one deferred just before it:
 * neither reads what the other writes (other rows; a foreign key, checked
 * at the statement's end, may name a row the other writes). An engine may
 * run the two as one statement (PostgreSQL: the first in a WITH of the
 * second), one statement's work less per request. */
gboolean ts_tx_exec_defer_beside (TsTx *tx, GError **error, const char *sql, const char *types,
                                  ...);
/* One integer: *found (nullable) FALSE and *out 0 when there is no row. */
gboolean ts_tx_int (TsTx *tx, GError **error, gint64 *out, gboolean *found, const char *sql,
                    const char *types, ...);
/* One string (transfer full), NULL if no row or a NULL value. */
gboolean ts_tx_str (TsTx *tx, GError **error, char **out, const char *sql, const char *types, ...);
/* The rows of a query, or NULL with @error. */
TsRows *ts_tx_rows (TsTx *tx, GError **error, const char *sql, const char *types, ...);
TsRows *ts_tx_rows_v (TsTx *tx, GError **error, const char *sql, const char *types, va_list ap);
/* Moves to the next row: TRUE on a row, FALSE at the end or on an error
 * (then @error is set: check ts_rows_ok() or the error). */
gboolean ts_rows_next (TsRows *rows, GError **error);
/* FALSE if ts_rows_next() ended on an error. */
gboolean ts_rows_ok (TsRows *rows);
/* Columns of the current row: NULL values read NULL and 0. */
gint64 ts_rows_int (TsRows *rows, int col);
char *ts_rows_strdup (TsRows *rows, int col);
gboolean ts_rows_is_null (TsRows *rows, int col);
/* A blob column (transfer full), NULL for NULL. */
GBytes *ts_rows_bytes (TsRows *rows, int col);
int ts_rows_columns (TsRows *rows);
void ts_rows_free (TsRows *rows);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsRows, ts_rows_free)

/* A new item from the current row (the caller's SELECT columns). */
typedef gpointer (*TsTxRowFunc) (TsRows *rows);
/* The shape of every listing: in one read transaction, @actor must be owner
 * or admin of @org_id (not checked when @org_id is NULL), @pool_id a pool of
 * @org_id (not checked when NULL), then each row of @sql becomes an item by
 * @map. Returns (transfer full) the items, freed by @free_item; NULL with
 * @error. */
GPtrArray *ts_tx_list_rows (TsStore *store, const char *actor, const char *org_id,
                            const char *pool_id, TsTxRowFunc map, GDestroyNotify free_item,
                            GError **error, const char *sql, const char *types, ...);

/* ---- rules over the layer, once for both engines (store-rules.c) ---- */

gboolean ts_tx_audit (TsTx *tx, gint64 now, const char *org_id, const char *actor,
                      const char *action, const char *target, const char *detail, GError **error);
/* A change to the account @user_id (its password, a membership, a role),
 * audited in @org_id (nullable: where it happened) and in every other
 * organization the account belongs to, whose log says "in ORG: DETAIL";
 * with no organization at all, once outside any. */
gboolean ts_tx_audit_account (TsTx *tx, gint64 now, const char *user_id, const char *org_id,
                              const char *actor, const char *action, const char *detail,
                              GError **error);
/* *held: whether someone already holds the account @user_id outside
 * @org_id: it has a web password, an API key, or a membership of another
 * organization. Only an account nobody holds may be joined to @org_id or
 * given a password without its holder's consent. */
gboolean ts_tx_account_held (TsTx *tx, const char *user_id, const char *org_id, gboolean *held,
                             GError **error);
/* @actor NULL: trusted (the org must exist, else NOT_FOUND). Otherwise
 * @actor must be owner or admin of @org_id (else PERMISSION_DENIED); the
 * role goes to *role (nullable; OWNER for NULL). In a write, the
 * organization's row is locked first (ts_tx_lock_row()): administrative
 * changes of one organization run one after the other on every instance,
 * as the "last owner" rule needs (it counts owners, then changes one). */
gboolean ts_tx_require_admin (TsTx *tx, const char *actor, const char *org_id, TsRole *role,
                              GError **error);
/* The pool @pool_id if it belongs to @org_id, else NOT_FOUND; in a write
 * its row is locked (every rule that counts the seats of a pool runs under
 * that lock, so the count and the insert it allows are one step). */
TsPool *ts_tx_load_pool (TsTx *tx, const char *org_id, const char *pool_id, GError **error);
/* ts_tx_load_pool() in two halves, so that queries issued in between share
 * its round trip (db-pg.c): the query, then its one row read. */
TsRows *ts_tx_pool_query (TsTx *tx, const char *org_id, const char *pool_id, GError **error);
TsPool *ts_tx_pool_read (TsRows *rows, const char *org_id, const char *pool_id, GError **error);
TsPool *ts_tx_pool_from_row (TsRows *rows); /* columns of TS_POOL_COLUMNS */
/* Seats taken by unexpired offline licenses of @pool_id. */
gboolean ts_tx_count_offline (TsTx *tx, const char *pool_id, gint64 now, gint64 *out,
                              GError **error);
/* Active sessions (not ended, lease running) of @pool_id. */
gboolean ts_tx_count_sessions (TsTx *tx, const char *pool_id, gint64 now, gint64 *out,
                               GError **error);

/* ---- sessions (store-rules.c) ---- */

#define TS_SESSION_COLUMNS                                                                         \
  "s.id, p.org_id, s.pool_id, p.product, p.kind, s.user_id, s.machine_id, s.nonce,"                \
  " s.started_at, s.last_heartbeat, s.lease_expires_at, p.subscription_end, s.ended_at,"           \
  " s.end_code, s.end_reason, p.quota"
#define TS_SESSION_FROM " FROM sessions s JOIN pools p ON p.id = s.pool_id "
#define TS_SESSION_SELECT "SELECT " TS_SESSION_COLUMNS TS_SESSION_FROM

/* The first 12 columns of TS_SESSION_SELECT. */
gpointer ts_tx_session_from_row (TsRows *rows);

typedef struct
{
  TsSession *session;
  gboolean ended;
  TesseraError end_code;
  char *end_reason;
  gint64 quota; /* the pool's */
} TsSessionRow;

void ts_tx_session_row_clear (TsSessionRow *row);
/* One session by TS_SESSION_SELECT @where (one to three string parameters,
 * the unused ones NULL); *found FALSE if none. In a write with row locks,
 * the session's row stays locked: a heartbeat and a reaper (of another
 * instance) never both act on it; the reaper skips it. */
gboolean ts_tx_load_session (TsTx *tx, TsSessionRow *row, gboolean *found, GError **error,
                             const char *where, const char *a, const char *b, const char *c);
/* ts_tx_load_session() in two halves (see ts_tx_pool_query()). */
TsRows *ts_tx_session_query (TsTx *tx, GError **error, const char *where, const char *a,
                             const char *b, const char *c);
gboolean ts_tx_session_read (TsRows *rows, TsSessionRow *row, gboolean *found, GError **error);
/* ---- the caller (TsCaller, store.h; store-rules.c) ---- */

/* The user of the API key whose hash is the string parameter @p ("?" or
 * "?N"), NULL when it is unknown or revoked: where a statement compares a
 * user id with ts_caller_param(), this takes the parameter's place for a
 * caller by key (ts_caller_by_key()). */
#define TS_KEY_USER(p)                                                                             \
  "(SELECT k.user_id FROM api_keys k WHERE k.hash = " p " AND k.revoked_at = 0)"

gboolean ts_caller_check (const TsCaller *who, GError **error);
gboolean ts_caller_by_key (const TsCaller *who);
/* The string parameter a statement over the caller binds: the user id, or
 * the key's hash. */
const char *ts_caller_param (const TsCaller *who);
/* The caller's user id once known: @user_id, or what the store found. */
const char *ts_caller_user (const TsCaller *who);
/* Notes @user_id (the owner of what a statement over the caller read) as
 * the key's user. */
void ts_caller_found (TsCaller *who, const char *user_id);
/* A statement over the caller by key read nothing, and @error says so
 * (NOT_FOUND, PERMISSION_DENIED: the user has no such session, no such
 * membership): if the key is no longer valid, that is the answer instead
 * (AUTH); if it is, ts_caller_found() of its user. */
void ts_tx_caller_miss (TsTx *tx, TsCaller *who, GError **error);
/* Returns (transfer full) the user of the API key whose hash is @key_hash,
 * or NULL with TESSERA_ERROR_AUTH when it is unknown or revoked (or the
 * database's error). */
char *ts_tx_key_user (TsTx *tx, const char *key_hash, GError **error);

/* The where of ts_tx_load_own_session(): session id, then
 * ts_caller_param(). */
const char *ts_own_session_where (const TsCaller *who);
/* The read half of ts_tx_load_own_session(), over ts_own_session_where(). */
gboolean ts_tx_own_session_read (TsRows *rows, TsSessionRow *row, const char *session_id,
                                 GError **error);
/* @who's own session @session_id, or TESSERA_ERROR_NOT_FOUND ("you have
 * no session …": another user's session is not told apart from none). */
gboolean ts_tx_load_own_session (TsTx *tx, TsSessionRow *row, TsCaller *who, const char *session_id,
                                 GError **error);
gboolean ts_tx_end_session (TsTx *tx, const char *session_id, gint64 now, TesseraError code,
                            const char *reason, GError **error);

G_END_DECLS
