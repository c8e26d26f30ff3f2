/* tessera-server storage: the one interface the HTTP layer and tessera-admin
 * use. The SQLite implementation is store-sqlite.c; a PostgreSQL one can sit
 * behind the same functions. Rules of docs/protocol.md are enforced HERE, each
 * operation in one immediate transaction together with its audit record, so
 * every caller gets them right.
 *
 * Errors: TESSERA_ERROR with the codes of docs/protocol.md (NOT_FOUND,
 * PERMISSION_DENIED, QUOTA_EXCEEDED, MACHINE_QUOTA_EXCEEDED, ORG_REQUIRED,
 * REVOKED, TERMINATED, NOT_SUPPORTED, INVALID_ARGUMENT, AUTH) and
 * TESSERA_ERROR_UNAVAILABLE when the database cannot be read or written (then
 * nothing changed).
 *
 * Threads: a TsStore may be used from any number of threads at once.
 * Times are Unix seconds; @now is passed in so tests control time. */
#pragma once

#include <tessera/tessera.h>

G_BEGIN_DECLS

typedef struct _TsStore TsStore;

typedef enum
{
  TS_ROLE_MEMBER = 0,
  TS_ROLE_ADMIN,
  TS_ROLE_OWNER,
} TsRole;

const char *ts_role_to_string (TsRole role);
gboolean ts_role_from_string (const char *s, TsRole *role);

typedef struct
{
  char *id;
  char *name;
  TsRole role; /* of the user asking, where it applies */
} TsOrg;

typedef struct
{
  char *user_id;
  char *email;
  TsRole role;
} TsMember;

typedef struct
{
  char *id;
  char *org_id;
  char *product;
  char *kind;    /* "node-locked" | "floating" */
  char *billing; /* "annual" | "monthly" */
  gint64 quota;
  gint64 subscription_end;
  /* how many of a machine's components must match for it to stay the same
   * registered machine (tessera_match_policy_check()) */
  char *match_policy;
  /* usage, filled by listings */
  gint64 granted;
  gint64 machines;
  gint64 sessions;
  gint64 offline;
} TsPool;

typedef struct
{
  char *id;
  char *org_id;
  char *pool_id;
  char *product;
  char *kind;
  char *user_id;
  char *machine_id;
  char *nonce;
  gint64 started_at;
  gint64 last_heartbeat;
  gint64 lease_expires_at;
  gint64 subscription_end;
  /* (nullable) what the client said it runs on, unchecked (docs/protocol.md,
   * "Client information"): filled by ts_store_list_sessions() only */
  char *hostname;
  char *os;
} TsSession;

/* One change of a registered machine's components (an audit record
 * "machine.replace", docs/fingerprint.md "Online"). */
typedef struct
{
  gint64 at;
  char *from;    /* the machine ID before */
  char *to;      /* the machine ID after */
  char *changed; /* comma-separated component names, "" for none */
  char *unread;  /* comma-separated: registered, not reported this time */
} TsMachineChange;

typedef struct
{
  char *pool_id;
  char *machine_id;
  char *user_id; /* node-locked: the user it belongs to; floating: who registered it */
  gint64 registered_at;
  gint64 last_seen;
  /* (nullable) as the last activation from it reported (TsSession) */
  char *hostname;
  char *os;
  /* (nullable) TsMachineChange*, newest first: ts_store_fill_machine_changes() */
  GPtrArray *changes;
} TsMachine;

typedef struct
{
  char *user_id;
  char *email;
  gint64 granted_at;
} TsGrant;

typedef struct
{
  char *id;
  char *pool_id;
  char *machine_id;
  char *created_by;
  gint64 created_at;
  gint64 expires_at;
  GBytes *file;    /* the signed .lic (only from ts_store_create_offline) */
  char *file_name; /* PRODUCT_MACHINEID.lic */
} TsOffline;

typedef struct
{
  char *id;
  char *label;
  char *prefix; /* first characters of the key, to recognise it */
  gint64 created_at;
  gint64 revoked_at; /* 0 if active */
} TsApiKey;

