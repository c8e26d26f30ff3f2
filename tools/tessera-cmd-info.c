/* tessera: commands about this machine and its setup: machine-id,
 * providers, keys forget. */
#include "tessera-cli.h"

#include <gmodule.h>

/* ---- machine-id ---- */

static gboolean opt_request, opt_explain;
static char **opt_trusted_keys;

static int
cmd_machine_id (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "request", 'r', 0, G_OPTION_ARG_NONE, &opt_request, NULL, NULL },
    { "explain", 'e', 0, G_OPTION_ARG_NONE, &opt_explain, NULL, NULL },
    { "trusted-key", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_trusted_keys, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = cli_parse (name, entries, 1, &argc, &argv);
  if (rc >= 0)
    return rc;
  g_auto (GStrv) trusted_keys = g_steal_pointer (&opt_trusted_keys);
  if (opt_request && opt_explain)
    return cli_usage (name, "give --request or --explain, not both");
  if (argc > 1 && !opt_explain)
    return cli_usage (name, "a license file is only taken with --explain");
  if (trusted_keys != NULL && argc < 2)
    return cli_usage (name, "--trusted-key needs --explain FILE");
  if (opt_request)
    return cli_machine_id_request ();
  if (opt_explain)
    return cli_machine_id_explain (argc > 1 ? argv[1] : NULL, trusted_keys);

  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (cli_opt_config, &error);
  if (engine != NULL)
    id = tessera_engine_dup_machine_id (engine, &error);
  else if (cli_opt_config == NULL)
    {
      /* No configuration at all yet (a user asked for an offline license
       * before setting anything up): the ID the offline provider uses is
       * the core fingerprint, which needs none. */
      g_clear_error (&error);
      g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
      if (fp != NULL)
        id = g_strdup (tessera_fingerprint_get_id (fp));
    }
  if (id == NULL)
    return cli_fail (error);

  if (cli_opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "machine_id");
      json_builder_add_string_value (b, id);
      json_builder_end_object (b);
      cli_json_print (b);
    }
  else
    g_print ("%s\n", id);
  return CLI_EXIT_OK;
}

/* ---- providers ---- */

typedef struct
{
  char *name;
  char *description; /* NULL if it did not load */
  GError *error;     /* why it did not load, or why it cannot be created alone */
} Installed;

static void
installed_clear (Installed *p)
{
  g_free (p->name);
  g_free (p->description);
  g_clear_error (&p->error);
}

/* Loads one installed plugin through the core, alone, with its safety
 * checks (ABI, owner, world-writable): only a plugin the core accepted is
 * then opened again here to read its description (same file, same
 * resident handle: no code runs that the core would not have run). */
