/* The SQLite store's public functions under their own names, ts_sqlite_*,
 * so that store-dispatch.c can define the ts_store_* interface and choose
 * between SQLite and PostgreSQL (store-pg*.c) at ts_store_open(). CMake
 * force-includes this header (-include) into the SQLite sources only
 * (store-sqlite*.c, store-identity.c, store-pools.c, store-sessions.c,
 * store-web.c), which therefore compile unchanged: their "ts_store_X" and
 * "struct _TsStore" become ts_sqlite_X and struct _TsSqliteStore.
 *
 * Keep the list complete: every ts_store_* function of store.h needs its
 * line here, its forwarder in store-dispatch.c and its ts_pg_* (a missing
 * one is a link error). The exceptions: ts_store_activate() (a wrapper of
 * ts_store_activate_components()), ts_store_create_offline() (a wrapper of
 * ts_store_create_offline_request()), ts_store_update_pool() (a wrapper of
 * ts_store_update_pool_policy()), ts_store_heartbeat() (a wrapper
 * that waits for ts_store_heartbeat_async()), ts_store_heartbeat_queues(),
 * and the missing ts_pg_heartbeat_async() (PostgreSQL runs a heartbeat in
 * its caller). store-dispatch.c includes this header
 * with TS_STORE_NO_SQLITE_RENAME defined, for the prototypes only. */
#pragma once

#ifndef TS_STORE_NO_SQLITE_RENAME
#define _TsStore _TsSqliteStore
#define ts_store_open ts_sqlite_open
#define ts_store_close ts_sqlite_close
#define ts_store_bootstrap_org ts_sqlite_bootstrap_org
#define ts_store_set_member ts_sqlite_set_member
#define ts_store_remove_member ts_sqlite_remove_member
#define ts_store_list_members ts_sqlite_list_members
#define ts_store_list_user_orgs ts_sqlite_list_user_orgs
#define ts_store_get_role ts_sqlite_get_role
#define ts_store_get_user_email ts_sqlite_get_user_email
#define ts_store_create_api_key ts_sqlite_create_api_key
#define ts_store_revoke_api_key ts_sqlite_revoke_api_key
#define ts_store_list_api_keys ts_sqlite_list_api_keys
#define ts_store_authenticate ts_sqlite_authenticate
#define ts_store_create_pool ts_sqlite_create_pool
#define ts_store_update_pool_policy ts_sqlite_update_pool
#define ts_store_list_pools ts_sqlite_list_pools
#define ts_store_grant ts_sqlite_grant
#define ts_store_revoke_grant ts_sqlite_revoke_grant
#define ts_store_list_grants ts_sqlite_list_grants
#define ts_store_activate_components ts_sqlite_activate
#define ts_store_heartbeat_async ts_sqlite_heartbeat_async
#define ts_store_release ts_sqlite_release
#define ts_store_reap ts_sqlite_reap
#define ts_store_list_sessions ts_sqlite_list_sessions
#define ts_store_force_release ts_sqlite_force_release
#define ts_store_list_machines ts_sqlite_list_machines
#define ts_store_remove_machine ts_sqlite_remove_machine
#define ts_store_create_offline_request ts_sqlite_create_offline
#define ts_store_list_offline ts_sqlite_list_offline
#define ts_store_get_offline ts_sqlite_get_offline
#define ts_store_list_audit ts_sqlite_list_audit
#define ts_store_user_by_email ts_sqlite_user_by_email
#define ts_store_web_set_password ts_sqlite_web_set_password
#define ts_store_web_change_password ts_sqlite_web_change_password
#define ts_store_web_login ts_sqlite_web_login
#define ts_store_web_session ts_sqlite_web_session
#define ts_store_web_logout ts_sqlite_web_logout
#define ts_store_web_invite ts_sqlite_web_invite
#define ts_store_web_accept_invite ts_sqlite_web_accept_invite
#define ts_store_web_my_licenses ts_sqlite_web_my_licenses
#endif

#include "store.h"

G_BEGIN_DECLS

typedef struct _TsSqliteStore TsSqliteStore;

TsSqliteStore *ts_sqlite_open (const char *path, GError **error);
void ts_sqlite_close (TsSqliteStore *store);
char *ts_sqlite_bootstrap_org (TsSqliteStore *store, const char *org_id, const char *org_name,
                               const char *owner_email, gint64 now, GError **error);
char *ts_sqlite_set_member (TsSqliteStore *store, const char *actor, const char *org_id,
                            const char *email, TsRole role, gint64 now, GError **error);
gboolean ts_sqlite_remove_member (TsSqliteStore *store, const char *actor, const char *org_id,
                                  const char *user_id, gint64 now, GError **error);
GPtrArray *ts_sqlite_list_members (TsSqliteStore *store, const char *actor, const char *org_id,
                                   GError **error);
GPtrArray *ts_sqlite_list_user_orgs (TsSqliteStore *store, const char *user_id, GError **error);
gboolean ts_sqlite_get_role (TsSqliteStore *store, const char *org_id, const char *user_id,
                             TsRole *role, GError **error);
char *ts_sqlite_get_user_email (TsSqliteStore *store, const char *user_id, GError **error);
char *ts_sqlite_create_api_key (TsSqliteStore *store, const char *user_id, const char *label,
                                gint64 now, char **key_id, GError **error);
