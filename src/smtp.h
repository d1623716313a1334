/*
 * smtp.h - the SMTP client state machine, free of I/O.
 *
 * Implements the client side of RFC 5321 (greeting, EHLO with HELO
 * fallback, MAIL, RCPT, DATA, QUIT), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
 * RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531
 * (SMTPUTF8), RFC 3461 (DSN: RET, ENVID, NOTIFY), RFC 1985 (ETRN), RFC
 * 3030 (CHUNKING: BDAT; not BINARYMIME).
 *
 * Owns: the protocol state (an enum with a name table; every transition
 * goes through one set_state() that traces "OLD -> NEW" with log_debug),
 * the commands to send (smtp_output), which reply answers which command,
 * the per-recipient status of the current transaction, the current
 * transaction's error and the connection's, each with its exit class.
 *
 * Never: touches sockets, files or TLS, sees a password (AUTH data arrives
 * from the callbacks as opaque base64), prints, or exits. The session
 * module moves the bytes: it sends smtp_output(), reads one complete reply
 * (struct reply, validated by reply.c) and hands it to smtp_on_reply(),
 * and does whatever the returned action says.
 *
 * Two modes. Single (params.multi 0): the message is in smtp_params and
 * the engine runs greeting to QUIT for it. Multi (params.multi 1): after
 * the greeting, EHLO, STARTTLS and AUTH the engine stops in READY and
 * returns SMTP_READY; each message then comes with smtp_next_message(),
 * whose transaction ends in READY again (SMTP_READY, success or failure
 * in smtp_msg_error()), until the caller says a message is the last one or
 * calls smtp_finish() for QUIT. A single-mode run is exactly a multi run
 * with one message marked last: same bytes, same round trips.
 *
 * Decisions worth knowing:
 * - With PIPELINING, MAIL, every RCPT and DATA go out as one group, and
 *   QUIT rides behind the end of data of the last message; the engine then
 *   ends on the end of data reply without waiting for QUIT's (as Postfix's
 *   client does). With smtp_body_done_next the next message's group rides
 *   behind the previous end of data too (one round trip per message);
 *   replies are consumed in order, so the previous message's result is
 *   final before anything of the next one is read. Should the connection
 *   die before the end of data reply, the next message was not accepted
 *   either (its DATA was never followed by a body).
 * - A transaction that fails (4xx/5xx to MAIL, RCPT, DATA or the end of
 *   data, or a local refusal such as SIZE) fails that message only, unless
 *   it is the last one (then the engine quits, as in single mode). When the
 *   server may still hold part of it (MAIL accepted, or unknown), the next
 *   message's group starts with RSET (RFC 5321 4.1.1.5), pipelined with it.
 *   Replies to pipelined commands of a failed transaction are read and
 *   discarded (state DRAIN) before the engine is READY again.
 * - Connection failures (421 at any point, a protocol error, an engine
 *   misuse) end the connection whatever the mode: SMTP_FAIL.
 * - A message with 8-bit bytes is sent with BODY=8BITMIME when the server
 *   offers 8BITMIME; when it does not, the body is sent unchanged anyway
 *   (no downgrade to quoted-printable), as common clients do: nearly every
 *   server passes 8-bit data through.
 * - When no recipient was accepted the body is never sent; if a pipelined
 *   DATA was nevertheless answered with 354, the engine sends only the
 *   end-of-data "." so that the server sees an empty, recipient-less
 *   message it must refuse, then QUIT (or, not last, reads its reply).
 * - A 421 reply at any point ends the session with EX_TEMPFAIL and no QUIT
 *   (the server is closing the connection).
 * - CHUNKING (RFC 3030), when the server offers it and params.chunking
 *   is set: the body goes in BDAT chunks instead of DATA, so no 354
 *   round trip and no dot-stuffing (the spool is CRLF text already). With
 *   PIPELINING the first "BDAT n" rides in the MAIL/RCPT group and every
 *   chunk follows at once without waiting (RFC 3030), QUIT behind the
 *   last; the replies are read afterwards (in order: MAIL, RCPTs, one per
 *   chunk). Without PIPELINING the first BDAT waits for the RCPT replies,
 *   and each chunk for the previous chunk's reply. The reply to BDAT LAST
 *   is the message's verdict, as the end of data's is. Any refused BDAT
 *   fails the message; the next transaction then starts with RSET (what
 *   the server kept of the chunks is not guessed). When every RCPT was
 *   refused after the chunks went, the server consumes them and refuses
 *   (RFC 3030); those replies are dropped and the message fails with the
 *   RCPT refusals, as with DATA. BODY=8BITMIME/7BIT stay as for DATA:
 *   BDAT does not need BINARYMIME, which only 8-bit lines without line
 *   structure would. smtp_body_done_next never pipelines behind a BDAT
 *   message: the window below does better.
 * - The window (CHUNKING with PIPELINING, chunking on): once a BDAT
 *   transaction is out, whole commands and chunks included, the next
 *   ones may follow at once (smtp_send_ahead), up to SMTP_WINDOW in
 *   flight, so a queue of small messages costs a fraction of a round trip
 *   each instead of one. Replies are consumed in order, and each
 *   transaction's result is final (SMTP_READY) before a reply of the next
 *   is read. Every transaction sent ahead starts with RSET: whatever
 *   happened to the one before (MAIL or RCPT refused, a chunk refused, a
 *   server that keeps a half transaction), the next one starts clean, and
 *   a failure stays with its message; the cost is six octets and a short
 *   reply, no round trip. RFC 3030 2 makes the server consume a BDAT's
 *   octets even when it refuses the command (no MAIL, no valid
 *   recipient), and Postfix 3 does (checked against the test stack):
 *   "503 5.5.1 need RCPT command" after a refused MAIL, "554 5.5.1 no
 *   valid recipients" for the first chunk when every RCPT was refused,
 *   "551 5.0.0 Discarded N bytes after earlier error" for the next ones,
 *   each chunk's octets read and dropped, then RSET 250 and the next
 *   transaction goes through: a refused transaction's chunks never
 *   become commands. A 421 or a lost connection ends every transaction in
 *   flight; those sent ahead were not accepted as far as the client
 *   knows (their verdicts were never read): the caller keeps them for a
 *   retry. DATA transactions are never sent ahead (DATA needs its 354
 *   before the body), nor behind a DATA one; nor a message refused
 *   locally (SIZE, SMTPUTF8): they go the ordinary way once the window
 *   is empty.
 * - Addresses and parameters containing CR, LF or other control bytes are
 *   refused (EX_SOFTWARE/EX_CONFIG) rather than sent: no command injection
 *   even if a caller forgot to validate.
 */
