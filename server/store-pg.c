/* tessera-store on PostgreSQL: the connection pool, transactions, schema
 * migrations and the helpers the other store-pg-*.c files share.
 *
 * Several tessera-server instances may share one database: nothing here
 * relies on being the only process. Migrations run under a transaction-level
 * advisory lock; seat rules lock the pool row they count against (see
 * ts_pg_load_pool()); lease reaping skips rows another instance holds. */
#include "metrics.h"
#include "store-pg-private.h"

#include <sodium.h>
#include <stdarg.h>
#include <string.h>

/* ---- schema ----
 *
 * The SQLite schema (store-sqlite.c), table for table and column for column:
 * BIGINT Unix seconds, BYTEA for files, BIGSERIAL for the audit sequence.
 * Text is compared and sorted bytewise (COLLATE "C", SQLite's BINARY) so
 * listings come back in the same order whatever the database's locale; the
 * users' email is unique case-insensitively (SQLite: COLLATE NOCASE) through
 * an index on lower (email). Each migration is constant DDL, run as one
 * multi-statement PQexec (there are no values in it). */

#define T "TEXT COLLATE \"C\""

static const char *const migrations[] = {
  /* 1: the initial schema */
  "CREATE TABLE orgs (id " T " PRIMARY KEY, name " T " NOT NULL, created_at BIGINT NOT NULL);"
  "CREATE TABLE users (id " T " PRIMARY KEY, email " T " NOT NULL, created_at BIGINT NOT NULL);"
  "CREATE UNIQUE INDEX users_email ON users (lower (email));"
  "CREATE TABLE members (org_id " T " NOT NULL REFERENCES orgs (id),"
  "  user_id " T " NOT NULL REFERENCES users (id), role INTEGER NOT NULL,"
  "  PRIMARY KEY (org_id, user_id));"
  "CREATE INDEX members_user ON members (user_id);"
  "CREATE TABLE api_keys (id " T " PRIMARY KEY, user_id " T " NOT NULL REFERENCES users (id),"
  "  label " T " NOT NULL, prefix " T " NOT NULL, hash " T " NOT NULL UNIQUE,"
  "  created_at BIGINT NOT NULL, revoked_at BIGINT NOT NULL DEFAULT 0);"
  "CREATE TABLE pools (id " T " PRIMARY KEY, org_id " T " NOT NULL REFERENCES orgs (id),"
  "  product " T " NOT NULL, kind " T " NOT NULL CHECK (kind IN ('node-locked', 'floating')),"
  "  billing " T " NOT NULL CHECK (billing IN ('annual', 'monthly')),"
  "  quota BIGINT NOT NULL CHECK (quota >= 0), subscription_end BIGINT NOT NULL,"
  "  created_at BIGINT NOT NULL, UNIQUE (org_id, product, kind));"
  "CREATE TABLE grants (pool_id " T " NOT NULL REFERENCES pools (id),"
  "  user_id " T " NOT NULL REFERENCES users (id), granted_at BIGINT NOT NULL,"
  "  PRIMARY KEY (pool_id, user_id));"
  "CREATE TABLE machines (pool_id " T " NOT NULL REFERENCES pools (id),"
  "  machine_id " T " NOT NULL, user_id " T " NOT NULL REFERENCES users (id),"
  "  registered_at BIGINT NOT NULL, last_seen BIGINT NOT NULL,"
  "  PRIMARY KEY (pool_id, machine_id));"
  "CREATE TABLE sessions (id " T " PRIMARY KEY, pool_id " T " NOT NULL REFERENCES pools (id),"
  "  user_id " T " NOT NULL REFERENCES users (id), machine_id " T " NOT NULL,"
  "  nonce " T " NOT NULL, started_at BIGINT NOT NULL, last_heartbeat BIGINT NOT NULL,"
  "  lease_expires_at BIGINT NOT NULL, ended_at BIGINT, end_code INTEGER, end_reason " T ","
  "  UNIQUE (pool_id, user_id, nonce));"
  "CREATE INDEX sessions_active ON sessions (pool_id, ended_at, lease_expires_at);"
  "CREATE INDEX sessions_lease ON sessions (lease_expires_at) WHERE ended_at IS NULL;"
  "CREATE TABLE offline (id " T " PRIMARY KEY, pool_id " T " NOT NULL REFERENCES pools (id),"
  "  machine_id " T " NOT NULL, created_by " T ", created_at BIGINT NOT NULL,"
  "  expires_at BIGINT NOT NULL, file BYTEA NOT NULL, file_name " T " NOT NULL);"
  "CREATE INDEX offline_pool ON offline (pool_id, expires_at);"
  "CREATE TABLE audit (seq BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL,"
  "  org_id " T ", actor " T ", action " T " NOT NULL, target " T ", detail " T ");"
  "CREATE INDEX audit_org ON audit (org_id, seq);",
  /* 2: web sign-in (store-pg-web.c), as SQLite's migration 2 */
  "CREATE TABLE web_passwords (user_id " T " PRIMARY KEY REFERENCES users (id),"
  "  hash " T " NOT NULL, set_at BIGINT NOT NULL);"
  "CREATE TABLE web_sessions (hash " T " PRIMARY KEY, user_id " T " NOT NULL REFERENCES users (id),"
  "  csrf " T " NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);"
  "CREATE INDEX web_sessions_user ON web_sessions (user_id);"
  "CREATE TABLE web_invites (hash " T " PRIMARY KEY, user_id " T " NOT NULL REFERENCES users (id),"
  "  org_id " T " NOT NULL REFERENCES orgs (id), created_by " T ", created_at BIGINT NOT NULL,"
  "  expires_at BIGINT NOT NULL, used_at BIGINT);"
  "CREATE TABLE web_login_failures (subject " T " PRIMARY KEY, count BIGINT NOT NULL,"
  "  window_start BIGINT NOT NULL);",
  /* 3: signing keys, as SQLite's migration 3 */
  "CREATE TABLE signing_keys (id " T " PRIMARY KEY, public_key " T " NOT NULL,"
  "  sealed " T " NOT NULL, created_at BIGINT NOT NULL, seq BIGINT NOT NULL UNIQUE);",
  /* 4: invitations carry their role, as SQLite's migration 4 */
  "ALTER TABLE web_invites ADD COLUMN role INTEGER;"
  "UPDATE web_invites SET role = (SELECT m.role FROM members m"
  "  WHERE m.org_id = web_invites.org_id AND m.user_id = web_invites.user_id);",
  /* 5: match policies and machine components, as SQLite's migration 5 */
  "ALTER TABLE pools ADD COLUMN match_policy " T " NOT NULL DEFAULT 'all-but-one';"
  "ALTER TABLE machines ADD COLUMN components " T ";",
  /* 6: client host name and operating system, as SQLite's migration 6 */
  "ALTER TABLE sessions ADD COLUMN hostname " T ", ADD COLUMN os " T ";"
  "ALTER TABLE machines ADD COLUMN hostname " T ", ADD COLUMN os " T ";",
  /* 7: usage history, as SQLite's migration 7 */
  "CREATE TABLE usage_hours (pool_id " T " NOT NULL REFERENCES pools (id),"
  "  hour BIGINT NOT NULL, peak BIGINT NOT NULL DEFAULT 0, quota BIGINT NOT NULL DEFAULT 0,"
  "  activations BIGINT NOT NULL DEFAULT 0, refused_quota BIGINT NOT NULL DEFAULT 0,"
  "  refused_machines BIGINT NOT NULL DEFAULT 0, refused_expired BIGINT NOT NULL DEFAULT 0,"
  "  PRIMARY KEY (pool_id, hour));"
  "CREATE INDEX usage_hours_hour ON usage_hours (hour);"
  "CREATE TABLE usage_seen (pool_id " T " NOT NULL REFERENCES pools (id), hour BIGINT NOT NULL,"
  "  kind " T " NOT NULL CHECK (kind IN ('u', 'm')), id " T " NOT NULL,"
  "  PRIMARY KEY (pool_id, hour, kind, id));"
  "CREATE INDEX usage_seen_hour ON usage_seen (hour);"
  "CREATE INDEX sessions_ended ON sessions (ended_at);",
  /* 8: heartbeats rewrite sessions.lease_expires_at and machines.last_seen;
   * with neither in an index (and room left on each page) PostgreSQL
   * updates the row in place (a HOT update): no new entry in any index,
   * no dead ones for every later count of the pool's sessions to step
   * over (issue #17). Active sessions are found by pool through a partial
   * index of the open ones; the reaper reads them all, once per interval. */
  "DROP INDEX IF EXISTS sessions_active;"
  "DROP INDEX IF EXISTS sessions_lease;"
  "CREATE INDEX IF NOT EXISTS sessions_open ON sessions (pool_id) WHERE ended_at IS NULL;"
  "ALTER TABLE sessions SET (fillfactor = 70);"
  "ALTER TABLE machines SET (fillfactor = 70);",
  /* 9: sessions over a lowered quota end now (store-common.h) */
  TS_MIGRATION_OVER_QUOTA ("CAST (extract (epoch FROM now ()) AS BIGINT)"),
  /* 10: the pools' seat bound (store-common.h, TS_SEAT_CREDITS) */
  "ALTER TABLE pools ADD COLUMN seat_bound BIGINT;"
  "ALTER TABLE pools ADD COLUMN seat_epoch BIGINT NOT NULL DEFAULT 0;"
  "CREATE FUNCTION tessera_seat_bound () RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
  " UPDATE pools SET seat_bound = seat_bound + 1 WHERE id = NEW.pool_id"
  " AND seat_bound IS NOT NULL; RETURN NULL; END $$;"
  "CREATE TRIGGER sessions_seat_bound AFTER INSERT ON sessions FOR EACH ROW"
  " WHEN (current_setting ('tessera.seat_bound', true) IS DISTINCT FROM 'kept')"
  " EXECUTE FUNCTION tessera_seat_bound ();",
  /* 11: sessions and machines name their pool and user without foreign
   * keys. An activation inserts into both, and PostgreSQL checks each key
   * of an inserted row with a query of its own: four of them were 12 % of
   * the database's CPU per activation (scale-bench, issue 17). None could
   * fail: the pool is the row the transaction holds locked, the user the
   * member it read, and neither pools nor users are ever deleted, which
   * the triggers make the database refuse (as the keys refused deleting
   * a pool or user that a session or machine names). Repeatable, like
   * every migration a test undoes. */
  "ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_pool_id_fkey,"
  " DROP CONSTRAINT IF EXISTS sessions_user_id_fkey;"
  "ALTER TABLE machines DROP CONSTRAINT IF EXISTS machines_pool_id_fkey,"
  " DROP CONSTRAINT IF EXISTS machines_user_id_fkey;"
  "CREATE OR REPLACE FUNCTION tessera_kept () RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
  " RAISE EXCEPTION '% are never deleted: sessions and machines name them', TG_TABLE_NAME"
  " USING ERRCODE = 'restrict_violation'; END $$;"
  "DROP TRIGGER IF EXISTS pools_kept ON pools;"
  "CREATE TRIGGER pools_kept BEFORE DELETE OR TRUNCATE ON pools"
  " FOR EACH STATEMENT EXECUTE FUNCTION tessera_kept ();"
  "DROP TRIGGER IF EXISTS users_kept ON users;"
  "CREATE TRIGGER users_kept BEFORE DELETE OR TRUNCATE ON users"
  " FOR EACH STATEMENT EXECUTE FUNCTION tessera_kept ();",
};

