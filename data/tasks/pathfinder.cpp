// Pathfinder drawing; see pathfinder.h.
//
// Layout: a contour is a random walk of dashes. From a random start point and heading, each
// dash goes dash_len pixels along the current heading, then the walk skips `gap` pixels and the
// heading turns by a uniform angle in [-curvature, +curvature]. A dash is accepted only if its
// pixels stay inside the image (with room for a marker) and keep `clearance` empty pixels from
// every other contour, from reserved marker disks and from its own contour beyond the two
// previous dashes (no self-crossing); a rejected dash is redrawn with another turn, and a contour
// that gets stuck restarts elsewhere. Target contours A and B are placed first and marker disks
// are reserved at all four of their ends (in both classes, so the empty space around an end is
// no cue); distractors come last and are dropped when they do not fit. Rendering: anti-aliased
// strokes and disks (coverage from the distance of the pixel centre to the shape), white on
// black, overlaps taking the maximum.
#include "data/tasks/pathfinder.h"

#include <algorithm>
#include <cmath>

#include "core/tensor/error.h"
#include "data/tasks/seeds.h"

namespace st::tasks {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kLayoutTries = 100;  // whole images
constexpr int kStartTries = 60;    // start points per target contour
constexpr int kDistractorStartTries = 20;
constexpr int kTurnTries = 12;     // turns per dash

struct Segment {
  double x0, y0, x1, y1;
};

struct Contour {
  std::vector<Segment> dashes;
  double start_x() const { return dashes.front().x0; }
  double start_y() const { return dashes.front().y0; }
  double end_x() const { return dashes.back().x1; }
  double end_y() const { return dashes.back().y1; }
};

double segment_distance(double px, double py, const Segment& s) {
  double dx = s.x1 - s.x0, dy = s.y1 - s.y0;
  double len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? std::clamp(((px - s.x0) * dx + (py - s.y0) * dy) / len2, 0.0, 1.0) : 0.0;
  double ex = s.x0 + t * dx - px, ey = s.y0 + t * dy - py;
  return std::sqrt(ex * ex + ey * ey);
}

// Pixels a shape touches with its coverage: 1 inside, fading to 0 over the half pixel past the
// edge. `distance` gives the distance of a pixel centre to the shape's core (segment or point),
// `radius` the half width.
template <class Distance>
void for_each_covered(int n, double x0, double y0, double x1, double y1, double radius,
                      const Distance& distance, const auto& visit) {
  double reach = radius + 0.5;
  int xa = std::max(0, static_cast<int>(std::floor(std::min(x0, x1) - reach)));
  int xb = std::min(n - 1, static_cast<int>(std::ceil(std::max(x0, x1) + reach)));
  int ya = std::max(0, static_cast<int>(std::floor(std::min(y0, y1) - reach)));
  int yb = std::min(n - 1, static_cast<int>(std::ceil(std::max(y0, y1) + reach)));
  for (int y = ya; y <= yb; ++y)
    for (int x = xa; x <= xb; ++x) {
      double coverage = reach - distance(x + 0.5, y + 0.5);
      if (coverage > 0) visit(y * n + x, std::min(1.0, coverage));
    }
}

void for_each_dash_pixel(int n, const Segment& s, double half_width, const auto& visit) {
  for_each_covered(n, s.x0, s.y0, s.x1, s.y1, half_width,
                   [&](double px, double py) { return segment_distance(px, py, s); }, visit);
}

void for_each_disk_pixel(int n, double cx, double cy, double r, const auto& visit) {
  for_each_covered(n, cx, cy, cx, cy, r,
                   [&](double px, double py) { return std::hypot(px - cx, py - cy); }, visit);
}

// Who owns each pixel: 0 free, else contour id + 1, with the dash index for self-avoidance.
class Canvas {
 public:
  Canvas(const PathfinderOptions& opt) : opt_(opt), n_(opt.size), owner_(n_ * n_), dash_(n_ * n_) {}

  void clear() {
    std::fill(owner_.begin(), owner_.end(), 0);
    std::fill(dash_.begin(), dash_.end(), 0);
  }

  // True when none of the pixels comes within `clearance` of a pixel of another owner, or of
  // this contour's dashes before `dash - 2`.
  bool is_free(const std::vector<int>& pixels, int contour, int dash) const {
    const int c = opt_.clearance;
    for (int p : pixels) {
      int px = p % n_, py = p / n_;
      for (int y = std::max(0, py - c); y <= std::min(n_ - 1, py + c); ++y)
        for (int x = std::max(0, px - c); x <= std::min(n_ - 1, px + c); ++x) {
          int q = y * n_ + x;
          int o = owner_[q];
          if (o != 0 && (o != contour + 1 || dash_[q] < dash - 2)) return false;
        }
    }
    return true;
  }

