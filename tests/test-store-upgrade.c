/* tessera-store: a database written by the previous release (schema 4,
 * before the machines' component digests) opened by this one, on SQLite or
 * on PostgreSQL (tests/store-backend.h). The old database is made by this
 * store and then taken back to schema 4 by undoing migrations 6 (usage
 * history: its own tables) and 5 (it only adds two columns), which leaves exactly the tables the
 * previous server wrote: the upgrade must keep every registered machine under its ID, and machines
 * registered before it are recognized once they report their components. */
#include "store-fixture.h"

#include <string.h>

#define NOW ((gint64) 1700000000)
#define SUB_END (NOW + 365 * 86400)
#define LEASE 60

/* Scoped digests as the HTTP layer hands them to the store: one hex byte
 * value repeated, per component. */
#define HEX(b) b b b b b b b b b b b b b b b b
#define DIGESTS(nic)                                                                               \
  "machine-id=" HEX ("01") " dmi-uuid=" HEX ("02") " cpu=" HEX ("03") " nic=" HEX (                \
      nic) " user=" HEX ("05")

static gint
cmp_strptr (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
assert_machines (TsStore *store, const char *owner, const char *pool, const char *want)
{
  GError *error = NULL;
  g_autoptr (GPtrArray) rows = ts_store_list_machines (store, owner, "acme", pool, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();
  for (guint i = 0; i < rows->len; i++)
    g_ptr_array_add (ids, ((TsMachine *) rows->pdata[i])->machine_id);
  g_ptr_array_sort (ids, cmp_strptr);
  g_ptr_array_add (ids, NULL);
  g_autofree char *got = g_strjoinv (",", (char **) ids->pdata);
  g_assert_cmpstr (got, ==, want);
}

/* Undoes migration 10 (the pools' seat bound; PostgreSQL's trigger). */
static void
undo_seat_bound (const char *path)
{
  if (test_store_is_url (path))
    {
      test_store_exec (path, "DROP TRIGGER sessions_seat_bound ON sessions");
      test_store_exec (path, "DROP FUNCTION tessera_seat_bound ()");
    }
  test_store_exec (path, "ALTER TABLE pools DROP COLUMN seat_bound");
  test_store_exec (path, "ALTER TABLE pools DROP COLUMN seat_epoch");
}

static void
test_from_schema_4 (void)
{
  GError *error = NULL;
  char *dir = NULL, *path = NULL;
  TsStore *store = test_store_fresh (&dir, &path);
  gint64 latest = test_store_count (path, "SELECT max(version) FROM schema_version");
  g_assert_cmpint (latest, ==, 11);
  g_autofree char *owner = test_store_org (store, "acme", "Acme", "owner@acme.test", NOW);
  g_autofree char *member
      = test_store_member (store, owner, "acme", "member@acme.test", TS_ROLE_MEMBER, NOW);
  g_autoptr (TsPool) fl = ts_store_create_pool (store, owner, "acme", "KRE", "floating", "monthly",
                                                2, SUB_END, NOW, &error);
  g_assert_no_error (error);
  g_autoptr (TsPool) nl = ts_store_create_pool (store, owner, "acme", "KSE", "node-locked",
                                                "annual", 1, SUB_END, NOW, &error);
  g_assert_no_error (error);
  g_assert_true (ts_store_grant (store, owner, "acme", nl->id, member, NOW, &error));
  g_assert_no_error (error);
  /* Registered by old clients: no components. */
  const struct
  {
    const char *product, *machine, *nonce;
  } old[] = { { "KRE", "AAAA-AAAA-AAAA-AAAA", "nonce-0001" },
              { "KRE", "BBBB-BBBB-BBBB-BBBB", "nonce-0002" },
              { "KSE", "AAAA-AAAA-AAAA-AAAA", "nonce-0003" } };
  for (guint i = 0; i < G_N_ELEMENTS (old); i++)
    {
      g_autoptr (TsSession) s = ts_store_activate (
          store, member, "acme", old[i].product, old[i].machine, old[i].nonce, LEASE, NOW, &error);
      g_assert_no_error (error);
      g_assert_true (ts_store_release (store, member, s->id, NOW, &error));
      g_assert_no_error (error);
    }
  ts_store_close (store);

  /* Back to schema 4, as the previous server left it. */
  undo_seat_bound (path);
  test_store_exec (path, "ALTER TABLE pools DROP COLUMN match_policy");
  test_store_exec (path, "ALTER TABLE machines DROP COLUMN components");
  test_store_exec (path, "ALTER TABLE sessions DROP COLUMN hostname");
  test_store_exec (path, "ALTER TABLE sessions DROP COLUMN os");
  test_store_exec (path, "ALTER TABLE machines DROP COLUMN hostname");
  test_store_exec (path, "ALTER TABLE machines DROP COLUMN os");
  test_store_exec (path, "DROP TABLE usage_seen");
  test_store_exec (path, "DROP TABLE usage_hours");
  test_store_exec (path, "DROP INDEX sessions_ended");
  test_store_exec (path, "DELETE FROM schema_version WHERE version > 4");
  g_assert_cmpint (test_store_count (path, "SELECT max(version) FROM schema_version"), ==, 4);

  store = test_store_open (path);
  g_assert_cmpint (test_store_count (path, "SELECT max(version) FROM schema_version"), ==, latest);
  g_assert_cmpint (test_store_count (path, "SELECT count(*) FROM machines"), ==, 3);
  g_assert_cmpint (
      test_store_count (path, "SELECT count(*) FROM machines WHERE components IS NULL"), ==, 3);
  g_assert_cmpint (test_store_count (path, "SELECT count(*) FROM sessions"
                                           " WHERE hostname IS NULL AND os IS NULL"),
                   ==, 3);
  assert_machines (store, owner, fl->id, "AAAA-AAAA-AAAA-AAAA,BBBB-BBBB-BBBB-BBBB");
  assert_machines (store, owner, nl->id, "AAAA-AAAA-AAAA-AAAA");
  g_autoptr (GPtrArray) pools = ts_store_list_pools (store, owner, "acme", NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pools->len, ==, 2);
  for (guint i = 0; i < pools->len; i++)
    g_assert_cmpstr (((TsPool *) pools->pdata[i])->match_policy, ==, "all-but-one");

  /* A machine registered without components is matched by its ID only: a
   * new ID is a new machine (the floating pool is full). */
  g_autoptr (TsSession) refused
      = ts_store_activate_components (store, member, "acme", "KRE", "CCCC-CCCC-CCCC-CCCC",
                                      DIGESTS ("04"), "nonce-0004", LEASE, NOW + 1, &error);
  g_assert_null (refused);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED);
  g_clear_error (&error);
  /* Once an upgraded client reports them from the old ID, they are kept,
   * and a replaced NIC is the same registration. */
  const struct
  {
    const char *product, *machine, *digests, *nonce;
  } next[] = { { "KSE", "AAAA-AAAA-AAAA-AAAA", DIGESTS ("04"), "nonce-0005" },
               { "KSE", "DDDD-DDDD-DDDD-DDDD", DIGESTS ("40"), "nonce-0006" },
               { "KRE", "AAAA-AAAA-AAAA-AAAA", DIGESTS ("04"), "nonce-0007" },
               { "KRE", "DDDD-DDDD-DDDD-DDDD", DIGESTS ("40"), "nonce-0008" } };
  for (guint i = 0; i < G_N_ELEMENTS (next); i++)
    {
      g_autoptr (TsSession) s
          = ts_store_activate_components (store, member, "acme", next[i].product, next[i].machine,
                                          next[i].digests, next[i].nonce, LEASE, NOW + 2, &error);
      g_assert_no_error (error);
      g_assert_true (ts_store_release (store, member, s->id, NOW + 2, &error));
      g_assert_no_error (error);
    }
  assert_machines (store, owner, fl->id, "BBBB-BBBB-BBBB-BBBB,DDDD-DDDD-DDDD-DDDD");
  assert_machines (store, owner, nl->id, "DDDD-DDDD-DDDD-DDDD");

  test_store_fresh_free (store, path, dir);
}

/* A quota lowered by the previous server (schema 8) left the sessions
 * beyond it running until their next heartbeat, which ended them; this
 * server's heartbeats no longer count seats (a lowered quota ends them at
 * once), so migration 9 ends them: the newest go, the oldest and the other
 * pools' stay, an unexpired offline license counts as a seat. The leases
 * run on the real clock: the migration reads the engine's. */
static void
test_over_quota_at_upgrade (void)
{
  GError *error = NULL;
  char *dir = NULL, *path = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  TsStore *store = test_store_fresh (&dir, &path);
  g_autofree char *owner = test_store_org (store, "acme", "Acme", "owner@acme.test", now);
  g_autoptr (TsPool) fl = ts_store_create_pool (store, owner, "acme", "KRE", "floating", "monthly",
                                                5, now + 86400 * 30, now, &error);
  g_assert_no_error (error);
  g_autoptr (TsPool) other = ts_store_create_pool (store, owner, "acme", "KSE", "floating",
                                                   "monthly", 5, now + 86400 * 30, now, &error);
  g_assert_no_error (error);
  char *ids[4];
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autofree char *machine = g_strdup_printf ("M-%u", i);
      g_autofree char *nonce = g_strdup_printf ("nonce-up-%u", i);
      g_autoptr (TsSession) s = ts_store_activate (store, owner, "acme", "KRE", machine, nonce,
                                                   3600, now - 100 + i, &error);
      g_assert_no_error (error);
      ids[i] = g_strdup (s->id);
    }
  g_autoptr (TsSession) kse
      = ts_store_activate (store, owner, "acme", "KSE", "M-0", "nonce-up-kse", 3600, now, &error);
  g_assert_no_error (error);
  ts_store_close (store);

  /* As the previous server left it: the quota lowered to 3 with one
   * offline license running (two seats for the four sessions), and
   * schema 8. */
  g_autofree char *lower = g_strdup_printf ("UPDATE pools SET quota = 3 WHERE id = '%s'", fl->id);
  test_store_exec (path, lower);
  g_autofree char *offline = g_strdup_printf (
      "INSERT INTO offline (id, pool_id, machine_id, created_at, expires_at, file, file_name)"
      " VALUES ('off-1', '%s', 'M-9', %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", '', 'x.lic')",
      fl->id, now, now + 86400);
  test_store_exec (path, offline);
  undo_seat_bound (path);
  test_store_exec (path, "DELETE FROM schema_version WHERE version > 8");

  store = test_store_open (path);
  g_assert_cmpint (test_store_count (path, "SELECT max(version) FROM schema_version"), ==, 11);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autofree char *sql = g_strdup_printf (
          "SELECT count(*) FROM sessions WHERE id = '%s' AND ended_at IS NOT NULL AND end_code = %d"
          " AND end_reason = 'over quota: the quota was lowered to 3'",
          ids[i], TESSERA_ERROR_TERMINATED);
      g_assert_cmpint (test_store_count (path, sql), ==, i < 2 ? 0 : 1);
    }
  g_assert_cmpint (test_store_count (path, "SELECT count(*) FROM sessions WHERE ended_at IS NULL"),
                   ==, 3);
  /* The client hears why at its next heartbeat. */
  g_autoptr (TsSession) hb = ts_store_heartbeat (store, owner, ids[3], 3600, now + 1, &error);
  g_assert_null (hb);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
  g_assert_nonnull (strstr (error->message, "over quota: the quota was lowered to 3"));
  g_clear_error (&error);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    g_free (ids[i]);
  test_store_fresh_free (store, path, dir);
}

