/* Fuzzes the mock provider's JSON scenario parser the way a tester reaches
 * it: the input is written to a scenario file, an engine is configured with
 * providers=mock and scenario=<that file>, and tessera_engine_load() loads
 * the real tessera-mock.so from the build's plugin directory. Slower than
 * calling the parser directly, but nothing private is needed. */
#include "fuzz-common.h"

#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

static char *dir;
static char *scenario_path;
static char *config;

/* libFuzzer leaves through exit(): remove what the runs left behind. */
static void
remove_dir (void)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (dir);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;
  g_setenv ("TESSERA_PLUGIN_DIR", TESSERA_FUZZ_PLUGIN_DIR, TRUE);
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_MOCK_SCENARIO");
  g_unsetenv ("TESSERA_CONFIG");
  dir = g_dir_make_tmp ("tessera-fuzz-mock-XXXXXX", &error);
  if (dir == NULL)
    g_error ("fuzz-mock-scenario: %s", error->message);
  scenario_path = g_build_filename (dir, "scenario.json", NULL);
  atexit (remove_dir);
  config
      = g_strdup_printf ("[engine]\nproviders=mock\n[provider:mock]\nscenario=%s\n", scenario_path);
  return 0;
}

/* A scenario's "counters" file is written when the mock is instantiated, so a
 * fuzzed scenario could name any path on this machine. Only a plain file name
 * (created in our temporary directory, removed after each run) is let through;
 * the check parses the input with the same parser as the mock, so whatever
 * the mock would read as "counters" is seen here too. */
static gboolean
counters_is_safe (const uint8_t *data, size_t size, char **name)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, (const char *) data, (gssize) size, NULL))
    return TRUE;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return TRUE;
  JsonObject *object = json_node_get_object (root);
  if (!json_object_has_member (object, "counters"))
    return TRUE;
  JsonNode *node = json_object_get_member (object, "counters");
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return TRUE; /* refused by the parser before anything is written */
  const char *value = json_node_get_string (node);
  if (value == NULL || value[0] == '\0' || value[0] == '.' || strlen (value) > 64)
    return value == NULL || value[0] == '\0';
  for (const char *c = value; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '.' && *c != '_' && *c != '-')
      return FALSE;
  *name = g_strdup (value);
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *counters = NULL;
  if (!counters_is_safe (data, size, &counters))
    return -1; /* not added to the corpus */
  if (!g_file_set_contents (scenario_path, (const char *) data, (gssize) size, &error))
    g_error ("fuzz-mock-scenario: %s", error->message);

  g_autoptr (TesseraEngine) engine = tessera_engine_new_from_data (config, -1, &error);
  if (engine == NULL)
    g_error ("fuzz-mock-scenario: the fixed config is refused: %s", error->message);
  gboolean ok = tessera_engine_load (engine, &error);
  if (ok == (error != NULL))
    g_error ("tessera_engine_load: result and error disagree");
  fuzz_check_error (error);
  if (ok)
    {
      g_auto (GStrv) providers = tessera_engine_dup_providers (engine);
      if (providers == NULL || g_strcmp0 (providers[0], "mock") != 0)
        g_error ("tessera_engine_load: the mock is not the provider");
    }
  g_clear_pointer (&engine, tessera_engine_unref);

  if (counters != NULL)
    {
      g_autofree char *path = g_build_filename (dir, counters, NULL);
      if (g_strcmp0 (path, scenario_path) != 0)
        g_unlink (path);
    }
  return 0;
}
