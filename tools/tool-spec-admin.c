/* tessera-admin's commands and options, declared once: tools/tessera-admin*.c
 * parse them, --help, the man page and the completions are made from them
 * (tool-cli.h). */
#include "tool-cli.h"

static const ToolOption bootstrap_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The new organization's id (e.g. acme)" },
  { "name", 'n', TOOL_ARG_FILENAME, "NAME", "Its display name" },
  { "owner", 0, TOOL_ARG_FILENAME, "EMAIL",
    "Its first owner's email (the user is created if new)" },
  TOOL_OPTION_END,
};

static const ToolOption pool_create_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "product", 0, TOOL_ARG_FILENAME, "PRODUCT", "The product (e.g. KRE)" },
  { "kind", 'k', TOOL_ARG_FILENAME, "KIND", "floating or node-locked" },
  { "billing", 'b', TOOL_ARG_FILENAME, "BILLING", "annual or monthly" },
  { "quota", 'q', TOOL_ARG_INT, "N",
    "How many licenses (node-locked: granted users; floating: seats)" },
  { "subscription-end", 0, TOOL_ARG_FILENAME, "DATE",
    "When the subscription ends (YYYY-MM-DD, UTC)" },
  TOOL_OPTION_END,
};

static const ToolOption pool_list_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption pool_set_quota_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "quota", 'q', TOOL_ARG_INT, "N", "The new quota" },
  TOOL_OPTION_END,
};

static const ToolOption pool_set_match_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "match", 'm', TOOL_ARG_STRING, "POLICY",
    "How many hardware components of a registered machine must still match for a new machine "
    "ID to be that machine, and the policy of offline files issued from a request: all, "
    "all-but-one (the default), most, any, or 1 to 4" },
  TOOL_OPTION_END,
};

static const ToolOption member_add_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "email", 'e', TOOL_ARG_FILENAME, "EMAIL", "The user's email (created if new)" },
  { "role", 'r', TOOL_ARG_FILENAME, "ROLE", "owner, admin or member" },
  TOOL_OPTION_END,
};

static const ToolOption member_remove_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "user", 'u', TOOL_ARG_FILENAME, "EMAIL", "The user: their email, or their id" },
  TOOL_OPTION_END,
};

static const ToolOption member_list_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption key_create_options[] = {
  { "user", 'u', TOOL_ARG_FILENAME, "EMAIL", "The user: their email, or their id" },
  { "label", 'l', TOOL_ARG_FILENAME, "LABEL", "What the key is for (e.g. a laptop)" },
  TOOL_OPTION_END,
};

static const ToolOption key_list_options[] = {
  { "user", 'u', TOOL_ARG_FILENAME, "EMAIL", "The user: their email, or their id" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption key_revoke_options[] = {
  { "user", 'u', TOOL_ARG_FILENAME, "EMAIL", "The user: their email, or their id" },
  { "key", 'k', TOOL_ARG_FILENAME, "KID", "The key's id ('key list')" },
  TOOL_OPTION_END,
};

static const ToolOption grant_list_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption grant_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "user", 'u', TOOL_ARG_FILENAME, "EMAIL", "The user: their email, or their id" },
  TOOL_OPTION_END,
};

static const ToolOption revoke_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "user", 'u', TOOL_ARG_FILENAME, "EMAIL", "The user: their email, or their id" },
  TOOL_OPTION_END,
};

static const ToolOption sessions_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption session_release_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "session", 's', TOOL_ARG_FILENAME, "ID", "The session's id ('sessions')" },
  TOOL_OPTION_END,
};

static const ToolOption machines_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption machine_remove_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "machine", 'm', TOOL_ARG_FILENAME, "M", "The machine ID ('machines')" },
  TOOL_OPTION_END,
};

static const ToolOption offline_create_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "machine-id", 'm', TOOL_ARG_FILENAME, "M",
    "The machine ID the user sent ('tessera-license machine-id' on their machine)" },
  { "request", 'r', TOOL_ARG_FILENAME, "REQ",
    "Or the request the user sent ('tessera machine-id --request'), a file or the line: the "
    "license then survives the hardware changes the pool's match policy allows" },
  { "entitlement", 'e', TOOL_ARG_FILENAME_ARRAY, "E",
    "A feature the license unlocks; repeat for several" },
  { "key-dir", 'k', TOOL_ARG_FILENAME, "DIR",
    "Signing keys (tessera-server's DATABASE.keys): the key DIR/current names, else the newest "
    "*.key" },
  { "key-encryption-key", 'K', TOOL_ARG_FILENAME, "FILE",
    "Or: sign with the newest key sealed in the database, opened with this key file "
    "(tessera-server --key-encryption-key)" },
  { "out", 0, TOOL_ARG_FILENAME, "DIR",
    "Where to write PRODUCT_MACHINEID.lic (default: the current directory; never overwritten)" },
  TOOL_OPTION_END,
};

static const ToolOption offline_list_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption offline_download_options[] = {
  { "id", 'i', TOOL_ARG_STRING, "ID",
    "The offline license (its id, from 'offline create' or 'offline list')" },
  { "output", 'o', TOOL_ARG_FILENAME, "DIR|FILE",
    "A directory to write PRODUCT_MACHINEID.lic into (the next free name, never overwritten), or a "
    "file that does not exist yet (default: the current directory)" },
  TOOL_OPTION_END,
};

