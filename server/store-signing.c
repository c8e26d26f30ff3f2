/* tessera-store on SQLite: the signing keys table (server/keys.c seals and
 * opens what it holds). */
#include "store-private.h"

static gpointer
ts_signing_key_from_row (sqlite3_stmt *stmt)
{
  TsSigningKeyRow *row = g_new0 (TsSigningKeyRow, 1);
  row->id = ts_col_strdup (stmt, 0);
  row->public_key = ts_col_strdup (stmt, 1);
  row->sealed = ts_col_strdup (stmt, 2);
  row->created_at = sqlite3_column_int64 (stmt, 3);
  return row;
}

GPtrArray *
ts_store_list_signing_keys (TsStore *store, GError **error)
{
  return ts_list_rows (store, NULL, NULL, NULL, ts_signing_key_from_row,
                       (GDestroyNotify) ts_signing_key_row_free, error,
                       "SELECT id, public_key, sealed, created_at FROM signing_keys"
                       " ORDER BY seq DESC",
                       NULL);
}

gboolean
ts_store_add_signing_key (TsStore *store, const char *actor, const TsSigningKeyRow *row,
                          gboolean only_if_none, gboolean *added, GError **error)
{
  *added = FALSE;
  /* Write transactions are serialized: the count and the insert are one
   * step for every other writer. */
  sqlite3 *db = ts_db_begin (store, TRUE, error);
  if (db == NULL)
    return FALSE;
  gint64 count = 0, same = 0;
  gboolean ok = ts_query_int (db, error, &count, NULL, "SELECT count(*) FROM signing_keys", NULL)
                && ts_query_int (db, error, &same, NULL,
                                 "SELECT count(*) FROM signing_keys WHERE id = ?", "s", row->id);
  if (ok && same > 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "signing key %s is already stored", row->id);
      ok = FALSE;
    }
  if (ok && (!only_if_none || count == 0))
    {
      ok = ts_exec (db, error, NULL,
                    "INSERT INTO signing_keys (id, public_key, sealed, created_at, seq)"
                    " VALUES (?, ?, ?, ?, (SELECT coalesce (max(seq), 0) + 1 FROM signing_keys))",
                    "sssi", row->id, row->public_key, row->sealed, row->created_at)
           && ts_audit (db, row->created_at, NULL, actor, "signing-key.add", row->id, NULL, error);
      *added = ok;
    }
  if (!ts_db_finish (store, db, ok, error))
    {
      *added = FALSE;
      return FALSE;
    }
  return TRUE;
}
