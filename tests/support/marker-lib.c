/*
 * marker-lib.c: a shared object that is no PKCS#11 module and announces
 * being loaded. Its constructor appends "loaded by PID" to the file named
 * by $KMES_MARKER_FILE: a test that finds no such file knows that no
 * process it watches ever dlopen()ed this library (the CVE-2023-38408
 * class: a client asks the agent to load a library it should not).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* One exported symbol so that the object is a library like any other. */
int kmes_marker_lib_present(void);

int
kmes_marker_lib_present(void)
{
	return 1;
}

__attribute__((constructor)) static void
kmes_marker_lib_loaded(void)
{
	const char *path = getenv("KMES_MARKER_FILE");
	char line[64];
	int fd, n;

	if (path == NULL || path[0] != '/')
		return;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		 0600)) == -1)
		return;
	n = snprintf(line, sizeof(line), "loaded by %ld\n", (long)getpid());
	if (n > 0 && n < (int)sizeof(line))
		(void)!write(fd, line, (size_t)n);
	close(fd);
}