#undef T

/* The key of the advisory lock migrations run under: any constant shared by
 * every instance ("tessera" in ASCII). */
#define TS_PG_MIGRATION_LOCK G_GINT64_CONSTANT (0x7465737365726100)

/* ---- errors ---- */

/* SQLSTATE classes that mean "the database cannot be used right now" rather
 * than a bug: connection exceptions, insufficient resources, operator
 * intervention (shutdown), serialization failures and deadlocks (retrying
 * the request is the remedy), a read-only server. */
static gboolean
ts_pg_state_unavailable (const char *state)
{
  if (state == NULL)
    return TRUE; /* no server answer at all: the connection failed */
  return g_str_has_prefix (state, "08") || g_str_has_prefix (state, "53")
         || g_str_has_prefix (state, "57") || g_str_has_prefix (state, "58")
         || g_str_equal (state, "40001") || g_str_equal (state, "40P01")
         || g_str_equal (state, "25006") || g_str_equal (state, "55P03");
}

void
ts_pg_set_error (TsPgDb *db, const PGresult *res, GError **error)
{
  ts_metrics_database_error ();
  const char *state = res != NULL ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res != NULL ? PQresultErrorMessage (res) : NULL;
  if (msg == NULL || *msg == '\0')
    msg = PQerrorMessage (db->conn);
  g_autofree char *clean = g_strchomp (g_strdup (msg != NULL ? msg : "unknown error"));
  if (PQstatus (db->conn) != CONNECTION_OK)
    db->broken = TRUE;
  if (db->broken || ts_pg_state_unavailable (state))
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                 "the license database cannot be used: %s (nothing was changed)", clean);
  else if (g_strcmp0 (state, "23505") == 0)
    /* A unique key another instance inserted between our check and our
     * insert (an org, a pool, a user created twice at once): the retry
     * gets the answer the check gives. */
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                 "a simultaneous change conflicted with this one: retry (nothing was changed): %s",
                 clean);
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "license database error: %s", clean);
}

