/*
 * fake-pinentry: a pinentry program for tests. Speaks the Assuan protocol
 * of pinentry on stdin/stdout (greeting, OPTION, SET*, GETPIN, BYE) and
 * misbehaves on request.
 *
 * Every line received is appended to $FAKE_PINENTRY_LOG, one per line
 * (a test-only thing: a real pinentry never writes down what it is told,
 * and what it is told is not secret, but the PINs it answers would be).
 *
 * Each GETPIN takes the next line of $FAKE_PINENTRY_ANSWERS; a counter in
 * "$FAKE_PINENTRY_ANSWERS.next" (locked with flock) makes concurrent or
 * successive runs consume the lines one at a time. An answer is a PIN,
 * sent percent-escaped after a comment and a status line, or one of:
 *   cancel     ERR 83886179 (the user pressed Cancel)
 *   notty      ERR 83918950 (no terminal/display: the caller falls back)
 *   timeout    ERR 83886142 (the SETTIMEOUT dialog expired)
 *   empty      OK without data
 *   split:PIN  PIN over two D lines
 *   hang       never answer
 *   garbage    a line that is not Assuan
 *   huge       a D line of 5000 bytes (longer than an Assuan line)
 *   toolong    1500 bytes of PIN over three valid D lines
 *   exit       exit without answering
 * No answer left counts as cancel.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_IN 4096

static FILE *logfp;

static void
say(const char *s)
{
	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* The n-th line (0-based) of path into buf, without its newline. */
static int
nth_line(const char *path, long n, char *buf, size_t len)
{
	FILE *f;
	long i = 0;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(buf, (int)len, f) != NULL) {
		if (i++ == n) {
			fclose(f);
			buf[strcspn(buf, "\n")] = '\0';
			return 0;
		}
	}
	fclose(f);
	return -1;
}

/* Takes the next scripted answer; "cancel" when the script is used up. */
static void
next_answer(char *buf, size_t len)
{
	const char *answers = getenv("FAKE_PINENTRY_ANSWERS");
	char cpath[4096], num[32];
	long n = 0;
	ssize_t got;
	int fd;

	snprintf(buf, len, "cancel");
	if (answers == NULL)
		return;
	snprintf(cpath, sizeof(cpath), "%s.next", answers);
	if ((fd = open(cpath, O_RDWR | O_CREAT, 0600)) == -1)
		return;
	if (flock(fd, LOCK_EX) == 0) {
		got = pread(fd, num, sizeof(num) - 1, 0);
		if (got > 0) {
			num[got] = '\0';
			n = strtol(num, NULL, 10);
		}
		if (nth_line(answers, n, buf, len) != 0)
			snprintf(buf, len, "cancel");
		snprintf(num, sizeof(num), "%ld\n", n + 1);
		if (ftruncate(fd, 0) == 0 &&
		    pwrite(fd, num, strlen(num), 0) < 0)
			perror("fake-pinentry: counter");
	}
	close(fd);
}

/* "D " and pin[from, to) percent-escaped as pinentry does. */
static void
send_data(const char *pin, size_t from, size_t to)
{
	size_t i;
	unsigned char c;

	fputs("D ", stdout);
	for (i = from; i < to; i++) {
		c = (unsigned char)pin[i];
		if (c == '%' || c == '\r' || c == '\n' || c < 0x20)
			printf("%%%02X", c);
		else
			fputc(c, stdout);
	}
	fputc('\n', stdout);
}

static void
getpin(void)
{
	char a[LINE_MAX_IN];
	size_t i, n;

	next_answer(a, sizeof(a));
	if (strcmp(a, "cancel") == 0) {
		say("ERR 83886179 Operation cancelled <Pinentry>");
	} else if (strcmp(a, "notty") == 0) {
		say("ERR 83918950 Inappropriate ioctl for device <Pinentry>");
	} else if (strcmp(a, "timeout") == 0) {
		say("ERR 83886142 Timeout <Pinentry>");
	} else if (strcmp(a, "empty") == 0) {
		say("OK");
	} else if (strcmp(a, "hang") == 0) {
		for (;;)
			pause();
	} else if (strcmp(a, "garbage") == 0) {
		say("HELLO THERE, I AM NOT A PINENTRY");
	} else if (strcmp(a, "huge") == 0) {
		fputs("D ", stdout);
		for (i = 0; i < 5000; i++)
			fputc('A', stdout);
		say("");
		say("OK");
	} else if (strcmp(a, "toolong") == 0) {
		for (i = 0; i < 3; i++) {
			fputs("D ", stdout);
			for (n = 0; n < 500; n++)
				fputc('B', stdout);
			fputc('\n', stdout);
		}
		say("OK");
	} else if (strcmp(a, "exit") == 0) {
		exit(0);
	} else if (strncmp(a, "split:", 6) == 0) {
		n = strlen(a + 6);
		send_data(a + 6, 0, n / 2);
		send_data(a + 6, n / 2, n);
		say("OK");
	} else {
		/* Lines a client must skip. */
		say("# fake-pinentry answering");
		say("S FAKE_STATUS 1");
		send_data(a, 0, strlen(a));
		say("OK");
	}
	fflush(stdout);
}

int
main(void)
{
	const char *logpath = getenv("FAKE_PINENTRY_LOG");
	char line[LINE_MAX_IN];

	if (logpath != NULL && (logfp = fopen(logpath, "a")) != NULL)
		setvbuf(logfp, NULL, _IOLBF, 0);
	if (logfp != NULL)
		fprintf(logfp, "START\n");
	say("OK Pleased to meet you, process fake");
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (logfp != NULL)
			fprintf(logfp, "%s\n", line);
		if (strncmp(line, "GETPIN", 6) == 0)
			getpin();
		else if (strncmp(line, "BYE", 3) == 0) {
			say("OK closing connection");
			break;
		} else if (strncmp(line, "OPTION", 6) == 0 ||
		    strncmp(line, "SET", 3) == 0)
			say("OK");
		else
			say("ERR 536871187 Unknown IPC command <User defined "
			    "source 1>");
	}
	if (logfp != NULL)
		fclose(logfp);
	return 0;
}
