#pragma once
// The `sensors` / `metrics` options that choose which series a component
// applies to, declared once for every component that has them.
#include "config/schema.h"

namespace edgeflow {

template <class T>
config::Schema<T>& WithSelectorOptions(config::Schema<T>& s) {
  return s.StringList("sensors", &T::sensors, "Sensor globs (`*`, `?`) this applies to; empty matches all.")
      .StringList("metrics", &T::metrics, "Metric globs this applies to; empty matches all.");
}

}  // namespace edgeflow
