/* tessera-store on SQLite: connections, transactions, schema migrations and
 * the helpers the other store-*.c files share. */
#include "store-private.h"

#include <sodium.h>
#include <string.h>

/* ---- schema ---- */

static const char *const migrations[] = {
  /* 1: the initial schema */
  "CREATE TABLE orgs (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);"
  "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
  "  created_at INTEGER NOT NULL);"
  "CREATE TABLE members (org_id TEXT NOT NULL REFERENCES orgs (id),"
  "  user_id TEXT NOT NULL REFERENCES users (id), role INTEGER NOT NULL,"
  "  PRIMARY KEY (org_id, user_id));"
  "CREATE INDEX members_user ON members (user_id);"
  "CREATE TABLE api_keys (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id),"
  "  label TEXT NOT NULL, prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,"
  "  created_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0);"
  "CREATE TABLE pools (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs (id),"
  "  product TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('node-locked', 'floating')),"
  "  billing TEXT NOT NULL CHECK (billing IN ('annual', 'monthly')),"
  "  quota INTEGER NOT NULL CHECK (quota >= 0), subscription_end INTEGER NOT NULL,"
  "  created_at INTEGER NOT NULL, UNIQUE (org_id, product, kind));"
  "CREATE TABLE grants (pool_id TEXT NOT NULL REFERENCES pools (id),"
  "  user_id TEXT NOT NULL REFERENCES users (id), granted_at INTEGER NOT NULL,"
  "  PRIMARY KEY (pool_id, user_id));"
  "CREATE TABLE machines (pool_id TEXT NOT NULL REFERENCES pools (id),"
  "  machine_id TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users (id),"
  "  registered_at INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
  "  PRIMARY KEY (pool_id, machine_id));"
  "CREATE TABLE sessions (id TEXT PRIMARY KEY, pool_id TEXT NOT NULL REFERENCES pools (id),"
  "  user_id TEXT NOT NULL REFERENCES users (id), machine_id TEXT NOT NULL,"
  "  nonce TEXT NOT NULL, started_at INTEGER NOT NULL, last_heartbeat INTEGER NOT NULL,"
  "  lease_expires_at INTEGER NOT NULL, ended_at INTEGER, end_code INTEGER, end_reason TEXT,"
  "  UNIQUE (pool_id, user_id, nonce));"
  "CREATE INDEX sessions_active ON sessions (pool_id, ended_at, lease_expires_at);"
  "CREATE TABLE offline (id TEXT PRIMARY KEY, pool_id TEXT NOT NULL REFERENCES pools (id),"
  "  machine_id TEXT NOT NULL, created_by TEXT, created_at INTEGER NOT NULL,"
  "  expires_at INTEGER NOT NULL, file BLOB NOT NULL, file_name TEXT NOT NULL);"
  "CREATE INDEX offline_pool ON offline (pool_id, expires_at);"
  "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,"
  "  org_id TEXT, actor TEXT, action TEXT NOT NULL, target TEXT, detail TEXT);"
  "CREATE INDEX audit_org ON audit (org_id, seq);",
  /* 2: web sign-in (store-web.c): Argon2id password hashes, sessions and
   * invitations kept only as SHA-256 of their random tokens, and failed
   * sign-in counters (per account and per client address) */
  "CREATE TABLE web_passwords (user_id TEXT PRIMARY KEY REFERENCES users (id),"
  "  hash TEXT NOT NULL, set_at INTEGER NOT NULL);"
  "CREATE TABLE web_sessions (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id),"
  "  csrf TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
  "CREATE INDEX web_sessions_user ON web_sessions (user_id);"
  "CREATE TABLE web_invites (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id),"
  "  org_id TEXT NOT NULL REFERENCES orgs (id), created_by TEXT, created_at INTEGER NOT NULL,"
  "  expires_at INTEGER NOT NULL, used_at INTEGER);"
  "CREATE TABLE web_login_failures (subject TEXT PRIMARY KEY, count INTEGER NOT NULL,"
  "  window_start INTEGER NOT NULL);",
  /* 3: signing keys shared by the instances (server/keys.c), sealed with
   * the instances' key-encryption key */
  "CREATE TABLE signing_keys (id TEXT PRIMARY KEY, public_key TEXT NOT NULL,"
  "  sealed TEXT NOT NULL, created_at INTEGER NOT NULL, seq INTEGER NOT NULL UNIQUE);",
};

/* ---- errors ---- */

