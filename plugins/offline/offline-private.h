/* The offline provider: shared declarations of its parts.
 *
 *   offline.c        the vtable: config, activate (choosing and locking a file),
 *                    validate, release, fingerprint
 *   offline-file.c   one license file: open, lock, read, verify, snapshots
 *   offline-clock.c  clock-rollback detection and its state file
 *   offline-lock.c   sessions counted per license: the license-ID lock, and
 *                    the quota-exceeded message
 *   offline-store.c  the ABI 1.1 ops: listing the folder's files (no lock, no
 *                    seat) and installing a file into the folder
 *   offline-match.c  how a file matches this machine, as license attributes
 *
 * Only the public API (<tessera/tessera.h>) is used. See docs/offline.md. */
#pragma once

#include <tessera/tessera.h>

#include <dirent.h>

G_BEGIN_DECLS

/* ---- offline-file.c ---- */

/**
 * OfflineStat:
 *
 * What must not change for a verified file to count as unchanged: identity,
 * size and both timestamps. Read with statx(), which preload libraries that
 * fake the clock (libfaketime) leave alone, unlike stat()/fstat().
 */
typedef struct
{
  guint64 dev_major;
  guint64 dev_minor;
  guint64 ino;
  guint64 size;
  guint32 mode;
  gint64 mtime_sec;
  guint32 mtime_nsec;
  gint64 ctime_sec;
  guint32 ctime_nsec;
} OfflineStat;

/* Returns 0, or an errno value. */
int offline_stat_fd (int fd, OfflineStat *st);
int offline_stat_path (const char *path, OfflineStat *st);
gboolean offline_stat_same_inode (const OfflineStat *a, const OfflineStat *b);
gboolean offline_stat_equal (const OfflineStat *a, const OfflineStat *b);

/* Opens the folder @path itself, never through a symbolic link: a lock or
 * license folder that is a link could send a product running as root
 * anywhere (a lock folder linked to /etc made it create /etc/<hash>.lock).
 * Links above @path are followed, as for any path.
 * Returns: a directory fd (O_CLOEXEC), or -1 with errno set: ELOOP when
 * @path is a link, ENOTDIR when it is something else but a folder. */
int offline_open_folder (const char *path);
/* offline_open_folder(), creating @path (0700, and its parents) first if
 * it is missing. *@mkdir_failed: set when creating it failed (errno says
 * why); a dangling link in its place is ELOOP, as a link. */
int offline_make_folder (const char *path, gboolean *mkdir_failed);
/* The license folder @path, opened by offline_open_folder(), to read.
 * Returns: NULL with errno set (ELOOP: a link) if it cannot be. */
DIR *offline_open_license_dir (const char *path);
/* TESSERA_ERROR_NOT_FOUND: @path is a link, as license files that are links
 * are refused. */
void offline_set_license_dir_link_error (const char *path, GError **error);

/* How relevant a refusal is when several files are refused: lower wins. */
typedef enum
{
  OFFLINE_RANK_CLOCK = 0,  /* a good file, but the clock went back */
  OFFLINE_RANK_TIME,       /* a good file outside its validity */
  OFFLINE_RANK_MISMATCH,   /* a good file for another product or machine */
  OFFLINE_RANK_RENAMED,    /* a good file under a name that is not its own */
  OFFLINE_RANK_UNTRUSTED,  /* signed by a key that is not trusted */
  OFFLINE_RANK_DAMAGED,    /* modified, damaged, not a license file */
  OFFLINE_RANK_UNREADABLE, /* cannot be opened or read */
  OFFLINE_RANK_NONE,
} OfflineRank;

/**
 * OfflineCandidate:
 *
 * One file being tried. offline_candidate_open() fills in everything up to
 * @busy; offline_candidate_verify() the rest.
 */
typedef struct
{
  char *path;
  char *name;
  int fd;          /* -1 once closed */
  gboolean locked; /* this fd holds the flock */
  gboolean busy;   /* another open file description holds it, or its license */
  int license_fd;  /* holds the lock of the license ID (offline-lock.c), or -1 */
  OfflineStat fd_stat;
  GBytes *contents;
  TesseraLicfile *file;
} OfflineCandidate;

/**
 * offline_candidate_open:
 * @dirfd: the license folder, or AT_FDCWD for an absolute @path
 * @name: the name in @dirfd (or the path)
 * @path: the full path, for messages and later checks
 *
 * Opens without following a link and without blocking (a FIFO named *.lic),
 * checks that it is a regular file no larger than TESSERA_LICFILE_MAX_SIZE
 * (before reading anything) and tries the lock. A busy file is not an error.
 *
 * Returns: (transfer full): the candidate, or NULL with @error and @rank set.
 */
