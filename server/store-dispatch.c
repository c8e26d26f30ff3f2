/* tessera-store: the ts_store_* interface of store.h, forwarding each call to
 * the backend chosen by ts_store_open(): PostgreSQL (store-pg*.c) for a
 * postgresql:// or postgres:// URL (a libpq connection URI), the embedded
 * SQLite store (store-sqlite.c and friends, compiled as ts_sqlite_* through
 * store-sqlite-names.h) for anything else, a file path. Callers (the HTTP
 * layer, tessera-admin, the tests) see one opaque TsStore either way. */
#include "db.h"

#define TS_STORE_NO_SQLITE_RENAME
#include "store-pg.h"
#include "store-sqlite-names.h"

static gboolean
ts_store_is_postgresql_url (const char *location)
{
  return g_str_has_prefix (location, "postgresql://") || g_str_has_prefix (location, "postgres://");
}

TsStore *
ts_store_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  TsStore *store = g_new0 (TsStore, 1);
  if (ts_store_is_postgresql_url (path))
    {
      store->kind = TS_STORE_POSTGRESQL;
      store->pg = ts_pg_open (path, error);
    }
  else
    {
      store->kind = TS_STORE_SQLITE;
      store->sqlite = ts_sqlite_open (path, error);
    }
  if (store->kind == TS_STORE_POSTGRESQL ? store->pg == NULL : store->sqlite == NULL)
    g_clear_pointer (&store, g_free);
  return store;
}

void
ts_store_close (TsStore *store)
{
  if (store == NULL)
    return;
  if (store->kind == TS_STORE_POSTGRESQL)
    ts_pg_close (store->pg);
  else
    ts_sqlite_close (store->sqlite);
  g_free (store);
}

/* ---- forwarders: one per function of store.h ---- */

char *
ts_store_bootstrap_org (TsStore *store, const char *org_id, const char *org_name,
                        const char *owner_email, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_bootstrap_org (store->pg, org_id, org_name, owner_email, now, error);
  return ts_sqlite_bootstrap_org (store->sqlite, org_id, org_name, owner_email, now, error);
}

char *
ts_store_set_member (TsStore *store, const char *actor, const char *org_id, const char *email,
                     TsRole role, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_set_member (store->pg, actor, org_id, email, role, now, error);
  return ts_sqlite_set_member (store->sqlite, actor, org_id, email, role, now, error);
}

gboolean
ts_store_remove_member (TsStore *store, const char *actor, const char *org_id, const char *user_id,
                        gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_remove_member (store->pg, actor, org_id, user_id, now, error);
  return ts_sqlite_remove_member (store->sqlite, actor, org_id, user_id, now, error);
}

GPtrArray *
ts_store_list_members (TsStore *store, const char *actor, const char *org_id, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_members (store->pg, actor, org_id, error);
  return ts_sqlite_list_members (store->sqlite, actor, org_id, error);
}

GPtrArray *
ts_store_list_user_orgs (TsStore *store, const char *user_id, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_user_orgs (store->pg, user_id, error);
  return ts_sqlite_list_user_orgs (store->sqlite, user_id, error);
}

gboolean
ts_store_get_role (TsStore *store, const char *org_id, const char *user_id, TsRole *role,
                   GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_get_role (store->pg, org_id, user_id, role, error);
  return ts_sqlite_get_role (store->sqlite, org_id, user_id, role, error);
}

