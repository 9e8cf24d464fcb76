import torch
from common import case, write

torch.manual_seed(6)
cases = []
signed_zeros = torch.tensor([0.0, -0.0, 1.0, -1.0, -0.0, 0.0, 2.0])
# Infinities are tested in test/select.test.ts: JSON cannot carry them, and torch.quantile turns them into NaN
# even at q = 0 and q = 1 (its lerp computes inf + 0 * (inf - inf)).
inputs = [
    ('randn 1000', torch.randn(1000)), ('randn [3,7,11]', torch.randn(3, 7, 11)), ('single', torch.tensor([1.5])),
    ('pair', torch.tensor([3.0, -2.0])), ('ties', torch.randint(-2, 3, (257,)).float()),
    ('signed zeros', signed_zeros),
    ('wide range', torch.randn(500) * torch.logspace(-30, 30, 500)),
]
qs = [0.0, 0.1, 0.25, 0.5, 0.9, 0.995, 0.999, 1.0]
for name, x in inputs:
    cases.append(case('quantile %s' % name, 'quantile', {'qs': qs}, {'x': x},
                      lambda x: torch.quantile(x.reshape(-1), torch.tensor(qs, dtype=x.dtype))))
    ks = sorted(k for k in {1, 2, x.numel() // 3 + 1, x.numel()} if k <= x.numel())
    cases.append(case('topKMean %s' % name, 'topKMean', {'ks': ks}, {'x': x},
                      lambda x, ks=ks: torch.stack([torch.topk(x.reshape(-1), k).values.mean() for k in ks])))
write('select', cases)
