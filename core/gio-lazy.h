/* libgio, opened on first use (issue 20).
 *
 * Only the async API and cancellation need GIO, yet a library in DT_NEEDED
 * is loaded and relocated by every process that links libtessera, checks
 * in a blocking call or not: GIO and what it pulls in were about half the
 * cost of loading the core. So neither libtessera nor the offline plugin
 * links it; the few functions they call are resolved here, once, when a
 * process first uses them. A GCancellable or a GAsyncResult can only come
 * from a process that has GIO loaded already, so reaching them through
 * this table costs a lookup, not a load. Compiled into each module that
 * needs it (symbols stay local to it). */
#pragma once

#include <gio/gio.h>

typedef struct
{
  GType (*cancellable_get_type) (void);
  gboolean (*cancellable_set_error_if_cancelled) (GCancellable *cancellable, GError **error);
  GTask *(*task_new) (gpointer source_object, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer callback_data);
  void (*task_set_source_tag) (GTask *task, gpointer source_tag);
  void (*task_set_name) (GTask *task, const gchar *name);
  void (*task_set_task_data) (GTask *task, gpointer task_data, GDestroyNotify task_data_destroy);
  gboolean (*task_set_return_on_cancel) (GTask *task, gboolean return_on_cancel);
  void (*task_run_in_thread) (GTask *task, GTaskThreadFunc task_func);
  gboolean (*task_is_valid) (gpointer result, gpointer source_object);
  gpointer (*task_get_source_tag) (GTask *task);
  gpointer (*task_get_task_data) (GTask *task);
  gpointer (*task_propagate_pointer) (GTask *task, GError **error);
  gboolean (*task_propagate_boolean) (GTask *task, GError **error);
  void (*task_return_pointer) (GTask *task, gpointer result, GDestroyNotify result_destroy);
  void (*task_return_boolean) (GTask *task, gboolean result);
  void (*task_return_error) (GTask *task, GError *error);
} TesseraGio;

/* The table, GIO opened on the first call (thread-safe). If GIO cannot be
 * opened the process aborts with one line naming the library: it ships in
 * the same package as GLib, so that is a broken installation, and the async
 * functions have no GError to report it through. */
G_GNUC_INTERNAL const TesseraGio *_tessera_gio (void);

/* G_IS_CANCELLABLE (@object) without linking GIO; TRUE for NULL. */
G_GNUC_INTERNAL gboolean _tessera_gio_is_cancellable_or_null (gpointer object);

/* G_IO_ERROR: the same quark GIO registers, by name. */
#define TESSERA_GIO_ERROR (g_quark_from_static_string ("g-io-error-quark"))
