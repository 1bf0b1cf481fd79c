/* server.c - the control socket's life: claim the path, start the thread
 * that serves it (loop.c), close it and remove the path. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/loop.h"
#include "util/io.h"
#include "util/log.h"

static int path_in_use(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;
	if (fd < 0)
		return 0;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return r == 0;
}

static int open_socket(struct ctl_server *s, const char *path, bool replace, char *err, size_t errlen);

int ctl_server__open(struct ctl_server *s, const char *path, char *err, size_t errlen)
{
	return open_socket(s, path, false, err, errlen);
}

int ctl_server__open_replace(struct ctl_server *s, const char *path, char *err, size_t errlen)
{
	return open_socket(s, path, true, err, errlen);
}

static int open_socket(struct ctl_server *s, const char *path, bool replace, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;

	memset(s, 0, sizeof(*s));
	s->lfd = -1;
	s->wake[0] = s->wake[1] = -1;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	pthread_mutex_init(&s->mig.lock, NULL);
	s->commands = ctl__commands;
	s->idle_ms = CTL_IDLE_MS;
	if (strlen(path) >= sizeof(a.sun_path)) {
		errbuf_set(err, errlen, "control socket path %s is too long (max %zu bytes)",
			   path, sizeof(a.sun_path) - 1);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errbuf_set(err, errlen, "control socket path %s exists and is not a socket", path);
			return -1;
		}
		if (!replace && path_in_use(path)) {
			errbuf_set(err, errlen, "control socket %s is in use by another process", path);
			return -1;
		}
		unlink(path);     /* left behind by a process that died */
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->lfd < 0) {
		errbuf_set(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* created 0600 from the start: no window where others may connect */
	old = umask(0177);
	int r = bind(s->lfd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	/* a burst of newcomers waits in the backlog, not refused: the loop
	 * lets each in, closing the idlest client if it must (loop.c) */
	if (r < 0 || listen(s->lfd, 64) < 0) {
		errbuf_set(err, errlen, "cannot listen on control socket %s: %s", path, strerror(errno));
		close(s->lfd);
		s->lfd = -1;
		return -1;
	}
	if (pipe2(s->wake, O_CLOEXEC) < 0) {
		errbuf_set(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int ctl_server__start(struct ctl_server *s, struct vm *vm, const char *guest)
{
	s->vm = vm;
	s->guest = guest;
	if (pthread_create(&s->thread, NULL, ctl_loop__run, s))
		return -1;
	s->running = true;
	return 0;
}

void ctl_server__close(struct ctl_server *s)
{
	migration_cancel(&s->mig);
	migration_join(&s->mig);
	if (s->running) {
		(void)write_full(s->wake[1], "x", 1);
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	/* a last reply (quit, handoff) may still wait in a buffer */
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0) {
			ctl_loop__flush(&s->clients[i]);
			ctl_loop__drop(&s->clients[i]);
		}
	if (s->lfd >= 0) {
		close(s->lfd);
		if (!s->keep_path)
			unlink(s->path);
		s->lfd = -1;
	}
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
		s->wake[0] = s->wake[1] = -1;
	}
}
