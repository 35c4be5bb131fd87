/*
 * kmes-err.c: error code to text.
 */
#include <errno.h>
#include <string.h>

#include "kmes-err.h"

const char *
kmes_err(int r)
{
	switch (r) {
	case KMES_OK:
		return "success";
	case KMES_ERR_INTERNAL:
		return "internal error";
	case KMES_ERR_ALLOC:
		return "memory allocation failed";
	case KMES_ERR_MESSAGE_INCOMPLETE:
		return "message incomplete";
	case KMES_ERR_INVALID_FORMAT:
		return "invalid format";
	case KMES_ERR_NO_BUFFER_SPACE:
		return "buffer size limit exceeded";
	case KMES_ERR_STRING_TOO_LARGE:
		return "string too large";
	case KMES_ERR_BIGNUM_INVALID:
		return "invalid big number";
	case KMES_ERR_BIGNUM_TOO_LARGE:
		return "big number too large";
	case KMES_ERR_KEY_TYPE_UNKNOWN:
		return "unknown key type";
	case KMES_ERR_KEY_UNSUPPORTED:
		return "key type not supported";
	case KMES_ERR_KEY_INVALID:
		return "invalid key";
	case KMES_ERR_KEY_MISMATCH:
		return "public and private key do not match";
	case KMES_ERR_SIGNATURE_INVALID:
		return "signature verification failed";
	case KMES_ERR_KEY_NOT_FOUND:
		return "key not found";
	case KMES_ERR_SYSTEM:
		return strerror(errno);
	case KMES_ERR_MESSAGE_TOO_LARGE:
		return "message exceeds the size limit";
	case KMES_ERR_CONSTRAINT_UNSUPPORTED:
		return "unsupported key constraint";
	case KMES_ERR_LOCKED:
		return "agent is locked";
	case KMES_ERR_DENIED:
		return "operation refused by policy";
	case KMES_ERR_CRYPTO:
		return "cryptographic library error";
	case KMES_ERR_INVALID_ARGUMENT:
		return "invalid argument";
	case KMES_ERR_CONNECTION_CLOSED:
		return "connection closed";
	case KMES_ERR_AGENT_FAILURE:
		return "agent refused operation";
	case KMES_ERR_AGENT_PROTOCOL:
		return "unexpected agent reply";
	case KMES_ERR_PIN_INCORRECT:
		return "incorrect PIN";
	case KMES_ERR_PIN_LOCKED:
		return "PIN is blocked";
	case KMES_ERR_EXISTS:
		return "already exists";
	case KMES_ERR_CERT_INVALID:
		return "invalid certificate";
	case KMES_ERR_TIMEOUT:
		return "timed out";
	case KMES_ERR_PASSPHRASE_REQUIRED:
		return "passphrase required";
	case KMES_ERR_PASSPHRASE_INCORRECT:
		return "incorrect passphrase";
	case KMES_ERR_STORE_CORRUPT:
		return "key store is damaged or has been tampered with";
	case KMES_ERR_STORE_NOT_FOUND:
		return "no key store at that path";
	case KMES_ERR_NOT_LOGGED_IN:
		return "key store is locked (PIN needed)";
	case KMES_ERR_TOKEN_NOT_FOUND:
		return "no such PKCS#11 token";
	case KMES_ERR_TOKEN:
		return "PKCS#11 module or token failure";
	}
	return "unknown error";
}
