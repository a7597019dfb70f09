#!/usr/bin/env python3
"""Write tests/unit/mase_vectors.inc: inputs and MASE's own outputs for every fake-quant format, for
tests/unit/test_kernels_mase_vectors.c (which then needs neither MASE nor torch).

usage: gen_mase_vectors.py QUANTIZERS_DIR COMMIT OUT.inc
  QUANTIZERS_DIR  src/chop/nn/quantizers of a DeepWok/mase checkout (its files are imported as they
                  are; nothing of MASE is copied into quench)
  COMMIT          that checkout's commit, written into the header

Needs python3 with torch and numpy (Debian's python3-torch 1.13 works). MASE's quantizers are run in
float32 on the CPU with one thread: torch's sum order is that of its AVX2 kernels there (8 lanes),
the order quench reproduces for binary and ternary. The mxfp cases keep only blocks where MASE's
element codec is not in one of the differences listed in docs/formats.md.
"""
import importlib
import sys
import types

import numpy as np
import torch

F32 = np.float32


def load_mase(qdir):
    # torch < 2.3 has no uint16; MASE's MX codec only holds codes < 256 in it, which int32 holds exactly
    if not hasattr(torch, "uint16"):
        torch.uint16 = torch.int32
    if "tqdm" not in sys.modules:  # imported by mxint/mxfp for calibration progress bars only
        stub = types.ModuleType("tqdm")
        stub.tqdm = lambda it=None, *a, **k: it
        sys.modules["tqdm"] = stub
    pkg = types.ModuleType("mase_q")  # the folder as a package, without its __init__ (it imports more)
    pkg.__path__ = [qdir]
    sys.modules["mase_q"] = pkg
    mods = {}
    for name in ("integer", "minifloat", "log", "block_fp", "block_minifloat", "block_log", "binary",
                 "ternary", "utils", "mxint", "mxfp", "_minifloat_mx.fake"):
        mods[name] = importlib.import_module("mase_q." + name)
    return mods


def mase_run(m, spec, x):
    name, _, kv = spec.partition(":")
    p = {k: int(v) for k, v in (item.split("=") for item in kv.split(",") if item)}
    t = torch.from_numpy(np.array(x, F32))
    skip = t.ndim == 2  # 2-D: activation blocks [1, block_size] per row; 1-D: the bias path
    with torch.no_grad():
        if name == "integer":
            y = m["integer"].integer_quantizer(t, p["width"], p["frac_width"])
        elif name == "minifloat_denorm":
            y = m["minifloat"].minifloat_denorm_quantizer(t, p["width"], p["exponent_width"], p.get("exponent_bias"))
        elif name == "minifloat_ieee":
            y = m["minifloat"].minifloat_ieee_quantizer(t, p["width"], p["exponent_width"], p.get("exponent_bias"))
        elif name == "log":
            y = m["log"].log_quantizer(t, p["width"], p.get("exponent_bias"))
        elif name == "block_fp":
            y = m["block_fp"].block_fp_quantizer(t, p["width"], p["exponent_width"], p.get("exponent_bias"),
                                                 [p["block_size"]], skip)
        elif name == "block_minifloat":
            y = m["block_minifloat"].block_minifloat_quantizer(t, p["width"], p["exponent_width"],
                                                               p["exponent_bias_width"], [p["block_size"]], skip)
        elif name == "block_log":
            y = m["block_log"].block_log_quantizer(t, p["width"], p["exponent_bias_width"], [p["block_size"]], skip)
        elif name == "mxint":
            y = m["mxint"].mxint_quantizer(t, p["block_size"], p["width"])
        elif name == "mxfp":
            y = m["mxfp"].mxfp_quantizer(t, p["block_size"], p["exponent_width"], p["frac_width"])
        else:
            raise ValueError(spec)
    return y.numpy().astype(F32)


# ---- the three mxfp element-codec differences (docs/formats.md), to keep only blocks they miss ----
def mxfp_codec_is_exact(x_over_scale, e_bits, m_bits):
    """True where MASE's codec gives the correctly rounded MX element: no carry out of the mantissa,
    no double rounding through 15 bits, not below the smallest normal."""
    bias = (1 << (e_bits - 1)) - 1
    a = np.abs(np.asarray(x_over_scale, np.float64))
    ok = np.ones(a.shape, bool)
    for i, v in np.ndenumerate(a):
        if v == 0 or not np.isfinite(v) or v < 2.0 ** -126:
            continue
        e = int(np.floor(np.log2(v)))
        if v < 2.0 ** (1 - bias):
            ok[i] = False
            continue
        exact = v / 2.0 ** (e - m_bits)            # mantissa in units of the last place, exact
        trunc = np.floor(v / 2.0 ** (e - 15)) / 2.0 ** (15 - m_bits)
        if np.rint(exact) != np.rint(trunc) or np.rint(exact) >= 2 << m_bits:
            ok[i] = False
    return ok


