/* What server-bench and scale-bench share: the lean HTTP/1.1 client (a
 * blocking keep-alive socket per thread, one write a request) and the
 * latency statistics. The client is hand-written because the bench clients
 * share the machine's cores with the servers they measure: a libsoup-3
 * client costs several times the CPU a request. */
#pragma once

#include <glib.h>

/* For g_subprocess_launcher_set_child_setup(): the child dies with us. */
void bench_die_with_parent (gpointer data);

/* POSTs @body (JSON) to http://127.0.0.1:@port@path with "Authorization:
 * Bearer @key" on the calling thread's kept connection (a new one if there
 * is none, or it was to another port, or the server had closed it). Returns
 * the status (0: transport or parse error) and the body in @reply; sets
 * @closed when the server said "Connection: close" (the connection is then
 * dropped). */
guint bench_http_post (guint16 port, const char *key, const char *path, const char *body,
                       GBytes **reply, gboolean *closed);
/* Closes the calling thread's connection, if any. */
void bench_http_close (void);

int bench_compare_doubles (const void *a, const void *b);
/* @p (0..1) of @v, sorted ascending with bench_compare_doubles; 0 if @n is 0. */
double bench_percentile (const double *v, guint n, double p);
