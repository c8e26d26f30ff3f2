/* Signed answers of the online protocol (docs/protocol.md, "Signed answers"),
 * shared by tessera-server, which signs, and the testops plugin, which
 * verifies: both build the signed bytes with this one function, from the
 * answer's own JSON members and the nonce the client sent, so the two sides
 * cannot drift apart.
 *
 * The bytes are, for each field in the given order, "NAME=LENGTH:VALUE\n"
 * (LENGTH the byte length of VALUE), then "nonce=LENGTH:NONCE\n". The length
 * prefix makes the encoding unambiguous whatever a value holds. The context
 * ("activate", "heartbeat") is bound by tessera_signing_key_sign_message(). */
#pragma once

#include <json-glib/json-glib.h>
#include <tessera/tessera.h>

/* What an activation answer's signature covers: the seat, for whom, where
 * and until when. */
static const char *const ts_answer_activate_fields[]
    = { "session_id", "org_id",           "product",     "kind",
        "machine_id", "lease_expires_at", "server_time", NULL };
/* And a heartbeat's: the session and its new lease. */
static const char *const ts_answer_heartbeat_fields[]
    = { "session_id", "lease_expires_at", "server_time", NULL };

static inline void
ts_answer_append (GString *out, const char *name, const char *value)
{
  g_string_append_printf (out, "%s=%" G_GSIZE_FORMAT ":%s\n", name, strlen (value), value);
}

/* Returns: (transfer full) the bytes to sign or verify, or NULL with
 * TESSERA_ERROR_TAMPERED when a field is missing or not a string or integer
 * (an answer that cannot have been signed). */
static inline GBytes *
ts_answer_message (JsonObject *answer, const char *nonce, const char *const *fields, GError **error)
{
  GString *out = g_string_new (NULL);
  for (guint i = 0; fields[i] != NULL; i++)
    {
      JsonNode *node = json_object_get_member (answer, fields[i]);
      GType type = node != NULL && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node)
                                                                : G_TYPE_INVALID;
      if (type == G_TYPE_STRING)
        ts_answer_append (out, fields[i], json_node_get_string (node));
      else if (type == G_TYPE_INT64)
        {
          char num[32];
          g_snprintf (num, sizeof num, "%" G_GINT64_FORMAT, json_node_get_int (node));
          ts_answer_append (out, fields[i], num);
        }
      else
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                       "the answer's \"%s\" is missing or not a string or integer", fields[i]);
          g_string_free (out, TRUE);
          return NULL;
        }
    }
  ts_answer_append (out, "nonce", nonce);
  return g_string_free_to_bytes (out);
}
