/* tessera-store: activation, written once over db.h for both engines. The
 * rules of docs/protocol.md ("Node-locked rules", "Floating rules") in one
 * write transaction. What keeps the quota exact across instances: SQLite's
 * one writer holds the whole database (BEGIN IMMEDIATE); on PostgreSQL the
 * pool's row is locked (ts_tx_load_pool()) before any seat is counted, and
 * the lock stays a statement of its own: in READ COMMITTED a statement
 * reads the snapshot it started with, so one that waited for the lock would
 * count without the sessions (and miss the nonce) the previous holder just
 * committed. Every statement after it starts once the lock is held. */
#include "db.h"
#include "store-guess.h"

/* The pools the user (@WHO: ?1, or the user of the key ?1) may activate a
 * product from: one row per pool of the product in each of the user's
 * organizations (only ?3 when given), pool columns NULL for an
 * organization without one. Columns: TS_POOL_COLUMNS (0-7), the
 * organization's id and name, whether the user holds a grant in the pool
 * (1/0), the user. One statement, not one per step: each is a round trip on
 * PostgreSQL; with a key, its check is part of it (TsCaller). */
#define TS_CHOICE_SELECT(WHO)                                                                      \
  "SELECT p.id, p.org_id, p.product, p.kind, p.billing, p.quota, p.subscription_end,"              \
  " p.match_policy, m.org_id, o.name,"                                                             \
  " CASE WHEN EXISTS (SELECT 1 FROM grants g WHERE g.pool_id = p.id AND g.user_id = m.user_id)"    \
  " THEN 1 ELSE 0 END, m.user_id"                                                                  \
  " FROM members m JOIN orgs o ON o.id = m.org_id"                                                 \
  " LEFT JOIN pools p ON p.org_id = m.org_id AND p.product = ?2"                                   \
  " WHERE m.user_id = " WHO " AND (?3 IS NULL OR m.org_id = ?3)"                                   \
  " ORDER BY m.org_id, p.kind"

/* The organization of the pool to activate from: @org_id (the user must
 * belong to it), else the user's only organization with a pool for
 * @product. Returns (transfer full) its id. */
static char *
ts_choose_org (GPtrArray *orgs, const char *org_id, const char *product, GError **error)
{
  if (org_id != NULL)
    {
      if (orgs->len == 0)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                     "you are not a member of organization %s", org_id);
      return orgs->len ? g_strdup (org_id) : NULL;
    }
  /* @orgs: id, name, whether it has a pool; ordered by id. */
  GString *list = g_string_new (NULL);
  const char *first = NULL, *last = NULL;
  guint n = 0;
  for (guint i = 0; i + 2 < orgs->len; i += 3)
    {
      const char *o = orgs->pdata[i];
      if (orgs->pdata[i + 2] == NULL || (last != NULL && g_str_equal (last, o)))
        continue; /* no pool there, or the organization's second pool */
      last = o;
      if (n++ == 0)
        first = o;
      g_string_append_printf (list, "%s%s (%s)", list->len ? ", " : "", o,
                              (const char *) orgs->pdata[i + 1]);
    }
  if (n == 0)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                 "none of your organizations has a %s license", product);
  else if (n > 1)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_ORG_REQUIRED,
                 "you belong to several organizations with %s licenses: choose one of %s", product,
                 list->str);
  g_string_free (list, TRUE);
  return n == 1 ? g_strdup (first) : NULL;
}

/* TS_CHOICE_SELECT for @who, sent (read by ts_choice_read()). */
static TsRows *
ts_choice_query (TsTx *tx, TsCaller *who, const char *org_id, const char *product, GError **error)
{
  return ts_tx_rows (tx, error,
                     ts_caller_by_key (who) ? TS_CHOICE_SELECT (TS_KEY_USER ("?1"))
                                            : TS_CHOICE_SELECT ("?1"),
                     "sss", ts_caller_param (who), product, org_id);
}

/* The pool to activate from, by @rows (ts_choice_query(), freed here): the
 * granted node-locked pool of the chosen organization, else its floating
 * one. */
