#include "tessera-private.h"

GQuark
tessera_error_quark (void)
{
  return g_quark_from_static_string ("tessera-error-quark");
}

/* Indexed by TesseraError: nicks travel in JSON between processes, so they
 * never change once released. */
static const char *const error_nicks[] = {
  [TESSERA_ERROR_FAILED] = "failed",
  [TESSERA_ERROR_CONFIG] = "config",
  [TESSERA_ERROR_PLUGIN_LOAD] = "plugin-load",
  [TESSERA_ERROR_ABI_MISMATCH] = "abi-mismatch",
  [TESSERA_ERROR_NO_PROVIDER] = "no-provider",
  [TESSERA_ERROR_NOT_FOUND] = "not-found",
  [TESSERA_ERROR_EXPIRED] = "expired",
  [TESSERA_ERROR_TAMPERED] = "tampered",
  [TESSERA_ERROR_MACHINE_MISMATCH] = "machine-mismatch",
  [TESSERA_ERROR_PRODUCT_MISMATCH] = "product-mismatch",
  [TESSERA_ERROR_QUOTA_EXCEEDED] = "quota-exceeded",
  [TESSERA_ERROR_REVOKED] = "revoked",
  [TESSERA_ERROR_AUTH] = "auth",
  [TESSERA_ERROR_ORG_REQUIRED] = "org-required",
  [TESSERA_ERROR_NETWORK] = "network",
  [TESSERA_ERROR_UNAVAILABLE] = "unavailable",
  [TESSERA_ERROR_NOT_SUPPORTED] = "not-supported",
  [TESSERA_ERROR_INVALID_ARGUMENT] = "invalid-argument",
  [TESSERA_ERROR_BACKEND] = "backend",
  [TESSERA_ERROR_RELEASED] = "released",
  [TESSERA_ERROR_CLOCK_ROLLBACK] = "clock-rollback",
  [TESSERA_ERROR_NOT_YET_VALID] = "not-yet-valid",
  [TESSERA_ERROR_UNTRUSTED_KEY] = "untrusted-key",
  [TESSERA_ERROR_PERMISSION_DENIED] = "permission-denied",
  [TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED] = "machine-quota-exceeded",
  [TESSERA_ERROR_TERMINATED] = "terminated",
};

const char *
tessera_error_to_nick (TesseraError code)
{
  if ((guint) code >= G_N_ELEMENTS (error_nicks))
    return NULL;
  return error_nicks[code];
}

gboolean
tessera_error_from_nick (const char *nick, TesseraError *code)
{
  g_return_val_if_fail (nick != NULL, FALSE);
  g_return_val_if_fail (code != NULL, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (error_nicks); i++)
    if (g_strcmp0 (error_nicks[i], nick) == 0)
      {
        *code = (TesseraError) i;
        return TRUE;
      }
  return FALSE;
}

gboolean
_tessera_error_is_terminal (const GError *error)
{
  if (error == NULL || error->domain != TESSERA_ERROR)
    return FALSE;
  switch ((TesseraError) error->code)
    {
    case TESSERA_ERROR_EXPIRED:
    case TESSERA_ERROR_TAMPERED:
    case TESSERA_ERROR_MACHINE_MISMATCH:
    case TESSERA_ERROR_PRODUCT_MISMATCH:
    case TESSERA_ERROR_REVOKED:
    case TESSERA_ERROR_CLOCK_ROLLBACK:
    case TESSERA_ERROR_UNTRUSTED_KEY:
    case TESSERA_ERROR_TERMINATED:
      return TRUE;
    default:
      /* Network trouble, quota and the like may pass: the license stays held. */
      return FALSE;
    }
}

const char *
tessera_version_string (void)
{
  return TESSERA_VERSION;
}
