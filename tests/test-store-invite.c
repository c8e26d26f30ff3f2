/* Invitations and memberships across organizations (server/store-web.c,
 * store-identity.c and their PostgreSQL twins), on a real SQLite file or a
 * PostgreSQL database under tests/with-postgres.sh (tests/store-backend.h).
 *
 * The hostile peer is the owner of another organization: it may invite or
 * add any email, and it holds every invitation token it makes. It must
 * never get into, or change what is seen by, an account someone else
 * holds. Also the Argon2id slots under a sign-in flood. */
#include "store-fixture.h"

#include <string.h>

#define NOW ((gint64) 1700000000)
#define SUB_END (NOW + 365 * 86400)
#define LEASE 60
#define OWNER_PW "acme owner passphrase"
#define EVIL_PW "chosen by the attacker"

typedef struct
{
  char *dir;
  char *path;
  TsStore *store;
  char *victim; /* owner of acme, with a web password */
  char *boss;   /* owner of beta: the attacker */
  TsPool *acme_pool, *beta_pool;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  f->store = test_store_fresh (&f->dir, &f->path);
  f->victim = test_store_org (f->store, "acme", "Acme", "owner@acme.test", NOW);
  g_assert_true (ts_store_web_set_password (f->store, f->victim, OWNER_PW, NOW, &error));
  g_assert_no_error (error);
  f->boss = test_store_org (f->store, "beta", "Beta", "boss@beta.test", NOW);
  /* Both sell KRE: a user in both orgs must name one to activate. */
  f->acme_pool = test_store_pool (f->store, "acme", "KRE", "floating", "annual", 50, SUB_END, NOW);
  f->beta_pool = test_store_pool (f->store, "beta", "KRE", "floating", "annual", 50, SUB_END, NOW);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  test_store_fresh_free (f->store, f->path, f->dir);
  ts_pool_free (f->acme_pool);
  ts_pool_free (f->beta_pool);
  g_free (f->victim);
  g_free (f->boss);
}

