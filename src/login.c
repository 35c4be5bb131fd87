/*
 * login.c: start-up logins. The PINs are asked for in the process that has
 * the terminal; with -s/-c that is the parent, and each PIN goes to the
 * agent child over a pipe so that it only ever exists in the locked memory
 * of the process that keeps it. A token PIN is tried once: an HSM may lock
 * its user after very few failures.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "astore.h"
#include "fdio.h"
#include "kmes-err.h"
#include "login.h"
#include "prov.h"
#include "readpass.h"
#include "secmem.h"
#include "store.h"

#define PROGNAME "kmes-agent"
/* Store PIN tries from a terminal before giving up. */
#define PIN_TRIES 3

static struct login_target targets[1 + MAX_CLI_TOKENS];
static size_t ntargets;

int
login_add_target(const char *module, const char *token)
{
	if (ntargets == sizeof(targets) / sizeof(targets[0]))
		return -1;
	targets[ntargets].module = module;
	targets[ntargets].token = token;
	ntargets++;
	return 0;
}

static void
target_name(struct agent *a, const struct login_target *t, char *buf,
    size_t len)
{
	if (t->module == NULL)
		snprintf(buf, len, "keystore '%s'", astore_label(a));
	else if (t->token != NULL)
		snprintf(buf, len, "token '%s'", t->token);
	else
		snprintf(buf, len, "the tokens of %s", t->module);
}

/*
 * Gets a PIN for t: from pin_fd, else interactively (the terminal, a
 * pinentry or SSH_ASKPASS). left: tries before the PIN blocks (-1 if
 * unknown); again: the previous try was a wrong PIN.
 */
static int
get_pin(struct agent *a, const struct login_target *t, int pin_fd, int left,
    int again, uint8_t **pinp, size_t *lenp)
{
	struct readpass_prompt p;
	char name[PATH_MAX + 32];
	int r;

	/* A blocked store is said before anyone types a PIN for nothing. */
	if (t->module == NULL && !again && left == 0) {
		fprintf(stderr,
		    PROGNAME
		    ": the PIN of keystore '%s' is "
		    "blocked; unblock it with 'kmes-keytool unblock' (it asks "
		    "for the SO PIN)\n",
		    astore_label(a));
		return KMES_ERR_PIN_LOCKED;
	}
	if (pin_fd >= 0) {
		if ((r = readpass_fd(pin_fd, pinp, lenp)) != 0)
			fprintf(stderr,
			    PROGNAME ": cannot read the PIN from "
				     "descriptor %d: %s\n",
			    pin_fd, kmes_err(r));
		return r;
	}
	/* The prompt goes to the terminal or a dialog, never to stdout. */
	target_name(a, t, name, sizeof(name));
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.tries_left = left;
	p.error = again ? "Wrong PIN." : NULL;
	p.pinentry = a->opt.pinentry;
	if ((r = readpass_pin(&p, pinp, lenp)) != 0)
		fprintf(stderr, PROGNAME ": cannot read the PIN for %s: %s\n",
		    name,
		    r == KMES_ERR_SYSTEM     ? "no terminal, no usable "
					       "pinentry and no SSH_ASKPASS" :
			r == KMES_ERR_DENIED ? "cancelled" :
					       kmes_err(r));
	return r;
}

/* Tries left for t before asking, as far as we can know. */
static int
target_left(struct agent *a, const struct login_target *t)
{
	return t->module == NULL ? astore_tries_left(a) : -1;
}

static void
pin_failed(struct agent *a, const struct login_target *t, int r,
    unsigned int left, const char *msg)
{
	char name[PATH_MAX + 32];

	if (t->module != NULL) {
		target_name(a, t, name, sizeof(name));
		fprintf(stderr, PROGNAME ": cannot use %s: %s\n", name,
		    msg[0] != '\0' ? msg : kmes_err(r));
		return;
	}
	if (r == KMES_ERR_PIN_INCORRECT)
		fprintf(stderr,
		    PROGNAME ": wrong PIN for keystore '%s' "
			     "(%u %s left)\n",
		    astore_label(a), left, left == 1 ? "try" : "tries");
	else if (r == KMES_ERR_PIN_LOCKED)
		fprintf(stderr,
		    PROGNAME
		    ": the PIN of keystore '%s' is "
		    "blocked; unblock it with 'kmes-keytool unblock'\n",
		    astore_label(a));
	else if (r == KMES_ERR_INVALID_ARGUMENT)
		fprintf(stderr,
		    PROGNAME ": a keystore PIN has %d to %d "
			     "characters; that one was not tried\n",
		    KS_STORE_PIN_MIN, KS_STORE_PIN_MAX);
	else
		fprintf(stderr, PROGNAME ": cannot unlock keystore '%s': %s\n",
		    astore_label(a), kmes_err(r));
}

/* Logs in to t with pin, in the agent process. */
static int
login_target(struct agent *a, const struct login_target *t, const uint8_t *pin,
    size_t len, unsigned int *left, char *msg, size_t msglen)
{
	msg[0] = '\0';
	*left = 0;
	if (t->module == NULL)
		return astore_login(a, pin, len, left);
	return prov_add(a, t->module, t->token, pin, len, NULL, 0, 0, 1, msg,
	    msglen);
}

