/* The offline provider (plugins/offline, docs/offline.md) through the real
 * engine and the built plugin, with license files issued for this machine's
 * real ID: activation and the license it gives, every kind of damaged,
 * renamed, misplaced or untimely file, the folder and its permissions,
 * configuration, key rotation, what validate notices, sessions (in one
 * process, in threads and in real processes killed with SIGKILL), and clock
 * rollback attacked with faketime. */
#include "test-util.h"
#include "call-counter.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define DAY (24 * 3600)
#define OTHER_MACHINE "AAAA-BBBB-CCCC-DDDD"

/* This machine's ID for the user running the tests: what files are issued for. */
static char *machine_id;

/* ---- environment: a key, a license folder, a state folder, a config ---- */

typedef struct
{
  char *dir;
  char *license_dir;
  char *state_dir;
  char *keys_dir;
  char *key_path;
  char *config;      /* the configuration text */
  char *config_path; /* the same, in a file (for holders) */
  TesseraSigningKey *key;
} Env;

static TesseraSigningKey *
key_new_saved (const char *dir, const char *name, char **path_out)
{
  TesseraSigningKey *key = tessera_signing_key_generate ();
  g_assert_nonnull (key);
  g_autofree char *line = tessera_signing_key_dup_public (key);
  char *path = test_write_file (dir, name, line);
  if (path_out)
    *path_out = path;
  else
    g_free (path);
  return key;
}

static void
env_write_config (Env *env, const char *extra)
{
  g_free (env->config);
  env->config
      = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                         "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n%s",
                         env->license_dir, env->key_path, env->state_dir, extra ? extra : "");
  g_free (env->config_path);
  env->config_path = test_write_file (env->dir, "tessera.conf", env->config);
}

static Env *
env_new (void)
{
  Env *env = g_new0 (Env, 1);
  env->dir = test_tmpdir_new ();
  env->license_dir = g_build_filename (env->dir, "license", NULL);
  env->state_dir = g_build_filename (env->dir, "state", NULL);
  env->keys_dir = g_build_filename (env->dir, "keys", NULL);
  g_assert_cmpint (g_mkdir (env->license_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (env->keys_dir, 0755), ==, 0);
  env->key = key_new_saved (env->keys_dir, "issuer.pub", &env->key_path);
  env_write_config (env, NULL);
  return env;
}

static void
env_free (Env *env)
{
  test_rm_rf (env->dir);
  g_free (env->dir);
  g_free (env->license_dir);
  g_free (env->state_dir);
  g_free (env->keys_dir);
  g_free (env->key_path);
  g_free (env->config);
  g_free (env->config_path);
  tessera_signing_key_unref (env->key);
  g_free (env);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Env, env_free)

static TesseraEngine *
engine_from (const char *config)
{
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = tessera_engine_new_from_data (config, -1, &error);
  g_assert_no_error (error);
  return engine;
}

static TesseraEngine *
env_engine (Env *env)
{
  return engine_from (env->config);
}

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* A license file's bytes; @expires_at 0: the default (60 days). */
/* @id: the license ID, as an issuer reissuing (renewing) a license keeps it. */
static GBytes *
issue_id (TesseraSigningKey *key, const char *product, const char *machine, gint64 issued_at,
          gint64 expires_at, const char *id)
{
  const char *const entitlements[] = { "reports", "parallel-run", NULL };
  TesseraLicfileInfo info = {
    .license_id = id,
    .org = "Example Org",
    .product = product,
    .machine_id = machine,
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = issued_at,
    .expires_at = expires_at,
    .subscription_end = issued_at + 365 * DAY,
    .entitlements = entitlements,
  };
  g_autoptr (GError) error = NULL;
  GBytes *bytes = tessera_licfile_sign (key, &info, &error);
  g_assert_no_error (error);
  return bytes;
}

static GBytes *
issue (TesseraSigningKey *key, const char *product, const char *machine, gint64 issued_at,
       gint64 expires_at)
{
  static gint counter;
  g_autofree char *id = g_strdup_printf ("LIC-%d", g_atomic_int_add (&counter, 1));
  return issue_id (key, product, machine, issued_at, expires_at, id);
}

static GBytes *
issue_valid (Env *env, const char *product)
{
  return issue (env->key, product, machine_id, now_s () - 60, 0);
}

static char *
put_bytes (const char *dir, const char *name, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  return path;
}

static char *
put (const char *dir, const char *name, GBytes *bytes)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  return put_bytes (dir, name, data, len);
}

/* "PRODUCT_ID.lic" or "PRODUCT_ID.SERIAL.lic" for this machine. */
static char *
own_name (const char *product, guint serial)
{
  return tessera_licfile_file_name (product, machine_id, serial);
}

/* Puts a valid file for this machine into the folder; returns its path. */
static char *
put_valid (Env *env, const char *product, guint serial)
{
  g_autoptr (GBytes) bytes = issue_valid (env, product);
  g_autofree char *name = own_name (product, serial);
  return put (env->license_dir, name, bytes);
}

static TesseraLicense *
activate_ok (TesseraEngine *engine, const char *product)
{
  g_autoptr (GError) error = NULL;
  TesseraLicense *license = tessera_engine_activate (engine, product, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (license);
  return license;
}

/* Activation must fail with @code (and @fragment in the message, if given). */
static void
assert_refused (TesseraEngine *engine, const char *product, TesseraActivateOptions *options,
                TesseraError code, const char *fragment, const char *context)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_engine_activate (engine, product, options, NULL, &error);
  if (license != NULL)
    g_error ("%s: a license was granted; expected %s", context, tessera_error_to_nick (code));
  if (!g_error_matches (error, TESSERA_ERROR, (gint) code)
      || (fragment != NULL && strstr (error->message, fragment) == NULL))
    g_error ("%s: expected %s%s%s, got %s: %s", context, tessera_error_to_nick (code),
             fragment ? " saying " : "", fragment ? fragment : "",
             error->domain == TESSERA_ERROR ? tessera_error_to_nick (error->code) : "?",
             error->message);
  g_test_message ("%s: %s", context, error->message);
}

static gint64
read_state (Env *env)
{
  g_autofree char *path = g_build_filename (env->state_dir, "offline-clock", NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  gint64 value = -1;
  g_assert_true (g_str_has_prefix (text, "tessera-offline-clock 1 "));
  g_assert_true (g_str_has_suffix (text, "\n"));
  value = g_ascii_strtoll (text + strlen ("tessera-offline-clock 1 "), NULL, 10);
  g_assert_cmpint (value, >, 0);
  return value;
}

/* ---- activation and the license ---- */

static void
test_activate (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  gint64 before = now_s ();
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");

  g_assert_cmpstr (tessera_license_get_product (license), ==, "KRE");
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "offline");
  g_assert_cmpint (tessera_license_get_kind (license), ==, TESSERA_LICENSE_KIND_NODE_LOCKED);
  g_assert_true (g_str_has_prefix (tessera_license_get_id (license), "LIC-"));
  g_assert_cmpstr (tessera_license_get_machine_id (license), ==, machine_id);
  g_assert_cmpstr (tessera_license_get_org (license), ==, "Example Org");
  gint64 issued = tessera_license_get_issued_at (license);
  g_assert_cmpint (issued, <=, before - 60);
  g_assert_cmpint (tessera_license_get_expires_at (license), ==, issued + 60 * DAY);
  g_assert_cmpint (tessera_license_get_flags (license), ==, TESSERA_LICENSE_FLAG_OFFLINE);
  g_auto (GStrv) features = tessera_license_dup_features (license);
  g_assert_cmpstrv (features, ((const char *const[]){ "parallel-run", "reports", NULL }));
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.file"), ==, path);
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.key-id"), ==,
                   tessera_signing_key_get_id (env->key));
  g_autoptr (GDateTime) end = g_date_time_new_from_unix_utc (issued + 365 * DAY);
  g_autofree char *end_iso = g_date_time_format_iso8601 (end);
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.subscription-end"), ==,
                   end_iso);
  g_assert_cmpstr (tessera_license_get_activation_report (license), ==, "");

  /* The clock state was written: the time the license was seen valid. */
  gint64 seen = read_state (env);
  g_assert_cmpint (seen, >=, before);
  g_assert_cmpint (seen, <=, now_s ());
  g_autofree char *state = g_build_filename (env->state_dir, "offline-clock", NULL);
  GStatBuf st;
  g_assert_cmpint (g_stat (state, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
}

/* The machine ID is the core fingerprint, with no way to override it. */
static void
test_fingerprint (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (GError) error = NULL;
  g_autofree char *id = tessera_engine_dup_machine_id (engine, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, machine_id);

  env_write_config (env, "machine-id=" OTHER_MACHINE "\n");
  g_autoptr (TesseraEngine) spoofed = env_engine (env);
  g_assert_false (tessera_engine_load (spoofed, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "no key 'machine-id'"));
}

/* ---- tampering ---- */

static GBytes *
modified (GBytes *orig, gsize offset, gsize remove, const char *insert)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (orig, &len);
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, data, (guint) MIN (offset, len));
  if (insert)
    g_byte_array_append (out, (const guint8 *) insert, (guint) strlen (insert));
  if (offset + remove < len)
    g_byte_array_append (out, data + offset + remove, (guint) (len - offset - remove));
  return g_byte_array_free_to_bytes (out);
}

/* Every byte of a real file, one bit flipped: refused as TAMPERED, never
 * as an untrusted key, never granted. */
static void
test_tamper_every_byte (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (GBytes) good = issue_valid (env, "KRE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (good, &len);
  g_autofree guint8 *copy = g_memdup2 (data, len);
  g_autofree char *path = g_build_filename (env->license_dir, name, NULL);

  for (gsize i = 0; i < len; i++)
    {
      guint8 saved = copy[i];
      copy[i] ^= (guint8) (1u << (i % 8));
      g_autofree char *written = put_bytes (env->license_dir, name, copy, len);
      g_autofree char *context = g_strdup_printf ("bit %zu of byte %zu flipped", i % 8, i);
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraLicense) license
          = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
      if (license != NULL || !g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED)
          || strstr (error->message, path) == NULL)
        g_error ("%s: expected tampered naming the file, got %s", context,
                 license ? "a license" : error->message);
      copy[i] = saved;
    }
  g_test_message ("%zu single-bit changes refused", len);

  /* Bytes inserted at a sample of offsets, and removed at every one. */
  for (gsize i = 0; i <= len; i += (i < 40 || i + 40 > len) ? 1 : 7)
    {
      g_autoptr (GBytes) bytes = modified (good, i, 0, "A");
      g_autofree char *p = put (env->license_dir, name, bytes);
      g_autofree char *context = g_strdup_printf ("byte inserted at %zu", i);
      assert_refused (engine, "KRE", NULL, TESSERA_ERROR_TAMPERED, NULL, context);
    }
  for (gsize i = 0; i < len; i++)
    {
      g_autoptr (GBytes) bytes = modified (good, i, 1, NULL);
      g_autofree char *p = put (env->license_dir, name, bytes);
      g_autofree char *context = g_strdup_printf ("byte %zu deleted", i);
      assert_refused (engine, "KRE", NULL, TESSERA_ERROR_TAMPERED, NULL, context);
    }

  /* The original still works: the loop refused the changes, not the file. */
  g_autofree char *p = put (env->license_dir, name, good);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
}

/* ---- refused files: one table ---- */

typedef struct
{
  const char *name;
  /* Puts the file(s) into the folder; returns the fragment the message
   * must contain (owned), or NULL. */
  char *(*setup) (Env *env);
  TesseraError code;
} RefusedCase;

/* A valid file with @insert added at @offset (negative: from the end, -1
 * being after the last byte). Returns its path (which the message names). */
static char *
setup_insert (Env *env, gssize offset, const char *insert)
{
  g_autoptr (GBytes) good = issue_valid (env, "KRE");
  gssize len = (gssize) g_bytes_get_size (good);
  g_autoptr (GBytes) bad
      = modified (good, (gsize) (offset >= 0 ? offset : len + offset + 1), 0, insert);
  g_autofree char *name = own_name ("KRE", 0);
  return put (env->license_dir, name, bad);
}

static char *
setup_append_newline (Env *env)
{
  return setup_insert (env, -1, "\n");
}

