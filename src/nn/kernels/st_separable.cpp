// The space-time separable convolution in two steps (see st_separable.h).
//
// Forward, one thread takes a batch element at a time (or, for a batch
// smaller than the threads, a share of the input channels, summed after) and
// goes through its input channels i one by one:
//   stage 1: F_i = K1 ⋆ x_i, a map per output channel o (F_i is a "field"),
//   stage 2: y  += K2 ⋆ F_i, summed over i,
// where (K1, K2) is (w_s, w_t), spatial first, or (w_t, w_s), temporal first,
// whichever needs fewer multiply-adds for the shapes at hand (the retina
// model's first layer shrinks space from 18x16 to 8x6: spatial first; its
// second pads space and shrinks time: temporal first).
//
// Backward, with g = dL/dy, per pair (batch element, input channel), which
// threads share out:
//   F_i (kept from the forward pass where recomputing it would be a third or
//   more of the backward's work and the fields fit in 1 GiB: the retina
//   model's first layer, 11x11 spatial first; else stage 1 again) and
//   dK2_i = corr(g, F_i),
//   G_i = K2ᵀ ⋆ g, the gradient of F_i, and dK1_i = corr(G_i, x_i),
//   dx_i = Σ_o K1ᵀ ⋆ G_i.
// Each order of the two steps is picked for the backward pass on its own.
//
// Layout: output channels are the vector lanes. A field holds a 16-float
// vector (o = 16 ob + lane) per grid position, one grid per block ob of 16
// output channels (lanes past O stay zero); the weights are packed alike,
// [i][ob][tap][lane]. Every convolution is then a loop over positions (R of
// them at once, their sums held in registers: a block of a run of positions
// along one axis, so one pointer stepped by the run's stride reaches all R)
// and over kernel taps, each tap an offset into the flattened grid; every
// correlation (a weight gradient) a loop over positions for a block of R taps
// of one row of the kernel, likewise stepped. Grids carry the zero margins
// their taps reach, so there are no border tests. Runs, positions and taps
// are computed once per call.
//
// The loops are compiled three times (AVX-512, AVX2 + FMA, baseline x86-64,
// with register blocks to match) and picked at run time.
#include "fovea/nn/kernels/st_separable.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "fovea/error.h"
#include "fovea/nn/kernels/kernel_set.h"

