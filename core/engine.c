/* The engine: which providers, in which order, and routing activation
 * through them. It never knows a backend by name. */
#include "tessera-private.h"
#include "gio-lazy.h"

#include <stdio.h>

struct _TesseraEngine
{
  gatomicrefcount ref_count;
  GMutex lock; /* guards everything below */
  TesseraConfig *config;
  TesseraEngineFlags flags;
  char *plugin_dir;
  GHashTable *registered; /* name -> const TesseraBackend* (in-process) */
  GPtrArray *providers;   /* TesseraProvider*, NULL until loaded */
  TesseraFingerprint *fingerprint;
};

static TesseraEngine *
engine_new_for_config (TesseraConfig *config)
{
  TesseraEngine *engine = g_new0 (TesseraEngine, 1);
  g_atomic_ref_count_init (&engine->ref_count);
  g_mutex_init (&engine->lock);
  engine->config = config;
  engine->registered = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  /* Environment first: it is how developers and tests point at a build tree,
   * and secure_getenv keeps it away from setuid programs. A setuid or setgid
   * program may let its user pick the config (a --config option), so there
   * the config's plugin-dir is the caller's choice too: only the built-in
   * dir, which the program's installer chose, is used. */
  const char *env = _tessera_secure_getenv ("TESSERA_PLUGIN_DIR");
  if (_tessera_is_secure_mode ())
    engine->plugin_dir = g_strdup (TESSERA_PLUGIN_DIR);
  else if (env != NULL && *env != '\0')
    engine->plugin_dir = g_strdup (env);
  else if (config->plugin_dir != NULL)
    engine->plugin_dir = g_strdup (config->plugin_dir);
  else
    engine->plugin_dir = g_strdup (_tessera_plugin_dir ());
  return engine;
}

TesseraEngine *
tessera_engine_new (const char *config_path, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  TesseraConfig *config = _tessera_config_load (config_path, error);
  return config ? engine_new_for_config (config) : NULL;
}

TesseraEngine *
tessera_engine_new_from_data (const char *data, gssize length, GError **error)
{
  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  TesseraConfig *config = _tessera_config_load_data (data, length, error);
  return config ? engine_new_for_config (config) : NULL;
}

TesseraEngine *
tessera_engine_ref (TesseraEngine *engine)
{
  g_return_val_if_fail (engine != NULL, NULL);
  g_atomic_ref_count_inc (&engine->ref_count);
  return engine;
}

void
tessera_engine_unref (TesseraEngine *engine)
{
  g_return_if_fail (engine != NULL);
  if (!g_atomic_ref_count_dec (&engine->ref_count))
    return;
  g_clear_pointer (&engine->providers, g_ptr_array_unref);
  g_clear_pointer (&engine->fingerprint, tessera_fingerprint_unref);
  g_hash_table_unref (engine->registered);
  _tessera_config_free (engine->config);
  g_free (engine->plugin_dir);
  g_mutex_clear (&engine->lock);
  g_free (engine);
}

void
tessera_engine_set_flags (TesseraEngine *engine, TesseraEngineFlags flags)
{
  g_return_if_fail (engine != NULL);
  g_mutex_lock (&engine->lock);
  engine->flags = flags;
  g_mutex_unlock (&engine->lock);
}

TesseraEngineFlags
tessera_engine_get_flags (TesseraEngine *engine)
{
  g_return_val_if_fail (engine != NULL, TESSERA_ENGINE_FLAG_NONE);
  g_mutex_lock (&engine->lock);
  TesseraEngineFlags flags = engine->flags;
  g_mutex_unlock (&engine->lock);
  return flags;
}

const char *
tessera_engine_get_config_path (TesseraEngine *engine)
{
  g_return_val_if_fail (engine != NULL, NULL);
  return engine->config->path;
}

const char *
tessera_engine_get_plugin_dir (TesseraEngine *engine)
{
  g_return_val_if_fail (engine != NULL, NULL);
  return engine->plugin_dir;
}

