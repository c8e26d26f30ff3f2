/* Signing keys shared through the database (server/keys.c): instances
 * given the same key-encryption key sign with the same key, which the
 * database holds only sealed; a wrong, missing or loose key file stops an
 * instance before it touches anything; rotation and import through
 * tessera-admin. Runs on SQLite, and on PostgreSQL under
 * tests/with-postgres.sh (tests/store-backend.h). */
#include "server-util.h"
#include "store-backend.h"
#include "test-util.h"

#include <libsoup/soup.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  char *dir;
  char *db;
  char *kek; /* made by tessera-admin signing-key create-kek */
  SoupSession *session;
} Fixture;

/* Runs tessera-admin with @args (NULL-terminated) on the fixture's
 * database; returns its exit status, its stdout and stderr in @out/@err
 * (nullable). */
static int
admin (Fixture *f, char **out, char **err, ...)
{
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) g_getenv ("TESSERA_ADMIN_TOOL"));
  va_list ap;
  va_start (ap, err);
  for (const char *a; (a = va_arg (ap, const char *)) != NULL;)
    g_ptr_array_add (argv, (char *) a);
  va_end (ap);
  g_ptr_array_add (argv, "--database");
  g_ptr_array_add (argv, f->db);
  g_ptr_array_add (argv, NULL);
  GError *error = NULL;
  GSubprocess *p
      = g_subprocess_newv ((const char *const *) argv->pdata,
                           G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  char *o = NULL, *e = NULL;
  g_assert_true (g_subprocess_communicate_utf8 (p, NULL, NULL, &o, &e, &error));
  g_assert_no_error (error);
  int status = g_subprocess_get_exit_status (p);
  g_object_unref (p);
  g_ptr_array_free (argv, TRUE);
  if (out != NULL)
    *out = o;
  else
    g_free (o);
  if (err != NULL)
    *err = e;
  else
    g_free (e);
  return status;
}

static void
setup (Fixture *f, gconstpointer data)
{
  f->dir = test_tmpdir_new ();
  f->db = test_store_location (f->dir);
  f->kek = g_build_filename (f->dir, "kek", NULL);
  f->session = soup_session_new_with_options ("timeout", 60, NULL);
  char *out = NULL;
  g_assert_cmpint (admin (f, &out, NULL, "signing-key", "create-kek", "--file", f->kek, NULL), ==,
                   0);
  g_free (out);
  GStatBuf st;
  g_assert_cmpint (g_stat (f->kek, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  g_object_unref (f->session);
  test_store_location_free (f->db);
  test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->kek);
}

/* Starts an instance on the fixture's database with key file @kek;
 * *@url gets its URL. @n names its log. */
static GSubprocess *
instance (Fixture *f, const char *kek, guint n, char **url)
{
  g_autofree char *name = g_strdup_printf ("server-%u.log", n);
  g_autofree char *log = g_build_filename (f->dir, name, NULL);
  const char *extra[] = { "--key-encryption-key", kek, NULL };
  *url = NULL;
  return server_util_spawn (f->db, NULL, log, extra, FALSE, url);
}

static void
instance_stop (Fixture *f, GSubprocess *proc, guint n)
{
  g_autofree char *name = g_strdup_printf ("server-%u.log", n);
  g_autofree char *log = g_build_filename (f->dir, name, NULL);
  server_util_stop_clean (proc, log);
  g_object_unref (proc);
}

/* What a server that must not start says: exit 1, one line on stderr. */
static char *
refused (Fixture *f, const char *const *args)
{
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) g_getenv ("TESSERA_SERVER"));
  g_ptr_array_add (argv, "--database");
  g_ptr_array_add (argv, f->db);
  g_ptr_array_add (argv, "--listen");
  g_ptr_array_add (argv, "127.0.0.1:0");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  GError *error = NULL;
  GSubprocess *p
      = g_subprocess_newv ((const char *const *) argv->pdata,
                           G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  char *out = NULL, *err = NULL;
  g_assert_true (g_subprocess_communicate_utf8 (p, NULL, NULL, &out, &err, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (p));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 1);
  g_assert_cmpstr (out, ==, "");
  g_assert_true (g_str_has_prefix (err, "tessera-server: "));
  g_assert_true (strchr (err, '\n') == err + strlen (err) - 1); /* one line */
  g_free (out);
  g_object_unref (p);
  g_ptr_array_free (argv, TRUE);
  return err;
}

