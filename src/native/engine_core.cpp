// The engine's per-record core (engine/native.py drives it): dedup, watermark and
// lateness, the order index, attribution, and the per-second cells of every grouping
// set with exact distinct orders and buyers and the minute HyperLogLog registers.
//
// It makes the decisions engine.py's docstring defines, record by record in input
// order, so its output does not depend on batch sizes; engine.py's numpy/polars path
// (WARROOM_NATIVE=0) is the reference the tests compare it with. Money is int64 minor
// units throughout: sums are exact (the decoder keeps each value below 2**53).
//
// Persistence: the two indexes log every change; Python drains the log into sorted
// runs (engine/runs.py's format) at each checkpoint and loads them back on restore.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "cells.hpp"
#include "mix.hpp"
#include "rollup_merge.hpp"
#include "str_dict.hpp"

namespace py = pybind11;

namespace {

constexpr int N_DIMS = 8;  // engine/dims.py DIMS
// DIMS positions
constexpr int REGION = 0, COUNTRY = 1, CHANNEL = 2, CATEGORY = 3, METHOD = 4, CAMPAIGN = 5,
              MERCHANT = 6;
// ORDER_DIMS: what an order gives its payments, refunds and shipments
constexpr int ORDER_DIMS[6] = {REGION, COUNTRY, CHANNEL, CATEGORY, CAMPAIGN, MERCHANT};
constexpr uint8_t K_ORDER = 0, K_PAYMENT = 1, K_REFUND = 2, K_SHIPMENT = 3, K_SKU = 4, K_VISIT = 5;
constexpr uint8_t PAY_OK = 1, SHIP_SHIPPED = 1, SHIP_DELIVERED = 2, SHIP_RETURNED = 3;
constexpr int64_t SECOND = 1000, MINUTE = 60000;
constexpr int64_t FOREVER = INT64_MAX / 4;
constexpr int64_t NEVER = INT64_MIN / 4;
constexpr size_t CELL_PREFETCH_AHEAD = 8;  // fine groups, in the cells' map
constexpr py::ssize_t PREFETCH_AHEAD = 16;  // records: a lookup's miss overlaps the 16 before it

inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
inline int64_t window_of(int64_t ts) { return floor_div(ts, SECOND) * SECOND; }

using namespace warroom;  // NOLINT: the shared cell types and mixer

struct FineKey {  // a row's window, dimensions and what kind of count it is
  int64_t win;
  int32_t dims[N_DIMS];
  uint8_t kind, status;
  int8_t lat;
  static uint64_t hash(const FineKey& k) {
    uint64_t h = mix(static_cast<uint64_t>(k.win));
    for (int d = 0; d < N_DIMS; d += 2)
      h = mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(k.dims[d])) << 32 |
                   static_cast<uint32_t>(k.dims[d + 1])));
    return mix(h ^ (uint64_t(k.kind) << 16 | uint64_t(k.status) << 8 | uint8_t(k.lat)));
  }
  bool operator==(const FineKey& o) const {
    return win == o.win && kind == o.kind && status == o.status && lat == o.lat &&
           std::memcmp(dims, o.dims, sizeof dims) == 0;
  }
};

// Least significant digit first, 11 bits a pass; stable, so pairs of equal keys keep
// their order. The index drains of the 2 M-event replay (py-spy, the engine's thread,
// one run each): 0.14 s with std::sort of the pairs, 0.07 s with this.
void radix_sort_by_key(std::vector<std::pair<uint64_t, int64_t>>& v,
                       std::vector<std::pair<uint64_t, int64_t>>& tmp) {
  constexpr int BITS = 11;
  constexpr size_t BUCKETS = size_t(1) << BITS;
  tmp.resize(v.size());
  std::vector<size_t> count(BUCKETS);
  for (int shift = 0; shift < 64; shift += BITS) {
    std::fill(count.begin(), count.end(), 0);
    for (const auto& e : v) ++count[(e.first >> shift) & (BUCKETS - 1)];
    if (count[(v.empty() ? 0 : v[0].first >> shift) & (BUCKETS - 1)] == v.size()) continue;
    size_t at = 0;
    for (auto& c : count) at += std::exchange(c, at);
    for (const auto& e : v) tmp[count[(e.first >> shift) & (BUCKETS - 1)]++] = e;
    v.swap(tmp);
  }
}

// u64 key -> `width` int64 values; value `expire` is the event time eviction reads.
// With keep_last a new value replaces the old, else the first one stays. Every change is
// logged for the next drain.
//
// Memory: the dedup index holds every id of the horizon (9.4 M in the 10 M-event day),
// so it is 256 open-addressing shards, each grown by half when three quarters full: a
// grow copies one shard, not the whole table (one table doubling from 16 M to 32 M
// slots of 16 bytes holds 768 MiB at once), and there are 1.33-2 slots per entry. A slot holds its key and values side by
// side: a lookup touches one cache line, not three. Key 0 marks an empty slot; an entry
// whose key is 0 is kept aside.
class Index {
 public:
  Index(int width, bool keep_last, int expire)
      : width_(width), stride_(width + 1), expire_(expire), keep_last_(keep_last) {
    for (auto& shard : shards_) shard.reset(8, stride_);
  }

