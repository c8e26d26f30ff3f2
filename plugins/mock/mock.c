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

/* NULL-terminated: also the list of keys allowed in "ops". */
const char *const mock_op_names[MOCK_N_OPS + 1] = {
  [MOCK_OP_ACTIVATE] = "activate", [MOCK_OP_VALIDATE] = "validate",
  [MOCK_OP_RELEASE] = "release",   [MOCK_OP_FINGERPRINT] = "fingerprint",
  [MOCK_OP_LIST] = "list",         [MOCK_OP_INSTALL] = "install",
  [MOCK_OP_FORGET] = "forget",     [MOCK_N_OPS] = NULL,
};

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
  self->installed = g_ptr_array_new_with_free_func (g_free);
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
  g_ptr_array_unref (self->installed);
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
      ",\"fingerprint\":%" G_GUINT64_FORMAT ",\"list\":%" G_GUINT64_FORMAT
      ",\"install\":%" G_GUINT64_FORMAT ",\"forget\":%" G_GUINT64_FORMAT
      ",\"destroy\":%" G_GUINT64_FORMAT ",\"held\":%" G_GUINT64_FORMAT "}\n",
      self->creates, self->calls[MOCK_OP_ACTIVATE], self->calls[MOCK_OP_VALIDATE],
      self->calls[MOCK_OP_RELEASE], self->calls[MOCK_OP_FINGERPRINT], self->calls[MOCK_OP_LIST],
      self->calls[MOCK_OP_INSTALL], self->calls[MOCK_OP_FORGET], self->destroys, self->held);
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
  /* Written before the delay too: a tester sees a call in progress (and can
   * interrupt the product then) instead of guessing how long it takes. */
  mock_update_counters_locked (self);
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

static TesseraLicense *mock_build_license (Mock *self, const char *product, const char *id,
                                           const char *machine_id, MockSeat *seat);

static gboolean
mock_check_product (Mock *self, const char *product, GError **error)
{
  if (self->products != NULL && !g_strv_contains ((const char *const *) self->products, product))
    {
      g_autofree char *list = g_strjoinv (", ", self->products);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH,
                   "the mock scenario %s licenses %s, not %s", self->scenario_path,
                   *list != '\0' ? list : "no product", product);
      return FALSE;
    }
  return TRUE;
}

static TesseraLicense *
mock_grant (Mock *self, const char *product, GError **error)
{
  if (!mock_check_product (self, product, error))
    return NULL;

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
  return mock_build_license (self, product, self->license_id, machine_id, seat);
}

/* A license as the scenario describes it, owning @seat. */
static TesseraLicense *
mock_build_license (Mock *self, const char *product, const char *id, const char *machine_id,
                    MockSeat *seat)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  TesseraLicense *license = tessera_license_new (product, self->kind, id);
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

/* A stored license: persistent, holding no seat (listing takes none). */
static TesseraLicense *
mock_stored_license (Mock *self, const char *product, const char *id, const char *machine_id)
{
  MockSeat *seat = g_new0 (MockSeat, 1);
  seat->mock = mock_ref (self);
  TesseraLicense *license = mock_build_license (self, product, id, machine_id, seat);
  tessera_license_set_flags (license,
                             tessera_license_get_flags (license) | TESSERA_LICENSE_FLAG_PERSISTENT);
  return license;
}

static GPtrArray *
mock_list (gpointer instance, const char *product, GError **error)
{
  Mock *self = instance;
  GPtrArray *out = NULL;
  g_autofree char *machine_id = NULL;
  if (mock_op_begin (self, MOCK_OP_LIST, NULL, error)
      && (machine_id = mock_dup_machine_id (self, error)) != NULL)
    {
      out = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
      /* "stored" licenses of each scenario product (or of the one asked for
       * when the scenario names none), then what install added. */
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      if (self->products != NULL)
        for (guint i = 0; self->products[i] != NULL; i++)
          g_ptr_array_add (names, self->products[i]);
      else if (product != NULL)
        g_ptr_array_add (names, (gpointer) product);
      for (guint i = 0; i < names->len; i++)
        for (guint64 n = 0; n < self->stored; n++)
          {
            const char *p = names->pdata[i];
            if (product != NULL && !g_str_equal (p, product))
              continue;
            g_autofree char *id = g_strdup_printf ("mock-stored-%s-%" G_GUINT64_FORMAT, p, n);
            g_ptr_array_add (out, mock_stored_license (self, p, id, machine_id));
          }
      g_mutex_lock (&self->lock);
      g_auto (GStrv) installed = g_new0 (char *, self->installed->len + 1);
      for (guint i = 0; i < self->installed->len; i++)
        installed[i] = g_strdup (self->installed->pdata[i]);
      g_mutex_unlock (&self->lock);
      for (guint i = 0; installed[i] != NULL; i++)
        if (product == NULL || g_str_equal (installed[i], product))
          {
            g_autofree char *id = g_strdup_printf ("mock-installed-%u", i);
            g_ptr_array_add (out, mock_stored_license (self, installed[i], id, machine_id));
          }
    }
  mock_op_end (self);
  return out;
}

/* Takes any file named <PRODUCT>_<anything>: what it holds is the tester's
 * business, the mock only remembers the product (in memory). */
static TesseraLicense *
mock_install (gpointer instance, const char *file_name, G_GNUC_UNUSED GBytes *contents,
              GError **error)
{
  Mock *self = instance;
  TesseraLicense *license = NULL;
  g_autofree char *machine_id = NULL;
  if (mock_op_begin (self, MOCK_OP_INSTALL, NULL, error))
    {
      const char *sep = strchr (file_name, '_');
      g_autofree char *product = sep ? g_strndup (file_name, (gsize) (sep - file_name)) : NULL;
      if (product == NULL || *product == '\0')
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                     "the mock provider installs files named PRODUCT_…, not '%s'", file_name);
      else if (mock_check_product (self, product, error)
               && (machine_id = mock_dup_machine_id (self, error)) != NULL)
        {
          g_mutex_lock (&self->lock);
          g_autofree char *id = g_strdup_printf ("mock-installed-%u", self->installed->len);
          g_ptr_array_add (self->installed, g_strdup (product));
          g_mutex_unlock (&self->lock);
          license = mock_stored_license (self, product, id, machine_id);
        }
    }
  mock_op_end (self);
  return license;
}

static gboolean
mock_forget (gpointer instance, guint *n_forgotten, GError **error)
{
  Mock *self = instance;
  gboolean ok = mock_op_begin (self, MOCK_OP_FORGET, NULL, error);
  if (ok)
    {
      g_mutex_lock (&self->lock);
      *n_forgotten = self->forgotten ? 0 : (guint) MIN (self->credentials, G_MAXUINT);
      self->forgotten = TRUE;
      g_mutex_unlock (&self->lock);
    }
  mock_op_end (self);
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
                        .fingerprint = mock_fingerprint, .list = mock_list, .install = mock_install,
                        .forget = mock_forget)
