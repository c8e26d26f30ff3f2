/* The online provider: seats from tessera-server (docs/testops.md,
 * docs/protocol.md).
 *
 * activate POSTs /api/v1/activate (product, this machine's ID, a nonce,
 * the organization) with the user's API key and returns a license whose
 * backend data is the server session. While the license is held, a
 * heartbeat thread per session extends the lease every lease/3 seconds; a
 * 410 (revoked, terminated, expired) or a lease (plus grace-seconds) without
 * any successful heartbeat invalidates the license. release stops the
 * thread and POSTs /api/v1/release.
 *
 * `server` may list several instances of one service (sharing a database
 * and a signing key): every request goes to the one in use and moves on to
 * the next when that one gives no answer (testops-http.c). The activation's
 * nonce is in its body, so a retry elsewhere never takes a second seat.
 *
 * Threading: the instance is read-only after create, but for the cached
 * machine ID (guarded by its lock). Each session has a lock guarding its
 * mutable state (last successful heartbeat, terminal error, stop flag).
 * Every HTTP exchange uses a SoupSession of its own, created, used and
 * freed in the calling thread, so no libsoup object is shared between
 * threads.
 *
 * The API key is cached in the system keyring (testops-keyring.c) after a
 * successful activation; with the persist option the session is recorded
 * in the state folder (testops-state.c) so that a later process lists,
 * validates and releases it. Keyring and record I/O happen in the caller's
 * thread, never in a heartbeat thread (but for removing the record of a
 * session the server ended, and for naming the server a heartbeat moved to
 * in it). */
#include "testops-private.h"

#include <stdio.h>

/* ---- credentials ---- */

/* The API key: the option, else the environment, else (key-storage=keyring)
 * the keyring. A key given explicitly is used whether or not a keyring can
 * be reached: without one it is used for this run only (*@not_cached says
 * why), never written anywhere else. *@from_keyring: the key came from the
 * keyring; *@must_store: a given key the keyring does not hold yet (for
 * @org). @not_cached: (nullable) (out) (transfer full). */
static char *
dup_api_key (Testops *self, TesseraActivateOptions *options, const char *org,
             gboolean *from_keyring, gboolean *must_store, char **not_cached, GError **error)
{
  *from_keyring = FALSE;
  *must_store = FALSE;
  if (not_cached != NULL)
    *not_cached = NULL;
  const char *given
      = options != NULL ? tessera_activate_options_get (options, TESSERA_OPTION_API_KEY) : NULL;
  if (given == NULL || *given == '\0')
    given = secure_getenv (API_KEY_ENV);
  if (given != NULL && *given == '\0')
    given = NULL;
  if (self->key_storage == TESTOPS_KEY_STORAGE_ENV_ONLY)
    {
      if (given != NULL)
        return g_strdup (given);
      g_set_error (
          error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
          "no API key for the license server %s: give it with --api-key or set " API_KEY_ENV
          " (key-storage=env-only: the key is needed on every run and never stored)",
          self->servers->urls[0]);
      return NULL;
    }

  char *stored = NULL;
  g_autoptr (GError) keyring_error = NULL;
  /* The first server names the service in the keyring, whichever answers. */
  if (!testops_keyring_lookup (self->servers->urls[0], org, &stored, &keyring_error))
    {
      if (given == NULL)
        {
          g_autofree char *why = testops_keyring_describe (keyring_error);
          g_set_error (
              error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
              "no API key for the license server %s: give it with --api-key or set " API_KEY_ENV
              " (it is then used for that run, and never written "
              "anywhere). The system keyring that keeps it cannot be used: %s. Run a "
              "Secret Service to keep it (a desktop session, or gnome-keyring-daemon "
              "--unlock), or set key-storage=env-only in [provider:testops] to never "
              "look for one",
              self->servers->urls[0], why);
          return NULL;
        }
      /* A headless CI machine: the key the person gave is enough. */
      if (not_cached != NULL)
        *not_cached = testops_keyring_describe (keyring_error);
      return g_strdup (given);
    }
  if (given != NULL)
    {
      *must_store = stored == NULL || strcmp (stored, given) != 0;
      testops_keyring_key_free (stored);
      return g_strdup (given);
    }
  if (stored != NULL)
    {
      *from_keyring = TRUE;
      return stored;
    }
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_AUTH,
               "no API key for the license server %s: give it with --api-key or set " API_KEY_ENV
               " once; after a successful activation the system keyring keeps it (API keys are "
               "never read from configuration files)",
               self->servers->urls[0]);
  return NULL;
}

