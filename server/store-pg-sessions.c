/* tessera-store on PostgreSQL (as store-sessions.c): activations,
 * heartbeats, releases, machines. The rules of docs/protocol.md
 * ("Node-locked rules", "Floating rules"), each operation in one transaction
 * that holds the row lock of the pool whose seats it counts. */
#include "store-pg-private.h"

#include <string.h>

#define TS_SESSION_SELECT                                                                          \
  "SELECT s.id, p.org_id, s.pool_id, p.product, p.kind, s.user_id, s.machine_id, s.nonce,"         \
  " s.started_at, s.last_heartbeat, s.lease_expires_at, p.subscription_end, s.ended_at,"           \
  " s.end_code, s.end_reason FROM sessions s JOIN pools p ON p.id = s.pool_id "

/* The first 12 columns of TS_SESSION_SELECT. */
static gpointer
ts_session_from_row (const PGresult *res, int i)
{
  TsSession *s = g_new0 (TsSession, 1);
  s->id = ts_pg_col_strdup (res, i, 0);
  s->org_id = ts_pg_col_strdup (res, i, 1);
  s->pool_id = ts_pg_col_strdup (res, i, 2);
  s->product = ts_pg_col_strdup (res, i, 3);
  s->kind = ts_pg_col_strdup (res, i, 4);
  s->user_id = ts_pg_col_strdup (res, i, 5);
  s->machine_id = ts_pg_col_strdup (res, i, 6);
  s->nonce = ts_pg_col_strdup (res, i, 7);
  s->started_at = ts_pg_col_int (res, i, 8);
  s->last_heartbeat = ts_pg_col_int (res, i, 9);
  s->lease_expires_at = ts_pg_col_int (res, i, 10);
  s->subscription_end = ts_pg_col_int (res, i, 11);
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

/* Row @i of a result whose first 15 columns are TS_SESSION_SELECT's. */
static void
ts_session_row_read (TsSessionRow *row, const PGresult *res, int i)
{
  row->session = ts_session_from_row (res, i);
  row->ended = !PQgetisnull (res, i, 12);
  row->end_code = (TesseraError) ts_pg_col_int (res, i, 13);
  row->end_reason = ts_pg_col_strdup (res, i, 14);
}

/* One session by a TS_SESSION_SELECT query; *found FALSE if none. */
static gboolean
ts_load_session (TsPgDb *db, TsSessionRow *row, gboolean *found, GError **error, const char *where,
                 const char *a, const char *b, const char *c)
{
  /* In a write, the session's row is locked: a heartbeat and a reaper (on
   * another instance) never both act on it; the reaper skips it. */
  char *sql
      = g_strconcat (TS_SESSION_SELECT, where, db->write ? " FOR NO KEY UPDATE OF s" : "", NULL);
  PGresult *res = c != NULL   ? ts_pg_query (db, error, sql, "sss", a, b, c)
                  : b != NULL ? ts_pg_query (db, error, sql, "ss", a, b)
                              : ts_pg_query (db, error, sql, "s", a);
  g_free (sql);
  if (res == NULL)
    return FALSE;
  *found = PQntuples (res) > 0;
  if (*found)
    ts_session_row_read (row, res, 0);
  PQclear (res);
  return TRUE;
}

static gboolean
ts_end_session (TsPgDb *db, const char *session_id, gint64 now, TesseraError code,
                const char *reason, GError **error)
{
  return ts_pg_exec (db, error, NULL,
                     "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                     " WHERE id = ? AND ended_at IS NULL",
                     "iiss", now, (gint64) code, reason, session_id);
}

/* ---- activation ----
 *
 * Round trips per activation: BEGIN, the choice of the pool (one SELECT),
 * the pool's lock, the retry check with the counts (one SELECT), the writes
 * (one statement; node-locked: two), COMMIT. The lock stays a statement of its own: in READ
 * COMMITTED a statement reads the snapshot it started with, so a statement
 * that waited for the lock would count without the sessions (and miss the
 * nonce) the previous holder of the lock just committed. Every statement
 * after it starts once the lock is held. */

/* The pools the user may activate a product from: one row per pool of the
 * product in each of the user's organizations (only ?3 when given), pool
 * columns NULL for an organization without one. Columns: TS_POOL_COLUMNS
 * (0-7), the organization's id and name, whether the user holds a grant in
 * the pool. */
#define TS_CHOICE_SELECT                                                                           \
  "SELECT p.id, p.org_id, p.product, p.kind, p.billing, p.quota, p.subscription_end,"              \
  " p.match_policy, m.org_id, o.name,"                                                             \
  " EXISTS (SELECT 1 FROM grants g WHERE g.pool_id = p.id AND g.user_id = ?1)"                     \
  " FROM members m JOIN orgs o ON o.id = m.org_id"                                                 \
  " LEFT JOIN pools p ON p.org_id = m.org_id AND p.product = ?2"                                   \
  " WHERE m.user_id = ?1 AND (?3::text IS NULL OR m.org_id = ?3)"                                  \
  " ORDER BY m.org_id, p.kind"

/* The pool to activate from: in @org_id (the user must belong to it) or
 * the user's only organization with a pool for @product, the granted
 * node-locked pool, else the floating one. */
static TsPool *
ts_choose_pool (TsPgDb *db, const char *user_id, const char *org_id, const char *product,
                GError **error)
{
  PGresult *res = ts_pg_query (db, error, TS_CHOICE_SELECT, "sss", user_id, product, org_id);
  if (res == NULL)
    return NULL;
  int n = PQntuples (res);
  const char *org = org_id;
  if (org_id != NULL && n == 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "you are not a member of organization %s", org_id);
      org = NULL;
    }
  else if (org_id == NULL)
    {
      GString *list = g_string_new (NULL);
      const char *last = NULL;
      guint orgs = 0;
      for (int i = 0; i < n; i++)
        {
          const char *o = PQgetvalue (res, i, 8);
          if (PQgetisnull (res, i, 0) || (last != NULL && g_str_equal (last, o)))
            continue; /* no pool there, or the organization's second pool */
          last = o;
          if (orgs++ == 0)
            org = o;
          g_string_append_printf (list, "%s%s (%s)", list->len ? ", " : "", o,
                                  PQgetvalue (res, i, 9));
        }
      if (orgs == 0)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                     "none of your organizations has a %s license", product);
      else if (orgs > 1)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_ORG_REQUIRED,
                     "you belong to several organizations with %s licenses: choose one of %s",
                     product, list->str);
      g_string_free (list, TRUE);
      if (orgs != 1)
        org = NULL;
    }
  TsPool *nl = NULL, *fl = NULL;
  gboolean granted = FALSE;
  for (int i = 0; org != NULL && i < n; i++)
    {
      if (PQgetisnull (res, i, 0) || !g_str_equal (PQgetvalue (res, i, 8), org))
        continue;
      if (g_str_equal (PQgetvalue (res, i, 3), "node-locked"))
        {
          nl = ts_pg_pool_from_row (res, i);
          granted = g_str_equal (PQgetvalue (res, i, 10), "t");
        }
      else
        fl = ts_pg_pool_from_row (res, i);
    }
  if (nl != NULL && granted)
    {
      ts_pool_free (fl);
      fl = g_steal_pointer (&nl);
    }
  else if (org != NULL && fl == NULL)
    {
      if (nl != NULL)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                     "you have no %s node-locked license in organization %s: ask an owner or "
                     "admin to grant you one",
                     product, org);
      else
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                     "organization %s has no %s license", org, product);
    }
  ts_pool_free (nl);
  PQclear (res);
  return fl;
}

