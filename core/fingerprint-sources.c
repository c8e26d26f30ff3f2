/* Tessera — where the machine fingerprint's components come from: files under
 * a root that stands in for "/". Every reader answers NULL for "absent". */
#include "tessera-private.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Identity files are tiny and the first /proc/cpuinfo entry is a few KiB; a
 * hostile or odd root (a huge file, a FIFO) must not cost memory or hang us. */
#define FP_MAX_FILE_SIZE (64 * 1024)

/* ---- reading the root ---- */

/* -1 unless @path opens as a regular file. */
static int
open_regular (const char *path)
{
  struct stat st;
  /* O_NONBLOCK so opening a FIFO does not wait for a writer. */
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);

  if (fd < 0)
    return -1;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_close (fd, NULL);
      return -1;
    }
  return fd;
}

/* The kernel formats /proc/cpuinfo one processor at a time as it is read,
 * and only the first entry is used (_tessera_fp_read_cpu), so reading stops
 * at the line that closes it: on a machine with many processors the rest is
 * most of the cost of the machine ID. */
#define FP_CPUINFO_CHUNK 4096

/* Where the first entry ends in @buf (just after the blank line that closes
 * it, as the parse in _tessera_fp_read_cpu() sees blank), or 0 while it has
 * not. Complete lines from *@scan on are looked at; *@in_entry carries over
 * between calls. A NUL makes the parse see the end of the file there, so it
 * turns early stopping off and the whole bounded file is read as before. */
static gsize
cpuinfo_entry_end (const char *buf, gsize len, gsize *scan, gboolean *in_entry)
{
  while (*scan < len)
    {
      const char *line = buf + *scan;
      const char *nl = memchr (line, '\n', len - *scan);
      gboolean blank = TRUE;

      if (nl == NULL)
        return 0;
      for (const char *p = line; p < nl; p++)
        {
          if (*p == '\0')
            {
              *scan = G_MAXSIZE;
              return 0;
            }
          if (!g_ascii_isspace (*p))
            blank = FALSE;
        }
      *scan = (gsize) (nl - buf) + 1;
      if (!blank)
        *in_entry = TRUE;
      else if (*in_entry)
        return *scan;
    }
  return 0;
}

/* Reads at most FP_MAX_FILE_SIZE bytes of a regular file. Missing,
 * unreadable and special files (FIFOs, devices) all count as absent: a
 * component we cannot read is simply not part of the ID. If @truncated is
 * NULL, a longer file is absent too; otherwise its head is returned. With
 * @first_entry, what follows the first blank-line-separated entry may be
 * left unread (/proc/cpuinfo: the parse gives the same values either way). */
static char *
read_bounded_full (const char *path, gboolean *truncated, gboolean first_entry)
{
  g_autofree char *buf = NULL;
  gsize len = 0, scan = 0;
  gboolean in_entry = FALSE;
  int fd;

  fd = open_regular (path);
  if (fd < 0)
    return NULL;

  /* One byte more than allowed tells "exactly at the limit" from "too long". */
  buf = g_malloc (FP_MAX_FILE_SIZE + 2);
  while (len < FP_MAX_FILE_SIZE + 1)
    {
      gsize want = FP_MAX_FILE_SIZE + 1 - len;
      gssize n = read (fd, buf + len, first_entry ? MIN (FP_CPUINFO_CHUNK, want) : want);
      gsize end;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          g_close (fd, NULL);
          return NULL;
        }
      if (n == 0)
        break;
      len += (gsize) n;
      if (first_entry && (end = cpuinfo_entry_end (buf, len, &scan, &in_entry)) > 0)
        {
          g_close (fd, NULL);
          if (truncated != NULL)
            *truncated = FALSE;
          buf[end] = '\0';
          return g_steal_pointer (&buf);
        }
    }
  g_close (fd, NULL);

  if (truncated != NULL)
    *truncated = len > FP_MAX_FILE_SIZE;
  if (len > FP_MAX_FILE_SIZE)
    {
      if (truncated == NULL)
        return NULL;
      len = FP_MAX_FILE_SIZE;
    }
  buf[len] = '\0';
  return g_steal_pointer (&buf);
}

