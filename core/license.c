/* The license object: immutable properties set by a backend before sealing,
 * and a small state machine (held -> released, held -> invalidated) with
 * handlers told of invalidation in their own main context. */
#include "tessera-private.h"
#include "gio-lazy.h"

#include <stdlib.h>

/* The expiry timer of a handler must not keep its license alive for the
 * weeks until expiry, nor touch it once it is finalized: it reaches the
 * license through this box, which finalize empties under the box's lock. */
typedef struct
{
  gatomicrefcount ref_count;
  GMutex lock;
  TesseraLicense *license; /* borrowed; NULL once the license is finalizing */
} WeakBox;

typedef struct
{
  guint id;
  TesseraLicenseInvalidatedFunc func;
  gpointer user_data;
  GDestroyNotify notify;
  GMainContext *context;
  GSource *expiry_source;
  gboolean dispatched;
} Handler;

struct _TesseraLicense
{
  gint ref_count; /* plain atomics: try_ref() needs compare-and-swap */
  GMutex lock;    /* guards the state and handlers below */
  GMutex op_lock; /* serializes backend ops on this license */

  gboolean sealed;
  char *product;
  char *id;
  TesseraLicenseKind kind;
  TesseraLicenseFlags flags;
  char *machine_id;
  char *org;
  gint64 issued_at;
  gint64 expires_at;
  GHashTable *features;   /* set of names */
  GHashTable *attributes; /* name -> value */
  char *report;
  gpointer backend_data;
  GDestroyNotify backend_data_notify;
  TesseraProvider *provider;

  gboolean released;
  GError *invalid_reason; /* non-NULL once invalidated */
  GList *handlers;        /* Handler* */
  guint next_handler_id;
  WeakBox *box;
};

static WeakBox *
weak_box_ref (WeakBox *box)
{
  g_atomic_ref_count_inc (&box->ref_count);
  return box;
}

static void
weak_box_unref (gpointer data)
{
  WeakBox *box = data;
  if (!g_atomic_ref_count_dec (&box->ref_count))
    return;
  g_mutex_clear (&box->lock);
  g_free (box);
}

/* Takes a reference unless the count already reached zero (finalizing). */
static gboolean
license_try_ref (TesseraLicense *license)
{
  gint old;
  do
    {
      old = g_atomic_int_get (&license->ref_count);
      if (old == 0)
        return FALSE;
    }
  while (!g_atomic_int_compare_and_exchange (&license->ref_count, old, old + 1));
  return TRUE;
}

TesseraLicense *
tessera_license_new (const char *product, TesseraLicenseKind kind, const char *id)
{
  g_return_val_if_fail (product != NULL && *product != '\0', NULL);
  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (kind <= TESSERA_LICENSE_KIND_SESSION, NULL);

  TesseraLicense *license = g_new0 (TesseraLicense, 1);
  license->ref_count = 1;
  g_mutex_init (&license->lock);
  g_mutex_init (&license->op_lock);
  license->product = g_strdup (product);
  license->id = g_strdup (id);
  license->kind = kind;
  license->features = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  license->attributes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  license->report = g_strdup ("");
  license->next_handler_id = 1;
  license->box = g_new0 (WeakBox, 1);
  g_atomic_ref_count_init (&license->box->ref_count);
  g_mutex_init (&license->box->lock);
  license->box->license = license;
  return license;
}

TesseraLicense *
tessera_license_ref (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  g_atomic_int_inc (&license->ref_count);
  return license;
}

static void
handler_free (Handler *handler)
{
  if (handler->expiry_source != NULL)
    {
      g_source_destroy (handler->expiry_source);
      g_source_unref (handler->expiry_source);
    }
  if (handler->notify != NULL)
    handler->notify (handler->user_data);
  g_main_context_unref (handler->context);
  g_free (handler);
}

