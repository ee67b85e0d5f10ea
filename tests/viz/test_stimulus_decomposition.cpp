// The numerics of the stimulus-composition figure: Butterworth coefficients
// against closed forms, lfilter_zi/filtfilt against their defining
// properties (steady state, zero phase, |H|² gain), the SVD decomposition of
// separable stimuli with openretina's scaling and sign, and the spectrum.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <complex>

#include "fovea/error.h"
#include "fovea/viz/stimulus_decomposition.h"

namespace {

using namespace fovea::viz;
const double kPi = std::acos(-1.0);

// |H(e^{iω})|² of a transfer function b/a at frequency f (Hz).
double squared_gain(const FilterCoefficients& f, double hz, double fs) {
  const std::complex<double> z = std::exp(std::complex<double>(0, 2 * kPi * hz / fs));
  std::complex<double> num = 0, den = 0;
  for (size_t i = 0; i < f.b.size(); ++i) num += f.b[i] * std::pow(z, -static_cast<double>(i));
  for (size_t i = 0; i < f.a.size(); ++i) den += f.a[i] * std::pow(z, -static_cast<double>(i));
  return std::norm(num / den);
}

void expect_coefficients(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "coefficient " << i;
}

TEST(Butterworth, FirstAndSecondOrderEqualTheirClosedForms) {
  // Bilinear transform with pre-warping: K = tan(π·fc/fs).
  const double fc = 7, fs = 30, K = std::tan(kPi * fc / fs);
  const auto f1 = butter_lowpass(1, fc, fs);
  expect_coefficients(f1.b, {K / (1 + K), K / (1 + K)}, 1e-14);
  expect_coefficients(f1.a, {1, (K - 1) / (K + 1)}, 1e-14);
  const auto f2 = butter_lowpass(2, fc, fs);
  const double d = 1 + std::sqrt(2.0) * K + K * K;
  expect_coefficients(f2.b, {K * K / d, 2 * K * K / d, K * K / d}, 1e-14);
  expect_coefficients(f2.a, {1, 2 * (K * K - 1) / d, (1 - std::sqrt(2.0) * K + K * K) / d}, 1e-14);
}

TEST(Butterworth, FifthOrderHalfBandEqualsTheAnalyticCoefficients) {
  // At fc = fs/4 the bilinear map sends the poles e^{iθ} (θ = 180°, 180° ± 36°,
  // 180° ± 72°) to 0 and ±i·tan(18°), ±i·tan(36°): a has only even powers of
  // z⁻¹ (a[1] = a[3] = a[5] = 0) and b = a(1)/32 · binomial(5). (MATLAB's butter(5, 0.5) prints
  // b = 0.0528 0.2639 0.5279 ..., a = 1 0 0.6334 0 0.0557 0.)
  const double r1 = std::pow(std::tan(kPi / 10), 2), r2 = std::pow(std::tan(kPi / 5), 2);
  const std::vector<double> a = {1, 0, r1 + r2, 0, r1 * r2, 0};
  const double k = (1 + r1 + r2 + r1 * r2) / 32;
  const auto f = butter_lowpass(5, 7.5, 30);
  expect_coefficients(f.a, a, 1e-14);
  expect_coefficients(f.b, {k, 5 * k, 10 * k, 10 * k, 5 * k, k}, 1e-14);
  EXPECT_NEAR(f.b[0], 0.0528, 5e-5);
  EXPECT_NEAR(f.a[2], 0.6334, 5e-5);
}

TEST(Butterworth, TheFigureFilterHasTheBilinearButterworthMagnitude) {
  // |H|² = 1 / (1 + (tan(ω/2) / tan(ωc/2))^(2N)) for the order-5, 10 Hz, 30 Hz filter.
  const auto f = butter_lowpass(5, 10, 30);
  ASSERT_EQ(f.b.size(), 6u);
  ASSERT_EQ(f.a.size(), 6u);
  EXPECT_DOUBLE_EQ(f.a[0], 1.0);
  for (double hz : {0.0, 1.0, 4.0, 9.0, 10.0, 11.0, 13.0, 14.9}) {
    const double ratio = std::tan(kPi * hz / 30) / std::tan(kPi * 10 / 30);
    EXPECT_NEAR(squared_gain(f, hz, 30), 1 / (1 + std::pow(ratio, 10)), 1e-12) << hz << " Hz";
  }
  EXPECT_NEAR(squared_gain(f, 10, 30), 0.5, 1e-12);
  // b is k·binomial(5): all zeros at z = −1.
  const std::vector<double> binomial = {1, 5, 10, 10, 5, 1};
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(f.b[i], f.b[0] * binomial[i], 1e-15);
}

TEST(Butterworth, BadParametersAreErrors) {
  EXPECT_THROW(butter_lowpass(0, 10, 30), fovea::Error);
  EXPECT_THROW(butter_lowpass(5, 15, 30), fovea::Error);  // at Nyquist
  EXPECT_THROW(butter_lowpass(5, 0, 30), fovea::Error);
  EXPECT_THROW(butter_lowpass(5, 10, 0), fovea::Error);
}

TEST(Filtfilt, LfilterZiIsTheUnitStepSteadyState) {
  const auto f = butter_lowpass(5, 10, 30);
  const auto zi = lfilter_zi(f);
  ASSERT_EQ(zi.size(), 5u);
  const auto y = lfilter(f, std::vector<double>(50, 1.0), zi);
  for (double v : y) EXPECT_NEAR(v, 1.0, 1e-13);
  // Without initial state the step response starts at b[0] and rises.
  const auto y0 = lfilter(f, std::vector<double>(50, 1.0));
  EXPECT_NEAR(y0[0], f.b[0], 1e-15);
}

TEST(Filtfilt, LfilterIsTheDifferenceEquation) {
  // y[n] = Σ b[k]x[n−k] − Σ_{k≥1} a[k]y[n−k], computed directly.
  const auto f = butter_lowpass(3, 4, 30);
  std::vector<double> x(40);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * i) + 0.1 * i;
  const auto y = lfilter(f, x);
  std::vector<double> direct(x.size(), 0.0);
  for (size_t n = 0; n < x.size(); ++n) {
    double s = 0;
    for (size_t k = 0; k < f.b.size() && k <= n; ++k) s += f.b[k] * x[n - k];
    for (size_t k = 1; k < f.a.size() && k <= n; ++k) s -= f.a[k] * direct[n - k];
    direct[n] = s;
  }
  for (size_t n = 0; n < x.size(); ++n) EXPECT_NEAR(y[n], direct[n], 1e-12) << n;
}

