/* What an activation says about the client besides its machine ID: the
 * host name and operating system, for the administrator's pages only
 * (docs/protocol.md, "Client information"). They are read here and never
 * reach the fingerprint: renaming a host must not move its license. */
#include "testops-private.h"

#include "client-info.h"

#include <string.h>
#include <sys/utsname.h>

/* The server refuses control characters and values over its limits rather
 * than guess (server/store-common.c): what is sent is made acceptable here,
 * so an odd host name costs a column on a page, never an activation. NULL
 * when nothing is left. */
static char *
client_text (const char *raw, gsize max)
{
  if (raw == NULL)
    return NULL;
  g_autofree char *valid = g_utf8_make_valid (raw, -1);
  GString *out = g_string_new (NULL);
  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (tessera_client_char_refused (c))
        c = ' ';
      char buf[6];
      gint n = g_unichar_to_utf8 (c, buf);
      if (out->len + (gsize) n > max)
        break; /* whole characters only */
      g_string_append_len (out, buf, n);
    }
  g_strstrip (out->str);
  out->len = strlen (out->str);
  if (out->len == 0)
    {
      g_string_free (out, TRUE);
      return NULL;
    }
  return g_string_free (out, FALSE);
}

/* os-release's PRETTY_NAME, else the kernel's name and release. */
static char *
client_os (void)
{
  g_autofree char *pretty = g_get_os_info (G_OS_INFO_KEY_PRETTY_NAME);
  if (pretty != NULL && *pretty != '\0')
    return g_steal_pointer (&pretty);
  struct utsname u;
  if (uname (&u) != 0)
    return NULL;
  return g_strdup_printf ("%s %s", u.sysname, u.release);
}

void
testops_add_client_info (JsonBuilder *b)
{
  g_autofree char *hostname = client_text (g_get_host_name (), TESTOPS_CLIENT_HOSTNAME_MAX);
  g_autofree char *raw_os = client_os ();
  g_autofree char *os = client_text (raw_os, TESTOPS_CLIENT_OS_MAX);
  if (hostname != NULL)
    {
      json_builder_set_member_name (b, "hostname");
      json_builder_add_string_value (b, hostname);
    }
  if (os != NULL)
    {
      json_builder_set_member_name (b, "os");
      json_builder_add_string_value (b, os);
    }
}
