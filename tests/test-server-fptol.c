/* tessera-server: a machine stays the same machine online (issue #21,
 * docs/fingerprint.md "Online"). The real server on 127.0.0.1, on SQLite or
 * (test-server-fptol-postgresql) PostgreSQL; the clients send scoped
 * component digests as the testops plugin does, here made up byte by byte
 * so that each case changes exactly the components it names. */
#include "server-test-fixture.h"

/* The components of a machine: one byte value per component (0: not sent),
 * each digest 16 bytes of that value. */
typedef struct
{
  guchar machine_id, dmi_uuid, cpu, nic, user;
} Hw;

static char *
digest_b64 (guchar v)
{
  guchar raw[16];
  memset (raw, v, sizeof raw);
  return g_base64_encode (raw, sizeof raw);
}

/* ,"components":{...} for @hw */
static char *
components_json (const Hw *hw)
{
  const struct
  {
    const char *name;
    guchar v;
  } items[] = { { "machine-id", hw->machine_id },
                { "dmi-uuid", hw->dmi_uuid },
                { "cpu", hw->cpu },
                { "nic", hw->nic },
                { "user", hw->user } };
  GString *s = g_string_new (",\"components\":{");
  gboolean first = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    {
      if (items[i].v == 0)
        continue;
      g_autofree char *b64 = digest_b64 (items[i].v);
      g_string_append_printf (s, "%s\"%s\":\"%s\"", first ? "" : ",", items[i].name, b64);
      first = FALSE;
    }
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

/* Activates KRE in acme from @machine with @hw (NULL: an old client, no
 * components); returns the response (clear it). */
static Resp
activate_hw (Fixture *f, const char *key, const char *machine, const Hw *hw, const char *nonce)
{
  g_autofree char *comps = hw != NULL ? components_json (hw) : g_strdup ("");
  g_autofree char *body = g_strdup_printf ("{\"product\":\"KRE\",\"machine_id\":\"%s\","
                                           "\"nonce\":\"%s\",\"org_id\":\"acme\"%s}",
                                           machine, nonce, comps);
  return call (f, "POST", "/activate", key, body);
}

/* Activates and releases at once (a seat is not what is tested): the
 * status of the activation. */
static guint
use_once (Fixture *f, const char *key, const char *machine, const Hw *hw, const char *nonce)
{
  Resp r = activate_hw (f, key, machine, hw, nonce);
  guint status = r.status;
  if (status == 200)
    {
      g_autofree char *sid = payload_str (&r, "session_id");
      g_autofree char *body = g_strdup_printf ("{\"session_id\":\"%s\"}", sid);
      Resp rel = call (f, "POST", "/release", key, body);
      g_assert_cmpuint (rel.status, ==, 200);
      resp_clear (&rel);
    }
  resp_clear (&r);
  return status;
}

static void
set_quota (Fixture *f, const char *pool, gint64 quota)
{
  g_autofree char *path = g_strdup_printf ("/orgs/acme/pools/%s", pool);
  g_autofree char *body = g_strdup_printf ("{\"quota\":%" G_GINT64_FORMAT "}", quota);
  Resp r = call (f, "PATCH", path, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (str (&r, "match_policy"), ==, "all-but-one");
  resp_clear (&r);
}

static gint
cmp_str_ptr (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* The machine IDs registered in @pool, sorted, comma-separated. */
static char *
machines_of (Fixture *f, const char *pool)
{
  g_autofree char *path = g_strdup_printf ("/orgs/acme/pools/%s/machines", pool);
  Resp r = call (f, "GET", path, f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  JsonArray *arr = json_object_get_array_member (obj (&r), "machines");
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < json_array_get_length (arr); i++)
    g_ptr_array_add (ids, g_strdup (json_object_get_string_member (
                              json_array_get_object_element (arr, i), "machine_id")));
  g_ptr_array_sort (ids, cmp_str_ptr);
  g_ptr_array_add (ids, NULL);
  char *out = g_strjoinv (",", (char **) ids->pdata);
  resp_clear (&r);
  return out;
}

/* The details of acme's audit records with @action, newest first, "|"-joined. */
static char *
audit_of (Fixture *f, const char *action)
{
  Resp r = call (f, "GET", "/orgs/acme/audit", f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  JsonArray *arr = json_object_get_array_member (obj (&r), "audit");
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      JsonObject *a = json_array_get_object_element (arr, i);
      if (g_str_equal (json_object_get_string_member (a, "action"), action))
        g_string_append_printf (s, "%s%s", s->len ? "|" : "",
                                json_object_get_string_member (a, "detail"));
    }
  resp_clear (&r);
  return g_string_free (s, FALSE);
}

/* A second member with an API key, made on the database before the server
 * starts. */
static char *
add_member (Fixture *f, const char *email, char **user_id)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  *user_id = ts_store_set_member (store, NULL, "acme", email, TS_ROLE_MEMBER, now_s (), &error);
  g_assert_no_error (error);
  g_autofree char *kid = NULL;
  char *key = ts_store_create_api_key (store, *user_id, "test", now_s (), &kid, &error);
  g_assert_no_error (error);
  ts_store_close (store);
  return key;
}

static const Hw alice = { .machine_id = 1, .dmi_uuid = 2, .cpu = 3, .nic = 4, .user = 5 };

/* A machine at the machine quota whose network card is replaced: the same
 * registered machine under its new ID, no second slot, audited with the
 * component that changed. Then the history shows it. */
static void
test_nic_replaced (Fixture *f, gconstpointer data)
{
  set_quota (f, f->floating_pool, 1);
  g_assert_cmpuint (use_once (f, f->member_key, "AAAA-AAAA-AAAA-AAAA", &alice, "nonce-0001"), ==,
                    200);
  Hw new_nic = alice;
  new_nic.nic = 40;
  g_assert_cmpuint (use_once (f, f->member_key, "BBBB-BBBB-BBBB-BBBB", &new_nic, "nonce-0002"), ==,
                    200);
  g_autofree char *machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "BBBB-BBBB-BBBB-BBBB");
  g_autofree char *audit = audit_of (f, "machine.replace");
  g_assert_cmpstr (audit, ==,
                   "AAAA-AAAA-AAAA-AAAA -> BBBB-BBBB-BBBB-BBBB; changed=nic; unread=; 3 of 4 "
                   "hardware components match, policy all-but-one needs 3");

  /* Then the board too (another component than the one already changed):
   * still one machine, a second record. */
  Hw new_board = new_nic;
  new_board.dmi_uuid = 20;
  g_assert_cmpuint (use_once (f, f->member_key, "CCCC-CCCC-CCCC-CCCC", &new_board, "nonce-0003"),
                    ==, 200);
  g_free (machines);
  machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "CCCC-CCCC-CCCC-CCCC");

  /* The UUID unreadable (a user who is not root): one component missing is
   * one that does not match. */
  Hw no_uuid = new_board;
  no_uuid.dmi_uuid = 0;
  g_assert_cmpuint (use_once (f, f->member_key, "DDDD-DDDD-DDDD-DDDD", &no_uuid, "nonce-0004"), ==,
                    200);
  g_free (audit);
  audit = audit_of (f, "machine.replace");
  g_assert_nonnull (strstr (audit, "CCCC-CCCC-CCCC-CCCC -> DDDD-DDDD-DDDD-DDDD; changed=; "
                                   "unread=dmi-uuid;"));

  /* The machines listing shows the history, newest first, never digests. */
  g_autofree char *path = g_strdup_printf ("/orgs/acme/pools/%s/machines", f->floating_pool);
  Resp r = call (f, "GET", path, f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  JsonObject *m
      = json_array_get_object_element (json_object_get_array_member (obj (&r), "machines"), 0);
  JsonArray *changes = json_object_get_array_member (m, "changes");
  g_assert_cmpuint (json_array_get_length (changes), ==, 3);
  const char *want[][4] = {
    { "CCCC-CCCC-CCCC-CCCC", "DDDD-DDDD-DDDD-DDDD", "", "dmi-uuid" },
    { "BBBB-BBBB-BBBB-BBBB", "CCCC-CCCC-CCCC-CCCC", "dmi-uuid", "" },
    { "AAAA-AAAA-AAAA-AAAA", "BBBB-BBBB-BBBB-BBBB", "nic", "" },
  };
  for (guint i = 0; i < 3; i++)
    {
      JsonObject *c = json_array_get_object_element (changes, i);
      g_assert_cmpstr (json_object_get_string_member (c, "from"), ==, want[i][0]);
      g_assert_cmpstr (json_object_get_string_member (c, "to"), ==, want[i][1]);
      g_assert_cmpstr (json_object_get_string_member (c, "changed"), ==, want[i][2]);
      g_assert_cmpstr (json_object_get_string_member (c, "unread"), ==, want[i][3]);
      g_assert_cmpint (json_object_get_int_member (c, "at"), >, 0);
    }
  g_autofree char *text = g_strndup (g_bytes_get_data (r.raw, NULL), g_bytes_get_size (r.raw));
  g_autofree char *nic_b64 = digest_b64 (40);
  g_assert_null (strstr (text, nic_b64));
  resp_clear (&r);
}

/* A server-issued offline license from the machine's request is format 2
 * with the pool's policy: it survives a replaced NIC; from a machine ID
 * alone it stays format 1. */
static void
test_offline_request (Fixture *f, gconstpointer data)
{
  g_autofree char *grants = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  g_autofree char *path = g_strdup_printf ("/orgs/acme/pools/%s/offline", f->nl_pool);
  g_autofree char *root = g_build_filename (f->dir, "root", NULL);
  const char *files[][2] = { { "etc/machine-id", "6f0a8d3c2b1e4f5a9c7d8e0f1a2b3c4d\n" },
                             { "proc/cpuinfo", "vendor_id\t: GenuineIntel\nmodel name\t: X\n\n" } };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *file = g_build_filename (root, files[i][0], NULL);
      g_autofree char *dir = g_path_get_dirname (file);
      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
      g_assert_true (g_file_set_contents (file, files[i][1], -1, NULL));
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp
      = tessera_fingerprint_new_for_root (root, 1000, "alice", &error);
  g_assert_no_error (error);
  g_autofree char *line = tessera_fingerprint_to_string (fp);
  g_autofree char *body = g_strdup_printf ("{\"request\":\"%s\"}", line);
  Resp r = call (f, "POST", path, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 201);
  g_autofree char *name = g_strdup_printf ("KRE_%s.lic", tessera_fingerprint_get_id (fp));
  g_assert_nonnull (strstr (r.disposition, name));
  g_autoptr (GBytes) pub = get_public_key (f);
  g_autofree char *pub_line
      = g_strstrip (g_strndup (g_bytes_get_data (pub, NULL), g_bytes_get_size (pub)));
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  g_assert_true (tessera_trusted_keys_add_public (keys, pub_line, &error));
  g_autoptr (TesseraLicfile) lic = tessera_licfile_verify (r.raw, keys, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_licfile_get_match_policy (lic), ==, "all-but-one");
  g_assert_cmpstr (tessera_licfile_get_machine_id (lic), ==, tessera_fingerprint_get_id (fp));
  resp_clear (&r);

  /* The request and another machine ID: refused, nothing issued. */
  g_free (body);
  body = g_strdup_printf ("{\"request\":\"%s\",\"machine_id\":\"AAAA-AAAA-AAAA-AAAA\"}", line);
  r = call (f, "POST", path, f->owner_key, body);
  assert_error (&r, 400, "invalid-argument");
  resp_clear (&r);
  /* A malformed request, and neither. */
  r = call (f, "POST", path, f->owner_key, "{\"request\":\"tessera-fp1 nope\"}");
  assert_error (&r, 400, "invalid-argument");
  resp_clear (&r);
  r = call (f, "POST", path, f->owner_key, "{}");
  assert_error (&r, 400, "invalid-argument");
  g_assert_nonnull (strstr (
      json_object_get_string_member (json_object_get_object_member (obj (&r), "error"), "message"),
      "a machine ID or the machine's request is required"));
  resp_clear (&r);
  g_assert_cmpuint (count_list (f, path, "offline"), ==, 1);

  /* A machine ID alone: format 1, as before. */
  r = call (f, "POST", path, f->owner_key, "{\"machine_id\":\"AAAA-AAAA-AAAA-AAAA\"}");
  g_assert_cmpuint (r.status, ==, 201);
  g_autoptr (TesseraLicfile) old = tessera_licfile_verify (r.raw, keys, &error);
  g_assert_no_error (error);
  g_assert_null (tessera_licfile_get_match_policy (old));
  resp_clear (&r);
  (void) grants;
}

/* Two hardware components changed: another machine, refused at the machine
 * quota with the message naming the quota. */
static void
test_two_changed (Fixture *f, gconstpointer data)
{
  set_quota (f, f->floating_pool, 1);
  g_assert_cmpuint (use_once (f, f->member_key, "AAAA-AAAA-AAAA-AAAA", &alice, "nonce-0001"), ==,
                    200);
  Hw two = alice;
  two.nic = 40;
  two.cpu = 30;
  Resp r = activate_hw (f, f->member_key, "BBBB-BBBB-BBBB-BBBB", &two, "nonce-0002");
  assert_error (&r, 409, "machine-quota-exceeded");
  const char *msg = json_object_get_string_member (
      json_object_get_object_member (obj (&r), "error"), "message");
  g_assert_nonnull (strstr (msg, "all 1 machine registrations"));
  resp_clear (&r);
  g_autofree char *machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "AAAA-AAAA-AAAA-AAAA");
  g_autofree char *audit = audit_of (f, "machine.replace");
  g_assert_cmpstr (audit, ==, "");

  /* The pool's policy decides: with "2" two of four may change. A policy
   * that is none is refused and changes nothing. */
  g_autofree char *pool_path = g_strdup_printf ("/orgs/acme/pools/%s", f->floating_pool);
  const char *bad[] = { "{\"match_policy\":\"some\"}", "{\"match_policy\":\"5\"}",
                        "{\"match_policy\":\"\"}", "{\"match_policy\":2}" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      r = call (f, "PATCH", pool_path, f->owner_key, bad[i]);
      assert_error (&r, 400, "invalid-argument");
      resp_clear (&r);
    }
  r = call (f, "PATCH", pool_path, f->member_key, "{\"match_policy\":\"2\"}");
  assert_error (&r, 403, "permission-denied");
  resp_clear (&r);
  r = call (f, "PATCH", pool_path, f->owner_key, "{\"match_policy\":\"2\"}");
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (str (&r, "match_policy"), ==, "2");
  resp_clear (&r);
  g_assert_cmpuint (use_once (f, f->member_key, "BBBB-BBBB-BBBB-BBBB", &two, "nonce-0010"), ==,
                    200);
  g_free (machines);
  machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "BBBB-BBBB-BBBB-BBBB");
  g_free (audit);
  audit = audit_of (f, "machine.replace");
  g_assert_cmpstr (audit, ==,
                   "AAAA-AAAA-AAAA-AAAA -> BBBB-BBBB-BBBB-BBBB; changed=cpu,nic; unread=; 2 of 4 "
                   "hardware components match, policy 2 needs 2");
  r = call (f, "PATCH", pool_path, f->owner_key, "{\"match_policy\":\"all-but-one\"}");
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_free (audit);
  audit = audit_of (f, "pool.update");
  g_assert_nonnull (strstr (audit, "match_policy 2"));
  Hw three = two;
  three.machine_id = 10;
  three.dmi_uuid = 11;
  r = activate_hw (f, f->member_key, "CCCC-CCCC-CCCC-CCCC", &three, "nonce-0011");
  assert_error (&r, 409, "machine-quota-exceeded");
  resp_clear (&r);

  /* With room, it is a second machine. */
  set_quota (f, f->floating_pool, 2);
  g_assert_cmpuint (use_once (f, f->member_key, "CCCC-CCCC-CCCC-CCCC", &three, "nonce-0012"), ==,
                    200);
  g_free (machines);
  machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "BBBB-BBBB-BBBB-BBBB,CCCC-CCCC-CCCC-CCCC");
}

