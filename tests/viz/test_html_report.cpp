// The HTML index of `fovea visualize`: the embedded data is escaped and
// complete, and the page renders without errors in headless Chromium (every
// neuron and channel listed, videos pointing at existing files, tables
// sorted by FEVE, sorting/filtering/detail views working when clicked).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "fovea/error.h"
#include "fovea/viz/html_report.h"
#include "test_util.h"
#include "viz/headless_chromium.h"

namespace fs = std::filesystem;
using fovea::test::TempDir;
using nlohmann::json;
namespace viz = fovea::viz;
using namespace fovea::test::dom;

namespace {

// ---------------------------------------------------------------- files

void write_png(const fs::path& path, int width, int height, int seed) {
  fs::create_directories(path.parent_path());
  cv::Mat m(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>((x * 40 + seed * 30) % 256),
                                        static_cast<uint8_t>((y * 40 + seed * 70) % 256), static_cast<uint8_t>(seed * 50 % 256));
  ASSERT_TRUE(cv::imwrite(path.string(), m)) << path;
}

// A few frames of H.264 (what browsers play); 16×16 (H.264 wants even sizes).
void write_mp4(const fs::path& path, int seed) {
  fs::create_directories(path.parent_path());
  cv::VideoWriter writer(path.string(), cv::VideoWriter::fourcc('a', 'v', 'c', '1'), 10, cv::Size(16, 16), true);
  ASSERT_TRUE(writer.isOpened()) << "OpenCV cannot write H.264 mp4: " << path;
  for (int t = 0; t < 6; ++t) writer.write(cv::Mat(16, 16, CV_8UC3, cv::Scalar((t * 40 + seed * 20) % 256, 100, 200)));
  writer.release();
  ASSERT_TRUE(fs::exists(path) && fs::file_size(path) > 0) << path;
}


const std::string kEvilName = "evil <\"session\"> </script><script>window.pwned=1</script> & <!-- x";

// 2 layers × 3 channels; session "session_a" with 5 neurons and metrics
// (one FEVE NaN), a session with a hostile name with 7 neurons and no
// metrics; every referenced file exists except one "missing" image, and a few
// paths are empty ("not produced"). Session A's videos have a space and '#'
// in their names (the page must URL-encode them).
viz::ModelReport make_report(const fs::path& dir) {
  viz::ModelReport r;
  r.title = "test model";
  r.model_path = "/models/test.safetensors";
  r.info = {{"family", "retina"},
            {"core", {{"type", "st_separable_conv3d"}, {"hidden_channels", {3, 3}}}},
            {"parameters", 1234}};
  r.summary_images = {"img/summary_feve.png"};
  write_png(dir / "img/summary_feve.png", 64, 48, 1);
  for (int li = 0; li < 2; ++li) {
    viz::ReportLayer layer;
    layer.name = "features.layer" + std::to_string(li);
    layer.in_channels = li == 0 ? 2 : 3;
    layer.out_channels = 3;
    layer.description = "space-time separable conv";
    layer.summary_images = {"img/layer" + std::to_string(li) + ".png"};
    write_png(dir / layer.summary_images[0], 40, 30, li);
    for (int c = 0; c < 3; ++c) {
      viz::ReportChannel ch;
      ch.index = c;
      const std::string stem = "layer" + std::to_string(li) + "/channel" + std::to_string(c);
      for (int k = 0; k < layer.in_channels; ++k) {
        ch.weight_images.push_back(stem + "_in" + std::to_string(k) + ".png");
        write_png(dir / ch.weight_images.back(), 11, 11, c + k);
      }
      ch.mei_image = stem + "_mei.png";
      write_png(dir / ch.mei_image, 16, 16, c);
      ch.mei_video = stem + "_mei.mp4";
      write_mp4(dir / ch.mei_video, c);
      layer.channels.push_back(ch);
    }
    r.layers.push_back(layer);
  }
  viz::ReportSession a;
  a.name = "session_a";
  a.summary_images = {"img/session_a_positions.png"};
  write_png(dir / a.summary_images[0], 30, 30, 3);
  const double feve[5] = {0.2, 0.9, std::nan(""), 0.5, 0.7};
  for (int n = 0; n < 5; ++n) {
    viz::ReportNeuron neuron;
    neuron.index = n;
    neuron.weight_image = "session a/neuron " + std::to_string(n) + "_weights.png";
    write_png(dir / neuron.weight_image, 20, 20, n);
    neuron.mei_image = "session a/neuron " + std::to_string(n) + "_mei.png";
    write_png(dir / neuron.mei_image, 16, 16, n);
    neuron.mei_video = "session a/neuron #" + std::to_string(n) + ".mp4";
    write_mp4(dir / neuron.mei_video, n);
    neuron.evaluation_images = {"session a/neuron " + std::to_string(n) + "_eval.png"};
    write_png(dir / neuron.evaluation_images[0], 40, 20, n);
    neuron.metrics = {{"feve", feve[n]}, {"correlation", 0.1 * n}, {"oracle", 0.8}};
    neuron.labels = {{"cell_type", n % 2 ? "ON sustained" : "OFF transient"}};
    a.neurons.push_back(neuron);
  }
  viz::ReportSession b;
  b.name = kEvilName;
  for (int n = 0; n < 7; ++n) {
    viz::ReportNeuron neuron;
    neuron.index = 10 + n;
    neuron.weight_image = n == 3 ? "" : "evil/w" + std::to_string(n) + ".png";  // neuron 13: not produced
    if (!neuron.weight_image.empty()) write_png(dir / neuron.weight_image, 20, 20, n);
    neuron.mei_image = "evil/mei" + std::to_string(n) + ".png";
    if (n != 4) write_png(dir / neuron.mei_image, 16, 16, n);  // neuron 14: a missing file
    neuron.mei_video = n == 6 ? "" : "evil/mei" + std::to_string(n) + ".mp4";  // neuron 16: no video
    if (!neuron.mei_video.empty()) write_mp4(dir / neuron.mei_video, n);
    b.neurons.push_back(neuron);
  }
  r.sessions = {a, b};
  return r;
}

}  // namespace