/* One line on stderr after a successful activation whose key could not be
 * kept: the person learns at once that the next run needs the key again,
 * and how to avoid that. stderr, as devmode's warning: the notice is for
 * whoever reads the run's log, whatever program linked the library. */
static void
notice_not_cached (const char *server, const char *why)
{
  fprintf (stderr,
           "tessera: notice: the API key for %s was used for this run only, not kept in the "
           "system keyring: %s; to make it permanent, run a Secret Service (a desktop session, "
           "or gnome-keyring-daemon --unlock) and activate once more, or keep the key in "
           "TESSERA_API_KEY (e.g. a CI secret) with key-storage=env-only in [provider:testops]\n",
           server, why);
}

/* ---- ops ---- */

/* This machine's fingerprint, read once. */
static TesseraFingerprint *
testops_dup_fingerprint (Testops *self, GError **error)
{
  g_mutex_lock (&self->lock);
  if (self->fingerprint == NULL)
    self->fingerprint = tessera_fingerprint_new (error);
  TesseraFingerprint *fp = self->fingerprint ? tessera_fingerprint_ref (self->fingerprint) : NULL;
  g_mutex_unlock (&self->lock);
  return fp;
}

/* This machine's ID (the kept records are checked against it). */
static char *
testops_dup_machine_id (Testops *self, GError **error)
{
  g_autoptr (TesseraFingerprint) fp = testops_dup_fingerprint (self, error);
  return fp != NULL ? g_strdup (tessera_fingerprint_get_id (fp)) : NULL;
}

/* The "components" member of an activation: each component read, keyed with
 * the organization asked for ("" for none), so that the digests sent to
 * two organizations or servers cannot be linked (docs/protocol.md). Base64
 * of the 16 bytes. */
static void
add_components (JsonBuilder *b, TesseraFingerprint *fp, const char *org)
{
  g_auto (GStrv) names = tessera_fingerprint_dup_components (fp);
  json_builder_set_member_name (b, "components");
  json_builder_begin_object (b);
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *hex = tessera_fingerprint_dup_scoped_digest (fp, names[i], org ? org : "");
      if (hex == NULL)
        continue;
      guchar raw[16];
      for (guint j = 0; j < sizeof raw; j++)
        raw[j] = (guchar) (g_ascii_xdigit_value (hex[2 * j]) << 4
                           | g_ascii_xdigit_value (hex[2 * j + 1]));
      g_autofree char *b64 = g_base64_encode (raw, sizeof raw);
      json_builder_set_member_name (b, names[i]);
      json_builder_add_string_value (b, b64);
    }
  json_builder_end_object (b);
}

/* Sleeps @usec, or less if @cancellable fires. */
static gboolean
sleep_cancellable (gint64 usec, GCancellable *cancellable, GError **error)
{
  gint64 end = g_get_monotonic_time () + usec;
  for (gint64 now = g_get_monotonic_time (); now < end; now = g_get_monotonic_time ())
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      g_usleep (MIN (end - now, 50 * 1000));
    }
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

static gboolean
parse_wait (Testops *self, TesseraActivateOptions *options, gint64 *wait, GError **error)
{
  const char *value = options != NULL
                          ? tessera_activate_options_get (options, TESSERA_OPTION_WAIT_TIMEOUT)
                          : NULL;
  *wait = self->wait_seconds;
  if (value == NULL)
    return TRUE;
  guint64 n = 0;
  if (!g_ascii_string_to_unsigned (value, 10, 0, MAX_WAIT, &n, NULL))
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
                   "--wait (the " TESSERA_OPTION_WAIT_TIMEOUT
                   " activation option) must be 0 to %d seconds, not '%s'",
                   MAX_WAIT, value);
      return FALSE;
    }
  *wait = (gint64) n;
  return TRUE;
}

static TesseraLicenseKind
kind_from_string (const char *kind)
{
  if (g_strcmp0 (kind, "node-locked") == 0)
    return TESSERA_LICENSE_KIND_NODE_LOCKED;
  return TESSERA_LICENSE_KIND_FLOATING;
}

