// The HTML index of `fovea visualize`: one self-contained page (HTML + CSS +
// JavaScript, no network) with the report's data embedded as one JSON object.
#include "fovea/viz/html_report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <system_error>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fovea::viz {
namespace {

// ---------------------------------------------------------------- escaping

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON that is safe inside <script type="application/json">: '<', '>' and '&'
// only occur inside JSON strings, where \u003c etc. mean the same characters,
// so "</script>" and "<!--" can never end or confuse the script element.
// Invalid UTF-8 (a name read from a file) becomes U+FFFD instead of throwing.
std::string script_json(const json& value) {
  const std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + 64);
  for (const char c : text) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

// ---------------------------------------------------------------- the data

class PathResolver {
 public:
  explicit PathResolver(const fs::path& dir) : dir_(fs::absolute(dir).lexically_normal()) {}

  // The path relative to the report's directory, with '/' separators; an
  // absolute path is made relative to the directory. Missing files are noted.
  std::string operator()(const std::string& path) {
    if (path.empty()) return "";
    fs::path p(path);
    if (p.is_absolute()) p = p.lexically_normal().lexically_relative(dir_);
    std::string relative = p.generic_string();
    if (relative.empty()) relative = path;
    std::error_code ec;
    if (!fs::exists(dir_ / p, ec)) missing_.insert(relative);
    return relative;
  }

  json paths(const std::vector<std::string>& list) {
    json out = json::array();
    for (const auto& p : list) out.push_back((*this)(p));
    return out;
  }

  const std::set<std::string>& missing() const { return missing_; }

 private:
  fs::path dir_;
  std::set<std::string> missing_;
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Metric columns: FEVE first, then FEV, correlations, oracles, the rest by name.
int metric_rank(const std::string& key) {
  const std::string k = lower(key);
  if (k == "feve") return 0;
  if (starts_with(k, "feve")) return 1;
  if (starts_with(k, "fev")) return 2;
  if (starts_with(k, "corr")) return 3;
  if (starts_with(k, "oracle")) return 4;
  return 5;
}

// The column a session's table is sorted by at first (descending): "feve",
// else the first metric whose name contains "feve"; none → by neuron index.
std::string default_sort_key(const std::vector<std::string>& keys) {
  for (const auto& k : keys)
    if (lower(k) == "feve") return k;
  for (const auto& k : keys)
    if (lower(k).find("feve") != std::string::npos) return k;
  return "";
}

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json report_data(const ModelReport& report, const fs::path& dir, const std::string& where) {
  PathResolver resolve(dir);
  json data;
  data["title"] = report.title;
  data["model_path"] = report.model_path;
  data["info"] = report.info;
  data["summary_images"] = resolve.paths(report.summary_images);

  data["layers"] = json::array();
  for (const auto& layer : report.layers) {
    json l;
    l["name"] = layer.name;
    l["in_channels"] = layer.in_channels;
    l["out_channels"] = layer.out_channels;
    l["description"] = layer.description;
    l["summary_images"] = resolve.paths(layer.summary_images);
    l["channels"] = json::array();
    std::set<int64_t> seen;
    for (const auto& channel : layer.channels) {
      check(seen.insert(channel.index).second, where,
            "layer '" + layer.name + "' lists channel " + std::to_string(channel.index) + " twice");
      l["channels"].push_back({{"index", channel.index},
                               {"weight_images", resolve.paths(channel.weight_images)},
                               {"mei_image", resolve(channel.mei_image)},
                               {"mei_video", resolve(channel.mei_video)}});
    }
    data["layers"].push_back(std::move(l));
  }

  data["sessions"] = json::array();
  for (const auto& session : report.sessions) {
    json s;
    s["name"] = session.name;
    s["summary_images"] = resolve.paths(session.summary_images);
    std::set<std::string> metric_set, label_set;
    std::set<int64_t> seen;
    s["neurons"] = json::array();
    for (const auto& neuron : session.neurons) {
      check(seen.insert(neuron.index).second, where,
            "session '" + session.name + "' lists neuron " + std::to_string(neuron.index) + " twice");
      json metrics = json::object(), labels = json::object();
      for (const auto& [k, v] : neuron.metrics) {
        metrics[k] = number_or_null(v);
        metric_set.insert(k);
      }
      for (const auto& [k, v] : neuron.labels) {
        labels[k] = v;
        label_set.insert(k);
      }
      s["neurons"].push_back({{"index", neuron.index},
                              {"weight_image", resolve(neuron.weight_image)},
                              {"mei_image", resolve(neuron.mei_image)},
                              {"mei_video", resolve(neuron.mei_video)},
                              {"evaluation_images", resolve.paths(neuron.evaluation_images)},
                              {"metrics", std::move(metrics)},
                              {"labels", std::move(labels)}});
    }
    std::vector<std::string> metric_keys(metric_set.begin(), metric_set.end());
    std::stable_sort(metric_keys.begin(), metric_keys.end(), [](const std::string& a, const std::string& b) {
      return metric_rank(a) < metric_rank(b);
    });
    s["metric_keys"] = metric_keys;
    s["label_keys"] = std::vector<std::string>(label_set.begin(), label_set.end());
    s["default_sort"] = default_sort_key(metric_keys);
    data["sessions"].push_back(std::move(s));
  }
  data["missing"] = std::vector<std::string>(resolve.missing().begin(), resolve.missing().end());
  return data;
}

// ---------------------------------------------------------------- the page

// Sets <body data-status> to "error: ..." on any script error (and shows it).
const char* kErrorScript = R"JS(
window.foveaError = function (text) {
  function set() {
    document.body.dataset.status = 'error: ' + text;
    var b = document.getElementById('error-banner');
    if (b) { b.textContent = 'This page hit a script error: ' + text; b.hidden = false; }
  }
  if (document.body) set(); else document.addEventListener('DOMContentLoaded', set);
};
window.onerror = function (message, source, line) {
  window.foveaError(String(message) + (line ? ' (line ' + line + ')' : ''));
};
window.addEventListener('unhandledrejection', function (e) {
  var r = e.reason;
  window.foveaError('unhandled promise rejection: ' + (r && r.message ? r.message : String(r)));
});
)JS";

const char* kStyle = R"CSS(
:root { --side: 240px; --fg: #1d2330; --muted: #667085; --line: #e3e6eb; --bg: #f7f8fa; --accent: #2f6fdb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
body.modal { overflow: hidden; }
a { color: var(--accent); }
#nav { position: fixed; top: 0; left: 0; bottom: 0; width: var(--side); overflow-y: auto; background: #fff;
       border-right: 1px solid var(--line); padding: 12px 8px 40px; }
#nav .brand { font-weight: 700; padding: 0 8px 6px; overflow-wrap: anywhere; }
#nav a { display: flex; justify-content: space-between; gap: 6px; padding: 2px 8px; border-radius: 4px;
         color: var(--fg); text-decoration: none; overflow-wrap: anywhere; }
