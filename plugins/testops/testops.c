/* The online provider: seats from tessera-server (docs/testops.md,
 * docs/protocol.md).
 *
 * activate POSTs /api/v1/activate (product, this machine's ID, a nonce,
 * the organization) with the user's API key and returns a license whose
 * backend data is the server session. While the license is held, a
 * heartbeat thread per session extends the lease every lease/3 seconds; a
 * 410 (revoked, terminated, expired) or a lease (plus grace-seconds) without
 * any successful heartbeat invalidates the license. release stops the
 * thread and POSTs /api/v1/release.
 *
 * Threading: the instance is read-only after create, but for the cached
 * machine ID (guarded by its lock). Each session has a lock guarding its
 * mutable state (last successful heartbeat, terminal error, stop flag).
 * Every HTTP exchange uses a SoupSession of its own, created, used and
 * freed in the calling thread, so no libsoup object is shared between
 * threads.
 *
 * The API key is cached in the system keyring (testops-keyring.c) after a
 * successful activation; with the persist option the session is recorded
 * in the state folder (testops-state.c) so that a later process lists,
 * validates and releases it. Keyring and record I/O happen in the caller's
 * thread, never in a heartbeat thread (but for removing the record of a
 * session the server ended). */
#include "testops-answer.h"
#include "testops-keyring.h"
#include "testops-state.h"

#include <tessera/tessera.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT 30
#define MAX_TIMEOUT 600
#define MAX_GRACE (30 * 24 * 3600)
#define MAX_WAIT (7 * 24 * 3600)
/* Retries of one request whose connection dropped after it was sent. */
#define SEND_ATTEMPTS 3
#define RETRY_DELAY_USEC (200 * 1000)
/* Waiting for a seat: exponential backoff from FIRST to MAX, ±25 % jitter. */
#define WAIT_FIRST_USEC (500 * 1000)
#define WAIT_MAX_USEC (8 * G_USEC_PER_SEC)
#define API_KEY_ENV "TESSERA_API_KEY"
#define WAIT_SECONDS_KEY "wait-seconds"
#define KEY_STORAGE_KEY "key-storage"
#define STATE_DIR_KEY "state-dir"

static const char *const known_keys[] = { "server",
                                          "ca-file",
                                          "allow-http",
                                          "org-id",
                                          "grace-seconds",
                                          "timeout-seconds",
                                          WAIT_SECONDS_KEY,
                                          KEY_STORAGE_KEY,
                                          STATE_DIR_KEY,
                                          "server-key",
                                          NULL };

typedef struct
{
  char *server;         /* base URL, no trailing '/' */
  GTlsDatabase *tls_db; /* only the configured CA, or NULL: the system's */
  gboolean direct;      /* a loopback server: never through a proxy */
  char *org_id;
  gint64 grace;
  gint64 timeout;
  gint64 wait_seconds;
  TestopsKeyStorage key_storage;
  char *state_dir;                 /* where persistent sessions are recorded */
  TesseraTrustedKeys *server_keys; /* what the server's answers must be signed with */

  GMutex lock;
  char *machine_id; /* computed once; guarded by @lock */
} Testops;

/* What one HTTP exchange needs; copied into each session so that it never
 * depends on the instance. */
typedef struct
{
  const char *server;
  GTlsDatabase *tls_db;
  gboolean direct;
  gint64 timeout;
  const char *api_key;
} Conn;

/* A granted license's backend data: the server session. */
typedef struct
{
  char *server;
  GTlsDatabase *tls_db;
  gboolean direct;
  gint64 timeout;
  gint64 grace;
  TesseraTrustedKeys *server_keys;
  char *api_key; /* NULL for a listed session until it is first needed; set
                    once (under @lock), then constant until freed */
  char *session_id;
  TesseraLicense *license; /* not owned: the license owns this session */
  char *record_path;       /* persistent: its record, or NULL; guarded by @lock */

  GMutex lock;
  GCond cond;
  gint64 lease_seconds;
  gint64 last_ok;   /* monotonic µs when the last successful exchange was sent */
  GError *terminal; /* the server ended the session (no grace then) */
  gboolean stop;
  gboolean released;
  GThread *thread;
  GCancellable *cancel; /* cancels the heartbeat in flight at stop */
} Session;

/* ---- configuration ---- */

static gboolean
check_keys (TesseraBackendConfig *config, GError **error)
{
  GKeyFile *keyfile = tessera_backend_config_get_keyfile (config);
  const char *group = tessera_backend_config_get_group (config);
  g_auto (GStrv) keys = g_key_file_get_keys (keyfile, group, NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    if (!g_strv_contains (known_keys, keys[i]))
      {
        g_autofree char *known = g_strjoinv (", ", (char **) known_keys);
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                     "[%s] has no key '%s' (known keys: %s)", group, keys[i], known);
        return FALSE;
      }
  return TRUE;
}

static gboolean
host_is_loopback (const char *host)
{
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (host);
  return addr != NULL && g_inet_address_get_is_loopback (addr);
}

