/* The testops provider's API keys in the system keyring (libsecret, the
 * freedesktop Secret Service). Private to plugins/testops; docs/testops.md
 * documents the schema.
 *
 * Schema "org.tessera.ApiKey", attributes:
 *   server: the provider's server URL as configured, no trailing '/'
 *   org:    the organization the key was last used to activate in
 * One item per (server, org); the secret is the key (tsk_...).
 *
 * Threading: every function blocks on D-Bus (and may wait for a person to
 * unlock the keyring) in the calling thread, through libsecret's synchronous
 * API, which runs its own private main context: never the caller's. Call
 * them from the thread that asked for an activation, validation or release,
 * never from a heartbeat thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The config value of key-storage in [provider:testops]. */
typedef enum
{
  TESTOPS_KEY_STORAGE_KEYRING,  /* default: cache keys in the keyring, read them back */
  TESTOPS_KEY_STORAGE_ENV_ONLY, /* never touch the keyring: a key on every run */
} TestopsKeyStorage;

/**
 * testops_keyring_lookup:
 * @server: the server URL
 * @org: (nullable): the organization asked for: a key stored for it is
 *   preferred, else any key stored for @server
 * @key: (out) (transfer full) (nullable): the stored key, or NULL if none;
 *   free with testops_keyring_key_free()
 *
 * Returns: TRUE (with *@key NULL when nothing is stored), or FALSE with the
 *   keyring's own error (a GIO, D-Bus or libsecret domain) when no Secret
 *   Service can be reached or it refused: the caller decides whether that
 *   matters (a key given explicitly works without a keyring) and words it
 *   with testops_keyring_set_error() or testops_keyring_describe().
 */
gboolean testops_keyring_lookup (const char *server, const char *org, char **key, GError **error);

/**
 * testops_keyring_store:
 * @org: the organization the key just activated in ("" if unknown)
 *
 * Stores @key for (@server, @org) in the default collection, replacing an
 * item with the same attributes.
 *
 * Returns: TRUE, or FALSE with the keyring's own error (as for lookup).
 */
gboolean testops_keyring_store (const char *server, const char *org, const char *key,
                                GError **error);

/* Sets @error to TESSERA_ERROR_AUTH for a keyring failure @src while trying
 * to @what ("look up", "forget") the key of @server, naming the ways out. */
void testops_keyring_set_error (GError **error, const char *server, const char *what,
                                const GError *src);

/* Returns: (transfer full): @src in a few words on one line, for a notice:
 * "no Secret Service is reachable (REASON)" or "the system keyring refused
 * (REASON)". */
char *testops_keyring_describe (const GError *src);

/**
 * testops_keyring_forget:
 * @n_forgotten: (out): how many keys were removed
 *
 * Removes every key stored for @server, whatever its org.
 *
 * Returns: TRUE (also when there were none), or FALSE with TESSERA_ERROR_AUTH
 *   (worded by testops_keyring_set_error()).
 */
gboolean testops_keyring_forget (const char *server, guint *n_forgotten, GError **error);

/* Wipes and frees a key (NULL is fine). */
void testops_keyring_key_free (char *key);

G_END_DECLS