#nav a:hover { background: #eef2fb; }
#nav .count { color: var(--muted); font-size: 12px; white-space: nowrap; }
#nav .navhead { margin: 14px 0 4px; font-size: 11px; text-transform: uppercase; letter-spacing: .06em;
                color: var(--muted); padding: 0 8px; }
main { margin-left: var(--side); padding: 16px 28px 80px; }
h1 { font-size: 22px; margin: 4px 0; overflow-wrap: anywhere; }
h2 { font-size: 19px; margin: 36px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 28px 0 2px; overflow-wrap: anywhere; }
.meta { color: var(--muted); margin: 2px 0 8px; }
.empty { color: var(--muted); font-style: italic; }
code, .path { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
#error-banner { background: #fde8e8; color: #8a1c1c; border: 1px solid #f5b5b5; padding: 8px 12px; border-radius: 6px; }
table.info { border-collapse: collapse; margin: 8px 0; background: #fff; }
table.info th, table.info td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
table.info th { background: #f1f3f6; font-weight: 600; white-space: nowrap; }
table.info table.info { margin: 0; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; align-items: flex-start; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figcaption { font-size: 12px; color: var(--muted); text-align: center; overflow-wrap: anywhere; max-width: 420px; margin-top: 2px; }
img { display: block; }
img.fig { height: 220px; max-width: 100%; object-fit: contain; }
img.zoomable { cursor: zoom-in; }
.px { image-rendering: pixelated; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 10px; margin-top: 10px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px 8px; }
.card.target, tr.target { outline: 2px solid var(--accent); outline-offset: -2px; }
.cardhead { display: flex; justify-content: space-between; align-items: baseline; margin-bottom: 4px; }
.cardhead a { font-weight: 600; text-decoration: none; }
.label { font-size: 11px; color: var(--muted); margin: 2px 0; }
.wthumbs { display: flex; flex-wrap: wrap; gap: 3px; margin-bottom: 6px; }
img.wt { width: 40px; height: 40px; object-fit: contain; background: #fff; border: 1px solid var(--line); }
a.more { font-size: 11px; align-self: center; }
.mei { display: flex; gap: 6px; align-items: flex-start; }
img.thumb { width: 120px; height: 90px; object-fit: contain; background: #fff; }
video { image-rendering: pixelated; background: #111; display: block; }
video.vid { width: 120px; height: 90px; object-fit: contain; }
.vidwrap { position: relative; display: inline-block; vertical-align: top; }
.vidwrap::after { content: "\25B6"; position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
                  color: #fff; opacity: .75; font-size: 22px; pointer-events: none; }
.vidwrap.active::after { display: none; }
video.big { width: 360px; max-width: 100%; }
video.broken { outline: 2px solid #d33; }
.ph { display: inline-flex; align-items: center; justify-content: center; width: 120px; height: 90px; padding: 2px;
      background: repeating-linear-gradient(45deg, #f3f4f6, #f3f4f6 6px, #eceef2 6px, #eceef2 12px);
      color: var(--muted); font-size: 11px; border-radius: 3px; text-align: center; }
.ph.wt { width: 40px; height: 40px; font-size: 8px; }
.ph.big { width: 240px; height: 180px; }
.ph.fig { width: 220px; height: 220px; }
.controls { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; margin: 8px 0 0; background: #fff;
            border: 1px solid var(--line); padding: 6px 10px; border-radius: 6px 6px 0 0; position: sticky; top: 0; z-index: 3; height: 44px; }
.controls label { display: flex; gap: 6px; align-items: center; }
.controls input[type=search] { width: 230px; }
.controls input[type=number] { width: 80px; }
.controls .count { color: var(--muted); margin-left: auto; }
table.neurons { border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
table.neurons th, table.neurons td { border-bottom: 1px solid var(--line); padding: 4px 8px; vertical-align: middle; }
table.neurons thead th { position: sticky; top: 44px; background: #f1f3f6; z-index: 2; text-align: left; white-space: nowrap; }
th.sortable { cursor: pointer; user-select: none; }
th.sortable:hover { background: #e5e9f0; }
th[aria-sort=ascending]::after { content: " \25B2"; font-size: 10px; }
th[aria-sort=descending]::after { content: " \25BC"; font-size: 10px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.idx a { font-weight: 600; text-decoration: none; }
tbody tr:hover { background: #f8fafd; }
.evals { display: flex; gap: 4px; }
#detail, #lightbox { position: fixed; inset: 0; background: rgba(20, 24, 32, .55); z-index: 10; display: flex;
                     align-items: flex-start; justify-content: center; overflow: auto; padding: 30px 12px; }
#lightbox { z-index: 20; align-items: center; cursor: zoom-out; }
#detail[hidden], #lightbox[hidden] { display: none; }
#detail .panel { background: #fff; border-radius: 8px; padding: 12px 20px 20px; width: 100%; max-width: 1400px; }
#detail .bar { display: flex; gap: 8px; align-items: center; border-bottom: 1px solid var(--line); padding-bottom: 8px; }
#detail .bar h2 { margin: 0; border: 0; padding: 0; flex: 1; }
#detail button { font: inherit; padding: 3px 10px; cursor: pointer; }
img.big { width: 360px; max-width: 100%; height: auto; }
#lightbox img { max-width: 96vw; max-height: 92vh; min-width: min(60vw, 60vh); object-fit: contain; background: #fff; }
)CSS";

const char* kScript = R"JS(
(function () {
  'use strict';
  var DATA = JSON.parse(document.getElementById('fovea-data').textContent);
  var MISSING = {};
  (DATA.missing || []).forEach(function (p) { MISSING[p] = true; });
  var NEURONS = {}, CHANNELS = {}, TABLES = [];

  // ---- DOM helpers: text goes through textContent / setAttribute only.
  function h(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = String(v);
      else if (typeof v === 'function') e.addEventListener(k.replace(/^on/, ''), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    });
    (kids || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  function href(p) { return p.split('/').map(encodeURIComponent).join('/'); }
  function baseName(p) { var i = p.lastIndexOf('/'); return i < 0 ? p : p.slice(i + 1); }
  // "figures/feve_histogram.png" → "feve histogram"
  function caption(p) { return baseName(p).replace(/\.[A-Za-z0-9]+$/, '').replace(/_/g, ' '); }
  function placeholder(text, title, cls) {
    return h('span', {'class': 'ph ' + (cls || ''), title: title || text, 'data-placeholder': '', text: text});
  }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function fmt(v) {
    if (!isNum(v)) return '\u2013';
    if (Math.floor(v) === v && Math.abs(v) < 1e6) return String(v);
    var a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
    return v.toFixed(3);
  }
  function colLabel(k) {
    var l = k.toLowerCase();
    if (l === 'feve' || l === 'fev') return k.toUpperCase();
    return k.replace(/^feve/i, 'FEVE').replace(/^fev/i, 'FEV').replace(/_/g, ' ');
  }
  function median(xs) {
    var s = xs.slice().sort(function (a, b) { return a - b; }), n = s.length;
    return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }

  // ---- media: an image or a video, or a placeholder when there is none.
  function image(p, cls, opts) {
    opts = opts || {};
    if (!p) return placeholder('not produced', null, cls);
    if (MISSING[p]) return placeholder('missing', 'file not found: ' + p, cls);
    var img = h('img', {src: href(p), alt: opts.alt || baseName(p), title: opts.title || p,
                        loading: opts.eager ? null : 'lazy', decoding: 'async', 'class': cls});
    img.addEventListener('load', function () {
      // Upscaled images (a small MEI or kernel) are shown as pixels, not blurred.
      var s = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);
      if (img.naturalWidth && s > 1.01) img.classList.add('px');
    });
    img.addEventListener('error', function () {
      if (img.parentNode) img.parentNode.replaceChild(placeholder('cannot load', 'cannot load ' + p, cls), img);
    });
    if (opts.zoom !== false) {
      img.classList.add('zoomable');
      img.addEventListener('click', function (e) {
        e.preventDefault(); e.stopPropagation();
        if (opts.onclick) opts.onclick(); else openLightbox(p);
      });
    }
    return img;
  }
  function video(p, cls, autoplay) {
    if (!p) return placeholder('not produced', null, cls);
    if (MISSING[p]) return placeholder('missing', 'file not found: ' + p, cls);
    // A table of a thousand neurons has a thousand videos: each loads nothing
    // until played (preload none), and a thumbnail gets its controls when the
    // pointer or focus reaches it (a thousand sets of controls make the page
    // take seconds to open). Hovering plays a thumbnail; leaving pauses it.
    var v = h('video', {muted: true, loop: true, playsinline: true, controls: !!autoplay,
                        preload: autoplay ? 'auto' : 'none', autoplay: !!autoplay, 'class': cls, title: p,
                        tabindex: autoplay ? null : '0'});
    v.muted = true;
    var type = /\.mp4$/i.test(p) ? 'video/mp4' : /\.webm$/i.test(p) ? 'video/webm' : null;
    var s = h('source', {src: href(p), type: type});
    s.addEventListener('error', function () { v.classList.add('broken'); v.title = 'cannot play ' + p; });
    v.appendChild(s);
    if (autoplay) return v;
    var wrap = h('span', {'class': 'vidwrap'}, [v]);
    var activate = function () { if (!v.controls) { v.controls = true; wrap.classList.add('active'); } };
    v.addEventListener('mouseenter', function () {
      activate();
      if (!v.paused) return;
      v.dataset.hoverPlay = '1';
      var r = v.play();
      if (r && r.catch) r.catch(function () {});
    });
    v.addEventListener('mouseleave', function () {
      if (v.dataset.hoverPlay) { delete v.dataset.hoverPlay; v.pause(); }
    });
    v.addEventListener('click', function () { delete v.dataset.hoverPlay; });
    v.addEventListener('focus', activate);
    v.addEventListener('touchstart', activate, {passive: true});
    return wrap;
  }
  function figure(el, text) { return h('figure', null, [el, text ? h('figcaption', {text: text}) : null]); }
  function figs(paths, cls) {
    if (!paths || !paths.length) return null;
    return h('div', {'class': 'figs'}, paths.map(function (p) {
      return figure(image(p, cls || 'fig'), p ? caption(p) : '');
    }));
  }

  // ---- lightbox: one image, as large as the window allows.
  var lightbox = document.getElementById('lightbox');
  function openLightbox(p) {
    lightbox.textContent = '';
    lightbox.appendChild(image(p, null, {eager: true, zoom: false}));
    lightbox.hidden = false;
  }
  function closeLightbox() { lightbox.hidden = true; lightbox.textContent = ''; }
  lightbox.addEventListener('click', closeLightbox);

  // ---- header
  function infoTable(obj) {
    var t = h('table', {'class': 'info'});
    Object.keys(obj).forEach(function (k) {
      var v = obj[k], cell;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) cell = infoTable(v);
      else if (Array.isArray(v) && v.every(function (x) { return x === null || typeof x !== 'object'; }))
        cell = document.createTextNode(v.map(function (x) { return x === null ? '\u2013' : String(x); }).join(', '));
      else if (v !== null && typeof v === 'object') cell = h('code', {text: JSON.stringify(v)});
      else cell = document.createTextNode(v === null ? '\u2013' : String(v));
      t.appendChild(h('tr', null, [h('th', {text: k}), h('td', null, [cell])]));
    });
    return t;
  }
  function buildHeader(main) {
    var nChannels = 0, nNeurons = 0;
    DATA.layers.forEach(function (l) { nChannels += l.channels.length; });
    DATA.sessions.forEach(function (s) { nNeurons += s.neurons.length; });
    var sec = h('section', {id: 'overview'}, [
      h('h1', {text: DATA.title || 'Model report'}),
      DATA.model_path ? h('div', {'class': 'meta'}, ['model: ', h('code', {text: DATA.model_path})]) : null,
      h('div', {'class': 'meta', text: DATA.layers.length + ' core layers, ' + nChannels + ' channels \u00b7 ' +
                DATA.sessions.length + ' sessions, ' + nNeurons + ' neurons'})
    ]);
    if (DATA.info !== null && typeof DATA.info === 'object' && !Array.isArray(DATA.info)) {
      if (Object.keys(DATA.info).length) sec.appendChild(infoTable(DATA.info));
    } else if (DATA.info !== null && DATA.info !== undefined) {
      sec.appendChild(h('pre', null, [h('code', {text: JSON.stringify(DATA.info, null, 2)})]));
    }
    var f = figs(DATA.summary_images);
    if (f) sec.appendChild(f);
    if (DATA.missing.length)
      sec.appendChild(h('p', {'class': 'meta', title: DATA.missing.join('\n'),
                              text: DATA.missing.length + ' referenced file(s) do not exist and are shown as "missing".'}));
    main.appendChild(sec);
  }

  // ---- core: one block per layer, its channels as a grid of cards.
  var MAX_WEIGHT_THUMBS = 8;
  function buildCore(main) {
    var sec = h('section', {id: 'core'}, [h('h2', {text: 'Core'})]);
    if (!DATA.layers.length) sec.appendChild(h('p', {'class': 'empty', text: 'No core layers.'}));
    DATA.layers.forEach(function (layer, li) {
      var block = h('section', {'class': 'layer', id: 'layer-' + li, 'data-layer': layer.name}, [
        h('h3', {text: layer.name}),
        h('div', {'class': 'meta', text: layer.in_channels + ' \u2192 ' + layer.out_channels + ' channels'}),
        layer.description ? h('p', {text: layer.description}) : null,
        figs(layer.summary_images)
      ]);
      var grid = h('div', {'class': 'grid'});
      layer.channels.forEach(function (c) {
        var id = 'l' + li + '-c' + c.index, link = '#detail/' + id;
        CHANNELS[id] = {layer: layer, li: li, c: c};
        var open = function () { location.hash = link; };
        var thumbs = h('div', {'class': 'wthumbs'});
        c.weight_images.slice(0, MAX_WEIGHT_THUMBS).forEach(function (p, k) {
          thumbs.appendChild(image(p, 'wt', {title: 'input channel ' + k + ': ' + p, onclick: open}));
        });
        if (c.weight_images.length > MAX_WEIGHT_THUMBS)
          thumbs.appendChild(h('a', {'class': 'more', href: link, text: '+' + (c.weight_images.length - MAX_WEIGHT_THUMBS)}));
        grid.appendChild(h('div', {'class': 'card channel', id: id, 'data-layer': layer.name, 'data-channel': c.index}, [
          h('div', {'class': 'cardhead'}, [h('a', {href: link, text: 'channel ' + c.index})]),
          c.weight_images.length ? h('div', {'class': 'label', text: 'weights'}) : null,
          c.weight_images.length ? thumbs : null,
          h('div', {'class': 'label', text: 'MEI'}),
          h('div', {'class': 'mei'}, [image(c.mei_image, 'thumb', {onclick: open}), video(c.mei_video, 'vid')])
        ]));
      });
      if (!layer.channels.length) grid.appendChild(h('p', {'class': 'empty', text: 'No channels.'}));
      block.appendChild(grid);
      sec.appendChild(block);
    });
    main.appendChild(sec);
  }

  // ---- readout: per session, a sortable and filterable table of neurons.
  function parseIndexSpec(text) {
    var parts = text.split(/[\s,;]+/).filter(Boolean), ranges = [];
    for (var i = 0; i < parts.length; i++) {
      var m = /^(-?\d+)(?:(?:-|\u2013|:|\.\.)(-?\d+))?$/.exec(parts[i]);
      if (!m) return null;
      var a = +m[1], b = m[2] === undefined ? a : +m[2];
      ranges.push([Math.min(a, b), Math.max(a, b)]);
    }
    return ranges;
  }
  function applyFilter(st) {
    var text = st.indexInput.value.trim(), ranges = text ? parseIndexSpec(text) : [], needle = text.toLowerCase();
    var minKey = st.minSelect ? st.minSelect.value : null;
    var minVal = st.minInput ? parseFloat(st.minInput.value) : NaN;
    var shown = 0;
    st.rows.forEach(function (r) {
      var ok = true;
      if (text && ranges) ok = ranges.some(function (q) { return r.n.index >= q[0] && r.n.index <= q[1]; });
      else if (text) ok = st.labelKeys.some(function (k) {
        return String(r.n.labels[k] === undefined ? '' : r.n.labels[k]).toLowerCase().indexOf(needle) >= 0;
      });
      if (ok && minKey && !isNaN(minVal)) { var v = r.n.metrics[minKey]; ok = isNum(v) && v >= minVal; }
      r.tr.hidden = !ok;
      if (ok) shown++;
    });
    st.count.textContent = 'showing ' + shown + ' of ' + st.rows.length;
    st.table.dataset.shown = shown;
  }
  function sortRows(st, key, dir) {
    var col = st.cols[key];
    st.rows.sort(function (a, b) {
      var x = col.get(a.n), y = col.get(b.n);
      var xm = col.num ? !isNum(x) : (x === undefined || x === null || x === '');
      var ym = col.num ? !isNum(y) : (y === undefined || y === null || y === '');
      if (xm !== ym) return xm ? 1 : -1;  // missing values last, either direction
      if (!xm) {
        if (col.num) { if (x !== y) return (x < y ? -1 : 1) * dir; }
        else { var c = String(x).localeCompare(String(y), undefined, {numeric: true}); if (c) return c * dir; }
      }
      return a.n.index - b.n.index;
    });
    var frag = document.createDocumentFragment();
    st.rows.forEach(function (r) { frag.appendChild(r.tr); });
    st.tbody.appendChild(frag);
    st.key = key; st.dir = dir;
    st.headers.forEach(function (th) {
      if (th.dataset.key === key) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
    st.table.dataset.sortKey = key;
    st.table.dataset.sortDir = dir > 0 ? 'asc' : 'desc';
  }
  // Fills a session's section (made by buildReadout with its heading and a
  // "rendering" note): everything is built detached, then swapped in at once.
  function buildSession(shell, s, si) {
    var sec = h('div', {'class': 'session-body'});
    var swapIn = function () { shell.replaceChild(sec, shell.querySelector('.pending')); };
    var stats = [s.neurons.length + ' neurons'];
    s.metric_keys.forEach(function (k) {
      var xs = s.neurons.map(function (n) { return n.metrics[k]; }).filter(isNum);
      if (!xs.length) return;
      var mean = xs.reduce(function (a, b) { return a + b; }, 0) / xs.length;
      stats.push(colLabel(k) + ' mean ' + fmt(mean) + ', median ' + fmt(median(xs)) +
                 (xs.length < s.neurons.length ? ' (' + xs.length + ' finite)' : ''));
    });
    sec.appendChild(h('div', {'class': 'meta', text: stats.join(' \u00b7 ')}));
    var f = figs(s.summary_images);
    if (f) sec.appendChild(f);
    if (!s.neurons.length) {
      sec.appendChild(h('p', {'class': 'empty', text: 'No neurons.'}));
      swapIn();
      return;
    }
    var any = function (fn) { return s.neurons.some(fn); };
    var st = {rows: [], cols: {}, headers: [], labelKeys: s.label_keys};
    var cols = [{key: 'index', label: 'neuron', num: true, get: function (n) { return n.index; }}];
    s.label_keys.forEach(function (k) {
      cols.push({key: 'label:' + k, label: k.replace(/_/g, ' '), num: false, get: function (n) { return n.labels[k]; }});
    });
    s.metric_keys.forEach(function (k) {
      cols.push({key: 'metric:' + k, label: colLabel(k), title: k, num: true, get: function (n) { return n.metrics[k]; }});
    });
    var hasW = any(function (n) { return n.weight_image; }), hasMI = any(function (n) { return n.mei_image; });
    var hasMV = any(function (n) { return n.mei_video; }), hasE = any(function (n) { return n.evaluation_images.length; });
    cols.forEach(function (c) { st.cols[c.key] = c; });

    // Controls: neuron filter (indices or label text), minimum of a metric, count.
    st.indexInput = h('input', {type: 'search', placeholder: s.label_keys.length ? 'e.g. 3, 7, 10-20 or label text' : 'e.g. 3, 7, 10-20',
                                'aria-label': 'filter neurons'});
    var controls = h('div', {'class': 'controls'}, [h('label', null, ['neurons', st.indexInput])]);
    if (s.metric_keys.length) {
      st.minSelect = h('select', {'aria-label': 'metric'}, s.metric_keys.map(function (k) {
        return h('option', {value: k, text: colLabel(k)});
      }));
      if (s.default_sort) st.minSelect.value = s.default_sort;
      st.minInput = h('input', {type: 'number', step: 'any', placeholder: 'min', 'aria-label': 'minimum'});
      controls.appendChild(h('label', null, [st.minSelect, '\u2265', st.minInput]));
      st.minSelect.addEventListener('change', function () { applyFilter(st); });
      st.minInput.addEventListener('input', function () { applyFilter(st); });
    }
    st.indexInput.addEventListener('input', function () { applyFilter(st); });
    st.count = h('span', {'class': 'count'});
    controls.appendChild(st.count);
    sec.appendChild(controls);

    var headRow = h('tr');
    cols.forEach(function (c) {
      var th = h('th', {'class': 'sortable', 'data-key': c.key, title: 'sort by ' + (c.title || c.label), text: c.label});
      th.addEventListener('click', function () {
        var dir = st.key === c.key ? -st.dir : (c.key === 'index' || !c.num ? 1 : -1);
        sortRows(st, c.key, dir);
      });
      st.headers.push(th);
      headRow.appendChild(th);
    });
    [[hasW, 'weights'], [hasMI, 'MEI'], [hasMV, 'MEI video'], [hasE, 'evaluation']].forEach(function (x) {
      if (x[0]) headRow.appendChild(h('th', {text: x[1]}));
    });
    st.tbody = h('tbody');
    st.table = h('table', {'class': 'neurons', 'data-session': s.name, 'data-session-index': si},
                 [h('thead', null, [headRow]), st.tbody]);

    s.neurons.forEach(function (n) {
      var id = 's' + si + '-n' + n.index, link = '#detail/' + id;
      NEURONS[id] = {s: s, si: si, n: n, st: st};
      var open = function () { location.hash = link; };
      var tr = h('tr', {id: id, 'data-session-index': si, 'data-neuron': n.index},
                 [h('td', {'class': 'num idx'}, [h('a', {href: link, title: 'details', text: String(n.index)})])]);
      s.label_keys.forEach(function (k) { tr.appendChild(h('td', {text: n.labels[k] === undefined ? '' : n.labels[k]})); });
      s.metric_keys.forEach(function (k) {
        var v = n.metrics[k];
        tr.appendChild(h('td', {'class': 'num', 'data-key': k, 'data-value': isNum(v) ? v : '', text: fmt(v)}));
      });
      if (hasW) tr.appendChild(h('td', null, [image(n.weight_image, 'thumb', {onclick: open})]));
      if (hasMI) tr.appendChild(h('td', null, [image(n.mei_image, 'thumb', {onclick: open})]));
      if (hasMV) tr.appendChild(h('td', null, [video(n.mei_video, 'vid')]));
      if (hasE) tr.appendChild(h('td', null, [h('div', {'class': 'evals'}, n.evaluation_images.map(function (p) {
        return image(p, 'thumb', {onclick: open});
      }))]));
      st.rows.push({n: n, tr: tr});
      st.tbody.appendChild(tr);
    });
    sec.appendChild(st.table);
    if (s.default_sort) sortRows(st, 'metric:' + s.default_sort, -1);
    else sortRows(st, 'index', 1);
    applyFilter(st);
    TABLES.push(st);
    swapIn();
  }
  // The readout section with one empty section per session; returns the
  // tasks that fill them (a session with a thousand neurons takes a moment,
  // so each is its own task and the page shows the rest meanwhile).
  function buildReadout(main) {
    var sec = h('section', {id: 'readout'}, [h('h2', {text: 'Readout'})]);
    if (!DATA.sessions.length) sec.appendChild(h('p', {'class': 'empty', text: 'No sessions.'}));
    main.appendChild(sec);
    return DATA.sessions.map(function (s, si) {
      var shell = h('section', {'class': 'session', id: 'session-' + si, 'data-session': s.name}, [
        h('h3', {text: s.name}),
        h('p', {'class': 'empty pending', text: 'rendering ' + s.neurons.length + ' neurons\u2026'})
      ]);
      sec.appendChild(shell);
      return function () { buildSession(shell, s, si); };
    });
  }

  // ---- navigation sidebar
  function buildNav() {
    var nav = document.getElementById('nav');
    nav.appendChild(h('div', {'class': 'brand', text: DATA.title || 'Model report'}));
    nav.appendChild(h('a', {href: '#overview', text: 'Overview'}));
    nav.appendChild(h('div', {'class': 'navhead'}, [h('a', {href: '#core', text: 'Core'})]));
    DATA.layers.forEach(function (l, li) {
      nav.appendChild(h('a', {href: '#layer-' + li}, [h('span', {text: l.name}),
                                                       h('span', {'class': 'count', text: l.channels.length + ' ch'})]));
    });
    nav.appendChild(h('div', {'class': 'navhead'}, [h('a', {href: '#readout', text: 'Readout'})]));
    DATA.sessions.forEach(function (s, si) {
      nav.appendChild(h('a', {href: '#session-' + si}, [h('span', {text: s.name}),
                                                         h('span', {'class': 'count', text: String(s.neurons.length)})]));
    });
  }

  // ---- detail view of one neuron or channel (#detail/s0-n3, #detail/l1-c2)
  var detail = document.getElementById('detail'), current = null;
  function neighbour(elem, step) {
    var e = elem;
    do { e = step > 0 ? e.nextElementSibling : e.previousElementSibling; } while (e && e.hidden);
    return e;
  }
  function bigFigure(el, caption) { return figure(el, caption); }
  function openDetail(id) {
    var nr = NEURONS[id], ch = CHANNELS[id];
    if (!nr && !ch) { closeDetail(); return; }
    var panel = h('div', {'class': 'panel', 'data-detail': id});
    var body = h('div');
    var title, meta = [];
    if (nr) {
      var n = nr.n;
      title = nr.s.name + ' \u00b7 neuron ' + n.index;
      var t = h('table', {'class': 'info'});
      Object.keys(n.labels).forEach(function (k) { t.appendChild(h('tr', null, [h('th', {text: k}), h('td', {text: n.labels[k]})])); });
      nr.s.metric_keys.forEach(function (k) {
        if (k in n.metrics) t.appendChild(h('tr', null, [h('th', {text: colLabel(k)}), h('td', {'class': 'num', text: fmt(n.metrics[k])})]));
      });
      if (t.childNodes.length) body.appendChild(t);
      var row = h('div', {'class': 'figs'}, [
        bigFigure(image(n.weight_image, 'big', {eager: true}), 'readout weights'),
        bigFigure(image(n.mei_image, 'big', {eager: true}), 'MEI'),
        bigFigure(video(n.mei_video, 'big', true), 'MEI video')
      ]);
      body.appendChild(row);
      if (n.evaluation_images.length) {
        body.appendChild(h('h3', {text: 'Evaluation'}));
        body.appendChild(h('div', {'class': 'figs'}, n.evaluation_images.map(function (p) {
          return bigFigure(image(p, 'big', {eager: true}), p ? caption(p) : '');
        })));
      }
    } else {
      var c = ch.c;
      title = ch.layer.name + ' \u00b7 channel ' + c.index;
      body.appendChild(h('div', {'class': 'figs'}, [
        bigFigure(image(c.mei_image, 'big', {eager: true}), 'MEI'),
        bigFigure(video(c.mei_video, 'big', true), 'MEI video')
      ]));
      if (c.weight_images.length) {
        body.appendChild(h('h3', {text: 'Weights'}));
        body.appendChild(h('div', {'class': 'figs'}, c.weight_images.map(function (p, k) {
          return bigFigure(image(p, 'big', {eager: true}), 'input channel ' + k);
        })));
      }
    }
    var target = document.getElementById(id);
    var go = function (step) {
      var e = target && neighbour(target, step);
      if (e && e.id) location.replace('#detail/' + e.id);
    };
    panel.appendChild(h('div', {'class': 'bar'}, [
      h('h2', {text: title}),
      h('button', {type: 'button', title: 'previous (\u2190)', text: '\u2190', onclick: function () { go(-1); }}),
      h('button', {type: 'button', title: 'next (\u2192)', text: '\u2192', onclick: function () { go(1); }}),
      h('button', {type: 'button', title: 'close (Esc)', text: '\u00d7', onclick: closeDetail})
    ]));
    panel.appendChild(body);
    detail.textContent = '';
    detail.appendChild(panel);
    detail.hidden = false;
    document.body.classList.add('modal');
    document.querySelectorAll('.target').forEach(function (e) { e.classList.remove('target'); });
    if (target) { target.classList.add('target'); target.scrollIntoView({block: 'nearest'}); }
    current = id;
  }
  function closeDetail() {
    if (detail.hidden) return;
    detail.hidden = true;
    detail.textContent = '';  // stops its videos
    document.body.classList.remove('modal');
    current = null;
    if (/^#detail\//.test(location.hash)) {
      try { history.replaceState(null, '', location.pathname + location.search); } catch (e) { location.hash = ''; }
    }
  }
  detail.addEventListener('click', function (e) { if (e.target === detail) closeDetail(); });
  function route() {
    var m = /^#detail\/(.+)$/.exec(location.hash);
    if (m) openDetail(decodeURIComponent(m[1]));
    else closeDetail();
  }
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', function (e) {
    if (!lightbox.hidden) { if (e.key === 'Escape') closeLightbox(); return; }
    if (detail.hidden) return;
    if (e.target && /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName)) return;
    if (e.key === 'Escape') closeDetail();
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      var target = current && document.getElementById(current);
      var next = target && neighbour(target, e.key === 'ArrowRight' ? 1 : -1);
      if (next && next.id) location.replace('#detail/' + next.id);
    }
  });

  // ---- render
  var main = document.getElementById('main');
  buildNav();
  buildHeader(main);
  buildCore(main);
  var tasks = buildReadout(main);
  function finish() {
    route();
    // A link to a section (#session-3) was followed before the sections above it were filled.
    var m = /^#((session|layer)-\d+)$/.exec(location.hash), target = m && document.getElementById(m[1]);
    if (target) target.scrollIntoView();
    window.foveaReport = {data: DATA, tables: TABLES, sortRows: sortRows, applyFilter: applyFilter};
    if (!/^error/.test(document.body.dataset.status || '')) document.body.dataset.status = 'ok';
  }
  (function next() {
    if (!tasks.length) { finish(); return; }
    tasks.shift()();
    setTimeout(next, 0);
  })();
})();
)JS";

}  // namespace

std::string render_html_report(const ModelReport& report, const fs::path& dir) {
  const std::string where = (dir / "index.html").string();
  const json data = report_data(report, dir, where);
  const std::string title = report.title.empty() ? "Model report" : report.title;
  std::string page;
  page.reserve(64 * 1024);
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<meta name=\"generator\" content=\"fovea visualize\">\n";
  page += "<title>" + html_escape(title) + "</title>\n";
  page += "<script>" + std::string(kErrorScript) + "</script>\n";
  page += "<style>" + std::string(kStyle) + "</style>\n</head>\n";
  page += "<body data-status=\"loading\">\n";
  page += "<nav id=\"nav\" aria-label=\"sections\"></nav>\n";
  page += "<main id=\"main\">\n<div id=\"error-banner\" role=\"alert\" hidden></div>\n";
  page += "<noscript><p>This page is drawn by JavaScript; enable it to browse the model " + html_escape(title) +
          ".</p></noscript>\n</main>\n";
  page += "<div id=\"detail\" role=\"dialog\" aria-modal=\"true\" hidden></div>\n";
  page += "<div id=\"lightbox\" role=\"dialog\" aria-modal=\"true\" hidden></div>\n";
  page += "<script type=\"application/json\" id=\"fovea-data\">" + script_json(data) + "</script>\n";
  page += "<script>" + std::string(kScript) + "</script>\n";
  page += "</body>\n</html>\n";
  return page;
}

fs::path write_html_report(const ModelReport& report, const fs::path& dir) {
  io::make_directories(dir.string());
  const fs::path path = dir / "index.html";
  io::write_file_atomic(path.string(), render_html_report(report, dir));
  return path;
}

}  // namespace fovea::viz
