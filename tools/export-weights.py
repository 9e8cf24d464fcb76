#!/usr/bin/env python3
"""Converts torchvision ResNets and EfficientAD PDN teachers into safetensors files texad loads.

Run it wherever PyTorch is installed (texad itself needs no Python):

  python3 tools/export-weights.py wide_resnet50_2 --out ~/texad-weights/wide_resnet50_2.safetensors
      torchvision's ImageNet weights (IMAGENET1K_V1, what `pretrained=True` gives); downloads them once
  python3 tools/export-weights.py resnet18 --checkpoint resnet18-f37072fd.pth --out resnet18.safetensors
      a state dict you already have (e.g. fetched by hand from download.pytorch.org)
  python3 tools/export-weights.py pdn_small --checkpoint teacher_small.pth --out pdn_small.safetensors
      an EfficientAD teacher: nelson1425's models/teacher_{small,medium}.pth (nn.Sequential indices) or anomalib's
      pretrained_teacher_{small,medium}.pth (conv1..convN); both become conv1..convN
  python3 tools/export-weights.py resnet50 --random-init 0 --out /tmp/r50.safetensors
      a seeded, randomly initialised model (no network; used by texad's tests)

Tensors keep PyTorch's names (`layer1.0.conv1.weight`, `conv1.bias`); BatchNorm step counters are dropped. The
file's metadata records the architecture (`texad.arch`) so texad refuses a checkpoint of another network.
--onnx FILE also writes an ONNX graph of the same network and weights (ImageNet normalisation included, outputs
= --taps), which texad's benchmark runs in onnxruntime-web.
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import torch
from torch import nn

# tools/onnx_export.py, beside this file: the TorchScript exporter on any PyTorch. The golden scripts in tools/golden
# load this file by path, so its folder is not on sys.path for them.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_export  # noqa: E402

RESNETS = ('resnet18', 'resnet50', 'resnet152', 'wide_resnet50_2', 'wide_resnet101_2')
PDNS = ('pdn_small', 'pdn_medium')
RESNET_TAPS = ('stem', 'layer1', 'layer2', 'layer3', 'layer4')
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PDN(nn.Module):
    """EfficientAD's patch description network with anomalib's layer names (conv1..conv4 small, ..conv6 medium).
    Average pools use padding 1 (counted in the divisor, PyTorch's default) when `padding` is set."""

    LAYOUTS = {
        # (in, out, kernel, padding multiplier), None = 'out_channels'; pools follow conv1 and conv2.
        'pdn_small': [(3, 128, 4, 3), (128, 256, 4, 3), (256, 256, 3, 1), (256, None, 4, 0)],
        'pdn_medium': [(3, 256, 4, 3), (256, 512, 4, 3), (512, 512, 1, 0), (512, 512, 3, 1), (512, None, 4, 0),
                       (None, None, 1, 0)],
    }

    def __init__(self, arch, out_channels=384, padding=False):
        super().__init__()
        self.pad = 1 if padding else 0
        for i, (cin, cout, k, p) in enumerate(self.LAYOUTS[arch]):
            conv = nn.Conv2d(cin or out_channels, cout or out_channels, k, padding=p * self.pad)
            self.add_module('conv%d' % (i + 1), conv)

    def forward(self, x):
        convs = list(self.children())
        for i, conv in enumerate(convs):
            x = conv(x)
            if i < len(convs) - 1:
                x = torch.relu(x)
            if i < 2:
                x = nn.functional.avg_pool2d(x, 2, 2, padding=self.pad)
        return x


def resnet_taps(model, x, taps):
    """The outputs texad's ResNet returns for `taps`, computed the torchvision way; stops after the last tap.
    'stem' is the output of the max pool (stride 4)."""
    out = {}
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for name in RESNET_TAPS:
        if name != 'stem':
            x = getattr(model, name)(x)
        if name in taps:
            out[name] = x
            if len(out) == len(taps):
                break
    return out


def build(arch, out_channels=384):
    """An untrained model of `arch` (torchvision's own initialisation)."""
    if arch in PDNS:
        return PDN(arch, out_channels)
    import torchvision
    return getattr(torchvision.models, arch)(weights=None)


def load_checkpoint(path, prefix):
    obj = torch.load(path, map_location='cpu')
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):  # Lightning checkpoints
        obj = obj['state_dict']
    if not isinstance(obj, dict):
        sys.exit('%s: expected a state dict or a pickled nn.Module, got %s' % (path, type(obj).__name__))
    if prefix:
        obj = {k[len(prefix):]: v for k, v in obj.items() if k.startswith(prefix)}
        if not obj:
            sys.exit('%s: no tensor name starts with --prefix %r' % (path, prefix))
    return obj


