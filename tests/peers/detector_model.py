#!/usr/bin/python3
"""A small ONNX object detector for the camera tests (Debian's python3-onnx):
it finds red areas on a 256x192 RGB input, on a grid of 32-pixel cells, and
reports each cell twice (the second copy with 0.9 of the score), so that only
non-maximum suppression leaves one box per object. Written with its manifest.

  detector_model.py DIR yolov5|yolov8 [CLASSES]

yolov5: output [1, 96, 6] rows cx, cy, w, h, objectness, class score.
yolov8: output [1, 5, 96] columns cx, cy, w, h, class score.
CLASSES (default 1) only changes the manifest, to test a mismatch.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

W, H, CELL = 256, 192, 32


def main():
    out, layout = sys.argv[1], sys.argv[2]
    classes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rows, cols = H // CELL, W // CELL
    n = rows * cols
    boxes = np.zeros((1, n, 4), dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            boxes[0, r * cols + c] = [c * CELL + CELL / 2, r * CELL + CELL / 2, CELL, CELL]
    inits = [
        numpy_helper.from_array(np.array([1.0, -0.5, -0.5], dtype=np.float32).reshape(1, 3, 1, 1), "w"),
        numpy_helper.from_array(np.array([-0.3], dtype=np.float32), "b"),
        numpy_helper.from_array(np.array([10.0], dtype=np.float32), "gain"),
        numpy_helper.from_array(np.array([0.9], dtype=np.float32), "second"),
        numpy_helper.from_array(np.array([1, n, 1], dtype=np.int64), "shape"),
        # Each constant is used once: OpenCV's importer refuses a constant shared by two nodes.
        numpy_helper.from_array(boxes, "boxes"),
        numpy_helper.from_array(boxes.copy(), "boxes2"),
        numpy_helper.from_array(np.ones((1, n, 1), dtype=np.float32), "cls"),
        numpy_helper.from_array(np.ones((1, n, 1), dtype=np.float32), "cls2"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w", "b"], ["red"], kernel_shape=[1, 1]),
        helper.make_node("MaxPool", ["red"], ["cells"], kernel_shape=[CELL, CELL], strides=[CELL, CELL]),
        helper.make_node("Mul", ["cells", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p4"]),
        helper.make_node("Reshape", ["p4", "shape"], ["p"]),
        helper.make_node("Mul", ["p", "second"], ["p2"]),
    ]
    if layout == "yolov5":
        nodes += [
            helper.make_node("Concat", ["boxes", "p", "cls"], ["a"], axis=2),
            helper.make_node("Concat", ["boxes2", "p2", "cls2"], ["b2"], axis=2),
            helper.make_node("Concat", ["a", "b2"], ["output"], axis=1),
        ]
        shape = [1, 2 * n, 6]
    elif layout == "yolov8":
        nodes += [
            helper.make_node("Concat", ["boxes", "p"], ["a"], axis=2),
            helper.make_node("Concat", ["boxes2", "p2"], ["b2"], axis=2),
            helper.make_node("Concat", ["a", "b2"], ["rows"], axis=1),
            helper.make_node("Transpose", ["rows"], ["output"], perm=[0, 2, 1]),
        ]
        shape = [1, 5, 2 * n]
    else:
        sys.exit("unknown layout " + layout)
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, H, W])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)
    model = helper.make_model(helper.make_graph(nodes, "red-cells", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, "model.onnx"))
    names = ["red"] + ["extra%d" % i for i in range(1, classes)]
    with open(os.path.join(out, "manifest.yaml"), "w") as f:
        f.write("name: red-cells\nversion: \"1\"\nfile: model.onnx\n"
                "input: {width: %d, height: %d, scale: 0.0039215686, mean: 0, swap_rb: true}\n"
                "output: %s\nclasses: [%s]\nscore_threshold: 0.5\nnms_threshold: 0.45\n"
                % (W, H, layout, ", ".join(names)))


if __name__ == "__main__":
    main()