gboolean ts_sqlite_revoke_api_key (TsSqliteStore *store, const char *user_id, const char *key_id,
                                   gint64 now, GError **error);
GPtrArray *ts_sqlite_list_api_keys (TsSqliteStore *store, const char *user_id, GError **error);
char *ts_sqlite_authenticate (TsSqliteStore *store, const char *api_key, GError **error);
TsPool *ts_sqlite_create_pool (TsSqliteStore *store, const char *actor, const char *org_id,
                               const char *product, const char *kind, const char *billing,
                               gint64 quota, gint64 subscription_end, gint64 now, GError **error);
TsPool *ts_sqlite_update_pool (TsSqliteStore *store, const char *actor, const char *org_id,
                               const char *pool_id, gint64 quota, gint64 subscription_end,
                               const char *match_policy, gint64 now, GError **error);
GPtrArray *ts_sqlite_list_pools (TsSqliteStore *store, const char *actor, const char *org_id,
                                 gint64 now, GError **error);
gboolean ts_sqlite_grant (TsSqliteStore *store, const char *actor, const char *org_id,
                          const char *pool_id, const char *user_id, gint64 now, GError **error);
gboolean ts_sqlite_revoke_grant (TsSqliteStore *store, const char *actor, const char *org_id,
                                 const char *pool_id, const char *user_id, gint64 now,
                                 GError **error);
GPtrArray *ts_sqlite_list_grants (TsSqliteStore *store, const char *actor, const char *org_id,
                                  const char *pool_id, GError **error);
TsSession *ts_sqlite_activate (TsSqliteStore *store, const char *user_id, const char *org_id,
                               const char *product, const char *machine_id, const char *components,
                               const char *nonce, gint64 lease_seconds, gint64 now, GError **error);
void ts_sqlite_heartbeat_async (TsSqliteStore *store, const char *user_id, const char *session_id,
                                gint64 lease_seconds, gint64 now, TsHeartbeatDone done,
                                gpointer data);
gboolean ts_sqlite_release (TsSqliteStore *store, const char *user_id, const char *session_id,
                            gint64 now, GError **error);
guint ts_sqlite_reap (TsSqliteStore *store, gint64 now, GError **error);
GPtrArray *ts_sqlite_list_sessions (TsSqliteStore *store, const char *actor, const char *org_id,
                                    const char *pool_id, gint64 now, GError **error);
gboolean ts_sqlite_force_release (TsSqliteStore *store, const char *actor, const char *org_id,
                                  const char *pool_id, const char *session_id, gint64 now,
                                  GError **error);
GPtrArray *ts_sqlite_list_machines (TsSqliteStore *store, const char *actor, const char *org_id,
                                    const char *pool_id, GError **error);
gboolean ts_sqlite_remove_machine (TsSqliteStore *store, const char *actor, const char *org_id,
                                   const char *pool_id, const char *machine_id, gint64 now,
                                   GError **error);
TsOffline *ts_sqlite_create_offline (TsSqliteStore *store, const char *actor, const char *org_id,
                                     const char *pool_id, const char *machine_id,
                                     TesseraFingerprint *request, const char *const *entitlements,
                                     TesseraSigningKey *key, gint64 now, GError **error);
GPtrArray *ts_sqlite_list_offline (TsSqliteStore *store, const char *actor, const char *org_id,
                                   const char *pool_id, GError **error);
TsOffline *ts_sqlite_get_offline (TsSqliteStore *store, const char *actor, const char *org_id,
                                  const char *pool_id, const char *offline_id, GError **error);
GPtrArray *ts_sqlite_list_audit (TsSqliteStore *store, const char *actor, const char *org_id,
                                 guint limit, GError **error);
char *ts_sqlite_user_by_email (TsSqliteStore *store, const char *email, GError **error);
gboolean ts_sqlite_web_set_password (TsSqliteStore *store, const char *user_id,
                                     const char *password, gint64 now, GError **error);
gboolean ts_sqlite_web_change_password (TsSqliteStore *store, const char *user_id,
                                        const char *old_password, const char *new_password,
                                        const char *keep_token, gint64 now, GError **error);
char *ts_sqlite_web_login (TsSqliteStore *store, const char *email, const char *password,
                           const char *address, gint64 now, TsWebSession **session,
                           gint64 *retry_after, GError **error);
TsWebSession *ts_sqlite_web_session (TsSqliteStore *store, const char *token, gint64 now,
                                     GError **error);
gboolean ts_sqlite_web_logout (TsSqliteStore *store, const char *token, GError **error);
char *ts_sqlite_web_invite (TsSqliteStore *store, const char *actor, const char *org_id,
                            const char *email, TsRole role, gint64 now, char **user_id,
                            GError **error);
char *ts_sqlite_web_accept_invite (TsSqliteStore *store, const char *invite_token,
                                   const char *password, gint64 now, TsWebSession **session,
                                   GError **error);
gboolean ts_sqlite_web_my_licenses (TsSqliteStore *store, const char *user_id, gint64 now,
                                    GPtrArray **grants, GPtrArray **sessions, GError **error);

G_END_DECLS
