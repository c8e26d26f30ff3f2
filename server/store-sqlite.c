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

/* ---- statements ---- */

static sqlite3_stmt *
ts_stmt_v (sqlite3 *db, GError **error, const char *sql, const char *types, va_list ap)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
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
  sqlite3_stmt *stmt = ts_stmt_v (db, error, sql, types, ap);
  va_end (ap);
  return stmt;
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
  sqlite3_stmt *stmt = ts_stmt_v (db, error, sql, types, ap);
  va_end (ap);
  if (stmt == NULL)
    return FALSE;
  int rc;
  while ((rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    ;
  sqlite3_finalize (stmt);
  if (changes != NULL)
    *changes = sqlite3_changes64 (db);
  return rc == SQLITE_DONE;
}

gboolean
ts_query_int (sqlite3 *db, GError **error, gint64 *out, gboolean *found, const char *sql,
              const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  sqlite3_stmt *stmt = ts_stmt_v (db, error, sql, types, ap);
  va_end (ap);
  if (stmt == NULL)
    return FALSE;
  int rc = ts_step (db, stmt, error);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  if (found != NULL)
    *found = rc == SQLITE_ROW;
  sqlite3_finalize (stmt);
  return rc != -1;
}

gboolean
ts_query_str (sqlite3 *db, GError **error, char **out, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  sqlite3_stmt *stmt = ts_stmt_v (db, error, sql, types, ap);
  va_end (ap);
  *out = NULL;
  if (stmt == NULL)
    return FALSE;
  int rc = ts_step (db, stmt, error);
  if (rc == SQLITE_ROW)
    *out = ts_col_strdup (stmt, 0);
  sqlite3_finalize (stmt);
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

static void
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
    sqlite3_close (db);
}

/* Writers of this process take turns on a mutex before BEGIN IMMEDIATE:
 * waiting on SQLite's busy handler instead (it sleeps and polls, up to
 * 100 ms a round) is unfair under load, and requests waited seconds while
 * others got the lock (server-bench: p99 over 1 s, single heartbeats of
 * 6.8 s at 64 clients). Other processes (tessera-admin) still meet the
 * busy handler. ts_write_held: the connection whose write transaction
 * holds it, in the thread that holds it. */
static GMutex ts_write_lock;
static GPrivate ts_write_held;

static void
ts_write_unlock (sqlite3 *db)
{
  if (g_private_get (&ts_write_held) == db)
    {
      g_private_set (&ts_write_held, NULL);
      g_mutex_unlock (&ts_write_lock);
    }
}

sqlite3 *
ts_db_begin (TsStore *store, gboolean write, GError **error)
{
  sqlite3 *db = ts_db_acquire (store, error);
  if (db == NULL)
    return NULL;
  if (write && g_private_get (&ts_write_held) == NULL)
    {
      g_mutex_lock (&ts_write_lock);
      g_private_set (&ts_write_held, db);
    }
  int rc;
  /* The busy handler waits up to its timeout; a few more rounds cover a
   * writer holding the lock longer than that under load (valgrind). */
  for (guint attempt = 0;; attempt++)
    {
      rc = sqlite3_exec (db, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);
      if ((rc & 0xff) != SQLITE_BUSY || attempt >= 20)
        break;
      g_usleep (1000 * (attempt + 1));
    }
  if (rc != SQLITE_OK)
    {
      ts_db_set_error (db, rc, error);
      ts_write_unlock (db);
      ts_db_release (store, db);
      return NULL;
    }
  return db;
}

gboolean
ts_db_finish (TsStore *store, sqlite3 *db, gboolean ok, GError **error)
{
  if (ok)
    {
      int rc;
      for (guint attempt = 0;; attempt++)
        {
          rc = sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
          if ((rc & 0xff) != SQLITE_BUSY || attempt >= 20)
            break;
          g_usleep (1000 * (attempt + 1));
        }
      if (rc != SQLITE_OK)
        {
          ts_db_set_error (db, rc, error);
          ok = FALSE;
        }
    }
  if (!ok && !sqlite3_get_autocommit (db))
    sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  ts_write_unlock (db);
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
    sqlite3_close (store->idle->pdata[i]);
  g_mutex_unlock (&store->lock);
  g_ptr_array_free (store->idle, TRUE);
  g_mutex_clear (&store->lock);
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
  sqlite3_stmt *stmt
      = ts_stmt (db, error, "SELECT " TS_POOL_COLUMNS " FROM pools WHERE id = ? AND org_id = ?",
                 "ss", pool_id, org_id);
  if (stmt == NULL)
    return NULL;
  TsPool *pool = NULL;
  int rc = ts_step (db, stmt, error);
  if (rc == SQLITE_ROW)
    pool = ts_pool_from_row (stmt);
  else if (rc == SQLITE_DONE)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "organization %s has no pool %s",
                 org_id, pool_id);
  sqlite3_finalize (stmt);
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

GPtrArray *
ts_store_list_audit (TsStore *store, const char *actor, const char *org_id, guint limit,
                     GError **error)
{
  sqlite3 *db = ts_db_begin (store, FALSE, error);
  if (db == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_audit_free);
  sqlite3_stmt *stmt = NULL;
  gboolean ok = ts_require_admin (db, actor, org_id, NULL, error)
                && (stmt = ts_stmt (db, error,
                                    "SELECT at, actor, action, target, detail FROM audit"
                                    " WHERE org_id = ? ORDER BY seq DESC LIMIT ?",
                                    "si", org_id, (gint64) (limit > 0 ? limit : 1000)))
                       != NULL;
  int rc = SQLITE_DONE;
  while (ok && (rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    {
      TsAudit *a = g_new0 (TsAudit, 1);
      a->at = sqlite3_column_int64 (stmt, 0);
      a->actor = ts_col_strdup (stmt, 1);
      a->action = ts_col_strdup (stmt, 2);
      a->target = ts_col_strdup (stmt, 3);
      a->detail = ts_col_strdup (stmt, 4);
      g_ptr_array_add (out, a);
    }
  if (ok && rc != SQLITE_DONE)
    ok = FALSE;
  sqlite3_finalize (stmt);
  if (!ts_db_finish (store, db, ok, error))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}
