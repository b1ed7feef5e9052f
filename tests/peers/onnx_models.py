#!/usr/bin/python3
"""Bad models for the model tests (Debian's python3-onnx): writes model.onnx
into DIR for an input/output length N.

  onnx_models.py nan DIR N          every output is NaN (0/0)
  onnx_models.py unsupported DIR N  uses an operator OpenCV's DNN engine lacks (Det)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    kind, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])
    if kind == "nan":
        nodes = [helper.make_node("Sub", ["x", "x"], ["zero"]), helper.make_node("Div", ["zero", "zero"], ["y"])]
        inits = []
    elif kind == "unsupported":
        nodes = [
            helper.make_node("Reshape", ["x", "shape"], ["square"]),
            helper.make_node("Det", ["square"], ["det"]),
            helper.make_node("Add", ["x", "det1"], ["y"]),
        ]
        inits = [numpy_helper.from_array(np.array([-1, 1, 1], dtype=np.int64), "shape"),
                 numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "det1")]
    else:
        sys.exit("unknown kind " + kind)
    graph = helper.make_graph(nodes, kind, [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, "model.onnx"))


if __name__ == "__main__":
    main()
