#!/usr/bin/python3
"""Cloud-side trainer: fits an autoencoder to readings exported from an edgeflow
node and writes an ONNX model with its manifest, ready to deploy
(PUT /api/v1/models/{name}, or the cloud command topic).

The autoencoder is linear (principal components, the closed-form optimum for a
linear encoder/decoder under squared error): windows of `--window` readings,
normalised, are encoded to `--components` values and decoded back; the
anomaly score is the reconstruction error. Needs Debian's python3-numpy and
python3-onnx (run with /usr/bin/python3).

  tools/train_autoencoder.py --input export.json --name pump --version 2 --out models/pump/2

--input: the body of GET /api/v1/readings (JSON with "points"), or a CSV whose
last column is the value.
"""
import argparse
import csv
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def load_values(path):
    with open(path) as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        return np.array([p["value"] if "value" in p else p["mean"] for p in doc["points"]], dtype=np.float64)
    rows = list(csv.reader(text.splitlines()))
    values = []
    for row in rows:
        try:
            values.append(float(row[-1]))
        except (ValueError, IndexError):
            continue  # header or blank
    return np.array(values, dtype=np.float64)


def windows(values, size, hop):
    n = (len(values) - size) // hop + 1
    if n < 2 * size:
        sys.exit(f"train_autoencoder: {len(values)} readings give {max(n, 0)} windows of {size}; need at least {2 * size}")
    return np.stack([values[i * hop:i * hop + size] for i in range(n)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--out", required=True, help="folder for model.onnx and manifest.yaml")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--hop", type=int, default=8, help="training windows every HOP readings")
    ap.add_argument("--components", type=int, default=8)
    ap.add_argument("--latency-budget-ms", type=float, default=5.0)
    args = ap.parse_args()

    x = windows(load_values(args.input), args.window, args.hop)
    mean, std = float(x.mean()), float(x.std()) or 1.0
    z = (x - mean) / std
    # Principal directions of the windows (rows of vt), the first k kept.
    _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    w = vt[: args.components].T.astype(np.float32)  # window x k
    center = z.mean(axis=0).astype(np.float32)
    recon = (z - center) @ w @ w.T + center
    mse = ((recon - z) ** 2).mean(axis=1)
    # Score = 1 - exp(-mse / scale): 0.5 at the alert level, twice the 99.5th
    # percentile of the training error.
    alert_mse = float(np.percentile(mse, 99.5)) * 2.0
    scale = alert_mse / math.log(2.0)

    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", args.window])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", args.window])
    inits = [
        numpy_helper.from_array(center, "center"),
        numpy_helper.from_array(w, "encoder"),
        numpy_helper.from_array(np.ascontiguousarray(w.T), "decoder"),
    ]
    nodes = [
        helper.make_node("Sub", ["x", "center"], ["centered"]),
        helper.make_node("MatMul", ["centered", "encoder"], ["code"]),
        helper.make_node("MatMul", ["code", "decoder"], ["decoded"]),
        helper.make_node("Add", ["decoded", "center"], ["y"]),
    ]
    graph = helper.make_graph(nodes, f"{args.name}_autoencoder", [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="edgeflow-trainer")
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(args.out, exist_ok=True)
    onnx.save(model, os.path.join(args.out, "model.onnx"))
    with open(os.path.join(args.out, "manifest.yaml"), "w") as f:
        f.write(
            f"# Trained by tools/train_autoencoder.py on {len(x)} windows of {args.window} readings.\n"
            f"name: {args.name}\nversion: \"{args.version}\"\nformat: onnx\nfile: model.onnx\n"
            f"inputs: {args.window}\noutputs: {args.window}\n"
            f"normalize: {{mean: {mean!r}, std: {std!r}}}\n"
            f"output: reconstruction\nscore_scale: {scale!r}\nthreshold: 0.5\n"
            f"latency_budget_ms: {args.latency_budget_ms}\n"
        )
    print(json.dumps({"windows": len(x), "alert_mse": alert_mse, "train_mse_p50": float(np.median(mse))}))


if __name__ == "__main__":
    main()
