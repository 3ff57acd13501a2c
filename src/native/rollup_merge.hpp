// A rollup's parts merged (engine/rollup.py): their cells summed per key, their sparse
// HyperLogLog registers merged by max, and each summed cell's buyers estimated from
// its registers (engine/hll.py's estimate, to the same float operations).
//
// The polars group-bys this replaces (concat, sum, max, estimate, join) took 0.39-0.42 s
// of the 2 M-event replay's main thread (minute and hour closes); a minute closes every
// few steps.

#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "cells.hpp"
#include "hll_registers.hpp"

namespace warroom {

namespace rollup_merge {

template <class T>
const T* column(const py::handle& part, size_t i, size_t n) {
  auto a = py::reinterpret_borrow<py::array>(part[py::int_(i)]);
  if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style))
    throw std::invalid_argument("a rollup part's columns must be C-contiguous of the cells' dtypes");
  if (static_cast<size_t>(a.size()) != n) throw std::invalid_argument("columns of different lengths");
  return static_cast<const T*>(a.data());
}

// A part's key columns, read without the GIL.
struct Keys {
  const int64_t* win;
  const uint8_t* gset;
  const int32_t* k1;
  const int32_t* k2;
  size_t n;
  CellKey at(size_t i) const { return CellKey{win[i], k1[i], k2[i], gset[i]}; }
};

inline Keys keys_of(const py::handle& part) {
  const size_t n = static_cast<size_t>(py::reinterpret_borrow<py::array>(part[py::int_(0)]).size());
  return Keys{column<int64_t>(part, 0, n), column<uint8_t>(part, 1, n), column<int32_t>(part, 2, n),
              column<int32_t>(part, 3, n), n};
}

}  // namespace rollup_merge

// `cell_parts`: (win, gset, k1, k2, *metrics) tuples of columns; `sketch_parts`:
// (win, gset, k1, k2, reg, rank) tuples. Returns (the summed cells as cell_columns,
// with buyers estimated if `estimate` and else summed; the merged registers as
// register_columns if `keep_registers`, else None). A key with registers and no cells
// makes no cell, as hll.py's left join.
inline py::tuple merge_rollup(const py::list& cell_parts, const py::list& sketch_parts,
                              bool estimate, bool keep_registers) {
  using rollup_merge::Keys;
  std::vector<Keys> cell_keys, sketch_keys;
  std::vector<std::array<const int64_t*, N_METRICS>> metrics_of;
  std::vector<const uint16_t*> reg_of;
  std::vector<const int16_t*> rank_of;
  for (const auto& part : cell_parts) {
    cell_keys.push_back(rollup_merge::keys_of(part));
    if (py::len(part) != 4 + N_METRICS) throw std::invalid_argument("a cell part is 4 keys and the metrics");
    std::array<const int64_t*, N_METRICS> m;
    for (int j = 0; j < N_METRICS; ++j) m[j] = rollup_merge::column<int64_t>(part, 4 + j, cell_keys.back().n);
    metrics_of.push_back(m);
  }
  for (const auto& part : sketch_parts) {
    sketch_keys.push_back(rollup_merge::keys_of(part));
    reg_of.push_back(rollup_merge::column<uint16_t>(part, 4, sketch_keys.back().n));
    rank_of.push_back(rollup_merge::column<int16_t>(part, 5, sketch_keys.back().n));
  }
  IndexMap<CellKey> keys;  // cells' keys, then registers' keys that have no cell
  std::vector<int64_t> metrics;
  std::vector<uint8_t> has_cell;
  RegisterMerge registers;
  {
    py::gil_scoped_release unlocked;
    size_t rows = 0;
    for (const auto& k : cell_keys) rows += k.n;
    keys.reset(rows / 2);
    metrics.reserve(rows / 2 * N_METRICS);
    auto key_index = [&](const CellKey& ck) {
      auto [at, added] = keys.insert(ck);
      if (added) metrics.resize(metrics.size() + N_METRICS, 0), has_cell.push_back(0);
      return at;
    };
    for (size_t p = 0; p < cell_keys.size(); ++p) {
      const Keys& k = cell_keys[p];
      const auto& from = metrics_of[p];
      for (size_t i = 0; i < k.n; ++i) {
        const int64_t at = key_index(k.at(i));
        has_cell[at] = 1;
        int64_t* m = &metrics[at * N_METRICS];
        for (int j = 0; j < N_METRICS; ++j) m[j] += from[j][i];
      }
    }
    size_t reg_rows = 0;
    for (const auto& k : sketch_keys) reg_rows += k.n;
    registers.reserve(reg_rows);
    for (size_t p = 0; p < sketch_keys.size(); ++p)
      for (size_t i = 0; i < sketch_keys[p].n; ++i)
        registers.add(key_index(sketch_keys[p].at(i)), reg_of[p][i], rank_of[p][i]);
    if (estimate)  // a cell without registers has no buyers
      for (size_t c = 0; c < keys.size(); ++c) metrics[c * N_METRICS + BUYERS] = 0;
    registers.merge(keys.size(), keep_registers, [&](size_t c, int64_t present, double inv) {
      if (estimate) metrics[c * N_METRICS + BUYERS] = hll_estimate(present, inv);
    });
  }
  // the cells: keys that came with cells, in first-seen order
  std::vector<CellKey> kept;
  std::vector<int64_t> kept_metrics;
  const std::vector<CellKey>* out_keys = &keys.keys;
  const std::vector<int64_t>* out_metrics = &metrics;
  if (std::find(has_cell.begin(), has_cell.end(), 0) != has_cell.end()) {
    for (size_t c = 0; c < keys.size(); ++c) {
      if (!has_cell[c]) continue;
      kept.push_back(keys.keys[c]);
      kept_metrics.insert(kept_metrics.end(), &metrics[c * N_METRICS], &metrics[(c + 1) * N_METRICS]);
    }
    out_keys = &kept, out_metrics = &kept_metrics;
  }
  py::object merged = py::none();
  if (keep_registers) merged = register_columns(keys, registers);
  return py::make_tuple(cell_columns(*out_keys, *out_metrics), merged);
}

}  // namespace warroom
