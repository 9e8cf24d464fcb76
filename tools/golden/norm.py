"""Golden fixtures for shaders/norm.wgsl: BatchNorm (train with running-stat updates, eval), LayerNorm over
channels and over the last dim, and folding eval BatchNorm into a convolution."""
import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights
from common import arr, case, write

torch.manual_seed(2)
cases = []


def bn_case(name, shape, training, affine=True, momentum=0.1, eps=1e-5, offset=0.0, scale=1.0):
    c = shape[1]
    inputs = {'x': torch.randn(shape) * scale + offset,
              'runningMean': torch.randn(c) * 0.5, 'runningVar': torch.rand(c) + 0.5}
    if affine:
        inputs['gamma'] = torch.randn(c) * 0.5 + 1
        inputs['beta'] = torch.randn(c) * 0.5
    state = {}

    def fn(x, runningMean, runningVar, gamma=None, beta=None):
        rm, rv = runningMean.detach().clone(), runningVar.detach().clone()
        y = F.batch_norm(x, rm, rv, gamma, beta, training, momentum, eps)
        state.update(runningMean=rm, runningVar=rv)
        return y

    entry = case(name, 'batchNorm', {'training': training, 'momentum': momentum, 'eps': eps}, inputs, fn,
                 ['x', 'gamma', 'beta'] if affine else ['x'])
    entry['state'] = {k: arr(v) for k, v in state.items()}
    cases.append(entry)


bn_case('bn2d train [3,5,4,6]', (3, 5, 4, 6), True)
bn_case('bn1d train [7,19] (two channel groups)', (7, 19), True)
bn_case('bn1d train [9,12] (channel quads)', (9, 12), True)
bn_case('bn [2,3,9] train, no affine, momentum 0.3', (2, 3, 9), True, affine=False, momentum=0.3)
bn_case('bn2d train, mean 50 std 0.1 (two-pass variance)', (4, 3, 5, 5), True, offset=50.0, scale=0.1)
bn_case('bn2d train [2,2,1,1] (two values per channel)', (2, 2, 1, 1), True, eps=1e-3)
bn_case('bn2d eval [2,5,3,7]', (2, 5, 3, 7), False)
bn_case('bn1d eval [6,19]', (6, 19), False)
bn_case('bn2d eval, no affine', (2, 3, 4, 5), False, affine=False)


def ln_case(name, op, shape, affine=True, eps=1e-5):
    c = shape[1] if op == 'layerNormChannels' else shape[-1]
    inputs = {'x': torch.randn(shape) * 2 + 0.5}
    if affine:
        inputs['gamma'] = torch.randn(c) * 0.5 + 1
        inputs['beta'] = torch.randn(c) * 0.5

    def fn(x, gamma=None, beta=None):
        if op == 'layerNorm':
            return F.layer_norm(x, (c,), gamma, beta, eps)
        return F.layer_norm(x.movedim(1, -1), (c,), gamma, beta, eps).movedim(-1, 1)

    cases.append(case(name, op, {'eps': eps}, inputs, fn, ['x', 'gamma', 'beta'] if affine else ['x']))


ln_case('layerNormChannels [2,7,5,3]', 'layerNormChannels', (2, 7, 5, 3))
ln_case('layerNormChannels [3,6,4,4], no affine', 'layerNormChannels', (3, 6, 4, 4), affine=False)
ln_case('layerNormChannels [2,5,3], eps 1e-3', 'layerNormChannels', (2, 5, 3), eps=1e-3)
ln_case('layerNorm [5,3,11]', 'layerNorm', (5, 3, 11))
ln_case('layerNorm [5,8] (channel quads)', 'layerNorm', (5, 8))
ln_case('layerNorm [4,1]', 'layerNorm', (4, 1))

# foldBatchNorm: the output is the fused weight followed by the fused bias.
w, b = torch.randn(4, 3, 3, 3), torch.randn(4)
g, bt, m, v = torch.randn(4) * 0.5 + 1, torch.randn(4), torch.randn(4), torch.rand(4) + 0.2
ins = {k: t.double() for k, t in dict(weight=w, bias=b, gamma=g, beta=bt, mean=m, var=v).items()}
fw, fb = fuse_conv_bn_weights(ins['weight'], ins['bias'], ins['mean'], ins['var'], 1e-5, ins['gamma'], ins['beta'])
cases.append({'name': 'foldBatchNorm conv [4,3,3,3] + bias', 'op': 'foldBatchNorm', 'args': {'eps': 1e-5},
              'inputs': {k: arr(t) for k, t in ins.items()}, 'output': arr(torch.cat([fw.flatten(), fb]))})
write('norm', cases)