#ifndef ENVOI_SMTP_H
#define ENVOI_SMTP_H

#include <stddef.h>

#include "buf.h"
#include "envelope.h"
#include "err.h"
#include "log.h"
#include "reply.h"

/* The SMTP command a reply answered; used for "(in reply to RCPT TO)". */
enum smtp_phase {
	PHASE_NONE = 0,
	PHASE_CONNECT,   /* greeting */
	PHASE_EHLO,
	PHASE_STARTTLS,
	PHASE_AUTH,
	PHASE_MAIL,
	PHASE_RCPT,
	PHASE_DATA,      /* reply to the DATA command */
	PHASE_DOT,       /* reply to the end of data */
	PHASE_QUIT,
	PHASE_RSET,
};

/*
 * Exit code for an SMTP failure reply, decided here once for every
 * caller: temporary versus permanent from the enhanced status code when
 * the server gave one, else from the first digit of the reply code.
 * `enh` is the enhanced status code ("5.1.1") or NULL/"" when the server
 * sent none. Temporary (4xx, or an enhanced class 4) gives EX_TEMPFAIL;
 * permanent gives EX_NOUSER for RCPT, EX_NOPERM for AUTH and
 * EX_UNAVAILABLE otherwise.
 */
int smtp_ex_from_reply(int code, const char *enh, enum smtp_phase phase);

/* "RCPT TO", "end of data", ...: what a reply was "in reply to". */
const char *smtp_phase_name(enum smtp_phase phase);

/*
 * Bytes one command line may take, with CRLF. RFC 5321 allows 512 plus
 * room for extension parameters; RFC 4954 4 says an AUTH line (initial
 * response, or a SASL response) may reach 12288 octets. 16 KiB covers both;
 * the output buffer's maximum is this times the number of commands one
 * group can hold, so its bound follows from the recipient count.
 */
#define SMTP_CMD_MAX 16384

/* AUTH round trips: SCRAM needs 2, GSSAPI-style exchanges a few more. A
 * server that keeps sending 334 past this is looping. */
