/* Clock-rollback detection for offline licenses.
 *
 * An offline license is only as good as the clock it is checked against, and
 * the user owns that clock. So the provider remembers the latest time it has
 * seen a license valid (in memory, and in a per-user state file shared by
 * all processes) and refuses to grant anything while the clock reads more
 * than the tolerance before it: setting the clock back never brings an
 * expired license back to life.
 *
 * Losing the state must not help either. A missing or corrupt file is
 * replaced by what can still be proven: the ctime of the license file (set
 * by the kernel from this clock when the file was put in place, and not
 * settable by the user), while a clock before the license's issue time is
 * refused as "not yet valid" by the license check itself. So deleting the
 * state never grants more days than the files themselves prove.
 *
 * The file holds one line, "tessera-offline-clock 1 SECONDS\n", and is
 * replaced atomically (temporary file + rename, mode 0600). Writes are
 * rate-limited: the validate fast path writes at most once a minute. A state
 * directory that cannot be written never blocks a license: the in-memory
 * value still protects this process, and the failure is logged at debug
 * level. */
#include "offline-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define STATE_MAGIC "tessera-offline-clock 1 "
#define STATE_MAX_SIZE 128
#define STATE_MAX_TIME G_GINT64_CONSTANT (253402300799) /* 9999-12-31 */

struct _OfflineClock
{
  char *dir;
  char *path;
  gint64 tolerance;

  GMutex lock;
  gint64 last_seen; /* the latest time known to have passed; 0: none */
  gint64 written;   /* what the state file holds (or was last asked to) */
  gboolean rewrite; /* the state file is missing or corrupt */
};

typedef enum
{
  STATE_OK,
  STATE_MISSING,
  STATE_CORRUPT,
  STATE_UNREADABLE,
} StateStatus;

OfflineClock *
offline_clock_new (const char *state_dir, gint64 tolerance)
{
  OfflineClock *clock = g_new0 (OfflineClock, 1);
  clock->dir = g_strdup (state_dir);
  clock->path = g_build_filename (state_dir, OFFLINE_CLOCK_FILE_NAME, NULL);
  clock->tolerance = tolerance;
  g_mutex_init (&clock->lock);
  return clock;
}

void
offline_clock_free (OfflineClock *clock)
{
  if (clock == NULL)
    return;
  g_free (clock->dir);
  g_free (clock->path);
  g_mutex_clear (&clock->lock);
  g_free (clock);
}

const char *
offline_clock_get_path (OfflineClock *clock)
{
  return clock->path;
}

gint64
offline_clock_get_last_seen (OfflineClock *clock)
{
  g_mutex_lock (&clock->lock);
  gint64 value = clock->last_seen;
  g_mutex_unlock (&clock->lock);
  return value;
}

