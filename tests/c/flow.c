/*
 * The guide "Give an AI Agent Scoped Access" (shared/seeds/000) through the
 * C ABI, against the local vault: the operator provisions research-bot with
 * agents.create, binds credentials to it, and the agent process calls
 * providers with its own key (retrieve and proxy mode, approvals), lists its
 * grants and introspects itself. Plus the C-specific guarantees: concurrent
 * calls on one handle, the callback variant and its cancellation.
 *
 * Environment (set by tests/c/run.sh): ALTER_TEST_BASE_URL,
 * ALTER_TEST_ADMIN_TOKEN, ALTER_TEST_APP_KEY, ALTER_TEST_SECRET_ID (managed
 * secret "anthropic"), ALTER_TEST_USER_ID, ALTER_TEST_USER_TOKEN.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alter.h"
#include "support.h"

static AlterApp *app = NULL;
static AlterAgent *agent = NULL;
static char agent_id[64];
static char agent_key[256];
static char grant_id[64];
static char oauth_root_id[64];
static char echo_base[512];

static void copy_str(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "");
}

/* The echo provider URL for a path. */
static const char *echo(const char *path) {
    static char url[1024];
    snprintf(url, sizeof url, "%s%s", echo_base, path);
    return url;
}

/* POSTs to /_dev and returns a string field of the answer (static buffer). */
static const char *dev_post_field(const char *path, const char *body, const char *pointer) {
    static char value[256];
    AlterJson *doc = NULL;
    int status = dev_call("POST", path, body, &doc);
    value[0] = '\0';
    if (status < 200 || status >= 300) {
        fprintf(stderr, "  POST %s -> %d %s\n", path, status, doc ? alter_json_text(doc, NULL) : "");
    } else {
        copy_str(value, sizeof value, alter_json_get_string(doc, pointer));
    }
    alter_json_free(doc);
    return value;
}

static void case_operator_creates_agent(void) {
    case_begin("guide 1: app.agents.create(name=\"research-bot\") through the C API");
    AlterError *err = NULL;
    alter_status st = alter_app_new(env_required("ALTER_TEST_APP_KEY"), client_options(), &app, &err);
    EXPECT_OK(st, err);
    CHECK(app != NULL);

    AlterJson *created = NULL;
    st = alter_agents_create(app, "research-bot", NULL, &created, &err);
    EXPECT_OK(st, err);
    CHECK(created != NULL);
    CHECK(str_eq(alter_json_get_string(created, "/name"), "research-bot"));
    CHECK(str_eq(alter_json_get_string(created, "/status"), "active"));
    const char *key = alter_json_get_string(created, "/api_key");
    CHECK(key != NULL && strncmp(key, "alter_", 6) == 0);
    CHECK(alter_json_get_string(created, "/key_id") != NULL);
    copy_str(agent_id, sizeof agent_id, alter_json_get_string(created, "/id"));
    copy_str(agent_key, sizeof agent_key, key);
    CHECK(strlen(agent_id) == 36);
    printf("# agent id: %s\n", agent_id);
    alter_json_free(created);
    case_end();
}

static void case_operator_binds_secret(void) {
    case_begin("guide 2: the operator binds the managed secret to the agent (Path B)");
    char path[256], body[256];
    snprintf(path, sizeof path, "/_dev/managed-secrets/%s/grants", env_required("ALTER_TEST_SECRET_ID"));
    snprintf(body, sizeof body, "{\"agent_id\": \"%s\", \"label\": \"research-bot-anthropic\"}", agent_id);
    copy_str(grant_id, sizeof grant_id, dev_post_field(path, body, "/grant_id"));
    CHECK(strlen(grant_id) == 36);
    case_end();
}

