// SVD decomposition, Butterworth filtering and spectra of stimuli, as
// openretina's utils/video_analysis.py computes them with scipy.
#include "fovea/viz/stimulus_decomposition.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <string>

#include "fovea/error.h"

namespace fovea::viz {
namespace {

using Complex = std::complex<double>;

// Bounds [first, last) of Python's seq[start:stop] for a sequence of length n:
// negative indices count from the end, everything is clipped to [0, n].
std::pair<int64_t, int64_t> python_slice(int64_t start, int64_t stop, int64_t n) {
  auto normalise = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  return {normalise(start), normalise(stop)};
}

// Coefficients of Π (x − r), highest power first (numpy.poly), real parts.
std::vector<double> poly(const std::vector<Complex>& roots) {
  std::vector<Complex> c{1.0};
  for (const Complex& r : roots) {
    std::vector<Complex> next(c.size() + 1, 0.0);
    for (size_t i = 0; i < c.size(); ++i) {
      next[i] += c[i];
      next[i + 1] -= r * c[i];
    }
    c = std::move(next);
  }
  std::vector<double> out;
  for (const Complex& v : c) out.push_back(v.real());  // conjugate pairs: the imaginary parts cancel
  return out;
}

// b and a divided by a[0] and zero-padded to one length, as scipy's
// lfilter/lfilter_zi see them.
FilterCoefficients normalised(const FilterCoefficients& f) {
  check(!f.a.empty() && !f.b.empty() && f.a[0] != 0.0, "filter", "needs b and a with a[0] ≠ 0");
  const size_t n = std::max(f.a.size(), f.b.size());
  FilterCoefficients g{std::vector<double>(n, 0.0), std::vector<double>(n, 0.0)};
  for (size_t i = 0; i < f.b.size(); ++i) g.b[i] = f.b[i] / f.a[0];
  for (size_t i = 0; i < f.a.size(); ++i) g.a[i] = f.a[i] / f.a[0];
  return g;
}

// Solves the small dense system A·x = rhs (Gaussian elimination with partial
// pivoting), as numpy.linalg.solve for lfilter_zi's (order × order) system.
std::vector<double> solve(std::vector<std::vector<double>> A, std::vector<double> rhs) {
  const size_t n = rhs.size();
  for (size_t k = 0; k < n; ++k) {
    size_t pivot = k;
    for (size_t i = k + 1; i < n; ++i)
      if (std::abs(A[i][k]) > std::abs(A[pivot][k])) pivot = i;
    check(A[pivot][k] != 0.0, "lfilter_zi", "the filter's steady state is singular (a pole at z = 1)");
    std::swap(A[k], A[pivot]);
    std::swap(rhs[k], rhs[pivot]);
    for (size_t i = k + 1; i < n; ++i) {
      const double m = A[i][k] / A[k][k];
      for (size_t j = k; j < n; ++j) A[i][j] -= m * A[k][j];
      rhs[i] -= m * rhs[k];
    }
  }
  std::vector<double> x(n);
  for (size_t k = n; k-- > 0;) {
    double s = rhs[k];
    for (size_t j = k + 1; j < n; ++j) s -= A[k][j] * x[j];
    x[k] = s / A[k][k];
  }
  return x;
}

std::vector<double> scaled(std::vector<double> v, double s) {
  for (double& x : v) x *= s;
  return v;
}

}  // namespace

KernelDecomposition decompose_kernel(const at::Tensor& kernel, double scaling_factor) {
  check(kernel.defined() && kernel.dim() == 3, "decompose_kernel", "needs a (time, height, width) kernel");
  const int64_t T = kernel.size(0), H = kernel.size(1), W = kernel.size(2);
  check(T >= 1 && H >= 1 && W >= 1, "decompose_kernel", "the kernel is empty");
  const at::Tensor M = kernel.detach().to(at::kCPU, at::kDouble).reshape({T, H * W});
  const auto [U, S, Vh] = at::linalg_svd(M, /*full_matrices=*/false);

  KernelDecomposition out;
  out.height = H;
  out.width = W;
  out.temporal.assign(T, 0.0);
  out.spatial.assign(H * W, 0.0);
  out.second_singular_value = S.size(0) > 1 ? S[1].item<double>() : 0.0;
  const double s0 = S[0].item<double>();
  if (s0 == 0.0) return out;  // a zero kernel: no direction to show

  const at::Tensor u0 = U.select(1, 0).contiguous(), v0 = Vh.select(0, 0).contiguous();
  const double* u = u0.data_ptr<double>();
  const double* v = v0.data_ptr<double>();
  double abs_max = 0;
  for (int64_t i = 0; i < H * W; ++i) abs_max = std::max(abs_max, std::abs(v[i]));
  for (int64_t i = 0; i < H * W; ++i) out.spatial[i] = v[i] / abs_max;
  const double temporal_scale = scaling_factor * s0;
  for (int64_t t = 0; t < T; ++t) out.temporal[t] = u[t] * abs_max * temporal_scale;

  // Sign: the centre patch [cy-3 : cy+2, cx-3 : cx+2] must not be negative on average.
  const int64_t cy = H / 2, cx = W / 2;
  const auto [y0, y1] = python_slice(cy - 3, cy + 2, H);
  const auto [x0, x1] = python_slice(cx - 3, cx + 2, W);
  double sum = 0;
  int64_t count = 0;
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t x = x0; x < x1; ++x, ++count) sum += out.spatial[y * W + x];
  if (count > 0 && sum / static_cast<double>(count) < 0) {
    for (double& s : out.spatial) s = -s;
    for (double& t : out.temporal) t = -t;
  }
  return out;
}

