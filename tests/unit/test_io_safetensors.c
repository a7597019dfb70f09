/* .safetensors reading: a hand-built file read back in every float dtype, every malformed case the
 * format allows with its message, fuzzing (never a crash or an overread), and a file written by
 * Python's json/struct as Hugging Face writes them. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qn_safetensors.h"

/* header JSON + data -> a safetensors image */
static size_t image(unsigned char *out, const char *header, const void *data, size_t dlen) {
    size_t h = strlen(header);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(out + 8, header, h);
    memcpy(out + 8 + h, data, dlen);
    return 8 + h + dlen;
}

Test(safetensors, reads_every_float_dtype) {
    unsigned char data[4 * 4 + 8 * 2 + 2 * 2 + 2 * 2];
    const float f[4] = {1.5f, -2.0f, 0.1f, 65504.0f};
    const double d[2] = {0.25, -1e-3};
    const uint16_t h[2] = {0x3C00, 0xC000}, bf[2] = {0x3F80, 0xBF00};
    memcpy(data, f, 16), memcpy(data + 16, d, 16), memcpy(data + 32, h, 4), memcpy(data + 36, bf, 4);
    const char *hdr = "{\"__metadata__\": {\"format\": \"pt\"}, "
                      "\"a.weight\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, "
                      "\"b\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [16, 32]}, "
                      "\"c\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [32, 36]}, "
                      "\"d\": {\"dtype\": \"BF16\", \"shape\": [1, 2], \"data_offsets\": [36, 40]}}";
    unsigned char buf[1024];
    size_t len = image(buf, hdr, data, sizeof data);
    qn_safetensors st;
    char err[512];
    cr_assert_eq(qn_st_parse("m.safetensors", buf, len, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.ntensors, 4);
    const qn_st_tensor *t = qn_st_find(&st, "a.weight");
    cr_assert_not_null(t);
    cr_expect(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 2 && t->numel == 4);
    float out[4];
    cr_assert_eq(qn_st_read_f32(&st, t, out), 0);
    cr_expect(memcmp(out, f, 16) == 0);
    cr_assert_eq(qn_st_read_f32(&st, qn_st_find(&st, "b"), out), 0);
    cr_expect(out[0] == 0.25f && out[1] == -1e-3f);
    cr_assert_eq(qn_st_read_f32(&st, qn_st_find(&st, "c"), out), 0);
    cr_expect(out[0] == 1.0f && out[1] == -2.0f);
    cr_assert_eq(qn_st_read_f32(&st, qn_st_find(&st, "d"), out), 0);
    cr_expect(out[0] == 1.0f && out[1] == -0.5f);
    cr_expect_null(qn_st_find(&st, "missing"));
    qn_st_close(&st);
}

Test(safetensors, malformed_files_name_the_problem) {
    const float f[4] = {0};
    struct {
        const char *header;
        size_t data;
        const char *want;
    } cases[] = {
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", 8, "m.st: header is not valid JSON"},
        {"[1, 2]", 0, "m.st: header is not a JSON object"},
        {"{\"a\": {\"dtype\": \"F99\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "m.st: tensor 'a' has an unsupported dtype 'F99'"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "m.st: tensor 'a': 3 elements of F32 need 12 bytes, data_offsets give 8"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 8, "m.st: tensor 'a': data_offsets [0, 16] outside the 8 data bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "m.st: tensor 'a' has a shape entry that is not a non-negative integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
         "m.st: tensor 'b' starts at byte 4 where 8 was expected (tensors overlap)"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "m.st: tensor 'a' starts at byte 4 where 0 was expected (a hole in the data)"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8, "m.st: the tensors cover 4 of the 8 data bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "m.st: tensor 'a' needs dtype, shape and data_offsets"},
        {"{\"__metadata__\": {\"k\": 1}}", 0, "m.st: __metadata__ value 'k' is not a string"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
         "m.st: header is not valid JSON"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char buf[1024];
        size_t len = image(buf, cases[k].header, f, cases[k].data);
        qn_safetensors st;
        char err[512] = "";
        cr_expect_eq(qn_st_parse("m.st", buf, len, &st, err, sizeof err), 2, "case %zu parsed", k);
        cr_expect(strncmp(err, cases[k].want, strlen(cases[k].want)) == 0, "case %zu:\n  got:  %s\n  want: %s", k, err, cases[k].want);
    }
    unsigned char small[4] = {1, 2, 3, 4};
    qn_safetensors st;
    char err[512];
    cr_expect_eq(qn_st_parse("m.st", small, 4, &st, err, sizeof err), 2);
    cr_expect_str_eq(err, "m.st: not a safetensors file (shorter than its 8-byte header length)");
    unsigned char big[16] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    cr_expect_eq(qn_st_parse("m.st", big, 16, &st, err, sizeof err), 2);
    cr_expect(strstr(err, "larger than 100 MiB") != NULL, "%s", err);
    unsigned char past[16] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    cr_expect_eq(qn_st_parse("m.st", past, 16, &st, err, sizeof err), 2);
    cr_expect(strstr(err, "runs past the end of the file") != NULL, "%s", err);
}

Test(safetensors, fuzz_never_crashes_or_overreads, .timeout = 120) {
    const float f[6] = {1, 2, 3, 4, 5, 6};
    const char *hdr = "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, "
                      "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24]}}";
    unsigned char base[512];
    size_t len = image(base, hdr, f, sizeof f);
    uint64_t s = 0xC0FFEE;
    int ok = 0;
    for (int it = 0; it < 20000; it++) {
        unsigned char buf[600];
        memcpy(buf, base, len);
        size_t n = len;
        for (int e = 0; e < 1 + it % 3; e++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t pos = (size_t)(s >> 20) % n;
            switch (s % 4) {
            case 0: buf[pos] = (unsigned char)(s >> 8); break;
            case 1: n = pos ? pos : 1; break;
            case 2: buf[8 + pos % (n > 8 ? n - 8 : 1)] = "{}[],:\"0123456789-eFIBU"[(s >> 9) % 23]; break;
            default: buf[(s >> 12) % 8] = (unsigned char)(s >> 30); break;
            }
        }
        unsigned char *exact = malloc(n);
        memcpy(exact, buf, n);
        qn_safetensors st;
        char err[512] = "";
        int rc = qn_st_parse("fz.st", exact, n, &st, err, sizeof err);
        if (rc == 0) {
            ok++;
            for (int i = 0; i < st.ntensors; i++) {
                float *o = malloc((st.tensors[i].numel + 1) * sizeof(float));
                qn_st_read_f32(&st, &st.tensors[i], o);
                free(o);
            }
            qn_st_close(&st);
        } else {
            cr_assert_eq(rc, 2, "iteration %d: %s", it, err);
            cr_assert(strncmp(err, "fz.st: ", 7) == 0 && !strchr(err, '\n'), "iteration %d: '%s'", it, err);
        }
        free(exact);
    }
    cr_log_info("%d of 20000 mutated files parsed", ok);
}

Test(safetensors, a_file_written_the_way_hugging_face_writes_it) {
    char dir[] = "/tmp/qn-st-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024], path[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import json, struct, sys\n"
             "import numpy as np\n"
             "w = np.arange(6, dtype=np.float32).reshape(2, 3); b = np.array([0.5, -1], dtype=np.float16)\n"
             "h = {\"__metadata__\": {\"format\": \"pt\"}, \"classifier.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
             " \"classifier.bias\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [24, 28]}}\n"
             "t = json.dumps(h).encode(); t += b\" \" * (-len(t) %% 8)\n"
             "open(sys.argv[1], \"wb\").write(struct.pack(\"<Q\", len(t)) + t + w.tobytes() + b.tobytes())' %s",
             path);
    if (system(cmd) != 0) cr_skip("python3 with numpy is not available");
    qn_safetensors st;
    char err[512];
    cr_assert_eq(qn_st_open(path, &st, err, sizeof err), 0, "%s", err);
    float w[6], b[2];
    cr_assert_eq(qn_st_read_f32(&st, qn_st_find(&st, "classifier.weight"), w), 0);
    cr_assert_eq(qn_st_read_f32(&st, qn_st_find(&st, "classifier.bias"), b), 0);
    for (int i = 0; i < 6; i++) cr_expect_eq(w[i], (float)i);
    cr_expect(b[0] == 0.5f && b[1] == -1.0f);
    qn_st_close(&st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* The malformed cases the test above leaves out: entries that are not objects or lack keys, too
 * many dimensions, a shape whose size overflows, data_offsets of the wrong form or reversed or
 * negative, __metadata__ not an object; and names with control characters (valid JSON escapes)
 * still give one line. A tensor of zero elements is valid. */
Test(safetensors, more_malformed_headers) {
    const float f[2] = {0};
    struct {
        const char *header;
        size_t data;
        const char *want; /* the whole message */
    } cases[] = {
        {"{\"a\": 5}", 0, "m.st: tensor 'a' is not an object"},
        {"{\"a\": {\"dtype\": 3, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "m.st: tensor 'a' needs dtype, shape and data_offsets"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": 2, \"data_offsets\": [0, 8]}}", 8, "m.st: tensor 'a' needs dtype, shape and data_offsets"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1, 1, 1, 1, 2], \"data_offsets\": [0, 8]}}", 8,
         "m.st: tensor 'a' has 9 dimensions (at most 8)"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], \"data_offsets\": [0, 8]}}", 8,
         "m.st: tensor 'a': its shape overflows"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8]}}", 8,
         "m.st: tensor 'a' has a shape entry that is not a non-negative integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8, "m.st: tensor 'a': data_offsets must be [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8, 8]}}", 8, "m.st: tensor 'a': data_offsets must be [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [\"0\", 8]}}", 8, "m.st: tensor 'a': data_offsets must be [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8,
         "m.st: tensor 'a': data_offsets [8, 0] outside the 8 data bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", 8,
         "m.st: tensor 'a': data_offsets [-8, 0] outside the 8 data bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 9223372036854775807]}}", 8,
         "m.st: tensor 'a': data_offsets [0, 9223372036854775807] outside the 8 data bytes"},
        {"{\"a\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
         "m.st: tensor 'a': 2 elements of I64 need 16 bytes, data_offsets give 8"},
        {"{\"__metadata__\": [\"pt\"]}", 0, "m.st: __metadata__ is not an object"},
        {"{\"a\\nb\": {\"dtype\": \"F99\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
         "m.st: tensor 'a?b' has an unsupported dtype 'F99'"},
        {"{\"a\": {\"dtype\": \"F\\r\\n32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
         "m.st: tensor 'a' has an unsupported dtype 'F??32'"},
        {"", 8, "m.st: header is not valid JSON"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char buf[1024];
        size_t len = image(buf, cases[k].header, f, cases[k].data);
        qn_safetensors st;
        char err[512] = "";
        cr_expect_eq(qn_st_parse("m.st", buf, len, &st, err, sizeof err), 2, "case %zu parsed", k);
        size_t wl = strlen(cases[k].want);
        if (k == sizeof cases / sizeof cases[0] - 1) cr_expect(strncmp(err, cases[k].want, wl) == 0, "case %zu: %s", k, err);
        else cr_expect_str_eq(err, cases[k].want, "case %zu:\n  got:  %s\n  want: %s", k, err, cases[k].want);
        cr_expect(!strchr(err, '\n') && !strchr(err, '\r'), "case %zu: not one line", k);
    }
    /* zero elements at the end of the data, and an empty header object with no data, are valid */
    unsigned char buf[256];
    size_t len = image(buf,
                       "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                       "\"e\": {\"dtype\": \"F16\", \"shape\": [0, 3], \"data_offsets\": [8, 8]}}",
                       f, 8);
    qn_safetensors st;
    char err[512];
    cr_assert_eq(qn_st_parse("m.st", buf, len, &st, err, sizeof err), 0, "%s", err);
    const qn_st_tensor *e = qn_st_find(&st, "e");
    cr_assert_not_null(e);
    cr_expect(e->numel == 0 && e->ndim == 2 && e->begin == 8 && e->end == 8);
    qn_st_close(&st);
    len = image(buf, "{}", f, 0);
    cr_assert_eq(qn_st_parse("m.st", buf, len, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.ntensors, 0);
    qn_st_close(&st);
}

Test(safetensors, open_errors_name_the_file) {
    char dir[] = "/tmp/qn-st-open-XXXXXX", path[128], err[512];
    cr_assert_not_null(mkdtemp(dir));
    qn_safetensors st;
    snprintf(path, sizeof path, "%s/none.safetensors", dir);
    cr_expect_eq(qn_st_open(path, &st, err, sizeof err), 2);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    cr_expect_str_eq(err, want);
    /* a directory */
    cr_expect_eq(qn_st_open(dir, &st, err, sizeof err), 2);
    snprintf(want, sizeof want, "%s: not a regular file", dir);
    cr_expect_str_eq(err, want);
    /* an empty file, and one cut inside its header */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fclose(f);
    cr_expect_eq(qn_st_open(path, &st, err, sizeof err), 2);
    snprintf(want, sizeof want, "%s: not a safetensors file (shorter than its 8-byte header length)", path);
    cr_expect_str_eq(err, want);
    unsigned char buf[256];
    size_t len = image(buf, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "abcd", 4);
    f = fopen(path, "wb");
    fwrite(buf, 1, 30, f);
    fclose(f);
    cr_expect_eq(qn_st_open(path, &st, err, sizeof err), 2);
    snprintf(want, sizeof want, "%s: header length %zu runs past the end of the file (30 bytes)", path, len - 12);
    cr_expect_str_eq(err, want);
    /* the whole file opens */
    f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    cr_assert_eq(qn_st_open(path, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.ntensors, 1);
    qn_st_close(&st);
    unlink(path);
    rmdir(dir);
}
