/* tessera-store: organizations, users, members and API keys. */
#include "db.h"

#include <sodium.h>
#include <string.h>

#define TS_API_KEY_PREFIX "tsk_"
#define TS_API_KEY_LEN (4 + 43)
#define TS_API_KEY_DISPLAY 8

/* The id of the user with @email, created if new. Insert-or-nothing, then
 * read: two server instances adding the same new user at once both end up
 * with the one row (emails are unique whatever their case). */
static char *
ts_ensure_user (TsTx *tx, const char *email, gint64 now, GError **error)
{
  char *id = NULL;
  if (!ts_tx_str (tx, error, &id, ts_tx_sql (tx, TS_SQL_USER_BY_EMAIL), "s", email))
    return NULL;
  if (id != NULL)
    return id;
  g_autofree char *new_id = ts_new_id ();
  if (!ts_tx_exec (tx, error, NULL,
                   "INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)"
                   " ON CONFLICT DO NOTHING",
                   "ssi", new_id, email, now)
      || !ts_tx_str (tx, error, &id, ts_tx_sql (tx, TS_SQL_USER_BY_EMAIL), "s", email))
    return NULL;
  if (id == NULL)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                 "the user %s was removed while being added: try again", email);
  return id;
}

static gboolean
ts_count_owners (TsTx *tx, const char *org_id, gint64 *out, GError **error)
{
  return ts_tx_int (tx, error, out, NULL,
                    "SELECT count(*) FROM members WHERE org_id = ? AND role = ?", "si", org_id,
                    (gint64) TS_ROLE_OWNER);
}

char *
ts_store_bootstrap_org (TsStore *store, const char *org_id, const char *org_name,
                        const char *owner_email, gint64 now, GError **error)
{
  if (!ts_check_org_id (org_id, error) || !ts_check_email (owner_email, error))
    return NULL;
  if (org_name == NULL || *org_name == '\0' || strlen (org_name) > 200
      || !g_utf8_validate (org_name, -1, NULL))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "invalid org_name: 1 to 200 bytes of UTF-8");
      return NULL;
    }
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  char *user_id = NULL;
  gint64 exists = 0;
  gboolean ok
      = ts_tx_int (tx, error, &exists, NULL, "SELECT count(*) FROM orgs WHERE id = ?", "s", org_id);
  if (ok && exists)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "organization %s already exists", org_id);
      ok = FALSE;
    }
  ok = ok
       && ts_tx_exec (tx, error, NULL, "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)",
                      "ssi", org_id, org_name, now)
       && (user_id = ts_ensure_user (tx, owner_email, now, error)) != NULL
       && ts_tx_exec (tx, error, NULL,
                      "INSERT INTO members (org_id, user_id, role) VALUES (?, ?, ?)", "ssi", org_id,
                      user_id, (gint64) TS_ROLE_OWNER)
       && ts_tx_audit (tx, now, org_id, NULL, "org.create", org_id, owner_email, error);
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&user_id, g_free);
  return user_id;
}

