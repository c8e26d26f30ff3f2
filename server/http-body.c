/* tessera-server: the JSON body of a request, read by the handlers
 * (http-private.h), and what is refused in it before it is parsed; and
 * the JSON building helpers of the answers. */
#include "http-private.h"

#include <stdarg.h>
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

/* A name the client chose, as an error message shows it: escaped, and cut
 * so that a megabyte of name does not come back in the answer. */
static char *
ts_shown_name (const char *name)
{
  g_autofree char *escaped = g_strescape (name, NULL);
  if (strlen (escaped) <= 40)
    return g_steal_pointer (&escaped);
  return g_strdup_printf ("%.40s...", escaped);
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
        g_autofree char *shown = ts_shown_name (l->data);
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "unknown field \"%s\"",
                     shown);
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

/* The bytes of one scoped component digest (BLAKE2b-128). */
#define TS_COMPONENT_BYTES 16
/* Components a fingerprint has (docs/fingerprint.md). */
#define TS_COMPONENTS_MAX 5

/* Strict base64 of exactly TS_COMPONENT_BYTES: g_base64_decode() skips
 * characters it does not know, so the text is checked first. */
static gboolean
ts_component_decode (const char *name, const char *b64, char hex[2 * TS_COMPONENT_BYTES + 1],
                     GError **error)
{
  static const char digits[] = "0123456789abcdef";
  gsize len = strlen (b64), n = 0;
  gboolean ok = len == 4 * ((TS_COMPONENT_BYTES + 2) / 3);
  for (gsize i = 0; ok && i < len; i++)
    ok = g_ascii_isalnum (b64[i]) || b64[i] == '+' || b64[i] == '/'
         || (b64[i] == '=' && i >= len - 2 && (i == len - 1 || b64[len - 1] == '='));
  g_autofree guchar *raw = ok ? g_base64_decode (b64, &n) : NULL;
  if (raw == NULL || n != TS_COMPONENT_BYTES)
    {
      g_autofree char *shown = ts_shown_name (name);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "component \"%s\" must be the base64 of %d bytes (%d characters)", shown,
                   TS_COMPONENT_BYTES, 4 * ((TS_COMPONENT_BYTES + 2) / 3));
      return FALSE;
    }
  for (gsize i = 0; i < n; i++)
    {
      hex[2 * i] = digits[raw[i] >> 4];
      hex[2 * i + 1] = digits[raw[i] & 0xf];
    }
  hex[2 * n] = '\0';
  return TRUE;
}

gboolean
ts_body_components (TsRequest *req, char **out, GError **error)
{
  *out = NULL;
  JsonNode *node = ts_body_member (req, "components", FALSE, error);
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return ts_wrong_type ("components", "an object of component names and base64 digests", error);
  JsonObject *obj = json_node_get_object (node);
  if (json_object_get_size (obj) > TS_COMPONENTS_MAX)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "\"components\" has %u members: a machine has at most %d",
                   json_object_get_size (obj), TS_COMPONENTS_MAX);
      return FALSE;
    }
  GString *list = g_string_new (NULL);
  GList *names = json_object_get_members (obj);
  gboolean ok = TRUE;
  for (GList *l = names; l != NULL && ok; l = l->next)
    {
      const char *name = l->data;
      JsonNode *v = json_object_get_member (obj, name);
      char hex[2 * TS_COMPONENT_BYTES + 1];
      if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
        {
          g_autofree char *shown = ts_shown_name (name);
          g_autofree char *field = g_strdup_printf ("components.%s", shown);
          ok = ts_wrong_type (field, "a base64 string", error);
        }
      else
        ok = ts_component_decode (name, json_node_get_string (v), hex, error);
      if (ok)
        g_string_append_printf (list, "%s%s=%s", list->len ? " " : "", name, hex);
    }
  g_list_free (names);
  /* The names, each once, the user and a hardware component. */
  if (ok && !tessera_machine_digests_check (list->str, error))
    ok = FALSE;
  if (ok)
    *out = g_string_free (g_steal_pointer (&list), FALSE);
  else
    g_string_free (list, TRUE);
  return ok;
}

/* JsonParser keeps the last of two members with one name, silently: a
 * body whose reader and the client's other readers (a proxy, a log) may
 * see different values is refused instead. One count per object being
 * parsed; a member that does not make its object grow is a second one. */
typedef struct
{
  GArray *counts; /* guint, one per open object, innermost last */
  char *twice;    /* the first name seen twice, shown */
} TsDupCheck;

static void
ts_dup_object_start (JsonParser *parser, gpointer data)
{
  TsDupCheck *d = data;
  guint zero = 0;
  g_array_append_val (d->counts, zero);
}

static void
ts_dup_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer data)
{
  TsDupCheck *d = data;
  if (d->counts->len == 0)
    return;
  guint *count = &g_array_index (d->counts, guint, d->counts->len - 1);
  if (json_object_get_size (object) <= (*count)++ && d->twice == NULL)
    d->twice = ts_shown_name (name);
}

static void
ts_dup_object_end (JsonParser *parser, JsonObject *object, gpointer data)
{
  TsDupCheck *d = data;
  if (d->counts->len > 0)
    g_array_set_size (d->counts, d->counts->len - 1);
}

JsonNode *
ts_body_parse (const char *data, gsize size, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  TsDupCheck d = { g_array_new (FALSE, FALSE, sizeof (guint)), NULL };
  g_signal_connect (parser, "object-start", G_CALLBACK (ts_dup_object_start), &d);
  g_signal_connect (parser, "object-member", G_CALLBACK (ts_dup_object_member), &d);
  g_signal_connect (parser, "object-end", G_CALLBACK (ts_dup_object_end), &d);
  gboolean ok = json_parser_load_from_data (parser, data, (gssize) size, error);
  g_array_unref (d.counts);
  if (ok && d.twice != NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "member \"%s\" is given twice in one object", d.twice);
      ok = FALSE;
    }
  g_free (d.twice);
  if (!ok)
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  return root != NULL ? json_node_ref (root) : json_node_new (JSON_NODE_NULL);
}

/* ---------------------------------------------------------------- JSON */

JsonNode *
ts_json_object (const char *first, ...)
{
  JsonObject *obj = json_object_new ();
  va_list ap;
  va_start (ap, first);
  for (const char *name = first; name != NULL; name = va_arg (ap, const char *))
    {
      int type = va_arg (ap, int);
      if (type == 's')
        {
          const char *s = va_arg (ap, const char *);
          if (s != NULL)
            json_object_set_string_member (obj, name, s);
          else
            json_object_set_null_member (obj, name);
        }
      else if (type == 'i')
        json_object_set_int_member (obj, name, va_arg (ap, gint64));
      else
        {
          g_assert (type == 'n');
          json_object_set_member (obj, name, va_arg (ap, JsonNode *));
        }
    }
  va_end (ap);
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, obj);
  return node;
}

JsonNode *
ts_json_array (GPtrArray *items, JsonNode *(*convert) (gconstpointer item))
{
  JsonArray *arr = json_array_sized_new (items != NULL ? items->len : 0);
  for (guint i = 0; items != NULL && i < items->len; i++)
    json_array_add_element (arr, convert (g_ptr_array_index (items, i)));
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, arr);
  return node;
}

JsonNode *
ts_json_wrap (const char *name, JsonNode *value)
{
  return ts_json_object (name, 'n', value, NULL);
}
