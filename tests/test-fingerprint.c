/* Tests of the machine fingerprint against fake roots: each test builds the
 * sysfs/procfs/etc files a machine would have and checks one stability rule
 * of docs/fingerprint.md. */
#include <tessera/tessera.h>

#include <glib/gstdio.h>

#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fake-root.h"

#define ID_REGEX "^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$"

static TesseraFingerprint *
fingerprint_default (const char *root)
{
  return fake_root_fingerprint (root, USER_UID, USER_NAME);
}

static void
assert_same_id (const char *root_a, const char *root_b)
{
  g_autoptr (TesseraFingerprint) a = fingerprint_default (root_a);
  g_autoptr (TesseraFingerprint) b = fingerprint_default (root_b);
  g_auto (GStrv) diff = tessera_fingerprint_diff (a, b);

  g_assert_cmpstr (tessera_fingerprint_get_id (a), ==, tessera_fingerprint_get_id (b));
  g_assert_cmpuint (g_strv_length (diff), ==, 0);
}

/* @expected_diff is NULL-terminated. */
static void
assert_different_id (TesseraFingerprint *a, TesseraFingerprint *b, const char *const *expected_diff)
{
  g_auto (GStrv) diff = tessera_fingerprint_diff (a, b);
  g_auto (GStrv) diff_back = tessera_fingerprint_diff (b, a);

  g_assert_cmpstr (tessera_fingerprint_get_id (a), !=, tessera_fingerprint_get_id (b));
  g_assert_cmpstrv (diff, expected_diff);
  g_assert_cmpstrv (diff_back, expected_diff);
}

/* ---- tests ---- */

/* Nothing time-dependent goes in: the same machine computed twice, or
 * rebuilt from scratch ("after a reboot"), has the same ID. */
static void
test_stable (void)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (FakeRoot) rebooted = make_base_root ();
  g_autoptr (TesseraFingerprint) a = fingerprint_default (root);
  g_autoptr (TesseraFingerprint) b = fingerprint_default (root);
  g_autoptr (TesseraFingerprint) c = fingerprint_default (rebooted);
  g_autofree char *sa = tessera_fingerprint_to_string (a);
  g_autofree char *sc = tessera_fingerprint_to_string (c);

  g_assert_cmpstr (tessera_fingerprint_get_id (a), ==, tessera_fingerprint_get_id (b));
  g_assert_cmpstr (tessera_fingerprint_get_id (a), ==, tessera_fingerprint_get_id (c));
  g_assert_cmpstr (sa, ==, sc);
}

/* What tessera_fingerprint_id_is_valid() accepts is exactly the form of
 * an ID this machine computes: tools check what a person typed with it. */
static void
test_id_is_valid (void)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_default (root);
  g_assert_true (tessera_fingerprint_id_is_valid (tessera_fingerprint_get_id (fp)));
  g_assert_true (tessera_fingerprint_id_is_valid ("0123-4567-89AB-CDEF"));
  g_assert_true (tessera_fingerprint_id_is_valid ("VWXY-Z000-0000-0000"));
  static const char *const bad[] = {
    "",
    "hello",
    "0123-4567-89ab-cdef",  /* lower case */
    "0123-4567-89AB-CDEI",  /* I is not Crockford base32 */
    "0123-4567-89AB-CDEL",  /* nor L */
    "0123-4567-89AB-CDEO",  /* nor O */
    "0123-4567-89AB-CDEU",  /* nor U */
    "0123456789ABCDEF",     /* no dashes */
    "0123-4567-89AB-CDEF-", /* too long */
    "0123-4567-89AB-CDE",   /* too short */
    "0123_4567_89AB_CDEF",
    " 0123-4567-89AB-CDE",
    "0123-4567-89AB-CDEF\n",
    "../../etc/passwd00",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    if (tessera_fingerprint_id_is_valid (bad[i]))
      g_error ("'%s' taken for a machine ID", bad[i]);
  g_assert_false (tessera_fingerprint_id_is_valid (NULL));
}

