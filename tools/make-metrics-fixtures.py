#!/usr/bin/python3
"""Golden fixtures for texad's metrics (test/fixtures/metrics/<case>/): scores.npy, labels.npy, expected.json.

Run with Debian's interpreter (python3-sklearn, python3-scipy, numpy):  /usr/bin/python3 tools/make-metrics-fixtures.py

Expected values come from scikit-learn (roc_auc_score, average_precision_score, precision_recall_curve) and from an
AUPRO reference written from the MVTec AD evaluation definition (scipy.ndimage.label with a 3x3 structure, per-pixel
FP and 1/|region| increments, trapezoid up to FPR 0.3 with linear interpolation, divided by 0.3). The AUPRO
reference is itself cross-checked against a brute-force evaluation of the PRO curve at every threshold.
"""
import json
import os
import sys
from fractions import Fraction

import numpy as np
from scipy.ndimage import label
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.metrics._ranking import _binary_clf_curve

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'metrics')
LIMIT = 0.3


def f1_max(y, s):
    precision, recall, thresholds = precision_recall_curve(y, s)
    p, r = precision[:-1], recall[:-1]
    with np.errstate(invalid='ignore', divide='ignore'):
        f1 = 2 * p * r / (p + r)
    best = float(np.nanmax(f1))
    # Threshold: the lowest one whose exact F1 = 2TP/(TP+FP+P) is maximal (anomalib's argmax over ascending
    # thresholds). Exact rationals decide ties that floating point could split either way.
    fps, tps, thr = _binary_clf_curve(y, s)
    total = int(tps[-1])
    exact = [Fraction(2 * int(t), int(t) + int(f) + total) for t, f in zip(tps, fps)]
    top = max(exact)
    threshold = min(float(t) for t, e in zip(thr, exact) if e == top)
    assert abs(float(top) - best) < 1e-15, (float(top), best)
    return best, threshold


