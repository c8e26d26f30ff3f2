/* tessera: the user's command line to Tessera (docs/tessera.1): this
 * machine's ID, activating, listing, validating and releasing licenses,
 * installing offline license files, and running a command under a license.
 *
 * Every failure is one line on stderr ("tessera: ...") and an exit code
 * from one table (tessera-cli.h), also under --json, which additionally
 * prints {"error": {...}} on stdout so a script parses one stream. */
#include "tessera-cli.h"

#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

char *cli_opt_config;
gboolean cli_opt_json;
static gboolean opt_help;
/* The command being run, for messages ("tessera activate: ..."). */
static const char *current_command;

/* ---- errors and exit codes ---- */

int
cli_exit_code (const GError *error)
{
  /* What the user asks is always a license: none found is "not licensed"
   * (tessera-admin's "not found" is a missing organization or pool). */
  if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND))
    return TOOL_EXIT_NOT_LICENSED;
  return tool_cli_exit_for_error (error);
}

char *
cli_escape (const char *text)
{
  if (text == NULL)
    return NULL;
  GString *out = g_string_sized_new (strlen (text));
  const char *p = text;
  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          /* Not UTF-8 (a file name is bytes): show the byte, so the name
           * can still be told apart and typed. */
          g_string_append_printf (out, "\\x%02x", (guchar) *p);
          p++;
          continue;
        }
      if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\x%02x", c);
      else if (c >= 0x80 && c <= 0x9f)
        /* C1 controls: U+009B is a CSI on some terminals. */
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
      p = g_utf8_next_char (p);
    }
  return g_string_free (out, FALSE);
}

char *
cli_one_line (const char *message)
{
  g_auto (GStrv) lines = g_strsplit (message, "\n", -1);
  g_autoptr (GPtrArray) kept = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; lines[i]; i++)
    if (*g_strstrip (lines[i]) != '\0')
      g_ptr_array_add (kept, cli_escape (lines[i]));
  g_ptr_array_add (kept, NULL);
  return g_strjoinv ("; ", (char **) kept->pdata);
}

/* The stable name of an error for JSON: the TesseraError nick, "cancelled",
 * or "failed" for errors of other domains. */
static const char *
error_nick (const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return "cancelled";
  const char *nick = error->domain == TESSERA_ERROR ? tessera_error_to_nick (error->code) : NULL;
  return nick ? nick : "failed";
}

void
cli_json_add_error (JsonBuilder *b, const GError *error)
{
  g_autofree char *message = cli_one_line (error->message);
  json_builder_set_member_name (b, "error");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, error_nick (error));
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_set_member_name (b, "exit_code");
  json_builder_add_int_value (b, cli_exit_code (error));
  json_builder_end_object (b);
}

static int
report (const char *code, int exit_code, const char *message)
{
  g_autofree char *line = cli_one_line (message);
  if (current_command != NULL)
    g_printerr ("tessera %s: %s\n", current_command, line);
  else
    g_printerr ("tessera: %s\n", line);
  if (cli_opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "error");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "code");
      json_builder_add_string_value (b, code);
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, line);
      json_builder_set_member_name (b, "exit_code");
      json_builder_add_int_value (b, exit_code);
      json_builder_end_object (b);
      json_builder_end_object (b);
      cli_json_print (b);
    }
  return exit_code;
}

int
cli_fail (const GError *error)
{
  return report (error_nick (error), cli_exit_code (error), error->message);
}

int
cli_fail_file (const GError *error, const char *path)
{
  if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND)
      || (path != NULL && g_file_test (path, G_FILE_TEST_EXISTS)
          && !g_file_test (path, G_FILE_TEST_IS_REGULAR)))
    return report (error_nick (error), TOOL_EXIT_IO, error->message);
  return cli_fail (error);
}