static void
test_format (void)
{
  static const char *const all[] = { "machine-id", "dmi-uuid", "cpu", "nic", "user", NULL };
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_default (root);
  g_auto (GStrv) components = tessera_fingerprint_dup_components (fp);
  g_autofree char *str = tessera_fingerprint_to_string (fp);
  g_autofree char *expected_prefix = NULL;
  const char *id = tessera_fingerprint_get_id (fp);

  g_assert_cmpuint (strlen (id), ==, 19);
  g_assert_true (g_regex_match_simple (ID_REGEX, id, 0, 0));
  g_assert_cmpstrv (components, all);
  for (const char *const *c = all; *c != NULL; c++)
    {
      const char *digest = tessera_fingerprint_get_component_digest (fp, *c);
      g_assert_nonnull (digest);
      g_assert_true (g_regex_match_simple ("^[0-9a-f]{16}$", digest, 0, 0));
    }
  g_assert_null (tessera_fingerprint_get_component_digest (fp, "gpu"));

  expected_prefix = g_strdup_printf ("tessera-fp1 %s machine-id=", id);
  g_assert_true (g_str_has_prefix (str, expected_prefix));
  g_assert_true (g_regex_match_simple ("^tessera-fp1 \\S{19} machine-id=[0-9a-f]{16} "
                                       "dmi-uuid=[0-9a-f]{16} cpu=[0-9a-f]{16} "
                                       "nic=[0-9a-f]{16} user=[0-9a-f]{16}$",
                                       str, 0, 0));
}

/* Two users on one machine need two licenses: the account is part of the ID. */
static void
test_user (void)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) alice = fake_root_fingerprint (root, USER_UID, USER_NAME);
  g_autoptr (TesseraFingerprint) bob = fake_root_fingerprint (root, USER_UID + 1, "bob");
  g_autoptr (TesseraFingerprint) other_uid = fake_root_fingerprint (root, USER_UID + 1, USER_NAME);
  g_autoptr (TesseraFingerprint) other_name = fake_root_fingerprint (root, USER_UID, "alice2");
  static const char *const user_only[] = { "user", NULL };

  assert_different_id (alice, bob, user_only);
  assert_different_id (alice, other_uid, user_only);
  assert_different_id (alice, other_name, user_only);
  g_assert_cmpstr (tessera_fingerprint_get_component_digest (alice, "cpu"), ==,
                   tessera_fingerprint_get_component_digest (bob, "cpu"));
}

/* NULL looks the uid up; a uid with no passwd entry falls back to "uid<N>". */
static void
test_user_lookup (void)
{
  const guint32 ghost = 3999999999u;
  struct passwd *pw;
  g_autoptr (FakeRoot) root = NULL;
  g_autoptr (TesseraFingerprint) looked_up = NULL;
  g_autoptr (TesseraFingerprint) explicit_name = NULL;
  g_autoptr (TesseraFingerprint) me = NULL;
  g_autoptr (TesseraFingerprint) me_named = NULL;

  if (getpwuid (ghost) != NULL)
    {
      g_test_skip ("uid 3999999999 exists here");
      return;
    }
  root = make_base_root ();
  looked_up = fake_root_fingerprint (root, ghost, NULL);
  explicit_name = fake_root_fingerprint (root, ghost, "uid3999999999");
  g_assert_cmpstr (tessera_fingerprint_get_id (looked_up), ==,
                   tessera_fingerprint_get_id (explicit_name));

  pw = getpwuid (getuid ());
  if (pw != NULL)
    {
      g_autofree char *name = g_strdup (pw->pw_name);
      me = fake_root_fingerprint (root, (guint32) getuid (), NULL);
      me_named = fake_root_fingerprint (root, (guint32) getuid (), name);
      g_assert_cmpstr (tessera_fingerprint_get_id (me), ==, tessera_fingerprint_get_id (me_named));
    }
}

/* Enumeration order and interface names must not matter, nor MAC case. */
static void
test_nic_order (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();
  g_autofree char *upper = g_ascii_strup (MAC_2, -1);

  root_add_nic (a, "eth1", MAC_2, NIC_PCI, "04", "0");

  root_remove (b, "sys/class/net/eth0");
  root_add_nic (b, "enp4s0", upper, NIC_PCI, "19", "0");
  root_add_nic (b, "wlp0s20f3", MAC_1, NIC_PCI_DIR, NULL, "0");
  assert_same_id (a, b);
}

/* A `device` directory (copied sysfs) counts like a symlink. */
static void
test_nic_device_dir (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();

  root_remove (b, "sys/class/net/eth0");
  root_add_nic (b, "eth0", MAC_1, NIC_PCI_DIR, NULL, "0");
  assert_same_id (a, b);
}

/* "/usb" is looked for below the root only: a fake root kept under a
 * directory named usb-something still has its PCI NIC. */
