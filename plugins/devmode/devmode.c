/* The dev-mode provider: development licenses for the developers of a
 * product. Never on by default: it grants only when BOTH its config section
 * says `enabled=true` AND the environment says TESSERA_DEVMODE=1, never in a
 * production-only product, and it warns on stderr at every activation. The
 * license carries TESSERA_LICENSE_FLAG_DEVELOPMENT so the product can mark
 * (watermark) what it produces. */
#include <tessera/tessera.h>

#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_VALID_HOURS 24

typedef struct
{
  gboolean enabled;
  TesseraEngineFlags engine_flags;
  gint64 valid_seconds;
  char **features;
  gint serial;
} DevMode;

static gboolean
parse_bool (TesseraBackendConfig *config, const char *key, gboolean *out, GError **error)
{
  g_autofree char *value = tessera_backend_config_dup_string (config, key, "false");
  if (g_str_equal (value, "true"))
    *out = TRUE;
  else if (g_str_equal (value, "false"))
    *out = FALSE;
  else
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                   "[%s] %s must be true or false, not '%s'",
                   tessera_backend_config_get_group (config), key, value);
      return FALSE;
    }
  return TRUE;
}

static void
devmode_destroy (gpointer instance)
{
  DevMode *self = instance;
  g_strfreev (self->features);
  g_free (self);
}

static gpointer
devmode_create (TesseraBackendConfig *config, GError **error)
{
  static const char *const known[] = { "enabled", "valid-hours", "features", NULL };
  GKeyFile *kf = tessera_backend_config_get_keyfile (config);
  const char *group = tessera_backend_config_get_group (config);
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    if (!g_strv_contains (known, keys[i]))
      {
        g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                     "[%s] unknown key '%s' (known: enabled, valid-hours, features)", group,
                     keys[i]);
        return NULL;
      }

  DevMode *self = g_new0 (DevMode, 1);
  self->engine_flags = tessera_backend_config_get_engine_flags (config);
  GError *local_error = NULL;
  gint64 hours
      = tessera_backend_config_get_int (config, "valid-hours", DEFAULT_VALID_HOURS, &local_error);
  if (local_error == NULL && (hours < 1 || hours > 24 * 31))
    g_set_error (&local_error, TESSERA_ERROR, TESSERA_ERROR_CONFIG,
                 "[%s] valid-hours must be between 1 and 744, not %" G_GINT64_FORMAT, group, hours);
  if (local_error == NULL)
    parse_bool (config, "enabled", &self->enabled, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      devmode_destroy (self);
      return NULL;
    }
  self->valid_seconds = hours * 3600;
  self->features = g_key_file_get_string_list (kf, group, "features", NULL, NULL);
  return self;
}

/* Both switches, checked at every activation so unsetting the variable takes
 * effect at once. secure_getenv: a setuid program is never put in dev mode by
 * its caller. */
static gboolean
check_enabled (DevMode *self, const char *product, GError **error)
{
  if (self->engine_flags & TESSERA_ENGINE_FLAG_PRODUCTION_ONLY)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "development licenses are refused: this build of %s accepts production "
                   "licenses only",
                   product);
      return FALSE;
    }
  const char *env = secure_getenv ("TESSERA_DEVMODE");
  gboolean env_on = env != NULL && g_str_equal (env, "1");
  if (!self->enabled || !env_on)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED,
                   "development mode is off: it needs both enabled=true in [provider:devmode] "
                   "(%s) and TESSERA_DEVMODE=1 in the environment (%s)",
                   self->enabled ? "set" : "not set", env_on ? "set" : "not set");
      return FALSE;
    }
  return TRUE;
}

static TesseraLicense *
devmode_activate (gpointer instance, const char *product, TesseraActivateOptions *options,
                  GCancellable *cancellable, GError **error)
{
  DevMode *self = instance;
  if (!check_enabled (self, product, error))
    return NULL;

  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (error);
  if (fp == NULL)
    return NULL;

  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autofree char *id = g_strdup_printf ("dev-%s-%s-%d", product, g_get_user_name (),
                                         g_atomic_int_add (&self->serial, 1));
  TesseraLicense *license = tessera_license_new (product, TESSERA_LICENSE_KIND_NODE_LOCKED, id);
  tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_DEVELOPMENT);
  tessera_license_set_machine_id (license, tessera_fingerprint_get_id (fp));
  tessera_license_set_org (license, "development");
  tessera_license_set_issued_at (license, now);
  tessera_license_set_expires_at (license, now + self->valid_seconds);
  for (guint i = 0; self->features && self->features[i]; i++)
    tessera_license_add_feature (license, g_strstrip (self->features[i]));
  tessera_license_set_attribute (license, "devmode.notice",
                                 "development license: not for production use");

  /* Every activation, so it shows in every log a dev-mode run leaves. */
  fprintf (stderr,
           "tessera: WARNING: %s runs on a DEVELOPMENT license (provider devmode): "
           "not for production use\n",
           product);
  return license;
}

static gboolean
devmode_validate (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                  GError **error)
{
  return check_enabled (instance, tessera_license_get_product (license), error);
}

static gboolean
devmode_release (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                 GError **error)
{
  return TRUE;
}

TESSERA_BACKEND_DEFINE (devmode, "Development licenses (explicitly enabled, marked, never default)",
                        .create = devmode_create, .destroy = devmode_destroy,
                        .activate = devmode_activate, .validate = devmode_validate,
                        .release = devmode_release)
