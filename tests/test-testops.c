/* The online provider (plugins/testops) against the real tessera-server
 * ($TESSERA_SERVER) on 127.0.0.1, port 0, with a temporary SQLite file
 * bootstrapped and inspected through the store API (server/store.h), and a
 * real Secret Service: the program runs under tests/with-keyring.sh
 * (gnome-keyring-daemon on a private D-Bus bus), re-executing itself
 * through it when started without. */
#include "server-util.h"
#include "test-util.h"

/* The server's public key(s) the plugin trusts (server-key): the running
 * fixture server's key folder, else a key of no server (set in main). */
static char *server_key_path;
static char *default_server_key_path;

static TesseraEngine *engine_new_at (const char *url, const char *extra);
static guint forget_keys (TesseraEngine *engine);

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

static TsStore *
store_open (Fixture *f)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  return store;
}

/* ---------------------------------------------------------------- server */

/* As in test-server: no leak check in the spawned server (GnuTLS). */
static void
server_start (Fixture *f, const char *const *extra)
{
  f->proc = server_util_spawn (f->db, f->keys, f->log, extra, TRUE, &f->url);
}

static void
server_kill (Fixture *f)
{
  if (f->proc == NULL)
    return;
  g_subprocess_send_signal (f->proc, SIGKILL);
  g_subprocess_wait (f->proc, NULL, NULL);
  g_clear_object (&f->proc);
}

static void
server_stop (Fixture *f)
{
  if (f->proc == NULL)
    return;
  server_util_terminate (f->proc);
  g_clear_object (&f->proc);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = test_tmpdir_new ();
  f->db = g_build_filename (f->dir, "tessera.db", NULL);
  f->keys = g_build_filename (f->dir, "keys", NULL);
  f->log = g_build_filename (f->dir, "server.log", NULL);

  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = store_open (f);
  f->owner_id = ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", now, &error);
  g_assert_no_error (error);
  f->member_id
      = ts_store_set_member (store, NULL, "acme", "member@acme.test", TS_ROLE_MEMBER, now, &error);
  g_assert_no_error (error);
  f->member_key
      = ts_store_create_api_key (store, f->member_id, "test", now, &f->member_key_id, &error);
  g_assert_no_error (error);
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

static void
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

/* ---------------------------------------------------------------- client */

/* Every [provider:testops] section gets server-key= unless it names its own
 * (or says "#no-server-key"): what each test checks is then its own error,
 * never a missing key. */
static TesseraEngine *
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
static TesseraEngine *
engine_new_at (const char *url, const char *extra)
{
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=testops\n[provider:testops]\nserver=%s\n%s%s", url,
      g_str_has_prefix (url, "http:") ? "allow-http=true\n" : "", extra ? extra : "");
  return engine_with (config);
}

/* An engine on the fixture's server; @extra: more lines of [provider:testops]. */
static TesseraEngine *
engine_new (Fixture *f, const char *extra)
{
  return engine_new_at (f->url, extra);
}

/* Forgets the keys the engine's testops cached; returns how many. */
static guint
forget_keys (TesseraEngine *engine)
{
  GError *error = NULL;
  guint n = 99;
  g_assert_true (tessera_engine_forget_credentials (engine, "testops", &n, &error));
  g_assert_no_error (error);
  return n;
}

static TesseraActivateOptions *
options_with_key (const char *key)
{
  TesseraActivateOptions *o = tessera_activate_options_new ();
  if (key != NULL)
    tessera_activate_options_set (o, TESSERA_OPTION_API_KEY, key);
  return o;
}

static TesseraLicense *
activate (TesseraEngine *engine, TesseraActivateOptions *o, GError **error)
{
  return tessera_engine_activate (engine, "KRE", o, NULL, error);
}

static guint
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

typedef struct
{
  GError *reason;
  GThread *thread;
} Invalidated;

static void
on_invalidated (TesseraLicense *license, const GError *reason, gpointer data)
{
  Invalidated *inv = data;
  g_assert_null (inv->reason);
  inv->reason = g_error_copy (reason);
  inv->thread = g_thread_self ();
}

/* Iterates the default main context until the handler ran or @seconds passed. */
static void
wait_invalidated (Invalidated *inv, int seconds)
{
  gint64 end = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;
  while (inv->reason == NULL && g_get_monotonic_time () < end)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (20 * 1000);
    }
}

/* ---------------------------------------------------------------- tests */

static void
test_flow (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  GError *error = NULL;
  g_autoptr (TesseraLicense) license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "testops");
  g_assert_cmpstr (tessera_license_get_product (license), ==, "KRE");
  g_assert_cmpstr (tessera_license_get_org (license), ==, "acme");
  g_assert_cmpint (tessera_license_get_kind (license), ==, TESSERA_LICENSE_KIND_FLOATING);
  g_autofree char *machine = tessera_engine_dup_machine_id (engine, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_machine_id (license), ==, machine);
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, f->url);
  g_assert_nonnull (tessera_license_get_attribute (license, "testops.session-id"));
  g_assert_cmpint (tessera_license_get_expires_at (license), >, now_s ());

  /* the session, as the server's store sees it */
  TsStore *store = store_open (f);
  GPtrArray *list
      = ts_store_list_sessions (store, f->owner_id, "acme", f->floating_pool, now_s (), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  TsSession *s = list->pdata[0];
  g_assert_cmpstr (s->id, ==, tessera_license_get_attribute (license, "testops.session-id"));
  g_assert_cmpstr (s->machine_id, ==, machine);
  g_assert_cmpstr (s->user_id, ==, f->member_id);
  g_ptr_array_unref (list);
  ts_store_close (store);

  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);

  /* the seat is free again */
  g_autoptr (TesseraLicense) again = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (again, NULL, &error));
  g_assert_no_error (error);
}

static void
test_env_key (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_setenv ("TESSERA_API_KEY", f->member_key, TRUE);
  GError *error = NULL;
  g_autoptr (TesseraLicense) license = activate (engine, NULL, &error);
  g_unsetenv ("TESSERA_API_KEY");
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
}

