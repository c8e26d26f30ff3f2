/* The machine ID must never change for a machine that already has licenses
 * (issue 20): every ID below was computed by the fingerprint code before it
 * was made faster, from fixed fake roots. A change to what is read, how it
 * is normalized or how it is hashed fails here, not in a customer's
 * activation. The cases are the ones the readers take shortcuts on: the
 * first /proc/cpuinfo entry (short, long, past the size limit, odd
 * separators) and the NIC files. */
#include "fake-root.h"

typedef void (*RootSetup) (const char *root);

typedef struct
{
  const char *name;
  RootSetup setup;
  /* tessera_fingerprint_to_string() of the old code for this root. */
  const char *expected;
} PinCase;

static void
setup_base (const char *root)
{
  (void) root;
}

/* More processors than the 64 KiB the reader keeps: the file is cut. */
static void
setup_many_cpus (const char *root)
{
  g_autofree char *cpuinfo
      = make_cpuinfo (300, "AMD EPYC 7763 64-Core Processor", "2445.406", "0xa001144");

  g_assert_cmpuint (strlen (cpuinfo), >, 64 * 1024);
  root_write (root, "proc/cpuinfo", cpuinfo);
}

/* A first entry longer than any one read: the flags line alone is ~9 KiB,
 * blank lines come first and the entries are separated by a line of
 * blanks, not an empty one. */
static void
setup_long_first_entry (const char *root)
{
  GString *s = g_string_new ("\n \n");
  g_autofree char *flags = g_strnfill (9000, 'x');

  for (int i = 0; i < 3; i++)
    g_string_append_printf (s,
                            "processor\t: %d\n"
                            "flags\t\t: %s\n"
                            "vendor_id\t: AuthenticAMD\n"
                            "model name\t: CPU %d\n"
                            " \t\n",
                            i, flags, i);
  root_write (root, "proc/cpuinfo", s->str);
  g_string_free (s, TRUE);
}

/* One ARM entry, no blank line after it, the file ends without a newline. */
static void
setup_arm_no_separator (const char *root)
{
  root_write (root, "proc/cpuinfo",
              "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n"
              "CPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1");
}

/* A first entry that ends exactly where a read of 4 KiB would. */
static void
setup_entry_at_4k (const char *root)
{
  const char *head = "vendor_id\t: GenuineIntel\nflags\t\t: ";
  const char *tail = "\n\nvendor_id\t: Other\n";
  gsize pad = 4096 - strlen (head) - 2;
  g_autofree char *fill = g_strnfill (pad, 'f');
  g_autofree char *cpuinfo = g_strconcat (head, fill, tail, NULL);

  g_assert_cmpuint (strlen (head) + pad + 2, ==, 4096);
  root_write (root, "proc/cpuinfo", cpuinfo);
}

/* A dangling addr_assign_type exists but cannot be read: not permanent. */
static void
setup_nic_dangling_assign (const char *root)
{
  g_autofree char *assign = g_build_filename (root, "sys/class/net/eth1/addr_assign_type", NULL);

  root_add_nic (root, "eth1", MAC_2, NIC_PCI, "04", NULL);
  g_assert_cmpint (symlink ("nowhere", assign), ==, 0);
}

/* No addr_assign_type at all (old kernels): permanent. */
static void
setup_nic_no_assign (const char *root)
{
  root_add_nic (root, "eth1", MAC_2, NIC_PCI, "04", NULL);
}

static const PinCase pin_cases[] = {
  { "base", setup_base,
    "tessera-fp1 2FZ8-JTA0-FE7C-DA2X "
    "machine-id=bd0ccd7d215383e5 dmi-uuid=143a1ea7aff53009 "
    "cpu=8021a99e82d9920a nic=6fc1b184f499bf9f user=e931d00934d814fe" },
  { "cpu/many", setup_many_cpus,
    "tessera-fp1 26D4-7FH8-3DB8-9RVG "
    "machine-id=bd0ccd7d215383e5 dmi-uuid=143a1ea7aff53009 "
    "cpu=00ae4605a54a9bc2 nic=6fc1b184f499bf9f user=e931d00934d814fe" },
  { "cpu/long-first-entry", setup_long_first_entry,
    "tessera-fp1 BM0W-ZKDW-AWCC-ZS5G "
    "machine-id=bd0ccd7d215383e5 dmi-uuid=143a1ea7aff53009 "
    "cpu=9326799b3a7b78ef nic=6fc1b184f499bf9f user=e931d00934d814fe" },
  { "cpu/arm-no-separator", setup_arm_no_separator,
    "tessera-fp1 47XV-8590-RHQY-00MS "
    "machine-id=bd0ccd7d215383e5 dmi-uuid=143a1ea7aff53009 "
    "cpu=a6ff9b4ef5603727 nic=6fc1b184f499bf9f user=e931d00934d814fe" },
  { "cpu/entry-at-4k", setup_entry_at_4k,
    "tessera-fp1 GYS6-DDB1-27EX-4N9E "
    "machine-id=bd0ccd7d215383e5 dmi-uuid=143a1ea7aff53009 "
    "cpu=063311e517fe480d nic=6fc1b184f499bf9f user=e931d00934d814fe" },
  { "nic/dangling-assign-type", setup_nic_dangling_assign,
    "tessera-fp1 2FZ8-JTA0-FE7C-DA2X "
    "machine-id=bd0ccd7d215383e5 dmi-uuid=143a1ea7aff53009 "
    "cpu=8021a99e82d9920a nic=6fc1b184f499bf9f user=e931d00934d814fe" },
  { "nic/no-assign-type", setup_nic_no_assign,
    "tessera-fp1 Q6R7-3ZYC-X5ER-GA94 "
    "machine-id=bd0ccd7d215383e5 dmi-uuid=143a1ea7aff53009 "
    "cpu=8021a99e82d9920a nic=e2ca2c6211833619 user=e931d00934d814fe" },
};

static void
test_pinned (gconstpointer data)
{
  const PinCase *c = data;
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = NULL;
  g_autofree char *str = NULL;

  c->setup (root);
  fp = tessera_fingerprint_new_for_root (root, USER_UID, USER_NAME, &error);
  g_assert_no_error (error);
  str = tessera_fingerprint_to_string (fp);
  g_assert_cmpstr (str, ==, c->expected);
}

/* The default entry point may take shortcuts for "/" that a fake root does
 * not; both must see the same machine. */
static void
test_real_root_same_as_generic (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fast = tessera_fingerprint_new (&error);
  g_autoptr (TesseraFingerprint) generic = NULL;
  g_autofree char *fast_str = NULL;
  g_autofree char *generic_str = NULL;

  g_assert_no_error (error);
  generic = tessera_fingerprint_new_for_root ("/", (guint32) getuid (), NULL, &error);
  g_assert_no_error (error);
  fast_str = tessera_fingerprint_to_string (fast);
  generic_str = tessera_fingerprint_to_string (generic);
  g_assert_cmpstr (fast_str, ==, generic_str);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (pin_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/fingerprint-pin/%s", pin_cases[i].name);
      g_test_add_data_func (path, &pin_cases[i], test_pinned);
    }
  g_test_add_func ("/fingerprint-pin/real-root", test_real_root_same_as_generic);
  return g_test_run ();
}
