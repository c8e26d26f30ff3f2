/* Tessera — the machine fingerprint (machine ID) helper. See docs/fingerprint.md. */
#pragma once

#if !defined(TESSERA_INSIDE) && !defined(TESSERA_COMPILATION)
#error "Only <tessera/tessera.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * TesseraFingerprint:
 *
 * A machine fingerprint: a short, readable machine ID derived from hardware
 * identity *and* the user account, plus one digest per component so a changed
 * ID can be explained. No raw value (MAC, UUID, user name) is kept: only
 * salted SHA-256 digests. Immutable and reference counted; may be shared
 * between threads.
 */
typedef struct _TesseraFingerprint TesseraFingerprint;

/**
 * tessera_fingerprint_get_type:
 *
 * Returns: the boxed #GType of #TesseraFingerprint (copy is tessera_fingerprint_ref(), free
 *   tessera_fingerprint_unref()), for bindings and GValues. Thread-safety: any thread.
 */
GType tessera_fingerprint_get_type (void) G_GNUC_CONST;
#define TESSERA_TYPE_FINGERPRINT (tessera_fingerprint_get_type ())

/**
 * tessera_fingerprint_new:
 *
 * Computes the fingerprint of this machine for the current user (real uid).
 *
 * Returns: (transfer full): a new fingerprint, or NULL with
 *   TESSERA_ERROR_UNAVAILABLE if no hardware component could be read.
 * Thread-safety: any thread.
 */
TesseraFingerprint *tessera_fingerprint_new (GError **error);

/**
 * tessera_fingerprint_new_for_root:
 * @root: a directory standing in for "/" (reads @root/etc/machine-id,
 *   @root/sys/class/net/..., @root/proc/cpuinfo, ...); "/" for the real machine
 * @uid: the user's numeric id
 * @user_name: (nullable): the user's login name; NULL looks @uid up
 *
 * For tests and diagnostics: the fingerprint a given root and user would have.
 *
 * Returns: (transfer full): a new fingerprint, or NULL with
 *   TESSERA_ERROR_INVALID_ARGUMENT (@root is not a readable directory) or
 *   TESSERA_ERROR_UNAVAILABLE (no hardware component found).
 */
TesseraFingerprint *tessera_fingerprint_new_for_root (const char *root, guint32 uid,
                                                      const char *user_name, GError **error);

/**
 * tessera_fingerprint_ref:
 * @fp: a fingerprint
 *
 * Returns: (transfer full): @fp, with one more reference. Any thread.
 */
TesseraFingerprint *tessera_fingerprint_ref (TesseraFingerprint *fp);

/**
 * tessera_fingerprint_unref:
 * @fp: (transfer full): a fingerprint
 *
 * Drops one reference; the last one frees it. Any thread.
 */
void tessera_fingerprint_unref (TesseraFingerprint *fp);

/**
 * tessera_fingerprint_get_id:
 *
 * Returns: (transfer none): the machine ID, 19 characters
 *   "XXXX-XXXX-XXXX-XXXX" of Crockford base32 (no I, L, O, U: easy to read out),
 *   valid as long as @fp.
 */
const char *tessera_fingerprint_get_id (TesseraFingerprint *fp);

/**
 * tessera_fingerprint_id_is_valid:
 * @id: (nullable): text that should be a machine ID
 *
 * Tells whether @id has the form tessera_fingerprint_get_id() gives: 19
 * characters "XXXX-XXXX-XXXX-XXXX" of Crockford base32 in upper case. Says
 * nothing about which machine it names. Thread-safe.
 *
 * Returns: TRUE if it has that form.
 */
gboolean tessera_fingerprint_id_is_valid (const char *id);

/**
 * tessera_fingerprint_dup_components:
 *
 * Returns: (transfer full): the names of the components that went into the ID,
 *   in a fixed order ("machine-id", "dmi-uuid", "cpu", "nic", "user"); free
 *   with g_strfreev().
 */
char **tessera_fingerprint_dup_components (TesseraFingerprint *fp);

/**
 * tessera_fingerprint_get_component_digest:
 * @component: a component name
 *
 * Returns: (transfer none) (nullable): 16 hex characters identifying the
 *   component's value, or NULL if the component was not available.
 */
const char *tessera_fingerprint_get_component_digest (TesseraFingerprint *fp,
                                                      const char *component);

/**
 * tessera_fingerprint_dup_scoped_digest:
 * @component: a component name
 * @scope: what the digest is for (an online activation: the organization
 *   it names, "" when it names none); not secret
 *
 * The component's digest keyed with @scope (BLAKE2b-128 under a key
 * derived from "tessera-fp-online-v1" and @scope), so that digests sent
 * for two scopes (two servers' organizations) cannot be linked by comparing
 * them, while two reports of one machine in one scope can be
 * (tessera_machine_match_new_for_digests()). Never equal to a license
 * file's keyed digest.
 *
 * Returns: (transfer full) (nullable): 32 lowercase hex characters, or NULL
 *   if the component was not read or is no component name.
 */
char *tessera_fingerprint_dup_scoped_digest (TesseraFingerprint *fp, const char *component,
                                             const char *scope);

/**
 * tessera_fingerprint_to_string:
 *
 * Returns: (transfer full): a one-line serialization
 *   ("tessera-fp1 ID machine-id=HEX cpu=HEX ...") to store and later compare
 *   with tessera_fingerprint_diff().
 */
char *tessera_fingerprint_to_string (TesseraFingerprint *fp);

/**
 * tessera_fingerprint_new_from_string:
 *
 * Parses what tessera_fingerprint_to_string() produced.
 *
 * Returns: (transfer full): the fingerprint, or NULL with
 *   TESSERA_ERROR_INVALID_ARGUMENT if @str is malformed.
 */
TesseraFingerprint *tessera_fingerprint_new_from_string (const char *str, GError **error);

/**
 * tessera_fingerprint_diff:
 *
 * Returns: (transfer full): the names of the components whose digest differs
 *   between @a and @b (including components present in only one of them),
 *   empty if the IDs are the same; free with g_strfreev().
 */
char **tessera_fingerprint_diff (TesseraFingerprint *a, TesseraFingerprint *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraFingerprint, tessera_fingerprint_unref)

G_END_DECLS
