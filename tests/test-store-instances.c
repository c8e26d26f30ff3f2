/* Several tessera-server instances on one PostgreSQL database, at the store
 * level: each "instance" is its own TsStore (its own connection pool) on the
 * same database, as separate processes would be. What must hold across
 * them: migrations started at once, quotas, idempotent activation by nonce,
 * reaping by all at once, and a database that goes away and comes back.
 * Run by ctest under tests/with-postgres.sh; skipped without
 * TESSERA_TEST_POSTGRES. */
#include "db.h"
#include "store-fixture.h"
#include "store-pg.h"

#include <string.h>

#define NOW ((gint64) 1700000000)
#define HEX16(b) b b b b b b b b b b b b b b b b
#define SUB_END (NOW + 365 * 86400)
#define LEASE 60
#define N_INSTANCES 3
#define N_CLIENTS 64
#define N_ACTIVATIONS 600
#define QUOTA 10
#define N_USERS 8

typedef struct
{
  char *dir;
  char *url;
  TsStore *stores[N_INSTANCES];
  char *users[N_USERS];
  char *pool_id;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!test_store_postgresql ())
    return;
  f->stores[0] = test_store_fresh (&f->dir, &f->url);
  for (guint i = 1; i < N_INSTANCES; i++)
    f->stores[i] = test_store_open (f->url);
  TsStore *s = f->stores[0];
  g_free (test_store_org (s, "acme", "Acme", "owner@acme.test", NOW));
  for (guint i = 0; i < N_USERS; i++)
    {
      g_autofree char *email = g_strdup_printf ("user%u@acme.test", i);
      /* Through different instances: any of them serves any request. */
      f->users[i] = test_store_member (f->stores[i % N_INSTANCES], NULL, "acme", email,
                                       TS_ROLE_MEMBER, NOW);
    }
  f->pool_id = test_store_pool_id (s, "acme", "KRE", "floating", "annual", QUOTA, SUB_END, NOW);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  if (f->url == NULL)
    return;
  for (guint i = 0; i < N_INSTANCES; i++)
    ts_store_close (f->stores[i]);
  for (guint i = 0; i < N_USERS; i++)
    g_free (f->users[i]);
  g_free (f->pool_id);
  test_store_fresh_free (NULL, f->url, f->dir);
}

static gboolean
need_postgresql (void)
{
  if (test_store_postgresql ())
    return TRUE;
  g_test_skip ("no PostgreSQL: run under tests/with-postgres.sh");
  return FALSE;
}

static gint64
count (Fixture *f, const char *sql)
{
  return test_store_count (f->url, sql);
}

/* ---- what a request costs PostgreSQL ---- */

typedef struct
{
  guint trips, statements;
} Mark;

/* Round trips of @s since *mark (and in *statements, the statements),
 * and the new mark. */
static guint
trips_since (TsStore *s, Mark *mark, guint *statements)
{
  Mark now = { 0 };
  g_assert_true (ts_store_round_trips (s, &now.trips, &now.statements));
  guint n = now.trips - mark->trips;
  if (statements != NULL)
    *statements = now.statements - mark->statements;
  *mark = now;
  return n;
}

/* Issue #17: PostgreSQL's cost per request followed its round trips (an
 * activation was 8, a heartbeat 6, the API-key check 3 more) and then its
 * statements. In a pipeline (db-pg.c): the key check is none (in the
 * request's first statement; on its own, one), an
 * activation three (choose the pool; lock it, with the seats and the
 * nonce's session in one statement behind the lock; the writes with the
 * COMMIT), a heartbeat two (the session; the writes with the COMMIT).
 * Statements, BEGIN and COMMIT included: an activation 6 (the session's
 * insert and its machine's write are one, ts_tx_exec_defer_beside()), a
 * heartbeat 5
 * (with SET LOCAL synchronous_commit), 6 when its machine's last_seen is
 * a minute old; a heartbeat counts no seats (a lowered quota ends the
 * sessions beyond it itself). Counted, not timed. */
