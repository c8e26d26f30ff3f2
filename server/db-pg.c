/* tessera-store's database layer on PostgreSQL (db-engine.h): pooled
 * connections of store-pg.c, statements prepared once per connection, and
 * every transaction in libpq's pipeline mode.
 *
 * Why a pipeline: PostgreSQL's cost per request was round trips, not
 * queries (issue #17: an activation was 8 of them, a heartbeat 6, each a
 * wake-up of the backend and of the server's thread). In a pipeline a
 * statement is sent when the caller asks for it, and the answers are
 * waited for only when the caller needs one: BEGIN goes out with the first
 * statement, a write whose outcome nobody reads before the commit
 * (ts_tx_exec_defer()) with the next statement or the COMMIT, and rows are
 * read when first stepped (ts_rows_next()), so several queries issued
 * before any is read share one round trip. The server still runs the
 * statements one after the other, each on a snapshot taken when it starts
 * (READ COMMITTED): a statement after a row lock sees what the previous
 * holder committed, exactly as when each was a round trip of its own.
 *
 * Until its first round trip has come back, a transaction is kept whole
 * (every statement and its values): a pooled connection found dead then
 * (the database restarted, the backend was terminated) is replaced and the
 * transaction sent again, once, on a new one. */
#include "db-engine.h"
#include "store-pg-private.h"

#include <string.h>

typedef struct _TsPgItem TsPgItem;

typedef struct
{
  PGresult *res;
  int row;        /* the current row; -1 before the first */
  TsPgItem *item; /* while its statement's answer has not been read */
  GError *error;  /* the statement (or one before it) failed */
} TsPgCursor;

/* One statement sent and not answered yet. */
struct _TsPgItem
{
  char *sql;  /* the caller's '?' form: the key of its prepared statement */
  char *text; /* numbered ($1, …) */
  char *types;
  int n;
  Oid oids[TS_PG_MAX_PARAMS];
  char *values[TS_PG_MAX_PARAMS]; /* owned copies: the transaction may be sent again */
  int lengths[TS_PG_MAX_PARAMS];
  int formats[TS_PG_MAX_PARAMS];
  gboolean prepared_now; /* a Parse went before it: its answer comes first */
  TsPgCursor *cursor;    /* who reads its rows; NULL: only its errors matter */
  PGresult *res;         /* its answer, for the one who waits for it */
  gboolean keep;         /* the caller waits for @res (ts_pg_tx_query's exec) */
  gboolean command;      /* ts_pg_item_command(): prepared although not DML */
};

typedef struct
{
  TsPgStore *store;
  TsPgDb db;
  TsTxMode mode;
  const char *const *begin; /* the transaction's opening commands, NULL-ended */
  gboolean begun;           /* they are sent */
  gboolean answered;        /* a round trip came back: no more resending */
  GPtrArray *sent;          /* TsPgItem *: everything sent, while !answered */
  GQueue pending;           /* TsPgItem *: sent, answers not read yet */
  TsPgItem *held;           /* the last deferred write, not sent yet: one beside it joins it */
  GError *error;            /* the transaction failed: every later call fails */
} TsPgTx;

