/* tessera-store: usage history (store.h, "usage history"), written once
 * over db.h for both engines.
 *
 * Nothing here runs inside an activation. Activations and refusals are
 * counted in memory by each instance (server/usage.c) and added here in
 * batches. Peaks and distinct users and machines are not counted at all:
 * the sessions table keeps every session with its start and end, so each
 * batch reads the sessions in use during its interval and merges what it
 * finds (max, insert-or-ignore). That is exact whichever instance served
 * them, and several instances writing the same hours agree. */
#include "db.h"

#include <stdlib.h>

#define TS_HOUR 3600

void
ts_usage_count_free (TsUsageCount *c)
{
  if (c == NULL)
    return;
  g_free (c->pool_id);
  g_free (c->user_id);
  g_free (c->org_id);
  g_free (c->product);
  g_free (c);
}

const char *
ts_usage_refusal_name (TsUsageRefusal reason)
{
  switch (reason)
    {
    case TS_USAGE_REFUSED_QUOTA:
      return "quota";
    case TS_USAGE_REFUSED_MACHINES:
      return "machine_quota";
    case TS_USAGE_REFUSED_EXPIRED:
      return "expired";
    default:
      return "?";
    }
}

/* The pool a refused activation was refused from, by the rules activation
 * chooses with (store-activate.c): the one organization with the product,
 * its node-locked pool when the user holds a grant in it, else its
 * floating one; a quota refusal only ever comes from a floating pool.
 * Returns (transfer full) its id, or NULL when none fits any more. */
static char *
ts_usage_refused_pool (TsTx *tx, const TsUsageCount *c, GError **error, gboolean *ok)
{
  g_autoptr (TsRows) rows = ts_tx_rows (
      tx, error,
      "SELECT p.id, p.org_id, p.kind,"
      " CASE WHEN EXISTS (SELECT 1 FROM grants g WHERE g.pool_id = p.id AND g.user_id = ?1)"
      " THEN 1 ELSE 0 END"
      " FROM members m JOIN pools p ON p.org_id = m.org_id AND p.product = ?2"
      " WHERE m.user_id = ?1 AND (?3 IS NULL OR m.org_id = ?3) ORDER BY p.org_id, p.kind",
      "sss", c->user_id, c->product, c->org_id);
  *ok = rows != NULL;
  if (rows == NULL)
    return NULL;
  g_autofree char *org = NULL, *floating = NULL, *node_locked = NULL;
  gboolean several = FALSE;
  while (ts_rows_next (rows, error))
    {
      g_autofree char *o = ts_rows_strdup (rows, 1);
      if (org != NULL && !g_str_equal (org, o))
        several = TRUE;
      if (org == NULL)
        org = g_strdup (o);
      g_autofree char *kind = ts_rows_strdup (rows, 2);
      if (g_str_equal (kind, "floating"))
        floating = ts_rows_strdup (rows, 0);
      else if (ts_rows_int (rows, 3) != 0)
        node_locked = ts_rows_strdup (rows, 0);
    }
  *ok = ts_rows_ok (rows);
  if (!*ok || several)
    return NULL;
  if (c->refused[TS_USAGE_REFUSED_QUOTA] == 0 && node_locked != NULL)
    return g_steal_pointer (&node_locked);
  return g_steal_pointer (&floating);
}

static gboolean
ts_usage_add_count (TsTx *tx, const char *pool_id, const TsUsageCount *c, GError **error)
{
  return ts_tx_exec (tx, error, NULL,
                     "INSERT INTO usage_hours (pool_id, hour, quota, activations, refused_quota,"
                     " refused_machines, refused_expired)"
                     " VALUES (?1, ?2, (SELECT quota FROM pools WHERE id = ?1), ?3, ?4, ?5, ?6)"
                     " ON CONFLICT (pool_id, hour) DO UPDATE SET quota = excluded.quota,"
                     " activations = usage_hours.activations + excluded.activations,"
                     " refused_quota = usage_hours.refused_quota + excluded.refused_quota,"
                     " refused_machines = usage_hours.refused_machines + excluded.refused_machines,"
                     " refused_expired = usage_hours.refused_expired + excluded.refused_expired",
                     "siiiii", pool_id, c->hour, c->activations, c->refused[TS_USAGE_REFUSED_QUOTA],
                     c->refused[TS_USAGE_REFUSED_MACHINES], c->refused[TS_USAGE_REFUSED_EXPIRED]);
}