/* Under the pool's lock: the session of an earlier try with this nonce
 * (locked, as ts_load_session() locks it), the user the machine is
 * registered to and, for a floating pool (?5), the counts its quotas are
 * checked against; the machines only when this one is not registered yet.
 * Columns: TS_SESSION_SELECT's (NULL when no session), owner, machines,
 * active sessions, offline licenses. */
#define TS_ACTIVATION_SELECT                                                                       \
  "WITH s AS (" TS_SESSION_SELECT "WHERE s.pool_id = ?1 AND s.user_id = ?2 AND s.nonce = ?3"       \
  " FOR NO KEY UPDATE OF s),"                                                                      \
  " r AS (SELECT user_id FROM machines WHERE pool_id = ?1 AND machine_id = ?4)"                    \
  " SELECT s.*, (SELECT user_id FROM r),"                                                          \
  " CASE WHEN ?5 = 'floating' AND NOT EXISTS (SELECT 1 FROM r)"                                    \
  "  THEN (SELECT count(*) FROM machines WHERE pool_id = ?1) END,"                                 \
  " CASE WHEN ?5 = 'floating' THEN (SELECT count(*) FROM sessions WHERE pool_id = ?1"              \
  "  AND ended_at IS NULL AND lease_expires_at > ?6) END,"                                         \
  " CASE WHEN ?5 = 'floating' THEN (SELECT count(*) FROM offline WHERE pool_id = ?1"               \
  "  AND expires_at > ?6) END"                                                                     \
  " FROM (SELECT 1) one LEFT JOIN s ON TRUE"

