/* tool-cli-gen: writes a tool's man page, bash and zsh completions from its
 * command table (tool-spec-*.c), at build time (tools/CMakeLists.txt):
 *
 *   tool-cli-gen man TOOL TEMPLATE VERSION OUT
 *   tool-cli-gen bash TOOL OUT
 *   tool-cli-gen zsh TOOL OUT
 *
 * The same tables make --help, so the three cannot drift from it. */
#include "tool-cli.h"

#include <string.h>

/* ---- man ---- */

/* @text escaped for roff: backslashes, leading dots and quotes, and the
 * hyphens of options and names. */
static char *
roff (const char *text)
{
  GString *out = g_string_new (NULL);
  for (const char *p = text; *p; p++)
    {
      if ((guchar) *p >= 0x80)
        {
          /* groff reads ASCII: any other character as its escape. */
          g_string_append_printf (out, "\\[u%04X]", g_utf8_get_char (p));
          p = g_utf8_next_char (p) - 1;
        }
      else if (*p == '\\')
        g_string_append (out, "\\e");
      else if (*p == '-')
        g_string_append (out, "\\-");
      else if ((*p == '.' || *p == '\'') && (p == text || p[-1] == '\n'))
        g_string_append_printf (out, "\\&%c", *p);
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

static void
man_option (GString *out, const ToolOption *o)
{
  g_autofree char *name = roff (o->long_name);
  g_autofree char *help = roff (o->help);
  g_string_append (out, ".TP\n.BR");
  if (o->short_name != 0)
    g_string_append_printf (out, " \\-%c \", \"", o->short_name);
  g_string_append_printf (out, " \\-\\-%s", name);
  if (o->arg_name != NULL)
    {
      g_autofree char *arg = roff (o->arg_name);
      g_string_append_printf (out, " \" \" \\fI%s\\fR", arg);
    }
  g_string_append_printf (out, "\n%s\n", help);
}

static void
man_synopsis_line (GString *out, const char *program, const ToolCommand *c)
{
  g_autofree char *prog = roff (program);
  g_autofree char *name = roff (c->name);
  g_string_append_printf (out, ".B %s %s\n", prog, name);
  for (const ToolOption *o = c->options; o != NULL && o->long_name != NULL; o++)
    {
      g_autofree char *opt = roff (o->long_name);
      if (o->arg_name != NULL)
        {
          g_autofree char *arg = roff (o->arg_name);
          g_string_append_printf (out, ".RB [ \\-\\-%s\n.IR %s ]\n", opt, arg);
        }
      else
        g_string_append_printf (out, ".RB [ \\-\\-%s ]\n", opt);
    }
  if (c->parameters != NULL)
    {
      g_autofree char *params = roff (c->parameters);
      g_string_append_printf (out, ".I %s\n", params);
    }
  g_string_append (out, ".br\n");
}

char *
tool_cli_man_page (const ToolSpec *spec, const char *template_text, const char *version,
                   GError **error)
{
  g_autoptr (GString) synopsis = g_string_new (".SH SYNOPSIS\n");
  g_autofree char *prog = roff (spec->program);
  g_autofree char *usage = roff (spec->usage);
  g_string_append_printf (synopsis, ".B %s\n%s\n", prog, usage);
  if (spec->commands != NULL)
    {
      g_string_append (synopsis, ".PP\n");
      for (const ToolCommand *c = spec->commands; c->name != NULL; c++)
        man_synopsis_line (synopsis, spec->program, c);
    }

  g_autoptr (GString) options = g_string_new (NULL);
  if (spec->commands != NULL)
    {
      g_string_append (options, ".SH OPTIONS BY COMMAND\nThe options each command takes, as\n"
                                ".B \\-\\-help\nshows them.\n");
      for (const ToolCommand *c = spec->commands; c->name != NULL; c++)
        {
          g_autofree char *name = roff (c->name);
          g_autofree char *summary = roff (c->summary);
          g_string_append_printf (options, ".SS %s %s\n%s\n", prog, name, summary);
          if (c->options == NULL || c->options[0].long_name == NULL)
            g_string_append (options, ".PP\nNo options of its own.\n");
          for (const ToolOption *o = c->options; o != NULL && o->long_name != NULL; o++)
            man_option (options, o);
        }
      g_string_append (options, ".SH GLOBAL OPTIONS BY NAME\n");
    }
  else
    g_string_append (options, ".SH OPTIONS\n");
  for (const ToolOption *o = spec->global_options; o != NULL && o->long_name != NULL; o++)
    man_option (options, o);
  g_string_append (options, ".TP\n.BR \\-h \", \" \\-\\-help\nShow the help.\n"
                            ".TP\n.B \\-\\-version\nShow the version.\n");

  g_autoptr (GString) codes = g_string_new (
      ".SH EXIT STATUS\nOne table for tessera, tessera\\-admin, tessera\\-license and "
      "tessera\\-server: a code means the same in each.\n");
  for (guint i = 0; tool_exit_codes[i].code >= 0; i++)
    {
      g_autofree char *meaning = roff (tool_exit_codes[i].meaning);
      g_string_append_printf (codes, ".TP\n.B %d\n%s.\n", tool_exit_codes[i].code, meaning);
    }

  if (strstr (template_text, "@SYNOPSIS@") == NULL || strstr (template_text, "@OPTIONS@") == NULL
      || strstr (template_text, "@EXIT_STATUS@") == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "the template needs @SYNOPSIS@, @OPTIONS@ and @EXIT_STATUS@");
      return NULL;
    }
  g_autoptr (GString) page = g_string_new (template_text);
  g_string_replace (page, "@SYNOPSIS@\n", synopsis->str, 1);
  g_string_replace (page, "@OPTIONS@\n", options->str, 1);
  g_string_replace (page, "@EXIT_STATUS@\n", codes->str, 1);
  g_string_replace (page, "@VERSION@", version, 0);
  return g_string_free (g_steal_pointer (&page), FALSE);
}

/* ---- completions ---- */

/* The first words of the commands ("pool" of "pool create"), each once. */
static GPtrArray *
first_words (const ToolSpec *spec)
{
  GPtrArray *words = g_ptr_array_new_with_free_func (g_free);
  for (const ToolCommand *c = spec->commands; c != NULL && c->name != NULL; c++)
    {
      g_autofree char *first = g_strndup (c->name, strcspn (c->name, " "));
      if (!g_ptr_array_find_with_equal_func (words, first, g_str_equal, NULL))
        g_ptr_array_add (words, g_steal_pointer (&first));
    }
  return words;
}

static void
append_flags (GString *out, const ToolOption *options)
{
  for (const ToolOption *o = options; o != NULL && o->long_name != NULL; o++)
    g_string_append_printf (out, " --%s", o->long_name);
}

/* Options taking a file name, for the shell to complete files after them. */
static void
append_file_flags (GString *out, const ToolSpec *spec)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  const ToolOption *lists[64] = { spec->global_options };
  guint n = 1;
  for (const ToolCommand *c = spec->commands; c != NULL && c->name != NULL && n < 64; c++)
    lists[n++] = c->options;
  for (guint l = 0; l < n; l++)
    for (const ToolOption *o = lists[l]; o != NULL && o->long_name != NULL; o++)
      if ((o->arg == TOOL_ARG_FILENAME || o->arg == TOOL_ARG_FILENAME_ARRAY)
          && g_hash_table_add (seen, (gpointer) o->long_name))
        g_string_append_printf (out, "%s--%s", out->len ? "|" : "", o->long_name);
}

