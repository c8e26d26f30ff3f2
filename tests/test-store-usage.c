/* Usage history (server/store-usage.c, server/usage.c): counted in memory
 * per instance, written in batches; peaks and distinct users and machines
 * read back from the sessions; two instances on one database add up;
 * history past its retention is pruned; only owners and admins read it.
 * On SQLite, or PostgreSQL under tests/with-postgres.sh (store-backend.h). */
#include "store-fixture.h"
#include "usage.h"

#define HOUR ((gint64) 3600)
/* The start of an hour, so every step below stays inside it. */
#define H0 ((gint64) 1700000000 / HOUR * HOUR)
#define SUB_END (H0 + 365 * (gint64) 86400)
#define LEASE 7200

typedef struct
{
  char *dir;
  char *path;
  TsStore *store;
  char *owner;
  char *alice;
  char *bob;
  char *pool; /* acme's floating KRE, quota 2 */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  f->store = test_store_fresh (&f->dir, &f->path);
  f->owner = test_store_org (f->store, "acme", "Acme", "owner@acme.test", H0);
  f->alice = test_store_member (f->store, f->owner, "acme", "alice@acme.test", TS_ROLE_MEMBER, H0);
  f->bob = test_store_member (f->store, f->owner, "acme", "bob@acme.test", TS_ROLE_MEMBER, H0);
  f->pool = test_store_pool_id (f->store, "acme", "KRE", "floating", "annual", 2, SUB_END, H0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  test_store_fresh_free (f->store, f->path, f->dir);
  g_free (f->owner);
  g_free (f->alice);
  g_free (f->bob);
  g_free (f->pool);
}

/* An activation as the HTTP layer makes it: counted in @u either way.
 * Returns the session id, or NULL with the refusal's code in *code. */
static char *
activate (Fixture *f, TsUsage *u, const char *user, const char *machine, const char *nonce,
          gint64 now, int *code)
{
  GError *error = NULL;
  TsSession *s
      = ts_store_activate (f->store, user, "acme", "KRE", machine, nonce, LEASE, now, &error);
  if (s == NULL)
    {
      *code = error->code;
      ts_usage_refused (u, user, "acme", "KRE", error, now);
      g_error_free (error);
      return NULL;
    }
  ts_usage_activated (u, s->pool_id, now);
  char *id = g_strdup (s->id);
  ts_session_free (s);
  return id;
}

static GPtrArray *
list (Fixture *f, gint64 since, gint64 until)
{
  GError *error = NULL;
  GPtrArray *hours
      = ts_store_usage_list (f->store, f->owner, "acme", f->pool, since, until, &error);
  g_assert_no_error (error);
  return hours;
}

static void
assert_hour (const TsUsageHour *h, gint64 hour, gint64 peak, gint64 activations, gint64 quota,
             gint64 machines, gint64 expired, gint64 users, gint64 machine_ids)
{
  g_assert_cmpint (h->hour, ==, hour);
  g_assert_cmpint (h->peak, ==, peak);
  g_assert_cmpint (h->activations, ==, activations);
  g_assert_cmpint (h->quota, ==, 2);
  g_assert_cmpint (h->refused[TS_USAGE_REFUSED_QUOTA], ==, quota);
  g_assert_cmpint (h->refused[TS_USAGE_REFUSED_MACHINES], ==, machines);
  g_assert_cmpint (h->refused[TS_USAGE_REFUSED_EXPIRED], ==, expired);
  g_assert_cmpint (h->users, ==, users);
  g_assert_cmpint (h->machines, ==, machine_ids);
}

/* One instance through two hours: both seats taken, refusals of each
 * kind, a seat given back and taken again, a session across the hour. */
static void
test_history (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  TsUsage *u = ts_usage_new (f->store, 400, H0);
  int code = 0;
  g_autofree char *a = activate (f, u, f->alice, "M-A", "nonce-0001", H0 + 10, &code);
  g_autofree char *b = activate (f, u, f->bob, "M-B", "nonce-0002", H0 + 20, &code);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  /* All seats in use, then a third machine the pool has no room for. */
  g_assert_null (activate (f, u, f->alice, "M-A", "nonce-0003", H0 + 30, &code));
  g_assert_cmpint (code, ==, TESSERA_ERROR_QUOTA_EXCEEDED);
  g_assert_null (activate (f, u, f->bob, "M-C", "nonce-0004", H0 + 40, &code));
  g_assert_cmpint (code, ==, TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED);
  g_assert_true (ts_store_release (f->store, f->alice, a, H0 + 50, &error));
  g_assert_no_error (error);
  g_autofree char *c = activate (f, u, f->alice, "M-A", "nonce-0005", H0 + 60, &code);
  g_assert_nonnull (c);
  g_assert_true (ts_usage_flush (u, H0 + 100, &error));
  g_assert_no_error (error);

  g_autoptr (GPtrArray) first = list (f, H0, H0 + HOUR);
  g_assert_cmpuint (first->len, ==, 1);
  assert_hour (first->pdata[0], H0, 2, 3, 1, 1, 0, 2, 2);

  /* Nothing new in memory: a second flush changes no count, and the users
   * it sees again are not counted twice. */
  g_assert_true (ts_usage_flush (u, H0 + 200, &error));
  g_autoptr (GPtrArray) again = list (f, H0, H0 + HOUR);
  assert_hour (again->pdata[0], H0, 2, 3, 1, 1, 0, 2, 2);

  /* Into the next hour: bob's session goes on, alice gives hers back. */
  g_assert_true (ts_store_release (f->store, f->alice, c, H0 + HOUR + 10, &error));
  g_assert_no_error (error);
  ts_usage_free (u, H0 + HOUR + 100, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) both = list (f, H0, H0 + 2 * HOUR);
  g_assert_cmpuint (both->len, ==, 2);
  assert_hour (both->pdata[0], H0, 2, 3, 1, 1, 0, 2, 2);
  assert_hour (both->pdata[1], H0 + HOUR, 2, 0, 0, 0, 0, 2, 2);
  /* The period is cut to what was asked. */
  g_autoptr (GPtrArray) second = list (f, H0 + HOUR, H0 + 2 * HOUR);
  g_assert_cmpuint (second->len, ==, 1);
  g_autoptr (GPtrArray) none = list (f, H0 + 2 * HOUR, H0 + 3 * HOUR);
  g_assert_cmpuint (none->len, ==, 0);
}

/* Two server instances on one database, each counting its own requests:
 * the counts add up, the peak and the distinct users are not doubled. */
static void
test_two_instances (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  TsStore *other = test_store_open (f->path);
  TsUsage *u1 = ts_usage_new (f->store, 400, H0);
  TsUsage *u2 = ts_usage_new (other, 400, H0);
  int code = 0;
  g_autofree char *a = activate (f, u1, f->alice, "M-A", "nonce-0001", H0 + 10, &code);
  g_assert_nonnull (a);
  TsSession *s = ts_store_activate (other, f->bob, "acme", "KRE", "M-B", "nonce-0002", LEASE,
                                    H0 + 20, &error);
  g_assert_no_error (error);
  ts_usage_activated (u2, s->pool_id, H0 + 20);
  ts_session_free (s);
  g_assert_null (ts_store_activate (other, f->bob, "acme", "KRE", "M-B", "nonce-0003", LEASE,
                                    H0 + 30, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
  ts_usage_refused (u2, f->bob, "acme", "KRE", error, H0 + 30);
  g_clear_error (&error);
  g_assert_null (activate (f, u1, f->alice, "M-A", "nonce-0004", H0 + 40, &code));

  g_assert_true (ts_usage_flush (u1, H0 + 100, &error));
  g_assert_true (ts_usage_flush (u2, H0 + 110, &error));
  g_assert_no_error (error);
  g_autoptr (GPtrArray) hours = list (f, H0, H0 + HOUR);
  g_assert_cmpuint (hours->len, ==, 1);
  assert_hour (hours->pdata[0], H0, 2, 2, 2, 0, 0, 2, 2);
  ts_usage_free (u1, H0 + 120, &error);
  ts_usage_free (u2, H0 + 130, &error);
  g_assert_no_error (error);
  ts_store_close (other);
}

/* Hours older than the retention go once the instance prunes (on its first
 * flush, then once an hour); newer ones stay. */
static void
test_retention (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  gint64 old = H0 - 401 * (gint64) 86400, kept = H0 - 399 * (gint64) 86400;
  g_autoptr (GPtrArray) counts
      = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_usage_count_free);
  gint64 hours[] = { old, kept };
  for (guint i = 0; i < G_N_ELEMENTS (hours); i++)
    {
      TsUsageCount *c = g_new0 (TsUsageCount, 1);
      c->pool_id = g_strdup (f->pool);
      c->hour = hours[i];
      c->activations = 5;
      g_ptr_array_add (counts, c);
    }
  g_assert_true (ts_store_usage_add (f->store, counts, H0, H0, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (GPtrArray) before = list (f, old, H0);
  g_assert_cmpuint (before->len, ==, 2);

  TsUsage *u = ts_usage_new (f->store, 400, H0);
  g_assert_true (ts_usage_flush (u, H0, &error));
  g_assert_no_error (error);
  g_autoptr (GPtrArray) after = list (f, old, H0);
  g_assert_cmpuint (after->len, ==, 1);
  g_assert_cmpint (((TsUsageHour *) after->pdata[0])->hour, ==, kept);
  ts_usage_free (u, H0, &error);
  g_assert_no_error (error);
}

/* Owners and admins only; a pool of another organization is not found; a
 * period that ends before it starts is refused. */
static void
test_access (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_assert_null (ts_store_usage_list (f->store, f->alice, "acme", f->pool, H0, H0 + HOUR, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  g_autofree char *other
      = ts_store_bootstrap_org (f->store, "globex", "Globex", "owner@globex.test", H0, &error);
  g_assert_no_error (error);
  g_assert_null (ts_store_usage_list (f->store, other, "acme", f->pool, H0, H0 + HOUR, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  g_assert_null (ts_store_usage_list (f->store, other, "globex", f->pool, H0, H0 + HOUR, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (ts_store_usage_list (f->store, f->owner, "acme", f->pool, H0, H0, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func)                                                                            \
  g_test_add ("/store-usage/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("history", test_history);
  ADD ("two-instances", test_two_instances);
  ADD ("retention", test_retention);
  ADD ("access", test_access);
#undef ADD
  return g_test_run ();
}
