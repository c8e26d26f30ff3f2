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
  /* The server refusing who the credentials name (not a member of the
   * organization) is about the credentials, not a file of this machine. */
  if (code == TESSERA_ERROR_PERMISSION_DENIED)
    code = TESSERA_ERROR_AUTH;

  /* The organizations to choose from, from the structured answer: the
   * server's own message lists them too, in words meant for its API, so
   * that message is left out rather than the list said twice. */
  g_autoptr (GString) orgs = g_string_new (NULL);
  if (code == TESSERA_ERROR_ORG_REQUIRED && err != NULL && json_object_has_member (err, "orgs")
      && JSON_NODE_HOLDS_ARRAY (json_object_get_member (err, "orgs")))
    {
      JsonArray *list = json_object_get_array_member (err, "orgs");
      for (guint i = 0; i < json_array_get_length (list); i++)
        {
          JsonNode *n = json_array_get_element (list, i);
          if (!JSON_NODE_HOLDS_OBJECT (n))
            continue;
          JsonObject *o = json_node_get_object (n);
          g_string_append_printf (orgs, "%s %s (%s)", orgs->len > 0 ? "," : "",
                                  json_object_get_string_member_with_default (o, "id", "?"),
                                  json_object_get_string_member_with_default (o, "name", "?"));
        }
    }
  g_autoptr (GString) text = g_string_new (NULL);
  if (orgs->len > 0)
    g_string_append_printf (text,
                            "license server %s: you belong to several organizations with this "
                            "product:%s",
                            server, orgs->str);
  else
    {
      g_string_append_printf (text, "license server %s: %s", server,
                              message != NULL ? message : soup_status_get_phrase (status));
      if (message == NULL || status >= 500)
        g_string_append_printf (text, " (HTTP %u)", status);
    }
  /* The flag a person types, and the config key that does the same. */
  if (code == TESSERA_ERROR_ORG_REQUIRED)
    g_string_append (text, "; choose one with --org-id ORG, or org-id=ORG in [provider:testops]");
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

/* POSTs @body to one server, @attempts times at most, and no new attempt
 * once @deadline (monotonic µs) has passed: the first one gets at least a
 * second. *@moves_on: the failure is no answer of the server's, so another
 * server may be tried. *@refusal: the JSON object of an error answer. */
static JsonObject *
post_one (Servers *sv, guint index, const char *api_key, const char *path, GBytes *request_body,
          guint attempts, gint64 deadline, GCancellable *cancellable, gboolean *moves_on,
          JsonObject **refusal, GError **error)
{
  const char *server = sv->urls[index];
  g_autofree char *url = g_strconcat (server, "/api/v1", path, NULL);
  g_autofree char *auth = g_strdup_printf ("Bearer %s", api_key);
  *moves_on = FALSE;

  for (guint attempt = 1;; attempt++)
    {
      /* libsoup's timeout is per I/O operation and in whole seconds: each
       * attempt gets what is left, so that retries share one deadline. */
      gint64 left = (deadline - g_get_monotonic_time () + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
      guint timeout = (guint) CLAMP (left, 1, sv->timeout);
      g_autoptr (SoupSession) session = soup_session_new_with_options (
          "timeout", timeout, "user-agent", "tessera-testops/1", NULL);
      if (sv->tls_db != NULL)
        soup_session_set_tls_database (session, sv->tls_db);
      if (sv->direct[index])
        soup_session_set_proxy_resolver (session, NULL);
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
          gboolean cancelled = g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          gboolean retry
              = attempt < attempts && !cancelled
                && deadline - g_get_monotonic_time () >= G_USEC_PER_SEC + RETRY_DELAY_USEC
                && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
                && local_error->domain != G_TLS_ERROR && local_error->domain != G_RESOLVER_ERROR;
          if (!retry)
            {
              *moves_on = !cancelled;
              if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
                g_prefix_error (&local_error, "no answer within %u s (timeout-seconds): ", timeout);
              set_network_error (error, server, local_error);
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
      if (status >= 200 && status < 300 && attempt < attempts
          && deadline - g_get_monotonic_time () >= G_USEC_PER_SEC + RETRY_DELAY_USEC)
        {
          /* Most likely an answer cut short: the request may have been
           * served, and repeating it is safe (same nonce, same seat). */
          g_debug ("testops: %s answered no JSON object, retrying", path);
          g_usleep (RETRY_DELAY_USEC);
          continue;
        }
      if (status >= 200 && status < 300)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                       "license server %s: %s answered no JSON object %u time%s (a proxy in the "
                       "way, or answers cut short?)",
                       server, path, attempts, attempts == 1 ? "" : "s");
          *moves_on = TRUE;
        }
      else
        {
          set_server_error (error, server, status, obj);
          if (refusal != NULL && obj != NULL && status < 500)
            *refusal = json_object_ref (obj);
          /* A proxy with no server behind it, or a server going away: not
           * the license server's word on this request. */
          *moves_on = status == SOUP_STATUS_BAD_GATEWAY || status == SOUP_STATUS_SERVICE_UNAVAILABLE
                      || status == SOUP_STATUS_GATEWAY_TIMEOUT;
        }
      g_clear_pointer (&obj, json_object_unref);
      return NULL;
    }
}