void
ts_pg_prepared_free (gpointer data)
{
  TsPgPrepared *p = data;
  g_free (p->types);
  g_free (p);
}

static void
ts_pg_conn_free (TsPgConn *pc)
{
  if (pc == NULL)
    return;
  PQfinish (pc->conn);
  g_hash_table_unref (pc->prepared);
  g_free (pc);
}

/* ---- statements ---- */

/* @sql with its '?' placeholders numbered $1, $2, … ('?' inside quotes is
 * left alone; SQLite's explicit "?NNN" becomes $NNN). *count: the highest
 * number. The SQL is the program's own constant text: values never go into
 * it. */
char *
ts_pg_number_params (const char *sql, int *count)
{
  GString *out = g_string_sized_new (strlen (sql) + 16);
  gboolean quoted = FALSE, dquoted = FALSE;
  int next = 0, max = 0;
  for (const char *p = sql; *p; p++)
    {
      if (*p == '\'' && !dquoted)
        quoted = !quoted;
      else if (*p == '"' && !quoted)
        dquoted = !dquoted;
      if (*p != '?' || quoted || dquoted)
        {
          g_string_append_c (out, *p);
          continue;
        }
      int n;
      if (g_ascii_isdigit (p[1]))
        {
          char *end = NULL;
          n = (int) g_ascii_strtoll (p + 1, &end, 10);
          p = end - 1;
        }
      else
        n = ++next;
      next = MAX (next, n);
      max = MAX (max, n);
      g_string_append_printf (out, "$%d", n);
    }
  *count = max;
  return g_string_free (out, FALSE);
}