/* Old clients send no components: exact machine IDs, as before; and a
 * machine registered by an old client is not matched by components later. */
static void
test_old_client (Fixture *f, gconstpointer data)
{
  set_quota (f, f->floating_pool, 1);
  g_assert_cmpuint (use_once (f, f->member_key, "AAAA-AAAA-AAAA-AAAA", NULL, "nonce-0001"), ==,
                    200);
  Resp r = activate_hw (f, f->member_key, "BBBB-BBBB-BBBB-BBBB", NULL, "nonce-0002");
  assert_error (&r, 409, "machine-quota-exceeded");
  resp_clear (&r);
  r = activate_hw (f, f->member_key, "BBBB-BBBB-BBBB-BBBB", &alice, "nonce-0003");
  assert_error (&r, 409, "machine-quota-exceeded");
  resp_clear (&r);
  /* The same ID again, now with components: they are recorded, and from
   * then on a replaced NIC is recognized. */
  g_assert_cmpuint (use_once (f, f->member_key, "AAAA-AAAA-AAAA-AAAA", &alice, "nonce-0004"), ==,
                    200);
  Hw new_nic = alice;
  new_nic.nic = 40;
  g_assert_cmpuint (use_once (f, f->member_key, "BBBB-BBBB-BBBB-BBBB", &new_nic, "nonce-0005"), ==,
                    200);
  g_autofree char *machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "BBBB-BBBB-BBBB-BBBB");
}

