/* server.c - the control socket's life: claim the path, start the thread
 * that serves it (loop.c), close it and remove the path. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/snap_job.h"
#include "ctl/loop.h"
#include "util/io.h"
#include "util/log.h"
#include "util/unix_sock.h"

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
	memset(s, 0, sizeof(*s));
	s->lfd = -1;
	s->wake[0] = s->wake[1] = -1;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	pthread_mutex_init(&s->mig.lock, NULL);
	s->commands = ctl__commands;
	s->idle_ms = CTL_IDLE_MS;
	/* 0600 from the start; a live socket is refused unless handed over;
	 * a burst of newcomers waits in the backlog, not refused: the loop
	 * lets each in, closing the idlest client if it must (loop.c) */
	s->lfd = unix__listen(path, "control socket", 64,
			      UNIX_NONBLOCK | (replace ? UNIX_REPLACE_LIVE : 0), err, errlen);
	if (s->lfd < 0)
		return -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (pipe2(s->wake, O_CLOEXEC) < 0) {
		errbuf__set(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int start_thread(struct ctl_server *s)
{
	if (pthread_create(&s->thread, NULL, ctl_loop__run, s))
		return -1;
	s->running = true;
	return 0;
}

int ctl_server__start(struct ctl_server *s, struct vm *vm, const char *guest)
{
	s->vm = vm;
	s->guest = guest;
	return start_thread(s);
}

int ctl_server__start_incoming(struct ctl_server *s, struct mig_incoming *in, const char *guest)
{
	s->arriving = in;
	s->guest = guest;
	return start_thread(s);
}

/* The same thread goes on serving: no second server and no moment in
 * which the socket is not answered. Whatever the caller set up for the VM
 * (s->incoming) is written before this release store, so the thread sees
 * it once it sees the VM. */
void ctl_server__attach(struct ctl_server *s, struct vm *vm)
{
	__atomic_store_n(&s->vm, vm, __ATOMIC_RELEASE);
}

void ctl_server__set_mirror(struct ctl_server *s, struct mirror *m)
{
	__atomic_store_n(&s->mirror, m, __ATOMIC_RELEASE);
}

struct mirror *ctl_server__mirror(struct ctl_server *s)
{
	return __atomic_load_n(&s->mirror, __ATOMIC_ACQUIRE);
}

struct vm *ctl_server__vm(struct ctl_server *s)
{
	return __atomic_load_n(&s->vm, __ATOMIC_ACQUIRE);
}

void ctl_server__close(struct ctl_server *s)
{
	migration__cancel(&s->mig);
	migration__join(&s->mig);
	snap_job__free(s->snap);          /* the VM is stopping: a live snapshot ends */
	s->snap = NULL;
	if (s->running) {
		(void)write__full(s->wake[1], "x", 1);
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
