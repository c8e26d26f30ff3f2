/* GTypes of the public reference-counted structs.
 *
 * Boxed types, not GObjects: the structs stay opaque and keep their own
 * atomic reference counts and their _ref/_unref functions, so nothing changes
 * for C callers (same functions, same ownership, same struct layout). The
 * boxed copy function is _ref, so a binding's "copy" shares the object as C
 * code does. */
#include "tessera-private.h"

G_DEFINE_BOXED_TYPE (TesseraEngine, tessera_engine, tessera_engine_ref, tessera_engine_unref)
G_DEFINE_BOXED_TYPE (TesseraLicense, tessera_license, tessera_license_ref, tessera_license_unref)
G_DEFINE_BOXED_TYPE (TesseraActivateOptions, tessera_activate_options, tessera_activate_options_ref,
                     tessera_activate_options_unref)
G_DEFINE_BOXED_TYPE (TesseraFingerprint, tessera_fingerprint, tessera_fingerprint_ref,
                     tessera_fingerprint_unref)
G_DEFINE_BOXED_TYPE (TesseraSigningKey, tessera_signing_key, tessera_signing_key_ref,
                     tessera_signing_key_unref)
G_DEFINE_BOXED_TYPE (TesseraTrustedKeys, tessera_trusted_keys, tessera_trusted_keys_ref,
                     tessera_trusted_keys_unref)
G_DEFINE_BOXED_TYPE (TesseraLicfile, tessera_licfile, tessera_licfile_ref, tessera_licfile_unref)
G_DEFINE_BOXED_TYPE (TesseraMachineMatch, tessera_machine_match, tessera_machine_match_ref,
                     tessera_machine_match_unref)
