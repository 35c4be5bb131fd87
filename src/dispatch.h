/*
 * dispatch.h: the agent protocol on top of the loops: one handler per
 * message type, and the hooks that give each connection a client.
 */
#ifndef KMES_DISPATCH_H
#define KMES_DISPATCH_H

struct agent;
struct loop_hooks;

/* Fills h with the agent protocol's hooks for a's loops. */
void dispatch_hooks(struct agent *a, struct loop_hooks *h);

#endif /* KMES_DISPATCH_H */
