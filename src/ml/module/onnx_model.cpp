// The ML module, libedgeflow-ml.so: ONNX models through OpenCV's DNN engine.
// Loaded on demand (core/module.h) so that nodes without models do not map
// OpenCV at all.
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include "core/opencv_text.h"
#include "edgeflow/version.h"
#include "ml/model.h"

namespace edgeflow::ml {
namespace {

class OnnxModel final : public Model {
 public:
  OnnxModel(cv::dnn::Net net, int inputs) : net_(std::move(net)), inputs_(inputs) {}
  Status Run(const std::vector<float>& in, size_t batch, std::vector<float>& out) override {
    try {
      cv::Mat blob(static_cast<int>(batch), inputs_, CV_32F, const_cast<float*>(in.data()));
      net_.setInput(blob);
      cv::Mat res = net_.forward();
      if (!res.isContinuous()) res = res.clone();
      const float* p = res.ptr<float>();
      out.assign(p, p + res.total());
      return Status::Ok();
    } catch (const cv::Exception& e) {
      return Status::Invalid(Clean(e.what()));
    }
  }
  static std::string Clean(const std::string& what) { return CleanOpenCvError(what); }

 private:
  cv::dnn::Net net_;
  int inputs_;
};

}  // namespace
}  // namespace edgeflow::ml

extern "C" {
__attribute__((visibility("default"))) const char* edgeflow_module_version() { return edgeflow::kVersion; }
__attribute__((visibility("default"))) void edgeflow_ml_load(const edgeflow::ml::MlLoadArgs* a) {
  using namespace edgeflow;
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
  try {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(*a->path);
    if (net.empty()) {
      *a->out = Status::Invalid("OpenCV DNN read no network from " + *a->path);
      return;
    }
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    *a->out = std::unique_ptr<ml::Model>(new ml::OnnxModel(std::move(net), static_cast<int>(a->manifest->inputs)));
  } catch (const cv::Exception& e) {
    *a->out = Status::Invalid("cannot load " + *a->path + ": " + ml::OnnxModel::Clean(e.what()));
  }
}
}
