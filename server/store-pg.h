/* The PostgreSQL store (store-pg*.c): the functions of store.h as ts_pg_*,
 * with the same signatures and rules, on a TsPgStore. store-dispatch.c
 * forwards to them when ts_store_open() is given a postgresql:// URL. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

typedef struct _TsPgStore TsPgStore;

TsPgStore *ts_pg_open (const char *path, GError **error);
void ts_pg_close (TsPgStore *store);

G_END_DECLS