/* @message without its "…license server URL: " prefix: the reason alone. */
static const char *
reason_of (const char *message, const char *server)
{
  const char *at = strstr (message, server);
  if (at != NULL && g_str_has_prefix (at + strlen (server), ": "))
    return at + strlen (server) + 2;
  return message;
}

JsonObject *
post_json (Servers *sv, guint *current, const char *api_key, const char *path, JsonBuilder *body,
           GCancellable *cancellable, GError **error)
{
  return post_json_full (sv, current, api_key, path, body, NULL, cancellable, error);
}

JsonObject *
post_json_full (Servers *sv, guint *current, const char *api_key, const char *path,
                JsonBuilder *body, JsonObject **refusal, GCancellable *cancellable, GError **error)
{
  /* timeout-seconds bounds the whole request: retries and failover share
   * it, so that a hung server costs the caller that long, no more. */
  gint64 deadline = g_get_monotonic_time () + sv->timeout * G_USEC_PER_SEC;
  g_autoptr (JsonNode) root = json_builder_get_root (body);
  g_autofree char *text = json_to_string (root, FALSE);
  g_autoptr (GBytes) request_body = g_bytes_new (text, strlen (text));
  /* With several servers a failed request goes to the next one at once
   * rather than waiting on the same one again: same body, same nonce. */
  guint attempts = sv->n == 1 ? SEND_ATTEMPTS : 1;
  guint start = *current < sv->n ? *current : 0;
  g_autoptr (GString) skipped = g_string_new (NULL);
  g_autoptr (GString) tried = g_string_new (NULL);
  TesseraError code = TESSERA_ERROR_NETWORK;

  for (guint k = 0; k < sv->n; k++)
    {
      guint i = (start + k) % sv->n;
      gboolean moves_on = FALSE;
      GError *local_error = NULL;
      /* Each server left gets its share of what is left, so that a hung
       * first server leaves the next one time to answer. */
      gint64 share = (deadline - g_get_monotonic_time ()) / (gint64) (sv->n - k);
      JsonObject *obj
          = post_one (sv, i, api_key, path, request_body, attempts, g_get_monotonic_time () + share,
                      cancellable, &moves_on, refusal, &local_error);
      if (obj != NULL || !moves_on || sv->n == 1)
        {
          /* A server that answered, even with an error, is one that works. */
          if (obj != NULL
              || (!moves_on && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)))
            {
              *current = i;
              g_atomic_int_set (&sv->last_ok, (gint) i);
            }
          if (obj != NULL && k > 0)
            g_message ("testops: %susing %s", skipped->str, sv->urls[i]);
          if (local_error != NULL)
            g_propagate_error (error, local_error);
          return obj;
        }
      const char *reason = reason_of (local_error->message, sv->urls[i]);
      g_string_append_printf (skipped, "server %s unreachable (%s); ", sv->urls[i], reason);
      g_string_append_printf (tried, "%s%s (%s)", k > 0 ? "; " : "", sv->urls[i], reason);
      /* One kind of failure everywhere keeps its code; a mix is NETWORK. */
      if (k == 0)
        code = (TesseraError) local_error->code;
      else if (code != (TesseraError) local_error->code)
        code = TESSERA_ERROR_NETWORK;
      g_error_free (local_error);
    }
  g_set_error (error, TESSERA_ERROR, code, "cannot reach any of the %u license servers: %s", sv->n,
               tried->str);
  return NULL;
}
