"""Golden fixtures for src/ops/fft.ts: |torch.fft.fft2(x)| and its gradient, for power-of-two sizes including
degenerate (1-long) and non-square planes.

Run: /usr/bin/python3 tools/golden/fft.py  ->  test/fixtures/golden/fft.json
"""
import torch
from common import case, write

torch.manual_seed(5)
cases = []
for shape in [(1, 1, 8, 16), (2, 3, 4, 8), (1, 2, 32, 32), (1, 1, 1, 8), (1, 1, 16, 1), (1, 1, 1, 1), (1, 1, 2, 2),
              (1, 1, 64, 4)]:
    x = torch.randn(shape)
    cases.append(case('fft2dMagnitude %s' % list(shape), 'fft2dMagnitude', {}, {'x': x},
                      lambda x: torch.fft.fft2(x).abs(), ['x']))
# A constant plane: every bin but DC has |X| = 0, where the gradient must be 0 (PyTorch's sgn(0) = 0).
cases.append(case('fft2dMagnitude constant plane', 'fft2dMagnitude', {}, {'x': torch.full((1, 1, 4, 4), 0.5)},
                  lambda x: torch.fft.fft2(x).abs(), ['x']))
write('fft', cases)
