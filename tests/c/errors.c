/*
 * Error reporting through the C ABI, against the local vault: bad keys, a
 * revoked key, NULL pointers and invalid UTF-8 everywhere (an error, never a
 * crash), malformed options, the SDK's own validation, backend and provider
 * errors, transport failures, and the panic boundary.
 *
 * Environment (set by tests/c/run.sh): ALTER_TEST_BASE_URL,
 * ALTER_TEST_ADMIN_TOKEN, ALTER_TEST_APP_KEY, ALTER_TEST_SECRET_ID.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alter.h"
#include "support.h"

static const char *UNKNOWN_KEY = "alter_key_0000000000000000000000000000000000000000";
static const char *BAD_UTF8 = "\xff\xfe\x80";

static AlterApp *app = NULL;
static char agent_id[64];
static char grant_id[64];
static char echo_base[512];

static const char *url_of(const char *path) {
    static char url[1024];
    snprintf(url, sizeof url, "%s%s", echo_base, path);
    return url;
}

static void copy_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

/* Makes an agent with a grant on the test secret; returns its key in key. */
static bool make_agent(const char *name, char *key, size_t keycap) {
    AlterError *err = NULL;
    AlterJson *created = NULL;
    alter_status st = alter_agents_create(app, name, "{\"display_name\": \"errors test\"}", &created, &err);
    EXPECT_OK(st, err);
    if (st != ALTER_OK) return false;
    copy_str(agent_id, sizeof agent_id, alter_json_get_string(created, "/id"));
    copy_str(key, keycap, alter_json_get_string(created, "/api_key"));
    alter_json_free(created);

    char path[256], body[256];
    snprintf(path, sizeof path, "/_dev/managed-secrets/%s/grants", env_required("ALTER_TEST_SECRET_ID"));
    snprintf(body, sizeof body, "{\"agent_id\": \"%s\", \"label\": \"%s\"}", agent_id, name);
    AlterJson *g = NULL;
    CHECK(dev_call("POST", path, body, &g) == 201);
    copy_str(grant_id, sizeof grant_id, alter_json_get_string(g, "/grant_id"));
    alter_json_free(g);
    return strlen(grant_id) == 36;
}

