#include "examples/train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "descent/error.h"

namespace train {

namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string duration(double s) {
  if (s < 60) return fmt("%.1fs", s);
  return fmt("%.0fm", std::floor(s / 60)) + fmt("%02.0fs", std::fmod(s, 60));
}

}  // namespace

Progress::Progress(std::string label, bool terminal, bool periodic_lines)
    : label_(std::move(label)), terminal_(terminal), periodic_(periodic_lines) {}

void Progress::update(int64_t step, int64_t total, double loss, double lr) {
  auto now = std::chrono::steady_clock::now();
  if (first_step_ < 0) {
    first_step_ = step - 1;
    start_ = now;
    last_draw_ = now - std::chrono::seconds(1);
  }
  last_step_ = step, last_total_ = total, last_loss_ = loss, last_lr_ = lr;
  if (terminal_) {
    if (now - last_draw_ >= std::chrono::milliseconds(66) || step == total) {
      last_draw_ = now;
      draw(false);
    }
  } else if (periodic_) {
    int64_t every = std::max<int64_t>(1, total / 10);
    if (step % every == 0 || step == total) draw(false);
  }
}

void Progress::finish() {
  if (terminal_ && drawn_) std::cout << "\n" << std::flush;
}

void Progress::draw(bool /*final*/) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(last_step_ - first_step_) / elapsed : 0;
  double eta = rate > 0 ? static_cast<double>(last_total_ - last_step_) / rate : 0;
  std::ostringstream line;
  line << label_;
  if (terminal_) {
    constexpr int kWidth = 24;
    int filled = static_cast<int>(kWidth * last_step_ / std::max<int64_t>(1, last_total_));
    line << " [" << std::string(static_cast<std::size_t>(filled), '#') << std::string(static_cast<std::size_t>(kWidth - filled), '.') << "]";
  }
  line << " step " << last_step_ << "/" << last_total_ << "  loss " << fmt("%.4f", last_loss_) << "  lr "
       << fmt("%.2e", last_lr_) << "  " << fmt("%.0f", rate) << " steps/s  ETA " << duration(eta);
  if (terminal_)
    std::cout << "\r\033[K" << line.str() << std::flush;
  else
    std::cout << line.str() << "\n" << std::flush;
  drawn_ = true;
}

namespace {

const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

struct Panel {
  double x, y, w, h;
};

// One chart: axes, a few ticks, and one polyline per curve; log10 of the values when `log`.
void chart(std::ostream& s, const Panel& p, const std::string& label, const std::vector<Curve>& curves, bool log,
           bool use_lr) {
  auto values = [&](const Curve& c) -> const std::vector<double>& { return use_lr ? c.history->lr : c.history->loss; };
  auto tr = [&](double v) { return log ? std::log10(std::max(v, 1e-12)) : v; };
  double lo = INFINITY, hi = -INFINITY;
  std::size_t n = 1;
  for (const Curve& c : curves)
    for (double v : values(c))
      if (std::isfinite(v)) lo = std::min(lo, tr(v)), hi = std::max(hi, tr(v));
  for (const Curve& c : curves) n = std::max(n, values(c).size());
  if (!(lo < hi)) lo = std::isfinite(lo) ? lo - 1 : 0, hi = lo + 2;
  if (log) lo = std::floor(lo), hi = std::ceil(hi);
  auto px = [&](double i) { return p.x + p.w * i / static_cast<double>(std::max<std::size_t>(1, n - 1)); };
  auto py = [&](double v) { return p.y + p.h * (1 - (tr(v) - lo) / (hi - lo)); };
  s << "<rect x='" << p.x << "' y='" << p.y << "' width='" << p.w << "' height='" << p.h
    << "' fill='none' stroke='#999'/>\n";
  s << "<text x='" << p.x - 50 << "' y='" << p.y - 8 << "' font-size='13'>" << label << "</text>\n";
  for (int k = 0; k <= 4; ++k) {
    double t = lo + (hi - lo) * k / 4.0;
    double y = p.y + p.h * (1 - k / 4.0);
    double shown = log ? std::pow(10.0, t) : t;
    s << "<line x1='" << p.x << "' x2='" << p.x + p.w << "' y1='" << y << "' y2='" << y << "' stroke='#eee'/>\n";
    s << "<text x='" << p.x - 6 << "' y='" << y + 4 << "' font-size='10' text-anchor='end'>" << fmt("%.3g", shown)
      << "</text>\n";
  }
  for (int k = 0; k <= 4; ++k) {
    double i = static_cast<double>(n - 1) * k / 4.0;
    s << "<text x='" << px(i) << "' y='" << p.y + p.h + 14 << "' font-size='10' text-anchor='middle'>"
      << fmt("%.0f", std::round(i) + 1) << "</text>\n";
  }
  // Long runs are thinned to ~1000 points per line (each drawn point a window mean).
  for (std::size_t ci = 0; ci < curves.size(); ++ci) {
    const std::vector<double>& v = values(curves[ci]);
    std::size_t stride = std::max<std::size_t>(1, v.size() / 1000);
    s << "<polyline fill='none' stroke-width='1.3' stroke='" << kColours[ci % 10] << "' points='";
    for (std::size_t i = 0; i < v.size(); i += stride) {
      double sum = 0;
      std::size_t m = 0;
      for (std::size_t j = i; j < std::min(v.size(), i + stride); ++j) sum += v[j], ++m;
      s << fmt("%.1f", px(static_cast<double>(i))) << "," << fmt("%.1f", py(sum / static_cast<double>(m))) << " ";
    }
    s << "'/>\n";
  }
}

}  // namespace

void write_svg(const std::string& path, const std::string& title, const std::vector<Curve>& curves) {
  std::ostringstream s;
  const double width = 760, height = 560;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
    << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  s << "<text x='" << width / 2 << "' y='24' font-size='15' text-anchor='middle'>" << title << "</text>\n";
  chart(s, {70, 60, 520, 260}, "loss (log)", curves, true, false);
  chart(s, {70, 380, 520, 140}, "lr", curves, false, true);
  s << "<text x='330' y='" << height - 8 << "' font-size='11' text-anchor='middle'>step</text>\n";
  for (std::size_t i = 0; i < curves.size(); ++i) {
    double y = 70 + 18 * static_cast<double>(i);
    s << "<line x1='605' x2='625' y1='" << y << "' y2='" << y << "' stroke-width='3' stroke='" << kColours[i % 10]
      << "'/><text x='630' y='" << y + 4 << "' font-size='12'>" << curves[i].name << "</text>\n";
  }
  s << "</svg>\n";
  std::ofstream f(path, std::ios::binary);
  f << s.str();
  if (!f) descent::raise<descent::RuntimeError>("descent-train: cannot write ", path);
}

}  // namespace train
