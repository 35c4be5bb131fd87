/*
 * agent-store.c: serving the keys of the embedded key store.
 *
 * The store's public keys are always listed (public halves are not secret).
 * After a login with the PIN, the private keys are loaded into the secure
 * heap and the same identities become able to sign; a lock (ssh-add -x)
 * wipes them again. The file is re-read whenever it changed on disk, so
 * keys generated, imported or deleted by kmes-keytool show up or vanish
 * without a restart.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-msg.h"
#include "agent.h"
#include "astore.h"
#include "clock.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "loop.h"
#include "secmem.h"
#include "store.h"

struct agent_store {
	/* Held for a whole login (a slow KDF): loops only ever trylock it. */
	pthread_mutex_t mtx;
	struct ks_store *st;
	atomic_int unlocked; /* readable without the mutex */
	int damaged;	     /* a right PIN met a bad MAC: serve nothing */
	char *label;	     /* a copy: a reload frees the store's own */
};

/*
 * A damaged store is not served at all, not even its public keys: the
 * list would come from a file whose MAC failed. The user is told how to
 * save the intact keys instead.
 */
static void
damaged_message(const char *path)
{
	log_error(
	    "keystore %s is damaged (its integrity check failed; no PIN "
	    "try was counted); kmes-agent will not serve it. Save its intact "
	    "keys with 'kmes-keytool --store %s recover --out NEWFILE', check "
	    "NEWFILE with 'kmes-keytool --store NEWFILE verify' and move it "
	    "over the damaged file",
	    path, path);
}

/* Rebuilds the store's identities. Caller holds s->mtx. */
static int
rebuild(struct agent *a, struct agent_store *s)
{
	struct ks_store_entry e;
	struct ks_key **keys = NULL;
	char **comments = NULL;
	struct agent_constraints *cons = NULL;
	size_t i, n = s->damaged ? 0 : ks_store_count(s->st), made = 0;
	int r = 0, logged_in = ks_store_logged_in(s->st);

	atomic_store(&s->unlocked, logged_in);
	if (n != 0 &&
	    ((keys = calloc(n, sizeof(*keys))) == NULL ||
		(comments = calloc(n, sizeof(*comments))) == NULL ||
		(cons = calloc(n, sizeof(*cons))) == NULL)) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = ks_store_entry(s->st, i, &e)) != 0)
			goto out;
		if (logged_in)
			r = ks_store_load_key(s->st, i, &keys[made]);
		else
			r = ks_key_from_blob(e.blob, e.blob_len, &keys[made]);
		if (r != 0) {
			/* One bad record must not hide the others. */
			log_error("keystore key \"%s\" cannot be served: %s",
			    e.label, kmes_err(r));
			r = 0;
			continue;
		}
		if ((comments[made] = strdup(e.label)) == NULL) {
			ks_key_free(keys[made]);
			keys[made] = NULL;
			r = KMES_ERR_ALLOC;
			goto out;
		}
		cons[made].confirm = (e.flags & KS_REC_CONFIRM) != 0;
		made++;
	}
	r = ks_table_replace_origin(a->table, KS_ORIGIN_STORE, keys, comments,
	    cons, made);
	made = 0;
	log_verbose("keystore \"%s\": %zu key(s) served, %s", s->label, n,
	    logged_in ? "unlocked" : "locked");
out:
	for (i = 0; i < made; i++) {
		ks_key_free(keys[i]);
		free(comments[i]);
	}
	free(keys);
	free(comments);
	free(cons);
	return r;
}

int
astore_open(struct agent *a, const char *path)
{
	struct agent_store *s;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KMES_ERR_ALLOC;
	pthread_mutex_init(&s->mtx, NULL);
	if ((r = ks_store_open(path, &s->st)) != 0) {
		if (r == KMES_ERR_STORE_CORRUPT)
			damaged_message(path);
		pthread_mutex_destroy(&s->mtx);
		free(s);
		return r;
	}
	if ((s->label = strdup(ks_store_label(s->st))) == NULL) {
		ks_store_free(s->st);
		pthread_mutex_destroy(&s->mtx);
		free(s);
		return KMES_ERR_ALLOC;
	}
	a->store = s;
	pthread_mutex_lock(&s->mtx);
	r = rebuild(a, s);
	pthread_mutex_unlock(&s->mtx);
	return r;
}

