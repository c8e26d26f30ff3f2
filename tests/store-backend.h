/* The database a store test runs on: SQLite (a file in the test's temporary
 * directory) by default, PostgreSQL when TESSERA_TEST_POSTGRES holds a
 * server URL (tests/with-postgres.sh starts one and sets it). With
 * PostgreSQL each location is a fresh database (CREATE DATABASE t_<random>),
 * dropped again by test_store_location_free(), so tests stay independent as
 * they are with a file per test.
 *
 * Also what a test needs to look into the database behind the store's back,
 * the same on both backends: one integer (test_store_count), a statement
 * (test_store_exec), a read-only database (test_store_make_read_only) and a
 * raw connection for the deliberately wrong count-then-insert of the
 * concurrency control (test_db_*). SQL given here must be valid on both. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <string.h>

static inline gboolean
test_store_postgresql (void)
{
  const char *url = g_getenv ("TESSERA_TEST_POSTGRES");
  return url != NULL && *url != '\0';
}

static inline gboolean
test_store_is_url (const char *location)
{
  return g_str_has_prefix (location, "postgresql://") || g_str_has_prefix (location, "postgres://");
}

/* A connection to @url, or a failed assertion saying why. */
static inline PGconn *
test_pg_connect (const char *url)
{
  PGconn *conn = PQconnectdb (url);
  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("cannot connect to %s: %s", url, PQerrorMessage (conn));
  return conn;
}

