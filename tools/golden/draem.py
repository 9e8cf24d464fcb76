"""Parity fixture for src/methods/draem: one training step of DRAEM's two networks in PyTorch, written after the
official VitjanZ/DRAEM model_unet.py, loss.py and train_DRAEM.py, at small widths (base_width 4, base_channels 4)
on a batch of 4 at 64x64. The initial weights and the batch are seeded hash values (splitmix32 of FNV-1a(name) and
the element index, as src/data/random.ts; rebuilt by test/draem.test.ts), so the fixture holds no inputs. It records
the three losses; the gradient of EVERY parameter of both networks (all values of tensors up to 64 elements, every
37th value of larger ones), with PyTorch's own float32 error against its float64 gradient per tensor; the weights and
BatchNorm running statistics after one Adam step (lr 1e-4, as train_DRAEM.py), every 37th value; and every 13th value
of the eval-mode anomaly map and the image scores (test_DRAEM.py) of the updated networks.
Why hash values: an earlier version used sines of the element index (sin(12.9898 j + h)), which are plane waves, so
the conv kernels and images were nearly rank-deficient and PyTorch's own float32 gradient disagreed with its float64
one (cosine 0.2 over the reconstructive network); with hash values PyTorch's float32 stays within 3 % relative L2 error
of float64 on every tensor. (Width-1 networks are worse still: single-channel BatchNorm.)
Run: /usr/bin/python3 tools/golden/draem.py
"""
import json
import math
import os
import torch
import torch.nn as nn
import torch.nn.functional as F
from common import ROOT

