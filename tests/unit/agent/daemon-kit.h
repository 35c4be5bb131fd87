/*
 * daemon-kit.h: the daemon's core driven by hand, for its unit tests. One
 * struct agent as main.c fills it, one event loop without a listener,
 * worker pools without threads (jobs run only when the kit pumps them) and
 * a fake clock the test moves. Clients are socketpairs adopted by the loop,
 * so every request goes through the real framing, dispatch and reply path.
 *
 * Everything a test runs lives in its scratch directory: HOME, XDG_* and
 * the askpass script point there, DISPLAY is unset.
 */
#ifndef KMES_DAEMON_KIT_H
#define KMES_DAEMON_KIT_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "loop.h"

struct kbuf;
struct ks_key;
struct agent_constraints;

/* The fake clock starts here (ms): far from 0, so nothing wraps. */
#define KIT_T0 1000000
/* The longest the kit waits (real ms) for a real child or a reply. */
#define KIT_BOUND_MS 5000

struct kit {
	struct agent agent;
	struct loop_hooks hooks;
	struct loop *loop;
	uint64_t now;	       /* what agent_now_ms() returns */
	char askpass[512];     /* the SSH_ASKPASS script's path */
	char askpass_pid[512]; /* where the script writes its pid */
};

/* A daemon test program's main: the log, the crypto, the provider table,
 * then the suite. Returns the exit status. */
int kit_main(const char *name, Suite *s);

/* Scratch directory, environment, agent, loop, pools, fake clock.
 * Asserts success. */
struct kit *kit_new(void);
/* Tears down in main.c's order (pools, loop, providers, store) and
 * removes the scratch directory. */
void kit_free(struct kit *k);

/* A new client: one end of a socketpair served by the loop; returns the
 * other end (blocking). */
int kit_connect(struct kit *k);
/* Sends body (type byte first) framed, as a client would. */
void kit_send(int fd, const struct kbuf *body);
/* Writes raw bytes to fd (half frames, bad lengths). */
void kit_send_raw(int fd, const void *p, size_t len);

/*
 * Runs loop rounds (and, if workers, the pools' queued jobs) until fd is
 * readable or KIT_BOUND_MS of real time has passed. Returns 1 if readable.
 */
int kit_pump(struct kit *k, int fd, int workers);
/*
 * Runs loop rounds and, if workers, queued jobs, until a round does
 * nothing (bounded), then returns 1 if fd has nothing to read: the agent
 * has not answered.
 */
int kit_quiet(struct kit *k, int fd, int workers);
/* Runs rounds (and, if workers, queued jobs) until nothing happens. */
void kit_settle(struct kit *k, int workers);
/* Runs rounds until done(arg) returns non-zero or the bound; returns it. */
int kit_pump_until(struct kit *k, int (*done)(void *), void *arg, int workers);
/* Moves the fake clock forward by ms and runs the loop's due timers. */
void kit_advance(struct kit *k, uint64_t ms);

/*
 * Reads one reply: its type in *type and the rest in body (if not NULL).
 * Returns 0, or KMES_ERR_CONNECTION_CLOSED when the agent hung up.
 */
int kit_reply(int fd, uint8_t *type, struct kbuf *body);
/* Sends body, pumps (workers too) and returns the reply's type; asserts a
 * reply came. body, if not NULL, gets the rest of the reply. */
uint8_t kit_call(struct kit *k, int fd, const struct kbuf *req,
    struct kbuf *reply);

/* ---------------------------------------------------- request builders */

/* A new buffer starting with the type byte. */
struct kbuf *kit_msg(uint8_t type);
/* ADD_IDENTITY (or ADD_ID_CONSTRAINED if cons is not NULL) of key. */
struct kbuf *kit_add_msg(const struct ks_key *key, const char *comment,
    const struct agent_constraints *cons);
/* SIGN_REQUEST for key over data. */
struct kbuf *kit_sign_msg(const struct ks_key *key, const uint8_t *data,
    size_t dlen, uint32_t flags);
/* LOCK or UNLOCK with password pw. */
struct kbuf *kit_lock_msg(int lock, const char *pw);
/* session-bind@openssh.com: hostkey signs sid, as sshd's key would. */
struct kbuf *kit_bind_msg(const struct ks_key *hostkey, const uint8_t *sid,
    size_t sid_len, int forwarding);

/* Adds key over fd; asserts SUCCESS. */
void kit_add(struct kit *k, int fd, const struct ks_key *key,
    const char *comment, const struct agent_constraints *cons);
/* Asks for a signature of data by key; returns the reply type, and if it
 * is SIGN_RESPONSE asserts that the signature verifies under key. */
uint8_t kit_sign_check(struct kit *k, int fd, const struct ks_key *key,
    const uint8_t *data, size_t dlen, uint32_t flags);
/* Returns how many identities fd is shown (asserts an answer). */
size_t kit_count_ids(struct kit *k, int fd);
/* Checks that the signature reply in body (after the type) verifies. */
void kit_check_sig(struct kbuf *body, const struct ks_key *key,
    const uint8_t *data, size_t dlen);

/* A fresh key (Ed25519 unless told), generated in process. */
struct ks_key *kit_key(int type);

/*
 * Writes the SSH_ASKPASS script: it records its pid in k->askpass_pid,
 * then runs body (shell; e.g. "exit 0", "echo 123456", "exec sleep 60").
 */
void kit_askpass(struct kit *k, const char *body);
/* Waits (pumping the loop) until the askpass script has written its pid;
 * returns it, or -1 at the bound. */
long kit_askpass_wait(struct kit *k);
/* Returns 1 if no process pid exists (it was killed and reaped). */
int kit_pid_gone(long pid);

#endif /* KMES_DAEMON_KIT_H */
