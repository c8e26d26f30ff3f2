/* The online provider's API key cache (key-storage=keyring) on a real
 * Secret Service: a key stored once it worked, never a refused one,
 * forgotten on request; key-storage=env-only; no Secret Service at all, and
 * a session bus where nobody provides one. The fixture is
 * tests/testops-util.h. */
#include "testops-util.h"

/* ---------------------------------------------------------------- keyring */

static const char no_key_message[] = "after a successful activation the system keyring keeps it";

/* The key given once is stored after the activation succeeded; the next
 * activation needs none; forget removes it and the next one fails. */
static void
test_keyring (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  TesseraLicense *license = activate (engine, o, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);

  /* a new engine (as a new run would), no key given: the keyring's */
  g_autoptr (TesseraEngine) later = engine_new (f, NULL);
  license = activate (later, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_org (license), ==, "acme");
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);

  /* naming another org still finds the key stored for this server: the
   * server knows the user, who is no member there */
  g_autoptr (TesseraActivateOptions) beta = tessera_activate_options_new ();
  tessera_activate_options_set (beta, TESSERA_OPTION_ORG_ID, "beta");
  g_assert_null (activate (later, beta, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "not a member of organization beta"));
  g_clear_error (&error);

  /* forget: one key (the same key activating again stored nothing new) */
  g_assert_cmpuint (forget_keys (later), ==, 1);
  g_assert_cmpuint (forget_keys (later), ==, 0);
  g_assert_null (activate (later, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, f->url));
  g_assert_nonnull (strstr (error->message, "--api-key"));
  g_assert_nonnull (strstr (error->message, "TESSERA_API_KEY"));
  g_assert_nonnull (strstr (error->message, no_key_message));
  g_clear_error (&error);

  /* forgetting is per server: another server's key stays */
  license = activate (later, o, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_autoptr (TesseraEngine) other = engine_new_at ("http://127.0.0.1:1", NULL);
  g_assert_cmpuint (forget_keys (other), ==, 0);
  g_assert_cmpuint (forget_keys (later), ==, 1);
}

/* A key the server refuses is never stored, and never replaces a good one. */
static void
test_keyring_wrong_key (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) wrong
      = options_with_key ("tsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  g_assert_null (activate (engine, wrong, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, f->url));
  g_clear_error (&error);
  g_assert_null (activate (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, no_key_message));
  g_clear_error (&error);
  g_assert_cmpuint (forget_keys (engine), ==, 0);

  /* a good key stored, then a wrong one given: the good one stays */
  g_autoptr (TesseraActivateOptions) good = options_with_key (f->member_key);
  TesseraLicense *license = activate (engine, good, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_null (activate (engine, wrong, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  license = activate (engine, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);

  /* the stored key is revoked: the error says where the key came from */
  TsStore *store = store_open (f);
  g_assert_true (ts_store_revoke_api_key (store, f->member_id, f->member_key_id, now_s (), &error));
  g_assert_no_error (error);
  ts_store_close (store);
  g_assert_null (activate (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "came from the system keyring"));
  g_clear_error (&error);
  g_assert_cmpuint (forget_keys (engine), ==, 1);
}

/* key-storage=env-only with a keyring at hand: the key works, nothing is
 * stored, and without a key it says env-only. */
static void
test_env_only (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, "key-storage=env-only\n");
  g_setenv ("TESSERA_API_KEY", f->member_key, TRUE);
  TesseraLicense *license = activate (engine, NULL, &error);
  g_unsetenv ("TESSERA_API_KEY");
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_null (activate (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "key-storage=env-only"));
  g_assert_nonnull (strstr (error->message, "TESSERA_API_KEY"));
  g_clear_error (&error);
  /* nothing in the keyring, as a keyring engine sees it */
  g_autoptr (TesseraEngine) keyring = engine_new (f, NULL);
  g_assert_cmpuint (forget_keys (keyring), ==, 0);
  g_assert_cmpuint (forget_keys (engine), ==, 0);
}

static const char no_service_message[] = "no Secret Service is reachable";

/* Without a keyring: a key given explicitly activates; with none, the
 * plugin says what to do. */
static void
check_without_keyring (Fixture *f)
{
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_autoptr (TesseraActivateOptions) o = options_with_key (f->member_key);
  /* the key given either way: used for this run (one seat), not kept */
  for (guint i = 0; i < 2; i++)
    {
      if (i == 1)
        g_setenv ("TESSERA_API_KEY", f->member_key, TRUE);
      TesseraLicense *license = activate (engine, i == 0 ? o : NULL, &error);
      g_unsetenv ("TESSERA_API_KEY");
      g_assert_no_error (error);
      g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
      g_assert_true (tessera_license_release (license, NULL, &error));
      g_assert_no_error (error);
      tessera_license_unref (license);
    }
  /* no key: refused before the server is asked, naming the ways out */
  g_assert_null (activate (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, no_service_message));
  g_assert_nonnull (strstr (error->message, f->url));
  g_assert_nonnull (strstr (error->message, "key-storage=env-only"));
  g_assert_nonnull (strstr (error->message, "--api-key"));
  g_assert_nonnull (strstr (error->message, "TESSERA_API_KEY"));
  g_clear_error (&error);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
}

/* The notice each of the two activations printed, and nothing else. */
static void
assert_not_cached_notices (void)
{
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("tessera: notice: the API key for http://127.0.0.1:* was used for "
                             "this run only, not kept in the system keyring: no Secret Service "
                             "is reachable (*); to make it permanent, *TESSERA_API_KEY*"
                             "key-storage=env-only*\n"
                             "tessera: notice: *\n");
}

/* No session bus at all (a headless CI machine): a key given with the
 * option or in TESSERA_API_KEY activates, with one notice that it was not
 * kept; without one, the documented message and no seat taken; forget
 * fails the same way; env-only works without a notice. In a subprocess, so
 * that the bus is cut off before anything in the process connected to it. */
static void
test_no_secret_service (Fixture *f, gconstpointer data)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      assert_not_cached_notices ();
      return;
    }
  g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent", TRUE);
  check_without_keyring (f);
  GError *error = NULL;
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  guint n = 99;
  g_assert_false (tessera_engine_forget_credentials (engine, "testops", &n, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, no_service_message));
  g_clear_error (&error);

  /* the explicit choice: no keyring looked for, no notice */
  g_setenv ("TESSERA_API_KEY", f->member_key, TRUE);
  g_autoptr (TesseraEngine) env_only = engine_new (f, "key-storage=env-only\n");
  TesseraLicense *license = activate (env_only, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 1);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  g_assert_cmpuint (forget_keys (env_only), ==, 0);
  g_unsetenv ("TESSERA_API_KEY");
}

