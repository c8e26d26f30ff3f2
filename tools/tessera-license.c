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
#include "tool-cli.h"
#include "tool-time.h"

#include <tessera/tessera.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

#if !defined(TESSERA_SYSCONF_DIR) || !defined(TESSERA_BIN_TO_SYSCONF) || !defined(TESSERA_DOC_DIR) \
    || !defined(TESSERA_BIN_TO_DOC)
#error "the install directories must be defined (tools/CMakeLists.txt)"
#endif

/* @rel relative to this program's folder if that exists (an installed tree
 * moved to another prefix), else @configured. */
static char *
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

/* --json: every command prints one JSON object on stdout, failures too. */
static gboolean opt_json;

/* The stable name of a failure in JSON: for a license that is not valid
 * the license error's nick (tampered, expired, machine-mismatch, …, as
 * `tessera --json` says), else one per exit code: the library's codes for
 * a key file or a refused issue say less than the exit code does. */
static const char *
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

static void
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
static void
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
static void
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
static int
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
static int
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
static int
fail_stderr (int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  vreport (code, NULL, FALSE, format, args);
  va_end (args);
  return code;
}

static char *
format_time (gint64 t)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);
  return dt ? g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ")
            : g_strdup_printf ("%" G_GINT64_FORMAT, t);
}

/* "in 42 days", "today", "3 days ago" */
static char *
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

/* A command of tool_spec_license (tool-spec-license.c: its summary and
 * options) and the function that runs it. */
typedef struct
{
  const char *name;
  int (*run) (int argc, char **argv);
} Command;

static const Command *find_command (const char *name);

/* Parses the command's options. Returns -1 to go on, else the exit code
 * (help printed: 0; usage error reported: 1). */
static int
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

#define HELP_ENTRY                                                                                 \
  {                                                                                                \
    "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL                                           \
  }
#define JSON_ENTRY                                                                                 \
  {                                                                                                \
    "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, NULL, NULL                                       \
  }

/* ---- files ---- */

/* Reads a license file: regular, at most one byte more than any license file
 * may have (tessera_licfile_verify() refuses that one). */
static GBytes *
read_license_file (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot open %s: %s", path,
                   g_strerror (errsv));
      return NULL;
    }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s is not a regular file", path);
      return NULL;
    }
  gsize cap = TESSERA_LICFILE_MAX_SIZE + 1, len = 0;
  guint8 *buf = g_malloc (cap);
  while (len < cap)
    {
      ssize_t n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          close (fd);
          g_free (buf);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot read %s: %s",
                       path, g_strerror (errsv));
          return NULL;
        }
      if (n == 0)
        break;
      len += (gsize) n;
    }
  close (fd);
  return g_bytes_new_take (buf, len);
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Publishes @tmp under @target without ever replacing an existing file:
 * link(2), or rename with RENAME_NOREPLACE where hard links are unsupported.
 * Returns 0, or an errno (EEXIST: @target exists). @tmp is left in place. */
static int
publish_no_clobber (const char *tmp, const char *target, gboolean *tmp_consumed)
{
  *tmp_consumed = FALSE;
  if (link (tmp, target) == 0)
    return 0;
  int errsv = errno;
  if (errsv != EPERM && errsv != EOPNOTSUPP && errsv != ENOSYS)
    return errsv;
  if (renameat2 (AT_FDCWD, tmp, AT_FDCWD, target, RENAME_NOREPLACE) == 0)
    {
      *tmp_consumed = TRUE;
      return 0;
    }
  return errno;
}

/* Writes @contents to a new file: @fixed_path if given (it must not exist),
 * else the first free PRODUCT_MACHINEID[.N].lic in @dir (NULL: the current
 * directory). The bytes go to a temporary file in the same directory first,
 * so a failure leaves no partial file.
 * Returns: (transfer full): the path written, or NULL with @error. */