static char *
public_key (Fixture *f, const char *url)
{
  g_autofree char *full = g_strconcat (url, "/api/v1/public-key", NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", full);
  GError *error = NULL;
  GBytes *body = soup_session_send_and_read (f->session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  char *line = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  g_bytes_unref (body);
  return g_strchomp (line);
}

static gint64
stored_keys (Fixture *f)
{
  return test_store_count (f->db, "SELECT count(*) FROM signing_keys");
}

/* ---- tests ---- */

/* Two instances with one key file: one key, generated by the first, served
 * by both; stored once. */
static void
test_shared (Fixture *f, gconstpointer data)
{
  g_autofree char *url_a = NULL, *url_b = NULL;
  GSubprocess *a = instance (f, f->kek, 0, &url_a);
  GSubprocess *b = instance (f, f->kek, 1, &url_b);
  g_autofree char *pub_a = public_key (f, url_a);
  g_autofree char *pub_b = public_key (f, url_b);
  g_assert_true (g_str_has_prefix (pub_a, "tessera-ed25519-public "));
  g_assert_cmpstr (pub_a, ==, pub_b);
  g_assert_cmpint (stored_keys (f), ==, 1);
  instance_stop (f, a, 0);
  instance_stop (f, b, 1);
  /* a restart keeps it */
  GSubprocess *c = instance (f, f->kek, 2, &url_a);
  g_autofree char *pub_c = public_key (f, url_a);
  g_assert_cmpstr (pub_c, ==, pub_b);
  instance_stop (f, c, 2);
  /* listed, the one that signs marked */
  g_autofree char *out = NULL;
  g_assert_cmpint (admin (f, &out, NULL, "signing-key", "list", NULL), ==, 0);
  g_assert_nonnull (strstr (out, pub_a + strlen ("tessera-ed25519-public ")));
  g_assert_nonnull (strstr (out, "yes"));
}

/* Three instances started at once on an empty database agree on one key. */
static void
test_race (Fixture *f, gconstpointer data)
{
  g_autofree char *exe = g_strdup (g_getenv ("TESSERA_SERVER"));
  GSubprocess *procs[3];
  char *logs[3];
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("server-%u.log", i);
      logs[i] = g_build_filename (f->dir, name, NULL);
      GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
      g_subprocess_launcher_set_stderr_file_path (l, logs[i]);
      GError *error = NULL;
      procs[i] = g_subprocess_launcher_spawn (l, &error, exe, "--database", f->db,
                                              "--key-encryption-key", f->kek, "--listen",
                                              "127.0.0.1:0", NULL);
      g_assert_no_error (error);
      g_object_unref (l);
    }
  char *first = NULL;
  for (guint i = 0; i < 3; i++)
    {
      GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (procs[i]));
      char *line = g_data_input_stream_read_line (in, NULL, NULL, NULL);
      g_object_unref (in);
      if (line == NULL || !g_str_has_prefix (line, "listening on "))
        {
          g_autofree char *log = NULL;
          g_file_get_contents (logs[i], &log, NULL, NULL);
          g_error ("instance %u did not start: %s", i, log);
        }
      g_autofree char *pub = public_key (f, line + strlen ("listening on "));
      if (first == NULL)
        first = g_strdup (pub);
      else
        g_assert_cmpstr (pub, ==, first);
      g_free (line);
    }
  g_assert_cmpint (stored_keys (f), ==, 1);
  for (guint i = 0; i < 3; i++)
    {
      server_util_stop_clean (procs[i], logs[i]);
      g_object_unref (procs[i]);
      g_free (logs[i]);
    }
  g_free (first);
}