// ---------------------------------------------------------------- without a browser

TEST(HtmlReport, EmbeddedJsonIsEscapedAndRoundTrips) {
  TempDir dir;
  viz::ModelReport r;
  r.title = "A <b>\"model\"</b> & </script><script>alert(1)</script>";
  r.info = {{"note", "</SCRIPT><!-- <script>"}};
  viz::ReportLayer layer;
  layer.name = "features.</script>layer0";
  layer.channels = {viz::ReportChannel{0, {}, "", ""}};
  r.layers = {layer};
  viz::ReportSession s;
  s.name = kEvilName;
  viz::ReportNeuron n;
  n.index = 3;
  n.metrics = {{"feve", std::nan("")}, {"correlation", 0.25}};
  n.labels = {{"type", "<!--"}};
  s.neurons = {n};
  viz::ReportSession bad_utf8;
  bad_utf8.name = std::string("bad \xff\xfe utf8");
  r.sessions = {s, bad_utf8};

  const std::string page = viz::render_html_report(r, dir.path());
  // Only the page's own three scripts open and close; no comment can open.
  auto count = [&](const std::string& needle) {
    std::string lower = page;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t k = 0, pos = 0;
    while ((pos = lower.find(needle, pos)) != std::string::npos) ++k, ++pos;
    return k;
  };
  EXPECT_EQ(count("<script"), 3u);
  EXPECT_EQ(count("</script"), 3u);
  EXPECT_EQ(count("<!--"), 0u);
  EXPECT_NE(page.find("<title>A &lt;b&gt;&quot;model&quot;&lt;/b&gt; &amp; &lt;/script&gt;"), std::string::npos);

  const std::string open = "<script type=\"application/json\" id=\"fovea-data\">";
  const size_t a = page.find(open), b = page.find("</script>", a);
  ASSERT_NE(a, std::string::npos);
  const json data = json::parse(page.substr(a + open.size(), b - a - open.size()));
  EXPECT_EQ(data["title"], r.title);
  EXPECT_EQ(data["info"]["note"], "</SCRIPT><!-- <script>");
  EXPECT_EQ(data["layers"][0]["name"], layer.name);
  EXPECT_EQ(data["sessions"][0]["name"], kEvilName);
  EXPECT_EQ(data["sessions"][0]["neurons"][0]["labels"]["type"], "<!--");
  EXPECT_TRUE(data["sessions"][0]["neurons"][0]["metrics"]["feve"].is_null());  // NaN
  EXPECT_EQ(data["sessions"][0]["neurons"][0]["metrics"]["correlation"], 0.25);
  EXPECT_EQ(data["sessions"][0]["metric_keys"], json({"feve", "correlation"}));  // FEVE first
  EXPECT_EQ(data["sessions"][0]["default_sort"], "feve");
  EXPECT_EQ(data["sessions"][1]["name"], "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8");  // U+FFFD, no throw
}

