/* results_checkpoint.c: /trial/<id>/checkpoint in the results file: one dataset per tensor in its
 * packed form, row scales under scale/, the float parameter buffer as `master` when a later stage
 * starts from the trial (layout in docs/results-format.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_checkpoint.h"
#include "results_internal.h"

static int put_i64_array(hid_t obj, const char *name, const int64_t *v, int n) {
    hsize_t dims = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dims, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT64, v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

static int write_array(hid_t g, const char *name, hid_t file_type, hid_t mem_type, int ndim, const hsize_t *dims,
                       const void *data) {
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t ds = H5Dcreate2(g, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = 1;
    for (int d = 0; d < ndim; d++) n *= dims[d];
    int bad = ds < 0 || (n && H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return bad ? -1 : 0;
}

static int write_tensor(qn_results *r, hid_t g, hid_t scales, const qn_ckpt_tensor *t) {
    int bad;
    if (t->enc == QN_ENC_FLOAT32) {
        hsize_t dims[2] = {(hsize_t)t->shape[0], (hsize_t)(t->ndim == 2 ? t->shape[1] : 1)};
        bad = write_array(g, t->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, dims, t->values);
    } else {
        hsize_t nbytes = (hsize_t)((qn_ckpt_numel(t) * t->width + 7) / 8);
        bad = write_array(g, t->name, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &nbytes, t->codes);
        if (!bad && t->scale) {
            hsize_t rows = (hsize_t)qn_ckpt_rows(t);
            bad = write_array(scales, t->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &rows, t->scale);
        }
    }
    hid_t ds = bad ? -1 : H5Dopen2(g, t->name, H5P_DEFAULT);
    if (ds < 0) return -1;
    bad |= qn_attr_put_str(r, ds, "encoding", qn_encoding_name(t->enc));
    bad |= qn_attr_put_str(r, ds, "format", t->format);
    bad |= put_i64_array(ds, "shape", t->shape, t->ndim);
    bad |= qn_attr_put_i64(ds, "offset", t->offset);
    if (t->enc != QN_ENC_FLOAT32) bad |= qn_attr_put_i64(ds, "width", t->width);
    if (t->enc == QN_ENC_FIXED) bad |= qn_attr_put_i64(ds, "frac_width", t->frac_width);
    if (t->enc == QN_ENC_BINARY) bad |= qn_attr_put_i64(ds, "bipolar", t->bipolar);
    H5Dclose(ds);
    return bad ? -1 : 0;
}

int qn_results_write_ckpt(qn_results *r, hid_t trial_group, const qn_ckpt *c) {
    hid_t g = qn_group_create(trial_group, "checkpoint");
    if (g < 0) return -1;
    int bad = qn_attr_put_str(r, g, "arch", c->arch) | qn_attr_put_i64(g, "nparams", c->nparams);
    hid_t scales = -1;
    for (int i = 0; i < c->ntensors && !bad; i++) {
        if (c->tensors[i].scale && scales < 0) bad |= (scales = qn_group_create(g, "scale")) < 0;
        if (!bad) bad |= write_tensor(r, g, scales, &c->tensors[i]);
    }
    if (!bad && c->master) {
        hsize_t n = (hsize_t)c->nparams;
        bad |= write_array(g, "master", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, c->master);
    }
    if (scales >= 0) H5Gclose(scales);
    H5Gclose(g);
    return bad ? -1 : 0;
}

/* ---------------------------------------------------------------- reading */

static hid_t open_ckpt(const qn_results *r, int64_t id) {
    char name[64];
    snprintf(name, sizeof name, "/trial/%lld", (long long)id);
    if (H5Lexists(r->file, "/trial", H5P_DEFAULT) <= 0 || H5Lexists(r->file, name, H5P_DEFAULT) <= 0) return -1;
    snprintf(name, sizeof name, "/trial/%lld/checkpoint", (long long)id);
    if (H5Lexists(r->file, name, H5P_DEFAULT) <= 0) return -1;
    return H5Gopen2(r->file, name, H5P_DEFAULT);
}

