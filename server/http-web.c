/* tessera-server: web sign-in for the /admin/ pages, and the pages themselves
 * (docs/protocol.md, "Web sign-in").
 *
 * A browser authenticates with an HttpOnly, SameSite=Strict session cookie.
 * A cookie is ambient (the browser sends it by itself), so every
 * state-changing request authenticated by it must also carry the session's
 * CSRF token in X-CSRF-Token, which only the page (same origin) can read from
 * GET /web/session. A Bearer API key is never ambient: it needs no token. */
#include "http-private.h"

#include <sodium.h>
#include <string.h>

#define TS_WEB_RESOURCE_ROOT "/org/tessera/admin"

/* Content-Security-Policy of the pages: nothing but this server's own
 * scripts, styles and API; no inline script, no framing. */
#define TS_WEB_CSP                                                                                 \
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "                \
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

void
ts_reply_header (TsRequest *req, const char *name, const char *value)
{
  if (req->resp_headers == NULL)
    req->resp_headers = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (req->resp_headers, g_strdup (name));
  g_ptr_array_add (req->resp_headers, g_strdup (value));
}

void
ts_web_request_clear (TsRequest *req)
{
  if (req->web_token != NULL)
    sodium_memzero (req->web_token, strlen (req->web_token));
  g_clear_pointer (&req->web_token, g_free);
  g_clear_pointer (&req->csrf_header, g_free);
  g_clear_pointer (&req->client_address, g_free);
  g_clear_pointer (&req->web, ts_web_session_free);
  g_clear_pointer (&req->resp_headers, g_ptr_array_unref);
}

static gboolean
ts_web_public_route (TsRequest *req)
{
  return req->handler == ts_handle_web_login || req->handler == ts_handle_web_logout
         || req->handler == ts_handle_web_accept_invite;
}

/* The value of cookie @name in a Cookie header, or NULL. */
static char *
ts_web_cookie_value (const char *header, const char *name)
{
  if (header == NULL)
    return NULL;
  char *found = NULL;
  char **parts = g_strsplit (header, ";", -1);
  for (guint i = 0; parts[i] != NULL && found == NULL; i++)
    {
      char *p = g_strstrip (parts[i]);
      gsize n = strlen (name);
      if (strncmp (p, name, n) == 0 && p[n] == '=' && p[n + 1] != '\0')
        found = g_strdup (p + n + 1);
    }
  for (guint i = 0; parts[i] != NULL; i++)
    sodium_memzero (parts[i], strlen (parts[i]));
  g_strfreev (parts);
  return found;
}

gboolean
ts_web_prepare (TsRequest *req, gboolean bearer)
{
  SoupServerMessage *msg = req->msg;
  SoupMessageHeaders *hdrs = soup_server_message_get_request_headers (msg);
  req->client_address = g_strdup (soup_server_message_get_remote_host (msg));
  /* Not the request URI's scheme: libsoup makes it "https" only for a
   * GTlsConnection, and it reads TLS through http-conn.c's stream. With a
   * certificate every connection is TLS (http-loops.c). */
  req->tls = req->server->cert != NULL;
  req->csrf_header = g_strdup (soup_message_headers_get_one (hdrs, TS_WEB_CSRF_HEADER));
  if (!bearer)
    req->web_token
        = ts_web_cookie_value (soup_message_headers_get_one (hdrs, "Cookie"), TS_WEB_COOKIE);
  return req->web_token != NULL || ts_web_public_route (req);
}

static gboolean
ts_web_safe_method (const char *method)
{
  return g_strcmp0 (method, "GET") == 0 || g_strcmp0 (method, "HEAD") == 0;
}

