/* Counts, in this process, the calls that cost a product time on a license
 * check: Ed25519 verifications and file reads. Tests assert what a code path
 * does (no verify, no read) instead of how long it takes, which a busy
 * machine would make fail.
 *
 * The counting works by interposition: the test program defines the
 * functions below, the dynamic linker binds every library's and plugin's
 * calls to them (the program is linked with ENABLE_EXPORTS), and each
 * forwards to the real one found with dlsym (RTLD_NEXT). A test should first
 * check that a path known to verify or read is counted, so a build where
 * interposition does not reach the code (a static libsodium, say) fails
 * instead of passing on zeros. */
#pragma once

#include <glib.h>

typedef struct
{
  guint verifies; /* crypto_sign_verify_detached, crypto_sign_open */
  guint reads;    /* read, pread, pread64, readv, preadv */
  guint opens;    /* open, open64, openat, openat64 */
} CallCounts;

/* Starts counting from zero in every thread. */
void call_counter_reset (void);
/* What was counted since the last reset. */
CallCounts call_counter_get (void);
