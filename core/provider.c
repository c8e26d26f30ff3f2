/* One instantiated backend. Every call into plugin code passes through here,
 * so the op contract (a failure sets an error, a success does not) is
 * enforced in one place and a buggy plugin yields TESSERA_ERROR_BACKEND
 * instead of a crash or a silently wrong answer. */
#include "tessera-private.h"

struct _TesseraProvider
{
  gatomicrefcount ref_count;
  const TesseraBackend *backend;
  char *name;
  gpointer instance;
};

static void
set_contract_error (GError **error, TesseraProvider *provider, const char *op, const char *what,
                    GError *backend_error)
{
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_BACKEND,
               "provider '%s' broke the backend contract: %s %s%s%s", provider->name, op, what,
               backend_error ? ": " : "", backend_error ? backend_error->message : "");
}

TesseraProvider *
_tessera_provider_new (const TesseraBackend *backend, const char *name, GKeyFile *keyfile,
                       const char *config_path, TesseraEngineFlags flags, GError **error)
{
  TesseraBackendConfig *config = _tessera_backend_config_new (name, keyfile, config_path, flags);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (TesseraProvider) provider = g_new0 (TesseraProvider, 1);

  g_atomic_ref_count_init (&provider->ref_count);
  provider->backend = backend;
  provider->name = g_strdup (name);

  gpointer instance = backend->create (config, &local_error);
  _tessera_backend_config_free (config);

  if (instance != NULL && local_error != NULL)
    {
      backend->destroy (instance);
      set_contract_error (error, provider, "create", "returned an instance and set an error",
                          local_error);
      return NULL;
    }
  if (instance == NULL)
    {
      if (local_error == NULL)
        set_contract_error (error, provider, "create", "returned NULL without an error", NULL);
      else
        g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "provider '%s': ", name);
      return NULL;
    }
  provider->instance = instance;
  return g_steal_pointer (&provider);
}

TesseraProvider *
_tessera_provider_ref (TesseraProvider *provider)
{
  g_atomic_ref_count_inc (&provider->ref_count);
  return provider;
}

void
_tessera_provider_unref (TesseraProvider *provider)
{
  if (provider == NULL || !g_atomic_ref_count_dec (&provider->ref_count))
    return;
  /* Licenses hold references, so by now every license this instance granted
   * is gone and the backend may free what they pointed at. */
  if (provider->instance != NULL)
    provider->backend->destroy (provider->instance);
  g_free (provider->name);
  g_free (provider);
}

const char *
_tessera_provider_get_name (TesseraProvider *provider)
{
  return provider->name;
}

/* A license refused after the backend granted it may hold a seat: give it back. */
static void
discard_license (TesseraProvider *provider, TesseraLicense *license)
{
  g_autoptr (GError) ignored = NULL;
  gboolean (*release) (gpointer, TesseraLicense *, GCancellable *, GError **)
      = _TESSERA_BACKEND_OP (provider->backend, release);
  if (release != NULL)
    release (provider->instance, license, NULL, &ignored);
}

