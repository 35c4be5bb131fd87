/*
 * token-int.h: what token.c (sessions, login, signing) and token-keys.c
 * (finding a token's keys) share. Private to keystore/.
 */
#ifndef KMES_TOKEN_INT_H
#define KMES_TOKEN_INT_H

#include <pthread.h>

#include <p11-kit/pkcs11.h>

struct tok_module {
	void *dl;
	CK_FUNCTION_LIST *f;
	char *path;
	struct tok_token **tokens;
	size_t ntokens;
};

struct tok_token {
	struct tok_module *m;
	CK_SLOT_ID slot;
	char label[33];
	char serial[17];
	int login_required;
	/* Guards the fields below: one re-login at a time. */
	pthread_mutex_t mtx;
	CK_SESSION_HANDLE login_session; /* keeps the login alive */
	int have_login_session;
	unsigned long login_gen;
	uint8_t *pin; /* secure memory */
	size_t pinlen;
};

/*
 * Writes "what: CKR_X" into err (if not NULL) and returns the KMES_ERR_*
 * that matches rv.
 */
int tok_rv_fail(char *err, const char *what, CK_RV rv);

#endif /* KMES_TOKEN_INT_H */
