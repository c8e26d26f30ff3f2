/* Tessera — the backend vtable: what a licensing provider plugin implements.
 *
 * A plugin is one shared object `tessera-NAME.so` in the plugin directory that
 * exports exactly one symbol, `tessera_backend_entry_NAME`, defined with
 * TESSERA_BACKEND_DEFINE(). The same entry function lets a static build
 * register the backend in process with tessera_engine_register_backend().
 *
 * Threading: the core serializes nothing. Ops on one instance may run
 * concurrently from several threads (an engine is shared between threads), so a
 * backend protects its own state. The core never holds one of its locks while
 * calling an op, so an op may call back into the public API.
 *
 * Contract: an op that fails returns NULL/FALSE *and* sets @error; an op that
 * succeeds returns a value and leaves @error unset. The core turns a breach of
 * either rule into TESSERA_ERROR_BACKEND (and frees any value returned with an
 * error) instead of trusting it.
 */
#pragma once

#if !defined(TESSERA_INSIDE) && !defined(TESSERA_COMPILATION)
#error "Only <tessera/tessera.h> can be included directly."
#endif

#include <gio/gio.h>
#include <tessera/engine.h>
#include <tessera/license.h>
#include <tessera/options.h>

G_BEGIN_DECLS

/* The backend ABI. The major changes only when the vtable changes
 * incompatibly: a plugin whose major differs is refused. Optional ops are only
 * ever appended (the minor grows); a plugin built for a newer minor than this
 * core knows is refused, an older one is accepted and the slots its (smaller)
 * struct_size does not cover read as NULL. */
#define TESSERA_BACKEND_ABI_MAJOR 1
#define TESSERA_BACKEND_ABI_MINOR 2

/**
 * TesseraBackendConfig:
 *
 * What a backend instance is created from: its provider name, its config
 * section (`[provider:NAME]`, possibly absent) and the engine's flags. Owned by
 * the core; valid only during the create op.
 */
typedef struct _TesseraBackendConfig TesseraBackendConfig;

/**
 * tessera_backend_config_get_name:
 * @config: the configuration given to the create op
 *
 * Returns: (transfer none): the provider name, e.g. "offline".
 */
const char *tessera_backend_config_get_name (TesseraBackendConfig *config);

/**
 * tessera_backend_config_get_engine_flags:
 * @config: the configuration given to the create op
 *
 * Returns: the engine's flags (e.g. %TESSERA_ENGINE_FLAG_PRODUCTION_ONLY).
 */
TesseraEngineFlags tessera_backend_config_get_engine_flags (TesseraBackendConfig *config);

/**
 * tessera_backend_config_get_keyfile:
 * @config: the configuration given to the create op
 *
 * For backends that need more than the helpers below.
 *
 * Returns: (transfer none): the whole configuration, read only, valid during
 *   the create op.
 */
GKeyFile *tessera_backend_config_get_keyfile (TesseraBackendConfig *config);

/**
 * tessera_backend_config_get_group:
 * @config: the configuration given to the create op
 *
 * Returns: (transfer none): the provider's group name in the configuration
 *   ("provider:NAME").
 */
const char *tessera_backend_config_get_group (TesseraBackendConfig *config);

/**
 * tessera_backend_config_get_config_path:
 * @config: the configuration given to the create op
 *
 * Returns: (transfer none) (nullable): the config file the section came from,
 *   or NULL if the configuration was given in memory.
 */
const char *tessera_backend_config_get_config_path (TesseraBackendConfig *config);

/**
 * tessera_backend_config_dup_string:
 * @key: a key of the provider's section
 * @default_value: (nullable): returned (copied) when the key is absent
 *
 * Returns: (transfer full) (nullable): the value, or a copy of @default_value.
 */
char *tessera_backend_config_dup_string (TesseraBackendConfig *config, const char *key,
                                         const char *default_value);

/**
 * tessera_backend_config_dup_path:
 *
 * Like tessera_backend_config_dup_string() and then expands a leading "~/" to
 * the user's home directory. Relative paths are resolved against the directory
 * of the config file (or refused with TESSERA_ERROR_CONFIG if it came from
 * memory).
 *
 * Returns: (transfer full) (nullable): an absolute path, or NULL if the key is
 *   absent and @default_value is NULL (no error), or NULL with @error set.
 */
