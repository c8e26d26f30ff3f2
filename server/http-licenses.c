/* tessera-server: /me, /activate, /heartbeat, /release (docs/protocol.md). */
#include "http-private.h"

#include <string.h>

static JsonNode *
ts_my_org_json (gconstpointer item)
{
  const TsOrg *o = item;
  return ts_json_object ("id", 's', o->id, "name", 's', o->name, "role", 's',
                         ts_role_to_string (o->role), NULL);
}

void
ts_handle_me (TsRequest *req)
{
  GError *error = NULL;
  TsStore *store = req->server->store;
  char *email = ts_store_get_user_email (store, req->user_id, &error);
  GPtrArray *orgs = email != NULL ? ts_store_list_user_orgs (store, req->user_id, &error) : NULL;
  if (orgs == NULL)
    ts_reply_error (req, error);
  else
    ts_reply_json (
        req, SOUP_STATUS_OK,
        ts_json_object ("user", 'n',
                        ts_json_object ("id", 's', req->user_id, "email", 's', email, NULL), "orgs",
                        'n', ts_json_array (orgs, ts_my_org_json), NULL));
  g_clear_error (&error);
  g_clear_pointer (&orgs, g_ptr_array_unref);
  g_free (email);
}

void
ts_handle_activate (TsRequest *req)
{
  static const char *const fields[]
      = { "product", "machine_id", "nonce", "org_id", "components", "hostname", "os", NULL };
  GError *error = NULL;
  const char *product, *machine_id, *nonce, *org_id;
  TsClientInfo info = { NULL, NULL };
  g_autofree char *components = NULL;
  if (!ts_body_only (req, fields, &error)
      || !ts_body_string (req, "product", TRUE, &product, &error)
      || !ts_body_string (req, "machine_id", TRUE, &machine_id, &error)
      || !ts_body_string (req, "nonce", TRUE, &nonce, &error)
      || !ts_body_string (req, "org_id", FALSE, &org_id, &error)
      || !ts_body_components (req, &components, &error)
      /* Informational (docs/protocol.md, "Client information"): checked
       * here for a clear 400 before any transaction, and again by the store. */
      || !ts_body_string (req, "hostname", FALSE, &info.hostname, &error)
      || !ts_body_string (req, "os", FALSE, &info.os, &error)
      || !ts_check_client_info (&info, &error))
    {
      ts_metrics_activation_refused (error);
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  req->org = g_strdup (org_id);
  req->product = g_strdup (product);
  gint64 lease = req->server->lease_seconds;
  TsSession *s
      = ts_store_activate_as (req->server->store, ts_request_caller (req), org_id, product,
                              machine_id, components, &info, nonce, lease, req->now, &error);
  ts_request_caller_done (req);
  if (s == NULL && g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_AUTH))
    {
      ts_reply_error (req, error); /* not a refused activation: not a caller at all */
      g_error_free (error);
      return;
    }
  if (s == NULL)
    {
      ts_usage_refused (req->server->usage, req->user_id, org_id, product, error, req->now);
      ts_metrics_activation_refused (error);
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_usage_activated (req->server->usage, s->pool_id, req->now);
  g_free (req->org);
  req->org = g_strdup (s->org_id);
  /* Every member of ts_answer_activate_fields: the client requires each. */
  JsonNode *payload = ts_json_object (
      "session_id", 's', s->id, "org_id", 's', s->org_id, "product", 's', s->product, "kind", 's',
      s->kind, "license_id", 's', s->pool_id, "machine_id", 's', s->machine_id, "lease_seconds",
      'i', lease, "lease_expires_at", 'i', s->lease_expires_at, "subscription_end", 'i',
      s->subscription_end, "server_time", 'i', req->now, "entitlements", 'n',
      ts_json_array (NULL, NULL), NULL);
  ts_reply_json (req, SOUP_STATUS_OK, ts_sign_answer (req, payload, "activate", nonce));
  ts_session_free (s);
}

/* @nonce: (nullable) the heartbeat's nonce, the release's is not taken. */
static gboolean
ts_session_arg (TsRequest *req, const char **session_id, const char **nonce)
{
  static const char *const release_fields[] = { "session_id", NULL };
  static const char *const heartbeat_fields[] = { "session_id", "nonce", NULL };
  GError *error = NULL;
  if (!ts_body_only (req, nonce != NULL ? heartbeat_fields : release_fields, &error)
      || !ts_body_string (req, "session_id", TRUE, session_id, &error)
      || (nonce != NULL && !ts_body_string (req, "nonce", FALSE, nonce, &error)))
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return FALSE;
    }
  if (nonce != NULL && *nonce == NULL)
    *nonce = ""; /* an older client: its answer is signed over no nonce */
  if (nonce != NULL && strlen (*nonce) > 64)
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "\"nonce\" is over 64 characters");
      return FALSE;
    }
  return TRUE;
}

/* In the thread that committed the lease (store.h), maybe not the worker's. */
static void
ts_heartbeat_done (TsSession *s, GError *error, gpointer data)
{
  TsRequest *req = data;
  ts_request_caller_done (req);
  if (s == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
    }
  else
    {
      req->org = g_strdup (s->org_id);
      JsonNode *payload = ts_json_object ("session_id", 's', s->id, "lease_expires_at", 'i',
                                          s->lease_expires_at, "server_time", 'i', req->now, NULL);
      ts_reply_json (req, SOUP_STATUS_OK, ts_sign_answer (req, payload, "heartbeat", req->nonce));
      ts_session_free (s);
    }
  ts_request_resume (req);
}

/* Answered once the lease is committed, without keeping the worker: see
 * ts_store_heartbeat_async(). */
void
ts_handle_heartbeat (TsRequest *req)
{
  const char *session_id;
  if (!ts_session_arg (req, &session_id, &req->nonce))
    return;
  ts_request_defer (req);
  ts_store_heartbeat_as_async (req->server->store, ts_request_caller (req), session_id,
                               req->server->lease_seconds, req->now, ts_heartbeat_done, req);
}

void
ts_handle_release (TsRequest *req)
{
  const char *session_id;
  if (!ts_session_arg (req, &session_id, NULL))
    return;
  GError *error = NULL;
  gboolean ok = ts_store_release_as (req->server->store, ts_request_caller (req), session_id,
                                     req->now, &error);
  ts_request_caller_done (req);
  if (!ok)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_reply_empty (req);
}
