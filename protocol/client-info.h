/* The informational client fields of an activation (docs/protocol.md,
 * "Client information"), shared by tessera-server, which refuses a value
 * with such a character, and the testops plugin, which replaces them before
 * sending: one rule on both sides. */
#pragma once

#include <glib.h>

/* Whether @c may not appear in a host name or OS shown to administrators:
 * control characters, line and paragraph separators, and the invisible or
 * direction-changing format characters (U+200B–U+200F, U+202A–U+202E,
 * U+2066–U+2069, U+FEFF …), with which a client could make its value look
 * like another in a table. */
static inline gboolean
tessera_client_char_refused (gunichar c)
{
  return g_unichar_iscntrl (c) || c == 0x2028 || c == 0x2029
         || g_unichar_type (c) == G_UNICODE_FORMAT;
}
