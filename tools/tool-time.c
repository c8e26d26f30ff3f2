/* Times on the administrators' command lines (tessera-license,
 * tessera-admin): one strict parser, so both tools accept the same. */
#include "tool-time.h"

#include <string.h>

gboolean
tool_parse_time (const char *text, gint64 *out)
{
  if (text == NULL || *text == '\0')
    return FALSE;
  gboolean digits = TRUE;
  for (const char *p = text; *p; p++)
    digits &= g_ascii_isdigit (*p);
  if (digits)
    {
      guint64 v = 0;
      if (!g_ascii_string_to_unsigned (text, 10, 1, G_MAXINT64 / 2, &v, NULL))
        return FALSE;
      *out = (gint64) v;
      return TRUE;
    }

  g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr (GDateTime) dt = NULL;
  if (strlen (text) == 10 && text[4] == '-' && text[7] == '-')
    {
      /* A bare date: midnight UTC. Each part strictly decimal. */
      guint64 y = 0, m = 0, d = 0;
      g_autofree char *ys = g_strndup (text, 4), *ms = g_strndup (text + 5, 2),
                      *ds = g_strndup (text + 8, 2);
      if (g_ascii_string_to_unsigned (ys, 10, 1, 9999, &y, NULL)
          && g_ascii_string_to_unsigned (ms, 10, 1, 12, &m, NULL)
          && g_ascii_string_to_unsigned (ds, 10, 1, 31, &d, NULL))
        dt = g_date_time_new (utc, (gint) y, (gint) m, (gint) d, 0, 0, 0);
    }
  else
    dt = g_date_time_new_from_iso8601 (text, utc);
  if (dt == NULL)
    return FALSE;
  *out = g_date_time_to_unix (dt);
  return TRUE;
}