def conv_position(module):
    """'3' (nn.Sequential index) or 'conv2' (anomalib name) -> its number; None for any other module name."""
    m = re.fullmatch(r'(?:conv)?(\d+)', module)
    return int(m.group(1)) if m else None


def pdn_state_dict(arch, state, path):
    """Renames an EfficientAD teacher's tensors to conv1..convN. Only convolutions own tensors, and nn.Sequential
    numbers every module (ReLUs and pools too), so the k-th module in index order becomes conv<k>."""
    modules = {k.rsplit('.', 1)[0] for k in state}
    if any(conv_position(m) is None for m in modules):
        sys.exit('%s: not an EfficientAD PDN checkpoint; tensor names: %s' % (path, ', '.join(sorted(state)[:8])))
    convs = sorted(modules, key=conv_position)
    want = len(PDN.LAYOUTS[arch])
    if len(convs) != want:
        other = [a for a in PDNS if len(PDN.LAYOUTS[a]) == len(convs)]
        sys.exit('%s has %d convolutions%s, but %s has %d' % (
            path, len(convs), ' (a %s checkpoint)' % other[0] if other else '', arch, want))
    return {'conv%d.%s' % (i + 1, kind): state['%s.%s' % (m, kind)]
            for i, m in enumerate(convs) for kind in ('weight', 'bias')}


def load_model(arch, checkpoint=None, prefix='', seed=None):
    """The model of `arch` with its weights: torchvision's ImageNet ones, a checkpoint's, or a seeded random init."""
    if seed is not None:
        torch.manual_seed(seed)
        return build(arch)
    if checkpoint is None:
        if arch in PDNS:
            sys.exit('%s: pass --checkpoint (EfficientAD teachers are not in torchvision) or --random-init SEED'
                     % arch)
        import torchvision
        return getattr(torchvision.models, arch)(weights='IMAGENET1K_V1')
    state = load_checkpoint(checkpoint, prefix)
    if arch in PDNS:
        state = pdn_state_dict(arch, state, checkpoint)
        model = build(arch, out_channels=state['conv%d.weight' % len(PDN.LAYOUTS[arch])].shape[0])
    else:
        model = build(arch)
    check_fits(model, state, checkpoint, arch)
    model.load_state_dict(state, strict=False)
    return model