static char *
write_license (const char *dir, const char *fixed_path, const char *product, const char *machine_id,
               GBytes *contents, GError **error)
{
  g_autofree char *tmp_dir
      = fixed_path ? g_path_get_dirname (fixed_path) : g_strdup (dir ? dir : ".");
  g_autofree char *tmp = g_build_filename (tmp_dir, ".tessera-license-XXXXXX.tmp", NULL);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                   "cannot create a file in %s: %s", tmp_dir, g_strerror (errsv));
      return NULL;
    }
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (contents, &len);
  gboolean ok = write_all (fd, data, len) && fsync (fd) == 0;
  int errsv = errno;
  if (close (fd) != 0 && ok)
    {
      ok = FALSE;
      errsv = errno;
    }
  if (!ok)
    {
      g_unlink (tmp);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot write %s: %s", tmp,
                   g_strerror (errsv));
      return NULL;
    }

  char *target = NULL;
  gboolean consumed = FALSE;
  for (guint serial = 0; serial < 100000; serial++)
    {
      if (fixed_path != NULL)
        target = g_strdup (fixed_path);
      else
        {
          g_autofree char *name = tessera_licfile_file_name (product, machine_id, serial);
          target = dir ? g_build_filename (dir, name, NULL) : g_steal_pointer (&name);
        }
      errsv = publish_no_clobber (tmp, target, &consumed);
      if (errsv == 0)
        break;
      if (errsv == EEXIST && fixed_path == NULL)
        {
          g_clear_pointer (&target, g_free);
          continue;
        }
      if (errsv == EEXIST)
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                     "%s already exists: refusing to overwrite it", target);
      else
        g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "cannot create %s: %s",
                     target, g_strerror (errsv));
      g_clear_pointer (&target, g_free);
      break;
    }
  if (target == NULL && error != NULL && *error == NULL)
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "too many license files for %s_%s in %s",
                 product, machine_id, tmp_dir);
  if (!consumed)
    g_unlink (tmp);
  return target;
}

static TesseraTrustedKeys *
load_trusted_keys (char **paths, GError **error)
{
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  for (guint i = 0; paths && paths[i]; i++)
    if (!tessera_trusted_keys_add_path (keys, paths[i], error))
      return NULL;
  return g_steal_pointer (&keys);
}

static void print_json (const char *path, TesseraLicfile *file, gint64 now, const GError *problem,
                        int rc);

/* ---- keygen ---- */

static int
cmd_keygen (int argc, char **argv)
{
  gboolean help = FALSE;
  g_autofree char *secret = NULL, *public = NULL;
  const GOptionEntry entries[] = {
    { "secret", 0, 0, G_OPTION_ARG_FILENAME, &secret, NULL, NULL },
    { "public", 0, 0, G_OPTION_ARG_FILENAME, &public, NULL, NULL },
    JSON_ENTRY,
    HELP_ENTRY,
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command (find_command ("keygen"), entries, &help, &argc, &argv, 0, 0);
  if (rc >= 0)
    return rc;
  if (secret == NULL || public == NULL)
    return fail (EXIT_USAGE, "keygen: both --secret FILE and --public FILE are required");

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  if (key == NULL)
    return fail (EXIT_IO, "keygen: libsodium could not be initialized");
  if (!tessera_signing_key_save (key, secret, public, &error))
    return fail_error (EXIT_IO, error, "keygen: %s", error->message);
  if (opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "key_id");
      json_builder_add_string_value (b, tessera_signing_key_get_id (key));
      add_json_path (b, "secret", secret);
      add_json_path (b, "public", public);
      json_builder_end_object (b);
      print_json_root (b);
    }
  else
    printf ("%s\n", tessera_signing_key_get_id (key));
  return EXIT_OK;
}

/* ---- issue ---- */

/* tessera_licfile_sign() reports bad names and broken time rules with the same
 * code. A time rule is policy (exit 11), a bad name a usage error (exit 1): sign
 * once more with a time frame that certainly passes to tell which. */
static int
classify_sign_error (TesseraSigningKey *key, const TesseraLicfileInfo *info, const GError *error)
{
  if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED))
    return EXIT_REFUSED;
  if (!g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT))
    return EXIT_IO;
  TesseraLicfileInfo probe = *info;
  probe.issued_at = 1000000000;
  probe.expires_at = 0;
  probe.subscription_end = probe.issued_at + 365 * SECONDS_PER_DAY;
  g_autoptr (GBytes) ok = tessera_licfile_sign (key, &probe, NULL);
  return ok != NULL ? EXIT_REFUSED : EXIT_USAGE;
}

/* @arg: the request line itself ("tessera-fp1 ..."), or a file holding it
 * (what `tessera machine-id --request > FILE` wrote). */
