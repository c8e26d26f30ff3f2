/* The online provider behind a proxy that forwards the real tessera-server's
 * genuine, signed answers with one field changed (issue #14: a forged
 * license id, expiry, feature or a lease of 10^9 s once got through). Each
 * field of each answer is changed in turn, inside the signed payload and
 * beside it (where a format-1 client read it), for activate, the heartbeat
 * thread and validate: each is refused, and no forged lease keeps a license
 * alive after the genuine one is over. */
#include "testops-fake.h"

#include "answer-signature.h"

/* Which answers the proxy alters, which field, and where the forged value
 * goes. */
typedef enum
{
  TAMPER_IN_PAYLOAD, /* rewritten inside the signed payload text */
  TAMPER_BESIDE,     /* set beside it, where a format-1 client read it */
} TamperWhere;

typedef struct
{
  const char *op; /* "activate", "heartbeat" (the thread's) or "validate" */
  const char *field;
  TamperWhere where;
} TamperCase;

/* A value unlike @genuine, of its type: what a forger would put there. */
static JsonNode *
forge (const char *field, JsonNode *genuine)
{
  JsonNode *forged = json_node_new (JSON_NODE_VALUE);
  if (JSON_NODE_HOLDS_ARRAY (genuine))
    {
      JsonArray *a = json_array_new ();
      for (guint i = 0; i < json_array_get_length (json_node_get_array (genuine)); i++)
        json_array_add_element (a, json_array_dup_element (json_node_get_array (genuine), i));
      json_array_add_string_element (a, "forged-feature");
      json_node_free (forged);
      forged = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (forged, a);
    }
  else if (json_node_get_value_type (genuine) == G_TYPE_INT64)
    /* A server time long past makes any lease end look far away. */
    json_node_set_int (
        forged, g_str_equal (field, "server_time") ? 1 : json_node_get_int (genuine) + 1000000000);
  else
    {
      g_autofree char *s = g_strconcat ("forged-", json_node_get_string (genuine), NULL);
      json_node_set_string (forged, s);
    }
  return forged;
}

/* Changes the case's field in @answer, a genuine answer body (any format):
 * inside the payload text (the signature left as it was), or beside it;
 * a format-1 answer's field is where it is. Returns: (transfer full) the
 * altered body, or NULL when it has no such field. */
static char *
tamper_body (const TamperCase *c, const char *body)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, body, -1, NULL))
    return NULL;
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  JsonObject *where = o;
  g_autoptr (JsonParser) payload_parser = json_parser_new ();
  gboolean in_payload = json_object_has_member (o, "payload");
  if (in_payload)
    {
      g_assert_true (json_parser_load_from_data (
          payload_parser, json_object_get_string_member (o, "payload"), -1, NULL));
      where = json_node_get_object (json_parser_get_root (payload_parser));
    }
  JsonNode *genuine = json_object_get_member (where, c->field);
  if (genuine == NULL)
    return NULL;
  JsonNode *forged = forge (c->field, genuine);
  if (in_payload && c->where == TAMPER_IN_PAYLOAD)
    {
      json_object_set_member (where, c->field, forged);
      g_autofree char *text = json_to_string (json_parser_get_root (payload_parser), FALSE);
      json_object_set_string_member (o, "payload", text);
    }
  else
    json_object_set_member (o, c->field, forged);
  return json_to_string (json_parser_get_root (parser), FALSE);
}

/* Forwards @req and sends back the answer, with the case's field changed
 * when it answers the case's endpoint with 200. */
static void
proxy_tamper (Fake *fake, GSocket *sock, GString *req, gint nth)
{
  const TamperCase *c = fake->data;
  g_autoptr (GString) answer = forward (fake, req);
  const char *path
      = g_str_equal (c->op, "activate") ? "POST /api/v1/activate " : "POST /api/v1/heartbeat ";
  const char *body = strstr (answer->str, "\r\n\r\n");
  g_autofree char *altered = NULL;
  if (g_str_has_prefix (req->str, path) && g_str_has_prefix (answer->str, "HTTP/1.1 200")
      && body != NULL)
    altered = tamper_body (c, body + 4);
  if (altered == NULL)
    {
      send_all (sock, answer->str, answer->len);
      return;
    }
  g_atomic_int_inc (&fake->changed);
  g_autofree char *http = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                           strlen (altered), altered);
  send_text (sock, http);
}

