/* tessera-store on SQLite: the schema and its migrations, connections, and
 * transactions (group commit of writes, the quota cache).
 * Statements are in store-sqlite-stmt.c; the store's operations are
 * written once over db.h (db-sqlite.c is this engine's side of it). */
#include "metrics.h"
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
  /* 4: an invitation carries its role and makes the member only once
   * accepted (store-web.c). An earlier one already made its member: its
   * role is that membership's, and one whose member has left since is
   * withdrawn (NULL). */
  "ALTER TABLE web_invites ADD COLUMN role INTEGER;"
  "UPDATE web_invites SET role = (SELECT m.role FROM members m"
  "  WHERE m.org_id = web_invites.org_id AND m.user_id = web_invites.user_id);",
  /* 5: fingerprint tolerance online: a pool's match policy, and the
   * (scoped) component digests a machine was last seen with, NULL for a
   * client that sends none (docs/fingerprint.md, "Online") */
  "ALTER TABLE pools ADD COLUMN match_policy TEXT NOT NULL DEFAULT 'all-but-one';"
  "ALTER TABLE machines ADD COLUMN components TEXT;",
  /* 6: what the client said its host name and operating system are, as
   * sent on activation (docs/protocol.md, "Client information"): shown to
   * administrators, never trusted, NULL for a client that sends none */
  "ALTER TABLE sessions ADD COLUMN hostname TEXT;"
  "ALTER TABLE sessions ADD COLUMN os TEXT;"
  "ALTER TABLE machines ADD COLUMN hostname TEXT;"
  "ALTER TABLE machines ADD COLUMN os TEXT;",
  /* 7: usage history (store-usage.c): per pool and hour, counters added up
   * by every instance, and the users and machines seen (distinct by key);
   * sessions by end, for the sweep that finds the peaks */
  "CREATE TABLE usage_hours (pool_id TEXT NOT NULL REFERENCES pools (id),"
  "  hour INTEGER NOT NULL, peak INTEGER NOT NULL DEFAULT 0, quota INTEGER NOT NULL DEFAULT 0,"
  "  activations INTEGER NOT NULL DEFAULT 0, refused_quota INTEGER NOT NULL DEFAULT 0,"
  "  refused_machines INTEGER NOT NULL DEFAULT 0, refused_expired INTEGER NOT NULL DEFAULT 0,"
  "  PRIMARY KEY (pool_id, hour));"
  "CREATE INDEX usage_hours_hour ON usage_hours (hour);"
  "CREATE TABLE usage_seen (pool_id TEXT NOT NULL REFERENCES pools (id), hour INTEGER NOT NULL,"
  "  kind TEXT NOT NULL CHECK (kind IN ('u', 'm')), id TEXT NOT NULL,"
  "  PRIMARY KEY (pool_id, hour, kind, id));"
  "CREATE INDEX usage_seen_hour ON usage_seen (hour);"
  "CREATE INDEX sessions_ended ON sessions (ended_at);",
  /* 8: PostgreSQL's migration 8 takes the lease out of the sessions'
   * indexes so that its heartbeats update rows in place. SQLite has no
   * such updates, and its seat counts read sessions_active alone (a
   * covering index): nothing changes here; the number keeps both schemas'
   * versions in step. */
  "SELECT 1;",
  /* 9: sessions over a lowered quota end now (store-common.h) */
  TS_MIGRATION_OVER_QUOTA ("CAST (strftime ('%s', 'now') AS INTEGER)"),
  /* 10: PostgreSQL's seat bound in the pool row (store-common.h). SQLite
   * keeps its own in memory: the columns stay unused. */
  "ALTER TABLE pools ADD COLUMN seat_bound INTEGER;"
  "ALTER TABLE pools ADD COLUMN seat_epoch INTEGER NOT NULL DEFAULT 0;",
  /* 11: pools and users are never deleted. PostgreSQL's migration 11
   * takes the foreign keys of sessions and machines away (a query per
   * inserted row there) and refuses these deletes instead; SQLite keeps
   * its keys (a look-up in the parent's B-tree within the insert) and
   * refuses the same deletes, so both engines answer alike. */
  "CREATE TRIGGER IF NOT EXISTS pools_kept BEFORE DELETE ON pools BEGIN"
  " SELECT RAISE (ABORT, 'pools are never deleted: sessions and machines name them'); END;"
  "CREATE TRIGGER IF NOT EXISTS users_kept BEFORE DELETE ON users BEGIN"
  " SELECT RAISE (ABORT, 'users are never deleted: sessions and machines name them'); END;",
};

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
  ts_stmt_cache_add (db);
  return db;
}