TEST(HtmlReport, PathsAreRelativeMissingFilesListedDuplicatesRejected) {
  TempDir dir;
  const fs::path out = dir.path() / "nested" / "report";
  write_png(out / "a.png", 8, 8, 0);
  viz::ModelReport r;
  viz::ReportSession s;
  s.name = "s";
  viz::ReportNeuron n;
  n.index = 0;
  n.weight_image = (out / "a.png").string();  // absolute inside the directory → relative
  n.mei_image = "not_there.png";
  n.mei_video = "";
  s.neurons = {n};
  r.sessions = {s};
  const fs::path page = viz::write_html_report(r, out);
  EXPECT_EQ(page, out / "index.html");
  const std::string html = read_text(page);
  EXPECT_NE(html.find("\"weight_image\":\"a.png\""), std::string::npos);
  EXPECT_NE(html.find("\"missing\":[\"not_there.png\"]"), std::string::npos);
  EXPECT_NE(html.find("\"mei_video\":\"\""), std::string::npos);
  // Atomic write: only the page and the image are in the directory.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a.png", "index.html"}));

  r.sessions[0].neurons.push_back(n);  // neuron 0 twice
  EXPECT_THROW(viz::render_html_report(r, out), fovea::Error);
  viz::ModelReport l;
  l.layers = {viz::ReportLayer{"conv", 1, 2, "", {}, {viz::ReportChannel{1, {}, "", ""}, viz::ReportChannel{1, {}, "", ""}}}};
  EXPECT_THROW(viz::render_html_report(l, out), fovea::Error);
}

// ---------------------------------------------------------------- in headless Chromium

