/* One offline license file: opening it safely, locking it, reading and
 * verifying it, and the snapshots that tell later whether it changed. */
#include "offline-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- snapshots ---- */

static void
from_statx (const struct statx *stx, OfflineStat *st)
{
  *st = (OfflineStat){
    .dev_major = stx->stx_dev_major,
    .dev_minor = stx->stx_dev_minor,
    .ino = stx->stx_ino,
    .size = stx->stx_size,
    .mode = stx->stx_mode,
    .mtime_sec = stx->stx_mtime.tv_sec,
    .mtime_nsec = stx->stx_mtime.tv_nsec,
    .ctime_sec = stx->stx_ctime.tv_sec,
    .ctime_nsec = stx->stx_ctime.tv_nsec,
  };
}

static void
from_stat (const struct stat *sb, OfflineStat *st)
{
  *st = (OfflineStat){
    .dev_major = major (sb->st_dev),
    .dev_minor = minor (sb->st_dev),
    .ino = sb->st_ino,
    .size = (guint64) sb->st_size,
    .mode = sb->st_mode,
    .mtime_sec = sb->st_mtim.tv_sec,
    .mtime_nsec = (guint32) sb->st_mtim.tv_nsec,
    .ctime_sec = sb->st_ctim.tv_sec,
    .ctime_nsec = (guint32) sb->st_ctim.tv_nsec,
  };
}

/* statx() first: libfaketime (0.9.10) shifts the times stat() and fstat()
 * report along with the clock, which would hide that a file's ctime is in
 * the faked "future"; it leaves statx() alone. stat() is the fallback for
 * kernels or sandboxes without statx. */
static int
stat_at (int dirfd, const char *path, int flags, OfflineStat *st)
{
  struct statx stx;
  if (statx (dirfd, path, flags, STATX_BASIC_STATS, &stx) == 0)
    {
      from_statx (&stx, st);
      return 0;
    }
  int errsv = errno;
  if (errsv != ENOSYS && errsv != EPERM)
    return errsv;

  struct stat sb;
  int rc = (flags & AT_EMPTY_PATH) ? fstat (dirfd, &sb) : fstatat (dirfd, path, &sb, flags);
  if (rc != 0)
    return errno;
  from_stat (&sb, st);
  return 0;
}

int
offline_stat_fd (int fd, OfflineStat *st)
{
  return stat_at (fd, "", AT_EMPTY_PATH, st);
}

int
offline_stat_path (const char *path, OfflineStat *st)
{
  return stat_at (AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, st);
}

int
offline_open_folder (const char *path)
{
  for (;;)
    {
      int fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
      if (fd >= 0)
        return fd;
      if (errno == EINTR)
        continue;
      /* Linux answers ENOTDIR for a link under O_DIRECTORY | O_NOFOLLOW:
       * callers tell the user which it is. */
      int errsv = errno;
      struct stat st;
      if (errsv == ENOTDIR && lstat (path, &st) == 0 && S_ISLNK (st.st_mode))
        errsv = ELOOP;
      errno = errsv;
      return -1;
    }
}

int
offline_make_folder (const char *path, gboolean *mkdir_failed)
{
  *mkdir_failed = FALSE;
  int fd = offline_open_folder (path);
  if (fd >= 0 || errno != ENOENT)
    return fd;
  if (g_mkdir_with_parents (path, 0700) != 0)
    {
      /* A dangling link in its place makes mkdir fail: say it is a link. */
      int errsv = errno;
      struct stat st;
      if (lstat (path, &st) == 0 && S_ISLNK (st.st_mode))
        errsv = ELOOP;
      else
        *mkdir_failed = TRUE;
      errno = errsv;
      return -1;
    }
  return offline_open_folder (path);
}

DIR *
offline_open_license_dir (const char *path)
{
  int fd = offline_open_folder (path);
  if (fd < 0)
    return NULL;
  DIR *dir = fdopendir (fd);
  if (dir == NULL)
    {
      int errsv = errno;
      close (fd);
      errno = errsv;
    }
  return dir;
}

void
offline_set_license_dir_link_error (const char *path, GError **error)
{
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
               "the offline license folder %s is a symbolic link: offline license folders are "
               "not followed through links (it could point anywhere); make it a real folder, "
               "or set license-dir in [provider:offline] to the folder itself",
               path);
}

gboolean
offline_stat_same_inode (const OfflineStat *a, const OfflineStat *b)
{
  return a->dev_major == b->dev_major && a->dev_minor == b->dev_minor && a->ino == b->ino;
}