OfflineCandidate *offline_candidate_open (int dirfd, const char *name, const char *path,
                                          OfflineRank *rank, GError **error);
/* The same without taking any lock (@locked and @busy stay FALSE): for
 * looking at a file, as listing does, without counting as a session. */
OfflineCandidate *offline_candidate_open_unlocked (int dirfd, const char *name, const char *path,
                                                   OfflineRank *rank, GError **error);

/**
 * offline_candidate_verify:
 *
 * Reads the file from its fd and verifies it against @keys.
 */
gboolean offline_candidate_verify (OfflineCandidate *cand, TesseraTrustedKeys *keys,
                                   OfflineRank *rank, GError **error);

/* Unlocks and closes the fd (if open) and the license lock (if held). */
void offline_candidate_close (OfflineCandidate *cand);
void offline_candidate_free (OfflineCandidate *cand);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OfflineCandidate, offline_candidate_free)

/**
 * offline_read_fd:
 *
 * Reads a whole regular file of at most TESSERA_LICFILE_MAX_SIZE bytes from
 * offset 0 (pread: the fd's offset does not matter).
 *
 * Returns: (transfer full): the bytes, or NULL with @error set.
 */
GBytes *offline_read_fd (int fd, const char *path, GError **error);

/**
 * offline_fd_has_bytes:
 *
 * Returns: TRUE if the file behind @fd holds exactly @expected (read with
 *   pread, without allocating for files that fit a small buffer); FALSE if
 *   it differs or cannot be read.
 */
gboolean offline_fd_has_bytes (int fd, GBytes *expected);

/**
 * offline_name_matches:
 * @name: a file name
 * @product: a product
 * @machine_id: a machine ID
 *
 * Returns: TRUE if @name is a license file name for @product on @machine_id:
 *   "PRODUCT_MACHINEID" then ".lic", or then a separator (not a letter,
 *   digit or '-', which would make another machine ID) and anything ending
 *   in ".lic" ("KRE_ID.2.lic", "KRE_ID (1).lic" as browsers save copies).
 */
gboolean offline_name_matches (const char *name, const char *product, const char *machine_id);

/* At most this many names are listed in a message. */
#define OFFLINE_MAX_NAMES_SHOWN 5

/* "a, b, c, and 2 more": the first OFFLINE_MAX_NAMES_SHOWN strings of @names. */
char *offline_join_names (GPtrArray *names);

/* Formats a Unix time as ISO 8601 UTC. */
char *offline_format_time (gint64 unix_time);
/* Formats a duration as "3 days 4 hours", "12 minutes", "40 seconds". */
char *offline_format_duration (gint64 seconds);

/* ---- offline-clock.c ---- */

/* State writes on the validate path happen at most this often. */
#define OFFLINE_CLOCK_WRITE_INTERVAL 60
#define OFFLINE_CLOCK_FILE_NAME "offline-clock"

/**
 * OfflineClock:
 *
 * The latest time this user has seen an offline license valid, kept in
 * memory and in a state file shared by every process of the user. Thread-safe.
 */
typedef struct _OfflineClock OfflineClock;

/* @state_dir: the directory holding the state file (created 0700 on write). */
OfflineClock *offline_clock_new (const char *state_dir, gint64 tolerance);
void offline_clock_free (OfflineClock *clock);
const char *offline_clock_get_path (OfflineClock *clock);

/* Merges the state file into memory (activate: other processes may have
 * moved it on). A missing or corrupt file is remembered for rewriting. */
void offline_clock_load (OfflineClock *clock);

/**
 * offline_clock_check:
 * @now: the current time
 * @proven: a time the caller can prove has passed (the ctime of the license
 *   file: the kernel set it from this clock), or 0
 *
 * Returns: TRUE, or FALSE with TESSERA_ERROR_CLOCK_ROLLBACK if @now is more
 *   than the tolerance behind the latest time seen or @proven. Either way
 *   the latest time known is raised to @proven (and a missing or corrupt state
 *   file is rewritten with it).
 */
gboolean offline_clock_check (OfflineClock *clock, gint64 now, gint64 proven, GError **error);

/**
 * offline_clock_record:
 * @now: a time at which a license was seen valid
 *
 * Raises the latest time seen to @now and writes the state file if that
 * advanced it by OFFLINE_CLOCK_WRITE_INTERVAL or more, or if the file is
 * missing or corrupt. A state file that cannot be written is only logged.
 */
void offline_clock_record (OfflineClock *clock, gint64 now);

/* For tests and diagnostics: the latest time seen (0 if none). */
gint64 offline_clock_get_last_seen (OfflineClock *clock);