char *tessera_backend_config_dup_path (TesseraBackendConfig *config, const char *key,
                                       const char *default_value, GError **error);

/**
 * tessera_backend_config_dup_products:
 *
 * Returns: (transfer full) (nullable): the products the configuration
 *   licenses ([engine] products), or NULL when it does not restrict them.
 *   Free with g_strfreev(). Since ABI 1.1.
 */
char **tessera_backend_config_dup_products (TesseraBackendConfig *config);

/**
 * tessera_backend_config_get_int:
 *
 * Returns: the integer value of @key, @default_value if absent, or
 *   @default_value with TESSERA_ERROR_CONFIG set if it is not an integer.
 */
gint64 tessera_backend_config_get_int (TesseraBackendConfig *config, const char *key,
                                       gint64 default_value, GError **error);

/**
 * tessera_backend_config_check_keys:
 * @known: (array zero-terminated=1) (transfer none): every key the provider
 *   reads; not kept after the call
 *
 * Refuses a key of the provider's section that is not in @known, so that a
 * typo never silently falls back to a default. An absent section has no
 * keys and passes.
 *
 * Returns: TRUE, or FALSE with TESSERA_ERROR_CONFIG naming the first unknown
 *   key and listing @known.
 */
gboolean tessera_backend_config_check_keys (TesseraBackendConfig *config, const char *const *known,
                                            GError **error);

/**
 * TesseraBackend:
 *
 * The vtable. Fill it with TESSERA_BACKEND_DEFINE(); the header fields are set
 * by the macro.
 */
struct _TesseraBackend
{
  /* Handshake: set by TESSERA_BACKEND_DEFINE from the headers it was built with. */
  guint32 abi_major;
  guint32 abi_minor;
  guint32 struct_size;
  guint32 reserved_flags;
  const char *name;        /* [a-z][a-z0-9_]*, equal to NAME in the file and symbol */
  const char *description; /* one line shown by `tessera providers` */

  /* Required: a plugin lacking one of these is refused at load. */

  /* Returns: (transfer full) an instance (any non-NULL pointer), or NULL with
   * @error set (TESSERA_ERROR_CONFIG for a bad section). */
  gpointer (*create) (TesseraBackendConfig *config, GError **error);
  /* Frees an instance. Licenses it granted may still be alive (they are
   * released first); it must not fail. */
  void (*destroy) (gpointer instance);
  /* Returns: (transfer full) a new license from tessera_license_new() for
   * @product, or NULL with @error set. */
  TesseraLicense *(*activate) (gpointer instance, const char *product,
                               TesseraActivateOptions *options, GCancellable *cancellable,
                               GError **error);
  /* Re-checks a license this instance granted. */
  gboolean (*validate) (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                        GError **error);

  /* Optional: NULL answers TESSERA_ERROR_NOT_SUPPORTED unless said otherwise. */

  /* Frees the seat of a license this instance granted. Called at most once
   * per license. */
  gboolean (*release) (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                       GError **error);
  /* Returns: (transfer full) the machine ID this backend binds licenses to.
   * NULL slot: the core fingerprint (tessera_fingerprint_new()) is used. */
  char *(*fingerprint) (gpointer instance, GError **error);

  /* ---- Since ABI 1.1 (optional) ---- */

  /* Returns: (transfer full) (element-type TesseraLicense): the licenses this
   * instance keeps between processes for @product (NULL: every product): files
   * in its license folder, sessions it recorded because TESSERA_OPTION_PERSIST
   * was set. Each is new and unsealed, as from activate, and takes nothing: no
   * seat, no network call. Entries it finds but cannot use (expired, another
   * machine, unreadable) are listed too: their validate says why. An empty
   * array when there are none. NULL slot: an empty list. */
  GPtrArray *(*list) (gpointer instance, const char *product, GError **error);
  /* Checks @contents (a license file a person was given, @file_name its
   * name) is authentic, for this machine and for a product this instance
   * serves, then stores it where activate finds it. Returns: (transfer full)
   * the stored license, unsealed, as list would return it; or NULL with
   * @error saying exactly what is wrong, and nothing stored. A file for a
   * product outside tessera_backend_config_dup_products() is refused with
   * TESSERA_ERROR_PRODUCT_MISMATCH. */
  TesseraLicense *(*install) (gpointer instance, const char *file_name, GBytes *contents,
                              GError **error);
  /* Forgets every credential this instance cached (API keys in the system
   * keyring). Sets *@n_forgotten to how many (0 when there were none).
   * NULL slot: nothing is cached, nothing to forget. */
  gboolean (*forget) (gpointer instance, guint *n_forgotten, GError **error);

