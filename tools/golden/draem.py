"""Parity fixture for src/methods/draem: one training step of DRAEM's two networks in PyTorch, written after the
official VitjanZ/DRAEM model_unet.py, loss.py and train_DRAEM.py, at small widths (base_width 4, base_channels 4)
on a batch of 4 at 64x64. The initial weights and the batch are seeded hash values (splitmix32 of FNV-1a(name) and
the element index, as src/data/random.ts; rebuilt by test/draem.test.ts through bench/peers/draem-weights.ts), so the fixture holds no inputs. It records
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
import os
import sys
import torch
import torch.nn.functional as F
from common import ROOT

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from draem_torch import DiscriminativeSubNetwork, ReconstructiveSubNetwork, focal, hash_init, hash_uniform, before_batchnorm, ssim  # noqa: E402

torch.manual_seed(3)
torch.set_default_dtype(torch.float64)


W, B_CH, S, N = 4, 4, 64, 4

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
