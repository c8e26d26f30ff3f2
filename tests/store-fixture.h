/* The set-up the store tests (test-store*.c) share: a store on the test's
 * backend (tests/store-backend.h) in a temporary directory of its own, and
 * the organizations, members and pools seeded into it. Each helper asserts
 * success, so a fixture reads as the list of what it holds. */
#pragma once

#include "store-backend.h"
#include "store.h"
#include "test-util.h"

/* The store at @location, open. */
static inline TsStore *
test_store_open (const char *location)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (location, &error);
  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

/* A new temporary directory (*@dir) and an empty store on the test's
 * backend (*@location), open. Undone by test_store_fresh_free(). */
static inline TsStore *
test_store_fresh (char **dir, char **location)
{
  *dir = test_tmpdir_new ();
  *location = test_store_location (*dir);
  return test_store_open (*location);
}

/* Closes @store (NULL: already closed), then drops its database and @dir. */
static inline void
test_store_fresh_free (TsStore *store, char *location, char *dir)
{
  if (store != NULL)
    ts_store_close (store);
  test_store_location_free (location);
  test_tmpdir_free (dir);
}

/* Organization @org named @name; returns its owner's user id. */
static inline char *
test_store_org (TsStore *store, const char *org, const char *name, const char *owner_email,
                gint64 now)
{
  GError *error = NULL;
  char *owner = ts_store_bootstrap_org (store, org, name, owner_email, now, &error);
  g_assert_no_error (error);
  return owner;
}

/* @email in @org with @role, added by @actor (NULL: tessera-admin);
 * returns the user id. */
static inline char *
test_store_member (TsStore *store, const char *actor, const char *org, const char *email,
                   TsRole role, gint64 now)
{
  GError *error = NULL;
  char *user = ts_store_set_member (store, actor, org, email, role, now, &error);
  g_assert_no_error (error);
  return user;
}

/* A pool of @org, made by tessera-admin. */
static inline TsPool *
test_store_pool (TsStore *store, const char *org, const char *product, const char *kind,
                 const char *billing, gint64 quota, gint64 subscription_end, gint64 now)
{
  GError *error = NULL;
  TsPool *pool = ts_store_create_pool (store, NULL, org, product, kind, billing, quota,
                                       subscription_end, now, &error);
  g_assert_no_error (error);
  g_assert_nonnull (pool);
  return pool;
}

/* The id of a new pool, as test_store_pool() makes it. */
static inline char *
test_store_pool_id (TsStore *store, const char *org, const char *product, const char *kind,
                    const char *billing, gint64 quota, gint64 subscription_end, gint64 now)
{
  g_autoptr (TsPool) pool
      = test_store_pool (store, org, product, kind, billing, quota, subscription_end, now);
  return g_strdup (pool->id);
}
