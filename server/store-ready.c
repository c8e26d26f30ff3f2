/* tessera-store: readiness (GET /api/v1/ready). A load balancer should send
 * requests only to an instance whose database takes writes: activations,
 * releases and audit records all write. */
#include "db.h"

#include <string.h>

/* What to tell a caller who may not see the log: the kind of failure
 * (the engine's own message names the database's location). */
static const char *
ts_ready_reason (const char *msg)
{
  static const struct
  {
    const char *mark;
    const char *reason;
  } kinds[] = {
    { "disk is full", "the disk holding the database is full: free space on it" },
    { "No space left", "the disk holding the database is full: free space on it" },
    { "read-only", "the database is read-only: make it writable again" },
    { "readonly", "the database is read-only: make it writable again" },
    { "cannot connect", "PostgreSQL cannot be reached: start it or check the network" },
    { "connection", "PostgreSQL cannot be reached: start it or check the network" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (strstr (msg, kinds[i].mark) != NULL)
      return kinds[i].reason;
  return "the database refused a write: the server's log says why";
}

/* The check itself, a write every time. */
static gboolean
ts_store_write_probe (TsStore *store, char **detail, GError **error)
{
  GError *local = NULL;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, &local);
  /* A row written and taken back, so the commit really writes: an empty
   * transaction, or a row rewritten unchanged (SQLite skips identical
   * pages), writes nothing and would pass on a full disk. The row never
   * becomes visible (version -1: no migration's number). */
  gboolean ok
      = tx != NULL
        && ts_tx_exec (tx, &local, NULL,
                       "INSERT INTO schema_version (version, applied_at) VALUES (-1, ?)", "i",
                       g_get_real_time () / G_USEC_PER_SEC)
        && ts_tx_exec (tx, &local, NULL, "DELETE FROM schema_version WHERE version = -1", NULL);
  if (tx != NULL)
    ok = ts_tx_finish (tx, ok, ok ? &local : NULL) && ok;
  if (ok)
    return TRUE;
  const char *msg = local != NULL ? local->message : "";
  g_set_error_literal (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE, ts_ready_reason (msg));
  if (detail != NULL)
    *detail = g_strdup (msg);
  g_clear_error (&local);
  return FALSE;
}

/* The last answer: @at > 0 (a check finished). Called locked. */
static gboolean
ts_store_ready_cached (TsStore *store, GError **error)
{
  if (!store->ready.ok)
    g_set_error_literal (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE, store->ready.reason);
  return store->ready.ok;
}

gboolean
ts_store_check_writable (TsStore *store, gint64 now_us, char **detail, GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  if (detail != NULL)
    *detail = NULL;
  g_mutex_lock (&store->ready.lock);
  /* While a check is under way (PostgreSQL down: it may wait for a
   * connection), others answer at once with the last answer rather than
   * queue behind it and hold the workers; only the very first ones wait. */
  while (store->ready.running && store->ready.at == 0)
    g_cond_wait (&store->ready.done, &store->ready.lock);
  if (store->ready.at != 0 && (store->ready.running || now_us - store->ready.at < G_USEC_PER_SEC))
    {
      gboolean ok = ts_store_ready_cached (store, error);
      g_mutex_unlock (&store->ready.lock);
      return ok;
    }
  store->ready.running = TRUE;
  g_mutex_unlock (&store->ready.lock);

  GError *local = NULL;
  gboolean ok = ts_store_write_probe (store, detail, &local);

  g_mutex_lock (&store->ready.lock);
  store->ready.running = FALSE;
  /* Time from the caller's clock, so a second is a second of its clock. */
  store->ready.at = MAX (now_us, 1);
  store->ready.ok = ok;
  g_free (store->ready.reason);
  store->ready.reason
      = ok ? NULL : g_strdup (local != NULL ? local->message : ts_ready_reason (""));
  g_cond_broadcast (&store->ready.done);
  g_mutex_unlock (&store->ready.lock);
  if (local != NULL)
    g_propagate_error (error, local);
  return ok;
}