static void case_malformed_key(void) {
    case_begin("bad key: a malformed key is refused locally");
    AlterError *err = NULL;
    AlterApp *bad = (AlterApp *)&err; /* must be overwritten with NULL */
    alter_status st = alter_app_new("not-a-key", client_options(), &bad, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterSDKError");
    CHECK(bad == NULL);
    CHECK(str_contains(alter_error_message(err), "api_key"));
    CHECK(alter_error_code(err) == NULL);
    CHECK(alter_error_status(err) == 0);
    CHECK(str_eq(alter_error_details_json(err), "{}"));
    CHECK(alter_error_is_a(err, "AlterSDKError"));
    CHECK(!alter_error_is_a(err, "BackendError"));
    alter_error_free(err);
    err = NULL;

    AlterAgent *agent = NULL;
    st = alter_agent_new("", client_options(), &agent, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterSDKError");
    CHECK(agent == NULL);
    alter_error_free(err);
    case_end();
}

static void case_unknown_key(void) {
    case_begin("bad key: a well-formed unknown key gets InvalidKeyError (401 invalid_key)");
    AlterError *err = NULL;
    AlterApp *stranger = NULL;
    alter_status st = alter_app_new(UNKNOWN_KEY, client_options(), &stranger, &err);
    EXPECT_OK(st, err); /* construction is local */
    AlterJson *list = NULL;
    st = alter_agents_list(stranger, false, 10, 0, &list, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "InvalidKeyError");
    CHECK(list == NULL);
    CHECK(str_eq(alter_error_code(err), "invalid_key"));
    CHECK(alter_error_status(err) == 401);
    CHECK(alter_error_is_a(err, "AgentError"));
    CHECK(alter_error_is_a(err, "BackendError"));
    CHECK(alter_error_is_a(err, "AlterSDKError"));
    CHECK(str_contains(alter_error_details_json(err), "invalid_key"));
    CHECK(str_contains(alter_error_attributes_json(err), "\"status_code\":401"));
    alter_error_free(err);
    err = NULL;

    AlterAgent *agent = NULL;
    st = alter_agent_new(UNKNOWN_KEY, client_options(), &agent, &err);
    EXPECT_OK(st, err);
    AlterResponse *resp = NULL;
    st = alter_request(alter_agent_client(agent), "GET", url_of("/x"), "{\"provider\": \"anthropic\"}", NULL, 0,
                       &resp, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "InvalidKeyError");
    CHECK(resp == NULL);
    alter_error_free(err);
    alter_agent_free(agent);
    alter_app_free(stranger);
    case_end();
}

static void case_revoked_key(void) {
    case_begin("revoked key: KeyRevokedError (401 key_revoked) on every call");
    char key[256];
    CHECK(make_agent("revocation-bot", key, sizeof key));
    AlterError *err = NULL;

    /* A second key, so that the first is not the agent's last. */
    AlterJson *minted = NULL;
    alter_status st = alter_agents_mint_key(app, agent_id, &minted, &err);
    EXPECT_OK(st, err);
    alter_json_free(minted);

    char args[256];
    snprintf(args, sizeof args, "{\"agent_id\": \"%s\"}", agent_id);
    AlterJson *keys = NULL;
    st = alter_call(alter_app_client(app), "agents.list_keys", args, &keys, &err);
    EXPECT_OK(st, err);
    char key_id[64];
    copy_str(key_id, sizeof key_id, alter_json_get_string(keys, "/items/0/key_id"));
    alter_json_free(keys);

    AlterAgent *agent = NULL;
    st = alter_agent_new(key, client_options(), &agent, &err);
    EXPECT_OK(st, err);
    AlterJson *me = NULL;
    st = alter_agent_me(agent, &me, &err); /* works before the revocation */
    EXPECT_OK(st, err);
    alter_json_free(me);
    me = NULL;

    snprintf(args, sizeof args, "{\"agent_id\": \"%s\", \"key_id\": \"%s\"}", agent_id, key_id);
    AlterJson *revoked = NULL;
    st = alter_call(alter_app_client(app), "agents.revoke_key", args, &revoked, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(revoked, "/status"), "revoked"));
    alter_json_free(revoked);

    st = alter_agent_me(agent, &me, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "KeyRevokedError");
    CHECK(me == NULL);
    CHECK(str_eq(alter_error_code(err), "key_revoked"));
    CHECK(alter_error_status(err) == 401);
    CHECK(alter_error_is_a(err, "AgentError"));
    alter_error_free(err);
    err = NULL;

    char opts[128];
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\"}", grant_id);
    AlterResponse *resp = NULL;
    st = alter_request(alter_agent_client(agent), "GET", url_of("/after-revoke"), opts, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "KeyRevokedError");
    CHECK(resp == NULL);
    alter_error_free(err);
    alter_agent_free(agent);
    case_end();
}

