/* Plugin discovery and loading: the handshake, the required ops, the safety
 * checks on files and directories, overrides, and in-process registration. */
#include "test-util.h"

#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <unistd.h>

typedef struct
{
  const char *plugin;
  TesseraError code;
  const char *message;
} BadPlugin;

static const BadPlugin bad_plugins[] = {
  { "badmajor", TESSERA_ERROR_ABI_MISMATCH, "built for Tessera backend ABI 99." },
  { "newminor", TESSERA_ERROR_ABI_MISMATCH, "rebuild the plugin" },
  { "tinystruct", TESSERA_ERROR_ABI_MISMATCH, "not built with TESSERA_BACKEND_DEFINE" },
  { "noentry", TESSERA_ERROR_PLUGIN_LOAD, "does not export tessera_backend_entry_noentry" },
  { "nullentry", TESSERA_ERROR_PLUGIN_LOAD, "returned no backend vtable" },
  { "noactivate", TESSERA_ERROR_PLUGIN_LOAD, "lacks the required op 'activate'" },
  { "wrongname", TESSERA_ERROR_PLUGIN_LOAD, "calls itself 'somebody_else'" },
  { "garbage", TESSERA_ERROR_PLUGIN_LOAD, "cannot load plugin" },
  { "nonote", TESSERA_ERROR_PLUGIN_LOAD, "carries no Tessera ABI note" },
  { "missing", TESSERA_ERROR_NO_PROVIDER, "provider 'missing' is not installed" },
};

/* Each refusal happens at load, before any op is called, and leaves nothing
 * instantiated: alpha, listed first, is destroyed again. */