/* A pool from before migration 10 has no seat bound: its activations
 * count the sessions an older server started, and the quota holds. */
static void
test_seat_bound_at_upgrade (void)
{
  GError *error = NULL;
  char *dir = NULL, *path = NULL;
  TsStore *store = test_store_fresh (&dir, &path);
  g_autofree char *owner = test_store_org (store, "acme", "Acme", "owner@acme.test", NOW);
  g_autoptr (TsPool) fl = ts_store_create_pool (store, owner, "acme", "KRE", "floating", "monthly",
                                                3, SUB_END, NOW, &error);
  g_assert_no_error (error);
  ts_store_close (store);
  /* Schema 9: the older server started two sessions. */
  undo_seat_bound (path);
  test_store_exec (path, "DELETE FROM schema_version WHERE version > 9");
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *sql = g_strdup_printf (
          "INSERT INTO sessions (id, pool_id, user_id, machine_id, nonce, started_at,"
          " last_heartbeat, lease_expires_at) VALUES ('old-%u', '%s', '%s', 'M-%u',"
          " 'nonce-old-%u', %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ")",
          i, fl->id, owner, i, i, NOW, NOW, NOW + LEASE);
      test_store_exec (path, sql);
    }

  store = test_store_open (path);
  g_assert_cmpint (test_store_count (path, "SELECT max(version) FROM schema_version"), ==, 11);
  g_assert_cmpint (test_store_count (path, "SELECT count(*) FROM pools WHERE seat_bound IS NULL"),
                   ==, 1);
  g_autoptr (TsSession) third
      = ts_store_activate (store, owner, "acme", "KRE", "M-0", "nonce-new-1", LEASE, NOW, &error);
  g_assert_no_error (error);
  /* 3 sessions: fewer than TS_SEAT_TRACK, still no bound to keep */
  g_assert_cmpint (test_store_count (path, "SELECT count(*) FROM pools WHERE seat_bound IS NULL"),
                   ==, 1);
  g_autoptr (TsSession) fourth
      = ts_store_activate (store, owner, "acme", "KRE", "M-0", "nonce-new-2", LEASE, NOW, &error);
  g_assert_null (fourth);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);
  test_store_fresh_free (store, path, dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/store/upgrade/from-schema-4", test_from_schema_4);
  g_test_add_func ("/store/upgrade/over-quota", test_over_quota_at_upgrade);
  g_test_add_func ("/store/upgrade/seat-bound", test_seat_bound_at_upgrade);
  return g_test_run ();
}
