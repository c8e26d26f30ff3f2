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
#include <sys/file.h>
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
    {
      fill_from_file (license, file);
      g_autoptr (TesseraFingerprint) fp = offline_dup_fingerprint (self, NULL);
      if (fp != NULL)
        offline_set_match_attributes (license, file, fp);
    }
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
  g_autoptr (TesseraFingerprint) fp = offline_dup_fingerprint (self, error);
  if (fp == NULL)
    return FALSE;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  /* Other processes may have moved the latest time seen on. */
  offline_clock_load (self->clock);

  OfflineRank rank = OFFLINE_RANK_NONE;
  g_autoptr (OfflineCandidate) cand
      = offline_candidate_open_unlocked (AT_FDCWD, st->path, st->path, &rank, error);
  if (cand == NULL)
    return FALSE;
  if (!offline_check_candidate (self, cand, st->product, fp, now, &rank, error))
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

/* Writes @contents into a new hidden file of the folder, made 0644 and
 * fsynced. The temporary name starts with '.' and does not end in ".lic":
 * nothing ever takes it for a license. Returns: (transfer full): its name,
 * or NULL with @error set (nothing left behind). */
static char *
write_temporary (int dirfd, const char *dir, const char *name, GBytes *contents, GError **error)
{
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
      return NULL;
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
  if (errsv != 0)
    {
      unlinkat (dirfd, tmp, 0);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "cannot write into %s: %s", dir,
                   g_strerror (errsv));
      return NULL;
    }
  return g_steal_pointer (&tmp);
}

/* Puts @contents in place of @dir/@name through a temporary file and a
 * rename, so a reader (an activating product) sees the old file or the
 * new one, never a part. */
static gboolean
write_atomically (int dirfd, const char *dir, const char *name, GBytes *contents, GError **error)
{
  g_autofree char *tmp = write_temporary (dirfd, dir, name, contents, error);
  if (tmp == NULL)
    return FALSE;
  if (renameat (dirfd, tmp, dirfd, name) != 0)
    {
      int errsv = errno;
      unlinkat (dirfd, tmp, 0);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "cannot write %s: %s", path,
                   g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

/* Puts @contents under the first of PRODUCT_<ID>.lic, PRODUCT_<ID>.1.lic,
 * PRODUCT_<ID>.2.lic... that nothing holds: each file is one more parallel
 * session. linkat() never replaces what is there (a file another install
 * wrote, a link, anything), so a name taken meanwhile is skipped, not
 * overwritten. Returns: (transfer full): the name, or NULL with @error. */
static char *
write_new_name (int dirfd, const char *dir, const char *product, const char *machine_id,
                GBytes *contents, const char *file_name, GError **error)
{
  g_autofree char *first = tessera_licfile_file_name (product, machine_id, 0);
  g_autofree char *tmp = write_temporary (dirfd, dir, first, contents, error);
  if (tmp == NULL)
    return NULL;
  for (guint serial = 0; serial < OFFLINE_MAX_FILES; serial++)
    {
      g_autofree char *name = tessera_licfile_file_name (product, machine_id, serial);
      if (linkat (dirfd, tmp, dirfd, name, 0) == 0)
        {
          unlinkat (dirfd, tmp, 0);
          return g_steal_pointer (&name);
        }
      int errsv = errno;
      if (errsv == EEXIST)
        continue;
      unlinkat (dirfd, tmp, 0);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_set_error (error, TESSERA_ERROR,
                   errsv == EACCES || errsv == EPERM || errsv == EROFS
                       ? TESSERA_ERROR_PERMISSION_DENIED
                       : TESSERA_ERROR_FAILED,
                   "cannot write %s: %s", path, g_strerror (errsv));
      return NULL;
    }
  unlinkat (dirfd, tmp, 0);
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
               "%s: not installed: %s already holds %d files named %s_%s*.lic; remove the ones "
               "no longer needed",
               file_name, dir, OFFLINE_MAX_FILES, product, machine_id);
  return NULL;
}

/* The first file (in name order) of the folder for @product on
 * @machine_id that verifies and holds @license_id, in *@copy (NULL if
 * none). Files that do not verify are not copies of anything: they grant
 * nothing, and install never touches them. */
static gboolean
find_copy (Offline *self, int dirfd, const char *product, const char *machine_id,
           const char *license_id, char **copy, GError **error)
{
  *copy = NULL;
  int fd = fcntl (dirfd, F_DUPFD_CLOEXEC, 0);
  DIR *dir = fd >= 0 ? fdopendir (fd) : NULL;
  if (dir == NULL)
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "cannot read the offline license folder %s: %s", self->license_dir,
                   g_strerror (errsv));
      return FALSE;
    }
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *entry;
  errno = 0;
  while ((entry = readdir (dir)) != NULL)
    if (entry->d_name[0] != '.' && offline_name_matches (entry->d_name, product, machine_id))
      g_ptr_array_add (names, g_strdup (entry->d_name));
  int read_errno = errno;
  closedir (dir);
  if (read_errno != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "cannot read the offline license folder %s: %s", self->license_dir,
                   g_strerror (read_errno));
      return FALSE;
    }
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];
      g_autofree char *path = g_build_filename (self->license_dir, name, NULL);
      OfflineRank rank = OFFLINE_RANK_NONE;
      g_autoptr (OfflineCandidate) cand
          = offline_candidate_open_unlocked (dirfd, name, path, &rank, NULL);
      if (cand != NULL && offline_candidate_verify (cand, self->keys, &rank, NULL)
          && g_str_equal (tessera_licfile_get_license_id (cand->file), license_id))
        {
          *copy = g_strdup (name);
          return TRUE;
        }
    }
  return TRUE;
}