static void
test_auth (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  GError *error = NULL;
  g_autoptr (TesseraActivateOptions) wrong
      = options_with_key ("tsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  TesseraLicense *license = activate (engine, wrong, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, f->url));
  g_clear_error (&error);

  license = activate (engine, NULL, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "api-key"));
  g_assert_nonnull (strstr (error->message, "TESSERA_API_KEY"));
  g_clear_error (&error);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
}

static void
test_quota (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  GError *error = NULL;
  g_autoptr (TesseraLicense) first = activate (engine, o, &error);
  g_assert_no_error (error);
  TesseraLicense *second = activate (engine, o, &error);
  g_assert_null (second);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);

  /* waiting a second for a seat nobody frees */
  tessera_activate_options_set (o, TESSERA_OPTION_WAIT_TIMEOUT, "1");
  gint64 start = g_get_monotonic_time ();
  second = activate (engine, o, &error);
  g_assert_null (second);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "within 1 seconds"));
  g_clear_error (&error);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);

  /* a bad wait-timeout */
  tessera_activate_options_set (o, TESSERA_OPTION_WAIT_TIMEOUT, "soon");
  second = activate (engine, o, &error);
  g_assert_null (second);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (tessera_license_release (first, NULL, &error));
  g_assert_no_error (error);
}

static gpointer
release_later (gpointer data)
{
  g_usleep (1500 * 1000);
  GError *error = NULL;
  g_assert_true (tessera_license_release (data, NULL, &error));
  g_assert_no_error (error);
  return NULL;
}

static gpointer
cancel_later (gpointer data)
{
  g_usleep (800 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_wait_for_seat (Fixture *f, gconstpointer data)
{
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  GError *error = NULL;
  g_autoptr (TesseraLicense) first = activate (engine, o, &error);
  g_assert_no_error (error);

  GThread *t = g_thread_new ("releaser", release_later, first);
  tessera_activate_options_set (o, TESSERA_OPTION_WAIT_TIMEOUT, "20");
  gint64 start = g_get_monotonic_time ();
  g_autoptr (TesseraLicense) second = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC);
  g_thread_join (t);
  g_assert_true (tessera_license_release (second, NULL, &error));
  g_assert_no_error (error);

  /* the same from the config's wait-seconds, cancelled by the caller */
  g_autoptr (TesseraEngine) waiting = engine_new (f, "wait-seconds=60\n");
  g_autoptr (TesseraActivateOptions) plain = options_with_key (f->member_key);
  g_autoptr (TesseraLicense) held = activate (waiting, plain, &error);
  g_assert_no_error (error);
  GCancellable *cancel = g_cancellable_new ();
  GThread *canceller = g_thread_new ("canceller", cancel_later, cancel);
  start = g_get_monotonic_time ();
  TesseraLicense *none = tessera_engine_activate (waiting, "KRE", plain, cancel, &error);
  g_assert_null (none);
  g_assert_nonnull (error);
  g_test_message ("cancelled: %s", error->message);
  g_clear_error (&error);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_thread_join (canceller);
  g_object_unref (cancel);
  g_assert_true (tessera_license_release (held, NULL, &error));
  g_assert_no_error (error);
}

static void
test_org_required (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  TsStore *store = store_open (f);
  gint64 now = now_s ();
  g_free (ts_store_bootstrap_org (store, "beta", "Beta Corp", "owner@beta.test", now, &error));
  g_assert_no_error (error);
  TsPool *p = ts_store_create_pool (store, NULL, "beta", "KRE", "floating", "annual", 3,
                                    now + 365 * DAY, now, &error);
  g_assert_no_error (error);
  ts_pool_free (p);
  g_free (
      ts_store_set_member (store, NULL, "beta", "member@acme.test", TS_ROLE_MEMBER, now, &error));
  g_assert_no_error (error);
  ts_store_close (store);

  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  TesseraLicense *license = activate (engine, o, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_ORG_REQUIRED);
  g_assert_nonnull (strstr (error->message, "acme (Acme)"));
  g_assert_nonnull (strstr (error->message, "beta (Beta Corp)"));
  g_assert_nonnull (strstr (error->message, "org-id"));
  g_clear_error (&error);

  /* the option */
  tessera_activate_options_set (o, TESSERA_OPTION_ORG_ID, "beta");
  license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_org (license), ==, "beta");
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);

  /* the config */
  g_autoptr (TesseraEngine) configured = engine_new (f, "org-id=acme\n");
  g_autoptr (TesseraActivateOptions) plain = options_with_key (f->member_key);
  license = activate (configured, plain, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_org (license), ==, "acme");
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
}

static const char *const short_lease[] = { "--lease", "5", "--reap-interval", "1", NULL };

static void
test_revoke (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  TsStore *store = store_open (f);
  g_assert_true (
      ts_store_grant (store, f->owner_id, "acme", f->nl_pool, f->member_id, now_s (), &error));
  g_assert_no_error (error);
  ts_store_close (store);

  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_autoptr (TesseraLicense) license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_cmpint (tessera_license_get_kind (license), ==, TESSERA_LICENSE_KIND_NODE_LOCKED);
  Invalidated inv = { 0 };
  tessera_license_add_invalidated_handler (license, on_invalidated, &inv, NULL);

  store = store_open (f);
  g_assert_true (ts_store_revoke_grant (store, f->owner_id, "acme", f->nl_pool, f->member_id,
                                        now_s (), &error));
  g_assert_no_error (error);
  ts_store_close (store);

  /* the heartbeat (every lease/3 = 1.7 s) learns it */
  wait_invalidated (&inv, 10);
  g_assert_error (inv.reason, TESSERA_ERROR, TESSERA_ERROR_REVOKED);
  g_assert_true (inv.thread == g_thread_self ());
  g_assert_false (tessera_license_is_held (license));
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_clear_error (&inv.reason);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
}

static void
test_force_release (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_autoptr (TesseraLicense) license = activate (engine, o, &error);
  g_assert_no_error (error);
  TsStore *store = store_open (f);
  g_assert_true (ts_store_force_release (
      store, f->owner_id, "acme", f->floating_pool,
      tessera_license_get_attribute (license, "testops.session-id"), now_s (), &error));
  g_assert_no_error (error);
  ts_store_close (store);
  /* validate is a synchronous heartbeat: no grace for an ended session */
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
  g_clear_error (&error);
  g_assert_false (tessera_license_is_held (license));
}

