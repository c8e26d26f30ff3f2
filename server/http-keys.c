/* tessera-server: the caller's own API keys, /keys. */
#include "http-private.h"

static JsonNode *
ts_key_json (gconstpointer item)
{
  const TsApiKey *k = item;
  JsonNode *node = ts_json_object ("id", 's', k->id, "label", 's', k->label, "prefix", 's',
                                   k->prefix, "created_at", 'i', k->created_at, NULL);
  if (k->revoked_at > 0)
    json_object_set_int_member (json_node_get_object (node), "revoked_at", k->revoked_at);
  else
    json_object_set_null_member (json_node_get_object (node), "revoked_at");
  return node;
}

void
ts_handle_keys_list (TsRequest *req)
{
  GError *error = NULL;
  GPtrArray *keys = ts_store_list_api_keys (req->server->store, req->user_id, &error);
  if (keys == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_reply_json (req, SOUP_STATUS_OK, ts_json_wrap ("keys", ts_json_array (keys, ts_key_json)));
  g_ptr_array_unref (keys);
}

void
ts_handle_keys_create (TsRequest *req)
{
  static const char *const fields[] = { "label", NULL };
  GError *error = NULL;
  const char *label;
  char *key_id = NULL;
  char *key = NULL;
  if (ts_body_only (req, fields, &error) && ts_body_string (req, "label", TRUE, &label, &error))
    key = ts_store_create_api_key (req->server->store, req->user_id, label, req->now, &key_id,
                                   &error);
  if (key == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_reply_json (req, SOUP_STATUS_CREATED,
                 ts_json_object ("id", 's', key_id, "key", 's', key, NULL));
  g_free (key_id);
  g_free (key);
}

void
ts_handle_keys_revoke (TsRequest *req)
{
  GError *error = NULL;
  if (!ts_store_revoke_api_key (req->server->store, req->user_id, req->args[0], req->now, &error))
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_reply_empty (req);
}
