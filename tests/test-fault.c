/* Fault injection against the real tessera-server: its database on a full
 * filesystem, fsync failing with EIO (strace's fault injection), and SIGKILL
 * at random moments under load. Whatever happens, a seat the server granted
 * (200) is recorded, no quota goes over its limit, and the server answers a
 * clear 503 while it cannot write, never another 5xx or a crash. */
#include "answer-payload.h"
#include "server-util.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sys/mount.h>
#include <unistd.h>

#define MACHINE "FAUL-TINJ-ECT0-0001"

typedef struct
{
  char *dir;
  char *fs; /* a small tmpfs when the test needs a full disk, else NULL */
  char *db;
  char *keys;
  char *log;
  char *key; /* the member's API key */
  char *pool;
  GSubprocess *proc;
  char *url;
} Fixture;

static void
fixture_init (Fixture *f, gboolean small_fs, gint64 quota)
{
  f->dir = test_tmpdir_new ();
  const char *data_dir = f->dir;
  if (small_fs)
    {
      f->fs = g_build_filename (f->dir, "fs", NULL);
      g_assert_cmpint (g_mkdir (f->fs, 0700), ==, 0);
      /* 2 MiB: room for the schema and some seats, soon filled on purpose. */
      if (mount ("tessera-fault", f->fs, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") != 0)
        g_error ("cannot mount a tmpfs at %s (the test runs as root in CI): %s", f->fs,
                 g_strerror (errno));
      data_dir = f->fs;
    }
  f->db = g_build_filename (data_dir, "tessera.db", NULL);
  f->keys = g_build_filename (f->dir, "keys", NULL);
  f->log = g_build_filename (f->dir, "server.log", NULL);

  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  g_free (ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", now, &error));
  g_assert_no_error (error);
  char *member
      = ts_store_set_member (store, NULL, "acme", "ci@acme.test", TS_ROLE_MEMBER, now, &error);
  g_assert_no_error (error);
  char *kid = NULL;
  f->key = ts_store_create_api_key (store, member, "ci", now, &kid, &error);
  g_assert_no_error (error);
  g_free (kid);
  g_free (member);
  f->pool = server_util_create_pool (store, "floating", quota, now);
  ts_store_close (store);
}

static void
fixture_clear (Fixture *f)
{
  if (f->proc != NULL)
    {
      g_subprocess_force_exit (f->proc);
      g_subprocess_wait (f->proc, NULL, NULL);
      g_clear_object (&f->proc);
    }
  if (f->fs != NULL)
    g_assert_cmpint (umount (f->fs), ==, 0);
  test_tmpdir_free (f->dir);
  g_free (f->fs);
  g_free (f->db);
  g_free (f->keys);
  g_free (f->log);
  g_free (f->key);
  g_free (f->pool);
  g_free (f->url);
}

/* ------------------------------------------------------------- requests */

typedef struct
{
  guint status;
  char *session_id; /* activate: the seat granted */
  char *code;       /* the error's code */
} Answer;

static void
answer_clear (Answer *a)
{
  g_clear_pointer (&a->session_id, g_free);
  g_clear_pointer (&a->code, g_free);
}

static Answer
post (SoupSession *session, const char *url, const char *path, const char *key, const char *body)
{
  Answer a = { 0 };
  g_autofree char *full = g_strconcat (url, "/api/v1", path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", full);
  g_autofree char *auth = g_strconcat ("Bearer ", key, NULL);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  g_autoptr (GBytes) req = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", req);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) resp = soup_session_send_and_read (session, msg, NULL, &error);
  if (resp == NULL)
    return a; /* status 0: no answer (the server was killed) */
  a.status = soup_message_get_status (msg);
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (resp, &len);
  if (len == 0 || !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    {
      /* A body cut short by a kill is no answer; anything else must be JSON. */
      a.status = 0;
      return a;
    }
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  if (json_object_has_member (o, "payload"))
    {
      g_autoptr (JsonObject) p = answer_payload (o);
      a.session_id = g_strdup (json_object_get_string_member (p, "session_id"));
    }
  if (json_object_has_member (o, "error"))
    {
      JsonObject *e = json_object_get_object_member (o, "error");
      if (e != NULL && json_object_has_member (e, "code"))
        a.code = g_strdup (json_object_get_string_member (e, "code"));
    }
  return a;
}

static Answer
activate (SoupSession *session, const char *url, const char *key)
{
  g_autofree char *nonce = g_uuid_string_random ();
  g_autofree char *body = g_strdup_printf (
      "{\"product\":\"KRE\",\"machine_id\":\"" MACHINE "\",\"nonce\":\"%s\"}", nonce);
  return post (session, url, "/activate", key, body);
}

static Answer
heartbeat (SoupSession *session, const char *url, const char *key, const char *session_id)
{
  g_autofree char *body = g_strdup_printf ("{\"session_id\":\"%s\"}", session_id);
  return post (session, url, "/heartbeat", key, body);
}

static SoupSession *
new_session (void)
{
  return soup_session_new_with_options ("timeout", 30, NULL);
}

/* The seats the store records as live in the pool, read from the file. */
static GHashTable *
recorded_sessions (Fixture *f)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  GPtrArray *sessions = ts_store_list_sessions (store, NULL, "acme", f->pool, now_s (), &error);
  g_assert_no_error (error);
  GHashTable *ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < sessions->len; i++)
    g_hash_table_add (ids, g_strdup (((TsSession *) sessions->pdata[i])->id));
  g_ptr_array_unref (sessions);
  ts_store_close (store);
  return ids;
}

static void
assert_granted_recorded (Fixture *f, GPtrArray *granted, gint64 quota)
{
  g_autoptr (GHashTable) recorded = recorded_sessions (f);
  for (guint i = 0; i < granted->len; i++)
    if (!g_hash_table_contains (recorded, granted->pdata[i]))
      g_error ("session %s was granted (200) but is not recorded", (char *) granted->pdata[i]);
  g_assert_cmpuint (g_hash_table_size (recorded), <=, quota);
}

/* Fills the filesystem holding @path's directory until it refuses a byte. */
static char *
fill_up (const char *fs)
{
  char *filler = g_build_filename (fs, "filler", NULL);
  int fd = open (filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  static char block[4096];
  while (write (fd, block, sizeof block) > 0)
    ;
  /* The last partial block, byte by byte: truly nothing left. */
  while (write (fd, block, 1) == 1)
    ;
  g_assert_cmpint (errno, ==, ENOSPC);
  close (fd);
  return filler;
}

/* ----------------------------------------------------------------- tests */

static void
test_disk_full (void)
{
  const gint64 quota = 100000;
  Fixture f = { 0 };
  fixture_init (&f, TRUE, quota);
  f.proc = server_util_spawn (f.db, f.keys, f.log, NULL, FALSE, &f.url);
  g_autoptr (SoupSession) session = new_session ();
  g_autoptr (GPtrArray) granted = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < 5; i++)
    {
      Answer a = activate (session, f.url, f.key);
      g_assert_cmpuint (a.status, ==, 200);
      g_ptr_array_add (granted, g_steal_pointer (&a.session_id));
      answer_clear (&a);
    }

  g_autofree char *filler = fill_up (f.fs);
  guint refused = 0;
  for (guint i = 0; i < 400 && refused < 20; i++)
    {
      Answer a = activate (session, f.url, f.key);
      if (a.status == 200)
        g_ptr_array_add (granted, g_steal_pointer (&a.session_id));
      else
        {
          /* Full disk: a clear "try later", never a 500 or a dropped answer. */
          g_assert_cmpuint (a.status, ==, 503);
          g_assert_cmpstr (a.code, ==, "unavailable");
          refused++;
        }
      answer_clear (&a);
    }
  g_assert_cmpuint (refused, >=, 20);

  /* Heartbeats of seats granted before: extended or a clear 503. */
  for (guint i = 0; i < granted->len; i++)
    {
      Answer a = heartbeat (session, f.url, f.key, granted->pdata[i]);
      g_assert_true (a.status == 200 || a.status == 503);
      answer_clear (&a);
    }

  /* Space back: the same process serves again, no restart needed. */
  g_assert_cmpint (g_unlink (filler), ==, 0);
  Answer a = activate (session, f.url, f.key);
  g_assert_cmpuint (a.status, ==, 200);
  g_ptr_array_add (granted, g_steal_pointer (&a.session_id));
  answer_clear (&a);

  soup_session_abort (session);
  server_util_terminate (f.proc);
  g_clear_object (&f.proc);
  assert_granted_recorded (&f, granted, quota);

  /* And after a restart every granted seat is still alive. */
  f.proc = server_util_spawn (f.db, f.keys, f.log, NULL, FALSE, &f.url);
  for (guint i = 0; i < granted->len; i++)
    {
      Answer h = heartbeat (session, f.url, f.key, granted->pdata[i]);
      g_assert_cmpuint (h.status, ==, 200);
      answer_clear (&h);
    }
  soup_session_abort (session);
  fixture_clear (&f);
}

/* fsync fails with EIO from the Nth call on, by strace's syscall fault
 * injection on the real binary: SQLite reports an I/O error and the server
 * must refuse with 503, not grant a seat it may not have recorded. */
static void
test_io_error (void)
{
  g_autofree char *strace = g_find_program_in_path ("strace");
  if (strace == NULL)
    g_error ("strace is needed for I/O fault injection (scripts/install-deps.sh installs it)");
  const gint64 quota = 1000;
  Fixture f = { 0 };
  fixture_init (&f, FALSE, quota);

  g_autofree char *wrapper = g_build_filename (f.dir, "strace-server", NULL);
  g_autofree char *script = g_strdup_printf (
      "#!/bin/sh\nexec setsid strace -f -qq -o /dev/null -e trace=fsync,fdatasync "
      "-e inject=fsync,fdatasync:error=EIO:when=25+ '%s' \"$@\"\n",
      g_getenv ("TESSERA_SERVER"));
  g_assert_true (g_file_set_contents (wrapper, script, -1, NULL));
  g_assert_cmpint (g_chmod (wrapper, 0755), ==, 0);
  g_autofree char *real = g_strdup (g_getenv ("TESSERA_SERVER"));
  g_setenv ("TESSERA_SERVER", wrapper, TRUE);
  f.proc = server_util_spawn (f.db, f.keys, f.log, NULL, TRUE, &f.url);
  g_setenv ("TESSERA_SERVER", real, TRUE);

  g_autoptr (SoupSession) session = new_session ();
  g_autoptr (GPtrArray) granted = g_ptr_array_new_with_free_func (g_free);
  guint refused = 0;
  for (guint i = 0; i < 200 && refused < 10; i++)
    {
      Answer a = activate (session, f.url, f.key);
      if (a.status == 200)
        g_ptr_array_add (granted, g_steal_pointer (&a.session_id));
      else
        {
          g_assert_cmpuint (a.status, ==, 503);
          g_assert_cmpstr (a.code, ==, "unavailable");
          refused++;
        }
      answer_clear (&a);
    }
  g_assert_cmpuint (refused, >=, 10);

  soup_session_abort (session);
  /* strace and the server it traces: a killed strace would leave its
   * tracee running, so kill the session setsid made for both. */
  pid_t group = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (f.proc), NULL, 10);
  g_assert_cmpint (kill (-group, SIGKILL), ==, 0);
  g_subprocess_wait (f.proc, NULL, NULL);
  g_clear_object (&f.proc);
  /* The server, strace's child, is gone once nothing holds the database's
   * lock file any more; wait for the group to be empty. */
  for (guint i = 0; i < 500 && kill (-group, 0) == 0; i++)
    g_usleep (10 * 1000);
  g_assert_cmpint (kill (-group, 0), !=, 0);
  assert_granted_recorded (&f, granted, quota);

  /* Healthy again without the injection: granted seats alive, new ones granted. */
  f.proc = server_util_spawn (f.db, f.keys, f.log, NULL, FALSE, &f.url);
  for (guint i = 0; i < granted->len; i++)
    {
      Answer h = heartbeat (session, f.url, f.key, granted->pdata[i]);
      g_assert_cmpuint (h.status, ==, 200);
      answer_clear (&h);
    }
  Answer a = activate (session, f.url, f.key);
  g_assert_cmpuint (a.status, ==, 200);
  answer_clear (&a);
  soup_session_abort (session);
  fixture_clear (&f);
}

typedef struct
{
  const char *url;
  const char *key;
  GMutex lock;
  GPtrArray *granted; /* session ids answered 200 and not released */
  gint stop;
  guint answers;
} Load;

static gpointer
load_thread (gpointer data)
{
  Load *load = data;
  g_autoptr (SoupSession) session = new_session ();
  while (!g_atomic_int_get (&load->stop))
    {
      Answer a = activate (session, load->url, load->key);
      if (a.status == 0)
        break; /* the server is gone */
      /* Under load against a full pool: granted, or a clear refusal. */
      g_assert_true (a.status == 200 || a.status == 409 || a.status == 503);
      if (a.status == 200)
        {
          g_assert_nonnull (a.session_id);
          g_mutex_lock (&load->lock);
          g_ptr_array_add (load->granted, g_strdup (a.session_id));
          g_mutex_unlock (&load->lock);
          Answer h = heartbeat (session, load->url, load->key, a.session_id);
          g_assert_true (h.status == 0 || h.status == 200);
          answer_clear (&h);
          /* Every other seat is given back, so later rounds find free seats.
           * A release the kill cut short may or may not have happened: the
           * seat is then no longer one the server must keep. */
          if (g_random_boolean ())
            {
              g_mutex_lock (&load->lock);
              for (guint i = 0; i < load->granted->len; i++)
                if (g_str_equal (load->granted->pdata[i], a.session_id))
                  {
                    g_ptr_array_remove_index_fast (load->granted, i);
                    break;
                  }
              g_mutex_unlock (&load->lock);
              g_autofree char *body = g_strdup_printf ("{\"session_id\":\"%s\"}", a.session_id);
              Answer r = post (session, load->url, "/release", load->key, body);
              g_assert_true (r.status == 0 || r.status == 200);
              answer_clear (&r);
            }
        }
      g_atomic_int_inc (&load->answers);
      answer_clear (&a);
    }
  return NULL;
}

/* Killed at random moments under load, restarted each time: the seats it
 * granted survive every kill and the quota holds. */
static void
test_sigkill_random (void)
{
  const gint64 quota = 10;
  Fixture f = { 0 };
  fixture_init (&f, FALSE, quota);
  g_autoptr (GPtrArray) granted = g_ptr_array_new_with_free_func (g_free);

  for (guint round = 0; round < 5; round++)
    {
      f.proc = server_util_spawn (f.db, f.keys, f.log, NULL, TRUE, &f.url);
      Load load = { .url = f.url, .key = f.key };
      g_mutex_init (&load.lock);
      load.granted = g_ptr_array_new_with_free_func (g_free);
      GThread *threads[6];
      for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
        threads[i] = g_thread_new ("load", load_thread, &load);
      g_usleep (g_test_rand_int_range (20, 400) * 1000);
      g_subprocess_send_signal (f.proc, SIGKILL);
      g_subprocess_wait (f.proc, NULL, NULL);
      g_assert_true (g_subprocess_get_if_signaled (f.proc));
      g_clear_object (&f.proc);
      g_atomic_int_set (&load.stop, 1);
      for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
        g_thread_join (threads[i]);
      for (guint i = 0; i < load.granted->len; i++)
        g_ptr_array_add (granted, g_strdup (load.granted->pdata[i]));
      g_ptr_array_unref (load.granted);
      g_mutex_clear (&load.lock);

      assert_granted_recorded (&f, granted, quota);
    }
  g_assert_cmpuint (granted->len, >, 0);
  fixture_clear (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (getuid () != 0)
    {
      /* Mounting a small filesystem needs root; CI runs as root. */
      g_printerr ("test-fault must run as root (it mounts a tmpfs)\n");
      return 1;
    }
  g_test_add_func ("/fault/disk-full", test_disk_full);
  g_test_add_func ("/fault/io-error", test_io_error);
  g_test_add_func ("/fault/sigkill-random", test_sigkill_random);
  return g_test_run ();
}