static TesseraFingerprint *
read_request (const char *arg, int *code, GError **error)
{
  g_autofree char *contents = NULL;
  if (g_str_has_prefix (arg, "tessera-fp1 "))
    contents = g_strdup (arg);
  else
    {
      gsize len = 0;
      g_autoptr (GError) local_error = NULL;
      if (!g_file_get_contents (arg, &contents, &len, &local_error))
        {
          *code = EXIT_IO;
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND, "%s", local_error->message);
          return NULL;
        }
      if (strlen (contents) != len)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                       "%s holds a NUL byte: not a request", arg);
          return NULL;
        }
    }
  /* One line, as printed: a trailing newline (or CRLF from a mail) is not
   * part of it. */
  g_strchomp (contents);
  if (strchr (contents, '\n') != NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "a request is one line ('tessera machine-id --request' prints it)");
      return NULL;
    }
  return tessera_fingerprint_new_from_string (contents, error);
}

static int
cmd_issue (int argc, char **argv)
{
  gboolean help = FALSE;
  g_autofree char *key_path = NULL, *machine_id = NULL, *product = NULL, *sub_end = NULL;
  g_autofree char *kind = NULL, *billing = NULL, *org = NULL, *license_id = NULL;
  g_autofree char *issued = NULL, *expires = NULL, *out_dir = NULL, *output = NULL;
  g_autofree char *request_arg = NULL, *match = NULL;
  g_auto (GStrv) entitlements = NULL;
  /* Every value is taken as bytes (FILENAME), not converted from the locale's
   * charset: an organization name in UTF-8 must work under LC_ALL=C too, and
   * tessera_licfile_sign() checks names and UTF-8 itself. */
  const GOptionEntry entries[] = {
    { "key", 'k', 0, G_OPTION_ARG_FILENAME, &key_path, NULL, NULL },
    { "machine-id", 'm', 0, G_OPTION_ARG_FILENAME, &machine_id, NULL, NULL },
    { "request", 'r', 0, G_OPTION_ARG_FILENAME, &request_arg, NULL, NULL },
    { "match", 0, 0, G_OPTION_ARG_FILENAME, &match, NULL, NULL },
    { "product", 'p', 0, G_OPTION_ARG_FILENAME, &product, NULL, NULL },
    { "subscription-end", 's', 0, G_OPTION_ARG_FILENAME, &sub_end, NULL, NULL },
    { "kind", 0, 0, G_OPTION_ARG_FILENAME, &kind, NULL, NULL },
    { "billing", 0, 0, G_OPTION_ARG_FILENAME, &billing, NULL, NULL },
    { "org", 'o', 0, G_OPTION_ARG_FILENAME, &org, NULL, NULL },
    { "license-id", 0, 0, G_OPTION_ARG_FILENAME, &license_id, NULL, NULL },
    { "entitlement", 'e', 0, G_OPTION_ARG_FILENAME_ARRAY, &entitlements, NULL, NULL },
    { "issued-at", 0, 0, G_OPTION_ARG_FILENAME, &issued, NULL, NULL },
    { "expires-at", 0, 0, G_OPTION_ARG_FILENAME, &expires, NULL, NULL },
    { "out", 'd', 0, G_OPTION_ARG_FILENAME, &out_dir, NULL, NULL },
    { "output", 0, 0, G_OPTION_ARG_FILENAME, &output, NULL, NULL },
    JSON_ENTRY,
    HELP_ENTRY,
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command (find_command ("issue"), entries, &help, &argc, &argv, 0, 0);
  if (rc >= 0)
    return rc;

  if (key_path == NULL || (machine_id == NULL && request_arg == NULL) || product == NULL
      || sub_end == NULL)
    return fail (EXIT_USAGE,
                 "issue: --key, --machine-id or --request, --product and "
                 "--subscription-end are required (see 'tessera-license issue --help')");
  if (match != NULL && request_arg == NULL)
    return fail (EXIT_USAGE, "issue: --match needs --request (a license issued for a machine ID "
                             "alone matches that ID exactly)");
  if (out_dir != NULL && output != NULL)
    return fail (EXIT_USAGE, "issue: give either --out DIR or --output FILE, not both");
  if (kind != NULL && !g_str_equal (kind, "node-locked") && !g_str_equal (kind, "floating"))
    return fail (EXIT_USAGE, "issue: --kind must be node-locked or floating, not '%s'", kind);
  if (billing != NULL && !g_str_equal (billing, "annual") && !g_str_equal (billing, "monthly"))
    return fail (EXIT_USAGE, "issue: --billing must be annual or monthly, not '%s'", billing);
  /* The ID names the file written and is all the license binds to: a typo
   * would make a file no machine can use. */
  if (machine_id != NULL && !tessera_fingerprint_id_is_valid (machine_id))
    {
      g_autofree char *shown = g_strescape (machine_id, NULL);
      return fail (EXIT_USAGE,
                   "issue: --machine-id '%s' is not a machine ID: it is what 'tessera "
                   "machine-id' (or 'tessera-license machine-id') prints on the user's machine, "
                   "XXXX-XXXX-XXXX-XXXX in digits and capital letters other than I, L, O and U",
                   shown);
    }

  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 issued_at = now, expires_at = 0, subscription_end = 0;
  if (!tool_parse_time (sub_end, &subscription_end))
    return fail (EXIT_USAGE,
                 "issue: --subscription-end '%s' is not a date (YYYY-MM-DD, ISO 8601 "
                 "or Unix seconds)",
                 sub_end);
  if (issued != NULL && !tool_parse_time (issued, &issued_at))
    return fail (EXIT_USAGE,
                 "issue: --issued-at '%s' is not a date (YYYY-MM-DD, ISO 8601 or Unix seconds)",
                 issued);
  if (expires != NULL && !tool_parse_time (expires, &expires_at))
    return fail (EXIT_USAGE,
                 "issue: --expires-at '%s' is not a date (YYYY-MM-DD, ISO 8601 or Unix seconds)",
                 expires);
  if (expires != NULL && expires_at <= issued_at)
    return fail (EXIT_USAGE, "issue: --expires-at must be later than the issue time");

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) request = NULL;
  if (request_arg != NULL)
    {
      int code = EXIT_USAGE;
      request = read_request (request_arg, &code, &error);
      if (request == NULL)
        return fail (code, "issue: --request: %s", error->message);
    }
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_load (key_path, &error);
  if (key == NULL)
    return fail_error (EXIT_IO, error, "issue: %s", error->message);

  g_autofree char *random_id = license_id ? NULL : g_uuid_string_random ();
  TesseraLicfileInfo info = {
    .license_id = license_id ? license_id : random_id,
    .org = org ? org : "default",
    .product = product,
    .machine_id = machine_id,
    .kind = kind ? kind : "node-locked",
    .billing = billing ? billing : "annual",
    .issued_at = issued_at,
    .expires_at = expires_at,
    .subscription_end = subscription_end,
    .entitlements = (const char *const *) entitlements,
  };
  g_autoptr (GBytes) contents
      = request ? tessera_licfile_sign_for_request (key, &info, request, match, &error)
                : tessera_licfile_sign (key, &info, &error);
  if (contents == NULL)
    {
      /* The time rules are told apart from bad names on the plain file;
       * a request or policy the plain file does not have is a usage error. */
      info.machine_id = request ? tessera_fingerprint_get_id (request) : machine_id;
      g_autoptr (GBytes) plain = request ? tessera_licfile_sign (key, &info, NULL) : NULL;
      int code = request && plain != NULL ? EXIT_USAGE : classify_sign_error (key, &info, error);
      return fail_error (code, error, "issue: %s", error->message);
    }

  const char *file_machine = request ? tessera_fingerprint_get_id (request) : machine_id;
  g_autofree char *written
      = write_license (out_dir, output, product, file_machine, contents, &error);
  if (written == NULL)
    return fail_error (EXIT_IO, error, "issue: %s", error->message);
  if (!opt_json)
    {
      printf ("%s\n", written);
      return EXIT_OK;
    }
  /* What inspect --json says of the new file: read back from what was
   * signed, with the key that signed it. */
  g_autoptr (TesseraTrustedKeys) self_keys = tessera_trusted_keys_new ();
  g_autofree char *public = tessera_signing_key_dup_public (key);
  g_autoptr (TesseraLicfile) file = NULL;
  if (!tessera_trusted_keys_add_public (self_keys, public, &error)
      || (file = tessera_licfile_verify (contents, self_keys, &error)) == NULL)
    return fail_error (EXIT_IO, error, "issue: %s was written, but cannot be read back: %s",
                       written, error->message);
  print_json (written, file, now, NULL, EXIT_OK);
  return EXIT_OK;
}

