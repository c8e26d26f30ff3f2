/* The payload of a signed activation or heartbeat answer (answer format 2,
 * docs/protocol.md "Signed answers"), for tests that read the server's
 * answers themselves rather than through the online plugin. */
#pragma once

#include <json-glib/json-glib.h>

/* Returns: (transfer full) the object in @answer's "payload" text; asserts
 * it is there. */
static inline JsonObject *
answer_payload (JsonObject *answer)
{
  g_assert_cmpint (json_object_get_int_member_with_default (answer, "format", 0), ==, 2);
  const char *text = json_object_get_string_member_with_default (answer, "payload", NULL);
  g_assert_nonnull (text);
  JsonParser *parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  JsonObject *o = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
  g_object_unref (parser);
  return o;
}