torch.manual_seed(3)
torch.set_default_dtype(torch.float64)


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def up(cin, cout):
    return nn.Sequential(nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True),
                         nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def db(cin, cmid, cout):
    return nn.Sequential(nn.Conv2d(cin, cmid, 3, padding=1), nn.BatchNorm2d(cmid), nn.ReLU(inplace=True),
                         nn.Conv2d(cmid, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class EncoderReconstructive(nn.Module):
    def __init__(self, c, w):
        super().__init__()
        self.block1, self.block2, self.block3 = block(c, w), block(w, 2 * w), block(2 * w, 4 * w)
        self.block4, self.block5 = block(4 * w, 8 * w), block(8 * w, 8 * w)

    def forward(self, x):
        b1 = self.block1(x)
        b2 = self.block2(F.max_pool2d(b1, 2))
        b3 = self.block3(F.max_pool2d(b2, 2))
        b4 = self.block4(F.max_pool2d(b3, 2))
        return self.block5(F.max_pool2d(b4, 2))


class DecoderReconstructive(nn.Module):
    def __init__(self, w, out):
        super().__init__()
        self.up1, self.db1 = up(8 * w, 8 * w), db(8 * w, 8 * w, 4 * w)
        self.up2, self.db2 = up(4 * w, 4 * w), db(4 * w, 4 * w, 2 * w)
        self.up3, self.db3 = up(2 * w, 2 * w), db(2 * w, 2 * w, w)
        self.up4, self.db4 = up(w, w), db(w, w, w)
        self.fin_out = nn.Sequential(nn.Conv2d(w, out, 3, padding=1))

    def forward(self, b5):
        x = self.db1(self.up1(b5))
        x = self.db2(self.up2(x))
        x = self.db3(self.up3(x))
        x = self.db4(self.up4(x))
        return self.fin_out(x)


class ReconstructiveSubNetwork(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.encoder = EncoderReconstructive(3, w)
        self.decoder = DecoderReconstructive(w, 3)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class EncoderDiscriminative(nn.Module):
    def __init__(self, c, b):
        super().__init__()
        self.block1, self.block2, self.block3 = block(c, b), block(b, 2 * b), block(2 * b, 4 * b)
        self.block4, self.block5, self.block6 = block(4 * b, 8 * b), block(8 * b, 8 * b), block(8 * b, 8 * b)

    def forward(self, x):
        b1 = self.block1(x)
        b2 = self.block2(F.max_pool2d(b1, 2))
        b3 = self.block3(F.max_pool2d(b2, 2))
        b4 = self.block4(F.max_pool2d(b3, 2))
        b5 = self.block5(F.max_pool2d(b4, 2))
        b6 = self.block6(F.max_pool2d(b5, 2))
        return b1, b2, b3, b4, b5, b6


class DecoderDiscriminative(nn.Module):
    def __init__(self, b, out):
        super().__init__()
        self.up_b, self.db_b = up(8 * b, 8 * b), db(16 * b, 8 * b, 8 * b)
        self.up1, self.db1 = up(8 * b, 4 * b), db(12 * b, 4 * b, 4 * b)
        self.up2, self.db2 = up(4 * b, 2 * b), db(6 * b, 2 * b, 2 * b)
        self.up3, self.db3 = up(2 * b, b), db(3 * b, b, b)
        self.up4, self.db4 = up(b, b), db(2 * b, b, b)
        self.fin_out = nn.Sequential(nn.Conv2d(b, out, 3, padding=1))

    def forward(self, b1, b2, b3, b4, b5, b6):
        x = self.db_b(torch.cat((self.up_b(b6), b5), dim=1))
        x = self.db1(torch.cat((self.up1(x), b4), dim=1))
        x = self.db2(torch.cat((self.up2(x), b3), dim=1))
        x = self.db3(torch.cat((self.up3(x), b2), dim=1))
        x = self.db4(torch.cat((self.up4(x), b1), dim=1))
        return self.fin_out(x)


class DiscriminativeSubNetwork(nn.Module):
    def __init__(self, b):
        super().__init__()
        self.encoder_segment = EncoderDiscriminative(6, b)
        self.decoder_segment = DecoderDiscriminative(b, 2)

    def forward(self, x):
        return self.decoder_segment(*self.encoder_segment(x))


def gaussian(window_size, sigma):
    g = torch.tensor([math.exp(-(x - window_size // 2) ** 2 / float(2 * sigma ** 2)) for x in range(window_size)])
    return g / g.sum()


def ssim(img1, img2, window_size=11):
    """loss.py ssim with val_range=None on [0, 1]-range data (L = 1)."""
    channel = img1.shape[1]
    w1 = gaussian(window_size, 1.5).unsqueeze(1)
    window = (w1 @ w1.t()).expand(channel, 1, window_size, window_size).contiguous().to(img1.dtype)
    pad = window_size // 2
    mu1 = F.conv2d(img1, window, padding=pad, groups=channel)
    mu2 = F.conv2d(img2, window, padding=pad, groups=channel)
    mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    s1 = F.conv2d(img1 * img1, window, padding=pad, groups=channel) - mu1_sq
    s2 = F.conv2d(img2 * img2, window, padding=pad, groups=channel) - mu2_sq
    s12 = F.conv2d(img1 * img2, window, padding=pad, groups=channel) - mu1_mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    v1 = 2.0 * s12 + c2
    v2 = s1 + s2 + c2
    return (((2 * mu1_mu2 + c1) * v1) / ((mu1_sq + mu2_sq + c1) * v2)).mean()


def focal(probs, target, gamma=2, smooth=1e-5):
    """loss.py FocalLoss(apply_nonlin=None, alpha=None, gamma=2, smooth=1e-5, size_average=True)."""
    n_class = probs.shape[1]
    logit = probs.permute(0, 2, 3, 1).reshape(-1, n_class)
    idx = target.reshape(-1, 1).long()
    one_hot = torch.zeros(logit.shape, dtype=logit.dtype).scatter_(1, idx, 1)
    one_hot = torch.clamp(one_hot, smooth / (n_class - 1), 1.0 - smooth)
    pt = (one_hot * logit).sum(1) + smooth
    return (-1 * torch.pow(1 - pt, gamma) * pt.log()).mean()


W, B_CH, S, N = 4, 4, 64, 4

M32 = 0xffffffff


def splitmix32(x):
    """src/data/random.ts splitmix32."""
    x = (x + 0x9e3779b9) & M32
    z = ((x ^ (x >> 16)) * 0x85ebca6b) & M32
    z = ((z ^ (z >> 13)) * 0xc2b2ae35) & M32
    return (z ^ (z >> 16)) & M32


def fnv1a(s):
    """src/data/random.ts hashString."""
    h = 0x811c9dc5
    for ch in s:
        h = ((h ^ ord(ch)) * 0x01000193) & M32
    return h


def hash_uniform(label, n):
    """n values in [0, 1): splitmix32(fnv1a(label) ^ splitmix32(j)) / 2^32, exact in float64 (and so in TypeScript)."""
    h = fnv1a(label)
    return torch.tensor([splitmix32(h ^ splitmix32(j)) / 4294967296.0 for j in range(n)], dtype=torch.float64)


def hash_init(prefix, m):
    """Parameter `prefix.name`, u = 2 hash_uniform(prefix.name) - 1 in [-1, 1): conv weight 0.0346 u (the official
    N(0, 0.02) spread), conv bias 0.1 u, BN gamma 1 + 0.0346 u, BN beta 0; rounded to float32."""
    convs = {n for n, mod in m.named_modules() if isinstance(mod, nn.Conv2d)}
    with torch.no_grad():
        for name, p in m.named_parameters():
            full = '%s.%s' % (prefix, name)
            u = 2 * hash_uniform(full, p.numel()) - 1
            owner, kind = name.rsplit('.', 1)
            if owner in convs:
                v = 0.0346 * u if kind == 'weight' else 0.1 * u
            else:
                v = 1 + 0.0346 * u if kind == 'weight' else torch.zeros_like(u)
            p.copy_(v.reshape(p.shape).to(torch.float32).to(torch.float64))


def before_batchnorm(m):
    """Names of the conv biases that a BatchNorm follows: their gradient is exactly zero (BN removes any constant)."""
    out = set()
    for n, mod in m.named_modules():
        if isinstance(mod, nn.Sequential):
            kids = list(mod.named_children())
            for (a, x), (_, y) in zip(kids, kids[1:]):
                if isinstance(x, nn.Conv2d) and isinstance(y, nn.BatchNorm2d):
                    out.add('%s.%s.bias' % (n, a))
    return out


def named(prefix, m, what):
    out = {}
    for k, v in m.state_dict().items():
        if k.endswith('num_batches_tracked'):
            continue
        out['%s.%s' % (prefix, k)] = v
    if what == 'grad':
        out = {'%s.%s' % (prefix, k): p.grad for k, p in m.named_parameters()}
    return out


def arr(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'shape': list(t.shape), 'data': [float('%.7g' % v) for v in t.reshape(-1).tolist()]}




def every37(t):
    a = arr(t.reshape(-1)[::37])
    a['shape'] = list(t.shape)
    return a


# image and texture: hash values in [0, 1) (labels 'image', 'texture'), indexed [n, c, y, x]; rectangular masks
# [y0, y1) x [x0, x1) per sample.
image = hash_uniform('image', N * 3 * S * S).reshape(N, 3, S, S).to(torch.float32).to(torch.float64)
texture = hash_uniform('texture', N * 3 * S * S).reshape(N, 3, S, S).to(torch.float32).to(torch.float64)
RECTS = [(8, 20, 10, 24), (20, 30, 2, 9), (40, 60, 30, 50), (0, 0, 0, 0)]
mask = torch.zeros(N, 1, S, S)
for n, (y0, y1, x0, x1) in enumerate(RECTS):
    mask[n, :, y0:y1, x0:x1] = 1
beta = 0.3
augmented = image * (1 - mask) + (1 - beta) * texture * mask + beta * image * mask
augmented = augmented.to(torch.float32).to(torch.float64)

def run(dtype):
    """One training step and the eval map, in `dtype`, from the same hash weights and batch."""
    rec, seg = ReconstructiveSubNetwork(W), DiscriminativeSubNetwork(B_CH)
    hash_init('reconstructive', rec)
    hash_init('discriminative', seg)
    rec.to(dtype)
    seg.to(dtype)
    image_, augmented_, mask_ = image.to(dtype), augmented.to(dtype), mask.to(dtype)
    optimizer = torch.optim.Adam([{'params': rec.parameters(), 'lr': 1e-4}, {'params': seg.parameters(), 'lr': 1e-4}])
    rec.train()
    seg.train()
    gray_rec = rec(augmented_)
    out_mask = seg(torch.cat((gray_rec, augmented_), dim=1))
    out_mask_sm = torch.softmax(out_mask, dim=1)
    l2 = F.mse_loss(gray_rec, image_)
    ssim_loss = 1 - ssim(gray_rec, image_)
    focal_loss = focal(out_mask_sm, mask_)
    loss = l2 + ssim_loss + focal_loss
    optimizer.zero_grad()
    loss.backward()
    grads = {**named('reconstructive', rec, 'grad'), **named('discriminative', seg, 'grad')}
    optimizer.step()
    after = {**named('reconstructive', rec, 'state'), **named('discriminative', seg, 'state')}

    rec.eval()
    seg.eval()
    with torch.no_grad():
        r = rec(image_)
        sm = torch.softmax(seg(torch.cat((r.detach(), image_), dim=1)), dim=1)
        amap = sm[:, 1:, :, :]
        score = F.avg_pool2d(amap, 21, stride=1, padding=21 // 2).amax(dim=(1, 2, 3))

    return {'losses': {'l2': l2.item(), 'ssim': ssim_loss.item(), 'focal': focal_loss.item(), 'total': loss.item()},
            'grads': grads, 'after': after, 'map': amap, 'score': score,
            'zero': {'reconstructive.' + k for k in before_batchnorm(rec)} | {'discriminative.' + k for k in before_batchnorm(seg)}}


ref = run(torch.float64)
f32 = run(torch.float32)


def sample(t):
    """All values of a tensor up to 64 elements, every 37th of a larger one (the test reads the same)."""
    flat = t.reshape(-1)
    return flat if flat.numel() <= 64 else flat[::37]


def grad_entry(name):
    """The float64 gradient (sampled) and PyTorch's own float32 relative L2 error on the same values. Conv biases
    before a BatchNorm have an exactly zero gradient: recorded as `zero` with their float32 noise level instead."""
    g64, g32 = sample(ref['grads'][name]), sample(f32['grads'][name]).to(torch.float64)
    if name in ref['zero']:
        return {'shape': list(ref['grads'][name].shape), 'zero': True, 'torch_f32_max': g32.abs().max().item()}
    a = arr(g64)
    a['shape'] = list(ref['grads'][name].shape)
    a['torch_f32_error'] = ((g32 - g64).norm() / g64.norm()).item()
    return a


fixture = {
    'generator': 'tools/golden/draem.py', 'torch': torch.__version__,
    'config': {'base_width': W, 'base_channels': B_CH, 'img_size': S, 'lr': 1e-4},
    'inputs': {'rects': RECTS, 'beta': beta, 'sums': {'image': image.sum().item(), 'augmented': augmented.sum().item()}},
    'init': 'hash_uniform (splitmix32 of FNV-1a)',
    'losses': ref['losses'],
    'grads': {k: grad_entry(k) for k in ref['grads']},
    'after': {k: every37(v) for k, v in ref['after'].items()},
    # Every 13th map value (the map has N * S * S values).
    'map': arr(ref['map'].reshape(-1)[::13]), 'scores': arr(ref['score']),
}
path = os.path.join(ROOT, 'test', 'fixtures', 'golden', 'draem.json')
with open(path, 'w') as f:
    json.dump(fixture, f, separators=(',', ':'))
worst = max(g.get('torch_f32_error', 0) for g in fixture['grads'].values())
print('wrote', path, 'losses', fixture['losses'], 'gradients', len(fixture['grads']), 'PyTorch float32 worst relative error', worst)