  const int64_t* find(uint64_t key) const {
    if (key == 0) return has_zero_ ? zero_.data() : nullptr;
    const uint64_t h = mix(key);
    const int64_t* slot = probe(shards_[h >> 56], key, h);
    return slot[0] == 0 ? nullptr : slot + 1;
  }
  // The cache line `key`'s lookup starts from, asked for ahead of that lookup: the
  // dedup index is tens of MiB, and each lookup missed the cache. Always inlined: GCC
  // finds a function holding only a prefetch free of effects and drops its calls (this
  // session's first build of it held no prefetch instruction; session 12's trials, whose
  // code was not kept, may have met the same).
  __attribute__((always_inline)) void prefetch(uint64_t key) const {
    const uint64_t h = mix(key);
    const Shard& sh = shards_[h >> 56];
    __builtin_prefetch(sh.slots.data() + sh.home(h) * stride_, 1, 3);
  }
  void put(uint64_t key, const int64_t* vals) {
    if (!store(key, vals)) return;
    oldest_ = std::min(oldest_, vals[expire_]);
    log_keys_.push_back(key);
    log_vals_.insert(log_vals_.end(), vals, vals + width_);
    ++since_evict_;
  }
  // Forget entries whose expire value is below `bound`, when enough were added since the
  // last pass for the copy to pay (it never changes an answer: see the callers).
  void evict(int64_t bound) {
    if (bound <= oldest_ || since_evict_ * 2 < size() || size() < 4096) return;
    since_evict_ = 0;
    oldest_ = INT64_MAX;
    for (auto& sh : shards_) {
      size_t live = 0;
      for (size_t s = 0; s < sh.cap; ++s)
        live += sh.slots[s * stride_] != 0 && sh.slots[s * stride_ + 1 + expire_] >= bound;
      oldest_ = std::min(oldest_, rebuild(sh, live * 3 / 2 + 8, bound));
    }
    if (has_zero_ && zero_[expire_] < bound) has_zero_ = false;
    if (has_zero_) oldest_ = std::min(oldest_, zero_[expire_]);
  }
  size_t size() const {
    size_t n = has_zero_ ? 1 : 0;
    for (const auto& sh : shards_) n += sh.count;
    return n;
  }
  size_t logged() const { return log_keys_.size(); }
  // The log forgotten (a compaction writes every live entry instead).
  void clear_log() {
    log_keys_ = {};
    log_vals_ = {};
  }

  // The changes since the last drain as one sorted run of distinct keys (the value that
  // wins by keep_last), and the log emptied.
  py::tuple drain() {
    py::tuple out = sorted_run(log_keys_, log_vals_);
    clear_log();
    return out;
  }
  // Every live entry as one sorted run (a compaction of the persisted log).
  py::tuple dump() const {
    std::vector<uint64_t> keys;
    std::vector<int64_t> vals;
    keys.reserve(size());
    vals.reserve(size() * width_);
    if (has_zero_) keys.push_back(0), vals.insert(vals.end(), zero_.begin(), zero_.end());
    for (const auto& sh : shards_)
      for (size_t s = 0; s < sh.slots.size(); s += stride_) {
        if (sh.slots[s] == 0) continue;
        keys.push_back(static_cast<uint64_t>(sh.slots[s]));
        vals.insert(vals.end(), &sh.slots[s + 1], &sh.slots[s + stride_]);
      }
    return sorted_run(keys, vals);
  }

  void load(py::array_t<uint64_t, py::array::c_style | py::array::forcecast> keys,
            py::array_t<int64_t, py::array::c_style | py::array::forcecast> vals) {
    auto k = keys.unchecked<1>();
    auto v = vals.unchecked<2>();
    if (v.shape(0) != k.shape(0) || v.shape(1) != width_)
      throw std::invalid_argument("index run: values do not match the keys or the width");
    for (py::ssize_t i = 0; i < k.shape(0); ++i) {
      store(k(i), v.data(i, 0));
      oldest_ = std::min(oldest_, v(i, expire_));
    }
    since_evict_ += k.shape(0);  // a restored index may hold entries already expired
  }

 private:
  struct Shard {
    std::vector<int64_t> slots;  // key, values; key 0: empty
    size_t cap = 0, count = 0;
    void reset(size_t capacity, int stride) {
      cap = std::max<size_t>(capacity, 8);
      slots.assign(cap * stride, 0);
      count = 0;
    }
    // the slot a hash starts from: its low 32 bits scaled to the capacity
    size_t home(uint64_t h) const { return ((h & 0xffffffffULL) * cap) >> 32; }
  };
  int width_, stride_, expire_;  // values per entry; slot size; the value eviction reads
  bool keep_last_;
  Shard shards_[256];  // by the hash's top byte
  bool has_zero_ = false;
  std::vector<int64_t> zero_;
  int64_t oldest_ = INT64_MAX;  // no entry's expire value is below this
  std::vector<uint64_t> log_keys_;
  std::vector<int64_t> log_vals_;
  size_t since_evict_ = 0;

