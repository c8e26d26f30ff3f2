/* The online provider against servers that misbehave or lie: a stall, a
 * reset, a garbage or truncated answer, an HTML error page from a proxy, a
 * proxy that drops or cuts the real server's first answer, fake servers
 * answering "OK" unsigned, signed with another key, in an old server's
 * answer format, or with a genuine answer replayed. Each activation ends in
 * bounded time with a clear error, a lost answer costs no second seat, and
 * no fake "OK" is believed. (A proxy altering genuine answers:
 * test-testops-tamper.c.) */
#include "testops-fake.h"

#include "answer-signature.h"

#include <sys/socket.h>

typedef enum
{
  FAKE_STALL,
  FAKE_RESET,
  FAKE_GARBAGE,
  FAKE_TRUNCATED,
  FAKE_HTML_502,
  FAKE_WRONG_SHAPE,
  FAKE_PROXY_DROP_FIRST,
  FAKE_PROXY_TRUNCATE_FIRST,
  FAKE_UNSIGNED,
  FAKE_WRONG_KEY,
  FAKE_PROXY_REPLAY,
  FAKE_OLD_SERVER,
} FakeMode;

/* The members of a well-formed activation answer to @in. */
static JsonNode *
fake_activation_payload (JsonObject *in)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, "11111111-2222-3333-4444-555555555555");
  json_builder_set_member_name (b, "org_id");
  json_builder_add_string_value (b, "acme");
  json_builder_set_member_name (b, "product");
  json_builder_add_string_value (b, json_object_get_string_member (in, "product"));
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, "floating");
  json_builder_set_member_name (b, "license_id");
  json_builder_add_string_value (b, "fake-pool");
  json_builder_set_member_name (b, "machine_id");
  json_builder_add_string_value (b, json_object_get_string_member (in, "machine_id"));
  json_builder_set_member_name (b, "lease_seconds");
  json_builder_add_int_value (b, 3600);
  json_builder_set_member_name (b, "lease_expires_at");
  json_builder_add_int_value (b, now + 3600);
  json_builder_set_member_name (b, "subscription_end");
  json_builder_add_int_value (b, now + 365 * 86400);
  json_builder_set_member_name (b, "server_time");
  json_builder_add_int_value (b, now);
  json_builder_set_member_name (b, "entitlements");
  json_builder_begin_array (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* A well-formed activation answer (format 2) for the request in @req,
 * signed with @key over its nonce when @key is not NULL: what an emulator
 * would send. */
static void
send_fake_activation (GSocket *sock, GString *req, TesseraSigningKey *key)
{
  g_autoptr (JsonObject) in = request_body (req);
  g_autoptr (JsonNode) payload = fake_activation_payload (in);
  g_autofree char *text = json_to_string (payload, FALSE);
  g_autoptr (JsonNode) answer = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (answer, json_object_new ());
  JsonObject *o = json_node_get_object (answer);
  json_object_set_int_member (o, "format", TS_ANSWER_FORMAT);
  json_object_set_string_member (o, "payload", text);
  if (key != NULL)
    {
      g_autoptr (GBytes) message
          = ts_answer_message (json_object_get_string_member (in, "nonce"), text);
      g_autofree char *sig = tessera_signing_key_sign_message (key, "activate", message);
      json_object_set_string_member (o, "signature", sig);
    }
  send_json (sock, answer);
}

/* The key the plugin trusts when no real server runs: the fake old server
 * signs with it. */
static TesseraSigningKey *trusted_fake_key;

/* What a server of answer format 1 sent: the fields side by side and a
 * signature over "NAME=LENGTH:VALUE\n" of some of them and the nonce,
 * genuinely signed by the key the plugin trusts. Written out here rather
 * than taken from protocol/, which no longer speaks it. */
static void
send_old_activation (GSocket *sock, GString *req)
{
  static const char *const signed_v1[] = { "session_id", "org_id",           "product",     "kind",
                                           "machine_id", "lease_expires_at", "server_time", NULL };
  g_autoptr (JsonObject) in = request_body (req);
  g_autoptr (JsonNode) answer = fake_activation_payload (in);
  JsonObject *o = json_node_get_object (answer);
  g_autoptr (GString) message = g_string_new (NULL);
  for (guint i = 0; signed_v1[i] != NULL; i++)
    {
      JsonNode *n = json_object_get_member (o, signed_v1[i]);
      g_autofree char *value = json_node_get_value_type (n) == G_TYPE_STRING
                                   ? g_strdup (json_node_get_string (n))
                                   : g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (n));
      g_string_append_printf (message, "%s=%zu:%s\n", signed_v1[i], strlen (value), value);
    }
  const char *nonce = json_object_get_string_member (in, "nonce");
  g_string_append_printf (message, "nonce=%zu:%s\n", strlen (nonce), nonce);
  g_autoptr (GBytes) bytes = g_bytes_new (message->str, message->len);
  g_autofree char *sig = tessera_signing_key_sign_message (trusted_fake_key, "activate", bytes);
  json_object_set_string_member (o, "signature", sig);
  send_json (sock, answer);
}