/* Another user on the same hardware is another machine; and a user sending
 * another user's hardware digests with its own user digest cannot take
 * that user's machine (the user must match). */
static void
test_other_user (Fixture *f, gconstpointer data)
{
  g_autofree char *bob_id = NULL;
  g_autofree char *bob_key = add_member (f, "bob@acme.test", &bob_id);
  server_start (f, NULL);
  set_quota (f, f->floating_pool, 1);
  g_assert_cmpuint (use_once (f, f->member_key, "AAAA-AAAA-AAAA-AAAA", &alice, "nonce-0001"), ==,
                    200);
  Hw bob = alice;
  bob.user = 50;
  /* Same hardware, bob's account: a second machine, no room for it. */
  Resp r = activate_hw (f, bob_key, "BBBB-BBBB-BBBB-BBBB", &bob, "nonce-0002");
  assert_error (&r, 409, "machine-quota-exceeded");
  resp_clear (&r);
  /* Bob copying alice's user digest too (a hostile client): the server's
   * user is still bob, and alice's machine stays hers. */
  r = activate_hw (f, bob_key, "BBBB-BBBB-BBBB-BBBB", &alice, "nonce-0003");
  assert_error (&r, 409, "machine-quota-exceeded");
  resp_clear (&r);
  /* Nor can bob rewrite the components of alice's machine through its ID. */
  set_quota (f, f->floating_pool, 2);
  g_assert_cmpuint (use_once (f, bob_key, "AAAA-AAAA-AAAA-AAAA", &bob, "nonce-0004"), ==, 200);
  Hw new_nic = alice;
  new_nic.nic = 40;
  g_assert_cmpuint (use_once (f, f->member_key, "CCCC-CCCC-CCCC-CCCC", &new_nic, "nonce-0005"), ==,
                    200);
  g_autofree char *machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "CCCC-CCCC-CCCC-CCCC");
  /* With room: bob on the same hardware is a machine of his own. */
  g_assert_cmpuint (use_once (f, bob_key, "BBBB-BBBB-BBBB-BBBB", &bob, "nonce-0006"), ==, 200);
  g_free (machines);
  machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "BBBB-BBBB-BBBB-BBBB,CCCC-CCCC-CCCC-CCCC");
  g_autofree char *audit = audit_of (f, "machine.replace");
  g_assert_cmpstr (audit, ==,
                   "AAAA-AAAA-AAAA-AAAA -> CCCC-CCCC-CCCC-CCCC; changed=nic; unread=; 3 of 4 "
                   "hardware components match, policy all-but-one needs 3");
}

