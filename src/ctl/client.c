/* client.c - one request, one reply, over the control socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "util/io.h"
#include "util/log.h"

json_t *ctl__call(const char *path, json_t *req, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char *txt, *buf = NULL;
	size_t len = 0, cap = 0;
	json_t *rep = NULL;
	json_error_t je;
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		errbuf_set(err, errlen, "control socket path %s is too long", path);
		return NULL;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		errbuf_set(err, errlen, "cannot connect to control socket %s: %s%s", path, strerror(errno),
			   errno == ENOENT || errno == ECONNREFUSED ? " (is the VM running?)" : "");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	txt = json_dumps(req, JSON_COMPACT);
	if (!txt || write_full(fd, txt, strlen(txt)) || write_full(fd, "\n", 1)) {
		errbuf_set(err, errlen, "cannot send to %s: %s", path, strerror(errno));
		free(txt);
		close(fd);
		return NULL;
	}
	free(txt);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	close(fd);
	if (!buf || !len || !memchr(buf, '\n', len)) {
		errbuf_set(err, errlen, "no reply from %s (the VM process went away?)", path);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	rep = json_loads(buf, JSON_DISABLE_EOF_CHECK, &je);
	free(buf);
	if (!rep || !json_is_object(rep)) {
		errbuf_set(err, errlen, "reply from %s is not a JSON object", path);
		json_decref(rep);
		return NULL;
	}
	return rep;
}