/* ---- the sweep of sessions ---- */

typedef struct
{
  gint64 start, end; /* in use during [start, end) */
  char *user_id;
  char *machine_id;
} TsUse;

static void
ts_use_free (gpointer p)
{
  TsUse *u = p;
  g_free (u->user_id);
  g_free (u->machine_id);
  g_free (u);
}

typedef struct
{
  gint64 at;
  int delta; /* -1 an end, +1 a start */
} TsUseEvent;

static int
ts_use_event_cmp (gconstpointer a, gconstpointer b)
{
  const TsUseEvent *x = a, *y = b;
  if (x->at != y->at)
    return x->at < y->at ? -1 : 1;
  /* A seat given back at the moment another is taken was not held twice. */
  return x->delta - y->delta;
}

/* The most of @uses in use at once within [@t0, @t1). */
static gint64
ts_use_peak (GPtrArray *uses, gint64 t0, gint64 t1)
{
  g_autoptr (GArray) events = g_array_new (FALSE, FALSE, sizeof (TsUseEvent));
  for (guint i = 0; i < uses->len; i++)
    {
      const TsUse *u = uses->pdata[i];
      if (u->start >= t1 || u->end <= t0)
        continue;
      TsUseEvent up = { MAX (u->start, t0), +1 }, down = { u->end, -1 };
      g_array_append_val (events, up);
      if (u->end < t1)
        g_array_append_val (events, down);
    }
  g_array_sort (events, ts_use_event_cmp);
  gint64 now = 0, peak = 0;
  for (guint i = 0; i < events->len; i++)
    {
      now += g_array_index (events, TsUseEvent, i).delta;
      peak = MAX (peak, now);
    }
  return peak;
}

/* The key of @seen for a user ('u') or machine ('m') @id of a pool-hour. */
static char *
ts_seen_key (const char *pool_id, gint64 hour, char kind, const char *id)
{
  return g_strdup_printf ("%s\x1f%" G_GINT64_FORMAT "\x1f%c\x1f%s", pool_id, hour, kind, id);
}

