"""Golden fixtures for src/data/image.ts input transforms on non-square images: torchvision's
Resize(size) (shorter side, aspect kept) or Resize((size, size)) (square), bilinear with antialias, then
CenterCrop(crop). Outputs from the float tensor path (what texad computes in float) and from the PIL path the
official repositories use (PIL rounds to 8 bits, so it is compared more loosely)."""
import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from common import arr, write

rng = np.random.default_rng(15)
cases = []
# (height, width, resize, mode, crop): landscape and portrait, shrink and enlarge, odd margins (CenterCrop's
# rounding of half pixels), a crop equal to the resize.
for h, w, size, mode, crop in [(23, 37, 16, 'shorter-side', 12), (31, 20, 14, 'shorter-side', 11),
                               (40, 29, 33, 'shorter-side', 33), (17, 26, 20, 'shorter-side', 15),
                               (23, 37, 16, 'square', 13), (12, 19, 30, 'square', 27)]:
    # Smooth content plus noise: the resampling is exercised, and the crop position matters.
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 7 + yy * 3) % 256, (yy * 11) % 256, (xx * 5 + 40) % 256], -1) + rng.integers(0, 40, (h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    resize = T.Resize(size if mode == 'shorter-side' else (size, size), interpolation=T.InterpolationMode.BILINEAR,
                      antialias=True)
    pipeline = T.Compose([resize, T.CenterCrop(crop)])
    tensor = torch.from_numpy(img).permute(2, 0, 1).to(torch.float64) / 255
    pil = T.ToTensor()(pipeline(Image.fromarray(img)))
    cases.append({'name': '%dx%d %s %d crop %d' % (w, h, mode, size, crop), 'op': 'transform',
                  'args': {'height': h, 'width': w, 'size': size, 'mode': mode, 'crop': crop},
                  'inputs': {'rgb8': {'shape': [h, w, 3], 'data': img.reshape(-1).tolist()}},
                  'output': arr(pipeline(tensor)), 'pil': arr(pil)})
for c in cases:
    c['args']['torchvision'] = torchvision.__version__
write('transforms', cases)