gboolean
tessera_engine_register_backend (TesseraEngine *engine, const TesseraBackend *backend,
                                 GError **error)
{
  g_return_val_if_fail (engine != NULL, FALSE);
  g_return_val_if_fail (backend != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!_tessera_backend_check (backend, NULL, "registered backend", error))
    return FALSE;

  g_mutex_lock (&engine->lock);
  gboolean ok = FALSE;
  if (engine->providers != NULL)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "cannot register backend '%s': the engine's providers are already loaded",
                 backend->name);
  else if (g_hash_table_contains (engine->registered, backend->name))
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "a backend named '%s' is already registered", backend->name);
  else
    {
      g_hash_table_insert (engine->registered, g_strdup (backend->name), (gpointer) backend);
      ok = TRUE;
    }
  g_mutex_unlock (&engine->lock);
  return ok;
}

/* Called with the lock held. */
static char **
installed_locked (TesseraEngine *engine)
{
  g_autoptr (GPtrArray) names = _tessera_loader_list (engine->plugin_dir);
  GHashTableIter iter;
  gpointer key;
  g_hash_table_iter_init (&iter, engine->registered);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_ptr_array_find_with_equal_func (names, key, g_str_equal, NULL))
      g_ptr_array_add (names, g_strdup (key));
  g_ptr_array_sort (names, _tessera_compare_str_ptrs);
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

char **
tessera_engine_dup_installed (TesseraEngine *engine)
{
  g_return_val_if_fail (engine != NULL, NULL);
  g_mutex_lock (&engine->lock);
  char **names = installed_locked (engine);
  g_mutex_unlock (&engine->lock);
  return names;
}

static const TesseraBackend *
find_backend_locked (TesseraEngine *engine, const char *name, GError **error)
{
  const TesseraBackend *backend = g_hash_table_lookup (engine->registered, name);
  if (backend != NULL)
    return backend;

  g_autoptr (GError) local_error = NULL;
  backend = _tessera_loader_load (engine->plugin_dir, name, &local_error);
  if (backend != NULL)
    return backend;
  if (g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER))
    {
      g_auto (GStrv) installed = installed_locked (engine);
      g_autofree char *list = g_strjoinv (", ", installed);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                   "provider '%s' is not installed in %s (installed: %s)", name, engine->plugin_dir,
                   *list ? list : "none");
      return NULL;
    }
  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

/* Like GIO_USE_VFS=help: tell a person what they may choose from. */
static char *
describe_installed_locked (TesseraEngine *engine)
{
  g_auto (GStrv) names = installed_locked (engine);
  GString *out = g_string_new ("Supported values for TESSERA_PROVIDER:\n");
  for (guint i = 0; names[i]; i++)
    {
      g_autoptr (GError) error = NULL;
      const TesseraBackend *backend = find_backend_locked (engine, names[i], &error);
      if (backend != NULL)
        g_string_append_printf (out, "  %-12s %s\n", names[i],
                                backend->description ? backend->description : "");
      else
        g_string_append_printf (out, "  %-12s (cannot load: %s)\n", names[i], error->message);
    }
  if (names[0] == NULL)
    g_string_append_printf (out, "  (none installed in %s)\n", engine->plugin_dir);
  return g_string_free (out, FALSE);
}

static gboolean
load_locked (TesseraEngine *engine, GError **error)
{
  if (engine->providers != NULL)
    return TRUE;

  g_auto (GStrv) forced_list = NULL;
  char **names = engine->config->providers;
  const char *forced = _tessera_secure_getenv ("TESSERA_PROVIDER");
  if (forced != NULL && *forced != '\0')
    {
      if (g_str_equal (forced, "help"))
        {
          g_autofree char *help = describe_installed_locked (engine);
          fputs (help, stderr);
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                       "TESSERA_PROVIDER=help: listed the installed providers; set it to one of "
                       "them");
          return FALSE;
        }
      if (!_tessera_name_is_valid (forced))
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                       "TESSERA_PROVIDER='%s' is not a provider name "
                       "(TESSERA_PROVIDER=help lists them)",
                       forced);
          return FALSE;
        }
      forced_list = g_new0 (char *, 2);
      forced_list[0] = g_strdup (forced);
      names = forced_list;
    }

  if (names[0] == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                   "no provider is configured: set [engine] providers= in %s",
                   engine->config->path ? engine->config->path
                                        : "a config file (none was found: see TESSERA_CONFIG)");
      return FALSE;
    }

  g_autoptr (GPtrArray) providers
      = g_ptr_array_new_with_free_func ((GDestroyNotify) _tessera_provider_unref);
  for (guint i = 0; names[i]; i++)
    {
      const TesseraBackend *backend = find_backend_locked (engine, names[i], error);
      if (backend == NULL)
        return FALSE;
      TesseraProvider *provider = _tessera_provider_new (
          backend, names[i], engine->config->keyfile, engine->config->path, engine->flags, error);
      if (provider == NULL)
        return FALSE; /* the array frees what was instantiated: no partial state */
      g_ptr_array_add (providers, provider);
    }
  engine->providers = g_steal_pointer (&providers);
  return TRUE;
}

