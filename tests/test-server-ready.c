/* tessera-server's liveness and readiness (issue 19): /api/v1/health never
 * touches the database; /api/v1/ready answers 503 with a reason while the
 * database cannot be written and 200 again once it can. SQLite: a real
 * full disk (a small tmpfs in a mount namespace of this test); PostgreSQL:
 * the database made read-only, then closed to connections. */
#include "server-test-fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/* The status of GET /api/v1/@path; *reason (nullable) gets the 503's reason. */
static guint
probe (Fixture *f, const char *path, char **reason)
{
  Resp r = call (f, "GET", path, NULL, NULL);
  guint status = r.status;
  JsonObject *o = obj (&r);
  if (status == 200)
    g_assert_cmpstr (json_object_get_string_member (o, "status"), ==,
                     g_str_equal (path, "/ready") ? "ready" : "ok");
  else
    {
      g_assert_cmpuint (status, ==, 503);
      g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "unavailable");
      const char *why = json_object_get_string_member (o, "reason");
      /* Unauthenticated callers learn what to do, not where the database is. */
      g_assert_null (strstr (why, "postgresql://"));
      g_assert_null (strstr (why, f->dir));
      if (reason != NULL)
        *reason = g_strdup (why);
    }
  resp_clear (&r);
  return status;
}

/* Probes ready until it answers @want (a pooled connection may first
 * report the connection it lost); every answer is 200 or 503 and health
 * stays 200. Returns the last 503's reason (or NULL). */
static char *
ready_until (Fixture *f, guint want)
{
  char *reason = NULL;
  for (guint i = 0; i < 200; i++)
    {
      g_assert_cmpuint (probe (f, "/health", NULL), ==, 200);
      g_clear_pointer (&reason, g_free);
      if (probe (f, "/ready", &reason) == want)
        return reason;
      g_usleep (50 * 1000);
    }
  g_error ("ready never answered %u (last reason: %s)", want, reason);
  return NULL;
}

/* The administrator's side: the engine's own message, in the log. */
static void
assert_logged (Fixture *f, const char *what)
{
  g_autofree char *log = NULL;
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  const char *line = strstr (log, "not ready: ");
  while (line != NULL && strstr (line, what) == NULL)
    line = strstr (line + 1, "not ready: ");
  if (line == NULL)
    g_error ("no 'not ready: …%s' in the log:\n%s", what, log);
}

/* ---- SQLite: a full disk ---- */

static void
fill_disk (const char *path)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  char block[4096];
  memset (block, 0xa5, sizeof block);
  for (;;)
    {
      ssize_t n = write (fd, block, sizeof block);
      if (n < 0)
        {
          g_assert_cmpint (errno, ==, ENOSPC);
          break;
        }
    }
  close (fd);
}

