/* Fake machine roots for fingerprint tests: the sysfs/procfs/etc files a
 * machine would have, under a temporary directory that
 * tessera_fingerprint_new_for_root() reads instead of "/". Header-only,
 * shared by the fingerprint tests (test-fingerprint*.c,
 * test-offline-tolerance.c). */
#pragma once

#include <tessera/tessera.h>

#include <glib/gstdio.h>

#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MACHINE_ID "6f0a8d3c2b1e4f5a9c7d8e0f1a2b3c4d"
#define DMI_UUID "4C4C4544-0042-3510-8051-B4C04F4E4332"
#define MAC_1 "52:54:00:12:34:56"
#define MAC_2 "a0:36:9f:ab:cd:ef"
#define USER_UID 1000
#define USER_NAME "alice"

/* A processor entry as Linux prints it; @mhz and @microcode vary between
 * boots, @n is the processor index. */
G_GNUC_UNUSED static void
append_cpu_entry (GString *s, int n, const char *model_name, const char *mhz, const char *microcode)
{
  g_string_append_printf (s,
                          "processor\t: %d\n"
                          "vendor_id\t: GenuineIntel\n"
                          "cpu family\t: 6\n"
                          "model\t\t: 85\n"
                          "model name\t: %s\n"
                          "stepping\t: 7\n"
                          "microcode\t: %s\n"
                          "cpu MHz\t\t: %s\n"
                          "cache size\t: 36608 KB\n"
                          "siblings\t: 2\n"
                          "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic\n"
                          "bogomips\t: 4999.99\n"
                          "\n",
                          n, model_name, microcode, mhz);
}

G_GNUC_UNUSED static char *
make_cpuinfo (int n_processors, const char *model_name, const char *mhz, const char *microcode)
{
  GString *s = g_string_new (NULL);

  for (int i = 0; i < n_processors; i++)
    append_cpu_entry (s, i, model_name, mhz, microcode);
  return g_string_free (s, FALSE);
}

/* ---- fake roots ---- */

G_GNUC_UNUSED static char *
fake_root_new (void)
{
  g_autoptr (GError) error = NULL;
  char *root = g_dir_make_tmp ("tessera-fp-XXXXXX", &error);

  g_assert_no_error (error);
  return root;
}

G_GNUC_UNUSED static void
remove_tree (const char *path)
{
  GStatBuf st;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      g_assert_cmpint (g_rmdir (path), ==, 0);
    }
  else
    g_assert_cmpint (g_unlink (path), ==, 0);
}

G_GNUC_UNUSED static void
fake_root_free (char *root)
{
  remove_tree (root);
  g_free (root);
}

typedef char FakeRoot;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FakeRoot, fake_root_free)

/* The fingerprint of the machine at @root for the user @user_name (@uid),
 * which a well-formed root always has. */
G_GNUC_UNUSED static TesseraFingerprint *
fake_root_fingerprint (const char *root, guint32 uid, const char *user_name)
{
  g_autoptr (GError) error = NULL;
  TesseraFingerprint *fp = tessera_fingerprint_new_for_root (root, uid, user_name, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fp);
  return fp;
}

G_GNUC_UNUSED static void
make_parent (const char *path)
{
  g_autofree char *parent = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
}

G_GNUC_UNUSED static void
root_write (const char *root, const char *relpath, const char *contents)
{
  g_autofree char *path = g_build_filename (root, relpath, NULL);
  g_autoptr (GError) error = NULL;

  make_parent (path);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

G_GNUC_UNUSED static void
root_remove (const char *root, const char *relpath)
{
  g_autofree char *path = g_build_filename (root, relpath, NULL);

  remove_tree (path);
}

G_GNUC_UNUSED static void
root_mkdir (const char *root, const char *relpath)
{
  g_autofree char *path = g_build_filename (root, relpath, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

typedef enum
{
  NIC_PCI,     /* `device` is a symlink into sys/devices/pci... (real sysfs) */
  NIC_PCI_DIR, /* `device` is a plain directory (what a copied sysfs looks like) */
  NIC_USB,     /* `device` resolves below a USB bus */
  NIC_USB_ABS, /* `device` is an absolute link, dangling, to a USB path */
  NIC_VIRTUAL, /* no `device` at all */
} NicKind;

/* @bus_addr keeps two NICs from sharing a device directory; @assign_type
 * NULL leaves addr_assign_type out (old kernels). */
G_GNUC_UNUSED static void
root_add_nic (const char *root, const char *name, const char *mac, NicKind kind,
              const char *bus_addr, const char *assign_type)
{
  g_autofree char *iface = g_build_filename ("sys/class/net", name, NULL);
  g_autofree char *address = g_build_filename (iface, "address", NULL);
  g_autofree char *address_contents = g_strdup_printf ("%s\n", mac);
  g_autofree char *device_link = g_build_filename (root, iface, "device", NULL);
  g_autofree char *target_rel = NULL;

  root_write (root, address, address_contents);
  if (assign_type != NULL)
    {
      g_autofree char *assign = g_build_filename (iface, "addr_assign_type", NULL);
      g_autofree char *assign_contents = g_strdup_printf ("%s\n", assign_type);
      root_write (root, assign, assign_contents);
    }

  switch (kind)
    {
    case NIC_PCI:
      target_rel = g_strdup_printf ("devices/pci0000:00/0000:00:%s.0", bus_addr);
      break;
    case NIC_USB:
      target_rel = g_strdup_printf ("devices/pci0000:00/0000:00:14.0/usb2/2-%s/2-%s:1.0", bus_addr,
                                    bus_addr);
      break;
    case NIC_PCI_DIR:
      g_assert_cmpint (g_mkdir_with_parents (device_link, 0755), ==, 0);
      return;
    case NIC_USB_ABS:
      {
        g_autofree char *target = g_strdup_printf (
            "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-%s/1-%s:1.0", bus_addr, bus_addr);
        g_assert_cmpint (symlink (target, device_link), ==, 0);
        return;
      }
    case NIC_VIRTUAL:
    default:
      return;
    }

  /* Relative like the kernel's: sys/class/net/NAME/device -> ../../../devices/... */
  root_mkdir (root, target_rel);
  {
    g_autofree char *link_target = g_strdup_printf ("../../../%s", target_rel);
    g_assert_cmpint (symlink (link_target, device_link), ==, 0);
  }
}

/* A typical server: machine-id, a DMI UUID, two processors, one onboard NIC
 * plus lo. */
G_GNUC_UNUSED static char *
make_base_root (void)
{
  char *root = fake_root_new ();
  g_autofree char *cpuinfo
      = make_cpuinfo (2, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "2494.140", "0x5003604");

  root_write (root, "etc/machine-id", MACHINE_ID "\n");
  root_write (root, "sys/class/dmi/id/product_uuid", DMI_UUID "\n");
  root_write (root, "proc/cpuinfo", cpuinfo);
  root_add_nic (root, "eth0", MAC_1, NIC_PCI, "03", "0");
  root_add_nic (root, "lo", "00:00:00:00:00:00", NIC_VIRTUAL, NULL, "0");
  return root;
}
