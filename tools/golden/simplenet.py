"""SimpleNet golden fixture: the feature adaptor on given backbone maps, and one training step from given weights.

Written from the official repository's definitions (DonaldRR/SimpleNet: PatchMaker.patchify with a 3x3 unfold,
bilinear resize of deeper layers' patch grids, adaptive_avg_pool1d per layer and over the stacked layers,
Projection = Linear, Discriminator = Linear-BN1d-LeakyReLU(0.2)-Linear(no bias), truncated-L1 loss, Adam for D
and AdamW for the projection). Tiny widths keep the fixture small.
Run: /usr/bin/python3 tools/golden/simplenet.py  -> test/fixtures/golden/simplenet.json
"""
import json
import os
import torch
import torch.nn.functional as F
from common import ROOT, arr

torch.manual_seed(3)
B, C2, C3, H2, H3 = 2, 4, 6, 6, 3
P, T, HID = 12, 10, 8          # pretrain_embed_dimension, target_embed_dimension, dsc_hidden
MARGIN, NOISE = 0.5, 0.1


def patchify(x):
    """[B, C, h, w] -> [B, h*w, C*9], channel-major (c, ky, kx) like torch.nn.Unfold(3, padding=1)."""
    u = F.unfold(x, kernel_size=3, padding=1, stride=1)  # [B, C*9, h*w]
    return u.permute(0, 2, 1)


def embed(l2, l3):
    p2 = patchify(l2).reshape(B, H2, H2, C2, 3, 3)
    p3 = patchify(l3).reshape(B, H3, H3, C3, 3, 3)
    # Official order: resize the deeper layer's patch grid per (c, ky, kx) component, then pool channels.
    p3 = p3.permute(0, 3, 4, 5, 1, 2).reshape(-1, H3, H3)
    p3 = F.interpolate(p3.unsqueeze(1), size=(H2, H2), mode='bilinear', align_corners=False).squeeze(1)
    p3 = p3.reshape(B, C3, 3, 3, H2, H2).permute(0, 4, 5, 1, 2, 3)
    feats = []
    for p in (p2, p3):
        f = p.reshape(B * H2 * H2, 1, -1)
        feats.append(F.adaptive_avg_pool1d(f, P).squeeze(1))
    stacked = torch.stack(feats, dim=1).reshape(B * H2 * H2, 1, -1)
    return F.adaptive_avg_pool1d(stacked, T).reshape(B * H2 * H2, T)


l2 = torch.randn(B, C2, H2, H2).float()
l3 = torch.randn(B, C3, H3, H3).float()
rows = embed(l2.double(), l3.double())
R = rows.shape[0]

proj = torch.nn.Linear(T, T).double()
fc = torch.nn.Linear(T, HID).double()
bn = torch.nn.BatchNorm1d(HID).double()
tail = torch.nn.Linear(HID, 1, bias=False).double()
with torch.no_grad():
    for m in (proj, fc, tail):
        m.weight.copy_(torch.randn_like(m.weight).float().double() * 0.5)
    for m in (proj, fc):
        m.bias.copy_(torch.randn_like(m.bias).float().double() * 0.1)
initial = {
    'pre_projection.layers.0fc.weight': proj.weight.clone(), 'pre_projection.layers.0fc.bias': proj.bias.clone(),
    'discriminator.body.block1.0.weight': fc.weight.clone(), 'discriminator.body.block1.0.bias': fc.bias.clone(),
    'discriminator.body.block1.1.weight': bn.weight.clone(), 'discriminator.body.block1.1.bias': bn.bias.clone(),
    'discriminator.body.block1.1.running_mean': bn.running_mean.clone(),
    'discriminator.body.block1.1.running_var': bn.running_var.clone(),
    'discriminator.tail.weight': tail.weight.clone(),
}
noise = (torch.randn(R, T) * NOISE).float().double()
rows_in = rows.float().double()  # the TS side starts from f32 rows

proj_opt = torch.optim.AdamW(proj.parameters(), lr=1e-2, weight_decay=0.01)
dsc_opt = torch.optim.Adam(list(fc.parameters()) + list(bn.parameters()) + list(tail.parameters()), lr=2e-2, weight_decay=1e-5)
bn.train()
true_feats = proj(rows_in)
fake_feats = true_feats + noise
scores = tail(F.leaky_relu(bn(fc(torch.cat([true_feats, fake_feats]))), 0.2))
true_scores, fake_scores = scores[:R], scores[R:]
loss = torch.clip(-true_scores + MARGIN, min=0).mean() + torch.clip(fake_scores + MARGIN, min=0).mean()
loss.backward()
proj_opt.step()
dsc_opt.step()
updated = {
    'pre_projection.layers.0fc.weight': proj.weight, 'pre_projection.layers.0fc.bias': proj.bias,
    'discriminator.body.block1.0.weight': fc.weight, 'discriminator.body.block1.0.bias': fc.bias,
    'discriminator.body.block1.1.weight': bn.weight, 'discriminator.body.block1.1.bias': bn.bias,
    'discriminator.body.block1.1.running_mean': bn.running_mean, 'discriminator.body.block1.1.running_var': bn.running_var,
    'discriminator.tail.weight': tail.weight,
}
out = {
    'generator': 'tools/golden/simplenet.py', 'torch': torch.__version__,
    'dims': {'batch': B, 'pretrain': P, 'target': T, 'hidden': HID, 'margin': MARGIN,
             'projLr': 1e-2, 'projWeightDecay': 0.01, 'dscLr': 2e-2, 'dscWeightDecay': 1e-5},
    'layer2': arr(l2), 'layer3': arr(l3), 'rows': arr(rows), 'noise': arr(noise), 'loss': float(loss),
    'initial': {k: arr(v) for k, v in initial.items()}, 'updated': {k: arr(v) for k, v in updated.items()},
}
path = os.path.join(ROOT, 'test', 'fixtures', 'golden', 'simplenet.json')
with open(path, 'w') as f:
    json.dump(out, f, separators=(',', ':'))
print('wrote', path, 'loss', float(loss))
