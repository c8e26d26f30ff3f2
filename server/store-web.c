/* tessera-store: web sign-in for the /admin/ pages (store.h, "web sign-in").
 *
 * The slow part of a sign-in, the Argon2id check (~0.1 s and 64 MiB), runs
 * OUTSIDE any transaction, so sign-ins never hold a connection, the write
 * lock (SQLite) or a row lock (PostgreSQL) that seat changes wait for. The
 * attempt is counted in a short write transaction before the check and
 * given back after a success. */
#include "db.h"

#include <sodium.h>
#include <string.h>

void
ts_web_session_free (TsWebSession *s)
{
  if (s == NULL)
    return;
  g_free (s->user_id);
  g_free (s->email);
  g_free (s->csrf);
  g_free (s);
}

/* ---- helpers ---- */

static TsWebSession *
ts_web_new_session (TsTx *tx, const char *user_id, const char *token_hash, gint64 now,
                    GError **error)
{
  TsWebSession *s = g_new0 (TsWebSession, 1);
  s->user_id = g_strdup (user_id);
  s->csrf = ts_web_token ("");
  s->expires_at = now + TS_WEB_SESSION_SECONDS;
  gboolean ok
      = ts_tx_str (tx, error, &s->email, "SELECT email FROM users WHERE id = ?", "s", user_id)
        /* Expired sessions of anyone go at each sign-in: the table stays small. */
        && ts_tx_exec (tx, error, NULL, "DELETE FROM web_sessions WHERE expires_at <= ?", "i", now)
        && ts_tx_exec (tx, error, NULL,
                       "INSERT INTO web_sessions (hash, user_id, csrf, created_at, expires_at)"
                       " VALUES (?, ?, ?, ?, ?)",
                       "sssii", token_hash, user_id, s->csrf, now, s->expires_at);
  if (!ok)
    g_clear_pointer (&s, ts_web_session_free);
  return s;
}

/* ---- rate limit ---- */

/* Counts one attempt for @subject; *retry_after > 0 when the window's limit
 * was already reached (then nothing is counted). */
static gboolean
ts_web_count_attempt (TsTx *tx, const char *subject, gint64 max, gint64 now, gint64 *retry_after,
                      GError **error)
{
  gint64 count = 0, start = 0;
  gboolean found = FALSE;
  /* Where writers exclude each other row by row (ts_tx_row_locks()), the
   * counter row exists and is locked before it is read: parallel attempts
   * on several instances count one after the other (READ COMMITTED alone
   * would let them all read the same count). */
  if ((ts_tx_row_locks (tx)
       && !ts_tx_exec (tx, error, NULL,
                       "INSERT INTO web_login_failures (subject, count, window_start)"
                       " VALUES (?, 0, ?) ON CONFLICT (subject) DO NOTHING",
                       "si", subject, now))
      || !ts_tx_int (tx, error, &count, &found,
                     ts_tx_row_locks (tx)
                         ? "SELECT count FROM web_login_failures WHERE subject = ? FOR UPDATE"
                         : "SELECT count FROM web_login_failures WHERE subject = ?",
                     "s", subject)
      || !ts_tx_int (tx, error, &start, NULL,
                     "SELECT window_start FROM web_login_failures WHERE subject = ?", "s", subject))
    return FALSE;
  if (!found || now >= start + TS_WEB_FAIL_WINDOW)
    {
      count = 0;
      start = now;
    }
  if (count >= max)
    {
      *retry_after = MAX (1, start + TS_WEB_FAIL_WINDOW - now);
      return TRUE;
    }
  return ts_tx_exec (
      tx, error, NULL,
      "INSERT INTO web_login_failures (subject, count, window_start) VALUES (?, ?, ?)"
      " ON CONFLICT (subject) DO UPDATE SET count = excluded.count,"
      " window_start = excluded.window_start",
      "sii", subject, count + 1, start);
}

/* ---- API ---- */

char *
ts_store_user_by_email (TsStore *store, const char *email, GError **error)
{
  if (!ts_check_email (email, error))
    return NULL;
  TsTx *tx = ts_tx_begin (store, TS_TX_READ, error);
  if (tx == NULL)
    return NULL;
  char *user_id = NULL;
  gboolean ok = ts_tx_str (tx, error, &user_id, ts_tx_sql (tx, TS_SQL_USER_BY_EMAIL), "s", email);
  if (ok && user_id == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                   "no user with email %s (add one with 'tessera-admin bootstrap' or 'member add')",
                   email);
      ok = FALSE;
    }
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&user_id, g_free);
  return user_id;
}