gboolean
tessera_engine_load (TesseraEngine *engine, GError **error)
{
  g_return_val_if_fail (engine != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&engine->lock);
  gboolean ok = load_locked (engine, error);
  g_mutex_unlock (&engine->lock);
  return ok;
}

char **
tessera_engine_dup_products (TesseraEngine *engine)
{
  g_return_val_if_fail (engine != NULL, NULL);
  /* Immutable after creation. */
  return g_strdupv (engine->config->products);
}

char **
tessera_engine_dup_providers (TesseraEngine *engine)
{
  g_return_val_if_fail (engine != NULL, NULL);

  g_mutex_lock (&engine->lock);
  guint n = engine->providers ? engine->providers->len : 0;
  char **names = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    names[i] = g_strdup (_tessera_provider_get_name (engine->providers->pdata[i]));
  g_mutex_unlock (&engine->lock);
  return names;
}

/* Returns the providers to try, each with a reference, so activation runs
 * without the engine lock (a slow server must not block other threads). */
GPtrArray *
_tessera_engine_snapshot_providers (TesseraEngine *engine, TesseraEngineFlags *flags,
                                    GError **error)
{
  g_mutex_lock (&engine->lock);
  if (!load_locked (engine, error))
    {
      g_mutex_unlock (&engine->lock);
      return NULL;
    }
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) _tessera_provider_unref);
  for (guint i = 0; i < engine->providers->len; i++)
    g_ptr_array_add (out, _tessera_provider_ref (engine->providers->pdata[i]));
  *flags = engine->flags;
  g_mutex_unlock (&engine->lock);
  return out;
}

TesseraLicense *
tessera_engine_activate (TesseraEngine *engine, const char *product,
                         TesseraActivateOptions *options, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (engine != NULL, NULL);
  g_return_val_if_fail (product != NULL, NULL);
  g_return_val_if_fail (_tessera_gio_is_cancellable_or_null (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!_tessera_product_is_valid (product))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a product name (1 to 64 letters, digits or '-')", product);
      return NULL;
    }
  char **products = engine->config->products; /* immutable after creation */
  if (products != NULL && !g_strv_contains ((const char *const *) products, product))
    {
      g_autofree char *list = g_strjoinv (", ", products);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH,
                   "unknown product '%s': %s licenses %s", product,
                   engine->config->path ? engine->config->path : "this configuration", list);
      return NULL;
    }

  TesseraEngineFlags flags = 0;
  g_autoptr (GPtrArray) providers = _tessera_engine_snapshot_providers (engine, &flags, error);
  if (providers == NULL)
    return NULL;

  g_autoptr (TesseraActivateOptions) opts
      = options ? tessera_activate_options_ref (options) : tessera_activate_options_new ();
  g_autoptr (GString) report = g_string_new ("");
  g_autoptr (GError) first_error = NULL;

  for (guint i = 0; i < providers->len; i++)
    {
      TesseraProvider *provider = providers->pdata[i];
      const char *name = _tessera_provider_get_name (provider);
      g_autoptr (GError) local_error = NULL;
      g_autoptr (TesseraLicense) license
          = _tessera_provider_activate (provider, product, opts, cancellable, &local_error);

      if (license != NULL && (flags & TESSERA_ENGINE_FLAG_PRODUCTION_ONLY)
          && (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_DEVELOPMENT))
        {
          /* Enforced here as well as in the dev-mode backend, so no backend
           * can slip a development license into a production-only product. */
          g_autoptr (GError) ignored = NULL;
          _tessera_provider_release (provider, license, NULL, &ignored);
          g_clear_pointer (&license, tessera_license_unref);
          local_error = g_error_new (TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                                     "it granted a development license, and this product "
                                     "accepts production licenses only");
        }

      if (license != NULL)
        {
          _tessera_license_seal (license, provider, report->str);
          return g_steal_pointer (&license);
        }

      if (g_error_matches (local_error, TESSERA_GIO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      if (report->len > 0)
        g_string_append_c (report, '\n');
      g_string_append_printf (report, "%s: %s", name, local_error->message);
      if (first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }

  /* Nobody granted it: keep the first (preferred) provider's code, so a
   * product can react to it, and tell the person every reason. */
  if (first_error == NULL)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                 "no provider is loaded to grant a %s license", product);
  else if (providers->len == 1)
    g_set_error (error, first_error->domain, first_error->code, "%s", report->str);
  else
    g_set_error (error, first_error->domain, first_error->code,
                 "no provider granted a %s license:\n%s", product, report->str);
  return NULL;
}

typedef struct
{
  char *product;
  TesseraActivateOptions *options;
} ActivateData;

static void
activate_data_free (gpointer data)
{
  ActivateData *d = data;
  g_free (d->product);
  g_clear_pointer (&d->options, tessera_activate_options_unref);
  g_free (d);
}

static void
activate_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ActivateData *d = task_data;
  TesseraEngine *engine = g_object_get_data (G_OBJECT (task), "tessera-engine");
  GError *error = NULL;
  TesseraLicense *license
      = tessera_engine_activate (engine, d->product, d->options, cancellable, &error);
  if (license != NULL)
    _tessera_gio ()->task_return_pointer (task, license, (GDestroyNotify) tessera_license_unref);
  else
    _tessera_gio ()->task_return_error (task, error);
}

