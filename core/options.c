#include "tessera-private.h"

struct _TesseraActivateOptions
{
  gatomicrefcount ref_count;
  GHashTable *values;
};

TesseraActivateOptions *
tessera_activate_options_new (void)
{
  TesseraActivateOptions *options = g_new0 (TesseraActivateOptions, 1);
  g_atomic_ref_count_init (&options->ref_count);
  options->values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return options;
}

TesseraActivateOptions *
tessera_activate_options_ref (TesseraActivateOptions *options)
{
  g_return_val_if_fail (options != NULL, NULL);
  g_atomic_ref_count_inc (&options->ref_count);
  return options;
}

void
tessera_activate_options_unref (TesseraActivateOptions *options)
{
  g_return_if_fail (options != NULL);
  if (!g_atomic_ref_count_dec (&options->ref_count))
    return;
  /* Values may be credentials: wipe them before the allocator reuses the memory. */
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, options->values);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    memset (value, 0, strlen (value));
  g_hash_table_unref (options->values);
  g_free (options);
}

void
tessera_activate_options_set (TesseraActivateOptions *options, const char *key, const char *value)
{
  g_return_if_fail (options != NULL);
  g_return_if_fail (key != NULL && *key != '\0');

  if (value == NULL)
    g_hash_table_remove (options->values, key);
  else
    g_hash_table_replace (options->values, g_strdup (key), g_strdup (value));
}

const char *
tessera_activate_options_get (TesseraActivateOptions *options, const char *key)
{
  g_return_val_if_fail (options != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  return g_hash_table_lookup (options->values, key);
}
