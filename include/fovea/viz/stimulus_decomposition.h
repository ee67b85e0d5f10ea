#pragma once
// The numbers behind openretina's stimulus-composition figure
// (utils/plotting.py plot_stimulus_composition, utils/video_analysis.py):
// each colour channel of a stimulus (C, T, H, W) is split by SVD into a
// temporal trace and a spatial map; the trace is low-pass filtered (order-5
// Butterworth, scipy's filtfilt) and its amplitude spectrum and weighted mean
// frequency are taken. The figure itself is drawn elsewhere (viz/figure*).
//
// The signal-processing pieces reproduce scipy exactly (same algorithms, in
// float64): signal.butter(order, cutoff, fs=fs) for a low-pass, lfilter with
// initial conditions, lfilter_zi, and filtfilt with its defaults (padtype
// 'odd', padlen 3·max(len(a), len(b)), method 'pad').
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace fovea::viz {

// openretina's FRAME_RATE_MODEL (Hz) and plot_stimulus_composition's default cut-off.
constexpr double kModelFrameRate = 30.0;
constexpr double kLowpassCutoff = 10.0;

// decompose_kernel(space_time_kernel (T, H, W), scaling_factor):
// SVD of the (T, H·W) matrix M = U·S·Vᵀ; with m = max|V₀|,
//   spatial  = V₀ / m            (so it spans [-1, 1]),
//   temporal = U₀ · m · S₀ · scaling_factor,
// so temporal ⊗ spatial is the best rank-1 approximation of M. The sign is
// chosen so that the mean of spatial[cy−3 : cy+2, cx−3 : cx+2] (Python slice
// semantics, cy = H/2, cx = W/2 rounded down) is not negative; an empty slice
// (H or W of 5) flips nothing, as NaN < 0 is false in the reference.
// Computed in float64 (the reference's SVD runs in the stimulus's float32).
// A zero kernel gives zero traces (the reference shows an arbitrary unit
// vector of its SVD as the spatial map there).
struct KernelDecomposition {
  std::vector<double> temporal;      // (T)
  std::vector<double> spatial;       // (H·W), row-major
  int64_t height = 0, width = 0;
  double second_singular_value = 0;  // S₁ (the reference's third return value); 0 if there is none
};
KernelDecomposition decompose_kernel(const at::Tensor& space_time_kernel, double scaling_factor = 1.0);

// Transfer-function coefficients b (numerator), a (denominator, a[0] = 1).
struct FilterCoefficients {
  std::vector<double> b, a;
};

// scipy.signal.butter(order, cutoff, btype='low', fs=fs): the analog
// Butterworth prototype, pre-warped and mapped by the bilinear transform.
// fovea::Error unless order ≥ 1 and 0 < cutoff < fs/2.
FilterCoefficients butter_lowpass(int order, double cutoff, double fs);

// scipy.signal.lfilter_zi(b, a): the initial state of lfilter for the
// steady state of a unit step (length max(len(a), len(b)) − 1).
std::vector<double> lfilter_zi(const FilterCoefficients& f);

// scipy.signal.lfilter(b, a, x, zi=zi) (direct form II transposed); an empty
// zi means zero initial state.
std::vector<double> lfilter(const FilterCoefficients& f, const std::vector<double>& x,
                            const std::vector<double>& zi = {});

// scipy.signal.filtfilt(b, a, x) with its defaults: x extended at both ends
// by 3·max(len(a), len(b)) samples of its odd extension, filtered forwards
// from lfilter_zi·first sample, backwards from lfilter_zi·last output,
// trimmed. Zero phase; the gain is |H|². fovea::Error (as scipy's ValueError)
// unless x is longer than the padding.
std::vector<double> filtfilt(const FilterCoefficients& f, const std::vector<double>& x);

// utils/video_analysis.py calculate_fft: filtfilt with an order-5 Butterworth
// low-pass at `lowpass_cutoff`, then |FFT| of the filtered trace; the first
// n/2 (rounded down) bins and their frequencies k·fs/n (scipy.fft.fftfreq).
struct AmplitudeSpectrum {
  std::vector<double> frequencies;  // Hz
  std::vector<double> amplitudes;
};
AmplitudeSpectrum amplitude_spectrum(const std::vector<double>& temporal_trace, double sampling_frequency = kModelFrameRate,
                                     double lowpass_cutoff = kLowpassCutoff);

// weighted_main_frequency: Σ f·|F| / Σ |F| (np.average); 0 when Σ|F| = 0
// (the reference raises there).
double weighted_main_frequency(const AmplitudeSpectrum& spectrum);

// Everything the figure draws for one colour channel.
struct ChannelComposition {
  std::vector<double> temporal;      // decompose_kernel's temporal trace, (T)
  std::vector<double> time_s;        // np.linspace(0, T / frame_rate, T): note the step is T/(frame_rate·(T−1))
  std::vector<double> spatial;       // (H·W) row-major, in [-1, 1]
  int64_t height = 0, width = 0;
  std::vector<double> frequencies;   // amplitude_spectrum of `temporal`
  std::vector<double> amplitudes;
  double weighted_frequency = 0;     // weighted_main_frequency, Hz
};

// plot_stimulus_composition's numbers for every channel of `stimulus`
// (C, T, H, W), C ≥ 1 (the reference names 1, 2 or 3 channels: grey;
// green/UV; red/green/blue). fovea::Error for another rank, or T not longer
// than filtfilt's padding (18 frames for order 5).
std::vector<ChannelComposition> stimulus_composition(const at::Tensor& stimulus, double lowpass_cutoff = kLowpassCutoff,
                                                     double frame_rate = kModelFrameRate);

}  // namespace fovea::viz
