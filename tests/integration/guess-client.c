/*
 * guess-client.c: raw agent-protocol attacks for test-guess-limit.sh and
 * test-kdf-load.sh, the way a hostile peer would send them:
 *
 *   guess-client flood SOCK SECONDS
 *	A new connection per wrong UNLOCK guess, as fast as the agent
 *	accepts, never reading a reply (up to 256 left open, then the
 *	oldest is closed). Prints "sent N ms M".
 *   guess-client card-flood SOCK SECONDS MODULE
 *	The same with ADD_SMARTCARD_KEY for MODULE and a wrong token PIN.
 *   guess-client fwd-unlock SOCK SECRET
 *	One connection that first binds to a made-up ssh session with
 *	is_forwarding = 1 (what ssh -A's far end looks like), then sends
 *	UNLOCK SECRET. Prints the reply (SUCCESS or FAILURE); exits 0 on
 *	SUCCESS, 1 on FAILURE, 2 on anything else.
 *   guess-client fwd-lock-unlock SOCK SECRET
 *	The same bound connection sends LOCK SECRET, then UNLOCK SECRET
 *	(ssh-add -x, -X on the far host). Prints both replies; exits 0 if
 *	both were SUCCESS, else 1 (2 on anything else).
 *   guess-client lock-flood SOCK N PASSWORD
 *	N connections at once, each sending LOCK PASSWORD (one of them
 *	locks the agent, the rest are refused); then reads every reply
 *	(60 s at most). Prints "success S failure F lost L ms M".
 *
 * The secret is read from the environment (GUESS_SECRET) when SECRET is
 * "-", so it does not show in ps.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent-msg.h"
#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"

#define MAX_OPEN 256
#define REPLY_MS 60000

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends body as one frame. Returns 0 or -1. */
static int
send_frame(int fd, const struct kbuf *body)
{
	struct kbuf *f = NULL;
	const uint8_t *p;
	size_t left;
	ssize_t n;
	int r = -1;

	if ((f = kbuf_new()) == NULL || agent_msg_put_framed(f, body) != 0)
		goto out;
	p = kbuf_ptr(f);
	for (left = kbuf_len(f); left > 0; left -= (size_t)n, p += n) {
		if ((n = send(fd, p, left, MSG_NOSIGNAL)) <= 0) {
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			goto out;
		}
	}
	r = 0;
out:
	kbuf_free(f);
	return r;
}

/* Reads one reply and returns its type, or -1 (closed, timeout, junk). */
static int
recv_type(int fd, int timeout_ms)
{
	uint8_t hdr[5], skip[256];
	size_t got = 0;
	uint32_t len;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	while (got < sizeof(hdr)) {
		if (poll(&pfd, 1, timeout_ms) != 1)
			return -1;
		if ((n = recv(fd, hdr + got, sizeof(hdr) - got, 0)) <= 0)
			return -1;
		got += (size_t)n;
	}
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > 256)
		return -1;
	for (len--; len > 0; len -= (uint32_t)n) {
		if (poll(&pfd, 1, timeout_ms) != 1 ||
		    (n = recv(fd, skip, len, 0)) <= 0)
			return -1;
	}
	return hdr[4];
}

static int
put_unlock(struct kbuf *b, int type, const char *secret)
{
	kbuf_reset(b);
	return kbuf_put_u8(b, (uint8_t)type) != 0 ||
		kbuf_put_cstring(b, secret) != 0 ?
	    -1 :
	    0;
}

/* One wrong guess: UNLOCK, or ADD_SMARTCARD_KEY for module. */
static int
put_guess(struct kbuf *b, const char *module, unsigned long n)
{
	char pw[64];

	snprintf(pw, sizeof(pw), "%s%lu", module == NULL ? "wrong-guess-" : "9",
	    n);
	if (module == NULL)
		return put_unlock(b, SSH_AGENTC_UNLOCK, pw);
	kbuf_reset(b);
	return kbuf_put_u8(b, SSH_AGENTC_ADD_SMARTCARD_KEY) != 0 ||
		kbuf_put_cstring(b, module) != 0 ||
		kbuf_put_cstring(b, pw) != 0 ?
	    -1 :
	    0;
}

static int
cmd_flood(const char *sock, long seconds, const char *module)
{
	int fds[MAX_OPEN], fd;
	size_t i, next = 0;
	unsigned long sent = 0;
	uint64_t start = now_ms(), end = start + (uint64_t)seconds * 1000;
	struct kbuf *b;

	for (i = 0; i < MAX_OPEN; i++)
		fds[i] = -1;
	if ((b = kbuf_new()) == NULL)
		return 2;
	while (now_ms() < end) {
		if ((fd = connect_to(sock)) == -1)
			continue;
		if (put_guess(b, module, sent) == 0 && send_frame(fd, b) == 0)
			sent++;
		/* Never read: the reply may go wherever it likes. */
		if (fds[next] != -1)
			close(fds[next]);
		fds[next] = fd;
		next = (next + 1) % MAX_OPEN;
	}
	printf("sent %lu ms %llu\n", sent,
	    (unsigned long long)(now_ms() - start));
	for (i = 0; i < MAX_OPEN; i++)
		if (fds[i] != -1)
			close(fds[i]);
	kbuf_free(b);
	return 0;
}

