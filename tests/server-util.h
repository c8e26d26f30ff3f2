/* Helpers shared by the tests that run the real tessera-server
 * ($TESSERA_SERVER) on 127.0.0.1, port 0, over a temporary SQLite file
 * bootstrapped through the store API (server/store.h). */
#pragma once

#include "store.h"

#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
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

/* The key-encryption key file that goes with @keys (a key directory's
 * path): created on first use, 64 random hexadecimal characters, 0600.
 * Returns: (transfer full): its path. */
static inline char *
server_util_kek_path (const char *keys)
{
  char *path = g_strconcat (keys, ".kek", NULL);
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return path;
  guint8 bytes[32];
  FILE *random = fopen ("/dev/urandom", "rb");
  g_assert_nonnull (random);
  g_assert_cmpuint (fread (bytes, 1, sizeof bytes, random), ==, sizeof bytes);
  fclose (random);
  GString *hex = g_string_new (NULL);
  for (guint i = 0; i < sizeof bytes; i++)
    g_string_append_printf (hex, "%02x", bytes[i]);
  g_string_append_c (hex, '\n');
  GError *error = NULL;
  g_assert_true (
      g_file_set_contents_full (path, hex->str, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error));
  g_assert_no_error (error);
  g_string_free (hex, TRUE);
  return path;
}

/* Spawns $TESSERA_SERVER on @db and @keys (a key directory; with a
 * PostgreSQL @db, server_util_kek_path() of it; NULL: none), listening on 127.0.0.1 port 0,
 * stderr to @log, with @extra arguments (NULL-terminated, or NULL), and
 * waits for its "listening on" line; *@url (freed first) is the URL it
 * names. @no_leak_check: under AddressSanitizer, turn off the server's leak
 * check (LeakSanitizer's tracer crashes at exit over GnuTLS threads).
 * @metrics_url (nullable): also waits for the "metrics listening on" line
 * that follows with --metrics-listen, and sets *@metrics_url (freed first)
 * to the URL it names. */
static inline GSubprocess *
server_util_spawn_full (const char *db, const char *keys, const char *log, const char *const *extra,
                        gboolean no_leak_check, char **url, char **metrics_url)
{
  const char *bin = g_getenv ("TESSERA_SERVER");
  g_assert_nonnull (bin);
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) bin);
  g_ptr_array_add (argv, "--database");
  g_ptr_array_add (argv, (char *) db);
  char *kek = NULL;
  if (keys == NULL)
    ; /* the caller's @extra says where the keys are */
  else if (g_str_has_prefix (db, "postgresql://") || g_str_has_prefix (db, "postgres://"))
    {
      /* Instances on PostgreSQL keep their signing keys in the database,
       * sealed with a key-encryption key: one per @keys, shared by every
       * server a test starts with the same @keys. */
      kek = server_util_kek_path (keys);
      g_ptr_array_add (argv, "--key-encryption-key");
      g_ptr_array_add (argv, kek);
    }
  else
    {
      g_ptr_array_add (argv, "--key-dir");
      g_ptr_array_add (argv, (char *) keys);
    }
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
  g_free (kek);

  GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "listening on http"));
  g_free (*url);
  *url = g_strdup (line + strlen ("listening on "));
  g_free (line);
  if (metrics_url != NULL)
    {
      line = g_data_input_stream_read_line (in, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (line);
      g_assert_true (g_str_has_prefix (line, "metrics listening on http://"));
      g_free (*metrics_url);
      *metrics_url = g_strdup (line + strlen ("metrics listening on "));
      g_free (line);
    }
  g_object_unref (in);
  return proc;
}

static inline GSubprocess *
server_util_spawn (const char *db, const char *keys, const char *log, const char *const *extra,
                   gboolean no_leak_check, char **url)
{
  return server_util_spawn_full (db, keys, log, extra, no_leak_check, url, NULL);
}

/* Runs $TESSERA_SERVER with @args (NULL-terminated) to its end. Returns
 * its exit status; *@out and *@err (transfer full): what it printed. */