void
tessera_license_unref (TesseraLicense *license)
{
  g_return_if_fail (license != NULL);
  if (!g_atomic_int_dec_and_test (&license->ref_count))
    return;

  g_mutex_lock (&license->box->lock);
  license->box->license = NULL;
  g_mutex_unlock (&license->box->lock);
  weak_box_unref (license->box);

  /* A persistent license belongs to the machine, not to this process: a
   * later process releases it explicitly. */
  if (license->sealed && !license->released && !(license->flags & TESSERA_LICENSE_FLAG_PERSISTENT))
    {
      g_autoptr (GError) error = NULL;
      if (!_tessera_provider_release (license->provider, license, NULL, &error))
        g_debug ("releasing %s license %s on finalize failed: %s", license->product, license->id,
                 error->message);
    }

  g_list_free_full (license->handlers, (GDestroyNotify) handler_free);
  if (license->backend_data_notify != NULL)
    license->backend_data_notify (license->backend_data);
  g_clear_pointer (&license->provider, _tessera_provider_unref);
  g_clear_error (&license->invalid_reason);
  g_free (license->product);
  g_free (license->id);
  g_free (license->machine_id);
  g_free (license->org);
  g_free (license->report);
  g_hash_table_unref (license->features);
  g_hash_table_unref (license->attributes);
  g_mutex_clear (&license->lock);
  g_mutex_clear (&license->op_lock);
  g_free (license);
}

/* ---- setters (backends, before sealing) ---- */

#define RETURN_IF_SEALED(license)                                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_return_if_fail ((license) != NULL);                                                          \
    g_return_if_fail (!(license)->sealed);                                                         \
  }                                                                                                \
  G_STMT_END

void
tessera_license_set_machine_id (TesseraLicense *license, const char *machine_id)
{
  RETURN_IF_SEALED (license);
  g_free (license->machine_id);
  license->machine_id = g_strdup (machine_id);
}

void
tessera_license_set_org (TesseraLicense *license, const char *org)
{
  RETURN_IF_SEALED (license);
  g_free (license->org);
  license->org = g_strdup (org);
}

void
tessera_license_set_issued_at (TesseraLicense *license, gint64 unix_time)
{
  RETURN_IF_SEALED (license);
  license->issued_at = unix_time;
}

void
tessera_license_set_expires_at (TesseraLicense *license, gint64 unix_time)
{
  RETURN_IF_SEALED (license);
  license->expires_at = unix_time;
}

void
tessera_license_set_flags (TesseraLicense *license, TesseraLicenseFlags flags)
{
  RETURN_IF_SEALED (license);
  license->flags = flags;
}

void
tessera_license_add_feature (TesseraLicense *license, const char *feature)
{
  RETURN_IF_SEALED (license);
  g_return_if_fail (feature != NULL && *feature != '\0');
  g_hash_table_add (license->features, g_strdup (feature));
}

void
tessera_license_set_attribute (TesseraLicense *license, const char *key, const char *value)
{
  RETURN_IF_SEALED (license);
  g_return_if_fail (key != NULL && *key != '\0');
  if (value == NULL)
    g_hash_table_remove (license->attributes, key);
  else
    g_hash_table_replace (license->attributes, g_strdup (key), g_strdup (value));
}

void
tessera_license_set_backend_data (TesseraLicense *license, gpointer data, GDestroyNotify notify)
{
  RETURN_IF_SEALED (license);
  if (license->backend_data_notify != NULL)
    license->backend_data_notify (license->backend_data);
  license->backend_data = data;
  license->backend_data_notify = notify;
}

gpointer
tessera_license_get_backend_data (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return license->backend_data;
}

void
_tessera_license_seal (TesseraLicense *license, TesseraProvider *provider, const char *report)
{
  g_mutex_lock (&license->lock);
  license->provider = _tessera_provider_ref (provider);
  g_free (license->report);
  license->report = g_strdup (report ? report : "");
  license->sealed = TRUE;
  g_mutex_unlock (&license->lock);
}

gboolean
_tessera_license_is_sealed (TesseraLicense *license)
{
  g_mutex_lock (&license->lock);
  gboolean sealed = license->sealed;
  g_mutex_unlock (&license->lock);
  return sealed;
}

/* ---- getters: properties are immutable once sealed, so no lock ---- */

const char *
tessera_license_get_product (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return license->product;
}

const char *
tessera_license_get_provider (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return license->provider ? _tessera_provider_get_name (license->provider) : NULL;
}

const char *
tessera_license_get_id (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return license->id;
}

TesseraLicenseKind
tessera_license_get_kind (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, TESSERA_LICENSE_KIND_NODE_LOCKED);
  return license->kind;
}

