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

/**
 * tessera_engine_get_type:
 *
 * Returns: the boxed #GType of #TesseraEngine (copy is tessera_engine_ref(), free
 *   tessera_engine_unref()), for bindings and GValues. Thread-safety: any thread.
 */
GType tessera_engine_get_type (void) G_GNUC_CONST;
#define TESSERA_TYPE_ENGINE (tessera_engine_get_type ())

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

/**
 * tessera_engine_ref:
 * @engine: an engine
 *
 * Returns: (transfer full): @engine, with one more reference. Any thread.
 */
TesseraEngine *tessera_engine_ref (TesseraEngine *engine);

/**
 * tessera_engine_unref:
 * @engine: (transfer full): an engine
 *
 * Drops one reference; the last one unloads the providers. Licenses still
 * held keep what they need alive. Any thread.
 */
void tessera_engine_unref (TesseraEngine *engine);

/**
 * tessera_engine_set_flags:
 * @engine: an engine
 * @flags: the flags, e.g. %TESSERA_ENGINE_FLAG_PRODUCTION_ONLY
 *
 * Sets flags; they take effect for providers loaded afterwards, so set them
 * before tessera_engine_load() or the first activation. Any thread.
 */
void tessera_engine_set_flags (TesseraEngine *engine, TesseraEngineFlags flags);

/**
 * tessera_engine_get_flags:
 * @engine: an engine
 *
 * Returns: the flags set with tessera_engine_set_flags(). Any thread.
 */
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
 * tessera_engine_dup_products:
 *
 * Returns: (transfer full) (nullable): the products the configuration
 *   licenses (`[engine] products`), which tessera_engine_activate() refuses
 *   any other product than; NULL when it does not restrict them. Free with
 *   g_strfreev().
 */
char **tessera_engine_dup_products (TesseraEngine *engine);

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
 *   installed plugin folder: LIBDIR/tessera/plugins beside the library
 *   (found relative to libtessera, so a moved prefix works), else the
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

/**
 * tessera_engine_activate_async:
 * @engine: an engine
 * @product: the product to license (e.g. "KRE")
 * @options: (nullable): per-call options (API key, org id, ...)
 * @cancellable: (nullable): to stop the activation
 * @callback: (scope async): called in the thread-default main context of the
 *   caller when the activation is done
 * @user_data: passed to @callback
 *
 * tessera_engine_activate() in a worker thread, so a main loop keeps running
 * (network providers may take seconds). Call
 * tessera_engine_activate_finish() from @callback.
 */
void tessera_engine_activate_async (TesseraEngine *engine, const char *product,
                                    TesseraActivateOptions *options, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);

/**
 * tessera_engine_activate_finish:
 * @engine: the engine given to tessera_engine_activate_async()
 * @result: the result given to the callback
 *
 * Returns: (transfer full): the license, or NULL with @error set (the errors of
 *   tessera_engine_activate()).
 */
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

/**
 * tessera_engine_list_licenses:
 * @product: (nullable): only this product's licenses; NULL for all
 *
 * The licenses the configured providers keep between processes: offline
 * license files in their folders, sessions activated with
 * TESSERA_OPTION_PERSIST. Listing takes no seat and makes no network call;
 * tessera_license_validate() on an entry tells whether it can be used now (and
 * why not), tessera_license_release() frees what it holds. Entries of earlier
 * providers come first.
 *
 * Returns: (transfer container) (element-type TesseraLicense): the licenses
 *   (maybe none), or NULL with @error set (the configuration does not load, or
 *   a provider cannot read its store). Free with g_ptr_array_unref(): the
 *   array holds a reference to each license and drops it when freed (hence
 *   "container" for bindings, which take their own references).
 */
GPtrArray *tessera_engine_list_licenses (TesseraEngine *engine, const char *product,
                                         GError **error);

/**
 * tessera_engine_install_license:
 * @provider: (nullable): the provider to install into; NULL picks the first
 *   configured provider that installs license files
 * @path: a license file a person was given
 *
 * Checks the file is authentic and for this machine and a configured product,
 * then stores it where that provider's activation finds it. A file whose
 * license is already stored is refused (TESSERA_ERROR_INVALID_ARGUMENT);
 * see tessera_engine_install_license_with_flags() to replace it. Nothing is
 * stored on failure.
 *
 * Returns: (transfer full): the installed license (not activated: it holds
 *   no seat), or NULL with @error set: TESSERA_ERROR_NOT_SUPPORTED when no
 *   configured provider installs files, TESSERA_ERROR_NOT_FOUND or
 *   TESSERA_ERROR_PERMISSION_DENIED for a @path that cannot be read,
 *   TESSERA_ERROR_INVALID_ARGUMENT for a directory or a file far too big, else
 *   the provider's reason (tampered, expired, another machine, product...).
 */
TesseraLicense *tessera_engine_install_license (TesseraEngine *engine, const char *provider,
                                                const char *path, GError **error);

/**
 * TesseraInstallFlags:
 * @TESSERA_INSTALL_NONE: refuse a file whose license is already stored
 *   (TESSERA_ERROR_INVALID_ARGUMENT, "already installed").
 * @TESSERA_INSTALL_REPLACE: replace the stored copy of the same license
 *   (a renewed file, say) instead of refusing.
 *
 * How tessera_engine_install_license_with_flags() treats what is stored.
 */
typedef enum
{
  TESSERA_INSTALL_NONE = 0,
  TESSERA_INSTALL_REPLACE = 1 << 0,
} TesseraInstallFlags;

/**
 * tessera_engine_install_license_with_flags:
 * @flags: TESSERA_INSTALL_REPLACE, or TESSERA_INSTALL_NONE (which is
 *   tessera_engine_install_license())
 *
 * tessera_engine_install_license() with @flags. A provider built for an ABI
 * older than 1.2 cannot replace: TESSERA_INSTALL_REPLACE then fails with
 * TESSERA_ERROR_NOT_SUPPORTED and stores nothing.
 */
TesseraLicense *tessera_engine_install_license_with_flags (TesseraEngine *engine,
                                                           const char *provider, const char *path,
                                                           TesseraInstallFlags flags,
                                                           GError **error);

/**
 * tessera_engine_forget_credentials:
 * @provider: (nullable): only this provider; NULL for every configured one
 * @n_forgotten: (out) (optional): how many credentials were forgotten
 *
 * Removes the credentials providers cached for later runs (API keys in the
 * system keyring). Forgetting nothing is not an error.
 *
 * Returns: TRUE, or FALSE with @error set (an unknown @provider gives
 *   TESSERA_ERROR_NO_PROVIDER; a keyring that refuses, the provider's error).
 */
gboolean tessera_engine_forget_credentials (TesseraEngine *engine, const char *provider,
                                            guint *n_forgotten, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraEngine, tessera_engine_unref)

G_END_DECLS
