/* tessera-server's options, declared once: server/main.c parses them,
 * --help, the man page and the completions are made from them (tool-cli.h). */
#include "tool-cli.h"

static const ToolOption server_options[] = {
  { "config", 0, TOOL_ARG_FILENAME, "FILE",
    "Read the settings from FILE (group [server], a key per option; default "
    "/etc/tessera/server.conf when it exists); options given here win" },
  { "check-config", 0, TOOL_ARG_NONE, NULL,
    "Check the settings, print those in effect (passwords hidden) and exit" },
  { "database", 0, TOOL_ARG_FILENAME, "PATH|URL",
    "SQLite database file (default ./tessera.db), or a postgresql:// URL" },
  { "listen", 0, TOOL_ARG_STRING, "ADDR:PORT",
    "Address and port (default 127.0.0.1:8443; port 0: any free port)" },
  { "tls-cert", 0, TOOL_ARG_FILENAME, "FILE", "TLS certificate (PEM)" },
  { "tls-key", 0, TOOL_ARG_FILENAME, "FILE", "TLS private key (PEM)" },
  { "allow-insecure", 0, TOOL_ARG_NONE, NULL, "Serve plain HTTP on a non-loopback address" },
  { "key-dir", 0, TOOL_ARG_FILENAME, "DIR",
    "Signing keys (default <database>.keys/; not with --key-encryption-key)" },
  { "key-encryption-key", 0, TOOL_ARG_FILENAME, "FILE",
    "Keep the signing keys in the database, sealed with the key in FILE (required with PostgreSQL; "
    "every instance gets the same file)" },
  { "lease", 0, TOOL_ARG_INT, "SECONDS", "Session lease in seconds (default 60)" },
  { "reap-interval", 0, TOOL_ARG_INT, "SECONDS",
    "Seconds between reaps of expired sessions (default lease/4)" },
  { "idle-timeout", 0, TOOL_ARG_INT, "SECONDS",
    "Seconds a client connection may wait between requests, or take to send one or read its "
    "answer, before it is closed (default 60)" },
  { "usage-retention-days", 0, TOOL_ARG_INT, "DAYS",
    "Days of usage history kept per pool and hour (default 400)" },
  { "usage-flush-interval", 0, TOOL_ARG_INT, "SECONDS",
    "Seconds between writes of the usage counted in memory (default 60; a crash loses at most "
    "this much)" },
  { "http-threads", 0, TOOL_ARG_INT, "N",
    "Threads reading and writing HTTP (default: one per CPU, at most 8)" },
  { "log-format", 0, TOOL_ARG_STRING, "text|json",
    "Log lines as text (default) or one JSON object each" },
  { "log-level", 0, TOOL_ARG_STRING, "LEVEL",
    "Log error, warning, info (default: every request) or debug lines" },
  { "metrics-token-file", 0, TOOL_ARG_FILENAME, "FILE",
    "Serve Prometheus metrics at /metrics to requests bearing the token in FILE (default: no "
    "/metrics)" },
  { "metrics-listen", 0, TOOL_ARG_STRING, "ADDR:PORT",
    "Also serve /metrics, and nothing else, in plain HTTP on ADDR:PORT, without a token unless "
    "--metrics-token-file is given (port 0: any free port)" },
  TOOL_OPTION_END,
};

const ToolSpec tool_spec_server = {
  .program = "tessera-server",
  .summary = "the Tessera license server",
  .usage = "[OPTION…]",
  .global_options = server_options,
  .commands = NULL,
};
