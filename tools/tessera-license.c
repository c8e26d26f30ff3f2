/* tessera-license: make signing keys, issue, inspect and verify offline
 * license files, and show this machine's ID. See docs/license-file.md.
 *
 *   tessera-license keygen --secret FILE --public FILE
 *   tessera-license issue --key SECRET (--machine-id ID | --request REQ [--match POLICY])
 *                         --product P --subscription-end DATE ...
 *   tessera-license inspect FILE [--json] [--trusted-key PUB]...
 *   tessera-license verify FILE --trusted-key PUB... [--machine-id ID] [--product P]
 *   tessera-license machine-id [--components | --request]
 *   tessera-license trust PUBFILE [--dir DIR]
 *
 * Every failure exits non-zero with exactly one line on stderr, and leaves no
 * file behind. Exit codes: the table every tool shares (tool-cli.h). With --json (before or
 * after the command) each command prints one JSON object on stdout, and a
 * failure {"error": {...}} as `tessera --json` does. */
#include "tessera-license.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(TESSERA_SYSCONF_DIR) || !defined(TESSERA_BIN_TO_SYSCONF) || !defined(TESSERA_DOC_DIR) \
    || !defined(TESSERA_BIN_TO_DOC)
#error "the install directories must be defined (tools/CMakeLists.txt)"
#endif

/* @rel relative to this program's folder if that exists (an installed tree
 * moved to another prefix), else @configured. */
char *
installed_dir (const char *rel, const char *configured)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  if (exe != NULL)
    {
      g_autofree char *bindir = g_path_get_dirname (exe);
      g_autofree char *joined = g_build_filename (bindir, rel, NULL);
      g_autofree char *dir = g_canonicalize_filename (joined, NULL);
      if (g_file_test (dir, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&dir);
    }
  return g_strdup (configured);
}

/* ---- reporting ---- */

gboolean opt_json;

/* The stable name of a failure in JSON: for a license that is not valid
 * the license error's nick (tampered, expired, machine-mismatch, …, as
 * `tessera --json` says), else one per exit code: the library's codes for
 * a key file or a refused issue say less than the exit code does. */
const char *
failure_nick (int code, const GError *cause)
{
  gboolean license_problem = code == TOOL_EXIT_INVALID_FILE || code == TOOL_EXIT_EXPIRED
                             || code == TOOL_EXIT_MACHINE || code == TOOL_EXIT_NOT_LICENSED;
  const char *nick = license_problem && cause != NULL && cause->domain == TESSERA_ERROR
                         ? tessera_error_to_nick ((TesseraError) cause->code)
                         : NULL;
  if (nick != NULL)
    return nick;
  switch (code)
    {
    case EXIT_USAGE:
      return "usage";
    case EXIT_IO:
      return "file";
    case EXIT_INVALID:
      return "invalid";
    case EXIT_REFUSED:
      return "refused";
    default:
      return "failed";
    }
}

void
print_json_root (JsonBuilder *b)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  g_autofree char *text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
  fflush (stdout);
}

/* {"code": …, "message": …, "exit_code": …} as the member "error". */
void
add_json_error (JsonBuilder *b, int code, const char *nick, const char *message)
{
  g_autofree char *valid = g_utf8_make_valid (message, -1);
  json_builder_set_member_name (b, "error");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, nick);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, valid);
  json_builder_set_member_name (b, "exit_code");
  json_builder_add_int_value (b, code);
  json_builder_end_object (b);
}

/* A file name (bytes) as a JSON string member (valid UTF-8). */
void
add_json_path (JsonBuilder *b, const char *name, const char *path)
{
  g_autofree char *display = g_filename_display_name (path);
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, display);
}

/* Prints "tessera-license: MESSAGE" as exactly one line on stderr and, with
 * --json and @json_too, {"error": {...}} on stdout. Returns @code. */
static int
vreport (int code, const GError *cause, gboolean json_too, const char *format, va_list args)
{
  g_autofree char *message = g_strdup_vprintf (format, args);
  g_strchomp (message);
  for (char *p = message; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  if (opt_json && json_too)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      add_json_error (b, code, failure_nick (code, cause), message);
      json_builder_end_object (b);
      print_json_root (b);
    }
  fprintf (stderr, "tessera-license: %s\n", message);
  return code;
}

G_GNUC_PRINTF (2, 3)
int
fail (int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  vreport (code, NULL, TRUE, format, args);
  va_end (args);
  return code;
}

/* The same for a failure whose cause @error names its kind in JSON. */
G_GNUC_PRINTF (3, 4)
int
fail_error (int code, const GError *cause, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  vreport (code, cause, TRUE, format, args);
  va_end (args);
  return code;
}

/* The stderr line alone: stdout already holds the JSON that says why. */
G_GNUC_PRINTF (2, 3)
int
fail_stderr (int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  vreport (code, NULL, FALSE, format, args);
  va_end (args);
  return code;
}

char *
format_time (gint64 t)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);
  return dt ? g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ")
            : g_strdup_printf ("%" G_GINT64_FORMAT, t);
}

/* "in 42 days", "today", "3 days ago" */
char *
format_days (gint64 t, gint64 now)
{
  gint64 days = (t - now) / SECONDS_PER_DAY;
  if (t > now)
    return g_strdup_printf ("in %" G_GINT64_FORMAT " day%s", days, days == 1 ? "" : "s");
  days = (now - t) / SECONDS_PER_DAY;
  if (days == 0)
    return g_strdup ("less than a day ago");
  return g_strdup_printf ("%" G_GINT64_FORMAT " day%s ago", days, days == 1 ? "" : "s");
}

