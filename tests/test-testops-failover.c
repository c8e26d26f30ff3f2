/* The online provider (plugins/testops) with several servers: failover
 * (docs/testops.md, "Several servers"). One real tessera-server
 * ($TESSERA_SERVER) on 127.0.0.1 over a temporary SQLite file, inspected
 * through the store API; the "servers" the plugin is given are loopback
 * forwarders to it (tests/forwarder-util.h), which can be stopped, cut an
 * answer short, or answer for themselves. Keys are given on every run (key-storage=env-only), so no
 * keyring is needed. */
#include "forwarder-util.h"
#include "server-util.h"
#include "test-util.h"

static const char *const short_lease[] = { "--lease", "5", "--reap-interval", "1", NULL };

typedef struct
{
  char *dir;
  char *db;
  char *keys;
  char *log;
  char *state;
  GSubprocess *proc;
  char *url; /* http://127.0.0.1:PORT */
  char *owner_id;
  char *member_id, *member_key, *member_key_id;
  char *pool; /* acme KRE floating, quota 1 */
} Fixture;

static TsStore *
store_open (Fixture *f)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  return store;
}

/* @extra: server arguments (NULL-terminated), or NULL. */
static Fixture *
fixture_new (const char *const *extra)
{
  Fixture *f = g_new0 (Fixture, 1);
  f->dir = test_tmpdir_new ();
  f->db = g_build_filename (f->dir, "tessera.db", NULL);
  f->keys = g_build_filename (f->dir, "keys", NULL);
  f->log = g_build_filename (f->dir, "server.log", NULL);
  f->state = g_build_filename (f->dir, "state", NULL);
  gint64 now = now_s ();
  TsStore *store = store_open (f);
  f->member_key
      = server_util_seed_member (store, now, &f->owner_id, &f->member_id, &f->member_key_id);
  f->pool = server_util_create_pool (store, "floating", 1, now);
  ts_store_close (store);
  /* As in test-testops: no leak check in the spawned server (GnuTLS). */
  f->proc = server_util_spawn (f->db, f->keys, f->log, extra, TRUE, &f->url);
  return f;
}

static void
fixture_free (Fixture *f)
{
  server_util_terminate (f->proc);
  g_object_unref (f->proc);
  test_tmpdir_free (f->dir);
  g_free (f->db);
  g_free (f->keys);
  g_free (f->log);
  g_free (f->state);
  g_free (f->url);
  g_free (f->owner_id);
  g_free (f->member_id);
  g_free (f->member_key);
  g_free (f->member_key_id);
  g_free (f->pool);
  g_free (f);
}

static guint
count_sessions (Fixture *f)
{
  TsStore *store = store_open (f);
  GError *error = NULL;
  GPtrArray *list = ts_store_list_sessions (store, f->owner_id, "acme", f->pool, now_s (), &error);
  g_assert_no_error (error);
  guint n = list->len;
  g_ptr_array_unref (list);
  ts_store_close (store);
  return n;
}

/* ------------------------------------------------------------ forwarder */

/* How many requests for @path ("/activate") it saw (NULL: all). */
static guint
fwd_count (Fwd *p, const char *path)
{
  g_autofree char *line = path != NULL ? g_strconcat ("POST /api/v1", path, "\n", NULL) : NULL;
  guint n = 0;
  g_mutex_lock (&p->lock);
  for (guint i = 0; i < p->requests->len; i++)
    if (line == NULL || g_str_has_prefix (p->requests->pdata[i], line))
      n++;
  g_mutex_unlock (&p->lock);
  return n;
}

/* The body of its @nth request for @path. */
static char *
fwd_body (Fwd *p, const char *path, guint nth)
{
  g_autofree char *line = g_strconcat ("POST /api/v1", path, "\n", NULL);
  char *body = NULL;
  g_mutex_lock (&p->lock);
  for (guint i = 0; i < p->requests->len && body == NULL; i++)
    if (g_str_has_prefix (p->requests->pdata[i], line) && nth-- == 0)
      body = g_strdup ((char *) p->requests->pdata[i] + strlen (line));
  g_mutex_unlock (&p->lock);
  g_assert_nonnull (body);
  return body;
}

