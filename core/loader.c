/* Plugin discovery and loading: where plugins may come from, the safety
 * checks before any of their code runs, and the ABI handshake after. */
#include "tessera-private.h"

#include <errno.h>
#include <gmodule.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLUGIN_PREFIX "tessera-"
#define PLUGIN_SUFFIX ".so"

/* Process-wide: real path of a plugin file -> its checked vtable. Modules are
 * never unloaded (g_module_make_resident), so the vtables stay valid for the
 * life of the process and a plugin is dlopen()ed at most once. */
G_LOCK_DEFINE_STATIC (loaded);
static GHashTable *loaded;

/* Another major, or a newer minor than this core knows (as GStreamer does). */
static gboolean
check_abi_version (guint32 major, guint32 minor, const char *origin, GError **error)
{
  if (major != TESSERA_BACKEND_ABI_MAJOR || minor > TESSERA_BACKEND_ABI_MINOR)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_ABI_MISMATCH,
                   "%s was built for Tessera backend ABI %u.%u, but this libtessera %s "
                   "supports %d.0 to %d.%d: rebuild the plugin against this libtessera",
                   origin, major, minor, TESSERA_VERSION, TESSERA_BACKEND_ABI_MAJOR,
                   TESSERA_BACKEND_ABI_MAJOR, TESSERA_BACKEND_ABI_MINOR);
      return FALSE;
    }
  return TRUE;
}

gboolean
_tessera_backend_check (const TesseraBackend *backend, const char *expected_name,
                        const char *origin, GError **error)
{
  if (backend == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "%s returned no backend vtable (NULL)", origin);
      return FALSE;
    }
  if (!check_abi_version (backend->abi_major, backend->abi_minor, origin, error))
    return FALSE;
  /* Every vtable of ABI 1.x holds at least the required ops. */
  gsize min_size = G_STRUCT_OFFSET (TesseraBackend, validate) + sizeof (backend->validate);
  if (backend->struct_size < min_size)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_ABI_MISMATCH,
                   "%s declares a vtable of %u bytes, smaller than the %zu bytes of the "
                   "required ops: it was not built with TESSERA_BACKEND_DEFINE",
                   origin, backend->struct_size, min_size);
      return FALSE;
    }
  if (!_tessera_name_is_valid (backend->name))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "%s declares an invalid provider name", origin);
      return FALSE;
    }
  if (expected_name != NULL && !g_str_equal (backend->name, expected_name))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "%s calls itself '%s', not '%s'", origin, backend->name, expected_name);
      return FALSE;
    }

  const struct
  {
    const char *op;
    gboolean present;
  } required[] = {
    { "create", backend->create != NULL },
    { "destroy", backend->destroy != NULL },
    { "activate", backend->activate != NULL },
    { "validate", backend->validate != NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (required); i++)
    if (!required[i].present)
      {
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                     "%s lacks the required op '%s'", origin, required[i].op);
        return FALSE;
      }
  return TRUE;
}

/* Refuses what another local user could have written: code loaded from there
 * would run with the product's rights. Always: owned by root or by this
 * process's effective user, and not world-writable. In a setuid/setgid
 * process (@strict) the caller is another user than the one whose rights
 * the code gets, so not group-writable either. */
static gboolean
check_writers (const char *path, const struct stat *st, const char *what, gboolean strict,
               GError **error)
{
  uid_t euid = geteuid ();
  if (st->st_uid != 0 && st->st_uid != euid)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "refusing to load plugins from %s: the %s is owned by uid %u, neither root "
                   "nor this process's user (uid %u), who would run its code "
                   "(run 'chown root %s')",
                   path, what, (guint) st->st_uid, (guint) euid, path);
      return FALSE;
    }
  if ((st->st_mode & S_IWOTH) != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "refusing to load plugins from %s: the %s is world-writable "
                   "(run 'chmod o-w %s')",
                   path, what, path);
      return FALSE;
    }
  if (strict && (st->st_mode & S_IWGRP) != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "refusing to load plugins from %s in a setuid/setgid program: the %s is "
                   "group-writable (run 'chmod g-w %s')",
                   path, what, path);
      return FALSE;
    }
  return TRUE;
}

/* In a setuid/setgid process, whoever may rename a folder above the plugin
 * dir may swap the whole dir: every one up to / must pass check_writers(),
 * but a sticky one (such as /tmp), where others cannot rename what is not
 * theirs. */
static gboolean
check_parent_dirs (const char *real_dir, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (real_dir);
  for (;;)
    {
      struct stat st;
      if (stat (dir, &st) != 0)
        {
          _tessera_set_error_from_errno (error, errno, "cannot inspect plugin folder", dir);
          return FALSE;
        }
      if ((st.st_mode & S_ISVTX) != 0 && st.st_uid == 0)
        st.st_mode &= ~(mode_t) (S_IWGRP | S_IWOTH);
      if (!check_writers (dir, &st, "folder above the plugin directory", TRUE, error))
        return FALSE;
      if (g_str_equal (dir, "/"))
        return TRUE;
      char *parent = g_path_get_dirname (dir);
      g_free (dir);
      dir = parent;
    }
}

