/* tessera-store internals that do not depend on the engine: input limits
 * and checks, ids, offline signing, web sign-in helpers (not installed). */
#pragma once

#include "store.h"

G_BEGIN_DECLS

/* Input limits of docs/protocol.md (lease: 5 s to one day). */
#define TS_LEASE_MIN 5
#define TS_LEASE_MAX 86400
#define TS_QUOTA_MAX 1000000
#define TS_OFFLINE_VALIDITY TESSERA_LICFILE_MAX_VALIDITY

#define TS_POOL_COLUMNS "id, org_id, product, kind, billing, quota, subscription_end, match_policy"

/* A machine's last_seen is kept to this many seconds: a heartbeat or an
 * activation writes it only when it is older (clients beat every third of
 * a 60 s lease, the tables show minutes), so most heartbeats write one row,
 * not two, and a machine that activates again within a minute none. */
#define TS_MACHINE_SEEN_PRECISION 60

/* Migration 9 of both engines, @NOW the engine's clock in seconds: until
 * this release a lowered quota ended the sessions beyond it at their next
 * heartbeat; now the lowering does (ts_end_over_quota()), so sessions an
 * older server left over a quota end at the upgrade, by the rule the
 * heartbeat applied (the newest go: those with at least quota − unexpired
 * offline licenses active sessions older than them, i.e. whose rank by
 * age plus the offline licenses passes the quota; ranked once, not counted
 * per session, so that a pool of 20,000 open sessions migrates in one
 * pass). 25: TESSERA_ERROR_TERMINATED (store-rules.c asserts it). And the
 * index of sessions by end leaves the open ones out: every activation
 * inserted a NULL there that only the usage sweep's "ended_at > ?" could
 * have read, and that comparison implies the index's condition. */
#define TS_MIGRATION_OVER_QUOTA(NOW)                                                               \
  "UPDATE sessions SET ended_at = " NOW ", end_code = 25,"                                         \
  " end_reason = 'over quota: the quota was lowered to '"                                          \
  "  || (SELECT quota FROM pools p WHERE p.id = sessions.pool_id)"                                 \
  " WHERE id IN (SELECT r.id FROM (SELECT s.id, s.pool_id,"                                        \
  "   row_number () OVER (PARTITION BY s.pool_id ORDER BY s.started_at, s.id) AS n"                \
  "   FROM sessions s JOIN pools p ON p.id = s.pool_id"                                            \
  "   WHERE p.kind = 'floating' AND s.ended_at IS NULL AND s.lease_expires_at > " NOW ") r"        \
  "  JOIN pools p ON p.id = r.pool_id"                                                             \
  "  WHERE r.n + (SELECT count(*) FROM offline f WHERE f.pool_id = r.pool_id"                      \
  "   AND f.expires_at > " NOW ") > p.quota);"                                                     \
  "DROP INDEX IF EXISTS sessions_ended;"                                                           \
  "CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;"

/* Migration 10 (PostgreSQL): pools.seat_bound, a number the pool's active
 * sessions do not exceed (NULL: unknown), so that an activation far from
 * the quota need not count them (a read of every open session of the
 * pool). An instance raises it TS_SEAT_CREDITS at a time and keeps the
 * seats it counted in ahead, its "credits", in memory (db-pg.c), tagged
 * with pools.seat_epoch: an activation holding a credit of the epoch its
 * locked pool row shows uses it, without a count and without a write.
 * An activation that counts (no bound, or none that leaves room) sets the
 * bound to the count and moves the epoch on: every instance's credits
 * become void. Credits are given only after the commit that raised the
 * bound; those lost (a crash, a rollback) only loosen it. Sessions
 * inserted by a writer that knows nothing of this (an older server during
 * an upgrade, psql) raise it by a trigger, which the store's own
 * connections skip (tessera.seat_bound, ts_pg_session_options()). SQLite
 * keeps its bound in memory (ts_seats_bound(): its one writer sees every
 * write); the columns are there, unused, so that the statements are the
 * same. A pool starts without a bound, and has one only while it holds
 * TS_SEAT_TRACK sessions or more. */
