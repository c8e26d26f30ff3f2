/* The online provider (plugins/testops) activating against the real
 * tessera-server: the flow, keys from options and the environment,
 * authentication, quota and waiting for a seat, organizations, bad
 * configurations, falling back to the offline provider, and the wire seen
 * through a proxy (a lost answer retried with its nonce, a 5xx answer).
 * The fixture is tests/testops-util.h. */
#include "testops-util.h"

#include <sqlite3.h>

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
  /* Informational: this host's name and OS, as the server lists them on
   * the session and the machine (docs/protocol.md, "Client information"). */
  g_autofree char *os = g_get_os_info (G_OS_INFO_KEY_PRETTY_NAME);
  g_assert_cmpstr (s->hostname, ==, g_get_host_name ());
  if (os != NULL)
    g_assert_cmpstr (s->os, ==, os);
  else
    g_assert_nonnull (s->os);
  g_ptr_array_unref (list);
  list = ts_store_list_machines (store, f->owner_id, "acme", f->floating_pool, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpstr (((TsMachine *) list->pdata[0])->hostname, ==, g_get_host_name ());
  g_ptr_array_unref (list);
  ts_store_close (store);

  /* The machine was registered with its components, each keyed with the
   * organization asked for (none here: ""), never the plain digests. */
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  g_auto (GStrv) names = tessera_fingerprint_dup_components (fp);
  g_assert_true (g_strv_contains ((const char *const *) names, "user"));
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *scoped = tessera_fingerprint_dup_scoped_digest (fp, names[i], "");
      g_autofree char *sql = g_strdup_printf (
          "SELECT count(*) FROM machines WHERE machine_id = '%s' AND components LIKE '%%%s=%s%%'"
          " AND components NOT LIKE '%%%s%%'",
          machine, names[i], scoped, tessera_fingerprint_get_component_digest (fp, names[i]));
      sqlite3 *db = NULL;
      sqlite3_stmt *stmt = NULL;
      g_assert_cmpint (sqlite3_open_v2 (f->db, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
      g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
      g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
      g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, 1);
      sqlite3_finalize (stmt);
      sqlite3_close (db);
    }

  /* Sending them changed neither the machine ID nor the fingerprint it
   * comes from: neither has a host name or OS component. */
  g_assert_cmpstr (tessera_fingerprint_get_id (fp), ==, machine);
  g_assert_false (g_strv_contains ((const char *const *) names, "hostname"));
  g_assert_false (g_strv_contains ((const char *const *) names, "os"));

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
  g_assert_null (strstr (error->message, "within"));
  g_clear_error (&error);

  /* waiting a second for a seat nobody frees */
  tessera_activate_options_set (o, TESSERA_OPTION_WAIT_TIMEOUT, "1");
  second = activate (engine, o, &error);
  g_assert_null (second);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  /* It waited and gave up (the plain refusal above names no wait). */
  g_assert_nonnull (strstr (error->message, "within 1 seconds"));
  g_clear_error (&error);

  /* a bad wait-timeout */
  tessera_activate_options_set (o, TESSERA_OPTION_WAIT_TIMEOUT, "soon");
  second = activate (engine, o, &error);
  g_assert_null (second);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (tessera_license_release (first, NULL, &error));
  g_assert_no_error (error);
}

static gint releasing;

static gpointer
release_later (gpointer data)
{
  g_usleep (1500 * 1000);
  GError *error = NULL;
  g_atomic_int_set (&releasing, 1);
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

  g_atomic_int_set (&releasing, 0);
  GThread *t = g_thread_new ("releaser", release_later, first);
  tessera_activate_options_set (o, TESSERA_OPTION_WAIT_TIMEOUT, "60");
  g_autoptr (TesseraLicense) second = activate (engine, o, &error);
  g_assert_no_error (error);
  /* The seat it got is the one the releaser gave back: it waited for it. */
  g_assert_cmpint (g_atomic_int_get (&releasing), ==, 1);
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
  TesseraLicense *none = tessera_engine_activate (waiting, "KRE", plain, cancel, &error);
  g_assert_null (none);
  /* Cancelled, not the 60 s wait run out (that is QUOTA_EXCEEDED). */
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
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
  /* the list once, and the flag and the config key that choose */
  g_assert_null (strstr (strstr (error->message, "beta (Beta Corp)") + 1, "beta (Beta Corp)"));
  g_assert_null (strstr (strstr (error->message, "acme (Acme)") + 1, "acme (Acme)"));
  g_assert_nonnull (strstr (error->message, "--org-id ORG, or org-id=ORG in [provider:testops]"));
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
          GString *req = server_util_read_message (cin, p->cancel, &body);
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
          GString *resp = server_util_read_message (
              g_io_stream_get_input_stream (G_IO_STREAM (server)), p->cancel, NULL);
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

int
main (int argc, char **argv)
{
  char *key_dir = testops_util_init (&argc, &argv);
  TESTOPS_ADD ("flow", test_flow, NULL);
  TESTOPS_ADD ("env-key", test_env_key, NULL);
  TESTOPS_ADD ("auth", test_auth, NULL);
  TESTOPS_ADD ("quota", test_quota, NULL);
  TESTOPS_ADD ("wait-for-seat", test_wait_for_seat, NULL);
  TESTOPS_ADD ("org-required", test_org_required, NULL);
  TESTOPS_ADD ("bad-config", test_bad_config, NULL);
  TESTOPS_ADD ("nonce-retry", test_nonce_retry, NULL);
  TESTOPS_ADD ("unavailable", test_unavailable, NULL);
  TESTOPS_ADD ("fallback-offline", test_fallback_offline, NULL);
  int status = g_test_run ();
  testops_util_finish (key_dir);
  return status;
}
