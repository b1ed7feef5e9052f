#include "vision/detector.h"

#include <cctype>
#include <filesystem>

#include "config/diagnostics.h"
#include "core/files.h"

namespace edgeflow::vision {

using config::Diagnostics;
using config::Schema;

namespace {
// The `input:` block of a manifest, on the same struct.
const Schema<DetectorManifest>& InputSchema() {
  static const auto* s = [] {
    auto* s = new Schema<DetectorManifest>("input", "What the network takes.");
    s->Number<int64_t>("width", &DetectorManifest::width, 640, "px", "Input width.", 8, 4096)
        .Number<int64_t>("height", &DetectorManifest::height, 640, "px", "Input height.", 8, 4096)
        .Number<double>("scale", &DetectorManifest::scale, 1.0 / 255, "", "Pixel values are multiplied by this (after subtracting mean).", 1e-6, 1e3)
        .Number<double>("mean", &DetectorManifest::mean, 0, "", "Subtracted from every pixel value first.", -1e3, 1e3)
        .Bool("swap_rb", &DetectorManifest::swap_rb, true, "The network takes RGB (frames are BGR).");
    return s;
  }();
  return *s;
}
}  // namespace

const Schema<DetectorManifest>& DetectorManifestSchema() {
  static const auto* s = [] {
    auto* s = new Schema<DetectorManifest>("detector manifest", "");
    s->String("name", &DetectorManifest::name, "", "Model name.", true)
        .String("version", &DetectorManifest::version, "", "Model version.", true)
        .String("file", &DetectorManifest::file, "model.onnx", "The ONNX file, beside the manifest.")
        .Enum("output", &DetectorManifest::output, DetectorOutput::kYoloV5,
              {{"yolov5", DetectorOutput::kYoloV5}, {"yolov8", DetectorOutput::kYoloV8}}, "Layout of the output tensor.")
        .StringList("classes", &DetectorManifest::classes, "Class names, in the order of the network's class scores.", true)
        .Number<double>("score_threshold", &DetectorManifest::score_threshold, 0.5, "", "Smallest score of a detection.", 0, 1)
        .Number<double>("nms_threshold", &DetectorManifest::nms_threshold, 0.45, "", "Overlap (IoU) above which the weaker box of a class is dropped.", 0, 1)
        .Check([](const DetectorManifest& m, const YAML::Node& n, Diagnostics& d) {
          if (m.classes.empty()) d.Error(n["classes"] ? n["classes"] : n, "classes: at least one class name");
        });
    return s;
  }();
  return *s;
}

Result<DetectorManifest> LoadDetectorManifest(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "manifest.yaml").string();
  auto text = ReadWholeFile(path);
  if (!text.ok()) return Status::NotFound("no manifest.yaml in " + dir);
  Diagnostics d(path);
  YAML::Node root;
  if (!config::LoadYaml(*text, &root, d)) return Status::Invalid(d.Format());
  DetectorManifest m;
  DetectorManifestSchema().Parse(root, m, d, {"input"});
  if (root.IsMap() && root["input"]) {
    if (root["input"].IsMap()) InputSchema().Parse(root["input"], m, d);
    else d.Error(root["input"], "'input' must be a mapping");
  }
  if (!d.ok()) return Status::Invalid(d.Format());
  if (!std::filesystem::exists(std::filesystem::path(dir) / m.file))
    return Status::NotFound("model file " + (std::filesystem::path(dir) / m.file).string() + " not found");
  return m;
}

std::string ClassMetric(const std::string& cls) {
  std::string out = "objects_";
  for (char c : cls) out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  return out;
}

}  // namespace edgeflow::vision
