// Exact scoring kernels for index/vector-store.ts and index/pca.ts, compiled at install by
// build-fast.mjs into parallel-build.node beside parallel-build.cc (same flags: AVX2 and FMA, or
// -march=native); used through index/native/kernels.ts. The WebAssembly kernels of
// index/simd-module.ts stay the fallback when this addon is absent, and the JavaScript loops the
// oracle both are tested against.
//
// The WebAssembly kernels can only read their own memory, so each row a filtered search scores was
// first copied into it: at 784 dimensions, 600 rows are 1.9 MB of copies per search. Here the rows
// are read where they are, in the store's SharedArrayBuffer segments.
//
//   scoreRows(query: Float32Array, segments: Float32Array[], segmentRows: number,
//             labels: Uint32Array, from: number, count: number, l2: boolean, out: Float32Array)
//     out[i] = the distance of labels[from + i] for i < count: squared L2 when l2, else 1 − dot.
//     A label beyond the segments gets NaN.
//   scoreCoded(query: Float32Array, segments: Uint8Array[], segmentRows: number, format: Int32Array,
//              shift: Float32Array, scale: Float32Array,
//              labels: Uint32Array, from: number, count: number, mode: 0 | 1 | 2, out: Float32Array)
//     The same over rows of stored codes (float8, float16, int8), each code c standing for
//     shift[j] + scale[j] · value(c), widened in registers as index/simd-module.ts's kernels do
//     (format: [bytes, float, mask, shift, bias, mantissa] from its CODE_FORMATS): mode 0 squared L2,
//     1 one minus the dot product, 2 one minus the cosine (1 for a zero row).
//   project(components: Float32Array, mean: Float32Array, v: Float32Array, out: Float32Array)
//     out[c] = Σ_j components[c·d + j] · (v[j] − mean[j]), d = mean.length, for c < out.length.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include <napi.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VICINITY_AVX2 1
#endif