def trapezoid(x, y, x_max):
    """MVTec AD's trapezoid(): area under (x, y) up to x_max, interpolating y at x_max if it is not a point."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    correction = 0.0
    if x_max not in x:
        ins = int(np.searchsorted(x, x_max, side='right'))
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x, y = x[mask], y[mask]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def pro_curve(maps, masks):
    """MVTec AD compute_pro(): (FPR, PRO) at every distinct score, with (0, 0) prepended and (1, 1) appended."""
    structure = np.ones((3, 3), dtype=int)
    fp_changes = np.zeros(maps.shape, dtype=np.uint32)
    pro_changes = np.zeros(maps.shape, dtype=np.float64)
    ok_pixels = 0
    regions = 0
    for i, gt in enumerate(masks):
        labeled, n = label(gt, structure)
        regions += n
        ok = labeled == 0
        ok_pixels += int(ok.sum())
        fp_changes[i, ok] = 1
        for k in range(n):
            region = labeled == k + 1
            pro_changes[i, region] = 1.0 / region.sum()
    flat = maps.ravel()
    order = np.argsort(flat, kind='mergesort')[::-1]
    scores = flat[order]
    fprs = np.cumsum(fp_changes.ravel()[order], dtype=np.float64) / ok_pixels
    pros = np.cumsum(pro_changes.ravel()[order]) / regions
    keep = np.append(np.diff(scores) != 0, True)
    fprs = np.clip(fprs[keep], None, 1.0)
    pros = np.clip(pros[keep], None, 1.0)
    return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0])), regions


def aupro(maps, masks):
    fpr, pro, regions = pro_curve(maps, masks)
    return trapezoid(fpr, pro, LIMIT) / LIMIT, regions


def aupro_brute(maps, masks):
    """PRO(t) = mean over regions of (region pixels >= t)/|region|, FPR(t) = negatives >= t / negatives."""
    structure = np.ones((3, 3), dtype=int)
    regions = []
    for i, gt in enumerate(masks):
        labeled, n = label(gt, structure)
        for k in range(n):
            regions.append(maps[i][labeled == k + 1])
    negatives = maps[masks == 0]
    xs, ys = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        xs.append(float((negatives >= t).sum()) / negatives.size)
        ys.append(float(np.mean([(r >= t).sum() / r.size for r in regions])))
    xs.append(1.0)
    ys.append(1.0)
    return trapezoid(xs, ys, LIMIT) / LIMIT


def binary_metrics(y, s):
    f1, threshold = f1_max(y, s)
    return {
        'auroc': float(roc_auc_score(y, s)),
        'ap': float(average_precision_score(y, s)),
        'f1max': f1,
        'f1Threshold': threshold,
        'positives': int(np.sum(y)),
        'negatives': int(y.size - np.sum(y)),
    }


def save(name, scores, labels, expected, note):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, 'scores.npy'), scores)
    np.save(os.path.join(d, 'labels.npy'), labels)
    expected = dict(expected, note=note, pixel=scores.ndim == 3)
    with open(os.path.join(d, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)
        f.write('\n')


def image_case(name, scores, labels, note):
    y = np.asarray(labels).astype(np.int64)
    save(name, scores, labels, binary_metrics(y, scores.astype(np.float64)), note)


def pixel_case(name, maps, masks, note, brute=True):
    y = (masks.ravel() > 0).astype(np.int64)
    expected = binary_metrics(y, maps.ravel().astype(np.float64))
    value, regions = aupro(maps, masks)
    if brute:
        check = aupro_brute(maps, masks)
        assert abs(check - value) < 1e-12, (name, check, value)
    expected['aupro'] = value
    expected['regions'] = regions
    save(name, maps, masks, expected, note)


def blobs(rng, h, w, count, max_radius):
    mask = np.zeros((h, w), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(count):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        ry, rx = rng.integers(1, max_radius + 1, size=2)
        mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    return mask


def anomaly_map(rng, mask, noise, dtype):
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = 0.2 * np.sin(yy / 5.0) * np.cos(xx / 7.0)
    return (0.3 + smooth + 0.5 * mask + noise * rng.standard_normal((h, w))).astype(dtype)


def main():
    rng = np.random.default_rng(20240603)

    # ---- image-level
    n = 2000
    y = (rng.random(n) < 0.3).astype(np.uint8)
    s = np.round(rng.standard_normal(n) + 0.8 * y, 1).astype(np.float32)
    image_case('ties', s, y, 'scores on a 0.1 grid: heavy ties across classes')

    y = (rng.random(500) < 0.4).astype(np.uint8)
    image_case('all-equal', np.full(500, 0.5, dtype=np.float32), y, 'every score equal: AUROC 0.5')

    n = 1200
    y = (rng.random(n) < 0.5).astype(np.uint8)
    pool = np.array([3.4e38, -3.4e38, 1e38, -1e38, 1e-38, -1e-38, 1e-45, -1e-45, 2e-45, 0.0, -0.0, 1.0, -1.0,
                     123456.79, -7.5e-20, 6.1e-5, 65504.0], dtype=np.float32)
    s = pool[rng.integers(0, pool.size, n)]
    s[y == 1] = pool[rng.integers(0, 9, int(y.sum()))]  # positives lean to the extremes
    image_case('magnitudes', s.astype(np.float32), y,
               'huge, tiny, subnormal and negative float32 scores; -0 and +0 must tie')

    n = 1500
    y = (rng.random(n) < 0.35).astype(np.int64)
    s = rng.standard_normal(n) + 0.5 * y
    s[:40] = 1e300
    s[40:80] = -1e-300
    s[80:120] = 1e-300
    s[120:160] = 0.1 + 1e-16 * np.arange(40)  # distinct in float64, one value in float32
    image_case('float64', s.astype(np.float64), y, 'float64 scores that are not float32 values: 64-bit keys')

    n = 1000
    y = (rng.random(n) < 0.2)
    s = np.round(rng.random(n) * 64 + 16 * y) / 64
    image_case('bool-labels', s.astype(np.float64), y, 'float64 scores that are float32 values, bool labels')

    # ---- pixel-level
    h, w = 48, 56
    mask = blobs(rng, h, w, 4, 7)
    mask[2, 2] = mask[3, 3] = mask[4, 4] = 1  # a diagonal chain: one region under 8-connectivity
    mask[2, 50] = mask[3, 52] = 1  # two regions: no 8-neighbourhood contact
    pixel_case('pixel-single', anomaly_map(rng, mask, 0.15, np.float32)[None], mask[None],
               'one image, blobs, a diagonal chain and separated pixels')

    h, w = 40, 40
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[1:h:3, 1:w:3] = 1  # isolated pixels: 169 regions of one pixel
    mask[20:24, 20:24] = 1
    maps = np.round(anomaly_map(rng, mask, 0.2, np.float64) * 16) / 16
    pixel_case('pixel-small-regions', maps.astype(np.float32)[None], mask[None],
               'many one-pixel regions and tied scores (1/16 grid)')

    k, h, w = 12, 32, 32
    masks = np.zeros((k, h, w), dtype=np.uint8)
    maps = np.zeros((k, h, w), dtype=np.float32)
    for i in range(k):
        if i % 2 == 1:
            masks[i] = blobs(rng, h, w, int(rng.integers(1, 4)), 6)
        maps[i] = anomaly_map(rng, masks[i], 0.25, np.float32)
    maps[0, :4, :4] = -0.0
    maps[1, :4, :4] = 0.0
    pixel_case('pixel-set', maps, masks.astype(bool), 'normal and defective images, bool masks, -0/+0 ties')

    k, h, w = 6, 24, 24
    masks = np.stack([blobs(rng, h, w, 2, 5) if i % 3 else np.zeros((h, w), np.uint8) for i in range(k)])
    maps = np.stack([np.floor(anomaly_map(rng, m, 0.3, np.float64) * 4) for m in masks])
    pixel_case('pixel-ties', maps.astype(np.float32), masks, 'pixel scores on a few levels: heavy ties in AUPRO')

    k, h, w = 4, 20, 30
    masks = np.stack([blobs(rng, h, w, 2, 4) for _ in range(k)])
    maps = np.stack([anomaly_map(rng, m, 0.1, np.float64) for m in masks]) * 1e-3 + 1e-12 * rng.random((k, h, w))
    pixel_case('pixel-float64', maps.astype(np.float64), masks.astype(np.int64),
               'float64 maps, int64 masks: 64-bit keys in AUPRO')

    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f'wrote fixtures to {os.path.normpath(OUT)} ({total / 1024:.0f} KiB)', file=sys.stderr)


if __name__ == '__main__':
    main()