/* Node-locked: a replaced NIC is the same machine too, audited; the user's
 * license does not "move". */
static void
test_node_locked (Fixture *f, gconstpointer data)
{
  g_autofree char *grants = g_strdup_printf ("/orgs/acme/pools/%s/grants", f->nl_pool);
  g_autofree char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", f->member_id);
  Resp r = call (f, "POST", grants, f->owner_key, body);
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  g_assert_cmpuint (use_once (f, f->member_key, "AAAA-AAAA-AAAA-AAAA", &alice, "nonce-0001"), ==,
                    200);
  Hw new_nic = alice;
  new_nic.nic = 40;
  g_assert_cmpuint (use_once (f, f->member_key, "BBBB-BBBB-BBBB-BBBB", &new_nic, "nonce-0002"), ==,
                    200);
  g_autofree char *machines = machines_of (f, f->nl_pool);
  g_assert_cmpstr (machines, ==, "BBBB-BBBB-BBBB-BBBB");
  g_autofree char *audit = audit_of (f, "machine.replace");
  g_assert_nonnull (strstr (audit, "AAAA-AAAA-AAAA-AAAA -> BBBB-BBBB-BBBB-BBBB; changed=nic;"));
}

/* Malformed components: 400 with a message saying what is wrong, and
 * nothing registered. */