/* Statements worth preparing: the rules' queries. Transaction control and
 * settings (BEGIN, SET LOCAL) are sent as they are. */
gboolean
ts_pg_preparable (const char *sql)
{
  return g_ascii_strncasecmp (sql, "SELECT", 6) == 0 || g_ascii_strncasecmp (sql, "INSERT", 6) == 0
         || g_ascii_strncasecmp (sql, "UPDATE", 6) == 0
         || g_ascii_strncasecmp (sql, "DELETE", 6) == 0
         || g_ascii_strncasecmp (sql, "WITH", 4) == 0;
}

PGresult *
ts_pg_query_va (TsPgDb *db, GError **error, const char *sql, const char *types, va_list ap)
{
  int n = 0;
  g_autofree char *text = ts_pg_number_params (sql, &n);
  int ntypes = types != NULL ? (int) strlen (types) : 0;
  if (n != ntypes || n > TS_PG_MAX_PARAMS)
    {
      /* A bug in the caller's SQL, not the database's fault. */
      g_critical ("ts_pg_query: %d parameters in \"%s\", %d values", n, sql, ntypes);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "license database error: a malformed query (see the server log)");
      return NULL;
    }
  Oid oids[TS_PG_MAX_PARAMS];
  const char *values[TS_PG_MAX_PARAMS];
  int lengths[TS_PG_MAX_PARAMS];
  int formats[TS_PG_MAX_PARAMS];
  char *owned[TS_PG_MAX_PARAMS] = { 0 };
  for (int i = 0; i < n; i++)
    {
      lengths[i] = 0;
      formats[i] = 0;
      switch (types[i])
        {
        case 's':
          oids[i] = 25; /* text */
          values[i] = va_arg (ap, const char *);
          break;
        case 'i':
          oids[i] = 20; /* int8 */
          owned[i] = g_strdup_printf ("%" G_GINT64_FORMAT, va_arg (ap, gint64));
          values[i] = owned[i];
          break;
        case 'b':
          {
            GBytes *b = va_arg (ap, GBytes *);
            gsize len = 0;
            oids[i] = 17; /* bytea, sent in binary: no escaping */
            values[i] = g_bytes_get_data (b, &len);
            lengths[i] = (int) len;
            formats[i] = 1;
            break;
          }
        default:
          g_assert_not_reached ();
        }
    }
  PGresult *res = NULL;
  TsPgPrepared *prep = g_hash_table_lookup (db->pc->prepared, sql);
  if (prep != NULL && g_strcmp0 (prep->types, types) != 0)
    prep = NULL; /* the same SQL with other types: not worth a second name */
  else if (prep == NULL && ts_pg_preparable (text))
    {
      prep = g_new0 (TsPgPrepared, 1);
      g_snprintf (prep->name, sizeof prep->name, "ts%u", ++db->pc->next_name);
      prep->types = g_strdup (types);
      PGresult *r = PQprepare (db->conn, prep->name, text, n, oids);
      gboolean prepared = PQresultStatus (r) == PGRES_COMMAND_OK;
      if (!prepared)
        ts_pg_set_error (db, r, error);
      PQclear (r);
      if (!prepared)
        {
          ts_pg_prepared_free (prep);
          for (int i = 0; i < n; i++)
            g_free (owned[i]);
          return NULL;
        }
      g_hash_table_insert (db->pc->prepared, g_strdup (sql), prep);
    }
  if (prep != NULL)
    res = PQexecPrepared (db->conn, prep->name, n, values, lengths, formats, 0);
  else
    res = PQexecParams (db->conn, text, n, oids, values, lengths, formats, 0);
  for (int i = 0; i < n; i++)
    g_free (owned[i]);
  ExecStatusType st = PQresultStatus (res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
    {
      ts_pg_set_error (db, res, error);
      PQclear (res);
      return NULL;
    }
  return res;
}

