/* bench/runstat.c: run one command for bench/compare and measure it.
 *
 * usage: runstat OUT [-i FILE] COMMAND [ARG...]
 *
 * Runs COMMAND (standard input from FILE, else inherited), waits for it
 * and appends one line to the file OUT:
 *   WALL_MS MAXRSS_KB EXIT START
 * WALL_MS is the wall-clock time from fork to exit (monotonic clock),
 * MAXRSS_KB the peak resident set size reported by wait4 (the process's
 * VmHWM when it exited; no polling that could miss the peak), EXIT the
 * exit status, or 128+signal, START the time of the fork in seconds since
 * the epoch (the clock packet captures use). Exits 0 unless it could not run COMMAND.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *in = NULL, *out;
	FILE *f;
	struct rusage ru;
	struct timespec rt;
	double t0, t1;
	int st, code;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: runstat OUT [-i FILE] COMMAND [ARG...]\n");
		return 64;
	}
	out = argv[1];
	argv++;
	argc--;
	if (argc > 2 && strcmp(argv[1], "-i") == 0) {
		in = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: runstat OUT [-i FILE] COMMAND [ARG...]\n");
		return 64;
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	t0 = now_ms();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 71;
	}
	if (pid == 0) {
		if (in != NULL) {
			int fd = open(in, O_RDONLY);

			if (fd < 0 || dup2(fd, 0) < 0) {
				perror(in);
				_exit(127);
			}
			close(fd);
		}
		execvp(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0) {
		perror("wait4");
		return 71;
	}
	t1 = now_ms();
	code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	f = fopen(out, "a");
	if (f == NULL) {
		perror(out);
		return 73;
	}
	fprintf(f, "%.3f %ld %d %lld.%09ld\n", t1 - t0, ru.ru_maxrss, code,
		(long long)rt.tv_sec, rt.tv_nsec);
	return fclose(f) == 0 ? 0 : 74;
}
