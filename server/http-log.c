/* tessera-server's log lines (http-log.h). */
#include "http-log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define TS_LOG_DOMAIN "tessera-server"

static TsLogFormat ts_log_format = TS_LOG_TEXT;
static TsLogLevel ts_log_max = TS_LOG_INFO;
static gboolean ts_log_journald;

static const char *const ts_level_names[] = { "error", "warning", "info", "debug" };
/* syslog priorities, as journald wants them in PRIORITY. */
static const char *const ts_level_priorities[] = { "3", "4", "6", "7" };

gboolean
ts_log_level_parse (const char *name, TsLogLevel *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (ts_level_names); i++)
    if (g_strcmp0 (name, ts_level_names[i]) == 0)
      {
        *out = (TsLogLevel) i;
        return TRUE;
      }
  return FALSE;
}

gboolean
ts_log_format_parse (const char *name, TsLogFormat *out)
{
  if (g_strcmp0 (name, "text") == 0)
    *out = TS_LOG_TEXT;
  else if (g_strcmp0 (name, "json") == 0)
    *out = TS_LOG_JSON;
  else
    return FALSE;
  return TRUE;
}

const char *
ts_log_level_name (TsLogLevel level)
{
  return ts_level_names[level];
}

const char *
ts_log_format_name (TsLogFormat format)
{
  return format == TS_LOG_JSON ? "json" : "text";
}

gboolean
ts_log_enabled (TsLogLevel level)
{
  return level <= ts_log_max;
}

/* The level of a line: our PRIORITY, or (a line of GLib's with none) its
 * flags. */
static TsLogLevel
ts_level_of (GLogLevelFlags flags, const GLogField *fields, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (strcmp (fields[i].key, "PRIORITY") == 0 && fields[i].length < 0)
      {
        const char *p = fields[i].value;
        if (p[0] != '\0' && p[1] == '\0' && p[0] >= '0' && p[0] <= '7')
          {
            if (p[0] <= '3')
              return TS_LOG_ERROR;
            if (p[0] == '4')
              return TS_LOG_WARNING;
            return p[0] == '7' ? TS_LOG_DEBUG : TS_LOG_INFO; /* notice, info */
          }
      }
  if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return TS_LOG_ERROR;
  if (flags & G_LOG_LEVEL_WARNING)
    return TS_LOG_WARNING;
  if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return TS_LOG_INFO;
  return TS_LOG_DEBUG;
}

static void
ts_json_escape (GString *out, const char *s)
{
  g_autofree char *valid = g_utf8_make_valid (s, -1);
  g_string_append_c (out, '"');
  for (const char *p = valid; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;
      if (c == '"' || c == '\\')
        g_string_append_printf (out, "\\%c", c);
      else if (c < 0x20)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, (char) c);
    }
  g_string_append_c (out, '"');
}

/* A value a reader (or a script) can split on spaces: quoted and escaped
 * when it holds a space, a quote, '=' or a control character. */
static void
ts_text_value (GString *out, const char *s)
{
  gboolean plain = *s != '\0';
  for (const char *p = s; *p != '\0' && plain; p++)
    plain = (guchar) *p > 0x20 && *p != '"' && *p != '=' && *p != 0x7f;
  if (plain)
    {
      g_string_append (out, s);
      return;
    }
  g_autofree char *escaped = g_strescape (s, NULL);
  g_string_append_printf (out, "\"%s\"", escaped);
}

/* Journald field names of the request members, and their names in the
 * text and JSON lines. */
static const struct
{
  const char *field;
  const char *name;
  gboolean number;
  gboolean in_message; /* the text line has it in its message already */
} ts_members[] = {
  { "REQUEST_ID", "request_id", FALSE, FALSE },
  { "REMOTE_ADDR", "remote", FALSE, FALSE },
  { "HTTP_METHOD", "method", FALSE, TRUE },
  { "HTTP_PATH", "path", FALSE, TRUE },
  { "HTTP_STATUS", "status", TRUE, TRUE },
  { "DURATION_MS", "duration_ms", TRUE, TRUE },
  { "ORG", "org", FALSE, FALSE },
  { "USER", "user", FALSE, FALSE },
  { "NOTE", "note", FALSE, FALSE },
};