/* ---- inspect and verify ---- */

static int
exit_code_for_license_error (const GError *error)
{
  if (error->domain != TESSERA_ERROR)
    return EXIT_IO;
  switch ((TesseraError) error->code)
    {
    case TESSERA_ERROR_INVALID_ARGUMENT: /* correctly signed but malformed */
      return EXIT_INVALID;
    case TESSERA_ERROR_NOT_FOUND:
    case TESSERA_ERROR_PERMISSION_DENIED:
      return EXIT_IO;
    default:
      {
        int code = tool_cli_exit_for_error (error);
        /* Whatever else keeps a file from verifying is the file's fault. */
        return code == TOOL_EXIT_IO || code == TOOL_EXIT_REFUSED || code == TOOL_EXIT_CONFIG
                   ? EXIT_INVALID
                   : code;
      }
    }
}

/* Verifies @path against @key_paths. Returns: the verified file, or NULL with
 * @error (G_FILE_ERROR or TESSERA_ERROR) and *rc set. */
static TesseraLicfile *
verify_file (const char *path, char **key_paths, GError **error, int *rc)
{
  g_autoptr (GBytes) contents = read_license_file (path, error);
  if (contents == NULL)
    {
      *rc = EXIT_IO;
      return NULL;
    }
  g_autoptr (TesseraTrustedKeys) keys = load_trusted_keys (key_paths, error);
  if (keys == NULL)
    {
      *rc = EXIT_IO;
      return NULL;
    }
  TesseraLicfile *file = tessera_licfile_verify (contents, keys, error);
  if (file == NULL)
    *rc = exit_code_for_license_error (*error);
  return file;
}

