/* tessera-admin (tools/tessera-admin*.c) as an administrator runs it: every
 * command, every exit code, each case spawned as a separate process on a
 * fresh database. A case is one row of the table at the end: arguments, exit
 * code, what stdout and stderr must say (stderr: exactly one line on error,
 * nothing on success), and checks of the database (through server/store.h)
 * and of the files it left.
 *
 * $TESSERA_ADMIN_TOOL is the built tool. Under valgrind
 * ($TESSERA_TEST_UNDER_VALGRIND) every spawned tool runs under valgrind too. */
#include "test-util.h"
#include "tool-util.h"

#include "store.h"

#include <json-glib/json-glib.h>
#include <utime.h>

#define MID "AAAA-BBBB-CCCC-DDDD"
/* A machine's request (`tessera machine-id --request`) and its ID. */
#define REQ_ID "VPA5-VEPD-4TTG-0KFT"
#define REQ                                                                                        \
  "tessera-fp1 " REQ_ID " machine-id=2bdf832aea51a137 cpu=a18b6e1725594970 "                       \
  "nic=0db09e30d80eab44 user=19f6fbdbe32b1d41"
#define DAY (24 * 3600)

typedef struct
{
  char *dir;  /* @DIR@: the test's directory (the tool's working directory) */
  char *db;   /* @DB@: the database */
  char *out;  /* @OUT@: an empty directory for offline licenses */
  char *keys; /* @KEYS@: a directory with one signing key (test.key, test.pub) */
  char *owner, *alice, *bob, *carol; /* @OWNER@ @ALICE@ @BOB@ @CAROL@: user ids */
  char *nl;                          /* @NL@: KRE node-locked annual, quota 2 */
  char *fl;                          /* @FL@: KRE floating annual, quota 3 */
  char *ml;                          /* @ML@: KSE node-locked monthly, quota 5 */
  char *key_id;                      /* @KEYID@: an API key of alice's */
  char *session;                     /* @SESSION@: alice's session on @FL@ */
  char *signing_id;                  /* the id of @KEYS@/test.key */
  char *expected_signer;             /* the key id an offline license must carry */
  char *offline_id;                  /* @OFFLINE@: from prepare_offline() */
} Fixture;

typedef struct
{
  const char *name;
  const char *args[32]; /* after the tool's name; placeholders as in Fixture */
  int exit_code;
  const char *stdout_re; /* regex stdout must match; NULL: stdout must be empty */
  const char *stderr_re; /* regex the one stderr line must match; NULL: stderr empty */
  gboolean populate;     /* the database holds org acme (see populate()) */
  gboolean as_nobody;    /* run as uid/gid 65534 (the test runs as root in CI) */
  void (*prepare) (Fixture *f);
  void (*check) (Fixture *f, const char *out);
} AdminCase;

/* ---- helpers ---- */

static char *
expand (Fixture *f, const char *text)
{
  g_autoptr (GString) s = g_string_new (text);
  const char *const map[][2] = {
    { "@DIR@", f->dir },         { "@DB@", f->db },
    { "@OUT@", f->out },         { "@KEYS@", f->keys },
    { "@OWNER@", f->owner },     { "@ALICE@", f->alice },
    { "@BOB@", f->bob },         { "@CAROL@", f->carol },
    { "@NL@", f->nl },           { "@FL@", f->fl },
    { "@ML@", f->ml },           { "@KEYID@", f->key_id },
    { "@SESSION@", f->session }, { "@OFFLINE@", f->offline_id },
  };
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (map[i][1] != NULL)
      g_string_replace (s, map[i][0], map[i][1], 0);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static gint64
now (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static TsStore *
open_store (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  return store;
}

/* Runs the tool with @args (NULL-terminated, placeholders expanded).
 * Returns its exit code (-1 if it did not exit normally). */
static int
run_tool (Fixture *f, const char *const *args, gboolean as_nobody, char **out, char **err)
{
  const char *tool = g_getenv ("TESSERA_ADMIN_TOOL");
  g_assert_nonnull (tool);
  g_autoptr (GPtrArray) expanded = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (expanded, expand (f, args[i]));
  g_ptr_array_add (expanded, NULL);
  return tool_util_run (tool, f->dir, (char *const *) expanded->pdata, as_nobody, out, err);
}

/* Runs one tool command that must succeed; returns its stdout, chomped. */
static char *
run_ok (Fixture *f, const char *const *args)
{
  g_autofree char *out = NULL, *err = NULL;
  int rc = run_tool (f, args, FALSE, &out, &err);
  if (rc != 0)
    g_error ("%s: exit %d: %s", args[0], rc, err);
  g_assert_cmpstr (err, ==, "");
  return g_strchomp (g_steal_pointer (&out));
}

/* Org acme: owner@, alice@ and bob@ (members), carol@ (member); pools @NL@,
 * @FL@, @ML@; an API key of alice's (@KEYID@); alice's session on @FL@. */
static void
populate (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  gint64 t = now ();
  f->owner = ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", t, &error);
  g_assert_no_error (error);
  f->alice
      = ts_store_set_member (store, NULL, "acme", "alice@acme.test", TS_ROLE_MEMBER, t, &error);
  g_assert_no_error (error);
  f->bob = ts_store_set_member (store, NULL, "acme", "bob@acme.test", TS_ROLE_MEMBER, t, &error);
  g_assert_no_error (error);
  f->carol
      = ts_store_set_member (store, NULL, "acme", "carol@acme.test", TS_ROLE_MEMBER, t, &error);
  g_assert_no_error (error);
  const struct
  {
    char **id;
    const char *product, *kind, *billing;
    gint64 quota;
  } pools[] = {
    { &f->nl, "KRE", "node-locked", "annual", 2 },
    { &f->fl, "KRE", "floating", "annual", 3 },
    { &f->ml, "KSE", "node-locked", "monthly", 5 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (pools); i++)
    {
      TsPool *p = ts_store_create_pool (store, NULL, "acme", pools[i].product, pools[i].kind,
                                        pools[i].billing, pools[i].quota, t + 365 * DAY, t, &error);
      g_assert_no_error (error);
      *pools[i].id = g_strdup (p->id);
      ts_pool_free (p);
    }
  g_free (ts_store_create_api_key (store, f->alice, "laptop", t, &f->key_id, &error));
  g_assert_no_error (error);
  /* What the client said it runs on: shown by sessions and machines. */
  const TsClientInfo client = { "ci-runner-1", "Debian GNU/Linux 12 (bookworm)" };
  TsSession *s = ts_store_activate_client (store, f->alice, "acme", "KRE", "SESS-ION0-MACH-INE0",
                                           NULL, &client, "nonce-0001", 60, t, &error);
  g_assert_no_error (error);
  f->session = g_strdup (s->id);
  ts_session_free (s);
  ts_store_close (store);
}

static void
fixture_set_up (Fixture *f, const AdminCase *c)
{
  g_autoptr (GError) error = NULL;
  f->dir = test_tmpdir_new ();
  f->db = g_build_filename (f->dir, "tessera.db", NULL);
  f->out = g_build_filename (f->dir, "out", NULL);
  f->keys = g_build_filename (f->dir, "keys", NULL);
  g_assert_cmpint (g_mkdir (f->out, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (f->keys, 0755), ==, 0);
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autofree char *secret = g_build_filename (f->keys, "test.key", NULL);
  g_autofree char *public = g_build_filename (f->keys, "test.pub", NULL);
  g_assert_true (tessera_signing_key_save (key, secret, public, &error));
  g_assert_no_error (error);
  f->signing_id = g_strdup (tessera_signing_key_get_id (key));
  f->expected_signer = g_strdup (f->signing_id);
  if (c->populate)
    populate (f);
}

static void
fixture_tear_down (Fixture *f)
{
  test_tmpdir_free (f->dir);
  char **strings[] = {
    &f->db,        &f->out, &f->keys, &f->owner,  &f->alice,   &f->bob,        &f->carol,
    &f->nl,        &f->fl,  &f->ml,   &f->key_id, &f->session, &f->signing_id, &f->expected_signer,
    &f->offline_id
  };
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    g_clear_pointer (strings[i], g_free);
}

static void
run_case (gconstpointer data)
{
  const AdminCase *c = data;
  Fixture f = { 0 };
  fixture_set_up (&f, c);
  if (c->prepare)
    c->prepare (&f);

  g_autofree char *out = NULL, *err = NULL;
  int rc = run_tool (&f, c->args, c->as_nobody, &out, &err);
  if (g_test_verbose ())
    g_printerr ("exit %d\nstdout:\n%sstderr:\n%s", rc, out, err);
  if (rc != c->exit_code)
    g_error ("exit code %d, expected %d; stdout: %s; stderr: %s", rc, c->exit_code, out, err);

  g_autofree char *err_pattern = c->stderr_re ? expand (&f, c->stderr_re) : NULL;
  tool_util_assert_stderr ("tessera-admin", err_pattern, err);
  if (c->stdout_re != NULL)
    {
      g_autofree char *pattern = expand (&f, c->stdout_re);
      assert_matches ("stdout", pattern, out);
    }
  else
    g_assert_cmpstr (out, ==, "");

  if (c->check)
    c->check (&f, out);
  fixture_tear_down (&f);
}

/* The one array @member of a JSON object printed by --json. */
static JsonArray *
json_array_of (const char *text, const char *member, JsonParser **parser)
{
  g_autoptr (GError) error = NULL;
  *parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (*parser, text, -1, &error));
  g_assert_no_error (error);
  JsonObject *root = json_node_get_object (json_parser_get_root (*parser));
  g_assert_cmpuint (json_object_get_size (root), ==, 1);
  return json_object_get_array_member (root, member);
}

static TesseraLicfile *
verify_license (Fixture *f, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraTrustedKeys) keys = tessera_trusted_keys_new ();
  g_assert_true (tessera_trusted_keys_add_path (keys, f->keys, &error));
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_autoptr (GBytes) bytes = g_bytes_new (contents, len);
  TesseraLicfile *file = tessera_licfile_verify (bytes, keys, &error);
  g_assert_no_error (error);
  return file;
}

/* ---- prepare and check functions ---- */

static void
check_out_empty (Fixture *f, const char *out)
{
  g_assert_cmpuint (count_entries (f->out), ==, 0);
}

static void
check_no_database (Fixture *f, const char *out)
{
  g_assert_false (g_file_test (f->db, G_FILE_TEST_EXISTS));
}

static void
check_bootstrap (Fixture *f, const char *out)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) members = ts_store_list_members (store, NULL, "acme", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (members->len, ==, 1);
  TsMember *m = g_ptr_array_index (members, 0);
  g_autofree char *line = g_strdup_printf ("%s\n", m->user_id);
  g_assert_cmpstr (out, ==, line);
  g_assert_cmpstr (m->email, ==, "boss@acme.test");
  g_assert_cmpint (m->role, ==, TS_ROLE_OWNER);
  ts_store_close (store);
}

/* The pool (by product and kind) or NULL. */
static TsPool *
find_pool (Fixture *f, const char *product, const char *kind)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) pools = ts_store_list_pools (store, NULL, "acme", now (), &error);
  g_assert_no_error (error);
  ts_store_close (store);
  for (guint i = 0; i < pools->len; i++)
    {
      TsPool *p = g_ptr_array_index (pools, i);
      if (g_str_equal (p->product, product) && g_str_equal (p->kind, kind))
        return g_ptr_array_steal_index (pools, i);
    }
  return NULL;
}

