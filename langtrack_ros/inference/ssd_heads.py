"""Cut an SSD's class heads down to the classes a query needs.

The COCO SSD computes 91 class logits for each of its 1917 anchors; a query reads one or two of
them (``bird``; ``person`` and ``bicycle`` for a relation). Its class-prediction convolutions are
half of its run time (int8, one thread: 15.0 ms a frame with all 91 classes, 7.4 ms with two;
docs/PRIORS.md "Class heads"), so the prior nets run on a copy of the graph whose
class convolutions keep only the output channels of the wanted classes. Each kept channel is
computed exactly as before (per-channel weights and biases are sliced, the activation
quantisation is per tensor), so the kept logits are bit-for-bit those of the full model.

The graph pattern is the TensorFlow Object Detection API's SSD box predictor, as converted to
ONNX (float or QDQ int8): class logits = Concat over layers of Reshape([1, -1, C]) of a Conv whose
output channel ``a * C + c`` is anchor ``a``'s logit of class ``c``, with shape-only nodes
(Transpose, Reshape, QuantizeLinear/DequantizeLinear) between. Anything else raises
``ValueError``; the caller then keeps the full model.
"""
from __future__ import annotations

import numpy as np


def class_subset(model, keep: list[int], logits_output: int = 1):
    """``model`` (an ``onnx.ModelProto``, changed in place and returned) with output
    ``logits_output`` of shape (1, N, len(keep)): the logits of classes ``keep``, in that order."""
    from onnx import numpy_helper

    graph = model.graph
    init = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    dims = graph.output[logits_output].type.tensor_type.shape.dim
    classes = dims[-1].dim_value
    if not keep or classes <= 0 or min(keep) < 0 or max(keep) >= classes:
        raise ValueError(f"classes {keep} are not a subset of the model's {classes}")
    convs, reshapes = _heads(graph.output[logits_output].name, producer)
    if not convs:
        raise ValueError("no class-prediction convolution behind the logits output")
    renamed: dict[str, str] = {}
    for node in reshapes:  # shape constants may be shared between layers: one new constant per old one
        old = node.input[1]
        if old not in renamed:
            if old not in init:
                raise ValueError(f"reshape {node.name}: its shape is computed, not a constant")
            shape = numpy_helper.to_array(init[old]).astype(np.int64).copy()
            if shape[-1] != classes:
                raise ValueError(f"reshape {node.name} to {shape.tolist()} does not end in {classes} classes")
            shape[-1] = len(keep)
            renamed[old] = f"{old}__classes{len(keep)}"
            graph.initializer.append(numpy_helper.from_array(shape, renamed[old]))
        node.input[1] = renamed[old]
    for node in convs:
        _slice_conv(node, keep, classes, init, producer)
    del graph.value_info[:]  # stale shapes on the cut path; onnxruntime infers them again
    dims[-1].dim_value = len(keep)
    return model


def _heads(output: str, producer: dict) -> tuple[list, list]:
    """The Conv nodes feeding ``output`` through shape-only nodes, and the Reshapes on the way."""
    passthrough = {"Transpose", "Reshape", "QuantizeLinear", "DequantizeLinear", "Identity", "Concat"}
    convs, reshapes, stack, seen = [], [], [output], set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.output[0] in seen:  # node names may be empty: outputs are unique
            continue
        seen.add(node.output[0])
        if node.op_type == "Conv":
            convs.append(node)
        elif node.op_type in passthrough:
            reshapes += [node] if node.op_type == "Reshape" else []
            stack += list(node.input) if node.op_type == "Concat" else [node.input[0]]
        else:
            raise ValueError(f"unexpected {node.op_type} node {node.name!r} between a class head and its output")
    return convs, reshapes


def _slice_conv(node, keep: list[int], classes: int, init: dict, producer: dict) -> None:
    """Keep output channels ``a * classes + c`` (c in ``keep``) of a Conv's weight and bias, whether
    they are initializers, int8 ones behind a DequantizeLinear (with per-channel scales) or float16
    ones behind a Cast."""
    from onnx import numpy_helper

    for tensor in node.input[1:3]:
        source = producer.get(tensor)
        names = [tensor] if tensor in init else \
            list(source.input) if source is not None and source.op_type in ("DequantizeLinear", "Cast") else []
        sliced = 0
        for name in names:
            if name not in init:
                continue
            values = numpy_helper.to_array(init[name])
            if values.ndim == 0 or values.shape[0] % classes or values.size == 1:
                continue  # a per-tensor scale or zero point: shared by every channel
            anchors = values.shape[0] // classes
            rows = (np.arange(anchors)[:, None] * classes + np.asarray(keep)[None, :]).ravel()
            init[name].CopyFrom(numpy_helper.from_array(values[rows], name))
            sliced += 1
        if not sliced:
            raise ValueError(f"conv {node.name!r}: input {tensor!r} is not a per-channel initializer")
