/* The cold path: what a product pays for its first license check, once per
 * process (issue 20). Fresh processes, started one after the other in
 * interleaved rounds so that every figure sees the same machine:
 *
 *   (a) cold-empty: a GLib program that does nothing (the baseline)
 *   (b) cold-check check: engine, load, activate + validate of one offline
 *       license file for this machine, whole process (fork to exit)
 *   (c) the same, timed inside main(): the first check's own cost
 *   (d) cold-check machine-id: the machine ID computed once, inside main()
 *   (e) cold-deps: (a) linked with every library libtessera links, none of
 *       its code: the share of (b) that only leaving a library out of the
 *       core's dependencies can lower (printed for reference, no target)
 *
 * Each figure is the median over rounds; the ratio of (b) is the median of
 * the per-round ratios to (a). Targets: (b) <= 2x (a); (c) <= 0.6 ms;
 * (d) <= 150 us. Printed with PASS/MISS, never asserted (timings depend on
 * the machine). `--quick` runs 3 rounds (the ctest smoke test).
 *
 *   cold-bench [--quick] [--rounds N] [--keep]
 *
 * Runs in a scratch HOME with its own license folder and state directory;
 * the children load the offline plugin from the build tree. */
#include <tessera/tessera.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_PLUGIN_DIR
#error "BENCH_PLUGIN_DIR must be defined (bench/CMakeLists.txt)"
#endif
#ifndef BENCH_BIN_DIR
#error "BENCH_BIN_DIR must be defined (bench/CMakeLists.txt)"
#endif

#define PRODUCT "KRE"

extern char **environ;