typedef struct
{
  gint64 at;
  char *actor;
  char *action;
  char *target;
  char *detail;
  /* The emails of the actor and of the target when they are users (NULL
   * otherwise, or for an account since deleted). */
  char *actor_email;
  char *target_email;
} TsAudit;

void ts_org_free (TsOrg *o);
void ts_member_free (TsMember *m);
void ts_pool_free (TsPool *p);
void ts_session_free (TsSession *s);
void ts_machine_free (TsMachine *m);
void ts_grant_free (TsGrant *g);
void ts_offline_free (TsOffline *o);
void ts_api_key_free (TsApiKey *k);
void ts_audit_free (TsAudit *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsPool, ts_pool_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsSession, ts_session_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsOffline, ts_offline_free)

/* ---- lifecycle ---- */

/* Opens (creating and migrating) the database @path names: a SQLite file
 * (WAL mode, synchronous=FULL for seat changes, foreign keys on), or a
 * PostgreSQL server for a `postgresql://` / `postgres://` URL (libpq
 * conninfo URI; `pool_size=N` sets the connection pool), shared by several
 * server instances (db.c picks the engine). */
TsStore *ts_store_open (const char *path, GError **error);
void ts_store_close (TsStore *store);

/* ---- identity ---- */

/* Creates an organization and its first owner (creating the user if the email
 * is new). Refuses an existing org id. Returns the owner's user id. */
char *ts_store_bootstrap_org (TsStore *store, const char *org_id, const char *org_name,
                              const char *owner_email, gint64 now, GError **error);
/* Adds (creating the user if new) or changes the role of a member; returns
 * the user id. @actor must be owner/admin of @org_id (NULL: tessera-admin on
 * the database, trusted). Only an owner may make or unmake owners. An
 * account someone already holds (a password, an API key, another
 * organization) joins only by accepting an invitation: for it an @actor
 * gets PERMISSION_DENIED, and nothing changes. */
char *ts_store_set_member (TsStore *store, const char *actor, const char *org_id, const char *email,
                           TsRole role, gint64 now, GError **error);
gboolean ts_store_remove_member (TsStore *store, const char *actor, const char *org_id,
                                 const char *user_id, gint64 now, GError **error);
/* (transfer full) TsMember* */
GPtrArray *ts_store_list_members (TsStore *store, const char *actor, const char *org_id,
                                  GError **error);
/* The orgs @user_id belongs to, with their role. (transfer full) TsOrg* */
GPtrArray *ts_store_list_user_orgs (TsStore *store, const char *user_id, GError **error);
/* Returns FALSE with PERMISSION_DENIED if not a member. */
gboolean ts_store_get_role (TsStore *store, const char *org_id, const char *user_id, TsRole *role,
                            GError **error);
/* The email of a user, or NULL with NOT_FOUND. */
char *ts_store_get_user_email (TsStore *store, const char *user_id, GError **error);

/* ---- API keys ---- */

/* Returns (transfer full) the new key, shown once; *key_id receives its id. */
char *ts_store_create_api_key (TsStore *store, const char *user_id, const char *label, gint64 now,
                               char **key_id, GError **error);
gboolean ts_store_revoke_api_key (TsStore *store, const char *user_id, const char *key_id,
                                  gint64 now, GError **error);
GPtrArray *ts_store_list_api_keys (TsStore *store, const char *user_id, GError **error);
/* Returns the user id the key belongs to, or NULL with TESSERA_ERROR_AUTH. */
char *ts_store_authenticate (TsStore *store, const char *api_key, GError **error);
/* Returns (transfer full) the hash under which @api_key would be stored, or
 * NULL with TESSERA_ERROR_AUTH when it is not a Tessera API key at all. No
 * database access: see TsCaller. */
char *ts_api_key_hash (const char *api_key, GError **error);

/* Who makes a client request (activate, heartbeat, release): a user known
 * already (@user_id: a signed-in page, a tool, a test), or the holder of an
 * API key (@key_hash, from ts_api_key_hash()), which the request's own
 * transaction checks as ts_store_authenticate() would, in the statement
 * that reads the caller's memberships or session: no statement and no
 * transaction of its own (issue 17). A key unknown or revoked at that
 * moment fails the request with TESSERA_ERROR_AUTH, having changed
 * nothing. */
