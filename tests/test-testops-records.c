/* A kept online session's record (testops-*.session, a key file the user
 * can edit) is believed only as far as the server's signed answers it holds
 * prove it: each test keeps a session on the real tessera-server, edits its
 * record as a user could (features, lease, the last answer's time, the
 * signed answers swapped, cut, garbled or their signature changed, a record
 * of the previous version), and a later process must refuse it with a
 * specific error, not use it, and still release it. The fixture is
 * tests/testops-util.h. */
#include "testops-util.h"

#include <json-glib/json-glib.h>

/* Five seconds of lease (the server's least) and no grace: a session whose
 * server stopped answering is out of time soon after. */
static const char *const short_lease[] = { "--lease", "5", "--reap-interval", "1", NULL };

typedef struct
{
  char *line; /* the [provider:testops] lines: the state folder */
  char *state;
  char *session;
  char *machine;
  char *path; /* the record */
} Kept;

static void
kept_clear (Kept *k)
{
  g_free (k->line);
  g_free (k->state);
  g_free (k->session);
  g_free (k->machine);
  g_free (k->path);
}

/* Activates KRE with persist and drops the license object: the session
 * stays, in its record. */
static void
keep (Fixture *f, Kept *k, const char *extra)
{
  GError *error = NULL;
  if (k->state == NULL)
    {
      k->state = g_build_filename (f->dir, "state", NULL);
      k->line = g_strdup_printf ("state-dir=%s\n%s", k->state, extra != NULL ? extra : "");
    }
  g_autoptr (TesseraEngine) engine = engine_new (f, k->line);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  tessera_activate_options_set (o, TESSERA_OPTION_PERSIST, "true");
  TesseraLicense *license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_free (k->session);
  k->session = g_strdup (tessera_license_get_attribute (license, "testops.session-id"));
  g_free (k->machine);
  k->machine = g_strdup (tessera_license_get_machine_id (license));
  g_autofree char *name = g_strdup_printf ("testops-%s.session", k->session);
  g_free (k->path);
  k->path = g_build_filename (k->state, name, NULL);
  g_assert_true (g_file_test (k->path, G_FILE_TEST_EXISTS));
  tessera_license_unref (license);
}

static GKeyFile *
record_load (const char *path)
{
  GKeyFile *kf = g_key_file_new ();
  GError *error = NULL;
  g_assert_true (g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  return kf;
}

static void
record_save (const char *path, GKeyFile *kf)
{
  GError *error = NULL;
  g_assert_true (g_key_file_save_to_file (kf, path, &error));
  g_assert_no_error (error);
}

static char *
record_get (const char *path, const char *key)
{
  g_autoptr (GKeyFile) kf = record_load (path);
  return g_key_file_get_string (kf, "session", key, NULL);
}

/* Sets (@value) or removes (NULL) @key in the record, as a user would. */
static void
record_set (const char *path, const char *key, const char *value)
{
  g_autoptr (GKeyFile) kf = record_load (path);
  if (value != NULL)
    g_key_file_set_string (kf, "session", key, value);
  else
    g_key_file_remove_key (kf, "session", key, NULL);
  record_save (path, kf);
}

/* The only kept license a new process lists (validated: it is the record's
 * whole use). */
static TesseraLicense *
listed (Fixture *f, Kept *k)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, k->line);
  g_autoptr (GPtrArray) list = tessera_engine_list_licenses (engine, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);
  return tessera_license_ref (list->pdata[0]);
}

/* A new process refuses the record with @code, the message naming @why,
 * the record and the way out; the license holds nothing of it. */
static void
assert_refused (Fixture *f, Kept *k, TesseraError code, const char *why)
{
  GError *error = NULL;
  g_autoptr (TesseraLicense) license = listed (f, k);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_test_message ("refused: %s", error != NULL ? error->message : "(none)");
  g_assert_error (error, TESSERA_ERROR, code);
  g_assert_nonnull (strstr (error->message, why));
  g_assert_nonnull (strstr (error->message, k->path));
  g_assert_nonnull (strstr (error->message, "'tessera activate --product KRE'"));
  g_clear_error (&error);
  g_assert_false (tessera_license_has_feature (license, "premium"));
  g_assert_cmpint (tessera_license_get_expires_at (license), ==, 0);
  /* Refused again, without asking anything of the server. */
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, code);
  g_clear_error (&error);
}

/* Releasing the refused record frees its seat and removes it. */
static void
assert_released (Fixture *f, Kept *k)
{
  GError *error = NULL;
  g_autoptr (TesseraLicense) license = listed (f, k);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (k->path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
}

/* ---- the plain keys ---- */

/* A feature the server never granted, added to the record. */
static void
test_features_added (Fixture *f, gconstpointer data)
{
  Kept k = { 0 };
  keep (f, &k, NULL);
  record_set (k.path, "features", "premium;");
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "its features");
  assert_released (f, &k);
  kept_clear (&k);
}

