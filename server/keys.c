/* Signing keys of tessera-server: a key directory, or sealed in the
 * database (keys.h). */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static TsKeysNoteFunc ts_keys_note_func;

void
ts_keys_set_note_func (TsKeysNoteFunc func)
{
  ts_keys_note_func = func;
}

G_GNUC_PRINTF (2, 3)
static void
ts_keys_note (gboolean warning, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  if (ts_keys_note_func != NULL)
    ts_keys_note_func (warning, message);
  else
    g_printerr ("tessera-server: %s%s\n", warning ? "warning: " : "", message);
}

/* ---- a key directory ---- */

TesseraSigningKey *
ts_keys_load_dir (const char *dir, gboolean create, GError **error)
{
  if (create && g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "cannot create key directory %s: %s", dir, g_strerror (errno));
      return NULL;
    }
  GDir *d = g_dir_open (dir, 0, error);
  if (d == NULL)
    return NULL;
  char *current_id = NULL;
  char *current_path = g_build_filename (dir, "current", NULL);
  if (g_file_get_contents (current_path, &current_id, NULL, NULL))
    g_strstrip (current_id);
  g_free (current_path);

  TesseraSigningKey *best = NULL;
  gint64 best_mtime = G_MININT64;
  gboolean named = FALSE;
  const char *name;
  guint count = 0;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      if (!g_str_has_suffix (name, ".key"))
        continue;
      char *path = g_build_filename (dir, name, NULL);
      TesseraSigningKey *key = tessera_signing_key_load (path, error);
      GStatBuf st;
      gint64 mtime = g_stat (path, &st) == 0 ? (gint64) st.st_mtime : 0;
      g_free (path);
      if (key == NULL)
        {
          g_clear_pointer (&best, tessera_signing_key_unref);
          g_dir_close (d);
          g_free (current_id);
          return NULL;
        }
      count++;
      gboolean is_named
          = current_id != NULL && strcmp (current_id, tessera_signing_key_get_id (key)) == 0;
      if (!named && (is_named || best == NULL || mtime > best_mtime))
        {
          g_clear_pointer (&best, tessera_signing_key_unref);
          best = tessera_signing_key_ref (key);
          best_mtime = mtime;
          named = is_named;
        }
      tessera_signing_key_unref (key);
    }
  g_dir_close (d);
  if (current_id != NULL && !named && best != NULL)
    ts_keys_note (TRUE, "%s/current names key %s, which is not there; using %s", dir, current_id,
                  tessera_signing_key_get_id (best));
  g_free (current_id);
  if (count == 0 && !create)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "no signing key (*.key) in %s",
                   dir);
      return NULL;
    }
  if (count == 0)
    {
      TesseraSigningKey *key = tessera_signing_key_generate ();
      const char *id = tessera_signing_key_get_id (key);
      char *base = g_strdup_printf ("%s.key", id);
      char *secret = g_build_filename (dir, base, NULL);
      char *pub_base = g_strdup_printf ("%s.pub", id);
      char *pub = g_build_filename (dir, pub_base, NULL);
      gboolean ok = tessera_signing_key_save (key, secret, pub, error);
      g_free (base);
      g_free (secret);
      g_free (pub_base);
      g_free (pub);
      if (!ok)
        {
          tessera_signing_key_unref (key);
          return NULL;
        }
      ts_keys_note (FALSE, "generated signing key %s in %s", id, dir);
      best = key;
    }
  return best;
}

/* ---- the key-encryption key ---- */

struct _TsKek
{
  guint8 *bytes; /* sodium_malloc */
};

void
ts_kek_free (TsKek *kek)
{
  if (kek == NULL)
    return;
  sodium_free (kek->bytes);
  g_free (kek);
}

#define TS_KEK_HEX (2 * TESSERA_KEY_ENCRYPTION_KEY_LEN)

TsKek *
ts_kek_load (const char *path, GError **error)
{
  if (sodium_init () < 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "libsodium could not be initialized");
      return NULL;
    }
  /* O_NOFOLLOW: the file itself is checked, not what a link points to. */
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, TESSERA_ERROR,
                   errsv == ENOENT   ? TESSERA_ERROR_NOT_FOUND
                   : errsv == ELOOP  ? TESSERA_ERROR_INVALID_ARGUMENT
                   : errsv == EACCES ? TESSERA_ERROR_PERMISSION_DENIED
                                     : TESSERA_ERROR_FAILED,
                   "key-encryption key %s: %s", path,
                   errsv == ELOOP ? "is a symbolic link (give the file itself)"
                                  : g_strerror (errsv));
      return NULL;
    }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "key-encryption key %s is not a regular file", path);
      return NULL;
    }
  if ((st.st_mode & 077) != 0)
    {
      close (fd);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "key-encryption key %s may be read by others (mode %04o): chmod 600 it", path,
                   (unsigned) (st.st_mode & 07777));
      return NULL;
    }
  /* Read into guarded memory: one byte more than a key file holds, so a
   * longer file is seen. */
  char *text = sodium_malloc (TS_KEK_HEX + 3);
  g_assert (text != NULL);
  ssize_t n = 0, got;
  while (n < TS_KEK_HEX + 2 && (got = read (fd, text + n, TS_KEK_HEX + 2 - n)) > 0)
    n += got;
  close (fd);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
    n--;
  TsKek *kek = g_new0 (TsKek, 1);
  kek->bytes = sodium_malloc (TESSERA_KEY_ENCRYPTION_KEY_LEN);
  g_assert (kek->bytes != NULL);
  size_t bin_len = 0;
  const char *end = NULL;
  gboolean ok = n == TS_KEK_HEX
                && sodium_hex2bin (kek->bytes, TESSERA_KEY_ENCRYPTION_KEY_LEN, text, (size_t) n,
                                   NULL, &bin_len, &end)
                       == 0
                && bin_len == TESSERA_KEY_ENCRYPTION_KEY_LEN && end == text + n;
  sodium_free (text);
  if (!ok)
    {
      ts_kek_free (kek);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "key-encryption key %s must hold %d hexadecimal characters (create one with "
                   "tessera-admin signing-key create-kek --file FILE)",
                   path, TS_KEK_HEX);
      return NULL;
    }
  return kek;
}

