/* tessera machine-id --request and --explain [FILE]: what this machine's
 * ID is made of, the request an issuer makes a tolerant license from, and
 * whether a license file matches this machine, component by component
 * (docs/fingerprint.md). The core fingerprint throughout: it is what the
 * offline provider binds files to. */
#include "tessera-cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(TESSERA_SYSCONF_DIR) || !defined(TESSERA_DATA_DIR)
#error "the key folders must be defined (tools/CMakeLists.txt)"
#endif

/* Why a component may not be read, for the person looking at the list. */
static const char *
unread_hint (const char *component)
{
  if (g_str_equal (component, "dmi-uuid"))
    return "usually readable by root only";
  if (g_str_equal (component, "nic"))
    return "no permanent MAC of a physical network card";
  if (g_str_equal (component, "machine-id"))
    return "no /etc/machine-id";
  return "not found";
}

/* The issuer's public keys: those given, or where `tessera-license trust`
 * installs them (the offline provider's default). */
static TesseraTrustedKeys *
load_keys (char **key_paths, GError **error)
{
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  if (key_paths != NULL && key_paths[0] != NULL)
    {
      for (guint i = 0; key_paths[i]; i++)
        if (!tessera_trusted_keys_add_path (keys, key_paths[i], error))
          return NULL;
      return g_steal_pointer (&keys);
    }
  const char *const defaults[] = { TESSERA_SYSCONF_DIR "/keys", TESSERA_DATA_DIR "/keys" };
  for (guint i = 0; i < G_N_ELEMENTS (defaults); i++)
    tessera_trusted_keys_add_path (keys, defaults[i], NULL);
  if (tessera_trusted_keys_get_count (keys) == 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY,
                   "no trusted key to verify the license file with: give the issuer's public key "
                   "with --trusted-key, or install it with 'tessera-license trust'");
      return NULL;
    }
  return g_steal_pointer (&keys);
}

/* A regular file of at most one byte more than a license file may have
 * (verification refuses that one). */
static GBytes *
read_file (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      int errsv = fd < 0 ? errno : EINVAL;
      if (fd >= 0)
        close (fd);
      g_autofree char *safe = cli_escape (path);
      g_set_error (error, TESSERA_ERROR,
                   errsv == ENOENT                     ? TESSERA_ERROR_NOT_FOUND
                   : errsv == EACCES || errsv == EPERM ? TESSERA_ERROR_PERMISSION_DENIED
                                                       : TESSERA_ERROR_INVALID_ARGUMENT,
                   "cannot read the license file %s: %s", safe,
                   errsv == EINVAL ? "not a regular file" : g_strerror (errsv));
      return NULL;
    }
  gsize cap = TESSERA_LICFILE_MAX_SIZE + 1, len = 0;
  guint8 *buf = g_malloc (cap);
  while (len < cap)
    {
      ssize_t n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (gsize) n;
    }
  close (fd);
  return g_bytes_new_take (buf, len);
}