/* Runs @sql (no parameters) on @conn; returns the result, asserting success. */
static inline PGresult *
test_pg_run (PGconn *conn, const char *sql)
{
  PGresult *res = PQexecParams (conn, sql, 0, NULL, NULL, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus (res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    g_error ("%s: %s", sql, PQresultErrorMessage (res));
  return res;
}

/* @url with its database name replaced by @dbname. */
static inline char *
test_pg_url_with_db (const char *url, const char *dbname)
{
  const char *host = strstr (url, "://");
  g_assert_nonnull (host);
  const char *slash = strchr (host + 3, '/');
  const char *query = strchr (host + 3, '?');
  gsize base = slash != NULL   ? (gsize) (slash - url)
               : query != NULL ? (gsize) (query - url)
                               : strlen (url);
  return g_strdup_printf ("%.*s/%s%s", (int) base, url, dbname, query != NULL ? query : "");
}

/* The database name of a location made by test_store_location(). */
static inline char *
test_pg_db_of (const char *location)
{
  const char *host = strstr (location, "://");
  const char *slash = host != NULL ? strchr (host + 3, '/') : NULL;
  g_assert_nonnull (slash);
  const char *end = strchr (slash, '?');
  return end != NULL ? g_strndup (slash + 1, end - slash - 1) : g_strdup (slash + 1);
}

/* A location for a new, empty store (transfer full: free it with
 * test_store_location_free()). @dir: the test's temporary directory. */
static inline char *
test_store_location (const char *dir)
{
  if (!test_store_postgresql ())
    return g_build_filename (dir, "store.db", NULL);
  const char *url = g_getenv ("TESSERA_TEST_POSTGRES");
  /* A name only of [a-z0-9_], so it needs no quoting in the statements
   * below (identifiers cannot be parameters). */
  char name[32];
  g_snprintf (name, sizeof name, "t_%08x%08x", g_random_int (), g_random_int ());
  PGconn *conn = test_pg_connect (url);
  g_autofree char *sql = g_strdup_printf ("CREATE DATABASE %s", name);
  PQclear (test_pg_run (conn, sql));
  PQfinish (conn);
  return test_pg_url_with_db (url, name);
}

static inline void
test_store_location_free (char *location)
{
  if (location == NULL)
    return;
  if (test_store_is_url (location))
    {
      g_autofree char *name = test_pg_db_of (location);
      g_assert_true (g_str_has_prefix (name, "t_"));
      PGconn *conn = test_pg_connect (g_getenv ("TESSERA_TEST_POSTGRES"));
      /* WITH (FORCE): a test that failed may have left connections open. */
      g_autofree char *sql = g_strdup_printf ("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
      PQclear (test_pg_run (conn, sql));
      PQfinish (conn);
    }
  g_free (location);
}

/* The first column of the one row @sql returns, as an integer (NULL: 0). */
static inline gint64
test_store_count (const char *location, const char *sql)
{
  gint64 n = 0;
  if (test_store_is_url (location))
    {
      PGconn *conn = test_pg_connect (location);
      PGresult *res = test_pg_run (conn, sql);
      g_assert_cmpint (PQntuples (res), ==, 1);
      n = PQgetisnull (res, 0, 0) ? 0 : g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);
      PQclear (res);
      PQfinish (conn);
      return n;
    }
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open_v2 (location, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 10000);
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  n = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return n;
}

/* Runs @sql (no parameters) on the database at @location, expecting the
 * database to refuse it: its message (transfer full), or NULL if it ran. */
static inline char *
test_store_exec_refused (const char *location, const char *sql)
{
  char *refused = NULL;
  if (test_store_is_url (location))
    {
      PGconn *conn = test_pg_connect (location);
      PGresult *res = PQexec (conn, sql);
      ExecStatusType st = PQresultStatus (res);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        refused = g_strdup (PQresultErrorMessage (res));
      PQclear (res);
      PQfinish (conn);
      return refused;
    }
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (location, &db), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 10000);
  char *msg = NULL;
  if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
    refused = g_strdup (msg != NULL ? msg : "refused");
  sqlite3_free (msg);
  sqlite3_close (db);
  return refused;
}

/* Runs @sql (no parameters) on the database at @location. */
static inline void
test_store_exec (const char *location, const char *sql)
{
  g_autofree char *refused = test_store_exec_refused (location, sql);
  if (refused != NULL)
    g_error ("%s: %s", sql, refused);
}

/* Makes the (closed) store at @location read-only for whoever opens it
 * next, and returns its location then (transfer full; @location is freed).
 * SQLite: the file moves into @dir/ro/ (a directory anyone may write, for
 * -wal and -shm) and loses its write permission. PostgreSQL: the database
 * defaults to read-only transactions, as on a hot standby. */
static inline char *
test_store_make_read_only (char *location, const char *dir)
{
  if (test_store_is_url (location))
    {
      g_autofree char *name = test_pg_db_of (location);
      PGconn *conn = test_pg_connect (g_getenv ("TESSERA_TEST_POSTGRES"));
      g_autofree char *sql
          = g_strdup_printf ("ALTER DATABASE %s SET default_transaction_read_only = on", name);
      PQclear (test_pg_run (conn, sql));
      PQfinish (conn);
      return location;
    }
  g_autofree char *sub = g_build_filename (dir, "ro", NULL);
  g_assert_cmpint (g_mkdir (sub, 0777), ==, 0);
  g_assert_cmpint (g_chmod (sub, 0777), ==, 0);
  char *path = g_build_filename (sub, "store.db", NULL);
  g_assert_cmpint (g_rename (location, path), ==, 0);
  g_free (location);
  g_assert_cmpint (g_chmod (path, 0444), ==, 0);
  return path;
}

/* Undoes test_store_make_read_only() (the store is closed again). */
static inline void
test_store_make_writable (const char *location)
{
  if (test_store_is_url (location))
    {
      g_autofree char *name = test_pg_db_of (location);
      PGconn *conn = test_pg_connect (g_getenv ("TESSERA_TEST_POSTGRES"));
      g_autofree char *sql
          = g_strdup_printf ("ALTER DATABASE %s RESET default_transaction_read_only", name);
      PQclear (test_pg_run (conn, sql));
      PQfinish (conn);
      return;
    }
  g_assert_cmpint (g_chmod (location, 0644), ==, 0);
}

/* ---- a raw connection: the naive count-then-insert control ---- */

typedef struct
{
  PGconn *pg;
  sqlite3 *lite;
} TestDb;

static inline TestDb *
test_db_open (const char *location)
{
  TestDb *db = g_new0 (TestDb, 1);
  if (test_store_is_url (location))
    db->pg = test_pg_connect (location);
  else
    {
      g_assert_cmpint (sqlite3_open (location, &db->lite), ==, SQLITE_OK);
      sqlite3_busy_timeout (db->lite, 30000);
    }
  return db;
}

static inline void
test_db_close (TestDb *db)
{
  if (db->pg != NULL)
    PQfinish (db->pg);
  if (db->lite != NULL)
    sqlite3_close (db->lite);
  g_free (db);
}

/* A mark that moves whenever anyone else commits a write to the database
 * (SQLite: PRAGMA data_version of this connection; PostgreSQL: the next
 * transaction id, which only a writing transaction takes). */
static inline gint64
test_db_write_mark (TestDb *db)
{
  gint64 mark = 0;
  if (db->pg != NULL)
    {
      PGresult *res
          = test_pg_run (db->pg, "SELECT pg_snapshot_xmax (pg_current_snapshot ())::text");
      mark = g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);
      PQclear (res);
      return mark;
    }
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint (sqlite3_prepare_v2 (db->lite, "PRAGMA data_version", -1, &stmt, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  mark = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return mark;
}

/* Active sessions of @pool_id, counted in a transaction of its own (SQLite:
 * deferred; PostgreSQL: READ COMMITTED) that ends before the caller acts on
 * the count, which is the mistake the control makes on purpose. */
static inline gint64
test_db_count_active (TestDb *db, const char *pool_id, gint64 now)
{
  const char *sql = "SELECT count(*) FROM sessions WHERE pool_id = ?"
                    " AND ended_at IS NULL AND lease_expires_at > ?";
  gint64 n = 0;
  if (db->pg != NULL)
    {
      char now_s[32];
      g_snprintf (now_s, sizeof now_s, "%" G_GINT64_FORMAT, now);
      const char *values[] = { pool_id, now_s };
      PQclear (test_pg_run (db->pg, "BEGIN"));
      PGresult *res = PQexecParams (db->pg,
                                    "SELECT count(*) FROM sessions WHERE pool_id = $1"
                                    " AND ended_at IS NULL AND lease_expires_at > $2::bigint",
                                    2, NULL, values, NULL, NULL, 0);
      g_assert_cmpint (PQresultStatus (res), ==, PGRES_TUPLES_OK);
      n = g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);
      PQclear (res);
      PQclear (test_pg_run (db->pg, "COMMIT"));
      return n;
    }
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint (sqlite3_exec (db->lite, "BEGIN", NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db->lite, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, pool_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, now);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  n = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  g_assert_cmpint (sqlite3_exec (db->lite, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
  return n;
}

/* Inserts a session row directly, in a transaction of its own. */
static inline void
test_db_insert_session (TestDb *db, const char *id, const char *pool_id, const char *user_id,
                        const char *machine_id, const char *nonce, gint64 now, gint64 expires)
{
  if (db->pg != NULL)
    {
      char now_s[32], exp_s[32];
      g_snprintf (now_s, sizeof now_s, "%" G_GINT64_FORMAT, now);
      g_snprintf (exp_s, sizeof exp_s, "%" G_GINT64_FORMAT, expires);
      const char *values[] = { id, pool_id, user_id, machine_id, nonce, now_s, now_s, exp_s };
      PGresult *res = PQexecParams (db->pg,
                                    "INSERT INTO sessions (id, pool_id, user_id, machine_id,"
                                    " nonce, started_at, last_heartbeat, lease_expires_at)"
                                    " VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::bigint,"
                                    " $8::bigint)",
                                    8, NULL, values, NULL, NULL, 0);
      if (PQresultStatus (res) != PGRES_COMMAND_OK)
        g_error ("insert: %s", PQresultErrorMessage (res));
      PQclear (res);
      return;
    }
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint (sqlite3_exec (db->lite, "BEGIN", NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db->lite,
                                       "INSERT INTO sessions (id, pool_id, user_id,"
                                       " machine_id, nonce, started_at, last_heartbeat,"
                                       " lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                       -1, &stmt, NULL),
                   ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, pool_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, user_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, machine_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, nonce, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, now);
  sqlite3_bind_int64 (stmt, 7, now);
  sqlite3_bind_int64 (stmt, 8, expires);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_BUSY)
    g_usleep (1000);
  g_assert_cmpint (rc, ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
  while ((rc = sqlite3_exec (db->lite, "COMMIT", NULL, NULL, NULL)) == SQLITE_BUSY)
    g_usleep (1000);
  g_assert_cmpint (rc, ==, SQLITE_OK);
}
