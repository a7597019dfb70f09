/* mlp.h: the fast test model, an MLP text classifier (llm.c style).
 *
 *   ids (B,T) -> embedding (V,E) -> mean over the tokens (B,E) -> fc1 (E->H) -> ReLU -> fc2 (H->C)
 *   -> softmax cross-entropy
 *
 * Parameters, gradients and the two AdamW moments each live in one contiguous buffer, tensors are
 * views into it; the parameter buffer is the checkpoint. The Linear layers are exposed as a list
 * so compression passes (fake quantization of data_in/weight/bias, pruning masks) act per layer.
 */
#ifndef QN_MLP_H
#define QN_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "linear.h"
#include "qn_formats.h"
#include "qn_job.h"
#include "qn_kernels.h"

#define QN_MLP_LAYERS 2

typedef struct {
    int V, E, H, C, max_batch, T;
    size_t nparams;
    float *params, *grads, *m, *v; /* (nparams) each */
    float *emb, *demb;      /* (V,E) views */
    qn_linear layers[QN_MLP_LAYERS];
    /* activations (B = max_batch) */
    float *pooled;          /* (B,E) */
    float *h1;              /* (B,H) pre-activation */
    float *r1;              /* (B,H) after ReLU */
    float *logits;          /* (B,C) */
    float *probs;           /* (B,C) */
    float *dlogits, *dr1, *dpooled; /* (B,C), (B,H), (B,E) */
    int quant_failed;       /* a fake quantization ran out of memory: the trial fails */
} qn_mlp;

/* Parameter count for this configuration and vocabulary. */
size_t qn_mlp_param_count(int V, int E, int H, int C);
/* Allocate; parameters are initialised from seed (PyTorch's defaults: N(0,1) embedding, Linear
 * U(-1/sqrt(in), 1/sqrt(in))). Returns NULL when out of memory. */
qn_mlp *qn_mlp_new(int V, int E, int H, int C, int max_batch, int T, uint64_t seed);
void qn_mlp_free(qn_mlp *m);
/* Set every layer's quantization (the trial's config applies to all Linear layers). Returns 0, or
 * -1 with a message when an operand's keys do not make a format (the job validator catches that first). */
int qn_mlp_set_quant(qn_mlp *m, const qn_quant_cfg *q, char *err, size_t errlen);

/* Forward on B examples: ids (B,T), lengths (B), labels (B) or NULL. Returns the mean loss (0 when
 * labels is NULL); probabilities are in m->probs. rng drives random activation masks. */
float qn_mlp_forward(qn_mlp *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                     qn_rng *rng);
/* Backward of the last forward (gradients are overwritten, not accumulated). */
void qn_mlp_backward(qn_mlp *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B);

#endif
