/* The offline provider's ABI 1.1 ops (docs/offline.md): listing the license
 * folder and installing a license file into it.
 *
 * A listed entry is a look at one file, not a session: it takes neither the
 * file's lock nor its license's, so `tessera status` can run beside the
 * products holding those files. Its validate re-reads the file as it is now
 * and checks it exactly as activation would (so it gives activation's
 * reason: tampered, renamed, another machine, clock rollback, expired);
 * its release gives back nothing. */
#include "offline-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  OfflineDataKind kind; /* OFFLINE_DATA_STORED; first, see OfflineDataKind */
  char *path;
  char *product;    /* the product the entry is listed for (the name's) */
  char *license_id; /* the license ID seen when listed, or NULL if unreadable */
} OfflineStored;

static void
stored_free (gpointer data)
{
  OfflineStored *st = data;
  g_free (st->path);
  g_free (st->product);
  g_free (st->license_id);
  g_free (st);
}

/* The product a file name claims: "KRE" in "KRE_ID.lic". NULL if the name
 * is not a license file name at all (hidden files, such as install's
 * temporary files, are not). */
static char *
product_of_name (const char *name)
{
  if (name[0] == '.' || !g_str_has_suffix (name, ".lic"))
    return NULL;
  const char *sep = strchr (name, '_');
  if (sep == NULL || sep == name || sep - name > 64)
    return NULL;
  for (const char *p = name; p < sep; p++)
    if (!g_ascii_isalnum (*p) && *p != '-')
      return NULL;
  return g_strndup (name, (gsize) (sep - name));
}

/* The machine ID a file name claims: what follows "PRODUCT_" up to the
 * first character that cannot be part of one. */
static char *
machine_of_name (const char *name)
{
  const char *start = strchr (name, '_') + 1;
  const char *end = start;
  while (g_ascii_isalnum (*end) || *end == '-')
    end++;
  return g_strndup (start, (gsize) (end - start));
}

static void
fill_from_file (TesseraLicense *license, TesseraLicfile *file)
{
  tessera_license_set_machine_id (license, tessera_licfile_get_machine_id (file));
  tessera_license_set_org (license, tessera_licfile_get_org (file));
  tessera_license_set_issued_at (license, tessera_licfile_get_issued_at (file));
  tessera_license_set_expires_at (license, tessera_licfile_get_expires_at (file));
  const char *const *entitlements = tessera_licfile_get_entitlements (file);
  for (guint i = 0; entitlements && entitlements[i]; i++)
    tessera_license_add_feature (license, entitlements[i]);
  g_autofree char *subscription_end
      = offline_format_time (tessera_licfile_get_subscription_end (file));
  tessera_license_set_attribute (license, "offline.key-id", tessera_licfile_get_key_id (file));
  tessera_license_set_attribute (license, "offline.subscription-end", subscription_end);
}

/* A listed entry for @path. What the file says fills it in if it verifies;
 * otherwise the name does, and validate will say what is wrong. */
static TesseraLicense *
stored_new (Offline *self, int dirfd, const char *name, const char *path, const char *product)
{
  OfflineRank rank = OFFLINE_RANK_NONE;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (OfflineCandidate) cand
      = offline_candidate_open_unlocked (dirfd, name, path, &rank, &local_error);
  if (cand != NULL && !offline_candidate_verify (cand, self->keys, &rank, &local_error))
    g_clear_pointer (&cand, offline_candidate_free);

  TesseraLicfile *file = cand ? cand->file : NULL;
  TesseraLicense *license
      = tessera_license_new (product, TESSERA_LICENSE_KIND_NODE_LOCKED,
                             file ? tessera_licfile_get_license_id (file) : name);
  tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_OFFLINE);
  tessera_license_set_attribute (license, "offline.file", path);
  if (file != NULL)
    fill_from_file (license, file);
  else
    {
      g_autofree char *machine = machine_of_name (name);
      tessera_license_set_machine_id (license, machine);
    }

  OfflineStored *st = g_new0 (OfflineStored, 1);
  st->kind = OFFLINE_DATA_STORED;
  st->path = g_strdup (path);
  st->product = g_strdup (product);
  st->license_id = file ? g_strdup (tessera_licfile_get_license_id (file)) : NULL;
  tessera_license_set_backend_data (license, st, stored_free);
  return license;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
