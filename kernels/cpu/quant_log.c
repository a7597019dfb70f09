/* quant_log.c: MASE's log format: a sign and a power of two, rounded in the log domain (so the
 * midpoint between 2^k and 2^(k+1) is 2^(k+1/2)). There is no zero: 0 and small negatives become
 * +2^E_min, exactly as MASE's offset trick does (research note, section 5). */
#include "qn_formats.h"
#include "format_elem.h"

void qn_quant_log(const float *x, float *y, size_t n, int width, int exponent_bias) {
    const int eb = width - 1;
    const int b = exponent_bias == QN_BIAS_DEFAULT ? (1 << (eb - 1)) - 1 : exponent_bias;
    const float emin = (float)-b, emax = (float)((1 << eb) - 1 - b);
    for (size_t i = 0; i < n; i++) y[i] = qn_log_elem(x[i], emin, emax);
}
