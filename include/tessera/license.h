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

/** tessera_license_ref: Returns: (transfer full) @license, with one more reference. */
TesseraLicense *tessera_license_ref (TesseraLicense *license);

/**
 * tessera_license_unref:
 *
 * Drops one reference. Dropping the last reference of a license that is
 * still held releases it first (errors of that release are only logged at
 * debug level: call tessera_license_release() to see them).
 */
void tessera_license_unref (TesseraLicense *license);

/* Getters: (transfer none), valid as long as the caller holds a reference. */
const char *tessera_license_get_product (TesseraLicense *license);
/** The name of the provider (backend) that granted the license. */
const char *tessera_license_get_provider (TesseraLicense *license);
const char *tessera_license_get_id (TesseraLicense *license);
TesseraLicenseKind tessera_license_get_kind (TesseraLicense *license);
TesseraLicenseFlags tessera_license_get_flags (TesseraLicense *license);
/** Returns: the machine ID the license is bound to or was granted for, or NULL. */
const char *tessera_license_get_machine_id (TesseraLicense *license);
/** Returns: the organization that owns the license, or NULL. */
const char *tessera_license_get_org (TesseraLicense *license);
/** Returns: issue time in seconds since the Unix epoch (UTC), 0 if unknown. */
gint64 tessera_license_get_issued_at (TesseraLicense *license);
/** Returns: expiry in seconds since the Unix epoch (UTC), 0 if it never expires. */
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
void tessera_license_validate_async (TesseraLicense *license, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
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
void tessera_license_release_async (TesseraLicense *license, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
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

/** Removes a handler; returns FALSE if @handler_id is unknown. */
gboolean tessera_license_remove_invalidated_handler (TesseraLicense *license, guint handler_id);

/**
 * tessera_license_kind_to_string:
 * Returns: (transfer none): "node-locked", "floating" or "session".
 */
const char *tessera_license_kind_to_string (TesseraLicenseKind kind);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraLicense, tessera_license_unref)

G_END_DECLS
