/* tessera-store: the pool an activation will choose, guessed.
 *
 * Where the pool's lock is a statement of its own (PostgreSQL), it follows
 * the statement that chooses the pool: three round trips (the choice; the
 * lock and the seat count; the writes and COMMIT). A caller activates a
 * product from the same pool almost every time, so the lock and the seat
 * count of the pool its last activation chose go out with the choice: two
 * round trips. It stays a guess. The choice is read first, and the lock's
 * and the count's answers are used only if it chose that pool for the
 * same user; the statements ran in the order they always do (choice, lock,
 * count: the count starts once the lock is held), so the transaction is
 * the one it would have been. Otherwise (a grant given or taken, a
 * membership or key gone) the transaction is rolled back, which lets go of
 * the guessed pool's lock before any other is taken (no transaction waits
 * for a pool while holding one), and the activation runs again without a
 * guess. */
#pragma once

#include "db.h"

G_BEGIN_DECLS

typedef struct
{
  char *pool_id, *org_id, *kind, *user_id;
} TsPoolGuess;

void ts_pool_guess_free (TsPoolGuess *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TsPoolGuess, ts_pool_guess_free)

/* The key of @who's guesses for @product in @org_id (nullable: any of the
 * caller's organizations), transfer full. */
char *ts_guess_key (TsCaller *who, const char *org_id, const char *product);
/* A copy of the guess under @key (transfer full), or NULL. */
TsPoolGuess *ts_guess_get (TsStore *store, const char *key);
/* The choice made under @key: @pool, for @user_id. */
void ts_guess_set (TsStore *store, const char *key, const TsPool *pool, const char *user_id);
void ts_guess_forget (TsStore *store, const char *key);
/* Whether the choice made, @chosen for @user_id, is what @guess said. */
gboolean ts_guess_holds (const TsPoolGuess *guess, const TsPool *chosen, const char *user_id);

G_END_DECLS