static void
assert_message (const GError *error, const char *fragment)
{
  g_assert_nonnull (error);
  if (strstr (error->message, fragment) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", error->message, fragment);
}

static guint
audit_count (Fixture *f, const char *org)
{
  GError *error = NULL;
  GPtrArray *rows = ts_store_list_audit (f->store, NULL, org, 0, &error);
  g_assert_no_error (error);
  guint n = rows->len;
  g_ptr_array_unref (rows);
  return n;
}

/* The audit row of @org with @action on @target, its detail (or NULL). */
static char *
audit_detail (Fixture *f, const char *org, const char *action, const char *target)
{
  GError *error = NULL;
  GPtrArray *rows = ts_store_list_audit (f->store, NULL, org, 0, &error);
  g_assert_no_error (error);
  char *detail = NULL;
  for (guint i = 0; i < rows->len && detail == NULL; i++)
    {
      TsAudit *a = rows->pdata[i];
      if (g_str_equal (a->action, action) && g_strcmp0 (a->target, target) == 0)
        detail = g_strdup (a->detail != NULL ? a->detail : "");
    }
  g_ptr_array_unref (rows);
  return detail;
}

static guint
org_count (Fixture *f, const char *user)
{
  GError *error = NULL;
  GPtrArray *orgs = ts_store_list_user_orgs (f->store, user, &error);
  g_assert_no_error (error);
  guint n = orgs->len;
  g_ptr_array_unref (orgs);
  return n;
}

static gboolean
login (Fixture *f, const char *email, const char *pw)
{
  GError *error = NULL;
  TsWebSession *s = NULL;
  gint64 retry = 0;
  char *token = ts_store_web_login (f->store, email, pw, "10.1.1.1", NOW, &s, &retry, &error);
  gboolean ok = token != NULL;
  g_assert_true (ok == (error == NULL));
  g_clear_error (&error);
  ts_web_session_free (s);
  g_free (token);
  return ok;
}

/* An activation without an org: the user's org selection at work. */
static void
assert_activates_in (Fixture *f, const char *user, const char *nonce, const char *org)
{
  GError *error = NULL;
  TsSession *s = ts_store_activate (f->store, user, NULL, "KRE", "M1", nonce, LEASE, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (s->org_id, ==, org);
  ts_session_free (s);
}

static char *
invite (Fixture *f, const char *actor, const char *org, const char *email, TsRole role, char **user)
{
  GError *error = NULL;
  char *token = ts_store_web_invite (f->store, actor, org, email, role, NOW, user, &error);
  g_assert_no_error (error);
  g_assert_nonnull (token);
  return token;
}

/* The attack of issue #14: beta's owner invites acme's owner and accepts
 * with a password of its own choosing. */
static void
test_takeover_refused (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  guint acme_audit = audit_count (f, "acme");
  g_autofree char *user = NULL;
  g_autofree char *token = invite (f, f->boss, "beta", "OWNER@acme.test", TS_ROLE_OWNER, &user);
  g_assert_cmpstr (user, ==, f->victim);

  /* Pending: nothing acme or its owner sees has changed. */
  g_assert_cmpuint (org_count (f, f->victim), ==, 1);
  TsRole role;
  g_assert_false (ts_store_get_role (f->store, "beta", f->victim, &role, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  assert_activates_in (f, f->victim, "n-pending", "acme");
  g_assert_cmpuint (audit_count (f, "acme"), ==, acme_audit);

  /* The attacker's password, a short one, an empty one: refused, and the
   * victim's password is what it was. */
  const char *const guesses[] = { EVIL_PW, "short", "" };
  for (guint i = 0; i < G_N_ELEMENTS (guesses); i++)
    {
      TsWebSession *s = NULL;
      g_assert_null (ts_store_web_accept_invite (f->store, token, guesses[i], NOW, &s, &error));
      g_assert_null (s);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      assert_message (error, "current password");
      g_clear_error (&error);
    }
  g_assert_false (login (f, "owner@acme.test", EVIL_PW));
  g_assert_true (login (f, "owner@acme.test", OWNER_PW));
  g_assert_cmpuint (org_count (f, f->victim), ==, 1);
  assert_activates_in (f, f->victim, "n-refused", "acme");
  g_assert_cmpuint (audit_count (f, "acme"), ==, acme_audit);
  g_assert_cmpint (test_store_count (f->path, "SELECT count(*) FROM audit WHERE action = "
                                              "'password.set' AND at > 1700000000"),
                   ==, 0);
}

/* An invitation to an existing account, accepted with its own password:
 * it joins, keeps its password, and both orgs' logs say so. */
static void
test_existing_account_consents (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autofree char *token = invite (f, f->boss, "beta", "owner@acme.test", TS_ROLE_MEMBER, NULL);
  TsWebSession *s = NULL;
  g_autofree char *session
      = ts_store_web_accept_invite (f->store, token, OWNER_PW, NOW + 10, &s, &error);
  g_assert_no_error (error);
  g_assert_nonnull (session);
  g_assert_cmpstr (s->user_id, ==, f->victim);
  ts_web_session_free (s);
  TsRole role;
  g_assert_true (ts_store_get_role (f->store, "beta", f->victim, &role, &error));
  g_assert_cmpint (role, ==, TS_ROLE_MEMBER);
  g_assert_true (ts_store_get_role (f->store, "acme", f->victim, &role, &error));
  g_assert_cmpint (role, ==, TS_ROLE_OWNER);
  g_assert_true (login (f, "owner@acme.test", OWNER_PW));
  /* Now in two orgs that sell KRE: the user chose this. */
  g_assert_null (
      ts_store_activate (f->store, f->victim, NULL, "KRE", "M1", "nonce-two", LEASE, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_ORG_REQUIRED);
  g_clear_error (&error);

  g_autofree char *in_beta = audit_detail (f, "beta", "member.join", f->victim);
  g_autofree char *in_acme = audit_detail (f, "acme", "member.join", f->victim);
  g_assert_cmpstr (in_beta, ==, "member");
  g_assert_cmpstr (in_acme, ==, "in beta: member");
  /* Only the fixture's password.set: accepting set none. */
  g_assert_cmpint (
      test_store_count (f->path, "SELECT count(*) FROM audit WHERE action = 'password.set'"), ==,
      1);

  /* Once only, even with the right password. */
  g_assert_null (ts_store_web_accept_invite (f->store, token, OWNER_PW, NOW + 20, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);

  /* A later password change is recorded in both orgs. */
  g_assert_true (ts_store_web_change_password (f->store, f->victim, OWNER_PW, "a newer passphrase",
                                               NULL, NOW + 30, &error));
  g_assert_no_error (error);
  g_autofree char *pw_beta = audit_detail (f, "beta", "password.set", f->victim);
  g_assert_nonnull (pw_beta);
  g_assert_cmpint (test_store_count (f->path,
                                     "SELECT count(*) FROM audit WHERE action = 'password.set'"
                                     " AND org_id IN ('acme', 'beta') AND at = 1700000030"),
                   ==, 2);
}

/* Guessing the held account's password through an invitation counts as
 * failed sign-ins of that account. */
static void
test_accept_rate_limited (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autofree char *token = invite (f, f->boss, "beta", "owner@acme.test", TS_ROLE_ADMIN, NULL);
  TsWebSession *s = NULL;
  for (guint i = 0; i < TS_WEB_FAIL_MAX_ACCOUNT; i++)
    {
      g_assert_null (ts_store_web_accept_invite (f->store, token, EVIL_PW, NOW, &s, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_clear_error (&error);
    }
  g_assert_null (ts_store_web_accept_invite (f->store, token, OWNER_PW, NOW, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  assert_message (error, "too many failed sign-ins");
  g_clear_error (&error);
  g_assert_cmpuint (org_count (f, f->victim), ==, 1);
}

/* A member-add by another org's admin is no way around the consent. */
static void
test_member_add_needs_consent (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  guint acme_audit = audit_count (f, "acme");
  g_assert_null (ts_store_set_member (f->store, f->boss, "beta", "owner@acme.test", TS_ROLE_MEMBER,
                                      NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  assert_message (error, "accepting an invitation");
  assert_message (error, "/orgs/beta/invites");
  g_clear_error (&error);
  g_assert_cmpuint (org_count (f, f->victim), ==, 1);
  assert_activates_in (f, f->victim, "nonce-add", "acme");
  g_assert_cmpuint (audit_count (f, "acme"), ==, acme_audit);

  /* Held by an API key alone (no password, no other org): refused too. */
  g_autofree char *ci
      = ts_store_set_member (f->store, NULL, "acme", "ci@acme.test", TS_ROLE_MEMBER, NOW, &error);
  g_assert_no_error (error);
  g_autofree char *key_id = NULL;
  g_autofree char *key = ts_store_create_api_key (f->store, ci, "ci", NOW, &key_id, &error);
  g_assert_no_error (error);
  g_assert_true (ts_store_remove_member (f->store, NULL, "acme", ci, NOW, &error));
  g_assert_null (
      ts_store_set_member (f->store, f->boss, "beta", "ci@acme.test", TS_ROLE_MEMBER, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);

  /* A new email is a new account: added at once. A role change of a
   * member is the org's own business. tessera-admin (trusted) may add. */
  g_autofree char *fresh = ts_store_set_member (f->store, f->boss, "beta", "new@beta.test",
                                                TS_ROLE_MEMBER, NOW, &error);
  g_assert_no_error (error);
  g_free (
      ts_store_set_member (f->store, f->boss, "beta", "new@beta.test", TS_ROLE_ADMIN, NOW, &error));
  g_assert_no_error (error);
  g_free (
      ts_store_set_member (f->store, NULL, "beta", "owner@acme.test", TS_ROLE_MEMBER, NOW, &error));
  g_assert_no_error (error);
  g_autofree char *in_acme = audit_detail (f, "acme", "member.set", f->victim);
  g_assert_cmpstr (in_acme, ==, "in beta: member");
}

/* A new email: the invitation makes the account, which sets its password
 * on acceptance; a membership is only made then. */
static void
test_new_account (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autofree char *user = NULL;
  g_autofree char *token = invite (f, f->boss, "beta", "new@beta.test", TS_ROLE_ADMIN, &user);
  g_assert_cmpuint (org_count (f, user), ==, 0);
  g_assert_null (
      ts_store_activate (f->store, user, NULL, "KRE", "M1", "nonce-new", LEASE, NOW, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  TsWebSession *s = NULL;
  g_assert_null (ts_store_web_accept_invite (f->store, token, "short", NOW, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_autofree char *session
      = ts_store_web_accept_invite (f->store, token, "the new passphrase", NOW, &s, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (s->user_id, ==, user);
  ts_web_session_free (s);
  TsRole role;
  g_assert_true (ts_store_get_role (f->store, "beta", user, &role, &error));
  g_assert_cmpint (role, ==, TS_ROLE_ADMIN);
  g_assert_true (login (f, "new@beta.test", "the new passphrase"));
  g_autofree char *pw = audit_detail (f, "beta", "password.set", user);
  g_assert_cmpstr (pw, ==, "invitation");

  /* Held now: another org's invitation needs that password. */
  g_autofree char *again = invite (f, f->victim, "acme", "new@beta.test", TS_ROLE_MEMBER, NULL);
  g_assert_null (ts_store_web_accept_invite (f->store, again, EVIL_PW, NOW, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  g_assert_true (login (f, "new@beta.test", "the new passphrase"));
}

/* Two owners invite the same new email; whoever accepts first sets the
 * password, and the other invitation then needs it. A member beta added
 * itself (no password, no key, no other org) still sets its password
 * through beta's invitation. */
static void
test_race_and_own_member (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_autofree char *a = invite (f, f->victim, "acme", "both@x.test", TS_ROLE_MEMBER, NULL);
  g_autofree char *b = invite (f, f->boss, "beta", "both@x.test", TS_ROLE_MEMBER, NULL);
  TsWebSession *s = NULL;
  g_autofree char *t1
      = ts_store_web_accept_invite (f->store, a, "first passphrase", NOW, &s, &error);
  g_assert_no_error (error);
  ts_web_session_free (s);
  g_assert_null (ts_store_web_accept_invite (f->store, b, "second passphrase", NOW, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  g_autofree char *t2
      = ts_store_web_accept_invite (f->store, b, "first passphrase", NOW, &s, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (org_count (f, s->user_id), ==, 2);
  ts_web_session_free (s);

  g_autofree char *own = ts_store_set_member (f->store, f->boss, "beta", "own@beta.test",
                                              TS_ROLE_MEMBER, NOW, &error);
  g_assert_no_error (error);
  g_autofree char *c = invite (f, f->boss, "beta", "own@beta.test", TS_ROLE_ADMIN, NULL);
  g_autofree char *t3 = ts_store_web_accept_invite (f->store, c, "own passphrase", NOW, &s, &error);
  g_assert_no_error (error);
  ts_web_session_free (s);
  TsRole role;
  g_assert_true (ts_store_get_role (f->store, "beta", own, &role, &error));
  g_assert_cmpint (role, ==, TS_ROLE_ADMIN);
  /* An invitation never lowers a role. */
  g_autofree char *d = invite (f, f->boss, "beta", "own@beta.test", TS_ROLE_MEMBER, NULL);
  g_autofree char *t4 = ts_store_web_accept_invite (f->store, d, "own passphrase", NOW, &s, &error);
  g_assert_no_error (error);
  ts_web_session_free (s);
  g_assert_true (ts_store_get_role (f->store, "beta", own, &role, &error));
  g_assert_cmpint (role, ==, TS_ROLE_ADMIN);
}

/* ---- sign-in flood ---- */

typedef struct
{
  Fixture *f;
  guint index;
  guint refused_busy, refused_auth, other;
} Guesser;

static gpointer
guess_thread (gpointer data)
{
  Guesser *g = data;
  /* Each its own address and account, as a distributed flood. */
  g_autofree char *address = g_strdup_printf ("10.9.%u.1", g->index);
  g_autofree char *email = g_strdup_printf ("user%u@flood.test", g->index);
  for (guint i = 0; i < 5; i++)
    {
      GError *error = NULL;
      TsWebSession *s = NULL;
      gint64 retry = 0;
      char *token = ts_store_web_login (g->f->store, email, "wrong guess here", address, NOW, &s,
                                        &retry, &error);
      g_assert_null (token);
      if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE) && retry == 1)
        g->refused_busy++;
      else if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_AUTH))
        g->refused_auth++;
      else
        g->other++;
      g_clear_error (&error);
    }
  return NULL;
}

typedef struct
{
  Fixture *f;
  volatile gint *done;
  guint ok, failed;
  char *user;
} Activator;

static gpointer
activate_thread (gpointer data)
{
  Activator *a = data;
  for (guint i = 0; !g_atomic_int_get (a->done) || i < 5; i++)
    {
      GError *error = NULL;
      g_autofree char *nonce = g_strdup_printf ("flood-nonce-%u", i);
      gint64 t0 = g_get_monotonic_time ();
      TsSession *s = ts_store_activate (a->f->store, a->user, "acme", "KRE", "M-flood", nonce,
                                        LEASE, NOW, &error);
      GError *release_error = NULL;
      if (s != NULL && ts_store_release (a->f->store, a->user, s->id, NOW, &release_error))
        a->ok++;
      else
        {
          g_test_message ("activation %u failed: %s", i,
                          (error != NULL ? error : release_error)->message);
          a->failed++;
        }
      g_clear_error (&release_error);
      if (i % 500 == 0)
        g_test_message ("activation %u during the flood: %" G_GINT64_FORMAT " us", i,
                        g_get_monotonic_time () - t0);
      g_clear_error (&error);
      ts_session_free (s);
    }
  return NULL;
}

/* 48 clients × 5 wrong sign-ins while activations run: never more than
 * TS_WEB_HASH_SLOTS Argon2id hashes at once, the excess refused as busy
 * (not counted as a guess), and every activation succeeds. */
static void
test_sign_in_flood (Fixture *f, gconstpointer data)
{
  (void) data;
  enum
  {
    N = 48
  };
  ts_store_web_hash_stats (NULL, NULL, TRUE);
  volatile gint done = 0;
  Activator act = { f, &done, 0, 0, f->victim };
  GThread *activator = g_thread_new ("activate", activate_thread, &act);
  Guesser guessers[N];
  GThread *threads[N];
  for (guint i = 0; i < N; i++)
    {
      guessers[i] = (Guesser){ f, i, 0, 0, 0 };
      threads[i] = g_thread_new ("guess", guess_thread, &guessers[i]);
    }
  guint busy = 0, auth = 0;
  for (guint i = 0; i < N; i++)
    {
      g_thread_join (threads[i]);
      g_assert_cmpuint (guessers[i].other, ==, 0);
      busy += guessers[i].refused_busy;
      auth += guessers[i].refused_auth;
    }
  g_atomic_int_set (&done, 1);
  g_thread_join (activator);
  guint peak = 0, refused = 0;
  ts_store_web_hash_stats (&peak, &refused, FALSE);
  g_test_message ("flood: %u checked, %u refused as busy, peak %u hashes at once; %u activations",
                  auth, busy, peak, act.ok);
  g_assert_cmpuint (peak, >=, 1);
  g_assert_cmpuint (peak, <=, TS_WEB_HASH_SLOTS);
  g_assert_cmpuint (busy, ==, refused);
  g_assert_cmpuint (auth + busy, ==, N * 5);
  g_assert_cmpuint (act.failed, ==, 0);
  g_assert_cmpuint (act.ok, >=, 5);
  /* A busy refusal is no guess: only the checked attempts were counted. */
  g_assert_cmpint (test_store_count (f->path,
                                     "SELECT coalesce (sum (count), 0)"
                                     " FROM web_login_failures WHERE subject LIKE 'account:%'"),
                   ==, auth);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func)                                                                            \
  g_test_add ("/store-invite/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("takeover-refused", test_takeover_refused);
  ADD ("existing-account-consents", test_existing_account_consents);
  ADD ("accept-rate-limited", test_accept_rate_limited);
  ADD ("member-add-needs-consent", test_member_add_needs_consent);
  ADD ("new-account", test_new_account);
  ADD ("race-and-own-member", test_race_and_own_member);
  ADD ("sign-in-flood", test_sign_in_flood);
#undef ADD
  return g_test_run ();
}
