/* What a test of several real tessera-server instances on one database
 * starts from (test-server-instances, test-server-rolling): an organization
 * "acme" with a member's API key and a floating pool, and each instance's
 * slot: its process, URL and log. */
#pragma once

#include "server-util.h"
#include "store-backend.h"
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#define N_INSTANCES 3

typedef struct
{
  char *dir;
  char *db;
  char *keys;
  char *key; /* a member's API key */
  char *pool;
  GSubprocess *procs[N_INSTANCES];
  char *urls[N_INSTANCES];
  char *logs[N_INSTANCES];
} InstancesBase;

static inline void
instances_base_setup (InstancesBase *b, gint64 quota)
{
  b->dir = test_tmpdir_new ();
  b->db = test_store_location (b->dir);
  b->keys = g_build_filename (b->dir, "keys", NULL);
  for (guint i = 0; i < N_INSTANCES; i++)
    {
      g_autofree char *name = g_strdup_printf ("server-%u.log", i);
      b->logs[i] = g_build_filename (b->dir, name, NULL);
    }
  GError *error = NULL;
  gint64 now = now_s ();
  TsStore *store = ts_store_open (b->db, &error);
  g_assert_no_error (error);
  g_free (ts_store_bootstrap_org (store, "acme", "Acme", "owner@acme.test", now, &error));
  g_assert_no_error (error);
  g_autofree char *member
      = ts_store_set_member (store, NULL, "acme", "member@acme.test", TS_ROLE_MEMBER, now, &error);
  g_assert_no_error (error);
  g_autofree char *kid = NULL;
  b->key = ts_store_create_api_key (store, member, "test", now, &kid, &error);
  g_assert_no_error (error);
  b->pool = server_util_create_pool (store, "floating", quota, now);
  ts_store_close (store);
}

/* Stops the instances still running (each must exit cleanly) and removes
 * everything. */
static inline void
instances_base_teardown (InstancesBase *b)
{
  for (guint i = 0; i < N_INSTANCES; i++)
    {
      if (b->procs[i] != NULL)
        {
          server_util_stop_clean (b->procs[i], b->logs[i]);
          g_object_unref (b->procs[i]);
        }
      g_free (b->urls[i]);
      g_free (b->logs[i]);
    }
  test_store_location_free (b->db);
  test_rm_rf (b->dir);
  g_free (b->dir);
  g_free (b->keys);
  g_free (b->key);
  g_free (b->pool);
}

/* One POST of @body to @url as the member (@key): the HTTP status, 0 when
 * no answer came (an instance stopped), and the answer's JSON object in
 * *@out (nullable; NULL when the answer is not an object). */
static inline guint
instances_post_once (SoupSession *session, const char *url, const char *key, const char *body,
                     JsonObject **out)
{
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  g_autofree char *auth = g_strdup_printf ("Bearer %s", key);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  g_autoptr (GBytes) req = g_bytes_new (body, strlen (body));
  soup_message_set_request_body_from_bytes (msg, "application/json", req);
  GError *error = NULL;
  g_autoptr (GBytes) answer = soup_session_send_and_read (session, msg, NULL, &error);
  if (out != NULL)
    *out = NULL;
  if (answer == NULL)
    {
      g_clear_error (&error);
      return 0;
    }
  if (out != NULL)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      if (json_parser_load_from_data (parser, g_bytes_get_data (answer, NULL),
                                      (gssize) g_bytes_get_size (answer), NULL)
          && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        *out = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
    }
  return soup_message_get_status (msg);
}