/* ---------------------------------------------------------------- tests */

/* The fields of each answer, as protocol/answer-signature.h lists them:
 * a field added there gets its tampering cases here by itself, and
 * test_fields_listed() fails when the server answers one not listed. */
static GPtrArray *tamper_cases;

static const char *
tamper_refusal (const TamperCase *c)
{
  return c->where == TAMPER_IN_PAYLOAD ? "does not match its contents"
                                       : "outside its signed payload";
}

/* The real server's genuine activation answer with one field changed: no
 * license. */
static void
test_tamper_activate (gconstpointer data)
{
  const TamperCase *c = data;
  Real r = { 0 };
  real_start (&r);
  Fake *fake = fake_start (proxy_tamper, 0, r.url);
  fake->data = c;
  GError *error = NULL;
  TesseraLicense *license = real_activate (fake->url, r.key, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED);
  g_assert_nonnull (strstr (error->message, "refusing its answer"));
  g_assert_nonnull (strstr (error->message, tamper_refusal (c)));
  g_clear_error (&error);
  g_assert_cmpint (g_atomic_int_get (&fake->changed), >=, 1);
  fake_stop (fake);
  real_stop (&r);
}

static void
on_invalidated (TesseraLicense *license, const GError *reason, gpointer data)
{
  GError **out = data;
  if (*out == NULL)
    *out = g_error_copy (reason);
}

/* The real server's genuine heartbeat answers with one field changed (a
 * lease of 10^9 s, a server time long past, another session): none extends
 * the lease, so the license ends when the last genuine lease and the grace
 * are over, by the heartbeat thread or at a validation, saying why. */
static void
test_tamper_session (gconstpointer data)
{
  const TamperCase *c = data;
  static const char *const short_lease[] = { "--lease", "5", "--reap-interval", "1", NULL };
  Real r = { 0 };
  real_start_with (&r, short_lease);
  Fake *fake = fake_start (proxy_tamper, 0, r.url);
  fake->data = c;
  /* Generous timeouts: the last answer before the end is the refused one,
   * not a busy machine's late one. */
  g_autoptr (TesseraEngine) engine = engine_with (fake->url, 30, "grace-seconds=0\n");
  g_autoptr (TesseraActivateOptions) opts = tessera_activate_options_new ();
  tessera_activate_options_set (opts, TESSERA_OPTION_API_KEY, r.key);
  GError *error = NULL;
  TesseraLicense *license = tessera_engine_activate (engine, "KRE", opts, NULL, &error);
  g_assert_no_error (error);
  GError *reason = NULL;
  gboolean validate = g_str_equal (c->op, "validate");
  /* Validating, the answer is validate's own: no handler left to run
   * later, into a finished test's @reason. */
  if (!validate)
    tessera_license_add_invalidated_handler (license, on_invalidated, &reason, NULL);

  /* A generous bound on waiting for the end (lease 5 s, no grace): with a
   * forged lease believed, it would not come before 10^9 s. */
  gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (reason == NULL && g_get_monotonic_time () < end)
    {
      if (validate && !tessera_license_validate (license, NULL, &reason))
        break;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (200 * 1000);
    }
  g_assert_nonnull (reason);
  g_test_message ("%s", reason->message);
  g_assert_true (reason->domain == TESSERA_ERROR);
  g_assert_nonnull (strstr (reason->message, "refusing its answer"));
  g_assert_nonnull (strstr (reason->message, tamper_refusal (c)));
  g_assert_nonnull (strstr (reason->message, "grace ran out"));
  g_clear_error (&reason);
  if (!validate)
    g_assert_false (tessera_license_is_held (license));
  /* And it stays over: no later answer revives it. */
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_cmpint (g_atomic_int_get (&fake->changed), >=, 1);

  /* The seat goes back through the proxy (it alters no release). */
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_cmpuint (real_sessions (&r), ==, 0);
  fake_stop (fake);
  real_stop (&r);
}