static char *
setup_prepend_space (Env *env)
{
  return setup_insert (env, 0, " ");
}

static char *
setup_trailing_spaces (Env *env)
{
  return setup_insert (env, -1, "  \t");
}

/* "\r\n" for the final "\n", as a Windows editor would save it. */
static char *
setup_crlf (Env *env)
{
  return setup_insert (env, -2, "\r");
}

/* The signature of another valid file, pasted over this file's. */
static char *
setup_copied_signature (Env *env)
{
  g_autoptr (GBytes) a = issue_valid (env, "KRE");
  g_autoptr (GBytes) b = issue_valid (env, "KRE");
  g_autofree char *text_a = g_strndup (g_bytes_get_data (a, NULL), g_bytes_get_size (a));
  g_autofree char *text_b = g_strndup (g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  const char *marker = "\"signature\":\"";
  char *sig_a = strstr (text_a, marker);
  const char *sig_b = strstr (text_b, marker);
  g_assert_nonnull (sig_a);
  g_assert_nonnull (sig_b);
  g_assert_cmpstr (sig_a, !=, sig_b);
  *sig_a = '\0';
  g_autofree char *forged = g_strconcat (text_a, sig_b, NULL);
  g_autofree char *name = own_name ("KRE", 0);
  return put_bytes (env->license_dir, name, forged, strlen (forged));
}

static char *
setup_untrusted (Env *env)
{
  g_autoptr (TesseraSigningKey) rogue = tessera_signing_key_generate ();
  g_autoptr (GBytes) bytes = issue (rogue, "KRE", machine_id, now_s () - 60, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
  return g_strdup (tessera_signing_key_get_id (rogue));
}

static char *
setup_expired (Env *env)
{
  gint64 issued = now_s () - 70 * DAY;
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, issued, issued + 60 * DAY);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
  return g_strdup_printf ("%s: the offline license expired", path);
}

static char *
setup_not_yet_valid (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, now_s () + 2 * DAY, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
  return g_strdup_printf ("%s: the license file is valid from", path);
}

/* Another machine's license, renamed to this machine's name. */
static char *
setup_renamed_machine (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", OTHER_MACHINE, now_s () - 60, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
  return g_strdup_printf ("%s: the license file was renamed: it holds a KRE license for "
                          "machine " OTHER_MACHINE
                          ", so its name must start with KRE_" OTHER_MACHINE
                          " (this machine's ID is %s)",
                          path, machine_id);
}

/* A KSE license of this machine, renamed to the KRE name. */
static char *
setup_renamed_product (Env *env)
{
  g_autoptr (GBytes) bytes = issue_valid (env, "KSE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
  return g_strdup_printf ("it holds a KSE license for machine %s, so its name must start with "
                          "KSE_%s",
                          machine_id, machine_id);
}

static char *
setup_garbage (Env *env)
{
  const char garbage[] = "this is not a license file\n\x01\x02\xff";
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put_bytes (env->license_dir, name, garbage, sizeof garbage);
  return g_strdup_printf ("%s: the license file was modified or damaged", path);
}

static char *
setup_empty (Env *env)
{
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put_bytes (env->license_dir, name, "", 0);
  return g_strdup ("the file is empty");
}

static char *
setup_truncated (Env *env)
{
  g_autoptr (GBytes) good = issue_valid (env, "KRE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put_bytes (env->license_dir, name, g_bytes_get_data (good, NULL),
                                     g_bytes_get_size (good) / 2);
  return g_strdup ("modified or damaged");
}

/* 100 MB (sparse): refused from its size alone, without reading it. */
static char *
setup_huge (Env *env)
{
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, 100 * 1024 * 1024), ==, 0);
  close (fd);
  return g_strdup ("104857600 bytes, larger than any license file");
}

static char *
setup_symlink (Env *env)
{
  g_autofree char *target = put_valid (env, "KRE", 7);
  g_autofree char *moved = g_build_filename (env->dir, "elsewhere.lic", NULL);
  g_assert_cmpint (g_rename (target, moved), ==, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (symlink (moved, path), ==, 0);
  return g_strdup_printf ("%s is a symbolic link", path);
}

/* A FIFO named like a license: refused at once, no hang waiting for a writer. */
static char *
setup_fifo (Env *env)
{
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (mkfifo (path, 0644), ==, 0);
  return g_strdup_printf ("%s is not a regular file", path);
}

static char *
setup_directory (Env *env)
{
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  return g_strdup ("is not a regular file");
}

/* Several bad files: the most relevant refusal (expired beats damaged)
 * wins, naming its file and counting the others. */
static char *
setup_most_relevant (Env *env)
{
  g_autofree char *garbage = setup_garbage (env);
  gint64 issued = now_s () - 70 * DAY;
  g_autoptr (GBytes) expired = issue (env->key, "KRE", machine_id, issued, issued + 60 * DAY);
  g_autofree char *name = own_name ("KRE", 2);
  g_autofree char *path = put (env->license_dir, name, expired);
  g_autoptr (TesseraSigningKey) rogue = tessera_signing_key_generate ();
  g_autoptr (GBytes) untrusted = issue (rogue, "KRE", machine_id, now_s () - 60, 0);
  g_autofree char *name3 = own_name ("KRE", 3);
  g_autofree char *path3 = put (env->license_dir, name3, untrusted);
  return g_strdup_printf ("3 license files for this machine were refused; the closest: %s: the "
                          "offline license expired",
                          path);
}

static const RefusedCase refused_cases[] = {
  { "append-newline", setup_append_newline, TESSERA_ERROR_TAMPERED },
  { "prepend-space", setup_prepend_space, TESSERA_ERROR_TAMPERED },
  { "trailing-whitespace", setup_trailing_spaces, TESSERA_ERROR_TAMPERED },
  { "crlf", setup_crlf, TESSERA_ERROR_TAMPERED },
  { "copied-signature", setup_copied_signature, TESSERA_ERROR_TAMPERED },
  { "untrusted-key", setup_untrusted, TESSERA_ERROR_UNTRUSTED_KEY },
  { "expired", setup_expired, TESSERA_ERROR_EXPIRED },
  { "not-yet-valid", setup_not_yet_valid, TESSERA_ERROR_NOT_YET_VALID },
  { "renamed-other-machine", setup_renamed_machine, TESSERA_ERROR_TAMPERED },
  { "renamed-other-product", setup_renamed_product, TESSERA_ERROR_TAMPERED },
  { "garbage", setup_garbage, TESSERA_ERROR_TAMPERED },
  { "empty", setup_empty, TESSERA_ERROR_TAMPERED },
  { "truncated", setup_truncated, TESSERA_ERROR_TAMPERED },
  { "huge-sparse", setup_huge, TESSERA_ERROR_TAMPERED },
  { "symlink", setup_symlink, TESSERA_ERROR_NOT_FOUND },
  { "fifo", setup_fifo, TESSERA_ERROR_NOT_FOUND },
  { "directory", setup_directory, TESSERA_ERROR_NOT_FOUND },
  { "most-relevant", setup_most_relevant, TESSERA_ERROR_EXPIRED },
};

static glong
max_rss_kb (void)
{
  struct rusage usage;
  g_assert_cmpint (getrusage (RUSAGE_SELF, &usage), ==, 0);
  return usage.ru_maxrss;
}

static void
test_refused (gconstpointer data)
{
  const RefusedCase *c = data;
  g_autoptr (Env) env = env_new ();
  g_autofree char *fragment = c->setup (env);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_assert_true (tessera_engine_load (engine, NULL));

  glong rss_before = max_rss_kb ();
  assert_refused (engine, "KRE", NULL, c->code, fragment, c->name);
  /* Memory stays bounded whatever the file (the 100 MB one included). */
  g_assert_cmpint (max_rss_kb () - rss_before, <, 16 * 1024);
  /* Nothing was seen valid, so no clock state was recorded. */
  g_assert_cmpint (read_state (env), ==, -1);

  /* A good file next to the bad one is still granted. */
  g_autofree char *good = put_valid (env, "KRE", 9);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.file"), ==, good);
}

/* ---- the folder ---- */

/* Files named for other machines are ignored (never opened: a FIFO would
 * otherwise be reported), and the message says what the user must do. */
static void
test_other_machine_ignored (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (GBytes) other = issue (env->key, "KRE", OTHER_MACHINE, now_s () - 60, 0);
  g_autofree char *other_name = tessera_licfile_file_name ("KRE", OTHER_MACHINE, 0);
  g_autofree char *other_path = put (env->license_dir, other_name, other);
  g_autofree char *fifo = g_build_filename (env->license_dir, "KRE_ZZZZ-ZZZZ-ZZZZ-ZZZZ.lic", NULL);
  g_assert_cmpint (mkfifo (fifo, 0644), ==, 0);
  /* A longer ID that merely starts with this machine's is another machine. */
  g_autofree char *longer = g_strdup_printf ("KRE_%sX.lic", machine_id);
  g_autoptr (GBytes) valid = issue_valid (env, "KRE");
  g_autofree char *longer_path = put (env->license_dir, longer, valid);
  g_autoptr (TesseraEngine) engine = env_engine (env);

  g_autofree char *expected = own_name ("KRE", 0);
  g_autofree char *fragment = g_strdup_printf (
      "no offline KRE license file for this machine in %s: put the file %s there; your "
      "administrator issues it for this machine's ID, %s (the folder holds KRE license files "
      "for other machine IDs: ",
      env->license_dir, expected, machine_id);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, fragment, "other machines");
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, other_name, "other machines");
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, longer, "other machines");

  /* A license of this machine for another product is not a KRE license. */
  g_autofree char *kse = put_valid (env, "KSE", 0);
  g_autofree char *kse_name = own_name ("KSE", 0);
  g_autofree char *kse_fragment
      = g_strdup_printf ("the folder holds %s, for other products", kse_name);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, kse_fragment, "other product");
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KSE");
}

static void
test_empty_folder (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autofree char *expected = own_name ("KRE", 0);
  g_autofree char *fragment
      = g_strdup_printf ("no offline KRE license file for this machine in %s: put the file %s "
                         "there; your administrator issues it for this machine's ID, %s",
                         env->license_dir, expected, machine_id);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, fragment, "empty folder");
}

static void
test_missing_folder (void)
{
  g_autoptr (Env) env = env_new ();
  g_assert_cmpint (g_rmdir (env->license_dir), ==, 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autofree char *expected = own_name ("KRE", 0);
  g_autofree char *fragment
      = g_strdup_printf ("the offline license folder %s does not exist: create it and put the "
                         "license file %s there; your administrator issues it for this "
                         "machine's ID, %s",
                         env->license_dir, expected, machine_id);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, fragment, "missing folder");

  /* A file where the folder should be. */
  g_autofree char *file = test_write_file (env->dir, "license", "not a folder\n");
  g_autofree char *not_dir
      = g_strdup_printf ("the offline license folder %s is not a folder", env->license_dir);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, not_dir, "folder is a file");
}

/* Runs as an unprivileged user (the suite runs as root in CI). */
static void
test_unreadable_folder (void)
{
  if (g_test_subprocess ())
    {
      const char *config = g_getenv ("TESSERA_TEST_OFFLINE_CONFIG");
      const char *folder = g_getenv ("TESSERA_TEST_OFFLINE_FOLDER");
      test_drop_privileges ();
      g_assert_cmpuint (geteuid (), !=, 0);
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraEngine) engine = tessera_engine_new (config, &error);
      g_assert_no_error (error);
      g_autofree char *fragment = g_strdup_printf (
          "cannot read the offline license folder %s: Permission denied", folder);
      assert_refused (engine, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, fragment,
                      "unreadable folder");
      return;
    }
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_assert_cmpint (g_chmod (env->license_dir, 0700), ==, 0);
  g_setenv ("TESSERA_TEST_OFFLINE_CONFIG", env->config_path, TRUE);
  g_setenv ("TESSERA_TEST_OFFLINE_FOLDER", env->license_dir, TRUE);
  test_trap_unprivileged (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* The names several files for one machine may have, and ones they may not. */
static void
test_file_names (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  const char *const suffixes[] = { ".lic", ".2.lic", ".10.lic", " (1).lic", "_copy.lic", NULL };
  for (guint i = 0; suffixes[i]; i++)
    {
      g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
      g_autofree char *name = g_strdup_printf ("KRE_%s%s", machine_id, suffixes[i]);
      g_autofree char *path = put (env->license_dir, name, bytes);
    }
  /* Not license files: no .lic suffix, another extension, a hidden temp. */
  const char *const ignored[] = { "", ".lic.part", ".txt", "lic", NULL };
  for (guint i = 0; ignored[i]; i++)
    {
      g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
      g_autofree char *name = g_strdup_printf ("KRE_%s%s", machine_id, ignored[i]);
      g_autofree char *path = put (env->license_dir, name, bytes);
    }

  g_autoptr (GPtrArray) held
      = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
  g_autoptr (GHashTable) files = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; suffixes[i]; i++)
    {
      TesseraLicense *license = activate_ok (engine, "KRE");
      g_ptr_array_add (held, license);
      const char *file = tessera_license_get_attribute (license, "offline.file");
      g_assert_false (g_hash_table_contains (files, file));
      g_hash_table_add (files, (gpointer) file);
    }
  /* In name order: the first one is KRE_ID (1).lic (' ' sorts first). */
  g_autofree char *first = g_strdup_printf ("%s/KRE_%s (1).lic", env->license_dir, machine_id);
  g_assert_cmpstr (tessera_license_get_attribute (held->pdata[0], "offline.file"), ==, first);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED,
                  "all 5 offline KRE licenses for this machine are in use", "five names");
}