TEST(Filtfilt, ConstantStaysConstant) {
  const auto f = butter_lowpass(5, 10, 30);
  const auto y = filtfilt(f, std::vector<double>(40, 3.7));
  ASSERT_EQ(y.size(), 40u);
  for (double v : y) EXPECT_NEAR(v, 3.7, 1e-12);
}

TEST(Filtfilt, SinesKeepTheirPhaseAndAreScaledBySquaredGain) {
  const double fs = 30;
  const auto f = butter_lowpass(5, 10, fs);
  const int n = 3000;
  for (double hz : {1.0, 8.0, 10.0, 13.0}) {
    std::vector<double> x(n);
    for (int i = 0; i < n; ++i) x[i] = std::sin(2 * kPi * hz * i / fs + 0.3);
    const auto y = filtfilt(f, x);
    const double gain = squared_gain(f, hz, fs);
    double worst = 0;
    for (int i = 500; i < n - 500; ++i) worst = std::max(worst, std::abs(y[i] - gain * x[i]));
    EXPECT_LT(worst, 1e-9) << hz << " Hz, gain " << gain;
  }
  // The 13 Hz sine is attenuated below 1e-4, the 1 Hz one passes.
  EXPECT_LT(squared_gain(f, 13, fs), 1e-4);
  EXPECT_GT(squared_gain(f, 1, fs), 0.999999);
}

TEST(Filtfilt, OddExtensionContinuesAnOddSignal) {
  // A sine starting at 0 is odd about its first sample, so the odd extension
  // at the start is the sine itself: only the start-up transient of the 18
  // padding samples (lfilter_zi is the steady state of a constant, not of a
  // sine) reaches the signal, about 1e-5 here. An even extension would leave
  // errors of order 0.1.
  const auto f = butter_lowpass(5, 10, 30);
  std::vector<double> x(200);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(2 * kPi * 2 * i / 30.0);
  const auto y = filtfilt(f, x);
  const double gain = squared_gain(f, 2, 30);
  for (size_t i = 0; i < 20; ++i) EXPECT_NEAR(y[i], gain * x[i], 1e-4) << i;
}

