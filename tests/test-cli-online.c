/* tessera (tools/tessera*.c) against the real tessera-server, for what a
 * user meets when a kept session ends or the server goes quiet (issue 16):
 * validate never takes a seat (a node-locked license moved to a second
 * machine stays there) and keeps saying why a session ended (revoked, seen
 * by every later validate and status); a kept record edited by hand is
 * shown unusable with the reason; the grace counts from the last
 * signed answer, and its message states the real time since; a hung server
 * costs one request bounded by timeout-seconds, and `run` exits once its
 * command stopped; `run --wait` shows its progress on a terminal and one
 * final line elsewhere. The fixture is tests/cli-util.h; a second machine is
 * another user (the machine ID includes the account), run with setpriv. */
#include "server-util.h"
#include "cli-util.h"
#include "faked-clock.h"

#include <errno.h>
#include <signal.h>

/* ---- a loopback forwarder that can hang ---- */

/* Forwards every request to the server, or (hang) reads it and never
 * answers: a server whose socket accepts and then says nothing. */
typedef struct
{
  GSocketListener *listener;
  GCancellable *cancel;
  GThread *thread;
  char *target; /* host:port of the server */
  char *url;    /* http://127.0.0.1:PORT of this forwarder */
  gint hang;    /* (atomic) */
  GMutex lock;
  GPtrArray *workers;
  GPtrArray *hung;   /* request lines left unanswered, in order */
  GPtrArray *events; /* "hang" and "gave-up" (the client closed), in order */
  guint connections;
} Fwd;

typedef struct
{
  Fwd *p;
  GSocketConnection *client;
} FwdConn;

static gpointer
fwd_conn_thread (gpointer data)
{
  FwdConn *c = data;
  Fwd *p = c->p;
  GSocketConnection *server = NULL;
  GInputStream *cin = g_io_stream_get_input_stream (G_IO_STREAM (c->client));
  GOutputStream *cout = g_io_stream_get_output_stream (G_IO_STREAM (c->client));
  for (;;)
    {
      GString *req = server_util_read_message (cin, p->cancel, NULL);
      if (req == NULL)
        break;
      if (g_atomic_int_get (&p->hang))
        {
          const char *eol = strstr (req->str, " HTTP/");
          g_mutex_lock (&p->lock);
          g_ptr_array_add (p->hung, g_strndup (req->str, eol ? (gsize) (eol - req->str) : 0));
          g_ptr_array_add (p->events, g_strdup ("hang"));
          g_mutex_unlock (&p->lock);
          g_string_free (req, TRUE);
          /* Say nothing until the client gives up (EOF) or the test ends. */
          char byte;
          while (g_input_stream_read (cin, &byte, 1, p->cancel, NULL) > 0)
            ;
          g_mutex_lock (&p->lock);
          g_ptr_array_add (p->events, g_strdup ("gave-up"));
          g_mutex_unlock (&p->lock);
          break;
        }
      if (server == NULL)
        {
          GSocketClient *sc = g_socket_client_new ();
          /* Loopback: no proxy (and no GSettings lookup for one). */
          g_socket_client_set_enable_proxy (sc, FALSE);
          server = g_socket_client_connect_to_host (sc, p->target, 0, p->cancel, NULL);
          g_object_unref (sc);
        }
      gboolean sent
          = server != NULL
            && g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (server)),
                                          req->str, req->len, NULL, p->cancel, NULL);
      g_string_free (req, TRUE);
      GString *resp = sent ? server_util_read_message (
                          g_io_stream_get_input_stream (G_IO_STREAM (server)), p->cancel, NULL)
                           : NULL;
      if (resp == NULL)
        break;
      g_output_stream_write_all (cout, resp->str, resp->len, NULL, p->cancel, NULL);
      g_string_free (resp, TRUE);
    }
  g_io_stream_close (G_IO_STREAM (c->client), NULL, NULL);
  g_object_unref (c->client);
  if (server != NULL)
    {
      g_io_stream_close (G_IO_STREAM (server), NULL, NULL);
      g_object_unref (server);
    }
  g_free (c);
  return NULL;
}

static gpointer
fwd_accept_thread (gpointer data)
{
  Fwd *p = data;
  for (;;)
    {
      GSocketConnection *client = g_socket_listener_accept (p->listener, NULL, p->cancel, NULL);
      if (client == NULL)
        break;
      FwdConn *c = g_new0 (FwdConn, 1);
      c->p = p;
      c->client = client;
      g_mutex_lock (&p->lock);
      p->connections++;
      g_ptr_array_add (p->workers, g_thread_new ("fwd-conn", fwd_conn_thread, c));
      g_mutex_unlock (&p->lock);
    }
  return NULL;
}

