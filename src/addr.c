/* addr.c - see addr.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "addr.h"
#include "buf.h"

/* How much of the input an error message quotes around the fault. */
#define ADDR_ERR_CONTEXT 40

/* ---------------------------------------------------------------- list */

void
addr_list_init(struct addr_list *l)
{
	l->v = NULL;
	l->n = l->cap = 0;
}

void
addr_list_free(struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	addr_list_init(l);
}

/* The '@' that separates local part and domain: the last one outside a
 * quoted string (a quoted local part may itself hold '@'). */
static const char *
find_at(const char *s)
{
	const char *at = NULL;
	int q = 0;

	for (; *s; s++) {
		if (q && *s == '\\' && s[1])
			s++;
		else if (*s == '"')
			q = !q;
		else if (!q && *s == '@')
			at = s;
	}
	return at;
}

static int
addr_equal(const char *a, const char *b)
{
	const char *ata, *atb;
	size_t la, lb;

	/* Equal addresses are equal ignoring case: a cheap first filter that
	 * keeps the linear dedup fast for long lists. */
	if (strcasecmp(a, b) != 0)
		return 0;
	ata = find_at(a);
	atb = find_at(b);
	la = ata ? (size_t)(ata - a) : strlen(a);
	lb = atb ? (size_t)(atb - b) : strlen(b);
	if (la != lb || memcmp(a, b, la) != 0)
		return 0;
	if (!ata || !atb)
		return ata == atb;
	return strcasecmp(ata + 1, atb + 1) == 0;
}

