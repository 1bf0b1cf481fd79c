/* test_ctl_fields.c - the control commands' argument tables (commands.c)
 * and the one check behind them (fields.c): every bad value the probe of
 * issue #10 found is refused with the member named, unknown members are
 * refused, and a bad request never reaches the command (dispatch.c runs
 * here without a VM: a command that ran would crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/ctl.h"

static char err[1024];

/* Check the request (JSON text) against the real command's table. */
static int check(const char *json)
{
	json_error_t je;
	json_t *req = json_loads(json, 0, &je);
	if (!req)
		fail_msg("test request is not JSON: %s", je.text);
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	const struct ctl_command *c = ctl__find(ctl__commands, cmd);
	assert_non_null(c);
	strcpy(err, "(unset)");
	int r = ctl_fields__check(c->name, c->fields, req, err, sizeof(err));
	json_decref(req);
	return r;
}

#define OK(json) do { \
		if (check(json)) \
			fail_msg("%s refused: %s", json, err); \
	} while (0)

#define BAD(json, words) do { \
		if (check(json) == 0) \
			fail_msg("%s accepted, expected an error with '%s'", json, words); \
		if (!strstr(err, words)) \
			fail_msg("%s: error '%s' does not mention '%s'", json, err, words); \
	} while (0)

static void test_migrate_values_from_the_probe(void **state)
{
	(void)state;
	OK("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\"}");
	OK("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":50,\"max-bandwidth\":20000000,"
	   "\"timeout\":30,\"timeout-action\":\"force\",\"stats-file\":\"/tmp/s.json\"}");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"max-bandwidth\":\"20000000\"}",
	    "\"max-bandwidth\" must be an integer from 1 to 1099511627776, not \"20000000\" (a string)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":\"abc\"}",
	    "\"downtime-ms\" must be an integer from 1 to 3600000, not \"abc\" (a string)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":-5}", "\"downtime-ms\" must be an integer from 1 to 3600000, not -5");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":1.5}", "\"downtime-ms\" must be an integer from 1 to 3600000, not 1.5 (a real number)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":\"50\"}", "\"downtime-ms\" must be an integer from 1 to 3600000, not \"50\" (a string)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":0}", "\"downtime-ms\"");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":true}", "not true (a boolean)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":null}", "not null (null)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":[50]}", "not [50] (an array)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"timeout\":-1}", "\"timeout\" must be an integer from 1 to 604800, not -1");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"timeout\":0}", "\"timeout\"");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"timeout\":604801}", "not 604801");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"max-bandwidth\":-1}", "\"max-bandwidth\" must be an integer from 1 to 1099511627776, not -1");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"max-bandwidth\":0}", "\"max-bandwidth\"");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"timeout-action\":\"later\"}",
	    "\"timeout-action\" must be one of \"cancel\", \"force\" or \"postcopy\", not \"later\"");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"timeout-action\":1}", "\"timeout-action\" must be a string, not 1 (an integer)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"stats-file\":\"s.json\"}", "\"stats-file\" must be an absolute path, not \"s.json\"");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"stats-file\":\"\"}", "\"stats-file\" must not be empty");
	BAD("{\"cmd\":\"migrate\"}", "migrate needs \"uri\" (tcp:HOST:PORT or unix:PATH)");
	BAD("{\"cmd\":\"migrate\",\"uri\":5}", "\"uri\" must be a string, not 5 (an integer)");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"\"}", "\"uri\" must not be empty");
	/* a misspelt option is not "not given" */
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"max_bandwidth\":1}",
	    "migrate: unknown field \"max_bandwidth\" (migrate takes uri, downtime-ms, max-bandwidth, "
	    "timeout, timeout-action, stats-file, private-path, tls-creds, tls-hostname, connections, postcopy-after, resume)");
	OK("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"private-path\":\"helper\"}");
	OK("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"private-path\":\"psp\"}");
	BAD("{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"private-path\":\"fast\"}",
	    "\"private-path\" must be \"helper\" or \"psp\", not \"fast\"");
}

static void test_other_commands(void **state)
{
	(void)state;
	OK("{\"cmd\":\"snapshot\",\"path\":\"/tmp/x.snap\"}");
	BAD("{\"cmd\":\"snapshot\"}", "snapshot needs \"path\"");
	BAD("{\"cmd\":\"snapshot\",\"path\":\"x.snap\"}", "\"path\" must be an absolute path");
	BAD("{\"cmd\":\"snapshot\",\"path\":\"\"}", "\"path\" must not be empty");
	BAD("{\"cmd\":\"snapshot\",\"path\":[\"/x\"]}", "\"path\" must be a string");
	BAD("{\"cmd\":\"snapshot\",\"path\":\"/x\",\"compress\":true}", "unknown field \"compress\" (snapshot takes path, live, downtime-ms)");
	OK("{\"cmd\":\"handoff\",\"to\":\"/tmp/n.sock\"}");
	OK("{\"cmd\":\"handoff\",\"to\":\"/tmp/n.sock\",\"cc-transfer\":\"token\"}");
	BAD("{\"cmd\":\"handoff\"}", "handoff needs \"to\"");
	BAD("{\"cmd\":\"handoff\",\"to\":\"/tmp/n.sock\",\"cc-transfer\":\"copy\"}",
	    "\"cc-transfer\" must be \"move\" or \"token\", not \"copy\"");
	char longer[256] = "{\"cmd\":\"handoff\",\"to\":\"/";
	memset(longer + strlen(longer), 'a', 120);
	strcat(longer, "\"}");
	BAD(longer, "\"to\" must be 1 to 107 bytes long, not 121");
	/* every command without arguments refuses any */
	for (const struct ctl_command *c = ctl__commands; c->name; c++) {
		char req[128], want[128];
		if (c->fields)
			continue;
		snprintf(req, sizeof(req), "{\"cmd\":\"%s\",\"x\":1}", c->name);
		snprintf(want, sizeof(want), "%s: unknown field \"x\" (%s takes no arguments)", c->name, c->name);
		BAD(req, want);
		snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}", c->name);
		OK(req);
	}
}

