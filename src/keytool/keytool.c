/*
 * keytool.c: kmes-keytool's main(): process hardening, the global options,
 * and the table of subcommands (each in its own cmd-*.c, as wg(8) does).
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "keytool.h"
#include "kmes-err.h"
#include "store.h"

#ifndef KMES_VERSION
#define KMES_VERSION "unknown"
#endif

static const struct kt_cmd commands[] = {
	{ "init", cmd_init, "[--label label] [--kdf-cost log2n]",
	    "create a new key store" },
	{ "generate", cmd_generate,
	    "-t ed25519|ecdsa|rsa [-b bits] -l label [--confirm] [--id hex]",
	    "generate a key inside the store" },
	{ "import", cmd_import, "-l label [--confirm] file",
	    "import a private key file" },
	{ "list", cmd_list, "[-E sha256|md5]",
	    "list the keys (no PIN needed)" },
	{ "export-public", cmd_export_public, "label",
	    "print a key's OpenSSH public key line" },
	{ "delete", cmd_delete, "[--yes] label",
	    "delete a key (asks first on a terminal)" },
	{ "rename", cmd_rename, "label new-label", "give a key a new label" },
	{ "passwd", cmd_passwd, "", "change the PIN" },
	{ "so-passwd", cmd_so_passwd, "", "change the SO PIN" },
	{ "unblock", cmd_unblock, "",
	    "set a new PIN with the SO PIN, clearing the failure counter" },
	{ "info", cmd_info, "", "show facts about the store (no PIN needed)" },
	{ "verify", cmd_verify, "", "check every record of the store" },
	{ "recover", cmd_recover, "--out newfile",
	    "copy every intact key of a damaged store into a new one" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

enum {
	OPT_PIN_FD = 256,
	OPT_SO_PIN_FD,
	OPT_NEW_PIN_FD,
	OPT_PASSPHRASE_FD,
};

static const struct option global_options[] = {
	{ "store", required_argument, NULL, 's' },
	{ "pin-fd", required_argument, NULL, OPT_PIN_FD },
	{ "so-pin-fd", required_argument, NULL, OPT_SO_PIN_FD },
	{ "new-pin-fd", required_argument, NULL, OPT_NEW_PIN_FD },
	{ "passphrase-fd", required_argument, NULL, OPT_PASSPHRASE_FD },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: " KT_PROG " [--store path] [--pin-fd n] [--so-pin-fd n] "
	    "[--new-pin-fd n]\n"
	    "                    [--passphrase-fd n] command [argument ...]\n"
	    "commands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "Run '" KT_PROG " help' for every command's arguments.\n");
}

static void
help(void)
{
	size_t i;

	usage(stdout);
	printf("\n");
	for (i = 0; i < N_COMMANDS; i++)
		printf("  " KT_PROG " %s%s%s\n", commands[i].name,
		    *commands[i].args != '\0' ? " " : "", commands[i].args);
}

/* Before anything else: no core files, no ptrace by peers, no dumps. */
static void
harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0) {
		kt_warnx("setrlimit RLIMIT_CORE: %s", strerror(errno));
		exit(KT_EXIT_FAIL);
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		kt_warnx("prctl PR_SET_DUMPABLE: %s", strerror(errno));
		exit(KT_EXIT_FAIL);
	}
	/* Whatever the store library creates is ours alone. */
	umask(077);
}

/* Parses a --*-fd argument; the descriptor must be open. */
static int
parse_fd(const char *opt, const char *arg, int *fdp)
{
	unsigned long v;

	if (kt_parse_uint(arg, 0, INT_MAX, &v) != 0) {
		kt_warnx("%s wants a descriptor number, not '%s'", opt, arg);
		return -1;
	}
	if (fcntl((int)v, F_GETFD) == -1) {
		kt_warnx("%s %lu: descriptor %lu is not open", opt, v, v);
		return -1;
	}
	*fdp = (int)v;
	return 0;
}

static const struct kt_cmd *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct keytool kt;
	char *default_path = NULL;
	const char *fdopt;
	int ch, i, r, status, which;

	harden_process();
	memset(&kt, 0, sizeof(kt));
	for (which = 0; which < KT_N_SECRETS; which++)
		kt.fd[which] = -1;

	opterr = 0;
	while ((ch = kt_getopt(argc, argv, "+:s:hV", global_options)) != -1) {
		switch (ch) {
		case 's':
			kt.store_path = optarg;
			break;
		case OPT_PIN_FD:
		case OPT_SO_PIN_FD:
		case OPT_NEW_PIN_FD:
		case OPT_PASSPHRASE_FD:
			/* Same order in the enum, the table and kt.fd. */
			which = ch - OPT_PIN_FD;
			fdopt = global_options[1 + which].name;
			if (parse_fd(fdopt, optarg, &kt.fd[which]) != 0)
				return KT_EXIT_USAGE;
			break;
		case 'h':
			help();
			return KT_EXIT_OK;
		case 'V':
			printf(KT_PROG " " KMES_VERSION "\n");
			return KT_EXIT_OK;
		case ':':
			kt_warnx("option %s needs an argument",
			    argv[optind - 1]);
			usage(stderr);
			return KT_EXIT_USAGE;
		default:
			if (!kt_abbrev_refused())
				kt_warnx("unknown option %s", argv[optind - 1]);
			usage(stderr);
			return KT_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return KT_EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		help();
		return KT_EXIT_OK;
	}
	if ((kt.cmd = find_command(argv[0])) == NULL) {
		kt_warnx("unknown command '%s'", argv[0]);
		usage(stderr);
		return KT_EXIT_USAGE;
	}
	/* "kmes-keytool CMD --help": the command's usage, and nothing done. */
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			kt_cmd_help(&kt);
			return KT_EXIT_OK;
		}
	}
	if (kt.store_path == NULL) {
		if ((default_path = ks_store_default_path()) == NULL) {
			kt_warnx("no place for the key store: set KMES_STORE "
				 "or HOME, or pass --store");
			return KT_EXIT_FAIL;
		}
		kt.store_path = default_path;
	}
	if ((r = ks_crypto_init(0)) != 0)
		kt_warnx("warning: private keys may not be locked in memory "
			 "(%s)",
		    kmes_err(r));

	/* Each subcommand parses its own options from argv[1]. */
	optind = 0;
	status = kt.cmd->run(&kt, argc, argv);

	if (fflush(stdout) != 0 || ferror(stdout)) {
		kt_warnx("cannot write the output: %s", strerror(errno));
		if (status == KT_EXIT_OK)
			status = KT_EXIT_FAIL;
	}
	free(default_path);
	return status;
}
