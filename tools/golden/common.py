"""Shared writer for golden fixtures: PyTorch computes outputs and gradients of small random cases.

Each family script builds a list of cases with `case(...)` and calls `write(family, cases)`, producing
test/fixtures/golden/<family>.json. Run with Debian's interpreter: /usr/bin/python3 tools/golden/<family>.py
"""
import json
import os
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')


def arr(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'shape': list(t.shape), 'data': [float('%.9g' % v) for v in t.reshape(-1).tolist()]}


def case(name, op, args, inputs, fn, grad_inputs=None, seed_grad=True):
    """Runs fn(**inputs) in float64 for accuracy (inputs are rounded to float32 first), records the output,
    and the gradients of sum(output * w) for a random w with respect to `grad_inputs`."""
    ins = {k: v.to(torch.float32).to(torch.float64).clone().requires_grad_(k in (grad_inputs or []))
           for k, v in inputs.items()}
    out = fn(**ins)
    entry = {'name': name, 'op': op, 'args': args, 'inputs': {k: arr(v) for k, v in ins.items()}, 'output': arr(out)}
    if grad_inputs:
        w = torch.randn(out.shape, dtype=torch.float64).to(torch.float32).to(torch.float64) if seed_grad else torch.ones_like(out)
        (out * w).sum().backward()
        entry['gradOutput'] = arr(w)
        entry['grads'] = {k: arr(ins[k].grad) for k in grad_inputs}
    return entry


def write(family, cases):
    path = os.path.join(ROOT, 'test', 'fixtures', 'golden', family + '.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump({'family': family, 'generator': 'tools/golden/%s.py' % family, 'torch': torch.__version__,
                   'cases': cases}, f, separators=(',', ':'))
    print('wrote', path, len(cases), 'cases')
