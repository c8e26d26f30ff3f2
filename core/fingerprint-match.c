/* Tessera — a license file compared with a machine, component by component:
 * the keyed digests a format 2 file carries, the match policies and the
 * sentences that explain a refusal. See docs/fingerprint.md, "Tolerance". */
#include "tessera-private.h"

#include <sodium.h>
#include <string.h>

/* Part of every key: a key derived for anything else from the same license
 * ID can never be this one. */
#define KEY_DOMAIN "tessera-fp-license-v1"
#define KEY_BYTES 32
#define KEYED_BYTES (TESSERA_FP_KEYED_HEX_LEN / 2)

G_STATIC_ASSERT (KEYED_BYTES >= crypto_generichash_BYTES_MIN);
G_STATIC_ASSERT (KEY_BYTES >= crypto_generichash_KEYBYTES_MIN);

/* The domain of the digests an online activation sends: never equal to a
 * license file's for the same key string. */
#define ONLINE_DOMAIN "tessera-fp-online-v1"

static void
keyed_digest_in (const char *domain, gsize domain_len, const char *key_id, guint c,
                 const char *digest, char out[TESSERA_FP_KEYED_HEX_LEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  crypto_generichash_state state;
  unsigned char key[KEY_BYTES], mac[KEYED_BYTES];
  const char *name = _tessera_fp_component_name (c);

  /* A license ID is 1 to 64 bytes, a BLAKE2b key 16 to 64: hash it to one. */
  crypto_generichash_init (&state, NULL, 0, sizeof key);
  crypto_generichash_update (&state, (const unsigned char *) domain, domain_len);
  crypto_generichash_update (&state, (const unsigned char *) key_id, strlen (key_id));
  crypto_generichash_final (&state, key, sizeof key);

  /* The name is hashed too (NUL-separated), so one value moved to another
   * component's slot does not match there. */
  crypto_generichash_init (&state, key, sizeof key, sizeof mac);
  crypto_generichash_update (&state, (const unsigned char *) name, strlen (name) + 1);
  crypto_generichash_update (&state, (const unsigned char *) digest, strlen (digest));
  crypto_generichash_final (&state, mac, sizeof mac);
  sodium_memzero (key, sizeof key);

  for (guint i = 0; i < sizeof mac; i++)
    {
      out[2 * i] = hex[mac[i] >> 4];
      out[2 * i + 1] = hex[mac[i] & 0xf];
    }
  out[TESSERA_FP_KEYED_HEX_LEN] = '\0';
}

void
_tessera_fp_keyed_digest (const char *license_id, guint c, const char *digest,
                          char out[TESSERA_FP_KEYED_HEX_LEN + 1])
{
  /* sizeof: the NUL is part of the domain (docs/fingerprint.md). */
  keyed_digest_in (KEY_DOMAIN, sizeof KEY_DOMAIN, license_id, c, digest, out);
}

char *
tessera_fingerprint_dup_scoped_digest (TesseraFingerprint *fp, const char *component,
                                       const char *scope)
{
  g_return_val_if_fail (fp != NULL, NULL);
  g_return_val_if_fail (component != NULL, NULL);
  g_return_val_if_fail (scope != NULL, NULL);
  int c = _tessera_fp_component_index (component);
  if (c < 0 || _tessera_fp_get_digest (fp, (guint) c)[0] == '\0')
    return NULL;
  char *out = g_malloc (TESSERA_FP_KEYED_HEX_LEN + 1);
  keyed_digest_in (ONLINE_DOMAIN, sizeof ONLINE_DOMAIN, scope, (guint) c,
                   _tessera_fp_get_digest (fp, (guint) c), out);
  return out;
}

gboolean
_tessera_fp_policy_required (const char *policy, guint bound, guint *required, GError **error)
{
  guint n = 0;

  if (g_strcmp0 (policy, "all") == 0)
    n = bound;
  else if (g_strcmp0 (policy, "all-but-one") == 0)
    /* One may change, but one left alone would let any machine sharing a
     * single component (a VM clone's machine-id) pass. */
    n = MAX (bound > 0 ? bound - 1 : 0, MIN (2, bound));
  else if (g_strcmp0 (policy, "most") == 0)
    n = bound / 2 + 1;
  else if (g_strcmp0 (policy, "any") == 0)
    n = 1;
  else if (policy != NULL && policy[0] >= '1' && policy[0] <= '9' && policy[1] == '\0')
    {
      n = (guint) (policy[0] - '0');
      if (n > bound)
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                       "match policy %s needs %u hardware components, but the request has "
                       "only %u",
                       policy, n, bound);
          return FALSE;
        }
    }
  else
    {
      g_autofree char *shown = g_strescape (policy ? policy : "", NULL);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "unknown match policy '%.40s': use all, all-but-one, most, any, or a number "
                   "of hardware components from 1 to 4",
                   shown);
      return FALSE;
    }
  *required = MIN (MAX (n, 1), bound);
  return TRUE;
}

