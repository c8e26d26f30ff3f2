/* tessera-store: activations, heartbeats, releases, machines. The rules of
 * docs/protocol.md ("Node-locked rules", "Floating rules"), each operation in
 * one immediate transaction. */
#include "store-private.h"

/* ---- machines (SQLite until sessions are written once) ---- */

/* A machine ID new to the pool, whose @components match a machine the same
 * user registered by the pool's policy, is that machine: its registration
 * takes the new ID (docs/fingerprint.md, "Online"). */
gboolean
ts_recognize_sqlite (sqlite3 *db, const char *user_id, TsPool *pool, const char *machine_id,
                     const char *components, gint64 now, GError **error)
{
  gint64 registered = 0;
  if (!ts_query_int (db, error, &registered, NULL,
                     "SELECT count(*) FROM machines WHERE pool_id = ? AND machine_id = ?", "ss",
                     pool->id, machine_id))
    return FALSE;
  if (registered)
    return TRUE;
  sqlite3_stmt *stmt = ts_stmt_cached (db, error,
                                       "SELECT machine_id, components FROM machines"
                                       " WHERE pool_id = ? AND user_id = ?"
                                       " AND components IS NOT NULL ORDER BY last_seen DESC",
                                       "ss", pool->id, user_id);
  if (stmt == NULL)
    return FALSE;
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (g_free);
  int rc;
  while ((rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    {
      g_ptr_array_add (rows, ts_col_strdup (stmt, 0));
      g_ptr_array_add (rows, ts_col_strdup (stmt, 1));
    }
  ts_stmt_done (db, stmt);
  if (rc == -1)
    return FALSE;
  g_autofree char *detail = NULL;
  g_autofree char *old
      = ts_recognize_machine (pool->match_policy, rows, machine_id, components, &detail);
  if (old == NULL)
    return TRUE;
  return ts_exec (db, error, NULL,
                  "UPDATE machines SET machine_id = ?, last_seen = ?"
                  " WHERE pool_id = ? AND machine_id = ?",
                  "siss", machine_id, now, pool->id, old)
         && ts_audit (db, now, pool->org_id, user_id, "machine.replace", pool->id, detail, error);
}

#include <string.h>

#define TS_SESSION_SELECT                                                                          \
  "SELECT s.id, p.org_id, s.pool_id, p.product, p.kind, s.user_id, s.machine_id, s.nonce,"         \
  " s.started_at, s.last_heartbeat, s.lease_expires_at, p.subscription_end, s.ended_at,"           \
  " s.end_code, s.end_reason, p.quota FROM sessions s JOIN pools p ON p.id = s.pool_id "

/* The first 12 columns of TS_SESSION_SELECT. */
static gpointer
ts_session_from_row (sqlite3_stmt *stmt)
{
  TsSession *s = g_new0 (TsSession, 1);
  s->id = ts_col_strdup (stmt, 0);
  s->org_id = ts_col_strdup (stmt, 1);
  s->pool_id = ts_col_strdup (stmt, 2);
  s->product = ts_col_strdup (stmt, 3);
  s->kind = ts_col_strdup (stmt, 4);
  s->user_id = ts_col_strdup (stmt, 5);
  s->machine_id = ts_col_strdup (stmt, 6);
  s->nonce = ts_col_strdup (stmt, 7);
  s->started_at = sqlite3_column_int64 (stmt, 8);
  s->last_heartbeat = sqlite3_column_int64 (stmt, 9);
  s->lease_expires_at = sqlite3_column_int64 (stmt, 10);
  s->subscription_end = sqlite3_column_int64 (stmt, 11);
  return s;
}

typedef struct
{
  TsSession *session;
  gboolean ended;
  TesseraError end_code;
  char *end_reason;
} TsSessionRow;

static void
ts_session_row_clear (TsSessionRow *row)
{
  g_clear_pointer (&row->session, ts_session_free);
  g_clear_pointer (&row->end_reason, g_free);
}

/* One session by a TS_SESSION_SELECT query; *found FALSE if none. */
static gboolean
ts_load_session (sqlite3 *db, TsSessionRow *row, gboolean *found, GError **error, const char *where,
                 const char *a, const char *b, const char *c)
{
  char *sql = g_strconcat (TS_SESSION_SELECT, where, NULL);
  sqlite3_stmt *stmt = c != NULL   ? ts_stmt_cached (db, error, sql, "sss", a, b, c)
                       : b != NULL ? ts_stmt_cached (db, error, sql, "ss", a, b)
                                   : ts_stmt_cached (db, error, sql, "s", a);
  g_free (sql);
  if (stmt == NULL)
    return FALSE;
  int rc = ts_step (db, stmt, error);
  *found = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW)
    {
      row->session = ts_session_from_row (stmt);
      row->ended = sqlite3_column_type (stmt, 12) != SQLITE_NULL;
      row->end_code = (TesseraError) sqlite3_column_int (stmt, 13);
      row->end_reason = ts_col_strdup (stmt, 14);
    }
  ts_stmt_done (db, stmt);
  return rc != -1;
}

static gboolean
ts_end_session (sqlite3 *db, const char *session_id, gint64 now, TesseraError code,
                const char *reason, GError **error)
{
  return ts_exec (db, error, NULL,
                  "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                  " WHERE id = ? AND ended_at IS NULL",
                  "iiss", now, (gint64) code, reason, session_id);
}

/* The organization to activate in: @org_id (the user must belong to it), or
 * the user's only organization with a pool for @product. */
static char *
ts_resolve_org (sqlite3 *db, const char *user_id, const char *org_id, const char *product,
                GError **error)
{
  if (org_id != NULL)
    {
      gint64 member = 0;
      if (!ts_query_int (db, error, &member, NULL,
                         "SELECT count(*) FROM members WHERE org_id = ? AND user_id = ?", "ss",
                         org_id, user_id))
        return NULL;
      if (!member)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                       "you are not a member of organization %s", org_id);
          return NULL;
        }
      return g_strdup (org_id);
    }
  sqlite3_stmt *stmt = ts_stmt_cached (db, error,
                                       "SELECT DISTINCT o.id, o.name FROM members m"
                                       " JOIN orgs o ON o.id = m.org_id"
                                       " JOIN pools p ON p.org_id = o.id"
                                       " WHERE m.user_id = ? AND p.product = ? ORDER BY o.id",
                                       "ss", user_id, product);
  if (stmt == NULL)
    return NULL;
  GString *list = g_string_new (NULL);
  char *first = NULL;
  guint n = 0;
  int rc;
  while ((rc = ts_step (db, stmt, error)) == SQLITE_ROW)
    {
      if (n++ == 0)
        first = ts_col_strdup (stmt, 0);
      g_string_append_printf (list, "%s%s (%s)", list->len ? ", " : "",
                              sqlite3_column_text (stmt, 0), sqlite3_column_text (stmt, 1));
    }
  ts_stmt_done (db, stmt);
  if (rc == -1)
    n = G_MAXUINT;
  else if (n == 0)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                 "none of your organizations has a %s license", product);
  else if (n > 1)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_ORG_REQUIRED,
                 "you belong to several organizations with %s licenses: choose one of %s", product,
                 list->str);
  g_string_free (list, TRUE);
  if (n != 1)
    g_clear_pointer (&first, g_free);
  return first;
}

