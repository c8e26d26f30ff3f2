/* A held license's server session: its heartbeat thread, lease and grace,
 * and giving the seat back. */
#include "testops-private.h"

/* ---- sessions and the heartbeat ---- */

/* Errors after which the session may still be alive. */
gboolean
is_transient (const GError *error)
{
  return g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NETWORK)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_UNAVAILABLE);
}

/* An answer that is not the server's (unsigned, forged, replayed, altered)
 * or that this client cannot verify (another answer format) says nothing
 * about the session: like no answer, it lets the grace run, and only the
 * real server's answer extends the lease. */
gboolean
leaves_session_alive (const GError *error)
{
  return is_transient (error) || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_TAMPERED)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_UNTRUSTED_KEY)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NOT_SUPPORTED);
}

gint64
grace_deadline_locked (Session *s)
{
  return s->last_ok + (s->lease_seconds + s->grace) * G_USEC_PER_SEC;
}

/* After a switch: a persistent session's record names the server now in
 * use, so a later process validates and releases there first. */
void
session_use_server (Session *s, guint index)
{
  g_mutex_lock (&s->lock);
  gboolean moved = s->current != index;
  s->current = index;
  g_autoptr (GError) error = NULL;
  /* Under the lock: a record being dropped is never written back. */
  if (moved && s->record_path != NULL
      && !testops_state_set_server (s->record_path, s->servers->urls[index], &error))
    g_warning ("testops: %s", error->message);
  g_mutex_unlock (&s->lock);
}

/* One heartbeat. A transient failure leaves the state as it was; any other
 * answer but success ends the session for good. */
gboolean
session_heartbeat (Session *s, GCancellable *cancellable, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, s->session_id);
  /* Fresh per heartbeat: the signed answer covers it, so an old "OK"
   * replayed later does not verify. */
  g_autofree char *nonce = g_uuid_string_random ();
  json_builder_set_member_name (b, "nonce");
  json_builder_add_string_value (b, nonce);
  json_builder_end_object (b);
  gint64 sent = g_get_monotonic_time ();
  gint64 sent_real = g_get_real_time () / G_USEC_PER_SEC;
  GError *local_error = NULL;
  guint current = session_current (s);
  JsonObject *obj
      = post_json (s->servers, &current, s->api_key, "/heartbeat", b, cancellable, &local_error);
  session_use_server (s, current);
  const char *server = s->servers->urls[current];
  gint64 lease_seconds = 0;
  gboolean believed
      = obj != NULL
        && testops_answer_read_heartbeat (s->server_keys, server, obj, nonce, s->session_id,
                                          &lease_seconds, NULL, &local_error);
  /* Kept in a persistent record: what a later process believes of it. */
  g_autofree char *answer = believed ? testops_answer_to_text (obj) : NULL;
  g_clear_pointer (&obj, json_object_unref);
  g_mutex_lock (&s->lock);
  if (believed)
    {
      s->lease_seconds = lease_seconds;
      s->last_ok = sent;
      s->last_ok_real = sent_real;
      s->clock_behind = FALSE;
      /* A later process counts its grace from this answer too. Under the
       * lock: a record being dropped is never written back. */
      g_autoptr (GError) write_error = NULL;
      if (s->record_path != NULL
          && !testops_state_set_answer (s->record_path, sent_real, lease_seconds, answer, nonce,
                                        &write_error))
        g_warning ("testops: %s", write_error->message);
    }
  else if (!leaves_session_alive (local_error)
           && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
           && s->terminal == NULL)
    s->terminal = g_error_copy (local_error);
  g_mutex_unlock (&s->lock);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

guint
session_current (Session *s)
{
  g_mutex_lock (&s->lock);
  guint current = s->current;
  g_mutex_unlock (&s->lock);
  return current;
}

GError *
grace_error (Session *s)
{
  g_autofree char *names = g_strjoinv (", ", s->servers->urls);
  g_autoptr (GDateTime) at = g_date_time_new_from_unix_utc (s->last_ok_real);
  g_autofree char *when
      = at != NULL ? g_date_time_format (at, "%Y-%m-%d %H:%M:%S UTC") : g_strdup ("?");
  if (s->clock_behind)
    return g_error_new (TESSERA_ERROR, TESSERA_ERROR_NETWORK,
                        "no verified answer from the license server%s %s, and this machine's "
                        "clock is before its last answer (%s): no grace without a new answer",
                        s->servers->n > 1 ? "s" : "", names, when);
  /* The real time since the last answer, not the allowance: what the user
   * needs to know is how long the server has been silent. */
  gint64 silent = MAX (0, (g_get_monotonic_time () - s->last_ok) / G_USEC_PER_SEC);
  return g_error_new (TESSERA_ERROR, TESSERA_ERROR_NETWORK,
                      "no verified answer from the license server%s %s for %" G_GINT64_FORMAT
                      " seconds (last at %s): the grace ran out (lease %" G_GINT64_FORMAT
                      " s + grace %" G_GINT64_FORMAT " s)",
                      s->servers->n > 1 ? "s" : "", names, silent, when, s->lease_seconds,
                      s->grace);
}

/* The server says the session is over for good: its record has nothing
 * left to release. (`auth` is not one: a wrong key in the keyring says
 * nothing about the session.) */
