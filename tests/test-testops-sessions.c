/* A session the online provider holds on the real tessera-server, over its
 * life: revoked, force-released, its API key revoked, the server killed
 * (lease and grace), kept alive by the heartbeat; persisted sessions
 * outliving the process (persist), and the state folder they live in; and
 * the same over TLS. The fixture is tests/testops-util.h. */
#include "testops-util.h"

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
  wait_invalidated (&inv, 60);
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
  server_kill (f);

  /* within the lease: the last known state */
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);

  /* lease 5 s + grace 1 s, then the heartbeat thread gives up */
  wait_invalidated (&inv, 60);
  g_assert_error (inv.reason, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_assert_nonnull (strstr (inv.reason->message, "grace ran out"));
  /* Not before lease 5 s + grace 1 s of silence, by the plugin's own count
   * (which it states): a slow machine can only make that later. */
  const char *silent_at = strstr (inv.reason->message, " for ");
  g_assert_nonnull (silent_at);
  g_assert_cmpint (g_ascii_strtoll (silent_at + strlen (" for "), NULL, 10), >=, 5 + 1);
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
 * reason), and so does every later process, until release forgets it. */
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
  /* The record stays, marked ended: a later process says the same without
   * asking (issue 16), until release forgets it. */
  g_assert_cmpuint (count_records (state), ==, 1);
  g_autoptr (TesseraEngine) third = engine_new (f, line);
  g_autoptr (GPtrArray) again = list_licenses (third, NULL);
  g_assert_cmpuint (again->len, ==, 1);
  g_assert_false (tessera_license_validate (again->pdata[0], NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
  g_assert_nonnull (strstr (error->message, "force-released"));
  g_assert_nonnull (strstr (error->message, "activate again"));
  g_clear_error (&error);
  g_assert_true (tessera_license_release (again->pdata[0], NULL, &error));
  g_assert_no_error (error);
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

/* A record written before last-answer-at and the ended-* keys existed is
 * still read (its grace counts from the activation), validates, and gets
 * last-answer-at from that answer on. */
static void
test_persist_old_record (Fixture *f, gconstpointer data)
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
  g_autofree char *name = g_strdup_printf ("testops-%s.session", session);
  g_autofree char *path = g_build_filename (state, name, NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_autoptr (GRegex) re = g_regex_new ("^last-answer-at=.*\n", G_REGEX_MULTILINE, 0, NULL);
  g_autofree char *old = g_regex_replace_literal (re, text, -1, 0, "", 0, NULL);
  g_assert_null (strstr (old, "last-answer-at"));
  g_assert_true (g_file_set_contents (path, old, -1, NULL));

  g_autoptr (TesseraEngine) later = engine_new (f, line);
  g_autoptr (GPtrArray) list = list_licenses (later, NULL);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_true (tessera_license_validate (list->pdata[0], NULL, &error));
  g_assert_no_error (error);
  g_autofree char *after = NULL;
  g_assert_true (g_file_get_contents (path, &after, NULL, NULL));
  g_assert_nonnull (strstr (after, "last-answer-at="));
  g_assert_true (tessera_license_release (list->pdata[0], NULL, &error));
  g_assert_no_error (error);
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
  test_trap_unprivileged (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("TESSERA_TEST_STATE_PARENT");
  test_tmpdir_free (dir);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  char *key_dir = testops_util_init (&argc, &argv);
  TESTOPS_ADD ("revoke", test_revoke, short_lease);
  TESTOPS_ADD ("force-release", test_force_release, NULL);
  TESTOPS_ADD ("key-revoked", test_key_revoked, NULL);
  TESTOPS_ADD ("server-killed", test_server_killed, short_lease);
  TESTOPS_ADD ("heartbeat", test_heartbeat, short_lease);
  TESTOPS_ADD ("tls", test_tls, NULL);
  TESTOPS_ADD ("persist", test_persist, NULL);
  TESTOPS_ADD ("persist-ended", test_persist_ended, NULL);
  TESTOPS_ADD ("persist-old-record", test_persist_old_record, NULL);
  g_test_add_func ("/testops/state-dir-refused", test_state_dir_refused);
  int status = g_test_run ();
  testops_util_finish (key_dir);
  return status;
}
