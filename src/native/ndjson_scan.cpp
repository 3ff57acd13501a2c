// The NDJSON fast path: one pass over a batch with simdjson, in C++.
//
// It takes only the lines it is sure of: a flat object of known fields, each of the
// JSON type the contract gives it, passing every rule of EVENTS.md. Every other line is
// *deferred* to the Python decoder (decode.py), which names the reason. So this file
// never writes a reason, and a line it accepts decodes exactly as the Python path would
// decode it (tests/test_native_scan.py checks both paths against each other).
//
// The rules come from contract/rules.py as tables (Scanner's constructor); only the
// shapes of the two code patterns are written here, and decode.py checks at import
// that rules.py still says the same.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace py = pybind11;
using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

// How a field is read (the flat schema of decode.py).
// NESTED: a JSON object (sku_change's before/after) that is not a column: Python reads
// those lines' objects itself (decode.py's _sku_changes) and names their faults.
enum Json : int { STR = 0, I64 = 1, F64 = 2, BOOL = 3, TS = 4, ATTRS = 5, NESTED = 6 };
// Shapes of rules.PATTERNS.
enum Pattern : int { REGION = 1, COUNTRY = 2 };

constexpr double EXACT_LIMIT = 9007199254740992.0;  // 2**53
constexpr int64_t TS_LIMIT = 1000000000000000000LL;  // 18 digits: ^\d{1,18}$

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool region_shape(std::string_view s) {  // ^[A-Z]{2}-[A-Z0-9]{1,3}$
  if (s.size() < 4 || s.size() > 6 || !is_upper(s[0]) || !is_upper(s[1]) || s[2] != '-') {
    return false;
  }
  for (size_t i = 3; i < s.size(); ++i) {
    if (!is_upper(s[i]) && !is_digit(s[i])) return false;
  }
  return true;
}

bool country_shape(std::string_view s) {  // ^[A-Z]{2}$
  return s.size() == 2 && is_upper(s[0]) && is_upper(s[1]);
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool blank(const char* p, size_t n) {  // bytes.strip() would leave nothing
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\x0b' && c != '\x0c') {
      return false;
    }
  }
  return true;
}

// A zeroed buffer from calloc: large ones come straight from the OS as zero pages, so
// the rows a column never writes (a null: zero view, zero validity) cost nothing.
struct ZeroBuffer {
  uint8_t* data = nullptr;
  ZeroBuffer() = default;
  ZeroBuffer(const ZeroBuffer&) = delete;
  ZeroBuffer& operator=(const ZeroBuffer&) = delete;
  ~ZeroBuffer() { std::free(data); }
  void allocate(size_t bytes) {
    std::free(data);
    data = static_cast<uint8_t*>(std::calloc(bytes ? bytes : 1, 1));
    if (data == nullptr) throw std::bad_alloc();
  }
  uint8_t* release() {
    uint8_t* out = data;
    data = nullptr;
    return out;
  }
};

// A string column in Arrow's string-view layout, which polars takes without a copy:
// 16 bytes a row (length, then the string itself if it fits in 12 bytes, else its first
// 4 bytes and its offset in `data`), and a validity byte a row (packed in Python).
// Rows are written in place; a null row is left as the zeros it was allocated as.
struct StrColumn {
  std::string data;
  ZeroBuffer views;
  ZeroBuffer valid;
  void allocate(size_t rows) {
    views.allocate(rows * 16);
    valid.allocate(rows);
  }
  void put(size_t row, std::string_view s) {
    uint8_t* v = views.data + row * 16;
    auto len = static_cast<int32_t>(s.size());
    std::memcpy(v, &len, 4);
    if (s.size() <= 12) {
      std::memcpy(v + 4, s.data(), s.size());
    } else {
      auto offset = static_cast<int32_t>(data.size());  // batches stay far below 2 GB
      std::memcpy(v + 4, s.data(), 4);
      std::memcpy(v + 12, &offset, 4);  // buffer index (bytes 8-11) stays 0
      data.append(s);
    }
    valid.data[row] = 1;
  }
};