/* The new session and its machine's registration, in one statement. The
 * unique (pool, user, nonce) index is the last word on idempotence; under
 * the pool lock a conflict cannot happen, and if it ever did the client's
 * retry finds the session. The command's row count is the sessions
 * inserted. */
#define TS_ACTIVATION_INSERT                                                                       \
  " m AS (INSERT INTO machines (pool_id, machine_id, user_id, registered_at, last_seen)"           \
  " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (pool_id, machine_id)"                                 \
  " DO UPDATE SET last_seen = excluded.last_seen)"                                                 \
  " INSERT INTO sessions (id, pool_id, user_id, machine_id, nonce, started_at, last_heartbeat,"    \
  " lease_expires_at) VALUES (?5, ?1, ?3, ?2, ?6, ?4, ?4, ?7)"                                     \
  " ON CONFLICT (pool_id, user_id, nonce) DO NOTHING"

/* Node-locked: the license moves, the new machine replaces the user's old
 * registration (their sessions elsewhere were ended just before, in a
 * statement of their own: sessions before machines, the order a heartbeat
 * locks them in; within one statement the order of the writes is not
 * defined). */
#define TS_ACTIVATION_NODE_LOCKED                                                                  \
  "WITH d AS (DELETE FROM machines WHERE pool_id = ?1 AND user_id = ?3 AND machine_id <> "         \
  "?2)," TS_ACTIVATION_INSERT

#define TS_ACTIVATION_FLOATING "WITH" TS_ACTIVATION_INSERT

/* The seat rules of @pool for a new session on @machine_id, from the
 * columns of TS_ACTIVATION_SELECT (row 0 of @res). */
static gboolean
ts_check_seat (const PGresult *res, const char *user_id, TsPool *pool, const char *machine_id,
               GError **error)
{
  const char *owner = PQgetisnull (res, 0, 15) ? NULL : PQgetvalue (res, 0, 15);
  if (g_str_equal (pool->kind, "node-locked"))
    {
      if (owner != NULL && !g_str_equal (owner, user_id))
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED,
                       "machine %s is registered to another user of the %s node-locked pool of "
                       "organization %s: an owner or admin must remove it first",
                       machine_id, pool->product, pool->org_id);
          return FALSE;
        }
      return TRUE;
    }
  gint64 machines = ts_pg_col_int (res, 0, 16);
  gint64 sessions = ts_pg_col_int (res, 0, 17);
  gint64 offline = ts_pg_col_int (res, 0, 18);
  if (owner == NULL && machines >= pool->quota)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED,
                   "all %" G_GINT64_FORMAT " machine registrations of the %s floating "
                   "licenses of organization %s are taken: an owner or admin must remove "
                   "a stale machine",
                   pool->quota, pool->product, pool->org_id);
      return FALSE;
    }
  if (sessions + offline >= pool->quota)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                   "all %" G_GINT64_FORMAT " %s floating licenses of organization %s are in use",
                   pool->quota, pool->product, pool->org_id);
      return FALSE;
    }
  return TRUE;
}

