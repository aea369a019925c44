#!/usr/bin/env python3
"""Randomised single-op .tflite models (built with the flatbuffer schema shipped in
ai_edge_litert, no TensorFlow needed), each run through LiteRT BUILTIN_REF and
through the effk scalar kernels by check_ops.Checker.

  python3 tools/kernel-check/single_ops.py [--cases N] [--seed S] [--only OP,OP]

Covers SOFTMAX, AVERAGE_POOL_2D, PAD, PADV2, QUANTIZE (f32->i8, i8->i8), DEQUANTIZE,
LOGISTIC (all 256 input bytes), ADD, MUL (with broadcast), MEAN, CONV_2D,
DEPTHWISE_CONV_2D and FULLY_CONNECTED with random shapes and quantization.
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile
import zlib

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as S

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_ops import Checker, load_lib  # noqa: E402

TT = S.TensorType
ACTS = [S.ActivationFunctionType.NONE, S.ActivationFunctionType.RELU,
        S.ActivationFunctionType.RELU6, S.ActivationFunctionType.RELU_N1_TO_1]


class G:
    """One-op graph under construction."""

    def __init__(self):
        self.tensors, self.buffers = [], [S.BufferT()]
        self.inputs = []

    def t(self, shape, ttype=TT.INT8, scale=None, zp=None, data=None, qdim=0, graph_input=False):
        t = S.TensorT()
        t.shape = list(shape)
        t.type = ttype
        t.name = f"t{len(self.tensors)}"
        if scale is not None:
            q = S.QuantizationParametersT()
            q.scale = [float(s) for s in np.atleast_1d(scale)]
            q.zeroPoint = [int(z) for z in np.atleast_1d(zp)]
            q.quantizedDimension = qdim
            t.quantization = q
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        self.tensors.append(t)
        if graph_input:
            self.inputs.append(len(self.tensors) - 1)
        return len(self.tensors) - 1

    def finish(self, op_name, opt_name, opt, ins, outs, path):
        code = S.OperatorCodeT()
        bc = getattr(S.BuiltinOperator, op_name)
        code.builtinCode = bc
        code.deprecatedBuiltinCode = min(bc, 127)
        code.version = 1
        op = S.OperatorT()
        op.opcodeIndex = 0
        op.inputs, op.outputs = list(ins), list(outs)
        if opt is not None:
            op.builtinOptionsType = getattr(S.BuiltinOptions, opt_name)
            op.builtinOptions = opt
        sg = S.SubGraphT()
        sg.tensors, sg.operators = self.tensors, [op]
        sg.inputs, sg.outputs = self.inputs, list(outs)
        m = S.ModelT()
        m.version = 3
        m.operatorCodes, m.subgraphs, m.buffers = [code], [sg], self.buffers
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        with open(path, "wb") as f:
            f.write(b.Output())


def lscale(rng, lo=1e-3, hi=1.0):
    return np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def zp(rng):
    return int(rng.integers(-128, 128))


def opt(cls, **kw):
    o = getattr(S, cls)()
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def i8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


# Each case returns (op, options class name, options, ins, outs, inputs list) after filling g.
def case_logistic(g, rng):
    x = g.t([1, 256], scale=lscale(rng, 1e-3, 0.5), zp=zp(rng), graph_input=True)
    y = g.t([1, 256], scale=1 / 256, zp=-128)
    return "LOGISTIC", None, None, [x], [y], [np.arange(-128, 128, dtype=np.int8)]


def case_softmax(g, rng):
    # TFLite aborts (TFLITE_CHECK) once a row's sum of exps reaches 2^9, so wide flat rows
    # are avoided: depth <= 200, or 1000 with a large input scale.
    depth = int(rng.choice([3, 10, 200, 1000]))
    shape = [int(rng.integers(1, 5)), depth]
    lo = 0.2 if depth == 1000 else 1e-2
    x = g.t(shape, scale=lscale(rng, lo, 2.0), zp=zp(rng), graph_input=True)
    y = g.t(shape, scale=1 / 256, zp=-128)
    beta = float(rng.choice([1.0, 2.3, 100.0] if depth == 1000 else [1.0, 0.5, 2.3, 1e-3, 100.0]))
    data = i8(rng, shape)
    data[0, :2] = 127  # ties at the max
    return "SOFTMAX", "SoftmaxOptions", opt("SoftmaxOptionsT", beta=beta), [x], [y], [data]


def case_avgpool(g, rng):
    h, w, c = (int(v) for v in rng.integers(1, 13, 3))
    k = int(rng.integers(1, 8))
    kh, kw = min(k, h), min(int(rng.integers(1, 8)), w)
    s = int(rng.integers(1, 4))
    pad = int(rng.choice([S.Padding.SAME, S.Padding.VALID]))
    if pad == S.Padding.SAME:
        oh, ow = -(-h // s), -(-w // s)
    else:
        oh, ow = (h - kh) // s + 1, (w - kw) // s + 1
    sc, z = lscale(rng), zp(rng)
    x = g.t([1, h, w, c], scale=sc, zp=z, graph_input=True)
    y = g.t([1, oh, ow, c], scale=sc, zp=z)
    o = opt("Pool2DOptionsT", padding=pad, strideW=s, strideH=s, filterWidth=kw,
            filterHeight=kh, fusedActivationFunction=int(rng.choice(ACTS[:3])))
    return "AVERAGE_POOL_2D", "Pool2DOptions", o, [x], [y], [i8(rng, [1, h, w, c])]


def case_pad(g, rng, v2=False):
    shape = [1] + [int(v) for v in rng.integers(1, 7, 3)]
    pads = rng.integers(0, 3, (4, 2)).astype(np.int32)
    pads[0] = 0
    sc, z = lscale(rng), zp(rng)
    x = g.t(shape, scale=sc, zp=z, graph_input=True)
    p = g.t([4, 2], TT.INT32, data=pads)
    ins = [x, p]
    if v2:
        ins.append(g.t([1], TT.INT8, scale=sc, zp=z, data=np.array([zp(rng)], np.int8)))
    y = g.t([shape[k] + pads[k].sum() for k in range(4)], scale=sc, zp=z)
    name, oname = ("PADV2", "PadV2Options") if v2 else ("PAD", "PadOptions")
    return name, oname, opt(oname + "T"), ins, [y], [i8(rng, shape)]


def case_padv2(g, rng):
    return case_pad(g, rng, True)


def case_quantize_f32(g, rng):
    n = 4096
    sc, z = lscale(rng), zp(rng)
    x = g.t([n], TT.FLOAT32, graph_input=True)
    y = g.t([n], scale=sc, zp=z)
    k = rng.integers(-200, 200, n)
    data = rng.normal(0, 100 * sc, n).astype(np.float32)
    data[: n // 2] = ((k[: n // 2] + 0.5) * sc).astype(np.float32)  # near rounding ties
    # Beyond +-2^31 steps TFLite's float->int32 cast is UB (x86 gives INT_MIN, so +1e30
    # becomes -128); effk saturates instead, so those inputs are left out on purpose.
    data[:6] = [0.0, -0.0, 1e6 * sc, -1e6 * sc, 127.5 * sc, -128.5 * sc]
    return "QUANTIZE", None, None, [x], [y], [data]


def case_requantize(g, rng):
    x = g.t([256], scale=lscale(rng), zp=zp(rng), graph_input=True)
    y = g.t([256], scale=lscale(rng), zp=zp(rng))
    return "QUANTIZE", None, None, [x], [y], [np.arange(-128, 128, dtype=np.int8)]


def case_dequantize(g, rng):
    x = g.t([256], scale=lscale(rng, 1e-4, 10), zp=zp(rng), graph_input=True)
    y = g.t([256], TT.FLOAT32)
    return "DEQUANTIZE", None, None, [x], [y], [np.arange(-128, 128, dtype=np.int8)]


def _binary(g, rng, name):
    h, w, c = (int(v) for v in rng.integers(1, 9, 3))
    shape_a = [1, h, w, c]
    shape_b = [[1, h, w, c], [1, 1, 1, c], [1, h, w, 1], [1, 1, w, c]][int(rng.integers(0, 4))]
    if rng.random() < 0.3:
        shape_a, shape_b = shape_b, shape_a
    out = [max(a, b) for a, b in zip(shape_a, shape_b)]
    a = g.t(shape_a, scale=lscale(rng, 1e-3, 1), zp=zp(rng), graph_input=True)
    b = g.t(shape_b, scale=lscale(rng, 1e-3, 1), zp=zp(rng), graph_input=True)
    y = g.t(out, scale=lscale(rng, 1e-3, 1), zp=zp(rng))
    o = opt(name.capitalize() + "OptionsT", fusedActivationFunction=int(rng.choice(ACTS)))
    return name, name.capitalize() + "Options", o, [a, b], [y], [i8(rng, shape_a), i8(rng, shape_b)]


def case_add(g, rng):
    return _binary(g, rng, "ADD")


def case_mul(g, rng):
    return _binary(g, rng, "MUL")


def case_mean(g, rng):
    h, w, c = int(rng.integers(1, 40)), int(rng.integers(1, 40)), int(rng.integers(1, 20))
    keep = bool(rng.random() < 0.7)
    x = g.t([1, h, w, c], scale=lscale(rng), zp=zp(rng), graph_input=True)
    ax = g.t([2], TT.INT32, data=np.array([1, 2], np.int32))
    y = g.t([1, 1, 1, c] if keep else [1, c], scale=lscale(rng), zp=zp(rng))
    return "MEAN", "ReducerOptions", opt("ReducerOptionsT", keepDims=keep), [x, ax], [y], \
        [i8(rng, [1, h, w, c])]


def _conv(g, rng, depthwise):
    h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    ic = int(rng.integers(1, 9))
    dm = int(rng.integers(1, 3)) if depthwise else 1
    oc = ic * dm if depthwise else int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    s = int(rng.integers(1, 3))
    d = int(rng.choice([1, 1, 2]))
    pad = int(rng.choice([S.Padding.SAME, S.Padding.VALID]))
    ekh, ekw = (kh - 1) * d + 1, (kw - 1) * d + 1
    if pad == S.Padding.VALID and (ekh > h or ekw > w):
        pad = S.Padding.SAME
    if pad == S.Padding.SAME:
        oh, ow = -(-h // s), -(-w // s)
    else:
        oh, ow = (h - ekh) // s + 1, (w - ekw) // s + 1
    s_in = lscale(rng, 1e-2, 1)
    per_channel = rng.random() < 0.8
    fs = np.array([lscale(rng, 1e-3, 3e-2) for _ in range(oc)], np.float32)
    if not per_channel:
        fs = fs[:1]
    wshape = [1, kh, kw, oc] if depthwise else [oc, kh, kw, ic]
    wdata = rng.integers(-127, 128, wshape).astype(np.int8)
    bias = (rng.normal(0, 2000, oc)).astype(np.int32)
    x = g.t([1, h, w, ic], scale=s_in, zp=zp(rng), graph_input=True)
    wt = g.t(wshape, scale=fs, zp=np.zeros(len(fs), np.int64), data=wdata,
             qdim=3 if depthwise else 0)
    bscale = (s_in * fs).astype(np.float32)
    bt = g.t([oc], TT.INT32, scale=bscale, zp=np.zeros(len(fs), np.int64), data=bias)
    y = g.t([1, oh, ow, oc], scale=lscale(rng, 1e-2, 1), zp=zp(rng))
    act = int(rng.choice(ACTS[:3]))
    if depthwise:
        o = opt("DepthwiseConv2DOptionsT", padding=pad, strideW=s, strideH=s, depthMultiplier=dm,
                fusedActivationFunction=act, dilationWFactor=d, dilationHFactor=d)
        return "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions", o, [x, wt, bt], [y], \
            [i8(rng, [1, h, w, ic])]
    o = opt("Conv2DOptionsT", padding=pad, strideW=s, strideH=s, fusedActivationFunction=act,
            dilationWFactor=d, dilationHFactor=d)
    return "CONV_2D", "Conv2DOptions", o, [x, wt, bt], [y], [i8(rng, [1, h, w, ic])]


def case_conv(g, rng):
    return _conv(g, rng, False)


def case_dwconv(g, rng):
    return _conv(g, rng, True)


def case_fc(g, rng):
    b, ic, oc = int(rng.integers(1, 4)), int(rng.integers(1, 300)), int(rng.integers(1, 40))
    s_in = lscale(rng, 1e-2, 1)
    per_channel = rng.random() < 0.5
    fs = np.array([lscale(rng, 1e-3, 3e-2) for _ in range(oc if per_channel else 1)], np.float32)
    x = g.t([b, ic], scale=s_in, zp=zp(rng), graph_input=True)
    wt = g.t([oc, ic], scale=fs, zp=np.zeros(len(fs), np.int64),
             data=rng.integers(-127, 128, [oc, ic]).astype(np.int8))
    bt = g.t([oc], TT.INT32, scale=(s_in * fs).astype(np.float32), zp=np.zeros(len(fs), np.int64),
             data=rng.normal(0, 5000, oc).astype(np.int32))
    y = g.t([b, oc], scale=lscale(rng, 1e-2, 1), zp=zp(rng))
    o = opt("FullyConnectedOptionsT", fusedActivationFunction=int(rng.choice(ACTS[:3])))
    return "FULLY_CONNECTED", "FullyConnectedOptions", o, [x, wt, bt], [y], [i8(rng, [b, ic])]


CASES = {
    "LOGISTIC": case_logistic, "SOFTMAX": case_softmax, "AVERAGE_POOL_2D": case_avgpool,
    "PAD": case_pad, "PADV2": case_padv2, "QUANTIZE_F32": case_quantize_f32,
    "REQUANTIZE": case_requantize, "DEQUANTIZE": case_dequantize, "ADD": case_add,
    "MUL": case_mul, "MEAN": case_mean, "CONV_2D": case_conv, "DEPTHWISE_CONV_2D": case_dwconv,
    "FULLY_CONNECTED": case_fc,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only")
    ap.add_argument("--keep", help="directory to keep the generated models in")
    a = ap.parse_args()
    lib = load_lib()
    names = a.only.split(",") if a.only else list(CASES)
    tmp = a.keep or tempfile.mkdtemp(prefix="effk-single-")
    os.makedirs(tmp, exist_ok=True)
    total_bad = 0
    for name in names:
        bad_cases = 0
        for k in range(a.cases):
            rng = np.random.default_rng([a.seed, k, zlib.crc32(name.encode())])
            g = G()
            op, opt_name, o, ins, outs, inputs = CASES[name](g, rng)
            path = os.path.join(tmp, f"{name}_{k}.tflite")
            g.finish(op, opt_name, o, ins, outs, path)
            try:
                ck = Checker(path, lib)
            except Exception as e:  # LiteRT refused the model: report, do not count as a pass
                print(f"{name} case {k}: LiteRT rejected model: {e}")
                bad_cases += 1
                continue
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                bad = ck.check(inputs, verbose=True)
            if bad:
                bad_cases += 1
                print(f"{name} case {k}: " + buf.getvalue().splitlines()[0])
        print(f"{name:18s} cases={a.cases} failing={bad_cases}")
        total_bad += bad_cases
    print("RESULT:", "all single-op cases exact" if total_bad == 0 else f"{total_bad} cases differ")
    sys.exit(0 if total_bad == 0 else 1)


if __name__ == "__main__":
    main()
