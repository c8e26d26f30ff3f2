/* Shared by tests/test-server.c and tests/test-server-process.c: the
 * fixture (the real tessera-server on a bootstrapped database, see
 * server-util.h) and a libsoup-3 client. */
#pragma once

#include "answer-payload.h"
#include "server-util.h"
#include "store-backend.h"
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

typedef struct
{
  char *dir;
  char *db;
  char *keys;
  char *log;
  GSubprocess *proc;
  char *url; /* http://127.0.0.1:PORT */
  SoupSession *session;
  /* bootstrap data */
  char *owner_id, *owner_key;
  char *member_id, *member_key;
  char *floating_pool; /* acme KRE floating, quota 10 */
  char *nl_pool;       /* acme KRE node-locked annual, quota 5 */
  gboolean tls;
} Fixture;

/* A case /server/NAME with the fixture: the server is started for it
 * unless @data is NO_SERVER (or another non-NULL value the test reads). */
#define NO_SERVER GINT_TO_POINTER (1)
#define ADD(name, func, data)                                                                      \
  g_test_add ("/server/" name, Fixture, data, fixture_setup, func, fixture_teardown)

typedef struct
{
  guint status;
  JsonNode *json;
  GBytes *raw;
  char *content_type;
  char *disposition;
} Resp;

/* ---------------------------------------------------------------- server */

/* The TLS run keeps ASan but not its leak check in the server (every other
 * test checks the server for leaks). */
static inline void
server_start (Fixture *f, const char *const *extra)
{
  f->proc = server_util_spawn (f->db, f->keys, f->log, extra, f->tls, &f->url);
}

static inline void
server_stop (Fixture *f)
{
  if (f->proc == NULL)
    return;
  /* Close our idle keep-alive connections first. */
  soup_session_abort (f->session);
  g_usleep (50 * 1000);
  server_util_stop_clean (f->proc, f->log);
  g_clear_object (&f->proc);
}

static inline void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = test_tmpdir_new ();
  f->db = test_store_location (f->dir);
  f->keys = g_build_filename (f->dir, "keys", NULL);
  f->log = g_build_filename (f->dir, "server.log", NULL);
  f->session = soup_session_new_with_options ("timeout", 60, NULL);

  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  f->owner_id = ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", now, &error);
  g_assert_no_error (error);
  char *kid = NULL;
  f->owner_key = ts_store_create_api_key (store, f->owner_id, "test", now, &kid, &error);
  g_assert_no_error (error);
  g_free (kid);
  f->member_id
      = ts_store_set_member (store, NULL, "acme", "member@acme.test", TS_ROLE_MEMBER, now, &error);
  g_assert_no_error (error);
  f->member_key = ts_store_create_api_key (store, f->member_id, "test", now, &kid, &error);
  g_assert_no_error (error);
  g_free (kid);
  f->floating_pool = server_util_create_pool (store, "floating", 10, now);
  f->nl_pool = server_util_create_pool (store, "node-locked", 5, now);
  ts_store_close (store);

  if (data == NULL)
    server_start (f, NULL);
}

static inline void
fixture_teardown (Fixture *f, gconstpointer data)
{
  server_stop (f);
  /* Never a secret in the log: the fixture's API keys, and no API key,
   * session cookie, invite token or Authorization value of any test
   * (known by their prefixes; the log has no reason to hold one). */
  char *log = NULL;
  if (g_file_get_contents (f->log, &log, NULL, NULL))
    {
      g_assert_null (strstr (log, f->owner_key));
      g_assert_null (strstr (log, f->member_key));
      const char *const marks[]
          = { "tsk_", TS_WEB_SESSION_PREFIX, TS_WEB_INVITE_PREFIX, "Bearer", NULL };
      for (guint i = 0; marks[i] != NULL; i++)
        if (strstr (log, marks[i]) != NULL)
          g_error ("'%s' in the server's log:\n%s", marks[i], log);
    }
  g_free (log);
  g_object_unref (f->session);
  test_tmpdir_free (f->dir);
  test_store_location_free (f->db);
  g_free (f->keys);
  g_free (f->log);
  g_free (f->url);
  g_free (f->owner_id);
  g_free (f->owner_key);
  g_free (f->member_id);
  g_free (f->member_key);
  g_free (f->floating_pool);
  g_free (f->nl_pool);
}

/* ---------------------------------------------------------------- client */

static inline void
resp_clear (Resp *r)
{
  g_clear_pointer (&r->json, json_node_unref);
  g_clear_pointer (&r->raw, g_bytes_unref);
  g_clear_pointer (&r->content_type, g_free);
  g_clear_pointer (&r->disposition, g_free);
}