gboolean
ts_web_authenticate (TsRequest *req)
{
  if (ts_web_public_route (req))
    return TRUE;
  GError *error = NULL;
  req->web = ts_store_web_session (req->server->store, req->web_token, req->now, &error);
  if (req->web == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return FALSE;
    }
  if (!ts_web_safe_method (req->method))
    {
      const char *want = req->web->csrf;
      const char *got = req->csrf_header;
      if (got == NULL || strlen (got) != strlen (want)
          || sodium_memcmp (got, want, strlen (want)) != 0)
        {
          ts_reply_errorf (req, SOUP_STATUS_FORBIDDEN, TESSERA_ERROR_PERMISSION_DENIED,
                           "%s header missing or wrong: a request signed in by cookie that "
                           "changes anything must echo the csrf_token of GET %s/web/session "
                           "(reload the page)",
                           TS_WEB_CSRF_HEADER, TS_API_PREFIX);
          return FALSE;
        }
    }
  req->user_id = g_strdup (req->web->user_id);
  return TRUE;
}

/* ---- cookies ---- */

static void
ts_web_set_cookie (TsRequest *req, const char *token, gint64 max_age)
{
  char *cookie
      = g_strdup_printf ("%s=%s; Path=/; Max-Age=%" G_GINT64_FORMAT "; HttpOnly; SameSite=Strict%s",
                         TS_WEB_COOKIE, token, max_age, req->tls ? "; Secure" : "");
  ts_reply_header (req, "Set-Cookie", cookie);
  sodium_memzero (cookie, strlen (cookie));
  g_free (cookie);
}

static JsonNode *
ts_web_org_json (gconstpointer item)
{
  const TsOrg *o = item;
  return ts_json_object ("id", 's', o->id, "name", 's', o->name, "role", 's',
                         ts_role_to_string (o->role), NULL);
}