static void
check_pool_created (Fixture *f, const char *out)
{
  g_autoptr (TsPool) p = find_pool (f, "KSE", "floating");
  g_assert_nonnull (p);
  g_autofree char *line = g_strdup_printf ("%s\n", p->id);
  g_assert_cmpstr (out, ==, line);
  g_assert_cmpstr (p->billing, ==, "annual");
  g_assert_cmpint (p->quota, ==, 7);
  g_assert_cmpint (p->subscription_end, ==, 4070908800); /* 2099-01-01 */
}

static void
check_pools_unchanged (Fixture *f, const char *out)
{
  g_autoptr (TsPool) p = find_pool (f, "KRE", "node-locked");
  g_assert_cmpint (p->quota, ==, 2);
  g_autoptr (TsPool) kse = find_pool (f, "KSE", "floating");
  g_assert_null (kse);
}

static void
check_quota_set (Fixture *f, const char *out)
{
  g_autoptr (TsPool) p = find_pool (f, "KRE", "node-locked");
  g_assert_cmpint (p->quota, ==, 9);
}

static void
check_match_set (Fixture *f, const char *out)
{
  g_autoptr (TsPool) p = find_pool (f, "KRE", "node-locked");
  g_assert_cmpstr (p->match_policy, ==, "most");
}

static void
check_match_default (Fixture *f, const char *out)
{
  g_autoptr (TsPool) p = find_pool (f, "KRE", "node-locked");
  g_assert_cmpstr (p->match_policy, ==, TESSERA_MATCH_DEFAULT);
}

/* ISO 8601 in UTC, as listings show times, e.g. 2026-12-06T05:17:14Z. */
static void
assert_iso (const char *what, const char *text)
{
  g_assert_nonnull (text);
  if (!g_regex_match_simple ("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", text, 0,
                             0))
    g_error ("%s is not ISO 8601 UTC: %s", what, text);
}

/* A listing for people: no user's id in it (emails instead). */
static void
check_no_user_ids (Fixture *f, const char *out)
{
  const char *ids[] = { f->owner, f->alice, f->bob, f->carol };
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    if (strstr (out, ids[i]) != NULL)
      g_error ("the listing shows the user id %s:\n%s", ids[i], out);
}

static void
check_pool_list_json (Fixture *f, const char *out)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonArray *pools = json_array_of (out, "pools", &parser);
  g_assert_cmpuint (json_array_get_length (pools), ==, 3);
  gboolean seen = FALSE;
  for (guint i = 0; i < 3; i++)
    {
      JsonObject *p = json_array_get_object_element (pools, i);
      if (!g_str_equal (json_object_get_string_member (p, "id"), f->fl))
        continue;
      seen = TRUE;
      g_assert_cmpstr (json_object_get_string_member (p, "product"), ==, "KRE");
      g_assert_cmpstr (json_object_get_string_member (p, "kind"), ==, "floating");
      g_assert_cmpstr (json_object_get_string_member (p, "billing"), ==, "annual");
      g_assert_cmpint (json_object_get_int_member (p, "quota"), ==, 3);
      g_assert_cmpint (json_object_get_int_member (p, "sessions"), ==, 1);
      g_assert_cmpint (json_object_get_int_member (p, "subscription_end"), >, now ());
      assert_iso ("subscription_end_iso",
                  json_object_get_string_member (p, "subscription_end_iso"));
    }
  g_assert_true (seen);
}

static TsRole
role_of (Fixture *f, const char *user_id, gboolean *member)
{
  TsStore *store = open_store (f);
  TsRole role = TS_ROLE_MEMBER;
  *member = ts_store_get_role (store, "acme", user_id, &role, NULL);
  ts_store_close (store);
  return role;
}

static void
check_member_added (Fixture *f, const char *out)
{
  g_autofree char *user_id = g_strchomp (g_strdup (out));
  gboolean member = FALSE;
  g_assert_cmpint (role_of (f, user_id, &member), ==, TS_ROLE_ADMIN);
  g_assert_true (member);
}

static void
check_bob_removed (Fixture *f, const char *out)
{
  gboolean member = TRUE;
  role_of (f, f->bob, &member);
  g_assert_false (member);
}

static void
check_member_list_json (Fixture *f, const char *out)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonArray *members = json_array_of (out, "members", &parser);
  g_assert_cmpuint (json_array_get_length (members), ==, 4);
  guint owners = 0;
  for (guint i = 0; i < 4; i++)
    {
      JsonObject *m = json_array_get_object_element (members, i);
      g_assert_true (json_object_has_member (m, "user_id"));
      g_assert_true (g_str_has_suffix (json_object_get_string_member (m, "email"), "@acme.test"));
      if (g_str_equal (json_object_get_string_member (m, "role"), "owner"))
        {
          owners++;
          g_assert_cmpstr (json_object_get_string_member (m, "user_id"), ==, f->owner);
        }
    }
  g_assert_cmpuint (owners, ==, 1);
}