static void
test_bad_components (Fixture *f, gconstpointer data)
{
  g_autofree char *ok = digest_b64 (7);
  g_autofree char *user = digest_b64 (5);
  guchar raw15[15] = { 0 }, raw17[17] = { 0 };
  g_autofree char *short_b64 = g_base64_encode (raw15, sizeof raw15);
  g_autofree char *long_b64 = g_base64_encode (raw17, sizeof raw17);
  struct
  {
    char *comps;
    const char *want;
  } cases[] = {
    { g_strdup ("[]"), "\"components\" must be an object" },
    { g_strdup ("\"x\""), "\"components\" must be an object" },
    { g_strdup_printf ("{\"cpu\":7,\"user\":\"%s\"}", user), "\"components.cpu\" must be" },
    { g_strdup_printf ("{\"cpu\":\"not base64!!!!!!!!!!!\",\"user\":\"%s\"}", user),
      "component \"cpu\" must be the base64 of 16 bytes" },
    { g_strdup_printf ("{\"cpu\":\"%s\",\"user\":\"%s\"}", short_b64, user),
      "component \"cpu\" must be the base64 of 16 bytes" },
    { g_strdup_printf ("{\"cpu\":\"%s\",\"user\":\"%s\"}", long_b64, user),
      "component \"cpu\" must be the base64 of 16 bytes" },
    { g_strdup_printf ("{\"cpu\":\"%.22s\",\"user\":\"%s\"}", ok, user),
      "component \"cpu\" must be the base64" },
    { g_strdup_printf ("{\"cpu\":\"%s=\",\"user\":\"%s\"}", ok, user),
      "component \"cpu\" must be the base64" },
    { g_strdup_printf ("{\"cpu\":\"%.21s=%c\",\"user\":\"%s\"}", ok, ok[22], user),
      "component \"cpu\" must be the base64" },
    { g_strdup_printf ("{\"disk\":\"%s\",\"user\":\"%s\"}", ok, user), "'disk=" },
    { g_strdup_printf ("{\"cpu x\":\"%s\",\"user\":\"%s\"}", ok, user), "is not NAME=DIGEST" },
    { g_strdup_printf ("{\"cpu\":\"%s\"}", ok), "the user component and at least one hardware" },
    { g_strdup_printf ("{\"user\":\"%s\"}", user), "the user component and at least one hardware" },
    { g_strdup ("{}"), "the user component and at least one hardware" },
    { g_strdup_printf ("{\"machine-id\":\"%s\",\"dmi-uuid\":\"%s\",\"cpu\":\"%s\",\"nic\":\"%s\","
                       "\"user\":\"%s\",\"extra\":\"%s\"}",
                       ok, ok, ok, ok, user, ok),
      "\"components\" has 6 members: a machine has at most 5" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body
          = g_strdup_printf ("{\"product\":\"KRE\",\"machine_id\":\"AAAA-AAAA-AAAA-AAAA\","
                             "\"nonce\":\"nonce-%04u\",\"org_id\":\"acme\",\"components\":%s}",
                             i, cases[i].comps);
      Resp r = call (f, "POST", "/activate", f->member_key, body);
      if (r.status != 400)
        g_error ("case %u (%s): status %u", i, cases[i].comps, r.status);
      assert_error (&r, 400, "invalid-argument");
      const char *msg = json_object_get_string_member (
          json_object_get_object_member (obj (&r), "error"), "message");
      if (strstr (msg, cases[i].want) == NULL)
        g_error ("case %u (%s): message '%s' lacks '%s'", i, cases[i].comps, msg, cases[i].want);
      resp_clear (&r);
      g_free (cases[i].comps);
    }
  g_autofree char *machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "");
}