  void stamp(const std::vector<int>& pixels, int contour, int dash) {
    for (int p : pixels) {
      owner_[p] = static_cast<int16_t>(contour + 1);
      dash_[p] = static_cast<int16_t>(dash);
    }
  }

  void erase(int contour) {
    for (size_t p = 0; p < owner_.size(); ++p)
      if (owner_[p] == contour + 1) owner_[p] = 0;
  }

 private:
  const PathfinderOptions& opt_;
  int n_;
  std::vector<int16_t> owner_, dash_;
};

class Layout {
 public:
  Layout(const PathfinderOptions& opt, std::mt19937_64& rng)
      : opt_(opt), rng_(rng), canvas_(opt), n_(opt.size),
        margin_(std::max(opt.marker_radius, opt.thickness / 2) + 1) {}

  void clear() { canvas_.clear(); }

  // The dash's pixels, in a buffer reused from dash to dash.
  const std::vector<int>& dash_pixels(const Segment& s) {
    dash_px_.clear();
    for_each_dash_pixel(n_, s, opt_.thickness / 2, [&](int p, double) { dash_px_.push_back(p); });
    return dash_px_;
  }

  std::vector<int> disk_pixels(double x, double y) const {
    std::vector<int> px;
    for_each_disk_pixel(n_, x, y, opt_.marker_radius, [&](int p, double) { px.push_back(p); });
    return px;
  }

  // Walks a contour of `dashes` dashes; `target` contours also need free space for a marker
  // disk at both ends, which is then reserved. False when no placement was found.
  bool place(int id, int dashes, bool target, Contour& out) {
    const int start_tries = target ? kStartTries : kDistractorStartTries;
    const double max_turn = opt_.curvature * kPi / 180;
    const double lookahead = 2 * (opt_.dash_len + opt_.gap);
    for (int start = 0; start < start_tries; ++start) {
      out.dashes.clear();
      double x = margin_ + uniform01(rng_) * (n_ - 2 * margin_);
      double y = margin_ + uniform01(rng_) * (n_ - 2 * margin_);
      double heading = uniform01(rng_) * 2 * kPi;
      bool stuck = false;
      for (int k = 0; k < dashes && !stuck; ++k) {
        stuck = true;
        for (int t = 0; t < kTurnTries; ++t) {
          double turn = k == 0 && t == 0 ? 0.0 : (2 * uniform01(rng_) - 1) * max_turn;
          if (t == 0 && k > 0 && !inside(x + lookahead * std::cos(heading), y + lookahead * std::sin(heading))) {
            // Heading for the border: turn towards the centre (a wall would end the walk).
            double cx = n_ / 2.0 - x, cy = n_ / 2.0 - y;
            double side = std::cos(heading) * cy - std::sin(heading) * cx;
            turn = (side >= 0 ? 1 : -1) * max_turn * (0.5 + 0.5 * uniform01(rng_));
          }
          double h = heading + turn;
          Segment s{x, y, x + opt_.dash_len * std::cos(h), y + opt_.dash_len * std::sin(h)};
          if (!inside(s.x1, s.y1)) continue;
          const std::vector<int>& px = dash_pixels(s);
          if (!canvas_.is_free(px, id, k)) continue;
          canvas_.stamp(px, id, k);
          out.dashes.push_back(s);
          heading = h;
          x = s.x1 + opt_.gap * std::cos(h);
          y = s.y1 + opt_.gap * std::sin(h);
          stuck = false;
          break;
        }
      }
      if (!stuck && target) {
        auto a = disk_pixels(out.start_x(), out.start_y());
        auto b = disk_pixels(out.end_x(), out.end_y());
        // Only other owners block a marker (dash index 0: no own dash is "too early").
        if (canvas_.is_free(a, id, 0) && canvas_.is_free(b, id, 0)) {
          canvas_.stamp(a, id, 0);
          canvas_.stamp(b, id, dashes - 1);
          return true;
        }
        stuck = true;
      }
      if (!stuck) return true;
      canvas_.erase(id);
    }
    return false;
  }

 private:
  bool inside(double x, double y) const {
    return x >= margin_ && y >= margin_ && x <= n_ - margin_ && y <= n_ - margin_;
  }

  const PathfinderOptions& opt_;
  std::mt19937_64& rng_;
  Canvas canvas_;
  int n_;
  double margin_;
  std::vector<int> dash_px_;
};

void render(const PathfinderOptions& opt, const std::vector<Contour>& contours,
            const std::array<double, 4>& markers, std::vector<uint8_t>& pixels) {
  const int n = opt.size;
  std::vector<float> level(static_cast<size_t>(n) * n, 0.f);
  auto paint = [&](int p, double coverage) { level[p] = std::max(level[p], static_cast<float>(coverage)); };
  for (const auto& c : contours)
    for (const auto& s : c.dashes) for_each_dash_pixel(n, s, opt.thickness / 2, paint);
  for (int m = 0; m < 2; ++m)
    for_each_disk_pixel(n, markers[2 * m], markers[2 * m + 1], opt.marker_radius, paint);
  pixels.resize(level.size());
  for (size_t i = 0; i < level.size(); ++i)
    pixels[i] = static_cast<uint8_t>(std::lround(255.0 * level[i]));
}

}  // namespace