  // The slot holding `key` (whose hash is `h`) in its shard, or the empty slot where it
  // would go.
  int64_t* probe(Shard& sh, uint64_t key, uint64_t h) const {
    return const_cast<int64_t*>(probe(static_cast<const Shard&>(sh), key, h));
  }
  const int64_t* probe(const Shard& sh, uint64_t key, uint64_t h) const {
    for (size_t s = sh.home(h);; s = s + 1 == sh.cap ? 0 : s + 1) {
      const int64_t* slot = &sh.slots[s * stride_];
      if (slot[0] == 0 || static_cast<uint64_t>(slot[0]) == key) return slot;
    }
  }
  // `key` into its empty `slot`
  void fill(Shard& sh, int64_t* slot, uint64_t key, const int64_t* vals) {
    slot[0] = static_cast<int64_t>(key);
    std::memcpy(slot + 1, vals, width_ * sizeof(int64_t));
    ++sh.count;
  }
  // The shard with `capacity` slots, keeping the entries whose expire value is at least
  // `bound` (a grow keeps all); returns the least expire value kept.
  int64_t rebuild(Shard& sh, size_t capacity, int64_t bound) {
    std::vector<int64_t> old;
    old.swap(sh.slots);
    const size_t old_cap = sh.cap;
    sh.reset(capacity, stride_);
    int64_t oldest = INT64_MAX;
    for (size_t s = 0; s < old_cap; ++s) {
      const int64_t* slot = &old[s * stride_];
      if (slot[0] == 0 || slot[1 + expire_] < bound) continue;
      oldest = std::min(oldest, slot[1 + expire_]);
      const auto key = static_cast<uint64_t>(slot[0]);
      fill(sh, probe(sh, key, mix(key)), key, slot + 1);
    }
    return oldest;
  }
  // Insert or (keep_last) replace; false when keep-first left the old value.
  bool store(uint64_t key, const int64_t* vals) {
    if (key == 0) {
      if (has_zero_ && !keep_last_) return false;
      zero_.assign(vals, vals + width_);
      has_zero_ = true;
      return true;
    }
    const uint64_t h = mix(key);
    Shard& sh = shards_[h >> 56];
    if ((sh.count + 1) * 4 > sh.cap * 3) rebuild(sh, sh.cap * 3 / 2, INT64_MIN);
    int64_t* slot = probe(sh, key, h);
    if (slot[0] == 0) {
      fill(sh, slot, key, vals);
    } else {
      if (!keep_last_) return false;
      std::memcpy(slot + 1, vals, width_ * sizeof(int64_t));
    }
    return true;
  }

  py::tuple sorted_run(const std::vector<uint64_t>& keys, const std::vector<int64_t>& vals) const {
    std::vector<int64_t> pick;  // of equal keys, the first or the last logged
    {
      py::gil_scoped_release unlocked;
      // (key, position) pairs, in log order, sorted by key: equal keys stay in log order
      std::vector<std::pair<uint64_t, int64_t>> order(keys.size());
      for (size_t i = 0; i < keys.size(); ++i) order[i] = {keys[i], static_cast<int64_t>(i)};
      std::vector<std::pair<uint64_t, int64_t>> tmp;
      radix_sort_by_key(order, tmp);
      pick.reserve(order.size());
      for (size_t i = 0; i < order.size(); ++i) {
        bool last_of_key = i + 1 == order.size() || order[i + 1].first != order[i].first;
        bool first_of_key = i == 0 || order[i - 1].first != order[i].first;
        if (keep_last_ ? last_of_key : first_of_key) pick.push_back(order[i].second);
      }
    }
    py::array_t<uint64_t> out_keys(static_cast<py::ssize_t>(pick.size()));
    py::array_t<int64_t> out_vals({static_cast<py::ssize_t>(pick.size()),
                                   static_cast<py::ssize_t>(width_)});
    auto ok = out_keys.mutable_unchecked<1>();
    int64_t* ov = out_vals.mutable_data();
    for (size_t i = 0; i < pick.size(); ++i) {
      ok(i) = keys[pick[i]];
      std::memcpy(ov + i * width_, &vals[pick[i] * width_], width_ * sizeof(int64_t));
    }
    return py::make_tuple(out_keys, out_vals);
  }
};

// An accepted record waiting for its window to close (engine.py _PENDING_COLS).
struct Pending {
  int64_t win;
  uint64_t order_hash, user_hash;
  int32_t dims[N_DIMS];
  int64_t value_base, value_minor;
  uint8_t kind, status;
  int8_t lat;
};

class Core {
 public:
  int64_t max_ts = NEVER, closed_before = NEVER, seq = 0;

