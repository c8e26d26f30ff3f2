/* What a client says about itself on activation (docs/protocol.md, "Client
 * information"): the host name and OS are stored with the session and the
 * machine and listed to administrators, bad values are refused with
 * nothing stored, and a client that sends none still activates. On both
 * backends (tests/store-backend.h). */
#include "server-test-fixture.h"

#include <string.h>

/* The listing @path's only element of array @member (transfer full). */
static JsonObject *
only_item (Fixture *f, const char *path, const char *member)
{
  Resp r = call (f, "GET", path, f->owner_key, NULL);
  g_assert_cmpuint (r.status, ==, 200);
  JsonArray *a = json_object_get_array_member (obj (&r), member);
  g_assert_cmpuint (json_array_get_length (a), ==, 1);
  JsonObject *o = json_object_ref (json_array_get_object_element (a, 0));
  resp_clear (&r);
  return o;
}

static void
assert_listed (Fixture *f, const char *hostname, const char *os)
{
  g_autofree char *spath = g_strdup_printf ("/orgs/acme/pools/%s/sessions", f->floating_pool);
  g_autofree char *mpath = g_strdup_printf ("/orgs/acme/pools/%s/machines", f->floating_pool);
  const char *paths[] = { spath, mpath };
  const char *members[] = { "sessions", "machines" };
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *o = only_item (f, paths[i], members[i]);
      /* Present either way: null for a client that sent nothing. */
      g_assert_true (json_object_has_member (o, "hostname"));
      g_assert_true (json_object_has_member (o, "os"));
      g_assert_cmpstr (json_object_get_string_member_with_default (o, "hostname", NULL), ==,
                       hostname);
      g_assert_cmpstr (json_object_get_string_member_with_default (o, "os", NULL), ==, os);
      json_object_unref (o);
    }
}

static void
test_client_info (Fixture *f, gconstpointer data)
{
  Resp r = call (f, "POST", "/activate", f->member_key,
                 "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\","
                 "\"org_id\":\"acme\",\"hostname\":\"build-07.acme.test\","
                 "\"os\":\"Debian GNU/Linux 13 (trixie)\"}");
  g_assert_cmpuint (r.status, ==, 200);
  /* Not in the signed answer: the client knows what it sent. */
  JsonObject *p = answer_payload (obj (&r));
  g_assert_false (json_object_has_member (p, "hostname"));
  g_assert_false (json_object_has_member (p, "os"));
  json_object_unref (p);
  resp_clear (&r);
  assert_listed (f, "build-07.acme.test", "Debian GNU/Linux 13 (trixie)");
}

/* A client from before these fields: it activates, nothing is shown. */
static void
test_old_client (Fixture *f, gconstpointer data)
{
  g_autofree char *sid = activate (f, f->member_key, "M-1", "nonce-0001", 200);
  g_assert_nonnull (sid);
  assert_listed (f, NULL, NULL);
}