/* The API key is revoked mid-session: validate answers `auth` and the
 * license is invalidated, though `auth` alone is no terminal code. */
static void
test_key_revoked (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_autoptr (TesseraLicense) license = activate (engine, o, &error);
  g_assert_no_error (error);
  TsStore *store = store_open (f);
  g_assert_true (ts_store_revoke_api_key (store, f->member_id, f->member_key_id, now_s (), &error));
  g_assert_no_error (error);
  ts_store_close (store);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  g_assert_false (tessera_license_is_held (license));
  /* release cannot authenticate either, but the session is over: no error */
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
}

static void
test_server_killed (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, "grace-seconds=1\n");
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_autoptr (TesseraLicense) license = activate (engine, o, &error);
  g_assert_no_error (error);
  Invalidated inv = { 0 };
  tessera_license_add_invalidated_handler (license, on_invalidated, &inv, NULL);
  gint64 killed = g_get_monotonic_time ();
  server_kill (f);

  /* within the lease: the last known state */
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);

  /* lease 5 s + grace 1 s, then the heartbeat thread gives up */
  wait_invalidated (&inv, 15);
  g_assert_error (inv.reason, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_assert_nonnull (strstr (inv.reason->message, "grace ran out"));
  g_assert_cmpint (g_get_monotonic_time () - killed, >=, 5 * G_USEC_PER_SEC);
  g_clear_error (&inv.reason);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  /* the server is gone: release cannot tell it */
  g_assert_false (tessera_license_release (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_clear_error (&error);
}

/* The heartbeat keeps a license alive past several leases. */
static void
test_heartbeat (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_autoptr (TesseraLicense) license = activate (engine, o, &error);
  g_assert_no_error (error);
  Invalidated inv = { 0 };
  tessera_license_add_invalidated_handler (license, on_invalidated, &inv, NULL);
  wait_invalidated (&inv, 8);
  g_assert_null (inv.reason);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  /* dropping the last reference releases the seat and stops the thread */
  g_clear_pointer (&license, tessera_license_unref);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
}

static gboolean
run_openssl (const char *cmd)
{
  int status = 0;
  char *out = NULL, *err = NULL;
  gboolean ok = g_spawn_command_line_sync (cmd, &out, &err, &status, NULL) && status == 0;
  if (!ok)
    g_test_message ("%s: %s", cmd, err ? err : "");
  g_free (out);
  g_free (err);
  return ok;
}

/* Under AddressSanitizer, the TLS test runs in a child process without the
 * leak check: LeakSanitizer's tracer can crash at exit over GnuTLS
 * (glib-networking) state, as test-server notes for the server. Returns
 * TRUE if it ran there. */
static gboolean
tls_in_child (void)
{
  const char *asan = g_getenv ("ASAN_OPTIONS");
  if (asan == NULL || g_getenv ("TESSERA_TEST_TLS_CHILD") != NULL)
    return FALSE;
  GError *error = NULL;
  g_autofree char *self = g_file_read_link ("/proc/self/exe", &error);
  g_assert_no_error (error);
  g_autofree char *opts = g_strdup_printf ("%s:detect_leaks=0", asan);
  GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_setenv (l, "ASAN_OPTIONS", opts, TRUE);
  g_subprocess_launcher_setenv (l, "TESSERA_TEST_TLS_CHILD", "1", TRUE);
  GSubprocess *child = g_subprocess_launcher_spawn (l, &error, self, "-p", "/testops/tls", NULL);
  g_assert_no_error (error);
  g_subprocess_wait_check (child, NULL, &error);
  g_assert_no_error (error);
  g_object_unref (child);
  g_object_unref (l);
  return TRUE;
}

static void
test_tls (Fixture *f, gconstpointer data)
{
  if (tls_in_child ())
    return;
  server_stop (f);
  const char *d = f->dir;
  g_autofree char *cmd1 = g_strdup_printf (
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=TestCA -keyout %s/ca.key "
      "-out %s/ca.pem",
      d, d);
  g_autofree char *cmd2
      = g_strdup_printf ("openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "
                         "%s/server.key -out %s/server.csr",
                         d, d);
  g_autofree char *ext = test_write_file (d, "ext.cnf", "subjectAltName=IP:127.0.0.1\n");
  g_autofree char *cmd3 = g_strdup_printf (
      "openssl x509 -req -in %s/server.csr -CA %s/ca.pem -CAkey %s/ca.key -CAcreateserial -days 2 "
      "-extfile %s -out %s/server.pem",
      d, d, d, ext, d);
  g_autofree char *cmd4 = g_strdup_printf (
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=OtherCA -keyout %s/other.key "
      "-out %s/other.pem",
      d, d);
  if (!run_openssl (cmd1) || !run_openssl (cmd2) || !run_openssl (cmd3) || !run_openssl (cmd4))
    {
      g_test_skip ("openssl cannot make certificates");
      return;
    }
  g_autofree char *cert = g_build_filename (d, "server.pem", NULL);
  g_autofree char *key = g_build_filename (d, "server.key", NULL);
  const char *const args[] = { "--tls-cert", cert, "--tls-key", key, NULL };
  server_start (f, args);
  g_assert_true (g_str_has_prefix (f->url, "https://127.0.0.1:"));

  GError *error = NULL;
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_autofree char *ca_line = g_strdup_printf ("ca-file=%s/ca.pem\n", d);
  g_autoptr (TesseraEngine) engine = engine_new (f, ca_line);
  g_autoptr (TesseraLicense) license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);

  /* a CA that did not sign the server's certificate */
  g_autofree char *other_line = g_strdup_printf ("ca-file=%s/other.pem\n", d);
  g_autoptr (TesseraEngine) other = engine_new (f, other_line);
  TesseraLicense *refused = activate (other, o, &error);
  g_assert_null (refused);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "TLS"));
  g_clear_error (&error);

  /* the system's CAs do not know the test CA either */
  g_autoptr (TesseraEngine) system = engine_new (f, NULL);
  refused = activate (system, o, &error);
  g_assert_null (refused);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_clear_error (&error);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
}