void
ts_db_set_error (sqlite3 *db, int rc, GError **error)
{
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

static void
ts_cache_add (sqlite3 *db)
{
  /* Keys are sqlite3_sql() of the statement itself: no copy to free. */
  GHashTable *cache = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, ts_stmt_finalize);
  G_LOCK (ts_caches);
  if (ts_caches == NULL)
    ts_caches = g_hash_table_new (NULL, NULL);
  g_hash_table_insert (ts_caches, db, cache);
  G_UNLOCK (ts_caches);
}

/* Finalizes @db's cached statements (sqlite3_close refuses a connection
 * with statements left) and closes it. */
static void
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

static sqlite3_stmt *
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

/* ---- connections ---- */

static sqlite3 *
ts_db_open (const char *path, GError **error)
{
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc != SQLITE_OK)
    {
      ts_db_set_error (db, rc, error);
      sqlite3_close (db);
      return NULL;
    }
  sqlite3_extended_result_codes (db, 1);
  sqlite3_busy_timeout (db, 10000);
  /* journal_mode answers with a row: run it through sqlite3_exec. */
  rc = sqlite3_exec (db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     " PRAGMA foreign_keys = ON;",
                     NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      ts_db_set_error (db, rc, error);
      sqlite3_close (db);
      return NULL;
    }
  ts_cache_add (db);
  return db;
}

sqlite3 *
ts_db_acquire (TsStore *store, GError **error)
{
  sqlite3 *db = NULL;
  g_mutex_lock (&store->lock);
  if (store->idle->len > 0)
    db = g_ptr_array_steal_index_fast (store->idle, store->idle->len - 1);
  g_mutex_unlock (&store->lock);
  if (db == NULL)
    {
      db = ts_db_open (store->path, error);
      if (db != NULL)
        {
          g_mutex_lock (&store->lock);
          store->open_count++;
          g_mutex_unlock (&store->lock);
        }
    }
  return db;
}

/* Idle connections kept for reuse; a burst beyond this opens more, closed
 * again when given back. */
#define TS_MAX_IDLE 16

void
ts_db_release (TsStore *store, sqlite3 *db)
{
  g_mutex_lock (&store->lock);
  if (store->idle->len < TS_MAX_IDLE)
    {
      g_ptr_array_add (store->idle, db);
      db = NULL;
    }
  else
    store->open_count--;
  g_mutex_unlock (&store->lock);
  if (db != NULL)
    ts_db_close (db);
}

/* ---- writes: group commit ----
 *
 * Every write of this process goes through one connection, store->writer,
 * used by one thread at a time (write_lock). A write joins the immediate
 * transaction already open on it, or opens one (BEGIN IMMEDIATE), and runs
 * inside its own SAVEPOINT, so a write that fails rolls back only itself.
 * The thread that finishes a write commits the transaction when no other
 * writer is waiting for write_lock (or the batch is full); otherwise the
 * next one carries on in the same transaction. Every write whose savepoint
 * was released then waits for the commit of its batch before it returns:
 * nobody is answered before their change is on disk, but one fsync serves
 * the whole batch (the disk here: 0.3 to 1.25 ms an fdatasync, and with
 * one commit a write, at 64 clients, requests queued behind each other's
 * fsyncs: 515 activations/s, p99 near 200 ms).
 *
 * Quotas stay exact: the writes of a batch run one after the other in one
 * immediate transaction, each seeing what the earlier ones did, just as
 * consecutive transactions would.
 *
 * Durability: the writer runs with synchronous = NORMAL (no fsync at
 * COMMIT) and a batch holding a durable write (seat changes: ts_db_begin
 * with @write) is made durable by syncing the WAL right after its COMMIT,
 * which is what synchronous = FULL does in WAL mode; that sync also covers
 * every earlier frame of the WAL. A batch of lease-only writes
 * (ts_db_begin_lease: heartbeats) is not synced: after a power loss it
 * may come back without the last lease extensions, which only makes a
 * lease end earlier than the client was told; a heartbeat that ends a
 * session marks its batch durable (ts_db_mark_durable). The pragma itself
 * cannot change inside a transaction, hence the explicit sync. Other
 * processes (tessera-admin) use their own connections and SQLite's busy
 * handler. */

#define TS_MAX_BATCH 64

struct _TsBatch
{
  gint ref;
  gboolean done; /* under store->commit_lock */
  gboolean ok;
  GError *error; /* why the batch did not commit */
};

/* The batch this thread's open write belongs to (and so the thread holds
 * write_lock). */
static GPrivate ts_write_held;

static void
ts_batch_unref (TsBatch *batch)
{
  if (g_atomic_int_dec_and_test (&batch->ref))
    {
      g_clear_error (&batch->error);
      g_free (batch);
    }
}

