/* Fuzzes what the online plugin does with a license server's answer
 * (plugins/testops/testops-answer.c, protocol/answer-signature.h). Each input
 * is used twice:
 *  1. as an answer body, as received: whatever it claims, it is not signed
 *     by the trusted key over this nonce, so it must be refused with a
 *     TESSERA_ERROR, never crash;
 *  2. as the payload of an answer the harness signs with the trusted key:
 *     the plugin must then either read it, and what it read must be exactly
 *     what the signed text says, or refuse it as the server's malformed
 *     answer (never as a forgery); the same answer under another nonce or
 *     context, or with a member added beside the payload, must be refused
 *     as a forgery. So the client is proven to read only the signed bytes,
 *     and the signed message to be unambiguous, on whatever the fuzzer
 *     builds. */
#include "fuzz-common.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "answer-signature.h"
#include "testops-answer.h"

#define SERVER "http://127.0.0.1:1"
#define NONCE "fuzz-nonce-0001"

static TesseraSigningKey *key;
static TesseraTrustedKeys *trusted;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  trusted = fuzz_trusted_key (&key);
  return 0;
}

/* Reads @body both ways; returns which verified. */
static void
read_both (JsonObject *body, const char *nonce, const char *product, const char *machine,
           const char *session, gboolean *activate_ok, GError **activate_error,
           gboolean *heartbeat_ok, GError **heartbeat_error, TestopsRecord *r, gint64 *lease)
{
  *activate_ok = testops_answer_read_activate (trusted, SERVER, body, nonce, product, machine, r,
                                               activate_error);
  if (*activate_ok == (*activate_error != NULL))
    g_error ("testops_answer_read_activate: result and error disagree");
  fuzz_check_error (*activate_error);
  *heartbeat_ok = testops_answer_read_heartbeat (trusted, SERVER, body, nonce, session, lease, NULL,
                                                 heartbeat_error);
  if (*heartbeat_ok == (*heartbeat_error != NULL))
    g_error ("testops_answer_read_heartbeat: result and error disagree");
  fuzz_check_error (*heartbeat_error);
}

static void
expect_forgery (JsonObject *body, const char *nonce, const char *what)
{
  g_autoptr (TestopsRecord) r = g_new0 (TestopsRecord, 1);
  g_autoptr (GError) ae = NULL;
  g_autoptr (GError) he = NULL;
  gboolean a, h;
  gint64 lease = 0;
  read_both (body, nonce, "KRE", "M", "S", &a, &ae, &h, &he, r, &lease);
  if (a || h)
    g_error ("an answer verified %s", what);
  if (!g_error_matches (ae, TESSERA_ERROR, TESSERA_ERROR_TAMPERED)
      || !g_error_matches (he, TESSERA_ERROR, TESSERA_ERROR_TAMPERED))
    g_error ("an answer %s was not refused as tampered: %s / %s", what, ae->message, he->message);
}

static const char *
member_string (JsonObject *o, const char *name, const char *fallback)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;
  if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    return json_node_get_string (n);
  return fallback;
}

/* A signed answer's failure is the server's malformed answer, never a
 * forgery. */
static void
check_signed_error (GError *error, const char *context)
{
  if (error != NULL
      && (error->code == TESSERA_ERROR_TAMPERED || error->code == TESSERA_ERROR_UNTRUSTED_KEY)
      && strstr (error->message, "another session") == NULL)
    g_error ("a correctly signed %s answer was refused as a forgery: %s", context, error->message);
}

static void
signed_payload (const char *text)
{
  g_autoptr (GBytes) message = ts_answer_message (NONCE, text);
  JsonObject *body = json_object_new ();
  json_object_set_int_member (body, "format", TS_ANSWER_FORMAT);
  json_object_set_string_member (body, "payload", text);
  for (guint i = 0; i < 2; i++)
    {
      const char *context = i == 0 ? "activate" : "heartbeat";
      g_autofree char *sig = tessera_signing_key_sign_message (key, context, message);
      json_object_set_string_member (body, "signature", sig);

      /* What the signed text says, read independently of the plugin. */
      g_autoptr (JsonParser) parser = json_parser_new_immutable ();
      JsonObject *p = NULL;
      if (json_parser_load_from_data (parser, text, -1, NULL)
          && json_parser_get_root (parser) != NULL
          && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        p = json_node_get_object (json_parser_get_root (parser));
      const char *product = member_string (p, "product", "KRE");
      const char *machine = member_string (p, "machine_id", "M");
      const char *session = member_string (p, "session_id", "S");

      g_autoptr (TestopsRecord) r = g_new0 (TestopsRecord, 1);
      g_autoptr (GError) ae = NULL;
      g_autoptr (GError) he = NULL;
      gboolean a, h;
      gint64 lease = 0;
      read_both (body, NONCE, product, machine, session, &a, &ae, &h, &he, r, &lease);
      if (i == 0)
        {
          if (h || !g_error_matches (he, TESSERA_ERROR, TESSERA_ERROR_TAMPERED))
            g_error ("an activation answer verified as a heartbeat's");
          check_signed_error (ae, context);
          if (a
              && (g_strcmp0 (r->session_id, member_string (p, "session_id", NULL)) != 0
                  || g_strcmp0 (r->license_id, member_string (p, "license_id", NULL)) != 0
                  || g_strcmp0 (r->org, member_string (p, "org_id", NULL)) != 0
                  || g_strcmp0 (r->kind, member_string (p, "kind", NULL)) != 0
                  || r->lease_seconds != json_object_get_int_member (p, "lease_seconds")
                  || r->expires_at != json_object_get_int_member (p, "subscription_end")
                  || r->issued_at != json_object_get_int_member (p, "server_time")
                  || r->lease_expires_at != json_object_get_int_member (p, "lease_expires_at")
                  || g_strv_length (r->features)
                         != json_array_get_length (
                             json_object_get_array_member (p, "entitlements"))))
            g_error ("the activation read is not what its signed payload says");
        }
      else
        {
          if (a || !g_error_matches (ae, TESSERA_ERROR, TESSERA_ERROR_TAMPERED))
            g_error ("a heartbeat answer verified as an activation's");
          check_signed_error (he, context);
          if (h
              && lease
                     != json_object_get_int_member (p, "lease_expires_at")
                            - json_object_get_int_member (p, "server_time"))
            g_error ("the heartbeat read is not what its signed payload says");
        }

      expect_forgery (body, "fuzz-nonce-0002", "under another nonce");
      json_object_set_int_member (body, "lease_seconds", 1000000000);
      expect_forgery (body, NONCE, "with a member beside its payload");
      json_object_remove_member (body, "lease_seconds");
    }
  json_object_unref (body);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* A JSON string holds no NUL: the payload is the text before one. */
  g_autofree char *text = g_strndup ((const char *) data, size);

  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (json_parser_load_from_data (parser, text, -1, NULL) && json_parser_get_root (parser) != NULL
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      /* As received: a collision with the trusted key would be a forgery. */
      JsonObject *received = json_node_get_object (json_parser_get_root (parser));
      g_autoptr (TestopsRecord) r = g_new0 (TestopsRecord, 1);
      g_autoptr (GError) ae = NULL;
      g_autoptr (GError) he = NULL;
      gboolean a, h;
      gint64 lease = 0;
      read_both (received, "n0nce-fuzz", "KRE", "M", "S", &a, &ae, &h, &he, r, &lease);
      if (a || h)
        g_error ("an answer the harness did not sign was believed");
    }
  if (g_utf8_validate (text, -1, NULL))
    signed_payload (text);
  return 0;
}