// Printed by scipy 1.10.1 (Debian python3-scipy) for this test:
//   b, a = scipy.signal.butter(5, 10, fs=30); scipy.signal.lfilter_zi(b, a)
//   x = [sin(0.37 i) + 0.05 i²/25 − (i % 7 == 0) for i in range(25)]; scipy.signal.filtfilt(b, a, x)
TEST(Filtfilt, EqualsScipyOnTheFigureFilter) {
  const auto f = butter_lowpass(5, 10, 30);
  expect_coefficients(f.b, {0.1654233557243728, 0.8271167786218641, 1.6542335572437281, 1.6542335572437281,
                            0.8271167786218641, 0.1654233557243728},
                      1e-14);
  expect_coefficients(f.a, {1.0, 1.6448489114163642, 1.5866151829438249, 0.8048818947762373, 0.2299491201265278,
                            0.02725227391697612},
                      1e-14);
  expect_coefficients(lfilter_zi(f),
                      {0.8345766442756273, 1.6523087770701275, 1.584690402770224, 0.735338740302733, 0.13817108180739668},
                      1e-13);
  std::vector<double> x(25);
  for (int i = 0; i < 25; ++i) x[i] = std::sin(0.37 * i) + 0.05 * i * i / 25 - (i % 7 == 0 ? 1 : 0);
  const std::vector<double> scipy_y = {
      -1.0001260992978316,  0.2808705128232164, 0.8052958291615068,  0.8208509910335494,  1.0184415269728113,
      1.1626330840827437,   0.5962945877712764, -0.06255035456385356, 0.04101612310181451, 0.13889867883370557,
      -0.3793396383282326,  -0.6192606136166843, -0.5066813218112545, -0.9159911853101959, -1.2059011706328913,
      -0.4752091151071154,  0.32052663078000176, 0.5276297492154566,  0.9689554818234927,  1.5558346239470937,
      1.4407266220898454,   1.1974810570901313,  1.6325695885501734,  2.026786009331134,   1.6716868050997182};
  expect_coefficients(filtfilt(f, x), scipy_y, 1e-12);
}

TEST(Filtfilt, SignalsNoLongerThanThePaddingAreErrors) {
  const auto f = butter_lowpass(5, 10, 30);
  EXPECT_THROW(filtfilt(f, std::vector<double>(18, 1.0)), fovea::Error);
  EXPECT_NO_THROW(filtfilt(f, std::vector<double>(19, 1.0)));
}

// temporal ⊗ spatial as a (T, H, W) tensor.
at::Tensor separable(const std::vector<double>& t, const at::Tensor& spatial) {
  return torch::tensor(t, torch::kDouble).view({-1, 1, 1}) * spatial.unsqueeze(0);
}

at::Tensor difference_of_gaussians(int64_t H, int64_t W) {
  auto y = torch::arange(H, torch::kDouble).view({-1, 1}) - H / 2;
  auto x = torch::arange(W, torch::kDouble).view({1, -1}) - W / 2;
  auto r2 = y * y + x * x;
  return torch::exp(-r2 / 4.0) - 0.4 * torch::exp(-r2 / 16.0);
}

TEST(DecomposeKernel, RecoversTheFactorsOfASeparableStimulusWithACentrePositiveMap) {
  const int64_t T = 30, H = 18, W = 16;
  std::vector<double> t(T);
  for (int64_t i = 0; i < T; ++i) t[i] = std::sin(0.4 * i) * std::exp(-0.05 * i);
  const at::Tensor g = difference_of_gaussians(H, W);
  const double gmax = g.abs().max().item<double>();
  for (double sign : {1.0, -1.0}) {
    // The same stimulus as (sign·t) ⊗ g; the decomposition always shows g with
    // its positive centre and puts the sign into the temporal trace.
    std::vector<double> ts = t;
    for (double& v : ts) v *= sign;
    const auto d = decompose_kernel(separable(ts, g).to(torch::kFloat32));
    ASSERT_EQ(d.height, H);
    ASSERT_EQ(d.width, W);
    for (int64_t i = 0; i < H * W; ++i)
      EXPECT_NEAR(d.spatial[i], g.view(-1)[i].item<double>() / gmax, 1e-5) << "pixel " << i;
    for (int64_t i = 0; i < T; ++i) EXPECT_NEAR(d.temporal[i], ts[i] * gmax, 1e-5) << "frame " << i;
    EXPECT_NEAR(d.second_singular_value, 0.0, 1e-4);
  }
  // scaling_factor multiplies the temporal trace only.
  const auto d2 = decompose_kernel(separable(t, g), 2.5);
  EXPECT_NEAR(d2.temporal[3], 2.5 * t[3] * gmax, 1e-9);
  double spatial_max = 0;
  for (double v : d2.spatial) spatial_max = std::max(spatial_max, std::abs(v));
  EXPECT_DOUBLE_EQ(spatial_max, 1.0);
}