def lcg_inputs(rows, cols, seed):
    """The inputs test_kernels_mase_vectors.c builds for the binary/ternary cases: 24-bit integers
    from a 64-bit LCG, scaled by 2^-20 (exact in float32)."""
    s = seed
    out = np.empty(rows * cols, F32)
    for i in range(out.size):
        s = (s * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        v = (s >> 40) - (1 << 23)
        out[i] = F32(v) * F32(2.0 ** -20)
    return out.reshape(rows, cols)


def hexes(a):
    u = np.asarray(a, F32).ravel().view(np.uint32)
    return ",".join(("\n    " if i % 8 == 0 else " ") + "0x%08x" % int(v) for i, v in enumerate(u))


def main():
    qdir, commit, out = sys.argv[1:4]
    m = load_mase(qdir)
    torch.set_num_threads(1)
    rng = np.random.default_rng(3)
    inf, nan = np.inf, np.nan
    sp = [0.0, -0.0, 1e-9, -1e-9, 1e-8, -1.0000001e-8, 1e-40, -1e-40, 1.0, 1.9375, -0.01, 0.75, 3e38, -inf, nan]
    elem = lambda s: np.concatenate([np.array(sp, F32), (rng.standard_normal(9) * s).astype(F32)])
    cases = []  # (spec, x, why)

    def add(spec, x, why):
        cases.append((spec, np.asarray(x, F32), why))

    add("integer:width=8,frac_width=4", elem(4.0), "signed fixed point, ties to even, saturation")
    add("integer:width=4,frac_width=-1", elem(8.0), "negative frac_width (quench once took -1 for unset)")
    # |x * 2^f| in [2^22, 2^23): quench's vector rounding once misrounded these (widths >= 24)
    big = np.array([46340.9453125, -393215.96875, -49151.99609375, 49152.00390625, 32768.5, -32767.5,
                    65535.75, -65535.25], F32)
    add("integer:width=32,frac_width=7", big, "widths >= 24: rounding of |x * 2^f| in [2^22, 2^23)")
    add("minifloat_denorm:width=8,exponent_width=4", elem(1.0), "no implicit bit, 2^k -> (1 - 2^-m) 2^k")
    add("minifloat_denorm:width=6,exponent_width=3,exponent_bias=1", elem(3.0), "explicit bias")
    add("minifloat_ieee:width=8,exponent_width=4", elem(1.0), "subnormals, no carry across binades")
    add("minifloat_ieee:width=12,exponent_width=5,exponent_bias=20", elem(1e-3), "explicit bias, small values")
    add("log:width=5", elem(1.0), "no zero: 0 -> +2^emin")
    add("log:width=4,exponent_bias=1", elem(10.0), "explicit bias")

    def blocks(bs, cols, scale):
        x = (rng.standard_normal((3, cols)) * scale).astype(F32)
        x[1, :bs] = 0.0                      # an all-zero block: takes the tensor's smallest block max
        x[2, 1] = -0.0
        x[0, 2] = 1e-9                       # near-zero passthrough
        x[2, -1] = x[2, 0] * F32(0.5)        # a tie for most grids
        return x

    nan_elsewhere = np.array([[0.5, nan, -0.25, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0, 3.0]], F32)
    for spec, scale in (("block_fp:width=8,exponent_width=8,block_size=4", 1.0),
                        ("block_fp:width=4,exponent_width=4,exponent_bias=3,block_size=5", 2.0),
                        ("block_minifloat:width=8,exponent_width=4,exponent_bias_width=4,block_size=4", 1.0),
                        ("block_minifloat:width=6,exponent_width=2,exponent_bias_width=2,block_size=5", 8.0),
                        ("block_log:width=5,exponent_bias_width=4,block_size=4", 1.0),
                        ("block_log:width=4,exponent_bias_width=2,block_size=5", 0.01)):
        bs = int(spec.rsplit("=", 1)[1])
        add(spec, blocks(bs, 2 * bs + 3, scale), "blocks along the last axis, a partial last block, a zero block")
        if bs == 4:
            add(spec, nan_elsewhere, "a NaN in one block makes every all-zero block NaN (torch's min)")
    for spec in ("mxint:width=8,block_size=8", "mxint:width=4,block_size=4"):
        x = (rng.standard_normal((2, 16)) * 3.0).astype(F32)
        x[0, 0] = 4.0                        # +2^S clamps to (1 - 2^-(k-1)) 2^S
        x[1, :4] = [0.0, -0.0, 1e-40, 0.0]   # an all-zero (flushed) block
        x[1, 5] = -8.0
        add(spec, x, "shared scale 2^ceil(log2 max), two's-complement elements")
    for e, mb in ((4, 3), (5, 2), (2, 3), (3, 2), (2, 1), (1, 2)):
        spec = "mxfp:exponent_width=%d,frac_width=%d,block_size=8" % (e, mb)
        bias = (1 << (e - 1)) - 1
        span = (1 << e) - 1 - bias - (1 - bias)  # binades between the smallest normal and the top
        kept = []
        while len(kept) < 2:                 # blocks MASE's codec gets right
            top = int(rng.integers(-6, 7))
            blk = (rng.choice([-1.0, 1.0], 8) * rng.uniform(1.0, 2.0, 8)
                   * 2.0 ** (top - rng.integers(0, span + 1, 8))).astype(F32)
            blk[rng.integers(0, 8)] = -0.0
            blk[rng.integers(0, 8)] = -1e-40  # a negative subnormal flushes to +0.0
            y = mase_run(m, spec, blk[None, :])
            amax = np.abs(blk).max()
            scale = 2.0 ** (np.floor(np.log2(amax)) - ((1 << e) - 1 - ((1 << (e - 1)) - 1)))
            flushed = np.where(np.abs(blk) < 2.0 ** -126, F32(0), blk)  # as MASE, before the scale
            if mxfp_codec_is_exact(flushed / scale, e, mb).all() and np.isfinite(y).all():
                kept.append(blk)
        add(spec, np.stack(kept), "shared exponent floor(log2 max) - emax, subnormal inputs flushed to +0.0")
    add("mxfp:exponent_width=4,frac_width=3,block_size=4",
        np.array([[-0.0, -1e-40, 0.0, 1e-39], [1.0, -0.0, -1e-40, 0.5]], F32), "-0.0 and subnormals give +0.0")

    stat = []  # (spec, rows, cols, seed, alpha per row, delta per row)
    util = m["utils"]
    for spec, rows, cols, seed in (("binary:bipolar=0", 3, 1000, 1), ("binary:bipolar=0", 4, 37, 2),
                                   ("binary:bipolar=0", 2, 5, 3), ("ternary:scaling_factor=1", 3, 1000, 4),
                                   ("ternary:scaling_factor=1", 2, 4100, 5), ("ternary:scaling_factor=1", 4, 13, 6),
                                   ("ternary:scaling_factor=0", 3, 513, 7)):
        x = torch.from_numpy(lcg_inputs(rows, cols, seed)).reshape(rows, 1, 1, cols)
        if spec.startswith("binary"):
            alpha = util.BinaryZeroScaled.alpha(x).reshape(-1)
            delta = torch.zeros(rows)
        else:
            d = util.TernaryScaled.delta(x)
            alpha = util.TernaryScaled.alpha(x, d).reshape(-1)
            delta = d[:, 0, 0, 0]
        stat.append((spec, rows, cols, seed, alpha.numpy(), delta.numpy()))

    with open(out, "w") as f:
        f.write("/* mase_vectors.inc: generated by scripts/gen_mase_vectors.py from DeepWok/mase commit\n")
        f.write(" * %s (src/chop/nn/quantizers, run in float32 on the CPU by torch %s,\n" % (commit, torch.__version__.split("+")[0]))
        f.write(" * one thread). Do not edit: regenerate. Included by test_kernels_mase_vectors.c. */\n\n")
        for i, (spec, x, why) in enumerate(cases):
            y = mase_run(m, spec, x)
            f.write("static const uint32_t mase_x%d[] = {%s};\n" % (i, hexes(x)))
            f.write("static const uint32_t mase_y%d[] = {%s};\n" % (i, hexes(y)))
        f.write("\nstatic const mase_case mase_cases[] = {\n")
        for i, (spec, x, why) in enumerate(cases):
            shape = list(x.shape) + [0] * (4 - x.ndim)
            f.write('    {"%s", %d, {%s}, %d, mase_x%d, mase_y%d, "%s"},\n'
                    % (spec, x.ndim, ", ".join(map(str, shape)), x.size, i, i, why))
        f.write("};\n\n")
        for i, (spec, rows, cols, seed, alpha, delta) in enumerate(stat):
            f.write("static const uint32_t mase_alpha%d[] = {%s};\n" % (i, hexes(alpha)))
            f.write("static const uint32_t mase_delta%d[] = {%s};\n" % (i, hexes(delta)))
        f.write("\nstatic const mase_stat_case mase_stat_cases[] = {\n")
        for i, (spec, rows, cols, seed, alpha, delta) in enumerate(stat):
            f.write('    {"%s", %d, %d, %du, mase_alpha%d, mase_delta%d},\n' % (spec, rows, cols, seed, i, i))
        f.write("};\n")


if __name__ == "__main__":
    main()
