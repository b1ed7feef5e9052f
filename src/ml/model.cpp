#include "ml/model.h"

#include "edgeflow/features.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "core/files.h"
#include "core/module.h"

namespace edgeflow::ml {

using config::Diagnostics;
using config::Schema;

namespace {

const Schema<Normalize>& NormalizeSchema() {
  static const auto* s = [] {
    auto* s = new Schema<Normalize>("normalize", "");
    s->Number<double>("mean", &Normalize::mean, 0, "", "Subtracted from every input value.")
        .Number<double>("std", &Normalize::std, 1, "", "Then divided by this.")
        .Check([](const Normalize& n, const YAML::Node& at, Diagnostics& d) {
          if (!(n.std > 0)) d.Error(at["std"], "normalize.std must be positive");
        });
    return s;
  }();
  return *s;
}

}  // namespace

const Schema<ModelManifest>& ManifestSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModelManifest>("manifest", "");
    s->String("name", &ModelManifest::name, "", "The model's name.", true)
        .String("version", &ModelManifest::version, "", "Its version.", true)
        .String("format", &ModelManifest::format, "onnx", "onnx (OpenCV DNN) or tflite (float32, Arm NN's TfLiteParser).")
        .String("file", &ModelManifest::file, "model.onnx", "The model file, beside the manifest.")
        .Number<int64_t>("inputs", &ModelManifest::inputs, 0, "", "Input vector length.", 1, 1 << 20)
        .Number<int64_t>("outputs", &ModelManifest::outputs, 0, "", "Output vector length.", 1, 1 << 20)
        .Object("normalize", &ModelManifest::normalize, NormalizeSchema(), "Applied to every input value.")
        .Enum<bool>("output", &ModelManifest::reconstruction, true, {{"reconstruction", true}, {"score", false}},
                    "reconstruction: the score comes from the reconstruction error; score: the first output.")
        .Number<double>("score_scale", &ModelManifest::score_scale, 1, "",
                        "reconstruction: score = 1 - exp(-mse / score_scale).", 1e-30, 1e30)
        .Number<double>("threshold", &ModelManifest::threshold, 0.5, "", "Score that opens an alert.", 0, 1)
        .Number<double>("latency_budget_ms", &ModelManifest::latency_budget_ms, 5, "ms",
                        "One batch; exceeded repeatedly, a new model is rolled back.", 0.001, 60000)
        .Check([](const ModelManifest& m, const YAML::Node& n, Diagnostics& d) {
          if (m.format == "tflite" && !EDGEFLOW_WITH_TFLITE)
            d.Error(n["format"], "tflite models need Arm NN's TfLiteParser, which this build does not include "
                                 "(built with EDGEFLOW_WITH_TFLITE=OFF); convert the model to ONNX");
          else if (m.format != "onnx" && m.format != "tflite")
            d.Error(n["format"], "unknown model format '" + m.format + "' (onnx, tflite)");
          if (m.inputs == 0) d.Error(n, "manifest: missing required key 'inputs'");
          if (m.outputs == 0) d.Error(n, "manifest: missing required key 'outputs'");
          if (m.reconstruction && m.inputs != m.outputs)
            d.Error(n["outputs"], "a reconstruction model has as many outputs as inputs");
          if (m.file.find('/') != std::string::npos || m.file.empty() || m.file[0] == '.')
            d.Error(n["file"], "the model file is a plain name beside the manifest");
        });
    return s;
  }();
  return *s;
}

Result<ModelManifest> ParseManifest(const std::string& text, const std::string& where) {
  Diagnostics d(where);
  YAML::Node root;
  if (!config::LoadUntrustedYaml(text, &root, d)) return Status::Invalid(d.Format());
  ModelManifest m;
  ManifestSchema().Parse(root, m, d);
  if (!d.ok()) return Status::Invalid(d.Format());
  return m;
}

Result<std::shared_ptr<LoadedModel>> LoadModelDir(const std::string& dir) {
  const auto manifest_path = std::filesystem::path(dir) / "manifest.yaml";
  auto text = ReadWholeFile(manifest_path.string());
  if (!text.ok()) return Status::NotFound("no manifest.yaml in " + dir);
  auto m = ParseManifest(*text, manifest_path.string());
  if (!m.ok()) return m.status();
  const std::string path = (std::filesystem::path(dir) / m->file).string();
  if (!std::filesystem::exists(path)) return Status::NotFound("model file " + path + " not found");
  const bool tflite = m->format == "tflite";
  const char* file = tflite ? kTfLiteModuleFile : kMlModuleFile;
  auto module = LoadModule(file, tflite ? "a tflite model" : "a model");
  if (!module.ok()) return module.status();
  auto load = reinterpret_cast<MlLoadFn>(ModuleSymbol(*module, tflite ? kTfLiteModuleLoadSymbol : kMlModuleLoadSymbol));
  if (!load) return Status::Unavailable(std::string(file) + " is not an ML module");
  Result<std::unique_ptr<Model>> model = Status::Internal("ML module returned nothing");
  const MlLoadArgs args{&m.value(), &path, &model};
  load(&args);
  if (!model.ok()) return Status::Invalid(m->name + " " + m->version + ": " + model.status().message());
  auto out = std::make_shared<LoadedModel>();
  out->manifest = *m;
  out->dir = dir;
  out->model = std::move(model).value();
  // One run on a zero input of the declared shape: the model must accept it
  // and give the declared number of outputs.
  std::vector<float> in(static_cast<size_t>(out->manifest.inputs), 0.0f), res;
  Status st = out->model->Run(in, 1, res);
  if (!st.ok()) return Status::Invalid(m->name + " " + m->version + ": " + st.message());
  if (res.size() != static_cast<size_t>(out->manifest.outputs))
    return Status::Invalid(m->name + " " + m->version + ": the model gives " + std::to_string(res.size()) +
                           " outputs, the manifest declares " + std::to_string(out->manifest.outputs));
  return out;
}

Status ScoreWindows(LoadedModel& m, const std::vector<double>& raw, size_t batch, std::vector<float>& in,
                    std::vector<float>& out, std::vector<double>& scores) {
  const auto& mf = m.manifest;
  const size_t n = static_cast<size_t>(mf.inputs), k = static_cast<size_t>(mf.outputs);
  in.resize(batch * n);
  for (size_t i = 0; i < batch * n; ++i)
    in[i] = static_cast<float>((raw[i] - mf.normalize.mean) / mf.normalize.std);
  EF_RETURN_IF_ERROR(m.model->Run(in, batch, out));
  if (out.size() != batch * k) return Status::Internal("the model gave " + std::to_string(out.size()) + " outputs");
  scores.resize(batch);
  for (size_t b = 0; b < batch; ++b) {
    double s;
    if (mf.reconstruction) {
      double mse = 0;
      for (size_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(out[b * k + j]) - static_cast<double>(in[b * n + j]);
        mse += d * d;
      }
      mse /= static_cast<double>(n);
      s = 1.0 - std::exp(-mse / mf.score_scale);
    } else {
      s = out[b * k];
    }
    if (!std::isfinite(s) || s < 0 || s > 1)
      return Status::Invalid("model " + mf.name + " " + mf.version + " gave an invalid score " + std::to_string(s));
    scores[b] = s;
  }
  return Status::Ok();
}

}  // namespace edgeflow::ml