#define SMTP_AUTH_STEPS_MAX 16

/*
 * BDAT chunk size. 1 MiB: a server that holds a chunk in memory before
 * passing it on (RFC 3030 allows any size) holds at most that; the cost
 * is a 20-octet command and a short reply per MiB. The session streams a
 * chunk from the spool in small pieces, so the size costs the client no
 * memory. A huge message gets bigger chunks so that there are never more
 * than SMTP_BDAT_CHUNKS_MAX: with PIPELINING their replies are read only
 * after the last chunk, and they must fit in the socket buffers (64
 * replies of under 100 octets, 6 KiB) or the server could block on them.
 */
#define SMTP_BDAT_CHUNK (1024ULL * 1024)
#define SMTP_BDAT_CHUNKS_MAX 64

/*
 * The window (smtp_send_ahead): at most SMTP_WINDOW transactions sent
 * whose replies are still due, and at most SMTP_WINDOW_REPLIES replies
 * due for the transactions sent ahead of the oldest one (the oldest may
 * have more, as it always could). The client writes a whole window before
 * it reads: the server's replies must meanwhile fit in the socket buffers
 * (64 KiB is a conservative floor on Linux, 128 KiB its default receive
 * buffer), or the server would block writing them and stop reading us.
 * 256 replies of at most ~100 octets (Postfix's are 14 to 60) is 25 KiB.
 * 32 transactions per round trip makes the round trip a small part of
 * each message's cost (500 messages at 50 ms: 16 round trips, 0.8 s),
 * past which the server's own work per message dominates.
 */
#define SMTP_WINDOW 32
#define SMTP_WINDOW_REPLIES 256

enum smtp_state {
	SMTP_STATE_GREETING,    /* waiting for the 220 */
	SMTP_STATE_EHLO,        /* EHLO sent */
	SMTP_STATE_HELO,        /* HELO sent after EHLO was refused */
	SMTP_STATE_STARTTLS,    /* STARTTLS sent */
	SMTP_STATE_TLS,         /* the session is doing the TLS handshake */
	SMTP_STATE_EHLO_TLS,    /* EHLO sent again inside TLS */
	SMTP_STATE_AUTH,        /* AUTH or a SASL response sent */
	SMTP_STATE_READY,       /* multi mode: idle between transactions */
	SMTP_STATE_RSET,        /* RSET sent (and, pipelined, the next envelope) */
	SMTP_STATE_MAIL,        /* MAIL sent (and, pipelined, RCPTs and DATA) */
	SMTP_STATE_RCPT,        /* awaiting RCPT replies */
	SMTP_STATE_DATA,        /* awaiting the reply to DATA */
	SMTP_STATE_BODY,        /* the session is streaming the body */
	SMTP_STATE_DOT,         /* end of data sent */
	SMTP_STATE_CHUNK,       /* the session is streaming BDAT chunks */
	SMTP_STATE_BDAT,        /* awaiting the replies to BDAT chunks */
	SMTP_STATE_DRAIN,       /* a failed transaction's pipelined replies are
	                         * still due; they are read and dropped */
	SMTP_STATE_VRSET,       /* a verify transaction's closing RSET sent */
	SMTP_STATE_ETRN,        /* ETRN sent (--rmqs) */
	SMTP_STATE_QUIT,        /* accepted; QUIT queued or sent, its reply not needed */
	SMTP_STATE_DONE,        /* the session read QUIT's reply anyway */
	SMTP_STATE_FAILED,
};

struct smtp_auth_ops {
	/* Implemented by the session around the SASL module. Choose a
	 * mechanism among server_mechs (space-separated, upper case); *mech
	 * must stay valid until the next call; *initial is a malloc'd base64
	 * initial response or NULL (send none); "" means an empty initial
	 * response, sent as "=" (RFC 4954). -1 with *e filled to give up. */
	int (*start)(void *ctx, const char *server_mechs, const char **mech, char **initial,
	             struct err *e);
	/* challenge: the base64 text of a 334 reply (may be ""); *response is
	 * malloc'd base64 the engine sends, wipes and frees. */
	int (*step)(void *ctx, const char *challenge, char **response, struct err *e);
	/* On 235, before the envelope: may refuse a success the mechanism
	 * cannot confirm (a SCRAM server that never proved it knows the
	 * password). NULL = nothing to check. */
	int (*finish)(void *ctx, struct err *e);
	/* On a 5xx to AUTH, once per connection: 1 = run AUTH again (start
	 * is called anew: an OAuth 2.0 token the server refused has been
	 * refreshed), 0 = fail as usual, -1 with *e filled (that error, not
	 * the server's, ends the connection). NULL = never. */
	int (*retry)(void *ctx, struct err *e);
};