// A buffer handed to Python without a copy: the vector moves into a capsule that frees
// it when the last numpy array (or Arrow buffer, or polars Series) over it is gone.
py::array give(ZeroBuffer&& b, size_t bytes) {  // the first `bytes` of it
  uint8_t* data = b.release();
  py::capsule owner(data, [](void* p) { std::free(p); });
  return py::array_t<uint8_t>(bytes, data, owner);
}

template <typename T>
py::array give(T&& v) {
  using V = std::decay_t<T>;
  auto* heap = new V(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<V*>(p); });
  auto* bytes = reinterpret_cast<uint8_t*>(heap->data());
  return py::array_t<uint8_t>(heap->size() * sizeof(typename V::value_type), bytes, owner);
}

// Field names -> index: an open-addressed table on (length, first, last byte), far
// cheaper per key than std::hash of a string_view.
class KeyTable {
 public:
  bool add(const std::string& key, int index) {
    for (unsigned h = hash(key), i = 0; i < SIZE; ++i, h = (h + 1) % SIZE) {
      if (slots_[h].index < 0) {
        slots_[h] = {key, index};
        return true;
      }
    }
    return false;
  }
  int find(std::string_view key) const {
    for (unsigned h = hash(key);; h = (h + 1) % SIZE) {
      const Slot& s = slots_[h];
      if (s.index < 0) return -1;
      if (s.key == key) return s.index;
    }
  }

 private:
  static constexpr unsigned SIZE = 256;
  struct Slot {
    std::string key;
    int index = -1;
  };
  static unsigned hash(std::string_view k) {
    if (k.empty()) return 0;
    return (k.size() * 131u + static_cast<unsigned char>(k[0]) * 31u +
            static_cast<unsigned char>(k.back()) * 7u + static_cast<unsigned char>(k[k.size() / 2])) %
           SIZE;
  }
  Slot slots_[SIZE];
};

constexpr uint64_t bit(int f) { return uint64_t{1} << f; }

struct Present {  // which fields a line holds, a bit each
  uint64_t bits = 0;
  bool operator[](int f) const { return (bits >> f) & 1; }
};

struct TypeRules {
  uint64_t allowed = 0;                    // bit per field: may appear in this record type
  uint64_t required = 0;                   // bit per field: must be present
  std::vector<int> ids;                    // fields of 1 to id_max_len characters
  std::vector<int> non_empty;              // fields that must not be ""
  std::vector<std::pair<int, int>> shapes; // (field, Pattern)
  std::vector<std::pair<int, std::vector<std::string>>> enums;
  int money = -1;                          // the money field, or -1
  bool money_times_quantity = false;       // an order's value is price x quantity
  std::vector<std::pair<int, int64_t>> minimum;  // (int field, least value)
  bool nested = false;                     // its rows' lines are handed back (spans)
};