int
addr_list_add(struct addr_list *l, const char *addr, struct err *e)
{
	char *copy;

	for (size_t i = 0; i < l->n; i++)
		if (addr_equal(l->v[i], addr))
			return 0;
	if (l->n >= ADDR_LIST_MAX)
		return err_set(e, EX_DATAERR, "more than %d recipients", ADDR_LIST_MAX);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, cap * sizeof *v);
		if (v == NULL)
			return err_set(e, EX_OSERR, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	if ((copy = str_dup(addr)) == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	l->v[l->n++] = copy;
	return 0;
}

/* ---------------------------------------------------------------- lexer */

/* RFC 5322 3.2.3 atext, plus every octet >= 0x80 (RFC 6532 UTF-8). Written
 * out rather than with <ctype.h> so the locale cannot change it. */
static int
is_atext(unsigned char c)
{
	if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

enum tok_type {
	TOK_END,
	TOK_ATOM,       /* run of atext */
	TOK_QSTR,       /* "..." including the quotes */
	TOK_DLIT,       /* [...] including the brackets */
	TOK_SPECIAL,    /* one of < > : ; @ , . */
};

struct tok {
	enum tok_type type;
	size_t start, end;      /* offsets into the text */
	char c;                 /* for TOK_SPECIAL */
};

struct lexer {
	const char *s;
	size_t len, pos;
};

static int
lex_error(const struct lexer *lx, size_t at, struct err *e, const char *what)
{
	size_t n = lx->len - at;

	if (n > ADDR_ERR_CONTEXT)
		n = ADDR_ERR_CONTEXT;
	if (n == 0)
		return err_set(e, EX_DATAERR, "bad address syntax: %s at the end of \"%.*s\"",
		    what, (int)(lx->len > ADDR_ERR_CONTEXT ? ADDR_ERR_CONTEXT : lx->len),
		    lx->s + (lx->len > ADDR_ERR_CONTEXT ? lx->len - ADDR_ERR_CONTEXT : 0));
	return err_set(e, EX_DATAERR, "bad address syntax: %s at \"%.*s\"", what, (int)n,
	    lx->s + at);
}

/* CFWS: whitespace (CR and LF included: field bodies keep their folds) and
 * comments, which nest and may hold quoted pairs. */
static int
skip_cfws(struct lexer *lx, struct err *e)
{
	while (lx->pos < lx->len) {
		unsigned char c = (unsigned char)lx->s[lx->pos];
		size_t open;
		int depth;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			lx->pos++;
			continue;
		}
		if (c != '(')
			return 0;
		open = lx->pos++;
		for (depth = 1; depth > 0; lx->pos++) {
			if (lx->pos >= lx->len)
				return lex_error(lx, open, e, "unterminated comment");
			c = (unsigned char)lx->s[lx->pos];
			if (is_ctl(c))
				return lex_error(lx, lx->pos, e, "control character");
			if (c == '\\' && lx->pos + 1 < lx->len) {
				/* As in lex_quoted: no quoted control byte or line
				 * break (a quoted NUL would end the text early). */
				c = (unsigned char)lx->s[++lx->pos];
				if (is_ctl(c) || c == '\r' || c == '\n')
					return lex_error(lx, lx->pos, e, "control character");
			} else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		}
	}
	return 0;
}

/* A quoted string or domain literal: from the opening character to the
 * closing one, with backslash escapes. */
static int
lex_quoted(struct lexer *lx, char close, const char *what, struct err *e)
{
	size_t open = lx->pos++;

	for (;;) {
		unsigned char c;

		if (lx->pos >= lx->len)
			return lex_error(lx, open, e, what);
		c = (unsigned char)lx->s[lx->pos];
		if (is_ctl(c))
			return lex_error(lx, lx->pos, e, "control character");
		if (c == '\\') {
			if (lx->pos + 1 >= lx->len)
				return lex_error(lx, open, e, what);
			/* A quoted CR or LF would be dropped with the folds,
			 * leaving a lone backslash that escapes the closing
			 * quote (RFC 5322 3.2.1: quoted-pair is VCHAR or WSP). */
			c = (unsigned char)lx->s[lx->pos + 1];
			if (is_ctl(c) || c == '\r' || c == '\n')
				return lex_error(lx, lx->pos, e, "control character");
			lx->pos += 2;
			continue;
		}
		lx->pos++;
		if (c == (unsigned char)close)
			return 0;
		if (close == ']' && c == '[')
			return lex_error(lx, lx->pos - 1, e, "'[' inside a domain literal");
	}
}

static int
lex(struct lexer *lx, struct tok *t, struct err *e)
{
	unsigned char c;

	if (skip_cfws(lx, e) < 0)
		return -1;
	t->start = lx->pos;
	t->c = 0;
	if (lx->pos >= lx->len) {
		t->type = TOK_END;
		t->end = lx->pos;
		return 0;
	}
	c = (unsigned char)lx->s[lx->pos];
	if (c == '"') {
		if (lex_quoted(lx, '"', "unterminated quoted string", e) < 0)
			return -1;
		t->type = TOK_QSTR;
	} else if (c == '[') {
		if (lex_quoted(lx, ']', "unterminated domain literal", e) < 0)
			return -1;
		t->type = TOK_DLIT;
	} else if (is_atext(c)) {
		while (lx->pos < lx->len && is_atext((unsigned char)lx->s[lx->pos]))
			lx->pos++;
		t->type = TOK_ATOM;
	} else if (c != '\0' && strchr("<>:;@,.", c)) {
		lx->pos++;
		t->type = TOK_SPECIAL;
		t->c = (char)c;
	} else if (c == ')') {
		return lex_error(lx, lx->pos, e, "unbalanced ')'");
	} else if (c == ']') {
		return lex_error(lx, lx->pos, e, "unbalanced ']'");
	} else if (c == '\\') {
		return lex_error(lx, lx->pos, e, "backslash outside quotes");
	} else {
		return lex_error(lx, lx->pos, e, "control character");
	}
	t->end = lx->pos;
	return 0;
}

/* Look at the next token without consuming it. */
static int
peek(const struct lexer *lx, struct tok *t, struct err *e)
{
	struct lexer copy = *lx;

	return lex(&copy, t, e);
}

static int
is_special(const struct tok *t, char c)
{
	return t->type == TOK_SPECIAL && t->c == c;
}

static int
is_word(const struct tok *t)
{
	return t->type == TOK_ATOM || t->type == TOK_QSTR;
}

/* ---------------------------------------------------------------- parser */

/* A quoted string's text without its folds (RFC 5322 3.2.2: unfolding
 * removes the CRLF, keeping the whitespace after it). */
static int
put_token(struct buf *b, const struct lexer *lx, const struct tok *t)
{
	for (size_t i = t->start; i < t->end; i++) {
		char c = lx->s[i];
		if ((c == '\r' || c == '\n') && t->type != TOK_ATOM)
			continue;
		if (buf_putc(b, c) < 0)
			return -1;
	}
	return 0;
}

static int
is_dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* "\"bob\"" -> "bob": RFC 5321 4.1.2 says the quoted form SHOULD NOT be
 * used when the dot-string form works, and dedup should see one spelling. */
static void
unquote_local(struct buf *b)
{
	size_t n = b->len;

	if (n < 3 || b->data[0] != '"' || b->data[n - 1] != '"')
		return;
	for (size_t i = 1; i < n - 1; i++)
		if (b->data[i] == '\\' || b->data[i] == '"')
			return;
	if (!is_dot_atom(b->data + 1, n - 2))
		return;
	memmove(b->data, b->data + 1, n - 2);
	b->len = n - 2;
	b->data[b->len] = '\0';
}

/* One addr-spec found: the address as stored, where it starts, where its
 * local part ends and where it ends in the text, whether it had a domain
 * and whether it stood inside angle brackets. */
struct spec {
	const char *addr;
	size_t start, local_end, end;
	int has_domain, in_angle;
};

typedef int (*addr_found_fn)(void *ctx, const struct spec *sp, struct err *e);

static int
oom(struct err *e)
{
	return err_set(e, EX_OSERR, "out of memory");
}

/* addr-spec = local-part ["@" domain] (the domain is optional here: bare
 * local names are qualified later). */
static int
parse_addr_spec(struct lexer *lx, int in_angle, addr_found_fn fn, void *ctx, struct err *e)
{
	struct buf b;
	struct tok t, next;
	struct spec sp;
	size_t local_end, start, end;
	int ret = -1, has_domain = 0;

	buf_init(&b, lx->len + 1);
	if (lex(lx, &t, e) < 0)
		goto out;
	if (!is_word(&t)) {
		lex_error(lx, t.start, e, "expected an address");
		goto out;
	}
	if (put_token(&b, lx, &t) < 0)
		goto nomem;
	start = t.start;
	local_end = t.end;
	for (;;) {
		if (peek(lx, &next, e) < 0)
			goto out;
		if (!is_special(&next, '.'))
			break;
		lex(lx, &next, e);
		if (lex(lx, &t, e) < 0)
			goto out;
		if (!is_word(&t)) {
			lex_error(lx, t.start, e, "expected a word after '.'");
			goto out;
		}
		if (buf_putc(&b, '.') < 0 || put_token(&b, lx, &t) < 0)
			goto nomem;
		local_end = t.end;
	}
	unquote_local(&b);
	if (peek(lx, &next, e) < 0)
		goto out;
	if (is_special(&next, '@')) {
		lex(lx, &next, e);
		has_domain = 1;
		if (buf_putc(&b, '@') < 0)
			goto nomem;
		if (lex(lx, &t, e) < 0)
			goto out;
		if (t.type == TOK_DLIT) {
			if (put_token(&b, lx, &t) < 0)
				goto nomem;
		} else if (t.type == TOK_ATOM) {
			if (put_token(&b, lx, &t) < 0)
				goto nomem;
			for (;;) {
				if (peek(lx, &next, e) < 0)
					goto out;
				if (!is_special(&next, '.'))
					break;
				lex(lx, &next, e);
				if (lex(lx, &t, e) < 0)
					goto out;
				if (t.type != TOK_ATOM) {
					lex_error(lx, t.start, e, "expected a domain label after '.'");
					goto out;
				}
				if (buf_putc(&b, '.') < 0 || put_token(&b, lx, &t) < 0)
					goto nomem;
			}
		} else {
			lex_error(lx, t.start, e, "expected a domain after '@'");
			goto out;
		}
	}
	end = has_domain ? t.end : local_end;
	sp.addr = buf_cstr(&b);
	sp.start = start;
	sp.local_end = local_end;
	sp.end = end;
	sp.has_domain = has_domain;
	sp.in_angle = in_angle;
	ret = fn(ctx, &sp, e);
	goto out;
nomem:
	oom(e);
out:
	buf_free(&b);
	return ret;
}

/* angle-addr = "<" [obs-route] addr-spec ">", the "<" already consumed. */
static int
parse_angle(struct lexer *lx, addr_found_fn fn, void *ctx, struct err *e)
{
	struct tok t;

	if (peek(lx, &t, e) < 0)
		return -1;
	if (is_special(&t, '@')) {
		/* obs-route "@a,@b:" names relays; RFC 5321 C says ignore it. */
		do {
			if (lex(lx, &t, e) < 0)
				return -1;
			if (t.type == TOK_END || is_special(&t, '>'))
				return lex_error(lx, t.start, e, "unterminated route");
		} while (!is_special(&t, ':'));
		if (peek(lx, &t, e) < 0)
			return -1;
	}
	if (is_special(&t, '>'))
		return lex_error(lx, t.start, e, "empty address <>");
	if (parse_addr_spec(lx, 1, fn, ctx, e) < 0)
		return -1;
	if (lex(lx, &t, e) < 0)
		return -1;
	if (!is_special(&t, '>'))
		return lex_error(lx, t.start, e, "expected '>'");
	return 0;
}

enum element { EL_EMPTY, EL_MAILBOX, EL_GROUP };

/* One list element: a mailbox (name-addr or addr-spec), the start of a
 * group, or nothing (obs-addr-list allows empty elements). Scans ahead to
 * the first '<', ':' or delimiter to learn which. */
static int
parse_element(struct lexer *lx, int in_group, addr_found_fn fn, void *ctx,
    enum element *kind, struct err *e)
{
	struct lexer scan = *lx;
	struct tok t;
	size_t ntok = 0;
	int phrase = 1;         /* only words and dots so far */

	*kind = EL_EMPTY;
	for (;;) {
		if (lex(&scan, &t, e) < 0)
			return -1;
		if (t.type == TOK_END || is_special(&t, ',') || is_special(&t, ';'))
			break;
		if (is_special(&t, '<')) {
			*lx = scan;
			*kind = EL_MAILBOX;
			return parse_angle(lx, fn, ctx, e);
		}
		if (is_special(&t, ':')) {
			if (in_group)
				return lex_error(lx, t.start, e, "group inside a group");
			if (!phrase || ntok == 0)
				return lex_error(lx, t.start, e, "unexpected ':'");
			*lx = scan;
			*kind = EL_GROUP;
			return 0;
		}
		if (is_special(&t, '>'))
			return lex_error(lx, t.start, e, "unexpected '>'");
		if (!is_word(&t) && !is_special(&t, '.'))
			phrase = 0;
		ntok++;
	}
	if (ntok == 0) {
		*kind = EL_EMPTY;
		return 0;
	}
	*kind = EL_MAILBOX;
	return parse_addr_spec(lx, 0, fn, ctx, e);
}

static int
parse_list(const char *text, size_t len, addr_found_fn fn, void *ctx, struct err *e)
{
	struct lexer lx = { text, len, 0 };
	struct tok t;
	enum element kind;
	int in_group = 0;

	for (;;) {
		if (parse_element(&lx, in_group, fn, ctx, &kind, e) < 0)
			return -1;
		if (kind == EL_GROUP) {
			in_group = 1;
			continue;
		}
		if (lex(&lx, &t, e) < 0)
			return -1;
		if (t.type == TOK_END)
			return 0;       /* a group left open at the end is harmless */
		if (is_special(&t, ','))
			continue;
		if (is_special(&t, ';') && in_group) {
			in_group = 0;
			if (lex(&lx, &t, e) < 0)
				return -1;
			if (t.type == TOK_END)
				return 0;
			if (is_special(&t, ','))
				continue;
		}
		return lex_error(&lx, t.start, e, kind == EL_MAILBOX ?
		    "unexpected text after an address (missing ','?)" : "unexpected text");
	}
}

static int
found_add(void *ctx, const struct spec *sp, struct err *e)
{
	return addr_list_add(ctx, sp->addr, e);
}

int
addr_parse_list(struct addr_list *l, const char *text, size_t len, struct err *e)
{
	return parse_list(text, len, found_add, l, e);
}

/* Both rewriters copy the text through, splicing replacements in. */
struct splice {
	const char *text;
	size_t copied;          /* text[0..copied) is in out already */
	struct buf out;
	int count;
	/* qualify */
	const char *domain;
	/* rewrite */
	addr_rewrite_fn fn;
	void *ctx;
};

/* Copy the text up to `upto`, then `repl`, and skip the text to `resume`. */
static int
splice_put(struct splice *s, size_t upto, const char *p1, const char *p2, size_t resume,
    struct err *e)
{
	if (buf_append(&s->out, s->text + s->copied, upto - s->copied) < 0 ||
	    buf_puts(&s->out, p1) < 0 || buf_puts(&s->out, p2) < 0)
		return errno == ENOSPC ? err_set(e, EX_DATAERR, "rewritten address list longer "
		    "than %zu octets", s->out.max) : oom(e);
	s->copied = resume;
	s->count++;
	return 0;
}

static int
found_qualify(void *vctx, const struct spec *sp, struct err *e)
{
	struct splice *q = vctx;

	if (sp->has_domain)
		return 0;
	return splice_put(q, sp->local_end, "@", q->domain, sp->local_end, e);
}

static int
found_rewrite(void *vctx, const struct spec *sp, struct err *e)
{
	struct splice *q = vctx;
	char *repl = NULL;
	int ret;

	if (q->fn(q->ctx, sp->addr, sp->in_angle, &repl, e) < 0)
		return -1;
	if (repl == NULL)
		return 0;
	ret = splice_put(q, sp->start, repl, "", sp->end, e);
	free(repl);
	return ret;
}

/* Run parse_list with found (unless it is NULL) and finish *out. */
static int
splice_run(struct splice *q, size_t len, addr_found_fn found, char **out, struct err *e)
{
	*out = NULL;
	if (found && parse_list(q->text, len, found, q, e) < 0) {
		buf_free(&q->out);
		return -1;
	}
	if (buf_append(&q->out, q->text + q->copied, len - q->copied) < 0 ||
	    (*out = buf_take(&q->out)) == NULL) {
		buf_free(&q->out);
		return oom(e);
	}
	return q->count;
}

int
addr_qualify_list(const char *text, size_t len, const char *domain, char **out,
    struct err *e)
{
	struct splice q;

	memset(&q, 0, sizeof q);
	q.text = text;
	q.domain = domain ? domain : "";
	/* At most one address per two input octets ("a,"), each growing by
	 * the domain and its '@'. */
	buf_init(&q.out, len + (len / 2 + 1) * (strlen(q.domain) + 1));
	return splice_run(&q, len, *q.domain ? found_qualify : NULL, out, e);
}

int
addr_rewrite_list(const char *text, size_t len, addr_rewrite_fn fn, void *ctx, char **out,
    struct err *e)
{
	struct splice q;

	memset(&q, 0, sizeof q);
	q.text = text;
	q.fn = fn;
	q.ctx = ctx;
	buf_init(&q.out, ADDR_REWRITE_MAX);
	return splice_run(&q, len, found_rewrite, out, e);
}

/* ---------------------------------------------------------------- checks */

const char *
addr_domain(const char *addr)
{
	const char *at = find_at(addr);

	return at ? at + 1 : NULL;
}

int
addr_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static int
check_local(const char *s, size_t n)
{
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		for (size_t i = 1; i < n - 1; i++) {
			if (s[i] == '\\') {
				if (++i >= n - 1)
					return 0;   /* the escape ate the closing quote */
			} else if (s[i] == '"') {
				return 0;
			}
		}
		return 1;
	}
	return is_dot_atom(s, n);
}

