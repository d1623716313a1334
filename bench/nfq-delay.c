/* bench/nfq-delay.c: a delay line for bench/compare.
 *
 * usage: nfq-delay QUEUE DELAY_US
 *
 * Reads the packets that an nftables `queue num QUEUE` rule hands to user
 * space and accepts each one DELAY_US microseconds after it arrived, in
 * arrival order. With the rule on the input hook of a namespace that has
 * only loopback, every packet is delayed once, so a round trip takes twice
 * DELAY_US: a round-trip time emulated without netem. Prints "ready" on
 * standard output once bound. Runs until killed. Not part of envoi.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

/* A ring of packet ids and their release times; far more than the queue
 * can hold at once (the kernel queue is capped at the same size). */
#define RING 65536

static uint32_t ids[RING];
static int64_t due[RING];
static unsigned head, tail; /* tail: next free; head: next to release */
static int64_t delay_ns;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
		     struct nfq_data *nfa, void *data)
{
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);

	(void)msg;
	(void)data;
	if (ph == NULL)
		return 0;
	if (tail - head >= RING) {
		/* Full: let it pass undelayed rather than lose it. */
		return nfq_set_verdict(qh, ntohl(ph->packet_id), NF_ACCEPT, 0, NULL);
	}
	ids[tail % RING] = ntohl(ph->packet_id);
	due[tail % RING] = now_ns() + delay_ns;
	tail++;
	return 0;
}

static void release_due(struct nfq_q_handle *qh)
{
	int64_t t = now_ns();

	while (head != tail && due[head % RING] <= t) {
		nfq_set_verdict(qh, ids[head % RING], NF_ACCEPT, 0, NULL);
		head++;
	}
}

int main(int argc, char **argv)
{
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	char buf[65536];
	int fd, one = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: nfq-delay QUEUE DELAY_US\n");
		return 64;
	}
	delay_ns = strtoll(argv[2], NULL, 10) * 1000;
	h = nfq_open();
	if (h == NULL) {
		perror("nfq_open");
		return 1;
	}
	nfq_unbind_pf(h, AF_INET);
	nfq_bind_pf(h, AF_INET);
	qh = nfq_create_queue(h, (uint16_t)strtoul(argv[1], NULL, 10), on_packet, NULL);
	if (qh == NULL) {
		perror("nfq_create_queue");
		return 1;
	}
	/* Only the verdict matters: copy no payload. */
	nfq_set_mode(qh, NFQNL_COPY_META, 0);
	nfq_set_queue_maxlen(qh, RING);
	fd = nfq_fd(h);
	nfnl_rcvbufsiz(nfq_nfnlh(h), 8 << 20);
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct timespec to, *top = NULL;
		ssize_t n;

		release_due(qh);
		if (head != tail) {
			int64_t w = due[head % RING] - now_ns();

			if (w < 0)
				w = 0;
			to.tv_sec = w / 1000000000;
			to.tv_nsec = w % 1000000000;
			top = &to;
		}
		if (ppoll(&p, 1, top, NULL) < 0 && errno != EINTR) {
			perror("ppoll");
			return 1;
		}
		if (!(p.revents & POLLIN))
			continue;
		n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0)
			nfq_handle_packet(h, buf, (int)n);
	}
}