offline_list (gpointer instance, const char *product, GError **error)
{
  Offline *self = instance;
  g_autoptr (GPtrArray) out
      = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
  DIR *dir = offline_open_license_dir (self->license_dir);
  if (dir == NULL)
    {
      int errsv = errno;
      /* No folder: nothing stored, which is not an error. */
      if (errsv == ENOENT)
        return g_steal_pointer (&out);
      if (errsv == ELOOP)
        {
          offline_set_license_dir_link_error (self->license_dir, error);
          return NULL;
        }
      g_set_error (error, TESSERA_ERROR,
                   errsv == EACCES || errsv == EPERM ? TESSERA_ERROR_PERMISSION_DENIED
                                                     : TESSERA_ERROR_FAILED,
                   "cannot read the offline license folder %s: %s", self->license_dir,
                   g_strerror (errsv));
      return NULL;
    }

  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *entry;
  errno = 0;
  while ((entry = readdir (dir)) != NULL)
    {
      g_autofree char *name_product = product_of_name (entry->d_name);
      if (name_product != NULL && (product == NULL || g_str_equal (name_product, product)))
        g_ptr_array_add (names, g_strdup (entry->d_name));
    }
  int read_errno = errno;
  if (read_errno != 0)
    {
      closedir (dir);
      g_set_error (error, TESSERA_ERROR,
                   read_errno == EACCES ? TESSERA_ERROR_PERMISSION_DENIED : TESSERA_ERROR_FAILED,
                   "cannot read the offline license folder %s: %s", self->license_dir,
                   g_strerror (read_errno));
      return NULL;
    }
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      g_autofree char *path = g_build_filename (self->license_dir, name, NULL);
      g_autofree char *name_product = product_of_name (name);
      g_ptr_array_add (out, stored_new (self, dirfd (dir), name, path, name_product));
    }
  closedir (dir);
  return g_steal_pointer (&out);
}

gboolean
offline_stored_validate (Offline *self, TesseraLicense *license, GError **error)
{
  OfflineStored *st = tessera_license_get_backend_data (license);
  g_autofree char *machine_id = offline_dup_machine_id (self, error);
  if (machine_id == NULL)
    return FALSE;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  /* Other processes may have moved the latest time seen on. */
  offline_clock_load (self->clock);

  OfflineRank rank = OFFLINE_RANK_NONE;
  g_autoptr (OfflineCandidate) cand
      = offline_candidate_open_unlocked (AT_FDCWD, st->path, st->path, &rank, error);
  if (cand == NULL)
    return FALSE;
  if (!offline_check_candidate (self, cand, st->product, machine_id, now, &rank, error))
    return FALSE;
  /* The entry describes what was listed: another license in its place
   * makes what the caller was shown wrong. */
  if (st->license_id != NULL
      && !g_str_equal (st->license_id, tessera_licfile_get_license_id (cand->file)))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "%s now holds another license than when it was listed; list again", st->path);
      return FALSE;
    }
  return TRUE;
}

/* ---- installing ---- */

/* Writes @contents to @dir/@name through a temporary file and a rename,
 * so a reader (an activating product) sees the old file or the new one,
 * never a part. The temporary name starts with '.' and does not end in
 * ".lic": nothing ever takes it for a license. */