gboolean
offline_stat_equal (const OfflineStat *a, const OfflineStat *b)
{
  return offline_stat_same_inode (a, b) && a->size == b->size && a->mode == b->mode
         && a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec
         && a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

/* ---- names and formatting ---- */

gboolean
offline_name_matches (const char *name, const char *product, const char *machine_id)
{
  gsize product_len = strlen (product), id_len = strlen (machine_id);
  if (strncmp (name, product, product_len) != 0 || name[product_len] != '_'
      || strncmp (name + product_len + 1, machine_id, id_len) != 0)
    return FALSE;
  const char *rest = name + product_len + 1 + id_len;
  if (g_str_equal (rest, ".lic"))
    return TRUE;
  return *rest != '\0' && !g_ascii_isalnum (*rest) && *rest != '-' && strlen (rest) > 4
         && g_str_has_suffix (rest, ".lic");
}

char *
offline_join_names (GPtrArray *names)
{
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < names->len && i < OFFLINE_MAX_NAMES_SHOWN; i++)
    g_string_append_printf (out, "%s%s", i ? ", " : "", (const char *) names->pdata[i]);
  if (names->len > OFFLINE_MAX_NAMES_SHOWN)
    g_string_append_printf (out, ", and %u more", names->len - OFFLINE_MAX_NAMES_SHOWN);
  return g_string_free (out, FALSE);
}

char *
offline_format_time (gint64 unix_time)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (unix_time);
  return t ? g_date_time_format_iso8601 (t) : g_strdup_printf ("%" G_GINT64_FORMAT, unix_time);
}

char *
offline_format_duration (gint64 seconds)
{
  static const struct
  {
    gint64 size;
    const char *one, *many;
  } units[] = {
    { 86400, "day", "days" },
    { 3600, "hour", "hours" },
    { 60, "minute", "minutes" },
    { 1, "second", "seconds" },
  };
  GString *out = g_string_new (NULL);
  guint shown = 0;
  seconds = MAX (seconds, 0);
  for (guint i = 0; i < G_N_ELEMENTS (units) && shown < 2; i++)
    {
      gint64 n = seconds / units[i].size;
      if (n == 0)
        {
          if (shown > 0)
            break; /* "2 days" rather than "2 days 0 hours" */
          continue;
        }
      seconds -= n * units[i].size;
      g_string_append_printf (out, "%s%" G_GINT64_FORMAT " %s", shown ? " " : "", n,
                              n == 1 ? units[i].one : units[i].many);
      shown++;
    }
  if (shown == 0)
    g_string_append (out, "0 seconds");
  return g_string_free (out, FALSE);
}

/* ---- reading ---- */

GBytes *
offline_read_fd (int fd, const char *path, GError **error)
{
  /* One byte more than allowed, to notice a file that grew past the limit
   * after it was checked. */
  gsize cap = TESSERA_LICFILE_MAX_SIZE + 1, len = 0;
  guint8 *buf = g_malloc (cap);
  while (len < cap)
    {
      ssize_t n = pread (fd, buf + len, cap - len, (off_t) len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          g_free (buf);
          g_set_error (error, TESSERA_ERROR,
                       errsv == EACCES ? TESSERA_ERROR_PERMISSION_DENIED : TESSERA_ERROR_FAILED,
                       "cannot read the offline license file %s: %s", path, g_strerror (errsv));
          return NULL;
        }
      if (n == 0)
        break;
      len += (gsize) n;
    }
  if (len > TESSERA_LICFILE_MAX_SIZE)
    {
      g_free (buf);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "%s: the license file was modified or damaged (it is larger than any "
                   "license file): it is no longer valid; ask your administrator for a new one",
                   path);
      return NULL;
    }
  return g_bytes_new_take (g_realloc (buf, MAX (len, 1)), len);
}

