/*
 * store-unlock.c: unlocking the embedded key store while the agent runs:
 * with the PIN from ssh-add -X, or, when a sign request needs a locked
 * store key, with a PIN asked for through a pinentry (on a helper thread:
 * the dialog and the KDF both block) or SSH_ASKPASS. The waiting request
 * is then signed, or refused, on its connection's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "pinentry.h"
#include "secmem.h"

/* A store login (PIN -> data key -> private keys) on a helper thread. */
struct store_job {
	struct agent *agent;
	uint8_t *pin;		/* secure memory */
	size_t pinlen;
	int for_sign;		/* a sign request waits on it */
	int guess;		/* the client sent the PIN: rate-limited */
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

	loop_kdf_enter();
	j->r = astore_login(j->agent, j->pin, j->pinlen, &j->tries_left);
	loop_kdf_leave();
}

static void
sign_pending_after_unlock(struct agent *a, struct conn *c)
{
	struct ks_identity *id;
	const uint8_t *blob;
	size_t blob_len;
	char fp[KS_FP_MAX], prompt[1024];

	/* The same key, now with its private half loaded. */
	blob = ks_key_blob(ks_identity_key(c->pending_id), &blob_len);
	id = ks_table_lookup(a->table, blob, blob_len, agent_now_ms());
	if (id == NULL || !ks_key_has_private(ks_identity_key(id))) {
		ks_identity_unref(id);
		dispatch_drop_pending(c);
		dispatch_reply_code(c, SSH_AGENT_FAILURE);
		return;
	}
	ks_identity_unref(c->pending_id);
	c->pending_id = id;
	if (ks_identity_constraints(id)->confirm) {
		dispatch_fingerprint(a, ks_identity_key(id), fp, sizeof(fp));
		snprintf(prompt, sizeof(prompt),
		    "Allow use of key %s?\nKey fingerprint %s.",
		    ks_identity_comment(id), fp);
		if (askpass_start(c, ASKPASS_CONFIRM, prompt,
		    dispatch_confirm_done) != 0)
			dispatch_confirm_done(a, c, 0, NULL, 0);
		return;
	}
	dispatch_confirm_done(a, c, 1, NULL, 0);
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

static void
store_job_done(struct conn *c, void *arg)
{
	struct store_job *j = arg;
	struct agent *a = j->agent;
	int r = j->r, for_sign = j->for_sign;
	uint64_t hold = 0;

	if (j->guess)
		hold = guess_done(a, r);
	store_job_free(j);
	audit_unlock(c, "keystore", unlock_result(r));
	if (for_sign) {
		if (r == 0)
			sign_pending_after_unlock(a, c);
		else {
			audit_sign(a, c, c->pending_id, NULL, 0, "refused",
			    "keystore PIN not accepted");
			dispatch_drop_pending(c);
			dispatch_reply_code(c, SSH_AGENT_FAILURE);
		}
		return;
	}
	/* As for the lock password: the "no" waits out the delay. */
	if (r != 0 && guess_hold_failure(c, hold))
		return;
	dispatch_reply_code(c, r == 0 ? SSH_AGENT_SUCCESS : SSH_AGENT_FAILURE);
}

/*
 * Starts a store login with pin on the KDF pool; c waits for it. A PIN the
 * client sent (ssh-add -X, !for_sign) is a guess: refused from a
 * connection that may be forwarded, and admitted only by the global limit.
 * A PIN from the agent's own prompt (for_sign) was typed by the user.
 */
int
unlock_store_login(struct agent *a, struct conn *c, const uint8_t *pin,
    size_t len, int for_sign)
{
	struct store_job *j = NULL;
	int r;

	if (!for_sign) {
		if (guess_refuse_remote(c, "keystore"))
			return KMES_ERR_DENIED;
		if ((r = guess_admit(a, c, "keystore")) != 0)
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
	if ((r = loop_offload_kdf(c, store_job_run, store_job_done, j)) != 0)
		goto fail;
	return 0;
 fail:
	if (j != NULL)
		store_job_free(j);
	if (!for_sign)
		guess_done(a, r);
	return r;
}

static void
store_pin_answered(struct agent *a, struct conn *c, int ok,
    const uint8_t *pin, size_t len)
{
	if (!ok || unlock_store_login(a, c, pin, len, 1) != 0) {
		log_info("keystore PIN entry cancelled");
		audit_sign(a, c, c->pending_id, NULL, 0, "refused",
		    "keystore locked; PIN not given");
		dispatch_drop_pending(c);
		dispatch_reply_code(c, SSH_AGENT_FAILURE);
	}
}

/* Asks through SSH_ASKPASS; the answer comes back on c's loop. */
static void
ask_store_pin_askpass(struct agent *a, struct conn *c)
{
	char prompt[512];
	const char *label = astore_label(a);

	snprintf(prompt, sizeof(prompt), "Enter PIN for keystore '%s':",
	    label != NULL ? label : "?");
	if (askpass_start(c, ASKPASS_SECRET, prompt, store_pin_answered) != 0) {
		log_info("keystore \"%s\" is locked and no PIN prompt is "
		    "possible: unlock it with ssh-add -X",
		    label != NULL ? label : "?");
		audit_sign(a, c, c->pending_id, NULL, 0, "refused",
		    "keystore locked");
		dispatch_drop_pending(c);
		dispatch_reply_code(c, SSH_AGENT_FAILURE);
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
	char *program;			/* pinentry to run */
	char *intro;			/* first lines of SETDESC */
	unsigned int timeout_s;
	int logins[STORE_PIN_ROUNDS];	/* outcomes, for the audit log */
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
		loop_kdf_enter();
		r = astore_login(j->agent, pin, len, &left);
		loop_kdf_leave();
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
pin_job_done(struct conn *c, void *arg)
{
	struct pin_job *j = arg;
	struct agent *a = j->agent;
	unsigned int i;
	int r = j->r, asked = j->nlogins > 0;
	char *program = j->program;

	for (i = 0; i < j->nlogins; i++)
		audit_unlock(c, "keystore", unlock_result(j->logins[i]));
	j->program = NULL;
	pin_job_free(j);
	if (c->closing) {
		/* The client left meanwhile; nobody waits for a reply. */
		dispatch_drop_pending(c);
		free(program);
		return;
	}
	if (r == 0) {
		free(program);
		sign_pending_after_unlock(a, c);
		return;
	}
	if (r == KMES_ERR_SYSTEM && !asked) {
		log_info("pinentry %s: %s; asking through SSH_ASKPASS",
		    program, pinentry_err(r));
		free(program);
		ask_store_pin_askpass(a, c);
		return;
	}
	if (r == KMES_ERR_PIN_INCORRECT || r == KMES_ERR_PIN_LOCKED)
		log_info("keystore PIN not accepted: %s", kmes_err(r));
	else
		log_info("keystore PIN through pinentry %s: %s", program,
		    pinentry_err(r));
	free(program);
	audit_sign(a, c, c->pending_id, NULL, 0, "refused",
	    "keystore PIN not given or not accepted");
	dispatch_drop_pending(c);
	dispatch_reply_code(c, SSH_AGENT_FAILURE);
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

/* Starts a pinentry job for c. Returns 0 or KMES_ERR_* (then ask otherwise). */
static int
ask_store_pin_pinentry(struct agent *a, struct conn *c)
{
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
	if (asprintf(&j->intro, "A program wants to use the key \"%s\".\n"
	    "Please enter the PIN of keystore '%s'.",
	    ks_identity_comment(c->pending_id),
	    label != NULL ? label : "?") == -1) {
		j->intro = NULL;
		goto out;
	}
	j->timeout_s = pinentry_timeout_env(STORE_PIN_DIALOG_S);
	if ((r = loop_offload(c, pin_job_run, pin_job_done, j)) != 0)
		goto out;
	j = NULL;
 out:
	pin_job_free(j);
	return r;
}

void
unlock_ask_store_pin(struct agent *a, struct conn *c)
{
	if (ask_store_pin_pinentry(a, c) != 0)
		ask_store_pin_askpass(a, c);
}

