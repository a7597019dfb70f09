/* protocol.c: packing of trial results for the trip from a worker to the coordinator. */
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t id;
    int32_t status, nmetrics, ncurves, has_checkpoint;
    uint32_t flags, reserved; /* QN_RESULT_* */
    double wall_s;
    uint64_t checkpoint_len;
    char error[QN_ERR_LEN];
} result_header;

typedef struct {
    char name[QN_NAME_LEN];
    int64_t n;
} curve_header;

void *qn_result_pack(int64_t id, const qn_trial_result *r, size_t *len) { return qn_result_pack_flags(id, r, 0, len); }

void *qn_result_pack_flags(int64_t id, const qn_trial_result *r, uint32_t flags, size_t *len) {
    size_t size = sizeof(result_header) + (size_t)r->nmetrics * sizeof(qn_metric);
    for (int i = 0; i < r->ncurves; i++) size += sizeof(curve_header) + (size_t)r->curves[i].n * sizeof(float);
    char *buf = malloc(size);
    if (!buf) return NULL;
    result_header h = {0};
    h.id = id;
    h.status = (int32_t)r->status;
    h.nmetrics = r->nmetrics;
    h.ncurves = r->ncurves;
    h.flags = flags;
    h.has_checkpoint = r->checkpoint != NULL && r->checkpoint_len > 0;
    h.checkpoint_len = r->checkpoint_len;
    h.wall_s = r->wall_s;
    memcpy(h.error, r->error, sizeof h.error);
    h.error[QN_ERR_LEN - 1] = 0;
    char *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    memcpy(p, r->metrics, (size_t)r->nmetrics * sizeof(qn_metric));
    p += (size_t)r->nmetrics * sizeof(qn_metric);
    for (int i = 0; i < r->ncurves; i++) {
        curve_header c = {0};
        memcpy(c.name, r->curves[i].name, sizeof c.name);
        c.n = r->curves[i].n;
        memcpy(p, &c, sizeof c);
        p += sizeof c;
        if (c.n) memcpy(p, r->curves[i].values, (size_t)c.n * sizeof(float));
        p += (size_t)c.n * sizeof(float);
    }
    *len = size;
    return buf;
}

int qn_result_unpack(const void *buf, size_t len, int64_t *id, qn_trial_result *r) {
    return qn_result_unpack_flags(buf, len, id, r, NULL);
}

int qn_result_unpack_flags(const void *buf, size_t len, int64_t *id, qn_trial_result *r, uint32_t *flags) {
    memset(r, 0, sizeof *r);
    if (flags) *flags = 0;
    const char *p = buf, *end = p + len;
    result_header h;
    if (len < sizeof h) return -1;
    memcpy(&h, p, sizeof h);
    p += sizeof h;
    if (h.nmetrics < 0 || h.nmetrics > QN_MAX_METRICS || h.ncurves < 0 || h.ncurves > QN_MAX_CURVES) return -1;
    if ((size_t)(end - p) < (size_t)h.nmetrics * sizeof(qn_metric)) return -1;
    *id = h.id;
    if (flags) *flags = h.flags;
    r->status = h.status == QN_TRIAL_DONE ? QN_TRIAL_DONE : QN_TRIAL_FAILED;
    r->nmetrics = h.nmetrics;
    r->wall_s = h.wall_s;
    memcpy(r->error, h.error, sizeof r->error);
    r->error[QN_ERR_LEN - 1] = 0;
    memcpy(r->metrics, p, (size_t)h.nmetrics * sizeof(qn_metric));
    p += (size_t)h.nmetrics * sizeof(qn_metric);
    for (int i = 0; i < h.ncurves; i++) {
        curve_header c;
        if ((size_t)(end - p) < sizeof c) goto bad;
        memcpy(&c, p, sizeof c);
        p += sizeof c;
        if (c.n < 0 || (size_t)(end - p) / sizeof(float) < (size_t)c.n) goto bad;
        qn_curve *dst = &r->curves[i];
        memcpy(dst->name, c.name, sizeof dst->name);
        dst->name[QN_NAME_LEN - 1] = 0;
        dst->n = (int)c.n;
        dst->values = malloc(c.n ? (size_t)c.n * sizeof(float) : 1);
        if (!dst->values) goto bad;
        if (c.n) memcpy(dst->values, p, (size_t)c.n * sizeof(float));
        p += (size_t)c.n * sizeof(float);
        r->ncurves = i + 1;
    }
    /* The checkpoint itself follows in its own message; remember its size. */
    r->checkpoint_len = h.has_checkpoint ? h.checkpoint_len : 0;
    return 0;
bad:
    for (int i = 0; i < r->ncurves; i++) free(r->curves[i].values);
    r->ncurves = 0;
    return -1;
}
