/* Verifying the server's signed answers (docs/testops.md, "Signed answers"). */
#pragma once

#include <json-glib/json-glib.h>
#include <tessera/tessera.h>

G_BEGIN_DECLS

/* Returns: (transfer full) the server keys [provider:testops] server-key
 * names (a public key file or a folder of *.pub), or NULL with
 * TESSERA_ERROR_CONFIG: not set (saying how to get the key), or the file is
 * missing, unreadable or not a key. */
TesseraTrustedKeys *testops_answer_load_keys (TesseraBackendConfig *config, GError **error);

/* Checks @answer's "signature" covers @fields of @answer and @nonce under
 * @context ("activate", "heartbeat") with one of @keys. Returns: TRUE, or
 * FALSE with TESSERA_ERROR_TAMPERED / _UNTRUSTED_KEY naming @server. */
gboolean testops_answer_verify (TesseraTrustedKeys *keys, const char *server, JsonObject *answer,
                                const char *context, const char *nonce, GError **error);

G_END_DECLS
