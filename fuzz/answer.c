/* Fuzzes what the online plugin does with a license server's answer
 * (plugins/testops/testops-answer.c, protocol/answer-signature.h): the input
 * is the answer's body, parsed as JSON like the plugin does, then
 *  1. verified as it is against a trusted key: a mutated answer must be
 *     refused with a TESSERA_ERROR, never crash;
 *  2. signed by the harness over its own fields (when it has them) and
 *     verified again: an answer signed by the trusted key must verify, under
 *     its own context only, and a different nonce must be refused, so the
 *     encoding is proven unambiguous on whatever the fuzzer builds. */
#include "fuzz-common.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "answer-signature.h"
#include "testops-answer.h"

static TesseraSigningKey *key;
static TesseraTrustedKeys *trusted;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  key = tessera_signing_key_generate ();
  trusted = tessera_trusted_keys_new ();
  g_autofree char *line = tessera_signing_key_dup_public (key);
  if (!tessera_trusted_keys_add_public (trusted, line, NULL))
    g_error ("fuzz-answer: cannot trust the harness key");
  return 0;
}

static void
verify_expect (JsonObject *answer, const char *context, const char *nonce, gboolean expect)
{
  g_autoptr (GError) error = NULL;
  gboolean ok
      = testops_answer_verify (trusted, "http://127.0.0.1:1", answer, context, nonce, &error);
  if (ok == (error != NULL))
    g_error ("testops_answer_verify: result and error disagree");
  fuzz_check_error (error);
  if (expect && !ok)
    g_error ("an answer the trusted key signed was refused: %s", error->message);
  if (!expect && ok)
    g_error ("an answer verified under the wrong context or nonce");
}

static void
sign_and_verify (JsonObject *answer, const char *context, const char *const *fields)
{
  const char *nonce = "fuzz-nonce-0001";
  g_autoptr (GBytes) message = ts_answer_message (answer, nonce, fields, NULL);
  if (message == NULL)
    return; /* a field missing or not a scalar: nothing to sign */
  g_autofree char *sig = tessera_signing_key_sign_message (key, context, message);
  json_object_set_string_member (answer, "signature", sig);
  verify_expect (answer, context, nonce, TRUE);
  verify_expect (answer, context, "fuzz-nonce-0002", FALSE);
  const char *other = g_str_equal (context, "activate") ? "heartbeat" : "activate";
  /* The other context's field list may not even apply; it must not verify. */
  verify_expect (answer, other, nonce, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, (const char *) data, (gssize) size, NULL))
    return 0;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return 0;

  /* As received: whatever it claims, it is not signed by the harness key
   * over this nonce (a collision would be a forgery). */
  JsonObject *received = json_node_get_object (root);
  g_autoptr (GError) error = NULL;
  (void) testops_answer_verify (trusted, "http://127.0.0.1:1", received, "activate", "n0nce-fuzz",
                                &error);
  fuzz_check_error (error);
  g_clear_error (&error);
  (void) testops_answer_verify (trusted, "http://127.0.0.1:1", received, "heartbeat", "n0nce-fuzz",
                                &error);
  fuzz_check_error (error);

  g_autoptr (JsonNode) copy = json_node_copy (root);
  sign_and_verify (json_node_get_object (copy), "activate", ts_answer_activate_fields);
  g_autoptr (JsonNode) copy2 = json_node_copy (root);
  sign_and_verify (json_node_get_object (copy2), "heartbeat", ts_answer_heartbeat_fields);
  return 0;
}
