/* tessera-license inspect and verify: what a license file says and
 * whether it is valid, as text or JSON. */
#include "tessera-license.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
void
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

int
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

int
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
