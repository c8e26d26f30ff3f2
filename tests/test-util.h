/* Helpers shared by the core tests. */
#pragma once

#include <tessera/tessera.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <grp.h>

/* A fresh directory for one test, mode 0755 so an unprivileged user can
 * traverse it; removed recursively by test_tmpdir_free(). */
static inline char *
test_tmpdir_new (void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("tessera-test-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  return dir;
}

static inline void
test_rm_rf (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR)
              && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            test_rm_rf (child);
          else
            g_unlink (child);
          g_free (child);
        }
      g_dir_close (dir);
    }
  g_rmdir (path);
}

static inline void
test_tmpdir_free (char *dir)
{
  test_rm_rf (dir);
  g_free (dir);
}

static inline char *
test_write_file (const char *dir, const char *name, const char *contents)
{
  GError *error = NULL;
  char *path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  return path;
}

static inline const char *
test_plugin_dir (void)
{
  const char *dir = g_getenv ("TESSERA_TEST_PLUGIN_DIR");
  g_assert_nonnull (dir);
  return dir;
}

/* In a test subprocess: become an unprivileged user, so permission checks
 * apply even when the suite runs as root (as CI does). */
static inline void
test_drop_privileges (void)
{
  if (geteuid () != 0)
    return;
  g_assert_cmpint (setgroups (0, NULL), ==, 0);
  g_assert_cmpint (setresgid (65534, 65534, 65534), ==, 0);
  g_assert_cmpint (setresuid (65534, 65534, 65534), ==, 0);
}

/* An engine on the test plugins with @config appended to an [engine] section
 * naming @providers. */
static inline TesseraEngine *
test_engine_new (const char *providers, const char *extra, GError **error)
{
  char *data = g_strdup_printf ("[engine]\nproviders=%s\n%s", providers, extra ? extra : "");
  TesseraEngine *engine = tessera_engine_new_from_data (data, -1, error);
  g_free (data);
  return engine;
}

static inline guint
test_count_lines (const char *path, const char *needle)
{
  char *contents = NULL;
  guint n = 0;
  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  char **lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    if (strstr (lines[i], needle) != NULL)
      n++;
  g_strfreev (lines);
  g_free (contents);
  return n;
}