/* An instance with another key file does not start, and changes nothing. */
static void
test_wrong_kek (Fixture *f, gconstpointer data)
{
  g_autofree char *url = NULL;
  GSubprocess *a = instance (f, f->kek, 0, &url);
  g_autofree char *pub = public_key (f, url);
  instance_stop (f, a, 0);
  g_autofree char *other = g_build_filename (f->dir, "other-kek", NULL);
  g_assert_cmpint (admin (f, NULL, NULL, "signing-key", "create-kek", "--file", other, NULL), ==,
                   0);
  const char *args[] = { "--key-encryption-key", other, NULL };
  g_autofree char *err = refused (f, args);
  g_assert_nonnull (strstr (err, "does not open with this key-encryption key"));
  g_assert_cmpint (stored_keys (f), ==, 1);
  /* nor does tessera-admin store a key sealed with it */
  g_autofree char *admin_err = NULL;
  g_assert_cmpint (
      admin (f, NULL, &admin_err, "signing-key", "rotate", "--key-encryption-key", other, NULL), !=,
      0);
  g_assert_nonnull (strstr (admin_err, "does not open"));
  g_assert_cmpint (stored_keys (f), ==, 1);
}

typedef enum
{
  KEK_MISSING,
  KEK_LOOSE_MODE,
  KEK_SHORT,
  KEK_NOT_HEX,
  KEK_LONG,
  KEK_SYMLINK,
  KEK_DIRECTORY,
  KEK_WITH_KEY_DIR,
} KekCase;

typedef struct
{
  const char *name;
  KekCase how;
  const char *message_part;
} KekTest;

static const KekTest kek_tests[] = {
  { "missing", KEK_MISSING, "No such file" },
  { "loose-mode", KEK_LOOSE_MODE, "chmod 600" },
  { "short", KEK_SHORT, "64 hexadecimal" },
  { "not-hex", KEK_NOT_HEX, "64 hexadecimal" },
  { "long", KEK_LONG, "64 hexadecimal" },
  { "symlink", KEK_SYMLINK, "symbolic link" },
  { "directory", KEK_DIRECTORY, "not a regular file" },
  { "with-key-dir", KEK_WITH_KEY_DIR, "exclude each other" },
};

/* A key file that cannot be used stops the server before it opens the
 * database: a SQLite file is not even created, a PostgreSQL one not
 * migrated. */
static void
test_kek_file (Fixture *f, gconstpointer data)
{
  const KekTest *t = data;
  g_autofree char *path = g_build_filename (f->dir, "bad-kek", NULL);
  GError *error = NULL;
  g_autofree char *good = NULL;
  g_assert_true (g_file_get_contents (f->kek, &good, NULL, &error));
  const char *key_dir = NULL;
  switch (t->how)
    {
    case KEK_MISSING:
      break;
    case KEK_LOOSE_MODE:
      g_assert_true (g_file_set_contents_full (path, good, -1, 0, 0644, &error));
      break;
    case KEK_SHORT:
      g_assert_true (g_file_set_contents_full (path, "abcd\n", -1, 0, 0600, &error));
      break;
    case KEK_NOT_HEX:
      good[10] = 'g';
      g_assert_true (g_file_set_contents_full (path, good, -1, 0, 0600, &error));
      break;
    case KEK_LONG:
      {
        g_autofree char *twice = g_strconcat (good, good, NULL);
        g_assert_true (g_file_set_contents_full (path, twice, -1, 0, 0600, &error));
        break;
      }
    case KEK_SYMLINK:
      g_assert_cmpint (symlink (f->kek, path), ==, 0);
      break;
    case KEK_DIRECTORY:
      g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
      break;
    case KEK_WITH_KEY_DIR:
      g_free (path);
      path = g_strdup (f->kek);
      key_dir = f->dir;
      break;
    }
  g_assert_no_error (error);
  const char *args[]
      = { "--key-encryption-key", path, key_dir ? "--key-dir" : NULL, key_dir, NULL };
  g_autofree char *err = refused (f, args);
  if (strstr (err, t->message_part) == NULL)
    g_error ("%s: %s", t->name, err);
  if (test_store_is_url (f->db))
    g_assert_cmpint (test_store_count (f->db, "SELECT count(*) FROM pg_tables WHERE tablename"
                                              " = 'signing_keys'"),
                     ==, 0);
  else
    g_assert_false (g_file_test (f->db, G_FILE_TEST_EXISTS));
}