/* ---- an explicitly chosen file: where MACHINE_MISMATCH appears ---- */

static void
test_explicit_file (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();

  /* Another machine's file under its own name: not renamed, just not ours. */
  g_autoptr (GBytes) other = issue (env->key, "KRE", OTHER_MACHINE, now_s () - 60, 0);
  g_autofree char *other_name = tessera_licfile_file_name ("KRE", OTHER_MACHINE, 0);
  g_autofree char *other_path = put (env->dir, other_name, other);
  tessera_activate_options_set (options, "offline-file", other_path);
  g_autofree char *fragment = g_strdup_printf (
      "%s: the license file is bound to machine " OTHER_MACHINE ", but this machine's ID is %s",
      other_path, machine_id);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_MACHINE_MISMATCH, fragment,
                  "explicit file for another machine");

  /* This machine's KSE file, asked for KRE. */
  g_autoptr (GBytes) kse = issue_valid (env, "KSE");
  g_autofree char *kse_name = own_name ("KSE", 0);
  g_autofree char *kse_path = put (env->dir, kse_name, kse);
  tessera_activate_options_set (options, "offline-file", kse_path);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_PRODUCT_MISMATCH,
                  "the license file is for KSE, not KRE", "explicit file for another product");

  /* Renamed: still refused as such. */
  g_autofree char *renamed = g_build_filename (env->dir, "license.lic", NULL);
  g_assert_cmpint (g_rename (kse_path, renamed), ==, 0);
  tessera_activate_options_set (options, "offline-file", renamed);
  assert_refused (engine, "KSE", options, TESSERA_ERROR_TAMPERED, "was renamed",
                  "explicit renamed file");

  tessera_activate_options_set (options, "offline-file", "relative/KRE.lic");
  assert_refused (engine, "KRE", options, TESSERA_ERROR_INVALID_ARGUMENT, "not an absolute path",
                  "relative explicit file");

  /* A good one, and it is locked like any other. */
  g_autoptr (GBytes) good = issue_valid (env, "KRE");
  g_autofree char *good_name = own_name ("KRE", 0);
  g_autofree char *good_path = put (env->dir, good_name, good);
  tessera_activate_options_set (options, "offline-file", good_path);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_engine_activate (engine, "KRE", options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.file"), ==, good_path);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_QUOTA_EXCEEDED, "is in use",
                  "explicit file in use");
}

/* ---- configuration ---- */

typedef struct
{
  const char *name;
  const char *extra; /* @DIR@: the test dir */
  gboolean replace_keys;
  const char *message;
} ConfigCase;

static const ConfigCase config_cases[] = {
  { "missing-key-file", "trusted-keys=@DIR@/nope.pub\n", TRUE, "trusted-keys: " },
  { "empty-trusted-keys", "trusted-keys= ; \n", TRUE, "trusted-keys is empty" },
  { "key-dir-without-keys", "trusted-keys=@DIR@/license\n", TRUE, "configure trusted-keys" },
  { "not-a-key", "trusted-keys=@DIR@/tessera.conf\n", TRUE, "trusted-keys: " },
  { "relative-from-memory", "trusted-keys=keys/issuer.pub\n", TRUE,
    "relative path 'keys/issuer.pub' needs a config file" },
  { "relative-lock-dir-from-memory", "lock-dir=locks\n", FALSE,
    "lock-dir: relative path 'locks' needs a config file" },
  { "empty-lock-dir", "lock-dir=\n", FALSE, "lock-dir: the path is empty" },
  { "unknown-key", "licence-dir=/tmp\n", FALSE, "has no key 'licence-dir'" },
  { "bad-tolerance", "clock-tolerance=soon\n", FALSE, "clock-tolerance" },
  { "negative-tolerance", "clock-tolerance=-5\n", FALSE, "is not between 0 and" },
};

static void
test_config (gconstpointer data)
{
  const ConfigCase *c = data;
  g_autoptr (Env) env = env_new ();
  g_auto (GStrv) parts = g_strsplit (c->extra, "@DIR@", -1);
  g_autofree char *extra = g_strjoinv (env->dir, parts);
  g_autofree char *config = NULL;
  if (c->replace_keys)
    config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                              "license-dir=%s\nstate-dir=%s\n%s",
                              env->license_dir, env->state_dir, extra);
  else
    config = g_strconcat (env->config, extra, NULL);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (GError) error = NULL;
  g_assert_false (tessera_engine_load (engine, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, c->message));
}

/* Without trusted-keys the installed key folders are used; here there are
 * none, which is a configuration error saying what to configure. */
static void
test_config_no_keys (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                                             "license-dir=%s\nstate-dir=%s\n",
                                             env->license_dir, env->state_dir);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (GError) error = NULL;
  gboolean loaded = tessera_engine_load (engine, &error);
  if (loaded)
    {
      g_test_skip ("trusted keys are installed on this machine");
      return;
    }
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "configure trusted-keys"));
}

/* Relative paths in a config file are relative to it, each list element too. */
static void
test_config_relative (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (TesseraSigningKey) second = NULL;
  g_autofree char *subdir = g_build_filename (env->keys_dir, "more", NULL);
  g_assert_cmpint (g_mkdir (subdir, 0755), ==, 0);
  second = key_new_saved (subdir, "second.pub", NULL);
  g_autofree char *conf
      = test_write_file (env->dir, "relative.conf",
                         "[engine]\nproviders=offline\n[provider:offline]\n"
                         "license-dir=license\ntrusted-keys=keys/issuer.pub; ./keys/more/\n"
                         "state-dir=state\n");
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (GBytes) bytes = issue (second, "KRE", machine_id, now_s () - 60, 0);
  g_autofree char *name = own_name ("KRE", 1);
  g_autofree char *path2 = put (env->license_dir, name, bytes);

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = tessera_engine_new (conf, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraLicense) a = activate_ok (engine, "KRE");
  g_autoptr (TesseraLicense) b = activate_ok (engine, "KRE");
  g_assert_cmpint (read_state (env), >, 0);
}

/* Key rotation: files signed by the old and the new key both work while
 * both are trusted, given as a list or as a folder. */
static void
test_rotation (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *new_path = NULL;
  g_autoptr (TesseraSigningKey) new_key = key_new_saved (env->keys_dir, "new.pub", &new_path);
  g_autofree char *old_file = put_valid (env, "KRE", 1);
  g_autoptr (GBytes) bytes = issue (new_key, "KRE", machine_id, now_s () - 60, 0);
  g_autofree char *name = own_name ("KRE", 2);
  g_autofree char *new_file = put (env->license_dir, name, bytes);

  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *keys = i == 0 ? g_strdup_printf ("%s;%s", env->key_path, new_path)
                                     : g_strdup_printf ("%s/", env->keys_dir);
      g_autofree char *config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                                                 "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n",
                                                 env->license_dir, keys, env->state_dir);
      g_autoptr (TesseraEngine) engine = engine_from (config);
      g_autoptr (TesseraLicense) a = activate_ok (engine, "KRE");
      g_autoptr (TesseraLicense) b = activate_ok (engine, "KRE");
      g_assert_cmpstr (tessera_license_get_attribute (a, "offline.file"), ==, old_file);
      g_assert_cmpstr (tessera_license_get_attribute (b, "offline.file"), ==, new_file);
      g_assert_cmpstr (tessera_license_get_attribute (b, "offline.key-id"), ==,
                       tessera_signing_key_get_id (new_key));
    }

  /* Once the old key is no longer trusted, its file is refused. */
  g_autofree char *config = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                                             "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s\n",
                                             env->license_dir, new_path, env->state_dir);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (TesseraLicense) b = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (b, "offline.file"), ==, new_file);
  /* While the new file is held, the old one (invalid now) is no seat. */
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, "is in use",
                  "old key dropped, new file held");
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
  tessera_activate_options_set (options, "offline-file", old_file);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_UNTRUSTED_KEY, "which is not trusted here",
                  "old key dropped");
}

/* The default folders: ~/.katalon/license and $XDG_STATE_HOME/tessera. */
static void
test_defaults (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *home_dir = g_build_filename (g_get_home_dir (), ".katalon", "license", NULL);
  g_assert_cmpint (g_mkdir_with_parents (home_dir, 0755), ==, 0);
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (home_dir, name, bytes);
  g_autofree char *config = g_strdup_printf (
      "[engine]\nproviders=offline\n[provider:offline]\ntrusted-keys=%s\n", env->key_path);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.file"), ==, path);
  g_autofree char *state
      = g_build_filename (g_get_user_state_dir (), "tessera", "offline-clock", NULL);
  g_assert_true (g_file_test (state, G_FILE_TEST_IS_REGULAR));
  test_rm_rf (home_dir);
  g_unlink (state);
}

/* ---- validate ---- */

typedef enum
{
  CHANGE_REWRITE_IN_PLACE,
  CHANGE_REPLACE,
  CHANGE_REPLACE_SAME_BYTES,
  CHANGE_REMOVE,
  CHANGE_MOVE,
  CHANGE_TOUCH,
  CHANGE_CHMOD,
} Change;

typedef struct
{
  const char *name;
  Change change;
  gboolean still_valid;
  const char *message;
} ValidateCase;

static const ValidateCase validate_cases[] = {
  { "rewritten-in-place", CHANGE_REWRITE_IN_PLACE, FALSE,
    "was modified after its license was "
    "activated (it now holds another "
    "license file)" },
  { "replaced", CHANGE_REPLACE, FALSE, "was replaced by another file" },
  { "replaced-same-bytes", CHANGE_REPLACE_SAME_BYTES, FALSE, "was replaced by another file" },
  { "removed", CHANGE_REMOVE, FALSE, "was removed or moved" },
  { "moved", CHANGE_MOVE, FALSE, "was removed or moved" },
  { "touched", CHANGE_TOUCH, TRUE, NULL },
  { "chmod", CHANGE_CHMOD, TRUE, NULL },
};

