/* scm.c - SCM_RIGHTS helpers shared by the control-plane protocols. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/scm.h"

void scm__attach(struct msghdr *m, union scm_buf *u, const int *fds, int n)
{
	if (n <= 0) {
		m->msg_control = NULL;
		m->msg_controllen = 0;
		return;
	}
	memset(u, 0, sizeof(*u));
	m->msg_control = u->buf;
	m->msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
}

ssize_t scm__sendmsg(int sock, struct msghdr *m)
{
	ssize_t n;
	do
		n = sendmsg(sock, m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

void scm__prepare(struct msghdr *m, union scm_buf *u)
{
	m->msg_control = u->buf;
	m->msg_controllen = sizeof(u->buf);
}

void scm__collect(struct msghdr *m, int *fds, int *n, int max)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*n < max)
				fds[(*n)++] = fd;
			else
				close(fd);
		}
	}
}