static void
test_bad_config (Fixture *f, gconstpointer data)
{
  g_autofree char *no_server = g_strdup ("[engine]\nproviders=testops\n[provider:testops]\n");
  const char *const bodies[] = {
    "server=%s\nallow-http=true\napi-key=tsk_x\n",            /* never a key in config */
    "server=%s\nallow-http=true\ngrace-seconds=-1\n",         /* out of range */
    "server=%s\nallow-http=true\ntimeout-seconds=x\n",        /* not a number */
    "server=%s\nallow-http=maybe\n",                          /* not a boolean */
    "server=%s\n",                                            /* http without allow-http */
    "server=ftp://127.0.0.1/\n",                              /* scheme */
    "server=http://licenses.example.com/\nallow-http=true\n", /* http off loopback */
    "server=%s\nallow-http=true\nca-file=/nonexistent/ca.pem\n",
    "server=%s\nallow-http=true\norg-id=\n",
    "server=%s\nallow-http=true\nkey-storage=sometimes\n",  /* keyring or env-only */
    "server=%s\nallow-http=true\nstate-dir=relative/dir\n", /* relative, config in memory */
    "server=%s\nallow-http=true\n#no-server-key\n",         /* answers could not be checked */
    "server=%s\nallow-http=true\nserver-key=/nonexistent/server.pub\n",
    "server=%s\nallow-http=true\nserver-key=relative.pub\n", /* relative, config in memory */
  };
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  for (guint i = 0; i <= G_N_ELEMENTS (bodies); i++)
    {
      g_autofree char *config = NULL;
      if (i == G_N_ELEMENTS (bodies))
        config = g_strdup (no_server);
      else
        {
          g_autofree char *section = g_strdup (bodies[i]);
          char *at = strstr (section, "%s");
          if (at != NULL)
            {
              *at = '\0';
              config = g_strconcat (no_server, section, f->url, at + 2, NULL);
            }
          else
            config = g_strconcat (no_server, section, NULL);
        }
      g_autoptr (TesseraEngine) engine = engine_with (config);
      GError *error = NULL;
      TesseraLicense *license = activate (engine, o, &error);
      g_assert_null (license);
      g_test_message ("%u: %s", i, error->message);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
      g_clear_error (&error);
    }
  /* localhost is loopback too (no server there: a network error, not a config one) */
  g_autofree char *local
      = g_strdup_printf ("%sserver=http://localhost:1\nallow-http=true\n", no_server);
  g_autoptr (TesseraEngine) engine = engine_with (local);
  GError *error = NULL;
  g_assert_null (activate (engine, o, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "http://localhost:1"));
  g_clear_error (&error);
}

/* testops first, offline second: with the server down, the offline file
 * grants, and the report says why testops did not. */
static void
test_fallback_offline (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) probe = engine_with ("[engine]\nproviders=testops\n");
  g_autofree char *machine = tessera_engine_dup_machine_id (probe, &error);
  g_assert_no_error (error);

  TesseraSigningKey *key = tessera_signing_key_generate ();
  g_autofree char *pub = tessera_signing_key_dup_public (key);
  g_autofree char *pub_path = test_write_file (f->dir, "issuer.pub", pub);
  TsStore *store = store_open (f);
  g_assert_true (
      ts_store_grant (store, f->owner_id, "acme", f->nl_pool, f->member_id, now_s (), &error));
  g_assert_no_error (error);
  TsOffline *off = ts_store_create_offline (store, f->owner_id, "acme", f->nl_pool, machine, NULL,
                                            key, now_s (), &error);
  g_assert_no_error (error);
  ts_store_close (store);
  g_autofree char *lic_dir = g_build_filename (f->dir, "licenses", NULL);
  g_autofree char *state_dir = g_build_filename (f->dir, "state", NULL);
  g_assert_cmpint (g_mkdir (lic_dir, 0755), ==, 0);
  g_autofree char *lic_path = g_build_filename (lic_dir, off->file_name, NULL);
  g_file_set_contents (lic_path, g_bytes_get_data (off->file, NULL),
                       (gssize) g_bytes_get_size (off->file), &error);
  g_assert_no_error (error);
  ts_offline_free (off);
  tessera_signing_key_unref (key);

  g_autofree char *url = g_strdup (f->url);
  server_stop (f);
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=testops;offline\n[provider:testops]\nserver=%s\nallow-http=true\n"
      "[provider:offline]\nlicense-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n",
      url, lic_dir, pub_path, state_dir);
  g_autoptr (TesseraEngine) engine = engine_with (config);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_autoptr (TesseraLicense) license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "offline");
  const char *report = tessera_license_get_activation_report (license);
  g_assert_nonnull (report);
  g_test_message ("report: %s", report);
  g_assert_nonnull (strstr (report, "testops"));
  g_assert_nonnull (strstr (report, "cannot reach the license server"));
  g_assert_nonnull (strstr (report, url));
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
}

/* ---------------------------------------------------------------- keyring */

static const char no_key_message[] = "after a successful activation the system keyring keeps it";

/* The key given once is stored after the activation succeeded; the next
 * activation needs none; forget removes it and the next one fails. */
static void
test_keyring (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  TesseraLicense *license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);

  /* a new engine (as a new run would), no key given: the keyring's */
  g_autoptr (TesseraEngine) later = engine_new (f, NULL);
  license = activate (later, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_org (license), ==, "acme");
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);

  /* naming another org still finds the key stored for this server: the
   * server knows the user, who is no member there */
  g_autoptr (TesseraActivateOptions) beta = tessera_activate_options_new ();
  tessera_activate_options_set (beta, TESSERA_OPTION_ORG_ID, "beta");
  g_assert_null (activate (later, beta, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "not a member of organization beta"));
  g_clear_error (&error);

  /* forget: one key (the same key activating again stored nothing new) */
  g_assert_cmpuint (forget_keys (later), ==, 1);
  g_assert_cmpuint (forget_keys (later), ==, 0);
  g_assert_null (activate (later, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, f->url));
  g_assert_nonnull (strstr (error->message, "'api-key'"));
  g_assert_nonnull (strstr (error->message, "TESSERA_API_KEY"));
  g_assert_nonnull (strstr (error->message, no_key_message));
  g_clear_error (&error);

  /* forgetting is per server: another server's key stays */
  license = activate (later, o, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_autoptr (TesseraEngine) other = engine_new_at ("http://127.0.0.1:1", NULL);
  g_assert_cmpuint (forget_keys (other), ==, 0);
  g_assert_cmpuint (forget_keys (later), ==, 1);
}

