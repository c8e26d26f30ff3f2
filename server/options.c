/* tessera-server's settings (options.h): the command line, the
 * configuration file, the defaults, and their checks. */
#include "options.h"
#include "tool-cli.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* One per long option, in the order --check-config prints them. */
enum
{
  O_DATABASE,
  O_LISTEN,
  O_TLS_CERT,
  O_TLS_KEY,
  O_ALLOW_INSECURE,
  O_KEY_DIR,
  O_KEK,
  O_LEASE,
  O_REAP_INTERVAL,
  O_IDLE_TIMEOUT,
  O_HTTP_THREADS,
  O_LOG_FORMAT,
  O_LOG_LEVEL,
  O_METRICS_TOKEN_FILE,
  O_USAGE_RETENTION,
  O_USAGE_FLUSH,
  O_METRICS_LISTEN,
  O_N
};

static const struct
{
  const char *name;
  char kind; /* 's' string, 'f' file name, 'b' boolean, 'i' integer */
} ts_keys[O_N] = {
  { "database", 'f' },
  { "listen", 's' },
  { "tls-cert", 'f' },
  { "tls-key", 'f' },
  { "allow-insecure", 'b' },
  { "key-dir", 'f' },
  { "key-encryption-key", 'f' },
  { "lease", 'i' },
  { "reap-interval", 'i' },
  { "idle-timeout", 'i' },
  { "http-threads", 'i' },
  { "log-format", 's' },
  { "log-level", 's' },
  { "metrics-token-file", 'f' },
  { "usage-retention-days", 'i' },
  { "usage-flush-interval", 'i' },
  { "metrics-listen", 's' },
};

/* What the command line and the file said, before defaults and checks. */
typedef struct
{
  char *str[O_N];
  gint num[O_N]; /* G_MININT: not given */
  gboolean flag[O_N];
  /* Where each value came from: NULL the default, "" the command line,
   * else the configuration file's path. */
  const char *from[O_N];
  char *config;
  gboolean check_config;
} TsRaw;

static gboolean
ts_raw_given (const TsRaw *raw, guint i)
{
  switch (ts_keys[i].kind)
    {
    case 'i':
      return raw->num[i] != G_MININT;
    case 'b':
      return raw->flag[i];
    default:
      return raw->str[i] != NULL;
    }
}

G_GNUC_PRINTF (2, 3)
static int
ts_refuse (int code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("tessera-server: %s\n", message);
  return code;
}

/* ---------------------------------------------------------------- file */

/* Reads @path's [server] group into what the command line left unset.
 * Returns -1, or the exit code after its line. */
static int
ts_raw_read_file (TsRaw *raw, const char *path)
{
  g_autoptr (GKeyFile) file = g_key_file_new ();
  GError *error = NULL;
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, &error))
    {
      int code = error->domain == G_KEY_FILE_ERROR ? TOOL_EXIT_CONFIG : TOOL_EXIT_IO;
      int rc = ts_refuse (code, "%s configuration file %s: %s",
                          code == TOOL_EXIT_IO ? "cannot read the" : "bad", path, error->message);
      g_error_free (error);
      return rc;
    }
  g_auto (GStrv) groups = g_key_file_get_groups (file, NULL);
  for (guint g = 0; groups[g] != NULL; g++)
    if (strcmp (groups[g], "server") != 0)
      return ts_refuse (TOOL_EXIT_CONFIG,
                        "%s: unknown group [%s]: tessera-server's settings go in [server]", path,
                        groups[g]);
  if (!g_key_file_has_group (file, "server"))
    return -1;
  g_auto (GStrv) keys = g_key_file_get_keys (file, "server", NULL, NULL);
  const char *names[O_N + 1];
  for (guint i = 0; i < O_N; i++)
    names[i] = ts_keys[i].name;
  names[O_N] = NULL;
  for (guint k = 0; keys[k] != NULL; k++)
    {
      guint i = 0;
      while (i < O_N && strcmp (keys[k], ts_keys[i].name) != 0)
        i++;
      if (i == O_N)
        {
          const char *near = tool_cli_nearest (keys[k], names);
          return ts_refuse (TOOL_EXIT_CONFIG, "%s: unknown key '%s' in [server]%s%s%s", path,
                            keys[k], near != NULL ? " (did you mean '" : "",
                            near != NULL ? near : "", near != NULL ? "'?)" : "");
        }
      if (ts_raw_given (raw, i))
        continue; /* the command line has the last word */
      g_autofree char *text = g_key_file_get_value (file, "server", keys[k], NULL);
      switch (ts_keys[i].kind)
        {
        case 'i':
          raw->num[i] = g_key_file_get_integer (file, "server", keys[k], &error);
          if (error != NULL || raw->num[i] == G_MININT)
            {
              g_clear_error (&error);
              return ts_refuse (TOOL_EXIT_CONFIG, "%s: %s = '%s' is not a whole number", path,
                                keys[k], text);
            }
          break;
        case 'b':
          raw->flag[i] = g_key_file_get_boolean (file, "server", keys[k], &error);
          if (error != NULL)
            {
              g_clear_error (&error);
              return ts_refuse (TOOL_EXIT_CONFIG, "%s: %s = '%s' is neither true nor false", path,
                                keys[k], text);
            }
          break;
        default:
          raw->str[i] = g_key_file_get_string (file, "server", keys[k], &error);
          if (error != NULL || raw->str[i][0] == '\0')
            {
              g_clear_error (&error);
              g_clear_pointer (&raw->str[i], g_free);
              return ts_refuse (TOOL_EXIT_CONFIG,
                                "%s: %s has no value (leave the key out for "
                                "the default)",
                                path, keys[k]);
            }
        }
      raw->from[i] = path;
    }
  return -1;
}

