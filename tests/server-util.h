/* Helpers shared by the tests that run the real tessera-server
 * ($TESSERA_SERVER) on 127.0.0.1, port 0, over a temporary SQLite file
 * bootstrapped through the store API (server/store.h). */
#pragma once

#include "store.h"

#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define DAY (24 * 3600)

static inline gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* A server outlives no failed test. */
static inline void
server_util_die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* Spawns $TESSERA_SERVER on @db and @keys, listening on 127.0.0.1 port 0,
 * stderr to @log, with @extra arguments (NULL-terminated, or NULL), and
 * waits for its "listening on" line; *@url (freed first) is the URL it
 * names. @no_leak_check: under AddressSanitizer, turn off the server's leak
 * check (LeakSanitizer's tracer crashes at exit over GnuTLS threads). */
static inline GSubprocess *
server_util_spawn (const char *db, const char *keys, const char *log, const char *const *extra,
                   gboolean no_leak_check, char **url)
{
  const char *bin = g_getenv ("TESSERA_SERVER");
  g_assert_nonnull (bin);
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) bin);
  g_ptr_array_add (argv, "--database");
  g_ptr_array_add (argv, (char *) db);
  g_ptr_array_add (argv, "--key-dir");
  g_ptr_array_add (argv, (char *) keys);
  g_ptr_array_add (argv, "--listen");
  g_ptr_array_add (argv, "127.0.0.1:0");
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) extra[i]);
  g_ptr_array_add (argv, NULL);
  GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_stderr_file_path (l, log);
  g_subprocess_launcher_set_child_setup (l, server_util_die_with_parent, NULL, NULL);
  const char *asan = g_getenv ("ASAN_OPTIONS");
  if (no_leak_check && asan != NULL)
    {
      char *opts = g_strdup_printf ("%s:detect_leaks=0", asan);
      g_subprocess_launcher_setenv (l, "ASAN_OPTIONS", opts, TRUE);
      g_free (opts);
    }
  GError *error = NULL;
  GSubprocess *proc = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_object_unref (l);
  g_ptr_array_free (argv, TRUE);

  GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "listening on http"));
  g_free (*url);
  *url = g_strdup (line + strlen ("listening on "));
  g_free (line);
  g_object_unref (in);
  return proc;
}

/* Sends SIGTERM to @proc and waits for it to end. */
static inline void
server_util_terminate (GSubprocess *proc)
{
  g_subprocess_send_signal (proc, SIGTERM);
  GError *error = NULL;
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
}

/* Creates an annual pool of @kind for product KRE in org acme, ending in a
 * year; returns its id. */
static inline char *
server_util_create_pool (TsStore *store, const char *kind, gint64 quota, gint64 now)
{
  GError *error = NULL;
  TsPool *p = ts_store_create_pool (store, NULL, "acme", "KRE", kind, "annual", quota,
                                    now + 365 * DAY, now, &error);
  g_assert_no_error (error);
  char *id = g_strdup (p->id);
  ts_pool_free (p);
  return id;
}