char *
ts_store_set_member (TsStore *store, const char *actor, const char *org_id, const char *email,
                     TsRole role, gint64 now, GError **error)
{
  if (!ts_check_email_and_role (email, role, error))
    return NULL;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return NULL;
  TsRole actor_role = TS_ROLE_MEMBER;
  char *user_id = NULL;
  gint64 old_role = -1, owners = 0;
  gboolean found = FALSE;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, &actor_role, error)
                && (user_id = ts_ensure_user (tx, email, now, error)) != NULL
                && ts_tx_int (tx, error, &old_role, &found,
                              "SELECT role FROM members WHERE org_id = ? AND user_id = ?", "ss",
                              org_id, user_id)
                && ts_count_owners (tx, org_id, &owners, error);
  gboolean held = FALSE;
  if (ok && !found)
    {
      old_role = -1;
      ok = actor == NULL || ts_tx_account_held (tx, user_id, org_id, &held, error);
    }
  if (ok && held)
    {
      /* Joining would change what the account's other organizations see
       * (its activations without an org would need one): only its holder
       * may agree to that. */
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "%s already has a Tessera account, which joins organization %s only by "
                   "accepting an invitation with its own password: an owner invites it "
                   "(Members > Invite, or POST /api/v1/orgs/%s/invites)",
                   email, org_id, org_id);
      ok = FALSE;
    }
  if (ok && (role == TS_ROLE_OWNER || old_role == TS_ROLE_OWNER) && actor_role != TS_ROLE_OWNER)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "only an owner may make or unmake owners of organization %s", org_id);
      ok = FALSE;
    }
  if (ok && old_role == TS_ROLE_OWNER && role != TS_ROLE_OWNER && owners <= 1)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "%s is the last owner of organization %s: make another owner first", email,
                   org_id);
      ok = FALSE;
    }
  ok = ok
       && ts_tx_exec (tx, error, NULL,
                      "INSERT INTO members (org_id, user_id, role) VALUES (?, ?, ?)"
                      " ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                      "ssi", org_id, user_id, (gint64) role)
       && ts_tx_audit_account (tx, now, user_id, org_id, actor, "member.set",
                               ts_role_to_string (role), error);
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&user_id, g_free);
  return user_id;
}

gboolean
ts_store_remove_member (TsStore *store, const char *actor, const char *org_id, const char *user_id,
                        gint64 now, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  TsRole actor_role = TS_ROLE_MEMBER;
  gint64 role = 0, owners = 0;
  gboolean found = FALSE;
  gboolean ok = ts_tx_require_admin (tx, actor, org_id, &actor_role, error)
                && ts_tx_int (tx, error, &role, &found,
                              "SELECT role FROM members WHERE org_id = ? AND user_id = ?", "ss",
                              org_id, user_id)
                && ts_count_owners (tx, org_id, &owners, error);
  if (ok && !found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
                   "%s is not a member of organization %s", user_id, org_id);
      ok = FALSE;
    }
  if (ok && role == TS_ROLE_OWNER && actor_role != TS_ROLE_OWNER)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "only an owner may remove an owner of organization %s", org_id);
      ok = FALSE;
    }
  if (ok && role == TS_ROLE_OWNER && owners <= 1)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "the last owner of organization %s cannot be removed", org_id);
      ok = FALSE;
    }
  ok = ok
       && ts_tx_exec (tx, error, NULL,
                      "UPDATE sessions SET ended_at = ?, end_code = ?,"
                      " end_reason = 'member removed from organization ' || ?"
                      " WHERE user_id = ? AND ended_at IS NULL"
                      " AND pool_id IN (SELECT id FROM pools WHERE org_id = ?)",
                      "iisss", now, (gint64) TESSERA_ERROR_TERMINATED, org_id, user_id, org_id)
       && ts_tx_exec (tx, error, NULL,
                      "DELETE FROM grants WHERE user_id = ?"
                      " AND pool_id IN (SELECT id FROM pools WHERE org_id = ?)",
                      "ss", user_id, org_id)
       && ts_tx_exec (
           tx, error, NULL,
           "DELETE FROM machines WHERE user_id = ?"
           " AND pool_id IN (SELECT id FROM pools WHERE org_id = ? AND kind = 'node-locked')",
           "ss", user_id, org_id)
       && ts_tx_exec (tx, error, NULL, "DELETE FROM members WHERE org_id = ? AND user_id = ?", "ss",
                      org_id, user_id)
       && ts_tx_audit_account (tx, now, user_id, org_id, actor, "member.remove", NULL, error);
  return ts_tx_finish (tx, ok, error);
}

static gpointer
ts_member_from_row (TsRows *rows)
{
  TsMember *m = g_new0 (TsMember, 1);
  m->user_id = ts_rows_strdup (rows, 0);
  m->email = ts_rows_strdup (rows, 1);
  m->role = (TsRole) ts_rows_int (rows, 2);
  return m;
}

