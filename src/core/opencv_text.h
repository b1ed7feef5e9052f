#pragma once
// OpenCV's exception texts carry source locations, nested parse errors and
// function names; users need the operator and the reason. Shared by the ML and
// vision modules (no OpenCV here: it is plain text).
#include <string>

namespace edgeflow {

// "operator Conv: kernel_size (or kernel_h and kernel_w) not specified" from
// the text of a cv::Exception thrown while importing or running a network;
// other texts without their location prefix.
std::string CleanOpenCvError(const std::string& what);

}  // namespace edgeflow
