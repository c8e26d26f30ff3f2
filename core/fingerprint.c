/* Tessera — the machine fingerprint. What goes in, what is left out and why:
 * docs/fingerprint.md. */
#include <tessera/tessera.h>

#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Part of every hashed input: bumping it (with the to_string() prefix) is the
 * only way to change how IDs are computed, since stored IDs must keep matching. */
#define FP_DOMAIN "tessera-fp1"

/* Identity files are tiny and the first /proc/cpuinfo entry is a few KiB; a
 * hostile or odd root (a huge file, a FIFO) must not cost memory or hang us. */
#define FP_MAX_FILE_SIZE (64 * 1024)

/* Enough to hold the serialization of every component with room to spare;
 * anything longer is not ours and is refused before splitting it. */
#define FP_MAX_STRING_LENGTH 512

#define FP_DIGEST_HEX_LEN 16
#define FP_ID_LEN 19

typedef enum
{
  COMPONENT_MACHINE_ID,
  COMPONENT_DMI_UUID,
  COMPONENT_CPU,
  COMPONENT_NIC,
  COMPONENT_USER,
  N_COMPONENTS
} Component;

/* The order is part of the ID computation and of the serialization. */
static const char *const component_names[N_COMPONENTS] = {
  [COMPONENT_MACHINE_ID] = "machine-id",
  [COMPONENT_DMI_UUID] = "dmi-uuid",
  [COMPONENT_CPU] = "cpu",
  [COMPONENT_NIC] = "nic",
  [COMPONENT_USER] = "user",
};

struct _TesseraFingerprint
{
  gatomicrefcount ref_count;
  char id[FP_ID_LEN + 1];
  /* Empty string: the component was not available. */
  char digests[N_COMPONENTS][FP_DIGEST_HEX_LEN + 1];
};

static gboolean
component_is_hardware (Component c)
{
  return c != COMPONENT_USER;
}

static int
component_from_name (const char *name)
{
  for (int i = 0; i < N_COMPONENTS; i++)
    if (strcmp (component_names[i], name) == 0)
      return i;
  return -1;
}

/* ---- hashing ---- */

static GChecksum *
checksum_new_for_label (const char *label)
{
  GChecksum *checksum = g_checksum_new (G_CHECKSUM_SHA256);

  /* NUL separators keep ("ab", "c") and ("a", "bc") apart. */
  g_checksum_update (checksum, (const guchar *) FP_DOMAIN, sizeof FP_DOMAIN);
  g_checksum_update (checksum, (const guchar *) label, (gssize) strlen (label) + 1);
  return checksum;
}

static void
checksum_get_bytes (GChecksum *checksum, guint8 out[32])
{
  gsize len = 32;

  g_checksum_get_digest (checksum, out, &len);
  g_assert (len == 32);
}

