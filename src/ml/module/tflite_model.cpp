// The TFLite module, libedgeflow-tflite.so: float32 .tflite models through
// Arm NN's TfLiteParser, on its NEON backend where Debian ships one (arm64)
// and its reference CPU backend otherwise. Loaded only for a model whose
// manifest says `format: tflite`.
#include <armnn/ArmNN.hpp>
#include <armnnTfLiteParser/ITfLiteParser.hpp>

#include <mutex>

#include "edgeflow/version.h"
#include "ml/model.h"

namespace edgeflow::ml {
namespace {

// "Operator not supported. ... opcode:B / SIN  at function ParseUnsupportedOperator [file:line]"
// -> "Operator not supported ... SIN"; locations are for Arm NN's developers.
std::string CleanArmNnError(std::string what) {
  const auto at = what.find(" at function ");
  if (at != std::string::npos) what.resize(at);
  while (!what.empty() && (what.back() == ' ' || what.back() == '\n')) what.pop_back();
  return what;
}

armnn::IRuntime& Runtime() {
  static armnn::IRuntimePtr* rt = [] {
    armnn::IRuntime::CreationOptions opts;
    return new armnn::IRuntimePtr(armnn::IRuntime::Create(opts));
  }();
  return **rt;
}

class TfLiteModel final : public Model {
 public:
  TfLiteModel(armnn::NetworkId id, armnn::BindingPointInfo in, armnn::BindingPointInfo out)
      : id_(id), in_(std::move(in)), out_(std::move(out)) {}
  ~TfLiteModel() override { Runtime().UnloadNetwork(id_); }

  // The network takes one vector ([1, inputs]); a batch runs row by row.
  Status Run(const std::vector<float>& in, size_t batch, std::vector<float>& out) override {
    const size_t n_in = in_.second.GetNumElements(), n_out = out_.second.GetNumElements();
    if (in.size() != batch * n_in) return Status::Invalid("input of " + std::to_string(in.size()) + " values for a batch of " + std::to_string(batch));
    out.resize(batch * n_out);
    std::lock_guard lock(mu_);
    try {
      for (size_t b = 0; b < batch; ++b) {
        armnn::InputTensors it{{in_.first, armnn::ConstTensor(in_.second, in.data() + b * n_in)}};
        armnn::OutputTensors ot{{out_.first, armnn::Tensor(out_.second, out.data() + b * n_out)}};
        if (Runtime().EnqueueWorkload(id_, it, ot) != armnn::Status::Success) return Status::Invalid("Arm NN could not run the network");
      }
    } catch (const armnn::Exception& e) {
      return Status::Invalid(CleanArmNnError(e.what()));
    }
    return Status::Ok();
  }

 private:
  armnn::NetworkId id_;
  armnn::BindingPointInfo in_, out_;
  std::mutex mu_;
};

Result<std::unique_ptr<Model>> Load(const ModelManifest& m, const std::string& path) {
  auto parser = armnnTfLiteParser::ITfLiteParser::Create();
  armnn::INetworkPtr net = parser->CreateNetworkFromBinaryFile(path.c_str());
  if (parser->GetSubgraphCount() != 1) return Status::Invalid("the model has " + std::to_string(parser->GetSubgraphCount()) + " subgraphs (1 is supported)");
  const auto ins = parser->GetSubgraphInputTensorNames(0), outs = parser->GetSubgraphOutputTensorNames(0);
  if (ins.size() != 1 || outs.size() != 1) return Status::Invalid("the model has " + std::to_string(ins.size()) + " inputs and " + std::to_string(outs.size()) + " outputs (1 and 1 are supported)");
  auto in = parser->GetNetworkInputBindingInfo(0, ins[0]);
  auto out = parser->GetNetworkOutputBindingInfo(0, outs[0]);
  if (in.second.GetDataType() != armnn::DataType::Float32 || out.second.GetDataType() != armnn::DataType::Float32)
    return Status::Invalid("only float32 models are supported (this one is quantised)");
  if (static_cast<int64_t>(in.second.GetNumElements()) != m.inputs)
    return Status::Invalid("the model takes " + std::to_string(in.second.GetNumElements()) + " values, the manifest declares " + std::to_string(m.inputs) + " inputs");
  // The NEON backend where Arm NN has one (arm64: libarmnn-cpuacc-backend22), else the reference one.
  std::vector<armnn::BackendId> backends;
  const auto& available = Runtime().GetDeviceSpec().GetSupportedBackends();
  if (available.count(armnn::Compute::CpuAcc)) backends.emplace_back(armnn::Compute::CpuAcc);
  backends.emplace_back(armnn::Compute::CpuRef);
  auto optimized = armnn::Optimize(*net, backends, Runtime().GetDeviceSpec());
  if (!optimized) return Status::Invalid("Arm NN could not optimise the network for its CPU backends");
  armnn::NetworkId id;
  std::string err;
  armnn::INetworkProperties props;
  if (Runtime().LoadNetwork(id, std::move(optimized), err, props) != armnn::Status::Success)
    return Status::Invalid("Arm NN could not load the network: " + err);
  return std::unique_ptr<Model>(new TfLiteModel(id, in, out));
}

}  // namespace
}  // namespace edgeflow::ml

extern "C" {
__attribute__((visibility("default"))) const char* edgeflow_module_version() { return edgeflow::kVersion; }
__attribute__((visibility("default"))) void edgeflow_tflite_load(const edgeflow::ml::MlLoadArgs* a) {
  using namespace edgeflow;
  static std::mutex mu;  // the parser and the runtime's loading are not documented thread-safe
  std::lock_guard lock(mu);
  try {
    *a->out = ml::Load(*a->manifest, *a->path);
  } catch (const armnn::Exception& e) {
    *a->out = Status::Invalid("cannot load " + *a->path + ": " + ml::CleanArmNnError(e.what()));
  } catch (const std::exception& e) {
    *a->out = Status::Invalid("cannot load " + *a->path + ": " + e.what());
  }
}
}
