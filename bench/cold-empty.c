/* cold-bench's baseline: the cheapest GLib program, linked like a product
 * (GLib, libc), doing nothing but reading the clock. Prints 0 ns of work. */
#include <glib.h>
#include <stdio.h>

int
main (void)
{
  volatile gint64 t = g_get_monotonic_time ();
  (void) t;
  printf ("0\n");
  return 0;
}