static TsPool *
ts_choice_read (TsTx *tx, TsRows *choice, TsCaller *who, const char *org_id, const char *product,
                GError **error)
{
  g_autoptr (TsRows) rows = choice;
  if (rows == NULL)
    return NULL;
  g_autoptr (GPtrArray) orgs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) pools = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_pool_free);
  g_autoptr (GArray) granted = g_array_new (FALSE, FALSE, sizeof (gboolean));
  while (ts_rows_next (rows, error))
    {
      gboolean has_pool = !ts_rows_is_null (rows, 0);
      gboolean g = has_pool && ts_rows_int (rows, 10) != 0;
      g_ptr_array_add (orgs, ts_rows_strdup (rows, 8));
      g_ptr_array_add (orgs, ts_rows_strdup (rows, 9));
      g_ptr_array_add (orgs, has_pool ? g_strdup ("") : NULL);
      g_ptr_array_add (pools, has_pool ? ts_tx_pool_from_row (rows) : NULL);
      g_array_append_val (granted, g);
      if (ts_caller_by_key (who) && who->found == NULL)
        who->found = ts_rows_strdup (rows, 11);
    }
  if (!ts_rows_ok (rows))
    return NULL;
  g_clear_pointer (&rows, ts_rows_free);
  g_autofree char *org = ts_choose_org (orgs, org_id, product, error);
  if (org == NULL && orgs->len == 0)
    ts_tx_caller_miss (tx, who, error); /* no membership read: is the key still valid? */
  if (org == NULL)
    return NULL;
  TsPool *nl = NULL, *fl = NULL;
  gboolean nl_granted = FALSE;
  for (guint i = 0; i < pools->len; i++)
    {
      TsPool *p = pools->pdata[i];
      if (p == NULL || !g_str_equal (p->org_id, org))
        continue;
      if (g_str_equal (p->kind, "node-locked"))
        {
          nl = p;
          nl_granted = g_array_index (granted, gboolean, i);
        }
      else
        fl = p;
    }
  TsPool *chosen = nl != NULL && nl_granted ? nl : fl;
  if (chosen == NULL && nl != NULL)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                 "you have no %s node-locked license in organization %s: ask an owner or "
                 "admin to grant you one",
                 product, org);
  else if (chosen == NULL)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "organization %s has no %s license",
                 org, product);
  if (chosen != NULL)
    for (guint i = 0; i < pools->len; i++)
      if (pools->pdata[i] == chosen)
        pools->pdata[i] = NULL; /* stolen */
  return chosen;
}

/* A machine ID new to the pool, whose @components match a machine the same
 * user registered by the pool's policy, is that machine: its registration
 * takes the new ID (docs/fingerprint.md, "Online"). */
static gboolean
ts_recognize (TsTx *tx, const char *user_id, TsPool *pool, const char *machine_id,
              const char *components, gint64 now, gboolean *renamed, GError **error)
{
  *renamed = FALSE;
  g_autoptr (TsRows) rows
      = ts_tx_rows (tx, error,
                    "SELECT machine_id, components FROM machines"
                    " WHERE pool_id = ?1 AND user_id = ?2 AND components IS NOT NULL"
                    " AND NOT EXISTS (SELECT 1 FROM machines"
                    "  WHERE pool_id = ?1 AND machine_id = ?3)"
                    " ORDER BY last_seen DESC",
                    "sss", pool->id, user_id, machine_id);
  if (rows == NULL)
    return FALSE;
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  while (ts_rows_next (rows, error))
    {
      g_ptr_array_add (found, ts_rows_strdup (rows, 0));
      g_ptr_array_add (found, ts_rows_strdup (rows, 1));
    }
  if (!ts_rows_ok (rows))
    return FALSE;
  g_autofree char *detail = NULL;
  g_autofree char *old
      = ts_recognize_machine (pool->match_policy, found, machine_id, components, &detail);
  if (old == NULL)
    return TRUE;
  *renamed = TRUE;
  return ts_tx_exec (tx, error, NULL,
                     "UPDATE machines SET machine_id = ?, last_seen = ?"
                     " WHERE pool_id = ? AND machine_id = ?",
                     "siss", machine_id, now, pool->id, old)
         && ts_tx_audit (tx, now, pool->org_id, user_id, "machine.replace", pool->id, detail,
                         error);
}

