/* Fingerprint tolerance (docs/fingerprint.md, "Tolerance"): a license file
 * issued from a machine's request carries keyed component digests and a
 * match policy. Each test fakes the machine before and after a change
 * through fake roots (fake-root.h) and checks what the core decides and
 * says. */
#include <tessera/tessera.h>

#include "fake-root.h"
#include "test-util.h"

#define DAY (24 * 3600)
#define OTHER_CPU "AMD EPYC 7763 64-Core Processor"

typedef struct
{
  TesseraSigningKey *key;
  TesseraTrustedKeys *trusted;
  gint64 now;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->key = tessera_signing_key_generate ();
  f->trusted = test_trusted_keys_of (f->key);
  f->now = g_get_real_time () / G_USEC_PER_SEC;
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  tessera_signing_key_unref (f->key);
  tessera_trusted_keys_unref (f->trusted);
}

static TesseraFingerprint *
fingerprint_of (const char *root)
{
  return fake_root_fingerprint (root, USER_UID, USER_NAME);
}

static TesseraLicfileInfo
info_for (Fixture *f, const char *license_id)
{
  TesseraLicfileInfo info = {
    .license_id = license_id,
    .org = "org-1",
    .product = "KRE",
    .kind = "node-locked",
    .billing = "annual",
    .issued_at = f->now - 60,
    .subscription_end = f->now + 365 * DAY,
  };
  return info;
}

/* What an issuer does with a request: through the string the machine
 * printed, as `tessera-license issue --request` reads it. */
static TesseraLicfile *
issue_for (Fixture *f, TesseraFingerprint *machine, const char *match)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line = tessera_fingerprint_to_string (machine);
  g_autoptr (TesseraFingerprint) request = tessera_fingerprint_new_from_string (line, &error);
  g_assert_no_error (error);
  TesseraLicfileInfo info = info_for (f, "lic-tolerant");
  g_autoptr (GBytes) bytes
      = tessera_licfile_sign_for_request (f->key, &info, request, match, &error);
  g_assert_no_error (error);
  TesseraLicfile *file = tessera_licfile_verify (bytes, f->trusted, &error);
  g_assert_no_error (error);
  return file;
}

static void
assert_match (TesseraLicfile *file, TesseraFingerprint *fp, guint matched, guint bound,
              guint required)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, fp);
  g_assert_true (tessera_machine_match_is_match (m));
  g_assert_cmpuint (tessera_machine_match_get_matched (m), ==, matched);
  g_assert_cmpuint (tessera_machine_match_get_bound (m), ==, bound);
  g_assert_cmpuint (tessera_machine_match_get_required (m), ==, required);
  g_assert_true (
      tessera_licfile_check_fingerprint (file, "KRE", fp, g_get_real_time () / 1000000, &error));
  g_assert_no_error (error);
}

/* Refused, with a MACHINE_MISMATCH whose message contains @expected. */
static void
assert_refused (TesseraLicfile *file, TesseraFingerprint *fp, const char *expected)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, fp);
  g_assert_false (tessera_machine_match_is_match (m));
  g_assert_false (
      tessera_licfile_check_fingerprint (file, "KRE", fp, g_get_real_time () / 1000000, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH);
  if (strstr (error->message, expected) == NULL)
    g_error ("expected “%s” in: %s", expected, error->message);
}

/* ---- what survives ---- */

static void
test_same_machine (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_of (root);
  g_autoptr (TesseraLicfile) file = issue_for (f, fp, NULL);

  g_assert_cmpstr (tessera_licfile_get_machine_id (file), ==, tessera_fingerprint_get_id (fp));
  g_assert_cmpstr (tessera_licfile_get_match_policy (file), ==, TESSERA_MATCH_DEFAULT);
  assert_match (file, fp, 4, 4, 3);

  g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, fp);
  g_auto (GStrv) matched = tessera_machine_match_dup_components (m, TESSERA_COMPONENT_MATCHED);
  const char *const all[] = { "machine-id", "dmi-uuid", "cpu", "nic", "user", NULL };
  g_assert_cmpstrv (matched, all);
  g_assert_cmpstr (tessera_machine_match_get_policy (m), ==, "all-but-one");
}