static TsPool *
ts_pool_by_kind (sqlite3 *db, const char *org_id, const char *product, const char *kind,
                 gboolean *failed, GError **error)
{
  sqlite3_stmt *stmt = ts_stmt_cached (db, error,
                                       "SELECT " TS_POOL_COLUMNS " FROM pools"
                                       " WHERE org_id = ? AND product = ? AND kind = ?",
                                       "sss", org_id, product, kind);
  if (stmt == NULL)
    {
      *failed = TRUE;
      return NULL;
    }
  TsPool *pool = NULL;
  int rc = ts_step (db, stmt, error);
  if (rc == SQLITE_ROW)
    pool = ts_pool_from_row (stmt);
  *failed = rc == -1;
  ts_stmt_done (db, stmt);
  return pool;
}

/* The granted node-locked pool, else the floating one. */
static TsPool *
ts_choose_pool (sqlite3 *db, const char *user_id, const char *org_id, const char *product,
                GError **error)
{
  gboolean failed = FALSE;
  gint64 granted = 0;
  TsPool *nl = ts_pool_by_kind (db, org_id, product, "node-locked", &failed, error);
  if (failed)
    return NULL;
  if (nl != NULL)
    {
      if (!ts_query_int (db, error, &granted, NULL,
                         "SELECT count(*) FROM grants WHERE pool_id = ? AND user_id = ?", "ss",
                         nl->id, user_id))
        {
          ts_pool_free (nl);
          return NULL;
        }
      if (granted)
        return nl;
    }
  TsPool *fl = ts_pool_by_kind (db, org_id, product, "floating", &failed, error);
  if (fl == NULL && !failed)
    {
      if (nl != NULL)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                     "you have no %s node-locked license in organization %s: ask an owner or "
                     "admin to grant you one",
                     product, org_id);
      else
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                     "organization %s has no %s license", org_id, product);
    }
  ts_pool_free (nl);
  return fl;
}

