/* Signed answers of the online protocol (docs/protocol.md, "Signed answers"),
 * shared by tessera-server, which signs, and the testops plugin, which
 * verifies: both build the signed bytes with this one function, so the two
 * sides cannot drift apart.
 *
 * Answer format 2: the body is exactly
 *   {"format": 2, "payload": "<JSON text>", "signature": "KEYID.BASE64"}
 * and the signature covers the payload's exact bytes, so the client verifies
 * them first and then parses only them: nothing it acts on can come from
 * outside the signed part (format 1 signed a list of fields and left the
 * rest of the answer, lease and entitlements included, open to a proxy).
 *
 * The signed bytes are "tessera-answer 2\n", then "nonce=LENGTH:NONCE\n"
 * (LENGTH the byte length of the request's nonce), then the payload. The
 * length prefix keeps the nonce and payload apart whatever they hold; the
 * first line keeps a format-2 message from ever reading as a format-1 one
 * (those began with "session_id="). The context ("activate", "heartbeat") is
 * bound by tessera_signing_key_sign_message(). */
#pragma once

#include <json-glib/json-glib.h>
#include <string.h>
#include <tessera/tessera.h>

#define TS_ANSWER_FORMAT 2

/* The only members of an answer body. */
static const char *const ts_answer_body_members[] = { "format", "payload", "signature", NULL };

/* What an activation's payload holds: the seat, for whom, where, until
 * when, and what it grants. Every one is required. */
static const char *const ts_answer_activate_fields[]
    = { "session_id",       "org_id",      "product",       "kind",
        "license_id",       "machine_id",  "lease_seconds", "lease_expires_at",
        "subscription_end", "server_time", "entitlements",  NULL };
/* And a heartbeat's: the session and its new lease. */
static const char *const ts_answer_heartbeat_fields[]
    = { "session_id", "lease_expires_at", "server_time", NULL };

/* Returns: (transfer full) the bytes signed for @payload, the answer to a
 * request that carried @nonce. */
static inline GBytes *
ts_answer_message (const char *nonce, const char *payload)
{
  GString *out = g_string_new ("tessera-answer 2\n");
  g_string_append_printf (out, "nonce=%" G_GSIZE_FORMAT ":%s\n", strlen (nonce), nonce);
  g_string_append (out, payload);
  return g_string_free_to_bytes (out);
}
