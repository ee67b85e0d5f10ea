// The model ganglion cells of `simulate retina`: causal responses, ON cells
// excited and OFF cells suppressed by a bright flash at their centre,
// transient cells adapting to a step and sustained ones holding, colour
// opponency, and mosaics that tile the field.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "data/retina_cells.h"
#include "data/retina_movies.h"

namespace {

using fovea::data::RetinaCell;
using fovea::data::RetinaPopulation;

constexpr int64_t kColors = 2, kHeight = 18, kWidth = 16, kFilter = 30;

// Every cell of one small mosaic, calibrated on 600 frames of noise.
RetinaPopulation calibrated_population(uint64_t seed) {
  std::vector<RetinaCell> mosaic = fovea::data::sample_retina_mosaics(kColors, kHeight, kWidth, 1, seed);
  RetinaPopulation p = fovea::data::make_population(mosaic, kColors, kHeight, kWidth, kFilter);
  at::Tensor noise = fovea::data::correlated_noise_movie(kColors, 600, kHeight, kWidth, seed, 0);
  fovea::data::calibrate_population(p, noise, 1.0);
  return p;
}

// Grey (0), then frames [onset, onset + duration) set to `level` in `channels`
// inside a disc of `radius` pixels around (x, y).
at::Tensor flash_movie(double x, double y, double radius, int64_t onset, int64_t duration, int64_t frames,
                       double level, const std::vector<int64_t>& channels) {
  at::Tensor m = at::zeros({kColors, frames, kHeight, kWidth}, at::kFloat);
  auto a = m.accessor<float, 4>();
  for (int64_t c : channels)
    for (int64_t t = onset; t < std::min(frames, onset + duration); ++t)
      for (int64_t r = 0; r < kHeight; ++r)
        for (int64_t col = 0; col < kWidth; ++col)
          if (std::hypot(r - y, col - x) <= radius) a[c][t][r][col] = static_cast<float>(level);
  return m;
}

// A population of just cell k of p (same parameters and calibration).
RetinaPopulation only(const RetinaPopulation& p, size_t k) {
  RetinaPopulation one = fovea::data::make_population({p.cells[k]}, p.colors, p.height, p.width, kFilter);
  return one;
}

TEST(RetinaCells, ResponsesAreCausal) {
  RetinaPopulation p = calibrated_population(3);
  at::Tensor movie = fovea::data::correlated_noise_movie(kColors, 120, kHeight, kWidth, 4, 1);
  const at::Tensor before = fovea::data::noise_free_responses(p, movie);
  for (int64_t t0 : {0, 37, 90, 119}) {
    at::Tensor changed = movie.clone();
    changed.select(1, t0).add_(3.0);  // a bright frame at t0
    const at::Tensor after = fovea::data::noise_free_responses(p, changed);
    ASSERT_EQ(after.sizes(), before.sizes());
    // Nothing before t0 moves, not even in the last bit.
    EXPECT_TRUE(after.slice(1, 0, t0).equal(before.slice(1, 0, t0))) << "frame " << t0 << " changed the past";
    // ...and the change is seen afterwards (the filters peak 4-5 frames back).
    if (t0 + 8 <= 120) {
      const double effect = (after.slice(1, t0, t0 + 8) - before.slice(1, t0, t0 + 8)).abs().max().item<double>();
      EXPECT_GT(effect, 1e-3) << "frame " << t0 << " had no effect";
    }
  }
}

TEST(RetinaCells, OnCellsRespondMoreToABrightCentreFlashThanOffCells) {
  RetinaPopulation p = calibrated_population(5);
  const int64_t onset = 35, frames = 50;
  std::vector<double> on_changes, off_changes;
  for (size_t k = 0; k < p.cells.size(); ++k) {
    const RetinaCell& c = p.cells[k];
    const auto& type = p.types[c.type];
    if (type.colour_opponent) continue;
    RetinaPopulation one = only(p, k);
    at::Tensor movie = flash_movie(c.x, c.y, 1.5 * c.sigma_centre, onset, 10, frames, 2.0, {0, 1});
    at::Tensor r = fovea::data::noise_free_responses(one, movie)[0];
    // Mean change over the flash after the cells' latency (the current frame has no weight).
    const double baseline = r[onset - 1].item<double>();
    const double change = r.slice(0, onset + 2, onset + 10).mean().item<double>() - baseline;
    (type.polarity > 0 ? on_changes : off_changes).push_back(change);
  }
  ASSERT_GE(on_changes.size(), 4u);
  ASSERT_GE(off_changes.size(), 4u);
  const double weakest_on = *std::min_element(on_changes.begin(), on_changes.end());
  const double strongest_off = *std::max_element(off_changes.begin(), off_changes.end());
  EXPECT_GT(weakest_on, 0.5) << "ON cells are excited by the flash";
  EXPECT_LT(strongest_off, 0.0) << "OFF cells are suppressed by the flash";
  EXPECT_GT(weakest_on, strongest_off);
}

TEST(RetinaCells, OffCellsRespondToTheFlashOffset) {
  RetinaPopulation p = calibrated_population(6);
  const int64_t onset = 35, duration = 20, frames = 70;
  int checked = 0;
  for (size_t k = 0; k < p.cells.size(); ++k) {
    const RetinaCell& c = p.cells[k];
    if (p.types[c.type].polarity > 0 || p.types[c.type].colour_opponent) continue;
    at::Tensor r = fovea::data::noise_free_responses(
        only(p, k), flash_movie(c.x, c.y, 1.5 * c.sigma_centre, onset, duration, frames, 2.0, {0, 1}))[0];
    const double during = r.slice(0, onset + duration - 5, onset + duration).mean().item<double>();
    const double after_offset = r.slice(0, onset + duration, onset + duration + 10).max().item<double>();
    EXPECT_GT(after_offset, during) << "OFF cell " << c.id << " ignores the light going off";
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

TEST(RetinaCells, TransientCellsAdaptToAStepAndSustainedCellsHold) {
  RetinaPopulation p = calibrated_population(7);
  const int64_t onset = 35, frames = 95;  // a step that stays on for 60 frames
  std::vector<double> sustained, transient;
  for (size_t k = 0; k < p.cells.size(); ++k) {
    const RetinaCell& c = p.cells[k];
    const auto& type = p.types[c.type];
    if (type.colour_opponent || type.polarity < 0) continue;
    at::Tensor r = fovea::data::noise_free_responses(
        only(p, k), flash_movie(c.x, c.y, 1.5 * c.sigma_centre, onset, frames, frames, 1.0, {0, 1}))[0];
    const double baseline = r[onset - 1].item<double>();
    const double peak = r.slice(0, onset, onset + 12).max().item<double>() - baseline;
    const double held = r.slice(0, frames - 10, frames).mean().item<double>() - baseline;
    ASSERT_GT(peak, 0.0);
    (type.transient ? transient : sustained).push_back(held / peak);
  }
  ASSERT_FALSE(sustained.empty());
  ASSERT_FALSE(transient.empty());
  const double least_sustained = *std::min_element(sustained.begin(), sustained.end());
  const double most_transient = *std::max_element(transient.begin(), transient.end());
  EXPECT_GT(least_sustained, 0.4);
  EXPECT_LT(most_transient, 0.3);
}

TEST(RetinaCells, ColourOpponentCellsAreExcitedByChannelOneAndSuppressedByChannelZero) {
  RetinaPopulation p = calibrated_population(8);
  const int64_t onset = 35, frames = 50;
  int checked = 0;
  for (size_t k = 0; k < p.cells.size(); ++k) {
    const RetinaCell& c = p.cells[k];
    if (!p.types[c.type].colour_opponent) continue;
    auto change = [&](int64_t channel) {
      at::Tensor r = fovea::data::noise_free_responses(
          only(p, k), flash_movie(c.x, c.y, 1.5 * c.sigma_centre, onset, 10, frames, 2.0, {channel}))[0];
      const auto window = r.slice(0, onset, onset + 10);
      const double baseline = r[onset - 1].item<double>();
      return channel == 1 ? window.max().item<double>() - baseline : window.min().item<double>() - baseline;
    };
    EXPECT_GT(change(1), 0.0) << "cell " << c.id;
    EXPECT_LT(change(0), 0.0) << "cell " << c.id;
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

TEST(RetinaCells, MosaicsTileTheField) {
  const std::vector<RetinaCell> mosaic = fovea::data::sample_retina_mosaics(kColors, kHeight, kWidth, 1, 9);
  const auto types = fovea::data::retina_cell_types(kColors);
  ASSERT_EQ(types.size(), 5u);
  EXPECT_EQ(fovea::data::retina_cell_types(1).size(), 4u) << "one channel has no colour-opponent type";
  for (size_t t = 0; t < types.size(); ++t) {
    // Each type has cells in every quadrant of the field, all inside it.
    int quadrants[2][2] = {{0, 0}, {0, 0}};
    for (const RetinaCell& c : mosaic) {
      if (c.type != static_cast<int64_t>(t)) continue;
      EXPECT_GE(c.x, -0.5);
      EXPECT_LT(c.x, kWidth - 0.5);
      EXPECT_GE(c.y, -0.5);
      EXPECT_LT(c.y, kHeight - 0.5);
      ++quadrants[c.y < kHeight / 2.0 - 0.5][c.x < kWidth / 2.0 - 0.5];
    }
    for (auto& row : quadrants)
      for (int count : row) EXPECT_GT(count, 0) << types[t].name;
  }
  for (size_t i = 0; i < mosaic.size(); ++i) EXPECT_EQ(mosaic[i].id, static_cast<int64_t>(i));
  // Asking for more cells makes the mosaics denser.
  EXPECT_GE(fovea::data::sample_retina_mosaics(kColors, kHeight, kWidth, 900, 9).size(), 900u);
}

TEST(RetinaCells, SpatialFiltersAreCentreSurroundAroundTheStatedCentre) {
  RetinaPopulation p = calibrated_population(10);
  const at::Tensor rows = at::arange(kHeight, at::kDouble).unsqueeze(1), cols = at::arange(kWidth, at::kDouble);
  int checked = 0;
  for (size_t k = 0; k < p.cells.size(); ++k) {
    const RetinaCell& c = p.cells[k];
    if (c.x < 3 || c.x > kWidth - 4 || c.y < 3 || c.y > kHeight - 4) continue;  // away from the edges
    // Sign-corrected so that the centre is positive.
    at::Tensor map = p.types[c.type].colour_opponent ? p.spatial[k][1] : p.spatial[k].sum(0) * p.types[c.type].polarity;
    const at::Tensor centre = map.clamp_min(0.0);
    const double mass = centre.sum().item<double>();
    ASSERT_GT(mass, 0.0);
    EXPECT_NEAR((centre * rows).sum().item<double>() / mass, c.y, 0.3) << "cell " << c.id;
    EXPECT_NEAR((centre * cols).sum().item<double>() / mass, c.x, 0.3) << "cell " << c.id;
    EXPECT_LT(map.min().item<double>(), 0.0) << "cell " << c.id << " has no antagonistic surround";
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
