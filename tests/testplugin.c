/* One source, many test plugins: tests/CMakeLists.txt builds it as several
 * .so variants (PLUGIN_NAME and VARIANT_* defines) to exercise every way a
 * plugin can be good or broken. The good variants are driven by their config
 * section, so one binary covers every op outcome:
 *
 *   [provider:NAME]
 *   create|activate|validate|release|fingerprint = ok | error:NICK | null | both
 *   features = a;b      expires-in = SECONDS     development = true
 *   product = OTHER     (answer activate with a license for another product)
 *   log = /path         (appends "NAME op product" per op, to count calls)
 *   invalidate-ms = N   (a thread invalidates each license N ms after activation)
 *   list|install|forget = ok | error:NICK | null | both   (ABI 1.1 ops)
 *   list-count = N      (licenses list returns, default 1)
 *   list-answer = sealed | other-product | null-entry   (a broken list entry)
 *   forget-count = N    (credentials forget reports)
 *
 * The abi10 variant is built as if by the ABI 1.0 header: no 1.1 ops.
 *
 * Every variant carries the ABI note its vtable claims (nonote: none, as a
 * plugin built before the note existed), and a constructor that appends
 * "NAME" to the file $TESSERA_TEST_CTOR_TRACE names: the trace that any of
 * its code ran, which a plugin refused for its ABI must never leave.
 */
#include <tessera/tessera.h>

#include <stdio.h>
#include <stdlib.h>

#if defined(VARIANT_NO_ENTRY) || defined(VARIANT_NULL_ENTRY) || defined(VARIANT_NO_ACTIVATE)
/* These variants leave some ops out of their vtable on purpose. */
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be defined"
#endif
#define STR_(x) #x
#define STR(x) STR_ (x)
#define ENTRY__(n) tessera_backend_entry_##n
#define ENTRY_(n) ENTRY__ (n)

#if defined(VARIANT_BAD_MAJOR)
#define NOTE_MAJOR (TESSERA_BACKEND_ABI_MAJOR + 98)
#else
#define NOTE_MAJOR TESSERA_BACKEND_ABI_MAJOR
#endif
#if defined(VARIANT_NEWER_MINOR)
#define NOTE_MINOR (TESSERA_BACKEND_ABI_MINOR + 1)
#elif defined(VARIANT_ABI_1_0)
#define NOTE_MINOR 0
#else
#define NOTE_MINOR TESSERA_BACKEND_ABI_MINOR
#endif
#if !defined(VARIANT_NO_NOTE)
TESSERA_BACKEND_NOTE (PLUGIN_NAME, NOTE_MAJOR, NOTE_MINOR);
#endif

__attribute__ ((constructor)) static void
trace_constructor (void)
{
  const char *trace = getenv ("TESSERA_TEST_CTOR_TRACE");
  if (trace == NULL)
    return;
  FILE *f = fopen (trace, "a");
  if (f != NULL)
    {
      fprintf (f, "%s\n", STR (PLUGIN_NAME));
      fclose (f);
    }
}

typedef struct
{
  GKeyFile *keyfile;
  char *group;
  char *log;
  gint serial;
  TesseraLicense *last; /* the last license activate returned */
} Instance;

static char *
setting (Instance *self, const char *op)
{
  char *v = g_key_file_get_string (self->keyfile, self->group, op, NULL);
  if (v != NULL)
    return v;
  return g_strdup ("ok");
}

static void
log_op (Instance *self, const char *op, const char *what)
{
  if (self->log == NULL)
    return;
  FILE *f = fopen (self->log, "a");
  if (f != NULL)
    {
      fprintf (f, "%s %s %s\n", STR (PLUGIN_NAME), op, what ? what : "-");
      fclose (f);
    }
}

/* Applies the scripted outcome of @op: returns TRUE to succeed, FALSE to fail
 * with @error set; *both is set when the op must return a value AND an error. */
static gboolean
outcome (Instance *self, const char *op, gboolean *null_no_error, gboolean *both, GError **error)
{
  g_autofree char *v = setting (self, op);
  *null_no_error = g_str_equal (v, "null");
  *both = g_str_equal (v, "both");
  if (g_str_has_prefix (v, "error:") || *both)
    {
      TesseraError code = TESSERA_ERROR_FAILED;
      if (!*both && !tessera_error_from_nick (v + 6, &code))
        code = TESSERA_ERROR_FAILED;
      g_set_error (error, TESSERA_ERROR, code, "%s %s failed as scripted", STR (PLUGIN_NAME), op);
      return *both;
    }
  return !*null_no_error;
}

static gpointer
test_create (TesseraBackendConfig *config, GError **error)
{
  Instance *self = g_new0 (Instance, 1);
  self->keyfile = g_key_file_ref (tessera_backend_config_get_keyfile (config));
  self->group = g_strdup (tessera_backend_config_get_group (config));
  self->log = tessera_backend_config_dup_string (config, "log", NULL);

  gboolean null_no_error, both;
  gboolean ok = outcome (self, "create", &null_no_error, &both, error);
  log_op (self, "create", NULL);
  if (!ok || null_no_error)
    {
      g_key_file_unref (self->keyfile);
      g_free (self->group);
      g_free (self->log);
      g_free (self);
      return NULL;
    }
  return self;
}

