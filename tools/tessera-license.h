/* tessera-license: what its commands share. tessera-license.c reports,
 * parses and dispatches; tessera-license-files.c reads and writes license
 * and key files; tessera-license-issue.c makes keys and licenses;
 * tessera-license-verify.c inspects and verifies them;
 * tessera-license-machine.c shows this machine's ID and trusts keys. */
#pragma once

#include "tool-cli.h"
#include "tool-time.h"

#include <json-glib/json-glib.h>
#include <tessera/tessera.h>

G_BEGIN_DECLS

/* The codes of the table every tool shares (tool-cli.h). */
enum
{
  EXIT_OK = TOOL_EXIT_OK,
  EXIT_USAGE = TOOL_EXIT_USAGE,
  EXIT_IO = TOOL_EXIT_IO,                /* a file is missing, unreadable, unwritable, exists */
  EXIT_INVALID = TOOL_EXIT_INVALID_FILE, /* tampered, malformed, signed by an untrusted key */
  EXIT_REFUSED = TOOL_EXIT_REFUSED,      /* the issuing policy refuses: floating, monthly, ... */
};

#define SECONDS_PER_DAY (24 * 3600)

/* A command of tool_spec_license (tool-spec-license.c: its summary and
 * options) and the function that runs it. */
typedef struct
{
  const char *name;
  int (*run) (int argc, char **argv);
} Command;

/* --json: every command prints one JSON object on stdout, failures too. */
extern gboolean opt_json;
#define JSON_ENTRY                                                                                 \
  {                                                                                                \
    "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, NULL, NULL                                       \
  }
#define HELP_ENTRY                                                                                 \
  {                                                                                                \
    "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL                                           \
  }

/* @rel relative to this program's folder if that exists, else @configured. */
char *installed_dir (const char *rel, const char *configured);

/* Reporting (tessera-license.c): a failure is one line on stderr and, with
 * --json, {"error": …} on stdout; the functions return @code. */
/* The stable name of a failure in JSON. */
const char *failure_nick (int code, const GError *cause);
void print_json_root (JsonBuilder *b);
void add_json_error (JsonBuilder *b, int code, const char *nick, const char *message);
void add_json_path (JsonBuilder *b, const char *name, const char *path);
G_GNUC_PRINTF (2, 3) int fail (int code, const char *format, ...);
G_GNUC_PRINTF (3, 4) int fail_error (int code, const GError *cause, const char *format, ...);
G_GNUC_PRINTF (2, 3) int fail_stderr (int code, const char *format, ...);
char *format_time (gint64 t);
char *format_days (gint64 t, gint64 now);
/* Returns -1 to go on, else the exit code (help: 0; usage error: 1). */
const Command *find_command (const char *name);
int parse_command (const Command *command, const GOptionEntry *entries, gboolean *help, int *argc,
                   char ***argv, int min_args, int max_args);

/* Files (tessera-license-files.c). */
/* Writes all of @data to @fd (EINTR retried). */
gboolean write_all (int fd, const guint8 *data, gsize len);
/* Moves @tmp to @target, never replacing it. Returns 0 or an errno. */
int publish_no_clobber (const char *tmp, const char *target, gboolean *tmp_consumed);
GBytes *read_license_file (const char *path, GError **error);
char *write_license (const char *dir, const char *fixed_path, const char *product,
                     const char *machine_id, GBytes *contents, GError **error);
TesseraTrustedKeys *load_trusted_keys (char **paths, GError **error);
/* A license file's report as JSON (tessera-license-verify.c). */
void print_json (const char *path, TesseraLicfile *file, gint64 now, const GError *problem, int rc);

/* The commands. */
int cmd_keygen (int argc, char **argv);
int cmd_issue (int argc, char **argv);
int cmd_inspect (int argc, char **argv);
int cmd_verify (int argc, char **argv);
int cmd_machine_id (int argc, char **argv);
int cmd_trust (int argc, char **argv);

G_END_DECLS