static void
test_nic_root_under_usb_dir (void)
{
  g_autoptr (FakeRoot) parent = fake_root_new ();
  g_autofree char *root = g_build_filename (parent, "usb-stick", "root", NULL);
  g_autoptr (TesseraFingerprint) fp = NULL;

  g_assert_cmpint (g_mkdir_with_parents (root, 0755), ==, 0);
  root_write (root, "etc/machine-id", MACHINE_ID "\n");
  root_add_nic (root, "eth0", MAC_1, NIC_PCI, "03", "0");
  fp = fingerprint_default (root);
  g_assert_nonnull (tessera_fingerprint_get_component_digest (fp, "nic"));
}

/* Two NICs reporting one address (a bond's members) count once. */
static void
test_nic_duplicate_mac (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();

  root_add_nic (b, "eth1", MAC_1, NIC_PCI, "04", "0");
  assert_same_id (a, b);
}

/* Plugging in a USB dongle or tethering a phone is not another machine. */
static void
test_nic_usb (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();

  root_add_nic (b, "enx00e04c680001", "00:e0:4c:68:00:01", NIC_USB, "1", "0");
  root_add_nic (b, "usb0", "00:e0:4c:68:00:02", NIC_USB_ABS, "2", "0");
  assert_same_id (a, b);
}

/* Bridges, veths, tunnels: containers and VPNs come and go. */
static void
test_nic_virtual (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();

  root_add_nic (b, "docker0", "02:42:ac:11:00:01", NIC_VIRTUAL, NULL, "3");
  root_add_nic (b, "veth1a2b3c", "ae:12:34:56:78:9a", NIC_VIRTUAL, NULL, "1");
  root_add_nic (b, "tun0", "00:00:00:00:00:00", NIC_VIRTUAL, NULL, NULL);
  assert_same_id (a, b);
}

/* Random (1), stolen (2) and set (3) addresses are not the hardware's; a
 * physical NIC without a hardware address (all zero) identifies nothing. */
static void
test_nic_not_permanent (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();

  root_add_nic (b, "wlan0", "da:a1:19:00:00:01", NIC_PCI, "05", "1");
  root_add_nic (b, "eth2", "da:a1:19:00:00:02", NIC_PCI, "06", "3");
  root_add_nic (b, "ib0", "00:00:00:00:00:00", NIC_PCI, "07", "0");
  root_add_nic (b, "eth3", "not-a-mac", NIC_PCI, "08", "0");
  assert_same_id (a, b);
}

/* Without addr_assign_type (old kernels) a physical NIC's address counts. */
static void
test_nic_no_assign_type (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();

  root_remove (b, "sys/class/net/eth0");
  root_add_nic (b, "eth0", MAC_1, NIC_PCI, "03", NULL);
  assert_same_id (a, b);
}

/* A VM cloned from a template keeps /etc/machine-id but gets its own DMI
 * UUID from the hypervisor: it is another machine. */
static void
test_vm_clone_dmi (void)
{
  g_autoptr (FakeRoot) original = make_base_root ();
  g_autoptr (FakeRoot) clone = make_base_root ();
  static const char *const expected[] = { "dmi-uuid", NULL };

  root_write (clone, "sys/class/dmi/id/product_uuid", "9b2f6a1e-0c4d-4e8f-a1b2-c3d4e5f60718\n");
  {
    g_autoptr (TesseraFingerprint) a = fingerprint_default (original);
    g_autoptr (TesseraFingerprint) b = fingerprint_default (clone);
    assert_different_id (a, b, expected);
  }
}

/* ...or its own MAC. */
static void
test_vm_clone_mac (void)
{
  g_autoptr (FakeRoot) original = make_base_root ();
  g_autoptr (FakeRoot) clone = make_base_root ();
  static const char *const expected[] = { "nic", NULL };

  root_remove (clone, "sys/class/net/eth0");
  root_add_nic (clone, "eth0", "52:54:00:65:43:21", NIC_PCI, "03", "0");
  {
    g_autoptr (TesseraFingerprint) a = fingerprint_default (original);
    g_autoptr (TesseraFingerprint) b = fingerprint_default (clone);
    assert_different_id (a, b, expected);
  }
}

/* Resizing a VM, frequency scaling and microcode updates keep the ID; a
 * different processor model does not. */
