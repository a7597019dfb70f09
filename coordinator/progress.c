/* progress.c: trial lines and the terminal progress bar. */
#include "progress.h"
#include "qn_clock.h"

#include <string.h>
#include <time.h>

void qn_progress_init(qn_progress *p, FILE *out, int bar, int quiet, int64_t total, int64_t finished) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->bar = bar && !quiet;
    p->quiet = quiet;
    p->total = total;
    p->finished = p->at_start = finished;
    p->t0 = qn_clock_monotonic_s();
}

static void format_duration(double s, char *buf, size_t len) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

static void clear_bar(qn_progress *p) {
    if (p->bar_drawn) fputs("\r\033[K", p->out);
    p->bar_drawn = 0;
}

static void draw_bar(qn_progress *p) {
    if (!p->bar || p->total <= 0) return;
    const int width = 30;
    int filled = (int)(width * p->finished / p->total);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    double elapsed = qn_clock_monotonic_s() - p->t0;
    char el[32], eta[32] = "?";
    format_duration(elapsed, el, sizeof el);
    int64_t done_now = p->finished - p->at_start;
    if (done_now > 0) format_duration(elapsed / (double)done_now * (double)(p->total - p->finished), eta, sizeof eta);
    fprintf(p->out, "[%s] %lld/%lld %3d%%  elapsed %s  ETA %s", bar, (long long)p->finished, (long long)p->total,
            (int)(100 * p->finished / p->total), el, eta);
    p->bar_drawn = 1;
    fflush(p->out);
}

void qn_progress_line(qn_progress *p, const char *line) {
    p->finished++;
    if (p->quiet) return;
    clear_bar(p);
    fprintf(p->out, "%s\n", line);
    draw_bar(p);
    fflush(p->out);
}

void qn_progress_note(qn_progress *p, const char *line) {
    if (p->quiet) return;
    clear_bar(p);
    fprintf(p->out, "%s\n", line);
    draw_bar(p);
    fflush(p->out);
}

void qn_progress_end(qn_progress *p) {
    clear_bar(p);
    fflush(p->out);
}
