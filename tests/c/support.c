/* See support.h. */
#define _POSIX_C_SOURCE 200809L

#include "support.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

int g_case_failures = 0;
static const char *g_case_name = NULL;
static int g_cases_failed = 0;

void case_begin(const char *name) {
    g_case_name = name;
    g_case_failures = 0;
    fprintf(stderr, "# case: %s\n", name);
}

void case_end(void) {
    if (g_case_failures == 0) {
        printf("ok - %s\n", g_case_name);
    } else {
        printf("not ok - %s (%d failed checks)\n", g_case_name, g_case_failures);
        g_cases_failed++;
    }
    fflush(stdout);
}

int cases_failed(void) { return g_cases_failed; }

void check_at(bool ok, const char *file, int line, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
        g_case_failures++;
    }
}

void print_error(const char *what, const AlterError *err) {
    if (err == NULL) {
        fprintf(stderr, "  %s: (no error object)\n", what);
        return;
    }
    const char *code = alter_error_code(err);
    fprintf(stderr, "  %s: %s (code %s, status %u): %s\n    details: %s\n", what, alter_error_kind(err),
            code ? code : "-", (unsigned)alter_error_status(err), alter_error_message(err),
            alter_error_details_json(err));
}

void expect_ok_at(alter_status st, AlterError **err, const char *file, int line) {
    if (st != ALTER_OK || *err != NULL) {
        fprintf(stderr, "FAIL %s:%d: expected ALTER_OK, got %s\n", file, line, alter_status_name((int)st));
        print_error("error", *err);
        alter_error_free(*err);
        *err = NULL;
        g_case_failures++;
    }
}

void expect_fail_at(alter_status st, const AlterError *err, alter_status status, const char *kind,
                    const char *file, int line) {
    bool ok = st == status && err != NULL && (kind == NULL || str_eq(alter_error_kind(err), kind));
    if (!ok) {
        fprintf(stderr, "FAIL %s:%d: expected %s / %s, got %s\n", file, line, alter_status_name((int)status),
                kind ? kind : "(any)", alter_status_name((int)st));
        print_error("error", err);
        g_case_failures++;
    }
}

bool str_eq(const char *a, const char *b) {
    if (a == NULL || b == NULL) return a == b;
    return strcmp(a, b) == 0;
}

bool str_contains(const char *haystack, const char *needle) {
    return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

const char *env_required(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "environment variable %s is required (run the tests with tests/c/run.sh)\n", name);
        exit(2);
    }
    return v;
}

const char *client_options(void) {
    static char buf[512];
    if (buf[0] == '\0') {
        snprintf(buf, sizeof buf, "{\"base_url\": \"%s\", \"warnings\": \"silent\"}",
                 env_required("ALTER_TEST_BASE_URL"));
    }
    return buf;
}

/* Splits "http://host:port" into host and port. */
static int parse_base(const char *base, char *host, size_t hostlen, char *port, size_t portlen) {
    const char *p = base;
    if (strncmp(p, "http://", 7) != 0) return -1;
    p += 7;
    const char *colon = strchr(p, ':');
    const char *end = p + strcspn(p, "/");
    if (colon == NULL || colon > end) return -1;
    size_t hl = (size_t)(colon - p), pl = (size_t)(end - colon - 1);
    if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen) return -1;
    memcpy(host, p, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl);
    port[pl] = '\0';
    return 0;
}

static int send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int dev_call(const char *method, const char *path, const char *json_body, AlterJson **body_out) {
    if (body_out) *body_out = NULL;
    char host[256], port[16];
    if (parse_base(env_required("ALTER_TEST_BASE_URL"), host, sizeof host, port, sizeof port) != 0) return -1;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);

    size_t blen = json_body ? strlen(json_body) : 0;
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, host, port, env_required("ALTER_TEST_ADMIN_TOKEN"), blen);
    if (hn < 0 || (size_t)hn >= sizeof head || send_all(fd, head, (size_t)hn) != 0 ||
        (blen > 0 && send_all(fd, json_body, blen) != 0)) {
        close(fd);
        return -1;
    }

    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return -1;
    }
    for (;;) {
        if (cap - len < 4096) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';

    int status = -1;
    char *body = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 || body == NULL) {
        free(buf);
        return -1;
    }
    body += 4;
    if (str_contains(buf, "transfer-encoding: chunked")) {
        fprintf(stderr, "dev_call: chunked responses are not supported\n");
        free(buf);
        return -1;
    }
    if (body_out && *body != '\0') {
        AlterError *err = NULL;
        if (alter_json_parse((const uint8_t *)body, strlen(body), body_out, &err) != ALTER_OK) {
            alter_error_free(err);
            *body_out = NULL;
        }
    }
    free(buf);
    return status;
}