static const ToolOption audit_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "limit", 'n', TOOL_ARG_INT, "N", "At most N records, newest first (default 50)" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption usage_options[] = {
  { "org", 'o', TOOL_ARG_FILENAME, "ID", "The organization's id" },
  { "pool", 'p', TOOL_ARG_FILENAME, "ID", "The pool's id ('pool list')" },
  { "since", 's', TOOL_ARG_FILENAME, "DATE",
    "From this date (YYYY-MM-DD, UTC), ISO 8601 time or Unix seconds" },
  { "until", 'u', TOOL_ARG_FILENAME, "DATE", "Up to this time (default: now)" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  { "csv", 0, TOOL_ARG_NONE, NULL, "Print CSV (one line an hour) instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption signing_key_create_kek_options[] = {
  { "file", 'f', TOOL_ARG_FILENAME, "FILE",
    "Where to create the key (mode 0600; an existing file is never overwritten)" },
  TOOL_OPTION_END,
};

static const ToolOption signing_key_list_options[] = {
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON instead of text" },
  TOOL_OPTION_END,
};

static const ToolOption signing_key_rotate_options[] = {
  { "key-encryption-key", 'K', TOOL_ARG_FILENAME, "FILE",
    "The instances' key-encryption key file (tessera-server --key-encryption-key)" },
  TOOL_OPTION_END,
};

static const ToolOption signing_key_import_options[] = {
  { "key-encryption-key", 'K', TOOL_ARG_FILENAME, "FILE",
    "The instances' key-encryption key file (tessera-server --key-encryption-key)" },
  { "key", 0, TOOL_ARG_FILENAME, "FILE",
    "The secret key file to import (a key directory's KEYID.key)" },
  TOOL_OPTION_END,
};

static const ToolOption password_set_options[] = {
  { "email", 'e', TOOL_ARG_FILENAME, "EMAIL",
    "The user's email (an existing user: 'bootstrap' or 'member add')" },
  TOOL_OPTION_END,
};

static const ToolCommand commands[] = {
  { "bootstrap", NULL, "Create an organization and its first owner; print the owner's user id",
    bootstrap_options },
  { "pool create", NULL, "Create a license pool (one per product and kind); print its id",
    pool_create_options },
  { "pool list", NULL, "List an organization's pools with their usage", pool_list_options },
  { "pool set-quota", NULL, "Change a pool's quota", pool_set_quota_options },
  { "pool set-match", NULL, "Change a pool's match policy (a machine whose hardware changed)",
    pool_set_match_options },
  { "member add", NULL, "Add a member, or change a member's role; print the user id",
    member_add_options },
  { "member remove", NULL, "Remove a member (ends their grants and sessions)",
    member_remove_options },
  { "member list", NULL, "List an organization's members", member_list_options },
  { "key create", NULL, "Create an API key for a user; print it (shown this once)",
    key_create_options },
  { "key list", NULL, "List a user's API keys", key_list_options },
  { "key revoke", NULL, "Revoke an API key", key_revoke_options },
  { "grant list", NULL, "List the users granted a node-locked pool", grant_list_options },
  { "grant", NULL, "Grant a user a license of a node-locked pool", grant_options },
  { "revoke", NULL, "Revoke a user's grant (ends their session)", revoke_options },
  { "sessions", NULL, "List a pool's active sessions", sessions_options },
  { "session release", NULL, "End a session now (force release)", session_release_options },
  { "machines", NULL, "List a pool's registered machines", machines_options },
  { "machine remove", NULL, "Remove a registered machine (ends its sessions)",
    machine_remove_options },
  { "offline create", NULL,
    "Sign an offline license for one machine (annual node-locked pools); print the file",
    offline_create_options },
  { "offline list", NULL, "List a pool's offline licenses", offline_list_options },
  { "offline download", NULL, "Write an offline license's file again (as stored at its creation)",
    offline_download_options },
  { "audit", NULL, "Show an organization's audit log, newest first", audit_options },
  { "usage", NULL,
    "Show a pool's usage history per hour: peak seats in use, activations, refusals, users",
    usage_options },
  { "signing-key create-kek", NULL, "Create a key-encryption key file (0600) for the instances",
    signing_key_create_kek_options },
  { "signing-key list", NULL, "List the signing keys in the database (the newest signs)",
    signing_key_list_options },
  { "signing-key rotate", NULL,
    "Generate a new signing key, sealed; instances started after sign with it",
    signing_key_rotate_options },
  { "signing-key import", NULL,
    "Store a key directory's KEYID.key sealed in the database, as the newest",
    signing_key_import_options },
  { "password set", NULL,
    "Set a user's web sign-in password, read from stdin (ends their web sessions)",
    password_set_options },
  TOOL_COMMAND_END,
};

static const ToolOption global_options[] = {
  { "database", 'd', TOOL_ARG_FILENAME, "PATH",
    "The server's database: a SQLite file (default ./tessera.db) or a postgresql:// URL" },
  TOOL_OPTION_END,
};

const ToolSpec tool_spec_admin = {
  .program = "tessera-admin",
  .summary = "administer a Tessera license server database",
  .usage = "[--database PATH] COMMAND [OPTION…]",
  .global_options = global_options,
  .commands = commands,
};