static void case_null_arguments(void) {
    case_begin("NULL arguments give ALTER_NULL_ARGUMENT, never a crash");
    const AlterClient *c = alter_app_client(app);
    AlterError *err = NULL;
    alter_status st;

    AlterApp *a = NULL;
    st = alter_app_new(NULL, NULL, &a, &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, "AlterValueError");
    CHECK(str_contains(alter_error_message(err), "api_key"));
    CHECK(a == NULL);
    alter_error_free(err);
    st = alter_app_new(env_required("ALTER_TEST_APP_KEY"), client_options(), NULL, &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, NULL);
    CHECK(str_contains(alter_error_message(err), "app_out"));
    alter_error_free(err);
    /* error_out may be NULL: the status alone reports. */
    CHECK(alter_app_new(NULL, NULL, &a, NULL) == ALTER_NULL_ARGUMENT);
    AlterAgent *ag = NULL;
    CHECK(alter_agent_new(NULL, NULL, &ag, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_agent_new(UNKNOWN_KEY, NULL, NULL, NULL) == ALTER_NULL_ARGUMENT);

    AlterResponse *resp = NULL;
    st = alter_request(NULL, "GET", url_of("/x"), NULL, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, "AlterValueError");
    CHECK(str_contains(alter_error_message(err), "client"));
    alter_error_free(err);
    st = alter_request(c, NULL, url_of("/x"), NULL, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, NULL);
    CHECK(str_contains(alter_error_message(err), "method"));
    alter_error_free(err);
    st = alter_request(c, "GET", NULL, NULL, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, NULL);
    alter_error_free(err);
    st = alter_request(c, "GET", url_of("/x"), NULL, NULL, 5, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, NULL);
    CHECK(str_contains(alter_error_message(err), "body"));
    alter_error_free(err);
    CHECK(alter_request(c, "GET", url_of("/x"), NULL, NULL, 0, NULL, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(resp == NULL);

    AlterProxyResult *pr = NULL;
    CHECK(alter_proxy_request(NULL, "GET", url_of("/x"), NULL, &pr, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_proxy_request(c, "GET", NULL, NULL, &pr, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_proxy_request(c, "GET", url_of("/x"), NULL, NULL, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_await_approval(c, NULL, 1, 1, &pr, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_await_approval(NULL, "x", 1, 1, &pr, NULL) == ALTER_NULL_ARGUMENT);
    AlterJson *j = NULL;
    CHECK(alter_get_approval_status(c, NULL, 0, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_list_grants(NULL, NULL, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_list_grants(c, NULL, NULL, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_agents_create(NULL, "x", NULL, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_agents_create(app, NULL, NULL, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_agents_mint_key(app, NULL, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_agents_list(NULL, false, 10, 0, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_agent_me(NULL, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_call(c, NULL, NULL, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_call(NULL, "me", NULL, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_json_parse(NULL, 3, &j, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_json_parse((const uint8_t *)"{}", 2, NULL, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_app_close(NULL, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_agent_close(NULL, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(alter_app_with_constraints(NULL, "[\"a\"]", NULL, &a, NULL) == ALTER_NULL_ARGUMENT);
    CHECK(j == NULL && pr == NULL);

    /* Accessors and frees take NULL quietly. */
    CHECK(alter_app_client(NULL) == NULL);
    CHECK(alter_agent_client(NULL) == NULL);
    CHECK(!alter_client_is_closed(NULL));
    CHECK(alter_response_status(NULL) == 0);
    CHECK(alter_response_body(NULL, NULL) == NULL);
    CHECK(alter_response_header(NULL, "x") == NULL);
    CHECK(alter_response_header_count(NULL) == 0);
    CHECK(alter_response_headers_json(NULL) == NULL);
    CHECK(alter_response_url(NULL) == NULL);
    CHECK(alter_proxy_result_status(NULL) == 0);
    CHECK(!alter_proxy_result_is_pending(NULL));
    CHECK(alter_proxy_result_json(NULL) == NULL);
    CHECK(alter_json_text(NULL, NULL) == NULL);
    CHECK(alter_json_get_string(NULL, "/a") == NULL);
    CHECK(alter_json_get_len(NULL, "") == -1);
    CHECK(alter_error_kind(NULL) == NULL);
    CHECK(alter_error_message(NULL) == NULL);
    CHECK(alter_error_code(NULL) == NULL);
    CHECK(alter_error_status(NULL) == 0);
    CHECK(alter_error_details_json(NULL) == NULL);
    CHECK(!alter_error_is_a(NULL, "AlterSDKError"));
    alter_app_free(NULL);
    alter_agent_free(NULL);
    alter_response_free(NULL);
    alter_proxy_result_free(NULL);
    alter_json_free(NULL);
    alter_error_free(NULL);
    alter_cancel(NULL);
    alter_cancel_free(NULL);

    AlterJson *doc = NULL;
    st = alter_json_parse((const uint8_t *)"{\"a\": [1, \"two\"]}", 17, &doc, &err);
    EXPECT_OK(st, err);
    CHECK(alter_json_get_string(doc, NULL) == NULL);
    CHECK(alter_json_get_string(doc, "/a/1") != NULL);
    int64_t n = 7;
    CHECK(!alter_json_get_int(doc, "/a/1", &n) && n == 7);
    CHECK(alter_json_get_int(doc, "/a/0", &n) && n == 1);
    CHECK(!alter_json_get_int(doc, "/a/0", NULL));
    CHECK(alter_json_get_len(doc, "/a") == 2);
    CHECK(alter_json_get_len(doc, "/missing") == -1);
    alter_json_free(doc);
    case_end();
}

static void case_invalid_utf8(void) {
    case_begin("invalid UTF-8 gives ALTER_INVALID_UTF8");
    const AlterClient *c = alter_app_client(app);
    AlterError *err = NULL;
    AlterApp *a = NULL;
    alter_status st = alter_app_new(BAD_UTF8, NULL, &a, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_UTF8, "AlterValueError");
    CHECK(str_contains(alter_error_message(err), "UTF-8"));
    alter_error_free(err);
    CHECK(alter_app_new(env_required("ALTER_TEST_APP_KEY"), BAD_UTF8, &a, NULL) == ALTER_INVALID_UTF8);
    AlterResponse *resp = NULL;
    CHECK(alter_request(c, BAD_UTF8, url_of("/x"), NULL, NULL, 0, &resp, NULL) == ALTER_INVALID_UTF8);
    CHECK(alter_request(c, "GET", BAD_UTF8, NULL, NULL, 0, &resp, NULL) == ALTER_INVALID_UTF8);
    CHECK(alter_request(c, "GET", url_of("/x"), BAD_UTF8, NULL, 0, &resp, NULL) == ALTER_INVALID_UTF8);
    AlterJson *j = NULL;
    CHECK(alter_agents_create(app, BAD_UTF8, NULL, &j, NULL) == ALTER_INVALID_UTF8);
    CHECK(alter_call(c, BAD_UTF8, NULL, &j, NULL) == ALTER_INVALID_UTF8);
    CHECK(alter_json_parse((const uint8_t *)BAD_UTF8, 3, &j, NULL) == ALTER_INVALID_UTF8);
    CHECK(!alter_error_is_a(NULL, BAD_UTF8));
    CHECK(a == NULL && resp == NULL && j == NULL);
    /* Raw bodies are bytes, not text: any bytes are fine there. */
    case_end();
}

static void case_invalid_options(void) {
    case_begin("malformed options give ALTER_INVALID_ARGUMENT");
    const AlterClient *c = alter_app_client(app);
    AlterError *err = NULL;
    AlterResponse *resp = NULL;
    alter_status st = alter_request(c, "GET", url_of("/x"), "{not json", NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, "AlterValueError");
    CHECK(str_contains(alter_error_message(err), "not valid JSON"));
    alter_error_free(err);
    st = alter_request(c, "GET", url_of("/x"), "{\"grantid\": \"x\"}", NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    CHECK(str_contains(alter_error_message(err), "grantid"));
    alter_error_free(err);
    st = alter_request(c, "GET", url_of("/x"), "{\"grant_id\": 5}", NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);
    st = alter_request(c, "GET", url_of("/x"), "[1, 2]", NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);
    st = alter_request(c, "POST", url_of("/x"), "{\"grant_id\": \"x\", \"body\": \"a\"}", (const uint8_t *)"b", 1,
                       &resp, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);
    AlterProxyResult *pr = NULL;
    st = alter_proxy_request(c, "GET", url_of("/x"), "{\"grant_id\": \"x\", \"body\": \"raw\"}", &pr, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);

    AlterApp *a = NULL;
    st = alter_app_new(env_required("ALTER_TEST_APP_KEY"), "{\"timeout_seconds\": -1}", &a, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);
    st = alter_app_new(env_required("ALTER_TEST_APP_KEY"), "{\"warnings\": \"loud\"}", &a, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);
    AlterAgent *ag = NULL;
    st = alter_agent_new(UNKNOWN_KEY, "{\"caller_type\": \"service\"}", &ag, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);

    AlterJson *j = NULL;
    st = alter_call(c, "agents.frobnicate", NULL, &j, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    CHECK(str_contains(alter_error_message(err), "agents.frobnicate"));
    alter_error_free(err);
    st = alter_call(c, "me", NULL, &j, &err); /* an App is not an agent */
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    CHECK(str_contains(alter_error_message(err), "Agent"));
    alter_error_free(err);
    st = alter_call(c, "agents.get", "{}", &j, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    CHECK(str_contains(alter_error_message(err), "agent_id"));
    alter_error_free(err);
    st = alter_list_grants(c, "{\"limit\": \"ten\"}", &j, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);
    CHECK(resp == NULL && pr == NULL && a == NULL && ag == NULL && j == NULL);
    case_end();
}

static void case_sdk_validation(void) {
    case_begin("the SDK's own validation errors come through with their class");
    const AlterClient *c = alter_app_client(app);
    AlterError *err = NULL;
    AlterResponse *resp = NULL;
    alter_status st = alter_request(c, "GET", url_of("/x"), NULL, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterSDKError");
    CHECK(str_eq(alter_error_message(err), "Provide grant_id or provider"));
    alter_error_free(err);
    AlterJson *j = NULL;
    st = alter_agents_list(app, false, 0, 0, &j, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterValueError");
    alter_error_free(err);
    st = alter_get_approval_status(c, "not-a-uuid", 0, &j, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterValueError");
    alter_error_free(err);
    AlterProxyResult *pr = NULL;
    st = alter_await_approval(c, "00000000-0000-4000-8000-000000000000", 1, 0, &pr, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterValueError");
    alter_error_free(err);
    CHECK(resp == NULL && j == NULL && pr == NULL);
    case_end();
}

static void case_backend_errors(void) {
    case_begin("backend errors: missing and revoked grants");
    char key[256];
    CHECK(make_agent("errors-bot", key, sizeof key));
    AlterError *err = NULL;
    AlterAgent *agent = NULL;
    alter_status st = alter_agent_new(key, client_options(), &agent, &err);
    EXPECT_OK(st, err);
    const AlterClient *c = alter_agent_client(agent);

    AlterResponse *resp = NULL;
    st = alter_request(c, "GET", url_of("/x"), "{\"grant_id\": \"00000000-0000-4000-8000-000000000000\"}", NULL, 0,
                       &resp, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, NULL);
    CHECK(alter_error_is_a(err, "GrantNotFoundError"));
    CHECK(alter_error_status(err) == 404);
    CHECK(alter_error_code(err) != NULL);
    print_error("missing grant (expected)", err);
    alter_error_free(err);
    err = NULL;

    char path[128];
    snprintf(path, sizeof path, "/_dev/grants/%s", grant_id);
    CHECK(dev_call("POST", path, "{\"revoked\": true}", NULL) == 200);
    char opts[128];
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\"}", grant_id);
    st = alter_request(c, "GET", url_of("/x"), opts, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "GrantRevokedError");
    CHECK(str_eq(alter_error_code(err), "grant_revoked"));
    CHECK(alter_error_status(err) == 403);
    CHECK(alter_error_is_a(err, "ReAuthRequiredError"));
    CHECK(str_contains(alter_error_attributes_json(err), grant_id));
    alter_error_free(err);
    err = NULL;

    AlterProxyResult *pr = NULL;
    st = alter_proxy_request(c, "GET", url_of("/x"), opts, &pr, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "GrantRevokedError");
    CHECK(pr == NULL);
    alter_error_free(err);
    alter_agent_free(agent);
    case_end();
}

static void case_provider_errors(void) {
    case_begin("provider errors: a 4xx answer is a ProviderAPIError with the provider's status");
    char key[256];
    CHECK(make_agent("provider-errors-bot", key, sizeof key));
    AlterError *err = NULL;
    AlterAgent *agent = NULL;
    alter_status st = alter_agent_new(key, client_options(), &agent, &err);
    EXPECT_OK(st, err);
    char opts[128], url[512];
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\"}", grant_id);
    snprintf(url, sizeof url, "%s/_provider/status/404", env_required("ALTER_TEST_BASE_URL"));
    AlterResponse *resp = NULL;
    st = alter_request(alter_agent_client(agent), "GET", url, opts, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "ProviderAPIError");
    CHECK(alter_error_status(err) == 404);
    CHECK(str_contains(alter_error_attributes_json(err), "response_body"));
    alter_error_free(err);
    err = NULL;

    snprintf(url, sizeof url, "%s/_provider/status/401", env_required("ALTER_TEST_BASE_URL"));
    st = alter_request(alter_agent_client(agent), "GET", url, opts, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "ProviderUnauthorizedError");
    CHECK(alter_error_is_a(err, "ProviderAPIError"));
    CHECK(alter_error_status(err) == 401);
    alter_error_free(err);
    err = NULL;

    /* In proxy mode the provider's status is data, not an error. */
    snprintf(url, sizeof url, "%s/_provider/status/404", env_required("ALTER_TEST_BASE_URL"));
    AlterProxyResult *pr = NULL;
    st = alter_proxy_request(alter_agent_client(agent), "GET", url, opts, &pr, &err);
    EXPECT_OK(st, err);
    CHECK(alter_proxy_result_status(pr) == 404);
    alter_proxy_result_free(pr);
    alter_agent_free(agent);
    case_end();
}

static void case_network_error(void) {
    case_begin("transport failures: NetworkError, no status");
    AlterError *err = NULL;
    AlterApp *offline = NULL;
    alter_status st = alter_app_new(env_required("ALTER_TEST_APP_KEY"),
                                    "{\"base_url\": \"http://127.0.0.1:1\", \"retry\": false,"
                                    " \"timeout_seconds\": 5, \"warnings\": \"silent\"}",
                                    &offline, &err);
    EXPECT_OK(st, err);
    AlterJson *j = NULL;
    st = alter_agents_list(offline, false, 10, 0, &j, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, NULL);
    CHECK(alter_error_is_a(err, "NetworkError"));
    CHECK(alter_error_status(err) == 0);
    CHECK(alter_error_code(err) == NULL);
    alter_error_free(err);
    alter_app_free(offline);
    case_end();
}

static void case_closed_client(void) {
    case_begin("a closed client refuses calls with AlterSDKError; close is idempotent");
    AlterError *err = NULL;
    AlterApp *a = NULL;
    alter_status st = alter_app_new(env_required("ALTER_TEST_APP_KEY"), client_options(), &a, &err);
    EXPECT_OK(st, err);
    AlterApp *sibling = NULL;
    st = alter_app_with_constraints(a, "[\"calendar.read\"]", NULL, &sibling, &err);
    EXPECT_OK(st, err);
    CHECK(sibling != NULL);
    AlterApp *refused = NULL;
    st = alter_app_with_constraints(a, NULL, NULL, &refused, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterValueError");
    alter_error_free(err);
    err = NULL;
    st = alter_app_with_constraints(a, "{\"a\": 1}", NULL, &refused, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, NULL);
    alter_error_free(err);
    err = NULL;
    CHECK(refused == NULL);

    CHECK(alter_app_close(a, &err) == ALTER_OK);
    CHECK(alter_app_close(a, &err) == ALTER_OK);
    CHECK(alter_client_is_closed(alter_app_client(a)));
    CHECK(alter_client_is_closed(alter_app_client(sibling))); /* closed with its root */
    AlterJson *j = NULL;
    st = alter_agents_list(a, false, 10, 0, &j, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterSDKError");
    alter_error_free(err);
    alter_app_free(sibling);
    alter_app_free(a);
    case_end();
}

static void case_bounds(void) {
    case_begin("bounds: max_response_bytes, ResponseTooLargeError, close with a deadline");
    AlterError *err = NULL;
    AlterApp *a = NULL;
    alter_status st = alter_app_new(env_required("ALTER_TEST_APP_KEY"), "{\"max_response_bytes\": 0}", &a, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, "AlterValueError");
    CHECK(str_contains(alter_error_message(err), "max_response_bytes"));
    alter_error_free(err);
    err = NULL;

    char opts[1024];
    snprintf(opts, sizeof opts, "{\"base_url\": \"%s\", \"warnings\": \"silent\", \"max_response_bytes\": 1048576}",
             env_required("ALTER_TEST_BASE_URL"));
    st = alter_app_new(env_required("ALTER_TEST_APP_KEY"), opts, &a, &err);
    EXPECT_OK(st, err);
    const AlterClient *c = alter_app_client(a);

    char path[256];
    snprintf(path, sizeof path, "/_dev/managed-secrets/%s/grants", env_required("ALTER_TEST_SECRET_ID"));
    AlterJson *g = NULL;
    CHECK(dev_call("POST", path, "{\"label\": \"bounds\"}", &g) == 201);
    char req[128];
    snprintf(req, sizeof req, "{\"grant_id\": \"%s\"}", alter_json_get_string(g, "/grant_id"));
    alter_json_free(g);

    /* 8 MiB, unannounced, against a 1 MiB cap. */
    CHECK(dev_call("POST", "/_dev/faults",
                   "{\"path_prefix\": \"/_provider/echo/big\", \"status\": 200,"
                   " \"body_bytes\": 8388608, \"content_length\": \"none\"}",
                   NULL) == 200);
    AlterResponse *resp = NULL;
    st = alter_request(c, "GET", url_of("/big"), req, NULL, 0, &resp, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "ResponseTooLargeError");
    CHECK(alter_error_is_a(err, "AlterSDKError"));
    CHECK(str_contains(alter_error_attributes_json(err), "\"max_bytes\":1048576"));
    CHECK(resp == NULL);
    alter_error_free(err);
    err = NULL;

    /* The vault holds the audit post of the next call: the close deadline
       abandons it and says so. */
    CHECK(dev_call("POST", "/_dev/faults",
                   "{\"path_prefix\": \"/sdk/oauth/audit/api-call\", \"delay_ms\": 600000}", NULL) == 200);
    st = alter_request(c, "GET", url_of("/held"), req, NULL, 0, &resp, &err);
    EXPECT_OK(st, err);
    alter_response_free(resp);
    uint64_t abandoned = 99;
    st = alter_client_close(c, -1, &abandoned, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, "AlterValueError");
    alter_error_free(err);
    err = NULL;
    CHECK(abandoned == 99);
    st = alter_client_close(NULL, 1, &abandoned, &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, NULL);
    alter_error_free(err);
    err = NULL;
    st = alter_client_close(c, 0.2, &abandoned, &err);
    EXPECT_OK(st, err);
    CHECK(abandoned == 1);
    CHECK(alter_client_dropped_reports(c) == 1);
    CHECK(alter_client_is_closed(c));
    st = alter_client_close(c, 0, &abandoned, &err);
    EXPECT_OK(st, err);
    CHECK(abandoned == 0);
    CHECK(alter_client_dropped_reports(NULL) == 0);
    alter_app_free(a);
    case_end();
}

static void case_panic_boundary(void) {
    case_begin("a panic inside the library is caught: ALTER_PANIC, not an abort");
    AlterError *err = NULL;
    AlterJson *j = NULL;
    alter_status st = alter_call(alter_app_client(app), "internal.panic", NULL, &j, &err);
    EXPECT_FAIL(st, err, ALTER_PANIC, "AlterSDKError");
    CHECK(str_contains(alter_error_message(err), "internal error in alter_call"));
    CHECK(j == NULL);
    alter_error_free(err);
    /* The library keeps working afterwards. */
    st = alter_call(alter_app_client(app), "client.info", NULL, &j, &err);
    EXPECT_OK(st, err);
    alter_json_free(j);
    case_end();
}

static void case_status_names(void) {
    case_begin("alter_status_name names every status");
    CHECK(str_eq(alter_status_name(ALTER_OK), "ALTER_OK"));
    CHECK(str_eq(alter_status_name(ALTER_ERROR), "ALTER_ERROR"));
    CHECK(str_eq(alter_status_name(ALTER_NULL_ARGUMENT), "ALTER_NULL_ARGUMENT"));
    CHECK(str_eq(alter_status_name(ALTER_INVALID_UTF8), "ALTER_INVALID_UTF8"));
    CHECK(str_eq(alter_status_name(ALTER_INVALID_ARGUMENT), "ALTER_INVALID_ARGUMENT"));
    CHECK(str_eq(alter_status_name(ALTER_PANIC), "ALTER_PANIC"));
    CHECK(str_eq(alter_status_name(ALTER_CANCELLED), "ALTER_CANCELLED"));
    CHECK(str_eq(alter_status_name(99), "ALTER_UNKNOWN"));
    CHECK(str_eq(alter_status_name(-1), "ALTER_UNKNOWN"));
    CHECK(alter_version() != NULL && alter_version()[0] != '\0');
    case_end();
}

int main(void) {
    snprintf(echo_base, sizeof echo_base, "%s/_provider/echo", env_required("ALTER_TEST_BASE_URL"));
    AlterError *err = NULL;
    if (alter_app_new(env_required("ALTER_TEST_APP_KEY"), client_options(), &app, &err) != ALTER_OK) {
        print_error("alter_app_new", err);
        alter_error_free(err);
        return 1;
    }
    case_status_names();
    case_malformed_key();
    case_unknown_key();
    case_revoked_key();
    case_null_arguments();
    case_invalid_utf8();
    case_invalid_options();
    case_sdk_validation();
    case_backend_errors();
    case_provider_errors();
    case_network_error();
    case_closed_client();
    case_bounds();
    case_panic_boundary();
    alter_app_free(app);
    return cases_failed() == 0 ? 0 : 1;
}
