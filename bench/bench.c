/*
 * bench.c: kmes-bench, kmes-agent against OpenSSH's ssh-agent.
 *
 * Both agents run at once as foreground children, are loaded with the same
 * freshly generated keys, and are driven in turn by the same client code,
 * so the only thing that differs between two numbers in a row is the agent.
 * The result is a Markdown report on stdout; progress goes to stderr.
 *
 * Exit status: 0 if every request succeeded (whether or not the targets
 * were met), 1 if an agent failed a request or died, 2 on usage or setup
 * errors.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "kmes-err.h"
#include "testkit.h"

#ifndef KMES_BENCH_AGENT
#define KMES_BENCH_AGENT NULL
#endif
#define DEFAULT_SSH_AGENT "/usr/bin/ssh-agent"
#define DEFAULT_SECONDS 3.0
#define START_TIMEOUT_MS 10000
/* Slices per cell and agent, alternating which agent goes first. */
#define SLICES 4
/* How long to time in-process signing, the agents' ceiling. */
#define CEILING_SECONDS 1.0

/* kmes-agent 8-client throughput over its 1-client throughput. */
#define SCALING_TARGET 1.7
#define SCALING_CORES 2

enum { KMES = 0, SSH = 1, NAGENTS };

static struct bench_key keys[] = {
	{ .label = "Ed25519",
	    .type = KS_KEY_ED25519,
	    .sigalg = "ssh-ed25519",
	    .target = 15.0 },
	{ .label = "ECDSA P-256",
	    .type = KS_KEY_ECDSA_P256,
	    .bits = 256,
	    .sigalg = "ecdsa-sha2-nistp256",
	    .target = 10.0 },
	{ .label = "RSA-3072",
	    .type = KS_KEY_RSA,
	    .bits = 3072,
	    .flags = KS_SIGN_RSA_SHA2_512,
	    .sigalg = "rsa-sha2-512",
	    .target = 1.3 },
	/* Keys in a SoftHSM2 token: kmes-agent's helper process against
	 * ssh-agent's ssh-pkcs11-helper, same module, same keys. */
	{ .label = "Token P-256",
	    .type = KS_KEY_ECDSA_P256,
	    .bits = 256,
	    .sigalg = "ecdsa-sha2-nistp256",
	    .target = 3.0,
	    .token = "bench-p256" },
	{ .label = "Token RSA-2048",
	    .type = KS_KEY_RSA,
	    .bits = 2048,
	    .flags = KS_SIGN_RSA_SHA2_512,
	    .sigalg = "rsa-sha2-512",
	    .target = 3.0,
	    .token = "bench-rsa" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const unsigned int nclients[] = { 1, 8 };
#define NCOUNTS (sizeof(nclients) / sizeof(nclients[0]))

static struct bench_result results[NKEYS][NCOUNTS][NAGENTS];

static void
usage(void)
{
	fprintf(stderr,
	    "usage: kmes-bench [--kmes path] [--ssh-agent path] "
	    "[--seconds s] [--keep] [kmes-agent]\n");
	exit(2);
}

static const char *
cpu_model(char *buf, size_t len)
{
	char line[256], *p;
	FILE *f;

	snprintf(buf, len, "unknown CPU");
	if ((f = fopen("/proc/cpuinfo", "re")) == NULL)
		return buf;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) != 0 ||
		    (p = strchr(line, ':')) == NULL)
			continue;
		p += strspn(p + 1, " \t") + 1;
		p[strcspn(p, "\n")] = '\0';
		snprintf(buf, len, "%s", p);
		break;
	}
	fclose(f);
	return buf;
}

/* Latency in µs: one decimal while it is small enough to matter. */
static void
fmt_us(char *buf, size_t len, double us)
{
	if (us < 100)
		snprintf(buf, len, "%.1f", us);
	else
		snprintf(buf, len, "%.0f", us);
}

