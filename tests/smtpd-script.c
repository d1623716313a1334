/*
 * smtpd-script - the scripted, fault-injecting SMTP server of envoi's
 * scenario tests (tests/cases/server-*.sh).
 *
 * Owns: one listening socket on 127.0.0.1 (ephemeral port), a correct
 * ESMTP submission server (RFC 5321, 3207 STARTTLS, 4954 AUTH, 2920
 * PIPELINING, 1870 SIZE, 6152 8BITMIME, 6531 SMTPUTF8, 2034 enhanced status
 * codes, 3030 CHUNKING when the script advertises it), TLS with GnuTLS (server side, optional client certificates), SASL
 * verification with libgsasl (server side, including SCRAM-*-PLUS with
 * tls-exporter on TLS 1.3 and tls-unique on TLS 1.2) plus XOAUTH2 and
 * OAUTHBEARER parsed here, and the transcript, round-trip count and received
 * messages that the tests read.
 *
 * Never: listens anywhere but loopback (127.0.0.0/8), runs longer than -T seconds, or
 * writes outside the transcript, the port file and MAILDIR.
 *
 * Usage:
 *   smtpd-script -s SCRIPT -p PORTFILE -t TRANSCRIPT -m MAILDIR
 *                [-c CERT -k KEY] [-a CAFILE] [-n CONNECTIONS] [-T SECONDS]
 *                [-b ADDR] [-P PORT]
 * -b listens on another 127.0.0.0/8 address and -P on a given port instead
 * of an ephemeral one, so that two servers can share one port on two
 * addresses (an account's host list has one port for all its hosts).
 * It writes the port to PORTFILE (temp file + rename), serves CONNECTIONS
 * connections (default 1) one after another and exits 0; after SECONDS
 * (default 30) it gives up, writes "ERR: timeout" and exits 3. Bad usage
 * or script: exit 2.
 *
 * Script (one directive per line, '#' starts a comment):
 *   tls implicit|starttls|none     TLS from the first byte / STARTTLS / no
 *   tlsversion 1.2|1.3|any
 *   cap KEYWORD [ARGS]             add an EHLO keyword (replaces one with the
 *                                  same keyword); defaults: PIPELINING
 *                                  8BITMIME ENHANCEDSTATUSCODES SIZE 10240000;
 *                                  "cap CHUNKING" also makes BDAT work: each
 *                                  chunk's octets are read exactly, whatever
 *                                  the verdict (RFC 3030), and answered
 *                                  ("250 2.0.0 Ok: N octets"; after LAST the
 *                                  message is saved as after DATA); a chunk
 *                                  refused (an "on BDAT" reply of another
 *                                  class, no MAIL, no recipient) fails the
 *                                  transaction: later chunks get 503 until
 *                                  LAST or RSET
 *   nocap KEYWORD                  remove one keyword
 *   nocaps                         remove them all
 *   auth MECH...                   advertised AUTH mechanisms (after TLS in
 *                                  starttls mode; -PLUS ones only under TLS);
 *                                  when set, MAIL needs AUTH first (530)
 *   user NAME PASSWORD             accepted credentials
 *   token NAME TOKEN               accepted bearer token (XOAUTH2, OAUTHBEARER)
 *   drip MS                        send every connection's output one byte
 *                                  every MS ms from the first (the TLS
 *                                  handshake of "tls implicit" included)
 *   split                          every byte of output in a send() of its
 *                                  own (TCP_NODELAY: a segment of its own),
 *                                  the TLS handshake included, and under
 *                                  TLS every reply byte in a TLS record of
 *                                  its own
 *   tickets                        behave as Postfix does with TLS 1.3
 *                                  session tickets and Nagle's algorithm,
 *                                  in the order that costs a client a
 *                                  delayed ACK: the tickets go out in a
 *                                  write of their own once the client's
 *                                  first command after the handshake has
 *                                  arrived (so its ACK of them cannot ride
 *                                  on a command), and every later write
 *                                  first waits, as Nagle holds a small
 *                                  segment, until all earlier output is
 *                                  acknowledged. A wait of ACK_STALL_MS or
 *                                  more by the kernel's clock (loopback
 *                                  acknowledges in microseconds, a delayed
 *                                  ACK takes 40 ms or more) is written
 *                                  "I: held N ms for an ACK"
 *   greeting CODE TEXT             the greeting (default "220 localhost ESMTP
 *                                  smtpd-script"); a 4xx/5xx greeting other
 *                                  than 554 is followed by a close, after 554
 *                                  only QUIT is accepted
 *   on VERB[#N][@C] ACTION         override for VERB: CONNECT (greeting) EHLO
 *                                  HELO STARTTLS AUTH MAIL RCPT DATA DOT
 *                                  (end of data) QUIT RSET NOOP ETRN BDAT
 *                                  (each chunk, once read); #N = only the
 *                                  Nth occurrence in a connection, @C = only in
 *                                  the Cth connection. Occurrences are counted
 *                                  once a command passed the server's own
 *                                  checks (syntax, sequence, SIZE).
 *                                  ACTION is one of
 *                                    reply TEXT      (\n in TEXT separates lines)
 *                                    delay MS        (then the normal reply)
 *                                    drip MS         (then the normal reply, and
 *                                                     it and all later output go
 *                                                     out one byte every MS ms:
 *                                                     "on STARTTLS drip" drips the
 *                                                     220 and the handshake;
 *                                                     drip 0 stops dripping)
 *                                    longline N      (instead of the reply, one
 *                                                     line of N octets: the
 *                                                     verb's success code, then
 *                                                     'x's; N up to 3 MiB; the
 *                                                     command takes effect)
 *                                    endless         (instead of the reply,
 *                                                     "CODE-continued line N"
 *                                                     lines until the client
 *                                                     leaves or -T; then close)
 *                                    cut TEXT        (instead of the reply, TEXT
 *                                                     without a line end, then
 *                                                     close: under TLS after a
 *                                                     close_notify, gnutls_bye)
 *                                    garbage N       (after the command's
 *                                                     reply(ies), N octets of
 *                                                     every byte value: NUL, CR,
 *                                                     bare LF; for DATA after
 *                                                     the end-of-data reply)
 *                                    reset [N]       (the normal reply, then
 *                                                     once N more octets of
 *                                                     input were read (default
 *                                                     0; for DATA: of the body;
 *                                                     TLS records counted whole)
 *                                                     a TCP RST: SO_LINGER 0,
 *                                                     close)
 *                                    deaf            (the normal reply, then
 *                                                     nothing is ever read
 *                                                     again: the client's send
 *                                                     buffer fills; the server
 *                                                     waits for the client to
 *                                                     close, or -T)
 *                                    disconnect      (close instead of replying)
 *                                    hang            (never reply; read until EOF)
 *                                    noreply         (send nothing, carry on;
 *                                                     QUIT then just closes)
 *                                  An overriding reply of the success class
 *                                  (2xx; 3xx for DATA) keeps the command's
 *                                  effect; other classes refuse it. delay,
 *                                  drip, garbage, reset and deaf combine with
 *                                  the other actions of the same command.
 *
 * Transcript (TRANSCRIPT, flushed line by line):
 *   "C: line"  every command line received (AUTH payload lines included),
 *              without its CRLF, control bytes shown as \xNN; the
 *              message body is summarised as "D: N octets" followed by
 *              "C: ." for the end of data (a BDAT chunk is "D: N octets"
 *              after its command line; a command line over 1000
 *              octets appears as "C: [line of more than 1000 octets]")
 *   "S: line"  every reply line sent
 *   "I: ..."   events (connection number, TLS version, authentication,
 *              message saved)
 *   "ERR: ..." client protocol errors: "data after STARTTLS", "bare LF",
 *              "8-bit data without BODY=8BITMIME", "timeout"
 *   "RT: N"    at the end of each connection: its round trips.
 *   "ACK: N"   after it, with "tickets": the writes held for a delayed ACK.
 * With SMTPD_SCRIPT_DEBUG set in the environment, "I: round trip N" marks
 * each counted wait, to see where a client loses round trips.
 *
 * Round trips. Replies are queued and only sent when the server has nothing
 * left to do without new input (no complete line buffered, nothing readable
 * on the socket), exactly as a pipelining-aware server behaves. RT is
 *   1 for the TCP connect (SYN / SYN-ACK, before any data can flow),
 *   + 1 each time the server sends queued output and then has to wait
 *     for the client (the client had to see that output to go on),
 *   + 1 if output is still queued when the connection ends (the client waits
 *     for the final reply, e.g. "250 queued" and "221" after a pipelined QUIT).
 * TLS handshake flights go through the same queue, so a TLS 1.3 handshake
 * costs 1 and a TLS 1.2 handshake 2 (session tickets are disabled so that
 * nothing is sent after the client's Finished). With PIPELINING and QUIT
 * sent behind the end of data, the minimum for one message is 9 over
 * STARTTLS (connect, greeting, EHLO, STARTTLS, handshake, EHLO, AUTH,
 * MAIL+RCPT+DATA, body+QUIT) and 7 over implicit TLS 1.3; with CHUNKING 8
 * and 6 (MAIL+RCPT+BDAT+body+QUIT in one flight). Replies flushed while a
 * BDAT chunk's octets are still due count no round trip: the client
 * waits for none of them then.
 *
 * Received messages: MAILDIR/msg-N.eml holds the data of the Nth accepted
 * message exactly as received after removing the dot-stuffing (line
 * endings kept); MAILDIR/env-N.txt its "MAIL FROM:..." line and the
 * accepted "RCPT TO:..." lines, one per line, LF-terminated.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gsasl.h>

#include "buf.h"

/* Longest script line; directives are short. */
#define SCRIPT_LINE_MAX 1024
/* Rules, capabilities and users a script may declare: tests need a few. */
#define MAX_RULES 64
#define MAX_CAPS 32
#define MAX_USERS 16
#define MAX_MECHS 16
/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF;
 * we apply it to command lines too (extensions lengthen them past 512). */
#define CMD_LINE_MAX 1000
/* RFC 4954 4: AUTH lines may be up to 12288 octets. */
#define AUTH_LINE_MAX 12288
/* Input buffer: longer data lines are stored in pieces. */
#define IN_MAX 65536
/* A write held this long for the client's ACK waited for a delayed ACK
 * (Linux delays 40 ms at least; on loopback an ACK takes microseconds). */
#define ACK_STALL_MS 20
/* Queued output; the biggest is a "longline" reply (LONGLINE_MAX) in TLS
 * records, else an EHLO reply or a TLS flight. */