static gboolean
get_bool (TesseraBackendConfig *config, const char *key, gboolean *value, GError **error)
{
  GKeyFile *keyfile = tessera_backend_config_get_keyfile (config);
  const char *group = tessera_backend_config_get_group (config);
  *value = FALSE;
  if (!g_key_file_has_key (keyfile, group, key, NULL))
    return TRUE;
  g_autoptr (GError) local_error = NULL;
  *value = g_key_file_get_boolean (keyfile, group, key, &local_error);
  if (local_error != NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] %s must be true or false",
                   group, key);
      return FALSE;
    }
  return TRUE;
}

static gboolean
get_range (TesseraBackendConfig *config, const char *key, gint64 def, gint64 min, gint64 max,
           gint64 *value, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  *value = tessera_backend_config_get_int (config, key, def, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (*value < min || *value > max)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] %s must be %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT " seconds",
                   tessera_backend_config_get_group (config), key, min, max);
      return FALSE;
    }
  return TRUE;
}

/* The server URL: https, or http on a loopback host with allow-http=true. */
static char *
parse_server (TesseraBackendConfig *config, gboolean *direct, GError **error)
{
  const char *group = tessera_backend_config_get_group (config);
  g_autofree char *value = tessera_backend_config_dup_string (config, "server", NULL);
  if (value == NULL || *g_strstrip (value) == '\0')
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] server is required: the URL of your tessera-server, e.g. "
                   "https://licenses.example.com",
                   group);
      return NULL;
    }
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GUri) uri = g_uri_parse (value, G_URI_FLAGS_NONE, &local_error);
  if (uri == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] server '%s' is no URL: %s",
                   group, value, local_error->message);
      return NULL;
    }
  const char *scheme = g_uri_get_scheme (uri);
  const char *host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0' || g_uri_get_query (uri) != NULL
      || g_uri_get_fragment (uri) != NULL || g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] server '%s' must be scheme://host[:port][/path], with no user, query "
                   "or fragment",
                   group, value);
      return NULL;
    }
  gboolean allow_http = FALSE;
  if (!get_bool (config, "allow-http", &allow_http, error))
    return NULL;
  if (g_ascii_strcasecmp (scheme, "http") == 0)
    {
      if (!allow_http || !host_is_loopback (host))
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                       "[%s] server '%s' is plain HTTP: use https (allow-http=true is accepted "
                       "for a loopback host only)",
                       group, value);
          return NULL;
        }
    }
  else if (g_ascii_strcasecmp (scheme, "https") != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] server '%s': the scheme must be https", group, value);
      return NULL;
    }
  *direct = host_is_loopback (host);
  gsize len = strlen (value);
  while (len > 0 && value[len - 1] == '/')
    value[--len] = '\0';
  return g_steal_pointer (&value);
}

static void
testops_destroy (gpointer instance)
{
  Testops *self = instance;
  if (self == NULL)
    return;
  g_free (self->server);
  g_free (self->state_dir);
  g_clear_pointer (&self->server_keys, tessera_trusted_keys_unref);
  g_clear_object (&self->tls_db);
  g_free (self->org_id);
  g_free (self->machine_id);
  g_mutex_clear (&self->lock);
  g_free (self);
}

static gpointer
testops_create (TesseraBackendConfig *config, GError **error)
{
  const char *group = tessera_backend_config_get_group (config);
  if (!check_keys (config, error))
    return NULL;

  g_autoptr (GError) local_error = NULL;
  g_autofree char *ca_file = NULL;
  g_autofree char *storage = NULL;
  g_autofree char *default_state = NULL;
  Testops *self = g_new0 (Testops, 1);
  g_mutex_init (&self->lock);
  self->server = parse_server (config, &self->direct, error);
  if (self->server == NULL)
    goto fail;
  if (!get_range (config, "grace-seconds", 0, 0, MAX_GRACE, &self->grace, error)
      || !get_range (config, "timeout-seconds", DEFAULT_TIMEOUT, 1, MAX_TIMEOUT, &self->timeout,
                     error)
      || !get_range (config, WAIT_SECONDS_KEY, 0, 0, MAX_WAIT, &self->wait_seconds, error))
    goto fail;
  /* Without the server's key, no answer could be told from a fake one. */
  self->server_keys = testops_answer_load_keys (config, error);
  if (self->server_keys == NULL)
    goto fail;
  self->org_id = tessera_backend_config_dup_string (config, "org-id", NULL);
  if (self->org_id != NULL && *g_strstrip (self->org_id) == '\0')
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] org-id is empty", group);
      goto fail;
    }

  storage = tessera_backend_config_dup_string (config, KEY_STORAGE_KEY, "keyring");
  if (g_str_equal (g_strstrip (storage), "keyring"))
    self->key_storage = TESTOPS_KEY_STORAGE_KEYRING;
  else if (g_str_equal (storage, "env-only"))
    self->key_storage = TESTOPS_KEY_STORAGE_ENV_ONLY;
  else
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] " KEY_STORAGE_KEY " must be keyring or env-only, not '%s'", group,
                   storage);
      goto fail;
    }
  /* $XDG_STATE_HOME/tessera: state a user's sessions leave between runs. */
  default_state = g_build_filename (g_get_user_state_dir (), "tessera", NULL);
  self->state_dir
      = tessera_backend_config_dup_path (config, STATE_DIR_KEY, default_state, &local_error);
  if (self->state_dir == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      goto fail;
    }

  ca_file = tessera_backend_config_dup_path (config, "ca-file", NULL, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      goto fail;
    }
  if (ca_file != NULL)
    {
      self->tls_db = g_tls_file_database_new (ca_file, &local_error);
      if (self->tls_db == NULL)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] ca-file %s: %s", group,
                       ca_file, local_error->message);
          goto fail;
        }
    }
  return self;

