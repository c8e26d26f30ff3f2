/* tessera's commands and options (docs/man/tessera.1.in), declared once:
 * tools/tessera*.c parse them, --help, the man page and the completions
 * are made from them (tool-cli.h). */
#include "tool-cli.h"

static const ToolOption machine_id_options[] = {
  { "request", 'r', TOOL_ARG_NONE, NULL,
    "Print the request an administrator issues a license from: component digests, no raw value "
    "(the license then survives a replaced part)" },
  { "explain", 'e', TOOL_ARG_NONE, NULL,
    "List each component and whether it was read; given FILE, whether it matches that license" },
  { "trusted-key", 0, TOOL_ARG_FILENAME_ARRAY, "PUB",
    "With --explain FILE: the issuer's public key (default: the installed keys)" },
  TOOL_OPTION_END,
};

static const ToolOption providers_options[] = {
  TOOL_OPTION_END,
};

static const ToolOption keys_forget_options[] = {
  { "provider", 'p', TOOL_ARG_STRING, "NAME",
    "Only this provider's credentials (default: every configured provider)" },
  TOOL_OPTION_END,
};

static const ToolOption activate_options[] = {
  { "product", 'p', TOOL_ARG_STRING, "PRODUCT", "The product to license" },
  { "api-key", 'k', TOOL_ARG_STRING, "KEY",
    "API key for an online provider (else its configured or cached one)" },
  { "org-id", 'o', TOOL_ARG_STRING, "ORG", "Organization, when the account belongs to several" },
  { "wait", 'w', TOOL_ARG_INT, "SECONDS",
    "Wait up to SECONDS for a seat when every seat is taken" },
  TOOL_OPTION_END,
};

static const ToolOption status_options[] = {
  { "product", 'p', TOOL_ARG_STRING, "PRODUCT", "Only this product" },
  { "warn-days", 0, TOOL_ARG_INT, "DAYS",
    "Warn when an offline license expires within DAYS days (default 14)" },
  TOOL_OPTION_END,
};

static const ToolOption validate_options[] = {
  { "product", 'p', TOOL_ARG_STRING, "PRODUCT", "The product" },
  { "stored-only", 0, TOOL_ARG_NONE, NULL,
    "Accepted for older scripts: validate only ever checks stored licenses" },
  { "api-key", 'k', TOOL_ARG_STRING, "KEY",
    "API key to check a kept online session with (else the cached one)" },
  { "org-id", 'o', TOOL_ARG_STRING, "ORG", "Only licenses of this organization" },
  TOOL_OPTION_END,
};

static const ToolOption release_options[] = {
  { "product", 'p', TOOL_ARG_STRING, "PRODUCT", "Only this product" },
  TOOL_OPTION_END,
};

static const ToolOption offline_install_options[] = {
  { "replace", 0, TOOL_ARG_NONE, NULL,
    "Replace the installed copy of the same license (a renewed file) instead of refusing" },
  TOOL_OPTION_END,
};

static const ToolOption run_options[] = {
  { "product", 'p', TOOL_ARG_STRING, "PRODUCT", "The product to license" },
  { "wait", 'w', TOOL_ARG_INT, "SECONDS",
    "Wait up to SECONDS for a seat when every seat is taken" },
  { "api-key", 'k', TOOL_ARG_STRING, "KEY", "API key for an online provider" },
  { "org-id", 'o', TOOL_ARG_STRING, "ORG", "Organization" },
  { "check-interval", 0, TOOL_ARG_INT, "SECONDS",
    "Re-check the license every SECONDS while the command runs (default 60; 0: never)" },
  TOOL_OPTION_END,
};

static const ToolCommand commands[] = {
  { "machine-id", NULL, "Print this machine's ID (what an offline license is issued for)",
    machine_id_options },
  { "providers", NULL, "List the installed and configured providers, and the config in use",
    providers_options },
  { "keys forget", NULL, "Forget the credentials (API keys) providers cached",
    keys_forget_options },
  { "activate", NULL, "Activate a license and keep it for later commands (where the provider can)",
    activate_options },
  { "status", NULL, "List the stored licenses: usable or why not, days left", status_options },
  { "validate", NULL,
    "Exit 0 if a license this machine holds for PRODUCT is valid now (never takes a seat)",
    validate_options },
  { "release", NULL, "Release the licenses 'activate' kept", release_options },
  { "offline install", "FILE", "Check an offline license file and put it into the license folder",
    offline_install_options },
  { "run", "-- COMMAND [ARG…]", "Run a command while holding one license (one session)",
    run_options },
  TOOL_COMMAND_END,
};

static const ToolOption global_options[] = {
  { "config", 'c', TOOL_ARG_FILENAME, "FILE",
    "Use this configuration file instead of the usual search" },
  { "json", 'j', TOOL_ARG_NONE, NULL, "Print JSON on stdout (errors too: {\"error\": {...}})" },
  TOOL_OPTION_END,
};

const ToolSpec tool_spec_tessera = {
  .program = "tessera",
  .summary = "licenses of Tessera products on this machine",
  .usage = "[--config FILE] [--json] COMMAND [OPTION…]",
  .global_options = global_options,
  .commands = commands,
};