/* Under the pool's lock, what its seat rules are checked against: the user
 * the machine is registered to and, by ?4 (TsSeatsWant), the machines (only
 * when this one is not registered yet), the offline licenses and the
 * active sessions (NULL when not counted); the session an earlier try with
 * this nonce (?6) of user ?5 started, if any (one statement, not one more
 * round of the engine's per-statement work for a lookup that almost never
 * finds anything), when the machine was last seen (its row read once),
 * and the pool row's seat bound and epoch (store-common.h). The quota the
 * bound is held against is the row's as this statement reads it: under
 * the lock, the one the caller holds. */
#define TS_SEATS_SELECT                                                                            \
  "SELECT m.user_id, CASE WHEN ?4 >= 1 AND m.user_id IS NULL"                                      \
  "  THEN (SELECT count(*) FROM machines WHERE pool_id = ?1) ELSE 0 END, o.n,"                     \
  " CASE WHEN ?4 = 2 OR (?4 = 3 AND (p.seat_bound IS NULL OR p.seat_bound + o.n >= p.quota))"      \
  "  THEN (SELECT count(*) FROM sessions WHERE pool_id = ?1"                                       \
  "  AND ended_at IS NULL AND lease_expires_at > ?3) END, p.seat_bound,"                           \
  " (SELECT id FROM sessions WHERE pool_id = ?1 AND user_id = ?5 AND nonce = ?6), m.last_seen,"    \
  " p.seat_epoch"                                                                                  \
  " FROM pools p CROSS JOIN (SELECT CASE WHEN ?4 >= 1 THEN (SELECT count(*) FROM offline"          \
  "  WHERE pool_id = ?1 AND expires_at > ?3) ELSE 0 END AS n) o"                                   \
  " LEFT JOIN machines m ON m.pool_id = ?1 AND m.machine_id = ?2"                                  \
  " WHERE p.id = ?1"

typedef enum
{
  TS_SEATS_OWNER = 0,    /* node-locked: whose the machine is */
  TS_SEATS_MACHINES = 1, /* floating, the engine bounds the sessions (ts_tx_seats_bound()) */
  TS_SEATS_ALL = 2,      /* floating: and the active sessions */
  TS_SEATS_ROW = 3,      /* floating: and them unless the row's bound leaves room */
} TsSeatsWant;

/* TS_SEATS_SELECT for @user_id's activation with @nonce from @pool_id on
 * @machine_id. */
static TsRows *
ts_seats_query (TsTx *tx, const char *pool_id, const char *kind, const char *machine_id,
                const char *user_id, const char *nonce, gint64 now, GError **error)
{
  gint64 bound = 0;
  TsSeatsWant want = g_str_equal (kind, "node-locked")         ? TS_SEATS_OWNER
                     : ts_tx_seat_credits (tx)                 ? TS_SEATS_ROW
                     : ts_tx_seats_bound (tx, pool_id, &bound) ? TS_SEATS_MACHINES
                                                               : TS_SEATS_ALL;
  return ts_tx_rows (tx, error, TS_SEATS_SELECT, "ssiiss", pool_id, machine_id, now, (gint64) want,
                     user_id, nonce);
}

/* TS_SEATS_SELECT's one row, read. */
typedef struct
{
  char *owner; /* whose the machine is: NULL when not registered */
  gint64 machines, offline, sessions;
  gboolean counted; /* @sessions was counted */
  char *retry;      /* the session of an earlier try with the nonce */
  gint64 last_seen; /* the machine's, when registered */
  gint64 bound;     /* TS_SEATS_ROW: the row's seat bound, when not counted */
  gboolean bounded; /* the row has one */
  gint64 epoch;     /* and its epoch */
} TsSeats;

