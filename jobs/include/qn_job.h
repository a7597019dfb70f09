/* qn_job.h: the job file (YAML) as C structures, its validation, and the plan of trials.
 *
 * Contract:
 *  - qn_job_load() parses and validates a job file completely (every trial of every stage is
 *    resolved once), so a job that loads never fails later for a reason visible in the file.
 *  - Errors are one line "FILE:LINE:COL: message" (1-based) in err; the caller prints
 *    "quench: " in front and exits 2.
 *  - A trial's configuration is the job's base configuration, then the parameters inherited from
 *    its parent trial (a `from:` stage), then its own grid parameters, applied as dotted paths
 *    ("quant.width", "train.lr", ...) by qn_config_set().
 *  - Trial ids are the trial's index in the plan: stages in file order, grid points in row-major
 *    order of the axes as written (last axis fastest). Trial seeds derive from the job seed and the
 *    trial id only.
 */
#ifndef QN_JOB_H
#define QN_JOB_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "qn_formats.h"

#define QN_ERR_LEN 512

typedef enum { QN_VAL_NUM = 0, QN_VAL_STR = 1 } qn_value_kind;

typedef struct {
    qn_value_kind kind;
    double num;  /* QN_VAL_NUM (integers too) */
    char *str;   /* QN_VAL_STR, owned */
} qn_value;

typedef struct {
    char *name;  /* dotted path, owned */
    qn_value value;
} qn_param;

/* Steps a stage runs, in order, on one trial. */
typedef enum {
    QN_STEP_TRAIN = 0,    /* train (with the trial's compression as fake-quant) -> curve train_loss, metric train_loss */
    QN_STEP_EVAL = 1,     /* evaluate -> accuracy, eval_loss */
    QN_STEP_PTQ_EVAL = 2, /* evaluate with quantization, no training -> ptq_accuracy, ptq_loss */
    QN_STEP_QAT = 3,      /* train with fake-quant, then evaluate -> qat_accuracy, qat_loss, curve train_loss */
    QN_STEP_PRUNE = 4,    /* compute and apply pruning masks -> weight_sparsity; activation masks act from then on */
    QN_STEP_QUANTIZE = 5, /* the trial's quantization acts from here on; without this step it acts from the start */
    QN_STEP_INFER = 6,    /* kind: inference only: load llm.model, generate, time it (worker/inference_trial.h) */
} qn_step;
#define QN_MAX_STEPS 8

typedef enum {
    QN_FROM_NONE = 0,
    QN_FROM_STAGE = 1, /* from: STAGE        (that stage's only trial) */
    QN_FROM_BEST = 2,  /* from: best(STAGE, METRIC[, max|min]) */
} qn_from_kind;

typedef struct {
    qn_from_kind kind;
    int stage;    /* index into qn_job.stages */
    char *metric; /* QN_FROM_BEST */
    int maximize; /* QN_FROM_BEST: 1 = larger is better */
} qn_from;

/* Which trials of a stage keep their checkpoint in the results file (trials that a later stage
 * starts from always keep theirs until it has started). */
typedef enum { QN_CKPT_BEST = 0, QN_CKPT_NONE = 1, QN_CKPT_ALL = 2 } qn_ckpt_policy;

/* How a search stage draws a parameter (W&B sweep names). */
typedef enum { QN_DIST_VALUES = 0, QN_DIST_UNIFORM, QN_DIST_LOG_UNIFORM, QN_DIST_INT_UNIFORM } qn_dist;

/* A grid axis, or a search stage's parameter: `values` (dist VALUES) or min/max. */
typedef struct {
    char *name;    /* dotted parameter path */
    int nvalues;
    qn_value *values;
    int line, col; /* where the axis is written, for error messages */
    qn_dist dist;  /* search stages only; grids are always VALUES */
    double low, high, q; /* UNIFORM, LOG_UNIFORM, INT_UNIFORM: inclusive bounds; q > 0 a step (0 none) */
    /* Search stages: active only when axis `parent` (an earlier VALUES axis; -1: always) is active and
     * at choice `parent_choice`. A `when:` with several choices, or under a conditional parent, is one
     * axis per (parent axis, choice), all with the same name: at most one of them is active. */
    int parent, parent_choice;
} qn_axis;

typedef enum { QN_SEARCH_NONE = 0, QN_SEARCH_GRID, QN_SEARCH_RANDOM, QN_SEARCH_TPE } qn_search_method;