static inline int
server_util_run (const char *const *args, char **out, char **err)
{
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) g_getenv ("TESSERA_SERVER"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  GError *error = NULL;
  GSubprocess *p
      = g_subprocess_newv ((const char *const *) argv->pdata,
                           G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  g_ptr_array_free (argv, TRUE);
  g_assert_true (g_subprocess_communicate_utf8 (p, NULL, NULL, out, err, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (p));
  int status = g_subprocess_get_exit_status (p);
  g_object_unref (p);
  return status;
}

/* Runs $TESSERA_SERVER with @args (NULL-terminated) where it must refuse
 * to start: asserts exit status @exit_code (the table of tools/tool-cli.h:
 * 1 usage, 9 configuration, 10 file or database), nothing on stdout and
 * exactly one line "tessera-server: …" on stderr. Returns: (transfer
 * full): that line. */
static inline char *
server_util_refused (const char *const *args, int exit_code)
{
  g_autofree char *out = NULL;
  char *err = NULL;
  g_assert_cmpint (server_util_run (args, &out, &err), ==, exit_code);
  g_assert_cmpstr (out, ==, "");
  g_assert_true (g_str_has_prefix (err, "tessera-server: "));
  g_assert_true (strchr (err, '\n') == err + strlen (err) - 1); /* one line */
  return err;
}

/* Reads one HTTP message (headers, Content-Length body) from @in, for the
 * tests' loopback proxies; *@body_out (nullable) gets the body. Returns:
 * (transfer full): the whole message, or NULL at EOF or on an error. */
static inline GString *
server_util_read_message (GInputStream *in, GCancellable *cancel, char **body_out)
{
  GString *msg = g_string_new (NULL);
  char c;
  while (!g_str_has_suffix (msg->str, "\r\n\r\n"))
    {
      if (g_input_stream_read (in, &c, 1, cancel, NULL) != 1)
        {
          g_string_free (msg, TRUE);
          return NULL;
        }
      g_string_append_c (msg, c);
    }
  gsize length = 0;
  g_autofree char *lower = g_ascii_strdown (msg->str, -1);
  const char *cl = strstr (lower, "\r\ncontent-length:");
  if (cl != NULL)
    length = g_ascii_strtoull (cl + strlen ("\r\ncontent-length:"), NULL, 10);
  gsize header_len = msg->len;
  g_string_set_size (msg, header_len + length);
  gsize got = 0;
  if (length > 0
      && (!g_input_stream_read_all (in, msg->str + header_len, length, &got, cancel, NULL)
          || got != length))
    {
      g_string_free (msg, TRUE);
      return NULL;
    }
  if (body_out != NULL)
    *body_out = g_strndup (msg->str + header_len, length);
  return msg;
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

/* Stops @proc with SIGTERM and asserts a clean exit (status 0). When it
 * did not exit cleanly, the server's stderr (@log: its messages, and the
 * sanitizer report of a crash or leak) goes to the test output first: CI
 * keeps nothing else of a failed run. */
static inline void
server_util_stop_clean (GSubprocess *proc, const char *log)
{
  server_util_terminate (proc);
  gboolean clean = g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0;
  if (!clean)
    {
      char *text = NULL;
      if (log != NULL && g_file_get_contents (log, &text, NULL, NULL))
        g_printerr ("---- server log %s ----\n%s---- end of server log ----\n", log, text);
      g_free (text);
      if (g_subprocess_get_if_signaled (proc))
        g_printerr ("server killed by signal %d\n", g_subprocess_get_term_sig (proc));
    }
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
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

/* Org acme (owner owner@acme.test, its id to *@owner_id) with the member
 * member@acme.test (*@member_id), who holds an API key named "test"
 * (*@key_id): the users most tests against the server act as.
 * Returns: (transfer full): the member's API key. */
static inline char *
server_util_seed_member (TsStore *store, gint64 now, char **owner_id, char **member_id,
                         char **key_id)
{
  GError *error = NULL;
  *owner_id = ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", now, &error);
  g_assert_no_error (error);
  *member_id
      = ts_store_set_member (store, NULL, "acme", "member@acme.test", TS_ROLE_MEMBER, now, &error);
  g_assert_no_error (error);
  char *key = ts_store_create_api_key (store, *member_id, "test", now, key_id, &error);
  g_assert_no_error (error);
  return key;
}