/* Writes @hash as @user_id's password; ends their sessions except the one
 * hashed @keep_hash (nullable). */
static gboolean
ts_web_store_password (TsStore *store, const char *user_id, const char *hash, const char *keep_hash,
                       const char *actor, gint64 now, GError **error)
{
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  char *email = NULL;
  gboolean ok = ts_tx_str (tx, error, &email, "SELECT email FROM users WHERE id = ?", "s", user_id);
  if (ok && email == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "no user %s", user_id);
      ok = FALSE;
    }
  g_autofree char *subject = email != NULL ? ts_web_account_subject (email) : NULL;
  ok = ok
       && ts_tx_exec (tx, error, NULL,
                      "INSERT INTO web_passwords (user_id, hash, set_at) VALUES (?, ?, ?)"
                      " ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash,"
                      " set_at = excluded.set_at",
                      "ssi", user_id, hash, now)
       && ts_tx_exec (tx, error, NULL,
                      "DELETE FROM web_sessions WHERE user_id = ? AND hash <> coalesce (?, '')",
                      "ss", user_id, keep_hash)
       && ts_tx_exec (tx, error, NULL, "DELETE FROM web_login_failures WHERE subject = ?", "s",
                      subject)
       && ts_tx_audit_account (tx, now, user_id, NULL, actor, "password.set", NULL, error);
  g_free (email);
  return ts_tx_finish (tx, ok, error);
}

gboolean
ts_store_web_set_password (TsStore *store, const char *user_id, const char *password, gint64 now,
                           GError **error)
{
  g_auto (TsWebHashSlot) slot = 0;
  if (!ts_check_id ("user_id", user_id, error) || !ts_web_check_password (password, error)
      || !ts_web_hash_enter (&slot, error))
    return FALSE;
  g_autofree char *hash = ts_web_hash_password (password, error);
  return hash != NULL && ts_web_store_password (store, user_id, hash, NULL, NULL, now, error);
}

gboolean
ts_store_web_change_password (TsStore *store, const char *user_id, const char *old_password,
                              const char *new_password, const char *keep_token, gint64 now,
                              GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return FALSE;
  if (old_password == NULL || strlen (old_password) > TS_WEB_PASSWORD_MAX)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH, "the current password is wrong");
      return FALSE;
    }
  g_auto (TsWebHashSlot) slot = 0;
  if (!ts_web_check_password (new_password, error) || !ts_web_hash_enter (&slot, error))
    return FALSE;
  /* A wrong current password counts as a failed sign-in of the account, as
   * in ts_store_web_login(): a stolen session cookie must not become an
   * unlimited password oracle. */
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  g_autofree char *email = NULL, *old_hash = NULL, *subject = NULL;
  gint64 retry_after = 0;
  gboolean ok = ts_tx_str (tx, error, &email, "SELECT email FROM users WHERE id = ?", "s", user_id);
  if (ok && email == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "no user %s", user_id);
      ok = FALSE;
    }
  ok = ok && (subject = ts_web_account_subject (email)) != NULL
       && ts_web_count_attempt (tx, subject, TS_WEB_FAIL_MAX_ACCOUNT, now, &retry_after, error)
       && ts_tx_str (tx, error, &old_hash, "SELECT hash FROM web_passwords WHERE user_id = ?", "s",
                     user_id);
  if (!ts_tx_finish (tx, ok, error))
    return FALSE;
  if (retry_after > 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "too many failed sign-ins for this account: try again in %" G_GINT64_FORMAT
                   " seconds",
                   retry_after);
      return FALSE;
    }
  if (!ts_web_verify (old_hash, old_password))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH, "the current password is wrong");
      return FALSE;
    }
  g_autofree char *hash = ts_web_hash_password (new_password, error);
  g_autofree char *keep = keep_token != NULL ? ts_web_hash_token (keep_token) : NULL;
  return hash != NULL && ts_web_store_password (store, user_id, hash, keep, user_id, now, error);
}