static void
check_key_authenticates (Fixture *f, const char *out)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *key = g_strchomp (g_strdup (out));
  TsStore *store = open_store (f);
  g_autofree char *user_id = ts_store_authenticate (store, key, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user_id, ==, f->bob);
  ts_store_close (store);
}

static void
check_key_revoked (Fixture *f, const char *out)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) keys = ts_store_list_api_keys (store, f->alice, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (keys->len, ==, 1);
  g_assert_cmpint (((TsApiKey *) g_ptr_array_index (keys, 0))->revoked_at, >, 0);
  ts_store_close (store);
}

static guint
count_grants (Fixture *f, const char *pool_id)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) grants = ts_store_list_grants (store, NULL, "acme", pool_id, &error);
  g_assert_no_error (error);
  ts_store_close (store);
  return grants->len;
}

static void
prepare_two_grants (Fixture *f)
{
  /* Up to the quota (2), through the tool. */
  const char *const *steps[] = {
    (const char *const[]){ "grant", "--org", "acme", "--pool", "@NL@", "--user", "@ALICE@", NULL },
    (const char *const[]){ "grant", "--org", "acme", "--pool", "@NL@", "--user", "@BOB@", NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    g_free (run_ok (f, steps[i]));
  g_assert_cmpuint (count_grants (f, f->nl), ==, 2);
}

static void
prepare_one_grant (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_assert_true (ts_store_grant (store, NULL, "acme", f->nl, f->alice, now (), &error));
  g_assert_no_error (error);
  ts_store_close (store);
}

static void
check_two_grants (Fixture *f, const char *out)
{
  g_assert_cmpuint (count_grants (f, f->nl), ==, 2);
}

static void
check_one_grant (Fixture *f, const char *out)
{
  g_assert_cmpuint (count_grants (f, f->nl), ==, 1);
}

static void
check_no_grant (Fixture *f, const char *out)
{
  g_assert_cmpuint (count_grants (f, f->nl), ==, 0);
}

static void
check_grant_list_json (Fixture *f, const char *out)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonArray *grants = json_array_of (out, "grants", &parser);
  g_assert_cmpuint (json_array_get_length (grants), ==, 1);
  JsonObject *g = json_array_get_object_element (grants, 0);
  g_assert_cmpstr (json_object_get_string_member (g, "user_id"), ==, f->alice);
  g_assert_cmpstr (json_object_get_string_member (g, "email"), ==, "alice@acme.test");
  g_assert_cmpint (json_object_get_int_member (g, "granted_at"), >, 0);
  assert_iso ("granted_at_iso", json_object_get_string_member (g, "granted_at_iso"));
}

static guint
count_sessions (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) sessions
      = ts_store_list_sessions (store, NULL, "acme", f->fl, now (), &error);
  g_assert_no_error (error);
  ts_store_close (store);
  return sessions->len;
}

static void
check_sessions_json (Fixture *f, const char *out)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonArray *sessions = json_array_of (out, "sessions", &parser);
  g_assert_cmpuint (json_array_get_length (sessions), ==, 1);
  JsonObject *s = json_array_get_object_element (sessions, 0);
  g_assert_cmpstr (json_object_get_string_member (s, "id"), ==, f->session);
  g_assert_cmpstr (json_object_get_string_member (s, "user_id"), ==, f->alice);
  g_assert_cmpstr (json_object_get_string_member (s, "user_email"), ==, "alice@acme.test");
  g_assert_false (json_object_has_member (s, "user")); /* the text column only */
  g_assert_cmpstr (json_object_get_string_member (s, "machine_id"), ==, "SESS-ION0-MACH-INE0");
  g_assert_cmpstr (json_object_get_string_member (s, "hostname"), ==, "ci-runner-1");
  g_assert_cmpstr (json_object_get_string_member (s, "os"), ==, "Debian GNU/Linux 12 (bookworm)");
  assert_iso ("started_at_iso", json_object_get_string_member (s, "started_at_iso"));
  g_assert_cmpint (json_object_get_int_member (s, "lease_expires_at"), >,
                   json_object_get_int_member (s, "started_at"));
}

static void
check_session_released (Fixture *f, const char *out)
{
  g_assert_cmpuint (count_sessions (f), ==, 0);
}

static void
check_session_kept (Fixture *f, const char *out)
{
  g_assert_cmpuint (count_sessions (f), ==, 1);
}

static void
check_machine_removed (Fixture *f, const char *out)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) machines = ts_store_list_machines (store, NULL, "acme", f->fl, &error);
  g_assert_no_error (error);
  ts_store_close (store);
  g_assert_cmpuint (machines->len, ==, 0);
  g_assert_cmpuint (count_sessions (f), ==, 0); /* its session ended */
}

static guint
count_offline (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) list = ts_store_list_offline (store, NULL, "acme", f->nl, &error);
  g_assert_no_error (error);
  ts_store_close (store);
  return list->len;
}

static void
check_offline_created (Fixture *f, const char *out)
{
  g_autofree char *path = g_build_filename (f->out, "KRE_" MID ".lic", NULL);
  g_autofree char *line = g_strdup_printf ("%s\n", path);
  g_assert_cmpstr (out, ==, line);
  g_assert_cmpuint (count_entries (f->out), ==, 1); /* no temporary file left */
  g_autoptr (TesseraLicfile) file = verify_license (f, path);
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_licfile_check (file, "KRE", MID, now (), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_licfile_get_org (file), ==, "acme");
  g_assert_cmpstr (tessera_licfile_get_key_id (file), ==, f->expected_signer);
  g_assert_cmpstr (tessera_licfile_get_kind (file), ==, "node-locked");
  const char *const *ents = tessera_licfile_get_entitlements (file);
  g_assert_cmpstr (ents[0], ==, "parallel-execution");
  g_assert_cmpstr (ents[1], ==, "reports");
  g_assert_null (ents[2]);
  g_assert_cmpuint (count_offline (f), ==, 1);
}

/* From a request: format 2 under the pool's policy, named for its ID. */
static void
check_offline_from_request (Fixture *f, const char *out)
{
  g_autofree char *path = g_build_filename (f->out, "KRE_" REQ_ID ".lic", NULL);
  g_autofree char *line = g_strdup_printf ("%s\n", path);
  g_assert_cmpstr (out, ==, line);
  g_autoptr (TesseraLicfile) file = verify_license (f, path);
  g_assert_cmpstr (tessera_licfile_get_machine_id (file), ==, REQ_ID);
  g_assert_cmpstr (tessera_licfile_get_match_policy (file), ==, "all-but-one");
  g_assert_cmpuint (count_offline (f), ==, 1);
}

static void
prepare_existing_license (Fixture *f)
{
  g_autofree char *path = test_write_file (f->out, "KRE_" MID ".lic", "an older license\n");
}

static void
check_offline_next_free (Fixture *f, const char *out)
{
  g_autofree char *path = g_build_filename (f->out, "KRE_" MID ".1.lic", NULL);
  g_autofree char *line = g_strdup_printf ("%s\n", path);
  g_assert_cmpstr (out, ==, line);
  g_autoptr (TesseraLicfile) file = verify_license (f, path);
  g_autofree char *old_path = g_build_filename (f->out, "KRE_" MID ".lic", NULL);
  g_autofree char *old = NULL;
  g_assert_true (g_file_get_contents (old_path, &old, NULL, NULL));
  g_assert_cmpstr (old, ==, "an older license\n");
  g_assert_cmpuint (count_entries (f->out), ==, 2);
}

/* A second key, newer than test.key. */
static void
prepare_newer_key (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autofree char *secret = g_build_filename (f->keys, "newer.key", NULL);
  g_autofree char *public = g_build_filename (f->keys, "newer.pub", NULL);
  g_assert_true (tessera_signing_key_save (key, secret, public, &error));
  g_assert_no_error (error);
  struct utimbuf times = { .actime = now () + 60, .modtime = now () + 60 };
  g_assert_cmpint (g_utime (secret, &times), ==, 0);
  g_free (f->expected_signer);
  f->expected_signer = g_strdup (tessera_signing_key_get_id (key));
}