static char *
plugin_path (const char *plugin_dir, const char *name)
{
  g_autofree char *file = g_strconcat (PLUGIN_PREFIX, name, PLUGIN_SUFFIX, NULL);
  return g_build_filename (plugin_dir, file, NULL);
}

/* Checks the directory and the file; returns the file's real path. */
static char *
check_plugin_file (const char *plugin_dir, const char *name, GError **error)
{
  struct stat st;

  if (!g_path_is_absolute (plugin_dir))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "plugin directory '%s' is not an absolute path", plugin_dir);
      return NULL;
    }
  g_autofree char *real_dir = realpath (plugin_dir, NULL);
  if (real_dir == NULL || stat (real_dir, &st) != 0)
    {
      int errsv = errno;
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                   "provider '%s' is not installed: plugin directory %s: %s", name, plugin_dir,
                   g_strerror (errsv));
      return NULL;
    }
  gboolean strict = _tessera_is_secure_mode ();
  if (!check_writers (plugin_dir, &st, "directory", strict, error))
    return NULL;
  if (strict && !check_parent_dirs (real_dir, error))
    return NULL;

  g_autofree char *path = plugin_path (plugin_dir, name);
  if (lstat (path, &st) != 0)
    {
      int errsv = errno;
      if (errsv == ENOENT)
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                     "provider '%s' is not installed (no %s)", name, path);
      else
        _tessera_set_error_from_errno (error, errsv, "cannot inspect plugin", path);
      return NULL;
    }
  g_autofree char *real = realpath (path, NULL);
  if (real == NULL)
    {
      int errsv = errno;
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "plugin %s cannot be resolved: %s", path, g_strerror (errsv));
      return NULL;
    }
  /* A symlink may only point within the plugin directory: otherwise the
   * directory's permissions would not say who controls the code. */
  g_autofree char *real_parent = g_path_get_dirname (real);
  if (!g_str_equal (real_parent, real_dir))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "refusing plugin %s: it is a link to %s, outside the plugin directory", path,
                   real);
      return NULL;
    }
  if (stat (real, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "plugin %s is not a regular file", path);
      return NULL;
    }
  if (!check_writers (path, &st, "file", strict, error))
    return NULL;
  return g_steal_pointer (&real);
}

const TesseraBackend *
_tessera_loader_load (const char *plugin_dir, const char *name, GError **error)
{
  if (!_tessera_name_is_valid (name))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "'%s' is not a valid provider name", name);
      return NULL;
    }
  g_autofree char *real = check_plugin_file (plugin_dir, name, error);
  if (real == NULL)
    return NULL;

  G_LOCK (loaded);
  if (loaded == NULL)
    loaded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const TesseraBackend *backend = g_hash_table_lookup (loaded, real);
  if (backend != NULL)
    {
      G_UNLOCK (loaded);
      return backend;
    }

  /* dlopen runs the plugin's constructors: its ABI is checked before, from
   * the note TESSERA_BACKEND_DEFINE put in the file (loader-elf.c). */
  g_autofree char *origin = g_strdup_printf ("plugin %s", real);
  guint32 note_major = 0, note_minor = 0;
  if (!_tessera_loader_read_abi_note (real, &note_major, &note_minor, error)
      || !check_abi_version (note_major, note_minor, origin, error))
    {
      G_UNLOCK (loaded);
      return NULL;
    }

  /* Bind all symbols now, so a plugin needing a newer libtessera fails here
   * with the linker's message instead of crashing at its first call. */
  GModule *module = g_module_open (real, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD, "cannot load plugin %s: %s",
                   real, g_module_error ());
      G_UNLOCK (loaded);
      return NULL;
    }

  g_autofree char *symbol = g_strconcat ("tessera_backend_entry_", name, NULL);
  const TesseraBackend *(*entry) (void) = NULL;
  if (!g_module_symbol (module, symbol, (gpointer *) &entry) || entry == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD,
                   "%s is not a Tessera plugin for '%s': it does not export %s", real, name,
                   symbol);
      g_module_close (module);
      G_UNLOCK (loaded);
      return NULL;
    }

  backend = entry ();
  if (!_tessera_backend_check (backend, name, origin, error))
    {
      g_module_close (module);
      G_UNLOCK (loaded);
      return NULL;
    }

  /* Unloading code that licenses, threads or atexit handlers may still point
   * into is never safe: keep every plugin for the life of the process. */
  g_module_make_resident (module);
  g_hash_table_insert (loaded, g_steal_pointer (&real), (gpointer) backend);
  G_UNLOCK (loaded);
  return backend;
}

GPtrArray *
_tessera_loader_list (const char *plugin_dir)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) dir = g_dir_open (plugin_dir, 0, NULL);
  const char *entry;

  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    {
      if (!g_str_has_prefix (entry, PLUGIN_PREFIX) || !g_str_has_suffix (entry, PLUGIN_SUFFIX))
        continue;
      g_autofree char *name
          = g_strndup (entry + strlen (PLUGIN_PREFIX),
                       strlen (entry) - strlen (PLUGIN_PREFIX) - strlen (PLUGIN_SUFFIX));
      if (_tessera_name_is_valid (name))
        g_ptr_array_add (names, g_steal_pointer (&name));
    }
  g_ptr_array_sort (names, _tessera_compare_str_ptrs);
  return names;
}
