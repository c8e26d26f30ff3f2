/* tool-cli: exit codes, command tables, help and "did you mean" shared by
 * the four tools (tool-cli.h). */
#include "tool-cli.h"

#include <gio/gio.h>
#include <string.h>
#include <tessera/tessera.h>

const ToolExitCode tool_exit_codes[] = {
  { TOOL_EXIT_OK, "ok", "success (verify, validate: the license is valid)" },
  { TOOL_EXIT_USAGE, "usage",
    "usage error: unknown command, option or product, missing or bad argument" },
  { TOOL_EXIT_NOT_LICENSED, "not-licensed",
    "not licensed: no license for the product, revoked, terminated, released, a license for "
    "another product" },
  { TOOL_EXIT_EXPIRED, "expired", "expired, not yet valid, or the clock was set back" },
  { TOOL_EXIT_QUOTA, "quota", "quota exceeded: every seat (or machine slot) is taken" },
  { TOOL_EXIT_AUTH, "auth",
    "credentials: missing or wrong API key, not a member of the organization, an "
    "organization must be chosen" },
  { TOOL_EXIT_UNAVAILABLE, "unavailable",
    "the license server cannot be reached or is unavailable" },
  { TOOL_EXIT_INVALID_FILE, "invalid-file",
    "invalid license file: modified, damaged, or signed by a key that is not trusted" },
  { TOOL_EXIT_MACHINE, "machine", "the license is for another machine" },
  { TOOL_EXIT_CONFIG, "config",
    "configuration problem: no configuration or provider, a plugin that cannot be loaded, "
    "an address or certificate the server cannot use" },
  { TOOL_EXIT_IO, "io",
    "file or database problem: missing, unreadable, unwritable, locked, not a key" },
  { TOOL_EXIT_REFUSED, "refused",
    "refused by a rule: already exists, not supported, issuing policy, a value the rules "
    "refuse" },
  { TOOL_EXIT_NOT_FOUND, "not-found",
    "not found: no such organization, pool, user, key, session or machine" },
  { TOOL_EXIT_INTERRUPTED, "interrupted", "interrupted (SIGINT or SIGTERM) before it was done" },
  { -1, NULL, NULL },
};

int
tool_cli_exit_for_error (const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return TOOL_EXIT_INTERRUPTED;
  if (error->domain != TESSERA_ERROR)
    return TOOL_EXIT_IO;
  switch ((TesseraError) error->code)
    {
    case TESSERA_ERROR_NOT_FOUND:
      return TOOL_EXIT_NOT_FOUND;
    case TESSERA_ERROR_PRODUCT_MISMATCH:
    case TESSERA_ERROR_REVOKED:
    case TESSERA_ERROR_TERMINATED:
    case TESSERA_ERROR_RELEASED:
      return TOOL_EXIT_NOT_LICENSED;
    case TESSERA_ERROR_EXPIRED:
    case TESSERA_ERROR_NOT_YET_VALID:
    case TESSERA_ERROR_CLOCK_ROLLBACK:
      return TOOL_EXIT_EXPIRED;
    case TESSERA_ERROR_QUOTA_EXCEEDED:
    case TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED:
      return TOOL_EXIT_QUOTA;
    case TESSERA_ERROR_AUTH:
    case TESSERA_ERROR_ORG_REQUIRED:
      return TOOL_EXIT_AUTH;
    case TESSERA_ERROR_NETWORK:
    case TESSERA_ERROR_UNAVAILABLE:
      return TOOL_EXIT_UNAVAILABLE;
    case TESSERA_ERROR_TAMPERED:
    case TESSERA_ERROR_UNTRUSTED_KEY:
      return TOOL_EXIT_INVALID_FILE;
    case TESSERA_ERROR_MACHINE_MISMATCH:
      return TOOL_EXIT_MACHINE;
    case TESSERA_ERROR_CONFIG:
    case TESSERA_ERROR_NO_PROVIDER:
    case TESSERA_ERROR_PLUGIN_LOAD:
    case TESSERA_ERROR_ABI_MISMATCH:
    case TESSERA_ERROR_BACKEND:
      return TOOL_EXIT_CONFIG;
    case TESSERA_ERROR_NOT_SUPPORTED:
    case TESSERA_ERROR_INVALID_ARGUMENT:
      return TOOL_EXIT_REFUSED;
    case TESSERA_ERROR_PERMISSION_DENIED: /* a file's mode: remote refusals are AUTH */
    case TESSERA_ERROR_FAILED:
    default:
      return TOOL_EXIT_IO;
    }
}

static void
append_wrapped (GString *out, const char *text, guint indent, guint width)
{
  g_auto (GStrv) words = g_strsplit (text, " ", -1);
  guint col = indent;
  gboolean first = TRUE;
  for (guint i = 0; words[i] != NULL; i++)
    {
      guint len = g_utf8_strlen (words[i], -1);
      if (!first && col + 1 + len > width)
        {
          g_string_append_c (out, '\n');
          for (guint k = 0; k < indent; k++)
            g_string_append_c (out, ' ');
          col = indent;
          first = TRUE;
        }
      if (!first)
        {
          g_string_append_c (out, ' ');
          col++;
        }
      g_string_append (out, words[i]);
      col += len;
      first = FALSE;
    }
  g_string_append_c (out, '\n');
}

