/* The PostgreSQL engine (store-pg.c, db-pg.c): what ts_store_open() (db.c)
 * opens for a postgresql:// URL. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

typedef struct _TsPgStore TsPgStore;

TsPgStore *ts_pg_open (const char *path, GError **error);
void ts_pg_close (TsPgStore *store);
/* The session settings of the store's connections (libpq's "options"): a
 * test connects with them to see the plans the store gets. */
const char *ts_pg_session_options (void);
/* See ts_store_round_trips() (db-pg.c). */
void ts_pg_counts (TsPgStore *store, guint *round_trips, guint *statements);
/* See ts_store_connections() (db-pg.c). */
guint ts_pg_pool_size (TsPgStore *store);

G_END_DECLS