int
cli_usage (const char *name, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  /* A suggestion is the help that is needed. */
  g_autofree char *full = strstr (message, "did you mean") != NULL
                              ? g_strdup (message)
                              : g_strdup_printf ("%s (see 'tessera %s%s--help')", message,
                                                 name ? name : "", name ? " " : "");
  return report ("usage", CLI_EXIT_USAGE, full);
}

/* ---- options ---- */

/* Their help is in the table (tool-spec-tessera.c). */
static const GOptionEntry global_entries[] = {
  { "config", 'c', 0, G_OPTION_ARG_FILENAME, &cli_opt_config, NULL, NULL },
  { "json", 'j', 0, G_OPTION_ARG_NONE, &cli_opt_json, NULL, NULL },
  { "help", 'h', 0, G_OPTION_ARG_NONE, &opt_help, NULL, NULL },
  G_OPTION_ENTRY_NULL,
};

static const CliCommand *find_command (const char *name);

int
cli_parse (const char *name, const GOptionEntry *entries, int max_args, int *argc, char ***argv)
{
  const ToolCommand *command = tool_cli_find (&tool_spec_tessera, name);
  g_assert (command != NULL);
  /* Before GOption, which says only "Unknown option": the nearest one. */
  g_autofree char *unknown = tool_cli_unknown_option (&tool_spec_tessera, command, *argc, *argv);
  if (unknown != NULL)
    return cli_usage (name, "%s", unknown);
  g_autofree GOptionEntry *own = tool_cli_entries (&tool_spec_tessera, command, entries);
  g_autofree GOptionEntry *global = tool_cli_entries (&tool_spec_tessera, NULL, global_entries);
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_add_main_entries (context, own, NULL);
  g_option_context_add_main_entries (context, global, NULL);

  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, argc, argv, &error))
    return cli_usage (name, "%s", error->message);
  if (opt_help)
    {
      g_autofree char *text = tool_cli_command_help (&tool_spec_tessera, command);
      fputs (text, stdout);
      return CLI_EXIT_OK;
    }
  /* GOption leaves "--" in place when options follow it. */
  for (int i = 1; i < *argc; i++)
    if (g_str_has_prefix ((*argv)[i], "-") && !g_str_equal ((*argv)[i], "-"))
      return cli_usage (name, "unknown option %s", (*argv)[i]);
  if (max_args >= 0 && *argc - 1 > max_args)
    return cli_usage (name, "unexpected argument '%s'", (*argv)[1 + max_args]);
  return -1;
}

int
cli_check_product (const char *name, TesseraEngine *engine, const char *product)
{
  g_auto (GStrv) products = tessera_engine_dup_products (engine);
  if (products == NULL || product == NULL
      || g_strv_contains ((const char *const *) products, product))
    return -1;
  g_autofree char *list = g_strjoinv (", ", products);
  const char *near = tool_cli_nearest (product, (const char *const *) products);
  if (near != NULL)
    return cli_usage (name,
                      "unknown product '%s': did you mean '%s'? (this configuration licenses %s)",
                      product, near, list);
  return cli_usage (name, "unknown product '%s' (this configuration licenses %s)", product, list);
}

/* ---- the engine and activation ---- */

TesseraEngine *
cli_engine_new (GError **error)
{
  g_autoptr (TesseraEngine) engine = tessera_engine_new (cli_opt_config, error);
  if (engine == NULL)
    return NULL;
  if (!tessera_engine_load (engine, error))
    return NULL;
  return g_steal_pointer (&engine);
}

typedef struct
{
  GMainLoop *loop;
  GCancellable *cancellable;
  TesseraEngine *engine;
  TesseraLicense *license;
  GError *error;
  const char *product;
  guint frame;
  gboolean drawn;
  gint64 started;  /* monotonic µs */
  gint64 wait_max; /* seconds the options allow waiting for a seat, -1: not given */
  /* Set by the provider's thread while it waits for a seat. */
  GMutex lock;
  gboolean waiting;
  gint64 in_use, quota;
} Activation;