/* The newer key, but DIR/current names test.key (as tessera-server reads it). */
static void
prepare_current_key (Fixture *f)
{
  prepare_newer_key (f);
  g_autofree char *test_key = g_build_filename (f->keys, "test.key", NULL);
  g_autofree char *named = g_strdup_printf ("%s/%s.key", f->keys, f->signing_id);
  g_assert_cmpint (g_rename (test_key, named), ==, 0);
  g_autofree char *line = g_strdup_printf ("%s\n", f->signing_id);
  g_autofree char *path = test_write_file (f->keys, "current", line);
  g_free (f->expected_signer);
  f->expected_signer = g_strdup (f->signing_id);
}

static void
check_no_offline (Fixture *f, const char *out)
{
  g_assert_cmpuint (count_entries (f->out), ==, 0);
  g_assert_cmpuint (count_offline (f), ==, 0);
}

/* A key-encryption key file in the test's directory: @DIR@/kek (0600), and
 * @DIR@/kek-open, readable by others. */
static void
prepare_kek_files (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
  g_autofree char *kek = g_build_filename (f->dir, "kek", NULL);
  g_autofree char *open = g_build_filename (f->dir, "kek-open", NULL);
  g_assert_true (g_file_set_contents_full (kek, hex, -1, 0, 0600, &error));
  g_assert_true (g_file_set_contents_full (open, hex, -1, 0, 0644, &error));
  g_assert_no_error (error);
}

/* The command refused before it made anything: no database at @DIR@/new.db. */
static void
check_no_new_db (Fixture *f, const char *out)
{
  g_autofree char *db = g_build_filename (f->dir, "new.db", NULL);
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
}

static void
prepare_offline (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *secret = g_build_filename (f->keys, "test.key", NULL);
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_load (secret, &error);
  g_assert_no_error (error);
  TsStore *store = open_store (f);
  g_autoptr (TsOffline) o
      = ts_store_create_offline (store, NULL, "acme", f->nl, MID, NULL, key, now (), &error);
  g_assert_no_error (error);
  f->offline_id = g_strdup (o->id);
  ts_store_close (store);
}

/* The out directory cannot be written (as nobody: root ignores modes), but
 * the database and the key can: only the output stands in the way. */
static void
prepare_unwritable_out (Fixture *f)
{
  g_assert_cmpint (g_chmod (f->out, 0555), ==, 0);
  if (geteuid () == 0)
    {
      g_autofree char *secret = g_build_filename (f->keys, "test.key", NULL);
      g_assert_cmpint (chown (f->db, 65534, 65534), ==, 0);
      g_assert_cmpint (chown (secret, 65534, 65534), ==, 0);
      /* SQLite creates the -wal and -shm files next to the database. */
      g_assert_cmpint (g_chmod (f->dir, 01777), ==, 0);
    }
}

/* The stored file of @f->offline_id, as the store gives it back. */
static GBytes *
stored_offline_file (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (TsOffline) o = ts_store_get_offline (store, NULL, NULL, NULL, f->offline_id, &error);
  g_assert_no_error (error);
  ts_store_close (store);
  return g_bytes_ref (o->file);
}

static void
check_downloaded (Fixture *f, const char *out, const char *path)
{
  g_autofree char *line = g_strdup_printf ("%s\n", path);
  g_assert_cmpstr (out, ==, line);
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_autoptr (GBytes) stored = stored_offline_file (f);
  g_autoptr (GBytes) written = g_bytes_new (contents, len);
  g_assert_true (g_bytes_equal (stored, written)); /* byte for byte */
  g_autoptr (TesseraLicfile) file = verify_license (f, path);
  g_assert_cmpstr (tessera_licfile_get_license_id (file), ==, f->offline_id);
  g_assert_cmpuint (count_offline (f), ==, 1); /* fetched, not issued again */
}

static void
check_downloaded_to_dir (Fixture *f, const char *out)
{
  g_autofree char *path = g_build_filename (f->out, "KRE_" MID ".lic", NULL);
  check_downloaded (f, out, path);
  g_assert_cmpuint (count_entries (f->out), ==, 1); /* no temporary file left */
}

static void
check_downloaded_next_free (Fixture *f, const char *out)
{
  g_autofree char *path = g_build_filename (f->out, "KRE_" MID ".1.lic", NULL);
  check_downloaded (f, out, path);
  g_assert_cmpuint (count_entries (f->out), ==, 2);
}

static void
check_downloaded_to_file (Fixture *f, const char *out)
{
  g_autofree char *path = g_build_filename (f->out, "copy.lic", NULL);
  check_downloaded (f, out, path);
  g_assert_cmpuint (count_entries (f->out), ==, 1);
}

static void
prepare_offline_and_file (Fixture *f)
{
  prepare_offline (f);
  g_autofree char *path = test_write_file (f->out, "copy.lic", "mine\n");
}

static void
check_file_kept (Fixture *f, const char *out)
{
  g_autofree char *path = g_build_filename (f->out, "copy.lic", NULL);
  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "mine\n");
  g_assert_cmpuint (count_entries (f->out), ==, 1); /* no temporary file left */
}

static void
prepare_offline_unwritable (Fixture *f)
{
  prepare_offline (f);
  prepare_unwritable_out (f);
}

static void
prepare_offline_and_existing (Fixture *f)
{
  prepare_offline (f);
  prepare_existing_license (f);
}

static void
prepare_empty_key_dir (Fixture *f)
{
  g_autofree char *secret = g_build_filename (f->keys, "test.key", NULL);
  g_assert_cmpint (g_unlink (secret), ==, 0);
}

static void
prepare_readonly_database (Fixture *f)
{
  /* The database and its directory belong to root: nobody cannot write. */
  g_assert_cmpint (g_chmod (f->db, 0644), ==, 0);
}

/* Audit records naming alice (a grant: her id as the detail) and a time
 * (a pool's new subscription end). */
static void
prepare_audit_records (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_assert_true (ts_store_grant (store, NULL, "acme", f->nl, f->alice, now (), &error));
  g_assert_no_error (error);
  /* 2099-01-01T00:00:00Z */
  TsPool *p = ts_store_update_pool (store, NULL, "acme", f->fl, -1, 4070908800, now (), &error);
  g_assert_no_error (error);
  ts_pool_free (p);
  ts_store_close (store);
}

/* Usage history of @FL@ at 2026-01-05T10:00:00Z, as a server would have
 * written it: 4 activations, one quota and one machine quota refusal. */
static void
prepare_usage (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) counts
      = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_usage_count_free);
  TsUsageCount *c = g_new0 (TsUsageCount, 1);
  c->pool_id = g_strdup (f->fl);
  c->hour = 1767607200;
  c->activations = 4;
  c->refused[TS_USAGE_REFUSED_QUOTA] = 1;
  c->refused[TS_USAGE_REFUSED_MACHINES] = 1;
  g_ptr_array_add (counts, c);
  g_assert_true (ts_store_usage_add (store, counts, 0, 0, NULL, &error));
  g_assert_no_error (error);
  ts_store_close (store);
}

static void
check_audit_text (Fixture *f, const char *out)
{
  check_no_user_ids (f, out);
  g_autofree char *grant
      = expand (f, "^[0-9T:Z-]+ +tessera-admin +grant +@NL@ +alice@acme\\.test$");
  assert_matches ("stdout", grant, out);
  assert_matches ("stdout", "^[0-9T:Z-]+ +tessera-admin +member\\.set +bob@acme\\.test +member$",
                  out);
  g_autofree char *update
      = expand (f, "pool\\.update +@FL@ +quota 3 subscription_end 2099-01-01T00:00:00Z$");
  assert_matches ("stdout", update, out);
  g_assert_false (g_regex_match_simple ("subscription_end [0-9]+( |$)", out, G_REGEX_MULTILINE, 0));
}

