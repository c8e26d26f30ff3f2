/* tessera-store: what both backends share and is no database's business:
 * ids, the validation of names and ids, roles, and freeing the row types
 * of store.h. */
#include "store-private.h"

#include "client-info.h"

#include <string.h>

char *
ts_new_id (void)
{
  return g_uuid_string_random ();
}

/* ---- validation ---- */

static gboolean
ts_check_chars (const char *what, const char *s, gsize min, gsize max, const char *extra,
                GError **error)
{
  gsize len = s != NULL ? strlen (s) : 0;
  gboolean ok = s != NULL && len >= min && len <= max;
  for (gsize i = 0; ok && i < len; i++)
    ok = g_ascii_isalnum (s[i]) || strchr (extra, s[i]) != NULL;
  if (!ok)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "invalid %s: %" G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT
                 " characters of A-Z, a-z, 0-9%s%s",
                 what, min, max, *extra ? " and " : "", extra);
  return ok;
}

/* Refused rather than stripped: a changed value would be shown as if the
 * client had sent it, and a terminal or a log line could be fooled by
 * what the client did send (escape sequences, line breaks). */
static gboolean
ts_check_client_text (const char *what, const char *s, gsize max, GError **error)
{
  if (s == NULL)
    return TRUE;
  gsize len = strlen (s);
  const char *bad = NULL;
  if (len == 0 || len > max)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "invalid %s: %" G_GSIZE_FORMAT " bytes, it must have 1 to %" G_GSIZE_FORMAT
                 " (leave it out when there is nothing to say)",
                 what, len, max);
  else if (!g_utf8_validate (s, (gssize) len, &bad))
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "invalid %s: not UTF-8 at byte %" G_GSIZE_FORMAT, what, (gsize) (bad - s));
  else
    {
      for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
        {
          gunichar c = g_utf8_get_char (p);
          if (tessera_client_char_refused (c))
            {
              g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                           "invalid %s: %s character U+%04X at byte %" G_GSIZE_FORMAT
                           " (such characters are refused, not stripped)",
                           what, g_unichar_iscntrl (c) ? "control" : "invisible or layout", c,
                           (gsize) (p - s));
              return FALSE;
            }
        }
      return TRUE;
    }
  return FALSE;
}

gboolean
ts_check_client_info (const TsClientInfo *info, GError **error)
{
  return info == NULL
         || (ts_check_client_text ("hostname", info->hostname, TS_CLIENT_HOSTNAME_MAX, error)
             && ts_check_client_text ("os", info->os, TS_CLIENT_OS_MAX, error));
}

gboolean
ts_check_product (const char *product, GError **error)
{
  return ts_check_chars ("product", product, 1, 64, "-", error);
}

gboolean
ts_check_machine_id (const char *machine_id, GError **error)
{
  return ts_check_chars ("machine_id", machine_id, 1, 64, "-", error);
}

gboolean
ts_check_org_id (const char *org_id, GError **error)
{
  return ts_check_chars ("org_id", org_id, 1, 64, "-_.", error);
}

gboolean
ts_check_id (const char *what, const char *id, GError **error)
{
  return ts_check_chars (what, id, 1, 64, "-_.", error);
}

gboolean
ts_check_email (const char *email, GError **error)
{
  gboolean ok = email != NULL && strchr (email, '@') != NULL && strlen (email) <= 254
                && g_utf8_validate (email, -1, NULL);
  for (const char *p = email; ok && *p; p++)
    ok = !g_ascii_isspace (*p) && !g_ascii_iscntrl (*p);
  if (!ok)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "invalid email: it must contain '@', no spaces, at most 254 characters");
  return ok;
}

gboolean
ts_check_email_and_role (const char *email, TsRole role, GError **error)
{
  if (!ts_check_email (email, error))
    return FALSE;
  if (ts_role_to_string (role) == NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "invalid role: owner, admin or member");
      return FALSE;
    }
  return TRUE;
}

/* ---- roles and frees ---- */

static const char *const role_names[] = { "member", "admin", "owner" };

const char *
ts_role_to_string (TsRole role)
{
  return (guint) role < G_N_ELEMENTS (role_names) ? role_names[role] : NULL;
}

