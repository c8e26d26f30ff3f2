/* A wall clock the test moves by hand, shared by every process it spawns
 * (the server and each tessera) through libfaketime: the test writes an
 * offset in a file that libfaketime reads on every call. Time-dependent
 * rules (leases, grace) are then checked at exact points of the faked
 * clock instead of by sleeping, so a slow machine changes nothing.
 * Monotonic time is left alone: timeouts stay real. */
#pragma once

#include <glib.h>

/* Moves every faked clock to the real time + @seconds. */
static inline void
faked_clock_set (const char *file, gint64 seconds)
{
  g_autofree char *text = g_strdup_printf ("%+" G_GINT64_FORMAT "\n", seconds);
  GError *error = NULL;
  /* Atomic (a rename): a process reading the clock never sees half a file. */
  g_file_set_contents (file, text, -1, &error);
  g_assert_no_error (error);
}

/* Sets the environment so that processes spawned from now on run on the
 * faked clock, at offset 0. Returns: (transfer full): the offset file. */
static inline char *
faked_clock_begin (const char *dir)
{
  const char *lib = g_getenv ("TESSERA_TEST_LIBFAKETIME");
  if (lib == NULL || !g_file_test (lib, G_FILE_TEST_EXISTS))
    g_error ("libfaketime is not installed: run scripts/install-deps.sh (Debian package faketime), "
             "then configure again");
  char *file = g_build_filename (dir, "faked-clock", NULL);
  faked_clock_set (file, 0);
  g_setenv ("LD_PRELOAD", lib, TRUE);
  g_setenv ("FAKETIME_TIMESTAMP_FILE", file, TRUE);
  g_setenv ("FAKETIME_NO_CACHE", "1", TRUE);
  g_setenv ("FAKETIME_DONT_FAKE_MONOTONIC", "1", TRUE);
  /* In sanitizer builds: the preloaded library coming before ASan's runtime
   * is expected here. */
  const char *asan = g_getenv ("ASAN_OPTIONS");
  g_autofree char *options = asan && *asan ? g_strconcat (asan, ":verify_asan_link_order=0", NULL)
                                           : g_strdup ("verify_asan_link_order=0");
  g_setenv ("ASAN_OPTIONS", options, TRUE);
  return file;
}

/* Processes spawned from now on run on the real clock again (ASAN_OPTIONS
 * keeps its addition: harmless without a preloaded library). */
static inline void
faked_clock_end (void)
{
  g_unsetenv ("LD_PRELOAD");
  g_unsetenv ("FAKETIME_TIMESTAMP_FILE");
  g_unsetenv ("FAKETIME_NO_CACHE");
  g_unsetenv ("FAKETIME_DONT_FAKE_MONOTONIC");
}