/* The provider was refused a seat and waits on (its thread). */
static void
on_wait (const char *product, gint64 in_use, gint64 quota, gpointer data)
{
  Activation *a = data;
  g_mutex_lock (&a->lock);
  a->waiting = TRUE;
  a->in_use = in_use;
  a->quota = quota;
  g_mutex_unlock (&a->lock);
}

static void
activated (GObject *source, GAsyncResult *result, gpointer data)
{
  Activation *a = data;
  a->license = tessera_engine_activate_finish (a->engine, result, &a->error);
  g_main_loop_quit (a->loop);
}

/* A spinner, only for a person at a terminal and only once the call has
 * taken long enough to wonder about: scripts and quick answers see nothing. */
static gboolean
spin (gpointer data)
{
  static const char *const frames[] = { "|", "/", "-", "\\" };
  Activation *a = data;
  const char *frame = frames[a->frame++ % G_N_ELEMENTS (frames)];
  g_mutex_lock (&a->lock);
  gboolean waiting = a->waiting;
  gint64 in_use = a->in_use, quota = a->quota;
  g_mutex_unlock (&a->lock);
  if (!waiting)
    g_printerr ("\r%s activating %s...", frame, a->product);
  else
    {
      /* Waiting for a seat: how long so far, how long at most, and how
       * full the pool is, so a person can decide to wait or not. */
      gint64 waited = (g_get_monotonic_time () - a->started) / G_USEC_PER_SEC;
      GString *line = g_string_new (NULL);
      g_string_printf (line, "\r%s waiting for a %s seat: %" G_GINT64_FORMAT " s", frame,
                       a->product, waited);
      if (a->wait_max >= 0)
        g_string_append_printf (line, ", %" G_GINT64_FORMAT " s left",
                                MAX (0, a->wait_max - waited));
      if (in_use >= 0 && quota >= 0)
        g_string_append_printf (line, ", %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " in use",
                                in_use, quota);
      g_string_append (line, "\033[K");
      g_printerr ("%s", line->str);
      g_string_free (line, TRUE);
    }
  a->drawn = TRUE;
  return G_SOURCE_CONTINUE;
}

static gboolean
cancel_on_signal (gpointer data)
{
  Activation *a = data;
  g_cancellable_cancel (a->cancellable);
  return G_SOURCE_CONTINUE;
}

TesseraLicense *
cli_activate (TesseraEngine *engine, const char *product, TesseraActivateOptions *options,
              GError **error)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  Activation a = { .loop = g_main_loop_new (context, FALSE),
                   .cancellable = g_cancellable_new (),
                   .engine = engine,
                   .product = product,
                   .started = g_get_monotonic_time (),
                   .wait_max = -1 };
  g_mutex_init (&a.lock);
  const char *wait = options != NULL
                         ? tessera_activate_options_get (options, TESSERA_OPTION_WAIT_TIMEOUT)
                         : NULL;
  if (wait != NULL)
    a.wait_max = g_ascii_strtoll (wait, NULL, 10);
  if (options != NULL)
    tessera_activate_options_set_wait_func (options, on_wait, &a, NULL);
  GSource *sources[3] = {
    isatty (STDERR_FILENO) ? g_timeout_source_new (250) : NULL,
    g_unix_signal_source_new (SIGINT),
    g_unix_signal_source_new (SIGTERM),
  };
  for (guint i = 0; i < G_N_ELEMENTS (sources); i++)
    if (sources[i] != NULL)
      {
        g_source_set_callback (sources[i], i == 0 ? spin : cancel_on_signal, &a, NULL);
        g_source_attach (sources[i], context);
      }
  tessera_engine_activate_async (engine, product, options, a.cancellable, activated, &a);
  g_main_loop_run (a.loop);
  for (guint i = 0; i < G_N_ELEMENTS (sources); i++)
    if (sources[i] != NULL)
      {
        g_source_destroy (sources[i]);
        g_source_unref (sources[i]);
      }
  if (a.drawn)
    g_printerr ("\r\033[K");
  if (options != NULL)
    tessera_activate_options_set_wait_func (options, NULL, NULL, NULL);
  /* Off a terminal, a wait shows as one line at its end: the error when it
   * failed, this when a seat came. */
  if (a.waiting && a.license != NULL && !isatty (STDERR_FILENO))
    {
      gint64 waited = (g_get_monotonic_time () - a.started) / G_USEC_PER_SEC;
      g_printerr ("tessera %s: got a %s seat after waiting %" G_GINT64_FORMAT " s\n",
                  current_command != NULL ? current_command : "activate", product, waited);
    }
  g_mutex_clear (&a.lock);
  g_main_context_pop_thread_default (context);
  g_main_loop_unref (a.loop);
  g_object_unref (a.cancellable);
  if (a.error != NULL)
    g_propagate_error (error, a.error);
  return a.license;
}

