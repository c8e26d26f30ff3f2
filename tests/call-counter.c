/* See call-counter.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "call-counter.h"

#include <dlfcn.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/uio.h>
#include <unistd.h>

static gint verifies, reads, opens;

void
call_counter_reset (void)
{
  g_atomic_int_set (&verifies, 0);
  g_atomic_int_set (&reads, 0);
  g_atomic_int_set (&opens, 0);
}

CallCounts
call_counter_get (void)
{
  return (CallCounts){ (guint) g_atomic_int_get (&verifies), (guint) g_atomic_int_get (&reads),
                       (guint) g_atomic_int_get (&opens) };
}

/* The next definition of @name after this program's: libsodium's or libc's
 * (or a sanitizer's interceptor, which then calls libc's). */
static gpointer
next (const char *name)
{
  gpointer fn = dlsym (RTLD_NEXT, name);
  if (fn == NULL)
    g_error ("call-counter: no next definition of %s", name);
  return fn;
}

#define FORWARD(ret, name, params, args, counter)                                                  \
  ret name params                                                                                  \
  {                                                                                                \
    static gsize addr;                                                                             \
    if (g_once_init_enter (&addr))                                                                 \
      g_once_init_leave (&addr, (gsize) next (#name));                                             \
    ret (*real) params = (ret (*) params) addr;                                                    \
    g_atomic_int_inc (&counter);                                                                   \
    return real args;                                                                              \
  }

FORWARD (int, crypto_sign_verify_detached,
         (const unsigned char *sig, const unsigned char *m, unsigned long long mlen,
          const unsigned char *pk),
         (sig, m, mlen, pk), verifies)
FORWARD (int, crypto_sign_open,
         (unsigned char *m, unsigned long long *mlen_p, const unsigned char *sm,
          unsigned long long smlen, const unsigned char *pk),
         (m, mlen_p, sm, smlen, pk), verifies)
FORWARD (ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n), reads)
FORWARD (ssize_t, pread, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off), reads)
FORWARD (ssize_t, pread64, (int fd, void *buf, size_t n, off64_t off), (fd, buf, n, off), reads)
FORWARD (ssize_t, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n), reads)
FORWARD (ssize_t, preadv, (int fd, const struct iovec *iov, int n, off_t off), (fd, iov, n, off),
         reads)

/* open takes a mode only with O_CREAT or O_TMPFILE: pass it on either way
 * (an unused variadic argument is harmless). */
#define FORWARD_OPEN(name, params, args)                                                           \
  int name params                                                                                  \
  {                                                                                                \
    static gsize addr;                                                                             \
    if (g_once_init_enter (&addr))                                                                 \
      g_once_init_leave (&addr, (gsize) next (#name));                                             \
    int (*real) params = (int (*) params) addr;                                                    \
    va_list ap;                                                                                    \
    va_start (ap, flags);                                                                          \
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? (mode_t) va_arg (ap, int) : 0;                 \
    va_end (ap);                                                                                   \
    g_atomic_int_inc (&opens);                                                                     \
    return real args;                                                                              \
  }

FORWARD_OPEN (open, (const char *path, int flags, ...), (path, flags, mode))
FORWARD_OPEN (open64, (const char *path, int flags, ...), (path, flags, mode))
FORWARD_OPEN (openat, (int dir, const char *path, int flags, ...), (dir, path, flags, mode))
FORWARD_OPEN (openat64, (int dir, const char *path, int flags, ...), (dir, path, flags, mode))