/* session-bind@openssh.com for a fresh host key, is_forwarding = 1. */
static int
put_forwarded_bind(struct kbuf *b)
{
	struct ks_key *k = NULL;
	struct kbuf *sig = NULL;
	uint8_t sid[32];
	const uint8_t *blob;
	size_t blob_len;
	int r = -1;

	if (ks_key_generate(KS_KEY_ED25519, 0, &k) != 0 ||
	    ks_random(sid, sizeof(sid)) != 0 || (sig = kbuf_new()) == NULL ||
	    ks_key_sign(k, sid, sizeof(sid), 0, sig) != 0)
		goto out;
	blob = ks_key_blob(k, &blob_len);
	kbuf_reset(b);
	if (kbuf_put_u8(b, SSH_AGENTC_EXTENSION) != 0 ||
	    kbuf_put_cstring(b, AGENT_EXT_SESSION_BIND) != 0 ||
	    kbuf_put_string(b, blob, blob_len) != 0 ||
	    kbuf_put_string(b, sid, sizeof(sid)) != 0 ||
	    kbuf_put_stringb(b, sig) != 0 || kbuf_put_u8(b, 1) != 0)
		goto out;
	r = 0;
out:
	kbuf_free(sig);
	ks_key_free(k);
	return r;
}

static const char *
reply_name(int t)
{
	return t == SSH_AGENT_SUCCESS ? "SUCCESS" :
	    t == SSH_AGENT_FAILURE    ? "FAILURE" :
					"no-reply";
}

static int
cmd_fwd_unlock(const char *sock, const char *secret, int lock_first)
{
	struct kbuf *b = NULL;
	int fd = -1, t, lt = SSH_AGENT_SUCCESS, rc = 2;

	if ((b = kbuf_new()) == NULL || (fd = connect_to(sock)) == -1)
		goto out;
	if (put_forwarded_bind(b) != 0 || send_frame(fd, b) != 0 ||
	    (t = recv_type(fd, REPLY_MS)) != SSH_AGENT_SUCCESS) {
		fprintf(stderr, "session-bind was not accepted\n");
		goto out;
	}
	if (lock_first) {
		if (put_unlock(b, SSH_AGENTC_LOCK, secret) != 0 ||
		    send_frame(fd, b) != 0)
			goto out;
		lt = recv_type(fd, REPLY_MS);
		printf("LOCK %s ", reply_name(lt));
	}
	if (put_unlock(b, SSH_AGENTC_UNLOCK, secret) != 0 ||
	    send_frame(fd, b) != 0)
		goto out;
	t = recv_type(fd, REPLY_MS);
	printf("%s%s\n", lock_first ? "UNLOCK " : "", reply_name(t));
	if (t == SSH_AGENT_SUCCESS || t == SSH_AGENT_FAILURE)
		rc = t == SSH_AGENT_SUCCESS && lt == SSH_AGENT_SUCCESS ? 0 : 1;
out:
	if (fd != -1)
		close(fd);
	kbuf_free(b);
	return rc;
}

static int
cmd_lock_flood(const char *sock, long n, const char *pw)
{
	int *fds = NULL, t;
	long i, ok = 0, bad = 0, lost = 0;
	uint64_t start = now_ms(), deadline;
	struct kbuf *b = NULL;

	if (n <= 0 || (fds = calloc((size_t)n, sizeof(*fds))) == NULL ||
	    (b = kbuf_new()) == NULL)
		return 2;
	/* All requests first, so the agent holds every one at once. */
	for (i = 0; i < n; i++) {
		if ((fds[i] = connect_to(sock)) == -1 ||
		    put_unlock(b, SSH_AGENTC_LOCK, pw) != 0 ||
		    send_frame(fds[i], b) != 0) {
			fprintf(stderr, "connection %ld failed: %s\n", i,
			    strerror(errno));
			if (fds[i] != -1)
				close(fds[i]);
			fds[i] = -1;
		}
	}
	deadline = now_ms() + REPLY_MS;
	for (i = 0; i < n; i++) {
		uint64_t now = now_ms();

		t = fds[i] == -1 || now >= deadline ?
		    -1 :
		    recv_type(fds[i], (int)(deadline - now));
		if (t == SSH_AGENT_SUCCESS)
			ok++;
		else if (t == SSH_AGENT_FAILURE)
			bad++;
		else
			lost++;
		if (fds[i] != -1)
			close(fds[i]);
	}
	printf("success %ld failure %ld lost %ld ms %llu\n", ok, bad, lost,
	    (unsigned long long)(now_ms() - start));
	free(fds);
	kbuf_free(b);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *secret;
	int r;

	signal(SIGPIPE, SIG_IGN);
	/* No secure heap as an unprivileged user is fine for a test key. */
	if ((r = ks_crypto_init(0)) != 0 && r != KMES_ERR_SYSTEM)
		return 2;
	if (argc == 4 && strcmp(argv[1], "flood") == 0)
		return cmd_flood(argv[2], strtol(argv[3], NULL, 10), NULL);
	if (argc == 5 && strcmp(argv[1], "card-flood") == 0)
		return cmd_flood(argv[2], strtol(argv[3], NULL, 10), argv[4]);
	if (argc == 4 &&
	    (strcmp(argv[1], "fwd-unlock") == 0 ||
		strcmp(argv[1], "fwd-lock-unlock") == 0)) {
		secret = argv[3];
		if (strcmp(secret, "-") == 0 &&
		    (secret = getenv("GUESS_SECRET")) == NULL)
			return 2;
		return cmd_fwd_unlock(argv[2], secret,
		    strcmp(argv[1], "fwd-lock-unlock") == 0);
	}
	if (argc == 5 && strcmp(argv[1], "lock-flood") == 0)
		return cmd_lock_flood(argv[2], strtol(argv[3], NULL, 10),
		    argv[4]);
	fprintf(stderr,
	    "usage: guess-client flood SOCK SECONDS | "
	    "card-flood SOCK SECONDS MODULE |\n\tfwd-unlock SOCK SECRET | "
	    "fwd-lock-unlock SOCK SECRET | lock-flood SOCK N PASSWORD\n");
	return 2;
}
