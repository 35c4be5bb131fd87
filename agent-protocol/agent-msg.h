/*
 * agent-msg.h: SSH agent protocol message numbers, framing and the codec for
 * the parts of messages that need no cryptography (constraints, destination
 * constraints, session-bind, sign-request envelopes).
 *
 * References: draft-miller-ssh-agent, OpenSSH PROTOCOL.agent.
 */
#ifndef KMES_AGENT_MSG_H
#define KMES_AGENT_MSG_H

#include <stddef.h>
#include <stdint.h>

struct kbuf;

/* Hard cap on one message (length prefix excluded), as ssh-agent. */
#define AGENT_MSG_MAX (256 * 1024)

/* Client requests. */
#define SSH_AGENTC_REQUEST_RSA_IDENTITIES 1    /* SSH1, refused */
#define SSH_AGENTC_RSA_CHALLENGE 3	       /* SSH1, refused */
#define SSH_AGENTC_ADD_RSA_IDENTITY 7	       /* SSH1, refused */
#define SSH_AGENTC_REMOVE_RSA_IDENTITY 8       /* SSH1, refused */
#define SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES 9 /* legacy, ssh-add -D sends it */
#define SSH_AGENTC_REQUEST_IDENTITIES 11
#define SSH_AGENTC_SIGN_REQUEST 13
#define SSH_AGENTC_ADD_IDENTITY 17
#define SSH_AGENTC_REMOVE_IDENTITY 18
#define SSH_AGENTC_REMOVE_ALL_IDENTITIES 19
#define SSH_AGENTC_ADD_SMARTCARD_KEY 20
#define SSH_AGENTC_REMOVE_SMARTCARD_KEY 21
#define SSH_AGENTC_LOCK 22
#define SSH_AGENTC_UNLOCK 23
#define SSH_AGENTC_ADD_RSA_ID_CONSTRAINED 24 /* SSH1, refused */
#define SSH_AGENTC_ADD_ID_CONSTRAINED 25
#define SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED 26
#define SSH_AGENTC_EXTENSION 27

/* Agent replies. */
#define SSH_AGENT_FAILURE 5
#define SSH_AGENT_SUCCESS 6
#define SSH_AGENT_IDENTITIES_ANSWER 12
#define SSH_AGENT_SIGN_RESPONSE 14
#define SSH_AGENT_EXTENSION_FAILURE 28

/* Key constraints. */
#define SSH_AGENT_CONSTRAIN_LIFETIME 1
#define SSH_AGENT_CONSTRAIN_CONFIRM 2
#define SSH_AGENT_CONSTRAIN_MAXSIGN 3
#define SSH_AGENT_CONSTRAIN_EXTENSION 255

#define AGENT_EXT_SESSION_BIND "session-bind@openssh.com"
#define AGENT_EXT_QUERY "query"
#define AGENT_CONSTRAINT_RESTRICT_DEST "restrict-destination-v00@openssh.com"

/* Limits on what one key's constraints may carry (ssh-agent's bounds). */
#define AGENT_MAX_DEST_CONSTRAINTS 1024
#define AGENT_MAX_HOP_KEYS 1024
/* Session IDs remembered per connection (hops of forwarding). */
#define AGENT_MAX_SESSION_IDS 16
#define AGENT_MAX_SESSION_ID_LEN 128

/*
 * Looks at the front of in for one framed message. Returns 0 and sets
 * *msglen (body length, excluding the 4-byte prefix) when it is complete;
 * KMES_ERR_MESSAGE_INCOMPLETE to wait for more bytes; or
 * KMES_ERR_MESSAGE_TOO_LARGE (or INVALID_FORMAT for a zero length), after
 * which the peer must be dropped.
 */
int agent_msg_frame(const struct kbuf *in, size_t *msglen)
    __attribute__((warn_unused_result));

/* The same with another cap than AGENT_MSG_MAX (the PKCS#11 helpers'). */
int agent_msg_frame_max(const struct kbuf *in, size_t max, size_t *msglen)
    __attribute__((warn_unused_result));

/* Appends a framed message (u32 length + body). Returns 0 or KMES_ERR_*. */
int agent_msg_put_framed(struct kbuf *out, const struct kbuf *body);

/* The same with another cap than AGENT_MSG_MAX. */
int agent_msg_put_framed_max(struct kbuf *out, const struct kbuf *body,
    size_t max);