/* The persist option: absent or false, or true. */
static gboolean
parse_persist (TesseraActivateOptions *options, gboolean *persist, GError **error)
{
  const char *value
      = options != NULL ? tessera_activate_options_get (options, TESSERA_OPTION_PERSIST) : NULL;
  *persist = FALSE;
  if (value == NULL || g_ascii_strcasecmp (value, "false") == 0 || g_str_equal (value, "0"))
    return TRUE;
  if (g_ascii_strcasecmp (value, "true") == 0 || g_str_equal (value, "1"))
    {
      *persist = TRUE;
      return TRUE;
    }
  g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_INVALID_ARGUMENT,
               "the " TESSERA_OPTION_PERSIST " option must be true or false, not '%s'", value);
  return FALSE;
}

/* The license a record describes: what activate returns, and list too. */
static TesseraLicense *
license_from_record (const TestopsRecord *r)
{
  TesseraLicense *license
      = tessera_license_new (r->product, kind_from_string (r->kind), r->license_id);
  tessera_license_set_machine_id (license, r->machine_id);
  if (r->org != NULL)
    tessera_license_set_org (license, r->org);
  tessera_license_set_issued_at (license, r->issued_at);
  if (r->expires_at > 0)
    tessera_license_set_expires_at (license, r->expires_at);
  for (guint i = 0; r->features != NULL && r->features[i] != NULL; i++)
    tessera_license_add_feature (license, r->features[i]);
  g_autofree char *lease_text = g_strdup_printf ("%" G_GINT64_FORMAT, r->lease_seconds);
  tessera_license_set_attribute (license, "testops.server", r->server);
  tessera_license_set_attribute (license, "testops.session-id", r->session_id);
  tessera_license_set_attribute (license, "testops.lease-seconds", lease_text);
  return license;
}

/* A listed session has no key until it talks to the server: the key comes
 * from the environment or the keyring then (never from the record). */
static gboolean
session_ensure_key (Testops *self, Session *s, GError **error)
{
  g_mutex_lock (&s->lock);
  gboolean have = s->api_key != NULL;
  g_mutex_unlock (&s->lock);
  if (have)
    return TRUE;
  gboolean from_keyring = FALSE, must_store = FALSE;
  char *key = dup_api_key (self, NULL, tessera_license_get_org (s->license), &from_keyring,
                           &must_store, NULL, error);
  if (key == NULL)
    return FALSE;
  g_mutex_lock (&s->lock);
  if (s->api_key == NULL)
    s->api_key = g_steal_pointer (&key);
  g_mutex_unlock (&s->lock);
  secret_free (key);
  return TRUE;
}

/* Removes the records of @product's sessions the server ended (kept so
 * that status and validate say why): once a new session is taken, the old
 * reason is history. Best effort: a record left over only says why an old
 * session ended. */
static void
forget_ended (Testops *self, const char *product)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) records = testops_state_list (self->state_dir, &error);
  for (guint i = 0; records != NULL && i < records->len; i++)
    {
      TestopsRecord *r = records->pdata[i];
      if (r->ended_code == NULL || !g_str_equal (r->product, product)
          || servers_find (self->servers, r->server) < 0)
        continue;
      if (!testops_state_remove (r->path, &error))
        {
          g_debug ("testops: %s", error->message);
          g_clear_error (&error);
        }
    }
}