/* The complaint the issue is about: a network card replaced. */
static void
test_nic_replaced (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeRoot) before = make_base_root ();
  g_autoptr (FakeRoot) after = make_base_root ();
  root_remove (after, "sys/class/net/eth0");
  root_add_nic (after, "eth0", MAC_2, NIC_PCI, "04", "0");
  g_autoptr (TesseraFingerprint) old_fp = fingerprint_of (before);
  g_autoptr (TesseraFingerprint) new_fp = fingerprint_of (after);
  g_assert_cmpstr (tessera_fingerprint_get_id (old_fp), !=, tessera_fingerprint_get_id (new_fp));

  g_autoptr (TesseraLicfile) file = issue_for (f, old_fp, NULL);
  assert_match (file, new_fp, 3, 4, 3);
  g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, new_fp);
  g_assert_cmpint (tessera_machine_match_get_component (m, "nic"), ==, TESSERA_COMPONENT_CHANGED);
  g_autofree char *why = tessera_machine_match_dup_explanation (m);
  g_assert_cmpstr (why, ==,
                   "the network card changed (nic); 3 of 4 hardware components match, the "
                   "license needs 3");

  /* An issuer who wants every part to stay gets that, and says so. */
  g_autoptr (TesseraLicfile) strict = issue_for (f, old_fp, "all");
  assert_refused (strict, new_fp,
                  "the network card changed (nic); 3 of 4 hardware components match, the "
                  "license needs 4 (match policy all)");
  assert_match (strict, old_fp, 4, 4, 4);
}

static void
test_two_changed (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeRoot) before = make_base_root ();
  g_autoptr (FakeRoot) after = make_base_root ();
  root_remove (after, "sys/class/net/eth0");
  root_add_nic (after, "eth0", MAC_2, NIC_PCI, "04", "0");
  g_autofree char *cpuinfo = make_cpuinfo (2, OTHER_CPU, "2450.000", "0xa0011d1");
  root_write (after, "proc/cpuinfo", cpuinfo);
  g_autoptr (TesseraFingerprint) old_fp = fingerprint_of (before);
  g_autoptr (TesseraFingerprint) new_fp = fingerprint_of (after);

  g_autoptr (TesseraLicfile) file = issue_for (f, old_fp, NULL);
  assert_refused (file, new_fp,
                  "the processor changed (cpu) and the network card changed (nic); 2 of 4 "
                  "hardware components match, the license needs 3");
  /* Both IDs are named, as for any machine mismatch. */
  g_autoptr (GError) error = NULL;
  g_assert_false (tessera_licfile_check_fingerprint (file, NULL, new_fp, f->now, &error));
  g_assert_nonnull (strstr (error->message, tessera_fingerprint_get_id (old_fp)));
  g_assert_nonnull (strstr (error->message, tessera_fingerprint_get_id (new_fp)));

  /* "2" and "most"... */
  g_autoptr (TesseraLicfile) two = issue_for (f, old_fp, "2");
  assert_match (two, new_fp, 2, 4, 2);
  g_autoptr (TesseraLicfile) most = issue_for (f, old_fp, "most");
  assert_refused (most, new_fp, "2 of 4 hardware components match, the license needs 3");
  g_autoptr (TesseraLicfile) any = issue_for (f, old_fp, "any");
  assert_match (any, new_fp, 2, 4, 1);
}

/* The account is not hardware: no policy lets a license move to another. */
static void
test_other_user (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) alice = fingerprint_of (root);
  g_autoptr (TesseraFingerprint) bob = fake_root_fingerprint (root, USER_UID + 1, "bob");
  g_autoptr (TesseraFingerprint) alice_recreated
      = fake_root_fingerprint (root, USER_UID + 1, USER_NAME);
  const char *const policies[] = { "all", "all-but-one", "most", "any", "1", "4" };

  for (guint i = 0; i < G_N_ELEMENTS (policies); i++)
    {
      g_autoptr (TesseraLicfile) file = issue_for (f, alice, policies[i]);
      assert_refused (file, bob, "the license is for another user account (user)");
      assert_refused (file, alice_recreated, "another user account");
      g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, bob);
      g_assert_cmpint (tessera_machine_match_get_component (m, "user"), ==,
                       TESSERA_COMPONENT_CHANGED);
      g_assert_cmpuint (tessera_machine_match_get_matched (m), ==, 4);
    }
}

