/* tessera-server: GET /metrics (docs/deployment.md, "Monitoring"), the
 * Prometheus exposition of metrics.c, behind its own bearer token
 * (--metrics-token-file) on the API's listener, and on --metrics-listen's
 * too when that file is given; and the reasons of refused activations. */
#include "http-private.h"
#include "metrics.h"

#include <sodium.h>
#include <string.h>

/* Hashed first, so that the comparison takes as long whatever the length
 * of what was sent or where it first differs. */
static gboolean
ts_token_equal (const char *given, const char *expected)
{
  unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
  crypto_generichash (a, sizeof a, (const unsigned char *) given, strlen (given), NULL, 0);
  crypto_generichash (b, sizeof b, (const unsigned char *) expected, strlen (expected), NULL, 0);
  return sodium_memcmp (a, b, sizeof a) == 0;
}

void
ts_handle_metrics (TsRequest *req)
{
  const char *token = req->server->metrics_token;
  if (token == NULL && !req->metrics_only)
    {
      /* Not configured: as unknown as any other path. */
      ts_reply_errorf (req, SOUP_STATUS_NOT_FOUND, TESSERA_ERROR_NOT_FOUND, "no such endpoint");
      return;
    }
  /* On the metrics listener without a token file, its address is the
   * deployer's access control. */
  if (token != NULL && (req->api_key == NULL || !ts_token_equal (req->api_key, token)))
    {
      ts_reply_header (req, "WWW-Authenticate", "Bearer");
      ts_reply_errorf (req, SOUP_STATUS_UNAUTHORIZED, TESSERA_ERROR_AUTH,
                       "/metrics needs Authorization: Bearer <the token of the server's "
                       "metrics-token-file>");
      return;
    }
  GError *error = NULL;
  char *text = ts_metrics_render (req->server->store, req->now, &error);
  if (text == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_reply_bytes (req, SOUP_STATUS_OK, TS_METRICS_CONTENT_TYPE,
                  g_bytes_new_take (text, strlen (text)));
}

void
ts_metrics_activation_refused (const GError *error)
{
  TsRefusal reason = TS_REFUSED_OTHER;
  if (error != NULL && error->domain == TESSERA_ERROR)
    switch ((TesseraError) error->code)
      {
      case TESSERA_ERROR_QUOTA_EXCEEDED:
        reason = TS_REFUSED_QUOTA;
        break;
      case TESSERA_ERROR_MACHINE_QUOTA_EXCEEDED:
        reason = TS_REFUSED_MACHINE_QUOTA;
        break;
      case TESSERA_ERROR_REVOKED:
        reason = TS_REFUSED_REVOKED;
        break;
      case TESSERA_ERROR_NOT_FOUND: /* no pool of the product, or no grant in it */
        reason = TS_REFUSED_NO_GRANT;
        break;
      case TESSERA_ERROR_PERMISSION_DENIED:
        reason = TS_REFUSED_NOT_MEMBER;
        break;
      case TESSERA_ERROR_ORG_REQUIRED:
        reason = TS_REFUSED_ORG_REQUIRED;
        break;
      case TESSERA_ERROR_EXPIRED:
        reason = TS_REFUSED_EXPIRED;
        break;
      case TESSERA_ERROR_TERMINATED:
        reason = TS_REFUSED_TERMINATED;
        break;
      case TESSERA_ERROR_INVALID_ARGUMENT:
        reason = TS_REFUSED_INVALID;
        break;
      case TESSERA_ERROR_UNAVAILABLE:
        reason = TS_REFUSED_UNAVAILABLE;
        break;
      default:
        break;
      }
  ts_metrics_refused (reason);
}
