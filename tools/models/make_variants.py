#!/usr/bin/env python3
"""Random-weight int8 EfficientNet variants for op/shape coverage (B-style: swish + squeeze-excitation;
Lite-style: ReLU6, no SE, fixed 32-channel stem and 1280-channel head). Batch-norm statistics are fitted
to skimage's photos, then TFLiteConverter makes a full-integer int8 model (input/output int8).

usage: make_variants.py OUT_DIR NAME...      (needs tensorflow-cpu, scikit-image, pillow; env SEED, default 1)
  NAME = b0 | lite0..lite4                   the standard shapes (b0 = width 1.0, depth 1.0, 224)
       | custom:[b|lite]:wW:dD:rR            any width multiplier W, depth multiplier D, input R x R;
                                             parts in any order, defaults b, w1.0, d1.0, r224
  e.g.  SEED=2 python3 tools/models/make_variants.py /tmp/v b0 lite2 custom:b:w0.5:d0.5:r128
  writes OUT_DIR/efficientnet-<b0|liteN|b-w0.5-d0.5-r128|lite-w0.75-d1.0-r160>-int8-random<SEED>.tflite"""
import os, sys, math
import numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from make_lite0_int8 import photos, preprocess, BLOCKS

LITE = {'lite0': (1.0, 1.0, 224), 'lite1': (1.0, 1.1, 240), 'lite2': (1.1, 1.2, 260),
        'lite3': (1.2, 1.4, 280), 'lite4': (1.4, 1.8, 300)}

def round_filters(f, w):
    f *= w; n = max(8, int(f + 4) // 8 * 8)
    return n + 8 if n < 0.9 * f else n

def lite(width, depth, size, b=False):
    """Lite-N (ReLU6, no SE, fixed stem/head) or, with b=True, B-N (swish, squeeze-excitation)."""
    import tensorflow as tf
    L = tf.keras.layers
    relu6 = (lambda x: L.Activation('swish')(x)) if b else (lambda x: L.ReLU(6.0)(x))
    def se(x, cin, ch):
        s = L.GlobalAveragePooling2D(keepdims=True)(x)
        s = L.Activation('swish')(L.Conv2D(max(1, int(cin * 0.25)), 1)(s))
        s = L.Activation('sigmoid')(L.Conv2D(ch, 1)(s))
        return L.Multiply()([x, s])
    bn = lambda x: L.BatchNormalization(epsilon=1e-3, momentum=0.0, beta_initializer='random_normal',
                                        gamma_initializer=tf.keras.initializers.RandomUniform(0.5, 1.5))(x)
    inp = tf.keras.Input((size, size, 3), batch_size=1)
    stem, head = (round_filters(32, width), round_filters(1280, width)) if b else (32, 1280)
    x = relu6(bn(L.Conv2D(stem, 3, 2, padding='same', use_bias=False)(inp)))
    for i, (r, k, s, e, cin, cout) in enumerate(BLOCKS):
        cin, cout = round_filters(cin, width), round_filters(cout, width)
        if i == 0: cin = stem
        reps = r if (i in (0, len(BLOCKS) - 1) and not b) else int(math.ceil(depth * r))
        for j in range(reps):
            stride, ci = (s, cin) if j == 0 else (1, cout)
            y = x
            if e != 1: y = relu6(bn(L.Conv2D(ci * e, 1, padding='same', use_bias=False)(y)))
            y = relu6(bn(L.DepthwiseConv2D(k, stride, padding='same', use_bias=False)(y)))
            if b: y = se(y, ci, ci * e)
            y = bn(L.Conv2D(cout, 1, padding='same', use_bias=False)(y))
            if stride == 1 and ci == cout: y = L.Add()([x, y])
            x = y
    x = relu6(bn(L.Conv2D(head, 1, padding='same', use_bias=False)(x)))
    x = L.GlobalAveragePooling2D()(x)
    dense = L.Dense(1000, kernel_initializer=tf.keras.initializers.RandomNormal(stddev=0.02))
    return tf.keras.Model(inp, dense(x)), size


def convert(m, size, path):
    import tensorflow as tf
    imgs = [preprocess(a, size) for _, a in photos()]
    norm = lambda u8: ((u8.astype(np.float32) - 127.0) / 128.0)[None]
    # Fit batch-norm statistics to real photos (one step, learning rate 0), so that a
    # random-weight network keeps image-dependent activations instead of collapsing.
    X = np.concatenate([norm(u8) for u8 in imgs] + [norm(u8[:, ::-1]) for u8 in imgs])
    m.compile(optimizer=tf.keras.optimizers.SGD(0.0), loss='mse')
    m.fit(X, np.zeros((len(X),) + tuple(m.output.shape[1:]), np.float32), batch_size=len(X), epochs=1, verbose=0)
    def rep():
        rng = np.random.default_rng(0)
        for u8 in imgs: yield [norm(u8)]; yield [norm(u8[:, ::-1])]
        for _ in range(12):
            u8 = imgs[rng.integers(len(imgs))]
            yield [norm(np.clip(u8.astype(np.int16) + rng.integers(-20, 20, u8.shape), 0, 255).astype(np.uint8))]
    cv = tf.lite.TFLiteConverter.from_keras_model(m)
    cv.optimizations = [tf.lite.Optimize.DEFAULT]
    cv.representative_dataset = rep
    cv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    cv.inference_input_type = tf.int8; cv.inference_output_type = tf.int8
    open(path, 'wb').write(cv.convert())

def parse(name):
    """-> (file tag, (width, depth, size, b))"""
    if name == 'b0': return 'b0', (1.0, 1.0, 224, True)
    if name in LITE: return name, LITE[name] + (False,)
    if not name.startswith('custom:'): sys.exit(f'unknown variant {name!r}')
    w, d, r, b = 1.0, 1.0, 224, True
    for t in name.split(':')[1:]:
        if t in ('b', 'lite'): b = t == 'b'
        elif t[:1] == 'w': w = float(t[1:])
        elif t[:1] == 'd': d = float(t[1:])
        elif t[:1] == 'r': r = int(t[1:])
        else: sys.exit(f'bad part {t!r} in {name!r}')
    return f'{"b" if b else "lite"}-w{w}-d{d}-r{r}', (w, d, r, b)

def main():
    import tensorflow as tf
    out = sys.argv[1]; os.makedirs(out, exist_ok=True)
    seed = int(os.environ.get('SEED', '1'))
    for name in sys.argv[2:]:
        tf.keras.backend.clear_session()      # layer names (and so the file) independent of order
        tf.keras.utils.set_random_seed(seed)
        tag, (w, d, r, b) = parse(name)
        m, size = lite(w, d, r, b=b)
        p = os.path.join(out, f'efficientnet-{tag}-int8-random{seed}.tflite')
        convert(m, size, p); print('wrote', p, size)

if __name__ == '__main__':
    main()
