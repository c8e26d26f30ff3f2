/* tessera (tools/tessera*.c) against the real tessera-server, for what a
 * user meets when a kept session ends (issue 16): validate never takes a
 * seat (a node-locked license moved to a second machine stays there) and
 * keeps saying why a session ended (revoked, seen by every later validate
 * and status); a kept record edited by hand is shown unusable with the
 * reason; the grace counts from the last signed answer, and its message
 * states the real time since. The fixture is tests/cli-online-util.h; a
 * second machine is another user (the machine ID includes the account), run
 * with setpriv. A server gone quiet, and run --wait, are
 * test-cli-online-wait.c. */
#include "cli-online-util.h"
#include "faked-clock.h"

/* ---- validate never takes a seat; an ended session says why ---- */

/* Runs tessera as NOBODY (the second machine: the machine ID includes the
 * user) in @dir with @args. */
static int
run_as_other_machine (Online *o, const char *dir, const char *const *args, char **out, char **err)
{
  g_autoptr (GPtrArray) argv = cli_argv (&o->f, args);
  /* A copy NOBODY can read (tool, library, the online plugin), wherever the
   * build tree is (a clone in root's 0700 home too). */
  g_autofree char *tool = NULL;
  char *readable = tool_util_readable_copy (cli_path (), &tool);
  g_autofree char *plugins = g_build_filename (readable, "plugins", NULL);
  g_assert_cmpint (g_mkdir (plugins, 0755), ==, 0);
  g_autofree char *plugin
      = g_build_filename (g_getenv ("TESSERA_PLUGIN_DIR"), "tessera-testops.so", NULL);
  g_autofree char *plugin_copy = g_build_filename (plugins, "tessera-testops.so", NULL);
  test_copy_file (plugin, plugin_copy, 0644);
  for (guint i = 0; i < argv->len; i++)
    if (g_strcmp0 (argv->pdata[i], cli_path ()) == 0)
      {
        g_free (argv->pdata[i]);
        argv->pdata[i] = g_strdup (tool);
        break;
      }
  char *setpriv = g_find_program_in_path ("setpriv");
  g_assert_nonnull (setpriv); /* util-linux */
  g_ptr_array_insert (argv, 0, setpriv);
  g_ptr_array_insert (argv, 1, g_strdup_printf ("--reuid=%d", NOBODY));
  g_ptr_array_insert (argv, 2, g_strdup_printf ("--regid=%d", NOBODY));
  g_ptr_array_insert (argv, 3, g_strdup ("--clear-groups"));
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
  env = g_environ_setenv (env, "HOME", dir, TRUE);
  env = g_environ_setenv (env, "LD_LIBRARY_PATH", readable, TRUE);
  env = g_environ_setenv (env, "TESSERA_PLUGIN_DIR", plugins, TRUE);
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (dir, (char **) argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err, &status,
                &error);
  g_assert_no_error (error);
  test_tmpdir_free (readable);
  strip_valgrind_lines (err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* A node-locked license kept on this machine moves to a second machine:
 * validate here says so, every time, and never takes it back; status and
 * validate --stored-only say the same. */
static void
test_moved (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("a second machine is another user: needs root to switch to it");
      return;
    }
  Online o = { 0 };
  online_set_up (&o, "node-locked", 2, NULL);
  write_conf (o.f.dir, o.url, o.keys, NULL);
  const char *activate[] = { "--config", "@DIR@/online.conf", "activate", "--product",
                             "KRE",      "--api-key",         o.api_key,  NULL };
  g_autofree char *out = NULL, *err = NULL;
  cli_expect (&o, 0, activate, &out, &err);
  g_autofree char *here = NULL;
  g_assert_cmpuint (online_sessions (&o, &here), ==, 1);
  g_assert_cmpstr (here, ==, this_mid);

  /* The second machine: its own folder, config and state, the same user's key. */
  g_autofree char *other = test_tmpdir_new ();
  g_autofree char *pub_dir = g_build_filename (other, "server-keys", NULL);
  g_assert_cmpint (g_mkdir (pub_dir, 0755), ==, 0);
  g_autoptr (GDir) keys = g_dir_open (o.keys, 0, NULL);
  g_assert_nonnull (keys);
  for (const char *n = g_dir_read_name (keys); n != NULL; n = g_dir_read_name (keys))
    if (g_str_has_suffix (n, ".pub"))
      {
        g_autofree char *src = g_build_filename (o.keys, n, NULL);
        g_autofree char *dst = g_build_filename (pub_dir, n, NULL);
        test_copy_file (src, dst, 0644);
      }
  write_conf (other, o.url, pub_dir, NULL);
  g_assert_cmpint (chown (other, NOBODY, NOBODY), ==, 0);
  g_autofree char *conf_b = g_build_filename (other, "online.conf", NULL);
  const char *mid_b_args[] = { "--config", conf_b, "machine-id", NULL };
  g_autofree char *mid_b = NULL;
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_as_other_machine (&o, other, mid_b_args, &mid_b, &err), ==, 0);
  g_strstrip (mid_b);
  g_assert_cmpstr (mid_b, !=, this_mid);
  const char *activate_b[]
      = { "--config", conf_b, "activate", "--product", "KRE", "--api-key", o.api_key, NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_as_other_machine (&o, other, activate_b, &out, &err), ==, 0);
  g_autofree char *there = NULL;
  g_assert_cmpuint (online_sessions (&o, &there), ==, 1);
  g_assert_cmpstr (there, ==, mid_b);

  g_autofree char *moved = g_strdup_printf ("moved to machine %s", mid_b);
  const char *validate[] = { "--config", "@DIR@/online.conf", "validate", "--product",
                             "KRE",      "--api-key",         o.api_key,  NULL };
  for (int i = 0; i < 3; i++)
    {
      cli_expect (&o, 2, validate, &out, &err);
      assert_one_line (err, moved);
      g_assert_cmpstr (out, ==, "");
      /* Still on the second machine: validate took nothing back. */
      g_clear_pointer (&there, g_free);
      g_assert_cmpuint (online_sessions (&o, &there), ==, 1);
      g_assert_cmpstr (there, ==, mid_b);
    }
  const char *stored_only[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", "--stored-only", NULL };
  cli_expect (&o, 2, stored_only, &out, &err);
  assert_one_line (err, moved);
  const char *status[] = { "--config", "@DIR@/online.conf", "status", NULL };
  cli_expect (&o, 0, status, &out, &err);
  g_autofree char *want = g_strdup_printf (
      "^unusable: KRE node-locked license .* from testops.*\n  reason: .*%s", moved);
  assert_matches ("stdout", want, out);
  g_clear_pointer (&there, g_free);
  g_assert_cmpuint (online_sessions (&o, &there), ==, 1);
  g_assert_cmpstr (there, ==, mid_b);

  /* Taking it back is an explicit activate; the old reason goes then. */
  cli_expect (&o, 0, activate, &out, &err);
  g_clear_pointer (&here, g_free);
  g_assert_cmpuint (online_sessions (&o, &here), ==, 1);
  g_assert_cmpstr (here, ==, this_mid);
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  cli_expect (&o, 0, status, &out, &err);
  g_unsetenv ("TESSERA_API_KEY");
  assert_matches ("stdout", "^usable: KRE node-locked license [^\n]*\n$", out);
  test_rm_rf (other);
  online_tear_down (&o);
}

/* A revoked grant: the first validate learns it from the server, and the
 * next ones, status and validate --stored-only keep saying "revoked"
 * without asking, and no seat is taken; a new activation clears it. */
static void
test_revoked (void)
{
  Online o = { 0 };
  online_set_up (&o, "node-locked", 2, NULL);
  write_conf (o.f.dir, o.url, o.keys, NULL);
  const char *activate[] = { "--config", "@DIR@/online.conf", "activate", "--product",
                             "KRE",      "--api-key",         o.api_key,  NULL };
  g_autofree char *out = NULL, *err = NULL;
  cli_expect (&o, 0, activate, &out, &err);
  g_assert_cmpuint (online_sessions (&o, NULL), ==, 1);

  GError *error = NULL;
  TsStore *store = ts_store_open (o.db, &error);
  g_assert_no_error (error);
  ts_store_revoke_grant (store, NULL, "acme", o.pool, o.member_id, now_s (), &error);
  g_assert_no_error (error);
  ts_store_close (store);

  const char *validate[] = { "--config", "@DIR@/online.conf", "validate", "--product",
                             "KRE",      "--api-key",         o.api_key,  NULL };
  for (int i = 0; i < 3; i++)
    {
      cli_expect (&o, 2, validate, &out, &err);
      assert_one_line (err, "revoked");
      g_assert_null (strstr (err, "no stored"));
      g_assert_null (strstr (err, "you have no"));
    }
  const char *stored_only[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", "--stored-only", NULL };
  cli_expect (&o, 2, stored_only, &out, &err);
  assert_one_line (err, "revoked");
  const char *json[] = { "--config", "@DIR@/online.conf", "--json", "status", NULL };
  cli_expect (&o, 0, json, &out, &err);
  g_autoptr (JsonObject) st = parse_object (out);
  JsonArray *list = json_object_get_array_member (st, "licenses");
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  JsonObject *l = json_array_get_object_element (list, 0);
  g_assert_false (json_object_get_boolean_member (l, "usable"));
  JsonObject *e = json_object_get_object_member (l, "error");
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, "revoked");
  g_assert_cmpuint (online_sessions (&o, NULL), ==, 0);

  /* Granted again: activate takes a new seat and the old reason is gone. */
  store = ts_store_open (o.db, &error);
  g_assert_no_error (error);
  ts_store_grant (store, NULL, "acme", o.pool, o.member_id, now_s (), &error);
  g_assert_no_error (error);
  ts_store_close (store);
  cli_expect (&o, 0, activate, &out, &err);
  const char *status[] = { "--config", "@DIR@/online.conf", "status", NULL };
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  cli_expect (&o, 0, status, &out, &err);
  assert_matches ("stdout", "^usable: KRE node-locked license [^\n]*\n$", out);
  cli_expect (&o, 0, validate, &out, &err);
  g_unsetenv ("TESSERA_API_KEY");
  online_tear_down (&o);
}

/* A kept record edited by hand (a feature added): status says it is
 * unusable and why, validate fails with one line, release still frees its
 * seat (test-testops-records has every other edit). */
static void
test_edited_record (void)
{
  Online o = { 0 };
  online_set_up (&o, "floating", 1, NULL);
  write_conf (o.f.dir, o.url, o.keys, NULL);
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  const char *activate[]
      = { "--config", "@DIR@/online.conf", "activate", "--product", "KRE", NULL };
  g_autofree char *out = NULL, *err = NULL;
  cli_expect (&o, 0, activate, &out, &err);
  g_autofree char *state = fixture_file (&o.f, "state");
  g_autoptr (GDir) d = g_dir_open (state, 0, NULL);
  g_assert_nonnull (d);
  g_autofree char *path = g_build_filename (state, g_dir_read_name (d), NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL));
  g_key_file_set_string (kf, "session", "features", "premium;");
  g_assert_true (g_key_file_save_to_file (kf, path, NULL));

  const char *status[] = { "--config", "@DIR@/online.conf", "status", NULL };
  cli_expect (&o, 0, status, &out, &err);
  assert_matches ("stdout",
                  "^unusable: KRE floating license [^\n]*\n  reason: [^\n]*its features key "
                  "differs from what the server signed[^\n]*'tessera activate --product KRE'",
                  out);
  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", NULL };
  cli_expect (&o, 7, validate, &out, &err);
  assert_one_line (err, "its features key differs from what the server signed");
  const char *release[] = { "--config", "@DIR@/online.conf", "release", "--product", "KRE", NULL };
  cli_expect (&o, 0, release, &out, &err);
  g_assert_cmpuint (online_sessions (&o, NULL), ==, 0);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_unsetenv ("TESSERA_API_KEY");
  online_tear_down (&o);
}

