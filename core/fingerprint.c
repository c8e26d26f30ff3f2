/* Tessera — the machine fingerprint. What goes in, what is left out and why:
 * docs/fingerprint.md. */
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

/* Part of every hashed input: bumping it (with the to_string() prefix) is the
 * only way to change how IDs are computed, since stored IDs must keep matching. */
#define FP_DOMAIN "tessera-fp1"

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

/* ---- for the license match (fingerprint-match.c) ---- */

const char *
_tessera_fp_component_name (guint c)
{
  g_return_val_if_fail (c < N_COMPONENTS, NULL);
  return component_names[c];
}

gboolean
_tessera_fp_component_is_hardware (guint c)
{
  return c < N_COMPONENTS && component_is_hardware ((Component) c);
}

int
_tessera_fp_component_index (const char *name)
{
  return component_from_name (name);
}

/* Empty string when the component was not read. */
const char *
_tessera_fp_get_digest (TesseraFingerprint *fp, guint c)
{
  g_return_val_if_fail (c < N_COMPONENTS, "");
  return fp->digests[c];
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
      looked_up = _tessera_fp_lookup_user_name (uid);
      user_name = looked_up;
    }

  values[COMPONENT_MACHINE_ID] = _tessera_fp_read_machine_id (root);
  values[COMPONENT_DMI_UUID] = _tessera_fp_read_dmi_uuid (root);
  values[COMPONENT_CPU] = _tessera_fp_read_cpu (root);
  values[COMPONENT_NIC] = _tessera_fp_read_nics (root);
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

gboolean
tessera_fingerprint_id_is_valid (const char *id)
{
  return id != NULL && id_is_valid (id);
}