namespace fovea::nn {
namespace {

constexpr int64_t kLanes = 16;
typedef float Vec __attribute__((vector_size(64)));
#define FOVEA_INLINE inline __attribute__((always_inline))

// A 3-D grid (time, height, width), flattened row-major.
struct Grid {
  int64_t t = 1, h = 1, w = 1;
  int64_t size() const { return t * h * w; }
  int64_t index(int64_t a, int64_t b, int64_t c) const { return (a * h + b) * w + c; }
  Grid plus(const Grid& o, int64_t sign) const { return {t + sign * o.t, h + sign * o.h, w + sign * o.w}; }
};
const Grid kOne{1, 1, 1};

// A box of positions: per axis [lo, lo + n).
struct Box {
  Grid lo{0, 0, 0}, n;
};

// Offsets of a kernel's taps in `grid` (in floats: `scale` per position), in
// the order of the kernel's flattened weights; flipped for the transposed
// convolution.
std::vector<int32_t> tap_offsets(const Grid& k, const Grid& grid, bool flipped, int64_t scale) {
  std::vector<int32_t> taps;
  for (int64_t a = 0; a < k.t; ++a)
    for (int64_t b = 0; b < k.h; ++b)
      for (int64_t c = 0; c < k.w; ++c)
        taps.push_back(static_cast<int32_t>(
            scale * (flipped ? grid.index(k.t - 1 - a, k.h - 1 - b, k.w - 1 - c) : grid.index(a, b, c))));
  return taps;
}

// For each position p of `box`, the index of p + shift in `grid`, times `scale`.
std::vector<int32_t> position_offsets(const Box& box, const Grid& grid, const Grid& shift, int64_t scale) {
  std::vector<int32_t> out;
  out.reserve(box.n.size());
  for (int64_t a = 0; a < box.n.t; ++a)
    for (int64_t b = 0; b < box.n.h; ++b)
      for (int64_t c = 0; c < box.n.w; ++c)
        out.push_back(static_cast<int32_t>(
            scale * grid.index(box.lo.t + a + shift.t, box.lo.h + b + shift.h, box.lo.w + c + shift.w)));
  return out;
}

// Runs of positions along one axis of a box, for the convolutions' register
// blocks: run j starts at src[j] in the grid read and dst[j] in the grid
// written (floats), and its positions follow at strides s_src and s_dst.
// A block of R positions in a run then needs one pointer, not R.
struct Runs {
  std::vector<int32_t> src, dst;
  int64_t len = 0, s_src = 0, s_dst = 0;
};

// The box's positions as runs along one axis, p + shift in the grids `src`
// and `dst`, times each grid's scale. A convolution reading a field of
// vectors runs along an axis its kernel `k` covers, at least 4 long if there
// is one, so that a block's neighbouring positions read the same vectors
// (along time, 10 positions of a 5x5 kernel would read 10 planes and fill
// the L1 cache); otherwise, and for a scalar input (broadcasts, small reads),
// along the box's longest axis (time, for the retina's layers).
Runs position_runs(const Box& box, const Grid& src, const Grid& src_shift, int64_t src_scale, const Grid& dst,
                   const Grid& dst_shift, int64_t dst_scale, const Grid& k) {
  const int64_t n[3] = {box.n.t, box.n.h, box.n.w}, covered[3] = {k.t, k.h, k.w};
  int axis = n[0] >= n[1] && n[0] >= n[2] ? 0 : (n[1] >= n[2] ? 1 : 2);
  if (src_scale == kLanes) {
    int best = -1;
    for (int a = 0; a < 3; ++a)
      if (covered[a] > 1 && n[a] >= 4 && (best < 0 || n[a] > n[best])) best = a;
    if (best >= 0) axis = best;
  }
  auto stride = [&](const Grid& g) { return axis == 0 ? g.h * g.w : (axis == 1 ? g.w : 1); };
  Runs runs;
  runs.len = n[axis];
  runs.s_src = stride(src) * src_scale;
  runs.s_dst = stride(dst) * dst_scale;
  for (int64_t a = 0; a < (axis == 0 ? 1 : n[0]); ++a)
    for (int64_t b = 0; b < (axis == 1 ? 1 : n[1]); ++b)
      for (int64_t c = 0; c < (axis == 2 ? 1 : n[2]); ++c) {
        const Grid p{box.lo.t + a, box.lo.h + b, box.lo.w + c};
        runs.src.push_back(static_cast<int32_t>(
            src_scale * src.index(p.t + src_shift.t, p.h + src_shift.h, p.w + src_shift.w)));
        runs.dst.push_back(static_cast<int32_t>(
            dst_scale * dst.index(p.t + dst_shift.t, p.h + dst_shift.h, p.w + dst_shift.w)));
      }
  return runs;
}

// A kernel's taps as runs along its innermost axis longer than 1 (the rows of
// a spatial kernel, the whole of a temporal one): run j starts at offset[j]
// (floats) in `grid` and tap index first[j] of the flattened kernel, and its
// taps follow at `stride` floats and consecutive indices. The weight-gradient
// correlations keep a block of a run's taps in registers.
struct TapRuns {
  std::vector<int32_t> offset, first;
  int64_t len = 0, stride = 0;
};

TapRuns tap_runs(const Grid& k, const Grid& grid, int64_t scale) {
  const int axis = k.w > 1 ? 2 : (k.h > 1 ? 1 : (k.t > 1 ? 0 : 2));
  TapRuns runs;
  runs.len = axis == 0 ? k.t : (axis == 1 ? k.h : k.w);
  runs.stride = scale * (axis == 0 ? grid.h * grid.w : (axis == 1 ? grid.w : 1));
  for (int64_t a = 0; a < (axis == 0 ? 1 : k.t); ++a)
    for (int64_t b = 0; b < (axis == 1 ? 1 : k.h); ++b)
      for (int64_t c = 0; c < (axis == 2 ? 1 : k.w); ++c) {
        runs.offset.push_back(static_cast<int32_t>(scale * grid.index(a, b, c)));
        runs.first.push_back(static_cast<int32_t>((a * k.h + b) * k.w + c));
      }
  return runs;
}

// Everything the loops need, the same for every batch element.
struct Plan {
  int64_t batch = 0, in = 0, out = 0, blocks = 0;  // B, I, O, ceil(O / 16)
  Grid x, xp, f, y, gp, gm;  // input, padded input, stage-1 field, output, g and G with margins
  Grid before;               // padding before the input, per axis
  Grid k1, k2;               // the stage kernels' extents
  int64_t n1 = 0, n2 = 0;    // taps per stage kernel
  // Offsets are in floats where the loops read (base, taps) and in vectors
  // where they write (dst_index, g_index).
  // Stage-1 positions that can be nonzero (the field is zero elsewhere), in
  // the padded input (floats), the field (vectors) and G's grid (vectors).
  std::vector<int32_t> f_xp, f_f, f_gm;
  // Output positions, in the field (floats) and in g's grid (vectors).
  std::vector<int32_t> y_f, y_gp;
  // Kernel taps (floats): K1 in the padded input, K2 in the field, and flipped
  // (the transposed convolutions) K2 in g's grid and K1 in G's grid.
  std::vector<int32_t> taps1, taps2, taps2_flipped, taps1_flipped;
  // The convolutions' positions as runs: stage 1 (padded input -> field),
  // stage 2 (field -> output), G (g's grid -> G's grid), dx (G's grid -> x).
  Runs run1, run2, run_g, run_dx;
  // The correlations' taps: K1 in the padded input, K2 in the field.
  TapRuns corr1, corr2;
  const float* w1 = nullptr;  // packed [i][ob][tap][lane]
  const float* w2 = nullptr;
  bool spatial_first = true;  // K1 = w_s, K2 = w_t; else the other way round
  // Every (batch element, input channel)'s stage-1 field F_i, blocks x f
  // vectors at (b in + i) blocks f.size() 16, where the forward pass keeps
  // them for the backward pass (written by the forward, read by the
  // backward); null: F_i lives in the scratch, recomputed in the backward.
  float* kept_f = nullptr;
  bool need_dx = false, need_dw = false;
};

// Floats of scratch one thread needs, in parts that keep vectors aligned.
struct Scratch {
  int64_t xp, f, acc, gp, gm;
  explicit Scratch(const Plan& p, bool backward)
      : xp((p.xp.size() + kLanes - 1) / kLanes * kLanes),
        f(p.blocks * p.f.size() * kLanes),
        acc(backward ? 0 : p.blocks * p.y.size() * kLanes),
        gp(backward ? p.blocks * p.gp.size() * kLanes : 0),
        gm(backward ? p.blocks * p.gm.size() * kLanes : 0) {}
  int64_t total() const { return xp + f + acc + gp + gm; }
};

// ---- the loops ----

template <bool kScalar>
FOVEA_INLINE void fma(Vec& acc, const Vec& w, const float* p) {
  if constexpr (kScalar)
    acc += w * *p;  // broadcast
  else
    acc += w * *reinterpret_cast<const Vec*>(p);
}

enum class Out { store, add, lane_sum };

// Hides a pointer's value from the optimiser, so that a block's R addresses
// are stepped through one add at a time rather than held as R registers
// (which spill: 16 general registers are too few for R = 12 or 16).
#define FOVEA_OPAQUE(ptr) asm("" : "+r"(ptr))

// For the R positions of a run starting at src (stride s_src in in[j], s_dst
// in dst): acc = Σ_j Σ_k w[j][k] in[j][position + taps[k]], then the
// position's dst = acc (a vector), += acc, or = Σ_lanes acc (a float).
// in[j] is a field (vectors) or, when kScalar, a plane of floats.
template <int R, bool kScalar, Out kOut>
FOVEA_INLINE void conv_block(const float* const* in, const Vec* const* w, int64_t terms, const int32_t* taps,
                             int64_t n_taps, int64_t src, int64_t s_src, float* dst, int64_t s_dst) {
  Vec acc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if constexpr (kOut == Out::add)
      acc[r] = *reinterpret_cast<const Vec*>(dst + r * s_dst);
    else
      acc[r] = Vec{};
  }
  for (int64_t j = 0; j < terms; ++j) {
    const float* p0 = in[j] + src;
    const Vec* wj = w[j];
    for (int64_t k = 0; k < n_taps; ++k) {
      const Vec wk = wj[k];
      const float* q = p0 + taps[k];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        fma<kScalar>(acc[r], wk, q);
        q += s_src;
        FOVEA_OPAQUE(q);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if constexpr (kOut == Out::lane_sum) {
      float s = 0.f;
      for (int l = 0; l < kLanes; ++l) s += acc[r][l];
      dst[r * s_dst] = s;
    } else {
      *reinterpret_cast<Vec*>(dst + r * s_dst) = acc[r];
    }
  }
}

// conv_block for a block of n <= R positions.
template <int R, bool kScalar, Out kOut>
FOVEA_INLINE void conv_n(int64_t n, const float* const* in, const Vec* const* w, int64_t terms, const int32_t* taps,
                         int64_t n_taps, int64_t src, int64_t s_src, float* dst, int64_t s_dst) {
  if (n == R)
    conv_block<R, kScalar, kOut>(in, w, terms, taps, n_taps, src, s_src, dst, s_dst);
  else if constexpr (R > 1)
    conv_n<R - 1, kScalar, kOut>(n, in, w, terms, taps, n_taps, src, s_src, dst, s_dst);
}

// A run of len positions or taps is split into blocks of at most R, as even
// as they come (a run of 30 with R = 12: 10, 10, 10), so that no block is
// left with few accumulators: block b of `blocks` is [start(b), start(b + 1)).
// (Plain loops, not a lambda: a lambda would be compiled for the baseline
// instruction set, outside the AVX-512 / AVX2 functions that inline the rest.)
FOVEA_INLINE int64_t even_blocks(int64_t len, int64_t R) { return (len + R - 1) / R; }
FOVEA_INLINE int64_t block_start(int64_t len, int64_t blocks, int64_t b) { return len * b / blocks; }

// The convolution at all positions of `runs`, R at a time; dst is offset by
// each run's dst.
template <int R, bool kScalar, Out kOut>
FOVEA_INLINE void conv(const float* const* in, const Vec* const* w, int64_t terms, const std::vector<int32_t>& taps,
                       const Runs& runs, float* dst) {
  const int64_t n_taps = static_cast<int64_t>(taps.size()), blocks = even_blocks(runs.len, R);
  for (size_t j = 0; j < runs.src.size(); ++j)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t start = block_start(runs.len, blocks, b), n = block_start(runs.len, blocks, b + 1) - start;
      conv_n<R, kScalar, kOut>(n, in, w, terms, taps.data(), n_taps, runs.src[j] + start * runs.s_src, runs.s_src,
                               dst + runs.dst[j] + start * runs.s_dst, runs.s_dst);
    }
}

// dw[r] += Σ_n g[g_index[n]] in[base[n] + r stride] for the R taps of a block
// starting at `in`.
template <int R, bool kScalar>
FOVEA_INLINE void corr_block(const Vec* g, const int32_t* g_index, const float* in, const int32_t* base, int64_t n,
                             int64_t stride, Vec* dw) {
  Vec acc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = Vec{};
  for (int64_t i = 0; i < n; ++i) {
    const Vec gi = g[g_index[i]];
    const float* q = in + base[i];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      fma<kScalar>(acc[r], gi, q);
      q += stride;
      FOVEA_OPAQUE(q);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) dw[r] += acc[r];
}

template <int R, bool kScalar>
FOVEA_INLINE void corr_n(int64_t taps, const Vec* g, const int32_t* g_index, const float* in, const int32_t* base,
                         int64_t n, int64_t stride, Vec* dw) {
  if (taps == R)
    corr_block<R, kScalar>(g, g_index, in, base, n, stride, dw);
  else if constexpr (R > 1)
    corr_n<R - 1, kScalar>(taps, g, g_index, in, base, n, stride, dw);
}

// dw[k] += Σ_n g[g_index[n]] in[base[n] + tap k] for all taps, a block of at
// most R taps of one run at a time.
template <int R, bool kScalar>
FOVEA_INLINE void corr(const Vec* g, const int32_t* g_index, const float* in, const int32_t* base, int64_t n,
                       const TapRuns& taps, Vec* dw) {
  const int64_t blocks = even_blocks(taps.len, R);
  for (size_t j = 0; j < taps.offset.size(); ++j)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t start = block_start(taps.len, blocks, b), count = block_start(taps.len, blocks, b + 1) - start;
      corr_n<R, kScalar>(count, g, g_index, in + taps.offset[j] + start * taps.stride, base, n, taps.stride,
                         dw + taps.first[j] + start);
    }
}