static gboolean
ts_activate_node_locked (sqlite3 *db, const char *user_id, TsPool *pool, const char *machine_id,
                         gint64 now, GError **error)
{
  char *owner = NULL;
  if (!ts_query_str (db, error, &owner,
                     "SELECT user_id FROM machines WHERE pool_id = ? AND machine_id = ?", "ss",
                     pool->id, machine_id))
    return FALSE;
  gboolean other = owner != NULL && !g_str_equal (owner, user_id);
  g_free (owner);
  if (other)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED,
                   "machine %s is registered to another user of the %s node-locked pool of "
                   "organization %s: an owner or admin must remove it first",
                   machine_id, pool->product, pool->org_id);
      return FALSE;
    }
  /* The license moves: the user's sessions elsewhere end, the new machine
   * replaces the old registration. */
  char *reason = g_strdup_printf ("moved to machine %s", machine_id);
  gboolean ok = ts_exec (db, error, NULL,
                         "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                         " WHERE pool_id = ? AND user_id = ? AND machine_id <> ?"
                         " AND ended_at IS NULL",
                         "iissss", now, (gint64) TESSERA_ERROR_TERMINATED, reason, pool->id,
                         user_id, machine_id)
                && ts_exec (db, error, NULL,
                            "DELETE FROM machines WHERE pool_id = ? AND user_id = ?"
                            " AND machine_id <> ?",
                            "sss", pool->id, user_id, machine_id)
                && ts_exec (db, error, NULL,
                            "INSERT INTO machines (pool_id, machine_id, user_id, registered_at,"
                            " last_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT (pool_id, machine_id)"
                            " DO UPDATE SET last_seen = excluded.last_seen",
                            "sssii", pool->id, machine_id, user_id, now, now);
  g_free (reason);
  return ok;
}

/* *seats: the active sessions of the pool before this one (or a bound above
 * that number: see ts_seats_bound()). */
static gboolean
ts_activate_floating (TsStore *store, sqlite3 *db, const char *user_id, TsPool *pool,
                      const char *machine_id, gint64 now, gint64 *seats, GError **error)
{
  gint64 registered = 0, machines = 0, sessions = 0, offline = 0;
  if (!ts_query_int (db, error, &registered, NULL,
                     "SELECT count(*) FROM machines WHERE pool_id = ? AND machine_id = ?", "ss",
                     pool->id, machine_id))
    return FALSE;
  if (!registered)
    {
      if (!ts_query_int (db, error, &machines, NULL,
                         "SELECT count(*) FROM machines WHERE pool_id = ?", "s", pool->id))
        return FALSE;
      if (machines >= pool->quota)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED,
                       "all %" G_GINT64_FORMAT " machine registrations of the %s floating "
                       "licenses of organization %s are taken: an owner or admin must remove "
                       "a stale machine",
                       pool->quota, pool->product, pool->org_id);
          return FALSE;
        }
    }
  if (!ts_count_offline (db, pool->id, now, &offline, error))
    return FALSE;
  /* Counting the active sessions reads them all, under the write lock
   * (server-bench: most of an activation's time with 2000 sessions): a
   * bound that leaves room is enough; only near the quota are they
   * counted exactly. */
  gboolean bounded = ts_seats_bound (store, db, pool->id, &sessions);
  if ((!bounded || sessions + offline >= pool->quota)
      && !ts_count_sessions (db, pool->id, now, &sessions, error))
    return FALSE;
  *seats = sessions;
  if (sessions + offline >= pool->quota)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                   "all %" G_GINT64_FORMAT " %s floating licenses of organization %s are in use",
                   pool->quota, pool->product, pool->org_id);
      return FALSE;
    }
  return ts_exec (db, error, NULL,
                  "INSERT INTO machines (pool_id, machine_id, user_id, registered_at, last_seen)"
                  " VALUES (?, ?, ?, ?, ?) ON CONFLICT (pool_id, machine_id)"
                  " DO UPDATE SET last_seen = excluded.last_seen",
                  "sssii", pool->id, machine_id, user_id, now, now);
}