/* ---- the grace counts from the last signed answer ---- */

/* A kept session validated (a signed answer) after the activation, then
 * the server dies: a validate past lease + grace counted from the
 * activation, but within it counted from that validation, still passes;
 * once that runs out, the message states the real time since that answer.
 * The server and every tessera share a faked wall clock (tests/faked-clock.h)
 * that the test moves: the points in time are exact, not slept for. Real
 * time passing between steps only moves each point later, which the bounds
 * below allow for, measured on the same faked clock. */
static void
test_grace_from_last_answer (void)
{
  const gint64 lease = 3600, grace = 600;
  /* The faked clock's offsets (seconds after the activation, besides the
   * real time that passes): a validation well inside the lease; a check
   * past lease + grace since the activation but within it since the
   * validation; one past it since the validation too. */
  const gint64 at_validate = lease - 600, at_within = lease + grace + 1,
               at_past = at_validate + lease + grace + 600;
  g_autofree char *lease_arg = g_strdup_printf ("%" G_GINT64_FORMAT, lease);
  const char *extra[] = { "--lease", lease_arg, NULL };
  Online o = { 0 };
  g_autofree char *clock_dir = test_tmpdir_new ();
  g_autofree char *clock = faked_clock_begin (clock_dir);
  online_set_up (&o, "floating", 1, extra);
  g_autofree char *conf_extra = g_strdup_printf ("grace-seconds=%" G_GINT64_FORMAT "\n", grace);
  write_conf (o.f.dir, o.url, o.keys, conf_extra);
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  const char *activate[]
      = { "--config", "@DIR@/online.conf", "activate", "--product", "KRE", NULL };
  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", NULL };
  g_autofree char *out = NULL, *err = NULL;
  gint64 before_activation = g_get_real_time () / G_USEC_PER_SEC;
  cli_expect (&o, 0, activate, &out, &err);

  /* A signed answer well after the activation (before the lease ends). */
  faked_clock_set (clock, at_validate);
  gint64 v_start = g_get_real_time () / G_USEC_PER_SEC + at_validate;
  cli_expect (&o, 0, validate, &out, &err);
  gint64 v_end = g_get_real_time () / G_USEC_PER_SEC + at_validate + 1;

  server_util_terminate (o.proc);
  g_clear_object (&o.proc);
  /* Past lease + grace since the activation: within it since the validation. */
  faked_clock_set (clock, at_within);
  g_assert_cmpint (g_get_real_time () / G_USEC_PER_SEC + at_within, >,
                   before_activation + lease + grace);
  cli_expect (&o, 0, validate, &out, &err);
  assert_matches ("stdout", "^valid: KRE floating license", out);

  /* Past the grace since the validation: the real time is stated. */
  faked_clock_set (clock, at_past);
  gint64 x_start = g_get_real_time () / G_USEC_PER_SEC + at_past;
  cli_expect (&o, 6, validate, &out, &err);
  gint64 x_end = g_get_real_time () / G_USEC_PER_SEC + at_past + 1;
  faked_clock_end ();
  assert_one_line (err, "no verified answer from the license server .* for [0-9]+ seconds \\(last "
                        "at [^)]*\\): the grace ran out");
  const char *at = strstr (err, " for ");
  gint64 silent = g_ascii_strtoll (at + strlen (" for "), NULL, 10);
  /* Counted from the validation (not the activation, not the allowance):
   * between the two readings of the faked clock around each command. */
  g_assert_cmpint (silent, >=, x_start - v_end);
  g_assert_cmpint (silent, <=, x_end - v_start);
  g_assert_cmpint (silent, >, lease + grace);
  g_unsetenv ("TESSERA_API_KEY");
  online_tear_down (&o);
}