static char *
read_bounded (const char *path, gboolean *truncated)
{
  return read_bounded_full (path, truncated, FALSE);
}

static char *
read_trimmed (const char *root, const char *relpath)
{
  g_autofree char *path = g_build_filename (root, relpath, NULL);
  char *contents = read_bounded (path, NULL);

  if (contents == NULL)
    return NULL;
  g_strstrip (contents);
  if (contents[0] == '\0')
    {
      g_free (contents);
      return NULL;
    }
  return contents;
}

char *
_tessera_fp_read_machine_id (const char *root)
{
  /* The D-Bus copy is what systems without systemd have; with systemd it is a
   * symlink to /etc/machine-id, so the two never disagree. */
  static const char *const paths[] = { "etc/machine-id", "var/lib/dbus/machine-id" };

  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *value = read_trimmed (root, paths[i]);
      /* "uninitialized" is systemd's marker for a first boot still to come:
       * the real ID is not written yet, so it identifies nothing. */
      if (value != NULL && strcmp (value, "uninitialized") != 0)
        return g_steal_pointer (&value);
    }
  return NULL;
}

char *
_tessera_fp_read_dmi_uuid (const char *root)
{
  g_autofree char *value = read_trimmed (root, "sys/class/dmi/id/product_uuid");
  gboolean all_zero = TRUE, all_f = TRUE, any_hex = FALSE;

  if (value == NULL)
    return NULL;
  /* Case carries no identity: one UUID, in whatever case the firmware or
   * kernel prints it, must give one digest. */
  for (char *p = value; *p; p++)
    *p = g_ascii_tolower (*p);

  /* Vendors that never set a UUID ship all-zero or all-F placeholders, which
   * thousands of machines share. */
  for (const char *p = value; *p; p++)
    {
      if (*p == '-')
        continue;
      any_hex = TRUE;
      all_zero = all_zero && *p == '0';
      all_f = all_f && *p == 'f';
    }
  if (!any_hex || all_zero || all_f)
    return NULL;
  return g_steal_pointer (&value);
}

/* Narrows [*start, *end) to its text without leading and trailing ASCII
 * white space, as g_strstrip() does to a string. */
static void
trim_span (const char **start, const char **end)
{
  while (*start < *end && g_ascii_isspace (**start))
    (*start)++;
  while (*end > *start && g_ascii_isspace ((*end)[-1]))
    (*end)--;
}