TEST(HtmlReport, RendersInHeadlessChromium) {
  TempDir dir;
  const fs::path out = dir.path() / "report";
  const viz::ModelReport report = make_report(out);
  const fs::path page = viz::write_html_report(report, out);
  double seconds = 0;
  const std::string dom = dump_dom(page, dir.path() / "chromium", &seconds);
  ASSERT_FALSE(dom.empty());
  std::cout << "[ chromium ] rendered the report in " << seconds << " s\n";
  ASSERT_EQ(body_status(dom), "ok");
  const std::string html = strip_scripts(dom);

  // Every channel of every layer, once.
  const auto cards = find_tags(html, "div");
  for (size_t li = 0; li < report.layers.size(); ++li)
    for (const auto& c : report.layers[li].channels) {
      int found = 0;
      for (const auto& t : cards)
        if (t.get("id") == "l" + std::to_string(li) + "-c" + std::to_string(c.index) &&
            t.get("data-layer") == report.layers[li].name && t.get("data-channel") == std::to_string(c.index))
          ++found;
      EXPECT_EQ(found, 1) << report.layers[li].name << " channel " << c.index;
    }

  // Every neuron of every session, once; session A's rows in descending FEVE (NaN last).
  const auto rows = find_tags(html, "tr");
  for (size_t si = 0; si < report.sessions.size(); ++si)
    for (const auto& n : report.sessions[si].neurons) {
      int found = 0;
      for (const auto& t : rows)
        if (t.get("data-session-index") == std::to_string(si) && t.get("data-neuron") == std::to_string(n.index)) ++found;
      EXPECT_EQ(found, 1) << "session " << si << " neuron " << n.index;
    }
  std::vector<Tag> rows_a;
  for (const auto& t : rows)
    if (t.get("data-session-index") == "0" && t.has("data-neuron")) rows_a.push_back(t);
  ASSERT_EQ(rows_a.size(), 5u);
  std::vector<std::string> order;
  for (const auto& t : rows_a) order.push_back(t.get("data-neuron"));
  EXPECT_EQ(order, (std::vector<std::string>{"1", "4", "3", "0", "2"}));  // FEVE .9 .7 .5 .2 NaN
  std::vector<double> feve;
  for (const auto& t : find_tags(html, "td"))
    if (t.get("data-key") == "feve" && !t.get("data-value").empty()) feve.push_back(std::stod(t.get("data-value")));
  ASSERT_EQ(feve.size(), 4u);
  EXPECT_TRUE(std::is_sorted(feve.rbegin(), feve.rend()));
  for (const auto& t : find_tags(html, "table"))
    if (t.get("data-session-index") == "0") {
      EXPECT_EQ(t.get("data-sort-key"), "metric:feve");
      EXPECT_EQ(t.get("data-sort-dir"), "desc");
    }

  // The first neuron's video has a source that exists (its name has a space and '#').
  const auto sources = find_tags(html, "source");
  const Tag* first_source = nullptr;
  for (const auto& s : sources)
    if (s.pos > rows_a[0].pos && (rows_a.size() < 2 || s.pos < rows_a[1].pos)) first_source = &s;
  ASSERT_NE(first_source, nullptr) << "no <source> in the first row of session_a";
  const std::string src = first_source->get("src");
  EXPECT_EQ(percent_decode(src), "session a/neuron #1.mp4");
  EXPECT_TRUE(fs::exists(out / percent_decode(src))) << src;
  size_t video_count = 0;
  for (const auto& v : find_tags(html, "video")) {
    ++video_count;
    EXPECT_TRUE(v.has("muted") && v.has("loop") && v.has("playsinline"));
    EXPECT_EQ(v.get("preload"), "none");  // controls come on hover (see the next test)
  }
  EXPECT_EQ(video_count, 6u + 5u + 6u);  // channels, session A, session B without neuron 16

  // Every image and video the page links exists: empty and missing paths are placeholders.
  size_t linked = 0;
  for (const std::string tag : {"img", "source"})
    for (const auto& t : find_tags(html, tag)) {
      ++linked;
      EXPECT_TRUE(fs::exists(out / percent_decode(t.get("src")))) << tag << " src=" << t.get("src");
      if (tag == "img") EXPECT_EQ(t.get("loading"), "lazy");
    }
  EXPECT_GT(linked, 40u);
  size_t placeholders = 0;
  for (const auto& t : find_tags(html, "span"))
    if (t.has("data-placeholder")) ++placeholders;
  EXPECT_EQ(placeholders, 3u);  // neuron 13's weights, neuron 14's missing MEI, neuron 16's video

  // The hostile session name is shown as text, and nothing it contained ran.
  bool heading = false;
  for (const auto& t : find_tags(html, "section"))
    if (t.get("id") == "session-1") {
      EXPECT_EQ(t.get("data-session"), kEvilName);
      const auto h3 = find_tags(html.substr(t.end), "h3");
      ASSERT_FALSE(h3.empty());
      EXPECT_EQ(inner_text(html.substr(t.end), h3[0], "h3"), kEvilName);
      heading = true;
    }
  EXPECT_TRUE(heading);
  EXPECT_EQ(dom.find("window.pwned=1</script>"), std::string::npos);
}

