/* tessera-admin: the administrator's tool for tessera-server, working
 * directly on the server's SQLite database through server/store.h (every
 * command is a trusted local administrator). See docs/protocol.md.
 *
 *   tessera-admin bootstrap --org ID --name NAME --owner EMAIL
 *   tessera-admin pool create|list|set-quota|set-match …
 *   tessera-admin member add|remove|list …
 *   tessera-admin key create|list|revoke …
 *   tessera-admin grant|revoke|grant list …
 *   tessera-admin sessions|machines|machine remove|session release …
 *   tessera-admin offline create|list …
 *   tessera-admin audit …
 *   tessera-admin password set --email EMAIL   (web sign-in; the password on stdin)
 *   tessera-admin signing-key create-kek|list|rotate|import …  (keys sealed in the database)
 *
 * Every failure exits non-zero with exactly one line on stderr and changes
 * nothing. Exit codes: the table every tool shares (tool-cli.h). */
#include "tessera-admin.h"

#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_DATABASE "./tessera.db"

static char *opt_database;
static const char *pre_database; /* --database PATH before the command */
static gboolean opt_help;
gboolean admin_opt_json;

static const AdminCommand *find_command (const char *name);

/* ---- reporting ---- */

int
admin_fail (int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_strchomp (message);
  for (char *p = message; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  fflush (stdout);
  fprintf (stderr, "tessera-admin: %s\n", message);
  return code;
}

int
admin_exit_code (const GError *error)
{
  if (error->domain != TESSERA_ERROR)
    return EXIT_IO;
  switch ((TesseraError) error->code)
    {
    case TESSERA_ERROR_PERMISSION_DENIED: /* the store: not a member of the organization */
      return EXIT_AUTH;
    case TESSERA_ERROR_ORG_REQUIRED:
    case TESSERA_ERROR_REVOKED:
    case TESSERA_ERROR_TERMINATED:
      return EXIT_REFUSED;
    case TESSERA_ERROR_UNAVAILABLE: /* the database is busy or gone */
      return EXIT_IO;
    default:
      return tool_cli_exit_for_error (error);
    }
}

int
admin_fail_error (const GError *error)
{
  return admin_fail (admin_exit_code (error), "%s", error->message);
}

/* ---- command line ---- */

int
admin_parse (const char *name, const GOptionEntry *entries, int *argc, char ***argv)
{
  const GOptionEntry common[] = {
    { "database", 'd', 0, G_OPTION_ARG_FILENAME, &opt_database, NULL, NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &opt_help, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  const ToolCommand *command = tool_cli_find (&tool_spec_admin, name);
  g_assert (command != NULL);
  /* Before GOption, which says only "Unknown option": the nearest one. */
  g_autofree char *unknown = tool_cli_unknown_option (&tool_spec_admin, command, *argc, *argv);
  /* A suggestion is the help that is needed; without one, where to look. */
  if (unknown != NULL && strstr (unknown, "did you mean") != NULL)
    return admin_fail (EXIT_USAGE, "%s: %s", name, unknown);
  if (unknown != NULL)
    return admin_fail (EXIT_USAGE, "%s: %s (see 'tessera-admin %s --help')", name, unknown, name);
  g_autofree GOptionEntry *own = tool_cli_entries (&tool_spec_admin, command, entries);
  g_autofree GOptionEntry *global = tool_cli_entries (&tool_spec_admin, NULL, common);
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  /* --help is our own entry: GOption would exit() from inside the parser. */
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_add_main_entries (context, own, NULL);
  g_option_context_add_main_entries (context, global, NULL);

  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, argc, argv, &error))
    return admin_fail (EXIT_USAGE, "%s: %s (see 'tessera-admin %s --help')", name, error->message,
                       name);
  if (opt_help)
    {
      g_autofree char *text = tool_cli_command_help (&tool_spec_admin, command);
      fputs (text, stdout);
      return EXIT_OK;
    }
  if (*argc > 1)
    return admin_fail (EXIT_USAGE, "%s: unexpected argument '%s' (see 'tessera-admin %s --help')",
                       name, (*argv)[1], name);
  return -1;
}

int
admin_require (const char *name, ...)
{
  va_list args;
  va_start (args, name);
  int rc = -1;
  for (;;)
    {
      const char *value = va_arg (args, const char *);
      const char *option = va_arg (args, const char *);
      if (option == NULL)
        break;
      if (value == NULL || *value == '\0')
        {
          rc = admin_fail (EXIT_USAGE, "%s: %s is required (see 'tessera-admin %s --help')", name,
                           option, name);
          break;
        }
    }
  va_end (args);
  return rc;
}

TsStore *
admin_open (gboolean create, int *rc)
{
  const char *path = opt_database ? opt_database : pre_database ? pre_database : DEFAULT_DATABASE;
  gboolean url = g_str_has_prefix (path, "postgresql://") || g_str_has_prefix (path, "postgres://");
  if (!create && !url && !g_file_test (path, G_FILE_TEST_EXISTS))
    {
      *rc = admin_fail (EXIT_IO,
                        "the database %s does not exist (make it with 'tessera-admin bootstrap', "
                        "or name it with --database PATH)",
                        path);
      return NULL;
    }
  g_autoptr (GError) error = NULL;
  TsStore *store = ts_store_open (path, &error);
  if (store == NULL)
    {
      /* Whatever the code: the database itself is the problem. */
      *rc = admin_fail (EXIT_IO, "%s", error->message);
      return NULL;
    }
  return store;
}

gint64
admin_now (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* ---- people ---- */

/* ISO 8601 in UTC, as every listing shows times. */
static char *
format_time (gint64 t)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);
  return dt ? g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ")
            : g_strdup_printf ("%" G_GINT64_FORMAT, t);
}

