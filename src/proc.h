/*
 * proc.h - leaving the caller behind: background processes that outlive
 * the invocation that started them (-odb's delivery, the queue retrier).
 *
 * Owns: fork into a new session with standard input, output and error on
 * /dev/null, and closing inherited descriptors, so that a detached process
 * never holds a caller's pipe open (cron and PHP wait for EOF on it) and is
 * not killed with the caller's process group or terminal.
 *
 * Never: decides what the background process does, exits (the child
 * returns to main like any other run), or touches the queue.
 */
#ifndef ENVOI_PROC_H
#define ENVOI_PROC_H

#include "err.h"

/* Fork a child in a new session with stdin, stdout and stderr on
 * /dev/null (nobody reads them any more; the log records what happens).
 * Other descriptors are inherited. Returns the child's pid (> 0) in the
 * parent, 0 in the child, -1 when fork fails (EX_OSERR). */
int proc_detach(struct err *e);

/* Close every descriptor above standard error except keep (-1: none): a
 * long-lived child must not hold a queue entry's lock or a caller's pipe
 * that its parent happened to have open. */
void proc_close_fds(int keep);

#endif