/* The lease pushed out (both its keys), then the server goes silent: the
 * longer lease would be a longer grace. */
static void
test_lease_pushed (Fixture *f, gconstpointer data)
{
  Kept k = { 0 };
  keep (f, &k, "grace-seconds=0\n");
  g_autofree char *end = g_strdup_printf ("%" G_GINT64_FORMAT, now_s () + 365 * 24 * 3600);
  record_set (k.path, "lease-seconds", "31536000");
  record_set (k.path, "lease-expires-at", end);
  server_kill (f);
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "its lease-seconds");
  kept_clear (&k);
}

/* Keeps a session without grace (on short_lease), then the server stops
 * answering until the signed lease (5 s) is past by the wall clock, which
 * the grace reads. */
static void
keep_past_lease (Fixture *f, Kept *k)
{
  keep (f, k, "grace-seconds=0\n");
  gint64 activated = now_s ();
  server_kill (f);
  while (now_s () <= activated + 7)
    g_usleep (200 * 1000);
}

/* The last answer's time moved forward while the server is silent (an
 * endless grace): the grace counts from the last signed server time. */
static void
test_last_answer_forward (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  Kept k = { 0 };
  keep_past_lease (f, &k);
  g_autofree char *now = g_strdup_printf ("%" G_GINT64_FORMAT, now_s ());
  record_set (k.path, "last-answer-at", now);
  g_autoptr (TesseraLicense) license = listed (f, &k);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_test_message ("refused: %s", error != NULL ? error->message : "(none)");
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "the grace ran out"));
  g_clear_error (&error);
  kept_clear (&k);
}

/* Seconds far enough back that their distance to now, in microseconds,
 * wraps to about 63 years in the future: what a grace computed from it
 * without a check would give, with the server silent. */
#define WRAPS_FORWARD G_GINT64_CONSTANT (18444744073710)

/* The last answer's time moved back before 1970, the server silent past
 * the signed lease: refused as tampered, not an endless grace. */
static void
test_last_answer_far_back (Fixture *f, gconstpointer data)
{
  Kept k = { 0 };
  keep_past_lease (f, &k);
  g_autofree char *back = g_strdup_printf ("%" G_GINT64_FORMAT, now_s () - WRAPS_FORWARD);
  record_set (k.path, "last-answer-at", back);
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "its last-answer-at key");
  kept_clear (&k);
}

/* Without last-answer-at (a record from before it), the last answer's time
 * is lease-expires-at less lease-seconds: a lease end at the least int64
 * is refused as tampered, the subtraction never wrapping into a time
 * within the grace. */
static void
test_last_answer_missing (Fixture *f, gconstpointer data)
{
  Kept k = { 0 };
  keep (f, &k, NULL);
  record_set (k.path, "last-answer-at", NULL);
  record_set (k.path, "lease-expires-at", "-9223372036854775808");
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "its last-answer-at key");
  assert_released (f, &k);
  kept_clear (&k);
}

/* ---- the signed answers ---- */

/* POSTs @body to the server's /api/v1@path with @key; returns the 200
 * answer's body. */
static char *
post_raw (Fixture *f, const char *key, const char *path, const char *body)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  GError *error = NULL;
  g_autoptr (GSocketConnection) conn
      = g_socket_client_connect_to_uri (client, f->url, 0, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *req = g_strdup_printf (
      "POST /api/v1%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
      "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
      path, key, strlen (body), body);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  g_assert_true (g_output_stream_write_all (out, req, strlen (req), NULL, NULL, &error));
  g_assert_no_error (error);
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  g_autoptr (GString) answer = g_string_new ("");
  for (;;)
    {
      char buf[4096];
      gssize n = g_input_stream_read (in, buf, sizeof buf, NULL, &error);
      g_assert_no_error (error);
      if (n <= 0)
        break;
      g_string_append_len (answer, buf, n);
      const char *head_end = strstr (answer->str, "\r\n\r\n");
      const char *length = head_end != NULL ? g_strstr_len (answer->str, head_end - answer->str,
                                                            "Content-Length: ")
                                            : NULL;
      if (length != NULL
          && (gsize) (head_end + 4 - answer->str)
                     + g_ascii_strtoull (length + strlen ("Content-Length: "), NULL, 10)
                 <= answer->len)
        break;
    }
  if (!g_str_has_prefix (answer->str, "HTTP/1.1 200"))
    g_error ("POST %s: %s", path, answer->str);
  return g_strdup (strstr (answer->str, "\r\n\r\n") + 4);
}

