/*
 * token.c: the PKCS#11 rows of kmes-bench. A private SoftHSM2 token gets a
 * key per token row; both agents load the same module the same way
 * (SSH_AGENTC_ADD_SMARTCARD_KEY, as `ssh-add -s` sends it, which kmes-agent
 * serves with the same helper process as --pkcs11) and then sign in the
 * token exactly as they would for a user.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-client.h"
#include "agent-msg.h"
#include "bench.h"
#include "kbuf.h"
#include "kmes-err.h"

#define TOKEN_LABEL "kmes-bench"
#define TOKEN_PIN "123456"
#define TOKEN_SO_PIN "12345678"

static char softhsm_dir[PATH_MAX];

/* Runs argv (searched on PATH) with output to /dev/null; 0 if it exits 0. */
static int
run_quiet(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	extern char **environ;
	pid_t pid;
	int st, err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	    O_WRONLY, 0);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err != 0) {
		fprintf(stderr, "kmes-bench: cannot run %s: %s\n", argv[0],
		    strerror(err));
		return -1;
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "kmes-bench: %s failed\n", argv[0]);
		return -1;
	}
	return 0;
}

int
bench_token_prepare(const char *dir, struct bench_key *keys, size_t nkeys)
{
	char conf[PATH_MAX + 16], tokens[PATH_MAX + 16], id[24];
	FILE *f;
	size_t i;

	if (snprintf(softhsm_dir, sizeof(softhsm_dir), "%s/softhsm", dir) >=
		(int)sizeof(softhsm_dir) ||
	    snprintf(tokens, sizeof(tokens), "%s/tokens", softhsm_dir) >=
		(int)sizeof(tokens) ||
	    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", softhsm_dir) >=
		(int)sizeof(conf))
		return -1;
	if (mkdir(softhsm_dir, 0700) != 0 || mkdir(tokens, 0700) != 0 ||
	    (f = fopen(conf, "w")) == NULL) {
		fprintf(stderr, "kmes-bench: %s: %s\n", softhsm_dir,
		    strerror(errno));
		return -1;
	}
	fprintf(f,
	    "directories.tokendir = %s\nobjectstore.backend = file\n"
	    "log.level = ERROR\n",
	    tokens);
	if (fclose(f) != 0)
		return -1;
	/* Inherited by both agents and so by their PKCS#11 helpers. */
	if (setenv("SOFTHSM2_CONF", conf, 1) != 0)
		return -1;
	{
		char *argv[] = { "softhsm2-util", "--init-token", "--free",
			"--label", TOKEN_LABEL, "--pin", TOKEN_PIN, "--so-pin",
			TOKEN_SO_PIN, NULL };

		if (run_quiet(argv) != 0)
			return -1;
	}
	for (i = 0; i < nkeys; i++) {
		char kt[32];

		if (keys[i].token == NULL)
			continue;
		if (keys[i].type == KS_KEY_RSA)
			snprintf(kt, sizeof(kt), "rsa:%u", keys[i].bits);
		else
			snprintf(kt, sizeof(kt), "EC:prime256v1");
		snprintf(id, sizeof(id), "%02zx", i + 1);
		char *argv[] = { "pkcs11-tool", "--module",
			(char *)BENCH_SOFTHSM_MODULE, "--token-label",
			TOKEN_LABEL, "--login", "--pin", TOKEN_PIN,
			"--keypairgen", "--key-type", kt, "--id", id, "--label",
			(char *)keys[i].token, NULL };

		fprintf(stderr, "kmes-bench: generating %s on the token\n",
		    keys[i].label);
		if (run_quiet(argv) != 0)
			return -1;
	}
	return 0;
}

int
bench_token_add(const struct bench_agent *a)
{
	struct agent_client *ac = NULL;
	struct kbuf *req = NULL;
	int r;

	if ((req = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_put_u8(req, SSH_AGENTC_ADD_SMARTCARD_KEY)) == 0 &&
	    (r = kbuf_put_cstring(req, BENCH_SOFTHSM_MODULE)) == 0 &&
	    (r = kbuf_put_cstring(req, TOKEN_PIN)) == 0 &&
	    (r = agent_client_connect(a->sock, &ac)) == 0)
		r = agent_client_simple(ac, req);
	agent_client_free(ac);
	kbuf_free(req);
	return r;
}

int
bench_token_key(const struct bench_agent *a, struct bench_key *k)
{
	struct agent_client *ac = NULL;
	struct agent_identity *ids = NULL;
	size_t i, n = 0;
	int r;

	if ((r = agent_client_connect(a->sock, &ac)) != 0 ||
	    (r = agent_client_list(ac, &ids, &n)) != 0)
		goto out;
	r = KMES_ERR_KEY_NOT_FOUND;
	for (i = 0; i < n; i++) {
		if (strcmp(ids[i].comment, k->token) != 0)
			continue;
		if (k->key == NULL) {
			if ((r = ks_key_from_blob(ids[i].blob, ids[i].blob_len,
				 &k->key)) != 0)
				goto out;
			k->blob = ks_key_blob(k->key, &k->blob_len);
			r = 0;
		} else {
			/* The other agent must serve the very same key. */
			r = ids[i].blob_len == k->blob_len &&
				memcmp(ids[i].blob, k->blob, k->blob_len) == 0 ?
			    0 :
			    KMES_ERR_KEY_MISMATCH;
		}
		break;
	}
out:
	agent_identities_free(ids, n);
	agent_client_free(ac);
	return r;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
bench_token_cleanup(void)
{
	if (softhsm_dir[0] != '\0')
		(void)nftw(softhsm_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	softhsm_dir[0] = '\0';
}
