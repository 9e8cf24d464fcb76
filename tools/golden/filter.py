import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from common import case, write

torch.manual_seed(5)
cases = []

for shape in [(2, 3, 5, 4), (1, 2, 1, 6), (1, 1, 3, 3)]:
    cases.append(case('unfold3x3 %s' % list(shape), 'unfold3x3', {}, {'x': torch.randn(shape)},
                      lambda x: F.unfold(x, 3, padding=1).permute(0, 2, 1)))

# Radius 16 > 7 rows: samples reflect more than once, which scipy handles periodically.
for shape, sigma, truncate in [((1, 1, 20, 23), 4.0, 4.0), ((2, 1, 7, 9), 4.0, 4.0), ((2, 3, 12, 10), 1.5, 3.0),
                               ((3, 11, 6), 0.7, 4.0)]:
    axes = (0,) * (len(shape) - 2) + (sigma, sigma)
    cases.append(case('gaussianBlur %s sigma %g truncate %g' % (list(shape), sigma, truncate), 'gaussianBlur',
                      {'sigma': sigma, 'truncate': truncate}, {'x': torch.randn(shape)},
                      lambda x, axes=axes, truncate=truncate: torch.from_numpy(
                          gaussian_filter(x.numpy(), sigma=axes, truncate=truncate, mode='reflect'))))


def gauss2d(sigma, radius):
    g = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    g /= g.sum()
    return np.outer(g, g)


binom = np.array([1, 4, 6, 4, 1], dtype=np.float64)
kernels = [
    ('binomial 5x5', np.outer(binom, binom) / 256, 2, (2, 3, 9, 11)),
    ('gaussian 11x11 (SSIM)', gauss2d(1.5, 5), 5, (1, 2, 13, 12)),
    ('random 3x3', np.random.RandomState(0).randn(3, 3), 1, (1, 2, 6, 7)),
    ('random 4x4 padding 0', np.random.RandomState(1).randn(4, 4), 0, (2, 1, 8, 9)),
    ('random 3x3 padding 3', np.random.RandomState(2).randn(3, 3), 3, (1, 1, 4, 5)),
    ('rank-one 3x3 with negatives', np.outer([1.0, -2.0, 0.5], [0.3, 1.0, -1.0]), 1, (2, 5, 4)),
]
for name, kern, pad, shape in kernels:
    k = kern.shape[0]
    w = torch.tensor(kern, dtype=torch.float32).to(torch.float64)
    args = {'kernel': [float('%.9g' % v) for v in w.reshape(-1).tolist()], 'k': k, 'padding': pad}

    def conv(x, w=w, k=k, pad=pad):
        planes = x.reshape(-1, 1, *x.shape[-2:])
        y = F.conv2d(planes, w.reshape(1, 1, k, k), padding=pad)
        return y.reshape(*x.shape[:-2], *y.shape[-2:])
    cases.append(case('depthwiseConv2d %s %s' % (name, list(shape)), 'depthwiseConv2d', args,
                      {'x': torch.randn(shape)}, conv, ['x']))

for shape, k in [((1, 2, 25, 30), 21), ((2, 3, 5), 3)]:
    cases.append(case('boxFilter %s k %d' % (list(shape), k), 'boxFilter', {'k': k}, {'x': torch.randn(shape)},
                      lambda x, k=k: F.avg_pool2d(x.reshape(-1, 1, *x.shape[-2:]), k, stride=1, padding=k // 2,
                                                  count_include_pad=True).reshape(x.shape), ['x']))
write('filter', cases)