static void case_agent_request_grant(void) {
    case_begin("guide 3: agent.request(POST, grant_id=..., json=...) with the agent's own key");
    AlterError *err = NULL;
    alter_status st = alter_agent_new(agent_key, client_options(), &agent, &err);
    EXPECT_OK(st, err);
    CHECK(agent != NULL);

    char opts[1024];
    snprintf(opts, sizeof opts,
             "{\"grant_id\": \"%s\", \"json\": {\"model\": \"claude-sonnet-4-6\", \"max_tokens\": 1024,"
             " \"messages\": [{\"role\": \"user\", \"content\": \"Say hello.\"}]}}",
             grant_id);
    AlterResponse *resp = NULL;
    st = alter_request(alter_agent_client(agent), "POST", echo("/v1/messages"), opts, NULL, 0, &resp, &err);
    EXPECT_OK(st, err);
    CHECK(alter_response_status(resp) == 200);
    CHECK(str_contains(alter_response_header(resp, "Content-Type"), "application/json"));
    CHECK(str_eq(alter_response_url(resp), echo("/v1/messages")));

    size_t len = 0;
    const uint8_t *body = alter_response_body(resp, &len);
    CHECK(body != NULL && len > 0 && body[len] == '\0');
    AlterJson *seen = NULL;
    st = alter_json_parse(body, len, &seen, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(seen, "/method"), "POST"));
    CHECK(str_eq(alter_json_get_string(seen, "/path"), "/_provider/echo/v1/messages"));
    /* The credential was injected by the SDK, never seen by this program. */
    const char *auth = alter_json_get_string(seen, "/headers/authorization");
    CHECK(str_contains(auth, "sk-ant-test-credential"));
    CHECK(str_contains(alter_json_get_string(seen, "/headers/content-type"), "application/json"));
    CHECK(str_contains(alter_json_get_string(seen, "/body"), "\"max_tokens\":1024"));
    alter_json_free(seen);
    alter_response_free(resp);
    case_end();
}

static void case_agent_request_provider(void) {
    case_begin("guide 3b: agent.request(GET, provider=\"google\", user_token=...) via a delegated OAuth grant");
    char body[512];
    snprintf(body, sizeof body,
             "{\"provider_id\": \"google\", \"access_token\": \"ya29.c-test-token\", \"user_id\": \"%s\","
             " \"agent_id\": \"%s\", \"scopes\": [\"calendar.readonly\"]}",
             env_required("ALTER_TEST_USER_ID"), agent_id);
    AlterJson *made = NULL;
    CHECK(dev_call("POST", "/_dev/oauth-grants", body, &made) == 201);
    copy_str(oauth_root_id, sizeof oauth_root_id, alter_json_get_string(made, "/grant_id"));
    CHECK(strlen(oauth_root_id) == 36);
    CHECK(alter_json_get_string(made, "/delegation_grant_id") != NULL);
    alter_json_free(made);

    char opts[2048];
    snprintf(opts, sizeof opts, "{\"provider\": \"google\", \"user_token\": \"%s\"}",
             env_required("ALTER_TEST_USER_TOKEN"));
    AlterError *err = NULL;
    AlterResponse *resp = NULL;
    alter_status st = alter_request(alter_agent_client(agent), "GET",
                                    echo("/calendar/v3/calendars/primary/events"), opts, NULL, 0, &resp, &err);
    EXPECT_OK(st, err);
    CHECK(alter_response_status(resp) == 200);
    size_t len = 0;
    const uint8_t *b = alter_response_body(resp, &len);
    AlterJson *seen = NULL;
    st = alter_json_parse(b, len, &seen, &err);
    EXPECT_OK(st, err);
    CHECK(str_contains(alter_json_get_string(seen, "/headers/authorization"), "ya29.c-test-token"));
    alter_json_free(seen);
    alter_response_free(resp);
    case_end();
}

static void case_request_options(void) {
    case_begin("request options: headers, query, path params, raw body, reason, context");
    char opts[1024];
    snprintf(opts, sizeof opts,
             "{\"grant_id\": \"%s\", \"headers\": [[\"X-Trace\", \"t-1\"], [\"Accept\", \"application/json\"]],"
             " \"query\": {\"q\": \"hello world\", \"n\": 5, \"tag\": [\"a\", \"b\"]},"
             " \"path_params\": {\"id\": \"42\"},"
             " \"reason\": \"c-abi test\", \"context\": {\"run_id\": \"run_c\", \"role\": \"research\"}}",
             grant_id);
    static const uint8_t raw[] = {'r', 'a', 'w', 0x00, 0xff, '!'};
    AlterError *err = NULL;
    AlterResponse *resp = NULL;
    alter_status st = alter_request(alter_agent_client(agent), "put", echo("/items/{id}"), opts, raw, sizeof raw,
                                    &resp, &err);
    EXPECT_OK(st, err);
    size_t len = 0;
    const uint8_t *b = alter_response_body(resp, &len);
    AlterJson *seen = NULL;
    st = alter_json_parse(b, len, &seen, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(seen, "/method"), "PUT"));
    CHECK(str_eq(alter_json_get_string(seen, "/path"), "/_provider/echo/items/42"));
    const char *query = alter_json_get_string(seen, "/query");
    CHECK(str_contains(query, "q=hello"));
    CHECK(str_contains(query, "n=5"));
    CHECK(str_contains(query, "tag=a") && str_contains(query, "tag=b"));
    CHECK(str_eq(alter_json_get_string(seen, "/headers/x-trace"), "t-1"));
    CHECK(str_contains(alter_json_get_string(seen, "/body"), "raw"));
    CHECK(alter_response_header_count(resp) > 0);
    CHECK(alter_response_header_name(resp, 0) != NULL && alter_response_header_value(resp, 0) != NULL);
    CHECK(alter_response_header_name(resp, 1000) == NULL);
    CHECK(str_contains(alter_response_headers_json(resp), "content-type"));
    alter_json_free(seen);
    alter_response_free(resp);

    /* A text body from the options, and a base64 one. */
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\", \"body\": \"plain text body\"}", grant_id);
    st = alter_request(alter_agent_client(agent), "POST", echo("/text"), opts, NULL, 0, &resp, &err);
    EXPECT_OK(st, err);
    CHECK(str_contains((const char *)alter_response_body(resp, NULL), "plain text body"));
    alter_response_free(resp);
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\", \"body_base64\": \"aGVsbG8gYjY0\"}", grant_id);
    st = alter_request(alter_agent_client(agent), "POST", echo("/b64"), opts, NULL, 0, &resp, &err);
    EXPECT_OK(st, err);
    CHECK(str_contains((const char *)alter_response_body(resp, NULL), "hello b64"));
    alter_response_free(resp);

    /* The agent closes (flushing the audit posts) before the audit is read. */
    case_end();
}

