/* inference_trial.h: a kind: inference stage's trial (model.arch: llm, docs/jobs.md "Inference
 * stages"): load a decoder-only model, apply llm.precision, generate greedily, time it, measure
 * memory, and optionally the perplexity of a text file.
 *
 * Contract:
 *  - It runs on the CPU backend (worker/llm.h) on every worker: the GPU decode path does not exist
 *    yet. On a GPU worker (gpu >= 0) the trial still runs on that worker's CPU and records
 *    gpu_worker = 1 with backend_cpu = 1, so no figure is mistaken for the card's.
 *  - Memory figures are the process's resident set (/proc/self/status VmRSS, VmHWM after the peak is
 *    reset), the backend's memory on the CPU: mem_start_bytes (before the load), mem_end_bytes
 *    (after the last step), mem_peak_bytes (the highest in between); host_rss_bytes is the end too.
 *  - A bad model directory, precision, prompt or perplexity file is a failed trial with a one-line
 *    reason, not a crashed worker. Returns 0 (result in out), or -1 when out of memory.
 */
#ifndef QN_INFERENCE_TRIAL_H
#define QN_INFERENCE_TRIAL_H

#include <stdint.h>

#include "qn_worker.h"

int qn_inference_trial_execute(const qn_trial_config *cfg, uint64_t trial_seed, int gpu, qn_trial_result *out);

#endif
