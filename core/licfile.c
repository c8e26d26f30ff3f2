/* Offline license files: the canonical envelope, signing and verifying.
 *
 * A file is exactly
 *   {"tessera-license":1,"key-id":"KEYID","payload":"B64","signature":"B64"}\n
 * with standard padded base64. The reader matches that layout byte for byte
 * (no JSON parser sees an unauthenticated byte), the signature covers the key
 * id and the payload, and the encoding is canonical, so every byte of the file
 * is authenticated: any change is detected. See docs/license-file.md. */
#include "tessera-private.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>

#define ENVELOPE_PREFIX "{\"tessera-license\":1,\"key-id\":\""
#define ENVELOPE_PAYLOAD "\",\"payload\":\""
#define ENVELOPE_SIGNATURE "\",\"signature\":\""
#define ENVELOPE_SUFFIX "\"}\n"
#define SIGNATURE_B64_LEN 88 /* 64 bytes, padded base64 */
#define SIGN_DOMAIN "tessera-license-v1"
/* Format 1 binds the machine ID only; format 2 adds the keyed component
 * digests and a match policy. A file without components is still written as
 * format 1, byte for byte as before, so older readers keep reading it. */
#define PAYLOAD_FORMAT 1
#define PAYLOAD_FORMAT_COMPONENTS 2
/* Issuer and user clocks disagree a little; more than this is "not yet valid". */
#define CLOCK_SKEW 300

struct _TesseraLicfile
{
  gatomicrefcount ref_count;
  char *key_id;
  char *license_id;
  char *org;
  char *product;
  char *machine_id;
  char *kind;
  char *billing;
  gint64 issued_at;
  gint64 expires_at;
  gint64 subscription_end;
  char **entitlements;
  /* Format 2 only: keyed digests (NULL: not bound) and the policy. */
  char *components[TESSERA_FP_N_COMPONENTS];
  char *match;
};

TesseraLicfile *
tessera_licfile_ref (TesseraLicfile *file)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_atomic_ref_count_inc (&file->ref_count);
  return file;
}

void
tessera_licfile_unref (TesseraLicfile *file)
{
  g_return_if_fail (file != NULL);
  if (!g_atomic_ref_count_dec (&file->ref_count))
    return;
  g_free (file->key_id);
  g_free (file->license_id);
  g_free (file->org);
  g_free (file->product);
  g_free (file->machine_id);
  g_free (file->kind);
  g_free (file->billing);
  g_strfreev (file->entitlements);
  for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
    g_free (file->components[c]);
  g_free (file->match);
  g_free (file);
}

/* ---- names ---- */

static gboolean
is_token (const char *s, gboolean allow_dot_underscore)
{
  if (s == NULL || *s == '\0' || strlen (s) > 64)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!(g_ascii_isalnum (*p) || *p == '-' || (allow_dot_underscore && (*p == '.' || *p == '_'))))
      return FALSE;
  return TRUE;
}

char *
tessera_licfile_file_name (const char *product, const char *machine_id, guint serial)
{
  g_return_val_if_fail (product != NULL, NULL);
  g_return_val_if_fail (machine_id != NULL, NULL);
  if (serial == 0)
    return g_strdup_printf ("%s_%s.lic", product, machine_id);
  return g_strdup_printf ("%s_%s.%u.lic", product, machine_id, serial);
}

/* ---- the signed message ---- */

static GBytes *
signed_message (const char *key_id, const guint8 *payload, gsize payload_len)
{
  GByteArray *msg
      = g_byte_array_sized_new (sizeof SIGN_DOMAIN + TESSERA_KEY_ID_LEN + 1 + payload_len);
  g_byte_array_append (msg, (const guint8 *) SIGN_DOMAIN, sizeof SIGN_DOMAIN); /* with NUL */
  g_byte_array_append (msg, (const guint8 *) key_id, TESSERA_KEY_ID_LEN);
  g_byte_array_append (msg, (const guint8 *) "", 1);
  g_byte_array_append (msg, payload, (guint) payload_len);
  return g_byte_array_free_to_bytes (msg);
}

/* ---- issuing ---- */