#define OUT_MAX (4 * 1024 * 1024)
/* A "longline" reply: a few MB show that a client bounds what it takes. */
#define LONGLINE_MAX (3 * 1024 * 1024)
/* Envelope text per message (MAIL and up to RCPT_MAX RCPT lines). */
#define RCPT_MAX 100
#define ENV_MAX ((RCPT_MAX + 1) * (CMD_LINE_MAX + 1))
/* A reply override's text. */
#define REPLY_MAX 512

enum tls_mode { TLS_NONE, TLS_STARTTLS, TLS_IMPLICIT };

enum verb {
	V_CONNECT, V_EHLO, V_HELO, V_STARTTLS, V_AUTH, V_MAIL, V_RCPT,
	V_DATA, V_DOT, V_QUIT, V_RSET, V_NOOP, V_ETRN, V_BDAT, V_COUNT
};
static const char *const verb_names[V_COUNT] = {
	"CONNECT", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT",
	"DATA", "DOT", "QUIT", "RSET", "NOOP", "ETRN", "BDAT",
};

enum action {
	A_REPLY, A_DELAY, A_DRIP, A_DISCONNECT, A_HANG, A_NOREPLY,
	A_LONGLINE, A_ENDLESS, A_CUT, A_GARBAGE, A_RESET, A_DEAF
};

struct rule {
	enum verb verb;
	long nth;               /* 0: every occurrence */
	long conn;              /* 0: every connection */
	enum action act;
	long n;                 /* delay, drip: ms; longline, garbage,
	                         * reset: octets */
	char reply[REPLY_MAX];  /* reply, cut */
};

struct user {
	char *name;
	char *secret;
	int is_token;
};

struct script {
	enum tls_mode tls;
	char priority[128];
	char *caps[MAX_CAPS];
	size_t ncaps;
	char *mechs[MAX_MECHS];
	size_t nmechs;
	struct user users[MAX_USERS];
	size_t nusers;
	char greeting[REPLY_MAX];
	long drip_ms;           /* 0: output goes out whole */
	int split;              /* a send() per byte, a TLS record per byte */
	int tickets;            /* TLS 1.3 tickets + Nagle emulated */
	struct rule rules[MAX_RULES];
	size_t nrules;
};

struct server {
	struct script sc;
	FILE *tr;               /* transcript */
	const char *maildir;
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t ticket_key;      /* "tickets": one key for the run */
	int want_client_cert;
	Gsasl *gsasl;
	struct timespec deadline;
	long msgno;             /* messages accepted so far */
	long connno;
	int timeout_reported;
};

/* What the rule lookup decided for one command. */
struct verdict {
	enum action act;        /* A_REPLY with reply[0] == 0: default reply */
	const char *reply;
	long n;
	enum verb verb;
};

struct conn {
	struct server *srv;
	int fd;
	gnutls_session_t tls;
	char inbuf[IN_MAX];
	char *in;               /* unread input: in[0 .. inlen) in inbuf */
	size_t inlen;
	struct buf out;
	long rt;
	long count[V_COUNT];
	int closing;            /* stop after flushing */
	int hanging;            /* read until EOF, reply nothing */
	int helo;
	int authed;
	int client_cert_ok;
	char client_cn[256];
	int in_mail;
	int mail_8bit, mail_utf8;
	long nrcpt;
	struct buf env;
	int timed_out;
	long drip_ms;           /* output one byte every drip_ms ms */
	int split;              /* output one byte per send, per TLS record */
	int nagle;              /* tickets sent: a write waits for the ACK
	                         * of all earlier output */
	long ack_stalls;        /* writes held ACK_STALL_MS or more */
	long garbage;           /* junk octets due after this command's reply */
	int reset_armed;        /* reset the connection ... */
	long reset_left;        /* ... after this many more octets of input */
	int deaf;               /* read nothing more, ever */
	int bye_sent;           /* TLS close_notify already queued */
	/* BDAT: the transaction's chunks so far */
	FILE *bdat;             /* the message being received; NULL = none */
	long long bdat_octets;
	int bdat_eight;         /* 8-bit octets seen */
	int bdat_failed;        /* a chunk was refused: the rest are too */
	int in_chunk;           /* reading a chunk's octets: flushing replies
	                         * then is no round trip (the client owes
	                         * octets it announced, it waits for nothing) */
};

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("smtpd-script: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ------------------------------------------------------------ transcript */

/* Control bytes are written as \xNN so that a binary line (a TLS record
 * sent to a plaintext server) cannot break the line structure; 8-bit bytes
 * (UTF-8 addresses) are kept as they came. */
static void
tr_line(struct server *s, const char *prefix, const char *p, size_t n)
{
	size_t i;

	fputs(prefix, s->tr);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x20 || ch == 0x7f)
			fprintf(s->tr, "\\x%02x", ch);
		else
			fputc(ch, s->tr);
	}
	fputc('\n', s->tr);
	fflush(s->tr);
}

static void tr_printf(struct server *s, const char *fmt, ...)
	ENVOI_PRINTF(2, 3);

static void
tr_printf(struct server *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(s->tr, fmt, ap);
	va_end(ap);
	fputc('\n', s->tr);
	fflush(s->tr);
}

/* ------------------------------------------------------------ time */

