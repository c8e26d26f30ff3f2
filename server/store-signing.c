/* tessera-store: the signing keys table (server/keys.c seals and opens
 * what it holds). */
#include "db.h"

static gpointer
ts_signing_key_from_row (TsRows *rows)
{
  TsSigningKeyRow *row = g_new0 (TsSigningKeyRow, 1);
  row->id = ts_rows_strdup (rows, 0);
  row->public_key = ts_rows_strdup (rows, 1);
  row->sealed = ts_rows_strdup (rows, 2);
  row->created_at = ts_rows_int (rows, 3);
  return row;
}

GPtrArray *
ts_store_list_signing_keys (TsStore *store, GError **error)
{
  return ts_tx_list_rows (store, NULL, NULL, NULL, ts_signing_key_from_row,
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
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  gint64 count = 0, same = 0;
  /* Writers adding at once (all finding none) take turns, so the count and
   * the insert are one step. */
  gboolean ok = ts_tx_lock_table (tx, "signing_keys", error)
                && ts_tx_int (tx, error, &count, NULL, "SELECT count(*) FROM signing_keys", NULL)
                && ts_tx_int (tx, error, &same, NULL,
                              "SELECT count(*) FROM signing_keys WHERE id = ?", "s", row->id);
  if (ok && same > 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "signing key %s is already stored", row->id);
      ok = FALSE;
    }
  if (ok && (!only_if_none || count == 0))
    {
      ok = ts_tx_exec (
               tx, error, NULL,
               "INSERT INTO signing_keys (id, public_key, sealed, created_at, seq)"
               " VALUES (?, ?, ?, ?, (SELECT coalesce (max(seq), 0) + 1 FROM signing_keys))",
               "sssi", row->id, row->public_key, row->sealed, row->created_at)
           && ts_tx_audit (tx, row->created_at, NULL, actor, "signing-key.add", row->id, NULL,
                           error);
      *added = ok;
    }
  if (!ts_tx_finish (tx, ok, error))
    {
      *added = FALSE;
      return FALSE;
    }
  return TRUE;
}

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
