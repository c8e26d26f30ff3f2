/* Tessera — the license object a product holds while it runs. */
#pragma once

#if !defined(TESSERA_INSIDE) && !defined(TESSERA_COMPILATION)
#error "Only <tessera/tessera.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * TesseraLicense:
 *
 * An activated license: opaque and reference counted. A backend creates it in
 * its activate op; once the engine hands it to the product it is sealed and its
 * properties never change. Its state (held, released, invalidated) does.
 *
 * Thread-safety: every function below may be called from any thread, and one
 * license may be shared between threads (state changes are serialized by an
 * internal lock; backend ops are never called with that lock held).
 */
typedef struct _TesseraLicense TesseraLicense;

/**
 * tessera_license_get_type:
 *
 * Returns: the boxed #GType of #TesseraLicense (copy is tessera_license_ref(), free
 *   tessera_license_unref()), for bindings and GValues. Thread-safety: any thread.
 */
GType tessera_license_get_type (void) G_GNUC_CONST;
#define TESSERA_TYPE_LICENSE (tessera_license_get_type ())

/**
 * TesseraLicenseKind:
 * @TESSERA_LICENSE_KIND_NODE_LOCKED: bound to one machine (and user).
 * @TESSERA_LICENSE_KIND_FLOATING: any machine, counted per machine or user.
 * @TESSERA_LICENSE_KIND_SESSION: one seat per running session (KRE style).
 */
typedef enum
{
  TESSERA_LICENSE_KIND_NODE_LOCKED = 0,
  TESSERA_LICENSE_KIND_FLOATING,
  TESSERA_LICENSE_KIND_SESSION,
} TesseraLicenseKind;

/**
 * TesseraLicenseFlags:
 * @TESSERA_LICENSE_FLAG_NONE: nothing special.
 * @TESSERA_LICENSE_FLAG_DEVELOPMENT: a development license; products should
 *   mark (watermark) what they produce under it.
 * @TESSERA_LICENSE_FLAG_OFFLINE: granted without contacting a server.
 * @TESSERA_LICENSE_FLAG_PERSISTENT: outlives the process (see
 *   TESSERA_OPTION_PERSIST): finalizing it does not release it; only
 *   tessera_license_release() does.
 */
typedef enum
{
  TESSERA_LICENSE_FLAG_NONE = 0,
  TESSERA_LICENSE_FLAG_DEVELOPMENT = 1 << 0,
  TESSERA_LICENSE_FLAG_OFFLINE = 1 << 1,
  TESSERA_LICENSE_FLAG_PERSISTENT = 1 << 2,
} TesseraLicenseFlags;

/**
 * TesseraLicenseInvalidatedFunc:
 * @license: (transfer none): the license that stopped being valid
 * @reason: (transfer none): why (TESSERA_ERROR_REVOKED, _EXPIRED, _TERMINATED, ...)
 * @user_data: the data given at registration
 *
 * Called once per handler when a held license stops being valid, in the
 * thread-default GMainContext that was current when the handler was added.
 */
typedef void (*TesseraLicenseInvalidatedFunc) (TesseraLicense *license, const GError *reason,
                                               gpointer user_data);

/**
 * tessera_license_ref:
 * @license: a license
 *
 * Returns: (transfer full): @license, with one more reference. Any thread.
 */
TesseraLicense *tessera_license_ref (TesseraLicense *license);

/**
 * tessera_license_unref:
 *
 * Drops one reference. Dropping the last reference of a license that is
 * still held releases it first (errors of that release are only logged at
 * debug level: call tessera_license_release() to see them).
 */
void tessera_license_unref (TesseraLicense *license);

/**
 * tessera_license_get_product:
 * @license: a license
 *
 * Returns: (transfer none): the product the license is for (e.g. "KRE"), valid as long as @license.
 */
const char *tessera_license_get_product (TesseraLicense *license);

/**
 * tessera_license_get_provider:
 * @license: a license
 *
 * Returns: (transfer none): the name of the provider (backend) that granted the license, valid as
 * long as @license.
 */
const char *tessera_license_get_provider (TesseraLicense *license);

/**
 * tessera_license_get_id:
 * @license: a license
 *
 * Returns: (transfer none): the license ID the provider gave it, valid as long as @license.
 */
const char *tessera_license_get_id (TesseraLicense *license);

/**
 * tessera_license_get_kind:
 * @license: a license
 *
 * Returns: the kind of license (node-locked, floating, session).
 */
TesseraLicenseKind tessera_license_get_kind (TesseraLicense *license);

/**
 * tessera_license_get_flags:
 * @license: a license
 *
 * Returns: its flags (development, offline, persistent).
 */
TesseraLicenseFlags tessera_license_get_flags (TesseraLicense *license);

/**
 * tessera_license_get_machine_id:
 * @license: a license
 *
 * Returns: (transfer none) (nullable): the machine ID the license is bound to
 *   or was granted for, or NULL; valid as long as @license.
 */
const char *tessera_license_get_machine_id (TesseraLicense *license);

/**
 * tessera_license_get_org:
 * @license: a license
 *
 * Returns: (transfer none) (nullable): the organization that owns the license,
 *   or NULL; valid as long as @license.
 */
const char *tessera_license_get_org (TesseraLicense *license);

/**
 * tessera_license_get_issued_at:
 * @license: a license
 *
 * Returns: issue time in seconds since the Unix epoch (UTC), 0 if unknown.
 */
gint64 tessera_license_get_issued_at (TesseraLicense *license);

/**
 * tessera_license_get_expires_at:
 * @license: a license
 *
 * Returns: expiry in seconds since the Unix epoch (UTC), 0 if it never
 *   expires.
 */
