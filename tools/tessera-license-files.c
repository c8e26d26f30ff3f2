/* tessera-license: reading license files and trusted keys, and writing
 * a license file without ever overwriting one. */
#include "tessera-license.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ---- */

/* Reads a license file: regular, at most one byte more than any license file
 * may have (tessera_licfile_verify() refuses that one). */
GBytes *
read_license_file (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot open %s: %s", path,
                   g_strerror (errsv));
      return NULL;
    }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s is not a regular file", path);
      return NULL;
    }
  gsize cap = TESSERA_LICFILE_MAX_SIZE + 1, len = 0;
  guint8 *buf = g_malloc (cap);
  while (len < cap)
    {
      ssize_t n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          close (fd);
          g_free (buf);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot read %s: %s",
                       path, g_strerror (errsv));
          return NULL;
        }
      if (n == 0)
        break;
      len += (gsize) n;
    }
  close (fd);
  return g_bytes_new_take (buf, len);
}

gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Publishes @tmp under @target without ever replacing an existing file:
 * link(2), or rename with RENAME_NOREPLACE where hard links are unsupported.
 * Returns 0, or an errno (EEXIST: @target exists). @tmp is left in place. */
int
publish_no_clobber (const char *tmp, const char *target, gboolean *tmp_consumed)
{
  *tmp_consumed = FALSE;
  if (link (tmp, target) == 0)
    return 0;
  int errsv = errno;
  if (errsv != EPERM && errsv != EOPNOTSUPP && errsv != ENOSYS)
    return errsv;
  if (renameat2 (AT_FDCWD, tmp, AT_FDCWD, target, RENAME_NOREPLACE) == 0)
    {
      *tmp_consumed = TRUE;
      return 0;
    }
  return errno;
}

/* Writes @contents to a new file: @fixed_path if given (it must not exist),
 * else the first free PRODUCT_MACHINEID[.N].lic in @dir (NULL: the current
 * directory). The bytes go to a temporary file in the same directory first,
 * so a failure leaves no partial file.
 * Returns: (transfer full): the path written, or NULL with @error. */
char *
write_license (const char *dir, const char *fixed_path, const char *product, const char *machine_id,
               GBytes *contents, GError **error)
{
  g_autofree char *tmp_dir
      = fixed_path ? g_path_get_dirname (fixed_path) : g_strdup (dir ? dir : ".");
  g_autofree char *tmp = g_build_filename (tmp_dir, ".tessera-license-XXXXXX.tmp", NULL);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                   "cannot create a file in %s: %s", tmp_dir, g_strerror (errsv));
      return NULL;
    }
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (contents, &len);
  gboolean ok = write_all (fd, data, len) && fsync (fd) == 0;
  int errsv = errno;
  if (close (fd) != 0 && ok)
    {
      ok = FALSE;
      errsv = errno;
    }
  if (!ok)
    {
      g_unlink (tmp);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot write %s: %s", tmp,
                   g_strerror (errsv));
      return NULL;
    }

  char *target = NULL;
  gboolean consumed = FALSE;
  for (guint serial = 0; serial < 100000; serial++)
    {
      if (fixed_path != NULL)
        target = g_strdup (fixed_path);
      else
        {
          g_autofree char *name = tessera_licfile_file_name (product, machine_id, serial);
          target = dir ? g_build_filename (dir, name, NULL) : g_steal_pointer (&name);
        }
      errsv = publish_no_clobber (tmp, target, &consumed);
      if (errsv == 0)
        break;
      if (errsv == EEXIST && fixed_path == NULL)
        {
          g_clear_pointer (&target, g_free);
          continue;
        }
      if (errsv == EEXIST)
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                     "%s already exists: refusing to overwrite it", target);
      else
        g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot create %s: %s",
                     target, g_strerror (errsv));
      g_clear_pointer (&target, g_free);
      break;
    }
  if (target == NULL && error != NULL && *error == NULL)
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "too many license files for %s_%s in %s",
                 product, machine_id, tmp_dir);
  if (!consumed)
    g_unlink (tmp);
  return target;
}

TesseraTrustedKeys *
load_trusted_keys (char **paths, GError **error)
{
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  for (guint i = 0; paths && paths[i]; i++)
    if (!tessera_trusted_keys_add_path (keys, paths[i], error))
      return NULL;
  return g_steal_pointer (&keys);
}
