#!/usr/bin/env python3
"""Run a .tflite int8 classifier under LiteRT on the bundled sample photos: top-5, agreement
with the float model, and latency (XNNPACK, N threads).
usage: litert_check.py INT8.tflite [FLOAT.tflite] [--bench]     (needs ai-edge-litert, scikit-image, pillow)
  Labels: imagenet-labels.txt beside the model, else the project's models/imagenet-labels.txt.
  --bench: median latency with XNNPACK at 1 and 2 threads (300 runs) and the reference kernels.
  e.g.  python3 tools/models/litert_check.py models/efficientnet-lite0-int8.tflite --bench"""
import sys, time, os, json
import numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from make_lite0_int8 import photos, preprocess
from ai_edge_litert.interpreter import Interpreter, OpResolverType

def interp(path, threads=1, ref=False):
    kw = dict(model_path=path, num_threads=threads)
    if ref: kw['experimental_op_resolver_type'] = OpResolverType.BUILTIN_REF
    it = Interpreter(**kw); it.allocate_tensors(); return it

def run(it, u8):
    d = it.get_input_details()[0]
    if d['dtype'] == np.int8:
        s, z = d['quantization']
        x = np.clip(np.round(((u8.astype(np.float32) - 127.0) / 128.0) / s) + z, -128, 127).astype(np.int8)
    else:
        x = ((u8.astype(np.float32) - 127.0) / 128.0)
    it.set_tensor(d['index'], x[None]); it.invoke()
    o = it.get_output_details()[0]
    return x, it.get_tensor(o['index'])[0].copy()

def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    q = args[0]; f = args[1] if len(args) > 1 else None
    lp = os.path.join(os.path.dirname(q), 'imagenet-labels.txt')
    if not os.path.exists(lp):
        lp = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'models', 'imagenet-labels.txt')
    labels = [l.strip() for l in open(lp)]
    size = int(interp(q).get_input_details()[0]['shape'][1])
    imgs = [(n, preprocess(a, size)) for n, a in photos()]
    iq, ir = interp(q), interp(q, ref=True)
    ifl = interp(f) if f else None
    agree = 0
    for n, u8 in imgs:
        x, y = run(iq, u8); _, yr = run(ir, u8)
        t5 = np.argsort(-y.astype(np.int32), kind='stable')[:5].tolist()
        line = f'{n:22s} int8 top5 {t5} {labels[t5[0]]!r}  xnnpack==ref:{np.array_equal(y, yr)} maxdiff {np.abs(y.astype(int)-yr.astype(int)).max()}'
        if ifl:
            _, yf = run(ifl, u8); tf5 = np.argsort(-yf)[:5].tolist(); agree += tf5[0] == t5[0]
            line += f'  float top5 {tf5}'
        print(line)
    if ifl: print(f'top-1 agreement int8 vs float: {agree}/{len(imgs)}')
    if '--bench' in sys.argv:
        u8 = imgs[0][1]
        for th in (1, 2):
            it = interp(q, th); [run(it, u8) for _ in range(20)]
            ts = []
            for _ in range(300):
                t = time.perf_counter(); it.invoke(); ts.append(time.perf_counter() - t)
            ts = np.array(ts) * 1e3
            print(f'LiteRT XNNPACK int8 threads={th}: median {np.median(ts):.3f} ms  min {ts.min():.3f} ms  p90 {np.percentile(ts,90):.3f} ms')
        it = interp(q, 1, ref=True); run(it, u8)
        ts = []
        for _ in range(5):
            t = time.perf_counter(); it.invoke(); ts.append(time.perf_counter() - t)
        print(f'LiteRT reference kernels int8: median {np.median(ts)*1e3:.1f} ms')

if __name__ == '__main__':
    main()