static void
fmt_lat(char *buf, size_t len, const struct bench_result *r)
{
	char a[24], b[24];

	if (r->failed) {
		snprintf(buf, len, "—");
		return;
	}
	fmt_us(a, sizeof(a), r->p50_us);
	fmt_us(b, sizeof(b), r->p99_us);
	snprintf(buf, len, "%s / %s", a, b);
}

static void
fmt_rate(char *buf, size_t len, const struct bench_result *r)
{
	if (r->failed)
		snprintf(buf, len, "FAIL");
	else
		snprintf(buf, len, "%.0f", r->rate);
}

static void
fmt_mib(char *buf, size_t len, long kb)
{
	if (kb < 0)
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%.1f MiB", (double)kb / 1024);
}

static int
report(const struct bench_agent *agents, double seconds)
{
	const struct bench_result *k, *s;
	char cpu[128], kr[32], sr[32], kl[64], sl[64], m1[32], m2[32];
	double ratio, ks, ss;
	size_t i, j, a;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int failed = 0;

	printf("### kmes-agent vs OpenSSH ssh-agent\n\n");
	printf(
	    "%s, %ld online CPU%s. Each agent runs %.1f s per row, in %d "
	    "slices taken in turn with the other agent; each client signs "
	    "%d–%d bytes per request in a closed loop on its own "
	    "connection; RSA signs rsa-sha2-512; every client's first and "
	    "last signature is verified. Latency is per request, measured by "
	    "the client.\n\n",
	    cpu_model(cpu, sizeof(cpu)), ncpu, ncpu == 1 ? "" : "s", seconds,
	    SLICES, BENCH_DATA_MIN, BENCH_DATA_MAX);
	printf("| Key | Clients | kmes sig/s | ssh-agent sig/s | Ratio "
	       "| kmes p50 / p99 µs | ssh-agent p50 / p99 µs | Target |\n");
	printf("|:--|--:|--:|--:|--:|--:|--:|:--|\n");
	for (i = 0; i < NKEYS; i++) {
		for (j = 0; j < NCOUNTS; j++) {
			k = &results[i][j][KMES];
			s = &results[i][j][SSH];
			fmt_rate(kr, sizeof(kr), k);
			fmt_rate(sr, sizeof(sr), s);
			fmt_lat(kl, sizeof(kl), k);
			fmt_lat(sl, sizeof(sl), s);
			if (k->failed || s->failed || s->rate <= 0) {
				printf("| %s | %u | %s | %s | — | %s | %s | "
				       "≥ %.1f× FAIL |\n",
				    keys[i].label, nclients[j], kr, sr, kl, sl,
				    keys[i].target);
				continue;
			}
			ratio = k->rate / s->rate;
			printf("| %s | %u | %s | %s | %.2f× | %s | %s | "
			       "≥ %.1f× %s |\n",
			    keys[i].label, nclients[j], kr, sr, ratio, kl, sl,
			    keys[i].target,
			    ratio >= keys[i].target ? "PASS" : "MISS");
		}
	}

	printf("\n| 8 clients vs 1 client | kmes-agent | ssh-agent | "
	       "Target (kmes ≥ %.1f× on %d cores) |\n",
	    SCALING_TARGET, SCALING_CORES);
	printf("|:--|--:|--:|:--|\n");
	for (i = 0; i < NKEYS; i++) {
		const struct bench_result *k1 = &results[i][0][KMES];
		const struct bench_result *k8 = &results[i][NCOUNTS - 1][KMES];
		const struct bench_result *s1 = &results[i][0][SSH];
		const struct bench_result *s8 = &results[i][NCOUNTS - 1][SSH];

		if (k1->failed || k8->failed || k1->rate <= 0) {
			printf("| %s | — | — | FAIL |\n", keys[i].label);
			continue;
		}
		ks = k8->rate / k1->rate;
		ss = s1->failed || s8->failed || s1->rate <= 0 ?
		    0 :
		    s8->rate / s1->rate;
		printf("| %s | %.2f× | %.2f× | %s%s |\n", keys[i].label, ks, ss,
		    ks >= SCALING_TARGET ? "PASS" : "MISS",
		    ncpu == SCALING_CORES ? "" : " (other core count)");
	}

	/*
	 * What the machine can do with no agent in the way: the 1-client
	 * targets against one core, the 8-client rows against all of them.
	 */
	printf("\n| Key | In-process signing, 1 thread (sig/s) | The same, "
	       "%d threads | 1-client target (ssh-agent × ratio, sig/s) |\n",
	    SCALING_CORES);
	printf("|:--|--:|--:|--:|\n");
	for (i = 0; i < NKEYS; i++) {
		s = &results[i][0][SSH];
		if (s->failed)
			snprintf(m1, sizeof(m1), "—");
		else
			snprintf(m1, sizeof(m1), "%.0f",
			    s->rate * keys[i].target);
		if (keys[i].token != NULL)
			continue;
		printf("| %s | %.0f | %.0f | %s |\n", keys[i].label,
		    keys[i].ceiling1, keys[i].ceiling2, m1);
	}

	printf("\n| Agent | Peak RSS (VmHWM) | RSS at the end |\n");
	printf("|:--|--:|--:|\n");
	for (i = 0; i < NAGENTS; i++) {
		fmt_mib(m1, sizeof(m1), agents[i].hwm_kb);
		fmt_mib(m2, sizeof(m2), agents[i].rss_kb);
		printf("| %s | %s | %s |\n", agents[i].name, m1, m2);
	}

	for (i = 0; i < NKEYS; i++) {
		for (j = 0; j < NCOUNTS; j++) {
			for (a = 0; a < NAGENTS; a++) {
				if (!results[i][j][a].failed)
					continue;
				if (failed++ == 0)
					printf("\nFailures:\n\n");
				printf("- %s, %s, %u client%s: %s\n",
				    agents[a].name, keys[i].label, nclients[j],
				    nclients[j] == 1 ? "" : "s",
				    results[i][j][a].why);
			}
		}
	}
	fflush(stdout);
	return failed;
}