gboolean
ts_role_from_string (const char *s, TsRole *role)
{
  for (guint i = 0; s != NULL && i < G_N_ELEMENTS (role_names); i++)
    if (g_str_equal (s, role_names[i]))
      {
        *role = (TsRole) i;
        return TRUE;
      }
  return FALSE;
}

void
ts_org_free (TsOrg *o)
{
  if (o == NULL)
    return;
  g_free (o->id);
  g_free (o->name);
  g_free (o);
}

void
ts_member_free (TsMember *m)
{
  if (m == NULL)
    return;
  g_free (m->user_id);
  g_free (m->email);
  g_free (m);
}

void
ts_pool_free (TsPool *p)
{
  if (p == NULL)
    return;
  g_free (p->id);
  g_free (p->org_id);
  g_free (p->product);
  g_free (p->kind);
  g_free (p->billing);
  g_free (p->match_policy);
  g_free (p);
}

void
ts_session_free (TsSession *s)
{
  if (s == NULL)
    return;
  g_free (s->id);
  g_free (s->org_id);
  g_free (s->pool_id);
  g_free (s->product);
  g_free (s->kind);
  g_free (s->user_id);
  g_free (s->machine_id);
  g_free (s->nonce);
  g_free (s->hostname);
  g_free (s->os);
  g_free (s);
}

void
ts_machine_free (TsMachine *m)
{
  if (m == NULL)
    return;
  g_free (m->pool_id);
  g_free (m->machine_id);
  g_free (m->user_id);
  g_free (m->hostname);
  g_free (m->os);
  g_clear_pointer (&m->changes, g_ptr_array_unref);
  g_free (m);
}

static void
ts_machine_change_free (TsMachineChange *c)
{
  g_free (c->from);
  g_free (c->to);
  g_free (c->changed);
  g_free (c->unread);
  g_free (c);
}

/* "OLD -> NEW; changed=A,B; unread=C; ..." (ts_recognize_machine()), or NULL. */
static TsMachineChange *
ts_machine_change_parse (const TsAudit *a)
{
  if (a->detail == NULL)
    return NULL;
  g_auto (GStrv) parts = g_strsplit (a->detail, "; ", 4);
  if (g_strv_length (parts) < 3 || !g_str_has_prefix (parts[1], "changed=")
      || !g_str_has_prefix (parts[2], "unread="))
    return NULL;
  g_auto (GStrv) ids = g_strsplit (parts[0], " -> ", 2);
  if (g_strv_length (ids) != 2)
    return NULL;
  TsMachineChange *c = g_new0 (TsMachineChange, 1);
  c->at = a->at;
  c->from = g_strdup (ids[0]);
  c->to = g_strdup (ids[1]);
  c->changed = g_strdup (parts[1] + strlen ("changed="));
  c->unread = g_strdup (parts[2] + strlen ("unread="));
  return c;
}

void
ts_machines_add_changes (GPtrArray *audit, const char *pool_id, GPtrArray *machines)
{
  for (guint m = 0; m < machines->len; m++)
    {
      TsMachine *machine = machines->pdata[m];
      const char *current = machine->machine_id;
      g_clear_pointer (&machine->changes, g_ptr_array_unref);
      machine->changes = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_machine_change_free);
      /* Newest first: each record found moves back to the ID before it. */
      for (guint i = 0; i < audit->len; i++)
        {
          const TsAudit *a = audit->pdata[i];
          if (!g_str_equal (a->action, "machine.replace") || g_strcmp0 (a->target, pool_id) != 0)
            continue;
          TsMachineChange *c = ts_machine_change_parse (a);
          if (c == NULL || !g_str_equal (c->to, current))
            {
              g_clear_pointer (&c, ts_machine_change_free);
              continue;
            }
          g_ptr_array_add (machine->changes, c);
          current = c->from;
        }
    }
}

void
ts_grant_free (TsGrant *g)
{
  if (g == NULL)
    return;
  g_free (g->user_id);
  g_free (g->email);
  g_free (g);
}

void
ts_offline_free (TsOffline *o)
{
  if (o == NULL)
    return;
  g_free (o->id);
  g_free (o->pool_id);
  g_free (o->machine_id);
  g_free (o->created_by);
  if (o->file != NULL)
    g_bytes_unref (o->file);
  g_free (o->file_name);
  g_free (o);
}