TesseraLicenseFlags
tessera_license_get_flags (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, TESSERA_LICENSE_FLAG_NONE);
  return license->flags;
}

const char *
tessera_license_get_machine_id (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return license->machine_id;
}

const char *
tessera_license_get_org (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return license->org;
}

gint64
tessera_license_get_issued_at (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, 0);
  return license->issued_at;
}

gint64
tessera_license_get_expires_at (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, 0);
  return license->expires_at;
}

gboolean
tessera_license_has_feature (TesseraLicense *license, const char *feature)
{
  g_return_val_if_fail (license != NULL, FALSE);
  g_return_val_if_fail (feature != NULL, FALSE);
  return g_hash_table_contains (license->features, feature);
}

static char **
sorted_keys (GHashTable *table)
{
  guint n = 0;
  const char **keys = (const char **) g_hash_table_get_keys_as_array (table, &n);
  char **out = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    out[i] = g_strdup (keys[i]);
  g_free (keys);
  qsort (out, n, sizeof (char *), _tessera_compare_str_ptrs);
  return out;
}

char **
tessera_license_dup_features (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return sorted_keys (license->features);
}

const char *
tessera_license_get_attribute (TesseraLicense *license, const char *key)
{
  g_return_val_if_fail (license != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  return g_hash_table_lookup (license->attributes, key);
}

char **
tessera_license_dup_attribute_keys (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return sorted_keys (license->attributes);
}

const char *
tessera_license_get_activation_report (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, NULL);
  return license->report;
}

const char *
tessera_license_kind_to_string (TesseraLicenseKind kind)
{
  switch (kind)
    {
    case TESSERA_LICENSE_KIND_NODE_LOCKED:
      return "node-locked";
    case TESSERA_LICENSE_KIND_FLOATING:
      return "floating";
    case TESSERA_LICENSE_KIND_SESSION:
      return "session";
    default:
      return NULL;
    }
}

gboolean
tessera_license_is_held (TesseraLicense *license)
{
  g_return_val_if_fail (license != NULL, FALSE);
  g_mutex_lock (&license->lock);
  gboolean held = !license->released && license->invalid_reason == NULL;
  g_mutex_unlock (&license->lock);
  return held;
}

/* ---- invalidation ---- */

typedef struct
{
  TesseraLicense *license;
  guint handler_id;
} Dispatch;

static void
dispatch_free (gpointer data)
{
  Dispatch *d = data;
  tessera_license_unref (d->license);
  g_free (d);
}

static gboolean
dispatch_cb (gpointer data)
{
  Dispatch *d = data;
  TesseraLicense *license = d->license;
  TesseraLicenseInvalidatedFunc func = NULL;
  gpointer user_data = NULL;

  g_mutex_lock (&license->lock);
  for (GList *l = license->handlers; l; l = l->next)
    {
      Handler *h = l->data;
      if (h->id == d->handler_id && !h->dispatched)
        {
          h->dispatched = TRUE;
          func = h->func;
          user_data = h->user_data;
        }
    }
  g_mutex_unlock (&license->lock);

  /* Called without the lock: the handler may release or unref the license. */
  if (func != NULL)
    func (license, license->invalid_reason, user_data);
  return G_SOURCE_REMOVE;
}

/* Always through an idle source, never synchronously: the handler then never
 * runs inside a backend op or a lock of ours, whatever thread invalidates. */
static void
schedule_dispatch (TesseraLicense *license, Handler *handler)
{
  Dispatch *d = g_new0 (Dispatch, 1);
  d->license = tessera_license_ref (license);
  d->handler_id = handler->id;
  GSource *source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, dispatch_cb, d, dispatch_free);
  g_source_set_static_name (source, "[tessera] license invalidated");
  g_source_attach (source, handler->context);
  g_source_unref (source);
}

void
tessera_license_invalidate (TesseraLicense *license, const GError *reason)
{
  g_return_if_fail (license != NULL);
  g_return_if_fail (reason != NULL);

  g_mutex_lock (&license->lock);
  if (license->invalid_reason != NULL || license->released)
    {
      g_mutex_unlock (&license->lock);
      return;
    }
  license->invalid_reason = g_error_copy (reason);
  for (GList *l = license->handlers; l; l = l->next)
    schedule_dispatch (license, l->data);
  g_mutex_unlock (&license->lock);
}

