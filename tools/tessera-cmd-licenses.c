/* tessera: commands about licenses: activate, status, validate, release,
 * offline install. */
#include "tessera-cli.h"

#include <stdlib.h>

static char *opt_product;
static char *opt_api_key;
static char *opt_org_id;
static int opt_wait = -1;
static int opt_warn_days = 14;
static gboolean opt_stored_only;
static gboolean opt_replace;

/* Parses --product and checks it was given when @required. */
static int
require_product (const char *name, gboolean required)
{
  if (required && opt_product == NULL)
    return cli_usage (name, "--product is required");
  return -1;
}

static TesseraActivateOptions *
activate_options (gboolean persist)
{
  TesseraActivateOptions *options = tessera_activate_options_new ();
  if (opt_api_key != NULL)
    tessera_activate_options_set (options, TESSERA_OPTION_API_KEY, opt_api_key);
  if (opt_org_id != NULL)
    tessera_activate_options_set (options, TESSERA_OPTION_ORG_ID, opt_org_id);
  if (opt_wait >= 0)
    {
      g_autofree char *wait = g_strdup_printf ("%d", opt_wait);
      tessera_activate_options_set (options, TESSERA_OPTION_WAIT_TIMEOUT, wait);
    }
  if (persist)
    tessera_activate_options_set (options, TESSERA_OPTION_PERSIST, "true");
  return options;
}

static void
print_license_json (const char *member, TesseraLicense *license, const char *extra_name,
                    gboolean extra)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, member);
  json_builder_begin_object (b);
  cli_json_add_license (b, license);
  json_builder_end_object (b);
  if (extra_name != NULL)
    {
      json_builder_set_member_name (b, extra_name);
      json_builder_add_boolean_value (b, extra);
    }
  json_builder_end_object (b);
  cli_json_print (b);
}

/* ---- validating several licenses ---- */

typedef struct
{
  guint pending;
  gboolean *ok;
  GError **why;
} ValidateAll;

typedef struct
{
  ValidateAll *all;
  TesseraLicense *license;
  guint index;
} ValidateOne;

static void
validate_one_done (GObject *source, GAsyncResult *result, gpointer data)
{
  (void) source;
  ValidateOne *one = data;
  one->all->ok[one->index]
      = tessera_license_validate_finish (one->license, result, &one->all->why[one->index]);
  one->all->pending--;
  g_free (one);
}

/* Validates every license of @licenses at once and waits for all: with N kept sessions and a silent
 * server, a command then waits one timeout-seconds, not N of them. Returns ok[i] (free with g_free)
 * and sets *@why to the errors (free each, then the array). */
static gboolean *
validate_all (GPtrArray *licenses, GError ***why)
{
  ValidateAll all = { 0 };
  all.ok = g_new0 (gboolean, licenses->len + 1);
  all.why = g_new0 (GError *, licenses->len + 1);
  for (guint i = 0; i < licenses->len; i++)
    {
      ValidateOne *one = g_new0 (ValidateOne, 1);
      one->all = &all;
      one->license = licenses->pdata[i];
      one->index = i;
      all.pending++;
      tessera_license_validate_async (licenses->pdata[i], NULL, validate_one_done, one);
    }
  while (all.pending > 0)
    g_main_context_iteration (NULL, TRUE);
  *why = all.why;
  return all.ok;
}

static void
free_errors (GError **errors, guint n)
{
  for (guint i = 0; i < n; i++)
    g_clear_error (&errors[i]);
  g_free (errors);
}

/* ---- activate ---- */

static int
cmd_activate (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "product", 'p', 0, G_OPTION_ARG_STRING, &opt_product, NULL, NULL },
    { "api-key", 'k', 0, G_OPTION_ARG_STRING, &opt_api_key, NULL, NULL },
    { "org-id", 'o', 0, G_OPTION_ARG_STRING, &opt_org_id, NULL, NULL },
    { "wait", 'w', 0, G_OPTION_ARG_INT, &opt_wait, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = cli_parse (name, entries, 0, &argc, &argv);
  if (rc < 0)
    rc = require_product (name, TRUE);
  if (rc >= 0)
    return rc;

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = cli_engine_new (&error);
  if (engine == NULL)
    return cli_fail (error);
  if ((rc = cli_check_product (name, engine, opt_product)) >= 0)
    return rc;
  g_autoptr (TesseraActivateOptions) options = activate_options (TRUE);
  g_autoptr (TesseraLicense) license = cli_activate (engine, opt_product, options, &error);
  if (license == NULL)
    return cli_fail (error);

  /* A provider that cannot keep a license beyond this process (offline:
   * its seat is a lock this process holds) ignores PERSIST; say so rather
   * than let the user think a seat stays taken. */
  gboolean kept = (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_PERSISTENT) != 0;
  if (cli_opt_json)
    print_license_json ("license", license, "kept", kept);
  else
    {
      g_autofree char *text = cli_describe_license (license);
      g_print ("activated: %s\n", text);
      if (kept)
        g_print ("kept for later commands: 'tessera release --product %s' frees it\n", opt_product);
      else
        g_print ("not kept: %s holds a license only while a process runs; use 'tessera run' "
                 "to hold it for a command\n",
                 tessera_license_get_provider (license));
    }
  /* Not kept: released now, when the last reference goes. */
  return CLI_EXIT_OK;
}

