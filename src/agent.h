/*
 * agent.h: state shared by the kmes-agent daemon's modules (src/ only).
 */
#ifndef KMES_AGENT_H
#define KMES_AGENT_H

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-msg.h"
#include "crypto.h"

struct agent_reader;
struct agent_store;
struct kbuf;
struct ks_table;
struct loop;
struct ratelimit;

/* Per-connection output held back before we stop reading its requests. */
#define CONN_OUT_HIGH (256 * 1024)

/* Options fixed at start-up. */
struct agent_options {
	uint32_t lock_idle;		/* --lock-idle, seconds; 0 = never */
	int debug;			/* -d */
	int foreground;			/* -D or -d */
	enum ks_fp_hash fp_hash;	/* -E */
	uint32_t default_lifetime;	/* -t, seconds */
	char *allowed_providers;	/* -P */
	uint32_t pkcs11_timeout_ms;	/* --pkcs11-timeout; 0 = default */
	const char *pinentry;		/* --pinentry; NULL = search PATH */
	int allow_remote_pkcs11;	/* -O allow-remote-pkcs11 */
	uid_t uid;			/* served besides root */
	unsigned int nloops;
};

/* Process-wide daemon state. */
struct agent {
	struct agent_options opt;
	struct ks_table *table;
	struct agent_store *store;	/* NULL when no key store is served */
	int listen_fd;
	struct loop **loops;
	unsigned int nloops;
	atomic_int quit;

	/* Last signature or store unlock (ms), for --lock-idle. */
	_Atomic uint64_t last_use_ms;

	/* Lock state, guarded by lock_mtx. */
	pthread_mutex_t lock_mtx;
	int locked;
	uint8_t *lock_secret;	/* salt || hash, in secure memory */

	/* Every client guess at a lock password or PIN (guess.c). */
	struct ratelimit *guesses;
};

/* A session binding recorded by session-bind@openssh.com. */
struct conn_bind {
	struct ks_key *hostkey;
	uint8_t sid[AGENT_MAX_SESSION_ID_LEN];
	size_t sid_len;
	int forwarded;
};

enum conn_wait {
	CONN_READY = 0,
	CONN_WAIT_CONFIRM,	/* askpass child running */
	CONN_WAIT_DELAY,	/* failed-unlock delay */
	CONN_WAIT_OFFLOAD,	/* slow job on a helper thread */
};

struct askpass_job;
struct token_req;

/* Every object whose address is an epoll cookie starts with its kind. */
enum watch_kind {
	WATCH_DEAD = 0,
	WATCH_LISTEN,
	WATCH_EVENT,
	WATCH_SIGNAL,
	WATCH_CONN,
	WATCH_FD,
};

struct conn {
	enum watch_kind kind;	/* WATCH_CONN; must stay first */
	int fd;
	struct loop *loop;
	struct agent_reader *in;	/* requests, secret ones in secure memory */
	struct kbuf *out;
	uid_t peer_uid;
	pid_t peer_pid;
	uint32_t events;	/* epoll interest currently registered */
	int closing;		/* drop once out is flushed (or now) */
	enum conn_wait wait;
	uint64_t wake_ms;	/* CONN_WAIT_DELAY deadline */
	struct kbuf *pending_reply; /* held back until the wait ends */
	struct askpass_job *confirm;
	/* The sign request waiting for confirmation. */
	struct ks_identity *pending_id;
	uint8_t *pending_data;
	size_t pending_dlen;
	uint32_t pending_flags;
	struct token_req *treq;	/* a signature on a PKCS#11 token */
	struct conn_bind binds[AGENT_MAX_SESSION_IDS];
	size_t nbinds;
	struct conn *next, *prev;
};

/* time.c / util.c */
uint64_t agent_now_ms(void);
uint64_t agent_now_us(void);
/* Parses an sshd_config-style time ("90", "1h30m"); -1 on error. */
long agent_convtime(const char *s);

/* dispatch.c: handles one complete request; reply appended to c->out. */
void dispatch_message(struct agent *a, struct conn *c, struct kbuf *msg);
/* Frees the calling loop thread's scratch buffers. */
void dispatch_thread_done(void);
/* Finishes a sign request that waited for confirmation. */
void dispatch_confirm_done(struct agent *a, struct conn *c, int allowed,
    const uint8_t *answer, size_t len);