struct _AdminEmails
{
  TsStore *store;
  GHashTable *known; /* id -> email, or "" for an id that is no user */
};

AdminEmails *
admin_emails_new (TsStore *store)
{
  AdminEmails *e = g_new0 (AdminEmails, 1);
  e->store = store;
  e->known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return e;
}

void
admin_emails_free (AdminEmails *e)
{
  if (e == NULL)
    return;
  g_hash_table_unref (e->known);
  g_free (e);
}

const char *
admin_emails_get (AdminEmails *e, const char *id)
{
  /* Users have UUIDs: anything else (tessera-admin, a pool's product,
   * a role) is not looked up. */
  if (id == NULL || !g_uuid_string_is_valid (id))
    return NULL;
  const char *email = g_hash_table_lookup (e->known, id);
  if (email == NULL)
    {
      /* Not a user, or unreadable: the id is shown, which is still true. */
      char *found = ts_store_get_user_email (e->store, id, NULL);
      email = found != NULL ? found : g_strdup ("");
      g_hash_table_insert (e->known, g_strdup (id), (char *) email);
    }
  return *email != '\0' ? email : NULL;
}

const char *
admin_emails_show (AdminEmails *e, const char *id)
{
  const char *email = admin_emails_get (e, id);
  return email != NULL ? email : id;
}

char *
admin_emails_render (AdminEmails *e, const char *text)
{
  if (text == NULL)
    return NULL;
  g_auto (GStrv) words = g_strsplit (text, " ", -1);
  for (guint i = 0; words[i] != NULL; i++)
    {
      const char *email = admin_emails_get (e, words[i]);
      gboolean is_time = i > 0
                         && (g_str_equal (words[i - 1], "subscription_end")
                             || g_str_equal (words[i - 1], "expires"))
                         && *words[i] != '\0'
                         && strspn (words[i], "0123456789") == strlen (words[i]);
      char *shown = NULL;
      if (email != NULL)
        shown = g_strdup (email);
      else if (is_time)
        shown = format_time (g_ascii_strtoll (words[i], NULL, 10));
      if (shown != NULL)
        {
          g_free (words[i]);
          words[i] = shown;
        }
    }
  return g_strjoinv (" ", words);
}

