/* tessera-server: usage history counted in memory (usage.h). */
#include "usage.h"

#include <string.h>

#define TS_HOUR 3600

struct _TsUsage
{
  TsStore *store;
  gint retention_days;
  GMutex lock; /* @counts */
  /* key (see ts_usage_key()) -> TsUsageCount* */
  GHashTable *counts;
  GMutex flush_lock; /* what follows: one flush at a time */
  gint64 from;       /* the sweep of sessions has covered up to here */
  gint64 pruned_at;
  GHashTable *seen; /* ts_store_usage_add()'s */
};

TsUsage *
ts_usage_new (TsStore *store, gint retention_days, gint64 now)
{
  TsUsage *u = g_new0 (TsUsage, 1);
  u->store = store;
  u->retention_days = retention_days;
  g_mutex_init (&u->lock);
  g_mutex_init (&u->flush_lock);
  u->counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) ts_usage_count_free);
  u->seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  u->from = now;
  return u;
}

void
ts_usage_free (TsUsage *u, gint64 now, GError **error)
{
  if (u == NULL)
    return;
  ts_usage_flush (u, now, error);
  g_hash_table_unref (u->counts);
  g_hash_table_unref (u->seen);
  g_mutex_clear (&u->lock);
  g_mutex_clear (&u->flush_lock);
  g_free (u);
}

/* The count of *@key, under u->lock; a new one (*@fresh) takes *@key and
 * sets it to NULL. */
static TsUsageCount *
ts_usage_slot (TsUsage *u, char **key, gboolean *fresh)
{
  TsUsageCount *c = g_hash_table_lookup (u->counts, *key);
  *fresh = c == NULL;
  if (c == NULL)
    {
      c = g_new0 (TsUsageCount, 1);
      g_hash_table_insert (u->counts, *key, c);
      *key = NULL;
    }
  return c;
}

void
ts_usage_activated (TsUsage *u, const char *pool_id, gint64 now)
{
  if (u == NULL)
    return;
  gint64 hour = now - now % TS_HOUR;
  char *key = g_strdup_printf ("a\x1f%s\x1f%" G_GINT64_FORMAT, pool_id, hour);
  gboolean fresh;
  g_mutex_lock (&u->lock);
  TsUsageCount *c = ts_usage_slot (u, &key, &fresh);
  if (fresh)
    {
      c->pool_id = g_strdup (pool_id);
      c->hour = hour;
    }
  c->activations++;
  g_mutex_unlock (&u->lock);
  g_free (key);
}

void
ts_usage_refused (TsUsage *u, const char *user_id, const char *org_id, const char *product,
                  const GError *error, gint64 now)
{
  if (u == NULL || error == NULL || error->domain != TESSERA_ERROR)
    return;
  TsUsageRefusal reason;
  switch (error->code)
    {
    case TESSERA_ERROR_QUOTA_EXCEEDED:
      reason = TS_USAGE_REFUSED_QUOTA;
      break;
    case TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED:
      reason = TS_USAGE_REFUSED_MACHINES;
      break;
    case TESSERA_ERROR_EXPIRED:
      reason = TS_USAGE_REFUSED_EXPIRED;
      break;
    default:
      return;
    }
  gint64 hour = now - now % TS_HOUR;
  /* The reason is part of the key: a quota refusal is looked for in the
   * floating pool only (ts_store_usage_add()). */
  char *key = g_strdup_printf ("r\x1f%s\x1f%s\x1f%s\x1f%d\x1f%" G_GINT64_FORMAT, user_id,
                               org_id != NULL ? org_id : "", product, (int) reason, hour);
  gboolean fresh;
  g_mutex_lock (&u->lock);
  TsUsageCount *c = ts_usage_slot (u, &key, &fresh);
  if (fresh)
    {
      c->user_id = g_strdup (user_id);
      c->org_id = g_strdup (org_id);
      c->product = g_strdup (product);
      c->hour = hour;
    }
  c->refused[reason]++;
  g_mutex_unlock (&u->lock);
  g_free (key);
}

/* Gives the counts of a failed flush back, added to those since. */
static void
ts_usage_restore (TsUsage *u, GHashTable *taken)
{
  GHashTableIter it;
  gpointer key, value;
  g_mutex_lock (&u->lock);
  g_hash_table_iter_init (&it, taken);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      TsUsageCount *c = value, *now = g_hash_table_lookup (u->counts, key);
      if (now != NULL)
        {
          now->activations += c->activations;
          for (int r = 0; r < TS_USAGE_REFUSALS; r++)
            now->refused[r] += c->refused[r];
          continue;
        }
      g_hash_table_iter_steal (&it);
      g_hash_table_insert (u->counts, key, c);
    }
  g_mutex_unlock (&u->lock);
}

static gboolean
ts_seen_old (gpointer key, gpointer value, gpointer data)
{
  (void) value;
  /* key: POOL \x1f HOUR \x1f ... */
  const char *sep = strchr (key, '\x1f');
  gint64 hour = sep != NULL ? g_ascii_strtoll (sep + 1, NULL, 10) : 0;
  return hour < *(const gint64 *) data;
}

gboolean
ts_usage_flush (TsUsage *u, gint64 now, GError **error)
{
  g_mutex_lock (&u->flush_lock);
  g_mutex_lock (&u->lock);
  GHashTable *taken = u->counts;
  u->counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) ts_usage_count_free);
  g_mutex_unlock (&u->lock);
  /* Nothing counted and no time gone by since the last flush (the usage
   * API asked again within the second): no write. */
  gboolean idle = g_hash_table_size (taken) == 0 && MAX (now + 1, u->from) == u->from;
  if (idle)
    {
      g_hash_table_unref (taken);
      g_mutex_unlock (&u->flush_lock);
      return TRUE;
    }
  g_autoptr (GPtrArray) list = g_ptr_array_new ();
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, taken);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (list, value);
  /* Through the second @now itself: a session that began in it is in use. */
  gint64 to = MAX (now + 1, u->from);
  gboolean ok = ts_store_usage_add (u->store, list, u->from, to, u->seen, error);
  if (ok)
    {
      u->from = to;
      /* Only the current hour's users and machines can come again. */
      gint64 current = to - to % TS_HOUR;
      g_hash_table_foreach_remove (u->seen, ts_seen_old, &current);
    }
  else
    ts_usage_restore (u, taken);
  g_hash_table_unref (taken);
  if (ok && now - u->pruned_at >= TS_HOUR)
    {
      ok = ts_store_usage_prune (u->store, now - (gint64) u->retention_days * 86400, NULL, error);
      if (ok)
        u->pruned_at = now;
    }
  g_mutex_unlock (&u->flush_lock);
  return ok;
}