char *
ts_store_web_login (TsStore *store, const char *email, const char *password, const char *address,
                    gint64 now, TsWebSession **session, gint64 *retry_after, GError **error)
{
  *session = NULL;
  *retry_after = 0;
  if (email == NULL || password == NULL || *email == '\0' || strlen (email) > 320
      || strlen (password) > TS_WEB_PASSWORD_MAX)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH, "wrong email or password");
      return NULL;
    }
  /* A busy refusal comes before the attempt is counted: it is no guess. */
  g_auto (TsWebHashSlot) slot = 0;
  if (!ts_web_hash_enter (&slot, error))
    {
      *retry_after = 1;
      return NULL;
    }
  g_autofree char *account = ts_web_account_subject (email);
  g_autofree char *client = g_strconcat ("address:", address != NULL ? address : "-", NULL);

  /* 1. Count the attempt (both subjects) and read the hash. */
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  g_autofree char *user_id = NULL, *hash = NULL;
  gboolean ok
      = ts_web_count_attempt (tx, client, TS_WEB_FAIL_MAX_ADDRESS, now, retry_after, error)
        && (*retry_after > 0
            || ts_web_count_attempt (tx, account, TS_WEB_FAIL_MAX_ACCOUNT, now, retry_after, error))
        && ts_tx_str (tx, error, &user_id, ts_tx_sql (tx, TS_SQL_USER_BY_EMAIL), "s", email)
        && ts_tx_str (tx, error, &hash, "SELECT hash FROM web_passwords WHERE user_id = ?", "s",
                      user_id != NULL ? user_id : "");
  if (ok && *retry_after > 0)
    {
      /* Nothing was counted by the limited subject, but the other one may
       * have been: roll back so a refused attempt counts nowhere. */
      ts_tx_finish (tx, FALSE, NULL);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "too many failed sign-ins for this account or from this address: try again "
                   "in %" G_GINT64_FORMAT " seconds",
                   *retry_after);
      return NULL;
    }
  if (!ts_tx_finish (tx, ok, error))
    return NULL;

  /* 2. The slow check, with no transaction open. */
  if (!ts_web_verify (hash, password))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH, "wrong email or password");
      return NULL;
    }

  /* 3. Give the attempt back and open the session. */
  char *token = ts_web_token (TS_WEB_SESSION_PREFIX);
  g_autofree char *token_hash = ts_web_hash_token (token);
  tx = ts_tx_begin (store, TS_TX_WRITE, error);
  ok = tx != NULL
       && ts_tx_exec (tx, error, NULL, "DELETE FROM web_login_failures WHERE subject = ?", "s",
                      account)
       && ts_tx_exec (
           tx, error, NULL,
           "UPDATE web_login_failures SET count = CASE WHEN count > 0 THEN count - 1 ELSE 0 END"
           " WHERE subject = ?",
           "s", client)
       && (*session = ts_web_new_session (tx, user_id, token_hash, now, error)) != NULL;
  if (tx == NULL || !ts_tx_finish (tx, ok, error))
    {
      g_clear_pointer (session, ts_web_session_free);
      sodium_memzero (token, strlen (token));
      g_clear_pointer (&token, g_free);
    }
  return token;
}

TsWebSession *
ts_store_web_session (TsStore *store, const char *token, gint64 now, GError **error)
{
  if (!ts_web_token_valid (token, TS_WEB_SESSION_PREFIX))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "not a Tessera web session: sign in again");
      return NULL;
    }
  g_autofree char *hash = ts_web_hash_token (token);
  TsTx *tx = ts_tx_begin (store, TS_TX_READ, error);
  if (tx == NULL)
    return NULL;
  TsWebSession *s = NULL;
  TsRows *rows = ts_tx_rows (tx, error,
                             "SELECT s.user_id, u.email, s.csrf, s.expires_at FROM web_sessions s"
                             " JOIN users u ON u.id = s.user_id WHERE s.hash = ?",
                             "s", hash);
  gboolean ok = rows != NULL;
  if (ok && ts_rows_next (rows, error))
    {
      s = g_new0 (TsWebSession, 1);
      s->user_id = ts_rows_strdup (rows, 0);
      s->email = ts_rows_strdup (rows, 1);
      s->csrf = ts_rows_strdup (rows, 2);
      s->expires_at = ts_rows_int (rows, 3);
    }
  ok = ok && ts_rows_ok (rows);
  ts_rows_free (rows);
  if (ok && s == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "your web session has ended (signed out or unknown): sign in again");
      ok = FALSE;
    }
  else if (ok && s->expires_at <= now)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "your web session has expired: sign in again");
      ok = FALSE;
    }
  if (!ts_tx_finish (tx, ok, error) || !ok)
    g_clear_pointer (&s, ts_web_session_free);
  return s;
}