/* As store-sessions.c's ts_recognize(): a machine ID new to the pool whose
 * @components match a machine of the same user by the pool's policy takes
 * over that machine's registration. Under the pool's lock. */
static gboolean
ts_pg_recognize (TsPgDb *db, const char *user_id, TsPool *pool, const char *machine_id,
                 const char *components, gint64 now, GError **error)
{
  PGresult *res = ts_pg_query (db, error,
                               "SELECT machine_id, components FROM machines"
                               " WHERE pool_id = ?1 AND user_id = ?2 AND components IS NOT NULL"
                               " AND NOT EXISTS (SELECT 1 FROM machines"
                               "  WHERE pool_id = ?1 AND machine_id = ?3)"
                               " ORDER BY last_seen DESC",
                               "sss", pool->id, user_id, machine_id);
  if (res == NULL)
    return FALSE;
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < PQntuples (res); i++)
    {
      g_ptr_array_add (rows, ts_pg_col_strdup (res, i, 0));
      g_ptr_array_add (rows, ts_pg_col_strdup (res, i, 1));
    }
  PQclear (res);
  g_autofree char *detail = NULL;
  g_autofree char *old
      = ts_recognize_machine (pool->match_policy, rows, machine_id, components, &detail);
  if (old == NULL)
    return TRUE;
  return ts_pg_exec (db, error, NULL,
                     "UPDATE machines SET machine_id = ?, last_seen = ?"
                     " WHERE pool_id = ? AND machine_id = ?",
                     "siss", machine_id, now, pool->id, old)
         && ts_pg_audit (db, now, pool->org_id, user_id, "machine.replace", pool->id, detail,
                         error);
}