static void
print_field (const char *label, const char *value)
{
  printf ("%-18s%s\n", label, value);
}

static void
print_human (const char *path, TesseraLicfile *file, gint64 now, const GError *problem)
{
  print_field ("file:", path);
  if (file != NULL)
    {
      gint64 expires_at = tessera_licfile_get_expires_at (file);
      g_autofree char *issued = format_time (tessera_licfile_get_issued_at (file));
      g_autofree char *expires = format_time (expires_at);
      g_autofree char *days = format_days (expires_at, now);
      g_autofree char *expires_line = g_strdup_printf ("%s (%s)", expires, days);
      g_autofree char *sub_end = format_time (tessera_licfile_get_subscription_end (file));
      g_autofree char *kind = g_strdup_printf ("%s, %s billing", tessera_licfile_get_kind (file),
                                               tessera_licfile_get_billing (file));
      const char *const *ents = tessera_licfile_get_entitlements (file);
      g_autofree char *ent_list = g_strjoinv (", ", (char **) ents);
      print_field ("product:", tessera_licfile_get_product (file));
      print_field ("machine id:", tessera_licfile_get_machine_id (file));
      /* Format 2 only: a format 1 report stays as it always was. */
      if (tessera_licfile_get_match_policy (file) != NULL)
        print_field ("match policy:", tessera_licfile_get_match_policy (file));
      print_field ("organization:", tessera_licfile_get_org (file));
      print_field ("license id:", tessera_licfile_get_license_id (file));
      print_field ("kind:", kind);
      print_field ("signed by key:", tessera_licfile_get_key_id (file));
      print_field ("issued:", issued);
      print_field ("expires:", expires_line);
      print_field ("subscription end:", sub_end);
      print_field ("entitlements:", *ent_list ? ent_list : "(none)");
    }
  if (problem == NULL)
    print_field ("status:", "VALID");
  else
    {
      g_autofree char *status = g_strdup_printf (
          "NOT VALID (%s): %s",
          problem->domain == TESSERA_ERROR ? tessera_error_to_nick ((TesseraError) problem->code)
                                           : "failed",
          problem->message);
      print_field ("status:", status);
    }
}

/* What a license file says, as one JSON object: the same for inspect,
 * verify and issue. @problem: why it is not valid (NULL: valid), with exit
 * code @rc. */