gboolean
offline_fd_has_bytes (int fd, GBytes *expected)
{
  gsize len = 0;
  const guint8 *want = g_bytes_get_data (expected, &len);
  /* One byte more, to notice a file that grew. */
  guint8 stack_buf[4096];
  guint8 *buf = len < sizeof stack_buf ? stack_buf : g_malloc (len + 1);
  gsize got = 0;
  while (got < len + 1)
    {
      ssize_t n = pread (fd, buf + got, len + 1 - got, (off_t) got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (gsize) n;
    }
  gboolean same = got == len && memcmp (buf, want, len) == 0;
  if (buf != stack_buf)
    g_free (buf);
  return same;
}

/* ---- candidates ---- */

static OfflineCandidate *
refuse (OfflineRank *rank, OfflineRank value, int fd)
{
  if (fd >= 0)
    close (fd);
  *rank = value;
  return NULL;
}

static OfflineCandidate *
candidate_open (int dirfd, const char *name, const char *path, gboolean lock, OfflineRank *rank,
                GError **error)
{
  /* O_NOFOLLOW: a link could point anywhere (or be swapped); O_NONBLOCK: a
   * FIFO named *.lic must not hang the product; O_NOCTTY: nor a terminal
   * become ours. */
  int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    {
      int errsv = errno;
      if (errsv == ELOOP)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                     "%s is a symbolic link: offline license files are not followed through "
                     "links; put the file itself in the folder",
                     path);
      else if (errsv == EACCES || errsv == EPERM)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                     "cannot open the offline license file %s: %s", path, g_strerror (errsv));
      else
        g_set_error (error, TESSERA_ERROR,
                     errsv == ENOENT ? TESSERA_ERROR_NOT_FOUND : TESSERA_ERROR_FAILED,
                     "cannot open the offline license file %s: %s", path, g_strerror (errsv));
      return refuse (rank, OFFLINE_RANK_UNREADABLE, -1);
    }

  OfflineStat st = { 0 };
  int errsv = offline_stat_fd (fd, &st);
  if (errsv != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "cannot examine the offline license file %s: %s", path, g_strerror (errsv));
      return refuse (rank, OFFLINE_RANK_UNREADABLE, fd);
    }
  if (!S_ISREG (st.mode))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                   "%s is not a regular file, so it cannot be an offline license file", path);
      return refuse (rank, OFFLINE_RANK_UNREADABLE, fd);
    }
  /* Before a single byte is read: a huge file costs nothing. */
  if (st.size > TESSERA_LICFILE_MAX_SIZE)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "%s: the license file was modified or damaged (it is %" G_GUINT64_FORMAT
                   " bytes, larger than any license file): it is no longer valid; ask your "
                   "administrator for a new one",
                   path, st.size);
      return refuse (rank, OFFLINE_RANK_DAMAGED, fd);
    }

  /* The lock belongs to this open file description: another fd, even in
   * this process, conflicts with it, and the kernel drops it when the fd
   * is closed or the process dies. */
  gboolean locked = FALSE, busy = FALSE;
  for (; lock;)
    {
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        locked = TRUE;
      else if (errno == EINTR)
        continue;
      else if (errno == EWOULDBLOCK)
        busy = TRUE;
      else
        {
          errsv = errno;
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                       "cannot lock the offline license file %s: %s (the license folder must "
                       "be on a file system that supports flock)",
                       path, g_strerror (errsv));
          return refuse (rank, OFFLINE_RANK_UNREADABLE, fd);
        }
      break;
    }

  OfflineCandidate *cand = g_new0 (OfflineCandidate, 1);
  cand->path = g_strdup (path);
  cand->name = g_path_get_basename (path);
  cand->fd = fd;
  cand->locked = locked;
  cand->busy = busy;
  cand->license_fd = -1;
  cand->fd_stat = st;
  return cand;
}

OfflineCandidate *
offline_candidate_open (int dirfd, const char *name, const char *path, OfflineRank *rank,
                        GError **error)
{
  return candidate_open (dirfd, name, path, TRUE, rank, error);
}

OfflineCandidate *
offline_candidate_open_unlocked (int dirfd, const char *name, const char *path, OfflineRank *rank,
                                 GError **error)
{
  return candidate_open (dirfd, name, path, FALSE, rank, error);
}

gboolean
offline_candidate_verify (OfflineCandidate *cand, TesseraTrustedKeys *keys, OfflineRank *rank,
                          GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_clear_pointer (&cand->contents, g_bytes_unref);
  g_clear_pointer (&cand->file, tessera_licfile_unref);

  cand->contents = offline_read_fd (cand->fd, cand->path, error);
  if (cand->contents == NULL)
    {
      *rank = OFFLINE_RANK_UNREADABLE;
      return FALSE;
    }
  cand->file = tessera_licfile_verify (cand->contents, keys, &local_error);
  if (cand->file == NULL)
    {
      *rank = g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY)
                  ? OFFLINE_RANK_UNTRUSTED
                  : OFFLINE_RANK_DAMAGED;
      g_set_error (error, local_error->domain, local_error->code, "%s: %s", cand->path,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

void
offline_candidate_close (OfflineCandidate *cand)
{
  if (cand->license_fd >= 0)
    {
      flock (cand->license_fd, LOCK_UN);
      close (cand->license_fd);
      cand->license_fd = -1;
    }
  if (cand->fd < 0)
    return;
  if (cand->locked)
    flock (cand->fd, LOCK_UN);
  close (cand->fd);
  cand->fd = -1;
  cand->locked = FALSE;
}

void
offline_candidate_free (OfflineCandidate *cand)
{
  if (cand == NULL)
    return;
  offline_candidate_close (cand);
  g_free (cand->path);
  g_free (cand->name);
  g_clear_pointer (&cand->contents, g_bytes_unref);
  g_clear_pointer (&cand->file, tessera_licfile_unref);
  g_free (cand);
}