typedef struct {
    char *name;
    char *kind;   /* "grid", "search" (a stage with method:) or "inference" (run: [infer], model.arch: llm) */
    qn_search_method method; /* search stages: the sampler; their axes are the parameters: */
    qn_from from;
    int nsteps;
    qn_step steps[QN_MAX_STEPS];
    char *metric; /* key metric: shown per trial, used for "best"; default: accuracy metric of the last step */
    int maximize;
    qn_ckpt_policy checkpoints; /* the stage's checkpoints:, else the job's train.checkpoints */
    int naxes;
    qn_axis *axes;
    int64_t ntrials;    /* product of the axis sizes (1 with no axes); search: trials (grid: at most its size) */
    int64_t first_trial;/* id of the stage's first trial */
    double trial_timeout_s; /* the stage's trial_timeout:, else the job's; 0: no limit */
    /* placement: each_device_kind (inference stages): 1 while the kinds are unknown (qn_job_load:
     * ntrials counts one kind), 2 once qn_job_load_kinds gave the last axis device.kind over them */
    int each_device_kind;
    int line, col;
} qn_stage;

/* Quantization of one operand of a Linear layer, by MASE's format names and keys
 * (docs/formats.md). name[0] == 0: not quantized. Plain data. */
enum {
    QN_QK_FRAC_WIDTH = 1 << 0,
    QN_QK_EXPONENT_WIDTH = 1 << 1,
    QN_QK_EXPONENT_BIAS = 1 << 2,
    QN_QK_EXPONENT_BIAS_WIDTH = 1 << 3,
    QN_QK_BLOCK_SIZE = 1 << 4,
    QN_QK_BIPOLAR = 1 << 5,
    QN_QK_SCALING_FACTOR = 1 << 6,
    QN_QK_DOUBLE_QUANT = 1 << 7,
    QN_QK_THRESHOLD = 1 << 8,
    QN_QK_NAME = 1 << 9,  /* name given (also "none"): a layer override of it starts from the format's defaults */
    QN_QK_WIDTH = 1 << 10,
};
typedef struct {
    char name[24];      /* "integer", "minifloat_ieee", "mxint", "nf4", ... */
    int width;          /* 0: not given */
    int frac_width;     /* resolved absolute bits */
    double frac_pct;    /* >= 0 when written as a percentage of width; resolved into frac_width */
    unsigned given;     /* QN_QK_* bits: which of the keys below the job gave */
    int exponent_width, exponent_bias, exponent_bias_width, block_size, bipolar, scaling_factor, double_quant;
    double threshold;
} qn_quant_operand;

typedef struct {
    qn_quant_operand data_in, weight, bias;
} qn_quant_cfg;

/* Pruning of one kind of tensor (MASE names). method[0] == 0: not pruned. */
typedef struct {
    char method[16];    /* "random" or "l1-norm" */
    char scope[8];      /* "local" (per layer) or "global" (one threshold over all layers) */
    double sparsity;    /* fraction to remove, in [0, 1] */
} qn_prune_target;

typedef struct {
    qn_prune_target weight, activation;
} qn_prune_cfg;

/* Per-layer overrides: the parameters layers.<LAYER>.quant.* and layers.<LAYER>.prune.*, where
 * LAYER is a Linear layer's name in the Hugging Face state dict without ".weight" ("fc1",
 * "bert.encoder.layer.0.attention.self.query", "classifier"; qn_linear_layer_name). A layer's
 * effective configuration is the trial's quant/prune with its override on top (qn_layer_config).
 * Plain data: at most QN_MAX_LAYER_OVERRIDES layers per trial. */
#define QN_MAX_LAYER_OVERRIDES 64
#define QN_LAYER_NAME_LEN 64
typedef struct {
    char layer[QN_LAYER_NAME_LEN];
    qn_quant_cfg quant; /* only the keys in each operand's `given` (QN_QK_NAME, QN_QK_WIDTH included) */
    qn_prune_cfg prune; /* method[0] / scope[0] == 0, sparsity < 0: not overridden */
} qn_layer_override;

typedef struct {
    char arch[16];      /* "mlp", "bert", "llm" (inference stages) or "null" (no model, no data: metrics from a hash) */
    char preset[16];    /* bert: "bert-tiny", "bert-mini", "bert-small" (sizes not given explicitly) */
    int embed_dim;      /* mlp: embedding size */
    int hidden_size;    /* mlp: hidden Linear width; bert: hidden size (0 in a job: the preset's) */
    int layers, heads, intermediate_size; /* bert: encoder layers, attention heads, FFN width (0: the preset's) */
    char pretrained[512]; /* bert: a Hugging Face directory to start from ("" : random init) */
    int num_labels;
} qn_model_cfg;

typedef struct {
    char dataset[32];   /* "synthetic-sentiment", "imdb", "csv", "tsv", "jsonl" */
    char path[512];     /* imdb: the aclImdb directory; csv/tsv/jsonl: a directory with train.* and test.* */
    char vocab[512];    /* vocab.txt for the file datasets ("": the pretrained model's) */
    int train_size, eval_size, max_len;
    double label_noise; /* fraction of training labels flipped */
} qn_data_cfg;

