/* progress.h: one line per finished trial; on a terminal also a progress bar with ETA, redrawn in
 * place under the lines. Not a terminal (Slurm logs, pipes): plain lines only. */
#ifndef QN_PROGRESS_H
#define QN_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    int bar;              /* draw the bar */
    int quiet;            /* print nothing per trial */
    int64_t total;        /* trials in the study */
    int64_t finished;     /* finished so far, including earlier sessions */
    int64_t at_start;     /* finished when this session began (for the ETA) */
    double t0;            /* when this session began */
    int bar_drawn;
} qn_progress;

void qn_progress_init(qn_progress *p, FILE *out, int bar, int quiet, int64_t total, int64_t finished);
/* Print one finished trial's line (already formatted, no newline) and redraw the bar. */
void qn_progress_line(qn_progress *p, const char *line);
/* Print a message line (not a trial). */
void qn_progress_note(qn_progress *p, const char *line);
/* Clear the bar before the summary. */
void qn_progress_end(qn_progress *p);

#endif