/* A session bus with nobody owning org.freedesktop.secrets (and no
 * service files to start one): the same, the notice and the message
 * naming the D-Bus error. A bus of our own in a subprocess, so that
 * nothing else in the process sees it. */
static void
test_no_secrets_provider (Fixture *f, gconstpointer data)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      assert_not_cached_notices ();
      g_test_trap_assert_stderr ("*org.freedesktop.secrets*");
      return;
    }
  GError *error = NULL;
  /* The policy of tests/with-keyring.sh's bus: anyone may talk and own. */
  g_autofree char *conf_text = g_strdup_printf (
      "<busconfig><type>session</type><listen>unix:dir=%s</listen><auth>EXTERNAL</auth>"
      "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
      "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
      f->dir);
  g_autofree char *conf = test_write_file (f->dir, "bus.conf", conf_text);
  g_autofree char *config_arg = g_strdup_printf ("--config-file=%s", conf);
  /* It dies with this process, whatever happens to the test. */
  GSubprocessLauncher *l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                      | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (l, server_util_die_with_parent, NULL, NULL);
  GSubprocess *bus = g_subprocess_launcher_spawn (l, &error, "dbus-daemon", config_arg, "--nofork",
                                                  "--print-address=1", NULL);
  g_assert_no_error (error);
  g_object_unref (l);
  GDataInputStream *in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (bus));
  g_autofree char *address = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (address);
  g_object_unref (in);
  g_setenv ("DBUS_SESSION_BUS_ADDRESS", address, TRUE);

  check_without_keyring (f);
  g_autoptr (TesseraEngine) engine = engine_new (f, NULL);
  g_assert_null (activate (engine, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "org.freedesktop.secrets"));
  g_clear_error (&error);
  g_subprocess_force_exit (bus);
  g_subprocess_wait (bus, NULL, NULL);
  g_object_unref (bus);
}

int
main (int argc, char **argv)
{
  char *key_dir = testops_util_init (&argc, &argv);
  TESTOPS_ADD ("keyring", test_keyring, NULL);
  TESTOPS_ADD ("keyring-wrong-key", test_keyring_wrong_key, NULL);
  TESTOPS_ADD ("env-only", test_env_only, NULL);
  TESTOPS_ADD ("no-secret-service", test_no_secret_service, NULL);
  TESTOPS_ADD ("no-secrets-provider", test_no_secrets_provider, NULL);
  int status = g_test_run ();
  testops_util_finish (key_dir);
  return status;
}
