/* Shared by the libFuzzer harnesses (docs/fuzzing.md). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/tessera.h>

#include <glib/gstdio.h>

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

/* A new signing key, in *@key, and (returned) a trusted set holding it
 * alone: the harnesses of signed answers sign with the only key believed,
 * made afresh, so no input can carry its signature. */
static inline TesseraTrustedKeys *
fuzz_trusted_key (TesseraSigningKey **key)
{
  *key = tessera_signing_key_generate ();
  TesseraTrustedKeys *trusted = tessera_trusted_keys_new ();
  g_autofree char *line = tessera_signing_key_dup_public (*key);
  if (!tessera_trusted_keys_add_public (trusted, line, NULL))
    g_error ("fuzz: cannot trust the harness key");
  return trusted;
}

/* The machine the license files of fuzz-licfile are matched against, and
 * that fuzz-licfile-seeds issues its format 2 seeds for: a fixed fake root
 * (a machine-id and a processor) and user, so both compute the same
 * fingerprint. Returns: (transfer full). */
static inline TesseraFingerprint *
fuzz_fingerprint (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *root = g_dir_make_tmp ("tessera-fuzz-root-XXXXXX", &error);
  if (root == NULL)
    g_error ("fuzz: %s", error->message);
  g_autofree char *etc = g_build_filename (root, "etc", NULL);
  g_autofree char *proc = g_build_filename (root, "proc", NULL);
  g_autofree char *machine_id = g_build_filename (etc, "machine-id", NULL);
  g_autofree char *cpuinfo = g_build_filename (proc, "cpuinfo", NULL);
  g_mkdir_with_parents (etc, 0700);
  g_mkdir_with_parents (proc, 0700);
  if (!g_file_set_contents (machine_id, "0123456789abcdef0123456789abcdef\n", -1, &error)
      || !g_file_set_contents (cpuinfo, "processor\t: 0\nvendor_id\t: Fuzz\nmodel name\t: F\n\n",
                               -1, &error))
    g_error ("fuzz: %s", error->message);
  TesseraFingerprint *fp = tessera_fingerprint_new_for_root (root, 1000, "fuzz", &error);
  g_remove (machine_id);
  g_remove (cpuinfo);
  g_rmdir (etc);
  g_rmdir (proc);
  g_rmdir (root);
  if (fp == NULL)
    g_error ("fuzz: %s", error->message);
  return fp;
}
