/* tessera-server under systemd (issue 19): when its stderr is the journal's
 * stream (a socket connected to /run/systemd/journal/stdout, as systemd
 * makes it; JOURNAL_STREAM set too), each line
 * goes to journald itself as fields, its level as the syslog PRIORITY, and
 * nothing is written to the stream. journald is played by this test: a
 * datagram socket at /run/systemd/journal/socket, on a tmpfs over /run in a
 * mount namespace of the test's own, so a host's journal sees nothing. */
#include "server-test-fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* The fields of one entry, as GLib sends them: KEY=VALUE lines, or KEY,
 * newline, a 64-bit little-endian length and the value, for a value with a
 * newline in it. */
static GHashTable *
parse_entry (const char *buf, gsize len)
{
  GHashTable *fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const char *p = buf, *end = buf + len;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      g_assert_nonnull (nl);
      const char *eq = memchr (p, '=', (gsize) (nl - p));
      if (eq != NULL)
        {
          g_hash_table_replace (fields, g_strndup (p, (gsize) (eq - p)),
                                g_strndup (eq + 1, (gsize) (nl - eq - 1)));
          p = nl + 1;
          continue;
        }
      guint64 n = 0;
      g_assert_cmpint (end - (nl + 1), >=, 8);
      for (int i = 7; i >= 0; i--)
        n = (n << 8) | (guchar) nl[1 + i];
      const char *value = nl + 9;
      g_assert_cmpuint (n, <=, (guint64) (end - value - 1));
      g_hash_table_replace (fields, g_strndup (p, (gsize) (nl - p)), g_strndup (value, n));
      p = value + n + 1;
    }
  return fields;
}

/* Entries received until one has @key=@value (or the server's log never
 * says so: a generous bound on waiting, not a duration asserted). */
static GHashTable *
wait_entry (int journal, GPtrArray *seen, const char *key, const char *value)
{
  char buf[65536];
  for (guint i = 0; i < 600; i++)
    {
      ssize_t n = recv (journal, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0)
        {
          g_assert_cmpint (errno, ==, EAGAIN);
          g_usleep (50 * 1000);
          continue;
        }
      GHashTable *e = parse_entry (buf, (gsize) n);
      g_ptr_array_add (seen, e);
      if (g_strcmp0 (g_hash_table_lookup (e, key), value) == 0)
        return e;
    }
  g_error ("no journal entry with %s=%s (%u others)", key, value, seen->len);
  return NULL;
}

