/* bench_decode.h: quench bench decode: greedy decode speed of a decoder-only model at each precision,
 * against the bound the copy bandwidth measured in the same run puts on it, and PyTorch's fp32
 * decode of the same model (bench/llm_decode_torch.py) in the same run. */
#ifndef QN_BENCH_DECODE_H
#define QN_BENCH_DECODE_H

/* Parses its own flags: argv is the whole `quench bench ...` line, argv[self] "decode"; help is
 * `quench bench --help`'s text. Returns 0, 1 (internal failure) or 2 (bad flags or model). */
int qn_bench_decode_main(int argc, char **argv, int self, const char *help);

#endif