namespace vicinity_kernels {

#if VICINITY_AVX2
inline float sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

// Σ a[j] · b[j], or Σ (a[j] − b[j])² when L2: four accumulators of eight lanes, then the tail.
template <bool L2>
float score(const float* a, const float* b, size_t n) {
  size_t j = 0;
  float s = 0;
#if VICINITY_AVX2
  // Written out, not through a helper taking an accumulator by reference: that measured slower
  // (hand-timed, 600 rows at 784-d), the accumulators no longer kept in registers.
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (; j + 32 <= n; j += 32) {
    for (int u = 0; u < 4; u++) {
      __m256 x = _mm256_loadu_ps(a + j + 8 * u);
      __m256 y = _mm256_loadu_ps(b + j + 8 * u);
      if (L2) {
        __m256 d = _mm256_sub_ps(x, y);
        acc[u] = _mm256_fmadd_ps(d, d, acc[u]);
      } else {
        acc[u] = _mm256_fmadd_ps(x, y, acc[u]);
      }
    }
  }
  for (; j + 8 <= n; j += 8) {
    __m256 x = _mm256_loadu_ps(a + j);
    __m256 y = _mm256_loadu_ps(b + j);
    if (L2) {
      __m256 d = _mm256_sub_ps(x, y);
      acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
    } else {
      acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
    }
  }
  s = sum8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
#endif
  for (; j < n; j++) {
    if (L2) {
      const float d = a[j] - b[j];
      s += d * d;
    } else {
      s += a[j] * b[j];
    }
  }
  return s;
}

// Four rows against one vector at a time, sharing each load of the vector (the projection's rows
// are contiguous: components · x, four components per call).
void dots4(const float* x, const float* rows, size_t d, float* out) {
  size_t j = 0;
  float s[4] = {0, 0, 0, 0};
#if VICINITY_AVX2
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (; j + 8 <= d; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    for (int r = 0; r < 4; r++) acc[r] = _mm256_fmadd_ps(v, _mm256_loadu_ps(rows + r * d + j), acc[r]);
  }
  for (int r = 0; r < 4; r++) s[r] = sum8(acc[r]);
#endif
  for (; j < d; j++) {
    for (int r = 0; r < 4; r++) s[r] += x[j] * rows[r * d + j];
  }
  for (int r = 0; r < 4; r++) out[r] = s[r];
}

// A code format as index/simd-module.ts's CODE_FORMATS describes it: int8, or a float format whose
// magnitude bits are shifted under float32's exponent and mantissa.
struct Format {
  int bytes;
  bool isFloat;
  int32_t mask;
  int shift;
  int32_t bias;
  int32_t mantissa;
  // A subnormal code's magnitude times this is its value: 2^(1 − (127 − bias) − mantissa).
  float subnormal;
};

// The value of one code, sign-extended to 32 bits: what the vector loop below computes lane by lane.
inline float widen(int32_t w, const Format& f) {
  if (!f.isFloat) return static_cast<float>(w);
  const int32_t m = w & f.mask;
  uint32_t bits;
  if (m < (1 << f.mantissa)) {
    const float v = static_cast<float>(m) * f.subnormal;
    std::memcpy(&bits, &v, 4);
  } else {
    bits = (static_cast<uint32_t>(m) << f.shift) + (static_cast<uint32_t>(f.bias) << 23);
  }
  bits |= static_cast<uint32_t>(w) & 0x80000000u;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// Σ q[j] · x_j and Σ x_j² (mode 1, 2) or Σ (q[j] − x_j)² (mode 0) for x_j = shift[j] + scale[j] · value(code j),
// the codes widened in registers eight at a time (no table, no decoded copy).
template <typename Code>
void scoreCodes(const float* q, const Code* codes, const Format& f, const float* shift, const float* scale, size_t n, bool l2, float* dot, float* norm) {
  size_t j = 0;
  float a = 0, b = 0;
#if VICINITY_AVX2
  const __m256i mask = _mm256_set1_epi32(f.mask);
  const __m128i shiftBits = _mm_cvtsi32_si128(f.shift);
  const __m256i bias = _mm256_set1_epi32(f.bias << 23);
  const __m256i minNormal = _mm256_set1_epi32(1 << f.mantissa);
  const __m256 subnormal = _mm256_set1_ps(f.subnormal);
  const __m256i sign = _mm256_set1_epi32(static_cast<int32_t>(0x80000000u));
  // Eight codes into acc (and acc2): four pairs of accumulators in turn, so that one FMA's latency
  // does not bound the loop. Named, not an array: with an array the accumulators were not kept in
  // registers (bench/engine-build.ts, 600 int8 rows at 784-d: 71.6 µs before, 50.4 after).
  auto step = [&](size_t at, __m256& acc, __m256& acc2) {
    const __m256i w = sizeof(Code) == 1 ? _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + at)))
                                        : _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + at)));
    __m256 value;
    if (!f.isFloat) {
      value = _mm256_cvtepi32_ps(w);
    } else {
      const __m256i m = _mm256_and_si256(w, mask);
      const __m256 normal = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_sll_epi32(m, shiftBits), bias));
      const __m256 small = _mm256_mul_ps(_mm256_cvtepi32_ps(m), subnormal);
      value = _mm256_blendv_ps(normal, small, _mm256_castsi256_ps(_mm256_cmpgt_epi32(minNormal, m)));
      value = _mm256_or_ps(value, _mm256_castsi256_ps(_mm256_and_si256(w, sign)));
    }
    const __m256 x = _mm256_fmadd_ps(value, _mm256_loadu_ps(scale + at), _mm256_loadu_ps(shift + at));
    const __m256 y = _mm256_loadu_ps(q + at);
    if (l2) {
      const __m256 d = _mm256_sub_ps(y, x);
      acc = _mm256_fmadd_ps(d, d, acc);
    } else {
      acc = _mm256_fmadd_ps(y, x, acc);
      acc2 = _mm256_fmadd_ps(x, x, acc2);
    }
  };
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (; j + 32 <= n; j += 32) {
    step(j, a0, b0);
    step(j + 8, a1, b1);
    step(j + 16, a2, b2);
    step(j + 24, a3, b3);
  }
  for (; j + 8 <= n; j += 8) step(j, a0, b0);
  a = sum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  b = sum8(_mm256_add_ps(_mm256_add_ps(b0, b1), _mm256_add_ps(b2, b3)));
#endif
  for (; j < n; j++) {
    const int32_t w = sizeof(Code) == 1 ? static_cast<int8_t>(codes[j]) : static_cast<int16_t>(codes[j]);
    const float x = shift[j] + scale[j] * widen(w, f);
    if (l2) {
      const float d = q[j] - x;
      a += d * d;
    } else {
      a += q[j] * x;
      b += x * x;
    }
  }
  *dot = a;
  *norm = b;
}

