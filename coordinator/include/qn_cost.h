/* qn_cost.h: what a trial costs on a kind of device, before it runs: its peak device memory, its
 * floating-point work, and whether the device can run its formats at all. The scheduler
 * (qn_placement.h) places trials with these figures; `quench bench schedule` simulates with them.
 *
 * Contract (docs/benchmarks.md has the formulas):
 *  - memory = 16 B per parameter (fp32 params, grads, two AdamW moments) + 4 B per Linear weight
 *    when quantized (its fake-quant copy) + fp32 activations of one batch of batch_size x max_len
 *    tokens as the models keep them (worker/bert.h), + their fake-quant copies when quantized.
 *  - flops: 6 x matmul params x tokens per trained example, 2 x per evaluated one, + attention's
 *    T^2 terms; embeddings are lookups, not matmuls, so they count for memory only.
 *  - A device refuses a trial that does not fit its memory, or that needs bf16 on a device without
 *    bf16 (Turing). FP8 formats run everywhere but at half speed below sm_89 (emulated).
 */
#ifndef QN_COST_H
#define QN_COST_H

#include <stddef.h>

#include "qn_device.h"
#include "qn_job.h"

typedef struct {
    char name[16];        /* as written in --cluster: "l40s", "rtx8000", "rtx2080ti", "h200", "cpu" */
    char label[96];       /* "NVIDIA L40S" */
    int cc_major, cc_minor;
    double memory_bytes;
    double peak_flops;    /* fp32 FLOP/s */
    double efficiency;    /* fraction of peak_flops a small-BERT training step reaches */
    int bf16, fp8;        /* native support */
} qn_device_kind;

/* The table of known GPUs; NULL for an unknown name. */
const qn_device_kind *qn_device_kind_find(const char *name);
int qn_device_kind_count(void);
const qn_device_kind *qn_device_kind_at(int i);
/* A kind from a worker's measured profile (the CPU, or a GPU not in the table). The CPU offers bf16
 * (it emulates every format). */
void qn_device_kind_from_profile(const qn_device_profile *p, qn_device_kind *out);
/* The name device.kind uses for a kind: its --cluster name ("l40s") when its device is one of the
 * table's, "cpu" for the CPU backend, else the device's own name. Returns buf. */
const char *qn_device_kind_id(const qn_device_kind *k, char *buf, size_t len);
/* --cluster SPEC, "8xl40s,4xrtx8000": up to max groups of known kinds and their counts. 0, or -1 with
 * a one-line message. */
int qn_cluster_parse(const char *spec, const qn_device_kind **kinds, int *count, int max, int *nkinds, char *err,
                     size_t errlen);

typedef struct {
    double params;        /* floats in the parameter buffer */
    double matmul_params; /* of which Linear weights and biases */
    double memory_bytes;  /* peak device memory */
    double flops;         /* all steps of the trial */
    int needs_bf16;       /* a bf16 format somewhere */
    int uses_fp8;         /* an FP8-like format somewhere (E4M3/E5M2 minifloat or mxfp) */
    char device_kind[96]; /* device.kind: runs only on that kind (qn_device_kind_id); "" anywhere */
} qn_trial_cost;

/* The cost of a finished configuration running `steps` (a stage's run: list). 0, or -1 with a message
 * (unknown architecture, a pretrained model whose config cannot be read). */
int qn_trial_cost_estimate(const qn_trial_config *cfg, const qn_step *steps, int nsteps, qn_trial_cost *out,
                           char *err, size_t errlen);
/* Can `kind` run the trial at all (memory, bf16)? 1, or 0 with the reason in why. */
int qn_trial_fits(const qn_trial_cost *c, const qn_device_kind *kind, char *why, size_t whylen);
/* Does the trial fit none of the n kinds? 1 with the reason, naming the kinds `what` ("needs 23.4 GB
 * of device memory; the largest device in the cluster (rtx2080ti) has 11.0 GB"), 0 when one fits. */
int qn_trial_fits_none(const qn_trial_cost *c, const qn_device_kind *kinds, int n, const char *what, char *why,
                       size_t whylen);
/* Seconds the trial takes on `kind`, or -1 with the reason in why ("needs 20.1 GB, the device has 11.0 GB"). */
double qn_trial_seconds(const qn_trial_cost *c, const qn_device_kind *kind, char *why, size_t whylen);

#endif
