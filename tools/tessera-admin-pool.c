/* tessera-admin: sessions, machines, offline licenses and the audit log. */
#include "tessera-admin.h"
#include "tool-time.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OPEN(store)                                                                                \
  int open_rc_ = EXIT_IO;                                                                          \
  g_autoptr (TsStore) store = admin_open (FALSE, &open_rc_);                                       \
  if (store == NULL)                                                                               \
  return open_rc_

#define ORG_ENTRY                                                                                  \
  {                                                                                                \
    "org", 'o', 0, G_OPTION_ARG_FILENAME, &org, NULL, NULL                                         \
  }
#define POOL_ENTRY                                                                                 \
  {                                                                                                \
    "pool", 'p', 0, G_OPTION_ARG_FILENAME, &pool, NULL, NULL                                       \
  }

/* ---- sessions and machines ---- */

static int
cmd_sessions (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL;
  const GOptionEntry entries[] = { ORG_ENTRY, POOL_ENTRY, ADMIN_JSON_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID");
  OPEN (store);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) sessions
      = ts_store_list_sessions (store, NULL, org, pool, admin_now (), &error);
  if (sessions == NULL)
    return admin_fail_error (error);
  g_autoptr (AdminEmails) emails = admin_emails_new (store);
  AdminTable *t = admin_table_new ("sessions", "sjjxssstttt", "id", "id", "user_id", NULL,
                                   "user_email", NULL, "user", "user", "machine_id", "machine",
                                   "hostname", "host", "os", "os", "started_at", "started",
                                   "last_heartbeat", "last-heartbeat", "lease_expires_at",
                                   "lease-expires", "subscription_end", "subscription-end", NULL);
  for (guint i = 0; i < sessions->len; i++)
    {
      TsSession *s = g_ptr_array_index (sessions, i);
      admin_table_add (t, s->id, s->user_id, admin_emails_get (emails, s->user_id),
                       admin_emails_show (emails, s->user_id), s->machine_id, s->hostname, s->os,
                       s->started_at, s->last_heartbeat, s->lease_expires_at, s->subscription_end);
    }
  return admin_table_print (t);
}

