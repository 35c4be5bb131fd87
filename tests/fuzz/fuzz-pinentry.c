/*
 * fuzz-pinentry.c: what a pinentry program says back (the Assuan greeting,
 * then the answer to GETPIN: OK/ERR, D lines with percent-escapes, status,
 * comments, INQUIRE), through the agent's own reader in src/pinentry.c.
 * The program runs with the user's rights and may be anything on PATH, so
 * its bytes are untrusted. The source is included so that the harness can
 * hand the reader a socket that already holds the input, with no process.
 */
#include <sys/socket.h>

#include "../../src/pinentry.c"

#include "fuzz-common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_crypto();
	return 0;
}

static void
check_session(struct pe *pe)
{
	unsigned long code;
	int erred, r, rounds;

	/* The greeting, as pinentry_getpin reads it. */
	r = pe_response(pe, 0, &erred, &code);
	FUZZ_CHECK_CODE(r);
	if (r != 0)
		return;
	/* Then answers with data allowed, until the input runs out. */
	for (rounds = 0; rounds < 64; rounds++) {
		r = pe_response(pe, 1, &erred, &code);
		FUZZ_CHECK_CODE(r);
		FUZZ_CHECK(pe->pinlen <= READPASS_MAX);
		FUZZ_CHECK(memchr(pe->pin, '\0', pe->pinlen) == NULL);
		FUZZ_CHECK(pe->total <= PE_TOTAL_MAX);
		if (r != 0)
			return;
		if (erred)
			(void)map_err(code);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pe *pe;
	int sv[2];
	size_t off = 0;
	ssize_t w;
	int bufsz = (int)(2 * PE_TOTAL_MAX + 65536);

	if (size > PE_TOTAL_MAX + 4096)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return 0;
	/* Room for the whole input, so that writing it never blocks. */
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	while (off < size) {
		w = send(sv[1], data + off, size - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	/* Keep the writing end open for CAN answers, then close: EOF. */
	shutdown(sv[1], SHUT_WR);
	if ((pe = kmes_secure_alloc(sizeof(*pe))) == NULL) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	pe->pid = -1;
	pe->fd = sv[0];
	pe->deadline_ms = now_ms() + 5000;
	check_session(pe);
	pe_finish(pe);
	kmes_secure_free(pe);
	close(sv[1]);
	return 0;
}