FilterCoefficients butter_lowpass(int order, double cutoff, double fs) {
  check(order >= 1, "butter", "the filter order must be at least 1, got " + std::to_string(order));
  check(fs > 0, "butter", "the sampling frequency must be positive");
  const double Wn = 2.0 * cutoff / fs;  // scipy: Wn = 2·Wn/fs
  check(Wn > 0 && Wn < 1, "butter",
        "the cut-off must lie between 0 and fs/2 = " + std::to_string(fs / 2) + " Hz, got " + std::to_string(cutoff));
  const double pi = std::acos(-1.0);
  // Pre-warp for the bilinear transform with scipy's internal fs = 2.
  const double fs_d = 2.0;
  const double warped = 2.0 * fs_d * std::tan(pi * Wn / fs_d);
  // buttap: poles −exp(iπm/(2N)), m = −N+1, −N+3, …, N−1, on the unit circle;
  // lp2lp_zpk scales them by `warped` and the gain by warped^N.
  std::vector<Complex> poles;
  for (int m = -order + 1; m <= order - 1; m += 2)
    poles.push_back(-std::exp(Complex(0.0, pi * m / (2.0 * order))) * warped);
  double k = std::pow(warped, order);
  // bilinear_zpk: z = (2fs + s)/(2fs − s); the N zeros at infinity go to −1.
  const double fs2 = 2.0 * fs_d;
  std::vector<Complex> z_poles, z_zeros(order, Complex(-1.0, 0.0));
  Complex denominator = 1.0;
  for (const Complex& p : poles) {
    z_poles.push_back((fs2 + p) / (fs2 - p));
    denominator *= (fs2 - p);
  }
  k = k * (Complex(1.0) / denominator).real();
  FilterCoefficients f;
  f.b = scaled(poly(z_zeros), k);
  f.a = poly(z_poles);
  return f;
}

std::vector<double> lfilter_zi(const FilterCoefficients& filter) {
  const FilterCoefficients f = normalised(filter);
  const size_t n = f.a.size();
  if (n <= 1) return {};
  // (I − companion(a)ᵀ)·zi = b[1:] − a[1:]·b[0]; companion(a)ᵀ has −a[1:] in
  // its first column and ones on the superdiagonal.
  std::vector<std::vector<double>> A(n - 1, std::vector<double>(n - 1, 0.0));
  std::vector<double> B(n - 1);
  for (size_t i = 0; i < n - 1; ++i) {
    A[i][i] = 1.0;
    A[i][0] += f.a[i + 1];
    if (i + 1 < n - 1) A[i][i + 1] -= 1.0;
    B[i] = f.b[i + 1] - f.a[i + 1] * f.b[0];
  }
  return solve(std::move(A), std::move(B));
}

std::vector<double> lfilter(const FilterCoefficients& filter, const std::vector<double>& x,
                            const std::vector<double>& zi) {
  const FilterCoefficients f = normalised(filter);
  const size_t n = f.a.size();
  std::vector<double> z(n - 1, 0.0);
  if (!zi.empty()) {
    check(zi.size() == n - 1, "lfilter", "zi must have max(len(a), len(b)) − 1 = " + std::to_string(n - 1) + " values");
    z = zi;
  }
  std::vector<double> y(x.size());
  // Direct form II transposed, with scipy's order of operations.
  for (size_t t = 0; t < x.size(); ++t) {
    const double xt = x[t];
    if (n == 1) {
      y[t] = xt * f.b[0];
      continue;
    }
    const double yt = z[0] + f.b[0] * xt;
    for (size_t i = 0; i + 2 < n; ++i) z[i] = z[i + 1] + xt * f.b[i + 1] - yt * f.a[i + 1];
    z[n - 2] = xt * f.b[n - 1] - yt * f.a[n - 1];
    y[t] = yt;
  }
  return y;
}