static void
test_journal (Fixture *f, gconstpointer data)
{
  (void) data;
  if (unshare (CLONE_NEWNS) != 0 || mount ("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
    {
      g_test_skip ("needs a mount namespace (root or CAP_SYS_ADMIN)");
      return;
    }
  g_assert_cmpint (mount ("tmpfs", "/run", "tmpfs", 0, "size=1m,mode=0755"), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents ("/run/systemd/journal", 0755), ==, 0);
  int journal = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (journal, >=, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_strlcpy (addr.sun_path, JOURNAL_SOCKET, sizeof addr.sun_path);
  g_assert_cmpint (bind (journal, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  /* systemd connects a unit's stderr to journald's stream socket; GLib
   * knows it by the peer's name (g_log_writer_is_journald()). */
  int listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_strlcpy (addr.sun_path, "/run/systemd/journal/stdout", sizeof addr.sun_path);
  g_assert_cmpint (bind (listener, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (listener, 1), ==, 0);
  int stream[2];
  stream[1] = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (connect (stream[1], (struct sockaddr *) &addr, sizeof addr), ==, 0);
  stream[0] = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (stream[0], >=, 0);
  close (listener);
  struct stat st;
  g_assert_cmpint (fstat (stream[1], &st), ==, 0);
  g_autofree char *journal_stream
      = g_strdup_printf ("%lu:%lu", (unsigned long) st.st_dev, (unsigned long) st.st_ino);

  /* A refused write, for an error line (a 500) and a warning (not ready). */
  TestDb *db = test_db_open (f->db);
  if (db->pg != NULL)
    {
      PQclear (test_pg_run (db->pg, "CREATE FUNCTION boom () RETURNS trigger LANGUAGE plpgsql"
                                    " AS $$BEGIN RAISE EXCEPTION 'injected'; END$$"));
      PQclear (test_pg_run (db->pg, "CREATE TRIGGER boom BEFORE INSERT ON sessions"
                                    " FOR EACH ROW EXECUTE FUNCTION boom ()"));
      PQclear (test_pg_run (db->pg, "CREATE TRIGGER boom BEFORE INSERT ON schema_version"
                                    " FOR EACH ROW EXECUTE FUNCTION boom ()"));
    }
  else
    g_assert_cmpint (sqlite3_exec (db->lite,
                                   "CREATE TRIGGER boom BEFORE INSERT ON sessions"
                                   " BEGIN SELECT RAISE (ABORT, 'injected'); END;"
                                   "CREATE TRIGGER boom2 BEFORE INSERT ON schema_version"
                                   " BEGIN SELECT RAISE (ABORT, 'injected'); END",
                                   NULL, NULL, NULL),
                     ==, SQLITE_OK);
  test_db_close (db);

  /* Started as server_util_spawn() does, but with the stream as stderr. */
  GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_take_stderr_fd (l, stream[1]);
  g_subprocess_launcher_setenv (l, "JOURNAL_STREAM", journal_stream, TRUE);
  g_subprocess_launcher_set_child_setup (l, server_util_die_with_parent, NULL, NULL);
  g_autofree char *kek = NULL;
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) g_getenv ("TESSERA_SERVER"));
  g_ptr_array_add (argv, "--database");
  g_ptr_array_add (argv, f->db);
  if (test_store_postgresql ())
    {
      kek = server_util_kek_path (f->keys);
      g_ptr_array_add (argv, "--key-encryption-key");
      g_ptr_array_add (argv, kek);
    }
  else
    {
      g_ptr_array_add (argv, "--key-dir");
      g_ptr_array_add (argv, f->keys);
    }
  g_ptr_array_add (argv, "--listen");
  g_ptr_array_add (argv, "127.0.0.1:0");
  g_ptr_array_add (argv, NULL);
  GError *error = NULL;
  f->proc = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_object_unref (l);
  g_ptr_array_free (argv, TRUE);
  GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (f->proc));
  char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (line, "listening on http"));
  f->url = g_strdup (line + strlen ("listening on "));
  g_free (line);
  g_object_unref (in);

  g_autoptr (GPtrArray) seen = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);
  Resp r = call (f, "GET", "/me", f->member_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  GHashTable *e = wait_entry (journal, seen, "HTTP_PATH", "/api/v1/me");
  g_assert_cmpstr (g_hash_table_lookup (e, "PRIORITY"), ==, "6");
  g_assert_cmpstr (g_hash_table_lookup (e, "HTTP_STATUS"), ==, "200");
  g_assert_cmpstr (g_hash_table_lookup (e, "SYSLOG_IDENTIFIER"), ==, "tessera-server");
  g_assert_nonnull (g_hash_table_lookup (e, "REQUEST_ID"));
  g_assert_nonnull (g_hash_table_lookup (e, "MESSAGE"));

  r = call (f, "POST", "/activate", f->member_key,
            "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\"}");
  g_assert_cmpuint (r.status, ==, 500);
  resp_clear (&r);
  e = wait_entry (journal, seen, "HTTP_STATUS", "500");
  g_assert_cmpstr (g_hash_table_lookup (e, "PRIORITY"), ==, "3");

  r = call (f, "GET", "/ready", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 503);
  resp_clear (&r);
  e = wait_entry (journal, seen, "PRIORITY", "4");
  g_assert_nonnull (strstr (g_hash_table_lookup (e, "MESSAGE"), "not ready: "));

  /* No API key in any field of any entry. */
  for (guint i = 0; i < seen->len; i++)
    {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init (&it, seen->pdata[i]);
      while (g_hash_table_iter_next (&it, &k, &v))
        {
          g_assert_null (strstr (v, f->member_key));
          g_assert_null (strstr (v, "tsk_"));
        }
    }

  /* Nothing went to the stream itself. */
  server_stop (f);
  char buf[4096];
  ssize_t n = recv (stream[0], buf, sizeof buf - 1, MSG_DONTWAIT);
  if (n > 0)
    {
      buf[n] = '\0';
      g_error ("written to stderr under journald: %s", buf);
    }
  close (stream[0]);
  close (journal);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("journal", test_journal, NO_SERVER);
  return g_test_run ();
}
