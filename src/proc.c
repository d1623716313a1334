/* proc.c - see proc.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

int
proc_detach(struct err *e)
{
	pid_t pid;
	int fd;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return err_set(e, EX_OSERR, "cannot fork: %s", strerror(errno));
	if (pid > 0)
		return (int)pid;
	/* A new session: no controlling terminal, and a signal to the
	 * caller's process group (Ctrl-C, a service stop) is not ours. */
	setsid();
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

void
proc_close_fds(int keep)
{
	long max = sysconf(_SC_OPEN_MAX);

	/* A huge limit (containers set millions) would make the loop slow:
	 * descriptors are allocated lowest first, so few are above 64K. */
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = STDERR_FILENO + 1; fd < max; fd++)
		if (fd != keep)
			close(fd);
}
