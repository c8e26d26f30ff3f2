/* The mock provider's JSON scenario: read with bounded size and checked
 * strictly (unknown, duplicate or mistyped keys are errors naming the key). */
#include "mock-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

/* ---- the scenario ---- */

typedef struct
{
  const char *path;
  Mock *mock;
  /* json-glib keeps the last of repeated keys: count the members it parsed
   * per object to notice the repeat, and report it with its key path. */
  GHashTable *member_counts; /* JsonObject* -> count */
  JsonObject *dup_object;
  char *dup_key;
  /* Values closed at depth 0: more than one if scan_shape() missed
   * something after the top-level value. */
  guint depth;
  guint top_level_values;
} Parse;

static void
on_container_start (G_GNUC_UNUSED JsonParser *parser, gpointer data)
{
  Parse *p = data;
  p->depth++;
}

static void
on_container_end (G_GNUC_UNUSED JsonParser *parser, G_GNUC_UNUSED gpointer container, gpointer data)
{
  Parse *p = data;
  if (p->depth > 0 && --p->depth == 0)
    p->top_level_values++;
}

static void
on_object_member (G_GNUC_UNUSED JsonParser *parser, JsonObject *object, const char *name,
                  gpointer data)
{
  Parse *p = data;
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (p->member_counts, object)) + 1;
  g_hash_table_insert (p->member_counts, object, GUINT_TO_POINTER (count));
  if (count > json_object_get_size (object) && p->dup_object == NULL)
    {
      p->dup_object = object;
      p->dup_key = g_strdup (name);
    }
}

G_GNUC_PRINTF (4, 5)
static void
scenario_error (Parse *p, GError **error, const char *where, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);
  if (where != NULL && *where != '\0')
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "mock scenario %s: %s: %s", p->path,
                 where, what);
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "mock scenario %s: %s", p->path, what);
}

static char *
key_path (const char *where, const char *key)
{
  return *where != '\0' ? g_strconcat (where, ".", key, NULL) : g_strdup (key);
}

/* Refuses a repeated key and any key not in @allowed. */
static gboolean
check_members (Parse *p, JsonObject *object, const char *where, const char *const *allowed,
               GError **error)
{
  if (object == p->dup_object)
    {
      g_autofree char *at = key_path (where, p->dup_key);
      scenario_error (p, error, at, "the key appears more than once");
      return FALSE;
    }
  if (allowed == NULL)
    return TRUE;

  GList *members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      {
        g_autofree char *at = key_path (where, l->data);
        g_autofree char *expected = g_strjoinv (", ", (char **) allowed);
        scenario_error (p, error, at, "unknown key (expected one of: %s)", expected);
        g_list_free (members);
        return FALSE;
      }
  g_list_free (members);
  return TRUE;
}

static gboolean
node_is_value_of (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* Each getter leaves its output untouched when the key is absent. */

static gboolean
get_string (Parse *p, JsonObject *object, const char *where, const char *key, const char **out,
            GError **error)
{
  JsonNode *node = json_object_get_member (object, key);
  if (node == NULL)
    return TRUE;
  g_autofree char *at = key_path (where, key);
  if (!node_is_value_of (node, G_TYPE_STRING))
    {
      scenario_error (p, error, at, "expected a string");
      return FALSE;
    }
  const char *value = json_node_get_string (node);
  if (*value == '\0')
    {
      scenario_error (p, error, at, "must not be empty");
      return FALSE;
    }
  *out = value;
  return TRUE;
}

static gboolean
get_uint (Parse *p, JsonObject *object, const char *where, const char *key, guint64 max,
          gboolean *present, guint64 *out, GError **error)
{
  g_assert (out != NULL);
  JsonNode *node = json_object_get_member (object, key);
  if (node == NULL)
    return TRUE;
  g_autofree char *at = key_path (where, key);
  if (!node_is_value_of (node, G_TYPE_INT64))
    {
      scenario_error (p, error, at, "expected an integer");
      return FALSE;
    }
  /* json-glib also turns an integer too large for 64 bits into -1. */
  gint64 value = json_node_get_int (node);
  if (value < 0)
    {
      scenario_error (p, error, at, "must not be negative");
      return FALSE;
    }
  if ((guint64) value > max)
    {
      scenario_error (p, error, at, "must be at most %" G_GUINT64_FORMAT, max);
      return FALSE;
    }
  if (present != NULL)
    *present = TRUE;
  *out = (guint64) value;
  return TRUE;
}

static gboolean
get_bool (Parse *p, JsonObject *object, const char *where, const char *key, gboolean *out,
          GError **error)
{
  JsonNode *node = json_object_get_member (object, key);
  if (node == NULL)
    return TRUE;
  if (!node_is_value_of (node, G_TYPE_BOOLEAN))
    {
      g_autofree char *at = key_path (where, key);
      scenario_error (p, error, at, "expected true or false");
      return FALSE;
    }
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* Returns: (transfer none): the object at @key, or NULL (absent, or error set). */
static JsonObject *
get_object (Parse *p, JsonObject *object, const char *where, const char *key, GError **error)
{
  JsonNode *node = json_object_get_member (object, key);
  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_autofree char *at = key_path (where, key);
      scenario_error (p, error, at, "expected an object");
      return NULL;
    }
  return json_node_get_object (node);
}

static gboolean
get_string_array (Parse *p, JsonObject *object, const char *where, const char *key, char ***out,
                  GError **error)
{
  JsonNode *node = json_object_get_member (object, key);
  if (node == NULL)
    return TRUE;
  g_autofree char *at = key_path (where, key);
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      scenario_error (p, error, at, "expected an array of strings");
      return FALSE;
    }
  JsonArray *array = json_node_get_array (node);
  guint n = json_array_get_length (array);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      if (!node_is_value_of (element, G_TYPE_STRING) || *json_node_get_string (element) == '\0')
        {
          scenario_error (p, error, at, "element %u: expected a non-empty string", i);
          return FALSE;
        }
      g_strv_builder_add (builder, json_node_get_string (element));
    }
  g_strfreev (*out);
  *out = g_strv_builder_end (builder);
  return TRUE;
}

