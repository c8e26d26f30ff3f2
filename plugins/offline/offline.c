/* The offline provider: signed, machine-bound license files (docs/offline.md).
 *
 * A license file `PRODUCT_MACHINEID.lic` in the license folder grants one
 * session of PRODUCT on the machine with that ID, for as long as the file
 * says (at most 60 days). Several files for one machine sit side by side
 * (`PRODUCT_MACHINEID.N.lic`): N licenses, N sessions. A session is an flock
 * on the file held through an open fd until release (or until the process
 * dies: the kernel drops the lock), so processes need no daemon to share
 * the files and a crashed session frees its file at once. It also holds an
 * flock keyed by the license ID (offline-lock.c), so a copy of a file is the
 * same license, not another session.
 *
 * Threading: ops run concurrently. The instance's only mutable state (the
 * cached machine ID) is guarded by its lock, the clock has its own, and each
 * session (a license's backend data) has one too. Trusted keys are loaded
 * by create and read-only afterwards. */
#include "offline-private.h"

#include "gio-lazy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TESSERA_SYSCONF_DIR
#error "TESSERA_SYSCONF_DIR must be defined (plugins/offline/CMakeLists.txt)"
#endif
#ifndef TESSERA_DATA_DIR
#error "TESSERA_DATA_DIR must be defined (plugins/offline/CMakeLists.txt)"
#endif

#define DEFAULT_LICENSE_DIR "~/.katalon/license"
#define DEFAULT_CLOCK_TOLERANCE 600
#define MAX_CLOCK_TOLERANCE (366 * 24 * 3600)
/* An activation option naming one license file to use instead of the
 * folder (a product's "browse for the license file" dialog). */
#define OFFLINE_OPTION_FILE "offline-file"
/* A snapshot of a file changed less than this many seconds before cannot
 * tell a later change within the same timestamp tick from no change (git's
 * "racily clean" problem): until the file is older, validate compares the
 * bytes as well. */
#define RACY_WINDOW 2

static const char *const known_keys[]
    = { "license-dir", "trusted-keys", "state-dir", "lock-dir", "clock-tolerance", NULL };

/* A granted license's backend data: the locked file. */
typedef struct
{
  OfflineDataKind kind; /* OFFLINE_DATA_SESSION; first, see OfflineDataKind */
  GMutex lock;
  OfflineCandidate *cand; /* fd and license lock (-1 once released), path, bytes, file */
  OfflineStat path_stat;  /* the path, as last seen unchanged */
  gboolean racy;          /* the snapshots are too recent to trust alone */
  char *product;
  TesseraFingerprint *fp;
} OfflineSession;

/* ---- configuration ---- */

/* One element of the trusted-keys list, resolved the way
 * tessera_backend_config_dup_path() resolves a whole value. */
static char *
expand_key_path (TesseraBackendConfig *config, const char *element, GError **error)
{
  if (g_str_equal (element, "~") || g_str_has_prefix (element, "~/"))
    return g_build_filename (g_get_home_dir (), element + 1, NULL);
  if (g_path_is_absolute (element))
    return g_canonicalize_filename (element, NULL);

  const char *config_path = tessera_backend_config_get_config_path (config);
  if (config_path == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] trusted-keys: relative path '%s' needs a config file to be relative to",
                   tessera_backend_config_get_group (config), element);
      return NULL;
    }
  g_autofree char *base = g_path_get_dirname (config_path);
  return g_canonicalize_filename (element, base);
}