/* An envelope address in both forms (from addr.c). ascii NULL means it
 * cannot be written in ASCII (non-ASCII local part): it needs SMTPUTF8. */
struct smtp_addr {
	const char *utf8;
	const char *ascii;
};

struct smtp_rcpt_status {
	int code;           /* the RCPT reply code; 0 = not sent */
	char enh[REPLY_ENH_MAX];
	char *text;         /* malloc'd reply summary ("550 5.1.1 user unknown"), or
	                     * for a recipient refused locally the reason; NULL if
	                     * nothing happened yet. Owned by the engine. */
	int ex;             /* 0 = accepted or not decided yet; else its sysexits
	                     * class (EX_NOUSER, EX_TEMPFAIL, EX_UNAVAILABLE) */
};

/* One message's envelope, for smtp_next_message. The pointers are
 * borrowed: they must stay valid until the engine ends that transaction
 * (returns SMTP_READY, SMTP_DONE or SMTP_FAIL for it). */
struct smtp_msg {
	struct smtp_addr from;          /* utf8 "" (or NULL) = null sender "<>" */
	const struct smtp_addr *rcpts;
	size_t nrcpts;
	unsigned long long size;        /* spool size, for SIZE= and the early check */
	int has_8bit;                   /* BODY=8BITMIME when offered */
	int data_only;                  /* never BDAT: size is not the exact
	                                 * length of the body as it must go */
	/* The delivery options (envelope.h). DSN's only go to a server that
	 * offers DSN, BODY only with 8BITMIME (BODY=7BIT never for 8-bit
	 * content); SMTPUTF8 NO means A-label domains, and a non-ASCII local
	 * part then fails with EX_DATAERR; REQUIRETLS (RFC 8689) needs a
	 * verified TLS session and the server's REQUIRETLS, else the message
	 * fails for good (5.7.30). */
	struct envelope opts;
};

/* How TLS comes into the session: not at all, after STARTTLS (required:
 * no AUTH or mail without it), or from the first byte (implicit TLS). */
enum smtp_tls { SMTP_TLS_NONE, SMTP_TLS_STARTTLS, SMTP_TLS_IMPLICIT };

struct smtp_params {
	int multi;                      /* 0: one message, `msg` below; 1: messages
	                                 * come with smtp_next_message (`msg` is
	                                 * then unused) */
	const char *helo;               /* EHLO/HELO argument */
	const char *host;               /* server name for messages; NULL = "the server" */
	enum smtp_tls tls;
	int tls_verified;               /* the TLS peer is authenticated (certificate
	                                 * check or pinned fingerprint): REQUIRETLS
	                                 * may be used */
	int auth;                       /* 1 = authenticate (auth_ops must be set) */
	int chunking;                   /* 1 = BDAT when the server offers CHUNKING */
	const struct smtp_auth_ops *auth_ops;
	void *auth_ctx;
	struct smtp_msg msg;            /* single mode: the one message */
	struct log *log;                /* state-transition traces; may be NULL */
};

enum smtp_action {
	SMTP_SEND,      /* write smtp_output(), then read one reply and call smtp_on_reply */
	SMTP_READ,      /* read one more reply and call smtp_on_reply */
	SMTP_STARTTLS,  /* do the TLS handshake now (the session checks nothing was
	                 * pipelined behind the 220), then call smtp_tls_done */
	SMTP_BODY,      /* send pending output, stream the dot-stuffed body (ending in
	                 * CRLF), then call smtp_body_done */
	SMTP_DONE,      /* accepted for at least one recipient (or, from
	                 * smtp_finish, the connection's work is done): send pending
	                 * output (QUIT) and close without waiting for QUIT's reply */
	SMTP_FAIL,      /* failed, see smtp_error(); pending output (QUIT) may be
	                 * sent best-effort before closing */
	SMTP_READY,     /* multi mode: the connection is idle (set up, or a
	                 * transaction ended: smtp_msg_error() says how); send
	                 * pending output if any (there is none today), then call
	                 * smtp_next_message or smtp_finish */
	SMTP_CHUNK,     /* send pending output (it ends in a BDAT command), then
	                 * the body octets smtp_chunk() names, raw, then call
	                 * smtp_chunk_done */
};