static void case_list_grants(void) {
    case_begin("guide 4: agent.list_grants() merges OAuth and managed-secret grants");
    AlterError *err = NULL;
    AlterJson *page = NULL;
    alter_status st = alter_list_grants(alter_agent_client(agent), NULL, &page, &err);
    EXPECT_OK(st, err);
    int64_t n = alter_json_get_len(page, "/grants");
    CHECK(n >= 2);
    bool saw_oauth = false, saw_secret = false;
    for (int64_t i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof p, "/grants/%lld/grant_kind", (long long)i);
        const char *kind = alter_json_get_string(page, p);
        if (str_eq(kind, "oauth")) {
            snprintf(p, sizeof p, "/grants/%lld/provider_id", (long long)i);
            saw_oauth = str_eq(alter_json_get_string(page, p), "google");
        } else if (str_eq(kind, "managed_secret")) {
            snprintf(p, sizeof p, "/grants/%lld/managed_secret_slug", (long long)i);
            saw_secret = saw_secret || str_eq(alter_json_get_string(page, p), "anthropic");
        }
    }
    CHECK(saw_oauth);
    CHECK(saw_secret);
    bool more = true;
    CHECK(alter_json_get_bool(page, "/has_more", &more) && !more);
    alter_json_free(page);

    /* Filters travel as JSON options. */
    st = alter_list_grants(alter_agent_client(agent), "{\"provider_id\": \"anthropic\", \"limit\": 10}", &page, &err);
    EXPECT_OK(st, err);
    int64_t limit = 0;
    CHECK(alter_json_get_int(page, "/limit", &limit) && limit == 10);
    CHECK(str_eq(alter_json_get_string(page, "/grants/0/grant_kind"), "managed_secret"));
    alter_json_free(page);
    case_end();
}

static void case_me(void) {
    case_begin("guide 5: agent.me() names the agent, its status and scopes");
    AlterError *err = NULL;
    AlterJson *me = NULL;
    alter_status st = alter_agent_me(agent, &me, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(me, "/name"), "research-bot"));
    CHECK(str_eq(alter_json_get_string(me, "/status"), "active"));
    CHECK(str_eq(alter_json_get_string(me, "/id"), agent_id));
    CHECK(alter_json_get_json(me, "/scopes") != NULL);
    alter_json_free(me);

    /* The generic call reaches the same operation. */
    st = alter_call(alter_agent_client(agent), "me", NULL, &me, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(me, "/name"), "research-bot"));
    alter_json_free(me);
    st = alter_call(alter_agent_client(agent), "client.info", "{}", &me, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(me, "/principal"), "agent"));
    CHECK(str_eq(alter_json_get_string(me, "/base_url"), env_required("ALTER_TEST_BASE_URL")));
    alter_json_free(me);
    case_end();
}