static TesseraTrustedKeys *
load_trusted_keys (TesseraBackendConfig *config, GError **error)
{
  const char *group = tessera_backend_config_get_group (config);
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  g_autofree char *value = tessera_backend_config_dup_string (config, "trusted-keys", NULL);

  if (value != NULL)
    {
      /* Explicitly configured: every element must load. */
      g_auto (GStrv) elements = g_strsplit (value, ";", -1);
      guint n = 0;
      for (guint i = 0; elements[i]; i++)
        {
          g_strstrip (elements[i]);
          if (*elements[i] == '\0')
            continue;
          n++;
          g_autoptr (GError) local_error = NULL;
          g_autofree char *path = expand_key_path (config, elements[i], error);
          if (path == NULL)
            return NULL;
          if (!tessera_trusted_keys_add_path (keys, path, &local_error))
            {
              g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] trusted-keys: %s",
                           group, local_error->message);
              return NULL;
            }
        }
      if (n == 0)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                       "[%s] trusted-keys is empty: name the public key file(s) of your "
                       "license issuer",
                       group);
          return NULL;
        }
    }
  else
    {
      /* The installed defaults: a directory that does not exist is skipped. */
      const char *const defaults[] = { TESSERA_SYSCONF_DIR "/keys", TESSERA_DATA_DIR "/keys" };
      for (guint i = 0; i < G_N_ELEMENTS (defaults); i++)
        {
          g_autoptr (GError) local_error = NULL;
          if (tessera_trusted_keys_add_path (keys, defaults[i], &local_error))
            continue;
          if (g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND))
            {
              g_debug ("offline: no trusted keys in %s: %s", defaults[i], local_error->message);
              continue;
            }
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "trusted keys: %s",
                       local_error->message);
          return NULL;
        }
    }

  if (tessera_trusted_keys_get_count (keys) == 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "no trusted public key for offline license files: configure trusted-keys "
                   "in [%s] (the issuer's public key files or folders, separated by ';')%s",
                   group,
                   value == NULL ? ", or install the keys in " TESSERA_SYSCONF_DIR
                                   "/keys or " TESSERA_DATA_DIR "/keys"
                                 : "");
      return NULL;
    }
  return g_steal_pointer (&keys);
}

