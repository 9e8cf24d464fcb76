"""Golden fixtures for shaders/depthwise.wgsl: per-channel (groups = C) convolution with stride, symmetric and
Keras-style asymmetric padding, bias and the fused ReLU6 epilogue (forward only) or ReLU6 through autograd."""
import torch
import torch.nn.functional as F
from common import case, write

torch.manual_seed(5)
cases = []


def dw_case(name, shape, k, stride, padding, bias=True, activation=None, grads=True):
    n, c, h, w = shape
    top, bottom, left, right = padding
    args = {'stride': stride, 'padding': [top, bottom, left, right]}
    if activation:
        args['activation'] = activation

    def fn(x, weight, b=None):
        y = F.conv2d(F.pad(x, (left, right, top, bottom)), weight, b, stride, 0, 1, c)
        return torch.clamp(y, 0, 6) if activation == 'relu6' else y

    inputs = {'x': torch.randn(shape) * 3, 'weight': torch.randn(c, 1, k, k)}
    if bias:
        inputs['b'] = torch.randn(c)
    cases.append(case(name, 'channelConv2d', args, inputs, fn, list(inputs) if grads else None))


dw_case('3x3 s1 p1', (2, 3, 5, 6), 3, 1, (1, 1, 1, 1))
dw_case('3x3 s2 Keras same on even input (pad 0 before, 1 after)', (2, 4, 8, 6), 3, 2, (0, 1, 0, 1))
dw_case('3x3 s2 p1 odd sizes, no bias', (1, 3, 7, 9), 3, 2, (1, 1, 1, 1), bias=False)
dw_case('5x5 s1 p2', (1, 2, 6, 5), 5, 1, (2, 2, 2, 2))
dw_case('3x3 s1 p1 relu6 (autograd)', (2, 3, 5, 4), 3, 1, (1, 1, 1, 1), activation='relu6')
dw_case('3x3 s2 relu6 fused (inference)', (1, 5, 6, 6), 3, 2, (0, 1, 0, 1), activation='relu6', grads=False)
write('depthwise', cases)
