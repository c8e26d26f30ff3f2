/* Offline provider benchmark: what a product pays for an offline license,
 * compared, in the same run, with the one thing it cannot avoid: checking
 * one Ed25519 signature.
 *
 *   (a) crypto_sign_verify_detached() on the bytes of a real license file
 *   (b) activate + validate + release of one file through the engine API
 *   (c) tessera_license_validate() of an activated, unchanged license
 *   (d) (b) with 100 files in the folder, one of them for this machine
 *
 * Each figure is the median per-call time over rounds of batches, the
 * figures' batches interleaved in each round; a ratio is the median of the
 * per-round ratios to (a). Targets:
 * b/a <= 2, c/a < 0.1, d/a <= 3. Printed, never asserted: timings depend on
 * the machine. `--quick` runs a few iterations only (the ctest smoke test).
 *
 *   offline-bench [--quick] [--batches N]
 *
 * Runs in a scratch HOME with its own license folders and state directory,
 * and loads the offline plugin from the build tree (BENCH_PLUGIN_DIR). */
#include <tessera/tessera.h>

#include <glib/gstdio.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_PLUGIN_DIR
#error "BENCH_PLUGIN_DIR must be defined (bench/CMakeLists.txt)"
#endif

#define PRODUCT "KRE"
#define OTHER_FILES 99
#define SIGN_DOMAIN "tessera-license-v1"

typedef struct
{
  /* (a) */
  GBytes *message;
  guchar signature[crypto_sign_BYTES];
  guchar public_key[crypto_sign_PUBLICKEYBYTES];
  /* the whole file, for the informational tessera_licfile_verify() row */
  GBytes *file;
  TesseraTrustedKeys *keys;
  /* (b), (c), (d) */
  TesseraEngine *engine;
  TesseraEngine *engine_100;
  TesseraEngine *engine_held;
  TesseraLicense *held;
} Bench;

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

typedef struct
{
  void (*fn) (Bench *);
  guint iters;      /* calls per batch */
  double *per_call; /* ns per call, one per round */
  double *ratio;    /* per_call / the baseline's per_call in the same round */
} Figure;

/* Runs @rounds rounds; each round runs one batch of every figure in turn,
 * so that all of them see the same machine (frequency, other load). A
 * figure's result is the median over rounds, its ratio the median of the
 * per-round ratios to figure 0. */
static void
measure (Bench *bench, Figure *figures, guint n_figures, guint rounds)
{
  for (guint f = 0; f < n_figures; f++)
    {
      figures[f].fn (bench); /* warm up: page cache, plugin, lazily computed machine ID */
      figures[f].per_call = g_new (double, rounds);
      figures[f].ratio = g_new (double, rounds);
    }
  for (guint r = 0; r < rounds; r++)
    for (guint f = 0; f < n_figures; f++)
      {
        gint64 start = now_ns ();
        for (guint i = 0; i < figures[f].iters; i++)
          figures[f].fn (bench);
        figures[f].per_call[r] = (double) (now_ns () - start) / figures[f].iters;
        figures[f].ratio[r] = figures[f].per_call[r] / figures[0].per_call[r];
      }
}

/* ---- the measured operations ---- */

static void
op_crypto_verify (Bench *bench)
{
  gsize len = 0;
  const guchar *msg = g_bytes_get_data (bench->message, &len);
  if (crypto_sign_verify_detached (bench->signature, msg, len, bench->public_key) != 0)
    g_error ("the baseline signature does not verify");
}

static void
op_licfile_verify (Bench *bench)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bench->file, bench->keys, &error);
  if (file == NULL)
    g_error ("tessera_licfile_verify: %s", error->message);
}

static void
cycle (TesseraEngine *engine)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_engine_activate (engine, PRODUCT, NULL, NULL, &error);
  if (license == NULL)
    g_error ("activate: %s", error->message);
  if (!tessera_license_validate (license, NULL, &error))
    g_error ("validate: %s", error->message);
  if (!tessera_license_release (license, NULL, &error))
    g_error ("release: %s", error->message);
}

static void
op_cycle_one (Bench *bench)
{
  cycle (bench->engine);
}

static void
op_cycle_100 (Bench *bench)
{
  cycle (bench->engine_100);
}

static void
op_validate_held (Bench *bench)
{
  g_autoptr (GError) error = NULL;
  if (!tessera_license_validate (bench->held, NULL, &error))
    g_error ("validate: %s", error->message);
}

/* ---- setup ---- */

static void
write_or_die (const char *path, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  if (!g_file_set_contents (path, data, (gssize) len, &error))
    g_error ("%s", error->message);
}