GPtrArray *
ts_store_list_members (TsStore *store, const char *actor, const char *org_id, GError **error)
{
  return ts_tx_list_rows (store, actor, org_id, NULL, ts_member_from_row,
                          (GDestroyNotify) ts_member_free, error,
                          "SELECT u.id, u.email, m.role FROM members m"
                          " JOIN users u ON u.id = m.user_id WHERE m.org_id = ?"
                          " ORDER BY u.email",
                          "s", org_id);
}

static gpointer
ts_org_from_row (TsRows *rows)
{
  TsOrg *o = g_new0 (TsOrg, 1);
  o->id = ts_rows_strdup (rows, 0);
  o->name = ts_rows_strdup (rows, 1);
  o->role = (TsRole) ts_rows_int (rows, 2);
  return o;
}

GPtrArray *
ts_store_list_user_orgs (TsStore *store, const char *user_id, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return NULL;
  /* The user's own organizations: no admin check. */
  return ts_tx_list_rows (store, NULL, NULL, NULL, ts_org_from_row, (GDestroyNotify) ts_org_free,
                          error,
                          "SELECT o.id, o.name, m.role FROM members m"
                          " JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?"
                          " ORDER BY o.id",
                          "s", user_id);
}

gboolean
ts_store_get_role (TsStore *store, const char *org_id, const char *user_id, TsRole *role,
                   GError **error)
{
  if (!ts_check_org_id (org_id, error) || !ts_check_id ("user_id", user_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_READ, error);
  if (tx == NULL)
    return FALSE;
  gint64 v = 0;
  gboolean found = FALSE;
  gboolean ok = ts_tx_int (tx, error, &v, &found,
                           "SELECT role FROM members WHERE org_id = ? AND user_id = ?", "ss",
                           org_id, user_id);
  if (ok && !found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED,
                   "you are not a member of organization %s", org_id);
      ok = FALSE;
    }
  ok = ts_tx_finish (tx, ok, error);
  if (ok && role != NULL)
    *role = (TsRole) v;
  return ok;
}

char *
ts_store_get_user_email (TsStore *store, const char *user_id, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return NULL;
  TsTx *tx = ts_tx_begin (store, TS_TX_READ, error);
  if (tx == NULL)
    return NULL;
  char *email = NULL;
  gboolean ok = ts_tx_str (tx, error, &email, "SELECT email FROM users WHERE id = ?", "s", user_id);
  if (ok && email == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "no user %s", user_id);
      ok = FALSE;
    }
  if (!ts_tx_finish (tx, ok, error))
    g_clear_pointer (&email, g_free);
  return email;
}

/* ---- API keys ---- */

/* Lowercase hex SHA-256, as g_compute_checksum_for_string() wrote it (the
 * stored hashes), without a GChecksum per request. */
static char *
ts_key_hash (const char *key)
{
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256 (digest, (const unsigned char *) key, strlen (key));
  char *hex = g_malloc (2 * sizeof digest + 1);
  sodium_bin2hex (hex, 2 * sizeof digest + 1, digest, sizeof digest);
  return hex;
}

char *
ts_store_create_api_key (TsStore *store, const char *user_id, const char *label, gint64 now,
                         char **key_id, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return NULL;
  if (label == NULL || strlen (label) > 200 || !g_utf8_validate (label, -1, NULL))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "invalid label: at most 200 bytes of UTF-8");
      return NULL;
    }
  unsigned char raw[32];
  char b64[sodium_base64_ENCODED_LEN (32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  randombytes_buf (raw, sizeof raw);
  sodium_bin2base64 (b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero (raw, sizeof raw);
  char *key = g_strconcat (TS_API_KEY_PREFIX, b64, NULL);
  sodium_memzero (b64, sizeof b64);
  g_assert (strlen (key) == TS_API_KEY_LEN);
  char *hash = ts_key_hash (key);
  char *prefix = g_strndup (key, TS_API_KEY_DISPLAY);
  char *id = ts_new_id ();

  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  gboolean ok = tx != NULL;
  if (ok)
    {
      gint64 exists = 0;
      ok = ts_tx_int (tx, error, &exists, NULL, "SELECT count(*) FROM users WHERE id = ?", "s",
                      user_id);
      if (ok && !exists)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "no user %s", user_id);
          ok = FALSE;
        }
      ok = ok
           && ts_tx_exec (tx, error, NULL,
                          "INSERT INTO api_keys (id, user_id, label, prefix, hash, created_at)"
                          " VALUES (?, ?, ?, ?, ?, ?)",
                          "sssssi", id, user_id, label, prefix, hash, now)
           && ts_tx_audit (tx, now, NULL, user_id, "key.create", id, label, error);
      ok = ts_tx_finish (tx, ok, error);
    }
  g_free (hash);
  g_free (prefix);
  if (!ok)
    {
      g_free (id);
      g_free (key);
      return NULL;
    }
  if (key_id != NULL)
    *key_id = id;
  else
    g_free (id);
  return key;
}

