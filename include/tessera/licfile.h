/* Tessera — signed offline license files: keys, issuing and verifying.
 * Shared by the offline provider, the issuing tool and tessera-server.
 * Format: docs/license-file.md, data/schemas/license-file.schema.json. */
#pragma once

#if !defined(TESSERA_INSIDE) && !defined(TESSERA_COMPILATION)
#error "Only <tessera/tessera.h> can be included directly."
#endif

#include <glib-object.h>
#include <tessera/fingerprint.h>

G_BEGIN_DECLS

/* Longest validity of one offline license file (reference: 60 days). */
#define TESSERA_LICFILE_MAX_VALIDITY (60 * 24 * 3600)
/* Larger files are refused before anything is read from them. */
#define TESSERA_LICFILE_MAX_SIZE (64 * 1024)

/**
 * TesseraSigningKey:
 *
 * An Ed25519 key pair (libsodium) with its key id: 16 hex characters derived
 * from the public key, so keys can rotate and files say which key signed them.
 * Immutable, reference counted, any thread. The secret half is kept in
 * sodium_malloc()ed memory and wiped when freed.
 */
typedef struct _TesseraSigningKey TesseraSigningKey;

/**
 * tessera_signing_key_get_type:
 *
 * Returns: the boxed #GType of #TesseraSigningKey (copy is tessera_signing_key_ref(), free
 *   tessera_signing_key_unref()), for bindings and GValues. Thread-safety: any thread.
 */
GType tessera_signing_key_get_type (void) G_GNUC_CONST;
#define TESSERA_TYPE_SIGNING_KEY (tessera_signing_key_get_type ())

/**
 * TesseraTrustedKeys:
 *
 * A set of trusted public keys, looked up by key id. Reference counted; not
 * thread-safe while keys are being added, read-only use from any thread after.
 */
typedef struct _TesseraTrustedKeys TesseraTrustedKeys;

/**
 * tessera_trusted_keys_get_type:
 *
 * Returns: the boxed #GType of #TesseraTrustedKeys (copy is tessera_trusted_keys_ref(), free
 *   tessera_trusted_keys_unref()), for bindings and GValues. Thread-safety: any thread.
 */
GType tessera_trusted_keys_get_type (void) G_GNUC_CONST;
#define TESSERA_TYPE_TRUSTED_KEYS (tessera_trusted_keys_get_type ())

/**
 * TesseraLicfile:
 *
 * The verified content of a license file. Only tessera_licfile_verify() makes
 * one, so holding one means its signature, key trust and syntax were checked
 * (not yet machine, product or time: see tessera_licfile_check()). Immutable,
 * reference counted, any thread.
 */
typedef struct _TesseraLicfile TesseraLicfile;

/**
 * tessera_licfile_get_type:
 *
 * Returns: the boxed #GType of #TesseraLicfile (copy is tessera_licfile_ref(), free
 *   tessera_licfile_unref()), for bindings and GValues. Thread-safety: any thread.
 */
GType tessera_licfile_get_type (void) G_GNUC_CONST;
#define TESSERA_TYPE_LICFILE (tessera_licfile_get_type ())

/**
 * TesseraLicfileInfo:
 *
 * What an issuer puts in a license file. Strings are borrowed by
 * tessera_licfile_sign().
 */
typedef struct
{
  const char *license_id;  /* unique id, [A-Za-z0-9._-]{1,64} */
  const char *org;         /* organization id, non-empty */
  const char *product;     /* e.g. "KRE" */
  const char *machine_id;  /* the machine ID the file is bound to */
  const char *kind;        /* "node-locked" (the only kind offline files carry) */
  const char *billing;     /* "annual" (the only cycle that may go offline) */
  gint64 issued_at;        /* Unix seconds */
  gint64 expires_at;       /* Unix seconds; 0 = issued_at + 60 days, capped at subscription_end */
  gint64 subscription_end; /* Unix seconds */
  const char *const *entitlements; /* NULL-terminated, may be NULL */
} TesseraLicfileInfo;

/* ---- keys ---- */

/**
 * tessera_signing_key_generate:
 *
 * Generates a new random Ed25519 key pair.
 *
 * Returns: (transfer full) (nullable): the key, or NULL if libsodium cannot
 *   be initialized.
 */
TesseraSigningKey *tessera_signing_key_generate (void);

