/* sev_sys.h - the system calls the sev back-end (sev.c) makes, behind
 * pointers so unit tests can put a fake kernel in their place. The
 * defaults are the real open(2), ioctl(2), close(2) and read(2). */
#ifndef TERN_CC_SEV_SYS_H
#define TERN_CC_SEV_SYS_H

#include <sys/types.h>

struct cc_sev_sys {
	int (*open)(const char *path, int flags);
	int (*ioctl)(int fd, unsigned long req, void *arg);   /* -1 and errno on error */
	int (*close)(int fd);
	ssize_t (*read)(int fd, void *buf, size_t len);      /* the AMD chain file */
};

extern struct cc_sev_sys cc_sev_sys;

#endif
