/* The SQLite store's public functions under their own names, ts_sqlite_*,
 * so that store-dispatch.c can define the ts_store_* interface and choose
 * between SQLite and PostgreSQL (store-pg*.c) at ts_store_open(). CMake
 * force-includes this header (-include) into the SQLite sources only
 * (store-sqlite*.c, store-sessions.c), which therefore compile unchanged: their "ts_store_X" and
 * "struct _TsStore" become ts_sqlite_X and struct _TsSqliteStore.
 *
 * Keep the list complete: every ts_store_* function of store.h needs its
 * line here, its forwarder in store-dispatch.c and its ts_pg_* (a missing
 * one is a link error). The exceptions: ts_store_activate() and
 * ts_store_activate_components() (store-activate.c, both engines), ts_store_create_offline() (a
 * wrapper of ts_store_create_offline_request()), ts_store_update_pool() (a wrapper of
 * ts_store_update_pool_policy()), ts_store_heartbeat() (a wrapper
 * that waits for ts_store_heartbeat_async()), ts_store_heartbeat_queues(),
 * and the missing ts_pg_heartbeat_async() (PostgreSQL runs a heartbeat in
 * its caller). store-dispatch.c includes this header
 * with TS_STORE_NO_SQLITE_RENAME defined, for the prototypes only. */
#pragma once

#ifndef TS_STORE_NO_SQLITE_RENAME
#define _TsStore _TsSqliteStore
#define ts_store_open ts_sqlite_open
#define ts_store_close ts_sqlite_close
#endif

#include "store.h"

G_BEGIN_DECLS

typedef struct _TsSqliteStore TsSqliteStore;

TsSqliteStore *ts_sqlite_open (const char *path, GError **error);
void ts_sqlite_close (TsSqliteStore *store);
void ts_sqlite_heartbeat_async (TsSqliteStore *store, const char *user_id, const char *session_id,
                                gint64 lease_seconds, gint64 now, TsHeartbeatDone done,
                                gpointer data);

G_END_DECLS