void
tessera_engine_activate_async (TesseraEngine *engine, const char *product,
                               TesseraActivateOptions *options, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (engine != NULL);
  g_return_if_fail (product != NULL);
  g_return_if_fail (_tessera_gio_is_cancellable_or_null (cancellable));

  ActivateData *d = g_new0 (ActivateData, 1);
  d->product = g_strdup (product);
  d->options = options ? tessera_activate_options_ref (options) : NULL;

  /* The engine is no GObject, so it rides on the task as data. */
  const TesseraGio *gio = _tessera_gio ();
  GTask *task = gio->task_new (NULL, cancellable, callback, user_data);
  gio->task_set_source_tag (task, tessera_engine_activate_async);
  gio->task_set_name (task, "tessera_engine_activate_async");
  gio->task_set_task_data (task, d, activate_data_free);
  g_object_set_data_full (G_OBJECT (task), "tessera-engine", tessera_engine_ref (engine),
                          (GDestroyNotify) tessera_engine_unref);
  gio->task_run_in_thread (task, activate_thread);
  g_object_unref (task);
}

TesseraLicense *
tessera_engine_activate_finish (TesseraEngine *engine, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (engine != NULL, NULL);
  const TesseraGio *gio = _tessera_gio ();
  g_return_val_if_fail (gio->task_is_valid (result, NULL), NULL);
  GTask *task = (GTask *) result;
  g_return_val_if_fail (gio->task_get_source_tag (task) == tessera_engine_activate_async, NULL);
  g_return_val_if_fail (g_object_get_data (G_OBJECT (result), "tessera-engine") == engine, NULL);
  return gio->task_propagate_pointer (task, error);
}

char *
tessera_engine_dup_machine_id (TesseraEngine *engine, GError **error)
{
  g_return_val_if_fail (engine != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (TesseraProvider) first = NULL;
  g_mutex_lock (&engine->lock);
  /* A broken provider setup must not hide the machine ID a person needs to
   * request an offline license: fall back to the core fingerprint. */
  if (load_locked (engine, NULL) && engine->providers->len > 0)
    first = _tessera_provider_ref (engine->providers->pdata[0]);
  g_mutex_unlock (&engine->lock);

  if (first != NULL)
    return _tessera_provider_fingerprint (first, error);

  g_mutex_lock (&engine->lock);
  if (engine->fingerprint == NULL)
    engine->fingerprint = tessera_fingerprint_new (error);
  char *id
      = engine->fingerprint ? g_strdup (tessera_fingerprint_get_id (engine->fingerprint)) : NULL;
  g_mutex_unlock (&engine->lock);
  return id;
}