static gpointer
offline_create (TesseraBackendConfig *config, GError **error)
{
  const char *group = tessera_backend_config_get_group (config);
  if (!tessera_backend_config_check_keys (config, known_keys, error))
    return NULL;

  g_autoptr (GError) local_error = NULL;
  gint64 tolerance = tessera_backend_config_get_int (config, "clock-tolerance",
                                                     DEFAULT_CLOCK_TOLERANCE, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] clock-tolerance: %" G_GINT64_FORMAT " is not between 0 and %d seconds",
                   group, tolerance, MAX_CLOCK_TOLERANCE);
      return NULL;
    }

  g_autofree char *license_dir
      = tessera_backend_config_dup_path (config, "license-dir", DEFAULT_LICENSE_DIR, error);
  if (license_dir == NULL)
    return NULL;
  g_autofree char *state_dir
      = tessera_backend_config_dup_path (config, "state-dir", NULL, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (state_dir == NULL)
    state_dir = g_build_filename (g_get_user_state_dir (), "tessera", NULL);
  g_autofree char *lock_dir
      = tessera_backend_config_dup_path (config, "lock-dir", NULL, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (lock_dir == NULL)
    lock_dir = g_build_filename (state_dir, OFFLINE_LOCK_DIR_NAME, NULL);

  TesseraTrustedKeys *keys = load_trusted_keys (config, error);
  if (keys == NULL)
    return NULL;

  Offline *self = g_new0 (Offline, 1);
  g_mutex_init (&self->lock);
  self->license_dir = g_steal_pointer (&license_dir);
  self->lock_dir = g_steal_pointer (&lock_dir);
  self->keys = keys;
  self->clock = offline_clock_new (state_dir, tolerance);
  self->products = tessera_backend_config_dup_products (config);
  return self;
}

static void
offline_destroy (gpointer instance)
{
  Offline *self = instance;
  g_free (self->license_dir);
  g_free (self->lock_dir);
  tessera_trusted_keys_unref (self->keys);
  offline_clock_free (self->clock);
  g_clear_pointer (&self->fp, tessera_fingerprint_unref);
  g_strfreev (self->products);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* ---- the machine ID ---- */

/* The core fingerprint, on purpose with no override of any kind: a machine
 * ID that configuration or the environment could set would let any file
 * run anywhere. */
TesseraFingerprint *
offline_dup_fingerprint (Offline *self, GError **error)
{
  g_mutex_lock (&self->lock);
  if (self->fp == NULL)
    self->fp = tessera_fingerprint_new (error);
  TesseraFingerprint *fp = self->fp ? tessera_fingerprint_ref (self->fp) : NULL;
  g_mutex_unlock (&self->lock);
  return fp;
}

char *
offline_dup_machine_id (Offline *self, GError **error)
{
  g_autoptr (TesseraFingerprint) fp = offline_dup_fingerprint (self, error);
  return fp ? g_strdup (tessera_fingerprint_get_id (fp)) : NULL;
}

static char *
offline_fingerprint (gpointer instance, GError **error)
{
  return offline_dup_machine_id (instance, error);
}

/* ---- checking one file ---- */

/* Prefixes @src's message with the file and moves it to @error. */
static void
take_error (GError **error, GError *src, const char *path)
{
  g_set_error (error, src->domain, src->code, "%s: %s", path, src->message);
  g_error_free (src);
}

/* Verifies an opened file and checks it for @product on @machine_id at
 * @now, in the order that gives the most useful answer: the bytes, the name
 * against the content, product and machine, the clock, then the validity. */
gboolean
offline_check_candidate (Offline *self, OfflineCandidate *cand, const char *product,
                         TesseraFingerprint *fp, gint64 now, OfflineRank *rank, GError **error)
{
  const char *machine_id = tessera_fingerprint_get_id (fp);
  GError *local_error = NULL;
  if (!offline_candidate_verify (cand, self->keys, rank, error))
    return FALSE;

  TesseraLicfile *file = cand->file;
  const char *file_product = tessera_licfile_get_product (file);
  const char *file_machine = tessera_licfile_get_machine_id (file);
  if (!offline_name_matches (cand->name, file_product, file_machine))
    {
      *rank = OFFLINE_RANK_RENAMED;
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "%s: the license file was renamed: it holds a %s license for machine %s, so "
                   "its name must start with %s_%s (this machine's ID is %s); a license file "
                   "only works under its own name, on the machine it was issued for",
                   cand->path, file_product, file_machine, file_product, file_machine, machine_id);
      return FALSE;
    }
  /* Product and machine only: at its issue time a file is always within
   * its validity. */
  if (!tessera_licfile_check_fingerprint (file, product, fp, tessera_licfile_get_issued_at (file),
                                          &local_error))
    {
      *rank = OFFLINE_RANK_MISMATCH;
      take_error (error, local_error, cand->path);
      return FALSE;
    }
  if (!offline_clock_check (self->clock, now, cand->fd_stat.ctime_sec, &local_error))
    {
      *rank = OFFLINE_RANK_CLOCK;
      take_error (error, local_error, cand->path);
      return FALSE;
    }
  if (!tessera_licfile_check (file, NULL, NULL, now, &local_error))
    {
      *rank = OFFLINE_RANK_TIME;
      take_error (error, local_error, cand->path);
      return FALSE;
    }
  return TRUE;
}

/* ---- choosing a file ---- */

/* The most relevant refusal among several files. */
typedef struct
{
  OfflineRank rank;
  GError *error;
  guint refused;
} Refusals;

static void
refusals_add (Refusals *r, OfflineRank rank, GError *error)
{
  r->refused++;
  if (r->error == NULL || rank < r->rank)
    {
      g_clear_error (&r->error);
      r->error = error;
      r->rank = rank;
    }
  else
    g_error_free (error);
}

static void
refusals_propagate (Refusals *r, GError **error)
{
  if (r->refused > 1)
    g_prefix_error (&r->error,
                    "%u license files for this machine were refused; the closest: ", r->refused);
  g_propagate_error (error, g_steal_pointer (&r->error));
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* What a folder without a usable name holds instead, for the message. */
static char *
describe_others (GPtrArray *other_machines, GPtrArray *other_products, const char *product)
{
  GString *out = g_string_new (NULL);
  if (other_machines->len > 0)
    {
      g_autofree char *names = offline_join_names (other_machines);
      g_string_append_printf (out,
                              " (the folder holds %s license files for other machine IDs: %s; "
                              "a license file only works on the machine it was issued for)",
                              product, names);
    }
  if (other_products->len > 0)
    {
      g_autofree char *names = offline_join_names (other_products);
      g_string_append_printf (out, " (the folder holds %s, for other products than %s)", names,
                              product);
    }
  return g_string_free (out, FALSE);
}

/* A file named for another machine ID that holds a license with component
 * digests may still be for this machine: a replaced network card changes
 * the ID (so the name the file was issued under) but not the machine. Each
 * such file is opened without its lock (it may be another session's) and
 * verified; one that matches by its policy joins @names, one whose policy
 * refuses this machine is kept in @mismatches, for the message. Files
 * that bind the machine ID only stay unopened, as before. */
static void
add_tolerant_names (Offline *self, DIR *dir, GPtrArray *other_machines, const char *product,
                    TesseraFingerprint *fp, GPtrArray *names, Refusals *mismatches)
{
  for (guint i = 0; i < other_machines->len; i++)
    {
      const char *name = other_machines->pdata[i];
      g_autofree char *path = g_build_filename (self->license_dir, name, NULL);
      OfflineRank rank = OFFLINE_RANK_NONE;
      g_autoptr (OfflineCandidate) cand
          = offline_candidate_open_unlocked (dirfd (dir), name, path, &rank, NULL);
      if (cand == NULL || !offline_candidate_verify (cand, self->keys, &rank, NULL)
          || tessera_licfile_get_match_policy (cand->file) == NULL
          || !g_str_equal (tessera_licfile_get_product (cand->file), product))
        continue;
      GError *local_error = NULL;
      if (tessera_licfile_check_fingerprint (
              cand->file, product, fp, tessera_licfile_get_issued_at (cand->file), &local_error))
        g_ptr_array_add (names, g_strdup (name));
      else
        {
          g_prefix_error (&local_error, "%s: ", path);
          refusals_add (mismatches, OFFLINE_RANK_MISMATCH, local_error);
        }
    }
}

/* Tries @names in order: the first valid, free one is returned locked.
 * Refused files go to @refusals, busy ones to @busy. FALSE (and @error)
 * only when a valid file cannot be counted: fail safe, grant nothing. */
static gboolean
try_names (Offline *self, DIR *dir, GPtrArray *names, const char *product, TesseraFingerprint *fp,
           gint64 now, GCancellable *cancellable, Refusals *refusals, OfflineBusy *busy,
           OfflineCandidate **chosen, GError **error)
{
  for (guint i = 0; i < names->len && *chosen == NULL; i++)
    {
      if (cancellable != NULL
          && _tessera_gio ()->cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      const char *name = names->pdata[i];
      g_autofree char *path = g_build_filename (self->license_dir, name, NULL);
      GError *local_error = NULL;
      OfflineRank rank = OFFLINE_RANK_NONE;
      g_autoptr (OfflineCandidate) cand
          = offline_candidate_open (dirfd (dir), name, path, &rank, &local_error);
      if (cand == NULL
          || !offline_check_candidate (self, cand, product, fp, now, &rank, &local_error))
        refusals_add (refusals, rank, local_error);
      else if (!cand->busy && !offline_candidate_lock_license (cand, self->lock_dir, error))
        return FALSE;
      else if (cand->busy) /* valid, but another session holds the file or its license */
        offline_busy_add (busy, tessera_licfile_get_license_id (cand->file), name);
      else
        *chosen = g_steal_pointer (&cand);
    }
  return TRUE;
}

static OfflineCandidate *
choose_from_folder (Offline *self, const char *product, TesseraFingerprint *fp, gint64 now,
                    GCancellable *cancellable, GError **error)
{
  const char *machine_id = tessera_fingerprint_get_id (fp);
  g_autofree char *expected = tessera_licfile_file_name (product, machine_id, 0);
  DIR *dir = offline_open_license_dir (self->license_dir);
  if (dir == NULL)
    {
      int errsv = errno;
      if (errsv == ELOOP)
        offline_set_license_dir_link_error (self->license_dir, error);
      else if (errsv == ENOENT || errsv == ENOTDIR)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                     "the offline license folder %s %s: create it and put the license file "
                     "%s there; your administrator issues it for this machine's ID, %s",
                     self->license_dir, errsv == ENOENT ? "does not exist" : "is not a folder",
                     expected, machine_id);
      else
        g_set_error (error, TESSERA_ERROR,
                     errsv == EACCES || errsv == EPERM ? TESSERA_ERROR_PERMISSION_DENIED
                                                       : TESSERA_ERROR_FAILED,
                     "cannot read the offline license folder %s: %s", self->license_dir,
                     g_strerror (errsv));
      return NULL;
    }

  /* Only names are looked at here: files for other machines or products
   * are never opened. */
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) other_machines = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) other_products = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *product_prefix = g_strconcat (product, "_", NULL);
  g_autofree char *machine_part = g_strconcat ("_", machine_id, NULL);
  struct dirent *entry;
  errno = 0;
  while ((entry = readdir (dir)) != NULL)
    {
      const char *name = entry->d_name;
      if (offline_name_matches (name, product, machine_id))
        g_ptr_array_add (names, g_strdup (name));
      else if (!g_str_has_suffix (name, ".lic"))
        continue;
      else if (g_str_has_prefix (name, product_prefix))
        g_ptr_array_add (other_machines, g_strdup (name));
      else if (strstr (name, machine_part) != NULL)
        g_ptr_array_add (other_products, g_strdup (name));
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
  g_ptr_array_sort (other_machines, compare_names);

  /* This machine's own names first: a file issued for this very ID is the
   * better choice, and when one is granted the files for other machine IDs
   * are never opened (verifying each would cost one signature check per
   * file in a shared folder). */
  Refusals refusals = { OFFLINE_RANK_NONE, NULL, 0 };
  g_autoptr (OfflineBusy) busy = offline_busy_new ();
  OfflineCandidate *chosen = NULL;
  gboolean ok = try_names (self, dir, names, product, fp, now, cancellable, &refusals, busy,
                           &chosen, error);
  if (ok && chosen == NULL)
    {
      g_autoptr (GPtrArray) tolerant = g_ptr_array_new_with_free_func (g_free);
      Refusals mismatches = { OFFLINE_RANK_NONE, NULL, 0 };
      add_tolerant_names (self, dir, other_machines, product, fp, tolerant, &mismatches);
      if (names->len == 0 && tolerant->len == 0)
        {
          closedir (dir);
          g_clear_error (&refusals.error);
          if (mismatches.error != NULL)
            {
              g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH,
                           "no offline %s license file in %s is for this machine (ID %s): %s",
                           product, self->license_dir, machine_id, mismatches.error->message);
              g_clear_error (&mismatches.error);
              return NULL;
            }
          g_ptr_array_sort (other_products, compare_names);
          g_autofree char *others = describe_others (other_machines, other_products, product);
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                       "no offline %s license file for this machine in %s: put the file %s "
                       "there; your administrator issues it for this machine's ID, %s%s",
                       product, self->license_dir, expected, machine_id, others);
          return NULL;
        }
      g_clear_error (&mismatches.error);
      ok = try_names (self, dir, tolerant, product, fp, now, cancellable, &refusals, busy, &chosen,
                      error);
    }
  closedir (dir);
  if (!ok)
    {
      g_clear_error (&refusals.error);
      return NULL;
    }

  if (chosen != NULL)
    {
      g_clear_error (&refusals.error);
      return chosen;
    }
  if (offline_busy_get_count (busy) > 0)
    {
      g_clear_error (&refusals.error);
      offline_busy_set_error (busy, product, machine_id, error);
      return NULL;
    }
  refusals_propagate (&refusals, error);
  return NULL;
}

