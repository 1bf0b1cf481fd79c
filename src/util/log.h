/* log.h - messages for humans. Errors name their cause; `die` exits non-zero. */
#ifndef TERN_UTIL_LOG_H
#define TERN_UTIL_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

/* Program name shown in front of every message ("tern", "tern-psp"). */
extern const char *log_prog;

void log__err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log__info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Format into a caller's error buffer (used by parsers that must not print). */
void errbuf__set(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
