#!/usr/bin/env python3
"""Check the scalar C kernels (Sources/CEffKernels/scalar) op by op against LiteRT.

Runs MODEL with LiteRT's reference kernels (BUILTIN_REF, all tensors preserved), then
feeds every op's real inputs and parameters to the matching effk kernel via ctypes and
compares the bytes with LiteRT's output tensor.

  cc -O2 -shared -fPIC -I Sources/CEffKernels/include Sources/CEffKernels/scalar/*.c \
     -o /tmp/libeffk.so -lm
  python3 tools/kernel-check/check_ops.py MODEL INTERMEDIATES_DIR [--input FILE.i8]
  python3 tools/kernel-check/check_ops.py MODEL --random SEED

INTERMEDIATES_DIR (with index.json) is also compared against the interpreter's tensors.
Without --input, the input is /work/shared/models/reference/<model>__chelsea.input.i8.
Exit status 0 only if every op matches exactly.
"""
import argparse
import ctypes as C
import json
import os
import sys

import numpy as np
from ai_edge_litert import schema_py_generated as S
from ai_edge_litert.interpreter import Interpreter, OpResolverType

LIB = os.environ.get("EFFK_LIB", "/tmp/libeffk.so")
REF_DIR = "/work/shared/models/reference"

i8p = np.ctypeslib.ndpointer(np.int8, flags="C_CONTIGUOUS")
i32p = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
f32p = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
f64p = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
I32, F32, SZ = C.c_int32, C.c_float, C.c_size_t


class ConvP(C.Structure):
    _fields_ = [(n, I32) for n in (
        "in_h in_w in_c out_h out_w out_c kernel_h kernel_w stride_h stride_w dilation_h "
        "dilation_w pad_top pad_left input_zero_point output_zero_point act_min act_max "
        "depth_multiplier").split()]


class FcP(C.Structure):
    _fields_ = [(n, I32) for n in (
        "batches in_c out_c input_zero_point filter_zero_point output_zero_point act_min "
        "act_max").split()]


class BcP(C.Structure):
    _fields_ = [("out_shape", I32 * 4), ("a_stride", I32 * 4), ("b_stride", I32 * 4)]


class AddP(C.Structure):
    _fields_ = [(n, I32) for n in (
        "input1_offset input2_offset output_offset left_shift input1_multiplier input1_shift "
        "input2_multiplier input2_shift output_multiplier output_shift act_min act_max").split()]


class MulP(C.Structure):
    _fields_ = [(n, I32) for n in (
        "input1_offset input2_offset output_offset output_multiplier output_shift act_min "
        "act_max").split()]


class MeanP(C.Structure):
    _fields_ = [("h", I32), ("w", I32), ("c", I32), ("input_zero_point", I32),
                ("output_zero_point", I32), ("input_scale", F32), ("output_scale", F32),
                ("multiplier", I32), ("shift", I32)]


class SoftmaxP(C.Structure):
    _fields_ = [("input_multiplier", I32), ("input_left_shift", I32), ("diff_min", I32)]