  Core(int64_t lateness, int64_t dedup_horizon, int64_t order_horizon,
       std::vector<std::pair<int, int>> gsets, std::vector<bool> local, std::vector<int> parent)
      : lateness_(lateness),
        dedup_horizon_(dedup_horizon),
        order_horizon_(order_horizon),
        gsets_(std::move(gsets)),
        local_(std::move(local)),
        parent_(std::move(parent)),
        seen_(1, true, 0),
        orders_(2 + 6, false, 1) {
    if (local_.size() != gsets_.size() || parent_.size() != gsets_.size())
      throw std::invalid_argument("one local flag and one parent per gset");
    for (size_t g = 0; g < gsets_.size(); ++g) {  // a parent is a finer set of fine cells
      const int p = parent_[g];
      if (p < 0) continue;
      if (p >= static_cast<int>(gsets_.size()) || parent_[p] >= 0 || local_[p] != local_[g])
        throw std::invalid_argument("a parent must be summed from the fine cells, alike in money");
      for (int d : {gsets_[g].first, gsets_[g].second})
        if (d >= 0 && d != gsets_[p].first && d != gsets_[p].second)
          throw std::invalid_argument("a parent must hold its child's dimensions");
    }
  }

  // One batch, in input order. `dims` is (8, n) dictionary codes, unmasked. Returns
  // (duplicate mask, late mask, finalised cells or None).
  py::tuple process(Arr<uint8_t> kind, Arr<int64_t> ts, Arr<uint64_t> id_hash,
                    Arr<uint64_t> order_hash, Arr<uint64_t> user_hash, Arr<int32_t> dims,
                    Arr<int64_t> value_base, Arr<int64_t> value_minor, Arr<uint8_t> status,
                    Arr<int8_t> lat) {
    const py::ssize_t n = kind.shape(0);
    for (auto* a : {ts.shape(), id_hash.shape(), order_hash.shape(), user_hash.shape(),
                    value_base.shape(), value_minor.shape(), status.shape(), lat.shape()})
      if (a[0] != n) throw std::invalid_argument("columns of different lengths");
    if (dims.ndim() != 2 || dims.shape(0) != N_DIMS || dims.shape(1) != n)
      throw std::invalid_argument("dims must be (8, n)");
    py::array_t<bool> dup_out(n), late_out(n);
    bool* dup = dup_out.mutable_data();
    bool* late = late_out.mutable_data();
    std::vector<int64_t>& w_after = step_.w_after;
    w_after.resize(n);
    const uint8_t* k = kind.data();
    const int64_t* t = ts.data();
    const uint64_t* ids = id_hash.data();
    const uint64_t* oh = order_hash.data();
    const uint64_t* uh = user_hash.data();
    const int32_t* dm = dims.data();
    const int64_t* vb = value_base.data();
    const int64_t* vm = value_minor.data();
    const uint8_t* st = status.data();
    const int8_t* lt = lat.data();
    const int64_t seq0 = seq;
    {
      py::gil_scoped_release release;
      int64_t high = max_ts;
      int64_t w_before = std::max(max_ts - lateness_, closed_before);
      for (py::ssize_t i = 0; i < n; ++i) {
        if (i + PREFETCH_AHEAD < n) seen_.prefetch(ids[i + PREFETCH_AHEAD]);
        high = std::max(high, t[i]);
        w_after[i] = std::max(high - lateness_, closed_before);
        const int64_t* prior = seen_.find(ids[i]);
        dup[i] = prior != nullptr && prior[0] >= w_before - dedup_horizon_;
        late[i] = false;
        if (!dup[i]) {
          seen_.put(ids[i], &t[i]);
          const int64_t win = window_of(t[i]);
          late[i] = win + SECOND <= w_before;
          Pending p{win, oh[i], uh[i], {}, vb[i], vm[i], k[i], st[i], lt[i]};
          for (int d = 0; d < N_DIMS; ++d) p.dims[d] = own(k[i], d) ? dm[d * n + i] : 0;
          if (k[i] == K_ORDER) {
            int64_t entry[8] = {seq0 + i, t[i]};
            for (int j = 0; j < 6; ++j) entry[2 + j] = p.dims[ORDER_DIMS[j]];
            orders_.put(oh[i], entry);
          }
          if (!late[i]) pending_.push_back(p);
        }
        w_before = w_after[i];
      }
      max_ts = high;
      seq += n;
    }
    py::object cells = py::none();
    if (n > 0) {
      const int64_t closed = window_of(w_after[n - 1]);
      if (closed > closed_before) cells = finalise(closed, &w_after, seq0, false);
      seen_.evict(w_after[n - 1] - dedup_horizon_);
      orders_.evict(w_after[n - 1] - order_horizon_);
    }
    return py::make_tuple(dup_out, late_out, cells);
  }