char *
tool_cli_exit_codes_text (void)
{
  GString *out = g_string_new ("Exit status (the same table for tessera, tessera-admin,\n"
                               "tessera-license and tessera-server):\n");
  for (guint i = 0; tool_exit_codes[i].code >= 0; i++)
    {
      g_string_append_printf (out, "  %-4d ", tool_exit_codes[i].code);
      append_wrapped (out, tool_exit_codes[i].meaning, 7, 79);
    }
  return g_string_free (out, FALSE);
}

const ToolCommand *
tool_cli_find (const ToolSpec *spec, const char *name)
{
  for (const ToolCommand *c = spec->commands; c != NULL && c->name != NULL; c++)
    if (g_str_equal (c->name, name))
      return c;
  return NULL;
}

/* ---- did you mean ---- */

guint
tool_cli_edit_distance (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  g_autofree guint *row = g_new (guint, lb + 1);
  for (gsize j = 0; j <= lb; j++)
    row[j] = j;
  for (gsize i = 1; i <= la; i++)
    {
      guint diagonal = row[0];
      row[0] = i;
      for (gsize j = 1; j <= lb; j++)
        {
          guint above = row[j];
          guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
          row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), diagonal + cost);
          diagonal = above;
        }
    }
  return row[lb];
}

const char *
tool_cli_nearest (const char *word, const char *const *candidates)
{
  /* A third of the word: "activte" finds "activate", "foo" finds nothing. */
  guint limit = CLAMP (strlen (word) / 3, 1, 3);
  const char *best = NULL;
  guint best_distance = G_MAXUINT;
  for (guint i = 0; candidates[i] != NULL; i++)
    {
      guint d = tool_cli_edit_distance (word, candidates[i]);
      if (d < best_distance)
        {
          best = candidates[i];
          best_distance = d;
        }
    }
  return best_distance <= limit ? best : NULL;
}

const char *
tool_cli_nearest_command (const ToolSpec *spec, const char *typed)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  for (const ToolCommand *c = spec->commands; c != NULL && c->name != NULL; c++)
    g_ptr_array_add (names, (gpointer) c->name);
  g_ptr_array_add (names, NULL);
  return tool_cli_nearest (typed, (const char *const *) names->pdata);
}

/* Every command takes --help; the tool itself --version too. */
static const ToolOption implied_options[] = {
  { "help", 'h', TOOL_ARG_NONE, NULL, "Show this help" },
  TOOL_OPTION_END,
};
static const ToolOption top_options[] = {
  { "help", 'h', TOOL_ARG_NONE, NULL, "Show this help" },
  { "version", 0, TOOL_ARG_NONE, NULL, "Show the version" },
  TOOL_OPTION_END,
};

char *
tool_cli_unknown_option (const ToolSpec *spec, const ToolCommand *command, int argc, char **argv)
{
  const ToolOption *lists[] = { command != NULL ? command->options : NULL, spec->global_options,
                                command != NULL ? implied_options : top_options };
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      if (g_str_equal (arg, "--"))
        break;
      if (!g_str_has_prefix (arg, "--") || arg[2] == '\0')
        continue;
      g_autofree char *name = g_strndup (arg + 2, strcspn (arg + 2, "="));
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      gboolean known = FALSE;
      const ToolOption *found = NULL;
      for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
        for (const ToolOption *o = lists[l]; o != NULL && o->long_name != NULL; o++)
          {
            g_ptr_array_add (names, (gpointer) o->long_name);
            if (g_str_equal (o->long_name, name))
              {
                known = TRUE;
                found = o;
              }
          }
      /* The argument of an option that takes one is not an option. */
      if (known && found->arg != TOOL_ARG_NONE && strchr (arg, '=') == NULL)
        i++;
      if (known)
        continue;
      g_ptr_array_add (names, NULL);
      const char *near = tool_cli_nearest (name, (const char *const *) names->pdata);
      if (near != NULL)
        return g_strdup_printf ("unknown option '--%s': did you mean '--%s'?", name, near);
      return g_strdup_printf ("unknown option '--%s'", name);
    }
  return NULL;
}

/* ---- the parser's entries, checked against the table ---- */

static gboolean
kind_matches (ToolArg kind, GOptionArg arg)
{
  switch (kind)
    {
    case TOOL_ARG_NONE:
      return arg == G_OPTION_ARG_NONE;
    case TOOL_ARG_STRING:
      return arg == G_OPTION_ARG_STRING;
    case TOOL_ARG_INT:
      return arg == G_OPTION_ARG_INT || arg == G_OPTION_ARG_INT64;
    case TOOL_ARG_FILENAME:
      return arg == G_OPTION_ARG_FILENAME;
    case TOOL_ARG_STRING_ARRAY:
      return arg == G_OPTION_ARG_STRING_ARRAY;
    case TOOL_ARG_FILENAME_ARRAY:
      return arg == G_OPTION_ARG_FILENAME_ARRAY;
    default:
      return FALSE;
    }
}

