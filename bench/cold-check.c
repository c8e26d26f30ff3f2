/* The programs cold-bench starts, one check per process, as a product that
 * links libtessera pays for it once per run:
 *
 *   cold-check check PRODUCT    engine from $TESSERA_CONFIG, load, activate
 *                               PRODUCT, validate (no release: a product
 *                               keeps its license until it exits)
 *   cold-check machine-id       the machine ID, computed once
 *
 * Prints the nanoseconds spent inside main() on stdout; exits non-zero with
 * one line on stderr if the check fails. */
#include <tessera/tessera.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static long long
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
main (int argc, char **argv)
{
  long long start = now_ns ();
  GError *error = NULL;
  if (argc == 3 && strcmp (argv[1], "check") == 0)
    {
      TesseraEngine *engine = tessera_engine_new (NULL, &error);
      if (engine == NULL || !tessera_engine_load (engine, &error))
        goto fail;
      TesseraLicense *license = tessera_engine_activate (engine, argv[2], NULL, NULL, &error);
      if (license == NULL)
        goto fail;
      if (!tessera_license_validate (license, NULL, &error))
        goto fail;
      long long took = now_ns () - start;
      printf ("%lld\n", took);
      tessera_license_unref (license);
      tessera_engine_unref (engine);
      return 0;
    }
  if (argc == 2 && strcmp (argv[1], "machine-id") == 0)
    {
      TesseraFingerprint *fp = tessera_fingerprint_new (&error);
      if (fp == NULL)
        goto fail;
      const char *id = tessera_fingerprint_get_id (fp);
      long long took = now_ns () - start;
      if (id == NULL || *id == '\0')
        {
          fprintf (stderr, "cold-check: empty machine ID\n");
          return 1;
        }
      printf ("%lld\n", took);
      tessera_fingerprint_unref (fp);
      return 0;
    }
  fprintf (stderr, "cold-check: usage: cold-check check PRODUCT | cold-check machine-id\n");
  return 2;
fail:
  fprintf (stderr, "cold-check: %s\n", error != NULL ? error->message : "failed");
  g_clear_error (&error);
  return 1;
}