/* TRUE if @needle (@len bytes) occurs in @hay. */
static gboolean
contains (const guint8 *hay, gsize hay_len, const guint8 *needle, gsize len)
{
  for (gsize i = 0; i + len <= hay_len; i++)
    if (memcmp (hay + i, needle, len) == 0)
      return TRUE;
  return FALSE;
}

/* Everything the database holds about the keys, as bytes: the SQLite
 * files themselves (the free pages too), or PostgreSQL's rows with the
 * sealed keys decoded. */
static GByteArray *
database_bytes (Fixture *f)
{
  GByteArray *all = g_byte_array_new ();
  if (!test_store_is_url (f->db))
    {
      const char *suffixes[] = { "", "-wal", "-journal" };
      for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
        {
          g_autofree char *path = g_strconcat (f->db, suffixes[i], NULL);
          g_autofree char *data = NULL;
          gsize len = 0;
          if (g_file_get_contents (path, &data, &len, NULL))
            g_byte_array_append (all, (const guint8 *) data, len);
        }
      return all;
    }
  PGconn *conn = test_pg_connect (f->db);
  PGresult *res = test_pg_run (conn, "SELECT id, public_key, sealed FROM signing_keys");
  for (int r = 0; r < PQntuples (res); r++)
    for (int c = 0; c < 3; c++)
      {
        const char *v = PQgetvalue (res, r, c);
        g_byte_array_append (all, (const guint8 *) v, strlen (v));
        gsize len = 0;
        guchar *bin = g_base64_decode (v, &len);
        g_byte_array_append (all, bin, len);
        g_free (bin);
      }
  PQclear (res);
  PQfinish (conn);
  return all;
}

/* A key directory's key moves into the database (a single SQLite instance
 * growing into several): the instances then sign with it, and the
 * database holds it only sealed. */