#define TS_SEAT_CREDITS 16
/* Below this many active sessions a pool keeps no bound (NULL): counting
 * them costs less than the bound's upkeep (scale-bench: no gain with ~17
 * sessions per pool, the pool row written for one activation in three
 * with 3 instances; 35 % more activations/s in a pool of ~4,000). */
#define TS_SEAT_TRACK 64

char *ts_new_id (void);
gboolean ts_check_product (const char *product, GError **error);
/* ts_store_fill_machine_changes() on an audit log already read (newest first). */
void ts_machines_add_changes (GPtrArray *audit, const char *pool_id, GPtrArray *machines);
/* The machine an offline license is for: *@machine_id, or @request's ID
 * (then *@machine_id must be NULL or the same), checked. */
gboolean ts_check_offline_machine (const char **machine_id, TesseraFingerprint *request,
                                   GError **error);
/* tessera_licfile_sign(), or with a @request (nullable)
 * tessera_licfile_sign_for_request() under @match_policy. */
GBytes *ts_sign_offline (TesseraSigningKey *key, const TesseraLicfileInfo *info,
                         TesseraFingerprint *request, const char *match_policy, GError **error);
/* A machine not registered in a pool, reporting @components (checked:
 * ts_body_components()): is it one of @registered (pairs of machine ID and
 * its stored components, of the same user) by @policy
 * (tessera_machine_match_new_for_digests())? Returns (transfer full) that
 * machine's ID and *@detail, the audit detail with one "%s" for the new ID
 * to fill in, or NULL. */
char *ts_recognize_machine (const char *policy, GPtrArray *registered, const char *machine_id,
                            const char *components, char **detail);
gboolean ts_check_machine_id (const char *machine_id, GError **error);
gboolean ts_check_org_id (const char *org_id, GError **error);
gboolean ts_check_email (const char *email, GError **error);
/* An email and a role a member can be given (invitations, member-add). */
gboolean ts_check_email_and_role (const char *email, TsRole role, GError **error);
gboolean ts_check_id (const char *what, const char *id, GError **error);
/* A lease the protocol allows (TS_LEASE_MIN to TS_LEASE_MAX seconds). */
gboolean ts_check_lease (gint64 lease_seconds, GError **error);
/* An activation's nonce: 8 to 64 of A-Z a-z 0-9 - _ (docs/protocol.md). */
gboolean ts_check_nonce (const char *nonce, GError **error);

/* ---- web sign-in, both backends (store-web-common.c) ---- */

/* A new random token: @prefix and 43 base64url characters. */
char *ts_web_token (const char *prefix);
gboolean ts_web_token_valid (const char *token, const char *prefix);
/* What the database keeps of a token: its SHA-256, hex. */
char *ts_web_hash_token (const char *token);
/* A password the rules accept, or FALSE with TESSERA_ERROR_INVALID_ARGUMENT. */
gboolean ts_web_check_password (const char *password, GError **error);
/* Argon2id hash string of @password, or NULL with @error. */
char *ts_web_hash_password (const char *password, GError **error);
/* A hash to verify against when the account does not exist (same time). */
const char *ts_web_dummy_hash (void);
gboolean ts_web_verify (const char *hash, const char *password);
/* The rate-limit subject of an account ("account:" + lowercase email). */
char *ts_web_account_subject (const char *email);

/* One of the few Argon2id slots of the process (TS_WEB_HASH_SLOTS): every
 * password hash or check runs holding one, so a sign-in flood costs at most
 * that many times 64 MiB and that many cores, and the licensing API keeps
 * the rest of the worker threads. Up to TS_WEB_HASH_QUEUE callers wait for
 * a slot; past that the caller gets UNAVAILABLE at once ("busy, try again").
 * Use as: g_auto (TsWebHashSlot) slot = 0; if (!ts_web_hash_enter (&slot,
 * error)) ...; the slot is given back when it goes out of scope. */
typedef int TsWebHashSlot;
gboolean ts_web_hash_enter (TsWebHashSlot *slot, GError **error);
void ts_web_hash_leave (TsWebHashSlot slot);
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (TsWebHashSlot, ts_web_hash_leave, 0)

G_END_DECLS
