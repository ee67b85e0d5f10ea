#pragma once
// Headless Chromium for tests of HTML pages: load a page from disk, let its
// scripts run, and scan the DOM Chromium serialises (tags, attributes, text).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fovea::test::dom {

namespace fs = std::filesystem;

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------- HTML scanning

inline std::string decode_entities(const std::string& s) {
  static const std::map<std::string, std::string> named = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"}};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      const size_t semi = s.find(';', i);
      if (semi != std::string::npos && semi - i <= 8) {
        const std::string name = s.substr(i + 1, semi - i - 1);
        if (!name.empty() && name[0] == '#') {
          const long code = name.size() > 1 && (name[1] == 'x' || name[1] == 'X') ? std::strtol(name.c_str() + 2, nullptr, 16)
                                                                                : std::strtol(name.c_str() + 1, nullptr, 10);
          if (code > 0 && code < 128) {
            out += static_cast<char>(code);
            i = semi;
            continue;
          }
        } else if (named.count(name)) {
          out += named.at(name);
          i = semi;
          continue;
        }
      }
    }
    out += s[i];
  }
  return out;
}

inline std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The document without the contents of its <script> and <style> elements.
inline std::string strip_scripts(const std::string& html) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t a = std::string::npos;
    std::string close;
    for (const std::string tag : {"script", "style"}) {
      const size_t p = html.find("<" + tag, pos);
      if (p < a) a = p, close = "</" + tag + ">";
    }
    if (a == std::string::npos) break;
    const size_t b = html.find(close, a);
    out += html.substr(pos, a - pos);
    if (b == std::string::npos) return out;
    pos = b + close.size();
  }
  return out + html.substr(pos);
}

struct Tag {
  size_t pos = 0, end = 0;  // of '<' and after '>'
  std::map<std::string, std::string> attrs;
  bool has(const std::string& k) const { return attrs.count(k) > 0; }
  std::string get(const std::string& k) const { return attrs.count(k) ? attrs.at(k) : ""; }
};

// All start tags <name ...> (attribute values entity-decoded).
inline std::vector<Tag> find_tags(const std::string& html, const std::string& name) {
  std::vector<Tag> tags;
  size_t pos = 0;
  while ((pos = html.find("<" + name, pos)) != std::string::npos) {
    size_t i = pos + 1 + name.size();
    if (i < html.size() && !(std::isspace(static_cast<unsigned char>(html[i])) || html[i] == '>' || html[i] == '/')) {
      pos = i;
      continue;
    }
    Tag tag;
    tag.pos = pos;
    while (i < html.size() && html[i] != '>') {
      if (std::isspace(static_cast<unsigned char>(html[i])) || html[i] == '/') {
        ++i;
        continue;
      }
      size_t k = i;
      while (k < html.size() && html[k] != '=' && html[k] != '>' && !std::isspace(static_cast<unsigned char>(html[k]))) ++k;
      const std::string key = html.substr(i, k - i);
      std::string value;
      if (k < html.size() && html[k] == '=') {
        ++k;
        if (html[k] == '"' || html[k] == '\'') {
          const char q = html[k];
          const size_t e = html.find(q, k + 1);
          value = html.substr(k + 1, e - k - 1);
          k = e + 1;
        } else {
          const size_t e = html.find_first_of(" \t\n>", k);
          value = html.substr(k, e - k);
          k = e;
        }
      }
      tag.attrs[key] = decode_entities(value);
      i = k;
    }
    tag.end = i + 1;
    tags.push_back(tag);
    pos = tag.end;
  }
  return tags;
}

// The text between the end of `tag` and the next "</name>", tags removed, entities decoded.
inline std::string inner_text(const std::string& html, const Tag& tag, const std::string& name) {
  const size_t e = html.find("</" + name + ">", tag.end);
  std::string raw = html.substr(tag.end, e - tag.end), text;
  bool in_tag = false;
  for (const char c : raw) {
    if (c == '<') in_tag = true;
    else if (c == '>') in_tag = false;
    else if (!in_tag) text += c;
  }
  return decode_entities(text);
}

// ---------------------------------------------------------------- Chromium

// $FOVEA_CHROMIUM, else `chromium` (Debian) or `chromium-browser` on PATH.
inline std::string find_chromium() {
  if (const char* env = std::getenv("FOVEA_CHROMIUM"); env && *env) return fs::exists(env) ? env : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':'))
    for (const char* name : {"chromium", "chromium-browser"})
      if (!d.empty() && fs::exists(fs::path(d) / name)) return (fs::path(d) / name).string();
  return "";
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string file_url(const fs::path& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string url = "file://";
  for (const unsigned char c : fs::absolute(path).string()) {
    if (std::isalnum(c) || std::string("/-_.~").find(static_cast<char>(c)) != std::string::npos) url += static_cast<char>(c);
    else url += std::string("%") + hex[c >> 4] + hex[c & 15];
  }
  return url;
}

// Loads `page` in headless Chromium, lets its scripts run (5 s of virtual
// time), and returns the DOM as Chromium serialises it. Chromium writes its
// profile under `scratch`; a hang is killed after 120 s. `virtual_ms`: the
// virtual-time budget (idle time is skipped, so a page that finishes early
// costs no more).
inline std::string dump_dom(const fs::path& page, const fs::path& scratch, double* seconds = nullptr,
                            int virtual_ms = 5000) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    ADD_FAILURE() << "headless Chromium is needed to test the HTML report, and no `chromium` was found on PATH"
                  << (std::getenv("FOVEA_CHROMIUM") ? " (FOVEA_CHROMIUM names no file)" : "")
                  << ". Install it with scripts/setup.sh (Debian package `chromium`), or set FOVEA_CHROMIUM.";
    return "";
  }
  fs::create_directories(scratch / "home");
  const fs::path out = scratch / "dom.html", err = scratch / "chromium.log";
  const std::string home = shell_quote((scratch / "home").string());
  const std::string command =
      "env HOME=" + home + " XDG_CONFIG_HOME=" + home + " XDG_CACHE_HOME=" + home +
      " timeout -k 5 120 " + shell_quote(chromium) +
      " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --mute-audio"
      " --user-data-dir=" + shell_quote((scratch / "profile").string()) +
      " --virtual-time-budget=" + std::to_string(virtual_ms) + " --dump-dom " + shell_quote(file_url(page)) +
      " > " + shell_quote(out.string()) +
      " 2> " + shell_quote(err.string());
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = std::system(command.c_str());
  if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string dom = read_text(out);
  EXPECT_EQ(rc, 0) << "chromium failed; its log:\n" << read_text(err);
  EXPECT_FALSE(dom.empty()) << "chromium dumped no DOM; its log:\n" << read_text(err);
  return dom;
}

inline std::string body_status(const std::string& dom) {
  const auto bodies = find_tags(dom, "body");
  return bodies.empty() ? "<no body>" : bodies[0].get("data-status");
}

}  // namespace fovea::test::dom