/* Through dispatch: a refused request never reaches its command (with no
 * VM behind the server, one that did would crash). */
static void test_dispatch_refuses_before_running(void **state)
{
	(void)state;
	static struct ctl_server s;         /* vm NULL */
	static const char *const bad[] = {
		"{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime-ms\":\"abc\"}",
		"{\"cmd\":\"migrate\",\"uri\":\"tcp:h:1\",\"max-bandwidth\":\"20000000\"}",
		"{\"cmd\":\"snapshot\",\"path\":\"rel\"}",
		"{\"cmd\":\"handoff\",\"to\":\"/x\",\"cc-transfer\":1}",
		"{\"cmd\":\"pause\",\"now\":true}",
		"{\"cmd\":\"status\",\"verbose\":1}",
		"{\"cmd\":\"quit\",\"code\":3}",
		"{\"cmd\":[\"status\"]}",
		"{\"cmd\":\"\"}",
	};
	s.commands = ctl__commands;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t je;
		json_t *req = json_loads(bad[i], 0, &je), *rep;
		assert_non_null(req);
		rep = ctl__dispatch(&s, req);
		assert_false(json_is_true(json_object_get(rep, "ok")));
		assert_non_null(json_string_value(json_object_get(rep, "error")));
		json_decref(rep);
		json_decref(req);
	}
}

/* Refusals quote what was sent cut to a byte count; a cut inside a UTF-8
 * character must not cost the reply its message (found by fuzz_ctl_request:
 * the client was told "out of memory"). */
static void test_refusal_cut_inside_utf8(void **state)
{
	(void)state;
	static struct ctl_server s;
	char cmd[96], key[96], path[96], req[256];
	/* the cuts: a command name at 64 bytes, a member name at 48, a value at 45 */
	snprintf(cmd, sizeof(cmd), "%.63s\xc3\xa9", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	snprintf(key, sizeof(key), "%.47s\xc3\xa9", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	snprintf(path, sizeof(path), "%.39s\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	const struct { const char *fmt, *arg, *want; } cases[] = {
		{ "{\"cmd\":\"%s\"}", cmd, "unknown command" },
		{ "{\"cmd\":\"status\",\"%s\":1}", key, "unknown field" },
		{ "{\"cmd\":\"snapshot\",\"path\":\"%s\"}", path, "absolute path" },
	};
	s.commands = ctl__commands;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t je;
		snprintf(req, sizeof(req), cases[i].fmt, cases[i].arg);
		json_t *r = json_loads(req, 0, &je), *rep;
		assert_non_null(r);
		rep = ctl__dispatch(&s, r);
		assert_non_null(rep);
		assert_non_null(strstr(json_string_value(json_object_get(rep, "error")), cases[i].want));
		json_decref(rep);
		json_decref(r);
	}
	/* and what cannot be kept becomes '?', the rest stays */
	json_t *rep = ctl__error("a\xc3 \xe2\x82 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 \xe2\x82\xac");
	assert_non_null(rep);
	assert_string_equal(json_string_value(json_object_get(rep, "error")),
			    "a? ?? ??? ?? ???? \xe2\x82\xac");
	json_decref(rep);
}

/* The uri's form is checked by the command; the table checks its type. */
static void test_table_sizes_fit_their_destinations(void **state)
{
	(void)state;
	const struct ctl_command *m = ctl__find(ctl__commands, "migrate");
	assert_non_null(m);
	for (const struct ctl_field *f = m->fields; f->name; f++) {
		if (!strcmp(f->name, "uri"))
			assert_true(f->max < (long long)sizeof(((struct mig_options *)0)->uri));
		if (!strcmp(f->name, "stats-file"))
			assert_true(f->max < (long long)sizeof(((struct migration *)0)->stats_file));
		if (!strcmp(f->name, "tls-creds"))
			assert_true(f->max < (long long)sizeof(((struct mig_options *)0)->tls_creds));
		if (!strcmp(f->name, "tls-hostname"))
			assert_true(f->max < (long long)sizeof(((struct mig_options *)0)->tls_hostname));
		if (!strcmp(f->name, "timeout"))   /* seconds to ns must not overflow */
			assert_true((unsigned long long)f->max < UINT64_MAX / 1000000000ULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_values_from_the_probe),
		cmocka_unit_test(test_other_commands),
		cmocka_unit_test(test_dispatch_refuses_before_running),
		cmocka_unit_test(test_refusal_cut_inside_utf8),
		cmocka_unit_test(test_table_sizes_fit_their_destinations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