static gboolean
check_info (const TesseraLicfileInfo *info, gint64 *expires_at, GError **error)
{
#define BAD(...)                                                                                   \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, __VA_ARGS__);               \
    return FALSE;                                                                                  \
  }                                                                                                \
  G_STMT_END

  if (g_strcmp0 (info->kind, "node-locked") != 0 || g_strcmp0 (info->billing, "annual") != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "only an annual node-locked license can be converted to offline "
                   "(this one is %s, with a %s billing cycle)",
                   info->kind ? info->kind : "of no kind",
                   info->billing ? info->billing : "missing");
      return FALSE;
    }
  if (!is_token (info->license_id, TRUE))
    BAD ("license id '%s' must be 1 to 64 letters, digits, '.', '_' or '-'",
         info->license_id ? info->license_id : "");
  if (info->org == NULL || *info->org == '\0' || strlen (info->org) > 256
      || !g_utf8_validate (info->org, -1, NULL))
    BAD ("the organization must be a non-empty UTF-8 string");
  if (!_tessera_product_is_valid (info->product))
    BAD ("product '%s' must be 1 to 64 letters, digits or '-'", info->product ? info->product : "");
  if (!is_token (info->machine_id, FALSE))
    BAD ("machine ID '%s' must be 1 to 64 letters, digits or '-'",
         info->machine_id ? info->machine_id : "");
  if (info->issued_at <= 0)
    BAD ("the issue time must be set");
  if (info->subscription_end <= info->issued_at)
    BAD ("the subscription ended before the license would be issued");

  gint64 expires = info->expires_at;
  if (expires == 0)
    expires = MIN (info->issued_at + TESSERA_LICFILE_MAX_VALIDITY, info->subscription_end);
  if (expires <= info->issued_at)
    BAD ("the license would expire before it is issued");
  if (expires - info->issued_at > TESSERA_LICFILE_MAX_VALIDITY)
    BAD ("an offline license is valid for at most 60 days");
  if (expires > info->subscription_end)
    BAD ("an offline license cannot outlive the subscription");
  for (guint i = 0; info->entitlements && info->entitlements[i]; i++)
    if (!is_token (info->entitlements[i], TRUE))
      BAD ("entitlement '%s' must be 1 to 64 letters, digits, '.', '_' or '-'",
           info->entitlements[i]);
  *expires_at = expires;
  return TRUE;
#undef BAD
}

/* @components: NULL, or TESSERA_FP_N_COMPONENTS keyed digests (NULL where
 * not bound) to write with @match as a format 2 payload. Compact, in this
 * member order; the file carries these bytes as signed, so a reader never
 * re-serializes them. Only the organization may hold any character (the
 * other strings are tokens, checked before). */