static void
test_destroy (gpointer instance)
{
  Instance *self = instance;
  log_op (self, "destroy", NULL);
  g_clear_pointer (&self->last, tessera_license_unref);
  g_key_file_unref (self->keyfile);
  g_free (self->group);
  g_free (self->log);
  g_free (self);
}

typedef struct
{
  TesseraLicense *license;
  guint delay_ms;
} Invalidator;

static gpointer
invalidator_thread (gpointer data)
{
  Invalidator *inv = data;
  g_usleep (inv->delay_ms * 1000);
  g_autoptr (GError) reason = g_error_new (TESSERA_ERROR, TESSERA_ERROR_REVOKED,
                                           "revoked in the background by %s", STR (PLUGIN_NAME));
  tessera_license_invalidate (inv->license, reason);
  tessera_license_unref (inv->license);
  g_free (inv);
  return NULL;
}

static TesseraLicense *
test_activate (gpointer instance, const char *product, TesseraActivateOptions *options,
               GCancellable *cancellable, GError **error)
{
  Instance *self = instance;
  gboolean null_no_error, both;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  gboolean ok = outcome (self, "activate", &null_no_error, &both, error);
  log_op (self, "activate", product);
  if (!ok || null_no_error)
    return NULL;

  g_autofree char *answer_product
      = g_key_file_get_string (self->keyfile, self->group, "product", NULL);
  g_autofree char *id
      = g_strdup_printf ("%s-%d", STR (PLUGIN_NAME), g_atomic_int_add (&self->serial, 1));
  TesseraLicense *license = tessera_license_new (answer_product ? answer_product : product,
                                                 TESSERA_LICENSE_KIND_FLOATING, id);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  tessera_license_set_issued_at (license, now);
  gint64 expires_in = g_key_file_get_int64 (self->keyfile, self->group, "expires-in", NULL);
  if (expires_in != 0)
    tessera_license_set_expires_at (license, now + expires_in);
  g_auto (GStrv) features
      = g_key_file_get_string_list (self->keyfile, self->group, "features", NULL, NULL);
  for (guint i = 0; features && features[i]; i++)
    tessera_license_add_feature (license, features[i]);
  if (g_key_file_get_boolean (self->keyfile, self->group, "development", NULL))
    tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_DEVELOPMENT);
  tessera_license_set_org (license, "test-org");
  tessera_license_set_machine_id (license, "TEST-MACH-INE0-0001");
  tessera_license_set_attribute (license, STR (PLUGIN_NAME) ".api-key",
                                 options ? tessera_activate_options_get (options, "api-key")
                                         : NULL);

  if (g_key_file_has_key (self->keyfile, self->group, "list-answer", NULL))
    {
      g_clear_pointer (&self->last, tessera_license_unref);
      self->last = tessera_license_ref (license);
    }

  gint64 invalidate_ms = g_key_file_get_int64 (self->keyfile, self->group, "invalidate-ms", NULL);
  if (invalidate_ms > 0)
    {
      Invalidator *inv = g_new0 (Invalidator, 1);
      inv->license = tessera_license_ref (license);
      inv->delay_ms = (guint) invalidate_ms;
      g_thread_unref (g_thread_new ("invalidator", invalidator_thread, inv));
    }
  return license;
}

static gboolean
bool_op (Instance *self, const char *op, TesseraLicense *license, GError **error)
{
  gboolean null_no_error, both;
  gboolean ok = outcome (self, op, &null_no_error, &both, error);
  log_op (self, op, tessera_license_get_id (license));
  if (null_no_error)
    return FALSE;
  return ok;
}

static gboolean
test_validate (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
               GError **error)
{
  return bool_op (instance, "validate", license, error);
}

#ifndef VARIANT_OLD_ABI
static gboolean
test_release (gpointer instance, TesseraLicense *license, GCancellable *cancellable, GError **error)
{
  Instance *self = instance;
  /* The reference list-answer=sealed keeps would otherwise make a cycle
   * (license -> provider -> instance -> license). */
  if (self->last == license)
    g_clear_pointer (&self->last, tessera_license_unref);
  return bool_op (instance, "release", license, error);
}

static char *
test_fingerprint (gpointer instance, GError **error)
{
  Instance *self = instance;
  gboolean null_no_error, both;
  gboolean ok = outcome (self, "fingerprint", &null_no_error, &both, error);
  if (!ok || null_no_error)
    return NULL;
  return g_strdup ("TEST-PLUG-INID-0001");
}
#endif

#if !defined(VARIANT_OLD_ABI) && !defined(VARIANT_ABI_1_0)
static TesseraLicense *
stored_license (Instance *self, const char *product, const char *id)
{
  TesseraLicense *license = tessera_license_new (product, TESSERA_LICENSE_KIND_NODE_LOCKED, id);
  tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_PERSISTENT);
  tessera_license_set_machine_id (license, "TEST-MACH-INE0-0001");
  return license;
}

