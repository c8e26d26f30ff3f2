/* Shared by the libFuzzer harnesses (docs/fuzzing.md). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/tessera.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Every error a parser returns must be a TESSERA_ERROR with a message: a
 * NULL message or a foreign domain is a bug too, so it aborts (a "crash"). */
static inline void
fuzz_check_error (GError *error)
{
  if (error == NULL)
    return;
  if (error->domain != TESSERA_ERROR || error->message == NULL)
    g_error ("unexpected error domain %s: %s", g_quark_to_string (error->domain),
             error->message ? error->message : "(null)");
}
