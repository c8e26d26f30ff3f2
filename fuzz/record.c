/* Fuzzes the check of a kept online session read back from disk
 * (testops_state_list() in plugins/testops/testops-state.c, then
 * testops_answer_check_record() in plugins/testops/testops-answer.c): a
 * testops-*.session record is a file a user, or anyone who can write to the
 * state folder, may edit. Each input is such a record, used twice:
 *  1. as written: whatever it holds, no signature in it is by the harness's
 *     key (made at start), so a record that lists must be refused with one
 *     of the documented codes, never crash;
 *  2. with the payloads of its activation and heartbeat answers signed by
 *     the harness's trusted key over the record's own nonces: the record must
 *     then either be refused with a documented code, or be accepted with
 *     every plain key equal to what the signed activation says, its lease
 *     end signed, and its grace counting from neither after the last
 *     signed server time nor before 1970; and an accepted record with one
 *     plain key changed must be refused as tampered. So a record is proven
 *     to grant only what the server signed, on whatever the fuzzer
 *     builds. */
#include "fuzz-common.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "answer-signature.h"
#include "testops-answer.h"

/* The machine the records are checked on (the seeds' machine-id). */
#define MACHINE "fuzz-machine"

static TesseraSigningKey *key;
static TesseraTrustedKeys *trusted;
static char *state_dir;
static char *record_path;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  trusted = fuzz_trusted_key (&key);
  g_autoptr (GError) error = NULL;
  /* Made by g_dir_make_tmp with mode 0700, as testops_state_list() wants. */
  state_dir = g_dir_make_tmp ("tessera-fuzz-record-XXXXXX", &error);
  if (state_dir == NULL)
    g_error ("fuzz-record: %s", error->message);
  record_path = g_build_filename (state_dir, "testops-fuzz.session", NULL);
  return 0;
}

static JsonObject *
parse_object (const char *text)
{
  if (text == NULL)
    return NULL;
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, -1, NULL) || json_parser_get_root (parser) == NULL
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return NULL;
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

/* Checks @r; aborts unless the result and the error agree and the error is
 * one testops_answer_check_record() documents. */
static gboolean
check (TestopsRecord *r)
{
  g_autoptr (GError) error = NULL;
  gboolean ok = testops_answer_check_record (trusted, r, MACHINE, &error);
  if (ok == (error != NULL))
    g_error ("testops_answer_check_record: result and error disagree");
  fuzz_check_error (error);
  if (error != NULL && error->code != TESSERA_ERROR_TAMPERED
      && error->code != TESSERA_ERROR_MACHINE_MISMATCH && error->code != TESSERA_ERROR_UNTRUSTED_KEY
      && error->code != TESSERA_ERROR_NOT_SUPPORTED)
    g_error ("a record was refused with an undocumented code %s: %s",
             tessera_error_to_nick (error->code), error->message);
  return ok;
}

/* Replaces the signature of the answer @text (if it is an object with a
 * string payload) by the harness's, over @nonce under @context; returns
 * (transfer full) the answer, or NULL to leave it as it is. */
static char *
resign (const char *text, const char *nonce, const char *context)
{
  g_autoptr (JsonObject) body = parse_object (text);
  if (body == NULL || nonce == NULL)
    return NULL;
  JsonNode *payload = json_object_get_member (body, "payload");
  if (payload == NULL || !JSON_NODE_HOLDS_VALUE (payload)
      || json_node_get_value_type (payload) != G_TYPE_STRING)
    return NULL;
  g_autoptr (GBytes) message = ts_answer_message (nonce, json_node_get_string (payload));
  g_autofree char *sig = tessera_signing_key_sign_message (key, context, message);
  json_object_set_string_member (body, "signature", sig);
  return testops_answer_to_text (body);
}

static JsonObject *
signed_payload (const char *answer)
{
  g_autoptr (JsonObject) body = parse_object (answer);
  return body != NULL ? parse_object (json_object_get_string_member (body, "payload")) : NULL;
}

/* An accepted record against what the harness signed: the activation's
 * payload @a and the heartbeat's @h (NULL if none). */
