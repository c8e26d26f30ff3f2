/* API keys in the system keyring through libsecret (testops-keyring.h,
 * docs/testops.md "Credentials").
 *
 * Only libsecret's synchronous calls are used: each runs a private main
 * context in the calling thread, so the caller's main context is never
 * iterated and nothing is dispatched behind its back. libsecret keeps one
 * shared SecretService proxy (guarded inside libsecret), which is what makes
 * calls from several threads safe. */
#include "testops-keyring.h"

#include <tessera/tessera.h>

#include <libsecret/secret.h>
#include <string.h>

/* Changing the name or the attributes orphans every stored key: keep them. */
static const SecretSchema api_key_schema = {
  .name = "org.tessera.ApiKey",
  .flags = SECRET_SCHEMA_NONE,
  .attributes = {
      { "server", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "org", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
  },
};

void
testops_keyring_key_free (char *key)
{
  if (key != NULL)
    secret_password_free (key); /* wipes before freeing */
}

static gboolean
is_unreachable (const GError *src)
{
  return src->domain == G_IO_ERROR || src->domain == G_DBUS_ERROR;
}

char *
testops_keyring_describe (const GError *src)
{
  g_autofree char *reason = g_strdup (src->message);
  /* D-Bus errors may span lines; a notice is one. */
  g_strdelimit (reason, "\r\n", ' ');
  return g_strdup_printf ("%s (%s)",
                          is_unreachable (src) ? "no Secret Service is reachable"
                                               : "the system keyring refused",
                          g_strstrip (reason));
}

/* A keyring failure is TESSERA_ERROR_AUTH (the key cannot be had or kept),
 * with the ways out: a key on the command line works for one run, a
 * running keyring keeps it, env-only stops looking for one. */
void
testops_keyring_set_error (GError **error, const char *server, const char *what, const GError *src)
{
  g_autofree char *why = testops_keyring_describe (src);
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
               "%s: cannot %s the API key for the license server %s in the system keyring. "
               "Give the key with --api-key or the TESSERA_API_KEY environment variable (it is "
               "then used for that run, and never written anywhere), run where a Secret Service "
               "is reachable on the D-Bus session bus to keep it (a desktop session, or "
               "gnome-keyring-daemon --unlock), or set key-storage=env-only in "
               "[provider:testops] to never look for one",
               why, what, server);
}

gboolean
testops_keyring_lookup (const char *server, const char *org, char **key, GError **error)
{
  g_return_val_if_fail (server != NULL && key != NULL, FALSE);
  *key = NULL;
  g_autoptr (GError) local_error = NULL;
  char *found = NULL;
  if (org != NULL)
    found = secret_password_lookup_sync (&api_key_schema, NULL, &local_error, "server", server,
                                         "org", org, NULL);
  if (found == NULL && local_error == NULL)
    found
        = secret_password_lookup_sync (&api_key_schema, NULL, &local_error, "server", server, NULL);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  *key = found;
  return TRUE;
}

gboolean
testops_keyring_store (const char *server, const char *org, const char *key, GError **error)
{
  g_return_val_if_fail (server != NULL && org != NULL && key != NULL, FALSE);
  g_autofree char *label = *org != '\0'
                               ? g_strdup_printf ("Tessera API key for %s (%s)", server, org)
                               : g_strdup_printf ("Tessera API key for %s", server);
  return secret_password_store_sync (&api_key_schema, SECRET_COLLECTION_DEFAULT, label, key, NULL,
                                     error, "server", server, "org", org, NULL);
}

/* Forgetting talks to the Secret Service directly (its SearchItems and
 * Item.Delete calls, freedesktop Secret Service API 0.2): libsecret 0.20.5's
 * search and clear build an item proxy per match in a private main context
 * and leak part of each (seen under valgrind). Lookups and stores, which
 * build none, go through libsecret. */
#define SECRETS_NAME "org.freedesktop.secrets"

/* Deletes every unlocked item of the schema holding a key for @server.
 * *@n: how many. Items in a locked collection cannot be deleted without a
 * prompt: they are an error, so that a person knows a key remains. */
static gboolean
delete_items (const char *server, guint *n, GError **error)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, error);
  if (bus == NULL)
    return FALSE;
  GVariantBuilder attrs;
  g_variant_builder_init (&attrs, G_VARIANT_TYPE ("a{ss}"));
  g_variant_builder_add (&attrs, "{ss}", "xdg:schema", api_key_schema.name);
  g_variant_builder_add (&attrs, "{ss}", "server", server);
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      bus, SECRETS_NAME, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service",
      "SearchItems", g_variant_new ("(a{ss})", &attrs), G_VARIANT_TYPE ("(aoao)"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
  if (reply == NULL)
    return FALSE;
  g_autoptr (GVariant) unlocked = g_variant_get_child_value (reply, 0);
  g_autoptr (GVariant) locked = g_variant_get_child_value (reply, 1);
  for (gsize i = 0; i < g_variant_n_children (unlocked); i++)
    {
      const char *path = NULL;
      g_variant_get_child (unlocked, i, "&o", &path);
      g_autoptr (GVariant) deleted = g_dbus_connection_call_sync (
          bus, SECRETS_NAME, path, "org.freedesktop.Secret.Item", "Delete", NULL,
          G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
      if (deleted == NULL)
        return FALSE;
      const char *prompt = NULL;
      g_variant_get (deleted, "(&o)", &prompt);
      /* "/" means done; anything else asks a person first (never for an
       * unlocked item in practice): the key stays. */
      if (!g_str_equal (prompt, "/"))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                       "the keyring wants a confirmation to delete %s", path);
          return FALSE;
        }
      (*n)++;
    }
  if (g_variant_n_children (locked) > 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "%" G_GSIZE_FORMAT " key(s) are in a locked keyring: unlock it and forget "
                   "again",
                   g_variant_n_children (locked));
      return FALSE;
    }
  return TRUE;
}

gboolean
testops_keyring_forget (const char *server, guint *n_forgotten, GError **error)
{
  g_return_val_if_fail (server != NULL && n_forgotten != NULL, FALSE);
  *n_forgotten = 0;
  g_autoptr (GError) local_error = NULL;
  if (!delete_items (server, n_forgotten, &local_error))
    {
      testops_keyring_set_error (error, server, "forget", local_error);
      return FALSE;
    }
  return TRUE;
}
