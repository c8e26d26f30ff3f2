/* Times given on the tools' command lines. */
#pragma once

#include <glib.h>

/* Parses "YYYY-MM-DD" (00:00 UTC; each part strictly decimal and in
 * range), a full ISO 8601 time, or Unix seconds into *@out.
 * Returns: FALSE (and *@out untouched) for anything else. */
gboolean tool_parse_time (const char *text, gint64 *out);