PGresult *
ts_pg_query (TsPgDb *db, GError **error, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  PGresult *res = ts_pg_query_va (db, error, sql, types, ap);
  va_end (ap);
  return res;
}

gboolean
ts_pg_exec (TsPgDb *db, GError **error, gint64 *changes, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  PGresult *res = ts_pg_query_va (db, error, sql, types, ap);
  va_end (ap);
  if (res == NULL)
    return FALSE;
  if (changes != NULL)
    {
      const char *n = PQcmdTuples (res);
      *changes = n != NULL && *n ? g_ascii_strtoll (n, NULL, 10) : 0;
    }
  PQclear (res);
  return TRUE;
}

gboolean
ts_pg_query_int (TsPgDb *db, GError **error, gint64 *out, gboolean *found, const char *sql,
                 const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  PGresult *res = ts_pg_query_va (db, error, sql, types, ap);
  va_end (ap);
  *out = 0;
  if (found != NULL)
    *found = FALSE;
  if (res == NULL)
    return FALSE;
  if (PQntuples (res) > 0)
    {
      *out = ts_pg_col_int (res, 0, 0);
      if (found != NULL)
        *found = TRUE;
    }
  PQclear (res);
  return TRUE;
}

gboolean
ts_pg_query_str (TsPgDb *db, GError **error, char **out, const char *sql, const char *types, ...)
{
  va_list ap;
  va_start (ap, types);
  PGresult *res = ts_pg_query_va (db, error, sql, types, ap);
  va_end (ap);
  *out = NULL;
  if (res == NULL)
    return FALSE;
  if (PQntuples (res) > 0)
    *out = ts_pg_col_strdup (res, 0, 0);
  PQclear (res);
  return TRUE;
}

char *
ts_pg_col_strdup (const PGresult *res, int row, int col)
{
  return PQgetisnull (res, row, col) ? NULL : g_strdup (PQgetvalue (res, row, col));
}

gint64
ts_pg_col_int (const PGresult *res, int row, int col)
{
  return PQgetisnull (res, row, col) ? 0 : g_ascii_strtoll (PQgetvalue (res, row, col), NULL, 10);
}

/* ---- connections ---- */

/* How long a request waits for a free connection before UNAVAILABLE: longer
 * than any one transaction should take, short enough for a client to retry
 * elsewhere. */
#define TS_PG_WAIT_SECONDS 30

/* Server notices ("relation already exists, skipping" when several
 * instances migrate at once) are not errors: debug output, not stderr. */
static void
ts_pg_notice (void *data, const char *message)
{
  g_debug ("PostgreSQL: %s", message);
}

/* - plan_cache_mode: each prepared statement is planned once per
 *   connection. By default the server plans again for every execution of
 *   a statement whose parameters might change its plan (most of ours):
 *   about 8 % of its CPU in scale-bench (issue 17).
 * - enable_seqscan off: every statement here looks rows up by key, through
 *   an index, whatever the statistics say. A plan made from them does not
 *   know which pool it will be run for: with most sessions in one pool
 *   (one big customer, or scale-bench's hot pool), counting any pool's
 *   sessions looked like reading half the table, and PostgreSQL chose to
 *   read all of it, for every activation of every pool (scale-bench with
 *   10 s phases: 3 instances fell from about 2,300 to 850 activations/s,
 *   1.9 ms of database CPU each; /store-instances/plans/skewed-pools).
 *   A table with no usable index is still read whole. */
const char *
ts_pg_session_options (void)
{
  /* tessera.seat_bound: this connection raises pools.seat_bound itself
   * (store-common.h): the trigger for other writers skips its inserts. */
  return "-c lock_timeout=30s -c idle_in_transaction_session_timeout=60s"
         " -c plan_cache_mode=force_generic_plan -c enable_seqscan=off"
         " -c tessera.seat_bound=kept";
}

