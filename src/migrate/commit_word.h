/* commit_word.h - the single point where a VM changes hands.
 *
 * A handoff shares guest RAM, so a copy that ran on the destination for
 * even a moment makes the source's saved vCPU state stale: "resume on
 * failure" is only safe if the destination never started. Both processes
 * map one shared word and decide with compare-and-swap: the destination
 * moves it UNDECIDED -> TAKEN before it resumes anything, the source moves
 * it UNDECIDED -> ABORTED before it resumes after a failure. Exactly one
 * wins, whatever dies when. */
#ifndef TERN_MIGRATE_COMMIT_WORD_H
#define TERN_MIGRATE_COMMIT_WORD_H

#include <stdbool.h>
#include <stdint.h>

enum {
	CW_UNDECIDED = 0,
	CW_TAKEN = 1,                     /* the destination runs (or is about to run) the VM */
	CW_ABORTED = 2,                   /* the source keeps it */
	CW_TAKEOVER_FAILED = 3,           /* the destination gave up before changing anything */
};

struct commit_word {
	int fd;
	uint32_t *word;
};

int  commit_word__create(struct commit_word *c);
int  commit_word__map(struct commit_word *c, int fd);        /* takes ownership of fd */
void commit_word__close(struct commit_word *c);
bool commit_word__cas(struct commit_word *c, uint32_t from, uint32_t to);
uint32_t commit_word__get(struct commit_word *c);
void commit_word__set(struct commit_word *c, uint32_t v);

#endif
