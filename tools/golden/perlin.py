"""Golden fixtures for shaders/perlin.wgsl and shaders/augment.wgsl (DRAEM's anomaly synthesis).

perlin: DRAEM's perlin.py (rand_perlin_2d_np) with its random gradient angles replaced by given ones.
augment: the colour ops against PIL itself where imgaug wraps PIL (sharpness, solarize, posterize, invert,
autocontrast, equalize) and against the documented formulas where imgaug goes through OpenCV, which is not
installed here (gamma table, YCrCb brightness, HSV hue/saturation, bilinear rotation about the centre), and the
DRAEM blend. Run: /usr/bin/python3 tools/golden/perlin.py
"""
import math
import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps
from common import write

rng = np.random.default_rng(11)


def arr(a):
    a = np.asarray(a, dtype=np.float64)
    return {'shape': list(a.shape), 'data': [float('%.9g' % v) for v in a.reshape(-1)]}


# ---- perlin.py, verbatim algorithm with the angles as an argument ----------------------------------------
def lerp_np(x, y, w):
    return (y - x) * w + x


def rand_perlin_2d_np(shape, res, angles, fade=lambda t: 6 * t ** 5 - 15 * t ** 4 + 10 * t ** 3):
    delta = (res[0] / shape[0], res[1] / shape[1])
    d = (shape[0] // res[0], shape[1] // res[1])
    grid = np.mgrid[0:res[0]:delta[0], 0:res[1]:delta[1]].transpose(1, 2, 0) % 1
    gradients = np.stack((np.cos(angles), np.sin(angles)), axis=-1)
    tile_grads = lambda slice1, slice2: np.repeat(np.repeat(gradients[slice1[0]:slice1[1], slice2[0]:slice2[1]], d[0], axis=0), d[1], axis=1)
    dot = lambda grad, shift: (np.stack((grid[:shape[0], :shape[1], 0] + shift[0], grid[:shape[0], :shape[1], 1] + shift[1]),
                                        axis=-1) * grad[:shape[0], :shape[1]]).sum(axis=-1)
    n00 = dot(tile_grads([0, -1], [0, -1]), [0, 0])
    n10 = dot(tile_grads([1, None], [0, -1]), [-1, 0])
    n01 = dot(tile_grads([0, -1], [1, None]), [0, -1])
    n11 = dot(tile_grads([1, None], [1, None]), [-1, -1])
    t = fade(grid[:shape[0], :shape[1]])
    return math.sqrt(2) * lerp_np(lerp_np(n00, n10, t[..., 0]), lerp_np(n01, n11, t[..., 0]), t[..., 1])


perlin_cases = []
for shape, res_list in [((32, 64), [(1, 1), (2, 4), (8, 8), (16, 32)]), ((16, 48), [(4, 16), (1, 2)])]:
    stride = max((a + 1) * (b + 1) for a, b in res_list)
    angles = (2 * math.pi * rng.random((len(res_list), stride))).astype(np.float32)
    out = [rand_perlin_2d_np(shape, r, angles[i, :(r[0] + 1) * (r[1] + 1)].astype(np.float64).reshape(r[0] + 1, r[1] + 1))
           for i, r in enumerate(res_list)]
    perlin_cases.append({'name': 'perlin %s res %s' % (list(shape), res_list), 'op': 'perlinNoise',
                         'args': {'size': list(shape), 'res': [list(r) for r in res_list]},
                         'inputs': {'angles': arr(angles)}, 'output': arr(np.stack(out)[:, None])})
write('perlin', perlin_cases)

# ---- augment ops -------------------------------------------------------------------------------------------
B, H, W = 3, 12, 16
# Smooth-ish images with full range, so histograms have structure and cutoffs bite.
base = rng.integers(0, 256, (B, H, W, 3)).astype(np.float64)
img = np.clip(base * np.linspace(0.4, 1.0, W)[None, None, :, None] + 20, 0, 255).round().astype(np.uint8)
img[1] = (img[1] // 3) + 60  # narrow range: autocontrast stretches it
x_chw = img.transpose(0, 3, 1, 2).astype(np.float64)
cases = []


def add(name, op, args, out_hwc=None, out_chw=None, inputs=None):
    out = out_chw if out_chw is not None else np.stack(out_hwc).transpose(0, 3, 1, 2)
    cases.append({'name': name, 'op': op, 'args': args, 'inputs': inputs or {'x': arr(x_chw)}, 'output': arr(out)})


def pil_each(fn, params):
    return [np.asarray(fn(Image.fromarray(img[b]), p) if p is not None else Image.fromarray(img[b])).astype(np.float64)
            for b, p in enumerate(params)]


sh = [0.3, None, 1.8]
add('sharpen (PIL ImageEnhance.Sharpness)', 'sharpen', {'factor': sh}, pil_each(lambda im, f: ImageEnhance.Sharpness(im).enhance(f), sh))
cut = [0, 7, None]
add('autocontrast (PIL ImageOps.autocontrast)', 'autocontrast', {'cutoff': cut}, pil_each(lambda im, c: ImageOps.autocontrast(im, c), cut))
eq = [True, True, False]
add('equalize (PIL ImageOps.equalize)', 'equalize', {'on': eq}, pil_each(lambda im, o: ImageOps.equalize(im), [1 if o else None for o in eq]))
add('solarize 77 (PIL ImageOps.solarize)', 'lut', {'kind': 'solarize', 'value': 77}, pil_each(lambda im, t: ImageOps.solarize(im, t), [77] * B))
add('posterize 3 (PIL ImageOps.posterize)', 'lut', {'kind': 'posterize', 'value': 3}, pil_each(lambda im, b: ImageOps.posterize(im, b), [3] * B))
add('invert (PIL ImageOps.invert)', 'lut', {'kind': 'invert', 'value': 0}, pil_each(lambda im, _: ImageOps.invert(im), [0] * B))
# imgaug adjust_contrast_gamma for uint8: float32 table of linspace(0, 1, 256) ** gamma * 255, cast to uint8.
for g in (0.6, 1.7):
    table = (np.linspace(0, 1.0, num=256, dtype=np.float32) ** np.float32(g)) * 255
    table = np.clip(table, 0, 255).astype(np.uint8)
    add('gamma %s (imgaug table)' % g, 'lut', {'kind': 'gamma', 'value': g}, out_chw=table[img].transpose(0, 3, 1, 2).astype(np.float64))


def ycrcb_brightness(im, mul, addv):
    r, g, b = [im[..., k].astype(np.float64) for k in range(3)]
    y = np.clip(np.round(0.299 * r + 0.587 * g + 0.114 * b), 0, 255)
    cr = np.clip(np.round((r - y) * 0.713 + 128), 0, 255) - 128
    cb = np.clip(np.round((b - y) * 0.564 + 128), 0, 255) - 128
    y2 = np.clip(np.clip(np.round(y * mul), 0, 255) + addv, 0, 255)
    out = np.stack([y2 + 1.403 * cr, y2 - 0.714 * cr - 0.344 * cb, y2 + 1.773 * cb], -1)
    return np.clip(np.round(out), 0, 255)


br = [(0.85, 12), None, (1.15, -25)]
add('brightness (YCrCb formula)', 'brightness', {'params': [None if p is None else {'mul': p[0], 'add': p[1]} for p in br]},
    [ycrcb_brightness(img[b], *p) if p else img[b].astype(np.float64) for b, p in enumerate(br)])


def hsv_shift(im, hue, sat):
    rgb = im.astype(np.float64)
    v = rgb.max(-1)
    diff = v - rgb.min(-1)
    s = np.where(v > 0, np.round(255 * diff / np.maximum(v, 1)), 0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(diff, 1)
    hd = np.where(v == r, 60 * (g - b) / safe, np.where(v == g, 120 + 60 * (b - r) / safe, 240 + 60 * (r - g) / safe))
    hd = np.where(diff > 0, hd, 0)
    hd = np.where(hd < 0, hd + 360, hd)
    h = np.round(hd / 2) % 180
    hue_i = int(np.float32(np.float32(hue) / np.float32(255.0)) * np.float32(180))
    h2 = np.mod(h + hue_i, 180)
    s2 = np.clip(s + sat, 0, 255) / 255
    vv = v / 255
    hh = h2 * 2 / 60
    sector = np.floor(hh)
    f = hh - sector
    p, q, t = vv * (1 - s2), vv * (1 - s2 * f), vv * (1 - s2 * (1 - f))
    sec = sector.astype(int) % 6
    table = [(vv, t, p), (q, vv, p), (p, vv, t), (p, q, vv), (t, p, vv), (vv, p, q)]
    out = np.zeros_like(rgb)
    for k in range(6):
        m = sec == k
        for c in range(3):
            out[..., c][m] = table[k][c][m]
    return np.clip(np.round(out * 255), 0, 255)


hs = [(-40, 30), (25, -50), None]
add('hue/saturation (OpenCV HSV formula)', 'hueSaturation', {'params': [None if p is None else {'hue': p[0], 'saturation': p[1]} for p in hs]},
    [hsv_shift(img[b], *p) if p else img[b].astype(np.float64) for b, p in enumerate(hs)])


def rotate_np(plane, deg, rnd):
    h, w = plane.shape
    th = math.radians(deg)
    co, si = math.cos(th), math.sin(th)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    out = np.zeros_like(plane)
    for yy in range(h):
        for xx in range(w):
            sx = cx + co * (xx - cx) + si * (yy - cy)
            sy = cy - si * (xx - cx) + co * (yy - cy)
            x0, y0 = math.floor(sx), math.floor(sy)
            fx, fy = sx - x0, sy - y0
            acc = 0.0
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    ty, tx = y0 + dy, x0 + dx
                    if 0 <= ty < h and 0 <= tx < w:
                        acc += wy * wx * plane[ty, tx]
            out[yy, xx] = round(acc) if rnd else acc
    return out


rot = [30.0, None, -75.5]
for rnd in (False, True):
    out = np.stack([np.stack([rotate_np(x_chw[b, c], rot[b], rnd) if rot[b] is not None else x_chw[b, c] for c in range(3)])
                    for b in range(B)])
    add('rotate round=%s (bilinear about the centre, zero fill)' % rnd, 'rotate', {'degrees': rot, 'round': rnd}, out_chw=out)

image = rng.random((B, 3, H, W)).astype(np.float32).astype(np.float64)
noise = rng.normal(0.3, 0.5, (B, 1, H, W)).astype(np.float32).astype(np.float64)
beta = [0.25, None, 0.7]
m = np.stack([(noise[b] > 0.5).astype(np.float64) if beta[b] is not None else np.zeros_like(noise[b]) for b in range(B)])
bt = np.array([0 if b is None else b for b in beta])[:, None, None, None]
aug = image * (1 - m) + (1 - bt) * x_chw / 255 * m + bt * image * m
cases.append({'name': 'blend (DRAEM data_loader formula)', 'op': 'blend', 'args': {'beta': beta},
              'inputs': {'image': arr(image), 'source': arr(x_chw), 'noise': arr(noise)},
              'output': arr(aug), 'mask': arr(m)})
write('augment', cases)
