/* The mock provider: a scriptable backend for testers (docs/mock.md).
 *
 * It grants licenses without any server or license file, as a JSON scenario
 * says: which products, how many seats, what the license looks like and, per
 * op, which error to answer, from which call on, for how many calls and after
 * what delay. Its only state on disk is the optional counters file, rewritten
 * atomically after every op so a test can see what the product did.
 *
 * Threading: the core serializes nothing, so everything mutable in an instance
 * (call counters, seats, the cached fingerprint) is guarded by its lock. The
 * lock is never held while waiting out a delay. */
#include <tessera/tessera.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#define MOCK_SCENARIO_MAX_SIZE (1024 * 1024)
#define MOCK_DELAY_MAX_MS G_GUINT64_CONSTANT (86400000)      /* one day */
#define MOCK_EXPIRES_IN_MAX G_GUINT64_CONSTANT (3155760000)  /* a hundred years */
#define MOCK_ISSUED_AT_MAX G_GUINT64_CONSTANT (253402300799) /* 9999-12-31 */
#define MOCK_DEFAULT_LICENSE_ID "mock-license"

typedef enum
{
  MOCK_OP_ACTIVATE,
  MOCK_OP_VALIDATE,
  MOCK_OP_RELEASE,
  MOCK_OP_FINGERPRINT,
  MOCK_N_OPS
} MockOp;

/* NULL-terminated: also the list of keys allowed in "ops". */
static const char *const mock_op_names[MOCK_N_OPS + 1] = {
  [MOCK_OP_ACTIVATE] = "activate",
  [MOCK_OP_VALIDATE] = "validate",
  [MOCK_OP_RELEASE] = "release",
  [MOCK_OP_FINGERPRINT] = "fingerprint",
  [MOCK_N_OPS] = NULL,
};

/* What the scenario says about one op. */
typedef struct
{
  gboolean fails;    /* "error" given */
  TesseraError code; /* "error" */
  char *message;     /* "message", or NULL for a default */
  guint64 delay_ms;  /* "delay_ms" */
  guint64 after;     /* "after": calls that succeed before the failures */
  guint64 times;     /* "times": failing calls, 0 = every call after "after" */
} MockScript;

typedef struct
{
  gatomicrefcount ref_count; /* the instance, plus one per seat */

  /* The scenario: set by create, read only afterwards. */
  char *scenario_path; /* NULL: no scenario */
  char **products;     /* NULL: every product */
  gboolean has_quota;
  guint64 quota;
  char *machine_id; /* NULL: the core fingerprint */
  TesseraLicenseKind kind;
  char *license_id;
  char *org;
  guint64 expires_in; /* 0: never expires */
  gboolean has_issued_at;
  gint64 issued_at;
  char **entitlements;
  GHashTable *attributes; /* name -> value */
  gboolean development;
  MockScript scripts[MOCK_N_OPS];
  char *counters_path; /* NULL: no counters file */

  /* Guarded by @lock. */
  GMutex lock;
  guint64 creates;
  guint64 destroys;
  guint64 calls[MOCK_N_OPS];
  guint64 held;
  char *fingerprint_id; /* the core fingerprint, computed once */
  gboolean counters_warned;
} Mock;

/* A license's seat, its backend data: freed by a successful release, or else
 * when the license is finalized (the mock's "lease" ends with the object). */
typedef struct
{
  Mock *mock; /* a reference */
  gboolean held;
} MockSeat;

static Mock *
mock_new (void)
{
  Mock *self = g_new0 (Mock, 1);
  g_atomic_ref_count_init (&self->ref_count);
  g_mutex_init (&self->lock);
  self->kind = TESSERA_LICENSE_KIND_FLOATING;
  self->license_id = g_strdup (MOCK_DEFAULT_LICENSE_ID);
  self->attributes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return self;
}