static int
cmd_session_release (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL, *session = NULL;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    POOL_ENTRY,
    { "session", 's', 0, G_OPTION_ARG_FILENAME, &session, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID", session, "--session ID");
  OPEN (store);
  g_autoptr (GError) error = NULL;
  if (!ts_store_force_release (store, NULL, org, pool, session, admin_now (), &error))
    return admin_fail_error (error);
  return EXIT_OK;
}

static int
cmd_machines (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL;
  const GOptionEntry entries[] = { ORG_ENTRY, POOL_ENTRY, ADMIN_JSON_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID");
  OPEN (store);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) machines = ts_store_list_machines (store, NULL, org, pool, &error);
  if (machines == NULL)
    return admin_fail_error (error);
  if (!ts_store_fill_machine_changes (store, NULL, org, pool, machines, &error))
    return admin_fail_error (error);
  g_autoptr (AdminEmails) emails = admin_emails_new (store);
  AdminTable *t = admin_table_new ("machines", "sjjxsstts", "machine_id", "machine", "user_id",
                                   NULL, "user_email", NULL, "user", "user", "hostname", "host",
                                   "os", "os", "registered_at", "registered", "last_seen",
                                   "last-seen", "changes", "changes", NULL);
  for (guint i = 0; i < machines->len; i++)
    {
      TsMachine *m = g_ptr_array_index (machines, i);
      /* "DATE: nic (was ID), ..." newest first; "-" for none. */
      GString *changes = g_string_new (NULL);
      for (guint c = 0; c < m->changes->len; c++)
        {
          const TsMachineChange *ch = m->changes->pdata[c];
          g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (ch->at);
          g_autofree char *day = dt ? g_date_time_format (dt, "%F") : g_strdup ("?");
          g_string_append_printf (changes, "%s%s: %s%s%s%s (was %s)", c ? "; " : "", day,
                                  ch->changed, *ch->changed && *ch->unread ? "," : "",
                                  *ch->unread ? "unread " : "", ch->unread, ch->from);
        }
      if (changes->len == 0)
        g_string_append_c (changes, '-');
      admin_table_add (t, m->machine_id, m->user_id, admin_emails_get (emails, m->user_id),
                       admin_emails_show (emails, m->user_id), m->hostname, m->os, m->registered_at,
                       m->last_seen, changes->str);
      g_string_free (changes, TRUE);
    }
  return admin_table_print (t);
}

static int
cmd_machine_remove (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL, *machine = NULL;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    POOL_ENTRY,
    { "machine", 'm', 0, G_OPTION_ARG_FILENAME, &machine, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID", machine, "--machine M");
  OPEN (store);
  g_autoptr (GError) error = NULL;
  if (!ts_store_remove_machine (store, NULL, org, pool, machine, admin_now (), &error))
    return admin_fail_error (error);
  return EXIT_OK;
}

/* ---- offline licenses ---- */

static gboolean
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

/* A temporary file in @dir (*tmp: its path), or -1 with @error: proves @dir
 * writable before anything is recorded. */
static int
open_temporary (const char *dir, char **tmp, GError **error)
{
  *tmp = g_build_filename (dir, ".tessera-admin-XXXXXX.tmp", NULL);
  int fd = g_mkstemp_full (*tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                   "cannot create a file in %s: %s", dir, g_strerror (errsv));
      g_clear_pointer (tmp, g_free);
    }
  return fd;
}

/* Writes @o's file to the temporary file @fd/@tmp, then publishes it as
 * @target when not NULL (which must not exist), else as the first free
 * PRODUCT_MACHINEID[.N].lic in @dir; never replaces a file.
 * Returns: (transfer full): the path, or NULL with @error (@tmp removed). */
static char *
publish_license (int fd, const char *tmp, const char *dir, const char *target_path,
                 const TsOffline *o, const char *machine_id, GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (o->file, &len);
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
  if (target_path != NULL)
    {
      if (link (tmp, target_path) == 0)
        {
          g_unlink (tmp);
          return g_strdup (target_path);
        }
      errsv = errno;
      g_unlink (tmp);
      if (errsv == EEXIST)
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                     "%s already exists: it is not overwritten (name another file, or a "
                     "directory)",
                     target_path);
      else
        g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot create %s: %s",
                     target_path, g_strerror (errsv));
      return NULL;
    }
  /* The product is what the store's file name has before _MACHINEID.lic. */
  g_autofree char *suffix = g_strdup_printf ("_%s.lic", machine_id);
  g_autofree char *product = NULL;
  if (o->file_name != NULL && g_str_has_suffix (o->file_name, suffix))
    product = g_strndup (o->file_name, strlen (o->file_name) - strlen (suffix));
  for (guint serial = 0; serial < 100000; serial++)
    {
      g_autofree char *file_name = NULL;
      if (product != NULL)
        file_name = tessera_licfile_file_name (product, machine_id, serial);
      else if (serial == 0)
        file_name = g_strdup (o->file_name);
      else
        file_name = g_strdup_printf ("%s.%u", o->file_name, serial);
      char *target = g_build_filename (dir, file_name, NULL);
      if (link (tmp, target) == 0)
        {
          g_unlink (tmp);
          return target;
        }
      errsv = errno;
      if (errsv == EEXIST)
        {
          g_free (target);
          continue;
        }
      g_unlink (tmp);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot create %s: %s",
                   target, g_strerror (errsv));
      g_free (target);
      return NULL;
    }
  g_unlink (tmp);
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "too many license files for %s in %s",
               machine_id, dir);
  return NULL;
}

/* @arg: the request line itself ("tessera-fp1 ..."), or a file holding it,
 * as `tessera-license issue --request` takes it. */
static TesseraFingerprint *
read_request (const char *arg, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (g_str_has_prefix (arg, "tessera-fp1 "))
    contents = g_strdup (arg);
  else if (!g_file_get_contents (arg, &contents, &len, error))
    return NULL;
  else if (strlen (contents) != len)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "%s holds a NUL byte: not a request", arg);
      return NULL;
    }
  g_strchomp (contents);
  if (strchr (contents, '\n') != NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "a request is one line ('tessera machine-id --request' prints it)");
      return NULL;
    }
  return tessera_fingerprint_new_from_string (contents, error);
}