int qn_results_has_checkpoint(const qn_results *r, int64_t id, int *has_master) {
    hid_t g = open_ckpt(r, id);
    if (has_master) *has_master = 0;
    if (g < 0) return 0;
    if (has_master) *has_master = H5Lexists(g, "master", H5P_DEFAULT) > 0 || H5Lexists(g, "params", H5P_DEFAULT) > 0;
    H5Gclose(g);
    return 1;
}

int qn_results_drop_master(qn_results *r, int64_t id) {
    hid_t g = open_ckpt(r, id);
    if (g < 0) return 0;
    int rc = 0;
    if (H5Lexists(g, "master", H5P_DEFAULT) > 0) rc = H5Ldelete(g, "master", H5P_DEFAULT) < 0 ? -1 : 0;
    H5Gclose(g);
    return rc;
}

static float *read_floats(hid_t g, const char *name, int64_t *n) {
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds < 0) return NULL;
    hid_t sp = H5Dget_space(ds);
    hssize_t count = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    float *b = count >= 0 ? malloc((size_t)count * sizeof(float) + 1) : NULL;
    if (b && count > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) < 0) {
        free(b);
        b = NULL;
    }
    H5Dclose(ds);
    *n = count;
    return b;
}

static int read_tensor(qn_results *r, hid_t g, hid_t scales, const char *name, qn_ckpt_tensor *t, char *err,
                       size_t errlen) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    char *enc = qn_attr_get_str(ds, "encoding"), *format = qn_attr_get_str(ds, "format");
    int e = enc ? qn_encoding_of(enc) : -1;
    int64_t w = 32, f = 0, bip = 0;
    int bad = e < 0 || qn_attr_get_i64(ds, "offset", &t->offset) != 0;
    snprintf(t->format, sizeof t->format, "%s", format ? format : "none");
    free(enc), free(format);
    if (!bad && H5Aexists(ds, "shape") > 0) {
        hid_t a = H5Aopen(ds, "shape", H5P_DEFAULT);
        hid_t sp = H5Aget_space(a);
        hssize_t nd = H5Sget_simple_extent_npoints(sp);
        bad |= nd < 1 || nd > 2 || H5Aread(a, H5T_NATIVE_INT64, t->shape) < 0;
        t->ndim = (int)nd;
        H5Sclose(sp), H5Aclose(a);
    } else {
        bad = 1;
    }
    if (!bad && e != QN_ENC_FLOAT32) {
        bad |= qn_attr_get_i64(ds, "width", &w) != 0 || w < 1 || w > 32;
        if (e == QN_ENC_FIXED) bad |= qn_attr_get_i64(ds, "frac_width", &f) != 0;
        if (e == QN_ENC_BINARY) qn_attr_get_i64(ds, "bipolar", &bip);
    }
    t->enc = (qn_encoding)(e < 0 ? 0 : e);
    t->width = (int)w, t->frac_width = (int)f, t->bipolar = (int)bip;
    int64_t numel = bad ? 0 : qn_ckpt_numel(t);
    if (!bad && t->enc == QN_ENC_FLOAT32) {
        int64_t n = 0;
        t->values = read_floats(g, name, &n);
        bad |= !t->values || n != numel;
    } else if (!bad) {
        hid_t sp = H5Dget_space(ds);
        hssize_t nbytes = H5Sget_simple_extent_npoints(sp);
        H5Sclose(sp);
        bad |= nbytes != (numel * t->width + 7) / 8;
        t->codes = bad ? NULL : malloc((size_t)nbytes + 1);
        bad |= !t->codes || (nbytes && H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->codes) < 0);
        if (!bad && (t->enc == QN_ENC_TERNARY || (t->enc == QN_ENC_BINARY && !t->bipolar))) {
            int64_t n = 0;
            t->scale = scales >= 0 && H5Lexists(scales, name, H5P_DEFAULT) > 0 ? read_floats(scales, name, &n) : NULL;
            bad |= !t->scale || n != qn_ckpt_rows(t);
        }
    }
    H5Dclose(ds);
    (void)r;
    if (bad) snprintf(err, errlen, "%s: checkpoint tensor '%s' is malformed", r->path, name);
    return bad ? -1 : 0;
}