static void
test_round_trips (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!need_postgresql ())
    return;
  GError *error = NULL;
  TsStore *s = f->stores[0];
  g_autofree char *key_id = NULL;
  g_autofree char *key = ts_store_create_api_key (s, f->users[0], "ci", NOW, &key_id, &error);
  g_assert_no_error (error);
  Mark mark = { 0 };
  guint statements = 0;
  trips_since (s, &mark, NULL);

  /* The key checked on its own (the pages, the administration API): one
   * statement. The client requests check it in their own first statement
   * (TsCaller): by key, they cost what they cost by user id. */
  g_autofree char *user = ts_store_authenticate (s, key, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user, ==, f->users[0]);
  g_assert_cmpuint (trips_since (s, &mark, &statements), ==, 1);
  g_assert_cmpuint (statements, ==, 1);
  g_autofree char *hash = ts_api_key_hash (key, &error);
  g_assert_no_error (error);
  TsCaller by_key = { .key_hash = hash };

  TsSession *session = ts_store_activate_as (s, &by_key, "acme", "KRE", "M-1", NULL, NULL,
                                             "nonce-trips", LEASE, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (by_key.found, ==, user);
  g_clear_pointer (&by_key.found, g_free);
  g_assert_cmpuint (trips_since (s, &mark, &statements), ==, 3);
  g_assert_cmpuint (statements, ==, 6);
  /* The same nonce again: the same session, one trip more (its load). */
  TsSession *again
      = ts_store_activate (s, user, "acme", "KRE", "M-1", "nonce-trips", LEASE, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->id, ==, session->id);
  g_assert_cmpuint (trips_since (s, &mark, NULL), <=, 4);
  /* Another activation of the machine within the minute: its row is not
   * written, and the session's insert is a statement alone (6). The
   * caller's last activation chose this pool: its lock and seat count go
   * out with the choice (TsPoolGuess), 2 trips. */
  TsSession *second
      = ts_store_activate (s, user, "acme", "KRE", "M-1", "nonce-trips-2", LEASE, NOW + 5, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (trips_since (s, &mark, &statements), ==, 2);
  g_assert_cmpuint (statements, ==, 6);
  g_assert_true (ts_store_release (s, user, second->id, NOW + 5, &error));
  g_assert_no_error (error);
  ts_session_free (second);
  /* A client that tells its machine's components, host name and OS (the
   * testops plugin does): kept in the statement that writes the machine
   * (registering it, or seeing it again), which the insert joins. A new
   * machine ID is looked up among the user's machines first (a machine
   * recognized by its components, one trip and statement more); a
   * registered one is not: 3 trips and 7 statements, then 2 and 6 (the
   * pool guessed, as above). */
  const TsClientInfo told = { "ci-runner-1", "Debian GNU/Linux 12 (bookworm)" };
  const char *digests = "machine-id=" HEX16 ("01") " user=" HEX16 ("05");
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *nonce = g_strdup_printf ("nonce-told-%u", i);
      trips_since (s, &mark, NULL);
      TsSession *t = ts_store_activate_client (s, user, "acme", "KRE", "M-2", digests, &told, nonce,
                                               LEASE, NOW + 6, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (trips_since (s, &mark, &statements), ==, i == 0 ? 3 : 2);
      g_assert_cmpuint (statements, ==, i == 0 ? 7 : 6);
      g_assert_true (ts_store_release (s, user, t->id, NOW + 6, &error));
      g_assert_no_error (error);
      ts_session_free (t);
    }
  g_assert_cmpint (count (f, "SELECT count(*) FROM machines WHERE machine_id = 'M-2'"
                             " AND hostname = 'ci-runner-1' AND os LIKE 'Debian%'"
                             " AND components LIKE 'machine-id=%'"),
                   ==, 1);
  trips_since (s, &mark, NULL);

  TsSession *hb = ts_store_heartbeat_as (s, &by_key, session->id, LEASE, NOW + 10, &error);
  g_assert_no_error (error);
  g_clear_pointer (&by_key.found, g_free);
  g_assert_cmpint (hb->lease_expires_at, ==, NOW + 10 + LEASE);
  g_assert_cmpuint (trips_since (s, &mark, &statements), ==, 2);
  g_assert_cmpuint (statements, ==, 5);
  /* What the deferred writes did is there, on another instance; the
   * machine was seen at the activation, 10 s ago: not written again. */
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions WHERE lease_expires_at = 1700000070"),
                   ==, 1);
  g_assert_cmpint (count (f, "SELECT count(*) FROM machines WHERE last_seen = 1700000000"), ==, 1);
  ts_session_free (hb);
  hb = ts_store_heartbeat (s, user, session->id, LEASE, NOW + 60, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (trips_since (s, &mark, &statements), ==, 2);
  g_assert_cmpuint (statements, ==, 6);
  g_assert_cmpint (count (f, "SELECT count(*) FROM machines WHERE last_seen = 1700000060"), ==, 1);
  ts_session_free (hb);
  ts_session_free (again);
  ts_session_free (session);
}

/* ---- the pool an activation will choose, guessed (TsPoolGuess) ---- */

typedef enum
{
  GUESS_GRANTED,  /* the node-locked pool granted: chosen over the floating one */
  GUESS_REVOKED,  /* and the grant taken back: the floating one again */
  GUESS_REMOVED,  /* the membership ended: PERMISSION_DENIED */
  GUESS_KEY_GONE, /* the caller's API key revoked: AUTH */
} GuessChange;

typedef struct
{
  const char *name;
  GuessChange change;
  const char *kind; /* of the pool the next activation lands in; NULL: fails */
  int code;         /* and its error */
} GuessCase;

static const GuessCase guess_cases[] = {
  { "granted", GUESS_GRANTED, "node-locked", 0 },
  { "revoked", GUESS_REVOKED, "floating", 0 },
  { "removed", GUESS_REMOVED, NULL, TESSERA_ERROR_PERMISSION_DENIED },
  { "key-gone", GUESS_KEY_GONE, NULL, TESSERA_ERROR_AUTH },
};

/* An instance guesses the pool its caller's last activation chose (here
 * instance 0, by key); another instance changes what the choice gives.
 * The activation still lands where the choice says, or fails as it says,
 * with nothing of the guessed pool left: its seats and its lock. */
static void
test_guess (Fixture *f, gconstpointer data)
{
  const GuessCase *c = data;
  if (!need_postgresql ())
    return;
  GError *error = NULL;
  TsStore *s = f->stores[0], *other = f->stores[1];
  g_autofree char *owner = test_store_org (s, "beta", "Beta", "owner@beta.test", NOW);
  g_autofree char *user
      = test_store_member (s, owner, "beta", "user@beta.test", TS_ROLE_MEMBER, NOW);
  g_autofree char *fl
      = test_store_pool_id (s, "beta", "KSE", "floating", "annual", 5, SUB_END, NOW);
  g_autofree char *nl
      = test_store_pool_id (s, "beta", "KSE", "node-locked", "annual", 5, SUB_END, NOW);
  g_autofree char *key_id = NULL;
  g_autofree char *key = ts_store_create_api_key (s, user, "ci", NOW, &key_id, &error);
  g_assert_no_error (error);
  g_autofree char *hash = ts_api_key_hash (key, &error);
  g_assert_no_error (error);
  if (c->change == GUESS_REVOKED)
    {
      g_assert_true (ts_store_grant (other, owner, "beta", nl, user, NOW, &error));
      g_assert_no_error (error);
    }
  /* Twice: the second activation is the guessed one (2 trips). */
  Mark mark = { 0 };
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *nonce = g_strdup_printf ("nonce-before-%u", i);
      TsCaller who = { .key_hash = hash };
      trips_since (s, &mark, NULL);
      TsSession *before = ts_store_activate_as (s, &who, "beta", "KSE", "M-1", NULL, NULL, nonce,
                                                LEASE, NOW, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (before->kind, ==, c->change == GUESS_REVOKED ? "node-locked" : "floating");
      g_assert_cmpuint (trips_since (s, &mark, NULL), ==, i == 0 ? 3 : 2);
      g_assert_true (ts_store_release (s, user, before->id, NOW, &error));
      g_assert_no_error (error);
      ts_session_free (before);
      g_free (who.found);
    }
  switch (c->change)
    {
    case GUESS_GRANTED:
      g_assert_true (ts_store_grant (other, owner, "beta", nl, user, NOW, &error));
      break;
    case GUESS_REVOKED:
      g_assert_true (ts_store_revoke_grant (other, owner, "beta", nl, user, NOW, &error));
      break;
    case GUESS_REMOVED:
      g_assert_true (ts_store_remove_member (other, owner, "beta", user, NOW, &error));
      break;
    case GUESS_KEY_GONE:
      g_assert_true (ts_store_revoke_api_key (other, user, key_id, NOW, &error));
      break;
    }
  g_assert_no_error (error);
  g_autofree char *sessions_before = g_strdup_printf (
      "SELECT count(*) FROM sessions WHERE pool_id = '%s' AND ended_at IS NULL", fl);
  gint64 open_before = count (f, sessions_before);
  TsCaller who = { .key_hash = hash };
  TsSession *after = ts_store_activate_as (s, &who, "beta", "KSE", "M-1", NULL, NULL, "nonce-after",
                                           LEASE, NOW + 1, &error);
  g_free (who.found);
  if (c->kind == NULL)
    {
      g_assert_null (after);
      g_assert_error (error, TESSERA_ERROR, c->code);
      g_clear_error (&error);
      g_assert_cmpint (count (f, "SELECT count(*) FROM sessions WHERE nonce = 'nonce-after'"), ==,
                       0);
    }
  else
    {
      g_assert_no_error (error);
      g_assert_cmpstr (after->kind, ==, c->kind);
      g_assert_cmpstr (after->pool_id, ==, g_str_equal (c->kind, "floating") ? fl : nl);
      ts_session_free (after);
      /* And the one after it is guessed again, right this time. */
      trips_since (s, &mark, NULL);
      TsCaller again = { .key_hash = hash };
      after = ts_store_activate_as (s, &again, "beta", "KSE", "M-1", NULL, NULL, "nonce-after-2",
                                    LEASE, NOW + 2, &error);
      g_free (again.found);
      g_assert_no_error (error);
      g_assert_cmpstr (after->kind, ==, c->kind);
      g_assert_cmpuint (trips_since (s, &mark, NULL), ==, 2);
      ts_session_free (after);
    }
  /* The guessed (floating) pool gained no session unless chosen. */
  if (c->kind == NULL || !g_str_equal (c->kind, "floating"))
    g_assert_cmpint (count (f, sessions_before), ==, open_before);
  /* Its row is free: no transaction holds it. */
  g_autofree char *lock = g_strdup_printf ("SELECT count(*) FROM (SELECT 1 FROM pools WHERE id ="
                                           " '%s' FOR UPDATE NOWAIT) l",
                                           fl);
  g_assert_cmpint (count (f, lock), ==, 1);
}

/* ---- writes deferred beside each other (db.h) ---- */

typedef struct
{
  const char *name;
  const char *first, *second; /* SQL; ids ?-bound below */
  const char *first_id, *second_id;
  gboolean abandon;    /* the caller gives up (ts_tx_finish (tx, FALSE)) */
  gboolean ok;         /* the transaction commits */
  guint statements;    /* BEGIN and COMMIT included */
  const char *present; /* ids there afterwards, ',' between */
} BesideCase;

#define ORG_INSERT "INSERT INTO orgs (id, name, created_at) VALUES (?, 'x', 0)"

static const BesideCase beside_cases[] = {
  /* Joined: one statement, both rows. */
  { "joined", ORG_INSERT, ORG_INSERT, "b-1", "b-2", FALSE, TRUE, 3, "b-1,b-2" },
  /* One half fails (the same key twice): neither row, the transaction
   * fails (its COMMIT answers ROLLBACK; a ROLLBACK follows), and nothing
   * is left behind on the connection. */
  { "one-fails", ORG_INSERT, ORG_INSERT, "b-3", "b-3", FALSE, FALSE, 4, "" },
  /* Given up before the commit: what was held is never sent. */
  { "abandoned", ORG_INSERT, ORG_INSERT, "b-7", "b-8", TRUE, FALSE, 0, "" },
  /* A numbered placeholder: not joined, both done. */
  { "numbered", ORG_INSERT, "INSERT INTO orgs (id, name, created_at) VALUES (?1, 'y', 0)", "b-4",
    "b-5", FALSE, TRUE, 4, "b-4,b-5" },
  /* After a read: it is not a write to join. */
  { "after-read", NULL, ORG_INSERT, NULL, "b-6", FALSE, TRUE, 4, "b-6" },
};

static void
test_defer_beside (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!need_postgresql ())
    return;
  TsStore *s = f->stores[0];
  for (guint c = 0; c < G_N_ELEMENTS (beside_cases); c++)
    {
      const BesideCase *bc = &beside_cases[c];
      g_test_message ("case %s", bc->name);
      GError *error = NULL;
      Mark mark = { 0 };
      guint statements = 0;
      trips_since (s, &mark, NULL);
      TsTx *tx = ts_tx_begin (s, TS_TX_WRITE, &error);
      g_assert_no_error (error);
      gint64 n = 0;
      gboolean ok = bc->first != NULL
                        ? ts_tx_exec_defer (tx, &error, bc->first, "s", bc->first_id)
                        : ts_tx_int (tx, &error, &n, NULL, "SELECT count(*) FROM orgs", NULL);
      g_assert_no_error (error);
      g_assert_true (ok);
      ok = ts_tx_exec_defer_beside (tx, &error, bc->second, "s", bc->second_id);
      g_assert_no_error (error);
      g_assert_true (ok);
      ok = ts_tx_finish (tx, !bc->abandon, bc->abandon ? NULL : &error);
      g_assert_cmpint (ok, ==, bc->ok);
      if (bc->ok || bc->abandon)
        g_assert_no_error (error);
      else
        g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
      g_clear_error (&error);
      trips_since (s, &mark, &statements);
      g_assert_cmpuint (statements, ==, bc->statements);
      g_auto (GStrv) present = g_strsplit (bc->present, ",", -1);
      gint64 want = bc->present[0] != '\0' ? g_strv_length (present) : 0;
      g_autofree char *sql
          = g_strdup_printf ("SELECT count(*) FROM orgs WHERE id IN ('%s', '%s')",
                             bc->first_id != NULL ? bc->first_id : "", bc->second_id);
      g_assert_cmpint (count (f, sql), ==, want);
      /* The connection serves the next transaction. */
      g_autofree char *user = ts_store_authenticate (s, "tsk_not-a-key", &error);
      g_assert_null (user);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_clear_error (&error);
    }
}

