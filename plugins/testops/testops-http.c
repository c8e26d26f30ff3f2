/* One request to the license server and what its answer means. */
#include "testops-private.h"

/* ---- HTTP ---- */

/* A failure with no answer from the server. */
static void
set_network_error (GError **error, const char *server, GError *src)
{
  if (g_error_matches (src, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_propagate_error (error, g_error_copy (src));
  else if (src->domain == G_TLS_ERROR)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK,
                 "cannot reach the license server %s: TLS: %s", server, src->message);
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK,
                 "cannot reach the license server %s: %s", server, src->message);
}

/* A server's error answer: its `code` nick and message (docs/protocol.md). */
static void
set_server_error (GError **error, const char *server, guint status, JsonObject *root)
{
  JsonObject *err = root != NULL && json_object_has_member (root, "error")
                            && JSON_NODE_HOLDS_OBJECT (json_object_get_member (root, "error"))
                        ? json_object_get_object_member (root, "error")
                        : NULL;
  const char *nick
      = err != NULL ? json_object_get_string_member_with_default (err, "code", NULL) : NULL;
  const char *message
      = err != NULL ? json_object_get_string_member_with_default (err, "message", NULL) : NULL;
  TesseraError code = TESSERA_ERROR_FAILED;
  if (status >= 500)
    code = TESSERA_ERROR_UNAVAILABLE;
  else if (nick == NULL || !tessera_error_from_nick (nick, &code))
    code = status == 401 ? TESSERA_ERROR_AUTH : TESSERA_ERROR_FAILED;

  g_autoptr (GString) text = g_string_new (NULL);
  g_string_append_printf (text, "license server %s: %s", server,
                          message != NULL ? message : soup_status_get_phrase (status));
  if (message == NULL || status >= 500)
    g_string_append_printf (text, " (HTTP %u)", status);
  if (code == TESSERA_ERROR_ORG_REQUIRED && err != NULL && json_object_has_member (err, "orgs"))
    {
      JsonArray *orgs = json_object_get_array_member (err, "orgs");
      g_string_append (text, "; choose one with the '" TESSERA_OPTION_ORG_ID
                             "' activation option or org-id in [provider:testops]:");
      for (guint i = 0; orgs != NULL && i < json_array_get_length (orgs); i++)
        {
          JsonNode *n = json_array_get_element (orgs, i);
          if (!JSON_NODE_HOLDS_OBJECT (n))
            continue;
          JsonObject *o = json_node_get_object (n);
          g_string_append_printf (text, "%s %s (%s)", i > 0 ? "," : "",
                                  json_object_get_string_member_with_default (o, "id", "?"),
                                  json_object_get_string_member_with_default (o, "name", "?"));
        }
    }
  g_set_error_literal (error, TESSERA_ERROR, code, text->str);
}

static JsonObject *
parse_object (GBytes *bytes)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  if (len == 0 || !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  return json_object_ref (json_node_get_object (root));
}

/* POSTs @body to /api/v1@path. Returns: (transfer full) the JSON object of a
 * 2xx answer, or NULL with @error set: the server's code, NETWORK when
 * there was no answer. A connection that drops after the request may have
 * been sent is retried (the request bodies are idempotent). */
JsonObject *
post_json (const Conn *conn, const char *path, JsonBuilder *body, GCancellable *cancellable,
           GError **error)
{
  g_autoptr (JsonNode) root = json_builder_get_root (body);
  g_autofree char *text = json_to_string (root, FALSE);
  g_autoptr (GBytes) request_body = g_bytes_new (text, strlen (text));
  g_autofree char *url = g_strconcat (conn->server, "/api/v1", path, NULL);
  g_autofree char *auth = g_strdup_printf ("Bearer %s", conn->api_key);

  g_autoptr (SoupSession) session = soup_session_new_with_options (
      "timeout", (guint) conn->timeout, "user-agent", "tessera-testops/1", NULL);
  if (conn->tls_db != NULL)
    soup_session_set_tls_database (session, conn->tls_db);
  if (conn->direct)
    soup_session_set_proxy_resolver (session, NULL);

  for (guint attempt = 1;; attempt++)
    {
      g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
      if (msg == NULL)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "bad server URL %s", url);
          return NULL;
        }
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
      soup_message_set_request_body_from_bytes (msg, "application/json", request_body);
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GBytes) answer
          = soup_session_send_and_read (session, msg, cancellable, &local_error);
      if (answer == NULL)
        {
          gboolean retry
              = attempt < SEND_ATTEMPTS
                && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
                && local_error->domain != G_TLS_ERROR && local_error->domain != G_RESOLVER_ERROR;
          if (!retry)
            {
              set_network_error (error, conn->server, local_error);
              return NULL;
            }
          g_debug ("testops: %s failed (%s), retrying", path, local_error->message);
          g_usleep (RETRY_DELAY_USEC);
          continue;
        }
      guint status = soup_message_get_status (msg);
      JsonObject *obj = parse_object (answer);
      if (status >= 200 && status < 300 && obj != NULL)
        return obj;
      if (status >= 200 && status < 300 && attempt < SEND_ATTEMPTS)
        {
          /* Most likely an answer cut short: the request may have been
           * served, and repeating it is safe (same nonce, same seat). */
          g_debug ("testops: %s answered no JSON object, retrying", path);
          g_usleep (RETRY_DELAY_USEC);
          continue;
        }
      if (status >= 200 && status < 300)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                     "license server %s: %s answered no JSON object %d times (a proxy in the "
                     "way, or answers cut short?)",
                     conn->server, path, SEND_ATTEMPTS);
      else
        set_server_error (error, conn->server, status, obj);
      g_clear_pointer (&obj, json_object_unref);
      return NULL;
    }
}
