/* scale-bench's report: the measured cells, the CPU each request cost the
 * instances and the database, issue 17's targets from those figures, and
 * a capacity model for hosts larger than the bench's. */
#include "scale-bench.h"

#include <stdio.h>

/* The model's shape: database hosts of these cores, k instance hosts of
 * INSTANCE_CORES each. */
static const guint db_cores[] = { 8, 16, 32 };
static const guint instance_hosts[] = { 1, 3, 6 };
#define INSTANCE_CORES 4
/* The worked example of docs/deployment.md: a fleet of workers, each
 * holding a seat per job, heart-beating through it. */
#define FLEET_WORKERS 20000
#define FLEET_HEARTBEAT_S 60.0
#define FLEET_JOB_S 600.0

static const char *
load_name (Load load)
{
  return load == LOAD_HOT ? "hot" : "spread";
}

/* CPU milliseconds per successful request; < 0: not measured. */
static double
ms_per (const Phase *ph, double cpu_s)
{
  return cpu_s >= 0 && ph->ok > 0 ? cpu_s * 1000.0 / ph->ok : -1;
}

static const char *
verdict (gboolean pass)
{
  return pass ? "PASS" : "MISS";
}

static void
print_cells (const Cell *cells)
{
  printf ("\n%-10s %4s %-6s %9s %8s %8s %9s %8s %8s\n", "backend", "inst", "load", "act/s",
          "p50 ms", "p99 ms", "hb/s", "p50 ms", "p99 ms");
  for (guint i = 0; i < N_CELLS; i++)
    {
      const Cell *c = &cells[i];
      if (c->ran)
        printf ("%-10s %4u %-6s %9.0f %8.2f %8.2f %9.0f %8.2f %8.2f\n", c->backend, c->n_inst,
                load_name (c->load), c->act.per_s, c->act.p50, c->act.p99, c->hb.per_s, c->hb.p50,
                c->hb.p99);
    }
  printf ("\nCPU per request, ms (/proc/PID/stat of the processes, over each phase, / its "
          "successful requests):\n"
          "  instances: the tessera-server processes; database: PostgreSQL's postmaster and every\n"
          "  process it runs (backends, WAL writer, checkpointer, autovacuum). With SQLite the\n"
          "  database runs inside the server process: its CPU is in the instances column.\n");
  printf ("%-10s %4s %-6s  %-21s  %-21s  %s\n", "", "", "", "activation", "heartbeat", "release");
  printf ("%-10s %4s %-6s  %10s %10s  %10s %10s  %10s %10s\n", "backend", "inst", "load",
          "instances", "database", "instances", "database", "instances", "database");
  for (guint i = 0; i < N_CELLS; i++)
    {
      const Cell *c = &cells[i];
      if (!c->ran)
        continue;
      printf ("%-10s %4u %-6s", c->backend, c->n_inst, load_name (c->load));
      const Phase *phases[] = { &c->act, &c->hb, &c->rel };
      for (guint p = 0; p < G_N_ELEMENTS (phases); p++)
        {
          double inst = ms_per (phases[p], phases[p]->inst_cpu_s);
          double db = ms_per (phases[p], phases[p]->db_cpu_s);
          printf ("  %10.3f", inst);
          if (db >= 0)
            printf (" %10.3f", db);
          else
            printf (" %10s", "(in inst)");
        }
      printf ("\n");
    }
}

static void
print_targets (const Cell *cells)
{
  const Cell *lite = &cells[CELL_SQLITE_SPREAD], *pg1 = &cells[CELL_PG1_SPREAD],
             *pg3 = &cells[CELL_PG3_SPREAD];
  printf ("\ntargets of issue 17, from this run (printed, not asserted):\n");
  if (!pg1->ran)
    {
      printf ("  none measured: they need PostgreSQL (tests/with-postgres.sh)\n");
      return;
    }
  double act = ms_per (&pg1->act, pg1->act.db_cpu_s), hb = ms_per (&pg1->hb, pg1->hb.db_cpu_s);
  if (act >= 0 && hb >= 0)
    {
      printf ("  PG x 1 spread: database CPU per activation  %6.3f ms  target <= 0.4 ms  %s\n", act,
              verdict (act <= 0.4));
      printf ("  PG x 1 spread: database CPU per heartbeat   %6.3f ms  target <= 0.2 ms  %s\n", hb,
              verdict (hb <= 0.2));
    }
  else
    printf ("  database CPU: not measured (PostgreSQL's processes are not readable here)\n");
  if (lite->act.per_s > 0)
    {
      double r = pg1->act.per_s / lite->act.per_s;
      printf ("  PG x 1 spread / SQLite x 1 spread, activations/s: %.0f / %.0f = %.2fx  "
              "target >= 0.5x  %s\n",
              pg1->act.per_s, lite->act.per_s, r, verdict (r >= 0.5));
    }
  if (pg3->ran && pg1->act.per_s > 0 && pg1->hb.per_s > 0)
    {
      double ra = pg3->act.per_s / pg1->act.per_s, rh = pg3->hb.per_s / pg1->hb.per_s;
      printf ("  PG x 3 spread / PG x 1 spread, 64 clients, activations/s: %.0f / %.0f = %.2fx  "
              "target >= 0.9x  %s\n",
              pg3->act.per_s, pg1->act.per_s, ra, verdict (ra >= 0.9));
      printf ("  PG x 3 spread / PG x 1 spread, 64 clients, heartbeats/s:  %.0f / %.0f = %.2fx  "
              "target >= 0.9x  %s\n",
              pg3->hb.per_s, pg1->hb.per_s, rh, verdict (rh >= 0.9));
    }
}

