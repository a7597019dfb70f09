/* bert_cuda.h: the BERT encoder classifier of bert.h on one GPU: a device-resident copy of a qn_bert
 * with the same parameter layout (params, grads and the AdamW moments each one device buffer, in
 * the host's state-dict order and offsets, so a download is a checkpoint of the host model and an
 * upload restores one), and the same forward, backward and AdamW step: cuBLAS for every product,
 * kernels/cuda/nn.cu for the rest, the CUDA formats and pruning masks for the Linear layers.
 *
 * The host qn_bert stays the model's description and must outlive the device copy: its config, its
 * Linear layers' formats, activation pruning and counters are read (and the counters updated) on
 * every forward; logits and probabilities land in host->logits and host->probs, quantization
 * failures in host->quant_failed, as after qn_bert_forward. Parameters move only through
 * upload/download.
 *
 * Every function returns 0, or -1 with a message in err (never NULL). Built without CUDA, new
 * reports that and the others are never reached.
 */
#ifndef QN_BERT_CUDA_H
#define QN_BERT_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "bert.h"

typedef struct qn_bert_cuda qn_bert_cuda;

/* Whether every Linear layer's formats and activation pruning have a CUDA path: 0, or -1 with
 * "... not supported on CUDA yet" (run the model on the CPU then). Check again after changing them. */
int qn_bert_cuda_supported(const qn_bert *host, char *err, size_t errlen);

/* A device copy of host's sizes on GPU `device` (zero parameters: upload next). NULL with a message
 * (no CUDA in this build, no such device, out of device memory). */
qn_bert_cuda *qn_bert_cuda_new(qn_bert *host, int device, char *err, size_t errlen);
void qn_bert_cuda_free(qn_bert_cuda *d);

/* host->params, host->m, host->v -> device; adam_mask (nparams, 0 where a weight is pruned: AdamW
 * keeps it at 0) or NULL for none; decay_mask (nparams, 0 where AdamW does not decay: qn_model's
 * decay_mask) or NULL for none. */
int qn_bert_cuda_upload(qn_bert_cuda *d, const uint8_t *adam_mask, const uint8_t *decay_mask, char *err, size_t errlen);
enum { QN_BERT_CUDA_PARAMS = 1, QN_BERT_CUDA_GRADS = 2, QN_BERT_CUDA_MOMENTS = 4 };
/* device -> host->params / host->grads / host->m and host->v, as `what` (an OR of the above) says. */
int qn_bert_cuda_download(qn_bert_cuda *d, int what, char *err, size_t errlen);
/* Each Linear layer's input of the last forward (after masking and quantization) into the host
 * layer's x_q, as qn_linear_forward leaves it (model.c's global activation threshold reads them). */
int qn_bert_cuda_download_inputs(qn_bert_cuda *d, char *err, size_t errlen);

/* qn_bert_forward / qn_bert_forward_masked: ids, lengths or mask, labels on the host; *loss the
 * mean loss (0 without labels); logits and probabilities in host->logits and host->probs.
 * rng: activation-pruning keys, drawn in the CPU's order. */
int qn_bert_cuda_forward(qn_bert_cuda *d, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                         qn_rng *rng, float *loss, char *err, size_t errlen);
int qn_bert_cuda_forward_masked(qn_bert_cuda *d, const int32_t *ids, const int32_t *mask, const int32_t *labels,
                                int B, qn_rng *rng, float *loss, char *err, size_t errlen);
/* qn_bert_backward of the last forward: the device gradients are overwritten. */
int qn_bert_cuda_backward(qn_bert_cuda *d, const int32_t *ids, const int32_t *labels, int B, char *err,
                          size_t errlen);
/* qn_adamw_step on the device buffers (step t >= 1, as model.c counts them); with by_groups, decay
 * only where the uploaded decay_mask says (qn_adamw_step_groups). */
int qn_bert_cuda_adamw(qn_bert_cuda *d, float lr, float beta1, float beta2, float eps, float weight_decay, int by_groups,
                       int t, char *err, size_t errlen);
/* The device gradient buffer (nparams floats, the host's offsets), for the data-parallel all-reduce
 * (worker/gradsync.c); NULL built without CUDA. */
float *qn_bert_cuda_grads(qn_bert_cuda *d);
/* Wait for the queued work (timing); returns 0 or -1 with the first asynchronous error. */
int qn_bert_cuda_sync(qn_bert_cuda *d, char *err, size_t errlen);

#endif