/*
 * One cell: both agents, SLICES slices each, in the order ABBA ABBA, so
 * that drift in the machine's speed (frequency, noisy neighbours) falls on
 * both alike instead of on whichever agent happens to run second.
 */
static int
run_cell(struct bench_agent *agents, size_t ki, size_t ci, double seconds,
    struct bench_samples *samples)
{
	struct bench_result *res;
	size_t sl, o, a;
	int r;

	for (a = 0; a < NAGENTS; a++) {
		memset(&results[ki][ci][a], 0, sizeof(results[ki][ci][a]));
		bench_samples_rewind(&samples[a]);
	}
	for (sl = 0; sl < SLICES; sl++) {
		for (o = 0; o < NAGENTS; o++) {
			a = sl % 2 == 0 ? o : NAGENTS - 1 - o;
			res = &results[ki][ci][a];
			/* Once broken, an agent is not asked again. */
			if (res->failed)
				continue;
			if (!bench_agent_alive(&agents[a])) {
				res->failed = 1;
				snprintf(res->why, sizeof(res->why),
				    "the agent is not running any more");
				continue;
			}
			if ((r = bench_run_slice(agents[a].sock, &keys[ki],
				 nclients[ci], seconds / SLICES, &samples[a],
				 res)) != 0)
				return r;
		}
	}
	for (a = 0; a < NAGENTS; a++) {
		res = &results[ki][ci][a];
		if ((r = bench_cell_finish(&samples[a], nclients[ci], res)) !=
		    0)
			return r;
		fprintf(stderr,
		    "%-11s %u client%s %-10s %9.0f sig/s  "
		    "p50 %8.1f µs  p99 %8.1f µs%s%s\n",
		    keys[ki].label, nclients[ci], nclients[ci] == 1 ? " " : "s",
		    agents[a].name, res->rate, res->p50_us, res->p99_us,
		    res->failed ? "  FAILED: " : "",
		    res->failed ? res->why : "");
	}
	return 0;
}

/* Returns how many cells failed, or -1 if the benchmark itself broke. */
static int
run_all(struct bench_agent *agents, double seconds,
    struct bench_samples *samples)
{
	size_t i, j, a;
	int r, failed = 0;