static void
print_rate (double inst_ms, double db_ms, guint db_c, guint hosts)
{
  double by_db = db_c * 1000.0 / db_ms, by_inst = hosts * INSTANCE_CORES * 1000.0 / inst_ms;
  printf ("  %9.0f %c", MIN (by_db, by_inst), by_db <= by_inst ? 'D' : 'I');
}

static void
print_model (const Cell *cells)
{
  const Cell *src = cells[CELL_PG3_SPREAD].ran ? &cells[CELL_PG3_SPREAD] : &cells[CELL_PG1_SPREAD];
  const Cell *hot = &cells[CELL_PG1_HOT];
  printf ("\ncapacity model\n");
  if (!src->ran || src->act.db_cpu_s < 0)
    {
      printf ("  not computed: it needs PostgreSQL's CPU (run under tests/with-postgres.sh)\n");
      return;
    }
  const char *names[] = { "activation", "heartbeat", "release" };
  const Phase *phases[] = { &src->act, &src->hb, &src->rel };
  double inst[3], db[3];
  printf ("  CPU per request, from PostgreSQL x %u spread of this run:\n", src->n_inst);
  for (guint p = 0; p < 3; p++)
    {
      inst[p] = ms_per (phases[p], phases[p]->inst_cpu_s);
      db[p] = ms_per (phases[p], phases[p]->db_cpu_s);
      printf ("    %-10s  instances %6.3f ms  database %6.3f ms  (%u requests)\n", names[p],
              inst[p], db[p], phases[p]->ok);
      if (inst[p] <= 0 || db[p] <= 0)
        {
          printf ("  not computed: a phase used no measurable CPU (too few requests: --quick?)\n");
          return;
        }
    }
  printf ("  Assumption: each tier serves requests until its cores are busy, linearly in its\n"
          "  cores (a database host of C cores: C x 1000 / database ms per second; k instance\n"
          "  hosts of %d cores: k x %d x 1000 / instance ms), and the lower of the two is served.\n"
          "  It holds until the hottest pool row: activations in one pool take that pool's row\n"
          "  lock one after the other.",
          INSTANCE_CORES, INSTANCE_CORES);
  if (hot->ran)
    {
      double spread = cells[CELL_PG1_SPREAD].act.per_s;
      printf (" Measured here, all 64 clients in one pool (PostgreSQL x 1 hot):\n"
              "  %.0f activations/s against %.0f/s spread over 1,000 pools on the same cores",
              hot->act.per_s, spread);
      if (hot->act.per_s < 0.9 * spread)
        printf (":\n  the row, not the cores, limits it; take it as one pool's limit.");
      else
        printf (":\n  the cores limit both, so one pool's row allows at least that.");
    }
  printf ("\n  Requests/s of each operation alone (D: the database limits, I: the instances;\n"
          "  activations in any one pool: at most that pool row's rate):\n");
  printf ("  %8s %10s  %11s  %11s  %11s\n", "db cores", "instances", names[0], names[1], names[2]);
  for (guint d = 0; d < G_N_ELEMENTS (db_cores); d++)
    for (guint k = 0; k < G_N_ELEMENTS (instance_hosts); k++)
      {
        printf ("  %8u %6u x %d", db_cores[d], instance_hosts[k], INSTANCE_CORES);
        for (guint p = 0; p < 3; p++)
          print_rate (inst[p], db[p], db_cores[d], instance_hosts[k]);
        printf ("\n");
      }
  double hb_rate = FLEET_WORKERS / FLEET_HEARTBEAT_S, job_rate = FLEET_WORKERS / FLEET_JOB_S;
  double db_cores_busy = (job_rate * (db[0] + db[2]) + hb_rate * db[1]) / 1000.0;
  double inst_cores_busy = (job_rate * (inst[0] + inst[2]) + hb_rate * inst[1]) / 1000.0;
  printf ("  Example (docs/deployment.md): %d workers, each holding a seat per %.0f s job (one\n"
          "  activation, one release) and heart-beating every %.0f s: %.1f activations/s,\n"
          "  %.1f releases/s, %.1f heartbeats/s keep %.2f database cores and %.2f instance cores\n"
          "  busy; the activations are %.0f%% of one hot pool row's measured rate.\n",
          FLEET_WORKERS, FLEET_JOB_S, FLEET_HEARTBEAT_S, job_rate, job_rate, hb_rate, db_cores_busy,
          inst_cores_busy, hot->ran ? 100.0 * job_rate / hot->act.per_s : 0);
}

void
scale_report (const Cell *cells, gboolean quick)
{
  print_cells (cells);
  print_targets (cells);
  print_model (cells);
  if (quick)
    printf ("\n[--quick: a few requests per phase; the figures above mean nothing]\n");
}
