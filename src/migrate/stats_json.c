/* stats_json.c - a migration's statistics as JSON, with QEMU's
 * query-migrate field names where they mean the same thing. */
#include <jansson.h>

#include "migrate/precopy.h"

json_t *mig__stats_json(const struct mig_stats *st)
{
	json_t *o = json_pack("{s:s, s:f, s:f, s:f, s:f}",
		"status", mig__status_name(st->status),
		"total-time", (double)st->total_ns / 1e6,
		"setup-time", (double)st->setup_ns / 1e6,
		"downtime", (double)st->downtime_ns / 1e6,
		"expected-downtime", (double)st->expected_downtime_ns / 1e6);
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
	if (st->error[0])
		json_object_set_new(o, "error-desc", json_string(st->error));
	return o;
}