static void
test_cpu (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();
  g_autoptr (FakeRoot) c = make_base_root ();
  g_autofree char *resized
      = make_cpuinfo (8, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "1200.000", "0x5003707");
  g_autofree char *other
      = make_cpuinfo (2, "Intel(R) Xeon(R) Gold 6348 CPU @ 2.60GHz", "2494.140", "0x5003604");
  static const char *const expected[] = { "cpu", NULL };

  root_write (b, "proc/cpuinfo", resized);
  assert_same_id (a, b);

  root_write (c, "proc/cpuinfo", other);
  {
    g_autoptr (TesseraFingerprint) fa = fingerprint_default (a);
    g_autoptr (TesseraFingerprint) fc = fingerprint_default (c);
    assert_different_id (fa, fc, expected);
  }
}

/* Only the first processor entry is read: a later entry that differs (a
 * hybrid CPU's efficiency cores) changes nothing. */
static void
test_cpu_first_entry_only (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();
  GString *s = g_string_new (NULL);
  g_autofree char *cpuinfo = NULL;

  append_cpu_entry (s, 0, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "2494.140", "0x5003604");
  append_cpu_entry (s, 1, "Something else entirely", "800.000", "0x1");
  g_string_append (s, "processor\t: 2\nCPU part\t: 0xd08\n\n");
  cpuinfo = g_string_free (s, FALSE);
  root_write (b, "proc/cpuinfo", cpuinfo);
  assert_same_id (a, b);
}

/* An ARM cpuinfo has no vendor_id/model name but still identifies the CPU. */
static void
test_cpu_arm (void)
{
  g_autoptr (FakeRoot) root = fake_root_new ();
  g_autoptr (TesseraFingerprint) fp = NULL;
  g_autoptr (TesseraFingerprint) other = NULL;
  g_auto (GStrv) components = NULL;
  static const char *const expected[] = { "cpu", "user", NULL };

  root_write (root, "proc/cpuinfo",
              "processor\t: 0\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd evtstrm\n"
              "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
              "CPU part\t: 0xd08\nCPU revision\t: 3\n\n");
  fp = fingerprint_default (root);
  components = tessera_fingerprint_dup_components (fp);
  g_assert_cmpstrv (components, expected);

  root_write (root, "proc/cpuinfo",
              "processor\t: 0\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd evtstrm\n"
              "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
              "CPU part\t: 0xd0c\nCPU revision\t: 3\n\n");
  other = fingerprint_default (root);
  g_assert_cmpstr (tessera_fingerprint_get_id (fp), !=, tessera_fingerprint_get_id (other));
}

/* Placeholder UUIDs are shared by every machine of a careless vendor: they
 * must count as no UUID at all. */
static void
test_dmi_placeholder (gconstpointer data)
{
  const char *uuid = data;
  g_autoptr (FakeRoot) with_placeholder = make_base_root ();
  g_autoptr (FakeRoot) without = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = NULL;
  g_auto (GStrv) components = NULL;
  static const char *const expected[] = { "machine-id", "cpu", "nic", "user", NULL };

  root_write (with_placeholder, "sys/class/dmi/id/product_uuid", uuid);
  root_remove (without, "sys/class/dmi/id/product_uuid");
  assert_same_id (with_placeholder, without);

  fp = fingerprint_default (with_placeholder);
  components = tessera_fingerprint_dup_components (fp);
  g_assert_cmpstrv (components, expected);
  g_assert_null (tessera_fingerprint_get_component_digest (fp, "dmi-uuid"));
}

/* The D-Bus copy stands in for /etc/machine-id, which may also be
 * "uninitialized" (first boot pending) or unreadable. */
static void
test_machine_id_fallback (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();
  g_autoptr (FakeRoot) c = make_base_root ();
  g_autoptr (FakeRoot) d = make_base_root ();

  root_remove (b, "etc/machine-id");
  root_write (b, "var/lib/dbus/machine-id", MACHINE_ID "\n");
  assert_same_id (a, b);

  root_write (c, "etc/machine-id", "uninitialized\n");
  root_write (c, "var/lib/dbus/machine-id", "  " MACHINE_ID "  \n");
  assert_same_id (a, c);

  /* A directory where the file should be: unreadable as a file. */
  root_remove (d, "etc/machine-id");
  root_mkdir (d, "etc/machine-id");
  root_write (d, "var/lib/dbus/machine-id", MACHINE_ID);
  assert_same_id (a, d);
}

/* Special files must not hang or crash the reader. */
static void
test_special_files (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();
  g_autofree char *fifo = g_build_filename (b, "sys/class/dmi/id/product_uuid", NULL);
  g_autoptr (TesseraFingerprint) fp = NULL;

  root_remove (a, "sys/class/dmi/id/product_uuid");
  root_remove (b, "sys/class/dmi/id/product_uuid");
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  assert_same_id (a, b);

  fp = fingerprint_default (b);
  g_assert_null (tessera_fingerprint_get_component_digest (fp, "dmi-uuid"));
}

