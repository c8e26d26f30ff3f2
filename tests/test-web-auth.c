/* Web sign-in (server/store-web.c, server/http-web.c): the store's rules with
 * a controlled clock, then the real tessera-server ($TESSERA_SERVER) on
 * 127.0.0.1 for the cookie, CSRF and rate-limit answers over HTTP. */
#include "server-util.h"
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#define NOW ((gint64) 1700000000)
#define OWNER_PW "owner passphrase 1"
#define ADMIN_PW "admin passphrase 2"

typedef struct
{
  char *dir;
  char *path;
  TsStore *store;
  char *owner, *admin, *member;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  f->dir = test_tmpdir_new ();
  f->path = g_build_filename (f->dir, "web.db", NULL);
  f->store = ts_store_open (f->path, &error);
  g_assert_no_error (error);
  f->owner = ts_store_bootstrap_org (f->store, "acme", "Acme", "owner@acme.test", NOW, &error);
  g_assert_no_error (error);
  f->admin
      = ts_store_set_member (f->store, NULL, "acme", "admin@acme.test", TS_ROLE_ADMIN, NOW, &error);
  g_assert_no_error (error);
  f->member = ts_store_set_member (f->store, NULL, "acme", "member@acme.test", TS_ROLE_MEMBER, NOW,
                                   &error);
  g_assert_no_error (error);
  g_assert_true (ts_store_web_set_password (f->store, f->owner, OWNER_PW, NOW, &error));
  g_assert_no_error (error);
  g_assert_true (ts_store_web_set_password (f->store, f->admin, ADMIN_PW, NOW, &error));
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&f->store, ts_store_close);
  test_tmpdir_free (f->dir);
  g_free (f->path);
  g_free (f->owner);
  g_free (f->admin);
  g_free (f->member);
}

/* Signs in at @now; asserts success. */
static char *
login_ok (Fixture *f, const char *email, const char *pw, const char *addr, gint64 now,
          TsWebSession **session)
{
  GError *error = NULL;
  gint64 retry = -1;
  char *token = ts_store_web_login (f->store, email, pw, addr, now, session, &retry, &error);
  g_assert_no_error (error);
  g_assert_nonnull (token);
  g_assert_cmpint (retry, ==, 0);
  return token;
}

/* Signs in at @now; asserts the error @code (and returns retry_after). */
static gint64
login_fails (Fixture *f, const char *email, const char *pw, const char *addr, gint64 now,
             TesseraError code)
{
  GError *error = NULL;
  gint64 retry = -1;
  TsWebSession *s = NULL;
  char *token = ts_store_web_login (f->store, email, pw, addr, now, &s, &retry, &error);
  g_assert_null (token);
  g_assert_null (s);
  g_assert_error (error, TESSERA_ERROR, code);
  g_error_free (error);
  return retry;
}

/* ---------------------------------------------------------------- store */

