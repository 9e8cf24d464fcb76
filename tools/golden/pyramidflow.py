"""PyramidFlow goldens: a PyTorch reference of the official model (gasharper/PyramidFlow model.py, train.py, util.py),
written from ../shared/reference/methods.md section 2, in float64.

Writes test/fixtures/golden/pyramidflow.json (Laplacian pyramid decompose/compose with gradients, GoldenCase format)
and test/fixtures/golden/pyramidflow-model.json (encoder-free model: flow outputs, Fourier loss, gradients of every
trainable tensor, the parameters after one clipped Adam step, VolumeNorm running means, eval-mode template maps;
and a ResNet18-encoder case whose weights both sides generate from hash_uniform: loss, Adam-step summaries,
BatchNorm and VolumeNorm running statistics, template, map), and test/fixtures/golden/pyramidflow-bench.json (the
first two losses of the benchmark's PyTorch peer, tools/bench-torch.py, at a tiny shape).
Importable: the benchmark peer runs the same model (flow_forward, fourier_loss, adam) in float32 through bench_step.
Run: /usr/bin/python3 tools/golden/pyramidflow.py
"""
import copy
import importlib.util
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from common import ROOT, arr, case, write

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import draem_torch  # noqa: E402  (its name-keyed hash_uniform, shared with the TypeScript side)

BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
KERNEL = torch.outer(BINOMIAL, BINOMIAL) / 256.0


def blur(x):
    c = x.shape[1]
    return F.conv2d(F.pad(x, (2, 2, 2, 2)), KERNEL.to(x).expand(c, 1, 5, 5), groups=c)


def down(x):
    return F.max_pool2d(blur(x), kernel_size=2, stride=2)


def up(x, size):
    return blur(F.interpolate(x, size=size, mode='nearest'))


def build(x, levels):
    g = [x]
    for _ in range(levels - 1):
        g.append(down(g[-1]))
    return [g[i] - up(g[i + 1], g[i].shape[2:]) for i in range(levels - 1)] + [g[-1]]


def compose(lp):
    out = lp[-1]
    for i in range(len(lp) - 2, -1, -1):
        out = up(out, lp[i].shape[2:]) + lp[i]
    return out


def pyramid_cases():
    """Laplacian pyramid cases (GoldenCase format)."""
    cases = []
    for shape, levels in [((1, 2, 16, 16), 4), ((1, 2, 8, 12), 3), ((1, 1, 4, 4), 2)]:
        for index in range(levels):
            cases.append(case('buildPyramid %s levels %d, level %d' % (list(shape), levels, index), 'buildPyramid',
                              {'levels': levels, 'index': index}, {'x': torch.randn(shape)},
                              lambda x, levels=levels, index=index: build(x, levels)[index], grad_inputs=['x']))
        lv = build(torch.randn(shape, dtype=torch.float64), levels)
        names = ['l%d' % i for i in range(levels)]
        cases.append(case('composePyramid %s levels %d' % (list(shape), levels), 'composePyramid', {'levels': levels},
                          {n: t + 0.1 * torch.randn(t.shape, dtype=torch.float64) for n, t in zip(names, lv)},
                          lambda **ls: compose([ls[n] for n in sorted(ls, key=lambda k: int(k[1:]))]),
                          grad_inputs=names))
    return cases


# ---- the encoder-free model, one training step ----
def block_order(levels, stacks):
    out = []
    for _ in range(stacks):
        for range_start in (0, 1):
            if range_start == 1:
                out.append(('up', 0))
            for start in range(range_start, levels, 2):
                if start + 2 < levels:
                    out.append(('fb2', start))
                elif start + 1 < levels:
                    out.append(('down', start))
    return out


