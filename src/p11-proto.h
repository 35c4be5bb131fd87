/*
 * p11-proto.h: what kmes-agent and its PKCS#11 helper processes say to each
 * other over their socketpairs (src/ only).
 *
 * A helper is kmes-agent itself, re-executed with --pkcs11-helper, so that
 * a vendor module that hangs or crashes takes down only the helper. It gets
 * N channels as descriptors 3 .. 3+N-1; each is served by its own thread
 * with its own PKCS#11 session, and answers its requests in order. The
 * module itself comes open, as descriptor P11H_MODULE_FD, already checked
 * by the agent (module-check.h): the helper loads that descriptor, never
 * the path, which INIT carries for messages only.
 *
 * Every message is a u32 length and then:
 *   INIT   (channel 0, first): u8 P11H_INIT, string module, string token
 *          ("" for every token of the module), string PIN
 *     ->   u8 P11H_OK, string description, u32 n, n x (string blob,
 *          string comment)   |   u8 P11H_FAIL, u32 -KMES_ERR_*, string why
 *   SIGN:  u8 P11H_SIGN, u32 id, string key blob, string data, u32 flags
 *     ->   u8 P11H_OK, u32 id, string signature   |
 *          u8 P11H_FAIL, u32 id, u32 -KMES_ERR_*, string why
 */
#ifndef KMES_P11_PROTO_H
#define KMES_P11_PROTO_H

#define P11H_INIT 1
#define P11H_SIGN 2
#define P11H_OK 3
#define P11H_FAIL 4

/* First channel descriptor in the helper. */
#define P11H_FD_BASE 3
#define P11H_MAX_CHANNELS 64
/* The module file, open for reading, past the last channel. */
#define P11H_MODULE_FD (P11H_FD_BASE + P11H_MAX_CHANNELS)

/* Largest message either side accepts: a sign request's data plus room. */
#define P11H_MSG_MAX (512 * 1024)

/* The hidden first argument that makes kmes-agent a helper. */
#define P11H_ARG "--pkcs11-helper"

/* src/p11-helper.c: main() of a helper process. */
int p11helper_main(int argc, char **argv);

#endif /* KMES_P11_PROTO_H */