static void
check_accepted (const TestopsRecord *r, JsonObject *a, JsonObject *h)
{
  if (a == NULL)
    g_error ("a record without a signed activation was accepted");
  gint64 signed_time = json_object_get_int_member (a, "server_time");
  gint64 lease_end = json_object_get_int_member (a, "lease_expires_at");
  gint64 lease_seconds = json_object_get_int_member (a, "lease_seconds");
  if (h != NULL && json_object_get_int_member (h, "server_time") >= signed_time)
    {
      signed_time = json_object_get_int_member (h, "server_time");
      lease_end = json_object_get_int_member (h, "lease_expires_at");
      lease_seconds = lease_end - signed_time;
    }
  JsonArray *ents = json_object_get_array_member (a, "entitlements");
  guint n = r->features != NULL ? g_strv_length (r->features) : 0;
  gboolean same = n == json_array_get_length (ents);
  for (guint i = 0; same && i < n; i++)
    same = g_strcmp0 (r->features[i], json_array_get_string_element (ents, i)) == 0;
  if (!same || g_strcmp0 (r->session_id, json_object_get_string_member (a, "session_id")) != 0
      || g_strcmp0 (r->license_id, json_object_get_string_member (a, "license_id")) != 0
      || g_strcmp0 (r->org, json_object_get_string_member (a, "org_id")) != 0
      || g_strcmp0 (r->kind, json_object_get_string_member (a, "kind")) != 0
      || g_strcmp0 (r->product, json_object_get_string_member (a, "product")) != 0
      || g_strcmp0 (r->machine_id, MACHINE) != 0
      || g_strcmp0 (json_object_get_string_member (a, "machine_id"), MACHINE) != 0
      || r->issued_at != json_object_get_int_member (a, "server_time")
      || r->expires_at != json_object_get_int_member (a, "subscription_end"))
    g_error ("an accepted record is not what its signed activation says");
  if (r->lease_expires_at != lease_end || r->lease_seconds != lease_seconds)
    g_error ("an accepted record's lease is not the last signed one");
  if (r->last_answer_at > signed_time)
    g_error ("an accepted record's grace counts from after the last signed server time");
  /* testops.c takes its distance to now in microseconds. */
  if (r->last_answer_at < 0)
    g_error ("an accepted record's grace counts from before 1970");
}

static void
expect_tampered (TestopsRecord *r, const char *what)
{
  g_autoptr (GError) error = NULL;
  if (testops_answer_check_record (trusted, r, MACHINE, &error)
      || !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED))
    g_error ("a record with %s edited was not refused as tampered", what);
}

/* One plain key a client acts on (which: @pick), changed in an accepted
 * record: refused as tampered. One per input, as each check verifies the
 * answers again. */
static void
expect_edit_refused (TestopsRecord *r, guint pick)
{
  gint64 *number[] = { &r->issued_at, &r->expires_at, &r->lease_seconds };
  const char *name[] = { "issued-at", "expires-at", "lease-seconds" };
  if (pick % 4 < 3)
    {
      *number[pick % 4] ^= 1;
      expect_tampered (r, name[pick % 4]);
      *number[pick % 4] ^= 1;
      return;
    }
  char **features = r->features;
  guint n = features != NULL ? g_strv_length (features) : 0;
  r->features = g_new0 (char *, n + 2);
  for (guint i = 0; i < n; i++)
    r->features[i] = features[i];
  r->features[n] = (char *) "added";
  expect_tampered (r, "features");
  g_free (r->features);
  r->features = features;
}

static void
check_record (TestopsRecord *r, guint pick)
{
  /* 1. As written: no signature in it can be the harness's. */
  if (check (r))
    g_error ("a record the harness did not sign was accepted");

  /* 2. Signed by the trusted key over its own nonces. */
  char *activate = resign (r->activate_answer, r->activate_nonce, "activate");
  char *heartbeat = resign (r->heartbeat_answer, r->heartbeat_nonce, "heartbeat");
  if (activate == NULL && heartbeat == NULL)
    return;
  if (activate != NULL)
    {
      g_free (r->activate_answer);
      r->activate_answer = activate;
    }
  if (heartbeat != NULL)
    {
      g_free (r->heartbeat_answer);
      r->heartbeat_answer = heartbeat;
    }
  if (!check (r))
    return;
  g_autoptr (JsonObject) a = signed_payload (r->activate_answer);
  g_autoptr (JsonObject) h
      = r->heartbeat_answer != NULL ? signed_payload (r->heartbeat_answer) : NULL;
  check_accepted (r, a, h);
  expect_edit_refused (r, pick);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  if (!g_file_set_contents (record_path, (const char *) data, (gssize) size, &error))
    g_error ("fuzz-record: %s", error->message);
  g_autoptr (GPtrArray) records = testops_state_list (state_dir, &error);
  if (records == NULL)
    g_error ("fuzz-record: %s", error->message);
  for (guint i = 0; i < records->len; i++)
    check_record (records->pdata[i], (guint) size);
  return 0;
}
