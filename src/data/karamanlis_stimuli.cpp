// Rendering the Karamanlis 2024 fixation movies (returnFixMovie.m) and
// resizing them as torchvision does (see fovea/data/karamanlis_dataset.h).
#include <ATen/ATen.h>

#include <algorithm>

#include "fovea/data/karamanlis_dataset.h"
#include "fovea/error.h"

namespace fovea::data {

at::Tensor render_fixation_frames(const at::Tensor& images, const at::Tensor& fixations, int64_t first, int64_t count,
                                  const std::string& origin) {
  const int64_t n_img = images.size(0), image_h = images.size(1), image_w = images.size(2);
  at::Tensor screen = at::zeros({count, kKaramanlisScreenHeight, kKaramanlisScreenWidth}, at::kFloat);
  const at::Tensor fix = fixations.to(at::kLong).contiguous();
  const int64_t* f = fix.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t* row = f + 3 * (first + i);
    const int64_t image = row[0] - 1;  // MATLAB numbers the images from 1
    const int64_t tau_x = row[1], tau_y = row[2];
    check(image >= 0 && image < n_img, origin,
          "fixation " + std::to_string(first + i) + " names image " + std::to_string(row[0]) + ", the file has " +
              std::to_string(n_img) + " (numbered from 1)");
    // Screen pixel (py, px) shows image pixel (py + τy − 300, px + τx − 400).
    const int64_t dy = tau_y - kKaramanlisScreenHeight / 2, dx = tau_x - kKaramanlisScreenWidth / 2;
    const int64_t y0 = std::max<int64_t>(0, -dy), y1 = std::min<int64_t>(kKaramanlisScreenHeight, image_h - dy);
    const int64_t x0 = std::max<int64_t>(0, -dx), x1 = std::min<int64_t>(kKaramanlisScreenWidth, image_w - dx);
    if (y1 <= y0 || x1 <= x0) continue;  // the image lies entirely off the screen
    screen[i].narrow(0, y0, y1 - y0).narrow(1, x0, x1 - x0).copy_(
        images[image].narrow(0, y0 + dy, y1 - y0).narrow(1, x0 + dx, x1 - x0));
  }
  return screen;
}

at::Tensor resize_bilinear_antialias(const at::Tensor& frames, int64_t height, int64_t width) {
  // torchvision's Resize on a float tensor is interpolate(bilinear,
  // align_corners=False, antialias=True), i.e. this kernel; frames are channels.
  const at::Tensor x = frames.to(at::kFloat).unsqueeze(0).contiguous();
  return at::_upsample_bilinear2d_aa(x, {height, width}, /*align_corners=*/false, c10::nullopt, c10::nullopt)
      .squeeze(0);
}

}  // namespace fovea::data