static const char *const ts_pg_begin_write[] = { "BEGIN ISOLATION LEVEL READ COMMITTED", NULL };
static const char *const ts_pg_begin_read[]
    = { "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL };
/* A heartbeat's commit need not wait for the disk (ts_pg_begin_lease()). */
static const char *const ts_pg_begin_lease_cmds[]
    = { "BEGIN ISOLATION LEVEL READ COMMITTED", "SET LOCAL synchronous_commit TO off", NULL };

static void
ts_pg_item_free (TsPgItem *item)
{
  for (int i = 0; i < item->n; i++)
    g_free (item->values[i]);
  g_free (item->sql);
  g_free (item->text);
  g_free (item->types);
  if (item->res != NULL)
    PQclear (item->res);
  g_free (item);
}

/* A statement and its values, copied: NULL (with @error) if the SQL and the
 * type letters disagree, a bug in the caller. */
static TsPgItem *
ts_pg_item_new (const char *sql, const char *types, va_list ap, GError **error)
{
  TsPgItem *item = g_new0 (TsPgItem, 1);
  item->text = ts_pg_number_params (sql, &item->n);
  int ntypes = types != NULL ? (int) strlen (types) : 0;
  if (item->n != ntypes || item->n > TS_PG_MAX_PARAMS)
    {
      g_critical ("ts_pg_query: %d parameters in \"%s\", %d values", item->n, sql, ntypes);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "license database error: a malformed query (see the server log)");
      item->n = 0;
      ts_pg_item_free (item);
      return NULL;
    }
  item->sql = g_strdup (sql);
  item->types = g_strdup (types);
  for (int i = 0; i < item->n; i++)
    switch (types[i])
      {
      case 's':
        item->oids[i] = 25; /* text */
        item->values[i] = g_strdup (va_arg (ap, const char *));
        break;
      case 'i':
        item->oids[i] = 20; /* int8 */
        item->values[i] = g_strdup_printf ("%" G_GINT64_FORMAT, va_arg (ap, gint64));
        break;
      case 'b':
        {
          GBytes *b = va_arg (ap, GBytes *);
          gsize len = 0;
          const void *data = g_bytes_get_data (b, &len);
          item->oids[i] = 17; /* bytea, sent in binary: no escaping */
          item->values[i] = g_memdup2 (data != NULL ? data : "", len + 1);
          item->lengths[i] = (int) len;
          item->formats[i] = 1;
          break;
        }
      default:
        g_assert_not_reached ();
      }
  return item;
}

/* A command without values (BEGIN, COMMIT, SET LOCAL …). Every transaction
 * sends two or three: each is prepared once per connection, like the
 * statements, so that the server does not parse it again every time
 * (issue 17: parsing them was about 3 % of the database's CPU). ROLLBACK,
 * on the error path only, is sent as it is. */
static TsPgItem *
ts_pg_item_command (const char *text)
{
  TsPgItem *item = g_new0 (TsPgItem, 1);
  item->text = g_strdup (text);
  if (g_strcmp0 (text, "ROLLBACK") != 0)
    {
      item->sql = g_strdup (text);
      item->command = TRUE;
    }
  return item;
}

static gboolean
ts_pg_tx_fail (TsPgTx *tx, const PGresult *res, GError **error)
{
  if (tx->error == NULL)
    ts_pg_set_error (&tx->db, res, &tx->error);
  g_propagate_error (error, g_error_copy (tx->error));
  return FALSE;
}

/* Queues @item on the connection (libpq's buffer; nothing is waited for). */
static gboolean
ts_pg_send_item (TsPgTx *tx, TsPgItem *item)
{
  TsPgConn *pc = tx->db.pc;
  TsPgPrepared *prep = NULL;
  item->prepared_now = FALSE;
  if (item->sql != NULL && (item->command || ts_pg_preparable (item->text)))
    {
      prep = g_hash_table_lookup (pc->prepared, item->sql);
      if (prep != NULL && g_strcmp0 (prep->types, item->types) != 0)
        prep = NULL; /* the same SQL with other types: not worth a second name */
      else if (prep == NULL)
        {
          prep = g_new0 (TsPgPrepared, 1);
          g_snprintf (prep->name, sizeof prep->name, "ts%u", ++pc->next_name);
          prep->types = g_strdup (item->types);
          if (!PQsendPrepare (tx->db.conn, prep->name, item->text, item->n, item->oids))
            {
              ts_pg_prepared_free (prep);
              return FALSE;
            }
          /* Known from now on; forgotten again if the Parse fails. */
          g_hash_table_insert (pc->prepared, g_strdup (item->sql), prep);
          item->prepared_now = TRUE;
        }
    }
  const char *const *values = (const char *const *) item->values;
  int ok = prep != NULL ? PQsendQueryPrepared (tx->db.conn, prep->name, item->n, values,
                                               item->lengths, item->formats, 0)
                        : PQsendQueryParams (tx->db.conn, item->text, item->n, item->oids, values,
                                             item->lengths, item->formats, 0);
  if (ok)
    g_atomic_int_inc (&tx->store->statements);
  return ok;
}

/* Sends the opening commands, once, before the transaction's first
 * statement: a transaction that sends nothing costs nothing. */
