/* tessera-server's metrics registry and its Prometheus text exposition
 * (metrics.h; format 0.0.4: HELP and TYPE lines, histograms as cumulative
 * _bucket{le=…} series with _sum and _count). */
#include "metrics.h"

#include <string.h>

/* Upper bounds in seconds: a commit's fsync is ~1 ms, a request's answer
 * a few ms, a slow one over a second. */
static const double ts_bounds[]
    = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0 };
#define TS_BUCKETS G_N_ELEMENTS (ts_bounds)

/* A static GMutex needs no initialization. The buckets are kept apart
 * (not cumulative) and summed at exposition. */
typedef struct
{
  GMutex lock;
  guint64 buckets[TS_BUCKETS + 1]; /* the last: above every bound */
  guint64 count;
  gint64 sum_usec;
} TsHistogram;

/* HTTP status codes are 100 to 599. */
#define TS_STATUS_MIN 100
#define TS_STATUS_N 500

typedef struct
{
  const char *method;
  const char *route;
} TsRouteName;

static TsRouteName ts_route_names[TS_METRICS_MAX_ROUTES];
/* gsize: what g_atomic_pointer_add() counts in (64 bits on 64-bit hosts). */
static gsize ts_requests[TS_METRICS_MAX_ROUTES][TS_STATUS_N];
static TsHistogram ts_latency[TS_METRICS_MAX_ROUTES];
static gsize ts_refusals[TS_REFUSED_N];
static gsize ts_reaped_total;
static gsize ts_db_errors;
static TsHistogram ts_commits;

static const char *const ts_refusal_names[TS_REFUSED_N] = {
  [TS_REFUSED_QUOTA] = "quota",
  [TS_REFUSED_MACHINE_QUOTA] = "machine_quota",
  [TS_REFUSED_REVOKED] = "revoked",
  [TS_REFUSED_NO_GRANT] = "no_grant",
  [TS_REFUSED_NOT_MEMBER] = "not_member",
  [TS_REFUSED_ORG_REQUIRED] = "org_required",
  [TS_REFUSED_EXPIRED] = "expired",
  [TS_REFUSED_TERMINATED] = "terminated",
  [TS_REFUSED_INVALID] = "invalid_request",
  [TS_REFUSED_UNAVAILABLE] = "unavailable",
  [TS_REFUSED_OTHER] = "other",
};

static void
ts_count (gsize *counter, gsize n)
{
  g_atomic_pointer_add (counter, (gssize) n);
}

static gsize
ts_read (gsize *counter)
{
  return (gsize) g_atomic_pointer_get ((gpointer *) counter);
}

static void
ts_histogram_observe (TsHistogram *h, gint64 usec)
{
  usec = MAX (usec, 0);
  guint b = 0;
  while (b < TS_BUCKETS && (double) usec / G_USEC_PER_SEC > ts_bounds[b])
    b++;
  g_mutex_lock (&h->lock);
  h->buckets[b]++;
  h->count++;
  h->sum_usec += usec;
  g_mutex_unlock (&h->lock);
}

void
ts_metrics_route_name (guint slot, const char *method, const char *route)
{
  g_return_if_fail (slot < TS_METRICS_MAX_ROUTES);
  ts_route_names[slot].method = method;
  ts_route_names[slot].route = route;
}

void
ts_metrics_request (guint slot, guint status, gint64 usec)
{
  if (slot >= TS_METRICS_MAX_ROUTES || status < TS_STATUS_MIN
      || status >= TS_STATUS_MIN + TS_STATUS_N)
    return;
  ts_count (&ts_requests[slot][status - TS_STATUS_MIN], 1);
  ts_histogram_observe (&ts_latency[slot], usec);
}

void
ts_metrics_refused (TsRefusal reason)
{
  if (reason < TS_REFUSED_N)
    ts_count (&ts_refusals[reason], 1);
}

void
ts_metrics_reaped (guint n)
{
  ts_count (&ts_reaped_total, n);
}

