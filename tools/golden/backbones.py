"""Backbone parity fixtures: torchvision/PDN outputs for weights that texad regenerates itself.

Big networks cannot ship their weights as fixtures (WRN50-2 is 270 MB), so both sides derive every value from
(seed, tensor name) with the Philox4x32-10 generator of src/ops/random.ts, reimplemented below in NumPy:
conv weights follow texad's random-init mode (src/backbones/weights.ts; the '-zeromean' fixture its 'zero-mean'
option, every k x k kernel minus its window mean), BatchNorm statistics and the input come
from uniform draws (ranges in BN_RANGES). A fixture holds only the expected taps (float64 reference, stored f32).

  /usr/bin/python3 tools/golden/backbones.py                 writes test/fixtures/backbones/<arch>.safetensors
  /usr/bin/python3 tools/golden/backbones.py roundtrip DIR   export-weights.py round trip (test/backbones.test.ts)
"""
import importlib.util
import math
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
EXPORT_SCRIPT = os.path.join(ROOT, 'tools', 'export-weights.py')
_spec = importlib.util.spec_from_file_location('export_weights', EXPORT_SCRIPT)
ew = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ew)

MASK = 0xFFFFFFFF
# BatchNorm values of the parity fixtures: far enough from the identity that folding is exercised.
BN_RANGES = {'weight': (0.5, 1.5), 'bias': (-0.2, 0.2), 'running_mean': (-0.2, 0.2), 'running_var': (0.5, 1.5)}
SEED = 2024


def fnv1a(s):
    h = 0x811C9DC5
    for ch in s.encode('utf-8'):
        h = ((h ^ ch) * 0x01000193) & MASK
    return h


def philox_words(key, n):
    """Words 0..n-1 of stream 0 under the 64-bit key (k0, k1): word e = philox((e // 4, 0, 0, 0), key)[e % 4]."""
    blocks = (n + 3) // 4
    c0 = np.arange(blocks, dtype=np.uint64)
    c1 = np.zeros(blocks, dtype=np.uint64)
    c2 = np.zeros(blocks, dtype=np.uint64)
    c3 = np.zeros(blocks, dtype=np.uint64)
    k0, k1 = key
    for rnd in range(10):
        if rnd > 0:
            k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
        p1 = np.uint64(0xCD9E8D57) * c2
        p0 = np.uint64(0xD2511F53) * c0
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & np.uint64(MASK), \
            (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & np.uint64(MASK)
    return np.stack([c0, c1, c2, c3], axis=1).reshape(-1)[:n]


def init_key(name, seed=SEED):
    return (seed, fnv1a(name))


def uniform(name, shape, lo, hi, seed=SEED):
    n = int(np.prod(shape))
    u = (philox_words(init_key(name, seed), n) >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    return torch.from_numpy(lo + (hi - lo) * u).reshape(shape)


def normal(name, shape, std, seed=SEED):
    n = int(np.prod(shape))
    w = philox_words(init_key(name, seed), n + (n & 1))
    u1 = ((w[0::2] >> np.uint64(8)).astype(np.float64) + 1) * 2.0 ** -24
    # The angle in float32 steps, as the shader computes it: pi_f32 * (2 u - 1).
    u2 = np.float32(2 * (w[1::2] >> np.uint64(8)).astype(np.float64) * 2.0 ** -24 - 1)
    theta = np.float32(np.float32(math.pi) * u2)
    r = np.sqrt(-2 * np.log(u1))
    z = np.stack([r * np.cos(theta.astype(np.float64)), r * np.sin(theta.astype(np.float64))], axis=1).reshape(-1)[:n]
    return torch.from_numpy(std * z).reshape(shape)


def zero_mean(w):
    """randomWeights(seed, 'zero-mean'): each k x k (k > 1) kernel minus its mean over the window."""
    if w.dim() != 4 or w.shape[2] * w.shape[3] == 1:
        return w
    return w - w.mean(dim=(2, 3), keepdim=True)


def fill_parameters(arch, model, seed=SEED, init='torchvision'):
    """The values texad's random init (`init`: torchvision or zero-mean) gives conv weights (PDN biases too), and
    BN_RANGES draws for BatchNorm."""
    state = {}
    for key, t in model.state_dict().items():
        if key.endswith('num_batches_tracked') or key.startswith('fc.'):
            continue
        field = key.rsplit('.', 1)[1]
        if t.dim() == 4 and arch in ew.RESNETS:  # kaiming_normal_(mode='fan_out', nonlinearity='relu')
            state[key] = normal(key, t.shape, math.sqrt(2.0 / (t.shape[0] * t.shape[2] * t.shape[3])), seed)
            if init == 'zero-mean':
                state[key] = zero_mean(state[key])
        elif arch in ew.PDNS:  # nn.Conv2d's default: U(+-1/sqrt(fan_in)) for weight and bias
            conv = model.get_submodule(key.rsplit('.', 1)[0])
            fan_in = conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]
            state[key] = uniform(key, t.shape, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), seed)
        else:
            state[key] = uniform(key, t.shape, *BN_RANGES[field], seed=seed)
    model.load_state_dict(state, strict=False)
    return model


