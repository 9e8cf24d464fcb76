"""Golden fixtures for src/nn/layers.ts: small torch.nn.Sequential networks described by a layer list that the
test rebuilds with texad's modules. Each case records the state dict (PyTorch names, which the test loads by
name), the input, the output, the gradients of sum(output * w) for the input and every parameter, and the
state dict after the forward pass (BatchNorm's running statistics, momentum 0.1, unbiased variance), in
training or eval mode. Run: /usr/bin/python3 tools/golden/nn.py
"""
import torch
import torch.nn as nn
from common import arr, write

torch.manual_seed(7)
cases = []


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel dim of NCHW, as MSFlow applies it (permute, normalise, permute back)."""
    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def build(spec):
    layers = []
    for kind, kw in spec:
        if kind == 'Conv2d':
            layers.append(nn.Conv2d(kw['in'], kw['out'], kw['k'], stride=kw.get('stride', 1),
                                    padding=kw.get('padding', 0), dilation=kw.get('dilation', 1),
                                    groups=kw.get('groups', 1), bias=kw.get('bias', True)))
        elif kind == 'Linear':
            layers.append(nn.Linear(kw['in'], kw['out'], bias=kw.get('bias', True)))
        elif kind == 'BatchNorm1d':
            layers.append(nn.BatchNorm1d(kw['c'], momentum=kw.get('momentum', 0.1), eps=kw.get('eps', 1e-5)))
        elif kind == 'BatchNorm2d':
            layers.append(nn.BatchNorm2d(kw['c'], momentum=kw.get('momentum', 0.1), eps=kw.get('eps', 1e-5)))
        elif kind == 'InstanceNorm2d':
            layers.append(nn.InstanceNorm2d(kw['c'], affine=kw.get('affine', False)))
        elif kind == 'LayerNormChannels':
            layers.append(ChannelLayerNorm(kw['c']))
        elif kind == 'LayerNorm':
            layers.append(nn.LayerNorm(kw['c']))
        elif kind == 'ReLU':
            layers.append(nn.ReLU())
        elif kind == 'LeakyReLU':
            layers.append(nn.LeakyReLU(kw['slope']))
        elif kind == 'Sigmoid':
            layers.append(nn.Sigmoid())
        elif kind == 'Tanh':
            layers.append(nn.Tanh())
        elif kind == 'MaxPool2d':
            layers.append(nn.MaxPool2d(kw['k'], kw.get('stride'), kw.get('padding', 0)))
        elif kind == 'AvgPool2d':
            layers.append(nn.AvgPool2d(kw['k'], kw.get('stride'), kw.get('padding', 0)))
        elif kind == 'Upsample':
            args = {'mode': kw['mode']}
            if 'size' in kw:
                args['size'] = tuple(kw['size'])
            else:
                args['scale_factor'] = kw['scale']
            if 'align' in kw:
                args['align_corners'] = kw['align']
            layers.append(nn.Upsample(**args))
        else:
            raise ValueError(kind)
    return nn.Sequential(*layers)


def net_case(name, spec, x_shape, training, perturb_stats=False):
    net = build(spec).double()
    with torch.no_grad():
        for k, v in net.state_dict().items():
            if k.endswith('num_batches_tracked'):
                continue
            # Random affine parameters and (optionally) running statistics, so that nothing is at identity.
            if k.endswith('running_var'):
                if perturb_stats:
                    v.copy_(torch.rand(v.shape) * 1.5 + 0.5)
            elif k.endswith('running_mean'):
                if perturb_stats:
                    v.copy_(torch.randn(v.shape) * 0.5)
            elif k.endswith('.weight') and spec[int(k.split('.')[0])][0] in ('BatchNorm1d', 'BatchNorm2d', 'InstanceNorm2d', 'LayerNorm', 'LayerNormChannels'):
                v.copy_(1 + 0.3 * torch.randn(v.shape))
            else:
                v.copy_(torch.randn(v.shape) * 0.4)
            v.copy_(v.to(torch.float32).to(torch.float64))
    state = {k: v.clone() for k, v in net.state_dict().items() if not k.endswith('num_batches_tracked')}
    net.train(training)
    x = (torch.randn(*x_shape) + 0.5).to(torch.float32).to(torch.float64).requires_grad_(True)
    y = net(x)
    w = torch.randn(y.shape, dtype=torch.float64).to(torch.float32).to(torch.float64)
    (y * w).sum().backward()
    params = dict(net.named_parameters())
    cases.append({
        'name': name, 'layers': [[k, kw] for k, kw in spec], 'training': training,
        'x': arr(x), 'state': {k: arr(v) for k, v in state.items()}, 'output': arr(y), 'gradOutput': arr(w),
        'grads': {'x': arr(x.grad), **{k: arr(p.grad) for k, p in params.items()}},
        'stateAfter': {k: arr(v) for k, v in net.state_dict().items() if not k.endswith('num_batches_tracked')},
    })


conv_bn = [['Conv2d', {'in': 3, 'out': 4, 'k': 3, 'padding': 1, 'bias': False}], ['BatchNorm2d', {'c': 4}],
           ['ReLU', {}], ['Upsample', {'mode': 'bilinear', 'scale': 2, 'align': True}]]
net_case('conv-bn2d-relu-upsample(bilinear, align_corners) train', conv_bn, (2, 3, 5, 6), True)
net_case('conv-bn2d-relu-upsample(bilinear, align_corners) eval', conv_bn, (2, 3, 5, 6), False, perturb_stats=True)
net_case('conv dilation 2 groups 2 stride 2 + bn2d train (momentum 0.3)',
         [['Conv2d', {'in': 4, 'out': 6, 'k': 3, 'stride': 2, 'padding': 2, 'dilation': 2, 'groups': 2}],
          ['BatchNorm2d', {'c': 6, 'momentum': 0.3, 'eps': 1e-3}], ['LeakyReLU', {'slope': 0.2}]], (3, 4, 7, 8), True)
net_case('depthwise conv + upsample nearest x2 + tanh',
         [['Conv2d', {'in': 3, 'out': 3, 'k': 3, 'padding': 1, 'groups': 3}], ['Upsample', {'mode': 'nearest', 'scale': 2}],
          ['Tanh', {}]], (1, 3, 4, 5), True)
mlp = [['Linear', {'in': 5, 'out': 8}], ['BatchNorm1d', {'c': 8}], ['LeakyReLU', {'slope': 0.2}],
       ['Linear', {'in': 8, 'out': 1, 'bias': False}], ['Sigmoid', {}]]
net_case('linear-bn1d-leakyrelu-linear-sigmoid train', mlp, (6, 5), True)
net_case('linear-bn1d-leakyrelu-linear-sigmoid eval', mlp, (6, 5), False, perturb_stats=True)
net_case('bn1d on [N, C, L] train', [['BatchNorm1d', {'c': 3}]], (4, 3, 5), True)
net_case('instancenorm2d affine + upsample bilinear to size 7x9',
         [['InstanceNorm2d', {'c': 3, 'affine': True}], ['Upsample', {'mode': 'bilinear', 'size': [7, 9]}]], (2, 3, 4, 5), True)
net_case('layernorm over channels + maxpool + avgpool',
         [['LayerNormChannels', {'c': 5}], ['MaxPool2d', {'k': 3, 'stride': 2, 'padding': 1}],
          ['AvgPool2d', {'k': 2}]], (2, 5, 8, 7), True)
net_case('layernorm over the last dim', [['LayerNorm', {'c': 6}]], (3, 4, 6), True)
write('nn', cases)
