/* Ed25519 keys (libsodium): generation, key files, trusted key sets. */
#include "tessera-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_TAG "tessera-ed25519-secret"
#define PUBLIC_TAG "tessera-ed25519-public"
#define KEY_FILE_MAX 4096

struct _TesseraSigningKey
{
  gatomicrefcount ref_count;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char *sk; /* sodium_malloc: guarded, wiped on free */
  char id[TESSERA_KEY_ID_LEN + 1];
};

struct _TesseraTrustedKeys
{
  gatomicrefcount ref_count;
  GHashTable *keys; /* key id -> GBytes (32-byte public key) */
};

gboolean
_tessera_sodium_init (GError **error)
{
  static gsize once = 0;
  static gboolean ok = FALSE;
  if (g_once_init_enter (&once))
    {
      ok = sodium_init () >= 0;
      g_once_init_leave (&once, 1);
    }
  if (!ok)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                 "libsodium could not be initialized");
  return ok;
}

void
_tessera_key_id_from_public (const unsigned char *pk, char out[TESSERA_KEY_ID_LEN + 1])
{
  unsigned char hash[TESSERA_KEY_ID_LEN / 2];
  crypto_generichash (hash, sizeof hash, pk, crypto_sign_PUBLICKEYBYTES, NULL, 0);
  sodium_bin2hex (out, TESSERA_KEY_ID_LEN + 1, hash, sizeof hash);
}

TesseraSigningKey *
_tessera_signing_key_new_from_seed (const unsigned char *seed)
{
  TesseraSigningKey *key = g_new0 (TesseraSigningKey, 1);
  g_atomic_ref_count_init (&key->ref_count);
  key->sk = sodium_malloc (crypto_sign_SECRETKEYBYTES);
  g_assert (key->sk != NULL);
  crypto_sign_seed_keypair (key->pk, key->sk, seed);
  _tessera_key_id_from_public (key->pk, key->id);
  return key;
}

TesseraSigningKey *
tessera_signing_key_generate (void)
{
  unsigned char seed[crypto_sign_SEEDBYTES];
  if (!_tessera_sodium_init (NULL))
    return NULL;
  randombytes_buf (seed, sizeof seed);
  TesseraSigningKey *key = _tessera_signing_key_new_from_seed (seed);
  sodium_memzero (seed, sizeof seed);
  return key;
}

TesseraSigningKey *
tessera_signing_key_ref (TesseraSigningKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_atomic_ref_count_inc (&key->ref_count);
  return key;
}

void
tessera_signing_key_unref (TesseraSigningKey *key)
{
  g_return_if_fail (key != NULL);
  if (!g_atomic_ref_count_dec (&key->ref_count))
    return;
  sodium_free (key->sk);
  g_free (key);
}

const unsigned char *
_tessera_signing_key_secret (TesseraSigningKey *key)
{
  return key->sk;
}

const char *
tessera_signing_key_get_id (TesseraSigningKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);
  return key->id;
}

static char *
key_line (const char *tag, const char *id, const unsigned char *bytes, gsize len)
{
  g_autofree char *b64 = g_base64_encode (bytes, len);
  return g_strdup_printf ("%s %s %s\n", tag, id, b64);
}

char *
tessera_signing_key_dup_public (TesseraSigningKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);
  return key_line (PUBLIC_TAG, key->id, key->pk, sizeof key->pk);
}

const unsigned char *
_tessera_signing_key_get_secret (TesseraSigningKey *key)
{
  return key->sk;
}

