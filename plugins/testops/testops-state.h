/* Records of persistent testops sessions (TESSERA_OPTION_PERSIST): one
 * key file per session in the provider's state folder, so that a later
 * process lists, validates and releases the session. Private to
 * plugins/testops; the format is in docs/testops.md. A record never holds
 * the API key.
 *
 * Threading: plain file I/O in the calling thread; records are written
 * atomically (write to a temporary file, then rename) so a concurrent reader
 * sees a whole record or none. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *path; /* the record's file (set by write and read) */
  char *server;
  char *org;
  char *product;
  char *session_id;
  char *license_id;
  char *kind; /* "floating" or "node-locked" */
  char *machine_id;
  gint64 issued_at;
  gint64 expires_at; /* subscription end, 0 if none */
  gint64 lease_seconds;
  gint64 lease_expires_at; /* unix time, as last heard from the server */
  char **features;         /* NULL-terminated, may be NULL */
  /* Unix time the last signed answer (activation, heartbeat, validation)
   * was asked for: the grace counts from it. A record from before this key
   * reads lease_expires_at - lease_seconds (the activation). */
  gint64 last_answer_at;
  /* The server ended the session: its error nick and message, and when
   * this client learned it; NULL/0 while it is alive. Kept so that every
   * later status or validate says why, until an activation replaces it. */
  char *ended_code;
  char *ended_reason;
  gint64 ended_at;
  /* The server's signed answers as received (JSON) and the nonces they were
   * signed over: the activation's, and the last believed heartbeat's (NULL
   * if none). A later process believes only what these prove: the fields
   * above are a cache a user can edit (docs/testops.md, "Kept sessions"). */
  char *activate_answer;
  char *activate_nonce;
  char *heartbeat_answer;
  char *heartbeat_nonce;
} TestopsRecord;

void testops_record_free (TestopsRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestopsRecord, testops_record_free)

/**
 * testops_state_check_dir:
 * @create: create the folder (mode 0700) if it is missing, and require
 *   write access
 * @exists: (out) (optional): whether the folder exists (without @create a
 *   missing folder is no error: there are no records)
 *
 * Refuses a folder this user does not own or that others may write to
 * (anyone who can plant a record would direct this user's API key to their
 * server), or cannot read.
 *
 * Returns: TRUE, or FALSE with TESSERA_ERROR_PERMISSION_DENIED (or
 *   TESSERA_ERROR_CONFIG for a path that is no folder).
 */
gboolean testops_state_check_dir (const char *dir, gboolean create, gboolean *exists,
                                  GError **error);

/**
 * testops_state_write:
 *
 * Writes @record to @dir/testops-SESSION.session (mode 0600) and sets
 * record->path. Returns: TRUE, or FALSE with TESSERA_ERROR_PERMISSION_DENIED
 * or TESSERA_ERROR_FAILED.
 */
gboolean testops_state_write (const char *dir, TestopsRecord *record, GError **error);

/**
 * testops_state_list:
 *
 * Returns: (transfer full) (element-type TestopsRecord): the readable records
 *   in @dir (records that do not parse are skipped, with a debug message), or
 *   NULL with @error set (as testops_state_check_dir()).
 */
GPtrArray *testops_state_list (const char *dir, GError **error);

/* Rewrites the record at @path (atomically, mode 0600) to name @server, the
 * one now in use. A record already gone is no error (its session ended).
 * Returns FALSE with TESSERA_ERROR_PERMISSION_DENIED or _FAILED. */
gboolean testops_state_set_server (const char *path, const char *server, GError **error);

/* Records, in the record at @path, the signed heartbeat answer @answer
 * (its JSON, signed over @nonce) asked for at @answered_at (unix time) with
 * a lease of @lease_seconds. A record already gone is no error. Returns
 * FALSE with TESSERA_ERROR_PERMISSION_DENIED or _FAILED. */
gboolean testops_state_set_answer (const char *path, gint64 answered_at, gint64 lease_seconds,
                                   const char *answer, const char *nonce, GError **error);

/* Records in the record at @path that the server ended the session with
 * @reason (a TESSERA_ERROR), learned at @at (unix time); an earlier reason
 * stays. A record already gone is no error. Errors as
 * testops_state_set_answer(). */
gboolean testops_state_set_ended (const char *path, const GError *reason, gint64 at,
                                  GError **error);

/* Removes a record; a record already gone is no error. Returns FALSE with
 * TESSERA_ERROR_PERMISSION_DENIED or _FAILED. */
gboolean testops_state_remove (const char *path, GError **error);

G_END_DECLS
