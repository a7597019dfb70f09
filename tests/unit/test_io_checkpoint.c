/* Packed checkpoints: bit packing round trips for every width; fake-quantized values packed and
 * unpacked give the same bits (integer widths 2..32, odd shapes, binary and ternary); values a code
 * cannot hold stay float32; and the HDF5 round trip through a results file, master included. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_checkpoint.h"
#include "qn_formats.h"
#include "qn_results.h"

static uint64_t state = 88172645463325252ull;
static float rnd(void) { /* xorshift, normal-ish: sum of uniforms */
    float s = 0;
    for (int k = 0; k < 4; k++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        s += (float)(state >> 40) / (float)(1 << 24) - 0.5f;
    }
    return s;
}

/* Values equal bit for bit, except that -0.0 comes back as +0.0. */
static void expect_same(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        float x = a[i] == 0.0f ? 0.0f : a[i], y = b[i];
        cr_assert(memcmp(&x, &y, sizeof x) == 0, "%s: value %zu is %a, unpacked %a", what, i, (double)a[i], (double)b[i]);
    }
}

Test(pack, bits_round_trip_for_every_width) {
    int64_t codes[37], back[37];
    uint8_t buf[37 * 4 + 1];
    for (int w = 1; w <= 32; w++) {
        for (int i = 0; i < 37; i++) {
            int64_t lo = -(1ll << (w - 1)), span = 1ll << w;
            codes[i] = w == 1 ? (i & 1) : lo + (int64_t)((uint64_t)(i * 2654435761u) % (uint64_t)span);
            if (i == 0 && w > 1) codes[i] = lo;
            if (i == 1 && w > 1) codes[i] = -lo - 1;
        }
        qn_pack_bits(codes, 37, w, buf);
        qn_unpack_bits(buf, 37, w, w > 1, back);
        for (int i = 0; i < 37; i++) cr_assert_eq(back[i], codes[i], "width %d code %d", w, i);
    }
}

Test(pack, integer_fake_quant_round_trips_for_widths_2_to_32) {
    const int64_t shapes[][2] = {{7, 13}, {1, 5}, {33, 3}, {3, 1031}};
    for (int si = 0; si < 4; si++) {
        size_t n = (size_t)(shapes[si][0] * shapes[si][1]);
        float *x = malloc(n * sizeof(float)), *q = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) x[i] = rnd() * 4.0f;
        for (int w = 2; w <= 32; w++) {
            /* saturate; above 24 bits MASE's float32 upper clamp 2^(w-1)-1 rounds to 2^(w-1), which no
             * w-bit code holds (values_off_the_grid_stay_float32): saturate downwards only there */
            x[0] = w <= 24 ? 1e9f : -1e9f, x[n - 1] = -1e9f;
            int fracs[3] = {0, w / 2, w + 3};
            for (int k = 0; k < 3; k++) {
                qn_format f;
                char err[256];
                qn_format_defaults(QN_FMT_INTEGER, &f);
                f.width = w, f.frac_width = fracs[k];
                /* above 24 bits keep values inside half the range (no upward saturation) */
                float lim = w > 24 ? ldexpf(1.0f, w - 2 - fracs[k]) : INFINITY;
                for (size_t i = 1; i + 1 < n; i++) q[i] = fminf(x[i], lim);
                q[0] = x[0], q[n - 1] = x[n - 1];
                memcpy(x, q, n * sizeof(float));
                cr_assert_eq(qn_format_apply(&f, x, q, shapes[si], 2, err, sizeof err), 0, "%s", err);
                qn_ckpt_tensor t = {.ndim = 2, .shape = {shapes[si][0], shapes[si][1]}, .width = w, .frac_width = fracs[k]};
                cr_assert_eq(qn_ckpt_encode(&t, QN_ENC_FIXED, q), 0, "width %d frac %d not packed", w, fracs[k]);
                cr_assert_eq(t.enc, QN_ENC_FIXED);
                cr_assert_eq(qn_ckpt_tensor_bytes(&t), (n * (size_t)w + 7) / 8);
                cr_assert_eq(qn_ckpt_decode(&t, y), 0);
                char what[64];
                snprintf(what, sizeof what, "integer w%d f%d shape %d", w, fracs[k], si);
                expect_same(q, y, n, what);
                free(t.codes);
            }
        }
        free(x), free(q), free(y);
    }
}