  // End of input: every open window.
  py::object flush() {
    step_ = Step{};  // the steps' memory, given back before the run's largest step
    int64_t closed = std::max<int64_t>(closed_before, 0);
    if (!pending_.empty()) {
      int64_t last = NEVER;
      for (const auto& p : pending_) last = std::max(last, p.win);
      closed = last + SECOND;
    }
    return finalise(closed, nullptr, 0, true);
  }

  Index& seen() { return seen_; }
  Index& orders() { return orders_; }

  py::dict pending_columns() const {
    const size_t m = pending_.size();
    std::vector<uint8_t> kind(m), status(m);
    std::vector<int8_t> lat(m);
    std::vector<int64_t> win(m), vb(m), vm(m);
    std::vector<uint64_t> oh(m), uh(m);
    py::array_t<int32_t> dims({static_cast<py::ssize_t>(N_DIMS), static_cast<py::ssize_t>(m)});
    int32_t* d = dims.mutable_data();
    for (size_t i = 0; i < m; ++i) {
      const Pending& p = pending_[i];
      kind[i] = p.kind, status[i] = p.status, lat[i] = p.lat, win[i] = p.win;
      vb[i] = p.value_base, vm[i] = p.value_minor, oh[i] = p.order_hash, uh[i] = p.user_hash;
      for (int j = 0; j < N_DIMS; ++j) d[j * m + i] = p.dims[j];
    }
    py::dict out;
    out["kind"] = to_numpy(kind);
    out["win"] = to_numpy(win);
    out["order_hash"] = to_numpy(oh);
    out["user_hash"] = to_numpy(uh);
    out["dims"] = dims;
    out["value_base"] = to_numpy(vb);
    out["value_minor"] = to_numpy(vm);
    out["status"] = to_numpy(status);
    out["lat_bucket"] = to_numpy(lat);
    return out;
  }

  // Records restored as pending (codes already masked, as pending_columns gives them).
  void set_pending(Arr<uint8_t> kind, Arr<int64_t> win, Arr<uint64_t> order_hash,
                   Arr<uint64_t> user_hash, Arr<int32_t> dims, Arr<int64_t> value_base,
                   Arr<int64_t> value_minor, Arr<uint8_t> status, Arr<int8_t> lat) {
    const py::ssize_t m = kind.shape(0);
    if (dims.ndim() != 2 || dims.shape(0) != N_DIMS || dims.shape(1) != m)
      throw std::invalid_argument("dims must be (8, n)");
    pending_.clear();
    pending_.reserve(m);
    for (py::ssize_t i = 0; i < m; ++i) {
      Pending p{win.at(i),        order_hash.at(i), user_hash.at(i), {},
                value_base.at(i), value_minor.at(i), kind.at(i),     status.at(i),
                lat.at(i)};
      for (int j = 0; j < N_DIMS; ++j) p.dims[j] = dims.data()[j * m + i];
      pending_.push_back(p);
    }
  }

 private:
  int64_t lateness_, dedup_horizon_, order_horizon_;
  std::vector<std::pair<int, int>> gsets_;  // dimension positions; -1: none
  std::vector<bool> local_;                 // the gset keeps money in local units
  std::vector<int> parent_;                 // the gset whose cells it is summed from; -1: fine
  Index seen_;    // id -> ts of its latest fresh record
  Index orders_;  // order -> seq, ts and dims of its first line
  std::vector<Pending> pending_;

  // The per-second cells of every grouping set, and the minute registers of their buyers.
  struct Cells {
    IndexMap<CellKey> cells, minutes;
    std::vector<int64_t> metrics;         // N_METRICS a cell
    std::vector<int64_t> minute_metrics;  // N_METRICS a minute cell
    RegisterMerge regs;                   // of the minute cells
  };
  struct Adds {  // what a fine group adds to its cells: at most 5 metrics (a payment)
    uint8_t used, used_base, metric[8];
    int64_t value[8];
  };
  // A step's working memory, kept from step to step: allocated afresh, its pages were
  // faulted in (and zeroed by the kernel) at every step, and glibc handed the larger
  // blocks back at every free. Its capacity stays that of the largest step.
  struct Step {
    std::vector<int64_t> w_after;
    std::vector<Pending> done;
    Cells out;
    IndexMap<FineKey> fine;
    std::vector<int64_t> fine_n, fine_v, fine_u, row_fine, fine_cells, child_of, minute_of, reached;
    std::vector<std::pair<uint64_t, int64_t>> by_hash, sort_tmp;
    std::vector<Adds> adds;
  } step_;

  // engine.py _rows: which dimensions a record carries itself
  static bool own(uint8_t kind, int d) {
    switch (d) {
      case REGION:
      case COUNTRY:
      case CHANNEL:
        return kind == K_ORDER || kind == K_VISIT;
      case CATEGORY:  // a sku change's: its sku's in the catalog (engine.py sets it)
        return kind == K_ORDER || kind == K_SKU;
      case CAMPAIGN:
        return kind == K_ORDER;
      case METHOD:
        return kind == K_PAYMENT;
      case MERCHANT:
        return kind == K_ORDER || kind == K_SKU;
      default:  // currency: the record's own
        return true;
    }
  }