typedef struct
{
  const char *user_id; /* or NULL, and then: */
  const char *key_hash;
  /* Out (transfer full; the caller frees it): whose key it was, once the
   * store knew, even when the request failed; NULL with @user_id. */
  char *found;
} TsCaller;

/* ---- pools ---- */

TsPool *ts_store_create_pool (TsStore *store, const char *actor, const char *org_id,
                              const char *product, const char *kind, const char *billing,
                              gint64 quota, gint64 subscription_end, gint64 now, GError **error);
/* @quota or @subscription_end < 0: unchanged. */
TsPool *ts_store_update_pool (TsStore *store, const char *actor, const char *org_id,
                              const char *pool_id, gint64 quota, gint64 subscription_end,
                              gint64 now, GError **error);
/* ts_store_update_pool(), and @match_policy (nullable: unchanged;
 * tessera_match_policy_check(), INVALID_ARGUMENT otherwise): how many of
 * a machine's components must match for it to stay the same registered
 * machine. */
TsPool *ts_store_update_pool_policy (TsStore *store, const char *actor, const char *org_id,
                                     const char *pool_id, gint64 quota, gint64 subscription_end,
                                     const char *match_policy, gint64 now, GError **error);
GPtrArray *ts_store_list_pools (TsStore *store, const char *actor, const char *org_id, gint64 now,
                                GError **error);

/* ---- grants (node-locked) ---- */

gboolean ts_store_grant (TsStore *store, const char *actor, const char *org_id, const char *pool_id,
                         const char *user_id, gint64 now, GError **error);
gboolean ts_store_revoke_grant (TsStore *store, const char *actor, const char *org_id,
                                const char *pool_id, const char *user_id, gint64 now,
                                GError **error);
GPtrArray *ts_store_list_grants (TsStore *store, const char *actor, const char *org_id,
                                 const char *pool_id, GError **error);

/* ---- sessions ---- */

/* @org_id NULL: the user's only org with a pool for @product, else
 * ORG_REQUIRED (the message lists the orgs). Node-locked pools are preferred
 * when the user is granted one; otherwise the floating pool. Idempotent on
 * (user, pool, @nonce). */
TsSession *ts_store_activate (TsStore *store, const char *user_id, const char *org_id,
                              const char *product, const char *machine_id, const char *nonce,
                              gint64 lease_seconds, gint64 now, GError **error);
/* ts_store_activate() for a client that reports its machine's @components
 * (nullable; "NAME=HEX ...", as tessera_machine_digests_check() takes):
 * they are stored with the machine's registration, and a machine ID not
 * registered in the pool whose components match a machine the same user
 * registered, by the pool's match_policy, is that machine: its
 * registration takes the new ID (no second machine slot), audited as
 * "machine.replace" with the components that changed. NULL: the exact
 * machine ID, as ts_store_activate(). */
TsSession *ts_store_activate_components (TsStore *store, const char *user_id, const char *org_id,
                                         const char *product, const char *machine_id,
                                         const char *components, const char *nonce,
                                         gint64 lease_seconds, gint64 now, GError **error);
/* Extends the lease; REVOKED / TERMINATED (moved, over quota, force-released,
 * expired, member removed) with the reason in the message. */
/* The informational fields a client may send on activation (docs/protocol.md,
 * "Client information"): never part of the machine's identity, never
 * trusted for anything, only shown to administrators. */
typedef struct
{
  const char *hostname; /* (nullable) */
  const char *os;       /* (nullable) */
} TsClientInfo;

/* Limits of TsClientInfo's fields, in bytes of UTF-8. */
#define TS_CLIENT_HOSTNAME_MAX 255
#define TS_CLIENT_OS_MAX 128

/* TsClientInfo's fields: each NULL, or 1 to its limit bytes of UTF-8
 * without control characters (refused, not stripped: see docs/protocol.md). */
gboolean ts_check_client_info (const TsClientInfo *info, GError **error);

/* ts_store_activate_components() with the client's @info (nullable: as
 * none), checked by ts_check_client_info() and stored with the session and
 * the machine's registration. */