Test(pack, binary_and_ternary_round_trip) {
    const int64_t shape[2] = {5, 37};
    size_t n = 5 * 37;
    float x[5 * 37], q[5 * 37], y[5 * 37];
    for (size_t i = 0; i < n; i++) x[i] = rnd();
    struct {
        qn_format_kind kind;
        int opt;
        qn_encoding enc;
        int bits;
    } cases[] = {{QN_FMT_BINARY, 0, QN_ENC_BINARY, 1}, {QN_FMT_BINARY, 1, QN_ENC_BINARY, 1},
                 {QN_FMT_TERNARY, 0, QN_ENC_TERNARY, 2}, {QN_FMT_TERNARY, 1, QN_ENC_TERNARY, 2}};
    for (int c = 0; c < 4; c++) {
        qn_format f;
        char err[256];
        qn_format_defaults(cases[c].kind, &f);
        if (cases[c].kind == QN_FMT_BINARY) f.bipolar = cases[c].opt;
        else f.scaling_factor = cases[c].opt;
        cr_assert_eq(qn_format_apply(&f, x, q, shape, 2, err, sizeof err), 0, "%s", err);
        qn_ckpt_tensor t = {.ndim = 2, .shape = {5, 37}, .bipolar = f.bipolar};
        cr_assert_eq(qn_ckpt_encode(&t, cases[c].enc, q), 0, "case %d not packed", c);
        cr_assert_eq(t.width, cases[c].bits);
        cr_assert_eq(qn_ckpt_decode(&t, y), 0);
        expect_same(q, y, n, "binary/ternary");
        free(t.codes), free(t.scale);
    }
}

Test(pack, values_off_the_grid_stay_float32) {
    float x[6] = {0.25f, 0.5f, 0.3f, -1.0f, 0, 2}, y[6];
    qn_ckpt_tensor t = {.ndim = 1, .shape = {6}, .width = 4, .frac_width = 2};
    cr_assert_eq(qn_ckpt_encode(&t, QN_ENC_FIXED, x), 1); /* 0.3 is not a multiple of 1/4 */
    cr_assert_eq(t.enc, QN_ENC_FLOAT32);
    cr_assert_eq(qn_ckpt_decode(&t, y), 0);
    cr_assert(memcmp(x, y, sizeof x) == 0);
    free(t.values);
    float z[2] = {4.0f, 0}; /* code 16 does not fit 4 bits */
    qn_ckpt_tensor u = {.ndim = 1, .shape = {2}, .width = 4, .frac_width = 2};
    cr_assert_eq(qn_ckpt_encode(&u, QN_ENC_FIXED, z), 1);
    free(u.values);
    /* 26-bit integer saturated upwards: the quantizer gives 2^25, one past the largest code */
    qn_format f;
    char err[128];
    qn_format_defaults(QN_FMT_INTEGER, &f);
    f.width = 26, f.frac_width = 0;
    float big[2] = {1e9f, -1e9f}, qb[2];
    int64_t shape[1] = {2};
    cr_assert_eq(qn_format_apply(&f, big, qb, shape, 1, err, sizeof err), 0);
    qn_ckpt_tensor v = {.ndim = 1, .shape = {2}, .width = 26};
    cr_assert_eq(qb[0], 33554432.0f); /* 2^25 - 1 rounds up to 2^25 in float32 */
    cr_assert_eq(qn_ckpt_encode(&v, QN_ENC_FIXED, qb), 1);
    cr_assert_eq(qn_ckpt_decode(&v, y), 0);
    cr_assert(memcmp(qb, y, sizeof qb) == 0);
    free(v.values);
}

