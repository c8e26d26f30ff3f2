/* Internal declarations shared by core/ files. Never installed; plugins must
 * not include it. Symbols here are named _tessera_* so the linker version
 * script keeps them local to libtessera. */
#pragma once

#include <tessera/tessera.h>

G_BEGIN_DECLS

/* ---- util.c ---- */

/* getenv() that answers NULL in setuid/setgid processes (secure_getenv), so a
 * privileged program cannot be steered by its caller's environment. */
const char *_tessera_secure_getenv (const char *name);

/* The installed plugin folder and configuration folder, found relative to
 * where libtessera itself was loaded from when the tree it was installed in
 * has them (an install moved with `cmake --install --prefix`, or unpacked
 * anywhere), or else the configured absolute paths. Never NULL; owned by
 * the library. */
const char *_tessera_plugin_dir (void);
const char *_tessera_sysconf_dir (void);

/* TRUE if @name is a valid provider name: [a-z][a-z0-9_]{0,63}. */
gboolean _tessera_name_is_valid (const char *name);

/* Product names end up in file names (KRE_<machineID>.lic): 1 to 64 ASCII
 * letters, digits or '-' (no '_', which separates product and machine ID). */
gboolean _tessera_product_is_valid (const char *product);

/* Compares two char** (for qsort and g_ptr_array_sort of strings). */
gint _tessera_compare_str_ptrs (gconstpointer a, gconstpointer b);

/* Maps an errno from opening @path to a TESSERA_ERROR with a message. */
void _tessera_set_error_from_errno (GError **error, int errsv, const char *what, const char *path);

/* ---- config.c ---- */

typedef struct
{
  GKeyFile *keyfile;
  char *path;       /* file it came from, or NULL */
  char **providers; /* [engine] providers, validated, may be empty */
  char *plugin_dir; /* [engine] plugin-dir, absolute, or NULL */
  char **products;  /* [engine] products, or NULL: any valid name */
} TesseraConfig;

TesseraConfig *_tessera_config_load (const char *explicit_path, GError **error);
TesseraConfig *_tessera_config_load_data (const char *data, gssize length, GError **error);
void _tessera_config_free (TesseraConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraConfig, _tessera_config_free)

/* ---- loader.c ---- */

/* Checks the handshake and required ops of a vtable (loaded or registered).
 * @origin names where it came from, for messages. */
gboolean _tessera_backend_check (const TesseraBackend *backend, const char *expected_name,
                                 const char *origin, GError **error);

/* Loads tessera-@name.so from @plugin_dir (kept resident, cached process-wide).
 * Returns: (transfer none) the checked vtable. */
const TesseraBackend *_tessera_loader_load (const char *plugin_dir, const char *name,
                                            GError **error);

/* Reads the ABI version TESSERA_BACKEND_DEFINE recorded in the ELF note of
 * the plugin file @path, without loading it (loader-elf.c). FALSE with
 * TESSERA_ERROR_PLUGIN_LOAD if the file is not a shared object for this
 * system or has no such note. */
gboolean _tessera_loader_read_abi_note (const char *path, guint32 *major, guint32 *minor,
                                        GError **error);

/* TRUE in a setuid or setgid process (AT_SECURE): the environment, the
 * user's config and plugin dir are the caller's, not the program's. */
gboolean _tessera_is_secure_mode (void);

/* Returns: (transfer full) sorted names of the plugins present in @plugin_dir
 * (file names only: nothing is loaded). */
GPtrArray *_tessera_loader_list (const char *plugin_dir);

/* Reads the ops of @backend that its struct_size covers: NULL beyond. */
#define _TESSERA_BACKEND_HAS(backend, field)                                                       \
  ((backend)->struct_size >= G_STRUCT_OFFSET (TesseraBackend, field) + sizeof ((backend)->field))
#define _TESSERA_BACKEND_OP(backend, field)                                                        \
  (_TESSERA_BACKEND_HAS (backend, field) ? (backend)->field : NULL)

/* ---- engine.c ---- */

/* Returns: (transfer full) the loaded providers, each with a reference, and
 * the engine's flags, for calls made without the engine lock. */
GPtrArray *_tessera_engine_snapshot_providers (TesseraEngine *engine, TesseraEngineFlags *flags,
                                               GError **error);

/* ---- backend-config.c ---- */

TesseraBackendConfig *_tessera_backend_config_new (const char *name, GKeyFile *keyfile,
                                                   const char *config_path,
                                                   TesseraEngineFlags flags);
void _tessera_backend_config_free (TesseraBackendConfig *config);

/* ---- provider.c: one instantiated backend, shared by the engine and the
 * licenses it granted (refcounted so a license outlives its engine). Every
 * call into a backend goes through here, which enforces the op contract. ---- */

typedef struct _TesseraProvider TesseraProvider;

TesseraProvider *_tessera_provider_new (const TesseraBackend *backend, const char *name,
                                        GKeyFile *keyfile, const char *config_path,
                                        TesseraEngineFlags flags, GError **error);