char *
_tessera_fp_read_cpu (const char *root)
{
  /* Identity of the processor model, never of its state or count: MHz,
   * bogomips and microcode change at runtime or with updates, and a VM
   * resized to more vCPUs is the same machine. x86, then ARM, POWER and
   * RISC-V names. */
  static const char *const keys[] = {
    "vendor_id",        "cpu family",  "model",     "model name",   "CPU implementer",
    "CPU architecture", "CPU variant", "CPU part",  "CPU revision", "cpu",
    "revision",         "uarch",       "mvendorid", "marchid",      "mimpid",
  };
  g_autofree char *path = g_build_filename (root, "proc/cpuinfo", NULL);
  g_autofree char *contents = NULL;
  char *values[G_N_ELEMENTS (keys)] = { NULL };
  gboolean truncated = FALSE, in_entry = FALSE, any = FALSE;
  GString *out;

  contents = read_bounded_full (path, &truncated, TRUE);
  if (contents == NULL)
    return NULL;
  if (truncated)
    {
      /* The last line may be cut in the middle of a value. */
      char *nl = strrchr (contents, '\n');
      if (nl == NULL)
        return NULL;
      nl[1] = '\0';
    }

  /* One pass over the text in place, line by line, each trimmed as
   * g_strstrip() would: no copy per line (splitting the entry into strings
   * was a third of the cold machine ID's own instructions). */
  const char *end = contents + strlen (contents);
  for (const char *line = contents; line <= end;)
    {
      const char *nl = memchr (line, '\n', (gsize) (end - line));
      const char *stop = nl != NULL ? nl : end;
      const char *next = stop + 1;
      trim_span (&line, &stop);
      if (line == stop)
        {
          /* Only the first processor's entry: the others repeat it, and their
           * number is what we must not depend on. */
          if (in_entry)
            break;
          line = next;
          continue;
        }
      in_entry = TRUE;
      const char *colon = memchr (line, ':', (gsize) (stop - line));
      if (colon != NULL)
        {
          const char *key = line, *key_end = colon, *value = colon + 1, *value_end = stop;
          trim_span (&key, &key_end);
          trim_span (&value, &value_end);
          gsize key_len = (gsize) (key_end - key);
          for (gsize k = 0; value != value_end && k < G_N_ELEMENTS (keys); k++)
            if (values[k] == NULL && strlen (keys[k]) == key_len
                && memcmp (key, keys[k], key_len) == 0)
              {
                values[k] = g_strndup (value, (gsize) (value_end - value));
                any = TRUE;
              }
        }
      line = next;
    }
  if (!any)
    {
      for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
        g_free (values[k]);
      return NULL;
    }

  /* Fixed key order, not file order, so a kernel reordering lines is harmless. */
  out = g_string_new (NULL);
  for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
    {
      if (values[k] != NULL)
        g_string_append_printf (out, "%s=%s\n", keys[k], values[k]);
      g_free (values[k]);
    }
  return g_string_free (out, FALSE);
}

/* Lowercases @mac in place; FALSE unless it is hex octets separated by ':'
 * and not all zero (interfaces without a hardware address report zeros). */
static gboolean
normalize_mac (char *mac)
{
  gboolean nonzero = FALSE;
  gsize len = strlen (mac);

  if (len < 2 || (len + 1) % 3 != 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      mac[i] = g_ascii_tolower (mac[i]);
      if (i % 3 == 2)
        {
          if (mac[i] != ':')
            return FALSE;
        }
      else if (!g_ascii_isxdigit (mac[i]))
        return FALSE;
      else if (mac[i] != '0')
        nonzero = TRUE;
    }
  return nonzero;
}

/* Where the iface's `device` entry points, as an absolute path. Real sysfs
 * has a symlink that realpath() resolves; fake roots in tests may have a
 * plain directory or a link whose target does not exist. */
static char *
resolve_device (const char *iface_dir, const char *device)
{
  char *resolved = realpath (device, NULL);
  g_autofree char *target = NULL;
  g_autofree char *base = NULL;

  if (resolved != NULL)
    {
      char *copy = g_strdup (resolved);
      free (resolved);
      return copy;
    }
  target = g_file_read_link (device, NULL);
  if (target == NULL)
    return NULL;
  resolved = realpath (iface_dir, NULL);
  base = g_strdup (resolved != NULL ? resolved : iface_dir);
  free (resolved);
  return g_canonicalize_filename (target, base);
}

