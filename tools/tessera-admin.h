/* tessera-admin: shared parts of the command files (tessera-admin.c is the
 * command line, output and main; tessera-admin-org.c organizations, pools,
 * members, keys and grants; tessera-admin-pool.c sessions, machines, offline
 * licenses and the audit log). Private to the tool. */
#pragma once

#include "store.h"
#include "tool-cli.h"
#include "tool-time.h"

/* The codes of the table every tool shares (tool-cli.h). */
enum
{
  EXIT_OK = TOOL_EXIT_OK,
  EXIT_USAGE = TOOL_EXIT_USAGE,
  EXIT_AUTH = TOOL_EXIT_AUTH,           /* not a member of the organization */
  EXIT_IO = TOOL_EXIT_IO,               /* the database or a file cannot be used */
  EXIT_REFUSED = TOOL_EXIT_REFUSED,     /* refused by a rule: not supported, already exists */
  EXIT_QUOTA = TOOL_EXIT_QUOTA,         /* the quota is reached */
  EXIT_NOT_FOUND = TOOL_EXIT_NOT_FOUND, /* no such organization, pool, user, key, ... */
};

/* A command of tool_spec_admin (tool-spec-admin.c: its summary and
 * options) and the function that runs it. */
typedef struct
{
  const char *name; /* "pool create" */
  int (*run) (const char *name, int argc, char **argv);
} AdminCommand;

/* Prints "tessera-admin: MESSAGE" as exactly one line on stderr; returns @code. */
G_GNUC_PRINTF (2, 3)
int admin_fail (int code, const char *format, ...);
/* Reports @error (one line) and returns its exit code. */
int admin_fail_error (const GError *error);
int admin_exit_code (const GError *error);

/* Parses the options of command @name (plus --database and --help).
 * Returns -1 to go on, else the exit code (help printed: 0; usage: 1). */
int admin_parse (const char *name, const GOptionEntry *entries, int *argc, char ***argv);
/* Checks (value, "--option ARG") pairs, ended by NULL, NULL: -1 if all set,
 * else reports the first missing one and returns EXIT_USAGE. */
int admin_require (const char *name, ...) G_GNUC_NULL_TERMINATED;

/* In a command function (its @name, @argc, @argv): return early on a
 * usage error or --help, and on a missing required option. */
#define REQUIRED(...)                                                                              \
  do                                                                                               \
    {                                                                                              \
      int required_rc_ = admin_require (name, __VA_ARGS__, NULL, NULL);                            \
      if (required_rc_ >= 0)                                                                       \
        return required_rc_;                                                                       \
    }                                                                                              \
  while (0)

#define PARSE(entries)                                                                             \
  do                                                                                               \
    {                                                                                              \
      int parse_rc_ = admin_parse (name, entries, &argc, &argv);                                   \
      if (parse_rc_ >= 0)                                                                          \
        return parse_rc_;                                                                          \
    }                                                                                              \
  while (0)

/* Opens --database. Unless @create, the file must already exist.
 * Returns: the store, or NULL with the failure reported and *rc set. */
TsStore *admin_open (gboolean create, int *rc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsStore, ts_store_close)

gint64 admin_now (void);
extern gboolean admin_opt_json;
#define ADMIN_JSON_ENTRY                                                                           \
  {                                                                                                \
    "json", 'j', 0, G_OPTION_ARG_NONE, &admin_opt_json, NULL, NULL                                 \
  }

/* Listings, printed as aligned text columns or (--json) as
 * {"NAME": [{key: value, …}, …]}. @types has one letter a column:
 * 's' string (NULL: "-" / null), 'i' integer, 't' time (Unix seconds; text:
 * ISO 8601 UTC, 0: "-"; JSON: the seconds as KEY and the ISO text as
 * KEY_iso), 'j' a string in JSON only (an id a person does not read; its
 * header is ignored), 'x' a string in text only (what a person reads in
 * its place; its key is ignored). */
typedef struct _AdminTable AdminTable;
AdminTable *admin_table_new (const char *name, const char *types, ...) G_GNUC_NULL_TERMINATED;
/* One value a column: const char * for 's', gint64 for 'i' and 't'. */
void admin_table_add (AdminTable *table, ...);
/* Prints and frees the table. Returns EXIT_OK. */
int admin_table_print (AdminTable *table);

/* Emails of user ids, each looked up once: listings show people by email. */
typedef struct _AdminEmails AdminEmails;
AdminEmails *admin_emails_new (TsStore *store);
void admin_emails_free (AdminEmails *emails);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AdminEmails, admin_emails_free)
/* Returns: (transfer none) (nullable): the email of the user @id (NULL:
 * no such user, or @id is NULL). */
const char *admin_emails_get (AdminEmails *emails, const char *id);
/* Returns: (transfer none) (nullable): that email, else @id itself. */
const char *admin_emails_show (AdminEmails *emails, const char *id);
/* @text with each word that is a user id replaced by the email, and each
 * Unix time after "subscription_end" or "expires" by ISO 8601 UTC: an
 * audit record's detail as a person reads it. Returns: (transfer full). */
char *admin_emails_render (AdminEmails *emails, const char *text);

/* The user --user names: an email, or a user id (what 'member list --json'
 * shows). Returns: (transfer full): the user id, or NULL with the failure
 * reported and *@rc set (an unknown email: not found). */
char *admin_user_id (TsStore *store, const char *user, int *rc);

extern const AdminCommand admin_org_commands[];
extern const guint admin_n_org_commands;
extern const AdminCommand admin_pool_commands[];
extern const guint admin_n_pool_commands;
extern const AdminCommand admin_web_commands[]; /* tessera-admin-web.c */
extern const guint admin_n_web_commands;
extern const AdminCommand admin_keys_commands[]; /* tessera-admin-keys.c */
extern const guint admin_n_keys_commands;

/* The key that signs offline licenses: sealed in the database (@kek_path,
 * a key-encryption key file) or in a key directory (@key_dir: the key
 * DIR/current names, else the newest *.key). Exactly one of the two.
 * Returns: (transfer full): the key, or NULL with the failure reported
 * and *@rc set. */
TesseraSigningKey *admin_signing_key (TsStore *store, const char *key_dir, const char *kek_path,
                                      int *rc);