TsSession *ts_store_activate_client (TsStore *store, const char *user_id, const char *org_id,
                                     const char *product, const char *machine_id,
                                     const char *components, const TsClientInfo *info,
                                     const char *nonce, gint64 lease_seconds, gint64 now,
                                     GError **error);
/* ts_store_activate_client() for @who (TsCaller). */
TsSession *ts_store_activate_as (TsStore *store, TsCaller *who, const char *org_id,
                                 const char *product, const char *machine_id,
                                 const char *components, const TsClientInfo *info,
                                 const char *nonce, gint64 lease_seconds, gint64 now,
                                 GError **error);
TsSession *ts_store_heartbeat (TsStore *store, const char *user_id, const char *session_id,
                               gint64 lease_seconds, gint64 now, GError **error);
/* @session (transfer full) or @error (transfer full), never both. */
typedef void (*TsHeartbeatDone) (TsSession *session, GError *error, gpointer data);
/* ts_store_heartbeat() without waiting: @done is called exactly once, once
 * the lease is committed (or the heartbeat failed), in this thread before
 * this returns or in another one (the SQLite store's lease writer, which
 * runs the heartbeats of several threads in one write). @user_id and
 * @session_id must stay valid until then. */
void ts_store_heartbeat_async (TsStore *store, const char *user_id, const char *session_id,
                               gint64 lease_seconds, gint64 now, TsHeartbeatDone done,
                               gpointer data);
/* ts_store_heartbeat() for @who (TsCaller). */
TsSession *ts_store_heartbeat_as (TsStore *store, TsCaller *who, const char *session_id,
                                  gint64 lease_seconds, gint64 now, GError **error);
/* ts_store_heartbeat_async() for @who (TsCaller), which must stay valid,
 * and is written to, until @done is called. */
void ts_store_heartbeat_as_async (TsStore *store, TsCaller *who, const char *session_id,
                                  gint64 lease_seconds, gint64 now, TsHeartbeatDone done,
                                  gpointer data);
/* TRUE when ts_store_heartbeat_async() only queues the heartbeat (SQLite:
 * the lease writer), FALSE when it runs it in the calling thread, waiting
 * for the database (PostgreSQL). */
gboolean ts_store_heartbeat_queues (TsStore *store);
/* What the store has sent to a database server since it was opened: round
 * trips (each a wait for the server's answers) and statements. FALSE, and
 * zeros, for an embedded database (SQLite), which has no trips to count.
 * For tests and benches: the count per request is what PostgreSQL's cost
 * follows (issue #17). */
gboolean ts_store_round_trips (TsStore *store, guint *round_trips, guint *statements);
/* The connections the store keeps to a database server (PostgreSQL's
 * pool_size): no more transactions than this run at once. 0: an embedded
 * database (SQLite), which has no such bound. */
guint ts_store_connections (TsStore *store);
gboolean ts_store_release (TsStore *store, const char *user_id, const char *session_id, gint64 now,
                           GError **error);
/* ts_store_release() for @who (TsCaller). */
gboolean ts_store_release_as (TsStore *store, TsCaller *who, const char *session_id, gint64 now,
                              GError **error);
/* Ends sessions whose lease ran out; returns how many. */
guint ts_store_reap (TsStore *store, gint64 now, GError **error);
GPtrArray *ts_store_list_sessions (TsStore *store, const char *actor, const char *org_id,
                                   const char *pool_id, gint64 now, GError **error);
gboolean ts_store_force_release (TsStore *store, const char *actor, const char *org_id,
                                 const char *pool_id, const char *session_id, gint64 now,
                                 GError **error);
GPtrArray *ts_store_list_machines (TsStore *store, const char *actor, const char *org_id,
                                   const char *pool_id, GError **error);
/* Fills each TsMachine of @machines (ts_store_list_machines() of @pool_id)
 * with its component changes over time, from @org_id's audit log: the
 * chain of "machine.replace" records that ends at its current ID. Same
 * permissions as ts_store_list_audit(). */
gboolean ts_store_fill_machine_changes (TsStore *store, const char *actor, const char *org_id,
                                        const char *pool_id, GPtrArray *machines, GError **error);
gboolean ts_store_remove_machine (TsStore *store, const char *actor, const char *org_id,
                                  const char *pool_id, const char *machine_id, gint64 now,
                                  GError **error);