static TesseraLicense *
testops_activate (gpointer instance, const char *product, TesseraActivateOptions *options,
                  GCancellable *cancellable, GError **error)
{
  Testops *self = instance;
  gint64 wait = 0;
  gboolean persist = FALSE;
  if (!parse_wait (self, options, &wait, error) || !parse_persist (options, &persist, error))
    return NULL;
  /* Before taking a seat: a session that cannot be recorded is not taken. */
  if (persist && !testops_state_check_dir (self->state_dir, TRUE, NULL, error))
    return NULL;
  g_autoptr (TesseraFingerprint) fp = testops_dup_fingerprint (self, error);
  if (fp == NULL)
    return NULL;
  const char *machine_id = tessera_fingerprint_get_id (fp);
  const char *org
      = options != NULL ? tessera_activate_options_get (options, TESSERA_OPTION_ORG_ID) : NULL;
  if (org == NULL || *org == '\0')
    org = self->org_id;
  gboolean from_keyring = FALSE, must_store = FALSE;
  g_autofree char *not_cached = NULL;
  char *api_key = dup_api_key (self, options, org, &from_keyring, &must_store, &not_cached, error);
  if (api_key == NULL)
    return NULL;

  /* One nonce for the whole activation: a retry after a dropped answer gets
   * the same session back, never a second seat. */
  g_autofree char *nonce = g_uuid_string_random ();
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "product");
  json_builder_add_string_value (b, product);
  json_builder_set_member_name (b, "machine_id");
  json_builder_add_string_value (b, machine_id);
  json_builder_set_member_name (b, "nonce");
  json_builder_add_string_value (b, nonce);
  if (org != NULL)
    {
      json_builder_set_member_name (b, "org_id");
      json_builder_add_string_value (b, org);
    }
  add_components (b, fp, org);
  testops_add_client_info (b);
  json_builder_end_object (b);

  /* Sticky: start where the last exchange succeeded; post_json moves on
   * from there with this same body, so the nonce follows the request. */
  guint current = (guint) g_atomic_int_get (&self->servers->last_ok);
  gint64 give_up = g_get_monotonic_time () + wait * G_USEC_PER_SEC;
  gint64 backoff = WAIT_FIRST_USEC;
  JsonObject *obj = NULL;
  for (;;)
    {
      g_autoptr (GError) local_error = NULL;
      g_autoptr (JsonObject) refusal = NULL;
      obj = post_json_full (self->servers, &current, api_key, "/activate", b, &refusal, cancellable,
                            &local_error);
      if (obj != NULL)
        break;
      gint64 left = give_up - g_get_monotonic_time ();
      if (!g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED) || left <= 0)
        {
          if (wait > 0
              && g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_QUOTA_EXCEEDED))
            g_prefix_error (&local_error, "no seat within %" G_GINT64_FORMAT " seconds: ", wait);
          if (from_keyring && g_error_matches (local_error, TESSERA_ERROR, TESSERA_ERROR_AUTH))
            {
              /* The person did not type this key: say where it came from. */
              char *message = g_strdup_printf (
                  "%s (the API key came from the system keyring: give the right one with "
                  "--api-key or " API_KEY_ENV ", or forget the stored one with 'tessera keys "
                  "forget')",
                  local_error->message);
              g_free (local_error->message);
              local_error->message = message;
            }
          g_propagate_error (error, g_steal_pointer (&local_error));
          secret_free (api_key);
          return NULL;
        }
      /* Seats in use of how many, as the refusal says (display only: an
       * error answer is not signed). */
      JsonObject *why
          = refusal != NULL && json_object_has_member (refusal, "error")
                    && JSON_NODE_HOLDS_OBJECT (json_object_get_member (refusal, "error"))
                ? json_object_get_object_member (refusal, "error")
                : NULL;
      tessera_activate_options_notify_wait (
          options, product,
          why != NULL ? json_object_get_int_member_with_default (why, "in_use", -1) : -1,
          why != NULL ? json_object_get_int_member_with_default (why, "quota", -1) : -1);
      /* ±25 % jitter, so that waiting clients do not retry in step. */
      gint64 delay = backoff * 3 / 4 + g_random_int_range (0, (gint32) (backoff / 2) + 1);
      if (!sleep_cancellable (MIN (delay, left), cancellable, error))
        {
          secret_free (api_key);
          return NULL;
        }
      backoff = MIN (backoff * 2, WAIT_MAX_USEC);
    }
  gint64 sent_ok = g_get_monotonic_time ();
  gint64 sent_ok_real = g_get_real_time () / G_USEC_PER_SEC;
  const char *server = self->servers->urls[current];
  /* Before anything in it is believed: signed by the server's key over
   * this activation's nonce (a fake server cannot; a replayed answer was
   * signed over another nonce), and only the signed bytes are read. Nothing
   * is taken on our side. */
  g_autoptr (TestopsRecord) r = g_new0 (TestopsRecord, 1);
  gboolean ok = testops_answer_read_activate (self->server_keys, server, obj, nonce, product,
                                              machine_id, r, error);
  /* Kept as received: a later process believes the record only as far as
   * this signed answer proves it. */
  if (ok)
    {
      r->activate_answer = testops_answer_to_text (obj);
      r->activate_nonce = g_strdup (nonce);
    }
  json_object_unref (obj);
  if (!ok)
    {
      secret_free (api_key);
      return NULL;
    }
  r->server = g_strdup (server);
  r->product = g_strdup (product);
  r->last_answer_at = sent_ok_real;

  TesseraLicense *license = license_from_record (r);
  Session *s = session_new (self, license, r, api_key, sent_ok, sent_ok_real);

  if (persist)
    {
      g_autoptr (GError) write_error = NULL;
      if (!testops_state_write (self->state_dir, r, &write_error))
        {
          session_give_back (s);
          tessera_license_unref (license);
          g_propagate_error (error, g_steal_pointer (&write_error));
          return NULL;
        }
      s->record_path = g_strdup (r->path);
      tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_PERSISTENT);
    }

  g_autoptr (GError) thread_error = NULL;
  g_mutex_lock (&s->lock);
  s->thread = g_thread_try_new ("testops-heartbeat", heartbeat_thread, s, &thread_error);
  g_mutex_unlock (&s->lock);
  if (thread_error != NULL)
    {
      g_set_error (error, TESSERA_ERROR, TESSERA_ERROR_FAILED,
                   "cannot start the heartbeat thread: %s", thread_error->message);
      /* Give the seat back at once. */
      session_give_back (s);
      session_drop_record (s, "activation failed");
      tessera_license_unref (license);
      return NULL;
    }

  /* A new session replaces what the ended ones had to say. */
  forget_ended (self, product);

  /* Only a key the server just accepted is kept. A keyring that refuses
   * now (it was reachable a moment ago) costs the next run a key, not
   * this license. */
  if (must_store)
    {
      g_autoptr (GError) store_error = NULL;
      if (!testops_keyring_store (self->servers->urls[0], r->org != NULL ? r->org : "", api_key,
                                  &store_error))
        not_cached = testops_keyring_describe (store_error);
    }
  if (not_cached != NULL)
    notice_not_cached (self->servers->urls[0], not_cached);
  return license;
}