static void
test_validate_notices (gconstpointer data)
{
  const ValidateCase *c = data;
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (license, NULL, &error));

  switch (c->change)
    {
    case CHANGE_REWRITE_IN_PLACE:
      {
        /* Another valid license, written through the same inode. */
        g_autoptr (GBytes) other = issue_valid (env, "KRE");
        int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        g_assert_cmpint (fd, >=, 0);
        gsize len = 0;
        const char *bytes = g_bytes_get_data (other, &len);
        g_assert_cmpint (write (fd, bytes, len), ==, (gssize) len);
        close (fd);
        break;
      }
    case CHANGE_REPLACE:
      {
        g_autoptr (GBytes) other = issue_valid (env, "KRE");
        g_autofree char *name = g_path_get_basename (path);
        g_autofree char *p = put (env->license_dir, name, other);
        break;
      }
    case CHANGE_REPLACE_SAME_BYTES:
      {
        g_autofree char *contents = NULL;
        gsize len = 0;
        g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
        g_autofree char *name = g_path_get_basename (path);
        g_autofree char *p = put_bytes (env->license_dir, name, contents, len);
        break;
      }
    case CHANGE_REMOVE:
      g_assert_cmpint (g_unlink (path), ==, 0);
      break;
    case CHANGE_MOVE:
      {
        g_autofree char *name = own_name ("KRE", 5);
        g_autofree char *to = g_build_filename (env->license_dir, name, NULL);
        g_assert_cmpint (g_rename (path, to), ==, 0);
        break;
      }
    case CHANGE_TOUCH:
      g_usleep (20 * 1000);
      g_assert_cmpint (g_utime (path, NULL), ==, 0);
      break;
    case CHANGE_CHMOD:
      g_assert_cmpint (g_chmod (path, 0600), ==, 0);
      break;
    }

  gboolean ok = tessera_license_validate (license, NULL, &error);
  if (c->still_valid)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_true (tessera_license_is_held (license));
      return;
    }
  g_assert_false (ok);
  g_test_message ("%s", error->message);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED);
  g_assert_nonnull (strstr (error->message, c->message));
  g_assert_nonnull (strstr (error->message, path));
  /* Terminal: the license is invalidated (but still releasable). */
  g_assert_false (tessera_license_is_held (license));
  g_assert_true (tessera_license_release (license, NULL, NULL));
}

/* A license that expires while held: validate says so. */
static void
test_validate_expiry (void)
{
  g_autoptr (Env) env = env_new ();
  gint64 now = now_s ();
  /* Expiring a few seconds from now: room for a slow (loaded, valgrind)
   * activation before it, and the wait after it stays short. */
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, now - 100, now + 6);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (license, NULL, &error));
  while (now_s () < now + 7)
    g_usleep (100 * 1000);
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED);
  g_assert_false (tessera_license_is_held (license));
}

/* A repeat validate of an unchanged file is cheap because it neither
 * verifies the signature again nor reads the file: checked by counting those
 * calls, not by timing them (bench/offline-bench prints the speed, row (c)). */
static void
test_validate_fast (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);

  /* The counting reaches the plugin: activation reads and verifies. */
  call_counter_reset ();
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  CallCounts c = call_counter_get ();
  g_assert_cmpuint (c.verifies, >=, 1);
  g_assert_cmpuint (c.reads, >=, 1);

  /* Right after a write, a file's metadata cannot prove it unchanged (a
   * second write within the timestamps' granularity leaves them equal), so
   * validate compares the bytes: a read, but never a verify. */
  call_counter_reset ();
  g_assert_true (tessera_license_validate (license, NULL, NULL));
  g_assert_cmpuint (call_counter_get ().verifies, ==, 0);

  /* Once the file is older than that window, metadata alone tells: wait for
   * the clock (an event, not a speed), validate once to leave the window... */
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  for (guint i = 0; i < 600 && now_s () <= (gint64) st.st_ctime + 3; i++)
    g_usleep (50 * 1000);
  g_assert_cmpint (now_s (), >, (gint64) st.st_ctime + 3);
  g_assert_true (tessera_license_validate (license, NULL, NULL));

  /* ...and from then on, no verify, no read, no open. */
  call_counter_reset ();
  for (guint i = 0; i < 1000; i++)
    g_assert_true (tessera_license_validate (license, NULL, NULL));
  c = call_counter_get ();
  g_assert_cmpuint (c.verifies, ==, 0);
  g_assert_cmpuint (c.reads, ==, 0);
  g_assert_cmpuint (c.opens, ==, 0);

  /* Fast, but not blind: a change right after is still noticed. */
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_autoptr (GError) error = NULL;
  g_assert_false (tessera_license_validate (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED);
}

/* ---- sessions in one process ---- */

static void
test_release_frees (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  TesseraLicense *license = activate_ok (engine, "KRE");
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *fragment
      = g_strdup_printf ("the offline KRE license for this machine is in use (%s)", name);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, fragment,
                  "one file, second session");

  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_release (license, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (license);
  license = activate_ok (engine, "KRE");
  /* Dropping the last reference releases too. */
  tessera_license_unref (license);
  license = activate_ok (engine, "KRE");
  tessera_license_unref (license);
}

static void
test_quota_in_process (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *a = put_valid (env, "KRE", 0);
  g_autofree char *b = put_valid (env, "KRE", 1);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) first = activate_ok (engine, "KRE");
  g_autoptr (TesseraLicense) second = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (first, "offline.file"), !=,
                   tessera_license_get_attribute (second, "offline.file"));
  g_autofree char *name_a = g_path_get_basename (a), *name_b = g_path_get_basename (b);
  g_autofree char *fragment = g_strdup_printf (
      "all 2 offline KRE licenses for this machine are in use (%s, %s): end a session that "
      "holds one, or ask your administrator for another license file for machine ID %s",
      name_b, name_a, machine_id);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, fragment, "third session");

  /* An invalid file does not count toward the quota. */
  g_autofree char *name = own_name ("KRE", 3);
  g_autofree char *bad = put_bytes (env->license_dir, name, "garbage", 7);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, "all 2 offline",
                  "third session with a bad file");
}

typedef struct
{
  TesseraEngine *engine;
  GMutex lock;
  GCond cond;
  guint activated;
  guint total;
  GPtrArray *files;
  guint quota_errors;
} ThreadShared;

static gpointer
session_thread (gpointer data)
{
  ThreadShared *shared = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_engine_activate (shared->engine, "KRE", NULL, NULL, &error);

  g_mutex_lock (&shared->lock);
  if (license)
    g_ptr_array_add (shared->files,
                     g_strdup (tessera_license_get_attribute (license, "offline.file")));
  else if (g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED))
    shared->quota_errors++;
  else
    g_error ("unexpected: %s", error->message);
  /* Everyone holds on until every thread has tried. */
  shared->activated++;
  g_cond_broadcast (&shared->cond);
  while (shared->activated < shared->total)
    g_cond_wait (&shared->cond, &shared->lock);
  g_mutex_unlock (&shared->lock);

  for (guint i = 0; license && i < 200; i++)
    {
      g_assert_true (tessera_license_validate (license, NULL, &error));
      g_assert_no_error (error);
    }
  if (license)
    g_assert_true (tessera_license_release (license, NULL, NULL));
  return NULL;
}

static void
test_threads (void)
{
  g_autoptr (Env) env = env_new ();
  for (guint i = 0; i < 4; i++)
    g_free (put_valid (env, "KRE", i));
  g_autoptr (TesseraEngine) engine = env_engine (env);
  ThreadShared shared = { .engine = engine, .total = 8 };
  g_mutex_init (&shared.lock);
  g_cond_init (&shared.cond);
  shared.files = g_ptr_array_new_with_free_func (g_free);
  GThread *threads[8];
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("session", session_thread, &shared);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpuint (shared.files->len, ==, 4);
  g_assert_cmpuint (shared.quota_errors, ==, 4);
  g_ptr_array_sort (shared.files, (GCompareFunc) g_strcmp0);
  for (guint i = 1; i < shared.files->len; i++)
    g_assert_cmpstr (shared.files->pdata[i - 1], !=, shared.files->pdata[i]);
  g_ptr_array_unref (shared.files);
  g_cond_clear (&shared.cond);
  g_mutex_clear (&shared.lock);

  /* Every file is free again. */
  g_autoptr (TesseraLicense) again = activate_ok (engine, "KRE");
}

/* ---- real processes: tests/offline-holder.c ---- */

typedef struct
{
  GPid pid;
  int in_fd;
  FILE *out;
  char *line; /* the first line it printed */
} Holder;

static const char *
holder_path (void)
{
  const char *path = g_getenv ("TESSERA_TEST_OFFLINE_HOLDER");
  g_assert_nonnull (path);
  return path;
}

static char *
faketime_path (void)
{
  char *path = g_find_program_in_path ("faketime");
  if (path == NULL)
    g_error ("faketime is not installed: run scripts/install-deps.sh (Debian package faketime); "
             "the clock-rollback tests use it to attack the clock for real");
  return path;
}

static char *
holder_read_line (Holder *h)
{
  char buf[4096];
  if (fgets (buf, sizeof buf, h->out) == NULL)
    return NULL;
  g_strchomp (buf);
  return g_strdup (buf);
}

/* Spawns @prefix (e.g. faketime and its options, may be NULL) + the holder
 * and reads its first line. */
static Holder *
holder_spawn_full (const char *const *prefix, const char *config_path, const char *product,
                   char **envp)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  for (guint i = 0; prefix && prefix[i]; i++)
    g_ptr_array_add (argv, (gpointer) prefix[i]);
  g_ptr_array_add (argv, (gpointer) holder_path ());
  g_ptr_array_add (argv, (gpointer) config_path);
  g_ptr_array_add (argv, (gpointer) product);
  g_ptr_array_add (argv, NULL);

  Holder *h = g_new0 (Holder, 1);
  int out_fd = -1;
  g_autoptr (GError) error = NULL;
  g_spawn_async_with_pipes (NULL, (char **) argv->pdata, envp,
                            G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES, NULL, NULL, &h->pid,
                            &h->in_fd, &out_fd, NULL, &error);
  g_assert_no_error (error);
  h->out = fdopen (out_fd, "r");
  g_assert_nonnull (h->out);
  return h;
}

static Holder *
holder_spawn (const char *config_path, const char *product)
{
  Holder *h = holder_spawn_full (NULL, config_path, product, NULL);
  h->line = holder_read_line (h);
  g_assert_nonnull (h->line);
  return h;
}

/* Closes its stdin (it releases and exits) and reaps it. */
static int
holder_finish (Holder *h)
{
  if (h->in_fd >= 0)
    close (h->in_fd);
  int status = 0;
  g_assert_cmpint (waitpid (h->pid, &status, 0), ==, h->pid);
  g_spawn_close_pid (h->pid);
  fclose (h->out);
  g_free (h->line);
  g_free (h);
  return status;
}

static void
holder_kill (Holder *h)
{
  g_assert_cmpint (kill (h->pid, SIGKILL), ==, 0);
  int status = holder_finish (h);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
}

/* Asks a holder to validate; returns its answer line. */
static char *
holder_validate (Holder *h)
{
  g_assert_cmpint (write (h->in_fd, "validate\n", 9), ==, 9);
  char *line = holder_read_line (h);
  g_assert_nonnull (line);
  return line;
}

/* N files, N+1 processes: N sessions and one quota-exceeded; a session
 * killed with SIGKILL frees its file at once. */
static void
test_processes (void)
{
  g_autoptr (Env) env = env_new ();
  for (guint i = 0; i < 3; i++)
    g_free (put_valid (env, "KRE", i));

  Holder *holders[4];
  for (guint i = 0; i < 4; i++)
    holders[i] = holder_spawn_full (NULL, env->config_path, "KRE", NULL);
  g_autoptr (GHashTable) files = g_hash_table_new (g_str_hash, g_str_equal);
  Holder *failed = NULL, *victim = NULL;
  for (guint i = 0; i < 4; i++)
    {
      holders[i]->line = holder_read_line (holders[i]);
      g_assert_nonnull (holders[i]->line);
      g_test_message ("holder %u: %s", i, holders[i]->line);
      if (g_str_has_prefix (holders[i]->line, "OK "))
        {
          g_assert_true (g_hash_table_add (files, holders[i]->line + 3));
          victim = holders[i];
        }
      else
        {
          g_assert_null (failed);
          failed = holders[i];
          g_assert_true (g_str_has_prefix (
              failed->line, "ERR quota-exceeded offline: all 3 offline KRE licenses for this "
                            "machine are in use"));
        }
    }
  g_assert_cmpuint (g_hash_table_size (files), ==, 3);
  g_assert_nonnull (failed);
  g_hash_table_remove_all (files);
  for (guint i = 0; i < 4; i++)
    if (holders[i] == victim || holders[i] == failed)
      holders[i] = NULL;
  int status = holder_finish (failed);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);

  /* The kernel drops the lock of a killed process: its file is free. */
  g_autofree char *victim_file = g_strdup (victim->line + 3);
  holder_kill (victim);
  Holder *next = holder_spawn (env->config_path, "KRE");
  g_assert_cmpstr (next->line + 3, ==, victim_file);
  g_autofree char *answer = holder_validate (next);
  g_assert_cmpstr (answer, ==, "OK");

  g_assert_cmpint (holder_finish (next), ==, 0);
  for (guint i = 0; i < 4; i++)
    if (holders[i] != NULL)
      {
        status = holder_finish (holders[i]);
        g_assert_true (WIFEXITED (status));
        g_assert_cmpint (WEXITSTATUS (status), ==, 0);
      }
}