static Fwd *
fwd_start (const char *server_url)
{
  Fwd *p = g_new0 (Fwd, 1);
  p->target = g_strdup (server_url + strlen ("http://"));
  p->cancel = g_cancellable_new ();
  p->workers = g_ptr_array_new ();
  p->hung = g_ptr_array_new_with_free_func (g_free);
  p->events = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&p->lock);
  p->listener = g_socket_listener_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) effective = NULL;
  GError *error = NULL;
  g_socket_listener_add_address (p->listener, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  p->url = g_strdup_printf ("http://127.0.0.1:%u",
                            g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));
  p->thread = g_thread_new ("fwd", fwd_accept_thread, p);
  return p;
}

/* How many requests for @path ("/release"; NULL: any) it left unanswered. */
static guint
fwd_hung (Fwd *p, const char *path)
{
  g_autofree char *line = path ? g_strconcat ("POST /api/v1", path, NULL) : NULL;
  guint n = 0;
  g_mutex_lock (&p->lock);
  for (guint i = 0; i < p->hung->len; i++)
    n += line == NULL || g_str_equal (p->hung->pdata[i], line);
  g_mutex_unlock (&p->lock);
  return n;
}

/* How many requests it had left hanging when a client first gave up on one
 * (all of them if none gave up yet). */
static guint
fwd_hung_before_first_give_up (Fwd *p)
{
  guint n = 0;
  g_mutex_lock (&p->lock);
  for (guint i = 0; i < p->events->len && g_str_equal (p->events->pdata[i], "hang"); i++)
    n++;
  g_mutex_unlock (&p->lock);
  return n;
}

static void
fwd_reset_events (Fwd *p)
{
  g_mutex_lock (&p->lock);
  g_ptr_array_set_size (p->events, 0);
  g_ptr_array_set_size (p->hung, 0);
  g_mutex_unlock (&p->lock);
}

static void
fwd_free (Fwd *p)
{
  g_cancellable_cancel (p->cancel);
  g_thread_join (p->thread);
  g_socket_listener_close (p->listener);
  for (guint i = 0; i < p->workers->len; i++)
    g_thread_join (p->workers->pdata[i]);
  g_object_unref (p->listener);
  g_object_unref (p->cancel);
  g_ptr_array_unref (p->workers);
  g_ptr_array_unref (p->hung);
  g_ptr_array_unref (p->events);
  g_mutex_clear (&p->lock);
  g_free (p->target);
  g_free (p->url);
  g_free (p);
}

/* ---- the server and its users ---- */

typedef struct
{
  Fixture f;
  char *db, *keys, *log, *url, *owner_id, *member_id, *api_key, *pool;
  GSubprocess *proc;
} Online;

/* A server (extra arguments @extra) with a KRE pool of @kind and @quota
 * in org acme, a member (granted the pool when node-locked) and her API
 * key; online.conf points testops at @via (NULL: the server itself) with
 * @extra_conf lines, keys given on the command line only (env-only). */
static void
online_set_up (Online *o, const char *kind, gint64 quota, const char *const *extra)
{
  fixture_set_up (&o->f);
  o->db = fixture_file (&o->f, "tessera.db");
  o->keys = fixture_file (&o->f, "server-keys");
  o->log = fixture_file (&o->f, "server.log");
  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (o->db, &error);
  g_assert_no_error (error);
  o->owner_id = ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", now, &error);
  g_assert_no_error (error);
  o->member_id
      = ts_store_set_member (store, NULL, "acme", "member@acme.test", TS_ROLE_MEMBER, now, &error);
  g_assert_no_error (error);
  g_autofree char *key_id = NULL;
  o->api_key = ts_store_create_api_key (store, o->member_id, "cli", now, &key_id, &error);
  g_assert_no_error (error);
  o->pool = server_util_create_pool (store, kind, quota, now);
  if (g_str_equal (kind, "node-locked"))
    {
      ts_store_grant (store, NULL, "acme", o->pool, o->member_id, now, &error);
      g_assert_no_error (error);
    }
  ts_store_close (store);
  o->proc = server_util_spawn (o->db, o->keys, o->log, extra, TRUE, &o->url);
}