TsSession *
ts_store_activate_components (TsStore *store, const char *user_id, const char *org_id,
                              const char *product, const char *machine_id, const char *components,
                              const char *nonce, gint64 lease_seconds, gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error) || !ts_check_product (product, error)
      || !ts_check_machine_id (machine_id, error) || !ts_check_nonce (nonce, error)
      || !ts_check_lease (lease_seconds, error)
      || (org_id != NULL && !ts_check_org_id (org_id, error)))
    return NULL;
  sqlite3 *db = ts_db_begin (store, TRUE, error);
  if (db == NULL)
    return NULL;
  char *org = NULL;
  g_autoptr (TsPool) pool = NULL;
  TsSessionRow row = { 0 };
  gboolean found = FALSE;
  gboolean ok = (org = ts_resolve_org (db, user_id, org_id, product, error)) != NULL
                && (pool = ts_choose_pool (db, user_id, org, product, error)) != NULL
                && ts_load_session (db, &row, &found, error,
                                    "WHERE s.pool_id = ? AND s.user_id = ? AND s.nonce = ?",
                                    pool->id, user_id, nonce);
  TsSession *result = NULL;
  if (ok && found)
    {
      /* A retry: the same session back, never a second seat. */
      if (row.ended || row.session->lease_expires_at <= now)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED,
                       "the session of this activation (nonce %s) has ended: %s", nonce,
                       row.ended ? row.end_reason : "lease expired");
          ok = FALSE;
        }
      else if (!g_str_equal (row.session->machine_id, machine_id))
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                       "nonce %s was already used on machine %s", nonce, row.session->machine_id);
          ok = FALSE;
        }
      else
        result = g_steal_pointer (&row.session);
    }
  else if (ok && now >= pool->subscription_end)
    {
      g_autoptr (GDateTime) end = g_date_time_new_from_unix_utc (pool->subscription_end);
      g_autofree char *date = end ? g_date_time_format (end, "%F") : g_strdup ("?");
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED,
                   "the %s %s subscription of organization %s ended on %s: it must be renewed",
                   pool->product, pool->kind, pool->org_id, date);
      ok = FALSE;
    }
  else if (ok)
    {
      gboolean floating = !g_str_equal (pool->kind, "node-locked");
      gint64 seats = 0;
      ok = (components == NULL
            || ts_recognize_sqlite (db, user_id, pool, machine_id, components, now, error))
           && (floating
                   ? ts_activate_floating (store, db, user_id, pool, machine_id, now, &seats, error)
                   : ts_activate_node_locked (db, user_id, pool, machine_id, now, error))
           /* The components it was last seen with: another user's machine
            * ID sent by someone else changes nothing. */
           && (components == NULL
               || ts_exec (db, error, NULL,
                           "UPDATE machines SET components = ?"
                           " WHERE pool_id = ? AND machine_id = ? AND user_id = ?",
                           "ssss", components, pool->id, machine_id, user_id));
      if (ok)
        {
          result = g_new0 (TsSession, 1);
          result->id = ts_new_id ();
          result->org_id = g_strdup (pool->org_id);
          result->pool_id = g_strdup (pool->id);
          result->product = g_strdup (pool->product);
          result->kind = g_strdup (pool->kind);
          result->user_id = g_strdup (user_id);
          result->machine_id = g_strdup (machine_id);
          result->nonce = g_strdup (nonce);
          result->started_at = now;
          result->last_heartbeat = now;
          result->lease_expires_at = now + lease_seconds;
          result->subscription_end = pool->subscription_end;
          ok = ts_exec (db, error, NULL,
                        "INSERT INTO sessions (id, pool_id, user_id, machine_id, nonce,"
                        " started_at, last_heartbeat, lease_expires_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        "sssssiii", result->id, pool->id, user_id, machine_id, nonce, now, now,
                        result->lease_expires_at);
          if (ok && floating)
            ts_seats_set_bound (store, db, pool->id, seats + 1);
        }
    }
  ts_session_row_clear (&row);
  g_free (org);
  if (!ts_db_finish (store, db, ok, error))
    g_clear_pointer (&result, ts_session_free);
  return result;
}