static gint64
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *values, guint n)
{
  qsort (values, n, sizeof (double), compare_doubles);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* Runs @argv to its end; *@wall: fork to reaped exit; *@inner: the number
 * it printed (ns inside its main). posix_spawn, not GLib's spawn, so that
 * the measuring side adds as little as it can, the same for every figure. */
static void
run_once (char *const *argv, double *wall, double *inner)
{
  int fds[2];
  if (pipe (fds) != 0)
    g_error ("pipe: %s", g_strerror (errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init (&actions);
  posix_spawn_file_actions_adddup2 (&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose (&actions, fds[0]);
  posix_spawn_file_actions_addclose (&actions, fds[1]);
  pid_t pid;
  gint64 start = now_ns ();
  int rc = posix_spawn (&pid, argv[0], &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&actions);
  if (rc != 0)
    g_error ("cannot start %s: %s", argv[0], g_strerror (rc));
  close (fds[1]);
  char buf[64];
  gsize len = 0;
  ssize_t n;
  while ((n = read (fds[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (gsize) n;
  close (fds[0]);
  int status = 0;
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  *wall = (double) (now_ns () - start);
  buf[len] = '\0';
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("%s %s failed (status %d): see its message above", argv[0],
             argv[1] != NULL ? argv[1] : "", status);
  *inner = g_ascii_strtod (buf, NULL);
}

static void
write_or_die (const char *path, const char *data, gssize len)
{
  g_autoptr (GError) error = NULL;
  if (!g_file_set_contents (path, data, len, &error))
    g_error ("%s", error->message);
}

static void
rm_rf (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR)
              && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            rm_rf (child);
          else
            g_unlink (child);
        }
      g_dir_close (dir);
    }
  g_rmdir (path);
}

static void
print_time (const char *label, double ns)
{
  if (ns >= 1e6)
    printf ("%-52s %10.3f ms", label, ns / 1e6);
  else
    printf ("%-52s %10.1f us", label, ns / 1e3);
}

int
main (int argc, char **argv)
{
  gboolean quick = FALSE, keep = FALSE;
  int rounds = 0;
  const GOptionEntry entries[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &quick, "3 rounds only (smoke test)", NULL },
    { "keep", 'k', 0, G_OPTION_ARG_NONE, &keep,
      "Keep the scratch folder and print how to run a check in it (for a profiler)", NULL },
    { "rounds", 'r', 0, G_OPTION_ARG_INT, &rounds, "Rounds of fresh processes (default 151)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- cold-start benchmark");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "cold-bench: %s\n", error->message);
      return 1;
    }
  if (rounds <= 0)
    rounds = quick ? 3 : 151;

  g_autofree char *root = g_dir_make_tmp ("tessera-cold-XXXXXX", &error);
  if (root == NULL)
    g_error ("%s", error->message);
  g_autofree char *home = g_build_filename (root, "home", NULL);
  g_autofree char *state = g_build_filename (root, "state", NULL);
  g_autofree char *lic = g_build_filename (root, "license", NULL);
  g_autofree char *pub_path = g_build_filename (root, "issuer.pub", NULL);
  g_autofree char *conf_path = g_build_filename (root, "tessera.conf", NULL);
  g_mkdir (home, 0700);
  g_mkdir (lic, 0700);
  g_setenv ("HOME", home, TRUE);
  g_setenv ("XDG_STATE_HOME", state, TRUE);
  g_setenv ("XDG_CONFIG_HOME", home, TRUE);
  g_setenv ("TESSERA_PLUGIN_DIR", BENCH_PLUGIN_DIR, TRUE);
  g_setenv ("TESSERA_CONFIG", conf_path, TRUE);
  g_unsetenv ("TESSERA_PROVIDER");

  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  if (fp == NULL)
    g_error ("machine ID: %s", error->message);
  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autofree char *public_line = tessera_signing_key_dup_public (key);
  write_or_die (pub_path, public_line, -1);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const char *const entitlements[] = { "parallel-execution", "reports", NULL };
  g_autofree char *license_id = g_uuid_string_random ();
  TesseraLicfileInfo info = {
    .license_id = license_id,
    .org = "bench-org",
    .product = PRODUCT,
    .machine_id = tessera_fingerprint_get_id (fp),
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = now - 3600,
    .subscription_end = now + 365 * 24 * 3600,
    .entitlements = entitlements,
  };
  g_autoptr (GBytes) file = tessera_licfile_sign (key, &info, &error);
  if (file == NULL)
    g_error ("sign: %s", error->message);
  g_autofree char *name = tessera_licfile_file_name (PRODUCT, info.machine_id, 0);
  g_autofree char *path = g_build_filename (lic, name, NULL);
  write_or_die (path, g_bytes_get_data (file, NULL), (gssize) g_bytes_get_size (file));
  g_autofree char *conf = g_strdup_printf ("[engine]\nproviders=offline\nproducts=" PRODUCT "\n"
                                           "[provider:offline]\nlicense-dir=%s\n"
                                           "trusted-keys=%s\nstate-dir=%s\n",
                                           lic, pub_path, state);
  write_or_die (conf_path, conf, -1);

  char *empty_argv[] = { BENCH_BIN_DIR "/cold-empty", NULL };
  char *deps_argv[] = { BENCH_BIN_DIR "/cold-deps", NULL };
  char *check_argv[] = { BENCH_BIN_DIR "/cold-check", "check", PRODUCT, NULL };
  char *id_argv[] = { BENCH_BIN_DIR "/cold-check", "machine-id", NULL };
  double *empty_wall = g_new (double, rounds), *check_wall = g_new (double, rounds),
         *check_inner = g_new (double, rounds), *id_inner = g_new (double, rounds),
         *ratio = g_new (double, rounds), *deps_wall = g_new (double, rounds),
         *deps_ratio = g_new (double, rounds), ignored;
  /* One unmeasured round: the page cache, the dynamic loader's cache. */
  run_once (empty_argv, &ignored, &ignored);
  run_once (deps_argv, &ignored, &ignored);
  run_once (check_argv, &ignored, &ignored);
  run_once (id_argv, &ignored, &ignored);
  for (int r = 0; r < rounds; r++)
    {
      run_once (empty_argv, &empty_wall[r], &ignored);
      run_once (check_argv, &check_wall[r], &check_inner[r]);
      run_once (id_argv, &ignored, &id_inner[r]);
      run_once (deps_argv, &deps_wall[r], &ignored);
      ratio[r] = check_wall[r] / empty_wall[r];
      deps_ratio[r] = deps_wall[r] / empty_wall[r];
    }

  printf ("Tessera cold start%s: medians over %d rounds of fresh processes\n",
          quick ? " (--quick: numbers are not meaningful)" : "", rounds);
  printf ("%-52s %13s  %8s  %-10s %s\n", "", "time", "vs (a)", "target", "result");
  print_time ("(a) empty GLib program, whole process (baseline)", median (empty_wall, rounds));
  printf ("\n");
  double r_b = median (ratio, rounds);
  print_time ("(b) one-check program, whole process", median (check_wall, rounds));
  printf ("  %7.2fx  %-10s %s\n", r_b, "<= 2x", r_b <= 2.0 ? "PASS" : "MISS");
  double c = median (check_inner, rounds);
  print_time ("(c) first activate + validate, inside main", c);
  printf ("  %8s  %-10s %s\n", "", "<= 0.6 ms", c <= 0.6e6 ? "PASS" : "MISS");
  double d = median (id_inner, rounds);
  print_time ("(d) machine ID, cold, inside main", d);
  printf ("  %8s  %-10s %s\n", "", "<= 150 us", d <= 150e3 ? "PASS" : "MISS");
  print_time ("(e) (a) + libtessera's libraries, no code (ref.)", median (deps_wall, rounds));
  printf ("  %7.2fx\n", median (deps_ratio, rounds));

  g_free (empty_wall);
  g_free (check_wall);
  g_free (check_inner);
  g_free (id_inner);
  g_free (ratio);
  g_free (deps_wall);
  g_free (deps_ratio);
  if (keep)
    printf ("kept: HOME=%s XDG_STATE_HOME=%s XDG_CONFIG_HOME=%s TESSERA_PLUGIN_DIR=%s "
            "TESSERA_CONFIG=%s %s check " PRODUCT "\n",
            home, state, home, BENCH_PLUGIN_DIR, conf_path, check_argv[0]);
  else
    rm_rf (root);
  return 0;
}
