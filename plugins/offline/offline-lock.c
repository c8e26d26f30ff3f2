/* Offline sessions are counted per license, not per file.
 *
 * A session holds the flock of its license file. On its own, that would let
 * a copy of the file (another name, the same signed license) hold a second
 * session. So a granted session also holds, for its whole life, an
 * exclusive flock keyed by the license ID inside the file: the lock file
 * LOCK_DIR/<sha256 hex of the license ID>.lock. Every copy of a license
 * leads to the same lock file, whatever its name or folder, and a license
 * held through one copy is busy through all of them.
 *
 * Lock files are never deleted. A holder's lock lives on the inode: had the
 * file been unlinked at release, a process that had just opened the old
 * inode could lock it while the next one creates and locks a new inode, and
 * the license would have two sessions. They are empty, one per license ever
 * used here.
 *
 * The kernel drops the flock when the fd is closed or the process dies, so a
 * session that crashes (even by SIGKILL) frees its license at once, as it
 * frees its file.
 *
 * Fail safe: if the lock cannot be taken because the folder cannot be
 * created or written, the activation fails (permission-denied, naming the
 * folder). A session that cannot be counted is not granted. */
#include "offline-private.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_SUFFIX ".lock"

/* What every lock-folder refusal adds: why it is fatal, what to do. */
#define LOCK_DIR_ADVICE                                                                            \
  "offline sessions are counted there (one per license), so no offline license is granted "        \
  "without it; make the folder writable for this user, or set lock-dir in [provider:offline]"

static int
open_lock_file (int dirfd, const char *name)
{
  /* O_NOFOLLOW: not through a link; O_NONBLOCK: a FIFO in its place must not
   * hang the product (it is refused below, as not a regular file). */
  for (;;)
    {
      int fd = openat (dirfd, name,
                       O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
      if (fd >= 0 || errno != EINTR)
        return fd;
    }
}

/* Resource shortages are not the folder's fault; everything else that
 * stops the lock (EACCES, EROFS, ENOTDIR, ENOSPC, ...) is its state. */
static TesseraError
lock_error_code (int errsv)
{
  return errsv == EMFILE || errsv == ENFILE || errsv == ENOMEM ? TESSERA_ERROR_FAILED
                                                               : TESSERA_ERROR_PERMISSION_DENIED;
}

/* The lock folder, created on the first lock (only then, so activation
 * costs no mkdir once it exists) and never a link: refused as license files
 * are. Returns: its fd, or -1 with @error set. */
static int
open_lock_dir (const char *lock_dir, GError **error)
{
  gboolean mkdir_failed = FALSE;
  int dirfd = offline_make_folder (lock_dir, &mkdir_failed);
  if (dirfd < 0 && mkdir_failed)
    {
      int errsv = errno;
      g_set_error (error, TESSERA_ERROR, lock_error_code (errsv),
                   "cannot create the offline license lock folder %s: %s: " LOCK_DIR_ADVICE,
                   lock_dir, g_strerror (errsv));
      return -1;
    }
  if (dirfd < 0)
    {
      int errsv = errno;
      if (errsv == ELOOP)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                     "the offline license lock folder %s is a symbolic link: lock files are "
                     "not created through links (it could point anywhere); make it a real "
                     "folder, or set lock-dir in [provider:offline] to the folder itself",
                     lock_dir);
      else
        g_set_error (
            error, TESSERA_ERROR, lock_error_code (errsv),
            "cannot create lock files in the offline license lock folder %s: %s: " LOCK_DIR_ADVICE,
            lock_dir, g_strerror (errsv));
      return -1;
    }
  return dirfd;
}