static gboolean
parse_license (Parse *p, JsonObject *object, GError **error)
{
  static const char *const allowed[]
      = { "kind",         "id",         "org",         "expires_in", "issued_at",
          "entitlements", "attributes", "development", NULL };
  Mock *m = p->mock;
  const char *kind = NULL, *id = NULL, *org = NULL;
  guint64 issued_at = 0;

  if (!check_members (p, object, "license", allowed, error)
      || !get_string (p, object, "license", "kind", &kind, error)
      || !get_string (p, object, "license", "id", &id, error)
      || !get_string (p, object, "license", "org", &org, error)
      || !get_uint (p, object, "license", "expires_in", MOCK_EXPIRES_IN_MAX, NULL, &m->expires_in,
                    error)
      || !get_uint (p, object, "license", "issued_at", MOCK_ISSUED_AT_MAX, &m->has_issued_at,
                    &issued_at, error)
      || !get_string_array (p, object, "license", "entitlements", &m->entitlements, error)
      || !get_bool (p, object, "license", "development", &m->development, error))
    return FALSE;
  m->issued_at = (gint64) issued_at;

  if (kind != NULL)
    {
      TesseraLicenseKind k;
      for (k = TESSERA_LICENSE_KIND_NODE_LOCKED; k <= TESSERA_LICENSE_KIND_SESSION; k++)
        if (g_str_equal (kind, tessera_license_kind_to_string (k)))
          break;
      if (k > TESSERA_LICENSE_KIND_SESSION)
        {
          scenario_error (p, error, "license.kind",
                          "unknown kind '%s' (expected node-locked, floating or session)", kind);
          return FALSE;
        }
      m->kind = k;
    }
  if (id != NULL)
    {
      g_free (m->license_id);
      m->license_id = g_strdup (id);
    }
  m->org = g_strdup (org);

  if (json_object_has_member (object, "attributes"))
    {
      JsonObject *attributes = get_object (p, object, "license", "attributes", error);
      if (attributes == NULL || !check_members (p, attributes, "license.attributes", NULL, error))
        return FALSE;
      GList *members = json_object_get_members (attributes);
      for (GList *l = members; l != NULL; l = l->next)
        {
          const char *name = l->data;
          const char *value = NULL;
          if (*name == '\0')
            {
              scenario_error (p, error, "license.attributes", "an attribute name is empty");
              g_list_free (members);
              return FALSE;
            }
          JsonNode *node = json_object_get_member (attributes, name);
          if (!node_is_value_of (node, G_TYPE_STRING))
            {
              g_autofree char *at = key_path ("license.attributes", name);
              scenario_error (p, error, at, "expected a string");
              g_list_free (members);
              return FALSE;
            }
          value = json_node_get_string (node);
          g_hash_table_replace (m->attributes, g_strdup (name), g_strdup (value));
        }
      g_list_free (members);
    }
  return TRUE;
}

