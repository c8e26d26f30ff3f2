/* tessera-store (server/store-*.c) on a real SQLite file, or a PostgreSQL
 * database under tests/with-postgres.sh (tests/store-backend.h): the rules of
 * docs/protocol.md, restarts, permissions, concurrency and an unwritable
 * database. */
#include "store-fixture.h"

#include <glib/gstdio.h>
#include <string.h>

#define NOW ((gint64) 1700000000)
#define DAY ((gint64) 86400)
#define SUB_END (NOW + 365 * DAY)
#define LEASE 60

typedef struct
{
  char *dir;
  char *path;
  TsStore *store;
  char *owner;  /* owner of acme */
  char *admin;  /* admin of acme */
  char *member; /* member of acme */
  char *other;  /* owner of beta, no role in acme */
} Fixture;

static void
fixture_open (Fixture *f)
{
  f->store = test_store_open (f->path);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  f->store = test_store_fresh (&f->dir, &f->path);
  f->owner = test_store_org (f->store, "acme", "Acme", "owner@acme.test", NOW);
  f->admin = test_store_member (f->store, f->owner, "acme", "admin@acme.test", TS_ROLE_ADMIN, NOW);
  f->member
      = test_store_member (f->store, f->admin, "acme", "member@acme.test", TS_ROLE_MEMBER, NOW);
  f->other = test_store_org (f->store, "beta", "Beta", "boss@beta.test", NOW);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  test_store_fresh_free (f->store, f->path, f->dir);
  g_free (f->owner);
  g_free (f->admin);
  g_free (f->member);
  g_free (f->other);
}

static void
fixture_reopen (Fixture *f)
{
  ts_store_close (f->store);
  fixture_open (f);
}

static TsPool *
make_pool (Fixture *f, const char *org, const char *product, const char *kind, const char *billing,
           gint64 quota)
{
  return test_store_pool (f->store, org, product, kind, billing, quota, SUB_END, NOW);
}

static TsSession *
activate_ok (Fixture *f, const char *user, const char *org, const char *product,
             const char *machine, const char *nonce, gint64 now)
{
  GError *error = NULL;
  TsSession *s
      = ts_store_activate (f->store, user, org, product, machine, nonce, LEASE, now, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s);
  return s;
}