static void case_proxy(void) {
    case_begin("proxy mode: agent.proxy_request, the credential never leaves the vault");
    char opts[512];
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\", \"json\": {\"ping\": true}, \"headers\": {\"X-Mode\": \"proxy\"}}",
             grant_id);
    AlterError *err = NULL;
    AlterProxyResult *r = NULL;
    alter_status st = alter_proxy_request(alter_agent_client(agent), "POST", echo("/v1/models"), opts, &r, &err);
    EXPECT_OK(st, err);
    CHECK(!alter_proxy_result_is_pending(r));
    CHECK(alter_proxy_result_status(r) == 200);
    CHECK(alter_proxy_result_approval_url(r) == NULL);
    size_t len = 0;
    const uint8_t *b = alter_proxy_result_body(r, &len);
    CHECK(b != NULL && len > 0 && b[len] == '\0');
    AlterJson *seen = NULL;
    st = alter_json_parse(b, len, &seen, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(seen, "/headers/x-mode"), "proxy"));
    CHECK(str_contains(alter_json_get_string(seen, "/body"), "ping"));
    alter_json_free(seen);
    CHECK(str_contains(alter_proxy_result_json(r), "\"outcome\":\"result\""));
    CHECK(alter_proxy_result_headers_json(r) != NULL);
    alter_proxy_result_free(r);
    case_end();
}

static void case_approvals(void) {
    case_begin("approvals: a gated proxy call waits for a human, then runs");
    char path[256], body[256];
    snprintf(path, sizeof path, "/_dev/managed-secrets/%s/grants", env_required("ALTER_TEST_SECRET_ID"));
    snprintf(body, sizeof body, "{\"agent_id\": \"%s\", \"label\": \"gated\", \"hitl\": true}", agent_id);
    char gated[64];
    copy_str(gated, sizeof gated, dev_post_field(path, body, "/grant_id"));
    CHECK(strlen(gated) == 36);

    const AlterClient *c = alter_agent_client(agent);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\", \"reason\": \"needs a human\"}", gated);
    AlterError *err = NULL;
    AlterProxyResult *pending = NULL;
    alter_status st = alter_proxy_request(c, "DELETE", echo("/v1/files/1"), opts, &pending, &err);
    EXPECT_OK(st, err);
    CHECK(alter_proxy_result_is_pending(pending));
    CHECK(alter_proxy_result_status(pending) == 0);
    CHECK(alter_proxy_result_approval_url(pending) != NULL);
    char approval[64];
    copy_str(approval, sizeof approval, alter_proxy_result_approval_id(pending));
    CHECK(strlen(approval) == 36);
    CHECK(str_contains(alter_proxy_result_json(pending), "\"outcome\":\"pending\""));
    alter_proxy_result_free(pending);

    AlterJson *status = NULL;
    st = alter_get_approval_status(c, approval, 0, &status, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(status, "/status"), "pending"));
    alter_json_free(status);

    snprintf(path, sizeof path, "/_dev/approvals/%s/decision", approval);
    CHECK(dev_call("POST", path, "{\"decision\": \"approve\"}", NULL) == 200);
    AlterProxyResult *done = NULL;
    st = alter_await_approval(c, approval, 20, 0.2, &done, &err);
    EXPECT_OK(st, err);
    CHECK(!alter_proxy_result_is_pending(done));
    CHECK(alter_proxy_result_status(done) == 200);
    CHECK(str_eq(alter_proxy_result_approval_id(done), approval));
    CHECK(str_contains((const char *)alter_proxy_result_body(done, NULL), "\"method\":\"DELETE\""));
    alter_proxy_result_free(done);

    /* A denied approval is an ApprovalDeniedError. */
    st = alter_proxy_request(c, "DELETE", echo("/v1/files/2"), opts, &pending, &err);
    EXPECT_OK(st, err);
    copy_str(approval, sizeof approval, alter_proxy_result_approval_id(pending));
    alter_proxy_result_free(pending);
    snprintf(path, sizeof path, "/_dev/approvals/%s/decision", approval);
    CHECK(dev_call("POST", path, "{\"decision\": \"deny\", \"reason\": \"no\"}", NULL) == 200);
    st = alter_await_approval(c, approval, 20, 0.2, &done, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "ApprovalDeniedError");
    CHECK(done == NULL);
    CHECK(alter_error_is_a(err, "ApprovalError"));
    CHECK(str_contains(alter_error_attributes_json(err), approval));
    alter_error_free(err);
    case_end();
}

/* ---- several threads on one handle ---------------------------------------- */

#define THREADS 4
#define CALLS_PER_THREAD 5

