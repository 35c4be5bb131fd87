/*
 * smartcard.c: SSH_AGENTC_ADD_SMARTCARD_KEY(_CONSTRAINED) and
 * REMOVE_SMARTCARD_KEY: who may ask, which module may be loaded, and the
 * PIN as a guess; the work itself (prov.c) runs on a worker.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "audit.h"
#include "clock.h"
#include "guess.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "match.h"
#include "policy.h"
#include "prov.h"
#include "request.h"
#include "secmem.h"

/*
 * A connection with a session binding may be another host's, reaching us
 * through ssh -A: it must not make us load code (CVE-2023-38408: the
 * constructor of any library the allow-list matches runs at dlopen) nor
 * drop the user's providers. As ssh-agent, refuse unless the user opted in
 * (-O allow-remote-pkcs11). Reads only the provider name, to say what was
 * refused; the PIN and constraints stay unparsed. Returns 1 if refused
 * (FAILURE queued), 0 if the request may go on.
 */
static int
refuse_remote(struct client *cl, struct kbuf *m, const char *op)
{
	struct agent *a = client_agent(cl);
	const struct peer *peer = client_peer(cl);
	char *provider = NULL;

	if (!policy_peer_remote(peer))
		return 0;
	if (a->opt.allow_remote_pkcs11) {
		log_info("%s of a PKCS#11 provider by a connection with a "
			 "session binding: allowed by -O allow-remote-pkcs11",
		    op);
		return 0;
	}
	if (kbuf_get_cstring(m, &provider, NULL) != 0)
		provider = NULL;
	log_error("refusing to %s PKCS#11 provider \"%s\" for a connection "
		  "with a session binding (uid %ld, pid %ld): it may come from "
		  "another host over ssh -A; -O allow-remote-pkcs11 allows it",
	    op, provider != NULL ? provider : "(malformed)", (long)peer->uid,
	    (long)peer->pid);
	audit_provider(peer, op, provider, "refused",
	    "session-bound connection");
	free(provider);
	client_reply_code(cl, SSH_AGENT_FAILURE);
	return 1;
}

struct add_job {
	struct agent *agent;
	char *module;
	uint8_t *pin; /* secure memory */
	size_t pinlen;
	uint8_t *cons;
	size_t cons_len;
	uint64_t expiry_ms;
	int guess; /* a PIN from the client: rate-limited */
	int r;
	char err[PROV_ERR_MAX];
};

static void
add_job_free(struct add_job *j)
{
	free(j->module);
	kmes_secure_free(j->pin);
	free(j->cons);
	free(j);
}

static void
add_job_run(void *arg)
{
	struct add_job *j = arg;

	j->r = prov_add(j->agent, j->module, NULL, j->pin, j->pinlen, j->cons,
	    j->cons_len, j->expiry_ms, 0, j->err, sizeof(j->err));
}

static void
add_job_done(struct request *r, void *arg)
{
	struct add_job *j = arg;
	uint64_t hold = 0;

	if (j->guess)
		hold = guess_done(j->agent, j->r);
	if (j->r != 0)
		log_error("cannot add PKCS#11 provider %s: %s", j->module,
		    j->err[0] != '\0' ? j->err : kmes_err(j->r));
	audit_provider(r->peer, "add", j->module, j->r == 0 ? "ok" : "error",
	    j->r == 0		  ? NULL :
		j->err[0] != '\0' ? j->err :
				    kmes_err(j->r));
	if (j->r == 0)
		request_reply_code(r, SSH_AGENT_SUCCESS);
	else {
		/* A wrong PIN's answer waits until the next guess may pass. */
		request_fail_after(r, hold);
	}
	add_job_free(j);
}