char *
ts_store_get_user_email (TsStore *store, const char *user_id, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_get_user_email (store->pg, user_id, error);
  return ts_sqlite_get_user_email (store->sqlite, user_id, error);
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

char *
ts_store_create_api_key (TsStore *store, const char *user_id, const char *label, gint64 now,
                         char **key_id, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_create_api_key (store->pg, user_id, label, now, key_id, error);
  return ts_sqlite_create_api_key (store->sqlite, user_id, label, now, key_id, error);
}

gboolean
ts_store_revoke_api_key (TsStore *store, const char *user_id, const char *key_id, gint64 now,
                         GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_revoke_api_key (store->pg, user_id, key_id, now, error);
  return ts_sqlite_revoke_api_key (store->sqlite, user_id, key_id, now, error);
}

GPtrArray *
ts_store_list_api_keys (TsStore *store, const char *user_id, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_api_keys (store->pg, user_id, error);
  return ts_sqlite_list_api_keys (store->sqlite, user_id, error);
}

char *
ts_store_authenticate (TsStore *store, const char *api_key, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_authenticate (store->pg, api_key, error);
  return ts_sqlite_authenticate (store->sqlite, api_key, error);
}

TsPool *
ts_store_create_pool (TsStore *store, const char *actor, const char *org_id, const char *product,
                      const char *kind, const char *billing, gint64 quota, gint64 subscription_end,
                      gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_create_pool (store->pg, actor, org_id, product, kind, billing, quota,
                              subscription_end, now, error);
  return ts_sqlite_create_pool (store->sqlite, actor, org_id, product, kind, billing, quota,
                                subscription_end, now, error);
}

TsPool *
ts_store_update_pool (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                      gint64 quota, gint64 subscription_end, gint64 now, GError **error)
{
  return ts_store_update_pool_policy (store, actor, org_id, pool_id, quota, subscription_end, NULL,
                                      now, error);
}

TsPool *
ts_store_update_pool_policy (TsStore *store, const char *actor, const char *org_id,
                             const char *pool_id, gint64 quota, gint64 subscription_end,
                             const char *match_policy, gint64 now, GError **error)
{
  if (match_policy != NULL && !tessera_match_policy_check (match_policy, error))
    return NULL;
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_update_pool (store->pg, actor, org_id, pool_id, quota, subscription_end,
                              match_policy, now, error);
  return ts_sqlite_update_pool (store->sqlite, actor, org_id, pool_id, quota, subscription_end,
                                match_policy, now, error);
}

GPtrArray *
ts_store_list_pools (TsStore *store, const char *actor, const char *org_id, gint64 now,
                     GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_pools (store->pg, actor, org_id, now, error);
  return ts_sqlite_list_pools (store->sqlite, actor, org_id, now, error);
}

gboolean
ts_store_grant (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                const char *user_id, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_grant (store->pg, actor, org_id, pool_id, user_id, now, error);
  return ts_sqlite_grant (store->sqlite, actor, org_id, pool_id, user_id, now, error);
}

gboolean
ts_store_revoke_grant (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                       const char *user_id, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_revoke_grant (store->pg, actor, org_id, pool_id, user_id, now, error);
  return ts_sqlite_revoke_grant (store->sqlite, actor, org_id, pool_id, user_id, now, error);
}

GPtrArray *
ts_store_list_grants (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                      GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_grants (store->pg, actor, org_id, pool_id, error);
  return ts_sqlite_list_grants (store->sqlite, actor, org_id, pool_id, error);
}

TsSession *
ts_store_activate (TsStore *store, const char *user_id, const char *org_id, const char *product,
                   const char *machine_id, const char *nonce, gint64 lease_seconds, gint64 now,
                   GError **error)
{
  return ts_store_activate_components (store, user_id, org_id, product, machine_id, NULL, nonce,
                                       lease_seconds, now, error);
}

TsSession *
ts_store_activate_components (TsStore *store, const char *user_id, const char *org_id,
                              const char *product, const char *machine_id, const char *components,
                              const char *nonce, gint64 lease_seconds, gint64 now, GError **error)
{
  /* Checked by the HTTP layer; checked again for any other caller. */
  if (components != NULL && !tessera_machine_digests_check (components, error))
    return NULL;
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_activate (store->pg, user_id, org_id, product, machine_id, components, nonce,
                           lease_seconds, now, error);
  return ts_sqlite_activate (store->sqlite, user_id, org_id, product, machine_id, components, nonce,
                             lease_seconds, now, error);
}

void
ts_store_heartbeat_async (TsStore *store, const char *user_id, const char *session_id,
                          gint64 lease_seconds, gint64 now, TsHeartbeatDone done, gpointer data)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    {
      /* Each heartbeat is its own transaction there: nothing to wait for
       * but the database. */
      GError *error = NULL;
      TsSession *s = ts_pg_heartbeat (store->pg, user_id, session_id, lease_seconds, now, &error);
      done (s, error, data);
      return;
    }
  ts_sqlite_heartbeat_async (store->sqlite, user_id, session_id, lease_seconds, now, done, data);
}

gboolean
ts_store_heartbeat_queues (TsStore *store)
{
  return store->kind != TS_STORE_POSTGRESQL;
}

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean done;
  TsSession *session;
  GError *error;
} TsHeartbeatWait;