/* The clock set back to stretch the grace (docs/security.md), with the
 * real attack tool: libfaketime moves the wall clock of every tessera the
 * test runs (tests/faked-clock.h). Activated against the real server, which
 * is then stopped, so only the grace could keep the session. Past lease +
 * grace the session is refused; set back before the last signed answer, it
 * gets no grace at all (validate and status both say why: a rolled-back
 * clock would otherwise restart the grace); moved forward within the grace
 * (past the lease), the grace holds, so the kept session was refused, not
 * forgotten. */
static void
test_grace_clock_set_back (void)
{
  const gint64 lease = 3600, grace = 600;
  g_autofree char *lease_arg = g_strdup_printf ("%" G_GINT64_FORMAT, lease);
  const char *extra[] = { "--lease", lease_arg, NULL };
  Online o = { 0 };
  g_autofree char *clock_dir = test_tmpdir_new ();
  g_autofree char *clock = faked_clock_begin (clock_dir);
  online_set_up (&o, "floating", 1, extra);
  g_autofree char *conf_extra = g_strdup_printf ("grace-seconds=%" G_GINT64_FORMAT "\n", grace);
  write_conf (o.f.dir, o.url, o.keys, conf_extra);
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  const char *activate[]
      = { "--config", "@DIR@/online.conf", "activate", "--product", "KRE", NULL };
  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", NULL };
  const char *status[] = { "--config", "@DIR@/online.conf", "status", "--product", "KRE", NULL };
  const char *json[]
      = { "--config", "@DIR@/online.conf", "--json", "status", "--product", "KRE", NULL };
  g_autofree char *out = NULL, *err = NULL;
  /* The last signed answer: the activation's. */
  cli_expect (&o, 0, activate, &out, &err);
  server_util_terminate (o.proc);
  g_clear_object (&o.proc);

  /* What the set-back tries to undo: past lease + grace, no more grace. */
  faked_clock_set (clock, lease + grace + 600);
  cli_expect (&o, 6, validate, &out, &err);
  assert_one_line (err, "for [0-9]+ seconds \\(last at [^)]*\\): the grace ran out");

  /* Set back before that answer (the real time passing since is far less
   * than the 600 s here): no grace, whatever the lease said. */
  const char *behind = "clock is before its last answer \\([^)]*\\): no grace without a new "
                       "answer";
  faked_clock_set (clock, -600);
  cli_expect (&o, 6, validate, &out, &err);
  assert_one_line (err, behind);
  assert_matches ("stderr",
                  "^tessera validate: cannot reach the license server .*; no verified answer "
                  "from the license server http://127\\.0\\.0\\.1:[0-9]+, and this machine's "
                  "clock is before",
                  err);
  cli_expect (&o, 0, status, &out, &err);
  assert_matches ("stdout", "^unusable: ", out);
  g_autofree char *reason = g_strconcat ("\n  reason: .*", behind, NULL);
  assert_matches ("stdout", reason, out);
  cli_expect (&o, 0, json, &out, &err);
  assert_matches ("stdout", "\"usable\" *: *false", out);
  assert_matches ("stdout", "\"code\" *: *\"network\"", out);
  assert_matches ("stdout", behind, out);

  /* Forward, past the lease but within the grace (the real time passing
   * since the activation is far less than grace / 2): the grace holds. */
  faked_clock_set (clock, lease + grace / 2);
  cli_expect (&o, 0, validate, &out, &err);
  assert_matches ("stdout", "^valid: KRE floating license", out);
  cli_expect (&o, 0, status, &out, &err);
  assert_matches ("stdout", "^usable: ", out);
  faked_clock_end ();
  g_unsetenv ("TESSERA_API_KEY");
  online_tear_down (&o);
}

int
main (int argc, char **argv)
{
  cli_online_init (&argc, &argv);
  g_test_add_func ("/cli-online/validate/moved", test_moved);
  g_test_add_func ("/cli-online/validate/revoked", test_revoked);
  g_test_add_func ("/cli-online/status/edited-record", test_edited_record);
  g_test_add_func ("/cli-online/grace/last-answer", test_grace_from_last_answer);
  g_test_add_func ("/cli-online/grace/clock-set-back", test_grace_clock_set_back);
  return cli_online_run ();
}