void
smartcard_add(struct client *cl, struct kbuf *m, int constrained)
{
	struct agent *a = client_agent(cl);
	const struct peer *peer = client_peer(cl);
	struct request *rq;
	struct add_job *j = NULL;
	struct agent_constraints cons;
	char *provider = NULL, canon[PATH_MAX];
	const uint8_t *pin, *cstart;
	size_t pinlen, clen;
	uint64_t now = agent_now_ms();
	int r, admitted = 0;

	memset(&cons, 0, sizeof(cons));
	/* First: a remote peer gets nothing parsed, opened or started. */
	if (refuse_remote(cl, m, "add"))
		return;
	if ((r = kbuf_get_cstring(m, &provider, NULL)) != 0 ||
	    (r = kbuf_get_string_direct(m, &pin, &pinlen)) != 0) {
		log_info("malformed add-smartcard request: %s", kmes_err(r));
		goto fail;
	}
	cstart = kbuf_ptr(m);
	clen = kbuf_len(m);
	if (!constrained && clen != 0) {
		log_info("malformed add-smartcard request: trailing bytes");
		goto fail;
	}
	if (constrained && (r = agent_constraints_parse(m, &cons)) != 0) {
		log_error("refusing PKCS#11 provider %s: %s", provider,
		    kmes_err(r));
		goto fail;
	}
	if (realpath(provider, canon) == NULL) {
		log_error("refusing PKCS#11 provider \"%s\": realpath: %s",
		    provider, strerror(errno));
		audit_provider(peer, "add", provider, "refused",
		    strerror(errno));
		goto fail;
	}
	if (kmes_match_pattern_list(canon, a->opt.allowed_providers) != 1) {
		log_error("refusing PKCS#11 provider \"%s\": not allowed by "
			  "the allow-list (-P)",
		    canon);
		audit_provider(peer, "add", canon, "refused",
		    "not allowed by the allow-list (-P)");
		goto fail;
	}
	/*
	 * A PIN is a guess, at the global rate. A session-bound peer only
	 * gets this far with -O allow-remote-pkcs11 (refuse_remote above):
	 * the user opted in to its token logins too, so they are limited
	 * like a local client's, not refused.
	 */
	if (pinlen != 0 && guess_admit(a, peer, "token") != 0)
		goto fail;
	admitted = pinlen != 0;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->module = strdup(canon)) == NULL ||
	    (j->pin = kmes_secure_alloc(pinlen == 0 ? 1 : pinlen)) == NULL ||
	    (clen != 0 && (j->cons = malloc(clen)) == NULL))
		goto fail;
	j->agent = a;
	j->guess = admitted;
	memcpy(j->pin, pin, pinlen);
	j->pinlen = pinlen;
	if (clen != 0)
		memcpy(j->cons, cstart, clen);
	j->cons_len = clen;
	if (cons.lifetime_set)
		j->expiry_ms = now + (uint64_t)cons.lifetime * 1000;
	else if (a->opt.default_lifetime != 0)
		j->expiry_ms = now + (uint64_t)a->opt.default_lifetime * 1000;
	agent_constraints_clear(&cons);
	free(provider);
	if ((rq = request_new(cl)) == NULL) {
		add_job_free(j);
		goto fail_quiet;
	}
	if (request_offload(rq, a->wait_pool, add_job_run, add_job_done, j) !=
	    0) {
		add_job_free(j);
		if (admitted)
			guess_done(a, KMES_ERR_NO_BUFFER_SPACE);
		request_reply_code(rq, SSH_AGENT_FAILURE);
	}
	return;
fail:
	if (j != NULL)
		add_job_free(j);
	agent_constraints_clear(&cons);
	free(provider);
fail_quiet:
	if (admitted)
		guess_done(a, KMES_ERR_NO_BUFFER_SPACE);
	client_reply_code(cl, SSH_AGENT_FAILURE);
}

struct remove_job {
	struct agent *agent;
	char canon[PATH_MAX];
	size_t found;
};

static void
remove_job_run(void *arg)
{
	struct remove_job *j = arg;

	/* Off the loop: a restart in progress may hold a provider's lock. */
	j->found = prov_remove(j->agent, j->canon);
}

static void
remove_job_done(struct request *r, void *arg)
{
	struct remove_job *j = arg;

	if (j->found == 0)
		log_info("remove-smartcard: provider %s was not added",
		    j->canon);
	audit_provider(r->peer, "remove", j->canon,
	    j->found != 0 ? "ok" : "error", j->found != 0 ? NULL : "not added");
	request_reply_code(r,
	    j->found != 0 ? SSH_AGENT_SUCCESS : SSH_AGENT_FAILURE);
	free(j);
}

void
smartcard_remove(struct client *cl, struct kbuf *m)
{
	struct request *rq;
	char *provider = NULL;
	const uint8_t *pin;
	size_t pinlen;
	struct remove_job *j = NULL;

	if (refuse_remote(cl, m, "remove"))
		return;
	if (kbuf_get_cstring(m, &provider, NULL) != 0 ||
	    kbuf_get_string_direct(m, &pin, &pinlen) != 0 || kbuf_len(m) != 0) {
		log_info("malformed remove-smartcard request");
		goto fail;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto fail;
	j->agent = client_agent(cl);
	if (realpath(provider, j->canon) == NULL)
		snprintf(j->canon, sizeof(j->canon), "%s", provider);
	free(provider);
	provider = NULL;
	if ((rq = request_new(cl)) == NULL)
		goto fail;
	if (request_offload(rq, j->agent->wait_pool, remove_job_run,
		remove_job_done, j) != 0) {
		free(j);
		request_reply_code(rq, SSH_AGENT_FAILURE);
	}
	return;
fail:
	free(j);
	free(provider);
	client_reply_code(cl, SSH_AGENT_FAILURE);
}