static TesseraLicense *install_in (Offline *self, int dirfd, const char *machine_id,
                                   TesseraLicfile *file, GBytes *contents, const char *file_name,
                                   TesseraInstallFlags flags, GError **error);

TesseraLicense *
offline_install (gpointer instance, const char *file_name, GBytes *contents, GError **error)
{
  return offline_install_with_flags (instance, file_name, contents, TESSERA_INSTALL_NONE, error);
}

TesseraLicense *
offline_install_with_flags (gpointer instance, const char *file_name, GBytes *contents,
                            TesseraInstallFlags flags, GError **error)
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
  g_autoptr (TesseraFingerprint) fp = offline_dup_fingerprint (self, error);
  if (fp == NULL)
    return NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  /* Machine first (at its issue time a file is within its validity), then
   * the clock, whose rollback would let an expired file pass, then time. */
  offline_clock_load (self->clock);
  if (!tessera_licfile_check_fingerprint (file, NULL, fp, tessera_licfile_get_issued_at (file),
                                          &local_error)
      || !offline_clock_check (self->clock, now, 0, &local_error)
      || !tessera_licfile_check (file, NULL, NULL, now, &local_error))
    {
      g_set_error (error, local_error->domain, local_error->code, "%s: %s", file_name,
                   local_error->message);
      return NULL;
    }

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
  /* One install at a time per folder: two installs of one license would
   * otherwise both find no copy and add two. Only installs take this lock
   * (activation never waits for it), and each holds it for a few writes. */
  int rc;
  while ((rc = flock (dirfd, LOCK_EX)) != 0 && errno == EINTR)
    ;
  if (rc != 0)
    {
      int errsv = errno;
      close (dirfd);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "cannot lock the offline license folder %s: %s", self->license_dir,
                   g_strerror (errsv));
      return NULL;
    }
  /* Under the ID the file holds, which a file matched by its components
   * need not share with this machine: a name must agree with its content. */
  TesseraLicense *installed = install_in (self, dirfd, tessera_licfile_get_machine_id (file), file,
                                          contents, file_name, flags, error);
  close (dirfd); /* and its lock */
  return installed;
}

/* A license is installed once: its copy is replaced only when asked
 * (@flags), since a product session holding that file ends at its next
 * validate when it is replaced. Another license for the same product and
 * machine is one more file, so one more parallel session. */
static TesseraLicense *
install_in (Offline *self, int dirfd, const char *machine_id, TesseraLicfile *file,
            GBytes *contents, const char *file_name, TesseraInstallFlags flags, GError **error)
{
  const char *product = tessera_licfile_get_product (file);
  const char *license_id = tessera_licfile_get_license_id (file);
  g_autofree char *copy = NULL;
  if (!find_copy (self, dirfd, product, machine_id, license_id, &copy, error))
    return NULL;

  g_autofree char *name = NULL;
  if (copy != NULL)
    {
      g_autofree char *copy_path = g_build_filename (self->license_dir, copy, NULL);
      gboolean same = FALSE;
      int fd = openat (dirfd, copy, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0)
        {
          same = offline_fd_has_bytes (fd, contents);
          close (fd);
        }
      if (!(flags & TESSERA_INSTALL_REPLACE))
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                       "%s: not installed: license %s is already installed as %s%s; install it "
                       "with the replace option (tessera offline install --replace) to replace "
                       "that file",
                       file_name, license_id, copy_path,
                       same ? " (the same file)" : " (another file of the same license)");
          return NULL;
        }
      /* The same bytes: nothing to change, and a session holding the file
       * goes on. */
      if (!same && !write_atomically (dirfd, self->license_dir, copy, contents, error))
        return NULL;
      name = g_steal_pointer (&copy);
    }
  else
    {
      name = write_new_name (dirfd, self->license_dir, product, machine_id, contents, file_name,
                             error);
      if (name == NULL)
        return NULL;
    }

  g_autofree char *path = g_build_filename (self->license_dir, name, NULL);
  return stored_new (self, dirfd, name, path, product);
}
