/* tessera-server run for real (issue 19): its log lines (timestamp, level,
 * request id, remote address, org, user; text or JSON; --log-level), the
 * X-Request-Id header, no secret ever in the log, and the configuration
 * file (--config, --check-config, every bad input refused). */
#include "server-test-fixture.h"

#include <string.h>

/* One request with extra headers (@headers: name, value, …, NULL); the
 * response's X-Request-Id and Set-Cookie go to *@request_id and *@cookie
 * (nullable). */
static Resp
call_headers (Fixture *f, const char *method, const char *path, const char *const *headers,
              const char *body, char **request_id, char **cookie)
{
  g_autofree char *full = g_strconcat (f->url, "/api/v1", path, NULL);
  SoupMessage *msg = soup_message_new (method, full);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  for (guint i = 0; headers != NULL && headers[i] != NULL; i += 2)
    soup_message_headers_replace (h, headers[i], headers[i + 1]);
  if (body != NULL)
    {
      GBytes *b = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", b);
      g_bytes_unref (b);
    }
  GError *error = NULL;
  Resp r = { 0 };
  r.raw = soup_session_send_and_read (f->session, msg, NULL, &error);
  g_assert_no_error (error);
  r.status = soup_message_get_status (msg);
  SoupMessageHeaders *rh = soup_message_get_response_headers (msg);
  if (request_id != NULL)
    *request_id = g_strdup (soup_message_headers_get_one (rh, "X-Request-Id"));
  if (cookie != NULL)
    {
      const char *set = soup_message_headers_get_one (rh, "Set-Cookie");
      *cookie = set != NULL ? g_strndup (set + strlen ("tessera_session="),
                                         strcspn (set + strlen ("tessera_session="), ";"))
                            : NULL;
    }
  JsonParser *parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (r.raw, &len);
  if (len > 0 && json_parser_load_from_data (parser, data, len, NULL))
    r.json = json_node_ref (json_parser_get_root (parser));
  g_object_unref (parser);
  g_object_unref (msg);
  return r;
}

/* The server appends to its log: a fresh one for the next run. */
static void
clear_log (Fixture *f)
{
  g_assert_true (g_file_set_contents (f->log, "", 0, NULL));
}

static char *
read_log (Fixture *f)
{
  char *log = NULL;
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  return log;
}

/* The line of @log holding @needle. Returns: (transfer full). */
static char *
log_line (const char *log, const char *needle)
{
  const char *hit = strstr (log, needle);
  g_assert_nonnull (hit);
  /* An index, not a pointer walked back: GCC 12 at -O2 took the walk for
   * a dangling pointer of the caller's (inlined) buffer. */
  gsize at = (gsize) (hit - log);
  while (at > 0 && log[at - 1] != '\n')
    at--;
  return g_strndup (log + at, strcspn (log + at, "\n"));
}

/* ---------------------------------------------------------------- logs */

/* A text request line: timestamp (UTC, ms), level, the request, its id
 * (the one answered in X-Request-Id), the remote address, org and user. */