/* A genuine activation answer for @machine in @org (signed over @nonce),
 * whose seat is given back at once. */
static char *
foreign_answer (Fixture *f, const char *key, const char *org, const char *machine,
                const char *nonce)
{
  g_autofree char *body = g_strdup_printf (
      "{\"product\":\"KRE\",\"machine_id\":\"%s\",\"nonce\":\"%s\",\"org_id\":\"%s\"}", machine,
      nonce, org);
  char *answer = post_raw (f, key, "/activate", body);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, answer, -1, NULL));
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  g_autoptr (JsonParser) payload = json_parser_new ();
  g_assert_true (
      json_parser_load_from_data (payload, json_object_get_string_member (o, "payload"), -1, NULL));
  const char *session = json_object_get_string_member (
      json_node_get_object (json_parser_get_root (payload)), "session_id");
  g_autofree char *release = g_strdup_printf ("{\"session_id\":\"%s\"}", session);
  g_free (post_raw (f, key, "/release", release));
  return answer;
}

/* Restores the record's text @text, then sets @key (and @nonce_key) to
 * @value (@nonce). */
static void
swap_answer (Kept *k, const char *text, const char *key, const char *value, const char *nonce_key,
             const char *nonce)
{
  g_assert_true (g_file_set_contents (k->path, text, -1, NULL));
  record_set (k->path, key, value);
  record_set (k->path, nonce_key, nonce);
}

/* Signed answers that are genuine but not this session's: another session
 * of this machine (its activation, its heartbeat), another machine's,
 * another organization's. */
static void
test_answer_swapped (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  /* Room for another machine's registration; org beta with a KRE pool. */
  TsStore *store = store_open (f);
  TsPool *acme
      = ts_store_update_pool (store, NULL, "acme", f->floating_pool, 5, -1, now_s (), &error);
  g_assert_no_error (error);
  ts_pool_free (acme);
  g_autofree char *beta_owner
      = ts_store_bootstrap_org (store, "beta", "Beta", "owner@beta.test", now_s (), &error);
  g_assert_no_error (error);
  TsPool *pool = ts_store_create_pool (store, NULL, "beta", "KRE", "floating", "annual", 1,
                                       now_s () + 365 * 24 * 3600, now_s (), &error);
  g_assert_no_error (error);
  ts_pool_free (pool);
  g_autofree char *beta_key_id = NULL;
  g_autofree char *beta_key
      = ts_store_create_api_key (store, beta_owner, "beta", now_s (), &beta_key_id, &error);
  g_assert_no_error (error);
  ts_store_close (store);
  /* Another machine's answer, its seat given back at once. */
  g_autofree char *other_machine
      = foreign_answer (f, f->member_key, "acme", "0000000000000000other", "nonce-other-machine");

  /* Session A, validated once (a heartbeat answer in its record), then
   * released; session B kept. */
  Kept k = { 0 };
  keep (f, &k, NULL);
  {
    g_autoptr (TesseraLicense) a = listed (f, &k);
    g_assert_true (tessera_license_validate (a, NULL, &error));
    g_assert_no_error (error);
  }
  g_autofree char *a_activate = record_get (k.path, "activate-answer");
  g_autofree char *a_activate_nonce = record_get (k.path, "activate-nonce");
  g_autofree char *a_heartbeat = record_get (k.path, "heartbeat-answer");
  g_autofree char *a_heartbeat_nonce = record_get (k.path, "heartbeat-nonce");
  g_assert_nonnull (a_activate);
  g_assert_nonnull (a_heartbeat);
  assert_released (f, &k);
  g_autofree char *beta = foreign_answer (f, beta_key, "beta", k.machine, "nonce-beta");
  keep (f, &k, NULL);
  g_autofree char *b_text = NULL;
  g_assert_true (g_file_get_contents (k.path, &b_text, NULL, NULL));

  swap_answer (&k, b_text, "activate-answer", a_activate, "activate-nonce", a_activate_nonce);
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "its session-id");
  swap_answer (&k, b_text, "heartbeat-answer", a_heartbeat, "heartbeat-nonce", a_heartbeat_nonce);
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "another session");
  swap_answer (&k, b_text, "activate-answer", other_machine, "activate-nonce",
               "nonce-other-machine");
  assert_refused (f, &k, TESSERA_ERROR_MACHINE_MISMATCH, "0000000000000000other");
  swap_answer (&k, b_text, "activate-answer", beta, "activate-nonce", "nonce-beta");
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "its session-id");
  /* Every plain key made to match beta's answer: then it is that
   * organization's session, and still not the one this record named. */
  record_set (k.path, "org", "beta");
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "its session-id");

  /* The genuine record, back: used as before. */
  g_assert_true (g_file_set_contents (k.path, b_text, -1, NULL));
  g_autoptr (TesseraLicense) b = listed (f, &k);
  g_assert_true (tessera_license_validate (b, NULL, &error));
  g_assert_no_error (error);
  assert_released (f, &k);
  kept_clear (&k);
}

