/*
 * agent.h: the daemon's process-wide state: options fixed at start, the
 * key table, the store, the lock, the pools. Each module's functions are
 * declared in its own header; this one declares none.
 */
#ifndef KMES_AGENT_H
#define KMES_AGENT_H

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "crypto.h"

struct agent_store;
struct ks_table;
struct loopset;
struct ratelimit;
struct workers;
struct workers_gate;

/* Options fixed at start-up. */
struct agent_options {
	uint32_t lock_idle;	    /* --lock-idle, seconds; 0 = never */
	int debug;		    /* -d */
	int foreground;		    /* -D or -d */
	enum ks_fp_hash fp_hash;    /* -E */
	uint32_t default_lifetime;  /* -t, seconds */
	char *allowed_providers;    /* -P */
	uint32_t pkcs11_timeout_ms; /* --pkcs11-timeout; 0 = default */
	const char *pinentry;	    /* --pinentry; NULL = search PATH */
	int allow_remote_pkcs11;    /* -O allow-remote-pkcs11 */
	uid_t uid;		    /* served besides root */
	unsigned int nloops;
};

struct agent {
	struct agent_options opt;
	struct ks_table *table;
	struct agent_store *store; /* NULL when no key store is served */
	int listen_fd;
	struct loopset *loops;
	atomic_int quit;

	/*
	 * Slow work runs on two fixed pools, never on a loop nor on a thread
	 * of its own: KDFs (lock password, store PIN) on kdf_pool, jobs that
	 * mostly wait on another process (pinentry dialogs, PKCS#11 helpers)
	 * on wait_pool, so a few open dialogs cannot starve ssh-add -x/-X.
	 * Every scrypt also passes kdf_gate: the KDF memory is bounded
	 * whatever the number of clients.
	 */
	struct workers *kdf_pool;
	struct workers *wait_pool;
	struct workers_gate *kdf_gate;

	/* Last signature or store unlock (ms), for --lock-idle. */
	_Atomic uint64_t last_use_ms;

	/* Lock state (ssh-add -x), guarded by lock_mtx. */
	pthread_mutex_t lock_mtx;
	int locked;
	uint8_t *lock_secret; /* salt || hash, in secure memory */
	unsigned long lock_epoch;

	/* Every client guess at a lock password or PIN (guess.c). */
	struct ratelimit *guesses;
};

#endif /* KMES_AGENT_H */