static void
test_import (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autofree char *secret = g_build_filename (f->dir, "old.key", NULL);
  GError *error = NULL;
  g_assert_true (tessera_signing_key_save (key, secret, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *out = NULL;
  g_assert_cmpint (admin (f, &out, NULL, "signing-key", "import", "--key-encryption-key", f->kek,
                          "--key", secret, NULL),
                   ==, 0);
  g_assert_cmpstr (g_strchomp (out), ==, tessera_signing_key_get_id (key));

  g_autofree char *url = NULL;
  GSubprocess *a = instance (f, f->kek, 0, &url);
  g_autofree char *served = public_key (f, url);
  g_autofree char *want = g_strchomp (tessera_signing_key_dup_public (key));
  g_assert_cmpstr (served, ==, want);
  instance_stop (f, a, 0);

  /* The secret, as the key file holds it (base64 of the seed) and as raw
   * bytes, is nowhere in the database. */
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (secret, &text, NULL, &error));
  g_auto (GStrv) parts = g_strsplit (g_strstrip (text), " ", 3);
  g_assert_cmpuint (g_strv_length (parts), ==, 3);
  gsize seed_len = 0;
  g_autofree guchar *seed = g_base64_decode (parts[2], &seed_len);
  g_assert_cmpuint (seed_len, ==, 32);
  g_autoptr (GByteArray) db = database_bytes (f);
  g_assert_cmpuint (db->len, >, 0);
  g_assert_true (contains (db->data, db->len, (const guint8 *) want + 30, 20)); /* public: there */
  g_assert_false (contains (db->data, db->len, (const guint8 *) parts[2], strlen (parts[2])));
  g_assert_false (contains (db->data, db->len, seed, seed_len));
  g_assert_false (contains (db->data, db->len, seed, 16));

  /* the same key twice: refused, nothing added */
  g_autofree char *err = NULL;
  g_assert_cmpint (admin (f, NULL, &err, "signing-key", "import", "--key-encryption-key", f->kek,
                          "--key", secret, NULL),
                   ==, 3);
  g_assert_nonnull (strstr (err, "already stored"));
  g_assert_cmpint (stored_keys (f), ==, 1);
}

/* Rotation: instances started afterwards sign with the new key; offline
 * licenses made by tessera-admin from the database too. */
static void
test_rotate (Fixture *f, gconstpointer data)
{
  g_autofree char *url = NULL;
  GSubprocess *a = instance (f, f->kek, 0, &url);
  g_autofree char *first = public_key (f, url);
  g_autofree char *id = NULL;
  g_assert_cmpint (
      admin (f, &id, NULL, "signing-key", "rotate", "--key-encryption-key", f->kek, NULL), ==, 0);
  g_strchomp (id);
  g_autofree char *url_b = NULL;
  GSubprocess *b = instance (f, f->kek, 1, &url_b);
  g_autofree char *second = public_key (f, url_b);
  g_assert_cmpstr (second, !=, first);
  g_assert_nonnull (strstr (second, id));
  instance_stop (f, a, 0);
  instance_stop (f, b, 1);
  g_assert_cmpint (stored_keys (f), ==, 2);

  /* tessera-admin offline create signs with it */
  g_autofree char *org_out = NULL;
  g_assert_cmpint (admin (f, &org_out, NULL, "bootstrap", "--org", "acme", "--name", "Acme",
                          "--owner", "owner@example.com", NULL),
                   ==, 0);
  g_autofree char *pool = NULL;
  g_assert_cmpint (admin (f, &pool, NULL, "pool", "create", "--org", "acme", "--product", "KSE",
                          "--kind", "node-locked", "--billing", "annual", "--quota", "2",
                          "--subscription-end", "2099-01-01", NULL),
                   ==, 0);
  g_strchomp (pool);
  g_autofree char *lic = NULL, *err = NULL;
  int rc
      = admin (f, &lic, &err, "offline", "create", "--org", "acme", "--pool", pool, "--machine-id",
               "MID-ROTATE", "--key-encryption-key", f->kek, "--out", f->dir, NULL);
  if (rc != 0)
    g_error ("offline create: %s", err);
  g_autofree char *path = g_strchomp (g_strdup (lic));
  g_autofree char *contents = NULL;
  GError *error = NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_no_error (error);
  g_assert_nonnull (strstr (contents, id));
}

/* A row altered in the database (its public key swapped for another's)
 * stops the instances rather than serve a key that signs nothing. */
static void
test_tampered (Fixture *f, gconstpointer data)
{
  g_autofree char *url = NULL;
  GSubprocess *a = instance (f, f->kek, 0, &url);
  instance_stop (f, a, 0);
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  g_autofree char *line = g_strchomp (tessera_signing_key_dup_public (other));
  g_autofree char *sql = g_strdup_printf ("UPDATE signing_keys SET public_key = '%s'", line);
  test_store_exec (f->db, sql);
  const char *args[] = { "--key-encryption-key", f->kek, NULL };
  g_autofree char *err = refused (f, args);
  g_assert_nonnull (strstr (err, "is not the sealed key's"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);
#define ADD(name, func, data)                                                                      \
  g_test_add ("/server-keys/" name, Fixture, data, setup, func, teardown)
  ADD ("shared", test_shared, NULL);
  ADD ("race", test_race, NULL);
  ADD ("wrong-kek", test_wrong_kek, NULL);
  ADD ("import", test_import, NULL);
  ADD ("rotate", test_rotate, NULL);
  ADD ("tampered", test_tampered, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (kek_tests); i++)
    {
      g_autofree char *path = g_strdup_printf ("/server-keys/kek-file/%s", kek_tests[i].name);
      g_test_add (path, Fixture, &kek_tests[i], setup, test_kek_file, teardown);
    }
#undef ADD
  return g_test_run ();
}