char *
admin_user_id (TsStore *store, const char *user, int *rc)
{
  if (strchr (user, '@') == NULL)
    return g_strdup (user);
  g_autoptr (GError) error = NULL;
  char *id = ts_store_user_by_email (store, user, &error);
  if (id == NULL)
    *rc = admin_fail_error (error);
  return id;
}

/* ---- tables ---- */

struct _AdminTable
{
  char *name;
  char *types;
  GPtrArray *keys;    /* char *, JSON member names */
  GPtrArray *headers; /* char *, text column headers */
  GPtrArray *rows;    /* GPtrArray of char * (NULL: no value) */
};

AdminTable *
admin_table_new (const char *name, const char *types, ...)
{
  AdminTable *t = g_new0 (AdminTable, 1);
  t->name = g_strdup (name);
  t->types = g_strdup (types);
  t->keys = g_ptr_array_new_with_free_func (g_free);
  t->headers = g_ptr_array_new_with_free_func (g_free);
  t->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  va_list args;
  va_start (args, types);
  for (const char *key; (key = va_arg (args, const char *)) != NULL;)
    {
      const char *header = va_arg (args, const char *);
      g_ptr_array_add (t->keys, g_strdup (key));
      g_ptr_array_add (t->headers, g_strdup (header != NULL ? header : key));
    }
  va_end (args);
  g_assert (t->keys->len == strlen (types));
  return t;
}

void
admin_table_add (AdminTable *t, ...)
{
  GPtrArray *row = g_ptr_array_new_with_free_func (g_free);
  va_list args;
  va_start (args, t);
  for (const char *type = t->types; *type; type++)
    if (*type == 's' || *type == 'j' || *type == 'x')
      g_ptr_array_add (row, g_strdup (va_arg (args, const char *)));
    else
      g_ptr_array_add (row, g_strdup_printf ("%" G_GINT64_FORMAT, va_arg (args, gint64)));
  va_end (args);
  g_ptr_array_add (t->rows, row);
}

static char *
format_cell (char type, const char *value)
{
  if (value == NULL || *value == '\0')
    return g_strdup ("-");
  if (type != 't')
    return g_strdup (value);
  gint64 t = g_ascii_strtoll (value, NULL, 10);
  if (t == 0)
    return g_strdup ("-");
  return format_time (t);
}

static void
print_text (AdminTable *t)
{
  /* The columns a person reads: all but JSON-only ones. */
  g_autoptr (GArray) cols = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint c = 0; c < t->keys->len; c++)
    if (t->types[c] != 'j')
      g_array_append_val (cols, c);
  guint ncols = cols->len;
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_autofree gsize *width = g_new0 (gsize, ncols);
  char **header = g_new0 (char *, ncols + 1);
  for (guint c = 0; c < ncols; c++)
    header[c] = g_ascii_strup (g_ptr_array_index (t->headers, g_array_index (cols, guint, c)), -1);
  g_ptr_array_add (lines, header);
  for (guint r = 0; r < t->rows->len; r++)
    {
      GPtrArray *row = g_ptr_array_index (t->rows, r);
      char **line = g_new0 (char *, ncols + 1);
      for (guint c = 0; c < ncols; c++)
        {
          guint col = g_array_index (cols, guint, c);
          line[c] = format_cell (t->types[col], g_ptr_array_index (row, col));
        }
      g_ptr_array_add (lines, line);
    }
  for (guint l = 0; l < lines->len; l++)
    for (guint c = 0; c < ncols; c++)
      width[c] = MAX (width[c], g_utf8_strlen (((char **) g_ptr_array_index (lines, l))[c], -1));
  for (guint l = 0; l < lines->len; l++)
    {
      char **line = g_ptr_array_index (lines, l);
      g_autoptr (GString) s = g_string_new (NULL);
      for (guint c = 0; c < ncols; c++)
        {
          g_string_append (s, line[c]);
          if (c + 1 < ncols)
            for (gsize n = g_utf8_strlen (line[c], -1); n < width[c] + 2; n++)
              g_string_append_c (s, ' ');
        }
      printf ("%s\n", s->str);
    }
}

