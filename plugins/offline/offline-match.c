/* The offline provider: how a license file matches this machine, in the
 * license's attributes (docs/fingerprint.md, "Tolerance"). */
#include "offline-private.h"

void
offline_set_match_attributes (TesseraLicense *license, TesseraLicfile *file, TesseraFingerprint *fp)
{
  g_autoptr (TesseraMachineMatch) m = tessera_licfile_match_machine (file, fp);
  g_auto (GStrv) matched = tessera_machine_match_dup_components (m, TESSERA_COMPONENT_MATCHED);
  g_auto (GStrv) changed = tessera_machine_match_dup_components (m, TESSERA_COMPONENT_CHANGED);
  g_auto (GStrv) unread = tessera_machine_match_dup_components (m, TESSERA_COMPONENT_UNREAD);
  g_autoptr (GStrvBuilder) not_matched = g_strv_builder_new ();
  g_strv_builder_addv (not_matched, (const char **) changed);
  g_strv_builder_addv (not_matched, (const char **) unread);
  g_auto (GStrv) all_not_matched = g_strv_builder_end (not_matched);
  g_autofree char *matched_list = g_strjoinv (",", matched);
  g_autofree char *changed_list = g_strjoinv (",", all_not_matched);
  g_autofree char *why = tessera_machine_match_dup_explanation (m);
  tessera_license_set_attribute (license, "offline.match-policy",
                                 tessera_machine_match_get_policy (m));
  tessera_license_set_attribute (license, "offline.components-matched", matched_list);
  tessera_license_set_attribute (license, "offline.components-changed", changed_list);
  tessera_license_set_attribute (license, "offline.match", why);
}