static gboolean
ts_pg_tx_send (TsPgTx *tx, TsPgItem *item, GError **error)
{
  /* A held write goes first: statements run in the order issued. */
  if (tx->held != NULL && !ts_pg_tx_send (tx, g_steal_pointer (&tx->held), error))
    {
      ts_pg_item_free (item);
      return FALSE;
    }
  if (tx->error != NULL)
    {
      ts_pg_item_free (item);
      return ts_pg_tx_fail (tx, NULL, error);
    }
  if (!tx->begun && tx->begin != NULL)
    for (const char *const *b = tx->begin; *b != NULL; b++)
      {
        TsPgItem *cmd = ts_pg_item_command (*b);
        if (!tx->answered)
          g_ptr_array_add (tx->sent, cmd);
        g_queue_push_tail (&tx->pending, cmd);
        if (!ts_pg_send_item (tx, cmd))
          {
            ts_pg_item_free (item);
            return ts_pg_tx_fail (tx, NULL, error);
          }
      }
  tx->begun = TRUE;
  if (!tx->answered)
    g_ptr_array_add (tx->sent, item);
  g_queue_push_tail (&tx->pending, item);
  return ts_pg_send_item (tx, item) || ts_pg_tx_fail (tx, NULL, error);
}

/* The answer to one sent statement; NULL when the connection failed. */
static PGresult *
ts_pg_read_one (TsPgTx *tx)
{
  PGresult *res = PQgetResult (tx->db.conn);
  if (res == NULL)
    return NULL;
  /* Each statement's answer ends with a NULL: read it. */
  PGresult *end = PQgetResult (tx->db.conn);
  if (end != NULL)
    PQclear (end);
  return res;
}

/* Reads every pending answer (one round trip: the Sync asks for them). On
 * the first failure, its error goes to the transaction (the server skips
 * the statements after it) and FALSE is returned. */
static gboolean
ts_pg_read_pending (TsPgTx *tx)
{
  gboolean ok = TRUE;
  g_atomic_int_inc (&tx->store->round_trips);
  if (!PQpipelineSync (tx->db.conn))
    {
      ts_pg_set_error (&tx->db, NULL, &tx->error);
      tx->db.broken = TRUE;
      return FALSE;
    }
  for (GList *l = tx->pending.head; l != NULL; l = l->next)
    {
      TsPgItem *item = l->data;
      if (tx->db.broken)
        break;
      if (item->prepared_now)
        {
          PGresult *r = ts_pg_read_one (tx);
          if (r == NULL || PQresultStatus (r) != PGRES_COMMAND_OK)
            {
              if (ok && (r == NULL || PQresultStatus (r) != PGRES_PIPELINE_ABORTED))
                ts_pg_set_error (&tx->db, r, &tx->error);
              ok = FALSE;
              g_hash_table_remove (tx->db.pc->prepared, item->sql);
            }
          if (r != NULL)
            PQclear (r);
          if (r == NULL)
            tx->db.broken = TRUE;
        }
      if (tx->db.broken)
        break;
      PGresult *res = ts_pg_read_one (tx);
      ExecStatusType st = res != NULL ? PQresultStatus (res) : PGRES_FATAL_ERROR;
      if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        {
          if (ok && st != PGRES_PIPELINE_ABORTED)
            ts_pg_set_error (&tx->db, res, &tx->error);
          ok = FALSE;
          if (res == NULL)
            tx->db.broken = TRUE;
          if (res != NULL)
            PQclear (res);
          continue;
        }
      item->res = res;
    }
  if (!tx->db.broken)
    {
      PGresult *sync = PQgetResult (tx->db.conn);
      if (sync == NULL || PQresultStatus (sync) != PGRES_PIPELINE_SYNC)
        tx->db.broken = TRUE;
      if (sync != NULL)
        PQclear (sync);
    }
  if (tx->db.broken && ok)
    {
      ts_pg_set_error (&tx->db, NULL, &tx->error);
      ok = FALSE;
    }
  return ok;
}

