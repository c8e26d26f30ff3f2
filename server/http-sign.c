/* Signed answers (docs/protocol.md, "Signed answers"): activation and
 * heartbeat answers carry an Ed25519 signature of the server's current key
 * over the client's nonce and the answer's own fields, so a client that
 * trusts the key refuses a fake server's "OK" and an answer replayed for
 * another request. */
#include "http-private.h"

#include "answer-signature.h"

void
ts_sign_answer (TsRequest *req, JsonNode *answer, const char *context, const char *nonce,
                const char *const *fields)
{
  JsonObject *o = json_node_get_object (answer);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) message = ts_answer_message (o, nonce, fields, &error);
  /* The handlers build these answers themselves: a missing field is a bug
   * here, not bad input, and the unsigned answer would be refused anyway. */
  g_return_if_fail (message != NULL);
  g_autofree char *signature
      = tessera_signing_key_sign_message (req->server->key, context, message);
  json_object_set_string_member (o, "signature", signature);
}