gboolean
ts_store_revoke_api_key (TsStore *store, const char *user_id, const char *key_id, gint64 now,
                         GError **error)
{
  if (!ts_check_id ("user_id", user_id, error) || !ts_check_id ("key_id", key_id, error))
    return FALSE;
  TsTx *tx = ts_tx_begin (store, TS_TX_WRITE, error);
  if (tx == NULL)
    return FALSE;
  gint64 revoked_at = 0;
  gboolean found = FALSE;
  gboolean ok = ts_tx_int (tx, error, &revoked_at, &found,
                           "SELECT revoked_at FROM api_keys WHERE id = ? AND user_id = ?", "ss",
                           key_id, user_id);
  if (ok && !found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "you have no API key %s", key_id);
      ok = FALSE;
    }
  if (ok && revoked_at == 0)
    ok = ts_tx_exec (tx, error, NULL, "UPDATE api_keys SET revoked_at = ? WHERE id = ?", "is", now,
                     key_id)
         && ts_tx_audit (tx, now, NULL, user_id, "key.revoke", key_id, NULL, error);
  return ts_tx_finish (tx, ok, error);
}

static gpointer
ts_api_key_from_row (TsRows *rows)
{
  TsApiKey *k = g_new0 (TsApiKey, 1);
  k->id = ts_rows_strdup (rows, 0);
  k->label = ts_rows_strdup (rows, 1);
  k->prefix = ts_rows_strdup (rows, 2);
  k->created_at = ts_rows_int (rows, 3);
  k->revoked_at = ts_rows_int (rows, 4);
  return k;
}

GPtrArray *
ts_store_list_api_keys (TsStore *store, const char *user_id, GError **error)
{
  if (!ts_check_id ("user_id", user_id, error))
    return NULL;
  /* The user's own keys: no admin check. */
  return ts_tx_list_rows (store, NULL, NULL, NULL, ts_api_key_from_row,
                          (GDestroyNotify) ts_api_key_free, error,
                          "SELECT id, label, prefix, created_at, revoked_at FROM api_keys"
                          " WHERE user_id = ? ORDER BY created_at, id",
                          "s", user_id);
}

char *
ts_api_key_hash (const char *api_key, GError **error)
{
  if (api_key == NULL || strlen (api_key) != TS_API_KEY_LEN
      || !g_str_has_prefix (api_key, TS_API_KEY_PREFIX))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH, "not a Tessera API key");
      return NULL;
    }
  return ts_key_hash (api_key);
}

char *
ts_store_authenticate (TsStore *store, const char *api_key, GError **error)
{
  char *hash = ts_api_key_hash (api_key, error);
  if (hash == NULL)
    return NULL;
  /* One statement (TS_TX_ONE: on SQLite its own read transaction, BEGIN
   * and COMMIT around it were two more statements on every request). No
   * cache: a key revoked by another process (tessera-admin, another
   * instance) must fail at once. */
  TsTx *tx = ts_tx_begin (store, TS_TX_ONE, error);
  if (tx == NULL)
    {
      g_free (hash);
      return NULL;
    }
  char *user_id = ts_tx_key_user (tx, hash, error);
  g_free (hash);
  if (!ts_tx_finish (tx, user_id != NULL, error))
    g_clear_pointer (&user_id, g_free);
  return user_id;
}