static void
license_unref0 (gpointer license)
{
  if (license != NULL)
    tessera_license_unref (license);
}

static GPtrArray *
test_list (gpointer instance, const char *product, GError **error)
{
  Instance *self = instance;
  gboolean null_no_error, both;
  gboolean ok = outcome (self, "list", &null_no_error, &both, error);
  log_op (self, "list", product);
  if (!ok || null_no_error)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (license_unref0);
  gint64 count = 1;
  if (g_key_file_has_key (self->keyfile, self->group, "list-count", NULL))
    count = g_key_file_get_int64 (self->keyfile, self->group, "list-count", NULL);
  g_autofree char *answer = g_key_file_get_string (self->keyfile, self->group, "list-answer", NULL);
  for (gint64 i = 0; i < count; i++)
    {
      g_autofree char *id = g_strdup_printf ("%s-stored-%" G_GINT64_FORMAT, STR (PLUGIN_NAME), i);
      const char *p = product ? product : "KRE";
      if (g_strcmp0 (answer, "other-product") == 0)
        p = "OTHER";
      if (g_strcmp0 (answer, "null-entry") == 0)
        g_ptr_array_add (out, NULL);
      else
        g_ptr_array_add (out, stored_license (self, p, id));
    }
  if (g_strcmp0 (answer, "sealed") == 0 && self->last != NULL)
    g_ptr_array_add (out, tessera_license_ref (self->last));
  return out;
}

static TesseraLicense *
test_install (gpointer instance, const char *file_name, GBytes *contents, GError **error)
{
  Instance *self = instance;
  gboolean null_no_error, both;
  gboolean ok = outcome (self, "install", &null_no_error, &both, error);
  log_op (self, "install", file_name);
  if (!ok || null_no_error)
    return NULL;
  /* The file's first line names the product, so tests control what is installed. */
  gsize len = 0;
  const char *data = g_bytes_get_data (contents, &len);
  g_autofree char *product = g_strndup (data, len);
  g_strstrip (product);
  return stored_license (self, product, file_name);
}

static gboolean
test_forget (gpointer instance, guint *n_forgotten, GError **error)
{
  Instance *self = instance;
  gboolean null_no_error, both;
  gboolean ok = outcome (self, "forget", &null_no_error, &both, error);
  log_op (self, "forget", NULL);
  *n_forgotten = (guint) g_key_file_get_int64 (self->keyfile, self->group, "forget-count", NULL);
  if (null_no_error)
    return FALSE;
  return ok;
}
#endif

#if defined(VARIANT_NO_ENTRY)
/* Exports something, just not the entry point. */
TESSERA_BACKEND_EXPORT int tessera_backend_entry_something_else (void);
int
tessera_backend_entry_something_else (void)
{
  return 42;
}
#else
TESSERA_BACKEND_EXPORT const TesseraBackend *ENTRY_ (PLUGIN_NAME) (void);
const TesseraBackend *
ENTRY_ (PLUGIN_NAME) (void)
{
#if defined(VARIANT_NULL_ENTRY)
  return NULL;
#else
  static const TesseraBackend backend = {
#if defined(VARIANT_BAD_MAJOR)
    .abi_major = TESSERA_BACKEND_ABI_MAJOR + 98,
#else
    .abi_major = TESSERA_BACKEND_ABI_MAJOR,
#endif
#if defined(VARIANT_NEWER_MINOR)
    .abi_minor = TESSERA_BACKEND_ABI_MINOR + 1,
#elif defined(VARIANT_ABI_1_0)
    .abi_minor = 0,
#else
    .abi_minor = TESSERA_BACKEND_ABI_MINOR,
#endif
#if defined(VARIANT_OLD_ABI)
    /* As if built by an older header whose vtable ended after validate. */
    .struct_size = G_STRUCT_OFFSET (TesseraBackend, release),
#elif defined(VARIANT_ABI_1_0)
    /* As if built by the ABI 1.0 header: no list/install/forget. */
    .struct_size = G_STRUCT_OFFSET (TesseraBackend, list),
#elif defined(VARIANT_TINY_STRUCT)
    .struct_size = 8,
#else
    .struct_size = sizeof (TesseraBackend),
#endif
#if defined(VARIANT_WRONG_NAME)
    .name = "somebody_else",
#else
    .name = STR (PLUGIN_NAME),
#endif
    .description = "Tessera test plugin (" STR (PLUGIN_NAME) ")",
    .create = test_create,
    .destroy = test_destroy,
#if !defined(VARIANT_NO_ACTIVATE)
    .activate = test_activate,
#endif
    .validate = test_validate,
#if !defined(VARIANT_OLD_ABI)
    .release = test_release,
    .fingerprint = test_fingerprint,
#endif
#if !defined(VARIANT_OLD_ABI) && !defined(VARIANT_ABI_1_0)
    .list = test_list,
    .install = test_install,
    .forget = test_forget,
#endif
  };
  return &backend;
#endif
}
#endif
