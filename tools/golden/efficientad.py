"""EfficientAD parity fixture: one training step (student + autoencoder) and the normalised test map, written from
the spec (../shared/reference/methods.md §6, nelson1425/EfficientAD efficientad.py, anomalib torch_model.py).

Weights are not stored: both sides derive them from (seed, tensor name) with texad's Philox generator
(tools/golden/backbones.py reimplements it): the PDNs as texad's random-init mode, the autoencoder as
cpuUniform([seed, fnv1a(name)], stream 0) within nn.Conv2d's default bounds. Small shapes: 64 px images, PDN-S,
384 teacher outputs. Dropout is 0 here (its Philox masks are checked by the dropout op's own tests).
Everything runs in float64 on inputs rounded to float32.

  /usr/bin/python3 tools/golden/efficientad.py     writes test/fixtures/golden/efficientad.json
"""
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backbones as bb  # noqa: E402
from common import ROOT, arr  # noqa: E402

SIZE, OUT = 64, 384
TEACHER_SEED, STUDENT_SEED, AE_SEED, IMAGE_SEED = 11, 12, 13, 14
LR, WEIGHT_DECAY, HARD_Q = 1e-4, 1e-5, 0.999
QUANTILES = {'stLow': 0.02, 'stHigh': 0.5, 'aeLow': 0.01, 'aeHigh': 0.3}
PAD = 4
SAMPLES = 48
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).reshape(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).reshape(1, 3, 1, 1)


def f32(t):
    return t.to(torch.float32).to(torch.float64)