/* Hands each answered statement's result to its reader, then forgets it. */
static void
ts_pg_deliver (TsPgTx *tx)
{
  TsPgItem *item;
  while ((item = g_queue_pop_head (&tx->pending)) != NULL)
    {
      TsPgCursor *c = item->cursor;
      if (c != NULL)
        {
          c->item = NULL;
          c->res = g_steal_pointer (&item->res);
          if (c->res == NULL)
            c->error = g_error_copy (tx->error);
        }
      if (item->keep)
        continue; /* the waiting caller frees it */
      if (tx->answered)
        ts_pg_item_free (item);
    }
}

static gboolean
ts_pg_tx_connect (TsPgTx *tx, GError **error)
{
  TsPgConn *pc = ts_pg_conn_acquire (tx->store, error);
  if (pc == NULL)
    return FALSE;
  tx->db.pc = pc;
  tx->db.conn = pc->conn;
  tx->db.broken = FALSE;
  if (!PQenterPipelineMode (pc->conn))
    {
      tx->db.broken = TRUE;
      ts_pg_set_error (&tx->db, NULL, error);
      return FALSE;
    }
  return TRUE;
}

/* Waits for the answers to everything sent. The first round trip of a
 * transaction that meets a dead connection is sent again on a new one. */
static gboolean
ts_pg_flush (TsPgTx *tx)
{
  /* Its error, if any, is the transaction's. */
  if (tx->held != NULL)
    ts_pg_tx_send (tx, g_steal_pointer (&tx->held), NULL);
  if (g_queue_is_empty (&tx->pending))
    return tx->error == NULL;
  gboolean ok = ts_pg_read_pending (tx);
  if (!ok && tx->db.broken && !tx->answered)
    {
      g_queue_clear (&tx->pending);
      for (guint i = 0; i < tx->sent->len; i++)
        {
          TsPgItem *item = tx->sent->pdata[i];
          g_clear_pointer (&item->res, PQclear);
          g_queue_push_tail (&tx->pending, item);
        }
      ts_pg_conn_release (tx->store, tx->db.pc, TRUE);
      tx->db.pc = NULL;
      tx->db.conn = NULL;
      ts_pg_drop_idle (tx->store);
      g_clear_error (&tx->error);
      ok = ts_pg_tx_connect (tx, &tx->error);
      for (GList *l = tx->pending.head; ok && l != NULL; l = l->next)
        if (!ts_pg_send_item (tx, l->data))
          {
            ts_pg_set_error (&tx->db, NULL, &tx->error);
            ok = FALSE;
          }
      ok = ok && ts_pg_read_pending (tx);
    }
  /* Everything sent so far was pending: ts_pg_deliver() frees it. */
  tx->answered = TRUE;
  g_ptr_array_set_size (tx->sent, 0);
  ts_pg_deliver (tx);
  return ok;
}

static TsPgTx *
ts_pg_tx_new (TsPgStore *store, TsTxMode mode, GError **error)
{
  TsPgTx *tx = g_new0 (TsPgTx, 1);
  tx->store = store;
  tx->mode = mode;
  tx->db.write = mode == TS_TX_WRITE || mode == TS_TX_LEASE;
  tx->sent = g_ptr_array_new ();
  g_queue_init (&tx->pending);
  /* TS_TX_ONE: one statement is a transaction of its own in PostgreSQL
   * (an implicit one, ended by the Sync): no BEGIN nor COMMIT to send. */
  tx->begin = mode == TS_TX_WRITE   ? ts_pg_begin_write
              : mode == TS_TX_READ  ? ts_pg_begin_read
              : mode == TS_TX_LEASE ? ts_pg_begin_lease_cmds
                                    : NULL;
  if (!ts_pg_tx_connect (tx, error))
    {
      if (tx->db.pc != NULL)
        ts_pg_conn_release (store, tx->db.pc, TRUE);
      g_ptr_array_unref (tx->sent);
      g_free (tx);
      return NULL;
    }
  return tx;
}

static gpointer
ts_pg_tx_begin (gpointer store, TsTxMode mode, GError **error)
{
  return ts_pg_tx_new (store, mode, error);
}