/* ---- offline-lock.c ---- */

/* The default lock folder, in the state folder. */
#define OFFLINE_LOCK_DIR_NAME "offline-locks"

/**
 * offline_candidate_lock_license:
 * @cand: a verified candidate that holds its file's lock
 * @lock_dir: the lock folder (created 0700 if missing)
 *
 * Takes, without waiting, the exclusive flock of the license ID in @cand's
 * file: `@lock_dir/<sha256-hex of the license ID>.lock` (created 0600,
 * never deleted), kept in @cand->license_fd until the candidate is closed.
 * So copies of one license file (same license ID, any name) are one
 * session. If another session holds the license, sets @cand->busy.
 *
 * Returns: TRUE (locked, or busy); FALSE with @error set if the lock cannot
 *   be taken at all (TESSERA_ERROR_PERMISSION_DENIED naming @lock_dir when it
 *   cannot be created or written): fail safe, a session that cannot be
 *   counted is not granted.
 */
gboolean offline_candidate_lock_license (OfflineCandidate *cand, const char *lock_dir,
                                         GError **error);

/**
 * OfflineBusy:
 *
 * The licenses found held by other sessions during one activation, each
 * with the names of its files: copies of one license count once.
 */
typedef struct _OfflineBusy OfflineBusy;

OfflineBusy *offline_busy_new (void);
void offline_busy_free (OfflineBusy *busy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OfflineBusy, offline_busy_free)
/* Adds the file @name (listed in the message) holding @license_id. */
void offline_busy_add (OfflineBusy *busy, const char *license_id, const char *name);
/* The number of distinct licenses added. */
guint offline_busy_get_count (OfflineBusy *busy);
/* Sets TESSERA_ERROR_QUOTA_EXCEEDED: "all N offline PRODUCT licenses ...". */
void offline_busy_set_error (OfflineBusy *busy, const char *product, const char *machine_id,
                             GError **error);

/* ---- offline.c: the instance, shared with offline-store.c ---- */

typedef struct
{
  char *license_dir;
  char *lock_dir; /* the license-ID locks: sessions per license */
  TesseraTrustedKeys *keys;
  OfflineClock *clock;
  char **products; /* [engine] products, or NULL: install refuses others */

  GMutex lock;
  TesseraFingerprint *fp; /* this machine's fingerprint, computed once; guarded by @lock */
} Offline;

/* What a license's backend data is: both structs start with this, so
 * validate and release tell a session from a listed entry. */
typedef enum
{
  OFFLINE_DATA_SESSION = 1,
  OFFLINE_DATA_STORED,
} OfflineDataKind;

/* Returns: (transfer full): this machine's ID (the core fingerprint). */
char *offline_dup_machine_id (Offline *self, GError **error);
/* Returns: (transfer full): this machine's fingerprint (the core's). */
TesseraFingerprint *offline_dup_fingerprint (Offline *self, GError **error);

/* Verifies @cand and checks it for @product on the machine of @fp at @now
 * (the machine ID, or for a file with component digests its match policy);
 * see offline.c. */
gboolean offline_check_candidate (Offline *self, OfflineCandidate *cand, const char *product,
                                  TesseraFingerprint *fp, gint64 now, OfflineRank *rank,
                                  GError **error);

/* Sets the attributes that say how @file matches this machine:
 * offline.match-policy ("exact" for a file that binds the machine ID only),
 * offline.components-matched and offline.components-changed (names,
 * comma-separated; changed includes the bound ones not read here) and
 * offline.match (the explanation). */
void offline_set_match_attributes (TesseraLicense *license, TesseraLicfile *file,
                                   TesseraFingerprint *fp);

/* ---- offline-store.c ---- */

/* The list op: every *.lic file of the folder named PRODUCT_..., as a
 * license that takes nothing (backend data OFFLINE_DATA_STORED). */
GPtrArray *offline_list (gpointer instance, const char *product, GError **error);
/* At most this many files per product and machine are installed
 * (PRODUCT_<ID>.lic, then .1.lic up to .999.lic). */
#define OFFLINE_MAX_FILES 1000

/* The install op (docs/offline.md, "Installing a file"): install_with_flags
 * without flags, for cores older than ABI 1.2. */
TesseraLicense *offline_install (gpointer instance, const char *file_name, GBytes *contents,
                                 GError **error);
TesseraLicense *offline_install_with_flags (gpointer instance, const char *file_name,
                                            GBytes *contents, TesseraInstallFlags flags,
                                            GError **error);
/* validate of a listed entry: the file as it is now, checked as activation
 * would check it, without its lock. */
gboolean offline_stored_validate (Offline *self, TesseraLicense *license, GError **error);

G_END_DECLS
