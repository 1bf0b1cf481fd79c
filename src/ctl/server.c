/* server.c - accept clients on the control socket and answer their lines.
 * One thread, poll(); a command that takes long (snapshot) holds the others
 * back, which keeps commands from interleaving on the VM. */
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
	if (r < 0 || listen(s->lfd, 8) < 0) {
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

static void drop(struct ctl_client *c)
{
	close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->len = 0;
}

static void reply(struct ctl_client *c, json_t *rep)
{
	char *txt = json_dumps(rep, JSON_COMPACT);
	if (txt) {
		size_t n = strlen(txt);
		txt[n] = '\0';
		if (write_full(c->fd, txt, n) == 0)
			(void)write_full(c->fd, "\n", 1);
		free(txt);
	}
}

static void handle_line(struct ctl_server *s, struct ctl_client *c, const char *line)
{
	json_error_t je;
	json_t *req = json_loads(line, 0, &je), *rep;
	if (!req || !json_is_object(req)) {
		rep = json_pack("{s:b, s:s}", "ok", 0, "error",
				req ? "request must be a JSON object" : "request is not valid JSON");
	} else {
		rep = ctl__dispatch(s, req);
	}
	reply(c, rep);
	json_decref(rep);
	json_decref(req);
}

/* Read what is there; answer each complete line. Returns -1 to drop. */
static int client_readable(struct ctl_server *s, struct ctl_client *c)
{
	char tmp[4096];
	ssize_t n = read(c->fd, tmp, sizeof(tmp));
	if (n <= 0)
		return n < 0 && errno == EINTR ? 0 : -1;
	if (c->len + (size_t)n > CTL_MAX_LINE)
		return -1;        /* no newline in 64 KiB: not a client of ours */
	char *nb = realloc(c->buf, c->len + (size_t)n + 1);
	if (!nb)
		return -1;
	c->buf = nb;
	memcpy(c->buf + c->len, tmp, (size_t)n);
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	char *start = c->buf, *nl;
	while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf)))) {
		*nl = '\0';
		if (nl > start)
			handle_line(s, c, start);
		start = nl + 1;
	}
	c->len -= (size_t)(start - c->buf);
	memmove(c->buf, start, c->len);
	return 0;
}

static void *serve(void *arg)
{
	struct ctl_server *s = arg;
	struct pollfd pf[CTL_MAX_CLIENTS + 2];
	for (;;) {
		int n = 0, map[CTL_MAX_CLIENTS];
		pf[n++] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			if (s->clients[i].fd < 0)
				continue;
			map[n - 2] = i;
			pf[n++] = (struct pollfd){ .fd = s->clients[i].fd, .events = POLLIN };
		}
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			break;
		for (int k = 2; k < n; k++) {
			struct ctl_client *c = &s->clients[map[k - 2]];
			if (pf[k].revents && client_readable(s, c))
				drop(c);
		}
		if (pf[1].revents & POLLIN) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			int i;
			for (i = 0; i < CTL_MAX_CLIENTS && s->clients[i].fd >= 0; i++)
				;
			if (i == CTL_MAX_CLIENTS) {
				const char *busy = "{\"ok\":false,\"error\":\"too many control clients\"}\n";
				(void)write_full(fd, busy, strlen(busy));
				close(fd);
			} else {
				s->clients[i].fd = fd;
			}
		}
	}
	return NULL;
}

int ctl_server__start(struct ctl_server *s, struct vm *vm, const char *guest)
{
	s->vm = vm;
	s->guest = guest;
	if (pthread_create(&s->thread, NULL, serve, s))
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
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0)
			drop(&s->clients[i]);
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