static gboolean
parse_op (Parse *p, JsonObject *object, MockOp op, GError **error)
{
  static const char *const allowed[] = { "error", "message", "delay_ms", "after", "times", NULL };
  MockScript *script = &p->mock->scripts[op];
  g_autofree char *where = g_strconcat ("ops.", mock_op_names[op], NULL);
  const char *nick = NULL, *message = NULL;

  if (!check_members (p, object, where, allowed, error)
      || !get_string (p, object, where, "error", &nick, error)
      || !get_string (p, object, where, "message", &message, error)
      || !get_uint (p, object, where, "delay_ms", MOCK_DELAY_MAX_MS, NULL, &script->delay_ms, error)
      || !get_uint (p, object, where, "after", G_MAXINT64, NULL, &script->after, error)
      || !get_uint (p, object, where, "times", G_MAXINT64, NULL, &script->times, error))
    return FALSE;

  if (nick == NULL)
    {
      /* Only the delay applies: the rest would be silently ignored. */
      static const char *const needs_error[] = { "message", "after", "times" };
      for (guint i = 0; i < G_N_ELEMENTS (needs_error); i++)
        if (json_object_has_member (object, needs_error[i]))
          {
            g_autofree char *at = key_path (where, needs_error[i]);
            scenario_error (p, error, at, "only means something with \"error\"");
            return FALSE;
          }
      return TRUE;
    }
  if (!tessera_error_from_nick (nick, &script->code))
    {
      g_autofree char *at = key_path (where, "error");
      scenario_error (p, error, at, "unknown error '%s'", nick);
      return FALSE;
    }
  script->fails = TRUE;
  script->message = g_strdup (message);
  return TRUE;
}

static gboolean
parse_scenario (Parse *p, JsonNode *root, GError **error)
{
  static const char *const allowed[] = { "products", "quota",  "machine_id",  "license", "ops",
                                         "counters", "stored", "credentials", NULL };
  Mock *m = p->mock;
  const char *machine_id = NULL, *counters = NULL;

  if (root == NULL)
    {
      scenario_error (p, error, NULL, "the file is empty (expected a JSON object)");
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      scenario_error (p, error, NULL, "expected a JSON object at the top level");
      return FALSE;
    }
  JsonObject *object = json_node_get_object (root);
  if (!check_members (p, object, "", allowed, error)
      || !get_string_array (p, object, "", "products", &m->products, error)
      || !get_uint (p, object, "", "quota", G_MAXINT64, &m->has_quota, &m->quota, error)
      || !get_string (p, object, "", "machine_id", &machine_id, error)
      || !get_string (p, object, "", "counters", &counters, error)
      || !get_uint (p, object, "", "stored", 1000, NULL, &m->stored, error)
      || !get_uint (p, object, "", "credentials", 1000, NULL, &m->credentials, error))
    return FALSE;
  m->machine_id = g_strdup (machine_id);
  if (counters != NULL)
    {
      /* Relative to the scenario, as config paths are to their file. */
      g_autofree char *dir = g_path_get_dirname (p->path);
      m->counters_path = g_canonicalize_filename (counters, dir);
    }

  if (json_object_has_member (object, "license"))
    {
      JsonObject *license = get_object (p, object, "", "license", error);
      if (license == NULL || !parse_license (p, license, error))
        return FALSE;
    }

  if (json_object_has_member (object, "ops"))
    {
      JsonObject *ops = get_object (p, object, "", "ops", error);
      if (ops == NULL || !check_members (p, ops, "ops", mock_op_names, error))
        return FALSE;
      for (MockOp op = 0; op < MOCK_N_OPS; op++)
        {
          if (!json_object_has_member (ops, mock_op_names[op]))
            continue;
          JsonObject *script = get_object (p, ops, "ops", mock_op_names[op], error);
          if (script == NULL || !parse_op (p, script, op, error))
            return FALSE;
        }
    }

  if (p->dup_object != NULL)
    {
      /* In a part of the tree not visited above; cannot happen with the
       * checks above, but never accept a repeated key silently. */
      scenario_error (p, error, p->dup_key, "the key appears more than once");
      return FALSE;
    }
  return TRUE;
}

