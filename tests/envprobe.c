/* Prints what an engine resolved from the environment: run setuid by
 * test-loader to prove overrides are ignored there. With a config file as
 * its argument (as a product's --config), it also prints the plugin dir
 * that config leads to and whether its providers load. */
#include <tessera/tessera.h>

#include <stdio.h>

int
main (int argc, char **argv)
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
  g_clear_error (&error);
  if (argc > 1)
    {
      g_autoptr (TesseraEngine) chosen = tessera_engine_new (argv[1], &error);
      if (chosen == NULL)
        {
          fprintf (stderr, "envprobe: %s\n", error->message);
          return 1;
        }
      printf ("config-plugin-dir=%s\n", tessera_engine_get_plugin_dir (chosen));
      gboolean ok = tessera_engine_load (chosen, &error);
      printf ("load=%s\n", ok ? "ok" : error->message);
    }
  return 0;
}