TsSession *
ts_pg_activate (TsPgStore *store, const char *user_id, const char *org_id, const char *product,
                const char *machine_id, const char *components, const char *nonce,
                gint64 lease_seconds, gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error) || !ts_check_product (product, error)
      || !ts_check_machine_id (machine_id, error) || !ts_check_nonce (nonce, error)
      || !ts_check_lease (lease_seconds, error)
      || (org_id != NULL && !ts_check_org_id (org_id, error)))
    return NULL;
  TsPgDb *db = ts_pg_begin (store, TRUE, error);
  if (db == NULL)
    return NULL;
  g_autoptr (TsPool) pool = NULL;
  TsSessionRow row = { 0 };
  PGresult *res = NULL;
  gboolean ok = (pool = ts_choose_pool (db, user_id, org_id, product, error)) != NULL
                /* From here the pool's row is locked until the commit: the
                 * retry check, the counts and the insert below are one step
                 * for every instance sharing the database. */
                && ts_pg_lock_pool (db, pool, error)
                && (components == NULL
                    || ts_pg_recognize (db, user_id, pool, machine_id, components, now, error))
                && (res = ts_pg_query (db, error, TS_ACTIVATION_SELECT, "sssssi", pool->id, user_id,
                                       nonce, machine_id, pool->kind, now))
                       != NULL;
  gboolean found = ok && !PQgetisnull (res, 0, 0);
  if (found)
    ts_session_row_read (&row, res, 0);
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
  else if (ok && (ok = ts_check_seat (res, user_id, pool, machine_id, error)))
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
      gint64 inserted = 0;
      if (g_str_equal (pool->kind, "node-locked"))
        {
          char *reason = g_strdup_printf ("moved to machine %s", machine_id);
          ok = ts_pg_exec (db, error, NULL,
                           "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                           " WHERE pool_id = ? AND user_id = ? AND machine_id <> ?"
                           " AND ended_at IS NULL",
                           "iissss", now, (gint64) TESSERA_ERROR_TERMINATED, reason, pool->id,
                           user_id, machine_id)
               && ts_pg_exec (db, error, &inserted, TS_ACTIVATION_NODE_LOCKED, "sssissi", pool->id,
                              machine_id, user_id, now, result->id, nonce,
                              result->lease_expires_at);
          g_free (reason);
        }
      else
        ok = ts_pg_exec (db, error, &inserted, TS_ACTIVATION_FLOATING, "sssissi", pool->id,
                         machine_id, user_id, now, result->id, nonce, result->lease_expires_at);
      if (ok && inserted != 1)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                       "another activation with nonce %s was running at the same time: "
                       "retry it (nothing was changed)",
                       nonce);
          ok = FALSE;
        }
      /* The components it was last seen with: another user's machine ID
       * sent by someone else changes nothing. */
      if (ok && components != NULL)
        ok = ts_pg_exec (db, error, NULL,
                         "UPDATE machines SET components = ?"
                         " WHERE pool_id = ? AND machine_id = ? AND user_id = ?",
                         "ssss", components, pool->id, machine_id, user_id);
    }
  PQclear (res);
  ts_session_row_clear (&row);
  if (!ts_pg_finish (store, db, ok, error))
    g_clear_pointer (&result, ts_session_free);
  return result;
}

/* ---- heartbeat ----
 *
 * Round trips per heartbeat: BEGIN, the session (locked), its pool's counts
 * (floating pools), the extension, COMMIT. Each statement is a plain one
 * with the pool as a parameter: a single statement doing it all (the pool
 * then being the locked row's, unknown to the plan) measured slower in the
 * scale bench than these three. */

/* Floating pools whose quota was lowered: is the session among those beyond
 * the quota (the newest, by started_at then id)? Columns: quota, offline,
 * active, older (NULL unless the pool is over its quota at all: counting
 * the older sessions reads every active session's row). OFFSET 0 keeps the
 * counts in the subquery, each run once. */
#define TS_OVER_QUOTA_SELECT                                                                       \
  "SELECT q.quota, q.offline, q.active, CASE WHEN q.active + q.offline > q.quota THEN"             \
  " (SELECT count(*) FROM sessions WHERE pool_id = ?1 AND ended_at IS NULL"                        \
  " AND lease_expires_at > ?2 AND (started_at < ?3 OR (started_at = ?3 AND id < ?4))) END"         \
  " FROM (SELECT quota,"                                                                           \
  " (SELECT count(*) FROM offline WHERE pool_id = ?1 AND expires_at > ?2) AS offline,"             \
  " (SELECT count(*) FROM sessions WHERE pool_id = ?1 AND ended_at IS NULL"                        \
  " AND lease_expires_at > ?2) AS active FROM pools WHERE id = ?1 OFFSET 0) q"

static gboolean
ts_is_over_quota (TsPgDb *db, TsSession *s, gint64 now, gint64 *quota, gboolean *over,
                  GError **error)
{
  PGresult *res = ts_pg_query (db, error, TS_OVER_QUOTA_SELECT, "siis", s->pool_id, now,
                               s->started_at, s->id);
  if (res == NULL)
    return FALSE;
  *over = FALSE;
  if (PQntuples (res) > 0)
    {
      *quota = ts_pg_col_int (res, 0, 0);
      *over = !PQgetisnull (res, 0, 3)
              && ts_pg_col_int (res, 0, 3) + ts_pg_col_int (res, 0, 1) >= *quota;
    }
  PQclear (res);
  return TRUE;
}