/* ---- the pools' seat bound and each instance's credits ---- */

/* A pool of @quota with @n sessions an older server started (raw inserts:
 * no bound is raised for a pool without one). Returns its id. */
static char *
big_pool (Fixture *f, gint64 quota, guint n)
{
  char *id
      = test_store_pool_id (f->stores[0], "acme", "KSE", "floating", "annual", quota, SUB_END, NOW);
  TestDb *db = test_db_open (f->url);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *sid = g_strdup_printf ("old-%u", i);
      g_autofree char *nonce = g_strdup_printf ("nonce-old-%u", i);
      test_db_insert_session (db, sid, id, f->users[N_USERS - 1], "M-OLD", nonce, NOW, NOW + LEASE);
    }
  test_db_close (db);
  return id;
}

static gint64
pool_field (Fixture *f, const char *pool_id, const char *column)
{
  g_autofree char *sql
      = g_strdup_printf ("SELECT coalesce (%s, -1) FROM pools WHERE id = '%s'", column, pool_id);
  return count (f, sql);
}

/* Activates @product through instance @i: user @i's seat on its own
 * machine; NULL with @error set if refused. */
static TsSession *
activate_on (Fixture *f, guint i, const char *product, const char *nonce, GError **error)
{
  g_autofree char *machine = g_strdup_printf ("M-%s", nonce);
  return ts_store_activate (f->stores[i], f->users[i], "acme", product, machine, nonce, LEASE, NOW,
                            error);
}

