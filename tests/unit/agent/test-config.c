/*
 * test-config.c: agent.conf, the agent's config file: every keyword parses
 * to the field it names; each bad line is refused with "file:LINE:" and
 * the keyword; the file itself must be a small regular file that only its
 * owner can change; and no cut of a good file crashes the parser.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kmes-err.h"
#include "testutil.h"

/* Every keyword, with comments, blank lines, both separators and ~/. */
static const char good_conf[] =
    "# kmes-agent start-up settings\n"
    "\n"
    "store ~/keys/kmes.store\n"
    "pin yes\n"
    "   # an indented comment; a path may hold # so no inline comments\n"
    "\t\n"
    "lock-idle = 15m\n"
    "lifetime=1h30m\n"
    "pkcs11 /usr/lib/softhsm/libsofthsm2.so\n"
    "token  Futurex KMES token 1  \n"
    "pkcs11 ~/lib/libfxpkcs11.so\n"
    "pkcs11 = /usr/lib/softhsm/libsofthsm2.so\n"
    "token\t0123456789abcdef\n"
    "pkcs11-timeout 2m\n"
    "audit-log ~/log/kmes#audit.json\n"
    "pinentry pinentry-gnome3\n"
    "allowed-providers /usr/lib*/*,/opt/fx lib/*\n"
    "allow-remote-pkcs11 yes\n";

#define TEST_HOME "/home/tester"

static void
check_good(const struct agent_config *cfg, const char *name)
{
	ck_assert_str_eq(cfg->path, name);
	ck_assert_str_eq(cfg->store, TEST_HOME "/keys/kmes.store");
	ck_assert_int_eq(cfg->pin, 1);
	ck_assert_int_eq(cfg->lock_idle, 900);
	ck_assert_int_eq(cfg->lifetime, 5400);
	ck_assert_uint_eq(cfg->npkcs11, 3);
	ck_assert_str_eq(cfg->pkcs11[0].module,
	    "/usr/lib/softhsm/libsofthsm2.so");
	ck_assert_str_eq(cfg->pkcs11[0].token, "Futurex KMES token 1");
	ck_assert_str_eq(cfg->pkcs11[1].module,
	    TEST_HOME "/lib/libfxpkcs11.so");
	ck_assert_ptr_null(cfg->pkcs11[1].token);
	ck_assert_str_eq(cfg->pkcs11[2].module,
	    "/usr/lib/softhsm/libsofthsm2.so");
	ck_assert_str_eq(cfg->pkcs11[2].token, "0123456789abcdef");
	ck_assert_int_eq(cfg->pkcs11_timeout, 120);
	ck_assert_str_eq(cfg->audit_log, TEST_HOME "/log/kmes#audit.json");
	ck_assert_str_eq(cfg->pinentry, "pinentry-gnome3");
	ck_assert_str_eq(cfg->allowed_providers, "/usr/lib*/*,/opt/fx lib/*");
	ck_assert_int_eq(cfg->allow_remote_pkcs11, 1);
}

static void
check_unset(const struct agent_config *cfg)
{
	ck_assert_ptr_null(cfg->store);
	ck_assert_ptr_null(cfg->audit_log);
	ck_assert_ptr_null(cfg->pinentry);
	ck_assert_ptr_null(cfg->allowed_providers);
	ck_assert_int_eq(cfg->pin, -1);
	ck_assert_int_eq(cfg->lock_idle, -1);
	ck_assert_int_eq(cfg->lifetime, -1);
	ck_assert_int_eq(cfg->pkcs11_timeout, -1);
	ck_assert_int_eq(cfg->allow_remote_pkcs11, -1);
	ck_assert_uint_eq(cfg->npkcs11, 0);
}