/* A key the server refuses is never stored, and never replaces a good one. */
static void
test_keyring_wrong_key (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) wrong
      = options_with_key ("tsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  g_assert_null (activate (engine, wrong, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, f->url));
  g_clear_error (&error);
  g_assert_null (activate (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, no_key_message));
  g_clear_error (&error);
  g_assert_cmpuint (forget_keys (engine), ==, 0);

  /* a good key stored, then a wrong one given: the good one stays */
  g_autoptr (TesseraActivateOptions) good = options_with_key (f->member_key);
  TesseraLicense *license = activate (engine, good, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_null (activate (engine, wrong, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  license = activate (engine, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);

  /* the stored key is revoked: the error says where the key came from */
  TsStore *store = store_open (f);
  g_assert_true (ts_store_revoke_api_key (store, f->member_id, f->member_key_id, now_s (), &error));
  g_assert_no_error (error);
  ts_store_close (store);
  g_assert_null (activate (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "came from the system keyring"));
  g_clear_error (&error);
  g_assert_cmpuint (forget_keys (engine), ==, 1);
}

/* key-storage=env-only with a keyring at hand: the key works, nothing is
 * stored, and without a key it says env-only. */
static void
test_env_only (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, "key-storage=env-only\n");
  g_setenv ("TESSERA_API_KEY", f->member_key, TRUE);
  TesseraLicense *license = activate (engine, NULL, &error);
  g_unsetenv ("TESSERA_API_KEY");
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_null (activate (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "key-storage=env-only"));
  g_assert_nonnull (strstr (error->message, "TESSERA_API_KEY"));
  g_clear_error (&error);
  /* nothing in the keyring, as a keyring engine sees it */
  g_autoptr (TesseraEngine) keyring = engine_new (f, NULL);
  g_assert_cmpuint (forget_keys (keyring), ==, 0);
  g_assert_cmpuint (forget_keys (engine), ==, 0);
}

static const char no_service_message[] = "no Secret Service is reachable";

/* No session bus at all (a headless CI machine): the documented message,
 * no seat taken; env-only then works. In a subprocess, so that the bus is
 * cut off before anything in the process connected to it. */
static void
test_no_secret_service (Fixture *f, gconstpointer data)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }
  g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent", TRUE);
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_setenv ("TESSERA_API_KEY", f->member_key, TRUE);
  /* the key given either way: still refused, as it could not be kept */
  for (guint i = 0; i < 2; i++)
    {
      g_assert_null (activate (engine, i == 0 ? o : NULL, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, no_service_message));
      g_assert_nonnull (strstr (error->message, f->url));
      g_assert_nonnull (strstr (error->message, "key-storage=env-only"));
      g_assert_nonnull (strstr (error->message, "'api-key'"));
      g_assert_nonnull (strstr (error->message, "TESSERA_API_KEY"));
      g_clear_error (&error);
    }
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
  guint n = 99;
  g_assert_false (tessera_engine_forget_credentials (engine, "testops", &n, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, no_service_message));
  g_clear_error (&error);

  /* the explicit fallback */
  g_autoptr (TesseraEngine) env_only = engine_new (f, "key-storage=env-only\n");
  TesseraLicense *license = activate (env_only, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_cmpuint (forget_keys (env_only), ==, 0);
  g_unsetenv ("TESSERA_API_KEY");
}

/* A session bus with nobody owning org.freedesktop.secrets (and no
 * service files to start one): the same documented message. A bus of our
 * own in a subprocess, so that nothing else in the process sees it. */
static void
test_no_secrets_provider (Fixture *f, gconstpointer data)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }
  GError *error = NULL;
  /* The policy of tests/with-keyring.sh's bus: anyone may talk and own. */
  g_autofree char *conf_text = g_strdup_printf (
      "<busconfig><type>session</type><listen>unix:dir=%s</listen><auth>EXTERNAL</auth>"
      "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
      "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
      f->dir);
  g_autofree char *conf = test_write_file (f->dir, "bus.conf", conf_text);
  g_autofree char *config_arg = g_strdup_printf ("--config-file=%s", conf);
  /* It dies with this process, whatever happens to the test. */
  GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                      | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (l, server_util_die_with_parent, NULL, NULL);
  GSubprocess *bus = g_subprocess_launcher_spawn (l, &error, "dbus-daemon", config_arg, "--nofork",
                                                  "--print-address=1", NULL);
  g_assert_no_error (error);
  g_object_unref (l);
  GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (bus));
  g_autofree char *address = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (address);
  g_object_unref (in);
  g_setenv ("DBUS_SESSION_BUS_ADDRESS", address, TRUE);

  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  g_assert_null (activate (engine, o, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, no_service_message));
  g_assert_nonnull (strstr (error->message, "org.freedesktop.secrets"));
  g_assert_nonnull (strstr (error->message, "key-storage=env-only"));
  g_clear_error (&error);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
  g_subprocess_force_exit (bus);
  g_subprocess_wait (bus, NULL, NULL);
  g_object_unref (bus);
}

/* ---------------------------------------------------------------- persist */

static TesseraActivateOptions *
options_persist (const char *key)
{
  TesseraActivateOptions *o = options_with_key (key);
  tessera_activate_options_set (o, TESSERA_OPTION_PERSIST, "true");
  return o;
}

static guint
count_records (const char *dir)
{
  guint n = 0;
  GDir *d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return 0;
  for (const char *name = g_dir_read_name (d); name != NULL; name = g_dir_read_name (d))
    if (g_str_has_suffix (name, ".session"))
      n++;
  g_dir_close (d);
  return n;
}