	for (i = 0; i < NKEYS; i++) {
		for (j = 0; j < NCOUNTS; j++) {
			if ((r = run_cell(agents, i, j, seconds, samples)) !=
			    0) {
				fprintf(stderr, "kmes-bench: %s\n",
				    kmes_err(r));
				return -1;
			}
			for (a = 0; a < NAGENTS; a++)
				failed += results[i][j][a].failed != 0;
		}
	}
	return failed;
}

static int
setup_keys(struct bench_agent *agents)
{
	size_t i, a;
	int r;

	for (a = 0; a < NAGENTS; a++) {
		if ((r = bench_token_add(&agents[a])) != 0) {
			fprintf(stderr,
			    "kmes-bench: adding the SoftHSM2 token "
			    "to %s: %s\n",
			    agents[a].name, kmes_err(r));
			return -1;
		}
	}
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].token != NULL) {
			/* The private key stays in the token: no ceiling. */
			for (a = 0; a < NAGENTS; a++) {
				if ((r = bench_token_key(&agents[a],
					 &keys[i])) != 0) {
					fprintf(stderr,
					    "kmes-bench: %s in "
					    "%s: %s\n",
					    keys[i].label, agents[a].name,
					    kmes_err(r));
					return -1;
				}
			}
			continue;
		}
		fprintf(stderr, "kmes-bench: generating %s key\n",
		    keys[i].label);
		if ((r = ks_key_generate(keys[i].type, keys[i].bits,
			 &keys[i].key)) != 0) {
			fprintf(stderr, "kmes-bench: generating %s: %s\n",
			    keys[i].label, kmes_err(r));
			return -1;
		}
		keys[i].blob = ks_key_blob(keys[i].key, &keys[i].blob_len);
		if ((r = bench_sign_ceiling(&keys[i], 1, CEILING_SECONDS,
			 &keys[i].ceiling1)) != 0 ||
		    (r = bench_sign_ceiling(&keys[i], SCALING_CORES,
			 CEILING_SECONDS, &keys[i].ceiling2)) != 0) {
			fprintf(stderr,
			    "kmes-bench: signing with %s "
			    "in-process: %s\n",
			    keys[i].label, kmes_err(r));
			return -1;
		}
		for (a = 0; a < NAGENTS; a++) {
			if ((r = bench_agent_add(&agents[a], &keys[i])) != 0) {
				fprintf(stderr,
				    "kmes-bench: adding %s to "
				    "%s: %s\n",
				    keys[i].label, agents[a].name, kmes_err(r));
				return -1;
			}
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "kmes", required_argument, NULL, 'k' },
		{ "ssh-agent", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "keep", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_agent agents[NAGENTS];
	struct bench_samples samples[NAGENTS];
	const char *kmes_path = KMES_BENCH_AGENT;
	const char *ssh_path = DEFAULT_SSH_AGENT, *tmpbase;
	char tmpdir[PATH_MAX], *end;
	double seconds = DEFAULT_SECONDS;
	int ch, r, keep = 0, status = 2, have_dir = 0;
	size_t a, i;

	memset(samples, 0, sizeof(samples));
	memset(agents, 0, sizeof(agents));
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			kmes_path = optarg;
			break;
		case 's':
			ssh_path = optarg;
			break;
		case 't':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(seconds > 0) ||
			    seconds > 3600)
				usage();
			break;
		case 'K':
			keep = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind == 1)
		kmes_path = argv[optind];
	else if (argc - optind > 1)
		usage();
	if (kmes_path == NULL) {
		fprintf(stderr, "kmes-bench: no kmes-agent given (--kmes)\n");
		usage();
	}

	/* A dying agent must show up as a failed request, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if ((r = ks_crypto_init(0)) != 0) {
		if (r != KMES_ERR_SYSTEM) {
			fprintf(stderr, "kmes-bench: crypto: %s\n",
			    kmes_err(r));
			return 2;
		}
		fprintf(stderr,
		    "kmes-bench: warning: secure heap not locked "
		    "(%s)\n",
		    kmes_err(r));
	}
	for (a = 0; a < NAGENTS; a++) {
		if ((r = bench_samples_init(&samples[a])) != 0) {
			fprintf(stderr, "kmes-bench: %s\n", kmes_err(r));
			goto out;
		}
	}
	if ((tmpbase = getenv("TMPDIR")) == NULL || *tmpbase != '/')
		tmpbase = "/tmp";
	/* Socket paths must fit in sun_path: keep the directory short. */
	if (snprintf(tmpdir, sizeof(tmpdir), "%s/kmes-bench.XXXXXX", tmpbase) >=
		(int)sizeof(tmpdir) ||
	    mkdtemp(tmpdir) == NULL) {
		fprintf(stderr,
		    "kmes-bench: cannot create a temporary "
		    "directory under %s: %s\n",
		    tmpbase, strerror(errno));
		goto out;
	}
	have_dir = 1;

	if (bench_token_prepare(tmpdir, keys, NKEYS) != 0) {
		fprintf(stderr,
		    "kmes-bench: cannot make the SoftHSM2 token "
		    "(apt install softhsm2 opensc)\n");
		keep = 1;
		goto out;
	}
	agents[KMES].name = "kmes-agent";
	agents[KMES].path = kmes_path;
	agents[SSH].name = "ssh-agent";
	agents[SSH].path = ssh_path;
	for (a = 0; a < NAGENTS; a++) {
		agents[a].pid = -1;
		if (tk_path_in(agents[a].sock, sizeof(agents[a].sock), tmpdir,
			a == KMES ? "kmes.sock" : "ssh.sock") != 0 ||
		    tk_path_in(agents[a].log, sizeof(agents[a].log), tmpdir,
			a == KMES ? "kmes-agent.log" : "ssh-agent.log") != 0) {
			fprintf(stderr, "kmes-bench: %s: path too long\n",
			    tmpdir);
			goto out;
		}
	}
	for (a = 0; a < NAGENTS; a++) {
		fprintf(stderr, "kmes-bench: starting %s\n", agents[a].path);
		if ((r = bench_agent_start(&agents[a], START_TIMEOUT_MS)) !=
		    0) {
			fprintf(stderr,
			    "kmes-bench: %s did not come up (%s); "
			    "see %s\n",
			    agents[a].path, kmes_err(r), agents[a].log);
			keep = 1;
			goto out;
		}
	}
	if (setup_keys(agents) != 0) {
		keep = 1;
		status = 1;
		goto out;
	}
	if ((r = run_all(agents, seconds, samples)) < 0)
		goto out;
	status = r == 0 ? 0 : 1;
	for (a = 0; a < NAGENTS; a++) {
		if (!bench_agent_alive(&agents[a])) {
			fprintf(stderr, "kmes-bench: %s died; see %s\n",
			    agents[a].name, agents[a].log);
			status = 1;
		}
		bench_agent_stop(&agents[a]);
	}
	if (report(agents, seconds) != 0)
		status = 1;
	if (status != 0)
		keep = 1;
out:
	for (a = 0; a < NAGENTS; a++)
		bench_agent_stop(&agents[a]);
	for (i = 0; i < NKEYS; i++) {
		ks_key_free(keys[i].key);
		keys[i].key = NULL;
	}
	for (a = 0; a < NAGENTS; a++)
		bench_samples_free(&samples[a]);
	if (!keep)
		bench_token_cleanup();
	if (have_dir && keep) {
		fprintf(stderr, "kmes-bench: logs kept in %s\n", tmpdir);
	} else if (have_dir) {
		for (a = 0; a < NAGENTS; a++) {
			(void)unlink(agents[a].sock);
			(void)unlink(agents[a].log);
		}
		if (rmdir(tmpdir) != 0)
			fprintf(stderr, "kmes-bench: rmdir %s: %s\n", tmpdir,
			    strerror(errno));
	}
	return status;
}