/* Changes the character at @at of @text (within an answer) to another of
 * the same class, so that the JSON stays JSON. */
static char *
change_char (const char *text, gsize at)
{
  char *out = g_strdup (text);
  g_assert_cmpuint (at, <, strlen (out));
  out[at] = out[at] == 'A' ? 'B' : 'A';
  return out;
}

/* The answers cut short or garbled inside their signed payload. */
static void
test_answer_garbled (Fixture *f, gconstpointer data)
{
  Kept k = { 0 };
  keep (f, &k, NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (k.path, &text, NULL, NULL));
  g_autofree char *answer = record_get (k.path, "activate-answer");
  g_autofree char *nonce = record_get (k.path, "activate-nonce");

  g_autofree char *cut = g_strndup (answer, strlen (answer) / 2);
  swap_answer (&k, text, "activate-answer", cut, "activate-nonce", nonce);
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "not JSON");

  /* A digit of the signed payload (its license's server time) changed. */
  const char *at = strstr (answer, "server_time");
  g_assert_nonnull (at);
  at += strcspn (at, "0123456789");
  g_autofree char *garbled = g_strdup (answer);
  garbled[at - answer] = garbled[at - answer] == '1' ? '2' : '1';
  swap_answer (&k, text, "activate-answer", garbled, "activate-nonce", nonce);
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "signature");

  /* The nonce the answer was signed over, changed. */
  swap_answer (&k, text, "activate-answer", answer, "activate-nonce", "another-nonce");
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "signature");

  /* A heartbeat answer cut short. */
  swap_answer (&k, text, "heartbeat-answer", "{\"format\":2,\"payl", "heartbeat-nonce", nonce);
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "heartbeat answer is missing or not JSON");
  g_assert_true (g_file_set_contents (k.path, text, -1, NULL));
  assert_released (f, &k);
  kept_clear (&k);
}

/* One byte of the signature changed. */
static void
test_signature_flipped (Fixture *f, gconstpointer data)
{
  Kept k = { 0 };
  keep (f, &k, NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (k.path, &text, NULL, NULL));
  g_autofree char *answer = record_get (k.path, "activate-answer");
  g_autofree char *nonce = record_get (k.path, "activate-nonce");
  /* "signature":"KEYID.BASE64": a character in the middle of BASE64. */
  const char *sig = strstr (answer, "\"signature\"");
  g_assert_nonnull (sig);
  const char *dot = strchr (sig, '.');
  g_assert_nonnull (dot);
  g_autofree char *flipped = change_char (answer, (dot - answer) + 20);
  swap_answer (&k, text, "activate-answer", flipped, "activate-nonce", nonce);
  assert_refused (f, &k, TESSERA_ERROR_TAMPERED, "signature");
  g_assert_true (g_file_set_contents (k.path, text, -1, NULL));
  assert_released (f, &k);
  kept_clear (&k);
}

/* A record of the previous version (no signed answer): not used, said so,
 * released as any other, and a new activation works. */
static void
test_old_version (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  Kept k = { 0 };
  keep (f, &k, NULL);
  record_set (k.path, "activate-answer", NULL);
  record_set (k.path, "activate-nonce", NULL);
  assert_refused (f, &k, TESSERA_ERROR_NOT_SUPPORTED, "kept by an older tessera");
  assert_released (f, &k);
  keep (f, &k, NULL);
  g_autoptr (TesseraLicense) license = listed (f, &k);
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  kept_clear (&k);
}

int
main (int argc, char **argv)
{
  char *key_dir = testops_util_init (&argc, &argv);
  TESTOPS_ADD ("record/features-added", test_features_added, NULL);
  TESTOPS_ADD ("record/lease-pushed", test_lease_pushed, NULL);
  TESTOPS_ADD ("record/last-answer-forward", test_last_answer_forward, short_lease);
  TESTOPS_ADD ("record/last-answer-far-back", test_last_answer_far_back, short_lease);
  TESTOPS_ADD ("record/last-answer-missing", test_last_answer_missing, NULL);
  TESTOPS_ADD ("record/answer-swapped", test_answer_swapped, NULL);
  TESTOPS_ADD ("record/answer-garbled", test_answer_garbled, NULL);
  TESTOPS_ADD ("record/signature-flipped", test_signature_flipped, NULL);
  TESTOPS_ADD ("record/old-version", test_old_version, NULL);
  int status = g_test_run ();
  testops_util_finish (key_dir);
  return status;
}
