"""torch.onnx.export with the TorchScript exporter on every PyTorch version the benchmarks meet.

PyTorch 2.9+ exports through torch.export ('dynamo') by default, which writes opset 18 and then fails to convert
to the opset 13 that onnxruntime-web's peers are built for (seen on an H200 machine with torch 2.11: "No Adapter
From Version $14 for Sub"). Debian's torch 1.13 has no `dynamo` argument and only the TorchScript exporter.
"""
import inspect

import torch


def export_onnx(net, example, path, **kwargs):
    """torch.onnx.export(net, example, path, **kwargs), asking for the TorchScript exporter where there is a choice."""
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False
    torch.onnx.export(net, example, path, **kwargs)
