#include "tessera-private.h"

struct _TesseraActivateOptions
{
  gatomicrefcount ref_count;
  GHashTable *values;
  TesseraActivateWaitFunc wait_func;
  gpointer wait_data;
  GDestroyNotify wait_destroy;
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
  if (options->wait_destroy != NULL)
    options->wait_destroy (options->wait_data);
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

void
tessera_activate_options_set_wait_func (TesseraActivateOptions *options,
                                        TesseraActivateWaitFunc func, gpointer user_data,
                                        GDestroyNotify destroy)
{
  g_return_if_fail (options != NULL);
  if (options->wait_destroy != NULL)
    options->wait_destroy (options->wait_data);
  options->wait_func = func;
  options->wait_data = func != NULL ? user_data : NULL;
  options->wait_destroy = func != NULL ? destroy : NULL;
}

void
tessera_activate_options_notify_wait (TesseraActivateOptions *options, const char *product,
                                      gint64 in_use, gint64 quota)
{
  g_return_if_fail (product != NULL);
  if (options != NULL && options->wait_func != NULL)
    options->wait_func (product, in_use < 0 ? -1 : in_use, quota < 0 ? -1 : quota,
                        options->wait_data);
}
