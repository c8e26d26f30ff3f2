/* Tessera — error domain shared by the core, every backend, the server and the CLI. */
#pragma once

#if !defined(TESSERA_INSIDE) && !defined(TESSERA_COMPILATION)
#error "Only <tessera/tessera.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * TESSERA_ERROR:
 *
 * The GError domain of every error libtessera and its backends report.
 * Errors from GIO (for example G_IO_ERROR_CANCELLED when a GCancellable
 * fires) are passed through unchanged.
 */
#define TESSERA_ERROR (tessera_error_quark ())

/**
 * TesseraError:
 *
 * Codes of the TESSERA_ERROR domain. Values are part of the ABI: new codes are
 * only ever appended. Each code has a stable nick (see tessera_error_to_nick())
 * used in JSON (server protocol, mock scenarios, `tessera --json`).
 */
typedef enum
{
  TESSERA_ERROR_FAILED = 0,       /* "failed": nothing more specific applies */
  TESSERA_ERROR_CONFIG,           /* "config": missing, unreadable or invalid configuration */
  TESSERA_ERROR_PLUGIN_LOAD,      /* "plugin-load": a plugin file cannot be loaded or is unsafe */
  TESSERA_ERROR_ABI_MISMATCH,     /* "abi-mismatch": plugin built for an incompatible ABI */
  TESSERA_ERROR_NO_PROVIDER,      /* "no-provider": no provider configured, installed or willing */
  TESSERA_ERROR_NOT_FOUND,        /* "not-found": no license (file, grant, pool) for the request */
  TESSERA_ERROR_EXPIRED,          /* "expired": the license's validity has ended */
  TESSERA_ERROR_TAMPERED,         /* "tampered": a license was modified after it was issued */
  TESSERA_ERROR_MACHINE_MISMATCH, /* "machine-mismatch": the license is for another machine */
  TESSERA_ERROR_PRODUCT_MISMATCH, /* "product-mismatch": the license is for another product */
  TESSERA_ERROR_QUOTA_EXCEEDED,   /* "quota-exceeded": every seat of the quota is taken */
  TESSERA_ERROR_REVOKED,          /* "revoked": an administrator revoked the license */
  TESSERA_ERROR_AUTH,             /* "auth": missing, wrong or revoked credentials */
  TESSERA_ERROR_ORG_REQUIRED,     /* "org-required": the user must name one organization */
  TESSERA_ERROR_NETWORK,          /* "network": the server could not be reached */
  TESSERA_ERROR_UNAVAILABLE,      /* "unavailable": a service or resource is temporarily unusable */
  TESSERA_ERROR_NOT_SUPPORTED, /* "not-supported": the backend does not implement the operation */
  TESSERA_ERROR_INVALID_ARGUMENT,       /* "invalid-argument": a caller passed a bad value */
  TESSERA_ERROR_BACKEND,                /* "backend": a backend broke its contract (a plugin bug) */
  TESSERA_ERROR_RELEASED,               /* "released": the license was already released */
  TESSERA_ERROR_CLOCK_ROLLBACK,         /* "clock-rollback": the system clock went back */
  TESSERA_ERROR_NOT_YET_VALID,          /* "not-yet-valid": the license's validity has not begun */
  TESSERA_ERROR_UNTRUSTED_KEY,          /* "untrusted-key": signed by a key that is not trusted */
  TESSERA_ERROR_PERMISSION_DENIED,      /* "permission-denied": the OS refused access to a file */
  TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED, /* "machine-quota-exceeded": too many registered machines */
  TESSERA_ERROR_TERMINATED,             /* "terminated": the server ended the session */
} TesseraError;

/**
 * tessera_error_quark:
 *
 * Returns: the GQuark of the TESSERA_ERROR domain.
 * Thread-safety: may be called from any thread.
 */
GQuark tessera_error_quark (void);

/**
 * tessera_error_to_nick:
 * @code: a TesseraError
 *
 * Returns: (transfer none): the stable nick of @code (e.g. "quota-exceeded"),
 *   or NULL if @code is not a known code. Thread-safety: any thread.
 */
const char *tessera_error_to_nick (TesseraError code);

/**
 * tessera_error_from_nick:
 * @nick: a nick as returned by tessera_error_to_nick()
 * @code: (out): where to store the code
 *
 * Returns: TRUE and sets @code if @nick names a code, FALSE otherwise (and
 *   @code is left untouched). Thread-safety: any thread.
 */
gboolean tessera_error_from_nick (const char *nick, TesseraError *code);

G_END_DECLS
