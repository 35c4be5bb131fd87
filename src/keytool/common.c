/*
 * common.c: what every kmes-keytool subcommand needs: messages, opening
 * the store, reading PINs and logging in; and the steps several share:
 * setting a new PIN, adding a key, printing a public key line.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "keytool.h"
#include "kmes-err.h"
#include "readpass.h"
#include "secmem.h"
#include "store.h"

/* Indexed by enum kt_secret. */
static const char *const secret_name[] = {
	"PIN",
	"SO PIN",
	"new PIN",
	"passphrase",
};
static const char *const secret_option[] = {
	"--pin-fd",
	"--so-pin-fd",
	"--new-pin-fd",
	"--passphrase-fd",
};

/* One line on stderr, after what stdout holds so far. */
static void
say(const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs(KT_PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
kt_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

int
kt_usage(const struct keytool *kt)
{
	fprintf(stderr, "usage: " KT_PROG " [global options] %s%s%s\n",
	    kt->cmd->name, *kt->cmd->args != '\0' ? " " : "", kt->cmd->args);
	return KT_EXIT_USAGE;
}

/* Set when kt_getopt refused an abbreviation (and said so). */
static int abbrev_refused;

int
kt_getopt(int argc, char **argv, const char *optstring,
    const struct option *longopts)
{
	const char *typed;
	size_t len;
	int ch, idx = -1, at;

	abbrev_refused = 0;
	ch = getopt_long(argc, argv, optstring, longopts, &idx);
	if (idx < 0 || optind < 1)
		return ch;
	/*
	 * getopt_long takes any unambiguous prefix ("--conf" for --confirm,
	 * "--sto" for --store): a long option here is spelt out in full.
	 * The option itself is the last element taken, or the one before it
	 * when its argument came separately.
	 */
	at = optind - 1;
	if (optarg != NULL && optarg == argv[at] && at > 0)
		at--;
	if (strncmp(argv[at], "--", 2) != 0)
		return ch;
	typed = argv[at] + 2;
	len = strcspn(typed, "=");
	if (len == strlen(longopts[idx].name) &&
	    strncmp(typed, longopts[idx].name, len) == 0)
		return ch;
	kt_warnx("unknown option '--%.*s' (did you mean --%s?)", (int)len,
	    typed, longopts[idx].name);
	abbrev_refused = 1;
	return '?';
}

void
kt_said(const char *fmt, ...)
{
	va_list ap;

	/* On stderr, like ssh-add's "Identity added": stdout is for data. */
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

void
kt_blob_desc(const uint8_t *blob, size_t len, char *buf, size_t buflen)
{
	struct ks_key *k = NULL;
	char fp[KS_FP_MAX];

	if (ks_key_from_blob(blob, len, &k) != 0 ||
	    ks_key_fingerprint(k, KS_FP_SHA256, fp, sizeof(fp)) != 0)
		snprintf(buf, buflen, "(unreadable key)");
	else
		snprintf(buf, buflen, "%s %s", ks_key_short_name(k), fp);
	ks_key_free(k);
}

int
kt_abbrev_refused(void)
{
	return abbrev_refused;
}

void
kt_cmd_help(const struct keytool *kt)
{
	printf("usage: " KT_PROG " [global options] %s%s%s\n  %s\n",
	    kt->cmd->name, *kt->cmd->args != '\0' ? " " : "", kt->cmd->args,
	    kt->cmd->help);
}

int
kt_bad_option(const struct keytool *kt, int ch, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (abbrev_refused)
		return kt_usage(kt);
	/* In a cluster like -xv, argv[optind - 1] is not the culprit. */
	if (optopt != 0 && ch == '?')
		kt_warnx("%s: unknown option -%c", kt->cmd->name, optopt);
	else if (ch == ':')
		kt_warnx("%s: option %s needs an argument", kt->cmd->name, arg);
	else
		kt_warnx("%s: unknown option %s", kt->cmd->name, arg);
	return kt_usage(kt);
}

int
kt_no_arguments(const struct keytool *kt, int argc, char **argv)
{
	static const struct option none[] = { { NULL, 0, NULL, 0 } };
	int ch;

	opterr = 0;
	if ((ch = getopt_long(argc, argv, ":", none, NULL)) != -1)
		return kt_bad_option(kt, ch, argv);
	if (optind != argc) {
		kt_warnx("%s takes no arguments", kt->cmd->name);
		return kt_usage(kt);
	}
	return KT_EXIT_OK;
}

int
kt_no_options(const struct keytool *kt, int argc, char **argv)
{
	static const struct option none[] = { { NULL, 0, NULL, 0 } };
	int ch;

	if ((ch = getopt_long(argc, argv, "+:", none, NULL)) != -1)
		return kt_bad_option(kt, ch, argv);
	return KT_EXIT_OK;
}

int
kt_one_argument(const struct keytool *kt, int argc, char **argv,
    const char **argp)
{
	static const struct option none[] = { { NULL, 0, NULL, 0 } };
	int ch;

	*argp = NULL;
	/* "+": a label after "--" or after the operand stays an operand. */
	if ((ch = getopt_long(argc, argv, "+:", none, NULL)) != -1)
		return kt_bad_option(kt, ch, argv);
	if (optind != argc - 1)
		return kt_usage(kt);
	*argp = argv[optind];
	return KT_EXIT_OK;
}

int
kt_exit_status(int r)
{
	switch (r) {
	case 0:
		return KT_EXIT_OK;
	case KMES_ERR_PIN_INCORRECT:
	case KMES_ERR_PASSPHRASE_INCORRECT:
		return KT_EXIT_PIN;
	case KMES_ERR_PIN_LOCKED:
		return KT_EXIT_BLOCKED;
	case KMES_ERR_STORE_CORRUPT:
		return KT_EXIT_CORRUPT;
	case KMES_ERR_STORE_NOT_FOUND:
		return KT_EXIT_NOSTORE;
	default:
		return KT_EXIT_FAIL;
	}
}

int
kt_parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *vp)
{
	unsigned long v;
	char *end;

	/* strtoul would accept " -1" as a huge number. */
	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*vp = v;
	return 0;
}

int
kt_check_label(const char *label)
{
	const unsigned char *p;
	size_t len = strlen(label);

	if (len == 0) {
		kt_warnx("a label must not be empty");
		return KT_EXIT_USAGE;
	}
	if (len > KS_STORE_LABEL_MAX) {
		kt_warnx("a label is at most %d bytes long",
		    KS_STORE_LABEL_MAX);
		return KT_EXIT_USAGE;
	}
	/*
	 * Labels end up in list output, public key comments and the agent's
	 * confirmation prompts: no control characters that could forge lines
	 * or drive a terminal.
	 */
	for (p = (const unsigned char *)label; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			kt_warnx("a label must not contain control "
				 "characters");
			return KT_EXIT_USAGE;
		}
	}
	return KT_EXIT_OK;
}

static void
store_error(const struct keytool *kt, int r)
{
	switch (r) {
	case KMES_ERR_STORE_NOT_FOUND:
		kt_warnx("no key store at %s (create one with '" KT_PROG
			 " init')",
		    kt->store_path);
		break;
	case KMES_ERR_STORE_CORRUPT:
		kt_warnx(
		    "the key store %s is damaged: it failed its "
		    "integrity check (no PIN try was counted); save its intact "
		    "keys with '" KT_PROG " recover --out NEWFILE'",
		    kt->store_path);
		break;
	case KMES_ERR_SYSTEM:
		kt_warnx("key store %s: %s", kt->store_path, strerror(errno));
		break;
	default:
		kt_warnx("key store %s: %s", kt->store_path, kmes_err(r));
		break;
	}
}

int
kt_open_store(const struct keytool *kt, struct ks_store **sp)
{
	int r;

	*sp = NULL;
	if ((r = ks_store_open(kt->store_path, sp)) != 0) {
		store_error(kt, r);
		return kt_exit_status(r);
	}
	return KT_EXIT_OK;
}

static int
secret_error(const struct keytool *kt, enum kt_secret which, int confirm, int r,
    int saved_errno)
{
	const char *name = secret_name[which];
	int fd = kt->fd[which];

	if (fd != -1) {
		switch (r) {
		case KMES_ERR_CONNECTION_CLOSED:
			kt_warnx("no %s on descriptor %d (end of input)", name,
			    fd);
			break;
		case KMES_ERR_STRING_TOO_LARGE:
			kt_warnx("the %s on descriptor %d is too long", name,
			    fd);
			break;
		default:
			kt_warnx("cannot read the %s from descriptor %d: %s",
			    name, fd,
			    r == KMES_ERR_SYSTEM ? strerror(saved_errno) :
						   kmes_err(r));
			break;
		}
		return KT_EXIT_FAIL;
	}
	switch (r) {
	case KMES_ERR_SYSTEM:
		if (saved_errno == ENXIO || saved_errno == ENOENT ||
		    saved_errno == ENOTTY || saved_errno == EACCES)
			kt_warnx("no terminal to ask for the %s: use %s", name,
			    secret_option[which]);
		else
			kt_warnx("cannot read the %s: %s", name,
			    strerror(saved_errno));
		break;
	case KMES_ERR_DENIED:
		if (confirm)
			kt_warnx("the %s was not entered the same way twice",
			    name);
		else
			kt_warnx("%s entry cancelled", name);
		break;
	case KMES_ERR_CONNECTION_CLOSED:
		kt_warnx("no %s entered", name);
		break;
	case KMES_ERR_STRING_TOO_LARGE:
		kt_warnx("the %s is too long", name);
		break;
	default:
		kt_warnx("cannot read the %s: %s", name, kmes_err(r));
		break;
	}
	return KT_EXIT_FAIL;
}

int
kt_read_secret(const struct keytool *kt, enum kt_secret which,
    const char *prompt, int confirm, uint8_t **secp, size_t *lenp)
{
	uint8_t *sec = NULL;
	size_t len = 0;
	int r, status;

	*secp = NULL;
	*lenp = 0;
	if (kt->fd[which] != -1)
		r = readpass_fd(kt->fd[which], &sec, &len);
	else if (confirm && which != KT_PASSPHRASE)
		r = readpass_new_secret(prompt, KS_STORE_PIN_MIN,
		    KS_STORE_PIN_MAX, &sec, &len);
	else
		r = readpass_interactive(prompt, confirm, &sec, &len);
	if (r != 0)
		return secret_error(kt, which, confirm, r, errno);
	/* A PIN the store cannot take should not cost a try. */
	if (which != KT_PASSPHRASE &&
	    (len < KS_STORE_PIN_MIN || len > KS_STORE_PIN_MAX)) {
		kt_warnx("a%s %s is %d to %d bytes long",
		    which == KT_SO_PIN ? "n" : "", secret_name[which],
		    KS_STORE_PIN_MIN, KS_STORE_PIN_MAX);
		status = confirm ? KT_EXIT_FAIL : KT_EXIT_PIN;
		goto out;
	}
	*secp = sec;
	*lenp = len;
	sec = NULL;
	status = KT_EXIT_OK;
out:
	kmes_secure_free(sec);
	return status;
}

static void
blocked_message(void)
{
	kt_warnx(
	    "the PIN is blocked after %d wrong tries: unblock it with '" KT_PROG
	    " unblock' and the SO PIN",
	    KS_STORE_MAX_TRIES);
}

int
kt_login(const struct keytool *kt, struct ks_store *s, int so)
{
	uint8_t *pin = NULL;
	size_t len = 0;
	unsigned int left = 0, tries;
	uint32_t failures = ks_store_pin_failures(s);
	char prompt[KS_STORE_LABEL_MAX + 64];
	int r, status;

	tries = failures >= KS_STORE_MAX_TRIES ? 0 :
						 KS_STORE_MAX_TRIES - failures;

	if (!so && ks_store_pin_blocked(s)) {
		blocked_message();
		return KT_EXIT_BLOCKED;
	}
	/* The prompt names the store and, like the agent's, the tries. */
	if (so)
		snprintf(prompt, sizeof(prompt),
		    "Enter the SO PIN of key store "
		    "'%s': ",
		    ks_store_label(s));
	else
		snprintf(prompt, sizeof(prompt),
		    "Enter the PIN of key store "
		    "'%s' (%u %s left): ",
		    ks_store_label(s), tries, tries == 1 ? "try" : "tries");
	if ((status = kt_read_secret(kt, so ? KT_SO_PIN : KT_PIN, prompt, 0,
		 &pin, &len)) != KT_EXIT_OK)
		return status;
	r = ks_store_login(s, so, pin, len, &left);
	kmes_secure_free(pin);
	switch (r) {
	case 0:
		return KT_EXIT_OK;
	case KMES_ERR_PIN_INCORRECT:
		if (so) {
			left = ks_store_so_pin_failures(s) >=
				KS_STORE_MAX_TRIES ?
			    0 :
			    KS_STORE_MAX_TRIES - ks_store_so_pin_failures(s);
			kt_warnx(
			    "wrong SO PIN: %u %s left before the SO PIN is "
			    "blocked for good (nothing can unblock it)",
			    left, left == 1 ? "try" : "tries");
		} else if (left == 0) {
			kt_warnx("wrong PIN; no tries left");
			blocked_message();
			return KT_EXIT_BLOCKED;
		} else {
			kt_warnx("wrong PIN: %u %s left before the PIN is "
				 "blocked",
			    left, left == 1 ? "try" : "tries");
		}
		return KT_EXIT_PIN;
	case KMES_ERR_PIN_LOCKED:
		if (so)
			kt_warnx("the SO PIN is blocked");
		else
			blocked_message();
		return KT_EXIT_BLOCKED;
	default:
		store_error(kt, r);
		return kt_exit_status(r);
	}
}

int
kt_read_new_pin(const struct keytool *kt, const char *prompt, uint8_t **pinp,
    size_t *lenp)
{
	return kt_read_secret(kt, KT_NEW_PIN, prompt, 1, pinp, lenp);
}

long
kt_find_label(const struct ks_store *s, const char *label)
{
	long i;

	if ((i = ks_store_find(s, label)) < 0)
		kt_warnx("no key labelled '%s' in the store", label);
	return i;
}

int
kt_set_new_pin(const struct keytool *kt, int argc, char **argv,
    enum kt_pin_change how)
{
	struct ks_store *s = NULL;
	uint8_t *pin = NULL;
	size_t len = 0;
	int r, status, so_login = how != KT_CHANGE_PIN;

	if ((status = kt_no_arguments(kt, argc, argv)) != KT_EXIT_OK)
		return status;
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;
	if ((status = kt_login(kt, s, so_login)) != KT_EXIT_OK ||
	    (status = kt_read_new_pin(kt,
		 how == KT_CHANGE_SO_PIN ? "Enter the new SO PIN: " :
					   "Enter the new PIN: ",
		 &pin, &len)) != KT_EXIT_OK)
		goto out;
	r = how == KT_CHANGE_SO_PIN ? ks_store_set_so_pin(s, pin, len) :
				      ks_store_set_pin(s, pin, len);
	if (r != 0) {
		kt_warnx("cannot set the new %s: %s",
		    how == KT_CHANGE_SO_PIN ? "SO PIN" : "PIN", kmes_err(r));
		status = kt_exit_status(r);
		goto out;
	}
	switch (how) {
	case KT_CHANGE_PIN:
		kt_said("changed the PIN of key store '%s'", ks_store_label(s));
		break;
	case KT_UNBLOCK:
		kt_said("unblocked key store '%s': new PIN set, %d tries",
		    ks_store_label(s), KS_STORE_MAX_TRIES);
		break;
	case KT_CHANGE_SO_PIN:
		kt_said("changed the SO PIN of key store '%s'",
		    ks_store_label(s));
		break;
	}
	status = KT_EXIT_OK;
out:
	kmes_secure_free(pin);
	ks_store_free(s);
	return status;
}

int
kt_open_for_new_key(const struct keytool *kt, const char *label,
    struct ks_store **sp)
{
	struct ks_store *s = NULL;
	int status;

	*sp = NULL;
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		goto out;
	/* Before the PIN: a clash should not cost a PIN entry or a try. */
	if (ks_store_find(s, label) >= 0) {
		kt_warnx("a key labelled '%s' already exists", label);
		status = KT_EXIT_FAIL;
		goto out;
	}
	if ((status = kt_login(kt, s, 0)) != KT_EXIT_OK)
		goto out;
	*sp = s;
	s = NULL;
out:
	ks_store_free(s);
	return status;
}

int
kt_add_key(struct ks_store *s, const char *label, const struct ks_key *key,
    uint32_t flags)
{
	return kt_add_key_id(s, label, key, flags, NULL, 0);
}

int
kt_add_key_id(struct ks_store *s, const char *label, const struct ks_key *key,
    uint32_t flags, const uint8_t *id, size_t id_len)
{
	int r;

	if ((r = ks_store_add_key_id(s, label, key, flags, id, id_len)) != 0) {
		if (r == KMES_ERR_EXISTS && ks_store_find(s, label) == -1)
			kt_warnx("a key with this --id already exists");
		else if (r == KMES_ERR_EXISTS)
			kt_warnx("a key labelled '%s' already exists", label);
		else
			kt_warnx("cannot add the key to the store: %s",
			    kmes_err(r));
	}
	return kt_exit_status(r);
}

long
kt_find_key(const struct ks_store *s, const struct ks_key *key)
{
	struct ks_store_entry e;
	const uint8_t *blob;
	size_t i, len;

	blob = ks_key_blob(key, &len);
	for (i = 0; i < ks_store_count(s); i++) {
		if (ks_store_entry(s, i, &e) == 0 && e.blob_len == len &&
		    memcmp(e.blob, blob, len) == 0)
			return (long)i;
	}
	return -1;
}

int
kt_print_public(const struct ks_key *key, const char *label)
{
	char *line = NULL;
	int r;

	if ((r = ks_key_to_openssh_line(key, label, &line)) != 0)
		return r;
	printf("%s\n", line);
	free(line);
	return 0;
}