static char *
build_payload (const TesseraLicfileInfo *info, gint64 expires_at, char *const *components,
               const char *match)
{
  json_t *obj = json_object ();
  json_object_set_new (obj, "format",
                       json_integer (components ? PAYLOAD_FORMAT_COMPONENTS : PAYLOAD_FORMAT));
  const struct
  {
    const char *name, *value;
  } strings[] = {
    { "license_id", info->license_id }, { "org", info->org },   { "product", info->product },
    { "machine_id", info->machine_id }, { "kind", info->kind }, { "billing", info->billing },
  };
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    json_object_set_new (obj, strings[i].name, json_string (strings[i].value));
  json_object_set_new (obj, "issued_at", json_integer (info->issued_at));
  json_object_set_new (obj, "expires_at", json_integer (expires_at));
  json_object_set_new (obj, "subscription_end", json_integer (info->subscription_end));
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
  for (guint i = 0; info->entitlements && info->entitlements[i]; i++)
    if (!g_ptr_array_find_with_equal_func (sorted, info->entitlements[i], g_str_equal, NULL))
      g_ptr_array_add (sorted, (gpointer) info->entitlements[i]);
  g_ptr_array_sort (sorted, _tessera_compare_str_ptrs);
  json_t *entitlements = json_array ();
  for (guint i = 0; i < sorted->len; i++)
    json_array_append_new (entitlements, json_string (sorted->pdata[i]));
  json_object_set_new (obj, "entitlements", entitlements);
  if (components != NULL)
    {
      json_t *c = json_object ();
      for (guint i = 0; i < TESSERA_FP_N_COMPONENTS; i++)
        if (components[i] != NULL)
          json_object_set_new (c, _tessera_fp_component_name (i), json_string (components[i]));
      json_object_set_new (obj, "components", c);
      json_object_set_new (obj, "match", json_string (match));
    }
  /* Every value was checked before (UTF-8, tokens): only memory can fail
   * here, which GLib treats as fatal too. */
  char *text = json_dumps (obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref (obj);
  if (text == NULL)
    g_error ("out of memory writing a license payload");
  char *payload = g_strdup (text);
  free (text);
  return payload;
}

static GBytes *
sign_payload (TesseraSigningKey *key, const TesseraLicfileInfo *info, char *const *components,
              const char *match, GError **error)
{
  gint64 expires_at = 0;
  if (!check_info (info, &expires_at, error))
    return NULL;

  g_autofree char *payload = build_payload (info, expires_at, components, match);
  const char *key_id = tessera_signing_key_get_id (key);
  g_autoptr (GBytes) msg = signed_message (key_id, (const guint8 *) payload, strlen (payload));
  unsigned char sig[crypto_sign_BYTES];
  gsize msg_len = 0;
  const guint8 *msg_data = g_bytes_get_data (msg, &msg_len);
  crypto_sign_detached (sig, NULL, msg_data, msg_len, _tessera_signing_key_get_secret (key));

  g_autofree char *payload_b64 = g_base64_encode ((const guchar *) payload, strlen (payload));
  g_autofree char *sig_b64 = g_base64_encode (sig, sizeof sig);
  char *file = g_strconcat (ENVELOPE_PREFIX, key_id, ENVELOPE_PAYLOAD, payload_b64,
                            ENVELOPE_SIGNATURE, sig_b64, ENVELOPE_SUFFIX, NULL);
  gsize len = strlen (file);
  if (len > TESSERA_LICFILE_MAX_SIZE)
    {
      g_free (file);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "the license would be %zu bytes, more than the %d a license file may have "
                   "(too many entitlements?)",
                   len, TESSERA_LICFILE_MAX_SIZE);
      return NULL;
    }
  return g_bytes_new_take (file, len);
}

GBytes *
tessera_licfile_sign (TesseraSigningKey *key, const TesseraLicfileInfo *info, GError **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (info != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return sign_payload (key, info, NULL, NULL, error);
}

GBytes *
tessera_licfile_sign_for_request (TesseraSigningKey *key, const TesseraLicfileInfo *info,
                                  TesseraFingerprint *request, const char *match, GError **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (info != NULL, NULL);
  g_return_val_if_fail (request != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const char *request_id = tessera_fingerprint_get_id (request);
  if (info->machine_id != NULL && !g_str_equal (info->machine_id, request_id))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "machine ID '%s' is not the ID of the request (%s): give one or the other, "
                   "or the request of that machine",
                   info->machine_id, request_id);
      return NULL;
    }
  if (match == NULL)
    match = TESSERA_MATCH_DEFAULT;
  /* The license ID keys the digests: it must be valid before it is used. */
  TesseraLicfileInfo with_id = *info;
  with_id.machine_id = request_id;
  gint64 unused = 0;
  if (!check_info (&with_id, &unused, error))
    return NULL;
  if (!_tessera_sodium_init (error))
    return NULL;

  char *components[TESSERA_FP_N_COMPONENTS] = { NULL };
  guint bound = 0, required = 0;
  for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
    {
      const char *digest = _tessera_fp_get_digest (request, c);
      if (digest[0] == '\0')
        continue;
      components[c] = g_malloc (TESSERA_FP_KEYED_HEX_LEN + 1);
      _tessera_fp_keyed_digest (info->license_id, c, digest, components[c]);
      bound += _tessera_fp_component_is_hardware (c);
    }
  GBytes *out = NULL;
  int user = _tessera_fp_component_index ("user");
  if (components[user] == NULL)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "the request has no user component: a license is always bound to one account "
                 "(ask for a request made by 'tessera machine-id --request')");
  else if (_tessera_fp_policy_required (match, bound, &required, error))
    out = sign_payload (key, &with_id, components, match, error);
  for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
    g_free (components[c]);
  return out;
}

