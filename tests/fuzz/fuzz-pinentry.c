/*
 * fuzz-pinentry.c: what a pinentry program says back, through the agent's
 * own conversation in src/pinentry.c (pinentry_getpin_fd): the Assuan
 * greeting, the answers to OPTION, SETTITLE, SETDESC, SETPROMPT, SETERROR
 * and SETTIMEOUT, then GETPIN's (OK/ERR, D lines with percent-escapes,
 * status, comments, INQUIRE). The program runs with the user's rights and
 * may be anything on PATH, so its bytes are untrusted. The harness hands
 * the conversation a socket that already holds the input, with no process.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "kmes-err.h"
#include "pinentry.h"
#include "readpass.h"
#include "secmem.h"

/* pinentry.c's cap on a whole session. */
#define SESSION_MAX (64 * 1024)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/*
	 * The OPTION lines sent depend on these: fix them, so that a seed
	 * (corpus/fuzz-pinentry/: greeting, eight answers, GETPIN's) reaches
	 * GETPIN wherever it runs.
	 */
	setenv("TERM", "xterm-256color", 1);
	setenv("LC_ALL", "C.UTF-8", 1);
	fuzz_init_crypto();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Every text and option, so every answer is read. */
	static const struct pinentry_req req = {
		.program = "fuzz",
		.title = "kmes-agent",
		.desc =
		    "Please enter the PIN for keystore 'fuzz'.\n9 tries left",
		.prompt = "PIN:",
		.error = "Wrong PIN",
		.ttyname = "/dev/pts/fuzz",
		.timeout_s = 60,
	};
	uint8_t *pin = (uint8_t *)1;
	size_t len = 1, off = 0;
	ssize_t w;
	int sv[2], r, bufsz = 2 * SESSION_MAX + 65536;

	if (size > SESSION_MAX + 4096)
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
	/* The commands (and CAN answers) land unread in sv[1]; then EOF. */
	shutdown(sv[1], SHUT_WR);

	fuzz_begin();
	r = pinentry_getpin_fd(sv[0], &req, &pin, &len);
	FUZZ_CHECK_CODE(r);
	if (r == 0) {
		/* A PIN: not empty, within the cap, no NUL, NUL-terminated,
		 * in guarded memory. */
		FUZZ_CHECK(pin != NULL);
		FUZZ_CHECK(len > 0 && len <= READPASS_MAX);
		FUZZ_CHECK(memchr(pin, '\0', len) == NULL && pin[len] == '\0');
		FUZZ_CHECK(kmes_secure_size(pin) > len);
		kmes_secure_free(pin);
	} else
		FUZZ_CHECK(pin == NULL && len == 0);
	fuzz_end();
	close(sv[0]);
	close(sv[1]);
	return 0;
}