/* The error message of @r, which must be 400 invalid-argument. */
static const char *
bad_request_message (Resp *r)
{
  assert_error (r, 400, "invalid-argument");
  return json_object_get_string_member (json_object_get_object_member (obj (r), "error"),
                                        "message");
}

/* A hostile client: oversized and repeated members are refused with a
 * message of bounded size, and copying another user's components, user
 * digest included, while that user holds a seat takes nothing from them. */
static void
test_hostile (Fixture *f, gconstpointer data)
{
  g_autofree char *bob_id = NULL;
  g_autofree char *bob_key = add_member (f, "bob@acme.test", &bob_id);
  server_start (f, NULL);
  g_autofree char *ok = digest_b64 (7);
  g_autofree char *user = digest_b64 (5);
  g_autofree char *huge_value = g_strnfill (60000, 'A');
  g_autofree char *huge_name = g_strnfill (4000, 'x');
  struct
  {
    char *comps;
    const char *want;
  } cases[] = {
    { g_strdup_printf ("{\"cpu\":\"%s\",\"user\":\"%s\"}", huge_value, user),
      "component \"cpu\" must be the base64 of 16 bytes" },
    { g_strdup_printf ("{\"%s\":\"%s\",\"user\":\"%s\"}", huge_name, huge_value, user),
      "component \"xxxxxxxxxx" },
    { g_strdup_printf ("{\"%s\":\"%s\",\"user\":\"%s\"}", huge_name, ok, user),
      "is not NAME=DIGEST" },
    { g_strdup_printf ("{\"%s\":7,\"user\":\"%s\"}", huge_name, user), "\"components.xxxxxxxx" },
    { g_strdup_printf ("{\"cpu\":\"%s\",\"cpu\":\"%s\",\"user\":\"%s\"}", ok, user, user),
      "member \"cpu\" is given twice in one object" },
    { g_strdup_printf ("{\"cpu\":\"%s\",\"user\":\"%s\",\"user\":\"%s\"}", ok, user, user),
      "member \"user\" is given twice in one object" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body
          = g_strdup_printf ("{\"product\":\"KRE\",\"machine_id\":\"AAAA-AAAA-AAAA-AAAA\","
                             "\"nonce\":\"nonce-%04u\",\"org_id\":\"acme\",\"components\":%s}",
                             i, cases[i].comps);
      Resp r = call (f, "POST", "/activate", f->member_key, body);
      const char *msg = bad_request_message (&r);
      if (strstr (msg, cases[i].want) == NULL || strlen (msg) > 300)
        g_error ("case %u: message '%.400s' lacks '%s' or is long", i, msg, cases[i].want);
      resp_clear (&r);
      g_free (cases[i].comps);
    }
  /* Repeated members elsewhere in a body too, and an unknown one shown cut. */
  Resp r = call (f, "POST", "/activate", f->member_key,
                 "{\"product\":\"KRE\",\"machine_id\":\"AAAA-AAAA-AAAA-AAAA\","
                 "\"machine_id\":\"BBBB-BBBB-BBBB-BBBB\",\"nonce\":\"nonce-0100\"}");
  g_assert_nonnull (strstr (bad_request_message (&r), "member \"machine_id\" is given twice"));
  resp_clear (&r);
  g_autofree char *unknown = g_strdup_printf ("{\"%s\":1}", huge_name);
  r = call (f, "POST", "/activate", f->member_key, unknown);
  g_assert_cmpuint (strlen (bad_request_message (&r)), <, 300);
  resp_clear (&r);
  g_autofree char *machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "");

  /* Alice holds a seat on A; bob replays her digests, user digest
   * included, from B: the server's user is bob, so B is bob's own machine,
   * and alice's session and registration are untouched. */
  set_quota (f, f->floating_pool, 2);
  r = activate_hw (f, f->member_key, "AAAA-AAAA-AAAA-AAAA", &alice, "nonce-0200");
  g_assert_cmpuint (r.status, ==, 200);
  g_autofree char *sid = payload_str (&r, "session_id");
  resp_clear (&r);
  g_assert_cmpuint (use_once (f, bob_key, "BBBB-BBBB-BBBB-BBBB", &alice, "nonce-0201"), ==, 200);
  g_free (machines);
  machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "AAAA-AAAA-AAAA-AAAA,BBBB-BBBB-BBBB-BBBB");
  g_autofree char *hb = g_strdup_printf ("{\"session_id\":\"%s\"}", sid);
  r = call (f, "POST", "/heartbeat", f->member_key, hb);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  /* Bob's session cannot heartbeat or release alice's either. */
  r = call (f, "POST", "/heartbeat", bob_key, hb);
  g_assert_cmpuint (r.status, !=, 200);
  resp_clear (&r);
  g_autofree char *audit = audit_of (f, "machine.replace");
  g_assert_cmpstr (audit, ==, "");
  /* Alice's registration still has her components: her replaced NIC is
   * still her machine A. */
  Hw new_nic = alice;
  new_nic.nic = 40;
  g_assert_cmpuint (use_once (f, f->member_key, "CCCC-CCCC-CCCC-CCCC", &new_nic, "nonce-0202"), ==,
                    200);
  g_free (machines);
  machines = machines_of (f, f->floating_pool);
  g_assert_cmpstr (machines, ==, "BBBB-BBBB-BBBB-BBBB,CCCC-CCCC-CCCC-CCCC");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("fptol/nic-replaced", test_nic_replaced, NULL);
  ADD ("fptol/two-changed", test_two_changed, NULL);
  ADD ("fptol/old-client", test_old_client, NULL);
  ADD ("fptol/other-user", test_other_user, NO_SERVER);
  ADD ("fptol/node-locked", test_node_locked, NULL);
  ADD ("fptol/bad-components", test_bad_components, NULL);
  ADD ("fptol/offline-request", test_offline_request, NULL);
  ADD ("fptol/hostile", test_hostile, NO_SERVER);
  return g_test_run ();
}
