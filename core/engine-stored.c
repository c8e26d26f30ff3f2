/* What providers keep between processes: listing stored licenses,
 * installing a license file, forgetting cached credentials. Routed through
 * the same provider snapshot as activation, so a slow keyring or folder
 * never blocks other threads on the engine lock. */
#include "tessera-private.h"

/* Files a person is handed are small; reading an arbitrary path whole would
 * let a mistaken argument (a disk image) exhaust memory. */
#define INSTALL_MAX_SIZE (1024 * 1024)

GPtrArray *
tessera_engine_list_licenses (TesseraEngine *engine, const char *product, GError **error)
{
  g_return_val_if_fail (engine != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (product != NULL && !_tessera_product_is_valid (product))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a product name (1 to 64 letters, digits or '-')", product);
      return NULL;
    }

  TesseraEngineFlags flags = 0;
  g_autoptr (GPtrArray) providers = _tessera_engine_snapshot_providers (engine, &flags, error);
  if (providers == NULL)
    return NULL;

  g_autoptr (GPtrArray) out
      = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
  for (guint i = 0; i < providers->len; i++)
    {
      TesseraProvider *provider = providers->pdata[i];
      g_autoptr (GPtrArray) listed = _tessera_provider_list (provider, product, error);
      if (listed == NULL)
        return NULL;
      g_autofree char *report = g_strdup_printf ("%s: stored (listed, not activated)",
                                                 _tessera_provider_get_name (provider));
      for (guint j = 0; j < listed->len; j++)
        {
          TesseraLicense *license = tessera_license_ref (listed->pdata[j]);
          _tessera_license_seal (license, provider, report);
          g_ptr_array_add (out, license);
        }
    }
  return g_steal_pointer (&out);
}

static TesseraProvider *
pick_installer (GPtrArray *providers, const char *name, GError **error)
{
  g_autoptr (GString) names = g_string_new ("");
  for (guint i = 0; i < providers->len; i++)
    {
      TesseraProvider *provider = providers->pdata[i];
      const char *pname = _tessera_provider_get_name (provider);
      if (name != NULL ? g_str_equal (pname, name) : _tessera_provider_can_install (provider))
        return provider;
      g_string_append_printf (names, "%s%s", names->len ? ", " : "", pname);
    }
  if (name != NULL)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                 "provider '%s' is not configured (configured: %s)", name,
                 names->len ? names->str : "none");
  else
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                 "no configured provider installs license files (configured: %s); add one "
                 "that does, such as 'offline', to the providers of the configuration",
                 names->len ? names->str : "none");
  return NULL;
}

TesseraLicense *
tessera_engine_install_license (TesseraEngine *engine, const char *provider, const char *path,
                                GError **error)
{
  return tessera_engine_install_license_with_flags (engine, provider, path, TESSERA_INSTALL_NONE,
                                                    error);
}

TesseraLicense *
tessera_engine_install_license_with_flags (TesseraEngine *engine, const char *provider,
                                           const char *path, TesseraInstallFlags flags,
                                           GError **error)
{
  g_return_val_if_fail (engine != NULL, NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if ((flags & ~TESSERA_INSTALL_REPLACE) != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "unknown install flags 0x%x", (guint) flags);
      return NULL;
    }

  TesseraEngineFlags engine_flags = 0;
  g_autoptr (GPtrArray) providers
      = _tessera_engine_snapshot_providers (engine, &engine_flags, error);
  if (providers == NULL)
    return NULL;
  TesseraProvider *target = pick_installer (providers, provider, error);
  if (target == NULL)
    return NULL;

  g_autoptr (GError) io_error = NULL;
  g_autoptr (GMappedFile) mapped = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "cannot install '%s': it is a directory, not a license file", path);
      return NULL;
    }
  mapped = g_mapped_file_new (path, FALSE, &io_error);
  if (mapped == NULL)
    {
      TesseraError code = TESSERA_ERROR_FAILED;
      if (g_error_matches (io_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        code = TESSERA_ERROR_NOT_FOUND;
      else if (g_error_matches (io_error, G_FILE_ERROR, G_FILE_ERROR_ACCES)
               || g_error_matches (io_error, G_FILE_ERROR, G_FILE_ERROR_PERM))
        code = TESSERA_ERROR_PERMISSION_DENIED;
      g_set_error (error, TESSERA_ERROR, code, "cannot read '%s': %s", path, io_error->message);
      return NULL;
    }
  length = g_mapped_file_get_length (mapped);
  if (length > INSTALL_MAX_SIZE)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a license file: %" G_GSIZE_FORMAT " bytes, far more than any "
                   "license file",
                   path, length);
      return NULL;
    }
  contents = g_memdup2 (g_mapped_file_get_contents (mapped), length);
  g_autoptr (GBytes) bytes = g_bytes_new_take (g_steal_pointer (&contents), length);
  g_autofree char *base = g_path_get_basename (path);

  g_autoptr (TesseraLicense) license
      = _tessera_provider_install (target, base, bytes, flags, error);
  if (license == NULL)
    return NULL;

  g_autofree char *report
      = g_strdup_printf ("%s: installed from %s", _tessera_provider_get_name (target), path);
  _tessera_license_seal (license, target, report);
  return g_steal_pointer (&license);
}

gboolean
tessera_engine_forget_credentials (TesseraEngine *engine, const char *provider, guint *n_forgotten,
                                   GError **error)
{
  g_return_val_if_fail (engine != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (n_forgotten != NULL)
    *n_forgotten = 0;
  TesseraEngineFlags flags = 0;
  g_autoptr (GPtrArray) providers = _tessera_engine_snapshot_providers (engine, &flags, error);
  if (providers == NULL)
    return FALSE;

  gboolean found = FALSE;
  guint total = 0;
  for (guint i = 0; i < providers->len; i++)
    {
      TesseraProvider *p = providers->pdata[i];
      if (provider != NULL && !g_str_equal (_tessera_provider_get_name (p), provider))
        continue;
      found = TRUE;
      guint n = 0;
      if (!_tessera_provider_forget (p, &n, error))
        return FALSE;
      total += n;
    }
  if (!found)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER,
                   "provider '%s' is not configured, so it has nothing to forget", provider);
      return FALSE;
    }
  if (n_forgotten != NULL)
    *n_forgotten = total;
  return TRUE;
}