/* dispatch.c helpers shared with store-unlock.c. */
/* Appends a bare reply (SUCCESS/FAILURE) to c; marks c closing if full. */
void dispatch_reply_code(struct conn *c, uint8_t code);
/* The key's fingerprint in the -E hash, or "(no fingerprint)". */
void dispatch_fingerprint(const struct agent *a, const struct ks_key *k,
    char *fp, size_t len);
/* Forgets c's sign request that waited (wipes its data). */
void dispatch_drop_pending(struct conn *c);

/* store-unlock.c */
/* Logs in to the store with pin on a helper thread, then replies to c (or
 * finishes its waiting sign request). Returns 0 or a negative KMES_ERR_*. */
int unlock_store_login(struct agent *a, struct conn *c, const uint8_t *pin,
    size_t len, int for_sign);
/* Asks for the store PIN for c's waiting sign request (pinentry, else
 * SSH_ASKPASS); without a way to ask, refuses the request. */
void unlock_ask_store_pin(struct agent *a, struct conn *c);

/* policy.c */
int policy_session_bind(struct conn *c, struct kbuf *m);
/* Returns 1 if c has a session binding, i.e. it may have come over ssh -A
 * from another host: such a peer may not load code or try PINs. */
int policy_conn_remote(const struct conn *c);
int policy_identity_permitted(const struct ks_identity *id,
    const struct conn *c, const char *user, const char **fwd_host,
    const char **dest_host);
void policy_conn_clear(struct conn *c);
/* Returns 1 if a and b are the same key (certificates: same cert). */
int policy_same_key(const struct ks_key *a, const struct ks_key *b);
/* Returns 1 if a userauth signature algorithm name fits key k. */
int policy_pkalg_matches(const char *pkalg, const struct ks_key *k);

/* guess.c: the global limit on guessing secrets (ratelimit.c). */
/* Returns the daemon's limiter, or NULL when out of memory. */
struct ratelimit *guess_limiter_new(void);
/* Returns 1 (after a log and audit line) if c may have come over ssh -A and
 * so may not log in to the store or a token with a PIN it sends; else 0. */
int guess_refuse_remote(struct conn *c, const char *target);
/* Admits a guess at target ("agent", "keystore", "token") from c. Returns 0
 * (then call guess_done once) or KMES_ERR_DENIED, logged and audited. */
int guess_admit(struct agent *a, struct conn *c, const char *target)
    __attribute__((warn_unused_result));
/* Ends an admitted guess with the check's result (0 or KMES_ERR_*).
 * Returns the ms until the next guess may be admitted (0 if none wait). */
uint64_t guess_done(struct agent *a, int r);
/* Queues FAILURE for c to go out after ms (c waits meanwhile). Returns 1
 * if it did, 0 if ms is 0 or c is closing: then reply now. */
int guess_hold_failure(struct conn *c, uint64_t ms);

/* agent-store.c: the embedded key store's keys as identities. */
/* Opens the store at path and lists its public keys. Returns 0 or KMES_ERR_*. */
int astore_open(struct agent *a, const char *path);
void astore_close(struct agent *a);
const char *astore_label(struct agent *a);
/* PIN tries left before the store blocks; -1 if unknown right now. */
int astore_tries_left(struct agent *a);
/* Returns 1 if a store is served and its private keys are not loaded. */
int astore_locked(struct agent *a);
/* Logs in with the PIN and loads the private keys. Returns 0 or KMES_ERR_*. */
int astore_login(struct agent *a, const uint8_t *pin, size_t len,
    unsigned int *tries_left);
/* Wipes the store's private keys (keeps the public ones listed). */
void astore_lock(struct agent *a);
/* Re-reads the store file if it changed on disk. */
void astore_sync(struct agent *a);

/* audit.c: --audit-log (JSON lines; never a secret). */
/* Opens (creating 0600) the audit log. Returns 0, or -1 with errno set. */
int audit_open(const char *path);
int audit_enabled(void);
void audit_close(void);
/* A sign request's outcome; id may be NULL (unknown key: blob is used). */
void audit_sign(const struct agent *a, const struct conn *c,
    const struct ks_identity *id, const uint8_t *blob, size_t blob_len,
    const char *result, const char *reason);
