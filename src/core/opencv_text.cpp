#include "core/opencv_text.h"

#include <algorithm>

namespace edgeflow {

std::string CleanOpenCvError(const std::string& what) {
  std::string reason = what;
  // The innermost "error: (-5:Bad argument) <reason> in function '<f>'".
  const auto e = what.rfind("error: (");
  if (e != std::string::npos) {
    const auto close = what.find(") ", e);
    if (close != std::string::npos) {
      reason = what.substr(close + 2);
      const auto in_function = reason.rfind(" in function");
      if (in_function != std::string::npos) reason.resize(in_function);
    }
  } else if (what.rfind("OpenCV", 0) == 0) {
    const auto pos = what.find(") ");
    if (pos != std::string::npos) reason = what.substr(pos + 2);
  }
  // The operator of a failed node: "Node [Conv@ai.onnx]:(...)".
  const auto node = what.find("Node [");
  if (node != std::string::npos) {
    const auto end = std::min(what.find('@', node), what.find(']', node));
    if (end != std::string::npos && end > node + 6) reason = "operator " + what.substr(node + 6, end - node - 6) + ": " + reason;
  }
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  return reason;
}

}  // namespace edgeflow