static void
activate_ok_on (Fixture *f, guint i, const char *product, const char *nonce)
{
  GError *error = NULL;
  g_autoptr (TsSession) s = activate_on (f, i, product, nonce, &error);
  g_assert_no_error (error);
}

/* A small pool keeps no bound: its sessions are counted each time. */
static void
test_seat_bound_small (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!need_postgresql ())
    return;
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *nonce = g_strdup_printf ("nonce-s-%u", i);
      activate_ok_on (f, i, "KRE", nonce);
    }
  g_assert_cmpint (pool_field (f, f->pool_id, "seat_bound"), ==, -1);
}

/* From TS_SEAT_TRACK sessions on, a count sets the bound for this seat and
 * half the room left (at most TS_SEAT_CREDITS); the instance uses the
 * seats it counted in ahead without writing the row again; another
 * instance has none of them; the store's own inserts do not fire the
 * trigger meant for other writers (the bound would be 2 more). */
static void
test_seat_credits (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!need_postgresql ())
    return;
  g_autofree char *pool = big_pool (f, 1000, 63);
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, -1);
  activate_ok_on (f, 0, "KSE", "nonce-c-1"); /* counts 63 */
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, 63 + 16);
  g_assert_cmpint (pool_field (f, pool, "seat_epoch"), ==, 1);
  activate_ok_on (f, 0, "KSE", "nonce-c-2");
  activate_ok_on (f, 0, "KSE", "nonce-c-3");
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, 63 + 16);
  activate_ok_on (f, 1, "KSE", "nonce-c-4");
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, 63 + 16 + 16);
  g_assert_cmpint (pool_field (f, pool, "seat_epoch"), ==, 1);
  g_autofree char *sql
      = g_strdup_printf ("SELECT count(*) FROM sessions WHERE pool_id = '%s'", pool);
  g_assert_cmpint (count (f, sql), ==, 63 + 4);
}