void
ts_metrics_database_error (void)
{
  ts_count (&ts_db_errors, 1);
}

void
ts_metrics_commit (gint64 usec)
{
  ts_histogram_observe (&ts_commits, usec);
}

/* ---------------------------------------------------------------- exposition */

/* A label value: backslash, double quote and line feed escaped. */
static void
ts_label (GString *out, const char *name, const char *value, gboolean first)
{
  g_string_append_printf (out, "%s%s=\"", first ? "" : ",", name);
  for (const char *p = value != NULL ? value : ""; *p != '\0'; p++)
    {
      if (*p == '\\')
        g_string_append (out, "\\\\");
      else if (*p == '"')
        g_string_append (out, "\\\"");
      else if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
ts_header (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
ts_seconds (GString *out, gint64 usec)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append (out, g_ascii_formatd (buf, sizeof buf, "%.6f", (double) usec / G_USEC_PER_SEC));
}

/* The series of one histogram; @labels: its own labels ("" for none). */
static void
ts_histogram_render (GString *out, const char *name, const char *labels, TsHistogram *h)
{
  guint64 buckets[TS_BUCKETS + 1];
  g_mutex_lock (&h->lock);
  memcpy (buckets, h->buckets, sizeof buckets);
  guint64 count = h->count;
  gint64 sum = h->sum_usec;
  g_mutex_unlock (&h->lock);
  const char *sep = labels[0] != '\0' ? "," : "";
  guint64 cumulative = 0;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  for (guint b = 0; b <= TS_BUCKETS; b++)
    {
      cumulative += buckets[b];
      g_string_append_printf (
          out, "%s_bucket{%s%sle=\"%s\"} %" G_GUINT64_FORMAT "\n", name, labels, sep,
          b < TS_BUCKETS ? g_ascii_dtostr (buf, sizeof buf, ts_bounds[b]) : "+Inf", cumulative);
    }
  g_string_append_printf (out, "%s_sum%s%s%s ", name, labels[0] ? "{" : "", labels,
                          labels[0] ? "}" : "");
  ts_seconds (out, sum);
  g_string_append_printf (out, "\n%s_count%s%s%s %" G_GUINT64_FORMAT "\n", name,
                          labels[0] ? "{" : "", labels, labels[0] ? "}" : "", count);
}

static void
ts_route_labels (GString *out, guint slot)
{
  ts_label (out, "method", ts_route_names[slot].method, TRUE);
  ts_label (out, "route", ts_route_names[slot].route, FALSE);
}

static void
ts_render_http (GString *out)
{
  ts_header (out, "tessera_http_requests_total", "counter",
             "HTTP requests answered, by method, route pattern and status code.");
  for (guint slot = 0; slot < TS_METRICS_MAX_ROUTES; slot++)
    for (guint s = 0; ts_route_names[slot].route != NULL && s < TS_STATUS_N; s++)
      {
        gsize n = ts_read (&ts_requests[slot][s]);
        if (n == 0)
          continue;
        g_string_append (out, "tessera_http_requests_total{");
        ts_route_labels (out, slot);
        g_string_append_printf (out, ",code=\"%u\"} %" G_GSIZE_FORMAT "\n", s + TS_STATUS_MIN, n);
      }
  ts_header (out, "tessera_http_request_duration_seconds", "histogram",
             "Time from a request's headers to its answer, by method and route pattern.");
  GString *labels = g_string_new (NULL);
  for (guint slot = 0; slot < TS_METRICS_MAX_ROUTES; slot++)
    {
      if (ts_route_names[slot].route == NULL)
        continue;
      g_mutex_lock (&ts_latency[slot].lock);
      guint64 seen = ts_latency[slot].count;
      g_mutex_unlock (&ts_latency[slot].lock);
      if (seen == 0)
        continue;
      g_string_truncate (labels, 0);
      ts_route_labels (labels, slot);
      ts_histogram_render (out, "tessera_http_request_duration_seconds", labels->str,
                           &ts_latency[slot]);
    }
  g_string_free (labels, TRUE);
}

static void
ts_render_pools (GString *out, GPtrArray *pools)
{
  static const struct
  {
    const char *name;
    const char *help;
    gsize offset;
  } gauges[] = {
    { "tessera_pool_seats_in_use",
      "Seats taken in a pool: active sessions and unexpired offline licenses.",
      G_STRUCT_OFFSET (TsPoolMetrics, in_use) },
    { "tessera_pool_seats_quota", "The pool's quota of seats.",
      G_STRUCT_OFFSET (TsPoolMetrics, quota) },
    { "tessera_pool_machines_registered", "Machines registered in a pool.",
      G_STRUCT_OFFSET (TsPoolMetrics, machines) },
  };
  for (guint g = 0; g < G_N_ELEMENTS (gauges); g++)
    {
      ts_header (out, gauges[g].name, "gauge", gauges[g].help);
      for (guint i = 0; i < pools->len; i++)
        {
          TsPoolMetrics *p = pools->pdata[i];
          g_string_append_printf (out, "%s{", gauges[g].name);
          ts_label (out, "org", p->org_id, TRUE);
          ts_label (out, "pool", p->pool_id, FALSE);
          ts_label (out, "product", p->product, FALSE);
          ts_label (out, "kind", p->kind, FALSE);
          g_string_append_printf (out, "} %" G_GINT64_FORMAT "\n",
                                  G_STRUCT_MEMBER (gint64, p, gauges[g].offset));
        }
    }
}

char *
ts_metrics_render (TsStore *store, gint64 now, GError **error)
{
  g_autoptr (GPtrArray) pools = ts_store_pool_metrics (store, now, error);
  if (pools == NULL)
    return NULL;
  GString *out = g_string_new (NULL);
  ts_header (out, "tessera_build_info", "gauge", "The version of tessera-server (always 1).");
  g_string_append (out, "tessera_build_info{");
  ts_label (out, "version", TESSERA_VERSION_STRING, TRUE);
  g_string_append (out, "} 1\n");
  ts_render_http (out);
  ts_header (out, "tessera_activations_refused_total", "counter",
             "Activations refused, by reason (quota: every seat taken).");
  for (guint r = 0; r < TS_REFUSED_N; r++)
    {
      g_string_append (out, "tessera_activations_refused_total{");
      ts_label (out, "reason", ts_refusal_names[r], TRUE);
      g_string_append_printf (out, "} %" G_GSIZE_FORMAT "\n", ts_read (&ts_refusals[r]));
    }
  ts_header (out, "tessera_leases_reaped_total", "counter",
             "Sessions ended by this instance's reaper because their lease expired.");
  g_string_append_printf (out, "tessera_leases_reaped_total %" G_GSIZE_FORMAT "\n",
                          ts_read (&ts_reaped_total));
  ts_header (out, "tessera_database_errors_total", "counter",
             "Errors the database engine returned (statements, commits, connections).");
  g_string_append_printf (out, "tessera_database_errors_total %" G_GSIZE_FORMAT "\n",
                          ts_read (&ts_db_errors));
  ts_header (out, "tessera_store_commit_duration_seconds", "histogram",
             "Commits of writes: SQLite's group commits (WAL sync included), PostgreSQL's "
             "COMMIT round trips.");
  ts_histogram_render (out, "tessera_store_commit_duration_seconds", "", &ts_commits);
  gint64 depth = ts_store_lease_queue_depth (store);
  if (depth >= 0)
    {
      ts_header (out, "tessera_store_lease_queue_depth", "gauge",
                 "Heartbeats waiting for SQLite's lease writer.");
      g_string_append_printf (out, "tessera_store_lease_queue_depth %" G_GINT64_FORMAT "\n", depth);
    }
  ts_render_pools (out, pools);
  return g_string_free (out, FALSE);
}