/**
 * tessera_signing_key_load:
 * @path: a secret key file written by tessera_signing_key_save()
 *
 * Returns: (transfer full): the key, or NULL with TESSERA_ERROR_NOT_FOUND,
 *   _PERMISSION_DENIED (unreadable, or readable by others: the file must be
 *   0600 or stricter) or _INVALID_ARGUMENT (not a key file).
 */
TesseraSigningKey *tessera_signing_key_load (const char *path, GError **error);

/**
 * tessera_signing_key_save:
 * @secret_path: created with mode 0600; an existing file is never overwritten
 * @public_path: (nullable): where to write the public key (mode 0644), also
 *   never overwritten
 *
 * Returns: TRUE, or FALSE with TESSERA_ERROR_INVALID_ARGUMENT (a file exists)
 *   or _PERMISSION_DENIED / _FAILED; on failure no file is left behind.
 */
gboolean tessera_signing_key_save (TesseraSigningKey *key, const char *secret_path,
                                   const char *public_path, GError **error);

/**
 * tessera_signing_key_ref:
 * @key: a key
 *
 * Returns: (transfer full): @key, with one more reference.
 */
TesseraSigningKey *tessera_signing_key_ref (TesseraSigningKey *key);

/**
 * tessera_signing_key_unref:
 * @key: (transfer full): a key
 *
 * Drops one reference; the last one wipes the secret half and frees it.
 */
void tessera_signing_key_unref (TesseraSigningKey *key);

/**
 * tessera_signing_key_get_id:
 * @key: a key
 *
 * Returns: (transfer none): the key id, 16 lowercase hex characters.
 */
const char *tessera_signing_key_get_id (TesseraSigningKey *key);

/**
 * tessera_signing_key_dup_public:
 * Returns: (transfer full): the public key as one text line
 *   ("tessera-ed25519-public KEYID BASE64\n"), what trusted-key files hold.
 */
char *tessera_signing_key_dup_public (TesseraSigningKey *key);

/* ---- sealed keys (servers sharing their keys through a database) ---- */

/* Bytes of a key-encryption key: random, held by the servers only. */
#define TESSERA_KEY_ENCRYPTION_KEY_LEN 32

/**
 * tessera_signing_key_seal:
 * @kek: (array length=kek_len): the key-encryption key
 *
 * Encrypts @key's secret with @kek (XChaCha20-Poly1305, a random nonce; the
 * key id is authenticated with it), for a database to store.
 *
 * Returns: (transfer full): the sealed key, or NULL with
 *   TESSERA_ERROR_INVALID_ARGUMENT (@kek_len is not
 *   TESSERA_KEY_ENCRYPTION_KEY_LEN).
 */
GBytes *tessera_signing_key_seal (TesseraSigningKey *key, const guint8 *kek, gsize kek_len,
                                  GError **error);

/**
 * tessera_signing_key_unseal:
 * @id: the key id the sealed key was stored under
 * @sealed: (transfer none): as tessera_signing_key_seal() made it
 *
 * Returns: (transfer full): the key, or NULL with TESSERA_ERROR_AUTH (it
 *   does not open with @kek: another key-encryption key, altered bytes, or
 *   stored under another id), _TAMPERED (not a sealed key of this format) or
 *   _INVALID_ARGUMENT (a @kek of the wrong length).
 */
TesseraSigningKey *tessera_signing_key_unseal (const char *id, GBytes *sealed, const guint8 *kek,
                                               gsize kek_len, GError **error);

/**
 * tessera_trusted_keys_new:
 *
 * Returns: (transfer full): an empty set of trusted keys.
 */
TesseraTrustedKeys *tessera_trusted_keys_new (void);

/**
 * tessera_trusted_keys_ref:
 * @keys: a set of keys
 *
 * Returns: (transfer full): @keys, with one more reference.
 */
TesseraTrustedKeys *tessera_trusted_keys_ref (TesseraTrustedKeys *keys);

/**
 * tessera_trusted_keys_unref:
 * @keys: (transfer full): a set of keys
 *
 * Drops one reference; the last one frees the set.
 */
void tessera_trusted_keys_unref (TesseraTrustedKeys *keys);

/**
 * tessera_trusted_keys_add_public:
 * @line: a public key line as tessera_signing_key_dup_public() gives
 *
 * Returns: TRUE, or FALSE with TESSERA_ERROR_INVALID_ARGUMENT.
 */
