/* tessera-store: the pool an activation will choose, guessed (store-guess.h). */
#include "store-guess.h"

void
ts_pool_guess_free (TsPoolGuess *g)
{
  g_free (g->pool_id);
  g_free (g->org_id);
  g_free (g->kind);
  g_free (g->user_id);
  g_free (g);
}

static TsPoolGuess *
ts_pool_guess_new (const char *pool_id, const char *org_id, const char *kind, const char *user_id)
{
  TsPoolGuess *g = g_new (TsPoolGuess, 1);
  g->pool_id = g_strdup (pool_id);
  g->org_id = g_strdup (org_id);
  g->kind = g_strdup (kind);
  g->user_id = g_strdup (user_id);
  return g;
}

/* Guesses a store keeps: one per caller, organization and product. Past
 * this many, all are dropped (each caller's next activation is three round
 * trips again), so that memory stays bounded whatever callers come. */
#define TS_GUESSES_MAX 16384

char *
ts_guess_key (TsCaller *who, const char *org_id, const char *product)
{
  return g_strdup_printf ("%c%s\x1f%s\x1f%s", ts_caller_by_key (who) ? 'k' : 'u',
                          ts_caller_param (who), org_id != NULL ? org_id : "", product);
}

TsPoolGuess *
ts_guess_get (TsStore *store, const char *key)
{
  TsPoolGuess *copy = NULL;
  g_mutex_lock (&store->guesses.lock);
  const TsPoolGuess *g
      = store->guesses.pools != NULL ? g_hash_table_lookup (store->guesses.pools, key) : NULL;
  if (g != NULL)
    copy = ts_pool_guess_new (g->pool_id, g->org_id, g->kind, g->user_id);
  g_mutex_unlock (&store->guesses.lock);
  return copy;
}

void
ts_guess_set (TsStore *store, const char *key, const TsPool *pool, const char *user_id)
{
  TsPoolGuess *g = ts_pool_guess_new (pool->id, pool->org_id, pool->kind, user_id);
  g_mutex_lock (&store->guesses.lock);
  if (store->guesses.pools == NULL)
    store->guesses.pools = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                  (GDestroyNotify) ts_pool_guess_free);
  if (g_hash_table_size (store->guesses.pools) >= TS_GUESSES_MAX)
    g_hash_table_remove_all (store->guesses.pools);
  g_hash_table_replace (store->guesses.pools, g_strdup (key), g);
  g_mutex_unlock (&store->guesses.lock);
}

void
ts_guess_forget (TsStore *store, const char *key)
{
  g_mutex_lock (&store->guesses.lock);
  if (store->guesses.pools != NULL)
    g_hash_table_remove (store->guesses.pools, key);
  g_mutex_unlock (&store->guesses.lock);
}

gboolean
ts_guess_holds (const TsPoolGuess *guess, const TsPool *chosen, const char *user_id)
{
  return g_str_equal (guess->pool_id, chosen->id) && g_str_equal (guess->org_id, chosen->org_id)
         && g_str_equal (guess->kind, chosen->kind) && g_strcmp0 (guess->user_id, user_id) == 0;
}