/* ---------------------------------------------------------------- command line */

static int
ts_raw_parse_args (TsRaw *raw, int argc, char **argv)
{
  gboolean help = FALSE, version = FALSE;
  GOptionEntry entries[]
      = { { "config", 0, 0, G_OPTION_ARG_FILENAME, &raw->config, NULL, NULL },
          { "check-config", 0, 0, G_OPTION_ARG_NONE, &raw->check_config, NULL, NULL },
          { "database", 0, 0, G_OPTION_ARG_FILENAME, &raw->str[O_DATABASE], NULL, NULL },
          { "listen", 0, 0, G_OPTION_ARG_STRING, &raw->str[O_LISTEN], NULL, NULL },
          { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &raw->str[O_TLS_CERT], NULL, NULL },
          { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &raw->str[O_TLS_KEY], NULL, NULL },
          { "allow-insecure", 0, 0, G_OPTION_ARG_NONE, &raw->flag[O_ALLOW_INSECURE], NULL, NULL },
          { "key-dir", 0, 0, G_OPTION_ARG_FILENAME, &raw->str[O_KEY_DIR], NULL, NULL },
          { "key-encryption-key", 0, 0, G_OPTION_ARG_FILENAME, &raw->str[O_KEK], NULL, NULL },
          { "lease", 0, 0, G_OPTION_ARG_INT, &raw->num[O_LEASE], NULL, NULL },
          { "reap-interval", 0, 0, G_OPTION_ARG_INT, &raw->num[O_REAP_INTERVAL], NULL, NULL },
          { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &raw->num[O_IDLE_TIMEOUT], NULL, NULL },
          { "http-threads", 0, 0, G_OPTION_ARG_INT, &raw->num[O_HTTP_THREADS], NULL, NULL },
          { "log-format", 0, 0, G_OPTION_ARG_STRING, &raw->str[O_LOG_FORMAT], NULL, NULL },
          { "log-level", 0, 0, G_OPTION_ARG_STRING, &raw->str[O_LOG_LEVEL], NULL, NULL },
          { "metrics-token-file", 0, 0, G_OPTION_ARG_FILENAME, &raw->str[O_METRICS_TOKEN_FILE],
            NULL, NULL },
          { "usage-retention-days", 0, 0, G_OPTION_ARG_INT, &raw->num[O_USAGE_RETENTION], NULL,
            NULL },
          { "usage-flush-interval", 0, 0, G_OPTION_ARG_INT, &raw->num[O_USAGE_FLUSH], NULL, NULL },
          { "metrics-listen", 0, 0, G_OPTION_ARG_STRING, &raw->str[O_METRICS_LISTEN], NULL, NULL },
          { "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL },
          { "version", 0, 0, G_OPTION_ARG_NONE, &version, NULL, NULL },
          G_OPTION_ENTRY_NULL };
  /* Before GOption, which says only "Unknown option": the nearest one. */
  g_autofree char *unknown = tool_cli_unknown_option (&tool_spec_server, NULL, argc, argv);
  if (unknown != NULL)
    return ts_refuse (TOOL_EXIT_USAGE, "%s (see 'tessera-server --help')", unknown);
  g_autofree GOptionEntry *checked = tool_cli_entries (&tool_spec_server, NULL, entries);
  GOptionContext *ctx = g_option_context_new (NULL);
  /* --help from the table, and no exit() from inside the parser. */
  g_option_context_set_help_enabled (ctx, FALSE);
  g_option_context_add_main_entries (ctx, checked, NULL);
  GError *error = NULL;
  gboolean parsed = g_option_context_parse (ctx, &argc, &argv, &error);
  g_option_context_free (ctx);
  if (!parsed)
    {
      int rc = ts_refuse (TOOL_EXIT_USAGE, "%s", error->message);
      g_error_free (error);
      return rc;
    }
  if (help)
    {
      g_autofree char *text = tool_cli_help (&tool_spec_server, NULL);
      fputs (text, stdout);
      return TOOL_EXIT_OK;
    }
  if (version)
    {
      tool_cli_print_version (&tool_spec_server);
      return TOOL_EXIT_OK;
    }
  if (argc > 1)
    return ts_refuse (TOOL_EXIT_USAGE, "unexpected argument %s", argv[1]);
  for (guint i = 0; i < O_N; i++)
    if (ts_raw_given (raw, i))
      raw->from[i] = "";
  return -1;
}

/* ---------------------------------------------------------------- checks */

/* How a message names setting @i: as the option, or as the file's key. */
static char *
ts_name (const TsRaw *raw, guint i)
{
  if (raw->from[i] == NULL || raw->from[i][0] == '\0')
    return g_strdup_printf ("--%s", ts_keys[i].name);
  return g_strdup_printf ("%s (in %s)", ts_keys[i].name, raw->from[i]);
}

/* A bad value in the file is the configuration's fault (9); on the
 * command line, the command's (1). */
static int
ts_code (const TsRaw *raw, guint i)
{
  return raw->from[i] != NULL && raw->from[i][0] != '\0' ? TOOL_EXIT_CONFIG : TOOL_EXIT_USAGE;
}

static GSocketAddress *
ts_parse_listen (const char *spec)
{
  const char *colon = strrchr (spec, ':');
  if (colon == NULL || colon == spec || colon[1] == '\0')
    return NULL;
  g_autofree char *host = g_strndup (spec, colon - spec);
  if (host[0] == '[' && host[strlen (host) - 1] == ']')
    {
      char *inner = g_strndup (host + 1, strlen (host) - 2);
      g_free (host);
      host = inner;
    }
  guint64 port = 0;
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &port, NULL))
    return NULL;
  GInetAddress *addr
      = g_inet_address_new_from_string (strcmp (host, "localhost") == 0 ? "127.0.0.1" : host);
  if (addr == NULL)
    return NULL;
  GSocketAddress *sa = g_inet_socket_address_new (addr, (guint16) port);
  g_object_unref (addr);
  return sa;
}

