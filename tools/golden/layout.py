import torch
import torch.nn.functional as F
from common import case, write

torch.manual_seed(4)
cases = []


def concat_case(name, shapes, axis):
    inputs = {'x%d' % i: torch.randn(s) for i, s in enumerate(shapes)}
    keys = list(inputs)
    cases.append(case(name, 'concat', {'axis': axis, 'inputs': keys}, inputs,
                      lambda **xs: torch.cat([xs[k] for k in keys], dim=axis), keys))


concat_case('concat axis 1 [2,3,4]+[2,1,4]+[2,5,4]', [(2, 3, 4), (2, 1, 4), (2, 5, 4)], 1)
concat_case('concat axis 0 [1,3]+[4,3]', [(1, 3), (4, 3)], 0)
concat_case('concat axis -1 [2,3,2]+[2,3,5]', [(2, 3, 2), (2, 3, 5)], -1)

x = torch.randn(3, 7, 5)
for piece in range(3):
    cases.append(case('split [2,4,1] axis 1 piece %d' % piece, 'split', {'sizes': [2, 4, 1], 'axis': 1, 'piece': piece},
                      {'x': x}, lambda x, piece=piece: torch.split(x, [2, 4, 1], dim=1)[piece], ['x']))
for axis, start, end in [(1, 2, 6), (-1, 1, 4), (0, -2, 3), (2, 0, 5)]:
    where = (slice(None),) * (axis % x.dim()) + (slice(start, end),)
    cases.append(case('slice axis %d [%d,%d)' % (axis, start, end), 'slice', {'axis': axis, 'start': start, 'end': end},
                      {'x': x}, lambda x, where=where: x[where], ['x']))

for shape, dims in [((2, 3, 4, 5), [0, 2, 3, 1]), ((2, 3, 4, 5), [3, 1, 0, 2]), ((5, 4), [1, 0]),
                    ((2, 1, 3, 2, 2, 3), [5, 4, 3, 2, 1, 0]), ((3, 1, 4), [1, 0, 2]), ((2, 3, 5), [0, 1, 2])]:
    cases.append(case('permute %s %s' % (list(shape), dims), 'permute', {'dims': dims}, {'x': torch.randn(shape)},
                      lambda x, dims=dims: x.permute(dims), ['x']))

for shape, index in [((2, 5, 3, 2), [3, 0, 4, 1, 2]), ((3, 4, 5), [2, 0, 2, 1, 2, 3, 0]), ((2, 3), [1])]:
    cases.append(case('gatherChannels %s %s' % (list(shape), index), 'gatherChannels', {'index': index},
                      {'x': torch.randn(shape)}, lambda x, index=index: x[:, index], ['x']))

for shape, pads, value in [((2, 3, 4, 5), [1, 2, 3, 0], 0.0), ((2, 5, 6), [-1, 2, 0, -2], 1.5), ((4, 3), [4, 4, 4, 4], -2.0)]:
    cases.append(case('pad2d %s %s value %g' % (list(shape), pads, value), 'pad2d', {'pads': pads, 'value': value},
                      {'x': torch.randn(shape)}, lambda x, pads=pads, value=value: F.pad(x, pads, value=value), ['x']))
write('layout', cases)
