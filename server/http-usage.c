/* tessera-server: GET /orgs/{org}/pools/{pool}/usage, the usage history
 * of a pool (store.h, "usage history") as JSON or CSV. Owners and admins
 * only, as every pool administration route (the store checks the role). */
#include "http-log.h"
#include "http-private.h"
#include "tool-time.h"

#include <string.h>

/* The longest period one request may ask for: a year and a bit, the
 * default retention, in hours (one row each at most). */
#define TS_USAGE_MAX_DAYS 800

/* @value of query parameter @name as a time (tool_parse_time()), or a 400
 * answered. */
static gboolean
ts_usage_time (TsRequest *req, const char *name, const char *value, gint64 *out)
{
  if (value == NULL)
    return TRUE;
  if (!tool_parse_time (value, out))
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "\"%s\" must be a date (YYYY-MM-DD, UTC), an ISO 8601 time or Unix "
                       "seconds, not '%s'",
                       name, value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
ts_usage_wants_csv (TsRequest *req, const char *format)
{
  if (format != NULL)
    return g_str_equal (format, "csv");
  return req->accept != NULL && strstr (req->accept, "text/csv") != NULL;
}

static char *
ts_usage_iso (gint64 t)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);
  return dt != NULL ? g_date_time_format (dt, "%FT%TZ") : g_strdup ("?");
}

static JsonNode *
ts_usage_hour_json (gconstpointer item)
{
  const TsUsageHour *h = item;
  JsonNode *refused = json_node_new (JSON_NODE_OBJECT);
  JsonObject *r = json_object_new ();
  for (int i = 0; i < TS_USAGE_REFUSALS; i++)
    json_object_set_int_member (r, ts_usage_refusal_name (i), h->refused[i]);
  json_node_take_object (refused, r);
  return ts_json_object ("hour", 'i', h->hour, "peak", 'i', h->peak, "quota", 'i', h->quota,
                         "activations", 'i', h->activations, "refused", 'n', refused, "users", 'i',
                         h->users, "machines", 'i', h->machines, NULL);
}

void
ts_handle_usage (TsRequest *req)
{
  req->org = g_strdup (req->args[0]);
  g_autoptr (GHashTable) params = NULL;
  if (req->query != NULL)
    {
      params = g_uri_parse_params (req->query, -1, "&", G_URI_PARAMS_NONE, NULL);
      if (params == NULL)
        {
          ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                           "the query string is not valid URL encoding");
          return;
        }
      GHashTableIter it;
      gpointer key;
      g_hash_table_iter_init (&it, params);
      while (g_hash_table_iter_next (&it, &key, NULL))
        if (!g_str_equal (key, "since") && !g_str_equal (key, "until")
            && !g_str_equal (key, "format"))
          {
            ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                             "unknown parameter \"%s\": expected since, until and format",
                             (const char *) key);
            return;
          }
    }
  const char *since_s = params != NULL ? g_hash_table_lookup (params, "since") : NULL;
  const char *until_s = params != NULL ? g_hash_table_lookup (params, "until") : NULL;
  const char *format = params != NULL ? g_hash_table_lookup (params, "format") : NULL;
  gint64 until = req->now, since = 0;
  if (!ts_usage_time (req, "until", until_s, &until))
    return;
  since = until - 7 * 86400;
  if (!ts_usage_time (req, "since", since_s, &since))
    return;
  if (format != NULL && !g_str_equal (format, "csv") && !g_str_equal (format, "json"))
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "\"format\" must be json or csv, not '%s'", format);
      return;
    }
  if (since >= until)
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "\"since\" must come before \"until\"");
      return;
    }
  if (until - since > TS_USAGE_MAX_DAYS * (gint64) 86400)
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "the period from \"since\" to \"until\" is over %d days: ask for less",
                       TS_USAGE_MAX_DAYS);
      return;
    }
  GError *error = NULL;
  g_autoptr (GPtrArray) pools
      = ts_store_list_pools (req->server->store, req->user_id, req->args[0], req->now, &error);
  const TsPool *pool = NULL;
  for (guint i = 0; pools != NULL && i < pools->len; i++)
    if (g_str_equal (((TsPool *) pools->pdata[i])->id, req->args[1]))
      pool = pools->pdata[i];
  /* Only once the caller is known to be an owner or admin (the pools
   * listing checks it): nobody else makes the server write. This
   * instance's counts so far are in the answer (other instances' are at
   * most one flush interval behind); a failed flush keeps them for the
   * next one, and the history is answered anyway. */
  if (pools != NULL && req->server->usage != NULL
      && !ts_usage_flush (req->server->usage, req->now, &error))
    {
      ts_log (TS_LOG_WARNING, "writing the usage history failed: %s", error->message);
      g_clear_error (&error);
    }
  g_autoptr (GPtrArray) hours
      = pools != NULL ? ts_store_usage_list (req->server->store, req->user_id, req->args[0],
                                             req->args[1], since, until, &error)
                      : NULL;
  if (hours == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  if (ts_usage_wants_csv (req, format))
    {
      g_autofree char *from = ts_usage_iso (since), *to = ts_usage_iso (until);
      req->resp_disposition
          = g_strdup_printf ("attachment; filename=\"usage-%s-%s-%.10s-%.10s.csv\"", req->args[0],
                             pool != NULL ? pool->product : req->args[1], from, to);
      ts_reply_bytes (req, SOUP_STATUS_OK, "text/csv; charset=utf-8", ts_usage_hours_csv (hours));
      return;
    }
  ts_reply_json (req, SOUP_STATUS_OK,
                 ts_json_object ("org", 's', req->args[0], "pool", 's', req->args[1], "product",
                                 's', pool != NULL ? pool->product : NULL, "quota", 'i',
                                 pool != NULL ? pool->quota : 0, "since", 'i', since, "until", 'i',
                                 until, "hours", 'n', ts_json_array (hours, ts_usage_hour_json),
                                 NULL));
}