TEST(DecomposeKernel, CentrePatchFollowsPythonSliceSemanticsOnSmallMaps) {
  // H = W = 4: centre 2, slice [−1:4] = index 3 only. The map is negative at
  // the true centre but positive at (3, 3): the reference keeps (3, 3) positive.
  at::Tensor g = -torch::ones({4, 4}, torch::kDouble);
  g[3][3] = 0.5;
  const auto d = decompose_kernel(separable({1, -2, 0.5}, g));
  EXPECT_GT(d.spatial[3 * 4 + 3], 0);
  EXPECT_LT(d.spatial[2 * 4 + 2], 0);
  EXPECT_NEAR(d.temporal[1], -2.0, 1e-12);  // g kept as it is, so t is too
}

TEST(DecomposeKernel, ZeroKernelGivesZeroTraces) {
  const auto d = decompose_kernel(torch::zeros({20, 4, 5}));
  for (double v : d.temporal) EXPECT_EQ(v, 0.0);
  for (double v : d.spatial) EXPECT_EQ(v, 0.0);
}

TEST(Spectrum, FrequencyAxisIsFftfreqAndTheWeightedMeanIsTheAverage) {
  std::vector<double> trace(60);
  for (size_t i = 0; i < trace.size(); ++i) trace[i] = std::sin(2 * kPi * 3 * i / 30.0);
  const auto s = amplitude_spectrum(trace);
  ASSERT_EQ(s.frequencies.size(), 30u);
  for (size_t k = 0; k < 30; ++k) EXPECT_NEAR(s.frequencies[k], 0.5 * k, 1e-12);
  // The peak is at 3 Hz (bin 6), with amplitude ≈ n/2 · |H(3 Hz)|².
  const auto peak = std::max_element(s.amplitudes.begin(), s.amplitudes.end()) - s.amplitudes.begin();
  EXPECT_EQ(peak, 6);
  EXPECT_NEAR(s.amplitudes[6], 30.0, 1.5);
  double num = 0, den = 0;
  for (size_t k = 0; k < 30; ++k) {
    num += s.frequencies[k] * s.amplitudes[k];
    den += s.amplitudes[k];
  }
  EXPECT_DOUBLE_EQ(weighted_main_frequency(s), num / den);
  EXPECT_NEAR(weighted_main_frequency(s), 3.0, 0.5);
  EXPECT_EQ(weighted_main_frequency(AmplitudeSpectrum{{0, 1}, {0, 0}}), 0.0);
  // Odd lengths keep n // 2 bins.
  EXPECT_EQ(amplitude_spectrum(std::vector<double>(25, 1.0)).frequencies.size(), 12u);
}