/* ---- sessions per license: copies of a file are one license ---- */

/* Copies @src (byte for byte) to @name in the license folder. */
static char *
copy_as (Env *env, const char *src, const char *name)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (src, &contents, &len, NULL));
  return put_bytes (env->license_dir, name, contents, len);
}

/* "KRE_<ID><suffix>" for this machine. */
static char *
own_name_with (const char *product, const char *suffix)
{
  return g_strdup_printf ("%s_%s%s", product, machine_id, suffix);
}

/* The lock file of a license ID in @lock_dir. */
static char *
lock_path (const char *lock_dir, const char *license_id)
{
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, license_id, -1);
  g_autofree char *name = g_strconcat (digest, ".lock", NULL);
  return g_build_filename (lock_dir, name, NULL);
}

/* A file and a byte-identical copy under another name (and under the .N.lic
 * suffix): one license, one session, in one process. */
static void
test_copy_in_process (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *orig = put_valid (env, "KRE", 0);
  g_autofree char *copy_name = own_name_with ("KRE", ".copy.lic");
  g_autofree char *copy = copy_as (env, orig, copy_name);
  g_autoptr (TesseraEngine) engine = env_engine (env);

  TesseraLicense *first = activate_ok (engine, "KRE");
  /* In name order, "KRE_ID.copy.lic" comes before "KRE_ID.lic". */
  g_assert_cmpstr (tessera_license_get_attribute (first, "offline.file"), ==, copy);
  g_autofree char *orig_name = g_path_get_basename (orig);
  g_autofree char *fragment
      = g_strdup_printf ("the offline KRE license for this machine is in use (%s = %s; files that "
                         "are copies of one license (=) are that one license): end the session "
                         "that holds it, or ask your administrator for another license file for "
                         "machine ID %s",
                         copy_name, orig_name, machine_id);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, fragment, "copy of the file");

  /* Named explicitly, the copy is the same license too. */
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
  tessera_activate_options_set (options, "offline-file", orig);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_QUOTA_EXCEEDED,
                  "the offline KRE license for this machine is in use", "explicit copy");

  /* Released: the license is free again, through either file. */
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_release (first, NULL, &error));
  g_assert_no_error (error);
  tessera_license_unref (first);
  g_autoptr (TesseraLicense) again = tessera_engine_activate (engine, "KRE", options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (again, "offline.file"), ==, orig);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED,
                  "the offline KRE license for this machine is in use", "copy, second round");

  /* The same bytes under the name tessera-license gives a second file, and
   * a second, distinct license: 4 files, 2 licenses, 2 sessions. */
  g_autofree char *serial_name = own_name ("KRE", 2);
  g_autofree char *serial = copy_as (env, orig, serial_name);
  g_autofree char *other = put_valid (env, "KRE", 3);
  g_autoptr (TesseraLicense) second = activate_ok (engine, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (second, "offline.file"), ==, other);
  g_assert_cmpstr (tessera_license_get_id (second), !=, tessera_license_get_id (again));
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED,
                  "all 2 offline KRE licenses for this machine are in use", "4 files, 2 licenses");
  g_autofree char *copies
      = g_strdup_printf ("in use (%s = %s = %s, ", serial_name, copy_name, orig_name);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, copies, "4 files, 2 licenses");
}

/* The lock files: one per license ID, in the lock folder (0700), 0600,
 * named for the SHA-256 of the ID, kept after release. */
static void
test_lock_files (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autofree char *lock_dir = g_build_filename (env->state_dir, "offline-locks", NULL);
  g_assert_false (g_file_test (lock_dir, G_FILE_TEST_EXISTS));

  TesseraLicense *license = activate_ok (engine, "KRE");
  g_autofree char *lock = lock_path (lock_dir, tessera_license_get_id (license));
  GStatBuf st;
  g_assert_cmpint (g_stat (lock_dir, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_lstat (lock, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (st.st_size, ==, 0);
  /* Held: another open file description cannot lock it. */
  int fd = open (lock, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX | LOCK_NB), ==, -1);
  g_assert_cmpint (errno, ==, EWOULDBLOCK);

  g_assert_true (tessera_license_release (license, NULL, NULL));
  tessera_license_unref (license);
  /* Released, and still there: deleting it could give a license two holders. */
  g_assert_true (g_file_test (lock, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (flock (fd, LOCK_EX | LOCK_NB), ==, 0);
  /* Whoever holds the license ID's lock holds the license: the file alone,
   * unlocked, is no session. */
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, "is in use",
                  "license lock held elsewhere");
  close (fd);
  g_autoptr (TesseraLicense) again = activate_ok (engine, "KRE");

  /* A configured lock-dir (relative to the config file) is used instead. */
  g_autofree char *conf = g_strdup_printf ("%slock-dir=my-locks\n", env->config);
  g_autofree char *conf_path = test_write_file (env->dir, "locks.conf", conf);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) configured = tessera_engine_new (conf_path, &error);
  g_assert_no_error (error);
  g_autofree char *my_locks = g_build_filename (env->dir, "my-locks", NULL);
  g_autofree char *other = put_valid (env, "KRE", 1);
  g_autoptr (TesseraLicense) b = activate_ok (configured, "KRE");
  g_assert_cmpstr (tessera_license_get_attribute (b, "offline.file"), ==, other);
  g_autofree char *my_lock = lock_path (my_locks, tessera_license_get_id (b));
  g_assert_true (g_file_test (my_lock, G_FILE_TEST_IS_REGULAR));
}

/* 2 licenses, each with a copy (4 files), 4 processes: 2 sessions, 2
 * quota-exceeded counting 2 licenses; a session killed with SIGKILL frees
 * its license at once. */
static void
test_copies_processes (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *a = put_valid (env, "KRE", 0);
  g_autofree char *b = put_valid (env, "KRE", 2);
  g_autofree char *a_copy_name = own_name_with ("KRE", ".copy.lic");
  g_autofree char *b_copy_name = own_name_with ("KRE", ".2.copy.lic");
  g_autofree char *a_copy = copy_as (env, a, a_copy_name);
  g_autofree char *b_copy = copy_as (env, b, b_copy_name);
  /* file -> which license (1 or 2) */
  g_autoptr (GHashTable) license_of = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (license_of, a, GUINT_TO_POINTER (1));
  g_hash_table_insert (license_of, a_copy, GUINT_TO_POINTER (1));
  g_hash_table_insert (license_of, b, GUINT_TO_POINTER (2));
  g_hash_table_insert (license_of, b_copy, GUINT_TO_POINTER (2));

  Holder *holders[4];
  for (guint i = 0; i < 4; i++)
    holders[i] = holder_spawn_full (NULL, env->config_path, "KRE", NULL);
  Holder *ok[2] = { NULL, NULL };
  guint n_ok = 0, n_quota = 0;
  gboolean held[3] = { FALSE, FALSE, FALSE };
  for (guint i = 0; i < 4; i++)
    {
      holders[i]->line = holder_read_line (holders[i]);
      g_assert_nonnull (holders[i]->line);
      g_test_message ("holder %u: %s", i, holders[i]->line);
      if (g_str_has_prefix (holders[i]->line, "OK "))
        {
          guint lic = GPOINTER_TO_UINT (g_hash_table_lookup (license_of, holders[i]->line + 3));
          g_assert_cmpuint (lic, >=, 1);
          g_assert_false (held[lic]); /* never two sessions of one license */
          held[lic] = TRUE;
          g_assert_cmpuint (n_ok, <, 2);
          ok[n_ok++] = holders[i];
        }
      else
        {
          if (!g_str_has_prefix (holders[i]->line,
                                 "ERR quota-exceeded offline: all 2 offline KRE licenses for "
                                 "this machine are in use ("))
            g_error ("holder %u: expected quota-exceeded for 2 licenses, got: %s", i,
                     holders[i]->line);
          n_quota++;
        }
    }
  g_assert_cmpuint (n_ok, ==, 2);
  g_assert_cmpuint (n_quota, ==, 2);
  for (guint i = 0; i < 4; i++)
    if (holders[i] != ok[0] && holders[i] != ok[1])
      {
        int status = holder_finish (holders[i]);
        g_assert_true (WIFEXITED (status));
        g_assert_cmpint (WEXITSTATUS (status), ==, 1);
      }

  /* SIGKILL: the kernel drops both locks; the license is free at once,
   * through either of its files. */
  guint victim_license = GPOINTER_TO_UINT (g_hash_table_lookup (license_of, ok[0]->line + 3));
  holder_kill (ok[0]);
  Holder *next = holder_spawn (env->config_path, "KRE");
  g_test_message ("after SIGKILL: %s", next->line);
  g_assert_true (g_str_has_prefix (next->line, "OK "));
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (license_of, next->line + 3)), ==,
                    victim_license);
  g_autofree char *answer = holder_validate (next);
  g_assert_cmpstr (answer, ==, "OK");
  /* And full again. */
  Holder *extra = holder_spawn (env->config_path, "KRE");
  g_assert_true (g_str_has_prefix (extra->line, "ERR quota-exceeded offline: all 2 offline KRE "
                                                "licenses for this machine are in use"));
  int status = holder_finish (extra);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);

  g_assert_cmpint (holder_finish (next), ==, 0);
  g_assert_cmpint (holder_finish (ok[1]), ==, 0);
}

static void
assert_lock_dir_refused (TesseraEngine *engine, TesseraActivateOptions *options,
                         const char *lock_dir, const char *context)
{
  g_autofree char *fragment = g_strdup_printf ("in the offline license lock folder %s: ", lock_dir);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_PERMISSION_DENIED, fragment, context);
  assert_refused (engine, "KRE", options, TESSERA_ERROR_PERMISSION_DENIED,
                  "no offline license is granted without it", context);
}

/* A lock folder that cannot be written: no session that cannot be counted.
 * Run as an unprivileged user (the suite runs as root in CI). */