static void
ts_seats_clear (TsSeats *seats)
{
  g_clear_pointer (&seats->owner, g_free);
  g_clear_pointer (&seats->retry, g_free);
}

static gboolean
ts_seats_read (TsRows *rows, TsSeats *seats, GError **error)
{
  if (!ts_rows_next (rows, error))
    {
      if (ts_rows_ok (rows))
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "the seat count returned no row");
      return FALSE;
    }
  seats->owner = ts_rows_strdup (rows, 0);
  seats->machines = ts_rows_int (rows, 1);
  seats->offline = ts_rows_int (rows, 2);
  seats->counted = !ts_rows_is_null (rows, 3);
  seats->sessions = ts_rows_int (rows, 3);
  seats->bound = ts_rows_int (rows, 4);
  seats->bounded = !ts_rows_is_null (rows, 4);
  seats->retry = ts_rows_strdup (rows, 5);
  seats->last_seen = ts_rows_is_null (rows, 6) ? 0 : ts_rows_int (rows, 6);
  seats->epoch = ts_rows_int (rows, 7);
  return TRUE;
}

/* What the client told of its machine: the components, host name and OS
 * it was last seen with (each NULL when not sent). Kept on the machine's
 * row only when it is registered to the user activating: another user's
 * machine ID sent by someone else changes nothing. Written with the
 * machine's registration or its last_seen, in the same statement. */
typedef struct
{
  const char *components, *hostname, *os;
} TsMachineTold;

#define TS_TOLD_COLUMN(C, OLD, OWNER, NEW)                                                         \
  C " = CASE WHEN " OWNER " THEN coalesce (" NEW ", " OLD ") ELSE " OLD " END"
#define TS_TOLD_UPSERT(C)                                                                          \
  TS_TOLD_COLUMN (C, "machines." C, "machines.user_id = excluded.user_id", "excluded." C)
#define TS_TOLD_UPDATE(C) TS_TOLD_COLUMN (C, C, "user_id = ?", "?")

/* The machine registered to the user (?3), or seen again: ?1-?8. */
#define TS_MACHINE_UPSERT                                                                          \
  "INSERT INTO machines (pool_id, machine_id, user_id, registered_at, last_seen, components,"      \
  " hostname, os) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pool_id, machine_id)"               \
  " DO UPDATE SET last_seen = excluded.last_seen, " TS_TOLD_UPSERT (                               \
      "components") ", " TS_TOLD_UPSERT ("hostname") ", " TS_TOLD_UPSERT ("os")

/* A registered machine seen now, with what the client told, kept if it
 * is the user's. '?' placeholders, not numbered: the statement may be
 * joined with the session's insert (ts_tx_exec_defer_beside()). */
#define TS_MACHINE_SEEN_TOLD                                                                       \
  "UPDATE machines SET last_seen = ?, " TS_TOLD_UPDATE ("components") ", " TS_TOLD_UPDATE (        \
      "hostname") ", " TS_TOLD_UPDATE ("os") " WHERE pool_id = ? AND machine_id = ?"

static gboolean
ts_machine_upsert (TsTx *tx, TsPool *pool, const char *machine_id, const char *user_id,
                   const TsMachineTold *told, gint64 now, GError **error)
{
  return ts_tx_exec_defer (tx, error, TS_MACHINE_UPSERT, "sssiisss", pool->id, machine_id, user_id,
                           now, now, told->components, told->hostname, told->os);
}

