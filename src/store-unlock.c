/*
 * store-unlock.c: unlocking the embedded key store while the agent runs:
 * with the PIN from ssh-add -X, or, when a sign request needs a locked
 * store key, with a PIN asked for through a pinentry (on a helper thread:
 * the dialog and the KDF both block) or SSH_ASKPASS. The waiting request
 * is then signed, or refused, on its client's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "askpass.h"
#include "astore.h"
#include "audit.h"
#include "guess.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "pinentry.h"
#include "request.h"
#include "secmem.h"
#include "unlock.h"
#include "workers.h"

/* A store login (PIN -> data key -> private keys) on a helper thread. */
struct store_job {
	struct agent *agent;
	uint8_t *pin; /* secure memory */
	size_t pinlen;
	int for_sign; /* a sign request waits on it */
	int guess;    /* the client sent the PIN: rate-limited */
	unsigned int tries_left;
	int r;
};

static void
store_job_free(struct store_job *j)
{
	kmes_secure_free(j->pin);
	free(j);
}

static void
store_job_run(void *arg)
{
	struct store_job *j = arg;

	workers_gate_enter(j->agent->kdf_gate);
	j->r = astore_login(j->agent, j->pin, j->pinlen, &j->tries_left);
	workers_gate_leave(j->agent->kdf_gate);
}

static const char *
unlock_result(int r)
{
	switch (r) {
	case 0:
		return "ok";
	case KMES_ERR_PIN_INCORRECT:
		return "wrong-pin";
	case KMES_ERR_PIN_LOCKED:
		return "blocked";
	default:
		return "error";
	}
}

/* A sign request's store unlock failed or was not possible. */
static void
refuse_sign(struct request *rq, const char *why)
{
	audit_sign(rq->peer, rq->id, NULL, 0, "refused", why);
	request_reply_code(rq, SSH_AGENT_FAILURE);
}

static void
store_job_done(struct request *rq, void *arg)
{
	struct store_job *j = arg;
	struct agent *a = j->agent;
	int r = j->r, for_sign = j->for_sign;
	uint64_t hold = 0;

	if (j->guess)
		hold = guess_done(a, r);
	store_job_free(j);
	audit_unlock(rq->peer, "keystore", unlock_result(r));
	if (for_sign) {
		if (request_orphaned(rq))
			request_end(rq);
		else if (r == 0)
			rq->next(rq);
		else
			refuse_sign(rq, "keystore PIN not accepted");
		return;
	}
	if (r == 0)
		request_reply_code(rq, SSH_AGENT_SUCCESS);
	else {
		/* As for the lock password: the "no" waits out the delay. */
		request_fail_after(rq, hold);
	}
}

/*
 * Starts a store login with pin on the KDF pool; rq waits for it. A PIN the
 * client sent (ssh-add -X, !for_sign) is a guess: refused from a
 * connection that may be forwarded, and admitted only by the global limit.
 * A PIN from the agent's own prompt (for_sign) was typed by the user.
 */
