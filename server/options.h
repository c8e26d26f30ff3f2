/* tessera-server's settings (options.c): the command line over the
 * configuration file (GKeyFile, group [server], one key per long option),
 * over the defaults; checked once, before anything is opened. */
#pragma once

#include "http-log.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* The file read when --config is not given (and it exists). */
#ifndef TS_SERVER_CONFIG
#define TS_SERVER_CONFIG "/etc/tessera/server.conf"
#endif

typedef struct
{
  char *config; /* the file read, or NULL */
  char *database;
  char *listen;
  char *tls_cert;
  char *tls_key;
  char *key_dir;
  char *kek_path;
  char *metrics_token_file; /* --metrics-token-file */
  char *metrics_token;      /* read from it: GET /metrics's bearer token */
  gboolean allow_insecure;
  gint lease;
  gint reap_interval; /* 0 (default): lease / 4 */
  gint idle_timeout;
  gint http_threads;
  gint usage_retention_days; /* usage history kept (usage.h) */
  gint usage_flush_interval; /* seconds between writes of the counts */
  TsLogFormat log_format;
  TsLogLevel log_level;
  gboolean check_config;
  GSocketAddress *address;         /* --listen, parsed */
  char *metrics_listen;            /* --metrics-listen, or NULL */
  GSocketAddress *metrics_address; /* it, parsed */
} TsOptions;

/* Reads the command line and the configuration file into @o and checks
 * every value. Returns -1 to go on; else the exit code, after printing
 * what was asked (--help, --version) or one line "tessera-server: …" on
 * stderr (1 a bad command line, 9 a bad configuration file, 10 one that
 * cannot be read). */
int ts_options_parse (TsOptions *o, int argc, char **argv);
/* --check-config: the effective settings on stdout, passwords hidden. */
void ts_options_print (const TsOptions *o);
void ts_options_clear (TsOptions *o);

G_END_DECLS
