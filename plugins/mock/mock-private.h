/* The mock provider's private declarations, shared by its files. */
#pragma once

#include <tessera/tessera.h>

G_BEGIN_DECLS

#define MOCK_SCENARIO_MAX_SIZE (1024 * 1024)
#define MOCK_DELAY_MAX_MS G_GUINT64_CONSTANT (86400000)      /* one day */
#define MOCK_EXPIRES_IN_MAX G_GUINT64_CONSTANT (3155760000)  /* a hundred years */
#define MOCK_ISSUED_AT_MAX G_GUINT64_CONSTANT (253402300799) /* 9999-12-31 */
#define MOCK_DEFAULT_LICENSE_ID "mock-license"

typedef enum
{
  MOCK_OP_ACTIVATE,
  MOCK_OP_VALIDATE,
  MOCK_OP_RELEASE,
  MOCK_OP_FINGERPRINT,
  MOCK_OP_LIST,
  MOCK_OP_INSTALL,
  MOCK_OP_FORGET,
  MOCK_N_OPS
} MockOp;

/* NULL-terminated: also the list of keys allowed in "ops". */
extern const char *const mock_op_names[MOCK_N_OPS + 1];

/* What the scenario says about one op. */
typedef struct
{
  gboolean fails;    /* "error" given */
  TesseraError code; /* "error" */
  char *message;     /* "message", or NULL for a default */
  guint64 delay_ms;  /* "delay_ms" */
  guint64 after;     /* "after": calls that succeed before the failures */
  guint64 times;     /* "times": failing calls, 0 = every call after "after" */
} MockScript;

typedef struct
{
  gatomicrefcount ref_count; /* the instance, plus one per seat */

  /* The scenario: set by create, read only afterwards. */
  char *scenario_path; /* NULL: no scenario */
  char **products;     /* NULL: every product */
  gboolean has_quota;
  guint64 quota;
  char *machine_id; /* NULL: the core fingerprint */
  TesseraLicenseKind kind;
  char *license_id;
  char *org;
  guint64 expires_in; /* 0: never expires */
  gboolean has_issued_at;
  gint64 issued_at;
  char **entitlements;
  GHashTable *attributes; /* name -> value */
  gboolean development;
  MockScript scripts[MOCK_N_OPS];
  char *counters_path; /* NULL: no counters file */
  guint64 stored;      /* "stored": licenses list returns per product */
  guint64 credentials; /* "credentials": what the first forget reports */

  /* Guarded by @lock. */
  GMutex lock;
  guint64 creates;
  guint64 destroys;
  guint64 calls[MOCK_N_OPS];
  guint64 held;
  char *fingerprint_id; /* the core fingerprint, computed once */
  GPtrArray *installed; /* product names install added, in order */
  gboolean forgotten;   /* forget ran: the credentials are gone */
  gboolean counters_warned;
} Mock;

/* mock-scenario.c: reads and strictly checks the JSON scenario at @path into
 * @self (its scenario fields). Errors: TESSERA_ERROR_CONFIG naming the file
 * and key, or TESSERA_ERROR_PERMISSION_DENIED. */
gboolean mock_load_scenario (Mock *self, const char *path, GError **error);

G_END_DECLS
