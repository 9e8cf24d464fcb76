"""Golden fixtures for conv2d (an implicit GEMM on shaders/matmul.wgsl): every kernel size 1/3/4/7/8, stride
1/2 and padding 0-3 appear, on odd spatial sizes, channel counts that are not multiples of 4, with and without
bias, batch > 1; plus the fused inference epilogue (ReLU, residual add)."""
import torch
import torch.nn.functional as F
from common import case, write

torch.manual_seed(3)
cases = []


def conv(name, n, c, h, w, o, k, stride, pad, bias=True, grads=True, relu=False, residual=False, kw=None,
         dilation=1, groups=1):
    kh, kw = k, kw or k
    x = torch.randn(n, c, h, w)
    weight = torch.randn(o, c // groups, kh, kw) / (c // groups * kh * kw) ** 0.5
    inputs = {'x': x, 'weight': weight}
    if bias:
        inputs['bias'] = torch.randn(o)
    ho = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
    if residual:
        inputs['residual'] = torch.randn(n, o, ho, wo)

    def fn(**t):
        y = F.conv2d(t['x'], t['weight'], t.get('bias'), stride=stride, padding=pad, dilation=dilation, groups=groups)
        if residual:
            y = y + t['residual']
        return F.relu(y) if relu else y
    args = {'stride': stride, 'padding': pad, 'dilation': dilation, 'groups': groups, 'relu': relu}
    cases.append(case(name, 'conv2d', args, inputs, fn, list(inputs) if grads else None))


# Each kernel size with stride 1 and 2, the paddings 0-3 spread over them (the full product would make a
# ~1.4 MB fixture), on an odd 7x9 input with 3 -> 2 channels; batch 2 and bias alternate.
for i, (k, stride, pad) in enumerate([(1, 1, 0), (1, 2, 1), (3, 1, 1), (3, 2, 2), (4, 1, 2), (4, 2, 3),
                                      (7, 1, 3), (7, 2, 0), (8, 1, 1), (8, 2, 2), (3, 1, 0), (4, 2, 1)]):
    n = 2 if i % 3 == 0 else 1
    conv('k%d s%d p%d n%d' % (k, stride, pad, n), n, 3, 7, 9, 2, k, stride, pad, bias=i % 2 == 0)
conv('wide channels 3x3 s1 p1', 1, 9, 5, 5, 6, 3, 1, 1)
conv('stride 3 k3 (phases without taps)', 1, 2, 8, 7, 3, 3, 3, 1)
conv('stride 2 k1 (taps only on even pixels)', 2, 3, 7, 6, 4, 1, 2, 0)
conv('rectangular 3x2 kernel stride 2 pad 1', 1, 2, 7, 6, 3, 3, 2, 1, kw=2)
conv('inference relu', 2, 3, 7, 9, 5, 3, 1, 1, grads=False, relu=True)
conv('inference residual relu', 1, 4, 6, 7, 8, 3, 2, 1, grads=False, relu=True, residual=True)
conv('training residual relu (unfused)', 1, 3, 5, 6, 4, 3, 1, 1, relu=True, residual=True)
# Dilation (DRAEM-style atrous convs, PyramidFlow) with strides sharing a factor with it or not, and groups
# (depthwise included), alone and together, with the fused epilogue on groups.
conv('dilation 2 k3 s1 p2', 2, 3, 9, 8, 4, 3, 1, 2, dilation=2)
conv('dilation 3 k3 s2 p1', 1, 2, 11, 10, 3, 3, 2, 1, dilation=3)
conv('dilation 2 k3 s2 p0 (gcd 2)', 1, 3, 10, 9, 2, 3, 2, 0, dilation=2, bias=False)
conv('dilation 2 k2x3 s3 p1', 1, 2, 11, 12, 3, 2, 3, 1, kw=3, dilation=2)
conv('groups 2 k3 s1 p1', 2, 4, 6, 5, 6, 3, 1, 1, groups=2)
conv('depthwise groups 5 k3 s2 p1', 1, 5, 7, 8, 5, 3, 2, 1, groups=5)
conv('groups 3 x2 multiplier k1', 1, 3, 5, 4, 6, 1, 1, 0, groups=3, bias=False)
conv('groups 2 dilation 2 k3 s1 p2', 1, 4, 8, 7, 4, 3, 1, 2, groups=2, dilation=2)
conv('inference groups 2 residual relu', 1, 4, 6, 5, 6, 3, 1, 1, groups=2, grads=False, relu=True, residual=True)
write('conv2d', cases)