static int
ts_range (const TsRaw *raw, guint i, gint value, gint min, gint max, const char *unit)
{
  if (value >= min && value <= max)
    return -1;
  g_autofree char *name = ts_name (raw, i);
  return ts_refuse (ts_code (raw, i), "%s must be %d to %d%s%s", name, min, max,
                    unit != NULL ? " " : "", unit != NULL ? unit : "");
}

/* The bearer token of GET /metrics: the first line of its file, long
 * enough not to be guessed, and something a Prometheus configuration can
 * send (printable ASCII, no space). */
#define TS_METRICS_TOKEN_MIN 16

static int
ts_read_metrics_token (TsOptions *o, const TsRaw *raw)
{
  g_autofree char *name = ts_name (raw, O_METRICS_TOKEN_FILE);
  char *text = NULL;
  gsize len = 0;
  GError *error = NULL;
  if (!g_file_get_contents (o->metrics_token_file, &text, &len, &error))
    {
      int rc = ts_refuse (TOOL_EXIT_IO, "cannot read %s: %s", name, error->message);
      g_error_free (error);
      return rc;
    }
  text[strcspn (text, "\r\n")] = '\0';
  gsize n = strlen (text);
  gboolean printable = n == len || n + 1 == len || (n + 2 == len && text[n + 1] == '\n');
  for (gsize i = 0; printable && i < n; i++)
    printable = g_ascii_isgraph (text[i]);
  int rc = -1;
  if (!printable || n < TS_METRICS_TOKEN_MIN)
    rc = ts_refuse (ts_code (raw, O_METRICS_TOKEN_FILE),
                    "%s %s must hold one line of at least %d printable characters without "
                    "spaces (make one with: openssl rand -hex 32 > FILE)",
                    name, o->metrics_token_file, TS_METRICS_TOKEN_MIN);
  else
    o->metrics_token = g_strdup (text);
  sodium_memzero (text, len);
  g_free (text);
  return rc;
}