  py::object finalise(int64_t closed, const std::vector<int64_t>* w_after, int64_t seq0,
                      bool end) {
    Cells& out = step_.out;
    bool any;
    {
      py::gil_scoped_release unlocked;  // the decode thread runs beside the engine
      std::vector<Pending>& done = step_.done;
      done.clear();
      size_t kept = 0;  // the open records stay, moved up in place: no second buffer
      for (const auto& p : pending_) {
        if (p.win < closed)
          done.push_back(p);
        else
          pending_[kept++] = p;
      }
      pending_.resize(kept);
      closed_before = std::max(closed_before, closed);
      any = !done.empty();
      if (any) {
        attribute(done, w_after, seq0, end);
        aggregate(done, out);
      }
    }
    if (!any) return py::none();
    return py::make_tuple(cell_columns(out.cells.keys, out.metrics),
                          register_columns(out.minutes, out.regs),
                          cell_columns(out.minutes.keys, out.minute_metrics));
  }

  // Payments, refunds and shipments take their order's dimensions if the order arrived
  // before the record that closed their window and is within the order horizon.
  void attribute(std::vector<Pending>& done, const std::vector<int64_t>* w_after, int64_t seq0,
                 bool end) {
    auto takes_order = [](const Pending& p) {
      return p.kind == K_PAYMENT || p.kind == K_REFUND || p.kind == K_SHIPMENT;
    };
    for (size_t i = 0; i < done.size(); ++i) {
      if (i + PREFETCH_AHEAD < done.size() && takes_order(done[i + PREFETCH_AHEAD]))
        orders_.prefetch(done[i + PREFETCH_AHEAD].order_hash);
      Pending& p = done[i];
      if (!takes_order(p)) continue;
      int64_t limit = FOREVER, bound = max_ts - lateness_ - order_horizon_;
      if (!end && w_after != nullptr && !w_after->empty()) {
        auto it = std::lower_bound(w_after->begin(), w_after->end(), p.win + SECOND);
        size_t at = std::min<size_t>(it - w_after->begin(), w_after->size() - 1);
        limit = seq0 + static_cast<int64_t>(at);
        bound = (*w_after)[at] - order_horizon_;
      }
      const int64_t* o = orders_.find(p.order_hash);
      bool ok = o != nullptr && o[0] <= limit && o[1] >= bound;
      for (int j = 0; j < 6; ++j) p.dims[ORDER_DIMS[j]] = ok ? static_cast<int32_t>(o[2 + j]) : 0;
    }
  }

