#pragma once
// The `art` detector: learns the short shapes a series makes and reports a
// shape it has never seen. Readings are downsampled (a step of `learn` / 104
// readings, keeping a spike's extreme rather than averaging it away), placed
// on 80 levels of the range seen while learning, and every downsampled point
// closes a shape of the last 8: its Haar wavelet coefficients and its levels.
// Shapes are clustered on line by fuzzy adaptive resonance (fuzzy ART with a
// lower and an upper vigilance: a shape close enough to a category refines
// it, one close to nothing seen founds a new cluster). A new cluster is an
// anomaly candidate, scored by how far it falls below the vigilance levels;
// the vigilance follows the series (raised while shapes keep resonating,
// lowered after a run of poor matches) and candidates right after another are
// held back unless they are markedly worse.
//
// The first `learn` readings are learned as a batch: they set the range (what
// they cover, with a quarter of it added on either side; a later value beyond
// it widens it, and the categories learned so far are moved to the new
// levels), the starting vigilance (from how alike those shapes are) and the
// first categories; they score 0. A range known in advance (range_lo,
// range_hi: 0-100 % for a utilisation) replaces the learned one.
#include <memory>

#include "ml/detectors.h"

namespace edgeflow::ml {

std::unique_ptr<Detector> MakeArtDetector(const DetectorConfig& c);

}  // namespace edgeflow::ml
