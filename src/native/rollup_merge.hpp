// A rollup's parts merged (engine/rollup.py): their cells summed per key, their sparse
// HyperLogLog registers merged by max, and each summed cell's buyers estimated from
// its registers (engine/hll.py's estimate, to the same float operations).
//
// The polars group-bys this replaces (concat, sum, max, estimate, join) took 0.4-0.5 s
// of the 2 M-event replay's main thread: a minute closes every few steps.

#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "cells.hpp"

namespace warroom {

constexpr int HLL_P = 12;  // hll.py P
constexpr int HLL_M = 1 << HLL_P;

// hll.py _estimated: raw HyperLogLog with linear counting below 2.5 M, rounded half to
// even as polars' round(0). `inv` is the sum of 2^-rank over the present registers.
inline int64_t hll_estimate(int64_t present, double inv) {
  const double alpha = 0.7213 / (1 + 1.079 / HLL_M);
  const int64_t zeros = HLL_M - present;
  const double raw = alpha * HLL_M * HLL_M / (inv + static_cast<double>(zeros));
  const double value = raw <= 2.5 * HLL_M && zeros > 0
                           ? HLL_M * std::log(static_cast<double>(HLL_M) / static_cast<double>(zeros))
                           : raw;
  return static_cast<int64_t>(std::nearbyint(value));
}

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
  std::vector<int64_t> reg_cell;  // the merged registers: cell, register, rank
  std::vector<uint16_t> reg_index;
  std::vector<int16_t> reg_rank;
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
    // Registers by cell (a counting sort), then each cell's merged in a dense scratch
    // array: a hash set of (cell, register) pairs took ~70 ns a row in cache misses.
    size_t reg_rows = 0;
    for (const auto& k : sketch_keys) reg_rows += k.n;
    std::vector<uint32_t> row_cell(reg_rows);
    for (size_t p = 0, at = 0; p < sketch_keys.size(); ++p)
      for (size_t i = 0; i < sketch_keys[p].n; ++i, ++at) {
        const int64_t c = key_index(sketch_keys[p].at(i));
        if (c > UINT32_MAX) throw std::length_error("more than 2^32 cells in one merge");
        row_cell[at] = static_cast<uint32_t>(c);
      }
    std::vector<size_t> start(keys.size() + 1, 0);
    for (uint32_t c : row_cell) ++start[c + 1];
    for (size_t c = 0; c < keys.size(); ++c) start[c + 1] += start[c];
    std::vector<uint32_t> by_cell(reg_rows);  // register << 8 | rank + 1
    {
      std::vector<size_t> next(start.begin(), start.end() - 1);
      for (size_t p = 0, at = 0; p < sketch_keys.size(); ++p)
        for (size_t i = 0; i < sketch_keys[p].n; ++i, ++at) {
          const int16_t r = rank_of[p][i];
          const uint16_t reg = reg_of[p][i];
          if (r < 0 || r > 64) throw std::invalid_argument("an HLL rank outside 0..64");
          if (reg >= HLL_M) throw std::invalid_argument("an HLL register outside 0..4095");
          by_cell[next[row_cell[at]]++] = uint32_t(reg) << 8 | uint32_t(r + 1);
        }
    }
    std::vector<uint8_t> best(HLL_M, 0);  // rank + 1; 0: absent
    std::vector<uint16_t> touched;
    for (size_t c = 0; c < keys.size(); ++c) {
      touched.clear();
      for (size_t i = start[c]; i < start[c + 1]; ++i) {
        const uint16_t reg = static_cast<uint16_t>(by_cell[i] >> 8);
        const uint8_t r = static_cast<uint8_t>(by_cell[i] & 0xFF);
        if (best[reg] == 0) touched.push_back(reg);
        best[reg] = std::max(best[reg], r);
      }
      // inv summed exactly, in units of 2^-64 (4,096 registers of at most 2^64 each),
      // then rounded once to a double
      unsigned __int128 inv = 0;
      for (uint16_t reg : touched) {
        const int r = best[reg] - 1;
        inv += static_cast<unsigned __int128>(1) << (64 - r);
        if (keep_registers)
          reg_cell.push_back(static_cast<int64_t>(c)), reg_index.push_back(reg),
              reg_rank.push_back(static_cast<int16_t>(r));
        best[reg] = 0;
      }
      if (estimate)
        metrics[c * N_METRICS + BUYERS] =
            touched.empty() ? 0
                            : hll_estimate(static_cast<int64_t>(touched.size()),
                                           std::ldexp(static_cast<double>(inv), -64));
    }
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
  py::object registers = py::none();
  if (keep_registers) {
    py::dict cols = key_columns(reg_cell.size(), [&](size_t i) -> const CellKey& { return keys.keys[reg_cell[i]]; });
    cols["reg"] = to_numpy(reg_index);
    cols["rank"] = to_numpy(reg_rank);
    registers = cols;
  }
  return py::make_tuple(cell_columns(*out_keys, *out_metrics), registers);
}

}  // namespace warroom
