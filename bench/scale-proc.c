#include "scale-proc.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime) of
 * /proc/@pid/stat, counted after the ")" that ends the command name (which
 * may itself hold spaces and parentheses). */
static gboolean
read_stat (GPid pid, GPid *ppid, guint64 ticks[4])
{
  char path[64];
  g_snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  const char *p = strrchr (text, ')');
  if (p == NULL)
    return FALSE;
  g_auto (GStrv) f = g_strsplit (p + 2, " ", 0);
  /* f[0] is field 3 (state) */
  if (g_strv_length (f) < 15)
    return FALSE;
  *ppid = (GPid) g_ascii_strtoll (f[1], NULL, 10);
  for (guint i = 0; i < 4; i++)
    ticks[i] = g_ascii_strtoull (f[11 + i], NULL, 10);
  return TRUE;
}

static double
ticks_to_s (guint64 ticks)
{
  static long hz;
  if (hz <= 0)
    hz = sysconf (_SC_CLK_TCK);
  return (double) ticks / (double) (hz > 0 ? hz : 100);
}

double
scale_proc_cpu (GPid pid, gboolean with_ended_children)
{
  GPid ppid;
  guint64 t[4];
  if (!read_stat (pid, &ppid, t))
    return -1;
  return ticks_to_s (t[0] + t[1] + (with_ended_children ? t[2] + t[3] : 0));
}

double
scale_proc_tree_cpu (GPid root)
{
  double total = scale_proc_cpu (root, TRUE);
  if (total < 0)
    return -1;
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  if (dir == NULL)
    return -1;
  /* Backends start no processes of their own: one level is the tree. A
   * child that ends between two readings moves from this sum into the
   * root's cutime + cstime once the postmaster has waited for it. */
  for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
    {
      if (!g_ascii_isdigit (name[0]))
        continue;
      GPid ppid;
      guint64 t[4];
      if (read_stat ((GPid) g_ascii_strtoll (name, NULL, 10), &ppid, t) && ppid == root)
        total += ticks_to_s (t[0] + t[1]);
    }
  return total;
}

static gboolean
is_postgres (GPid pid)
{
  char path[64];
  g_snprintf (path, sizeof path, "/proc/%d/comm", (int) pid);
  g_autofree char *comm = NULL;
  if (!g_file_get_contents (path, &comm, NULL, NULL))
    return FALSE;
  return g_str_has_prefix (comm, "postgres") || g_str_has_prefix (comm, "postmaster");
}

GPid
scale_pg_postmaster (const char *url, char **why)
{
  PGconn *conn = PQconnectdb (url);
  GPid backend = 0;
  if (PQstatus (conn) == CONNECTION_OK)
    {
      PGresult *res = PQexec (conn, "SELECT pg_backend_pid()");
      if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1)
        backend = (GPid) g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);
      PQclear (res);
    }
  else
    *why = g_strdup_printf ("cannot connect: %s", PQerrorMessage (conn));
  GPid parent = 0;
  guint64 t[4];
  /* The backend must still be alive while we read its parent. */
  if (backend > 0 && (!is_postgres (backend) || !read_stat (backend, &parent, t)))
    *why = g_strdup_printf ("backend %d is not a postgres process of this machine", (int) backend);
  else if (parent > 0 && !is_postgres (parent))
    {
      *why = g_strdup_printf ("the parent of backend %d is not postgres", (int) backend);
      parent = 0;
    }
  PQfinish (conn);
  if (parent == 0 && *why == NULL)
    *why = g_strdup ("no backend process id");
  return parent;
}
