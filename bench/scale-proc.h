/* CPU time of the processes scale-bench measures, from /proc (Linux): the
 * tessera-server instances, and PostgreSQL's postmaster with every process
 * it started (its backends, one per connection, and its background
 * workers). */
#pragma once

#include <glib.h>

/* CPU seconds (user + system) that process @pid has used so far; with
 * @with_ended_children, also those of its children that ended and were
 * waited for. Negative when /proc/@pid/stat cannot be read. */
double scale_proc_cpu (GPid pid, gboolean with_ended_children);

/* CPU seconds of @root, of its live children and of those that ended: a
 * PostgreSQL server's whole use, however its backends come and go.
 * Negative when @root cannot be read. */
double scale_proc_tree_cpu (GPid root);

/* The postmaster of the PostgreSQL server at @url: the parent of the
 * backend serving a connection to it. 0 (with the reason in @why) when the
 * server is not a process of this machine that we can read. */
GPid scale_pg_postmaster (const char *url, char **why);