static void *hammer(void *arg) {
    long ok = 0;
    (void)arg;
    char opts[128];
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\"}", grant_id);
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        AlterError *err = NULL;
        AlterResponse *resp = NULL;
        if (alter_request(alter_agent_client(agent), "GET", echo("/concurrent"), opts, NULL, 0, &resp, &err) ==
                ALTER_OK &&
            alter_response_status(resp) == 200) {
            ok++;
        } else {
            print_error("concurrent request", err);
        }
        alter_response_free(resp);
        alter_error_free(err);
    }
    return (void *)ok;
}

static void case_threads(void) {
    case_begin("one Agent handle used from several threads at once");
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, hammer, NULL) == 0);
    long total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ok = NULL;
        pthread_join(t[i], &ok);
        total += (long)ok;
    }
    CHECK(total == THREADS * CALLS_PER_THREAD);
    case_end();
}

/* ---- the callback variant -------------------------------------------------- */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int calls;
    alter_status status;
    uint16_t http_status;
    char kind[64];
    pthread_t thread;
} Outcome;

static void on_response(void *user_data, alter_status status, AlterResponse *response, AlterError *error) {
    Outcome *o = user_data;
    pthread_mutex_lock(&o->lock);
    o->calls++;
    o->status = status;
    o->http_status = alter_response_status(response);
    copy_str(o->kind, sizeof o->kind, error ? alter_error_kind(error) : "");
    o->thread = pthread_self();
    pthread_cond_signal(&o->done_cv);
    pthread_mutex_unlock(&o->lock);
    alter_response_free(response);
    alter_error_free(error);
}

static bool wait_outcome(Outcome *o, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&o->lock);
    while (o->calls == 0) {
        if (pthread_cond_timedwait(&o->done_cv, &o->lock, &deadline) != 0) break;
    }
    bool done = o->calls > 0;
    pthread_mutex_unlock(&o->lock);
    return done;
}

static void outcome_init(Outcome *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->done_cv, NULL);
}

static void outcome_destroy(Outcome *o) {
    pthread_mutex_destroy(&o->lock);
    pthread_cond_destroy(&o->done_cv);
}

static void case_async(void) {
    case_begin("alter_request_async calls back once, on a library thread");
    char opts[128];
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\"}", grant_id);
    Outcome o;
    outcome_init(&o);
    AlterError *err = NULL;
    alter_status st = alter_request_async(alter_agent_client(agent), "GET", echo("/async"), opts, NULL, 0,
                                          on_response, &o, NULL, &err);
    EXPECT_OK(st, err);
    CHECK(wait_outcome(&o, 30));
    CHECK(o.calls == 1);
    CHECK(o.status == ALTER_OK);
    CHECK(o.http_status == 200);
    CHECK(!pthread_equal(o.thread, pthread_self()));
    outcome_destroy(&o);

    /* A failing request reports through the callback too. */
    outcome_init(&o);
    st = alter_request_async(alter_agent_client(agent), "GET", echo("/async"),
                             "{\"grant_id\": \"00000000-0000-4000-8000-000000000000\"}", NULL, 0, on_response, &o,
                             NULL, &err);
    EXPECT_OK(st, err);
    CHECK(wait_outcome(&o, 30));
    CHECK(o.status == ALTER_ERROR);
    CHECK(o.kind[0] != '\0');
    outcome_destroy(&o);

    /* Invalid arguments are refused at once and the callback never runs. */
    outcome_init(&o);
    st = alter_request_async(alter_agent_client(agent), NULL, echo("/async"), opts, NULL, 0, on_response, &o, NULL,
                             &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, "AlterValueError");
    alter_error_free(err);
    err = NULL;
    st = alter_request_async(alter_agent_client(agent), "GET", echo("/async"), opts, NULL, 0, NULL, &o, NULL, &err);
    EXPECT_FAIL(st, err, ALTER_NULL_ARGUMENT, NULL);
    alter_error_free(err);
    err = NULL;
    CHECK(!wait_outcome(&o, 1));
    outcome_destroy(&o);
    case_end();
}

static void case_cancel(void) {
    case_begin("alter_cancel stops an in-flight async request");
    /* Hold the next credential fetch for 5 s so that there is time to cancel. */
    CHECK(dev_call("POST", "/_dev/faults", "{\"path_prefix\": \"/sdk/token\", \"delay_ms\": 5000, \"count\": 1}",
                   NULL) == 200);
    char opts[128];
    snprintf(opts, sizeof opts, "{\"grant_id\": \"%s\"}", grant_id);
    Outcome o;
    outcome_init(&o);
    AlterError *err = NULL;
    AlterCancel *cancel = NULL;
    alter_status st = alter_request_async(alter_agent_client(agent), "GET", echo("/slow"), opts, NULL, 0,
                                          on_response, &o, &cancel, &err);
    EXPECT_OK(st, err);
    CHECK(cancel != NULL);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    alter_cancel(cancel);
    alter_cancel(cancel); /* idempotent */
    CHECK(wait_outcome(&o, 4));
    CHECK(o.calls == 1);
    CHECK(o.status == ALTER_CANCELLED);
    CHECK(str_eq(o.kind, "AlterSDKError"));
    alter_cancel_free(cancel);
    outcome_destroy(&o);
    dev_call("DELETE", "/_dev/faults", NULL, NULL);
    case_end();
}

