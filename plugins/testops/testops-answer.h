/* Reading the server's signed answers (docs/testops.md, "Signed answers";
 * docs/protocol.md, "Signed answers"). */
#pragma once

#include "testops-state.h"

#include <json-glib/json-glib.h>
#include <tessera/tessera.h>

G_BEGIN_DECLS

/* Returns: (transfer full) the server keys [provider:testops] server-key
 * names (a public key file or a folder of *.pub), or NULL with
 * TESSERA_ERROR_CONFIG: not set (saying how to get the key), or the file is
 * missing, unreadable or not a key. */
TesseraTrustedKeys *testops_answer_load_keys (TesseraBackendConfig *config, GError **error);

/* Reads @body, the 2xx answer of @server to an activation that sent @nonce,
 * @product and @machine_id, into @r's session_id, license_id, org, kind,
 * machine_id, issued_at, expires_at, lease_seconds, lease_expires_at and
 * features (each replaced). Only the bytes the signature covers are read.
 * Returns: TRUE, or FALSE (@r unchanged) with TESSERA_ERROR_TAMPERED /
 * _UNTRUSTED_KEY (not signed by a trusted key over these bytes and @nonce,
 * or a member outside the signed payload), _NOT_SUPPORTED (another answer
 * format: the message says which side to upgrade; or a signed payload
 * lacking a field), _PRODUCT_MISMATCH / _MACHINE_MISMATCH (signed for
 * another product or machine), each naming @server. */
gboolean testops_answer_read_activate (TesseraTrustedKeys *keys, const char *server,
                                       JsonObject *body, const char *nonce, const char *product,
                                       const char *machine_id, TestopsRecord *r, GError **error);

/* Reads @body, the 2xx answer of @server to a heartbeat of @session_id that
 * sent @nonce: *@lease_seconds is the new lease (its end minus the server's
 * time). Returns: TRUE, or FALSE with the errors of
 * testops_answer_read_activate() (TAMPERED for another session's answer). */
gboolean testops_answer_read_heartbeat (TesseraTrustedKeys *keys, const char *server,
                                        JsonObject *body, const char *nonce, const char *session_id,
                                        gint64 *lease_seconds, GError **error);

G_END_DECLS
