/* GIO is opened when the async API is first used, not when libtessera is
 * loaded (issue 20): a blocking check leaves it unloaded, and the async
 * calls then work through the table core/gio-lazy.c resolves. Runs on the
 * dev-mode provider, which links no GIO either. This program calls no GIO
 * function itself (and links with --as-needed), so GIO is loaded only if
 * something else loads it. */
#include "test-util.h"

#include <dlfcn.h>

static gboolean
gio_loaded (void)
{
  void *handle = dlopen ("libgio-2.0.so.0", RTLD_LAZY | RTLD_NOLOAD);
  if (handle != NULL)
    dlclose (handle);
  return handle != NULL;
}

typedef struct
{
  GMainLoop *loop;
  TesseraEngine *engine;
  TesseraLicense *license;
  GError *error;
  gboolean ok;
} Result;

static void
activated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->license = tessera_engine_activate_finish (r->engine, result, &r->error);
  g_main_loop_quit (r->loop);
}

static void
validated_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->ok = tessera_license_validate_finish (r->license, result, &r->error);
  g_main_loop_quit (r->loop);
}

static void
test_lazy (void)
{
  g_setenv ("TESSERA_DEVMODE", "1", TRUE);
  g_assert_false (gio_loaded ());
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new_from_data (
      "[engine]\nproviders=devmode\n[provider:devmode]\nenabled=true\n", -1, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KSE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (gio_loaded ());

  Result r = { g_main_loop_new (NULL, FALSE), engine, NULL, NULL, FALSE };
  tessera_engine_activate_async (engine, "KSE", NULL, NULL, activated_cb, &r);
  g_main_loop_run (r.loop);
  g_assert_true (gio_loaded ());
  g_assert_no_error (r.error);
  g_assert_nonnull (r.license);
  g_assert_cmpstr (tessera_license_get_provider (r.license), ==, "devmode");

  tessera_license_validate_async (r.license, NULL, validated_cb, &r);
  g_main_loop_run (r.loop);
  g_assert_no_error (r.error);
  g_assert_true (r.ok);

  /* An error travels the lazily resolved path as well. */
  g_autoptr (TesseraLicense) first = g_steal_pointer (&r.license);
  tessera_engine_activate_async (engine, "not a product", NULL, NULL, activated_cb, &r);
  g_main_loop_run (r.loop);
  g_assert_null (r.license);
  g_assert_error (r.error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&r.error);
  g_main_loop_unref (r.loop);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gio-lazy/async-loads-gio", test_lazy);
  return g_test_run ();
}
