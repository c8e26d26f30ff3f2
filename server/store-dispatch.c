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