/* A transaction sent ahead (smtp_send_ahead), its replies not read yet. */
struct smtp_ahead {
	struct smtp_msg m;              /* pointers borrowed */
	struct smtp_rcpt_status *rcpt;  /* m.nrcpts, allocated when it was sent */
	int utf8;                       /* its SMTPUTF8 decision */
	size_t nchunks;                 /* BDAT chunks sent */
	int last;                       /* QUIT rides behind its last chunk */
};

/* What the replies a DRAIN drops answer, at its end. */
enum smtp_drain {
	SMTP_DRAIN_DOT,                 /* an end of data */
	SMTP_DRAIN_DATA,                /* the last one answers DATA (354: end it) */
	SMTP_DRAIN_BDAT,                /* the last chunks_due answer BDAT chunks */
};

struct smtp {
	const struct smtp_params *p;    /* borrowed; must outlive the engine */
	struct smtp_msg m;              /* the current message (pointers borrowed) */
	enum smtp_state state;
	struct caps caps;
	int tls_active;
	int use_utf8;                   /* the envelope uses UTF-8 forms + SMTPUTF8 */
	int pipelining;                 /* the envelope is being pipelined */
	int quit_sent;                  /* QUIT is queued or sent already */
	int auth_steps;
	int auth_retried;               /* ops->retry was asked (once only) */
	size_t rcpt_cur;                /* recipient whose RCPT reply comes next */
	size_t accepted;
	struct smtp_rcpt_status *rcpt;  /* m.nrcpts entries */
	struct buf out;
	int out_secret;
	struct err err;                 /* what ended the connection (single mode:
	                                 * also the message's failure) */
	/* transactions (multi mode) */
	int last;                       /* the current message is the last one */
	int in_txn;                     /* a transaction is under way */
	int need_rset;                  /* the server may hold a failed transaction */
	size_t drain;                   /* DRAIN: replies still to drop */
	enum smtp_drain drain_data;     /* ... and what they answer */
	/* BDAT (CHUNKING) */
	int bdat;                       /* the current message's body goes with BDAT */
	unsigned long long chunk_off;   /* the current chunk's offset in the body */
	unsigned long long chunk_len;   /* ... and its length */
	int chunk_last;                 /* ... it is the LAST one */
	size_t chunks_due;              /* chunks sent whose replies are due */
	enum smtp_state resume;         /* pipelined: the state whose reply comes
	                                 * first once the chunks are out */
	struct err msg_err;             /* the current transaction's failure */
	/* the next message's envelope, sent behind the end of data */
	int next_sent;                  /* ... and not yet taken up by smtp_next_message */
	struct smtp_msg next;           /* its envelope (pointers borrowed) */
	int next_utf8;                  /* its SMTPUTF8 decision */
	int verify;                     /* the transaction only asks (smtp_verify) */
	/* the window: transactions sent ahead of the current one, oldest
	 * first (a ring); each group starts with RSET */
	struct smtp_ahead ahead[SMTP_WINDOW];
	size_t ahead_first, ahead_n;
	int ahead_chunking;             /* the newest one's chunks are being sent */
	unsigned long long tx_size;     /* ... its size, */
	unsigned long long tx_off;      /* ... the chunk's offset, */
	unsigned long long tx_len;      /* ... its length */
	int tx_last;                    /* ... and whether it is the LAST one */
};

/* Set up the engine. p (and everything it points to) must stay valid
 * until smtp_free. Allocation failures surface at smtp_start. */
void smtp_init(struct smtp *s, const struct smtp_params *p);

/* -> SMTP_READ (await the greeting), or SMTP_FAIL (single mode: no
 * recipients or an invalid message, see smtp_msg_check; memory). */
enum smtp_action smtp_start(struct smtp *s);

/*
 * Is m sendable at all (pure; no engine needed)? -1 with *e filled:
 * EX_USAGE no recipients, EX_SOFTWARE a control character or an empty
 * recipient (no command injection, whoever forgot to validate), EX_CONFIG
 * an invalid DSN value. The engine runs it on every message; callers may
 * run it first to avoid connecting for nothing.
 */