static TsPgConn *
ts_pg_connect (TsPgStore *store, GError **error)
{
  /* Defaults first: the URL (dbname, expanded) overrides them.
   * - TCP keepalives and a user timeout: a database host that vanishes
   *   (failover, network split) fails requests within a minute instead of
   *   hanging them until the kernel gives up (~15 min).
   * - lock_timeout: a request never waits more than 30 s for a pool's row
   *   (UNAVAILABLE, retried by the client) behind a stuck transaction.
   * - idle_in_transaction_session_timeout: the server ends a transaction of
   *   ours left open (an instance frozen mid-request), so its locks go.
   * - the planner settings of ts_pg_session_options(). */
  const char *const keys[] = {
    "connect_timeout",  "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "options",    "dbname",          NULL
  };
  const char *const values[] = { "10",
                                 "tessera-server",
                                 "1",
                                 "30",
                                 "10",
                                 "3",
                                 "60000",
                                 ts_pg_session_options (),
                                 store->conninfo,
                                 NULL };
  PGconn *conn = PQconnectdbParams (keys, values, 1);
  if (conn == NULL || PQstatus (conn) != CONNECTION_OK)
    {
      g_autofree char *msg
          = g_strchomp (g_strdup (conn != NULL ? PQerrorMessage (conn) : "out of memory"));
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "cannot connect to the license database %s: %s", store->location, msg);
      PQfinish (conn);
      return NULL;
    }
  PQsetNoticeProcessor (conn, ts_pg_notice, NULL);
  TsPgConn *pc = g_new0 (TsPgConn, 1);
  pc->conn = conn;
  pc->prepared = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, ts_pg_prepared_free);
  return pc;
}

TsPgConn *
ts_pg_conn_acquire (TsPgStore *store, GError **error)
{
  TsPgConn *conn = NULL;
  gint64 deadline = g_get_monotonic_time () + TS_PG_WAIT_SECONDS * G_TIME_SPAN_SECOND;
  g_mutex_lock (&store->lock);
  while (g_queue_is_empty (&store->idle) && store->open >= store->pool_size)
    if (!g_cond_wait_until (&store->freed, &store->lock, deadline))
      {
        g_mutex_unlock (&store->lock);
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                     "all %u connections to the license database have been busy for %d s: "
                     "raise pool_size or the database's capacity",
                     store->pool_size, TS_PG_WAIT_SECONDS);
        return NULL;
      }
  conn = g_queue_pop_head (&store->idle);
  if (conn == NULL)
    store->open++; /* a slot, reserved while connecting outside the lock */
  g_mutex_unlock (&store->lock);

  /* A pooled connection the server closed meanwhile (restart, idle
   * timeout) is replaced rather than handed out broken. */
  if (conn != NULL && PQstatus (conn->conn) != CONNECTION_OK)
    {
      PQreset (conn->conn);
      g_hash_table_remove_all (conn->prepared); /* a new session has none */
      if (PQstatus (conn->conn) == CONNECTION_OK)
        return conn;
      g_clear_pointer (&conn, ts_pg_conn_free);
    }
  if (conn == NULL)
    {
      conn = ts_pg_connect (store, error);
      if (conn == NULL)
        {
          g_mutex_lock (&store->lock);
          store->open--;
          g_cond_signal (&store->freed);
          g_mutex_unlock (&store->lock);
        }
    }
  return conn;
}

/* Closes every idle connection: when one turned out dead, the others
 * (opened before the same database restart or failover) most likely are
 * too, and each would cost a failed request. */
void
ts_pg_drop_idle (TsPgStore *store)
{
  g_mutex_lock (&store->lock);
  GQueue dead = store->idle;
  g_queue_init (&store->idle);
  store->open -= dead.length;
  g_cond_broadcast (&store->freed);
  g_mutex_unlock (&store->lock);
  TsPgConn *conn;
  while ((conn = g_queue_pop_head (&dead)) != NULL)
    ts_pg_conn_free (conn);
}

void
ts_pg_conn_release (TsPgStore *store, TsPgConn *conn, gboolean broken)
{
  if (broken || PQstatus (conn->conn) != CONNECTION_OK
      || PQtransactionStatus (conn->conn) != PQTRANS_IDLE)
    g_clear_pointer (&conn, ts_pg_conn_free);
  g_mutex_lock (&store->lock);
  if (conn != NULL)
    g_queue_push_head (&store->idle, conn);
  else
    store->open--;
  g_cond_signal (&store->freed);
  g_mutex_unlock (&store->lock);
}

/* @begin: the transaction's opening statements, constant SQL (several in
 * one round trip through the simple query protocol). */