def load_lib(path=LIB):
    L = C.CDLL(path)
    P = C.POINTER
    sig = {
        "effk_activation_range_qs8": (None, [I32, F32, I32, P(I32), P(I32)]),
        "effk_conv_channel_multiplier": (None, [F32, F32, F32, P(I32), P(I32)]),
        "effk_fc_effective_scale": (C.c_double, [F32, F32, F32]),
        "effk_qs8_conv2d__scalar": (None, [P(ConvP), i8p, i8p, C.c_void_p, i32p, i32p, i8p, I32, I32]),
        "effk_qs8_dwconv2d__scalar": (None, [P(ConvP), i8p, i8p, C.c_void_p, i32p, i32p, i8p, I32, I32]),
        "effk_qs8_fc__scalar": (None, [P(FcP), i8p, i8p, C.c_void_p, f64p, i8p, I32, I32]),
        "effk_qs8_add_params_init": (None, [P(AddP), F32, I32, F32, I32, F32, I32, I32, I32]),
        "effk_qs8_add__scalar": (None, [P(AddP), i8p, i8p, i8p, SZ]),
        "effk_qs8_add_broadcast__scalar": (None, [P(AddP), P(BcP), i8p, i8p, i8p]),
        "effk_qs8_mul_params_init": (None, [P(MulP), F32, I32, F32, I32, F32, I32, I32, I32]),
        "effk_qs8_mul__scalar": (None, [P(MulP), i8p, i8p, i8p, SZ]),
        "effk_qs8_mul_broadcast__scalar": (None, [P(MulP), P(BcP), i8p, i8p, i8p]),
        "effk_qs8_logistic_table": (None, [F32, I32, i8p]),
        "effk_qs8_requantize_table": (None, [F32, I32, F32, I32, i8p]),
        "effk_qs8_lookup__scalar": (None, [i8p, i8p, i8p, SZ]),
        "effk_qs8_mean_hw_params_init": (None, [P(MeanP)]),
        "effk_qs8_mean_hw__scalar": (None, [P(MeanP), i8p, i8p]),
        "effk_qs8_avgpool2d__scalar": (None, [P(ConvP), i8p, i8p, I32, I32]),
        "effk_qs8_softmax_params_init": (None, [P(SoftmaxP), F32, F32]),
        "effk_qs8_softmax__scalar": (None, [P(SoftmaxP), i8p, i8p, I32, I32]),
        "effk_quantize_f32_qs8__scalar": (None, [f32p, i8p, SZ, F32, I32]),
        "effk_dequantize_qs8_f32__scalar": (None, [i8p, f32p, SZ, F32, I32]),
        "effk_pad4d_qs8": (None, [i8p, i32p, i32p, i32p, C.c_int8, i8p]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(L, name)
        fn.restype, fn.argtypes = res, args
    return L


def ptr(a):
    return None if a is None else a.ctypes.data_as(C.c_void_p)


def same_pad(padding, in_size, k, stride, dil, out_size):
    if padding != S.Padding.SAME:
        return 0
    eff = (k - 1) * dil + 1
    return max(((out_size - 1) * stride + eff - in_size) // 2, 0)


def to4d(shape):
    shape = list(shape)
    return [1] * (4 - len(shape)) + shape


def bcast(a_shape, b_shape, o_shape):
    a, b, o = to4d(a_shape), to4d(b_shape), to4d(o_shape)
    bc = BcP()

    def strides(s):
        st, acc = [0] * 4, 1
        for k in range(3, -1, -1):
            st[k] = 0 if (s[k] == 1 and o[k] != 1) else acc
            acc *= s[k]
        return st

    sa, sb = strides(a), strides(b)
    for k in range(4):
        bc.out_shape[k], bc.a_stride[k], bc.b_stride[k] = o[k], sa[k], sb[k]
    return bc


class Checker:
    def __init__(self, model_path, lib):
        self.L = lib
        self.it = Interpreter(model_path=model_path,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                              experimental_preserve_all_tensors=True)
        self.it.allocate_tensors()
        self.td = {t["index"]: t for t in self.it.get_tensor_details()}
        with open(model_path, "rb") as f:
            self.model = S.ModelT.InitFromPackedBuf(bytearray(f.read()), 0)
        self.sg = self.model.subgraphs[0]

    def q(self, t):
        qp = self.td[t]["quantization_parameters"]
        return qp["scales"].astype(np.float32), qp["zero_points"].astype(np.int32)

    def q1(self, t):
        s, z = self.q(t)
        return np.float32(s[0]), int(z[0])

    def T(self, t):
        return np.ascontiguousarray(self.it.get_tensor(int(t)))

    def act(self, fa, out_t):
        s, z = self.q1(out_t)
        lo, hi = I32(), I32()
        self.L.effk_activation_range_qs8(int(fa), s, z, C.byref(lo), C.byref(hi))
        return lo.value, hi.value

    # ---- per op -------------------------------------------------------------------
    def conv(self, op, opt, depthwise):
        x, w = self.T(op.inputs[0]), self.T(op.inputs[1])
        b = self.T(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        y_t = op.outputs[0]
        oshape = self.td[y_t]["shape"]
        _, ih, iw, ic = x.shape
        _, oh, ow, oc = oshape
        kh, kw = w.shape[1], w.shape[2]
        p = ConvP(in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc, kernel_h=kh,
                  kernel_w=kw, stride_h=opt.strideH, stride_w=opt.strideW,
                  dilation_h=opt.dilationHFactor, dilation_w=opt.dilationWFactor)
        p.pad_top = same_pad(opt.padding, ih, kh, opt.strideH, opt.dilationHFactor, oh)
        p.pad_left = same_pad(opt.padding, iw, kw, opt.strideW, opt.dilationWFactor, ow)
        p.input_zero_point = self.q1(op.inputs[0])[1]
        p.output_zero_point = self.q1(y_t)[1]
        p.act_min, p.act_max = self.act(opt.fusedActivationFunction, y_t)
        p.depth_multiplier = oc // ic if depthwise else 1
        s_in, s_out = self.q1(op.inputs[0])[0], self.q1(y_t)[0]
        fs = self.q(op.inputs[1])[0]
        mult = np.zeros(oc, np.int32)
        shift = np.zeros(oc, np.int32)
        for c in range(oc):
            m, s = I32(), I32()
            self.L.effk_conv_channel_multiplier(s_in, fs[c if len(fs) > 1 else 0], s_out,
                                                C.byref(m), C.byref(s))
            mult[c], shift[c] = m.value, s.value
        out = np.zeros(oshape, np.int8)
        fn = self.L.effk_qs8_dwconv2d__scalar if depthwise else self.L.effk_qs8_conv2d__scalar
        # two row bands, to exercise the oy range split
        half = oh // 2
        fn(C.byref(p), x, w, ptr(b), mult, shift, out, 0, half)
        fn(C.byref(p), x, w, ptr(b), mult, shift, out, half, oh)
        return out

    def fc(self, op, opt):
        x, w = self.T(op.inputs[0]), self.T(op.inputs[1])
        b = self.T(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        y_t = op.outputs[0]
        oc, ic = w.shape
        x2 = np.ascontiguousarray(x.reshape(-1, ic))
        s_in, zin = self.q1(op.inputs[0])
        s_out, zout = self.q1(y_t)
        fs, fz = self.q(op.inputs[1])
        scale = np.array([self.L.effk_fc_effective_scale(s_in, fs[c if len(fs) > 1 else 0], s_out)
                          for c in range(oc)], np.float64)
        lo, hi = self.act(opt.fusedActivationFunction, y_t)
        p = FcP(batches=x2.shape[0], in_c=ic, out_c=oc, input_zero_point=zin,
                filter_zero_point=int(fz[0]) if len(fs) == 1 else 0, output_zero_point=zout,
                act_min=lo, act_max=hi)
        out = np.zeros(self.td[y_t]["shape"], np.int8)
        self.L.effk_qs8_fc__scalar(C.byref(p), x2, w, ptr(b), scale, out, 0, oc // 3)
        self.L.effk_qs8_fc__scalar(C.byref(p), x2, w, ptr(b), scale, out, oc // 3, oc)
        return out

    def binary(self, op, opt, kind):
        a_t, b_t, y_t = op.inputs[0], op.inputs[1], op.outputs[0]
        a, b = self.T(a_t), self.T(b_t)
        (s1, z1), (s2, z2), (so, zo) = self.q1(a_t), self.q1(b_t), self.q1(y_t)
        lo, hi = self.act(opt.fusedActivationFunction if opt else 0, y_t)
        oshape = self.td[y_t]["shape"]
        out = np.zeros(oshape, np.int8)
        if kind == "ADD":
            p = AddP()
            self.L.effk_qs8_add_params_init(C.byref(p), s1, z1, s2, z2, so, zo, lo, hi)
            flat, bc_fn = self.L.effk_qs8_add__scalar, self.L.effk_qs8_add_broadcast__scalar
        else:
            p = MulP()
            self.L.effk_qs8_mul_params_init(C.byref(p), s1, z1, s2, z2, so, zo, lo, hi)
            flat, bc_fn = self.L.effk_qs8_mul__scalar, self.L.effk_qs8_mul_broadcast__scalar
        if list(a.shape) == list(b.shape):
            flat(C.byref(p), a, b, out, out.size)
        else:
            bc = bcast(a.shape, b.shape, oshape)
            bc_fn(C.byref(p), C.byref(bc), a, b, out)
        return out

    def logistic(self, op):
        x_t, y_t = op.inputs[0], op.outputs[0]
        s, z = self.q1(x_t)
        so, zo = self.q1(y_t)
        assert so == np.float32(1 / 256) and zo == -128, (so, zo)
        table = np.zeros(256, np.int8)
        self.L.effk_qs8_logistic_table(s, z, table)
        x = self.T(x_t)
        out = np.zeros(x.shape, np.int8)
        self.L.effk_qs8_lookup__scalar(table, x, out, x.size)
        return out

    def mean(self, op, opt):
        x_t, y_t = op.inputs[0], op.outputs[0]
        axes = sorted(int(a) % 4 for a in self.T(op.inputs[1]).reshape(-1))
        x = self.T(x_t)
        assert x.ndim == 4 and axes == [1, 2] and x.shape[0] == 1, (x.shape, axes)
        (si, zi), (so, zo) = self.q1(x_t), self.q1(y_t)
        p = MeanP(h=x.shape[1], w=x.shape[2], c=x.shape[3], input_zero_point=zi,
                  output_zero_point=zo, input_scale=si, output_scale=so)
        self.L.effk_qs8_mean_hw_params_init(C.byref(p))
        out = np.zeros(self.td[y_t]["shape"], np.int8)
        self.L.effk_qs8_mean_hw__scalar(C.byref(p), x, out)
        return out

    def avgpool(self, op, opt):
        x_t, y_t = op.inputs[0], op.outputs[0]
        x = self.T(x_t)
        _, ih, iw, c = x.shape
        oshape = self.td[y_t]["shape"]
        _, oh, ow, _ = oshape
        kh, kw = opt.filterHeight, opt.filterWidth
        p = ConvP(in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=c, kernel_h=kh,
                  kernel_w=kw, stride_h=opt.strideH, stride_w=opt.strideW, dilation_h=1,
                  dilation_w=1)
        p.pad_top = same_pad(opt.padding, ih, kh, opt.strideH, 1, oh)
        p.pad_left = same_pad(opt.padding, iw, kw, opt.strideW, 1, ow)
        p.act_min, p.act_max = self.act(opt.fusedActivationFunction, y_t)
        out = np.zeros(oshape, np.int8)
        self.L.effk_qs8_avgpool2d__scalar(C.byref(p), x, out, 0, oh)
        return out

    def softmax(self, op, opt):
        x_t, y_t = op.inputs[0], op.outputs[0]
        x = self.T(x_t)
        s, _ = self.q1(x_t)
        p = SoftmaxP()
        self.L.effk_qs8_softmax_params_init(C.byref(p), np.float32(opt.beta), s)
        depth = x.shape[-1]
        out = np.zeros(x.shape, np.int8)
        self.L.effk_qs8_softmax__scalar(C.byref(p), x, out, x.size // depth, depth)
        return out

    def quantize(self, op):
        x_t, y_t = op.inputs[0], op.outputs[0]
        x = self.T(x_t)
        so, zo = self.q1(y_t)
        out = np.zeros(x.shape, np.int8)
        if x.dtype == np.float32:
            self.L.effk_quantize_f32_qs8__scalar(x, out, x.size, so, zo)
        else:
            si, zi = self.q1(x_t)
            table = np.zeros(256, np.int8)
            self.L.effk_qs8_requantize_table(si, zi, so, zo, table)
            self.L.effk_qs8_lookup__scalar(table, x, out, x.size)
        return out

    def dequantize(self, op):
        x = self.T(op.inputs[0])
        s, z = self.q1(op.inputs[0])
        out = np.zeros(x.shape, np.float32)
        self.L.effk_dequantize_qs8_f32__scalar(x, out, x.size, s, z)
        return out

    def pad(self, op, name):
        x = self.T(op.inputs[0])
        pads = self.T(op.inputs[1]).reshape(-1, 2).astype(np.int32)
        assert x.ndim <= 4
        pads = np.concatenate([np.zeros((4 - x.ndim, 2), np.int32), pads])
        if name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
            value = int(self.T(op.inputs[2]).reshape(-1)[0])
        else:
            value = self.q1(op.outputs[0])[1]  # PAD fills with the output zero point
        shape = np.array(to4d(x.shape), np.int32)
        out = np.zeros(self.td[op.outputs[0]]["shape"], np.int8)
        self.L.effk_pad4d_qs8(np.ascontiguousarray(x.reshape(shape)), shape,
                              np.ascontiguousarray(pads[:, 0]), np.ascontiguousarray(pads[:, 1]),
                              value, out)
        return out

    def run_op(self, i, op):
        code = self.model.operatorCodes[op.opcodeIndex]
        bc = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = next(k for k, v in vars(S.BuiltinOperator).items() if v == bc)
        opt = op.builtinOptions
        if name == "CONV_2D":
            return name, self.conv(op, opt, False)
        if name == "DEPTHWISE_CONV_2D":
            return name, self.conv(op, opt, True)
        if name == "FULLY_CONNECTED":
            return name, self.fc(op, opt)
        if name in ("ADD", "MUL"):
            return name, self.binary(op, opt, name)
        if name == "LOGISTIC":
            return name, self.logistic(op)
        if name == "MEAN":
            return name, self.mean(op, opt)
        if name == "AVERAGE_POOL_2D":
            return name, self.avgpool(op, opt)
        if name == "SOFTMAX":
            return name, self.softmax(op, opt)
        if name == "QUANTIZE":
            return name, self.quantize(op)
        if name == "DEQUANTIZE":
            return name, self.dequantize(op)
        if name in ("PAD", "PADV2"):
            return name, self.pad(op, name)
        return name, None

    def check(self, inputs, dumps=None, verbose=True):
        for d, x in zip(self.it.get_input_details(), inputs):
            self.it.set_tensor(d["index"], x.reshape(d["shape"]).astype(d["dtype"]))
        self.it.invoke()
        ops = self.it._get_ops_details()
        bad = 0
        summary = {}
        for i, od in enumerate(ops):
            op = self.sg.operators[od["index"]]
            assert list(op.inputs) == list(od["inputs"]) and list(op.outputs) == list(od["outputs"])
            name, got = self.run_op(i, op)
            ref = self.T(op.outputs[0])
            extra = ""
            if dumps is not None and od["index"] in dumps:
                dump = dumps[od["index"]]
                if not np.array_equal(dump.reshape(ref.shape), ref):
                    extra = "  (interpreter != dump!)"
                    bad += 1
            if got is None:
                print(f"op {od['index']:3d} {name:18s} NOT CHECKED (no kernel){extra}")
                bad += 1
                continue
            got = got.reshape(ref.shape)
            if ref.dtype == np.float32:
                mism = int(np.sum(got.view(np.uint32) != ref.view(np.uint32)))
                maxd = float(np.max(np.abs(got - ref))) if ref.size else 0.0
            else:
                mism = int(np.sum(got != ref))
                maxd = int(np.max(np.abs(got.astype(np.int32) - ref.astype(np.int32)))) if ref.size else 0
            bad += mism > 0
            s = summary.setdefault(name, [0, 0, 0])
            s[0] += 1
            s[1] += mism > 0
            s[2] += mism
            if verbose or mism:
                print(f"op {od['index']:3d} {name:18s} {'match' if mism == 0 else 'MISMATCH'} "
                      f"mismatches={mism}/{ref.size} maxdiff={maxd}{extra}")
        for name, (n, nbad, nel) in sorted(summary.items()):
            print(f"  {name:18s} ops={n:3d} ops_mismatching={nbad} elements_mismatching={nel}")
        return bad


def load_dumps(d):
    with open(os.path.join(d, "index.json")) as f:
        idx = json.load(f)
    out = {}
    for e in idx:
        out[e["op_index"]] = np.fromfile(os.path.join(d, e["file"]), dtype=e["dtype"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("intermediates", nargs="?")
    ap.add_argument("--input")
    ap.add_argument("--random", type=int)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    ck = Checker(a.model, load_lib())
    inputs = []
    for d in ck.it.get_input_details():
        if a.random is not None:
            rng = np.random.default_rng(a.random)
            if d["dtype"] == np.float32:
                inputs.append(rng.normal(0, 3, d["shape"]).astype(np.float32))
            else:
                inputs.append(rng.integers(-128, 128, d["shape"]).astype(d["dtype"]))
        else:
            path = a.input or os.path.join(
                REF_DIR, os.path.basename(a.model).replace(".tflite", "") + "__chelsea.input.i8")
            inputs.append(np.fromfile(path, np.int8))
    dumps = load_dumps(a.intermediates) if a.intermediates else None
    bad = ck.check(inputs, dumps, verbose=not a.quiet)
    print("RESULT:", "all ops exact" if bad == 0 else f"{bad} ops differ")
    sys.exit(0 if bad == 0 else 1)


if __name__ == "__main__":
    main()
