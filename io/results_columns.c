/* results_columns.c: extendible 1-D column datasets and attributes in HDF5. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "results_internal.h"

#define CHUNK_ROWS 256

/* String columns are fixed-length, NUL-padded UTF-8: their bytes live in the column's chunks.
 * Variable-length strings would live in the global heap, and a writer killed mid-flush can leave
 * a heap reference behind that HDF5 then fails to free when the row is written again on resume. */
static size_t str_width(const char *name) { return strcmp(name, "error") == 0 ? 512 : 128; }

static hid_t fixed_str_type(size_t width) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, width);
    H5Tset_cset(t, H5T_CSET_UTF8);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    return t;
}

/* Copy at most width bytes of s into out (zero-filled), never cutting a UTF-8 sequence. */
static void fit_utf8(const char *s, char *out, size_t width) {
    size_t n = strlen(s);
    if (n > width) {
        n = width;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--; /* s[n] continues a sequence */
    }
    memset(out, 0, width);
    memcpy(out, s, n);
}

static hid_t native(qn_results *r, qn_col_type t) {
    switch (t) {
    case QN_COL_I64: return H5T_NATIVE_INT64;
    case QN_COL_I32: return H5T_NATIVE_INT32;
    case QN_COL_F64: return H5T_NATIVE_DOUBLE;
    case QN_COL_STR: return r->str_type;
    }
    return H5T_NATIVE_DOUBLE;
}

qn_col_type qn_col_type_of(hid_t ds) {
    hid_t t = H5Dget_type(ds);
    qn_col_type out = QN_COL_F64;
    H5T_class_t c = H5Tget_class(t);
    if (c == H5T_STRING)
        out = QN_COL_STR;
    else if (c == H5T_INTEGER)
        out = H5Tget_size(t) == 8 ? QN_COL_I64 : QN_COL_I32;
    H5Tclose(t);
    return out;
}

int64_t qn_col_length(hid_t ds) {
    hid_t sp = H5Dget_space(ds);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    return (int64_t)n;
}

int qn_col_set_length(hid_t ds, int64_t n) {
    hsize_t dims = (hsize_t)n;
    return H5Dset_extent(ds, &dims) < 0 ? -1 : 0;
}