class Scanner {
 public:
  Scanner(py::list names, py::list json, py::list types, py::list rules, py::list currencies,
          py::list digits, int id_max_len)
      : id_max_len_(id_max_len) {
    for (size_t i = 0; i < names.size(); ++i) {
      std::string name = names[i].cast<std::string>();
      names_.push_back(name);
      json_.push_back(json[i].cast<int>());
      if (json_.back() == TS) ts_field_ = static_cast<int>(i);
      if (name == "type") type_field_ = static_cast<int>(i);
    }
    if (names_.size() > 64) throw std::runtime_error("more than 64 fields");
    // The fields with a column of their own: not `ts` and `type` (read into `ts` and
    // `kind`), not numbers read as money, not nested objects.
    for (size_t i = 0; i < names_.size(); ++i) {
      const int j = json_[i];
      const bool own = (j == STR || j == ATTRS || j == I64 || j == BOOL) &&
                       static_cast<int>(i) != ts_field_ && static_cast<int>(i) != type_field_;
      if (own) column_fields_ |= bit(static_cast<int>(i));
    }
    for (size_t i = 0; i < names_.size(); ++i) {
      if (!keys_.add(names_[i], static_cast<int>(i))) throw std::runtime_error("key table full");
    }
    id_field_ = field("id");
    currency_field_ = field("currency");
    quantity_field_ = field("quantity");
    attrs_field_ = field("sku_attrs");
    for (size_t t = 0; t < types.size(); ++t) {
      types_.push_back(types[t].cast<std::string>());
      py::dict r = rules[t].cast<py::dict>();
      TypeRules tr;
      for (auto f : r["allowed"].cast<py::list>()) tr.allowed |= bit(f.cast<int>());
      for (auto f : r["required"].cast<py::list>()) tr.required |= bit(f.cast<int>());
      for (auto f : r["ids"].cast<py::list>()) tr.ids.push_back(f.cast<int>());
      for (auto f : r["non_empty"].cast<py::list>()) tr.non_empty.push_back(f.cast<int>());
      for (auto s : r["shapes"].cast<py::list>()) {
        auto p = s.cast<py::tuple>();
        tr.shapes.emplace_back(p[0].cast<int>(), p[1].cast<int>());
      }
      for (auto e : r["enums"].cast<py::list>()) {
        auto p = e.cast<py::tuple>();
        tr.enums.emplace_back(p[0].cast<int>(), p[1].cast<std::vector<std::string>>());
      }
      tr.money = r["money"].cast<int>();
      tr.money_times_quantity = types_.back() == "order";
      for (auto m : r["minimum"].cast<py::list>()) {
        auto p = m.cast<py::tuple>();
        tr.minimum.emplace_back(p[0].cast<int>(), p[1].cast<int64_t>());
      }
      tr.nested = r["nested"].cast<bool>();
      // `take` reads these fields' values as strings it read once (Work::strs)
      auto need_str = [&](int f) {
        if (json_.at(f) != STR) throw std::runtime_error("a checked field is not a string: " + names_[f]);
      };
      for (int f : tr.ids) need_str(f);
      for (int f : tr.non_empty) need_str(f);
      for (auto& [f, shape] : tr.shapes) need_str(f);
      for (auto& [f, values] : tr.enums) need_str(f);
      rules_.push_back(std::move(tr));
    }
    for (int f : {type_field_, id_field_, currency_field_}) {
      if (json_.at(f) != STR) throw std::runtime_error("not a string field: " + names_.at(f));
    }
    currency_names_.reserve(currencies.size());  // the map's keys point into it
    for (size_t i = 0; i < currencies.size(); ++i) {
      currency_names_.push_back(currencies[i].cast<std::string>());
      scale_.push_back(std::pow(10.0, digits[i].cast<int>()));
    }
    for (size_t i = 0; i < currency_names_.size(); ++i) {
      currency_index_[currency_names_[i]] = static_cast<int>(i);
    }
  }

  // Scans `buf` (whole lines; one trailing newline already cut off) and returns a dict:
  // n (accepted rows), line (each row's 0-based line index), deferred (line indexes for
  // the Python decoder), spans (their byte ranges, start and end), nested (line index,
  // start and end of each taken line of a type with nested objects), records (non-blank
  // lines), kind, ts, value_minor, currency (index into the constructor's currencies,
  // -1 for none), and per field its column: strings as (views, data, valid), ints as
  // (values, valid), bools as (values, valid).
  py::dict scan(py::bytes data) {
    char* ptr;
    Py_ssize_t size;
    PyBytes_AsStringAndSize(data.ptr(), &ptr, &size);
    if (size >= (1LL << 31)) {  // string views hold 32-bit offsets
      throw std::length_error("a batch of 2 GiB or more: cut it into smaller ones");
    }
    Out out(names_.size());
    {
      py::gil_scoped_release unlocked;  // the decode thread runs beside the engine
      scan_lines(ptr, static_cast<size_t>(size), out);
    }
    return out.to_dict(names_, json_, column_fields_);
  }

