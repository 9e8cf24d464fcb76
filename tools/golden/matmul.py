"""Golden fixtures for shaders/matmul.wgsl: matmul (odd sizes, transposes, batches, broadcasting, skinny outputs
that run transposed) and linear (bias on/off, leading dims, a single output feature)."""
import torch
import torch.nn.functional as F
from common import case, write

torch.manual_seed(2)
cases = []


def mm(name, a_shape, b_shape, trans_a=False, trans_b=False):
    a = torch.randn(a_shape)
    b = torch.randn(b_shape)

    def fn(a, b):
        return torch.matmul(a.transpose(-1, -2) if trans_a else a, b.transpose(-1, -2) if trans_b else b)
    cases.append(case(name, 'matmul', {'transA': trans_a, 'transB': trans_b}, {'a': a, 'b': b}, fn, ['a', 'b']))


mm('odd 5x7 * 7x9', (5, 7), (7, 9))
mm('vector row 1x3 * 3x6', (1, 3), (3, 6))
mm('K=1 9x1 * 1x10', (9, 1), (1, 10))
mm('19x37 * 37x26', (19, 37), (37, 26))
mm('transA', (7, 5), (7, 9), trans_a=True)
mm('transB', (5, 7), (9, 7), trans_b=True)
mm('transA transB', (7, 6), (10, 7), trans_a=True, trans_b=True)
mm('batched 3x5x6 * 3x6x7', (3, 5, 6), (3, 6, 7))
mm('broadcast a batch 1', (1, 4, 5), (3, 5, 6))
mm('broadcast b rank 2', (3, 4, 5), (5, 8))
mm('broadcast a rank 2 transB', (4, 5), (2, 6, 5), trans_b=True)
mm('skinny output 40x6 * 6x3', (40, 6), (6, 3))
mm('long reduction (split-K) 3x150 * 150x5', (3, 150), (150, 5))
mm('skinny batched transA', (2, 6, 30), (2, 6, 1), trans_a=True)


def lin(name, x_shape, out_features, bias=True):
    x = torch.randn(x_shape)
    w = torch.randn(out_features, x_shape[-1]) * 0.5
    inputs = {'x': x, 'weight': w}
    if bias:
        inputs['bias'] = torch.randn(out_features)
    cases.append(case(name, 'linear', {}, inputs, lambda **t: F.linear(t['x'], t['weight'], t.get('bias')),
                      list(inputs)))


lin('linear 6x10 -> 7', (6, 10), 7)
lin('linear no bias 5x8 -> 12', (5, 8), 12, bias=False)
lin('linear leading dims 2x3x5 -> 4', (2, 3, 5), 4)
lin('linear one output feature 20x9 -> 1', (20, 9), 1)
lin('linear 17x33 -> 19', (17, 33), 19)
write('matmul', cases)