/* A file over the size limit is ignored rather than read whole. */
static void
test_oversized_file (void)
{
  g_autoptr (FakeRoot) a = make_base_root ();
  g_autoptr (FakeRoot) b = make_base_root ();
  g_autofree char *huge = g_strnfill (256 * 1024, 'a');

  root_remove (a, "sys/class/dmi/id/product_uuid");
  root_write (b, "sys/class/dmi/id/product_uuid", huge);
  assert_same_id (a, b);
}

static void
test_unavailable (void)
{
  g_autoptr (FakeRoot) empty = fake_root_new ();
  g_autoptr (FakeRoot) useless = fake_root_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = NULL;

  fp = tessera_fingerprint_new_for_root (empty, USER_UID, USER_NAME, &error);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  g_assert_null (fp);
  g_assert_nonnull (strstr (error->message, "machine-id"));
  g_assert_nonnull (strstr (error->message, "product_uuid"));
  g_assert_nonnull (strstr (error->message, "cpuinfo"));
  g_clear_error (&error);

  /* Everything present but none of it qualifying. */
  root_write (useless, "etc/machine-id", "\n");
  root_write (useless, "var/lib/dbus/machine-id", "uninitialized\n");
  root_write (useless, "sys/class/dmi/id/product_uuid", "00000000-0000-0000-0000-000000000000\n");
  root_write (useless, "proc/cpuinfo", "processor\t: 0\nbogomips\t: 4999.99\ncpu MHz\t: 1.0\n");
  root_add_nic (useless, "enx1", "00:e0:4c:68:00:01", NIC_USB, "1", "0");
  root_add_nic (useless, "br0", "02:42:ac:11:00:01", NIC_VIRTUAL, NULL, "0");
  root_add_nic (useless, "eth0", "da:a1:19:00:00:01", NIC_PCI, "03", "3");
  fp = tessera_fingerprint_new_for_root (useless, USER_UID, USER_NAME, &error);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
  g_assert_null (fp);
}

static void
test_invalid_root (void)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autofree char *missing = g_build_filename (root, "does-not-exist", NULL);
  g_autofree char *file = g_build_filename (root, "etc/machine-id", NULL);
  const char *bad[] = { missing, file, "" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (TesseraFingerprint) fp
          = tessera_fingerprint_new_for_root (bad[i], USER_UID, USER_NAME, &error);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      g_assert_null (fp);
    }
}

/* Only the cpu is available: still a fingerprint, with just what is there. */
static void
test_partial (void)
{
  g_autoptr (FakeRoot) root = fake_root_new ();
  g_autofree char *cpuinfo = make_cpuinfo (1, "Some CPU", "1000.000", "0x1");
  g_autoptr (TesseraFingerprint) fp = NULL;
  g_auto (GStrv) components = NULL;
  static const char *const expected[] = { "cpu", "user", NULL };

  root_write (root, "proc/cpuinfo", cpuinfo);
  fp = fingerprint_default (root);
  components = tessera_fingerprint_dup_components (fp);
  g_assert_cmpstrv (components, expected);
  g_assert_null (tessera_fingerprint_get_component_digest (fp, "machine-id"));
  g_assert_null (tessera_fingerprint_get_component_digest (fp, "nic"));
}

