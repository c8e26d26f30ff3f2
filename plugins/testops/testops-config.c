/* The online provider's configuration: [provider:testops] into an instance
 * (docs/testops.md, "Configuration"). */
#include "testops-private.h"

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

/* ---- the servers ---- */

Servers *
servers_ref (Servers *sv)
{
  g_atomic_ref_count_inc (&sv->ref);
  return sv;
}

void
servers_unref (Servers *sv)
{
  if (sv == NULL || !g_atomic_ref_count_dec (&sv->ref))
    return;
  g_strfreev (sv->urls);
  g_free (sv->direct);
  g_clear_object (&sv->tls_db);
  g_free (sv);
}

int
servers_find (const Servers *sv, const char *url)
{
  for (guint i = 0; i < sv->n; i++)
    if (g_str_equal (sv->urls[i], url))
      return (int) i;
  return -1;
}

/* ---- configuration ---- */

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

/* One entry of the server list: https, or http on a loopback host with
 * allow-http=true. @value: stripped in place, its trailing '/'s removed. */
static gboolean
parse_url (const char *group, char *value, gboolean allow_http, gboolean *direct, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GUri) uri = g_uri_parse (value, G_URI_FLAGS_NONE, &local_error);
  if (uri == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] server '%s' is no URL: %s",
                   group, value, local_error->message);
      return FALSE;
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
      return FALSE;
    }
  if (g_ascii_strcasecmp (scheme, "http") == 0)
    {
      if (!allow_http || !host_is_loopback (host))
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                       "[%s] server '%s' is plain HTTP: use https (allow-http=true is accepted "
                       "for a loopback host only)",
                       group, value);
          return FALSE;
        }
    }
  else if (g_ascii_strcasecmp (scheme, "https") != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] server '%s': the scheme must be https", group, value);
      return FALSE;
    }
  *direct = host_is_loopback (host);
  gsize len = strlen (value);
  while (len > 0 && value[len - 1] == '/')
    value[--len] = '\0';
  return TRUE;
}

/* `server`: one URL or an ordered list (server=https://a;https://b), every
 * entry checked alone, so that an error names the entry. */
static Servers *
parse_servers (TesseraBackendConfig *config, GError **error)
{
  const char *group = tessera_backend_config_get_group (config);
  GKeyFile *keyfile = tessera_backend_config_get_keyfile (config);
  g_auto (GStrv) values = g_key_file_get_string_list (keyfile, group, "server", NULL, NULL);
  guint n = values != NULL ? g_strv_length (values) : 0;
  if (n == 0 || (n == 1 && *g_strstrip (values[0]) == '\0'))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] server is required: the URL of your tessera-server, e.g. "
                   "https://licenses.example.com (or several, tried in order: "
                   "https://a.example.com;https://b.example.com)",
                   group);
      return NULL;
    }
  gboolean allow_http = FALSE;
  if (!get_bool (config, "allow-http", &allow_http, error))
    return NULL;
  g_autoptr (Servers) sv = g_new0 (Servers, 1);
  g_atomic_ref_count_init (&sv->ref);
  sv->direct = g_new0 (gboolean, n);
  for (guint i = 0; i < n; i++)
    {
      if (*g_strstrip (values[i]) == '\0')
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                       "[%s] server: entry %u of the list is empty", group, i + 1);
          return NULL;
        }
      if (!parse_url (group, values[i], allow_http, &sv->direct[i], error))
        return NULL;
      for (guint j = 0; j < i; j++)
        if (g_str_equal (values[j], values[i]))
          {
            g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                         "[%s] server '%s' is listed twice", group, values[i]);
            return NULL;
          }
    }
  sv->n = n;
  sv->urls = g_steal_pointer (&values);
  return g_steal_pointer (&sv);
}

void
testops_destroy (gpointer instance)
{
  Testops *self = instance;
  if (self == NULL)
    return;
  g_clear_pointer (&self->servers, servers_unref);
  g_free (self->state_dir);
  g_clear_pointer (&self->server_keys, tessera_trusted_keys_unref);
  g_free (self->org_id);
  g_clear_pointer (&self->fingerprint, tessera_fingerprint_unref);
  g_mutex_clear (&self->lock);
  g_free (self);
}

gpointer
testops_create (TesseraBackendConfig *config, GError **error)
{
  const char *group = tessera_backend_config_get_group (config);
  if (!tessera_backend_config_check_keys (config, known_keys, error))
    return NULL;

  g_autoptr (GError) local_error = NULL;
  g_autofree char *ca_file = NULL;
  g_autofree char *storage = NULL;
  g_autofree char *default_state = NULL;
  Testops *self = g_new0 (Testops, 1);
  g_mutex_init (&self->lock);
  self->servers = parse_servers (config, error);
  if (self->servers == NULL)
    goto fail;
  if (!get_range (config, "grace-seconds", 0, 0, MAX_GRACE, &self->grace, error)
      || !get_range (config, "timeout-seconds", DEFAULT_TIMEOUT, 1, MAX_TIMEOUT,
                     &self->servers->timeout, error)
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
      /* One CA file for every server: they are one service. */
      self->servers->tls_db = g_tls_file_database_new (ca_file, &local_error);
      if (self->servers->tls_db == NULL)
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