/* Terminal prompts may be retried for the store; a token PIN is tried
 * once, since an HSM may lock its user after very few failures. */
static unsigned int
target_tries(const struct login_target *t, int pin_fd)
{
	return (pin_fd < 0 && t->module == NULL) ? PIN_TRIES : 1;
}

/*
 * Foreground: log in here, up to PIN_TRIES times from a terminal.
 * Returns 0 or the last KMES_ERR_*.
 */
int
login_here(struct agent *a, int pin_fd)
{
	uint8_t *pin = NULL;
	size_t len, ti;
	unsigned int left = 0, i;
	char msg[PROV_ERR_MAX];
	int r = 0;

	for (ti = 0; ti < ntargets; ti++) {
		for (i = 0; i < target_tries(&targets[ti], pin_fd); i++) {
			if ((r = get_pin(a, &targets[ti], pin_fd,
				 i == 0 ? target_left(a, &targets[ti]) :
					  (int)left,
				 i > 0, &pin, &len)) != 0)
				return r;
			r = login_target(a, &targets[ti], pin, len, &left, msg,
			    sizeof(msg));
			kmes_secure_free(pin);
			pin = NULL;
			if (r == 0)
				break;
			pin_failed(a, &targets[ti], r, left, msg);
			if (r != KMES_ERR_PIN_INCORRECT)
				break;
		}
		if (r != 0)
			return r;
	}
	return 0;
}

/*
 * Daemon: the PINs are read here, in the process that has the terminal,
 * and handed to the agent child over a pipe; the child logs in (secrets
 * never exist in memory that is not locked and its own) and reports back.
 * Returns 0 when the child is logged in everywhere, else the last KMES_ERR_*.
 */
int
login_via_child(struct agent *a, int pin_fd, int to_child, int from_child)
{
	uint8_t *pin = NULL;
	size_t len, ti;
	uint32_t hdr, mlen;
	int32_t res[2] = { 0, -1 };
	char msg[PROV_ERR_MAX];
	unsigned int i;
	int r = 0;

	for (ti = 0; ti < ntargets; ti++) {
		for (i = 0; i < target_tries(&targets[ti], pin_fd); i++) {
			if ((r = get_pin(a, &targets[ti], pin_fd,
				 i == 0 ? target_left(a, &targets[ti]) : res[1],
				 i > 0, &pin, &len)) != 0)
				goto out;
			hdr = (uint32_t)len;
			if (kmes_write_all(to_child, &hdr, sizeof(hdr)) != 0 ||
			    kmes_write_all(to_child, pin, len) != 0 ||
			    kmes_read_all(from_child, res, sizeof(res)) != 0 ||
			    kmes_read_all(from_child, &mlen, sizeof(mlen)) !=
				0 ||
			    mlen >= sizeof(msg) ||
			    kmes_read_all(from_child, msg, mlen) != 0) {
				r = KMES_ERR_CONNECTION_CLOSED;
				fprintf(stderr,
				    PROGNAME ": the agent process "
					     "went away\n");
				goto out;
			}
			msg[mlen] = '\0';
			kmes_secure_free(pin);
			pin = NULL;
			if ((r = res[0]) == 0)
				break;
			pin_failed(a, &targets[ti], r, (unsigned int)res[1],
			    msg);
			if (r != KMES_ERR_PIN_INCORRECT)
				break;
		}
		if (r != 0)
			break;
	}
out:
	kmes_secure_free(pin);
	return r;
}

/* Child side of login_via_child. Returns 0 once logged in everywhere. */
int
login_from_parent(struct agent *a, int from_parent, int to_parent)
{
	uint8_t *pin;
	uint32_t len, mlen;
	unsigned int left;
	int32_t res[2] = { 0, -1 };
	char msg[PROV_ERR_MAX];
	size_t ti;
	int r;

	for (ti = 0; ti < ntargets; ti++) {
		do {
			if (kmes_read_all(from_parent, &len, sizeof(len)) !=
				0 ||
			    len > READPASS_MAX)
				return KMES_ERR_CONNECTION_CLOSED;
			if ((pin = kmes_secure_alloc(len == 0 ? 1 : len)) ==
			    NULL)
				return KMES_ERR_ALLOC;
			if (kmes_read_all(from_parent, pin, len) != 0) {
				kmes_secure_free(pin);
				return KMES_ERR_CONNECTION_CLOSED;
			}
			r = login_target(a, &targets[ti], pin, len, &left, msg,
			    sizeof(msg));
			kmes_secure_free(pin);
			res[0] = r;
			res[1] = (int32_t)left;
			mlen = (uint32_t)strlen(msg);
			if (kmes_write_all(to_parent, res, sizeof(res)) != 0 ||
			    kmes_write_all(to_parent, &mlen, sizeof(mlen)) !=
				0 ||
			    kmes_write_all(to_parent, msg, mlen) != 0)
				return KMES_ERR_CONNECTION_CLOSED;
		} while (r != 0);
	}
	return 0;
}
