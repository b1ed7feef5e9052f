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

With --features m1,m2,... the model takes one vector per timestamp instead of a
window of one series: the listed metrics of one sensor at the same time (e.g.
the `features` stage's rms, kurtosis and band energies), each normalised by its
own mean and deviation inside the model; the model then outputs the anomaly
score itself (manifest `output: score`).
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


def load_vectors(path, features):
    with open(path) as f:
        doc = json.load(f)
    by_ts = {}
    for p in doc["points"]:
        if p.get("metric") in features:
            by_ts.setdefault(p["ts"], {})[p["metric"]] = p["value"] if "value" in p else p["mean"]
    rows = [[v[m] for m in features] for _, v in sorted(by_ts.items()) if len(v) == len(features)]
    if len(rows) < 4 * len(features):
        sys.exit(f"train_autoencoder: {len(rows)} complete feature vectors; need at least {4 * len(features)}")
    return np.array(rows, dtype=np.float64)


def fit(z, components):
    """Principal directions of the normalised rows z: centre, encoder (n x k), training errors, and the
    score scale: score = 1 - exp(-mse / scale) is 0.5 at twice the 99.5th percentile of the training error."""
    center = z.mean(axis=0)
    _, _, vt = np.linalg.svd(z - center, full_matrices=False)
    w = vt[:components].T
    recon = (z - center) @ w @ w.T + center
    mse = ((recon - z) ** 2).mean(axis=1)
    alert_mse = float(np.percentile(mse, 99.5)) * 2.0
    return center, w, mse, alert_mse, alert_mse / math.log(2.0)


def save(graph, out_dir, manifest):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="edgeflow-trainer")
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(out_dir, exist_ok=True)
    onnx.save(model, os.path.join(out_dir, "model.onnx"))
    with open(os.path.join(out_dir, "manifest.yaml"), "w") as f:
        f.write(manifest)


def score_model(x, components, name):
    """Per-feature normalisation, a linear autoencoder, and the score 1 - exp(-mse/scale) in one graph."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    center, w, mse, alert_mse, scale = fit((x - mu) / sd, components)
    n = x.shape[1]
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    inits = [
        numpy_helper.from_array(f32(mu), "mu"), numpy_helper.from_array(f32(sd), "sd"),
        numpy_helper.from_array(f32(center), "center"), numpy_helper.from_array(f32(w), "encoder"),
        numpy_helper.from_array(f32(np.ascontiguousarray(w.T)), "decoder"),
        numpy_helper.from_array(f32([-1.0 / scale]), "neg_inv_scale"), numpy_helper.from_array(f32([1.0]), "one"),
    ]
    nodes = [
        helper.make_node("Sub", ["x", "mu"], ["xc"]),
        helper.make_node("Div", ["xc", "sd"], ["z"]),
        helper.make_node("Sub", ["z", "center"], ["zc"]),
        helper.make_node("MatMul", ["zc", "encoder"], ["code"]),
        helper.make_node("MatMul", ["code", "decoder"], ["back"]),
        helper.make_node("Sub", ["back", "zc"], ["err"]),
        helper.make_node("Mul", ["err", "err"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["mse"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mse", "neg_inv_scale"], ["e"]),
        helper.make_node("Exp", ["e"], ["keep"]),
        helper.make_node("Sub", ["one", "keep"], ["y"]),
    ]
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])
    graph = helper.make_graph(nodes, f"{name}_scorer", [inp], [out], inits)
    return graph, alert_mse, mse


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
    ap.add_argument("--features", help="comma-separated metrics: one vector per timestamp (see above)")
    args = ap.parse_args()

    if args.features:
        features = args.features.split(",")
        x = load_vectors(args.input, features)
        graph, alert_mse, mse = score_model(x, min(args.components, len(features) - 1), args.name)
        save(graph, args.out,
             f"# Trained by tools/train_autoencoder.py on {len(x)} vectors of {', '.join(features)}.\n"
             f"name: {args.name}\nversion: \"{args.version}\"\nformat: onnx\nfile: model.onnx\n"
             f"inputs: {len(features)}\noutputs: 1\noutput: score\nthreshold: 0.5\n"
             f"latency_budget_ms: {args.latency_budget_ms}\n")
        print(json.dumps({"vectors": len(x), "alert_mse": alert_mse, "train_mse_p50": float(np.median(mse))}))
        return

    x = windows(load_values(args.input), args.window, args.hop)
    mean, std = float(x.mean()), float(x.std()) or 1.0
    center, w, mse, alert_mse, scale = fit((x - mean) / std, args.components)
    center, w = center.astype(np.float32), w.astype(np.float32)

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
    save(graph, args.out,
         f"# Trained by tools/train_autoencoder.py on {len(x)} windows of {args.window} readings.\n"
         f"name: {args.name}\nversion: \"{args.version}\"\nformat: onnx\nfile: model.onnx\n"
         f"inputs: {args.window}\noutputs: {args.window}\n"
         f"normalize: {{mean: {mean!r}, std: {std!r}}}\n"
         f"output: reconstruction\nscore_scale: {scale!r}\nthreshold: 0.5\n"
         f"latency_budget_ms: {args.latency_budget_ms}\n")
    print(json.dumps({"windows": len(x), "alert_mse": alert_mse, "train_mse_p50": float(np.median(mse))}))


if __name__ == "__main__":
    main()
