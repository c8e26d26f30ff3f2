/* tessera-server's log (http-log.c): one line per event on stderr, as text
 * or JSON, each with an ISO-8601 UTC timestamp and a level; under systemd
 * (JOURNAL_STREAM naming our stderr) the same fields go to journald with
 * the level as PRIORITY. Every line goes through GLib's structured logging
 * (g_log_structured_array()), so GLib's and libsoup's own warnings come out
 * the same way.
 *
 * Nothing secret is ever passed here: request lines carry the method, the
 * path (never a query), the status, the remote address, a request id, and
 * the org and user ids, never a header or a body. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  TS_LOG_ERROR,
  TS_LOG_WARNING,
  TS_LOG_INFO,
  TS_LOG_DEBUG,
} TsLogLevel;

typedef enum
{
  TS_LOG_TEXT,
  TS_LOG_JSON,
} TsLogFormat;

/* "error", "warning", "info", "debug" / "text", "json": FALSE if none. */
gboolean ts_log_level_parse (const char *name, TsLogLevel *out);
gboolean ts_log_format_parse (const char *name, TsLogFormat *out);
const char *ts_log_level_name (TsLogLevel level);
const char *ts_log_format_name (TsLogFormat format);

/* Installs the writer (once, before any line). Lines below @level are
 * dropped. */
void ts_log_setup (TsLogFormat format, TsLogLevel level);
gboolean ts_log_enabled (TsLogLevel level);

void ts_log (TsLogLevel level, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* What a request line says; NULL members are left out. */
typedef struct
{
  const char *request_id;
  const char *remote;
  const char *method;
  const char *path;
  guint status;
  double ms;
  const char *org;
  const char *user;
  const char *note; /* why it was refused (http-conn.c) */
} TsLogRequest;

void ts_log_request (TsLogLevel level, const TsLogRequest *request);

/* X-Request-Id: a client's own id is kept when it is 1 to 64 of
 * [A-Za-z0-9_.:-]; else a new one (16 hexadecimal digits). */
#define TS_REQUEST_ID_HEADER "X-Request-Id"
gboolean ts_request_id_valid (const char *id);
char *ts_request_id_new (void);

G_END_DECLS