static int
ts_options_check (TsOptions *o, const TsRaw *raw)
{
  int rc;
  if (o->metrics_token_file != NULL && (rc = ts_read_metrics_token (o, raw)) >= 0)
    return rc;
  if (raw->str[O_LOG_FORMAT] != NULL
      && !ts_log_format_parse (raw->str[O_LOG_FORMAT], &o->log_format))
    {
      g_autofree char *name = ts_name (raw, O_LOG_FORMAT);
      return ts_refuse (ts_code (raw, O_LOG_FORMAT), "%s must be text or json, not '%s'", name,
                        raw->str[O_LOG_FORMAT]);
    }
  if (raw->str[O_LOG_LEVEL] != NULL && !ts_log_level_parse (raw->str[O_LOG_LEVEL], &o->log_level))
    {
      g_autofree char *name = ts_name (raw, O_LOG_LEVEL);
      return ts_refuse (ts_code (raw, O_LOG_LEVEL),
                        "%s must be error, warning, info or debug, not '%s'", name,
                        raw->str[O_LOG_LEVEL]);
    }
  gboolean url = g_str_has_prefix (o->database, "postgresql://")
                 || g_str_has_prefix (o->database, "postgres://");
  if (o->key_dir != NULL && o->kek_path != NULL)
    {
      g_autofree char *a = ts_name (raw, O_KEY_DIR);
      g_autofree char *b = ts_name (raw, O_KEK);
      return ts_refuse (MAX (ts_code (raw, O_KEY_DIR), ts_code (raw, O_KEK)),
                        "%s and %s exclude each other (keys in a directory, or sealed in the "
                        "database)",
                        a, b);
    }
  if (url && o->kek_path == NULL)
    {
      /* Several instances must sign with the same key, and no instance's
       * disk is the place for it: the database is, sealed. */
      return ts_refuse (ts_code (raw, O_DATABASE),
                        "--key-encryption-key FILE is required with a PostgreSQL database: the "
                        "instances share their signing keys through it, sealed with that key "
                        "(create one with tessera-admin signing-key create-kek --file FILE%s)",
                        o->key_dir != NULL ? "; move keys of --key-dir there with tessera-admin "
                                             "signing-key import"
                                           : "");
    }
  if ((rc = ts_range (raw, O_LEASE, o->lease, 5, 86400, "seconds")) >= 0
      || (rc = ts_range (raw, O_IDLE_TIMEOUT, o->idle_timeout, 1, 3600, "seconds")) >= 0
      || (rc = ts_range (raw, O_HTTP_THREADS, o->http_threads, 1, 64, NULL)) >= 0
      || (rc = ts_range (raw, O_USAGE_RETENTION, o->usage_retention_days, 1, 36600, "days")) >= 0
      || (rc = ts_range (raw, O_USAGE_FLUSH, o->usage_flush_interval, 1, 3600, "seconds")) >= 0)
    return rc;
  if (o->reap_interval < 0)
    {
      g_autofree char *name = ts_name (raw, O_REAP_INTERVAL);
      return ts_refuse (ts_code (raw, O_REAP_INTERVAL),
                        "%s must be a number of seconds, or 0 for a quarter of the lease", name);
    }
  if ((o->tls_cert == NULL) != (o->tls_key == NULL))
    {
      g_autofree char *a = ts_name (raw, O_TLS_CERT);
      g_autofree char *b = ts_name (raw, O_TLS_KEY);
      return ts_refuse (MAX (ts_code (raw, O_TLS_CERT), ts_code (raw, O_TLS_KEY)),
                        "%s and %s go together", a, b);
    }
  o->address = ts_parse_listen (o->listen);
  if (o->address == NULL)
    {
      g_autofree char *name = ts_name (raw, O_LISTEN);
      return ts_refuse (ts_code (raw, O_LISTEN),
                        "invalid %s %s: expected ADDRESS:PORT with a numeric address", name,
                        o->listen);
    }
  GInetAddress *inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (o->address));
  if (o->tls_cert == NULL && !g_inet_address_get_is_loopback (inet) && !o->allow_insecure)
    return ts_refuse (ts_code (raw, O_LISTEN),
                      "refusing plain HTTP on non-loopback address %s: use "
                      "--tls-cert/--tls-key, or --allow-insecure",
                      o->listen);
  if (o->metrics_listen != NULL
      && (o->metrics_address = ts_parse_listen (o->metrics_listen)) == NULL)
    {
      g_autofree char *name = ts_name (raw, O_METRICS_LISTEN);
      return ts_refuse (ts_code (raw, O_METRICS_LISTEN),
                        "invalid %s %s: expected ADDRESS:PORT with a numeric address", name,
                        o->metrics_listen);
    }
  /* Pools, organizations and seat counts for anyone who can reach it: off
   * loopback only behind the token, or when the administrator says so. */
  if (o->metrics_address != NULL && o->metrics_token_file == NULL && !o->allow_insecure
      && !g_inet_address_get_is_loopback (
          g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (o->metrics_address))))
    {
      g_autofree char *name = ts_name (raw, O_METRICS_LISTEN);
      return ts_refuse (ts_code (raw, O_METRICS_LISTEN),
                        "refusing an unauthenticated /metrics on non-loopback %s %s: give "
                        "--metrics-token-file, or --allow-insecure",
                        name, o->metrics_listen);
    }
  return -1;
}