fail:
  testops_destroy (self);
  return NULL;
}

/* ---- credentials ---- */

/* The API key: the option, else the environment, else (key-storage=keyring)
 * the keyring. With keyring storage the keyring must be reachable even when
 * the key is given, since a successful activation stores it: the only
 * fallback is the explicit env-only. *@from_keyring: the key came from the
 * keyring; *@must_store: a given key the keyring does not hold yet (for
 * @org). */
static char *
dup_api_key (Testops *self, TesseraActivateOptions *options, const char *org,
             gboolean *from_keyring, gboolean *must_store, GError **error)
{
  *from_keyring = FALSE;
  *must_store = FALSE;
  const char *given
      = options != NULL ? tessera_activate_options_get (options, TESSERA_OPTION_API_KEY) : NULL;
  if (given == NULL || *given == '\0')
    given = secure_getenv (API_KEY_ENV);
  if (given != NULL && *given == '\0')
    given = NULL;
  if (self->key_storage == TESTOPS_KEY_STORAGE_ENV_ONLY)
    {
      if (given != NULL)
        return g_strdup (given);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "no API key for the license server %s: pass it in the "
                   "'" TESSERA_OPTION_API_KEY "' activation option or set " API_KEY_ENV
                   " (key-storage=env-only: the key is needed on every run and never stored)",
                   self->server);
      return NULL;
    }

  char *stored = NULL;
  if (!testops_keyring_lookup (self->server, org, &stored, error))
    return NULL;
  if (given != NULL)
    {
      *must_store = stored == NULL || strcmp (stored, given) != 0;
      testops_keyring_key_free (stored);
      return g_strdup (given);
    }
  if (stored != NULL)
    {
      *from_keyring = TRUE;
      return stored;
    }
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
               "no API key for the license server %s: pass it in the '" TESSERA_OPTION_API_KEY
               "' activation option or set " API_KEY_ENV " once; after a successful "
               "activation the system keyring keeps it (API keys are never read from "
               "configuration files)",
               self->server);
  return NULL;
}

static void
secret_free (char *secret)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

/* ---- HTTP ---- */

/* A failure with no answer from the server. */
static void
set_network_error (GError **error, const char *server, GError *src)
{
  if (g_error_matches (src, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_propagate_error (error, g_error_copy (src));
  else if (src->domain == G_TLS_ERROR)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK,
                 "cannot reach the license server %s: TLS: %s", server, src->message);
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK,
                 "cannot reach the license server %s: %s", server, src->message);
}

/* A server's error answer: its `code` nick and message (docs/protocol.md). */
static void
set_server_error (GError **error, const char *server, guint status, JsonObject *root)
{
  JsonObject *err = root != NULL && json_object_has_member (root, "error")
                            && JSON_NODE_HOLDS_OBJECT (json_object_get_member (root, "error"))
                        ? json_object_get_object_member (root, "error")
                        : NULL;
  const char *nick
      = err != NULL ? json_object_get_string_member_with_default (err, "code", NULL) : NULL;
  const char *message
      = err != NULL ? json_object_get_string_member_with_default (err, "message", NULL) : NULL;
  TesseraError code = TESSERA_ERROR_FAILED;
  if (status >= 500)
    code = TESSERA_ERROR_UNAVAILABLE;
  else if (nick == NULL || !tessera_error_from_nick (nick, &code))
    code = status == 401 ? TESSERA_ERROR_AUTH : TESSERA_ERROR_FAILED;

  g_autoptr (GString) text = g_string_new (NULL);
  g_string_append_printf (text, "license server %s: %s", server,
                          message != NULL ? message : soup_status_get_phrase (status));
  if (message == NULL || status >= 500)
    g_string_append_printf (text, " (HTTP %u)", status);
  if (code == TESSERA_ERROR_ORG_REQUIRED && err != NULL && json_object_has_member (err, "orgs"))
    {
      JsonArray *orgs = json_object_get_array_member (err, "orgs");
      g_string_append (text, "; choose one with the '" TESSERA_OPTION_ORG_ID
                             "' activation option or org-id in [provider:testops]:");
      for (guint i = 0; orgs != NULL && i < json_array_get_length (orgs); i++)
        {
          JsonNode *n = json_array_get_element (orgs, i);
          if (!JSON_NODE_HOLDS_OBJECT (n))
            continue;
          JsonObject *o = json_node_get_object (n);
          g_string_append_printf (text, "%s %s (%s)", i > 0 ? "," : "",
                                  json_object_get_string_member_with_default (o, "id", "?"),
                                  json_object_get_string_member_with_default (o, "name", "?"));
        }
    }
  g_set_error_literal (error, TESSERA_ERROR, code, text->str);
}

static JsonObject *
parse_object (GBytes *bytes)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  if (len == 0 || !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  return json_object_ref (json_node_get_object (root));
}

/* POSTs @body to /api/v1@path. Returns: (transfer full) the JSON object of a
 * 2xx answer, or NULL with @error set: the server's code, NETWORK when
 * there was no answer. A connection that drops after the request may have
 * been sent is retried (the request bodies are idempotent). */
