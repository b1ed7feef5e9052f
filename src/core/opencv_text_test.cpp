#include "core/opencv_text.h"

#include <gtest/gtest.h>

namespace edgeflow {
namespace {

TEST(CleanOpenCvError, NamesTheOperatorAndTheReason) {
  const std::string nested =
      "OpenCV(4.6.0) ./modules/dnn/src/onnx/onnx_importer.cpp:1040: error: (-2:Unspecified error) in function "
      "'handleNode'\n> Node [Conv@ai.onnx]:(onnx_node_output_0!red) parse error: OpenCV(4.6.0) "
      "./modules/dnn/src/layers/layers_common.cpp:106: error: (-5:Bad argument) kernel_size (or kernel_h and "
      "kernel_w) not specified in function 'getKernelSize'\n";
  EXPECT_EQ(CleanOpenCvError(nested), "operator Conv: kernel_size (or kernel_h and kernel_w) not specified");
  EXPECT_EQ(CleanOpenCvError("OpenCV(4.6.0) /x.cpp:1: error: (-215:Assertion failed) !empty() in function 'f'\n"),
            "!empty()");
  EXPECT_EQ(CleanOpenCvError("plain text\n"), "plain text");
}

}  // namespace
}  // namespace edgeflow
