// Builds an hnswlib index with several threads and writes it in hnswlib's file format, for
// hnswlib-node's readIndex. Compiled at install by build-fast.mjs against hnswlib-node's own copy of
// hnswlib (same headers, so the same file format); used through index/native/parallel-build.ts.
//
// HierarchicalNSW supports concurrent addPoint (hnswlib's Python add_items relies on it), but its
// level generator is shared and unsynchronised. So the levels are drawn here, in insertion order,
// with the same generator, seed and formula as hnswlib (one thread then builds exactly the graph
// hnswlib-node's addPoint loop builds), and passed to addPoint(data, label, level). That overload
// still draws a level itself and uses it when the given one is 0: mult_ is 0 during the build so
// that draw is always 0, and restored before the file is written. (The draw itself still steps the
// shared generator from several threads, as hnswlib's Python add_items does; times 0 its result is 0
// for any draw but exactly 0.0, which would take minstd's minimum twice in a row, a pair it never yields.)
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <napi.h>

#include "hnswlib/hnswlib.h"

// kernels.cc: the exact scoring kernels, exported by the same addon.
void InitKernels(Napi::Env env, Napi::Object exports);

namespace {

struct Job {
  std::string metric;
  size_t dim = 0;
  size_t m = 16;
  size_t efConstruction = 200;
  size_t seed = 100;
  size_t threads = 1;
  std::string path;
  const float* vectors = nullptr;
  const uint32_t* labels = nullptr;
  const uint32_t* order = nullptr;  // positions in insertion order
  size_t count = 0;
};

// hnswlib's getRandomLevel, drawn in sequence from a generator seeded as HierarchicalNSW seeds its own.
std::vector<int> drawLevels(size_t count, size_t m, size_t seed) {
  std::default_random_engine generator;
  generator.seed(seed);
  const double mult = 1 / std::log(1.0 * m);
  std::vector<int> levels(count);
  for (size_t i = 0; i < count; i++) {
    std::uniform_real_distribution<double> distribution(0.0, 1.0);
    levels[i] = static_cast<int>(-std::log(distribution(generator)) * mult);
  }
  return levels;
}

// The state JavaScript can read while the build runs: the progress counter and the cancel flag.
struct Shared {
  std::atomic<size_t> inserted{0};
  std::atomic<bool> cancelled{false};
};

class BuildWorker : public Napi::AsyncWorker {
 public:
  BuildWorker(Napi::Env env, Job job, std::shared_ptr<Shared> shared, Napi::Array keep)
      : Napi::AsyncWorker(env), job_(std::move(job)), shared_(std::move(shared)), deferred_(Napi::Promise::Deferred::New(env)) {
    keep_ = Napi::Persistent(keep);  // the typed arrays the threads read stay alive until the build ends
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      Run();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Object result = Napi::Object::New(Env());
    result.Set("inserted", Napi::Number::New(Env(), static_cast<double>(shared_->inserted.load())));
    result.Set("maxLevel", Napi::Number::New(Env(), maxLevel_));
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  void Run() {
    std::unique_ptr<hnswlib::SpaceInterface<float>> space;
    if (job_.metric == "l2") {
      space.reset(new hnswlib::L2Space(job_.dim));
    } else {
      space.reset(new hnswlib::InnerProductSpace(job_.dim));
    }
    const bool normalize = job_.metric == "cosine";
    hnswlib::HierarchicalNSW<float> index(space.get(), std::max<size_t>(job_.count, 1), job_.m, job_.efConstruction, job_.seed);
    const std::vector<int> levels = drawLevels(job_.count, job_.m, job_.seed);
    const double mult = index.mult_;
    index.mult_ = 0;

    std::atomic<size_t> next{0};
    std::mutex errorLock;
    std::string error;
    auto insertOne = [&](size_t i, std::vector<float>& buffer) {
      const uint32_t p = job_.order[i];
      const float* v = job_.vectors + static_cast<size_t>(p) * job_.dim;
      for (size_t d = 0; d < job_.dim; d++) {
        if (!std::isfinite(v[d])) throw std::runtime_error("vector at position " + std::to_string(p) + " has a value that is not finite");
      }
      const void* data = v;
      if (normalize) {
        // hnswlib-node's normalizePoint: float inner product, then divide when the norm is positive.
        float dot = 0.0f;
        for (size_t d = 0; d < job_.dim; d++) dot += v[d] * v[d];
        const float norm = std::sqrt(std::fabs(dot));
        for (size_t d = 0; d < job_.dim; d++) buffer[d] = norm > 0.0f ? v[d] / norm : v[d];
        data = buffer.data();
      }
      index.addPoint(data, job_.labels[p], levels[i]);
      shared_->inserted.fetch_add(1, std::memory_order_relaxed);
    };
    auto loop = [&]() {
      std::vector<float> buffer(job_.dim);
      try {
        for (;;) {
          if (shared_->cancelled.load(std::memory_order_relaxed)) return;
          const size_t i = next.fetch_add(1);
          if (i >= job_.count) return;
          insertOne(i, buffer);
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> guard(errorLock);
        if (error.empty()) error = e.what();
        shared_->cancelled.store(true);
      }
    };

    // The first point alone: it becomes the entry point, as in a sequential build.
    if (job_.count > 0) {
      next.store(1);
      std::vector<float> buffer(job_.dim);
      insertOne(0, buffer);
    }
    std::vector<std::thread> threads;
    for (size_t t = 1; t < job_.threads; t++) threads.emplace_back(loop);
    loop();
    for (auto& t : threads) t.join();
    if (!error.empty()) throw std::runtime_error(error);
    if (shared_->cancelled.load()) throw std::runtime_error("build cancelled");

    index.mult_ = mult;
    maxLevel_ = index.maxlevel_;
    index.saveIndex(job_.path);
    // saveIndex reports no failed write (a full disk, a missing directory): check the size it must have.
    uintmax_t expected = 96 + index.cur_element_count * index.size_data_per_element_;
    for (size_t i = 0; i < index.cur_element_count; i++) {
      expected += 4 + (index.element_levels_[i] > 0 ? index.size_links_per_element_ * index.element_levels_[i] : 0);
    }
    std::error_code ec;
    const uintmax_t written = std::filesystem::file_size(job_.path, ec);
    if (ec || written != expected) {
      throw std::runtime_error("writing " + job_.path + " failed: " + (ec ? ec.message() : std::to_string(written) + " bytes of " + std::to_string(expected)));
    }
  }

  Job job_;
  std::shared_ptr<Shared> shared_;
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Array> keep_;
  int maxLevel_ = -1;
};

size_t positiveSize(const Napi::Object& o, const char* name, size_t min, size_t max) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw std::invalid_argument(std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || std::floor(d) != d) {
    throw std::invalid_argument(std::string(name) + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<size_t>(d);
}

// build({ metric, dim, m, efConstruction, seed, threads, path, vectors, labels, order }) →
// { promise, progress(), cancel() }. The wrapper in parallel-build.ts validates first; these checks
// only keep a bad call from reaching hnswlib.
Napi::Value Build(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "build(options) takes an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  Job job;
  Napi::Array keep = Napi::Array::New(env, 3);
  try {
    Napi::Value metric = o.Get("metric");
    if (!metric.IsString()) throw std::invalid_argument("metric must be a string");
    job.metric = metric.As<Napi::String>().Utf8Value();
    if (job.metric != "l2" && job.metric != "ip" && job.metric != "cosine") throw std::invalid_argument("metric must be l2, ip or cosine");
    job.dim = positiveSize(o, "dim", 1, 65536);
    job.m = positiveSize(o, "m", 2, 10000);
    job.efConstruction = positiveSize(o, "efConstruction", 1, 1u << 20);
    job.seed = positiveSize(o, "seed", 0, 0xffffffffu);
    job.threads = positiveSize(o, "threads", 1, 256);
    Napi::Value path = o.Get("path");
    if (!path.IsString()) throw std::invalid_argument("path must be a string");
    job.path = path.As<Napi::String>().Utf8Value();
    Napi::Value vectors = o.Get("vectors");
    Napi::Value labels = o.Get("labels");
    Napi::Value order = o.Get("order");
    if (!vectors.IsTypedArray() || vectors.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw std::invalid_argument("vectors must be a Float32Array");
    if (!labels.IsTypedArray() || labels.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) throw std::invalid_argument("labels must be a Uint32Array");
    if (!order.IsTypedArray() || order.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) throw std::invalid_argument("order must be a Uint32Array");
    Napi::Float32Array v = vectors.As<Napi::Float32Array>();
    Napi::Uint32Array l = labels.As<Napi::Uint32Array>();
    Napi::Uint32Array ord = order.As<Napi::Uint32Array>();
    if (v.ElementLength() != l.ElementLength() * job.dim) throw std::invalid_argument("vectors must hold dim values per label");
    if (ord.ElementLength() != l.ElementLength()) throw std::invalid_argument("order must hold one position per label");
    for (size_t i = 0; i < ord.ElementLength(); i++) {
      if (ord[i] >= l.ElementLength()) throw std::invalid_argument("order holds a position beyond the labels");
    }
    keep.Set(0u, v);
    keep.Set(1u, l);
    keep.Set(2u, ord);
    job.vectors = v.Data();
    job.labels = l.Data();
    job.order = ord.Data();
    job.count = l.ElementLength();
  } catch (const std::exception& e) {
    Napi::TypeError::New(env, e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  auto shared = std::make_shared<Shared>();
  auto* worker = new BuildWorker(env, std::move(job), shared, keep);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("promise", worker->Promise());
  handle.Set("progress", Napi::Function::New(env, [shared](const Napi::CallbackInfo& i) {
    return Napi::Number::New(i.Env(), static_cast<double>(shared->inserted.load(std::memory_order_relaxed)));
  }));
  handle.Set("cancel", Napi::Function::New(env, [shared](const Napi::CallbackInfo& i) {
    shared->cancelled.store(true);
    return i.Env().Undefined();
  }));
  worker->Queue();
  return handle;
}

// levels(count, m, seed): the levels a build draws, as an Int32Array (for tests).
Napi::Value Levels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  for (size_t i = 0; i < 3; i++) {
    if (info.Length() <= i || !info[i].IsNumber()) {
      Napi::TypeError::New(env, "levels(count, m, seed) takes three numbers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  const size_t count = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  const std::vector<int> levels = drawLevels(count, static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()), static_cast<size_t>(info[2].As<Napi::Number>().Int64Value()));
  Napi::Int32Array out = Napi::Int32Array::New(env, count);
  for (size_t i = 0; i < count; i++) out[i] = levels[i];
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitKernels(env, exports);
  exports.Set("build", Napi::Function::New(env, Build));
  exports.Set("levels", Napi::Function::New(env, Levels));
  exports.Set("hardwareThreads", Napi::Number::New(env, std::thread::hardware_concurrency()));
  return exports;
}

}  // namespace

NODE_API_MODULE(vicinity_parallel_build, Init)