static JsonObject *
post_json (const Conn *conn, const char *path, JsonBuilder *body, GCancellable *cancellable,
           GError **error)
{
  g_autoptr (JsonNode) root = json_builder_get_root (body);
  g_autofree char *text = json_to_string (root, FALSE);
  g_autoptr (GBytes) request_body = g_bytes_new (text, strlen (text));
  g_autofree char *url = g_strconcat (conn->server, "/api/v1", path, NULL);
  g_autofree char *auth = g_strdup_printf ("Bearer %s", conn->api_key);

  g_autoptr (SoupSession) session = soup_session_new_with_options (
      "timeout", (guint) conn->timeout, "user-agent", "tessera-testops/1", NULL);
  if (conn->tls_db != NULL)
    soup_session_set_tls_database (session, conn->tls_db);
  if (conn->direct)
    soup_session_set_proxy_resolver (session, NULL);

  for (guint attempt = 1;; attempt++)
    {
      g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
      if (msg == NULL)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "bad server URL %s", url);
          return NULL;
        }
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
      soup_message_set_request_body_from_bytes (msg, "application/json", request_body);
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GBytes) answer
          = soup_session_send_and_read (session, msg, cancellable, &local_error);
      if (answer == NULL)
        {
          gboolean retry
              = attempt < SEND_ATTEMPTS
                && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
                && local_error->domain != G_TLS_ERROR && local_error->domain != G_RESOLVER_ERROR;
          if (!retry)
            {
              set_network_error (error, conn->server, local_error);
              return NULL;
            }
          g_debug ("testops: %s failed (%s), retrying", path, local_error->message);
          g_usleep (RETRY_DELAY_USEC);
          continue;
        }
      guint status = soup_message_get_status (msg);
      JsonObject *obj = parse_object (answer);
      if (status >= 200 && status < 300 && obj != NULL)
        return obj;
      if (status >= 200 && status < 300 && attempt < SEND_ATTEMPTS)
        {
          /* Most likely an answer cut short: the request may have been
           * served, and repeating it is safe (same nonce, same seat). */
          g_debug ("testops: %s answered no JSON object, retrying", path);
          g_usleep (RETRY_DELAY_USEC);
          continue;
        }
      if (status >= 200 && status < 300)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                     "license server %s: %s answered no JSON object %u times (a proxy in the "
                     "way, or answers cut short?)",
                     conn->server, path, SEND_ATTEMPTS);
      else
        set_server_error (error, conn->server, status, obj);
      g_clear_pointer (&obj, json_object_unref);
      return NULL;
    }
}

/* ---- sessions and the heartbeat ---- */

/* Errors after which the session may still be alive. */
static gboolean
is_transient (const GError *error)
{
  return g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
}

/* An answer that is not the server's (unsigned, forged, replayed) says
 * nothing about the session: like no answer, it lets the grace run, and
 * only the real server's answer extends the lease. */
static gboolean
leaves_session_alive (const GError *error)
{
  return is_transient (error) || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY);
}

static gint64
grace_deadline_locked (Session *s)
{
  return s->last_ok + (s->lease_seconds + s->grace) * G_USEC_PER_SEC;
}

/* One heartbeat. A transient failure leaves the state as it was; any other
 * answer but success ends the session for good. */
static gboolean
session_heartbeat (Session *s, GCancellable *cancellable, GError **error)
{
  Conn conn = { s->server, s->tls_db, s->direct, s->timeout, s->api_key };
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, s->session_id);
  /* Fresh per heartbeat: the signed answer covers it, so an old "OK"
   * replayed later does not verify. */
  g_autofree char *nonce = g_uuid_string_random ();
  json_builder_set_member_name (b, "nonce");
  json_builder_add_string_value (b, nonce);
  json_builder_end_object (b);
  gint64 sent = g_get_monotonic_time ();
  GError *local_error = NULL;
  JsonObject *obj = post_json (&conn, "/heartbeat", b, cancellable, &local_error);
  if (obj != NULL
      && (g_strcmp0 (json_object_get_string_member_with_default (obj, "session_id", NULL),
                     s->session_id)
              != 0
          || !testops_answer_verify (s->server_keys, s->server, obj, "heartbeat", nonce,
                                     &local_error)))
    {
      if (local_error == NULL)
        g_set_error (&local_error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                     "license server %s: refusing a heartbeat answer for another session",
                     s->server);
      g_clear_pointer (&obj, json_object_unref);
    }
  g_mutex_lock (&s->lock);
  if (obj != NULL)
    {
      gint64 expires = json_object_get_int_member_with_default (obj, "lease_expires_at", 0);
      gint64 server_time = json_object_get_int_member_with_default (obj, "server_time", 0);
      if (expires > server_time && server_time > 0)
        s->lease_seconds = expires - server_time;
      s->last_ok = sent;
      json_object_unref (obj);
    }
  else if (!leaves_session_alive (local_error)
           && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
           && s->terminal == NULL)
    s->terminal = g_error_copy (local_error);
  g_mutex_unlock (&s->lock);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

