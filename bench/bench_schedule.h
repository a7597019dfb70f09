/* bench_schedule.h: quench bench schedule (the placement policy simulated on a job's trials). */
#ifndef QN_BENCH_SCHEDULE_H
#define QN_BENCH_SCHEDULE_H

#include <stdio.h>

/* Simulate job_path's trials (ntrials > 0: repeated or cut to that many) on the cluster
 * "COUNTxKIND,...". Returns 0, 2 (bad job, cluster, or a trial that fits nowhere) or 1. */
int qn_bench_schedule(const char *job_path, const char *cluster, long ntrials, int json, FILE *out);

#endif
