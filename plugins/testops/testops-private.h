/* The online provider's private declarations, shared by its files. */
#pragma once

#include "testops-answer.h"
#include "testops-keyring.h"
#include "testops-state.h"

#include <tessera/tessera.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>

G_BEGIN_DECLS

#define DEFAULT_TIMEOUT 30
#define MAX_TIMEOUT 600
#define MAX_GRACE (30 * 24 * 3600)
#define MAX_WAIT (7 * 24 * 3600)
/* Retries of one request whose connection dropped after it was sent. */
#define SEND_ATTEMPTS 3
#define RETRY_DELAY_USEC (200 * 1000)
/* Waiting for a seat: exponential backoff from FIRST to MAX, ±25 % jitter. */
#define WAIT_FIRST_USEC (500 * 1000)
#define WAIT_MAX_USEC (8 * G_USEC_PER_SEC)
#define API_KEY_ENV "TESSERA_API_KEY"
#define WAIT_SECONDS_KEY "wait-seconds"
#define KEY_STORAGE_KEY "key-storage"
#define STATE_DIR_KEY "state-dir"

/* The configured servers (docs/testops.md, "Several servers"): instances of
 * one service, in the order they are tried. Shared, read-only but for
 * @last_ok, by the instance and its sessions (a session outlives the
 * instance). */
typedef struct
{
  gatomicrefcount ref;
  guint n;
  char **urls;          /* base URLs, no trailing '/'; urls[0] names the keyring items */
  gboolean *direct;     /* per URL: a loopback host, never through a proxy */
  GTlsDatabase *tls_db; /* only the configured CA, or NULL: the system's; for every URL */
  gint64 timeout;
  gint last_ok; /* (atomic) the index that answered last: where activations start */
} Servers;

Servers *servers_ref (Servers *servers);
void servers_unref (Servers *servers);
/* Returns: the index of @url in @servers, or -1. */
int servers_find (const Servers *servers, const char *url);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Servers, servers_unref)

typedef struct
{
  Servers *servers;
  gint64 grace;
  gint64 wait_seconds;
  TestopsKeyStorage key_storage;
  char *org_id;
  char *state_dir;                 /* where persistent sessions are recorded */
  TesseraTrustedKeys *server_keys; /* what every server's answers must be signed with */

  GMutex lock;
  TesseraFingerprint *fingerprint; /* read once; guarded by @lock */
} Testops;

/* A granted license's backend data: the server session. */
typedef struct
{
  Servers *servers;
  gint64 grace;
  TesseraTrustedKeys *server_keys;
  char *api_key; /* NULL for a listed session until it is first needed; set
                    once (under @lock), then constant until freed */
  char *session_id;
  TesseraLicense *license; /* not owned: the license owns this session */
  char *record_path;       /* persistent: its record, or NULL; guarded by @lock */

  GMutex lock;
  GCond cond;
  guint current; /* the server in use (index in @servers) */
  gint64 lease_seconds;
  gint64 last_ok;        /* monotonic µs when the last signed answer was asked for */
  gint64 last_ok_real;   /* the same, unix seconds (for records and messages) */
  gboolean clock_behind; /* listed: the clock is before the recorded last answer */
  GError *terminal;      /* the server ended the session (no grace then) */
  gboolean stop;
  gboolean released;
  GThread *thread;
  GCancellable *cancel; /* cancels the heartbeat in flight at stop */
} Session;

static inline void
secret_free (char *secret)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

/* testops-config.c: the instance from [provider:testops]. */
gpointer testops_create (TesseraBackendConfig *config, GError **error);
void testops_destroy (gpointer instance);

/* testops-http.c: POSTs @body to /api/v1@path at the servers, starting at
 * *@current and moving on (wrapping, each server once) after a failure
 * that is no server's answer: no connection, a connection lost before the
 * whole answer, a garbled answer, HTTP 502/503/504. Any other answer is
 * final. With one server, a connection that drops after the request may
 * have been sent is retried on it (the request bodies are idempotent: the
 * same nonce gets the same session). Sets *@current to the server that
 * answered (even with an error), and logs a switch.
 * Returns: (transfer full) the JSON object of a 2xx answer, or NULL with
 * @error set: the server's code; NETWORK (UNAVAILABLE when every server
 * answered 5xx) naming every server tried and why, when none answered. */
JsonObject *post_json (Servers *servers, guint *current, const char *api_key, const char *path,
                       JsonBuilder *body, GCancellable *cancellable, GError **error);
/* post_json(), and *@refusal (nullable; set only when NULL is returned for
 * a 4xx answer that carried a JSON object): that answer, e.g. a
 * quota-exceeded refusal's seats in use and quota. The whole call, retries
 * and failover included, is bounded by the servers' timeout. */
JsonObject *post_json_full (Servers *servers, guint *current, const char *api_key, const char *path,
                            JsonBuilder *body, JsonObject **refusal, GCancellable *cancellable,
                            GError **error);

/* testops-client.c: the "hostname" and "os" members of an activation,
 * informational (docs/protocol.md, "Client information"), cut to the
 * server's limits (server/store.h) and without control characters; left
 * out when unknown. */
#define TESTOPS_CLIENT_HOSTNAME_MAX 255
#define TESTOPS_CLIENT_OS_MAX 128
void testops_add_client_info (JsonBuilder *b);

/* testops-session.c: sessions and their heartbeat thread. */
gboolean is_transient (const GError *error);
gboolean leaves_session_alive (const GError *error);
gint64 grace_deadline_locked (Session *s);
gboolean session_heartbeat (Session *s, GCancellable *cancellable, GError **error);
guint session_current (Session *s);
/* Makes @index the server @s uses, and names it in a persistent record. */
void session_use_server (Session *s, guint index);
GError *grace_error (Session *s);
gboolean ended_by_server (const GError *error);
void session_drop_record (Session *s, const char *why);
/* Records in a persistent session's record that the server ended it
 * (@reason), so every later process says why; any thread. */
void session_mark_ended (Session *s, const GError *reason);
gpointer heartbeat_thread (gpointer data);
void session_stop (Session *s);
void session_free (gpointer data);
Session *session_new (Testops *self, TesseraLicense *license, const TestopsRecord *r, char *api_key,
                      gint64 last_ok, gint64 last_ok_real);
void session_give_back (Session *s);

G_END_DECLS