static const ToolOption *
find_option (const ToolOption *options, const char *name)
{
  for (const ToolOption *o = options; o != NULL && o->long_name != NULL; o++)
    if (g_str_equal (o->long_name, name))
      return o;
  return NULL;
}

GOptionEntry *
tool_cli_entries (const ToolSpec *spec, const ToolCommand *command, const GOptionEntry *entries)
{
  const ToolOption *table = command != NULL ? command->options : spec->global_options;
  const char *where = command != NULL ? command->name : "(global)";
  guint n = 0;
  while (entries != NULL && entries[n].long_name != NULL)
    n++;
  GOptionEntry *out = g_new0 (GOptionEntry, n + 1);
  for (guint i = 0; i < n; i++)
    {
      out[i] = entries[i];
      const ToolOption *o = find_option (table, entries[i].long_name);
      if (o == NULL)
        o = find_option (spec->global_options, entries[i].long_name);
      if (o == NULL)
        o = find_option (command != NULL ? implied_options : top_options, entries[i].long_name);
      if (o == NULL || o->short_name != entries[i].short_name
          || !kind_matches (o->arg, entries[i].arg))
        g_error ("%s %s: option --%s is parsed but not declared alike in its table "
                 "(tools/tool-spec-*.c)",
                 spec->program, where, entries[i].long_name);
      out[i].description = o->help;
      out[i].arg_description = o->arg_name;
    }
  for (const ToolOption *o = table; o != NULL && o->long_name != NULL; o++)
    {
      gboolean parsed = FALSE;
      for (guint i = 0; i < n && !parsed; i++)
        parsed = g_str_equal (entries[i].long_name, o->long_name);
      if (!parsed)
        g_error ("%s %s: option --%s is declared in its table but not parsed", spec->program, where,
                 o->long_name);
    }
  return out;
}

/* ---- help ---- */

static void
append_options (GString *out, const ToolOption *options)
{
  for (const ToolOption *o = options; o != NULL && o->long_name != NULL; o++)
    {
      g_autoptr (GString) left = g_string_new ("  ");
      if (o->short_name != 0)
        g_string_append_printf (left, "-%c, ", o->short_name);
      else
        g_string_append (left, "    ");
      g_string_append_printf (left, "--%s", o->long_name);
      if (o->arg_name != NULL)
        g_string_append_printf (left, "=%s", o->arg_name);
      if (o->arg == TOOL_ARG_STRING_ARRAY || o->arg == TOOL_ARG_FILENAME_ARRAY)
        g_string_append (left, "…");
      g_string_append (out, left->str);
      guint col = g_utf8_strlen (left->str, -1);
      if (col + 2 > 30)
        {
          g_string_append_c (out, '\n');
          col = 0;
        }
      for (; col < 30; col++)
        g_string_append_c (out, ' ');
      append_wrapped (out, o->help, 30, 100);
    }
}

char *
tool_cli_command_help (const ToolSpec *spec, const ToolCommand *command)
{
  GString *out = g_string_new (NULL);
  g_string_append_printf (out, "Usage:\n  %s %s [OPTION…]%s%s\n\n", spec->program, command->name,
                          command->parameters ? " " : "",
                          command->parameters ? command->parameters : "");
  g_string_append_printf (out, "%s\n", command->summary);
  if (command->options != NULL && command->options[0].long_name != NULL)
    {
      g_string_append (out, "\nOptions:\n");
      append_options (out, command->options);
    }
  g_string_append (out, "\nGlobal options:\n");
  append_options (out, spec->global_options);
  append_options (out, implied_options);
  g_string_append_printf (out, "\nExit status: see '%s --help' or man %s.\n", spec->program,
                          spec->program);
  return g_string_free (out, FALSE);
}

char *
tool_cli_help (const ToolSpec *spec, const char *extra)
{
  GString *out = g_string_new (NULL);
  g_string_append_printf (out, "Usage:\n  %s %s\n\n%s\n", spec->program, spec->usage,
                          spec->summary);
  if (spec->commands != NULL)
    {
      g_string_append (out, "\nCommands:\n");
      for (const ToolCommand *c = spec->commands; c->name != NULL; c++)
        {
          g_string_append_printf (out, "  %-23s ", c->name);
          append_wrapped (out, c->summary, 26, 100);
        }
    }
  g_string_append (out, spec->commands != NULL ? "\nGlobal options:\n" : "\nOptions:\n");
  append_options (out, spec->global_options);
  append_options (out, top_options);
  if (spec->commands != NULL)
    g_string_append_printf (out, "\n'%s COMMAND --help' shows a command's options.\n",
                            spec->program);
  if (extra != NULL)
    g_string_append_printf (out, "%s\n", extra);
  g_autofree char *codes = tool_cli_exit_codes_text ();
  g_string_append_printf (out, "\n%s", codes);
  return g_string_free (out, FALSE);
}

void
tool_cli_print_version (const ToolSpec *spec)
{
  printf ("%s %s\n", spec->program, TESSERA_VERSION_STRING);
}
