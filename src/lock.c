/*
 * lock.c: ssh-add -x / -X. The password's hash is made on the KDF pool,
 * never on a loop. An UNLOCK is a guess at the lock password and passes
 * the global limiter (guess.c) first; OpenSSH allows it from a forwarded
 * connection, and so do we, at that rate.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "astore.h"
#include "audit.h"
#include "guess.h"
#include "kmes-err.h"
#include "lock.h"
#include "log.h"
#include "request.h"
#include "secmem.h"
#include "workers.h"

struct lock_job {
	struct agent *agent;
	int lock;    /* 1 LOCK, 0 UNLOCK */
	uint8_t *pw; /* secure memory */
	size_t pwlen;
	uint8_t salt[KS_PWHASH_SALT_LEN];
	uint8_t *hash; /* secure memory, KS_PWHASH_LEN */
	unsigned long epoch;
	int r;
};

int
lock_is_locked(struct agent *a)
{
	int locked;

	pthread_mutex_lock(&a->lock_mtx);
	locked = a->locked;
	pthread_mutex_unlock(&a->lock_mtx);
	return locked;
}

static void
lock_job_free(struct lock_job *j)
{
	kmes_secure_free(j->pw);
	kmes_secure_free(j->hash);
	kmes_wipe(j, sizeof(*j));
	free(j);
}

static void
lock_job_run(void *arg)
{
	struct lock_job *j = arg;

	workers_gate_enter(j->agent->kdf_gate);
	j->r = ks_pw_hash(j->pw, j->pwlen, j->salt, j->hash);
	workers_gate_leave(j->agent->kdf_gate);
}

/* Applies j under the lock; returns its verdict (0: done). */
static int
lock_apply(struct agent *a, struct lock_job *j)
{
	int verdict = j->r;

	pthread_mutex_lock(&a->lock_mtx);
	if (j->r != 0) {
		log_error("lock password hash failed: %s", kmes_err(j->r));
	} else if (j->lock) {
		if (a->locked)
			verdict = KMES_ERR_LOCKED;
		else {
			memcpy(a->lock_secret, j->salt, KS_PWHASH_SALT_LEN);
			memcpy(a->lock_secret + KS_PWHASH_SALT_LEN, j->hash,
			    KS_PWHASH_LEN);
			a->locked = 1;
			a->lock_epoch++;
			log_info("agent locked");
			/* Locking wipes the store's private keys too. */
			astore_lock(a);
		}
	} else if (a->locked && j->epoch == a->lock_epoch) {
		if (kmes_ct_memcmp(j->hash, a->lock_secret + KS_PWHASH_SALT_LEN,
			KS_PWHASH_LEN) == 0) {
			a->locked = 0;
			kmes_wipe(a->lock_secret,
			    KS_PWHASH_SALT_LEN + KS_PWHASH_LEN);
			a->lock_epoch++;
			log_info("agent unlocked");
		} else
			verdict = KMES_ERR_PASSPHRASE_INCORRECT;
	} else {
		/* Unlocked (and perhaps relocked) meanwhile: no verdict. */
		verdict = KMES_ERR_LOCKED;
	}
	pthread_mutex_unlock(&a->lock_mtx);
	return verdict;
}

static void
lock_job_done(struct request *r, void *arg)
{
	struct lock_job *j = arg;
	struct agent *a = j->agent;
	int verdict, lock = j->lock;
	uint64_t hold = 0;

	/* Applied even if the client left: ssh-add -x must not half-work. */
	verdict = lock_apply(a, j);
	lock_job_free(j);
	if (!lock) {
		/* Counted whether or not the client waits for the answer. */
		hold = guess_done(a, verdict);
		audit_unlock(r->peer, "agent",
		    verdict == 0 ? "ok" :
			verdict == KMES_ERR_PASSPHRASE_INCORRECT ?
				   "wrong-password" :
				   "error");
		if (verdict == KMES_ERR_PASSPHRASE_INCORRECT)
			log_info("unlock failed: wrong password; answering "
				 "in %.2f s",
			    (double)hold / 1000);
	}
	if (verdict == 0) {
		request_reply_code(r, SSH_AGENT_SUCCESS);
		return;
	}
	/* The "no" waits until a next guess could pass (ssh-agent too
	 * answers a wrong password slowly). */
	request_fail_after(r, hold);
}

void
lock_request(struct request *r, const uint8_t *pw, size_t pwlen, int lock)
{
	struct agent *a = r->agent;
	struct lock_job *j = NULL;
	int locked, admitted = 0;

	pthread_mutex_lock(&a->lock_mtx);
	locked = a->locked;
	if ((j = calloc(1, sizeof(*j))) != NULL) {
		j->epoch = a->lock_epoch;
		if (!lock)
			memcpy(j->salt, a->lock_secret, KS_PWHASH_SALT_LEN);
	}
	pthread_mutex_unlock(&a->lock_mtx);
	if (j == NULL)
		goto fail;
	if (lock == locked) {
		/* Lock while locked, or unlock while unlocked. */
		free(j);
		goto fail;
	}
	if (!lock) {
		if (guess_admit(a, r->peer, "agent") != 0) {
			free(j);
			goto fail;
		}
		admitted = 1;
	}
	j->agent = a;
	j->lock = lock;
	j->pwlen = pwlen;
	if ((j->pw = kmes_secure_alloc(pwlen)) == NULL ||
	    (j->hash = kmes_secure_alloc(KS_PWHASH_LEN)) == NULL ||
	    (lock && ks_random(j->salt, sizeof(j->salt)) != 0))
		goto fail_job;
	memcpy(j->pw, pw, pwlen);
	if (request_offload(r, a->kdf_pool, lock_job_run, lock_job_done, j) !=
	    0)
		goto fail_job;
	return;
fail_job:
	lock_job_free(j);
	if (admitted)
		guess_done(a, KMES_ERR_NO_BUFFER_SPACE);
fail:
	request_reply_code(r, SSH_AGENT_FAILURE);
}
