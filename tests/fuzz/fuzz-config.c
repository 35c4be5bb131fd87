/*
 * fuzz-config.c: agent.conf (config_parse), the file a user or a dotfiles
 * repository writes and the agent reads before anything else. Whatever the
 * bytes, the parser must return a config that keeps its promises (paths
 * absolute, at most CONFIG_MAX_PKCS11 modules, tokens only under a module,
 * times in range) or an error that names the file and a line.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz-common.h"
#include "kmes-err.h"

#define NAME "fuzz.conf"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* ~/ expands against this. */
	setenv("HOME", "/home/fuzz", 1);
	return 0;
}

static void
check_path(const char *p)
{
	FUZZ_CHECK(p == NULL || p[0] == '/');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config *cfg = (struct agent_config *)1;
	char err[512];
	size_t i, n = sizeof(NAME ":") - 1;
	int r;

	memset(err, 0, sizeof(err));
	r = config_parse(NAME, (const char *)data, size, &cfg, err,
	    sizeof(err));
	FUZZ_CHECK_CODE(r);
	if (r != 0) {
		FUZZ_CHECK(cfg == NULL);
		/* "fuzz.conf:LINE: message", or an allocation failure. */
		if (r != KMES_ERR_ALLOC) {
			FUZZ_CHECK(strncmp(err, NAME ":", n) == 0);
			FUZZ_CHECK(isdigit((unsigned char)err[n]));
		}
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	FUZZ_CHECK(cfg != NULL);
	check_path(cfg->store);
	check_path(cfg->audit_log);
	FUZZ_CHECK(cfg->pin >= -1 && cfg->pin <= 1);
	FUZZ_CHECK(cfg->lock_idle == -1 || cfg->lock_idle > 0);
	FUZZ_CHECK(cfg->lifetime == -1 || cfg->lifetime > 0);
	FUZZ_CHECK(cfg->pkcs11_timeout == -1 ||
	    (cfg->pkcs11_timeout >= 1 && cfg->pkcs11_timeout <= 3600));
	FUZZ_CHECK(cfg->npkcs11 <= CONFIG_MAX_PKCS11);
	for (i = 0; i < cfg->npkcs11; i++) {
		FUZZ_CHECK(cfg->pkcs11[i].module != NULL);
		check_path(cfg->pkcs11[i].module);
		FUZZ_CHECK(cfg->pkcs11[i].token == NULL ||
		    cfg->pkcs11[i].token[0] != '\0');
	}
	for (; i < CONFIG_MAX_PKCS11; i++)
		FUZZ_CHECK(cfg->pkcs11[i].module == NULL &&
		    cfg->pkcs11[i].token == NULL);
	config_free(cfg);
	return 0;
}
