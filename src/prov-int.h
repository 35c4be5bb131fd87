/*
 * prov-int.h: what prov.c (the providers and their helper processes) and
 * prov-sign.c (signing over the helpers' channels on the loops) share.
 * Private to those two files.
 */
#ifndef KMES_PROV_INT_H
#define KMES_PROV_INT_H

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct agent;

#define MAX_PROVIDERS 16
#define MAX_LOOPS 8
#define CHAN_PER_LOOP 4

struct provider {
	pthread_mutex_t mtx; /* guards everything but the atomics */
	int used;
	/* Atomic: a failed add sets it under mtx alone, while adds scan
	 * every slot under provs_mtx alone. */
	atomic_int removed;
	int from_cli;
	char *module; /* realpath */
	char *token;  /* label or serial; NULL for all tokens */
	char *desc;   /* "token 'x' (serial y)" from the helper */
	uint8_t *pin; /* secure memory */
	size_t pinlen;
	uint8_t *cons; /* constraints in wire form, for each key */
	size_t cons_len;
	uint64_t expiry_ms;
	pid_t pid;
	int fds[MAX_LOOPS * CHAN_PER_LOOP]; /* not yet taken by a loop */
	atomic_uint gen;
	atomic_int alive;
};

/* A loop's end of one channel; only that loop's thread touches it. */
extern struct provider provs[MAX_PROVIDERS];
extern pthread_mutex_t provs_mtx;

/* The PKCS#11 deadline: --pkcs11-timeout, else 30 s. */
uint64_t prov_timeout_ms(const struct agent *a);
/*
 * Starts p's helper, logs in and (re)publishes the token's keys. Blocks
 * (up to the PKCS#11 timeout): call it before the loops run or from a
 * worker. Caller holds p->mtx. Returns 0 or a negative KMES_ERR_*, with a
 * message in err.
 */
int prov_helper_start(struct agent *a, struct provider *p, size_t source,
    char *err, size_t errlen);
/* Marks generation gen of p dead, killing the helper if it is the
 * current one (it hung, or it broke the protocol). Never blocks. */
void prov_kill(struct provider *p, unsigned int gen, const char *why);
/* Sets up the loop side's channel table (prov-sign.c). */
void prov_sign_init(void);

#endif /* KMES_PROV_INT_H */