gboolean
offline_candidate_lock_license (OfflineCandidate *cand, const char *lock_dir, GError **error)
{
  g_return_val_if_fail (cand->file != NULL, FALSE);
  g_return_val_if_fail (cand->license_fd < 0, FALSE);

  const char *license_id = tessera_licfile_get_license_id (cand->file);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, license_id, -1);
  g_autofree char *name = g_strconcat (digest, LOCK_SUFFIX, NULL);

  int dirfd = open_lock_dir (lock_dir, error);
  if (dirfd < 0)
    return FALSE;
  /* Created in the folder that was checked, whatever its path names now. */
  int fd = open_lock_file (dirfd, name);
  int open_errno = errno;
  close (dirfd);
  if (fd < 0)
    {
      if (open_errno == ELOOP)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                     "the lock file %s in the offline license lock folder %s is a symbolic "
                     "link: " LOCK_DIR_ADVICE,
                     name, lock_dir);
      else
        g_set_error (error, TESSERA_ERROR, lock_error_code (open_errno),
                     "cannot create the lock file %s in the offline license lock folder %s: "
                     "%s: " LOCK_DIR_ADVICE,
                     name, lock_dir, g_strerror (open_errno));
      return FALSE;
    }

  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "the lock file %s in the offline license lock folder %s is not a regular "
                   "file: " LOCK_DIR_ADVICE,
                   name, lock_dir);
      return FALSE;
    }

  for (;;)
    {
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        {
          cand->license_fd = fd;
          return TRUE;
        }
      if (errno == EINTR)
        continue;
      int errsv = errno;
      close (fd);
      if (errsv == EWOULDBLOCK)
        {
          /* Another session holds this license, through another file with the
           * same license ID: a copy of this one. */
          cand->busy = TRUE;
          return TRUE;
        }
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "cannot lock %s in the offline license lock folder %s: %s (the folder must "
                   "be on a file system that supports flock)",
                   name, lock_dir, g_strerror (errsv));
      return FALSE;
    }
}

/* ---- busy licenses, for the quota-exceeded message ---- */

typedef struct
{
  char *license_id;
  GPtrArray *names; /* of its files, in the order found */
} BusyLicense;

struct _OfflineBusy
{
  GPtrArray *licenses; /* of BusyLicense, in the order found */
};

static void
busy_license_free (gpointer data)
{
  BusyLicense *l = data;
  g_free (l->license_id);
  g_ptr_array_unref (l->names);
  g_free (l);
}

OfflineBusy *
offline_busy_new (void)
{
  OfflineBusy *busy = g_new0 (OfflineBusy, 1);
  busy->licenses = g_ptr_array_new_with_free_func (busy_license_free);
  return busy;
}

void
offline_busy_free (OfflineBusy *busy)
{
  if (busy == NULL)
    return;
  g_ptr_array_unref (busy->licenses);
  g_free (busy);
}

void
offline_busy_add (OfflineBusy *busy, const char *license_id, const char *name)
{
  BusyLicense *l = NULL;
  for (guint i = 0; i < busy->licenses->len && l == NULL; i++)
    {
      BusyLicense *candidate = busy->licenses->pdata[i];
      if (g_str_equal (candidate->license_id, license_id))
        l = candidate;
    }
  if (l == NULL)
    {
      l = g_new0 (BusyLicense, 1);
      l->license_id = g_strdup (license_id);
      l->names = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (busy->licenses, l);
    }
  g_ptr_array_add (l->names, g_strdup (name));
}

guint
offline_busy_get_count (OfflineBusy *busy)
{
  return busy->licenses->len;
}

/* "A = A2, B; ...": per license its files, copies of one another, joined
 * by " = ". */
static char *
describe_busy (OfflineBusy *busy)
{
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func (g_free);
  gboolean copies = FALSE;
  for (guint i = 0; i < busy->licenses->len; i++)
    {
      BusyLicense *l = busy->licenses->pdata[i];
      GString *entry = g_string_new (l->names->pdata[0]);
      for (guint j = 1; j < l->names->len && j < OFFLINE_MAX_NAMES_SHOWN; j++)
        g_string_append_printf (entry, " = %s", (const char *) l->names->pdata[j]);
      if (l->names->len > OFFLINE_MAX_NAMES_SHOWN)
        g_string_append_printf (entry, " = %u more copies",
                                l->names->len - OFFLINE_MAX_NAMES_SHOWN);
      copies |= l->names->len > 1;
      g_ptr_array_add (entries, g_string_free (entry, FALSE));
    }
  g_autofree char *names = offline_join_names (entries);
  if (!copies)
    return g_steal_pointer (&names);
  return g_strconcat (names, "; files that are copies of one license (=) are that one license",
                      NULL);
}

void
offline_busy_set_error (OfflineBusy *busy, const char *product, const char *machine_id,
                        GError **error)
{
  g_autofree char *names = describe_busy (busy);
  guint n = busy->licenses->len;
  if (n == 1)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                 "the offline %s license for this machine is in use (%s): end the session "
                 "that holds it, or ask your administrator for another license file for "
                 "machine ID %s",
                 product, names, machine_id);
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                 "all %u offline %s licenses for this machine are in use (%s): end a session "
                 "that holds one, or ask your administrator for another license file for "
                 "machine ID %s",
                 n, product, names, machine_id);
}