static void
test_text_line (Fixture *f, gconstpointer data)
{
  g_autofree char *id = NULL;
  const char *auth[] = { "Authorization", NULL, NULL };
  g_autofree char *bearer = g_strdup_printf ("Bearer %s", f->owner_key);
  auth[1] = bearer;
  Resp r = call_headers (f, "POST", "/activate", auth,
                         "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"n-text-1\","
                         "\"org_id\":\"acme\"}",
                         &id, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_assert_nonnull (id);
  g_assert_cmpuint (strlen (id), ==, 16);
  server_stop (f);
  g_autofree char *log = read_log (f);
  g_autofree char *line = log_line (log, "POST /api/v1/activate 200 ");
  g_test_message ("%s", line);
  g_autofree char *pattern = g_strdup_printf (
      "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z info POST /api/v1/activate 200 "
      "\\d+\\.\\dms request_id=%s remote=127\\.0\\.0\\.1 org=acme user=%s$",
      id, f->owner_id);
  g_assert_true (g_regex_match_simple (pattern, line, 0, 0));
  /* The server's own lines have a timestamp and a level too. */
  g_autofree char *stop = log_line (log, "shutting down");
  g_assert_true (
      g_regex_match_simple ("^\\d{4}-\\d\\d-\\d\\dT[0-9:.]{12}Z info shutting down$", stop, 0, 0));
}

/* X-Request-Id: a sane one of the client's is kept (answered and logged);
 * one too long, with odd characters, or part of the credentials is
 * replaced by a new one. */
static void
test_request_id (Fixture *f, gconstpointer data)
{
  g_autofree char *bearer = g_strdup_printf ("Bearer %s", f->member_key);
  g_autofree char *long_id = g_strnfill (65, 'a');
  g_autofree char *key_part = g_strndup (f->member_key, 20);
  const char *ids[] = { "ci-job_42.run:7", "two words", long_id, "caf\xc3\xa9", key_part };
  char *log_ids[G_N_ELEMENTS (ids)];
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      const char *headers[] = { "Authorization", bearer, "X-Request-Id", ids[i], NULL };
      char *got = NULL;
      Resp r = call_headers (f, "GET", "/me", headers, NULL, &got, NULL);
      g_assert_cmpuint (r.status, ==, 200);
      resp_clear (&r);
      g_assert_nonnull (got);
      if (i == 0)
        g_assert_cmpstr (got, ==, ids[i]);
      else
        {
          g_assert_cmpstr (got, !=, ids[i]);
          g_assert_true (g_regex_match_simple ("^[0-9a-f]{16}$", got, 0, 0));
        }
      log_ids[i] = got;
    }
  /* Every answer has one, errors and unknown paths too. */
  char *got = NULL;
  Resp r = call_headers (f, "GET", "/nowhere", NULL, NULL, &got, NULL);
  g_assert_cmpuint (r.status, ==, 404);
  resp_clear (&r);
  g_assert_nonnull (got);
  server_stop (f);
  g_autofree char *log = read_log (f);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autofree char *needle = g_strdup_printf ("request_id=%s ", log_ids[i]);
      g_autofree char *line = log_line (log, needle);
      g_assert_nonnull (strstr (line, "GET /api/v1/me 200 "));
    }
  g_autofree char *needle = g_strdup_printf ("request_id=%s ", got);
  g_autofree char *line = log_line (log, needle);
  g_assert_nonnull (strstr (line, "GET /api/v1/nowhere 404 "));
  g_assert_null (strstr (log, key_part));
  g_free (got);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    g_free (log_ids[i]);
}

/* --log-format json: one object per line, with the same members. */
static void
test_json_lines (Fixture *f, gconstpointer data)
{
  const char *extra[] = { "--log-format", "json", NULL };
  server_start (f, extra);
  char *sid = activate (f, f->member_key, "M-J", "n-json-1", 200);
  g_free (sid);
  server_stop (f);
  g_autofree char *log = read_log (f);
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  guint requests = 0;
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
    {
      JsonParser *parser = json_parser_new ();
      GError *error = NULL;
      g_test_message ("%s", lines[i]);
      g_assert_true (json_parser_load_from_data (parser, lines[i], -1, &error));
      g_assert_no_error (error);
      JsonObject *o = json_node_get_object (json_parser_get_root (parser));
      g_assert_true (g_regex_match_simple ("^\\d{4}-\\d\\d-\\d\\dT[0-9:.]{12}Z$",
                                           json_object_get_string_member (o, "time"), 0, 0));
      g_assert_nonnull (json_object_get_string_member (o, "level"));
      g_assert_nonnull (json_object_get_string_member (o, "msg"));
      if (json_object_has_member (o, "path")
          && g_str_equal (json_object_get_string_member (o, "path"), "/api/v1/activate"))
        {
          requests++;
          g_assert_cmpstr (json_object_get_string_member (o, "level"), ==, "info");
          g_assert_cmpstr (json_object_get_string_member (o, "method"), ==, "POST");
          g_assert_cmpint (json_object_get_int_member (o, "status"), ==, 200);
          g_assert_cmpstr (json_object_get_string_member (o, "remote"), ==, "127.0.0.1");
          g_assert_cmpstr (json_object_get_string_member (o, "org"), ==, "acme");
          g_assert_cmpstr (json_object_get_string_member (o, "user"), ==, f->member_id);
          g_assert_cmpuint (strlen (json_object_get_string_member (o, "request_id")), ==, 16);
          g_assert_true (json_object_has_member (o, "duration_ms"));
        }
      g_object_unref (parser);
    }
  g_assert_cmpuint (requests, ==, 1);
}

