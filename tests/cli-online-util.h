/* Shared by the tests of tessera against the real tessera-server
 * (test-cli-online*.c): the server with an org, a member, her API key and a
 * pool (Online, on the fixture of tests/cli-util.h), its live sessions, and
 * tessera run to its end or spawned. */
#pragma once

#include "server-util.h"
#include "cli-util.h"

#include <errno.h>
#include <signal.h>

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
static inline void
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
static inline void
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

static inline void
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
static inline guint
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
static inline void
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
static inline int
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

static inline GSubprocess *
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

/* Every program's start: GTest and the issuer's files. */
static inline void
cli_online_init (int *argc, char ***argv)
{
  g_test_init (argc, argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  cli_files_set_up ();
}

/* Runs the cases added; every program's end. */
static inline int
cli_online_run (void)
{
  int rc = g_test_run ();
  cli_files_tear_down ();
  return rc;
}