// Copies x[b, i] into the interior of the padded plane (its margins stay zero).
FOVEA_INLINE void fill_padded(const Plan& p, const float* x, float* xp) {
  for (int64_t t = 0; t < p.x.t; ++t)
    for (int64_t y = 0; y < p.x.h; ++y)
      std::memcpy(xp + p.xp.index(t + p.before.t, y + p.before.h, p.before.w), x + p.x.index(t, y, 0),
                  sizeof(float) * p.x.w);
}

FOVEA_INLINE const Vec* weights(const float* packed, const Plan& p, int64_t i, int64_t ob, int64_t taps) {
  return reinterpret_cast<const Vec*>(packed) + (i * p.blocks + ob) * taps;
}

// Stage 1 for input channel i: f[ob] = K1_i ⋆ xp at the field's nonzero positions.
template <int RC>
FOVEA_INLINE void stage1(const Plan& p, int64_t i, const float* xp, float* f) {
  for (int64_t ob = 0; ob < p.blocks; ++ob) {
    const Vec* w = weights(p.w1, p, i, ob, p.n1);
    conv<RC, true, Out::store>(&xp, &w, 1, p.taps1, p.run1, f + ob * p.f.size() * kLanes);
  }
}

// y[b] for b in [b0, b1), summed over the input channels [i0, i1) (all of
// them, or a thread's share when the batch is smaller than the threads).
template <int RC>
FOVEA_INLINE void forward_range(const Plan& p, int64_t b0, int64_t b1, int64_t i0, int64_t i1, const float* x,
                                const float* bias, float* y, float* scratch) {
  const Scratch s(p, false);
  float* xp = scratch;
  float* f = xp + s.xp;
  float* acc = f + s.f;
  const int64_t ny = p.y.size(), field_y = ny * kLanes, field_f = p.f.size() * kLanes;
  for (int64_t b = b0; b < b1; ++b) {
    for (int64_t i = i0; i < i1; ++i) {
      fill_padded(p, x + (b * p.in + i) * p.x.size(), xp);
      float* fi = p.kept_f ? p.kept_f + (b * p.in + i) * p.blocks * field_f : f;
      stage1<RC>(p, i, xp, fi);
      for (int64_t ob = 0; ob < p.blocks; ++ob) {  // stage 2: acc[ob] (+)= K2_i ⋆ f[ob]
        const float* in = fi + ob * field_f;
        const Vec* w = weights(p.w2, p, i, ob, p.n2);
        if (i == i0)
          conv<RC, false, Out::store>(&in, &w, 1, p.taps2, p.run2, acc + ob * field_y);
        else
          conv<RC, false, Out::add>(&in, &w, 1, p.taps2, p.run2, acc + ob * field_y);
      }
    }
    for (int64_t ob = 0; ob < p.blocks; ++ob) {  // y[b, 16 ob + l, n] = acc[ob][n][l] + bias[16 ob + l]
      const Vec* a = reinterpret_cast<const Vec*>(acc + ob * field_y);
      const int64_t lanes = std::min(kLanes, p.out - ob * kLanes);
      Vec bv{};
      for (int64_t l = 0; l < lanes; ++l) bv[l] = bias ? bias[ob * kLanes + l] : 0.f;
      float* yb = y + (b * p.out + ob * kLanes) * ny;
      for (int64_t n = 0; n < ny; ++n) {
        const Vec v = a[n] + bv;
        for (int64_t l = 0; l < lanes; ++l) yb[l * ny + n] = v[l];
      }
    }
  }
}