/* A count moves the epoch on: the credits an instance still holds are
 * void, and it raises the bound again instead of using them. */
static void
test_seat_credits_void (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!need_postgresql ())
    return;
  g_autofree char *pool = big_pool (f, 1000, 63);
  activate_ok_on (f, 0, "KSE", "nonce-v-1"); /* bound 79, epoch 1: instance 0 holds 15 */
  /* Looser by hand (still true), no room left: the next activation counts. */
  g_autofree char *loose
      = g_strdup_printf ("UPDATE pools SET seat_bound = 1000 WHERE id = '%s'", pool);
  test_store_exec (f->url, loose);
  activate_ok_on (f, 1, "KSE", "nonce-v-2"); /* counts 64 */
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, 64 + 16);
  g_assert_cmpint (pool_field (f, pool, "seat_epoch"), ==, 2);
  activate_ok_on (f, 0, "KSE", "nonce-v-3"); /* its epoch-1 credits are void */
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, 64 + 16 + 16);
}

/* A machine seen within the minute is not written: the write the
 * session's insert goes beside is then the pool row's bound, raised by an
 * instance without credits (one statement on PostgreSQL,
 * ts_tx_exec_defer_beside()); both take effect. */
static void
test_seat_credits_beside (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!need_postgresql ())
    return;
  GError *error = NULL;
  g_autofree char *pool = big_pool (f, 1000, 63);
  TsSession *s = ts_store_activate (f->stores[0], f->users[0], "acme", "KSE", "M-shared",
                                    "nonce-b-1", LEASE, NOW, &error);
  g_assert_no_error (error);
  ts_session_free (s);
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, 63 + 16);
  Mark mark = { 0 };
  guint statements = 0;
  trips_since (f->stores[1], &mark, NULL);
  s = ts_store_activate (f->stores[1], f->users[1], "acme", "KSE", "M-shared", "nonce-b-2", LEASE,
                         NOW + 1, &error);
  g_assert_no_error (error);
  trips_since (f->stores[1], &mark, &statements);
  /* BEGIN, choice, lock, seats, the bound with the insert, COMMIT */
  g_assert_cmpuint (statements, ==, 6);
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, 63 + 16 + 16);
  g_autofree char *sql = g_strdup_printf (
      "SELECT count(*) FROM sessions WHERE pool_id = '%s' AND id = '%s'", pool, s->id);
  g_assert_cmpint (count (f, sql), ==, 1);
  ts_session_free (s);
}

/* Sessions inserted by a writer that knows nothing of the bound (an older
 * server during an upgrade, psql) raise it through the trigger, and the
 * quota holds against them. */
static void
test_seat_bound_foreign (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!need_postgresql ())
    return;
  GError *error = NULL;
  g_autofree char *pool = big_pool (f, 100, 63);
  activate_ok_on (f, 0, "KSE", "nonce-f-0"); /* bound 79: instance 0 holds 15 */
  TestDb *db = test_db_open (f->url);
  for (guint i = 0; i < 36; i++)
    {
      g_autofree char *id = g_strdup_printf ("foreign-%u", i);
      g_autofree char *nonce = g_strdup_printf ("nonce-foreign-%u", i);
      test_db_insert_session (db, id, pool, f->users[1], "M-F", nonce, NOW, NOW + LEASE);
    }
  test_db_close (db);
  g_assert_cmpint (pool_field (f, pool, "seat_bound"), ==, 79 + 36);
  /* 100 seats taken: instance 0's credits no longer leave room */
  g_autoptr (TsSession) s = activate_on (f, 0, "KSE", "nonce-f-1", &error);
  g_assert_null (s);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);
  g_autofree char *sql
      = g_strdup_printf ("SELECT count(*) FROM sessions WHERE pool_id = '%s'", pool);
  g_assert_cmpint (count (f, sql), ==, 100);
}

/* ---- plans under skewed data ---- */

/* With most sessions in one pool, a plan made from the statistics thinks
 * counting any pool's sessions reads a large share of the table. On the
 * store's connections (ts_pg_session_options()) the count of a small pool
 * still goes through the index of open sessions: without enable_seqscan
 * off, PostgreSQL planned a sequential scan of every session (scale-bench:
 * 1.9 ms of database CPU per activation). The plan is read with EXPLAIN,
 * not timed. */