static void
probe (const char *plugin_dir, Installed *p)
{
  g_autofree char *data
      = g_strdup_printf ("[engine]\nproviders=%s\nplugin-dir=%s\n", p->name, plugin_dir);
  g_autoptr (TesseraEngine) engine = tessera_engine_new_from_data (data, -1, &p->error);
  gboolean loaded = engine != NULL && tessera_engine_load (engine, &p->error);
  /* Creating it without its configuration may fail (no trusted keys): it
   * loaded all the same. */
  if (!loaded
      && (g_error_matches (p->error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD)
          || g_error_matches (p->error, TESSERA_ERROR, TESSERA_ERROR_ABI_MISMATCH)
          || g_error_matches (p->error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER)))
    return;
  g_autofree char *file = g_strdup_printf ("tessera-%s.so", p->name);
  g_autofree char *path = g_build_filename (plugin_dir, file, NULL);
  GModule *module = g_module_open (path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    return;
  g_autofree char *symbol = g_strdup_printf ("tessera_backend_entry_%s", p->name);
  gpointer entry = NULL;
  if (g_module_symbol (module, symbol, &entry) && entry != NULL)
    {
      const TesseraBackend *backend = ((const TesseraBackend *(*) (void) ) entry) ();
      if (backend != NULL && backend->description != NULL)
        p->description = g_strdup (backend->description);
    }
  g_module_close (module);
  if (p->description == NULL)
    p->description = g_strdup ("");
}

static int
cmd_providers (const char *name, int argc, char **argv)
{
  int rc = cli_parse (name, NULL, 0, &argc, &argv);
  if (rc >= 0)
    return rc;

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (cli_opt_config, &error);
  if (engine == NULL)
    return cli_fail (error);
  const char *plugin_dir = tessera_engine_get_plugin_dir (engine);
  const char *config_path = tessera_engine_get_config_path (engine);
  const char *forced = g_getenv ("TESSERA_PROVIDER");
  if (forced != NULL && *forced == '\0')
    forced = NULL;

  /* The probes name their provider: a forced one would replace it. */
  g_autofree char *saved_forced = g_strdup (forced);
  g_unsetenv ("TESSERA_PROVIDER");
  g_auto (GStrv) names = tessera_engine_dup_installed (engine);
  guint n = g_strv_length (names);
  Installed *installed = g_new0 (Installed, n + 1);
  for (guint i = 0; i < n; i++)
    {
      installed[i].name = g_strdup (names[i]);
      probe (plugin_dir, &installed[i]);
    }
  if (saved_forced != NULL)
    g_setenv ("TESSERA_PROVIDER", saved_forced, TRUE);

  g_autoptr (GError) load_error = NULL;
  gboolean loaded = tessera_engine_load (engine, &load_error);
  g_auto (GStrv) configured = tessera_engine_dup_providers (engine);

  if (cli_opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "config");
      if (config_path)
        json_builder_add_string_value (b, config_path);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "plugin_dir");
      json_builder_add_string_value (b, plugin_dir);
      json_builder_set_member_name (b, "forced");
      if (saved_forced)
        json_builder_add_string_value (b, saved_forced);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "installed");
      json_builder_begin_array (b);
      for (guint i = 0; i < n; i++)
        {
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, installed[i].name);
          json_builder_set_member_name (b, "description");
          if (installed[i].description)
            json_builder_add_string_value (b, installed[i].description);
          else
            json_builder_add_null_value (b);
          if (installed[i].description == NULL && installed[i].error != NULL)
            cli_json_add_error (b, installed[i].error);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "providers");
      json_builder_begin_array (b);
      for (guint i = 0; configured[i]; i++)
        json_builder_add_string_value (b, configured[i]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "usable");
      json_builder_add_boolean_value (b, loaded);
      if (!loaded)
        cli_json_add_error (b, load_error);
      json_builder_end_object (b);
      cli_json_print (b);
    }
  else
    {
      g_print ("config: %s\n", config_path ? config_path : "(given in memory)");
      g_print ("plugin directory: %s\n", plugin_dir);
      g_print ("installed:\n");
      for (guint i = 0; i < n; i++)
        {
          if (installed[i].description != NULL)
            g_print ("  %-10s %s\n", installed[i].name, installed[i].description);
          else
            {
              g_autofree char *why = cli_one_line (installed[i].error->message);
              g_print ("  %-10s (cannot load: %s)\n", installed[i].name, why);
            }
        }
      if (n == 0)
        g_print ("  (none)\n");
      if (saved_forced != NULL)
        g_print ("TESSERA_PROVIDER=%s overrides the configured providers\n", saved_forced);
      if (loaded)
        {
          g_autofree char *order = g_strjoinv (", ", configured);
          g_print ("activation tries, in order: %s\n", order);
        }
    }
  for (guint i = 0; i < n; i++)
    installed_clear (&installed[i]);
  g_free (installed);
  /* What was shown is still the answer; the exit code says it is broken. */
  if (!loaded)
    return cli_fail (load_error);
  return CLI_EXIT_OK;
}

/* ---- keys forget ---- */

static char *opt_provider;

static int
cmd_keys_forget (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "provider", 'p', 0, G_OPTION_ARG_STRING, &opt_provider, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = cli_parse (name, entries, 0, &argc, &argv);
  if (rc >= 0)
    return rc;

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = cli_engine_new (&error);
  guint n = 0;
  if (engine == NULL || !tessera_engine_forget_credentials (engine, opt_provider, &n, &error))
    return cli_fail (error);

  if (cli_opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "forgotten");
      json_builder_add_int_value (b, n);
      json_builder_set_member_name (b, "provider");
      if (opt_provider)
        json_builder_add_string_value (b, opt_provider);
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
      cli_json_print (b);
    }
  else
    g_print ("forgot %u credential%s\n", n, n == 1 ? "" : "s");
  g_free (opt_provider);
  return CLI_EXIT_OK;
}

const CliCommand cli_info_commands[] = {
  { "machine-id", cmd_machine_id },
  { "providers", cmd_providers },
  { "keys forget", cmd_keys_forget },
};
const guint cli_n_info_commands = G_N_ELEMENTS (cli_info_commands);
