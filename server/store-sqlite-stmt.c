/* tessera-store on SQLite: error codes, and statements with their
 * per-connection cache (what every store-*.c file runs its SQL with). */
#include "metrics.h"
#include "store-private.h"

#include <string.h>

/* ---- errors ---- */

void
ts_db_set_error (sqlite3 *db, int rc, GError **error)
{
  ts_metrics_database_error ();
  const char *msg = db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc);
  switch (rc & 0xff)
    {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PERM:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_NOMEM:
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "the license database cannot be used: %s (nothing was changed)", msg);
      break;
    default:
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "license database error: %s", msg);
    }
}

/* ---- statements ----
 *
 * Compiling SQL was the largest single cost of a request (perf on
 * server-bench: sqlite3_prepare_v2 23% of the server's CPU), so each
 * connection keeps the statements it compiled, by SQL text, for reuse:
 * ts_stmt_cached() takes one out of the cache (or compiles it) and
 * ts_stmt_done() resets it and puts it back. A connection is used by one
 * thread at a time, so its cache needs no lock; only the map from
 * connections to caches does. ts_stmt() statements are not cached (their
 * callers finalize them). */

#define TS_MAX_CACHED 96 /* statements kept per connection */

G_LOCK_DEFINE_STATIC (ts_caches);
static GHashTable *ts_caches; /* sqlite3 * → GHashTable (SQL → sqlite3_stmt *) */

static GHashTable *
ts_cache_for (sqlite3 *db)
{
  G_LOCK (ts_caches);
  GHashTable *cache = ts_caches != NULL ? g_hash_table_lookup (ts_caches, db) : NULL;
  G_UNLOCK (ts_caches);
  return cache;
}

static void
ts_stmt_finalize (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

void
ts_stmt_cache_add (sqlite3 *db)
{
  /* Keys are sqlite3_sql() of the statement itself: no copy to free. */
  GHashTable *cache = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, ts_stmt_finalize);
  G_LOCK (ts_caches);
  if (ts_caches == NULL)
    ts_caches = g_hash_table_new (NULL, NULL);
  g_hash_table_insert (ts_caches, db, cache);
  G_UNLOCK (ts_caches);
}

void
ts_db_close (sqlite3 *db)
{
  if (db == NULL)
    return;
  G_LOCK (ts_caches);
  GHashTable *cache = ts_caches != NULL ? g_hash_table_lookup (ts_caches, db) : NULL;
  if (cache != NULL)
    g_hash_table_remove (ts_caches, db);
  G_UNLOCK (ts_caches);
  if (cache != NULL)
    g_hash_table_unref (cache);
  sqlite3_close (db);
}

sqlite3_stmt *
ts_stmt_v (sqlite3 *db, GError **error, gboolean cached, const char *sql, const char *types,
           va_list ap)
{
  sqlite3_stmt *stmt = NULL;
  GHashTable *cache = cached ? ts_cache_for (db) : NULL;
  /* One hash of the SQL text to find and take it (in use until
   * ts_stmt_done()): callgrind, g_str_hash was 4% of the server's
   * instructions with a lookup, a steal, a contains and an insert. */
  if (cache != NULL)
    g_hash_table_steal_extended (cache, sql, NULL, (gpointer *) &stmt);
  int rc = SQLITE_OK;
  if (stmt == NULL)
    rc = sqlite3_prepare_v3 (db, sql, -1, cache != NULL ? SQLITE_PREPARE_PERSISTENT : 0, &stmt,
                             NULL);
  if (rc != SQLITE_OK)
    {
      ts_db_set_error (db, rc, error);
      return NULL;
    }
  for (int i = 0; types != NULL && types[i]; i++)
    {
      switch (types[i])
        {
        case 's':
          {
            const char *s = va_arg (ap, const char *);
            rc = s != NULL ? sqlite3_bind_text (stmt, i + 1, s, -1, SQLITE_TRANSIENT)
                           : sqlite3_bind_null (stmt, i + 1);
            break;
          }
        case 'i':
          rc = sqlite3_bind_int64 (stmt, i + 1, va_arg (ap, gint64));
          break;
        case 'b':
          {
            GBytes *b = va_arg (ap, GBytes *);
            gsize len = 0;
            const void *data = g_bytes_get_data (b, &len);
            rc = sqlite3_bind_blob64 (stmt, i + 1, data, len, SQLITE_TRANSIENT);
            break;
          }
        default:
          g_assert_not_reached ();
        }
      if (rc != SQLITE_OK)
        {
          ts_db_set_error (db, rc, error);
          sqlite3_finalize (stmt);
          return NULL;
        }
    }
  return stmt;
}

sqlite3_stmt *
ts_stmt (sqlite3 *db, GError **error, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  sqlite3_stmt *stmt = ts_stmt_v (db, error, FALSE, sql, types, ap);
  va_end (ap);
  return stmt;
}

sqlite3_stmt *
ts_stmt_cached (sqlite3 *db, GError **error, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  sqlite3_stmt *stmt = ts_stmt_v (db, error, TRUE, sql, types, ap);
  va_end (ap);
  return stmt;
}

void
ts_stmt_done (sqlite3 *db, sqlite3_stmt *stmt)
{
  if (stmt == NULL)
    return;
  GHashTable *cache = ts_cache_for (db);
  const char *sql = sqlite3_sql (stmt);
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  /* A twin already cached (the same SQL compiled twice at once) is
   * replaced, key and all (the key is its own text): one of the two goes
   * either way. */
  if (cache != NULL && sql != NULL && g_hash_table_size (cache) < TS_MAX_CACHED)
    g_hash_table_replace (cache, (gpointer) sql, stmt);
  else
    sqlite3_finalize (stmt);
}

int
ts_step (sqlite3 *db, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    return rc;
  ts_db_set_error (db, rc, error);
  return -1;
}

gboolean
ts_exec (sqlite3 *db, GError **error, gint64 *changes, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  sqlite3_stmt *stmt = ts_stmt_v (db, error, TRUE, sql, types, ap);
  va_end (ap);
  if (stmt == NULL)
    return FALSE;
  int rc;
  while ((rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    ;
  if (changes != NULL)
    *changes = sqlite3_changes64 (db);
  ts_stmt_done (db, stmt);
  return rc == SQLITE_DONE;
}

gboolean
ts_query_int (sqlite3 *db, GError **error, gint64 *out, gboolean *found, const char *sql,
              const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  sqlite3_stmt *stmt = ts_stmt_v (db, error, TRUE, sql, types, ap);
  va_end (ap);
  if (stmt == NULL)
    return FALSE;
  int rc = ts_step (db, stmt, error);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  if (found != NULL)
    *found = rc == SQLITE_ROW;
  ts_stmt_done (db, stmt);
  return rc != -1;
}

gboolean
ts_query_str (sqlite3 *db, GError **error, char **out, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  sqlite3_stmt *stmt = ts_stmt_v (db, error, TRUE, sql, types, ap);
  va_end (ap);
  *out = NULL;
  if (stmt == NULL)
    return FALSE;
  int rc = ts_step (db, stmt, error);
  if (rc == SQLITE_ROW)
    *out = ts_col_strdup (stmt, 0);
  ts_stmt_done (db, stmt);
  return rc != -1;
}

char *
ts_col_strdup (sqlite3_stmt *stmt, int col)
{
  const unsigned char *s = sqlite3_column_text (stmt, col);
  return s != NULL ? g_strdup ((const char *) s) : NULL;
}