/* Parses "TAG KEYID BASE64\n" into exactly @len bytes. */
static gboolean
parse_key_line (const char *text, const char *tag, char id[TESSERA_KEY_ID_LEN + 1],
                unsigned char *out, gsize len, const char *origin, GError **error)
{
  g_autofree char *copy = g_strstrip (g_strdup (text));
  g_auto (GStrv) parts = g_strsplit (copy, " ", -1);
  gboolean ok = FALSE;
  if (g_strv_length (parts) == 3 && g_str_equal (parts[0], tag)
      && strlen (parts[1]) == TESSERA_KEY_ID_LEN)
    {
      gsize decoded_len = 0;
      g_autofree guchar *decoded = g_base64_decode (parts[2], &decoded_len);
      g_autofree char *reencoded = decoded ? g_base64_encode (decoded, decoded_len) : NULL;
      if (decoded != NULL && decoded_len == len && g_strcmp0 (reencoded, parts[2]) == 0)
        {
          memcpy (out, decoded, len);
          memcpy (id, parts[1], TESSERA_KEY_ID_LEN + 1);
          ok = TRUE;
        }
      if (decoded)
        sodium_memzero (decoded, decoded_len);
    }
  if (!ok)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "%s is not a Tessera %s key (expected one line '%s KEYID BASE64')", origin,
                 g_str_equal (tag, SECRET_TAG) ? "secret" : "public", tag);
  return ok;
}

/* Reads a small key file; @require_private refuses one others can read. */
static char *
read_key_file (const char *path, gboolean require_private, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      _tessera_set_error_from_errno (error, errno, "cannot open key file", path);
      return NULL;
    }
  struct stat st;
  char *buf = NULL;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "key file %s is not a regular file", path);
  else if (require_private && (st.st_mode & 077) != 0)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                 "secret key file %s is accessible by other users (mode %03o): "
                 "run 'chmod 600 %s'",
                 path, (unsigned) (st.st_mode & 0777), path);
  else if (st.st_size > KEY_FILE_MAX)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "key file %s is too large to be a key", path);
  else
    {
      buf = g_malloc0 ((gsize) st.st_size + 1);
      ssize_t n = read (fd, buf, (gsize) st.st_size);
      if (n != st.st_size)
        {
          _tessera_set_error_from_errno (error, n < 0 ? errno : EIO, "cannot read key file", path);
          g_clear_pointer (&buf, g_free);
        }
    }
  close (fd);
  return buf;
}

TesseraSigningKey *
tessera_signing_key_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!_tessera_sodium_init (error))
    return NULL;

  char *text = read_key_file (path, TRUE, error);
  if (text == NULL)
    return NULL;
  unsigned char seed[crypto_sign_SEEDBYTES];
  char id[TESSERA_KEY_ID_LEN + 1];
  gboolean ok = parse_key_line (text, SECRET_TAG, id, seed, sizeof seed, path, error);
  sodium_memzero (text, strlen (text));
  g_free (text);
  if (!ok)
    return NULL;

  TesseraSigningKey *key = _tessera_signing_key_new_from_seed (seed);
  sodium_memzero (seed, sizeof seed);
  if (!g_str_equal (id, key->id))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "secret key file %s is damaged: it names key %s but holds key %s", path, id,
                   key->id);
      tessera_signing_key_unref (key);
      return NULL;
    }
  return key;
}

static gboolean
write_new_file (const char *path, const char *contents, mode_t mode, GError **error)
{
  /* O_EXCL: never overwrite a key; O_NOFOLLOW: never write through a link. */
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    {
      int errsv = errno;
      if (errsv == EEXIST)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                     "%s already exists: refusing to overwrite a key", path);
      else
        _tessera_set_error_from_errno (error, errsv, "cannot create", path);
      return FALSE;
    }
  gsize len = strlen (contents);
  gboolean ok
      = fchmod (fd, mode) == 0 && write (fd, contents, len) == (ssize_t) len && fsync (fd) == 0;
  int errsv = errno;
  if (close (fd) != 0)
    ok = FALSE;
  if (!ok)
    {
      g_unlink (path);
      _tessera_set_error_from_errno (error, errsv, "cannot write", path);
    }
  return ok;
}