/* ---- verifying ---- */

static TesseraLicfile *
tampered (GError **error, const char *why)
{
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED,
               "the license file was modified or damaged (%s): it is no longer valid; "
               "ask your administrator for a new one",
               why);
  return NULL;
}

static gboolean
match (const char **p, const char *end, const char *literal)
{
  gsize n = strlen (literal);
  if ((gsize) (end - *p) < n || memcmp (*p, literal, n) != 0)
    return FALSE;
  *p += n;
  return TRUE;
}

static gboolean
is_b64_char (char c)
{
  return g_ascii_isalnum (c) || c == '+' || c == '/' || c == '=';
}

/* Decodes padded base64 that must be in canonical form (re-encodes to itself). */
static guchar *
decode_canonical (const char *start, gsize len, gsize *out_len)
{
  g_autofree char *text = g_strndup (start, len);
  if (len == 0 || len % 4 != 0)
    return NULL;
  guchar *decoded = g_base64_decode (text, out_len);
  g_autofree char *again = decoded ? g_base64_encode (decoded, *out_len) : NULL;
  if (decoded == NULL || g_strcmp0 (again, text) != 0)
    {
      g_free (decoded);
      return NULL;
    }
  return decoded;
}

typedef struct
{
  const char *name;
  GType type;
} Field;

typedef json_t JsonT;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JsonT, json_decref)

/* The first member of @obj not in @known, or NULL. Without
 * json_object_iter_next(): json-glib exports a function of that name too,
 * unversioned, and in a process that loaded json-glib first (the tools, the
 * server) the dynamic linker would bind ours to it. Every other json_*
 * function the core calls has no namesake there (test-link-deps checks). */
static char *
first_unknown_member (json_t *obj, const char *const *known, gsize n_known)
{
  gsize found = 0;
  for (gsize i = 0; i < n_known; i++)
    found += json_object_get (obj, known[i]) != NULL;
  if (found == json_object_size (obj))
    return NULL;
  g_autoptr (JsonT) rest = json_copy (obj);
  for (gsize i = 0; i < n_known; i++)
    json_object_del (rest, known[i]);
  const char *key = json_object_iter_key (json_object_iter (rest));
  return g_strdup (key);
}

static const Field payload_fields[] = {
  { "format", G_TYPE_INT64 },      { "license_id", G_TYPE_STRING },
  { "org", G_TYPE_STRING },        { "product", G_TYPE_STRING },
  { "machine_id", G_TYPE_STRING }, { "kind", G_TYPE_STRING },
  { "billing", G_TYPE_STRING },    { "issued_at", G_TYPE_INT64 },
  { "expires_at", G_TYPE_INT64 },  { "subscription_end", G_TYPE_INT64 },
  { "entitlements", G_TYPE_NONE }, /* array of strings */
};

/* Members of format 2 only, both required there. */
static const char *const components_field = "components"; /* object: name -> keyed digest */
static const char *const match_field = "match";

static gboolean
is_keyed_digest (const char *s)
{
  gsize n = 0;
  for (; s[n] != '\0'; n++)
    if (!(g_ascii_isdigit (s[n]) || (s[n] >= 'a' && s[n] <= 'f')))
      return FALSE;
  return n == TESSERA_FP_KEYED_HEX_LEN;
}