int
ts_options_parse (TsOptions *o, int argc, char **argv)
{
  TsRaw raw = { 0 };
  for (guint i = 0; i < O_N; i++)
    raw.num[i] = G_MININT;
  int rc = ts_raw_parse_args (&raw, argc, argv);
  const char *path = raw.config;
  /* TESSERA_SERVER_CONFIG names the file read without --config; set but
   * empty, none is: a test suite or a container must not pick up the
   * host's /etc/tessera/server.conf. */
  const char *env_path = g_getenv ("TESSERA_SERVER_CONFIG");
  if (rc < 0 && path == NULL && env_path != NULL && *env_path != '\0')
    path = env_path;
  else if (rc < 0 && path == NULL && env_path == NULL
           && g_file_test (TS_SERVER_CONFIG, G_FILE_TEST_EXISTS))
    path = TS_SERVER_CONFIG;
  if (rc < 0 && path != NULL)
    rc = ts_raw_read_file (&raw, path);
  if (rc < 0)
    {
      o->config = g_strdup (path);
      o->check_config = raw.check_config;
      o->database = g_strdup (raw.str[O_DATABASE] != NULL ? raw.str[O_DATABASE] : "tessera.db");
      o->listen = g_strdup (raw.str[O_LISTEN] != NULL ? raw.str[O_LISTEN] : "127.0.0.1:8443");
      o->tls_cert = g_strdup (raw.str[O_TLS_CERT]);
      o->tls_key = g_strdup (raw.str[O_TLS_KEY]);
      o->key_dir = g_strdup (raw.str[O_KEY_DIR]);
      o->kek_path = g_strdup (raw.str[O_KEK]);
      o->metrics_token_file = g_strdup (raw.str[O_METRICS_TOKEN_FILE]);
      o->metrics_listen = g_strdup (raw.str[O_METRICS_LISTEN]);
      o->allow_insecure = raw.flag[O_ALLOW_INSECURE];
      o->lease = raw.num[O_LEASE] != G_MININT ? raw.num[O_LEASE] : 60;
      o->reap_interval = raw.num[O_REAP_INTERVAL] != G_MININT ? raw.num[O_REAP_INTERVAL] : 0;
      o->idle_timeout = raw.num[O_IDLE_TIMEOUT] != G_MININT ? raw.num[O_IDLE_TIMEOUT] : 60;
      o->http_threads = raw.num[O_HTTP_THREADS] != G_MININT
                            ? raw.num[O_HTTP_THREADS]
                            : (gint) MIN (g_get_num_processors (), 8);
      o->usage_retention_days
          = raw.num[O_USAGE_RETENTION] != G_MININT ? raw.num[O_USAGE_RETENTION] : 400;
      o->usage_flush_interval = raw.num[O_USAGE_FLUSH] != G_MININT ? raw.num[O_USAGE_FLUSH] : 60;
      o->log_format = TS_LOG_TEXT;
      o->log_level = TS_LOG_INFO;
      rc = ts_options_check (o, &raw);
      if (rc < 0)
        {
          if (o->key_dir == NULL && o->kek_path == NULL)
            o->key_dir = g_strdup_printf ("%s.keys", o->database);
          if (o->reap_interval == 0)
            o->reap_interval = MAX (1, o->lease / 4);
        }
    }
  for (guint i = 0; i < O_N; i++)
    g_free (raw.str[i]);
  g_free (raw.config);
  return rc;
}