TesseraLicense *
_tessera_provider_activate (TesseraProvider *provider, const char *product,
                            TesseraActivateOptions *options, GCancellable *cancellable,
                            GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (TesseraLicense) license = provider->backend->activate (
      provider->instance, product, options, cancellable, &local_error);

  if (license != NULL && local_error != NULL)
    {
      discard_license (provider, license);
      set_contract_error (error, provider, "activate", "returned a license and set an error",
                          local_error);
      return NULL;
    }
  if (license == NULL)
    {
      if (local_error == NULL)
        set_contract_error (error, provider, "activate", "returned NULL without an error", NULL);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (_tessera_license_is_sealed (license))
    {
      set_contract_error (error, provider, "activate",
                          "returned a license that was already handed out", NULL);
      return NULL;
    }
  if (g_strcmp0 (tessera_license_get_product (license), product) != 0)
    {
      g_autofree char *what = g_strdup_printf ("returned a license for '%s' when asked for '%s'",
                                               tessera_license_get_product (license), product);
      discard_license (provider, license);
      set_contract_error (error, provider, "activate", what, NULL);
      return NULL;
    }
  return g_steal_pointer (&license);
}

static gboolean
check_boolean_op (TesseraProvider *provider, const char *op, gboolean ok, GError *local_error,
                  GError **error)
{
  if (ok && local_error != NULL)
    {
      set_contract_error (error, provider, op, "returned TRUE and set an error", local_error);
      g_error_free (local_error);
      return FALSE;
    }
  if (!ok)
    {
      if (local_error == NULL)
        set_contract_error (error, provider, op, "returned FALSE without an error", NULL);
      else
        g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

gboolean
_tessera_provider_validate (TesseraProvider *provider, TesseraLicense *license,
                            GCancellable *cancellable, GError **error)
{
  GError *local_error = NULL;
  gboolean ok
      = provider->backend->validate (provider->instance, license, cancellable, &local_error);
  return check_boolean_op (provider, "validate", ok, local_error, error);
}

gboolean
_tessera_provider_release (TesseraProvider *provider, TesseraLicense *license,
                           GCancellable *cancellable, GError **error)
{
  gboolean (*release) (gpointer, TesseraLicense *, GCancellable *, GError **)
      = _TESSERA_BACKEND_OP (provider->backend, release);
  if (release == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "provider '%s' does not support releasing a license", provider->name);
      return FALSE;
    }
  GError *local_error = NULL;
  gboolean ok = release (provider->instance, license, cancellable, &local_error);
  return check_boolean_op (provider, "release", ok, local_error, error);
}

char *
_tessera_provider_fingerprint (TesseraProvider *provider, GError **error)
{
  char *(*fingerprint) (gpointer, GError **) = _TESSERA_BACKEND_OP (provider->backend, fingerprint);
  if (fingerprint == NULL)
    {
      g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (error);
      return fp ? g_strdup (tessera_fingerprint_get_id (fp)) : NULL;
    }

  g_autoptr (GError) local_error = NULL;
  g_autofree char *id = fingerprint (provider->instance, &local_error);
  if (id != NULL && local_error != NULL)
    {
      set_contract_error (error, provider, "fingerprint", "returned an ID and set an error",
                          local_error);
      return NULL;
    }
  if (id == NULL)
    {
      if (local_error == NULL)
        set_contract_error (error, provider, "fingerprint", "returned NULL without an error", NULL);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return g_steal_pointer (&id);
}

/* A listed or installed license must be new and for the product it claims:
 * the same checks as activate's, minus the seat to give back. */
static gboolean
check_stored_license (TesseraProvider *provider, const char *op, TesseraLicense *license,
                      const char *product, GError **error)
{
  if (license == NULL || _tessera_license_is_sealed (license))
    {
      set_contract_error (error, provider, op,
                          license ? "returned a license that was already handed out"
                                  : "returned a NULL entry",
                          NULL);
      return FALSE;
    }
  if (product != NULL && g_strcmp0 (tessera_license_get_product (license), product) != 0)
    {
      g_autofree char *what = g_strdup_printf ("returned a license for '%s' when asked for '%s'",
                                               tessera_license_get_product (license), product);
      set_contract_error (error, provider, op, what, NULL);
      return FALSE;
    }
  return TRUE;
}

GPtrArray *
_tessera_provider_list (TesseraProvider *provider, const char *product, GError **error)
{
  GPtrArray *(*list) (gpointer, const char *, GError **)
      = _TESSERA_BACKEND_OP (provider->backend, list);
  if (list == NULL)
    return g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);

  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) licenses = list (provider->instance, product, &local_error);
  if (licenses != NULL && local_error != NULL)
    {
      set_contract_error (error, provider, "list", "returned a list and set an error", local_error);
      return NULL;
    }
  if (licenses == NULL)
    {
      if (local_error == NULL)
        set_contract_error (error, provider, "list", "returned NULL without an error", NULL);
      else
        g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                    "provider '%s': ", provider->name);
      return NULL;
    }
  for (guint i = 0; i < licenses->len; i++)
    if (!check_stored_license (provider, "list", licenses->pdata[i], product, error))
      return NULL;
  return g_steal_pointer (&licenses);
}

TesseraLicense *
_tessera_provider_install (TesseraProvider *provider, const char *file_name, GBytes *contents,
                           TesseraInstallFlags flags, GError **error)
{
  TesseraLicense *(*install) (gpointer, const char *, GBytes *, GError **)
      = _TESSERA_BACKEND_OP (provider->backend, install);
  TesseraLicense *(*install_with_flags) (gpointer, const char *, GBytes *, TesseraInstallFlags,
                                         GError **)
      = _TESSERA_BACKEND_OP (provider->backend, install_with_flags);
  if (install == NULL && install_with_flags == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "provider '%s' does not install license files", provider->name);
      return NULL;
    }
  /* A 1.1 plugin would silently ignore the flag: refuse rather than let
   * the caller believe something was replaced. */
  if (install_with_flags == NULL && (flags & TESSERA_INSTALL_REPLACE))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "provider '%s' cannot replace an installed license file (it was built for "
                   "backend ABI 1.1); remove the installed file first",
                   provider->name);
      return NULL;
    }

  g_autoptr (GError) local_error = NULL;
  g_autoptr (TesseraLicense) license
      = install_with_flags != NULL
            ? install_with_flags (provider->instance, file_name, contents, flags, &local_error)
            : install (provider->instance, file_name, contents, &local_error);
  if (license != NULL && local_error != NULL)
    {
      set_contract_error (error, provider, "install", "returned a license and set an error",
                          local_error);
      return NULL;
    }
  if (license == NULL)
    {
      if (local_error == NULL)
        set_contract_error (error, provider, "install", "returned NULL without an error", NULL);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (!check_stored_license (provider, "install", license, NULL, error))
    return NULL;
  return g_steal_pointer (&license);
}

gboolean
_tessera_provider_forget (TesseraProvider *provider, guint *n_forgotten, GError **error)
{
  gboolean (*forget) (gpointer, guint *, GError **)
      = _TESSERA_BACKEND_OP (provider->backend, forget);
  *n_forgotten = 0;
  if (forget == NULL)
    return TRUE;
  GError *local_error = NULL;
  guint n = 0;
  gboolean ok = forget (provider->instance, &n, &local_error);
  if (!check_boolean_op (provider, "forget", ok, local_error, error))
    return FALSE;
  *n_forgotten = n;
  return TRUE;
}

gboolean
_tessera_provider_can_install (TesseraProvider *provider)
{
  return _TESSERA_BACKEND_OP (provider->backend, install) != NULL
         || _TESSERA_BACKEND_OP (provider->backend, install_with_flags) != NULL;
}