// Clicks and keys, run inside the page: an extra script appended to a copy of
// the page drives the UI and writes what it saw into <pre id="result">.
TEST(HtmlReport, SortFilterAndDetailViewWorkInHeadlessChromium) {
  TempDir dir;
  const fs::path out = dir.path() / "report";
  const viz::ModelReport report = make_report(out);
  const fs::path page = viz::write_html_report(report, out);
  std::string html = read_text(page);
  const std::string driver = R"JS(<script>
(function () {
  var R = {};
  function order(si) {
    return Array.prototype.map.call(document.querySelectorAll('table[data-session-index="' + si + '"] tbody tr'),
                                    function (tr) { return +tr.dataset.neuron; });
  }
  function visible(si) {
    return Array.prototype.filter.call(document.querySelectorAll('table[data-session-index="' + si + '"] tbody tr'),
                                       function (tr) { return !tr.hidden; }).map(function (tr) { return +tr.dataset.neuron; });
  }
  function th(si, key) { return document.querySelector('table[data-session-index="' + si + '"] th[data-key="' + key + '"]'); }
  function done() {
    var pre = document.createElement('pre'); pre.id = 'result'; pre.textContent = JSON.stringify(R);
    document.body.appendChild(pre); document.body.dataset.done = '1';
  }
  var t0 = Date.now();
  (function waitForPage() {  // sessions after the first render in later tasks
    if (document.body.dataset.status === 'loading' && Date.now() - t0 < 3000) setTimeout(waitForPage, 20);
    else drive();
  })();
  function drive() {
  R.status = document.body.dataset.status;
  var thumb = document.querySelector('tr[data-session-index="0"] video');
  R.thumbControlsBefore = thumb.controls;
  thumb.dispatchEvent(new MouseEvent('mouseenter'));
  R.thumbControlsAfter = thumb.controls;
  thumb.dispatchEvent(new MouseEvent('mouseleave'));
  R.initial = order(0);
  th(0, 'index').click(); R.byIndex = order(0);
  th(0, 'index').click(); R.byIndexDesc = order(0);
  th(0, 'metric:correlation').click(); R.byCorr = order(0);
  th(0, 'metric:feve').click(); R.byFeve = order(0);
  th(0, 'metric:feve').click(); R.byFeveAsc = order(0);
  th(0, 'label:cell_type').click(); R.byType = order(0);
  var search = document.querySelector('#session-0 input[type=search]');
  var min = document.querySelector('#session-0 input[type=number]');
  search.value = '0, 2-3'; search.dispatchEvent(new Event('input')); R.filterIdx = visible(0).sort();
  search.value = 'on sus'; search.dispatchEvent(new Event('input')); R.filterLabel = visible(0).sort();
  search.value = ''; search.dispatchEvent(new Event('input'));
  min.value = '0.6'; min.dispatchEvent(new Event('input')); R.filterMin = visible(0).sort();
  R.count = document.querySelector('#session-0 .count').textContent;
  min.value = ''; min.dispatchEvent(new Event('input'));
  th(0, 'metric:feve').click();  // back to descending FEVE: 1 4 3 0 2
  document.querySelector('tr[data-session-index="0"][data-neuron="4"] td.idx a').click();
  setTimeout(function () {
    var d = document.getElementById('detail');
    R.detailOpen = !d.hidden;
    R.detailTitle = d.querySelector('h2') && d.querySelector('h2').textContent;
    R.hash = location.hash;
    var v = d.querySelector('video');
    R.detailVideo = v ? v.querySelector('source').getAttribute('src') : null;
    document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}));
    setTimeout(function () {
      R.nextTitle = d.querySelector('h2') && d.querySelector('h2').textContent;
      document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));
      R.closed = d.hidden;
      location.hash = '#detail/l1-c2';
      setTimeout(function () {
        R.channelTitle = d.querySelector('h2') && d.querySelector('h2').textContent;
        R.channelWeights = d.querySelectorAll('img.big').length;
        var vid = d.querySelector('video');
        var t0 = Date.now();
        (function wait() {
          // Virtual time races ahead while the decoder works in real time:
          // poll long enough (in ticks) for a loaded machine to decode.
          if (vid.readyState >= 2 || vid.error || Date.now() - t0 > 40000) {
            R.videoReadyState = vid.readyState; R.videoWidth = vid.videoWidth;
            document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));
            document.querySelector('#overview img.fig').click();
            R.lightbox = !document.getElementById('lightbox').hidden;
            R.finalStatus = document.body.dataset.status;
            done();
          } else setTimeout(wait, 50);
        })();
      }, 50);
    }, 50);
  }, 50);
  }
})();
</script>
)JS";
  html.insert(html.rfind("</body>"), driver);
  const fs::path test_page = out / "index_driven.html";
  std::ofstream(test_page) << html;
  double seconds = 0;
  const std::string dom = dump_dom(test_page, dir.path() / "chromium", &seconds, /*virtual_ms=*/60000);
  ASSERT_FALSE(dom.empty());
  std::cout << "[ chromium ] drove the report in " << seconds << " s\n";
  const auto pres = find_tags(dom, "pre");
  const Tag* result = nullptr;
  for (const auto& p : pres)
    if (p.get("id") == "result") result = &p;
  ASSERT_NE(result, nullptr) << "the driver did not finish; body status: " << body_status(dom);
  const json r = json::parse(inner_text(dom, *result, "pre"));
  SCOPED_TRACE(r.dump());
  EXPECT_EQ(r["status"], "ok");
  EXPECT_EQ(r["thumbControlsBefore"], false);
  EXPECT_EQ(r["thumbControlsAfter"], true);
  EXPECT_EQ(r["initial"], json({1, 4, 3, 0, 2}));
  EXPECT_EQ(r["byIndex"], json({0, 1, 2, 3, 4}));
  EXPECT_EQ(r["byIndexDesc"], json({4, 3, 2, 1, 0}));
  EXPECT_EQ(r["byCorr"], json({4, 3, 2, 1, 0}));  // numeric columns sort descending first
  EXPECT_EQ(r["byFeve"], json({1, 4, 3, 0, 2}));
  EXPECT_EQ(r["byFeveAsc"], json({0, 3, 4, 1, 2}));  // NaN stays last
  EXPECT_EQ(r["byType"], json({0, 2, 4, 1, 3}));     // "OFF transient" < "ON sustained", ties by index
  EXPECT_EQ(r["filterIdx"], json({0, 2, 3}));
  EXPECT_EQ(r["filterLabel"], json({1, 3}));
  EXPECT_EQ(r["filterMin"], json({1, 4}));
  EXPECT_EQ(r["count"], "showing 2 of 5");
  EXPECT_EQ(r["detailOpen"], true);
  EXPECT_EQ(r["detailTitle"], "session_a \u00b7 neuron 4");
  EXPECT_EQ(r["hash"], "#detail/s0-n4");
  EXPECT_EQ(r["detailVideo"], "session%20a/neuron%20%234.mp4");
  EXPECT_EQ(r["nextTitle"], "session_a \u00b7 neuron 3");  // the next row in FEVE order
  EXPECT_EQ(r["closed"], true);
  EXPECT_EQ(r["channelTitle"], "features.layer1 \u00b7 channel 2");
  EXPECT_EQ(r["channelWeights"], 4);  // MEI + 3 input channels
  EXPECT_GE(r["videoReadyState"].get<int>(), 2) << "Chromium could not decode the H.264 mp4";
  EXPECT_EQ(r["videoWidth"], 16);
  EXPECT_EQ(r["lightbox"], true);
  EXPECT_EQ(r["finalStatus"], "ok");
}