/* @seats: TS_SEATS_SELECT (TS_SEATS_OWNER). */
static gboolean
ts_activate_node_locked (TsTx *tx, const char *user_id, TsPool *pool, const char *machine_id,
                         const TsMachineTold *told, const TsSeats *seats, gint64 now,
                         GError **error)
{
  const char *owner = seats->owner;
  if (owner != NULL && !g_str_equal (owner, user_id))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED,
                   "machine %s is registered to another user of the %s node-locked pool of "
                   "organization %s: an owner or admin must remove it first",
                   machine_id, pool->product, pool->org_id);
      return FALSE;
    }
  /* The license moves: the user's sessions elsewhere end, the new machine
   * replaces the old registration. Sessions before machines: the order a
   * heartbeat locks them in. Nobody reads their changes: on PostgreSQL
   * they go with the COMMIT. */
  g_autofree char *reason = g_strdup_printf ("moved to machine %s", machine_id);
  return ts_tx_exec_defer (tx, error,
                           "UPDATE sessions SET ended_at = ?, end_code = ?, end_reason = ?"
                           " WHERE pool_id = ? AND user_id = ? AND machine_id <> ?"
                           " AND ended_at IS NULL",
                           "iissss", now, (gint64) TESSERA_ERROR_TERMINATED, reason, pool->id,
                           user_id, machine_id)
         && ts_tx_exec_defer (tx, error,
                              "DELETE FROM machines WHERE pool_id = ? AND user_id = ?"
                              " AND machine_id <> ?",
                              "sss", pool->id, user_id, machine_id)
         && ts_machine_upsert (tx, pool, machine_id, user_id, told, now, error);
}

/* PostgreSQL, a seat about to be taken: the pool row's bound keeps
 * counting it (store-common.h). @sessions: the pool's active sessions,
 * @exact (counted) or the row's bound (then, by TS_SEATS_SELECT, with room
 * below the quota). */
static gboolean
ts_seat_bound_keep (TsTx *tx, TsPool *pool, gint64 offline, gint64 sessions, gboolean exact,
                    const TsSeats *seats, GError **error)
{
  gint64 epoch = seats->epoch;
  /* Few enough to count each time: no bound to keep (TS_SEAT_TRACK). */
  if (exact && sessions + 1 < TS_SEAT_TRACK)
    return !seats->bounded
           || ts_tx_exec_defer (tx, error, "UPDATE pools SET seat_bound = NULL WHERE id = ?", "s",
                                pool->id);
  /* Half the room left (at least this seat: it was admitted), so that
   * the bound stays below the quota and the credits can be used. */
  gint64 k = CLAMP ((pool->quota - offline - sessions) / 2, 1, TS_SEAT_CREDITS);
  if (exact)
    {
      /* The count is the truth now: a new epoch voids every instance's
       * credits, which the old bound held. */
      ts_tx_seat_credits_on_commit (tx, pool->id, epoch + 1, k - 1);
      return ts_tx_exec_defer (tx, error,
                               "UPDATE pools SET seat_bound = ?, seat_epoch = ? WHERE id = ?",
                               "iis", sessions + k, epoch + 1, pool->id);
    }
  if (ts_tx_seat_credit_take (tx, pool->id, epoch))
    return TRUE;
  ts_tx_seat_credits_on_commit (tx, pool->id, epoch, k - 1);
  return ts_tx_exec_defer (tx, error, "UPDATE pools SET seat_bound = seat_bound + ? WHERE id = ?",
                           "is", k, pool->id);
}

/* *seats_out: the active sessions of the pool before this one (or a bound
 * above that number: see ts_tx_seats_bound()). @seats: TS_SEATS_SELECT. */
