/* Persistent session records (testops-state.h). */
#include "testops-state.h"

#include <tessera/tessera.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GROUP "session"
#define PREFIX "testops-"
#define SUFFIX ".session"

void
testops_record_free (TestopsRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->path);
  g_free (record->server);
  g_free (record->org);
  g_free (record->product);
  g_free (record->session_id);
  g_free (record->license_id);
  g_free (record->kind);
  g_free (record->machine_id);
  g_strfreev (record->features);
  g_free (record->ended_code);
  g_free (record->ended_reason);
  g_free (record->activate_answer);
  g_free (record->activate_nonce);
  g_free (record->heartbeat_answer);
  g_free (record->heartbeat_nonce);
  g_free (record);
}

static TesseraError
code_for_errno (int err)
{
  return err == EACCES || err == EPERM || err == EROFS ? TESSERA_ERROR_PERMISSION_DENIED
                                                       : TESSERA_ERROR_FAILED;
}

gboolean
testops_state_check_dir (const char *dir, gboolean create, gboolean *exists, GError **error)
{
  if (exists != NULL)
    *exists = FALSE;
  GStatBuf st;
  if (g_lstat (dir, &st) != 0)
    {
      int err = errno;
      if (err == ENOENT && !create)
        return TRUE;
      if (err != ENOENT || g_mkdir_with_parents (dir, 0700) != 0 || g_lstat (dir, &st) != 0)
        {
          err = err == ENOENT ? errno : err;
          g_set_error (error, TESSERA_ERROR, code_for_errno (err),
                       "cannot use the session state folder %s: %s (set state-dir in "
                       "[provider:testops] to a folder of yours)",
                       dir, g_strerror (err));
          return FALSE;
        }
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "the session state folder %s is not a folder (state-dir in "
                   "[provider:testops])",
                   dir);
      return FALSE;
    }
  /* Records name the server the API key is sent to: only this user may
   * write them. */
  if (st.st_uid != geteuid ())
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "the session state folder %s belongs to user %u, not to you (user %u): its "
                   "records are not trusted; set state-dir in [provider:testops] to a folder "
                   "of yours",
                   dir, (guint) st.st_uid, (guint) geteuid ());
      return FALSE;
    }
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "the session state folder %s can be written by other users (mode %03o): "
                   "its records are not trusted; chmod go-w it",
                   dir, (guint) (st.st_mode & 0777));
      return FALSE;
    }
  if (access (dir, create ? (R_OK | W_OK | X_OK) : (R_OK | X_OK)) != 0)
    {
      int err = errno;
      g_set_error (error, TESSERA_ERROR, code_for_errno (err),
                   "cannot %s the session state folder %s: %s", create ? "write to" : "read", dir,
                   g_strerror (err));
      return FALSE;
    }
  if (exists != NULL)
    *exists = TRUE;
  return TRUE;
}

/* A session ID the server made becomes a file name: letters, digits, '-'
 * and '_' only, so it can never leave the folder. */