/* The file an activation option names: the same checks, and its name must
 * still agree with its content, but it may be for another machine or
 * product, which is then said (MACHINE_MISMATCH, PRODUCT_MISMATCH). */
static OfflineCandidate *
choose_file (Offline *self, const char *path, const char *product, TesseraFingerprint *fp,
             gint64 now, GError **error)
{
  const char *machine_id = tessera_fingerprint_get_id (fp);
  if (!g_path_is_absolute (path))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "option %s: '%s' is not an absolute path", OFFLINE_OPTION_FILE, path);
      return NULL;
    }
  OfflineRank rank = OFFLINE_RANK_NONE;
  g_autoptr (OfflineCandidate) cand = offline_candidate_open (AT_FDCWD, path, path, &rank, error);
  if (cand == NULL)
    return NULL;
  if (!offline_check_candidate (self, cand, product, fp, now, &rank, error))
    return NULL;
  if (!cand->busy && !offline_candidate_lock_license (cand, self->lock_dir, error))
    return NULL;
  if (cand->busy)
    {
      g_autoptr (OfflineBusy) busy = offline_busy_new ();
      offline_busy_add (busy, tessera_licfile_get_license_id (cand->file), path);
      offline_busy_set_error (busy, product, machine_id, error);
      return NULL;
    }
  return g_steal_pointer (&cand);
}