static gboolean
testops_validate (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                  GError **error)
{
  Testops *self = instance;
  Session *s = tessera_license_get_backend_data (license);
  g_mutex_lock (&s->lock);
  if (s->terminal != NULL)
    {
      GError *terminal = g_error_copy (s->terminal);
      g_mutex_unlock (&s->lock);
      if (ended_by_server (terminal))
        session_mark_ended (s, terminal);
      g_propagate_error (error, terminal);
      return FALSE;
    }
  g_mutex_unlock (&s->lock);
  if (!session_ensure_key (self, s, error))
    return FALSE;

  g_autoptr (GError) local_error = NULL;
  if (session_heartbeat (s, cancellable, &local_error))
    return TRUE;
  if (!leaves_session_alive (local_error))
    {
      /* The session is over, whatever the code (an unknown session, a
       * revoked key): the heartbeat thread would say so at its next beat. */
      if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        tessera_license_invalidate (license, local_error);
      if (ended_by_server (local_error))
        session_mark_ended (s, local_error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  /* Unreachable: the last known state holds within the lease and grace. */
  g_mutex_lock (&s->lock);
  gboolean within = g_get_monotonic_time () < grace_deadline_locked (s);
  GError *reason = within ? NULL : grace_error (s);
  g_mutex_unlock (&s->lock);
  if (within)
    {
      g_debug ("testops: validate within grace: %s", local_error->message);
      return TRUE;
    }
  g_prefix_error (&reason, "%s; ", local_error->message);
  g_propagate_error (error, reason);
  return FALSE;
}

static gboolean
testops_release (gpointer instance, TesseraLicense *license, GCancellable *cancellable,
                 GError **error)
{
  Testops *self = instance;
  Session *s = tessera_license_get_backend_data (license);
  session_stop (s);
  g_mutex_lock (&s->lock);
  gboolean already = s->released;
  s->released = TRUE;
  gboolean ended = s->terminal != NULL;
  g_mutex_unlock (&s->lock);
  if (already)
    return TRUE;
  /* A session the server already ended has no seat left to free. */
  if (ended)
    {
      session_drop_record (s, "released after the server ended it");
      return TRUE;
    }
  if (!session_ensure_key (self, s, error))
    return FALSE;

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, s->session_id);
  json_builder_end_object (b);
  g_autoptr (GError) local_error = NULL;
  guint current = session_current (s);
  JsonObject *obj
      = post_json (s->servers, &current, s->api_key, "/release", b, cancellable, &local_error);
  /* A record kept for a later run points it at a server that answers. */
  session_use_server (s, current);
  if (obj != NULL || ended_by_server (local_error))
    {
      g_clear_pointer (&obj, json_object_unref);
      session_drop_record (s, "released");
      return TRUE;
    }
  /* The record stays, so that a later run can still release the seat. */
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

/* A record that does not verify: listed, so that status says why and
 * release can free its seat, but invalid from the start and holding
 * nothing the record claims beyond what names it. */
static TesseraLicense *
unverified_license (Testops *self, const TestopsRecord *r, const GError *why)
{
  TesseraLicense *license
      = tessera_license_new (r->product, kind_from_string (r->kind), r->license_id);
  if (r->org != NULL)
    tessera_license_set_org (license, r->org);
  tessera_license_set_attribute (license, "testops.session-id", r->session_id);
  Session *s = session_new (self, license, r, NULL, G_MININT64 / 2, r->last_answer_at);
  s->record_path = g_strdup (r->path);
  tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_PERSISTENT);
  tessera_license_invalidate (license, why);
  return license;
}

static GPtrArray *
testops_list (gpointer instance, const char *product, GError **error)
{
  Testops *self = instance;
  g_autoptr (GPtrArray) records = testops_state_list (self->state_dir, error);
  if (records == NULL)
    return NULL;
  g_autoptr (GPtrArray) out
      = g_ptr_array_new_with_free_func ((GDestroyNotify) tessera_license_unref);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autofree char *machine_id = NULL;
  g_autoptr (GError) machine_error = NULL;
  for (guint i = 0; i < records->len; i++)
    {
      TestopsRecord *r = records->pdata[i];
      /* Another configuration's server: never send our key there. */
      if (servers_find (self->servers, r->server) < 0
          || (product != NULL && !g_str_equal (r->product, product)))
        continue;
      if (machine_id == NULL && machine_error == NULL)
        {
          machine_id = testops_dup_machine_id (self, &machine_error);
          if (machine_id == NULL && machine_error == NULL)
            machine_error = g_error_new_literal (TESSERA_ERROR, TESSERA_ERROR_FAILED,
                                                 "this machine's ID cannot be computed");
        }
      g_autoptr (GError) unusable = NULL;
      if (machine_id == NULL)
        unusable = g_error_new (TESSERA_ERROR,
                                machine_error->domain == TESSERA_ERROR ? machine_error->code
                                                                       : TESSERA_ERROR_FAILED,
                                "the kept %s session %s cannot be checked: %s", r->product,
                                r->session_id, machine_error->message);
      else
        testops_answer_check_record (self->server_keys, r, machine_id, &unusable);
      if (unusable != NULL)
        {
          g_ptr_array_add (out, unverified_license (self, r, unusable));
          continue;
        }
      TesseraLicense *license = license_from_record (r);
      /* The grace counts from the last signed answer any process got for
       * this session. A clock now before it was set back: no grace. */
      gboolean behind = now < r->last_answer_at;
      gint64 last_ok = behind
                           ? G_MININT64 / 2
                           : g_get_monotonic_time () - (now - r->last_answer_at) * G_USEC_PER_SEC;
      Session *s = session_new (self, license, r, NULL, last_ok, r->last_answer_at);
      s->clock_behind = behind;
      if (r->ended_code != NULL)
        {
          /* Ended: every later process says why, without asking. */
          TesseraError code = TESSERA_ERROR_TERMINATED;
          if (!tessera_error_from_nick (r->ended_code, &code))
            code = TESSERA_ERROR_TERMINATED;
          g_autoptr (GDateTime) at = g_date_time_new_from_unix_utc (r->ended_at);
          g_autofree char *when
              = at != NULL ? g_date_time_format (at, "%Y-%m-%d %H:%M:%S UTC") : g_strdup ("?");
          s->terminal
              = g_error_new (TESSERA_ERROR, code, "%s (ended %s; activate again for a new session)",
                             r->ended_reason, when);
        }
      s->record_path = g_strdup (r->path);
      tessera_license_set_flags (license, TESSERA_LICENSE_FLAG_PERSISTENT);
      g_ptr_array_add (out, license);
    }
  return g_steal_pointer (&out);
}

static gboolean
testops_forget (gpointer instance, guint *n_forgotten, GError **error)
{
  Testops *self = instance;
  /* env-only never stored anything, and may well run without a keyring. */
  if (self->key_storage == TESTOPS_KEY_STORAGE_ENV_ONLY)
    {
      *n_forgotten = 0;
      return TRUE;
    }
  return testops_keyring_forget (self->servers->urls[0], n_forgotten, error);
}

TESSERA_BACKEND_DEFINE (testops, "Online seats from a tessera-server (HTTPS, heartbeats)",
                        .create = testops_create, .destroy = testops_destroy,
                        .activate = testops_activate, .validate = testops_validate,
                        .release = testops_release, .list = testops_list, .forget = testops_forget)
