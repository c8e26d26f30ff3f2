/* A client request's caller by API key (TsCaller, server/store.h): the
 * store checks the key inside the request's own transaction (issue 17:
 * one statement and one transaction fewer per request), and must answer
 * exactly as the check before it did. A key unknown or revoked at that
 * moment is TESSERA_ERROR_AUTH and changes nothing; a valid key that
 * reaches no membership or no session of its own gets the error of that
 * (PERMISSION_DENIED, NOT_FOUND), never another user's session; the user
 * the key belongs to comes back in TsCaller.found. On SQLite and on
 * PostgreSQL (tests/with-postgres.sh, store-backend.h). */
#include "store-backend.h"
#include "store.h"
#include "test-util.h"

#include <string.h>

#define NOW ((gint64) 1700000000)
#define SUB_END (NOW + 365 * (gint64) 86400)
#define LEASE 60

typedef struct
{
  char *dir;
  char *path;
  TsStore *store;
  char *member;        /* of acme, which has a KRE floating pool */
  char *member_hash;   /* of the member's valid key */
  char *revoked_hash;  /* of the member's revoked key */
  char *stranger;      /* owner of beta, nothing in acme */
  char *stranger_hash; /* of the stranger's valid key */
} Fixture;

static char *
key_hash_of (Fixture *f, const char *user, gboolean revoke)
{
  GError *error = NULL;
  g_autofree char *key_id = NULL;
  g_autofree char *key = ts_store_create_api_key (f->store, user, "t", NOW, &key_id, &error);
  g_assert_no_error (error);
  if (revoke)
    {
      g_assert_true (ts_store_revoke_api_key (f->store, user, key_id, NOW, &error));
      g_assert_no_error (error);
    }
  char *hash = ts_api_key_hash (key, &error);
  g_assert_no_error (error);
  return hash;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  f->dir = test_tmpdir_new ();
  f->path = test_store_location (f->dir);
  f->store = ts_store_open (f->path, &error);
  g_assert_no_error (error);
  g_autofree char *owner
      = ts_store_bootstrap_org (f->store, "acme", "Acme", "owner@acme.test", NOW, &error);
  g_assert_no_error (error);
  f->member = ts_store_set_member (f->store, owner, "acme", "member@acme.test", TS_ROLE_MEMBER, NOW,
                                   &error);
  g_assert_no_error (error);
  f->stranger = ts_store_bootstrap_org (f->store, "beta", "Beta", "boss@beta.test", NOW, &error);
  g_assert_no_error (error);
  TsPool *pool = ts_store_create_pool (f->store, NULL, "acme", "KRE", "floating", "annual", 5,
                                       SUB_END, NOW, &error);
  g_assert_no_error (error);
  ts_pool_free (pool);
  f->member_hash = key_hash_of (f, f->member, FALSE);
  f->revoked_hash = key_hash_of (f, f->member, TRUE);
  f->stranger_hash = key_hash_of (f, f->stranger, FALSE);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  ts_store_close (f->store);
  g_free (f->member);
  g_free (f->member_hash);
  g_free (f->revoked_hash);
  g_free (f->stranger);
  g_free (f->stranger_hash);
  test_store_location_free (f->path);
  test_tmpdir_free (f->dir);
}

static gint64
count (Fixture *f, const char *sql)
{
  return test_store_count (f->path, sql);
}

static TsSession *
activate_as (Fixture *f, const char *hash, const char *org, const char *nonce, char **found,
             GError **error)
{
  TsCaller who = { .key_hash = hash };
  TsSession *s = ts_store_activate_as (f->store, &who, org, "KRE", "M-1", NULL, NULL, nonce, LEASE,
                                       NOW, error);
  *found = who.found;
  return s;
}

/* A valid key: the activation is its user's, and so are the heartbeat and
 * the release, each telling who the key's user was. */