/* ---- command-line parsing ---- */

/* Parses the command's options. Returns -1 to go on, else the exit code
 * (help printed: 0; usage error reported: 1). */
int
parse_command (const Command *command, const GOptionEntry *entries, gboolean *help, int *argc,
               char ***argv, int min_args, int max_args)
{
  const ToolCommand *spec = tool_cli_find (&tool_spec_license, command->name);
  g_assert (spec != NULL);
  /* Before GOption, which says only "Unknown option": the nearest one. */
  g_autofree char *unknown = tool_cli_unknown_option (&tool_spec_license, spec, *argc, *argv);
  /* A suggestion is the help that is needed; without one, where to look. */
  if (unknown != NULL && strstr (unknown, "did you mean") != NULL)
    return fail (EXIT_USAGE, "%s: %s", command->name, unknown);
  if (unknown != NULL)
    return fail (EXIT_USAGE, "%s: %s (see 'tessera-license %s --help')", command->name, unknown,
                 command->name);
  g_autofree GOptionEntry *checked = tool_cli_entries (&tool_spec_license, spec, entries);
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  /* --help is our own entry: GOption would exit() from inside the parser. */
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_add_main_entries (context, checked, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, argc, argv, &error))
    return fail (EXIT_USAGE, "%s: %s (see 'tessera-license %s --help')", command->name,
                 error->message, command->name);
  if (*help)
    {
      g_autofree char *text = tool_cli_command_help (&tool_spec_license, spec);
      fputs (text, stdout);
      return EXIT_OK;
    }
  int positional = *argc - 1;
  if (positional < min_args)
    return fail (EXIT_USAGE, "%s: missing %s (see 'tessera-license %s --help')", command->name,
                 spec->parameters, command->name);
  if (positional > max_args)
    return fail (EXIT_USAGE, "%s: unexpected argument '%s' (see 'tessera-license %s --help')",
                 command->name, (*argv)[max_args + 1], command->name);
  return -1;
}

static const Command commands[] = {
  { "keygen", cmd_keygen }, { "issue", cmd_issue },           { "inspect", cmd_inspect },
  { "verify", cmd_verify }, { "machine-id", cmd_machine_id }, { "trust", cmd_trust },
};

const Command *
find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

/* Every command of the table runs, and every one that runs is in it. */
static void
check_commands (void)
{
  for (const ToolCommand *c = tool_spec_license.commands; c->name != NULL; c++)
    if (find_command (c->name) == NULL)
      g_error ("tessera-license: command '%s' is in the table but not implemented", c->name);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (tool_cli_find (&tool_spec_license, commands[i].name) == NULL)
      g_error ("tessera-license: command '%s' is not in the table", commands[i].name);
}

static void
print_top_help (void)
{
  g_autofree char *docdir = installed_dir (TESSERA_BIN_TO_DOC, TESSERA_DOC_DIR);
  g_autofree char *doc = g_build_filename (docdir, "license-file.md", NULL);
  g_autofree char *extra = g_strdup_printf (
      "File format and examples: %s.\nOn failure exactly one line, starting with "
      "\"tessera-license: \", goes to stderr.",
      doc);
  g_autofree char *text = tool_cli_help (&tool_spec_license, extra);
  fputs (text, stdout);
}

int
main (int argc, char **argv)
{
  g_set_prgname ("tessera-license");
  check_commands ();
  /* --json may also come before the command, as with tessera. */
  while (argc > 1 && (g_str_equal (argv[1], "--json") || g_str_equal (argv[1], "-j")))
    {
      opt_json = TRUE;
      argc--;
      argv++;
    }
  if (argc < 2)
    return fail (EXIT_USAGE, "no command given (see 'tessera-license --help')");
  const char *name = argv[1];
  if (g_str_equal (name, "--help") || g_str_equal (name, "-h") || g_str_equal (name, "help"))
    {
      if (argc > 2 && g_str_equal (name, "help"))
        {
          if (find_command (argv[2]) == NULL)
            return fail (EXIT_USAGE, "unknown command '%s' (see 'tessera-license --help')",
                         argv[2]);
          char *help_argv[] = { argv[2], (char *) "--help", NULL };
          return find_command (argv[2])->run (2, help_argv);
        }
      print_top_help ();
      return EXIT_OK;
    }
  if (g_str_equal (name, "--version"))
    {
      tool_cli_print_version (&tool_spec_license);
      return EXIT_OK;
    }
  const Command *command = find_command (name);
  const char *near = command == NULL ? tool_cli_nearest_command (&tool_spec_license, name) : NULL;
  if (command == NULL && near != NULL)
    return fail (EXIT_USAGE, "unknown command '%s': did you mean '%s'?", name, near);
  if (command == NULL && name[0] == '-')
    {
      char *args[] = { (char *) "tessera-license", (char *) name, NULL };
      g_autofree char *unknown = tool_cli_unknown_option (&tool_spec_license, NULL, 2, args);
      return fail (EXIT_USAGE, "%s (see 'tessera-license --help')",
                   unknown != NULL ? unknown : "unknown option");
    }
  if (command == NULL)
    return fail (EXIT_USAGE, "unknown command '%s' (see 'tessera-license --help')", name);
  /* The command sees itself as argv[0]. */
  return command->run (argc - 1, argv + 1);
}