static void
print_json (const char *path, TesseraLicfile *file, gint64 now, const GError *problem, int rc)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  g_autofree char *display_path = g_filename_display_name (path); /* valid UTF-8 */
  json_builder_set_member_name (b, "file");
  json_builder_add_string_value (b, display_path);
  json_builder_set_member_name (b, "valid");
  json_builder_add_boolean_value (b, problem == NULL);
  if (file != NULL)
    {
      gint64 expires_at = tessera_licfile_get_expires_at (file);
      g_autofree char *issued = format_time (tessera_licfile_get_issued_at (file));
      g_autofree char *expires = format_time (expires_at);
      g_autofree char *sub_end = format_time (tessera_licfile_get_subscription_end (file));
      const struct
      {
        const char *name, *value;
      } strings[] = {
        { "key_id", tessera_licfile_get_key_id (file) },
        { "license_id", tessera_licfile_get_license_id (file) },
        { "org", tessera_licfile_get_org (file) },
        { "product", tessera_licfile_get_product (file) },
        { "machine_id", tessera_licfile_get_machine_id (file) },
        { "kind", tessera_licfile_get_kind (file) },
        { "billing", tessera_licfile_get_billing (file) },
      };
      for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
        {
          json_builder_set_member_name (b, strings[i].name);
          json_builder_add_string_value (b, strings[i].value);
        }
      if (tessera_licfile_get_match_policy (file) != NULL)
        {
          json_builder_set_member_name (b, "match");
          json_builder_add_string_value (b, tessera_licfile_get_match_policy (file));
        }
      const struct
      {
        const char *name;
        gint64 value;
        const char *iso;
      } times[] = {
        { "issued_at", tessera_licfile_get_issued_at (file), issued },
        { "expires_at", expires_at, expires },
        { "subscription_end", tessera_licfile_get_subscription_end (file), sub_end },
      };
      for (guint i = 0; i < G_N_ELEMENTS (times); i++)
        {
          g_autofree char *iso_name = g_strconcat (times[i].name, "_iso", NULL);
          json_builder_set_member_name (b, times[i].name);
          json_builder_add_int_value (b, times[i].value);
          json_builder_set_member_name (b, iso_name);
          json_builder_add_string_value (b, times[i].iso);
        }
      /* Whole days until expiry, rounded towards zero; negative once expired. */
      json_builder_set_member_name (b, "days_left");
      json_builder_add_int_value (b, (expires_at - now) / SECONDS_PER_DAY);
      json_builder_set_member_name (b, "entitlements");
      json_builder_begin_array (b);
      for (const char *const *e = tessera_licfile_get_entitlements (file); *e; e++)
        json_builder_add_string_value (b, *e);
      json_builder_end_array (b);
    }
  if (problem != NULL)
    add_json_error (b, rc, failure_nick (rc, problem), problem->message);
  json_builder_end_object (b);
  print_json_root (b);
}

static int
cmd_inspect (int argc, char **argv)
{
  gboolean help = FALSE;
  g_auto (GStrv) key_paths = NULL;
  const GOptionEntry entries[] = {
    { "trusted-key", 't', 0, G_OPTION_ARG_FILENAME_ARRAY, &key_paths, NULL, NULL },
    JSON_ENTRY,
    HELP_ENTRY,
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command (find_command ("inspect"), entries, &help, &argc, &argv, 1, 1);
  if (rc >= 0)
    return rc;
  const char *path = argv[1];

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicfile) file = verify_file (path, key_paths, &error, &rc);
  if (file == NULL && rc == EXIT_IO)
    return fail_error (rc, error, "inspect: %s", error->message);
  if (file == NULL && g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY)
      && key_paths == NULL)
    {
      /* Not an error of the file: nothing to verify it with. */
      g_autofree char *message
          = g_strdup_printf ("cannot verify without --trusted-key: %s", error->message);
      g_clear_error (&error);
      g_set_error_literal (&error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY, message);
    }

  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  if (file != NULL && !tessera_licfile_check (file, NULL, NULL, now, &error))
    rc = exit_code_for_license_error (error);
  if (opt_json)
    print_json (path, file, now, error, rc);
  else
    print_human (path, file, now, error);
  fflush (stdout);
  if (error != NULL)
    return fail_stderr (rc, "%s: %s", path, error->message);
  return EXIT_OK;
}