/* ---- formatting ---- */

gint64
cli_days_left (gint64 expires_at)
{
  if (expires_at == 0)
    return G_MAXINT;
  gint64 left = expires_at - g_get_real_time () / G_USEC_PER_SEC;
  return left <= 0 ? 0 : left / (24 * 3600);
}

char *
cli_format_time (gint64 unix_time)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (unix_time);
  return t ? g_date_time_format (t, "%Y-%m-%d %H:%M:%S UTC")
           : g_strdup_printf ("%" G_GINT64_FORMAT, unix_time);
}

/* @known_terms: what the license says could be read and trusted; when not
 * (an unusable stored entry), its missing expiry is unknown, not "never". */
static char *
describe_license (TesseraLicense *license, gboolean known_terms)
{
  /* Backends fill these from what they were given (a file name is the id
   * of a file that does not verify): never print them raw. */
  g_autofree char *product = cli_escape (tessera_license_get_product (license));
  g_autofree char *id = cli_escape (tessera_license_get_id (license));
  g_autofree char *provider = cli_escape (tessera_license_get_provider (license));
  g_autofree char *org = cli_escape (tessera_license_get_org (license));
  GString *out = g_string_new (NULL);
  g_string_append_printf (out, "%s %s license %s from %s", product,
                          tessera_license_kind_to_string (tessera_license_get_kind (license)), id,
                          provider);
  if (org != NULL)
    g_string_append_printf (out, " (org %s)", org);
  gint64 expires = tessera_license_get_expires_at (license);
  if (expires == 0 && known_terms)
    g_string_append (out, ", never expires");
  else if (expires != 0)
    {
      g_autofree char *when = cli_format_time (expires);
      gint64 days = cli_days_left (expires);
      g_string_append_printf (out, ", expires %s (%" G_GINT64_FORMAT " day%s left)", when, days,
                              days == 1 ? "" : "s");
    }
  return g_string_free (out, FALSE);
}

char *
cli_describe_license (TesseraLicense *license)
{
  return describe_license (license, TRUE);
}

char *
cli_describe_stored (TesseraLicense *license, gboolean usable)
{
  return describe_license (license, usable);
}

static void
add_time (JsonBuilder *b, const char *name, gint64 t)
{
  json_builder_set_member_name (b, name);
  if (t == 0)
    json_builder_add_null_value (b);
  else
    {
      g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);
      g_autofree char *iso = dt ? g_date_time_format_iso8601 (dt) : NULL;
      json_builder_add_string_value (b, iso ? iso : "");
    }
}

static void
add_nullable (JsonBuilder *b, const char *name, const char *value)
{
  g_autofree char *safe_name = cli_escape (name);
  json_builder_set_member_name (b, safe_name);
  if (value == NULL)
    json_builder_add_null_value (b);
  else
    {
      g_autofree char *safe = cli_escape (value);
      json_builder_add_string_value (b, safe);
    }
}