static gboolean
ts_pg_tx_finish (gpointer store, gpointer conn, TsTxMode mode, gboolean ok, GError **error)
{
  (void) mode;
  TsPgTx *tx = conn;
  if (ok && tx->error != NULL)
    ok = ts_pg_tx_fail (tx, NULL, error);
  if (!ok)
    g_clear_pointer (&tx->held, ts_pg_item_free); /* never sent: nothing to undo */
  /* Sent now, so that the transaction has begun and is committed. */
  else if (tx->held != NULL)
    ok = ts_pg_tx_send (tx, g_steal_pointer (&tx->held), error);
  if (ok && tx->begun && tx->begin != NULL)
    {
      /* COMMIT goes out with the writes still pending (ts_tx_exec_defer()). */
      TsPgItem *commit = ts_pg_item_command ("COMMIT");
      ok = ts_pg_tx_send (tx, commit, error);
      if (ok)
        {
          commit->keep = TRUE;
          if (!ts_pg_flush (tx) || commit->res == NULL)
            ok = ts_pg_tx_fail (tx, NULL, error);
          /* COMMIT of a transaction that failed answers ROLLBACK, not an error. */
          else if (g_strcmp0 (PQcmdStatus (commit->res), "COMMIT") != 0)
            {
              g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                           "the license database rolled the change back (nothing was changed)");
              ok = FALSE;
            }
          ts_pg_item_free (commit);
        }
    }
  else if (ok)
    ok = ts_pg_flush (tx) || ts_pg_tx_fail (tx, NULL, error);
  if (!ok && tx->begun && !tx->db.broken && tx->begin != NULL)
    {
      /* What is still pending is read first: a failure in it would make
       * the server skip a ROLLBACK sent in the same round trip. */
      ts_pg_flush (tx);
      TsPgItem *rollback = ts_pg_item_command ("ROLLBACK");
      g_clear_error (&tx->error);
      if (ts_pg_tx_send (tx, rollback, NULL))
        ts_pg_flush (tx);
    }
  else if (!ok && !tx->db.broken)
    ts_pg_flush (tx);
  if (tx->db.pc != NULL)
    {
      if (!tx->db.broken && !PQexitPipelineMode (tx->db.conn))
        tx->db.broken = TRUE;
      ts_pg_conn_release (tx->store, tx->db.pc, tx->db.broken);
    }
  /* Left unanswered (a broken connection): before the first answer every
   * item is in @sent, after it only in @pending. */
  TsPgItem *left;
  while ((left = g_queue_pop_head (&tx->pending)) != NULL)
    if (tx->answered)
      ts_pg_item_free (left);
  for (guint i = 0; !tx->answered && i < tx->sent->len; i++)
    ts_pg_item_free (tx->sent->pdata[i]);
  g_ptr_array_unref (tx->sent);
  g_clear_pointer (&tx->held, ts_pg_item_free);
  g_clear_error (&tx->error);
  g_free (tx);
  return ok;
}

static gpointer
ts_pg_tx_query (gpointer conn, GError **error, gboolean rows, gint64 *changes, const char *sql,
                const char *types, va_list ap)
{
  TsPgTx *tx = conn;
  TsPgItem *item = ts_pg_item_new (sql, types, ap, error);
  if (item == NULL)
    return NULL;
  /* On failure the transaction owns @item (or freed it). */
  if (!ts_pg_tx_send (tx, item, error))
    return NULL;
  if (rows)
    {
      /* Read when first stepped: queries issued before it share its trip. */
      TsPgCursor *c = g_new0 (TsPgCursor, 1);
      c->row = -1;
      c->item = item;
      item->cursor = c;
      return c;
    }
  item->keep = TRUE;
  gboolean ok = ts_pg_flush (tx) && item->res != NULL;
  if (!ok)
    ts_pg_tx_fail (tx, NULL, error);
  else
    {
      const char *n = PQcmdTuples (item->res);
      *changes = n != NULL && *n ? g_ascii_strtoll (n, NULL, 10) : 0;
    }
  ts_pg_item_free (item);
  return ok ? conn : NULL;
}

/* Held, not sent: it goes out with the next statement, flush or COMMIT
 * (the same round trip as if sent now), unless a write beside it joins
 * it first. */