gboolean tessera_trusted_keys_add_public (TesseraTrustedKeys *keys, const char *line,
                                          GError **error);

/**
 * tessera_trusted_keys_add_path:
 * @path: a public key file, or a directory whose `*.pub` files are loaded
 *
 * Returns: TRUE, or FALSE with TESSERA_ERROR_NOT_FOUND, _PERMISSION_DENIED
 *   or _INVALID_ARGUMENT naming the file.
 */
gboolean tessera_trusted_keys_add_path (TesseraTrustedKeys *keys, const char *path, GError **error);

/**
 * tessera_trusted_keys_get_count:
 * @keys: a set of keys
 *
 * Returns: the number of keys in the set.
 */
guint tessera_trusted_keys_get_count (TesseraTrustedKeys *keys);

/* ---- detached signatures (signed server answers) ---- */

/**
 * tessera_signing_key_sign_message:
 * @context: what the message is ("activate", "heartbeat"): a signature
 *   verifies only under the same context
 * @message: the bytes to sign
 *
 * Returns: (transfer full): "KEYID.BASE64" (the key id, a dot and the
 *   Ed25519 signature), for tessera_trusted_keys_verify_message().
 */
char *tessera_signing_key_sign_message (TesseraSigningKey *key, const char *context,
                                        GBytes *message);

/**
 * tessera_trusted_keys_verify_message:
 * @signature: (nullable): as tessera_signing_key_sign_message() made it
 *
 * Returns: TRUE when @signature is a trusted key's signature of @message
 *   under @context; else FALSE with TESSERA_ERROR_TAMPERED (missing,
 *   malformed or not matching) or TESSERA_ERROR_UNTRUSTED_KEY.
 */
gboolean tessera_trusted_keys_verify_message (TesseraTrustedKeys *keys, const char *context,
                                              GBytes *message, const char *signature,
                                              GError **error);

/* ---- issuing ---- */

/**
 * tessera_licfile_sign:
 *
 * Checks @info (node-locked, annual, validity at most 60 days and not past
 * the subscription end, valid names) and returns the complete file.
 *
 * Returns: (transfer full): the bytes of the license file, or NULL with
 *   TESSERA_ERROR_INVALID_ARGUMENT saying which field is wrong, or
 *   TESSERA_ERROR_NOT_SUPPORTED for a floating or monthly license ("only an
 *   annual node-locked license can be converted to offline").
 */
GBytes *tessera_licfile_sign (TesseraSigningKey *key, const TesseraLicfileInfo *info,
                              GError **error);

/**
 * tessera_licfile_file_name:
 *
 * Returns: (transfer full): "PRODUCT_MACHINEID.lic", or with @serial > 0
 *   "PRODUCT_MACHINEID.SERIAL.lic" (so several files for one machine sit side
 *   by side and all keep the PRODUCT_MACHINEID prefix).
 */
char *tessera_licfile_file_name (const char *product, const char *machine_id, guint serial);

/* ---- verifying ---- */

/**
 * tessera_licfile_verify:
 * @contents: the whole file
 *
 * Authenticates every byte before parsing any: the file must be exactly the
 * canonical envelope around a key id, payload and signature (no byte added,
 * removed or changed, whitespace included), the key id must be trusted and the
 * Ed25519 signature must verify over the key id and payload. Only then is the
 * payload parsed, strictly (no unknown or missing field).
 *
 * Returns: (transfer full): the verified file, or NULL with
 *   TESSERA_ERROR_TAMPERED for any byte-level deviation (empty, truncated,
 *   too large, garbage, a changed byte: the message says which), or
 *   _UNTRUSTED_KEY (signed by a key not in @keys), or _INVALID_ARGUMENT (a
 *   correctly signed payload that is malformed: an issuer bug).
 */
TesseraLicfile *tessera_licfile_verify (GBytes *contents, TesseraTrustedKeys *keys, GError **error);

/**
 * tessera_licfile_check:
 * @product: (nullable): the product asked for
 * @machine_id: (nullable): this machine's ID
 * @now: the current time (Unix seconds)
 *
 * Returns: TRUE if the verified file is for @product on @machine_id and valid
 *   at @now; FALSE with TESSERA_ERROR_PRODUCT_MISMATCH, _MACHINE_MISMATCH (the
 *   message names both IDs), _NOT_YET_VALID or _EXPIRED.
 */