/* Floating pools whose quota was lowered: is @s among the sessions beyond
 * the quota (the newest, by started_at then id)? */
static gboolean
ts_is_over_quota (TsStore *store, sqlite3 *db, TsSession *s, gint64 quota, gint64 now,
                  gboolean *over, GError **error)
{
  gint64 older = 0, offline = 0, active = 0;
  *over = FALSE;
  /* Counting even the active sessions reads them all, every heartbeat
   * (server-bench: 19% of the server's CPU with 2000 sessions): a pool
   * known to be within its quota is not counted again (ts_quota_known_ok). */
  if (ts_quota_known_ok (store, db, s->pool_id))
    return TRUE;
  /* Counting the older sessions reads every active session's row: only
   * when the pool is over its quota at all (the index answers that). */
  if (!ts_count_offline (db, s->pool_id, now, &offline, error)
      || !ts_count_sessions (db, s->pool_id, now, &active, error))
    return FALSE;
  if (active + offline <= quota)
    {
      ts_quota_remember_ok (store, db, s->pool_id);
      return TRUE;
    }
  if (!ts_query_int (db, error, &older, NULL,
                     "SELECT count(*) FROM sessions WHERE pool_id = ? AND ended_at IS NULL"
                     " AND lease_expires_at > ? AND (started_at < ?"
                     " OR (started_at = ? AND id < ?))",
                     "siiis", s->pool_id, now, s->started_at, s->started_at, s->id))
    return FALSE;
  *over = older + offline >= quota;
  return TRUE;
}

/* ---- heartbeats: the lease writer ----
 *
 * A heartbeat is a small write, and every write takes the one writer
 * connection in turn: with 64 clients, each heartbeat handed write_lock
 * to the next worker and then slept again until its batch committed (two
 * context switches a heartbeat; perf on server-bench: the scheduler and
 * futexes were a third of the server's CPU). So heartbeats queue up here
 * instead, and one thread of the store's own, the lease writer, runs every
 * queued heartbeat in one write (each in its own savepoint: a failure undoes only itself)
 * and, once it is committed, calls each one's callback. Nobody else waits:
 * ts_store_heartbeat_async() queues and returns, so the server's HTTP
 * thread answers a heartbeat itself without a worker (two wake-ups fewer a
 * heartbeat; server-bench: CPU a heartbeat -10 to -20%). The rules
 * are the same as one write per heartbeat: each heartbeat is checked and
 * extended under the write lock, seeing every earlier write. */

typedef struct
{
  const char *user_id;
  const char *session_id;
  gint64 lease_seconds;
  gint64 now;
  TsSession *result; /* the extended session, or NULL with @error */
  GError *error;
  TsHeartbeatDone done;
  gpointer data;
} TsLeaseItem;

static void
ts_lease_item_done (TsLeaseItem *it)
{
  it->done (it->result, it->error, it->data);
  g_free (it);
}

/* Heartbeats in one write at most: the write lock is held for no longer,
 * and the first answers wait for no more. */
#define TS_LEASE_MAX_COMBINED 256

/* One heartbeat in the lease writer's write: *ended is set (and the write made
 * durable) when it ends the session. */