int
cli_machine_id_request (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  if (fp == NULL)
    return cli_fail (error);
  g_autofree char *line = tessera_fingerprint_to_string (fp);
  if (!cli_opt_json)
    {
      g_print ("%s\n", line);
      return CLI_EXIT_OK;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "machine_id");
  json_builder_add_string_value (b, tessera_fingerprint_get_id (fp));
  json_builder_set_member_name (b, "request");
  json_builder_add_string_value (b, line);
  json_builder_set_member_name (b, "components");
  json_builder_begin_object (b);
  g_auto (GStrv) names = tessera_fingerprint_dup_components (fp);
  for (guint i = 0; names[i]; i++)
    {
      json_builder_set_member_name (b, names[i]);
      json_builder_add_string_value (b, tessera_fingerprint_get_component_digest (fp, names[i]));
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  cli_json_print (b);
  return CLI_EXIT_OK;
}

static const char *const all_components[] = { "machine-id", "dmi-uuid", "cpu", "nic", "user" };

int
cli_machine_id_explain (const char *path, char **key_paths)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  if (fp == NULL)
    return cli_fail (error);

  g_autoptr (TesseraLicfile) file = NULL;
  g_autoptr (TesseraMachineMatch) match = NULL;
  g_autoptr (GError) mismatch = NULL;
  if (path != NULL)
    {
      g_autoptr (TesseraTrustedKeys) keys = load_keys (key_paths, &error);
      g_autoptr (GBytes) contents = keys ? read_file (path, &error) : NULL;
      if (contents != NULL)
        file = tessera_licfile_verify (contents, keys, &error);
      if (file == NULL)
        return cli_fail_file (error, path);
      match = tessera_licfile_match_machine (file, fp);
      /* Machine only: whether it expired is `tessera status`'s answer. */
      tessera_licfile_check_fingerprint (file, NULL, fp, tessera_licfile_get_issued_at (file),
                                         &mismatch);
    }

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "machine_id");
  json_builder_add_string_value (b, tessera_fingerprint_get_id (fp));
  json_builder_set_member_name (b, "components");
  json_builder_begin_array (b);
  if (!cli_opt_json)
    {
      g_print ("machine ID %s (this user on this machine)\n", tessera_fingerprint_get_id (fp));
      g_print ("%-11s %-5s %-17s%s\n", "COMPONENT", "READ", "DIGEST", match ? "LICENSE" : "");
    }
  for (guint i = 0; i < G_N_ELEMENTS (all_components); i++)
    {
      const char *name = all_components[i];
      const char *digest = tessera_fingerprint_get_component_digest (fp, name);
      const char *state = match ? tessera_component_match_to_string (
                              tessera_machine_match_get_component (match, name))
                                : NULL;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, name);
      json_builder_set_member_name (b, "read");
      json_builder_add_boolean_value (b, digest != NULL);
      json_builder_set_member_name (b, "digest");
      if (digest)
        json_builder_add_string_value (b, digest);
      else
        json_builder_add_null_value (b);
      if (state)
        {
          json_builder_set_member_name (b, "license");
          json_builder_add_string_value (b, state);
        }
      json_builder_end_object (b);
      g_autofree char *hint = digest ? NULL : g_strdup_printf ("(%s)", unread_hint (name));
      if (!cli_opt_json)
        g_print ("%-11s %-5s %-17s%s%s%s\n", name, digest ? "yes" : "no", digest ? digest : "-",
                 state ? state : "", state && hint ? " " : "", hint ? hint : "");
    }
  json_builder_end_array (b);

  if (file != NULL)
    {
      g_autofree char *why = tessera_machine_match_dup_explanation (match);
      g_autofree char *safe_path = cli_escape (path);
      json_builder_set_member_name (b, "license");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "file");
      json_builder_add_string_value (b, safe_path);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, tessera_licfile_get_license_id (file));
      json_builder_set_member_name (b, "machine_id");
      json_builder_add_string_value (b, tessera_licfile_get_machine_id (file));
      json_builder_set_member_name (b, "match_policy");
      json_builder_add_string_value (b, tessera_machine_match_get_policy (match));
      json_builder_set_member_name (b, "matches");
      json_builder_add_boolean_value (b, mismatch == NULL);
      json_builder_set_member_name (b, "hardware_bound");
      json_builder_add_int_value (b, tessera_machine_match_get_bound (match));
      json_builder_set_member_name (b, "hardware_matched");
      json_builder_add_int_value (b, tessera_machine_match_get_matched (match));
      json_builder_set_member_name (b, "hardware_required");
      json_builder_add_int_value (b, tessera_machine_match_get_required (match));
      json_builder_set_member_name (b, "explanation");
      json_builder_add_string_value (b, why);
      json_builder_end_object (b);
      if (!cli_opt_json)
        g_print ("license %s (%s, machine %s, match policy %s): %s: %s\n",
                 tessera_licfile_get_license_id (file), safe_path,
                 tessera_licfile_get_machine_id (file), tessera_machine_match_get_policy (match),
                 mismatch ? "does not match this machine" : "matches this machine", why);
    }
  if (mismatch != NULL)
    cli_json_add_error (b, mismatch);
  json_builder_end_object (b);
  if (cli_opt_json)
    cli_json_print (b);
  /* A mismatch is the answer, but scripts see it in the exit code too,
   * and stderr gets its one line as for any failure. */
  if (mismatch != NULL && !cli_opt_json)
    return cli_fail (mismatch);
  if (mismatch != NULL)
    {
      g_autofree char *line = cli_one_line (mismatch->message);
      g_printerr ("tessera machine-id: %s\n", line);
      return cli_exit_code (mismatch);
    }
  return CLI_EXIT_OK;
}

/* "offline.components-matched" is "a,b,c": a JSON array of names. */
static void
add_names (JsonBuilder *b, const char *member, const char *list)
{
  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  g_auto (GStrv) names = g_strsplit (list ? list : "", ",", -1);
  for (guint i = 0; names[i]; i++)
    if (names[i][0] != '\0')
      {
        g_autofree char *safe = cli_escape (names[i]);
        json_builder_add_string_value (b, safe);
      }
  json_builder_end_array (b);
}

void
cli_json_add_machine_match (JsonBuilder *b, TesseraLicense *license)
{
  const char *policy = tessera_license_get_attribute (license, "offline.match-policy");
  if (policy == NULL)
    return;
  g_autofree char *safe_policy = cli_escape (policy);
  g_autofree char *why = cli_escape (tessera_license_get_attribute (license, "offline.match"));
  json_builder_set_member_name (b, "machine_match");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "policy");
  json_builder_add_string_value (b, safe_policy);
  add_names (b, "matched", tessera_license_get_attribute (license, "offline.components-matched"));
  add_names (b, "changed", tessera_license_get_attribute (license, "offline.components-changed"));
  json_builder_set_member_name (b, "explanation");
  if (why)
    json_builder_add_string_value (b, why);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
}