/* Sends one request; @ctype NULL with a body means application/json. */
static inline Resp
call_full (SoupSession *session, const char *url, const char *method, const char *path,
           const char *key, const char *ctype, const char *body, gssize body_len)
{
  char *full = g_strconcat (url, "/api/v1", path, NULL);
  SoupMessage *msg = soup_message_new (method, full);
  g_assert_nonnull (msg);
  g_free (full);
  if (key != NULL)
    {
      char *auth = g_strdup_printf ("Bearer %s", key);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
      g_free (auth);
    }
  if (body != NULL)
    {
      GBytes *b = g_bytes_new (body, body_len < 0 ? strlen (body) : (gsize) body_len);
      soup_message_set_request_body_from_bytes (msg, ctype != NULL ? ctype : "application/json", b);
      g_bytes_unref (b);
    }
  GError *error = NULL;
  Resp r = { 0 };
  r.raw = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  r.status = soup_message_get_status (msg);
  SoupMessageHeaders *h = soup_message_get_response_headers (msg);
  r.content_type = g_strdup (soup_message_headers_get_content_type (h, NULL));
  r.disposition = g_strdup (soup_message_headers_get_one (h, "Content-Disposition"));
  if (g_strcmp0 (r.content_type, "application/json") == 0)
    {
      JsonParser *parser = json_parser_new ();
      gsize len = 0;
      const char *data = g_bytes_get_data (r.raw, &len);
      g_assert_true (json_parser_load_from_data (parser, data, len, NULL));
      r.json = json_node_ref (json_parser_get_root (parser));
      g_object_unref (parser);
    }
  g_object_unref (msg);
  return r;
}

static inline Resp
call (Fixture *f, const char *method, const char *path, const char *key, const char *body)
{
  return call_full (f->session, f->url, method, path, key, NULL, body, -1);
}

static inline JsonObject *
obj (Resp *r)
{
  g_assert_nonnull (r->json);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (r->json));
  return json_node_get_object (r->json);
}

static inline const char *
str (Resp *r, const char *name)
{
  return json_object_get_string_member (obj (r), name);
}

/* A signed answer's payload member @name, a string (transfer full). */
static inline char *
payload_str (Resp *r, const char *name)
{
  JsonObject *p = answer_payload (obj (r));
  char *s = g_strdup (json_object_get_string_member (p, name));
  json_object_unref (p);
  return s;
}

static inline const char *
error_code (Resp *r)
{
  return json_object_get_string_member (json_object_get_object_member (obj (r), "error"), "code");
}

/* status and error code of a failed call */
#define assert_error(r, st, code)                                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_assert_cmpuint ((r)->status, ==, (st));                                                      \
    g_assert_cmpstr (error_code (r), ==, (code));                                                  \
    g_assert_nonnull (json_object_get_string_member (                                              \
        json_object_get_object_member (obj (r), "error"), "message"));                             \
  }                                                                                                \
  G_STMT_END

static inline char *
activate (Fixture *f, const char *key, const char *machine, const char *nonce, guint want)
{
  char *body = g_strdup_printf (
      "{\"product\":\"KRE\",\"machine_id\":\"%s\",\"nonce\":\"%s\",\"org_id\":\"acme\"}", machine,
      nonce);
  Resp r = call (f, "POST", "/activate", key, body);
  g_free (body);
  g_assert_cmpuint (r.status, ==, want);
  char *id = r.status == 200 ? payload_str (&r, "session_id") : NULL;
  resp_clear (&r);
  return id;
}

static inline guint
heartbeat (Fixture *f, const char *key, const char *session_id, char **code)
{
  char *body = g_strdup_printf ("{\"session_id\":\"%s\"}", session_id);
  Resp r = call (f, "POST", "/heartbeat", key, body);
  g_free (body);
  if (code != NULL)
    *code = r.status != 200 ? g_strdup (error_code (&r)) : NULL;
  guint status = r.status;
  resp_clear (&r);
  return status;
}

static inline guint
count_list (Fixture *f, const char *path, const char *member)
{
  Resp r = call (f, "GET", path, f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  guint n = json_array_get_length (json_object_get_array_member (obj (&r), member));
  resp_clear (&r);
  return n;
}

static inline guint
count_sessions (Fixture *f, const char *pool)
{
  char *path = g_strdup_printf ("/orgs/acme/pools/%s/sessions", pool);
  guint n = count_list (f, path, "sessions");
  g_free (path);
  return n;
}

static inline GBytes *
get_public_key (Fixture *f)
{
  Resp r = call (f, "GET", "/public-key", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  GBytes *b = g_bytes_ref (r.raw);
  resp_clear (&r);
  return b;
}

/* TRUE if @lic verifies with @pub (a public key line) alone. */
static inline gboolean
verifies_with (GBytes *lic, GBytes *pub)
{
  char *line = g_strndup (g_bytes_get_data (pub, NULL), g_bytes_get_size (pub));
  g_strstrip (line);
  TesseraTrustedKeys *keys = tessera_trusted_keys_new ();
  GError *error = NULL;
  g_assert_true (tessera_trusted_keys_add_public (keys, line, &error));
  g_assert_no_error (error);
  TesseraLicfile *l = tessera_licfile_verify (lic, keys, &error);
  gboolean ok = l != NULL;
  g_clear_error (&error);
  g_clear_pointer (&l, tessera_licfile_unref);
  tessera_trusted_keys_unref (keys);
  g_free (line);
  return ok;
}