 private:
  struct Out {
    size_t n = 0;
    int64_t records = 0;
    std::vector<int64_t> line, deferred, spans, nested, ts, value_minor;
    std::vector<uint8_t> kind;
    std::vector<int32_t> currency;
    std::vector<StrColumn> strs;
    // int64 and bool columns: zeroed, so a row writes only the fields it holds (a null
    // is a zero value with a zero validity byte), like the string columns
    std::vector<ZeroBuffer> ints, int_valid, bools, bool_valid;
    // `columns`: a bit per field with a column of its own (Scanner::column_fields_)
    void reserve(size_t lines, const std::vector<int>& json, uint64_t columns) {  // growing is memmove
      line.reserve(lines);
      ts.reserve(lines);
      value_minor.reserve(lines);
      kind.reserve(lines);
      currency.reserve(lines);
      for (size_t f = 0; f < json.size(); ++f) {
        if (!((columns >> f) & 1)) continue;
        if (json[f] == STR || json[f] == ATTRS) {
          strs[f].allocate(lines);
        } else if (json[f] == I64) {
          ints[f].allocate(lines * sizeof(int64_t));
          int_valid[f].allocate(lines);
        } else if (json[f] == BOOL) {
          bools[f].allocate(lines);
          bool_valid[f].allocate(lines);
        }
      }
    }
    explicit Out(size_t fields)
        : strs(fields), ints(fields), int_valid(fields), bools(fields), bool_valid(fields) {}

    py::dict to_dict(const std::vector<std::string>& names, const std::vector<int>& json,
                     uint64_t columns) {  // moves the buffers out
      py::dict d;
      d["n"] = n;
      d["records"] = records;
      d["line"] = give(std::move(line));
      d["deferred"] = give(std::move(deferred));
      d["spans"] = give(std::move(spans));
      d["nested"] = give(std::move(nested));
      d["kind"] = give(std::move(kind));
      d["ts"] = give(std::move(ts));
      d["value_minor"] = give(std::move(value_minor));
      d["currency"] = give(std::move(currency));
      py::dict cols;
      for (size_t f = 0; f < names.size(); ++f) {
        if (!((columns >> f) & 1)) continue;
        const int j = json[f];
        if (j == STR || j == ATTRS) {
          cols[py::str(names[f])] = py::make_tuple(
              give(std::move(strs[f].views), n * 16), give(std::move(strs[f].data)),
              give(std::move(strs[f].valid), n));
        } else if (j == I64) {
          cols[py::str(names[f])] =
              py::make_tuple(give(std::move(ints[f]), n * sizeof(int64_t)),
                             give(std::move(int_valid[f]), n));
        } else if (j == BOOL) {
          cols[py::str(names[f])] =
              py::make_tuple(give(std::move(bools[f]), n), give(std::move(bool_valid[f]), n));
        }
      }
      d["columns"] = cols;
      return d;
    }
  };

  // Per call, not per scanner: HTTP requests decode in their own threads, with the GIL
  // released, through one shared Decoder.
  struct Work {
    simdjson::dom::parser parser;
    std::string padded;
    std::vector<element> vals;
    std::vector<std::string_view> strs;
    Present present;
    bool nested = false;  // the line just taken is of a type with nested objects
  };

  void scan_lines(const char* ptr, size_t size, Out& out) const {
    const char* end = ptr + size;
    out.reserve(1 + std::count(ptr, end, '\n'), json_, column_fields_);
    const char* p = ptr;
    int64_t index = 0;
    Work work;
    work.vals.resize(names_.size());
    work.strs.resize(names_.size());
    while (p <= end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* stop = nl ? nl : end;
      size_t len = stop - p;
      if (!blank(p, len)) {
        ++out.records;
        if (take(p, len, end, work, out)) {
          out.line.push_back(index);
          if (work.nested) {
            out.nested.insert(out.nested.end(), {index, p - ptr, stop - ptr});
          }
        } else {
          out.deferred.push_back(index);
          out.spans.push_back(p - ptr);
          out.spans.push_back(stop - ptr);
        }
      }
      ++index;
      if (!nl) break;
      p = nl + 1;
    }
  }