// g[b] into the interior of its grid gp, output channels as lanes.
FOVEA_INLINE void fill_gradient_grid(const Plan& p, const float* g, int64_t b, float* gp) {
  const int64_t ny = p.y.size(), field_gp = p.gp.size() * kLanes;
  for (int64_t ob = 0; ob < p.blocks; ++ob) {
    Vec* dst = reinterpret_cast<Vec*>(gp + ob * field_gp);
    const int64_t lanes = std::min(kLanes, p.out - ob * kLanes);
    const float* src = g + (b * p.out + ob * kLanes) * ny;
    for (int64_t n = 0; n < ny; ++n) {
      Vec v{};
      for (int64_t l = 0; l < lanes; ++l) v[l] = src[l * ny + n];
      dst[p.y_gp[n]] = v;
    }
  }
}

// The work of the pairs (batch element b, input channel i) numbered
// k = b·in + i in [k0, k1): each pair's dx_i is its own, and its weight
// gradients go to the calling thread's slot, so threads may split anywhere.
template <int RC, int RK>
FOVEA_INLINE void backward_range(const Plan& p, int64_t k0, int64_t k1, const float* x, const float* g, float* dx,
                                 float* dw1, float* dw2, float* scratch) {
  const Scratch s(p, true);
  float* xp = scratch;
  float* f = xp + s.xp;
  float* gp = f + s.f;
  float* gm = gp + s.gp;
  const int64_t ny = p.y.size(), nf = static_cast<int64_t>(p.f_f.size());
  const int64_t field_f = p.f.size() * kLanes, field_gp = p.gp.size() * kLanes, field_gm = p.gm.size() * kLanes;
  int64_t filled = -1;  // the batch element whose g is in gp
  for (int64_t k = k0; k < k1; ++k) {
    const int64_t b = k / p.in, i = k % p.in;
    if (b != filled) {
      fill_gradient_grid(p, g, b, gp);
      filled = b;
    }
    if (p.need_dw) {
      fill_padded(p, x + (b * p.in + i) * p.x.size(), xp);  // for dK1_i
      const float* fi = f;
      if (p.kept_f)
        fi = p.kept_f + (b * p.in + i) * p.blocks * field_f;
      else
        stage1<RC>(p, i, xp, f);
      for (int64_t ob = 0; ob < p.blocks; ++ob)  // dK2_i += corr(g, F_i)
        corr<RK, false>(reinterpret_cast<const Vec*>(gp + ob * field_gp), p.y_gp.data(), fi + ob * field_f,
                        p.y_f.data(), ny, p.corr2, reinterpret_cast<Vec*>(dw2) + (i * p.blocks + ob) * p.n2);
    }
    for (int64_t ob = 0; ob < p.blocks; ++ob) {  // G_i = K2_iᵀ ⋆ g
      const float* in = gp + ob * field_gp;
      const Vec* w = weights(p.w2, p, i, ob, p.n2);
      conv<RC, false, Out::store>(&in, &w, 1, p.taps2_flipped, p.run_g, gm + ob * field_gm);
      if (p.need_dw)  // dK1_i += corr(G_i, x_i)
        corr<RK, true>(reinterpret_cast<const Vec*>(gm + ob * field_gm), p.f_gm.data(), xp, p.f_xp.data(), nf,
                       p.corr1, reinterpret_cast<Vec*>(dw1) + (i * p.blocks + ob) * p.n1);
    }
    if (p.need_dx) {  // dx_i = Σ_o K1_iᵀ ⋆ G_i
      std::vector<const float*> in(p.blocks);
      std::vector<const Vec*> w(p.blocks);
      for (int64_t ob = 0; ob < p.blocks; ++ob) {
        in[ob] = gm + ob * field_gm;
        w[ob] = weights(p.w1, p, i, ob, p.n1);
      }
      conv<RC, false, Out::lane_sum>(in.data(), w.data(), p.blocks, p.taps1_flipped, p.run_dx,
                                     dx + (b * p.in + i) * p.x.size());
    }
  }
}