static GError *
grace_error (Session *s)
{
  return g_error_new (TESSERA_ERROR, TESSERA_ERROR_NETWORK,
                      "no answer from the license server %s for %" G_GINT64_FORMAT
                      " seconds: the grace ran out (lease %" G_GINT64_FORMAT
                      " s + grace %" G_GINT64_FORMAT " s)",
                      s->server, s->lease_seconds + s->grace, s->lease_seconds, s->grace);
}

/* The server says the session is over for good: its record has nothing
 * left to release. (`auth` is not one: a wrong key in the keyring says
 * nothing about the session.) */
static gboolean
ended_by_server (const GError *error)
{
  return g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_REVOKED)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
}

/* Removes the session's record (persistent sessions only); any thread. */
static void
session_drop_record (Session *s, const char *why)
{
  g_mutex_lock (&s->lock);
  g_autofree char *path = g_steal_pointer (&s->record_path);
  g_mutex_unlock (&s->lock);
  if (path == NULL)
    return;
  g_autoptr (GError) error = NULL;
  if (testops_state_remove (path, &error))
    g_debug ("testops: removed the session record %s: %s", path, why);
  else
    g_warning ("testops: %s", error->message);
}

static gpointer
heartbeat_thread (gpointer data)
{
  Session *s = data;
  g_mutex_lock (&s->lock);
  while (!s->stop)
    {
      gint64 interval = MAX (s->lease_seconds * G_USEC_PER_SEC / 3, G_USEC_PER_SEC);
      gint64 deadline = grace_deadline_locked (s);
      gint64 wake = MIN (g_get_monotonic_time () + interval, deadline);
      while (!s->stop && g_cond_wait_until (&s->cond, &s->lock, wake))
        ;
      if (s->stop)
        break;
      g_mutex_unlock (&s->lock);

      g_autoptr (GError) error = NULL;
      gboolean ok = session_heartbeat (s, s->cancel, &error);

      g_mutex_lock (&s->lock);
      if (s->stop || ok)
        continue;
      GError *reason = NULL;
      if (!leaves_session_alive (error))
        reason = g_error_copy (error);
      else if (g_get_monotonic_time () >= grace_deadline_locked (s))
        reason = grace_error (s);
      else
        g_debug ("testops: heartbeat failed, retrying: %s", error->message);
      if (reason != NULL)
        {
          g_mutex_unlock (&s->lock);
          if (ended_by_server (reason))
            session_drop_record (s, reason->message);
          tessera_license_invalidate (s->license, reason);
          g_error_free (reason);
          g_mutex_lock (&s->lock);
          break;
        }
    }
  g_mutex_unlock (&s->lock);
  return NULL;
}

/* Stops and joins the heartbeat thread; idempotent. Never from the thread. */
static void
session_stop (Session *s)
{
  g_mutex_lock (&s->lock);
  s->stop = TRUE;
  GThread *thread = g_steal_pointer (&s->thread);
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  g_cancellable_cancel (s->cancel);
  if (thread != NULL)
    g_thread_join (thread);
}

static void
session_free (gpointer data)
{
  Session *s = data;
  session_stop (s);
  g_free (s->server);
  g_clear_object (&s->tls_db);
  g_clear_pointer (&s->server_keys, tessera_trusted_keys_unref);
  secret_free (s->api_key);
  g_free (s->session_id);
  g_free (s->record_path);
  g_clear_error (&s->terminal);
  g_clear_object (&s->cancel);
  g_cond_clear (&s->cond);
  g_mutex_clear (&s->lock);
  g_free (s);
}

/* ---- ops ---- */

static char *
testops_dup_machine_id (Testops *self, GError **error)
{
  g_mutex_lock (&self->lock);
  if (self->machine_id == NULL)
    {
      g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (error);
      if (fp != NULL)
        self->machine_id = g_strdup (tessera_fingerprint_get_id (fp));
    }
  char *id = g_strdup (self->machine_id);
  g_mutex_unlock (&self->lock);
  return id;
}

/* Sleeps @usec, or less if @cancellable fires. */
static gboolean
sleep_cancellable (gint64 usec, GCancellable *cancellable, GError **error)
{
  gint64 end = g_get_monotonic_time () + usec;
  for (gint64 now = g_get_monotonic_time (); now < end; now = g_get_monotonic_time ())
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      g_usleep (MIN (end - now, 50 * 1000));
    }
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

static gboolean
parse_wait (Testops *self, TesseraActivateOptions *options, gint64 *wait, GError **error)
{
  const char *value = options != NULL
                          ? tessera_activate_options_get (options, TESSERA_OPTION_WAIT_TIMEOUT)
                          : NULL;
  *wait = self->wait_seconds;
  if (value == NULL)
    return TRUE;
  guint64 n = 0;
  if (!g_ascii_string_to_unsigned (value, 10, 0, MAX_WAIT, &n, NULL))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "the " TESSERA_OPTION_WAIT_TIMEOUT " option must be 0 to %d seconds, not '%s'",
                   MAX_WAIT, value);
      return FALSE;
    }
  *wait = (gint64) n;
  return TRUE;
}

static TesseraLicenseKind
kind_from_string (const char *kind)
{
  if (g_strcmp0 (kind, "node-locked") == 0)
    return TESSERA_LICENSE_KIND_NODE_LOCKED;
  return TESSERA_LICENSE_KIND_FLOATING;
}