TsSession *
ts_pg_heartbeat (TsPgStore *store, const char *user_id, const char *session_id,
                 gint64 lease_seconds, gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error) || !ts_check_id ("session_id", session_id, error)
      || !ts_check_lease (lease_seconds, error))
    return NULL;
  /* A heartbeat only extends a lease: its commit need not wait for the
   * disk (ts_pg_begin_lease); ending the session below does. */
  TsPgDb *db = ts_pg_begin_lease (store, error);
  if (db == NULL)
    return NULL;
  TsSessionRow row = { 0 };
  gboolean found = FALSE;
  GError *ended = NULL; /* the session ended: committed, then reported */
  gboolean ok = ts_load_session (db, &row, &found, error, "WHERE s.id = ? AND s.user_id = ?",
                                 session_id, user_id, NULL);
  if (ok && !found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "you have no session %s",
                   session_id);
      ok = FALSE;
    }
  if (ok && row.ended)
    g_set_error (&ended, TESSERA_ERROR,
                 (row.end_code == TESSERA_ERROR_REVOKED || row.end_code == TESSERA_ERROR_EXPIRED)
                     ? (TesseraError) row.end_code
                     : TESSERA_ERROR_TERMINATED,
                 "the session has ended: %s", row.end_reason ? row.end_reason : "ended");
  else if (ok && now >= row.session->subscription_end)
    {
      ok = ts_end_session (db, session_id, now, TESSERA_ERROR_EXPIRED, "the subscription ended",
                           error);
      g_set_error (&ended, TESSERA_ERROR, TESSERA_ERROR_EXPIRED,
                   "the session has ended: the %s subscription ended", row.session->product);
    }
  else if (ok && row.session->lease_expires_at <= now)
    {
      ok = ts_end_session (db, session_id, now, TESSERA_ERROR_TERMINATED, "lease expired", error);
      g_set_error (&ended, TESSERA_ERROR, TESSERA_ERROR_TERMINATED,
                   "the session has ended: lease expired");
    }
  else if (ok && g_str_equal (row.session->kind, "floating"))
    {
      gint64 quota = 0;
      gboolean over = FALSE;
      ok = ts_is_over_quota (db, row.session, now, &quota, &over, error);
      if (ok && over)
        {
          char *reason
              = g_strdup_printf ("over quota: the quota was lowered to %" G_GINT64_FORMAT, quota);
          ok = ts_end_session (db, session_id, now, TESSERA_ERROR_TERMINATED, reason, error);
          g_set_error (&ended, TESSERA_ERROR, TESSERA_ERROR_TERMINATED, "the session has ended: %s",
                       reason);
          g_free (reason);
        }
    }
  if (ok && ended == NULL)
    {
      row.session->last_heartbeat = now;
      row.session->lease_expires_at = now + lease_seconds;
      /* The session's row is locked already (ts_load_session): the machine
       * is locked after it, whatever order the two writes run in. */
      ok = ts_pg_exec (
          db, error, NULL,
          "WITH m AS (UPDATE machines SET last_seen = ?1"
          " WHERE pool_id = ?3 AND machine_id = ?4)"
          " UPDATE sessions SET last_heartbeat = ?1, lease_expires_at = ?2 WHERE id = ?5",
          "iisss", now, row.session->lease_expires_at, row.session->pool_id,
          row.session->machine_id, session_id);
    }
  if (ok && ended != NULL && !row.ended)
    ok = ts_pg_mark_durable (db, error); /* a seat freed */
  TsSession *result = ok && ended == NULL ? g_steal_pointer (&row.session) : NULL;
  ts_session_row_clear (&row);
  if (!ts_pg_finish (store, db, ok, error))
    {
      g_clear_error (&ended);
      g_clear_pointer (&result, ts_session_free);
    }
  else if (ended != NULL)
    g_propagate_error (error, ended);
  return result;
}
