#!/usr/bin/env python3
"""Reference vectors for byte-exact tests: for each model and image, the int8 input tensor
(preprocessing below) and the int8 output of LiteRT's *reference* kernels (BUILTIN_REF).
usage: make_reference.py OUT_DIR MODEL.tflite... --images NAME,NAME     (needs ai-edge-litert,
  scikit-image, pillow). NAME: a skimage.data photo (chelsea, coffee, astronaut, rocket, ...), centre-
  cropped 87.5 % and bilinear-resized to the model's input size; or 'noise<seed>' for uniform noise.
  Writes OUT_DIR/<model>__<NAME>.{rgb.u8,input.i8,output.i8} and OUT_DIR/index.json.
  e.g.  python3 tools/models/make_reference.py /tmp/ref models/efficientnet-lite0-int8.tflite \
            --images chelsea,coffee,noise7"""
import os, sys, json
import numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from make_lite0_int8 import preprocess
from ai_edge_litert.interpreter import Interpreter, OpResolverType

def image(name, size):
    if name.startswith('noise'):
        return np.random.default_rng(int(name[5:])).integers(0, 256, (size, size, 3), dtype=np.uint8)
    import skimage.data as d
    return preprocess(getattr(d, name)()[..., :3], size)

def main():
    args = sys.argv[1:]
    names = args[args.index('--images') + 1].split(','); args = args[:args.index('--images')]
    out, models = args[0], args[1:]
    os.makedirs(out, exist_ok=True)
    index = []
    for mp in models:
        it = Interpreter(model_path=mp, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        d, o = it.get_input_details()[0], it.get_output_details()[0]
        size = int(d['shape'][1]); s, z = d['quantization']
        mname = os.path.basename(mp).removesuffix('.tflite')
        for n in names:
            u8 = image(n, size)
            x = np.clip(np.round(((u8.astype(np.float32) - 127.0) / 128.0) / s) + z, -128, 127).astype(np.int8)
            it.set_tensor(d['index'], x[None]); it.invoke()
            y = it.get_tensor(o['index'])[0].copy()
            base = f'{mname}__{n}'
            u8.tofile(os.path.join(out, base + '.rgb.u8'))
            x.tofile(os.path.join(out, base + '.input.i8'))
            y.tofile(os.path.join(out, base + '.output.i8'))
            top5 = np.argsort(-y.astype(np.int32), kind='stable')[:5].tolist()
            index.append(dict(model=os.path.basename(mp), image=n, rgb=base + '.rgb.u8', input=base + '.input.i8',
                              output=base + '.output.i8', input_shape=[int(v) for v in d['shape']],
                              input_quant=[float(s), int(z)], output_shape=[int(v) for v in o['shape']],
                              output_quant=[float(o['quantization'][0]), int(o['quantization'][1])], top5=top5))
    json.dump(index, open(os.path.join(out, 'index.json'), 'w'), indent=1)
    print(len(index), 'vectors in', out)

if __name__ == '__main__':
    main()