// ---- one copy of the loops per instruction set ----

using ForwardFn = void (*)(const Plan&, int64_t, int64_t, int64_t, int64_t, const float*, const float*, float*,
                           float*);
using BackwardFn = void (*)(const Plan&, int64_t, int64_t, const float*, const float*, float*, float*, float*,
                            float*);

#if defined(__x86_64__)
#define FOVEA_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi,bmi2")))
#define FOVEA_AVX2 __attribute__((target("avx2,fma,bmi,bmi2")))
FOVEA_AVX512 void forward_avx512(const Plan& p, int64_t b0, int64_t b1, int64_t i0, int64_t i1, const float* x,
                                 const float* bias, float* y, float* s) {
  forward_range<12>(p, b0, b1, i0, i1, x, bias, y, s);
}
FOVEA_AVX512 void backward_avx512(const Plan& p, int64_t k0, int64_t k1, const float* x, const float* g, float* dx,
                                  float* dw1, float* dw2, float* s) {
  backward_range<12, 16>(p, k0, k1, x, g, dx, dw1, dw2, s);
}
FOVEA_AVX2 void forward_avx2(const Plan& p, int64_t b0, int64_t b1, int64_t i0, int64_t i1, const float* x,
                             const float* bias, float* y, float* s) {
  forward_range<6>(p, b0, b1, i0, i1, x, bias, y, s);
}
FOVEA_AVX2 void backward_avx2(const Plan& p, int64_t k0, int64_t k1, const float* x, const float* g, float* dx,
                              float* dw1, float* dw2, float* s) {
  backward_range<6, 6>(p, k0, k1, x, g, dx, dw1, dw2, s);
}
#endif
void forward_generic(const Plan& p, int64_t b0, int64_t b1, int64_t i0, int64_t i1, const float* x,
                     const float* bias, float* y, float* s) {
  forward_range<3>(p, b0, b1, i0, i1, x, bias, y, s);
}
void backward_generic(const Plan& p, int64_t k0, int64_t k1, const float* x, const float* g, float* dx, float* dw1,
                      float* dw2, float* s) {
  backward_range<3, 3>(p, k0, k1, x, g, dx, dw1, dw2, s);
}

struct Loops {
  ForwardFn forward;
  BackwardFn backward;
};

const Loops& loops() {
  static const Loops chosen = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("bmi2"))
      return Loops{forward_avx512, backward_avx512};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
      return Loops{forward_avx2, backward_avx2};
#endif
    return Loops{forward_generic, backward_generic};
  }();
  return chosen;
}

// ---- plans ----

struct Geometry {
  int64_t batch, in, out;
  Grid x, kt, ks;  // input; temporal (kt, 1, 1) and spatial (1, kh, kw) kernel extents
  Grid before, after;
};

Geometry geometry(const at::Tensor& x, const at::Tensor& temporal, const at::Tensor& spatial,
                  const std::array<int64_t, 3>& before, const std::array<int64_t, 3>& after) {
  Geometry g;
  g.batch = x.size(0);
  g.in = x.size(1);
  g.out = temporal.size(0);
  g.x = {x.size(2), x.size(3), x.size(4)};
  g.kt = {temporal.size(2), 1, 1};
  g.ks = {1, spatial.size(2), spatial.size(3)};
  g.before = {before[0], before[1], before[2]};
  g.after = {after[0], after[1], after[2]};
  return g;
}