void
cli_json_add_license (JsonBuilder *b, TesseraLicense *license)
{
  add_nullable (b, "product", tessera_license_get_product (license));
  add_nullable (b, "provider", tessera_license_get_provider (license));
  add_nullable (b, "id", tessera_license_get_id (license));
  add_nullable (b, "kind", tessera_license_kind_to_string (tessera_license_get_kind (license)));
  add_nullable (b, "org", tessera_license_get_org (license));
  add_nullable (b, "machine_id", tessera_license_get_machine_id (license));
  add_time (b, "issued_at", tessera_license_get_issued_at (license));
  gint64 expires = tessera_license_get_expires_at (license);
  add_time (b, "expires_at", expires);
  json_builder_set_member_name (b, "days_left");
  if (expires == 0)
    json_builder_add_null_value (b);
  else
    json_builder_add_int_value (b, cli_days_left (expires));

  TesseraLicenseFlags flags = tessera_license_get_flags (license);
  json_builder_set_member_name (b, "flags");
  json_builder_begin_array (b);
  if (flags & TESSERA_LICENSE_FLAG_DEVELOPMENT)
    json_builder_add_string_value (b, "development");
  if (flags & TESSERA_LICENSE_FLAG_OFFLINE)
    json_builder_add_string_value (b, "offline");
  if (flags & TESSERA_LICENSE_FLAG_PERSISTENT)
    json_builder_add_string_value (b, "persistent");
  json_builder_end_array (b);

  g_auto (GStrv) features = tessera_license_dup_features (license);
  json_builder_set_member_name (b, "features");
  json_builder_begin_array (b);
  for (guint i = 0; features[i]; i++)
    {
      g_autofree char *safe = cli_escape (features[i]);
      json_builder_add_string_value (b, safe);
    }
  json_builder_end_array (b);

  g_auto (GStrv) keys = tessera_license_dup_attribute_keys (license);
  json_builder_set_member_name (b, "attributes");
  json_builder_begin_object (b);
  for (guint i = 0; keys[i]; i++)
    add_nullable (b, keys[i], tessera_license_get_attribute (license, keys[i]));
  json_builder_end_object (b);
  cli_json_add_machine_match (b, license);
}

void
cli_json_print (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  g_print ("%s\n", text);
  fflush (stdout);
}

/* ---- commands ---- */

static const CliCommand run_command = { "run", cli_run_command };

static const CliCommand *
find_command (const char *name)
{
  for (guint i = 0; i < cli_n_info_commands; i++)
    if (g_str_equal (cli_info_commands[i].name, name))
      return &cli_info_commands[i];
  for (guint i = 0; i < cli_n_license_commands; i++)
    if (g_str_equal (cli_license_commands[i].name, name))
      return &cli_license_commands[i];
  if (g_str_equal (name, run_command.name))
    return &run_command;
  return NULL;
}

/* Every command of the table runs, and every one that runs is in the
 * table: --help and the man page list what there is. */
static void
check_commands (void)
{
  for (const ToolCommand *c = tool_spec_tessera.commands; c->name != NULL; c++)
    if (find_command (c->name) == NULL)
      g_error ("tessera: command '%s' is in the table but not implemented", c->name);
  const CliCommand *groups[] = { cli_info_commands, cli_license_commands, &run_command };
  const guint sizes[] = { cli_n_info_commands, cli_n_license_commands, 1 };
  for (guint g = 0; g < G_N_ELEMENTS (groups); g++)
    for (guint i = 0; i < sizes[g]; i++)
      if (tool_cli_find (&tool_spec_tessera, groups[g][i].name) == NULL)
        g_error ("tessera: command '%s' is not in the table", groups[g][i].name);
}

static void
print_main_help (void)
{
  g_autofree char *text = tool_cli_help (
      &tool_spec_tessera, "Global options go before or after the command.\n"
                          "tessera run exits with the command's status (128+N if signal N "
                          "killed it).");
  fputs (text, stdout);
}