static gboolean
expiry_cb (gpointer data)
{
  WeakBox *box = data;
  TesseraLicense *license = NULL;

  g_mutex_lock (&box->lock);
  if (box->license != NULL && license_try_ref (box->license))
    license = box->license;
  g_mutex_unlock (&box->lock);

  if (license != NULL)
    {
      g_autoptr (GError) reason
          = g_error_new (TESSERA_ERROR, TESSERA_ERROR_EXPIRED, "the %s license %s expired",
                         license->product, license->id);
      tessera_license_invalidate (license, reason);
      tessera_license_unref (license);
    }
  return G_SOURCE_REMOVE;
}

guint
tessera_license_add_invalidated_handler (TesseraLicense *license,
                                         TesseraLicenseInvalidatedFunc func, gpointer user_data,
                                         GDestroyNotify notify)
{
  g_return_val_if_fail (license != NULL, 0);
  g_return_val_if_fail (func != NULL, 0);

  Handler *handler = g_new0 (Handler, 1);
  handler->func = func;
  handler->user_data = user_data;
  handler->notify = notify;
  handler->context = g_main_context_ref_thread_default ();

  g_mutex_lock (&license->lock);
  handler->id = license->next_handler_id++;
  license->handlers = g_list_append (license->handlers, handler);
  if (license->invalid_reason != NULL)
    schedule_dispatch (license, handler);
  else if (license->expires_at > 0 && !license->released)
    {
      gint64 now = g_get_real_time () / G_USEC_PER_SEC;
      gint64 delay = MAX (license->expires_at - now, 0);
      /* Second granularity is plenty for expiry, and lets GLib batch wake-ups. */
      handler->expiry_source = g_timeout_source_new_seconds ((guint) MIN (delay, G_MAXUINT32));
      g_source_set_callback (handler->expiry_source, expiry_cb, weak_box_ref (license->box),
                             weak_box_unref);
      g_source_set_static_name (handler->expiry_source, "[tessera] license expiry");
      g_source_attach (handler->expiry_source, handler->context);
    }
  guint id = handler->id;
  g_mutex_unlock (&license->lock);
  return id;
}

gboolean
tessera_license_remove_invalidated_handler (TesseraLicense *license, guint handler_id)
{
  g_return_val_if_fail (license != NULL, FALSE);

  g_mutex_lock (&license->lock);
  for (GList *l = license->handlers; l; l = l->next)
    {
      Handler *h = l->data;
      if (h->id == handler_id)
        {
          license->handlers = g_list_delete_link (license->handlers, l);
          g_mutex_unlock (&license->lock);
          handler_free (h);
          return TRUE;
        }
    }
  g_mutex_unlock (&license->lock);
  return FALSE;
}

/* ---- validate / release ---- */

gboolean
tessera_license_validate (TesseraLicense *license, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (license != NULL, FALSE);
  g_return_val_if_fail (_tessera_gio_is_cancellable_or_null (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&license->op_lock);
  g_mutex_lock (&license->lock);
  if (!license->sealed)
    {
      g_mutex_unlock (&license->lock);
      g_mutex_unlock (&license->op_lock);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "the %s license %s was not granted by an engine", license->product, license->id);
      return FALSE;
    }
  if (license->released)
    {
      g_mutex_unlock (&license->lock);
      g_mutex_unlock (&license->op_lock);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_RELEASED,
                   "the %s license %s was released; activate again", license->product, license->id);
      return FALSE;
    }
  if (license->invalid_reason != NULL)
    {
      if (error != NULL)
        *error = g_error_copy (license->invalid_reason);
      g_mutex_unlock (&license->lock);
      g_mutex_unlock (&license->op_lock);
      return FALSE;
    }
  g_mutex_unlock (&license->lock);

  g_autoptr (GError) local_error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gboolean ok;
  if (license->expires_at > 0 && now >= license->expires_at)
    {
      g_autoptr (GDateTime) when = g_date_time_new_from_unix_utc (license->expires_at);
      g_autofree char *iso = when ? g_date_time_format_iso8601 (when) : g_strdup ("?");
      local_error
          = g_error_new (TESSERA_ERROR, TESSERA_ERROR_EXPIRED, "the %s license %s expired at %s",
                         license->product, license->id, iso);
      ok = FALSE;
    }
  else
    ok = _tessera_provider_validate (license->provider, license, cancellable, &local_error);

  if (!ok && _tessera_error_is_terminal (local_error))
    tessera_license_invalidate (license, local_error);
  g_mutex_unlock (&license->op_lock);

  if (!ok)
    g_propagate_error (error, g_steal_pointer (&local_error));
  return ok;
}

