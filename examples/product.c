/* A product that checks its license with libtessera: activate KRE, show what
 * was granted, gate a feature on an entitlement, release.
 *
 *   tessera-example-product [CONFIG]
 *
 * Without CONFIG the usual search applies ($TESSERA_CONFIG, ~/.config/tessera,
 * the system config). Exit status: 0 licensed, 1 not licensed, 2 bad setup. */
#include <tessera/tessera.h>

#include <stdio.h>

static void
on_invalidated (TesseraLicense *license, const GError *reason, gpointer user_data)
{
  fprintf (stderr, "license no longer valid: %s\n", reason->message);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (argc > 1 ? argv[1] : NULL, &error);
  if (engine == NULL)
    {
      fprintf (stderr, "example: %s\n", error->message);
      return 2;
    }

  g_autofree char *machine_id = tessera_engine_dup_machine_id (engine, &error);
  if (machine_id == NULL)
    {
      fprintf (stderr, "example: cannot compute the machine ID: %s\n", error->message);
      return 2;
    }
  printf ("machine id: %s\n", machine_id);

  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  if (license == NULL)
    {
      fprintf (stderr, "example: not licensed: %s\n", error->message);
      return 1;
    }
  tessera_license_add_invalidated_handler (license, on_invalidated, NULL, NULL);

  g_autoptr (GDateTime) expiry
      = tessera_license_get_expires_at (license)
            ? g_date_time_new_from_unix_utc (tessera_license_get_expires_at (license))
            : NULL;
  g_autofree char *expiry_str = expiry ? g_date_time_format_iso8601 (expiry) : g_strdup ("never");
  g_auto (GStrv) features = tessera_license_dup_features (license);
  g_autofree char *feature_list = g_strjoinv (",", features);
  printf ("license: product=%s provider=%s id=%s kind=%s org=%s expires=%s features=%s%s\n",
          tessera_license_get_product (license), tessera_license_get_provider (license),
          tessera_license_get_id (license),
          tessera_license_kind_to_string (tessera_license_get_kind (license)),
          tessera_license_get_org (license) ? tessera_license_get_org (license) : "-", expiry_str,
          feature_list,
          (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_DEVELOPMENT)
              ? " [DEVELOPMENT LICENSE]"
              : "");

  if (tessera_license_has_feature (license, "reports"))
    printf ("feature 'reports': enabled\n");
  else
    printf ("feature 'reports': not licensed, running without it\n");

  if (!tessera_license_validate (license, NULL, &error))
    {
      fprintf (stderr, "example: license check failed: %s\n", error->message);
      return 1;
    }
  if (!tessera_license_release (license, NULL, &error))
    {
      fprintf (stderr, "example: release failed: %s\n", error->message);
      return 1;
    }
  printf ("released\n");
  return 0;
}