CASES = [
    # fixture, arch, input size, batch, taps; sizes keep every case under ~1 GFLOP and make stride-2 layers meet
    # odd sizes. The padded PDN is the form of EfficientAD's paper table (convs and pools padded).
    ('resnet18', 'resnet18', 64, 2, ['stem', 'layer1', 'layer2', 'layer3', 'layer4']),
    ('resnet18-zeromean', 'resnet18', 64, 1, ['stem', 'layer1', 'layer2']),
    ('resnet50', 'resnet50', 48, 1, ['stem', 'layer1', 'layer2', 'layer3', 'layer4']),
    ('wide_resnet50_2', 'wide_resnet50_2', 40, 1, ['layer1', 'layer2', 'layer3', 'layer4']),
    ('resnet152', 'resnet152', 32, 1, ['layer2', 'layer3', 'layer4']),
    ('pdn_small', 'pdn_small', 64, 1, ['out']),
    ('pdn_small-padded', 'pdn_small', 36, 1, ['out']),
    ('pdn_medium', 'pdn_medium', 40, 1, ['out']),
]
# The trainable case: Mean-Shift's setting (layer3/4 train, BatchNorm in eval mode) on resnet18.
TRAIN_ARCH, TRAIN_SIZE, TRAIN_STAGES = 'resnet18', 32, ('layer3', 'layer4')


def write_fixture(path, tensors, metadata):
    ew.save_safetensors(tensors, path, {k: str(v) for k, v in metadata.items()})
    print('wrote', os.path.relpath(path, ROOT), '%.0f kB' % (os.path.getsize(path) / 1e3))


def parity_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for fixture, arch, size, batch, taps in CASES:
        padded = fixture.endswith('-padded')
        init = 'zero-mean' if fixture.endswith('-zeromean') else 'torchvision'
        model = fill_parameters(arch, ew.PDN(arch, padding=True) if padded else ew.build(arch), init=init).double().eval()
        x = uniform('input', (batch, 3, size, size), 0.0, 1.0)
        with torch.no_grad():
            outs = ew.Features(arch, model, taps).double()(x)
        names = ['out'] if arch in ew.PDNS else taps
        write_fixture(os.path.join(out_dir, fixture + '.safetensors'), {'tap/' + t: o for t, o in zip(names, outs)},
                      {'arch': arch, 'padding': str(padded).lower(), 'seed': SEED, 'size': size, 'batch': batch,
                       'taps': ','.join(names), 'generator': 'tools/golden/backbones.py', 'torch': torch.__version__,
                       **({'init': init} if init != 'torchvision' else {})})

    model = fill_parameters(TRAIN_ARCH, ew.build(TRAIN_ARCH)).double().eval()
    trained = {k: p for k, p in model.named_parameters() if k.split('.')[0] in TRAIN_STAGES}
    for k, p in model.named_parameters():
        p.requires_grad_(k in trained)
    x = uniform('input', (1, 3, TRAIN_SIZE, TRAIN_SIZE), 0.0, 1.0)
    (out,) = ew.Features(TRAIN_ARCH, model, ['layer4']).double()(x)
    (out * uniform('grad_output', out.shape, -1.0, 1.0)).sum().backward()
    tensors = {'tap/layer4': out}
    for k, p in trained.items():
        if p.dim() == 1:
            tensors['grad/' + k] = p.grad
        else:  # whole conv gradients are large: keep their derivative along a regenerable direction
            tensors['dgrad/' + k] = (p.grad * uniform('direction/' + k, p.shape, -1.0, 1.0)).sum().reshape(1)
    write_fixture(os.path.join(out_dir, TRAIN_ARCH + '-train.safetensors'), tensors,
                  {'arch': TRAIN_ARCH, 'seed': SEED, 'size': TRAIN_SIZE, 'batch': 1,
                   'trainable': ','.join(TRAIN_STAGES), 'generator': 'tools/golden/backbones.py',
                   'torch': torch.__version__})


def roundtrip(out_dir):
    """Saves randomly initialised models as .pth files the way their authors distribute them (torchvision state
    dict; nelson1425's nn.Sequential teacher; anomalib's named teacher), converts each with export-weights.py, and
    writes the reference outputs on the shared input to <arch>.expected.safetensors."""
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(7)
    models = {'resnet18': ew.build('resnet18'), 'pdn_medium': ew.build('pdn_medium')}
    small = ew.build('pdn_small')
    relu, pool = torch.nn.ReLU, lambda: torch.nn.AvgPool2d(2, 2)
    sequential = torch.nn.Sequential(small.conv1, relu(), pool(), small.conv2, relu(), pool(), small.conv3, relu(),
                                     small.conv4)
    checkpoints = {'resnet18': models['resnet18'].state_dict(), 'pdn_small': sequential.state_dict(),
                   'pdn_medium': models['pdn_medium'].state_dict()}
    models['pdn_small'] = small
    for arch, state in checkpoints.items():
        pth = os.path.join(out_dir, arch + '.pth')
        torch.save(state, pth)
        subprocess.run([sys.executable, EXPORT_SCRIPT, arch, '--checkpoint', pth, '--out',
                        os.path.join(out_dir, arch + '.safetensors')], check=True, stdout=subprocess.DEVNULL)
        os.remove(pth)
        taps = ['layer1', 'layer4'] if arch in ew.RESNETS else ['out']
        size = 64 if arch == 'pdn_small' else 40
        x = uniform('input', (1, 3, size, size), 0.0, 1.0)
        with torch.no_grad():
            outs = ew.Features(arch, models[arch].double().eval(), taps).double()(x)
        ew.save_safetensors({'tap/' + t: o for t, o in zip(taps, outs)},
                            os.path.join(out_dir, arch + '.expected.safetensors'),
                            {'seed': str(SEED), 'size': str(size), 'taps': ','.join(taps)})


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == 'roundtrip':
        roundtrip(sys.argv[2])
    elif len(sys.argv) == 1:
        parity_fixtures(os.path.join(ROOT, 'test', 'fixtures', 'backbones'))
    else:
        sys.exit(__doc__)