/* The persist option: absent or false, or true. */
static gboolean
parse_persist (TesseraActivateOptions *options, gboolean *persist, GError **error)
{
  const char *value
      = options != NULL ? tessera_activate_options_get (options, TESSERA_OPTION_PERSIST) : NULL;
  *persist = FALSE;
  if (value == NULL || g_ascii_strcasecmp (value, "false") == 0 || g_str_equal (value, "0"))
    return TRUE;
  if (g_ascii_strcasecmp (value, "true") == 0 || g_str_equal (value, "1"))
    {
      *persist = TRUE;
      return TRUE;
    }
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
               "the " TESSERA_OPTION_PERSIST " option must be true or false, not '%s'", value);
  return FALSE;
}

/* The license a record describes: what activate returns, and list too. */
static TesseraLicense *
license_from_record (const TestopsRecord *r)
{
  TesseraLicense *license
      = tessera_license_new (r->product, kind_from_string (r->kind), r->license_id);
  tessera_license_set_machine_id (license, r->machine_id);
  if (r->org != NULL)
    tessera_license_set_org (license, r->org);
  tessera_license_set_issued_at (license, r->issued_at);
  if (r->expires_at > 0)
    tessera_license_set_expires_at (license, r->expires_at);
  for (guint i = 0; r->features != NULL && r->features[i] != NULL; i++)
    tessera_license_add_feature (license, r->features[i]);
  g_autofree char *lease_text = g_strdup_printf ("%" G_GINT64_FORMAT, r->lease_seconds);
  tessera_license_set_attribute (license, "testops.server", r->server);
  tessera_license_set_attribute (license, "testops.session-id", r->session_id);
  tessera_license_set_attribute (license, "testops.lease-seconds", lease_text);
  return license;
}

/* A session of @license (which takes it as backend data). @api_key: (transfer
 * full) (nullable). @last_ok: monotonic µs of the last successful exchange. */
static Session *
session_new (Testops *self, TesseraLicense *license, const TestopsRecord *r, char *api_key,
             gint64 last_ok)
{
  Session *s = g_new0 (Session, 1);
  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->server = g_strdup (self->server);
  s->tls_db = self->tls_db != NULL ? g_object_ref (self->tls_db) : NULL;
  s->direct = self->direct;
  s->timeout = self->timeout;
  s->grace = self->grace;
  s->server_keys = tessera_trusted_keys_ref (self->server_keys);
  s->api_key = api_key;
  s->session_id = g_strdup (r->session_id);
  s->license = license;
  s->lease_seconds = r->lease_seconds;
  s->last_ok = last_ok;
  s->cancel = g_cancellable_new ();
  tessera_license_set_backend_data (license, s, session_free);
  return s;
}

/* POSTs /release for @s, ignoring the answer: gives a seat back at once
 * when the activation cannot complete. */
static void
session_give_back (Session *s)
{
  Conn conn = { s->server, s->tls_db, s->direct, s->timeout, s->api_key };
  g_autoptr (JsonBuilder) rb = json_builder_new ();
  json_builder_begin_object (rb);
  json_builder_set_member_name (rb, "session_id");
  json_builder_add_string_value (rb, s->session_id);
  json_builder_end_object (rb);
  JsonObject *ignored = post_json (&conn, "/release", rb, NULL, NULL);
  g_clear_pointer (&ignored, json_object_unref);
  s->released = TRUE;
}

/* A listed session has no key until it talks to the server: the key comes
 * from the environment or the keyring then (never from the record). */
static gboolean
session_ensure_key (Testops *self, Session *s, GError **error)
{
  g_mutex_lock (&s->lock);
  gboolean have = s->api_key != NULL;
  g_mutex_unlock (&s->lock);
  if (have)
    return TRUE;
  gboolean from_keyring = FALSE, must_store = FALSE;
  char *key = dup_api_key (self, NULL, tessera_license_get_org (s->license), &from_keyring,
                           &must_store, error);
  if (key == NULL)
    return FALSE;
  g_mutex_lock (&s->lock);
  if (s->api_key == NULL)
    s->api_key = g_steal_pointer (&key);
  g_mutex_unlock (&s->lock);
  secret_free (key);
  return TRUE;
}