static void
test_plans_skewed_pools (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!need_postgresql ())
    return;
  g_autofree char *small
      = test_store_pool_id (f->stores[0], "acme", "KSE", "floating", "annual", QUOTA, SUB_END, NOW);
  g_autofree char *fill = g_strdup_printf (
      "INSERT INTO sessions (id, pool_id, user_id, machine_id, nonce, started_at,"
      " last_heartbeat, lease_expires_at) SELECT 'skew-' || g, '%s', '%s', 'M-' || g,"
      " 'nonce-skew-' || g, %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
      " FROM generate_series (1, 20000) g",
      f->pool_id, f->users[0], NOW, NOW, NOW + LEASE);
  test_store_exec (f->url, fill);
  test_store_exec (f->url, "ANALYZE sessions");

  const char *const keys[] = { "dbname", "options", NULL };
  const char *const values[] = { f->url, ts_pg_session_options (), NULL };
  PGconn *conn = PQconnectdbParams (keys, values, 1);
  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  PQclear (test_pg_run (conn,
                        "PREPARE seats (text, bigint) AS SELECT count(*) FROM sessions"
                        " WHERE pool_id = $1 AND ended_at IS NULL AND lease_expires_at > $2"));
  g_autofree char *explain
      = g_strdup_printf ("EXPLAIN EXECUTE seats ('%s', %" G_GINT64_FORMAT ")", small, NOW);
  PGresult *res = test_pg_run (conn, explain);
  GString *plan = g_string_new (NULL);
  for (int i = 0; i < PQntuples (res); i++)
    g_string_append_printf (plan, "%s\n", PQgetvalue (res, i, 0));
  PQclear (res);
  PQfinish (conn);
  g_test_message ("%s", plan->str);
  g_assert_null (strstr (plan->str, "Seq Scan on sessions"));
  g_assert_nonnull (strstr (plan->str, "sessions_open"));
  g_string_free (plan, TRUE);
}

/* ---- migrations started by every instance at once ---- */

typedef struct
{
  const char *url;
  TsStore *store;
} Opener;

static gpointer
open_thread (gpointer data)
{
  Opener *o = data;
  o->store = test_store_open (o->url);
  return NULL;
}

static void
test_migrate_race (Fixture *f, gconstpointer data)
{
  if (!need_postgresql ())
    return;
  /* A fresh database, opened by eight "instances" at the same moment: the
   * advisory lock lets one migrate; the others find the schema current. */
  g_autofree char *url = test_store_location (f->dir);
  Opener openers[8];
  GThread *threads[8];
  for (guint i = 0; i < 8; i++)
    {
      openers[i] = (Opener){ url, NULL };
      threads[i] = g_thread_new ("open", open_thread, &openers[i]);
    }
  for (guint i = 0; i < 8; i++)
    g_thread_join (threads[i]);
  gint64 latest = test_store_count (url, "SELECT max(version) FROM schema_version");
  g_assert_cmpint (latest, >=, 1);
  g_assert_cmpint (test_store_count (url, "SELECT count(*) FROM schema_version"), ==, latest);
  for (guint i = 0; i < 8; i++)
    ts_store_close (openers[i].store);
  test_store_location_free (g_steal_pointer (&url));
}

/* ---- the quota across instances ---- */

typedef struct
{
  Fixture *f;
  guint index;
  gint *next; /* activations handed out so far */
  gint *granted;
  gint *refused;
  gint *other;
} Client;

static gpointer
client_thread (gpointer data)
{
  Client *c = data;
  TsStore *store = c->f->stores[c->index % N_INSTANCES];
  gint n;
  while ((n = g_atomic_int_add (c->next, 1)) < N_ACTIVATIONS)
    {
      char machine[16], nonce[32];
      g_snprintf (machine, sizeof machine, "M-%d", n % QUOTA);
      g_snprintf (nonce, sizeof nonce, "nonce-%04d-%02u", n, c->index);
      GError *error = NULL;
      TsSession *s = ts_store_activate (store, c->f->users[n % N_USERS], "acme", "KRE", machine,
                                        nonce, LEASE, NOW, &error);
      if (s != NULL)
        g_atomic_int_inc (c->granted);
      else if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED))
        g_atomic_int_inc (c->refused);
      else
        {
          g_printerr ("unexpected: %s\n", error->message);
          g_atomic_int_inc (c->other);
        }
      ts_session_free (s);
      g_clear_error (&error);
    }
  return NULL;
}

static void
test_quota (Fixture *f, gconstpointer data)
{
  if (!need_postgresql ())
    return;
  gint next = 0, granted = 0, refused = 0, other = 0;
  Client clients[N_CLIENTS];
  GThread *threads[N_CLIENTS];
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i] = (Client){ f, i, &next, &granted, &refused, &other };
      threads[i] = g_thread_new ("client", client_thread, &clients[i]);
    }
  for (guint i = 0; i < N_CLIENTS; i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (other, ==, 0);
  g_assert_cmpint (granted, ==, QUOTA);
  g_assert_cmpint (refused, ==, N_ACTIVATIONS - QUOTA);
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions WHERE ended_at IS NULL"), ==, QUOTA);
  g_assert_cmpint (count (f, "SELECT count(*) FROM machines"), <=, QUOTA);
}

/* ---- one nonce, many instances: one seat ---- */

typedef struct
{
  Fixture *f;
  guint index;
  char *session_id;
} Retrier;

static gpointer
retry_thread (gpointer data)
{
  Retrier *r = data;
  GError *error = NULL;
  TsSession *s = ts_store_activate (r->f->stores[r->index % N_INSTANCES], r->f->users[0], "acme",
                                    "KRE", "M-retry", "nonce-the-same-one", LEASE, NOW, &error);
  g_assert_no_error (error);
  r->session_id = g_strdup (s->id);
  ts_session_free (s);
  return NULL;
}