/* An unlock attempt on target "agent" or "keystore". */
void audit_unlock(const struct conn *c, const char *target,
    const char *result);
/* A PKCS#11 provider add or remove (op), its outcome and why. */
void audit_provider(const struct conn *c, const char *op, const char *module,
    const char *result, const char *reason);

/* askpass.c */
enum askpass_kind {
	ASKPASS_CONFIRM,	/* yes/no: empty or "yes" allows */
	ASKPASS_SECRET,		/* a PIN: any non-empty line */
};
/* Called on c's loop with the outcome; answer is wiped after it returns. */
typedef void (*askpass_done_fn)(struct agent *a, struct conn *c, int ok,
    const uint8_t *answer, size_t len);
/* Starts askpass for c (which then waits). Returns 0 or KMES_ERR_*. */
int askpass_start(struct conn *c, enum askpass_kind kind, const char *prompt,
    askpass_done_fn done);
/* Kills a running askpass of c, if any. */
void askpass_cancel(struct conn *c);

/* agent-token.c: keys on PKCS#11 tokens, through helper processes. */
#define TOKEN_ERR_MAX 256
/* Sets up the provider table; call once before anything else here. */
void token_init(void);
/*
 * Starts a helper for module (token: a label or serial, NULL for all of
 * its tokens), logs in with pin and serves the keys, each with the
 * constraints in cons (wire form) and expiry. Blocks: call it before the
 * loops run or on a helper thread. Returns 0 or a negative KMES_ERR_*,
 * with a message for the user in err.
 */
int token_add_provider(struct agent *a, const char *module, const char *token,
    const uint8_t *pin, size_t pinlen, const uint8_t *cons, size_t cons_len,
    uint64_t expiry_ms, int from_cli, char *err, size_t errlen);
/* Asks id's token to sign; c waits for the answer or the deadline. */
void token_sign(struct agent *a, struct conn *c, struct ks_identity *id,
    const uint8_t *data, size_t dlen, uint32_t flags);
/* c's deadline passed while its token signature was outstanding. */
void token_conn_timeout(struct conn *c);
/* c is going away: forget its outstanding token request. */
void token_conn_gone(struct conn *c);
void token_process_add(struct agent *a, struct conn *c, struct kbuf *m,
    int constrained);
void token_process_remove(struct agent *a, struct conn *c, struct kbuf *m);
/* Stops every helper. */
void token_shutdown(struct agent *a);

/* loop.c */
unsigned int loop_index(const struct loop *l);
int loops_start(struct agent *a);
void loops_join(struct agent *a);
void loop_conn_update(struct conn *c);
void loop_conn_wait_until(struct conn *c, uint64_t when_ms);
void loop_conn_resume(struct conn *c);
int loop_watch_fd(struct loop *l, int fd, void (*cb)(struct loop *, int,
    uint32_t, void *), void *arg);
void loop_unwatch_fd(struct loop *l, int fd);
struct agent *loop_agent(struct loop *l);
/*
 * Runs fn(arg) on a pool thread for jobs that wait on other processes
 * (dialogs, PKCS#11), then done(c, arg) on c's loop. Returns 0, or a
 * negative KMES_ERR_* (KMES_ERR_NO_BUFFER_SPACE: queue full) and then
 * neither runs: the caller still owns arg and answers FAILURE.
 */
int loop_offload(struct conn *c, void (*fn)(void *),
    void (*done)(struct conn *, void *), void *arg);
/* As loop_offload, on the KDF pool (one thread per core, at most 4). */
int loop_offload_kdf(struct conn *c, void (*fn)(void *),
    void (*done)(struct conn *, void *), void *arg);
/* Brackets every scrypt run off the loops: bounds the KDF memory. */
void loop_kdf_enter(void);
void loop_kdf_leave(void);
/* Wakes loop 0 so it recomputes the next key expiry. */
void loop_kick_expiry(struct agent *a);

#endif /* KMES_AGENT_H */
