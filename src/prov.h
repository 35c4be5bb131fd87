/*
 * prov.h: the agent's PKCS#11 providers: each a module (and a token of it,
 * or all of them) run in its own helper process, whose keys the agent
 * serves and signs with over per-loop channels.
 */
#ifndef KMES_PROV_H
#define KMES_PROV_H

#include <stddef.h>
#include <stdint.h>

struct agent;
struct client;
struct kbuf;
struct request;

#define PROV_ERR_MAX 256

/* Sets up the provider table; call once before anything else here. */
void prov_init(void);
/*
 * Starts a helper for module (token: a label or serial, NULL for all of
 * its tokens), logs in with pin and serves the keys, each with the
 * constraints in cons (wire form) and expiry. Blocks: call it before the
 * loops run or on a worker thread. Returns 0 or a negative KMES_ERR_*,
 * with a message for the user in err.
 */
int prov_add(struct agent *a, const char *module, const char *token,
    const uint8_t *pin, size_t pinlen, const uint8_t *cons, size_t cons_len,
    uint64_t expiry_ms, int from_cli, char *err, size_t errlen);
/* Stops and forgets every provider of module canon (a realpath); blocks.
 * Returns how many there were. */
size_t prov_remove(struct agent *a, const char *canon);
/* Signs r's data with r's token key (its provider's helper); ends r with
 * the signature, or FAILURE at the PKCS#11 deadline. */
void prov_sign(struct request *r);
/* Stops every helper. */
void prov_shutdown(struct agent *a);
/* Tests only: the kmes-agent binary to run as the helper (a test program
 * is not one); NULL: this process's own executable. */
void prov_set_helper_exe(const char *path);

/* SSH_AGENTC_ADD_SMARTCARD_KEY(_CONSTRAINED) and REMOVE_SMARTCARD_KEY. */
void smartcard_add(struct client *cl, struct kbuf *m, int constrained);
void smartcard_remove(struct client *cl, struct kbuf *m);

#endif /* KMES_PROV_H */
