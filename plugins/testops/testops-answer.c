/* A license server's "OK" is only believed when the server's key signed it
 * over this request's nonce: a fake server (DNS redirect, a proxy, an
 * emulator) cannot sign, and a genuine answer replayed for another request
 * or another purpose does not verify. And only what the signature covers
 * is read: the payload's exact bytes are verified first, then parsed, so a
 * proxy that forwards a genuine answer cannot change or add a field. */
#include "testops-answer.h"

#include "answer-signature.h"

#include <string.h>

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

/* Sets @error to the refusal of @server's answer for @why (a TESSERA_ERROR). */
static void
refuse (GError **error, const char *server, GError *why)
{
  if (why->code == TESSERA_ERROR_TAMPERED || why->code == TESSERA_ERROR_UNTRUSTED_KEY)
    g_set_error (error, TESSERA_ERROR, why->code,
                 "license server %s: refusing its answer: %s (a fake license server, or a "
                 "proxy altering answers?)",
                 server, why->message);
  else
    g_set_error (error, TESSERA_ERROR, why->code, "license server %s: %s", server, why->message);
}

/* An answer in another format: which side is behind. */
static void
set_format_error (GError **error, gint64 format)
{
  if (format < TS_ANSWER_FORMAT)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                 "it speaks answer format %" G_GINT64_FORMAT "; this client needs format %d "
                 "(every field signed): upgrade tessera-server",
                 format, TS_ANSWER_FORMAT);
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                 "it speaks answer format %" G_GINT64_FORMAT "; this client knows format %d "
                 "only: upgrade the tessera client",
                 format, TS_ANSWER_FORMAT);
}

static gboolean
holds (JsonNode *node, GType type)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* Returns: (transfer full) the payload of @body, once its signature over
 * the payload's bytes and @nonce under @context verified, or NULL with
 * @error set (not yet naming the server). */
static JsonObject *
open_answer (TesseraTrustedKeys *keys, JsonObject *body, const char *context, const char *nonce,
             GError **error)
{
  JsonNode *format = json_object_get_member (body, "format");
  if (format == NULL)
    {
      /* Format 1 signed a list of fields beside the others, unsigned. */
      if (holds (json_object_get_member (body, "signature"), G_TYPE_STRING))
        set_format_error (error, 1);
      else
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                     "the %s answer carries no signature and no answer format", context);
      return NULL;
    }
  if (!holds (format, G_TYPE_INT64))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "the %s answer's \"format\" is not a number", context);
      return NULL;
    }
  if (json_node_get_int (format) != TS_ANSWER_FORMAT)
    {
      set_format_error (error, json_node_get_int (format));
      return NULL;
    }
  /* Nothing beside the signed payload: an added member is a proxy's. */
  g_autoptr (GList) members = json_object_get_members (body);
  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (ts_answer_body_members, l->data))
      {
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                     "the %s answer carries \"%s\" outside its signed payload", context,
                     (const char *) l->data);
        return NULL;
      }
  JsonNode *payload = json_object_get_member (body, "payload");
  if (!holds (payload, G_TYPE_STRING))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "the %s answer carries no signed payload (a JSON text string)", context);
      return NULL;
    }
  const char *text = json_node_get_string (payload);
  JsonNode *sig = json_object_get_member (body, "signature");
  g_autoptr (GBytes) message = ts_answer_message (nonce, text);
  if (!tessera_trusted_keys_verify_message (
          keys, context, message, holds (sig, G_TYPE_STRING) ? json_node_get_string (sig) : NULL,
          error))
    return NULL;

  /* From here on the server's own words: a flaw is its bug, not an attack. */
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) parse_error = NULL;
  /* (An empty text parses, to no root at all.) */
  if (!json_parser_load_from_data (parser, text, -1, &parse_error)
      || json_parser_get_root (parser) == NULL
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "its signed %s payload is not a JSON object%s%s", context,
                   parse_error != NULL ? ": " : "",
                   parse_error != NULL ? parse_error->message : "");
      return NULL;
    }
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static gboolean
missing (GError **error, const char *context, const char *name, const char *what)
{
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
               "its signed %s payload has no %s \"%s\" (a server this client does not support)",
               context, what, name);
  return FALSE;
}