/* Ends the open batch (write_lock held) and wakes its writers. Takes @error. */
static void
ts_batch_end (TsStore *store, GError *error)
{
  TsBatch *batch = store->batch;
  /* Rolled back: what was learnt about quotas inside it may not hold. */
  if (error != NULL && store->quota_ok != NULL)
    g_hash_table_remove_all (store->quota_ok);
  g_mutex_lock (&store->commit_lock);
  batch->done = TRUE;
  batch->ok = error == NULL;
  batch->error = error;
  g_cond_broadcast (&store->committed);
  g_mutex_unlock (&store->commit_lock);
  store->batch = NULL;
  store->batch_members = 0;
  store->batch_durable = FALSE;
  ts_batch_unref (batch);
}

/* One statement without parameters or rows (BEGIN, COMMIT, SAVEPOINT, ...)
 * from the statement cache: sqlite3_exec() would compile it every time.
 * Returns the SQLite result code. */
static int
ts_run (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = ts_stmt_cached (db, NULL, sql, NULL);
  if (stmt == NULL)
    return sqlite3_extended_errcode (db);
  int rc = sqlite3_step (stmt);
  ts_stmt_done (db, stmt);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int
ts_exec_retry (sqlite3 *db, const char *sql)
{
  int rc;
  /* The busy handler waits up to its timeout; a few more rounds cover
   * another process holding the lock longer than that under load
   * (valgrind). */
  for (guint attempt = 0;; attempt++)
    {
      rc = ts_run (db, sql);
      if ((rc & 0xff) != SQLITE_BUSY || attempt >= 20)
        return rc;
      g_usleep (1000 * (attempt + 1));
    }
}

/* The open batch was rolled back by SQLite itself (after an I/O error, disk
 * full, ...): every write in it is lost, and says so. */
static void
ts_batch_lost (TsStore *store)
{
  GError *error = NULL;
  g_set_error (&error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
               "the license database cannot be used: %s (nothing was changed)",
               sqlite3_errmsg (store->writer));
  ts_batch_end (store, error);
}

static void
ts_batch_commit (TsStore *store)
{
  sqlite3 *db = store->writer;
  GError *error = NULL;
  int rc = ts_exec_retry (db, "COMMIT");
  if (rc != SQLITE_OK)
    {
      ts_db_set_error (db, rc, &error);
      if (!sqlite3_get_autocommit (db))
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
    }
  else if (store->batch_durable)
    {
      sqlite3_file *wal = NULL;
      rc = sqlite3_file_control (db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
      if (rc == SQLITE_OK && wal != NULL && wal->pMethods != NULL)
        rc = wal->pMethods->xSync (wal, SQLITE_SYNC_NORMAL);
      if (rc != SQLITE_OK)
        g_set_error (&error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                     "the license database cannot be synced to disk: %s", sqlite3_errstr (rc));
    }
  ts_batch_end (store, error);
}

/* ---- checkpoints ----
 *
 * SQLite checkpoints the WAL in the COMMIT that takes it past 1000 frames,
 * syncing the WAL and then the database: on the writer that happened under
 * write_lock, every writer stalled behind two fsyncs, every ~300
 * heartbeats (each appends 3 or 4 pages). So the writer only counts the
 * frames (ts_wal_hook), and the thread that leaves write_lock after the
 * WAL went past TS_WAL_CHECKPOINT_FRAMES runs a passive checkpoint on a
 * read connection, which does not hold up writers. With more frames
 * between checkpoints, the pages that every lease extension rewrites are
 * copied back once for more of them. Other processes (tessera-admin) keep
 * SQLite's own checkpoints. */

#define TS_WAL_CHECKPOINT_FRAMES 4000

static int
ts_wal_hook (void *data, sqlite3 *db, const char *name, int frames)
{
  TsStore *store = data;
  g_atomic_int_set (&store->wal_frames, frames);
  return SQLITE_OK;
}

static void
ts_wal_checkpoint (TsStore *store)
{
  /* Counted from what the last checkpoint copied, not from the WAL's
   * start: while readers hold its newest frames it cannot copy them all,
   * the WAL does not restart, and a checkpoint (two fsyncs) after every
   * write would follow. A WAL smaller than that has restarted. */
  gint frames = g_atomic_int_get (&store->wal_frames);
  gint base = g_atomic_int_get (&store->wal_copied);
  if (frames < base)
    base = 0;
  if (frames - base < TS_WAL_CHECKPOINT_FRAMES
      || !g_atomic_int_compare_and_exchange (&store->checkpointing, 0, 1))
    return;
  sqlite3 *db = ts_db_acquire (store, NULL);
  if (db != NULL)
    {
      int log = 0, copied = 0;
      if (sqlite3_wal_checkpoint_v2 (db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
          == SQLITE_OK)
        g_atomic_int_set (&store->wal_copied, MAX (copied, 0));
      ts_db_release (store, db);
    }
  g_atomic_int_set (&store->checkpointing, 0);
}

static sqlite3 *
ts_db_begin_write (TsStore *store, gboolean durable, GError **error)
{
  if (g_private_get (&ts_write_held) != NULL)
    {
      /* One write at a time per thread: a second would wait for itself. */
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "internal error: nested write transaction");
      return NULL;
    }
  g_atomic_int_inc (&store->write_wanting);
  g_mutex_lock (&store->write_lock);
  g_atomic_int_add (&store->write_wanting, -1);
  if (store->writer == NULL)
    {
      store->writer = ts_db_open (store->path, error);
      if (store->writer == NULL
          || !ts_exec (store->writer, error, NULL, "PRAGMA synchronous = NORMAL", NULL))
        {
          g_clear_pointer (&store->writer, ts_db_close);
          g_mutex_unlock (&store->write_lock);
          return NULL;
        }
      sqlite3_wal_hook (store->writer, ts_wal_hook, store);
    }
  sqlite3 *db = store->writer;
  if (store->batch != NULL && sqlite3_get_autocommit (db))
    ts_batch_lost (store);
  if (store->batch == NULL)
    {
      int rc = ts_exec_retry (db, "BEGIN IMMEDIATE");
      if (rc != SQLITE_OK)
        {
          ts_db_set_error (db, rc, error);
          g_mutex_unlock (&store->write_lock);
          return NULL;
        }
      store->batch = g_new0 (TsBatch, 1);
      store->batch->ref = 1;
      store->batch_serial++;
      /* The first write of a batch needs no savepoint: it fails alone by
       * rolling back the whole transaction, nothing else is in it yet
       * (with a batch a heartbeat, at 64 clients, that was two of its
       * nine statements). */
      store->write_bare = TRUE;
      store->batch_members++;
      store->batch_durable |= durable;
      g_atomic_int_inc (&store->batch->ref);
      g_private_set (&ts_write_held, store->batch);
      return db;
    }
  int rc = ts_run (db, "SAVEPOINT ts_write");
  if (rc != SQLITE_OK)
    {
      ts_db_set_error (db, rc, error);
      /* As ts_db_finish_write() would: the writes already in the batch
       * wait for its commit, by the next writer or now. */
      if (sqlite3_get_autocommit (db))
        ts_batch_lost (store);
      else if (store->batch_members == 0 || g_atomic_int_get (&store->write_wanting) == 0)
        ts_batch_commit (store);
      g_mutex_unlock (&store->write_lock);
      return NULL;
    }
  store->batch_members++;
  store->batch_durable |= durable;
  g_atomic_int_inc (&store->batch->ref);
  g_private_set (&ts_write_held, store->batch);
  return db;
}

/* ---- pools known to be within their quota (see store-private.h) ---- */

static gboolean
ts_quota_cache_valid (TsStore *store, sqlite3 *db)
{
  if (db != store->writer || g_private_get (&ts_write_held) == NULL)
    return FALSE;
  if (store->quota_ok == NULL)
    {
      store->quota_ok = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      store->seat_bound = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    }
  /* No other connection commits while the batch holds the write lock, so
   * data_version cannot change within it: once per batch is enough (it was
   * a statement per heartbeat). */
  if (store->version_serial == store->batch_serial)
    return TRUE;
  gint64 version = 0;
  if (!ts_query_int (db, NULL, &version, NULL, "PRAGMA data_version", NULL))
    return FALSE;
  store->version_serial = store->batch_serial;
  if (version != store->data_version)
    {
      /* Another process committed: it may have lowered a quota, or added
       * sessions (another server on the same database). */
      g_hash_table_remove_all (store->quota_ok);
      g_hash_table_remove_all (store->seat_bound);
      store->data_version = version;
    }
  return TRUE;
}

gboolean
ts_seats_bound (TsStore *store, sqlite3 *db, const char *pool_id, gint64 *bound)
{
  const gint64 *v
      = ts_quota_cache_valid (store, db) ? g_hash_table_lookup (store->seat_bound, pool_id) : NULL;
  if (v != NULL)
    *bound = *v;
  return v != NULL;
}

void
ts_seats_set_bound (TsStore *store, sqlite3 *db, const char *pool_id, gint64 bound)
{
  if (ts_quota_cache_valid (store, db))
    g_hash_table_insert (store->seat_bound, g_strdup (pool_id), g_memdup2 (&bound, sizeof bound));
}

gboolean
ts_quota_known_ok (TsStore *store, sqlite3 *db, const char *pool_id)
{
  return ts_quota_cache_valid (store, db) && g_hash_table_contains (store->quota_ok, pool_id);
}

void
ts_quota_remember_ok (TsStore *store, sqlite3 *db, const char *pool_id)
{
  if (ts_quota_cache_valid (store, db))
    g_hash_table_add (store->quota_ok, g_strdup (pool_id));
}

void
ts_quota_forget (TsStore *store, sqlite3 *db)
{
  if (ts_quota_cache_valid (store, db))
    g_hash_table_remove_all (store->quota_ok);
}

gboolean
ts_db_item_begin (sqlite3 *db, GError **error)
{
  int rc = ts_run (db, "SAVEPOINT ts_item");
  if (rc != SQLITE_OK)
    ts_db_set_error (db, rc, error);
  return rc == SQLITE_OK;
}

void
ts_db_item_end (sqlite3 *db, gboolean ok)
{
  if (sqlite3_get_autocommit (db))
    return; /* SQLite rolled the whole batch back: ts_db_finish() says so */
  if (!ok)
    ts_run (db, "ROLLBACK TO ts_item");
  ts_run (db, "RELEASE ts_item");
}

sqlite3 *
ts_db_begin_lease (TsStore *store, GError **error)
{
  return ts_db_begin_write (store, FALSE, error);
}

void
ts_db_mark_durable (TsStore *store, sqlite3 *db)
{
  if (db == store->writer && g_private_get (&ts_write_held) != NULL)
    store->batch_durable = TRUE;
}

static gboolean
ts_db_finish_write (TsStore *store, gboolean ok, GError **error)
{
  sqlite3 *db = store->writer;
  TsBatch *batch = g_private_get (&ts_write_held);
  /* ts_db_begin_write() set it: a write is always in a batch. */
  g_assert (batch != NULL);
  gboolean bare = store->write_bare;
  store->write_bare = FALSE;
  g_private_set (&ts_write_held, NULL);
  if (ok && !bare && !sqlite3_get_autocommit (db))
    {
      int rc = ts_run (db, "RELEASE ts_write");
      if (rc != SQLITE_OK)
        {
          ts_db_set_error (db, rc, error);
          ok = FALSE;
        }
    }
  if (!ok && bare)
    {
      /* Alone in its batch: undoing it is undoing the batch, and nobody
       * else waits for that batch (this write does not, having failed). */
      if (!sqlite3_get_autocommit (db))
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
      ts_batch_end (store, NULL);
    }
  else if (!ok && !sqlite3_get_autocommit (db))
    {
      ts_run (db, "ROLLBACK TO ts_write");
      ts_run (db, "RELEASE ts_write");
    }
  if (store->batch == batch && sqlite3_get_autocommit (db))
    ts_batch_lost (store);
  else if (store->batch == batch
           && (store->batch_members >= TS_MAX_BATCH
               || g_atomic_int_get (&store->write_wanting) == 0))
    ts_batch_commit (store);
  /* else the next writer, already waiting for write_lock, carries on */
  g_mutex_unlock (&store->write_lock);
  ts_wal_checkpoint (store);
  if (ok)
    {
      g_mutex_lock (&store->commit_lock);
      while (!batch->done)
        g_cond_wait (&store->committed, &store->commit_lock);
      g_mutex_unlock (&store->commit_lock);
      if (!batch->ok)
        {
          g_propagate_error (error, g_error_copy (batch->error));
          ok = FALSE;
        }
    }
  ts_batch_unref (batch);
  return ok;
}

sqlite3 *
ts_db_begin (TsStore *store, gboolean write, GError **error)
{
  if (write)
    return ts_db_begin_write (store, TRUE, error);
  sqlite3 *db = ts_db_acquire (store, error);
  if (db == NULL)
    return NULL;
  int rc = ts_exec_retry (db, "BEGIN");
  if (rc != SQLITE_OK)
    {
      ts_db_set_error (db, rc, error);
      ts_db_release (store, db);
      return NULL;
    }
  return db;
}

gboolean
ts_db_finish (TsStore *store, sqlite3 *db, gboolean ok, GError **error)
{
  if (db == store->writer)
    return ts_db_finish_write (store, ok, error);
  if (ok)
    {
      int rc = ts_exec_retry (db, "COMMIT");
      if (rc != SQLITE_OK)
        {
          ts_db_set_error (db, rc, error);
          ok = FALSE;
        }
    }
  if (!ok && !sqlite3_get_autocommit (db))
    sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  ts_db_release (store, db);
  return ok;
}

static gboolean
ts_store_migrate (TsStore *store, GError **error)
{
  guint latest = G_N_ELEMENTS (migrations);
  gint64 version = 0;

  /* Look first without a write lock, so an up-to-date database can be opened
   * read-only (and then report UNAVAILABLE on its first write). */
  sqlite3 *db = ts_db_begin (store, FALSE, error);
  if (db == NULL)
    return FALSE;
  gint64 has_table = 0;
  gboolean ok = ts_query_int (db, error, &has_table, NULL,
                              "SELECT count(*) FROM sqlite_master"
                              " WHERE type = 'table' AND name = 'schema_version'",
                              NULL);
  if (ok && has_table)
    ok = ts_query_int (db, error, &version, NULL, "SELECT max(version) FROM schema_version", NULL);
  if (!ts_db_finish (store, db, ok, error))
    return FALSE;
  if (version > latest)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "the license database %s has schema version %" G_GINT64_FORMAT
                   ", newer than this program knows (%u)",
                   store->path, version, latest);
      return FALSE;
    }
  if (version == latest)
    return TRUE;

  db = ts_db_begin (store, TRUE, error);
  if (db == NULL)
    return FALSE;
  ok = ts_exec (db, error, NULL,
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL,"
                " applied_at INTEGER NOT NULL)",
                NULL)
       && ts_query_int (db, error, &version, NULL,
                        "SELECT coalesce (max(version), 0) FROM schema_version", NULL);
  /* Re-read under the write lock: another process may have migrated. */
  for (guint i = (guint) version; ok && i < latest; i++)
    {
      int rc = sqlite3_exec (db, migrations[i], NULL, NULL, NULL);
      if (rc != SQLITE_OK)
        {
          ts_db_set_error (db, rc, error);
          ok = FALSE;
          break;
        }
      ok = ts_exec (db, error, NULL,
                    "INSERT INTO schema_version (version, applied_at)"
                    " VALUES (?, strftime ('%s', 'now'))",
                    "i", (gint64) i + 1);
    }
  return ts_db_finish (store, db, ok, error);
}