void
ts_api_key_free (TsApiKey *k)
{
  if (k == NULL)
    return;
  g_free (k->id);
  g_free (k->label);
  g_free (k->prefix);
  g_free (k);
}

void
ts_audit_free (TsAudit *a)
{
  if (a == NULL)
    return;
  g_free (a->actor);
  g_free (a->action);
  g_free (a->target);
  g_free (a->detail);
  g_free (a->actor_email);
  g_free (a->target_email);
  g_free (a);
}

char *
ts_recognize_machine (const char *policy, GPtrArray *registered, const char *machine_id,
                      const char *components, char **detail)
{
  *detail = NULL;
  for (guint i = 0; i + 1 < registered->len; i += 2)
    {
      const char *stored = registered->pdata[i + 1];
      /* A row written by this server always parses; one that does not is
       * no match rather than a failed activation. */
      g_autoptr (TesseraMachineMatch) m
          = tessera_machine_match_new_for_digests (policy, stored, components, NULL);
      if (m == NULL || !tessera_machine_match_is_match (m))
        continue;
      g_auto (GStrv) changed = tessera_machine_match_dup_components (m, TESSERA_COMPONENT_CHANGED);
      g_auto (GStrv) unread = tessera_machine_match_dup_components (m, TESSERA_COMPONENT_UNREAD);
      g_autofree char *changed_list = g_strjoinv (",", changed);
      g_autofree char *unread_list = g_strjoinv (",", unread);
      /* "OLD -> NEW; changed=A,B; ..." is read back by the machine
       * history (ts_store_machine_history()). */
      *detail = g_strdup_printf ("%s -> %s; changed=%s; unread=%s; %u of %u hardware "
                                 "components match, policy %s needs %u",
                                 (const char *) registered->pdata[i], machine_id, changed_list,
                                 unread_list, tessera_machine_match_get_matched (m),
                                 tessera_machine_match_get_bound (m), policy,
                                 tessera_machine_match_get_required (m));
      return g_strdup (registered->pdata[i]);
    }
  return NULL;
}

GBytes *
ts_sign_offline (TesseraSigningKey *key, const TesseraLicfileInfo *info,
                 TesseraFingerprint *request, const char *match_policy, GError **error)
{
  if (request == NULL)
    return tessera_licfile_sign (key, info, error);
  return tessera_licfile_sign_for_request (key, info, request, match_policy, error);
}

gboolean
ts_check_offline_machine (const char **machine_id, TesseraFingerprint *request, GError **error)
{
  if (request != NULL)
    {
      const char *id = tessera_fingerprint_get_id (request);
      if (*machine_id != NULL && !g_str_equal (*machine_id, id))
        {
          g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                       "the request is for machine %s, not %s: give one or the other", id,
                       *machine_id);
          return FALSE;
        }
      *machine_id = id;
    }
  if (*machine_id == NULL)
    {
      g_set_error_literal (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                           "a machine ID or the machine's request is required");
      return FALSE;
    }
  return ts_check_machine_id (*machine_id, error);
}

gboolean
ts_store_fill_machine_changes (TsStore *store, const char *actor, const char *org_id,
                               const char *pool_id, GPtrArray *machines, GError **error)
{
  g_autoptr (GPtrArray) audit = ts_store_list_audit (store, actor, org_id, 0, error);
  if (audit == NULL)
    return FALSE;
  ts_machines_add_changes (audit, pool_id, machines);
  return TRUE;
}

gboolean
ts_check_lease (gint64 lease_seconds, GError **error)
{
  if (lease_seconds < TS_LEASE_MIN || lease_seconds > TS_LEASE_MAX)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "invalid lease_seconds: %d to %d", TS_LEASE_MIN, TS_LEASE_MAX);
      return FALSE;
    }
  return TRUE;
}

gboolean
ts_check_nonce (const char *nonce, GError **error)
{
  gsize len = nonce != NULL ? strlen (nonce) : 0;
  gboolean ok = len >= 8 && len <= 64;
  for (gsize i = 0; ok && i < len; i++)
    ok = g_ascii_isalnum (nonce[i]) || nonce[i] == '-' || nonce[i] == '_';
  if (!ok)
    g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                 "invalid nonce: 8 to 64 characters of A-Z, a-z, 0-9, - and _");
  return ok;
}