gboolean
ts_store_web_logout (TsStore *store, const char *token, GError **error)
{
  if (!ts_web_token_valid (token, TS_WEB_SESSION_PREFIX))
    return TRUE; /* nothing to end */
  g_autofree char *hash = ts_web_hash_token (token);
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  gboolean ok = ts_tx_exec (tx, error, NULL, "DELETE FROM web_sessions WHERE hash = ?", "s", hash);
  return ts_tx_finish (tx, ok, error);
}

char *
ts_store_web_invite (TsStore *store, const char *actor, const char *org_id, const char *email,
                     TsRole role, gint64 now, char **user_id_out, GError **error)
{
  if (!ts_check_email_and_role (email, role, error))
    return NULL;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  TsRole actor_role = TS_ROLE_MEMBER;
  g_autofree char *user_id = NULL;
  gint64 old_role = -1;
  gboolean found = FALSE;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, &actor_role, error);
  if (ok && actor_role != TS_ROLE_OWNER)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "only an owner of organization %s may invite members", org_id);
      ok = FALSE;
    }
  ok = ok && ts_tx_str (tx, error, &user_id, ts_tx_sql (tx, TS_SQL_USER_BY_EMAIL), "s", email);
  if (ok && user_id == NULL)
    {
      user_id = ts_new_id ();
      ok = ts_tx_exec (tx, error, NULL,
                       "INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)", "ssi", user_id,
                       email, now);
    }
  ok = ok
       && ts_tx_int (tx, error, &old_role, &found,
                     "SELECT role FROM members WHERE org_id = ? AND user_id = ?", "ss", org_id,
                     user_id);
  if (ok && found && old_role == TS_ROLE_OWNER && role != TS_ROLE_OWNER)
    {
      /* Demoting an owner goes through the members endpoint and its
       * last-owner rule, not through an invitation. */
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "%s is already an owner of organization %s: change roles under Members", email,
                   org_id);
      ok = FALSE;
    }
  /* The membership waits for the acceptance (ts_store_web_accept_invite):
   * until then the account's organizations, and so its activations, are
   * what they were. */
  char *token = ts_web_token (TS_WEB_INVITE_PREFIX);
  g_autofree char *hash = ts_web_hash_token (token);
  ok = ok
       && ts_tx_exec (
           tx, error, NULL,
           "INSERT INTO web_invites (hash, user_id, org_id, role, created_by, created_at,"
           " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
           "sssisii", hash, user_id, org_id, (gint64) role, actor, now, now + TS_WEB_INVITE_SECONDS)
       && ts_tx_audit (tx, now, org_id, actor, "member.invite", user_id, ts_role_to_string (role),
                       error);
  if (!ts_tx_finish (tx, ok, error))
    {
      sodium_memzero (token, strlen (token));
      g_clear_pointer (&token, g_free);
    }
  else if (user_id_out != NULL)
    *user_id_out = g_steal_pointer (&user_id);
  return token;
}

/* The invitation hashed @hash if it can still be used: its user, org and
 * role; else AUTH. */
static gboolean
ts_web_load_invite (TsTx *tx, const char *hash, gint64 now, gboolean lock, char **user_id,
                    char **org_id, gint64 *role, GError **error)
{
  gint64 expires = 0, used = 0;
  gboolean found = FALSE;
  gboolean ok
      = ts_tx_int (tx, error, &used, &found,
                   lock && ts_tx_row_locks (tx)
                       ? "SELECT coalesce (used_at, 0) FROM web_invites WHERE hash = ? FOR UPDATE"
                       : "SELECT coalesce (used_at, 0) FROM web_invites WHERE hash = ?",
                   "s", hash)
        && ts_tx_str (tx, error, user_id, "SELECT user_id FROM web_invites WHERE hash = ?", "s",
                      hash)
        && ts_tx_str (tx, error, org_id, "SELECT org_id FROM web_invites WHERE hash = ?", "s", hash)
        && ts_tx_int (tx, error, role, NULL,
                      "SELECT coalesce (role, -1) FROM web_invites WHERE hash = ?", "s", hash)
        && ts_tx_int (tx, error, &expires, NULL,
                      "SELECT expires_at FROM web_invites WHERE hash = ?", "s", hash);
  if (ok && (!found || *user_id == NULL || used > 0 || expires <= now || *role < 0))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "this invitation is unknown, already used or expired: ask your organization's "
                   "owner for a new one");
      ok = FALSE;
    }
  return ok;
}