static char *
function_name (const ToolSpec *spec)
{
  g_autofree char *name = g_strdup (spec->program);
  g_strdelimit (name, "-", '_');
  return g_strdup_printf ("_%s", name);
}

char *
tool_cli_bash_completion (const ToolSpec *spec)
{
  g_autofree char *fn = function_name (spec);
  GString *out = g_string_new (NULL);
  g_string_append_printf (out,
                          "# bash completion for %s: generated from its command table by "
                          "tool-cli-gen; do not edit.\n",
                          spec->program);
  g_string_append_printf (out,
                          "%s()\n{\n  local cur prev words cword\n"
                          "  cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
                          "  prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n",
                          fn);
  g_autoptr (GString) file_flags = g_string_new (NULL);
  append_file_flags (file_flags, spec);
  if (file_flags->len > 0)
    g_string_append_printf (out,
                            "  case \"$prev\" in\n    %s)\n"
                            "      COMPREPLY=($(compgen -f -- \"$cur\"))\n      return ;;\n"
                            "  esac\n",
                            file_flags->str);
  g_autoptr (GString) global = g_string_new ("--help");
  append_flags (global, spec->global_options);
  if (spec->commands == NULL)
    {
      g_string_append (global, " --version");
      g_string_append_printf (out, "  COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n}\n",
                              global->str);
      g_string_append_printf (out, "complete -F %s %s\n", fn, spec->program);
      return g_string_free (out, FALSE);
    }
  /* The command so far: the words that are not options (nor their
   * arguments, which follow an option with no "="). */
  g_string_append (out, "  local i cmd=\"\" w\n"
                        "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
                        "    w=\"${COMP_WORDS[i]}\"\n"
                        "    case \"$w\" in\n"
                        "      --) break ;;\n"
                        "      -*) ;;\n"
                        "      *) case \"${COMP_WORDS[i-1]}\" in\n");
  g_autoptr (GString) arg_flags = g_string_new (NULL);
  {
    g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
    const ToolOption *lists[64] = { spec->global_options };
    guint n = 1;
    for (const ToolCommand *c = spec->commands; c->name != NULL && n < 64; c++)
      lists[n++] = c->options;
    for (guint l = 0; l < n; l++)
      for (const ToolOption *o = lists[l]; o != NULL && o->long_name != NULL; o++)
        if (o->arg != TOOL_ARG_NONE && g_hash_table_add (seen, (gpointer) o->long_name))
          {
            g_string_append_printf (arg_flags, "%s--%s", arg_flags->len ? "|" : "", o->long_name);
            if (o->short_name != 0)
              g_string_append_printf (arg_flags, "|-%c", o->short_name);
          }
  }
  g_string_append_printf (out,
                          "           %s) ;;\n"
                          "           *) cmd=\"${cmd:+$cmd }$w\" ;;\n"
                          "         esac ;;\n"
                          "    esac\n"
                          "  done\n"
                          "  case \"$cmd\" in\n",
                          arg_flags->len ? arg_flags->str : "--");
  for (const ToolCommand *c = spec->commands; c->name != NULL; c++)
    {
      g_autoptr (GString) flags = g_string_new (global->str);
      append_flags (flags, c->options);
      g_string_append_printf (out,
                              "    \"%s\")\n      COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n",
                              c->name, flags->str);
      if (c->parameters != NULL)
        g_string_append (out, "      [[ $cur == -* ]] || COMPREPLY+=($(compgen -f -- \"$cur\"))\n");
      g_string_append (out, "      return ;;\n");
    }
  /* A group's first word: its subcommands. */
  g_autoptr (GPtrArray) firsts = first_words (spec);
  for (guint i = 0; i < firsts->len; i++)
    {
      const char *first = firsts->pdata[i];
      g_autoptr (GString) subs = g_string_new (NULL);
      g_autofree char *prefix = g_strconcat (first, " ", NULL);
      for (const ToolCommand *c = spec->commands; c->name != NULL; c++)
        if (g_str_has_prefix (c->name, prefix))
          g_string_append_printf (subs, "%s%s", subs->len ? " " : "", c->name + strlen (prefix));
      if (subs->len > 0 && tool_cli_find (spec, first) == NULL)
        g_string_append_printf (out,
                                "    \"%s\")\n      COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n"
                                "      return ;;\n",
                                first, subs->str);
    }
  g_autoptr (GString) names = g_string_new (NULL);
  for (guint i = 0; i < firsts->len; i++)
    g_string_append_printf (names, "%s%s", names->len ? " " : "", (char *) firsts->pdata[i]);
  g_string_append_printf (out,
                          "    \"\")\n"
                          "      if [[ $cur == -* ]]; then\n"
                          "        COMPREPLY=($(compgen -W \"%s --version\" -- \"$cur\"))\n"
                          "      else\n"
                          "        COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n"
                          "      fi ;;\n"
                          "  esac\n}\n",
                          global->str, names->str);
  g_string_append_printf (out, "complete -F %s %s\n", fn, spec->program);
  return g_string_free (out, FALSE);
}