int qn_results_read_ckpt(const qn_results *rc, int64_t id, qn_ckpt *out, char *err, size_t errlen) {
    qn_results *r = (qn_results *)rc;
    memset(out, 0, sizeof *out);
    hid_t g = open_ckpt(r, id);
    if (g < 0) {
        snprintf(err, errlen, "%s: trial %lld has no checkpoint", r->path, (long long)id);
        return -1;
    }
    char *arch = qn_attr_get_str(g, "arch");
    snprintf(out->arch, sizeof out->arch, "%s", arch ? arch : "");
    free(arch);
    qn_attr_get_i64(g, "nparams", &out->nparams);
    char **names;
    int n = qn_group_datasets(g, &names), bad = 0;
    hid_t scales = H5Lexists(g, "scale", H5P_DEFAULT) > 0 ? H5Gopen2(g, "scale", H5P_DEFAULT) : -1;
    out->tensors = calloc((size_t)n + 1, sizeof *out->tensors);
    bad = !out->tensors;
    for (int i = 0; i < n && !bad; i++) {
        if (!strcmp(names[i], "master") || !strcmp(names[i], "params")) {
            int64_t len = 0;
            out->master = read_floats(g, names[i], &len);
            bad |= !out->master;
            if (!out->nparams) out->nparams = len;
            bad |= len != out->nparams;
            if (bad) snprintf(err, errlen, "%s: /trial/%lld/checkpoint/%s is malformed", r->path, (long long)id, names[i]);
            continue;
        }
        bad |= read_tensor(r, g, scales, names[i], &out->tensors[out->ntensors], err, errlen) != 0;
        out->ntensors++;
    }
    qn_names_free(names, n);
    if (scales >= 0) H5Gclose(scales);
    H5Gclose(g);
    if (bad) {
        qn_ckpt_free(out);
        return -1;
    }
    return 0;
}

/* The float parameter buffer a child stage starts from: `master` (or `params`, as files written
 * before packed checkpoints hold it), else the tensors when every one is exact float32. */
int qn_results_read_checkpoint(const qn_results *r, int64_t id, float **buf, size_t *len) {
    qn_ckpt c;
    char err[QN_ERR_LEN];
    if (qn_results_read_ckpt(r, id, &c, err, sizeof err) != 0) return -1;
    int rc = 0;
    if (c.master) {
        *buf = c.master, *len = (size_t)c.nparams;
        c.master = NULL;
    } else {
        float *b = malloc((size_t)c.nparams * sizeof(float) + 1);
        int64_t covered = 0;
        rc = b && c.ntensors > 0 ? 0 : -1;
        for (int i = 0; i < c.ntensors && !rc; i++) {
            const qn_ckpt_tensor *t = &c.tensors[i];
            int64_t n = qn_ckpt_numel(t);
            if (t->enc != QN_ENC_FLOAT32 || strcmp(t->format, "none") != 0 || t->offset < 0 || t->offset + n > c.nparams) {
                rc = -1; /* quantized values only: not the float weights training goes on from */
                break;
            }
            memcpy(b + t->offset, t->values, (size_t)n * sizeof(float));
            covered += n;
        }
        if (!rc && covered != c.nparams) rc = -1;
        if (rc) free(b);
        else *buf = b, *len = (size_t)c.nparams;
    }
    qn_ckpt_free(&c);
    return rc;
}

char *qn_results_job_text(const qn_results *r) { return qn_attr_get_str(r->file, "job"); }

char *qn_results_plan_text(const qn_results *r) { return qn_attr_get_str(r->file, "plan"); }

int64_t qn_results_parent(const qn_results *r, int64_t row) {
    if (row < 0 || row >= r->rows) return -1;
    hid_t t = H5Gopen2(r->file, "trials", H5P_DEFAULT);
    hid_t ds = t < 0 || H5Lexists(t, "parent", H5P_DEFAULT) <= 0 ? -1 : H5Dopen2(t, "parent", H5P_DEFAULT);
    int64_t v = -1;
    if (ds < 0 || qn_col_get_i64(ds, row, &v) != 0) v = -1;
    if (ds >= 0) H5Dclose(ds);
    if (t >= 0) H5Gclose(t);
    return v;
}