static Mock *
mock_ref (Mock *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

static void
mock_unref (Mock *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_free (self->scenario_path);
  g_strfreev (self->products);
  g_free (self->machine_id);
  g_free (self->license_id);
  g_free (self->org);
  g_strfreev (self->entitlements);
  g_hash_table_unref (self->attributes);
  for (guint i = 0; i < MOCK_N_OPS; i++)
    g_free (self->scripts[i].message);
  g_free (self->counters_path);
  g_free (self->fingerprint_id);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* ---- the counters file ---- */

/* Writes the counters to a temporary file next to @path and renames it over
 * @path, so a reader sees either the old or the new contents, never a mix.
 * Called with the lock held, which orders the writes of concurrent ops. */
static gboolean
mock_write_counters_locked (Mock *self, GError **error)
{
  if (self->counters_path == NULL)
    return TRUE;

  g_autofree char *json = g_strdup_printf (
      "{\"create\":%" G_GUINT64_FORMAT ",\"activate\":%" G_GUINT64_FORMAT
      ",\"validate\":%" G_GUINT64_FORMAT ",\"release\":%" G_GUINT64_FORMAT
      ",\"fingerprint\":%" G_GUINT64_FORMAT ",\"destroy\":%" G_GUINT64_FORMAT
      ",\"held\":%" G_GUINT64_FORMAT "}\n",
      self->creates, self->calls[MOCK_OP_ACTIVATE], self->calls[MOCK_OP_VALIDATE],
      self->calls[MOCK_OP_RELEASE], self->calls[MOCK_OP_FINGERPRINT], self->destroys, self->held);
  /* Atomic replace: a reader sees the old or the new contents, never a mix.
   * 0644 so a test running as another user can read it. */
  g_autoptr (GError) local_error = NULL;
  if (!g_file_set_contents_full (self->counters_path, json, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0644, &local_error))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "cannot write the counters file %s: %s", self->counters_path,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

/* After an op: an op never fails because its counters could not be written,
 * but the tester hears of it once. */
static void
mock_update_counters_locked (Mock *self)
{
  g_autoptr (GError) error = NULL;
  if (!mock_write_counters_locked (self, &error) && !self->counters_warned)
    {
      self->counters_warned = TRUE;
      g_warning ("mock provider: %s", error->message);
    }
}

static void
mock_op_end (Mock *self)
{
  g_mutex_lock (&self->lock);
  mock_update_counters_locked (self);
  g_mutex_unlock (&self->lock);
}

/* ---- seats ---- */

/* Frees the seat if it is still held. Returns TRUE if it was. Lock held. */
static gboolean
mock_seat_free_seat_locked (MockSeat *seat)
{
  if (!seat->held)
    return FALSE;
  seat->held = FALSE;
  seat->mock->held--;
  return TRUE;
}

static void
mock_seat_free (gpointer data)
{
  MockSeat *seat = data;
  Mock *self = seat->mock;

  g_mutex_lock (&self->lock);
  if (mock_seat_free_seat_locked (seat))
    mock_update_counters_locked (self);
  g_mutex_unlock (&self->lock);
  mock_unref (self);
  g_free (seat);
}

/* ---- delays and scripted errors ---- */

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean cancelled;
} MockWaiter;

static void
mock_waiter_cancelled (G_GNUC_UNUSED GCancellable *cancellable, gpointer data)
{
  MockWaiter *waiter = data;
  g_mutex_lock (&waiter->lock);
  waiter->cancelled = TRUE;
  g_cond_signal (&waiter->cond);
  g_mutex_unlock (&waiter->lock);
}

/* Waits @delay_ms, or less if @cancellable fires. Returns FALSE with
 * G_IO_ERROR_CANCELLED if it did (or already had). */
static gboolean
mock_wait (guint64 delay_ms, GCancellable *cancellable, GError **error)
{
  if (delay_ms > 0)
    {
      MockWaiter waiter = { 0 };
      g_mutex_init (&waiter.lock);
      g_cond_init (&waiter.cond);
      /* Connect without holding waiter.lock: the handler runs at once, in
       * this thread, if the cancellable is already cancelled. */
      gulong handler = 0;
      if (cancellable != NULL)
        handler = g_cancellable_connect (cancellable, G_CALLBACK (mock_waiter_cancelled), &waiter,
                                         NULL);

      gint64 end_time = g_get_monotonic_time () + (gint64) delay_ms * G_TIME_SPAN_MILLISECOND;
      g_mutex_lock (&waiter.lock);
      while (!waiter.cancelled)
        if (!g_cond_wait_until (&waiter.cond, &waiter.lock, end_time))
          break;
      g_mutex_unlock (&waiter.lock);

      /* Waits for a handler running in another thread: after this, nobody
       * touches the waiter any more. */
      if (handler != 0)
        g_cancellable_disconnect (cancellable, handler);
      g_cond_clear (&waiter.cond);
      g_mutex_clear (&waiter.lock);
    }
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* Counts a call of @op, waits out its delay and applies its script. Returns
 * FALSE with @error set if the call must fail; the caller then calls
 * mock_op_end() either way. */
static gboolean
mock_op_begin (Mock *self, MockOp op, GCancellable *cancellable, GError **error)
{
  const MockScript *script = &self->scripts[op];

  g_mutex_lock (&self->lock);
  guint64 call = ++self->calls[op];
  g_mutex_unlock (&self->lock);

  if (!mock_wait (script->delay_ms, cancellable, error))
    return FALSE;

  if (script->fails && call > script->after
      && (script->times == 0 || call - script->after <= script->times))
    {
      if (script->message != NULL)
        g_set_error_literal (error, TESSERA_ERROR, script->code, script->message);
      else
        g_set_error (error, TESSERA_ERROR, script->code,
                     "%s call %" G_GUINT64_FORMAT " failed as scripted (%s)", mock_op_names[op],
                     call, tessera_error_to_nick (script->code));
      return FALSE;
    }
  return TRUE;
}

/* ---- the ops ---- */

static char *
mock_dup_machine_id (Mock *self, GError **error)
{
  if (self->machine_id != NULL)
    return g_strdup (self->machine_id);

  g_mutex_lock (&self->lock);
  char *id = g_strdup (self->fingerprint_id);
  g_mutex_unlock (&self->lock);
  if (id != NULL)
    return id;

  /* Computed outside the lock (it reads files): two threads may both compute
   * it, with the same result. */
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (error);
  if (fp == NULL)
    {
      g_prefix_error (error, "no machine_id in the mock scenario, and ");
      return NULL;
    }
  g_mutex_lock (&self->lock);
  if (self->fingerprint_id == NULL)
    self->fingerprint_id = g_strdup (tessera_fingerprint_get_id (fp));
  id = g_strdup (self->fingerprint_id);
  g_mutex_unlock (&self->lock);
  return id;
}

static TesseraLicense *
mock_grant (Mock *self, const char *product, GError **error)
{
  if (self->products != NULL && !g_strv_contains ((const char *const *) self->products, product))
    {
      g_autofree char *list = g_strjoinv (", ", self->products);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH,
                   "the mock scenario %s licenses %s, not %s", self->scenario_path,
                   *list != '\0' ? list : "no product", product);
      return NULL;
    }

  g_autofree char *machine_id = mock_dup_machine_id (self, error);
  if (machine_id == NULL)
    return NULL;

  MockSeat *seat = g_new0 (MockSeat, 1);
  g_mutex_lock (&self->lock);
  if (self->has_quota && self->held >= self->quota)
    {
      g_mutex_unlock (&self->lock);
      g_free (seat);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED,
                   "all %" G_GUINT64_FORMAT " seats of the mock quota are taken", self->quota);
      return NULL;
    }
  self->held++;
  seat->held = TRUE;
  g_mutex_unlock (&self->lock);
  seat->mock = mock_ref (self);

  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  TesseraLicense *license = tessera_license_new (product, self->kind, self->license_id);
  tessera_license_set_backend_data (license, seat, mock_seat_free);
  tessera_license_set_machine_id (license, machine_id);
  tessera_license_set_org (license, self->org);
  tessera_license_set_issued_at (license, self->has_issued_at ? self->issued_at : now);
  if (self->expires_in > 0)
    tessera_license_set_expires_at (license, now + (gint64) self->expires_in);
  for (guint i = 0; self->entitlements != NULL && self->entitlements[i] != NULL; i++)
    tessera_license_add_feature (license, self->entitlements[i]);
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, self->attributes);
  while (g_hash_table_iter_next (&iter, &key, &value))
    tessera_license_set_attribute (license, key, value);
  tessera_license_set_attribute (license, "mock.scenario",
                                 self->scenario_path ? self->scenario_path : "none");
  if (self->development)
    tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_DEVELOPMENT);
  return license;
}