/* ---- offline ---- */

/* Annual node-locked pools only (else NOT_SUPPORTED); counts against the
 * quota until it expires (QUOTA_EXCEEDED); signed with @key by
 * tessera_licfile_sign(). */
TsOffline *ts_store_create_offline (TsStore *store, const char *actor, const char *org_id,
                                    const char *pool_id, const char *machine_id,
                                    const char *const *entitlements, TesseraSigningKey *key,
                                    gint64 now, GError **error);
/* ts_store_create_offline() from the machine's @request (nullable: as
 * ts_store_create_offline(); `tessera machine-id --request`, parsed by
 * tessera_fingerprint_new_from_string()): a format 2 file carrying the
 * request's component digests and the pool's match_policy
 * (tessera_licfile_sign_for_request()), so it survives a replaced NIC.
 * @machine_id: (nullable) with a @request, its ID or NULL. */
TsOffline *ts_store_create_offline_request (TsStore *store, const char *actor, const char *org_id,
                                            const char *pool_id, const char *machine_id,
                                            TesseraFingerprint *request,
                                            const char *const *entitlements, TesseraSigningKey *key,
                                            gint64 now, GError **error);
GPtrArray *ts_store_list_offline (TsStore *store, const char *actor, const char *org_id,
                                  const char *pool_id, GError **error);
/* One offline license with its signed file (@file and @file_name set), to
 * download it again. @actor NULL: trusted, and @org_id and @pool_id may be
 * NULL (any). Otherwise @actor must be owner or admin of @org_id
 * (PERMISSION_DENIED). NOT_FOUND unless the license belongs to @org_id
 * (and to @pool_id, when given). */
TsOffline *ts_store_get_offline (TsStore *store, const char *actor, const char *org_id,
                                 const char *pool_id, const char *offline_id, GError **error);

/* ---- readiness (store-ready.c) ---- */

/* Whether the database takes a write now: a row inserted and deleted in a
 * write transaction, committed. When not: UNAVAILABLE with what to do (disk
 * full, read-only, PostgreSQL unreachable; no location in it).
 * At most one check runs per second (@now_us: g_get_monotonic_time()):
 * within a second of the last one, or while one is under way, its answer
 * is given again. *detail (nullable; for the log) gets the engine's own
 * message only from the call that ran a failed check, so it is logged once
 * per check; NULL otherwise. */
gboolean ts_store_check_writable (TsStore *store, gint64 now_us, char **detail, GError **error);

/* ---- usage history (store-usage.c) ----
 *
 * Per pool and UTC hour: the peak of sessions in use, activations,
 * refusals by reason, and the distinct users and machines in use. Written
 * in batches by each server instance (server/usage.c), never inside an
 * activation: counters are added up across instances, peaks and distinct
 * sets merged, so several instances sharing a database add up. */

typedef enum
{
  TS_USAGE_REFUSED_QUOTA,    /* QUOTA_EXCEEDED: all seats in use */
  TS_USAGE_REFUSED_MACHINES, /* MACHINE_QUOTA_EXCEEDED */
  TS_USAGE_REFUSED_EXPIRED,  /* EXPIRED: the subscription ended */
  TS_USAGE_REFUSALS
} TsUsageRefusal;

/* Counts of one hour (a multiple of 3600) to add: of @pool_id, or, when it
 * is NULL, of the pool an activation of @product by @user_id in @org_id
 * (nullable: the user's only organization with it) was refused from,
 * found when the batch is written (a refusal does not say). */
typedef struct
{
  char *pool_id;
  char *user_id;
  char *org_id;
  char *product;
  gint64 hour;
  gint64 activations;
  gint64 refused[TS_USAGE_REFUSALS];
} TsUsageCount;

typedef struct
{
  gint64 hour; /* its start, Unix seconds */
  gint64 peak; /* most sessions in use at once */
  gint64 quota;
  gint64 activations;
  gint64 refused[TS_USAGE_REFUSALS];
  gint64 users;
  gint64 machines;
} TsUsageHour;

void ts_usage_count_free (TsUsageCount *c);
/* The name of @reason in the API and CSV: "quota", "machine_quota", "expired". */
const char *ts_usage_refusal_name (TsUsageRefusal reason);