static void
test_valid_key (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  char *found = NULL;
  TsSession *s = activate_as (f, f->member_hash, NULL, "nonce-caller-1", &found, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (s->user_id, ==, f->member);
  g_assert_cmpstr (found, ==, f->member);
  g_free (found);

  TsCaller who = { .key_hash = f->member_hash };
  TsSession *hb = ts_store_heartbeat_as (f->store, &who, s->id, LEASE, NOW + 10, &error);
  g_assert_no_error (error);
  g_assert_cmpint (hb->lease_expires_at, ==, NOW + 10 + LEASE);
  g_assert_cmpstr (who.found, ==, f->member);
  g_clear_pointer (&who.found, g_free);
  ts_session_free (hb);

  g_assert_true (ts_store_release_as (f->store, &who, s->id, NOW + 20, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (who.found, ==, f->member);
  g_clear_pointer (&who.found, g_free);
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions WHERE ended_at IS NULL"), ==, 0);

  /* A caller by user id is told nothing: it knew. */
  TsCaller by_user = { .user_id = f->member };
  g_assert_true (ts_store_release_as (f->store, &by_user, s->id, NOW + 21, &error));
  g_assert_no_error (error);
  g_assert_null (by_user.found);
  ts_session_free (s);
}

/* Unknown or revoked keys, on each request: AUTH, and nothing changed. */
static void
test_bad_keys (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  char *found = NULL;
  TsSession *s = activate_as (f, f->member_hash, "acme", "nonce-caller-2", &found, &error);
  g_assert_no_error (error);
  g_free (found);
  g_autofree char *unknown = ts_api_key_hash ("tsk_"
                                              "0123456789012345678901234567890123456789abc",
                                              &error);
  g_assert_no_error (error);
  const char *bad[] = { f->revoked_hash, unknown };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      for (guint with_org = 0; with_org < 2; with_org++)
        {
          g_assert_null (
              activate_as (f, bad[i], with_org ? "acme" : NULL, "nonce-caller-3", &found, &error));
          g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
          g_assert_cmpstr (error->message, ==, "unknown or revoked API key");
          g_assert_null (found);
          g_clear_error (&error);
        }
      TsCaller who = { .key_hash = bad[i] };
      g_assert_null (ts_store_heartbeat_as (f->store, &who, s->id, LEASE, NOW + 30, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_clear_error (&error);
      g_assert_false (ts_store_release_as (f->store, &who, s->id, NOW + 30, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_clear_error (&error);
      g_assert_null (who.found);
    }
  /* one session, still open, its lease as the activation left it */
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions"), ==, 1);
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM sessions WHERE ended_at IS NULL "
                                          "AND lease_expires_at = %" G_GINT64_FORMAT,
                                          NOW + LEASE);
  g_assert_cmpint (count (f, sql), ==, 1);
  ts_session_free (s);
}

/* A valid key that reaches nothing of its own: the error of that, not
 * AUTH, and another user's session is not touched. */
static void
test_stranger (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  char *found = NULL;
  TsSession *s = activate_as (f, f->member_hash, "acme", "nonce-caller-4", &found, &error);
  g_assert_no_error (error);
  g_free (found);

  g_assert_null (activate_as (f, f->stranger_hash, "acme", "nonce-caller-5", &found, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_assert_cmpstr (found, ==, f->stranger);
  g_clear_pointer (&found, g_free);
  g_clear_error (&error);
  g_assert_null (activate_as (f, f->stranger_hash, NULL, "nonce-caller-5", &found, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_assert_cmpstr (found, ==, f->stranger);
  g_clear_pointer (&found, g_free);
  g_clear_error (&error);

  TsCaller who = { .key_hash = f->stranger_hash };
  g_assert_null (ts_store_heartbeat_as (f->store, &who, s->id, LEASE, NOW + 30, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpstr (who.found, ==, f->stranger);
  g_clear_pointer (&who.found, g_free);
  g_assert_false (ts_store_release_as (f->store, &who, s->id, NOW + 30, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_clear_pointer (&who.found, g_free);
  g_assert_cmpint (count (f, "SELECT count(*) FROM sessions WHERE ended_at IS NULL"), ==, 1);
  ts_session_free (s);
}

/* A key revoked between two requests fails the second at once (no cache). */
static void
test_revoked_meanwhile (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autofree char *key_id = NULL;
  g_autofree char *key = ts_store_create_api_key (f->store, f->member, "t", NOW, &key_id, &error);
  g_assert_no_error (error);
  g_autofree char *hash = ts_api_key_hash (key, &error);
  g_assert_no_error (error);
  char *found = NULL;
  TsSession *s = activate_as (f, hash, "acme", "nonce-caller-6", &found, &error);
  g_assert_no_error (error);
  g_free (found);
  g_assert_true (ts_store_revoke_api_key (f->store, f->member, key_id, NOW + 1, &error));
  g_assert_no_error (error);
  TsCaller who = { .key_hash = hash };
  g_assert_null (ts_store_heartbeat_as (f->store, &who, s->id, LEASE, NOW + 2, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  g_assert_null (activate_as (f, hash, "acme", "nonce-caller-6", &found, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  ts_session_free (s);
}

/* Not a key at all: refused before any database access. */
static void
test_not_a_key (void)
{
  const char *refused[] = { "", "tsk_short", "Bearer x",
                            "tsk_"
                            "0123456789012345678901234567890123456789abcd" };
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      GError *error = NULL;
      g_assert_null (ts_api_key_hash (refused[i], &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_clear_error (&error);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, fn)                                                                              \
  g_test_add ("/store/caller/" name, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("valid-key", test_valid_key);
  ADD ("bad-keys", test_bad_keys);
  ADD ("stranger", test_stranger);
  ADD ("revoked-meanwhile", test_revoked_meanwhile);
#undef ADD
  g_test_add_func ("/store/caller/not-a-key", test_not_a_key);
  return g_test_run ();
}
