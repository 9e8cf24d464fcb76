import torch
import torch.nn.functional as F
from common import case, write

torch.manual_seed(1)
cases = []
x = torch.randn(3, 5, 7) * 2
pos = torch.rand(4, 9) * 3 + 0.1
unary = [
    ('relu', {}, x, F.relu), ('leakyRelu', {'slope': 0.2}, x, lambda x: F.leaky_relu(x, 0.2)),
    ('tanh', {}, x, torch.tanh), ('atan', {}, x, torch.atan), ('exp', {}, x, torch.exp),
    ('log', {}, pos, torch.log), ('softplus', {'beta': 0.5}, x * 30, lambda x: F.softplus(x, beta=0.5)),
    ('sqrt', {}, pos, torch.sqrt), ('square', {}, x, torch.square), ('abs', {}, x, torch.abs),
    ('clamp', {'lo': -0.5, 'hi': 1.0}, x, lambda x: torch.clamp(x, -0.5, 1.0)),
    ('sigmoid', {}, x, torch.sigmoid), ('affine', {'scale': -1.5, 'shift': 0.25}, x, lambda x: -1.5 * x + 0.25),
]
for name, args, inp, fn in unary:
    cases.append(case(name, name, args, {'x': inp}, lambda x, fn=fn: fn(x), ['x']))

shapes = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((1, 5), (4, 1)), ((2, 1, 3, 1), (3, 5)), ((7,), ())]
for op, fn in [('add', lambda a, b: a + b), ('sub', lambda a, b: a - b), ('mul', lambda a, b: a * b), ('div', lambda a, b: a / b)]:
    for sa, sb in shapes:
        a = torch.randn(sa)
        b = torch.randn(sb) + (3 if op == 'div' else 0)
        cases.append(case('%s %s %s' % (op, list(sa), list(sb)), op, {}, {'a': a, 'b': b}, fn, ['a', 'b']))
a = torch.randn(1, 1, 4)
cases.append(case('expand', 'expand', {'shape': [3, 5, 4]}, {'x': a}, lambda x: x.expand(3, 5, 4), ['x']))
g = torch.randn(3, 5, 4)
cases.append(case('sumTo', 'sumTo', {'shape': [5, 1]}, {'x': g}, lambda x: x.sum(dim=(0, 2), keepdim=True).reshape(5, 1), ['x']))
# Sizes that are not multiples of 4: the vec4 kernels cover the whole vec4s, the scalar kernels the last 1-3
# elements (1041 = 260 vec4s, more than one workgroup, + 1; 35 = 8 + 3; 6 = 1 + 2; 3 = tail only).
odd = torch.randn(3, 347) * 3
small = torch.randn(5, 7) * 3
for name, args, inp, fn in [('relu', {}, odd, F.relu), ('sigmoid', {}, odd, torch.sigmoid),
                            ('softplus', {'beta': 0.5}, small, lambda x: F.softplus(x, beta=0.5)),
                            ('clamp', {'lo': -0.5, 'hi': 1.0}, small, lambda x: torch.clamp(x, -0.5, 1.0))]:
    cases.append(case('%s %s' % (name, list(inp.shape)), name, args, {'x': inp}, lambda x, fn=fn: fn(x), ['x']))
for op, fn, shapes in [('add', lambda a, b: a + b, [(3, 347), (5, 7)]), ('mul', lambda a, b: a * b, [(5, 7), (2, 3), (3,)]),
                       ('div', lambda a, b: a / b, [(5, 7), (3,)])]:
    for shape in shapes:
        a = torch.randn(shape)
        b = torch.randn(shape) + (3 if op == 'div' else 0)
        cases.append(case('%s %s %s' % (op, list(shape), list(shape)), op, {}, {'a': a, 'b': b}, fn, ['a', 'b']))
write('elementwise', cases)
