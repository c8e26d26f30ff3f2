/* What scale-bench.c measures and scale-model.c reports: per cell
 * (backend x instances x load), a phase per operation, each with its rate,
 * latency and the CPU the instances and the database used for it. */
#pragma once

#include <glib.h>

#define N_CELLS 8 /* (SQLite x 1, PostgreSQL x 1, 2, 3) x (hot, spread) */

typedef enum
{
  LOAD_HOT,
  LOAD_SPREAD,
  LOAD_SMALL,
} Load;

typedef struct
{
  guint ok, failed, rejected;
  double per_s, p50, p99;
  /* CPU seconds used during the phase: by the tessera-server processes,
   * and by PostgreSQL's processes (db_cpu_s < 0: not measured, SQLite runs
   * inside the servers) */
  double inst_cpu_s, db_cpu_s;
} Phase;

typedef struct
{
  const char *backend;
  guint n_inst;
  Load load;
  Phase act, hb, rel;
  guint failed; /* every request of the cell, the unmeasured ones too */
  gboolean ran;
} Cell;

/* The cells in the order scale-bench runs them. */
enum
{
  CELL_SQLITE_HOT,
  CELL_SQLITE_SPREAD,
  CELL_PG1_HOT,
  CELL_PG1_SPREAD,
  CELL_PG2_HOT,
  CELL_PG2_SPREAD,
  CELL_PG3_HOT,
  CELL_PG3_SPREAD,
};

/* Prints the table, the CPU per request, the targets of issue 17 (PASS or
 * MISS, never asserted) and the capacity model. */
void scale_report (const Cell *cells, gboolean quick);
