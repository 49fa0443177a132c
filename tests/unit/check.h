/* A tiny assertion kit for unit tests: each CHECK counts, a failing one prints
 * FILE:LINE and the expression, and check_done() turns the tally into the exit
 * code ctest reads. A test binary that ran no CHECK fails: asserting nothing
 * is a defect. */
#ifndef ORCH_TEST_CHECK_H
#define ORCH_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                             \
    do {                                                                        \
        check_count++;                                                          \
        if (!(cond)) {                                                          \
            check_failures++;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

#define CHECK_STR(a, b)                                                         \
    do {                                                                        \
        const char *check_a_ = (a), *check_b_ = (b);                            \
        check_count++;                                                          \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {        \
            check_failures++;                                                   \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s\n  got:  %s\n  want: %s\n", \
                    __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",  \
                    check_b_ ? check_b_ : "(null)");                            \
        }                                                                       \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                             \
    do {                                                                        \
        const char *check_h_ = (hay), *check_n_ = (needle);                     \
        check_count++;                                                          \
        if (!check_h_ || !strstr(check_h_, check_n_)) {                         \
            check_failures++;                                                   \
            fprintf(stderr, "%s:%d: CHECK_CONTAINS failed: %s\n  in:   %s\n  want: %s\n", \
                    __FILE__, __LINE__, #hay, check_h_ ? check_h_ : "(null)", check_n_); \
        }                                                                       \
    } while (0)

static inline int check_done(void)
{
    if (check_count == 0) {
        fprintf(stderr, "no checks ran\n");
        return 1;
    }
    fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