  void aggregate(const std::vector<Pending>& done, Cells& out) {
    const size_t G = gsets_.size();
    Step& w = step_;
    // 1. rows -> fine groups (window, every dimension, kind, status, latency bucket)
    IndexMap<FineKey>& fine = w.fine;
    fine.reset(done.size() / 4);
    std::vector<int64_t>& fine_n = w.fine_n;
    std::vector<int64_t>& fine_v = w.fine_v;
    std::vector<int64_t>& fine_u = w.fine_u;
    std::vector<int64_t>& row_fine = w.row_fine;
    fine_n.clear(), fine_v.clear(), fine_u.clear();
    row_fine.resize(done.size());
    for (size_t i = 0; i < done.size(); ++i) {
      const Pending& p = done[i];
      FineKey key{};
      key.win = p.win;
      std::memcpy(key.dims, p.dims, sizeof key.dims);
      key.kind = p.kind, key.status = p.status, key.lat = p.lat;
      auto [at, added] = fine.insert(key);
      if (added) fine_n.push_back(0), fine_v.push_back(0), fine_u.push_back(0);
      fine_n[at] += 1, fine_v[at] += p.value_base, fine_u[at] += p.value_minor;
      row_fine[i] = at;
    }
    // 2. fine groups -> the cells of every grouping set
    IndexMap<CellKey>& cells = out.cells;
    cells.reset(fine.size() * G / 2);
    std::vector<int64_t>& metrics = out.metrics;
    metrics.clear();
    metrics.reserve(fine.size() * G / 2 * N_METRICS);
    const size_t F = fine.size();
    std::vector<int64_t>& fine_cells = w.fine_cells;  // by grouping set, then fine group
    fine_cells.resize(F * G);
    std::vector<Adds>& adds = w.adds;  // a group adds to a few metrics: those, once
    adds.resize(F);
    for (size_t f = 0; f < F; ++f) {
      int64_t add[N_METRICS] = {};
      contribute(fine.keys[f], fine_n[f], fine_v[f], fine_u[f], add);
      Adds& ad = adds[f];
      ad.used = ad.used_base = 0;
      for (int j = 0; j < N_METRICS; ++j)
        if (add[j] != 0) {
          ad.metric[ad.used] = static_cast<uint8_t>(j), ad.value[ad.used++] = add[j];
          ad.used_base += j < GMV_LOCAL;  // local money sorts last
        }
    }
    // One grouping set at a time: its cells and their metrics stay in cache (with the
    // sets interleaved, every fine group reached eleven cells across the whole table).
    for (size_t g = 0; g < G; ++g) {
      if (parent_[g] >= 0) continue;  // below, from its parent's far fewer cells
      const auto [a, b] = gsets_[g];
      const bool local = local_[g];
      int64_t* cell_of = &fine_cells[g * F];
      auto cell_key = [&](const FineKey& fk) {
        return CellKey{fk.win, a >= 0 ? fk.dims[a] : 0, b >= 0 ? fk.dims[b] : 0, static_cast<int32_t>(g)};
      };
      for (size_t f = 0; f < F; ++f) {
        // the map outgrows the cache: its slot loads missed (a quarter of the aggregation's
        // samples)
        if (f + CELL_PREFETCH_AHEAD < F) cells.prefetch(cell_key(fine.keys[f + CELL_PREFETCH_AHEAD]));
        const CellKey ck = cell_key(fine.keys[f]);
        auto [at, added] = cells.insert(ck);
        if (added) metrics.resize(metrics.size() + N_METRICS, 0);
        int64_t* m = &metrics[at * N_METRICS];
        const Adds& ad = adds[f];
        const int upto = local ? ad.used : ad.used_base;
        for (int j = 0; j < upto; ++j) m[ad.metric[j]] += ad.value[j];
        cell_of[f] = at;
      }
    }
    // 2b. the coarser sets from their parents' cells (additive metrics: distinct ones are
    // counted below), and each fine group's cell in them
    std::vector<int64_t>& child_of = w.child_of;  // a parent's cell -> its child's cell
    const size_t parent_cells = cells.size();
    for (size_t g = 0; g < G; ++g) {
      const int p = parent_[g];
      if (p < 0) continue;
      child_of.assign(parent_cells, -1);
      const auto [a, b] = gsets_[g];
      const int pa = gsets_[p].first;  // a child's dimension is the parent's first or second
      for (size_t c = 0; c < parent_cells; ++c) {
        const CellKey pk = cells.keys[c];  // a copy: inserting may move the keys
        if (pk.gset != p) continue;
        auto pick = [&](int d) { return d < 0 ? 0 : d == pa ? pk.k1 : pk.k2; };
        auto [at, added] = cells.insert(CellKey{pk.win, pick(a), pick(b), static_cast<int32_t>(g)});
        if (added) metrics.resize(metrics.size() + N_METRICS, 0);
        int64_t* m = &metrics[at * N_METRICS];
        const int64_t* from = &metrics[c * N_METRICS];
        for (int j = 0; j < N_METRICS; ++j) m[j] += from[j];
        child_of[c] = at;
      }
      for (size_t f = 0; f < F; ++f) fine_cells[g * F + f] = child_of[fine_cells[p * F + f]];
    }
    // 3. order lines: distinct orders and buyers per cell; the buyers' minute registers.
    // The lines as (hash, row), sorted by order (then by buyer), equal hashes in row order:
    // each run of one hash adds 1 to each distinct cell its lines reach in a grouping set,
    // with no set of (cell, hash) pairs.
    std::vector<std::pair<uint64_t, int64_t>>& by_hash = w.by_hash;
    auto lines_by = [&](uint64_t Pending::*hash) {
      by_hash.clear();
      for (size_t i = 0; i < done.size(); ++i)
        if (done[i].kind == K_ORDER) by_hash.push_back({done[i].*hash, static_cast<int64_t>(i)});
      radix_sort_by_key(by_hash, w.sort_tmp);
    };
    lines_by(&Pending::order_hash);
    const size_t lines = by_hash.size();
    // each cell's minute: the buyers' registers and the minute rollup's part are keyed by it
    IndexMap<CellKey>& minutes = out.minutes;
    minutes.reset(cells.size() / 4);
    std::vector<int64_t>& minute_of = w.minute_of;
    minute_of.resize(cells.size());
    for (size_t c = 0; c < cells.size(); ++c) {
      CellKey mk = cells.keys[c];
      mk.win = floor_div(mk.win, MINUTE) * MINUTE;
      minute_of[c] = minutes.insert(mk).first;
    }
    RegisterMerge& regs = out.regs;
    regs.clear();
    regs.reserve(lines * G);
    std::vector<int64_t>& reached = w.reached;  // the cells a run's lines reach in one grouping set
    // Calls `each(cell, row)` once per distinct cell a run of equal hashes reaches.
    auto distinct_cells = [&](auto each) {
      for (size_t a = 0, b; a < lines; a = b) {
        for (b = a + 1; b < lines && by_hash[b].first == by_hash[a].first;) ++b;
        for (size_t g = 0; g < G; ++g) {
          reached.clear();
          for (size_t k = a; k < b; ++k) reached.push_back(fine_cells[g * F + row_fine[by_hash[k].second]]);
          if (b - a > 1) {
            std::sort(reached.begin(), reached.end());
            reached.erase(std::unique(reached.begin(), reached.end()), reached.end());
          }
          for (int64_t c : reached) each(c, by_hash[a].second);
        }
      }
    };
    distinct_cells([&](int64_t c, int64_t) { metrics[c * N_METRICS + ORDERS]++; });
    lines_by(&Pending::user_hash);
    distinct_cells([&](int64_t c, int64_t row) {
      metrics[c * N_METRICS + BUYERS]++;
      const uint64_t user = done[row].user_hash;
      const uint64_t low = user & ((uint64_t(1) << 52) - 1);
      const int16_t r = static_cast<int16_t>((low == 0 ? 64 : __builtin_clzll(low)) - 11);
      regs.add(minute_of[c], static_cast<uint16_t>(user >> 52), r);
    });
    regs.merge(minutes.size(), true, [](size_t, int64_t, double) {});
    // 4. the cells summed to their minute: the minute rollup's part (Rollup.add took a
    // polars group-by per step for it). Orders add up (an order's lines share a second);
    // buyers add up too, as in the group-by: a closing minute replaces them by its HLL's.
    std::vector<int64_t>& per_minute = out.minute_metrics;
    per_minute.assign(minutes.size() * N_METRICS, 0);
    for (size_t c = 0; c < cells.size(); ++c) {
      int64_t* m = &per_minute[minute_of[c] * N_METRICS];
      const int64_t* from = &metrics[c * N_METRICS];
      for (int j = 0; j < N_METRICS; ++j) m[j] += from[j];
    }
  }

