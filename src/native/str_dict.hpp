// Dictionary coding of string columns for the engine (engine/dims.py Dictionary): a
// value's code is its position in the dictionary, new values are appended in order of
// first appearance, a null is 0 ("unknown", always the first value).
//
// Columns come as Arrow string views (polars' own layout, handed over by pyarrow
// without a copy): 16 bytes a row, the length, then the string itself if it fits in 12
// bytes, else its first 4 bytes, the index of its data buffer and its offset there.

#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mix.hpp"

namespace warroom {

namespace py = pybind11;

class StrDict {
 public:
  // `frozen`: values not in the dictionary get code 0 instead of being added.
  StrDict(const std::vector<std::string>& values, bool frozen) : frozen_(frozen) {
    rehash(values.size() * 2 + 16);
    for (const auto& v : values) {
      const size_t before = values_.size();
      code(Key::of(v), true);
      if (values_.size() == before) throw std::invalid_argument("a value given twice: " + v);
    }
  }

  size_t size() const { return values_.size(); }

  // Forget every value from code `n` on (a batch coded ahead and then not taken in).
  void truncate(size_t n) {
    if (n >= values_.size()) return;
    values_.resize(n);
    entries_.resize(n);
    rehash(slots_.size());
  }

  // A value's code, or -1 when it is not in the dictionary (nothing is added).
  int32_t find(const std::string& value) const { return slots_[slot(Key::of(value))]; }

  // Codes (int32) for `length` rows of a string-view column from row `offset`; and the
  // values added, in order (an empty list unless `list_added`: 10,000 new values took
  // 1.52-2.05 ms with their Python strings, 1.21-1.22 ms without). `validity` is Arrow's
  // bitmap or None.
  py::tuple encode(py::buffer views, py::object validity, std::vector<py::buffer> data,
                   int64_t offset, int64_t length, bool list_added) {
    py::buffer_info v = views.request();
    if (offset < 0 || length < 0 || (offset + length) * 16 > v.size * v.itemsize)
      throw std::invalid_argument("views buffer shorter than offset + length rows");
    const uint8_t* valid = nullptr;
    py::buffer_info vi;
    if (!validity.is_none()) {
      vi = validity.cast<py::buffer>().request();
      if ((offset + length + 7) / 8 > vi.size * vi.itemsize)
        throw std::invalid_argument("validity bitmap shorter than offset + length rows");
      valid = static_cast<const uint8_t*>(vi.ptr);
    }
    std::vector<py::buffer_info> infos;
    std::vector<std::string_view> bufs;
    for (auto& b : data) {
      infos.push_back(b.request());
      bufs.emplace_back(static_cast<const char*>(infos.back().ptr),
                        static_cast<size_t>(infos.back().size * infos.back().itemsize));
    }
    py::array_t<int32_t> out(length);
    int32_t* codes = out.mutable_data();
    const auto* rows = static_cast<const uint8_t*>(v.ptr) + offset * 16;
    const size_t before = values_.size();
    bool bad = false;
    {
      py::gil_scoped_release unlocked;
      for (int64_t i = 0; i < length; ++i) {
        const int64_t at = offset + i;
        if (valid != nullptr && !((valid[at >> 3] >> (at & 7)) & 1)) {
          codes[i] = 0;
          continue;
        }
        const uint8_t* row = rows + i * 16;
        int32_t len, buf, off;
        std::memcpy(&len, row, 4);
        if (len <= 12) {
          codes[i] = code(Key::inlined(row, len), !frozen_);
          continue;
        }
        std::memcpy(&buf, row + 8, 4);
        std::memcpy(&off, row + 12, 4);
        if (buf < 0 || static_cast<size_t>(buf) >= bufs.size() || off < 0 ||
            static_cast<size_t>(off) + len > bufs[buf].size()) {
          bad = true;
          break;
        }
        codes[i] = code(Key::of(bufs[buf].substr(off, len)), !frozen_);
      }
    }
    if (bad) {  // nothing of this column is kept: Python never saw the values added
      values_.resize(before);
      entries_.resize(before);
      rehash(slots_.size());
      throw std::invalid_argument("a string view points outside its data buffers");
    }
    py::list added;
    if (list_added)
      for (size_t i = before; i < values_.size(); ++i) added.append(py::str(values_[i]));
    return py::make_tuple(out, added);
  }