static void
test_ready_sqlite (Fixture *f)
{
  /* A mount namespace of this process (and the server it spawns), so the
   * small file system is nobody else's and goes with the test. */
  if (unshare (CLONE_NEWNS) != 0 || mount ("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
    {
      g_test_skip ("needs a mount namespace (root or CAP_SYS_ADMIN)");
      return;
    }
  g_autofree char *disk = g_build_filename (f->dir, "disk", NULL);
  g_assert_cmpint (g_mkdir (disk, 0700), ==, 0);
  g_assert_cmpint (mount ("tmpfs", disk, "tmpfs", 0, "size=2m,mode=0700"), ==, 0);
  g_autofree char *db = g_build_filename (disk, "store.db", NULL);
  g_autofree char *filler = g_build_filename (disk, "filler", NULL);

  /* The bootstrapped database, copied onto the small file system. */
  sqlite3 *src = NULL;
  g_assert_cmpint (sqlite3_open_v2 (f->db, &src, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_autofree char *sql = g_strdup_printf ("VACUUM INTO '%s'", db);
  g_assert_cmpint (sqlite3_exec (src, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (src);

  f->proc = server_util_spawn (db, f->keys, f->log, NULL, FALSE, &f->url);
  g_assert_cmpuint (probe (f, "/health", NULL), ==, 200);
  g_assert_cmpuint (probe (f, "/ready", NULL), ==, 200);

  fill_disk (filler);
  g_autofree char *reason = ready_until (f, 503);
  g_test_message ("full disk: %s", reason);
  g_assert_cmpstr (reason, ==, "the disk holding the database is full: free space on it");
  /* Still full: still not ready, and still alive. */
  g_assert_cmpuint (probe (f, "/ready", NULL), ==, 503);
  g_assert_cmpuint (probe (f, "/health", NULL), ==, 200);

  g_assert_cmpint (g_unlink (filler), ==, 0);
  g_free (ready_until (f, 200));

  server_stop (f);
  assert_logged (f, "database or disk is full");
  g_assert_cmpint (umount2 (disk, MNT_DETACH), ==, 0);
}

/* ---- PostgreSQL: read-only, then closed ---- */

/* Runs ALTER DATABASE (the test's) @change as the superuser, from another
 * database, and ends the server's connections so that its new
 * ones see the change. */
static void
pg_admin (Fixture *f, const char *change)
{
  g_autofree char *name = test_pg_db_of (f->db);
  g_autofree char *url = test_pg_url_with_db (g_getenv ("TESSERA_TEST_POSTGRES"), "postgres");
  PGconn *conn = test_pg_connect (url);
  g_autofree char *sql = g_strdup_printf ("ALTER DATABASE %s %s", name, change);
  PQclear (test_pg_run (conn, sql));
  g_autofree char *kill = g_strdup_printf (
      "SELECT pg_terminate_backend (pid) FROM pg_stat_activity WHERE datname = '%s'", name);
  PQclear (test_pg_run (conn, kill));
  PQfinish (conn);
}

static void
test_ready_postgresql (Fixture *f)
{
  server_start (f, NULL);
  g_assert_cmpuint (probe (f, "/health", NULL), ==, 200);
  g_assert_cmpuint (probe (f, "/ready", NULL), ==, 200);

  pg_admin (f, "SET default_transaction_read_only = on");
  char *reason = NULL;
  for (guint i = 0; i < 200 && (reason == NULL || strstr (reason, "read-only") == NULL); i++)
    {
      g_free (reason);
      reason = ready_until (f, 503);
    }
  g_test_message ("read-only: %s", reason);
  g_assert_cmpstr (reason, ==, "the database is read-only: make it writable again");
  g_free (reason);

  pg_admin (f, "RESET default_transaction_read_only");
  g_free (ready_until (f, 200));

  /* PostgreSQL out of reach for this database: no connection at all. */
  pg_admin (f, "ALLOW_CONNECTIONS false");
  reason = ready_until (f, 503);
  g_test_message ("no connection: %s", reason);
  g_assert_cmpstr (reason, ==, "PostgreSQL cannot be reached: start it or check the network");
  g_free (reason);
  pg_admin (f, "ALLOW_CONNECTIONS true");
  g_free (ready_until (f, 200));
  server_stop (f);
  assert_logged (f, "cannot execute INSERT in a read-only transaction");
  assert_logged (f, "is not currently accepting connections");
}

static void
test_ready (Fixture *f, gconstpointer data)
{
  if (test_store_postgresql ())
    test_ready_postgresql (f);
  else
    test_ready_sqlite (f);
}

/* Ready needs no credentials, and is read with GET only. */
static void
test_ready_open (Fixture *f, gconstpointer data)
{
  g_assert_cmpuint (probe (f, "/ready", NULL), ==, 200);
  Resp r = call (f, "POST", "/ready", NULL, "{}");
  g_assert_cmpuint (r.status, ==, 405);
  resp_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("ready/database", test_ready, NO_SERVER);
  ADD ("ready/open", test_ready_open, NULL);
  return g_test_run ();
}
