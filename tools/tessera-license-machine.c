/* tessera-license machine-id and trust: this machine's ID, and an
 * issuer's public key installed for the products to accept. */
#include "tessera-license.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- machine-id ---- */

int
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
int
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
