/* Configuration resolution: which file, and a strict check of [engine].
 * Provider sections belong to their backends and are checked by them. */
#include "tessera-private.h"

#include <errno.h>
#include <sys/stat.h>

#define CONFIG_MAX_SIZE (1024 * 1024)

static const char *const engine_keys[] = { "providers", "plugin-dir", "products", NULL };

void
_tessera_config_free (TesseraConfig *config)
{
  if (config == NULL)
    return;
  g_clear_pointer (&config->keyfile, g_key_file_unref);
  g_free (config->path);
  g_strfreev (config->providers);
  g_free (config->plugin_dir);
  g_strfreev (config->products);
  g_free (config);
}

static gboolean
check_engine_group (TesseraConfig *config, const char *origin, GError **error)
{
  GKeyFile *kf = config->keyfile;

  if (!g_key_file_has_group (kf, "engine"))
    {
      config->providers = g_new0 (char *, 1);
      return TRUE;
    }

  g_auto (GStrv) keys = g_key_file_get_keys (kf, "engine", NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    if (!g_strv_contains (engine_keys, keys[i]))
      {
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                     "%s: unknown key '%s' in [engine] (known: providers, plugin-dir, products)",
                     origin, keys[i]);
        return FALSE;
      }

  if (g_key_file_has_key (kf, "engine", "providers", NULL))
    {
      gsize n = 0;
      g_auto (GStrv) list = g_key_file_get_string_list (kf, "engine", "providers", &n, NULL);
      g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
      for (gsize i = 0; list && i < n; i++)
        {
          g_autofree char *name = g_strstrip (g_strdup (list[i]));
          if (!_tessera_name_is_valid (name))
            {
              g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                           "%s: [engine] providers: '%s' is not a provider name "
                           "(lowercase letters, digits and '_', starting with a letter)",
                           origin, name);
              return FALSE;
            }
          for (guint j = 0; j < out->len; j++)
            if (g_str_equal (out->pdata[j], name))
              {
                g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                             "%s: [engine] providers: '%s' is listed twice", origin, name);
                return FALSE;
              }
          g_ptr_array_add (out, g_steal_pointer (&name));
        }
      g_ptr_array_add (out, NULL);
      config->providers = (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
    }
  else
    config->providers = g_new0 (char *, 1);

  if (g_key_file_has_key (kf, "engine", "plugin-dir", NULL))
    {
      g_autofree char *dir = g_key_file_get_string (kf, "engine", "plugin-dir", NULL);
      /* A relative plugin dir would load code from wherever the product
       * happens to run: refuse it outright. */
      if (dir == NULL || !g_path_is_absolute (dir))
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                       "%s: [engine] plugin-dir must be an absolute path, not '%s'", origin,
                       dir ? dir : "");
          return FALSE;
        }
      config->plugin_dir = g_steal_pointer (&dir);
    }

  if (g_key_file_has_key (kf, "engine", "products", NULL))
    {
      config->products = g_key_file_get_string_list (kf, "engine", "products", NULL, NULL);
      for (guint i = 0; config->products && config->products[i]; i++)
        if (!_tessera_product_is_valid (g_strstrip (config->products[i])))
          {
            g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                         "%s: [engine] products: '%s' is not a product name "
                         "(1 to 64 letters, digits or '-')",
                         origin, config->products[i]);
            return FALSE;
          }
    }

  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i]; i++)
    if (g_str_has_prefix (groups[i], "provider:")
        && !_tessera_name_is_valid (groups[i] + strlen ("provider:")))
      {
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                     "%s: [%s] does not name a valid provider", origin, groups[i]);
        return FALSE;
      }
  return TRUE;
}

static TesseraConfig *
config_parse (const char *data, gsize length, const char *path, GError **error)
{
  g_autoptr (TesseraConfig) config = g_new0 (TesseraConfig, 1);
  g_autoptr (GError) local_error = NULL;
  const char *origin = path ? path : "configuration";

  config->keyfile = g_key_file_new ();
  config->path = g_strdup (path);
  if (!g_key_file_load_from_data (config->keyfile, data, length, G_KEY_FILE_KEEP_COMMENTS,
                                  &local_error))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "%s is not a valid config file: %s",
                   origin, local_error->message);
      return NULL;
    }
  if (!check_engine_group (config, origin, error))
    return NULL;
  return g_steal_pointer (&config);
}

static TesseraConfig *
config_load_file (const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  struct stat st;

  if (stat (path, &st) != 0)
    {
      int errsv = errno;
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "cannot read config file %s: %s",
                   path, g_strerror (errsv));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "config file %s is not a regular file", path);
      return NULL;
    }
  if (st.st_size > CONFIG_MAX_SIZE)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "config file %s is too large (%lld bytes; at most %d)", path,
                   (long long) st.st_size, CONFIG_MAX_SIZE);
      return NULL;
    }

  g_autoptr (GError) local_error = NULL;
  if (!g_file_get_contents (path, &data, &length, &local_error))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "cannot read config file: %s",
                   local_error->message);
      return NULL;
    }
  return config_parse (data, length, path, error);
}

TesseraConfig *
_tessera_config_load (const char *explicit_path, GError **error)
{
  if (explicit_path != NULL)
    return config_load_file (explicit_path, error);

  const char *env = _tessera_secure_getenv ("TESSERA_CONFIG");
  if (env != NULL && *env != '\0')
    return config_load_file (env, error);

  g_autoptr (GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);
  /* The user's own config would let a caller steer a setuid program. */
  if (!_tessera_is_secure_mode ())
    g_ptr_array_add (candidates,
                     g_build_filename (g_get_user_config_dir (), "tessera", "tessera.conf", NULL));
  g_ptr_array_add (candidates, g_build_filename (_tessera_sysconf_dir (), "tessera.conf", NULL));

  for (guint i = 0; i < candidates->len; i++)
    {
      const char *path = candidates->pdata[i];
      /* Only absence moves on to the next candidate: a file that exists but
       * cannot be read or parsed is an error the user must see. */
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        return config_load_file (path, error);
    }

  /* No file at all is allowed (TESSERA_PROVIDER alone can pick a provider);
   * tessera_engine_load() explains what was searched if nothing is configured. */
  TesseraConfig *config = config_parse ("", 0, NULL, error);
  return config;
}

TesseraConfig *
_tessera_config_load_data (const char *data, gssize length, GError **error)
{
  gsize len = length < 0 ? strlen (data) : (gsize) length;
  if (len > CONFIG_MAX_SIZE)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "configuration is too large (%zu bytes; at most %d)", len, CONFIG_MAX_SIZE);
      return NULL;
    }
  return config_parse (data, len, NULL, error);
}
