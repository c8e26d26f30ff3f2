/* tessera-store: the ts_store_* interface of store.h, forwarding each call to
 * the backend chosen by ts_store_open(): PostgreSQL (store-pg*.c) for a
 * postgresql:// or postgres:// URL (a libpq connection URI), the embedded
 * SQLite store (store-sqlite.c and friends, compiled as ts_sqlite_* through
 * store-sqlite-names.h) for anything else, a file path. Callers (the HTTP
 * layer, tessera-admin, the tests) see one opaque TsStore either way. */
#include "db.h"

#define TS_STORE_NO_SQLITE_RENAME
#include "store-pg.h"
#include "store-sqlite-names.h"

static gboolean
ts_store_is_postgresql_url (const char *location)
{
  return g_str_has_prefix (location, "postgresql://") || g_str_has_prefix (location, "postgres://");
}

TsStore *
ts_store_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  TsStore *store = g_new0 (TsStore, 1);
  if (ts_store_is_postgresql_url (path))
    {
      store->kind = TS_STORE_POSTGRESQL;
      store->pg = ts_pg_open (path, error);
    }
  else
    {
      store->kind = TS_STORE_SQLITE;
      store->sqlite = ts_sqlite_open (path, error);
    }
  if (store->kind == TS_STORE_POSTGRESQL ? store->pg == NULL : store->sqlite == NULL)
    g_clear_pointer (&store, g_free);
  return store;
}

void
ts_store_close (TsStore *store)
{
  if (store == NULL)
    return;
  if (store->kind == TS_STORE_POSTGRESQL)
    ts_pg_close (store->pg);
  else
    ts_sqlite_close (store->sqlite);
  g_free (store);
}

/* ---- forwarders: one per function of store.h ---- */

void
ts_signing_key_row_free (TsSigningKeyRow *row)
{
  if (row == NULL)
    return;
  g_free (row->id);
  g_free (row->public_key);
  g_free (row->sealed);
  g_free (row);
}

void
ts_store_heartbeat_async (TsStore *store, const char *user_id, const char *session_id,
                          gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    {
      /* Each heartbeat is its own transaction there: nothing to wait for
       * but the database. */
      GError *error = NULL;
      TsSession *s = ts_pg_heartbeat (store->pg, user_id, session_id, lease_seconds, now, &error);
      done (s, error, data);
      return;
    }
  ts_sqlite_heartbeat_async (store->sqlite, user_id, session_id, lease_seconds, now, done, data);
}

gboolean
ts_store_heartbeat_queues (TsStore *store)
{
  return store->kind != TS_STORE_POSTGRESQL;
}

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean done;
  TsSession *session;
  GError *error;
} TsHeartbeatWait;

static void
ts_heartbeat_waited (TsSession *session, GError *error, gpointer data)
{
  TsHeartbeatWait *w = data;
  g_mutex_lock (&w->lock);
  w->session = session;
  w->error = error;
  w->done = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

TsSession *
ts_store_heartbeat (TsStore *store, const char *user_id, const char *session_id,
                    gint64 lease_seconds, gint64 now, GError **error)
{
  TsHeartbeatWait w = { 0 };
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  ts_store_heartbeat_async (store, user_id, session_id, lease_seconds, now, ts_heartbeat_waited,
                            &w);
  g_mutex_lock (&w.lock);
  while (!w.done)
    g_cond_wait (&w.cond, &w.lock);
  g_mutex_unlock (&w.lock);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  if (w.error != NULL)
    g_propagate_error (error, w.error);
  return w.session;
}