static gboolean
ts_activate_floating (TsTx *tx, const char *user_id, TsPool *pool, const char *machine_id,
                      const TsMachineTold *told, const TsSeats *seats, gint64 now,
                      gint64 *seats_out, GError **error)
{
  gint64 sessions = 0;
  gboolean row = ts_tx_seat_credits (tx);
  gboolean counted = seats->counted;
  /* The row's bound (when the query did not count), or the engine's. */
  gboolean bounded = row ? !counted : ts_tx_seats_bound (tx, pool->id, &sessions);
  gboolean registered = seats->owner != NULL;
  gint64 machines = seats->machines;
  gint64 offline = seats->offline;
  if (row && bounded)
    sessions = seats->bound;
  /* Counted by the query unless a bound was known when it was issued
   * (the engine's may be gone since: then counted here). */
  else if (!bounded && counted)
    sessions = seats->sessions;
  else if (!bounded && !ts_tx_count_sessions (tx, pool->id, now, &sessions, error))
    return FALSE;
  if (!registered && machines >= pool->quota)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED,
                   "all %" G_GINT64_FORMAT " machine registrations of the %s floating "
                   "licenses of organization %s are taken: an owner or admin must remove "
                   "a stale machine",
                   pool->quota, pool->product, pool->org_id);
      return FALSE;
    }
  /* A bound that leaves room is enough; only near the quota are the
   * sessions counted exactly. */
  if (bounded && sessions + offline >= pool->quota)
    {
      if (!ts_tx_count_sessions (tx, pool->id, now, &sessions, error))
        return FALSE;
      bounded = FALSE;
    }
  *seats_out = sessions;
  if (sessions + offline >= pool->quota)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                   "all %" G_GINT64_FORMAT " %s floating licenses of organization %s are in use",
                   pool->quota, pool->product, pool->org_id);
      return FALSE;
    }
  if (row && !ts_seat_bound_keep (tx, pool, offline, sessions, !bounded, seats, error))
    return FALSE;
  /* Registered: seen now, to the minute (TS_MACHINE_SEEN_PRECISION),
   * unless the client told something to keep. */
  gboolean told_any = told->components != NULL || told->hostname != NULL || told->os != NULL;
  if (registered && told_any)
    return ts_tx_exec_defer (tx, error, TS_MACHINE_SEEN_TOLD, "issssssss", now, user_id,
                             told->components, user_id, told->hostname, user_id, told->os, pool->id,
                             machine_id);
  if (registered)
    return now - seats->last_seen < TS_MACHINE_SEEN_PRECISION
           || ts_tx_exec_defer (tx, error,
                                "UPDATE machines SET last_seen = ? WHERE pool_id = ?"
                                " AND machine_id = ?",
                                "iss", now, pool->id, machine_id);
  return ts_machine_upsert (tx, pool, machine_id, user_id, told, now, error);
}

/* The session of an earlier try with @nonce: the same session back, never
 * a second seat. */
static TsSession *
ts_activation_retry (TsSessionRow *row, const char *machine_id, const char *nonce, gint64 now,
                     GError **error)
{
  if (row->ended || row->session->lease_expires_at <= now)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED,
                 "the session of this activation (nonce %s) has ended: %s", nonce,
                 row->ended ? row->end_reason : "lease expired");
  else if (!g_str_equal (row->session->machine_id, machine_id))
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "nonce %s was already used on machine %s", nonce, row->session->machine_id);
  else
    return g_steal_pointer (&row->session);
  return NULL;
}

/* A new session on @machine_id, the pool's seat rules checked. @seats:
 * TS_SEATS_SELECT, read before any machine was recognized. */