/* A clone of a VM template keeps /etc/machine-id; the hypervisor gives it
 * another DMI UUID and MAC. */
static void
test_vm_clone (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeRoot) template = make_base_root ();
  g_autoptr (FakeRoot) clone = make_base_root ();
  root_write (clone, "sys/class/dmi/id/product_uuid", "9A1B2C3D-0000-4000-8000-00000000C10E\n");
  root_remove (clone, "sys/class/net/eth0");
  root_add_nic (clone, "eth0", "52:54:00:99:88:77", NIC_PCI, "03", "0");
  g_autoptr (TesseraFingerprint) original = fingerprint_of (template);
  g_autoptr (TesseraFingerprint) copy = fingerprint_of (clone);

  g_autoptr (TesseraLicfile) file = issue_for (f, original, NULL);
  assert_refused (file, copy,
                  "the board or virtual machine changed (dmi-uuid) and the network card "
                  "changed (nic); 2 of 4 hardware components match, the license needs 3");
  /* "any" is the issuer's explicit choice, and lets a clone through. */
  g_autoptr (TesseraLicfile) any = issue_for (f, original, "any");
  assert_match (any, copy, 2, 4, 1);
}

/* A component the license binds that this machine cannot read (the DMI
 * UUID is root's only) counts as changed, and is said so. */
static void
test_unread (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeRoot) as_root = make_base_root ();
  g_autoptr (FakeRoot) as_user = make_base_root ();
  root_remove (as_user, "sys/class/dmi");
  g_autoptr (TesseraFingerprint) requested = fingerprint_of (as_root);
  g_autoptr (TesseraFingerprint) later = fingerprint_of (as_user);

  g_autoptr (TesseraLicfile) file = issue_for (f, requested, NULL);
  assert_match (file, later, 3, 4, 3);
  g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, later);
  g_assert_cmpint (tessera_machine_match_get_component (m, "dmi-uuid"), ==,
                   TESSERA_COMPONENT_UNREAD);
  g_autofree char *why = tessera_machine_match_dup_explanation (m);
  g_assert_nonnull (strstr (why, "the board or virtual machine could not be read (dmi-uuid)"));

  /* The other way: read now, not when requested: not bound, no vote. */
  g_autoptr (TesseraLicfile) without_dmi = issue_for (f, later, NULL);
  assert_match (without_dmi, requested, 3, 3, 2);
  g_autoptr (TesseraMachineMatch) m2 = tessera_licfile_match_machine (without_dmi, requested);
  g_assert_cmpint (tessera_machine_match_get_component (m2, "dmi-uuid"), ==,
                   TESSERA_COMPONENT_UNBOUND);
}

/* "All but one, at least two": a machine with two hardware components
 * keeps both; one with a single component keeps it. */
static void
test_default_policy_small (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeRoot) root = fake_root_new ();
  root_write (root, "etc/machine-id", MACHINE_ID "\n");
  root_add_nic (root, "eth0", MAC_1, NIC_PCI, "03", "0");
  g_autoptr (TesseraFingerprint) two = fingerprint_of (root);
  g_autoptr (TesseraLicfile) file = issue_for (f, two, NULL);
  assert_match (file, two, 2, 2, 2);

  root_remove (root, "sys/class/net/eth0");
  root_add_nic (root, "eth0", MAC_2, NIC_PCI, "03", "0");
  g_autoptr (TesseraFingerprint) nic_changed = fingerprint_of (root);
  assert_refused (file, nic_changed,
                  "the network card changed (nic); 1 of 2 hardware components match, the license "
                  "needs 2");

  root_remove (root, "sys/class/net/eth0");
  g_autoptr (TesseraFingerprint) one = fingerprint_of (root);
  g_autoptr (TesseraLicfile) single = issue_for (f, one, NULL);
  assert_match (single, one, 1, 1, 1);
}

/* ---- online: scoped digests and the comparison of digest lists ---- */