/* An option as a zsh _arguments spec: '(--x -x)'{--x=,-x+}'[help]:ARG:_files' */
static void
zsh_option (GString *out, const ToolOption *o)
{
  g_autofree char *help = g_strdup (o->help);
  /* Inside '...[...]': no quote, no brackets, no colon. */
  g_strdelimit (help, "'[]:", ' ');
  const char *action
      = o->arg == TOOL_ARG_FILENAME || o->arg == TOOL_ARG_FILENAME_ARRAY ? "_files" : " ";
  g_autofree char *arg = g_strdup (o->arg_name != NULL ? o->arg_name : "");
  g_strdelimit (arg, "'[]:", ' ');
  gboolean repeat = o->arg == TOOL_ARG_FILENAME_ARRAY || o->arg == TOOL_ARG_STRING_ARRAY;
  g_string_append_printf (
      out, "    '%s--%s%s[%s]%s%s%s%s'\n", repeat ? "*" : "", o->long_name,
      o->arg != TOOL_ARG_NONE ? "=" : "", help, o->arg != TOOL_ARG_NONE ? ":" : "", arg,
      o->arg != TOOL_ARG_NONE ? ":" : "", o->arg != TOOL_ARG_NONE ? action : "");
}

/* Autoloaded from $fpath it is the function itself; sourced, it registers. */
static void
append_zsh_tail (GString *out, const ToolSpec *spec, const char *fn)
{
  g_string_append_printf (out,
                          "if [[ $funcstack[1] == %s ]]; then\n  %s \"$@\"\nelse\n"
                          "  compdef %s %s\nfi\n",
                          fn, fn, fn, spec->program);
}