static TesseraLicense *
testops_activate (gpointer instance, const char *product, TesseraActivateOptions *options,
                  GCancellable *cancellable, GError **error)
{
  Testops *self = instance;
  gint64 wait = 0;
  gboolean persist = FALSE;
  if (!parse_wait (self, options, &wait, error) || !parse_persist (options, &persist, error))
    return NULL;
  /* Before taking a seat: a session that cannot be recorded is not taken. */
  if (persist && !testops_state_check_dir (self->state_dir, TRUE, NULL, error))
    return NULL;
  g_autofree char *machine_id = testops_dup_machine_id (self, error);
  if (machine_id == NULL)
    return NULL;
  const char *org
      = options != NULL ? tessera_activate_options_get (options, TESSERA_OPTION_ORG_ID) : NULL;
  if (org == NULL || *org == '\0')
    org = self->org_id;
  gboolean from_keyring = FALSE, must_store = FALSE;
  char *api_key = dup_api_key (self, options, org, &from_keyring, &must_store, error);
  if (api_key == NULL)
    return NULL;

  /* One nonce for the whole activation: a retry after a dropped answer gets
   * the same session back, never a second seat. */
  g_autofree char *nonce = g_uuid_string_random ();
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "product");
  json_builder_add_string_value (b, product);
  json_builder_set_member_name (b, "machine_id");
  json_builder_add_string_value (b, machine_id);
  json_builder_set_member_name (b, "nonce");
  json_builder_add_string_value (b, nonce);
  if (org != NULL)
    {
      json_builder_set_member_name (b, "org_id");
      json_builder_add_string_value (b, org);
    }
  json_builder_end_object (b);

  Conn conn = { self->server, self->tls_db, self->direct, self->timeout, api_key };
  gint64 give_up = g_get_monotonic_time () + wait * G_USEC_PER_SEC;
  gint64 backoff = WAIT_FIRST_USEC;
  JsonObject *obj = NULL;
  for (;;)
    {
      g_autoptr (GError) local_error = NULL;
      obj = post_json (&conn, "/activate", b, cancellable, &local_error);
      if (obj != NULL)
        break;
      gint64 left = give_up - g_get_monotonic_time ();
      if (!g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED) || left <= 0)
        {
          if (wait > 0
              && g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED))
            g_prefix_error (&local_error, "no seat within %" G_GINT64_FORMAT " seconds: ", wait);
          if (from_keyring && g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_AUTH))
            {
              /* The person did not type this key: say where it came from. */
              char *message = g_strdup_printf (
                  "%s (the API key came from the system keyring: give the right one in the "
                  "'" TESSERA_OPTION_API_KEY "' option or " API_KEY_ENV
                  ", or forget the stored one)",
                  local_error->message);
              g_free (local_error->message);
              local_error->message = message;
            }
          g_propagate_error (error, g_steal_pointer (&local_error));
          secret_free (api_key);
          return NULL;
        }
      /* ±25 % jitter, so that waiting clients do not retry in step. */
      gint64 delay = backoff * 3 / 4 + g_random_int_range (0, (gint32) (backoff / 2) + 1);
      if (!sleep_cancellable (MIN (delay, left), cancellable, error))
        {
          secret_free (api_key);
          return NULL;
        }
      backoff = MIN (backoff * 2, WAIT_MAX_USEC);
    }
  gint64 sent_ok = g_get_monotonic_time ();
  /* Before anything in it is believed: signed by the server's key over
   * this activation's nonce (a fake server cannot; a replayed answer was
   * signed over another nonce). Nothing is taken on our side. */
  if (!testops_answer_verify (self->server_keys, self->server, obj, "activate", nonce, error))
    {
      json_object_unref (obj);
      secret_free (api_key);
      return NULL;
    }

  g_autoptr (TestopsRecord) r = g_new0 (TestopsRecord, 1);
  r->session_id = g_strdup (json_object_get_string_member_with_default (obj, "session_id", NULL));
  r->license_id = g_strdup (json_object_get_string_member_with_default (obj, "license_id", NULL));
  r->lease_seconds = json_object_get_int_member_with_default (obj, "lease_seconds", 0);
  if (r->session_id == NULL || r->license_id == NULL || r->lease_seconds <= 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "license server %s: incomplete activation answer", self->server);
      json_object_unref (obj);
      secret_free (api_key);
      return NULL;
    }
  r->server = g_strdup (self->server);
  r->product = g_strdup (product);
  r->kind = g_strdup (json_object_get_string_member_with_default (obj, "kind", "floating"));
  r->machine_id
      = g_strdup (json_object_get_string_member_with_default (obj, "machine_id", machine_id));
  r->org = g_strdup (json_object_get_string_member_with_default (obj, "org_id", NULL));
  r->issued_at = json_object_get_int_member_with_default (obj, "server_time", 0);
  r->expires_at = json_object_get_int_member_with_default (obj, "subscription_end", 0);
  r->lease_expires_at = json_object_get_int_member_with_default (obj, "lease_expires_at",
                                                                 r->issued_at + r->lease_seconds);
  g_autoptr (GPtrArray) features = g_ptr_array_new_with_free_func (g_free);
  if (json_object_has_member (obj, "entitlements"))
    {
      JsonArray *ents = json_object_get_array_member (obj, "entitlements");
      for (guint i = 0; ents != NULL && i < json_array_get_length (ents); i++)
        {
          const char *e = json_array_get_string_element (ents, i);
          if (e != NULL)
            g_ptr_array_add (features, g_strdup (e));
        }
    }
  g_ptr_array_add (features, NULL);
  r->features = (char **) g_ptr_array_free (g_steal_pointer (&features), FALSE);
  json_object_unref (obj);

  TesseraLicense *license = license_from_record (r);
  Session *s = session_new (self, license, r, api_key, sent_ok);

  if (persist)
    {
      g_autoptr (GError) write_error = NULL;
      if (!testops_state_write (self->state_dir, r, &write_error))
        {
          session_give_back (s);
          tessera_license_unref (license);
          g_propagate_error (error, g_steal_pointer (&write_error));
          return NULL;
        }
      s->record_path = g_strdup (r->path);
      tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_PERSISTENT);
    }

  g_autoptr (GError) thread_error = NULL;
  g_mutex_lock (&s->lock);
  s->thread = g_thread_try_new ("testops-heartbeat", heartbeat_thread, s, &thread_error);
  g_mutex_unlock (&s->lock);
  if (thread_error != NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "cannot start the heartbeat thread: %s", thread_error->message);
      /* Give the seat back at once. */
      session_give_back (s);
      session_drop_record (s, "activation failed");
      tessera_license_unref (license);
      return NULL;
    }

  /* Only a key the server just accepted is kept. A keyring that refuses
   * now (it was reachable a moment ago) costs the next run a key, not
   * this license. */
  if (must_store)
    {
      g_autoptr (GError) store_error = NULL;
      if (!testops_keyring_store (self->server, r->org != NULL ? r->org : "", api_key,
                                  &store_error))
        g_warning ("testops: %s", store_error->message);
    }
  return license;
}