static void
compute_component_digest (Component c, const char *value, char out[FP_DIGEST_HEX_LEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  g_autoptr (GChecksum) checksum = checksum_new_for_label (component_names[c]);
  guint8 bytes[32];

  g_checksum_update (checksum, (const guchar *) value, (gssize) strlen (value));
  checksum_get_bytes (checksum, bytes);
  /* 64 bits are plenty to tell two values of one component apart and keep
   * the serialization short enough to paste into a support ticket. */
  for (int i = 0; i < FP_DIGEST_HEX_LEN / 2; i++)
    {
      out[2 * i] = hex[bytes[i] >> 4];
      out[2 * i + 1] = hex[bytes[i] & 0xf];
    }
  out[FP_DIGEST_HEX_LEN] = '\0';
}

/* Crockford base32 leaves out I, L, O and U so an ID read over the phone
 * cannot be misheard or mistyped as another. */
static const char crockford_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Built from the component digests alone, so a parsed fingerprint can be
 * checked against its own ID. */
static void
compute_id (char digests[N_COMPONENTS][FP_DIGEST_HEX_LEN + 1], char out[FP_ID_LEN + 1])
{
  g_autoptr (GChecksum) checksum = checksum_new_for_label ("id");
  guint8 bytes[32];
  guint64 acc = 0;
  int bits = 0, chars = 0, o = 0;

  for (int i = 0; i < N_COMPONENTS; i++)
    {
      if (digests[i][0] == '\0')
        continue;
      g_checksum_update (checksum, (const guchar *) component_names[i],
                         (gssize) strlen (component_names[i]) + 1);
      g_checksum_update (checksum, (const guchar *) digests[i], FP_DIGEST_HEX_LEN + 1);
    }
  checksum_get_bytes (checksum, bytes);

  /* 80 bits = 16 base32 characters exactly. */
  for (int i = 0; i < 10; i++)
    {
      acc = (acc << 8) | bytes[i];
      bits += 8;
      while (bits >= 5)
        {
          bits -= 5;
          if (chars > 0 && chars % 4 == 0)
            out[o++] = '-';
          out[o++] = crockford_alphabet[(acc >> bits) & 0x1f];
          chars++;
        }
    }
  out[o] = '\0';
  g_assert (o == FP_ID_LEN);
}

static gboolean
id_is_valid (const char *id)
{
  if (strlen (id) != FP_ID_LEN)
    return FALSE;
  for (int i = 0; i < FP_ID_LEN; i++)
    {
      if (i % 5 == 4)
        {
          if (id[i] != '-')
            return FALSE;
        }
      else if (id[i] == '\0' || strchr (crockford_alphabet, id[i]) == NULL)
        return FALSE;
    }
  return TRUE;
}

static gboolean
digest_is_valid (const char *hex)
{
  gsize len = 0;

  for (; hex[len] != '\0'; len++)
    if (!(g_ascii_isdigit (hex[len]) || (hex[len] >= 'a' && hex[len] <= 'f')))
      return FALSE;
  return len == FP_DIGEST_HEX_LEN;
}

/* ---- reading the root ---- */

/* Reads at most FP_MAX_FILE_SIZE bytes of a regular file. Missing,
 * unreadable and special files (FIFOs, devices) all count as absent: a
 * component we cannot read is simply not part of the ID. If @truncated is
 * NULL, a longer file is absent too; otherwise its head is returned. */
static char *
read_bounded (const char *path, gboolean *truncated)
{
  g_autofree char *buf = NULL;
  struct stat st;
  gsize len = 0;
  int fd;

  /* O_NONBLOCK so opening a FIFO does not wait for a writer. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_close (fd, NULL);
      return NULL;
    }

  /* One byte more than allowed tells "exactly at the limit" from "too long". */
  buf = g_malloc (FP_MAX_FILE_SIZE + 2);
  while (len < FP_MAX_FILE_SIZE + 1)
    {
      gssize n = read (fd, buf + len, FP_MAX_FILE_SIZE + 1 - len);
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

static char *
read_machine_id (const char *root)
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

static char *
read_dmi_uuid (const char *root)
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

static char *
read_cpu (const char *root)
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
  g_auto (GStrv) lines = NULL;
  char *values[G_N_ELEMENTS (keys)] = { NULL };
  gboolean truncated = FALSE, in_entry = FALSE, any = FALSE;
  GString *out;

  contents = read_bounded (path, &truncated);
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

  lines = g_strsplit (contents, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      char *colon;
      g_strstrip (*l);
      if ((*l)[0] == '\0')
        {
          /* Only the first processor's entry: the others repeat it, and their
           * number is what we must not depend on. */
          if (in_entry)
            break;
          continue;
        }
      in_entry = TRUE;
      colon = strchr (*l, ':');
      if (colon == NULL)
        continue;
      *colon = '\0';
      g_strstrip (*l);
      g_strstrip (colon + 1);
      if (colon[1] == '\0')
        continue;
      for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
        if (values[k] == NULL && strcmp (*l, keys[k]) == 0)
          {
            values[k] = g_strdup (colon + 1);
            any = TRUE;
          }
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
  if (g_lstat (assign_path, &st) == 0)
    {
      assign = read_bounded (assign_path, NULL);
      if (assign == NULL || strcmp (g_strstrip (assign), "0") != 0)
        return FALSE;
    }
  return TRUE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static char *
read_nics (const char *root)
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
  g_ptr_array_sort (macs, compare_strings);
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

static char *
lookup_user_name (guint32 uid)
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

/* ---- public API ---- */

static TesseraFingerprint *
fingerprint_alloc (void)
{
  TesseraFingerprint *fp = g_new0 (TesseraFingerprint, 1);

  g_atomic_ref_count_init (&fp->ref_count);
  return fp;
}

TesseraFingerprint *
tessera_fingerprint_new (GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return tessera_fingerprint_new_for_root ("/", (guint32) getuid (), NULL, error);
}

TesseraFingerprint *
tessera_fingerprint_new_for_root (const char *root, guint32 uid, const char *user_name,
                                  GError **error)
{
  g_autoptr (TesseraFingerprint) fp = NULL;
  g_autofree char *looked_up = NULL;
  char *values[N_COMPONENTS] = { NULL };
  gboolean any_hardware = FALSE;
  GStatBuf st;

  g_return_val_if_fail (root != NULL, NULL);
  g_return_val_if_fail (user_name == NULL || user_name[0] != '\0', NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (root[0] == '\0' || g_stat (root, &st) != 0 || !S_ISDIR (st.st_mode)
      || g_access (root, R_OK | X_OK) != 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "Cannot compute a machine fingerprint: “%s” is not a readable directory", root);
      return NULL;
    }

  if (user_name == NULL)
    {
      looked_up = lookup_user_name (uid);
      user_name = looked_up;
    }

  values[COMPONENT_MACHINE_ID] = read_machine_id (root);
  values[COMPONENT_DMI_UUID] = read_dmi_uuid (root);
  values[COMPONENT_CPU] = read_cpu (root);
  values[COMPONENT_NIC] = read_nics (root);
  /* The uid makes two accounts with the same name (recreated user, other
   * NSS source) different; the name makes a reused uid different. */
  values[COMPONENT_USER] = g_strdup_printf ("%" G_GUINT32_FORMAT ":%s", uid, user_name);

  fp = fingerprint_alloc ();
  for (int i = 0; i < N_COMPONENTS; i++)
    {
      if (values[i] == NULL)
        continue;
      compute_component_digest (i, values[i], fp->digests[i]);
      if (component_is_hardware (i))
        any_hardware = TRUE;
      g_free (values[i]);
    }

  /* The user alone would give every machine of that user the same ID. */
  if (!any_hardware)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE,
                   "Cannot compute a machine fingerprint: no hardware identity found under “%s” "
                   "(looked for etc/machine-id, var/lib/dbus/machine-id, "
                   "sys/class/dmi/id/product_uuid, proc/cpuinfo and permanent MAC addresses of "
                   "physical network interfaces in sys/class/net)",
                   root);
      return NULL;
    }

  compute_id (fp->digests, fp->id);
  return g_steal_pointer (&fp);
}

TesseraFingerprint *
tessera_fingerprint_ref (TesseraFingerprint *fp)
{
  g_return_val_if_fail (fp != NULL, NULL);

  g_atomic_ref_count_inc (&fp->ref_count);
  return fp;
}

void
tessera_fingerprint_unref (TesseraFingerprint *fp)
{
  g_return_if_fail (fp != NULL);

  if (g_atomic_ref_count_dec (&fp->ref_count))
    g_free (fp);
}

const char *
tessera_fingerprint_get_id (TesseraFingerprint *fp)
{
  g_return_val_if_fail (fp != NULL, NULL);

  return fp->id;
}

char **
tessera_fingerprint_dup_components (TesseraFingerprint *fp)
{
  g_autoptr (GStrvBuilder) builder = NULL;

  g_return_val_if_fail (fp != NULL, NULL);

  builder = g_strv_builder_new ();
  for (int i = 0; i < N_COMPONENTS; i++)
    if (fp->digests[i][0] != '\0')
      g_strv_builder_add (builder, component_names[i]);
  return g_strv_builder_end (builder);
}

const char *
tessera_fingerprint_get_component_digest (TesseraFingerprint *fp, const char *component)
{
  int c;

  g_return_val_if_fail (fp != NULL, NULL);
  g_return_val_if_fail (component != NULL, NULL);

  c = component_from_name (component);
  if (c < 0 || fp->digests[c][0] == '\0')
    return NULL;
  return fp->digests[c];
}

char *
tessera_fingerprint_to_string (TesseraFingerprint *fp)
{
  GString *out;

  g_return_val_if_fail (fp != NULL, NULL);

  out = g_string_new (FP_DOMAIN " ");
  g_string_append (out, fp->id);
  for (int i = 0; i < N_COMPONENTS; i++)
    if (fp->digests[i][0] != '\0')
      g_string_append_printf (out, " %s=%s", component_names[i], fp->digests[i]);
  return g_string_free (out, FALSE);
}

static void set_malformed (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
set_malformed (GError **error, const char *format, ...)
{
  g_autofree char *detail = NULL;
  va_list args;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT, "Malformed fingerprint: %s",
               detail);
}

/* Error messages quote the input, which may be any bytes: keep them ASCII. */
static char *
quote_token (const char *token)
{
  g_autofree char *head = g_strndup (token, 40);
  return g_strescape (head, NULL);
}

TesseraFingerprint *
tessera_fingerprint_new_from_string (const char *str, GError **error)
{
  g_autoptr (TesseraFingerprint) fp = NULL;
  g_auto (GStrv) tokens = NULL;
  gboolean any_hardware = FALSE;
  int last = -1;
  guint n;

  g_return_val_if_fail (str != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (strnlen (str, FP_MAX_STRING_LENGTH + 1) > FP_MAX_STRING_LENGTH)
    {
      set_malformed (error, "longer than %d bytes", FP_MAX_STRING_LENGTH);
      return NULL;
    }

  /* Exactly one space between fields: the format is canonical, so equal
   * fingerprints always serialize to equal strings. */
  tokens = g_strsplit (str, " ", -1);
  n = g_strv_length (tokens);
  if (n == 0 || strcmp (tokens[0], FP_DOMAIN) != 0)
    {
      set_malformed (error, "does not start with “" FP_DOMAIN " ”");
      return NULL;
    }
  if (n < 2 || !id_is_valid (tokens[1]))
    {
      set_malformed (error, "the machine ID is not of the form XXXX-XXXX-XXXX-XXXX");
      return NULL;
    }
  if (n < 3)
    {
      set_malformed (error, "no components");
      return NULL;
    }

  fp = fingerprint_alloc ();
  for (guint t = 2; t < n; t++)
    {
      char *token = tokens[t];
      char *eq = strchr (token, '=');
      int c;

      if (token[0] == '\0')
        {
          set_malformed (error, "empty field (stray space)");
          return NULL;
        }
      if (eq == NULL)
        {
          g_autofree char *q = quote_token (token);
          set_malformed (error, "“%s” is not NAME=DIGEST", q);
          return NULL;
        }
      *eq = '\0';
      c = component_from_name (token);
      if (c < 0)
        {
          g_autofree char *q = quote_token (token);
          set_malformed (error, "unknown component “%s”", q);
          return NULL;
        }
      if (fp->digests[c][0] != '\0')
        {
          set_malformed (error, "component “%s” appears twice", component_names[c]);
          return NULL;
        }
      if (c < last)
        {
          set_malformed (error, "component “%s” is out of order", component_names[c]);
          return NULL;
        }
      if (!digest_is_valid (eq + 1))
        {
          set_malformed (error, "the digest of “%s” is not 16 lowercase hex digits",
                         component_names[c]);
          return NULL;
        }
      memcpy (fp->digests[c], eq + 1, FP_DIGEST_HEX_LEN + 1);
      last = c;
      if (component_is_hardware (c))
        any_hardware = TRUE;
    }
  if (!any_hardware)
    {
      set_malformed (error, "no hardware component");
      return NULL;
    }

  /* Catches a mistyped or hand-edited string before it is trusted in a diff. */
  compute_id (fp->digests, fp->id);
  if (strcmp (fp->id, tokens[1]) != 0)
    {
      set_malformed (error, "the machine ID does not match the component digests");
      return NULL;
    }
  return g_steal_pointer (&fp);
}

char **
tessera_fingerprint_diff (TesseraFingerprint *a, TesseraFingerprint *b)
{
  g_autoptr (GStrvBuilder) builder = NULL;

  g_return_val_if_fail (a != NULL, NULL);
  g_return_val_if_fail (b != NULL, NULL);

  builder = g_strv_builder_new ();
  for (int i = 0; i < N_COMPONENTS; i++)
    if (strcmp (a->digests[i], b->digests[i]) != 0)
      g_strv_builder_add (builder, component_names[i]);
  return g_strv_builder_end (builder);
}