PathfinderOptions PathfinderOptions::for_size(int size) {
  PathfinderOptions o;
  o.size = size;
  if (size < 64) {
    o.curvature = 45;  // tighter turns: 14 dashes must fit in 32 pixels
  } else if (size >= 128) {
    o.dash_len = 5, o.gap = 3, o.distractors = 8, o.distractor_len = 5, o.thickness = 1.5;
    o.marker_radius = 3, o.marker_distance = 20;
  } else if (size >= 64) {
    o.dash_len = 3, o.gap = 2, o.distractors = 5, o.distractor_len = 5, o.thickness = 1.5;
    o.marker_radius = 2.5, o.marker_distance = 12;
  }
  return o;
}

void PathfinderOptions::validate() const {
  ST_CHECK(size >= 16 && size <= 1024, "--size must be in [16, 1024], got ", size);
  ST_CHECK(dash_len > 0 && dash_len < size, "--dash-len must be in (0, size), got ", dash_len);
  ST_CHECK(gap >= 0 && gap < size, "--gap must be in [0, size), got ", gap);
  ST_CHECK(contour_len >= 1 && contour_len <= 10000, "--contour-len must be in [1, 10000], got ", contour_len);
  ST_CHECK(distractors >= 0 && distractors <= 10000, "--distractors must be in [0, 10000], got ", distractors);
  ST_CHECK(distractor_len >= 1 && distractor_len <= 10000, "--distractor-len must be in [1, 10000], got ",
           distractor_len);
  ST_CHECK(curvature >= 0 && curvature <= 180, "--curvature must be in [0, 180] degrees, got ", curvature);
  ST_CHECK(thickness > 0 && thickness <= size / 4.0, "--thickness must be in (0, size/4], got ", thickness);
  ST_CHECK(marker_radius > 0 && marker_radius <= size / 4.0, "--marker-radius must be in (0, size/4], got ",
           marker_radius);
  ST_CHECK(marker_distance >= 0, "--marker-distance must not be negative, got ", marker_distance);
  ST_CHECK(clearance >= 1 && clearance <= 8, "--clearance must be in [1, 8], got ", clearance);
}

PathfinderImage draw_pathfinder(const PathfinderOptions& opt, bool connected, std::mt19937_64& rng) {
  PathfinderImage img;
  img.connected = connected;
  Layout layout(opt, rng);
  for (img.attempts = 1; img.attempts <= kLayoutTries; ++img.attempts) {
    layout.clear();
    std::vector<Contour> contours(2);
    if (!layout.place(0, opt.contour_len, true, contours[0])) continue;
    if (!layout.place(1, opt.contour_len, true, contours[1])) continue;
    // Marker candidates: both ends of A (connected), or one end of A and one of B.
    std::vector<std::array<double, 4>> candidates;
    const Contour &a = contours[0], &b = contours[1];
    if (connected) {
      candidates.push_back({a.start_x(), a.start_y(), a.end_x(), a.end_y()});
    } else {
      for (int ea = 0; ea < 2; ++ea)
        for (int eb = 0; eb < 2; ++eb)
          candidates.push_back({ea ? a.end_x() : a.start_x(), ea ? a.end_y() : a.start_y(),
                                eb ? b.end_x() : b.start_x(), eb ? b.end_y() : b.start_y()});
    }
    std::erase_if(candidates, [&](const std::array<double, 4>& m) {
      return std::hypot(m[2] - m[0], m[3] - m[1]) < opt.marker_distance;
    });
    if (candidates.empty()) continue;
    img.markers = candidates[static_cast<size_t>(uniform_int(rng, 0, static_cast<int64_t>(candidates.size()) - 1))];
    for (int d = 0; d < opt.distractors; ++d) {
      Contour c;
      if (layout.place(2 + d, opt.distractor_len, false, c)) {
        contours.push_back(std::move(c));
        ++img.distractors;
      }
    }
    render(opt, contours, img.markers, img.pixels);
    return img;
  }
  ST_THROW("pathfinder: could not lay out two contours of --contour-len ", opt.contour_len,
           " dashes (--dash-len ", opt.dash_len, ", --gap ", opt.gap, ") with markers at least --marker-distance ",
           opt.marker_distance, " apart in a ", opt.size, "x", opt.size, " image after ", kLayoutTries,
           " layouts; use shorter contours or a larger --size");
}

}  // namespace st::tasks
