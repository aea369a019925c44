#!/usr/bin/env python3
"""Every tensor of one reference run (LiteRT reference kernels), for layer-by-layer debugging.
usage: dump_intermediates.py MODEL.tflite INPUT.i8 OUT_DIR     (needs ai-edge-litert, numpy)
  INPUT.i8 is a raw int8 input tensor, e.g. a *.input.i8 written by make_reference.py.
  Writes OUT_DIR/opNNN_<op>_t<tensor>.bin (raw, C order) and OUT_DIR/index.json
  (op_index, op, tensor, file, shape, dtype).
  e.g.  python3 tools/models/dump_intermediates.py M.tflite ref/M__chelsea.input.i8 /tmp/inter-M"""
import os, sys, json
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
mp, inp, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
it = Interpreter(model_path=mp, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                 experimental_preserve_all_tensors=True)
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d['index'], np.fromfile(inp, np.int8).reshape(d['shape'])); it.invoke()
ops = it._get_ops_details()
index = []
for op in ops:
    for t in op['outputs']:
        a = it.get_tensor(int(t))
        fn = f'op{op["index"]:03d}_{op["op_name"].lower()}_t{t}.bin'
        a.tofile(os.path.join(out, fn))
        index.append(dict(op_index=int(op['index']), op=op['op_name'], tensor=int(t), file=fn,
                          shape=list(map(int, a.shape)), dtype=str(a.dtype)))
json.dump(index, open(os.path.join(out, 'index.json'), 'w'), indent=1)
print(len(index), 'tensors in', out)