char *
ts_store_web_accept_invite (TsStore *store, const char *invite_token, const char *password,
                            gint64 now, TsWebSession **session, GError **error)
{
  *session = NULL;
  if (!ts_web_token_valid (invite_token, TS_WEB_INVITE_PREFIX))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "not a Tessera invitation: ask your organization's owner for a new link");
      return NULL;
    }
  if (password == NULL || strlen (password) > TS_WEB_PASSWORD_MAX)
    {
      ts_web_check_password (password, error);
      return NULL;
    }
  g_auto (TsWebHashSlot) slot = 0;
  if (!ts_web_hash_enter (&slot, error))
    return NULL;
  g_autofree char *hash = ts_web_hash_token (invite_token);

  /* 1. Whose account is it? One that someone holds proves it is theirs
   * with its current password: the attempt is counted first, as a
   * sign-in's. */
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  g_autofree char *user_id = NULL, *org_id = NULL, *email = NULL, *old_hash = NULL;
  g_autofree char *subject = NULL;
  gint64 role = 0, retry_after = 0;
  gboolean held = FALSE;
  gboolean ok
      = ts_web_load_invite (tx, hash, now, FALSE, &user_id, &org_id, &role, error)
        && ts_tx_account_held (tx, user_id, org_id, &held, error)
        && ts_tx_str (tx, error, &email, "SELECT email FROM users WHERE id = ?", "s", user_id)
        && ts_tx_str (tx, error, &old_hash, "SELECT hash FROM web_passwords WHERE user_id = ?", "s",
                      user_id);
  if (ok && held)
    ok = (subject = ts_web_account_subject (email)) != NULL
         && ts_web_count_attempt (tx, subject, TS_WEB_FAIL_MAX_ACCOUNT, now, &retry_after, error);
  if (!ts_tx_finish (tx, ok, error))
    return NULL;
  if (retry_after > 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "too many failed sign-ins for this account: try again in %" G_GINT64_FORMAT
                   " seconds",
                   retry_after);
      return NULL;
    }

  /* 2. The slow part, with no transaction open. */
  g_autofree char *pw_hash = NULL;
  if (held && !ts_web_verify (old_hash, password))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
                   "%s already has a Tessera account: to accept, enter that account's current "
                   "password (accepting never changes it; an account without one gets it from "
                   "the server's administrator: tessera-admin password set)",
                   email);
      return NULL;
    }
  if (!held
      && (!ts_web_check_password (password, error)
          || (pw_hash = ts_web_hash_password (password, error)) == NULL))
    return NULL;

  /* 3. Join, once, if nothing changed meanwhile. */
  char *token = ts_web_token (TS_WEB_SESSION_PREFIX);
  g_autofree char *token_hash = ts_web_hash_token (token);
  g_autofree char *again_user = NULL, *again_org = NULL, *again_hash = NULL;
  gint64 again_role = 0;
  gboolean again_held = FALSE;
  const char *role_name = ts_role_to_string ((TsRole) role);
  tx = ts_tx_begin (store, TS_TX_WRITE, error);
  ok = tx != NULL
       && ts_web_load_invite (tx, hash, now, TRUE, &again_user, &again_org, &again_role, error)
       && ts_tx_account_held (tx, user_id, org_id, &again_held, error)
       && ts_tx_str (tx, error, &again_hash, "SELECT hash FROM web_passwords WHERE user_id = ?",
                     "s", user_id);
  if (ok && (again_held != held || g_strcmp0 (again_hash, old_hash) != 0))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "the account changed while the invitation was being accepted: try again");
      ok = FALSE;
    }
  ok = ok
       && ts_tx_exec (tx, error, NULL,
                      "UPDATE web_invites SET used_at = ? WHERE hash = ? AND used_at IS NULL", "is",
                      now, hash)
       && ts_tx_exec (tx, error, NULL,
                      "INSERT INTO members (org_id, user_id, role) VALUES (?, ?, ?)"
                      " ON CONFLICT (org_id, user_id) DO UPDATE SET role = CASE WHEN excluded.role "
                      "> members.role"
                      " THEN excluded.role ELSE members.role END",
                      "ssi", org_id, user_id, role)
       && ts_tx_audit_account (tx, now, user_id, org_id, user_id, "member.join", role_name, error)
       && (held
           || (ts_tx_exec (tx, error, NULL,
                           "INSERT INTO web_passwords (user_id, hash, set_at) VALUES (?, ?, ?)",
                           "ssi", user_id, pw_hash, now)
               && ts_tx_audit_account (tx, now, user_id, NULL, user_id, "password.set",
                                       "invitation", error)))
       && ts_tx_exec (tx, error, NULL, "DELETE FROM web_login_failures WHERE subject = ?", "s",
                      subject)
       && (*session = ts_web_new_session (tx, user_id, token_hash, now, error)) != NULL;
  if (tx == NULL || !ts_tx_finish (tx, ok, error))
    {
      g_clear_pointer (session, ts_web_session_free);
      sodium_memzero (token, strlen (token));
      g_clear_pointer (&token, g_free);
    }
  return token;
}

