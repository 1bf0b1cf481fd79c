/* scm.h - passing file descriptors over unix sockets (SCM_RIGHTS). */
#ifndef TERN_UTIL_SCM_H
#define TERN_UTIL_SCM_H

#include <sys/socket.h>

#define SCM_MAX_FDS 4

/* Control-message space for up to SCM_MAX_FDS descriptors, aligned. */
union scm_buf {
	char buf[CMSG_SPACE(sizeof(int) * SCM_MAX_FDS)];
	struct cmsghdr align;
};

/* Attach fds[0..n) to m (n may be 0: nothing attached). */
void scm_attach(struct msghdr *m, union scm_buf *u, const int *fds, int n);
/* sendmsg, retried on EINTR, without SIGPIPE. Returns bytes or -errno. */
ssize_t scm_sendmsg(int sock, struct msghdr *m);

#endif