char *
tool_cli_zsh_completion (const ToolSpec *spec)
{
  g_autofree char *fn = function_name (spec);
  GString *out = g_string_new (NULL);
  g_string_append_printf (out,
                          "#compdef %s\n# zsh completion for %s: generated from its command "
                          "table by tool-cli-gen; do not edit.\n\n",
                          spec->program, spec->program);
  g_string_append_printf (out, "%s() {\n", fn);
  if (spec->commands == NULL)
    {
      g_string_append (out, "  _arguments \\\n");
      for (const ToolOption *o = spec->global_options; o->long_name != NULL; o++)
        {
          zsh_option (out, o);
          g_string_truncate (out, out->len - 1);
          g_string_append (out, " \\\n");
        }
      g_string_append (out, "    '--help[Show the help]' \\\n    '--version[Show the version]'\n"
                            "}\n\n");
      append_zsh_tail (out, spec, fn);
      return g_string_free (out, FALSE);
    }
  /* The command so far: the words before the cursor that are not options. */
  g_string_append (out, "  local -a cmdwords\n  local w i\n"
                        "  for ((i = 2; i < CURRENT; i++)); do\n"
                        "    w=${words[i]}\n"
                        "    [[ $w == -- ]] && break\n"
                        "    [[ $w == -* ]] && continue\n"
                        "    case ${words[i-1]} in\n");
  g_autoptr (GString) arg_flags = g_string_new (NULL);
  {
    g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
    const ToolOption *lists[64] = { spec->global_options };
    guint n = 1;
    for (const ToolCommand *c = spec->commands; c->name != NULL && n < 64; c++)
      lists[n++] = c->options;
    for (guint l = 0; l < n; l++)
      for (const ToolOption *o = lists[l]; o != NULL && o->long_name != NULL; o++)
        if (o->arg != TOOL_ARG_NONE && g_hash_table_add (seen, (gpointer) o->long_name))
          {
            g_string_append_printf (arg_flags, "%s--%s", arg_flags->len ? "|" : "", o->long_name);
            if (o->short_name != 0)
              g_string_append_printf (arg_flags, "|-%c", o->short_name);
          }
  }
  g_string_append_printf (out,
                          "      (%s) continue ;;\n"
                          "    esac\n"
                          "    cmdwords+=($w)\n"
                          "  done\n"
                          "  case \"${cmdwords[*]}\" in\n",
                          arg_flags->len ? arg_flags->str : "--");
  for (const ToolCommand *c = spec->commands; c->name != NULL; c++)
    {
      g_string_append_printf (out, "    \"%s\")\n      _arguments \\\n", c->name);
      const ToolOption *lists[] = { c->options, spec->global_options };
      for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
        for (const ToolOption *o = lists[l]; o != NULL && o->long_name != NULL; o++)
          {
            zsh_option (out, o);
            g_string_truncate (out, out->len - 1);
            g_string_append (out, " \\\n");
          }
      g_string_append (out, "        '--help[Show the help]'");
      if (c->parameters != NULL)
        g_string_append (out, " \\\n        '*:file:_files'");
      g_string_append (out, "\n      ;;\n");
    }
  g_autoptr (GPtrArray) firsts = first_words (spec);
  for (guint i = 0; i < firsts->len; i++)
    {
      const char *first = firsts->pdata[i];
      g_autofree char *prefix = g_strconcat (first, " ", NULL);
      g_autoptr (GString) subs = g_string_new (NULL);
      for (const ToolCommand *c = spec->commands; c->name != NULL; c++)
        if (g_str_has_prefix (c->name, prefix))
          {
            g_autofree char *summary = g_strdup (c->summary);
            g_strdelimit (summary, "'\":", ' ');
            g_string_append_printf (subs, " '%s:%s'", c->name + strlen (prefix), summary);
          }
      if (subs->len > 0 && tool_cli_find (spec, first) == NULL)
        g_string_append_printf (out,
                                "    \"%s\")\n      local -a subs=(%s)\n"
                                "      _describe -t commands '%s command' subs ;;\n",
                                first, subs->str, first);
    }
  g_autoptr (GString) cmds = g_string_new (NULL);
  for (guint i = 0; i < firsts->len; i++)
    {
      const char *first = firsts->pdata[i];
      const ToolCommand *c = tool_cli_find (spec, first);
      g_autofree char *summary = g_strdup (c != NULL ? c->summary : "(subcommands)");
      g_strdelimit (summary, "'\":", ' ');
      g_string_append_printf (cmds, " '%s:%s'", first, summary);
    }
  g_string_append_printf (out, "    \"\")\n"
                               "      if [[ $PREFIX == -* ]]; then\n"
                               "        _arguments '--help[Show the help]' '--version[Show the "
                               "version]'");
  for (const ToolOption *o = spec->global_options; o != NULL && o->long_name != NULL; o++)
    {
      g_string_append (out, " \\\n");
      zsh_option (out, o);
      g_string_truncate (out, out->len - 1);
    }
  g_string_append_printf (out,
                          "\n      else\n"
                          "        local -a cmds=(%s)\n"
                          "        _describe -t commands '%s command' cmds\n"
                          "      fi ;;\n"
                          "  esac\n}\n\n",
                          cmds->str, spec->program);
  append_zsh_tail (out, spec, fn);
  return g_string_free (out, FALSE);
}