/* ---- status ---- */

static int
cmd_status (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "product", 'p', 0, G_OPTION_ARG_STRING, &opt_product, NULL, NULL },
    { "warn-days", 0, 0, G_OPTION_ARG_INT, &opt_warn_days, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = cli_parse (name, entries, 0, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (opt_warn_days < 0)
    return cli_usage (name, "--warn-days must be 0 or more");

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = cli_engine_new (&error);
  if (engine == NULL)
    return cli_fail (error);
  if ((rc = cli_check_product (name, engine, opt_product)) >= 0)
    return rc;
  g_autoptr (GPtrArray) licenses = tessera_engine_list_licenses (engine, opt_product, &error);
  if (licenses == NULL)
    return cli_fail (error);

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "licenses");
  json_builder_begin_array (b);
  guint usable = 0;
  GError **whys = NULL;
  g_autofree gboolean *oks = validate_all (licenses, &whys);
  for (guint i = 0; i < licenses->len; i++)
    {
      TesseraLicense *license = licenses->pdata[i];
      const GError *why = whys[i];
      gboolean ok = oks[i];
      gint64 expires = tessera_license_get_expires_at (license);
      gint64 days = cli_days_left (expires);
      gboolean warn = ok && expires != 0
                      && (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_OFFLINE)
                      && days < opt_warn_days;
      usable += ok;
      g_autofree char *text = cli_describe_stored (license, ok);
      g_autofree char *file = cli_escape (tessera_license_get_attribute (license, "offline.file"));
      if (!cli_opt_json)
        {
          g_print ("%s: %s%s%s\n", ok ? "usable" : "unusable", text, file ? ", file " : "",
                   file ? file : "");
          if (!ok)
            {
              g_autofree char *reason = cli_one_line (why->message);
              g_print ("  reason: %s\n", reason);
            }
          if (warn)
            g_print ("  warning: expires in %" G_GINT64_FORMAT
                     " days: ask your administrator for a new license file\n",
                     days);
        }
      json_builder_begin_object (b);
      cli_json_add_license (b, license);
      json_builder_set_member_name (b, "usable");
      json_builder_add_boolean_value (b, ok);
      json_builder_set_member_name (b, "expiry_warning");
      json_builder_add_boolean_value (b, warn);
      if (!ok)
        cli_json_add_error (b, why);
      json_builder_end_object (b);
    }
  free_errors (whys, licenses->len);
  json_builder_end_array (b);
  json_builder_end_object (b);
  if (cli_opt_json)
    cli_json_print (b);
  else if (licenses->len == 0)
    g_print ("no stored license%s%s\n", opt_product ? " for " : "", opt_product ? opt_product : "");
  return CLI_EXIT_OK;
}

/* ---- validate ---- */

/* Checks what this machine holds (kept sessions, installed files) and never
 * activates: taking a seat, even for a moment, could take a node-locked
 * license back from the machine it moved to, and would hide why a kept
 * session ended. */