static TsSession *
ts_activation_new (TsTx *tx, const char *user_id, TsPool *pool, const char *machine_id,
                   const char *components, const TsClientInfo *info, const char *nonce,
                   gint64 lease_seconds, gint64 now, TsSeats *seats, GError **error)
{
  if (now >= pool->subscription_end)
    {
      g_autoptr (GDateTime) end = g_date_time_new_from_unix_utc (pool->subscription_end);
      g_autofree char *date = end ? g_date_time_format (end, "%F") : g_strdup ("?");
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED,
                   "the %s %s subscription of organization %s ended on %s: it must be renewed",
                   pool->product, pool->kind, pool->org_id, date);
      return NULL;
    }
  gboolean floating = !g_str_equal (pool->kind, "node-locked");
  gint64 taken = 0;
  g_autoptr (TsSession) s = g_new0 (TsSession, 1);
  s->id = ts_new_id ();
  s->org_id = g_strdup (pool->org_id);
  s->pool_id = g_strdup (pool->id);
  s->product = g_strdup (pool->product);
  s->kind = g_strdup (pool->kind);
  s->user_id = g_strdup (user_id);
  s->machine_id = g_strdup (machine_id);
  s->nonce = g_strdup (nonce);
  s->started_at = now;
  s->last_heartbeat = now;
  s->lease_expires_at = now + lease_seconds;
  s->subscription_end = pool->subscription_end;
  const char *hostname = info != NULL ? info->hostname : NULL;
  const char *os = info != NULL ? info->os : NULL;
  /* The session's insert goes beside the write deferred before it (the
   * machine's row, or the pool row's bound), which it does not read: one
   * statement on PostgreSQL. The unique (pool, user, nonce) index is the
   * last word on idempotence: under the pool's lock (and SQLite's one
   * writer) a conflict cannot happen, and if it ever did the transaction
   * would fail as a whole (PostgreSQL: UNAVAILABLE, whose retry finds the
   * session). */
  gboolean renamed = FALSE;
  /* Only a machine ID new to the pool can be a machine recognized: a
   * registered one (seats: its owner) needs no look. */
  gboolean ok = components == NULL || seats->owner != NULL
                || ts_recognize (tx, user_id, pool, machine_id, components, now, &renamed, error);
  /* A machine recognized took this ID: registered to this user now, and
   * the pool's count of machines unchanged. */
  if (ok && renamed)
    {
      g_free (seats->owner);
      seats->owner = g_strdup (user_id);
      seats->last_seen = now;
    }
  TsMachineTold told = { components, hostname, os };
  ok = ok
       && (floating
               ? ts_activate_floating (tx, user_id, pool, machine_id, &told, seats, now, &taken,
                                       error)
               : ts_activate_node_locked (tx, user_id, pool, machine_id, &told, seats, now, error))
       && ts_tx_exec_defer_beside (tx, error,
                                   "INSERT INTO sessions (id, pool_id, user_id, machine_id, nonce,"
                                   " started_at, last_heartbeat, lease_expires_at, hostname, os)"
                                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   "sssssiiiss", s->id, pool->id, user_id, machine_id, nonce, now,
                                   now, s->lease_expires_at, hostname, os);
  if (!ok)
    return NULL;
  if (floating)
    ts_tx_seats_set_bound (tx, pool->id, taken + 1);
  return g_steal_pointer (&s);
}

