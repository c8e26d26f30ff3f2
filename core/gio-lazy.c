/* libgio, opened on first use: see gio-lazy.h. */
#include "gio-lazy.h"

#include <gmodule.h>

#define GIO_LIBRARY "libgio-2.0.so.0"

static TesseraGio gio_table;

static void
resolve (GModule *module, const char *name, gpointer *slot)
{
  if (!g_module_symbol (module, name, slot) || *slot == NULL)
    g_error ("%s has no %s (%s): GLib's installation is broken", GIO_LIBRARY, name,
             g_module_error ());
}

const TesseraGio *
_tessera_gio (void)
{
  static gsize loaded = 0;
  if (g_once_init_enter (&loaded))
    {
      GModule *module = g_module_open (GIO_LIBRARY, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
      if (module == NULL)
        g_error ("cannot load %s, which Tessera's async API and cancellation need (%s): "
                 "GLib's installation is broken",
                 GIO_LIBRARY, g_module_error ());
      /* The table points into it for the life of the process. */
      g_module_make_resident (module);
#define RESOLVE(field) resolve (module, "g_" #field, (gpointer *) &gio_table.field)
      RESOLVE (cancellable_get_type);
      RESOLVE (cancellable_set_error_if_cancelled);
      RESOLVE (task_new);
      RESOLVE (task_set_source_tag);
      RESOLVE (task_set_name);
      RESOLVE (task_set_task_data);
      RESOLVE (task_set_return_on_cancel);
      RESOLVE (task_run_in_thread);
      RESOLVE (task_is_valid);
      RESOLVE (task_get_source_tag);
      RESOLVE (task_get_task_data);
      RESOLVE (task_propagate_pointer);
      RESOLVE (task_propagate_boolean);
      RESOLVE (task_return_pointer);
      RESOLVE (task_return_boolean);
      RESOLVE (task_return_error);
#undef RESOLVE
      g_once_init_leave (&loaded, 1);
    }
  return &gio_table;
}

gboolean
_tessera_gio_is_cancellable_or_null (gpointer object)
{
  return object == NULL
         || G_TYPE_CHECK_INSTANCE_TYPE (object, _tessera_gio ()->cancellable_get_type ());
}