static int
check_domain(const char *s, size_t n)
{
	size_t label = 0;

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		/* RFC 5321 4.1.3: an address literal is printable ASCII (it has
		 * no A-label form, so it could never be sent without SMTPUTF8). */
		for (size_t i = 1; i < n - 1; i++)
			if (s[i] == '[' || s[i] == ']' || s[i] == '\\' || s[i] == ' ' ||
			    (unsigned char)s[i] >= 0x7f)
				return 0;
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		/* Letters, digits, hyphens; '_' is seen in real host names;
		 * UTF-8 for IDN, which addr_envelope_forms checks properly. */
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		label++;
	}
	return label > 0;
}

int
addr_check(const char *addr, int allow_empty, struct err *e)
{
	size_t len = strlen(addr), llen;
	const char *at;
	int q = 0;

	if (len == 0) {
		if (allow_empty)
			return 0;
		return err_set(e, EX_DATAERR, "empty address");
	}
	for (const char *p = addr; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			return err_set(e, EX_DATAERR, "control character in address \"%s\"", addr);
		if (c == '<' || c == '>')
			return err_set(e, EX_DATAERR, "angle bracket in address \"%s\"", addr);
		if (q && c == '\\' && p[1])
			p++;
		else if (c == '"')
			q = !q;
		else if (!q && c == ' ')
			return err_set(e, EX_DATAERR, "space in address \"%s\"", addr);
	}
	if (len > ADDR_PATH_MAX)
		return err_set(e, EX_DATAERR, "address longer than %d octets: \"%.40s...\"",
		    ADDR_PATH_MAX, addr);
	if ((at = find_at(addr)) == NULL)
		return err_set(e, EX_DATAERR, "address \"%s\" has no domain", addr);
	llen = (size_t)(at - addr);
	if (llen > ADDR_LOCAL_MAX)
		return err_set(e, EX_DATAERR, "local part of \"%s\" longer than %d octets",
		    addr, ADDR_LOCAL_MAX);
	if (len - llen - 1 > ADDR_DOMAIN_MAX)
		return err_set(e, EX_DATAERR, "domain of \"%s\" longer than %d octets",
		    addr, ADDR_DOMAIN_MAX);
	if (!check_local(addr, llen))
		return err_set(e, EX_DATAERR, "bad local part in address \"%s\"", addr);
	if (!check_domain(at + 1, len - llen - 1))
		return err_set(e, EX_DATAERR, "bad domain in address \"%s\"", addr);
	return 0;
}