static void
test_round_trip (void)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (FakeRoot) clone = make_base_root ();
  g_autoptr (FakeRoot) partial = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_default (root);
  g_autoptr (TesseraFingerprint) parsed = NULL;
  g_autoptr (TesseraFingerprint) clone_fp = NULL;
  g_autoptr (TesseraFingerprint) partial_fp = NULL;
  g_autoptr (TesseraFingerprint) ref = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *str = tessera_fingerprint_to_string (fp);
  g_autofree char *str2 = NULL;
  g_auto (GStrv) diff_same = NULL;
  g_auto (GStrv) diff_clone = NULL;
  g_auto (GStrv) diff_partial = NULL;
  g_auto (GStrv) components = NULL;
  g_auto (GStrv) parsed_components = NULL;
  static const char *const expected_clone[] = { "dmi-uuid", NULL };
  static const char *const expected_partial[] = { "machine-id", "nic", NULL };

  parsed = tessera_fingerprint_new_from_string (str, &error);
  g_assert_no_error (error);
  g_assert_nonnull (parsed);
  g_assert_cmpstr (tessera_fingerprint_get_id (parsed), ==, tessera_fingerprint_get_id (fp));
  str2 = tessera_fingerprint_to_string (parsed);
  g_assert_cmpstr (str2, ==, str);
  components = tessera_fingerprint_dup_components (fp);
  parsed_components = tessera_fingerprint_dup_components (parsed);
  g_assert_cmpstrv (parsed_components, components);
  diff_same = tessera_fingerprint_diff (fp, parsed);
  g_assert_cmpuint (g_strv_length (diff_same), ==, 0);

  /* The stored string of a license explains why this clone does not match. */
  root_write (clone, "sys/class/dmi/id/product_uuid", "9b2f6a1e-0c4d-4e8f-a1b2-c3d4e5f60718\n");
  clone_fp = fingerprint_default (clone);
  diff_clone = tessera_fingerprint_diff (parsed, clone_fp);
  g_assert_cmpstrv (diff_clone, expected_clone);

  /* Components present in only one side count as differing. */
  root_remove (partial, "etc/machine-id");
  root_remove (partial, "sys/class/net/eth0");
  partial_fp = fingerprint_default (partial);
  diff_partial = tessera_fingerprint_diff (parsed, partial_fp);
  g_assert_cmpstrv (diff_partial, expected_partial);

  ref = tessera_fingerprint_ref (parsed);
  g_assert_true (ref == parsed);
}

typedef struct
{
  const char *name;
  const char *input;
  const char *message; /* part of the expected error message */
} MalformedCase;

#define VALID_ID "0123-4567-89AB-CDEF"
#define HEX "0123456789abcdef"

static const MalformedCase malformed_cases[] = {
  { "empty", "", "does not start" },
  { "space", " ", "does not start" },
  { "prefix-only", "tessera-fp1", "machine ID" },
  { "prefix-space", "tessera-fp1 ", "machine ID" },
  { "other-version", "tessera-fp2 " VALID_ID " machine-id=" HEX, "does not start" },
  { "upper-prefix", "TESSERA-FP1 " VALID_ID " machine-id=" HEX, "does not start" },
  { "leading-space", " tessera-fp1 " VALID_ID " machine-id=" HEX, "does not start" },
  { "id-lowercase", "tessera-fp1 0123-4567-89ab-cdef machine-id=" HEX, "machine ID" },
  { "id-short", "tessera-fp1 0123-4567-89AB-CDE machine-id=" HEX, "machine ID" },
  { "id-long", "tessera-fp1 0123-4567-89AB-CDEF0 machine-id=" HEX, "machine ID" },
  { "id-no-dashes", "tessera-fp1 0123456789ABCDEF machine-id=" HEX, "machine ID" },
  { "id-misplaced-dash", "tessera-fp1 0123-45678-9AB-CDEF machine-id=" HEX, "machine ID" },
  { "id-letter-u", "tessera-fp1 0123-4567-89AB-CDEU machine-id=" HEX, "machine ID" },
  { "id-letter-o", "tessera-fp1 O123-4567-89AB-CDEF machine-id=" HEX, "machine ID" },
  { "id-letter-i", "tessera-fp1 I123-4567-89AB-CDEF machine-id=" HEX, "machine ID" },
  { "id-letter-l", "tessera-fp1 L123-4567-89AB-CDEF machine-id=" HEX, "machine ID" },
  { "no-components", "tessera-fp1 " VALID_ID, "no components" },
  { "trailing-space", "tessera-fp1 " VALID_ID " machine-id=" HEX " ", "empty field" },
  { "double-space", "tessera-fp1 " VALID_ID "  machine-id=" HEX, "empty field" },
  { "trailing-newline", "tessera-fp1 " VALID_ID " machine-id=" HEX "\n", "16 lowercase hex" },
  { "tab", "tessera-fp1 " VALID_ID "\tmachine-id=" HEX, "machine ID" },
  { "no-equals", "tessera-fp1 " VALID_ID " machine-id", "NAME=DIGEST" },
  { "unknown-component", "tessera-fp1 " VALID_ID " gpu=" HEX, "unknown component" },
  { "empty-name", "tessera-fp1 " VALID_ID " =" HEX, "unknown component" },
  { "upper-name", "tessera-fp1 " VALID_ID " MACHINE-ID=" HEX, "unknown component" },
  { "empty-digest", "tessera-fp1 " VALID_ID " machine-id=", "16 lowercase hex" },
  { "short-digest", "tessera-fp1 " VALID_ID " machine-id=0123456789abcde", "16 lowercase hex" },
  { "long-digest", "tessera-fp1 " VALID_ID " machine-id=" HEX "0", "16 lowercase hex" },
  { "upper-digest", "tessera-fp1 " VALID_ID " machine-id=0123456789ABCDEF", "16 lowercase hex" },
  { "non-hex-digest", "tessera-fp1 " VALID_ID " machine-id=0123456789abcdeg", "16 lowercase hex" },
  { "double-equals", "tessera-fp1 " VALID_ID " machine-id==" HEX, "16 lowercase hex" },
  { "duplicate", "tessera-fp1 " VALID_ID " machine-id=" HEX " machine-id=" HEX, "twice" },
  { "out-of-order", "tessera-fp1 " VALID_ID " cpu=" HEX " machine-id=" HEX, "out of order" },
  { "user-only", "tessera-fp1 " VALID_ID " user=" HEX, "no hardware" },
  { "id-mismatch", "tessera-fp1 " VALID_ID " machine-id=" HEX " user=" HEX, "does not match" },
  { "binary", "tessera-fp1 " VALID_ID " \xff\xfe=\x01", "unknown component" },
  { "utf8", "tessera-fp1 " VALID_ID " machine‐id=" HEX, "unknown component" },
};