static void
print_json (AdminTable *t)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, t->name);
  json_builder_begin_array (b);
  for (guint r = 0; r < t->rows->len; r++)
    {
      GPtrArray *row = g_ptr_array_index (t->rows, r);
      json_builder_begin_object (b);
      for (guint c = 0; c < t->keys->len; c++)
        {
          const char *value = g_ptr_array_index (row, c);
          const char *key = g_ptr_array_index (t->keys, c);
          char type = t->types[c];
          if (type == 'x')
            continue;
          json_builder_set_member_name (b, key);
          if (value == NULL)
            json_builder_add_null_value (b);
          else if (type == 's' || type == 'j')
            json_builder_add_string_value (b, value);
          else
            json_builder_add_int_value (b, g_ascii_strtoll (value, NULL, 10));
          if (type == 't')
            {
              /* Seconds for programs, and the text a person reads. */
              g_autofree char *iso_key = g_strconcat (key, "_iso", NULL);
              gint64 v = value != NULL ? g_ascii_strtoll (value, NULL, 10) : 0;
              json_builder_set_member_name (b, iso_key);
              if (v == 0)
                json_builder_add_null_value (b);
              else
                {
                  g_autofree char *iso = format_time (v);
                  json_builder_add_string_value (b, iso);
                }
            }
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  g_autofree char *text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

int
admin_table_print (AdminTable *t)
{
  if (admin_opt_json)
    print_json (t);
  else
    print_text (t);
  g_ptr_array_unref (t->rows);
  g_ptr_array_unref (t->keys);
  g_ptr_array_unref (t->headers);
  g_free (t->name);
  g_free (t->types);
  g_free (t);
  return EXIT_OK;
}

/* ---- main ---- */

/* Every command, in the order the help lists them. */
static const struct
{
  const AdminCommand *commands;
  const guint *n;
} command_lists[] = {
  { admin_org_commands, &admin_n_org_commands },
  { admin_pool_commands, &admin_n_pool_commands },
  { admin_keys_commands, &admin_n_keys_commands },
  { admin_web_commands, &admin_n_web_commands },
};

static const AdminCommand *
find_command (const char *name)
{
  for (guint l = 0; l < G_N_ELEMENTS (command_lists); l++)
    for (guint i = 0; i < *command_lists[l].n; i++)
      if (g_str_equal (command_lists[l].commands[i].name, name))
        return &command_lists[l].commands[i];
  return NULL;
}

/* "pool", "member", …: the first word of two-word commands. */
static gboolean
is_group (const char *word)
{
  g_autofree char *prefix = g_strconcat (word, " ", NULL);
  for (guint l = 0; l < G_N_ELEMENTS (command_lists); l++)
    for (guint i = 0; i < *command_lists[l].n; i++)
      if (g_str_has_prefix (command_lists[l].commands[i].name, prefix))
        return TRUE;
  return FALSE;
}

/* Every command of the table runs, and every one that runs is in it. */
static void
check_commands (void)
{
  for (const ToolCommand *c = tool_spec_admin.commands; c->name != NULL; c++)
    if (find_command (c->name) == NULL)
      g_error ("tessera-admin: command '%s' is in the table but not implemented", c->name);
  for (guint l = 0; l < G_N_ELEMENTS (command_lists); l++)
    for (guint i = 0; i < *command_lists[l].n; i++)
      if (tool_cli_find (&tool_spec_admin, command_lists[l].commands[i].name) == NULL)
        g_error ("tessera-admin: command '%s' is not in the table",
                 command_lists[l].commands[i].name);
}

static void
print_top_help (void)
{
  g_autofree char *text = tool_cli_help (
      &tool_spec_admin, "--database goes before or after the command. Model and rules: "
                        "docs/protocol.md.\nOn failure exactly one line, starting with "
                        "\"tessera-admin: \", goes to stderr, and nothing was changed.");
  fputs (text, stdout);
}

int
main (int argc, char **argv)
{
  g_set_prgname ("tessera-admin");
  check_commands ();
  int rc = EXIT_USAGE;
  /* --database PATH may also come before the command. */
  while (argc > 1)
    {
      if (g_str_has_prefix (argv[1], "--database="))
        pre_database = argv[1] + strlen ("--database=");
      else if (g_str_equal (argv[1], "--database") || g_str_equal (argv[1], "-d"))
        {
          if (argc < 3)
            return admin_fail (EXIT_USAGE, "Missing argument for %s (see 'tessera-admin --help')",
                               argv[1]);
          pre_database = argv[2];
          argc--;
          argv++;
        }
      else
        break;
      argc--;
      argv++;
    }
  if (argc < 2)
    return admin_fail (EXIT_USAGE, "no command given (see 'tessera-admin --help')");
  const char *word = argv[1];
  if (g_str_equal (word, "--help") || g_str_equal (word, "-h") || g_str_equal (word, "help"))
    {
      print_top_help ();
      return EXIT_OK;
    }
  if (g_str_equal (word, "--version"))
    {
      tool_cli_print_version (&tool_spec_admin);
      return EXIT_OK;
    }

  if (word[0] == '-')
    {
      char *args[] = { (char *) "tessera-admin", (char *) word, NULL };
      g_autofree char *unknown = tool_cli_unknown_option (&tool_spec_admin, NULL, 2, args);
      return admin_fail (EXIT_USAGE, "%s (see 'tessera-admin --help')",
                         unknown != NULL ? unknown : "unknown option");
    }

  const AdminCommand *command = NULL;
  int skip = 1;
  if (argc > 2)
    {
      g_autofree char *two = g_strdup_printf ("%s %s", word, argv[2]);
      command = find_command (two);
      if (command != NULL)
        skip = 2;
    }
  if (command == NULL)
    command = find_command (word);
  if (command == NULL && is_group (word) && argc == 3
      && (g_str_equal (argv[2], "--help") || g_str_equal (argv[2], "-h")))
    {
      printf ("Usage:\n  tessera-admin %s SUBCOMMAND [OPTION…]\n\nSubcommands:\n", word);
      g_autofree char *prefix = g_strconcat (word, " ", NULL);
      for (const ToolCommand *c = tool_spec_admin.commands; c->name != NULL; c++)
        if (g_str_has_prefix (c->name, prefix))
          printf ("  %-22s %s\n", c->name, c->summary);
      printf ("\n'tessera-admin %s SUBCOMMAND --help' shows its options.\n", word);
      return EXIT_OK;
    }
  /* "pool craete" and "membr list" are two words, "audt" one. */
  g_autofree char *two = argc > 2 ? g_strdup_printf ("%s %s", word, argv[2]) : NULL;
  const char *near = two != NULL ? tool_cli_nearest_command (&tool_spec_admin, two) : NULL;
  if (command == NULL && near != NULL)
    return admin_fail (EXIT_USAGE, "unknown command '%s': did you mean '%s'?", two, near);
  if (command == NULL && is_group (word))
    return admin_fail (EXIT_USAGE,
                       "%s: unknown or missing subcommand%s%s (see 'tessera-admin --help')", word,
                       argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
  if (command == NULL && (near = tool_cli_nearest_command (&tool_spec_admin, word)) != NULL)
    return admin_fail (EXIT_USAGE, "unknown command '%s': did you mean '%s'?", word, near);
  if (command == NULL)
    return admin_fail (EXIT_USAGE, "unknown command '%s' (see 'tessera-admin --help')", word);

  /* The command sees its (last) word as argv[0]. */
  rc = command->run (command->name, argc - skip, argv + skip);
  g_free (opt_database);
  return rc;
}