/* --log-level warning: requests (info) are not logged; debug shows them. */
static void
test_log_level (Fixture *f, gconstpointer data)
{
  const char *warning[] = { "--log-level", "warning", NULL };
  server_start (f, warning);
  char *sid = activate (f, f->member_key, "M-L", "n-level-1", 200);
  g_free (sid);
  server_stop (f);
  g_autofree char *quiet = read_log (f);
  g_assert_null (strstr (quiet, "/api/v1/activate"));
  g_assert_null (strstr (quiet, " info "));

  clear_log (f);
  const char *debug[] = { "--log-level", "debug", NULL };
  server_start (f, debug);
  sid = activate (f, f->member_key, "M-L", "n-level-2", 200);
  g_free (sid);
  server_stop (f);
  g_autofree char *loud = read_log (f);
  g_assert_nonnull (strstr (loud, " info POST /api/v1/activate 200 "));
}

/* Bad --log-format and --log-level: exit 1, one line naming the option,
 * no database made. */
static void
test_log_options_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *db = g_build_filename (f->dir, "never.db", NULL);
  const char *const cases[][2] = { { "--log-format", "xml" },
                                   { "--log-format", "" },
                                   { "--log-level", "verbose" },
                                   { "--log-level", "INFO" } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *args[] = { "--database",  db,          "--key-dir", f->keys, "--listen",
                             "127.0.0.1:0", cases[i][0], cases[i][1], NULL };
      g_autofree char *err = server_util_refused (args, 1);
      g_assert_nonnull (strstr (err, cases[i][0]));
      g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
    }
}

/* ---------------------------------------------------------------- secrets */

/* Sign-in, API keys, invites, a password change, activations: through the
 * real server, then not one of the secrets it saw is in its log. */
static void
test_no_secrets (Fixture *f, gconstpointer data)
{
  const char *extra[] = { "--log-level", "debug", "--log-format", data, NULL };
  const char *password = "owner's first passphrase";
  GError *error = NULL;
  TsStore *store = ts_store_open (f->db, &error);
  g_assert_no_error (error);
  g_assert_true (ts_store_web_set_password (store, f->owner_id, password, now_s (), &error));
  g_assert_no_error (error);
  ts_store_close (store);
  server_start (f, extra);
  GPtrArray *secrets = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (secrets, g_strdup (password));
  g_ptr_array_add (secrets, g_strdup (f->owner_key));
  g_ptr_array_add (secrets, g_strdup (f->member_key));

  /* Sign-in: the session cookie and the CSRF token. */
  g_autofree char *login
      = g_strdup_printf ("{\"email\":\"owner@acme.test\",\"password\":\"%s\"}", password);
  g_autofree char *cookie = NULL;
  Resp r = call_headers (f, "POST", "/web/login", NULL, login, NULL, &cookie);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_nonnull (cookie);
  g_autofree char *csrf = g_strdup (str (&r, "csrf_token"));
  resp_clear (&r);
  g_ptr_array_add (secrets, g_strdup (cookie));
  g_ptr_array_add (secrets, g_strdup (csrf));
  g_autofree char *cookie_header = g_strdup_printf ("tessera_session=%s", cookie);
  const char *web[] = { "Cookie", cookie_header, "X-CSRF-Token", csrf, NULL };

  /* An API key made by the page. */
  r = call_headers (f, "POST", "/keys", web, "{\"label\":\"ci\"}", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 201);
  g_autofree char *new_key = g_strdup (str (&r, "key"));
  resp_clear (&r);
  g_ptr_array_add (secrets, g_strdup (new_key));

  /* An invite, accepted with a password of its own. */
  r = call_headers (f, "POST", "/orgs/acme/invites", web,
                    "{\"email\":\"new@acme.test\",\"role\":\"member\"}", NULL, NULL);
  g_assert_cmpuint (r.status, ==, 201);
  g_autofree char *invite = g_strdup (str (&r, "invite_token"));
  resp_clear (&r);
  g_ptr_array_add (secrets, g_strdup (invite));
  const char *invited_pw = "the invited one's passphrase";
  g_ptr_array_add (secrets, g_strdup (invited_pw));
  g_autofree char *accept
      = g_strdup_printf ("{\"token\":\"%s\",\"password\":\"%s\"}", invite, invited_pw);
  g_autofree char *cookie2 = NULL;
  r = call_headers (f, "POST", "/web/accept-invite", NULL, accept, NULL, &cookie2);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  if (cookie2 != NULL)
    g_ptr_array_add (secrets, g_strdup (cookie2));
  /* A wrong sign-in: the wrong password is no more logged. */
  const char *wrong_pw = "a wrong passphrase tried";
  g_ptr_array_add (secrets, g_strdup (wrong_pw));
  g_autofree char *bad_login
      = g_strdup_printf ("{\"email\":\"owner@acme.test\",\"password\":\"%s\"}", wrong_pw);
  r = call_headers (f, "POST", "/web/login", NULL, bad_login, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 401);
  resp_clear (&r);

  /* A password change. */
  const char *new_pw = "owner's second passphrase";
  g_ptr_array_add (secrets, g_strdup (new_pw));
  g_autofree char *change
      = g_strdup_printf ("{\"current_password\":\"%s\",\"new_password\":\"%s\"}", password, new_pw);
  r = call_headers (f, "POST", "/web/password", web, change, NULL, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);

  /* Activation, heartbeat and release with the new key; a bad key. */
  char *sid = activate (f, new_key, "M-S", "n-secret-1", 200);
  g_assert_cmpuint (heartbeat (f, new_key, sid, NULL), ==, 200);
  g_autofree char *release = g_strdup_printf ("{\"session_id\":\"%s\"}", sid);
  r = call (f, "POST", "/release", new_key, release);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  g_free (sid);
  const char *bogus = "tsk_not_a_real_key_but_secret_all_the_same";
  g_ptr_array_add (secrets, g_strdup (bogus));
  r = call (f, "GET", "/me", bogus, NULL);
  g_assert_cmpuint (r.status, ==, 401);
  resp_clear (&r);

  server_stop (f);
  g_autofree char *log = read_log (f);
  g_assert_nonnull (strstr (log, "/api/v1/web/login"));
  g_assert_nonnull (strstr (log, "/api/v1/web/accept-invite"));
  for (guint i = 0; i < secrets->len; i++)
    {
      const char *secret = g_ptr_array_index (secrets, i);
      if (strstr (log, secret) != NULL)
        g_error ("secret %u (%zu characters) is in the log:\n%s", i, strlen (secret), log);
    }
  g_ptr_array_unref (secrets);
}