// Multiply-adds per (batch element, i, o) of each stage order.
struct Costs {
  int64_t forward, backward;
};

Plan make_plan(const Geometry& g, bool spatial_first) {
  Plan p;
  p.batch = g.batch;
  p.in = g.in;
  p.out = g.out;
  p.blocks = (g.out + kLanes - 1) / kLanes;
  p.x = g.x;
  p.before = g.before;
  p.spatial_first = spatial_first;
  p.xp = g.x.plus(g.before, 1).plus(g.after, 1);
  p.k1 = spatial_first ? g.ks : g.kt;
  p.k2 = spatial_first ? g.kt : g.ks;
  p.n1 = p.k1.size();
  p.n2 = p.k2.size();
  p.f = p.xp.plus(p.k1, -1).plus(kOne, 1);
  p.y = p.f.plus(p.k2, -1).plus(kOne, 1);
  p.gp = p.f.plus(p.k2, 1).plus(kOne, -1);
  p.gm = p.xp.plus(p.k1, 1).plus(kOne, -1);
  const Grid m1 = p.k1.plus(kOne, -1), m2 = p.k2.plus(kOne, -1);  // margins
  // The field can be nonzero where stage 1 reads some of the input: along an
  // axis the kernel does not cover, only within the input's extent.
  Box fb;
  fb.n = p.f;
  if (p.k1.t == 1) fb.lo.t = g.before.t, fb.n.t = g.x.t;
  if (p.k1.h == 1) fb.lo.h = g.before.h, fb.n.h = g.x.h;
  if (p.k1.w == 1) fb.lo.w = g.before.w, fb.n.w = g.x.w;
  const Grid zero{0, 0, 0};
  p.f_xp = position_offsets(fb, p.xp, zero, 1);
  p.f_f = position_offsets(fb, p.f, zero, 1);
  p.f_gm = position_offsets(fb, p.gm, m1, 1);
  Box yb;
  yb.n = p.y;
  p.y_f = position_offsets(yb, p.f, zero, kLanes);
  p.y_gp = position_offsets(yb, p.gp, m2, 1);
  p.taps1 = tap_offsets(p.k1, p.xp, false, 1);
  p.taps2 = tap_offsets(p.k2, p.f, false, kLanes);
  p.taps2_flipped = tap_offsets(p.k2, p.gp, true, kLanes);
  p.taps1_flipped = tap_offsets(p.k1, p.gm, true, kLanes);
  p.run1 = position_runs(fb, p.xp, zero, 1, p.f, zero, kLanes, p.k1);
  p.run2 = position_runs(yb, p.f, zero, kLanes, p.y, zero, kLanes, p.k2);
  p.run_g = position_runs(fb, p.gp, zero, kLanes, p.gm, m1, kLanes, p.k2);
  Box xg;  // the input's positions in x's own grid
  xg.n = g.x;
  p.run_dx = position_runs(xg, p.gm, g.before, kLanes, p.x, zero, 1, p.k1);
  p.corr1 = tap_runs(p.k1, p.xp, 1);
  p.corr2 = tap_runs(p.k2, p.f, kLanes);
  return p;
}

Costs costs(const Plan& p, bool need_dx, bool need_dw) {
  const int64_t nf = static_cast<int64_t>(p.f_f.size()), ny = p.y.size(), nx = p.x.size();
  Costs c;
  c.forward = nf * p.n1 + ny * p.n2;
  c.backward = nf * p.n2 + (need_dw ? nf * p.n1 * 2 + ny * p.n2 : 0) + (need_dx ? nx * p.n1 : 0);
  return c;
}

// The cheaper of the two orders.
Plan best_plan(const Geometry& g, bool backward, bool need_dx, bool need_dw) {
  Plan s = make_plan(g, true), t = make_plan(g, false);
  const Costs cs = costs(s, need_dx, need_dw), ct = costs(t, need_dx, need_dw);
  const bool spatial = backward ? cs.backward <= ct.backward : cs.forward <= ct.forward;
  return spatial ? std::move(s) : std::move(t);
}

// (O, I, taps) -> [i][ob][tap][lane], zero lanes past O.
at::Tensor pack(const at::Tensor& w, int64_t blocks) {
  const int64_t o = w.size(0), i = w.size(1);
  const at::Tensor flat = w.reshape({o, i, -1}).contiguous();
  return at::constant_pad_nd(flat, {0, 0, 0, 0, 0, blocks * kLanes - o})
      .view({blocks, kLanes, i, flat.size(2)})
      .permute({2, 0, 3, 1})
      .contiguous();
}

// The inverse of pack, summed over the leading (thread) axis.
at::Tensor unpack(const at::Tensor& packed, int64_t out, at::IntArrayRef shape) {
  const at::Tensor s = packed.sum(0);  // (I, blocks, taps, lanes)
  return s.permute({1, 3, 0, 2}).reshape({s.size(1) * kLanes, s.size(0), s.size(2)}).narrow(0, 0, out).reshape(shape);
}

// Whether the forward pass keeps the stage-1 fields for the backward pass
// (plan p, the forward's): when the backward pass would use the same stage
// order and recomputing them would be at least a third of its multiply-adds
// (the retina's first layer: 11x11 spatial first, 44 %; its second layer,
// temporal first, 13 %: recomputed), and they take at most 1 GiB.
bool worth_keeping(const Plan& p, const Geometry& g, bool need_dx) {
  const Plan back = best_plan(g, true, need_dx, true);
  if (back.spatial_first != p.spatial_first) return false;
  const int64_t recompute = static_cast<int64_t>(p.f_f.size()) * p.n1;
  const double bytes = 4.0 * g.batch * g.in * p.blocks * p.f.size() * kLanes;
  return 3 * recompute >= costs(back, need_dx, true).backward && bytes <= 1024.0 * 1024 * 1024;
}

