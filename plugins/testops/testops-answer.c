/* A license server's "OK" is only believed when the server's key signed it
 * over this request's nonce: a fake server (DNS redirect, a proxy, an
 * emulator) cannot sign, and a genuine answer replayed for another request
 * or another purpose does not verify. */
#include "testops-answer.h"

#include "answer-signature.h"

TesseraTrustedKeys *
testops_answer_load_keys (TesseraBackendConfig *config, GError **error)
{
  const char *group = tessera_backend_config_get_group (config);
  g_autofree char *path = tessera_backend_config_dup_path (config, "server-key", NULL, error);
  if (path == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                     "[%s] server-key is not set: the license server's public key is needed to "
                     "tell its answers from a fake server's; download it from the server "
                     "(GET /api/v1/public-key, or `tessera-admin public-key`) and name the file "
                     "with server-key",
                     group);
      return NULL;
    }
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  g_autoptr (GError) local_error = NULL;
  if (!tessera_trusted_keys_add_path (keys, path, &local_error))
    {
      /* A configuration mistake whatever the cause (missing, unreadable,
       * not a key): the provider cannot start. */
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "[%s] server-key: %s", group,
                   local_error->message);
      return NULL;
    }
  return g_steal_pointer (&keys);
}

gboolean
testops_answer_verify (TesseraTrustedKeys *keys, const char *server, JsonObject *answer,
                       const char *context, const char *nonce, GError **error)
{
  const char *const *fields
      = g_str_equal (context, "activate") ? ts_answer_activate_fields : ts_answer_heartbeat_fields;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) message = ts_answer_message (answer, nonce, fields, &local_error);
  const char *signature = NULL;
  if (message != NULL)
    {
      JsonNode *node = json_object_get_member (answer, "signature");
      if (node != NULL && JSON_NODE_HOLDS_VALUE (node)
          && json_node_get_value_type (node) == G_TYPE_STRING)
        signature = json_node_get_string (node);
    }
  if (message == NULL
      || !tessera_trusted_keys_verify_message (keys, context, message, signature, &local_error))
    {
      if (local_error == NULL) /* (every path above sets it; for the analyzer) */
        local_error = g_error_new_literal (TESSERA_ERROR, TESSERA_ERROR_TAMPERED, "unsigned");
      g_set_error (error, TESSERA_ERROR, local_error->code,
                   "license server %s: refusing its answer: %s (a fake license server, or a "
                   "proxy altering answers?)",
                   server, local_error->message);
      return FALSE;
    }
  return TRUE;
}
