#include "tessera-private.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#if !defined(TESSERA_PLUGIN_DIR) || !defined(TESSERA_PLUGIN_RELDIR)                                \
    || !defined(TESSERA_SYSCONF_DIR) || !defined(TESSERA_SYSCONF_RELDIR)
#error "the install directories must be defined (core/CMakeLists.txt)"
#endif

/* @reldir relative to the folder libtessera was loaded from, if that is a
 * folder; else @configured. The loader gives the path it opened, so this
 * follows the library wherever the prefix was moved. */
static char *
relocated_dir (const char *reldir, const char *configured)
{
  Dl_info info;
  if (dladdr ((void *) relocated_dir, &info) != 0 && info.dli_fname != NULL
      && g_path_is_absolute (info.dli_fname))
    {
      g_autofree char *libdir = g_path_get_dirname (info.dli_fname);
      g_autofree char *joined = g_build_filename (libdir, reldir, NULL);
      g_autofree char *dir = g_canonicalize_filename (joined, NULL);
      if (g_file_test (dir, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&dir);
    }
  return g_strdup (configured);
}

const char *
_tessera_plugin_dir (void)
{
  static gsize dir;
  if (g_once_init_enter (&dir))
    g_once_init_leave (&dir, (gsize) relocated_dir (TESSERA_PLUGIN_RELDIR, TESSERA_PLUGIN_DIR));
  return (const char *) dir;
}

const char *
_tessera_sysconf_dir (void)
{
  static gsize dir;
  if (g_once_init_enter (&dir))
    g_once_init_leave (&dir, (gsize) relocated_dir (TESSERA_SYSCONF_RELDIR, TESSERA_SYSCONF_DIR));
  return (const char *) dir;
}

const char *
_tessera_secure_getenv (const char *name)
{
  return secure_getenv (name);
}

gboolean
_tessera_is_secure_mode (void)
{
  /* AT_SECURE is what secure_getenv() goes by; the ids also catch a process
   * that changed them after it started. */
  return getauxval (AT_SECURE) != 0 || getuid () != geteuid () || getgid () != getegid ();
}

gboolean
_tessera_name_is_valid (const char *name)
{
  if (name == NULL || !g_ascii_islower (name[0]))
    return FALSE;
  gsize len = 0;
  for (const char *p = name; *p; p++, len++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '_'))
      return FALSE;
  return len <= 64;
}

void
_tessera_set_error_from_errno (GError **error, int errsv, const char *what, const char *path)
{
  TesseraError code = TESSERA_ERROR_FAILED;
  switch (errsv)
    {
    case EACCES:
    case EPERM:
      code = TESSERA_ERROR_PERMISSION_DENIED;
      break;
    case ENOENT:
    case ENOTDIR:
      code = TESSERA_ERROR_NOT_FOUND;
      break;
    default:
      break;
    }
  g_set_error (error, TESSERA_ERROR, code, "%s %s: %s", what, path, g_strerror (errsv));
}

gint
_tessera_compare_str_ptrs (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

gboolean
_tessera_product_is_valid (const char *product)
{
  if (product == NULL || *product == '\0' || strlen (product) > 64)
    return FALSE;
  for (const char *p = product; *p; p++)
    if (!(g_ascii_isalnum (*p) || *p == '-'))
      return FALSE;
  return TRUE;
}
