/* tessera-server: organization administration, /orgs/{org}/... (owner or
 * admin; the store checks the role). */
#include "http-private.h"

#include <string.h>

/* Replies with @error (and frees it) when @ok is FALSE. */
static gboolean
ts_check (TsRequest *req, gboolean ok, GError **error)
{
  if (!ok)
    {
      ts_reply_error (req, *error);
      g_clear_error (error);
    }
  return ok;
}

static void
ts_reply_list (TsRequest *req, const char *name, GPtrArray *items, GError *error,
               JsonNode *(*convert) (gconstpointer))
{
  if (!ts_check (req, items != NULL, &error))
    return;
  ts_reply_json (req, SOUP_STATUS_OK, ts_json_wrap (name, ts_json_array (items, convert)));
  g_ptr_array_unref (items);
}

static void
ts_reply_done (TsRequest *req, gboolean ok, GError *error)
{
  if (ts_check (req, ok, &error))
    ts_reply_empty (req);
}

/* ---- pools ---- */

static JsonNode *
ts_pool_json (const TsPool *p, gboolean usage)
{
  JsonNode *node = ts_json_object ("id", 's', p->id, "org", 's', p->org_id, "product", 's',
                                   p->product, "kind", 's', p->kind, "billing", 's', p->billing,
                                   "quota", 'i', p->quota, "subscription_end", 'i',
                                   p->subscription_end, "match_policy", 's', p->match_policy, NULL);
  if (usage)
    {
      JsonObject *o = json_node_get_object (node);
      json_object_set_int_member (o, "granted", p->granted);
      json_object_set_int_member (o, "machines", p->machines);
      json_object_set_int_member (o, "sessions", p->sessions);
      json_object_set_int_member (o, "offline", p->offline);
    }
  return node;
}

static JsonNode *
ts_pool_usage_json (gconstpointer item)
{
  return ts_pool_json (item, TRUE);
}

void
ts_handle_pools_list (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  GPtrArray *pools
      = ts_store_list_pools (req->server->store, req->user_id, req->args[0], req->now, &error);
  ts_reply_list (req, "pools", pools, error, ts_pool_usage_json);
}

void
ts_handle_pools_create (TsRequest *req)
{
  static const char *const fields[]
      = { "product", "kind", "billing", "quota", "subscription_end", NULL };
  GError *error = NULL;
  const char *product, *kind, *billing;
  gint64 quota = 0, end = 0;
  req->org = g_strdup (req->args[0]);
  if (!ts_check (req,
                 ts_body_only (req, fields, &error)
                     && ts_body_string (req, "product", TRUE, &product, &error)
                     && ts_body_string (req, "kind", TRUE, &kind, &error)
                     && ts_body_string (req, "billing", TRUE, &billing, &error)
                     && ts_body_int (req, "quota", TRUE, &quota, NULL, &error)
                     && ts_body_int (req, "subscription_end", TRUE, &end, NULL, &error),
                 &error))
    return;
  TsPool *p = ts_store_create_pool (req->server->store, req->user_id, req->args[0], product, kind,
                                    billing, quota, end, req->now, &error);
  if (!ts_check (req, p != NULL, &error))
    return;
  ts_reply_json (req, SOUP_STATUS_CREATED, ts_pool_json (p, FALSE));
  ts_pool_free (p);
}

void
ts_handle_pools_update (TsRequest *req)
{
  static const char *const fields[] = { "quota", "subscription_end", "match_policy", NULL };
  GError *error = NULL;
  gint64 quota = -1, end = -1;
  gboolean has_quota = FALSE, has_end = FALSE;
  const char *policy = NULL;
  req->org = g_strdup (req->args[0]);
  if (!ts_check (req,
                 ts_body_only (req, fields, &error)
                     && ts_body_int (req, "quota", FALSE, &quota, &has_quota, &error)
                     && ts_body_int (req, "subscription_end", FALSE, &end, &has_end, &error)
                     && ts_body_string (req, "match_policy", FALSE, &policy, &error),
                 &error))
    return;
  if (!has_quota && !has_end && policy == NULL)
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "missing field \"quota\", \"subscription_end\" or \"match_policy\"");
      return;
    }
  if ((has_quota && quota < 0) || (has_end && end < 0))
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "field \"%s\" must not be negative",
                       has_quota && quota < 0 ? "quota" : "subscription_end");
      return;
    }
  TsPool *p = ts_store_update_pool_policy (req->server->store, req->user_id, req->args[0],
                                           req->args[1], quota, end, policy, req->now, &error);
  if (!ts_check (req, p != NULL, &error))
    return;
  ts_reply_json (req, SOUP_STATUS_OK, ts_pool_json (p, FALSE));
  ts_pool_free (p);
}

/* ---- members ---- */

static JsonNode *
ts_member_json (gconstpointer item)
{
  const TsMember *m = item;
  return ts_json_object ("user_id", 's', m->user_id, "email", 's', m->email, "role", 's',
                         ts_role_to_string (m->role), NULL);
}