static gboolean
ts_usage_sweep_pool (TsTx *tx, const char *pool_id, GPtrArray *uses, gint64 from, gint64 now,
                     GHashTable *seen, GHashTable *written, GError **error)
{
  for (gint64 hour = from - from % TS_HOUR; hour < now; hour += TS_HOUR)
    {
      gint64 t0 = MAX (hour, from), t1 = MIN (hour + TS_HOUR, now);
      gint64 peak = ts_use_peak (uses, t0, t1);
      if (peak == 0)
        continue;
      if (!ts_tx_exec (tx, error, NULL,
                       ts_tx_sql (tx,
                                  "INSERT INTO usage_hours (pool_id, hour, quota, peak)"
                                  " VALUES (?1, ?2, (SELECT quota FROM pools WHERE id = ?1), ?3)"
                                  " ON CONFLICT (pool_id, hour) DO UPDATE SET"
                                  " quota = excluded.quota,"
                                  " peak = max (usage_hours.peak, excluded.peak)",
                                  "INSERT INTO usage_hours (pool_id, hour, quota, peak)"
                                  " VALUES (?1, ?2, (SELECT quota FROM pools WHERE id = ?1), ?3)"
                                  " ON CONFLICT (pool_id, hour) DO UPDATE SET"
                                  " quota = excluded.quota,"
                                  " peak = GREATEST (usage_hours.peak, excluded.peak)"),
                       "sii", pool_id, hour, peak))
        return FALSE;
      for (guint i = 0; i < uses->len; i++)
        {
          const TsUse *u = uses->pdata[i];
          if (u->start >= t1 || u->end <= t0)
            continue;
          const char kinds[] = { 'u', 'm' };
          const char *ids[] = { u->user_id, u->machine_id };
          for (guint k = 0; k < 2; k++)
            {
              char *key = ts_seen_key (pool_id, hour, kinds[k], ids[k]);
              if (seen != NULL && g_hash_table_contains (seen, key))
                {
                  g_free (key);
                  continue;
                }
              if (!g_hash_table_add (written, key))
                continue; /* @written took @key in place of its equal */
              char kind[2] = { kinds[k], '\0' };
              if (!ts_tx_exec (tx, error, NULL,
                               "INSERT INTO usage_seen (pool_id, hour, kind, id)"
                               " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               "siss", pool_id, hour, kind, ids[k]))
                return FALSE;
            }
        }
    }
  return TRUE;
}

/* The sessions in use at some time within [@from, @now), by pool. */
static gboolean
ts_usage_sweep (TsTx *tx, gint64 from, gint64 now, GHashTable *seen, GHashTable *written,
                GError **error)
{
  if (now <= from)
    return TRUE;
  /* Two selects, each over an index (sessions_active's leading pool_id is
   * not known here): the sessions still open, and those ended since. A
   * reaped session ended when its lease ran out. */
  g_autoptr (TsRows) rows
      = ts_tx_rows (tx, error,
                    "SELECT pool_id, user_id, machine_id, started_at, lease_expires_at"
                    " FROM sessions WHERE ended_at IS NULL AND lease_expires_at > ?1"
                    " AND started_at < ?2"
                    " UNION ALL SELECT pool_id, user_id, machine_id, started_at,"
                    " CASE WHEN ended_at < lease_expires_at THEN ended_at"
                    " ELSE lease_expires_at END"
                    " FROM sessions WHERE ended_at > ?1 AND started_at < ?2",
                    "ii", from, now);
  if (rows == NULL)
    return FALSE;
  g_autoptr (GHashTable) pools
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  while (ts_rows_next (rows, error))
    {
      TsUse *u = g_new0 (TsUse, 1);
      char *pool_id = ts_rows_strdup (rows, 0);
      u->user_id = ts_rows_strdup (rows, 1);
      u->machine_id = ts_rows_strdup (rows, 2);
      u->start = ts_rows_int (rows, 3);
      u->end = ts_rows_int (rows, 4);
      GPtrArray *uses = g_hash_table_lookup (pools, pool_id);
      if (uses == NULL)
        {
          uses = g_ptr_array_new_with_free_func (ts_use_free);
          g_hash_table_insert (pools, pool_id, uses);
        }
      else
        g_free (pool_id);
      g_ptr_array_add (uses, u);
    }
  if (!ts_rows_ok (rows))
    return FALSE;
  g_clear_pointer (&rows, ts_rows_free);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, pools);
  while (g_hash_table_iter_next (&it, &key, &value))
    if (!ts_usage_sweep_pool (tx, key, value, from, now, seen, written, error))
      return FALSE;
  return TRUE;
}

gboolean
ts_store_usage_add (TsStore *store, GPtrArray *counts, gint64 from, gint64 now, GHashTable *seen,
                    GError **error)
{
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  g_autoptr (GHashTable) written = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  /* Instances write their batches one after the other: each upserts many
   * rows in no particular order, and two doing so at once could deadlock.
   * A batch a minute per instance is no contention. */
  gboolean ok = ts_tx_lock_table (tx, "usage_hours", error);
  for (guint i = 0; ok && counts != NULL && i < counts->len; i++)
    {
      const TsUsageCount *c = counts->pdata[i];
      g_autofree char *pool_id
          = c->pool_id != NULL ? g_strdup (c->pool_id) : ts_usage_refused_pool (tx, c, error, &ok);
      /* A pool that is gone, or a refusal no pool answers for any more
       * (the user left): nothing to add it to. */
      if (ok && pool_id != NULL)
        {
          gboolean exists = FALSE;
          gint64 one = 0;
          ok = ts_tx_int (tx, error, &one, &exists, "SELECT 1 FROM pools WHERE id = ?", "s",
                          pool_id)
               && (!exists || ts_usage_add_count (tx, pool_id, c, error));
        }
    }
  ok = ok && ts_usage_sweep (tx, from, now, seen, written, error);
  if (!ts_tx_finish (tx, ok, error))
    return FALSE;
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, written);
  while (seen != NULL && g_hash_table_iter_next (&it, &key, NULL))
    {
      g_hash_table_iter_steal (&it);
      g_hash_table_add (seen, key);
    }
  return TRUE;
}

