"""Small PyTorch checkpoints for texad's .pth reader (src/io/torch.ts, src/backbones/convert.ts); test/torch.test.ts.

Run with Debian's interpreter: /usr/bin/python3 tools/golden/torch_checkpoints.py. Writes test/fixtures/torch/:
  pdn_small.pth.gz     an EfficientAD PDN-S teacher in nelson1425's nn.Sequential naming (0, 3, 6, 8), 8 output
                       channels; mostly zeros so that it gzips small (torch.save stores uncompressed). conv1.weight is
                       float16, one bias a strided view into a bigger storage.
  pdn_small.json       per tensor, shape and sha256 of the float32 bytes of tools/export-weights.py's conversion of it
  dtypes.pth + .json   tensors of every float/int dtype, a transpose, an offset slice; their values
  legacy.pth           the pre-1.6 (non-zip) format
  evil-system.pth, evil-eval.pth, module.pth
                       pickles naming os.system, builtins.eval and a model class (must be refused)
"""
import collections
import gzip
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'torch')


class System:
    def __reduce__(self):
        return (os.system, ('echo texad-test-should-never-run',))


class Eval:
    def __reduce__(self):
        return (eval, ('1+1',))


def sparse(shape, gen):
    t = torch.zeros(shape)
    flat = t.view(-1)
    idx = torch.randperm(flat.numel(), generator=gen)[:max(1, flat.numel() // 200)]
    flat[idx] = torch.randn(len(idx), generator=gen)
    return t


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    # nelson1425's PDN-S: Sequential(conv, relu, pool, conv, relu, pool, conv, relu, conv)
    layout = [('0', 3, 128, 4), ('3', 128, 256, 4), ('6', 256, 256, 3), ('8', 256, 8, 4)]
    sd = collections.OrderedDict()
    for name, cin, cout, k in layout:
        sd[name + '.weight'] = sparse((cout, cin, k, k), gen)
        sd[name + '.bias'] = torch.randn(cout, generator=gen)
    sd['0.weight'] = sd['0.weight'].half()
    sd['3.bias'] = torch.randn(2 * 256, generator=gen)[1::2]  # a strided view: storage of 512, stride 2, offset 1
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, 'pdn_small.pth')
        torch.save(sd, pth)
        with open(pth, 'rb') as f, gzip.GzipFile(os.path.join(OUT, 'pdn_small.pth.gz'), 'wb', 9, mtime=0) as g:
            g.write(f.read())
        st = os.path.join(tmp, 'pdn_small.safetensors')
        subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'export-weights.py'), 'pdn_small',
                        '--checkpoint', pth, '--out', st], check=True)
        spec = importlib.util.spec_from_file_location('export_weights', os.path.join(ROOT, 'tools', 'export-weights.py'))
        ew = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ew)
        tensors = ew.load_safetensors(st)
    expected = {k: {'shape': list(t.shape), 'sha256': hashlib.sha256(t.contiguous().numpy().astype('<f4').tobytes()).hexdigest()}
                for k, t in tensors.items()}
    with open(os.path.join(OUT, 'pdn_small.json'), 'w') as f:
        json.dump({'generator': 'tools/golden/torch_checkpoints.py', 'torch': torch.__version__,
                   'converter': 'tools/export-weights.py pdn_small --checkpoint pdn_small.pth', 'tensors': expected}, f,
                  indent=1)

    base = torch.arange(24, dtype=torch.float64).reshape(4, 6) / 8 - 1
    dt = collections.OrderedDict([
        ('f32', base.float()), ('f64', base), ('f16', base.half()), ('bf16', base.bfloat16()),
        ('i64', torch.arange(-3, 3)), ('i32', torch.arange(5, dtype=torch.int32)), ('u8', torch.arange(4, dtype=torch.uint8)),
        ('transposed', base.float().t()), ('slice', base.float()[1:3, 2:5]), ('scalar', torch.tensor(2.5)),
        ('param', torch.nn.Parameter(torch.ones(3))),
    ])
    torch.save(dt, os.path.join(OUT, 'dtypes.pth'))
    with open(os.path.join(OUT, 'dtypes.json'), 'w') as f:
        json.dump({'generator': 'tools/golden/torch_checkpoints.py', 'torch': torch.__version__,
                   'tensors': {k: {'shape': list(t.shape), 'data': t.detach().double().reshape(-1).tolist()}
                               for k, t in dt.items()}}, f)
    torch.save(collections.OrderedDict(w=torch.ones(2)), os.path.join(OUT, 'legacy.pth'),
               _use_new_zipfile_serialization=False)
    torch.save({'w': torch.ones(2), 'x': System()}, os.path.join(OUT, 'evil-system.pth'))
    torch.save(collections.OrderedDict(w=Eval()), os.path.join(OUT, 'evil-eval.pth'))
    torch.save(torch.nn.Conv2d(1, 1, 1), os.path.join(OUT, 'module.pth'))
    print('wrote', OUT)


if __name__ == '__main__':
    main()