void
ts_handle_members_list (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  GPtrArray *members
      = ts_store_list_members (req->server->store, req->user_id, req->args[0], &error);
  ts_reply_list (req, "members", members, error, ts_member_json);
}

void
ts_handle_members_add (TsRequest *req)
{
  static const char *const fields[] = { "email", "role", NULL };
  GError *error = NULL;
  const char *email, *role_name;
  TsRole role;
  req->org = g_strdup (req->args[0]);
  if (!ts_check (req,
                 ts_body_only (req, fields, &error)
                     && ts_body_string (req, "email", TRUE, &email, &error)
                     && ts_body_string (req, "role", TRUE, &role_name, &error),
                 &error))
    return;
  if (!ts_role_from_string (role_name, &role))
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "field \"role\" must be owner, admin or member");
      return;
    }
  char *user_id = ts_store_set_member (req->server->store, req->user_id, req->args[0], email, role,
                                       req->now, &error);
  if (!ts_check (req, user_id != NULL, &error))
    return;
  TsMember m = { user_id, (char *) email, role };
  ts_reply_json (req, SOUP_STATUS_CREATED, ts_member_json (&m));
  g_free (user_id);
}

void
ts_handle_members_remove (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  gboolean ok = ts_store_remove_member (req->server->store, req->user_id, req->args[0],
                                        req->args[1], req->now, &error);
  ts_reply_done (req, ok, error);
}

/* ---- grants ---- */

static JsonNode *
ts_grant_json (gconstpointer item)
{
  const TsGrant *g = item;
  return ts_json_object ("user_id", 's', g->user_id, "email", 's', g->email, "granted_at", 'i',
                         g->granted_at, NULL);
}

void
ts_handle_grants_list (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  GPtrArray *grants
      = ts_store_list_grants (req->server->store, req->user_id, req->args[0], req->args[1], &error);
  ts_reply_list (req, "grants", grants, error, ts_grant_json);
}

void
ts_handle_grants_add (TsRequest *req)
{
  static const char *const fields[] = { "user_id", NULL };
  GError *error = NULL;
  const char *user_id;
  req->org = g_strdup (req->args[0]);
  if (!ts_check (req,
                 ts_body_only (req, fields, &error)
                     && ts_body_string (req, "user_id", TRUE, &user_id, &error),
                 &error))
    return;
  TsStore *store = req->server->store;
  if (!ts_check (req,
                 ts_store_grant (store, req->user_id, req->args[0], req->args[1], user_id, req->now,
                                 &error),
                 &error))
    return;
  /* The grant as stored (granting twice keeps the first). */
  GPtrArray *grants = ts_store_list_grants (store, req->user_id, req->args[0], req->args[1], NULL);
  JsonNode *node = NULL;
  for (guint i = 0; grants != NULL && i < grants->len && node == NULL; i++)
    {
      const TsGrant *g = g_ptr_array_index (grants, i);
      if (strcmp (g->user_id, user_id) == 0)
        node = ts_grant_json (g);
    }
  if (node == NULL)
    node = ts_json_object ("user_id", 's', user_id, "email", 's', NULL, "granted_at", 'i', req->now,
                           NULL);
  ts_reply_json (req, SOUP_STATUS_CREATED, node);
  g_clear_pointer (&grants, g_ptr_array_unref);
}

void
ts_handle_grants_remove (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  gboolean ok = ts_store_revoke_grant (req->server->store, req->user_id, req->args[0], req->args[1],
                                       req->args[2], req->now, &error);
  ts_reply_done (req, ok, error);
}

/* ---- machines and sessions ---- */

static JsonNode *
ts_machine_json (gconstpointer item)
{
  const TsMachine *m = item;
  JsonNode *node
      = ts_json_object ("machine_id", 's', m->machine_id, "user_id", 's', m->user_id,
                        "registered_at", 'i', m->registered_at, "last_seen", 'i', m->last_seen,
                        "hostname", 's', m->hostname, "os", 's', m->os, NULL);
  /* Which components changed over time, newest first (never the digests). */
  JsonArray *changes = json_array_new ();
  for (guint i = 0; m->changes != NULL && i < m->changes->len; i++)
    {
      const TsMachineChange *c = m->changes->pdata[i];
      json_array_add_element (changes, ts_json_object ("at", 'i', c->at, "from", 's', c->from, "to",
                                                       's', c->to, "changed", 's', c->changed,
                                                       "unread", 's', c->unread, NULL));
    }
  json_object_set_array_member (json_node_get_object (node), "changes", changes);
  return node;
}

void
ts_handle_machines_list (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  GPtrArray *machines = ts_store_list_machines (req->server->store, req->user_id, req->args[0],
                                                req->args[1], &error);
  if (machines != NULL
      && !ts_store_fill_machine_changes (req->server->store, req->user_id, req->args[0],
                                         req->args[1], machines, &error))
    g_clear_pointer (&machines, g_ptr_array_unref);
  ts_reply_list (req, "machines", machines, error, ts_machine_json);
}