gboolean tessera_licfile_check (TesseraLicfile *file, const char *product, const char *machine_id,
                                gint64 now, GError **error);

/* ---- binding a file to the machine's components (docs/fingerprint.md) ---- */

/* The match policy of a file whose issuer named none: every hardware
 * component the request had but one, and at least two (or the only one). */
#define TESSERA_MATCH_DEFAULT "all-but-one"

/**
 * tessera_licfile_sign_for_request:
 * @request: the fingerprint the user's machine sent (`tessera machine-id
 *   --request`, parsed by tessera_fingerprint_new_from_string()): unkeyed
 *   component digests, never raw values. Its ID is the file's machine ID, so
 *   @info->machine_id must be NULL or that ID.
 * @match: (nullable): the match policy: "all", "all-but-one", "most", "any",
 *   or how many hardware components must match, "1" to "4"; NULL for
 *   TESSERA_MATCH_DEFAULT
 *
 * tessera_licfile_sign(), for a file (payload format 2) that also carries
 * each component of @request keyed with the license ID (BLAKE2b, so the
 * digests in two licenses for one machine cannot be linked by comparing
 * them) and @match. Such a file stays valid on a machine whose user account
 * is the same and whose hardware components match by @match
 * (tessera_licfile_match_machine()).
 *
 * Returns: (transfer full): the file, or NULL with
 *   TESSERA_ERROR_INVALID_ARGUMENT (an unknown @match, a number of
 *   components the request does not have, a request without the user
 *   component, another @info->machine_id), or tessera_licfile_sign()'s errors.
 */
GBytes *tessera_licfile_sign_for_request (TesseraSigningKey *key, const TesseraLicfileInfo *info,
                                          TesseraFingerprint *request, const char *match,
                                          GError **error);

/**
 * tessera_licfile_get_match_policy:
 *
 * Returns: (transfer none) (nullable): the file's match policy, or NULL for
 *   a file that binds the machine ID only (payload format 1, issued without
 *   a request: the ID must be equal).
 */
const char *tessera_licfile_get_match_policy (TesseraLicfile *file);

/**
 * TesseraComponentMatch:
 * @TESSERA_COMPONENT_MATCHED: bound by the license, the same on this machine
 * @TESSERA_COMPONENT_CHANGED: bound by the license, another value here
 * @TESSERA_COMPONENT_UNREAD: bound by the license, not read on this machine
 * @TESSERA_COMPONENT_UNBOUND: read here, not bound by the license
 * @TESSERA_COMPONENT_ABSENT: neither bound nor read
 * @TESSERA_COMPONENT_UNKNOWN: read here, but the license binds the machine
 *   ID only (format 1) and the ID differs: which part changed is unknown
 *
 * How one component of this machine compares with a license file.
 */
typedef enum
{
  TESSERA_COMPONENT_MATCHED,
  TESSERA_COMPONENT_CHANGED,
  TESSERA_COMPONENT_UNREAD,
  TESSERA_COMPONENT_UNBOUND,
  TESSERA_COMPONENT_ABSENT,
  TESSERA_COMPONENT_UNKNOWN,
} TesseraComponentMatch;

/**
 * tessera_component_match_to_string:
 * @match: a component state
 *
 * Returns: (transfer none): "matched", "changed", "unread", "unbound",
 *   "absent" or "unknown".
 */
const char *tessera_component_match_to_string (TesseraComponentMatch match);

/**
 * TesseraMachineMatch:
 *
 * How a verified license file compares with a machine fingerprint,
 * component by component. Immutable, reference counted, any thread.
 */
typedef struct _TesseraMachineMatch TesseraMachineMatch;

/**
 * tessera_machine_match_get_type:
 *
 * Returns: the boxed #GType of #TesseraMachineMatch (copy is tessera_machine_match_ref(), free
 *   tessera_machine_match_unref()), for bindings and GValues. Thread-safety: any thread.
 */
GType tessera_machine_match_get_type (void) G_GNUC_CONST;
#define TESSERA_TYPE_MACHINE_MATCH (tessera_machine_match_get_type ())

/**
 * tessera_licfile_match_machine:
 *
 * Compares @file with @fp: a format 1 file by the machine ID, exactly; a
 * format 2 file component by component: the user account must match, and of
 * the hardware components the file binds, as many as its policy requires.
 *
 * Returns: (transfer full): the comparison, never NULL.
 */