/* ---- main ---- */

static const ToolSpec *
spec_named (const char *name)
{
  const ToolSpec *specs[]
      = { &tool_spec_tessera, &tool_spec_admin, &tool_spec_license, &tool_spec_server };
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
    if (g_str_equal (specs[i]->program, name))
      return specs[i];
  return NULL;
}

int
main (int argc, char **argv)
{
  const ToolSpec *spec = argc >= 3 ? spec_named (argv[2]) : NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  const char *out = NULL;
  if (spec != NULL && argc == 6 && g_str_equal (argv[1], "man"))
    {
      g_autofree char *template_text = NULL;
      if (g_file_get_contents (argv[3], &template_text, NULL, &error))
        text = tool_cli_man_page (spec, template_text, argv[4], &error);
      out = argv[5];
    }
  else if (spec != NULL && argc == 4 && g_str_equal (argv[1], "bash"))
    {
      text = tool_cli_bash_completion (spec);
      out = argv[3];
    }
  else if (spec != NULL && argc == 4 && g_str_equal (argv[1], "zsh"))
    {
      text = tool_cli_zsh_completion (spec);
      out = argv[3];
    }
  else
    {
      g_printerr ("usage: tool-cli-gen man TOOL TEMPLATE VERSION OUT | bash TOOL OUT | zsh TOOL "
                  "OUT\n");
      return TOOL_EXIT_USAGE;
    }
  if (text == NULL || !g_file_set_contents (out, text, -1, &error))
    {
      /* The generators return NULL only with an error; say something either way. */
      g_printerr ("tool-cli-gen: %s\n", error != NULL ? error->message : "nothing was generated");
      return TOOL_EXIT_IO;
    }
  return TOOL_EXIT_OK;
}