def check_fits(model, state, path, arch):
    """Exits with a short summary (PyTorch's own lists every tensor) unless `state` has exactly the model's tensors.
    BatchNorm step counters may be absent either way."""
    want = {k: list(v.shape) for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    have = {k: list(v.shape) for k, v in state.items() if not k.endswith('num_batches_tracked')}
    found = [
        ('with other shapes',
         ['%s is %s, %s needs %s' % (k, have[k], arch, s) for k, s in want.items() if k in have and have[k] != s]),
        ('missing', [k for k in want if k not in have]),
        ('unexpected', [k for k in have if k not in want]),
    ]
    problems = ['%d tensors %s (%s%s)' % (len(ks), what, ', '.join(ks[:3]), ', ...' if len(ks) > 3 else '')
                for what, ks in found if ks]
    if problems:
        sys.exit('%s does not fit %s: %s. Is it a checkpoint of another architecture?'
                 % (path, arch, '; '.join(problems)))


def save_safetensors(tensors, path, metadata, dtype='f32'):
    """Writes the safetensors format: u64 header length, JSON header padded with spaces to 8 bytes, raw data."""
    header, chunks, offset = {'__metadata__': metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous()
        if dtype == 'bf16':
            data = t.to(torch.bfloat16).view(torch.int16).numpy().astype('<i2').tobytes()
        else:
            data = t.numpy().astype('<f2' if dtype == 'f16' else '<f4').tobytes()
        header[name] = {'dtype': {'f32': 'F32', 'f16': 'F16', 'bf16': 'BF16'}[dtype], 'shape': list(t.shape),
                        'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - (len(text) + 8) % 8) % 8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(np.uint64(len(text)).astype('<u8').tobytes())
        f.write(text)
        for c in chunks:
            f.write(c)


def load_safetensors(path):
    """The tensors of a safetensors file (F32, F16 or BF16) as float32 torch tensors, by name."""
    with open(path, 'rb') as f:
        header = json.loads(f.read(int(np.frombuffer(f.read(8), '<u8')[0])))
        data = f.read()
    header.pop('__metadata__', None)
    kinds = {'F32': '<f4', 'F16': '<f2', 'BF16': '<u2'}
    out = {}
    for name, t in header.items():
        begin, end = t['data_offsets']
        values = np.frombuffer(data[begin:end], kinds[t['dtype']])
        if t['dtype'] == 'BF16':
            values = (values.astype('<u4') << 16).view('<f4')
        out[name] = torch.from_numpy(values.astype(np.float32)).reshape(t['shape'])
    return out


class Features(nn.Module):
    """ImageNet normalisation + the backbone's taps: the network texad's loadBackbone(...).forward runs."""

    def __init__(self, arch, model, taps):
        super().__init__()
        self.arch, self.model, self.taps = arch, model, ['out'] if arch in PDNS else taps
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x):
        x = (x - self.mean) / self.std
        if self.arch in PDNS:
            return (self.model(x),)
        out = resnet_taps(self.model, x, self.taps)
        return tuple(out[t] for t in self.taps)


def export_onnx(arch, model, taps, size, path):
    net = Features(arch, model.eval(), taps)
    onnx_export.export_onnx(net, torch.rand(1, 3, size, size), path, opset_version=13, input_names=['image'],
                            output_names=net.taps, dynamic_axes={name: {0: 'batch'} for name in ['image'] + net.taps})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('arch', choices=RESNETS + PDNS)
    ap.add_argument('--out', required=True, help='the .safetensors file to write')
    src = ap.add_mutually_exclusive_group()
    src.add_argument('--checkpoint', help='a .pth state dict (or pickled module) instead of torchvision\'s download')
    src.add_argument('--random-init', type=int, metavar='SEED', help='a seeded, randomly initialised model')
    ap.add_argument('--prefix', default='', help='keep only tensors whose names start with this (stripped), '
                    'e.g. "model.teacher."')
    ap.add_argument('--dtype', choices=('f32', 'f16', 'bf16'), default='f32',
                    help='storage type (texad computes in f32)')
    ap.add_argument('--onnx', metavar='FILE', help='also write an ONNX graph of the same network (for benchmarks)')
    ap.add_argument('--taps', default='layer3', help='ResNet outputs of the ONNX graph, e.g. layer2,layer3')
    ap.add_argument('--onnx-size', type=int, default=256, help='input size traced into the ONNX graph')
    args = ap.parse_args()
    taps = args.taps.split(',')
    unknown = [t for t in taps if t not in RESNET_TAPS]
    if args.onnx and args.arch in RESNETS and unknown:
        sys.exit('--taps: unknown %s (choose from %s)' % (', '.join(unknown), ', '.join(RESNET_TAPS)))

    model = load_model(args.arch, args.checkpoint, args.prefix, args.random_init)
    source = ('random-init seed %d' % args.random_init if args.random_init is not None
              else os.path.basename(args.checkpoint) if args.checkpoint else 'torchvision IMAGENET1K_V1')
    tensors = {k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    save_safetensors(tensors, args.out, {'format': 'pt', 'texad.arch': args.arch, 'texad.source': source}, args.dtype)
    print('wrote %s: %s, %d tensors, %.1f MB' % (args.out, args.arch, len(tensors), os.path.getsize(args.out) / 1e6))
    if args.onnx:
        export_onnx(args.arch, model, taps, args.onnx_size, args.onnx)
        print('wrote %s (ONNX, outputs %s)' % (args.onnx, 'out' if args.arch in PDNS else ','.join(taps)))


if __name__ == '__main__':
    main()