/* ---- the comparison ---- */

struct _TesseraMachineMatch
{
  gatomicrefcount ref_count;
  char *policy;
  char *file_machine_id;
  char *machine_id;
  TesseraComponentMatch states[TESSERA_FP_N_COMPONENTS];
  guint bound, matched, required;
  gboolean ok;
};

const char *
tessera_component_match_to_string (TesseraComponentMatch match)
{
  switch (match)
    {
    case TESSERA_COMPONENT_MATCHED:
      return "matched";
    case TESSERA_COMPONENT_CHANGED:
      return "changed";
    case TESSERA_COMPONENT_UNREAD:
      return "unread";
    case TESSERA_COMPONENT_UNBOUND:
      return "unbound";
    case TESSERA_COMPONENT_ABSENT:
      return "absent";
    case TESSERA_COMPONENT_UNKNOWN:
    default:
      return "unknown";
    }
}

TesseraMachineMatch *
tessera_licfile_match_machine (TesseraLicfile *file, TesseraFingerprint *fp)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (fp != NULL, NULL);

  TesseraMachineMatch *m = g_new0 (TesseraMachineMatch, 1);
  g_atomic_ref_count_init (&m->ref_count);
  m->file_machine_id = g_strdup (tessera_licfile_get_machine_id (file));
  m->machine_id = g_strdup (tessera_fingerprint_get_id (fp));
  const char *policy = tessera_licfile_get_match_policy (file);

  if (policy == NULL)
    {
      /* Format 1: the ID, whole. Equal IDs mean equal digests. */
      m->policy = g_strdup ("exact");
      m->ok = g_str_equal (m->file_machine_id, m->machine_id);
      for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
        {
          gboolean read = _tessera_fp_get_digest (fp, c)[0] != '\0';
          m->states[c] = !read   ? TESSERA_COMPONENT_ABSENT
                         : m->ok ? TESSERA_COMPONENT_MATCHED
                                 : TESSERA_COMPONENT_UNKNOWN;
        }
      return m;
    }

  m->policy = g_strdup (policy);
  const char *license_id = tessera_licfile_get_license_id (file);
  for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
    {
      const char *bound = _tessera_licfile_get_component (file, c);
      const char *digest = _tessera_fp_get_digest (fp, c);
      gboolean hardware = _tessera_fp_component_is_hardware (c);

      if (bound == NULL)
        {
          m->states[c] = digest[0] ? TESSERA_COMPONENT_UNBOUND : TESSERA_COMPONENT_ABSENT;
          continue;
        }
      m->bound += hardware;
      if (digest[0] == '\0')
        {
          m->states[c] = TESSERA_COMPONENT_UNREAD;
          continue;
        }
      char keyed[TESSERA_FP_KEYED_HEX_LEN + 1];
      _tessera_fp_keyed_digest (license_id, c, digest, keyed);
      gboolean same = sodium_memcmp (keyed, bound, TESSERA_FP_KEYED_HEX_LEN) == 0;
      m->states[c] = same ? TESSERA_COMPONENT_MATCHED : TESSERA_COMPONENT_CHANGED;
      m->matched += hardware && same;
    }
  /* The file's policy was checked against its bound components when it
   * was verified. */
  if (!_tessera_fp_policy_required (m->policy, m->bound, &m->required, NULL))
    m->required = m->bound;
  m->ok = m->states[_tessera_fp_component_index ("user")] == TESSERA_COMPONENT_MATCHED
          && m->matched >= m->required;
  return m;
}

/* Parses "NAME=HEX NAME=HEX ..." into @out (NULL where absent): known
 * names, each once, TESSERA_FP_KEYED_HEX_LEN lowercase hex digits, the user
 * and at least one hardware component. */
