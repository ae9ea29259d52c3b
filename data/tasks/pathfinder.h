// Pathfinder / Path-X images (Linsley et al. 2018, as used by LRA): curved contours made of
// short dashes on a black background, with two circular markers. Every image holds two long
// "target" contours plus shorter distractors; the markers sit on both ends of one target
// contour (label 1, connected) or on one end of each target contour (label 0). Contours never
// touch each other, so connectivity is exactly the label.
#pragma once
#include <array>
#include <cstdint>
#include <random>
#include <vector>

namespace st::tasks {

struct PathfinderOptions {
  int size = 32;              // image side (32 Pathfinder, 64, 128 Path-X)
  double dash_len = 2;        // pixels per dash
  double gap = 1;             // pixels between dashes
  int contour_len = 14;       // dashes per target contour
  int distractors = 5;        // distractor contours
  int distractor_len = 4;     // dashes per distractor
  double curvature = 45;      // largest turn between consecutive dashes, degrees
  double thickness = 1.0;     // stroke width, pixels
  double marker_radius = 1.5;
  double marker_distance = 7;  // least distance between the two markers' centres
  int clearance = 1;           // empty pixels kept between different contours (and markers)

  // The defaults for a side of 32, 64 or 128 (LRA's settings, adapted to this drawing).
  static PathfinderOptions for_size(int size);
  void validate() const;  // errors name the option
};

struct PathfinderImage {
  std::vector<uint8_t> pixels;  // size * size, row-major, 0 = background
  bool connected = false;       // the label
  std::array<double, 4> markers{};  // x0, y0, x1, y1 (pixel coordinates of the centres)
  int attempts = 0;                 // layouts tried until both target contours fitted
  int distractors = 0;              // distractors that fitted (of --distractors)
};

// One image with the given label, drawn from rng.
PathfinderImage draw_pathfinder(const PathfinderOptions& opt, bool connected, std::mt19937_64& rng);

}  // namespace st::tasks