static gboolean
ts_pg_tx_defer (gpointer conn, GError **error, const char *sql, const char *types, va_list ap)
{
  TsPgTx *tx = conn;
  TsPgItem *item = ts_pg_item_new (sql, types, ap, error);
  if (item == NULL)
    return FALSE;
  if (tx->error != NULL)
    {
      ts_pg_item_free (item);
      return ts_pg_tx_fail (tx, NULL, error);
    }
  if (tx->held != NULL && !ts_pg_tx_send (tx, g_steal_pointer (&tx->held), error))
    {
      ts_pg_item_free (item);
      return FALSE;
    }
  tx->held = item;
  return TRUE;
}

static gboolean
ts_pg_is_dml (const char *sql)
{
  return g_ascii_strncasecmp (sql, "INSERT", 6) == 0 || g_ascii_strncasecmp (sql, "UPDATE", 6) == 0
         || g_ascii_strncasecmp (sql, "DELETE", 6) == 0;
}

static gboolean
ts_pg_numbered (const char *sql)
{
  for (const char *p = strchr (sql, '?'); p != NULL; p = strchr (p + 1, '?'))
    if (g_ascii_isdigit (p[1]))
      return TRUE;
  return FALSE;
}

/* @sql beside the held write (db.h, ts_tx_exec_defer_beside()): one
 * statement, "WITH w AS (held) sql", whose parts PostgreSQL runs on one
 * snapshot; so each must not read what the other writes, which the
 * caller promises. Joined only when both are plain INSERT, UPDATE or
 * DELETE statements with '?' placeholders, within TS_PG_MAX_PARAMS. */
static gboolean
ts_pg_tx_defer_beside (gpointer conn, GError **error, const char *sql, const char *types,
                       va_list ap)
{
  TsPgTx *tx = conn;
  TsPgItem *held = tx->held;
  int n = types != NULL ? (int) strlen (types) : 0;
  if (held == NULL || tx->error != NULL || held->command || !ts_pg_is_dml (held->sql)
      || !ts_pg_is_dml (sql) || ts_pg_numbered (held->sql) || ts_pg_numbered (sql)
      || held->n + n > TS_PG_MAX_PARAMS)
    return ts_pg_tx_defer (conn, error, sql, types, ap);
  TsPgItem *item = ts_pg_item_new (sql, types, ap, error);
  if (item == NULL)
    return FALSE;
  TsPgItem *both = g_new0 (TsPgItem, 1);
  both->sql = g_strdup_printf ("WITH w AS (%s) %s", held->sql, item->sql);
  /* The parts' '?' numbered in order: $1.. the held write's, then this one's. */
  int counted = 0;
  both->text = ts_pg_number_params (both->sql, &counted);
  both->n = held->n + item->n;
  both->types
      = g_strconcat (held->types != NULL ? held->types : "", types != NULL ? types : "", NULL);
  for (int i = 0; i < both->n; i++)
    {
      TsPgItem *from = i < held->n ? held : item;
      int j = i < held->n ? i : i - held->n;
      both->oids[i] = from->oids[j];
      both->values[i] = g_steal_pointer (&from->values[j]);
      both->lengths[i] = from->lengths[j];
      both->formats[i] = from->formats[j];
    }
  ts_pg_item_free (held);
  ts_pg_item_free (item);
  tx->held = both;
  return TRUE;
}

static int
ts_pg_tx_next (gpointer conn, gpointer cursor, GError **error)
{
  TsPgCursor *c = cursor;
  if (c->item != NULL)
    ts_pg_flush (conn);
  if (c->error != NULL || c->res == NULL)
    {
      g_propagate_error (error, c->error != NULL
                                    ? g_error_copy (c->error)
                                    : g_error_new_literal (TESSERA_ERROR, TESSERA_ERROR_FAILED,
                                                           "license database error"));
      return -1;
    }
  if (c->row + 1 >= PQntuples (c->res))
    return 0;
  c->row++;
  return 1;
}

static const char *
ts_pg_tx_text (gpointer cursor, int col)
{
  TsPgCursor *c = cursor;
  return PQgetisnull (c->res, c->row, col) ? NULL : PQgetvalue (c->res, c->row, col);
}

static gint64
ts_pg_tx_int64 (gpointer cursor, int col)
{
  TsPgCursor *c = cursor;
  return ts_pg_col_int (c->res, c->row, col);
}

static gboolean
ts_pg_tx_is_null (gpointer cursor, int col)
{
  TsPgCursor *c = cursor;
  return PQgetisnull (c->res, c->row, col);
}