static TesseraLicfile *
parse_payload (const char *payload, gsize len, const char *key_id, GError **error)
{
#define MALFORMED(...)                                                                             \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *why_ = g_strdup_printf (__VA_ARGS__);                                         \
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,                             \
                 "the license file is correctly signed but malformed (%s): its issuer is "         \
                 "broken",                                                                         \
                 why_);                                                                            \
    return NULL;                                                                                   \
  }                                                                                                \
  G_STMT_END

  /* Strict JSON (RFC 8259): json-glib, the parser before, also took comments,
   * single quotes, hex numbers, a byte order mark, raw control characters,
   * a second value after the object and \u0000 (cutting the string there);
   * no issuer writes those, and what a signer and a reader may read two ways
   * is better refused. Duplicate members: the last wins, as before. */
  json_error_t jerr;
  g_autoptr (JsonT) obj = json_loadb (payload, len, 0, &jerr);
  if (obj == NULL)
    MALFORMED ("line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
  if (!json_is_object (obj))
    MALFORMED ("the payload is not a JSON object");

  const char *known[G_N_ELEMENTS (payload_fields) + 2];
  for (guint i = 0; i < G_N_ELEMENTS (payload_fields); i++)
    known[i] = payload_fields[i].name;
  known[G_N_ELEMENTS (payload_fields)] = components_field;
  known[G_N_ELEMENTS (payload_fields) + 1] = match_field;
  g_autofree char *unknown = first_unknown_member (obj, known, G_N_ELEMENTS (known));
  if (unknown != NULL)
    MALFORMED ("unknown field '%s'", unknown);
  for (guint i = 0; i < G_N_ELEMENTS (payload_fields); i++)
    {
      json_t *node = json_object_get (obj, payload_fields[i].name);
      if (node == NULL)
        MALFORMED ("missing field '%s'", payload_fields[i].name);
      gboolean ok = payload_fields[i].type == G_TYPE_NONE     ? json_is_array (node)
                    : payload_fields[i].type == G_TYPE_STRING ? json_is_string (node)
                                                              : json_is_integer (node);
      if (!ok)
        MALFORMED ("field '%s' has the wrong type", payload_fields[i].name);
    }
  gint64 format = json_integer_value (json_object_get (obj, "format"));
  if (format != PAYLOAD_FORMAT && format != PAYLOAD_FORMAT_COMPONENTS)
    MALFORMED ("format %" G_GINT64_FORMAT " is not supported", format);
  json_t *components_node = json_object_get (obj, components_field);
  json_t *match_node = json_object_get (obj, match_field);
  if (format == PAYLOAD_FORMAT && (components_node != NULL || match_node != NULL))
    MALFORMED ("field '%s' in a format %d payload",
               components_node ? components_field : match_field, PAYLOAD_FORMAT);
  if (format == PAYLOAD_FORMAT_COMPONENTS)
    {
      if (components_node == NULL || match_node == NULL)
        MALFORMED ("missing field '%s'", components_node ? match_field : components_field);
      if (!json_is_object (components_node))
        MALFORMED ("field '%s' has the wrong type", components_field);
      if (!json_is_string (match_node))
        MALFORMED ("field '%s' has the wrong type", match_field);
    }

#define STRING_MEMBER(name) g_strdup (json_string_value (json_object_get (obj, name)))
#define INT_MEMBER(name) ((gint64) json_integer_value (json_object_get (obj, name)))
  g_autoptr (TesseraLicfile) file = g_new0 (TesseraLicfile, 1);
  g_atomic_ref_count_init (&file->ref_count);
  file->key_id = g_strdup (key_id);
  file->license_id = STRING_MEMBER ("license_id");
  file->org = STRING_MEMBER ("org");
  file->product = STRING_MEMBER ("product");
  file->machine_id = STRING_MEMBER ("machine_id");
  file->kind = STRING_MEMBER ("kind");
  file->billing = STRING_MEMBER ("billing");
  file->issued_at = INT_MEMBER ("issued_at");
  file->expires_at = INT_MEMBER ("expires_at");
  file->subscription_end = INT_MEMBER ("subscription_end");
#undef STRING_MEMBER
#undef INT_MEMBER

  json_t *arr = json_object_get (obj, "entitlements");
  gsize n = json_array_size (arr);
  file->entitlements = g_new0 (char *, n + 1);
  for (gsize i = 0; i < n; i++)
    {
      json_t *node = json_array_get (arr, i);
      if (!json_is_string (node))
        MALFORMED ("entitlement %" G_GSIZE_FORMAT " is not a string", i);
      file->entitlements[i] = g_strdup (json_string_value (node));
    }
  qsort (file->entitlements, n, sizeof (char *), _tessera_compare_str_ptrs);

  g_autoptr (GError) local_error = NULL;
  if (format == PAYLOAD_FORMAT_COMPONENTS)
    {
      guint bound = 0, required = 0;
      const char *names[TESSERA_FP_N_COMPONENTS];
      for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
        names[c] = _tessera_fp_component_name (c);
      g_autofree char *unknown_component
          = first_unknown_member (components_node, names, G_N_ELEMENTS (names));
      if (unknown_component != NULL)
        MALFORMED ("unknown component '%s'", unknown_component);
      for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
        {
          json_t *node = json_object_get (components_node, names[c]);
          if (node == NULL)
            continue;
          if (!json_is_string (node) || !is_keyed_digest (json_string_value (node)))
            MALFORMED ("component '%s' is not %d lowercase hex digits", names[c],
                       TESSERA_FP_KEYED_HEX_LEN);
          file->components[c] = g_strdup (json_string_value (node));
          bound += _tessera_fp_component_is_hardware (c);
        }
      if (file->components[_tessera_fp_component_index ("user")] == NULL)
        MALFORMED ("no 'user' component");
      if (bound == 0)
        MALFORMED ("no hardware component");
      file->match = g_strdup (json_string_value (match_node));
      if (!_tessera_fp_policy_required (file->match, bound, &required, &local_error))
        MALFORMED ("%s", local_error->message);
    }

  /* The same rules the issuer applies: a signed file that breaks them
   * (a floating license, 90 days) is refused as well. */
  TesseraLicfileInfo info = {
    .license_id = file->license_id,
    .org = file->org,
    .product = file->product,
    .machine_id = file->machine_id,
    .kind = file->kind,
    .billing = file->billing,
    .issued_at = file->issued_at,
    .expires_at = file->expires_at,
    .subscription_end = file->subscription_end,
    .entitlements = (const char *const *) file->entitlements,
  };
  gint64 expires = 0;
  if (!check_info (&info, &expires, &local_error))
    MALFORMED ("%s", local_error->message);
  return g_steal_pointer (&file);
#undef MALFORMED
}