static gboolean
write_atomically (int dirfd, const char *dir, const char *name, GBytes *contents, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *tmp = NULL;
  int fd = -1;
  /* mkstemp's own loop, in the folder that was checked (openat). */
  for (guint attempt = 0; fd < 0 && attempt < 100; attempt++)
    {
      g_free (tmp);
      tmp = g_strdup_printf (".%s.%08x", name, g_random_int ());
      fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0 && errno != EEXIST && errno != EINTR)
        break;
    }
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, TESSERA_ERROR,
                   errsv == EACCES || errsv == EPERM || errsv == EROFS
                       ? TESSERA_ERROR_PERMISSION_DENIED
                       : TESSERA_ERROR_FAILED,
                   "cannot write into the offline license folder %s: %s", dir, g_strerror (errsv));
      return FALSE;
    }
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (contents, &len);
  gsize done = 0;
  int errsv = 0;
  while (done < len && errsv == 0)
    {
      ssize_t n = write (fd, data + done, len - done);
      if (n < 0 && errno != EINTR)
        errsv = errno;
      else if (n > 0)
        done += (gsize) n;
    }
  /* The mode the umask may have narrowed: products of other users on a
   * shared account read it, as a copied file would be. */
  if (errsv == 0 && (fchmod (fd, 0644) != 0 || fsync (fd) != 0))
    errsv = errno;
  if (close (fd) != 0 && errsv == 0)
    errsv = errno;
  if (errsv == 0 && renameat (dirfd, tmp, dirfd, name) != 0)
    errsv = errno;
  if (errsv != 0)
    {
      unlinkat (dirfd, tmp, 0);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "cannot write %s: %s", path,
                   g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

/* What the folder holds already under the name the file goes to: nothing
 * (!*@exists), these very bytes (*@same), or another file, in *@verified
 * if it verifies (NULL if it is damaged). FALSE with @error set if
 * something that is not a regular file is in the way. */
static gboolean
existing_file (Offline *self, int dirfd, const char *name, const char *path, GBytes *contents,
               gboolean *exists, gboolean *same, TesseraLicfile **verified, GError **error)
{
  *exists = *same = FALSE;
  *verified = NULL;
  OfflineRank rank = OFFLINE_RANK_NONE;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (OfflineCandidate) cand
      = offline_candidate_open_unlocked (dirfd, name, path, &rank, &local_error);
  if (cand == NULL)
    {
      struct stat st;
      if (g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND)
          && fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
        return TRUE;
      /* A link, a folder, a file that cannot be read: not ours to replace. */
      g_set_error (error, local_error->domain, local_error->code, "cannot install over %s: %s",
                   path, local_error->message);
      return FALSE;
    }
  *exists = TRUE;
  if (offline_fd_has_bytes (cand->fd, contents))
    {
      *same = TRUE;
      return TRUE;
    }
  if (offline_candidate_verify (cand, self->keys, &rank, NULL))
    *verified = tessera_licfile_ref (cand->file);
  return TRUE;
}

static TesseraLicense *install_in (Offline *self, int dirfd, const char *name, const char *path,
                                   TesseraLicfile *file, GBytes *contents, const char *file_name,
                                   GError **error);

TesseraLicense *
offline_install (gpointer instance, const char *file_name, GBytes *contents, GError **error)
{
  Offline *self = instance;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (contents, self->keys, &local_error);
  if (file == NULL)
    {
      g_set_error (error, local_error->domain, local_error->code, "%s: %s", file_name,
                   local_error->message);
      return NULL;
    }
  const char *product = tessera_licfile_get_product (file);
  if (self->products != NULL && !g_strv_contains ((const char *const *) self->products, product))
    {
      g_autofree char *configured = g_strjoinv (", ", self->products);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH,
                   "%s: the license file is for %s, which this configuration does not license "
                   "(products: %s)",
                   file_name, product, configured);
      return NULL;
    }
  g_autofree char *machine_id = offline_dup_machine_id (self, error);
  if (machine_id == NULL)
    return NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  /* Machine first (at its issue time a file is within its validity), then
   * the clock, whose rollback would let an expired file pass, then time. */
  offline_clock_load (self->clock);
  if (!tessera_licfile_check (file, NULL, machine_id, tessera_licfile_get_issued_at (file),
                              &local_error)
      || !offline_clock_check (self->clock, now, 0, &local_error)
      || !tessera_licfile_check (file, NULL, NULL, now, &local_error))
    {
      g_set_error (error, local_error->domain, local_error->code, "%s: %s", file_name,
                   local_error->message);
      return NULL;
    }

  /* The canonical name, whatever the file was called: activation finds a
   * file by its name, and a file only works under its own. */
  g_autofree char *name = tessera_licfile_file_name (product, machine_id, 0);
  g_autofree char *path = g_build_filename (self->license_dir, name, NULL);
  /* Everything below happens in this folder, opened once: a link put in
   * its place meanwhile is not followed. */
  gboolean mkdir_failed = FALSE;
  int dirfd = offline_make_folder (self->license_dir, &mkdir_failed);
  if (dirfd < 0)
    {
      int errsv = errno;
      if (errsv == ELOOP)
        offline_set_license_dir_link_error (self->license_dir, error);
      else
        g_set_error (error, TESSERA_ERROR,
                     errsv == EACCES || errsv == EPERM || errsv == EROFS
                         ? TESSERA_ERROR_PERMISSION_DENIED
                         : TESSERA_ERROR_FAILED,
                     "cannot %s the offline license folder %s: %s",
                     mkdir_failed ? "create" : "open", self->license_dir, g_strerror (errsv));
      return NULL;
    }
  TesseraLicense *installed
      = install_in (self, dirfd, name, path, file, contents, file_name, error);
  close (dirfd);
  return installed;
}

static TesseraLicense *
install_in (Offline *self, int dirfd, const char *name, const char *path, TesseraLicfile *file,
            GBytes *contents, const char *file_name, GError **error)
{
  const char *product = tessera_licfile_get_product (file);
  gboolean exists = FALSE, same = FALSE;
  g_autoptr (TesseraLicfile) current = NULL;
  if (!existing_file (self, dirfd, name, path, contents, &exists, &same, &current, error))
    return NULL;
  /* A damaged file in the way is replaced: it grants nothing. A good one
   * only by a file that lasts longer, so installing an older file by
   * mistake never shortens what the user has. */
  if (exists && !same && current != NULL
      && tessera_licfile_get_expires_at (current) >= tessera_licfile_get_expires_at (file))
    {
      g_autofree char *old_end = offline_format_time (tessera_licfile_get_expires_at (current));
      g_autofree char *new_end = offline_format_time (tessera_licfile_get_expires_at (file));
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "%s: not installed: %s already holds another %s license for this machine "
                   "that expires %s (%s), and this one expires %s; remove that file first to "
                   "replace it anyway",
                   file_name, path, product,
                   tessera_licfile_get_expires_at (current) == tessera_licfile_get_expires_at (file)
                       ? "at the same time"
                       : "later",
                   old_end, new_end);
      return NULL;
    }
  if (!same && !write_atomically (dirfd, self->license_dir, name, contents, error))
    return NULL;

  return stored_new (self, dirfd, name, path, product);
}
