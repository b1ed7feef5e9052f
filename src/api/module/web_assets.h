#pragma once
// The dashboard's files (web/src and the front-end libraries from npm),
// embedded in the API module at build time: the node serves them itself, with
// no network and no files to install beside it.
#include <cstddef>
#include <string_view>

namespace edgeflow {

struct WebAsset {
  std::string_view name;  // path under /ui/
  const char* content_type;  // all are UTF-8 text
  const unsigned char* data;
  size_t size;
};
// nullptr when there is no such file.
const WebAsset* FindWebAsset(std::string_view name);

}  // namespace edgeflow