/* ---- sessions ---- */

static void
session_free (gpointer data)
{
  OfflineSession *s = data;
  offline_candidate_free (s->cand); /* unlocks both locks and closes if still open */
  g_free (s->product);
  g_clear_pointer (&s->fp, tessera_fingerprint_unref);
  g_mutex_clear (&s->lock);
  g_free (s);
}

static TesseraLicense *
offline_activate (gpointer instance, const char *product, TesseraActivateOptions *options,
                  GCancellable *cancellable, GError **error)
{
  Offline *self = instance;
  g_autoptr (TesseraFingerprint) fp = offline_dup_fingerprint (self, error);
  if (fp == NULL)
    return NULL;

  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  offline_clock_load (self->clock);
  const char *file_option
      = options ? tessera_activate_options_get (options, OFFLINE_OPTION_FILE) : NULL;
  g_autoptr (OfflineCandidate) cand
      = file_option ? choose_file (self, file_option, product, fp, now, error)
                    : choose_from_folder (self, product, fp, now, cancellable, error);
  if (cand == NULL)
    return NULL;

  /* What later validations compare the path against. The same inode must
   * be there now, or the file was swapped while it was being checked. */
  OfflineStat path_stat;
  int errsv = offline_stat_path (cand->path, &path_stat);
  if (errsv != 0 || !offline_stat_same_inode (&path_stat, &cand->fd_stat))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "%s was replaced or removed while it was being activated", cand->path);
      return NULL;
    }
  offline_clock_record (self->clock, now);

  TesseraLicfile *file = cand->file;
  TesseraLicense *license = tessera_license_new (product, TESSERA_LICENSE_KIND_NODE_LOCKED,
                                                 tessera_licfile_get_license_id (file));
  tessera_license_set_machine_id (license, tessera_licfile_get_machine_id (file));
  tessera_license_set_org (license, tessera_licfile_get_org (file));
  tessera_license_set_issued_at (license, tessera_licfile_get_issued_at (file));
  tessera_license_set_expires_at (license, tessera_licfile_get_expires_at (file));
  tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_OFFLINE);
  const char *const *entitlements = tessera_licfile_get_entitlements (file);
  for (guint i = 0; entitlements && entitlements[i]; i++)
    tessera_license_add_feature (license, entitlements[i]);
  g_autofree char *subscription_end
      = offline_format_time (tessera_licfile_get_subscription_end (file));
  tessera_license_set_attribute (license, "offline.file", cand->path);
  tessera_license_set_attribute (license, "offline.key-id", tessera_licfile_get_key_id (file));
  tessera_license_set_attribute (license, "offline.subscription-end", subscription_end);
  offline_set_match_attributes (license, file, fp);

  OfflineSession *s = g_new0 (OfflineSession, 1);
  s->kind = OFFLINE_DATA_SESSION;
  g_mutex_init (&s->lock);
  s->cand = g_steal_pointer (&cand);
  s->path_stat = path_stat;
  s->racy = path_stat.ctime_sec >= now - RACY_WINDOW;
  s->product = g_strdup (product);
  s->fp = g_steal_pointer (&fp);
  tessera_license_set_backend_data (license, s, session_free);
  return license;
}

