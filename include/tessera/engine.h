/* Tessera — the engine a product creates to ask for licenses. */
#pragma once

#if !defined(TESSERA_INSIDE) && !defined(TESSERA_COMPILATION)
#error "Only <tessera/tessera.h> can be included directly."
#endif

#include <gio/gio.h>
#include <tessera/license.h>
#include <tessera/options.h>

G_BEGIN_DECLS

/**
 * TesseraEngine:
 *
 * Resolves configuration, loads the configured provider plugins and routes
 * activation to them in order. Opaque and reference counted.
 *
 * Thread-safety: an engine may be shared between threads; every function below
 * may be called concurrently from any thread. Licenses it returns keep what
 * they need alive, so the engine may be unreffed while they are held.
 */
typedef struct _TesseraEngine TesseraEngine;

typedef struct _TesseraBackend TesseraBackend;

/**
 * TesseraEngineFlags:
 * @TESSERA_ENGINE_FLAG_NONE: defaults.
 * @TESSERA_ENGINE_FLAG_PRODUCTION_ONLY: refuse development licenses.
 */
typedef enum
{
  TESSERA_ENGINE_FLAG_NONE = 0,
  TESSERA_ENGINE_FLAG_PRODUCTION_ONLY = 1 << 0,
} TesseraEngineFlags;

/**
 * tessera_engine_new:
 * @config_path: (nullable): a config file to use; NULL searches, in order,
 *   `$TESSERA_CONFIG`, `$XDG_CONFIG_HOME/tessera/tessera.conf` and
 *   `SYSCONFDIR/tessera/tessera.conf` (environment ignored in setuid/setgid
 *   processes)
 *
 * Reads and checks the configuration. Plugins are loaded by
 * tessera_engine_load() or, implicitly, by the first activation, so that
 * tessera_engine_register_backend() can come in between.
 *
 * Returns: (transfer full): a new engine, or NULL with TESSERA_ERROR_CONFIG
 *   (missing, garbled, invalid), TESSERA_ERROR_PERMISSION_DENIED (unreadable).
 */
TesseraEngine *tessera_engine_new (const char *config_path, GError **error);

/**
 * tessera_engine_new_from_data:
 * @data: configuration in GKeyFile syntax
 * @length: length of @data, or -1 if NUL-terminated
 *
 * Like tessera_engine_new() with the configuration given in memory.
 */
TesseraEngine *tessera_engine_new_from_data (const char *data, gssize length, GError **error);

TesseraEngine *tessera_engine_ref (TesseraEngine *engine);
void tessera_engine_unref (TesseraEngine *engine);

/** Sets flags (before the first activation). Thread-safety: any thread. */
void tessera_engine_set_flags (TesseraEngine *engine, TesseraEngineFlags flags);
TesseraEngineFlags tessera_engine_get_flags (TesseraEngine *engine);

/**
 * tessera_engine_get_config_path:
 *
 * Returns: (transfer none) (nullable): the file the configuration came from,
 *   or NULL if it was given in memory.
 */
const char *tessera_engine_get_config_path (TesseraEngine *engine);

/**
 * tessera_engine_register_backend:
 * @backend: (transfer none): a vtable that outlives the process (static data)
 *
 * Makes @backend available as a provider without any `.so` (for testers and
 * static builds). It is checked exactly as a loaded plugin is: ABI handshake and
 * required ops. It takes precedence over an installed plugin of the same name.
 * Must be called before tessera_engine_load().
 *
 * Returns: TRUE, or FALSE with TESSERA_ERROR_ABI_MISMATCH,
 *   TESSERA_ERROR_PLUGIN_LOAD (missing required op, bad name) or
 *   TESSERA_ERROR_INVALID_ARGUMENT (name already registered, engine loaded).
 */
gboolean tessera_engine_register_backend (TesseraEngine *engine, const TesseraBackend *backend,
                                          GError **error);

/**
 * tessera_engine_load:
 *
 * Loads and instantiates the providers the configuration (or
 * `$TESSERA_PROVIDER`) names. Idempotent; on failure nothing stays loaded or
 * instantiated and a later call tries again. `TESSERA_PROVIDER=help` makes it
 * print the installed providers on stderr and fail with
 * TESSERA_ERROR_NO_PROVIDER.
 *
 * Returns: TRUE, or FALSE with TESSERA_ERROR_NO_PROVIDER, _PLUGIN_LOAD,
 *   _ABI_MISMATCH, _CONFIG or _BACKEND.
 */
gboolean tessera_engine_load (TesseraEngine *engine, GError **error);

/**
 * tessera_engine_dup_providers:
 *
 * Returns: (transfer full): the providers activation will try, in order
 *   (after tessera_engine_load(); empty before); free with g_strfreev().
 */
char **tessera_engine_dup_providers (TesseraEngine *engine);

/**
 * tessera_engine_dup_installed:
 *
 * Returns: (transfer full): sorted names of every provider available: plugins
 *   found in the plugin directory and backends registered in process. Plugins
 *   are only listed here, not loaded. Free with g_strfreev().
 */
char **tessera_engine_dup_installed (TesseraEngine *engine);

/**
 * tessera_engine_get_plugin_dir:
 *
 * Returns: (transfer none): the plugin directory in use: `$TESSERA_PLUGIN_DIR`
 *   (ignored in setuid/setgid processes), else `[engine] plugin-dir`, else the
 *   compiled-in directory.
 */
const char *tessera_engine_get_plugin_dir (TesseraEngine *engine);

/**
 * tessera_engine_activate:
 * @product: the product to license (e.g. "KRE")
 * @options: (nullable): per-call options (API key, org id, ...)
 * @cancellable: (nullable)
 *
 * Tries each provider in order until one grants @product. The license says
 * which provider granted it and why earlier ones did not
 * (tessera_license_get_activation_report()). If none grants it, the error has
 * the code of the first provider's error and a message naming every
 * provider's reason; a cancellation stops at once with G_IO_ERROR_CANCELLED.
 *
 * Returns: (transfer full): the license, or NULL with @error set.
 */
TesseraLicense *tessera_engine_activate (TesseraEngine *engine, const char *product,
                                         TesseraActivateOptions *options, GCancellable *cancellable,
                                         GError **error);
void tessera_engine_activate_async (TesseraEngine *engine, const char *product,
                                    TesseraActivateOptions *options, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
TesseraLicense *tessera_engine_activate_finish (TesseraEngine *engine, GAsyncResult *result,
                                                GError **error);

/**
 * tessera_engine_dup_machine_id:
 *
 * Returns: (transfer full): this machine's ID as the first provider sees it
 *   (its fingerprint op, or the core fingerprint for the current user), or
 *   NULL with @error set. Free with g_free().
 */
char *tessera_engine_dup_machine_id (TesseraEngine *engine, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraEngine, tessera_engine_unref)

G_END_DECLS