static int
cmd_verify (int argc, char **argv)
{
  gboolean help = FALSE;
  g_auto (GStrv) key_paths = NULL;
  g_autofree char *machine_id = NULL, *product = NULL;
  const GOptionEntry entries[] = {
    { "trusted-key", 't', 0, G_OPTION_ARG_FILENAME_ARRAY, &key_paths, NULL, NULL },
    { "machine-id", 'm', 0, G_OPTION_ARG_FILENAME, &machine_id, NULL, NULL },
    { "product", 'p', 0, G_OPTION_ARG_FILENAME, &product, NULL, NULL },
    JSON_ENTRY,
    HELP_ENTRY,
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command (find_command ("verify"), entries, &help, &argc, &argv, 1, 1);
  if (rc >= 0)
    return rc;
  if (key_paths == NULL)
    return fail (EXIT_USAGE, "verify: at least one --trusted-key PUB is required");
  const char *path = argv[1];

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicfile) file = verify_file (path, key_paths, &error, &rc);
  if (file == NULL && rc == EXIT_IO) /* (the analyzer cannot see that verify_file sets error) */
    return fail_error (rc, error, "%s: %s", path, error != NULL ? error->message : "cannot verify");
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  if (file != NULL && !tessera_licfile_check (file, product, machine_id, now, &error))
    rc = exit_code_for_license_error (error);
  if (opt_json)
    print_json (path, file, now, error, rc);
  if (error != NULL)
    return fail_stderr (rc, "%s: %s", path, error->message);
  if (file == NULL) /* not reached: no file, an error */
    return fail (EXIT_INVALID, "%s: cannot verify", path);
  if (opt_json)
    return EXIT_OK;

  g_autofree char *expires = format_time (tessera_licfile_get_expires_at (file));
  g_autofree char *days = format_days (tessera_licfile_get_expires_at (file), now);
  printf ("%s: valid: %s for machine %s, license %s, expires %s (%s)\n", path,
          tessera_licfile_get_product (file), tessera_licfile_get_machine_id (file),
          tessera_licfile_get_license_id (file), expires, days);
  return EXIT_OK;
}

/* ---- machine-id ---- */

static int
cmd_machine_id (int argc, char **argv)
{
  gboolean help = FALSE, components = FALSE, request = FALSE;
  const GOptionEntry entries[] = {
    { "components", 'c', 0, G_OPTION_ARG_NONE, &components, NULL, NULL },
    JSON_ENTRY,
    { "request", 'r', 0, G_OPTION_ARG_NONE, &request, NULL, NULL },
    HELP_ENTRY,
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command (find_command ("machine-id"), entries, &help, &argc, &argv, 0, 0);
  if (rc >= 0)
    return rc;

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  if (fp == NULL)
    return fail_error (EXIT_IO, error, "machine-id: %s", error->message);
  if (request)
    {
      if (components)
        return fail (EXIT_USAGE, "machine-id: --request already holds the components");
      g_autofree char *line = tessera_fingerprint_to_string (fp);
      printf ("%s\n", line);
      return EXIT_OK;
    }
  if (opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "machine_id");
      json_builder_add_string_value (b, tessera_fingerprint_get_id (fp));
      if (components)
        {
          g_auto (GStrv) names = tessera_fingerprint_dup_components (fp);
          json_builder_set_member_name (b, "components");
          json_builder_begin_object (b);
          for (guint i = 0; names[i]; i++)
            {
              json_builder_set_member_name (b, names[i]);
              json_builder_add_string_value (
                  b, tessera_fingerprint_get_component_digest (fp, names[i]));
            }
          json_builder_end_object (b);
        }
      json_builder_end_object (b);
      print_json_root (b);
      return EXIT_OK;
    }
  printf ("%s\n", tessera_fingerprint_get_id (fp));
  if (components)
    {
      g_auto (GStrv) names = tessera_fingerprint_dup_components (fp);
      for (guint i = 0; names[i]; i++)
        printf ("%-12s %s\n", names[i], tessera_fingerprint_get_component_digest (fp, names[i]));
    }
  return EXIT_OK;
}

/* ---- main ---- */

/* ---- trust ---- */

/* What trust did: the file (and, with --json, the key and whether it
 * was there already). */