static void
test_malformed (gconstpointer data)
{
  const MalformedCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) fp = tessera_fingerprint_new_from_string (c->input, &error);

  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_null (fp);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  if (strstr (error->message, c->message) == NULL)
    g_error ("“%s”: message “%s” lacks “%s”", c->name, error->message, c->message);
}

/* Every truncation of a valid string and a flood of spaces: refused, no crash. */
static void
test_malformed_fuzz (void)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_default (root);
  g_autofree char *str = tessera_fingerprint_to_string (fp);
  g_autofree char *spaces = g_strnfill (100000, ' ');
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) parsed = NULL;
  gsize len = strlen (str);

  for (gsize i = 0; i < len; i++)
    {
      g_autofree char *head = g_strndup (str, i);
      g_autoptr (GError) head_error = NULL;
      g_autoptr (TesseraFingerprint) head_fp
          = tessera_fingerprint_new_from_string (head, &head_error);
      /* A cut right before a component is well-formed, but then the ID no
       * longer matches the digests. */
      g_assert_error (head_error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      g_assert_null (head_fp);
    }
  /* One changed digit anywhere is caught. */
  for (gsize i = 0; i < len; i++)
    {
      g_autofree char *mutated = g_strdup (str);
      g_autoptr (GError) mutated_error = NULL;
      g_autoptr (TesseraFingerprint) mutated_fp = NULL;

      if (mutated[i] == '0')
        mutated[i] = '1';
      else if (mutated[i] == '1')
        mutated[i] = '0';
      else
        continue;
      mutated_fp = tessera_fingerprint_new_from_string (mutated, &mutated_error);
      g_assert_error (mutated_error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      g_assert_null (mutated_fp);
    }

  parsed = tessera_fingerprint_new_from_string (spaces, &error);
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_assert_null (parsed);
}

/* Only digests leave: no raw identifier appears in the serialization, in
 * any usual spelling. */
static void
test_privacy (void)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fake_root_fingerprint (root, USER_UID, "zaphod");
  g_autofree char *str = tessera_fingerprint_to_string (fp);
  g_autofree char *lower_uuid = g_ascii_strdown (DMI_UUID, -1);
  g_autofree char *bare_mac = g_strdup (MAC_1);
  const char *raw[] = { MACHINE_ID, DMI_UUID, lower_uuid, MAC_1, NULL, "zaphod", "Xeon" };
  char *w = bare_mac;

  for (const char *r = MAC_1; *r; r++)
    if (*r != ':')
      *w++ = *r;
  *w = '\0';
  raw[4] = bare_mac;

  for (gsize i = 0; i < G_N_ELEMENTS (raw); i++)
    if (strstr (str, raw[i]) != NULL)
      g_error ("“%s” leaks “%s”", str, raw[i]);
  /* Nor is a digest just a truncated plain SHA-256 of the value. */
  {
    g_autofree char *plain = g_compute_checksum_for_string (G_CHECKSUM_SHA256, MACHINE_ID, -1);
    g_assert_false (
        g_str_has_prefix (plain, tessera_fingerprint_get_component_digest (fp, "machine-id")));
  }
}