static int
cmd_offline_create (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL, *machine = NULL, *key_dir = NULL, *out = NULL;
  g_autofree char *kek_path = NULL, *request_arg = NULL;
  g_auto (GStrv) entitlements = NULL;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    POOL_ENTRY,
    { "machine-id", 'm', 0, G_OPTION_ARG_FILENAME, &machine, NULL, NULL },
    { "request", 'r', 0, G_OPTION_ARG_FILENAME, &request_arg, NULL, NULL },
    { "entitlement", 'e', 0, G_OPTION_ARG_FILENAME_ARRAY, &entitlements, NULL, NULL },
    { "key-dir", 'k', 0, G_OPTION_ARG_FILENAME, &key_dir, NULL, NULL },
    { "key-encryption-key", 'K', 0, G_OPTION_ARG_FILENAME, &kek_path, NULL, NULL },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID");
  if (machine == NULL && request_arg == NULL)
    return admin_fail (EXIT_USAGE, "%s: --machine-id M or --request REQ is required", name);
  const char *dir = out ? out : ".";

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) request = NULL;
  if (request_arg != NULL && (request = read_request (request_arg, &error)) == NULL)
    return admin_fail (EXIT_USAGE, "%s: --request: %s", name, error->message);
  if (request != NULL && machine != NULL
      && !g_str_equal (machine, tessera_fingerprint_get_id (request)))
    return admin_fail (EXIT_USAGE,
                       "%s: the request is for machine %s, not %s: give --request alone", name,
                       tessera_fingerprint_get_id (request), machine);
  if (machine == NULL)
    machine = g_strdup (tessera_fingerprint_get_id (request));
  OPEN (store);
  int key_rc = EXIT_IO;
  g_autoptr (TesseraSigningKey) key = admin_signing_key (store, key_dir, kek_path, &key_rc);
  if (key == NULL)
    return key_rc;

  /* The file goes to a temporary file in @dir first: checked writable before
   * the license is recorded, and no partial file is ever seen. */
  g_autofree char *tmp = NULL;
  int fd = open_temporary (dir, &tmp, &error);
  if (fd < 0)
    return admin_fail (EXIT_IO, "%s", error->message);
  g_autoptr (TsOffline) o = ts_store_create_offline_request (
      store, NULL, org, pool, machine, request, (const char *const *) entitlements, key,
      admin_now (), &error);
  if (o == NULL)
    {
      close (fd);
      g_unlink (tmp);
      return admin_fail_error (error);
    }
  g_autofree char *written = publish_license (fd, tmp, dir, NULL, o, machine, &error);
  if (written == NULL)
    /* Recorded (and counted against the quota) but not written, say a full
     * disk: the store keeps the signed file, so it is fetched, not issued
     * again. */
    return admin_fail (EXIT_IO,
                       "%s (offline license %s was recorded: download its file with "
                       "'tessera-admin offline download --id %s --output DIR')",
                       error->message, o->id, o->id);
  printf ("%s\n", written);
  return EXIT_OK;
}