  // Parses and checks one line; on success appends its row to `out`.
  bool take(const char* p, size_t len, const char* buf_end, Work& work, Out& out) const {
    std::vector<element>& vals = work.vals;
    std::vector<std::string_view>& strs = work.strs;  // the string fields' values, read once
    Present& present = work.present;
    element doc;
    simdjson::error_code err;
    if (static_cast<size_t>(buf_end - (p + len)) >= simdjson::SIMDJSON_PADDING) {
      err = work.parser.parse(reinterpret_cast<const uint8_t*>(p), len, false).get(doc);
    } else {  // the buffer's last bytes: simdjson reads past the end, so copy them
      work.padded.assign(p, len);
      work.padded.resize(len + simdjson::SIMDJSON_PADDING, '\0');
      const auto* padded = reinterpret_cast<const uint8_t*>(work.padded.data());
      err = work.parser.parse(padded, len, false).get(doc);
    }
    if (err) return false;
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) return false;
    present.bits = 0;
    for (auto field : obj) {
      int f = keys_.find(field.key);
      if (f < 0) return false;  // unknown: polars would drop it
      if (present[f]) return false;  // a repeated key
      present.bits |= bit(f);
      const element v = field.value;
      vals[f] = v;
      if (!json_type_ok(f, v)) return false;
      if (json_[f] == STR) strs[f] = v.get_string().value_unsafe();
    }
    if (type_field_ < 0 || !present[type_field_]) return false;
    std::string_view type_name = strs[type_field_];
    int t = -1;
    for (size_t i = 0; i < types_.size(); ++i) {
      if (types_[i] == type_name) t = static_cast<int>(i);
    }
    if (t < 0) return false;
    const TypeRules& r = rules_[t];
    work.nested = r.nested;
    if ((present.bits & ~r.allowed) || (present.bits & r.required) != r.required) return false;
    // the common fields: id of 1 to id_max_len characters, and a readable ts
    int id_field = id_field_;
    if (!present[id_field] || !present[ts_field_]) return false;
    auto id_ok = [&](int f) {
      size_t n = code_points(strs[f]);
      return n >= 1 && n <= static_cast<size_t>(id_max_len_);
    };
    if (!id_ok(id_field)) return false;
    for (int f : r.ids) {
      if (present[f] && !id_ok(f)) return false;
    }
    for (int f : r.non_empty) {
      if (present[f] && strs[f].empty()) return false;
    }
    for (auto& [f, shape] : r.shapes) {
      std::string_view s = strs[f];
      if (shape == REGION ? !region_shape(s) : !country_shape(s)) return false;
    }
    for (auto& [f, allowed] : r.enums) {
      std::string_view s = strs[f];
      bool found = false;
      for (auto& a : allowed) found |= a == s;
      if (!found) return false;
    }
    for (auto& [f, least] : r.minimum) {
      if (present[f] && vals[f].get_int64().value_unsafe() < least) return false;
    }
    int64_t ts;
    if (!read_ts(vals[ts_field_], ts)) return false;
    int64_t minor = 0;
    int32_t cur = -1;
    if (r.money >= 0) {
      auto c = currency_index_.find(strs[currency_field_]);
      if (c == currency_index_.end()) return false;
      cur = c->second;
      double x = number(vals[r.money]);
      if (x < 0) return false;
      double scale = scale_[cur];
      double k = std::nearbyint(x * scale);
      if (!(k / scale == x) || !(std::fabs(k) < EXACT_LIMIT)) return false;
      minor = static_cast<int64_t>(k);
      int qf = quantity_field_;
      if (r.money_times_quantity && present[qf]) {
        // exact only below 2**53 minor units: Python quarantines the rest
        if (__builtin_mul_overflow(minor, vals[qf].get_int64().value_unsafe(), &minor) ||
            !(std::fabs(static_cast<double>(minor)) < EXACT_LIMIT)) {
          return false;
        }
      }
    }
    std::string attrs;
    int af = attrs_field_;
    if (present[af] && !attrs_text(vals[af], attrs)) return false;
    // accepted: append the row
    size_t row = out.n++;
    out.kind.push_back(static_cast<uint8_t>(t));
    out.ts.push_back(ts);
    out.value_minor.push_back(minor);
    out.currency.push_back(cur);
    // only the fields the line holds (a dozen of ~30): the rest stay zero, i.e. null
    for (uint64_t bits = present.bits & column_fields_; bits; bits &= bits - 1) {
      const int f = __builtin_ctzll(bits);
      const int j = json_[f];
      if (j == STR) {
        out.strs[f].put(row, strs[f]);
      } else if (j == ATTRS) {
        out.strs[f].put(row, attrs);
      } else if (j == I64) {
        const int64_t x = vals[f].get_int64().value_unsafe();
        std::memcpy(out.ints[f].data + row * sizeof(int64_t), &x, sizeof x);
        out.int_valid[f].data[row] = 1;
      } else {  // BOOL
        out.bools[f].data[row] = vals[f].get_bool().value_unsafe();
        out.bool_valid[f].data[row] = 1;
      }
    }
    return true;
  }

  bool json_type_ok(int f, const element& v) const {
    element_type t = v.type();
    switch (json_[f]) {
      case STR:
        return t == element_type::STRING;
      case I64:
        return t == element_type::INT64;
      case F64:
        if (t == element_type::DOUBLE) return true;
        // an integer literal reads as the same double only below 2**53
        return t == element_type::INT64 &&
               std::fabs(static_cast<double>(v.get_int64().value_unsafe())) < EXACT_LIMIT;
      case BOOL:
        return t == element_type::BOOL;
      case TS:
        return t == element_type::STRING || t == element_type::INT64;
      case ATTRS:
      case NESTED:
        return t == element_type::OBJECT;
    }
    return false;
  }

  int field(const char* name) const {
    int f = keys_.find(name);
    if (f < 0) throw std::runtime_error(std::string("the schema has no field ") + name);
    return f;
  }

  static double number(const element& v) {
    if (v.type() == element_type::DOUBLE) return v.get_double().value_unsafe();
    return static_cast<double>(v.get_int64().value_unsafe());
  }

  // Epoch milliseconds: a JSON integer, a string of 1 to 18 digits, or the common shape
  // of RFC 3339 (rfc3339_ms); anything else goes to Python.
  static bool read_ts(const element& v, int64_t& ts) {
    if (v.type() == element_type::INT64) {
      ts = v.get_int64().value_unsafe();
      return ts >= 0 && ts < TS_LIMIT;
    }
    std::string_view s = v.get_string().value_unsafe();
    if (s.empty() || s.size() > 18) return rfc3339_ms(s, ts);
    int64_t x = 0;
    for (char c : s) {
      if (!is_digit(c)) return rfc3339_ms(s, ts);
      x = x * 10 + (c - '0');
    }
    ts = x;
    return true;
  }

  // YYYY-MM-DD(T| )HH:MM:SS(.1 to 9 digits)?(Z|z|+HH:MM|-HH:MM), read as polars reads it
  // in timestamps.py: the fraction cut to milliseconds. Only what is plainly valid is
  // taken (years 1971-9999, so no epoch is negative; no leap second; an offset under
  // 24 h); the rest is left to Python.
  static bool rfc3339_ms(std::string_view s, int64_t& ms) {
    auto num = [&](size_t at, size_t n, int& out) {
      if (at + n > s.size()) return false;
      out = 0;
      for (size_t i = at; i < at + n; ++i) {
        if (!is_digit(s[i])) return false;
        out = out * 10 + (s[i] - '0');
      }
      return true;
    };
    int y, mo, d, h, mi, sec;
    if (s.size() < 20 || !num(0, 4, y) || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
        !num(8, 2, d) || (s[10] != 'T' && s[10] != ' ') || !num(11, 2, h) || s[13] != ':' ||
        !num(14, 2, mi) || s[16] != ':' || !num(17, 2, sec)) {
      return false;
    }
    size_t at = 19;
    int64_t frac_ms = 0;
    if (s[at] == '.') {
      size_t start = ++at;
      while (at < s.size() && is_digit(s[at])) ++at;
      size_t n = at - start;
      if (n < 1 || n > 9) return false;
      for (size_t i = 0; i < 3; ++i) frac_ms = frac_ms * 10 + (i < n ? s[start + i] - '0' : 0);
    }
    int64_t offset_min = 0;
    if (at + 1 == s.size() && (s[at] == 'Z' || s[at] == 'z')) {
      offset_min = 0;
    } else if (at + 6 == s.size() && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
      int oh, om;
      if (!num(at + 1, 2, oh) || !num(at + 4, 2, om) || oh > 23 || om > 59) return false;
      offset_min = (s[at] == '+' ? 1 : -1) * (oh * 60 + om);
    } else {
      return false;
    }
    static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1971 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return false;
    if (d > days_in[mo - 1] + (mo == 2 && leap)) return false;
    // days since 1970-01-01 (H. Hinnant's days_from_civil)
    int64_t yy = y - (mo <= 2);
    int64_t era = yy / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    ms = ((days * 24 + h) * 60 + mi) * 60000 + sec * 1000 + frac_ms - offset_min * 60000;
    return true;
  }

  // sku_attrs as the text polars gives an object read into a string column:
  // {"k": "v", "k2": "v2"}. Only objects of plain strings (no quote, backslash or
  // control character, no repeated key) are taken; polars' escaping is not copied.
  static bool attrs_text(const element& v, std::string& out) {
    simdjson::dom::object obj = v.get_object().value_unsafe();
    out = "{";
    std::vector<std::string_view> seen;
    bool first = true;
    for (auto field : obj) {
      if (field.value.type() != element_type::STRING) return false;
      std::string_view val = field.value.get_string().value_unsafe();
      if (!plain(field.key) || !plain(val)) return false;
      for (auto& k : seen) {
        if (k == field.key) return false;
      }
      seen.push_back(field.key);
      if (!first) out += ", ";
      first = false;
      out += '"';
      out.append(field.key);
      out += "\": \"";
      out.append(val);
      out += '"';
    }
    out += "}";
    return true;
  }

  static bool plain(std::string_view s) {
    for (unsigned char c : s) {
      if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) return false;
    }
    return true;
  }

  std::vector<std::string> names_, types_;
  std::vector<int> json_;
  int ts_field_ = -1, type_field_ = -1, id_max_len_;
  uint64_t column_fields_ = 0;  // a bit per field written to a column of its own
  int id_field_, currency_field_, quantity_field_, attrs_field_;
  KeyTable keys_;
  std::vector<TypeRules> rules_;
  std::unordered_map<std::string_view, int> currency_index_;
  std::vector<std::string> currency_names_;
  std::vector<double> scale_;
};

}  // namespace

// The newlines in `data`, without the GIL: the reader counts each chunk's lines, and
// bytes.count held the GIL for 0.12 s of a 2 M-event replay (this loop is vectorised).
size_t count_lines(const py::buffer& data) {
  const py::buffer_info b = data.request();
  const auto* p = static_cast<const unsigned char*>(b.ptr);
  const size_t n = static_cast<size_t>(b.size) * static_cast<size_t>(b.itemsize);
  py::gil_scoped_release unlocked;
  size_t lines = 0;
  for (size_t i = 0; i < n; ++i) lines += p[i] == '\n';
  return lines;
}

PYBIND11_MODULE(_ndjson_scan, m) {
  m.doc() = "The NDJSON fast path of warroom's decoder (simdjson).";
  py::class_<Scanner>(m, "Scanner")
      .def(py::init<py::list, py::list, py::list, py::list, py::list, py::list, int>())
      .def("scan", &Scanner::scan, py::arg("data"));
  m.def("count_lines", &count_lines, py::arg("data"), "The newlines in a bytes-like object.");
  m.attr("SIMDJSON_VERSION") = std::to_string(simdjson::SIMDJSON_VERSION_MAJOR) + "." + std::to_string(simdjson::SIMDJSON_VERSION_MINOR);
}