  /* ---- Since ABI 1.2 (optional) ---- */

  /* install, with @flags from the caller. Without TESSERA_INSTALL_REPLACE a
   * file holding a license already stored is refused (as already
   * installed); with it, the stored copy is replaced. A provider that has
   * this op is always called through it (its install slot is only for
   * cores older than 1.2). NULL slot: install, and TESSERA_INSTALL_REPLACE
   * answers TESSERA_ERROR_NOT_SUPPORTED. */
  TesseraLicense *(*install_with_flags) (gpointer instance, const char *file_name, GBytes *contents,
                                         TesseraInstallFlags flags, GError **error);

  /* New optional ops are appended here, bumping TESSERA_BACKEND_ABI_MINOR. */
};

#if defined(_WIN32)
#define TESSERA_BACKEND_EXPORT __declspec(dllexport)
#else
#define TESSERA_BACKEND_EXPORT __attribute__ ((visibility ("default")))
#endif

/* The ABI note. dlopen() runs a plugin's constructors before the core could
 * look at its vtable, so TESSERA_BACKEND_DEFINE also records the ABI in the
 * file itself: an ELF note (section .note.tessera, owner "Tessera", type
 * TESSERA_BACKEND_NOTE_TYPE, two 32-bit words: major and minor) that the core
 * reads from the file before loading it. A plugin file without it, or with
 * another major or a newer minor, is refused without running any of its
 * code. The vtable's own abi_major/abi_minor are still checked after
 * loading. Plugins built before the note existed must be rebuilt. */
#define TESSERA_BACKEND_NOTE_OWNER "Tessera"
#define TESSERA_BACKEND_NOTE_TYPE 0x54530001u

#if defined(__ELF__)
/* @id_: a C identifier unique in the file; used by TESSERA_BACKEND_DEFINE. */
#define TESSERA_BACKEND_NOTE(id_, major_, minor_)                                                  \
  __attribute__ ((section (".note.tessera"), aligned (4), used)) static const struct               \
  {                                                                                                \
    guint32 namesz, descsz, type;                                                                  \
    char name[sizeof (TESSERA_BACKEND_NOTE_OWNER)];                                                \
    guint32 major, minor;                                                                          \
  } tessera_backend_note_##id_ = { sizeof (TESSERA_BACKEND_NOTE_OWNER),                            \
                                   2 * sizeof (guint32),                                           \
                                   TESSERA_BACKEND_NOTE_TYPE,                                      \
                                   TESSERA_BACKEND_NOTE_OWNER,                                     \
                                   (major_),                                                       \
                                   (minor_) }
#else
#define TESSERA_BACKEND_NOTE(id_, major_, minor_) G_STATIC_ASSERT (1)
#endif

/**
 * TESSERA_BACKEND_DEFINE:
 * @name_: the provider name, a C identifier: the file is tessera-@name_.so
 * @description_: a one-line description
 * @...: designated initializers of the ops, e.g. `.create = my_create, ...`
 *
 * Defines the plugin's only exported symbol, `tessera_backend_entry_<name_>`,
 * returning its static vtable stamped with this header's ABI version, and
 * the ABI note (TESSERA_BACKEND_NOTE) the core reads before loading the file.
 */
#define TESSERA_BACKEND_DEFINE(name_, description_, ...)                                           \
  TESSERA_BACKEND_NOTE (name_, TESSERA_BACKEND_ABI_MAJOR, TESSERA_BACKEND_ABI_MINOR);              \
  TESSERA_BACKEND_EXPORT const TesseraBackend *tessera_backend_entry_##name_ (void);               \
  TESSERA_BACKEND_EXPORT const TesseraBackend *tessera_backend_entry_##name_ (void)                \
  {                                                                                                \
    static const TesseraBackend backend_ = { .abi_major = TESSERA_BACKEND_ABI_MAJOR,               \
                                             .abi_minor = TESSERA_BACKEND_ABI_MINOR,               \
                                             .struct_size = sizeof (TesseraBackend),               \
                                             .name = #name_,                                       \
                                             .description = description_,                          \
                                             __VA_ARGS__ };                                        \
    return &backend_;                                                                              \
  }

