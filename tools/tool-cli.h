/* tool-cli: what the four command-line tools (tessera, tessera-admin,
 * tessera-license, tessera-server) share: one exit-code table, the command
 * tables each tool declares once (tool-spec-*.c) and everything made from
 * them: --help, --version, "did you mean", and (tool-cli-gen.c, at build
 * time) the man pages and the bash and zsh completions.
 *
 * A small static library, private to the tools; it needs only GLib and the
 * TesseraError codes. */
#pragma once

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

/* The exit codes of every tool: one code, one meaning (each tool uses the
 * ones that can happen to it). tool_exit_codes lists them for --help and
 * the man pages. */
enum
{
  TOOL_EXIT_OK = 0,
  TOOL_EXIT_USAGE = 1,        /* bad command line, unknown command, option or product */
  TOOL_EXIT_NOT_LICENSED = 2, /* no license, revoked, terminated, another product */
  TOOL_EXIT_EXPIRED = 3,      /* expired, not yet valid, clock set back */
  TOOL_EXIT_QUOTA = 4,        /* every seat (or machine slot) is taken */
  TOOL_EXIT_AUTH = 5,         /* credentials, not a member, organization required */
  TOOL_EXIT_UNAVAILABLE = 6,  /* the license server cannot be reached */
  TOOL_EXIT_INVALID_FILE = 7, /* a license file is tampered or signed by an unknown key */
  TOOL_EXIT_MACHINE = 8,      /* the license is for another machine */
  TOOL_EXIT_CONFIG = 9,       /* configuration, provider or plugin problem */
  TOOL_EXIT_IO = 10,          /* a file or the database cannot be used */
  TOOL_EXIT_REFUSED = 11,     /* refused by a rule: exists, not supported, policy */
  TOOL_EXIT_NOT_FOUND = 12,   /* no such organization, pool, user, key, session */
  TOOL_EXIT_INTERRUPTED = 130 /* SIGINT or SIGTERM before the work was done */
};

typedef struct
{
  int code;            /* -1 ends the table */
  const char *name;    /* stable word, as in JSON "code" of a tool failure */
  const char *meaning; /* one sentence */
} ToolExitCode;

extern const ToolExitCode tool_exit_codes[];

/* The exit code of @error in the shared table: TesseraError codes by
 * their meaning, G_IO_ERROR_CANCELLED 130, any other domain (a file)
 * TOOL_EXIT_IO. A tool whose context gives a code a narrower meaning
 * (tessera: a missing license is "not licensed") decides that first. */
int tool_cli_exit_for_error (const GError *error);
/* The table as --help prints it, lines starting with @indent spaces. */
char *tool_cli_exit_codes_text (void);

/* How an option takes its argument (and so how a shell completes it). */
typedef enum
{
  TOOL_ARG_NONE,
  TOOL_ARG_STRING,
  TOOL_ARG_INT,
  TOOL_ARG_FILENAME,
  TOOL_ARG_STRING_ARRAY,
  TOOL_ARG_FILENAME_ARRAY,
} ToolArg;

typedef struct
{
  const char *long_name; /* NULL ends the list */
  char short_name;       /* 0: none */
  ToolArg arg;
  const char *arg_name; /* "FILE"; NULL for TOOL_ARG_NONE */
  const char *help;
} ToolOption;
#define TOOL_OPTION_END                                                                            \
  {                                                                                                \
    NULL, 0, TOOL_ARG_NONE, NULL, NULL                                                             \
  }

typedef struct
{
  const char *name;       /* "offline install"; NULL ends the table */
  const char *parameters; /* positional arguments ("FILE"), or NULL */
  const char *summary;
  const ToolOption *options; /* the command's own options */
} ToolCommand;
#define TOOL_COMMAND_END                                                                           \
  {                                                                                                \
    NULL, NULL, NULL, NULL                                                                         \
  }

typedef struct
{
  const char *program;
  const char *summary; /* one line: the man page's NAME, the help's first line */
  const char *usage;   /* after the program name: "[--json] COMMAND [OPTION…]" */
  /* Options every command takes (tessera: before or after the command);
   * for a tool without commands, all of its options. --help and --version
   * are implied. */
  const ToolOption *global_options;
  const ToolCommand *commands; /* NULL: a tool without commands */
} ToolSpec;

extern const ToolSpec tool_spec_tessera;
extern const ToolSpec tool_spec_admin;
extern const ToolSpec tool_spec_license;
extern const ToolSpec tool_spec_server;

/* Returns: (transfer none) (nullable): the command named @name. */
const ToolCommand *tool_cli_find (const ToolSpec *spec, const char *name);

/* Levenshtein distance between @a and @b (bytes). */
guint tool_cli_edit_distance (const char *a, const char *b);
/* The nearest of @candidates (NULL-terminated) to @word if it is close
 * enough to be a typo (at most a third of its length, at least 1, at
 * most 3 edits). Returns: (transfer none) (nullable). */
const char *tool_cli_nearest (const char *word, const char *const *candidates);
/* A mistyped command word(s) @typed: the nearest command, including the
 * two-word ones ("ofline install"). Returns: (transfer none) (nullable). */
const char *tool_cli_nearest_command (const ToolSpec *spec, const char *typed);

/* The first option in @argv[1..] (up to "--") that neither @command nor
 * the global options declare: "unknown option '--prodcut': did you mean
 * '--product'?". Returns: (transfer full) (nullable): that message. */
char *tool_cli_unknown_option (const ToolSpec *spec, const ToolCommand *command, int argc,
                               char **argv);

/* The GOptionEntry array of @command (NULL: the tool's global options)
 * with the help texts of the table. @entries are the command's parser
 * entries (long name, short name, kind, storage); every one of them must
 * be in the table with the same short name and kind, and every option of
 * the table must be in @entries: the parser and the documentation cannot
 * differ, and a difference aborts with a message naming it (the tests run
 * every command's --help). Returns: (transfer full): free with g_free()
 * (the strings belong to the tables). */
GOptionEntry *tool_cli_entries (const ToolSpec *spec, const ToolCommand *command,
                                const GOptionEntry *entries);

/* "tessera activate" help: usage, summary, options; the exit codes are
 * named, not repeated (they are in the tool's help). Returns: (transfer full). */
char *tool_cli_command_help (const ToolSpec *spec, const ToolCommand *command);
/* The tool's help: usage, summary, commands, global options, and the exit
 * codes once. @extra (nullable): a paragraph before the exit codes.
 * Returns: (transfer full). */
char *tool_cli_help (const ToolSpec *spec, const char *extra);
/* "tessera-admin 0.9.0" on stdout. */
void tool_cli_print_version (const ToolSpec *spec);

/* tool-cli-gen.c (the generator program only). Returns: (transfer full). */
char *tool_cli_man_page (const ToolSpec *spec, const char *template_text, const char *version,
                         GError **error);
char *tool_cli_bash_completion (const ToolSpec *spec);
char *tool_cli_zsh_completion (const ToolSpec *spec);

G_END_DECLS