static void
assert_heartbeat_fails (Fixture *f, const char *user, const char *session_id, gint64 now,
                        TesseraError code, const char *fragment)
{
  GError *error = NULL;
  TsSession *s = ts_store_heartbeat (f->store, user, session_id, LEASE, now, &error);
  g_assert_null (s);
  g_assert_error (error, TESSERA_ERROR, (gint) code);
  if (fragment != NULL && strstr (error->message, fragment) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", error->message, fragment);
  g_error_free (error);
}

static void
assert_message (GError *error, const char *fragment)
{
  g_assert_nonnull (error);
  if (strstr (error->message, fragment) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", error->message, fragment);
}

static gint64
db_count (const char *path, const char *sql)
{
  return test_store_count (path, sql);
}

static gboolean
audit_has (Fixture *f, const char *org, const char *action, const char *target)
{
  GError *error = NULL;
  GPtrArray *rows = ts_store_list_audit (f->store, NULL, org, 0, &error);
  g_assert_no_error (error);
  gboolean found = FALSE;
  for (guint i = 0; i < rows->len && !found; i++)
    {
      TsAudit *a = rows->pdata[i];
      found = g_str_equal (a->action, action) && (target == NULL || !g_strcmp0 (a->target, target));
    }
  g_ptr_array_unref (rows);
  return found;
}

/* ---- lifecycle ---- */

static void
test_migrations (Fixture *f, gconstpointer data)
{
  (void) data;
  /* Each migration applied once, in order (later ones get appended). */
  gint64 latest = db_count (f->path, "SELECT max(version) FROM schema_version");
  g_assert_cmpint (latest, >=, 1);
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM schema_version"), ==, latest);
  for (int i = 0; i < 3; i++)
    fixture_reopen (f);
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM schema_version"), ==, latest);
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM orgs"), ==, 2);

  /* A database from a newer program is refused, not damaged. */
  ts_store_close (f->store);
  test_store_exec (f->path, "INSERT INTO schema_version VALUES (99, 0)");
  GError *error = NULL;
  f->store = ts_store_open (f->path, &error);
  g_assert_null (f->store);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  assert_message (error, "newer");
  g_clear_error (&error);
  test_store_exec (f->path, "DELETE FROM schema_version WHERE version = 99");
  fixture_open (f);
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM schema_version"), ==, latest);

  /* Pools and users are never deleted: sessions and machines name them
   * (on PostgreSQL without a foreign key, migration 11). The database
   * refuses it, whatever deletes them, and the rows stay. */
  static const char *const kept[][2] = {
    { "DELETE FROM pools", "SELECT count(*) FROM pools" },
    { "DELETE FROM users", "SELECT count(*) FROM users" },
  };
  g_autoptr (TsPool) kept_pool = make_pool (f, "acme", "KRE", "floating", "annual", 3);
  for (guint i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      gint64 before = db_count (f->path, kept[i][1]);
      g_assert_cmpint (before, >, 0);
      g_autofree char *refused = test_store_exec_refused (f->path, kept[i][0]);
      if (refused == NULL || strstr (refused, "are never deleted") == NULL)
        g_error ("%s: %s", kept[i][0], refused != NULL ? refused : "ran");
      g_assert_cmpint (db_count (f->path, kept[i][1]), ==, before);
    }
  /* What the keys checked at each insert, the transaction makes sure of
   * (pool locked, member read); on PostgreSQL it is not checked again. */
  g_assert_cmpint (db_count (f->path, test_store_postgresql ()
                                          ? "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
                                            " AND conrelid IN ('sessions'::regclass,"
                                            " 'machines'::regclass)"
                                          : "SELECT (SELECT count(*) FROM pragma_foreign_key_list"
                                            " ('sessions')) + (SELECT count(*) FROM"
                                            " pragma_foreign_key_list ('machines'))"),
                   ==, test_store_postgresql () ? 0 : 4);

  /* A database that cannot be created (PostgreSQL: reached). */
  g_autofree char *missing = test_store_postgresql ()
                                 ? g_strdup ("postgresql://nobody@127.0.0.1:1/none")
                                 : g_build_filename (f->dir, "no", "such", "dir.db", NULL);
  g_assert_null (ts_store_open (missing, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  assert_message (error, missing);
  g_clear_error (&error);
}

static void
test_restart (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) nl = make_pool (f, "acme", "KSE", "node-locked", "annual", 3);
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "monthly", 3);
  g_assert_true (ts_store_grant (f->store, f->admin, "acme", nl->id, f->member, NOW, &error));
  g_assert_no_error (error);
  g_autoptr (TsSession) s1 = activate_ok (f, f->member, "acme", "KSE", "M1", "nonce-nl-1", NOW);
  g_autoptr (TsSession) s2 = activate_ok (f, f->member, "acme", "KRE", "M1", "nonce-fl-1", NOW);
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autoptr (TsOffline) off = ts_store_create_offline (f->store, f->owner, "acme", nl->id, "OFF-1",
                                                       NULL, key, NOW, &error);
  g_assert_no_error (error);

  fixture_reopen (f);

  GPtrArray *grants = ts_store_list_grants (f->store, f->owner, "acme", nl->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (grants->len, ==, 1);
  g_assert_cmpstr (((TsGrant *) grants->pdata[0])->user_id, ==, f->member);
  g_ptr_array_unref (grants);
  GPtrArray *offline = ts_store_list_offline (f->store, f->owner, "acme", nl->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (offline->len, ==, 1);
  g_assert_cmpstr (((TsOffline *) offline->pdata[0])->id, ==, off->id);
  g_assert_cmpstr (((TsOffline *) offline->pdata[0])->file_name, ==, "KSE_OFF-1.lic");
  g_ptr_array_unref (offline);
  for (guint i = 0; i < 2; i++)
    {
      TsSession *s
          = ts_store_heartbeat (f->store, f->member, i ? s1->id : s2->id, LEASE, NOW + 30, &error);
      g_assert_no_error (error);
      g_assert_cmpint (s->lease_expires_at, ==, NOW + 30 + LEASE);
      ts_session_free (s);
    }
  /* The same nonce after the restart: the same session. */
  g_autoptr (TsSession) again
      = activate_ok (f, f->member, "acme", "KRE", "M1", "nonce-fl-1", NOW + 31);
  g_assert_cmpstr (again->id, ==, s2->id);
  g_assert_true (audit_has (f, "acme", "offline.create", off->id));
}

/* ---- validation ---- */

typedef struct
{
  const char *product, *machine, *nonce, *org;
  gint64 lease;
  const char *field;
} BadActivation;

static void
test_validation (Fixture *f, gconstpointer data)
{
  (void) data;
  static const BadActivation bad[] = {
    { "", "M1", "nonce-123", NULL, 60, "product" },
    { "K RE", "M1", "nonce-123", NULL, 60, "product" },
    { "KRE/x", "M1", "nonce-123", NULL, 60, "product" },
    { NULL, "M1", "nonce-123", NULL, 60, "product" },
    { "KRE", "", "nonce-123", NULL, 60, "machine_id" },
    { "KRE", "M_1", "nonce-123", NULL, 60, "machine_id" },
    { "KRE", NULL, "nonce-123", NULL, 60, "machine_id" },
    { "KRE", "M1", "short", NULL, 60, "nonce" },
    { "KRE", "M1", "nonce with space", NULL, 60, "nonce" },
    { "KRE", "M1", NULL, NULL, 60, "nonce" },
    { "KRE", "M1", "nonce-123", NULL, 4, "lease_seconds" },
    { "KRE", "M1", "nonce-123", NULL, 86401, "lease_seconds" },
    { "KRE", "M1", "nonce-123", "", 60, "org_id" },
    { "KRE", "M1", "nonce-123", "ac me", 60, "org_id" },
  };
  char long_product[66], long_nonce[66];
  memset (long_product, 'A', 65);
  long_product[65] = '\0';
  memset (long_nonce, 'n', 65);
  long_nonce[65] = '\0';
  for (guint i = 0; i < G_N_ELEMENTS (bad) + 3; i++)
    {
      BadActivation b
          = i < G_N_ELEMENTS (bad) ? bad[i]
            : i == G_N_ELEMENTS (bad)
                ? (BadActivation){ long_product, "M1", "nonce-123", NULL, 60, "product" }
            : i == G_N_ELEMENTS (bad) + 1
                ? (BadActivation){ "KRE", long_product, "nonce-123", NULL, 60, "machine_id" }
                : (BadActivation){ "KRE", "M1", long_nonce, NULL, 60, "nonce" };
      GError *error = NULL;
      TsSession *s = ts_store_activate (f->store, f->member, b.org, b.product, b.machine, b.nonce,
                                        b.lease, NOW, &error);
      g_assert_null (s);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      assert_message (error, b.field);
      g_error_free (error);
    }

  static const struct
  {
    const char *product, *kind, *billing;
    gint64 quota;
    const char *field;
  } bad_pools[] = {
    { "KRE", "floating", "annual", -1, "quota" },
    { "KRE", "floating", "annual", 1000001, "quota" },
    { "KRE", "roaming", "annual", 1, "kind" },
    { "KRE", NULL, "annual", 1, "kind" },
    { "KRE", "floating", "weekly", 1, "billing" },
    { "", "floating", "annual", 1, "product" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad_pools); i++)
    {
      GError *error = NULL;
      TsPool *p
          = ts_store_create_pool (f->store, NULL, "acme", bad_pools[i].product, bad_pools[i].kind,
                                  bad_pools[i].billing, bad_pools[i].quota, SUB_END, NOW, &error);
      g_assert_null (p);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      assert_message (error, bad_pools[i].field);
      g_error_free (error);
    }
  /* Quota bounds themselves are fine. */
  g_autoptr (TsPool) zero = make_pool (f, "acme", "ZERO", "floating", "annual", 0);
  g_autoptr (TsPool) max = make_pool (f, "acme", "MAX", "floating", "annual", 1000000);

  char long_email[260];
  memset (long_email, 'a', 259);
  long_email[250] = '@';
  long_email[259] = '\0';
  const char *bad_emails[] = { "nobody", "", "a b@c.test", long_email, NULL };
  for (guint i = 0; i < G_N_ELEMENTS (bad_emails); i++)
    {
      GError *error = NULL;
      char *id = ts_store_set_member (f->store, NULL, "acme", bad_emails[i], TS_ROLE_MEMBER, NOW,
                                      &error);
      g_assert_null (id);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      assert_message (error, "email");
      g_error_free (error);
    }
  GError *error = NULL;
  g_assert_null (ts_store_set_member (f->store, NULL, "acme", "x@y.test", (TsRole) 7, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* An existing pool (org, product, kind) and an existing org are refused. */
  g_assert_null (ts_store_create_pool (f->store, NULL, "acme", "ZERO", "floating", "monthly", 1,
                                       SUB_END, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (ts_store_bootstrap_org (f->store, "acme", "Again", "x@y.test", NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
}

/* ---- identity and keys ---- */

static void
test_members (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  TsRole role = TS_ROLE_OWNER;
  g_assert_true (ts_store_get_role (f->store, "acme", f->member, &role, &error));
  g_assert_no_error (error);
  g_assert_cmpint (role, ==, TS_ROLE_MEMBER);
  g_assert_false (ts_store_get_role (f->store, "acme", f->other, &role, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);

  /* The same email (any case) is the same user. */
  g_autofree char *again = ts_store_set_member (f->store, NULL, "beta", "MEMBER@acme.test",
                                                TS_ROLE_ADMIN, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again, ==, f->member);
  GPtrArray *orgs = ts_store_list_user_orgs (f->store, f->member, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (orgs->len, ==, 2);
  g_assert_cmpstr (((TsOrg *) orgs->pdata[0])->id, ==, "acme");
  g_assert_cmpstr (((TsOrg *) orgs->pdata[0])->name, ==, "Acme");
  g_assert_cmpint (((TsOrg *) orgs->pdata[0])->role, ==, TS_ROLE_MEMBER);
  g_assert_cmpint (((TsOrg *) orgs->pdata[1])->role, ==, TS_ROLE_ADMIN);
  g_ptr_array_unref (orgs);

  g_autofree char *email = ts_store_get_user_email (f->store, f->admin, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (email, ==, "admin@acme.test");
  g_assert_null (ts_store_get_user_email (f->store, "no-such-user", &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);

  GPtrArray *members = ts_store_list_members (f->store, f->admin, "acme", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (members->len, ==, 3);
  g_ptr_array_unref (members);

  /* An admin cannot make owners or touch owners; the last owner stays. */
  g_assert_null (ts_store_set_member (f->store, f->admin, "acme", "new@acme.test", TS_ROLE_OWNER,
                                      NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  g_assert_false (ts_store_remove_member (f->store, f->admin, "acme", f->owner, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  g_assert_false (ts_store_remove_member (f->store, f->owner, "acme", f->owner, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (ts_store_set_member (f->store, f->owner, "acme", "owner@acme.test", TS_ROLE_MEMBER,
                                      NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (ts_store_remove_member (f->store, f->owner, "acme", f->other, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (ts_store_remove_member (f->store, f->admin, "acme", f->member, NOW, &error));
  g_assert_no_error (error);
  g_assert_false (ts_store_get_role (f->store, "acme", f->member, &role, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  g_assert_true (audit_has (f, "acme", "member.set", f->admin));
  g_assert_true (audit_has (f, "acme", "member.remove", f->member));
}

static void
test_api_keys (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autofree char *key_id = NULL;
  g_autofree char *key
      = ts_store_create_api_key (f->store, f->member, "laptop", NOW, &key_id, &error);
  g_assert_no_error (error);
  g_assert_nonnull (key_id);
  g_assert_cmpuint (strlen (key), ==, 47);
  g_assert_true (g_str_has_prefix (key, "tsk_"));
  for (const char *p = key + 4; *p; p++)
    g_assert_true (g_ascii_isalnum (*p) || *p == '-' || *p == '_');
  g_autofree char *key2 = ts_store_create_api_key (f->store, f->member, "ci", NOW, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (key, !=, key2);

  g_autofree char *who = ts_store_authenticate (f->store, key, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (who, ==, f->member);
  /* Only the hash is stored. */
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM api_keys WHERE hash = '%s'"
                                          " OR prefix = '%s'",
                                          key, key);
  g_assert_cmpint (db_count (f->path, sql), ==, 0);

  GPtrArray *keys = ts_store_list_api_keys (f->store, f->member, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (keys->len, ==, 2);
  TsApiKey *k
      = g_str_equal (((TsApiKey *) keys->pdata[0])->id, key_id) ? keys->pdata[0] : keys->pdata[1];
  g_assert_cmpstr (k->label, ==, "laptop");
  g_assert_cmpuint (strlen (k->prefix), ==, 8);
  g_assert_true (g_str_has_prefix (key, k->prefix));
  g_assert_cmpint (k->revoked_at, ==, 0);
  g_ptr_array_unref (keys);

  /* Someone else's key is not found; revoking twice is fine. */
  g_assert_false (ts_store_revoke_api_key (f->store, f->admin, key_id, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (ts_store_revoke_api_key (f->store, f->member, key_id, NOW + 1, &error));
  g_assert_no_error (error);
  g_assert_true (ts_store_revoke_api_key (f->store, f->member, key_id, NOW + 2, &error));
  g_assert_no_error (error);

  g_autofree char *bad = g_strdup (key2);
  bad[10] = bad[10] == 'A' ? 'B' : 'A';
  const char *refused[] = { key, bad, "", "tsk_short", "Bearer x", NULL };
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_assert_null (ts_store_authenticate (f->store, refused[i], &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_clear_error (&error);
    }
  g_autofree char *still = ts_store_authenticate (f->store, key2, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (still, ==, f->member);
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM audit WHERE action = 'key.revoke'"), ==,
                   1);
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM audit WHERE action = 'key.create'"), ==,
                   2);
}

/* ---- permissions ---- */

/* Every admin operation, as @actor on org @org with pool @pool. */
static void
run_admin_ops (Fixture *f, const char *actor, const char *org, const char *pool,
               const char *session, TesseraError code)
{
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  for (guint op = 0; op < 16; op++)
    {
      GError *error = NULL;
      gboolean ok = TRUE;
      gpointer p = NULL;
      /* Pools of another org: only the operations naming a pool. */
      gboolean names_pool = op != 0 && op != 2 && op != 12 && op != 13 && op != 14 && op != 15;
      if (code == TESSERA_ERROR_NOT_FOUND && !names_pool)
        continue;
      switch (op)
        {
        case 0:
          p = ts_store_create_pool (f->store, actor, org, "NEW", "floating", "annual", 1, SUB_END,
                                    NOW, &error);
          ts_pool_free (p);
          break;
        case 1:
          p = ts_store_update_pool (f->store, actor, org, pool, 99, -1, NOW, &error);
          ts_pool_free (p);
          break;
        case 2:
          p = ts_store_list_pools (f->store, actor, org, NOW, &error);
          break;
        case 3:
          ok = ts_store_grant (f->store, actor, org, pool, f->member, NOW, &error);
          break;
        case 4:
          ok = ts_store_revoke_grant (f->store, actor, org, pool, f->member, NOW, &error);
          break;
        case 5:
          p = ts_store_list_grants (f->store, actor, org, pool, &error);
          break;
        case 6:
          p = ts_store_list_sessions (f->store, actor, org, pool, NOW, &error);
          break;
        case 7:
          ok = ts_store_force_release (f->store, actor, org, pool, session, NOW, &error);
          break;
        case 8:
          p = ts_store_list_machines (f->store, actor, org, pool, &error);
          break;
        case 9:
          ok = ts_store_remove_machine (f->store, actor, org, pool, "M1", NOW, &error);
          break;
        case 10:
          p = ts_store_create_offline (f->store, actor, org, pool, "M9", NULL, key, NOW, &error);
          ts_offline_free (p);
          break;
        case 11:
          p = ts_store_list_offline (f->store, actor, org, pool, &error);
          break;
        case 12:
          p = ts_store_list_audit (f->store, actor, org, 10, &error);
          break;
        case 13:
          p = ts_store_list_members (f->store, actor, org, &error);
          break;
        case 14:
          p = ts_store_set_member (f->store, actor, org, "x@acme.test", TS_ROLE_MEMBER, NOW,
                                   &error);
          g_free (p);
          break;
        case 15:
          ok = ts_store_remove_member (f->store, actor, org, f->admin, NOW, &error);
          break;
        }
      if (p != NULL && op != 0 && op != 1 && op != 10 && op != 14)
        g_ptr_array_unref (p);
      if (error == NULL || error->code != (gint) code)
        g_error ("admin op %u: expected %s, got %s", op, tessera_error_to_nick (code),
                 error ? error->message : "success");
      g_assert_error (error, TESSERA_ERROR, (gint) code);
      (void) ok;
      g_clear_error (&error);
    }
}

static void
test_permissions (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (TsPool) nl = make_pool (f, "acme", "KSE", "node-locked", "annual", 3);
  g_autoptr (TsPool) beta = make_pool (f, "beta", "KSE", "node-locked", "annual", 3);
  GError *error = NULL;
  g_assert_true (ts_store_grant (f->store, NULL, "acme", nl->id, f->member, NOW, &error));
  g_assert_no_error (error);
  g_autoptr (TsSession) s = activate_ok (f, f->member, "acme", "KSE", "M1", "nonce-perm-1", NOW);
  gint64 audit_before = db_count (f->path, "SELECT count(*) FROM audit");

  /* A member, and the owner of another org, are refused everything. */
  run_admin_ops (f, f->member, "acme", nl->id, s->id, TESSERA_ERROR_PERMISSION_DENIED);
  run_admin_ops (f, f->other, "acme", nl->id, s->id, TESSERA_ERROR_PERMISSION_DENIED);
  /* Unknown users and orgs too, without telling which. */
  run_admin_ops (f, "stranger", "acme", nl->id, s->id, TESSERA_ERROR_PERMISSION_DENIED);
  run_admin_ops (f, f->owner, "nosuchorg", nl->id, s->id, TESSERA_ERROR_PERMISSION_DENIED);
  /* acme's owner naming beta's pool under acme: not found. */
  run_admin_ops (f, f->owner, "acme", beta->id, s->id, TESSERA_ERROR_NOT_FOUND);
  /* The trusted tool on a missing org: not found. */
  g_assert_null (ts_store_list_pools (f->store, NULL, "nosuchorg", NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* Nothing changed, nothing audited. */
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM audit"), ==, audit_before);
  g_autoptr (TsSession) hb
      = ts_store_heartbeat (f->store, f->member, s->id, LEASE, NOW + 1, &error);
  g_assert_no_error (error);
  /* Someone else's session is not found for heartbeat or release. */
  g_assert_null (ts_store_heartbeat (f->store, f->admin, s->id, LEASE, NOW + 1, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (ts_store_release (f->store, f->admin, s->id, NOW + 1, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* Activating in an org one does not belong to. */
  g_assert_null (ts_store_activate (f->store, f->other, "acme", "KSE", "M1", "nonce-perm-2", LEASE,
                                    NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
}

/* ---- node-locked ---- */

static void
test_node_locked (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) nl = make_pool (f, "acme", "KSE", "node-locked", "annual", 2);

  g_assert_null (ts_store_activate (f->store, f->member, "acme", "KSE", "M1", "nonce-nl-0", LEASE,
                                    NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  assert_message (error, "you have no KSE node-locked license in organization acme: ask an owner "
                         "or admin to grant you one");
  g_clear_error (&error);

  /* Granted users <= quota; granting twice is fine. */
  g_assert_true (ts_store_grant (f->store, f->admin, "acme", nl->id, f->member, NOW, &error));
  g_assert_true (ts_store_grant (f->store, f->admin, "acme", nl->id, f->member, NOW, &error));
  g_assert_true (ts_store_grant (f->store, f->admin, "acme", nl->id, f->admin, NOW, &error));
  g_assert_no_error (error);
  g_assert_false (ts_store_grant (f->store, f->admin, "acme", nl->id, f->owner, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);
  /* Only members can be granted. */
  g_assert_false (ts_store_grant (f->store, f->admin, "acme", nl->id, f->other, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* The quota cannot go below the grants. */
  g_assert_null (ts_store_update_pool (f->store, f->owner, "acme", nl->id, 1, -1, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);

  /* The license moves from M1 to M2; M1's session ends at its heartbeat. */
  g_autoptr (TsSession) s1 = activate_ok (f, f->member, "acme", "KSE", "M1", "nonce-nl-1", NOW);
  g_assert_cmpstr (s1->kind, ==, "node-locked");
  g_assert_cmpstr (s1->org_id, ==, "acme");
  g_assert_cmpint (s1->subscription_end, ==, SUB_END);
  g_autoptr (TsSession) s1b = activate_ok (f, f->member, "acme", "KSE", "M1", "nonce-nl-1b", NOW);
  g_autoptr (TsSession) s2 = activate_ok (f, f->member, NULL, "KSE", "M2", "nonce-nl-2", NOW + 5);
  assert_heartbeat_fails (f, f->member, s1->id, NOW + 10, TESSERA_ERROR_TERMINATED,
                          "moved to machine M2");
  assert_heartbeat_fails (f, f->member, s1b->id, NOW + 10, TESSERA_ERROR_TERMINATED,
                          "moved to machine M2");
  /* The ended session's nonce does not silently open a new seat. */
  g_assert_null (ts_store_activate (f->store, f->member, "acme", "KSE", "M1", "nonce-nl-1", LEASE,
                                    NOW + 11, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
  g_clear_error (&error);
  GPtrArray *machines = ts_store_list_machines (f->store, f->admin, "acme", nl->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (machines->len, ==, 1);
  g_assert_cmpstr (((TsMachine *) machines->pdata[0])->machine_id, ==, "M2");
  g_assert_cmpstr (((TsMachine *) machines->pdata[0])->user_id, ==, f->member);
  g_ptr_array_unref (machines);
  /* Another user's registered machine is not taken over. */
  g_assert_null (ts_store_activate (f->store, f->admin, "acme", "KSE", "M2", "nonce-nl-3", LEASE,
                                    NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED);
  g_clear_error (&error);

  g_autoptr (TsSession) hb
      = ts_store_heartbeat (f->store, f->member, s2->id, LEASE, NOW + 20, &error);
  g_assert_no_error (error);
  g_assert_cmpint (hb->lease_expires_at, ==, NOW + 20 + LEASE);

  /* Revoking the grant ends the session: REVOKED at its heartbeat. */
  g_assert_true (
      ts_store_revoke_grant (f->store, f->owner, "acme", nl->id, f->member, NOW + 30, &error));
  g_assert_no_error (error);
  assert_heartbeat_fails (f, f->member, s2->id, NOW + 31, TESSERA_ERROR_REVOKED, "revoked");
  g_assert_false (
      ts_store_revoke_grant (f->store, f->owner, "acme", nl->id, f->member, NOW + 30, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (ts_store_activate (f->store, f->member, "acme", "KSE", "M2", "nonce-nl-4", LEASE,
                                    NOW + 32, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* The seat is free again. */
  g_assert_true (ts_store_grant (f->store, f->admin, "acme", nl->id, f->owner, NOW, &error));
  g_assert_no_error (error);
  g_assert_true (audit_has (f, "acme", "grant", nl->id));
  g_assert_true (audit_has (f, "acme", "grant.revoke", nl->id));
}

/* ---- floating ---- */

static void
test_floating (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "monthly", 2);
  /* No grant needed; a floating pool takes no grants. */
  g_assert_false (ts_store_grant (f->store, NULL, "acme", fl->id, f->member, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  g_autoptr (TsSession) a = activate_ok (f, f->member, NULL, "KRE", "M1", "nonce-fl-a", NOW);
  g_assert_cmpstr (a->kind, ==, "floating");
  g_assert_cmpint (a->lease_expires_at, ==, NOW + LEASE);
  /* The same nonce: the same session, no second seat. */
  g_autoptr (TsSession) a2 = activate_ok (f, f->member, NULL, "KRE", "M1", "nonce-fl-a", NOW + 1);
  g_assert_cmpstr (a2->id, ==, a->id);
  /* ... but not from another machine. */
  g_assert_null (ts_store_activate (f->store, f->member, NULL, "KRE", "M2", "nonce-fl-a", LEASE,
                                    NOW + 1, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_autoptr (TsSession) b = activate_ok (f, f->admin, NULL, "KRE", "M2", "nonce-fl-b", NOW + 2);
  g_assert_cmpstr (b->id, !=, a->id);

  /* A third machine: machine quota; a third session: quota. */
  g_assert_null (ts_store_activate (f->store, f->owner, NULL, "KRE", "M3", "nonce-fl-c", LEASE,
                                    NOW + 3, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED);
  g_clear_error (&error);
  g_assert_null (ts_store_activate (f->store, f->owner, NULL, "KRE", "M1", "nonce-fl-c", LEASE,
                                    NOW + 3, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  assert_message (error, "all 2 KRE floating licenses of organization acme are in use");
  g_clear_error (&error);
  GPtrArray *pools = ts_store_list_pools (f->store, f->admin, "acme", NOW + 3, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pools->len, ==, 1);
  g_assert_cmpint (((TsPool *) pools->pdata[0])->sessions, ==, 2);
  g_assert_cmpint (((TsPool *) pools->pdata[0])->machines, ==, 2);
  g_ptr_array_unref (pools);

  /* Releasing frees the seat (twice is fine); the released nonce stays ended. */
  g_assert_true (ts_store_release (f->store, f->member, a->id, NOW + 4, &error));
  g_assert_true (ts_store_release (f->store, f->member, a->id, NOW + 4, &error));
  g_assert_no_error (error);
  g_assert_null (ts_store_activate (f->store, f->member, NULL, "KRE", "M1", "nonce-fl-a", LEASE,
                                    NOW + 5, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
  g_clear_error (&error);
  assert_heartbeat_fails (f, f->member, a->id, NOW + 5, TESSERA_ERROR_TERMINATED, "released");
  g_autoptr (TsSession) c = activate_ok (f, f->owner, NULL, "KRE", "M1", "nonce-fl-c", NOW + 6);

  /* Force release and machine removal end sessions; both are audited. */
  g_assert_true (
      ts_store_force_release (f->store, f->admin, "acme", fl->id, c->id, NOW + 7, &error));
  g_assert_no_error (error);
  assert_heartbeat_fails (f, f->owner, c->id, NOW + 8, TESSERA_ERROR_TERMINATED, "force-released");
  g_assert_true (
      ts_store_remove_machine (f->store, f->admin, "acme", fl->id, "M2", NOW + 9, &error));
  g_assert_no_error (error);
  assert_heartbeat_fails (f, f->admin, b->id, NOW + 10, TESSERA_ERROR_TERMINATED,
                          "machine removed");
  g_assert_false (
      ts_store_remove_machine (f->store, f->admin, "acme", fl->id, "M2", NOW + 9, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (
      ts_store_force_release (f->store, f->admin, "acme", fl->id, "nope", NOW + 9, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* M3 fits now that M2 is gone. */
  g_autoptr (TsSession) d = activate_ok (f, f->owner, NULL, "KRE", "M3", "nonce-fl-d", NOW + 11);
  g_assert_true (audit_has (f, "acme", "session.force-release", c->id));
  g_assert_true (audit_has (f, "acme", "machine.remove", fl->id));

  /* A removed member's sessions end. */
  g_autoptr (TsSession) e = activate_ok (f, f->member, NULL, "KRE", "M1", "nonce-fl-e", NOW + 12);
  g_assert_true (ts_store_remove_member (f->store, f->owner, "acme", f->member, NOW + 13, &error));
  g_assert_no_error (error);
  assert_heartbeat_fails (f, f->member, e->id, NOW + 14, TESSERA_ERROR_TERMINATED,
                          "member removed");
}

static void
test_lease_and_reap (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 1);
  g_autoptr (TsSession) a = activate_ok (f, f->member, "acme", "KRE", "M1", "nonce-lease-a", NOW);
  g_assert_null (ts_store_activate (f->store, f->admin, "acme", "KRE", "M1", "nonce-lease-b", LEASE,
                                    NOW + LEASE - 1, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);
  g_assert_cmpuint (ts_store_reap (f->store, NOW + LEASE - 1, &error), ==, 0);
  g_assert_no_error (error);
  /* The lease ran out: reaped, the seat is free, the heartbeat says so. */
  g_assert_cmpuint (ts_store_reap (f->store, NOW + LEASE, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_cmpuint (ts_store_reap (f->store, NOW + LEASE, &error), ==, 0);
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM sessions WHERE ended_at IS NULL"), ==,
                   0);
  g_autoptr (TsSession) b
      = activate_ok (f, f->admin, "acme", "KRE", "M1", "nonce-lease-b", NOW + LEASE);
  assert_heartbeat_fails (f, f->member, a->id, NOW + LEASE + 1, TESSERA_ERROR_TERMINATED,
                          "lease expired");
  /* Not reaped, just expired: the heartbeat ends it. */
  assert_heartbeat_fails (f, f->admin, b->id, NOW + 3 * LEASE, TESSERA_ERROR_TERMINATED,
                          "lease expired");
  g_assert_null (ts_store_activate (f->store, f->admin, "acme", "KRE", "M1", "nonce-lease-b", LEASE,
                                    NOW + 3 * LEASE, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
  g_clear_error (&error);
}

/* Past the pool's subscription end nothing is granted, and a running
 * session ends at its next heartbeat. */
static void
test_subscription_end (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 2);
  g_autoptr (TsSession) a
      = activate_ok (f, f->member, "acme", "KRE", "M1", "nonce-sub-a", SUB_END - 30);
  g_assert_null (ts_store_activate (f->store, f->member, "acme", "KRE", "M1", "nonce-sub-b", LEASE,
                                    SUB_END, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED);
  assert_message (error, "must be renewed");
  g_clear_error (&error);
  g_autoptr (TsSession) kept
      = ts_store_heartbeat (f->store, f->member, a->id, LEASE, SUB_END - 1, &error);
  g_assert_no_error (error);
  assert_heartbeat_fails (f, f->member, a->id, SUB_END, TESSERA_ERROR_EXPIRED,
                          "subscription ended");
  /* Ended for good: it says so again, with the same code. */
  assert_heartbeat_fails (f, f->member, a->id, SUB_END + 1, TESSERA_ERROR_EXPIRED, NULL);
}

static void
test_over_quota (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 3);
  TsSession *s[3];
  for (guint i = 0; i < 3; i++)
    {
      char nonce[32];
      g_snprintf (nonce, sizeof nonce, "nonce-over-%u", i);
      s[i] = activate_ok (f, f->member, "acme", "KRE", "M1", nonce, NOW + i);
    }
  g_autoptr (TsPool) lowered
      = ts_store_update_pool (f->store, f->admin, "acme", fl->id, 1, -1, NOW + 5, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lowered->quota, ==, 1);
  g_assert_cmpint (lowered->subscription_end, ==, SUB_END);
  /* Ended by the lowering itself: the seats are free at once. */
  g_assert_cmpint (lowered->sessions, ==, 1);
  /* The newest went, whoever beats first; the oldest stays. */
  assert_heartbeat_fails (f, f->member, s[2]->id, NOW + 6, TESSERA_ERROR_TERMINATED,
                          "over quota: the quota was lowered to 1");
  TsSession *hb = ts_store_heartbeat (f->store, f->member, s[0]->id, LEASE, NOW + 6, &error);
  g_assert_no_error (error);
  ts_session_free (hb);
  assert_heartbeat_fails (f, f->member, s[1]->id, NOW + 7, TESSERA_ERROR_TERMINATED, "over quota");
  hb = ts_store_heartbeat (f->store, f->member, s[0]->id, LEASE, NOW + 8, &error);
  g_assert_no_error (error);
  ts_session_free (hb);
  for (guint i = 0; i < 3; i++)
    ts_session_free (s[i]);
  g_assert_true (audit_has (f, "acme", "pool.update", fl->id));
}

/* The seats a lowered quota takes back are free before any client beats:
 * the quota raised again, new activations get them at once. A quota that
 * still covers every seat in use ends nothing. */
static void
test_over_quota_seats_free (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 4);
  TsSession *s[4];
  for (guint i = 0; i < 4; i++)
    {
      char nonce[32], machine[8];
      g_snprintf (nonce, sizeof nonce, "nonce-free-%u", i);
      g_snprintf (machine, sizeof machine, "M%u", i);
      s[i] = activate_ok (f, f->member, "acme", "KRE", machine, nonce, NOW + i);
    }
  g_autoptr (TsPool) same
      = ts_store_update_pool (f->store, f->admin, "acme", fl->id, 4, -1, NOW + 5, &error);
  g_assert_no_error (error);
  g_assert_cmpint (same->sessions, ==, 4);
  g_autoptr (TsPool) lowered
      = ts_store_update_pool (f->store, f->admin, "acme", fl->id, 2, -1, NOW + 6, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lowered->sessions, ==, 2);
  g_autoptr (TsPool) raised
      = ts_store_update_pool (f->store, f->admin, "acme", fl->id, 4, -1, NOW + 7, &error);
  g_assert_no_error (error);
  g_assert_cmpint (raised->sessions, ==, 2);
  TsSession *n[2];
  for (guint i = 0; i < 2; i++)
    {
      char nonce[32], machine[8];
      g_snprintf (nonce, sizeof nonce, "nonce-again-%u", i);
      g_snprintf (machine, sizeof machine, "M%u", i + 2);
      n[i] = activate_ok (f, f->member, "acme", "KRE", machine, nonce, NOW + 8);
    }
  g_autoptr (GPtrArray) active
      = ts_store_list_sessions (f->store, f->admin, "acme", fl->id, NOW + 9, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (active->len, ==, 4);
  /* The ended ones say why; the oldest two beat on. */
  assert_heartbeat_fails (f, f->member, s[3]->id, NOW + 9, TESSERA_ERROR_TERMINATED,
                          "over quota: the quota was lowered to 2");
  assert_heartbeat_fails (f, f->member, s[2]->id, NOW + 9, TESSERA_ERROR_TERMINATED,
                          "over quota: the quota was lowered to 2");
  for (guint i = 0; i < 2; i++)
    {
      TsSession *hb = ts_store_heartbeat (f->store, f->member, s[i]->id, LEASE, NOW + 9, &error);
      g_assert_no_error (error);
      ts_session_free (hb);
      ts_session_free (n[i]);
    }
  for (guint i = 0; i < 4; i++)
    ts_session_free (s[i]);
}

/* A machine's last_seen is kept to the minute: a heartbeat writes it only
 * when it is at least 60 s old (one row written per heartbeat, not two). */
static void
test_heartbeat_machine_seen (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 2);
  g_autoptr (TsSession) s = activate_ok (f, f->member, "acme", "KRE", "M1", "nonce-seen", NOW);
  const struct
  {
    gint64 at, seen;
  } beats[] = { { 30, 0 }, { 59, 0 }, { 60, 60 }, { 100, 60 }, { 125, 125 } };
  for (guint i = 0; i < G_N_ELEMENTS (beats); i++)
    {
      TsSession *hb
          = ts_store_heartbeat (f->store, f->member, s->id, LEASE, NOW + beats[i].at, &error);
      g_assert_no_error (error);
      g_assert_cmpint (hb->lease_expires_at, ==, NOW + beats[i].at + LEASE);
      ts_session_free (hb);
      g_autofree char *sql = g_strdup_printf (
          "SELECT count(*) FROM machines WHERE machine_id = 'M1' AND last_seen = %" G_GINT64_FORMAT,
          NOW + beats[i].seen);
      g_assert_cmpint (db_count (f->path, sql), ==, 1);
    }
}

/* An activation on a registered machine writes its last_seen only when
 * it is a minute old too; a new machine is registered as seen now. */
static void
test_activate_machine_seen (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 2);
  const struct
  {
    gint64 at, seen;
  } runs[] = { { 0, 0 }, { 30, 0 }, { 59, 0 }, { 60, 60 }, { 90, 60 }, { 200, 200 } };
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++)
    {
      char nonce[32];
      g_snprintf (nonce, sizeof nonce, "nonce-run-%u", i);
      TsSession *s = activate_ok (f, f->member, "acme", "KRE", "M1", nonce, NOW + runs[i].at);
      g_assert_true (ts_store_release (f->store, f->member, s->id, NOW + runs[i].at, &error));
      g_assert_no_error (error);
      ts_session_free (s);
      g_autofree char *sql = g_strdup_printf (
          "SELECT count(*) FROM machines WHERE machine_id = 'M1' AND last_seen = %" G_GINT64_FORMAT
          " AND registered_at = %" G_GINT64_FORMAT,
          NOW + runs[i].seen, NOW);
      g_assert_cmpint (db_count (f->path, sql), ==, 1);
    }
}

#define HEX16(b) b b b b b b b b b b b b b b b b
#define TOLD_DIGESTS(hw) "machine-id=" HEX16 (hw) " user=" HEX16 ("05")

/* What a client tells of its machine (components, host name, OS) is kept
 * with the write of the machine's row (registered, or seen again): on
 * the user's own machine, a value not sent keeps the one before; on a
 * machine registered to another user, nothing of it is kept. */
static void
test_activate_told (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 5);
  g_autoptr (TsPool) nl = make_pool (f, "acme", "KRE", "node-locked", "annual", 5);
  g_assert_true (ts_store_grant (f->store, f->admin, "acme", nl->id, f->owner, NOW, &error));
  g_assert_no_error (error);
  const struct
  {
    const char *user_name, *machine, *digests, *host, *os;
    gint64 at;
    const char *want; /* the row afterwards: components' first byte, host, OS */
  } runs[] = {
    /* registered with what it told */
    { "member", "M-T", TOLD_DIGESTS ("01"), "a-host", "a-os", 0, "01 a-host a-os" },
    /* seen again within the minute: the host name only; the rest kept */
    { "member", "M-T", NULL, "a-host-2", NULL, 10, "01 a-host-2 a-os" },
    /* another user on the member's machine: nothing kept */
    { "admin", "M-T", TOLD_DIGESTS ("02"), "b-host", "b-os", 20, "01 a-host-2 a-os" },
    /* the owner's node-locked machine: registered with it, then updated */
    { "owner", "M-N", TOLD_DIGESTS ("03"), "n-host", "n-os", 30, "03 n-host n-os" },
    { "owner", "M-N", TOLD_DIGESTS ("04"), NULL, "n-os-2", 40, "04 n-host n-os-2" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++)
    {
      const char *user = g_str_equal (runs[i].user_name, "member")  ? f->member
                         : g_str_equal (runs[i].user_name, "admin") ? f->admin
                                                                    : f->owner;
      g_autofree char *nonce = g_strdup_printf ("nonce-told-%u", i);
      const TsClientInfo info = { runs[i].host, runs[i].os };
      TsSession *s = ts_store_activate_client (f->store, user, "acme", "KRE", runs[i].machine,
                                               runs[i].digests, &info, nonce, LEASE,
                                               NOW + runs[i].at, &error);
      g_assert_no_error (error);
      g_assert_nonnull (s);
      ts_session_free (s);
      g_auto (GStrv) want = g_strsplit (runs[i].want, " ", 3);
      g_autofree char *sql = g_strdup_printf (
          "SELECT count(*) FROM machines WHERE machine_id = '%s' AND components LIKE "
          "'machine-id=%s%%' AND hostname = '%s' AND os = '%s'",
          runs[i].machine, want[0], want[1], want[2]);
      g_assert_cmpint (db_count (f->path, sql), ==, 1);
    }
}

/* A quota lowered by another process (tessera-admin: another connection)
 * is seen at the next heartbeat. */
static void
test_over_quota_other_process (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 3);
  TsSession *s[3];
  for (guint i = 0; i < 3; i++)
    {
      char nonce[32];
      g_snprintf (nonce, sizeof nonce, "nonce-other-%u", i);
      s[i] = activate_ok (f, f->member, "acme", "KRE", "M1", nonce, NOW + i);
      /* counted now, and remembered as within the quota */
      TsSession *hb = ts_store_heartbeat (f->store, f->member, s[i]->id, LEASE, NOW + 4, &error);
      g_assert_no_error (error);
      ts_session_free (hb);
    }
  TsStore *admin = test_store_open (f->path);
  g_autoptr (TsPool) lowered
      = ts_store_update_pool (admin, NULL, "acme", fl->id, 1, -1, NOW + 5, &error);
  g_assert_no_error (error);
  ts_store_close (admin);
  assert_heartbeat_fails (f, f->member, s[2]->id, NOW + 6, TESSERA_ERROR_TERMINATED,
                          "over quota: the quota was lowered to 1");
  assert_heartbeat_fails (f, f->member, s[1]->id, NOW + 6, TESSERA_ERROR_TERMINATED, "over quota");
  TsSession *hb = ts_store_heartbeat (f->store, f->member, s[0]->id, LEASE, NOW + 7, &error);
  g_assert_no_error (error);
  ts_session_free (hb);
  for (guint i = 0; i < 3; i++)
    ts_session_free (s[i]);
}

/* Heartbeats sent at once are carried by one write (store-sessions.c,
 * "the lease combiner"), each must still get its own answer by the rules:
 * an ended session stays ended and its lease is never extended, a lowered
 * quota ends the newest sessions at their next heartbeat. */
#define HB_SESSIONS 16

typedef struct
{
  TsStore *store;
  const char *user;
  const char *id;
  gint64 now;
  guint rounds;
  guint ok, ended;
  char *last_error;
} HbWorker;

static gpointer
hb_worker (gpointer data)
{
  HbWorker *w = data;
  for (guint j = 0; j < w->rounds; j++)
    {
      GError *error = NULL;
      TsSession *s = ts_store_heartbeat (w->store, w->user, w->id, LEASE, w->now + j, &error);
      if (s != NULL)
        {
          g_assert_cmpstr (s->id, ==, w->id);
          g_assert_cmpint (s->lease_expires_at, ==, w->now + j + LEASE);
          w->ok++;
          ts_session_free (s);
          continue;
        }
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED);
      w->ended++;
      g_free (w->last_error);
      w->last_error = g_strdup (error->message);
      g_error_free (error);
    }
  return NULL;
}

/* Heartbeats every session of @s from @first on, one thread each. */
static void
hb_run (Fixture *f, TsSession **s, guint first, gint64 now, guint rounds, HbWorker *w)
{
  GThread *threads[HB_SESSIONS];
  for (guint i = first; i < HB_SESSIONS; i++)
    {
      g_free (w[i].last_error);
      w[i] = (HbWorker){ f->store, f->member, s[i]->id, now, rounds, 0, 0, NULL };
      threads[i] = g_thread_new ("hb", hb_worker, &w[i]);
    }
  for (guint i = first; i < HB_SESSIONS; i++)
    g_thread_join (threads[i]);
}

static void
test_heartbeat_concurrent (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", HB_SESSIONS);
  TsSession *s[HB_SESSIONS];
  HbWorker w[HB_SESSIONS] = { 0 };
  for (guint i = 0; i < HB_SESSIONS; i++)
    {
      char nonce[32], machine[16];
      g_snprintf (nonce, sizeof nonce, "nonce-hb-%02u", i);
      g_snprintf (machine, sizeof machine, "M%02u", i);
      s[i] = activate_ok (f, f->member, "acme", "KRE", machine, nonce, NOW + i);
    }
  for (guint i = 0; i < 4; i++)
    g_assert_true (ts_store_release (f->store, f->member, s[i]->id, NOW + 20, &error));
  g_assert_no_error (error);

  hb_run (f, s, 0, NOW + 30, 20, w);
  for (guint i = 0; i < HB_SESSIONS; i++)
    {
      g_assert_cmpuint (w[i].ok, ==, i < 4 ? 0 : 20);
      g_assert_cmpuint (w[i].ended, ==, i < 4 ? 20 : 0);
      if (i < 4)
        g_assert_nonnull (strstr (w[i].last_error, "released"));
    }
  /* released before: their leases are as the activation left them */
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL"
                                      " AND lease_expires_at > 1700000063"),
                   ==, 0);

  /* 12 running, the quota lowered to 8: the 4 newest end, whoever beats first */
  g_autoptr (TsPool) lowered
      = ts_store_update_pool (f->store, f->admin, "acme", fl->id, 8, -1, NOW + 60, &error);
  g_assert_no_error (error);
  hb_run (f, s, 4, NOW + 61, 3, w);
  for (guint i = 4; i < HB_SESSIONS; i++)
    {
      g_assert_cmpuint (w[i].ok, ==, i < 12 ? 3 : 0);
      g_assert_cmpuint (w[i].ended, ==, i < 12 ? 0 : 3);
      if (i >= 12)
        g_assert_nonnull (strstr (w[i].last_error, "over quota"));
    }
  /* ended at NOW + 61, extended last at NOW + 49 */
  g_assert_cmpint (db_count (f->path, "SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL"
                                      " AND lease_expires_at > 1700000109"),
                   ==, 0);
  GPtrArray *active = ts_store_list_sessions (f->store, f->admin, "acme", fl->id, NOW + 62, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (active->len, ==, 8);
  g_ptr_array_unref (active);
  for (guint i = 0; i < HB_SESSIONS; i++)
    {
      g_free (w[i].last_error);
      ts_session_free (s[i]);
    }
}

/* Under a stream of heartbeats (lease extensions, committed without a
 * sync) the WAL must not grow without end: checkpoints must keep up. */
static void
test_wal_checkpoint (Fixture *f, gconstpointer data)
{
  (void) data;
  if (test_store_is_url (f->path))
    {
      g_test_skip ("SQLite only");
      return;
    }
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 64);
  TsSession *s[64];
  for (guint i = 0; i < 64; i++)
    {
      char nonce[32], machine[16];
      g_snprintf (nonce, sizeof nonce, "nonce-wal-%02u", i);
      g_snprintf (machine, sizeof machine, "M%02u", i);
      s[i] = activate_ok (f, f->member, "acme", "KRE", machine, nonce, NOW);
    }
  /* ~3 pages a heartbeat: 20000 frames (80 MB) without checkpoints */
  for (guint r = 0; r < 100; r++)
    for (guint i = 0; i < 64; i++)
      {
        GError *error = NULL;
        TsSession *hb
            = ts_store_heartbeat (f->store, f->member, s[i]->id, LEASE, NOW + 1 + r, &error);
        g_assert_no_error (error);
        ts_session_free (hb);
      }
  g_autofree char *wal = g_strconcat (f->path, "-wal", NULL);
  GStatBuf st;
  g_assert_cmpint (g_stat (wal, &st), ==, 0);
  g_assert_cmpint (st.st_size, <, 32 * 1024 * 1024);
  for (guint i = 0; i < 64; i++)
    ts_session_free (s[i]);
}

/* Activations keep a bound on a pool's active sessions instead of counting
 * them each time; sessions added by another process (another server on
 * the same database: another connection) must still count, and so must
 * seats freed by expiry. */
static void
test_seat_bound_other_process (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 3);
  g_autoptr (TsSession) s1 = activate_ok (f, f->member, "acme", "KRE", "M1", "nonce-bound-1", NOW);
  TsStore *other = test_store_open (f->path);
  for (guint i = 2; i <= 3; i++)
    {
      char nonce[32];
      g_snprintf (nonce, sizeof nonce, "nonce-bound-%u", i);
      TsSession *s
          = ts_store_activate (other, f->member, "acme", "KRE", "M1", nonce, LEASE, NOW, &error);
      g_assert_no_error (error);
      ts_session_free (s);
    }
  ts_store_close (other);
  g_assert_null (ts_store_activate (f->store, f->member, "acme", "KRE", "M1", "nonce-bound-4",
                                    LEASE, NOW + 1, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);
  /* the leases run out: the seats are free again, whatever the bound said */
  g_autoptr (TsSession) s5
      = activate_ok (f, f->member, "acme", "KRE", "M1", "nonce-bound-5", NOW + LEASE + 1);
}

/* The stored file of an offline license comes back byte for byte, to
 * whoever may see it; every bad request has its own error. */
static void
test_offline_get (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autoptr (TsPool) nl = make_pool (f, "acme", "KSE", "node-locked", "annual", 2);
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 2);
  g_autoptr (TsOffline) off = ts_store_create_offline (f->store, f->admin, "acme", nl->id,
                                                       "QD56-P8HQ", NULL, key, NOW, &error);
  g_assert_no_error (error);
  struct
  {
    const char *actor, *org, *pool;
  } ok[] = {
    { NULL, NULL, NULL }, /* trusted: by id alone */
    { NULL, "acme", nl->id },
    { f->admin, "acme", NULL },
    { f->owner, "acme", nl->id },
  };
  for (guint i = 0; i < G_N_ELEMENTS (ok); i++)
    {
      TsOffline *o
          = ts_store_get_offline (f->store, ok[i].actor, ok[i].org, ok[i].pool, off->id, &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (o->file, off->file));
      g_assert_cmpstr (o->file_name, ==, "KSE_QD56-P8HQ.lic");
      g_assert_cmpstr (o->machine_id, ==, "QD56-P8HQ");
      g_assert_cmpstr (o->pool_id, ==, nl->id);
      ts_offline_free (o);
    }
  struct
  {
    const char *actor, *org, *pool, *id;
    TesseraError code;
    const char *message;
  } bad[] = {
    { f->member, "acme", nl->id, off->id, TESSERA_ERROR_PERMISSION_DENIED, "owner or admin" },
    { f->other, "acme", nl->id, off->id, TESSERA_ERROR_PERMISSION_DENIED, "not a member" },
    { f->other, "beta", NULL, off->id, TESSERA_ERROR_NOT_FOUND, "no offline license" },
    { NULL, "beta", NULL, off->id, TESSERA_ERROR_NOT_FOUND, "in organization beta" },
    { NULL, "acme", fl->id, off->id, TESSERA_ERROR_NOT_FOUND, "no offline license" },
    { NULL, NULL, NULL, "no-such-license", TESSERA_ERROR_NOT_FOUND, "no-such-license" },
    { NULL, NULL, NULL, "not an id", TESSERA_ERROR_INVALID_ARGUMENT, "offline license id" },
    { NULL, NULL, "bad pool", off->id, TESSERA_ERROR_INVALID_ARGUMENT, "pool_id" },
    { f->admin, NULL, NULL, off->id, TESSERA_ERROR_INVALID_ARGUMENT, "org_id" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_null (ts_store_get_offline (f->store, bad[i].actor, bad[i].org, bad[i].pool,
                                           bad[i].id, &error));
      g_assert_error (error, TESSERA_ERROR, bad[i].code);
      assert_message (error, bad[i].message);
      g_clear_error (&error);
    }
}

static void
test_org_selection (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TsPool) a = make_pool (f, "acme", "KRE", "floating", "annual", 5);
  g_autoptr (TsPool) b = make_pool (f, "beta", "KRE", "floating", "annual", 5);
  g_autoptr (TsPool) c = make_pool (f, "beta", "KSE", "floating", "annual", 5);
  /* tessera-admin (trusted): an org's admin may not add another org's
   * member without its consent (test-store-invite). */
  g_autofree char *both = ts_store_set_member (f->store, NULL, "beta", "member@acme.test",
                                               TS_ROLE_MEMBER, NOW, &error);
  g_assert_no_error (error);
  g_assert_null (ts_store_activate (f->store, f->member, NULL, "KRE", "M1", "nonce-org-1", LEASE,
                                    NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_ORG_REQUIRED);
  assert_message (error, "acme (Acme)");
  assert_message (error, "beta (Beta)");
  g_clear_error (&error);
  g_autoptr (TsSession) s1 = activate_ok (f, f->member, "beta", "KRE", "M1", "nonce-org-1", NOW);
  g_assert_cmpstr (s1->org_id, ==, "beta");
  g_assert_cmpstr (s1->pool_id, ==, b->id);
  /* Only beta has KSE: no choice to make. */
  g_autoptr (TsSession) s2 = activate_ok (f, f->member, NULL, "KSE", "M1", "nonce-org-2", NOW);
  g_assert_cmpstr (s2->org_id, ==, "beta");
  /* The admin is only in acme. */
  g_autoptr (TsSession) s3 = activate_ok (f, f->admin, NULL, "KRE", "M1", "nonce-org-3", NOW);
  g_assert_cmpstr (s3->org_id, ==, "acme");
  g_assert_null (ts_store_activate (f->store, f->member, NULL, "NOPE", "M1", "nonce-org-4", LEASE,
                                    NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (
      ts_store_activate (f->store, f->admin, NULL, "KSE", "M1", "nonce-org-5", LEASE, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (ts_store_activate (f->store, f->admin, "acme", "KSE", "M1", "nonce-org-5", LEASE,
                                    NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
}

/* ---- offline ---- */

static void
test_offline (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autoptr (TsPool) nl = make_pool (f, "acme", "KSE", "node-locked", "annual", 2);
  g_autoptr (TsPool) monthly = make_pool (f, "acme", "KRE", "node-locked", "monthly", 2);
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 2);
  const char *refused[] = { monthly->id, fl->id };
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_assert_null (ts_store_create_offline (f->store, f->admin, "acme", refused[i], "M1", NULL,
                                              key, NOW, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED);
      assert_message (error, "only an annual node-locked license can be converted to offline");
      g_clear_error (&error);
    }
  g_assert_null (
      ts_store_create_offline (f->store, f->admin, "acme", nl->id, "M 1", NULL, key, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  assert_message (error, "machine_id");
  g_clear_error (&error);

  g_assert_true (ts_store_grant (f->store, f->admin, "acme", nl->id, f->member, NOW, &error));
  g_assert_no_error (error);
  const char *const ents[] = { "reports", "api", NULL };
  g_autoptr (TsOffline) off = ts_store_create_offline (f->store, f->admin, "acme", nl->id,
                                                       "QD56-P8HQ", ents, key, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (off->file_name, ==, "KSE_QD56-P8HQ.lic");
  g_assert_cmpint (off->expires_at, ==, NOW + 60 * DAY);
  g_assert_cmpstr (off->created_by, ==, f->admin);
  g_autoptr (TesseraTrustedKeys) trusted = test_trusted_keys_of (key);
  g_autoptr (TesseraLicfile) lic = tessera_licfile_verify (off->file, trusted, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_licfile_check (lic, "KSE", "QD56-P8HQ", NOW + 1, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_licfile_get_license_id (lic), ==, off->id);
  g_assert_cmpstr (tessera_licfile_get_org (lic), ==, "acme");
  g_assert_cmpstr (tessera_licfile_get_kind (lic), ==, "node-locked");
  g_assert_cmpstr (tessera_licfile_get_billing (lic), ==, "annual");
  g_assert_cmpint (tessera_licfile_get_expires_at (lic), ==, NOW + 60 * DAY);
  g_assert_cmpuint (g_strv_length ((char **) tessera_licfile_get_entitlements (lic)), ==, 2);
  /* The stored file is the one handed out. */
  g_assert_cmpint (db_count (f->path, "SELECT length (file) FROM offline"), ==,
                   (gint64) g_bytes_get_size (off->file));

  /* 1 grant + 1 offline = quota 2: no more of either. */
  g_assert_null (
      ts_store_create_offline (f->store, f->admin, "acme", nl->id, "M2", NULL, key, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);
  g_assert_false (ts_store_grant (f->store, f->admin, "acme", nl->id, f->admin, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_clear_error (&error);
  GPtrArray *list = ts_store_list_pools (f->store, f->admin, "acme", NOW, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < list->len; i++)
    if (g_str_equal (((TsPool *) list->pdata[i])->id, nl->id))
      {
        g_assert_cmpint (((TsPool *) list->pdata[i])->offline, ==, 1);
        g_assert_cmpint (((TsPool *) list->pdata[i])->granted, ==, 1);
      }
  g_ptr_array_unref (list);
  /* Once it expired, its seat is back. */
  g_assert_true (
      ts_store_grant (f->store, f->admin, "acme", nl->id, f->admin, NOW + 60 * DAY, &error));
  g_assert_no_error (error);

  /* Capped at the subscription end. */
  g_autoptr (TsPool) short_sub = ts_store_create_pool (
      f->store, NULL, "acme", "KSE2", "node-locked", "annual", 1, NOW + 10 * DAY, NOW, &error);
  g_assert_no_error (error);
  g_autoptr (TsOffline) off2 = ts_store_create_offline (f->store, NULL, "acme", short_sub->id, "M3",
                                                        NULL, key, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpint (off2->expires_at, ==, NOW + 10 * DAY);
  g_assert_true (audit_has (f, "acme", "offline.create", off->id));
  g_assert_true (audit_has (f, "acme", "offline.create", off2->id));
}

static void
test_audit (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autoptr (TsPool) nl = make_pool (f, "acme", "KSE", "node-locked", "annual", 5);
  g_assert_true (ts_store_grant (f->store, f->admin, "acme", nl->id, f->member, NOW + 1, &error));
  g_autoptr (TsSession) s = activate_ok (f, f->member, "acme", "KSE", "M1", "nonce-audit", NOW + 2);
  g_assert_true (
      ts_store_force_release (f->store, f->admin, "acme", nl->id, s->id, NOW + 3, &error));
  g_assert_true (
      ts_store_remove_machine (f->store, f->admin, "acme", nl->id, "M1", NOW + 4, &error));
  g_assert_true (
      ts_store_revoke_grant (f->store, f->admin, "acme", nl->id, f->member, NOW + 5, &error));
  g_autoptr (TsOffline) off = ts_store_create_offline (f->store, f->admin, "acme", nl->id, "M2",
                                                       NULL, key, NOW + 6, &error);
  g_autoptr (TsPool) up
      = ts_store_update_pool (f->store, f->admin, "acme", nl->id, 4, -1, NOW + 7, &error);
  g_assert_true (ts_store_remove_member (f->store, f->admin, "acme", f->member, NOW + 8, &error));
  g_assert_no_error (error);

  static const char *const expected[] = {
    "member.remove",  "pool.update",           "offline.create", "grant.revoke",
    "machine.remove", "session.force-release", "grant",          "pool.create",
  };
  GPtrArray *rows = ts_store_list_audit (f->store, f->owner, "acme", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rows->len, >=, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      TsAudit *a = rows->pdata[i];
      g_assert_cmpstr (a->action, ==, expected[i]);
      g_assert_cmpstr (a->actor, ==, i == G_N_ELEMENTS (expected) - 1 ? "tessera-admin" : f->admin);
    }
  g_assert_cmpint (((TsAudit *) rows->pdata[0])->at, ==, NOW + 8);
  g_ptr_array_unref (rows);
  rows = ts_store_list_audit (f->store, f->owner, "acme", 2, &error);
  g_assert_cmpuint (rows->len, ==, 2);
  g_ptr_array_unref (rows);
  /* beta's log holds nothing of acme. */
  rows = ts_store_list_audit (f->store, f->other, "beta", 0, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < rows->len; i++)
    g_assert_cmpstr (((TsAudit *) rows->pdata[i])->action, ==, "org.create");
  g_ptr_array_unref (rows);
}

/* ---- an unwritable database ---- */

static void
test_unavailable (Fixture *f, gconstpointer data)
{
  (void) data;
  if (g_test_subprocess ())
    return; /* the fixture of the child is unused: see test_unavailable_child */
  GError *error = NULL;
  g_autoptr (TsPool) nl = make_pool (f, "acme", "KSE", "node-locked", "annual", 5);
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", 5);
  g_autoptr (TsSession) s = activate_ok (f, f->member, "acme", "KRE", "M1", "nonce-ro-1", NOW);
  /* SQLite: a read-only file in a directory the unprivileged child may
   * create -wal and -shm in; PostgreSQL: a read-only database. */
  ts_store_close (f->store);
  f->path = test_store_make_read_only (f->path, f->dir);
  const char *path = f->path;
  gint64 audit = db_count (path, "SELECT count(*) FROM audit");
  gint64 sessions = db_count (path, "SELECT count(*) FROM sessions");

  g_setenv ("TS_TEST_DB", path, TRUE);
  g_setenv ("TS_TEST_POOL", nl->id, TRUE);
  g_setenv ("TS_TEST_MEMBER", f->member, TRUE);
  g_setenv ("TS_TEST_SESSION", s->id, TRUE);
  g_test_trap_subprocess ("/store/unavailable/child", 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();

  /* Nothing changed. */
  test_store_make_writable (path);
  fixture_open (f);
  g_assert_cmpint (db_count (path, "SELECT count(*) FROM audit"), ==, audit);
  g_assert_cmpint (db_count (path, "SELECT count(*) FROM sessions"), ==, sessions);
  g_assert_cmpint (db_count (path, "SELECT count(*) FROM grants"), ==, 0);
  g_assert_cmpint (db_count (path, "SELECT count(*) FROM pools"), ==, 2);
  g_autoptr (TsSession) hb
      = ts_store_heartbeat (f->store, f->member, s->id, LEASE, NOW + 1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (hb->lease_expires_at, ==, NOW + 1 + LEASE);
}

static void
assert_unavailable (GError *error, const char *what)
{
  if (error == NULL || !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE))
    g_error ("%s: expected unavailable, got %s", what, error ? error->message : "success");
}

static void
test_unavailable_child (void)
{
  if (!g_test_subprocess ())
    {
      g_test_skip ("run by /store/unavailable");
      return;
    }
  const char *path = g_getenv ("TS_TEST_DB");
  const char *pool = g_getenv ("TS_TEST_POOL");
  const char *member = g_getenv ("TS_TEST_MEMBER");
  const char *session = g_getenv ("TS_TEST_SESSION");
  test_drop_privileges ();
  g_assert_cmpuint (geteuid (), !=, 0);
  GError *error = NULL;
  TsStore *store = ts_store_open (path, &error);
  /* The directory is writable (for -wal and -shm), the file is not: SQLite
   * opens it read-only, reads work, every write fails. */
  g_assert_no_error (error);
  g_assert_nonnull (store);
  /* Reading still works. */
  GPtrArray *pools = ts_store_list_pools (store, NULL, "acme", NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pools->len, ==, 2);
  g_ptr_array_unref (pools);

  g_assert_false (ts_store_grant (store, NULL, "acme", pool, member, NOW, &error));
  assert_unavailable (error, "grant");
  g_assert_nonnull (strstr (error->message, "nothing was changed"));
  g_clear_error (&error);
  g_assert_null (
      ts_store_activate (store, member, "acme", "KRE", "M2", "nonce-ro-2", LEASE, NOW, &error));
  assert_unavailable (error, "activate");
  g_clear_error (&error);
  g_assert_null (ts_store_heartbeat (store, member, session, LEASE, NOW + 1, &error));
  assert_unavailable (error, "heartbeat");
  g_clear_error (&error);
  g_assert_null (ts_store_create_pool (store, NULL, "acme", "NEW", "floating", "annual", 1, SUB_END,
                                       NOW, &error));
  assert_unavailable (error, "create pool");
  g_clear_error (&error);
  g_assert_null (ts_store_bootstrap_org (store, "gamma", "Gamma", "g@gamma.test", NOW, &error));
  assert_unavailable (error, "bootstrap");
  g_clear_error (&error);
  g_assert_cmpuint (ts_store_reap (store, NOW + 1000, &error), ==, 0);
  assert_unavailable (error, "reap");
  g_clear_error (&error);
  ts_store_close (store);
}

/* ---- concurrency ---- */

#define N_THREADS 64
#define PER_THREAD 5
#define CONC_QUOTA 10

typedef struct
{
  TsStore *store;
  const char *path;
  const char *pool_id;
  char *users[4];
  guint index;
  gint *granted;
  gint *refused;
  gint *other;
} Worker;

static gpointer
store_worker (gpointer data)
{
  Worker *w = data;
  for (guint j = 0; j < PER_THREAD; j++)
    {
      guint n = w->index * PER_THREAD + j;
      char machine[16], nonce[32];
      g_snprintf (machine, sizeof machine, "M-%u", n % CONC_QUOTA);
      g_snprintf (nonce, sizeof nonce, "nonce-%03u-%u", w->index, j);
      GError *error = NULL;
      TsSession *s = ts_store_activate (w->store, w->users[n % 4], "acme", "KRE", machine, nonce,
                                        LEASE, NOW, &error);
      if (s != NULL)
        g_atomic_int_inc (w->granted);
      else if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED))
        g_atomic_int_inc (w->refused);
      else
        {
          g_printerr ("unexpected: %s\n", error->message);
          g_atomic_int_inc (w->other);
        }
      ts_session_free (s);
      g_clear_error (&error);
    }
  return NULL;
}

typedef gpointer (*WorkerFunc) (gpointer);

/* Runs N_THREADS workers against a floating pool of quota CONC_QUOTA; returns
 * the number of active sessions in the database afterwards. */
static gint64
run_workers (Fixture *f, WorkerFunc func, gint *granted, gint *refused, gint *other)
{
  GError *error = NULL;
  g_autoptr (TsPool) fl = make_pool (f, "acme", "KRE", "floating", "annual", CONC_QUOTA);
  Worker workers[N_THREADS];
  GThread *threads[N_THREADS];
  *granted = *refused = *other = 0;
  char *users[4] = { f->owner, f->admin, f->member, NULL };
  users[3] = ts_store_set_member (f->store, NULL, "acme", "fourth@acme.test", TS_ROLE_MEMBER, NOW,
                                  &error);
  g_assert_no_error (error);
  for (guint i = 0; i < N_THREADS; i++)
    {
      workers[i] = (Worker){ f->store, f->path, fl->id, { 0 }, i, granted, refused, other };
      memcpy (workers[i].users, users, sizeof users);
      threads[i] = g_thread_new ("worker", func, &workers[i]);
    }
  for (guint i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);
  g_free (users[3]);
  g_autofree char *sql
      = g_strdup_printf ("SELECT count(*) FROM sessions WHERE pool_id = '%s'"
                         " AND ended_at IS NULL AND lease_expires_at > %" G_GINT64_FORMAT,
                         fl->id, NOW);
  return db_count (f->path, sql);
}

static void
test_concurrency (void)
{
  for (guint run = 0; run < 5; run++)
    {
      Fixture f = { 0 };
      fixture_set_up (&f, NULL);
      gint granted, refused, other;
      gint64 active = run_workers (&f, store_worker, &granted, &refused, &other);
      g_assert_cmpint (other, ==, 0);
      g_assert_cmpint (granted, ==, CONC_QUOTA);
      g_assert_cmpint (refused, ==, N_THREADS * PER_THREAD - CONC_QUOTA);
      g_assert_cmpint (active, ==, CONC_QUOTA);
      g_assert_cmpint (db_count (f.path, "SELECT count(*) FROM machines"), <=, CONC_QUOTA);
      fixture_tear_down (&f, NULL);
    }
}

/* The wrong way, to show the harness catches it: count in one deferred
 * transaction, insert in another, on a connection per thread. SQLite's
 * locking serializes each transaction but not the pair, so with a short
 * pause between count and insert the quota is overshot. */
static gint naive_ready; /* workers connected, for the start gate */

static gpointer
naive_worker (gpointer data)
{
  Worker *w = data;
  TestDb *db = test_db_open (w->path);
  /* Everybody connected first: a slow connection setup (PostgreSQL under
   * a sanitizer) must not stagger the workers so much that they never
   * overlap, or the control would prove nothing. */
  g_atomic_int_inc (&naive_ready);
  while (g_atomic_int_get (&naive_ready) < N_THREADS)
    g_usleep (1000);
  for (guint j = 0; j < PER_THREAD; j++)
    {
      guint n = w->index * PER_THREAD + j;
      gint64 active = test_db_count_active (db, w->pool_id, NOW);
      g_usleep (5000);
      if (active >= CONC_QUOTA)
        {
          g_atomic_int_inc (w->refused);
          continue;
        }
      char *id = g_uuid_string_random ();
      char nonce[32], machine[16];
      g_snprintf (nonce, sizeof nonce, "nonce-%03u-%u", w->index, j);
      g_snprintf (machine, sizeof machine, "M-%u", n % CONC_QUOTA);
      test_db_insert_session (db, id, w->pool_id, w->users[n % 4], machine, nonce, NOW,
                              NOW + LEASE);
      g_free (id);
      g_atomic_int_inc (w->granted);
    }
  test_db_close (db);
  return NULL;
}

static void
test_concurrency_naive (void)
{
  gint64 worst = 0;
  for (guint run = 0; run < 5 && worst <= CONC_QUOTA; run++)
    {
      Fixture f = { 0 };
      fixture_set_up (&f, NULL);
      gint granted, refused, other;
      g_atomic_int_set (&naive_ready, 0);
      gint64 active = run_workers (&f, naive_worker, &granted, &refused, &other);
      g_assert_cmpint (active, ==, granted);
      worst = MAX (worst, active);
      fixture_tear_down (&f, NULL);
    }
  g_test_message ("the naive count-then-insert let %" G_GINT64_FORMAT
                  " sessions into a quota of %d",
                  worst, CONC_QUOTA);
  g_assert_cmpint (worst, >, CONC_QUOTA);
}

/* Readiness probes are unauthenticated: however many arrive, the database
 * sees at most one write a second (the clock is the caller's, so the test
 * moves it without waiting). */
static void
test_ready_coalesced (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  TestDb *db = test_db_open (f->path);
  const gint64 t0 = 1000 * G_USEC_PER_SEC;
  char *detail = NULL;

  gint64 mark = test_db_write_mark (db);
  g_assert_true (ts_store_check_writable (f->store, t0, &detail, &error));
  g_assert_no_error (error);
  g_assert_null (detail);
  g_assert_cmpint (test_db_write_mark (db), !=, mark); /* the first one writes */

  mark = test_db_write_mark (db);
  for (guint i = 0; i < 100; i++)
    {
      g_assert_true (
          ts_store_check_writable (f->store, t0 + i * (G_USEC_PER_SEC / 100), NULL, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpint (test_db_write_mark (db), ==, mark); /* a flood within the second: none */

  g_assert_true (ts_store_check_writable (f->store, t0 + G_USEC_PER_SEC, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (test_db_write_mark (db), !=, mark); /* a second later: one more */

  /* A caller's clock behind the last check's (another thread's reading)
   * gets the last answer too. */
  mark = test_db_write_mark (db);
  g_assert_true (ts_store_check_writable (f->store, t0, NULL, &error));
  g_assert_cmpint (test_db_write_mark (db), ==, mark);
  test_db_close (db);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
#define ADD(path, func)                                                                            \
  g_test_add ("/store/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("migrations", test_migrations);
  ADD ("restart", test_restart);
  ADD ("validation", test_validation);
  ADD ("members", test_members);
  ADD ("api-keys", test_api_keys);
  ADD ("permissions", test_permissions);
  ADD ("node-locked", test_node_locked);
  ADD ("floating", test_floating);
  ADD ("lease-and-reap", test_lease_and_reap);
  ADD ("over-quota", test_over_quota);
  ADD ("over-quota/seats-free", test_over_quota_seats_free);
  ADD ("heartbeat/machine-seen", test_heartbeat_machine_seen);
  ADD ("activate/machine-seen", test_activate_machine_seen);
  ADD ("activate/told", test_activate_told);
  ADD ("subscription-end", test_subscription_end);
  ADD ("org-selection", test_org_selection);
  ADD ("offline", test_offline);
  ADD ("offline-get", test_offline_get);
  ADD ("over-quota/other-process", test_over_quota_other_process);
  ADD ("heartbeat/concurrent", test_heartbeat_concurrent);
  ADD ("heartbeat/wal-checkpoint", test_wal_checkpoint);
  ADD ("floating/other-process", test_seat_bound_other_process);
  ADD ("audit", test_audit);
  ADD ("unavailable", test_unavailable);
  ADD ("ready/coalesced", test_ready_coalesced);
#undef ADD
  g_test_add_func ("/store/unavailable/child", test_unavailable_child);
  g_test_add_func ("/store/concurrency/transactional", test_concurrency);
  g_test_add_func ("/store/concurrency/naive-overshoots", test_concurrency_naive);
  return g_test_run ();
}
