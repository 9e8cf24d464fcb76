#!/usr/bin/env python3
"""PyTorch CPU timings for texad's benchmark cases (bench/peers/torch.ts drives it).

A line-oriented JSON server on stdin/stdout, so the Node harness can interleave PyTorch samples with the
WebGPU contestants' samples in one run. Requests: {"id", "cmd": "prepare"|"run"|"fingerprint"|"dispose",
"key", "spec", "iterations"}, and {"cmd": "onnx", "spec", "path"}, which writes the ONNX graph of a whole-network
case (draem_predict) for onnxruntime-web; every reply carries the request's id and either the result or "error".
Run with Debian's /usr/bin/python3 (python3-torch); the harness sets MALLOC_MMAP_THRESHOLD_ so that large
tensors are recycled by malloc instead of being mmap'd and page-faulted again on every iteration.
"""
import copy
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

from draem_torch import DiscriminativeSubNetwork, ReconstructiveSubNetwork, focal, hash_init, ssim

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
import pyramidflow  # noqa: E402  the parity golden's PyTorch PyramidFlow (tools/golden/pyramidflow.py)
import onnx_export  # tools/onnx_export.py: the TorchScript exporter on any PyTorch

THREADS = 2


def input_data(shape, seed):
    """Same values as bench/peers/ops.ts inputData: sin(i * 0.7548776662 + seed), float64 rounded to float32."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    return torch.sin(i * 0.7548776662 + seed).to(torch.float32).reshape(shape)


def conv_out(spec):
    return [(d + 2 * spec["pad"] - spec["k"]) // spec["stride"] + 1 for d in (spec["h"], spec["w"])]


def build(spec):
    """Returns a zero-argument function running the op once and returning its outputs."""
    op = spec["op"]
    if op in ("add", "relu"):
        x = input_data(spec["shape"], 0)
        if op == "relu":
            return lambda: (torch.relu(x),)
        y = input_data(spec["shape"], 1)
        return lambda: (x + y,)
    if op == "sum_rows":
        x = input_data([spec["rows"], spec["cols"]], 0)
        return lambda: (x.sum(1),)
    if op == "matmul":
        a = input_data([spec["m"], spec["k"]], 0)
        b = input_data([spec["k"], spec["n"]], 1)
        return lambda: (torch.mm(a, b),)
    if op in ("conv2d", "conv2d_backward"):
        x = input_data([spec["n"], spec["cin"], spec["h"], spec["w"]], 0)
        w = input_data([spec["cout"], spec["cin"], spec["k"], spec["k"]], 1)
        stride, pad = [spec["stride"]] * 2, [spec["pad"]] * 2
        if op == "conv2d":
            return lambda: (F.conv2d(x, w, None, stride, pad),)
        dy = input_data([spec["n"], spec["cout"], *conv_out(spec)], 2)
        # The kernels autograd runs for conv2d's backward, without the forward: dX and dW, no bias.
        backward = torch.ops.aten.convolution_backward
        return lambda: backward(dy, x, w, None, stride, pad, [1, 1], False, [0, 0], 1, [True, True, False])[:2]
    if op in ("draem_step", "draem_predict"):
        return build_draem(spec)
    if op == "pyramidflow_step":
        return build_pyramidflow(spec)
    raise ValueError(f"unknown op {op!r}")


class DraemPredict(torch.nn.Module):
    """test_DRAEM.py's inference: reconstruction, softmax channel 1 of the discriminative network on
    (reconstruction, image), then the image score = max of the map after avg_pool2d(pool, stride 1, padding
    counted). Outputs (map [n, 1, s, s], scores [n])."""

    def __init__(self, rec, seg, pool):
        super().__init__()
        self.rec, self.seg, self.pool = rec, seg, pool

    def forward(self, x):
        r = self.rec(x)
        amap = torch.softmax(self.seg(torch.cat((r, x), dim=1)), dim=1)[:, 1:, :, :]
        return amap, F.avg_pool2d(amap, self.pool, stride=1, padding=self.pool // 2).amax(dim=(1, 2, 3))


def draem_networks(spec):
    rec, seg = ReconstructiveSubNetwork(spec["base_width"]), DiscriminativeSubNetwork(spec["base_channels"])
    hash_init("reconstructive", rec)
    hash_init("discriminative", seg)
    return rec, seg


def export_onnx(spec, path):
    """Writes the ONNX graph of a draem_predict case: input 'x' (images in [0, 1]), outputs 'map' and 'scores',
    weights as initializers and BatchNorm in eval mode (onnxruntime folds it into the convs, as it would for
    any deployed model). Returns the output names and shapes."""
    if spec["op"] != "draem_predict":
        raise ValueError(f"no ONNX export for {spec['op']!r}")
    rec, seg = draem_networks(spec)
    net = DraemPredict(rec, seg, spec["pool"]).eval()
    n, s = spec["n"], spec["size"]
    onnx_export.export_onnx(net, torch.rand(n, 3, s, s), path, opset_version=13, input_names=["x"],
                            output_names=["map", "scores"])
    return [{"name": "map", "shape": [n, 1, s, s]}, {"name": "scores", "shape": [n]}]


def build_draem(spec):
    """DRAEM's two networks from the hash weights texad uses (bench/draem.ts): one training step as
    train_DRAEM.py (Adam lr 1e-4 over both, returns the total loss), or one test_DRAEM.py inference pass."""
    n, s = spec["n"], spec["size"]
    rec, seg = draem_networks(spec)
    x = (input_data([n, 3, s, s], 0) + 1) / 2  # images in [0, 1], as bench/draem.ts maps them
    if spec["op"] == "draem_predict":
        net = DraemPredict(rec, seg, spec["pool"]).eval()
        return lambda: net(x)
    a = (input_data([n, 3, s, s], 1) + 1) / 2
    m = (input_data([n, 1, s, s], 2) > 0).to(torch.float32)
    optimizer = torch.optim.Adam([*rec.parameters(), *seg.parameters()], lr=1e-4)
    rec.train()
    seg.train()

    initial = copy.deepcopy((rec.state_dict(), seg.state_dict(), optimizer.state_dict()))

    def step():
        with torch.enable_grad():
            r = rec(a)
            probs = torch.softmax(seg(torch.cat((r, a), dim=1)), dim=1)
            loss = F.mse_loss(r, x) + (1 - ssim(r, x)) + focal(probs, m)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return (loss.detach().reshape(1),)

    def reset():
        rec.load_state_dict(initial[0])
        seg.load_state_dict(initial[1])
        optimizer.load_state_dict(initial[2])
    # The warm-up step must not move the weights: the fingerprint is the first step's loss, as texad's.
    step.reset = reset
    return step


def build_pyramidflow(spec):
    """One PyramidFlow training step of the encoder-free flow from the hash weights texad uses (bench/pyramidflow.ts),
    by the parity golden's model (tools/golden/pyramidflow.py bench_step, as official train.py): returns the loss."""
    s = spec["x_size"]
    images = (input_data([spec["n"], 3, s, s], 0) + 1) / 2  # images in [0, 1], as bench/pyramidflow.ts maps them
    return pyramidflow.bench_step(images, spec["numChannel"], spec["numLayer"], spec["numStack"], spec["kernelSize"],
                                  spec["volumeNorm"])


def main():
    torch.set_num_threads(THREADS)
    torch.set_grad_enabled(False)
    cases = {}
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        reply = {"id": req["id"]}
        try:
            cmd = req["cmd"]
            if cmd == "prepare":
                fn = build(req["spec"])
                fn()  # first call: allocator and kernel selection warm-up
                getattr(fn, "reset", lambda: None)()  # a training step undoes its warm-up step
                cases[req["key"]] = fn
            elif cmd == "run":
                fn = cases[req["key"]]
                start = time.perf_counter()
                for _ in range(req["iterations"]):
                    fn()
                reply["ms"] = (time.perf_counter() - start) * 1e3
            elif cmd == "fingerprint":
                outs = cases[req["key"]]()
                reply["fingerprint"] = [
                    sum(o.double().abs().sum().item() for o in outs),
                    sum(o.double().square().sum().item() for o in outs),
                ]
            elif cmd == "onnx":
                reply["outputs"] = export_onnx(req["spec"], req["path"])
            elif cmd == "dispose":
                cases.pop(req["key"], None)
            else:
                raise ValueError(f"unknown command {cmd!r}")
        except Exception as err:  # reported to the harness, which names the case
            reply["error"] = f"{type(err).__name__}: {err}"
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
