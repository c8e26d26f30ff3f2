/* tessera-server: usage history counted in memory (usage.c), per instance,
 * and written to the store in batches (ts_store_usage_add()): the
 * activation transaction itself never writes any of it. What a crash can
 * lose: the activations and refusals counted since the last flush (at most
 * one flush interval); peaks and distinct users and machines are read back
 * from the sessions, so only the interval before a restart is missed. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

typedef struct _TsUsage TsUsage;

/* Counts usage for @store from @now on; the history older than
 * @retention_days is pruned by ts_usage_flush() once an hour. */
TsUsage *ts_usage_new (TsStore *store, gint retention_days, gint64 now);
/* Flushes what is left, then frees @u; a failed flush is logged by the
 * caller through @error (nullable). */
void ts_usage_free (TsUsage *u, gint64 now, GError **error);

/* From any thread; never blocks on the database. */
void ts_usage_activated (TsUsage *u, const char *pool_id, gint64 now);
/* A refused activation: counted when @error is one of the refusals kept
 * (quota, machine quota, expired subscription), else ignored. */
void ts_usage_refused (TsUsage *u, const char *user_id, const char *org_id, const char *product,
                       const GError *error, gint64 now);

/* Writes the counts since the last flush in one transaction. On failure
 * they are kept for the next one. One flush at a time (others wait). */
gboolean ts_usage_flush (TsUsage *u, gint64 now, GError **error);

G_END_DECLS