/* ---------------------------------------------------------------- configuration */

static char *
write_config (Fixture *f, const char *name, const char *text)
{
  char *path = g_build_filename (f->dir, name, NULL);
  GError *error = NULL;
  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
  return path;
}

/* The file's settings are used; the command line's win over them. */
static void
test_config_file (Fixture *f, gconstpointer data)
{
  g_autofree char *config = write_config (f, "server.conf",
                                          "# a comment\n[server]\nlog-format=json\n"
                                          "listen=127.0.0.1:1\nlease=7\nlog-level=info\n");
  const char *extra[] = { "--config", config, NULL };
  server_start (f, extra); /* its --listen 127.0.0.1:0 wins over the file's */
  char *sid = activate (f, f->member_key, "M-C", "n-config-1", 200);
  g_free (sid);
  server_stop (f);
  g_autofree char *json = read_log (f);
  g_assert_true (g_str_has_prefix (json, "{\"time\":\""));
  g_assert_nonnull (strstr (json, "\"path\":\"/api/v1/activate\""));

  clear_log (f);
  const char *text[] = { "--config", config, "--log-format", "text", NULL };
  server_start (f, text);
  sid = activate (f, f->member_key, "M-C", "n-config-2", 200);
  g_free (sid);
  server_stop (f);
  g_autofree char *plain = read_log (f);
  g_assert_null (strstr (plain, "{\"time\""));
  g_assert_nonnull (strstr (plain, " info POST /api/v1/activate 200 "));
}

/* --check-config: the settings in effect, from the defaults, the file and
 * the command line, a URL's password hidden; exit 0, nothing created. */