class Autoencoder(nn.Module):
    """The spec's autoencoder with anomalib's names; sizes from anomalib's image-size formulas (clamped to >= 1)."""

    def __init__(self, size, out):
        super().__init__()
        self.size = size
        enc = [(3, 32), (32, 32), (32, 64), (64, 64), (64, 64)]
        self.encoder = nn.Module()
        for i, (cin, cout) in enumerate(enc):
            self.encoder.add_module('enconv%d' % (i + 1), nn.Conv2d(cin, cout, 4, stride=2, padding=1))
        self.encoder.add_module('enconv6', nn.Conv2d(64, 64, size // 32))
        self.decoder = nn.Module()
        for i in range(6):
            self.decoder.add_module('deconv%d' % (i + 1), nn.Conv2d(64, 64, 4, padding=2))
        self.decoder.add_module('deconv7', nn.Conv2d(64, 64, 3, padding=1))
        self.decoder.add_module('deconv8', nn.Conv2d(64, out, 3, padding=1))

    def forward(self, x):
        e = self.encoder
        for i in range(1, 6):
            x = F.relu(getattr(e, 'enconv%d' % i)(x))
        x = e.enconv6(x)
        s = self.size
        sizes = [max(1, v) for v in (s // 64 - 1, s // 32, s // 16 - 1, s // 8, s // 4 - 1, s // 2 - 1)]
        d = self.decoder
        for i, size in enumerate(sizes):
            x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
            x = F.relu(getattr(d, 'deconv%d' % (i + 1))(x))  # dropout p = 0
        x = F.interpolate(x, size=s // 4 - 8, mode='bilinear', align_corners=False)
        return d.deconv8(F.relu(d.deconv7(x)))


def fill_ae(ae):
    state = {}
    for key, t in ae.state_dict().items():
        conv = ae.get_submodule(key.rsplit('.', 1)[0])
        fan_in = conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]
        b = 1 / math.sqrt(fan_in)
        # cpuUniform's f32 steps: a + f32(span * u), a and span rounded to f32.
        n = t.numel()
        u = (bb.philox_words((AE_SEED, bb.fnv1a(key)), n) >> bb.np.uint64(8)).astype(bb.np.float64) * 2.0 ** -24
        a = bb.np.float32(-b)
        span = bb.np.float32(bb.np.float32(b) - a)
        v = a + (span * u).astype(bb.np.float32)
        state[key] = torch.from_numpy(v.astype(bb.np.float64)).reshape(t.shape)
    ae.load_state_dict(state)


def image(name, n=1):
    return f32(bb.uniform(name, (n, 3, SIZE, SIZE), 0, 1, IMAGE_SEED))


def norm(x):
    return (x - IMAGENET_MEAN) / IMAGENET_STD


def sample_idx(n):
    return sorted(set(int(round(i * (n - 1) / (SAMPLES - 1))) for i in range(SAMPLES)))


def main():
    torch.manual_seed(0)
    teacher = bb.fill_parameters('pdn_small', bb.ew.PDN('pdn_small', OUT), seed=TEACHER_SEED).double()
    student = bb.fill_parameters('pdn_small', bb.ew.PDN('pdn_small', 2 * OUT), seed=STUDENT_SEED).double()
    ae = Autoencoder(SIZE, OUT)
    fill_ae(ae)
    ae = ae.double()
    for p in teacher.parameters():
        p.requires_grad_(False)

    train = image('train', 2)
    x, x_ae, penalty = image('x'), image('x_ae'), image('penalty')

    # nelson1425 teacher_normalization: mean of per-image channel means; sqrt of the mean of per-image mean
    # squared deviations.
    with torch.no_grad():
        outs = [teacher(norm(train[i:i + 1])) for i in range(train.shape[0])]
        mean = torch.stack([o.mean(dim=(0, 2, 3)) for o in outs]).mean(0)
        var = torch.stack([((o - mean[None, :, None, None]) ** 2).mean(dim=(0, 2, 3)) for o in outs]).mean(0)
        std = var.sqrt()
    # The step uses the statistics as texad stores them (float32).
    mean_f, std_f = f32(mean)[None, :, None, None], f32(std)[None, :, None, None]

    def teach(img):
        with torch.no_grad():
            return (teacher(norm(img)) - mean_f) / std_f

    distance = (teach(x) - student(norm(x))[:, :OUT]) ** 2
    d_hard = torch.quantile(distance, HARD_Q)
    loss_hard = distance[distance >= d_hard].mean()
    ae_out = ae(norm(x_ae))
    loss_ae = ((teach(x_ae) - ae_out) ** 2).mean()
    loss_stae = ((ae_out - student(norm(x_ae))[:, OUT:]) ** 2).mean()
    loss_penalty = (student(norm(penalty))[:, :OUT] ** 2).mean()
    total = loss_hard + loss_ae + loss_stae + loss_penalty

    named = [('student.' + k, p) for k, p in student.named_parameters()] + \
            [('ae.' + k, p) for k, p in ae.named_parameters()]
    initial = {k: p.detach().clone() for k, p in named}
    opt = torch.optim.Adam([p for _, p in named], lr=LR, weight_decay=WEIGHT_DECAY)
    opt.zero_grad()
    total.backward()
    params = {}
    for k, p in named:
        idx = sample_idx(p.numel())
        g = p.grad.reshape(-1)
        params[k] = {'index': idx, 'grad': [float(g[i]) for i in idx], 'gradNorm': float(g.norm())}
    opt.step()
    for k, p in named:
        flat = p.detach().reshape(-1)
        params[k]['updated'] = [float(flat[i]) for i in params[k]['index']]

    # The normalised test map with the initial weights and fixed quantiles.
    with torch.no_grad():
        for k, p in named:
            p.copy_(initial[k])
        xn = norm(x)
        s = student(xn)
        map_st = ((teach(x) - s[:, :OUT]) ** 2).mean(dim=1, keepdim=True)
        map_ae = ((ae(xn) - s[:, OUT:]) ** 2).mean(dim=1, keepdim=True)
        q = QUANTILES
        combined = 0.5 * 0.1 * (map_st - q['stLow']) / (q['stHigh'] - q['stLow']) + \
            0.5 * 0.1 * (map_ae - q['aeLow']) / (q['aeHigh'] - q['aeLow'])
        combined = F.pad(combined, (PAD, PAD, PAD, PAD))
        test_map = F.interpolate(combined, size=(SIZE, SIZE), mode='bilinear', align_corners=False)

    # torchvision's tensor colour adjustments (what anomalib's ColorJitter runs) on the float32 image.
    import torchvision.transforms.functional as TF
    x32 = x.to(torch.float32)
    jitter = {'brightness': arr(TF.adjust_brightness(x32, 0.87)), 'contrast': arr(TF.adjust_contrast(x32, 1.13)),
              'saturation': arr(TF.adjust_saturation(x32, 0.91))}

    out = {
        'generator': 'tools/golden/efficientad.py', 'torch': torch.__version__,
        'dims': {'size': SIZE, 'out': OUT, 'teacherSeed': TEACHER_SEED, 'studentSeed': STUDENT_SEED, 'aeSeed': AE_SEED,
                 'lr': LR, 'weightDecay': WEIGHT_DECAY, 'hardQuantile': HARD_Q, 'pad': PAD},
        'train': arr(train), 'x': arr(x), 'xAe': arr(x_ae), 'penalty': arr(penalty),
        'teacherMean': arr(mean), 'teacherStd': arr(std),
        'losses': {'hard': float(loss_hard), 'ae': float(loss_ae), 'stae': float(loss_stae),
                   'penalty': float(loss_penalty), 'total': float(total), 'dHard': float(d_hard)},
        'params': params,
        'quantiles': QUANTILES, 'mapSt': arr(map_st), 'mapAe': arr(map_ae), 'testMap': arr(test_map),
        'jitter': jitter, 'jitterFactors': {'brightness': 0.87, 'contrast': 1.13, 'saturation': 0.91},
    }
    path = os.path.join(ROOT, 'test', 'fixtures', 'golden', 'efficientad.json')
    import json
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
    print('wrote', path)


if __name__ == '__main__':
    main()