static long
ms_left(const struct server *s)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(s->deadline.tv_sec - now.tv_sec) * 1000 +
	    (s->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------ script */

static char *
xdup(const char *s)
{
	char *p = str_dup(s);

	if (p == NULL)
		die("out of memory");
	return p;
}

static int
verb_parse(const char *s, size_t n)
{
	int i;

	for (i = 0; i < V_COUNT; i++)
		if (strlen(verb_names[i]) == n &&
		    strncasecmp(verb_names[i], s, n) == 0)
			return i;
	return -1;
}

/* Remove the keyword's entry from caps, if present. */
static void
cap_remove(struct script *sc, const char *kw)
{
	size_t i, n = strcspn(kw, " ");

	for (i = 0; i < sc->ncaps; i++) {
		if (strncasecmp(sc->caps[i], kw, n) == 0 &&
		    (sc->caps[i][n] == '\0' || sc->caps[i][n] == ' ')) {
			free(sc->caps[i]);
			sc->ncaps--;
			for (; i < sc->ncaps; i++)
				sc->caps[i] = sc->caps[i + 1];
			return;
		}
	}
}

static void
cap_add(struct script *sc, const char *cap)
{
	cap_remove(sc, cap);
	if (sc->ncaps == MAX_CAPS)
		die("too many capabilities");
	sc->caps[sc->ncaps++] = xdup(cap);
}

/* "RCPT#2@1" into a rule's verb, nth and conn. */
static int
rule_target(struct rule *r, const char *w)
{
	size_t n = strcspn(w, "#@");
	const char *p = w + n;
	char num[32];
	size_t k;

	if (verb_parse(w, n) < 0)
		return -1;
	r->verb = (enum verb)verb_parse(w, n);
	while (*p) {
		char kind = *p++;

		k = strcspn(p, "#@");
		if (k == 0 || k >= sizeof num)
			return -1;
		memcpy(num, p, k);
		num[k] = '\0';
		if (parse_long(num, 1, 1000000, kind == '#' ? &r->nth :
		    &r->conn) < 0)
			return -1;
		p += k;
	}
	return 0;
}

/* The actions of "on" lines (see the top comment): what argument each
 * takes, and for a number its range. */
enum arg_kind { ARG_NONE, ARG_TEXT, ARG_NUM, ARG_OPTNUM };
static const struct {
	const char *name;
	enum action act;
	enum arg_kind arg;
	long min, max;
} actions[] = {
	{ "reply", A_REPLY, ARG_TEXT, 0, 0 },
	{ "delay", A_DELAY, ARG_NUM, 0, 600000 },
	{ "drip", A_DRIP, ARG_NUM, 0, 600000 },
	{ "disconnect", A_DISCONNECT, ARG_NONE, 0, 0 },
	{ "hang", A_HANG, ARG_NONE, 0, 0 },
	{ "noreply", A_NOREPLY, ARG_NONE, 0, 0 },
	{ "longline", A_LONGLINE, ARG_NUM, 4, LONGLINE_MAX },
	{ "endless", A_ENDLESS, ARG_NONE, 0, 0 },
	{ "cut", A_CUT, ARG_TEXT, 0, 0 },
	{ "garbage", A_GARBAGE, ARG_NUM, 1, 1000000 },
	{ "reset", A_RESET, ARG_OPTNUM, 0, 1000000000 },
	{ "deaf", A_DEAF, ARG_NONE, 0, 0 },
};

/* The ACTION of an "on" line: its word act[0 .. k), its argument p. */
static int
rule_action(struct rule *r, const char *act, size_t k, const char *p)
{
	size_t i;

	for (i = 0; i < sizeof actions / sizeof actions[0]; i++) {
		if (strlen(actions[i].name) != k ||
		    strncmp(act, actions[i].name, k) != 0)
			continue;
		r->act = actions[i].act;
		switch (actions[i].arg) {
		case ARG_NONE:
			return *p == '\0' ? 0 : -1;
		case ARG_TEXT:
			snprintf(r->reply, sizeof r->reply, "%s", p);
			return *p ? 0 : -1;
		case ARG_OPTNUM:
			if (*p == '\0')
				return 0;
			/* FALLTHROUGH */
		case ARG_NUM:
			return parse_long(p, actions[i].min, actions[i].max,
			    &r->n);
		}
	}
	return -1;
}

static void
script_load(struct script *sc, const char *path)
{
	char line[SCRIPT_LINE_MAX];
	FILE *f;
	long lineno = 0;

	memset(sc, 0, sizeof *sc);
	sc->tls = TLS_NONE;
	snprintf(sc->priority, sizeof sc->priority, "NORMAL");
	snprintf(sc->greeting, sizeof sc->greeting,
	    "220 localhost ESMTP smtpd-script");
	cap_add(sc, "PIPELINING");
	cap_add(sc, "8BITMIME");
	cap_add(sc, "ENHANCEDSTATUSCODES");
	cap_add(sc, "SIZE 10240000");

	if ((f = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		char *p, *arg, *hash;
		size_t n;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
			die("%s:%ld: line too long", path, lineno);
		/* A '#' starts a comment unless it is part of a word (RCPT#2). */
		for (hash = line; (hash = strchr(hash, '#')) != NULL; hash++)
			if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
				*hash = '\0';
				break;
			}
		n = strlen(line);
		while (n > 0 && strchr(" \t\r\n", line[n - 1]))
			line[--n] = '\0';
		p = line + strspn(line, " \t");
		if (*p == '\0')
			continue;
		n = strcspn(p, " \t");
		arg = p + n;
		if (*arg)
			*arg++ = '\0';
		arg += strspn(arg, " \t");

		if (strcmp(p, "tls") == 0) {
			if (strcmp(arg, "implicit") == 0)
				sc->tls = TLS_IMPLICIT;
			else if (strcmp(arg, "starttls") == 0)
				sc->tls = TLS_STARTTLS;
			else if (strcmp(arg, "none") == 0)
				sc->tls = TLS_NONE;
			else
				die("%s:%ld: tls implicit|starttls|none", path,
				    lineno);
		} else if (strcmp(p, "tlsversion") == 0) {
			const char *v = strcmp(arg, "1.2") == 0 ?
			    "NORMAL:-VERS-ALL:+VERS-TLS1.2" :
			    strcmp(arg, "1.3") == 0 ?
			    "NORMAL:-VERS-ALL:+VERS-TLS1.3" :
			    strcmp(arg, "any") == 0 ? "NORMAL" : NULL;

			if (v == NULL)
				die("%s:%ld: tlsversion 1.2|1.3|any", path,
				    lineno);
			snprintf(sc->priority, sizeof sc->priority, "%s", v);
		} else if (strcmp(p, "cap") == 0 && *arg) {
			cap_add(sc, arg);
		} else if (strcmp(p, "nocap") == 0 && *arg) {
			cap_remove(sc, arg);
		} else if (strcmp(p, "nocaps") == 0) {
			while (sc->ncaps > 0)
				free(sc->caps[--sc->ncaps]);
		} else if (strcmp(p, "auth") == 0) {
			char *tok, *save = NULL;

			for (tok = strtok_r(arg, " \t", &save); tok != NULL;
			    tok = strtok_r(NULL, " \t", &save)) {
				if (sc->nmechs == MAX_MECHS)
					die("%s:%ld: too many mechanisms",
					    path, lineno);
				sc->mechs[sc->nmechs++] = xdup(tok);
			}
		} else if ((strcmp(p, "user") == 0 || strcmp(p, "token") == 0)
		    && *arg) {
			struct user *u;
			size_t k = strcspn(arg, " \t");

			if (sc->nusers == MAX_USERS || arg[k] == '\0')
				die("%s:%ld: %s NAME SECRET", path, lineno, p);
			u = &sc->users[sc->nusers++];
			arg[k] = '\0';
			u->name = xdup(arg);
			u->secret = xdup(arg + k + 1 + strspn(arg + k + 1,
			    " \t"));
			u->is_token = p[0] == 't';
		} else if (strcmp(p, "drip") == 0) {
			if (parse_long(arg, 1, 600000, &sc->drip_ms) < 0)
				die("%s:%ld: drip MILLISECONDS", path, lineno);
		} else if (strcmp(p, "split") == 0 && *arg == '\0') {
			sc->split = 1;
		} else if (strcmp(p, "tickets") == 0 && *arg == '\0') {
			sc->tickets = 1;
		} else if (strcmp(p, "greeting") == 0 && *arg) {
			snprintf(sc->greeting, sizeof sc->greeting, "%s", arg);
		} else if (strcmp(p, "on") == 0) {
			struct rule *r;
			char *act;
			size_t k = strcspn(arg, " \t");

			if (sc->nrules == MAX_RULES)
				die("%s:%ld: too many rules", path, lineno);
			r = &sc->rules[sc->nrules];
			memset(r, 0, sizeof *r);
			act = arg + k;
			if (*act)
				*act++ = '\0';
			act += strspn(act, " \t");
			if (rule_target(r, arg) < 0)
				die("%s:%ld: bad target '%s'", path, lineno,
				    arg);
			k = strcspn(act, " \t");
			p = act + k + strspn(act + k, " \t");
			if (rule_action(r, act, k, p) < 0)
				die("%s:%ld: bad action '%s'", path, lineno,
				    act);
			sc->nrules++;
		} else {
			die("%s:%ld: unknown directive '%s'", path, lineno, p);
		}
	}
	fclose(f);
}

static void
script_free(struct script *sc)
{
	size_t i;

	for (i = 0; i < sc->ncaps; i++)
		free(sc->caps[i]);
	for (i = 0; i < sc->nmechs; i++)
		free(sc->mechs[i]);
	for (i = 0; i < sc->nusers; i++) {
		free(sc->users[i].name);
		mem_wipe(sc->users[i].secret, strlen(sc->users[i].secret));
		free(sc->users[i].secret);
	}
}

static const char *
script_cap(const struct script *sc, const char *kw)
{
	size_t i, n = strlen(kw);

	for (i = 0; i < sc->ncaps; i++)
		if (strncasecmp(sc->caps[i], kw, n) == 0 &&
		    (sc->caps[i][n] == '\0' || sc->caps[i][n] == ' '))
			return sc->caps[i];
	return NULL;
}

static const struct user *
script_user(const struct script *sc, const char *name, int token)
{
	size_t i;

	for (i = 0; i < sc->nusers; i++)
		if (sc->users[i].is_token == token &&
		    (name == NULL || strcmp(sc->users[i].name, name) == 0))
			return &sc->users[i];
	return NULL;
}

/*
 * Count one occurrence of verb and decide what to do: delays are served
 * here; a rule naming this occurrence (#N) wins over a general one.
 */
static struct verdict
conn_rules(struct conn *c, enum verb v)
{
	struct script *sc = &c->srv->sc;
	struct verdict vd = { A_REPLY, "", 0, v };
	long nth = ++c->count[v];
	int pass, found = 0;
	size_t i;

	for (pass = 0; pass < 2 && !found; pass++) {
		for (i = 0; i < sc->nrules; i++) {
			struct rule *r = &sc->rules[i];

			if (r->verb != v || (r->conn && r->conn !=
			    c->srv->connno) || (r->nth && r->nth != nth))
				continue;
			if ((r->nth != 0) != (pass == 0))
				continue;
			if (r->act == A_DELAY) {
				sleep_ms(r->n);
				continue;
			}
			if (r->act == A_DRIP) {
				c->drip_ms = r->n;
				continue;
			}
			/* These change what follows the reply, not the reply. */
			if (r->act == A_GARBAGE) {
				c->garbage = r->n;
				continue;
			}
			if (r->act == A_RESET) {
				c->reset_armed = 1;
				c->reset_left = r->n;
				continue;
			}
			if (r->act == A_DEAF) {
				c->deaf = 1;
				continue;
			}
			if (!found) {
				vd.act = r->act;
				vd.reply = r->reply;
				vd.n = r->n;
				found = 1;
			}
		}
	}
	return vd;
}

/* ------------------------------------------------------------ socket I/O */

static int
readable_now(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) > 0;
}

/*
 * "tickets": hold a write, as Nagle's algorithm holds a small segment,
 * until everything sent before is acknowledged (at most a second), and
 * count it as held for a delayed ACK if our last data was still
 * unacknowledged ACK_STALL_MS after it left, by the kernel's clock
 * (tcpi_last_data_sent): a busy machine delaying this process cannot
 * make a prompt ACK look late.
 */
static void
conn_wait_acked(struct conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	long held = -1;

	for (int i = 0; i < 1000; i++) {
		if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
		    ti.tcpi_unacked == 0)
			break;
		held = (long)ti.tcpi_last_data_sent;
		sleep_ms(1);
	}
	if (held < ACK_STALL_MS)
		return;
	c->ack_stalls++;
	tr_printf(c->srv, "I: held %ld ms or more for an ACK", held);
}

static int
conn_flush(struct conn *c)
{
	size_t off = 0;

	if (c->nagle && c->fd >= 0 && c->out.len > 0)
		conn_wait_acked(c);

	while (off < c->out.len) {
		struct pollfd p = { c->fd, POLLOUT, 0 };
		ssize_t n;
		long ms = ms_left(c->srv);

		if (c->fd < 0) {        /* reset by us */
			buf_reset(&c->out);
			errno = ECONNRESET;
			return -1;
		}
		if (ms == 0 || poll(&p, 1, (int)ms) == 0) {
			c->timed_out = 1;
			buf_reset(&c->out);
			errno = ETIMEDOUT;
			return -1;
		}
		/* Dripping: a byte, then a pause (a slow or hostile peer). */
		if (c->drip_ms > 0 && off > 0)
			sleep_ms(c->drip_ms < ms ? c->drip_ms : ms);
		n = send(c->fd, c->out.data + off, c->drip_ms > 0 ||
		    c->split ? 1 : c->out.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			buf_reset(&c->out);
			return -1;
		}
		off += (size_t)n;
	}
	buf_reset(&c->out);
	return 0;
}

/* Wait for events on the socket until the server's deadline: 1, or -1
 * (ETIMEDOUT, or poll's own error). */