 private:
  // A value as its view's 16 bytes (length and the string, zero past its end) when it
  // fits in 12 bytes: compared as two words. Longer values are hashed and compared whole.
  struct Key {
    uint64_t w0, w1, h;
    std::string_view s;  // the value (inside the view's own bytes when it is inlined)
    bool is_inline() const { return s.size() <= 12; }
    static uint64_t mask(int bytes) { return bytes >= 8 ? ~0ULL : (1ULL << (8 * bytes)) - 1; }
    static Key inlined(const uint8_t* row, int32_t len) {
      Key k{};
      std::memcpy(&k.w0, row, 8);
      std::memcpy(&k.w1, row + 8, 8);
      k.w0 &= mask(4 + len);  // the length, then up to 4 bytes
      k.w1 &= mask(len - 4 < 0 ? 0 : len - 4);
      k.h = mix(k.w0 * 0x9E3779B97F4A7C15ULL ^ k.w1);
      k.s = std::string_view(reinterpret_cast<const char*>(row + 4), len);
      return k;
    }
    static Key of(std::string_view s) {
      if (s.size() <= 12) {
        uint8_t row[16] = {};
        const auto len = static_cast<int32_t>(s.size());
        std::memcpy(row, &len, 4);
        std::memcpy(row + 4, s.data(), s.size());
        Key k = inlined(row, len);
        k.s = s;  // not the stack copy
        return k;
      }
      Key k{};
      k.s = s;
      k.h = 0x2545F4914F6CDD1DULL ^ s.size();
      size_t i = 0;
      for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        k.h = mix(k.h ^ w);
      }
      uint64_t w = 0;
      std::memcpy(&w, s.data() + i, s.size() - i);
      k.h = mix(k.h ^ w);
      return k;
    }
  };
  struct Entry {  // a value's key words and hash, beside `values_`
    uint64_t w0, w1, h;
    bool inlined;
  };

  bool frozen_;
  std::vector<std::string> values_;
  std::vector<Entry> entries_;
  std::vector<int32_t> slots_;  // -1: empty
  size_t mask_ = 0;

  bool same(int32_t c, const Key& k) const {
    const Entry& e = entries_[c];
    if (e.h != k.h || e.inlined != k.is_inline()) return false;
    return e.inlined ? e.w0 == k.w0 && e.w1 == k.w1 : values_[c] == k.s;
  }

  // The value's code; a value not there yet is added (`add`) or is 0.
  int32_t code(const Key& k, bool add) {
    const size_t at = slot(k);
    const int32_t c = slots_[at];
    if (c >= 0) return c;
    return add ? insert(at, k) : 0;
  }

  // The slot holding `k`'s code, or the empty slot where it would go.
  size_t slot(const Key& k) const {
    size_t at = k.h & mask_;
    while (slots_[at] >= 0 && !same(slots_[at], k)) at = (at + 1) & mask_;
    return at;
  }

  // `k` into empty slot `at`, as the next code (rare: kept out of the lookup's loop).
  __attribute__((noinline)) int32_t insert(size_t at, const Key& k) {
    const auto c = static_cast<int32_t>(values_.size());
    values_.emplace_back(k.s);
    entries_.push_back({k.w0, k.w1, k.h, k.is_inline()});
    slots_[at] = c;
    if (values_.size() * 2 > slots_.size()) rehash(slots_.size() * 2);
    return c;
  }

  void rehash(size_t want) {
    size_t cap = 16;
    while (cap < want) cap <<= 1;
    slots_.assign(cap, -1);
    mask_ = cap - 1;
    for (size_t c = 0; c < entries_.size(); ++c) {
      size_t at = entries_[c].h & mask_;
      while (slots_[at] >= 0) at = (at + 1) & mask_;
      slots_[at] = static_cast<int32_t>(c);
    }
  }
};

}  // namespace warroom