gint64 tessera_license_get_expires_at (TesseraLicense *license);

/**
 * tessera_license_has_feature:
 * @feature: a feature (entitlement) name
 *
 * Returns: TRUE if the license carries the entitlement @feature.
 */
gboolean tessera_license_has_feature (TesseraLicense *license, const char *feature);

/**
 * tessera_license_dup_features:
 *
 * Returns: (transfer full): the sorted, NULL-terminated entitlement names; free
 *   with g_strfreev().
 */
char **tessera_license_dup_features (TesseraLicense *license);

/**
 * tessera_license_get_attribute:
 * @key: attribute name, namespaced by the provider (e.g. "offline.file")
 *
 * Returns: (transfer none) (nullable): a provider attribute, or NULL.
 */
const char *tessera_license_get_attribute (TesseraLicense *license, const char *key);

/**
 * tessera_license_dup_attribute_keys:
 *
 * Returns: (transfer full): sorted attribute names; free with g_strfreev().
 */
char **tessera_license_dup_attribute_keys (TesseraLicense *license);

/**
 * tessera_license_get_activation_report:
 *
 * Returns: (transfer none): one line per provider that was tried before the
 *   one that granted this license, saying why it did not ("offline: no license
 *   file for KRE in ~/.katalon/license"), or "" if the first provider granted it.
 */
const char *tessera_license_get_activation_report (TesseraLicense *license);

/**
 * tessera_license_is_held:
 *
 * Returns: TRUE while the license is neither released nor invalidated. This
 *   is local state only; tessera_license_validate() asks the backend.
 */
gboolean tessera_license_is_held (TesseraLicense *license);

/**
 * tessera_license_validate:
 * @cancellable: (nullable): to abort a slow backend
 *
 * Re-checks the license through the backend that granted it (and, first, its
 * expiry time). A terminal failure (expired, revoked, tampered, machine or
 * product mismatch, untrusted key, terminated, clock rollback) invalidates the license and
 * runs its invalidated handlers. Blocks; see the async variant for GUIs.
 *
 * Returns: TRUE if still valid; FALSE with @error set otherwise
 *   (TESSERA_ERROR_RELEASED after a release).
 */
gboolean tessera_license_validate (TesseraLicense *license, GCancellable *cancellable,
                                   GError **error);

/**
 * tessera_license_validate_async:
 * @license: a license
 * @cancellable: (nullable): to abort a slow backend
 * @callback: (scope async): called in the caller's thread-default main
 *   context when the check is done
 * @user_data: passed to @callback
 *
 * tessera_license_validate() in a worker thread; call
 * tessera_license_validate_finish() from @callback.
 */
void tessera_license_validate_async (TesseraLicense *license, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);

/**
 * tessera_license_validate_finish:
 * @license: the license given to tessera_license_validate_async()
 * @result: the result given to the callback
 *
 * Returns: TRUE if still valid; FALSE with @error set otherwise (the errors of
 *   tessera_license_validate()).
 */
gboolean tessera_license_validate_finish (TesseraLicense *license, GAsyncResult *result,
                                          GError **error);

/**
 * tessera_license_release:
 *
 * Frees the seat (unlocks the file, ends the server session). Releasing an
 * already released or invalidated license does nothing and returns TRUE. If the
 * backend fails to release, the license is still marked released locally (the
 * seat then frees when its lease runs out) and the error is returned.
 */
gboolean tessera_license_release (TesseraLicense *license, GCancellable *cancellable,
                                  GError **error);

/**
 * tessera_license_release_async:
 * @license: a license
 * @cancellable: (nullable): to abort a slow backend
 * @callback: (scope async): called in the caller's thread-default main
 *   context when the release is done
 * @user_data: passed to @callback
 *
 * tessera_license_release() in a worker thread; call
 * tessera_license_release_finish() from @callback.
 */
void tessera_license_release_async (TesseraLicense *license, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);

/**
 * tessera_license_release_finish:
 * @license: the license given to tessera_license_release_async()
 * @result: the result given to the callback
 *
 * Returns: TRUE, or FALSE with the backend's error (the license is released
 *   locally all the same; see tessera_license_release()).
 */
gboolean tessera_license_release_finish (TesseraLicense *license, GAsyncResult *result,
                                         GError **error);

/**
 * tessera_license_add_invalidated_handler:
 * @func: called when the license stops being valid
 * @user_data: passed to @func
 * @notify: (nullable): frees @user_data when the handler is removed or the
 *   license is finalized
 *
 * Registers @func to run once, in the calling thread's thread-default main
 * context, when the license is invalidated (by validate, by the backend in the
 * background, or when its expiry time passes while that main context runs).
 * If the license is already invalidated, @func is scheduled at once.
 *
 * Returns: a handler id > 0 for tessera_license_remove_invalidated_handler().
 */
guint tessera_license_add_invalidated_handler (TesseraLicense *license,
                                               TesseraLicenseInvalidatedFunc func,
                                               gpointer user_data, GDestroyNotify notify);

/**
 * tessera_license_remove_invalidated_handler:
 * @license: a license
 * @handler_id: what tessera_license_add_invalidated_handler() returned
 *
 * Removes a handler (its destroy notify runs) so it will not be called.
 *
 * Returns: TRUE, or FALSE if @handler_id is unknown (or already removed).
 */
gboolean tessera_license_remove_invalidated_handler (TesseraLicense *license, guint handler_id);

/**
 * tessera_license_kind_to_string:
 * Returns: (transfer none): "node-locked", "floating" or "session".
 */
const char *tessera_license_kind_to_string (TesseraLicenseKind kind);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraLicense, tessera_license_unref)

G_END_DECLS