/* Writes @dir/online.conf for the server at @url. */
static void
write_conf (const char *dir, const char *url, const char *keys, const char *extra_conf)
{
  g_autofree char *conf = g_build_filename (dir, "online.conf", NULL);
  g_autofree char *text
      = g_strdup_printf ("[engine]\nproviders=testops\nproducts=KRE\n[provider:testops]\n"
                         "server=%s\nallow-http=true\nkey-storage=env-only\nstate-dir=state\n"
                         "server-key=%s\n%s",
                         url, keys, extra_conf ? extra_conf : "");
  write_text (conf, text);
}

static void
online_tear_down (Online *o)
{
  if (o->proc != NULL)
    {
      server_util_terminate (o->proc);
      g_object_unref (o->proc);
    }
  g_free (o->db);
  g_free (o->keys);
  g_free (o->log);
  g_free (o->url);
  g_free (o->owner_id);
  g_free (o->member_id);
  g_free (o->api_key);
  g_free (o->pool);
  fixture_tear_down (&o->f);
}

/* The live sessions of the pool; *@machine (nullable): the first one's. */
static guint
online_sessions (Online *o, char **machine)
{
  GError *error = NULL;
  TsStore *store = ts_store_open (o->db, &error);
  g_assert_no_error (error);
  GPtrArray *list = ts_store_list_sessions (store, o->owner_id, "acme", o->pool, now_s (), &error);
  g_assert_no_error (error);
  guint n = list->len;
  if (machine != NULL)
    *machine = n > 0 ? g_strdup (((TsSession *) list->pdata[0])->machine_id) : NULL;
  g_ptr_array_unref (list);
  ts_store_close (store);
  return n;
}

/* tessera with @args in @o's folder; asserts exit status @code. */
static void
cli_expect (Online *o, int code, const char *const *args, char **out, char **err)
{
  g_clear_pointer (out, g_free);
  g_clear_pointer (err, g_free);
  int rc = run_cli (&o->f, args, out, err);
  if (rc != code)
    g_error ("tessera %s %s: exit %d, not %d\nstdout: %s\nstderr: %s", args[2], args[3], rc, code,
             *out, *err);
}

/* Waits for @p to end, at most @seconds (a bound on a hang, never a
 * measure of speed): its exit status, stderr in *@err. */
static int
wait_bounded (GSubprocess *p, int seconds, char **err)
{
  for (int i = 0; i < seconds * 20 && g_subprocess_get_identifier (p) != NULL; i++)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (50000);
    }
  if (g_subprocess_get_identifier (p) != NULL)
    {
      g_subprocess_force_exit (p);
      g_error ("tessera did not exit within %d s", seconds);
    }
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_subprocess_communicate (p, NULL, NULL, NULL, &bytes, &error);
  g_assert_no_error (error);
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  *err = g_strndup (data, len);
  strip_valgrind_lines (err);
  g_assert_true (g_subprocess_get_if_exited (p));
  return g_subprocess_get_exit_status (p);
}

static GSubprocess *
spawn_cli (Fixture *f, const char *const *args)
{
  g_autoptr (GPtrArray) argv = cli_argv (f, args);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_cwd (l, f->dir);
  g_subprocess_launcher_setenv (l, "LC_ALL", "C", TRUE);
  GSubprocess *p = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  return p;
}

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

/* The clock set back behind the last signed answer, with the server gone:
 * no grace at all (a rolled-back clock would otherwise stretch it), and the
 * message says why; the real clock back, the grace holds again. */
static void
test_grace_clock_set_back (void)
{
  const char *extra[] = { "--lease", "3600", NULL };
  Online o = { 0 };
  g_autofree char *clock_dir = test_tmpdir_new ();
  g_autofree char *clock = faked_clock_begin (clock_dir);
  online_set_up (&o, "floating", 1, extra);
  write_conf (o.f.dir, o.url, o.keys, "grace-seconds=600\n");
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  const char *activate[]
      = { "--config", "@DIR@/online.conf", "activate", "--product", "KRE", NULL };
  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", NULL };
  g_autofree char *out = NULL, *err = NULL;
  cli_expect (&o, 0, activate, &out, &err);
  server_util_terminate (o.proc);
  g_clear_object (&o.proc);

  faked_clock_set (clock, -3600);
  cli_expect (&o, 6, validate, &out, &err);
  assert_one_line (err, "clock is before its last answer \\([^)]*\\): no grace without a new "
                        "answer");
  /* Refused, not forgotten: the kept session is still there for later. */
  faked_clock_set (clock, 0);
  cli_expect (&o, 0, validate, &out, &err);
  assert_matches ("stdout", "^valid: KRE floating license", out);
  faked_clock_end ();
  g_unsetenv ("TESSERA_API_KEY");
  online_tear_down (&o);
}

