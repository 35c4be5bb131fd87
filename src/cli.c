/*
 * cli.c: what kmes-agent says to the person and the shell that start it:
 * the usage and help, option spellings, and the checks at start that are
 * about the user's setup rather than the daemon (an exposed store file, an
 * agent already running).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

static void
print_usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROGNAME " [-c | -s] [-Dd] [-a bind_address] "
	    "[-E fingerprint_hash]\n"
	    "                  [-O option] [-P allowed_providers] [-t life]\n"
	    "                  [--store path] [--pin | --pin-fd fd]\n"
	    "                  [--pkcs11 module [--token label|serial]] ...\n"
	    "                  [--pkcs11-timeout time]\n"
	    "                  [--audit-log path] [--lock-idle time]\n"
	    "                  [--config file | --no-config] "
	    "[--pinentry program]\n"
	    "       " PROGNAME " [-a bind_address] [-E fingerprint_hash] "
	    "[-O option]\n"
	    "                  [-P allowed_providers] [-t life] "
	    "command [arg ...]\n"
	    "       " PROGNAME " [-c | -s] -k\n"
	    "       " PROGNAME " --print-socket | --help | --version\n");
}

/* A usage error: what was wrong was said just before. */
void
cli_usage(void)
{
	print_usage(stderr);
	exit(1);
}

void
cli_help(void)
{
	print_usage(stdout);
	printf(
	    "\n"
	    "An ssh-agent whose keys live in an encrypted key store or a PKCS#11\n"
	    "token. At login: eval \"$(" PROGNAME " -s --pin)\"\n"
	    "\n"
	    "  -c, -s               print C-shell or Bourne-shell commands\n"
	    "  -D, -d               stay in the foreground (-d: debug log)\n"
	    "  -a bind_address      listen on this socket path\n"
	    "  -E hash              fingerprints in md5 or sha256\n"
	    "  -O allow-remote-pkcs11\n"
	    "                       let forwarded connections use ssh-add -s/-e\n"
	    "  -P providers         PKCS#11 modules ssh-add -s may load\n"
	    "  -t life              default lifetime of keys added with ssh-add\n"
	    "  -k                   stop the agent in $SSH_AGENT_PID\n"
	    "  --store path         the key store (default: $KMES_STORE, else\n"
	    "                       $XDG_DATA_HOME/kmes/keystore)\n"
	    "  --pin, --pin-fd fd   unlock the store and tokens at start\n"
	    "  --pkcs11 module      serve a PKCS#11 token's keys (--token to pick one)\n"
	    "  --pkcs11-timeout t   deadline of a token operation (default 30s)\n"
	    "  --lock-idle time     lock the store after this long without use\n"
	    "  --audit-log path     one JSON line per signature and unlock\n"
	    "  --config file, --no-config\n"
	    "                       agent.conf (default $XDG_CONFIG_HOME/kmes/)\n"
	    "  --pinentry program   the PIN dialog to run\n"
	    "  --print-socket       print the socket path the agent would use\n"
	    "  --help, --version    this text; the version\n"
	    "\n"
	    "Times are sshd_config style: 90, 30m, 1h30m. See kmes-agent(1).\n");
	exit(0);
}

/*
 * getopt_long takes any unambiguous prefix: "--lock 30m" would be
 * --lock-idle and "--pin" a prefix of "--pin-fd". An option that changes
 * what the agent guards is spelt out in full, or refused.
 */
void
cli_refuse_abbreviation(const char *typed, const char *name)
{
	size_t len = strcspn(typed, "=");

	if (len == strlen(name) && strncmp(typed, name, len) == 0)
		return;
	fprintf(stderr,
	    PROGNAME ": unknown option '--%.*s' (did you mean "
		     "--%s?)\n",
	    (int)len, typed, name);
	cli_usage();
}

int
cli_parse_fp_hash(const char *s, enum ks_fp_hash *h)
{
	if (strcasecmp(s, "sha256") == 0)
		*h = KS_FP_SHA256;
	else if (strcasecmp(s, "md5") == 0)
		*h = KS_FP_MD5;
	else
		return -1;
	return 0;
}

/*
 * As ssh with a private key file: a store file others may read or write
 * is refused, with the fix. Encrypted or not, a copy costs an attacker
 * nothing but the PIN guesses, offline and unlimited.
 */
int
cli_store_exposed(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) == 0)
		return 0;
	fprintf(stderr,
	    PROGNAME
	    ": keystore %s may be read by others "
	    "(mode %04o); refusing to use it. Fix it with: chmod 600 %s\n",
	    path, (unsigned int)(st.st_mode & 07777), path);
	return 1;
}

/*
 * Starting a second agent while SSH_AUTH_SOCK names a live one is often a
 * login script run twice: said, not refused (the new one's commands
 * replace the old socket in this shell only).
 */
void
cli_warn_running_agent(void)
{
	struct sockaddr_un sun;
	const char *sock = getenv("SSH_AUTH_SOCK");
	int fd;

	if (sock == NULL || *sock == '\0' ||
	    strlen(sock) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock, strlen(sock));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		 0)) == -1)
		return;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		fprintf(stderr,
		    PROGNAME
		    ": warning: an agent is already "
		    "running at %s (SSH_AUTH_SOCK); starting another\n",
		    sock);
	close(fd);
}