static int
cmd_validate (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "product", 'p', 0, G_OPTION_ARG_STRING, &opt_product, NULL, NULL },
    { "stored-only", 0, 0, G_OPTION_ARG_NONE, &opt_stored_only, NULL, NULL },
    { "api-key", 'k', 0, G_OPTION_ARG_STRING, &opt_api_key, NULL, NULL },
    { "org-id", 'o', 0, G_OPTION_ARG_STRING, &opt_org_id, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = cli_parse (name, entries, 0, &argc, &argv);
  if (rc < 0)
    rc = require_product (name, TRUE);
  if (rc >= 0)
    return rc;
  /* Providers read a given key from the environment when they check a
   * kept session (there are no activation options then). */
  if (opt_api_key != NULL)
    g_setenv ("TESSERA_API_KEY", opt_api_key, TRUE);

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = cli_engine_new (&error);
  if (engine == NULL)
    return cli_fail (error);
  if ((rc = cli_check_product (name, engine, opt_product)) >= 0)
    return rc;
  g_autoptr (GPtrArray) licenses = tessera_engine_list_licenses (engine, opt_product, &error);
  if (licenses == NULL)
    return cli_fail (error);

  /* Another organization's licenses are neither checked nor reported. */
  g_autoptr (GPtrArray) checked
      = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
  for (guint i = 0; i < licenses->len; i++)
    if (opt_org_id == NULL
        || g_strcmp0 (tessera_license_get_org (licenses->pdata[i]), opt_org_id) == 0)
      g_ptr_array_add (checked, tessera_license_ref (licenses->pdata[i]));
  GError **whys = NULL;
  g_autofree gboolean *oks = validate_all (checked, &whys);
  int code = -1;
  for (guint i = 0; i < checked->len && code < 0; i++)
    if (oks[i])
      {
        TesseraLicense *license = checked->pdata[i];
        if (cli_opt_json)
          print_license_json ("license", license, "activated", FALSE);
        else
          {
            g_autofree char *text = cli_describe_license (license);
            g_print ("valid: %s\n", text);
          }
        code = CLI_EXIT_OK;
      }
  /* None valid: the first one's reason, in the order they are listed. */
  if (code < 0 && checked->len > 0)
    code = cli_fail (whys[0]);
  free_errors (whys, checked->len);
  if (code >= 0)
    return code;
  g_set_error (&error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND,
               "no stored %s license%s%s on this machine: 'tessera activate --product %s' takes "
               "one and keeps it, 'tessera offline install FILE' installs a license file "
               "(validate never takes a seat)",
               opt_product, opt_org_id != NULL ? " of organization " : "",
               opt_org_id != NULL ? opt_org_id : "", opt_product);
  return cli_fail (error);
}

/* ---- release ---- */

static int
cmd_release (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "product", 'p', 0, G_OPTION_ARG_STRING, &opt_product, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = cli_parse (name, entries, 0, &argc, &argv);
  if (rc >= 0)
    return rc;

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = cli_engine_new (&error);
  if (engine == NULL)
    return cli_fail (error);
  if ((rc = cli_check_product (name, engine, opt_product)) >= 0)
    return rc;
  g_autoptr (GPtrArray) licenses = tessera_engine_list_licenses (engine, opt_product, &error);
  if (licenses == NULL)
    return cli_fail (error);

  /* Only what a provider keeps for later holds a seat: a license file
   * lying in a folder holds none. */
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "released");
  json_builder_begin_array (b);
  guint n = 0;
  g_autoptr (GError) failure = NULL;
  for (guint i = 0; i < licenses->len; i++)
    {
      TesseraLicense *license = licenses->pdata[i];
      if (!(tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_PERSISTENT))
        continue;
      g_autoptr (GError) why = NULL;
      if (!tessera_license_release (license, NULL, &why))
        {
          if (failure == NULL)
            failure = g_steal_pointer (&why);
          continue;
        }
      n++;
      json_builder_begin_object (b);
      cli_json_add_license (b, license);
      json_builder_end_object (b);
      if (!cli_opt_json)
        {
          g_autofree char *text = cli_describe_license (license);
          g_print ("released: %s\n", text);
        }
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  if (failure != NULL)
    return cli_fail (failure);
  if (cli_opt_json)
    cli_json_print (b);
  else if (n == 0)
    g_print ("nothing to release\n");
  return CLI_EXIT_OK;
}

/* ---- offline install ---- */

static int
cmd_offline_install (const char *name, int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "replace", 0, 0, G_OPTION_ARG_NONE, &opt_replace, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = cli_parse (name, entries, 1, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (argc < 2)
    return cli_usage (name, "which license file? give its path");

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = cli_engine_new (&error);
  g_autoptr (TesseraLicense) license = NULL;
  if (engine == NULL
      || (license = tessera_engine_install_license_with_flags (
              engine, "offline", argv[1],
              opt_replace ? TESSERA_INSTALL_REPLACE : TESSERA_INSTALL_NONE, &error))
             == NULL)
    return cli_fail_file (error, argv[1]);
  if (cli_opt_json)
    print_license_json ("installed", license, NULL, FALSE);
  else
    {
      g_autofree char *text = cli_describe_license (license);
      g_autofree char *file = cli_escape (tessera_license_get_attribute (license, "offline.file"));
      g_print ("installed: %s, as %s\n", text, file);
    }
  return CLI_EXIT_OK;
}

const CliCommand cli_license_commands[] = {
  { "activate", cmd_activate },
  { "status", cmd_status },
  { "validate", cmd_validate },
  { "release", cmd_release },
  { "offline install", cmd_offline_install },
};
const guint cli_n_license_commands = G_N_ELEMENTS (cli_license_commands);
