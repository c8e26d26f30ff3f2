/* Fuzzes the configuration loader: tessera_engine_new_from_data() (GKeyFile
 * syntax, then every check of the [engine] and [provider:*] sections), and on
 * success the engine's view of it. No plugin is loaded. */
#include "fuzz-common.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* The configuration under test is the input, never the environment's. */
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_CONFIG");
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  /* Both ways of passing the data: with a length (embedded NULs, no
   * terminator) and NUL-terminated. */
  g_autoptr (TesseraEngine) engine
      = tessera_engine_new_from_data ((const char *) data, (gssize) size, &error);
  if (engine == NULL)
    {
      if (error == NULL)
        g_error ("tessera_engine_new_from_data: NULL without an error");
      fuzz_check_error (error);
    }
  else
    {
      g_auto (GStrv) providers = tessera_engine_dup_providers (engine);
      if (providers == NULL)
        g_error ("tessera_engine_dup_providers: NULL");
      (void) tessera_engine_get_plugin_dir (engine);
      (void) tessera_engine_get_config_path (engine);
      (void) tessera_engine_get_flags (engine);
    }

  g_autofree char *str = g_strndup ((const char *) data, size);
  g_autoptr (GError) error2 = NULL;
  g_autoptr (TesseraEngine) engine2 = tessera_engine_new_from_data (str, -1, &error2);
  if ((engine2 == NULL) == (error2 == NULL))
    g_error ("tessera_engine_new_from_data: result and error disagree");
  fuzz_check_error (error2);
  return 0;
}