static void
test_lock_dir_unwritable (void)
{
  if (!g_test_subprocess ())
    {
      test_trap_unprivileged (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  test_drop_privileges ();
  g_assert_cmpuint (geteuid (), !=, 0);
  /* Files are issued for the machine ID of the user running. */
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  g_free (machine_id);
  machine_id = g_strdup (tessera_fingerprint_get_id (fp));

  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autofree char *locks = g_build_filename (env->dir, "locks", NULL);
  g_assert_cmpint (g_mkdir (locks, 0500), ==, 0);
  g_autofree char *extra = g_strdup_printf ("lock-dir=%s\n", locks);
  env_write_config (env, extra);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  assert_lock_dir_refused (engine, NULL, locks, "read-only lock folder");
  g_autoptr (TesseraActivateOptions) options = tessera_activate_options_new ();
  tessera_activate_options_set (options, "offline-file", path);
  assert_lock_dir_refused (engine, options, locks, "read-only lock folder, explicit file");

  /* The default, in a state folder that cannot be written. */
  g_assert_cmpint (g_mkdir (env->state_dir, 0500), ==, 0);
  env_write_config (env, NULL);
  g_autoptr (TesseraEngine) defaults = env_engine (env);
  g_autofree char *default_locks = g_build_filename (env->state_dir, "offline-locks", NULL);
  g_autofree char *fragment = g_strdup_printf (
      "cannot create the offline license lock folder %s: Permission denied", default_locks);
  assert_refused (defaults, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, fragment,
                  "read-only state folder");

  /* Only the folder stood in the way. */
  g_assert_cmpint (g_chmod (locks, 0700), ==, 0);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
}

/* A lock folder that is a file, a lock file that is a link or a FIFO:
 * refused as well. */
static void
test_lock_dir_broken (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autofree char *blocker = test_write_file (env->dir, "locks", "a file, not a folder\n");
  g_autofree char *extra = g_strdup_printf ("lock-dir=%s\n", blocker);
  env_write_config (env, extra);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  assert_lock_dir_refused (engine, NULL, blocker, "lock folder is a file");
  g_autofree char *below = g_strdup_printf ("lock-dir=%s/sub\n", blocker);
  env_write_config (env, below);
  g_autoptr (TesseraEngine) engine_below = env_engine (env);
  g_autofree char *below_dir = g_build_filename (blocker, "sub", NULL);
  assert_lock_dir_refused (engine_below, NULL, below_dir, "lock folder below a file");

  /* The lock file itself replaced by a symbolic link, then by a FIFO. */
  g_assert_cmpint (g_unlink (blocker), ==, 0);
  g_assert_cmpint (g_mkdir (blocker, 0700), ==, 0);
  env_write_config (env, extra);
  g_autoptr (TesseraEngine) engine2 = env_engine (env);
  TesseraLicense *license = activate_ok (engine2, "KRE");
  g_autofree char *lock = lock_path (blocker, tessera_license_get_id (license));
  tessera_license_unref (license);
  g_assert_cmpint (g_unlink (lock), ==, 0);
  g_autofree char *target = g_build_filename (env->dir, "elsewhere", NULL);
  g_assert_cmpint (symlink (target, lock), ==, 0);
  assert_refused (engine2, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, "is a symbolic link",
                  "lock file is a link");
  g_assert_false (g_file_test (target, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_unlink (lock), ==, 0);
  g_assert_cmpint (mkfifo (lock, 0600), ==, 0);
  assert_refused (engine2, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, "is not a regular file",
                  "lock file is a FIFO");
}

/* ---- clock rollback, attacked with faketime ---- */

/* The environment for a holder under faketime: monotonic time left alone,
 * and (in sanitizer builds) ASan told that the preloaded libfaketime coming
 * before it is expected. */
static char **
faketime_environ (void)
{
  char **envp = g_environ_setenv (g_get_environ (), "FAKETIME_DONT_FAKE_MONOTONIC", "1", TRUE);
  const char *asan = g_environ_getenv (envp, "ASAN_OPTIONS");
  g_autofree char *options = asan && *asan ? g_strconcat (asan, ":verify_asan_link_order=0", NULL)
                                           : g_strdup ("verify_asan_link_order=0");
  return g_environ_setenv (envp, "ASAN_OPTIONS", options, TRUE);
}

/* Runs a holder under `faketime -f OFFSET` and returns its first line. */
static char *
holder_under_faketime (Env *env, const char *offset)
{
  g_autofree char *faketime = faketime_path ();
  const char *const prefix[] = { faketime, "-f", offset, NULL };
  g_auto (GStrv) envp = faketime_environ ();
  Holder *h = holder_spawn_full (prefix, env->config_path, "KRE", envp);
  char *line = holder_read_line (h);
  g_assert_nonnull (line);
  g_test_message ("faketime %s: %s", offset, line);
  holder_finish (h);
  return line;
}

/* A license issued 40 days ago (valid for 20 more): what a rollback of 30
 * days would still find valid, were the rollback not noticed. */
static Env *
rollback_env_new (void)
{
  Env *env = env_new ();
  gint64 issued = now_s () - 40 * DAY;
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, issued, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_free (put (env->license_dir, name, bytes));
  return env;
}

static void
assert_rollback (const char *line)
{
  if (!g_str_has_prefix (line, "ERR clock-rollback ")
      || strstr (line, "the system clock is behind the last time an offline license was used on "
                       "this machine by ")
             == NULL)
    g_error ("expected a clock rollback, got: %s", line);
}

/* Sanity check of the attack tool: the faked clock reaches the holder. */
static void
test_faketime_works (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_autofree char *line = holder_under_faketime (env, "+100d");
  g_assert_true (g_str_has_prefix (line, "ERR expired "));
}

static void
test_rollback (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_true (tessera_license_release (license, NULL, NULL));
  gint64 seen = read_state (env);
  g_assert_cmpint (seen, >, now_s () - 60);

  g_autofree char *line = holder_under_faketime (env, "-30d");
  assert_rollback (line);
  /* 30 days, less the seconds between the activation and the holder's
   * clock (a slow build, ASan or valgrind, crosses a second). */
  if (strstr (line, "by 30 days") == NULL && strstr (line, "by 29 days 23 hours") == NULL)
    g_error ("expected a rollback by 30 days: %s", line);

  /* Within the tolerance (600 s): no false alarm. */
  g_autofree char *small = holder_under_faketime (env, "-5m");
  g_assert_true (g_str_has_prefix (small, "OK "));
  g_assert_cmpint (read_state (env), >=, seen);
}

/* Deleting the state does not help: the file's ctime (set by the kernel
 * when it was put in place) proves the time had passed. */
static void
test_rollback_state_deleted (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_true (tessera_license_release (license, NULL, NULL));
  g_autofree char *state = g_build_filename (env->state_dir, "offline-clock", NULL);
  g_assert_cmpint (g_unlink (state), ==, 0);

  g_autofree char *line = holder_under_faketime (env, "-30d");
  assert_rollback (line);
  /* The state learned what the file proves. */
  gint64 proven = read_state (env);
  g_assert_cmpint (proven, >, now_s () - 600);

  /* Back before the license's issue time: refused as well. */
  g_assert_cmpint (g_unlink (state), ==, 0);
  g_autofree char *before = holder_under_faketime (env, "-50d");
  assert_rollback (before);
}

static void
test_rollback_state_corrupt (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_assert_cmpint (g_mkdir (env->state_dir, 0700), ==, 0);
  g_autofree char *state = test_write_file (env->state_dir, "offline-clock", "garbage\x01\n");

  g_autofree char *line = holder_under_faketime (env, "-30d");
  assert_rollback (line);
  /* Rewritten, with what the license file proves. */
  g_assert_cmpint (read_state (env), >, now_s () - 600);

  g_assert_true (g_file_set_contents (state, "tessera-offline-clock 1 12x\n", -1, NULL));
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_assert_cmpint (read_state (env), >=, now_s () - 5);
}

/* The clock going back while a session runs: validate notices. The holder
 * reads its faked time from a file (libfaketime's FAKETIME_TIMESTAMP_FILE)
 * that the test changes between activation and validation. */
static void
test_rollback_during_session (void)
{
  g_autoptr (Env) env = rollback_env_new ();
  g_autofree char *faketime = faketime_path ();
  g_autofree char *stamp = test_write_file (env->dir, "faketime", "+0\n");
  g_autofree char *stamp_env = g_strconcat ("FAKETIME_TIMESTAMP_FILE=", stamp, NULL);
  const char *const prefix[]
      = { faketime, "-f", "+0", "env", "-u", "FAKETIME", stamp_env, "FAKETIME_NO_CACHE=1", NULL };
  g_auto (GStrv) envp = faketime_environ ();
  Holder *h = holder_spawn_full (prefix, env->config_path, "KRE", envp);
  h->line = holder_read_line (h);
  g_assert_nonnull (h->line);
  g_assert_true (g_str_has_prefix (h->line, "OK "));
  g_autofree char *ok = holder_validate (h);
  g_assert_cmpstr (ok, ==, "OK");

  g_assert_true (g_file_set_contents (stamp, "-30d\n", -1, NULL));
  g_autofree char *answer = holder_validate (h);
  assert_rollback (answer);
  g_autofree char *again = holder_validate (h); /* terminal: it stays invalid */
  assert_rollback (again);
  g_assert_cmpint (holder_finish (h), ==, 0);
}

/* A clock state that cannot be written never blocks a valid license, as
 * long as sessions can still be counted: the lock folder (lock-dir) is
 * usable. Without lock-dir, the locks live in the state folder, and a state
 * folder that cannot be written refuses every license (fail safe). */
static void
test_state_unwritable (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *blocker = test_write_file (env->dir, "blocker", "a file, not a folder\n");
  g_autofree char *locks = g_build_filename (env->dir, "locks", NULL);
  g_autofree char *config
      = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                         "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s/sub\nlock-dir=%s\n",
                         env->license_dir, env->key_path, blocker, locks);
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = engine_from (config);
  g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (locks, G_FILE_TEST_IS_DIR));
  g_assert_true (tessera_license_release (license, NULL, NULL));

  g_autofree char *default_config
      = g_strdup_printf ("[engine]\nproviders=offline\n[provider:offline]\n"
                         "license-dir=%s\ntrusted-keys=%s\nstate-dir=%s/sub\n",
                         env->license_dir, env->key_path, blocker);
  g_autoptr (TesseraEngine) defaults = engine_from (default_config);
  g_autofree char *default_locks = g_build_filename (blocker, "sub", "offline-locks", NULL);
  assert_lock_dir_refused (defaults, NULL, default_locks, "state folder unwritable, no lock-dir");
}

/* ---- listing (ABI 1.1 list op) ---- */

static GPtrArray *
list_ok (TesseraEngine *engine, const char *product)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *licenses = tessera_engine_list_licenses (engine, product, &error);
  g_assert_no_error (error);
  g_assert_nonnull (licenses);
  return licenses;
}

/* Writes a clock state far ahead of now: the clock looks rolled back. */
static void
put_future_state (Env *env)
{
  g_assert_cmpint (g_mkdir_with_parents (env->state_dir, 0700), ==, 0);
  g_autofree char *text
      = g_strdup_printf ("tessera-offline-clock 1 %" G_GINT64_FORMAT "\n", now_s () + 3 * DAY);
  g_autofree char *path = test_write_file (env->state_dir, "offline-clock", text);
}

typedef struct
{
  const char *name;
  /* Puts one file into the folder. */
  void (*setup) (Env *env);
  gint code; /* what validate of the one listed entry says; -1: valid */
  const char *fragment;
} ListCase;

static void
list_valid (Env *env)
{
  g_autofree char *path = put_valid (env, "KRE", 0);
}

static void
list_expired (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, now_s () - 70 * DAY, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
}

static void
list_tampered (Env *env)
{
  g_autoptr (GBytes) good = issue_valid (env, "KRE");
  g_autoptr (GBytes) bad = modified (good, 40, 1, "#");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bad);
}

