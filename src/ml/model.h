#pragma once
// Models for local inference. A model is a folder with the model file and
// its manifest (manifest.yaml):
//
//   name: pump             # the model's name
//   version: "3"
//   format: onnx           # onnx (OpenCV DNN) or tflite (float32; Arm NN, libedgeflow-tflite.so)
//   file: model.onnx
//   inputs: 64             # input vector length
//   outputs: 64            # output vector length
//   normalize: {mean: 0, std: 1}   # applied to every input value
//   output: reconstruction # reconstruction: score from the error of an
//                          #   autoencoder; score: the first output is the score
//   score_scale: 0.4       # reconstruction: score = 1 - exp(-mse / score_scale)
//   threshold: 0.5         # score at which an alert opens
//   latency_budget_ms: 5   # one batch; exceeded repeatedly -> rollback
//
// The manifest is validated when loaded (every error with its line), and the
// model is run once on a zero input of the declared shape before it is used,
// so a wrong shape or an unsupported operator is reported at load.
//
// The inference engine (OpenCV DNN) is in the module libedgeflow-ml.so,
// loaded only when a configuration or a deployment uses a model.
#include <memory>
#include <string>
#include <vector>

#include "config/schema.h"
#include "core/status.h"

namespace edgeflow::ml {

struct Normalize {
  double mean = 0, std = 1;
};
struct ModelManifest {
  std::string name;
  std::string version;
  std::string format = "onnx";
  std::string file = "model.onnx";
  int64_t inputs = 0;
  int64_t outputs = 0;
  Normalize normalize;
  bool reconstruction = true;  // output: reconstruction | score
  double score_scale = 1;
  double threshold = 0.5;
  double latency_budget_ms = 5;
};
const config::Schema<ModelManifest>& ManifestSchema();
// Parses and validates `text` (YAML); `where` names it in the errors.
Result<ModelManifest> ParseManifest(const std::string& text, const std::string& where);

class Model {
 public:
  virtual ~Model() = default;
  // `batch` input vectors (already normalised), row after row; fills `out`
  // with batch x outputs values.
  virtual Status Run(const std::vector<float>& in, size_t batch, std::vector<float>& out) = 0;
};

// Loads `dir`/manifest.yaml and the model it names, through the ML module,
// and checks the model against the manifest by running it once.
struct LoadedModel {
  ModelManifest manifest;
  std::string dir;
  std::unique_ptr<Model> model;
};
Result<std::shared_ptr<LoadedModel>> LoadModelDir(const std::string& dir);

// The module's entry point (C linkage): loads `path` per `manifest`.
inline constexpr const char* kMlModuleFile = "libedgeflow-ml.so";
inline constexpr const char* kMlModuleLoadSymbol = "edgeflow_ml_load";
struct MlLoadArgs {
  const ModelManifest* manifest;
  const std::string* path;
  Result<std::unique_ptr<Model>>* out;
};
using MlLoadFn = void (*)(const MlLoadArgs*);
// The same entry point for .tflite models, in their own module (Arm NN).
inline constexpr const char* kTfLiteModuleFile = "libedgeflow-tflite.so";
inline constexpr const char* kTfLiteModuleLoadSymbol = "edgeflow_tflite_load";

// Scores for `batch` windows of raw values (normalises, runs, converts the
// outputs to scores in [0, 1]). NaN or infinite outputs are an error.
Status ScoreWindows(LoadedModel& m, const std::vector<double>& raw, size_t batch, std::vector<float>& scratch_in,
                    std::vector<float>& scratch_out, std::vector<double>& scores);

}  // namespace edgeflow::ml
