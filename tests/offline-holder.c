/* A session holder for tests/test-offline*.c: one real process holding one
 * offline license, so the tests can run sessions in parallel, kill one, and
 * run one under a faked clock.
 *
 *   offline-holder CONFIG_PATH PRODUCT
 *
 * Activates PRODUCT with the configuration in CONFIG_PATH and prints one
 * line, "OK <offline.file>" or "ERR <error-nick> <message>" (exit 1 after
 * an error). Then reads commands from stdin, one per line, answering each
 * with one line: "validate" prints "OK" or "ERR <nick> <message>". At EOF it
 * releases the license and exits 0. */
#include <tessera/tessera.h>

#include <stdio.h>
#include <string.h>

static void
print_error (const GError *error)
{
  const char *nick = error->domain == TESSERA_ERROR ? tessera_error_to_nick (error->code) : NULL;
  g_autofree char *message = g_strdup (error->message);
  g_strdelimit (message, "\r\n", ' ');
  printf ("ERR %s %s\n", nick ? nick : "unknown", message);
  fflush (stdout);
}

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: %s CONFIG_PATH PRODUCT\n", argv[0]);
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (argv[1], &error);
  g_autoptr (TesseraLicense) license = NULL;
  if (engine != NULL)
    license = tessera_engine_activate (engine, argv[2], NULL, NULL, &error);
  if (license == NULL)
    {
      print_error (error);
      return 1;
    }
  printf ("OK %s\n", tessera_license_get_attribute (license, "offline.file"));
  fflush (stdout);

  char line[256];
  while (fgets (line, sizeof line, stdin) != NULL)
    {
      g_strchomp (line);
      if (g_str_equal (line, "validate"))
        {
          g_autoptr (GError) validate_error = NULL;
          if (tessera_license_validate (license, NULL, &validate_error))
            printf ("OK\n");
          else
            print_error (validate_error);
        }
      else
        printf ("ERR invalid-argument unknown command '%s'\n", line);
      fflush (stdout);
    }

  if (!tessera_license_release (license, NULL, &error))
    {
      print_error (error);
      return 1;
    }
  return 0;
}
