/* The server's signing keys: in a key directory (one instance, the SQLite
 * default), or in the database, sealed with a key-encryption key that every
 * instance is given (several instances on PostgreSQL: they must all sign
 * with the same key, and the database must never hold it in clear).
 * Used by tessera-server and tessera-admin. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

/* Loads every *.key of @dir (with @create, generating one if there is
 * none, and the directory too); the key named by @dir/current, else the
 * newest file, signs.
 * Returns: (transfer full): the signing key, or NULL with @error
 *   (TESSERA_ERROR_NOT_FOUND: no key and not @create). */
TesseraSigningKey *ts_keys_load_dir (const char *dir, gboolean create, GError **error);

/* A key-encryption key: TESSERA_KEY_ENCRYPTION_KEY_LEN bytes in guarded
 * memory (libsodium), wiped by ts_kek_free(). */
typedef struct _TsKek TsKek;

/* Reads @path: 64 hexadecimal characters (and a newline), a regular file
 * that only its owner may read (like an ssh key).
 * Returns: (transfer full): the key, or NULL with TESSERA_ERROR_NOT_FOUND,
 *   _PERMISSION_DENIED (unreadable, or open to group or others) or
 *   _INVALID_ARGUMENT (not a key-encryption key file). */
TsKek *ts_kek_load (const char *path, GError **error);
void ts_kek_free (TsKek *kek);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsKek, ts_kek_free)

/* Creates @path (mode 0600, never over an existing file) holding a new
 * random key-encryption key. Returns: FALSE with @error, leaving no file. */
gboolean ts_kek_create (const char *path, GError **error);

/* The signing key of the database (its newest), every stored key opened
 * with @kek first (one that does not open is an error: an instance with
 * another key file must not start). With none stored and @create, one is
 * generated and stored (instances starting at once agree on one).
 * Returns: (transfer full): the signing key, or NULL with @error
 *   (TESSERA_ERROR_AUTH: @kek does not open a stored key; NOT_FOUND: none
 *   stored and not @create; store errors). */
TesseraSigningKey *ts_keys_load_db (TsStore *store, TsKek *kek, gboolean create, GError **error);

/* Seals @key with @kek and stores it as the newest (the one instances
 * started from now on sign with), audited as @actor.
 * Returns: FALSE with @error (INVALID_ARGUMENT: already stored). */
gboolean ts_keys_store (TsStore *store, TsKek *kek, TesseraSigningKey *key, const char *actor,
                        gint64 now, GError **error);

/* What loading keys has to say (a key generated, a missing one named):
 * "tessera-server: …" on stderr, unless the server sends it to its log
 * (http-log.h) instead. */
typedef void (*TsKeysNoteFunc) (gboolean warning, const char *message);
void ts_keys_set_note_func (TsKeysNoteFunc func);

G_END_DECLS
