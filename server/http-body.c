/* tessera-server: the JSON body of a request, read by the handlers
 * (http-private.h), and what is refused in it before it is parsed. */
#include "http-private.h"

#include <string.h>

static JsonNode *
ts_body_member (TsRequest *req, const char *name, gboolean required, GError **error)
{
  JsonNode *node = json_object_get_member (req->json, name);
  if (node == NULL && required)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "missing field \"%s\"",
                 name);
  return node;
}

static gboolean
ts_wrong_type (const char *name, const char *want, GError **error)
{
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "field \"%s\" must be %s",
               name, want);
  return FALSE;
}

gboolean
ts_body_only (TsRequest *req, const char *const *allowed, GError **error)
{
  GList *names = json_object_get_members (req->json);
  gboolean ok = TRUE;
  for (GList *l = names; l != NULL && ok; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      {
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "unknown field \"%s\"",
                     (const char *) l->data);
        ok = FALSE;
      }
  g_list_free (names);
  return ok;
}

gboolean
ts_body_string (TsRequest *req, const char *name, gboolean required, const char **out,
                GError **error)
{
  *out = NULL;
  JsonNode *node = ts_body_member (req, name, required, error);
  if (node == NULL)
    return !required;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return ts_wrong_type (name, "a string", error);
  *out = json_node_get_string (node);
  return TRUE;
}

gboolean
ts_body_int (TsRequest *req, const char *name, gboolean required, gint64 *out, gboolean *present,
             GError **error)
{
  if (present != NULL)
    *present = FALSE;
  JsonNode *node = ts_body_member (req, name, required, error);
  if (node == NULL)
    return !required;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return ts_wrong_type (name, "an integer", error);
  *out = json_node_get_int (node);
  if (present != NULL)
    *present = TRUE;
  return TRUE;
}

gboolean
ts_body_strv (TsRequest *req, const char *name, gboolean required, GStrv *out, GError **error)
{
  *out = NULL;
  JsonNode *node = ts_body_member (req, name, required, error);
  if (node == NULL)
    return !required;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return ts_wrong_type (name, "an array of strings", error);
  JsonArray *arr = json_node_get_array (node);
  GStrvBuilder *b = g_strv_builder_new ();
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      JsonNode *e = json_array_get_element (arr, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
        {
          g_strv_builder_unref (b);
          return ts_wrong_type (name, "an array of strings", error);
        }
      g_strv_builder_add (b, json_node_get_string (e));
    }
  *out = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return TRUE;
}

/* json-glib turns "\u0000" into a NUL that ends the C string it hands out:
 * "a\u0000b" would be stored, compared and shown as "a" (a label, a name,
 * a machine id cut short without a word). No field of the API has a use
 * for it, so a body with one is refused; a raw NUL already fails UTF-8
 * validation. */
gboolean
ts_body_no_nul (const char *data, gsize size, GError **error)
{
  gboolean in_string = FALSE;
  for (gsize i = 0; i < size; i++)
    {
      if (data[i] == '"')
        in_string = !in_string;
      else if (in_string && data[i] == '\\' && i + 1 < size)
        {
          if (data[i + 1] == 'u' && i + 6 <= size && strncmp (data + i + 2, "0000", 4) == 0)
            {
              g_set_error_literal (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                                   "a string contains \\u0000 (a NUL character)");
              return FALSE;
            }
          i++; /* the escaped character: \" does not end the string */
        }
    }
  return TRUE;
}