TesseraProvider *_tessera_provider_ref (TesseraProvider *provider);
void _tessera_provider_unref (TesseraProvider *provider);
const char *_tessera_provider_get_name (TesseraProvider *provider);
TesseraLicense *_tessera_provider_activate (TesseraProvider *provider, const char *product,
                                            TesseraActivateOptions *options,
                                            GCancellable *cancellable, GError **error);
gboolean _tessera_provider_validate (TesseraProvider *provider, TesseraLicense *license,
                                     GCancellable *cancellable, GError **error);
gboolean _tessera_provider_release (TesseraProvider *provider, TesseraLicense *license,
                                    GCancellable *cancellable, GError **error);
char *_tessera_provider_fingerprint (TesseraProvider *provider, GError **error);
/* (transfer full) unsealed licenses, checked against the op contract. */
GPtrArray *_tessera_provider_list (TesseraProvider *provider, const char *product, GError **error);
TesseraLicense *_tessera_provider_install (TesseraProvider *provider, const char *file_name,
                                           GBytes *contents, TesseraInstallFlags flags,
                                           GError **error);
gboolean _tessera_provider_forget (TesseraProvider *provider, guint *n_forgotten, GError **error);
gboolean _tessera_provider_can_install (TesseraProvider *provider);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraProvider, _tessera_provider_unref)

/* ---- fingerprint-sources.c: each returns (transfer full) the raw value of
 * one component under @root, or NULL if absent ---- */

char *_tessera_fp_read_machine_id (const char *root);
char *_tessera_fp_read_dmi_uuid (const char *root);
char *_tessera_fp_read_cpu (const char *root);
char *_tessera_fp_read_nics (const char *root);
char *_tessera_fp_lookup_user_name (guint32 uid);

/* ---- fingerprint.c: the component table, for fingerprint-match.c ---- */

#define TESSERA_FP_N_COMPONENTS 5
/* Length of a stored component digest (tessera_fingerprint_get_component_digest()). */
#define TESSERA_FP_DIGEST_HEX_LEN 16
const char *_tessera_fp_component_name (guint c);
gboolean _tessera_fp_component_is_hardware (guint c);
/* -1 if @name is no component. */
int _tessera_fp_component_index (const char *name);
/* (transfer none) the digest of component @c, "" if it was not read. */
const char *_tessera_fp_get_digest (TesseraFingerprint *fp, guint c);

/* ---- fingerprint-match.c: component digests in license files ---- */

/* Hex length of a keyed component digest in a license file (BLAKE2b-128). */
#define TESSERA_FP_KEYED_HEX_LEN 32
/* Writes the keyed digest of component @c, whose unkeyed digest is
 * @digest, for the license @license_id: TESSERA_FP_KEYED_HEX_LEN lowercase
 * hex characters and a NUL. */
void _tessera_fp_keyed_digest (const char *license_id, guint c, const char *digest,
                               char out[TESSERA_FP_KEYED_HEX_LEN + 1]);
/* Whether @policy is a match policy, and with @bound hardware components in
 * a license, how many must match (*@required). FALSE with
 * TESSERA_ERROR_INVALID_ARGUMENT saying why (unknown, or N more than @bound). */
gboolean _tessera_fp_policy_required (const char *policy, guint bound, guint *required,
                                      GError **error);

/* ---- licfile.c: what fingerprint-match.c reads of a verified file ---- */

/* (transfer none) the keyed digest of component @c, or NULL (not bound, or
 * a format 1 file, which binds the machine ID only). */
const char *_tessera_licfile_get_component (TesseraLicfile *file, guint c);

/* ---- signing.c ---- */

#define TESSERA_KEY_ID_LEN 16

gboolean _tessera_sodium_init (GError **error);
void _tessera_key_id_from_public (const unsigned char *pk, char out[TESSERA_KEY_ID_LEN + 1]);
/* A key from its 32-byte Ed25519 seed (the seed stays the caller's). */
TesseraSigningKey *_tessera_signing_key_new_from_seed (const unsigned char *seed);
/* The 64-byte libsodium secret key (transfer none; guarded memory). */
const unsigned char *_tessera_signing_key_secret (TesseraSigningKey *key);
const unsigned char *_tessera_signing_key_get_secret (TesseraSigningKey *key);
/* Returns: (transfer none) the 32-byte public key for @key_id, or NULL. */
const unsigned char *_tessera_trusted_keys_lookup (TesseraTrustedKeys *keys, const char *key_id);
/* Returns: (transfer full) "id1, id2" or "none", for messages. */
char *_tessera_trusted_keys_describe (TesseraTrustedKeys *keys);

/* ---- license.c ---- */

/* Seals a license a backend returned, binding it to @provider (ref taken) and
 * recording the activation report. */
void _tessera_license_seal (TesseraLicense *license, TesseraProvider *provider,
                            const char *activation_report);
gboolean _tessera_license_is_sealed (TesseraLicense *license);

/* TRUE for error codes after which a license can never become valid again. */
gboolean _tessera_error_is_terminal (const GError *error);

G_END_DECLS