static gboolean
session_id_is_safe (const char *id)
{
  gsize len = strlen (id);
  if (len == 0 || len > 128)
    return FALSE;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

/* Writes @kf to @path (0600, atomically); @what starts the message. */
static gboolean
write_record (const char *path, GKeyFile *kf, const char *what, GError **error)
{
  gsize len = 0;
  g_autofree char *data = g_key_file_to_data (kf, &len, NULL);
  g_autoptr (GError) local_error = NULL;
  if (!g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                 &local_error))
    {
      g_set_error (error, TESSERA_ERROR,
                   g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_ACCES)
                           || g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_PERM)
                       ? TESSERA_ERROR_PERMISSION_DENIED
                       : TESSERA_ERROR_FAILED,
                   "%s: %s", what, local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
testops_state_write (const char *dir, TestopsRecord *r, GError **error)
{
  if (!session_id_is_safe (r->session_id))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "license server %s: session ID '%s' cannot name a record", r->server,
                   r->session_id);
      return FALSE;
    }
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_key_file_set_string (kf, GROUP, "server", r->server);
  if (r->org != NULL)
    g_key_file_set_string (kf, GROUP, "org", r->org);
  g_key_file_set_string (kf, GROUP, "product", r->product);
  g_key_file_set_string (kf, GROUP, "session-id", r->session_id);
  g_key_file_set_string (kf, GROUP, "license-id", r->license_id);
  g_key_file_set_string (kf, GROUP, "kind", r->kind);
  g_key_file_set_string (kf, GROUP, "machine-id", r->machine_id);
  g_key_file_set_int64 (kf, GROUP, "issued-at", r->issued_at);
  g_key_file_set_int64 (kf, GROUP, "expires-at", r->expires_at);
  g_key_file_set_int64 (kf, GROUP, "lease-seconds", r->lease_seconds);
  g_key_file_set_int64 (kf, GROUP, "lease-expires-at", r->lease_expires_at);
  g_key_file_set_int64 (kf, GROUP, "last-answer-at", r->last_answer_at);
  if (r->features != NULL && r->features[0] != NULL)
    g_key_file_set_string_list (kf, GROUP, "features", (const char *const *) r->features,
                                g_strv_length (r->features));
  if (r->activate_answer != NULL)
    {
      g_key_file_set_string (kf, GROUP, "activate-answer", r->activate_answer);
      g_key_file_set_string (kf, GROUP, "activate-nonce", r->activate_nonce);
    }
  g_autofree char *path = g_strconcat (dir, G_DIR_SEPARATOR_S PREFIX, r->session_id, SUFFIX, NULL);
  if (!write_record (path, kf, "cannot record the session", error))
    return FALSE;
  g_free (r->path);
  r->path = g_steal_pointer (&path);
  return TRUE;
}

static TestopsRecord *
read_record (const char *path)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &error))
    {
      g_debug ("testops: skipping session record %s: %s", path, error->message);
      return NULL;
    }
  g_autoptr (TestopsRecord) r = g_new0 (TestopsRecord, 1);
  r->path = g_strdup (path);
  r->server = g_key_file_get_string (kf, GROUP, "server", NULL);
  r->org = g_key_file_get_string (kf, GROUP, "org", NULL);
  r->product = g_key_file_get_string (kf, GROUP, "product", NULL);
  r->session_id = g_key_file_get_string (kf, GROUP, "session-id", NULL);
  r->license_id = g_key_file_get_string (kf, GROUP, "license-id", NULL);
  r->kind = g_key_file_get_string (kf, GROUP, "kind", NULL);
  r->machine_id = g_key_file_get_string (kf, GROUP, "machine-id", NULL);
  r->issued_at = g_key_file_get_int64 (kf, GROUP, "issued-at", NULL);
  r->expires_at = g_key_file_get_int64 (kf, GROUP, "expires-at", NULL);
  r->lease_seconds = g_key_file_get_int64 (kf, GROUP, "lease-seconds", NULL);
  r->lease_expires_at = g_key_file_get_int64 (kf, GROUP, "lease-expires-at", NULL);
  r->features = g_key_file_get_string_list (kf, GROUP, "features", NULL, NULL);
  r->ended_code = g_key_file_get_string (kf, GROUP, "ended-code", NULL);
  r->ended_reason = g_key_file_get_string (kf, GROUP, "ended-reason", NULL);
  r->ended_at = g_key_file_get_int64 (kf, GROUP, "ended-at", NULL);
  r->activate_answer = g_key_file_get_string (kf, GROUP, "activate-answer", NULL);
  r->activate_nonce = g_key_file_get_string (kf, GROUP, "activate-nonce", NULL);
  r->heartbeat_answer = g_key_file_get_string (kf, GROUP, "heartbeat-answer", NULL);
  r->heartbeat_nonce = g_key_file_get_string (kf, GROUP, "heartbeat-nonce", NULL);
  if (r->ended_code != NULL && r->ended_reason == NULL)
    r->ended_reason = g_strdup ("the license server ended the session");
  if (r->server == NULL || r->product == NULL || r->session_id == NULL || r->license_id == NULL
      || r->kind == NULL || r->machine_id == NULL || r->lease_seconds <= 0)
    {
      g_debug ("testops: skipping incomplete session record %s", path);
      return NULL;
    }
  /* Older records lack last-answer-at: the last answer was the activation.
   * The keys are the user's to edit: a lease end too far back for the
   * subtraction saturates, never wraps. */
  if (g_key_file_has_key (kf, GROUP, "last-answer-at", NULL))
    r->last_answer_at = g_key_file_get_int64 (kf, GROUP, "last-answer-at", NULL);
  else
    r->last_answer_at = r->lease_expires_at >= G_MININT64 + r->lease_seconds
                            ? r->lease_expires_at - r->lease_seconds
                            : G_MININT64;
  return g_steal_pointer (&r);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