/* A loopback URL nobody listens on: connection refused. */
static char *
dead_url (void)
{
  g_autoptr (GSocketListener) l = g_socket_listener_new ();
  GError *error = NULL;
  guint16 port = g_socket_listener_add_any_inet_port (l, NULL, &error);
  g_assert_no_error (error);
  g_socket_listener_close (l);
  return g_strdup_printf ("http://127.0.0.1:%u", port);
}

/* -------------------------------------------------------------- client */

/* An engine on @servers (the `server` value). */
static TesseraEngine *
engine_on (Fixture *f, const char *servers)
{
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=testops\n[provider:testops]\nserver=%s\nallow-http=true\n"
      "server-key=%s\nkey-storage=env-only\nstate-dir=%s\ntimeout-seconds=10\n",
      servers, f->keys, f->state);
  GError *error = NULL;
  TesseraEngine *engine = tessera_engine_new_from_data (config, -1, &error);
  g_assert_no_error (error);
  return engine;
}

static TesseraLicense *
activate_with (TesseraEngine *engine, const char *key, gboolean persist, GError **error)
{
  g_autoptr (TesseraActivateOptions) o = tessera_activate_options_new ();
  tessera_activate_options_set (o, TESSERA_OPTION_API_KEY, key);
  if (persist)
    tessera_activate_options_set (o, TESSERA_OPTION_PERSIST, "true");
  return tessera_engine_activate (engine, "KRE", o, NULL, error);
}

/* Releases @license and drops it (@unref) or not. */
static void
release_ok (TesseraLicense *license, gboolean unref)
{
  GError *error = NULL;
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  if (unref)
    tessera_license_unref (license);
}

/* ------------------------------------------------------- what moves on */

typedef struct
{
  FwdMode mode;
  const char *fixed; /* FWD_FIXED: the first server's answer */
} MoveCase;

static const MoveCase move_dead = { FWD_RESET, NULL }; /* stopped before use */
static const MoveCase move_reset = { FWD_RESET, NULL };
static const MoveCase move_502
    = { FWD_FIXED, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n" };
static const MoveCase move_503
    = { FWD_FIXED, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                   "Content-Length: 53\r\n\r\n"
                   "{\"error\":{\"code\":\"auth\",\"message\":\"database locked\"}}" };
static const MoveCase move_504
    = { FWD_FIXED, "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n" };
static const MoveCase move_garbled
    = { FWD_FIXED, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "Content-Length: 8\r\n\r\n{\"sessio" };

/* The first server gives no answer of its own: the activation goes to the
 * second, says so, and takes one seat; the next one starts there. */
static void
test_moves_on (gconstpointer data)
{
  const MoveCase *c = data;
  Fixture *f = fixture_new (NULL);
  g_autoptr (Fwd) a = fwd_start (f->url, c->mode, c->fixed);
  g_autoptr (Fwd) b = fwd_start (f->url, FWD_FORWARD, NULL);
  if (c == &move_dead)
    fwd_stop (a);
  g_autofree char *list = g_strdup_printf ("%s;%s", a->url, b->url);
  g_autoptr (TesseraEngine) engine = engine_on (f, list);

  g_autofree char *log
      = g_strdup_printf ("testops: server %s unreachable (*); using %s", a->url, b->url);
  g_test_expect_message ("Tessera-testops", G_LOG_LEVEL_MESSAGE, log);
  GError *error = NULL;
  TesseraLicense *license = activate_with (engine, f->member_key, FALSE, &error);
  g_assert_no_error (error);
  g_test_assert_expected_messages ();
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, b->url);
  g_assert_cmpuint (count_sessions (f), ==, 1);
  g_assert_cmpuint (fwd_count (b, "/activate"), ==, 1);
  guint a_seen = a->connections;
  g_assert_cmpuint (a_seen, ==, c == &move_dead ? 0 : 1);
  release_ok (license, TRUE);
  g_assert_cmpuint (count_sessions (f), ==, 0);
  g_assert_cmpuint (fwd_count (b, "/release"), ==, 1);

  /* sticky: the next activation starts at the server that answered */
  license = activate_with (engine, f->member_key, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, b->url);
  g_assert_cmpuint (a->connections, ==, a_seen);
  g_assert_cmpuint (fwd_count (b, "/activate"), ==, 2);
  release_ok (license, TRUE);
  fixture_free (f);
}