static int
cmd_offline_download (const char *name, int argc, char **argv)
{
  g_autofree char *id = NULL, *output = NULL;
  const GOptionEntry entries[] = {
    { "id", 'i', 0, G_OPTION_ARG_STRING, &id, NULL, NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (id, "--id ID");
  const char *target = output ? output : ".";
  gboolean is_dir = g_file_test (target, G_FILE_TEST_IS_DIR);
  g_autofree char *dir = is_dir ? g_strdup (target) : g_path_get_dirname (target);
  OPEN (store);
  g_autoptr (GError) error = NULL;
  g_autoptr (TsOffline) o = ts_store_get_offline (store, NULL, NULL, NULL, id, &error);
  if (o == NULL)
    return admin_fail_error (error);
  g_autofree char *tmp = NULL;
  int fd = open_temporary (dir, &tmp, &error);
  if (fd < 0)
    return admin_fail (EXIT_IO, "%s", error->message);
  g_autofree char *written
      = publish_license (fd, tmp, dir, is_dir ? NULL : target, o, o->machine_id, &error);
  if (written == NULL)
    return admin_fail (EXIT_IO, "%s", error->message);
  printf ("%s\n", written);
  return EXIT_OK;
}

static int
cmd_offline_list (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL;
  const GOptionEntry entries[] = { ORG_ENTRY, POOL_ENTRY, ADMIN_JSON_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID");
  OPEN (store);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = ts_store_list_offline (store, NULL, org, pool, &error);
  if (list == NULL)
    return admin_fail_error (error);
  g_autoptr (AdminEmails) emails = admin_emails_new (store);
  AdminTable *t = admin_table_new ("offline", "sstjjxt", "id", "id", "machine_id", "machine",
                                   "created_at", "created", "created_by", NULL, "created_by_email",
                                   NULL, "created-by", "created-by", "expires_at", "expires", NULL);
  for (guint i = 0; i < list->len; i++)
    {
      TsOffline *o = g_ptr_array_index (list, i);
      admin_table_add (t, o->id, o->machine_id, o->created_at, o->created_by,
                       admin_emails_get (emails, o->created_by),
                       admin_emails_show (emails, o->created_by), o->expires_at);
    }
  return admin_table_print (t);
}

/* ---- audit ---- */

static int
cmd_audit (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL;
  gint64 limit = 50;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    { "limit", 'n', 0, G_OPTION_ARG_INT64, &limit, NULL, NULL },
    ADMIN_JSON_ENTRY,
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID");
  if (limit < 1 || limit > G_MAXINT)
    return admin_fail (EXIT_USAGE, "%s: --limit must be a positive number", name);
  OPEN (store);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) audit = ts_store_list_audit (store, NULL, org, (guint) limit, &error);
  if (audit == NULL)
    return admin_fail_error (error);
  /* People by email, times in ISO 8601; JSON keeps the recorded ids and
   * text alongside. */
  g_autoptr (AdminEmails) emails = admin_emails_new (store);
  AdminTable *t = admin_table_new ("audit", "tjjxsjjxjjx", "at", "at", "actor", NULL, "actor_email",
                                   NULL, "actor", "actor", "action", "action", "target", NULL,
                                   "target_email", NULL, "target", "target", "detail", NULL,
                                   "detail_text", NULL, "detail", "detail", NULL);
  for (guint i = 0; i < audit->len; i++)
    {
      TsAudit *a = g_ptr_array_index (audit, i);
      g_autofree char *detail = admin_emails_render (emails, a->detail);
      admin_table_add (t, a->at, a->actor, admin_emails_get (emails, a->actor),
                       admin_emails_show (emails, a->actor), a->action, a->target,
                       admin_emails_get (emails, a->target), admin_emails_show (emails, a->target),
                       a->detail, detail, detail);
    }
  return admin_table_print (t);
}

/* ---- usage history ---- */

static int
cmd_usage (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL, *since = NULL, *until = NULL;
  gboolean csv = FALSE;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    POOL_ENTRY,
    { "since", 's', 0, G_OPTION_ARG_FILENAME, &since, NULL, NULL },
    { "until", 'u', 0, G_OPTION_ARG_FILENAME, &until, NULL, NULL },
    ADMIN_JSON_ENTRY,
    { "csv", 0, 0, G_OPTION_ARG_NONE, &csv, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID", since, "--since DATE");
  if (csv && admin_opt_json)
    return admin_fail (EXIT_USAGE, "%s: --json and --csv exclude each other", name);
  gint64 since_at = 0, until_at = admin_now ();
  if (!tool_parse_time (since, &since_at))
    return admin_fail (EXIT_USAGE,
                       "%s: --since must be a date (YYYY-MM-DD, UTC), an ISO 8601 time or Unix "
                       "seconds, not '%s'",
                       name, since);
  if (until != NULL && !tool_parse_time (until, &until_at))
    return admin_fail (EXIT_USAGE,
                       "%s: --until must be a date (YYYY-MM-DD, UTC), an ISO 8601 time or Unix "
                       "seconds, not '%s'",
                       name, until);
  if (since_at >= until_at)
    return admin_fail (EXIT_USAGE, "%s: --since must come before --until (default: now)", name);
  OPEN (store);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) hours
      = ts_store_usage_list (store, NULL, org, pool, since_at, until_at, &error);
  if (hours == NULL)
    return admin_fail_error (error);
  if (csv)
    {
      g_autoptr (GBytes) text = ts_usage_hours_csv (hours);
      fwrite (g_bytes_get_data (text, NULL), 1, g_bytes_get_size (text), stdout);
      return EXIT_OK;
    }
  AdminTable *t = admin_table_new (
      "usage", "tiiiiiiii", "hour", "hour", "peak", "peak", "quota", "quota", "activations",
      "activations", "refused_quota", "refused-quota", "refused_machine_quota", "refused-machines",
      "refused_expired", "refused-expired", "users", "users", "machines", "machines", NULL);
  for (guint i = 0; i < hours->len; i++)
    {
      const TsUsageHour *h = hours->pdata[i];
      admin_table_add (t, h->hour, h->peak, h->quota, h->activations,
                       h->refused[TS_USAGE_REFUSED_QUOTA], h->refused[TS_USAGE_REFUSED_MACHINES],
                       h->refused[TS_USAGE_REFUSED_EXPIRED], h->users, h->machines);
    }
  return admin_table_print (t);
}

const AdminCommand admin_pool_commands[] = {
  { "sessions", cmd_sessions },
  { "session release", cmd_session_release },
  { "machines", cmd_machines },
  { "machine remove", cmd_machine_remove },
  { "offline create", cmd_offline_create },
  { "offline list", cmd_offline_list },
  { "offline download", cmd_offline_download },
  { "audit", cmd_audit },
  { "usage", cmd_usage },
};
const guint admin_n_pool_commands = G_N_ELEMENTS (admin_pool_commands);