TsSession *
ts_store_activate_as (TsStore *store, TsCaller *who, const char *org_id, const char *product,
                      const char *machine_id, const char *components, const TsClientInfo *info,
                      const char *nonce, gint64 lease_seconds, gint64 now, GError **error)
{
  /* Checked by the HTTP layer; checked again for any other caller. */
  if (!ts_caller_check (who, error) || !ts_check_product (product, error)
      || !ts_check_machine_id (machine_id, error) || !ts_check_nonce (nonce, error)
      || !ts_check_lease (lease_seconds, error)
      || (org_id != NULL && !ts_check_org_id (org_id, error))
      || (components != NULL && !tessera_machine_digests_check (components, error))
      || !ts_check_client_info (info, error))
    return NULL;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  g_autoptr (TsPool) chosen = NULL;
  g_autoptr (TsPool) pool = NULL;
  g_autoptr (TsRows) locked = NULL, counts = NULL;
  TsSeats seats = { 0 };
  TsSessionRow row = { 0 };
  gboolean found = FALSE;
  TsSession *result = NULL;
  g_autofree char *guess_key = ts_tx_row_locks (tx) ? ts_guess_key (who, org_id, product) : NULL;
  g_autoptr (TsPoolGuess) guess = guess_key != NULL ? ts_guess_get (store, guess_key) : NULL;
  gboolean ok = FALSE;
  if (guess != NULL)
    {
      /* The choice, the guessed pool's lock and its seat count: one round
       * trip, statements run in this order (see TsPoolGuess). */
      TsRows *choice = ts_choice_query (tx, who, org_id, product, error);
      if (choice != NULL
          && ((locked = ts_tx_pool_query (tx, guess->org_id, guess->pool_id, error)) == NULL
              || (counts = ts_seats_query (tx, guess->pool_id, guess->kind, machine_id,
                                           guess->user_id, nonce, now, error))
                     == NULL))
        g_clear_pointer (&choice, ts_rows_free);
      chosen = choice != NULL ? ts_choice_read (tx, choice, who, org_id, product, error) : NULL;
      if (chosen == NULL)
        ts_guess_forget (store, guess_key);
      else if (ts_guess_holds (guess, chosen, ts_caller_user (who)))
        ok = (pool = ts_tx_pool_read (locked, chosen->org_id, chosen->id, error)) != NULL
             && ts_seats_read (counts, &seats, error);
      else
        {
          /* Another pool now: let go of the guessed one's lock and start
           * again, without a guess. */
          ts_guess_forget (store, guess_key);
          g_clear_pointer (&chosen, ts_pool_free);
          g_clear_pointer (&locked, ts_rows_free);
          g_clear_pointer (&counts, ts_rows_free);
          g_clear_pointer (&guess, ts_pool_guess_free);
          ts_tx_finish (tx, FALSE, NULL);
          if ((tx = ts_tx_begin (store, TS_TX_WRITE, error)) == NULL)
            return NULL;
        }
    }
  /* With row locks, the pool is read again under its lock, which holds
   * until the commit: its quota and end as they are now, and the counts
   * (with the retry check), the recognition and the insert below one step
   * for every instance sharing the database. Both queries are issued
   * before either is read (one round trip on PostgreSQL); each is still
   * its own statement, run after the one before it, so the counts start
   * once the lock is held. */
  if (guess == NULL)
    {
      ok = (chosen = ts_choice_read (tx, ts_choice_query (tx, who, org_id, product, error), who,
                                     org_id, product, error))
               != NULL
           && (!ts_tx_row_locks (tx)
               || (locked = ts_tx_pool_query (tx, chosen->org_id, chosen->id, error)) != NULL)
           && (counts = ts_seats_query (tx, chosen->id, chosen->kind, machine_id,
                                        ts_caller_user (who), nonce, now, error))
                  != NULL
           && (locked == NULL
               || (pool = ts_tx_pool_read (locked, chosen->org_id, chosen->id, error)) != NULL)
           && ts_seats_read (counts, &seats, error);
      if (chosen != NULL && guess_key != NULL)
        ts_guess_set (store, guess_key, chosen, ts_caller_user (who));
    }
  /* An earlier try's session (rare): loaded, under its lock. */
  ok = ok
       && (seats.retry == NULL
           || ts_tx_load_session (tx, &row, &found, error, "WHERE s.id = ?", seats.retry, NULL,
                                  NULL));
  if (ok && pool == NULL)
    pool = g_steal_pointer (&chosen);
  if (ok)
    {
      result = found ? ts_activation_retry (&row, machine_id, nonce, now, error)
                     : ts_activation_new (tx, ts_caller_user (who), pool, machine_id, components,
                                          info, nonce, lease_seconds, now, &seats, error);
      ok = result != NULL;
    }
  g_clear_pointer (&locked, ts_rows_free);
  g_clear_pointer (&counts, ts_rows_free);
  ts_seats_clear (&seats);
  ts_tx_session_row_clear (&row);
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&result, ts_session_free);
  return result;
}

TsSession *
ts_store_activate_client (TsStore *store, const char *user_id, const char *org_id,
                          const char *product, const char *machine_id, const char *components,
                          const TsClientInfo *info, const char *nonce, gint64 lease_seconds,
                          gint64 now, GError **error)
{
  TsCaller who = { .user_id = user_id };
  return ts_store_activate_as (store, &who, org_id, product, machine_id, components, info, nonce,
                               lease_seconds, now, error);
}

TsSession *
ts_store_activate_components (TsStore *store, const char *user_id, const char *org_id,
                              const char *product, const char *machine_id, const char *components,
                              const char *nonce, gint64 lease_seconds, gint64 now, GError **error)
{
  return ts_store_activate_client (store, user_id, org_id, product, machine_id, components, NULL,
                                   nonce, lease_seconds, now, error);
}

TsSession *
ts_store_activate (TsStore *store, const char *user_id, const char *org_id, const char *product,
                   const char *machine_id, const char *nonce, gint64 lease_seconds, gint64 now,
                   GError **error)
{
  return ts_store_activate_components (store, user_id, org_id, product, machine_id, NULL, nonce,
                                       lease_seconds, now, error);
}
