/* tessera: shared parts of the user's command-line tool (docs/tessera.1).
 *
 *   tessera.c               main, options, exit codes, output (text or --json),
 *                           the engine, activation with a progress indicator
 *   tessera-cmd-info.c      machine-id, providers, keys forget
 *   tessera-cmd-licenses.c  activate, status, validate, release, offline install
 *   tessera-cmd-run.c       run: one license held while a command runs
 *
 * Private to the tool. */
#pragma once

#include <json-glib/json-glib.h>
#include <tessera/tessera.h>

#include "tool-cli.h"

G_BEGIN_DECLS

/* The exit codes: the table every tool shares (tool-cli.h). */
enum
{
  CLI_EXIT_OK = TOOL_EXIT_OK,
  CLI_EXIT_USAGE = TOOL_EXIT_USAGE,
  CLI_EXIT_INTERRUPTED = TOOL_EXIT_INTERRUPTED,
};

/* A command of tool_spec_tessera (tool-spec-tessera.c: its summary and
 * options) and the function that runs it. */
typedef struct
{
  const char *name; /* "offline install" */
  int (*run) (const char *name, int argc, char **argv);
} CliCommand;

/* Global options (given before or after the command). */
extern char *cli_opt_config;
extern gboolean cli_opt_json;

int cli_exit_code (const GError *error);

/* Reports @error: one line "tessera: MESSAGE" on stderr and, with --json,
 * {"error": {...}} on stdout. Returns its exit code. */
int cli_fail (const GError *error);
/* The same for an error about the file @path the user named: that it is
 * missing or not a regular file is a file problem (exit 10), not a
 * missing license or a refusal. */
int cli_fail_file (const GError *error, const char *path);
/* The same for a usage error of command @name (exit code 1). */
G_GNUC_PRINTF (2, 3)
int cli_usage (const char *name, const char *format, ...);

/* Parses the options of command @name (with the global ones and --help).
 * Returns -1 to go on, else the exit code (help printed: 0; usage: 1).
 * @max_args: how many arguments may remain after the options (-1: any). */
int cli_parse (const char *name, const GOptionEntry *entries, int max_args, int *argc,
               char ***argv);

/* The engine of --config (or the usual search), loaded. NULL with @error. */
TesseraEngine *cli_engine_new (GError **error);
/* -1 if @product is one the configuration licenses (or it names none),
 * else a usage error naming the nearest one (exit 1): a typo is not
 * "not licensed". */
int cli_check_product (const char *name, TesseraEngine *engine, const char *product);

/* Activates @product, asynchronously under a main loop: a progress
 * indicator on stderr when it is a terminal and the call takes time;
 * SIGINT or SIGTERM cancel it (G_IO_ERROR_CANCELLED). */
TesseraLicense *cli_activate (TesseraEngine *engine, const char *product,
                              TesseraActivateOptions *options, GError **error);

/* Whole days left until @expires_at (0: never, returns G_MAXINT). */
gint64 cli_days_left (gint64 expires_at);
char *cli_format_time (gint64 unix_time);
/* "offline node-locked KRE license LIC-1 (org ...), expires ... (N days left)" */
/* cli_describe_license() for a stored entry that `status` validated: an
 * unusable one (a file that does not verify or cannot be read) claims no
 * expiry it does not know ("never expires"). */
char *cli_describe_stored (TesseraLicense *license, gboolean usable);
char *cli_describe_license (TesseraLicense *license);
/* Adds the license's members to the object being built. */
void cli_json_add_license (JsonBuilder *b, TesseraLicense *license);
void cli_json_add_error (JsonBuilder *b, const GError *error);
/* Prints the builder's root on stdout, one line. */
void cli_json_print (JsonBuilder *b);
/* @message on one line: newlines become "; ", and escaped as by cli_escape(). */
char *cli_one_line (const char *message);
/* @text (nullable) made safe for a terminal and for JSON: valid UTF-8 with
 * no control characters. A byte that is not UTF-8 becomes "\xNN" (file names
 * are bytes), as do C0 controls and DEL (ESC: "\x1b"); C1 controls become
 * "\u00NN". Returns: (transfer full) (nullable). */
char *cli_escape (const char *text);

/* tessera-cmd-explain.c: machine-id --request, and --explain [FILE]. */
int cli_machine_id_request (void);
int cli_machine_id_explain (const char *path, char **key_paths);
/* Adds "machine_match" (policy, matched, changed, explanation) for a
 * license whose provider says how it matches this machine (the offline
 * provider's offline.match-* attributes); nothing otherwise. */
void cli_json_add_machine_match (JsonBuilder *b, TesseraLicense *license);

extern const CliCommand cli_info_commands[];
extern const guint cli_n_info_commands;
extern const CliCommand cli_license_commands[];
extern const guint cli_n_license_commands;
int cli_run_command (const char *name, int argc, char **argv);

G_END_DECLS