static GBytes *
sign_or_die (TesseraSigningKey *key, const char *machine_id)
{
  g_autoptr (GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const char *const entitlements[] = { "parallel-execution", "reports", NULL };
  g_autofree char *license_id = g_uuid_string_random ();
  TesseraLicfileInfo info = {
    .license_id = license_id,
    .org = "bench-org",
    .product = PRODUCT,
    .machine_id = machine_id,
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = now - 3600,
    .subscription_end = now + 365 * 24 * 3600,
    .entitlements = entitlements,
  };
  GBytes *bytes = tessera_licfile_sign (key, &info, &error);
  if (bytes == NULL)
    g_error ("sign: %s", error->message);
  return bytes;
}

static char *
string_between (const char *text, const char *start, const char *end)
{
  const char *p = strstr (text, start);
  g_assert (p != NULL);
  p += strlen (start);
  const char *q = strstr (p, end);
  g_assert (q != NULL);
  return g_strndup (p, (gsize) (q - p));
}

/* The message tessera_licfile_verify() checks, rebuilt from the file's bytes
 * (docs/license-file.md): domain, NUL, key id, NUL, payload. */
static void
prepare_baseline (Bench *bench, GBytes *file, const char *public_line)
{
  g_autofree char *text = g_strndup (g_bytes_get_data (file, NULL), g_bytes_get_size (file));
  g_autofree char *key_id = string_between (text, "\"key-id\":\"", "\"");
  g_autofree char *payload_b64 = string_between (text, "\"payload\":\"", "\"");
  g_autofree char *sig_b64 = string_between (text, "\"signature\":\"", "\"");
  gsize payload_len = 0, sig_len = 0, pk_len = 0;
  g_autofree guchar *payload = g_base64_decode (payload_b64, &payload_len);
  g_autofree guchar *sig = g_base64_decode (sig_b64, &sig_len);
  g_autofree char *line = g_strstrip (g_strdup (public_line));
  g_auto (GStrv) parts = g_strsplit (line, " ", 3);
  g_autofree guchar *pk = g_base64_decode (parts[2], &pk_len);
  g_assert (sig_len == crypto_sign_BYTES && pk_len == crypto_sign_PUBLICKEYBYTES);
  memcpy (bench->signature, sig, sig_len);
  memcpy (bench->public_key, pk, pk_len);

  GByteArray *msg = g_byte_array_new ();
  g_byte_array_append (msg, (const guint8 *) SIGN_DOMAIN, sizeof SIGN_DOMAIN); /* with NUL */
  g_byte_array_append (msg, (const guint8 *) key_id, (guint) strlen (key_id));
  g_byte_array_append (msg, (const guint8 *) "", 1);
  g_byte_array_append (msg, payload, (guint) payload_len);
  bench->message = g_byte_array_free_to_bytes (msg);
}

static TesseraEngine *
engine_for (const char *license_dir, const char *pub_path, const char *state_dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config = g_strdup_printf ("[engine]\nproviders=offline\nproducts=" PRODUCT "\n"
                                             "[provider:offline]\nlicense-dir=%s\n"
                                             "trusted-keys=%s\nstate-dir=%s\n",
                                             license_dir, pub_path, state_dir);
  TesseraEngine *engine = tessera_engine_new_from_data (config, -1, &error);
  if (engine == NULL || !tessera_engine_load (engine, &error))
    g_error ("engine: %s", error->message);
  return engine;
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

/* ---- report ---- */

static void
print_time (const char *label, double ns)
{
  if (ns >= 1e6)
    printf ("%-62s %10.3f ms", label, ns / 1e6);
  else
    printf ("%-62s %10.2f us", label, ns / 1e3);
}

static void
print_row (const char *label, double ns, double ratio, const char *target_text, double target,
           gboolean strict)
{
  print_time (label, ns);
  printf ("  %7.3fx", ratio);
  if (target_text != NULL)
    printf ("  %-7s %s", target_text,
            (strict ? ratio < target : ratio <= target) ? "PASS" : "MISS");
  printf ("\n");
}

int
main (int argc, char **argv)
{
  gboolean quick = FALSE;
  int batches = 0;
  const GOptionEntry entries[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &quick, "A few iterations only (smoke test)", NULL },
    { "batches", 'b', 0, G_OPTION_ARG_INT, &batches, "Rounds of batches (default 31)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- offline provider benchmark");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "offline-bench: %s\n", error->message);
      return 1;
    }
  if (batches <= 0)
    batches = quick ? 3 : 31;

  /* A scratch HOME and state: nothing of the user's is read or written. */
  g_autofree char *root = g_dir_make_tmp ("tessera-bench-XXXXXX", &error);
  if (root == NULL)
    g_error ("%s", error->message);
  g_autofree char *home = g_build_filename (root, "home", NULL);
  g_autofree char *state = g_build_filename (root, "state", NULL);
  g_autofree char *lic_one = g_build_filename (root, "license-1", NULL);
  g_autofree char *lic_100 = g_build_filename (root, "license-100", NULL);
  g_autofree char *lic_held = g_build_filename (root, "license-held", NULL);
  g_autofree char *pub_path = g_build_filename (root, "issuer.pub", NULL);
  for (const char *const *d = (const char *const[]){ home, lic_one, lic_100, lic_held, NULL }; *d;
       d++)
    g_mkdir (*d, 0700);
  g_setenv ("HOME", home, TRUE);
  g_setenv ("XDG_STATE_HOME", state, TRUE);
  g_setenv ("XDG_CONFIG_HOME", home, TRUE);
  g_setenv ("TESSERA_PLUGIN_DIR", BENCH_PLUGIN_DIR, TRUE);
  g_unsetenv ("TESSERA_PROVIDER");
  g_unsetenv ("TESSERA_CONFIG");
  if (sodium_init () < 0)
    g_error ("libsodium could not be initialized");

  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  if (fp == NULL)
    g_error ("machine ID: %s", error->message);
  const char *machine_id = tessera_fingerprint_get_id (fp);

  g_autoptr (TesseraSigningKey) key = tessera_signing_key_generate ();
  g_autofree char *public_line = tessera_signing_key_dup_public (key);
  write_or_die (pub_path, public_line, strlen (public_line));

  /* One file for this machine in each folder, 99 for other machines next to
   * it in license-100. license-held is for the license (c) holds, so that
   * (b) finds its own file free. */
  Bench bench = { 0 };
  bench.file = sign_or_die (key, machine_id);
  /* license-held gets a license of its own: a copy of bench.file would be
   * the same license, which (b) and (d) could not take while (c) holds it. */
  g_autoptr (GBytes) held_file = sign_or_die (key, machine_id);
  for (const char *const *d = (const char *const[]){ lic_one, lic_100, lic_held, NULL }; *d; d++)
    {
      GBytes *bytes = *d == lic_held ? held_file : bench.file;
      g_autofree char *name = tessera_licfile_file_name (PRODUCT, machine_id, 0);
      g_autofree char *path = g_build_filename (*d, name, NULL);
      write_or_die (path, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
    }
  for (guint i = 0; i < OTHER_FILES; i++)
    {
      g_autofree char *other_id = g_strdup_printf (
          "B%03u-%04X-%04X-%04X", i, g_random_int () & 0xffff, g_random_int () & 0xffff, i);
      g_autoptr (GBytes) other = sign_or_die (key, other_id);
      g_autofree char *name = tessera_licfile_file_name (PRODUCT, other_id, 0);
      g_autofree char *path = g_build_filename (lic_100, name, NULL);
      write_or_die (path, g_bytes_get_data (other, NULL), g_bytes_get_size (other));
    }

  prepare_baseline (&bench, bench.file, public_line);
  bench.keys = tessera_trusted_keys_new ();
  if (!tessera_trusted_keys_add_public (bench.keys, public_line, &error))
    g_error ("%s", error->message);
  bench.engine = engine_for (lic_one, pub_path, state);
  bench.engine_100 = engine_for (lic_100, pub_path, state);
  bench.engine_held = engine_for (lic_held, pub_path, state);
  bench.held = tessera_engine_activate (bench.engine_held, PRODUCT, NULL, NULL, &error);
  if (bench.held == NULL)
    g_error ("activate: %s", error->message);

  Figure figures[] = {
    { .fn = op_crypto_verify, .iters = quick ? 2 : 200 },
    { .fn = op_licfile_verify, .iters = quick ? 2 : 200 },
    { .fn = op_cycle_one, .iters = quick ? 2 : 100 },
    { .fn = op_validate_held, .iters = quick ? 2 : 5000 },
    { .fn = op_cycle_100, .iters = quick ? 2 : 100 },
  };
  measure (&bench, figures, G_N_ELEMENTS (figures), (guint) batches);
  if (!tessera_license_release (bench.held, NULL, &error))
    g_error ("release: %s", error->message);

  printf ("Tessera offline provider benchmark%s: medians over %d rounds of interleaved batches; "
          "one license file of %zu bytes\n",
          quick ? " (--quick: numbers are not meaningful)" : "", batches,
          g_bytes_get_size (bench.file));
  printf ("%-62s %13s  %8s  %-7s %s\n", "", "per call", "vs (a)", "target", "result");

  static const struct
  {
    const char *label, *target_text;
    double target;
    gboolean strict;
  } rows[] = {
    { "(a) crypto_sign_verify_detached, same bytes (baseline)", NULL, 0, FALSE },
    { "    tessera_licfile_verify of the file (for reference)", NULL, 0, FALSE },
    { "(b) activate + validate + release, 1 file", "<= 2x", 2.0, FALSE },
    { "(c) validate, activated unchanged license", "< 0.1x", 0.1, TRUE },
    { "(d) activate + validate + release, 100 files (1 ours)", "<= 3x", 3.0, FALSE },
  };
  for (guint f = 0; f < G_N_ELEMENTS (figures); f++)
    {
      print_row (rows[f].label, median (figures[f].per_call, (guint) batches),
                 median (figures[f].ratio, (guint) batches), rows[f].target_text, rows[f].target,
                 rows[f].strict);
      g_free (figures[f].per_call);
      g_free (figures[f].ratio);
    }

  g_clear_pointer (&bench.held, tessera_license_unref);
  g_clear_pointer (&bench.engine, tessera_engine_unref);
  g_clear_pointer (&bench.engine_100, tessera_engine_unref);
  g_clear_pointer (&bench.engine_held, tessera_engine_unref);
  g_clear_pointer (&bench.keys, tessera_trusted_keys_unref);
  g_clear_pointer (&bench.file, g_bytes_unref);
  g_clear_pointer (&bench.message, g_bytes_unref);
  rm_rf (root);
  return 0;
}