static int put(hid_t ds, int64_t row, hid_t memtype, const void *value) {
    if (qn_col_length(ds) <= row && qn_col_set_length(ds, row + 1) != 0) return -1;
    hid_t fs = H5Dget_space(ds);
    hsize_t start = (hsize_t)row, count = 1;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    hid_t ms = H5Screate_simple(1, &count, NULL);
    herr_t rc = H5Dwrite(ds, memtype, ms, fs, H5P_DEFAULT, value);
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

int qn_col_put_rows(qn_results *r, hid_t ds, int64_t row, int64_t n, qn_col_type type, const void *values) {
    if (n <= 0) return 0;
    if (qn_col_length(ds) < row + n && qn_col_set_length(ds, row + n) != 0) return -1;
    qn_col_type col = qn_col_type_of(ds);
    hid_t memtype = col == QN_COL_STR ? H5Dget_type(ds) : native(r, col);
    void *buf = NULL;
    size_t width = col == QN_COL_STR ? H5Tget_size(memtype) : 8;
    if (col == QN_COL_STR && type != QN_COL_STR) {
        H5Tclose(memtype);
        return -1; /* callers format numbers for string columns */
    }
    if (col == QN_COL_STR && H5Tis_variable_str(memtype) > 0) {
        /* files of older versions: variable-length strings, written as pointers */
        H5Tclose(memtype);
        memtype = H5Tcopy(r->str_type);
        buf = malloc((size_t)n * sizeof(char *) + 1);
        for (int64_t i = 0; buf && i < n; i++) {
            const char *s = ((const char *const *)values)[i];
            ((const char **)buf)[i] = s ? s : "";
        }
    } else if (col == QN_COL_STR) {
        buf = malloc((size_t)n * width + 1);
        for (int64_t i = 0; buf && i < n; i++) {
            const char *s = ((const char *const *)values)[i];
            fit_utf8(s ? s : "", (char *)buf + (size_t)i * width, width);
        }
    } else if (type == QN_COL_STR) {
        return -1;
    } else {
        /* convert to the column's own type */
        buf = malloc((size_t)n * 8 + 1);
        for (int64_t i = 0; buf && i < n; i++) {
            double x = type == QN_COL_F64 ? ((const double *)values)[i]
                       : type == QN_COL_I64 ? (double)((const int64_t *)values)[i]
                                            : (double)((const int32_t *)values)[i];
            if (col == QN_COL_F64) ((double *)buf)[i] = x;
            else if (col == QN_COL_I64) ((int64_t *)buf)[i] = type == QN_COL_I64 ? ((const int64_t *)values)[i] : (int64_t)x;
            else ((int32_t *)buf)[i] = (int32_t)x;
        }
    }
    int rc = -1;
    if (buf) {
        hid_t fs = H5Dget_space(ds);
        hsize_t start = (hsize_t)row, count = (hsize_t)n;
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        hid_t ms = H5Screate_simple(1, &count, NULL);
        rc = H5Dwrite(ds, memtype, ms, fs, H5P_DEFAULT, buf) < 0 ? -1 : 0;
        H5Sclose(ms);
        H5Sclose(fs);
        free(buf);
    }
    if (col == QN_COL_STR) H5Tclose(memtype);
    return rc;
}

int qn_col_read_rows(hid_t ds, int64_t row, int64_t n, hid_t memtype, void *out) {
    if (n == 0) return 0;
    if (row < 0 || n < 0 || row + n > qn_col_length(ds)) return -1;
    hid_t fs = H5Dget_space(ds);
    hsize_t start = (hsize_t)row, count = (hsize_t)n;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    hid_t ms = H5Screate_simple(1, &count, NULL);
    herr_t rc = H5Dread(ds, memtype, ms, fs, H5P_DEFAULT, out);
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

static int get(hid_t ds, int64_t row, hid_t memtype, void *value) { return qn_col_read_rows(ds, row, 1, memtype, value); }

int qn_col_put_i64(hid_t ds, int64_t row, int64_t v) { return put(ds, row, H5T_NATIVE_INT64, &v); }
int qn_col_put_i32(hid_t ds, int64_t row, int32_t v) { return put(ds, row, H5T_NATIVE_INT32, &v); }
int qn_col_put_f64(hid_t ds, int64_t row, double v) { return put(ds, row, H5T_NATIVE_DOUBLE, &v); }
int qn_col_put_str(qn_results *r, hid_t ds, int64_t row, const char *s) {
    const char *p = s ? s : "";
    hid_t t = H5Dget_type(ds);
    int rc;
    if (H5Tis_variable_str(t) > 0) {
        rc = put(ds, row, r->str_type, &p);
    } else {
        size_t width = H5Tget_size(t);
        char *buf = malloc(width ? width : 1);
        rc = -1;
        if (buf) {
            fit_utf8(p, buf, width);
            rc = put(ds, row, t, buf);
            free(buf);
        }
    }
    H5Tclose(t);
    return rc;
}

int qn_col_put_missing(qn_results *r, hid_t ds, int64_t row) {
    switch (qn_col_type_of(ds)) {
    case QN_COL_STR: return qn_col_put_str(r, ds, row, "");
    case QN_COL_I64: return qn_col_put_i64(ds, row, -1);
    case QN_COL_I32: return qn_col_put_i32(ds, row, -1);
    case QN_COL_F64: return qn_col_put_f64(ds, row, NAN);
    }
    return -1;
}

int qn_col_get_i64(hid_t ds, int64_t row, int64_t *v) { return get(ds, row, H5T_NATIVE_INT64, v); }
int qn_col_get_f64(hid_t ds, int64_t row, double *v) { return get(ds, row, H5T_NATIVE_DOUBLE, v); }

int qn_col_get_str(qn_results *r, hid_t ds, int64_t row, char *buf, size_t len) {
    buf[0] = 0;
    if (qn_col_type_of(ds) != QN_COL_STR) {
        double x;
        if (get(ds, row, H5T_NATIVE_DOUBLE, &x) != 0) return -1;
        snprintf(buf, len, "%.12g", x);
        return 0;
    }
    hid_t t = H5Dget_type(ds);
    int rc = -1;
    if (H5Tis_variable_str(t) > 0) {
        char *p = NULL;
        rc = get(ds, row, r->str_type, &p);
        if (rc == 0) snprintf(buf, len, "%s", p ? p : "");
        H5free_memory(p);
    } else {
        size_t width = H5Tget_size(t);
        char *tmp = calloc(width + 1, 1);
        if (tmp && (rc = get(ds, row, t, tmp)) == 0) snprintf(buf, len, "%s", tmp);
        free(tmp);
    }
    H5Tclose(t);
    return rc;
}

hid_t qn_col_open(qn_results *r, hid_t group, const char *name, qn_col_type type, int64_t rows) {
    if (H5Lexists(group, name, H5P_DEFAULT) > 0) return H5Dopen2(group, name, H5P_DEFAULT);
    hsize_t dims = 0, maxdims = H5S_UNLIMITED, chunk = CHUNK_ROWS;
    hid_t sp = H5Screate_simple(1, &dims, &maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t str = type == QN_COL_STR ? fixed_str_type(str_width(name)) : H5I_INVALID_HID;
    hid_t ftype = type == QN_COL_I64   ? H5T_STD_I64LE
                  : type == QN_COL_I32 ? H5T_STD_I32LE
                  : type == QN_COL_F64 ? H5T_IEEE_F64LE
                                       : str;
    hid_t ds = H5Dcreate2(group, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (str >= 0) H5Tclose(str);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (ds < 0) return ds;
    for (int64_t i = 0; i < rows; i++)
        if (qn_col_put_missing(r, ds, i) != 0) {
            H5Dclose(ds);
            return -1;
        }
    (void)native;
    return ds;
}

/* Columns may be longer than `rows` after a crash in the middle of an append: trim them. */
int qn_group_trim(hid_t g, int64_t rows) {
    char **names;
    int n = qn_group_datasets(g, &names);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        hid_t ds = H5Dopen2(g, names[i], H5P_DEFAULT);
        if (ds < 0) continue;
        int64_t len = qn_col_length(ds);
        if (len > rows) bad |= qn_col_set_length(ds, rows);
        else if (len < rows) bad = 1;
        H5Dclose(ds);
    }
    qn_names_free(names, n);
    return bad ? -1 : 0;
}

/* ---------------------------------------------------------------- attributes */

static hid_t attr_replace(hid_t obj, const char *name, hid_t type, hid_t space) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    return H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
}

int qn_attr_put_str(qn_results *r, hid_t obj, const char *name, const char *value) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = attr_replace(obj, name, r->str_type, sp);
    const char *p = value ? value : "";
    herr_t rc = a < 0 ? -1 : H5Awrite(a, r->str_type, &p);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

/* A numeric attribute that exists is rewritten in place: the object header keeps its shape. */
static hid_t attr_numeric(hid_t obj, const char *name, hid_t type, hid_t space) {
    if (H5Aexists(obj, name) > 0) {
        hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
        hid_t t = a < 0 ? H5I_INVALID_HID : H5Aget_type(a);
        int same = t >= 0 && H5Tequal(t, type) > 0;
        if (t >= 0) H5Tclose(t);
        if (same) return a;
        if (a >= 0) H5Aclose(a);
    }
    return attr_replace(obj, name, type, space);
}

int qn_attr_put_i64(hid_t obj, const char *name, int64_t value) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = attr_numeric(obj, name, H5T_STD_I64LE, sp);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT64, &value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

int qn_attr_put_f64(hid_t obj, const char *name, double value) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = attr_numeric(obj, name, H5T_IEEE_F64LE, sp);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_DOUBLE, &value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

char *qn_attr_get_str(hid_t obj, const char *name) {
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t t = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(t) == H5T_STRING) {
        if (H5Tis_variable_str(t) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            char *p = NULL;
            if (H5Aread(a, mt, &p) >= 0 && p) {
                out = strdup(p);
                H5free_memory(p);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(t);
            out = calloc(n + 1, 1);
            if (out && H5Aread(a, t, out) < 0) {
                free(out);
                out = NULL;
            }
        }
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

int qn_attr_get_i64(hid_t obj, const char *name, int64_t *value) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Aread(a, H5T_NATIVE_INT64, value);
    if (a >= 0) H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

int qn_attr_get_f64(hid_t obj, const char *name, double *value) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Aread(a, H5T_NATIVE_DOUBLE, value);
    if (a >= 0) H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- listing */

typedef struct {
    char **names;
    int n, cap;
} name_list;

static herr_t collect(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    name_list *l = data;
    H5O_info_t oi;
    if (H5Oget_info_by_name2(group, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **nn = realloc(l->names, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        l->names = nn;
        l->cap = cap;
    }
    l->names[l->n++] = strdup(name);
    return 0;
}

int qn_group_datasets(hid_t group, char ***names) {
    name_list l = {0};
    hsize_t idx = 0;
    /* Creation order when the group tracks it, else names in order. */
    if (H5Literate(group, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect, &l) < 0) {
        qn_names_free(l.names, l.n);
        l = (name_list){0};
        idx = 0;
        H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, collect, &l);
    }
    *names = l.names;
    return l.n;
}

void qn_names_free(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}