sqlite3 *
ts_db_acquire (TsSqliteStore *store, GError **error)
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
ts_db_release (TsSqliteStore *store, sqlite3 *db)
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
ts_batch_end (TsSqliteStore *store, GError *error)
{
  TsBatch *batch = store->batch;
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
ts_batch_lost (TsSqliteStore *store)
{
  GError *error = NULL;
  g_set_error (&error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
               "the license database cannot be used: %s (nothing was changed)",
               sqlite3_errmsg (store->writer));
  ts_batch_end (store, error);
}

static void
ts_batch_commit (TsSqliteStore *store)
{
  sqlite3 *db = store->writer;
  GError *error = NULL;
  gint64 start = g_get_monotonic_time ();
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
  if (error == NULL)
    ts_metrics_commit (g_get_monotonic_time () - start);
  ts_batch_end (store, error);
}

static sqlite3 *
ts_db_begin_write (TsSqliteStore *store, gboolean durable, GError **error)
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

/* ---- bounds on the seats of pools (see store-private.h) ---- */

static gboolean
ts_seat_cache_valid (TsSqliteStore *store, sqlite3 *db)
{
  if (db != store->writer || g_private_get (&ts_write_held) == NULL)
    return FALSE;
  if (store->seat_bound == NULL)
    store->seat_bound = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
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
      g_hash_table_remove_all (store->seat_bound);
      store->data_version = version;
    }
  return TRUE;
}

gboolean
ts_seats_bound (TsSqliteStore *store, sqlite3 *db, const char *pool_id, gint64 *bound)
{
  const gint64 *v
      = ts_seat_cache_valid (store, db) ? g_hash_table_lookup (store->seat_bound, pool_id) : NULL;
  if (v != NULL)
    *bound = *v;
  return v != NULL;
}

void
ts_seats_set_bound (TsSqliteStore *store, sqlite3 *db, const char *pool_id, gint64 bound)
{
  if (ts_seat_cache_valid (store, db))
    g_hash_table_insert (store->seat_bound, g_strdup (pool_id), g_memdup2 (&bound, sizeof bound));
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
ts_db_begin_lease (TsSqliteStore *store, GError **error)
{
  return ts_db_begin_write (store, FALSE, error);
}

void
ts_db_mark_durable (TsSqliteStore *store, sqlite3 *db)
{
  if (db == store->writer && g_private_get (&ts_write_held) != NULL)
    store->batch_durable = TRUE;
}

static gboolean
ts_db_finish_write (TsSqliteStore *store, gboolean ok, GError **error)
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
ts_db_begin (TsSqliteStore *store, gboolean write, GError **error)
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
ts_db_finish (TsSqliteStore *store, sqlite3 *db, gboolean ok, GError **error)
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
ts_sqlite_migrate (TsSqliteStore *store, GError **error)
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

TsSqliteStore *
ts_sqlite_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  if (sodium_init () < 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "libsodium cannot be initialized");
      return NULL;
    }
  TsSqliteStore *store = g_new0 (TsSqliteStore, 1);
  store->path = g_strdup (path);
  g_mutex_init (&store->lock);
  store->idle = g_ptr_array_new ();
  g_mutex_init (&store->write_lock);
  g_mutex_init (&store->commit_lock);
  g_cond_init (&store->committed);
  g_mutex_init (&store->lease_lock);
  g_cond_init (&store->lease_cond);
  g_queue_init (&store->lease_pending);
  if (!ts_sqlite_migrate (store, error))
    {
      g_prefix_error (error, "%s: ", path);
      ts_sqlite_close (store);
      return NULL;
    }
  return store;
}

void
ts_sqlite_close (TsSqliteStore *store)
{
  if (store == NULL)
    return;
  /* Its last heartbeats are committed and answered first. */
  ts_lease_writer_stop (store);
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