static gboolean
get_string (JsonObject *p, const char *context, const char *name, const char **out, GError **error)
{
  JsonNode *node = json_object_get_member (p, name);
  if (!holds (node, G_TYPE_STRING) || *json_node_get_string (node) == '\0')
    return missing (error, context, name, "non-empty string");
  *out = json_node_get_string (node);
  return TRUE;
}

/* An integer in [@min, G_MAXINT64]. */
static gboolean
get_int (JsonObject *p, const char *context, const char *name, gint64 min, gint64 *out,
         GError **error)
{
  JsonNode *node = json_object_get_member (p, name);
  if (!holds (node, G_TYPE_INT64) || json_node_get_int (node) < min)
    {
      g_autofree char *what = g_strdup_printf ("integer >= %" G_GINT64_FORMAT, min);
      return missing (error, context, name, what);
    }
  *out = json_node_get_int (node);
  return TRUE;
}

/* The lease both answers state: it ends after the server's time. */
static gboolean
get_lease (JsonObject *p, const char *context, gint64 *server_time, gint64 *expires_at,
           GError **error)
{
  if (!get_int (p, context, "server_time", 1, server_time, error)
      || !get_int (p, context, "lease_expires_at", 1, expires_at, error))
    return FALSE;
  if (*expires_at <= *server_time)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "its signed %s payload has a lease ending at %" G_GINT64_FORMAT
                   ", not after its time %" G_GINT64_FORMAT,
                   context, *expires_at, *server_time);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_activate (TesseraTrustedKeys *keys, JsonObject *body, const char *nonce, const char *product,
               const char *machine_id, TestopsRecord *r, GError **error)
{
  const char *ctx = "activate";
  g_autoptr (JsonObject) p = open_answer (keys, body, ctx, nonce, error);
  if (p == NULL)
    return FALSE;
  const char *session_id, *license_id, *org, *kind, *answered_product, *answered_machine;
  gint64 lease_seconds, server_time, expires_at, subscription_end;
  if (!get_string (p, ctx, "session_id", &session_id, error)
      || !get_string (p, ctx, "license_id", &license_id, error)
      || !get_string (p, ctx, "org_id", &org, error) || !get_string (p, ctx, "kind", &kind, error)
      || !get_string (p, ctx, "product", &answered_product, error)
      || !get_string (p, ctx, "machine_id", &answered_machine, error)
      || !get_int (p, ctx, "lease_seconds", 1, &lease_seconds, error)
      || !get_int (p, ctx, "subscription_end", 0, &subscription_end, error)
      || !get_lease (p, ctx, &server_time, &expires_at, error))
    return FALSE;
  if (!g_str_equal (kind, "floating") && !g_str_equal (kind, "node-locked"))
    return missing (error, ctx, "kind", "\"floating\" or \"node-locked\"");
  if (!g_str_equal (answered_product, product))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH,
                   "its signed activation is for product %s, not %s", answered_product, product);
      return FALSE;
    }
  if (!g_str_equal (answered_machine, machine_id))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH,
                   "its signed activation is for machine %s, not this one (%s)", answered_machine,
                   machine_id);
      return FALSE;
    }
  JsonNode *ents = json_object_get_member (p, "entitlements");
  if (ents == NULL || !JSON_NODE_HOLDS_ARRAY (ents))
    return missing (error, ctx, "entitlements", "array");
  JsonArray *array = json_node_get_array (ents);
  g_autoptr (GPtrArray) features = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      if (!holds (e, G_TYPE_STRING) || *json_node_get_string (e) == '\0')
        return missing (error, ctx, "entitlements", "array of non-empty strings");
      g_ptr_array_add (features, g_strdup (json_node_get_string (e)));
    }
  g_ptr_array_add (features, NULL);

  g_free (r->session_id);
  r->session_id = g_strdup (session_id);
  g_free (r->license_id);
  r->license_id = g_strdup (license_id);
  g_free (r->org);
  r->org = g_strdup (org);
  g_free (r->kind);
  r->kind = g_strdup (kind);
  g_free (r->machine_id);
  r->machine_id = g_strdup (answered_machine);
  r->issued_at = server_time;
  r->expires_at = subscription_end;
  r->lease_seconds = lease_seconds;
  r->lease_expires_at = expires_at;
  g_strfreev (r->features);
  r->features = (char **) g_ptr_array_free (g_steal_pointer (&features), FALSE);
  return TRUE;
}

