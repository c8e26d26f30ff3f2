/* Tessera — per-activation options (credentials, organization, waiting). */
#pragma once

#if !defined(TESSERA_INSIDE) && !defined(TESSERA_COMPILATION)
#error "Only <tessera/tessera.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * TesseraActivateOptions:
 *
 * String options for one activation, read by backends. Well-known keys:
 * "api-key", "org-id", "wait-timeout" (seconds). Backends ignore keys they do
 * not know. Reference counted; not thread-safe while being modified, so set
 * everything before passing it to the engine, which then only reads it.
 */
typedef struct _TesseraActivateOptions TesseraActivateOptions;

/**
 * tessera_activate_options_get_type:
 *
 * Returns: the boxed #GType of #TesseraActivateOptions (copy is tessera_activate_options_ref(),
 * free tessera_activate_options_unref()), for bindings and GValues. Thread-safety: any thread.
 */
GType tessera_activate_options_get_type (void) G_GNUC_CONST;
#define TESSERA_TYPE_ACTIVATE_OPTIONS (tessera_activate_options_get_type ())

#define TESSERA_OPTION_API_KEY "api-key"
#define TESSERA_OPTION_ORG_ID "org-id"
#define TESSERA_OPTION_WAIT_TIMEOUT "wait-timeout"
/* "true": the license outlives this process. The backend records it (it sets
 * TESSERA_LICENSE_FLAG_PERSISTENT), dropping the last reference does not
 * release it, and a later process finds it with tessera_engine_list_licenses()
 * to validate or release it. Backends that cannot keep a license ignore it. */
#define TESSERA_OPTION_PERSIST "persist"

/**
 * tessera_activate_options_new:
 * Creates empty options; set what the activation needs with
 * tessera_activate_options_set().
 *
 * Returns: (transfer full): new options; free with tessera_activate_options_unref().
 */
TesseraActivateOptions *tessera_activate_options_new (void);

/**
 * tessera_activate_options_ref:
 * @options: the options
 *
 * Returns: (transfer full): @options, with one more reference.
 */
TesseraActivateOptions *tessera_activate_options_ref (TesseraActivateOptions *options);

/**
 * tessera_activate_options_unref:
 * @options: (transfer full): the options
 *
 * Drops one reference; the last one frees the options (and calls the wait
 * function's destroy notify, if any).
 */
void tessera_activate_options_unref (TesseraActivateOptions *options);

/**
 * tessera_activate_options_set:
 * @key: option name
 * @value: (nullable): value (copied); NULL removes the option
 */
void tessera_activate_options_set (TesseraActivateOptions *options, const char *key,
                                   const char *value);

/**
 * tessera_activate_options_get:
 * @options: the options
 * @key: option name
 *
 * Returns: (transfer none) (nullable): the value of @key, valid until it is set
 *   again or the options are freed; NULL if unset.
 */
const char *tessera_activate_options_get (TesseraActivateOptions *options, const char *key);

/**
 * TesseraActivateWaitFunc:
 * @product: the product being activated
 * @in_use: seats in use, as the provider was last told (-1: not known)
 * @quota: seats in all (-1: not known)
 * @user_data: what was given to tessera_activate_options_set_wait_func()
 *
 * Called each time a provider waiting for a seat ("wait-timeout") was
 * refused for lack of one and waits on. Called from the thread running the
 * activation (a worker thread for tessera_engine_activate_async()): it must
 * be thread-safe and quick, and must not call back into the engine.
 */
typedef void (*TesseraActivateWaitFunc) (const char *product, gint64 in_use, gint64 quota,
                                         gpointer user_data);

/**
 * tessera_activate_options_set_wait_func:
 * @func: (nullable): called while waiting for a seat; NULL removes it
 * @user_data: passed to @func
 * @destroy: (nullable): frees @user_data when the options are freed or
 *   another function is set
 *
 * Lets a program show how a wait for a seat goes (seats in use of how
 * many). Set it before passing the options to the engine.
 */
void tessera_activate_options_set_wait_func (TesseraActivateOptions *options,
                                             TesseraActivateWaitFunc func, gpointer user_data,
                                             GDestroyNotify destroy);

/**
 * tessera_activate_options_notify_wait:
 * @options: (nullable): the activation's options
 * @product: the product being activated
 * @in_use: seats in use (-1: not known)
 * @quota: seats in all (-1: not known)
 *
 * For backends: says that this activation was refused for lack of a seat
 * and waits on. Calls the function of tessera_activate_options_set_wait_func(),
 * if any, in this thread.
 */
void tessera_activate_options_notify_wait (TesseraActivateOptions *options, const char *product,
                                           gint64 in_use, gint64 quota);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TesseraActivateOptions, tessera_activate_options_unref)

G_END_DECLS
