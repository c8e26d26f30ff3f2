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

/* Copies @src (a regular file) to @dst with @mode. */
static inline void
test_copy_file (const char *src, const char *dst, mode_t mode)
{
  GError *error = NULL;
  char *contents = NULL;
  gsize len = 0;
  g_file_get_contents (src, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (dst, contents, (gssize) len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (dst, mode), ==, 0);
  g_free (contents);
}

/* Copies the regular files of @src_dir into @parent/@name (0755), keeping
 * whether each is executable. Returns the new directory. */
static inline char *
test_copy_dir_files (const char *src_dir, const char *parent, const char *name)
{
  GError *error = NULL;
  char *dst_dir = g_build_filename (parent, name, NULL);
  g_assert_cmpint (g_mkdir (dst_dir, 0755), ==, 0);
  GDir *dir = g_dir_open (src_dir, 0, &error);
  g_assert_no_error (error);
  const char *entry;
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      char *src = g_build_filename (src_dir, entry, NULL);
      struct stat st;
      if (lstat (src, &st) == 0 && S_ISREG (st.st_mode))
        {
          char *dst = g_build_filename (dst_dir, entry, NULL);
          test_copy_file (src, dst, (st.st_mode & S_IXUSR) ? 0755 : 0644);
          g_free (dst);
        }
      g_free (src);
    }
  g_dir_close (dir);
  return dst_dir;
}

/* g_test_trap_subprocess() for a case that calls test_drop_privileges():
 * when the suite runs as root, the subprocess finds the plugin directories
 * ($TESSERA_PLUGIN_DIR, $TESSERA_TEST_PLUGIN_DIR) copied into a directory
 * anyone can read. The build tree may sit under a private directory (a clone
 * in root's 0700 home) that the unprivileged user cannot enter. */
static inline void
test_trap_unprivileged (const char *test_path, guint64 usec_timeout, GTestSubprocessFlags flags)
{
  if (geteuid () != 0)
    {
      g_test_trap_subprocess (test_path, usec_timeout, flags);
      return;
    }
  const char *vars[] = { "TESSERA_PLUGIN_DIR", "TESSERA_TEST_PLUGIN_DIR" };
  char *saved[G_N_ELEMENTS (vars)];
  char *dir = test_tmpdir_new ();
  for (guint i = 0; i < G_N_ELEMENTS (vars); i++)
    {
      saved[i] = g_strdup (g_getenv (vars[i]));
      if (saved[i] == NULL)
        continue;
      char *copy = test_copy_dir_files (saved[i], dir, vars[i]);
      g_setenv (vars[i], copy, TRUE);
      g_free (copy);
    }
  g_test_trap_subprocess (test_path, usec_timeout, flags);
  for (guint i = 0; i < G_N_ELEMENTS (vars); i++)
    {
      if (saved[i] != NULL)
        g_setenv (vars[i], saved[i], TRUE);
      g_free (saved[i]);
    }
  test_tmpdir_free (dir);
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

/* Trusted keys holding only @key's public half: what verifies exactly what
 * @key signs. */
static inline TesseraTrustedKeys *
test_trusted_keys_of (TesseraSigningKey *key)
{
  g_autoptr (GError) error = NULL;
  TesseraTrustedKeys *trusted = tessera_trusted_keys_new ();
  g_autofree char *pub = tessera_signing_key_dup_public (key);
  g_assert_true (tessera_trusted_keys_add_public (trusted, pub, &error));
  g_assert_no_error (error);
  return trusted;
}

/* The number of entries in @dir. */
static inline guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  guint n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}