void
ts_handle_machines_remove (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  gboolean ok = ts_store_remove_machine (req->server->store, req->user_id, req->args[0],
                                         req->args[1], req->args[2], req->now, &error);
  ts_reply_done (req, ok, error);
}

static JsonNode *
ts_session_json (gconstpointer item)
{
  const TsSession *s = item;
  return ts_json_object ("id", 's', s->id, "user_id", 's', s->user_id, "machine_id", 's',
                         s->machine_id, "started_at", 'i', s->started_at, "last_heartbeat", 'i',
                         s->last_heartbeat, "lease_expires_at", 'i', s->lease_expires_at,
                         "hostname", 's', s->hostname, "os", 's', s->os, NULL);
}

void
ts_handle_sessions_list (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  GPtrArray *sessions = ts_store_list_sessions (req->server->store, req->user_id, req->args[0],
                                                req->args[1], req->now, &error);
  ts_reply_list (req, "sessions", sessions, error, ts_session_json);
}

void
ts_handle_sessions_remove (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  gboolean ok = ts_store_force_release (req->server->store, req->user_id, req->args[0],
                                        req->args[1], req->args[2], req->now, &error);
  ts_reply_done (req, ok, error);
}

/* ---- offline ---- */

static JsonNode *
ts_offline_json (gconstpointer item)
{
  const TsOffline *o = item;
  return ts_json_object ("id", 's', o->id, "machine_id", 's', o->machine_id, "created_at", 'i',
                         o->created_at, "expires_at", 'i', o->expires_at, "created_by", 's',
                         o->created_by, NULL);
}

void
ts_handle_offline_list (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  GPtrArray *list = ts_store_list_offline (req->server->store, req->user_id, req->args[0],
                                           req->args[1], &error);
  ts_reply_list (req, "offline", list, error, ts_offline_json);
}

void
ts_handle_offline_create (TsRequest *req)
{
  static const char *const fields[] = { "machine_id", "request", "entitlements", NULL };
  GError *error = NULL;
  const char *machine_id, *request_line;
  g_autoptr (TesseraFingerprint) request = NULL;
  g_auto (GStrv) entitlements = NULL;
  req->org = g_strdup (req->args[0]);
  if (!ts_check (req,
                 ts_body_only (req, fields, &error)
                     && ts_body_string (req, "machine_id", FALSE, &machine_id, &error)
                     && ts_body_string (req, "request", FALSE, &request_line, &error)
                     && ts_body_strv (req, "entitlements", FALSE, &entitlements, &error)
                     /* The machine's request: a file that survives a replaced
                      * NIC (format 2, the pool's match policy). */
                     && (request_line == NULL
                         || (request = tessera_fingerprint_new_from_string (request_line, &error))
                                != NULL),
                 &error))
    return;
  TsOffline *o = ts_store_create_offline_request (
      req->server->store, req->user_id, req->args[0], req->args[1], machine_id, request,
      (const char *const *) entitlements, req->server->key, req->now, &error);
  if (!ts_check (req, o != NULL, &error))
    return;
  req->resp_disposition = g_strdup_printf ("attachment; filename=\"%s\"", o->file_name);
  ts_reply_bytes (req, SOUP_STATUS_CREATED, "application/octet-stream", g_bytes_ref (o->file));
  ts_offline_free (o);
}

/* The stored file of an offline license, byte for byte as created: lost
 * or never written files are fetched again, not issued again (a new one
 * would take another seat). */
void
ts_handle_offline_download (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  TsOffline *o = ts_store_get_offline (req->server->store, req->user_id, req->args[0], req->args[1],
                                       req->args[2], &error);
  if (!ts_check (req, o != NULL, &error))
    return;
  req->resp_disposition = g_strdup_printf ("attachment; filename=\"%s\"", o->file_name);
  ts_reply_bytes (req, SOUP_STATUS_OK, "application/octet-stream", g_bytes_ref (o->file));
  ts_offline_free (o);
}

/* ---- audit ---- */

static JsonNode *
ts_audit_json (gconstpointer item)
{
  const TsAudit *a = item;
  return ts_json_object ("at", 'i', a->at, "actor", 's', a->actor, "actor_email", 's',
                         a->actor_email, "action", 's', a->action, "target", 's', a->target,
                         "target_email", 's', a->target_email, "detail", 's', a->detail, NULL);
}

void
ts_handle_audit (TsRequest *req)
{
  GError *error = NULL;
  req->org = g_strdup (req->args[0]);
  GPtrArray *list = ts_store_list_audit (req->server->store, req->user_id, req->args[0], 0, &error);
  ts_reply_list (req, "audit", list, error, ts_audit_json);
}