void
astore_close(struct agent *a)
{
	struct agent_store *s = a->store;

	if (s == NULL)
		return;
	ks_store_free(s->st);
	pthread_mutex_destroy(&s->mtx);
	free(s->label);
	free(s);
	a->store = NULL;
}

const char *
astore_label(struct agent *a)
{
	return a->store == NULL ? NULL : a->store->label;
}

int
astore_locked(struct agent *a)
{
	return a->store != NULL && !atomic_load(&a->store->unlocked);
}

int
astore_tries_left(struct agent *a)
{
	struct agent_store *s = a->store;
	uint32_t failed;

	/* Loops never wait for a login in progress: unknown then. */
	if (s == NULL || pthread_mutex_trylock(&s->mtx) != 0)
		return -1;
	failed = ks_store_pin_failures(s->st);
	pthread_mutex_unlock(&s->mtx);
	return failed >= KS_STORE_MAX_TRIES ?
	    0 :
	    (int)(KS_STORE_MAX_TRIES - failed);
}

int
astore_login(struct agent *a, const uint8_t *pin, size_t len,
    unsigned int *tries_left)
{
	struct agent_store *s = a->store;
	unsigned int left = 0;
	int r;

	if (tries_left != NULL)
		*tries_left = 0;
	if (s == NULL)
		return KMES_ERR_STORE_NOT_FOUND;
	pthread_mutex_lock(&s->mtx);
	r = ks_store_login(s->st, 0, pin, len, &left);
	if (r == KMES_ERR_STORE_CORRUPT) {
		/* Said whether at start-up or not: it names the way out. */
		damaged_message(ks_store_path(s->st));
		s->damaged = 1;
		(void)rebuild(a, s);
	} else if (r == 0) {
		s->damaged = 0;
		log_info("keystore \"%s\" unlocked", s->label);
		/* --lock-idle counts from here: loop 0 looks again. */
		atomic_store(&a->last_use_ms, agent_now_ms());
		if (a->loops != NULL)
			loopset_kick(a->loops);
		r = rebuild(a, s);
	} else if (a->loops == NULL) {
		/* At start-up the caller tells the user; no second line. */
	} else if (r == KMES_ERR_PIN_INCORRECT)
		log_error("keystore \"%s\": wrong PIN, %u %s left", s->label,
		    left, left == 1 ? "try" : "tries");
	else if (r == KMES_ERR_PIN_LOCKED)
		log_error("keystore \"%s\": PIN blocked; unblock it with "
			  "kmes-keytool unblock",
		    s->label);
	pthread_mutex_unlock(&s->mtx);
	if (tries_left != NULL)
		*tries_left = left;
	return r;
}

void
astore_lock(struct agent *a)
{
	struct agent_store *s = a->store;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	if (ks_store_logged_in(s->st)) {
		ks_store_logout(s->st);
		/* Public-only identities replace the private ones. */
		(void)rebuild(a, s);
		log_info("keystore \"%s\" locked; its keys were wiped from "
			 "memory",
		    s->label);
	}
	pthread_mutex_unlock(&s->mtx);
}

void
astore_sync(struct agent *a)
{
	struct agent_store *s = a->store;
	int changed = 0, r;

	if (s == NULL)
		return;
	/* A login in progress holds the store; serve what we have. */
	if (pthread_mutex_trylock(&s->mtx) != 0)
		return;
	r = ks_store_refresh(s->st, &changed);
	if (r == KMES_ERR_STORE_CORRUPT && !s->damaged) {
		/* Once, not at every request; the keys go with it. */
		damaged_message(ks_store_path(s->st));
		s->damaged = 1;
		ks_store_logout(s->st);
		(void)rebuild(a, s);
	} else if (r != 0 && r != KMES_ERR_STORE_CORRUPT)
		log_error("keystore \"%s\": cannot re-read: %s", s->label,
		    kmes_err(r));
	else if (r == 0 && changed)
		(void)rebuild(a, s);
	pthread_mutex_unlock(&s->mtx);
}
