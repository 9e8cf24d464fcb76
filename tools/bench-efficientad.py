#!/usr/bin/env python3
"""EfficientAD inference in PyTorch for bench/backbones.ts's `efficientad_s` case: the ONNX graph onnxruntime-web
runs, and the PyTorch CPU timing beside it.

  /usr/bin/python3 tools/bench-efficientad.py TEACHER.safetensors STATE.safetensors --onnx OUT.onnx
  /usr/bin/python3 tools/bench-efficientad.py TEACHER.safetensors STATE.safetensors --iterations 3

TEACHER is a pdn_small / pdn_medium file (tools/export-weights.py); STATE is the texad detector state
bench/backbones.ts writes (student.*, ae.*, teacher_mean, teacher_std tensors; map quantiles and configuration in
the metadata). The network is what texad's EfficientAd.predict runs (src/methods/efficientad/, README): ImageNet
normalisation; teacher, normalised per channel; student (2C outputs); autoencoder (eval: dropout off);
st = channel mean (T - S[:C])^2, ae = channel mean (A - S[C:])^2; map = 0.05 (st - qa) / (qb - qa) +
0.05 (ae - qa') / (qb' - qa'); zero padding of pad_maps px; bilinear (align_corners=False) to the image size.
Output 'map' [N, 1, S, S]. With --iterations, prints one JSON line like tools/bench-backbones.py (times in ms and
the fingerprint of the map for bench/backbones.ts's input, by bench-backbones.py's report). 2 threads, no autograd.
"""
import argparse
import importlib.util
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('export_weights', os.path.join(HERE, 'export-weights.py'))
ew = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ew)
_spec = importlib.util.spec_from_file_location('bench_backbones', os.path.join(HERE, 'bench-backbones.py'))
bbench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bbench)
sys.path.insert(0, os.path.join(HERE, 'golden'))
from efficientad import Autoencoder  # noqa: E402  (the spec's autoencoder, as the parity golden builds it)
import onnx_export  # tools/onnx_export.py: the TorchScript exporter on any PyTorch


def metadata(path):
    with open(path, 'rb') as f:
        return json.loads(f.read(int(np.frombuffer(f.read(8), '<u8')[0]))).get('__metadata__', {})


class EfficientAdInference(nn.Module):
    def __init__(self, teacher_path, state_path):
        super().__init__()
        meta = metadata(state_path)
        config = json.loads(meta['texad_config'])
        q = json.loads(meta['texad_training'])['map_quantiles']
        arch = 'pdn_small' if config['model_size'] == 'small' else 'pdn_medium'
        c = config['out_channels']
        if config['padding']:
            sys.exit('bench-efficientad: padded PDNs are not benchmarked (state has padding: true)')
        state = ew.load_safetensors(state_path)
        self.teacher = ew.PDN(arch, c)
        self.teacher.load_state_dict(ew.load_safetensors(teacher_path))
        self.student = ew.PDN(arch, 2 * c)
        self.student.load_state_dict({k[len('student.'):]: v for k, v in state.items() if k.startswith('student.')})
        self.ae = Autoencoder(config['image_size'], c)
        self.ae.load_state_dict({k[len('ae.'):]: v for k, v in state.items() if k.startswith('ae.')})
        self.c, self.size, self.pad = c, config['image_size'], config['pad_maps']
        self.register_buffer('mean', torch.tensor(ew.IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(ew.IMAGENET_STD).view(1, 3, 1, 1))
        self.register_buffer('t_mean', state['teacher_mean'].view(1, c, 1, 1))
        self.register_buffer('t_std', state['teacher_std'].view(1, c, 1, 1))
        self.st_scale = 0.05 / (q['stHigh'] - q['stLow'])
        self.ae_scale = 0.05 / (q['aeHigh'] - q['aeLow'])
        self.st_low, self.ae_low = q['stLow'], q['aeLow']

    def forward(self, x):
        x = (x - self.mean) / self.std
        t = (self.teacher(x) - self.t_mean) / self.t_std
        s = self.student(x)
        a = self.ae(x)
        st = (t - s[:, :self.c]).square().mean(1, keepdim=True)
        ae = (a - s[:, self.c:]).square().mean(1, keepdim=True)
        m = (st - self.st_low) * self.st_scale + (ae - self.ae_low) * self.ae_scale
        m = F.pad(m, (self.pad,) * 4)
        return F.interpolate(m, size=(x.shape[2], x.shape[3]), mode='bilinear', align_corners=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('teacher')
    ap.add_argument('state')
    ap.add_argument('--onnx', metavar='FILE', help='write the ONNX graph (input image [N, 3, S, S], output map)')
    ap.add_argument('--iterations', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = EfficientAdInference(args.teacher, args.state).eval()
    size = net.size
    if args.onnx:
        onnx_export.export_onnx(net, torch.rand(1, 3, size, size), args.onnx, opset_version=13, input_names=['image'],
                                output_names=['map'], dynamic_axes={'image': {0: 'batch'}, 'map': {0: 'batch'}})
        print('wrote %s (ONNX, output map)' % args.onnx, file=sys.stderr)
        return
    torch.set_grad_enabled(False)
    bbench.report(lambda x: (net(x),), 1, size, args.iterations)


if __name__ == '__main__':
    main()
