/* tessera-store: the backend-independent part of web sign-in (tokens,
 * Argon2id password hashes), shared by store-web.c (SQLite) and
 * store-pg-web.c (PostgreSQL). */
#include "store-private.h"

#include <sodium.h>
#include <string.h>

char *
ts_web_token (const char *prefix)
{
  unsigned char raw[32];
  char b64[sodium_base64_ENCODED_LEN (32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  randombytes_buf (raw, sizeof raw);
  sodium_bin2base64 (b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero (raw, sizeof raw);
  char *token = g_strconcat (prefix, b64, NULL);
  sodium_memzero (b64, sizeof b64);
  return token;
}

/* A token is its prefix and 43 base64url characters; anything else is
 * refused before it reaches the database. */
gboolean
ts_web_token_valid (const char *token, const char *prefix)
{
  if (token == NULL || !g_str_has_prefix (token, prefix) || strlen (token) != strlen (prefix) + 43)
    return FALSE;
  for (const char *p = token + strlen (prefix); *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

char *
ts_web_hash_token (const char *token)
{
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);
}

gboolean
ts_web_check_password (const char *password, GError **error)
{
  if (password == NULL || strlen (password) > TS_WEB_PASSWORD_MAX
      || !g_utf8_validate (password, -1, NULL)
      || g_utf8_strlen (password, -1) < TS_WEB_PASSWORD_MIN)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "invalid password: %d to %d characters of UTF-8 (a passphrase of a few words "
                   "is easiest)",
                   TS_WEB_PASSWORD_MIN, TS_WEB_PASSWORD_MAX);
      return FALSE;
    }
  return TRUE;
}

/* Argon2id, interactive limits: the hash string carries its own salt and
 * parameters. */
char *
ts_web_hash_password (const char *password, GError **error)
{
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str (out, password, strlen (password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                         crypto_pwhash_MEMLIMIT_INTERACTIVE)
      != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "not enough memory to hash the password (nothing was changed)");
      return NULL;
    }
  return g_strdup (out);
}

/* A hash of a password nobody knows, checked for unknown accounts so that a
 * wrong email takes as long as a wrong password (no account enumeration by
 * timing). */
const char *
ts_web_dummy_hash (void)
{
  static gsize once = 0;
  static char *hash;
  if (g_once_init_enter (&once))
    {
      char pw[33];
      unsigned char raw[16];
      randombytes_buf (raw, sizeof raw);
      sodium_bin2hex (pw, sizeof pw, raw, sizeof raw);
      hash = ts_web_hash_password (pw, NULL);
      g_once_init_leave (&once, 1);
    }
  return hash != NULL ? hash : "";
}

gboolean
ts_web_verify (const char *hash, const char *password)
{
  if (hash == NULL || *hash == '\0')
    {
      ts_web_verify (ts_web_dummy_hash (), password);
      return FALSE;
    }
  return crypto_pwhash_str_verify (hash, password, strlen (password)) == 0;
}

char *
ts_web_account_subject (const char *email)
{
  g_autofree char *lower = g_ascii_strdown (email, -1);
  return g_strconcat ("account:", lower, NULL);
}

/* ---- the Argon2id slots ---- */

static GMutex ts_web_gate_lock;
static GCond ts_web_gate_free;
static guint ts_web_gate_running, ts_web_gate_waiting, ts_web_gate_peak, ts_web_gate_refused;

gboolean
ts_web_hash_enter (TsWebHashSlot *slot, GError **error)
{
  g_mutex_lock (&ts_web_gate_lock);
  if (ts_web_gate_running >= TS_WEB_HASH_SLOTS && ts_web_gate_waiting >= TS_WEB_HASH_QUEUE)
    {
      /* Waiting longer would hold a worker thread that an activation needs. */
      ts_web_gate_refused++;
      g_mutex_unlock (&ts_web_gate_lock);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "the server is busy checking other passwords: try again in a second");
      return FALSE;
    }
  ts_web_gate_waiting++;
  while (ts_web_gate_running >= TS_WEB_HASH_SLOTS)
    g_cond_wait (&ts_web_gate_free, &ts_web_gate_lock);
  ts_web_gate_waiting--;
  ts_web_gate_running++;
  ts_web_gate_peak = MAX (ts_web_gate_peak, ts_web_gate_running);
  g_mutex_unlock (&ts_web_gate_lock);
  *slot = 1;
  return TRUE;
}

void
ts_web_hash_leave (TsWebHashSlot slot)
{
  if (slot == 0)
    return;
  g_mutex_lock (&ts_web_gate_lock);
  g_assert (ts_web_gate_running > 0);
  ts_web_gate_running--;
  g_cond_signal (&ts_web_gate_free);
  g_mutex_unlock (&ts_web_gate_lock);
}

void
ts_store_web_hash_stats (guint *peak, guint *refused, gboolean reset)
{
  g_mutex_lock (&ts_web_gate_lock);
  if (peak != NULL)
    *peak = ts_web_gate_peak;
  if (refused != NULL)
    *refused = ts_web_gate_refused;
  if (reset)
    ts_web_gate_peak = ts_web_gate_refused = 0;
  g_mutex_unlock (&ts_web_gate_lock);
}
