/* tessera-license keygen and issue: signing keys and the license files
 * they sign (docs/license-file.md). */
#include "tessera-license.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- keygen ---- */

int
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

int
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