int smtp_msg_check(const struct smtp_msg *m, struct err *e);

/*
 * Multi mode, in READY: start the transaction for m (pointers borrowed
 * until it ends). last = 1: the end of data carries QUIT (with
 * PIPELINING) and the connection ends after this message, as in single
 * mode. Queues RSET first when the previous transaction left the server
 * mid-way. Returns SMTP_SEND (and then the usual actions), SMTP_READY at
 * once when the message fails before anything is sent (SIZE too big,
 * SMTPUTF8 needed, invalid: see smtp_msg_error), or SMTP_FAIL (last
 * message failed, or called in another state: EX_SOFTWARE).
 */
enum smtp_action smtp_next_message(struct smtp *s, const struct smtp_msg *m, int last);

/*
 * Multi mode, in READY: ask about m's recipients without sending a
 * message (sendmail -bv): MAIL FROM (without SIZE or BODY), one RCPT per
 * recipient, then RSET; never DATA. With PIPELINING the three go as one
 * group. Ends in READY (SMTP_READY) with every recipient's reply in
 * smtp_rcpt_status (a refusal is a verdict, not a failure:
 * smtp_msg_error stays clear unless MAIL itself was refused or nothing
 * could be sent, as for smtp_next_message). A 421 or a refused RSET ends
 * the connection (SMTP_FAIL); the statuses gathered stay readable.
 */
enum smtp_action smtp_verify(struct smtp *s, const struct smtp_msg *m);

/*
 * Multi mode, in READY: ask the server to start delivering the queue it
 * holds for `node` (RFC 1985 ETRN; msmtp's --rmqs): "host.example",
 * "@example.org" or "#queue", sent as given. Ends in READY (SMTP_READY)
 * with the verdict in smtp_msg_error: clear for a 2xx, EX_TEMPFAIL for a
 * 4xx, EX_UNAVAILABLE for a 5xx, and EX_UNAVAILABLE without sending
 * anything when the server did not offer ETRN; EX_USAGE for a node that
 * is empty or holds a space or control character. A 421 ends the
 * connection (SMTP_FAIL).
 */
enum smtp_action smtp_etrn(struct smtp *s, const char *node);

/*
 * Multi mode: end the connection. In READY queues QUIT -> SMTP_DONE (send
 * it and close without waiting for the reply); after SMTP_DONE or
 * SMTP_FAIL it queues nothing and returns the same again; in any other
 * state (the caller gives up mid-transaction) it fails the connection
 * (EX_SOFTWARE, QUIT queued unless the body is being sent) -> SMTP_FAIL.
 */
enum smtp_action smtp_finish(struct smtp *s);

/* Consume one complete reply to the oldest unanswered command. */
enum smtp_action smtp_on_reply(struct smtp *s, const struct reply *r);

/* After the STARTTLS handshake: forgets the old caps, queues EHLO again
 * -> SMTP_SEND. */
enum smtp_action smtp_tls_done(struct smtp *s);

/* After the body: queues ".\r\n" (and with PIPELINING "QUIT\r\n" behind
 * it) -> SMTP_SEND. */
enum smtp_action smtp_body_done(struct smtp *s);

/*
 * Multi mode, instead of smtp_body_done when another message follows:
 * with PIPELINING (and the current message not last) the output is ".\r\n"
 * followed by next's MAIL, RCPTs and DATA, one group (RFC 2920 3.1: the
 * end of data may start a group, DATA ends it). Replies then come in
 * order: the end of data's ends the current transaction as usual
 * (SMTP_READY, its result final in smtp_msg_error and the recipient
 * statuses; a refusal fails that message only); the caller must then
 * call smtp_next_message with next (same envelope pointers, which must
 * stay valid until then), which returns SMTP_READ: next's replies are
 * due, nothing is sent. Next's own refusals fail next only (RSET rules as
 * for any transaction); a 421 at any point ends the connection. Without
 * PIPELINING, when next is NULL, or when next would be refused locally
 * (SIZE, SMTPUTF8, invalid), this is exactly smtp_body_done and next
 * takes the ordinary path.
 */
enum smtp_action smtp_body_done_next(struct smtp *s, const struct smtp_msg *next);