static gboolean
parse_digests (const char *what, const char *digests, char **out, GError **error)
{
  g_auto (GStrv) items = g_strsplit (digests != NULL ? digests : "", " ", -1);
  guint hardware = 0;
  for (guint i = 0; items[i] != NULL; i++)
    {
      const char *eq = strchr (items[i], '=');
      g_autofree char *name = eq ? g_strndup (items[i], (gsize) (eq - items[i])) : NULL;
      int c = name ? _tessera_fp_component_index (name) : -1;
      gboolean hex = eq != NULL && strlen (eq + 1) == TESSERA_FP_KEYED_HEX_LEN;
      for (const char *h = eq ? eq + 1 : ""; hex && *h; h++)
        hex = g_ascii_isdigit (*h) || (*h >= 'a' && *h <= 'f');
      if (c < 0 || !hex || out[c] != NULL)
        {
          g_autofree char *shown = g_strescape (items[i], NULL);
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                       "%s: '%.60s' is not NAME=DIGEST with a component name (machine-id, "
                       "dmi-uuid, cpu, nic, user), given once, and %d lowercase hex digits",
                       what, shown, TESSERA_FP_KEYED_HEX_LEN);
          return FALSE;
        }
      out[c] = g_strdup (eq + 1);
      hardware += _tessera_fp_component_is_hardware ((guint) c);
    }
  if (out[_tessera_fp_component_index ("user")] == NULL || hardware == 0)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "%s: the user component and at least one hardware component are required", what);
      return FALSE;
    }
  return TRUE;
}

static void
clear_digests (char **digests)
{
  for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
    g_clear_pointer (&digests[c], g_free);
}

gboolean
tessera_machine_digests_check (const char *digests, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  char *parsed[TESSERA_FP_N_COMPONENTS] = { 0 };
  gboolean ok = parse_digests ("component digests", digests, parsed, error);
  clear_digests (parsed);
  return ok;
}

gboolean
tessera_match_policy_check (const char *policy, GError **error)
{
  guint required;
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  /* Against the most hardware components there are: "4" is a policy. */
  return _tessera_fp_policy_required (policy, 4, &required, error);
}

TesseraMachineMatch *
tessera_machine_match_new_for_digests (const char *policy, const char *bound, const char *current,
                                       GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  char *was[TESSERA_FP_N_COMPONENTS] = { 0 }, *now[TESSERA_FP_N_COMPONENTS] = { 0 };
  if (!tessera_match_policy_check (policy, error)
      || !parse_digests ("registered component digests", bound, was, error)
      || !parse_digests ("component digests", current, now, error))
    {
      clear_digests (was);
      clear_digests (now);
      return NULL;
    }
  TesseraMachineMatch *m = g_new0 (TesseraMachineMatch, 1);
  g_atomic_ref_count_init (&m->ref_count);
  m->policy = g_strdup (policy);
  for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
    {
      gboolean hardware = _tessera_fp_component_is_hardware (c);
      if (was[c] == NULL)
        m->states[c] = now[c] ? TESSERA_COMPONENT_UNBOUND : TESSERA_COMPONENT_ABSENT;
      else if (now[c] == NULL)
        m->states[c] = TESSERA_COMPONENT_UNREAD;
      else
        m->states[c] = sodium_memcmp (was[c], now[c], TESSERA_FP_KEYED_HEX_LEN) == 0
                           ? TESSERA_COMPONENT_MATCHED
                           : TESSERA_COMPONENT_CHANGED;
      m->bound += hardware && was[c] != NULL;
      m->matched += hardware && m->states[c] == TESSERA_COMPONENT_MATCHED;
    }
  clear_digests (was);
  clear_digests (now);
  /* A number over the registered components can never be met (a license
   * refuses it when issued; here the machine registered before). */
  if (!_tessera_fp_policy_required (m->policy, m->bound, &m->required, NULL))
    m->required = (guint) (policy[0] - '0');
  m->ok = m->states[_tessera_fp_component_index ("user")] == TESSERA_COMPONENT_MATCHED
          && m->matched >= m->required;
  return m;
}

TesseraMachineMatch *
tessera_machine_match_ref (TesseraMachineMatch *match)
{
  g_return_val_if_fail (match != NULL, NULL);
  g_atomic_ref_count_inc (&match->ref_count);
  return match;
}

void
tessera_machine_match_unref (TesseraMachineMatch *match)
{
  g_return_if_fail (match != NULL);
  if (!g_atomic_ref_count_dec (&match->ref_count))
    return;
  g_free (match->policy);
  g_free (match->file_machine_id);
  g_free (match->machine_id);
  g_free (match);
}

gboolean
tessera_machine_match_is_match (TesseraMachineMatch *match)
{
  g_return_val_if_fail (match != NULL, FALSE);
  return match->ok;
}

const char *
tessera_machine_match_get_policy (TesseraMachineMatch *match)
{
  g_return_val_if_fail (match != NULL, NULL);
  return match->policy;
}

guint
tessera_machine_match_get_bound (TesseraMachineMatch *match)
{
  g_return_val_if_fail (match != NULL, 0);
  return match->bound;
}

guint
tessera_machine_match_get_matched (TesseraMachineMatch *match)
{
  g_return_val_if_fail (match != NULL, 0);
  return match->matched;
}

