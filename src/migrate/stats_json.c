/* stats_json.c - a migration's statistics: counts merged from the
 * pipeline's threads, and JSON with QEMU's query-migrate field names where
 * they mean the same thing. */
#include <jansson.h>

#include "migrate/precopy.h"

void mig_stats__add_counts(struct mig_stats *to, const struct mig_stats *d)
{
	to->transferred += d->transferred;
	to->normal += d->normal;
	to->duplicate += d->duplicate;
	to->private_pages += d->private_pages;
	to->psp_pages += d->psp_pages;
	to->psp_bytes += d->psp_bytes;
	to->helper_pages += d->helper_pages;
	to->helper_bytes += d->helper_bytes;
	to->helper_ns += d->helper_ns;
	if (d->psp_ns)                    /* a running total, not a delta */
		to->psp_ns = d->psp_ns;
}

json_t *mig__timeline_json(const struct mig_round *r, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I, s:f, s:f, s:I, s:I, s:f, s:b}",
			"round", (json_int_t)r[i].round,
			"start-ms", (double)r[i].start_ns / 1e6,
			"duration-ms", (double)r[i].duration_ns / 1e6,
			"pages", (json_int_t)r[i].pages,
			"bytes", (json_int_t)r[i].bytes,
			"dirty-pages-rate", r[i].dirty_pages_rate,
			"paused", r[i].paused));
	return a;
}

json_t *mig__stats_json(const struct mig_stats *st)
{
	json_t *o = json_pack("{s:s, s:f, s:f, s:f, s:f}",
		"status", mig__status_name(st->status),
		"total-time", (double)st->total_ns / 1e6,
		"setup-time", (double)st->setup_ns / 1e6,
		"downtime", (double)st->downtime_ns / 1e6,
		"expected-downtime", (double)st->expected_downtime_ns / 1e6);
	json_object_set_new(o, "connections", json_integer(st->connections));
	json_object_set_new(o, "ram", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}",
		"transferred", (json_int_t)st->transferred,
		"remaining", (json_int_t)(st->remaining_pages * 4096),
		"total", (json_int_t)(st->total_pages * 4096),
		"duplicate", (json_int_t)st->duplicate,
		"normal", (json_int_t)st->normal,
		"normal-bytes", (json_int_t)(st->normal * 4096),
		"dirty-sync-count", (json_int_t)st->dirty_sync_count,
		"iteration", (json_int_t)st->iteration,
		"mbps", st->mbps,
		"dirty-pages-rate", st->dirty_pages_rate));
	/* each private path's share; ns: time spent sealing (source) or
	 * opening (destination) */
	json_object_set_new(o, "private", json_pack("{s:I, s:f, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}}",
		"pages", (json_int_t)st->private_pages, "platform-ms", (double)st->psp_ns / 1e6,
		"helper", "pages", (json_int_t)st->helper_pages, "bytes", (json_int_t)st->helper_bytes,
		"ns", (json_int_t)st->helper_ns,
		"psp", "pages", (json_int_t)st->psp_pages, "bytes", (json_int_t)st->psp_bytes,
		"ns", (json_int_t)st->psp_ns));
	json_object_set_new(o, "tls", json_string(st->tls[0] ? st->tls : "none"));
	if (st->provision)                /* where the destination's first-touch cost went */
		json_object_set_new(o, "provision", json_pack("{s:s, s:I, s:I}", "mode", st->provision,
			"setup-bytes", (json_int_t)st->provision_total,
			"setup-done-at-start", (json_int_t)st->provisioned_at_start));
	if (st->postcopy) {               /* QEMU reports a postcopy-active status; the figures are ours */
		json_t *pc = json_pack("{s:b, s:f, s:I, s:I, s:I, s:I, s:I, s:f}",
			"vm-lost", st->vm_lost,
			"switch-pause-ms", (double)st->postcopy_switch_ns / 1e6,
			"missing-pages", (json_int_t)st->postcopy_missing,
			"remaining-pages", (json_int_t)st->postcopy_remaining,
			"background-bytes", (json_int_t)st->postcopy_bg_bytes,
			"requests", (json_int_t)st->postcopy_requests,
			"request-bytes", (json_int_t)st->postcopy_req_bytes,
			"time-ms", (double)st->postcopy_ns / 1e6);
		/* only where measured: a source that said 0 would be believed */
		if (st->postcopy_waits) {
			json_object_set_new(pc, "request-latency-us", json_pack("{s:f, s:f, s:f}",
				"median", (double)st->req_lat_median_ns / 1e3, "p99", (double)st->req_lat_p99_ns / 1e3,
				"max", (double)st->req_lat_max_ns / 1e3));
			json_object_set_new(pc, "guest-blocked-ms", json_real((double)st->guest_blocked_ns / 1e6));
		}
		json_object_set_new(o, "postcopy", pc);
	}
	if (st->error[0])
		json_object_set_new(o, "error-desc", json_string(st->error));
	return o;
}