static void
ts_heartbeat_waited (TsSession *session, GError *error, gpointer data)
{
  TsHeartbeatWait *w = data;
  g_mutex_lock (&w->lock);
  w->session = session;
  w->error = error;
  w->done = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

TsSession *
ts_store_heartbeat (TsStore *store, const char *user_id, const char *session_id,
                    gint64 lease_seconds, gint64 now, GError **error)
{
  TsHeartbeatWait w = { 0 };
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  ts_store_heartbeat_async (store, user_id, session_id, lease_seconds, now, ts_heartbeat_waited,
                            &w);
  g_mutex_lock (&w.lock);
  while (!w.done)
    g_cond_wait (&w.cond, &w.lock);
  g_mutex_unlock (&w.lock);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  if (w.error != NULL)
    g_propagate_error (error, w.error);
  return w.session;
}

gboolean
ts_store_release (TsStore *store, const char *user_id, const char *session_id, gint64 now,
                  GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_release (store->pg, user_id, session_id, now, error);
  return ts_sqlite_release (store->sqlite, user_id, session_id, now, error);
}

guint
ts_store_reap (TsStore *store, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_reap (store->pg, now, error);
  return ts_sqlite_reap (store->sqlite, now, error);
}

GPtrArray *
ts_store_list_sessions (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                        gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_sessions (store->pg, actor, org_id, pool_id, now, error);
  return ts_sqlite_list_sessions (store->sqlite, actor, org_id, pool_id, now, error);
}

gboolean
ts_store_force_release (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                        const char *session_id, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_force_release (store->pg, actor, org_id, pool_id, session_id, now, error);
  return ts_sqlite_force_release (store->sqlite, actor, org_id, pool_id, session_id, now, error);
}

GPtrArray *
ts_store_list_machines (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                        GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_machines (store->pg, actor, org_id, pool_id, error);
  return ts_sqlite_list_machines (store->sqlite, actor, org_id, pool_id, error);
}

gboolean
ts_store_remove_machine (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                         const char *machine_id, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_remove_machine (store->pg, actor, org_id, pool_id, machine_id, now, error);
  return ts_sqlite_remove_machine (store->sqlite, actor, org_id, pool_id, machine_id, now, error);
}

TsOffline *
ts_store_create_offline (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                         const char *machine_id, const char *const *entitlements,
                         TesseraSigningKey *key, gint64 now, GError **error)
{
  return ts_store_create_offline_request (store, actor, org_id, pool_id, machine_id, NULL,
                                          entitlements, key, now, error);
}

TsOffline *
ts_store_create_offline_request (TsStore *store, const char *actor, const char *org_id,
                                 const char *pool_id, const char *machine_id,
                                 TesseraFingerprint *request, const char *const *entitlements,
                                 TesseraSigningKey *key, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_create_offline (store->pg, actor, org_id, pool_id, machine_id, request,
                                 entitlements, key, now, error);
  return ts_sqlite_create_offline (store->sqlite, actor, org_id, pool_id, machine_id, request,
                                   entitlements, key, now, error);
}

GPtrArray *
ts_store_list_offline (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                       GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_offline (store->pg, actor, org_id, pool_id, error);
  return ts_sqlite_list_offline (store->sqlite, actor, org_id, pool_id, error);
}

TsOffline *
ts_store_get_offline (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                      const char *offline_id, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_get_offline (store->pg, actor, org_id, pool_id, offline_id, error);
  return ts_sqlite_get_offline (store->sqlite, actor, org_id, pool_id, offline_id, error);
}

GPtrArray *
ts_store_list_audit (TsStore *store, const char *actor, const char *org_id, guint limit,
                     GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_list_audit (store->pg, actor, org_id, limit, error);
  return ts_sqlite_list_audit (store->sqlite, actor, org_id, limit, error);
}

char *
ts_store_user_by_email (TsStore *store, const char *email, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_user_by_email (store->pg, email, error);
  return ts_sqlite_user_by_email (store->sqlite, email, error);
}

gboolean
ts_store_web_set_password (TsStore *store, const char *user_id, const char *password, gint64 now,
                           GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_web_set_password (store->pg, user_id, password, now, error);
  return ts_sqlite_web_set_password (store->sqlite, user_id, password, now, error);
}

gboolean
ts_store_web_change_password (TsStore *store, const char *user_id, const char *old_password,
                              const char *new_password, const char *keep_token, gint64 now,
                              GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_web_change_password (store->pg, user_id, old_password, new_password, keep_token,
                                      now, error);
  return ts_sqlite_web_change_password (store->sqlite, user_id, old_password, new_password,
                                        keep_token, now, error);
}

char *
ts_store_web_login (TsStore *store, const char *email, const char *password, const char *address,
                    gint64 now, TsWebSession **session, gint64 *retry_after, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_web_login (store->pg, email, password, address, now, session, retry_after, error);
  return ts_sqlite_web_login (store->sqlite, email, password, address, now, session, retry_after,
                              error);
}

TsWebSession *
ts_store_web_session (TsStore *store, const char *token, gint64 now, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_web_session (store->pg, token, now, error);
  return ts_sqlite_web_session (store->sqlite, token, now, error);
}

gboolean
ts_store_web_logout (TsStore *store, const char *token, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_web_logout (store->pg, token, error);
  return ts_sqlite_web_logout (store->sqlite, token, error);
}

char *
ts_store_web_invite (TsStore *store, const char *actor, const char *org_id, const char *email,
                     TsRole role, gint64 now, char **user_id, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_web_invite (store->pg, actor, org_id, email, role, now, user_id, error);
  return ts_sqlite_web_invite (store->sqlite, actor, org_id, email, role, now, user_id, error);
}

char *
ts_store_web_accept_invite (TsStore *store, const char *invite_token, const char *password,
                            gint64 now, TsWebSession **session, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_web_accept_invite (store->pg, invite_token, password, now, session, error);
  return ts_sqlite_web_accept_invite (store->sqlite, invite_token, password, now, session, error);
}

gboolean
ts_store_web_my_licenses (TsStore *store, const char *user_id, gint64 now, GPtrArray **grants,
                          GPtrArray **sessions, GError **error)
{
  if (store->kind == TS_STORE_POSTGRESQL)
    return ts_pg_web_my_licenses (store->pg, user_id, now, grants, sessions, error);
  return ts_sqlite_web_my_licenses (store->sqlite, user_id, now, grants, sessions, error);
}
