/*
 * kmes-err.h: the one set of error codes every layer returns.
 *
 * Functions return 0 on success or one of these negative codes; kmes_err()
 * turns a code into a short human sentence for logs and CLI messages.
 */
#ifndef KMES_ERR_H
#define KMES_ERR_H

enum {
	KMES_OK = 0,
	KMES_ERR_INTERNAL = -1,
	KMES_ERR_ALLOC = -2,
	KMES_ERR_MESSAGE_INCOMPLETE = -3,
	KMES_ERR_INVALID_FORMAT = -4,
	KMES_ERR_NO_BUFFER_SPACE = -5,
	KMES_ERR_STRING_TOO_LARGE = -6,
	KMES_ERR_BIGNUM_INVALID = -7,
	KMES_ERR_BIGNUM_TOO_LARGE = -8,
	KMES_ERR_KEY_TYPE_UNKNOWN = -9,
	KMES_ERR_KEY_UNSUPPORTED = -10,
	KMES_ERR_KEY_INVALID = -11,
	KMES_ERR_KEY_MISMATCH = -12,
	KMES_ERR_SIGNATURE_INVALID = -13,
	KMES_ERR_KEY_NOT_FOUND = -14,
	KMES_ERR_SYSTEM = -15,
	KMES_ERR_MESSAGE_TOO_LARGE = -16,
	KMES_ERR_CONSTRAINT_UNSUPPORTED = -17,
	KMES_ERR_LOCKED = -18,
	KMES_ERR_DENIED = -19,
	KMES_ERR_CRYPTO = -20,
	KMES_ERR_INVALID_ARGUMENT = -21,
	KMES_ERR_CONNECTION_CLOSED = -22,
	KMES_ERR_AGENT_FAILURE = -23,
	KMES_ERR_AGENT_PROTOCOL = -24,
	KMES_ERR_PIN_INCORRECT = -25,
	KMES_ERR_PIN_LOCKED = -26,
	KMES_ERR_EXISTS = -27,
	KMES_ERR_CERT_INVALID = -28,
	KMES_ERR_TIMEOUT = -29,
	KMES_ERR_LAST = -30,
};

/* Returns a static, never-NULL description of code r (0 or KMES_ERR_*). */
const char *kmes_err(int r);

#endif /* KMES_ERR_H */