gboolean
ts_kek_create (const char *path, GError **error)
{
  if (sodium_init () < 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "libsodium could not be initialized");
      return FALSE;
    }
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, TESSERA_ERROR,
                   errsv == EEXIST   ? TESSERA_ERROR_INVALID_ARGUMENT
                   : errsv == EACCES ? TESSERA_ERROR_PERMISSION_DENIED
                   : errsv == ENOENT ? TESSERA_ERROR_NOT_FOUND
                                     : TESSERA_ERROR_FAILED,
                   "cannot create %s: %s", path,
                   errsv == EEXIST ? "it exists (a key is never overwritten)" : g_strerror (errsv));
      return FALSE;
    }
  guint8 *bytes = sodium_malloc (TESSERA_KEY_ENCRYPTION_KEY_LEN);
  char *hex = sodium_malloc (TS_KEK_HEX + 2);
  g_assert (bytes != NULL && hex != NULL);
  randombytes_buf (bytes, TESSERA_KEY_ENCRYPTION_KEY_LEN);
  sodium_bin2hex (hex, TS_KEK_HEX + 1, bytes, TESSERA_KEY_ENCRYPTION_KEY_LEN);
  hex[TS_KEK_HEX] = '\n';
  gboolean ok = fchmod (fd, 0600) == 0 && write (fd, hex, TS_KEK_HEX + 1) == TS_KEK_HEX + 1
                && fsync (fd) == 0;
  int errsv = errno;
  sodium_free (bytes);
  sodium_free (hex);
  if (close (fd) != 0)
    ok = FALSE;
  if (!ok)
    {
      g_unlink (path);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "cannot write %s: %s", path,
                   g_strerror (errsv));
    }
  return ok;
}

/* ---- sealed in the database ---- */

/* Seals @key with @kek and stores it (see ts_store_add_signing_key()). */
static gboolean
ts_keys_add (TsStore *store, TsKek *kek, TesseraSigningKey *key, const char *actor, gint64 now,
             gboolean only_if_none, gboolean *added, GError **error)
{
  g_autoptr (GBytes) sealed
      = tessera_signing_key_seal (key, kek->bytes, TESSERA_KEY_ENCRYPTION_KEY_LEN, error);
  if (sealed == NULL)
    return FALSE;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (sealed, &len);
  g_autofree char *b64 = g_base64_encode (data, len);
  g_autofree char *pub = tessera_signing_key_dup_public (key);
  TsSigningKeyRow row = { (char *) tessera_signing_key_get_id (key), g_strchomp (pub), b64, now };
  return ts_store_add_signing_key (store, actor, &row, only_if_none, added, error);
}

gboolean
ts_keys_store (TsStore *store, TsKek *kek, TesseraSigningKey *key, const char *actor, gint64 now,
               GError **error)
{
  gboolean added = FALSE;
  return ts_keys_add (store, kek, key, actor, now, FALSE, &added, error);
}

/* Opens @row with @kek, and checks it is the key its public line names. */
static TesseraSigningKey *
ts_keys_open_row (const TsSigningKeyRow *row, TsKek *kek, GError **error)
{
  gsize len = 0;
  guchar *data = g_base64_decode (row->sealed, &len);
  g_autoptr (GBytes) sealed = g_bytes_new_take (data, len);
  TesseraSigningKey *key = tessera_signing_key_unseal (row->id, sealed, kek->bytes,
                                                       TESSERA_KEY_ENCRYPTION_KEY_LEN, error);
  if (key == NULL)
    return NULL;
  g_autofree char *pub = tessera_signing_key_dup_public (key);
  if (strcmp (g_strchomp (pub), row->public_key) != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "signing key %s: the stored public key is not the sealed key's", row->id);
      tessera_signing_key_unref (key);
      return NULL;
    }
  return key;
}

TesseraSigningKey *
ts_keys_load_db (TsStore *store, TsKek *kek, gboolean create, GError **error)
{
  for (int attempt = 0; attempt < 2; attempt++)
    {
      g_autoptr (GPtrArray) rows = ts_store_list_signing_keys (store, error);
      if (rows == NULL)
        return NULL;
      if (rows->len > 0)
        {
          TesseraSigningKey *newest = NULL;
          for (guint i = 0; i < rows->len; i++)
            {
              TesseraSigningKey *key = ts_keys_open_row (g_ptr_array_index (rows, i), kek, error);
              if (key == NULL)
                {
                  g_clear_pointer (&newest, tessera_signing_key_unref);
                  return NULL;
                }
              if (newest == NULL)
                newest = key;
              else
                tessera_signing_key_unref (key);
            }
          return newest;
        }
      if (!create)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                       "the database holds no signing key yet (tessera-server creates one when "
                       "it first starts, or tessera-admin signing-key rotate)");
          return NULL;
        }
      g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
      gboolean added = FALSE;
      if (!ts_keys_add (store, kek, key, "tessera-server", g_get_real_time () / G_USEC_PER_SEC,
                        TRUE, &added, error))
        return NULL;
      if (added)
        {
          ts_keys_note (FALSE, "generated signing key %s (stored sealed in the database)",
                        tessera_signing_key_get_id (key));
          return g_steal_pointer (&key);
        }
      /* Another instance stored one first: use that one. */
    }
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
               "no signing key could be stored or read");
  return NULL;
}