TesseraMachineMatch *tessera_licfile_match_machine (TesseraLicfile *file, TesseraFingerprint *fp);

/**
 * tessera_machine_match_ref:
 * @match: a comparison
 *
 * Returns: (transfer full): @match, with one more reference.
 */
TesseraMachineMatch *tessera_machine_match_ref (TesseraMachineMatch *match);

/**
 * tessera_machine_match_unref:
 * @match: (transfer full): a comparison
 *
 * Drops one reference; the last one frees it.
 */
void tessera_machine_match_unref (TesseraMachineMatch *match);

/**
 * tessera_machine_match_is_match:
 * @match: a comparison
 *
 * Returns: TRUE if the file is valid on the machine (as far as the machine
 *   goes).
 */
gboolean tessera_machine_match_is_match (TesseraMachineMatch *match);

/**
 * tessera_machine_match_get_policy:
 * @match: a comparison
 *
 * Returns: (transfer none): the file's policy, or "exact" for a format 1 file.
 */
const char *tessera_machine_match_get_policy (TesseraMachineMatch *match);

/**
 * tessera_machine_match_get_bound:
 * @match: a comparison
 *
 * Returns: how many hardware components the file binds (0 for a format
 *   1 file).
 */
guint tessera_machine_match_get_bound (TesseraMachineMatch *match);

/**
 * tessera_machine_match_get_matched:
 * @match: a comparison
 *
 * Returns: how many hardware components the file binds that match here (0 for a format
 *   1 file).
 */
guint tessera_machine_match_get_matched (TesseraMachineMatch *match);

/**
 * tessera_machine_match_get_required:
 * @match: a comparison
 *
 * Returns: how many hardware components the file its policy requires to match (0 for a format
 *   1 file).
 */
guint tessera_machine_match_get_required (TesseraMachineMatch *match);

/**
 * tessera_machine_match_get_component:
 * @match: a comparison
 * @component: a component name ("nic", ...)
 *
 * Returns: how @component compares; %TESSERA_COMPONENT_ABSENT for an unknown
 *   name.
 */
TesseraComponentMatch tessera_machine_match_get_component (TesseraMachineMatch *match,
                                                           const char *component);

/**
 * tessera_machine_match_dup_components:
 *
 * Returns: (transfer full): the names of the components in state @state, in
 *   the fingerprint's order; free with g_strfreev().
 */
char **tessera_machine_match_dup_components (TesseraMachineMatch *match,
                                             TesseraComponentMatch state);

/**
 * tessera_machine_match_dup_explanation:
 *
 * Returns: (transfer full): one sentence for a person: what changed and
 *   what the policy needs ("the network card changed (nic); 3 of 4 hardware
 *   components match, the license needs 4").
 */
char *tessera_machine_match_dup_explanation (TesseraMachineMatch *match);

/**
 * tessera_match_policy_check:
 * @policy: (nullable): a match policy name
 *
 * Returns: TRUE if @policy is one tessera_licfile_sign_for_request() takes
 *   ("all", "all-but-one", "most", "any", "1" to "4"), else FALSE with
 *   TESSERA_ERROR_INVALID_ARGUMENT saying which are.
 */
gboolean tessera_match_policy_check (const char *policy, GError **error);

/**
 * tessera_machine_digests_check:
 * @digests: (nullable): "NAME=DIGEST NAME=DIGEST ...": component names, each
 *   at most once, with 32 lowercase hex digits (a scoped digest,
 *   tessera_fingerprint_dup_scoped_digest())
 *
 * Returns: TRUE if @digests is such a list with the user component and at
 *   least one hardware component, else FALSE with
 *   TESSERA_ERROR_INVALID_ARGUMENT naming the item at fault.
 */
gboolean tessera_machine_digests_check (const char *digests, GError **error);

/**
 * tessera_machine_match_new_for_digests:
 * @policy: the match policy (tessera_match_policy_check())
 * @bound: the digests a machine was registered with (as
 *   tessera_machine_digests_check() takes)
 * @current: the digests reported now, keyed the same way
 *
 * tessera_licfile_match_machine()'s comparison, for digests kept elsewhere
 * than in a license file (a license server's registered machines): the
 * user must be in both and equal; of the hardware components in @bound,
 * @policy says how many must be equal in @current (a number over the
 * components of @bound is never met). The match has no machine IDs.
 *
 * Returns: (transfer full): the comparison, or NULL with
 *   TESSERA_ERROR_INVALID_ARGUMENT (an unknown @policy, a malformed list).
 */
