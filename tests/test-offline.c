/* The offline provider (plugins/offline, docs/offline.md) through the real
 * engine and the built plugin, with license files issued for this machine's
 * real ID: activation and the license it gives, every kind of damaged,
 * renamed, misplaced or untimely file, the folder and its permissions, and a
 * file named explicitly. The rest of the provider's tests are
 * test-offline-*.c (tests/offline-util.h). */
#include "offline-util.h"

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

/* A cancelled check stops with GIO's own error: the plugin reaches
 * g_cancellable_* through core/gio-lazy.c (no GIO in its DT_NEEDED) and the
 * engine tells that error by its quark's name. */
static void
test_cancelled (void)
{
  g_autoptr (Env) env = env_new ();
  g_autofree char *path = put_valid (env, "KRE", 0);
  g_autoptr (TesseraEngine) engine = env_engine (env);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_cancellable_cancel (cancellable);
  g_assert_null (tessera_engine_activate (engine, "KRE", NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  g_cancellable_reset (cancellable);
  g_autoptr (TesseraLicense) license
      = tessera_engine_activate (engine, "KRE", NULL, cancellable, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "offline");
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

int
main (int argc, char **argv)
{
  offline_test_init (&argc, &argv);

  g_test_add_func ("/offline/activate", test_activate);
  g_test_add_func ("/offline/cancelled", test_cancelled);
  g_test_add_func ("/offline/fingerprint", test_fingerprint);
  g_test_add_func ("/offline/tamper/every-byte", test_tamper_every_byte);
  OFFLINE_ADD_CASES ("/offline/refused", refused_cases, test_refused);
  g_test_add_func ("/offline/folder/other-machines-ignored", test_other_machine_ignored);
  g_test_add_func ("/offline/folder/empty", test_empty_folder);
  g_test_add_func ("/offline/folder/missing", test_missing_folder);
  g_test_add_func ("/offline/folder/unreadable", test_unreadable_folder);
  g_test_add_func ("/offline/folder/file-names", test_file_names);
  g_test_add_func ("/offline/explicit-file", test_explicit_file);

  return offline_test_run ();
}