static gboolean
ts_heartbeat_one (TsStore *store, sqlite3 *db, TsLeaseItem *it, GError **ended, GError **error)
{
  const char *session_id = it->session_id;
  gint64 now = it->now;
  TsSessionRow row = { 0 };
  gboolean found = FALSE;
  gint64 quota = 0;
  /* The pool's quota comes with the session (column 15), not from a
   * second statement. */
  sqlite3_stmt *stmt
      = ts_stmt_cached (db, error, TS_SESSION_SELECT "WHERE s.id = ? AND s.user_id = ?", "ss",
                        session_id, it->user_id);
  if (stmt == NULL)
    return FALSE;
  int rc = ts_step (db, stmt, error);
  found = rc == SQLITE_ROW;
  if (found)
    {
      row.session = ts_session_from_row (stmt);
      row.ended = sqlite3_column_type (stmt, 12) != SQLITE_NULL;
      row.end_code = (TesseraError) sqlite3_column_int (stmt, 13);
      row.end_reason = ts_col_strdup (stmt, 14);
      quota = sqlite3_column_int64 (stmt, 15);
    }
  ts_stmt_done (db, stmt);
  gboolean ok = rc != -1;
  if (ok && !found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "you have no session %s",
                   session_id);
      ok = FALSE;
    }
  if (ok && row.ended)
    g_set_error (ended, TESSERA_ERROR,
                 (row.end_code == TESSERA_ERROR_REVOKED || row.end_code == TESSERA_ERROR_EXPIRED)
                     ? (TesseraError) row.end_code
                     : TESSERA_ERROR_TERMINATED,
                 "the session has ended: %s", row.end_reason ? row.end_reason : "ended");
  else if (ok && now >= row.session->subscription_end)
    {
      ok = ts_end_session (db, session_id, now, TESSERA_ERROR_EXPIRED, "the subscription ended",
                           error);
      g_set_error (ended, TESSERA_ERROR, TESSERA_ERROR_EXPIRED,
                   "the session has ended: the %s subscription ended", row.session->product);
    }
  else if (ok && row.session->lease_expires_at <= now)
    {
      ok = ts_end_session (db, session_id, now, TESSERA_ERROR_TERMINATED, "lease expired", error);
      g_set_error (ended, TESSERA_ERROR, TESSERA_ERROR_TERMINATED,
                   "the session has ended: lease expired");
    }
  else if (ok && g_str_equal (row.session->kind, "floating"))
    {
      gboolean over = FALSE;
      ok = ts_is_over_quota (store, db, row.session, quota, now, &over, error);
      if (ok && over)
        {
          char *reason
              = g_strdup_printf ("over quota: the quota was lowered to %" G_GINT64_FORMAT, quota);
          ok = ts_end_session (db, session_id, now, TESSERA_ERROR_TERMINATED, reason, error);
          g_set_error (ended, TESSERA_ERROR, TESSERA_ERROR_TERMINATED, "the session has ended: %s",
                       reason);
          g_free (reason);
        }
    }
  if (ok && *ended == NULL)
    {
      row.session->last_heartbeat = now;
      row.session->lease_expires_at = now + it->lease_seconds;
      ok = ts_exec (db, error, NULL,
                    "UPDATE sessions SET last_heartbeat = ?, lease_expires_at = ? WHERE id = ?",
                    "iis", now, row.session->lease_expires_at, session_id)
           && ts_exec (db, error, NULL,
                       "UPDATE machines SET last_seen = ? WHERE pool_id = ? AND machine_id = ?",
                       "iss", now, row.session->pool_id, row.session->machine_id);
    }
  if (ok && *ended != NULL && !row.ended)
    ts_db_mark_durable (store, db); /* a seat freed */
  if (ok && *ended == NULL)
    it->result = g_steal_pointer (&row.session);
  ts_session_row_clear (&row);
  return ok;
}

/* The lease writer's write: runs @items (TsLeaseItem *, taken from lease_pending) and
 * whatever queues up meanwhile, in one write, then answers them all. */
static void
ts_lease_combine (TsStore *store, GQueue *items)
{
  GError *error = NULL;
  sqlite3 *db = ts_db_begin_lease (store, &error);
  GQueue ran = G_QUEUE_INIT;
  /* Alone (the usual case on two cores: ~1.3 heartbeats a write), a
   * heartbeat is the whole write and needs no savepoint of its own: if it
   * fails, so does the write, and nothing joins it. */
  gboolean alone = items->length == 1;
  gboolean write_ok = TRUE;
  while (db != NULL && !g_queue_is_empty (items))
    {
      TsLeaseItem *it;
      while ((it = g_queue_pop_head (items)) != NULL)
        {
          GError *ended = NULL;
          gboolean ok = alone || ts_db_item_begin (db, &it->error);
          if (ok && alone)
            write_ok = ok = ts_heartbeat_one (store, db, it, &ended, &it->error);
          else if (ok)
            {
              ok = ts_heartbeat_one (store, db, it, &ended, &it->error);
              ts_db_item_end (db, ok);
            }
          if (!ok)
            {
              g_clear_error (&ended);
              g_clear_pointer (&it->result, ts_session_free);
            }
          else if (ended != NULL)
            it->error = ended; /* reported once committed */
          g_queue_push_tail (&ran, it);
        }
      if (!write_ok)
        break;
      alone = FALSE;
      /* Heartbeats that came while this write ran join it. */
      g_mutex_lock (&store->lease_lock);
      while (ran.length + items->length < TS_LEASE_MAX_COMBINED
             && (it = g_queue_pop_head (&store->lease_pending)) != NULL)
        g_queue_push_tail (items, it);
      g_mutex_unlock (&store->lease_lock);
    }
  /* ts_db_finish() waits for the batch's commit: nobody is answered
   * before it. */
  if (db != NULL && !ts_db_finish (store, db, write_ok, &error))
    db = NULL;
  TsLeaseItem *it;
  while ((it = g_queue_pop_head (&ran)) != NULL || (it = g_queue_pop_head (items)) != NULL)
    {
      if (db == NULL && write_ok)
        {
          /* Nothing of this write was committed. */
          g_clear_error (&it->error);
          g_clear_pointer (&it->result, ts_session_free);
          it->error = g_error_copy (error);
        }
      ts_lease_item_done (it);
    }
  g_clear_error (&error);
}