static void
test_nonce (Fixture *f, gconstpointer data)
{
  if (!need_postgresql ())
    return;
  /* A client failing over retries its activation with the same nonce on
   * another instance, maybe while the first is still answering. */
  Retrier r[16];
  GThread *threads[16];
  for (guint i = 0; i < 16; i++)
    {
      r[i] = (Retrier){ f, i, NULL };
      threads[i] = g_thread_new ("retry", retry_thread, &r[i]);
    }
  for (guint i = 0; i < 16; i++)
    g_thread_join (threads[i]);
  for (guint i = 1; i < 16; i++)
    g_assert_cmpstr (r[i].session_id, ==, r[0].session_id);
  for (guint i = 0; i < 16; i++)
    g_free (r[i].session_id);
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions"), ==, 1);
}

/* ---- administrative rules across instances ---- */

typedef struct
{
  TsStore *store;
  const char *actor;
  const char *email; /* demoted to admin */
  gint *go;
} Demoter;

static gpointer
demote_thread (gpointer data)
{
  Demoter *d = data;
  while (!g_atomic_int_get (d->go))
    ;
  GError *error = NULL;
  char *id = ts_store_set_member (d->store, d->actor, "duo", d->email, TS_ROLE_ADMIN, NOW, &error);
  /* Refused (the last owner, or no longer an owner) or done: never both. */
  if (id == NULL && !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT)
      && !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED))
    g_error ("unexpected: %s", error->message);
  g_free (id);
  g_clear_error (&error);
  return NULL;
}

static void
test_last_owner (Fixture *f, gconstpointer data)
{
  if (!need_postgresql ())
    return;
  /* Two owners demote each other at the same moment on two instances: the
   * "last owner" rule (count the owners, then change one) must leave one. */
  GError *error = NULL;
  char *a = ts_store_bootstrap_org (f->stores[0], "duo", "Duo", "a@duo.test", NOW, &error);
  g_assert_no_error (error);
  char *b = NULL;
  for (guint round = 0; round < 30; round++)
    {
      g_free (b);
      b = ts_store_set_member (f->stores[0], NULL, "duo", "b@duo.test", TS_ROLE_OWNER, NOW, &error);
      g_assert_no_error (error);
      g_free (ts_store_set_member (f->stores[0], NULL, "duo", "a@duo.test", TS_ROLE_OWNER, NOW,
                                   &error));
      g_assert_no_error (error);
      gint go = 0;
      Demoter d1 = { f->stores[1], a, "b@duo.test", &go };
      Demoter d2 = { f->stores[2], b, "a@duo.test", &go };
      GThread *t1 = g_thread_new ("demote", demote_thread, &d1);
      GThread *t2 = g_thread_new ("demote", demote_thread, &d2);
      g_atomic_int_set (&go, 1);
      g_thread_join (t1);
      g_thread_join (t2);
      g_assert_cmpint (count (f, "SELECT count(*) FROM members WHERE org_id = 'duo' AND role = 2"),
                       ==, 1);
    }
  g_free (a);
  g_free (b);
}

/* ---- every instance reaps at once ---- */

typedef struct
{
  TsStore *store;
  gint64 now;
  guint reaped;
} Reaper;

static gpointer
reap_thread (gpointer data)
{
  Reaper *r = data;
  for (guint i = 0; i < 20; i++)
    {
      GError *error = NULL;
      r->reaped += ts_store_reap (r->store, r->now, &error);
      g_assert_no_error (error);
    }
  return NULL;
}

static void
test_reap (Fixture *f, gconstpointer data)
{
  if (!need_postgresql ())
    return;
  GError *error = NULL;
  TsPool *p = ts_store_update_pool (f->stores[0], NULL, "acme", f->pool_id, 1000, -1, NOW, &error);
  g_assert_no_error (error);
  ts_pool_free (p);
  const guint n = 300;
  for (guint i = 0; i < n; i++)
    {
      char machine[16], nonce[32];
      g_snprintf (machine, sizeof machine, "M-%u", i);
      g_snprintf (nonce, sizeof nonce, "nonce-reap-%04u", i);
      TsSession *s = ts_store_activate (f->stores[i % N_INSTANCES], f->users[i % N_USERS], "acme",
                                        "KRE", machine, nonce, LEASE, NOW, &error);
      g_assert_no_error (error);
      ts_session_free (s);
    }
  Reaper reapers[N_INSTANCES * 2];
  GThread *threads[N_INSTANCES * 2];
  for (guint i = 0; i < G_N_ELEMENTS (reapers); i++)
    {
      reapers[i] = (Reaper){ f->stores[i % N_INSTANCES], NOW + LEASE, 0 };
      threads[i] = g_thread_new ("reap", reap_thread, &reapers[i]);
    }
  guint total = 0;
  for (guint i = 0; i < G_N_ELEMENTS (reapers); i++)
    {
      g_thread_join (threads[i]);
      total += reapers[i].reaped;
    }
  /* Each session ended exactly once, by one of them. */
  g_assert_cmpuint (total, ==, n);
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions WHERE ended_at IS NULL"), ==, 0);
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions WHERE ended_at = lease_expires_at"), ==,
                   n);
}

/* ---- the database goes away and comes back ---- */

