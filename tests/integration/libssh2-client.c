/*
 * libssh2-client: log in to an sshd using only the keys of the agent at
 * $SSH_AUTH_SOCK, through libssh2's agent API, and run one command.
 *
 * usage: libssh2-client host port user known_hosts command
 *
 * The server's host key must match known_hosts (OpenSSH format, the
 * "[host]:port" form for non-22 ports).  Each agent identity is tried in
 * turn until one authenticates.  The command's stdout is copied to stdout;
 * progress goes to stderr as "libssh2-client: ..." lines the test reads.
 *
 * Exit status: the command's exit status if it ran; 100 usage or setup
 * error; 101 connection or host key failure; 102 agent unreachable or
 * empty; 103 no agent identity was accepted.
 */

#include <sys/socket.h>
#include <sys/types.h>

#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh2.h>

#define EXIT_SETUP 100
#define EXIT_CONNECT 101
#define EXIT_AGENT 102
#define EXIT_AUTH 103

static void say(const char *, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "libssh2-client: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
say_session_error(LIBSSH2_SESSION *session, const char *what)
{
	char *msg = NULL;

	libssh2_session_last_error(session, &msg, NULL, 0);
	say("%s: %s", what, msg != NULL ? msg : "unknown error");
}

/*
 * Copy the key type name out of an SSH wire-format public key blob.  The
 * blob comes from the agent, so bound every read by its length.
 */
static void
blob_key_type(const unsigned char *blob, size_t len, char *out, size_t outlen)
{
	uint32_t n;

	snprintf(out, outlen, "?");
	if (blob == NULL || len < 4)
		return;
	n = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 |
	    (uint32_t)blob[2] << 8 | (uint32_t)blob[3];
	if (n > len - 4 || n >= outlen)
		return;
	memcpy(out, blob + 4, n);
	out[n] = '\0';
}

static int
tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		say("getaddrinfo %s: %s", host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
			 ai->ai_protocol)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		say("cannot connect to %s port %s", host, port);
	return fd;
}

/* Returns 0 if the server's host key is the one known_hosts lists. */
static int
check_host_key(LIBSSH2_SESSION *session, const char *host, int port,
    const char *known_hosts)
{
	LIBSSH2_KNOWNHOSTS *kh = NULL;
	struct libssh2_knownhost *found = NULL;
	const char *key;
	size_t keylen;
	int keytype, r = -1;

	if ((key = libssh2_session_hostkey(session, &keylen, &keytype)) ==
	    NULL) {
		say_session_error(session, "no host key");
		goto out;
	}
	if ((kh = libssh2_knownhost_init(session)) == NULL)
		goto out;
	if (libssh2_knownhost_readfile(kh, known_hosts,
		LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		say_session_error(session, "cannot read known_hosts");
		goto out;
	}
	switch (libssh2_knownhost_checkp(kh, host, port, key, keylen,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW,
	    &found)) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		r = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		say("host key for %s does not match %s", host, known_hosts);
		break;
	default:
		say("host key for %s not found in %s", host, known_hosts);
		break;
	}
out:
	if (kh != NULL)
		libssh2_knownhost_free(kh);
	return r;
}

/*
 * Try every agent identity until one logs in.  Returns 0 on success,
 * EXIT_AGENT or EXIT_AUTH otherwise.
 */
