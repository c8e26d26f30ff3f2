/* tessera-admin: organizations, pools, members, API keys and grants. */
#include "tessera-admin.h"

#include <stdio.h>

#define OPEN(store, create)                                                                        \
  int open_rc_ = EXIT_IO;                                                                          \
  g_autoptr (TsStore) store = admin_open (create, &open_rc_);                                      \
  if (store == NULL)                                                                               \
  return open_rc_

#define ORG_ENTRY                                                                                  \
  {                                                                                                \
    "org", 'o', 0, G_OPTION_ARG_FILENAME, &org, NULL, NULL                                         \
  }
#define POOL_ENTRY                                                                                 \
  {                                                                                                \
    "pool", 'p', 0, G_OPTION_ARG_FILENAME, &pool, NULL, NULL                                       \
  }
#define USER_ENTRY                                                                                 \
  {                                                                                                \
    "user", 'u', 0, G_OPTION_ARG_FILENAME, &user, NULL, NULL                                       \
  }

/* ---- bootstrap ---- */

static int
cmd_bootstrap (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *org_name = NULL, *owner = NULL;
  const GOptionEntry entries[] = {
    { "org", 'o', 0, G_OPTION_ARG_FILENAME, &org, NULL, NULL },
    { "name", 'n', 0, G_OPTION_ARG_FILENAME, &org_name, NULL, NULL },
    { "owner", 0, 0, G_OPTION_ARG_FILENAME, &owner, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", org_name, "--name NAME", owner, "--owner EMAIL");
  OPEN (store, TRUE);
  g_autoptr (GError) error = NULL;
  g_autofree char *user_id
      = ts_store_bootstrap_org (store, org, org_name, owner, admin_now (), &error);
  if (user_id == NULL)
    return admin_fail_error (error);
  printf ("%s\n", user_id);
  return EXIT_OK;
}

/* ---- pools ---- */

static int
cmd_pool_create (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *product = NULL, *kind = NULL, *billing = NULL, *end = NULL;
  gint64 quota = -1;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    { "product", 0, 0, G_OPTION_ARG_FILENAME, &product, NULL, NULL },
    { "kind", 'k', 0, G_OPTION_ARG_FILENAME, &kind, NULL, NULL },
    { "billing", 'b', 0, G_OPTION_ARG_FILENAME, &billing, NULL, NULL },
    { "quota", 'q', 0, G_OPTION_ARG_INT64, &quota, NULL, NULL },
    { "subscription-end", 0, 0, G_OPTION_ARG_FILENAME, &end, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", product, "--product PRODUCT", kind, "--kind KIND", billing,
            "--billing BILLING", end, "--subscription-end DATE");
  if (!g_str_equal (kind, "floating") && !g_str_equal (kind, "node-locked"))
    return admin_fail (EXIT_USAGE, "%s: --kind must be floating or node-locked, not '%s'", name,
                       kind);
  if (!g_str_equal (billing, "annual") && !g_str_equal (billing, "monthly"))
    return admin_fail (EXIT_USAGE, "%s: --billing must be annual or monthly, not '%s'", name,
                       billing);
  if (quota < 0)
    return admin_fail (EXIT_USAGE, "%s: --quota N (0 or more) is required", name);
  gint64 end_at = 0;
  if (!tool_parse_time (end, &end_at))
    return admin_fail (EXIT_USAGE, "%s: --subscription-end must be a date (YYYY-MM-DD), not '%s'",
                       name, end);
  /* A pool born expired would grant nothing and count as a pool of that
   * product and kind, in the way of the right one. */
  gint64 now = admin_now ();
  if (end_at <= now)
    {
      g_autoptr (GDateTime) at = g_date_time_new_from_unix_utc (end_at);
      g_autofree char *iso = at != NULL ? g_date_time_format (at, "%Y-%m-%dT%H:%M:%SZ") : NULL;
      return admin_fail (EXIT_REFUSED,
                         "%s: --subscription-end %s (%s) is in the past: give the date the "
                         "subscription ends, later than now",
                         name, end, iso != NULL ? iso : "out of range");
    }

  OPEN (store, FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (TsPool) p
      = ts_store_create_pool (store, NULL, org, product, kind, billing, quota, end_at, now, &error);
  if (p == NULL)
    return admin_fail_error (error);
  printf ("%s\n", p->id);
  return EXIT_OK;
}

static int
cmd_pool_list (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL;
  const GOptionEntry entries[] = { ORG_ENTRY, ADMIN_JSON_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (org, "--org ID");
  OPEN (store, FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) pools = ts_store_list_pools (store, NULL, org, admin_now (), &error);
  if (pools == NULL)
    return admin_fail_error (error);
  AdminTable *t = admin_table_new (
      "pools", "sssssitiiii", "id", "id", "org", "org", "product", "product", "kind", "kind",
      "billing", "billing", "quota", "quota", "subscription_end", "subscription-end", "granted",
      "granted", "machines", "machines", "sessions", "sessions", "offline", "offline", NULL);
  for (guint i = 0; i < pools->len; i++)
    {
      TsPool *p = g_ptr_array_index (pools, i);
      admin_table_add (t, p->id, p->org_id, p->product, p->kind, p->billing, p->quota,
                       p->subscription_end, p->granted, p->machines, p->sessions, p->offline);
    }
  return admin_table_print (t);
}

static int
cmd_pool_set_quota (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL;
  gint64 quota = -1;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    POOL_ENTRY,
    { "quota", 'q', 0, G_OPTION_ARG_INT64, &quota, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID");
  if (quota < 0)
    return admin_fail (EXIT_USAGE, "%s: --quota N (0 or more) is required", name);
  OPEN (store, FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (TsPool) p
      = ts_store_update_pool (store, NULL, org, pool, quota, -1, admin_now (), &error);
  if (p == NULL)
    return admin_fail_error (error);
  printf ("%s %s %s: quota %" G_GINT64_FORMAT "\n", p->product, p->kind, p->id, p->quota);
  return EXIT_OK;
}

static int
cmd_pool_set_match (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL, *match = NULL;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    POOL_ENTRY,
    { "match", 'm', 0, G_OPTION_ARG_STRING, &match, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID", match, "--match POLICY");
  g_autoptr (GError) error = NULL;
  if (!tessera_match_policy_check (match, &error))
    return admin_fail (EXIT_USAGE, "%s: %s", name, error->message);
  OPEN (store, FALSE);
  g_autoptr (TsPool) p
      = ts_store_update_pool_policy (store, NULL, org, pool, -1, -1, match, admin_now (), &error);
  if (p == NULL)
    return admin_fail_error (error);
  printf ("%s %s %s: match policy %s\n", p->product, p->kind, p->id, p->match_policy);
  return EXIT_OK;
}

/* ---- members ---- */

static int
cmd_member_add (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *email = NULL, *role_name = NULL;
  const GOptionEntry entries[] = {
    ORG_ENTRY,
    { "email", 'e', 0, G_OPTION_ARG_FILENAME, &email, NULL, NULL },
    { "role", 'r', 0, G_OPTION_ARG_FILENAME, &role_name, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (org, "--org ID", email, "--email EMAIL", role_name, "--role ROLE");
  TsRole role;
  if (!ts_role_from_string (role_name, &role))
    return admin_fail (EXIT_USAGE, "%s: --role must be owner, admin or member, not '%s'", name,
                       role_name);
  OPEN (store, FALSE);
  g_autoptr (GError) error = NULL;
  g_autofree char *user_id
      = ts_store_set_member (store, NULL, org, email, role, admin_now (), &error);
  if (user_id == NULL)
    return admin_fail_error (error);
  printf ("%s\n", user_id);
  return EXIT_OK;
}

static int
cmd_member_remove (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *user = NULL;
  const GOptionEntry entries[] = { ORG_ENTRY, USER_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (org, "--org ID", user, "--user EMAIL");
  OPEN (store, FALSE);
  g_autofree char *user_id = admin_user_id (store, user, &open_rc_);
  if (user_id == NULL)
    return open_rc_;
  g_autoptr (GError) error = NULL;
  if (!ts_store_remove_member (store, NULL, org, user_id, admin_now (), &error))
    return admin_fail_error (error);
  return EXIT_OK;
}

static int
cmd_member_list (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL;
  const GOptionEntry entries[] = { ORG_ENTRY, ADMIN_JSON_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (org, "--org ID");
  OPEN (store, FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) members = ts_store_list_members (store, NULL, org, &error);
  if (members == NULL)
    return admin_fail_error (error);
  AdminTable *t
      = admin_table_new ("members", "jss", "user_id", NULL, "email", "email", "role", "role", NULL);
  for (guint i = 0; i < members->len; i++)
    {
      TsMember *m = g_ptr_array_index (members, i);
      admin_table_add (t, m->user_id, m->email, ts_role_to_string (m->role));
    }
  return admin_table_print (t);
}

/* ---- API keys ---- */

static int
cmd_key_create (const char *name, int argc, char **argv)
{
  g_autofree char *user = NULL, *label = NULL;
  const GOptionEntry entries[] = {
    USER_ENTRY,
    { "label", 'l', 0, G_OPTION_ARG_FILENAME, &label, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (user, "--user EMAIL");
  OPEN (store, FALSE);
  g_autofree char *user_id = admin_user_id (store, user, &open_rc_);
  if (user_id == NULL)
    return open_rc_;
  g_autoptr (GError) error = NULL;
  g_autofree char *key_id = NULL;
  g_autofree char *key
      = ts_store_create_api_key (store, user_id, label ? label : "", admin_now (), &key_id, &error);
  if (key == NULL)
    return admin_fail_error (error);
  printf ("%s\n", key); /* alone, shown this once */
  return EXIT_OK;
}

static int
cmd_key_list (const char *name, int argc, char **argv)
{
  g_autofree char *user = NULL;
  const GOptionEntry entries[] = { USER_ENTRY, ADMIN_JSON_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (user, "--user EMAIL");
  OPEN (store, FALSE);
  g_autofree char *user_id = admin_user_id (store, user, &open_rc_);
  if (user_id == NULL)
    return open_rc_;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) keys = ts_store_list_api_keys (store, user_id, &error);
  if (keys == NULL)
    return admin_fail_error (error);
  AdminTable *t
      = admin_table_new ("keys", "ssstt", "id", "id", "label", "label", "prefix", "prefix",
                         "created_at", "created", "revoked_at", "revoked", NULL);
  for (guint i = 0; i < keys->len; i++)
    {
      TsApiKey *k = g_ptr_array_index (keys, i);
      admin_table_add (t, k->id, k->label, k->prefix, k->created_at, k->revoked_at);
    }
  return admin_table_print (t);
}

static int
cmd_key_revoke (const char *name, int argc, char **argv)
{
  g_autofree char *user = NULL, *key = NULL;
  const GOptionEntry entries[] = {
    USER_ENTRY,
    { "key", 'k', 0, G_OPTION_ARG_FILENAME, &key, NULL, NULL },
    G_OPTION_ENTRY_NULL,
  };
  PARSE (entries);
  REQUIRED (user, "--user EMAIL", key, "--key KID");
  OPEN (store, FALSE);
  g_autofree char *user_id = admin_user_id (store, user, &open_rc_);
  if (user_id == NULL)
    return open_rc_;
  g_autoptr (GError) error = NULL;
  if (!ts_store_revoke_api_key (store, user_id, key, admin_now (), &error))
    return admin_fail_error (error);
  return EXIT_OK;
}

/* ---- grants ---- */

static int
grant_or_revoke (const char *name, int argc, char **argv, gboolean grant)
{
  g_autofree char *org = NULL, *pool = NULL, *user = NULL;
  const GOptionEntry entries[] = { ORG_ENTRY, POOL_ENTRY, USER_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID", user, "--user EMAIL");
  OPEN (store, FALSE);
  g_autofree char *user_id = admin_user_id (store, user, &open_rc_);
  if (user_id == NULL)
    return open_rc_;
  g_autoptr (GError) error = NULL;
  gboolean ok = grant
                    ? ts_store_grant (store, NULL, org, pool, user_id, admin_now (), &error)
                    : ts_store_revoke_grant (store, NULL, org, pool, user_id, admin_now (), &error);
  if (!ok)
    return admin_fail_error (error);
  return EXIT_OK;
}

static int
cmd_grant (const char *name, int argc, char **argv)
{
  return grant_or_revoke (name, argc, argv, TRUE);
}

static int
cmd_revoke (const char *name, int argc, char **argv)
{
  return grant_or_revoke (name, argc, argv, FALSE);
}

static int
cmd_grant_list (const char *name, int argc, char **argv)
{
  g_autofree char *org = NULL, *pool = NULL;
  const GOptionEntry entries[] = { ORG_ENTRY, POOL_ENTRY, ADMIN_JSON_ENTRY, G_OPTION_ENTRY_NULL };
  PARSE (entries);
  REQUIRED (org, "--org ID", pool, "--pool ID");
  OPEN (store, FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) grants = ts_store_list_grants (store, NULL, org, pool, &error);
  if (grants == NULL)
    return admin_fail_error (error);
  AdminTable *t = admin_table_new ("grants", "jst", "user_id", NULL, "email", "email", "granted_at",
                                   "granted", NULL);
  for (guint i = 0; i < grants->len; i++)
    {
      TsGrant *g = g_ptr_array_index (grants, i);
      admin_table_add (t, g->user_id, g->email, g->granted_at);
    }
  return admin_table_print (t);
}

const AdminCommand admin_org_commands[] = {
  { "bootstrap", cmd_bootstrap },
  { "pool create", cmd_pool_create },
  { "pool list", cmd_pool_list },
  { "pool set-quota", cmd_pool_set_quota },
  { "pool set-match", cmd_pool_set_match },
  { "member add", cmd_member_add },
  { "member remove", cmd_member_remove },
  { "member list", cmd_member_list },
  { "key create", cmd_key_create },
  { "key list", cmd_key_list },
  { "key revoke", cmd_key_revoke },
  { "grant list", cmd_grant_list },
  { "grant", cmd_grant },
  { "revoke", cmd_revoke },
};
const guint admin_n_org_commands = G_N_ELEMENTS (admin_org_commands);