TsStore *
ts_store_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  if (sodium_init () < 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "libsodium cannot be initialized");
      return NULL;
    }
  TsStore *store = g_new0 (TsStore, 1);
  store->path = g_strdup (path);
  g_mutex_init (&store->lock);
  store->idle = g_ptr_array_new ();
  g_mutex_init (&store->write_lock);
  g_mutex_init (&store->commit_lock);
  g_cond_init (&store->committed);
  g_mutex_init (&store->lease_lock);
  g_cond_init (&store->lease_cond);
  g_queue_init (&store->lease_pending);
  if (!ts_store_migrate (store, error))
    {
      g_prefix_error (error, "%s: ", path);
      ts_store_close (store);
      return NULL;
    }
  return store;
}

void
ts_store_close (TsStore *store)
{
  if (store == NULL)
    return;
  g_mutex_lock (&store->lock);
  if (store->idle->len != store->open_count)
    g_critical ("ts_store_close: %u connection(s) still in use",
                store->open_count - store->idle->len);
  for (guint i = 0; i < store->idle->len; i++)
    ts_db_close (store->idle->pdata[i]);
  g_mutex_unlock (&store->lock);
  g_ptr_array_free (store->idle, TRUE);
  g_mutex_clear (&store->lock);
  /* Every write waits for its batch's commit, so none is open now. */
  g_warn_if_fail (store->batch == NULL);
  g_clear_pointer (&store->quota_ok, g_hash_table_unref);
  g_clear_pointer (&store->seat_bound, g_hash_table_unref);
  ts_db_close (store->writer);
  g_mutex_clear (&store->write_lock);
  g_mutex_clear (&store->commit_lock);
  g_cond_clear (&store->committed);
  g_warn_if_fail (g_queue_is_empty (&store->lease_pending));
  g_mutex_clear (&store->lease_lock);
  g_cond_clear (&store->lease_cond);
  g_free (store->path);
  g_free (store);
}