/*
 * Reads one framed message from a blocking fd into body (reset first),
 * judging the claimed length against max before reading it. Returns 0,
 * KMES_ERR_CONNECTION_CLOSED, KMES_ERR_TIMEOUT (SO_RCVTIMEO ran out),
 * KMES_ERR_MESSAGE_TOO_LARGE or KMES_ERR_INVALID_FORMAT for a bad length,
 * or another negative KMES_ERR_*.
 */
int agent_msg_read_framed(int fd, size_t max, struct kbuf *body)
    __attribute__((warn_unused_result));

/* Appends a framed one-byte message (SUCCESS, FAILURE). */
int agent_msg_put_code(struct kbuf *out, uint8_t code);
/* Appends a framed SIGN_RESPONSE carrying sig: the one place that builds
 * it. Returns 0 or a negative KMES_ERR_*. */
int agent_msg_put_sign_response(struct kbuf *out, const uint8_t *sig,
    size_t len);

/* One key specification of a destination hop. */
struct agent_keyspec {
	uint8_t *blob; /* public key blob (malloc'd) */
	size_t blob_len;
	int is_ca;
};

/* One side of a destination constraint. */
struct agent_hop {
	char *user;	/* NULL = any */
	char *hostname; /* NULL = any ("from" of the first hop) */
	struct agent_keyspec *keys;
	size_t nkeys;
};

struct agent_dest_constraint {
	struct agent_hop from;
	struct agent_hop to;
};

/* Everything that may be attached to an added key. */
struct agent_constraints {
	uint32_t lifetime; /* seconds, if lifetime_set */
	int lifetime_set;  /* a lifetime of 0 expires the key at once */
	int confirm;
	struct agent_dest_constraint *dest;
	size_t ndest;
};

/*
 * Parses the constraints that follow the comment of ADD_ID_CONSTRAINED up to
 * the end of b into *c (which is cleared first). Unknown, duplicate or
 * unenforceable constraints (maxsign, sk-provider, unknown extensions) are
 * refused with KMES_ERR_CONSTRAINT_UNSUPPORTED, malformed ones with
 * KMES_ERR_INVALID_FORMAT. On error *c is left empty.
 */
int agent_constraints_parse(struct kbuf *b, struct agent_constraints *c)
    __attribute__((warn_unused_result));

/* Appends constraints in wire form (the client side, for tests). */
int agent_constraints_put(struct kbuf *b, const struct agent_constraints *c);

/* Frees what *c holds and clears it; accepts an empty one. */
void agent_constraints_clear(struct agent_constraints *c);

/* Moves src into *dst (dst cleared first; src left empty). */
void agent_constraints_move(struct agent_constraints *dst,
    struct agent_constraints *src);

/* session-bind@openssh.com request contents, pointing into the message. */
struct agent_session_bind {
	const uint8_t *hostkey;
	size_t hostkey_len;
	const uint8_t *sid;
	size_t sid_len;
	const uint8_t *sig;
	size_t sig_len;
	int forwarding;
};

/* Parses a session-bind payload (after the name); rejects leftovers. */
int agent_session_bind_parse(struct kbuf *b, struct agent_session_bind *sb)
    __attribute__((warn_unused_result));

/* Fields of an SSH2_MSG_USERAUTH_REQUEST "publickey" being signed. */
struct agent_userauth {
	const uint8_t *sid;
	size_t sid_len;
	char *user;
	char *pkalg;		/* signature algorithm named in the request */
	const uint8_t *hostkey; /* publickey-hostbound-v00 only, else NULL */
	size_t hostkey_len;
	const uint8_t *key; /* the user key blob */
	size_t key_len;
};

/*
 * Parses data to be signed as a userauth "publickey" request (RFC 4252 7,
 * with OpenSSH's publickey-hostbound-v00@openssh.com form). Returns 0, or
 * KMES_ERR_INVALID_FORMAT if it is not one. Pointers refer into data.
 */
int agent_userauth_parse(const uint8_t *data, size_t len,
    struct agent_userauth *ua) __attribute__((warn_unused_result));

/* Frees what *ua holds. */
void agent_userauth_clear(struct agent_userauth *ua);

/* Returns a static name for a message type, for logs ("SIGN_REQUEST"). */
const char *agent_msg_name(uint8_t type);

#endif /* KMES_AGENT_MSG_H */