/* ---- a hung server ---- */

/* A server with @sessions floating KRE seats behind a forwarder, a kept
 * session on each (tessera activate), then the forwarder hangs. */
static Fwd *
hung_set_up (Online *o, guint sessions)
{
  online_set_up (o, "floating", sessions, NULL);
  Fwd *fwd = fwd_start (o->url);
  write_conf (o->f.dir, fwd->url, o->keys, "timeout-seconds=2\n");
  g_setenv ("TESSERA_API_KEY", o->api_key, TRUE);
  const char *activate[]
      = { "--config", "@DIR@/online.conf", "activate", "--product", "KRE", NULL };
  g_autofree char *out = NULL, *err = NULL;
  for (guint i = 0; i < sessions; i++)
    cli_expect (o, 0, activate, &out, &err);
  g_assert_cmpuint (online_sessions (o, NULL), ==, sessions);
  g_atomic_int_set (&fwd->hang, 1);
  return fwd;
}

/* validate against a server that accepts and never answers: one request,
 * given up after timeout-seconds (no retries past it); within the lease the
 * last known state holds. */
static void
test_hung_validate (void)
{
  Online o = { 0 };
  Fwd *fwd = hung_set_up (&o, 1);

  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", NULL };
  g_autoptr (GSubprocess) p = spawn_cli (&o.f, validate);
  g_autofree char *verr = NULL;
  g_assert_cmpint (wait_bounded (p, 60, &verr), ==, 0);
  g_assert_cmpuint (fwd_hung (fwd, "/heartbeat"), ==, 1);

  g_unsetenv ("TESSERA_API_KEY");
  fwd_free (fwd);
  online_tear_down (&o);
}

/* Two kept sessions and a server that accepts and never answers: status
 * and validate ask about both at once, so the command waits one
 * timeout-seconds, not one per session. Shown by order, not by time: the
 * second request reaches the server before the client gives up the first. */
static void
test_hung_several (void)
{
  Online o = { 0 };
  Fwd *fwd = hung_set_up (&o, 2);

  const char *status[] = { "--config", "@DIR@/online.conf", "status", "--product", "KRE", NULL };
  const char *validate[]
      = { "--config", "@DIR@/online.conf", "validate", "--product", "KRE", NULL };
  const char *const *commands[] = { status, validate };
  for (guint c = 0; c < G_N_ELEMENTS (commands); c++)
    {
      fwd_reset_events (fwd);
      g_autoptr (GSubprocess) p = spawn_cli (&o.f, commands[c]);
      g_autofree char *perr = NULL;
      /* Within the lease, the last signed state holds for both. */
      g_assert_cmpint (wait_bounded (p, 120, &perr), ==, 0);
      g_assert_cmpuint (fwd_hung (fwd, "/heartbeat"), ==, 2);
      g_assert_cmpuint (fwd_hung_before_first_give_up (fwd), ==, 2);
    }
  g_unsetenv ("TESSERA_API_KEY");
  fwd_free (fwd);
  online_tear_down (&o);
}

/* `run`: the command stops while the server hangs; tessera releases once,
 * bounded by timeout-seconds, says the seat frees when its lease runs out,
 * and exits with the command's status. */