static void
test_bad_plugin (gconstpointer data)
{
  const BadPlugin *c = data;
  char *dir = test_tmpdir_new ();
  g_autofree char *log = g_build_filename (dir, "ops.log", NULL);
  g_autofree char *providers = g_strdup_printf ("alpha;%s", c->plugin);
  g_autofree char *extra = g_strdup_printf ("[provider:alpha]\nlog=%s\n", log);
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new (providers, extra, &error);
  g_assert_no_error (error);

  g_assert_false (tessera_engine_load (engine, &error));
  g_assert_error (error, TESSERA_ERROR, (gint) c->code);
  g_assert_nonnull (strstr (error->message, c->message));
  g_auto (GStrv) loaded = tessera_engine_dup_providers (engine);
  g_assert_cmpuint (g_strv_length (loaded), ==, 0);
  g_assert_cmpuint (test_count_lines (log, "alpha create"), ==, 1);
  g_assert_cmpuint (test_count_lines (log, "alpha destroy"), ==, 1);

  /* Activation reports the same error instead of crashing. */
  g_clear_error (&error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_null (license);
  g_assert_error (error, TESSERA_ERROR, (gint) c->code);
  test_tmpdir_free (dir);
}

static void
test_load_good (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha;beta", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_engine_load (engine, &error));
  g_assert_no_error (error);
  g_assert_true (tessera_engine_load (engine, &error)); /* idempotent */
  g_auto (GStrv) providers = tessera_engine_dup_providers (engine);
  g_assert_cmpstrv (providers, ((const char *[]){ "alpha", "beta", NULL }));

  g_auto (GStrv) installed = tessera_engine_dup_installed (engine);
  g_assert_true (g_strv_contains ((const char *const *) installed, "alpha"));
  g_assert_true (g_strv_contains ((const char *const *) installed, "oldabi"));
  for (guint i = 1; installed[i]; i++)
    g_assert_cmpint (g_strcmp0 (installed[i - 1], installed[i]), <, 0);
}

/* Loaded modules stay mapped after every engine is gone. */
static void
test_resident (void)
{
  g_autoptr (GError) error = NULL;
  TesseraEngine *engine = test_engine_new ("gamma", NULL, &error);
  g_assert_true (tessera_engine_load (engine, &error));
  tessera_engine_unref (engine);
  g_autofree char *maps = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  g_assert_nonnull (strstr (maps, "tessera-gamma.so"));
}

static char *
copy_plugin (const char *dir, const char *name, const char *as)
{
  g_autofree char *src_name = g_strdup_printf ("tessera-%s.so", name);
  g_autofree char *src = g_build_filename (test_plugin_dir (), src_name, NULL);
  g_autofree char *dst_name = g_strdup_printf ("tessera-%s.so", as);
  char *dst = g_build_filename (dir, dst_name, NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  GError *error = NULL;
  g_file_get_contents (src, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (dst, contents, (gssize) len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (dst, 0755), ==, 0);
  return dst;
}

static void
assert_load_refused (const char *dir, const char *name, TesseraError code, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_setenv ("TESSERA_PLUGIN_DIR", dir, TRUE);
  g_autoptr (TesseraEngine) engine = test_engine_new (name, NULL, &error);
  g_assert_false (tessera_engine_load (engine, &error));
  g_assert_error (error, TESSERA_ERROR, (gint) code);
  g_test_message ("refused: %s", error->message);
  g_assert_nonnull (strstr (error->message, message));
  g_setenv ("TESSERA_PLUGIN_DIR", test_plugin_dir (), TRUE);
}

static void
test_world_writable_file (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *so = copy_plugin (dir, "alpha", "alpha");
  g_assert_cmpint (g_chmod (so, 0757), ==, 0);
  assert_load_refused (dir, "alpha", TESSERA_ERROR_PLUGIN_LOAD, "the file is world-writable");
  test_tmpdir_free (dir);
}

static void
test_world_writable_dir (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *so = copy_plugin (dir, "beta", "beta");
  g_assert_cmpint (g_chmod (dir, 0777), ==, 0);
  assert_load_refused (dir, "beta", TESSERA_ERROR_PLUGIN_LOAD, "the directory is world-writable");
  /* Sticky like /tmp is still writable by everybody. */
  g_assert_cmpint (g_chmod (dir, 01777), ==, 0);
  assert_load_refused (dir, "beta", TESSERA_ERROR_PLUGIN_LOAD, "world-writable");
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  test_tmpdir_free (dir);
}

static void
test_symlink_outside (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *target = g_build_filename (test_plugin_dir (), "tessera-alpha.so", NULL);
  g_autofree char *link = g_build_filename (dir, "tessera-alpha.so", NULL);
  g_assert_cmpint (symlink (target, link), ==, 0);
  assert_load_refused (dir, "alpha", TESSERA_ERROR_PLUGIN_LOAD, "outside the plugin directory");
  test_tmpdir_free (dir);
}

static void
test_relative_plugin_dir (void)
{
  assert_load_refused ("relative/plugins", "alpha", TESSERA_ERROR_PLUGIN_LOAD,
                       "not an absolute path");
}

static void
test_missing_plugin_dir (void)
{
  assert_load_refused ("/nonexistent/tessera/plugins", "alpha", TESSERA_ERROR_NO_PROVIDER,
                       "not installed");
}

/* $TESSERA_PLUGIN_DIR beats [engine] plugin-dir, which beats the default. */
static void
test_plugin_dir_precedence (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *extra = g_strdup_printf ("plugin-dir=%s\n", test_plugin_dir ());

  g_unsetenv ("TESSERA_PLUGIN_DIR");
  g_autoptr (TesseraEngine) from_config = test_engine_new ("alpha", extra, &error);
  g_assert_cmpstr (tessera_engine_get_plugin_dir (from_config), ==, test_plugin_dir ());
  g_assert_true (tessera_engine_load (from_config, &error));
  g_assert_no_error (error);

  g_autoptr (TesseraEngine) builtin = test_engine_new ("alpha", NULL, &error);
  g_assert_cmpstr (tessera_engine_get_plugin_dir (builtin), !=, test_plugin_dir ());
  g_assert_true (g_path_is_absolute (tessera_engine_get_plugin_dir (builtin)));

  g_setenv ("TESSERA_PLUGIN_DIR", test_plugin_dir (), TRUE);
  g_autoptr (TesseraEngine) from_env
      = test_engine_new ("alpha", "plugin-dir=/nonexistent/plugins\n", &error);
  g_assert_cmpstr (tessera_engine_get_plugin_dir (from_env), ==, test_plugin_dir ());
  g_assert_true (tessera_engine_load (from_env, &error));
}

/* A setuid program ignores $TESSERA_PLUGIN_DIR and $TESSERA_CONFIG. */
static void
test_setuid_ignores_environment (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("making a setuid-root binary needs root (CI runs as root)");
      return;
    }
  char *dir = test_tmpdir_new ();
  const char *probe = g_getenv ("TESSERA_TEST_ENVPROBE");
  g_assert_nonnull (probe);
  g_autofree char *copy = g_build_filename (dir, "envprobe", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (probe, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (copy, contents, (gssize) len, NULL));
  g_assert_cmpint (chown (copy, 0, 0), ==, 0);
  g_assert_cmpint (g_chmod (copy, 04755), ==, 0);

  const char *env[]
      = { "TESSERA_PLUGIN_DIR=/evil/plugins", "TESSERA_CONFIG=/evil/tessera.conf", NULL };
  /* First as root (not setuid: the environment applies), then as nobody. */
  const char *argv_plain[] = { copy, NULL };
  const char *argv_nobody[]
      = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", copy, NULL };
  g_autofree char *out_plain = NULL, *out_nobody = NULL, *err_nobody = NULL;
  gint status = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv_plain, (char **) env, G_SPAWN_DEFAULT, NULL,
                               NULL, &out_plain, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_nonnull (strstr (out_plain, "plugin-dir=/evil/plugins"));
  g_assert_nonnull (strstr (out_plain, "config=cannot read config file /evil/tessera.conf"));

  const char *env_path[]
      = { "TESSERA_PLUGIN_DIR=/evil/plugins", "TESSERA_CONFIG=/evil/tessera.conf",
          "PATH=/usr/bin:/bin:/usr/sbin:/sbin", NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv_nobody, (char **) env_path,
                               G_SPAWN_SEARCH_PATH_FROM_ENVP, NULL, NULL, &out_nobody, &err_nobody,
                               &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("setuid envprobe failed: %s %s", out_nobody, err_nobody);
  g_assert_null (strstr (out_nobody, "/evil"));
  g_assert_nonnull (strstr (out_nobody, "plugin-dir=/"));
  test_tmpdir_free (dir);
}

/* The trace a test plugin's constructor leaves ($TESSERA_TEST_CTOR_TRACE),
 * as one "name" per line; "" when none ran. */
static char *
read_trace (const char *trace)
{
  char *text = NULL;
  if (!g_file_get_contents (trace, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

/* A plugin whose ABI is wrong is refused before any of its code runs: its
 * constructor leaves no trace. A good plugin's does (the trace works). */
static void
test_abi_refused_before_code (void)
{
  const struct
  {
    const char *plugin;
    TesseraError code;
    const char *message;
  } refused[] = {
    { "badmajor", TESSERA_ERROR_ABI_MISMATCH, "built for Tessera backend ABI 99." },
    { "newminor", TESSERA_ERROR_ABI_MISMATCH, "rebuild the plugin" },
    { "nonote", TESSERA_ERROR_PLUGIN_LOAD, "no Tessera ABI note" },
  };
  char *dir = test_tmpdir_new ();
  g_autofree char *trace = g_build_filename (dir, "ctor.trace", NULL);
  g_setenv ("TESSERA_TEST_CTOR_TRACE", trace, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autofree char *so = copy_plugin (dir, refused[i].plugin, refused[i].plugin);
      assert_load_refused (dir, refused[i].plugin, refused[i].code, refused[i].message);
      g_autofree char *ran = read_trace (trace);
      g_assert_cmpstr (ran, ==, "");
    }
  /* A fresh copy of a good plugin (not yet mapped): its constructor runs. */
  g_autofree char *good = copy_plugin (dir, "alpha", "alpha");
  g_autoptr (GError) error = NULL;
  g_setenv ("TESSERA_PLUGIN_DIR", dir, TRUE);
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", NULL, &error);
  g_assert_true (tessera_engine_load (engine, &error));
  g_assert_no_error (error);
  g_setenv ("TESSERA_PLUGIN_DIR", test_plugin_dir (), TRUE);
  g_autofree char *ran = read_trace (trace);
  g_assert_cmpstr (ran, ==, "alpha\n");
  g_unsetenv ("TESSERA_TEST_CTOR_TRACE");
  test_tmpdir_free (dir);
}

static void
write_plugin (const char *dir, const char *name, const void *data, gsize len)
{
  g_autofree char *file = g_strdup_printf ("tessera-%s.so", name);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0755), ==, 0);
}

/* A minimal ELF shared object header for this system with one PT_NOTE
 * program header; the caller fills in the rest. */
typedef struct
{
  ElfW (Ehdr) eh;
  ElfW (Phdr) ph;
  ElfW (Nhdr) nh;
  char name[8];
  guint32 desc[2];
} MiniElf;

static MiniElf
mini_elf (guint32 major, guint32 minor)
{
  MiniElf m;
  memset (&m, 0, sizeof m);
  /* This test program's own header gives the class, byte order and machine. */
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *exe = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (self, &exe, &len, NULL));
  g_assert_cmpuint (len, >=, sizeof m.eh);
  memcpy (&m.eh, exe, sizeof m.eh);
  m.eh.e_type = ET_DYN;
  m.eh.e_phoff = offsetof (MiniElf, ph);
  m.eh.e_phentsize = sizeof m.ph;
  m.eh.e_phnum = 1;
  m.eh.e_shoff = 0;
  m.eh.e_shnum = 0;
  m.eh.e_shstrndx = 0;
  m.ph.p_type = PT_NOTE;
  m.ph.p_offset = offsetof (MiniElf, nh);
  m.ph.p_filesz = sizeof m - offsetof (MiniElf, nh);
  m.ph.p_align = 4;
  m.nh.n_namesz = sizeof TESSERA_BACKEND_NOTE_OWNER;
  m.nh.n_descsz = sizeof m.desc;
  m.nh.n_type = TESSERA_BACKEND_NOTE_TYPE;
  memcpy (m.name, TESSERA_BACKEND_NOTE_OWNER, sizeof TESSERA_BACKEND_NOTE_OWNER);
  m.desc[0] = major;
  m.desc[1] = minor;
  return m;
}

/* The note is read from a file a hostile user may have shaped: truncated
 * plugins and headers whose counts, offsets and sizes point anywhere are
 * refused with an error, never a crash or a huge allocation. */
static void
test_abi_note_hostile_files (void)
{
  char *dir = test_tmpdir_new ();
  g_autofree char *src = g_build_filename (test_plugin_dir (), "tessera-alpha.so", NULL);
  g_autofree char *so = NULL;
  gsize so_len = 0;
  g_assert_true (g_file_get_contents (src, &so, &so_len, NULL));

  const gsize cuts[] = { 0, 3, 4, 40, sizeof (ElfW (Ehdr)), sizeof (ElfW (Ehdr)) + 20, 600 };
  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_autofree char *name = g_strdup_printf ("cut%u", i);
      write_plugin (dir, name, so, cuts[i]);
      assert_load_refused (dir, name, TESSERA_ERROR_PLUGIN_LOAD, "cannot load plugin");
    }
  /* Cut in its last loaded segment: the note is there, but dlopen would
   * map pages past the end of the file (SIGBUS when touched): refused. */
  ElfW (Ehdr) eh;
  memcpy (&eh, so, sizeof eh);
  guint64 load_end = 0;
  for (guint i = 0; i < eh.e_phnum; i++)
    {
      ElfW (Phdr) ph;
      memcpy (&ph, so + eh.e_phoff + i * sizeof ph, sizeof ph);
      if (ph.p_type == PT_LOAD)
        load_end = MAX (load_end, ph.p_offset + ph.p_filesz);
    }
  g_assert_cmpuint (load_end, >, 4096);
  write_plugin (dir, "half", so, load_end - 1);
  assert_load_refused (dir, "half", TESSERA_ERROR_PLUGIN_LOAD, "truncated");

  const struct
  {
    const char *name;
    TesseraError code;
    const char *message;
  } crafted[] = {
    { "good", TESSERA_ERROR_PLUGIN_LOAD, "cannot load plugin" }, /* no code at all */
    { "wrongmajor", TESSERA_ERROR_ABI_MISMATCH, "built for Tessera backend ABI 7." },
    { "newerminor", TESSERA_ERROR_ABI_MISMATCH, "rebuild the plugin" },
    { "manyheaders", TESSERA_ERROR_PLUGIN_LOAD, "damaged program headers" },
    { "headersafterend", TESSERA_ERROR_PLUGIN_LOAD, "damaged program headers" },
    { "hugenotes", TESSERA_ERROR_PLUGIN_LOAD, "damaged note segment" },
    { "notesafterend", TESSERA_ERROR_PLUGIN_LOAD, "damaged note segment" },
    { "hugename", TESSERA_ERROR_PLUGIN_LOAD, "no Tessera ABI note" },
    { "hugedesc", TESSERA_ERROR_PLUGIN_LOAD, "no Tessera ABI note" },
    { "shortdesc", TESSERA_ERROR_PLUGIN_LOAD, "no Tessera ABI note" },
    { "otherclass", TESSERA_ERROR_PLUGIN_LOAD, "another ELF class" },
    { "executable", TESSERA_ERROR_PLUGIN_LOAD, "another ELF class" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (crafted); i++)
    {
      const char *name = crafted[i].name;
      MiniElf m = mini_elf (TESSERA_BACKEND_ABI_MAJOR, TESSERA_BACKEND_ABI_MINOR);
      if (g_str_equal (name, "wrongmajor"))
        m.desc[0] = 7;
      else if (g_str_equal (name, "newerminor"))
        m.desc[1] = TESSERA_BACKEND_ABI_MINOR + 1;
      else if (g_str_equal (name, "manyheaders"))
        m.eh.e_phnum = 0xffff;
      else if (g_str_equal (name, "headersafterend"))
        m.eh.e_phoff = G_MAXUINT64 - 8;
      else if (g_str_equal (name, "hugenotes"))
        m.ph.p_filesz = G_MAXUINT64 - 8;
      else if (g_str_equal (name, "notesafterend"))
        m.ph.p_offset = sizeof m;
      else if (g_str_equal (name, "hugename"))
        m.nh.n_namesz = G_MAXUINT32;
      else if (g_str_equal (name, "hugedesc"))
        m.nh.n_descsz = G_MAXUINT32;
      else if (g_str_equal (name, "shortdesc"))
        m.nh.n_descsz = 4;
      else if (g_str_equal (name, "otherclass"))
        m.eh.e_ident[EI_CLASS] = m.eh.e_ident[EI_CLASS] == ELFCLASS64 ? ELFCLASS32 : ELFCLASS64;
      else if (g_str_equal (name, "executable"))
        m.eh.e_type = ET_EXEC;
      write_plugin (dir, name, &m, sizeof m);
      g_test_message ("crafted %s", name);
      assert_load_refused (dir, name, crafted[i].code, crafted[i].message);
    }
  test_tmpdir_free (dir);
}

/* Code owned by another user (not root) is that user's code: refused. */
static void
test_owner (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("chown to another user needs root (CI runs as root)");
      return;
    }
  char *dir = test_tmpdir_new ();
  g_autofree char *so = copy_plugin (dir, "alpha", "alpha");
  g_assert_cmpint (chown (so, 65534, 65534), ==, 0);
  assert_load_refused (dir, "alpha", TESSERA_ERROR_PLUGIN_LOAD,
                       "the file is owned by uid 65534, neither root nor this process's user");
  g_assert_cmpint (chown (so, 0, 0), ==, 0);
  g_assert_cmpint (chown (dir, 65534, 65534), ==, 0);
  assert_load_refused (dir, "alpha", TESSERA_ERROR_PLUGIN_LOAD,
                       "the directory is owned by uid 65534");
  g_assert_cmpint (chown (dir, 0, 0), ==, 0);
  test_tmpdir_free (dir);
}

/* Copies the envprobe into @dir as a setuid-root program. */
static char *
setuid_probe (const char *dir)
{
  const char *probe = g_getenv ("TESSERA_TEST_ENVPROBE");
  g_assert_nonnull (probe);
  char *copy = g_build_filename (dir, "envprobe", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (probe, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (copy, contents, (gssize) len, NULL));
  g_assert_cmpint (chown (copy, 0, 0), ==, 0);
  g_assert_cmpint (g_chmod (copy, 04755), ==, 0);
  return copy;
}

/* A setuid program whose user picks its config (a product's --config) does
 * not load plugins from that config's plugin-dir: there a plugin owned by
 * nobody ran as root. Only the built-in dir is used. */
static void
test_setuid_ignores_config_plugin_dir (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("making a setuid-root binary needs root (CI runs as root)");
      return;
    }
  char *dir = test_tmpdir_new ();
  g_autofree char *probe = setuid_probe (dir);
  g_autofree char *evil = g_build_filename (dir, "evil", NULL);
  g_assert_cmpint (g_mkdir (evil, 0755), ==, 0);
  g_autofree char *so = copy_plugin (evil, "alpha", "alpha");
  g_autofree char *conf = g_build_filename (dir, "evil.conf", NULL);
  g_autofree char *conf_text = g_strdup_printf ("[engine]\nproviders=alpha\nplugin-dir=%s\n", evil);
  g_assert_true (g_file_set_contents (conf, conf_text, -1, NULL));
  g_autofree char *trace = g_build_filename (dir, "ctor.trace", NULL);
  g_autofree char *trace_env = g_strconcat ("TESSERA_TEST_CTOR_TRACE=", trace, NULL);
  const char *env[] = { trace_env, "PATH=/usr/bin:/bin:/usr/sbin:/sbin", NULL };

  /* Not setuid (root runs it): the config's plugin-dir applies, the plugin
   * loads and its constructor runs: the probe sees what a product would. */
  const char *argv_plain[] = { probe, conf, NULL };
  g_autofree char *out = NULL, *err = NULL;
  gint status = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv_plain, (char **) env, G_SPAWN_DEFAULT, NULL,
                               NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("as root: %s %s", out, err);
  g_autofree char *want_dir = g_strdup_printf ("config-plugin-dir=%s\n", evil);
  g_assert_nonnull (strstr (out, want_dir));
  g_assert_nonnull (strstr (out, "load=ok"));
  g_autofree char *ran = read_trace (trace);
  g_assert_cmpstr (ran, ==, "alpha\n");
  g_assert_cmpint (g_unlink (trace), ==, 0);

  /* Setuid root, run by nobody, with nobody's plugin in nobody's folder. */
  g_assert_cmpint (chown (evil, 65534, 65534), ==, 0);
  g_assert_cmpint (chown (so, 65534, 65534), ==, 0);
  const char *argv_nobody[]
      = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", probe, conf, NULL };
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_true (g_spawn_sync (NULL, (char **) argv_nobody, (char **) env,
                               G_SPAWN_SEARCH_PATH_FROM_ENVP, NULL, NULL, &out, &err, &status,
                               &error));
  g_assert_no_error (error);
  g_test_message ("setuid, as nobody: %s %s", out, err);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("setuid envprobe failed: %s %s", out, err);
  g_assert_null (strstr (out, evil));
  g_assert_nonnull (strstr (out, "config-plugin-dir=/"));
  g_assert_null (strstr (out, "load=ok"));
  g_autofree char *ran_nobody = read_trace (trace);
  g_assert_cmpstr (ran_nobody, ==, "");
  g_assert_cmpint (chown (evil, 0, 0), ==, 0);
  test_tmpdir_free (dir);
}

/* ---- TESSERA_PROVIDER ---- */

static void
test_forced_provider (void)
{
  g_autoptr (GError) error = NULL;
  g_setenv ("TESSERA_PROVIDER", "beta", TRUE);
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", NULL, &error);
  g_assert_true (tessera_engine_load (engine, &error));
  g_auto (GStrv) providers = tessera_engine_dup_providers (engine);
  g_assert_cmpstrv (providers, ((const char *[]){ "beta", NULL }));
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "beta");

  /* Only installed providers can be picked, and a path is not a name. */
  const char *bad[] = { "notinstalled", "../../evil", "/tmp/x" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_setenv ("TESSERA_PROVIDER", bad[i], TRUE);
      g_autoptr (TesseraEngine) e = test_engine_new ("alpha", NULL, NULL);
      g_clear_error (&error);
      g_assert_false (tessera_engine_load (e, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER);
      g_assert_nonnull (strstr (error->message, bad[i]));
    }
  g_unsetenv ("TESSERA_PROVIDER");
}

static void
test_forced_provider_help (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_setenv ("TESSERA_PROVIDER", "help", TRUE);
      g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", NULL, &error);
      g_assert_false (tessera_engine_load (engine, &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NO_PROVIDER);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*Supported values for TESSERA_PROVIDER:*");
  g_test_trap_assert_stderr ("*alpha*Tessera test plugin (alpha)*");
  g_test_trap_assert_stderr ("*badmajor*cannot load*ABI 99.*");
}

/* ---- older and newer vtables ---- */

static void
test_old_abi_plugin (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("oldabi", NULL, &error);
  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KRE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_license_validate (license, NULL, &error));

  /* Its vtable ends before release: the slot reads as NULL, not as garbage. */
  g_assert_false (tessera_license_release (license, NULL, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED);
  g_assert_false (tessera_license_is_held (license));
  g_clear_error (&error);
  g_assert_true (tessera_license_release (license, NULL, &error)); /* twice is fine */

  /* No fingerprint op: the core fingerprint answers. */
  g_autofree char *id = tessera_engine_dup_machine_id (engine, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, tessera_fingerprint_get_id (fp));
}

static void
test_fingerprint_op (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("alpha", NULL, &error);
  g_autofree char *id = tessera_engine_dup_machine_id (engine, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, "TEST-PLUG-INID-0001");

  g_autoptr (TesseraEngine) failing
      = test_engine_new ("alpha", "[provider:alpha]\nfingerprint=error:unavailable\n", &error);
  g_assert_null (tessera_engine_dup_machine_id (failing, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  g_autoptr (TesseraEngine) lying
      = test_engine_new ("alpha", "[provider:alpha]\nfingerprint=both\n", &error);
  g_assert_null (tessera_engine_dup_machine_id (lying, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_BACKEND);
  g_clear_error (&error);
  g_autoptr (TesseraEngine) silent
      = test_engine_new ("alpha", "[provider:alpha]\nfingerprint=null\n", &error);
  g_assert_null (tessera_engine_dup_machine_id (silent, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_BACKEND);
}

/* ---- in-process registration ---- */

static gpointer
inproc_create (TesseraBackendConfig *config, GError **error)
{
  return g_strdup (tessera_backend_config_get_name (config));
}

static TesseraLicense *
inproc_activate (gpointer instance, const char *product, TesseraActivateOptions *options,
                 GCancellable *cancellable, GError **error)
{
  TesseraLicense *license = tessera_license_new (product, TESSERA_LICENSE_KIND_SESSION, "inproc");
  tessera_license_set_attribute (license, "inproc.instance", instance);
  return license;
}

static gboolean
inproc_validate (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                 GError **error)
{
  return TRUE;
}

TESSERA_BACKEND_DEFINE (inproc, "In-process test backend", .create = inproc_create,
                        .destroy = g_free, .activate = inproc_activate, .validate = inproc_validate)

/* Registered under a plugin's name: the in-process one wins. */
TESSERA_BACKEND_DEFINE (alpha, "In-process alpha", .create = inproc_create, .destroy = g_free,
                        .activate = inproc_activate, .validate = inproc_validate)

static void
test_register_backend (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("inproc;alpha", NULL, &error);
  g_assert_true (tessera_engine_register_backend (engine, tessera_backend_entry_inproc (), &error));
  g_assert_no_error (error);
  g_assert_false (
      tessera_engine_register_backend (engine, tessera_backend_entry_inproc (), &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (tessera_engine_register_backend (engine, tessera_backend_entry_alpha (), &error));

  g_auto (GStrv) installed = tessera_engine_dup_installed (engine);
  g_assert_true (g_strv_contains ((const char *const *) installed, "inproc"));

  g_autoptr (TesseraLicense) license = tessera_engine_activate (engine, "KSE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_provider (license), ==, "inproc");
  g_assert_cmpstr (tessera_license_get_attribute (license, "inproc.instance"), ==, "inproc");

  /* After load the provider set is fixed. */
  g_assert_false (
      tessera_engine_register_backend (engine, tessera_backend_entry_inproc (), &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Forced through TESSERA_PROVIDER, the registered alpha replaces the plugin. */
  g_setenv ("TESSERA_PROVIDER", "alpha", TRUE);
  g_autoptr (TesseraEngine) forced = test_engine_new ("beta", NULL, &error);
  g_assert_true (tessera_engine_register_backend (forced, tessera_backend_entry_alpha (), &error));
  g_autoptr (TesseraLicense) l2 = tessera_engine_activate (forced, "KSE", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_license_get_attribute (l2, "inproc.instance"), ==, "alpha");
  g_unsetenv ("TESSERA_PROVIDER");
}

static void
test_register_bad_vtables (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraEngine) engine = test_engine_new ("inproc", NULL, &error);

  TesseraBackend bad = *tessera_backend_entry_inproc ();
  bad.abi_major = 2;
  g_assert_false (tessera_engine_register_backend (engine, &bad, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_ABI_MISMATCH);
  g_clear_error (&error);

  bad = *tessera_backend_entry_inproc ();
  bad.validate = NULL;
  g_assert_false (tessera_engine_register_backend (engine, &bad, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD);
  g_assert_nonnull (strstr (error->message, "'validate'"));
  g_clear_error (&error);

  bad = *tessera_backend_entry_inproc ();
  bad.name = "Not A Name";
  g_assert_false (tessera_engine_register_backend (engine, &bad, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PLUGIN_LOAD);
  g_clear_error (&error);

  g_test_expect_message ("Tessera", G_LOG_LEVEL_CRITICAL, "*backend != NULL*");
  g_assert_false (tessera_engine_register_backend (engine, NULL, &error));
  g_test_assert_expected_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("TESSERA_PLUGIN_DIR", test_plugin_dir (), TRUE);
  g_unsetenv ("TESSERA_PROVIDER");

  for (guint i = 0; i < G_N_ELEMENTS (bad_plugins); i++)
    {
      g_autofree char *path = g_strdup_printf ("/loader/refused/%s", bad_plugins[i].plugin);
      g_test_add_data_func (path, &bad_plugins[i], test_bad_plugin);
    }
  g_test_add_func ("/loader/good", test_load_good);
  g_test_add_func ("/loader/resident", test_resident);
  g_test_add_func ("/loader/world-writable-file", test_world_writable_file);
  g_test_add_func ("/loader/world-writable-dir", test_world_writable_dir);
  g_test_add_func ("/loader/symlink-outside", test_symlink_outside);
  g_test_add_func ("/loader/relative-dir", test_relative_plugin_dir);
  g_test_add_func ("/loader/missing-dir", test_missing_plugin_dir);
  g_test_add_func ("/loader/plugin-dir-precedence", test_plugin_dir_precedence);
  g_test_add_func ("/loader/setuid-ignores-environment", test_setuid_ignores_environment);
  g_test_add_func ("/loader/setuid-ignores-config-plugin-dir",
                   test_setuid_ignores_config_plugin_dir);
  g_test_add_func ("/loader/owner", test_owner);
  g_test_add_func ("/loader/abi-note/refused-before-code", test_abi_refused_before_code);
  g_test_add_func ("/loader/abi-note/hostile-files", test_abi_note_hostile_files);
  g_test_add_func ("/loader/forced-provider", test_forced_provider);
  g_test_add_func ("/loader/forced-provider-help", test_forced_provider_help);
  g_test_add_func ("/loader/old-abi", test_old_abi_plugin);
  g_test_add_func ("/loader/fingerprint-op", test_fingerprint_op);
  g_test_add_func ("/loader/register", test_register_backend);
  g_test_add_func ("/loader/register-bad", test_register_bad_vtables);
  return g_test_run ();
}