static void
test_password_rules (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  g_assert_false (ts_store_web_set_password (f->store, f->member, "short", NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "10 to 256"));
  g_clear_error (&error);
  char *huge = g_strnfill (TS_WEB_PASSWORD_MAX + 1, 'x');
  g_assert_false (ts_store_web_set_password (f->store, f->member, huge, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_free (huge);
  g_assert_false (
      ts_store_web_set_password (f->store, "no-such-user", "long enough pw", NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (ts_store_user_by_email (f->store, "nobody@acme.test", &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A member without a password cannot sign in; the message does not say
   * whether the account exists. */
  login_fails (f, "member@acme.test", "anything at all", "10.0.0.1", NOW, TESSERA_ERROR_AUTH);
  login_fails (f, "ghost@acme.test", "anything at all", "10.0.0.1", NOW, TESSERA_ERROR_AUTH);

  /* Never stored in clear: not in the database file, nor its WAL. */
  ts_store_close (f->store);
  f->store = NULL;
  for (guint i = 0; i < 2; i++)
    {
      char *p = g_strconcat (f->path, i == 0 ? "" : "-wal", NULL);
      char *data_ = NULL;
      gsize len = 0;
      if (g_file_get_contents (p, &data_, &len, NULL))
        {
          g_assert_null (g_strstr_len (data_, len, OWNER_PW));
          g_assert_null (g_strstr_len (data_, len, ADMIN_PW));
        }
      g_free (data_);
      g_free (p);
    }
  f->store = ts_store_open (f->path, &error);
  g_assert_no_error (error);
}

static void
test_login_session_expiry (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  login_fails (f, "owner@acme.test", "wrong password!", "10.0.0.1", NOW, TESSERA_ERROR_AUTH);
  login_fails (f, "owner@acme.test", NULL, "10.0.0.1", NOW, TESSERA_ERROR_AUTH);

  TsWebSession *s = NULL;
  /* The email is matched without regard to case, as everywhere. */
  char *token = login_ok (f, "Owner@Acme.test", OWNER_PW, "10.0.0.1", NOW, &s);
  g_assert_true (g_str_has_prefix (token, TS_WEB_SESSION_PREFIX));
  g_assert_cmpstr (s->user_id, ==, f->owner);
  g_assert_cmpuint (strlen (s->csrf), ==, 43);
  g_assert_cmpint (s->expires_at, ==, NOW + TS_WEB_SESSION_SECONDS);

  TsWebSession *again = ts_store_web_session (f->store, token, NOW + 10, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->csrf, ==, s->csrf);
  g_assert_cmpstr (again->email, ==, "owner@acme.test");
  ts_web_session_free (again);

  /* Expired. */
  g_assert_null (ts_store_web_session (f->store, token, NOW + TS_WEB_SESSION_SECONDS, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "expired"));
  g_clear_error (&error);

  /* Malformed and unknown tokens. */
  const char *bad[] = { NULL,
                        "",
                        "tws_short",
                        "tsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                        "tws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
                        "tws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_null (ts_store_web_session (f->store, bad[i], NOW, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_clear_error (&error);
    }

  /* Logout ends it; twice is fine. */
  g_assert_true (ts_store_web_logout (f->store, token, &error));
  g_assert_true (ts_store_web_logout (f->store, token, &error));
  g_assert_no_error (error);
  g_assert_null (ts_store_web_session (f->store, token, NOW + 10, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  ts_web_session_free (s);
  g_free (token);
}

static void
test_rate_limit (Fixture *f, gconstpointer data)
{
  (void) data;
  /* Per account: the 6th attempt in the window is refused before the
   * password is even checked, the right one too. */
  for (int i = 0; i < TS_WEB_FAIL_MAX_ACCOUNT; i++)
    login_fails (f, "owner@acme.test", "wrong password!", "10.0.0.1", NOW + i, TESSERA_ERROR_AUTH);
  gint64 retry = login_fails (f, "owner@acme.test", OWNER_PW, "10.0.0.2", NOW + 10,
                              TESSERA_ERROR_UNAVAILABLE);
  g_assert_cmpint (retry, ==, TS_WEB_FAIL_WINDOW - 10);
  /* Other accounts are not affected. */
  TsWebSession *s = NULL;
  char *token = login_ok (f, "admin@acme.test", ADMIN_PW, "10.0.0.3", NOW + 10, &s);
  g_clear_pointer (&s, ts_web_session_free);
  g_free (token);
  /* After the window, the right password works and clears the count. */
  token = login_ok (f, "owner@acme.test", OWNER_PW, "10.0.0.1", NOW + TS_WEB_FAIL_WINDOW, &s);
  g_clear_pointer (&s, ts_web_session_free);
  g_free (token);

  /* Per address: many accounts guessed from one address. */
  gint64 t = NOW + 10 * TS_WEB_FAIL_WINDOW;
  for (int i = 0; i < TS_WEB_FAIL_MAX_ADDRESS; i++)
    {
      char *email = g_strdup_printf ("guess%d@acme.test", i);
      login_fails (f, email, "wrong password!", "192.0.2.7", t, TESSERA_ERROR_AUTH);
      g_free (email);
    }
  retry = login_fails (f, "admin@acme.test", ADMIN_PW, "192.0.2.7", t, TESSERA_ERROR_UNAVAILABLE);
  g_assert_cmpint (retry, >, 0);
  /* The refused attempt was not counted against the account. */
  token = login_ok (f, "admin@acme.test", ADMIN_PW, "192.0.2.8", t, &s);
  g_clear_pointer (&s, ts_web_session_free);
  g_free (token);

  /* Successful sign-ins from one address never add up to a lockout. */
  t += 10 * TS_WEB_FAIL_WINDOW;
  for (int i = 0; i < TS_WEB_FAIL_MAX_ADDRESS + 2; i++)
    {
      token = login_ok (f, "admin@acme.test", ADMIN_PW, "198.51.100.1", t, &s);
      g_clear_pointer (&s, ts_web_session_free);
      g_free (token);
    }
}

static void
test_change_password (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  TsWebSession *s1 = NULL, *s2 = NULL;
  char *t1 = login_ok (f, "owner@acme.test", OWNER_PW, "10.0.0.1", NOW, &s1);
  char *t2 = login_ok (f, "owner@acme.test", OWNER_PW, "10.0.0.1", NOW, &s2);

  g_assert_false (ts_store_web_change_password (f->store, f->owner, "not it at all",
                                                "new passphrase 9", t1, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  g_assert_false (
      ts_store_web_change_password (f->store, f->owner, OWNER_PW, "short", t1, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* Nothing changed by the refusals. */
  TsWebSession *still = ts_store_web_session (f->store, t2, NOW, &error);
  g_assert_no_error (error);
  ts_web_session_free (still);

  g_assert_true (ts_store_web_change_password (f->store, f->owner, OWNER_PW, "new passphrase 9", t1,
                                               NOW, &error));
  g_assert_no_error (error);
  /* The session that changed it stays; the other ends. */
  still = ts_store_web_session (f->store, t1, NOW, &error);
  g_assert_no_error (error);
  ts_web_session_free (still);
  g_assert_null (ts_store_web_session (f->store, t2, NOW, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  login_fails (f, "owner@acme.test", OWNER_PW, "10.0.0.1", NOW, TESSERA_ERROR_AUTH);
  TsWebSession *s3 = NULL;
  char *t3 = login_ok (f, "owner@acme.test", "new passphrase 9", "10.0.0.1", NOW, &s3);

  /* Guessing the current password is rate limited like signing in: with a
   * stolen cookie too, at most TS_WEB_FAIL_MAX_ACCOUNT guesses a window. */
  for (int i = 0; i < TS_WEB_FAIL_MAX_ACCOUNT; i++)
    {
      g_assert_false (ts_store_web_change_password (f->store, f->owner, "a wrong guess",
                                                    "newer passphrase", t3, NOW + 1, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
      g_assert_nonnull (strstr (error->message, "current password is wrong"));
      g_clear_error (&error);
    }
  g_assert_false (ts_store_web_change_password (f->store, f->owner, "new passphrase 9",
                                                "newer passphrase", t3, NOW + 2, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "too many failed sign-ins"));
  g_clear_error (&error);
  login_fails (f, "owner@acme.test", "new passphrase 9", "10.0.0.9", NOW + 3,
               TESSERA_ERROR_UNAVAILABLE);
  /* After the window it works, and the password really changes. */
  g_assert_true (ts_store_web_change_password (f->store, f->owner, "new passphrase 9",
                                               "newer passphrase", t3, NOW + 1 + TS_WEB_FAIL_WINDOW,
                                               &error));
  g_assert_no_error (error);
  ts_web_session_free (s1);
  ts_web_session_free (s2);
  ts_web_session_free (s3);
  g_free (t1);
  g_free (t2);
  g_free (t3);
}

static void
test_invite (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  /* Owners only. */
  g_assert_null (ts_store_web_invite (f->store, f->admin, "acme", "new@acme.test", TS_ROLE_MEMBER,
                                      NOW, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  g_assert_null (ts_store_web_invite (f->store, f->owner, "acme", "not an email", TS_ROLE_MEMBER,
                                      NOW, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (ts_store_web_invite (f->store, f->owner, "acme", "owner@acme.test", TS_ROLE_MEMBER,
                                      NOW, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* No partial state: the refused invitation created no user. */
  g_assert_null (ts_store_user_by_email (f->store, "new@acme.test", &error));
  g_clear_error (&error);

  char *user = NULL;
  char *invite = ts_store_web_invite (f->store, f->owner, "acme", "new@acme.test", TS_ROLE_MEMBER,
                                      NOW, &user, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (invite, TS_WEB_INVITE_PREFIX));
  /* A member only once accepted. */
  TsRole role;
  g_assert_false (ts_store_get_role (f->store, "acme", user, &role, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);

  TsWebSession *s = NULL;
  /* A bad password leaves the invitation usable. */
  g_assert_null (ts_store_web_accept_invite (f->store, invite, "short", NOW, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* Expired. */
  g_assert_null (ts_store_web_accept_invite (f->store, invite, "fresh passphrase",
                                             NOW + TS_WEB_INVITE_SECONDS, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  char *token = ts_store_web_accept_invite (f->store, invite, "fresh passphrase", NOW, &s, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (s->user_id, ==, user);
  ts_web_session_free (s);
  s = NULL;
  g_assert_true (ts_store_get_role (f->store, "acme", user, &role, &error));
  g_assert_cmpint (role, ==, TS_ROLE_MEMBER);
  /* Once only. */
  g_assert_null (
      ts_store_web_accept_invite (f->store, invite, "other passphrase", NOW, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  g_assert_null (
      ts_store_web_accept_invite (f->store, "twi_garbage", "other passphrase", NOW, &s, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH);
  g_clear_error (&error);
  char *t2 = login_ok (f, "new@acme.test", "fresh passphrase", "10.0.0.1", NOW, &s);
  ts_web_session_free (s);
  g_free (t2);
  g_free (token);
  g_free (invite);
  g_free (user);
}

/* ---------------------------------------------------------------- HTTP */

typedef struct
{
  guint status;
  JsonObject *json;
  char *set_cookie;
  char *retry_after;
} Resp;

static void
resp_clear (Resp *r)
{
  g_clear_pointer (&r->json, json_object_unref);
  g_clear_pointer (&r->set_cookie, g_free);
  g_clear_pointer (&r->retry_after, g_free);
}

static Resp
http (SoupSession *session, const char *url, const char *method, const char *path,
      const char *cookie, const char *csrf, const char *bearer, const char *body)
{
  char *full = g_strconcat (url, "/api/v1", path, NULL);
  SoupMessage *msg = soup_message_new (method, full);
  g_free (full);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  if (cookie != NULL)
    {
      char *c = g_strdup_printf ("other=1; tessera_session=%s", cookie);
      soup_message_headers_replace (h, "Cookie", c);
      g_free (c);
    }
  if (csrf != NULL)
    soup_message_headers_replace (h, "X-CSRF-Token", csrf);
  if (bearer != NULL)
    {
      char *a = g_strdup_printf ("Bearer %s", bearer);
      soup_message_headers_replace (h, "Authorization", a);
      g_free (a);
    }
  if (body != NULL)
    {
      GBytes *b = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", b);
      g_bytes_unref (b);
    }
  GError *error = NULL;
  GBytes *raw = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  Resp r = { 0 };
  r.status = soup_message_get_status (msg);
  SoupMessageHeaders *rh = soup_message_get_response_headers (msg);
  r.set_cookie = g_strdup (soup_message_headers_get_one (rh, "Set-Cookie"));
  r.retry_after = g_strdup (soup_message_headers_get_one (rh, "Retry-After"));
  JsonParser *parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (raw, &len);
  if (len > 0 && json_parser_load_from_data (parser, data, len, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    r.json = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
  g_object_unref (parser);
  g_bytes_unref (raw);
  g_object_unref (msg);
  return r;
}

static const char *
err_code (Resp *r)
{
  g_assert_nonnull (r->json);
  return json_object_get_string_member (json_object_get_object_member (r->json, "error"), "code");
}

static const char *
err_message (Resp *r)
{
  return json_object_get_string_member (json_object_get_object_member (r->json, "error"),
                                        "message");
}

static void
test_http (Fixture *f, gconstpointer data)
{
  (void) data;
  GError *error = NULL;
  gint64 now = now_s ();
  /* A session that expired an hour ago, made through the store. */
  TsWebSession *old = NULL;
  gint64 retry = 0;
  char *expired = ts_store_web_login (f->store, "admin@acme.test", ADMIN_PW, "10.9.9.9",
                                      now - TS_WEB_SESSION_SECONDS - 3600, &old, &retry, &error);
  g_assert_no_error (error);
  ts_web_session_free (old);
  char *key_id = NULL;
  char *api_key = ts_store_create_api_key (f->store, f->owner, "cli", now, &key_id, &error);
  g_assert_no_error (error);
  g_free (key_id);
  g_clear_pointer (&f->store, ts_store_close);

  char *keys = g_build_filename (f->dir, "keys", NULL);
  char *log = g_build_filename (f->dir, "server.log", NULL);
  char *url = NULL;
  GSubprocess *proc = server_util_spawn (f->path, keys, log, NULL, FALSE, &url);
  SoupSession *session = soup_session_new ();

  /* Expired and unknown sessions: 401 (first: a sign-in sweeps expired
   * sessions away, and then the message says "ended"). */
  Resp r = http (session, url, "GET", "/web/session", expired, NULL, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 401);
  g_assert_cmpstr (err_code (&r), ==, "auth");
  g_assert_nonnull (strstr (err_message (&r), "expired"));
  resp_clear (&r);
  r = http (session, url, "GET", "/me", "tws_nonsense", NULL, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 401);
  resp_clear (&r);
  /* Wrong password: 401, no cookie. */
  r = http (session, url, "POST", "/web/login", NULL, NULL, NULL,
            "{\"email\": \"owner@acme.test\", \"password\": \"wrong password\"}");
  g_assert_cmpuint (r.status, ==, 401);
  g_assert_cmpstr (err_code (&r), ==, "auth");
  g_assert_null (r.set_cookie);
  resp_clear (&r);
  /* Unknown fields and a missing one are refused, as everywhere. */
  r = http (session, url, "POST", "/web/login", NULL, NULL, NULL,
            "{\"email\": \"owner@acme.test\", \"pasword\": \"x\"}");
  g_assert_cmpuint (r.status, ==, 400);
  g_assert_nonnull (strstr (err_message (&r), "pasword"));
  resp_clear (&r);

  /* Right password: the cookie and its flags. */
  r = http (session, url, "POST", "/web/login", NULL, NULL, NULL,
            "{\"email\": \"owner@acme.test\", \"password\": \"" OWNER_PW "\"}");
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_nonnull (r.set_cookie);
  g_assert_true (g_str_has_prefix (r.set_cookie, "tessera_session=tws_"));
  g_assert_nonnull (strstr (r.set_cookie, "; HttpOnly"));
  g_assert_nonnull (strstr (r.set_cookie, "; SameSite=Strict"));
  g_assert_nonnull (strstr (r.set_cookie, "; Path=/"));
  g_assert_null (strstr (r.set_cookie, "Secure")); /* plain HTTP on loopback */
  char *cookie = g_strndup (r.set_cookie + strlen ("tessera_session="), 4 + 43);
  char *csrf = g_strdup (json_object_get_string_member (r.json, "csrf_token"));
  resp_clear (&r);

  r = http (session, url, "GET", "/web/session", cookie, NULL, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (json_object_get_string_member (r.json, "csrf_token"), ==, csrf);
  resp_clear (&r);

  /* CSRF: missing or wrong token on a change → 403; reads need none. */
  r = http (session, url, "POST", "/keys", cookie, NULL, NULL, "{\"label\": \"x\"}");
  g_assert_cmpuint (r.status, ==, 403);
  g_assert_cmpstr (err_code (&r), ==, "permission-denied");
  g_assert_nonnull (strstr (err_message (&r), "X-CSRF-Token"));
  resp_clear (&r);
  r = http (session, url, "DELETE", "/orgs/acme/members/x", cookie, "wrong-token", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 403);
  resp_clear (&r);
  r = http (session, url, "GET", "/keys", cookie, NULL, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  r = http (session, url, "POST", "/keys", cookie, csrf, NULL, "{\"label\": \"x\"}");
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);
  /* A Bearer key is not ambient: no token needed. */
  r = http (session, url, "POST", "/keys", NULL, NULL, api_key, "{\"label\": \"y\"}");
  g_assert_cmpuint (r.status, ==, 201);
  resp_clear (&r);

  /* No credentials at all: 401 as before. */
  r = http (session, url, "GET", "/me", NULL, NULL, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 401);
  resp_clear (&r);

  /* A wrong current password is 403 (the page stays signed in). */
  r = http (session, url, "POST", "/web/password", cookie, csrf, NULL,
            "{\"current_password\": \"nope nope nope\", \"new_password\": \"another passphrase\"}");
  g_assert_cmpuint (r.status, ==, 403);
  resp_clear (&r);

  /* Logout: the cookie is cleared and the session ended. */
  r = http (session, url, "POST", "/web/logout", cookie, NULL, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_nonnull (strstr (r.set_cookie, "Max-Age=0"));
  resp_clear (&r);
  r = http (session, url, "GET", "/web/session", cookie, NULL, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 401);
  resp_clear (&r);

  /* Rate limit: 429 with Retry-After. */
  for (int i = 0; i < TS_WEB_FAIL_MAX_ACCOUNT; i++)
    {
      r = http (session, url, "POST", "/web/login", NULL, NULL, NULL,
                "{\"email\": \"admin@acme.test\", \"password\": \"wrong password\"}");
      g_assert_cmpuint (r.status, ==, 401);
      resp_clear (&r);
    }
  r = http (session, url, "POST", "/web/login", NULL, NULL, NULL,
            "{\"email\": \"admin@acme.test\", \"password\": \"" ADMIN_PW "\"}");
  g_assert_cmpuint (r.status, ==, 429);
  g_assert_nonnull (r.retry_after);
  g_assert_cmpint (g_ascii_strtoll (r.retry_after, NULL, 10), >, 0);
  g_assert_nonnull (strstr (err_message (&r), "too many failed sign-ins"));
  resp_clear (&r);

  /* The pages: CSP, and nothing outside /admin/. */
  char *page = g_strconcat (url, "/admin/", NULL);
  SoupMessage *msg = soup_message_new ("GET", page);
  GBytes *body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_assert_nonnull (strstr (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                          "Content-Security-Policy"),
                            "default-src 'none'"));
  g_bytes_unref (body);
  g_object_unref (msg);
  g_free (page);
  /* Only the files compiled in; an escape attempt is refused (by libsoup
   * already, 400, or by the server, 404). */
  const char *const refused[] = { "/admin/admin.gresource.xml", "/admin/nope.js",
                                  "/admin/..%2Fadmin.gresource.xml", "/admin/web/app.js" };
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      page = g_strconcat (url, refused[i], NULL);
      msg = soup_message_new ("GET", page);
      body = soup_session_send_and_read (session, msg, NULL, &error);
      g_assert_no_error (error);
      guint status = soup_message_get_status (msg);
      g_assert_true (status == 404 || status == 400);
      g_bytes_unref (body);
      g_object_unref (msg);
      g_free (page);
    }

  soup_session_abort (session);
  g_object_unref (session);
  server_util_terminate (proc);
  g_object_unref (proc);

  /* No secret in the server's log. */
  char *text = NULL;
  g_assert_true (g_file_get_contents (log, &text, NULL, NULL));
  g_assert_null (strstr (text, OWNER_PW));
  g_assert_null (strstr (text, ADMIN_PW));
  g_assert_null (strstr (text, cookie));
  g_assert_null (strstr (text, csrf));
  g_free (text);

  g_free (cookie);
  g_free (csrf);
  g_free (expired);
  g_free (api_key);
  g_free (url);
  g_free (keys);
  g_free (log);
}

/* tessera-admin password set: the password from stdin only, one line on
 * stderr and a specific exit code for each refusal, nothing changed then. */
static int
admin_password_set (Fixture *f, const char *email, const char *input, char **err)
{
  const char *tool = g_getenv ("TESSERA_ADMIN_TOOL");
  g_assert_nonnull (tool);
  GError *error = NULL;
  GSubprocess *p = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                         | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                     &error, tool, "--database", f->path, "password", "set",
                                     "--email", email, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, input, NULL, NULL, err, &error);
  g_assert_no_error (error);
  int status = g_subprocess_get_exit_status (p);
  g_object_unref (p);
  return status;
}

static void
test_admin_password_set (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&f->store, ts_store_close);
  char *err = NULL;
  g_assert_cmpint (admin_password_set (f, "member@acme.test", "short\n", &err), ==, 11);
  g_assert_nonnull (strstr (err, "invalid password"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (admin_password_set (f, "nobody@acme.test", "long enough pw\n", &err), ==, 12);
  g_assert_nonnull (strstr (err, "no user with email"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (admin_password_set (f, "member@acme.test", "", &err), ==, 1);
  g_assert_nonnull (strstr (err, "no password on standard input"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (admin_password_set (f, "member@acme.test", "member passphrase\n", &err), ==, 0);
  g_clear_pointer (&err, g_free);

  GError *error = NULL;
  f->store = ts_store_open (f->path, &error);
  g_assert_no_error (error);
  TsWebSession *s = NULL;
  /* The newline is not part of the password. */
  char *token = login_ok (f, "member@acme.test", "member passphrase", "10.0.0.1", NOW, &s);
  ts_web_session_free (s);
  g_free (token);
}

static gboolean
accept_cert (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
  return g_tls_certificate_is_same (cert, data);
}

/* Served over TLS, the session cookie is also Secure. */
static void
test_https_secure_cookie (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&f->store, ts_store_close);
  char *cert = g_build_filename (f->dir, "cert.pem", NULL);
  char *key = g_build_filename (f->dir, "key.pem", NULL);
  char *cmd = g_strdup_printf ("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
                               "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s "
                               "-out %s",
                               key, cert);
  int status = 0;
  GError *error = NULL;
  g_assert_true (g_spawn_command_line_sync (cmd, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  char *keys = g_build_filename (f->dir, "keys", NULL);
  char *log = g_build_filename (f->dir, "server.log", NULL);
  char *url = NULL;
  const char *const args[] = { "--tls-cert", cert, "--tls-key", key, NULL };
  GSubprocess *proc = server_util_spawn (f->path, keys, log, args, TRUE, &url);
  g_assert_true (g_str_has_prefix (url, "https://127.0.0.1:"));

  GTlsCertificate *trusted = g_tls_certificate_new_from_file (cert, &error);
  g_assert_no_error (error);
  char *full = g_strconcat (url, "/api/v1/web/login", NULL);
  SoupMessage *msg = soup_message_new ("POST", full);
  const char *body = "{\"email\": \"owner@acme.test\", \"password\": \"" OWNER_PW "\"}";
  GBytes *b = g_bytes_new_static (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", b);
  g_bytes_unref (b);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_cert), trusted);
  SoupSession *session = soup_session_new ();
  GBytes *bytes = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  const char *set_cookie
      = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Set-Cookie");
  g_assert_nonnull (set_cookie);
  g_assert_true (g_str_has_suffix (set_cookie, "; HttpOnly; SameSite=Strict; Secure"));
  g_bytes_unref (bytes);
  g_object_unref (msg);
  soup_session_abort (session);
  g_object_unref (session);
  server_util_terminate (proc);
  g_object_unref (proc);
  g_object_unref (trusted);
  g_free (full);
  g_free (url);
  g_free (keys);
  g_free (log);
  g_free (cmd);
  g_free (cert);
  g_free (key);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/web-auth/store/password-rules", test_password_rules);
  ADD ("/web-auth/store/login-session-expiry", test_login_session_expiry);
  ADD ("/web-auth/store/rate-limit", test_rate_limit);
  ADD ("/web-auth/store/change-password", test_change_password);
  ADD ("/web-auth/store/invite", test_invite);
  ADD ("/web-auth/http", test_http);
  ADD ("/web-auth/https-secure-cookie", test_https_secure_cookie);
  ADD ("/web-auth/admin-password-set", test_admin_password_set);
  return g_test_run ();
}