/* Parses "tessera-offline-clock 1 SECONDS\n" strictly. */
static gboolean
parse_state (const char *text, gsize len, gint64 *value)
{
  gsize magic_len = strlen (STATE_MAGIC);
  if (len <= magic_len + 1 || memcmp (text, STATE_MAGIC, magic_len) != 0 || text[len - 1] != '\n')
    return FALSE;
  g_autofree char *digits = g_strndup (text + magic_len, len - magic_len - 1);
  guint64 n = 0;
  for (const char *p = digits; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  if (!g_ascii_string_to_unsigned (digits, 10, 1, STATE_MAX_TIME, &n, NULL))
    return FALSE;
  *value = (gint64) n;
  return TRUE;
}

static StateStatus
read_state (const char *path, gint64 *value)
{
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    {
      int errsv = errno;
      if (errsv == ENOENT || errsv == ENOTDIR)
        return STATE_MISSING;
      if (errsv == ELOOP)
        return STATE_CORRUPT; /* a link: replaced by a real file at the next write */
      g_debug ("offline: cannot read the clock state %s: %s", path, g_strerror (errsv));
      return STATE_UNREADABLE;
    }
  char buf[STATE_MAX_SIZE + 1];
  struct stat st;
  gsize len = 0;
  gboolean regular = fstat (fd, &st) == 0 && S_ISREG (st.st_mode);
  while (regular && len < sizeof buf)
    {
      ssize_t n = read (fd, buf + len, sizeof buf - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (gsize) n;
    }
  close (fd);
  if (!regular || len > STATE_MAX_SIZE || !parse_state (buf, len, value))
    return STATE_CORRUPT;
  return STATE_OK;
}

/* Writes max(@value, what the file holds now) to the state file. Another
 * process may have moved it on since we read it; merging keeps the file
 * from going back (two writers racing may still lose a few seconds, never
 * more than the write interval). Lock held. */
static void
write_state_locked (OfflineClock *clock, gint64 value)
{
  gint64 on_disk = 0;
  if (read_state (clock->path, &on_disk) == STATE_OK && on_disk >= value)
    {
      clock->last_seen = MAX (clock->last_seen, on_disk);
      clock->written = on_disk;
      clock->rewrite = FALSE;
      return;
    }
  clock->written = value;
  clock->rewrite = FALSE;

  if (g_mkdir_with_parents (clock->dir, 0700) != 0)
    {
      int errsv = errno;
      g_debug ("offline: cannot create the state folder %s: %s (clock-rollback detection "
               "keeps its state in memory only)",
               clock->dir, g_strerror (errsv));
      return;
    }
  /* Atomic and durable: a crash leaves the old or the new value, never a torn one. */
  g_autofree char *line = g_strdup_printf (STATE_MAGIC "%" G_GINT64_FORMAT "\n", value);
  g_autoptr (GError) local_error = NULL;
  if (!g_file_set_contents_full (clock->path, line, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600,
                                 &local_error))
    g_debug ("offline: cannot write the clock state: %s (kept in memory only)",
             local_error->message);
}

void
offline_clock_load (OfflineClock *clock)
{
  gint64 value = 0;
  g_mutex_lock (&clock->lock);
  switch (read_state (clock->path, &value))
    {
    case STATE_OK:
      clock->last_seen = MAX (clock->last_seen, value);
      clock->written = value;
      clock->rewrite = FALSE;
      break;
    case STATE_MISSING:
    case STATE_CORRUPT:
      clock->rewrite = TRUE;
      break;
    case STATE_UNREADABLE:
      break;
    }
  g_mutex_unlock (&clock->lock);
}

gboolean
offline_clock_check (OfflineClock *clock, gint64 now, gint64 proven, GError **error)
{
  g_mutex_lock (&clock->lock);
  clock->last_seen = MAX (clock->last_seen, proven);
  gint64 last_seen = clock->last_seen;
  gboolean ok = now >= last_seen - clock->tolerance;
  /* A lost state file learns at once what the license files prove. */
  if (!ok && clock->rewrite)
    write_state_locked (clock, last_seen);
  g_mutex_unlock (&clock->lock);

  if (!ok)
    {
      g_autofree char *behind = offline_format_duration (last_seen - now);
      g_autofree char *now_iso = offline_format_time (now);
      g_autofree char *seen_iso = offline_format_time (last_seen);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CLOCK_ROLLBACK,
                   "the system clock is behind the last time an offline license was used on "
                   "this machine by %s (it reads %s, but %s has already passed): set the clock "
                   "right; offline licenses are refused while it is behind",
                   behind, now_iso, seen_iso);
    }
  return ok;
}

void
offline_clock_record (OfflineClock *clock, gint64 now)
{
  g_mutex_lock (&clock->lock);
  clock->last_seen = MAX (clock->last_seen, now);
  if (clock->rewrite || clock->last_seen - clock->written >= OFFLINE_CLOCK_WRITE_INTERVAL)
    write_state_locked (clock, clock->last_seen);
  g_mutex_unlock (&clock->lock);
}