/* In one write transaction: adds @counts (TsUsageCount*; refusals whose
 * pool is not found any more are dropped), and merges the peaks and the
 * users and machines of the sessions in use within [@from, @now), read
 * from the sessions themselves. @seen (nullable; keys owned by it) holds
 * the users and machines of an hour already written by this caller: they
 * are skipped, and those written are added once committed. */
gboolean ts_store_usage_add (TsStore *store, GPtrArray *counts, gint64 from, gint64 now,
                             GHashTable *seen, GError **error);
/* The hours of @pool_id in [@since, @until) that have any usage, oldest
 * first (TsUsageHour*). @actor must be owner or admin of @org_id (NULL:
 * trusted); NOT_FOUND for a pool of another organization. */
GPtrArray *ts_store_usage_list (TsStore *store, const char *actor, const char *org_id,
                                const char *pool_id, gint64 since, gint64 until, GError **error);
/* @hours (TsUsageHour*) as CSV: a header line, then one line an hour, its
 * start in ISO 8601 UTC; CRLF line ends (RFC 4180). */
GBytes *ts_usage_hours_csv (GPtrArray *hours);
/* Deletes the history of hours before @before; *removed (nullable): hours. */
gboolean ts_store_usage_prune (TsStore *store, gint64 before, gint64 *removed, GError **error);

/* ---- audit ---- */

GPtrArray *ts_store_list_audit (TsStore *store, const char *actor, const char *org_id, guint limit,
                                GError **error);

/* ---- web sign-in (store-web.c) ----
 *
 * Passwords are stored only as Argon2id hashes (libsodium crypto_pwhash_str,
 * interactive limits); session and invitation tokens only as SHA-256 (they
 * are 32 random bytes, so a slow hash adds nothing). Failed sign-ins are
 * counted per account and per client address in a fixed window; an attempt
 * is counted BEFORE the password is checked, so a burst of parallel guesses
 * cannot get past the limit, and a success gives its count back. */

#define TS_WEB_PASSWORD_MIN 10  /* characters */
#define TS_WEB_PASSWORD_MAX 256 /* bytes */
#define TS_WEB_SESSION_SECONDS (12 * 3600)
#define TS_WEB_INVITE_SECONDS (7 * 24 * 3600)
#define TS_WEB_FAIL_WINDOW 900     /* seconds */
#define TS_WEB_FAIL_MAX_ACCOUNT 5  /* failed sign-ins per account a window */
#define TS_WEB_FAIL_MAX_ADDRESS 20 /* failed sign-ins per client address a window */
/* Argon2id hashes or checks at once in the process (each ~64 MiB and a
 * core), and callers that may wait for one; more get UNAVAILABLE (HTTP 429
 * on sign-in) at once, so a sign-in flood cannot take the worker threads
 * and memory the licensing API needs. */
#define TS_WEB_HASH_SLOTS 2
#define TS_WEB_HASH_QUEUE 2
#define TS_WEB_SESSION_PREFIX "tws_"
#define TS_WEB_INVITE_PREFIX "twi_"

typedef struct
{
  char *user_id;
  char *email;
  char *csrf; /* the CSRF token state-changing requests must echo */
  gint64 expires_at;
} TsWebSession;

void ts_web_session_free (TsWebSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsWebSession, ts_web_session_free)

/* Diagnostics of the Argon2id slots (process-wide): the most ever held at
 * once and the callers refused as busy, since the last @reset. */
void ts_store_web_hash_stats (guint *peak, guint *refused, gboolean reset);

/* The id of the user with @email, or NULL with NOT_FOUND. */
char *ts_store_user_by_email (TsStore *store, const char *email, GError **error);
/* Trusted (tessera-admin): sets @user_id's password, ends their web sessions
 * and clears the account's failed sign-ins. INVALID_ARGUMENT for a password
 * outside TS_WEB_PASSWORD_MIN..MAX, NOT_FOUND for an unknown user. */
gboolean ts_store_web_set_password (TsStore *store, const char *user_id, const char *password,
                                    gint64 now, GError **error);