static GBytes *
ts_pg_tx_bytes (gpointer cursor, int col)
{
  TsPgCursor *c = cursor;
  if (PQgetisnull (c->res, c->row, col))
    return NULL;
  /* Results come as text (the result format is all-or-none): bytea in its
   * hex form, decoded here. */
  size_t len = 0;
  unsigned char *bin
      = PQunescapeBytea ((const unsigned char *) PQgetvalue (c->res, c->row, col), &len);
  if (bin == NULL)
    return NULL;
  GBytes *b = g_bytes_new (bin, len);
  PQfreemem (bin);
  return b;
}

static int
ts_pg_tx_columns (gpointer cursor)
{
  TsPgCursor *c = cursor;
  return c->res != NULL ? PQnfields (c->res) : 0;
}

static void
ts_pg_tx_done (gpointer conn, gpointer cursor)
{
  (void) conn;
  TsPgCursor *c = cursor;
  if (c == NULL)
    return;
  if (c->item != NULL)
    c->item->cursor = NULL; /* its answer, when read, is dropped */
  if (c->res != NULL)
    PQclear (c->res);
  g_clear_error (&c->error);
  g_free (c);
}

static gboolean
ts_pg_tx_mark_durable (gpointer store, gpointer conn, GError **error)
{
  (void) store;
  /* Sent with the next statement or the COMMIT: it only has to come first. */
  TsPgTx *tx = conn;
  return ts_pg_tx_send (tx, ts_pg_item_command ("SET LOCAL synchronous_commit TO on"), error);
}

static gboolean
ts_pg_seat_credit_take (gpointer engine, const char *pool_id, gint64 epoch)
{
  TsPgStore *store = engine;
  g_mutex_lock (&store->credits_lock);
  TsSeatCredits *c = g_hash_table_lookup (store->credits, pool_id);
  gboolean taken = c != NULL && c->epoch == epoch && c->n > 0;
  if (taken)
    c->n--;
  /* Spent, or of an epoch gone by (another instance counted since). */
  if (c != NULL && (c->n == 0 || c->epoch != epoch))
    g_hash_table_remove (store->credits, pool_id);
  g_mutex_unlock (&store->credits_lock);
  return taken;
}

static void
ts_pg_seat_credits_add (gpointer engine, const char *pool_id, gint64 epoch, gint64 n)
{
  TsPgStore *store = engine;
  TsSeatCredits *c = g_new (TsSeatCredits, 1);
  c->epoch = epoch;
  c->n = n;
  g_mutex_lock (&store->credits_lock);
  TsSeatCredits *had = g_hash_table_lookup (store->credits, pool_id);
  /* Another of this instance's threads raised it in the same epoch. */
  if (had != NULL && had->epoch == epoch)
    c->n += had->n;
  g_hash_table_replace (store->credits, g_strdup (pool_id), c);
  g_mutex_unlock (&store->credits_lock);
}

void
ts_pg_counts (TsPgStore *store, guint *round_trips, guint *statements)
{
  *round_trips = g_atomic_int_get (&store->round_trips);
  *statements = g_atomic_int_get (&store->statements);
}

guint
ts_pg_pool_size (TsPgStore *store)
{
  return store->pool_size;
}

const TsTxOps ts_tx_pg_ops = {
  .begin = ts_pg_tx_begin,
  .finish = ts_pg_tx_finish,
  .query = ts_pg_tx_query,
  .defer = ts_pg_tx_defer,
  .defer_beside = ts_pg_tx_defer_beside,
  .next = ts_pg_tx_next,
  .text = ts_pg_tx_text,
  .int64 = ts_pg_tx_int64,
  .is_null = ts_pg_tx_is_null,
  .bytes = ts_pg_tx_bytes,
  .columns = ts_pg_tx_columns,
  .done = ts_pg_tx_done,
  .mark_durable = ts_pg_tx_mark_durable,
  .seat_credit_take = ts_pg_seat_credit_take,
  .seat_credits_add = ts_pg_seat_credits_add,
  /* Several server instances write at once: rules lock what they count. */
  .row_locks = TRUE,
  .postgresql = TRUE,
};