def model_case(name, channels, side, levels, stacks, ksize, vn):
    params, buffers = {}, {}
    blocks = block_order(levels, stacks)
    for k, (kind, start) in enumerate(blocks):
        p = 'nf.moduleslst.%d.' % k
        cin = 2 * channels if kind == 'fb2' else channels
        bound = 1 / math.sqrt(cin * ksize * ksize)
        params[p + 'affineParams.conv.0.weight'] = (torch.rand(2 * channels, cin, ksize, ksize) * 2 - 1) * bound
        # Official init is zero; small random values make every gradient path non-trivial.
        params[p + 'affineParams.conv.2.weight'] = torch.randn(2 * channels, 2 * channels, ksize, ksize) * 0.02
        q, _ = torch.linalg.qr(torch.randn(channels, channels, dtype=torch.float64))
        w_p, w_l, w_u = torch.linalg.lu(q)
        s = torch.diagonal(w_u)
        buffers[p + 'conv1x1.w_p'] = w_p
        buffers[p + 'conv1x1.s_sign'] = torch.sign(s)
        params[p + 'conv1x1.w_l'] = w_l + torch.tril(torch.randn(channels, channels), -1) * 0.05
        params[p + 'conv1x1.w_s'] = torch.log(s.abs()) + torch.randn(channels) * 0.05
        params[p + 'conv1x1.w_u'] = torch.triu(w_u, 1) + torch.triu(torch.randn(channels, channels), 1) * 0.05
        at = side // 2 ** (start + 1 if kind == 'fb2' else start)
        buffers[p + 'affineParams.norm.running_mean'] = torch.zeros((1, 1, at, at) if vn == 'CVN' else (1, channels, 1, 1))
    q, _ = torch.linalg.qr(torch.randn(channels, 3, dtype=torch.float64))
    buffers['inconv.weight'] = q.reshape(channels, 3, 1, 1)
    images = torch.rand(2, 3, side, side).to(torch.float64)
    run = train_step(params, buffers, blocks, channels, levels, ksize, vn, images,
                     lambda x, training: F.conv2d(normalize(x), buffers['inconv.weight']))
    return {
        'name': name,
        'config': {'numChannel': channels, 'x_size': side, 'numLayer': levels, 'numStack': stacks, 'kernelSize': ksize,
                   'volumeNorm': vn},
        'images': arr(images),
        'initial': {k: arr(v) for k, v in run['initial'].items()},
        'outputs': [arr(o) for o in run['outputs']],
        'loss': run['loss'],
        'grads': {k: arr(v) for k, v in run['grads'].items()},
        'after': {k: arr(v) for k, v in run['after'].items()},
        'template': [arr(t) for t in run['template']],
        'map': arr(run['map']),
    }


def normalize(x):
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).reshape(1, 3, 1, 1).to(x)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).reshape(1, 3, 1, 1).to(x)
    return (x - mean) / std