gboolean
tessera_signing_key_save (TesseraSigningKey *key, const char *secret_path, const char *public_path,
                          GError **error)
{
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (secret_path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (public_path != NULL && g_file_test (public_path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "%s already exists: refusing to overwrite a key", public_path);
      return FALSE;
    }
  unsigned char seed[crypto_sign_SEEDBYTES];
  crypto_sign_ed25519_sk_to_seed (seed, key->sk);
  char *secret = key_line (SECRET_TAG, key->id, seed, sizeof seed);
  sodium_memzero (seed, sizeof seed);
  gboolean ok = write_new_file (secret_path, secret, 0600, error);
  sodium_memzero (secret, strlen (secret));
  g_free (secret);
  if (!ok)
    return FALSE;
  if (public_path != NULL)
    {
      g_autofree char *pub = tessera_signing_key_dup_public (key);
      if (!write_new_file (public_path, pub, 0644, error))
        {
          g_unlink (secret_path); /* no half-written key pair */
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- trusted keys ---- */

TesseraTrustedKeys *
tessera_trusted_keys_new (void)
{
  TesseraTrustedKeys *keys = g_new0 (TesseraTrustedKeys, 1);
  g_atomic_ref_count_init (&keys->ref_count);
  keys->keys
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  return keys;
}

TesseraTrustedKeys *
tessera_trusted_keys_ref (TesseraTrustedKeys *keys)
{
  g_return_val_if_fail (keys != NULL, NULL);
  g_atomic_ref_count_inc (&keys->ref_count);
  return keys;
}

void
tessera_trusted_keys_unref (TesseraTrustedKeys *keys)
{
  g_return_if_fail (keys != NULL);
  if (!g_atomic_ref_count_dec (&keys->ref_count))
    return;
  g_hash_table_unref (keys->keys);
  g_free (keys);
}

static gboolean
add_public (TesseraTrustedKeys *keys, const char *line, const char *origin, GError **error)
{
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  char id[TESSERA_KEY_ID_LEN + 1], derived[TESSERA_KEY_ID_LEN + 1];
  if (!parse_key_line (line, PUBLIC_TAG, id, pk, sizeof pk, origin, error))
    return FALSE;
  _tessera_key_id_from_public (pk, derived);
  if (!g_str_equal (id, derived))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "%s names key %s but holds key %s", origin, id, derived);
      return FALSE;
    }
  g_hash_table_replace (keys->keys, g_strdup (id), g_bytes_new (pk, sizeof pk));
  return TRUE;
}

gboolean
tessera_trusted_keys_add_public (TesseraTrustedKeys *keys, const char *line, GError **error)
{
  g_return_val_if_fail (keys != NULL, FALSE);
  g_return_val_if_fail (line != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  return add_public (keys, line, "public key", error);
}

gboolean
tessera_trusted_keys_add_path (TesseraTrustedKeys *keys, const char *path, GError **error)
{
  g_return_val_if_fail (keys != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GDir) dir = g_dir_open (path, 0, &local_error);
      if (dir == NULL)
        {
          g_set_error (error, TESSERA_ERROR,
                       g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_ACCES)
                           ? TESSERA_ERROR_PERMISSION_DENIED
                           : TESSERA_ERROR_NOT_FOUND,
                       "cannot read trusted key directory: %s", local_error->message);
          return FALSE;
        }
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          if (!g_str_has_suffix (name, ".pub"))
            continue;
          g_autofree char *file = g_build_filename (path, name, NULL);
          if (!tessera_trusted_keys_add_path (keys, file, error))
            return FALSE;
        }
      return TRUE;
    }

  g_autofree char *text = read_key_file (path, FALSE, error);
  return text != NULL && add_public (keys, text, path, error);
}

guint
tessera_trusted_keys_get_count (TesseraTrustedKeys *keys)
{
  g_return_val_if_fail (keys != NULL, 0);
  return g_hash_table_size (keys->keys);
}

const unsigned char *
_tessera_trusted_keys_lookup (TesseraTrustedKeys *keys, const char *key_id)
{
  GBytes *pk = g_hash_table_lookup (keys->keys, key_id);
  return pk ? g_bytes_get_data (pk, NULL) : NULL;
}

char *
_tessera_trusted_keys_describe (TesseraTrustedKeys *keys)
{
  g_autofree const char **ids = (const char **) g_hash_table_get_keys_as_array (keys->keys, NULL);
  qsort (ids, g_hash_table_size (keys->keys), sizeof (char *), _tessera_compare_str_ptrs);
  g_autofree char *list = g_strjoinv (", ", (char **) ids);
  return g_strdup (*list ? list : "none");
}
