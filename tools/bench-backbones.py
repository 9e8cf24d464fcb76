#!/usr/bin/env python3
"""PyTorch CPU timing of one backbone forward pass, for bench/backbones.ts.

  /usr/bin/python3 tools/bench-backbones.py ARCH WEIGHTS.safetensors --taps layer2,layer3 --size 256 --iterations 3

Builds the network texad runs (ImageNet normalisation + the backbone up to the last tap, tools/export-weights.py's
Features) with the file's weights, warms it up once, then prints one JSON line: the time of each timed forward
pass in ms and the fingerprint (sum |y|, sum y^2 over the taps) of the input texad uses, so the caller can check
that both computed the same thing. Uses 2 threads (the machine's cores) and no autograd.
"""
import argparse
import importlib.util
import json
import os
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('export_weights', os.path.join(HERE, 'export-weights.py'))
ew = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ew)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('arch', choices=ew.RESNETS + ew.PDNS)
    ap.add_argument('weights')
    ap.add_argument('--taps', default='out')
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--iterations', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    state = ew.load_safetensors(args.weights)
    model = ew.build(args.arch, out_channels=state['conv%d.weight' % len(ew.PDN.LAYOUTS[args.arch])].shape[0]) \
        if args.arch in ew.PDNS else ew.build(args.arch)
    model.load_state_dict(state, strict=False)
    net = ew.Features(args.arch, model.eval(), args.taps.split(',')).eval()
    report(net, args.batch, args.size, args.iterations)


def report(net, batch, size, iterations):
    """Prints the JSON line bench/backbones.ts reads: ms of `iterations` timed passes of `net` (one untimed pass
    first, which gives the fingerprint) on its input. `net` returns a tuple of outputs. Autograd must be off."""
    # The input bench/backbones.ts feeds: (sin(i) + 1) / 2 over the flat [N, 3, S, S] index, float64 -> float32.
    n = batch * 3 * size * size
    x = ((torch.sin(torch.arange(n, dtype=torch.float64)) + 1) / 2).to(torch.float32)
    x = x.reshape(batch, 3, size, size)
    outs = [o.double() for o in net(x)]
    fingerprint = [sum(float(o.abs().sum()) for o in outs), sum(float(o.square().sum()) for o in outs)]
    ms = []
    for _ in range(iterations):
        start = time.perf_counter()
        net(x)
        ms.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'ms': ms,
                      'fingerprint': fingerprint}))


if __name__ == '__main__':
    main()
