/* tessera-store on PostgreSQL: the signing keys table (server/keys.c seals and
 * opens what it holds). */
#include "store-pg-private.h"

static gpointer
ts_signing_key_from_row (const PGresult *res, int i)
{
  TsSigningKeyRow *row = g_new0 (TsSigningKeyRow, 1);
  row->id = ts_pg_col_strdup (res, i, 0);
  row->public_key = ts_pg_col_strdup (res, i, 1);
  row->sealed = ts_pg_col_strdup (res, i, 2);
  row->created_at = ts_pg_col_int (res, i, 3);
  return row;
}

GPtrArray *
ts_pg_list_signing_keys (TsPgStore *store, GError **error)
{
  return ts_pg_list_rows (store, NULL, NULL, NULL, ts_signing_key_from_row,
                          (GDestroyNotify) ts_signing_key_row_free, error,
                          "SELECT id, public_key, sealed, created_at FROM signing_keys"
                          " ORDER BY seq DESC",
                          NULL);
}

gboolean
ts_pg_add_signing_key (TsPgStore *store, const char *actor, const TsSigningKeyRow *row,
                       gboolean only_if_none, gboolean *added, GError **error)
{
  *added = FALSE;
  TsPgDb *db = ts_pg_begin (store, TRUE, error);
  if (db == NULL)
    return FALSE;
  gint64 count = 0, same = 0;
  /* A lock that conflicts with itself: instances adding at once (all
   * finding none) take turns, so the count and the insert are one step. */
  gboolean ok
      = ts_pg_exec (db, error, NULL, "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE", NULL)
        && ts_pg_query_int (db, error, &count, NULL, "SELECT count(*) FROM signing_keys", NULL)
        && ts_pg_query_int (db, error, &same, NULL,
                            "SELECT count(*) FROM signing_keys WHERE id = ?", "s", row->id);
  if (ok && same > 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "signing key %s is already stored", row->id);
      ok = FALSE;
    }
  if (ok && (!only_if_none || count == 0))
    {
      ok = ts_pg_exec (
               db, error, NULL,
               "INSERT INTO signing_keys (id, public_key, sealed, created_at, seq)"
               " VALUES (?, ?, ?, ?, (SELECT coalesce (max(seq), 0) + 1 FROM signing_keys))",
               "sssi", row->id, row->public_key, row->sealed, row->created_at)
           && ts_pg_audit (db, row->created_at, NULL, actor, "signing-key.add", row->id, NULL,
                           error);
      *added = ok;
    }
  if (!ts_pg_finish (store, db, ok, error))
    {
      *added = FALSE;
      return FALSE;
    }
  return TRUE;
}
