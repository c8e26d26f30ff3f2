/* Fuzzes tessera_fingerprint_new_from_string() ("tessera-fp1 ID comp=HEX ...")
 * and, on success, the serializer, the getters and the diff: what parses must
 * serialize back to something that parses to the same ID. */
#include "fuzz-common.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *str = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new_from_string (str, &error);
  if (fp == NULL)
    {
      if (error == NULL)
        g_error ("tessera_fingerprint_new_from_string: NULL without an error");
      fuzz_check_error (error);
      return 0;
    }

  const char *id = tessera_fingerprint_get_id (fp);
  g_auto (GStrv) components = tessera_fingerprint_dup_components (fp);
  for (char **c = components; c != NULL && *c != NULL; c++)
    (void) tessera_fingerprint_get_component_digest (fp, *c);
  (void) tessera_fingerprint_get_component_digest (fp, "no-such-component");

  g_autofree char *again = tessera_fingerprint_to_string (fp);
  g_autoptr (GError) error2 = NULL;
  g_autoptr (TesseraFingerprint) fp2 = tessera_fingerprint_new_from_string (again, &error2);
  if (fp2 == NULL)
    g_error ("round trip: '%s' does not parse: %s", again, error2->message);
  if (g_strcmp0 (id, tessera_fingerprint_get_id (fp2)) != 0)
    g_error ("round trip: ID %s became %s", id, tessera_fingerprint_get_id (fp2));
  g_auto (GStrv) diff = tessera_fingerprint_diff (fp, fp2);
  if (diff == NULL || diff[0] != NULL)
    g_error ("round trip: '%s' differs from itself", again);
  return 0;
}