/* The machine this runs on: /etc/machine-id and /proc/cpuinfo at least. */
static void
test_real_machine (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraFingerprint) a = tessera_fingerprint_new (&error);
  g_autoptr (TesseraFingerprint) b = NULL;
  g_autoptr (TesseraFingerprint) c = NULL;
  g_autofree char *str = NULL;
  g_auto (GStrv) components = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (a);
  b = tessera_fingerprint_new (&error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_fingerprint_get_id (a), ==, tessera_fingerprint_get_id (b));
  g_assert_true (g_regex_match_simple (ID_REGEX, tessera_fingerprint_get_id (a), 0, 0));

  components = tessera_fingerprint_dup_components (a);
  g_assert_true (g_strv_contains ((const char *const *) components, "user"));
  str = tessera_fingerprint_to_string (a);
  g_test_message ("this machine: %s", str);
  c = tessera_fingerprint_new_from_string (str, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tessera_fingerprint_get_id (c), ==, tessera_fingerprint_get_id (a));
}

int
main (int argc, char **argv)
{
  static const char *const placeholders[] = {
    "00000000-0000-0000-0000-000000000000\n",
    "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF\n",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "fFfFfFfF-FfFf-fFfF-fFfF-fFfFfFfFfFfF\n",
    "\n",
    "",
  };

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/fingerprint/stable", test_stable);
  g_test_add_func ("/fingerprint/format", test_format);
  g_test_add_func ("/fingerprint/id-is-valid", test_id_is_valid);
  g_test_add_func ("/fingerprint/user", test_user);
  g_test_add_func ("/fingerprint/user-lookup", test_user_lookup);
  g_test_add_func ("/fingerprint/nic/order", test_nic_order);
  g_test_add_func ("/fingerprint/nic/device-dir", test_nic_device_dir);
  g_test_add_func ("/fingerprint/nic/root-under-usb-dir", test_nic_root_under_usb_dir);
  g_test_add_func ("/fingerprint/nic/duplicate-mac", test_nic_duplicate_mac);
  g_test_add_func ("/fingerprint/nic/usb", test_nic_usb);
  g_test_add_func ("/fingerprint/nic/virtual", test_nic_virtual);
  g_test_add_func ("/fingerprint/nic/not-permanent", test_nic_not_permanent);
  g_test_add_func ("/fingerprint/nic/no-assign-type", test_nic_no_assign_type);
  g_test_add_func ("/fingerprint/vm-clone/dmi-uuid", test_vm_clone_dmi);
  g_test_add_func ("/fingerprint/vm-clone/mac", test_vm_clone_mac);
  g_test_add_func ("/fingerprint/cpu/resize-and-update", test_cpu);
  g_test_add_func ("/fingerprint/cpu/first-entry-only", test_cpu_first_entry_only);
  g_test_add_func ("/fingerprint/cpu/arm", test_cpu_arm);
  for (gsize i = 0; i < G_N_ELEMENTS (placeholders); i++)
    {
      g_autofree char *path = g_strdup_printf ("/fingerprint/dmi-placeholder/%" G_GSIZE_FORMAT, i);
      g_test_add_data_func_full (path, g_strdup (placeholders[i]), test_dmi_placeholder, g_free);
    }
  g_test_add_func ("/fingerprint/machine-id/fallback", test_machine_id_fallback);
  g_test_add_func ("/fingerprint/files/special", test_special_files);
  g_test_add_func ("/fingerprint/files/oversized", test_oversized_file);
  g_test_add_func ("/fingerprint/error/unavailable", test_unavailable);
  g_test_add_func ("/fingerprint/error/invalid-root", test_invalid_root);
  g_test_add_func ("/fingerprint/partial", test_partial);
  g_test_add_func ("/fingerprint/string/round-trip", test_round_trip);
  for (gsize i = 0; i < G_N_ELEMENTS (malformed_cases); i++)
    {
      g_autofree char *path
          = g_strdup_printf ("/fingerprint/string/malformed/%s", malformed_cases[i].name);
      g_test_add_data_func_full (path, (gpointer) &malformed_cases[i], test_malformed, NULL);
    }
  g_test_add_func ("/fingerprint/string/fuzz", test_malformed_fuzz);
  g_test_add_func ("/fingerprint/privacy", test_privacy);
  g_test_add_func ("/fingerprint/real-machine", test_real_machine);

  return g_test_run ();
}
