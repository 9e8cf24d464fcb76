"""Golden fixtures for shaders/pool.wgsl: max/avg pooling with padding at the edges, ties, global and adaptive
average pooling."""
import torch
import torch.nn.functional as F
from common import case, write

torch.manual_seed(3)
cases = []


def pool_case(name, op, shape, kernel, stride, padding=0, include_pad=True, x=None):
    args = {'kernel': kernel, 'stride': stride, 'padding': padding}
    if op == 'maxPool2d':
        fn = lambda x: F.max_pool2d(x, kernel, stride, padding)
    else:
        args['countIncludePad'] = include_pad
        fn = lambda x: F.avg_pool2d(x, kernel, stride, padding, count_include_pad=include_pad)
    cases.append(case(name, op, args, {'x': torch.randn(shape) if x is None else x}, fn, ['x']))


pool_case('max 2x2 s2, odd width', 'maxPool2d', (2, 3, 6, 7), 2, 2)
pool_case('max 3x3 s2 p1, odd sizes', 'maxPool2d', (2, 3, 7, 9), 3, 2, 1)
pool_case('max 3x3 s1 p1 (overlapping windows)', 'maxPool2d', (1, 2, 5, 6), 3, 1, 1)
# Small negative integers: ties everywhere (first index wins) and padding must act as -inf, not 0.
pool_case('max 3x3 s2 p1, negative ties', 'maxPool2d', (2, 2, 7, 6), 3, 2, 1,
          x=-torch.randint(1, 4, (2, 2, 7, 6)).float())
pool_case('max 2x2 s3 p1 (gaps between windows)', 'maxPool2d', (2, 2, 8, 7), 2, 3, 1)
pool_case('avg 2x2 s3 p1 (gaps between windows)', 'avgPool2d', (2, 2, 8, 7), 2, 3, 1, False)
pool_case('avg 2x2 s2, odd width', 'avgPool2d', (2, 3, 6, 7), 2, 2)
pool_case('avg 3x3 s2 p1, count pad', 'avgPool2d', (2, 3, 7, 8), 3, 2, 1, True)
pool_case('avg 3x3 s2 p1, exclude pad', 'avgPool2d', (2, 3, 7, 8), 3, 2, 1, False)
pool_case('avg 3x3 s3 p1, exclude pad', 'avgPool2d', (1, 2, 8, 10), 3, 3, 1, False)
pool_case('avg 4x4 s4 (integer-factor downsample)', 'avgPool2d', (2, 3, 8, 12), 4, 4)
pool_case('avg 21x21 s1 p10, count pad (DRAEM)', 'avgPool2d', (1, 2, 12, 13), 21, 1, 10, True)

cases.append(case('global [2,5,3,7]', 'globalAvgPool', {}, {'x': torch.randn(2, 5, 3, 7)},
                  lambda x: F.adaptive_avg_pool2d(x, 1), ['x']))
for shape, out in [((3, 12), 4), ((2, 3, 10), 4), ((2, 7), 9), ((2, 96), 32), ((4, 5), 1)]:
    cases.append(case('adaptive1d %s -> %d' % (list(shape), out), 'adaptiveAvgPool1d', {'outSize': out},
                      {'x': torch.randn(shape)}, lambda x, out=out: F.adaptive_avg_pool1d(x, out), ['x']))
write('pool', cases)