/* "name=scoped name=scoped ..." of @fp for @scope, as the server stores them. */
static char *
scoped_list (TesseraFingerprint *fp, const char *scope)
{
  g_auto (GStrv) names = tessera_fingerprint_dup_components (fp);
  GString *s = g_string_new (NULL);
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *d = tessera_fingerprint_dup_scoped_digest (fp, names[i], scope);
      g_assert_nonnull (d);
      g_assert_cmpuint (strlen (d), ==, 32);
      g_string_append_printf (s, "%s%s=%s", s->len ? " " : "", names[i], d);
    }
  return g_string_free (s, FALSE);
}

static void
test_online_digests (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_of (root);

  /* Scoped per organization, never the plain digest, stable. */
  g_autofree char *acme = tessera_fingerprint_dup_scoped_digest (fp, "nic", "acme");
  g_autofree char *acme2 = tessera_fingerprint_dup_scoped_digest (fp, "nic", "acme");
  g_autofree char *globex = tessera_fingerprint_dup_scoped_digest (fp, "nic", "globex");
  g_autofree char *none = tessera_fingerprint_dup_scoped_digest (fp, "nic", "");
  g_assert_cmpstr (acme, ==, acme2);
  g_assert_cmpstr (acme, !=, globex);
  g_assert_cmpstr (acme, !=, none);
  g_assert_null (strstr (acme, tessera_fingerprint_get_component_digest (fp, "nic")));
  g_assert_null (tessera_fingerprint_dup_scoped_digest (fp, "disk", "acme"));
  /* The value of one component scoped never matches another's. */
  g_autofree char *cpu = tessera_fingerprint_dup_scoped_digest (fp, "cpu", "acme");
  g_assert_cmpstr (cpu, !=, acme);

  /* The NIC replaced: matched under the default policy, not under "all". */
  root_remove (root, "sys/class/net/eth0");
  root_add_nic (root, "eth0", MAC_2, NIC_PCI, "03", "0");
  g_autoptr (TesseraFingerprint) nic = fingerprint_of (root);
  g_autofree char *was = scoped_list (fp, "acme");
  g_autofree char *now = scoped_list (nic, "acme");
  g_assert_true (tessera_machine_digests_check (was, &error));
  g_assert_no_error (error);
  g_autoptr (TesseraMachineMatch) m
      = tessera_machine_match_new_for_digests (TESSERA_MATCH_DEFAULT, was, now, &error);
  g_assert_no_error (error);
  g_assert_true (tessera_machine_match_is_match (m));
  g_assert_cmpint (tessera_machine_match_get_component (m, "nic"), ==, TESSERA_COMPONENT_CHANGED);
  g_autoptr (TesseraMachineMatch) all
      = tessera_machine_match_new_for_digests ("all", was, now, &error);
  g_assert_false (tessera_machine_match_is_match (all));
  /* Scoped for another organization: nothing matches. */
  g_autofree char *other = scoped_list (fp, "globex");
  g_autoptr (TesseraMachineMatch) cross
      = tessera_machine_match_new_for_digests (TESSERA_MATCH_DEFAULT, was, other, &error);
  g_assert_false (tessera_machine_match_is_match (cross));
  g_assert_cmpuint (tessera_machine_match_get_matched (cross), ==, 0);
  /* "2" with one registered hardware component can never be met. */
  const char *small = "cpu=0123456789abcdef0123456789abcdef user=00112233445566778899aabbccddeeff";
  g_autoptr (TesseraMachineMatch) two
      = tessera_machine_match_new_for_digests ("2", small, small, &error);
  g_assert_no_error (error);
  g_assert_false (tessera_machine_match_is_match (two));
  g_autoptr (TesseraMachineMatch) one
      = tessera_machine_match_new_for_digests ("1", small, small, &error);
  g_assert_true (tessera_machine_match_is_match (one));

  /* Refused lists and policies. */
  const char *bad[]
      = { "",
          "user=00",
          "cpu="
          "0123456789abcdef0123456789abcdef",
          "user=0123456789abcdef0123456789abcdef",
          "cpu=0123456789ABCDEF0123456789ABCDEF user=0123456789abcdef0123456789abcdef",
          "cpu=0123456789abcdef0123456789abcdef cpu=0123456789abcdef0123456789abcdef "
          "user=0123456789abcdef0123456789abcdef",
          "disk=0123456789abcdef0123456789abcdef user=0123456789abcdef0123456789abcdef" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (tessera_machine_digests_check (bad[i], &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
      g_assert_null (tessera_machine_match_new_for_digests ("all", was, bad[i], &error));
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }
  g_assert_null (tessera_machine_match_new_for_digests ("some", was, was, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (tessera_match_policy_check ("0", &error));
  g_clear_error (&error);
  g_assert_true (tessera_match_policy_check ("4", NULL));
}

/* ---- the file ---- */

/* The digests in the file are keyed by its license ID: two licenses for
 * one machine share none, and none is the digest the machine sent. */
static void
test_keyed (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_of (root);
  TesseraLicfileInfo a = info_for (f, "lic-a"), b = info_for (f, "lic-b");
  g_autoptr (GBytes) file_a = tessera_licfile_sign_for_request (f->key, &a, fp, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) file_b = tessera_licfile_sign_for_request (f->key, &b, fp, NULL, &error);
  g_assert_no_error (error);

  g_autoptr (GPtrArray) digests = g_ptr_array_new_with_free_func (g_free);
  GBytes *files[] = { file_a, file_b };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      /* The payload is the second quoted base64 string of the envelope. */
      g_autofree char *text
          = g_strndup (g_bytes_get_data (files[i], NULL), g_bytes_get_size (files[i]));
      g_auto (GStrv) parts = g_strsplit (text, "\"", -1);
      gsize len = 0;
      g_autofree guchar *payload = g_base64_decode (parts[9], &len);
      g_autofree char *json = g_strndup ((const char *) payload, len);
      g_assert_nonnull (strstr (json, "\"format\":2"));
      g_assert_nonnull (strstr (json, "\"match\":\"all-but-one\""));
      g_auto (GStrv) names = tessera_fingerprint_dup_components (fp);
      for (guint c = 0; names[c]; c++)
        {
          g_assert_null (strstr (json, tessera_fingerprint_get_component_digest (fp, names[c])));
          g_autofree char *key = g_strdup_printf ("\"%s\":\"", names[c]);
          const char *at = strstr (json, key);
          g_assert_nonnull (at);
          g_autofree char *digest = g_strndup (at + strlen (key), 32);
          for (guint d = 0; d < digests->len; d++)
            g_assert_cmpstr (digest, !=, digests->pdata[d]);
          g_ptr_array_add (digests, g_steal_pointer (&digest));
        }
    }
}

/* Files issued without a request (format 1, byte for byte what the code
 * wrote before component digests) keep exact matching. */
static void
test_old_file (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FakeRoot) before = make_base_root ();
  g_autoptr (FakeRoot) after = make_base_root ();
  root_remove (after, "sys/class/net/eth0");
  root_add_nic (after, "eth0", MAC_2, NIC_PCI, "04", "0");
  g_autoptr (TesseraFingerprint) old_fp = fingerprint_of (before);
  g_autoptr (TesseraFingerprint) new_fp = fingerprint_of (after);

  TesseraLicfileInfo info = info_for (f, "lic-old");
  info.machine_id = tessera_fingerprint_get_id (old_fp);
  g_autoptr (GBytes) bytes = tessera_licfile_sign (f->key, &info, &error);
  g_assert_no_error (error);
  g_autoptr (TesseraLicfile) file = tessera_licfile_verify (bytes, f->trusted, &error);
  g_assert_no_error (error);
  g_assert_null (tessera_licfile_get_match_policy (file));

  g_autoptr (TesseraMachineMatch) same = tessera_licfile_match_machine (file, old_fp);
  g_assert_true (tessera_machine_match_is_match (same));
  g_assert_cmpstr (tessera_machine_match_get_policy (same), ==, "exact");
  g_assert_true (tessera_licfile_check_fingerprint (file, "KRE", old_fp, f->now, &error));
  g_assert_no_error (error);

  /* The message of before, word for word. */
  g_autoptr (TesseraMachineMatch) changed = tessera_licfile_match_machine (file, new_fp);
  g_assert_false (tessera_machine_match_is_match (changed));
  g_assert_cmpint (tessera_machine_match_get_component (changed, "nic"), ==,
                   TESSERA_COMPONENT_UNKNOWN);
  g_assert_false (tessera_licfile_check_fingerprint (file, "KRE", new_fp, f->now, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH);
  g_autofree char *expected = g_strdup_printf (
      "the license file is bound to machine %s, but this machine's ID is %s: an offline license "
      "cannot move to another machine (or user account)",
      tessera_fingerprint_get_id (old_fp), tessera_fingerprint_get_id (new_fp));
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);
  g_assert_false (
      tessera_licfile_check (file, "KRE", tessera_fingerprint_get_id (new_fp), f->now, &error));
  g_assert_cmpstr (error->message, ==, expected);
}

/* Product first, machine, then time, as tessera_licfile_check(). */
static void
test_check_order (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_of (root);
  g_autoptr (TesseraFingerprint) bob = fake_root_fingerprint (root, 7, "bob");
  g_autoptr (TesseraLicfile) file = issue_for (f, fp, NULL);

  g_assert_false (tessera_licfile_check_fingerprint (file, "KSE", bob, 1, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_PRODUCT_MISMATCH);
  g_clear_error (&error);
  g_assert_false (tessera_licfile_check_fingerprint (file, "KRE", bob, 1, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_MACHINE_MISMATCH);
  g_clear_error (&error);
  g_assert_false (tessera_licfile_check_fingerprint (file, "KRE", fp, 1, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_NOT_YET_VALID);
  g_clear_error (&error);
  g_assert_false (tessera_licfile_check_fingerprint (file, "KRE", fp, f->now + 61 * DAY, &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED);
}

/* ---- what the issuer is refused ---- */

static void
test_issue_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeRoot) root = make_base_root ();
  g_autoptr (TesseraFingerprint) fp = fingerprint_of (root);
  const struct
  {
    const char *match;
    const char *machine_id;
    const char *license_id;
    const char *expected;
  } cases[] = {
    { "5", NULL, "l", "needs 5 hardware components, but the request has only 4" },
    { "0", NULL, "l", "unknown match policy '0'" },
    { "12", NULL, "l", "unknown match policy '12'" },
    { "some", NULL, "l", "unknown match policy 'some'" },
    { "", NULL, "l", "unknown match policy ''" },
    { NULL, "ABCD-EFGH-JKMN-PQRS", "l", "is not the ID of the request" },
    { NULL, NULL, "bad id", "license id 'bad id'" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      TesseraLicfileInfo info = info_for (f, cases[i].license_id);
      info.machine_id = cases[i].machine_id;
      g_autoptr (GBytes) bytes
          = tessera_licfile_sign_for_request (f->key, &info, fp, cases[i].match, &error);
      g_assert_null (bytes);
      g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
      if (strstr (error->message, cases[i].expected) == NULL)
        g_error ("case %u: expected “%s” in: %s", i, cases[i].expected, error->message);
    }
  /* A request with one hardware component cannot ask for two. */
  g_autoptr (FakeRoot) small = fake_root_new ();
  root_write (small, "etc/machine-id", MACHINE_ID "\n");
  g_autoptr (TesseraFingerprint) one = fingerprint_of (small);
  g_autoptr (GError) error = NULL;
  TesseraLicfileInfo info = info_for (f, "l");
  g_assert_null (tessera_licfile_sign_for_request (f->key, &info, one, "2", &error));
  g_assert_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT);
}

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("/fingerprint-match/same-machine", test_same_machine);
  ADD ("/fingerprint-match/nic-replaced", test_nic_replaced);
  ADD ("/fingerprint-match/two-changed", test_two_changed);
  ADD ("/fingerprint-match/other-user", test_other_user);
  ADD ("/fingerprint-match/vm-clone", test_vm_clone);
  ADD ("/fingerprint-match/unread", test_unread);
  ADD ("/fingerprint-match/default-policy-small", test_default_policy_small);
  ADD ("/fingerprint-match/keyed", test_keyed);
  ADD ("/fingerprint-match/online-digests", test_online_digests);
  ADD ("/fingerprint-match/old-file", test_old_file);
  ADD ("/fingerprint-match/check-order", test_check_order);
  ADD ("/fingerprint-match/issue-refused", test_issue_refused);
  return g_test_run ();
}
