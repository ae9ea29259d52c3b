// Downstream measures of a student's sentence embeddings against a teacher's, for the embedding
// task (st-eval): both (n, d) row-major, rows L2-normalised.
//   mean_cosine:        mean over rows of <s_i, t_i>
//   retrieval_top1:     share of rows i whose nearest teacher row (largest <s_i, t_j>) is j = i
//   similarity_spearman: Spearman rank correlation, over all pairs i < j, between the student's
//                       <s_i, s_j> and the teacher's <t_i, t_j> (does the student order sentence
//                       similarities as the teacher does?)
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace st {

struct EmbeddingAgreement {
  double mean_cosine = 0, retrieval_top1 = 0, similarity_spearman = 0;
  int64_t rows = 0;
};

namespace embedding_metrics_detail {
inline double dot(const float* a, const float* b, int64_t d) {
  double s = 0;
  for (int64_t k = 0; k < d; ++k) s += static_cast<double>(a[k]) * b[k];
  return s;
}
// Ranks 1..n with ties given their average rank.
inline std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    double avg = 0.5 * static_cast<double>(i + j) + 1;
    for (size_t k = i; k <= j; ++k) r[order[k]] = avg;
    i = j + 1;
  }
  return r;
}
inline double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  double n = static_cast<double>(x.size()), mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}
}  // namespace embedding_metrics_detail

inline EmbeddingAgreement embedding_agreement(const std::vector<float>& student, const std::vector<float>& teacher,
                                              int64_t d) {
  using namespace embedding_metrics_detail;
  EmbeddingAgreement a;
  int64_t n = d > 0 ? static_cast<int64_t>(student.size()) / d : 0;
  a.rows = n;
  if (n == 0) return a;
  int64_t hits = 0;
  std::vector<double> ss, tt;
  for (int64_t i = 0; i < n; ++i) {
    const float* si = student.data() + i * d;
    a.mean_cosine += dot(si, teacher.data() + i * d, d);
    int64_t best = 0;
    double best_v = -2;
    for (int64_t j = 0; j < n; ++j) {
      double v = dot(si, teacher.data() + j * d, d);
      if (v > best_v) best_v = v, best = j;
      if (j > i) {
        ss.push_back(dot(si, student.data() + j * d, d));
        tt.push_back(dot(teacher.data() + i * d, teacher.data() + j * d, d));
      }
    }
    hits += best == i;
  }
  a.mean_cosine /= static_cast<double>(n);
  a.retrieval_top1 = static_cast<double>(hits) / static_cast<double>(n);
  a.similarity_spearman = ss.size() > 1 ? pearson(ranks(ss), ranks(tt)) : 0;
  return a;
}

}  // namespace st
