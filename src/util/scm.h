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
void scm__attach(struct msghdr *m, union scm_buf *u, const int *fds, int n);
/* Point m's control buffer at u, ready for recvmsg (up to SCM_MAX_FDS). */
void scm__prepare(struct msghdr *m, union scm_buf *u);
/* After recvmsg: append the descriptors that arrived to fds[*n..max),
 * growing *n; any beyond max are closed, so a peer can neither overflow
 * the array nor make us leak descriptors. */
void scm__collect(struct msghdr *m, int *fds, int *n, int max);
/* sendmsg, retried on EINTR, without SIGPIPE. Returns bytes or -errno. */
ssize_t scm__sendmsg(int sock, struct msghdr *m);

#endif