static int
conn_poll(struct conn *c, short events)
{
	struct pollfd pfd = { c->fd, events, 0 };
	long ms;
	int r;

	for (;;) {
		ms = ms_left(c->srv);
		if (ms == 0 || (r = poll(&pfd, 1, (int)ms)) == 0) {
			c->timed_out = 1;
			errno = ETIMEDOUT;
			return -1;
		}
		if (r > 0)
			return 1;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * "reset": what is queued goes out, then, a moment later (the client has
 * read it and gone on), the connection is reset: SO_LINGER 0 makes
 * close() send a TCP RST instead of a FIN.
 */
static void
conn_reset(struct conn *c)
{
	struct linger lg = { 1, 0 };

	if (c->out.len > 0 && conn_flush(c) == 0)
		sleep_ms(100);
	tr_printf(c->srv, "I: reset");
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(c->fd);
	c->fd = -1;
	c->closing = 1;
}

/*
 * "deaf": read nothing, ever; the client's data piles up in the socket
 * buffers. Waits until the client closes its side (POLLRDHUP is seen
 * without reading) or the server's deadline: 0 or -1 (ETIMEDOUT).
 */
static ssize_t
conn_deaf(struct conn *c)
{
	tr_printf(c->srv, "I: deaf");
	if (conn_poll(c, POLLRDHUP) < 0)
		return -1;
	tr_printf(c->srv, "I: client closed the connection, unread");
	c->closing = 1;
	return 0;
}

/*
 * The only place the socket is read. Queued output is sent first unless
 * the client has already sent more (it is pipelining); sending and then
 * waiting is one round trip.
 */
static ssize_t
conn_sock_read(struct conn *c, void *p, size_t n)
{
	ssize_t r;

	if (c->fd < 0) {
		errno = ECONNRESET;
		return -1;
	}
	if (c->reset_armed && c->reset_left == 0) {
		conn_reset(c);
		errno = ECONNRESET;
		return -1;
	}
	if (c->out.len > 0 && !readable_now(c->fd)) {
		if (conn_flush(c) < 0)
			return -1;
		if (!c->in_chunk)
			c->rt++;
		if (!c->in_chunk && getenv("SMTPD_SCRIPT_DEBUG"))
			tr_printf(c->srv, "I: round trip %ld", c->rt);
	}
	if (c->deaf)
		return conn_deaf(c);
	if (c->reset_armed && n > (size_t)c->reset_left)
		n = (size_t)c->reset_left;
	for (;;) {
		if (conn_poll(c, POLLIN) < 0)
			return -1;
		r = recv(c->fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0 && c->reset_armed)
			c->reset_left -= (long)r;
		return r;
	}
}

static ssize_t
tls_pull(gnutls_transport_ptr_t ptr, void *p, size_t n)
{
	struct conn *c = ptr;
	ssize_t r = conn_sock_read(c, p, n);

	if (r < 0)
		gnutls_transport_set_errno(c->tls, errno == ETIMEDOUT ?
		    ETIMEDOUT : EIO);
	return r;
}

static int
tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct conn *c = ptr;
	struct pollfd p = { c->fd, POLLIN, 0 };

	(void)ms;
	return poll(&p, 1, 0) > 0 || c->out.len > 0 ? 1 : 0;
}

/* TLS output is queued like plaintext output, so flights coalesce. */
static ssize_t
tls_push(gnutls_transport_ptr_t ptr, const void *p, size_t n)
{
	struct conn *c = ptr;

	if (buf_append(&c->out, p, n) < 0) {
		gnutls_transport_set_errno(c->tls, ENOMEM);
		return -1;
	}
	return (ssize_t)n;
}

/*
 * Move unread input to the start of the buffer before reading more. A
 * plain forward copy (the destination is always below the source): glibc's
 * fortified memmove is reported as an overlapping memcpy by valgrind.
 */
static void
conn_compact(struct conn *c)
{
	size_t i;

	if (c->in == c->inbuf)
		return;
	for (i = 0; i < c->inlen; i++)
		c->inbuf[i] = c->in[i];
	c->in = c->inbuf;
}

/* Read more input; >0 bytes, 0 at EOF, -1 on error or timeout. */
static int
conn_fill(struct conn *c)
{
	ssize_t r;

	if (c->inlen == IN_MAX)
		return -1;
	conn_compact(c);
	if (c->tls == NULL) {
		r = conn_sock_read(c, c->in + c->inlen, IN_MAX - c->inlen);
		if (r < 0)
			return -1;
	} else {
		do {
			r = gnutls_record_recv(c->tls, c->in + c->inlen,
			    IN_MAX - c->inlen);
		} while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
		if (r == GNUTLS_E_PREMATURE_TERMINATION)
			r = 0;
		if (r < 0) {
			if (!c->timed_out)
				tr_printf(c->srv, "I: TLS read: %s",
				    gnutls_strerror((int)r));
			return -1;
		}
	}
	c->inlen += (size_t)r;
	return (int)(r > 0);
}

/*
 * The next line (with its line ending) at c->in, length *n. Returns 1, or
 * 2 when the buffer is full without a line end (*n = whole buffer), 0 at
 * EOF, -1 on error.
 */
static int
conn_getline(struct conn *c, size_t *n)
{
	char *nl;
	int r;

	for (;;) {
		nl = memchr(c->in, '\n', c->inlen);
		if (nl != NULL) {
			*n = (size_t)(nl - c->in) + 1;
			return 1;
		}
		if (c->inlen == IN_MAX) {
			*n = c->inlen;
			return 2;
		}
		if ((r = conn_fill(c)) <= 0)
			return r;
	}
}

static void
conn_consume(struct conn *c, size_t n)
{
	c->in += n;
	c->inlen -= n;
	if (c->inlen == 0)
		c->in = c->inbuf;
}

static void
conn_discard_input(struct conn *c)
{
	c->in = c->inbuf;
	c->inlen = 0;
}

/* Queue bytes as they are (through TLS when it is on): with "split", every
 * byte is a TLS record of its own. */
static void
conn_send_raw(struct conn *c, const char *p, size_t n)
{
	size_t off = 0;

	if (c->tls == NULL) {
		if (buf_append(&c->out, p, n) < 0)
			die("output queue full");
		return;
	}
	while (off < n) {
		ssize_t r = gnutls_record_send(c->tls, p + off, c->split ? 1 :
		    n - off);

		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r < 0)
			die("TLS send: %s", gnutls_strerror((int)r));
		off += (size_t)r;
	}
}

/* Queue reply text; "\n" (two characters) separates lines. */
static void
conn_reply(struct conn *c, const char *text)
{
	struct buf b;
	const char *p = text;

	buf_init(&b, OUT_MAX);
	for (;;) {
		const char *e = strstr(p, "\\n");
		size_t n = e ? (size_t)(e - p) : strlen(p);

		tr_line(c->srv, "S: ", p, n);
		if (buf_append(&b, p, n) < 0 || buf_puts(&b, "\r\n") < 0)
			die("out of memory");
		if (e == NULL)
			break;
		p = e + 2;
	}
	conn_send_raw(c, b.data, b.len);
	buf_free(&b);
}

static void conn_replyf(struct conn *c, const char *fmt, ...)
	ENVOI_PRINTF(2, 3);