// keep (not null): the caller will need the weight gradients (and, with
// need_dx, the input's); *keep is then the kept fields, or undefined.
at::Tensor forward_impl(const at::Tensor& x, const at::Tensor& temporal, const at::Tensor& spatial,
                        const at::Tensor& bias, const Geometry& g, at::Tensor* keep, bool need_dx) {
  Plan p = best_plan(g, false, false, false);
  if (keep && worth_keeping(p, g, need_dx)) {
    // The field is zero outside the positions stage 1 writes (f_f).
    const int64_t n = g.batch * g.in * p.blocks * p.f.size() * kLanes;
    *keep = static_cast<int64_t>(p.f_f.size()) == p.f.size() ? at::empty({n}, x.options())
                                                              : at::zeros({n}, x.options());
    p.kept_f = keep->data_ptr<float>();
  }
  const at::Tensor w1 = pack(p.spatial_first ? spatial : temporal, p.blocks);
  const at::Tensor w2 = pack(p.spatial_first ? temporal : spatial, p.blocks);
  p.w1 = w1.data_ptr<float>();
  p.w2 = w2.data_ptr<float>();
  at::Tensor y = at::empty({g.batch, g.out, p.y.t, p.y.h, p.y.w}, x.options());
  const float* xd = x.data_ptr<float>();
  const float* bd = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* yd = y.data_ptr<float>();
  const int64_t scratch = Scratch(p, false).total();
  const int64_t threads = at::get_num_threads();
  if (g.batch >= threads || g.in == 1) {  // threads split the batch
    at::parallel_for(0, g.batch, 1, [&](int64_t b0, int64_t b1) {
      at::Tensor s = at::zeros({scratch}, x.options());
      loops().forward(p, b0, b1, 0, g.in, xd, bd, yd, s.data_ptr<float>());
    });
    return y;
  }
  // A batch smaller than the threads (an MEI: batch 1): threads split the
  // input channels, each summing its share into its own copy of y.
  const int64_t parts = std::min(threads, g.in);
  at::Tensor partial = at::empty({parts, g.batch, g.out, p.y.t, p.y.h, p.y.w}, x.options());
  float* pd = partial.data_ptr<float>();
  at::parallel_for(0, parts, 1, [&](int64_t t0, int64_t t1) {
    at::Tensor s = at::zeros({scratch}, x.options());
    for (int64_t t = t0; t < t1; ++t)
      loops().forward(p, 0, g.batch, g.in * t / parts, g.in * (t + 1) / parts, xd, t == 0 ? bd : nullptr,
                      pd + t * y.numel(), s.data_ptr<float>());
  });
  at::sum_out(y, partial, 0);
  return y;
}

// Gradients of x, temporal and spatial (undefined where not needed); `kept`:
// the forward's stage-1 fields, in the order spatial first or not, or undefined.
std::array<at::Tensor, 3> backward_impl(const at::Tensor& x, const at::Tensor& temporal, const at::Tensor& spatial,
                                        const at::Tensor& g, const Geometry& geo, bool need_dx, bool need_dt,
                                        bool need_ds, const at::Tensor& kept, bool kept_spatial_first) {
  const bool need_dw = need_dt || need_ds;
  Plan p = best_plan(geo, true, need_dx, need_dw);
  if (need_dw && kept.defined() && kept_spatial_first == p.spatial_first &&
      kept.numel() == geo.batch * geo.in * p.blocks * p.f.size() * kLanes)
    p.kept_f = const_cast<float*>(kept.data_ptr<float>());  // read only
  p.need_dx = need_dx;
  p.need_dw = need_dw;
  const at::Tensor w1 = pack(p.spatial_first ? spatial : temporal, p.blocks);
  const at::Tensor w2 = pack(p.spatial_first ? temporal : spatial, p.blocks);
  p.w1 = w1.data_ptr<float>();
  p.w2 = w2.data_ptr<float>();
  at::Tensor dx = need_dx ? at::empty_like(x) : at::Tensor();
  // Weight gradients: one slot per thread, summed afterwards.
  const int64_t threads = at::get_num_threads();
  const int64_t slot1 = p.in * p.blocks * p.n1 * kLanes, slot2 = p.in * p.blocks * p.n2 * kLanes;
  at::Tensor dw1 = at::zeros({need_dw ? threads : 0, p.in, p.blocks, p.n1, kLanes}, x.options());
  at::Tensor dw2 = at::zeros({need_dw ? threads : 0, p.in, p.blocks, p.n2, kLanes}, x.options());
  const float* xd = x.data_ptr<float>();
  const float* gd = g.data_ptr<float>();
  float* dxd = need_dx ? dx.data_ptr<float>() : nullptr;
  float* dw1d = need_dw ? dw1.data_ptr<float>() : nullptr;
  float* dw2d = need_dw ? dw2.data_ptr<float>() : nullptr;
  const int64_t scratch = Scratch(p, true).total();
  at::parallel_for(0, geo.batch * geo.in, 1, [&](int64_t k0, int64_t k1) {
    const int64_t tid = need_dw ? at::get_thread_num() : 0;
    TORCH_CHECK(tid < threads, "st_separable_conv3d: thread ", tid, " of ", threads);
    at::Tensor s = at::zeros({scratch}, x.options());
    loops().backward(p, k0, k1, xd, gd, dxd, need_dw ? dw1d + tid * slot1 : nullptr,
                     need_dw ? dw2d + tid * slot2 : nullptr, s.data_ptr<float>());
  });
  at::Tensor dt, ds;
  if (need_dw) {
    at::Tensor d1 = unpack(dw1, geo.out, (p.spatial_first ? spatial : temporal).sizes());
    at::Tensor d2 = unpack(dw2, geo.out, (p.spatial_first ? temporal : spatial).sizes());
    dt = p.spatial_first ? d2 : d1;
    ds = p.spatial_first ? d1 : d2;
  }
  return {dx, need_dt ? dt : at::Tensor(), need_ds ? ds : at::Tensor()};
}