static void
test_check_config (Fixture *f, gconstpointer data)
{
  g_autofree char *kek = server_util_kek_path (f->keys);
  g_autofree char *text
      = g_strdup_printf ("[server]\n"
                         "database=postgresql://tessera:pg-s3cret@127.0.0.1:1/"
                         "tessera?password=other-s3cret&pool_size=4\n"
                         "key-encryption-key=%s\nlease=30\nlisten=127.0.0.1:9\nlog-format=json\n",
                         kek);
  g_autofree char *config = write_config (f, "check.conf", text);
  const char *args[] = { "--config", config, "--check-config", "--listen", "127.0.0.1:7", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (server_util_run (args, &out, &err), ==, 0);
  g_test_message ("%s", out);
  g_assert_cmpstr (err, ==, "");
  g_assert_null (strstr (out, "s3cret"));
  g_assert_nonnull (strstr (out, "\ndatabase=postgresql://tessera:***@127.0.0.1:1/tessera?"
                                 "password=***&pool_size=4\n"));
  g_assert_nonnull (strstr (out, "\nlisten=127.0.0.1:7\n"));
  g_assert_nonnull (strstr (out, "\nlease=30\n"));
  g_assert_nonnull (strstr (out, "\nreap-interval=7\n")); /* lease / 4 */
  g_assert_nonnull (strstr (out, "\nlog-format=json\n"));
  g_assert_nonnull (strstr (out, "\nlog-level=info\n"));
  g_assert_nonnull (strstr (out, "\nidle-timeout=60\n"));
  g_assert_nonnull (strstr (out, config));
  /* What it prints is a configuration file itself. */
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (kf, out, -1, G_KEY_FILE_NONE, NULL));
  g_assert_cmpint (g_key_file_get_integer (kf, "server", "lease", NULL), ==, 30);

  /* No file: the defaults. */
  g_autofree char *db = g_build_filename (f->dir, "never.db", NULL);
  const char *plain[] = { "--database", db, "--check-config", NULL };
  g_autofree char *out2 = NULL, *err2 = NULL;
  g_assert_cmpint (server_util_run (plain, &out2, &err2), ==, 0);
  g_assert_nonnull (strstr (out2, "\nlisten=127.0.0.1:8443\n"));
  g_assert_nonnull (strstr (out2, "\nlease=60\n"));
  g_assert_nonnull (strstr (out2, "\nlog-format=text\n"));
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));

  /* The sample the packages install is a valid file, with the service's
   * database and address. */
  g_autofree char *sample
      = g_build_filename (g_getenv ("TESSERA_TEST_SRCDIR"), "data", "server.conf", NULL);
  const char *check_sample[] = { "--config", sample, "--check-config", NULL };
  g_autofree char *out3 = NULL, *err3 = NULL;
  g_assert_cmpint (server_util_run (check_sample, &out3, &err3), ==, 0);
  g_assert_cmpstr (err3, ==, "");
  g_assert_nonnull (strstr (out3, "\ndatabase=/var/lib/tessera/tessera.db\n"));
  g_assert_nonnull (strstr (out3, "\nlisten=127.0.0.1:8443\n"));
}

/* Every bad configuration: the exit code (9 a bad file, 10 one that cannot
 * be read, 1 a bad command line), one line naming the problem, with or
 * without --check-config, and no database made. */
static void
test_config_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *db = g_build_filename (f->dir, "never.db", NULL);
  const struct
  {
    const char *text; /* NULL: no such file */
    int code;
    const char *says;
  } cases[] = {
    { NULL, 10, "cannot read the configuration file" },
    { "[server]\nthis is not a key\n", 9, "bad configuration file" },
    { "[srever]\nlease=60\n", 9, "unknown group [srever]" },
    { "lease=60\n", 9, "bad configuration file" },
    { "[server]\nlese=60\n", 9, "unknown key 'lese' in [server] (did you mean 'lease'?)" },
    { "[server]\nconfig=/x\n", 9, "unknown key 'config'" },
    { "[server]\nlease=sixty\n", 9, "lease = 'sixty' is not a whole number" },
    { "[server]\nlease=99999999999\n", 9, "lease = '99999999999' is not a whole number" },
    { "[server]\nlease=2\n", 9, "lease (in " },
    { "[server]\nhttp-threads=0\n", 9, "http-threads (in " },
    { "[server]\nidle-timeout=0\n", 9, "idle-timeout (in " },
    { "[server]\nreap-interval=-1\n", 9, "reap-interval (in " },
    { "[server]\nallow-insecure=yes\n", 9, "allow-insecure = 'yes' is neither true nor false" },
    { "[server]\nlog-format=xml\n", 9, "log-format (in " },
    { "[server]\nlog-level=loud\n", 9, "log-level (in " },
    { "[server]\nlisten=nowhere\n", 9, "invalid listen (in " },
    { "[server]\nlisten=192.0.2.1:8443\n", 9, "refusing plain HTTP" },
    { "[server]\ntls-cert=/x.pem\n", 9, "tls-cert (in " },
    { "[server]\nkey-encryption-key=\n", 9, "key-encryption-key has no value" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("bad-%u.conf", i);
      g_autofree char *config = cases[i].text != NULL ? write_config (f, name, cases[i].text)
                                                      : g_build_filename (f->dir, name, NULL);
      for (guint check = 0; check < 2; check++)
        {
          const char *args[] = { "--config",
                                 config,
                                 "--database",
                                 db,
                                 "--key-dir",
                                 f->keys,
                                 check ? "--check-config" : NULL,
                                 NULL };
          g_autofree char *err = server_util_refused (args, cases[i].code);
          g_test_message ("%s", err);
          g_assert_nonnull (strstr (err, cases[i].says));
          g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
        }
    }
  /* The same value on the command line is the command's fault: 1. */
  const char *args[] = { "--database", db, "--key-dir", f->keys, "--lease", "2", NULL };
  g_autofree char *err = server_util_refused (args, 1);
  g_assert_nonnull (strstr (err, "--lease must be 5 to 86400 seconds"));
  /* A file's bad value is refused even when the command line overrides
   * it? No: the command line has the last word, the file's is not read. */
  g_autofree char *config = write_config (f, "override.conf", "[server]\nlease=2\n");
  const char *fixed[]
      = { "--config", config, "--database", db, "--lease", "60", "--check-config", NULL };
  g_autofree char *out = NULL, *err2 = NULL;
  g_assert_cmpint (server_util_run (fixed, &out, &err2), ==, 0);
  g_assert_nonnull (strstr (out, "\nlease=60\n"));
}