static void
list_other_machine (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", OTHER_MACHINE, now_s () - 60, 0);
  g_autofree char *name = tessera_licfile_file_name ("KRE", OTHER_MACHINE, 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
}

static void
list_renamed (Env *env)
{
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  g_autofree char *name = tessera_licfile_file_name ("KRE", OTHER_MACHINE, 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
}

static void
list_untrusted (Env *env)
{
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  g_autoptr (GBytes) bytes = issue (other, "KRE", machine_id, now_s () - 60, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = put (env->license_dir, name, bytes);
}

static void
list_rollback (Env *env)
{
  list_valid (env);
  put_future_state (env);
}

static void
list_unreadable (Env *env)
{
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (symlink ("/etc/hostname", path), ==, 0);
}

static const ListCase list_cases[] = {
  { "valid", list_valid, -1, NULL },
  { "expired", list_expired, TESSERA_ERROR_EXPIRED, "expired" },
  { "tampered", list_tampered, TESSERA_ERROR_TAMPERED, "modified or damaged" },
  { "other-machine", list_other_machine, TESSERA_ERROR_MACHINE_MISMATCH, OTHER_MACHINE },
  { "renamed", list_renamed, TESSERA_ERROR_TAMPERED, "renamed" },
  { "untrusted-key", list_untrusted, TESSERA_ERROR_UNTRUSTED_KEY, NULL },
  { "clock-rollback", list_rollback, TESSERA_ERROR_CLOCK_ROLLBACK, NULL },
  { "symlink", list_unreadable, TESSERA_ERROR_NOT_FOUND, "symbolic link" },
};

/* Every file is listed, usable or not, and validate says exactly why not. */
static void
test_list_entry (gconstpointer data)
{
  const ListCase *c = data;
  g_autoptr (Env) env = env_new ();
  c->setup (env);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (GPtrArray) licenses = list_ok (engine, "KRE");
  g_assert_cmpuint (licenses->len, ==, 1);
  TesseraLicense *license = licenses->pdata[0];
  g_assert_cmpstr (tessera_license_get_product (license), ==, "KRE");
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "offline");
  g_assert_true (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_OFFLINE);
  g_assert_false (tessera_license_get_flags (license) & TESSERA_LICENSE_FLAG_PERSISTENT);
  g_assert_true (
      g_str_has_prefix (tessera_license_get_attribute (license, "offline.file"), env->license_dir));

  g_autoptr (GError) error = NULL;
  gboolean ok = tessera_license_validate (license, NULL, &error);
  if (c->code < 0)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_true (g_str_has_prefix (tessera_license_get_id (license), "LIC-"));
    }
  else
    {
      g_assert_false (ok);
      g_assert_error (error, TESSERA_ERROR, c->code);
      if (c->fragment != NULL && strstr (error->message, c->fragment) == NULL)
        g_error ("%s: '%s' does not say '%s'", c->name, error->message, c->fragment);
      g_test_message ("%s: %s", c->name, error->message);
    }
  /* Releasing an entry gives back nothing and does not fail. */
  g_clear_error (&error);
  g_assert_true (tessera_license_release (license, NULL, &error));
}

/* No folder or an empty one: nothing listed, no error; products filter. */
static void
test_list_folder (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (GPtrArray) empty = list_ok (engine, NULL);
  g_assert_cmpuint (empty->len, ==, 0);

  g_autofree char *kre = put_valid (env, "KRE", 0);
  g_autofree char *kre2 = put_valid (env, "KRE", 2);
  g_autofree char *kse = put_valid (env, "KSE", 0);
  g_autofree char *junk = test_write_file (env->license_dir, "notes.txt", "hello");
  g_autofree char *hidden = test_write_file (env->license_dir, ".KRE_x.lic.tmp", "x");
  g_autoptr (GPtrArray) all = list_ok (engine, NULL);
  g_assert_cmpuint (all->len, ==, 3);
  g_autoptr (GPtrArray) only_kre = list_ok (engine, "KRE");
  g_assert_cmpuint (only_kre->len, ==, 2);
  for (guint i = 0; i < only_kre->len; i++)
    g_assert_cmpstr (tessera_license_get_product (only_kre->pdata[i]), ==, "KRE");

  test_rm_rf (env->license_dir);
  g_autoptr (GPtrArray) missing = list_ok (engine, NULL);
  g_assert_cmpuint (missing->len, ==, 0);
}

/* Listing takes no lock and no seat: it runs beside a session, and a
 * session can start while entries are held. */
static void
test_list_no_lock (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);

  g_autoptr (GPtrArray) before = list_ok (engine, "KRE");
  g_autoptr (TesseraLicense) session = activate_ok (engine, "KRE");
  g_autoptr (GPtrArray) during = list_ok (engine, "KRE");
  g_assert_cmpuint (during->len, ==, 1);
  g_autoptr (GError) error = NULL;
  g_assert_true (tessera_license_validate (during->pdata[0], NULL, &error));
  g_assert_no_error (error);
  /* Releasing the entry does not free the session's seat. */
  g_assert_true (tessera_license_release (during->pdata[0], NULL, &error));
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_QUOTA_EXCEEDED, NULL, "entry released");
  g_assert_true (tessera_license_validate (session, NULL, &error));
  g_assert_true (tessera_license_release (session, NULL, &error));
  g_clear_pointer (&during, g_ptr_array_unref);
  g_autoptr (TesseraLicense) again = activate_ok (engine, "KRE");
}

/* ---- installing (install op; install_with_flags since ABI 1.2) ---- */

typedef struct
{
  const char *name;
  /* Returns the file to install (its path), having prepared the folder. */
  char *(*setup) (Env *env);
  gint code; /* -1: installed */
  const char *fragment;
  guint serial; /* installed: it is PRODUCT_ID.<serial>.lic (0: PRODUCT_ID.lic); refused: that
                 * file is unchanged */
  TesseraInstallFlags flags;
} InstallCase;

static char *
source_file (Env *env, GBytes *bytes)
{
  return put (env->dir, "downloaded license (1).lic", bytes);
}

static char *
install_fresh (Env *env)
{
  test_rm_rf (env->license_dir); /* created, 0700 */
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

static char *
install_tampered (Env *env)
{
  g_autoptr (GBytes) good = issue_valid (env, "KRE");
  g_autoptr (GBytes) bad = modified (good, 40, 1, "#");
  return source_file (env, bad);
}

static char *
install_untrusted (Env *env)
{
  g_autoptr (TesseraSigningKey) other = tessera_signing_key_generate ();
  g_autoptr (GBytes) bytes = issue (other, "KRE", machine_id, now_s () - 60, 0);
  return source_file (env, bytes);
}

static char *
install_other_machine (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", OTHER_MACHINE, now_s () - 60, 0);
  return source_file (env, bytes);
}

static char *
install_other_product (Env *env)
{
  g_autoptr (GBytes) bytes = issue_valid (env, "KAT");
  return source_file (env, bytes);
}

static char *
install_expired (Env *env)
{
  g_autoptr (GBytes) bytes = issue (env->key, "KRE", machine_id, now_s () - 70 * DAY, 0);
  return source_file (env, bytes);
}

static char *
install_rollback (Env *env)
{
  put_future_state (env);
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

static char *
install_identical (Env *env)
{
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = put (env->license_dir, name, bytes);
  return source_file (env, bytes);
}

static char *
install_older (Env *env)
{
  g_autoptr (GBytes) newer = issue_valid (env, "KRE");
  g_autoptr (GBytes) older = issue (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = put (env->license_dir, name, newer);
  return source_file (env, older);
}

static char *
install_newer (Env *env)
{
  g_autoptr (GBytes) older = issue (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0);
  g_autoptr (GBytes) newer = issue_valid (env, "KRE");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = put (env->license_dir, name, older);
  return source_file (env, newer);
}

static char *
install_over_damaged (Env *env)
{
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = test_write_file (env->license_dir, name, "garbage");
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

/* The installed license reissued with a later end: the same license ID. */
static char *
install_renewed (Env *env)
{
  g_autoptr (GBytes) installed
      = issue_id (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0, "LIC-RENEWED");
  g_autoptr (GBytes) renewed
      = issue_id (env->key, "KRE", machine_id, now_s () - 60, 0, "LIC-RENEWED");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *existing = put (env->license_dir, name, installed);
  return source_file (env, renewed);
}

/* The copy of the same license is the second file: that one is replaced,
 * the other license stays. */
static char *
install_renewed_second (Env *env)
{
  g_autoptr (GBytes) other = issue_valid (env, "KRE");
  g_autoptr (GBytes) installed
      = issue_id (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0, "LIC-RENEWED-2");
  g_autoptr (GBytes) renewed
      = issue_id (env->key, "KRE", machine_id, now_s () - 60, 0, "LIC-RENEWED-2");
  g_autofree char *first = own_name ("KRE", 0);
  g_autofree char *second = own_name ("KRE", 1);
  g_autofree char *p1 = put (env->license_dir, first, other);
  g_autofree char *p2 = put (env->license_dir, second, installed);
  return source_file (env, renewed);
}

/* Three licenses already: the fourth is PRODUCT_ID.3.lic. */
static char *
install_fourth (Env *env)
{
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *p = put_valid (env, "KRE", i);
    }
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

/* A hostile user put a link where the next file would go, to have install
 * write through it ("victim" stands for a file of another user): the name
 * is taken, the file goes to the next one, the victim is untouched. */
static char *
install_link_in_the_way (Env *env)
{
  g_autofree char *victim = test_write_file (env->dir, "victim", "victim");
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *link = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (symlink (victim, link), ==, 0);
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

/* A copy of the license under a link to a file that holds it: not a copy
 * install may replace through (links are never license files). */
static char *
install_replace_link (Env *env)
{
  g_autoptr (GBytes) installed
      = issue_id (env->key, "KRE", machine_id, now_s () - 10 * DAY, 0, "LIC-LINKED");
  g_autoptr (GBytes) renewed
      = issue_id (env->key, "KRE", machine_id, now_s () - 60, 0, "LIC-LINKED");
  g_autofree char *victim = put (env->dir, "victim", installed);
  g_autofree char *name = own_name ("KRE", 0);
  g_autofree char *link = g_build_filename (env->license_dir, name, NULL);
  g_assert_cmpint (symlink (victim, link), ==, 0);
  return source_file (env, renewed);
}

/* A folder someone filled with every name install may use: refused with a
 * message that says so, nothing written. */
static char *
install_folder_full (Env *env)
{
  for (guint i = 0; i < 1000; i++)
    {
      g_autofree char *name = own_name ("KRE", i);
      g_autofree char *path = test_write_file (env->license_dir, name, "garbage");
    }
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  return source_file (env, bytes);
}

#define REPLACE TESSERA_INSTALL_REPLACE

static const InstallCase install_cases[] = {
  { "fresh", install_fresh, -1, NULL, 0, 0 },
  { "tampered", install_tampered, TESSERA_ERROR_TAMPERED, "downloaded license (1).lic", 0, 0 },
  { "untrusted-key", install_untrusted, TESSERA_ERROR_UNTRUSTED_KEY, NULL, 0, 0 },
  { "other-machine", install_other_machine, TESSERA_ERROR_MACHINE_MISMATCH, OTHER_MACHINE, 0, 0 },
  { "other-product", install_other_product, TESSERA_ERROR_PRODUCT_MISMATCH, "KAT", 0, 0 },
  { "expired", install_expired, TESSERA_ERROR_EXPIRED, NULL, 0, 0 },
  { "clock-rollback", install_rollback, TESSERA_ERROR_CLOCK_ROLLBACK, NULL, 0, 0 },
  { "identical", install_identical, TESSERA_ERROR_INVALID_ARGUMENT, "is already installed as", 0,
    0 },
  { "identical-replace", install_identical, -1, NULL, 0, REPLACE },
  /* Another license: one more file (one more parallel session), whatever
   * either one's end. */
  { "older-than-installed", install_older, -1, NULL, 1, 0 },
  { "newer-than-installed", install_newer, -1, NULL, 1, 0 },
  { "fourth", install_fourth, -1, NULL, 3, 0 },
  /* A damaged file grants nothing, and is not touched: it keeps its name. */
  { "beside-damaged", install_over_damaged, -1, NULL, 1, 0 },
  { "renewed", install_renewed, TESSERA_ERROR_INVALID_ARGUMENT, "another file of the same license",
    0, 0 },
  { "renewed-replace", install_renewed, -1, NULL, 0, REPLACE },
  { "renewed-replace-second", install_renewed_second, -1, NULL, 1, REPLACE },
  { "link-in-the-way", install_link_in_the_way, -1, NULL, 1, 0 },
  { "link-in-the-way-replace", install_link_in_the_way, -1, NULL, 1, REPLACE },
  { "replace-through-link", install_replace_link, -1, NULL, 1, REPLACE },
  { "folder-full", install_folder_full, TESSERA_ERROR_INVALID_ARGUMENT,
    "already holds 1000 files named KRE_", 0, 0 },
};

static guint
dir_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  guint n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static char *
read_all (const char *path)
{
  char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &text, &len, NULL))
    return NULL;
  return text;
}

/* The IDs of every session the engine grants for @product, all held at
 * once: one per usable license, in parallel. */
static GHashTable *
activatable_ids (TesseraEngine *engine, const char *product)
{
  GHashTable *ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) held
      = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      TesseraLicense *license = tessera_engine_activate (engine, product, NULL, NULL, &error);
      if (license == NULL)
        {
          g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED);
          break;
        }
      g_assert_true (g_hash_table_add (ids, g_strdup (tessera_license_get_id (license))));
      g_ptr_array_add (held, license);
    }
  return ids;
}

/* Each case: exactly the right error and nothing written; or the file
 * under the name of its case, 0644, activatable beside the others, every
 * other file as it was and no temporary file left. */
