/* .npy reading and writing: round trips, float16/float64 conversion on exact values, header variants
 * numpy writes, every malformed case with its message, and fuzzing (never a crash or an overread). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qn_npy.h"

static char dir[64];
static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/qn-npy-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* A .npy image with header text h (padded as numpy pads) followed by data. */
static size_t image(unsigned char *out, int major, const char *h, const void *data, size_t len) {
    size_t pre = major == 1 ? 10 : 12, hl = strlen(h), total = pre + hl + 1, pad = (64 - total % 64) % 64, hlen = hl + pad + 1;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major, out[7] = 0;
    out[8] = (unsigned char)(hlen & 0xFF), out[9] = (unsigned char)(hlen >> 8);
    if (major != 1) out[10] = out[11] = 0;
    memcpy(out + pre, h, hl);
    memset(out + pre + hl, ' ', pad);
    out[pre + hl + pad] = '\n';
    memcpy(out + pre + hlen, data, len);
    return pre + hlen + len;
}

Test(npy, write_then_read_every_shape, .init = setup, .fini = teardown) {
    float data[24];
    for (int i = 0; i < 24; i++) data[i] = (float)i * 0.5f - 3.0f;
    const int64_t shapes[][3] = {{24, 0, 0}, {4, 6, 0}, {2, 3, 4}};
    const int ndims[] = {1, 2, 3};
    for (int k = 0; k < 3; k++) {
        char path[128], err[256];
        snprintf(path, sizeof path, "%s/a%d.npy", dir, k);
        cr_assert_eq(qn_npy_write_f32(path, data, shapes[k], ndims[k], err, sizeof err), 0, "%s", err);
        qn_npy a;
        cr_assert_eq(qn_npy_read(path, &a, err, sizeof err), 0, "%s", err);
        cr_expect_eq(a.ndim, ndims[k]);
        for (int d = 0; d < ndims[k]; d++) cr_expect_eq(a.shape[d], shapes[k][d]);
        cr_expect_eq(a.n, 24);
        cr_expect(memcmp(a.data, data, sizeof data) == 0);
        qn_npy_free(&a);
        FILE *f = fopen(path, "rb");
        unsigned char head[10];
        cr_assert_eq(fread(head, 1, 10, f), 10);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        size_t hlen = head[8] | head[9] << 8;
        cr_expect_eq((10 + hlen) % 64, 0, "data starts on a 64-byte boundary, as numpy writes");
        cr_expect_eq((size_t)size, 10 + hlen + sizeof data);
    }
    /* 0-d and an empty dimension */
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/s.npy", dir);
    cr_assert_eq(qn_npy_write_f32(path, data, NULL, 0, err, sizeof err), 0, "%s", err);
    qn_npy a;
    cr_assert_eq(qn_npy_read(path, &a, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.ndim, 0);
    cr_expect_eq(a.n, 1);
    cr_expect_eq(a.data[0], data[0]);
    qn_npy_free(&a);
    int64_t empty[2] = {0, 5};
    cr_assert_eq(qn_npy_write_f32(path, data, empty, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(qn_npy_read(path, &a, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.n, 0);
    qn_npy_free(&a);
}

Test(npy, writer_refuses_impossible_shapes, .init = setup, .fini = teardown) {
    char path[128], err[256];
    float data[4] = {1, 2, 3, 4};
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    int64_t negative[2] = {2, -1}, huge[2] = {INT64_MAX / 2, 4}, shape[1] = {4};
    cr_expect_eq(qn_npy_write_f32(path, data, negative, 2, err, sizeof err), 2);
    cr_expect(strstr(err, "bad.npy") != NULL, "%s", err);
    cr_expect_eq(qn_npy_write_f32(path, data, huge, 2, err, sizeof err), 2, "an overflowing byte count: %s", err);
    cr_expect_eq(qn_npy_write_f32(path, data, shape, -1, err, sizeof err), 2);
    cr_expect_eq(qn_npy_write_f32(path, data, shape, QN_NPY_MAX_DIMS + 1, err, sizeof err), 2);
    cr_expect_eq(access(path, F_OK), -1, "nothing written for a refused shape");
    cr_expect_eq(qn_npy_write_f32(path, data, shape, 1, err, sizeof err), 0, "%s", err);
}

Test(npy, float16_and_float64_convert_exactly) {
    const uint16_t h[] = {0x0001, 0x7C00, 0xFC00, 0x7E00, 0x3C00, 0xC000, 0x7BFF, 0x8000, 0x0400};
    unsigned char buf[256];
    size_t len = image(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (9,), }", h, sizeof h);
    qn_npy a;
    char err[256];
    cr_assert_eq(qn_npy_parse("h.npy", buf, len, &a, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.data[0], 5.9604645e-08f);
    cr_expect(isinf(a.data[1]) && a.data[1] > 0);
    cr_expect(isinf(a.data[2]) && a.data[2] < 0);
    cr_expect(isnan(a.data[3]));
    cr_expect_eq(a.data[4], 1.0f);
    cr_expect_eq(a.data[5], -2.0f);
    cr_expect_eq(a.data[6], 65504.0f);
    cr_expect(a.data[7] == 0.0f && signbit(a.data[7]));
    cr_expect_eq(a.data[8], 0x1p-14f);
    qn_npy_free(&a);
    const double d[] = {0.1, 1e300, -1e-50, 1.0 + 0x1p-24}; /* the last is a tie: rounds to even, 1.0 */
    len = image(buf, 2, "{\"descr\": \"<f8\", \"shape\": (2, 2), \"fortran_order\": False}", d, sizeof d);
    cr_assert_eq(qn_npy_parse("d.npy", buf, len, &a, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.data[0], 0.1f);
    cr_expect(isinf(a.data[1]));
    cr_expect(a.data[2] == 0.0f && signbit(a.data[2]));
    cr_expect_eq(a.data[3], 1.0f);
    cr_expect_eq(a.ndim, 2);
    qn_npy_free(&a);
    /* big-endian float32, version 3.0 */
    const unsigned char be[] = {0x3F, 0x80, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00};
    len = image(buf, 3, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", be, sizeof be);
    cr_assert_eq(qn_npy_parse("b.npy", buf, len, &a, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.data[0], 1.0f);
    cr_expect_eq(a.data[1], -2.0f);
    qn_npy_free(&a);
}

Test(npy, malformed_files_name_the_problem) {
    const float f[6] = {0};
    struct {
        const char *header;
        size_t data;
        const char *want;
    } cases[] = {
        {"{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }", 24, "x.npy: unsupported dtype '<i4' (expected float16, float32 or float64)"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "x.npy: fortran_order arrays are not supported: save with np.ascontiguousarray"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20, "x.npy: truncated: header says 6 elements (24 bytes) but 20 bytes follow"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28, "x.npy: malformed: 4 bytes follow the 24 the header describes"},
        {"{'descr': '<f4', 'fortran_order': False}", 24, "x.npy: malformed header: needs descr, fortran_order and shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 24, "x.npy: malformed header: shape holds a non-integer"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (6,), }", 24, "x.npy: malformed header: fortran_order is not True or False"},
        {"['descr', '<f4']", 24, "x.npy: malformed header: not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}", 24, "x.npy: malformed header: unknown key 'extra'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }", 24, "x.npy: the shape's element count overflows"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char buf[512];
        unsigned char data[32] = {0};
        memcpy(data, f, sizeof f);
        size_t len = image(buf, 1, cases[k].header, data, cases[k].data);
        qn_npy a;
        char err[256] = "";
        cr_expect_eq(qn_npy_parse("x.npy", buf, len, &a, err, sizeof err), 2, "case %zu parsed", k);
        cr_expect_str_eq(err, cases[k].want, "case %zu", k);
    }
    qn_npy a;
    char err[256];
    cr_expect_eq(qn_npy_parse("x.npy", (const unsigned char *)"NUMPY!", 6, &a, err, sizeof err), 2);
    cr_expect_str_eq(err, "x.npy: not a .npy file (bad magic)");
    const unsigned char v9[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 9, 0, 0, 0};
    cr_expect_eq(qn_npy_parse("x.npy", v9, sizeof v9, &a, err, sizeof err), 2);
    cr_expect_str_eq(err, "x.npy: unsupported .npy format version 9.0 (expected 1.0, 2.0 or 3.0)");
    const unsigned char cut[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0x40, 0, '{'};
    cr_expect_eq(qn_npy_parse("x.npy", cut, sizeof cut, &a, err, sizeof err), 2);
    cr_expect_str_eq(err, "x.npy: truncated header");
    cr_expect_eq(qn_npy_read("/nonexistent/x.npy", &a, err, sizeof err), 2);
    cr_expect(strncmp(err, "/nonexistent/x.npy: ", 20) == 0, "%s", err);
}

Test(npy, fuzz_never_crashes_or_overreads, .timeout = 120) {
    float data[48];
    for (int i = 0; i < 48; i++) data[i] = (float)i;
    unsigned char base[512];
    size_t len = image(base, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 12), }", data, sizeof data);
    uint64_t s = 0x1234567;
    int ok = 0, refused = 0;
    for (int it = 0; it < 20000; it++) {
        unsigned char buf[600];
        memcpy(buf, base, len);
        size_t n = len;
        int edits = 1 + (int)(s % 4);
        for (int e = 0; e < edits; e++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t pos = (size_t)(s >> 20) % (n ? n : 1);
            switch (s % 5) {
            case 0: buf[pos] = (unsigned char)(s >> 8); break;                 /* flip a byte */
            case 1: n = pos; break;                                             /* truncate */
            case 2: buf[pos % 80] = "{}(),:'\"0123456789 TrueFalse<>f248x"[(s >> 9) % 35]; break; /* header chars */
            case 3: if (n < 590) { memmove(buf + pos + 1, buf + pos, n - pos); buf[pos] = ','; n++; } break;
            default: buf[8] = (unsigned char)(s >> 11); buf[9] = (unsigned char)(s >> 19) & 1; break; /* header length */
            }
        }
        /* an exact-size heap copy, so a read past the end is caught by the sanitizers */
        unsigned char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        qn_npy a;
        char err[256] = "";
        int rc = qn_npy_parse("fz.npy", exact, n, &a, err, sizeof err);
        if (rc == 0) {
            ok++;
            cr_assert_leq(a.n * 4, n, "more elements than bytes");
            qn_npy_free(&a);
        } else {
            refused++;
            cr_assert_eq(rc, 2, "iteration %d: rc %d (%s)", it, rc, err);
            cr_assert(strncmp(err, "fz.npy: ", 8) == 0 && !strchr(err, '\n'), "iteration %d: '%s'", it, err);
        }
        free(exact);
    }
    cr_log_info("%d parsed, %d refused", ok, refused);
    cr_expect_gt(refused, 1000);
}