static TsPgDb *
ts_pg_begin_with (TsPgStore *store, gboolean write, const char *begin, GError **error)
{
  /* One retry on a fresh connection: a pooled one may have died since it
   * was last used (the server restarted) without PQstatus knowing yet. */
  for (int attempt = 0; attempt < 2; attempt++)
    {
      TsPgConn *conn = ts_pg_conn_acquire (store, error);
      if (conn == NULL)
        return NULL;
      TsPgDb *db = g_new0 (TsPgDb, 1);
      db->pc = conn;
      db->conn = conn->conn;
      db->write = write;
      GError *local = NULL;
      PGresult *res = PQexec (db->conn, begin);
      gboolean ok = PQresultStatus (res) == PGRES_COMMAND_OK;
      if (!ok)
        ts_pg_set_error (db, res, &local);
      PQclear (res);
      if (ok)
        return db;
      ts_pg_conn_release (store, conn, TRUE);
      gboolean retry = db->broken && attempt == 0;
      g_free (db);
      if (!retry)
        {
          g_propagate_error (error, local);
          return NULL;
        }
      g_clear_error (&local);
      ts_pg_drop_idle (store);
    }
  return NULL; /* not reached: the second attempt returns */
}

TsPgDb *
ts_pg_begin (TsPgStore *store, gboolean write, GError **error)
{
  return ts_pg_begin_with (store, write,
                           write ? "BEGIN ISOLATION LEVEL READ COMMITTED"
                                 : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                           error);
}

gboolean
ts_pg_finish (TsPgStore *store, TsPgDb *db, gboolean ok, GError **error)
{
  if (ok)
    {
      PGresult *res = PQexec (db->conn, "COMMIT");
      /* COMMIT of a transaction that failed answers ROLLBACK, not an error. */
      if (PQresultStatus (res) != PGRES_COMMAND_OK || g_strcmp0 (PQcmdStatus (res), "COMMIT") != 0)
        {
          if (PQresultStatus (res) != PGRES_COMMAND_OK)
            ts_pg_set_error (db, res, error);
          else
            g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                         "the license database rolled the change back (nothing was changed)");
          ok = FALSE;
        }
      PQclear (res);
    }
  else if (PQtransactionStatus (db->conn) != PQTRANS_IDLE)
    PQclear (PQexec (db->conn, "ROLLBACK"));
  ts_pg_conn_release (store, db->pc, db->broken);
  g_free (db);
  return ok;
}

/* ---- migrations ---- */

static gboolean
ts_pg_migrate (TsPgStore *store, GError **error)
{
  gint64 latest = G_N_ELEMENTS (migrations), version = 0;
  /* Look first in a read-only transaction, so that an up-to-date database
   * can be opened when it is read-only (a standby, default_transaction_
   * read_only): reads work, every write then reports UNAVAILABLE. */
  TsPgDb *db = ts_pg_begin (store, FALSE, error);
  if (db == NULL)
    return FALSE;
  char *table = NULL;
  gboolean ok
      = ts_pg_query_str (db, error, &table, "SELECT to_regclass ('schema_version')::text", NULL);
  if (ok && table != NULL)
    ok = ts_pg_query_int (db, error, &version, NULL, "SELECT max(version) FROM schema_version",
                          NULL);
  g_free (table);
  if (!ts_pg_finish (store, db, ok, error))
    return FALSE;
  if (version > latest)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "the license database %s has schema version %" G_GINT64_FORMAT
                   ", newer than this program knows (%" G_GINT64_FORMAT ")",
                   store->location, version, latest);
      return FALSE;
    }
  if (version == latest)
    return TRUE;

  db = ts_pg_begin (store, TRUE, error);
  if (db == NULL)
    return FALSE;
  /* Every instance starting at once takes the same lock: one migrates, the
   * others then find the schema current. The lock ends with the
   * transaction, also when the instance dies. */
  ok = ts_pg_exec (db, error, NULL, "SELECT pg_advisory_xact_lock (?)", "i", TS_PG_MIGRATION_LOCK)
       && ts_pg_exec (db, error, NULL,
                      "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL,"
                      " applied_at BIGINT NOT NULL)",
                      NULL)
       && ts_pg_query_int (db, error, &version, NULL,
                           "SELECT coalesce (max(version), 0) FROM schema_version", NULL);
  /* Re-read under the lock: another instance may have migrated. */
  if (ok && version > latest)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "the license database %s has schema version %" G_GINT64_FORMAT
                   ", newer than this program knows (%" G_GINT64_FORMAT ")",
                   store->location, version, latest);
      ok = FALSE;
    }
  for (gint64 i = version; ok && i < latest; i++)
    {
      PGresult *res = PQexec (db->conn, migrations[i]);
      if (PQresultStatus (res) != PGRES_COMMAND_OK)
        {
          ts_pg_set_error (db, res, error);
          g_prefix_error (error, "schema migration %" G_GINT64_FORMAT ": ", i + 1);
          ok = FALSE;
        }
      PQclear (res);
      ok = ok
           && ts_pg_exec (db, error, NULL,
                          "INSERT INTO schema_version (version, applied_at)"
                          " VALUES (?, extract (epoch FROM now ())::bigint)",
                          "i", i + 1);
    }
  return ts_pg_finish (store, db, ok, error);
}

