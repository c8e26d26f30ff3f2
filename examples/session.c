/* A seat that outlives the process: activate a product with the persist
 * option, then list, check and release it from later runs (what a CLI's
 * activate/status/release do).
 *
 *   tessera-example-session CONFIG activate PRODUCT
 *   tessera-example-session CONFIG status
 *   tessera-example-session CONFIG release
 *   tessera-example-session CONFIG forget
 *
 * The API key comes from the provider: $TESSERA_API_KEY, else the system
 * keyring. Exit status: 0 ok, 1 refused, 2 bad setup or usage. */
#include <tessera/tessera.h>

#include <stdio.h>
#include <string.h>

static void
print_license (const char *what, TesseraLicense *license)
{
  printf ("%s: product=%s provider=%s org=%s session=%s\n", what,
          tessera_license_get_product (license), tessera_license_get_provider (license),
          tessera_license_get_org (license) ? tessera_license_get_org (license) : "-",
          tessera_license_get_attribute (license, "testops.session-id")
              ? tessera_license_get_attribute (license, "testops.session-id")
              : "-");
}

int
main (int argc, char **argv)
{
  if (argc < 3 || (g_str_equal (argv[2], "activate") && argc != 4))
    {
      fprintf (stderr, "usage: %s CONFIG activate PRODUCT | status | release | forget\n", argv[0]);
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (argv[1], &error);
  if (engine == NULL)
    {
      fprintf (stderr, "session: %s\n", error->message);
      return 2;
    }
  const char *command = argv[2];

  if (g_str_equal (command, "activate"))
    {
      g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
      tessera_activate_options_set (options, TESSERA_OPTION_PERSIST, "true");
      g_autoptr (TesseraLicense) license
          = tessera_engine_activate (engine, argv[3], options, NULL, &error);
      if (license == NULL)
        {
          fprintf (stderr, "session: not licensed: %s\n", error->message);
          return 1;
        }
      print_license ("activated", license);
      /* Persistent: dropping it here keeps the seat for a later release. */
      return 0;
    }

  if (g_str_equal (command, "forget"))
    {
      guint n = 0;
      if (!tessera_engine_forget_credentials (engine, NULL, &n, &error))
        {
          fprintf (stderr, "session: %s\n", error->message);
          return 1;
        }
      printf ("forgot %u API key%s\n", n, n == 1 ? "" : "s");
      return 0;
    }

  gboolean release = g_str_equal (command, "release");
  if (!release && !g_str_equal (command, "status"))
    {
      fprintf (stderr, "session: unknown command '%s'\n", command);
      return 2;
    }
  g_autoptr (GPtrArray) licenses = tessera_engine_list_licenses (engine, NULL, &error);
  if (licenses == NULL)
    {
      fprintf (stderr, "session: %s\n", error->message);
      return 2;
    }
  int status = 0;
  for (guint i = 0; i < licenses->len; i++)
    {
      TesseraLicense *license = licenses->pdata[i];
      g_autoptr (GError) local_error = NULL;
      gboolean ok = release ? tessera_license_release (license, NULL, &local_error)
                            : tessera_license_validate (license, NULL, &local_error);
      if (ok)
        print_license (release ? "released" : "valid", license);
      else
        {
          print_license ("invalid", license);
          fprintf (stderr, "session: %s\n", local_error->message);
          status = 1;
        }
    }
  if (licenses->len == 0)
    printf ("no kept licenses\n");
  return status;
}