static void case_operator_views(void) {
    case_begin("operator: agents.list, agents.mint_key, the generic call");
    AlterError *err = NULL;
    AlterJson *list = NULL;
    alter_status st = alter_agents_list(app, false, 100, 0, &list, &err);
    EXPECT_OK(st, err);
    CHECK(alter_json_get_len(list, "/agents") >= 1);
    CHECK(str_eq(alter_json_get_string(list, "/agents/0/name"), "research-bot"));
    alter_json_free(list);

    AlterJson *minted = NULL;
    st = alter_agents_mint_key(app, agent_id, &minted, &err);
    EXPECT_OK(st, err);
    const char *second_key = alter_json_get_string(minted, "/api_key");
    CHECK(second_key != NULL);
    /* The new key works for the same agent. */
    AlterAgent *second = NULL;
    st = alter_agent_new(second_key, client_options(), &second, &err);
    EXPECT_OK(st, err);
    AlterJson *me = NULL;
    st = alter_agent_me(second, &me, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(me, "/id"), agent_id));
    alter_json_free(me);
    alter_agent_free(second);
    alter_json_free(minted);

    char args[128];
    snprintf(args, sizeof args, "{\"agent_id\": \"%s\"}", agent_id);
    AlterJson *keys = NULL;
    st = alter_call(alter_app_client(app), "agents.list_keys", args, &keys, &err);
    EXPECT_OK(st, err);
    CHECK(alter_json_get_len(keys, "/items") == 2);
    alter_json_free(keys);
    AlterJson *got = NULL;
    st = alter_call(alter_app_client(app), "agents.get_by_name", "{\"name\": \"research-bot\"}", &got, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(got, "/id"), agent_id));
    alter_json_free(got);
    case_end();
}

/* Runs a generic call and returns its result (NULL on failure, reported). */
static AlterJson *call(const AlterClient *c, const char *op, const char *args) {
    AlterError *err = NULL;
    AlterJson *out = NULL;
    alter_status st = alter_call(c, op, args, &out, &err);
    if (st != ALTER_OK) fprintf(stderr, "  alter_call(%s):\n", op);
    EXPECT_OK(st, err);
    return out;
}

/* What the event callback of case_connect_events saw. */
struct seen_events {
    int count;
    char first[512];
    char session[256];
    int approved; /* dev_call status of the approval sent from the callback */
};

/* Records the event, then (once) plays the user finishing with the other
 * provider, so the poll the callback runs inside can complete. */
static void on_connect_event(void *user_data, const char *event_json) {
    struct seen_events *seen = user_data;
    if (seen->count++ == 0) {
        copy_str(seen->first, sizeof seen->first, event_json);
        char path[512];
        snprintf(path, sizeof path, "/_dev/connect/%s", seen->session);
        seen->approved = dev_call("POST", path, "{\"action\": \"approve\", \"providers\": [\"google\"]}", NULL);
    }
}