class STSeparableConv3dFunction : public torch::autograd::Function<STSeparableConv3dFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& temporal,
                            const at::Tensor& spatial, const at::Tensor& bias, std::vector<int64_t> before,
                            std::vector<int64_t> after, bool need_dw) {
    const at::Tensor xc = x.contiguous(), tc = temporal.contiguous(), sc = spatial.contiguous();
    ctx->save_for_backward({xc, tc, sc});
    ctx->saved_data["before"] = before;
    ctx->saved_data["after"] = after;
    const Geometry g = geometry(xc, tc, sc, {before[0], before[1], before[2]}, {after[0], after[1], after[2]});
    at::Tensor kept;
    at::Tensor y = forward_impl(xc, tc, sc, bias.numel() > 0 ? bias.contiguous() : at::Tensor(), g,
                                need_dw ? &kept : nullptr, x.requires_grad());
    if (kept.defined()) {
      ctx->saved_data["fields"] = kept;
      ctx->saved_data["fields_spatial_first"] = best_plan(g, false, false, false).spatial_first;
    }
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    refuse_double_backward("st_separable_conv3d");
    const auto saved = ctx->get_saved_variables();
    const auto before = ctx->saved_data["before"].toIntVector(), after = ctx->saved_data["after"].toIntVector();
    const at::Tensor g = grad_outputs[0].contiguous();
    const Geometry geo =
        geometry(saved[0], saved[1], saved[2], {before[0], before[1], before[2]}, {after[0], after[1], after[2]});
    const bool need_dx = ctx->needs_input_grad(0), need_dt = ctx->needs_input_grad(1),
               need_ds = ctx->needs_input_grad(2), need_db = ctx->needs_input_grad(3);
    at::Tensor dx, dt, ds, db;
    if (need_dx || need_dt || need_ds) {
      const bool kept = ctx->saved_data.count("fields") > 0;
      auto grads = backward_impl(saved[0], saved[1], saved[2], g, geo, need_dx, need_dt, need_ds,
                                 kept ? ctx->saved_data["fields"].toTensor() : at::Tensor(),
                                 kept && ctx->saved_data["fields_spatial_first"].toBool());
      dx = grads[0], dt = grads[1], ds = grads[2];
    }
    if (need_db) db = g.sum({0, 2, 3, 4});  // (no bias: an empty tensor, which needs no gradient)
    return {dx, dt, ds, db, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor st_separable_conv3d(const at::Tensor& x, const at::Tensor& temporal, const at::Tensor& spatial,
                               const at::Tensor& bias, std::array<int64_t, 3> pad_before,
                               std::array<int64_t, 3> pad_after) {
  TORCH_CHECK(x.dim() == 5 && temporal.dim() == 3 && spatial.dim() == 4,
              "st_separable_conv3d: expects x (B, I, T, H, W), temporal (O, I, kt) and spatial (O, I, kh, kw), got ",
              x.sizes(), ", ", temporal.sizes(), ", ", spatial.sizes());
  TORCH_CHECK(temporal.size(0) == spatial.size(0) && temporal.size(1) == x.size(1) && spatial.size(1) == x.size(1),
              "st_separable_conv3d: channel counts differ: x ", x.sizes(), ", temporal ", temporal.sizes(),
              ", spatial ", spatial.sizes());
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == temporal.size(0)),
              "st_separable_conv3d: bias must have one entry per output channel");
  for (const at::Tensor* t : {&x, &temporal, &spatial, &bias})
    TORCH_CHECK(!t->defined() || (t->device().is_cpu() && t->scalar_type() == at::kFloat),
                "st_separable_conv3d: float32 CPU tensors only");
  const int64_t kernel[3] = {temporal.size(2), spatial.size(2), spatial.size(3)};
  for (int d = 0; d < 3; ++d) {
    TORCH_CHECK(pad_before[d] >= 0 && pad_after[d] >= 0, "st_separable_conv3d: negative padding");
    TORCH_CHECK(x.size(2 + d) + pad_before[d] + pad_after[d] >= kernel[d],
                "st_separable_conv3d: the padded input ", x.sizes(), " is smaller than the kernel (", kernel[0], ", ",
                kernel[1], ", ", kernel[2], ")");
  }
  // Autograd functions take no undefined tensors: no bias is an empty one.
  return STSeparableConv3dFunction::apply(x, temporal, spatial, bias.defined() ? bias : at::empty({0}, x.options()),
                                          std::vector<int64_t>(pad_before.begin(), pad_before.end()),
                                          std::vector<int64_t>(pad_after.begin(), pad_after.end()),
                                          // Grad mode is off inside the autograd function's forward: asked here.
                                          at::GradMode::is_enabled() && (temporal.requires_grad() || spatial.requires_grad()));
}

}  // namespace fovea::nn
