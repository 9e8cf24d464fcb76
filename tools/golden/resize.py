"""Golden fixtures for shaders/resize.wgsl: bilinear (align_corners True/False) and nearest resizing, up and
down, integer and non-integer factors, size-1 edges."""
import torch
import torch.nn.functional as F
from common import case, write

torch.manual_seed(4)
cases = []
bilinear = [((2, 3, 5, 7), (9, 4)), ((1, 2, 6, 6), (12, 12)), ((2, 2, 7, 5), (3, 2)), ((1, 2, 3, 3), (8, 8)),
            ((1, 1, 1, 4), (3, 7)), ((1, 2, 6, 5), (1, 3))]
for align in (False, True):
    for shape, size in bilinear:
        cases.append(case('bilinear %s -> %s align %s' % (list(shape), list(size), align), 'resizeBilinear',
                          {'size': list(size), 'alignCorners': align}, {'x': torch.randn(shape)},
                          lambda x, size=size, align=align: F.interpolate(x, size, mode='bilinear', align_corners=align),
                          ['x']))
for shape, size in [((2, 3, 4, 5), (8, 10)), ((1, 2, 5, 7), (12, 9)), ((1, 2, 9, 8), (4, 3)), ((1, 2, 3, 3), (7, 5)),
                    ((1, 1, 4, 4), (4, 1))]:
    cases.append(case('nearest %s -> %s' % (list(shape), list(size)), 'resizeNearest', {'size': list(size)},
                      {'x': torch.randn(shape)}, lambda x, size=size: F.interpolate(x, size, mode='nearest'), ['x']))
write('resize', cases)