/*
 * SMTP_CHUNK: the octets of the body to send now, raw (no dot-stuffing):
 * *len octets from offset *off (in the spool file: the body is the spool
 * as it is). 0, or -1 when the engine is not waiting for a chunk.
 */
int smtp_chunk(const struct smtp *s, unsigned long long *off, unsigned long long *len);

/*
 * The chunk smtp_chunk named is out. -> SMTP_CHUNK (the next BDAT is
 * queued: send it and its chunk), SMTP_SEND (send pending output, QUIT
 * behind the last chunk of the last message with PIPELINING, maybe
 * nothing, then read replies as usual), or SMTP_FAIL (misuse).
 */
enum smtp_action smtp_chunk_done(struct smtp *s);

/* Did smtp_body_done_next send next's envelope, and smtp_next_message not
 * take it up yet? Then only smtp_next_message(next) may follow;
 * smtp_finish fails the connection without QUIT. */
int smtp_next_in_flight(const struct smtp *s);

/*
 * The window (see the decisions above). May m be sent now, before the
 * replies still due are read? Yes when the server offers PIPELINING and
 * CHUNKING, params.chunking is set, m goes with BDAT (not data_only) and
 * is sendable as it is (as for smtp_body_done_next), a pipelined BDAT
 * transaction is in flight with all its commands and chunks out (the
 * current one awaiting its replies, or READY with others sent ahead),
 * none of those is the last, and the window (SMTP_WINDOW,
 * SMTP_WINDOW_REPLIES) has room. Pure.
 */
int smtp_window_room(const struct smtp *s, const struct smtp_msg *m);

/*
 * Send m ahead (only after smtp_window_room said yes; pointers borrowed
 * until its transaction ends): queues RSET, MAIL, every RCPT and the first
 * BDAT -> SMTP_CHUNK: stream its chunks with smtp_chunk and
 * smtp_chunk_done as usual; their final SMTP_SEND means send the pending
 * output (QUIT behind the last chunk when last) and read nothing for m
 * now. Its replies come after those of everything sent before it: each
 * time a transaction ends (SMTP_READY) with others ahead, smtp_next_ahead
 * takes up the oldest. SMTP_FAIL (the connection is over; nothing sent
 * ahead counts as accepted) without room (EX_SOFTWARE) or memory.
 */
enum smtp_action smtp_send_ahead(struct smtp *s, const struct smtp_msg *m, int last);

/* Transactions sent ahead whose turn has not come (0 when none). */
size_t smtp_ahead(const struct smtp *s);

/*
 * In READY with transactions sent ahead: the oldest becomes the current
 * transaction -> SMTP_READ (its replies are due, RSET's first; nothing is
 * sent); its result comes as any transaction's. While transactions are
 * ahead nothing else may start: smtp_next_message, smtp_verify and
 * smtp_etrn fail (EX_SOFTWARE), smtp_finish fails without QUIT.
 */
enum smtp_action smtp_next_ahead(struct smtp *s);

/* Bytes to send; the session sends them and calls buf_reset. */
struct buf *smtp_output(struct smtp *s);

/* Does the pending output carry AUTH data? Then log it redacted. */
int smtp_output_is_secret(const struct smtp *s);

/* The overall failure (ex 0 while none): what ended the connection, or
 * in single mode also the message's failure. Owned by s. */
const struct err *smtp_error(const struct smtp *s);

/* The current (or just ended) transaction's failure, ex 0 while none:
 * a refusal of that message, or the connection failure that ended it.
 * Reset by smtp_next_message. Owned by s. */
const struct err *smtp_msg_error(const struct smtp *s);

/* The server's capabilities (the latest EHLO; all zero after HELO). */
const struct caps *smtp_caps(const struct smtp *s);

/* Recipient i of the current (or just ended) transaction, NULL if i is
 * out of range (every i when smtp_msg_check refused the message). Owned
 * by s; valid until the next smtp_next_message. */
const struct smtp_rcpt_status *smtp_rcpt_status(const struct smtp *s, size_t i);

/* Recipients of the current transaction accepted by RCPT so far. */
size_t smtp_accepted(const struct smtp *s);

/* Current state, and a state's name ("EHLO_TLS"; "?" if out of range). */
enum smtp_state smtp_state(const struct smtp *s);
const char *smtp_state_name(int state);

/* Release everything (wiping any AUTH data still queued). */
void smtp_free(struct smtp *s);

#endif