bool isTyped(const Napi::Value& v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

bool isFloat32(const Napi::Value& v) {
  return isTyped(v, napi_float32_array);
}

// The rows of a store's segments by label, each segment's data looked up the first time one of its
// labels comes.
class Rows {
 public:
  Rows(Napi::Array segments, size_t rowsPerSegment, size_t rowBytes, napi_typedarray_type type, const char* invalid)
      : segments_(segments), rowsPerSegment_(rowsPerSegment), rowBytes_(rowBytes), type_(type), invalid_(invalid),
        data_(segments.Length(), nullptr) {}

  // The row of `label`, or nullptr beyond the segments; throws std::invalid_argument for a segment
  // of the wrong type or too short.
  const uint8_t* at(uint32_t label) {
    const size_t segment = label / rowsPerSegment_;
    if (segment >= data_.size()) return nullptr;
    if (data_[segment] == nullptr) {
      Napi::Value view = segments_.Get(static_cast<uint32_t>(segment));
      if (!isTyped(view, type_) || view.As<Napi::TypedArray>().ByteLength() < rowsPerSegment_ * rowBytes_) throw std::invalid_argument(invalid_);
      // The typed array's own data pointer: its buffer is a SharedArrayBuffer, which
      // napi_get_arraybuffer_info does not take.
      void* data = nullptr;
      if (napi_get_typedarray_info(view.Env(), view, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok || data == nullptr) throw std::invalid_argument(invalid_);
      data_[segment] = static_cast<const uint8_t*>(data);
    }
    return data_[segment] + (label % rowsPerSegment_) * rowBytes_;
  }

 private:
  Napi::Array segments_;
  size_t rowsPerSegment_;
  size_t rowBytes_;
  napi_typedarray_type type_;
  const char* invalid_;
  std::vector<const uint8_t*> data_;
};

Napi::Value fail(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ScoreRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "scoreRows(query: Float32Array, segments: Float32Array[], segmentRows: number, labels: Uint32Array, from: number, count: number, l2: boolean, out: Float32Array)";
  if (info.Length() < 8 || !isFloat32(info[0]) || !info[1].IsArray() || !info[2].IsNumber() || !isTyped(info[3], napi_uint32_array) ||
      !info[4].IsNumber() || !info[5].IsNumber() || !info[6].IsBoolean() || !isFloat32(info[7])) {
    return fail(env, usage);
  }
  Napi::Float32Array query = info[0].As<Napi::Float32Array>();
  Napi::Array segments = info[1].As<Napi::Array>();
  const double segmentRows = info[2].As<Napi::Number>().DoubleValue();
  Napi::Uint32Array labels = info[3].As<Napi::Uint32Array>();
  const double from = info[4].As<Napi::Number>().DoubleValue();
  const double count = info[5].As<Napi::Number>().DoubleValue();
  const bool l2 = info[6].As<Napi::Boolean>().Value();
  Napi::Float32Array out = info[7].As<Napi::Float32Array>();
  if (!(segmentRows >= 1) || !(from >= 0) || !(count >= 0) || from + count > labels.ElementLength() || count > out.ElementLength()) {
    return fail(env, "scoreRows: segmentRows must be at least 1, and from + count within labels and count within out");
  }
  const size_t dim = query.ElementLength();
  Rows rows(segments, static_cast<size_t>(segmentRows), dim * sizeof(float), napi_float32_array,
            "scoreRows: each segment must be a Float32Array of segmentRows × query.length values");
  const float* q = query.Data();
  const uint32_t* ls = labels.Data() + static_cast<size_t>(from);
  float* o = out.Data();
  const size_t n = static_cast<size_t>(count);
  try {
    for (size_t i = 0; i < n; i++) {
      const float* row = reinterpret_cast<const float*>(rows.at(ls[i]));
      if (row == nullptr) o[i] = std::numeric_limits<float>::quiet_NaN();
      else o[i] = l2 ? score<true>(q, row, dim) : 1.0f - score<false>(q, row, dim);
    }
  } catch (const std::invalid_argument& e) {
    return fail(env, e.what());
  }
  return env.Undefined();
}

Napi::Value ScoreCoded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "scoreCoded(query: Float32Array, segments: Uint8Array[], segmentRows: number, format: Int32Array, shift: Float32Array, scale: Float32Array, labels: Uint32Array, from: number, count: number, mode: 0 | 1 | 2, out: Float32Array)";
  if (info.Length() < 11 || !isFloat32(info[0]) || !info[1].IsArray() || !info[2].IsNumber() || !isTyped(info[3], napi_int32_array) ||
      !isFloat32(info[4]) || !isFloat32(info[5]) || !isTyped(info[6], napi_uint32_array) || !info[7].IsNumber() || !info[8].IsNumber() ||
      !info[9].IsNumber() || !isFloat32(info[10])) {
    return fail(env, usage);
  }
  Napi::Float32Array query = info[0].As<Napi::Float32Array>();
  Napi::Array segments = info[1].As<Napi::Array>();
  const double segmentRows = info[2].As<Napi::Number>().DoubleValue();
  Napi::Int32Array spec = info[3].As<Napi::Int32Array>();
  Napi::Float32Array shift = info[4].As<Napi::Float32Array>();
  Napi::Float32Array scale = info[5].As<Napi::Float32Array>();
  Napi::Uint32Array labels = info[6].As<Napi::Uint32Array>();
  const double from = info[7].As<Napi::Number>().DoubleValue();
  const double count = info[8].As<Napi::Number>().DoubleValue();
  const double mode = info[9].As<Napi::Number>().DoubleValue();
  Napi::Float32Array out = info[10].As<Napi::Float32Array>();
  const size_t dim = query.ElementLength();
  // format: [bytes per code (1 or 2), 1 for a float format, mask, shift, bias, mantissa bits]
  const bool validFormat = spec.ElementLength() == 6 && (spec[0] == 1 || spec[0] == 2) && (spec[1] == 0 || spec[1] == 1) &&
                           spec[3] >= 0 && spec[3] < 32 && spec[4] >= 0 && spec[4] < 256 && spec[5] >= 0 && spec[5] < 23;
  if (!validFormat || !(segmentRows >= 1) || (mode != 0 && mode != 1 && mode != 2) || !(from >= 0) || !(count >= 0) ||
      from + count > labels.ElementLength() || count > out.ElementLength() || shift.ElementLength() < dim || scale.ElementLength() < dim) {
    return fail(env, "scoreCoded: format must be [bytes 1 or 2, float 0 or 1, mask, shift, bias, mantissa], mode 0, 1 or 2, shift and scale query.length values, from + count within labels and count within out");
  }
  const Format f{spec[0], spec[1] == 1, spec[2], spec[3], spec[4], spec[5], std::ldexp(1.0f, 1 - (127 - spec[4]) - spec[5])};
  const size_t codeBytes = static_cast<size_t>(f.bytes);
  Rows rows(segments, static_cast<size_t>(segmentRows), dim * codeBytes, napi_uint8_array,
            "scoreCoded: each segment must be a Uint8Array of segmentRows × query.length × codeBytes bytes");
  const uint32_t* ls = labels.Data() + static_cast<size_t>(from);
  float* o = out.Data();
  const size_t n = static_cast<size_t>(count);
  const bool l2 = mode == 0;
  try {
    for (size_t i = 0; i < n; i++) {
      const uint8_t* row = rows.at(ls[i]);
      if (row == nullptr) {
        o[i] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      float dot, norm;
      if (codeBytes == 1) scoreCodes(query.Data(), row, f, shift.Data(), scale.Data(), dim, l2, &dot, &norm);
      else scoreCodes(query.Data(), reinterpret_cast<const uint16_t*>(row), f, shift.Data(), scale.Data(), dim, l2, &dot, &norm);
      o[i] = l2 ? dot : mode == 1 ? 1.0f - dot : norm > 0 ? 1.0f - dot / std::sqrt(norm) : 1.0f;
    }
  } catch (const std::invalid_argument& e) {
    return fail(env, e.what());
  }
  return env.Undefined();
}

Napi::Value Project(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !isFloat32(info[0]) || !isFloat32(info[1]) || !isFloat32(info[2]) || !isFloat32(info[3])) {
    return fail(env, "project(components: Float32Array, mean: Float32Array, v: Float32Array, out: Float32Array)");
  }
  Napi::Float32Array components = info[0].As<Napi::Float32Array>();
  Napi::Float32Array mean = info[1].As<Napi::Float32Array>();
  Napi::Float32Array v = info[2].As<Napi::Float32Array>();
  Napi::Float32Array out = info[3].As<Napi::Float32Array>();
  const size_t d = mean.ElementLength();
  const size_t k = out.ElementLength();
  if (v.ElementLength() != d || components.ElementLength() < k * d) {
    return fail(env, "project: v must have mean.length values and components at least out.length × mean.length");
  }
  // v − mean, in a buffer each thread keeps between queries (a PCA search projects every query).
  thread_local std::vector<float> x;
  x.resize(d);
  for (size_t j = 0; j < d; j++) x[j] = v[j] - mean[j];
  const float* c = components.Data();
  float* o = out.Data();
  size_t r = 0;
  for (; r + 4 <= k; r += 4) dots4(x.data(), c + r * d, d, o + r);
  for (; r < k; r++) o[r] = score<false>(x.data(), c + r * d, d);
  return env.Undefined();
}

}  // namespace vicinity_kernels

// Called by parallel-build.cc's module initialiser: both live in one addon.
void InitKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("scoreRows", Napi::Function::New(env, vicinity_kernels::ScoreRows));
  exports.Set("scoreCoded", Napi::Function::New(env, vicinity_kernels::ScoreCoded));
  exports.Set("project", Napi::Function::New(env, vicinity_kernels::Project));
}
