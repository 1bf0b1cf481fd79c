/* private_helper.c - the helper's private path on both sides (see
 * private_helper.h). The VMM here only moves packets between the wire and
 * the lanes' windows; what a packet may do is decided by the helpers. */
#include <errno.h>
#include <string.h>

#include "migrate/private_helper.h"
#include "util/log.h"

int helper_tx__announce(struct helper_tx *h, struct mirror *mr, int sock, bool seal, int timeout_ms,
			char *err, size_t errlen)
{
	struct wire_helper w = { .lanes = (uint32_t)mr->nlanes, .seal = seal };
	struct wire_helper_ready ready;
	struct wire_msg m;
	const char *dead;
	char why[400];
	int r;

	memset(h, 0, sizeof(*h));
	h->mr = mr;
	if ((dead = mirror__dead(mr))) {
		errbuf__set(err, errlen, "the migration helper is not serving: %s", dead);
		return -1;
	}
	/* a new stream for every attempt: no (stream, page, version) is ever
	 * sealed twice under the owner's key (docs/guest-abi.md, "Streams") */
	if (mr->floor >= HELPER_STREAM_LAST) {
		errbuf__set(err, errlen, "the migration helper has used up its stream ids");
		return -1;
	}
	h->stream = w.stream = mr->floor + 1;
	r = wire__send(sock, W_HELPER, 0, &w, sizeof(w), NULL, 0);
	if (r || wire__expect_reply(sock, &m, timeout_ms, why, sizeof(why))) {
		errbuf__set(err, errlen, "the destination could not start its migration helper: %s",
			   r ? strerror(-r) : why);
		return -1;
	}
	if (m.h.length != sizeof(ready)) {
		wire__msg_free(&m);
		errbuf__set(err, errlen, "the destination's answer to HELPER is malformed");
		return -1;
	}
	memcpy(&ready, m.data, sizeof(ready));
	wire__msg_free(&m);
	log__info("migration helper: stream %u, destination helper ready with %u lane%s (floor %u)",
		  h->stream, ready.lanes, ready.lanes == 1 ? "" : "s", ready.floor);
	return 0;
}

void helper_tx__queue(struct helper_tx *h, uint64_t gpa, uint32_t ver, uint8_t *dst)
{
	h->gpa[h->n] = gpa;
	h->ver[h->n] = ver;
	h->dst[h->n] = dst;
	h->n++;
}

int helper_tx__seal(struct helper_tx *h, uint64_t *ns, char *err, size_t errlen)
{
	int r = mirror__seal(h->mr, h->stream, h->gpa, h->ver, h->n, h->dst, ns, err, errlen);
	h->n = 0;
	return r;
}

int helper_rx__start(struct helper_rx *h, const struct wire_msg *m, struct wire_helper_ready *reply,
		     char *err, size_t errlen)
{
	struct wire_helper w;
	char why[400];

	if (h->active) {
		errbuf__set(err, errlen, "a second HELPER in one migration");
		return -1;
	}
	if (m->h.length != sizeof(w)) {
		errbuf__set(err, errlen, "HELPER is malformed (%llu bytes, expected %zu)",
			   (unsigned long long)m->h.length, sizeof(w));
		return -1;
	}
	memcpy(&w, m->data, sizeof(w));
	if (w.lanes < 1 || w.lanes > HELPER_LANES || w.seal > 1 || w.pad ||
	    w.stream == 0 || w.stream > HELPER_STREAM_LAST) {
		errbuf__set(err, errlen, "HELPER asks for %u lanes, stream %u: out of range", w.lanes, w.stream);
		return -1;
	}
	/* the region arrived by the PSP path; the mirror runs it as it is */
	if (mirror__start(h->mr, h->vm, (int)w.lanes, why, sizeof(why))) {
		errbuf__set(err, errlen, "cannot start this host's migration helper: %s", why);
		return -1;
	}
	if (w.stream <= h->mr->floor) {
		errbuf__set(err, errlen, "stream %u is not above this helper's floor %u (a replayed stream?)",
			   w.stream, h->mr->floor);
		mirror__destroy(h->mr);
		return -1;
	}
	h->active = true;
	h->stream = w.stream;
	reply->floor = h->mr->floor;
	reply->lanes = w.lanes;
	return 0;
}

int helper_rx__flush(void *ctx, char *err, size_t errlen)
{
	struct helper_rx *h = ctx;
	int r = mirror__open(h->mr, h->stream, h->gpa, h->n, h->pkt, &h->st->helper_ns, err, errlen);
	h->n = 0;
	return r;
}

int helper_rx__queue(void *ctx, uint64_t gpa, const uint8_t *pkt, char *err, size_t errlen)
{
	struct helper_rx *h = ctx;
	if (!h->active) {
		errbuf__set(err, errlen, "a helper-sealed page before HELPER");
		return -1;
	}
	if (h->n >= mirror__capacity(h->mr) && helper_rx__flush(h, err, errlen))
		return -1;
	h->gpa[h->n] = gpa;
	h->pkt[h->n] = pkt;
	h->n++;
	return 0;
}
