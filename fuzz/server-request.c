/* Fuzzes tessera-server's request handling below HTTP framing: routing of
 * the method and path, authentication, the content type, the JSON body and
 * every handler, against a real SQLite store bootstrapped with an
 * organization, an owner, a member and pools. The input is
 *
 *   METHOD SP PATH LF [C] [M] LF BODY
 *
 * where a 'C' on the second line sends the body as application/json (else
 * text/plain) and an 'M' authenticates as the member (else the owner).
 * Whatever the input, the server must answer with a status and, below
 * /api/v1, a JSON object body with an "error" member on every 4xx/5xx. */
#include "fuzz-common.h"

#include "http-private.h"

#include <glib/gstdio.h>
#include <string.h>

static TsServer server;
static char *owner_key, *member_key;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;
  /* tmpfs when there is one: the store writes on most inputs. */
  const char *base = g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir ();
  g_autofree char *tmpl = g_build_filename (base, "tessera-fuzz-server-XXXXXX", NULL);
  char *dir = g_mkdtemp (tmpl) ? g_strdup (tmpl) : NULL;
  if (dir == NULL)
    g_error ("fuzz-server-request: cannot create a temporary directory");
  g_autofree char *db = g_build_filename (dir, "tessera.db", NULL);
  TsStore *store = ts_store_open (db, &error);
  if (store == NULL)
    g_error ("fuzz-server-request: %s", error->message);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autofree char *owner
      = ts_store_bootstrap_org (store, "acme", "Acme", "o@acme.test", now, &error);
  g_autofree char *member = owner ? ts_store_set_member (store, NULL, "acme", "m@acme.test",
                                                         TS_ROLE_MEMBER, now, &error)
                                  : NULL;
  char *kid = NULL;
  owner_key = member ? ts_store_create_api_key (store, owner, "fuzz", now, &kid, &error) : NULL;
  g_free (kid);
  kid = NULL;
  member_key
      = owner_key ? ts_store_create_api_key (store, member, "fuzz", now, &kid, &error) : NULL;
  g_free (kid);
  if (member_key == NULL)
    g_error ("fuzz-server-request: bootstrap: %s", error->message);
  static const char *const kinds[] = { "floating", "node-locked" };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      TsPool *p = ts_store_create_pool (store, NULL, "acme", "KRE", kinds[i], "annual", 5,
                                        now + 365 * 24 * 3600, now, &error);
      if (p == NULL)
        g_error ("fuzz-server-request: pool: %s", error->message);
      ts_pool_free (p);
    }
  server.store = store;
  server.key = tessera_signing_key_generate ();
  server.public_key = tessera_signing_key_dup_public (server.key);
  server.lease_seconds = 60;
  g_free (dir);
  return 0;
}

static void
check_answer (TsRequest *req)
{
  if (req->resp_body == NULL)
    g_error ("no answer for %s %s", req->method, req->path);
  if (req->status < 200 || req->status > 599)
    g_error ("status %u for %s %s", req->status, req->method, req->path);
  if (!g_str_has_prefix (req->path, TS_API_PREFIX "/") || req->resp_type == NULL
      || !g_str_has_prefix (req->resp_type, "application/json"))
    return;
  gsize len = 0;
  const char *data = g_bytes_get_data (req->resp_body, &len);
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, (gssize) len, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    g_error ("%s %s: the answer is not a JSON object", req->method, req->path);
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  if (req->status >= 400 && !json_object_has_member (o, "error"))
    g_error ("%s %s: a %u answer without \"error\"", req->method, req->path, req->status);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  const char *nl = memchr (text, '\n', size);
  if (nl == NULL)
    return 0;
  g_autofree char *line = g_strndup (text, (gsize) (nl - text));
  const char *sp = strchr (line, ' ');
  if (sp == NULL)
    return 0;
  const char *rest = nl + 1;
  gsize rest_len = size - (gsize) (rest - text);
  const char *nl2 = memchr (rest, '\n', rest_len);
  g_autofree char *flags = nl2 ? g_strndup (rest, (gsize) (nl2 - rest)) : g_strdup ("");
  const char *body = nl2 ? nl2 + 1 : rest + rest_len;
  gsize body_len = (gsize) (text + size - body);

  TsRequest *req = g_new0 (TsRequest, 1);
  req->server = &server;
  req->method = g_strndup (line, (gsize) (sp - line));
  req->path = g_strdup (sp + 1);
  req->now = g_get_real_time () / G_USEC_PER_SEC;
  req->client_address = g_strdup ("127.0.0.1");
  if (ts_route_resolve (req))
    {
      req->api_key = g_strdup (strchr (flags, 'M') ? member_key : owner_key);
      if (req->want_body)
        {
          req->content_type = g_strdup (strchr (flags, 'C') ? "application/json" : "text/plain");
          req->body = g_bytes_new (body, body_len);
        }
      ts_request_run_sync (req);
    }
  check_answer (req);
  ts_request_free (req);
  return 0;
}
