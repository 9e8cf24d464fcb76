"""Golden fixtures for src/runtime/optim.ts: torch.optim SGD/Adam/AdamW trajectories on small parameters with
fixed gradients, torch.nn.utils.clip_grad_norm_, and torch LR schedulers.

Run: /usr/bin/python3 tools/golden/optim.py  ->  test/fixtures/golden/optim.json
"""
import torch
from common import arr, write

torch.manual_seed(3)
SHAPES = [(3, 5), (7,), (1,)]


def f32(t):
    return t.to(torch.float32).to(torch.float64)


def trajectory(name, kind, options, steps=4, lrs=None, missing=()):
    """Runs `kind` for `steps` steps from fixed f32 params with fixed f32 gradients (f64 arithmetic). `lrs[k]`
    overrides the learning rate before step k; (k, i) in `missing` gives parameter i no gradient at step k."""
    params = [f32(torch.randn(s)).requires_grad_() for s in SHAPES]
    init = [arr(p) for p in params]
    torch_opts = {'lr': options['lr'], 'weight_decay': options.get('weightDecay', 0.01 if kind == 'AdamW' else 0)}
    if 'momentum' in options:
        torch_opts['momentum'] = options['momentum']
    if 'betas' in options:
        torch_opts['betas'] = tuple(options['betas'])
    if 'eps' in options:
        torch_opts['eps'] = options['eps']
    opt = getattr(torch.optim, kind)(params, **torch_opts)
    record = []
    for k in range(steps):
        if lrs is not None:
            opt.param_groups[0]['lr'] = lrs[k]
        grads = []
        for i, p in enumerate(params):
            if (k, i) in missing:
                p.grad = None
                grads.append(None)
            else:
                # Mixed scales, so sqrt(v) and eps both matter somewhere.
                p.grad = f32(torch.randn(p.shape) * (10.0 ** torch.randint(-3, 2, p.shape)))
                grads.append(arr(p.grad))
        opt.step()
        record.append({'lr': opt.param_groups[0]['lr'], 'grads': grads, 'params': [arr(p) for p in params]})
    return {'name': name, 'op': 'optimizer', 'optimizer': kind, 'options': options, 'params': init, 'steps': record}


def clip(name, shapes, max_norm, scale):
    grads = [f32(torch.randn(s) * scale) for s in shapes]
    params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return {'name': name, 'op': 'clipGradNorm', 'maxNorm': max_norm, 'grads': [arr(g) for g in grads],
            'norm': float(norm), 'clipped': [arr(p.grad) for p in params]}


def schedule(name, args, make, epochs):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=args['base'])
    sched = make(opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    return {'name': name, 'op': 'schedule', 'args': args, 'lrs': lrs}


S = torch.optim.lr_scheduler
cases = [
    trajectory('SGD plain', 'SGD', {'lr': 0.1}),
    trajectory('SGD momentum 0.9, weight decay 0.01', 'SGD', {'lr': 0.05, 'momentum': 0.9, 'weightDecay': 0.01}),
    trajectory('SGD weight decay 5e-5 (MSC)', 'SGD', {'lr': 1e-2, 'weightDecay': 5e-5}),
    trajectory('Adam defaults', 'Adam', {'lr': 1e-3}),
    trajectory('Adam PyramidFlow (betas 0.5/0.9, eps 1e-4, L2 1e-5)', 'Adam',
               {'lr': 2e-4, 'betas': [0.5, 0.9], 'eps': 1e-4, 'weightDecay': 1e-5}, steps=5),
    trajectory('Adam L2 0.1', 'Adam', {'lr': 1e-2, 'weightDecay': 0.1}),
    trajectory('AdamW default decay 0.01', 'AdamW', {'lr': 1e-3}),
    trajectory('AdamW decay 0.1, betas 0.8/0.99', 'AdamW', {'lr': 1e-2, 'betas': [0.8, 0.99], 'weightDecay': 0.1}),
    trajectory('Adam with lr changed every step', 'Adam', {'lr': 1e-2}, lrs=[1e-2, 5e-3, 2e-2, 0.0]),
    trajectory('Adam with a parameter skipping steps', 'Adam', {'lr': 1e-2}, missing={(1, 0), (2, 0), (2, 2)}),
    trajectory('SGD momentum with a parameter skipping a step', 'SGD', {'lr': 0.1, 'momentum': 0.5},
               missing={(1, 1)}),
    clip('clip: large norm is scaled to maxNorm', [(4, 9), (5000,), (3,)], 1.0, 1.0),
    clip('clip: small norm is left alone', [(6,), (2, 3)], 2.0, 0.01),
    clip('clip: single tensor, maxNorm 0.5', [(17,)], 0.5, 3.0),
    schedule('stepLR', {'kind': 'step', 'base': 0.1, 'stepSize': 3, 'gamma': 0.5},
             lambda o: S.StepLR(o, step_size=3, gamma=0.5), 12),
    schedule('multiStepLR', {'kind': 'multiStep', 'base': 1e-4, 'milestones': [2, 5, 5, 8], 'gamma': 0.2},
             lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 8], gamma=0.2), 12),
    schedule('linear warm-up then constant', {'kind': 'warmup', 'base': 1e-3, 'warmupSteps': 4, 'startFactor': 0.1},
             lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=4), S.ConstantLR(o, factor=1.0)],
                                      milestones=[4]), 10),
    schedule('linear warm-up then multi-step (MSFlow)',
             {'kind': 'warmup', 'base': 1e-4, 'warmupSteps': 3, 'startFactor': 0.1, 'milestones': [2, 4], 'gamma': 0.33},
             lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=3),
                                          S.MultiStepLR(o, milestones=[2, 4], gamma=0.33)], milestones=[3]), 10),
]
write('optim', cases)
