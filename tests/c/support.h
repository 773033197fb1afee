/*
 * Test support for the C programs of tests/c: a check/report harness, the
 * environment run.sh passes, and a minimal HTTP/1.1 client for the local
 * vault's operator API (/_dev), which the SDK itself never calls.
 */
#ifndef ALTER_TEST_SUPPORT_H
#define ALTER_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "alter.h"

/* Failed checks of the current case (reset by case_begin). */
extern int g_case_failures;

/* Starts a named case; case_end prints "ok - name" or "not ok - name". */
void case_begin(const char *name);
void case_end(void);

/* Number of cases that failed so far; the program's exit status. */
int cases_failed(void);

void check_at(bool ok, const char *file, int line, const char *what);
#define CHECK(cond) check_at((cond), __FILE__, __LINE__, #cond)

/*
 * Checks a call returned ALTER_OK with no error; otherwise prints the status
 * and the error, frees the error and sets *err to NULL.
 */
void expect_ok_at(alter_status st, AlterError **err, const char *file, int line);
#define EXPECT_OK(st, err) expect_ok_at((st), &(err), __FILE__, __LINE__)

/*
 * Checks a call failed with `status` and an error of class `kind` (NULL:
 * any); prints what came instead. Does not free the error.
 */
void expect_fail_at(alter_status st, const AlterError *err, alter_status status, const char *kind,
                    const char *file, int line);
#define EXPECT_FAIL(st, err, status, kind) expect_fail_at((st), (err), (status), (kind), __FILE__, __LINE__)

/* String equality that tolerates NULL (NULL equals only NULL). */
bool str_eq(const char *a, const char *b);
bool str_contains(const char *haystack, const char *needle);

/* A required environment variable (exits with a message when unset). */
const char *env_required(const char *name);

/* Client options JSON pointing at the test vault, silent warnings. */
const char *client_options(void);

/*
 * Calls the local vault's operator API: METHOD path with an optional JSON
 * body, authorised with ALTER_TEST_ADMIN_TOKEN. Returns the HTTP status (or
 * -1 on a transport failure) and, when body_out is not NULL, the response
 * body parsed as an AlterJson (free with alter_json_free; NULL if not JSON).
 */
int dev_call(const char *method, const char *path, const char *json_body, AlterJson **body_out);

/* Prints an error's fields on stderr (for diagnostics). */
void print_error(const char *what, const AlterError *err);

#endif