static gboolean
testops_validate (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                  GError **error)
{
  Testops *self = instance;
  Session *s = tessera_license_get_backend_data (license);
  g_mutex_lock (&s->lock);
  if (s->terminal != NULL)
    {
      GError *terminal = g_error_copy (s->terminal);
      g_mutex_unlock (&s->lock);
      if (ended_by_server (terminal))
        session_drop_record (s, terminal->message);
      g_propagate_error (error, terminal);
      return FALSE;
    }
  g_mutex_unlock (&s->lock);
  if (!session_ensure_key (self, s, error))
    return FALSE;

  g_autoptr (GError) local_error = NULL;
  if (session_heartbeat (s, cancellable, &local_error))
    return TRUE;
  if (!leaves_session_alive (local_error))
    {
      /* The session is over, whatever the code (an unknown session, a
       * revoked key): the heartbeat thread would say so at its next beat. */
      if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        tessera_license_invalidate (license, local_error);
      if (ended_by_server (local_error))
        session_drop_record (s, local_error->message);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  /* Unreachable: the last known state holds within the lease and grace. */
  g_mutex_lock (&s->lock);
  gboolean within = g_get_monotonic_time () < grace_deadline_locked (s);
  GError *reason = within ? NULL : grace_error (s);
  g_mutex_unlock (&s->lock);
  if (within)
    {
      g_debug ("testops: validate within grace: %s", local_error->message);
      return TRUE;
    }
  g_prefix_error (&reason, "%s; ", local_error->message);
  g_propagate_error (error, reason);
  return FALSE;
}

static gboolean
testops_release (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                 GError **error)
{
  Testops *self = instance;
  Session *s = tessera_license_get_backend_data (license);
  session_stop (s);
  g_mutex_lock (&s->lock);
  gboolean already = s->released;
  s->released = TRUE;
  gboolean ended = s->terminal != NULL;
  g_mutex_unlock (&s->lock);
  if (already)
    return TRUE;
  /* A session the server already ended has no seat left to free. */
  if (ended)
    {
      session_drop_record (s, "released after the server ended it");
      return TRUE;
    }
  if (!session_ensure_key (self, s, error))
    return FALSE;

  Conn conn = { s->server, s->tls_db, s->direct, s->timeout, s->api_key };
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, s->session_id);
  json_builder_end_object (b);
  g_autoptr (GError) local_error = NULL;
  JsonObject *obj = post_json (&conn, "/release", b, cancellable, &local_error);
  if (obj != NULL || ended_by_server (local_error))
    {
      g_clear_pointer (&obj, json_object_unref);
      session_drop_record (s, "released");
      return TRUE;
    }
  /* The record stays, so that a later run can still release the seat. */
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

static GPtrArray *
testops_list (gpointer instance, const char *product, GError **error)
{
  Testops *self = instance;
  g_autoptr (GPtrArray) records = testops_state_list (self->state_dir, error);
  if (records == NULL)
    return NULL;
  g_autoptr (GPtrArray) out
      = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  for (guint i = 0; i < records->len; i++)
    {
      TestopsRecord *r = records->pdata[i];
      /* Another configuration's server: never send our key there. */
      if (!g_str_equal (r->server, self->server)
          || (product != NULL && !g_str_equal (r->product, product)))
        continue;
      TesseraLicense *license = license_from_record (r);
      /* The last exchange was lease-seconds before the recorded lease end:
       * validation without an answer holds until then plus the grace. */
      gint64 last_ok = g_get_monotonic_time ()
                       + (r->lease_expires_at - r->lease_seconds - now) * G_USEC_PER_SEC;
      Session *s = session_new (self, license, r, NULL, last_ok);
      s->record_path = g_strdup (r->path);
      tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_PERSISTENT);
      g_ptr_array_add (out, license);
    }
  return g_steal_pointer (&out);
}

static gboolean
testops_forget (gpointer instance, guint *n_forgotten, GError **error)
{
  Testops *self = instance;
  /* env-only never stored anything, and may well run without a keyring. */
  if (self->key_storage == TESTOPS_KEY_STORAGE_ENV_ONLY)
    {
      *n_forgotten = 0;
      return TRUE;
    }
  return testops_keyring_forget (self->server, n_forgotten, error);
}

TESSERA_BACKEND_DEFINE (testops, "Online seats from a tessera-server (HTTPS, heartbeats)",
                        .create = testops_create, .destroy = testops_destroy,
                        .activate = testops_activate, .validate = testops_validate,
                        .release = testops_release, .list = testops_list, .forget = testops_forget)