TesseraLicfile *
tessera_licfile_verify (GBytes *contents, TesseraTrustedKeys *keys, GError **error)
{
  g_return_val_if_fail (contents != NULL, NULL);
  g_return_val_if_fail (keys != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!_tessera_sodium_init (error))
    return NULL;

  gsize len = 0;
  const char *data = g_bytes_get_data (contents, &len);
  /* An empty GBytes may hold NULL: no pointer arithmetic on it. */
  const char *p = data, *end = len > 0 ? data + len : data;

  if (len == 0)
    return tampered (error, "the file is empty");
  if (len > TESSERA_LICFILE_MAX_SIZE)
    return tampered (error, "the file is larger than any license file");
  if (!match (&p, end, ENVELOPE_PREFIX))
    return tampered (error, "it does not start like a Tessera license file");

  if ((gsize) (end - p) < TESSERA_KEY_ID_LEN)
    return tampered (error, "it is truncated");
  char key_id[TESSERA_KEY_ID_LEN + 1];
  for (guint i = 0; i < TESSERA_KEY_ID_LEN; i++)
    if (!g_ascii_isxdigit (p[i]) || g_ascii_isupper (p[i]))
      return tampered (error, "the key id is not valid");
  memcpy (key_id, p, TESSERA_KEY_ID_LEN);
  key_id[TESSERA_KEY_ID_LEN] = '\0';
  p += TESSERA_KEY_ID_LEN;

  if (!match (&p, end, ENVELOPE_PAYLOAD))
    return tampered (error, "the envelope around the key id is not canonical");
  const char *payload_b64 = p;
  while (p < end && is_b64_char (*p))
    p++;
  gsize payload_b64_len = (gsize) (p - payload_b64);
  if (!match (&p, end, ENVELOPE_SIGNATURE))
    return tampered (error, "the envelope around the payload is not canonical");
  const char *sig_b64 = p;
  if ((gsize) (end - p) < SIGNATURE_B64_LEN)
    return tampered (error, "it is truncated");
  p += SIGNATURE_B64_LEN;
  if (!match (&p, end, ENVELOPE_SUFFIX) || p != end)
    return tampered (error, "bytes were added or removed after the signature");

  gsize payload_len = 0, sig_len = 0;
  g_autofree guchar *payload = decode_canonical (payload_b64, payload_b64_len, &payload_len);
  if (payload == NULL)
    return tampered (error, "the payload is not canonical base64");
  g_autofree guchar *sig = decode_canonical (sig_b64, SIGNATURE_B64_LEN, &sig_len);
  if (sig == NULL || sig_len != crypto_sign_BYTES)
    return tampered (error, "the signature is not canonical base64");

  const unsigned char *pk = _tessera_trusted_keys_lookup (keys, key_id);
  if (pk == NULL)
    {
      /* Signed by a trusted key under another id? Then the id was edited. */
      g_autofree char *trusted = _tessera_trusted_keys_describe (keys);
      g_auto (GStrv) ids = g_strsplit (trusted, ", ", -1);
      for (guint i = 0; ids[i]; i++)
        {
          const unsigned char *other = _tessera_trusted_keys_lookup (keys, ids[i]);
          if (other == NULL)
            continue;
          g_autoptr (GBytes) msg = signed_message (ids[i], payload, payload_len);
          if (crypto_sign_verify_detached (sig, g_bytes_get_data (msg, NULL),
                                           g_bytes_get_size (msg), other)
              == 0)
            return tampered (error, "its key id was changed");
        }
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY,
                   "the license file is signed by key %s, which is not trusted here "
                   "(trusted keys: %s)",
                   key_id, trusted);
      return NULL;
    }

  g_autoptr (GBytes) msg = signed_message (key_id, payload, payload_len);
  if (crypto_sign_verify_detached (sig, g_bytes_get_data (msg, NULL), g_bytes_get_size (msg), pk)
      != 0)
    return tampered (error, "the signature does not match its content");

  return parse_payload ((const char *) payload, payload_len, key_id, error);
}