static struct agent_config *
parse_ok(const char *text)
{
	struct agent_config *cfg = (struct agent_config *)1;
	char err[512];
	int r;

	r = config_parse("t.conf", text, strlen(text), &cfg, err, sizeof(err));
	ck_assert_msg(r == 0, "refused: %s", err);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/*
 * Asserts that len bytes of text are refused, with a message that starts
 * "t.conf:LINE: " and holds needle; returns the message for more checks.
 */
static const char *
parse_bad_len(const char *text, size_t len, size_t line, const char *needle)
{
	static char err[512];
	struct agent_config *cfg = (struct agent_config *)1;
	char where[64];
	int r;

	r = config_parse("t.conf", text, len, &cfg, err, sizeof(err));
	ck_assert_int_eq(r, KMES_ERR_INVALID_FORMAT);
	ck_assert_ptr_null(cfg);
	snprintf(where, sizeof(where), "t.conf:%zu: ", line);
	ck_assert_msg(strncmp(err, where, strlen(where)) == 0,
	    "\"%s\" does not start with \"%s\"", err, where);
	ck_assert_msg(strstr(err, needle) != NULL, "\"%s\" does not say \"%s\"",
	    err, needle);
	return err;
}

static const char *
parse_bad(const char *text, size_t line, const char *needle)
{
	return parse_bad_len(text, strlen(text), line, needle);
}

START_TEST(test_every_keyword_parses_to_its_field)
{
	struct agent_config *cfg;

	ck_assert_int_eq(setenv("HOME", TEST_HOME "/", 1), 0);
	cfg = parse_ok(good_conf);
	check_good(cfg, "t.conf");
	config_free(cfg);
}
END_TEST

START_TEST(test_crlf_line_endings_parse_like_lf)
{
	struct agent_config *cfg;
	char text[2 * sizeof(good_conf)];
	size_t i, n = 0;

	ck_assert_int_eq(setenv("HOME", TEST_HOME, 1), 0);
	for (i = 0; good_conf[i] != '\0'; i++) {
		if (good_conf[i] == '\n')
			text[n++] = '\r';
		text[n++] = good_conf[i];
	}
	text[n] = '\0';
	cfg = parse_ok(text);
	check_good(cfg, "t.conf");
	config_free(cfg);
}
END_TEST

START_TEST(test_empty_and_comment_only_text_leaves_everything_unset)
{
	struct agent_config *cfg;

	cfg = parse_ok("");
	check_unset(cfg);
	config_free(cfg);
	cfg = parse_ok("# nothing\n\n   \n\t# still nothing");
	check_unset(cfg);
	config_free(cfg);
	config_free(NULL);
}
END_TEST

START_TEST(test_last_line_needs_no_newline_and_no_is_a_pin_answer)
{
	struct agent_config *cfg;

	cfg = parse_ok("pin no");
	ck_assert_int_eq(cfg->pin, 0);
	config_free(cfg);
	cfg = parse_ok("pinentry /usr/bin/pinentry-curses\nlifetime 1");
	ck_assert_str_eq(cfg->pinentry, "/usr/bin/pinentry-curses");
	ck_assert_int_eq(cfg->lifetime, 1);
	config_free(cfg);
}
END_TEST

START_TEST(test_time_limits_are_inclusive)
{
	struct agent_config *cfg;

	cfg = parse_ok("pkcs11-timeout 1\nlock-idle 1s\n");
	ck_assert_int_eq(cfg->pkcs11_timeout, 1);
	ck_assert_int_eq(cfg->lock_idle, 1);
	config_free(cfg);
	cfg = parse_ok("pkcs11-timeout 1h\nlifetime 2w\n");
	ck_assert_int_eq(cfg->pkcs11_timeout, 3600);
	ck_assert_int_eq(cfg->lifetime, 2 * 604800);
	config_free(cfg);
}
END_TEST

START_TEST(test_unknown_keyword_is_named_and_case_matters)
{
	parse_bad("store /a\nStore /b\n", 2, "unknown keyword \"Store\"");
	parse_bad("# c\n\npassword hunter2\n", 3,
	    "unknown keyword \"password\"");
	parse_bad("store=/a\n= /b\n", 2, "missing keyword");
}
END_TEST

START_TEST(test_messages_quote_no_control_characters)
{
	const char *err;

	err = parse_bad("\x1b]0;pwned\x07 x\n", 1, "unknown keyword");
	ck_assert_ptr_null(strchr(err, '\x1b'));
	ck_assert_ptr_null(strchr(err, '\x07'));
	err = parse_bad("store \x1b[2Jrel/path\n", 1, "store:");
	ck_assert_ptr_null(strchr(err, '\x1b'));
}
END_TEST

START_TEST(test_missing_value_names_keyword)
{
	parse_bad("pin yes\n\nlifetime\n", 3, "lifetime: missing value");
	parse_bad("store =  \n", 1, "store: missing value");
	parse_bad("pkcs11 /a.so\ntoken\t\n", 2, "token: missing value");
}
END_TEST

START_TEST(test_bad_time_names_keyword)
{
	parse_bad("lock-idle 15 minutes\n", 1, "lock-idle: bad time");
	parse_bad("\nlifetime 1y\n", 2, "lifetime: bad time");
	parse_bad("pkcs11-timeout -5\n", 1, "pkcs11-timeout: bad time");
}
END_TEST

START_TEST(test_time_out_of_range_names_keyword)
{
	parse_bad("pkcs11-timeout 3601\n", 1,
	    "pkcs11-timeout: \"3601\" is "
	    "out of range");
	parse_bad("pkcs11-timeout 0\n", 1, "pkcs11-timeout:");
	parse_bad("lock-idle 0\n", 1, "lock-idle: \"0\" is out of range");
	parse_bad("# \nlifetime 0s\n", 2, "lifetime: \"0s\" is out of range");
}
END_TEST

START_TEST(test_pin_other_than_yes_or_no_is_refused_unquoted)
{
	const char *err;

	err = parse_bad("pin 493817\n", 1, "pin: expected yes or no");
	ck_assert_ptr_null(strstr(err, "493817"));
	parse_bad("pin YES\n", 1, "pin:");
	parse_bad("pin yes please\n", 1, "pin:");
}
END_TEST

START_TEST(test_allow_remote_pkcs11_takes_only_yes_or_no)
{
	struct agent_config *cfg;

	cfg = parse_ok("allow-remote-pkcs11 no\n");
	ck_assert_int_eq(cfg->allow_remote_pkcs11, 0);
	config_free(cfg);
	cfg = parse_ok("allow-remote-pkcs11 = yes");
	ck_assert_int_eq(cfg->allow_remote_pkcs11, 1);
	config_free(cfg);
	/* A typo must not open the hole, nor silently leave it shut. */
	parse_bad("allow-remote-pkcs11 1\n", 1,
	    "allow-remote-pkcs11: \"1\" is not yes or no");
	parse_bad("\nallow-remote-pkcs11 Yes\n", 2, "allow-remote-pkcs11:");
	parse_bad("allow-remote-pkcs11\n", 1,
	    "allow-remote-pkcs11: missing value");
}
END_TEST

START_TEST(test_relative_paths_are_refused)
{
	parse_bad("store keys/kmes\n", 1,
	    "store: \"keys/kmes\" is not an "
	    "absolute path");
	parse_bad("\n\naudit-log audit.json\n", 3, "audit-log:");
	parse_bad("pkcs11 ./libfx.so\n", 1, "pkcs11:");
	parse_bad("store ~alice/keystore\n", 1, "store:");
	parse_bad("store ~\n", 1, "store:");
	parse_bad("pinentry bin/pinentry\n", 1, "pinentry:");
}
END_TEST

START_TEST(test_tilde_needs_an_absolute_home)
{
	struct agent_config *cfg;

	ck_assert_int_eq(unsetenv("HOME"), 0);
	parse_bad("store /a\naudit-log ~/audit\n", 2,
	    "audit-log: ~/ needs HOME");
	ck_assert_int_eq(setenv("HOME", "home/tester", 1), 0);
	parse_bad("pkcs11 ~/lib.so\n", 1, "pkcs11: ~/ needs HOME");
	/* HOME=/ gives "/ks", not "//ks". */
	ck_assert_int_eq(setenv("HOME", "/", 1), 0);
	cfg = parse_ok("store ~/ks\npinentry ~/bin/pe\n");
	ck_assert_str_eq(cfg->store, "/ks");
	ck_assert_str_eq(cfg->pinentry, "/bin/pe");
	config_free(cfg);
}
END_TEST

START_TEST(test_token_before_any_pkcs11_is_refused)
{
	parse_bad("store /a\ntoken mytoken\npkcs11 /b.so\n", 2,
	    "token: no pkcs11 line before it");
}
END_TEST

START_TEST(test_second_token_for_one_module_is_refused)
{
	const char *err;

	err = parse_bad("pkcs11 /a.so\ntoken one\n# c\ntoken two\n", 4,
	    "token: the pkcs11 module of line 1 already has a token "
	    "(line 2)");
	ck_assert_ptr_nonnull(strstr(err, "repeat the pkcs11 line"));
}
END_TEST

START_TEST(test_more_than_max_pkcs11_lines_is_refused)
{
	char text[64 * (CONFIG_MAX_PKCS11 + 1)];
	struct agent_config *cfg;
	size_t i, n = 0;

	for (i = 0; i < CONFIG_MAX_PKCS11; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "pkcs11 /m%zu.so\ntoken t%zu\n", i, i);
	cfg = parse_ok(text);
	ck_assert_uint_eq(cfg->npkcs11, CONFIG_MAX_PKCS11);
	ck_assert_str_eq(cfg->pkcs11[CONFIG_MAX_PKCS11 - 1].token, "t7");
	config_free(cfg);
	snprintf(text + n, sizeof(text) - n, "pkcs11 /extra.so\n");
	parse_bad(text, 2 * CONFIG_MAX_PKCS11 + 1, "pkcs11: more than 8");
}
END_TEST

static const char *const singletons[] = {
	"store /a",
	"pin no",
	"pkcs11-timeout 5",
	"lock-idle 5",
	"lifetime 5",
	"audit-log /l",
	"pinentry pe",
	"allowed-providers /x/*",
	"allow-remote-pkcs11 no",
};

START_TEST(test_singleton_given_twice_names_first_line)
{
	char text[256], keyword[32], needle[96];

	snprintf(text, sizeof(text), "# c\n%s\n\n%s\n", singletons[_i],
	    singletons[_i]);
	snprintf(keyword, sizeof(keyword), "%.*s",
	    (int)strcspn(singletons[_i], " "), singletons[_i]);
	snprintf(needle, sizeof(needle), "%s given twice (first on line 2)",
	    keyword);
	parse_bad(text, 4, needle);
}
END_TEST

START_TEST(test_line_over_1024_bytes_is_refused)
{
	char text[2048];
	struct agent_config *cfg;

	memset(text, 0, sizeof(text));
	memcpy(text, "pin yes\n#", 9);
	memset(text + 9, 'x', 1023); /* line 2: exactly 1024 bytes */
	text[9 + 1023] = '\n';
	cfg = parse_ok(text);
	config_free(cfg);
	text[9 + 1023] = 'x'; /* now 1025 */
	parse_bad(text, 2, "line longer than 1024 bytes");
	/* The CR of a CRLF line end is not the line's: 1024 bytes fit. */
	text[9 + 1023] = '\r';
	text[9 + 1024] = '\n';
	cfg = parse_ok(text);
	config_free(cfg);
	text[9 + 1024] = 'x'; /* 1024 bytes, a CR, one more */
	parse_bad(text, 2, "line longer than 1024 bytes");
}
END_TEST

START_TEST(test_nul_byte_is_refused_not_truncated_at)
{
	static const char text[] = "pin no\nstore /home/a\0/evil\n";

	parse_bad_len(text, sizeof(text) - 1, 2, "NUL byte");
}
END_TEST

START_TEST(test_error_clears_outputs_and_tolerates_no_buffer)
{
	struct agent_config *cfg = (struct agent_config *)1;
	char err[8];

	ck_assert_int_eq(config_parse("t.conf", "bogus 1", 7, &cfg, NULL, 0),
	    KMES_ERR_INVALID_FORMAT);
	ck_assert_ptr_null(cfg);
	/* A short buffer is cut, still NUL-terminated. */
	ck_assert_int_eq(config_parse("t.conf", "bogus 1", 7, &cfg, err,
			     sizeof(err)),
	    KMES_ERR_INVALID_FORMAT);
	ck_assert_str_eq(err, "t.conf:");
	ck_assert_int_eq(config_parse("t.conf", NULL, 1, &cfg, err,
			     sizeof(err)),
	    KMES_ERR_INVALID_ARGUMENT);
}
END_TEST

/* How many lines len bytes of text start, counting a partial last one. */
static size_t
count_lines(const char *text, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (text[i] == '\n')
			n++;
	return n + (len > 0 && text[len - 1] != '\n');
}

/* Returns the N of an "name:N: " prefix, or 0 if err has none. */
static size_t
error_line(const char *err, const char *name)
{
	size_t nlen = strlen(name);
	unsigned long line;
	char *end;

	if (strncmp(err, name, nlen) != 0 || err[nlen] != ':')
		return 0;
	errno = 0;
	line = strtoul(err + nlen + 1, &end, 10);
	if (errno != 0 || end == err + nlen + 1 || strncmp(end, ": ", 2) != 0)
		return 0;
	return line;
}

START_TEST(test_every_cut_of_good_file_parses_or_names_its_last_line)
{
	struct agent_config *cfg;
	char err[512];
	size_t len, lines;
	int r;

	ck_assert_int_eq(setenv("HOME", TEST_HOME, 1), 0);
	for (len = 0; len <= sizeof(good_conf) - 1; len++) {
		cfg = (struct agent_config *)1;
		r = config_parse("cut.conf", good_conf, len, &cfg, err,
		    sizeof(err));
		lines = count_lines(good_conf, len);
		if (r == 0) {
			ck_assert_ptr_nonnull(cfg);
			config_free(cfg);
			continue;
		}
		ck_assert_int_eq(r, KMES_ERR_INVALID_FORMAT);
		ck_assert_ptr_null(cfg);
		/* Only the cut line can be wrong: the ones before it parsed. */
		ck_assert_msg(error_line(err, "cut.conf") == lines,
		    "cut at %zu: \"%s\", expected line %zu", len, err, lines);
	}
}
END_TEST

START_TEST(test_any_byte_swapped_in_good_file_parses_or_names_a_line)
{
	static const char swaps[] = { '\0', '\n', '\r', '=', '#', ' ', '~', '/',
		(char)0x80, (char)0xff, 'Z' };
	char text[sizeof(good_conf)], err[512];
	struct agent_config *cfg;
	size_t i, j, len = sizeof(good_conf) - 1, line;
	int r;

	ck_assert_int_eq(setenv("HOME", TEST_HOME, 1), 0);
	for (i = 0; i < len; i++) {
		for (j = 0; j < sizeof(swaps); j++) {
			memcpy(text, good_conf, sizeof(good_conf));
			text[i] = swaps[j];
			cfg = (struct agent_config *)1;
			r = config_parse("fuzz.conf", text, len, &cfg, err,
			    sizeof(err));
			if (r == 0) {
				config_free(cfg);
				continue;
			}
			ck_assert_int_eq(r, KMES_ERR_INVALID_FORMAT);
			ck_assert_ptr_null(cfg);
			line = error_line(err, "fuzz.conf");
			ck_assert_msg(line >= 1 &&
				line <= count_lines(text, len),
			    "byte %zu = %#x: "
			    "\"%s\"",
			    i, (unsigned)(unsigned char)swaps[j], err);
		}
	}
}
END_TEST

START_TEST(test_default_path_follows_xdg_then_home)
{
	char *p;

	ck_assert_int_eq(setenv("XDG_CONFIG_HOME", "/xdg/conf", 1), 0);
	ck_assert_int_eq(setenv("HOME", TEST_HOME, 1), 0);
	p = config_default_path();
	ck_assert_str_eq(p, "/xdg/conf/kmes/agent.conf");
	free(p);
	/* The XDG spec ignores a relative XDG_CONFIG_HOME. */
	ck_assert_int_eq(setenv("XDG_CONFIG_HOME", "conf", 1), 0);
	p = config_default_path();
	ck_assert_str_eq(p, TEST_HOME "/.config/kmes/agent.conf");
	free(p);
	ck_assert_int_eq(unsetenv("XDG_CONFIG_HOME"), 0);
	ck_assert_int_eq(setenv("HOME", "relative", 1), 0);
	ck_assert_ptr_null(config_default_path());
	ck_assert_int_eq(unsetenv("HOME"), 0);
	ck_assert_ptr_null(config_default_path());
}
END_TEST

/* File-level tests: real files in a scratch directory. */

static void
scratch_setup(void)
{
	ck_assert_int_eq(tu_setup("config"), 0);
	ck_assert_int_eq(setenv("HOME", TEST_HOME, 1), 0);
}

static void
scratch_teardown(void)
{
	tu_teardown();
}

static char path_buf[512];

/* Returns the scratch path of name (valid until the next call). */
static const char *
scratch_path(const char *name)
{
	snprintf(path_buf, sizeof(path_buf), "%s/%s", tu_dir(), name);
	return path_buf;
}

/* Writes a scratch file with exactly mode, whatever the umask. */
static const char *
write_conf(const char *name, const char *text, size_t len, mode_t mode)
{
	ck_assert_int_eq(tu_write(name, text, len), 0);
	ck_assert_int_eq(chmod(scratch_path(name), mode), 0);
	return scratch_path(name);
}

/* Asserts path is refused with code r and "path: " + needle. */
static void
load_bad(const char *path, int must_exist, int r, const char *needle)
{
	struct agent_config *cfg = (struct agent_config *)1;
	char err[1024], want[600];

	ck_assert_int_eq(config_load(path, must_exist, &cfg, err, sizeof(err)),
	    r);
	ck_assert_ptr_null(cfg);
	snprintf(want, sizeof(want), "%s: ", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "\"%s\" does not name %s", err, path);
	ck_assert_msg(strstr(err, needle) != NULL, "\"%s\" does not say \"%s\"",
	    err, needle);
}

START_TEST(test_good_file_loads)
{
	struct agent_config *cfg = NULL;
	char err[1024], path[512];

	snprintf(path, sizeof(path), "%s",
	    write_conf("agent.conf", good_conf, sizeof(good_conf) - 1, 0600));
	ck_assert_msg(config_load(path, 1, &cfg, err, sizeof(err)) == 0, "%s",
	    err);
	check_good(cfg, path);
	config_free(cfg);
}
END_TEST

START_TEST(test_missing_optional_file_is_an_empty_config)
{
	struct agent_config *cfg = NULL;
	char err[1024], path[512];

	snprintf(path, sizeof(path), "%s", scratch_path("nonexistent.conf"));
	ck_assert_int_eq(config_load(path, 0, &cfg, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->path, path);
	check_unset(cfg);
	config_free(cfg);
}
END_TEST

START_TEST(test_missing_required_file_is_named)
{
	char path[512];

	snprintf(path, sizeof(path), "%s", scratch_path("nonexistent.conf"));
	load_bad(path, 1, KMES_ERR_SYSTEM, strerror(ENOENT));
}
END_TEST

START_TEST(test_group_or_other_writable_file_is_refused)
{
	char path[512], want[600];

	snprintf(path, sizeof(path), "%s",
	    write_conf("g.conf", "pin no\n", 7, 0620));
	snprintf(want, sizeof(want),
	    "writable by group or others; run "
	    "chmod go-w %s",
	    path);
	load_bad(path, 0, KMES_ERR_DENIED, want);
	snprintf(path, sizeof(path), "%s",
	    write_conf("o.conf", "pin no\n", 7, 0602));
	load_bad(path, 1, KMES_ERR_DENIED, "writable by group or others");
}
END_TEST

START_TEST(test_file_of_another_user_is_refused)
{
	char path[512];

	/* Only root can give a file away; like the hardening test, this
	 * one needs root rather than passing without checking anything. */
	ck_assert_msg(geteuid() == 0,
	    "needs root to chown a file to another "
	    "user (run the suite as root, as CI does)");
	snprintf(path, sizeof(path), "%s",
	    write_conf("u.conf", "pin no\n", 7, 0644));
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	load_bad(path, 0, KMES_ERR_DENIED, "owned by uid 65534");
}
END_TEST

START_TEST(test_directory_and_fifo_are_refused_without_blocking)
{
	char path[512];

	snprintf(path, sizeof(path), "%s", scratch_path("dir.conf"));
	ck_assert_int_eq(mkdir(path, 0700), 0);
	load_bad(path, 0, KMES_ERR_INVALID_ARGUMENT, "not a regular file");
	snprintf(path, sizeof(path), "%s", scratch_path("fifo.conf"));
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	/* With no writer a blocking open would hang here until the timeout. */
	load_bad(path, 0, KMES_ERR_INVALID_ARGUMENT, "not a regular file");
}
END_TEST

START_TEST(test_file_over_64_kib_is_refused)
{
	struct agent_config *cfg = NULL;
	size_t max = 64 * 1024, i;
	char *text, err[1024], path[512];

	ck_assert_ptr_nonnull(text = malloc(max + 1));
	/* 1024 comment lines of 64 bytes: exactly the cap. */
	for (i = 0; i < max; i += 64) {
		memset(text + i, '#', 63);
		text[i + 63] = '\n';
	}
	snprintf(path, sizeof(path), "%s",
	    write_conf("max.conf", text, max, 0600));
	ck_assert_msg(config_load(path, 1, &cfg, err, sizeof(err)) == 0, "%s",
	    err);
	config_free(cfg);
	text[max] = '#';
	snprintf(path, sizeof(path), "%s",
	    write_conf("big.conf", text, max + 1, 0600));
	load_bad(path, 1, KMES_ERR_MESSAGE_TOO_LARGE, "larger than 64 KiB");
	free(text);
}
END_TEST

START_TEST(test_symlink_to_good_file_loads_and_target_is_checked)
{
	struct agent_config *cfg = NULL;
	char err[1024], target[512], link[512];

	snprintf(target, sizeof(target), "%s",
	    write_conf("dotfiles.conf", good_conf, sizeof(good_conf) - 1,
		0644));
	snprintf(link, sizeof(link), "%s", scratch_path("agent.conf"));
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_msg(config_load(link, 1, &cfg, err, sizeof(err)) == 0, "%s",
	    err);
	check_good(cfg, link);
	config_free(cfg);
	/* The link's own mode means nothing; the target's is what counts. */
	ck_assert_int_eq(chmod(target, 0666), 0);
	load_bad(link, 1, KMES_ERR_DENIED, "writable by group or others");
}
END_TEST

START_TEST(test_bad_line_in_file_names_path_and_line)
{
	struct agent_config *cfg = (struct agent_config *)1;
	char err[1024], path[512], want[600];

	snprintf(path, sizeof(path), "%s",
	    write_conf("bad.conf", "pin yes\nlock-idle soon\n", 23, 0600));
	ck_assert_int_eq(config_load(path, 1, &cfg, err, sizeof(err)),
	    KMES_ERR_INVALID_FORMAT);
	ck_assert_ptr_null(cfg);
	snprintf(want, sizeof(want), "%s:2: lock-idle: bad time", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_every_keyword_parses_to_its_field);
	tcase_add_test(tc, test_crlf_line_endings_parse_like_lf);
	tcase_add_test(tc,
	    test_empty_and_comment_only_text_leaves_everything_unset);
	tcase_add_test(tc,
	    test_last_line_needs_no_newline_and_no_is_a_pin_answer);
	tcase_add_test(tc, test_time_limits_are_inclusive);
	tcase_add_test(tc, test_default_path_follows_xdg_then_home);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad lines");
	tcase_add_test(tc, test_unknown_keyword_is_named_and_case_matters);
	tcase_add_test(tc, test_messages_quote_no_control_characters);
	tcase_add_test(tc, test_missing_value_names_keyword);
	tcase_add_test(tc, test_bad_time_names_keyword);
	tcase_add_test(tc, test_time_out_of_range_names_keyword);
	tcase_add_test(tc, test_pin_other_than_yes_or_no_is_refused_unquoted);
	tcase_add_test(tc, test_allow_remote_pkcs11_takes_only_yes_or_no);
	tcase_add_test(tc, test_relative_paths_are_refused);
	tcase_add_test(tc, test_tilde_needs_an_absolute_home);
	tcase_add_test(tc, test_token_before_any_pkcs11_is_refused);
	tcase_add_test(tc, test_second_token_for_one_module_is_refused);
	tcase_add_test(tc, test_more_than_max_pkcs11_lines_is_refused);
	tcase_add_loop_test(tc, test_singleton_given_twice_names_first_line, 0,
	    sizeof(singletons) / sizeof(singletons[0]));
	tcase_add_test(tc, test_line_over_1024_bytes_is_refused);
	tcase_add_test(tc, test_nul_byte_is_refused_not_truncated_at);
	tcase_add_test(tc, test_error_clears_outputs_and_tolerates_no_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc,
	    test_every_cut_of_good_file_parses_or_names_its_last_line);
	tcase_add_test(tc,
	    test_any_byte_swapped_in_good_file_parses_or_names_a_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_good_file_loads);
	tcase_add_test(tc, test_missing_optional_file_is_an_empty_config);
	tcase_add_test(tc, test_missing_required_file_is_named);
	tcase_add_test(tc, test_group_or_other_writable_file_is_refused);
	tcase_add_test(tc, test_file_of_another_user_is_refused);
	tcase_add_test(tc,
	    test_directory_and_fifo_are_refused_without_blocking);
	tcase_add_test(tc, test_file_over_64_kib_is_refused);
	tcase_add_test(tc,
	    test_symlink_to_good_file_loads_and_target_is_checked);
	tcase_add_test(tc, test_bad_line_in_file_names_path_and_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(config_suite());
}