guint
tessera_machine_match_get_required (TesseraMachineMatch *match)
{
  g_return_val_if_fail (match != NULL, 0);
  return match->required;
}

TesseraComponentMatch
tessera_machine_match_get_component (TesseraMachineMatch *match, const char *component)
{
  g_return_val_if_fail (match != NULL, TESSERA_COMPONENT_ABSENT);
  g_return_val_if_fail (component != NULL, TESSERA_COMPONENT_ABSENT);
  int c = _tessera_fp_component_index (component);
  return c < 0 ? TESSERA_COMPONENT_ABSENT : match->states[c];
}

char **
tessera_machine_match_dup_components (TesseraMachineMatch *match, TesseraComponentMatch state)
{
  g_return_val_if_fail (match != NULL, NULL);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
    if (match->states[c] == state)
      g_strv_builder_add (builder, _tessera_fp_component_name (c));
  return g_strv_builder_end (builder);
}

/* What a person calls the thing behind each component. */
static const char *
component_noun (guint c)
{
  static const char *const nouns[TESSERA_FP_N_COMPONENTS] = {
    "the operating system installation", /* machine-id */
    "the board or virtual machine",      /* dmi-uuid */
    "the processor",                     /* cpu */
    "the network card",                  /* nic */
    "the user account",                  /* user */
  };
  return nouns[c];
}

/* "A, B and C" */
static void
append_list (GString *out, GPtrArray *items)
{
  for (guint i = 0; i < items->len; i++)
    {
      if (i > 0)
        g_string_append (out, i + 1 == items->len ? " and " : ", ");
      g_string_append (out, items->pdata[i]);
    }
}

char *
tessera_machine_match_dup_explanation (TesseraMachineMatch *match)
{
  g_return_val_if_fail (match != NULL, NULL);

  if (g_str_equal (match->policy, "exact"))
    return g_strdup (match->ok ? "the machine ID is the one the license is bound to"
                               : "the license binds the whole machine ID (it was issued without "
                                 "component digests), so which part changed is not known");

  GString *out = g_string_new (NULL);
  guint user = (guint) _tessera_fp_component_index ("user");
  if (match->states[user] != TESSERA_COMPONENT_MATCHED)
    g_string_append (out, "the license is for another user account (user): it never moves to "
                          "another account, whatever the hardware; ");

  g_autoptr (GPtrArray) changes = g_ptr_array_new_with_free_func (g_free);
  for (guint c = 0; c < TESSERA_FP_N_COMPONENTS; c++)
    {
      if (!_tessera_fp_component_is_hardware (c))
        continue;
      if (match->states[c] == TESSERA_COMPONENT_CHANGED)
        g_ptr_array_add (changes, g_strdup_printf ("%s changed (%s)", component_noun (c),
                                                   _tessera_fp_component_name (c)));
      else if (match->states[c] == TESSERA_COMPONENT_UNREAD)
        g_ptr_array_add (changes, g_strdup_printf ("%s could not be read (%s)", component_noun (c),
                                                   _tessera_fp_component_name (c)));
    }
  if (changes->len > 0)
    {
      append_list (out, changes);
      g_string_append (out, "; ");
    }
  else
    g_string_append (out, "no hardware component changed; ");
  g_string_append_printf (out, "%u of %u hardware component%s match, the license needs %u",
                          match->matched, match->bound, match->bound == 1 ? "" : "s",
                          match->required);
  if (!g_str_equal (match->policy, TESSERA_MATCH_DEFAULT))
    g_string_append_printf (out, " (match policy %s)", match->policy);
  return g_string_free (out, FALSE);
}

gboolean
tessera_licfile_check_fingerprint (TesseraLicfile *file, const char *product,
                                   TesseraFingerprint *fp, gint64 now, GError **error)
{
  g_return_val_if_fail (file != NULL, FALSE);
  g_return_val_if_fail (fp != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* tessera_licfile_check()'s order: product, machine, then time (at its
   * issue time a file is always within its validity). */
  gint64 issued_at = tessera_licfile_get_issued_at (file);
  if (!tessera_licfile_check (file, product, NULL, issued_at, error))
    return FALSE;
  g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, fp);
  if (!m->ok && g_str_equal (m->policy, "exact"))
    /* Exactly as before component digests existed. */
    return tessera_licfile_check (file, NULL, m->machine_id, issued_at, error);
  if (!m->ok)
    {
      g_autofree char *why = tessera_machine_match_dup_explanation (m);
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH,
                   "the license file is bound to machine %s, but this machine's ID is %s: %s",
                   m->file_machine_id, m->machine_id, why);
      return FALSE;
    }
  return tessera_licfile_check (file, NULL, NULL, now, error);
}