static GPtrArray *
list_licenses (TesseraEngine *engine, const char *product)
{
  GError *error = NULL;
  GPtrArray *list = tessera_engine_list_licenses (engine, product, &error);
  g_assert_no_error (error);
  g_assert_nonnull (list);
  return list;
}

/* persist: the session outlives the license object; a new engine lists it
 * (no key given: the keyring's), validates it and releases it. */
static void
test_persist (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autofree char *state = g_build_filename (f->dir, "state", "tessera", NULL);
  g_autofree char *line = g_strdup_printf ("state-dir=%s\n", state);
  g_autoptr (TesseraEngine) engine = engine_new (f, line);
  g_autoptr (TesseraActivateOptions) o = options_persist (f->member_key);
  TesseraLicense *license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_PERSISTENT);
  g_autofree char *session
      = g_strdup (tessera_license_get_attribute (license, "testops.session-id"));
  g_autofree char *license_id = g_strdup (tessera_license_get_id (license));

  /* the record: 0600 in a 0700 folder, the session but never the key */
  g_autofree char *name = g_strdup_printf ("testops-%s.session", session);
  g_autofree char *path = g_build_filename (state, name, NULL);
  GStatBuf st;
  g_assert_cmpint (g_stat (state, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, session));
  g_assert_nonnull (strstr (contents, f->url));
  g_assert_nonnull (strstr (contents, "org=acme"));
  g_assert_nonnull (strstr (contents, "lease-expires-at="));
  g_assert_null (strstr (contents, f->member_key));
  g_assert_null (strstr (contents, "tsk_"));

  /* the last reference goes: the seat stays taken */
  tessera_license_unref (license);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);

  /* a later process: a new engine, no key given */
  g_autoptr (TesseraEngine) later = engine_new (f, line);
  g_autoptr (GPtrArray) none = list_licenses (later, "KSE");
  g_assert_cmpuint (none->len, ==, 0);
  g_autoptr (TesseraEngine) elsewhere = engine_new_at ("http://127.0.0.1:1", line);
  g_autoptr (GPtrArray) other = list_licenses (elsewhere, NULL);
  g_assert_cmpuint (other->len, ==, 0); /* another server's records are not ours */
  g_autoptr (GPtrArray) list = list_licenses (later, NULL);
  g_assert_cmpuint (list->len, ==, 1);
  TesseraLicense *listed = list->pdata[0];
  g_assert_cmpstr (tessera_license_get_provider (listed), ==, "testops");
  g_assert_cmpstr (tessera_license_get_product (listed), ==, "KRE");
  g_assert_cmpstr (tessera_license_get_org (listed), ==, "acme");
  g_assert_cmpstr (tessera_license_get_id (listed), ==, license_id);
  g_assert_cmpstr (tessera_license_get_attribute (listed, "testops.session-id"), ==, session);
  g_assert_true (tessera_license_get_flags (listed) & TESSERA_LICENSE_FLAG_PERSISTENT);
  g_assert_true (tessera_license_validate (listed, NULL, &error));
  g_assert_no_error (error);
  /* dropping a listed license releases nothing either */
  g_clear_pointer (&list, g_ptr_array_unref);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);

  list = list_licenses (later, "KRE");
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_true (tessera_license_release (list->pdata[0], NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_autoptr (GPtrArray) after = list_licenses (later, NULL);
  g_assert_cmpuint (after->len, ==, 0);

  /* released in the process that activated it: the record goes too */
  license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (count_records (state), ==, 1);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_cmpuint (count_records (state), ==, 0);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);

  /* a bad persist value */
  tessera_activate_options_set (o, TESSERA_OPTION_PERSIST, "forever");
  g_assert_null (activate (engine, o, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "persist"));
  g_clear_error (&error);
}

/* The server ended a recorded session: validate says why (the server's
 * reason) and the record goes; release is then no error. */
