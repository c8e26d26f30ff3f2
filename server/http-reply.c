/* tessera-server: replies, and the mapping of a GError to an HTTP status
 * and the protocol's error codes (docs/protocol.md, "Errors"). */
#include "http-private.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- replies */

void
ts_reply_bytes (TsRequest *req, guint status, const char *content_type, GBytes *bytes)
{
  req->status = status;
  g_free (req->resp_type);
  req->resp_type = g_strdup (content_type);
  g_clear_pointer (&req->resp_body, g_bytes_unref);
  req->resp_body = bytes;
}

void
ts_reply_json (TsRequest *req, guint status, JsonNode *node)
{
  JsonGenerator *gen = json_generator_new ();
  json_generator_set_root (gen, node);
  gsize len = 0;
  char *text = json_generator_to_data (gen, &len);
  g_object_unref (gen);
  json_node_unref (node);
  ts_reply_bytes (req, status, "application/json", g_bytes_new_take (text, len));
}

void
ts_reply_empty (TsRequest *req)
{
  ts_reply_json (req, SOUP_STATUS_OK, ts_json_object (NULL, NULL));
}

guint
ts_error_status (const GError *error)
{
  if (error->domain != TESSERA_ERROR)
    return SOUP_STATUS_INTERNAL_SERVER_ERROR;
  switch ((TesseraError) error->code)
    {
    case TESSERA_ERROR_INVALID_ARGUMENT:
      /* "already exists" conflicts are 409; the store says so in words */
      return strstr (error->message, "already") != NULL ? SOUP_STATUS_CONFLICT
                                                        : SOUP_STATUS_BAD_REQUEST;
    case TESSERA_ERROR_AUTH:
      return SOUP_STATUS_UNAUTHORIZED;
    case TESSERA_ERROR_PERMISSION_DENIED:
      return SOUP_STATUS_FORBIDDEN;
    case TESSERA_ERROR_NOT_FOUND:
      return SOUP_STATUS_NOT_FOUND;
    case TESSERA_ERROR_QUOTA_EXCEEDED:
    case TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED:
    case TESSERA_ERROR_ORG_REQUIRED:
    case TESSERA_ERROR_NOT_SUPPORTED:
      return SOUP_STATUS_CONFLICT;
    case TESSERA_ERROR_REVOKED:
    case TESSERA_ERROR_TERMINATED:
      return SOUP_STATUS_GONE;
    case TESSERA_ERROR_UNAVAILABLE:
      return SOUP_STATUS_SERVICE_UNAVAILABLE;
    default:
      return SOUP_STATUS_INTERNAL_SERVER_ERROR;
    }
}

static JsonNode *
ts_org_choice_json (gconstpointer item)
{
  const TsOrg *o = item;
  return ts_json_object ("id", 's', o->id, "name", 's', o->name, NULL);
}

/* A refused activation says how many seats are in use of how many (for a
 * client waiting for one to show): the floating pool of the product in the
 * organization asked for, or in the user's only one with such a pool. A
 * trusted read, of the user's own organizations only. */
static void
ts_add_seats (TsRequest *req, JsonObject *err)
{
  GPtrArray *orgs = ts_store_list_user_orgs (req->server->store, req->user_id, NULL);
  const TsPool *found = NULL;
  GPtrArray *found_in = NULL;
  guint matches = 0;
  for (guint i = 0; orgs != NULL && i < orgs->len; i++)
    {
      const TsOrg *o = g_ptr_array_index (orgs, i);
      if (req->org != NULL && !g_str_equal (o->id, req->org))
        continue;
      GPtrArray *pools = ts_store_list_pools (req->server->store, NULL, o->id, req->now, NULL);
      gboolean kept = FALSE;
      for (guint j = 0; pools != NULL && j < pools->len; j++)
        {
          const TsPool *p = g_ptr_array_index (pools, j);
          if (g_strcmp0 (p->product, req->product) != 0 || g_strcmp0 (p->kind, "floating") != 0)
            continue;
          matches++;
          if (found == NULL)
            {
              found = p;
              found_in = pools;
              kept = TRUE;
            }
        }
      if (!kept)
        g_clear_pointer (&pools, g_ptr_array_unref);
    }
  if (matches == 1)
    {
      json_object_set_int_member (err, "in_use", found->sessions + found->offline);
      json_object_set_int_member (err, "quota", found->quota);
    }
  g_clear_pointer (&found_in, g_ptr_array_unref);
  g_clear_pointer (&orgs, g_ptr_array_unref);
}

static void
ts_reply_error_full (TsRequest *req, guint status, TesseraError code, const char *message)
{
  const char *nick = tessera_error_to_nick (code);
  /* Messages may quote what the client sent (a method, a path, a field):
   * invalid UTF-8 there would make the answer invalid JSON. */
  g_autofree char *valid = g_utf8_make_valid (message, -1);
  JsonNode *err
      = ts_json_object ("code", 's', nick != NULL ? nick : "failed", "message", 's', valid, NULL);
  JsonNode *root = ts_json_wrap ("error", err);
  if (code == TESSERA_ERROR_ORG_REQUIRED && req->user_id != NULL)
    {
      GPtrArray *orgs = ts_store_list_user_orgs (req->server->store, req->user_id, NULL);
      /* Only those with a pool for the product (a trusted read: the user's own orgs). */
      for (guint i = orgs != NULL ? orgs->len : 0; req->product != NULL && i-- > 0;)
        {
          const TsOrg *o = g_ptr_array_index (orgs, i);
          GPtrArray *pools = ts_store_list_pools (req->server->store, NULL, o->id, req->now, NULL);
          gboolean has = FALSE;
          for (guint j = 0; pools != NULL && j < pools->len && !has; j++)
            has = g_strcmp0 (((TsPool *) g_ptr_array_index (pools, j))->product, req->product) == 0;
          g_clear_pointer (&pools, g_ptr_array_unref);
          if (!has)
            g_ptr_array_remove_index (orgs, i);
        }
      json_object_set_member (json_node_get_object (err), "orgs",
                              ts_json_array (orgs, ts_org_choice_json));
      g_clear_pointer (&orgs, g_ptr_array_unref);
    }
  if (code == TESSERA_ERROR_QUOTA_EXCEEDED && req->user_id != NULL && req->product != NULL)
    ts_add_seats (req, json_node_get_object (err));
  ts_reply_json (req, status, root);
}

void
ts_reply_error (TsRequest *req, const GError *error)
{
  TesseraError code
      = error->domain == TESSERA_ERROR ? (TesseraError) error->code : TESSERA_ERROR_FAILED;
  ts_reply_error_full (req, ts_error_status (error), code, error->message);
}

void
ts_reply_errorf (TsRequest *req, guint status, TesseraError code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *message = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  ts_reply_error_full (req, status, code, message);
  g_free (message);
}