/* The member names of the payload of a genuine @path answer. */
static GStrv
payload_members (const char *url, const char *key, const char *path, const char *body)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  GError *error = NULL;
  g_autoptr (GSocketConnection) conn
      = g_socket_client_connect_to_uri (client, url, 0, NULL, &error);
  g_assert_no_error (error);
  GSocket *sock = g_socket_connection_get_socket (conn);
  g_autofree char *req = g_strdup_printf (
      "POST /api/v1%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
      "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
      path, key, strlen (body), body);
  send_text (sock, req);
  g_autoptr (GString) answer = read_request (sock, NULL);
  g_assert_true (g_str_has_prefix (answer->str, "HTTP/1.1 200"));
  const char *json = strstr (answer->str, "\r\n\r\n");
  g_assert_nonnull (json);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, json + 4, -1, NULL));
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  g_autoptr (JsonParser) payload = json_parser_new ();
  g_assert_true (
      json_parser_load_from_data (payload, json_object_get_string_member (o, "payload"), -1, NULL));
  g_autoptr (GList) names
      = json_object_get_members (json_node_get_object (json_parser_get_root (payload)));
  GPtrArray *out = g_ptr_array_new ();
  for (GList *l = names; l != NULL; l = l->next)
    g_ptr_array_add (out, g_strdup (l->data));
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (out, FALSE);
}

static void
assert_same_set (GStrv answered, const char *const *listed)
{
  for (guint i = 0; answered[i] != NULL; i++)
    if (!g_strv_contains (listed, answered[i]))
      g_error ("the server answers \"%s\", which protocol/answer-signature.h does not list "
               "(so no tampering case covers it)",
               answered[i]);
  g_assert_cmpuint (g_strv_length (answered), ==, g_strv_length ((GStrv) listed));
}

/* Every field the real server answers has its tampering cases above. */
static void
test_fields_listed (void)
{
  Real r = { 0 };
  real_start (&r);
  g_auto (GStrv) activate = payload_members (
      r.url, r.key, "/activate",
      "{\"product\":\"KRE\",\"machine_id\":\"M-LISTED\",\"nonce\":\"nonce-listed-1\"}");
  assert_same_set (activate, ts_answer_activate_fields);
  GError *error = NULL;
  TesseraLicense *license = real_activate (r.url, r.key, &error);
  g_assert_no_error (error);
  g_autofree char *body
      = g_strdup_printf ("{\"session_id\":\"%s\",\"nonce\":\"nonce-listed-2\"}",
                         tessera_license_get_attribute (license, "testops.session-id"));
  g_auto (GStrv) heartbeat = payload_members (r.url, r.key, "/heartbeat", body);
  assert_same_set (heartbeat, ts_answer_heartbeat_fields);
  tessera_license_unref (license);
  real_stop (&r);
}

static void
add_tamper_cases (const char *op, const char *const *fields, GTestDataFunc func)
{
  for (guint i = 0; fields[i] != NULL; i++)
    for (TamperWhere where = TAMPER_IN_PAYLOAD; where <= TAMPER_BESIDE; where++)
      {
        TamperCase *c = g_new0 (TamperCase, 1);
        c->op = op;
        c->field = fields[i];
        c->where = where;
        g_ptr_array_add (tamper_cases, c);
        g_autofree char *path
            = g_strdup_printf ("/testops-tamper/%s/%s/%s", op, fields[i],
                               where == TAMPER_IN_PAYLOAD ? "in-payload" : "beside");
        g_test_add_data_func (path, c, func);
      }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_API_KEY");
  tamper_cases = g_ptr_array_new_with_free_func (g_free);
  add_tamper_cases ("activate", ts_answer_activate_fields, test_tamper_activate);
  add_tamper_cases ("heartbeat", ts_answer_heartbeat_fields, test_tamper_session);
  add_tamper_cases ("validate", ts_answer_heartbeat_fields, test_tamper_session);
  g_test_add_func ("/testops-tamper/fields-listed", test_fields_listed);
  int status = g_test_run ();
  g_ptr_array_unref (tamper_cases);
  return status;
}