/* The lease writer: a thread of the store's own, which runs whatever
 * heartbeats are queued in one write, then answers them, until
 * ts_store_close() stops it. Its callers never wait for a write (not even
 * the first of a burst, as a combiner taken from the callers did), so an
 * HTTP thread may queue heartbeats itself. */
static gpointer
ts_lease_writer (gpointer data)
{
  TsStore *store = data;
  g_mutex_lock (&store->lease_lock);
  for (;;)
    {
      while (g_queue_is_empty (&store->lease_pending) && !store->lease_stop)
        g_cond_wait (&store->lease_cond, &store->lease_lock);
      if (g_queue_is_empty (&store->lease_pending))
        break; /* stopping, and nothing left */
      GQueue items = G_QUEUE_INIT;
      TsLeaseItem *it;
      while (items.length < TS_LEASE_MAX_COMBINED
             && (it = g_queue_pop_head (&store->lease_pending)) != NULL)
        g_queue_push_tail (&items, it);
      store->lease_combining = TRUE;
      g_mutex_unlock (&store->lease_lock);
      ts_lease_combine (store, &items);
      g_mutex_lock (&store->lease_lock);
      store->lease_combining = FALSE;
    }
  g_mutex_unlock (&store->lease_lock);
  return NULL;
}

void
ts_store_heartbeat_async (TsStore *store, const char *user_id, const char *session_id,
                          gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data)
{
  TsLeaseItem *item = g_new0 (TsLeaseItem, 1);
  *item = (TsLeaseItem){ .user_id = user_id,
                         .session_id = session_id,
                         .lease_seconds = lease_seconds,
                         .now = now,
                         .done = done,
                         .data = data };
  if (!ts_check_id ("user_id", user_id, &item->error)
      || !ts_check_id ("session_id", session_id, &item->error)
      || !ts_check_lease (lease_seconds, &item->error))
    {
      ts_lease_item_done (item);
      return;
    }
  g_mutex_lock (&store->lease_lock);
  if (store->lease_stop)
    {
      /* ts_store_close() has begun: nobody would run it. */
      g_mutex_unlock (&store->lease_lock);
      g_set_error (&item->error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "cannot extend the lease now: the license database is closing");
      ts_lease_item_done (item);
      return;
    }
  if (store->lease_thread == NULL)
    {
      GError *error = NULL;
      store->lease_thread = g_thread_try_new ("lease-writer", ts_lease_writer, store, &error);
      if (store->lease_thread == NULL)
        {
          g_mutex_unlock (&store->lease_lock);
          g_clear_error (&item->error);
          g_set_error (&item->error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                       "cannot extend the lease now: %s", error->message);
          g_error_free (error);
          ts_lease_item_done (item);
          return;
        }
    }
  g_queue_push_tail (&store->lease_pending, item);
  /* A busy writer looks at the queue again before it waits. */
  if (!store->lease_combining)
    g_cond_signal (&store->lease_cond);
  g_mutex_unlock (&store->lease_lock);
}

void
ts_lease_writer_stop (TsStore *store)
{
  g_mutex_lock (&store->lease_lock);
  store->lease_stop = TRUE;
  g_cond_signal (&store->lease_cond);
  GThread *thread = g_steal_pointer (&store->lease_thread);
  g_mutex_unlock (&store->lease_lock);
  if (thread != NULL)
    g_thread_join (thread);
}
