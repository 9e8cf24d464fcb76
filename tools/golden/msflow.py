"""Golden fixture for MSFlow's flows: a PyTorch reference of the official blocks (cool-xuan/msflow
models/flow_models.py + models/freia_utils.py, FrEIA AllInOneBlock with SOFTPLUS global affine and PermuteRandom;
FrEIA is not packaged here, so the blocks are written out from its source), run in float64 on a tiny instance:
latents, log-dets, loss, gradients, the clipped gradient norm and the parameters after one Adam step.

Permutations are drawn with texad's seededShuffle (src/data/random.ts, reimplemented below) at the seeds
MSFlowModel uses, so that the same model is built on both sides.
Run: /usr/bin/python3 tools/golden/msflow.py  ->  test/fixtures/golden/msflow.json
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from common import ROOT, arr

torch.manual_seed(0)
DT = torch.float64
M32 = 0xFFFFFFFF


def seeded_shuffle(n, seed):
    s = ((seed & M32) ^ 0x9E3779B9) & M32 or 1
    items = list(range(n))
    for i in range(n - 1, 0, -1):
        s ^= (s << 13) & M32
        s ^= s >> 17
        s ^= (s << 5) & M32
        j = s % (i + 1)
        items[i], items[j] = items[j], items[i]
    return items


CH = [4, 8, 8]
GRIDS = [4, 2, 1]
CONDS = [4, 4, 4]
BLOCKS = [1, 2, 1]
CLAMP = 1.9
SEED = 0
BATCH = 2
LR = 1e-3
MAX_NORM = 2.0

params = {}


def p(name, shape, scale=0.3, value=None):
    t = torch.full(shape, value, dtype=DT) if value is not None else (torch.randn(shape, dtype=DT) * scale)
    t = t.to(torch.float32).to(DT).requires_grad_(True)
    params[name] = t
    return t


def conv(name, cin, cout):
    return p(name + '.weight', [cout, cin, 3, 3], 1 / math.sqrt(cin * 9)), p(name + '.bias', [cout], 0.1)


def ln(name, c):
    return p(name + '.weight', [c], 0.1) , p(name + '.bias', [c], 0.1)


def layer_norm_channels(x, w, b):
    # nn.LayerNorm(C) over the permuted channels-last tensor; the +1 keeps gamma near 1 with random perturbation.
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), w + 1, b, 1e-5).permute(0, 3, 1, 2)


blocks = []
for i, (c, cc, nb) in enumerate(zip(CH, CONDS, BLOCKS)):
    for k in range(nb):
        name = 'parallel_flows.%d.module_list.%d' % (i, k)
        s1, s2 = c - c // 2, c // 2
        blocks.append({
            'scale': i, 's1': s1, 's2': s2,
            'gs': p(name + '.global_scale', [1, c, 1, 1], 1.0), 'go': p(name + '.global_offset', [1, c, 1, 1], 0.2),
            'c1': conv(name + '.subnet.conv1', s1 + cc, s1 + cc), 'ln': ln(name + '.subnet.ln', s1 + cc),
            'c2': conv(name + '.subnet.conv2', s1 + cc, 2 * s2),
            'perm': seeded_shuffle(c, SEED * 1009 + 100 * i + k),
        })
# global_scale around FrEIA's initial value 2 log(e^5 - 1).
with torch.no_grad():
    for b in blocks:
        b['gs'] += 2 * math.log(math.exp(5) - 1)

fusion_perms = [seeded_shuffle(c, SEED * 1009 + 7777 + i) for i, c in enumerate(CH)]
halves = [c // 2 for c in CH]


def st_net(name):
    total = sum(halves)
    mid = total // 4
    return {'c1': conv(name + '.cross_convs.conv1', total, mid), 'ln': ln(name + '.cross_convs.norm', mid),
            'c2': conv(name + '.cross_convs.conv2', mid, total),
            's': [conv(name + '.conv_s.%d' % i, h, h) for i, h in enumerate(halves)],
            't': [conv(name + '.conv_t.%d' % i, h, h) for i, h in enumerate(halves)]}


sub1 = st_net('fusion_flow.subnet_1')
sub2 = st_net('fusion_flow.subnet_2')


def apply_conv(x, wb):
    return F.conv2d(x, wb[0], wb[1], padding=1)


def subnet(x, b):
    h = apply_conv(x, b['c1'])
    h = F.relu(layer_norm_channels(h, *b['ln']))
    return apply_conv(h, b['c2'])


def all_in_one(x, cond, b):
    x1, x2 = torch.split(x, [b['s1'], b['s2']], 1)
    a = subnet(torch.cat([x1, cond], 1), b) * 0.1
    s = CLAMP * torch.tanh(a[:, :b['s2']])
    y2 = x2 * torch.exp(s) + a[:, b['s2']:]
    g = 0.1 * F.softplus(b['gs'], beta=0.5)
    out = torch.cat([x1, y2], 1) * g + b['go']
    out = out[:, b['perm']]
    return out, torch.sum(s, (1, 2, 3)) + x[0, :1].numel() * torch.sum(torch.log(g))


def st_forward(xs, n):
    mini = xs[-1].shape[-2:]
    out = torch.cat([F.adaptive_avg_pool2d(s, mini) for s in xs], 1)
    out = apply_conv(out, n['c1'])
    out = F.relu(layer_norm_channels(out, *n['ln']))
    out = F.relu(apply_conv(out, n['c2']))
    out = torch.split(out, halves, 1)
    out = [s + F.interpolate(a, size=s.shape[-2:], mode='bilinear', align_corners=True) for s, a in zip(xs, out)]
    return [(apply_conv(o, n['s'][i]), apply_conv(o, n['t'][i])) for i, o in enumerate(out)]


def log_e(s):
    return CLAMP * 0.636 * torch.atan(s / CLAMP)


def fusion(xs):
    xs = [x[:, perm] for x, perm in zip(xs, fusion_perms)]
    x1 = [x[:, :h] for x, h in zip(xs, halves)]
    x2 = [x[:, h:] for x, h in zip(xs, halves)]
    st2 = st_forward(x2, sub2)
    y1 = [torch.exp(log_e(s)) * a + t for a, (s, t) in zip(x1, st2)]
    st1 = st_forward(y1, sub1)
    y2 = [torch.exp(log_e(s)) * a + t for a, (s, t) in zip(x2, st1)]
    out = [torch.clamp(torch.cat([a, b], 1), -1e6, 1e6) for a, b in zip(y1, y2)]
    jac = sum(torch.sum(log_e(s1), (1, 2, 3)) + torch.sum(log_e(s2), (1, 2, 3)) for (s1, _), (s2, _) in zip(st1, st2))
    return out, jac


def pos_enc(d, h, w):
    pe = torch.zeros(d, h, w, dtype=DT)
    d2 = d // 2
    div = torch.exp(torch.arange(0.0, d2, 2, dtype=DT) * -(math.log(1e4) / d2)).to(torch.float32).to(DT)
    pw = torch.arange(0.0, w, dtype=DT).unsqueeze(1)
    ph = torch.arange(0.0, h, dtype=DT).unsqueeze(1)
    pe[0:d2:2] = torch.sin(pw * div).transpose(0, 1).unsqueeze(1).repeat(1, h, 1)
    pe[1:d2:2] = torch.cos(pw * div).transpose(0, 1).unsqueeze(1).repeat(1, h, 1)
    pe[d2::2] = torch.sin(ph * div).transpose(0, 1).unsqueeze(2).repeat(1, 1, w)
    pe[d2 + 1::2] = torch.cos(ph * div).transpose(0, 1).unsqueeze(2).repeat(1, 1, w)
    return pe


feats = [(torch.randn(BATCH, c, g, g, dtype=DT) * 1.5).to(torch.float32).to(DT) for c, g in zip(CH, GRIDS)]
conds = [pos_enc(cc, g, g).unsqueeze(0).repeat(BATCH, 1, 1, 1) for cc, g in zip(CONDS, GRIDS)]

# The TS LayerNorm stores gamma directly: record gamma = 1 + stored offset.
initial = {}
for k, v in params.items():
    is_gamma = (k.endswith('.ln.weight') or k.endswith('.norm.weight'))
    initial[k] = arr(v + 1 if is_gamma else v)

def forward_backward(feats, conds):
    """The whole model on the current parameters: latents, log-det and loss, gradients left in params[*].grad."""
    zs, ld = [], 0
    for i in range(len(CH)):
        z = feats[i]
        for b in [b for b in blocks if b['scale'] == i]:
            z, j = all_in_one(z, conds[i], b)
            ld = ld + j
        zs.append(z)
    zs, fj = fusion(zs)
    logdet = ld + fj
    loss = (sum(0.5 * torch.sum(z ** 2, (1, 2, 3)) for z in zs) - logdet).mean()
    loss.backward()
    return zs, logdet, loss


names = list(params)
# PyTorch's own float32 error on this instance, per gradient (largest |float32 - float64| over the largest |value|):
# the parity test allows texad the larger of 1e-4 and twice this, since some gradients pass a LayerNorm over only
# 5 channels whose backward amplifies float32 rounding (measured 1.0e-4 for the fusion nets' first conv).
saved = {k: v.detach().clone() for k, v in params.items()}
for v in params.values():
    v.data = v.data.float()
forward_backward([f.float() for f in feats], [c.float() for c in conds])
grads32 = {k: params[k].grad.double() for k in names}
for k, v in params.items():
    v.data = saved[k]
    v.grad = None
zs, logdet, loss = forward_backward(feats, conds)
grads = {k: arr(params[k].grad) for k in names}
float32_error = {k: float((grads32[k] - params[k].grad).abs().max() / params[k].grad.abs().max().clamp_min(1e-30))
                 for k in names}
opt = torch.optim.Adam([params[k] for k in names], lr=LR)
norm = torch.nn.utils.clip_grad_norm_([params[k] for k in names], MAX_NORM)
opt.step()
updated = {}
with torch.no_grad():
    for k in names:
        v = params[k]
        updated[k] = arr(v + 1 if (k.endswith('.ln.weight') or k.endswith('.norm.weight')) else v)

path = os.path.join(ROOT, 'test', 'fixtures', 'golden', 'msflow.json')
with open(path, 'w') as f:
    json.dump({'generator': 'tools/golden/msflow.py', 'torch': torch.__version__,
               'dims': {'channels': CH, 'grids': GRIDS, 'conds': CONDS, 'blocks': BLOCKS, 'clamp': CLAMP, 'seed': SEED,
                        'batch': BATCH, 'lr': LR, 'maxNorm': MAX_NORM},
               'feats': [arr(x) for x in feats], 'conds': [arr(c) for c in conds],
               'initial': initial, 'latents': [arr(z) for z in zs], 'logdet': arr(logdet),
               'loss': float(loss), 'gradNorm': float(norm), 'grads': grads, 'torchFloat32GradError': float32_error,
               'updated': updated},
              f, separators=(',', ':'))
print('wrote', path, 'loss', float(loss), 'grad norm', float(norm))