static void
test_hung_run (void)
{
  Online o = { 0 };
  online_set_up (&o, "floating", 1, NULL);
  Fwd *fwd = fwd_start (o.url);
  write_conf (o.f.dir, fwd->url, o.keys, "timeout-seconds=2\n");
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  const char *run[]
      = { "--config",
          "@DIR@/online.conf",
          "run",
          "--product",
          "KRE",
          "--check-interval",
          "0",
          "--",
          "sh",
          "-c",
          "touch @DIR@/started; while [ ! -e @DIR@/stop ]; do sleep 0.1; done; exit 3",
          NULL };
  g_autoptr (GSubprocess) p = spawn_cli (&o.f, run);
  g_autofree char *started = fixture_file (&o.f, "started");
  for (int i = 0; i < 6000 && !g_file_test (started, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_assert_true (g_file_test (started, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (online_sessions (&o, NULL), ==, 1);
  g_atomic_int_set (&fwd->hang, 1);
  g_autofree char *stop = fixture_file (&o.f, "stop");
  write_text (stop, "");
  g_autofree char *err = NULL;
  g_assert_cmpint (wait_bounded (p, 60, &err), ==, 3);
  assert_one_line (err, "^tessera run: warning: the license was not released \\(.*no answer within "
                        "2 s.*\\): its seat frees when its lease runs out");
  g_assert_cmpuint (fwd_hung (fwd, "/release"), ==, 1);
  g_unsetenv ("TESSERA_API_KEY");
  fwd_free (fwd);
  online_tear_down (&o);
}

/* ---- run --wait: progress ---- */

/* Holds the one seat with `run` until killed; returns it once the seat is
 * taken. */
static GSubprocess *
hold_seat (Online *o)
{
  const char *holder[] = { "--config",
                           "@DIR@/online.conf",
                           "run",
                           "--product",
                           "KRE",
                           "--",
                           "sh",
                           "-c",
                           "touch @DIR@/holding; exec sleep 600",
                           NULL };
  GSubprocess *p = spawn_cli (&o->f, holder);
  g_autofree char *holding = fixture_file (&o->f, "holding");
  for (int i = 0; i < 6000 && !g_file_test (holding, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_assert_true (g_file_test (holding, G_FILE_TEST_EXISTS));
  return p;
}

/* Not a terminal: one line at the end, nothing while waiting. On a
 * terminal (script(1) gives it a pty): the time waited, the time left and
 * the seats in use of how many. */
static void
test_wait_progress (void)
{
  Online o = { 0 };
  online_set_up (&o, "floating", 1, NULL);
  write_conf (o.f.dir, o.url, o.keys, NULL);
  g_setenv ("TESSERA_API_KEY", o.api_key, TRUE);
  g_autoptr (GSubprocess) holder = hold_seat (&o);

  const char *waiter[]
      = { "--config", "@DIR@/online.conf", "run", "--product", "KRE", "--wait", "3", "--", "true",
          NULL };
  g_autofree char *out = NULL, *err = NULL;
  cli_expect (&o, 4, waiter, &out, &err);
  assert_one_line (
      err, "^tessera run: testops: no seat within 3 seconds: .*all 1 KRE floating licenses");
  g_assert_cmpstr (out, ==, "");

  g_autofree char *script = g_find_program_in_path ("script");
  if (script == NULL)
    g_test_message ("script(1) not found: the terminal form is not tested");
  else
    {
      g_autoptr (GPtrArray) argv = cli_argv (&o.f, waiter);
      g_autoptr (GString) command = g_string_new (NULL);
      for (guint i = 0; i < argv->len - 1; i++)
        {
          g_autofree char *q = g_shell_quote (argv->pdata[i]);
          g_string_append_printf (command, "%s%s", i ? " " : "", q);
        }
      /* stdout of script(1) is what the pty showed (stderr included). */
      const char *sargv[] = { script, "-qec", command->str, "/dev/null", NULL };
      g_auto (GStrv) env = g_get_environ ();
      env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
      g_autofree char *tty = NULL, *tty_err = NULL;
      int status = 0;
      g_autoptr (GError) error = NULL;
      g_spawn_sync (o.f.dir, (char **) sargv, env, 0, NULL, NULL, &tty, &tty_err, &status, &error);
      g_assert_no_error (error);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 4);
      assert_matches ("terminal", "waiting for a KRE seat: [0-9]+ s, [0-9]+ s left, 1 of 1 in use",
                      tty);
      assert_matches ("terminal", "tessera run: testops: no seat within 3 seconds", tty);
    }
  g_subprocess_send_signal (holder, SIGTERM);
  g_autofree char *herr = NULL;
  wait_bounded (holder, 60, &herr);
  g_unsetenv ("TESSERA_API_KEY");
  online_tear_down (&o);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  cli_files_set_up ();
  g_test_add_func ("/cli-online/validate/moved", test_moved);
  g_test_add_func ("/cli-online/validate/revoked", test_revoked);
  g_test_add_func ("/cli-online/status/edited-record", test_edited_record);
  g_test_add_func ("/cli-online/grace/last-answer", test_grace_from_last_answer);
  g_test_add_func ("/cli-online/grace/clock-set-back", test_grace_clock_set_back);
  g_test_add_func ("/cli-online/hung/validate", test_hung_validate);
  g_test_add_func ("/cli-online/hung/several", test_hung_several);
  g_test_add_func ("/cli-online/hung/run", test_hung_run);
  g_test_add_func ("/cli-online/run/wait-progress", test_wait_progress);
  int rc = g_test_run ();
  cli_files_tear_down ();
  return rc;
}