/* ---- helpers ---- */

char *
ts_new_id (void)
{
  return g_uuid_string_random ();
}

gboolean
ts_audit (sqlite3 *db, gint64 now, const char *org_id, const char *actor, const char *action,
          const char *target, const char *detail, GError **error)
{
  return ts_exec (db, error, NULL,
                  "INSERT INTO audit (at, org_id, actor, action, target, detail)"
                  " VALUES (?, ?, ?, ?, ?, ?)",
                  "isssss", now, org_id, actor != NULL ? actor : "tessera-admin", action, target,
                  detail);
}

gboolean
ts_require_admin (sqlite3 *db, const char *actor, const char *org_id, TsRole *role, GError **error)
{
  if (!ts_check_org_id (org_id, error))
    return FALSE;
  gint64 v = 0;
  gboolean found = FALSE;
  if (actor == NULL)
    {
      if (!ts_query_int (db, error, &v, &found, "SELECT 1 FROM orgs WHERE id = ?", "s", org_id))
        return FALSE;
      if (!found)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "no organization %s", org_id);
          return FALSE;
        }
      if (role != NULL)
        *role = TS_ROLE_OWNER;
      return TRUE;
    }
  if (!ts_query_int (db, error, &v, &found,
                     "SELECT role FROM members WHERE org_id = ? AND user_id = ?", "ss", org_id,
                     actor))
    return FALSE;
  if (!found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "you are not a member of organization %s", org_id);
      return FALSE;
    }
  if (v != TS_ROLE_OWNER && v != TS_ROLE_ADMIN)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "only an owner or admin of organization %s may do this", org_id);
      return FALSE;
    }
  if (role != NULL)
    *role = (TsRole) v;
  return TRUE;
}

