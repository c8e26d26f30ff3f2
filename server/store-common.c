/* tessera-store: what both backends share and is no database's business:
 * ids, the validation of names and ids, roles, and freeing the row types
 * of store.h. Compiled once, under its own names (not through
 * store-sqlite-names.h). */
#include "store-private.h"

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
  g_free (m);
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
  g_free (a);
}