static void
test_persist_ended (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autofree char *state = g_build_filename (f->dir, "state", NULL);
  g_autofree char *line = g_strdup_printf ("state-dir=%s\n", state);
  g_autoptr (TesseraEngine) engine = engine_new (f, line);
  g_autoptr (TesseraActivateOptions) o = options_persist (f->member_key);
  TesseraLicense *license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_autofree char *session
      = g_strdup (tessera_license_get_attribute (license, "testops.session-id"));
  tessera_license_unref (license);
  TsStore *store = store_open (f);
  g_assert_true (ts_store_force_release (store, f->owner_id, "acme", f->floating_pool, session,
                                         now_s (), &error));
  g_assert_no_error (error);
  ts_store_close (store);

  g_autoptr (TesseraEngine) later = engine_new (f, line);
  g_autoptr (GPtrArray) list = list_licenses (later, NULL);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_false (tessera_license_validate (list->pdata[0], NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
  g_assert_nonnull (strstr (error->message, f->url));
  g_clear_error (&error);
  g_assert_cmpuint (count_records (state), ==, 0);
  g_assert_true (tessera_license_release (list->pdata[0], NULL, &error));
  g_assert_no_error (error);

  /* the server cannot be reached: release fails and the record stays */
  license = activate (engine, o, &error);
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_autoptr (GPtrArray) held = list_licenses (later, NULL);
  g_assert_cmpuint (held->len, ==, 1);
  server_kill (f);
  g_assert_false (tessera_license_release (held->pdata[0], NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_clear_error (&error);
  g_assert_cmpuint (count_records (state), ==, 1);
}

/* A state folder that is not the user's (tests run as root: the check runs
 * as nobody) or that others may write: refused before any seat is taken. */
static void
test_state_dir_refused (void)
{
  if (g_test_subprocess ())
    {
      const char *dir = g_getenv ("TESSERA_TEST_STATE_PARENT");
      test_drop_privileges ();
      g_assert_cmpuint (geteuid (), !=, 0);
      g_autofree char *foreign = g_build_filename (dir, "foreign", NULL);
      g_autofree char *locked = g_build_filename (dir, "locked", "tessera", NULL);
      const struct
      {
        const char *state;
        const char *message;
      } cases[] = {
        { foreign, "belongs to user 0, not to you" },
        { locked, "Permission denied" },
      };
      for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
        {
          g_autofree char *extra
              = g_strdup_printf ("key-storage=env-only\nstate-dir=%s\n", cases[i].state);
          g_autoptr (TesseraEngine) engine = engine_new_at ("http://127.0.0.1:1", extra);
          GError *error = NULL;
          g_assert_null (tessera_engine_list_licenses (engine, NULL, &error));
          g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
          g_test_message ("list: %s", error->message);
          g_assert_nonnull (strstr (error->message, cases[i].state));
          g_assert_nonnull (strstr (error->message, cases[i].message));
          g_clear_error (&error);
          /* activation stops there: the server (none at :1) is never asked */
          g_autoptr (TesseraActivateOptions) o = options_persist ("tsk_x");
          g_assert_null (activate (engine, o, &error));
          g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
          g_assert_nonnull (strstr (error->message, cases[i].message));
          g_clear_error (&error);
        }
      return;
    }

  char *dir = test_tmpdir_new ();
  /* writable by others: refused whoever runs it */
  g_autofree char *open_dir = g_build_filename (dir, "open", NULL);
  g_assert_cmpint (g_mkdir (open_dir, 0700), ==, 0);
  g_assert_cmpint (g_chmod (open_dir, 0777), ==, 0);
  g_autofree char *extra = g_strdup_printf ("key-storage=env-only\nstate-dir=%s\n", open_dir);
  g_autoptr (TesseraEngine) engine = engine_new_at ("http://127.0.0.1:1", extra);
  GError *error = NULL;
  g_assert_null (tessera_engine_list_licenses (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "can be written by other users"));
  g_clear_error (&error);

  if (geteuid () != 0)
    {
      test_tmpdir_free (dir);
      g_test_skip ("needs root to make a folder of another user");
      return;
    }
  g_autofree char *foreign = g_build_filename (dir, "foreign", NULL);
  g_autofree char *locked = g_build_filename (dir, "locked", NULL);
  g_assert_cmpint (g_mkdir (foreign, 0755), ==, 0);
  g_assert_cmpint (g_chmod (foreign, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (locked, 0700), ==, 0);
  g_setenv ("TESSERA_TEST_STATE_PARENT", dir, TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("TESSERA_TEST_STATE_PARENT");
  test_tmpdir_free (dir);
  g_test_trap_assert_passed ();
}

/* ---------------------------------------------------------------- a dropping proxy */

/* Forwards HTTP/1.1 requests to the server one connection at a time, but
 * closes the connection instead of answering the first /activate it
 * forwarded: the server did the work, the client never heard of it. */
typedef struct
{
  GSocketListener *listener;
  GCancellable *cancel;
  GThread *thread;
  char *target; /* host:port of the server */
  guint16 port;
  GMutex lock;
  GPtrArray *activations; /* request bodies of /activate, in order */
  const char *fixed;      /* if set: this whole answer to every request, no forwarding */
} Proxy;

/* Reads one HTTP message (headers, Content-Length body); NULL at EOF. */
static GString *
read_message (GInputStream *in, GCancellable *cancel, char **body_out)
{
  GString *msg = g_string_new (NULL);
  char c;
  while (!g_str_has_suffix (msg->str, "\r\n\r\n"))
    {
      if (g_input_stream_read (in, &c, 1, cancel, NULL) != 1)
        {
          g_string_free (msg, TRUE);
          return NULL;
        }
      g_string_append_c (msg, c);
    }
  gsize length = 0;
  g_autofree char *lower = g_ascii_strdown (msg->str, -1);
  const char *cl = strstr (lower, "\r\ncontent-length:");
  if (cl != NULL)
    length = g_ascii_strtoull (cl + strlen ("\r\ncontent-length:"), NULL, 10);
  gsize header_len = msg->len;
  g_string_set_size (msg, header_len + length);
  gsize got = 0;
  if (length > 0
      && (!g_input_stream_read_all (in, msg->str + header_len, length, &got, cancel, NULL)
          || got != length))
    {
      g_string_free (msg, TRUE);
      return NULL;
    }
  if (body_out != NULL)
    *body_out = g_strndup (msg->str + header_len, length);
  return msg;
}

static gpointer
proxy_thread (gpointer data)
{
  Proxy *p = data;
  gboolean dropped = FALSE;
  for (;;)
    {
      GSocketConnection *client = g_socket_listener_accept (p->listener, NULL, p->cancel, NULL);
      if (client == NULL)
        break;
      GSocketClient *sc = g_socket_client_new ();
      GSocketConnection *server
          = g_socket_client_connect_to_host (sc, p->target, 0, p->cancel, NULL);
      g_object_unref (sc);
      GInputStream *cin = g_io_stream_get_input_stream (G_IO_STREAM (client));
      GOutputStream *cout = g_io_stream_get_output_stream (G_IO_STREAM (client));
      for (;;)
        {
          char *body = NULL;
          GString *req = read_message (cin, p->cancel, &body);
          if (req == NULL || server == NULL)
            {
              if (req != NULL)
                g_string_free (req, TRUE);
              g_free (body);
              break;
            }
          if (p->fixed != NULL)
            {
              g_string_free (req, TRUE);
              g_free (body);
              g_output_stream_write_all (cout, p->fixed, strlen (p->fixed), NULL, p->cancel, NULL);
              continue;
            }
          gboolean activation = g_str_has_prefix (req->str, "POST /api/v1/activate ");
          if (activation)
            {
              g_mutex_lock (&p->lock);
              g_ptr_array_add (p->activations, g_strdup (body));
              g_mutex_unlock (&p->lock);
            }
          g_free (body);
          g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (server)), req->str,
                                     req->len, NULL, p->cancel, NULL);
          g_string_free (req, TRUE);
          GString *resp
              = read_message (g_io_stream_get_input_stream (G_IO_STREAM (server)), p->cancel, NULL);
          if (resp == NULL)
            break;
          if (activation && !dropped)
            {
              dropped = TRUE;
              g_string_free (resp, TRUE);
              break;
            }
          g_output_stream_write_all (cout, resp->str, resp->len, NULL, p->cancel, NULL);
          g_string_free (resp, TRUE);
        }
      g_io_stream_close (G_IO_STREAM (client), NULL, NULL);
      g_object_unref (client);
      if (server != NULL)
        {
          g_io_stream_close (G_IO_STREAM (server), NULL, NULL);
          g_object_unref (server);
        }
    }
  return NULL;
}

static Proxy *
proxy_start (const char *url, const char *fixed)
{
  Proxy *p = g_new0 (Proxy, 1);
  p->target = g_strdup (url + strlen ("http://"));
  p->cancel = g_cancellable_new ();
  p->fixed = fixed;
  p->activations = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&p->lock);
  p->listener = g_socket_listener_new ();
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *addr = g_inet_socket_address_new (lo, 0);
  GSocketAddress *effective = NULL;
  GError *error = NULL;
  g_socket_listener_add_address (p->listener, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  p->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_object_unref (effective);
  g_object_unref (addr);
  g_object_unref (lo);
  p->thread = g_thread_new ("proxy", proxy_thread, p);
  return p;
}

static void
proxy_free (Proxy *p)
{
  g_cancellable_cancel (p->cancel);
  g_thread_join (p->thread);
  g_socket_listener_close (p->listener);
  g_object_unref (p->listener);
  g_object_unref (p->cancel);
  g_ptr_array_unref (p->activations);
  g_mutex_clear (&p->lock);
  g_free (p->target);
  g_free (p);
}

/* The answer to an activation is lost: the plugin sends it again with the
 * same nonce and gets the same session, never a second seat (quota 1). */
static void
test_nonce_retry (Fixture *f, gconstpointer data)
{
  Proxy *p = proxy_start (f->url, NULL);
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=testops\n[provider:testops]\nserver=http://127.0.0.1:%u\n"
      "allow-http=true\n",
      p->port);
  g_autoptr (TesseraEngine) engine = engine_with (config);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  GError *error = NULL;
  TesseraLicense *license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_mutex_lock (&p->lock);
  g_assert_cmpuint (p->activations->len, ==, 2);
  g_assert_cmpstr (p->activations->pdata[0], ==, p->activations->pdata[1]);
  g_assert_nonnull (strstr (p->activations->pdata[0], "\"nonce\""));
  g_mutex_unlock (&p->lock);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);

  /* a new activation is a new nonce */
  license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_mutex_lock (&p->lock);
  g_assert_cmpuint (p->activations->len, ==, 3);
  g_assert_cmpstr (p->activations->pdata[2], !=, p->activations->pdata[0]);
  g_mutex_unlock (&p->lock);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  proxy_free (p);
}

/* A 5xx answer is `unavailable`, whatever its body says. */
static void
test_unavailable (Fixture *f, gconstpointer data)
{
  static const char answer[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 53\r\n\r\n"
                               "{\"error\":{\"code\":\"auth\",\"message\":\"database locked\"}}";
  g_assert_cmpuint (strlen (strstr (answer, "\r\n\r\n") + 4), ==, 53);
  Proxy *p = proxy_start (f->url, answer);
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=testops\n[provider:testops]\nserver=http://127.0.0.1:%u\n"
      "allow-http=true\n",
      p->port);
  g_autoptr (TesseraEngine) engine = engine_with (config);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  GError *error = NULL;
  g_assert_null (activate (engine, o, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "database locked"));
  g_assert_nonnull (strstr (error->message, "HTTP 503"));
  g_clear_error (&error);
  proxy_free (p);
}

/* Without a Secret Service the keyring cases cannot run: start one. */
static void
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

int
main (int argc, char **argv)
{
  reexec_with_keyring (argv);
  g_test_init (&argc, &argv, NULL);
  /* A key no server signs with, for engines made without a fixture server. */
  g_autoptr (TesseraSigningKey) nobody = tessera_signing_key_generate ();
  g_autofree char *nobody_pub = tessera_signing_key_dup_public (nobody);
  g_autofree char *key_dir = g_dir_make_tmp ("tessera-testops-key-XXXXXX", NULL);
  g_assert_nonnull (key_dir);
  g_assert_cmpint (g_chmod (key_dir, 0755), ==, 0); /* read by tests running as nobody */
  default_server_key_path = test_write_file (key_dir, "nobody.pub", nobody_pub);
  server_key_path = g_strdup (default_server_key_path);
  g_unsetenv ("TESSERA_API_KEY");
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_CONFIG");
#define ADD(name, func, data)                                                                      \
  g_test_add ("/testops/" name, Fixture, data, fixture_setup, func, fixture_teardown)
  ADD ("flow", test_flow, NULL);
  ADD ("env-key", test_env_key, NULL);
  ADD ("auth", test_auth, NULL);
  ADD ("quota", test_quota, NULL);
  ADD ("wait-for-seat", test_wait_for_seat, NULL);
  ADD ("org-required", test_org_required, NULL);
  ADD ("revoke", test_revoke, short_lease);
  ADD ("force-release", test_force_release, NULL);
  ADD ("key-revoked", test_key_revoked, NULL);
  ADD ("server-killed", test_server_killed, short_lease);
  ADD ("heartbeat", test_heartbeat, short_lease);
  ADD ("tls", test_tls, NULL);
  ADD ("bad-config", test_bad_config, NULL);
  ADD ("nonce-retry", test_nonce_retry, NULL);
  ADD ("unavailable", test_unavailable, NULL);
  ADD ("fallback-offline", test_fallback_offline, NULL);
  ADD ("keyring", test_keyring, NULL);
  ADD ("keyring-wrong-key", test_keyring_wrong_key, NULL);
  ADD ("env-only", test_env_only, NULL);
  ADD ("no-secret-service", test_no_secret_service, NULL);
  ADD ("no-secrets-provider", test_no_secrets_provider, NULL);
  ADD ("persist", test_persist, NULL);
  ADD ("persist-ended", test_persist_ended, NULL);
#undef ADD
  g_test_add_func ("/testops/state-dir-refused", test_state_dir_refused);
  int status = g_test_run ();
  g_unlink (default_server_key_path);
  g_rmdir (key_dir);
  g_free (default_server_key_path);
  g_free (server_key_path);
  return status;
}