char *
addr_qualify(const char *addr, const char *domain)
{
	struct buf b;

	if (find_at(addr) != NULL || domain == NULL || *domain == '\0')
		return str_dup(addr);
	buf_init(&b, strlen(addr) + strlen(domain) + 1);
	if (buf_puts(&b, addr) < 0 || buf_putc(&b, '@') < 0 || buf_puts(&b, domain) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

/* ---------------------------------------------------------------- IDN */

/* Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. SMTPUTF8 servers may refuse anything else. */
static int
utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		unsigned char c = *s;
		int n;
		unsigned long cp;

		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

static int
idn_to_ascii(const char *name, char **out, int ex, struct err *e)
{
	char *a = NULL;
	int rc;

	*out = NULL;
	if (!utf8_valid(name))
		return err_set(e, ex, "\"%s\" is not valid UTF-8", name);
	rc = idn2_to_ascii_8z(name, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc == IDN2_MALLOC)
		return oom(e);
	if (rc != IDN2_OK)
		return err_set(e, ex, "invalid international domain name \"%s\": %s",
		    name, idn2_strerror(rc));
	*out = str_dup(a);
	idn2_free(a);
	return *out ? 0 : oom(e);
}

static char *
join(const char *local, size_t llen, const char *domain)
{
	struct buf b;

	buf_init(&b, llen + strlen(domain) + 1);
	if (buf_append(&b, local, llen) < 0 || buf_putc(&b, '@') < 0 ||
	    buf_puts(&b, domain) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

int
addr_envelope_forms(const char *addr, char **ascii, char **utf8, struct err *e)
{
	const char *at = find_at(addr);
	size_t llen = at ? (size_t)(at - addr) : strlen(addr);
	int local_ascii = 1;
	char *a_dom = NULL, *u_dom = NULL;
	int rc;

	*ascii = *utf8 = NULL;
	if (!utf8_valid(addr))
		return err_set(e, EX_DATAERR, "address \"%s\" is not valid UTF-8", addr);
	for (size_t i = 0; i < llen; i++)
		if ((unsigned char)addr[i] >= 0x80)
			local_ascii = 0;
	if (at == NULL || at[1] == '[' || addr_is_ascii(at + 1)) {
		/* Nothing to convert: the address is its own envelope form. */
		if ((*utf8 = str_dup(addr)) == NULL ||
		    (local_ascii && (*ascii = str_dup(addr)) == NULL))
			goto nomem;
		return 0;
	}
	if (idn_to_ascii(at + 1, &a_dom, EX_DATAERR, e) < 0)
		return err_prefix(e, "address \"%s\"", addr);
	/* Back from A-labels gives the UTS#46-mapped U-labels: NFC,
	 * lowercased, the form an SMTPUTF8 server should see. */
	rc = idn2_to_unicode_8z8z(a_dom, &u_dom, 0);
	if (rc == IDN2_MALLOC) {
		free(a_dom);
		return oom(e);
	}
	if (rc != IDN2_OK) {
		err_set(e, EX_DATAERR, "address \"%s\": invalid international domain name: %s",
		    addr, idn2_strerror(rc));
		free(a_dom);
		return -1;
	}
	*utf8 = join(addr, llen, u_dom);
	idn2_free(u_dom);
	if (*utf8 == NULL || (local_ascii && (*ascii = join(addr, llen, a_dom)) == NULL)) {
		free(a_dom);
		goto nomem;
	}
	free(a_dom);
	return 0;
nomem:
	free(*ascii);
	free(*utf8);
	*ascii = *utf8 = NULL;
	return oom(e);
}

int
addr_host_to_ascii(const char *host, char **out, struct err *e)
{
	if (addr_is_ascii(host)) {
		*out = str_dup(host);
		return *out ? 0 : oom(e);
	}
	return idn_to_ascii(host, out, EX_CONFIG, e);
}