TsPool *
ts_pool_from_row (sqlite3_stmt *stmt)
{
  TsPool *p = g_new0 (TsPool, 1);
  p->id = ts_col_strdup (stmt, 0);
  p->org_id = ts_col_strdup (stmt, 1);
  p->product = ts_col_strdup (stmt, 2);
  p->kind = ts_col_strdup (stmt, 3);
  p->billing = ts_col_strdup (stmt, 4);
  p->quota = sqlite3_column_int64 (stmt, 5);
  p->subscription_end = sqlite3_column_int64 (stmt, 6);
  return p;
}

TsPool *
ts_load_pool (sqlite3 *db, const char *org_id, const char *pool_id, GError **error)
{
  if (pool_id == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "pool_id is missing");
      return NULL;
    }
  sqlite3_stmt *stmt = ts_stmt_cached (
      db, error, "SELECT " TS_POOL_COLUMNS " FROM pools WHERE id = ? AND org_id = ?", "ss", pool_id,
      org_id);
  if (stmt == NULL)
    return NULL;
  TsPool *pool = NULL;
  int rc = ts_step (db, stmt, error);
  if (rc == SQLITE_ROW)
    pool = ts_pool_from_row (stmt);
  else if (rc == SQLITE_DONE)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "organization %s has no pool %s",
                 org_id, pool_id);
  ts_stmt_done (db, stmt);
  return pool;
}