static void
test_install (gconstpointer data)
{
  const InstallCase *c = data;
  g_autoptr (Env) env = env_new ();
  /* Products restricted: install refuses others. */
  g_free (env->config);
  env->config = g_strdup_printf ("[engine]\nproviders=offline\nproducts=KRE;KSE\n"
                                 "[provider:offline]\nlicense-dir=%s\ntrusted-keys=%s\n"
                                 "state-dir=%s\n",
                                 env->license_dir, env->key_path, env->state_dir);
  g_autofree char *source = c->setup (env);
  g_autofree char *name = own_name ("KRE", c->serial);
  g_autofree char *target = g_build_filename (env->license_dir, name, NULL);
  g_autofree char *before = read_all (target);
  g_autofree char *victim_path = g_build_filename (env->dir, "victim", NULL);
  g_autofree char *victim_before = read_all (victim_path);
  guint n_before
      = g_file_test (env->license_dir, G_FILE_TEST_IS_DIR) ? dir_entries (env->license_dir) : 0;
  g_autoptr (TesseraEngine) engine = env_engine (env);

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license
      = tessera_engine_install_license_with_flags (engine, NULL, source, c->flags, &error);
  g_autofree char *after = read_all (target);
  g_autofree char *victim_after = read_all (victim_path);
  g_assert_cmpstr (victim_after, ==, victim_before);
  if (c->code >= 0)
    {
      g_assert_null (license);
      g_assert_error (error, TESSERA_ERROR, c->code);
      if (c->fragment != NULL && strstr (error->message, c->fragment) == NULL)
        g_error ("%s: '%s' does not say '%s'", c->name, error->message, c->fragment);
      g_test_message ("%s: %s", c->name, error->message);
      /* Nothing written: not the target, not a temporary file. */
      g_assert_cmpstr (after, ==, before);
      if (g_file_test (env->license_dir, G_FILE_TEST_IS_DIR))
        g_assert_cmpuint (dir_entries (env->license_dir), ==, n_before);
      return;
    }
  g_assert_no_error (error);
  g_assert_nonnull (license);
  g_assert_cmpstr (tessera_license_get_attribute (license, "offline.file"), ==, target);
  g_autofree char *source_text = read_all (source);
  g_assert_cmpstr (after, ==, source_text);
  /* A new name is one more file; a replaced one is not. */
  g_assert_cmpuint (dir_entries (env->license_dir), ==, n_before + (before == NULL ? 1 : 0));
  GStatBuf st;
  g_assert_cmpint (g_lstat (target, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0644);
  g_assert_cmpint (st.st_nlink, ==, 1);
  g_assert_cmpint (g_stat (env->license_dir, &st), ==, 0);
  if (n_before == 0)
    g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_true (tessera_license_validate (license, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (GHashTable) ids = activatable_ids (engine, "KRE");
  g_assert_true (g_hash_table_contains (ids, tessera_license_get_id (license)));
}

/* Installing again is refused, whatever the file is called, and a 1.1
 * plugin's install cannot be asked to replace (test-stored.c): here, the
 * flags the core does not know are refused before any provider runs. */
static void
test_install_unknown_flags (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (GBytes) bytes = issue_valid (env, "KRE");
  g_autofree char *source = source_file (env, bytes);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraLicense) license = tessera_engine_install_license_with_flags (
      engine, NULL, source, (TesseraInstallFlags) (1 << 7), &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "unknown install flags 0x80"));
  g_assert_cmpuint (dir_entries (env->license_dir), ==, 0);
}

/* Two installs of the same new license at once (two processes' worth of
 * threads): one installs it, the other is refused as already installed;
 * never two copies. Installs of different licenses at once each get a
 * name of their own. */
typedef struct
{
  TesseraEngine *engine;
  const char *source;
  gboolean ok;
  GError *error;
} InstallThread;

static gpointer
install_thread (gpointer data)
{
  InstallThread *t = data;
  g_autoptr (TesseraLicense) license
      = tessera_engine_install_license (t->engine, NULL, t->source, &t->error);
  t->ok = license != NULL;
  return NULL;
}

static void
test_install_concurrent (void)
{
  g_autoptr (Env) env = env_new ();
  g_autoptr (GBytes) same = issue_valid (env, "KRE");
  g_autofree char *same_path = put (env->dir, "same.lic", same);
  enum
  {
    N = 8
  };
  char *paths[N] = { NULL };
  InstallThread threads[2 * N] = { { 0 } };
  GThread *handles[2 * N] = { NULL };
  g_autoptr (TesseraEngine) engine = env_engine (env);
  for (guint i = 0; i < N; i++)
    {
      g_autoptr (GBytes) other = issue_valid (env, "KRE");
      g_autofree char *file = g_strdup_printf ("other-%u.lic", i);
      paths[i] = put (env->dir, file, other);
      threads[i] = (InstallThread){ engine, same_path, FALSE, NULL };
      threads[N + i] = (InstallThread){ engine, paths[i], FALSE, NULL };
    }
  for (guint i = 0; i < 2 * N; i++)
    handles[i] = g_thread_new ("install", install_thread, &threads[i]);
  guint same_ok = 0;
  for (guint i = 0; i < 2 * N; i++)
    {
      g_thread_join (handles[i]);
      if (i < N)
        {
          same_ok += threads[i].ok;
          if (!threads[i].ok)
            g_assert_error (threads[i].error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
        }
      else
        g_assert_no_error (threads[i].error);
      g_clear_error (&threads[i].error);
      if (i >= N)
        g_free (paths[i - N]);
    }
  g_assert_cmpuint (same_ok, ==, 1);
  /* One copy of the same license, one file per other license, names
   * PRODUCT_ID.lic to PRODUCT_ID.<N>.lic, nothing else. */
  g_assert_cmpuint (dir_entries (env->license_dir), ==, N + 1);
  for (guint i = 0; i <= N; i++)
    {
      g_autofree char *name = own_name ("KRE", i);
      g_autofree char *path = g_build_filename (env->license_dir, name, NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    }
  g_autoptr (GHashTable) ids = activatable_ids (engine, "KRE");
  g_assert_cmpuint (g_hash_table_size (ids), ==, N + 1);
}

/* Lock and license folders that are symbolic links are refused, as license
 * files that are links are: a link could lead a product running as root
 * anywhere (a lock folder linked to /etc had it create /etc/<hash>.lock).
 * "victim" stands for /etc: nothing may appear in it. */
static void
test_folder_links (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autofree char *victim = g_build_filename (env->dir, "victim", NULL);
  g_assert_cmpint (g_mkdir (victim, 0755), ==, 0);

  /* The lock folder, a link to an existing folder, then a dangling one. */
  g_autofree char *locks = g_build_filename (env->dir, "locks", NULL);
  g_assert_cmpint (symlink (victim, locks), ==, 0);
  g_autofree char *extra = g_strdup_printf ("lock-dir=%s\n", locks);
  env_write_config (env, extra);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autofree char *lock_link = g_strdup_printf (
      "the offline license lock folder %s is a symbolic link: lock files are not created", locks);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, lock_link,
                  "lock folder is a link");
  g_assert_cmpuint (dir_entries (victim), ==, 0);
  g_assert_cmpint (g_unlink (locks), ==, 0);
  g_autofree char *missing = g_build_filename (victim, "made", NULL);
  g_assert_cmpint (symlink (missing, locks), ==, 0);
  assert_refused (engine, "KRE", NULL, TESSERA_ERROR_PERMISSION_DENIED, lock_link,
                  "lock folder is a dangling link");
  g_assert_cmpuint (dir_entries (victim), ==, 0);
  g_assert_cmpint (g_unlink (locks), ==, 0);
  /* A real folder there: granted (the folder was the only reason). */
  g_assert_cmpint (g_mkdir (locks, 0700), ==, 0);
  {
    g_autoptr (TesseraLicense) license = activate_ok (engine, "KRE");
  }

  /* The license folder, a link to the folder holding the valid file: not
   * read for activation or listing, not written by install. */
  g_autofree char *real_licenses = g_strconcat (env->license_dir, ".real", NULL);
  g_assert_cmpint (g_rename (env->license_dir, real_licenses), ==, 0);
  g_assert_cmpint (symlink (real_licenses, env->license_dir), ==, 0);
  g_autoptr (TesseraEngine) linked = env_engine (env);
  g_autofree char *license_link
      = g_strdup_printf ("the offline license folder %s is a symbolic link", env->license_dir);
  assert_refused (linked, "KRE", NULL, TESSERA_ERROR_NOT_FOUND, license_link,
                  "license folder is a link");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) listed = tessera_engine_list_licenses (linked, NULL, &error);
  g_assert_null (listed);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, license_link));
  g_clear_error (&error);
  g_autofree char *source = g_build_filename (env->dir, "to-install.lic", NULL);
  g_autofree char *contents = read_all (path);
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_true (g_file_set_contents (source, contents, -1, NULL));
  g_autoptr (TesseraLicense) installed
      = tessera_engine_install_license (linked, "offline", source, &error);
  g_assert_null (installed);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, license_link));
  g_assert_cmpuint (dir_entries (real_licenses), ==, 0);
  /* Through a dangling link, install creates nothing either. */
  g_clear_error (&error);
  g_assert_cmpint (g_unlink (env->license_dir), ==, 0);
  g_autofree char *nowhere = g_build_filename (victim, "licenses", NULL);
  g_assert_cmpint (symlink (nowhere, env->license_dir), ==, 0);
  g_autoptr (TesseraLicense) installed2
      = tessera_engine_install_license (linked, "offline", source, &error);
  g_assert_null (installed2);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
  g_assert_cmpuint (dir_entries (victim), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  machine_id = g_strdup (tessera_fingerprint_get_id (fp));

  g_test_add_func ("/offline/activate", test_activate);
  g_test_add_func ("/offline/fingerprint", test_fingerprint);
  g_test_add_func ("/offline/tamper/every-byte", test_tamper_every_byte);
  for (guint i = 0; i < G_N_ELEMENTS (refused_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/offline/refused/%s", refused_cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &refused_cases[i], test_refused, NULL);
    }
  g_test_add_func ("/offline/folder/other-machines-ignored", test_other_machine_ignored);
  g_test_add_func ("/offline/folder/empty", test_empty_folder);
  g_test_add_func ("/offline/folder/missing", test_missing_folder);
  g_test_add_func ("/offline/folder/unreadable", test_unreadable_folder);
  g_test_add_func ("/offline/folder/file-names", test_file_names);
  g_test_add_func ("/offline/explicit-file", test_explicit_file);
  for (guint i = 0; i < G_N_ELEMENTS (config_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/offline/config/%s", config_cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &config_cases[i], test_config, NULL);
    }
  g_test_add_func ("/offline/config/no-trusted-keys", test_config_no_keys);
  g_test_add_func ("/offline/config/relative-paths", test_config_relative);
  g_test_add_func ("/offline/config/defaults", test_defaults);
  g_test_add_func ("/offline/key-rotation", test_rotation);
  for (guint i = 0; i < G_N_ELEMENTS (validate_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/offline/validate/%s", validate_cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &validate_cases[i], test_validate_notices, NULL);
    }
  g_test_add_func ("/offline/validate/expiry", test_validate_expiry);
  g_test_add_func ("/offline/validate/fast-path", test_validate_fast);
  g_test_add_func ("/offline/sessions/release-frees", test_release_frees);
  g_test_add_func ("/offline/sessions/quota", test_quota_in_process);
  g_test_add_func ("/offline/sessions/threads", test_threads);
  g_test_add_func ("/offline/sessions/processes", test_processes);
  g_test_add_func ("/offline/sessions/copy-in-process", test_copy_in_process);
  g_test_add_func ("/offline/sessions/lock-files", test_lock_files);
  g_test_add_func ("/offline/sessions/copies-processes", test_copies_processes);
  g_test_add_func ("/offline/sessions/lock-dir-unwritable", test_lock_dir_unwritable);
  g_test_add_func ("/offline/sessions/lock-dir-broken", test_lock_dir_broken);
  g_test_add_func ("/offline/folder/links", test_folder_links);
  g_test_add_func ("/offline/clock/faketime-works", test_faketime_works);
  g_test_add_func ("/offline/clock/rollback", test_rollback);
  g_test_add_func ("/offline/clock/state-deleted", test_rollback_state_deleted);
  g_test_add_func ("/offline/clock/state-corrupt", test_rollback_state_corrupt);
  g_test_add_func ("/offline/clock/during-session", test_rollback_during_session);
  g_test_add_func ("/offline/clock/state-unwritable", test_state_unwritable);
  for (guint i = 0; i < G_N_ELEMENTS (list_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/offline/list/%s", list_cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &list_cases[i], test_list_entry, NULL);
    }
  g_test_add_func ("/offline/list/folder", test_list_folder);
  g_test_add_func ("/offline/list/no-lock", test_list_no_lock);
  for (guint i = 0; i < G_N_ELEMENTS (install_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/offline/install/%s", install_cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &install_cases[i], test_install, NULL);
    }
  g_test_add_func ("/offline/install/unknown-flags", test_install_unknown_flags);
  g_test_add_func ("/offline/install/concurrent", test_install_concurrent);

  int rc = g_test_run ();
  g_free (machine_id);
  return rc;
}
