// The per-second and rolled-up cells the native parts share: their keys, the dense
// hash map they are counted in, and their hand-over to Python as numpy columns.

#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "mix.hpp"

namespace warroom {

namespace py = pybind11;

// cube.py METRIC_COLS, in order
enum Metric : int {
  GMV, ORDER_LINES, ORDERS, BUYERS, VISITS, PAY_ATTEMPTS, PAY_SUCCESSES, PAY_AMOUNT, REFUNDS,
  REFUND_AMOUNT, SHIPMENTS, DELIVERIES, RETURNS, SKU_CHANGES, LAT0,
  GMV_LOCAL = LAT0 + 16, PAY_AMOUNT_LOCAL, REFUND_AMOUNT_LOCAL, N_METRICS
};
constexpr int N_LAT = 16;

// Open addressing, linear probing: key -> dense index (insertion order); the per-batch
// maps of the aggregation (no deletes). A slot holds its key beside the index, so a hit
// reads the slot alone (with the keys apart, it read the slot, then the key elsewhere).
template <class Key>
class IndexMap {
 public:
  std::vector<Key> keys;  // in insertion order

  explicit IndexMap(size_t capacity = 16) { reset(capacity); }

  void reset(size_t capacity) {
    size_t cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    keys.clear();
  }
  size_t size() const { return keys.size(); }
  // The slot `k`'s insert starts from, asked for ahead of it (always inlined: GCC drops
  // calls to a function holding only a prefetch; see engine_core.cpp's Index).
  __attribute__((always_inline)) void prefetch(const Key& k) const {
    __builtin_prefetch(slots_.data() + (Key::hash(k) & mask_), 1, 3);
  }

  // the key's index and whether it was added now
  std::pair<int64_t, bool> insert(const Key& k) {
    if ((keys.size() + 1) * 2 > slots_.size()) grow();
    for (size_t s = Key::hash(k) & mask_;; s = (s + 1) & mask_) {
      Slot& slot = slots_[s];
      if (slot.at < 0) {
        slot = Slot{k, static_cast<int64_t>(keys.size())};
        keys.push_back(k);
        return {slot.at, true};
      }
      if (slot.key == k) return {slot.at, false};
    }
  }

 private:
  struct Slot {
    Key key{};
    int64_t at = -1;  // -1: empty
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;

  void grow() {
    slots_.assign(slots_.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (size_t i = 0; i < keys.size(); ++i) {
      size_t s = Key::hash(keys[i]) & mask_;
      while (slots_[s].at >= 0) s = (s + 1) & mask_;
      slots_[s] = Slot{keys[i], static_cast<int64_t>(i)};
    }
  }
};

struct CellKey {  // (win, gset, k1, k2)
  int64_t win;
  int32_t k1, k2;
  int32_t gset;
  static uint64_t hash(const CellKey& k) {
    return mix(static_cast<uint64_t>(k.win) * 0x9E3779B97F4A7C15ULL ^
               (static_cast<uint64_t>(static_cast<uint32_t>(k.k1)) << 32 |
                static_cast<uint32_t>(k.k2)) ^
               (static_cast<uint64_t>(k.gset) << 58));
  }
  bool operator==(const CellKey& o) const {
    return win == o.win && k1 == o.k1 && k2 == o.k2 && gset == o.gset;
  }
};

template <class T>
using Arr = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), v.size() * sizeof(T));
  return out;
}

// The key columns (win, gset, k1, k2) of `m` rows, row i's key being `key_of(i)`.
template <class KeyOf>
inline py::dict key_columns(size_t m, KeyOf key_of) {
  std::vector<int64_t> win(m);
  std::vector<uint8_t> gset(m);
  std::vector<int32_t> k1(m), k2(m);
  for (size_t i = 0; i < m; ++i) {
    const CellKey& c = key_of(i);
    win[i] = c.win, gset[i] = static_cast<uint8_t>(c.gset), k1[i] = c.k1, k2[i] = c.k2;
  }
  py::dict out;
  out["win"] = to_numpy(win);
  out["gset"] = to_numpy(gset);
  out["k1"] = to_numpy(k1);
  out["k2"] = to_numpy(k2);
  return out;
}

// The cells `keys` with their metrics (N_METRICS a cell, row-major) as columns, the
// metrics as one (N_METRICS, m) array.
inline py::dict cell_columns(const std::vector<CellKey>& keys, const std::vector<int64_t>& metrics) {
  const size_t m = keys.size();
  py::array_t<int64_t> values({static_cast<py::ssize_t>(N_METRICS), static_cast<py::ssize_t>(m)});
  int64_t* v = values.mutable_data();
  for (size_t i = 0; i < m; ++i)
    for (int j = 0; j < N_METRICS; ++j) v[j * m + i] = metrics[i * N_METRICS + j];
  py::dict out = key_columns(m, [&](size_t i) -> const CellKey& { return keys[i]; });
  out["metrics"] = values;
  return out;
}

}  // namespace warroom
