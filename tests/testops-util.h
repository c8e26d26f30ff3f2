/* Helpers shared by the tests of the online provider (plugins/testops)
 * against the real tessera-server ($TESSERA_SERVER) on 127.0.0.1, port 0:
 * test-testops (activation), test-testops-keyring (the API key cache),
 * test-testops-sessions (a held session's life, persisted sessions, TLS) and
 * test-testops-records (kept records edited by hand).
 * Each test gets a Fixture: a temporary SQLite file bootstrapped through the
 * store API (server/store.h) with org acme, a member and their API key, a
 * floating and a node-locked pool, and a server on it. A real Secret
 * Service: the programs run under tests/with-keyring.sh (gnome-keyring-daemon
 * on a private D-Bus bus), re-executing themselves through it when started
 * without (testops_util_init). */
#pragma once

#include "server-util.h"
#include "test-util.h"

#include <errno.h>

/* The server's public key(s) the plugin trusts (server-key): the running
 * fixture server's key folder, else a key of no server (testops_util_init). */
static char *server_key_path;
static char *default_server_key_path;

typedef struct
{
  char *dir;
  char *db;
  char *keys;
  char *log;
  GSubprocess *proc;
  char *url; /* http(s)://127.0.0.1:PORT */
  char *owner_id;
  char *member_id, *member_key, *member_key_id;
  char *floating_pool; /* acme KRE floating, quota 1 */
  char *nl_pool;       /* acme KRE node-locked annual, quota 5 */
} Fixture;

static inline TsStore *
store_open (Fixture *f)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  return store;
}

/* ---------------------------------------------------------------- client */

/* Every [provider:testops] section gets server-key= unless it names its own
 * (or says "#no-server-key"): what each test checks is then its own error,
 * never a missing key. */
static inline TesseraEngine *
engine_with (const char *config)
{
  GError *error = NULL;
  g_autoptr (GString) text = g_string_new (config);
  const char *section = strstr (config, "[provider:testops]\n");
  if (section != NULL && strstr (config, "server-key") == NULL)
    {
      g_autofree char *line = g_strdup_printf ("server-key=%s\n", server_key_path);
      g_string_insert (text, (section - config) + strlen ("[provider:testops]\n"), line);
    }
  TesseraEngine *engine = tessera_engine_new_from_data (text->str, -1, &error);
  g_assert_no_error (error);
  return engine;
}

/* An engine on the server at @url; @extra: more lines of [provider:testops]. */
static inline TesseraEngine *
engine_new_at (const char *url, const char *extra)
{
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=testops\n[provider:testops]\nserver=%s\n%s%s", url,
      g_str_has_prefix (url, "http:") ? "allow-http=true\n" : "", extra ? extra : "");
  return engine_with (config);
}

/* An engine on the fixture's server; @extra: more lines of [provider:testops]. */
static inline TesseraEngine *
engine_new (Fixture *f, const char *extra)
{
  return engine_new_at (f->url, extra);
}

/* Forgets the keys the engine's testops cached; returns how many. */
static inline guint
forget_keys (TesseraEngine *engine)
{
  GError *error = NULL;
  guint n = 99;
  g_assert_true (tessera_engine_forget_credentials (engine, "testops", &n, &error));
  g_assert_no_error (error);
  return n;
}

static inline TesseraActivateOptions *
options_with_key (const char *key)
{
  TesseraActivateOptions *o = tessera_activate_options_new ();
  if (key != NULL)
    tessera_activate_options_set (o, TESSERA_OPTION_API_KEY, key);
  return o;
}

static inline TesseraLicense *
activate (TesseraEngine *engine, TesseraActivateOptions *o, GError **error)
{
  return tessera_engine_activate (engine, "KRE", o, NULL, error);
}

static inline guint
count_sessions (Fixture *f, const char *pool)
{
  TsStore *store = store_open (f);
  GError *error = NULL;
  GPtrArray *list = ts_store_list_sessions (store, f->owner_id, "acme", pool, now_s (), &error);
  g_assert_no_error (error);
  guint n = list->len;
  g_ptr_array_unref (list);
  ts_store_close (store);
  return n;
}

/* ---------------------------------------------------------------- server */

/* As in test-server: no leak check in the spawned server (GnuTLS). */
static inline void
server_start (Fixture *f, const char *const *extra)
{
  f->proc = server_util_spawn (f->db, f->keys, f->log, extra, TRUE, &f->url);
}

static inline void
server_kill (Fixture *f)
{
  if (f->proc == NULL)
    return;
  g_subprocess_send_signal (f->proc, SIGKILL);
  g_subprocess_wait (f->proc, NULL, NULL);
  g_clear_object (&f->proc);
}