int
main (int argc, char **argv)
{
  g_set_prgname ("tessera");
  check_commands ();
  /* Global options before the command; the command's parser accepts them
   * too, after it. */
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++)
    {
      const char *arg = argv[i];
      if (g_str_equal (arg, "--json") || g_str_equal (arg, "-j"))
        cli_opt_json = TRUE;
      else if (g_str_equal (arg, "--help") || g_str_equal (arg, "-h"))
        opt_help = TRUE;
      else if (g_str_equal (arg, "--version"))
        {
          tool_cli_print_version (&tool_spec_tessera);
          return CLI_EXIT_OK;
        }
      else if (g_str_equal (arg, "--config") || g_str_equal (arg, "-c"))
        {
          if (i + 1 >= argc)
            return cli_usage (NULL, "option %s needs a FILE", arg);
          g_free (cli_opt_config);
          cli_opt_config = g_strdup (argv[++i]);
        }
      else if (g_str_has_prefix (arg, "--config="))
        {
          g_free (cli_opt_config);
          cli_opt_config = g_strdup (arg + strlen ("--config="));
        }
      else
        {
          char *args[] = { (char *) "tessera", (char *) arg, NULL };
          g_autofree char *unknown = tool_cli_unknown_option (&tool_spec_tessera, NULL, 2, args);
          return cli_usage (NULL, "%s", unknown != NULL ? unknown : "unknown option");
        }
    }
  if (i >= argc)
    {
      if (opt_help)
        {
          print_main_help ();
          return CLI_EXIT_OK;
        }
      return cli_usage (NULL, "no command given");
    }

  /* "keys forget", "offline install": two words name one command. */
  g_autofree char *name = g_strdup (argv[i]);
  const CliCommand *command = find_command (name);
  if (command == NULL && i + 1 < argc)
    {
      g_autofree char *two = g_strdup_printf ("%s %s", argv[i], argv[i + 1]);
      if ((command = find_command (two)) != NULL)
        {
          g_free (name);
          name = g_steal_pointer (&two);
          i++;
        }
    }
  if (command == NULL)
    {
      /* "tessera keys": say what may follow rather than "unknown". */
      g_autofree char *prefix = g_strconcat (name, " ", NULL);
      const CliCommand *groups[] = { cli_info_commands, cli_license_commands };
      const guint sizes[] = { cli_n_info_commands, cli_n_license_commands };
      for (guint g = 0; g < G_N_ELEMENTS (groups); g++)
        for (guint k = 0; k < sizes[g]; k++)
          if (g_str_has_prefix (groups[g][k].name, prefix))
            return cli_usage (NULL, "'%s' needs a subcommand: '%s'", name, groups[g][k].name);
      /* "ofline install" is two words, "activte" one. */
      g_autofree char *two = i + 1 < argc ? g_strdup_printf ("%s %s", argv[i], argv[i + 1]) : NULL;
      const char *near = two != NULL ? tool_cli_nearest_command (&tool_spec_tessera, two) : NULL;
      g_autofree char *typed = g_strdup (near != NULL ? two : name);
      if (near == NULL)
        near = tool_cli_nearest_command (&tool_spec_tessera, name);
      if (near != NULL)
        return cli_usage (NULL, "unknown command '%s': did you mean '%s'?", typed, near);
      return cli_usage (NULL, "unknown command '%s'", name);
    }
  current_command = command->name;

  /* The command sees argv[0] = its name, then its arguments. */
  int cargc = argc - i;
  g_autofree char **cargv = g_new0 (char *, cargc + 1);
  for (int j = 0; j < cargc; j++)
    cargv[j] = argv[i + j];
  /* --help before the command: cli_parse() prints that command's help. */
  int rc = command->run (command->name, cargc, cargv);
  g_free (cli_opt_config);
  return rc;
}