static GLogWriterOutput
ts_log_writer (GLogLevelFlags flags, const GLogField *fields, gsize n, gpointer user_data)
{
  TsLogLevel level = ts_level_of (flags, fields, n);
  const char *message = NULL, *domain = NULL;
  for (gsize i = 0; i < n; i++)
    if (fields[i].length < 0 && strcmp (fields[i].key, "MESSAGE") == 0)
      message = fields[i].value;
    else if (fields[i].length < 0 && strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
      domain = fields[i].value;
  gboolean ours = g_strcmp0 (domain, TS_LOG_DOMAIN) == 0;
  if (level > ts_log_max)
    return G_LOG_WRITER_HANDLED;
  /* The libraries' chatter (GLib's debug and info lines) only when asked
   * for everything. */
  if (!ours && level >= TS_LOG_INFO && ts_log_max < TS_LOG_DEBUG)
    return G_LOG_WRITER_HANDLED;
  if (ts_log_journald
      && g_log_writer_journald (flags, fields, n, user_data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  gint64 now = g_get_real_time ();
  time_t secs = (time_t) (now / G_USEC_PER_SEC);
  struct tm tm;
  gmtime_r (&secs, &tm);
  char stamp[64];
  snprintf (stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            (int) (now % G_USEC_PER_SEC / 1000));
  GString *line = g_string_sized_new (160);
  if (ts_log_format == TS_LOG_JSON)
    {
      g_string_append_printf (line, "{\"time\":\"%s\",\"level\":\"%s\"", stamp,
                              ts_level_names[level]);
      if (!ours && domain != NULL)
        {
          g_string_append (line, ",\"domain\":");
          ts_json_escape (line, domain);
        }
      g_string_append (line, ",\"msg\":");
      ts_json_escape (line, message != NULL ? message : "");
    }
  else
    {
      g_string_append_printf (line, "%s %s ", stamp, ts_level_names[level]);
      if (!ours && domain != NULL)
        g_string_append_printf (line, "%s: ", domain);
      g_string_append (line, message != NULL ? message : "");
    }
  for (gsize i = 0; ours && i < n; i++)
    for (guint m = 0; m < G_N_ELEMENTS (ts_members); m++)
      if (fields[i].length < 0 && strcmp (fields[i].key, ts_members[m].field) == 0)
        {
          if (ts_log_format == TS_LOG_JSON)
            {
              g_string_append_printf (line, ",\"%s\":", ts_members[m].name);
              if (ts_members[m].number)
                g_string_append (line, fields[i].value);
              else
                ts_json_escape (line, fields[i].value);
            }
          else if (!ts_members[m].in_message)
            {
              g_string_append_printf (line, " %s=", ts_members[m].name);
              ts_text_value (line, fields[i].value);
            }
        }
  g_string_append (line, ts_log_format == TS_LOG_JSON ? "}\n" : "\n");
  /* One write per line: lines of concurrent requests never interleave.
   * No g_printerr(): it converts to the locale's charset, opening an
   * iconv converter per line (2% of the server's CPU under load). */
  fwrite (line->str, 1, line->len, stderr);
  g_string_free (line, TRUE);
  return G_LOG_WRITER_HANDLED;
}

void
ts_log_setup (TsLogFormat format, TsLogLevel level)
{
  ts_log_format = format;
  ts_log_max = level;
  /* Under systemd, stderr is the journal's stream: the fields then go to
   * journald itself, which keeps the level as the priority. */
  ts_log_journald = g_log_writer_is_journald (fileno (stderr));
  g_log_set_writer_func (ts_log_writer, NULL, NULL);
}

/* GLib's own level for @level: never G_LOG_LEVEL_ERROR (which aborts) nor
 * CRITICAL (fatal under G_DEBUG=fatal-criticals); PRIORITY says the rest. */
static GLogLevelFlags
ts_glib_level (TsLogLevel level)
{
  return level <= TS_LOG_WARNING ? G_LOG_LEVEL_WARNING
         : level == TS_LOG_INFO  ? G_LOG_LEVEL_INFO
                                 : G_LOG_LEVEL_DEBUG;
}

static void
ts_log_fields (TsLogLevel level, const char *message, const TsLogRequest *r)
{
  GLogField fields[4 + G_N_ELEMENTS (ts_members)];
  gsize n = 0;
  char status[16], ms[32];
  fields[n++] = (GLogField){ "PRIORITY", ts_level_priorities[level], -1 };
  fields[n++] = (GLogField){ "GLIB_DOMAIN", TS_LOG_DOMAIN, -1 };
  fields[n++] = (GLogField){ "MESSAGE", message, -1 };
  fields[n++] = (GLogField){ "SYSLOG_IDENTIFIER", TS_LOG_DOMAIN, -1 };
  if (r != NULL)
    {
      g_snprintf (status, sizeof status, "%u", r->status);
      g_ascii_formatd (ms, sizeof ms, "%.1f", r->ms);
      const char *values[G_N_ELEMENTS (ts_members)] = { r->request_id,
                                                        r->remote,
                                                        r->method,
                                                        r->path,
                                                        r->status != 0 ? status : NULL,
                                                        r->method != NULL ? ms : NULL,
                                                        r->org,
                                                        r->user,
                                                        r->note };
      for (guint m = 0; m < G_N_ELEMENTS (ts_members); m++)
        if (values[m] != NULL)
          fields[n++] = (GLogField){ ts_members[m].field, values[m], -1 };
    }
  g_log_structured_array (ts_glib_level (level), fields, n);
}

void
ts_log (TsLogLevel level, const char *format, ...)
{
  if (!ts_log_enabled (level))
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  ts_log_fields (level, message, NULL);
}

void
ts_log_request (TsLogLevel level, const TsLogRequest *r)
{
  if (!ts_log_enabled (level))
    return;
  char message[512];
  char ms[32];
  g_ascii_formatd (ms, sizeof ms, "%.1f", r->ms);
  g_snprintf (message, sizeof message, "%s %s %u %sms", r->method != NULL ? r->method : "-",
              r->path != NULL ? r->path : "-", r->status, ms);
  ts_log_fields (level, message, r);
}

gboolean
ts_request_id_valid (const char *id)
{
  if (id == NULL || *id == '\0' || strlen (id) > 64)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("_.:-", *p) == NULL)
      return FALSE;
  return TRUE;
}

char *
ts_request_id_new (void)
{
  return g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
}