/* Answers @req (the @nth request) as the fake's FakeMode says. */
static void
fault_handle (Fake *fake, GSocket *sock, GString *req, gint nth)
{
  switch ((FakeMode) fake->mode)
    {
    case FAKE_STALL:
      /* Never answer: only the client's timeout ends this. */
      while (!g_atomic_int_get (&fake->stop))
        g_usleep (20 * 1000);
      break;
    case FAKE_RESET:
      {
        /* SO_LINGER 0: close sends a RST instead of a FIN. */
        struct linger l = { 1, 0 };
        setsockopt (g_socket_get_fd (sock), SOL_SOCKET, SO_LINGER, &l, sizeof l);
        break;
      }
    case FAKE_GARBAGE:
      send_text (sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 13\r\nConnection: close\r\n\r\n\x01not json\xff\xfe}");
      break;
    case FAKE_TRUNCATED:
      send_text (sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 400\r\nConnection: close\r\n\r\n{\"session_id\":\"ab");
      break;
    case FAKE_HTML_502:
      send_text (sock, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n"
                       "Content-Length: 34\r\nConnection: close\r\n\r\n"
                       "<html><h1>Bad Gateway</h1></html>\n");
      break;
    case FAKE_WRONG_SHAPE:
      send_text (sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 37\r\nConnection: close\r\n\r\n"
                       "{\"session_id\":5,\"lease_seconds\":\"x\"}");
      break;
    case FAKE_PROXY_DROP_FIRST:
      {
        g_autoptr (GString) answer = forward (fake, req);
        /* The server granted the first activation; its answer is lost. */
        if (nth > 0)
          send_all (sock, answer->str, answer->len);
        break;
      }
    case FAKE_UNSIGNED:
      send_fake_activation (sock, req, NULL);
      break;
    case FAKE_WRONG_KEY:
      {
        g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
        send_fake_activation (sock, req, other);
        break;
      }
    case FAKE_PROXY_REPLAY:
      {
        /* The first activation reaches the server; every later request
         * gets that first (genuine, signed) answer again. */
        g_mutex_lock (&fake->lock);
        if (fake->recorded == NULL)
          fake->recorded = forward (fake, req);
        g_autoptr (GString) answer = g_string_new (fake->recorded->str);
        g_mutex_unlock (&fake->lock);
        send_all (sock, answer->str, answer->len);
        break;
      }
    case FAKE_OLD_SERVER:
      send_old_activation (sock, req);
      break;
    case FAKE_PROXY_TRUNCATE_FIRST:
      {
        g_autoptr (GString) answer = forward (fake, req);
        /* The first answer loses its last bytes: headers intact, the JSON cut. */
        send_all (sock, answer->str, nth > 0 ? answer->len : answer->len - 10);
        break;
      }
    }
}

typedef struct
{
  const char *name;
  FakeMode mode;
  TesseraError code;
  const char *message_part;
} FaultCase;

static const FaultCase fault_cases[] = {
  { "stall", FAKE_STALL, TESSERA_ERROR_NETWORK, "cannot reach the license server" },
  { "reset", FAKE_RESET, TESSERA_ERROR_NETWORK, "cannot reach the license server" },
  { "garbage", FAKE_GARBAGE, TESSERA_ERROR_UNAVAILABLE, "answered no JSON object" },
  { "truncated", FAKE_TRUNCATED, TESSERA_ERROR_UNAVAILABLE, "answered no JSON object" },
  { "html-502", FAKE_HTML_502, TESSERA_ERROR_UNAVAILABLE, "(HTTP 502)" },
  { "wrong-shape", FAKE_WRONG_SHAPE, TESSERA_ERROR_TAMPERED, "refusing its answer" },
  { "unsigned", FAKE_UNSIGNED, TESSERA_ERROR_TAMPERED, "carries no signature" },
  { "wrong-key", FAKE_WRONG_KEY, TESSERA_ERROR_UNTRUSTED_KEY, "which is not trusted" },
  /* Signed with the trusted key, but in the format that left fields
   * unsigned: refused, saying which side to upgrade. */
  { "old-server", FAKE_OLD_SERVER, TESSERA_ERROR_NOT_SUPPORTED,
    "speaks answer format 1; this client needs format 2 (every field signed): upgrade "
    "tessera-server" },
};

static void
test_fault (gconstpointer data)
{
  const FaultCase *c = data;
  Fake *fake = fake_start (fault_handle, c->mode, NULL);
  g_autoptr (TesseraEngine) engine = engine_for (fake->url);
  g_autoptr (TesseraActivateOptions) opts = tessera_activate_options_new ();
  tessera_activate_options_set (opts, TESSERA_OPTION_API_KEY, "tsk_fake_key_for_faults");
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", opts, NULL, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, c->code);
  g_assert_nonnull (strstr (error->message, c->message_part));
  /* Bounded by attempts, not by time: one server gets SEND_ATTEMPTS tries
   * at most (plugins/testops/testops-private.h). A hang is ctest's timeout. */
  g_assert_cmpint (g_atomic_int_get (&fake->requests), >=, 1);
  g_assert_cmpint (g_atomic_int_get (&fake->requests), <=, 3);
  fake_stop (fake);
}

/* The real server grants a seat, the proxy loses (or cuts) its answer: the
 * plugin's retry carries the same nonce and gets the same seat, never a
 * second. */
static void
test_lost_answer_same_seat (gconstpointer data)
{
  FakeMode mode = GPOINTER_TO_INT (data);
  Real r = { 0 };
  real_start (&r);
  Fake *fake = fake_start (fault_handle, mode, r.url);
  GError *error = NULL;
  TesseraLicense *license = real_activate (fake->url, r.key, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_atomic_int_get (&fake->requests), >=, 2);
  g_assert_cmpuint (real_sessions (&r), ==, 1);

  /* Release through the proxy (now passing answers): the seat is free. */
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_cmpuint (real_sessions (&r), ==, 0);
  fake_stop (fake);
  real_stop (&r);
}

/* A genuine, signed answer recorded by a proxy and replayed for a later
 * activation: signed over another nonce, it is refused. */
static void
test_replayed (void)
{
  Real r = { 0 };
  real_start (&r);
  Fake *fake = fake_start (fault_handle, FAKE_PROXY_REPLAY, r.url);
  GError *error = NULL;
  TesseraLicense *first = real_activate (fake->url, r.key, &error);
  g_assert_no_error (error);
  g_assert_null (real_activate (fake->url, r.key, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED);
  g_assert_nonnull (strstr (error->message, "does not match its contents"));
  g_clear_error (&error);
  /* One seat on the server: the replay took none, nor did it fake one. */
  g_assert_cmpuint (real_sessions (&r), ==, 1);
  fake_stop (fake);
  /* The first license is real: released directly on the server. */
  tessera_license_unref (first);
  real_stop (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_API_KEY");
  for (guint i = 0; i < G_N_ELEMENTS (fault_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/testops-faults/%s", fault_cases[i].name);
      g_test_add_data_func (path, &fault_cases[i], test_fault);
    }
  g_test_add_data_func ("/testops-faults/dropped-answer-same-seat",
                        GINT_TO_POINTER (FAKE_PROXY_DROP_FIRST), test_lost_answer_same_seat);
  g_test_add_data_func ("/testops-faults/truncated-answer-same-seat",
                        GINT_TO_POINTER (FAKE_PROXY_TRUNCATE_FIRST), test_lost_answer_same_seat);
  g_test_add_func ("/testops-faults/replayed", test_replayed);

  /* A key no real server here signs with, for the fake servers (only the
   * fake old server signs with it). */
  g_autoptr (TesseraSigningKey) nobody = tessera_signing_key_generate ();
  trusted_fake_key = nobody;
  g_autofree char *pub = tessera_signing_key_dup_public (nobody);
  g_autofree char *key_dir = g_dir_make_tmp ("tessera-faults-key-XXXXXX", NULL);
  g_assert_nonnull (key_dir);
  default_key_path = test_write_file (key_dir, "nobody.pub", pub);
  trusted_key_path = default_key_path;
  int status = g_test_run ();
  g_unlink (default_key_path);
  g_rmdir (key_dir);
  g_free (default_key_path);
  return status;
}