void
ts_my_license_free (TsMyLicense *l)
{
  if (l == NULL)
    return;
  g_free (l->org_id);
  g_free (l->pool_id);
  g_free (l->product);
  g_free (l->kind);
  g_free (l->machine_id);
  g_free (l);
}

/* Rows of (org_id, pool_id, product, kind, machine_id, granted_at,
 * started_at, last_heartbeat). */
static GPtrArray *
ts_web_my_rows (TsTx *tx, const char *sql, const char *user_id, gint64 now, GError **error)
{
  g_autoptr (TsRows) rows = ts_tx_rows (tx, error, sql, "si", user_id, now);
  if (rows == NULL)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_my_license_free);
  while (ts_rows_next (rows, error))
    {
      TsMyLicense *l = g_new0 (TsMyLicense, 1);
      l->org_id = ts_rows_strdup (rows, 0);
      l->pool_id = ts_rows_strdup (rows, 1);
      l->product = ts_rows_strdup (rows, 2);
      l->kind = ts_rows_strdup (rows, 3);
      l->machine_id = ts_rows_strdup (rows, 4);
      l->granted_at = ts_rows_int (rows, 5);
      l->started_at = ts_rows_int (rows, 6);
      l->last_heartbeat = ts_rows_int (rows, 7);
      g_ptr_array_add (out, l);
    }
  if (!ts_rows_ok (rows))
    g_clear_pointer (&out, g_ptr_array_unref);
  return out;
}

gboolean
ts_store_web_my_licenses (TsStore *store, const char *user_id, gint64 now, GPtrArray **grants,
                          GPtrArray **sessions, GError **error)
{
  *grants = *sessions = NULL;
  if (!ts_check_id ("user_id", user_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_READ, error);
  if (tx == NULL)
    return FALSE;
  /* Only orgs the user is still a member of: a removed member sees nothing. */
  *grants = ts_web_my_rows (tx,
                            "SELECT p.org_id, p.id, p.product, p.kind, NULL, g.granted_at, 0, 0"
                            " FROM grants g JOIN pools p ON p.id = g.pool_id"
                            " JOIN members m ON m.org_id = p.org_id AND m.user_id = g.user_id"
                            " WHERE g.user_id = ? AND ? >= 0 ORDER BY p.org_id, p.product, p.kind",
                            user_id, now, error);
  if (*grants != NULL)
    *sessions
        = ts_web_my_rows (tx,
                          "SELECT p.org_id, p.id, p.product, p.kind, s.machine_id, 0, s.started_at,"
                          " s.last_heartbeat FROM sessions s JOIN pools p ON p.id = s.pool_id"
                          " JOIN members m ON m.org_id = p.org_id AND m.user_id = s.user_id"
                          " WHERE s.user_id = ? AND s.ended_at IS NULL AND s.lease_expires_at > ?"
                          " ORDER BY s.started_at",
                          user_id, now, error);
  gboolean ok = *grants != NULL && *sessions != NULL;
  if (!ts_tx_finish (tx, ok, error) || !ok)
    {
      g_clear_pointer (grants, g_ptr_array_unref);
      g_clear_pointer (sessions, g_ptr_array_unref);
      return FALSE;
    }
  return TRUE;
}
