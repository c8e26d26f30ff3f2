#include <tessera/tessera.h>

static void
test_nicks_round_trip (void)
{
  for (int code = TESSERA_ERROR_FAILED; code <= TESSERA_ERROR_TERMINATED; code++)
    {
      const char *nick = tessera_error_to_nick ((TesseraError) code);
      g_assert_nonnull (nick);
      TesseraError back = TESSERA_ERROR_FAILED;
      g_assert_true (tessera_error_from_nick (nick, &back));
      g_assert_cmpint (back, ==, code);
    }
  g_assert_null (tessera_error_to_nick ((TesseraError) (TESSERA_ERROR_TERMINATED + 1)));
  g_assert_null (tessera_error_to_nick ((TesseraError) -1));

  TesseraError untouched = TESSERA_ERROR_REVOKED;
  g_assert_false (tessera_error_from_nick ("quota-exceded", &untouched));
  g_assert_cmpint (untouched, ==, TESSERA_ERROR_REVOKED);
  g_assert_false (tessera_error_from_nick ("", &untouched));
}

/* The codes the issue requires, by their stable nick. */
static void
test_required_codes (void)
{
  static const struct
  {
    TesseraError code;
    const char *nick;
  } required[] = {
    { TESSERA_ERROR_CONFIG, "config" },
    { TESSERA_ERROR_PLUGIN_LOAD, "plugin-load" },
    { TESSERA_ERROR_ABI_MISMATCH, "abi-mismatch" },
    { TESSERA_ERROR_NO_PROVIDER, "no-provider" },
    { TESSERA_ERROR_NOT_FOUND, "not-found" },
    { TESSERA_ERROR_EXPIRED, "expired" },
    { TESSERA_ERROR_TAMPERED, "tampered" },
    { TESSERA_ERROR_MACHINE_MISMATCH, "machine-mismatch" },
    { TESSERA_ERROR_PRODUCT_MISMATCH, "product-mismatch" },
    { TESSERA_ERROR_QUOTA_EXCEEDED, "quota-exceeded" },
    { TESSERA_ERROR_REVOKED, "revoked" },
    { TESSERA_ERROR_AUTH, "auth" },
    { TESSERA_ERROR_ORG_REQUIRED, "org-required" },
    { TESSERA_ERROR_NETWORK, "network" },
    { TESSERA_ERROR_UNAVAILABLE, "unavailable" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (required); i++)
    g_assert_cmpstr (tessera_error_to_nick (required[i].code), ==, required[i].nick);
  g_assert_cmpstr (g_quark_to_string (TESSERA_ERROR), ==, "tessera-error-quark");
}

static void
test_null_arguments (void)
{
  TesseraError code;
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*nick != NULL*");
  g_assert_false (tessera_error_from_nick (NULL, &code));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*code != NULL*");
  g_assert_false (tessera_error_from_nick ("auth", NULL));
  g_test_assert_expected_messages ();
}

static void
test_version (void)
{
  g_assert_cmpstr (tessera_version_string (), ==, TESSERA_VERSION_STRING);
  /* The numeric macros are substituted (a stray space once kept them raw). */
  g_autofree char *joined = g_strdup_printf ("%d.%d.%d", TESSERA_VERSION_MAJOR,
                                             TESSERA_VERSION_MINOR, TESSERA_VERSION_MICRO);
  g_assert_cmpstr (joined, ==, TESSERA_VERSION_STRING);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error/nicks-round-trip", test_nicks_round_trip);
  g_test_add_func ("/error/required-codes", test_required_codes);
  g_test_add_func ("/error/null-arguments", test_null_arguments);
  g_test_add_func ("/error/version", test_version);
  return g_test_run ();
}