/* model.arch: llm, an inference stage's trial (docs/jobs.md "Inference stages"). Plain data. */
typedef struct {
    char model[512];      /* a Hugging Face directory (config.json, *.safetensors) */
    char precision[512];  /* "fp32", "fp16", "bf16", "w8a16", "int8", "nf4", "fp4", optionally ":key=value,..." */
    char keep[512];       /* comma-separated layer-name patterns kept in fp32; "lm_head" by default, "none": none */
    char prompt[512];     /* text (needs tokenizer.json in the model directory); "": llm.prompt_len random ids */
    int prompt_len;       /* random prompt ids (seeded by the trial) when there is no prompt text */
    int max_new_tokens, batch;
    char ignore_eos[8];   /* "false" (default): a sequence stops at its EOS, as transformers' generate; "true": never */
    char perplexity_file[512]; /* "" : no perplexity */
    int context, stride;  /* perplexity windows (tokens) */
} qn_llm_cfg;

typedef struct {
    char optimizer[16]; /* "adamw" */
    char checkpoints[8]; /* "none", "best", "all": the default of every stage's checkpoints: */
    char lr_schedule[12]; /* "constant", "linear", "cosine" (Hugging Face's schedules) */
    char weight_decay_params[8]; /* "trainer": no decay of biases and LayerNorm parameters (Hugging Face's
                                  * Trainer); "all": every parameter (torch.optim.AdamW(model.parameters())) */
    int epochs, batch_size;
    double lr, weight_decay, beta1, beta2, eps;
    double warmup_ratio; /* the fraction of a train step's updates that warm the rate up from 0 */
    int devices;        /* workers of one kind that train a trial data-parallel (worker/gradsync.c), 1.. */
} qn_train_cfg;

/* debug: faults and delays injected into a trial, for testing fault handling and benchmarking
 * dispatch (docs/jobs.md). */
typedef enum { QN_FAULT_NONE = 0, QN_FAULT_SEGV, QN_FAULT_ABORT, QN_FAULT_HANG, QN_FAULT_NAN } qn_fault;
typedef struct {
    char fault[8];      /* "none", "segv", "abort", "hang", "nan" */
    double sleep_ms;    /* the trial sleeps this long (>= 0) */
} qn_debug_cfg;
/* debug.fault's name to a qn_fault (QN_FAULT_NONE for anything unknown). */
qn_fault qn_fault_of(const char *name);

/* Everything a worker needs to run one trial, fully resolved. Plain data: safe to memcpy. */
typedef struct {
    qn_model_cfg model;
    qn_data_cfg data;
    qn_train_cfg train;
    qn_quant_cfg quant;
    qn_prune_cfg prune;
    qn_debug_cfg debug;
    qn_llm_cfg llm;
    /* device.kind: the kind of worker the trial runs on ("cpu", "l40s", ... qn_device_kind_id); "" any.
     * Inference stages only: a grid axis over it makes one trial per kind (docs/jobs.md). */
    struct { char kind[512]; } device;
    int nlayers;        /* layers[0..nlayers) override quant/prune for one Linear layer each */
    /* last: a message carries only the nlayers used (coordinator/protocol.h, qn_trial_msg_len) */
    qn_layer_override layers[QN_MAX_LAYER_OVERRIDES];
} qn_trial_config;

typedef struct {
    char *path;         /* the job file as given */
    char *text;         /* the file's full text */
    char *name;
    uint64_t seed;
    qn_trial_config base; /* model, data, train, quant sections with defaults applied */
    int nstages;
    qn_stage *stages;
    int64_t ntrials;    /* sum over stages */
    double trial_timeout_s; /* the job's trial_timeout: (seconds, 0: no limit); stages resolve theirs */
} qn_job;

typedef struct {
    int64_t id;
    int stage;
    uint64_t seed;
    int nparams;
    qn_param *params;   /* the trial's own grid parameters, in axis order (none for a search stage: */
} qn_trial;             /* the coordinator gets them from the sampler, qn_search_params) */

/* Parse and validate a job file. Returns 0 and fills *job, or -1 with err set. */
int qn_job_load(const char *path, qn_job *job, char *err, size_t errlen);
/* The same from text already in memory (path used for messages). */
int qn_job_load_text(const char *path, const char *text, size_t len, qn_job *job, char *err, size_t errlen);
/* qn_job_load with the device kinds present (names as device.kind takes them; any order, repeats
 * allowed): each stage with placement: each_device_kind gets a last grid axis device.kind over them,
 * sorted, exactly as if written, so trial ids, rows and the plan text follow from it. */