static void
print_trusted (const char *target, const char *key_id, gboolean already)
{
  if (!opt_json)
    {
      printf ("%s\n", target);
      return;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_json_path (b, "file", target);
  json_builder_set_member_name (b, "key_id");
  json_builder_add_string_value (b, key_id);
  json_builder_set_member_name (b, "already_trusted");
  json_builder_add_boolean_value (b, already);
  json_builder_end_object (b);
  print_json_root (b);
}

/* Installs the issuer's public key where the offline provider looks by
 * default, under its key id: products on this machine then accept the
 * issuer's license files with nothing else configured. */
static int
cmd_trust (int argc, char **argv)
{
  gboolean help = FALSE;
  g_autofree char *dir = NULL;
  const GOptionEntry entries[] = {
    { "dir", 'd', 0, G_OPTION_ARG_FILENAME, &dir, NULL, NULL },
    JSON_ENTRY,
    HELP_ENTRY,
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command (find_command ("trust"), entries, &help, &argc, &argv, 1, 1);
  if (rc >= 0)
    return rc;
  const char *path = argv[1];
  if (dir == NULL)
    {
      g_autofree char *sysconf = installed_dir (TESSERA_BIN_TO_SYSCONF, TESSERA_SYSCONF_DIR);
      dir = g_build_filename (sysconf, "keys", NULL);
    }

  /* A key file is one short line: anything larger is not one. */
  g_autoptr (GError) error = NULL;
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (path, FALSE, &error);
  if (mapped == NULL)
    return fail (EXIT_IO, "trust: %s", error->message);
  gsize len = g_mapped_file_get_length (mapped);
  if (len == 0 || len > 1024)
    return fail (EXIT_IO, "trust: %s is not a public key file (%zu bytes)", path, len);
  g_autofree char *line = g_strndup (g_mapped_file_get_contents (mapped), len);
  g_strstrip (line);
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  if (strchr (line, '\n') != NULL || !tessera_trusted_keys_add_public (keys, line, &error))
    return fail (EXIT_IO,
                 "trust: %s is not a public key file (%s): give the .pub file "
                 "'tessera-license keygen --public' wrote, never the secret key",
                 path, error ? error->message : "more than one line");
  /* "tessera-ed25519-public KEYID BASE64": the id names the file. */
  g_auto (GStrv) fields = g_strsplit (line, " ", 3);
  g_autofree char *name = g_strconcat (fields[1], ".pub", NULL);
  g_autofree char *target = g_build_filename (dir, name, NULL);
  g_autofree char *contents = g_strconcat (line, "\n", NULL);

  g_autofree char *existing = NULL;
  if (g_file_get_contents (target, &existing, NULL, NULL))
    {
      if (g_str_equal (g_strstrip (existing), line))
        {
          print_trusted (target, fields[1], TRUE);
          g_printerr ("tessera-license: key %s is already trusted (%s)\n", fields[1], target);
          return EXIT_OK;
        }
      return fail (EXIT_IO, "trust: %s exists and holds another key: remove it first", target);
    }
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return fail (EXIT_IO, "trust: the trusted-key folder %s does not exist (give one with --dir)",
                 dir);
  /* A temporary file, then link: readers never see half a key, and an
   * existing file is never replaced. */
  g_autofree char *tmp = g_build_filename (dir, ".trust-XXXXXX", NULL);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail (EXIT_IO, "trust: cannot write in %s: %s", dir, g_strerror (errno));
  gboolean written = fchmod (fd, 0644) == 0
                     && write_all (fd, (const guint8 *) contents, strlen (contents))
                     && fsync (fd) == 0;
  int errsv = errno;
  close (fd);
  gboolean consumed = FALSE;
  if (written)
    errsv = publish_no_clobber (tmp, target, &consumed);
  if (!consumed)
    g_unlink (tmp);
  if (!written || errsv != 0)
    return fail (EXIT_IO, "trust: cannot write %s: %s", target, g_strerror (errsv));
  print_trusted (target, fields[1], FALSE);
  return EXIT_OK;
}

static const Command commands[] = {
  { "keygen", cmd_keygen }, { "issue", cmd_issue },           { "inspect", cmd_inspect },
  { "verify", cmd_verify }, { "machine-id", cmd_machine_id }, { "trust", cmd_trust },
};

static const Command *
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
