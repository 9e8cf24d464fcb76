"""DRAEM's two networks and its losses in PyTorch, transcribed from the official VitjanZ/DRAEM model_unet.py and
loss.py, with the seeded hash initialisation texad rebuilds in TypeScript (bench/peers/draem-weights.ts). Shared by
the parity fixture (tools/golden/draem.py) and the benchmark peer (tools/bench-torch.py).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


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