static void
test_bad_client_info (Fixture *f, gconstpointer data)
{
  g_autofree char *long_host = g_strnfill (TS_CLIENT_HOSTNAME_MAX + 1, 'h');
  g_autofree char *long_os = g_strnfill (TS_CLIENT_OS_MAX + 1, 'o');
  g_autofree char *host_field = g_strdup_printf ("\"hostname\":\"%s\"", long_host);
  g_autofree char *os_field = g_strdup_printf ("\"os\":\"%s\"", long_os);
  const struct
  {
    const char *field, *hint;
  } bad[] = {
    { host_field, "hostname: 256 bytes" },
    { os_field, "os: 129 bytes" },
    { "\"hostname\":\"\"", "hostname: 0 bytes" },
    { "\"hostname\":\"evil\\u001b[2Jhost\"", "U+001B" },
    { "\"hostname\":\"two\\nlines\"", "U+000A" },
    { "\"os\":\"Linux\\u0000\"", "NUL" },
    { "\"os\":\"Linux\\u2028x\"", "U+2028" },
    { "\"os\":\"Linux\\u0085\"", "U+0085" },
    { "\"hostname\":\"build-01\\u202eexe.txt\"", "U+202E" },
    { "\"hostname\":\"ci\\u200brunner\"", "U+200B" },
    { "\"os\":\"\\ufeffLinux\"", "U+FEFF" },
    { "\"hostname\":7", "hostname" },
    { "\"os\":[\"Linux\"]", "os" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *body
          = g_strdup_printf ("{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-%04u\","
                             "\"org_id\":\"acme\",%s}",
                             i, bad[i].field);
      Resp r = call (f, "POST", "/activate", f->member_key, body);
      assert_error (&r, 400, "invalid-argument");
      const char *message = json_object_get_string_member (
          json_object_get_object_member (obj (&r), "error"), "message");
      if (strstr (message, bad[i].hint) == NULL)
        g_error ("%s: \"%s\" lacks \"%s\"", bad[i].field, message, bad[i].hint);
      resp_clear (&r);
    }
  /* Nothing was taken or registered. */
  g_assert_cmpuint (count_sessions (f, f->floating_pool), ==, 0);
  g_autofree char *mpath = g_strdup_printf ("/orgs/acme/pools/%s/machines", f->floating_pool);
  g_assert_cmpuint (count_list (f, mpath, "machines"), ==, 0);

  /* At the limits, and non-ASCII text, are fine. */
  g_autofree char *max_host = g_strnfill (TS_CLIENT_HOSTNAME_MAX, 'h');
  g_autofree char *body = g_strdup_printf (
      "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-good\","
      "\"org_id\":\"acme\",\"hostname\":\"%s\",\"os\":\"Gentoo \\u00e9t\\u00e9\"}",
      max_host);
  Resp r = call (f, "POST", "/activate", f->member_key, body);
  g_assert_cmpuint (r.status, ==, 200);
  resp_clear (&r);
  assert_listed (f, max_host, "Gentoo \xc3\xa9t\xc3\xa9");
}

/* The machine shows what the last activation from it said; one that says
 * nothing keeps what was known. */
static void
test_machine_keeps_last (Fixture *f, gconstpointer data)
{
  const char *bodies[] = {
    "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0001\",\"org_id\":\"acme\","
    "\"hostname\":\"old-name\",\"os\":\"Debian 12\"}",
    "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0002\",\"org_id\":\"acme\","
    "\"hostname\":\"new-name\"}",
    "{\"product\":\"KRE\",\"machine_id\":\"M-1\",\"nonce\":\"nonce-0003\",\"org_id\":\"acme\"}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      Resp r = call (f, "POST", "/activate", f->member_key, bodies[i]);
      g_assert_cmpuint (r.status, ==, 200);
      char *sid = payload_str (&r, "session_id");
      resp_clear (&r);
      g_autofree char *rel = g_strdup_printf ("{\"session_id\":\"%s\"}", sid);
      g_free (sid);
      if (i + 1 < G_N_ELEMENTS (bodies))
        {
          r = call (f, "POST", "/release", f->member_key, rel);
          g_assert_cmpuint (r.status, ==, 200);
          resp_clear (&r);
        }
    }
  g_autofree char *mpath = g_strdup_printf ("/orgs/acme/pools/%s/machines", f->floating_pool);
  JsonObject *m = only_item (f, mpath, "machines");
  g_assert_cmpstr (json_object_get_string_member (m, "hostname"), ==, "new-name");
  g_assert_cmpstr (json_object_get_string_member (m, "os"), ==, "Debian 12");
  json_object_unref (m);
  /* The live session is the last one: it said nothing. */
  g_autofree char *spath = g_strdup_printf ("/orgs/acme/pools/%s/sessions", f->floating_pool);
  JsonObject *s = only_item (f, spath, "sessions");
  g_assert_true (json_object_get_null_member (s, "hostname"));
  json_object_unref (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("client-info", test_client_info, NULL);
  ADD ("client-info-old-client", test_old_client, NULL);
  ADD ("client-info-bad", test_bad_client_info, NULL);
  ADD ("client-info-machine-keeps-last", test_machine_keeps_last, NULL);
  return g_test_run ();
}