/* ---- reading and pruning ---- */

GBytes *
ts_usage_hours_csv (GPtrArray *hours)
{
  GString *csv = g_string_new ("hour,peak,quota,activations");
  for (int r = 0; r < TS_USAGE_REFUSALS; r++)
    g_string_append_printf (csv, ",refused_%s", ts_usage_refusal_name (r));
  g_string_append (csv, ",users,machines\r\n");
  for (guint i = 0; i < hours->len; i++)
    {
      const TsUsageHour *h = hours->pdata[i];
      g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (h->hour);
      g_autofree char *at = dt != NULL ? g_date_time_format (dt, "%FT%TZ") : g_strdup ("?");
      g_string_append_printf (csv, "%s,%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT,
                              at, h->peak, h->quota, h->activations);
      for (int r = 0; r < TS_USAGE_REFUSALS; r++)
        g_string_append_printf (csv, ",%" G_GINT64_FORMAT, h->refused[r]);
      g_string_append_printf (csv, ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "\r\n", h->users,
                              h->machines);
    }
  return g_string_free_to_bytes (csv);
}

static gpointer
ts_usage_hour_from_row (TsRows *rows)
{
  TsUsageHour *h = g_new0 (TsUsageHour, 1);
  h->hour = ts_rows_int (rows, 0);
  h->peak = ts_rows_int (rows, 1);
  h->quota = ts_rows_int (rows, 2);
  h->activations = ts_rows_int (rows, 3);
  for (int r = 0; r < TS_USAGE_REFUSALS; r++)
    h->refused[r] = ts_rows_int (rows, 4 + r);
  h->users = ts_rows_int (rows, 7);
  h->machines = ts_rows_int (rows, 8);
  return h;
}

GPtrArray *
ts_store_usage_list (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                     gint64 since, gint64 until, GError **error)
{
  if (!ts_check_org_id (org_id, error) || !ts_check_id ("pool_id", pool_id, error))
    return NULL;
  if (since >= until)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "the start of the period must come before its end");
      return NULL;
    }
  return ts_tx_list_rows (
      store, actor, org_id, pool_id, ts_usage_hour_from_row, g_free, error,
      "SELECT h.hour, h.peak, h.quota, h.activations, h.refused_quota, h.refused_machines,"
      " h.refused_expired,"
      " (SELECT count(*) FROM usage_seen s WHERE s.pool_id = h.pool_id AND s.hour = h.hour"
      "  AND s.kind = 'u'),"
      " (SELECT count(*) FROM usage_seen s WHERE s.pool_id = h.pool_id AND s.hour = h.hour"
      "  AND s.kind = 'm')"
      " FROM usage_hours h WHERE h.pool_id = ? AND h.hour >= ? AND h.hour < ? ORDER BY h.hour",
      "sii", pool_id, since - since % TS_HOUR, until);
}

gboolean
ts_store_usage_prune (TsStore *store, gint64 before, gint64 *removed, GError **error)
{
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  gint64 n = 0;
  gboolean ok
      = ts_tx_lock_table (tx, "usage_hours", error)
        && ts_tx_exec (tx, error, NULL, "DELETE FROM usage_seen WHERE hour < ?", "i", before)
        && ts_tx_exec (tx, error, &n, "DELETE FROM usage_hours WHERE hour < ?", "i", before);
  if (!ts_tx_finish (tx, ok, error))
    return FALSE;
  if (removed != NULL)
    *removed = n;
  return TRUE;
}