Test(pack, hdf5_round_trip_with_master) {
    char dir[] = "/tmp/qn-ckpt-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.h5", dir);
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load(QN_TEST_DATA "/e2e/jobs/study.yaml", &job, err, sizeof err), 0, "%s", err);
    qn_results *r;
    cr_assert_eq(qn_results_create(path, &job, "plan", &r, err, sizeof err), 0, "%s", err);
    /* a 5x3 4-bit weight, a 3-vector float bias, a ternary 2x4 */
    float master[15 + 3 + 8], q[15], t3[8];
    for (int i = 0; i < 26; i++) master[i] = rnd();
    qn_format f;
    qn_format_defaults(QN_FMT_INTEGER, &f);
    f.width = 4, f.frac_width = 2;
    int64_t s1[2] = {5, 3}, s3[2] = {2, 4};
    cr_assert_eq(qn_format_apply(&f, master, q, s1, 2, err, sizeof err), 0);
    qn_format tf;
    qn_format_defaults(QN_FMT_TERNARY, &tf);
    tf.scaling_factor = 1;
    cr_assert_eq(qn_format_apply(&tf, master + 18, t3, s3, 2, err, sizeof err), 0);
    qn_ckpt_tensor ts[3] = {{.name = "fc1.weight", .ndim = 2, .shape = {5, 3}, .offset = 0, .format = "integer:width=4,frac_width=2", .width = 4, .frac_width = 2},
                            {.name = "fc1.bias", .ndim = 1, .shape = {3}, .offset = 15, .format = "none"},
                            {.name = "fc2.weight", .ndim = 2, .shape = {2, 4}, .offset = 18, .format = "ternary"}};
    cr_assert_eq(qn_ckpt_encode(&ts[0], QN_ENC_FIXED, q), 0);
    cr_assert_eq(qn_ckpt_encode(&ts[1], QN_ENC_FLOAT32, master + 15), 0);
    cr_assert_eq(qn_ckpt_encode(&ts[2], QN_ENC_TERNARY, t3), 0);
    qn_ckpt c = {.arch = "mlp", .nparams = 26, .ntensors = 3, .tensors = ts, .master = master};
    qn_trial_record rec = {.id = 0, .stage = "baseline", .status = "done", .device = "cpu", .parent = -1, .error = "", .ckpt = &c};
    cr_assert_eq(qn_results_append_trial(r, &rec, err, sizeof err), 0, "%s", err);
    int has_master = 0;
    cr_assert_eq(qn_results_has_checkpoint(r, 0, &has_master), 1);
    cr_assert_eq(has_master, 1);
    float *buf;
    size_t len;
    cr_assert_eq(qn_results_read_checkpoint(r, 0, &buf, &len), 0);
    cr_assert_eq(len, 26);
    cr_assert(memcmp(buf, master, sizeof master) == 0);
    free(buf);
    qn_ckpt back;
    cr_assert_eq(qn_results_read_ckpt(r, 0, &back, err, sizeof err), 0, "%s", err);
    cr_assert_eq(back.ntensors, 3);
    float y[15];
    cr_assert_eq(back.tensors[0].enc, QN_ENC_FIXED);
    cr_assert_str_eq(back.tensors[0].format, "integer:width=4,frac_width=2");
    cr_assert_eq(qn_ckpt_decode(&back.tensors[0], y), 0);
    expect_same(q, y, 15, "fixed from the file");
    cr_assert_eq(qn_ckpt_decode(&back.tensors[2], y), 0);
    expect_same(t3, y, 8, "ternary from the file");
    cr_assert_eq(back.tensors[1].offset, 15);
    qn_ckpt_free(&back);
    /* without master, quantized tensors are not a buffer to train on */
    cr_assert_eq(qn_results_drop_master(r, 0), 0);
    cr_assert_eq(qn_results_has_checkpoint(r, 0, &has_master), 1);
    cr_assert_eq(has_master, 0);
    cr_assert_eq(qn_results_read_checkpoint(r, 0, &buf, &len), -1);
    cr_assert_eq(qn_results_drop_checkpoint(r, 0), 0);
    cr_assert_eq(qn_results_has_checkpoint(r, 0, NULL), 0);
    cr_assert_eq(qn_results_close(r), 0);
    free(ts[0].codes), free(ts[1].values), free(ts[2].codes), free(ts[2].scale);
    qn_job_free(&job);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