/* JSON keeps what was recorded (ids, seconds) with the readable forms. */
static void
check_audit_ids_json (Fixture *f, const char *out)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonArray *audit = json_array_of (out, "audit", &parser);
  g_assert_cmpuint (json_array_get_length (audit), ==, 2);
  JsonObject *update = json_array_get_object_element (audit, 0);
  g_assert_cmpstr (json_object_get_string_member (update, "action"), ==, "pool.update");
  g_assert_cmpstr (json_object_get_string_member (update, "detail"), ==,
                   "quota 3 subscription_end 4070908800");
  g_assert_cmpstr (json_object_get_string_member (update, "detail_text"), ==,
                   "quota 3 subscription_end 2099-01-01T00:00:00Z");
  JsonObject *grant = json_array_get_object_element (audit, 1);
  g_assert_cmpstr (json_object_get_string_member (grant, "action"), ==, "grant");
  g_assert_cmpstr (json_object_get_string_member (grant, "actor"), ==, "tessera-admin");
  g_assert_true (json_object_get_null_member (grant, "actor_email"));
  g_assert_cmpstr (json_object_get_string_member (grant, "target"), ==, f->nl);
  g_assert_cmpstr (json_object_get_string_member (grant, "detail"), ==, f->alice);
  g_assert_cmpstr (json_object_get_string_member (grant, "detail_text"), ==, "alice@acme.test");
  assert_iso ("at_iso", json_object_get_string_member (grant, "at_iso"));
  g_assert_cmpint (json_object_get_int_member (grant, "at"), >, 0);
}

static void
check_audit_json (Fixture *f, const char *out)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonArray *audit = json_array_of (out, "audit", &parser);
  g_assert_cmpuint (json_array_get_length (audit), ==, 2);
  gint64 previous = G_MAXINT64;
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *a = json_array_get_object_element (audit, i);
      gint64 at = json_object_get_int_member (a, "at");
      g_assert_cmpint (at, <=, previous); /* newest first */
      previous = at;
      g_assert_nonnull (json_object_get_string_member (a, "action"));
    }
}

static void
check_members_unchanged (Fixture *f, const char *out)
{
  g_autoptr (GError) error = NULL;
  TsStore *store = open_store (f);
  g_autoptr (GPtrArray) members = ts_store_list_members (store, NULL, "acme", &error);
  g_assert_no_error (error);
  ts_store_close (store);
  g_assert_cmpuint (members->len, ==, 4);
}

/* ---- the cases ---- */

#define DB "--database", "@DB@"
#define ONE_LINE "^[^\n]+\n$"

