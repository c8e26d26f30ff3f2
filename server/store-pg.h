/* The PostgreSQL store (store-pg*.c): the functions of store.h as ts_pg_*,
 * with the same signatures and rules, on a TsPgStore. store-dispatch.c
 * forwards to them when ts_store_open() is given a postgresql:// URL. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

typedef struct _TsPgStore TsPgStore;

TsPgStore *ts_pg_open (const char *path, GError **error);
void ts_pg_close (TsPgStore *store);
char *ts_pg_bootstrap_org (TsPgStore *store, const char *org_id, const char *org_name,
                           const char *owner_email, gint64 now, GError **error);
char *ts_pg_set_member (TsPgStore *store, const char *actor, const char *org_id, const char *email,
                        TsRole role, gint64 now, GError **error);
gboolean ts_pg_remove_member (TsPgStore *store, const char *actor, const char *org_id,
                              const char *user_id, gint64 now, GError **error);
GPtrArray *ts_pg_list_members (TsPgStore *store, const char *actor, const char *org_id,
                               GError **error);
GPtrArray *ts_pg_list_user_orgs (TsPgStore *store, const char *user_id, GError **error);
gboolean ts_pg_get_role (TsPgStore *store, const char *org_id, const char *user_id, TsRole *role,
                         GError **error);
char *ts_pg_get_user_email (TsPgStore *store, const char *user_id, GError **error);
char *ts_pg_create_api_key (TsPgStore *store, const char *user_id, const char *label, gint64 now,
                            char **key_id, GError **error);
gboolean ts_pg_revoke_api_key (TsPgStore *store, const char *user_id, const char *key_id,
                               gint64 now, GError **error);
GPtrArray *ts_pg_list_api_keys (TsPgStore *store, const char *user_id, GError **error);
char *ts_pg_authenticate (TsPgStore *store, const char *api_key, GError **error);
TsPool *ts_pg_create_pool (TsPgStore *store, const char *actor, const char *org_id,
                           const char *product, const char *kind, const char *billing, gint64 quota,
                           gint64 subscription_end, gint64 now, GError **error);
TsPool *ts_pg_update_pool (TsPgStore *store, const char *actor, const char *org_id,
                           const char *pool_id, gint64 quota, gint64 subscription_end,
                           const char *match_policy, gint64 now, GError **error);
GPtrArray *ts_pg_list_pools (TsPgStore *store, const char *actor, const char *org_id, gint64 now,
                             GError **error);
gboolean ts_pg_grant (TsPgStore *store, const char *actor, const char *org_id, const char *pool_id,
                      const char *user_id, gint64 now, GError **error);
gboolean ts_pg_revoke_grant (TsPgStore *store, const char *actor, const char *org_id,
                             const char *pool_id, const char *user_id, gint64 now, GError **error);
GPtrArray *ts_pg_list_grants (TsPgStore *store, const char *actor, const char *org_id,
                              const char *pool_id, GError **error);
TsSession *ts_pg_activate (TsPgStore *store, const char *user_id, const char *org_id,
                           const char *product, const char *machine_id, const char *components,
                           const char *nonce, gint64 lease_seconds, gint64 now, GError **error);
TsSession *ts_pg_heartbeat (TsPgStore *store, const char *user_id, const char *session_id,
                            gint64 lease_seconds, gint64 now, GError **error);
gboolean ts_pg_release (TsPgStore *store, const char *user_id, const char *session_id, gint64 now,
                        GError **error);
guint ts_pg_reap (TsPgStore *store, gint64 now, GError **error);
GPtrArray *ts_pg_list_sessions (TsPgStore *store, const char *actor, const char *org_id,
                                const char *pool_id, gint64 now, GError **error);
gboolean ts_pg_force_release (TsPgStore *store, const char *actor, const char *org_id,
                              const char *pool_id, const char *session_id, gint64 now,
                              GError **error);
GPtrArray *ts_pg_list_machines (TsPgStore *store, const char *actor, const char *org_id,
                                const char *pool_id, GError **error);
gboolean ts_pg_remove_machine (TsPgStore *store, const char *actor, const char *org_id,
                               const char *pool_id, const char *machine_id, gint64 now,
                               GError **error);
TsOffline *ts_pg_create_offline (TsPgStore *store, const char *actor, const char *org_id,
                                 const char *pool_id, const char *machine_id,
                                 TesseraFingerprint *request, const char *const *entitlements,
                                 TesseraSigningKey *key, gint64 now, GError **error);
GPtrArray *ts_pg_list_offline (TsPgStore *store, const char *actor, const char *org_id,
                               const char *pool_id, GError **error);
TsOffline *ts_pg_get_offline (TsPgStore *store, const char *actor, const char *org_id,
                              const char *pool_id, const char *offline_id, GError **error);
GPtrArray *ts_pg_list_audit (TsPgStore *store, const char *actor, const char *org_id, guint limit,
                             GError **error);
char *ts_pg_user_by_email (TsPgStore *store, const char *email, GError **error);
gboolean ts_pg_web_set_password (TsPgStore *store, const char *user_id, const char *password,
                                 gint64 now, GError **error);
gboolean ts_pg_web_change_password (TsPgStore *store, const char *user_id, const char *old_password,
                                    const char *new_password, const char *keep_token, gint64 now,
                                    GError **error);
char *ts_pg_web_login (TsPgStore *store, const char *email, const char *password,
                       const char *address, gint64 now, TsWebSession **session, gint64 *retry_after,
                       GError **error);
TsWebSession *ts_pg_web_session (TsPgStore *store, const char *token, gint64 now, GError **error);
gboolean ts_pg_web_logout (TsPgStore *store, const char *token, GError **error);
char *ts_pg_web_invite (TsPgStore *store, const char *actor, const char *org_id, const char *email,
                        TsRole role, gint64 now, char **user_id, GError **error);
char *ts_pg_web_accept_invite (TsPgStore *store, const char *invite_token, const char *password,
                               gint64 now, TsWebSession **session, GError **error);
gboolean ts_pg_web_my_licenses (TsPgStore *store, const char *user_id, gint64 now,
                                GPtrArray **grants, GPtrArray **sessions, GError **error);

G_END_DECLS
