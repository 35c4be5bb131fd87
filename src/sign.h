/*
 * sign.h: SSH_AGENTC_SIGN_REQUEST, from the key lookup through the
 * destination checks, a store unlock and a confirmation to the signature
 * (in process, or on a token).
 */
#ifndef KMES_SIGN_H
#define KMES_SIGN_H

struct client;
struct kbuf;

void sign_request(struct client *cl, struct kbuf *m);
/* Frees the calling loop thread's scratch buffer. */
void sign_thread_done(void);

#endif /* KMES_SIGN_H */