/* ---------------------------------------------------------------- --check-config */

/* @database with the password of a URL (user:PASSWORD@ or password=…)
 * replaced by "***". */
static char *
ts_redact_database (const char *database)
{
  GString *s = g_string_new (database);
  const char *scheme = strstr (s->str, "://");
  if (scheme == NULL)
    return g_string_free (s, FALSE);
  gsize start = (gsize) (scheme - s->str) + 3;
  gsize end = start + strcspn (s->str + start, "/?#");
  const char *at = g_strrstr_len (s->str + start, (gssize) (end - start), "@");
  const char *colon
      = at != NULL ? memchr (s->str + start, ':', (gsize) (at - s->str) - start) : NULL;
  if (colon != NULL)
    {
      gsize from = (gsize) (colon - s->str) + 1;
      g_string_erase (s, (gssize) from, (gssize) ((gsize) (at - s->str) - from));
      g_string_insert (s, (gssize) from, "***");
    }
  for (gsize pos = 0; (scheme = strstr (s->str + pos, "password=")) != NULL;)
    {
      gsize from = (gsize) (scheme - s->str) + strlen ("password=");
      if (from > strlen ("password=")
          && strchr ("?&", s->str[from - strlen ("password=") - 1]) == NULL)
        {
          pos = from;
          continue;
        }
      gsize len = strcspn (s->str + from, "&#");
      g_string_erase (s, (gssize) from, (gssize) len);
      g_string_insert (s, (gssize) from, "***");
      pos = from + 3;
    }
  return g_string_free (s, FALSE);
}

void
ts_options_print (const TsOptions *o)
{
  g_autofree char *database = ts_redact_database (o->database);
  printf ("# tessera-server: the settings in effect (%s%s)\n",
          o->config != NULL ? "configuration file " : "no configuration file",
          o->config != NULL ? o->config : "");
  printf ("[server]\n");
  printf ("database=%s\n", database);
  printf ("listen=%s\n", o->listen);
  printf ("%stls-cert=%s\n", o->tls_cert != NULL ? "" : "#",
          o->tls_cert != NULL ? o->tls_cert : "");
  printf ("%stls-key=%s\n", o->tls_key != NULL ? "" : "#", o->tls_key != NULL ? o->tls_key : "");
  printf ("allow-insecure=%s\n", o->allow_insecure ? "true" : "false");
  printf ("%skey-dir=%s\n", o->key_dir != NULL ? "" : "#", o->key_dir != NULL ? o->key_dir : "");
  printf ("%skey-encryption-key=%s\n", o->kek_path != NULL ? "" : "#",
          o->kek_path != NULL ? o->kek_path : "");
  printf ("lease=%d\n", o->lease);
  printf ("reap-interval=%d\n", o->reap_interval);
  printf ("idle-timeout=%d\n", o->idle_timeout);
  printf ("http-threads=%d\n", o->http_threads);
  printf ("log-format=%s\n", ts_log_format_name (o->log_format));
  printf ("log-level=%s\n", ts_log_level_name (o->log_level));
  printf ("%smetrics-token-file=%s\n", o->metrics_token_file != NULL ? "" : "#",
          o->metrics_token_file != NULL ? o->metrics_token_file : "");
  printf ("%smetrics-listen=%s\n", o->metrics_listen != NULL ? "" : "#",
          o->metrics_listen != NULL ? o->metrics_listen : "");
  printf ("usage-retention-days=%d\n", o->usage_retention_days);
  printf ("usage-flush-interval=%d\n", o->usage_flush_interval);
  fflush (stdout);
}

void
ts_options_clear (TsOptions *o)
{
  g_free (o->config);
  g_free (o->database);
  g_free (o->listen);
  g_free (o->tls_cert);
  g_free (o->tls_key);
  g_free (o->key_dir);
  g_free (o->kek_path);
  g_free (o->metrics_token_file);
  if (o->metrics_token != NULL)
    sodium_memzero (o->metrics_token, strlen (o->metrics_token));
  g_free (o->metrics_token);
  g_clear_object (&o->address);
  g_free (o->metrics_listen);
  g_clear_object (&o->metrics_address);
}