gboolean
tessera_license_release (TesseraLicense *license, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (license != NULL, FALSE);
  g_return_val_if_fail (_tessera_gio_is_cancellable_or_null (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&license->op_lock);
  g_mutex_lock (&license->lock);
  gboolean call_backend = license->sealed && !license->released;
  license->released = TRUE;
  /* A released license can no longer expire under its handlers. */
  for (GList *l = license->handlers; l; l = l->next)
    {
      Handler *h = l->data;
      if (h->expiry_source != NULL)
        g_source_destroy (h->expiry_source);
    }
  g_mutex_unlock (&license->lock);

  /* An invalidated license is still released in the backend: an expired
   * offline file stays locked and a revoked session open until then. */
  gboolean ok = TRUE;
  if (call_backend)
    ok = _tessera_provider_release (license->provider, license, cancellable, error);
  g_mutex_unlock (&license->op_lock);
  return ok;
}

/* ---- async variants: the blocking call in a worker thread ---- */

static void
validate_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;
  if (tessera_license_validate (task_data, cancellable, &error))
    _tessera_gio ()->task_return_boolean (task, TRUE);
  else
    _tessera_gio ()->task_return_error (task, error);
}

static void
release_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;
  if (tessera_license_release (task_data, cancellable, &error))
    _tessera_gio ()->task_return_boolean (task, TRUE);
  else
    _tessera_gio ()->task_return_error (task, error);
}

static void
run_async (TesseraLicense *license, GCancellable *cancellable, GAsyncReadyCallback callback,
           gpointer user_data, gpointer tag, const char *name, GTaskThreadFunc func)
{
  /* GTask's source object must be a GObject; the license rides as task data
   * and the callback receives NULL as its source object. */
  const TesseraGio *gio = _tessera_gio ();
  GTask *task = gio->task_new (NULL, cancellable, callback, user_data);
  gio->task_set_source_tag (task, tag);
  gio->task_set_name (task, name);
  gio->task_set_task_data (task, tessera_license_ref (license),
                           (GDestroyNotify) tessera_license_unref);
  gio->task_set_return_on_cancel (task, FALSE);
  gio->task_run_in_thread (task, func);
  g_object_unref (task);
}

void
tessera_license_validate_async (TesseraLicense *license, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (license != NULL);
  run_async (license, cancellable, callback, user_data, tessera_license_validate_async,
             "tessera_license_validate_async", validate_thread);
}

static gboolean
finish_boolean (TesseraLicense *license, GAsyncResult *result, gpointer tag, GError **error)
{
  g_return_val_if_fail (license != NULL, FALSE);
  const TesseraGio *gio = _tessera_gio ();
  g_return_val_if_fail (gio->task_is_valid (result, NULL), FALSE);
  GTask *task = (GTask *) result;
  g_return_val_if_fail (gio->task_get_source_tag (task) == tag, FALSE);
  g_return_val_if_fail (gio->task_get_task_data (task) == license, FALSE);
  return gio->task_propagate_boolean (task, error);
}

gboolean
tessera_license_validate_finish (TesseraLicense *license, GAsyncResult *result, GError **error)
{
  return finish_boolean (license, result, tessera_license_validate_async, error);
}

void
tessera_license_release_async (TesseraLicense *license, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (license != NULL);
  run_async (license, cancellable, callback, user_data, tessera_license_release_async,
             "tessera_license_release_async", release_thread);
}

gboolean
tessera_license_release_finish (TesseraLicense *license, GAsyncResult *result, GError **error)
{
  return finish_boolean (license, result, tessera_license_release_async, error);
}