/* ---- lifecycle ---- */

/* Our own parameter in the URL's query string, which libpq would refuse:
 * pool_size=N, the connections this instance keeps (default
 * TS_PG_POOL_DEFAULT). The rest of the URL goes to libpq as is. */
static gboolean
ts_pg_parse_location (TsPgStore *store, const char *url, GError **error)
{
  store->pool_size = TS_PG_POOL_DEFAULT;
  const char *q = strchr (url, '?');
  if (q == NULL)
    {
      store->conninfo = g_strdup (url);
      return TRUE;
    }
  g_auto (GStrv) params = g_strsplit (q + 1, "&", -1);
  GString *rest = g_string_new_len (url, q - url);
  guint kept = 0;
  for (guint i = 0; params[i] != NULL; i++)
    {
      if (g_str_has_prefix (params[i], "pool_size="))
        {
          char *end = NULL;
          guint64 n = g_ascii_strtoull (params[i] + strlen ("pool_size="), &end, 10);
          if (end == NULL || *end != '\0' || n < 1 || n > TS_PG_POOL_MAX)
            {
              g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                           "invalid pool_size in the database URL: 1 to %d connections",
                           TS_PG_POOL_MAX);
              g_string_free (rest, TRUE);
              return FALSE;
            }
          store->pool_size = (guint) n;
          continue;
        }
      if (*params[i] == '\0')
        continue;
      g_string_append_c (rest, kept++ == 0 ? '?' : '&');
      g_string_append (rest, params[i]);
    }
  store->conninfo = g_string_free (rest, FALSE);
  return TRUE;
}

/* The URL for messages: without its password. */
static char *
ts_pg_mask_password (const char *url)
{
  const char *scheme = strstr (url, "://");
  const char *at = scheme != NULL ? strchr (scheme + 3, '@') : NULL;
  const char *slash = scheme != NULL ? strchr (scheme + 3, '/') : NULL;
  if (at == NULL || (slash != NULL && slash < at))
    return g_strdup (url);
  const char *colon = memchr (scheme + 3, ':', at - (scheme + 3));
  if (colon == NULL)
    return g_strdup (url);
  return g_strdup_printf ("%.*s:***%s", (int) (colon - url), url, at);
}

TsPgStore *
ts_pg_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  if (sodium_init () < 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED, "libsodium cannot be initialized");
      return NULL;
    }
  /* Worker threads use the pool's connections concurrently (one thread per
   * connection at a time), which needs a thread-safe libpq. */
  if (!PQisthreadsafe ())
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "this libpq is not thread-safe: rebuild it with thread safety");
      return NULL;
    }
  TsPgStore *store = g_new0 (TsPgStore, 1);
  store->location = ts_pg_mask_password (path);
  g_mutex_init (&store->lock);
  g_mutex_init (&store->credits_lock);
  store->credits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_cond_init (&store->freed);
  g_queue_init (&store->idle);
  GError *local = NULL;
  if (!ts_pg_parse_location (store, path, &local) || !ts_pg_migrate (store, &local))
    {
      /* Name the database, once (connection errors already do). */
      if (strstr (local->message, store->location) == NULL)
        g_prefix_error (&local, "%s: ", store->location);
      g_propagate_error (error, local);
      ts_pg_close (store);
      return NULL;
    }
  return store;
}

void
ts_pg_close (TsPgStore *store)
{
  if (store == NULL)
    return;
  g_mutex_lock (&store->lock);
  if (store->open != g_queue_get_length (&store->idle))
    g_critical ("ts_store_close: %u connection(s) still in use",
                store->open - g_queue_get_length (&store->idle));
  TsPgConn *conn;
  while ((conn = g_queue_pop_head (&store->idle)) != NULL)
    ts_pg_conn_free (conn);
  g_mutex_unlock (&store->lock);
  g_mutex_clear (&store->lock);
  g_mutex_clear (&store->credits_lock);
  g_clear_pointer (&store->credits, g_hash_table_unref);
  g_cond_clear (&store->freed);
  g_free (store->conninfo);
  g_free (store->location);
  g_free (store);
}
