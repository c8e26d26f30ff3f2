#include "tessera-private.h"

struct _TesseraBackendConfig
{
  char *name;
  char *group;
  GKeyFile *keyfile;
  char *config_path;
  TesseraEngineFlags flags;
};

TesseraBackendConfig *
_tessera_backend_config_new (const char *name, GKeyFile *keyfile, const char *config_path,
                             TesseraEngineFlags flags)
{
  TesseraBackendConfig *config = g_new0 (TesseraBackendConfig, 1);
  config->name = g_strdup (name);
  config->group = g_strconcat ("provider:", name, NULL);
  config->keyfile = g_key_file_ref (keyfile);
  config->config_path = g_strdup (config_path);
  config->flags = flags;
  return config;
}

void
_tessera_backend_config_free (TesseraBackendConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->name);
  g_free (config->group);
  g_key_file_unref (config->keyfile);
  g_free (config->config_path);
  g_free (config);
}

const char *
tessera_backend_config_get_name (TesseraBackendConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->name;
}

TesseraEngineFlags
tessera_backend_config_get_engine_flags (TesseraBackendConfig *config)
{
  g_return_val_if_fail (config != NULL, TESSERA_ENGINE_FLAG_NONE);
  return config->flags;
}

GKeyFile *
tessera_backend_config_get_keyfile (TesseraBackendConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->keyfile;
}

const char *
tessera_backend_config_get_group (TesseraBackendConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->group;
}

const char *
tessera_backend_config_get_config_path (TesseraBackendConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->config_path;
}

char *
tessera_backend_config_dup_string (TesseraBackendConfig *config, const char *key,
                                   const char *default_value)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);

  char *value = g_key_file_get_string (config->keyfile, config->group, key, NULL);
  return value != NULL ? value : g_strdup (default_value);
}

char *
tessera_backend_config_dup_path (TesseraBackendConfig *config, const char *key,
                                 const char *default_value, GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autofree char *value = tessera_backend_config_dup_string (config, key, default_value);
  if (value == NULL)
    return NULL;
  if (*value == '\0')
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] %s: the path is empty",
                   config->group, key);
      return NULL;
    }
  if (g_str_equal (value, "~") || g_str_has_prefix (value, "~/"))
    return g_build_filename (g_get_home_dir (), value + 1, NULL);
  if (g_path_is_absolute (value))
    return g_canonicalize_filename (value, NULL);
  if (config->config_path == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] %s: relative path '%s' needs a config file to be relative to",
                   config->group, key, value);
      return NULL;
    }
  /* The config file may have been named relative to the working
   * directory (`tessera --config examples/x.conf`): anchor it there first. */
  g_autofree char *config_abs = g_canonicalize_filename (config->config_path, NULL);
  g_autofree char *base = g_path_get_dirname (config_abs);
  return g_canonicalize_filename (value, base);
}

gint64
tessera_backend_config_get_int (TesseraBackendConfig *config, const char *key, gint64 default_value,
                                GError **error)
{
  g_return_val_if_fail (config != NULL, default_value);
  g_return_val_if_fail (key != NULL, default_value);

  g_autofree char *value = g_key_file_get_string (config->keyfile, config->group, key, NULL);
  if (value == NULL)
    return default_value;

  gint64 result = 0;
  g_autoptr (GError) local_error = NULL;
  g_strstrip (value);
  if (!g_ascii_string_to_signed (value, 10, G_MININT64, G_MAXINT64, &result, &local_error))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] %s: %s", config->group, key,
                   local_error->message);
      return default_value;
    }
  return result;
}

gboolean
tessera_backend_config_check_keys (TesseraBackendConfig *config, const char *const *known,
                                   GError **error)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (known != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_auto (GStrv) keys = g_key_file_get_keys (config->keyfile, config->group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known, keys[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) known);
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                     "[%s] has no key '%s' (known keys: %s)", config->group, keys[i], list);
        return FALSE;
      }
  return TRUE;
}

char **
tessera_backend_config_dup_products (TesseraBackendConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  /* Already validated by config.c when the engine loaded it. */
  char **products = g_key_file_get_string_list (config->keyfile, "engine", "products", NULL, NULL);
  for (guint i = 0; products != NULL && products[i] != NULL; i++)
    g_strstrip (products[i]);
  return products;
}