static const AdminCase cases[] = {
  /* bootstrap */
  { .name = "bootstrap/ok",
    .args = { "bootstrap", DB, "--org", "acme", "--name", "Acme Inc.", "--owner", "boss@acme.test",
              NULL },
    .exit_code = 0,
    .stdout_re = ONE_LINE,
    .check = check_bootstrap },
  { .name = "bootstrap/default-database",
    .args = { "bootstrap", "--org", "acme", "--name", "Acme", "--owner", "boss@acme.test", NULL },
    .exit_code = 0,
    .stdout_re = ONE_LINE,
    .check = check_bootstrap },
  { .name = "bootstrap/database-before-command",
    .args = { "--database", "@DB@", "bootstrap", "--org", "acme", "--name", "Acme", "--owner",
              "boss@acme.test", NULL },
    .exit_code = 0,
    .stdout_re = ONE_LINE,
    .check = check_bootstrap },
  { .name = "bootstrap/exists",
    .args = { "bootstrap", DB, "--org", "acme", "--name", "Again", "--owner", "x@acme.test", NULL },
    .exit_code = 11,
    .populate = TRUE,
    .stderr_re = "acme",
    .check = check_members_unchanged },
  { .name = "bootstrap/missing-owner",
    .args = { "bootstrap", DB, "--org", "acme", "--name", "Acme", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-admin: bootstrap: --owner EMAIL is required \\(see 'tessera-admin "
                 "bootstrap --help'\\)$",
    .check = check_no_database },
  { .name = "bootstrap/unwritable-directory",
    .args
    = { "bootstrap", DB, "--org", "acme", "--name", "Acme", "--owner", "boss@acme.test", NULL },
    .exit_code = 10,
    .as_nobody = TRUE,
    .stderr_re = "^tessera-admin: .+",
    .check = check_no_database },

  /* pools */
  { .name = "pool-create/ok",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KSE", "--kind", "floating",
              "--billing", "annual", "--quota", "7", "--subscription-end", "2099-01-01", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = ONE_LINE,
    .check = check_pool_created },
  { .name = "pool-create/exists",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KRE", "--kind", "node-locked",
              "--billing", "annual", "--quota", "4", "--subscription-end", "2099-01-01", NULL },
    .exit_code = 11,
    .populate = TRUE,
    .stderr_re = "KRE",
    .check = check_pools_unchanged },
  { .name = "pool-create/bad-product",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "K RE", "--kind", "floating",
              "--billing", "annual", "--quota", "7", "--subscription-end", "2099-01-01", NULL },
    .exit_code = 11,
    .populate = TRUE,
    .stderr_re = "product",
    .check = check_pools_unchanged },
  { .name = "pool-create/unknown-org",
    .args = { "pool", "create", DB, "--org", "nope", "--product", "KSE", "--kind", "floating",
              "--billing", "annual", "--quota", "7", "--subscription-end", "2099-01-01", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = "nope",
    .check = check_pools_unchanged },
  { .name = "pool-create/bad-kind",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KSE", "--kind", "site",
              "--billing", "annual", "--quota", "7", "--subscription-end", "2099-01-01", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--kind must be floating or node-locked, not 'site'$",
    .check = check_pools_unchanged },
  { .name = "pool-create/bad-billing",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KSE", "--kind", "floating",
              "--billing", "weekly", "--quota", "7", "--subscription-end", "2099-01-01", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--billing must be annual or monthly",
    .check = check_pools_unchanged },
  { .name = "pool-create/bad-date",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KSE", "--kind", "floating",
              "--billing", "annual", "--quota", "7", "--subscription-end", "2099-13-45", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--subscription-end must be a date",
    .check = check_pools_unchanged },
  { .name = "pool-create/past-end",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KSE", "--kind", "floating",
              "--billing", "annual", "--quota", "7", "--subscription-end", "2020-01-01", NULL },
    .exit_code = 11,
    .populate = TRUE,
    .stderr_re = "^tessera-admin: pool create: --subscription-end 2020-01-01 "
                 "\\(2020-01-01T00:00:00Z\\) is in the past: give the date the subscription ends, "
                 "later than now$",
    .check = check_pools_unchanged },
  { .name = "pool-create/past-end-seconds",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KSE", "--kind", "floating",
              "--billing", "annual", "--quota", "7", "--subscription-end", "1000000000", NULL },
    .exit_code = 11,
    .populate = TRUE,
    .stderr_re = "--subscription-end 1000000000 \\(2001-09-09T01:46:40Z\\) is in the past",
    .check = check_pools_unchanged },
  { .name = "pool-create/bad-quota",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KSE", "--kind", "floating",
              "--billing", "annual", "--quota", "many", "--subscription-end", "2099-01-01", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "^tessera-admin: pool create: .*many",
    .check = check_pools_unchanged },
  { .name = "pool-create/missing-database",
    .args = { "pool", "create", DB, "--org", "acme", "--product", "KSE", "--kind", "floating",
              "--billing", "annual", "--quota", "7", "--subscription-end", "2099-01-01", NULL },
    .exit_code = 10,
    .stderr_re = "the database @DB@ does not exist",
    .check = check_no_database },
  { .name = "pool-list/text",
    .args = { "pool", "list", DB, "--org", "acme", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^ID +ORG +PRODUCT +KIND +BILLING +QUOTA +SUBSCRIPTION-END +GRANTED +MACHINES +"
                 "SESSIONS +OFFLINE\n(.|\n)*^@FL@ +acme +KRE +floating +annual +3 +"
                 "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +0 +1 +1 +0\n" },
  { .name = "pool-list/json",
    .args = { "pool", "list", DB, "--org", "acme", "--json", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^\\{\"pools\":\\[.*\\]\\}\n$",
    .check = check_pool_list_json },
  { .name = "pool-list/unknown-org",
    .args = { "pool", "list", DB, "--org", "nope", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = "nope" },
  { .name = "pool-set-quota/ok",
    .args = { "pool", "set-quota", DB, "--org", "acme", "--pool", "@NL@", "--quota", "9", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^KRE node-locked @NL@: quota 9\n$",
    .check = check_quota_set },
  { .name = "pool-set-match/ok",
    .args = { "pool", "set-match", DB, "--org", "acme", "--pool", "@NL@", "--match", "most", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^KRE node-locked @NL@: match policy most\n$",
    .check = check_match_set },
  { .name = "pool-set-match/unknown-policy",
    .args = { "pool", "set-match", DB, "--org", "acme", "--pool", "@NL@", "--match", "some", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "^tessera-admin: pool set-match: unknown match policy 'some'",
    .check = check_match_default },
  { .name = "pool-set-match/unknown-pool",
    .args = { "pool", "set-match", DB, "--org", "acme", "--pool", "nope", "--match", "any", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_match_default },
  { .name = "pool-set-quota/unknown-pool",
    .args = { "pool", "set-quota", DB, "--org", "acme", "--pool", "nope", "--quota", "9", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_pools_unchanged },
  { .name = "pool-set-quota/missing-quota",
    .args = { "pool", "set-quota", DB, "--org", "acme", "--pool", "@NL@", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--quota N",
    .check = check_pools_unchanged },

  /* members */
  { .name = "member-add/ok",
    .args = { "member", "add", DB, "--org", "acme", "--email", "dave@acme.test", "--role", "admin",
              NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = ONE_LINE,
    .check = check_member_added },
  { .name = "member-add/bad-role",
    .args
    = { "member", "add", DB, "--org", "acme", "--email", "dave@acme.test", "--role", "king", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--role must be owner, admin or member, not 'king'$",
    .check = check_members_unchanged },
  { .name = "member-add/unknown-org",
    .args = { "member", "add", DB, "--org", "nope", "--email", "dave@acme.test", "--role", "member",
              NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = "nope",
    .check = check_members_unchanged },
  { .name = "member-add/readonly-database",
    .args = { "member", "add", DB, "--org", "acme", "--email", "dave@acme.test", "--role", "member",
              NULL },
    .exit_code = 10,
    .populate = TRUE,
    .as_nobody = TRUE,
    .prepare = prepare_readonly_database,
    .stderr_re = "^tessera-admin: .+",
    .check = check_members_unchanged },
  { .name = "member-remove/ok",
    .args = { "member", "remove", DB, "--org", "acme", "--user", "@BOB@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .check = check_bob_removed },
  { .name = "member-remove/by-email",
    .args = { "member", "remove", DB, "--org", "acme", "--user", "bob@acme.test", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .check = check_bob_removed },
  { .name = "member-remove/unknown-email",
    .args = { "member", "remove", DB, "--org", "acme", "--user", "nobody@acme.test", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = "no user with email nobody@acme.test",
    .check = check_members_unchanged },
  { .name = "member-remove/unknown-user",
    .args = { "member", "remove", DB, "--org", "acme", "--user", "nobody-here", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_members_unchanged },
  { .name = "member-list/text",
    .args = { "member", "list", DB, "--org", "acme", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^EMAIL +ROLE\n(.|\n)*^alice@acme.test +member\n(.|\n)*"
                 "^owner@acme.test +owner$",
    .check = check_no_user_ids },
  { .name = "member-list/json",
    .args = { "member", "list", DB, "--org", "acme", "-j", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^\\{\"members\":",
    .check = check_member_list_json },

  /* API keys */
  { .name = "key-create/ok",
    .args = { "key", "create", DB, "--user", "@BOB@", "--label", "ci", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^tsk_[A-Za-z0-9_-]{43}\n$",
    .check = check_key_authenticates },
  { .name = "key-create/missing-user",
    .args = { "key", "create", DB, NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "^tessera-admin: key create: --user EMAIL is required" },
  { .name = "key-create/by-email",
    .args = { "key", "create", DB, "--user", "bob@acme.test", "--label", "ci", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^tsk_[A-Za-z0-9_-]{43}\n$",
    .check = check_key_authenticates },
  { .name = "key-create/unknown-email",
    .args = { "key", "create", DB, "--user", "nobody@acme.test", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = "^tessera-admin: no user with email nobody@acme.test" },
  { .name = "key-list/by-email",
    .args = { "key", "list", DB, "--user", "alice@acme.test", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^ID +LABEL +PREFIX +CREATED +REVOKED\n@KEYID@ +laptop +tsk_[^ ]* +"
                 "[0-9-]+T[0-9:]+Z +-\n$" },
  { .name = "key-revoke/by-email",
    .args = { "key", "revoke", DB, "--user", "alice@acme.test", "--key", "@KEYID@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .check = check_key_revoked },
  { .name = "key-list/text",
    .args = { "key", "list", DB, "--user", "@ALICE@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re
    = "^ID +LABEL +PREFIX +CREATED +REVOKED\n@KEYID@ +laptop +tsk_[^ ]* +[0-9-]+T[0-9:]+Z +"
      "-\n$" },
  { .name = "key-revoke/ok",
    .args = { "key", "revoke", DB, "--user", "@ALICE@", "--key", "@KEYID@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .check = check_key_revoked },
  { .name = "key-revoke/unknown-key",
    .args = { "key", "revoke", DB, "--user", "@ALICE@", "--key", "nope", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = "." },

  /* grants */
  { .name = "grant/ok",
    .args = { "grant", DB, "--org", "acme", "--pool", "@NL@", "--user", "@ALICE@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .check = check_one_grant },
  { .name = "grant/by-email",
    .args = { "grant", DB, "--org", "acme", "--pool", "@NL@", "--user", "alice@acme.test", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .check = check_one_grant },
  { .name = "grant/unknown-email",
    .args = { "grant", DB, "--org", "acme", "--pool", "@NL@", "--user", "nobody@acme.test", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = "no user with email nobody@acme.test",
    .check = check_no_grant },
  { .name = "grant/over-quota",
    .args = { "grant", DB, "--org", "acme", "--pool", "@NL@", "--user", "@CAROL@", NULL },
    .exit_code = 4,
    .populate = TRUE,
    .prepare = prepare_two_grants,
    .stderr_re = "^tessera-admin: all 2 KRE node-locked licenses of organization acme are taken",
    .check = check_two_grants },
  { .name = "grant/unknown-pool",
    .args = { "grant", DB, "--org", "acme", "--pool", "nope", "--user", "@ALICE@", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_no_grant },
  { .name = "revoke/ok",
    .args = { "revoke", DB, "--org", "acme", "--pool", "@NL@", "--user", "@ALICE@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_one_grant,
    .check = check_no_grant },
  { .name = "revoke/by-email",
    .args = { "revoke", DB, "--org", "acme", "--pool", "@NL@", "--user", "alice@acme.test", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_one_grant,
    .check = check_no_grant },
  { .name = "revoke/not-granted",
    .args = { "revoke", DB, "--org", "acme", "--pool", "@NL@", "--user", "@BOB@", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .prepare = prepare_one_grant,
    .stderr_re = ".",
    .check = check_one_grant },
  { .name = "grant-list/json",
    .args = { "grant", "list", DB, "--org", "acme", "--pool", "@NL@", "--json", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_one_grant,
    .stdout_re = "^\\{\"grants\":",
    .check = check_grant_list_json },

  /* sessions and machines */
  { .name = "sessions/text",
    .args = { "sessions", DB, "--org", "acme", "--pool", "@FL@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^ID +USER +MACHINE +HOST +OS +STARTED +LAST-HEARTBEAT +LEASE-EXPIRES "
                 "+SUBSCRIPTION-END\n"
                 "@SESSION@ +alice@acme.test +SESS-ION0-MACH-INE0 +ci-runner-1 +Debian GNU/Linux "
                 "12 \\(bookworm\\) +[0-9]{4}-.*Z\n$",
    .check = check_no_user_ids },
  { .name = "sessions/json",
    .args = { "sessions", DB, "--org", "acme", "--pool", "@FL@", "--json", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^\\{\"sessions\":",
    .check = check_sessions_json },
  { .name = "session-release/ok",
    .args = { "session", "release", DB, "--org", "acme", "--pool", "@FL@", "--session", "@SESSION@",
              NULL },
    .exit_code = 0,
    .populate = TRUE,
    .check = check_session_released },
  { .name = "session-release/unknown",
    .args
    = { "session", "release", DB, "--org", "acme", "--pool", "@FL@", "--session", "nope", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_session_kept },
  { .name = "machines/text",
    .args = { "machines", DB, "--org", "acme", "--pool", "@FL@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^MACHINE +USER +HOST +OS +REGISTERED +LAST-SEEN +CHANGES\nSESS-ION0-MACH-INE0 +"
                 "alice@acme.test +ci-runner-1 +Debian GNU/Linux 12 \\(bookworm\\) +"
                 "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +[0-9]{4}-.* -\n",
    .check = check_no_user_ids },
  { .name = "machine-remove/ok",
    .args = { "machine", "remove", DB, "--org", "acme", "--pool", "@FL@", "--machine",
              "SESS-ION0-MACH-INE0", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .check = check_machine_removed },
  { .name = "machine-remove/unknown",
    .args = { "machine", "remove", DB, "--org", "acme", "--pool", "@FL@", "--machine",
              "ZZZZ-ZZZZ-ZZZZ-ZZZZ", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_session_kept },

  /* offline licenses */
  { .name = "offline-create/ok",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID, "-e",
              "reports", "--entitlement", "parallel-execution", "--key-dir", "@KEYS@", "--out",
              "@OUT@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = ONE_LINE,
    .check = check_offline_created },
  { .name = "offline-create/request",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--request", REQ,
              "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = ONE_LINE,
    .check = check_offline_from_request },
  { .name = "offline-create/request-other-id",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--request", REQ,
              "--machine-id", MID, "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "^tessera-admin: .*the request is for machine " REQ_ID ", not " MID,
    .check = check_no_offline },
  { .name = "offline-create/request-malformed",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--request",
              "tessera-fp1 nope", "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--request: ",
    .check = check_no_offline },
  { .name = "offline-create/newest-key",
    .args
    = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID, "-e",
        "reports", "-e", "parallel-execution", "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_newer_key,
    .stdout_re = ONE_LINE,
    .check = check_offline_created },
  { .name = "offline-create/current-key",
    .args
    = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID, "-e",
        "reports", "-e", "parallel-execution", "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_current_key,
    .stdout_re = ONE_LINE,
    .check = check_offline_created },
  { .name = "offline-create/next-free-name",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID,
              "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_existing_license,
    .stdout_re = ONE_LINE,
    .check = check_offline_next_free },
  { .name = "offline-create/monthly",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@ML@", "--machine-id", MID,
              "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 11,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_out_empty },
  { .name = "offline-create/floating",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@FL@", "--machine-id", MID,
              "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 11,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_out_empty },
  { .name = "offline-create/unknown-pool",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "nope", "--machine-id", MID,
              "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = ".",
    .check = check_no_offline },
  { .name = "offline-create/no-key",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID,
              "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 10,
    .populate = TRUE,
    .prepare = prepare_empty_key_dir,
    .stderr_re = "^tessera-admin: no signing key \\(\\*\\.key\\) in @KEYS@$",
    .check = check_no_offline },
  { .name = "offline-create/missing-out-dir",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID,
              "--key-dir", "@KEYS@", "--out", "@DIR@/nonexistent", NULL },
    .exit_code = 10,
    .populate = TRUE,
    .stderr_re = "cannot create a file in @DIR@/nonexistent: No such file or directory$",
    .check = check_no_offline },
  { .name = "signing-key/create-kek-no-file",
    .args = { "signing-key", "create-kek", DB, NULL },
    .exit_code = 1,
    .stderr_re = "--file FILE is required" },
  { .name = "signing-key/create-kek-exists",
    .args = { "signing-key", "create-kek", "--file", "@KEYS@/test.key", NULL },
    .exit_code = 11,
    .stderr_re = "cannot create @KEYS@/test.key: it exists \\(a key is never overwritten\\)$" },
  { .name = "signing-key/rotate-no-kek",
    .args = { "signing-key", "rotate", DB, NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--key-encryption-key FILE is required" },
  { .name = "signing-key/rotate-missing-kek",
    .args = { "signing-key", "rotate", DB, "--key-encryption-key", "@DIR@/none", NULL },
    .exit_code = 10,
    .populate = TRUE,
    .stderr_re = "key-encryption key @DIR@/none: No such file or directory$" },
  { .name = "signing-key/rotate-kek-readable-by-others",
    .args = { "signing-key", "rotate", DB, "--key-encryption-key", "@DIR@/kek-open", NULL },
    .exit_code = 10,
    .populate = TRUE,
    .prepare = prepare_kek_files,
    .stderr_re = "may be read by others \\(mode 0644\\): chmod 600 it$" },
  { .name = "signing-key/import-bad-kek-leaves-no-database",
    .args = { "signing-key", "import", "--database", "@DIR@/new.db", "--key-encryption-key",
              "@DIR@/kek-open", "--key", "@KEYS@/test.key", NULL },
    .exit_code = 10,
    .prepare = prepare_kek_files,
    .stderr_re = "chmod 600 it$",
    .check = check_no_new_db },
  { .name = "signing-key/import-not-a-key",
    .args = { "signing-key", "import", "--database", "@DIR@/new.db", "--key-encryption-key",
              "@DIR@/kek", "--key", "@KEYS@/test.pub", NULL },
    .exit_code = 10,
    .prepare = prepare_kek_files,
    .stderr_re = "test.pub",
    .check = check_no_new_db },
  { .name = "signing-key/import-and-list",
    .args = { "signing-key", "import", "--database", "@DIR@/new.db", "--key-encryption-key",
              "@DIR@/kek", "--key", "@KEYS@/test.key", NULL },
    .exit_code = 0,
    .prepare = prepare_kek_files,
    .stdout_re = "^[0-9a-f]{16}\n$" },
  { .name = "offline-create/both-key-options",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID,
              "--key-dir", "@KEYS@", "--key-encryption-key", "@DIR@/kek", "--out", "@OUT@", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .prepare = prepare_kek_files,
    .stderr_re = "give either --key-dir DIR",
    .check = check_no_offline },
  { .name = "offline-create/from-database-key",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID,
              "--key-encryption-key", "@DIR@/kek", "--out", "@OUT@", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .prepare = prepare_kek_files,
    .stderr_re = "the database holds no signing key yet",
    .check = check_no_offline },
  { .name = "offline-create/missing-key-dir",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID,
              "--out", "@OUT@", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "give either --key-dir DIR \\(keys in a directory\\) or --key-encryption-key FILE",
    .check = check_no_offline },
  { .name = "offline-create/unwritable-out-dir",
    .args = { "offline", "create", DB, "--org", "acme", "--pool", "@NL@", "--machine-id", MID,
              "--key-dir", "@KEYS@", "--out", "@OUT@", NULL },
    .exit_code = 10,
    .populate = TRUE,
    .as_nobody = TRUE,
    .prepare = prepare_unwritable_out,
    .stderr_re = "^tessera-admin: cannot create a file in @OUT@: Permission denied$",
    .check = check_no_offline },
  { .name = "offline-download/to-dir",
    .args = { "offline", "download", DB, "--id", "@OFFLINE@", "--output", "@OUT@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_offline,
    .stdout_re = ONE_LINE,
    .check = check_downloaded_to_dir },
  { .name = "offline-download/next-free-name",
    .args = { "offline", "download", DB, "--id", "@OFFLINE@", "--output", "@OUT@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_offline_and_existing,
    .stdout_re = ONE_LINE,
    .check = check_downloaded_next_free },
  { .name = "offline-download/to-file",
    .args = { "offline", "download", DB, "-i", "@OFFLINE@", "-o", "@OUT@/copy.lic", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_offline,
    .stdout_re = ONE_LINE,
    .check = check_downloaded_to_file },
  { .name = "offline-download/existing-file",
    .args = { "offline", "download", DB, "--id", "@OFFLINE@", "--output", "@OUT@/copy.lic", NULL },
    .exit_code = 10,
    .populate = TRUE,
    .prepare = prepare_offline_and_file,
    .stderr_re = "^tessera-admin: @OUT@/copy.lic already exists: it is not overwritten",
    .check = check_file_kept },
  { .name = "offline-download/unknown-id",
    .args = { "offline", "download", DB, "--id", "nope", "--output", "@OUT@", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .prepare = prepare_offline,
    .stderr_re = "^tessera-admin: no offline license nope$",
    .check = check_out_empty },
  { .name = "offline-download/missing-id",
    .args = { "offline", "download", DB, "--output", "@OUT@", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--id ID is required",
    .check = check_out_empty },
  { .name = "offline-download/unwritable-out-dir",
    .args = { "offline", "download", DB, "--id", "@OFFLINE@", "--output", "@OUT@", NULL },
    .exit_code = 10,
    .populate = TRUE,
    .as_nobody = TRUE,
    .prepare = prepare_offline_unwritable,
    .stderr_re = "^tessera-admin: cannot create a file in @OUT@: Permission denied$",
    .check = check_out_empty },
  { .name = "offline-list/text",
    .args = { "offline", "list", DB, "--org", "acme", "--pool", "@NL@", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_offline,
    .stdout_re = "^ID +MACHINE +CREATED +CREATED-BY +EXPIRES\n[^ ]+ +" MID
                 " +[0-9]{4}-[0-9T:-]+Z +tessera-admin +[0-9]{4}-" },

  /* usage */
  { .name = "usage/text",
    .args = { "usage", DB, "--org", "acme", "--pool", "@FL@", "--since", "2026-01-05", "--until",
              "2026-01-06", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_usage,
    .stdout_re = "^HOUR +PEAK +QUOTA +ACTIVATIONS +REFUSED-QUOTA +REFUSED-MACHINES "
                 "+REFUSED-EXPIRED +USERS +MACHINES\n"
                 "2026-01-05T10:00:00Z +0 +3 +4 +1 +1 +0 +0 +0\n$" },
  { .name = "usage/csv",
    .args = { "usage", DB, "--org", "acme", "--pool", "@FL@", "--since", "2026-01-05T00:00:00Z",
              "--until", "2026-01-06", "--csv", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_usage,
    .stdout_re = "^hour,peak,quota,activations,refused_quota,refused_machine_quota,"
                 "refused_expired,users,machines\r\n"
                 "2026-01-05T10:00:00Z,0,3,4,1,1,0,0,0\r\n$" },
  { .name = "usage/json",
    .args
    = { "usage", DB, "--org", "acme", "--pool", "@FL@", "--since", "2026-01-05", "--json", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_usage,
    .stdout_re = "^\\{\"usage\":\\[\\{\"hour\":1767607200,\"hour_iso\":"
                 "\"2026-01-05T10:00:00Z\",\"peak\":0,\"quota\":3,\"activations\":4,"
                 "\"refused_quota\":1,\"refused_machine_quota\":1," },
  { .name = "usage/outside-the-period",
    .args = { "usage", DB, "--org", "acme", "--pool", "@FL@", "--since", "2026-01-06", "--until",
              "2026-01-07", "--csv", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_usage,
    .stdout_re = "^hour,peak,[a-z_,]+\r\n$" },
  { .name = "usage/bad-since",
    .args = { "usage", DB, "--org", "acme", "--pool", "@FL@", "--since", "last week", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--since must be a date \\(YYYY-MM-DD, UTC\\).*'last week'" },
  { .name = "usage/bad-until",
    .args = { "usage", DB, "--org", "acme", "--pool", "@FL@", "--since", "2026-01-05", "--until",
              "2026-02-30", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--until must be a date" },
  { .name = "usage/since-after-until",
    .args = { "usage", DB, "--org", "acme", "--pool", "@FL@", "--since", "2026-01-05", "--until",
              "2026-01-04", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--since must come before --until" },
  { .name = "usage/no-since",
    .args = { "usage", DB, "--org", "acme", "--pool", "@FL@", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--since DATE" },
  { .name = "usage/json-and-csv",
    .args = { "usage", DB, "--org", "acme", "--pool", "@FL@", "--since", "2026-01-05", "--json",
              "--csv", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--json and --csv exclude each other" },
  { .name = "usage/unknown-pool",
    .args = { "usage", DB, "--org", "acme", "--pool", "nope", "--since", "2026-01-05", NULL },
    .exit_code = 12,
    .populate = TRUE,
    .stderr_re = "nope" },

  /* audit */
  { .name = "audit/json",
    .args = { "audit", DB, "--org", "acme", "--limit", "2", "--json", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^\\{\"audit\":",
    .check = check_audit_json },
  { .name = "audit/text",
    .args = { "audit", DB, "--org", "acme", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .stdout_re = "^AT +ACTOR +ACTION +TARGET +DETAIL\n[0-9]{4}-" },
  { .name = "audit/text-people-and-times",
    .args = { "audit", DB, "--org", "acme", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_audit_records,
    .stdout_re = "^AT +ACTOR +ACTION +TARGET +DETAIL\n[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z ",
    .check = check_audit_text },
  { .name = "audit/json-ids-alongside",
    .args = { "audit", DB, "--org", "acme", "--limit", "2", "--json", NULL },
    .exit_code = 0,
    .populate = TRUE,
    .prepare = prepare_audit_records,
    .stdout_re = "^\\{\"audit\":",
    .check = check_audit_ids_json },
  { .name = "audit/bad-limit",
    .args = { "audit", DB, "--org", "acme", "--limit", "0", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "--limit must be a positive number$" },

  /* the command line */
  { .name = "usage/no-command",
    .args = { NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-admin: no command given" },
  { .name = "usage/unknown-command",
    .args = { "frobnicate", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-admin: unknown command 'frobnicate'" },
  { .name = "usage/missing-subcommand",
    .args = { "pool", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-admin: pool: unknown or missing subcommand" },
  { .name = "usage/unknown-subcommand",
    .args = { "pool", "delete", DB, NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-admin: pool: unknown or missing subcommand delete" },
  { .name = "usage/unknown-option",
    .args = { "pool", "list", DB, "--org", "acme", "--frobnicate", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "^tessera-admin: pool list: unknown option '--frobnicate' \\(see 'tessera-admin "
                 "pool list --help'\\)$" },
  { .name = "usage/extra-argument",
    .args = { "member", "list", DB, "--org", "acme", "extra", NULL },
    .exit_code = 1,
    .populate = TRUE,
    .stderr_re = "^tessera-admin: member list: unexpected argument 'extra'" },
  { .name = "usage/missing-value",
    .args = { "sessions", DB, "--org", NULL },
    .exit_code = 1,
    .stderr_re = "^tessera-admin: sessions: Missing argument for --org" },
  { .name = "usage/help",
    .args = { "--help", NULL },
    .exit_code = 0,
    .stdout_re
    = "^Usage:\n  tessera-admin \\[--database PATH\\] COMMAND(.|\n)*offline create(.|\n)*"
      "^Exit status \\(the same table for tessera, tessera-admin,\n(.|\n)*^  12 +not found"
      "(.|\n)*^  130 +interrupted" },
  { .name = "usage/group-help",
    .args = { "pool", "--help", NULL },
    .exit_code = 0,
    .stdout_re = "^Usage:\n  tessera-admin pool SUBCOMMAND(.|\n)*^  pool create +(.|\n)*"
                 "^  pool set-quota +" },
  { .name = "usage/command-help",
    .args = { "offline", "create", "--help", NULL },
    .exit_code = 0,
    .stdout_re = "^Usage:\n  tessera-admin offline create(.|\n)*--key-dir=DIR(.|\n)*"
                 "--database=PATH(.|\n)*"
                 /* The table is in the tool's help once, not under every command. */
                 "\n\nExit status: see 'tessera-admin --help' or man tessera-admin\\.\n$" },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/admin/%s", cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &cases[i], run_case, NULL);
    }
  return g_test_run ();
}