static void
conn_replyf(struct conn *c, const char *fmt, ...)
{
	char line[REPLY_MAX * 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	conn_reply(c, line);
}

/* The code a verb's success reply has ("longline", "endless"). */
static int
verb_ok_code(enum verb v)
{
	switch (v) {
	case V_CONNECT:
	case V_STARTTLS:
		return 220;
	case V_AUTH:
		return 235;
	case V_DATA:
		return 354;
	case V_QUIT:
		return 221;
	default:
		return 250;
	}
}

/* "longline": one reply line of n octets (without its CRLF). */
static void
conn_longline(struct conn *c, enum verb v, long n)
{
	char *line = malloc((size_t)n + 2);

	if (line == NULL)
		die("out of memory");
	snprintf(line, 5, "%03d ", verb_ok_code(v));
	memset(line + 4, 'x', (size_t)n - 4);
	memcpy(line + n, "\r\n", 2);
	tr_printf(c->srv, "S: [%d line of %ld octets]", verb_ok_code(v), n);
	conn_send_raw(c, line, (size_t)n + 2);
	free(line);
}

/* "endless": continuation lines until the client goes away or the
 * server's deadline; then the connection ends. */
static void
conn_endless(struct conn *c, enum verb v)
{
	char line[64];
	long i = 0;
	int n;

	tr_printf(c->srv, "S: [%d- lines without end]", verb_ok_code(v));
	for (;;) {
		n = snprintf(line, sizeof line, "%03d-continued line %ld\r\n",
		    verb_ok_code(v), ++i);
		conn_send_raw(c, line, (size_t)n);
		if (c->out.len >= 4096 && conn_flush(c) < 0)
			break;
	}
	tr_printf(c->srv, "I: %ld continuation lines queued", i);
	c->closing = 1;
}

/* "garbage": n octets of every value, NUL, CR and bare LF included. */
static void
conn_garbage(struct conn *c)
{
	char junk[256];
	long left = c->garbage;
	size_t i;

	for (i = 0; i < sizeof junk; i++)
		junk[i] = (char)(255 - i);
	tr_printf(c->srv, "S: [%ld octets of garbage]", left);
	while (left > 0) {
		size_t k = left < (long)sizeof junk ? (size_t)left : sizeof junk;

		conn_send_raw(c, junk, k);
		left -= (long)k;
	}
	c->garbage = 0;
}

/* "cut": text without a line end, then the end of the connection (with
 * TLS, a close_notify first: an orderly end in the middle of a reply). */
static void
conn_cut(struct conn *c, const char *text)
{
	tr_printf(c->srv, "S: [cut] %s", text);
	conn_send_raw(c, text, strlen(text));
	if (c->tls != NULL) {
		gnutls_bye(c->tls, GNUTLS_SHUT_WR);
		c->bye_sent = 1;
	}
	c->closing = 1;
}

/*
 * Apply a verdict before the default handling. Returns 1 when the command
 * is finished (reply sent or suppressed, or the connection is ending), 0
 * when the default handling should run, and -1 when an override reply was
 * sent whose class means success, so the command's effect should still
 * happen (ok_class is the success digit, '2' or '3').
 */
static int
conn_verdict(struct conn *c, struct verdict vd, char ok_class)
{
	switch (vd.act) {
	case A_DISCONNECT:
		tr_printf(c->srv, "I: disconnect");
		c->closing = 1;
		buf_reset(&c->out);
		return 1;
	case A_HANG:
		tr_printf(c->srv, "I: hang");
		c->hanging = 1;
		return 1;
	case A_NOREPLY:
		return 1;
	case A_LONGLINE:                /* a success reply, however long */
		conn_longline(c, vd.verb, vd.n);
		return -1;
	case A_ENDLESS:
		conn_endless(c, vd.verb);
		return 1;
	case A_CUT:
		conn_cut(c, vd.reply);
		return 1;
	case A_REPLY:
	case A_DELAY:
	case A_DRIP:
	case A_GARBAGE:
	case A_RESET:
	case A_DEAF:
		break;
	}
	if (vd.reply == NULL || vd.reply[0] == '\0')
		return 0;
	conn_reply(c, vd.reply);
	return vd.reply[0] == ok_class ? -1 : 1;
}

/* ------------------------------------------------------------ commands */

static int
is_cmd(const char *line, const char *verb)
{
	size_t n = strlen(verb);

	return strncasecmp(line, verb, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ');
}

static int
has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

static int
mech_offered(struct conn *c, const char *mech)
{
	const struct script *sc = &c->srv->sc;
	size_t i;

	if (sc->tls == TLS_STARTTLS && c->tls == NULL)
		return 0;
	for (i = 0; i < sc->nmechs; i++) {
		size_t n = strlen(sc->mechs[i]);

		if (c->tls == NULL && n > 5 &&
		    strcmp(sc->mechs[i] + n - 5, "-PLUS") == 0)
			continue;
		if (mech == NULL || strcasecmp(sc->mechs[i], mech) == 0)
			return 1;
	}
	return 0;
}

static void
do_ehlo(struct conn *c, const char *arg)
{
	const struct script *sc = &c->srv->sc;
	struct buf b;
	size_t i, last;

	buf_init(&b, OUT_MAX);
	if (buf_printf(&b, "250-localhost Hello %s", arg) < 0)
		die("out of memory");
	last = 3;
	if (sc->tls == TLS_STARTTLS && c->tls == NULL) {
		last = b.len + 5;
		if (buf_puts(&b, "\\n250-STARTTLS") < 0)
			die("out of memory");
	}
	if (mech_offered(c, NULL)) {
		last = b.len + 5;
		if (buf_puts(&b, "\\n250-AUTH") < 0)
			die("out of memory");
		for (i = 0; i < sc->nmechs; i++) {
			size_t n = strlen(sc->mechs[i]);

			if (c->tls == NULL && n > 5 &&
			    strcmp(sc->mechs[i] + n - 5, "-PLUS") == 0)
				continue;
			if (buf_printf(&b, " %s", sc->mechs[i]) < 0)
				die("out of memory");
		}
	}
	for (i = 0; i < sc->ncaps; i++) {
		last = b.len + 5;
		if (buf_printf(&b, "\\n250-%s", sc->caps[i]) < 0)
			die("out of memory");
	}
	/* The last line takes "250 " instead of "250-". */
	b.data[last] = ' ';
	conn_reply(c, b.data);
	buf_free(&b);
}

static void bdat_discard(struct conn *c);

/* Start of a new transaction. */
static void
mail_reset(struct conn *c)
{
	bdat_discard(c);
	c->bdat_failed = 0;
	c->in_mail = 0;
	c->nrcpt = 0;
	c->mail_8bit = 0;
	c->mail_utf8 = 0;
	buf_reset(&c->env);
}

/* The address between < and > after "FROM:" / "TO:", and the params. */
static int
parse_path(const char *s, const char **addr, size_t *alen,
    const char **params)
{
	const char *lt, *gt;

	s += strspn(s, " ");
	if (*s != '<')
		return -1;
	lt = s + 1;
	gt = strchr(lt, '>');
	if (gt == NULL)
		return -1;
	*addr = lt;
	*alen = (size_t)(gt - lt);
	*params = gt + 1;
	if (**params != '\0' && **params != ' ')
		return -1;
	return 0;
}

static long
size_limit(struct conn *c)
{
	const char *cap = script_cap(&c->srv->sc, "SIZE");
	long v;

	if (cap == NULL || cap[4] != ' ' || parse_long(cap + 5, 0,
	    1000000000000L, &v) < 0)
		return 0;
	return v;
}

static void
do_mail(struct conn *c, const char *line)
{
	const char *addr, *params;
	size_t alen;
	char *copy, *tok, *save = NULL;
	int utf8 = 0, eight = 0, r;
	struct verdict vd;

	if (!c->helo) {
		conn_reply(c, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (c->srv->sc.nmechs > 0 && !c->authed) {
		conn_reply(c, "530 5.7.0 Authentication required");
		return;
	}
	if (c->in_mail) {
		conn_reply(c, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (strncasecmp(line, "MAIL FROM:", 10) != 0 ||
	    parse_path(line + 10, &addr, &alen, &params) < 0) {
		conn_reply(c, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	copy = xdup(params);
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		long v;

		if (strncasecmp(tok, "SIZE=", 5) == 0 &&
		    script_cap(&c->srv->sc, "SIZE")) {
			if (parse_long(tok + 5, 0, 1000000000000L, &v) < 0) {
				conn_reply(c, "501 5.5.4 Bad SIZE parameter");
				goto out;
			}
			if (size_limit(c) > 0 && v > size_limit(c)) {
				conn_reply(c, "552 5.3.4 Message size exceeds "
				    "fixed limit");
				goto out;
			}
		} else if (strcasecmp(tok, "BODY=8BITMIME") == 0 &&
		    script_cap(&c->srv->sc, "8BITMIME")) {
			eight = 1;
		} else if (strcasecmp(tok, "BODY=7BIT") == 0) {
			;
		} else if (strcasecmp(tok, "SMTPUTF8") == 0 &&
		    script_cap(&c->srv->sc, "SMTPUTF8")) {
			utf8 = 1;
		} else if ((strncasecmp(tok, "RET=", 4) == 0 ||
		    strncasecmp(tok, "ENVID=", 6) == 0) &&
		    script_cap(&c->srv->sc, "DSN")) {
			;
		} else if (strncasecmp(tok, "AUTH=", 5) == 0 && c->authed) {
			;
		} else if (strcasecmp(tok, "REQUIRETLS") == 0 &&
		    script_cap(&c->srv->sc, "REQUIRETLS")) {
			;
		} else {
			conn_replyf(c, "555 5.5.4 Unsupported option: %s", tok);
			goto out;
		}
	}
	if (has_8bit(addr, alen) && !utf8) {
		conn_reply(c, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		goto out;
	}
	vd = conn_rules(c, V_MAIL);
	if ((r = conn_verdict(c, vd, '2')) > 0)
		goto out;
	c->in_mail = 1;
	c->mail_8bit = eight;
	c->mail_utf8 = utf8;
	buf_reset(&c->env);
	if (buf_puts(&c->env, line) < 0 || buf_putc(&c->env, '\n') < 0)
		die("envelope too long");
	if (r == 0)
		conn_reply(c, "250 2.1.0 Ok");
out:
	free(copy);
}

static void
do_rcpt(struct conn *c, const char *line)
{
	const char *addr, *params;
	size_t alen;
	char *copy, *tok, *save = NULL;
	struct verdict vd;
	int r;

	if (!c->in_mail) {
		conn_reply(c, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (strncasecmp(line, "RCPT TO:", 8) != 0 ||
	    parse_path(line + 8, &addr, &alen, &params) < 0 || alen == 0) {
		conn_reply(c, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	copy = xdup(params);
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if ((strncasecmp(tok, "NOTIFY=", 7) == 0 ||
		    strncasecmp(tok, "ORCPT=", 6) == 0) &&
		    script_cap(&c->srv->sc, "DSN"))
			continue;
		conn_replyf(c, "555 5.5.4 Unsupported option: %s", tok);
		goto out;
	}
	if (has_8bit(addr, alen) && !c->mail_utf8) {
		conn_reply(c, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		goto out;
	}
	if (c->nrcpt == RCPT_MAX) {
		conn_reply(c, "452 4.5.3 Error: too many recipients");
		goto out;
	}
	vd = conn_rules(c, V_RCPT);
	if ((r = conn_verdict(c, vd, '2')) > 0)
		goto out;
	c->nrcpt++;
	if (buf_puts(&c->env, line) < 0 || buf_putc(&c->env, '\n') < 0)
		die("envelope too long");
	if (r == 0)
		conn_reply(c, "250 2.1.5 Ok");
out:
	free(copy);
}

static int
write_file(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	if (fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

/*
 * The end of a message received in tmp: r > 0 refused (tmp removed), else
 * saved as the next msg-N.eml with its envelope, and with r == 0 the
 * default reply (r < 0: an override replied already).
 */
static void
msg_save(struct conn *c, const char *tmp, long long octets, int r)
{
	struct server *s = c->srv;
	char final[4096];

	if (r > 0) {
		unlink(tmp);
		return;
	}
	s->msgno++;
	snprintf(final, sizeof final, "%s/msg-%ld.eml", s->maildir, s->msgno);
	if (rename(tmp, final) < 0)
		die("%s: %s", final, strerror(errno));
	snprintf(final, sizeof final, "%s/env-%ld.txt", s->maildir, s->msgno);
	if (write_file(final, c->env.data, c->env.len) < 0)
		die("%s: %s", final, strerror(errno));
	tr_printf(s, "I: message %ld saved, %lld octets", s->msgno, octets);
	if (r == 0)
		conn_replyf(c, "250 2.0.0 Ok: queued as %ld", s->msgno);
}

/*
 * Receive the message after a 354 until the end-of-data line, undoing the
 * dot-stuffing, then reply. Returns -1 when the connection broke.
 */
static int
do_data_body(struct conn *c)
{
	struct server *s = c->srv;
	char tmp[4096];
	FILE *f;
	int at_bol = 1, bare_lf = 0, eight = 0, r;
	long long octets = 0;
	size_t n;
	struct verdict vd;

	snprintf(tmp, sizeof tmp, "%s/tmp-%ld.eml", s->maildir, s->connno);
	if ((f = fopen(tmp, "w")) == NULL)
		die("%s: %s", tmp, strerror(errno));
	for (;;) {
		const char *p;

		r = conn_getline(c, &n);
		if (r <= 0) {
			fclose(f);
			unlink(tmp);
			tr_printf(s, "I: connection lost in DATA after %lld "
			    "octets", octets);
			return -1;
		}
		p = c->in;
		if (at_bol && r == 1 && p[0] == '.' &&
		    ((n == 3 && p[1] == '\r') || n == 2))
			break;
		if (at_bol && p[0] == '.') {
			conn_consume(c, 1);
			p = c->in;
			n--;
		}
		if (r == 1 && (n < 2 || p[n - 2] != '\r'))
			bare_lf = 1;
		if (has_8bit(p, n))
			eight = 1;
		if (fwrite(p, 1, n, f) != n)
			die("%s: write failed", tmp);
		octets += (long long)n;
		conn_consume(c, n);
		at_bol = r == 1;
	}
	if (n == 2)
		bare_lf = 1;
	conn_consume(c, n);
	if (fclose(f) != 0)
		die("%s: write failed", tmp);
	tr_printf(s, "D: %lld octets", octets);
	tr_printf(s, "C: .");
	if (bare_lf)
		tr_printf(s, "ERR: bare LF");
	if (eight && !c->mail_8bit)
		tr_printf(s, "ERR: 8-bit data without BODY=8BITMIME");

	vd = conn_rules(c, V_DOT);
	r = conn_verdict(c, vd, '2');
	if (r <= 0 && size_limit(c) > 0 && octets > size_limit(c)) {
		if (r == 0)
			conn_reply(c, "552 5.3.4 Message size exceeds fixed "
			    "limit");
		r = 1;
	}
	msg_save(c, tmp, octets, r);
	mail_reset(c);
	return 0;
}

static void
do_data(struct conn *c)
{
	struct verdict vd;
	int r;

	if (!c->in_mail) {
		conn_reply(c, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (c->nrcpt == 0) {
		conn_reply(c, "554 5.5.1 Error: no valid recipients");
		return;
	}
	vd = conn_rules(c, V_DATA);
	if ((r = conn_verdict(c, vd, '3')) > 0)
		return;
	if (r == 0)
		conn_reply(c, "354 End data with <CR><LF>.<CR><LF>");
	if (do_data_body(c) < 0)
		c->closing = 1;
}

/* The BDAT transaction's file name. */
static void
bdat_path(const struct conn *c, char *dst, size_t size)
{
	snprintf(dst, size, "%s/tmp-%ld.eml", c->srv->maildir, c->srv->connno);
}

/* Forget the chunks received so far (RSET, a refusal, a new MAIL). */
static void
bdat_discard(struct conn *c)
{
	char tmp[4096];

	/* The count too when no file was open: a refused transaction's
	 * chunks must not be added to the next message's size. */
	c->bdat_octets = 0;
	c->bdat_eight = 0;
	if (c->bdat == NULL)
		return;
	fclose(c->bdat);
	c->bdat = NULL;
	bdat_path(c, tmp, sizeof tmp);
	unlink(tmp);
}

/* Read a chunk's n octets exactly, into f unless it is NULL. -1 when the
 * connection broke first. */
static int
bdat_read(struct conn *c, long long n, FILE *f)
{
	while (n > 0) {
		size_t k;

		if (c->inlen == 0) {
			int r;

			c->in_chunk = 1;
			r = conn_fill(c);
			c->in_chunk = 0;
			if (r <= 0)
				return -1;
		}
		k = c->inlen < (unsigned long long)n ? c->inlen : (size_t)n;
		if (f != NULL && fwrite(c->in, 1, k, f) != k)
			die("BDAT: write failed");
		if (has_8bit(c->in, k))
			c->bdat_eight = 1;
		conn_consume(c, k);
		n -= (long long)k;
	}
	return 0;
}

/* The reply to one chunk, and after LAST the message's fate. */
static void
bdat_verdict(struct conn *c, long long n, int last)
{
	struct verdict vd;
	char tmp[4096];
	int r;

	if (c->bdat_failed || !c->in_mail || c->nrcpt == 0) {
		/* RFC 3030: the octets were read all the same. */
		conn_reply(c, c->bdat_failed ? "503 5.5.1 Error: an earlier BDAT failed" :
		    !c->in_mail ? "503 5.5.1 Error: need MAIL command" :
		    "554 5.5.1 Error: no valid recipients");
		c->bdat_failed = !last;
		bdat_discard(c);
		if (last)
			mail_reset(c);
		return;
	}
	vd = conn_rules(c, V_BDAT);
	r = conn_verdict(c, vd, '2');
	if (r <= 0 && last && size_limit(c) > 0 && c->bdat_octets > size_limit(c)) {
		if (r == 0)
			conn_reply(c, "552 5.3.4 Message size exceeds fixed limit");
		r = 1;
	}
	if (r > 0) {
		bdat_discard(c);
		if (last)
			mail_reset(c);
		else
			c->bdat_failed = 1;
		return;
	}
	if (!last) {
		if (r == 0)
			conn_replyf(c, "250 2.0.0 Ok: %lld octets", n);
		return;
	}
	if (c->bdat_eight && !c->mail_8bit)
		tr_printf(c->srv, "ERR: 8-bit data without BODY=8BITMIME");
	if (fclose(c->bdat) != 0)
		die("BDAT: write failed");
	c->bdat = NULL;
	bdat_path(c, tmp, sizeof tmp);
	msg_save(c, tmp, c->bdat_octets, r);
	c->bdat_octets = 0;
	mail_reset(c);
}

/* "BDAT n [LAST]" (RFC 3030), offered with "cap CHUNKING". */
static void
do_bdat(struct conn *c, const char *line)
{
	char num[32], tmp[4096];
	const char *p = line + 5, *sp;
	long n;
	int last;

	sp = strchr(p, ' ');
	last = sp != NULL && strcasecmp(sp, " LAST") == 0;
	if (!script_cap(&c->srv->sc, "CHUNKING") || line[4] != ' ' ||
	    (sp != NULL && !last) || (size_t)((sp ? sp : p + strlen(p)) - p) >=
	    sizeof num) {
		conn_reply(c, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	snprintf(num, sizeof num, "%.*s", (int)((sp ? sp : p + strlen(p)) - p), p);
	if (parse_long(num, 0, 1000000000000L, &n) < 0) {
		conn_reply(c, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	if (c->bdat == NULL && c->in_mail && c->nrcpt > 0 && !c->bdat_failed) {
		bdat_path(c, tmp, sizeof tmp);
		if ((c->bdat = fopen(tmp, "w")) == NULL)
			die("%s: %s", tmp, strerror(errno));
	}
	if (bdat_read(c, n, c->bdat) < 0) {
		tr_printf(c->srv, "I: connection lost in BDAT");
		bdat_discard(c);
		c->closing = 1;
		return;
	}
	tr_printf(c->srv, "D: %ld octets", n);
	c->bdat_octets += n;
	bdat_verdict(c, n, last);
}

/* ------------------------------------------------------------ TLS */

/*
 * "tickets": GnuTLS queued the TLS 1.3 tickets at the end of the
 * handshake. Send them in a write of their own: after STARTTLS once the
 * client's EHLO is here, so that only a prompt ACK of its own can
 * acknowledge them (over implicit TLS the client sends nothing before our
 * greeting anyway). The client waits for none of it: no round trip. From
 * now on every write waits for the ACK of all earlier output.
 */
static void
send_tickets(struct conn *c)
{
	size_t n = c->out.len;

	if (n == 0 || (c->srv->sc.tls == TLS_STARTTLS && conn_poll(c, POLLIN) < 0))
		return;
	if (conn_flush(c) == 0)
		tr_printf(c->srv, "I: session tickets sent: %zu octets", n);
	c->nagle = 1;
}

static int
tls_start(struct conn *c)
{
	struct server *s = c->srv;
	const char *errpos = NULL;
	int r;

	if (s->cred == NULL)
		die("TLS needs -c CERT -k KEY");
	if (gnutls_init(&c->tls, GNUTLS_SERVER |
	    (s->sc.tickets ? 0 : GNUTLS_NO_TICKETS)) < 0)
		die("gnutls_init failed");
	if (s->sc.tickets) {
		if (s->ticket_key.data == NULL &&
		    gnutls_session_ticket_key_generate(&s->ticket_key) < 0)
			die("gnutls_session_ticket_key_generate failed");
		if (gnutls_session_ticket_enable_server(c->tls, &s->ticket_key) < 0)
			die("gnutls_session_ticket_enable_server failed");
	}
	r = gnutls_priority_set_direct(c->tls, s->sc.priority, &errpos);
	if (r < 0)
		die("TLS priority '%s': %s", s->sc.priority,
		    gnutls_strerror(r));
	gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, s->cred);
	if (s->want_client_cert)
		gnutls_certificate_server_set_request(c->tls,
		    GNUTLS_CERT_REQUEST);
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_push_function(c->tls, tls_push);
	gnutls_transport_set_pull_function(c->tls, tls_pull);
	gnutls_transport_set_pull_timeout_function(c->tls, tls_pull_timeout);
	do {
		r = gnutls_handshake(c->tls);
	} while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		tr_printf(s, "I: TLS handshake failed: %s",
		    gnutls_strerror(r));
		if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
			tr_printf(s, "I: TLS alert from client: %s",
			    gnutls_alert_get_name(gnutls_alert_get(c->tls)));
		/* Whatever the alert queued is not for the client to wait on. */
		buf_reset(&c->out);
		gnutls_deinit(c->tls);
		c->tls = NULL;
		return -1;
	}
	tr_printf(s, "I: TLS established: %s",
	    gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls)));
	if (s->sc.tickets)
		send_tickets(c);

	if (s->want_client_cert &&
	    gnutls_certificate_type_get(c->tls) == GNUTLS_CRT_X509) {
		unsigned int status = 1, n = 0;
		const gnutls_datum_t *chain;

		chain = gnutls_certificate_get_peers(c->tls, &n);
		if (chain != NULL && n > 0 &&
		    gnutls_certificate_verify_peers2(c->tls, &status) == 0 &&
		    status == 0) {
			gnutls_x509_crt_t crt;
			size_t len = sizeof c->client_cn;

			if (gnutls_x509_crt_init(&crt) == 0) {
				if (gnutls_x509_crt_import(crt, &chain[0],
				    GNUTLS_X509_FMT_DER) == 0 &&
				    gnutls_x509_crt_get_dn_by_oid(crt,
				    GNUTLS_OID_X520_COMMON_NAME, 0, 0,
				    c->client_cn, &len) == 0)
					c->client_cert_ok = 1;
				gnutls_x509_crt_deinit(crt);
			}
			tr_printf(s, "I: client certificate verified: CN=%s",
			    c->client_cn);
		} else if (chain != NULL && n > 0) {
			tr_printf(s, "I: client certificate NOT verified");
		}
	}
	return 0;
}

/* ------------------------------------------------------------ SASL */

static int
sasl_callback(Gsasl *ctx, Gsasl_session *ss, Gsasl_property prop)
{
	struct conn *c = gsasl_session_hook_get(ss);
	const struct user *u;
	const char *authid = gsasl_property_fast(ss, GSASL_AUTHID);
	const char *authzid = gsasl_property_fast(ss, GSASL_AUTHZID);
	const char *pw;
	gnutls_datum_t cb;
	char *b64 = NULL;
	int r;

	(void)ctx;
	switch (prop) {
	case GSASL_PASSWORD:
		if (authid == NULL ||
		    (u = script_user(&c->srv->sc, authid, 0)) == NULL)
			return GSASL_AUTHENTICATION_ERROR;
		return gsasl_property_set(ss, GSASL_PASSWORD, u->secret);
	case GSASL_VALIDATE_SIMPLE:
		pw = gsasl_property_fast(ss, GSASL_PASSWORD);
		if (authid == NULL || pw == NULL ||
		    (u = script_user(&c->srv->sc, authid, 0)) == NULL ||
		    strcmp(u->secret, pw) != 0)
			return GSASL_AUTHENTICATION_ERROR;
		if (authzid != NULL && *authzid && strcmp(authzid, authid))
			return GSASL_AUTHENTICATION_ERROR;
		return GSASL_OK;
	case GSASL_VALIDATE_EXTERNAL:
		if (!c->client_cert_ok)
			return GSASL_AUTHENTICATION_ERROR;
		if (authzid != NULL && *authzid &&
		    strcmp(authzid, c->client_cn) != 0)
			return GSASL_AUTHENTICATION_ERROR;
		return GSASL_OK;
	case GSASL_CB_TLS_UNIQUE:
	case GSASL_CB_TLS_EXPORTER:
		if (c->tls == NULL)
			return GSASL_NO_CALLBACK;
		if ((prop == GSASL_CB_TLS_EXPORTER) !=
		    (gnutls_protocol_get_version(c->tls) == GNUTLS_TLS1_3))
			return GSASL_NO_CALLBACK;
		if (gnutls_session_channel_binding(c->tls,
		    prop == GSASL_CB_TLS_EXPORTER ? GNUTLS_CB_TLS_EXPORTER :
		    GNUTLS_CB_TLS_UNIQUE, &cb) < 0)
			return GSASL_NO_CALLBACK;
		r = gsasl_base64_to((const char *)cb.data, cb.size, &b64,
		    NULL);
		gnutls_free(cb.data);
		if (r != GSASL_OK)
			return r;
		r = gsasl_property_set(ss, prop, b64);
		gsasl_free(b64);
		return r;
	default:
		return GSASL_NO_CALLBACK;
	}
}

/*
 * One line of an AUTH exchange (after a 334). Returns a malloc'd string
 * (without CRLF), or NULL when the connection broke.
 */
static char *
auth_readline(struct conn *c)
{
	size_t n;
	char *line;
	int r = conn_getline(c, &n);

	if (r != 1)
		return NULL;
	line = malloc(n + 1);
	if (line == NULL)
		die("out of memory");
	memcpy(line, c->in, n);
	line[n] = '\0';
	conn_consume(c, n);
	line[strcspn(line, "\r\n")] = '\0';
	tr_line(c->srv, "C: ", line, strlen(line));
	return line;
}

/* Find "key=value" up to \x01 in an OAuth kv list; returns the value. */
static const char *
oauth_field(const char *p, size_t n, const char *key, size_t *vlen)
{
	size_t klen = strlen(key);
	const char *end = p + n;

	while (p < end) {
		const char *e = memchr(p, '\x01', (size_t)(end - p));

		if (e == NULL)
			e = end;
		if ((size_t)(e - p) > klen && strncmp(p, key, klen) == 0) {
			*vlen = (size_t)(e - p) - klen;
			return p + klen;
		}
		p = e + 1;
	}
	return NULL;
}

/* XOAUTH2 / OAUTHBEARER: 1 accepted, 0 refused. */
static int
oauth_check(struct conn *c, const char *mech, const char *b64)
{
	char *raw = NULL;
	size_t n = 0, ulen = 0, tlen = 0;
	const char *user = NULL, *tok;
	const struct user *u;
	size_t i;
	int ok = 0;

	if (gsasl_base64_from(b64, strlen(b64), &raw, &n) != GSASL_OK)
		return 0;
	if (strcasecmp(mech, "XOAUTH2") == 0) {
		user = oauth_field(raw, n, "user=", &ulen);
	} else if (n > 2 && strncmp(raw, "n,", 2) == 0) {
		/* gs2 header: n,[a=authzid],\x01... */
		const char *comma = memchr(raw + 2, ',', n - 2);

		if (comma == NULL)
			goto out;
		if (strncmp(raw + 2, "a=", 2) == 0) {
			user = raw + 4;
			ulen = (size_t)(comma - user);
		}
	} else {
		goto out;
	}
	tok = oauth_field(raw, n, "auth=Bearer ", &tlen);
	if (tok == NULL)
		goto out;
	for (i = 0; i < c->srv->sc.nusers; i++) {
		u = &c->srv->sc.users[i];
		if (!u->is_token || strlen(u->secret) != tlen ||
		    memcmp(u->secret, tok, tlen) != 0)
			continue;
		if (user != NULL && (strlen(u->name) != ulen ||
		    memcmp(u->name, user, ulen) != 0))
			continue;
		ok = 1;
		snprintf(c->client_cn, sizeof c->client_cn, "%s", u->name);
	}
out:
	if (raw != NULL) {
		mem_wipe(raw, n);
		gsasl_free(raw);
	}
	return ok;
}

static void
auth_ok(struct conn *c, const char *mech, const char *who)
{
	c->authed = 1;
	tr_printf(c->srv, "I: authenticated %s with %s", who ? who : "?",
	    mech);
	conn_reply(c, "235 2.7.0 Authentication successful");
}

static void
do_auth(struct conn *c, const char *line)
{
	char mech[64], *initial = NULL, *in = NULL, *out = NULL;
	const char *sp;
	Gsasl_session *ss = NULL;
	struct verdict vd;
	size_t n;
	int r;

	if (!c->helo) {
		conn_reply(c, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (c->authed) {
		conn_reply(c, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (c->in_mail) {
		conn_reply(c, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	if (c->srv->sc.tls == TLS_STARTTLS && c->tls == NULL) {
		conn_reply(c, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	sp = line + 5;
	n = strcspn(sp, " ");
	if (n == 0 || n >= sizeof mech) {
		conn_reply(c, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, sp, n);
	mech[n] = '\0';
	if (sp[n] == ' ')
		initial = xdup(sp + n + 1);
	if (!mech_offered(c, mech)) {
		conn_reply(c, "504 5.5.4 Unrecognized authentication type");
		goto out;
	}
	vd = conn_rules(c, V_AUTH);
	if ((r = conn_verdict(c, vd, '2')) != 0) {
		if (r < 0) {
			c->authed = 1;
			tr_printf(c->srv, "I: authenticated by override");
		}
		goto out;
	}

	if (strcasecmp(mech, "XOAUTH2") == 0 ||
	    strcasecmp(mech, "OAUTHBEARER") == 0) {
		if (initial == NULL) {
			conn_reply(c, "334 ");
			if ((initial = auth_readline(c)) == NULL)
				goto broken;
		}
		if (strcmp(initial, "*") == 0) {
			conn_reply(c, "501 5.7.0 Authentication cancelled");
		} else if (oauth_check(c, mech, initial)) {
			auth_ok(c, mech, c->client_cn);
		} else {
			/* Both send a JSON error and await an empty line. */
			conn_reply(c, "334 eyJzdGF0dXMiOiI0MDEifQ==");
			if ((in = auth_readline(c)) == NULL)
				goto broken;
			conn_reply(c, "535 5.7.8 Authentication credentials "
			    "invalid");
		}
		goto out;
	}

	if (gsasl_server_start(c->srv->gsasl, mech, &ss) != GSASL_OK) {
		conn_reply(c, "504 5.5.4 Mechanism not available");
		goto out;
	}
	gsasl_session_hook_set(ss, c);
	if (initial != NULL && strcmp(initial, "=") == 0)
		initial[0] = '\0';
	/* LOGIN's server speaks first; an initial response is the user. */
	if (initial != NULL && strcasecmp(mech, "LOGIN") == 0) {
		r = gsasl_step64(ss, "", &out);
		gsasl_free(out);
		out = NULL;
	}
	in = initial;
	initial = NULL;
	/* A client-first mechanism without an initial response gets an
	 * empty challenge to send it (RFC 4954 4). */
	if (in == NULL && strcasecmp(mech, "LOGIN") != 0 &&
	    strcasecmp(mech, "CRAM-MD5") != 0 &&
	    strcasecmp(mech, "DIGEST-MD5") != 0) {
		conn_reply(c, "334 ");
		if ((in = auth_readline(c)) == NULL)
			goto broken;
		if (strcmp(in, "*") == 0) {
			conn_reply(c, "501 5.7.0 Authentication cancelled");
			goto out;
		}
	}
	for (;;) {
		r = gsasl_step64(ss, in ? in : "", &out);
		free(in);
		in = NULL;
		if (r != GSASL_NEEDS_MORE && r != GSASL_OK)
			break;
		if (r == GSASL_OK && (out == NULL || *out == '\0'))
			break;
		/* More to say: a challenge, or SCRAM's server-final data,
		 * which SMTP carries in a 334 answered by an empty line. */
		conn_replyf(c, "334 %s", out ? out : "");
		gsasl_free(out);
		out = NULL;
		if ((in = auth_readline(c)) == NULL)
			goto broken;
		if (strcmp(in, "*") == 0) {
			conn_reply(c, "501 5.7.0 Authentication cancelled");
			goto out;
		}
		if (r == GSASL_OK) {
			if (*in != '\0') {
				conn_reply(c, "535 5.7.8 unexpected data");
				goto out;
			}
			break;
		}
	}
	if (r == GSASL_OK) {
		const char *who = gsasl_property_fast(ss, GSASL_AUTHID);

		if (strcasecmp(mech, "EXTERNAL") == 0)
			who = c->client_cn;
		auth_ok(c, mech, who);
	} else {
		tr_printf(c->srv, "I: SASL %s failed: %s", mech,
		    gsasl_strerror(r));
		conn_reply(c, "535 5.7.8 Authentication credentials invalid");
	}
	goto out;
broken:
	c->closing = 1;
out:
	gsasl_free(out);
	free(in);
	free(initial);
	if (ss != NULL)
		gsasl_finish(ss);
}

/* ------------------------------------------------------------ session */

static void
do_starttls(struct conn *c)
{
	struct verdict vd;
	int r;

	if (c->srv->sc.tls != TLS_STARTTLS || c->tls != NULL) {
		conn_reply(c, "454 4.7.0 TLS not available");
		return;
	}
	if (!c->helo) {
		conn_reply(c, "503 5.5.1 Error: send EHLO first");
		return;
	}
	/* Anything after STARTTLS that arrived before our 220 was pipelined
	 * into the plaintext phase: an injection the client must not do. */
	if (c->inlen > 0 || readable_now(c->fd)) {
		tr_printf(c->srv, "ERR: data after STARTTLS");
		conn_discard_input(c);
	}
	vd = conn_rules(c, V_STARTTLS);
	if ((r = conn_verdict(c, vd, '2')) > 0)
		return;
	if (r == 0)
		conn_reply(c, "220 2.0.0 Ready to start TLS");
	if (tls_start(c) < 0) {
		c->closing = 1;
		return;
	}
	c->helo = 0;
	c->authed = 0;
	mail_reset(c);
}

/* One command line (CRLF removed). */
static void
conn_command(struct conn *c, const char *line)
{
	struct verdict vd;
	int r;

	if (is_cmd(line, "EHLO") || is_cmd(line, "HELO")) {
		int ehlo = toupper((unsigned char)line[0]) == 'E';
		const char *arg = line[4] ? line + 5 : "";

		vd = conn_rules(c, ehlo ? V_EHLO : V_HELO);
		if (*arg == '\0') {
			conn_replyf(c, "501 Syntax: %s hostname",
			    ehlo ? "EHLO" : "HELO");
			return;
		}
		if ((r = conn_verdict(c, vd, '2')) > 0)
			return;
		c->helo = 1;
		mail_reset(c);
		if (r < 0)
			return;
		if (ehlo)
			do_ehlo(c, arg);
		else
			conn_reply(c, "250 localhost");
	} else if (is_cmd(line, "STARTTLS")) {
		do_starttls(c);
	} else if (is_cmd(line, "AUTH")) {
		do_auth(c, line);
	} else if (is_cmd(line, "MAIL")) {
		do_mail(c, line);
	} else if (is_cmd(line, "RCPT")) {
		do_rcpt(c, line);
	} else if (is_cmd(line, "DATA")) {
		do_data(c);
	} else if (is_cmd(line, "BDAT")) {
		do_bdat(c, line);
	} else if (is_cmd(line, "RSET")) {
		vd = conn_rules(c, V_RSET);
		if (conn_verdict(c, vd, '2') > 0)
			return;
		mail_reset(c);
		if (vd.reply[0] == '\0')
			conn_reply(c, "250 2.0.0 Ok");
	} else if (is_cmd(line, "NOOP")) {
		vd = conn_rules(c, V_NOOP);
		if (conn_verdict(c, vd, '2') == 0)
			conn_reply(c, "250 2.0.0 Ok");
	} else if (is_cmd(line, "ETRN")) {     /* RFC 1985; advertise: cap ETRN */
		vd = conn_rules(c, V_ETRN);
		if (conn_verdict(c, vd, '2') == 0)
			conn_reply(c, "250 Queuing started");
	} else if (is_cmd(line, "QUIT")) {
		vd = conn_rules(c, V_QUIT);
		r = conn_verdict(c, vd, '2');
		if (r == 0)
			conn_reply(c, "221 2.0.0 Bye");
		c->closing = 1;
	} else {
		conn_reply(c, "500 5.5.2 Error: command not recognized");
	}
}

static void
conn_serve(struct conn *c)
{
	struct server *s = c->srv;
	struct verdict vd;
	const char *g = NULL;
	size_t n;
	int r, greet_ok;

	if (s->sc.tls == TLS_IMPLICIT && tls_start(c) < 0)
		return;
	vd = conn_rules(c, V_CONNECT);
	r = conn_verdict(c, vd, '2');
	if (r == 0) {
		conn_reply(c, s->sc.greeting);
		g = s->sc.greeting;
	} else if (vd.act == A_REPLY) {
		g = vd.reply;
	}
	/* After a refusing greeting only QUIT is served (554), or the
	 * connection ends (421 and the like). */
	if (c->garbage > 0)
		conn_garbage(c);
	greet_ok = g == NULL || g[0] == '2';
	if (!greet_ok && strncmp(g, "554", 3) != 0)
		c->closing = 1;

	while (!c->closing) {
		r = conn_getline(c, &n);
		if (r == 0) {
			tr_printf(s, "I: client closed the connection");
			break;
		}
		if (r < 0)
			break;
		if (r == 2 || n > (is_cmd(c->in, "AUTH") ? AUTH_LINE_MAX :
		    CMD_LINE_MAX)) {
			/* Discard up to the end of this line. */
			tr_printf(s, "C: [line of more than %d octets]",
			    CMD_LINE_MAX);
			while (r == 2) {
				conn_discard_input(c);
				r = conn_getline(c, &n);
			}
			if (r != 1)
				break;
			conn_consume(c, n);
			conn_reply(c, "500 5.5.6 Error: line too long");
			continue;
		}
		{
			char line[AUTH_LINE_MAX + 1];
			size_t len = n;
			int bare;

			memcpy(line, c->in, n);
			conn_consume(c, n);
			bare = n < 2 || line[n - 2] != '\r';
			while (len > 0 && (line[len - 1] == '\n' ||
			    line[len - 1] == '\r'))
				len--;
			line[len] = '\0';
			tr_line(s, "C: ", line, len);
			if (bare)
				tr_printf(s, "ERR: bare LF");
			if (c->hanging)
				continue;
			if (!greet_ok && !is_cmd(line, "QUIT")) {
				conn_reply(c, "503 5.5.0 Error: service "
				    "refused, only QUIT");
				continue;
			}
			conn_command(c, line);
			if (c->garbage > 0)
				conn_garbage(c);
		}
	}
	if (c->timed_out) {
		tr_printf(s, "ERR: timeout");
		s->timeout_reported = 1;
	}
	if (c->out.len > 0) {
		if (c->tls != NULL && !c->bye_sent)
			gnutls_bye(c->tls, GNUTLS_SHUT_WR);
		if (conn_flush(c) == 0)
			c->rt++;
	}
}

static void
server_accept_one(struct server *s, int lfd)
{
	struct conn *c;
	struct pollfd p = { lfd, POLLIN, 0 };
	int fd, one = 1;
	long ms = ms_left(s);

	if (ms == 0 || poll(&p, 1, (int)ms) <= 0)
		return;         /* main reports the timeout */
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		die("accept: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c = calloc(1, sizeof *c);
	if (c == NULL)
		die("out of memory");
	c->srv = s;
	c->fd = fd;
	c->in = c->inbuf;
	c->rt = 1;
	c->drip_ms = s->sc.drip_ms;
	c->split = s->sc.split;
	buf_init(&c->out, OUT_MAX);
	buf_init(&c->env, ENV_MAX);
	s->connno++;
	tr_printf(s, "I: connection %ld", s->connno);
	conn_serve(c);
	tr_printf(s, "RT: %ld", c->rt);
	if (s->sc.tickets)
		tr_printf(s, "ACK: %ld", c->ack_stalls);
	if (c->tls != NULL)
		gnutls_deinit(c->tls);
	if (c->fd >= 0)         /* not reset */
		close(c->fd);
	buf_free(&c->out);
	buf_free(&c->env);
	free(c);
}

static void
usage(void)
{
	fputs("usage: smtpd-script -s SCRIPT -p PORTFILE -t TRANSCRIPT "
	    "-m MAILDIR [-c CERT -k KEY] [-a CAFILE] [-n CONNECTIONS] "
	    "[-T SECONDS] [-b 127.X.Y.Z] [-P PORT]\n", stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct server s;
	const char *script = NULL, *portfile = NULL, *trpath = NULL;
	const char *cert = NULL, *key = NULL, *cafile = NULL;
	long nconn = 1, timeout = 30, i, port = 0;
	struct in_addr bindaddr;
	struct sockaddr_in sa;
	socklen_t salen = sizeof sa;
	char tmp[4096];
	FILE *pf;
	int opt, lfd, r;

	memset(&s, 0, sizeof s);
	bindaddr.s_addr = htonl(INADDR_LOOPBACK);
	while ((opt = getopt(argc, argv, "s:p:t:m:c:k:a:n:T:b:P:")) != -1) {
		switch (opt) {
		case 's': script = optarg; break;
		case 'p': portfile = optarg; break;
		case 't': trpath = optarg; break;
		case 'm': s.maildir = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': cafile = optarg; break;
		case 'n':
			if (parse_long(optarg, 1, 1000, &nconn) < 0)
				usage();
			break;
		case 'T':
			if (parse_long(optarg, 1, 3600, &timeout) < 0)
				usage();
			break;
		case 'b':
			/* loopback only, whatever the test asks */
			if (inet_pton(AF_INET, optarg, &bindaddr) != 1 ||
			    (ntohl(bindaddr.s_addr) >> 24) != 127)
				usage();
			break;
		case 'P':
			if (parse_long(optarg, 1, 65535, &port) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!script || !portfile || !trpath || !s.maildir || optind != argc ||
	    (cert == NULL) != (key == NULL))
		usage();
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &s.deadline);
	s.deadline.tv_sec += timeout;
	script_load(&s.sc, script);
	if ((s.tr = fopen(trpath, "w")) == NULL)
		die("%s: %s", trpath, strerror(errno));

	if (gnutls_global_init() < 0)
		die("gnutls_global_init failed");
	if (cert != NULL) {
		if (gnutls_certificate_allocate_credentials(&s.cred) < 0)
			die("out of memory");
		r = gnutls_certificate_set_x509_key_file(s.cred, cert, key,
		    GNUTLS_X509_FMT_PEM);
		if (r < 0)
			die("%s: %s", cert, gnutls_strerror(r));
		if (cafile != NULL) {
			r = gnutls_certificate_set_x509_trust_file(s.cred,
			    cafile, GNUTLS_X509_FMT_PEM);
			if (r < 0)
				die("%s: %s", cafile, gnutls_strerror(r));
			s.want_client_cert = 1;
		}
	}
	if (gsasl_init(&s.gsasl) != GSASL_OK)
		die("gsasl_init failed");
	gsasl_callback_set(s.gsasl, sasl_callback);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr = bindaddr;
	sa.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(lfd, 8) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("listen: %s", strerror(errno));
	snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
	if ((pf = fopen(tmp, "w")) == NULL)
		die("%s: %s", tmp, strerror(errno));
	fprintf(pf, "%u\n", ntohs(sa.sin_port));
	if (fclose(pf) != 0 || rename(tmp, portfile) < 0)
		die("%s: %s", portfile, strerror(errno));

	for (i = 0; i < nconn && ms_left(&s) > 0; i++)
		server_accept_one(&s, lfd);
	r = ms_left(&s) > 0 ? 0 : 3;
	if (r && !s.timeout_reported)
		tr_printf(&s, "ERR: timeout");

	close(lfd);
	fclose(s.tr);
	gsasl_done(s.gsasl);
	if (s.ticket_key.data != NULL) {
		gnutls_memset(s.ticket_key.data, 0, s.ticket_key.size);
		gnutls_free(s.ticket_key.data);
	}
	if (s.cred != NULL)
		gnutls_certificate_free_credentials(s.cred);
	gnutls_global_deinit();
	script_free(&s.sc);
	return r;
}