/* The file under the lock changed (or might have): read it again from the
 * fd. Other bytes are a modification, even if they are a valid license: the
 * session was granted for the old ones. The same bytes are verified again
 * if @verify (the file's metadata changed), or else taken as they are. */
static gboolean
session_reread_locked (Offline *self, OfflineSession *s, gboolean verify, GError **error)
{
  if (!verify && offline_fd_has_bytes (s->cand->fd, s->cand->contents))
    return TRUE;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) now_bytes = offline_read_fd (s->cand->fd, s->cand->path, error);
  if (now_bytes == NULL)
    return FALSE;
  gboolean same = g_bytes_equal (now_bytes, s->cand->contents);
  if (same && !verify)
    return TRUE;
  g_autoptr (TesseraLicfile) again = tessera_licfile_verify (now_bytes, self->keys, &local_error);
  if (!same)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "%s was modified after its license was activated (%s): the license is no "
                   "longer valid",
                   s->cand->path,
                   again ? "it now holds another license file" : local_error->message);
      return FALSE;
    }
  if (again == NULL)
    {
      g_set_error (error, local_error->domain, local_error->code, "%s: %s", s->cand->path,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
session_validate_locked (Offline *self, OfflineSession *s, GError **error)
{
  OfflineCandidate *cand = s->cand;
  if (cand->fd < 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_RELEASED,
                   "the offline license %s was released", cand->path);
      return FALSE;
    }
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  /* The path must still lead to the locked inode... */
  OfflineStat path_stat, fd_stat;
  int errsv = offline_stat_path (cand->path, &path_stat);
  if (errsv == ENOENT || errsv == ENOTDIR)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "%s was removed or moved while its license was in use: the session ends; "
                   "put the file back and activate again",
                   cand->path);
      return FALSE;
    }
  if (errsv != 0)
    {
      g_set_error (error, TESSERA_ERROR,
                   errsv == EACCES ? TESSERA_ERROR_PERMISSION_DENIED : TESSERA_ERROR_FAILED,
                   "cannot check the offline license file %s: %s", cand->path, g_strerror (errsv));
      return FALSE;
    }
  if (!offline_stat_same_inode (&path_stat, &s->path_stat))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "%s was replaced by another file while its license was in use: the "
                   "license is no longer valid",
                   cand->path);
      return FALSE;
    }
  /* The path leads to the locked inode (activation checked that the fd's
   * inode and the path's were one), so what statx shows for the path is
   * what it would show for the fd: one call serves both snapshots. */
  fd_stat = path_stat;

  /* ...and, unless nothing about it changed, hold the same bytes, which
   * verify again. Unchanged: the signature checked at activation stands. */
  if (!offline_stat_equal (&fd_stat, &cand->fd_stat)
      || !offline_stat_equal (&path_stat, &s->path_stat))
    {
      if (!session_reread_locked (self, s, TRUE, error))
        return FALSE;
      cand->fd_stat = fd_stat;
      s->path_stat = path_stat;
    }
  else if (s->racy && !session_reread_locked (self, s, FALSE, error))
    return FALSE;
  /* Once the last change is older than the window, every later change
   * moves the ctime and the snapshots alone will tell. */
  s->racy = fd_stat.ctime_sec >= now - RACY_WINDOW;

  /* The cheap checks, every time. */
  GError *local_error = NULL;
  TesseraLicfile *file = cand->file;
  if (!tessera_licfile_check_fingerprint (file, s->product, s->fp,
                                          tessera_licfile_get_issued_at (file), &local_error)
      || !offline_clock_check (self->clock, now, fd_stat.ctime_sec, &local_error)
      || !tessera_licfile_check (file, NULL, NULL, now, &local_error))
    {
      take_error (error, local_error, cand->path);
      return FALSE;
    }
  offline_clock_record (self->clock, now);
  return TRUE;
}

static gboolean
offline_validate (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                  GError **error)
{
  OfflineSession *s = tessera_license_get_backend_data (license);
  if (s->kind == OFFLINE_DATA_STORED)
    return offline_stored_validate (instance, license, error);
  g_mutex_lock (&s->lock);
  gboolean ok = session_validate_locked (instance, s, error);
  g_mutex_unlock (&s->lock);
  return ok;
}

/* Unlocks the license and the file: another session can take either at once. */
static gboolean
offline_release (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                 GError **error)
{
  OfflineSession *s = tessera_license_get_backend_data (license);
  if (s->kind == OFFLINE_DATA_STORED)
    return TRUE; /* a listed entry holds nothing to give back */
  g_mutex_lock (&s->lock);
  offline_candidate_close (s->cand);
  g_mutex_unlock (&s->lock);
  return TRUE;
}

TESSERA_BACKEND_DEFINE (offline, "Signed offline license files bound to this machine",
                        .create = offline_create, .destroy = offline_destroy,
                        .activate = offline_activate, .validate = offline_validate,
                        .release = offline_release, .fingerprint = offline_fingerprint,
                        .list = offline_list, .install = offline_install,
                        .install_with_flags = offline_install_with_flags)