static int
agent_login(LIBSSH2_SESSION *session, const char *user)
{
	LIBSSH2_AGENT *agent = NULL;
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	char type[64];
	int r = EXIT_AGENT, n = 0, rc;

	if ((agent = libssh2_agent_init(session)) == NULL) {
		say_session_error(session, "agent init");
		goto out;
	}
	if (libssh2_agent_connect(agent) != 0) {
		say_session_error(session, "agent connect");
		goto out;
	}
	if (libssh2_agent_list_identities(agent) != 0) {
		say_session_error(session, "agent list identities");
		goto out;
	}
	r = EXIT_AUTH;
	while ((rc = libssh2_agent_get_identity(agent, &id, prev)) == 0) {
		prev = id;
		n++;
		blob_key_type(id->blob, id->blob_len, type, sizeof(type));
		say("trying agent identity %s %s", type,
		    id->comment != NULL ? id->comment : "");
		if (libssh2_agent_userauth(agent, user, id) == 0) {
			say("authenticated with %s %s", type,
			    id->comment != NULL ? id->comment : "");
			r = 0;
			break;
		}
		say_session_error(session, "agent userauth refused");
	}
	if (rc < 0) {
		say_session_error(session, "agent get identity");
		r = EXIT_AGENT;
	} else if (n == 0) {
		say("the agent holds no identities");
		r = EXIT_AGENT;
	}
out:
	if (agent != NULL) {
		libssh2_agent_disconnect(agent);
		libssh2_agent_free(agent);
	}
	return r;
}

/* Run command; returns its exit status, or -1 if it could not be run. */
static int
run_command(LIBSSH2_SESSION *session, const char *command)
{
	LIBSSH2_CHANNEL *channel = NULL;
	char buf[4096];
	ssize_t n;
	int r = -1;

	if ((channel = libssh2_channel_open_session(session)) == NULL) {
		say_session_error(session, "channel open");
		goto out;
	}
	/*
	 * Only stdout is compared; drop stderr so a chatty remote cannot
	 * fill the window and stall the read loop below.
	 */
	libssh2_channel_handle_extended_data2(channel,
	    LIBSSH2_CHANNEL_EXTENDED_DATA_IGNORE);
	if (libssh2_channel_exec(channel, command) != 0) {
		say_session_error(session, "channel exec");
		goto out;
	}
	while ((n = libssh2_channel_read(channel, buf, sizeof(buf))) > 0) {
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			goto out;
	}
	if (n < 0) {
		say_session_error(session, "channel read");
		goto out;
	}
	if (libssh2_channel_close(channel) != 0 ||
	    libssh2_channel_wait_closed(channel) != 0) {
		say_session_error(session, "channel close");
		goto out;
	}
	r = libssh2_channel_get_exit_status(channel);
out:
	if (channel != NULL)
		libssh2_channel_free(channel);
	fflush(stdout);
	return r;
}

int
main(int argc, char **argv)
{
	LIBSSH2_SESSION *session = NULL;
	const char *host, *port, *user, *known_hosts, *command;
	int fd = -1, r = EXIT_SETUP, status;

	if (argc != 6) {
		fprintf(stderr,
		    "usage: libssh2-client host port user "
		    "known_hosts command\n");
		return EXIT_SETUP;
	}
	host = argv[1];
	port = argv[2];
	user = argv[3];
	known_hosts = argv[4];
	command = argv[5];

	say("libssh2 %s", libssh2_version(0));
	if (libssh2_init(0) != 0)
		return EXIT_SETUP;
	r = EXIT_CONNECT;
	if ((fd = tcp_connect(host, port)) == -1)
		goto out;
	if ((session = libssh2_session_init()) == NULL) {
		r = EXIT_SETUP;
		goto out;
	}
	libssh2_session_set_blocking(session, 1);
	/* A wedged agent or server must end the test, not hang it. */
	libssh2_session_set_timeout(session, 20000);
	if (libssh2_session_handshake(session, fd) != 0) {
		say_session_error(session, "handshake");
		goto out;
	}
	if (check_host_key(session, host, atoi(port), known_hosts) != 0)
		goto out;
	if ((r = agent_login(session, user)) != 0)
		goto out;
	if ((status = run_command(session, command)) < 0) {
		r = EXIT_CONNECT;
		goto out;
	}
	r = status;
out:
	if (session != NULL) {
		libssh2_session_disconnect(session, "bye");
		libssh2_session_free(session);
	}
	if (fd != -1)
		close(fd);
	libssh2_exit();
	return r;
}
