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
 * time), *@server_time (optional) the server's time. Returns: TRUE, or FALSE
 * with the errors of testops_answer_read_activate() (TAMPERED for another
 * session's answer). */
gboolean testops_answer_read_heartbeat (TesseraTrustedKeys *keys, const char *server,
                                        JsonObject *body, const char *nonce, const char *session_id,
                                        gint64 *lease_seconds, gint64 *server_time, GError **error);

/* Returns: (transfer full) @body as JSON text, to keep in a record: the
 * signed payload is a string member, so its bytes survive the round trip. */
char *testops_answer_to_text (JsonObject *body);

/* Checks @r (a record read back from disk) against the signed answers it
 * holds: the activation (for @machine_id, this machine, and r->product) and
 * the last heartbeat (of that session). Every plain key a user could edit
 * (session, license, org, kind, machine, issue and expiry, features, lease)
 * must equal the signed one; r->lease_expires_at is set from the signed
 * answers and r->last_answer_at (the grace's start) is never after the
 * last signed server time, nor before 1970. Returns: TRUE, or FALSE with
 * TESSERA_ERROR_TAMPERED (an answer missing, garbled or not verifying, an
 * answer of another session, a plain key that differs, a last answer
 * before 1970), _MACHINE_MISMATCH
 * (signed for another machine), _UNTRUSTED_KEY (signed by a key not
 * configured), _NOT_SUPPORTED (a record of an older version, holding no
 * signed answer; or an answer format this client does not know); the
 * message names the record and says how to get a new session. */
gboolean testops_answer_check_record (TesseraTrustedKeys *keys, TestopsRecord *r,
                                      const char *machine_id, GError **error);

G_END_DECLS