/* {"user": {id, email}, "orgs": [...], "csrf_token", "expires_at"}. */
static void
ts_web_reply_session (TsRequest *req, guint status, const char *user_id, const char *email,
                      const TsWebSession *session)
{
  GError *error = NULL;
  GPtrArray *orgs = ts_store_list_user_orgs (req->server->store, user_id, &error);
  if (orgs == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  JsonNode *root
      = ts_json_object ("user", 'n', ts_json_object ("id", 's', user_id, "email", 's', email, NULL),
                        "orgs", 'n', ts_json_array (orgs, ts_web_org_json), "csrf_token", 's',
                        session != NULL ? session->csrf : NULL, NULL);
  if (session != NULL)
    json_object_set_int_member (json_node_get_object (root), "expires_at", session->expires_at);
  else
    json_object_set_null_member (json_node_get_object (root), "expires_at");
  g_ptr_array_unref (orgs);
  ts_reply_json (req, status, root);
}

/* Signs the browser in with @token (taken and wiped) and @session (taken). */
static void
ts_web_signed_in (TsRequest *req, char *token, TsWebSession *session)
{
  ts_web_set_cookie (req, token, session->expires_at - req->now);
  sodium_memzero (token, strlen (token));
  g_free (token);
  ts_web_reply_session (req, SOUP_STATUS_OK, session->user_id, session->email, session);
  ts_web_session_free (session);
}

/* ---- handlers ---- */

void
ts_handle_web_login (TsRequest *req)
{
  static const char *const fields[] = { "email", "password", NULL };
  GError *error = NULL;
  const char *email = NULL, *password = NULL;
  if (!ts_body_only (req, fields, &error) || !ts_body_string (req, "email", TRUE, &email, &error)
      || !ts_body_string (req, "password", TRUE, &password, &error))
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  TsWebSession *session = NULL;
  gint64 retry_after = 0;
  char *token = ts_store_web_login (req->server->store, email, password, req->client_address,
                                    req->now, &session, &retry_after, &error);
  if (token == NULL)
    {
      if (retry_after > 0)
        {
          char *value = g_strdup_printf ("%" G_GINT64_FORMAT, retry_after);
          ts_reply_header (req, "Retry-After", value);
          g_free (value);
          ts_reply_errorf (req, 429 /* Too Many Requests: not in libsoup 3.2 */,
                           TESSERA_ERROR_UNAVAILABLE, "%s", error->message);
        }
      else
        ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_web_signed_in (req, token, session);
}

void
ts_handle_web_logout (TsRequest *req)
{
  GError *error = NULL;
  if (req->web_token != NULL && !ts_store_web_logout (req->server->store, req->web_token, &error))
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_web_set_cookie (req, "", 0);
  ts_reply_empty (req);
}

void
ts_handle_web_session (TsRequest *req)
{
  GError *error = NULL;
  char *email = ts_store_get_user_email (req->server->store, req->user_id, &error);
  if (email == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_web_reply_session (req, SOUP_STATUS_OK, req->user_id, email, req->web);
  g_free (email);
}

void
ts_handle_web_password (TsRequest *req)
{
  static const char *const fields[] = { "current_password", "new_password", NULL };
  GError *error = NULL;
  const char *current = NULL, *next = NULL;
  if (!ts_body_only (req, fields, &error)
      || !ts_body_string (req, "current_password", TRUE, &current, &error)
      || !ts_body_string (req, "new_password", TRUE, &next, &error)
      || !ts_store_web_change_password (req->server->store, req->user_id, current, next,
                                        req->web != NULL ? req->web_token : NULL, req->now, &error))
    {
      /* A wrong current password is a refusal of this request, not a
       * missing sign-in: 403, so the page does not sign the user out. */
      if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_AUTH))
        ts_reply_errorf (req, SOUP_STATUS_FORBIDDEN, TESSERA_ERROR_PERMISSION_DENIED, "%s",
                         error->message);
      else
        ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_reply_empty (req);
}

void
ts_handle_web_accept_invite (TsRequest *req)
{
  static const char *const fields[] = { "token", "password", NULL };
  GError *error = NULL;
  const char *invite = NULL, *password = NULL;
  TsWebSession *session = NULL;
  char *token = NULL;
  if (ts_body_only (req, fields, &error) && ts_body_string (req, "token", TRUE, &invite, &error)
      && ts_body_string (req, "password", TRUE, &password, &error))
    token = ts_store_web_accept_invite (req->server->store, invite, password, req->now, &session,
                                        &error);
  if (token == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_web_signed_in (req, token, session);
}

void
ts_handle_web_invite (TsRequest *req)
{
  static const char *const fields[] = { "email", "role", NULL };
  GError *error = NULL;
  const char *email = NULL, *role_name = NULL;
  req->org = g_strdup (req->args[0]);
  if (!ts_body_only (req, fields, &error) || !ts_body_string (req, "email", TRUE, &email, &error)
      || !ts_body_string (req, "role", TRUE, &role_name, &error))
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  TsRole role;
  if (!ts_role_from_string (role_name, &role))
    {
      ts_reply_errorf (req, SOUP_STATUS_BAD_REQUEST, TESSERA_ERROR_INVALID_ARGUMENT,
                       "field \"role\" must be owner, admin or member");
      return;
    }
  char *user_id = NULL;
  char *token = ts_store_web_invite (req->server->store, req->user_id, req->args[0], email, role,
                                     req->now, &user_id, &error);
  if (token == NULL)
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  char *path = g_strdup_printf ("/admin/#invite=%s", token);
  ts_reply_json (req, SOUP_STATUS_CREATED,
                 ts_json_object ("user_id", 's', user_id, "email", 's', email, "role", 's',
                                 ts_role_to_string (role), "invite_token", 's', token, "setup_path",
                                 's', path, "expires_at", 'i', req->now + TS_WEB_INVITE_SECONDS,
                                 NULL));
  sodium_memzero (token, strlen (token));
  sodium_memzero (path, strlen (path));
  g_free (token);
  g_free (path);
  g_free (user_id);
}

/* ---- the pages ---- */

static const char *
ts_web_content_type (const char *name)
{
  if (g_str_has_suffix (name, ".html"))
    return "text/html; charset=utf-8";
  if (g_str_has_suffix (name, ".css"))
    return "text/css; charset=utf-8";
  if (g_str_has_suffix (name, ".js"))
    return "text/javascript; charset=utf-8";
  if (g_str_has_suffix (name, ".svg"))
    return "image/svg+xml";
  return "application/octet-stream";
}

gboolean
ts_web_static (TsRequest *req, const char *path)
{
  if (g_strcmp0 (path, "/admin") != 0 && !g_str_has_prefix (path, "/admin/"))
    return FALSE;
  if (g_strcmp0 (path, "/admin") == 0)
    {
      /* Relative URLs in the page need the trailing slash. */
      ts_reply_header (req, "Location", "/admin/");
      ts_reply_bytes (req, SOUP_STATUS_MOVED_PERMANENTLY, "text/plain", g_bytes_new_static ("", 0));
      return TRUE;
    }
  if (!ts_web_safe_method (req->method))
    {
      ts_reply_errorf (req, SOUP_STATUS_METHOD_NOT_ALLOWED, TESSERA_ERROR_NOT_SUPPORTED,
                       "%s is not allowed on %s", req->method, path);
      return TRUE;
    }
  const char *name = path + strlen ("/admin/");
  if (*name == '\0')
    name = "index.html";
  /* Only plain file names: no "..", no sub-folders. */
  GBytes *data = NULL;
  if (strchr (name, '/') == NULL && strstr (name, "..") == NULL)
    {
      char *res = g_strconcat (TS_WEB_RESOURCE_ROOT "/", name, NULL);
      data = g_resources_lookup_data (res, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
      g_free (res);
    }
  if (data == NULL)
    {
      ts_reply_errorf (req, SOUP_STATUS_NOT_FOUND, TESSERA_ERROR_NOT_FOUND, "no such page %s",
                       path);
      return TRUE;
    }
  ts_reply_header (req, "Content-Security-Policy", TS_WEB_CSP);
  ts_reply_header (req, "X-Content-Type-Options", "nosniff");
  ts_reply_header (req, "X-Frame-Options", "DENY");
  ts_reply_header (req, "Referrer-Policy", "no-referrer");
  ts_reply_header (req, "Cache-Control", "no-store");
  ts_reply_bytes (req, SOUP_STATUS_OK, ts_web_content_type (name), data);
  return TRUE;
}

/* ---- a member's own licenses ---- */

static JsonNode *
ts_web_my_grant_json (gconstpointer item)
{
  const TsMyLicense *l = item;
  return ts_json_object ("org_id", 's', l->org_id, "pool_id", 's', l->pool_id, "product", 's',
                         l->product, "kind", 's', l->kind, "granted_at", 'i', l->granted_at, NULL);
}

static JsonNode *
ts_web_my_session_json (gconstpointer item)
{
  const TsMyLicense *l = item;
  return ts_json_object ("org_id", 's', l->org_id, "pool_id", 's', l->pool_id, "product", 's',
                         l->product, "kind", 's', l->kind, "machine_id", 's', l->machine_id,
                         "started_at", 'i', l->started_at, "last_heartbeat", 'i', l->last_heartbeat,
                         NULL);
}

void
ts_handle_web_my_licenses (TsRequest *req)
{
  GError *error = NULL;
  GPtrArray *grants = NULL, *sessions = NULL;
  if (!ts_store_web_my_licenses (req->server->store, req->user_id, req->now, &grants, &sessions,
                                 &error))
    {
      ts_reply_error (req, error);
      g_error_free (error);
      return;
    }
  ts_reply_json (req, SOUP_STATUS_OK,
                 ts_json_object ("grants", 'n', ts_json_array (grants, ts_web_my_grant_json),
                                 "sessions", 'n', ts_json_array (sessions, ts_web_my_session_json),
                                 NULL));
  g_ptr_array_unref (grants);
  g_ptr_array_unref (sessions);
}