std::vector<double> filtfilt(const FilterCoefficients& f, const std::vector<double>& x) {
  const size_t edge = 3 * std::max(f.a.size(), f.b.size());
  check(x.size() > edge, "filtfilt",
        "the signal has " + std::to_string(x.size()) + " samples; filtering it forwards and backwards needs more than " +
            std::to_string(edge) + " (3·max(len(a), len(b)))");
  const size_t N = x.size();
  // Odd extension: 2·x[0] − x[edge..1] before, 2·x[N−1] − x[N−2..N−1−edge] after.
  std::vector<double> ext;
  ext.reserve(N + 2 * edge);
  for (size_t i = edge; i >= 1; --i) ext.push_back(2 * x[0] - x[i]);
  ext.insert(ext.end(), x.begin(), x.end());
  for (size_t i = 2; i <= edge + 1; ++i) ext.push_back(2 * x[N - 1] - x[N - i]);

  const std::vector<double> zi = lfilter_zi(f);
  std::vector<double> y = lfilter(f, ext, scaled(zi, ext.front()));
  std::reverse(y.begin(), y.end());
  y = lfilter(f, y, scaled(zi, y.front()));
  std::reverse(y.begin(), y.end());
  return std::vector<double>(y.begin() + static_cast<std::ptrdiff_t>(edge), y.end() - static_cast<std::ptrdiff_t>(edge));
}

AmplitudeSpectrum amplitude_spectrum(const std::vector<double>& trace, double fs, double lowpass_cutoff) {
  const std::vector<double> y = filtfilt(butter_lowpass(5, lowpass_cutoff, fs), trace);
  const int64_t n = static_cast<int64_t>(y.size());
  const at::Tensor spectrum =
      at::fft_fft(at::tensor(y, at::TensorOptions().dtype(at::kDouble))).abs().contiguous();
  const double* amp = spectrum.data_ptr<double>();
  AmplitudeSpectrum out;
  const double step = 1.0 / (static_cast<double>(n) * (1.0 / fs));  // scipy.fft.fftfreq(n, d=1/fs)
  for (int64_t k = 0; k < n / 2; ++k) {
    out.frequencies.push_back(static_cast<double>(k) * step);
    out.amplitudes.push_back(amp[k]);
  }
  return out;
}

double weighted_main_frequency(const AmplitudeSpectrum& s) {
  double weighted = 0, total = 0;
  for (size_t i = 0; i < s.frequencies.size(); ++i) {
    weighted += s.frequencies[i] * s.amplitudes[i];
    total += s.amplitudes[i];
  }
  return total == 0 ? 0.0 : weighted / total;
}

std::vector<ChannelComposition> stimulus_composition(const at::Tensor& stimulus, double lowpass_cutoff,
                                                     double frame_rate) {
  check(stimulus.defined() && stimulus.dim() == 4, "stimulus composition",
        "needs a (channels, time, height, width) stimulus");
  check(frame_rate > 0, "stimulus composition", "the frame rate must be positive");
  const int64_t C = stimulus.size(0), T = stimulus.size(1);
  // The reference's filtfilt pads 3·6 = 18 samples (order 5: 6 coefficients)
  // and refuses signals that are not longer than that.
  const int64_t pad = 3 * (5 + 1);
  check(T > pad, "stimulus composition",
        "the stimulus has " + std::to_string(T) + " frames; the spectrum's zero-phase low-pass filter needs more than " +
            std::to_string(pad));
  std::vector<double> time_s(T);
  // np.linspace(0, T/frame_rate, T): step (T/frame_rate)/(T−1), last value exact.
  const double stop = static_cast<double>(T) / frame_rate;
  const double step = T > 1 ? stop / static_cast<double>(T - 1) : 0.0;
  for (int64_t t = 0; t < T; ++t) time_s[t] = static_cast<double>(t) * step;
  if (T > 1) time_s[T - 1] = stop;

  std::vector<ChannelComposition> out;
  for (int64_t c = 0; c < C; ++c) {
    KernelDecomposition d = decompose_kernel(stimulus.select(0, c));
    ChannelComposition channel;
    channel.time_s = time_s;
    channel.height = d.height;
    channel.width = d.width;
    channel.spatial = std::move(d.spatial);
    AmplitudeSpectrum spectrum = amplitude_spectrum(d.temporal, frame_rate, lowpass_cutoff);
    channel.weighted_frequency = weighted_main_frequency(spectrum);
    channel.frequencies = std::move(spectrum.frequencies);
    channel.amplitudes = std::move(spectrum.amplitudes);
    channel.temporal = std::move(d.temporal);
    out.push_back(std::move(channel));
  }
  return out;
}

}  // namespace fovea::viz
