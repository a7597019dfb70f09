/* Fuzzing the job parser: thousands of mutated job files (bytes flipped, YAML punctuation inserted,
 * lines cut, duplicated and swapped, truncation) must each either load or fail with one line
 * "FILE:LINE:COL: message" -- never crash, hang or leak past qn_job_free (run under the debug preset
 * for ASan/UBSan). The mutations come from a fixed seed, so a failure reproduces. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_job.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static const char *const tokens[] = {":", "-", "[", "]", "{", "}", ",", "\"", "'", "#", "&a", "*a", "!!str ",
                                     "\n", "  ", "\t", "%", "|", ">", "?", "1e400", "-0", "nan", ".inf", "0x10",
                                     "best(", ")", "from: ", "grid:", "run: ", "50%", "~", "null", "\xc3\xa9",
                                     "\xff", "<<: *a", "---\n", "...\n"};

static size_t mutate(const char *src, size_t len, char *out, size_t cap) {
    size_t n = len < cap ? len : cap;
    memcpy(out, src, n);
    int edits = 1 + (int)(next() % 4);
    for (int e = 0; e < edits; e++) {
        size_t pos = n ? next() % n : 0;
        switch (next() % 6) {
        case 0: /* flip a byte */
            if (n) out[pos] = (char)(next() & 0xff);
            break;
        case 1: { /* insert a token */
            const char *t = tokens[next() % (sizeof tokens / sizeof tokens[0])];
            size_t tl = strlen(t);
            if (n + tl < cap) {
                memmove(out + pos + tl, out + pos, n - pos);
                memcpy(out + pos, t, tl);
                n += tl;
            }
            break;
        }
        case 2: { /* delete a span */
            size_t span = 1 + next() % 16;
            if (pos + span > n) span = n - pos;
            memmove(out + pos, out + pos + span, n - pos - span);
            n -= span;
            break;
        }
        case 3: /* truncate */
            n = pos;
            break;
        case 4: { /* duplicate a span (repeated keys and stages) */
            size_t span = 1 + next() % 64;
            if (pos + span > n) span = n - pos;
            if (n + span < cap) {
                memmove(out + pos + span, out + pos, n - pos);
                n += span;
            }
            break;
        }
        default: { /* swap two bytes far apart */
            if (n) {
                size_t other = next() % n;
                char c = out[pos];
                out[pos] = out[other];
                out[other] = c;
            }
            break;
        }
        }
    }
    return n;
}

static void fuzz_file(const char *path, int iterations) {
    size_t len;
    char *src = slurp(path, &len);
    size_t cap = len * 2 + 256;
    char *buf = malloc(cap + 1);
    int loaded = 0, refused = 0;
    for (int i = 0; i < iterations; i++) {
        size_t n = mutate(src, len, buf, cap);
        buf[n] = 0;
        qn_job job;
        char err[QN_ERR_LEN] = "";
        if (qn_job_load_text("fuzz.yaml", buf, n, &job, err, sizeof err) == 0) {
            cr_assert_gt(job.ntrials, 0, "iteration %d loaded a job with no trials", i);
            char *plan = qn_job_plan_text(&job);
            cr_assert_not_null(plan);
            free(plan);
            qn_job_free(&job);
            loaded++;
        } else {
            int line = 0, col = 0;
            cr_assert_eq(sscanf(err, "fuzz.yaml:%d:%d:", &line, &col), 2, "iteration %d: '%s'", i, err);
            cr_assert(line >= 1 && col >= 1, "iteration %d: '%s'", i, err);
            cr_assert_null(strchr(err, '\n'), "iteration %d: multi-line message '%s'", i, err);
            refused++;
        }
    }
    cr_log_info("%s: %d loaded, %d refused", path, loaded, refused);
    cr_expect_gt(refused, 0);
    free(buf);
    free(src);
}

Test(job_fuzz, mutated_e2e_study, .timeout = 240) { fuzz_file(QN_TEST_DATA "/e2e/jobs/study.yaml", 4000); }
Test(job_fuzz, mutated_lab1_ptq_qat, .timeout = 240) { fuzz_file(QN_SOURCE_DIR "/jobs/examples/lab1-ptq-qat.yaml", 3000); }
Test(job_fuzz, mutated_lab1_prune, .timeout = 240) { fuzz_file(QN_SOURCE_DIR "/jobs/examples/lab1-prune.yaml", 3000); }

Test(job_fuzz, huge_grid_is_refused_not_allocated) {
    const char *text = "name: t\nstages:\n  - name: s\n    grid:\n"
                       "      train.lr: {start: 1.0e-9, stop: 1, step: 1.0e-9}\n    run: [train, eval]\n";
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load_text("t.yaml", text, strlen(text), &job, err, sizeof err), -1);
    cr_expect(strstr(err, "t.yaml:5:") == err, "%s", err);
}

Test(job_fuzz, product_of_axes_overflow_is_refused) {
    /* 6 axes of 1000 values each: 1e18 trials */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "name: t\nstages:\n  - name: s\n    run: [train, eval]\n    grid:\n");
    const char *axes[] = {"train.lr", "train.weight_decay", "train.beta1", "train.eps", "data.label_noise", "train.beta2"};
    for (int a = 0; a < 6; a++)
        n += (size_t)snprintf(text + n, sizeof text - n, "      %s: {start: 0.0001, stop: 0.1, step: 0.0001}\n", axes[a]);
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load_text("t.yaml", text, n, &job, err, sizeof err), -1);
    cr_expect(strncmp(err, "t.yaml:", 7) == 0, "%s", err);
}