/* ---- Building licenses (for backends) ---------------------------------------
 * A backend creates the license in its activate op and fills it in; the core
 * seals it when activate returns, after which the setters refuse
 * (g_return_if_fail) and the object is immutable but for its state. */

/**
 * tessera_license_new:
 * Returns: (transfer full): a new, unsealed license.
 */
TesseraLicense *tessera_license_new (const char *product, TesseraLicenseKind kind, const char *id);

/**
 * tessera_license_set_machine_id:
 * @license: an unsealed license (in the backend's activate, list or install op)
 * @machine_id: (nullable): the machine ID the license is bound to (copied)
 *
 * For backends: fills in the license before the core seals it; refused
 * (g_return_if_fail) once sealed.
 */
void tessera_license_set_machine_id (TesseraLicense *license, const char *machine_id);

/**
 * tessera_license_set_org:
 * @license: an unsealed license (in the backend's activate, list or install op)
 * @org: (nullable): the organization that owns it (copied)
 *
 * For backends: fills in the license before the core seals it; refused
 * (g_return_if_fail) once sealed.
 */
void tessera_license_set_org (TesseraLicense *license, const char *org);

/**
 * tessera_license_set_issued_at:
 * @license: an unsealed license (in the backend's activate, list or install op)
 * @unix_time: issue time, Unix seconds (UTC); 0 for unknown
 *
 * For backends: fills in the license before the core seals it; refused
 * (g_return_if_fail) once sealed.
 */
void tessera_license_set_issued_at (TesseraLicense *license, gint64 unix_time);

/**
 * tessera_license_set_expires_at:
 * @license: an unsealed license (in the backend's activate, list or install op)
 * @unix_time: expiry, Unix seconds (UTC); 0 for never (the core invalidates
 *   the license when it passes)
 *
 * For backends: fills in the license before the core seals it; refused
 * (g_return_if_fail) once sealed.
 */
void tessera_license_set_expires_at (TesseraLicense *license, gint64 unix_time);

/**
 * tessera_license_set_flags:
 * @license: an unsealed license (in the backend's activate, list or install op)
 * @flags: the license flags
 *
 * For backends: fills in the license before the core seals it; refused
 * (g_return_if_fail) once sealed.
 */
void tessera_license_set_flags (TesseraLicense *license, TesseraLicenseFlags flags);

/**
 * tessera_license_add_feature:
 * @license: an unsealed license (in the backend's activate, list or install op)
 * @feature: an entitlement name (copied)
 *
 * For backends: adds an entitlement (tessera_license_has_feature()). Refused
 * once sealed.
 */
void tessera_license_add_feature (TesseraLicense *license, const char *feature);

/**
 * tessera_license_set_attribute:
 * @license: an unsealed license (in the backend's activate, list or install op)
 * @key: attribute name, namespaced by the provider ("offline.file")
 * @value: (nullable): the value (copied); NULL removes it
 *
 * For backends: sets a provider attribute (tessera_license_get_attribute()).
 * Refused once sealed.
 */
void tessera_license_set_attribute (TesseraLicense *license, const char *key, const char *value);

/**
 * tessera_license_set_backend_data:
 * @data: (transfer full): the backend's per-license state (a lock, a session)
 * @notify: (nullable): frees @data when the license is finalized
 *
 * May be called while unsealed only.
 */
void tessera_license_set_backend_data (TesseraLicense *license, gpointer data,
                                       GDestroyNotify notify);

/**
 * tessera_license_get_backend_data:
 * @license: a license
 *
 * For backends: the per-license state stored with
 * tessera_license_set_backend_data().
 *
 * Returns: (transfer none) (nullable): that data, or NULL.
 */
gpointer tessera_license_get_backend_data (TesseraLicense *license);

/**
 * tessera_license_invalidate:
 * @reason: why (copied)
 *
 * For backends that learn in the background (a heartbeat thread) that a held
 * license stopped being valid. Idempotent: only the first call counts. Any thread.
 */
void tessera_license_invalidate (TesseraLicense *license, const GError *reason);

G_END_DECLS
