/* truncnorm.c: the standard normal's log CDF, log mass of an interval and inverse CDF, accurate in
 * the tails, as TPE's truncated-normal kernels need them (the same cases as Optuna's _truncnorm). */
#include <math.h>

#include "sampler_internal.h"

#define SQRT1_2 0.70710678118654752440
#define LOG_SQRT_2PI 0.91893853320467274178

/* Phi(a) through erfc, which keeps the lower tail's relative accuracy. erfc(x) < 1e-342 for
 * x >= 28, below the smallest double: 0 without the call (most of TPE's kernels lie that many
 * sigma inside the domain). */
static double ndtr(double a) {
    double x = -a * SQRT1_2;
    return x >= 28 ? 0.0 : 0.5 * erfc(x);
}

double qn_log_ndtr(double a) {
    if (a > 6) return log1p(-ndtr(-a));
    if (a > -20) return log(ndtr(a));
    if (a == -INFINITY) return -INFINITY;
    /* below -20 Phi(a) is ~1e-89: the asymptotic series of Mills' ratio,
     * Phi(a) = phi(a)/(-a) * (1 - 1/a^2 + 3/a^4 - 15/a^6 + ...) */
    double a2 = a * a, term = 1.0, sum = 1.0;
    for (int k = 1; k < 20; k++) {
        double next = term * -(2.0 * k - 1) / a2;
        if (sum + next == sum) break;
        term = next, sum += term;
    }
    return -0.5 * a2 - log(-a) - LOG_SQRT_2PI + log(sum);
}

double qn_log_gauss_mass(double a, double b) {
    if (b <= 0) {
        /* both in the lower half: a difference of two small numbers, taken in log space */
        double lb = qn_log_ndtr(b), la = qn_log_ndtr(a);
        return lb + log1p(-exp(la - lb));
    }
    if (a > 0) return qn_log_gauss_mass(-b, -a); /* mirror into the lower half */
    /* straddles 0: one minus the two tails */
    return log1p(-ndtr(a) - ndtr(-b));
}

/* Acklam's rational approximation (relative error 1.2e-9), then two Halley steps on erfc, which
 * bring it to double precision. */
double qn_ndtri(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p <= 0) return -INFINITY;
    if (p >= 1) return INFINITY;
    double x;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        double q = sqrt(-2 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    for (int it = 0; it < 2 && isfinite(x) && x > -37; it++) {
        double e = ndtr(x) - p;
        double u = e * 2.5066282746310002 * exp(0.5 * x * x);
        x -= u / (1 + 0.5 * x * u);
    }
    return x;
}

double qn_truncnorm_ppf(double u, double a, double b) {
    /* invert on the side where the target probability is below 1/2, so the tail keeps its digits */
    double lower = ndtr(a), upper = ndtr(-b), mass = 1.0 - lower - upper;
    if (mass <= 0) return a > -b ? a : b; /* a and b beyond double precision's reach: an end */
    double p = lower + u * mass, x;
    if (p <= 0.5) x = qn_ndtri(p);
    else x = -qn_ndtri(upper + (1.0 - u) * mass);
    return x < a ? a : x > b ? b : x;
}
