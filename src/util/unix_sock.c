/* unix_sock.c - see unix_sock.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "util/unix_sock.h"

static int sock_type(unsigned flags)
{
	return ((flags & UNIX_SEQPACKET) ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC |
	       ((flags & UNIX_NONBLOCK) ? SOCK_NONBLOCK : 0);
}

int unix__connect(const char *path, const char *what, unsigned flags, int *errno_out,
		  char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, e;

	if (errno_out)
		*errno_out = 0;
	if (strlen(path) >= sizeof(a.sun_path)) {
		errbuf__set(err, errlen, "%s %s: path too long (max %zu bytes)", what, path,
			   sizeof(a.sun_path) - 1);
		if (errno_out)
			*errno_out = ENAMETOOLONG;
		return -1;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	fd = socket(AF_UNIX, sock_type(flags & ~UNIX_NONBLOCK), 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	e = errno;
	if (fd >= 0)
		close(fd);
	errbuf__set(err, errlen, "cannot connect to %s %s: %s", what, path, strerror(e));
	if (errno_out)
		*errno_out = e;
	return -1;
}

/* Whether a process accepts connections of this type at path; -1 if the
 * socket there is of the other type (EPROTOTYPE). */
static int serves(const char *path, int type)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0), r, e;
	if (fd < 0)
		return 0;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	e = errno;
	close(fd);
	return r == 0 ? 1 : e == EPROTOTYPE ? -1 : 0;
}

bool unix__in_use(const char *path)
{
	/* a stream probe of a live seqpacket socket (tern-psp) fails with
	 * EPROTOTYPE: ask again in its type rather than call it dead */
	int r = serves(path, SOCK_STREAM);
	if (r < 0)
		r = serves(path, SOCK_SEQPACKET);
	return r > 0;
}

int unix__listen(const char *path, const char *what, int backlog, unsigned flags,
		 char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(a.sun_path)) {
		errbuf__set(err, errlen, "%s %s: path too long (max %zu bytes)", what, path,
			   sizeof(a.sun_path) - 1);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errbuf__set(err, errlen, "%s %s exists and is not a socket", what, path);
			return -1;
		}
		if (!(flags & UNIX_REPLACE_LIVE) && unix__in_use(path)) {
			errbuf__set(err, errlen, "%s %s is in use by another process (a live socket): "
				   "refusing to take it over", what, path);
			return -1;
		}
		unlink(path);                 /* left behind by a process that died */
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	fd = socket(AF_UNIX, sock_type(flags), 0);
	if (fd < 0) {
		errbuf__set(err, errlen, "%s %s: socket: %s", what, path, strerror(errno));
		return -1;
	}
	mode_t old = umask(0177);
	r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0 || listen(fd, backlog) < 0) {
		errbuf__set(err, errlen, "cannot listen on %s %s: %s", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