/* Reads at most MOCK_SCENARIO_MAX_SIZE bytes of a regular file. */
static char *
read_scenario (const char *path, gsize *length, GError **error)
{
  /* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, TESSERA_ERROR,
                   errsv == EACCES || errsv == EPERM ? TESSERA_ERROR_PERMISSION_DENIED
                                                     : TESSERA_ERROR_CONFIG,
                   "mock scenario %s: cannot open it: %s", path, g_strerror (errsv));
      return NULL;
    }

  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "mock scenario %s: not a regular file", path);
      return NULL;
    }

  /* Read one byte more than allowed to notice a file that grew. */
  g_autoptr (GByteArray) data = g_byte_array_new ();
  guint8 buffer[16384];
  gboolean too_large = st.st_size > MOCK_SCENARIO_MAX_SIZE;
  while (!too_large)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          close (fd);
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                       "mock scenario %s: cannot read it: %s", path, g_strerror (errsv));
          return NULL;
        }
      if (n == 0)
        break;
      g_byte_array_append (data, buffer, (guint) n);
      too_large = data->len > MOCK_SCENARIO_MAX_SIZE;
    }
  close (fd);
  if (too_large)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "mock scenario %s: larger than %d bytes", path, MOCK_SCENARIO_MAX_SIZE);
      return NULL;
    }
  *length = data->len;
  g_byte_array_append (data, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (g_steal_pointer (&data), FALSE);
}

typedef enum
{
  SHAPE_OK,            /* one object or array, or something for the parser to judge */
  SHAPE_NOT_CONTAINER, /* a scalar at the top level */
  SHAPE_TRAILING,      /* something after the top-level object or array */
} Shape;

/* json-glib 1.6 accepts (and leaks) values after the top-level one, as in
 * "{} {}": find where the top-level object or array ends before parsing.
 * Knows strings and comments, as the parser does; whatever it cannot make
 * sense of is left to the parser to report. */
static Shape
scan_shape (const char *data, gsize length)
{
  guint depth = 0;
  gboolean closed = FALSE;
  gsize i = 0;

  while (i < length)
    {
      char c = data[i];
      if (c == '/' && i + 1 < length && data[i + 1] == '*')
        {
          const char *end = g_strstr_len (data + i + 2, (gssize) (length - i - 2), "*/");
          if (end == NULL)
            return SHAPE_OK;
          i = (gsize) (end - data) + 2;
          continue;
        }
      if (g_ascii_isspace (c))
        {
          i++;
          continue;
        }
      if (closed)
        return SHAPE_TRAILING;
      if (depth == 0 && c != '{' && c != '[')
        return SHAPE_NOT_CONTAINER;

      if (c == '"' || c == '\'')
        {
          for (i++; i < length && data[i] != c; i++)
            if (data[i] == '\\')
              i++;
        }
      else if (c == '{' || c == '[')
        depth++;
      else if (c == '}' || c == ']')
        closed = --depth == 0;
      i++;
    }
  return SHAPE_OK;
}

gboolean
mock_load_scenario (Mock *self, const char *path, GError **error)
{
  gsize length = 0;
  g_autofree char *contents = read_scenario (path, &length, error);
  if (contents == NULL)
    return FALSE;

  Parse p = { .path = path, .mock = self };
  switch (scan_shape (contents, length))
    {
    case SHAPE_OK:
      break;
    case SHAPE_NOT_CONTAINER:
      scenario_error (&p, error, NULL, "expected a JSON object at the top level");
      return FALSE;
    case SHAPE_TRAILING:
      scenario_error (&p, error, NULL, "not valid JSON: more than one value at the top level");
      return FALSE;
    }
  p.member_counts = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &p);
  g_signal_connect (parser, "object-start", G_CALLBACK (on_container_start), &p);
  g_signal_connect (parser, "array-start", G_CALLBACK (on_container_start), &p);
  g_signal_connect (parser, "object-end", G_CALLBACK (on_container_end), &p);
  g_signal_connect (parser, "array-end", G_CALLBACK (on_container_end), &p);

  g_autoptr (GError) json_error = NULL;
  gboolean ok;
  if (!json_parser_load_from_data (parser, contents, (gssize) length, &json_error))
    {
      /* json-glib names the input "<data>": the path says more. */
      const char *message = json_error->message;
      if (g_str_has_prefix (message, "<data>:"))
        message += strlen ("<data>:");
      scenario_error (&p, error, NULL, "not valid JSON: %s", message);
      ok = FALSE;
    }
  else if (p.top_level_values > 1)
    {
      scenario_error (&p, error, NULL, "not valid JSON: more than one value at the top level");
      ok = FALSE;
    }
  else
    ok = parse_scenario (&p, json_parser_get_root (parser), error);

  g_hash_table_unref (p.member_counts);
  g_free (p.dup_key);
  return ok;
}