static void case_connect_events(void) {
    case_begin("alter_call_with_events: poll_connect_session reports a declined provider, once");
    const AlterClient *c = alter_app_client(app);
    char args[1024];
    snprintf(args, sizeof args,
             "{\"allowed_providers\": [\"google\", \"github\"], \"user_token\": \"%s\"}",
             env_required("ALTER_TEST_USER_TOKEN"));
    AlterJson *session = call(c, "create_connect_session", args);
    struct seen_events seen = {0};
    copy_str(seen.session, sizeof seen.session, alter_json_get_string(session, "/session_token"));
    alter_json_free(session);
    char path[512];
    snprintf(path, sizeof path, "/_dev/connect/%s", seen.session);
    CHECK(dev_call("POST", path, "{\"action\": \"decline\", \"provider_id\": \"github\"}", NULL) == 200);

    snprintf(args, sizeof args,
             "{\"session_token\": \"%s\", \"timeout_seconds\": 10, \"poll_interval_seconds\": 0.05}",
             seen.session);
    AlterJson *results = NULL;
    AlterError *err = NULL;
    alter_status st = alter_call_with_events(c, "poll_connect_session", args, on_connect_event, &seen,
                                             &results, &err);
    EXPECT_OK(st, err);
    CHECK(seen.count == 1); /* every pending poll lists it; it is reported once */
    CHECK(seen.approved == 200);
    AlterJson *event = NULL;
    st = alter_json_parse((const uint8_t *)seen.first, strlen(seen.first), &event, &err);
    EXPECT_OK(st, err);
    CHECK(str_eq(alter_json_get_string(event, "/type"), "provider_declined"));
    CHECK(str_eq(alter_json_get_string(event, "/provider_id"), "github"));
    CHECK(str_eq(alter_json_get_string(event, "/error_code"), "connect_denied"));
    alter_json_free(event);
    CHECK(alter_json_get_len(results, "") == 1);
    CHECK(str_eq(alter_json_get_string(results, "/0/provider_id"), "google"));
    alter_json_free(results);

    /* Any other operation refuses a callback before it runs. */
    results = NULL;
    st = alter_call_with_events(c, "scopes.list", NULL, on_connect_event, &seen, &results, &err);
    CHECK(st == ALTER_INVALID_ARGUMENT);
    CHECK(results == NULL);
    CHECK(err != NULL && str_contains(alter_error_message(err), "takes no event callback"));
    alter_error_free(err);
    err = NULL;
    CHECK(seen.count == 1);
    case_end();
}

static void case_management_surface(void) {
    case_begin("the rest of the surface through alter_call: grants and catalogs");
    const AlterClient *c = alter_app_client(app);
    char args[2048];
    snprintf(args, sizeof args,
             "{\"managed_secret_id\": \"%s\", \"principal\": {\"type\": \"system\", \"label\": \"ops\"},"
             " \"grant_policy\": {\"max_ttl_seconds\": 3600}}",
             env_required("ALTER_TEST_SECRET_ID"));
    AlterJson *j = call(c, "create_managed_secret_grant", args);
    CHECK(str_eq(alter_json_get_string(j, "/principal_type"), "system"));
    CHECK(str_eq(alter_json_get_string(j, "/label"), "ops"));
    alter_json_free(j);

    snprintf(args, sizeof args, "{\"source_grant_id\": \"%s\", \"label\": \"ci-sibling\"}", oauth_root_id);
    j = call(c, "mint_grant", args);
    char sibling[64];
    copy_str(sibling, sizeof sibling, alter_json_get_string(j, "/grant_id"));
    CHECK(str_eq(alter_json_get_string(j, "/label"), "ci-sibling"));
    CHECK(str_eq(alter_json_get_string(j, "/provider_id"), "google"));
    alter_json_free(j);

    snprintf(args, sizeof args, "{\"grant_id\": \"%s\", \"reason\": \"no longer needed\"}", sibling);
    j = call(c, "revoke_grant", args);
    bool success = false;
    CHECK(alter_json_get_bool(j, "/success", &success) && success);
    alter_json_free(j);

    j = call(c, "oauth_providers.list", NULL);
    CHECK(alter_json_get_len(j, "/providers") >= 1);
    alter_json_free(j);
    j = call(alter_agent_client(agent), "provider_specs.list", "{}");
    CHECK(alter_json_get_len(j, "") >= 1);
    alter_json_free(j);

    /* Sessions, identity, scoped keys, the scope catalog and spans. */
    /* Path A of the guide: the user's Connect names the agent. */
    snprintf(args, sizeof args,
             "{\"allowed_providers\": [\"google\"], \"user_token\": \"%s\", \"agent\": \"%s\"}",
             env_required("ALTER_TEST_USER_TOKEN"), agent_id);
    j = call(c, "create_connect_session", args);
    CHECK(str_contains(alter_json_get_string(j, "/connect_url"), "/connect/"));
    alter_json_free(j);
    snprintf(args, sizeof args, "{\"user_token\": \"%s\"}", env_required("ALTER_TEST_USER_TOKEN"));
    j = call(c, "resolve_identity", args);
    CHECK(str_eq(alter_json_get_string(j, "/app_user_id"), env_required("ALTER_TEST_USER_ID")));
    alter_json_free(j);
    snprintf(args, sizeof args, "{\"token\": \"%s\"}", env_required("ALTER_TEST_USER_TOKEN"));
    j = call(c, "verify_user_token", args);
    CHECK(str_eq(alter_json_get_string(j, ""), env_required("ALTER_TEST_USER_ID")));
    alter_json_free(j);
    j = call(c, "keys.derive", "{\"scopes\": [\"grants:read\"], \"expires_in\": 600, \"name\": \"c-derived\"}");
    CHECK(str_eq(alter_json_get_string(j, "/name"), "c-derived"));
    CHECK(alter_json_get_string(j, "/api_key") != NULL);
    snprintf(args, sizeof args, "{\"key_id\": \"%s\"}", alter_json_get_string(j, "/id"));
    alter_json_free(j);
    j = call(c, "keys.revoke", args);
    CHECK(alter_json_get_string(j, "/revoked_at") != NULL);
    alter_json_free(j);
    j = call(c, "scopes.list", NULL);
    CHECK(alter_json_get_json(j, "/resources") != NULL);
    alter_json_free(j);
    j = call(alter_agent_client(agent), "spans.emit",
             "{\"spans\": [{\"trace_id\": \"run_c\", \"name\": \"plan\","
             " \"start_time\": \"2026-01-01T00:00:00Z\", \"attributes\": {\"step\": \"1\"}}]}");
    int64_t accepted = 0;
    CHECK(alter_json_get_int(j, "/accepted", &accepted) && accepted == 1);
    alter_json_free(j);

    /* get_agent: an Agent acting under the app key, by name. */
    AlterAgent *impersonated = NULL;
    AlterError *gerr = NULL;
    alter_status gst = alter_app_get_agent(app, "research-bot", &impersonated, &gerr);
    EXPECT_OK(gst, gerr);
    CHECK(impersonated != NULL);
    alter_agent_free(impersonated);
    gst = alter_app_get_agent(app, "nobody-by-this-name", &impersonated, &gerr);
    EXPECT_FAIL(gst, gerr, ALTER_ERROR, "AgentNotFoundError");
    CHECK(impersonated == NULL);
    alter_error_free(gerr);

    /* An App-only operation on an Agent is refused before anything is sent. */
    AlterError *err = NULL;
    alter_status st = alter_call(alter_agent_client(agent), "revoke_grant", args, &j, &err);
    EXPECT_FAIL(st, err, ALTER_INVALID_ARGUMENT, "AlterValueError");
    alter_error_free(err);
    case_end();
}