static int
store_login(struct request *rq, const uint8_t *pin, size_t len, int for_sign)
{
	struct agent *a = rq->agent;
	struct store_job *j = NULL;
	int r;

	if (!for_sign) {
		if (guess_refuse_remote(rq->peer, "keystore"))
			return KMES_ERR_DENIED;
		if ((r = guess_admit(a, rq->peer, "keystore")) != 0)
			return r;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto fail;
	}
	j->agent = a;
	j->for_sign = for_sign;
	j->guess = !for_sign;
	j->pinlen = len;
	if ((j->pin = kmes_secure_alloc(len == 0 ? 1 : len)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto fail;
	}
	memcpy(j->pin, pin, len);
	if ((r = request_offload(rq, a->kdf_pool, store_job_run, store_job_done,
		 j)) != 0)
		goto fail;
	return 0;
fail:
	if (j != NULL)
		store_job_free(j);
	if (!for_sign)
		guess_done(a, r);
	return r;
}

void
unlock_store_pin(struct request *rq, const uint8_t *pin, size_t len)
{
	if (store_login(rq, pin, len, 0) != 0)
		request_reply_code(rq, SSH_AGENT_FAILURE);
}

static void
store_pin_answered(struct request *rq, int ok, const uint8_t *pin, size_t len)
{
	if (request_orphaned(rq)) {
		request_end(rq);
		return;
	}
	if (!ok || store_login(rq, pin, len, 1) != 0) {
		log_info("keystore PIN entry cancelled");
		refuse_sign(rq, "keystore locked; PIN not given");
	}
}

/* Asks through SSH_ASKPASS; the answer comes back on rq's loop. */
static void
ask_store_pin_askpass(struct request *rq)
{
	char prompt[512];
	const char *label = astore_label(rq->agent);

	snprintf(prompt, sizeof(prompt),
	    "Enter PIN for keystore '%s':", label != NULL ? label : "?");
	if (askpass_start(rq, ASKPASS_SECRET, prompt, store_pin_answered) !=
	    0) {
		log_info("keystore \"%s\" is locked and no PIN prompt is "
			 "possible: unlock it with ssh-add -X",
		    label != NULL ? label : "?");
		refuse_sign(rq, "keystore locked");
	}
}

/*
 * The store PIN through a pinentry, on a helper thread: the dialog and the
 * login both block. A wrong PIN is asked once more (with SETERROR): a typo
 * should not cost the user a failed ssh, but each try also costs one of
 * the store's tries and keeps the client waiting, so twice is the limit.
 * The client waits at most STORE_PIN_ROUNDS dialogs of STORE_PIN_DIALOG_S
 * seconds ($KMES_PINENTRY_TIMEOUT) plus pinentry's grace.
 */
#define STORE_PIN_ROUNDS 2
#define STORE_PIN_DIALOG_S 60

struct pin_job {
	struct agent *agent;
	char *program; /* pinentry to run */
	char *intro;   /* first lines of SETDESC */
	unsigned int timeout_s;
	int logins[STORE_PIN_ROUNDS]; /* outcomes, for the audit log */
	unsigned int nlogins;
	int r;
};

static void
pin_job_free(struct pin_job *j)
{
	if (j == NULL)
		return;
	free(j->program);
	free(j->intro);
	free(j);
}

static void
pin_job_run(void *arg)
{
	struct pin_job *j = arg;
	struct pinentry_req req;
	uint8_t *pin = NULL;
	size_t len;
	unsigned int round, left = 0;
	char desc[1024], error[128];
	int r = KMES_ERR_INTERNAL, tries;

	for (round = 0; round < STORE_PIN_ROUNDS; round++) {
		tries = astore_tries_left(j->agent);
		if (tries >= 0)
			snprintf(desc, sizeof(desc), "%s\n%d %s left.",
			    j->intro, tries, tries == 1 ? "try" : "tries");
		else
			snprintf(desc, sizeof(desc), "%s", j->intro);
		memset(&req, 0, sizeof(req));
		req.program = j->program;
		req.title = "kmes-agent";
		req.desc = desc;
		req.prompt = "PIN:";
		req.error = round > 0 ? error : NULL;
		req.timeout_s = j->timeout_s;
		req.quit = &j->agent->quit;
		if ((r = pinentry_getpin(&req, &pin, &len)) != 0)
			break;
		workers_gate_enter(j->agent->kdf_gate);
		r = astore_login(j->agent, pin, len, &left);
		workers_gate_leave(j->agent->kdf_gate);
		kmes_secure_free(pin);
		pin = NULL;
		j->logins[j->nlogins++] = r;
		if (r != KMES_ERR_PIN_INCORRECT || left == 0)
			break;
		snprintf(error, sizeof(error), "Wrong PIN (%u %s left)", left,
		    left == 1 ? "try" : "tries");
	}
	j->r = r;
}

static void
pin_job_done(struct request *rq, void *arg)
{
	struct pin_job *j = arg;
	unsigned int i;
	int r = j->r, asked = j->nlogins > 0;
	char *program = j->program;

	for (i = 0; i < j->nlogins; i++)
		audit_unlock(rq->peer, "keystore", unlock_result(j->logins[i]));
	j->program = NULL;
	pin_job_free(j);
	if (request_orphaned(rq)) {
		/* The client left meanwhile; nobody waits for a reply. */
		free(program);
		request_end(rq);
		return;
	}
	if (r == 0) {
		free(program);
		rq->next(rq);
		return;
	}
	if (r == KMES_ERR_SYSTEM && !asked) {
		log_info("pinentry %s: %s; asking through SSH_ASKPASS", program,
		    pinentry_err(r));
		free(program);
		ask_store_pin_askpass(rq);
		return;
	}
	if (r == KMES_ERR_PIN_INCORRECT || r == KMES_ERR_PIN_LOCKED)
		log_info("keystore PIN not accepted: %s", kmes_err(r));
	else
		log_info("keystore PIN through pinentry %s: %s", program,
		    pinentry_err(r));
	free(program);
	refuse_sign(rq, "keystore PIN not given or not accepted");
}

/*
 * The pinentry the daemon may use: the configured one, else "pinentry" on
 * PATH when there is a display to show it on (a daemon has no terminal).
 */
static char *
runtime_pinentry(const struct agent *a)
{
	const char *s;

	if (a->opt.pinentry != NULL && *a->opt.pinentry != '\0')
		return strdup(a->opt.pinentry);
	if (((s = getenv("DISPLAY")) == NULL || *s == '\0') &&
	    ((s = getenv("WAYLAND_DISPLAY")) == NULL || *s == '\0'))
		return NULL;
	return pinentry_find();
}

/* Starts a pinentry job for rq. Returns 0 or KMES_ERR_* (then ask otherwise). */
static int
ask_store_pin_pinentry(struct request *rq)
{
	struct agent *a = rq->agent;
	struct pin_job *j = NULL;
	const char *label = astore_label(a);
	int r = KMES_ERR_ALLOC;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto out;
	j->agent = a;
	if ((j->program = runtime_pinentry(a)) == NULL) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	/* Copied here: a store reload may replace the label meanwhile. */
	if (asprintf(&j->intro,
		"A program wants to use the key \"%s\".\n"
		"Please enter the PIN of keystore '%s'.",
		ks_identity_comment(rq->id),
		label != NULL ? label : "?") == -1) {
		j->intro = NULL;
		goto out;
	}
	j->timeout_s = pinentry_timeout_env(STORE_PIN_DIALOG_S);
	if ((r = request_offload(rq, a->wait_pool, pin_job_run, pin_job_done,
		 j)) != 0)
		goto out;
	j = NULL;
out:
	pin_job_free(j);
	return r;
}

void
unlock_ask_store_pin(struct request *rq)
{
	if (ask_store_pin_pinentry(rq) != 0)
		ask_store_pin_askpass(rq);
}
