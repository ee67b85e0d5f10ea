#pragma once
// Helpers of the fast-kernel tests (tests/nn/test_*_fast.cpp,
// test_depthwise_conv2d.cpp): an error measure for gradient checks and a way
// to see which autograd function ran.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>

#include <deque>
#include <set>
#include <string>

namespace fovea::test {

// max|a − b| / max|b|, in float64 (max|a − b| where b is all zero).
inline double max_relative_error(const at::Tensor& a, const at::Tensor& b) {
  auto x = a.to(at::kDouble), y = b.to(at::kDouble);
  const double scale = y.abs().max().item<double>(), error = (x - y).abs().max().item<double>();
  return scale > 0 ? error / scale : error;
}

// True when the autograd graph of `t` contains a node whose name contains `name`.
inline bool graph_contains(const at::Tensor& t, const std::string& name) {
  std::deque<torch::autograd::Node*> todo{t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  while (!todo.empty()) {
    auto* node = todo.front();
    todo.pop_front();
    if (!node || !seen.insert(node).second) continue;
    if (node->name().find(name) != std::string::npos) return true;
    for (const auto& edge : node->next_edges()) todo.push_back(edge.function.get());
  }
  return false;
}

}  // namespace fovea::test