static gboolean
nic_is_permanent_physical (const char *root_real, const char *iface_dir)
{
  g_autofree char *device = g_build_filename (iface_dir, "device", NULL);
  g_autofree char *device_path = NULL;
  g_autofree char *assign_path = NULL;
  g_autofree char *assign = NULL;
  const char *rel;
  GStatBuf st;

  /* Only hardware has a `device`; bridges, veth, tun, bonds and lo do not,
   * and come and go with containers and VPNs. */
  if (g_lstat (device, &st) != 0 || !(S_ISLNK (st.st_mode) || S_ISDIR (st.st_mode)))
    return FALSE;
  device_path = resolve_device (iface_dir, device);
  if (device_path == NULL)
    return FALSE;

  /* Match below the root only, so a fake root under a directory that happens
   * to be called /usb... is not mistaken for a USB bus. */
  rel = device_path;
  if (root_real != NULL && strcmp (root_real, "/") != 0 && g_str_has_prefix (rel, root_real)
      && rel[strlen (root_real)] == '/')
    rel += strlen (root_real);
  /* USB NICs (dongles, phone tethering) are plugged in and out at will; the
   * machine stays the same. */
  if (strstr (rel, "/usb") != NULL)
    return FALSE;

  /* 0 is NET_ADDR_PERM; random (1), stolen (2) and set (3) addresses change
   * at the next boot or with the admin's mood. An old kernel without the
   * file only has permanent addresses to show. */
  assign_path = g_build_filename (iface_dir, "addr_assign_type", NULL);
  assign = read_bounded (assign_path, NULL);
  if (assign != NULL)
    return strcmp (g_strstrip (assign), "0") == 0;
  /* Absent counts as permanent, present but unreadable (a dangling link, a
   * FIFO) does not: only this rare case pays for telling them apart. */
  return g_lstat (assign_path, &st) != 0;
}

char *
_tessera_fp_read_nics (const char *root)
{
  g_autofree char *net_dir = g_build_filename (root, "sys/class/net", NULL);
  g_autoptr (GDir) dir = g_dir_open (net_dir, 0, NULL);
  g_autoptr (GPtrArray) macs = NULL;
  char *root_resolved = NULL;
  g_autofree char *root_real = NULL;
  GString *out;
  const char *name;

  if (dir == NULL)
    return NULL;
  root_resolved = realpath (root, NULL);
  root_real = g_strdup (root_resolved);
  free (root_resolved);

  macs = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *iface_dir = g_build_filename (net_dir, name, NULL);
      g_autofree char *address_path = NULL;
      char *mac;

      if (!nic_is_permanent_physical (root_real, iface_dir))
        continue;
      address_path = g_build_filename (iface_dir, "address", NULL);
      mac = read_bounded (address_path, NULL);
      if (mac == NULL)
        continue;
      g_strstrip (mac);
      if (!normalize_mac (mac))
        {
          g_free (mac);
          continue;
        }
      g_ptr_array_add (macs, mac);
    }
  if (macs->len == 0)
    return NULL;

  /* Sorted, so enumeration order and interface renaming (eth0 → enp3s0) do
   * not matter; duplicates collapse for the same reason. */
  g_ptr_array_sort (macs, _tessera_compare_str_ptrs);
  out = g_string_new (NULL);
  for (guint i = 0; i < macs->len; i++)
    {
      const char *mac = g_ptr_array_index (macs, i);
      if (i > 0 && strcmp (mac, g_ptr_array_index (macs, i - 1)) == 0)
        continue;
      g_string_append_printf (out, "%s\n", mac);
    }
  return g_string_free (out, FALSE);
}

char *
_tessera_fp_lookup_user_name (guint32 uid)
{
  long size = sysconf (_SC_GETPW_R_SIZE_MAX);

  if (size <= 0)
    size = 1024;
  for (;;)
    {
      char *buf = g_malloc ((gsize) size);
      struct passwd pwd, *result = NULL;
      int rc = getpwuid_r ((uid_t) uid, &pwd, buf, (size_t) size, &result);
      char *name = NULL;

      if (rc == 0 && result != NULL && result->pw_name != NULL && result->pw_name[0] != '\0')
        name = g_strdup (result->pw_name);
      g_free (buf);
      if (name != NULL)
        return name;
      if (rc == ERANGE && size < 1024 * 1024)
        {
          size *= 2;
          continue;
        }
      /* A uid without a passwd entry (containers, NSS down) still has to be
       * told apart from other users, and stably. */
      return g_strdup_printf ("uid%" G_GUINT32_FORMAT, uid);
    }
}
