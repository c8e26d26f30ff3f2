/* Helpers shared by the mock provider's tests. */
#pragma once

#include "test-util.h"

/* A test's directory, declared first so that it is removed last: after the
 * engines and licenses whose destruction still writes counters into it. */
typedef char TestDir;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestDir, test_tmpdir_free)

static inline char *
write_scenario (const char *dir, const char *json)
{
  return test_write_file (dir, "scenario.json", json);
}

/* An engine whose only provider is the mock, with @scenario (or none). */
static inline TesseraEngine *
mock_engine_new (const char *scenario)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config
      = scenario
            ? g_strdup_printf ("[engine]\nproviders=mock\n[provider:mock]\nscenario=%s\n", scenario)
            : g_strdup ("[engine]\nproviders=mock\n");
  TesseraEngine *engine = tessera_engine_new_from_data (config, -1, &error);
  g_assert_no_error (error);
  g_assert_nonnull (engine);
  return engine;
}

static inline TesseraEngine *
mock_engine_loaded (const char *scenario)
{
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = mock_engine_new (scenario);
  g_assert_true (tessera_engine_load (engine, &error));
  g_assert_no_error (error);
  return engine;
}