gboolean
tessera_licfile_check (TesseraLicfile *file, const char *product, const char *machine_id,
                       gint64 now, GError **error)
{
  g_return_val_if_fail (file != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (product != NULL && !g_str_equal (product, file->product))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH,
                   "the license file is for %s, not %s", file->product, product);
      return FALSE;
    }
  if (machine_id != NULL && !g_str_equal (machine_id, file->machine_id))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH,
                   "the license file is bound to machine %s, but this machine's ID is %s: "
                   "an offline license cannot move to another machine (or user account)",
                   file->machine_id, machine_id);
      return FALSE;
    }
  /* issued_at > 0 is enforced, so this cannot overflow for any @now. */
  if (now < file->issued_at - CLOCK_SKEW)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (file->issued_at);
      g_autofree char *iso = t ? g_date_time_format_iso8601 (t) : g_strdup ("?");
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_YET_VALID,
                   "the license file is valid from %s only (check this machine's clock)", iso);
      return FALSE;
    }
  if (now >= file->expires_at)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (file->expires_at);
      g_autofree char *iso = t ? g_date_time_format_iso8601 (t) : g_strdup ("?");
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED,
                   "the offline license expired at %s; ask your administrator for a new one", iso);
      return FALSE;
    }
  return TRUE;
}

#define GETTER(type, field)                                                                        \
  type tessera_licfile_get_##field (TesseraLicfile *file)                                          \
  {                                                                                                \
    g_return_val_if_fail (file != NULL, 0);                                                        \
    return file->field;                                                                            \
  }

GETTER (const char *, license_id)
GETTER (const char *, org)
GETTER (const char *, product)
GETTER (const char *, machine_id)
GETTER (const char *, kind)
GETTER (const char *, billing)
GETTER (const char *, key_id)
GETTER (gint64, issued_at)
GETTER (gint64, expires_at)
GETTER (gint64, subscription_end)

const char *
tessera_licfile_get_match_policy (TesseraLicfile *file)
{
  g_return_val_if_fail (file != NULL, NULL);
  return file->match;
}

const char *
_tessera_licfile_get_component (TesseraLicfile *file, guint c)
{
  g_return_val_if_fail (c < TESSERA_FP_N_COMPONENTS, NULL);
  return file->components[c];
}

const char *const *
tessera_licfile_get_entitlements (TesseraLicfile *file)
{
  g_return_val_if_fail (file != NULL, NULL);
  return (const char *const *) file->entitlements;
}
