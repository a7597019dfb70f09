/* rng.c: xoshiro256** seeded through splitmix64 (Blackman and Vigna's public-domain generators),
 * so that a seed gives the same stream on every machine. */
#include <math.h>

#include "qn_kernels.h"

uint64_t qn_splitmix64(uint64_t x) {
    uint64_t z = x + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void qn_rng_seed(qn_rng *r, uint64_t seed) {
    /* Successive splitmix64 outputs: state = seed + k*golden, mixed. */
    for (int i = 0; i < 4; i++) {
        r->s[i] = qn_splitmix64(seed);
        seed += 0x9e3779b97f4a7c15ull;
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t qn_rng_u64(qn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float qn_rng_uniform(qn_rng *r) { return (float)(qn_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float qn_rng_normal(qn_rng *r) {
    /* Box-Muller; u1 in (0, 1] so log never sees 0. */
    double u1 = ((double)(qn_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(qn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t qn_rng_below(qn_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    /* Rejection on the top of the range removes modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = qn_rng_u64(r);
    while (x >= limit);
    return x % n;
}