gboolean
ts_count_offline (sqlite3 *db, const char *pool_id, gint64 now, gint64 *out, GError **error)
{
  return ts_query_int (db, error, out, NULL,
                       "SELECT count(*) FROM offline WHERE pool_id = ? AND expires_at > ?", "si",
                       pool_id, now);
}

gboolean
ts_count_sessions (sqlite3 *db, const char *pool_id, gint64 now, gint64 *out, GError **error)
{
  return ts_query_int (db, error, out, NULL,
                       "SELECT count(*) FROM sessions WHERE pool_id = ? AND ended_at IS NULL"
                       " AND lease_expires_at > ?",
                       "si", pool_id, now);
}

/* ---- listings ---- */

GPtrArray *
ts_list_rows (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
              TsRowFunc map, GDestroyNotify free_item, GError **error, const char *sql,
              const char *types, ...)
{
  sqlite3 *db = ts_db_begin (store, FALSE, error);
  if (db == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (free_item);
  g_autoptr (TsPool) pool = NULL;
  sqlite3_stmt *stmt = NULL;
  gboolean ok = (org_id == NULL || ts_require_admin (db, actor, org_id, NULL, error))
                && (pool_id == NULL || (pool = ts_load_pool (db, org_id, pool_id, error)) != NULL);
  if (ok)
    {
      va_list ap;
      va_start (ap, types);
      stmt = ts_stmt_v (db, error, TRUE, sql, types, ap);
      va_end (ap);
      ok = stmt != NULL;
    }
  int rc = SQLITE_DONE;
  while (ok && (rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (out, map (stmt));
  ok = ok && rc == SQLITE_DONE;
  ts_stmt_done (db, stmt);
  if (!ts_db_finish (store, db, ok, error))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}

/* ---- validation ---- */

static gboolean
ts_check_chars (const char *what, const char *s, gsize min, gsize max, const char *extra,
                GError **error)
{
  gsize len = s != NULL ? strlen (s) : 0;
  gboolean ok = s != NULL && len >= min && len <= max;
  for (gsize i = 0; ok && i < len; i++)
    ok = g_ascii_isalnum (s[i]) || strchr (extra, s[i]) != NULL;
  if (!ok)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "invalid %s: %" G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT
                 " characters of A-Z, a-z, 0-9%s%s",
                 what, min, max, *extra ? " and " : "", extra);
  return ok;
}

gboolean
ts_check_product (const char *product, GError **error)
{
  return ts_check_chars ("product", product, 1, 64, "-", error);
}

gboolean
ts_check_machine_id (const char *machine_id, GError **error)
{
  return ts_check_chars ("machine_id", machine_id, 1, 64, "-", error);
}

gboolean
ts_check_org_id (const char *org_id, GError **error)
{
  return ts_check_chars ("org_id", org_id, 1, 64, "-_.", error);
}

gboolean
ts_check_id (const char *what, const char *id, GError **error)
{
  return ts_check_chars (what, id, 1, 64, "-_.", error);
}

gboolean
ts_check_email (const char *email, GError **error)
{
  gboolean ok = email != NULL && strchr (email, '@') != NULL && strlen (email) <= 254
                && g_utf8_validate (email, -1, NULL);
  for (const char *p = email; ok && *p; p++)
    ok = !g_ascii_isspace (*p) && !g_ascii_iscntrl (*p);
  if (!ok)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "invalid email: it must contain '@', no spaces, at most 254 characters");
  return ok;
}

/* ---- roles and frees ---- */

static const char *const role_names[] = { "member", "admin", "owner" };

const char *
ts_role_to_string (TsRole role)
{
  return (guint) role < G_N_ELEMENTS (role_names) ? role_names[role] : NULL;
}

gboolean
ts_role_from_string (const char *s, TsRole *role)
{
  for (guint i = 0; s != NULL && i < G_N_ELEMENTS (role_names); i++)
    if (g_str_equal (s, role_names[i]))
      {
        *role = (TsRole) i;
        return TRUE;
      }
  return FALSE;
}

void
ts_org_free (TsOrg *o)
{
  if (o == NULL)
    return;
  g_free (o->id);
  g_free (o->name);
  g_free (o);
}

void
ts_member_free (TsMember *m)
{
  if (m == NULL)
    return;
  g_free (m->user_id);
  g_free (m->email);
  g_free (m);
}

void
ts_pool_free (TsPool *p)
{
  if (p == NULL)
    return;
  g_free (p->id);
  g_free (p->org_id);
  g_free (p->product);
  g_free (p->kind);
  g_free (p->billing);
  g_free (p);
}

void
ts_session_free (TsSession *s)
{
  if (s == NULL)
    return;
  g_free (s->id);
  g_free (s->org_id);
  g_free (s->pool_id);
  g_free (s->product);
  g_free (s->kind);
  g_free (s->user_id);
  g_free (s->machine_id);
  g_free (s->nonce);
  g_free (s);
}

void
ts_machine_free (TsMachine *m)
{
  if (m == NULL)
    return;
  g_free (m->pool_id);
  g_free (m->machine_id);
  g_free (m->user_id);
  g_free (m);
}

void
ts_grant_free (TsGrant *g)
{
  if (g == NULL)
    return;
  g_free (g->user_id);
  g_free (g->email);
  g_free (g);
}

void
ts_offline_free (TsOffline *o)
{
  if (o == NULL)
    return;
  g_free (o->id);
  g_free (o->pool_id);
  g_free (o->machine_id);
  g_free (o->created_by);
  if (o->file != NULL)
    g_bytes_unref (o->file);
  g_free (o->file_name);
  g_free (o);
}

void
ts_api_key_free (TsApiKey *k)
{
  if (k == NULL)
    return;
  g_free (k->id);
  g_free (k->label);
  g_free (k->prefix);
  g_free (k);
}

void
ts_audit_free (TsAudit *a)
{
  if (a == NULL)
    return;
  g_free (a->actor);
  g_free (a->action);
  g_free (a->target);
  g_free (a->detail);
  g_free (a);
}

static gpointer
ts_audit_from_row (sqlite3_stmt *stmt)
{
  TsAudit *a = g_new0 (TsAudit, 1);
  a->at = sqlite3_column_int64 (stmt, 0);
  a->actor = ts_col_strdup (stmt, 1);
  a->action = ts_col_strdup (stmt, 2);
  a->target = ts_col_strdup (stmt, 3);
  a->detail = ts_col_strdup (stmt, 4);
  return a;
}

GPtrArray *
ts_store_list_audit (TsStore *store, const char *actor, const char *org_id, guint limit,
                     GError **error)
{
  return ts_list_rows (store, actor, org_id, NULL, ts_audit_from_row,
                       (GDestroyNotify) ts_audit_free, error,
                       "SELECT at, actor, action, target, detail FROM audit"
                       " WHERE org_id = ? ORDER BY seq DESC LIMIT ?",
                       "si", org_id, (gint64) (limit > 0 ? limit : 1000));
}
