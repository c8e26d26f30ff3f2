/* tessera-admin: web sign-in (the /admin/ pages of tessera-server). The
 * password is read from standard input, never from the command line, where
 * other users could see it in the process list. */
#include "tessera-admin.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int
cmd_password_set (const char *name, int argc, char **argv)
{
  g_autofree char *email = NULL;
  const GOptionEntry entries[] = {
    { "email", 'e', 0, G_OPTION_ARG_FILENAME, &email, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = admin_parse (name, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  rc = admin_require (name, email, "--email EMAIL", NULL, NULL);
  if (rc >= 0)
    return rc;

  /* One line from stdin (a terminal, a pipe or a file); the newline ends it. */
  char buf[TS_WEB_PASSWORD_MAX + 2];
  if (fgets (buf, sizeof buf, stdin) == NULL)
    return admin_fail (EXIT_USAGE,
                       "%s: no password on standard input (e.g. printf '%%s\\n' \"$pw\" | "
                       "tessera-admin %s --email EMAIL)",
                       name, name);
  size_t len = strcspn (buf, "\r\n");
  if (buf[len] == '\0' && !feof (stdin))
    {
      sodium_memzero (buf, sizeof buf);
      return admin_fail (EXIT_USAGE, "%s: the password is over %d bytes", name,
                         TS_WEB_PASSWORD_MAX);
    }
  buf[len] = '\0';

  int open_rc = EXIT_IO;
  g_autoptr (TsStore) store = admin_open (FALSE, &open_rc);
  if (store == NULL)
    {
      sodium_memzero (buf, sizeof buf);
      return open_rc;
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *user_id = ts_store_user_by_email (store, email, &error);
  gboolean ok
      = user_id != NULL && ts_store_web_set_password (store, user_id, buf, admin_now (), &error);
  sodium_memzero (buf, sizeof buf);
  if (!ok)
    return admin_fail_error (error);
  printf ("%s\n", user_id);
  return EXIT_OK;
}

const AdminCommand admin_web_commands[] = {
  { "password set", cmd_password_set },
};
const guint admin_n_web_commands = G_N_ELEMENTS (admin_web_commands);
