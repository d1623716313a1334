/*
 * Unit tests for src/sock.c: the session clock, deadlines, waiting on a
 * descriptor until one (ready, timed out, a deadline already past, none),
 * and the seconds a timeout is reported in.
 */
#include "config.h"

#include <poll.h>
#include <unistd.h>

#include "sock.h"
#include "tap.h"

static void
test_deadlines(void)
{
	long long t0 = sock_now_ms(), d = sock_deadline_after(500);

	ok(t0 > 0, "the clock runs (%lld ms)", t0);
	ok(d >= t0 + 500 && d <= sock_now_ms() + 500, "a deadline 500 ms from now");
	is_int((int)sock_deadline_after(0), 0, "a timeout of 0: no deadline");
	is_int((int)sock_deadline_after(-5), 0, "a negative timeout: no deadline");
	is_int(sock_timeout_secs(1), 1, "1 ms is reported as 1 s");
	is_int(sock_timeout_secs(1000), 1, "1000 ms as 1 s");
	is_int(sock_timeout_secs(1001), 2, "1001 ms as 2 s (never less than it was)");
}

static void
test_wait(void)
{
	int p[2];
	long long t0;

	if (pipe(p) < 0) {
		ok(0, "pipe");
		return;
	}
	t0 = sock_now_ms();
	is_int(sock_wait_fd(p[0], POLLIN, sock_deadline_after(100)), 0,
	    "nothing to read: timed out");
	ok(sock_now_ms() - t0 >= 100 && sock_now_ms() - t0 < 2000,
	    "... at the deadline (%lld ms)", sock_now_ms() - t0);
	is_int(sock_wait_fd(p[0], POLLIN, sock_now_ms() - 1), 0,
	    "a deadline already past: timed out at once");
	is_int(sock_wait_fd(p[1], POLLOUT, 0), 1, "writable, no deadline: ready");
	if (write(p[1], "x", 1) != 1)
		ok(0, "write");
	is_int(sock_wait_fd(p[0], POLLIN, sock_deadline_after(1000)), 1,
	    "something to read: ready");
	close(p[1]);
	close(p[0]);
}

int
main(void)
{
	test_deadlines();
	test_wait();
	return done_testing();
}