  static void contribute(const FineKey& k, int64_t n, int64_t v, int64_t u, int64_t* m) {
    switch (k.kind) {
      case K_ORDER:
        m[GMV] = v, m[ORDER_LINES] = n, m[GMV_LOCAL] = u;
        break;
      case K_VISIT:
        m[VISITS] = n;
        break;
      case K_PAYMENT:
        m[PAY_ATTEMPTS] = n;
        if (k.lat >= 0 && k.lat < N_LAT) m[LAT0 + k.lat] = n;
        if (k.status == PAY_OK) m[PAY_SUCCESSES] = n, m[PAY_AMOUNT] = v, m[PAY_AMOUNT_LOCAL] = u;
        break;
      case K_REFUND:
        m[REFUNDS] = n, m[REFUND_AMOUNT] = v, m[REFUND_AMOUNT_LOCAL] = u;
        break;
      case K_SHIPMENT:
        if (k.status == SHIP_SHIPPED) m[SHIPMENTS] = n;
        if (k.status == SHIP_DELIVERED) m[DELIVERIES] = n;
        if (k.status == SHIP_RETURNED) m[RETURNS] = n;
        break;
      case K_SKU:
        m[SKU_CHANGES] = n;
        break;
    }
  }
};

}  // namespace

PYBIND11_MODULE(_engine_core, m) {
  m.doc() = "warroom's native engine core (see src/native/engine_core.cpp)";
  m.attr("N_METRICS") = static_cast<int>(N_METRICS);
  m.def("merge_rollup", &warroom::merge_rollup, py::arg("cell_parts"), py::arg("sketch_parts"),
        py::arg("estimate"), py::arg("keep_registers"),
        "A rollup's parts merged: cells summed, registers merged, buyers estimated.");
  py::class_<Index>(m, "Index")
      .def("drain", &Index::drain)
      .def("dump", &Index::dump)
      .def("clear_log", &Index::clear_log)
      .def("load", &Index::load)
      .def_property_readonly("size", &Index::size)
      .def_property_readonly("logged", &Index::logged);
  py::class_<warroom::StrDict>(m, "StrDict")
      .def(py::init<const std::vector<std::string>&, bool>(), py::arg("values"),
           py::arg("frozen") = false)
      .def("encode", &warroom::StrDict::encode, py::arg("views"), py::arg("validity"),
           py::arg("data"), py::arg("offset"), py::arg("length"), py::arg("list_added") = true)
      .def("find", &warroom::StrDict::find)
      .def("truncate", &warroom::StrDict::truncate)
      .def("__len__", &warroom::StrDict::size);
  py::class_<Core>(m, "Core")
      .def(py::init<int64_t, int64_t, int64_t, std::vector<std::pair<int, int>>, std::vector<bool>,
                    std::vector<int>>())
      .def("process", &Core::process)
      .def("flush", &Core::flush)
      .def_property_readonly("seen", &Core::seen, py::return_value_policy::reference_internal)
      .def_property_readonly("orders", &Core::orders, py::return_value_policy::reference_internal)
      .def("pending_columns", &Core::pending_columns)
      .def("set_pending", &Core::set_pending)
      .def_readwrite("max_ts", &Core::max_ts)
      .def_readwrite("closed_before", &Core::closed_before)
      .def_readwrite("seq", &Core::seq);
}