/* Checks @old_password (AUTH if wrong), sets @new_password and ends every
 * other web session of the user (the one whose token is @keep_token stays). */
gboolean ts_store_web_change_password (TsStore *store, const char *user_id,
                                       const char *old_password, const char *new_password,
                                       const char *keep_token, gint64 now, GError **error);
/* Signs in: returns the new session token (transfer full; shown once, to be
 * put in a cookie) and *session. AUTH for a wrong email or password (the same
 * message for both); UNAVAILABLE with *retry_after > 0 (seconds) when too many
 * sign-ins failed for this account or @address. */
char *ts_store_web_login (TsStore *store, const char *email, const char *password,
                          const char *address, gint64 now, TsWebSession **session,
                          gint64 *retry_after, GError **error);
/* The session of @token, or NULL with AUTH (unknown, ended or expired). */
TsWebSession *ts_store_web_session (TsStore *store, const char *token, gint64 now, GError **error);
/* Ends the session of @token (unknown tokens are fine: already ended). */
gboolean ts_store_web_logout (TsStore *store, const char *token, GError **error);
/* An owner of @org_id invites @email with @role: a one-time invitation
 * token is returned (transfer full), valid TS_WEB_INVITE_SECONDS; the user
 * is created if the email is new (an account nobody holds yet). Nothing
 * else changes until the invitation is accepted: no membership, nothing
 * another organization can see. PERMISSION_DENIED unless @actor (NULL:
 * trusted) is an owner. *user_id (nullable) receives the user. */
char *ts_store_web_invite (TsStore *store, const char *actor, const char *org_id, const char *email,
                           TsRole role, gint64 now, char **user_id, GError **error);
/* Uses an invitation: the account joins the organization (a role it
 * already has there is never lowered) and is signed in (as
 * ts_store_web_login). An account nobody holds yet (ts_account_held():
 * no password, no API key, no other organization) gets @password as its
 * password (INVALID_ARGUMENT outside the bounds). Any other account must
 * give its current password as @password, which is never changed: AUTH
 * if wrong, counted as a failed sign-in of the account (UNAVAILABLE past
 * the limit). AUTH when the token is unknown, used or expired. */
char *ts_store_web_accept_invite (TsStore *store, const char *invite_token, const char *password,
                                  gint64 now, TsWebSession **session, GError **error);

/* One of the caller's own licenses: a grant (started_at 0) or a live session. */
typedef struct
{
  char *org_id;
  char *pool_id;
  char *product;
  char *kind;
  char *machine_id; /* sessions only */
  gint64 granted_at;
  gint64 started_at;
  gint64 last_heartbeat;
} TsMyLicense;
void ts_my_license_free (TsMyLicense *l);
/* @user_id's own grants and live sessions, in every org (what a member may
 * see of the license pools). (transfer full) TsMyLicense* arrays. */
gboolean ts_store_web_my_licenses (TsStore *store, const char *user_id, gint64 now,
                                   GPtrArray **grants, GPtrArray **sessions, GError **error);

/* ---- signing keys shared through the database (server/keys.c) ---- */

typedef struct
{
  char *id;         /* key id (16 hex characters) */
  char *public_key; /* the public key line */
  char *sealed;     /* base64 of tessera_signing_key_seal(): never the secret in clear */
  gint64 created_at;
} TsSigningKeyRow;

void ts_signing_key_row_free (TsSigningKeyRow *row);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsSigningKeyRow, ts_signing_key_row_free)

/* Returns: (transfer full) (element-type TsSigningKeyRow): every stored
 * signing key, the last stored (the one that signs) first; NULL with
 * @error. */
GPtrArray *ts_store_list_signing_keys (TsStore *store, GError **error);

/* Stores a sealed signing key, audited as @actor (NULL: tessera-admin).
 * With @only_if_none, only while no key is stored (instances starting at
 * once on an empty database: one adds, the others find its key): *@added
 * tells. A key id already stored: TESSERA_ERROR_INVALID_ARGUMENT. */
gboolean ts_store_add_signing_key (TsStore *store, const char *actor, const TsSigningKeyRow *row,
                                   gboolean only_if_none, gboolean *added, GError **error);

G_END_DECLS