static void
admin_exec (const char *sql)
{
  test_store_exec (g_getenv ("TESSERA_TEST_POSTGRES"), sql);
}

static void
test_reconnect (Fixture *f, gconstpointer data)
{
  if (!need_postgresql ())
    return;
  GError *error = NULL;
  TsStore *s = f->stores[0];
  g_autofree char *name = test_pg_db_of (f->url);
  /* Fill the pool with several idle connections. */
  for (guint i = 0; i < 20; i++)
    {
      GPtrArray *pools = ts_store_list_pools (s, NULL, "acme", NOW, &error);
      g_assert_no_error (error);
      g_ptr_array_unref (pools);
    }

  /* Every connection killed (a database restart, a failover): the next
   * request still succeeds, on new connections. */
  g_autofree char *kill = g_strdup_printf (
      "SELECT count(pg_terminate_backend (pid)) FROM pg_stat_activity WHERE datname = '%s'"
      " AND pid <> pg_backend_pid ()",
      name);
  admin_exec (kill);
  GPtrArray *pools = ts_store_list_pools (s, NULL, "acme", NOW, &error);
  g_assert_no_error (error);
  g_ptr_array_unref (pools);
  TsSession *session = ts_store_activate (s, f->users[1], "acme", "KRE", "M-1", "nonce-reconnect",
                                          LEASE, NOW, &error);
  g_assert_no_error (error);
  ts_session_free (session);

  /* Unreachable: UNAVAILABLE, saying so, and nothing aborts. */
  g_autofree char *deny = g_strdup_printf ("ALTER DATABASE %s ALLOW_CONNECTIONS false", name);
  g_autofree char *allow = g_strdup_printf ("ALTER DATABASE %s ALLOW_CONNECTIONS true", name);
  admin_exec (deny);
  admin_exec (kill);
  session = ts_store_activate (s, f->users[2], "acme", "KRE", "M-2", "nonce-unreachable", LEASE,
                               NOW, &error);
  g_assert_null (session);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  g_test_message ("unreachable: %s", error->message);
  g_clear_error (&error);
  g_assert_null (ts_store_open (f->url, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  /* No password in messages (they end up in logs). */
  const char *password = strchr (strstr (f->url, "://") + 3, ':') + 1;
  g_autofree char *secret = g_strndup (password, strchr (password, '@') - password);
  g_assert_cmpuint (strlen (secret), >, 0);
  g_assert_null (strstr (error->message, secret));
  g_clear_error (&error);

  /* Back: the same store serves again. */
  admin_exec (allow);
  session = ts_store_activate (s, f->users[2], "acme", "KRE", "M-2", "nonce-unreachable", LEASE,
                               NOW, &error);
  g_assert_no_error (error);
  ts_session_free (session);
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions WHERE ended_at IS NULL"), ==, 2);
}

/* ---- the pool size from the URL ---- */

static void
test_pool_size (Fixture *f, gconstpointer data)
{
  if (!need_postgresql ())
    return;
  GError *error = NULL;
  const char *sep = strchr (f->url, '?') != NULL ? "&" : "?";
  g_autofree char *bad = g_strdup_printf ("%s%spool_size=0", f->url, sep);
  g_assert_null (ts_store_open (bad, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* One connection, 16 threads: they take turns, none fails. */
  g_autofree char *one = g_strdup_printf ("%s%spool_size=1", f->url, sep);
  TsStore *store = test_store_open (one);
  TsStore *saved[N_INSTANCES];
  memcpy (saved, f->stores, sizeof saved);
  f->stores[0] = f->stores[1] = f->stores[2] = store;
  Retrier r[16];
  GThread *threads[16];
  for (guint i = 0; i < 16; i++)
    {
      r[i] = (Retrier){ f, i, NULL };
      threads[i] = g_thread_new ("retry", retry_thread, &r[i]);
    }
  for (guint i = 0; i < 16; i++)
    g_thread_join (threads[i]);
  for (guint i = 1; i < 16; i++)
    g_assert_cmpstr (r[i].session_id, ==, r[0].session_id);
  for (guint i = 0; i < 16; i++)
    g_free (r[i].session_id);
  ts_store_close (store);
  memcpy (f->stores, saved, sizeof saved);
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions"), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
#define ADD(path, func)                                                                            \
  g_test_add ("/store-instances/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("migrate-race", test_migrate_race);
  ADD ("quota", test_quota);
  ADD ("nonce", test_nonce);
  ADD ("last-owner", test_last_owner);
  ADD ("reap", test_reap);
  ADD ("reconnect", test_reconnect);
  ADD ("pool-size", test_pool_size);
  ADD ("round-trips", test_round_trips);
  ADD ("defer-beside", test_defer_beside);
  for (guint i = 0; i < G_N_ELEMENTS (guess_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/store-instances/guess/%s", guess_cases[i].name);
      g_test_add (path, Fixture, &guess_cases[i], fixture_set_up, test_guess, fixture_tear_down);
    }
  ADD ("plans/skewed-pools", test_plans_skewed_pools);
  ADD ("seat-bound/small", test_seat_bound_small);
  ADD ("seat-credits", test_seat_credits);
  ADD ("seat-credits/void", test_seat_credits_void);
  ADD ("seat-credits/beside", test_seat_credits_beside);
  ADD ("seat-bound/foreign", test_seat_bound_foreign);
#undef ADD
  return g_test_run ();
}