/* --version: the version, exit 0. */
/* TESSERA_SERVER_CONFIG: the file read without --config (--config wins over
 * it); set but empty, no file is read; a file it names must exist. */
static void
test_config_env (Fixture *f, gconstpointer data)
{
  g_autofree char *env_conf = write_config (f, "env.conf", "[server]\nlease=42\n");
  g_autofree char *arg_conf = write_config (f, "arg.conf", "[server]\nlease=30\n");
  g_autofree char *missing = g_build_filename (f->dir, "missing.conf", NULL);
  g_autofree char *saved = g_strdup (g_getenv ("TESSERA_SERVER_CONFIG"));
  const char *check[] = { "--check-config", NULL };
  const char *with_arg[] = { "--config", arg_conf, "--check-config", NULL };
  g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
  g_autofree char *out3 = NULL, *err3 = NULL, *out4 = NULL, *err4 = NULL;

  g_setenv ("TESSERA_SERVER_CONFIG", env_conf, TRUE);
  g_assert_cmpint (server_util_run (check, &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "\nlease=42\n"));
  g_assert_cmpint (server_util_run (with_arg, &out2, &err2), ==, 0);
  g_assert_nonnull (strstr (out2, "\nlease=30\n"));

  g_setenv ("TESSERA_SERVER_CONFIG", missing, TRUE);
  g_assert_cmpint (server_util_run (check, &out3, &err3), ==, 10);
  g_assert_nonnull (strstr (err3, "missing.conf"));
  /* One line. */
  g_assert_true (strchr (err3, '\n') == err3 + strlen (err3) - 1);

  g_setenv ("TESSERA_SERVER_CONFIG", "", TRUE);
  g_assert_cmpint (server_util_run (check, &out4, &err4), ==, 0);
  g_assert_nonnull (strstr (out4, "\nlease=60\n"));

  if (saved != NULL)
    g_setenv ("TESSERA_SERVER_CONFIG", saved, TRUE);
  else
    g_unsetenv ("TESSERA_SERVER_CONFIG");
}

static void
test_version (Fixture *f, gconstpointer data)
{
  const char *args[] = { "--version", NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (server_util_run (args, &out, &err), ==, 0);
  g_autofree char *want = g_strdup_printf ("tessera-server %s\n", TESSERA_VERSION_STRING);
  g_assert_cmpstr (out, ==, want);
  g_assert_cmpstr (err, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("ops/log/text", test_text_line, NULL);
  ADD ("ops/log/request-id", test_request_id, NULL);
  ADD ("ops/log/json", test_json_lines, NO_SERVER);
  ADD ("ops/log/level", test_log_level, NO_SERVER);
  ADD ("ops/log/options-refused", test_log_options_refused, NO_SERVER);
  ADD ("ops/log/no-secrets/text", test_no_secrets, "text");
  ADD ("ops/log/no-secrets/json", test_no_secrets, "json");
  ADD ("ops/config/file", test_config_file, NO_SERVER);
  ADD ("ops/config/check", test_check_config, NO_SERVER);
  ADD ("ops/config/refused", test_config_refused, NO_SERVER);
  ADD ("ops/config/env", test_config_env, NO_SERVER);
  ADD ("ops/version", test_version, NO_SERVER);
  return g_test_run ();
}
