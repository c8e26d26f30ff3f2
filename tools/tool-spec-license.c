/* tessera-license's commands and options, declared once: tools/tessera-license.c
 * parses them, --help, the man page and the completions are made from them
 * (tool-cli.h). */
#include "tool-cli.h"

static const ToolOption keygen_options[] = {
  { "secret", 0, TOOL_ARG_FILENAME, "FILE",
    "Where to write the secret key (mode 0600; never overwritten)" },
  { "public", 0, TOOL_ARG_FILENAME, "FILE",
    "Where to write the public key, what products trust (never overwritten)" },
  TOOL_OPTION_END,
};

static const ToolOption issue_options[] = {
  { "key", 'k', TOOL_ARG_FILENAME, "SECRET", "Secret key to sign with (mode 0600)" },
  { "machine-id", 'm', TOOL_ARG_FILENAME, "ID",
    "The machine ID the user sent ('tessera-license machine-id' on their machine)" },
  { "request", 'r', TOOL_ARG_FILENAME, "REQUEST",
    "The request the user sent ('tessera machine-id --request' on their machine): a file, or the "
    "line itself; the license then survives a changed component (see --match)" },
  { "match", 0, TOOL_ARG_FILENAME, "POLICY",
    "With --request: which hardware components must still match: all, all-but-one (default: all "
    "but one, at least two), most, any, or a number from 1 to 4" },
  { "product", 'p', TOOL_ARG_FILENAME, "PRODUCT", "Product code, e.g. KRE or KSE" },
  { "subscription-end", 's', TOOL_ARG_FILENAME, "DATE",
    "End of the subscription; the license never outlives it" },
  { "kind", 0, TOOL_ARG_FILENAME, "KIND",
    "node-locked (default) or floating (refused: only node-locked goes offline)" },
  { "billing", 0, TOOL_ARG_FILENAME, "CYCLE",
    "annual (default) or monthly (refused: only annual goes offline)" },
  { "org", 'o', TOOL_ARG_FILENAME, "ORG", "Organization id (default: \"default\")" },
  { "license-id", 0, TOOL_ARG_FILENAME, "ID",
    "License id, [A-Za-z0-9._-]{1,64} (default: a random UUID)" },
  { "entitlement", 'e', TOOL_ARG_FILENAME_ARRAY, "NAME", "A licensed feature; repeat for several" },
  { "issued-at", 0, TOOL_ARG_FILENAME, "DATE",
    "Start of validity (default: now); may be backdated" },
  { "expires-at", 0, TOOL_ARG_FILENAME, "DATE",
    "End of validity (default: 60 days after --issued-at, or the subscription end if sooner)" },
  { "out", 'd', TOOL_ARG_FILENAME, "DIR",
    "Directory for PRODUCT_MACHINEID.lic (default: .); an existing file is kept and the next free "
    "PRODUCT_MACHINEID.N.lic is used" },
  { "output", 0, TOOL_ARG_FILENAME, "FILE",
    "Write exactly this file instead (refused if it exists)" },
  TOOL_OPTION_END,
};

static const ToolOption inspect_options[] = {
  { "trusted-key", 't', TOOL_ARG_FILENAME_ARRAY, "PUB",
    "Public key file (or directory of *.pub) to verify with; repeat for several" },
  TOOL_OPTION_END,
};

static const ToolOption verify_options[] = {
  { "trusted-key", 't', TOOL_ARG_FILENAME_ARRAY, "PUB",
    "Public key file (or directory of *.pub) to trust; repeat for several (required)" },
  { "machine-id", 'm', TOOL_ARG_FILENAME, "ID",
    "Also require the license to be for this machine ID" },
  { "product", 'p', TOOL_ARG_FILENAME, "PRODUCT",
    "Also require the license to be for this product" },
  TOOL_OPTION_END,
};

static const ToolOption machine_id_options[] = {
  { "components", 'c', TOOL_ARG_NONE, NULL,
    "Also print the digest of each component (to explain a changed ID)" },
  { "request", 'r', TOOL_ARG_NONE, NULL,
    "Print the request to issue a license from instead (digests, no raw value: see 'issue "
    "--request')" },
  TOOL_OPTION_END,
};

static const ToolOption trust_options[] = {
  { "dir", 'd', TOOL_ARG_FILENAME, "DIR",
    "Trusted-key folder (default: the installed SYSCONFDIR/tessera/keys)" },
  TOOL_OPTION_END,
};

static const ToolCommand commands[] = {
  { "keygen", NULL, "Make a new Ed25519 signing key pair and print its key id.", keygen_options },
  { "issue", NULL,
    "Issue a signed offline license file for one machine: PRODUCT_MACHINEID.lic (printed on "
    "stdout).",
    issue_options },
  { "inspect", "FILE",
    "Show what a license file says and whether it is valid (verified with --trusted-key).",
    inspect_options },
  { "verify", "FILE",
    "Check that a license file is authentic and valid now (for a machine and product).",
    verify_options },
  { "machine-id", NULL, "Print this machine's ID, what a user sends the administrator.",
    machine_id_options },
  { "trust", "PUBFILE",
    "Trust an issuer's public key on this machine: products with the offline provider then accept "
    "its license files.",
    trust_options },
  TOOL_COMMAND_END,
};

static const ToolOption global_options[] = {
  { "json", 'j', TOOL_ARG_NONE, NULL,
    "Print one JSON object on stdout (a failure: {\"error\": {...}})" },
  TOOL_OPTION_END,
};

const ToolSpec tool_spec_license = {
  .program = "tessera-license",
  .summary = "make signing keys, issue, inspect and verify Tessera offline license files",
  .usage = "[--json] COMMAND [OPTION…]",
  .global_options = global_options,
  .commands = commands,
};