static MockSeat *
mock_get_seat (Mock *self, TesseraLicense *license, GError **error)
{
  MockSeat *seat = tessera_license_get_backend_data (license);
  if (seat == NULL || seat->mock != self)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "the %s license %s was not granted by this mock provider",
                   tessera_license_get_product (license), tessera_license_get_id (license));
      return NULL;
    }
  return seat;
}

static TesseraLicense *
mock_activate (gpointer instance, const char *product,
               G_GNUC_UNUSED TesseraActivateOptions *options, GCancellable *cancellable,
               GError **error)
{
  Mock *self = instance;
  TesseraLicense *license = NULL;
  if (mock_op_begin (self, MOCK_OP_ACTIVATE, cancellable, error))
    license = mock_grant (self, product, error);
  mock_op_end (self);
  return license;
}

static gboolean
mock_validate (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
               GError **error)
{
  Mock *self = instance;
  gboolean ok = mock_op_begin (self, MOCK_OP_VALIDATE, cancellable, error)
                && mock_get_seat (self, license, error) != NULL;
  mock_op_end (self);
  return ok;
}

static gboolean
mock_release (gpointer instance, TesseraLicense *license, GCancellable *cancellable, GError **error)
{
  Mock *self = instance;
  MockSeat *seat = NULL;
  gboolean ok = mock_op_begin (self, MOCK_OP_RELEASE, cancellable, error)
                && (seat = mock_get_seat (self, license, error)) != NULL;

  g_mutex_lock (&self->lock);
  /* A failed release keeps the seat until the license is finalized, as a
   * server keeps it until its lease runs out. */
  if (ok)
    mock_seat_free_seat_locked (seat);
  mock_update_counters_locked (self);
  g_mutex_unlock (&self->lock);
  return ok;
}

