/* Prints what an engine resolved from the environment: run setuid by
 * test-loader to prove overrides are ignored there. */
#include <tessera/tessera.h>

#include <stdio.h>

int
main (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new_from_data ("", -1, &error);
  if (engine == NULL)
    {
      fprintf (stderr, "envprobe: %s\n", error->message);
      return 1;
    }
  printf ("plugin-dir=%s\n", tessera_engine_get_plugin_dir (engine));
  g_autoptr (TesseraEngine) searched = tessera_engine_new (NULL, &error);
  printf ("config=%s\n", searched && tessera_engine_get_config_path (searched)
                             ? tessera_engine_get_config_path (searched)
                             : (searched ? "(none)" : error->message));
  return 0;
}