GPtrArray *
testops_state_list (const char *dir, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) testops_record_free);
  gboolean exists = FALSE;
  if (!testops_state_check_dir (dir, FALSE, &exists, error))
    return NULL;
  if (!exists)
    return g_steal_pointer (&out);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &local_error);
  if (d == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "cannot read the session state folder %s: %s", dir, local_error->message);
      return NULL;
    }
  /* Sorted, so that listing is stable between runs. */
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (const char *name = g_dir_read_name (d); name != NULL; name = g_dir_read_name (d))
    if (g_str_has_prefix (name, PREFIX) && g_str_has_suffix (name, SUFFIX))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      TestopsRecord *r = read_record (path);
      if (r != NULL)
        g_ptr_array_add (out, r);
    }
  return g_steal_pointer (&out);
}

/* Loads the record at @path, lets @apply change it and writes it back
 * (atomically, 0600). A record already gone is no error: its session was
 * released or forgotten meanwhile. */
static gboolean
update_record (const char *path, void (*apply) (GKeyFile *kf, gconstpointer data),
               gconstpointer data, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_KEEP_COMMENTS, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "cannot update the session record %s: %s", path, local_error->message);
      return FALSE;
    }
  apply (kf, data);
  g_autofree char *what = g_strdup_printf ("cannot update the session record %s", path);
  return write_record (path, kf, what, error);
}

static void
apply_server (GKeyFile *kf, gconstpointer data)
{
  g_key_file_set_string (kf, GROUP, "server", data);
}

gboolean
testops_state_set_server (const char *path, const char *server, GError **error)
{
  return update_record (path, apply_server, server, error);
}

typedef struct
{
  gint64 at, lease;
  const char *answer, *nonce;
} Answer;

static void
apply_answer (GKeyFile *kf, gconstpointer data)
{
  const Answer *a = data;
  g_key_file_set_int64 (kf, GROUP, "last-answer-at", a->at);
  g_key_file_set_int64 (kf, GROUP, "lease-seconds", a->lease);
  g_key_file_set_int64 (kf, GROUP, "lease-expires-at", a->at + a->lease);
  g_key_file_set_string (kf, GROUP, "heartbeat-answer", a->answer);
  g_key_file_set_string (kf, GROUP, "heartbeat-nonce", a->nonce);
}

gboolean
testops_state_set_answer (const char *path, gint64 answered_at, gint64 lease_seconds,
                          const char *answer, const char *nonce, GError **error)
{
  Answer a = { answered_at, lease_seconds, answer, nonce };
  return update_record (path, apply_answer, &a, error);
}

typedef struct
{
  const GError *reason;
  gint64 at;
} Ended;

static void
apply_ended (GKeyFile *kf, gconstpointer data)
{
  const Ended *e = data;
  /* The first reason is the one that ended it. */
  if (g_key_file_has_key (kf, GROUP, "ended-code", NULL))
    return;
  const char *nick = tessera_error_to_nick (e->reason->code);
  g_key_file_set_string (kf, GROUP, "ended-code", nick != NULL ? nick : "terminated");
  g_key_file_set_string (kf, GROUP, "ended-reason", e->reason->message);
  g_key_file_set_int64 (kf, GROUP, "ended-at", e->at);
}

gboolean
testops_state_set_ended (const char *path, const GError *reason, gint64 at, GError **error)
{
  Ended e = { reason, at };
  return update_record (path, apply_ended, &e, error);
}

gboolean
testops_state_remove (const char *path, GError **error)
{
  if (g_unlink (path) == 0 || errno == ENOENT)
    return TRUE;
  int err = errno;
  g_set_error (error, TESSERA_ERROR, code_for_errno (err),
               "cannot remove the session record %s: %s", path, g_strerror (err));
  return FALSE;
}