gboolean
testops_answer_read_activate (TesseraTrustedKeys *keys, const char *server, JsonObject *body,
                              const char *nonce, const char *product, const char *machine_id,
                              TestopsRecord *r, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  if (read_activate (keys, body, nonce, product, machine_id, r, &local_error))
    return TRUE;
  refuse (error, server, local_error);
  return FALSE;
}

static gboolean
read_heartbeat (TesseraTrustedKeys *keys, JsonObject *body, const char *nonce,
                const char *session_id, gint64 *lease_seconds, gint64 *time_out, GError **error)
{
  const char *ctx = "heartbeat";
  g_autoptr (JsonObject) p = open_answer (keys, body, ctx, nonce, error);
  if (p == NULL)
    return FALSE;
  const char *answered_session;
  gint64 server_time, expires_at;
  if (!get_string (p, ctx, "session_id", &answered_session, error)
      || !get_lease (p, ctx, &server_time, &expires_at, error))
    return FALSE;
  if (!g_str_equal (answered_session, session_id))
    {
      /* Signed, so the server's: but never about this session. */
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                   "the heartbeat answer is for another session (%s)", answered_session);
      return FALSE;
    }
  *lease_seconds = expires_at - server_time;
  if (time_out != NULL)
    *time_out = server_time;
  return TRUE;
}

gboolean
testops_answer_read_heartbeat (TesseraTrustedKeys *keys, const char *server, JsonObject *body,
                               const char *nonce, const char *session_id, gint64 *lease_seconds,
                               gint64 *server_time, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  if (read_heartbeat (keys, body, nonce, session_id, lease_seconds, server_time, &local_error))
    return TRUE;
  refuse (error, server, local_error);
  return FALSE;
}

char *
testops_answer_to_text (JsonObject *body)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), body);
  return json_to_string (node, FALSE);
}

static JsonObject *
parse_stored (const char *text)
{
  if (text == NULL)
    return NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, -1, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  return root != NULL && JSON_NODE_HOLDS_OBJECT (root)
             ? json_object_ref (json_node_get_object (root))
             : NULL;
}

static gboolean
edited (GError **error, const char *key)
{
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
               "its %s key differs from what the server signed (the record was edited)", key);
  return FALSE;
}

/* The plain keys are a cache of the signed answers: any difference is an
 * edit, refused rather than quietly corrected, so that status says so. */
static gboolean
check_cache (const TestopsRecord *r, const TestopsRecord *s, gint64 lease_seconds, GError **error)
{
  if (g_strcmp0 (r->session_id, s->session_id) != 0)
    return edited (error, "session-id");
  if (g_strcmp0 (r->license_id, s->license_id) != 0)
    return edited (error, "license-id");
  if (g_strcmp0 (r->org, s->org) != 0)
    return edited (error, "org");
  if (g_strcmp0 (r->kind, s->kind) != 0)
    return edited (error, "kind");
  if (g_strcmp0 (r->machine_id, s->machine_id) != 0)
    return edited (error, "machine-id");
  if (r->issued_at != s->issued_at)
    return edited (error, "issued-at");
  if (r->expires_at != s->expires_at)
    return edited (error, "expires-at");
  if (r->lease_seconds != lease_seconds)
    return edited (error, "lease-seconds");
  /* Written from the signed list, in its order; none is written as none. */
  guint n = r->features != NULL ? g_strv_length (r->features) : 0;
  if (n != g_strv_length (s->features))
    return edited (error, "features");
  for (guint i = 0; i < n; i++)
    if (!g_str_equal (r->features[i], s->features[i]))
      return edited (error, "features");
  return TRUE;
}

