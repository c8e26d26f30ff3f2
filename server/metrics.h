/* tessera-server's Prometheus metrics (docs/deployment.md, "Monitoring"):
 * a registry of counters and histograms fed by small hooks in the HTTP
 * layer, the reaper and the store, and its text exposition (format
 * 0.0.4) for GET /metrics (http-metrics.c). Every hook is lock-free
 * (atomics) or takes one histogram's mutex: nothing is allocated per
 * request. Part of tessera-store, whose engines count their commits and
 * errors. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

#define TS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Route slots of ts_metrics_request(): the HTTP layer names them once. */
#define TS_METRICS_MAX_ROUTES 64

/* Why an activation was refused: a bounded set, mapped from the store's
 * error codes by the HTTP layer (http-metrics.c). */
typedef enum
{
  TS_REFUSED_QUOTA,
  TS_REFUSED_MACHINE_QUOTA,
  TS_REFUSED_REVOKED,
  TS_REFUSED_NO_GRANT,
  TS_REFUSED_NOT_MEMBER,
  TS_REFUSED_ORG_REQUIRED,
  TS_REFUSED_EXPIRED,
  TS_REFUSED_TERMINATED,
  TS_REFUSED_INVALID,
  TS_REFUSED_UNAVAILABLE,
  TS_REFUSED_OTHER,
  TS_REFUSED_N
} TsRefusal;

/* Names route slot @slot (< TS_METRICS_MAX_ROUTES): @method and @route
 * are kept, not copied (constants). */
void ts_metrics_route_name (guint slot, const char *method, const char *route);
/* One request answered on route @slot with @status after @usec µs. */
void ts_metrics_request (guint slot, guint status, gint64 usec);
void ts_metrics_refused (TsRefusal reason);
void ts_metrics_reaped (guint n);
/* The engine reported an error (a statement, a commit, a connection). */
void ts_metrics_database_error (void);
/* One commit took @usec µs (SQLite: a group commit, its WAL sync
 * included; PostgreSQL: the COMMIT round trip). */
void ts_metrics_commit (gint64 usec);

/* The exposition of every metric, the per-pool gauges read from @store at
 * @now (store-metrics.c). Returns (transfer full) the text, or NULL with
 * @error when the store cannot be read. */
char *ts_metrics_render (TsStore *store, gint64 now, GError **error);

/* ---- store-metrics.c ---- */

typedef struct
{
  char *org_id;
  char *pool_id;
  char *product;
  char *kind;
  gint64 quota;
  gint64 in_use; /* active sessions and unexpired offline licenses */
  gint64 machines;
} TsPoolMetrics;

void ts_pool_metrics_free (TsPoolMetrics *p);
/* Every pool's seats, quota and machines in one read-only statement.
 * Returns (transfer full) TsPoolMetrics *, or NULL with @error. */
GPtrArray *ts_store_pool_metrics (TsStore *store, gint64 now, GError **error);
/* Heartbeats waiting for the SQLite lease writer; -1 when the engine has
 * no queue (PostgreSQL: each heartbeat is its own transaction). */
gint64 ts_store_lease_queue_depth (TsStore *store);

G_END_DECLS