static char *
mock_fingerprint (gpointer instance, GError **error)
{
  Mock *self = instance;
  char *id = NULL;
  if (mock_op_begin (self, MOCK_OP_FINGERPRINT, NULL, error))
    id = mock_dup_machine_id (self, error);
  mock_op_end (self);
  return id;
}

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
  static const char *const allowed[]
      = { "products", "quota", "machine_id", "license", "ops", "counters", NULL };
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
      || !get_string (p, object, "", "counters", &counters, error))
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

static gboolean
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

static gpointer
mock_create (TesseraBackendConfig *config, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *path = tessera_backend_config_dup_path (config, "scenario", NULL, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (path == NULL)
    {
      const char *env = secure_getenv ("TESSERA_MOCK_SCENARIO");
      if (env != NULL && *env != '\0')
        path = g_canonicalize_filename (env, NULL);
    }

  Mock *self = mock_new ();
  self->scenario_path = g_strdup (path);
  if (path != NULL && !mock_load_scenario (self, path, error))
    {
      mock_unref (self);
      return NULL;
    }

  g_mutex_lock (&self->lock);
  self->creates++;
  gboolean ok = mock_write_counters_locked (self, &local_error);
  g_mutex_unlock (&self->lock);
  if (!ok)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG, "mock scenario %s: counters: %s",
                   path, local_error->message);
      mock_unref (self);
      return NULL;
    }
  return self;
}

static void
mock_destroy (gpointer instance)
{
  Mock *self = instance;
  g_mutex_lock (&self->lock);
  self->destroys++;
  mock_update_counters_locked (self);
  g_mutex_unlock (&self->lock);
  mock_unref (self);
}

TESSERA_BACKEND_DEFINE (mock, "Scriptable mock backend for testers", .create = mock_create,
                        .destroy = mock_destroy, .activate = mock_activate,
                        .validate = mock_validate, .release = mock_release,
                        .fingerprint = mock_fingerprint)