static gboolean
check_record (TesseraTrustedKeys *keys, TestopsRecord *r, const char *machine_id, GError **error)
{
  if (r->activate_answer == NULL && r->activate_nonce == NULL && r->heartbeat_answer == NULL
      && r->heartbeat_nonce == NULL)
    {
      g_set_error_literal (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                           "it was kept by an older tessera, which did not keep the server's "
                           "signed answers, so nothing in it can be checked");
      return FALSE;
    }
  g_autoptr (JsonObject) activation = parse_stored (r->activate_answer);
  if (activation == NULL || r->activate_nonce == NULL)
    {
      g_set_error_literal (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                           "its signed activation answer is missing or not JSON (the record was "
                           "edited)");
      return FALSE;
    }
  g_autoptr (TestopsRecord) s = g_new0 (TestopsRecord, 1);
  g_autoptr (GError) local_error = NULL;
  if (!read_activate (keys, activation, r->activate_nonce, r->product, machine_id, s, &local_error))
    {
      /* The record's own product is a plain key: another one is an edit. */
      if (local_error->code == TESSERA_ERROR_PRODUCT_MISMATCH)
        local_error->code = TESSERA_ERROR_TAMPERED;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  gint64 signed_time = s->issued_at;
  gint64 lease_seconds = s->lease_seconds;
  gint64 lease_expires_at = s->lease_expires_at;
  if (r->heartbeat_answer != NULL || r->heartbeat_nonce != NULL)
    {
      g_autoptr (JsonObject) heartbeat = parse_stored (r->heartbeat_answer);
      gint64 hb_lease = 0, hb_time = 0;
      if (heartbeat == NULL || r->heartbeat_nonce == NULL)
        {
          g_set_error_literal (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                               "its signed heartbeat answer is missing or not JSON (the record "
                               "was edited)");
          return FALSE;
        }
      /* Bound to the activation's session: another session's heartbeat
       * (a later one, say) is signed too, but says nothing about this one. */
      if (!read_heartbeat (keys, heartbeat, r->heartbeat_nonce, s->session_id, &hb_lease, &hb_time,
                           error))
        return FALSE;
      if (hb_time >= signed_time)
        {
          signed_time = hb_time;
          lease_seconds = hb_lease;
          lease_expires_at = hb_time + hb_lease;
        }
    }
  if (!check_cache (r, s, lease_seconds, error))
    return FALSE;
  /* No client asked before 1970. Further back, the grace's arithmetic on it
   * (its distance to now in microseconds) would wrap, into a grace that
   * never ends. */
  if (r->last_answer_at < 0)
    {
      g_set_error_literal (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
                           "its last-answer-at key (or, without it, lease-expires-at less "
                           "lease-seconds) is before 1970 (the record was edited)");
      return FALSE;
    }
  r->lease_expires_at = lease_expires_at;
  /* The record's own time is when this client asked, by its clock: an
   * earlier time than the server signed is honest (a clock behind), a later
   * one would stretch the grace, so the grace never counts from after the
   * last signed server time. A clock ahead of the server's costs that much
   * grace. */
  r->last_answer_at = MIN (r->last_answer_at, signed_time);
  return TRUE;
}

gboolean
testops_answer_check_record (TesseraTrustedKeys *keys, TestopsRecord *r, const char *machine_id,
                             GError **error)
{
  g_autoptr (GError) local_error = NULL;
  if (check_record (keys, r, machine_id, &local_error))
    return TRUE;
  g_set_error (error, TESSERA_ERROR, local_error->code,
               "the kept %s session %s cannot be used: %s (record %s, license server %s); "
               "'tessera release --product %s' removes it and frees its seat, 'tessera activate "
               "--product %s' takes a new session",
               r->product, r->session_id, local_error->message, r->path != NULL ? r->path : "?",
               r->server, r->product, r->product);
  return FALSE;
}