def flow_forward(params, buffers, blocks, channels, ksize, vn, xs, training):
    """The official flow (model.py, after the encoder and the pyramid) over the levels `xs`: each block of `blocks`
    replaces one level. In training the log-scales lose their batch mean and VolumeNorm's running means in `buffers`
    move (momentum 0.1); in eval those running means are subtracted. Returns the output levels."""
    dims = (0, 1) if vn == 'CVN' else (0, 2, 3)

    def affine(p, x):
        h = F.leaky_relu(F.conv2d(x, params[p + 'affineParams.conv.0.weight'], padding=ksize // 2), 0.01)
        raw, bias = F.conv2d(h, params[p + 'affineParams.conv.2.weight'], padding=ksize // 2).chunk(2, 1)
        logscale = 2 * 0.636 * torch.atan(raw / 2)
        key = p + 'affineParams.norm.running_mean'
        if training:
            sample = logscale.mean(dim=dims, keepdim=True)
            buffers[key] = 0.9 * buffers[key] + 0.1 * sample.detach()
            logscale = logscale - sample
        else:
            logscale = logscale - buffers[key]
        return torch.exp(logscale), bias

    def conv1x1(p, x):
        c = channels
        ws = params[p + 'conv1x1.w_s']
        lower = params[p + 'conv1x1.w_l'] * torch.tril(torch.ones(c, c), -1).to(x) + torch.eye(c).to(x)
        upper = params[p + 'conv1x1.w_u'] * torch.triu(torch.ones(c, c), 1).to(x) + \
            torch.diag(buffers[p + 'conv1x1.s_sign'] * torch.exp(ws - ws.mean()))
        w = buffers[p + 'conv1x1.w_p'] @ lower @ upper
        return F.conv2d(x, w.reshape(c, c, 1, 1))

    xs = list(xs)
    for k, (kind, start) in enumerate(blocks):
        p = 'nf.moduleslst.%d.' % k
        if kind == 'up':
            x0, x1 = xs[start], xs[start + 1]
            s, b = affine(p, F.interpolate(x1, size=x0.shape[2:], mode='nearest'))
            xs[start] = conv1x1(p, s * x0 + b)
        elif kind == 'down':
            x0, x1 = xs[start], xs[start + 1]
            s, b = affine(p, x0)
            size = x1.shape[2:]
            xs[start + 1] = conv1x1(p, F.interpolate(s, size=size, mode='nearest') * x1 +
                                    F.interpolate(b, size=size, mode='nearest'))
        else:
            x0, x1, x2 = xs[start:start + 3]
            size = x1.shape[2:]
            cond = torch.cat([F.interpolate(x0, size=size, mode='nearest'), F.interpolate(x2, size=size, mode='nearest')], 1)
            s, b = affine(p, cond)
            xs[start + 1] = conv1x1(p, s * x1 + b)
    return xs


def fourier_loss(outs):
    """train.py's loss on a batch of 2: (out_0 - out_1)^2 per level (BatchDiffLoss), composed through the pyramid,
    channel mean, then mean |FFT2|."""
    diffs = [(o[[0]] - o[[1]]).abs() ** 2 for o in outs]
    return torch.fft.fft2(compose(diffs).mean(1)).abs().mean()


def adam(params):
    """train.py's optimizer."""
    return torch.optim.Adam(params, lr=2e-4, eps=1e-4, weight_decay=1e-5, betas=(0.5, 0.9))


def train_step(params, buffers, blocks, channels, levels, ksize, vn, images, encode):
    """One official training step (flow.train(), Fourier loss, clip, Adam), then flow.eval(): the template over
    `images` and its anomaly map. `encode(images, training)` is the frozen encoder. Tensors are rounded to float32
    and computed in float64; `params` and `buffers` are replaced by their float64 copies."""
    params.update({k: v.to(torch.float32).to(torch.float64).requires_grad_() for k, v in params.items()})
    buffers.update({k: v.to(torch.float32).to(torch.float64) for k, v in buffers.items()})
    initial = {k: v.detach().clone() for k, v in {**params, **buffers}.items()}
    images = images.to(torch.float32).to(torch.float64)

    def forward(training):
        with torch.no_grad():
            feat = encode(images, training)
        return flow_forward(params, buffers, blocks, channels, ksize, vn, build(feat, levels), training)

    outs = forward(True)
    loss = fourier_loss(outs)
    loss.backward()
    grads = {k: v.grad.detach().clone() for k, v in params.items()}
    plist = list(params.values())
    torch.nn.utils.clip_grad_norm_(plist, max_norm=1.0)
    opt = adam(plist)
    opt.step()
    with torch.no_grad():
        evals = forward(False)
        template = [e.mean(0, keepdim=True) for e in evals]
        amap = compose([(e - t).abs() for e, t in zip(evals, template)]).mean(1, keepdim=True)
    return {
        'initial': initial,
        'outputs': outs,
        'loss': loss.item(),
        'grads': grads,
        'after': {**params, **{k: v for k, v in buffers.items() if 'running_mean' in k}},
        'template': template,
        'map': amap,
    }


def hash_uniform(n, seed):
    """n values in [-1, 1) from a 32-bit integer hash of (index, seed): test/pyramidflow.test.ts computes the same
    values, so the ResNet18 case stores how its 64-channel tensors were generated instead of the tensors."""
    i = torch.arange(n, dtype=torch.int64)
    m = 0xFFFFFFFF
    h = (i * 2654435761 + seed * 40503 + 12345) & m
    h = h ^ (h >> 15)
    h = (h * 2246822519) & m
    h = h ^ (h >> 13)
    return h.to(torch.float64) / 2 ** 32 * 2 - 1


def generated(spec):
    n = math.prod(spec['shape'])
    if spec['gen'] == 'eye':
        return torch.eye(spec['shape'][0], dtype=torch.float64)
    v = spec['offset'] + spec['scale'] * hash_uniform(n, spec['seed'])
    if spec['gen'] == 'sign':
        v = torch.sign(v)
    return v.to(torch.float32).to(torch.float64).reshape(spec['shape'])


def summary(t, seed):
    """A few numbers that pin a large tensor: its sum, its sum of squares and a hashed projection."""
    t = t.detach().reshape(-1)
    return [t.sum().item(), (t * t).sum().item(), (t * hash_uniform(t.numel(), seed)).sum().item()]


def resnet_case(name, side, levels, stacks, ksize, vn):
    """The ResNet18 encoder (stem + layer1, 64 channels at stride 4) with the official quirk: flow.train() puts its
    BatchNorm in training mode, so the training step normalises with batch statistics and moves the running ones,
    which the eval-mode template and map then use. Weights come from hash_uniform (specs in the fixture)."""
    import torchvision
    channels = 64
    blocks = block_order(levels, stacks)
    specs = []

    def add(key, shape, gen='uniform', scale=1.0, offset=0.0):
        specs.append({'name': key, 'shape': list(shape), 'gen': gen, 'seed': len(specs) + 1, 'scale': scale, 'offset': offset})

    def conv(key, cout, cin, k):
        add(key, (cout, cin, k, k), scale=math.sqrt(6 / (cin * k * k)))

    def bn(key, c):
        add(key + '.weight', (c,), scale=0.2, offset=1.0)
        add(key + '.bias', (c,), scale=0.1)
        add(key + '.running_mean', (c,), scale=0.1)
        add(key + '.running_var', (c,), scale=0.5, offset=1.0)

    conv('conv1.weight', 64, 3, 7)
    bn('bn1', 64)
    for b in range(2):
        for c in (1, 2):
            conv('layer1.%d.conv%d.weight' % (b, c), 64, 64, 3)
            bn('layer1.%d.bn%d' % (b, c), 64)
    encoder_keys = [sp['name'] for sp in specs]
    for k, (kind, start) in enumerate(blocks):
        p = 'nf.moduleslst.%d.' % k
        cin = 2 * channels if kind == 'fb2' else channels
        add(p + 'affineParams.conv.0.weight', (2 * channels, cin, ksize, ksize), scale=1 / math.sqrt(cin * ksize * ksize))
        add(p + 'affineParams.conv.2.weight', (2 * channels, 2 * channels, ksize, ksize), scale=0.02)
        add(p + 'conv1x1.w_p', (channels, channels), gen='eye')
        add(p + 'conv1x1.s_sign', (channels,), gen='sign')
        add(p + 'conv1x1.w_l', (channels, channels), scale=0.1)
        add(p + 'conv1x1.w_s', (channels,), scale=0.1)
        add(p + 'conv1x1.w_u', (channels, channels), scale=0.1)
        at = side // 4 // 2 ** (start + 1 if kind == 'fb2' else start)
        add(p + 'affineParams.norm.running_mean', (1, 1, at, at) if vn == 'CVN' else (1, channels, 1, 1), scale=0.0)
    values = {sp['name']: generated(sp) for sp in specs}
    encoder = torchvision.models.resnet18()
    stem = torch.nn.Sequential(encoder.conv1, encoder.bn1, encoder.relu, encoder.maxpool, encoder.layer1).double()
    state = stem.state_dict()
    # torchvision names -> indices of the Sequential: 0 conv1, 1 bn1, 4 layer1
    seq_key = {k: '0.weight' if k == 'conv1.weight' else k.replace('bn1.', '1.', 1) if k.startswith('bn1.')
               else k.replace('layer1.', '4.', 1) for k in encoder_keys}
    for key in encoder_keys:
        state[seq_key[key]] = values[key]
    stem.load_state_dict(state)
    trainable = {'conv.0.weight', 'conv.2.weight', 'w_l', 'w_s', 'w_u'}
    params = {k: v for k, v in values.items() if k.startswith('nf.') and any(k.endswith(t) for t in trainable)}
    buffers = {k: v for k, v in values.items() if k.startswith('nf.') and k not in params}
    image_spec = {'shape': [2, 3, side, side], 'gen': 'uniform', 'seed': 1000, 'scale': 0.5, 'offset': 0.5}
    images = generated(image_spec)

    def encode(x, training):
        stem.train(training)
        return stem(normalize(x))

    run = train_step(params, buffers, blocks, channels, levels, ksize, vn, images, encode)
    bn_after = {k: v for k, v in stem.state_dict().items() if 'running' in k}
    torch_key = {v: k for k, v in seq_key.items()}
    return {
        'name': name,
        'config': {'x_size': side, 'numLayer': levels, 'numStack': stacks, 'kernelSize': ksize, 'volumeNorm': vn},
        'images': image_spec,
        'tensors': specs,
        'loss': run['loss'],
        # The step of each trained tensor (after - before) as summary(); running statistics in full.
        'steps': {k: summary(run['after'][k] - run['initial'][k], 7) for k in params},
        'after': {**{torch_key[k]: arr(v) for k, v in bn_after.items()},
                  **{k: arr(v) for k, v in run['after'].items() if 'running_mean' in k}},
        'template': [arr(t) for t in run['template']],
        'map': arr(run['map']),
    }


# ---- the benchmark's PyTorch side (tools/bench-torch.py, texad bench --suite pyramidflow) ----
def hashed_weights(channels, side, levels, stacks, ksize, vn):
    """Encoder-free weights for the benchmark, float32, from the name-keyed hash u = 2 hash_uniform(name) - 1 in
    [-1, 1) of tools/draem_torch.py (bench/pyramidflow.ts pyramidFlowHashInit builds the same in TypeScript):
    affine conv.0 u / sqrt(fan_in) (PyTorch's default bound), conv.2 0.02 u (officially zero; non-zero so that
    every gradient path runs), LU w_l, w_u and w_s 0.1 u, w_p the identity, s_sign sign(u), inconv sqrt(3 / C) u
    (columns of unit norm on average, as the official orthogonal init), VolumeNorm running means 0.
    Returns (params, buffers)."""
    def hashed(name, shape, scale):
        u = 2 * draem_torch.hash_uniform(name, math.prod(shape)) - 1
        return (scale * u).reshape(shape).to(torch.float32)

    params, buffers = {}, {}
    for k, (kind, start) in enumerate(block_order(levels, stacks)):
        p = 'nf.moduleslst.%d.' % k
        cin = 2 * channels if kind == 'fb2' else channels
        name = p + 'affineParams.conv.0.weight'
        params[name] = hashed(name, (2 * channels, cin, ksize, ksize), 1 / math.sqrt(cin * ksize * ksize))
        name = p + 'affineParams.conv.2.weight'
        params[name] = hashed(name, (2 * channels, 2 * channels, ksize, ksize), 0.02)
        for w in ('w_l', 'w_u'):
            params[p + 'conv1x1.' + w] = hashed(p + 'conv1x1.' + w, (channels, channels), 0.1)
        params[p + 'conv1x1.w_s'] = hashed(p + 'conv1x1.w_s', (channels,), 0.1)
        buffers[p + 'conv1x1.w_p'] = torch.eye(channels)
        buffers[p + 'conv1x1.s_sign'] = torch.sign(hashed(p + 'conv1x1.s_sign', (channels,), 1.0))
        at = side // 2 ** (start + 1 if kind == 'fb2' else start)
        buffers[p + 'affineParams.norm.running_mean'] = torch.zeros((1, 1, at, at) if vn == 'CVN' else (1, channels, 1, 1))
    buffers['inconv.weight'] = hashed('inconv.weight', (channels, 3, 1, 1), math.sqrt(3 / channels))
    return params, buffers


def bench_step(images, channels, levels, stacks, ksize, vn):
    """One training step as the official train.py takes it, in float32, from hashed_weights, on `images`
    [2, 3, S, S] in [0, 1]: the encoder-free encoder (ImageNet normalisation, frozen 1x1 conv) and the pyramid under
    no_grad, the flow in training mode, the Fourier loss, zero_grad, backward, clip_grad_norm_ 1, the Adam step.
    Returns a function that takes one step and returns (loss,), the loss before the step; its .reset() restores
    the initial weights, running means and optimizer state."""
    if images.shape[0] != 2:
        raise ValueError('PyramidFlow bench step: the loss here compares the pair of a batch of 2, got %d images'
                         % images.shape[0])
    params, buffers = hashed_weights(channels, images.shape[-1], levels, stacks, ksize, vn)
    blocks = block_order(levels, stacks)
    plist = [v.requires_grad_() for v in params.values()]
    opt = adam(plist)
    initial = copy.deepcopy(({k: v.detach() for k, v in params.items()}, buffers, opt.state_dict()))

    def step():
        with torch.no_grad():
            xs = build(F.conv2d(normalize(images), buffers['inconv.weight']), levels)
        with torch.enable_grad():
            loss = fourier_loss(flow_forward(params, buffers, blocks, channels, ksize, vn, xs, True))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(plist, max_norm=1.0)
            opt.step()
        return (loss.detach().reshape(1),)

    def reset():
        with torch.no_grad():
            for k, v in params.items():
                v.copy_(initial[0][k])
        buffers.update(copy.deepcopy(initial[1]))
        opt.load_state_dict(initial[2])
    step.reset = reset
    return step


# The benchmark case at a tiny shape: 4 levels (every block kind), one stack.
BENCH_TINY = {'op': 'pyramidflow_step', 'n': 2, 'x_size': 16, 'numLayer': 4, 'numStack': 1, 'kernelSize': 3,
              'numChannel': 4, 'volumeNorm': 'CVN'}


def bench_fixture():
    """The first two losses (before and after one step) of tools/bench-torch.py's own builder, with its inputs,
    at BENCH_TINY: test/pyramidflow-bench.test.ts checks texad's benchmark runner against them."""
    loader = importlib.util.spec_from_file_location('bench_torch', os.path.join(ROOT, 'tools', 'bench-torch.py'))
    bench_torch = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(bench_torch)
    step = bench_torch.build(BENCH_TINY)
    losses = [step()[0].item() for _ in range(2)]
    path = os.path.join(ROOT, 'test', 'fixtures', 'golden', 'pyramidflow-bench.json')
    with open(path, 'w') as f:
        json.dump({'family': 'pyramidflow-bench', 'generator': 'tools/golden/pyramidflow.py', 'torch': torch.__version__,
                   'spec': BENCH_TINY, 'losses': losses}, f, indent=1)
    print('wrote', path, losses)


def main():
    torch.manual_seed(13)
    write('pyramidflow', pyramid_cases())
    models = [model_case('CVN, 4 levels, 1 stack, k3', 4, 16, 4, 1, 3, 'CVN'),
              model_case('SVN, 3 levels, 2 stacks, k3', 3, 16, 3, 2, 3, 'SVN'),
              resnet_case('ResNet18 encoder (BatchNorm in training mode), CVN, 3 levels, 1 stack, k3', 32, 3, 1, 3,
                          'CVN')]
    path = os.path.join(ROOT, 'test', 'fixtures', 'golden', 'pyramidflow-model.json')
    with open(path, 'w') as f:
        json.dump({'family': 'pyramidflow-model', 'generator': 'tools/golden/pyramidflow.py', 'torch': torch.__version__,
                   'cases': models}, f, separators=(',', ':'))
    print('wrote', path, len(models), 'cases')
    bench_fixture()


if __name__ == '__main__':
    main()
