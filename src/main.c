/*
 * main.c: kmes-agent's command line, process hardening, the listening
 * socket and the fork/daemon dance, flag for flag as OpenSSH's ssh-agent.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent.h"
#include "astore.h"
#include "audit.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "dispatch.h"
#include "fdio.h"
#include "guess.h"
#include "keytable.h"
#include "kmes-err.h"
#include "listen.h"
#include "log.h"
#include "login.h"
#include "loop.h"
#include "p11-proto.h"
#include "prov.h"
#include "ratelimit.h"
#include "readpass.h"
#include "secmem.h"
#include "store.h"
#include "workers.h"

#define DEFAULT_ALLOWED_PROVIDERS "/usr/lib*/*,/usr/local/lib*/*"

enum {
	OPT_STORE = 256,
	OPT_PIN,
	OPT_PIN_FD,
	OPT_AUDIT_LOG,
	OPT_LOCK_IDLE,
	OPT_PKCS11,
	OPT_TOKEN,
	OPT_PKCS11_TIMEOUT,
	OPT_CONFIG,
	OPT_NO_CONFIG,
	OPT_PINENTRY,
	OPT_PRINT_SOCKET,
	OPT_HELP,
	OPT_VERSION,
};

#ifndef KMES_VERSION
#define KMES_VERSION "unknown"
#endif

_Static_assert(CONFIG_MAX_PKCS11 <= MAX_CLI_TOKENS,
    "the config file's modules must fit the login targets");

static struct listen_sock lsock;

/* Before anything else: no core files, no ptrace by peers, no dumps. */
static void
harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0) {
		perror(PROGNAME ": setrlimit RLIMIT_CORE");
		exit(1);
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		perror(PROGNAME ": prctl PR_SET_DUMPABLE");
		exit(1);
	}
	/* Many idle clients must not run us out of descriptors early. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
cleanup_socket(void)
{
	listen_cleanup(&lsock);
}

static int
kill_agent(int csh)
{
	const char *s = getenv("SSH_AGENT_PID");
	char *end;
	long pid;

	if (s == NULL) {
		fprintf(stderr, "SSH_AGENT_PID not set, cannot kill agent\n");
		return 1;
	}
	errno = 0;
	pid = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || pid < 2 ||
	    pid > INT_MAX) {
		fprintf(stderr,
		    "SSH_AGENT_PID=\"%s\", which is not a good "
		    "PID\n",
		    s);
		return 1;
	}
	if (kill((pid_t)pid, SIGTERM) == -1) {
		perror("kill");
		return 1;
	}
	if (csh)
		printf("unsetenv SSH_AUTH_SOCK;\nunsetenv SSH_AGENT_PID;\n");
	else
		printf("unset SSH_AUTH_SOCK;\nunset SSH_AGENT_PID;\n");
	printf("echo Agent pid %ld killed;\n", pid);
	return 0;
}

/* --print-socket: where the systemd user units put the socket. */
static int
print_unit_socket(void)
{
	char path[PATH_MAX];

	if (listen_unit_socket_path(path, sizeof(path)) != 0) {
		fprintf(stderr, PROGNAME ": $XDG_RUNTIME_DIR is too long\n");
		return 1;
	}
	printf("%s\n", path);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void
print_env(int csh, const char *sock, pid_t agent_pid, int with_pid)
{
	if (csh) {
		printf("setenv SSH_AUTH_SOCK %s;\n", sock);
		if (with_pid)
			printf("setenv SSH_AGENT_PID %ld;\n", (long)agent_pid);
	} else {
		printf("SSH_AUTH_SOCK=%s; export SSH_AUTH_SOCK;\n", sock);
		if (with_pid)
			printf("SSH_AGENT_PID=%ld; export SSH_AGENT_PID;\n",
			    (long)agent_pid);
	}
	printf("echo Agent pid %ld;\n", (long)agent_pid);
	fflush(stdout);
}

static void
detach_stdio(void)
{
	int fd;

	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* OpenSSL's secure heap, once, in the process that will hold keys. */
static void
secure_heap_init(void)
{
	static int done;
	int r;

	if (done)
		return;
	done = 1;
	if ((r = ks_crypto_init(0)) != 0)
		log_error("secure heap not fully available (%s): private keys "
			  "may not be locked in memory",
		    kmes_err(r));
}

/*
 * The two worker pools (agent.h) and the KDF gate: KDF_THREADS_MAX at
 * most for scrypt, WAIT_THREADS for dialogs and PKCS#11 helpers, each
 * with a fixed queue; a full queue answers FAILURE at once.
 */
#define KDF_THREADS_MAX 4
#define KDF_QUEUE 16
#define WAIT_THREADS 8
#define WAIT_QUEUE 32

static int
pools_start(struct agent *a)
{
	unsigned int nkdf;

	nkdf = a->opt.nloops < KDF_THREADS_MAX ? a->opt.nloops :
						 KDF_THREADS_MAX;
	if (nkdf == 0)
		nkdf = 1;
	if ((a->kdf_gate = workers_gate_new(nkdf)) == NULL ||
	    (a->kdf_pool = workers_new(nkdf, KDF_QUEUE)) == NULL ||
	    (a->wait_pool = workers_new(WAIT_THREADS, WAIT_QUEUE)) == NULL)
		return KMES_ERR_SYSTEM;
	log_debug("%u KDF thread(s), %u helper threads", nkdf, WAIT_THREADS);
	return 0;
}

static void
pools_stop(struct agent *a)
{
	workers_free(a->wait_pool);
	workers_free(a->kdf_pool);
	a->wait_pool = a->kdf_pool = NULL;
	workers_gate_free(a->kdf_gate);
	a->kdf_gate = NULL;
}

int
main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "pin", no_argument, NULL, OPT_PIN },
		{ "pin-fd", required_argument, NULL, OPT_PIN_FD },
		{ "audit-log", required_argument, NULL, OPT_AUDIT_LOG },
		{ "lock-idle", required_argument, NULL, OPT_LOCK_IDLE },
		{ "pkcs11", required_argument, NULL, OPT_PKCS11 },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "pkcs11-timeout", required_argument, NULL,
		    OPT_PKCS11_TIMEOUT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "no-config", no_argument, NULL, OPT_NO_CONFIG },
		{ "pinentry", required_argument, NULL, OPT_PINENTRY },
		{ "print-socket", no_argument, NULL, OPT_PRINT_SOCKET },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct agent agent;
	struct loop_hooks hooks;
	const char *bind_address = NULL, *shell, *store_path = NULL;
	const char *audit_path = NULL;
	char *default_store = NULL, *end;
	struct login_target tokens[MAX_CLI_TOKENS];
	size_t ntokens = 0, i;
	int want_pin = 0, pin_fd = -1, pipe_pin[2] = { -1, -1 };
	int pipe_res[2] = { -1, -1 };
	struct stat st;
	int ch, c_flag = 0, s_flag = 0, k_flag = 0, d_flag = 0, D_flag = 0;
	int activated, no_config = 0, print_socket = 0, lock_idle_set = 0;
	int lifetime_set = 0, timeout_set = 0;
	const char *config_path = NULL;
	struct agent_config *cfg = NULL;
	char cfg_err[PATH_MAX + 256];
	int r, status = 0, prev, longindex;
	long life;
	pid_t parent_pid, pid;
	sigset_t set;
	long ncpu;

	harden_process();
	/* A PKCS#11 helper: ourselves, re-executed by agent-token.c. */
	if (argc > 1 && strcmp(argv[1], P11H_ARG) == 0)
		return p11helper_main(argc, argv);
	listen_sock_init(&lsock);
	/* First, so that nothing we start inherits LISTEN_*. */
	if ((activated = listen_activated(&lsock)) == -1)
		exit(1);
	prov_init();
	memset(&agent, 0, sizeof(agent));
	agent.opt.fp_hash = KS_FP_SHA256;
	agent.listen_fd = -1;

	for (;;) {
		prev = optind;
		longindex = -1;
		if ((ch = getopt_long(argc, argv,
			 "+cDdhksE:a:O:P:t:", long_opts, &longindex)) == -1)
			break;
		/* No permuting ('+'): the option is argv[prev] itself. */
		if (longindex >= 0 && prev < argc &&
		    strncmp(argv[prev], "--", 2) == 0)
			cli_refuse_abbreviation(argv[prev] + 2,
			    long_opts[longindex].name);
		switch (ch) {
		case 'h':
		case OPT_HELP:
			cli_help();
			break;
		case OPT_VERSION:
			printf(PROGNAME " " KMES_VERSION "\n");
			exit(0);
		case OPT_STORE:
			store_path = optarg;
			break;
		case OPT_PIN:
			want_pin = 1;
			break;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_NO_CONFIG:
			no_config = 1;
			break;
		case OPT_PINENTRY:
			agent.opt.pinentry = optarg;
			break;
		case OPT_PRINT_SOCKET:
			print_socket = 1;
			break;
		case OPT_AUDIT_LOG:
			audit_path = optarg;
			break;
		case OPT_PKCS11:
			if (ntokens == MAX_CLI_TOKENS) {
				fprintf(stderr,
				    PROGNAME ": at most %d "
					     "--pkcs11 modules\n",
				    MAX_CLI_TOKENS);
				exit(1);
			}
			tokens[ntokens].module = optarg;
			tokens[ntokens++].token = NULL;
			break;
		case OPT_TOKEN:
			if (ntokens == 0 || tokens[ntokens - 1].token != NULL) {
				fprintf(stderr,
				    PROGNAME
				    ": --token names a "
				    "token of the --pkcs11 module before it\n");
				cli_usage();
			}
			tokens[ntokens - 1].token = optarg;
			break;
		case OPT_PKCS11_TIMEOUT:
			if ((life = agent_convtime(optarg)) <= 0 ||
			    life > 3600) {
				fprintf(stderr,
				    PROGNAME ": bad "
					     "--pkcs11-timeout \"%s\"\n",
				    optarg);
				cli_usage();
			}
			agent.opt.pkcs11_timeout_ms = (uint32_t)life * 1000;
			timeout_set = 1;
			break;
		case OPT_LOCK_IDLE:
			if ((life = agent_convtime(optarg)) <= 0) {
				fprintf(stderr,
				    PROGNAME ": bad --lock-idle "
					     "time \"%s\"\n",
				    optarg);
				cli_usage();
			}
			agent.opt.lock_idle = (uint32_t)life;
			lock_idle_set = 1;
			break;
		case OPT_PIN_FD:
			pin_fd = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || pin_fd < 0) {
				fprintf(stderr, PROGNAME ": bad --pin-fd\n");
				cli_usage();
			}
			want_pin = 1;
			break;
		case 'c':
		case 's':
			if ((ch == 'c' && s_flag) || (ch == 's' && c_flag)) {
				fprintf(stderr,
				    PROGNAME ": -c and -s cannot "
					     "be used together\n");
				cli_usage();
			}
			if (ch == 'c')
				c_flag++;
			else
				s_flag++;
			break;
		case 'k':
			k_flag++;
			break;
		case 'd':
		case 'D':
			if (d_flag || D_flag) {
				fprintf(stderr,
				    PROGNAME ": -d and -D are "
					     "given once, and not together\n");
				cli_usage();
			}
			if (ch == 'd')
				d_flag++;
			else
				D_flag++;
			break;
		case 'E':
			if (cli_parse_fp_hash(optarg, &agent.opt.fp_hash) !=
			    0) {
				fprintf(stderr,
				    PROGNAME
				    ": invalid hash "
				    "algorithm \"%s\" (md5 or sha256)\n",
				    optarg);
				exit(1);
			}
			break;
		case 'a':
			bind_address = optarg;
			break;
		case 'O':
			/*
			 * ssh-agent's -O words. Only the ones implemented are
			 * accepted: a silently ignored security option would
			 * be worse than a refusal to start.
			 */
			if (strcmp(optarg, "allow-remote-pkcs11") == 0)
				agent.opt.allow_remote_pkcs11 = 1;
			else {
				fprintf(stderr,
				    PROGNAME
				    ": unknown -O option "
				    "\"%s\" (supported: allow-remote-pkcs11)"
				    "\n",
				    optarg);
				cli_usage();
			}
			break;
		case 'P':
			if (agent.opt.allowed_providers != NULL) {
				fprintf(stderr,
				    PROGNAME ": -P option already "
					     "specified\n");
				exit(1);
			}
			agent.opt.allowed_providers = optarg;
			break;
		case 't':
			if ((life = agent_convtime(optarg)) == -1) {
				fprintf(stderr,
				    PROGNAME ": bad -t lifetime "
					     "\"%s\"\n",
				    optarg);
				cli_usage();
			}
			agent.opt.default_lifetime = (uint32_t)life;
			lifetime_set = 1;
			break;
		default:
			cli_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0 && (c_flag || k_flag || s_flag || d_flag || D_flag))
		cli_usage();
	if (argc == 0 && !c_flag && !s_flag) {
		shell = getenv("SHELL");
		if (shell != NULL && strlen(shell) > 2 &&
		    strcmp(shell + strlen(shell) - 3, "csh") == 0)
			c_flag = 1;
	}
	if (k_flag)
		return kill_agent(c_flag);
	if (print_socket)
		return print_unit_socket();
	if (config_path != NULL && no_config) {
		fprintf(stderr, PROGNAME ": --config and --no-config\n");
		cli_usage();
	}
	/*
	 * The config file, for what a systemd-started agent cannot get from
	 * flags comfortably; any flag given overrides it.
	 */
	if (!no_config) {
		char *def = NULL;

		if (config_path == NULL)
			config_path = def = config_default_path();
		if (config_path != NULL &&
		    config_load(config_path, def == NULL, &cfg, cfg_err,
			sizeof(cfg_err)) != 0) {
			fprintf(stderr, PROGNAME ": %s\n", cfg_err);
			exit(1);
		}
		if (cfg != NULL) {
			if (store_path == NULL)
				store_path = cfg->store;
			if (audit_path == NULL)
				audit_path = cfg->audit_log;
			if (agent.opt.pinentry == NULL)
				agent.opt.pinentry = cfg->pinentry;
			if (agent.opt.allowed_providers == NULL)
				agent.opt.allowed_providers =
				    cfg->allowed_providers;
			if (!want_pin && cfg->pin == 1)
				want_pin = 1;
			if (!lock_idle_set && cfg->lock_idle > 0)
				agent.opt.lock_idle = (uint32_t)cfg->lock_idle;
			if (!lifetime_set && cfg->lifetime > 0)
				agent.opt.default_lifetime =
				    (uint32_t)cfg->lifetime;
			/* -O can only add this; "no" in the file is the
			 * default, never a veto of the command line. */
			if (cfg->allow_remote_pkcs11 == 1)
				agent.opt.allow_remote_pkcs11 = 1;
			if (!timeout_set && cfg->pkcs11_timeout > 0)
				agent.opt.pkcs11_timeout_ms =
				    (uint32_t)cfg->pkcs11_timeout * 1000;
			/* --pkcs11 on the command line replaces the list. */
			for (i = 0; ntokens == 0 && i < cfg->npkcs11; i++) {
				tokens[i].module = cfg->pkcs11[i].module;
				tokens[i].token = cfg->pkcs11[i].token;
			}
			if (ntokens == 0)
				ntokens = cfg->npkcs11;
		}
		free(def);
		config_path = NULL;
	}
	if (agent.opt.allowed_providers == NULL)
		agent.opt.allowed_providers = DEFAULT_ALLOWED_PROVIDERS;
	agent.opt.debug = d_flag;
	agent.opt.foreground = d_flag || D_flag;
	agent.opt.uid = getuid();
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	agent.opt.nloops = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned int)ncpu;

	/*
	 * The key store: the one named, else the default one if it exists.
	 * Opening needs no PIN; the public keys are served either way.
	 */
	if ((agent.table = ks_table_new()) == NULL) {
		fprintf(stderr, PROGNAME ": out of memory\n");
		exit(1);
	}
	if (store_path == NULL &&
	    (default_store = ks_store_default_path()) != NULL &&
	    stat(default_store, &st) == 0)
		store_path = default_store;
	if (store_path != NULL && cli_store_exposed(store_path))
		exit(1);
	if (store_path != NULL && (r = astore_open(&agent, store_path)) != 0) {
		fprintf(stderr, PROGNAME ": cannot open keystore %s: %s\n",
		    store_path, kmes_err(r));
		exit(1);
	}
	if (want_pin && agent.store == NULL && ntokens == 0) {
		fprintf(stderr,
		    PROGNAME ": --pin: no keystore at %s; create "
			     "one with 'kmes-keytool init'\n",
		    default_store != NULL ? default_store : "the default path");
		exit(1);
	}
	free(default_store);
	/* The PINs to ask for at start: the store's, then each token's. */
	if (want_pin && agent.store != NULL)
		(void)login_add_target(NULL, NULL);
	for (i = 0; i < ntokens; i++) {
		char canon[PATH_MAX];

		/* Chosen by whoever starts the agent: no -P check here,
		 * but the same canonical path ssh-add -e will name. */
		if (realpath(tokens[i].module, canon) == NULL) {
			fprintf(stderr, PROGNAME ": PKCS#11 module %s: %s\n",
			    tokens[i].module, strerror(errno));
			exit(1);
		}
		if ((tokens[i].module = strdup(canon)) == NULL) {
			fprintf(stderr, PROGNAME ": out of memory\n");
			exit(1);
		}
		(void)login_add_target(tokens[i].module, tokens[i].token);
	}
	if (ntokens != 0)
		want_pin = 1;
	if (audit_path != NULL && audit_open(audit_path) != 0) {
		fprintf(stderr, PROGNAME ": cannot open audit log %s: %s\n",
		    audit_path, strerror(errno));
		exit(1);
	}

	if (!activated)
		cli_warn_running_agent();
	parent_pid = getpid();
	if (activated) {
		if (bind_address != NULL) {
			fprintf(stderr,
			    PROGNAME
			    ": -a cannot be used with "
			    "socket activation (the socket unit names the "
			    "path)\n");
			exit(1);
		}
	} else if (bind_address != NULL) {
		if (listen_bind(&lsock, bind_address) != 0)
			exit(1);
	} else if (listen_private(&lsock, parent_pid) != 0)
		exit(1);
	agent.listen_fd = lsock.fd;

	if (agent.opt.foreground) {
		log_init(PROGNAME, d_flag ? LOG_LVL_DEBUG : LOG_LVL_INFO, 1);
		secure_heap_init();
		if (want_pin && login_here(&agent, pin_fd) != 0) {
			prov_shutdown(&agent);
			cleanup_socket();
			fprintf(stderr, PROGNAME ": no agent started\n");
			exit(1);
		}
		print_env(c_flag, lsock.path, parent_pid, 0);
	} else {
		fflush(stdout);
		if (want_pin &&
		    (pipe2(pipe_pin, O_CLOEXEC) != 0 ||
			pipe2(pipe_res, O_CLOEXEC) != 0)) {
			perror(PROGNAME ": pipe");
			cleanup_socket();
			exit(1);
		}
		if ((pid = fork()) == -1) {
			perror(PROGNAME ": fork");
			cleanup_socket();
			exit(1);
		}
		if (pid != 0) {
			char pidstr[32];

			/* Parent: show the environment, or run the command. */
			close(agent.listen_fd);
			if (want_pin) {
				close(pipe_pin[0]);
				close(pipe_res[1]);
				r = login_via_child(&agent, pin_fd, pipe_pin[1],
				    pipe_res[0]);
				/* EOF tells a still-locked child to give up. */
				close(pipe_pin[1]);
				close(pipe_res[0]);
				if (r != 0) {
					(void)waitpid(pid, NULL, 0);
					fprintf(stderr,
					    PROGNAME ": no agent "
						     "started\n");
					exit(1);
				}
			}
			if (argc == 0) {
				print_env(c_flag, lsock.path, pid, 1);
				exit(0);
			}
			snprintf(pidstr, sizeof(pidstr), "%ld", (long)pid);
			if (setenv("SSH_AUTH_SOCK", lsock.path, 1) != 0 ||
			    setenv("SSH_AGENT_PID", pidstr, 1) != 0) {
				perror("setenv");
				exit(1);
			}
			execvp(argv[0], argv);
			perror(argv[0]);
			exit(1);
		}
		/*
		 * Child: the agent. Leave the terminal's session first, so
		 * that the hang-up when the parent's shell exits cannot kill
		 * it half way through start-up.
		 */
		if (setsid() == -1) {
			perror(PROGNAME ": setsid");
			cleanup_socket();
			_exit(1);
		}
		/* Locked memory is not inherited: set up the secure heap
		 * here, before any secret arrives. */
		secure_heap_init();
		if (want_pin) {
			close(pipe_pin[1]);
			close(pipe_res[0]);
			if (login_from_parent(&agent, pipe_pin[0],
				pipe_res[1]) != 0) {
				prov_shutdown(&agent);
				cleanup_socket();
				_exit(1);
			}
			close(pipe_pin[0]);
			close(pipe_res[1]);
		}
		if (argc > 0) {
			/* Command mode: leave when the command does. */
			(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
			if (getppid() != parent_pid) {
				cleanup_socket();
				_exit(2);
			}
		}
		log_init(PROGNAME, LOG_LVL_INFO, 0);
		(void)!chdir("/");
		detach_stdio();
	}

	/* Signals: TERM and HUP end us cleanly; INT only in the foreground. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	if (!agent.opt.foreground)
		signal(SIGINT, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (agent.opt.foreground)
		sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	secure_heap_init();
	pthread_mutex_init(&agent.lock_mtx, NULL);
	if ((agent.lock_secret = kmes_secure_alloc(
		 KS_PWHASH_SALT_LEN + KS_PWHASH_LEN)) == NULL ||
	    (agent.guesses = guess_limiter_new()) == NULL) {
		log_error("out of memory");
		cleanup_socket();
		exit(1);
	}
	log_verbose("listening on %s with %u threads", lsock.path,
	    agent.opt.nloops);
	dispatch_hooks(&agent, &hooks);
	if (pools_start(&agent) != 0 ||
	    (agent.loops = loopset_new(agent.opt.nloops, agent.listen_fd,
		 agent.opt.uid, &hooks, &agent.quit, 1,
		 agent.opt.foreground)) == NULL) {
		log_error("cannot start the event loops");
		status = 1;
	} else if ((r = loopset_run(agent.loops)) != 0) {
		log_error("event loop: %s", kmes_err(r));
		status = 1;
	}
	/*
	 * Jobs still queued or running post their completions to the loops:
	 * the pools finish them (bounded queues; pinentry gives up on quit,
	 * PKCS#11 on its timeout), then each completion frees its state.
	 */
	pools_stop(&agent);
	loopset_free(agent.loops);
	agent.loops = NULL;
	prov_shutdown(&agent);
	cleanup_socket();
	astore_close(&agent);
	audit_close();
	config_free(cfg);
	ks_table_free(agent.table);
	kmes_secure_free(agent.lock_secret);
	rl_free(agent.guesses);
	close(agent.listen_fd);
	return status;
}
