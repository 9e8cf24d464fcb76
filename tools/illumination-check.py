# Which input normalisation removes the synthetic test-time optical shift? A NumPy variant of texad's patch-knn
# reference detector (6x6 patches, stride 3, the same 8 statistics, image score = the largest nearest-patch distance;
# unlike texad's, it keeps every training patch and scales each statistic by its training std) run on raw images,
# per-image standardisation, flat-field (image over its Gaussian blur, scipy mode "reflect"), and both, with blur
# sigmas of 4, 8 and 16 px on the tiny sets' 128 px; image AUROC per set and category, then the mean. It chose the flat-field sigma (1/16 of the side) that src/methods/components/illumination.ts
# and the patch-knn-flat reference use, on held-out sets (README "Datasets"). Sets written by `texad synth`:
#   node dist/src/cli/bin.js synth --out /tmp/syn101 --seed 101 && ... --seed 102
#   /usr/bin/python3 tools/illumination-check.py /tmp/syn101,/tmp/syn102
import glob, sys, numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

def load(p): return np.asarray(Image.open(p).convert('RGB'), dtype=np.float32) / 255.0

def prep(x, mode, sigma):
    if mode == 'raw': return x
    out = np.empty_like(x)
    for c in range(3):
        ch = x[..., c]
        if 'ff' in mode:
            ch = ch / np.maximum(gaussian_filter(ch, sigma, mode='reflect'), 1e-3)
        if 'std' in mode:
            ch = (ch - ch.mean()) / (ch.std() + 1e-6)
        out[..., c] = ch
    return out

P, S = 6, 3
def feats(x):
    H = x.shape[0]; g = (H - P) // S + 1
    f = []
    for gy in range(g):
        for gx in range(g):
            p = x[gy*S:gy*S+P, gx*S:gx*S+P]
            f.append(np.concatenate([p.mean((0,1)), p.std((0,1)), [np.abs(np.diff(p[...,0],axis=1)).mean(), np.abs(np.diff(p[...,0],axis=0)).mean()]]))
    return np.array(f, dtype=np.float32), g

def run(root, cat, mode, sigma):
    train = sorted(glob.glob(f'{root}/{cat}/*/train/good/*.png'))
    tests = sorted(glob.glob(f'{root}/{cat}/*/test/*/*.png'))
    tf = np.concatenate([feats(prep(load(p), mode, sigma))[0] for p in train])
    mu, sd = tf.mean(0), tf.std(0) + 1e-6
    nn = NearestNeighbors(n_neighbors=1).fit((tf - mu) / sd)
    ys, ss = [], []
    for p in tests:
        f, g = feats(prep(load(p), mode, sigma))
        d, _ = nn.kneighbors((f - mu) / sd)
        ss.append(d.max()); ys.append(0 if '/good/' in p else 1)
    return roc_auc_score(ys, ss)

roots = sys.argv[1].split(',')
for mode, sigma in [('raw', 0), ('std', 0), ('ff', 8), ('ff+std', 8), ('ff+std', 16), ('ff+std', 4)]:
    vals = [run(r, c, mode, sigma) for r in roots for c in ['cloth', 'metal', 'wafer']]
    print(f'{mode:8s} sigma {sigma:2d}: ' + ' '.join(f'{100*v:5.1f}' for v in vals) + f' | mean {100*np.mean(vals):5.1f}', flush=True)