/* --------------------------------------------- what does not move on */

typedef enum
{
  SETUP_NONE,
  SETUP_SEAT_TAKEN, /* the pool's one seat held by another activation */
  SETUP_KEY_REVOKED,
} FinalSetup;

typedef struct
{
  FinalSetup setup;
  const char *key; /* NULL: the member's */
  const char *fixed;
  TesseraError code;
} FinalCase;

static const FinalCase final_quota = { SETUP_SEAT_TAKEN, NULL, NULL, TESSERA_ERROR_QUOTA_EXCEEDED };
static const FinalCase final_wrong_key
    = { SETUP_NONE, "tsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, TESSERA_ERROR_AUTH };
static const FinalCase final_key_revoked = { SETUP_KEY_REVOKED, NULL, NULL, TESSERA_ERROR_AUTH };
static const FinalCase final_revoked
    = { SETUP_NONE, NULL,
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 51\r\n\r\n"
        "{\"error\":{\"code\":\"revoked\",\"message\":\"taken away\"}}",
        TESSERA_ERROR_REVOKED };
static const FinalCase final_bad_request
    = { SETUP_NONE, NULL,
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 61\r\n\r\n"
        "{\"error\":{\"code\":\"invalid-argument\",\"message\":\"bad product\"}}",
        TESSERA_ERROR_INVALID_ARGUMENT };

/* A server's own refusal is final: the second server never hears of it. */
static void
test_final (gconstpointer data)
{
  const FinalCase *c = data;
  Fixture *f = fixture_new (NULL);
  GError *error = NULL;
  TesseraLicense *holder = NULL;
  if (c->setup == SETUP_SEAT_TAKEN)
    {
      g_autoptr (TesseraEngine) direct = engine_on (f, f->url);
      holder = activate_with (direct, f->member_key, FALSE, &error);
      g_assert_no_error (error);
    }
  else if (c->setup == SETUP_KEY_REVOKED)
    {
      TsStore *store = store_open (f);
      g_assert_true (
          ts_store_revoke_api_key (store, f->member_id, f->member_key_id, now_s (), &error));
      g_assert_no_error (error);
      ts_store_close (store);
    }
  g_autoptr (Fwd) a = fwd_start (f->url, c->fixed != NULL ? FWD_FIXED : FWD_FORWARD, c->fixed);
  g_autoptr (Fwd) b = fwd_start (f->url, FWD_FORWARD, NULL);
  g_autofree char *list = g_strdup_printf ("%s;%s", a->url, b->url);
  g_autoptr (TesseraEngine) engine = engine_on (f, list);
  TesseraLicense *license
      = activate_with (engine, c->key != NULL ? c->key : f->member_key, FALSE, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_assert_nonnull (strstr (error->message, a->url));
  g_clear_error (&error);
  g_assert_cmpuint (fwd_count (a, "/activate"), ==, 1);
  g_assert_cmpuint (b->connections, ==, 0);
  g_assert_cmpuint (count_sessions (f), ==, holder != NULL ? 1 : 0);
  if (holder != NULL)
    {
      release_ok (holder, TRUE);
    }
  fixture_free (f);
}

/* ---------------------------------------------------------- the cases */

/* The answer to the activation is lost on the first server: the second
 * gets the same request, nonce included, and the server the same session:
 * one seat (the pool has one: a second would be quota-exceeded). */
static void
test_lost_answer (void)
{
  Fixture *f = fixture_new (NULL);
  g_autoptr (Fwd) a = fwd_start (f->url, FWD_CUT_ANSWER, NULL);
  g_autoptr (Fwd) b = fwd_start (f->url, FWD_FORWARD, NULL);
  g_autofree char *list = g_strdup_printf ("%s;%s", a->url, b->url);
  g_autoptr (TesseraEngine) engine = engine_on (f, list);
  GError *error = NULL;
  g_test_expect_message ("Tessera-testops", G_LOG_LEVEL_MESSAGE, "*unreachable*");
  TesseraLicense *license = activate_with (engine, f->member_key, FALSE, &error);
  g_assert_no_error (error);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (fwd_count (a, "/activate"), ==, 1);
  g_assert_cmpuint (fwd_count (b, "/activate"), ==, 1);
  g_autofree char *sent_a = fwd_body (a, "/activate", 0);
  g_autofree char *sent_b = fwd_body (b, "/activate", 0);
  g_assert_nonnull (strstr (sent_a, "\"nonce\""));
  g_assert_cmpstr (sent_a, ==, sent_b);
  g_assert_cmpuint (count_sessions (f), ==, 1);
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, b->url);
  release_ok (license, TRUE);
  g_assert_cmpuint (count_sessions (f), ==, 0);
  fixture_free (f);
}

/* The server in use goes away while the license is held: heartbeats move
 * to the next one (the lease keeps being extended: the server's reaper
 * would end it within 5 s otherwise), and release frees the seat there. */
static void
test_heartbeat_moves (void)
{
  Fixture *f = fixture_new (short_lease);
  g_autoptr (Fwd) a = fwd_start (f->url, FWD_FORWARD, NULL);
  g_autoptr (Fwd) b = fwd_start (f->url, FWD_FORWARD, NULL);
  g_autofree char *list = g_strdup_printf ("%s;%s", a->url, b->url);
  g_autoptr (TesseraEngine) engine = engine_on (f, list);
  GError *error = NULL;
  TesseraLicense *license = activate_with (engine, f->member_key, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, a->url);
  g_assert_cmpuint (fwd_count (a, "/activate"), ==, 1);
  g_assert_cmpuint (b->connections, ==, 0);

  fwd_stop (a);
  /* two leases: without heartbeats reaching the server the session ends.
   * At least that long, and until three heartbeats went through b (a
   * generous bound: a busy machine may run the timers late). */
  gint64 stopped = g_get_monotonic_time ();
  while (g_get_monotonic_time () - stopped < 10 * G_USEC_PER_SEC
         || (fwd_count (b, "/heartbeat") < 3
             && g_get_monotonic_time () - stopped < 120 * G_USEC_PER_SEC))
    g_usleep (100 * 1000);
  g_assert_cmpuint (fwd_count (b, "/heartbeat"), >=, 3);
  g_assert_cmpuint (count_sessions (f), ==, 1);
  g_assert_true (tessera_license_is_held (license));
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  release_ok (license, FALSE);
  g_assert_cmpuint (fwd_count (b, "/release"), ==, 1);
  g_assert_cmpuint (count_sessions (f), ==, 0);
  tessera_license_unref (license);
  fixture_free (f);
}

/* Nobody answers: the error names every server and why. */
static void
test_all_down (void)
{
  Fixture *f = fixture_new (NULL);
  g_autofree char *dead = dead_url ();
  g_autoptr (Fwd) reset = fwd_start (f->url, FWD_RESET, NULL);
  g_autoptr (Fwd) busy = fwd_start (f->url, FWD_FIXED, move_503.fixed);
  g_autoptr (Fwd) busy2 = fwd_start (f->url, FWD_FIXED, move_502.fixed);
  GError *error = NULL;

  g_autofree char *list = g_strdup_printf ("%s;%s;%s", dead, reset->url, busy->url);
  g_autoptr (TesseraEngine) engine = engine_on (f, list);
  g_assert_null (activate_with (engine, f->member_key, FALSE, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "cannot reach any of the 3 license servers"));
  g_autofree char *dead_part = g_strdup_printf ("%s (", dead);
  g_autofree char *reset_part = g_strdup_printf ("%s (", reset->url);
  g_autofree char *busy_part = g_strdup_printf ("%s (database locked (HTTP 503))", busy->url);
  g_assert_nonnull (strstr (error->message, dead_part));
  g_assert_nonnull (strstr (error->message, reset_part));
  g_assert_nonnull (strstr (error->message, busy_part));
  g_assert_null (strchr (error->message, '\n'));
  g_clear_error (&error);
  g_assert_cmpuint (reset->connections, ==, 1);
  g_assert_cmpuint (fwd_count (busy, "/activate"), ==, 1);

  /* only overloaded servers: unavailable, as one would be */
  g_autofree char *busy_list = g_strdup_printf ("%s;%s", busy->url, busy2->url);
  g_autoptr (TesseraEngine) engine2 = engine_on (f, busy_list);
  g_assert_null (activate_with (engine2, f->member_key, FALSE, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, busy->url));
  g_assert_nonnull (strstr (error->message, busy2->url));
  g_clear_error (&error);
  g_assert_cmpuint (count_sessions (f), ==, 0);
  fixture_free (f);
}

/* A bad entry is a config error naming it; so is an empty list. */
static void
test_bad_list (void)
{
  Fixture *f = fixture_new (NULL);
  const struct
  {
    const char *server;
    const char *named; /* the message names this */
  } cases[] = {
    { "%s;http://licenses.example.com", "'http://licenses.example.com'" }, /* http off loopback */
    { "%s;not a url", "'not a url'" },
    { "ftp://127.0.0.1;%s", "'ftp://127.0.0.1'" },
    { "%s;https://a.example.com?x=1", "'https://a.example.com?x=1'" },
    { "%s;;%s", "entry 2" },
    { "%s;%s", "listed twice" },
    { "", "server is required" },
    { ";", "server is required" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GString) servers = g_string_new (cases[i].server);
      g_string_replace (servers, "%s", f->url, 0);
      g_autoptr (TesseraEngine) engine = engine_on (f, servers->str);
      GError *error = NULL;
      g_assert_null (activate_with (engine, f->member_key, FALSE, &error));
      g_test_message ("%s: %s", servers->str, error->message);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
      g_assert_nonnull (strstr (error->message, cases[i].named));
      g_clear_error (&error);
    }
  /* a trailing '/' and spaces around entries are fine */
  g_autofree char *ok = g_strdup_printf ("%s/ ; %s", f->url, "https://b.example.com");
  g_autoptr (TesseraEngine) engine = engine_on (f, ok);
  GError *error = NULL;
  TesseraLicense *license = activate_with (engine, f->member_key, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, f->url);
  release_ok (license, TRUE);
  fixture_free (f);
}

static guint
count_records (Fixture *f)
{
  guint n = 0;
  g_autoptr (GDir) d = g_dir_open (f->state, 0, NULL);
  for (const char *name = d != NULL ? g_dir_read_name (d) : NULL; name != NULL;
       name = g_dir_read_name (d))
    n += g_str_has_suffix (name, ".session");
  return n;
}

static char *
record_of (Fixture *f, TesseraLicense *license)
{
  g_autofree char *name = g_strdup_printf (
      "testops-%s.session", tessera_license_get_attribute (license, "testops.session-id"));
  g_autofree char *path = g_build_filename (f->state, name, NULL);
  char *contents = NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  return contents;
}

/* A new engine (process) lists the persistent session and releases it at
 * @expect, the server its record names. */
static void
release_listed (Fixture *f, const char *servers, const char *expect, Fwd *at)
{
  g_autoptr (TesseraEngine) engine = engine_on (f, servers);
  g_setenv ("TESSERA_API_KEY", f->member_key, TRUE);
  GError *error = NULL;
  g_autoptr (GPtrArray) listed = tessera_engine_list_licenses (engine, "KRE", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (listed->len, ==, 1);
  TesseraLicense *license = listed->pdata[0];
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, expect);
  guint before = fwd_count (at, "/release");
  release_ok (license, FALSE);
  g_unsetenv ("TESSERA_API_KEY");
  g_assert_cmpuint (fwd_count (at, "/release"), ==, before + 1);
  g_assert_cmpuint (count_sessions (f), ==, 0);
  g_assert_cmpuint (count_records (f), ==, 0);
}

/* A persistent session records the server in use, activation's or the one
 * a heartbeat moved to, and a later process releases it there. */
static void
test_persist (void)
{
  Fixture *f = fixture_new (NULL);
  g_autofree char *dead = dead_url ();
  g_autoptr (Fwd) a = fwd_start (f->url, FWD_FORWARD, NULL);
  g_autoptr (Fwd) b = fwd_start (f->url, FWD_FORWARD, NULL);
  GError *error = NULL;

  /* activated at the second server */
  g_autofree char *list = g_strdup_printf ("%s;%s", dead, b->url);
  g_autoptr (TesseraEngine) engine = engine_on (f, list);
  g_test_expect_message ("Tessera-testops", G_LOG_LEVEL_MESSAGE, "*unreachable*");
  TesseraLicense *license = activate_with (engine, f->member_key, TRUE, &error);
  g_assert_no_error (error);
  g_test_assert_expected_messages ();
  g_autofree char *record = record_of (f, license);
  g_autofree char *line = g_strdup_printf ("server=%s\n", b->url);
  g_assert_nonnull (strstr (record, line));
  tessera_license_unref (license);
  g_assert_cmpuint (count_sessions (f), ==, 1);
  release_listed (f, list, b->url, b);

  /* activated at the first, moved to the second by a validation */
  g_autofree char *list2 = g_strdup_printf ("%s;%s", a->url, b->url);
  g_autoptr (TesseraEngine) engine2 = engine_on (f, list2);
  license = activate_with (engine2, f->member_key, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (license, "testops.server"), ==, a->url);
  fwd_stop (a);
  g_test_expect_message ("Tessera-testops", G_LOG_LEVEL_MESSAGE, "*unreachable*");
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_test_assert_expected_messages ();
  g_autofree char *record2 = record_of (f, license);
  g_assert_nonnull (strstr (record2, line));
  tessera_license_unref (license);
  release_listed (f, list2, b->url, b);

  /* recorded at the first, which is gone when a later process releases */
  g_autoptr (Fwd) a2 = fwd_start (f->url, FWD_FORWARD, NULL);
  g_autofree char *list3 = g_strdup_printf ("%s;%s", a2->url, b->url);
  g_autoptr (TesseraEngine) engine3 = engine_on (f, list3);
  license = activate_with (engine3, f->member_key, TRUE, &error);
  g_assert_no_error (error);
  tessera_license_unref (license);
  fwd_stop (a2);
  g_test_expect_message ("Tessera-testops", G_LOG_LEVEL_MESSAGE, "*unreachable*");
  release_listed (f, list3, a2->url, b);
  g_test_assert_expected_messages ();
  fixture_free (f);
}

/* A canned answer's Content-Length matches its body (but for the one cut
 * short on purpose). */
static void
check_length (const char *answer)
{
  const char *body = strstr (answer, "\r\n\r\n") + 4;
  const char *cl = strstr (answer, "Content-Length: ") + strlen ("Content-Length: ");
  g_assert_cmpuint (g_ascii_strtoull (cl, NULL, 10), ==, strlen (body));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *const answers[]
      = { move_502.fixed,     move_503.fixed,      move_504.fixed,
          move_garbled.fixed, final_revoked.fixed, final_bad_request.fixed };
  for (guint i = 0; i < G_N_ELEMENTS (answers); i++)
    check_length (answers[i]);
  g_unsetenv ("TESSERA_API_KEY");
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_CONFIG");
  g_test_add_data_func ("/testops-failover/moves-on/refused", &move_dead, test_moves_on);
  g_test_add_data_func ("/testops-failover/moves-on/reset", &move_reset, test_moves_on);
  g_test_add_data_func ("/testops-failover/moves-on/502", &move_502, test_moves_on);
  g_test_add_data_func ("/testops-failover/moves-on/503", &move_503, test_moves_on);
  g_test_add_data_func ("/testops-failover/moves-on/504", &move_504, test_moves_on);
  g_test_add_data_func ("/testops-failover/moves-on/garbled", &move_garbled, test_moves_on);
  g_test_add_data_func ("/testops-failover/final/quota", &final_quota, test_final);
  g_test_add_data_func ("/testops-failover/final/wrong-key", &final_wrong_key, test_final);
  g_test_add_data_func ("/testops-failover/final/key-revoked", &final_key_revoked, test_final);
  g_test_add_data_func ("/testops-failover/final/revoked", &final_revoked, test_final);
  g_test_add_data_func ("/testops-failover/final/bad-request", &final_bad_request, test_final);
  g_test_add_func ("/testops-failover/lost-answer", test_lost_answer);
  g_test_add_func ("/testops-failover/heartbeat-moves", test_heartbeat_moves);
  g_test_add_func ("/testops-failover/all-down", test_all_down);
  g_test_add_func ("/testops-failover/bad-list", test_bad_list);
  g_test_add_func ("/testops-failover/persist", test_persist);
  return g_test_run ();
}