// openretina's decompose_kernel, calculate_fft and weighted_main_frequency
// (scipy 1.10.1) on s[c,t,y,x] = sin(0.3(c+1)t + 0.7y − 0.4x) + 0.2cos(0.11tx + c) − 0.05y,
// a (2, 40, 6, 7) float64 stimulus that is not separable.
TEST(StimulusComposition, EqualsTheReferenceOnANonSeparableStimulus) {
  at::Tensor s = torch::zeros({2, 40, 6, 7}, torch::kDouble);
  auto a = s.accessor<double, 4>();
  for (int c = 0; c < 2; ++c)
    for (int t = 0; t < 40; ++t)
      for (int y = 0; y < 6; ++y)
        for (int x = 0; x < 7; ++x)
          a[c][t][y][x] = std::sin(0.3 * (c + 1) * t + 0.7 * y - 0.4 * x) + 0.2 * std::cos(0.11 * t * x + c) - 0.05 * y;
  const auto comp = stimulus_composition(s);
  ASSERT_EQ(comp.size(), 2u);
  struct Expected {
    double t0, t7, t39, s00, s33, s56, a0, a3, a10, a19, wf, s1;
  };
  const Expected want[2] = {
      {0.9128508307890746, -0.12827992436391913, 0.05513376653413614, 0.4331406511694509, 1.0, 0.9583095221519944,
       5.635369803905423, 2.3286533337072832, 0.4485415218928051, 0.314261883793923, 2.485034437144563,
       20.42029410428747},
      {0.997097438809698, -1.0282162528803351, -0.6519705775529213, 0.2479835511981345, 0.839295780676817,
       0.7879864404443822, 6.66976206997594, 4.196855790238857, 0.9609232146998526, 0.6483438103305744,
       3.847702894140828, 20.023664027998855}};
  for (int c = 0; c < 2; ++c) {
    const auto& ch = comp[c];
    const auto& e = want[c];
    EXPECT_NEAR(ch.temporal[0], e.t0, 1e-10);
    EXPECT_NEAR(ch.temporal[7], e.t7, 1e-10);
    EXPECT_NEAR(ch.temporal[39], e.t39, 1e-10);
    EXPECT_NEAR(ch.spatial[0], e.s00, 1e-10);
    EXPECT_NEAR(ch.spatial[3 * 7 + 3], e.s33, 1e-10);
    EXPECT_NEAR(ch.spatial[5 * 7 + 6], e.s56, 1e-10);
    EXPECT_NEAR(ch.amplitudes[0], e.a0, 1e-9);
    EXPECT_NEAR(ch.amplitudes[3], e.a3, 1e-9);
    EXPECT_NEAR(ch.amplitudes[10], e.a10, 1e-9);
    EXPECT_NEAR(ch.amplitudes[19], e.a19, 1e-9);
    EXPECT_NEAR(ch.weighted_frequency, e.wf, 1e-10);
    EXPECT_NEAR(decompose_kernel(s[c]).second_singular_value, e.s1, 1e-9);
  }
}

TEST(StimulusComposition, OneEntryPerChannelWithEverythingTheFigureDraws) {
  const int64_t T = 45, H = 18, W = 16;
  const at::Tensor g = difference_of_gaussians(H, W);
  std::vector<at::Tensor> channels;
  const std::vector<double> hz = {1.0, 4.0, 7.0};
  for (double f : hz) {
    std::vector<double> t(T);
    for (int64_t i = 0; i < T; ++i) t[i] = std::sin(2 * kPi * f * i / 30.0);
    channels.push_back(separable(t, g));
  }
  const auto comp = stimulus_composition(torch::stack(channels).to(torch::kFloat32));
  ASSERT_EQ(comp.size(), 3u);
  for (size_t c = 0; c < 3; ++c) {
    const auto& ch = comp[c];
    ASSERT_EQ(ch.temporal.size(), static_cast<size_t>(T));
    ASSERT_EQ(ch.time_s.size(), static_cast<size_t>(T));
    EXPECT_EQ(ch.time_s.front(), 0.0);
    EXPECT_DOUBLE_EQ(ch.time_s.back(), T / 30.0);  // linspace(0, T/30, T)
    EXPECT_NEAR(ch.time_s[1], (T / 30.0) / (T - 1), 1e-15);
    EXPECT_EQ(ch.height, H);
    EXPECT_EQ(ch.width, W);
    EXPECT_EQ(ch.spatial.size(), static_cast<size_t>(H * W));
    EXPECT_GT(ch.spatial[(H / 2) * W + W / 2], 0);
    EXPECT_EQ(ch.frequencies.size(), static_cast<size_t>(T / 2));
    EXPECT_EQ(ch.amplitudes.size(), static_cast<size_t>(T / 2));
  }
  // Faster channels have higher weighted frequencies, near their own.
  EXPECT_LT(comp[0].weighted_frequency, comp[1].weighted_frequency);
  EXPECT_LT(comp[1].weighted_frequency, comp[2].weighted_frequency);
  for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(comp[c].weighted_frequency, hz[c], 1.0) << c;

  EXPECT_THROW(stimulus_composition(torch::zeros({2, 18, 4, 4})), fovea::Error);  // too short for filtfilt
  EXPECT_THROW(stimulus_composition(torch::zeros({18, 4, 4})), fovea::Error);
}

}  // namespace
