/* Signed answers (docs/protocol.md, "Signed answers"): activation and
 * heartbeat answers carry their payload as JSON text and an Ed25519
 * signature of the server's current key over those exact bytes and the
 * client's nonce, so a client that trusts the key refuses a fake server's
 * "OK", an answer replayed for another request, and any field a proxy
 * changed or added: it reads nothing outside the signed text. */
#include "http-private.h"

#include "answer-signature.h"

JsonNode *
ts_sign_answer (TsRequest *req, JsonNode *payload, const char *context, const char *nonce)
{
  g_autofree char *text = json_to_string (payload, FALSE);
  json_node_unref (payload);
  g_autoptr (GBytes) message = ts_answer_message (nonce, text);
  g_autofree char *signature
      = tessera_signing_key_sign_message (req->server->key, context, message);
  return ts_json_object ("format", 'i', (gint64) TS_ANSWER_FORMAT, "payload", 's', text,
                         "signature", 's', signature, NULL);
}