gboolean
ended_by_server (const GError *error)
{
  return g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_REVOKED)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_TERMINATED)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_EXPIRED)
         || g_error_matches (error, TESSERA_ERROR, TESSERA_ERROR_NOT_FOUND);
}

void
session_mark_ended (Session *s, const GError *reason)
{
  g_mutex_lock (&s->lock);
  g_autoptr (GError) error = NULL;
  if (s->record_path != NULL
      && !testops_state_set_ended (s->record_path, reason, g_get_real_time () / G_USEC_PER_SEC,
                                   &error))
    g_warning ("testops: %s", error->message);
  g_mutex_unlock (&s->lock);
}

/* Removes the session's record (persistent sessions only); any thread. */
void
session_drop_record (Session *s, const char *why)
{
  g_mutex_lock (&s->lock);
  g_autofree char *path = g_steal_pointer (&s->record_path);
  g_mutex_unlock (&s->lock);
  if (path == NULL)
    return;
  g_autoptr (GError) error = NULL;
  if (testops_state_remove (path, &error))
    g_debug ("testops: removed the session record %s: %s", path, why);
  else
    g_warning ("testops: %s", error->message);
}

gpointer
heartbeat_thread (gpointer data)
{
  Session *s = data;
  g_mutex_lock (&s->lock);
  while (!s->stop)
    {
      gint64 interval = MAX (s->lease_seconds * G_USEC_PER_SEC / 3, G_USEC_PER_SEC);
      gint64 deadline = grace_deadline_locked (s);
      gint64 wake = MIN (g_get_monotonic_time () + interval, deadline);
      while (!s->stop && g_cond_wait_until (&s->cond, &s->lock, wake))
        ;
      if (s->stop)
        break;
      g_mutex_unlock (&s->lock);

      g_autoptr (GError) error = NULL;
      gboolean ok = session_heartbeat (s, s->cancel, &error);

      g_mutex_lock (&s->lock);
      if (s->stop || ok)
        continue;
      GError *reason = NULL;
      if (!leaves_session_alive (error))
        reason = g_error_copy (error);
      else if (g_get_monotonic_time () >= grace_deadline_locked (s))
        {
          /* Why the last answer was no answer (refused, unreachable). */
          reason = grace_error (s);
          g_prefix_error (&reason, "%s; ", error->message);
        }
      else
        g_debug ("testops: heartbeat failed, retrying: %s", error->message);
      if (reason != NULL)
        {
          g_mutex_unlock (&s->lock);
          if (ended_by_server (reason))
            session_mark_ended (s, reason);
          tessera_license_invalidate (s->license, reason);
          g_error_free (reason);
          g_mutex_lock (&s->lock);
          break;
        }
    }
  g_mutex_unlock (&s->lock);
  return NULL;
}

/* Stops and joins the heartbeat thread; idempotent. Never from the thread. */
void
session_stop (Session *s)
{
  g_mutex_lock (&s->lock);
  s->stop = TRUE;
  GThread *thread = g_steal_pointer (&s->thread);
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  g_cancellable_cancel (s->cancel);
  if (thread != NULL)
    g_thread_join (thread);
}

void
session_free (gpointer data)
{
  Session *s = data;
  session_stop (s);
  g_clear_pointer (&s->servers, servers_unref);
  g_clear_pointer (&s->server_keys, tessera_trusted_keys_unref);
  secret_free (s->api_key);
  g_free (s->session_id);
  g_free (s->record_path);
  g_clear_error (&s->terminal);
  g_clear_object (&s->cancel);
  g_cond_clear (&s->cond);
  g_mutex_clear (&s->lock);
  g_free (s);
}

/* A session of @license (which takes it as backend data). @api_key: (transfer
 * full) (nullable). @last_ok: monotonic µs of the last signed answer,
 * @last_ok_real the same in unix seconds. */
Session *
session_new (Testops *self, TesseraLicense *license, const TestopsRecord *r, char *api_key,
             gint64 last_ok, gint64 last_ok_real)
{
  Session *s = g_new0 (Session, 1);
  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->servers = servers_ref (self->servers);
  int current = servers_find (self->servers, r->server);
  s->current = current >= 0 ? (guint) current : 0;
  s->grace = self->grace;
  s->server_keys = tessera_trusted_keys_ref (self->server_keys);
  s->api_key = api_key;
  s->session_id = g_strdup (r->session_id);
  s->license = license;
  s->lease_seconds = r->lease_seconds;
  s->last_ok = last_ok;
  s->last_ok_real = last_ok_real;
  s->cancel = g_cancellable_new ();
  tessera_license_set_backend_data (license, s, session_free);
  return s;
}

/* POSTs /release for @s, ignoring the answer: gives a seat back at once
 * when the activation cannot complete. */
void
session_give_back (Session *s)
{
  g_autoptr (JsonBuilder) rb = json_builder_new ();
  json_builder_begin_object (rb);
  json_builder_set_member_name (rb, "session_id");
  json_builder_add_string_value (rb, s->session_id);
  json_builder_end_object (rb);
  guint current = session_current (s);
  JsonObject *ignored = post_json (s->servers, &current, s->api_key, "/release", rb, NULL, NULL);
  g_clear_pointer (&ignored, json_object_unref);
  s->released = TRUE;
}
