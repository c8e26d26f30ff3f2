/* Helpers shared by the tests that spawn a command-line tool (tessera-admin,
 * tessera-license) and check its exit code, stdout and stderr. */
#pragma once

#include "test-util.h"

#include <glib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

/* A directory anyone can read holding a copy of @tool, the libtessera this
 * test runs with (the one @tool was built against), and the valgrind
 * suppressions: what the tool needs as NOBODY when the build tree sits under
 * a private directory (a clone in root's 0700 home) that NOBODY cannot
 * enter. Sets *@copy to the tool's copy. */
static inline char *
tool_util_readable_copy (const char *tool, char **copy)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *base = g_path_get_basename (tool);
  *copy = g_build_filename (dir, base, NULL);
  test_copy_file (tool, *copy, 0755);
  /* The library the build made, named by CMake: this test binary need not
   * load it itself (linked --as-needed, a test that only spawns tools has no
   * DT_NEEDED entry for it, so asking the loader finds nothing). */
  const char *built = g_getenv ("TESSERA_TEST_LIBTESSERA");
  g_assert_nonnull (built);
  g_autofree char *lib = g_build_filename (dir, "libtessera.so.0", NULL);
  test_copy_file (built, lib, 0644);
  const char *srcdir = g_getenv ("TESSERA_TEST_SRCDIR");
  if (srcdir != NULL)
    {
      g_autofree char *supp = g_build_filename (srcdir, "tests", "valgrind.supp", NULL);
      g_autofree char *supp_copy = g_build_filename (dir, "valgrind.supp", NULL);
      test_copy_file (supp, supp_copy, 0644);
    }
  return dir;
}

/* Puts valgrind in front of the tool @argv is about to get when the test
 * runs under it ($TESSERA_TEST_UNDER_VALGRIND), so that what the test spawns
 * is checked as strictly as the test itself. @supp_dir: where
 * valgrind.supp is (NULL: the source tree's tests/). */
static inline void
tool_util_add_valgrind (GPtrArray *argv, const char *supp_dir)
{
  if (g_getenv ("TESSERA_TEST_UNDER_VALGRIND") == NULL)
    return;
  const char *srcdir = g_getenv ("TESSERA_TEST_SRCDIR");
  g_assert_nonnull (srcdir);
  g_ptr_array_add (argv, g_strdup ("valgrind"));
  g_ptr_array_add (argv, g_strdup ("--quiet"));
  g_ptr_array_add (argv, g_strdup ("--leak-check=full"));
  g_ptr_array_add (argv, g_strdup ("--errors-for-leak-kinds=definite"));
  /* GLib's worker and pool threads still run at exit: "possibly lost" is
   * not an error, but printing it would break the one-line stderr every
   * case checks. */
  g_ptr_array_add (argv, g_strdup ("--show-possibly-lost=no"));
  g_ptr_array_add (argv, g_strdup ("--error-exitcode=99"));
  g_ptr_array_add (argv, g_strdup ("--suppressions=/usr/share/glib-2.0/valgrind/glib.supp"));
  if (supp_dir != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--suppressions=%s/valgrind.supp", supp_dir));
  else
    g_ptr_array_add (argv, g_strdup_printf ("--suppressions=%s/tests/valgrind.supp", srcdir));
}

/* Runs @tool in @cwd with @args (NULL-terminated, already expanded), with
 * LC_ALL=C; as uid/gid NOBODY if @as_nobody and the test runs as root; under
 * valgrind too if $TESSERA_TEST_UNDER_VALGRIND is set. Returns its exit code
 * (-1 if it did not exit normally). */
static inline int
tool_util_run (const char *tool, const char *cwd, char *const *args, gboolean as_nobody, char **out,
               char **err)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
  char *readable = NULL;
  g_autofree char *tool_copy = NULL;
  const char *supp_dir = NULL;
  if (as_nobody && geteuid () == 0)
    {
      readable = tool_util_readable_copy (tool, &tool_copy);
      tool = tool_copy;
      supp_dir = readable;
      env = g_environ_setenv (env, "LD_LIBRARY_PATH", readable, TRUE);
      char *setpriv = g_find_program_in_path ("setpriv");
      g_assert_nonnull (setpriv); /* util-linux: always there, never skipped */
      g_ptr_array_add (argv, setpriv);
      g_ptr_array_add (argv, g_strdup_printf ("--reuid=%d", NOBODY));
      g_ptr_array_add (argv, g_strdup_printf ("--regid=%d", NOBODY));
      g_ptr_array_add (argv, g_strdup ("--clear-groups"));
    }
  tool_util_add_valgrind (argv, supp_dir);
  g_ptr_array_add (argv, g_strdup (tool));
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  int status = 0;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (cwd, (char **) argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err, &status,
                &error);
  g_assert_no_error (error);
  if (readable != NULL)
    test_tmpdir_free (readable);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static inline void
assert_matches (const char *what, const char *pattern, const char *text)
{
  if (!g_regex_match_simple (pattern, text, G_REGEX_MULTILINE, 0))
    g_error ("%s does not match /%s/:\n%s", what, pattern, text);
}

/* @pattern NULL: @err must be empty. Otherwise @err is exactly one line,
 * starts with "@program: " and matches @pattern. */
static inline void
tool_util_assert_stderr (const char *program, const char *pattern, const char *err)
{
  if (pattern == NULL)
    {
      g_assert_cmpstr (err, ==, "");
      return;
    }
  /* Exactly one line, prefixed with the program name. */
  g_autofree char *prefix = g_strconcat (program, ": ", NULL);
  g_assert_true (g_str_has_prefix (err, prefix));
  g_assert_true (g_str_has_suffix (err, "\n"));
  g_assert_true (strchr (err, '\n') == err + strlen (err) - 1);
  assert_matches ("stderr", pattern, err);
}