TesseraMachineMatch *tessera_machine_match_new_for_digests (const char *policy, const char *bound,
                                                            const char *current, GError **error);

/**
 * tessera_licfile_check_fingerprint:
 * @product: (nullable): the product asked for
 * @fp: this machine's fingerprint
 * @now: the current time (Unix seconds)
 *
 * tessera_licfile_check() with the machine compared by
 * tessera_licfile_match_machine(): a format 1 file needs the same machine
 * ID, a format 2 file the user account and the hardware its policy requires.
 *
 * Returns: TRUE, or FALSE with tessera_licfile_check()'s errors;
 *   TESSERA_ERROR_MACHINE_MISMATCH names both IDs and, for a format 2 file,
 *   the components that changed and what the policy needs.
 */
gboolean tessera_licfile_check_fingerprint (TesseraLicfile *file, const char *product,
                                            TesseraFingerprint *fp, gint64 now, GError **error);

/**
 * tessera_licfile_ref:
 * @file: a verified license file
 *
 * Returns: (transfer full): @file, with one more reference.
 */
TesseraLicfile *tessera_licfile_ref (TesseraLicfile *file);

/**
 * tessera_licfile_unref:
 * @file: (transfer full): a verified license file
 *
 * Drops one reference; the last one frees it.
 */
void tessera_licfile_unref (TesseraLicfile *file);

/**
 * tessera_licfile_get_license_id:
 * @file: a verified license file
 *
 * Returns: (transfer none): the license ID, valid as long as @file.
 */
const char *tessera_licfile_get_license_id (TesseraLicfile *file);

/**
 * tessera_licfile_get_org:
 * @file: a verified license file
 *
 * Returns: (transfer none): the organization ID, valid as long as @file.
 */
const char *tessera_licfile_get_org (TesseraLicfile *file);

/**
 * tessera_licfile_get_product:
 * @file: a verified license file
 *
 * Returns: (transfer none): the product (e.g. "KRE"), valid as long as @file.
 */
const char *tessera_licfile_get_product (TesseraLicfile *file);

/**
 * tessera_licfile_get_machine_id:
 * @file: a verified license file
 *
 * Returns: (transfer none): the machine ID the file is bound to, valid as long as @file.
 */
const char *tessera_licfile_get_machine_id (TesseraLicfile *file);

/**
 * tessera_licfile_get_kind:
 * @file: a verified license file
 *
 * Returns: (transfer none): the license kind ("node-locked"), valid as long as @file.
 */
const char *tessera_licfile_get_kind (TesseraLicfile *file);

/**
 * tessera_licfile_get_billing:
 * @file: a verified license file
 *
 * Returns: (transfer none): the billing cycle ("annual"), valid as long as @file.
 */
const char *tessera_licfile_get_billing (TesseraLicfile *file);

/**
 * tessera_licfile_get_key_id:
 * @file: a verified license file
 *
 * Returns: (transfer none): the id of the key that signed the file, valid as long as @file.
 */
const char *tessera_licfile_get_key_id (TesseraLicfile *file);

/**
 * tessera_licfile_get_issued_at:
 * @file: a verified license file
 *
 * Returns: issue time, in Unix seconds (UTC).
 */
gint64 tessera_licfile_get_issued_at (TesseraLicfile *file);

/**
 * tessera_licfile_get_expires_at:
 * @file: a verified license file
 *
 * Returns: the end of the file's validity, in Unix seconds (UTC).
 */
gint64 tessera_licfile_get_expires_at (TesseraLicfile *file);

/**
 * tessera_licfile_get_subscription_end:
 * @file: a verified license file
 *
 * Returns: the end of the subscription, in Unix seconds (UTC).
 */
gint64 tessera_licfile_get_subscription_end (TesseraLicfile *file);

/**
 * tessera_licfile_get_entitlements:
 * @file: a verified license file
 *
 * Returns: (transfer none) (array zero-terminated=1): the sorted entitlement
 *   names, valid as long as @file.
 */
const char *const *tessera_licfile_get_entitlements (TesseraLicfile *file);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraSigningKey, tessera_signing_key_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraTrustedKeys, tessera_trusted_keys_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraLicfile, tessera_licfile_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraMachineMatch, tessera_machine_match_unref)

G_END_DECLS
