import torch
import torch.nn.functional as F
from common import case, write

torch.manual_seed(3)
cases = []


def first_max(x, axes, keep):
    """torch.max over several dims with the gradient to the first maximum in row-major order over those dims
    (torch.max(dim) semantics): move the reduced dims last, flatten them, take max(-1)."""
    axes = sorted(a % x.dim() for a in axes)
    kept = [d for d in range(x.dim()) if d not in axes]
    y = x.permute(kept + axes).reshape([x.shape[d] for d in kept] + [-1]).max(-1).values
    if keep:
        y = y.reshape([1 if d in axes else x.shape[d] for d in range(x.dim())])
    return y


x3 = torch.randn(3, 5, 7)
x4 = torch.randn(2, 3, 4, 5)
# Small integers give many exact ties for max.
ties = torch.randint(-3, 3, (4, 6, 5)).float()
for op, fn in [('sum', torch.sum), ('mean', torch.mean)]:
    for name, x, axes, keep in [
        ('all', x3, None, False), ('axis1 keep', x3, [1], True), ('axes0,2', x3, [0, 2], False),
        ('axis-1', x3, [-1], False), ('axes2,3 keep', x4, [2, 3], True), ('axes0,1,3', x4, [0, 1, 3], False),
        ('axes3,0', x4, [3, 0], True), ('empty axes', x3, [], False),
    ]:
        args = {'keepDims': keep} if axes is None else {'axes': axes, 'keepDims': keep}
        if axes is None:
            f = lambda x, fn=fn: fn(x)
        elif axes:
            f = lambda x, fn=fn, axes=axes, keep=keep: fn(x, dim=axes, keepdim=keep)
        else:
            f = lambda x: x * 1.0  # torch treats dim=[] as "all"; texad reduces nothing
        cases.append(case('%s %s %s' % (op, name, list(x.shape)), op, args, {'x': x}, f, ['x']))
for name, x, axes, keep in [
    ('all ties', ties, [0, 1, 2], False), ('axis1 ties keep', ties, [1], True), ('axes0,2 ties', ties, [0, 2], False),
    ('axis-1', x3, [-1], False), ('axes1,3', x4, [1, 3], True),
]:
    args = {'axes': axes, 'keepDims': keep}
    cases.append(case('max %s %s' % (name, list(x.shape)), 'max', args, {'x': x},
                      lambda x, axes=axes, keep=keep: first_max(x, axes, keep), ['x']))

for op, fn in [('softmax', F.softmax), ('logSoftmax', F.log_softmax)]:
    for x, axis in [(torch.randn(2, 3, 4, 5) * 3, 1), (torch.randn(4, 7) * 3, -1), (torch.randn(3, 2, 5), 0)]:
        cases.append(case('%s axis %d %s' % (op, axis, list(x.shape)), op, {'axis': axis}, {'x': x},
                          lambda x, fn=fn, axis=axis: fn(x, dim=axis), ['x']))

small = torch.randn(3, 6, 5)
small[1, :, 2] *= 0.01  # norm below eps = 0.05: the clamped branch
for x, axis, eps in [(torch.randn(3, 6, 5), 1, 1e-12), (torch.randn(5, 9), -1, 1e-12), (small, 1, 0.05)]:
    cases.append(case('l2Normalize axis %d eps %g %s' % (axis, eps, list(x.shape)), 'l2Normalize',
                      {'axis': axis, 'eps': eps}, {'x': x},
                      lambda x, axis=axis, eps=eps: F.normalize(x, dim=axis, eps=eps), ['x']))
write('reduce', cases)
