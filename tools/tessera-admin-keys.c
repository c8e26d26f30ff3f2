/* tessera-admin: the signing keys several tessera-server instances share
 * through their database, sealed with a key-encryption key (server/keys.h),
 * and the key that signs offline licenses either way. */
#include "tessera-admin.h"

#include "keys.h"

#include <stdio.h>

#define KEK_ENTRY                                                                                  \
  {                                                                                                \
    "key-encryption-key", 'K', 0, G_OPTION_ARG_FILENAME, &kek_path, NULL, NULL                     \
  }

/* A stored key that does not open with the key file is a key problem
 * (exit 2, as a file that is not a key); the rest as usual. */
static int
admin_fail_keys (const GError *error)
{
  if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_AUTH)
      || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED))
    return admin_fail (EXIT_IO, "%s", error->message);
  return admin_fail_error (error);
}

TesseraSigningKey *
admin_signing_key (TsStore *store, const char *key_dir, const char *kek_path, int *rc)
{
  g_autoptr (GError) error = NULL;
  if ((key_dir == NULL) == (kek_path == NULL))
    {
      *rc = admin_fail (EXIT_USAGE, "give either --key-dir DIR (keys in a directory) or "
                                    "--key-encryption-key FILE (keys sealed in the database)");
      return NULL;
    }
  TesseraSigningKey *key = NULL;
  if (key_dir != NULL)
    {
      /* Any problem with a directory of files is a file problem. */
      key = ts_keys_load_dir (key_dir, FALSE, &error);
      if (key == NULL)
        *rc = admin_fail (EXIT_IO, "%s", error->message);
      return key;
    }
  g_autoptr (TsKek) kek = ts_kek_load (kek_path, &error);
  if (kek == NULL)
    {
      *rc = admin_fail (EXIT_IO, "%s", error->message);
      return NULL;
    }
  key = ts_keys_load_db (store, kek, FALSE, &error);
  if (key == NULL)
    *rc = admin_fail_keys (error);
  return key;
}

static int
cmd_create_kek (const char *name, int argc, char **argv)
{
  g_autofree char *file = NULL;
  const GOptionEntry entries[] = {
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &file, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (file, "--file FILE");
  g_autoptr (GError) error = NULL;
  if (!ts_kek_create (file, &error))
    return admin_fail (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT)
                           ? EXIT_REFUSED /* it exists */
                           : EXIT_IO,
                       "%s", error->message);
  printf ("%s\n", file);
  return EXIT_OK;
}

static int
cmd_list (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = { ADMIN_JSON_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  int open_rc = EXIT_IO;
  g_autoptr (TsStore) store = admin_open (FALSE, &open_rc);
  if (store == NULL)
    return open_rc;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) rows = ts_store_list_signing_keys (store, &error);
  if (rows == NULL)
    return admin_fail_error (error);
  AdminTable *t = admin_table_new ("signing_keys", "stss", "id", "ID", "created_at", "CREATED",
                                   "signs", "SIGNS", "public_key", "PUBLIC KEY", NULL);
  for (guint i = 0; i < rows->len; i++)
    {
      const TsSigningKeyRow *row = g_ptr_array_index (rows, i);
      admin_table_add (t, row->id, row->created_at, i == 0 ? "yes" : "no", row->public_key);
    }
  return admin_table_print (t);
}

/* Stores @key sealed with the key of @kek_path as the newest; @create:
 * the database too, when there is none yet. */
static int
store_key (const char *kek_path, TesseraSigningKey *key, gboolean create)
{
  /* The key file first: a bad one must not leave a new database behind. */
  g_autoptr (GError) error = NULL;
  g_autoptr (TsKek) kek = ts_kek_load (kek_path, &error);
  if (kek == NULL)
    return admin_fail (EXIT_IO, "%s", error->message);
  int open_rc = EXIT_IO;
  g_autoptr (TsStore) store = admin_open (create, &open_rc);
  if (store == NULL)
    return open_rc;
  /* The stored keys must open with this key-encryption key: a key sealed
   * with another one would stop every instance from starting. */
  g_autoptr (TesseraSigningKey) current = ts_keys_load_db (store, kek, FALSE, &error);
  if (current == NULL && !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND))
    return admin_fail_keys (error);
  g_clear_error (&error);
  if (!ts_keys_store (store, kek, key, NULL, admin_now (), &error))
    return admin_fail_error (error);
  printf ("%s\n", tessera_signing_key_get_id (key));
  return EXIT_OK;
}

static int
cmd_rotate (const char *name, int argc, char **argv)
{
  g_autofree char *kek_path = NULL;
  const GOptionEntry entries[] = { KEK_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (kek_path, "--key-encryption-key FILE");
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  return store_key (kek_path, key, FALSE);
}

static int
cmd_import (const char *name, int argc, char **argv)
{
  g_autofree char *kek_path = NULL, *key_path = NULL;
  const GOptionEntry entries[] = {
    KEK_ENTRY,
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &key_path, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (kek_path, "--key-encryption-key FILE", key_path, "--key FILE");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_load (key_path, &error);
  if (key == NULL)
    return admin_fail (EXIT_IO, "%s", error->message);
  /* The first step of a new deployment: its database may not exist yet. */
  return store_key (kek_path, key, TRUE);
}

const AdminCommand admin_keys_commands[] = {
  { "signing-key create-kek", cmd_create_kek },
  { "signing-key list", cmd_list },
  { "signing-key rotate", cmd_rotate },
  { "signing-key import", cmd_import },
};
const guint admin_n_keys_commands = G_N_ELEMENTS (admin_keys_commands);