static void case_audit_and_close(void) {
    case_begin("close flushes the audit: rows name the agent, reason and context");
    AlterError *err = NULL;
    alter_status st = alter_agent_close(agent, &err);
    EXPECT_OK(st, err);
    CHECK(alter_client_is_closed(alter_agent_client(agent)));
    /* A closed client refuses calls with AlterSDKError. */
    AlterJson *me = NULL;
    st = alter_agent_me(agent, &me, &err);
    EXPECT_FAIL(st, err, ALTER_ERROR, "AlterSDKError");
    alter_error_free(err);
    err = NULL;

    AlterJson *audit = NULL;
    CHECK(dev_call("GET", "/_dev/audit", NULL, &audit) == 200);
    int64_t n = alter_json_get_len(audit, "/events");
    bool tagged = false, named = false;
    for (int64_t i = 0; i < n; i++) {
        char p[96];
        snprintf(p, sizeof p, "/events/%lld", (long long)i);
        const char *row = alter_json_get_json(audit, p);
        if (str_contains(row, agent_id)) named = true;
        if (str_contains(row, "c-abi test") && str_contains(row, "run_c")) tagged = true;
    }
    CHECK(n > 0);
    CHECK(named);
    CHECK(tagged);
    if (!tagged || !named) fprintf(stderr, "  audit: %s\n", alter_json_text(audit, NULL));
    alter_json_free(audit);

    alter_agent_free(agent);
    agent = NULL;
    st = alter_app_close(app, &err);
    EXPECT_OK(st, err);
    st = alter_app_close(app, &err); /* idempotent */
    EXPECT_OK(st, err);
    alter_app_free(app);
    app = NULL;
    case_end();
}

int main(void) {
    snprintf(echo_base, sizeof echo_base, "%s/_provider/echo", env_required("ALTER_TEST_BASE_URL"));
    printf("# libalter %s\n", alter_version());
    case_operator_creates_agent();
    case_operator_binds_secret();
    case_agent_request_grant();
    case_agent_request_provider();
    case_request_options();
    case_list_grants();
    case_me();
    case_proxy();
    case_approvals();
    case_threads();
    case_async();
    case_cancel();
    case_operator_views();
    case_management_surface();
    case_connect_events();
    case_audit_and_close();
    /* Whatever a failed case left behind. */
    alter_agent_free(agent);
    alter_app_free(app);
    return cases_failed() == 0 ? 0 : 1;
}