int qn_job_load_kinds(const char *path, const char *const *kinds, int nkinds, qn_job *job, char *err, size_t errlen);
/* 1 if some stage has placement: each_device_kind. */
int qn_job_has_each_device_kind(const qn_job *job);
/* The kinds a plan text (qn_job_plan_text) expanded placement: each_device_kind on, sorted: 0 with
 * *kinds (malloc'd strings in a malloc'd array, qn_kinds_free) and *n; -1 when it has none. */
int qn_plan_device_kinds(const char *plan, char ***kinds, int *n);
void qn_kinds_free(char **kinds, int n);
void qn_job_free(qn_job *job);

/* Trial `id` of the plan (0 <= id < job->ntrials). Returns 0, or -1 if out of range. Free with qn_trial_free. */
int qn_job_trial(const qn_job *job, int64_t id, qn_trial *out);
void qn_trial_free(qn_trial *t);

/* A search stage's point x (one double per axis in the sampler's units: a VALUES axis's choice index,
 * else the number; NAN = absent) as the trial's parameters, replacing t->params. An axis whose
 * condition (parent) does not hold is absent whatever x says. 0, or -1 (memory). */
int qn_search_params(const qn_stage *st, const double *x, qn_trial *t);
/* The sampler name of a method ("grid", "random", "tpe"); "" for none. */
const char *qn_search_method_name(qn_search_method m);

/* Seed of trial `id`: a hash of the job seed and the id (never of the rank that runs it). */
uint64_t qn_trial_seed(uint64_t job_seed, int64_t id);

/* The number format of a quantized operand (its MASE defaults filled in). Returns 0, or -1 with a
 * message when the keys do not fit the format. Needs kernels' qn_formats.h. */
int qn_quant_operand_format(const qn_quant_operand *op, qn_format *format, char *err, size_t errlen);

/* Apply one dotted parameter to a configuration. Returns 0, or -1 with a message (no location) in err. */
int qn_config_set(qn_trial_config *cfg, const char *name, const qn_value *v, char *err, size_t errlen);
/* Resolve percentages and check ranges of a configuration. Returns 0 or -1 with a message. */
int qn_config_finish(qn_trial_config *cfg, char *err, size_t errlen);
/* Build a trial's configuration: base, then inherited params (may be NULL), then its own. */
int qn_trial_config_build(const qn_job *job, const qn_param *inherited, int ninherited,
                          const qn_trial *trial, qn_trial_config *out, char *err, size_t errlen);

/* Linear layer names: the Hugging Face state-dict names (without ".weight") of the Linear layers of
 * model.arch `arch` with `encoder_layers` encoder layers (bert; ignored for mlp), in the order the
 * models hold them (worker/model.h's linears, the checkpoint layout). Count, or 0 for an unknown arch. */
int qn_linear_layer_count(const char *arch, int encoder_layers);
/* Name of Linear layer i into buf; returns buf, or NULL when i is out of range. */
char *qn_linear_layer_name(const char *arch, int encoder_layers, int i, char *buf, size_t len);
/* The effective quantization and pruning of Linear layer `layer` of a finished configuration: the
 * trial's own, with the layer's override on top; percentages of the width resolved. Returns 0, or
 * -1 with a message when the override does not fit the formats. */
int qn_layer_config(const qn_trial_config *cfg, const char *layer, qn_quant_cfg *quant, qn_prune_cfg *prune,
                    char *err, size_t errlen);
/* Whether any layer (globally or by an override) is quantized / pruned. */
int qn_config_any_quant(const qn_trial_config *cfg);
int qn_config_any_prune(const qn_trial_config *cfg);

/* "none", "best", "all" to a qn_ckpt_policy; -1 for anything else. */
int qn_ckpt_policy_of(const char *name);

/* Names. */
const char *qn_step_name(qn_step s);
/* The metric a step reports as its headline ("accuracy", "ptq_accuracy", "qat_accuracy", "train_loss"). */
const char *qn_step_metric(qn_step s);
/* Format a value for display ("8", "0.0005", "50%"): writes into buf, returns buf. */
char *qn_value_format(const qn_value *v, char *buf, size_t len);
/* Canonical text of the plan (stages, steps, axes, base config, seed): two jobs whose plans are
 * equal run the same trials. Used to refuse a --resume onto a changed job. Caller frees. */
char *qn_job_plan_text(const qn_job *job);

/* quench validate: print stages, trial counts and the plan to `out`. */
void qn_job_print_plan(const qn_job *job, FILE *out);

/* "Did you mean": the candidate closest to `word` by edit distance, or NULL if none is close. */
const char *qn_suggest(const char *word, const char *const *candidates, int n);

#endif