static inline void
server_stop (Fixture *f)
{
  if (f->proc == NULL)
    return;
  server_util_terminate (f->proc);
  g_clear_object (&f->proc);
}

static inline void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = test_tmpdir_new ();
  f->db = g_build_filename (f->dir, "tessera.db", NULL);
  f->keys = g_build_filename (f->dir, "keys", NULL);
  f->log = g_build_filename (f->dir, "server.log", NULL);

  gint64 now = now_s ();
  TsStore *store = store_open (f);
  f->member_key
      = server_util_seed_member (store, now, &f->owner_id, &f->member_id, &f->member_key_id);
  f->floating_pool = server_util_create_pool (store, "floating", 1, now);
  f->nl_pool = server_util_create_pool (store, "node-locked", 5, now);
  ts_store_close (store);

  /* data: extra server arguments, or NULL for the defaults */
  server_start (f, data);
  /* The folder of the key the server generated at its first start. */
  g_free (server_key_path);
  server_key_path = g_strdup (f->keys);

  /* A clean keyring for this server. Not in a subprocess: some of them
   * must not reach the session bus before they cut it off. */
  if (!g_test_subprocess ())
    {
      TesseraEngine *engine = engine_new_at (f->url, NULL);
      forget_keys (engine);
      tessera_engine_unref (engine);
    }
}

static inline void
fixture_teardown (Fixture *f, gconstpointer data)
{
  server_stop (f);
  g_free (server_key_path);
  server_key_path = g_strdup (default_server_key_path);
  char *log = NULL;
  if (g_file_get_contents (f->log, &log, NULL, NULL))
    g_assert_null (strstr (log, f->member_key));
  g_free (log);
  test_tmpdir_free (f->dir);
  g_free (f->db);
  g_free (f->keys);
  g_free (f->log);
  g_free (f->url);
  g_free (f->owner_id);
  g_free (f->member_id);
  g_free (f->member_key);
  g_free (f->member_key_id);
  g_free (f->floating_pool);
  g_free (f->nl_pool);
}

/* Without a Secret Service the keyring cases cannot run: start one. */
static inline void
reexec_with_keyring (char **argv)
{
  const char *src = g_getenv ("TESSERA_TEST_SRCDIR");
  if (g_getenv ("TESSERA_TEST_KEYRING") != NULL || src == NULL)
    return;
  g_autofree char *wrapper = g_build_filename (src, "tests", "with-keyring.sh", NULL);
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_strv_builder_add_many (b, "sh", wrapper, self != NULL ? self : argv[0], NULL);
  for (int i = 1; argv[i] != NULL; i++)
    g_strv_builder_add (b, argv[i]);
  g_auto (GStrv) args = g_strv_builder_end (b);
  execvp ("sh", args);
  g_printerr ("cannot run %s: %s\n", wrapper, g_strerror (errno));
  exit (1);
}

/* Starts the program: under tests/with-keyring.sh if it was not; GTest;
 * a key no server signs with, for engines made without a fixture server;
 * none of the user's TESSERA_* settings. Returns the folder of that key,
 * for testops_util_finish(). */
static inline char *
testops_util_init (int *argc, char ***argv)
{
  reexec_with_keyring (*argv);
  g_test_init (argc, argv, NULL);
  TesseraSigningKey *nobody = tessera_signing_key_generate ();
  g_autofree char *nobody_pub = tessera_signing_key_dup_public (nobody);
  tessera_signing_key_unref (nobody);
  char *key_dir = g_dir_make_tmp ("tessera-testops-key-XXXXXX", NULL);
  g_assert_nonnull (key_dir);
  g_assert_cmpint (g_chmod (key_dir, 0755), ==, 0); /* read by tests running as nobody */
  default_server_key_path = test_write_file (key_dir, "nobody.pub", nobody_pub);
  server_key_path = g_strdup (default_server_key_path);
  g_unsetenv ("TESSERA_API_KEY");
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_CONFIG");
  return key_dir;
}

/* Removes what testops_util_init() made, and frees @key_dir. */
static inline void
testops_util_finish (char *key_dir)
{
  g_unlink (default_server_key_path);
  g_rmdir (key_dir);
  g_free (key_dir);
  g_free (default_server_key_path);
  g_free (server_key_path);
}

/* Registers /testops/@name: @func on a Fixture, @data (extra server
 * arguments, or NULL) given to fixture_setup() too. */
#define TESTOPS_ADD(name, func, data)                                                              \
  g_test_add ("/testops/" name, Fixture, data, fixture_setup, func, fixture_teardown)
