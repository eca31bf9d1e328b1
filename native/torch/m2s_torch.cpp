// libm2s_torch: the C ABI the C# binding (src/M2SNet.Edge.Torch) calls.
//
// Conventions
// - A tensor crosses the boundary as an opaque pointer to a heap-allocated at::Tensor; the caller
//   owns it and frees it with m2s_tensor_free.
// - Functions returning a tensor return nullptr on failure; functions returning int return 0 on
//   success and -1 on failure. The failure's text is m2s_last_error() on the calling thread.
// - Every entry point catches c10::Error and std::exception: an engine error never crosses into
//   managed code as a C++ exception (which would terminate the process).
#include <torch/torch.h>

#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#define M2S_API extern "C" __attribute__((visibility("default")))

using m2s_tensor = at::Tensor*;

namespace {

thread_local std::string g_last_error;

void set_error(const char* message) { g_last_error = message ? message : "unknown error"; }

template <typename F>
m2s_tensor guard_tensor(F&& body) {
  try {
    return new at::Tensor(body());
  } catch (const c10::Error& e) {
    set_error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown C++ exception in libtorch");
  }
  return nullptr;
}

template <typename F>
int guard(F&& body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    set_error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown C++ exception in libtorch");
  }
  return -1;
}

c10::IntArrayRef ints(const int64_t* values, int count) { return c10::IntArrayRef(values, static_cast<size_t>(count)); }

c10::optional<at::Tensor> optional(m2s_tensor t) {
  return t ? c10::optional<at::Tensor>(*t) : c10::nullopt;
}

c10::Device device_of(int type, int index) {
  return c10::Device(static_cast<c10::DeviceType>(type), static_cast<c10::DeviceIndex>(index));
}

at::TensorOptions options_of(int dtype, int device_type, int device_index, bool requires_grad) {
  return at::TensorOptions()
      .dtype(static_cast<c10::ScalarType>(dtype))
      .device(device_of(device_type, device_index))
      .requires_grad(requires_grad);
}

}  // namespace

// ---- process -------------------------------------------------------------------------------

M2S_API const char* m2s_last_error() { return g_last_error.c_str(); }

// glibc hands large freed blocks back to the OS and maps them again on the next step, which
// halves training speed; keeping them in the heap avoids that.
M2S_API int m2s_init(int tune_allocator) {
  return guard([&] {
    if (tune_allocator) {
      mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
      mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    }
  });
}

M2S_API const char* m2s_version() { return TORCH_VERSION; }

M2S_API int m2s_set_num_threads(int n) {
  return guard([&] { at::set_num_threads(n); });
}

M2S_API int m2s_get_num_threads() { return at::get_num_threads(); }

M2S_API int m2s_manual_seed(uint64_t seed) {
  return guard([&] { torch::manual_seed(seed); });
}

M2S_API int m2s_cuda_is_available() {
  try {
    return torch::cuda::is_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

M2S_API int m2s_cuda_device_count() {
  try {
    return static_cast<int>(torch::cuda::device_count());
  } catch (...) {
    return 0;
  }
}

M2S_API int m2s_grad_enabled() { return at::GradMode::is_enabled() ? 1 : 0; }

M2S_API void m2s_set_grad_enabled(int enabled) { at::GradMode::set_enabled(enabled != 0); }

// ---- lifetime and inspection --------------------------------------------------------------

M2S_API void m2s_tensor_free(m2s_tensor t) { delete t; }

M2S_API int m2s_tensor_ndim(m2s_tensor t) { return static_cast<int>(t->dim()); }

M2S_API int m2s_tensor_shape(m2s_tensor t, int64_t* out, int capacity) {
  return guard([&] {
    auto sizes = t->sizes();
    if (static_cast<int>(sizes.size()) > capacity) throw std::runtime_error("shape buffer too small");
    std::memcpy(out, sizes.data(), sizes.size() * sizeof(int64_t));
  });
}

M2S_API int m2s_tensor_dtype(m2s_tensor t) { return static_cast<int>(t->scalar_type()); }

M2S_API int m2s_tensor_device_type(m2s_tensor t) { return static_cast<int>(t->device().type()); }

M2S_API int m2s_tensor_device_index(m2s_tensor t) { return static_cast<int>(t->device().index()); }

M2S_API int64_t m2s_tensor_numel(m2s_tensor t) { return t->numel(); }

M2S_API int m2s_tensor_requires_grad(m2s_tensor t) { return t->requires_grad() ? 1 : 0; }

M2S_API int m2s_tensor_set_requires_grad(m2s_tensor t, int requires_grad) {
  return guard([&] { t->set_requires_grad(requires_grad != 0); });
}

M2S_API int m2s_tensor_is_defined(m2s_tensor t) { return t->defined() ? 1 : 0; }

// Copies the elements, in row-major order, into caller memory of exactly nbytes.
M2S_API int m2s_tensor_copy_to(m2s_tensor t, void* destination, int64_t nbytes) {
  return guard([&] {
    auto c = t->detach().to(c10::kCPU).contiguous();
    auto size = static_cast<int64_t>(c.numel() * c.element_size());
    if (size != nbytes) throw std::runtime_error("destination holds " + std::to_string(nbytes) + " bytes, tensor has " + std::to_string(size));
    std::memcpy(destination, c.data_ptr(), static_cast<size_t>(size));
  });
}

M2S_API int m2s_tensor_item(m2s_tensor t, double* out) {
  return guard([&] { *out = t->item<double>(); });
}

// ---- creation ----------------------------------------------------------------------------

M2S_API m2s_tensor m2s_from_data(const void* data, const int64_t* shape, int ndim, int dtype, int device_type, int device_index, int requires_grad) {
  return guard_tensor([&] {
    auto cpu = at::empty(ints(shape, ndim), at::TensorOptions().dtype(static_cast<c10::ScalarType>(dtype)));
    std::memcpy(cpu.data_ptr(), data, static_cast<size_t>(cpu.numel() * cpu.element_size()));
    auto t = cpu.to(device_of(device_type, device_index));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  });
}

M2S_API m2s_tensor m2s_empty(const int64_t* shape, int ndim, int dtype, int device_type, int device_index, int requires_grad) {
  return guard_tensor([&] { return torch::empty(ints(shape, ndim), options_of(dtype, device_type, device_index, requires_grad)); });
}

M2S_API m2s_tensor m2s_zeros(const int64_t* shape, int ndim, int dtype, int device_type, int device_index, int requires_grad) {
  return guard_tensor([&] { return torch::zeros(ints(shape, ndim), options_of(dtype, device_type, device_index, requires_grad)); });
}

M2S_API m2s_tensor m2s_full(const int64_t* shape, int ndim, double value, int dtype, int device_type, int device_index, int requires_grad) {
  return guard_tensor([&] { return torch::full(ints(shape, ndim), value, options_of(dtype, device_type, device_index, requires_grad)); });
}

M2S_API m2s_tensor m2s_randn(const int64_t* shape, int ndim, int dtype, int device_type, int device_index, int requires_grad) {
  return guard_tensor([&] { return torch::randn(ints(shape, ndim), options_of(dtype, device_type, device_index, requires_grad)); });
}

M2S_API m2s_tensor m2s_rand(const int64_t* shape, int ndim, int dtype, int device_type, int device_index, int requires_grad) {
  return guard_tensor([&] { return torch::rand(ints(shape, ndim), options_of(dtype, device_type, device_index, requires_grad)); });
}

// ---- initialisation (in place, no grad) ----------------------------------------------------

M2S_API int m2s_init_kaiming_normal(m2s_tensor t, int fan_out, double a) {
  return guard([&] {
    torch::NoGradGuard no_grad;
    if (fan_out) {
      torch::nn::init::kaiming_normal_(*t, a, torch::kFanOut, torch::kReLU);
    } else {
      torch::nn::init::kaiming_normal_(*t, a, torch::kFanIn, torch::kReLU);
    }
  });
}

M2S_API int m2s_init_kaiming_uniform(m2s_tensor t, double a) {
  return guard([&] {
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(*t, a, torch::kFanIn, torch::kLeakyReLU);
  });
}

M2S_API int m2s_init_uniform(m2s_tensor t, double low, double high) {
  return guard([&] {
    torch::NoGradGuard no_grad;
    t->uniform_(low, high);
  });
}

M2S_API int m2s_init_normal(m2s_tensor t, double mean, double std) {
  return guard([&] {
    torch::NoGradGuard no_grad;
    t->normal_(mean, std);
  });
}

// ---- autograd ------------------------------------------------------------------------------

// *out receives the gradient, or nullptr when there is none yet.
M2S_API int m2s_tensor_grad(m2s_tensor t, m2s_tensor* out) {
  return guard([&] {
    auto g = t->grad();
    *out = g.defined() ? new at::Tensor(g) : nullptr;
  });
}

M2S_API int m2s_tensor_backward(m2s_tensor t, m2s_tensor gradient, int retain_graph) {
  return guard([&] {
    t->backward(gradient ? *gradient : at::Tensor(), retain_graph ? c10::optional<bool>(true) : c10::nullopt);
  });
}

M2S_API int m2s_tensor_zero_grad(m2s_tensor t) {
  return guard([&] {
    auto& g = t->mutable_grad();
    if (g.defined()) {
      g = at::Tensor();  // set_to_none, as PyTorch's optimizers do by default since 2.0
    }
  });
}

M2S_API m2s_tensor m2s_detach(m2s_tensor t) {
  return guard_tensor([&] { return t->detach(); });
}

M2S_API m2s_tensor m2s_clone(m2s_tensor t) {
  return guard_tensor([&] { return t->clone(); });
}

// ---- conversion and shape ------------------------------------------------------------------

M2S_API m2s_tensor m2s_to(m2s_tensor t, int dtype, int device_type, int device_index) {
  return guard_tensor([&] { return t->to(device_of(device_type, device_index), static_cast<c10::ScalarType>(dtype)); });
}

M2S_API m2s_tensor m2s_contiguous(m2s_tensor t) {
  return guard_tensor([&] { return t->contiguous(); });
}

M2S_API m2s_tensor m2s_reshape(m2s_tensor t, const int64_t* shape, int ndim) {
  return guard_tensor([&] { return t->reshape(ints(shape, ndim)); });
}

M2S_API m2s_tensor m2s_expand(m2s_tensor t, const int64_t* shape, int ndim) {
  return guard_tensor([&] { return t->expand(ints(shape, ndim)); });
}

M2S_API m2s_tensor m2s_repeat(m2s_tensor t, const int64_t* repeats, int ndim) {
  return guard_tensor([&] { return t->repeat(ints(repeats, ndim)); });
}

M2S_API m2s_tensor m2s_permute(m2s_tensor t, const int64_t* dims, int ndim) {
  return guard_tensor([&] { return t->permute(ints(dims, ndim)); });
}

M2S_API m2s_tensor m2s_narrow(m2s_tensor t, int64_t dim, int64_t start, int64_t length) {
  return guard_tensor([&] { return t->narrow(dim, start, length); });
}

M2S_API m2s_tensor m2s_flip(m2s_tensor t, const int64_t* dims, int ndim) {
  return guard_tensor([&] { return t->flip(ints(dims, ndim)); });
}

M2S_API m2s_tensor m2s_cat(const m2s_tensor* tensors, int count, int64_t dim) {
  return guard_tensor([&] {
    std::vector<at::Tensor> list;
    list.reserve(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) list.push_back(*tensors[i]);
    return at::cat(list, dim);
  });
}

// ---- element-wise ---------------------------------------------------------------------------

enum UnaryOp { kAbs = 0, kNeg, kSigmoid, kRelu, kExp, kLog, kSqrt, kLog1p, kTanh, kFloor };

M2S_API m2s_tensor m2s_unary(m2s_tensor t, int op) {
  return guard_tensor([&]() -> at::Tensor {
    switch (op) {
      case kAbs: return t->abs();
      case kNeg: return t->neg();
      case kSigmoid: return t->sigmoid();
      case kRelu: return t->relu();
      case kExp: return t->exp();
      case kLog: return t->log();
      case kSqrt: return t->sqrt();
      case kLog1p: return t->log1p();
      case kTanh: return t->tanh();
      case kFloor: return t->floor();
      default: throw std::runtime_error("unknown unary op " + std::to_string(op));
    }
  });
}

enum BinaryOp { kAdd = 0, kSub, kMul, kDiv, kMax, kMin, kPow, kGt, kGe, kLt, kLe, kEq };

at::Tensor binary(const at::Tensor& a, const at::Tensor& b, int op) {
  switch (op) {
    case kAdd: return a + b;
    case kSub: return a - b;
    case kMul: return a * b;
    case kDiv: return a / b;
    case kMax: return at::maximum(a, b);
    case kMin: return at::minimum(a, b);
    case kPow: return a.pow(b);
    case kGt: return a.gt(b);
    case kGe: return a.ge(b);
    case kLt: return a.lt(b);
    case kLe: return a.le(b);
    case kEq: return a.eq(b);
    default: throw std::runtime_error("unknown binary op " + std::to_string(op));
  }
}

M2S_API m2s_tensor m2s_binary(m2s_tensor a, m2s_tensor b, int op) {
  return guard_tensor([&] { return binary(*a, *b, op); });
}

M2S_API m2s_tensor m2s_binary_scalar(m2s_tensor a, double b, int op) {
  return guard_tensor([&]() -> at::Tensor {
    const at::Scalar s(b);
    switch (op) {
      case kAdd: return a->add(s);
      case kSub: return a->sub(s);
      case kMul: return a->mul(s);
      case kDiv: return a->div(s);
      case kMax: return a->clamp_min(s);
      case kMin: return a->clamp_max(s);
      case kPow: return a->pow(s);
      case kGt: return a->gt(s);
      case kGe: return a->ge(s);
      case kLt: return a->lt(s);
      case kLe: return a->le(s);
      case kEq: return a->eq(s);
      default: throw std::runtime_error("unknown binary op " + std::to_string(op));
    }
  });
}

// a + alpha * b
M2S_API m2s_tensor m2s_add_scaled(m2s_tensor a, m2s_tensor b, double alpha) {
  return guard_tensor([&] { return at::add(*a, *b, alpha); });
}

M2S_API m2s_tensor m2s_clamp(m2s_tensor t, double low, double high) {
  return guard_tensor([&] { return t->clamp(low, high); });
}

M2S_API m2s_tensor m2s_where(m2s_tensor condition, m2s_tensor a, m2s_tensor b) {
  return guard_tensor([&] { return at::where(*condition, *a, *b); });
}

// ---- in place (for optimisers and parameter loading; no autograd history) ------------------

M2S_API int m2s_add_(m2s_tensor t, m2s_tensor other, double alpha) {
  return guard([&] { t->add_(*other, alpha); });
}

M2S_API int m2s_add_scalar_(m2s_tensor t, double value) {
  return guard([&] {
    if (at::isIntegralType(t->scalar_type(), /*includeBool=*/false)) {
      t->add_(at::Scalar(static_cast<int64_t>(value)));
    } else {
      t->add_(at::Scalar(value));
    }
  });
}

M2S_API int m2s_mul_scalar_(m2s_tensor t, double value) {
  return guard([&] { t->mul_(value); });
}

M2S_API int m2s_copy_(m2s_tensor t, m2s_tensor source) {
  return guard([&] {
    torch::NoGradGuard no_grad;
    t->copy_(*source);
  });
}

M2S_API int m2s_fill_(m2s_tensor t, double value) {
  return guard([&] {
    torch::NoGradGuard no_grad;
    t->fill_(value);
  });
}

// ---- reductions -------------------------------------------------------------------------------

enum ReduceOp { kSum = 0, kMean, kAmax, kAmin };

M2S_API m2s_tensor m2s_reduce(m2s_tensor t, const int64_t* dims, int ndims, int keepdim, int op) {
  return guard_tensor([&]() -> at::Tensor {
    auto d = ints(dims, ndims);
    bool all = ndims == 0;
    switch (op) {
      case kSum: return all ? t->sum() : t->sum(d, keepdim != 0);
      case kMean: return all ? t->mean() : t->mean(d, keepdim != 0);
      case kAmax: return t->amax(d, keepdim != 0);
      case kAmin: return t->amin(d, keepdim != 0);
      default: throw std::runtime_error("unknown reduction " + std::to_string(op));
    }
  });
}

// ---- neural-network functions -------------------------------------------------------------

M2S_API m2s_tensor m2s_conv2d(m2s_tensor input, m2s_tensor weight, m2s_tensor bias,
                              const int64_t* stride, const int64_t* padding, const int64_t* dilation, int64_t groups) {
  return guard_tensor([&] { return at::conv2d(*input, *weight, optional(bias), ints(stride, 2), ints(padding, 2), ints(dilation, 2), groups); });
}

M2S_API m2s_tensor m2s_batch_norm(m2s_tensor input, m2s_tensor weight, m2s_tensor bias, m2s_tensor running_mean,
                                  m2s_tensor running_var, int training, double momentum, double eps) {
  return guard_tensor([&] {
    return at::batch_norm(*input, optional(weight), optional(bias), optional(running_mean), optional(running_var),
                          training != 0, momentum, eps, at::globalContext().userEnabledCuDNN());
  });
}

M2S_API m2s_tensor m2s_max_pool2d(m2s_tensor input, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                                  const int64_t* dilation, int ceil_mode) {
  return guard_tensor([&] { return at::max_pool2d(*input, ints(kernel, 2), ints(stride, 2), ints(padding, 2), ints(dilation, 2), ceil_mode != 0); });
}

M2S_API m2s_tensor m2s_avg_pool2d(m2s_tensor input, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                                  int ceil_mode, int count_include_pad) {
  return guard_tensor([&] {
    return at::avg_pool2d(*input, ints(kernel, 2), ints(stride, 2), ints(padding, 2), ceil_mode != 0, count_include_pad != 0, c10::nullopt);
  });
}

// Bilinear resize to (height, width); align_corners = false is F.interpolate's default.
M2S_API m2s_tensor m2s_upsample_bilinear2d(m2s_tensor input, int64_t height, int64_t width, int align_corners) {
  return guard_tensor([&] {
    std::vector<int64_t> size{height, width};
    return at::upsample_bilinear2d(*input, size, align_corners != 0, c10::nullopt, c10::nullopt);
  });
}

M2S_API m2s_tensor m2s_linear(m2s_tensor input, m2s_tensor weight, m2s_tensor bias) {
  return guard_tensor([&] { return at::linear(*input, *weight, optional(bias)); });
}

// reduction: 0 none, 1 mean, 2 sum (at::Reduction)
M2S_API m2s_tensor m2s_bce_with_logits(m2s_tensor input, m2s_tensor target, m2s_tensor weight, int reduction) {
  return guard_tensor([&] { return at::binary_cross_entropy_with_logits(*input, *target, optional(weight), c10::nullopt, reduction); });
}

M2S_API m2s_tensor m2s_mse_loss(m2s_tensor input, m2s_tensor target, int reduction) {
  return guard_tensor([&] { return at::mse_loss(*input, *target, reduction); });
}

// ---- c10d: process groups for data-parallel training ---------------------------------------------
//
// libtorch's own distributed engine: a TCPStore rendezvous (rank 0 serves it) and a c10d backend
// over it: ProcessGroupGloo (CPU, or CUDA tensors staged by gloo) and, in a CUDA build,
// ProcessGroupNCCL (m2s_torch_nccl.cpp). A group crosses the boundary as an opaque pointer to a
// holder, freed with m2s_dist_free. Collectives bucket their tensors (one flat buffer per bucket,
// one call per bucket), average in place and copy the results back.
//
// Every rank also beats a counter in the store (its own connection, every 250 ms). When a
// collective fails, the rank reads the counters twice, a second and a half apart: a rank whose
// counter stood still has died or hangs, and the error names it; a store that does not answer means
// rank 0, which serves it, is gone. Built only where c10d's headers are present (Debian's
// libtorch-dev, or a LibTorch that has them); gloo also needs gloo's (libgloo-dev).

#ifdef M2S_WITH_C10D
#ifdef M2S_WITH_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "m2s_dist.hpp"

namespace {
const char* const kNoNccl = "this libtorch shim was built without NCCL (it needs a LibTorch with CUDA: TORCH_DIR=... build/bootstrap.sh torch-shim)";
}

#ifndef M2S_WITH_NCCL
namespace m2s {
bool nccl_built() { return false; }
std::unique_ptr<Collectives> make_nccl(const c10::intrusive_ptr<c10d::Store>&, int, int, std::chrono::milliseconds, int) {
  throw std::runtime_error(kNoNccl);
}
}  // namespace m2s
#endif
#endif

namespace {

#ifdef M2S_WITH_C10D
constexpr auto kBeat = std::chrono::milliseconds(250);
constexpr auto kSilence = std::chrono::milliseconds(1500);

std::string beat_key(int rank) { return "m2s/beat/" + std::to_string(rank); }

// The heartbeat's state, shared with its thread: a thread blocked on a store that stopped answering
// is left behind (detached) rather than joined.
struct Heart {
  c10::intrusive_ptr<c10d::Store> store;  // a connection of its own
  std::mutex mutex;                       // one call on the connection at a time
  std::condition_variable wake;
  std::atomic<bool> stop{false};  // set without the mutex, which a call blocked on the store may hold
};

// Reads every rank's beat count; throws when the store cannot be reached.
std::vector<int64_t> beats(Heart& heart, int world) {
  std::vector<int64_t> counts;
  std::lock_guard<std::mutex> lock(heart.mutex);
  for (int r = 0; r < world; r++) counts.push_back(heart.store->add(beat_key(r), 0));
  return counts;
}
#endif

struct DistGroup {
#ifdef M2S_WITH_C10D
  c10::intrusive_ptr<c10d::Store> store;
  std::unique_ptr<m2s::Collectives> collectives;
  std::shared_ptr<Heart> heart;
  std::string host;
  int port = 0;
#endif
  int rank = 0;
  int world = 1;

  ~DistGroup() {
#ifdef M2S_WITH_C10D
    if (heart) {
      heart->stop = true;
      heart->wake.notify_all();
    }
#endif
  }

#ifdef M2S_WITH_C10D
  // After a failed collective: which ranks stopped beating, in words, or "" when all beat on.
  std::string diagnose() const {
    if (!heart) return "";
    auto heart_ref = heart;
    auto world_size = world;
    auto probe = std::async(std::launch::async, [heart_ref, world_size] {
      auto before = beats(*heart_ref, world_size);
      std::this_thread::sleep_for(kSilence);
      auto after = beats(*heart_ref, world_size);
      std::vector<int> silent;
      for (int r = 0; r < world_size; r++) {
        if (after[r] == before[r]) silent.push_back(r);
      }
      return silent;
    });
    std::string store_gone = rank == 0 ? "" : "rank 0, which serves the rendezvous at " + host + ":" + std::to_string(port) + ", is gone or does not answer";
    // A store that does not answer blocks the probe: wait a while, then leave it behind.
    if (probe.wait_for(kSilence * 3) != std::future_status::ready) {
      std::thread([p = std::move(probe)]() mutable { p.wait(); }).detach();
      return store_gone;
    }
    try {
      auto silent = probe.get();
      silent.erase(std::remove(silent.begin(), silent.end(), rank), silent.end());
      if (silent.empty()) return "";
      std::string names;
      for (size_t i = 0; i < silent.size(); i++) names += (i == 0 ? "" : i + 1 == silent.size() ? " and " : ", ") + std::to_string(silent[i]);
      return std::string(silent.size() == 1 ? "rank " : "ranks ") + names + " stopped answering (no heartbeat for " +
             std::to_string(kSilence.count()) + " ms: " + (silent.size() == 1 ? "its process ended or hangs" : "their processes ended or hang") + ")";
    } catch (const std::exception&) {
      return store_gone;
    }
  }
#endif
};

#ifdef M2S_WITH_C10D
std::shared_ptr<Heart> start_heart(const std::string& host, int port, int rank, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(port);
  options.isServer = false;
  options.waitWorkers = false;
  options.timeout = timeout;
  auto heart = std::make_shared<Heart>();
  heart->store = c10::make_intrusive<c10d::TCPStore>(host, options);
  std::thread([heart, rank] {
    auto key = beat_key(rank);
    std::unique_lock<std::mutex> lock(heart->mutex);
    while (!heart->stop) {
      try {
        heart->store->add(key, 1);
      } catch (...) {
        return;  // the store is gone: nothing to beat for
      }
      heart->wake.wait_for(lock, kBeat, [&] { return heart->stop.load(); });
    }
  }).detach();
  return heart;
}

// Tensors of one dtype and device, in order, cut into buckets of at most `bucket_bytes` (a tensor
// larger than that is a bucket of its own); `run` gets each bucket's flat buffer, and the results
// are copied back.
template <typename F>
void bucketed(std::vector<at::Tensor>& tensors, int64_t bucket_bytes, F&& run) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  while (i < tensors.size()) {
    std::vector<at::Tensor> bucket;
    int64_t bytes = 0;
    auto dtype = tensors[i].scalar_type();
    auto device = tensors[i].device();
    while (i < tensors.size() && tensors[i].scalar_type() == dtype && tensors[i].device() == device &&
           (bucket.empty() || bytes + tensors[i].nbytes() <= static_cast<size_t>(bucket_bytes))) {
      bytes += tensors[i].nbytes();
      bucket.push_back(tensors[i]);
      i++;
    }
    std::vector<at::Tensor> flat_parts;
    flat_parts.reserve(bucket.size());
    for (auto& t : bucket) flat_parts.push_back(t.reshape({-1}));
    auto flat = torch::cat(flat_parts);
    run(flat);
    int64_t offset = 0;
    for (auto& t : bucket) {
      t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

// Runs a collective; a failure is rethrown with the ranks that stopped answering named first.
template <typename F>
void collective(DistGroup& g, F&& body) {
  try {
    body();
  } catch (const c10::Error& e) {
    auto who = g.diagnose();
    throw std::runtime_error(who.empty() ? std::string(e.what_without_backtrace()) : who + "; " + g.collectives->name() + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    auto who = g.diagnose();
    throw std::runtime_error(who.empty() ? std::string(e.what()) : who + "; " + g.collectives->name() + ": " + e.what());
  }
}
#endif

DistGroup& group_of(void* group) {
  if (group == nullptr) throw std::invalid_argument("no process group");
  return *static_cast<DistGroup*>(group);
}

std::vector<at::Tensor> tensor_list(m2s_tensor* tensors, int count) {
  std::vector<at::Tensor> list;
  list.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; i++) {
    if (tensors[i] == nullptr) throw std::invalid_argument("a null tensor in the list");
    list.push_back(*tensors[i]);
  }
  return list;
}

}  // namespace

// 1 where this build can run `backend` ("gloo"; "nccl" also needs a CUDA device), else 0.
M2S_API int m2s_dist_available(const char* backend) {
  std::string name = backend ? backend : "";
#if defined(M2S_WITH_C10D) && defined(M2S_WITH_GLOO)
  if (name == "gloo") return 1;
#endif
#ifdef M2S_WITH_C10D
  if (name == "nccl") {
    try {
      return m2s::nccl_built() && torch::cuda::is_available() ? 1 : 0;
    } catch (...) {
      return 0;
    }
  }
#endif
  return 0;
}

// Joins the group: rank 0 serves the store on host:port, the others connect to it; every rank waits
// up to timeout_ms for all `world` ranks, and collectives fail after timeout_ms without progress.
// `device` is the rank's CUDA device (NCCL), or -1.
M2S_API void* m2s_dist_init(const char* backend, const char* host, int port, int world, int rank, int64_t timeout_ms, int device) {
  try {
    std::string name = backend ? backend : "";
    if (name != "gloo" && name != "nccl") throw std::invalid_argument("unknown backend '" + name + "' (gloo or nccl)");
    if (world < 1 || rank < 0 || rank >= world) {
      throw std::invalid_argument("rank " + std::to_string(rank) + " is not in a world of " + std::to_string(world));
    }
    if (port < 1 || port > 65535) throw std::invalid_argument("port " + std::to_string(port) + " is not a TCP port");
#ifdef M2S_WITH_C10D
    // What this build or machine cannot run is refused before the rendezvous, not after it.
    if (name == "nccl") {
      if (device < 0) throw std::invalid_argument("NCCL needs the rank's CUDA device");
      if (!m2s::nccl_built()) throw std::runtime_error(kNoNccl);
      if (!torch::cuda::is_available()) throw std::runtime_error("NCCL needs a CUDA device, and libtorch sees no CUDA device on this machine");
    }
#ifndef M2S_WITH_GLOO
    if (name == "gloo") throw std::runtime_error("this libtorch shim was built without gloo (install libgloo-dev and rebuild: build/bootstrap.sh torch-shim)");
#endif
    std::string address = host ? host : "127.0.0.1";
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(port);
    store_options.isServer = rank == 0;
    store_options.numWorkers = static_cast<size_t>(world);
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    auto holder = std::make_unique<DistGroup>();
    holder->host = address;
    holder->port = port;
    holder->store = c10::make_intrusive<c10d::TCPStore>(address, store_options);
    if (name == "nccl") {
      holder->collectives = m2s::make_nccl(holder->store, rank, world, timeout, device);
    } else {
#ifdef M2S_WITH_GLOO
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(address));
      options->threads = 1;
      holder->collectives = std::make_unique<m2s::BackendCollectives<c10d::ProcessGroupGloo>>(
          c10::make_intrusive<c10d::ProcessGroupGloo>(holder->store, rank, world, options), "gloo");
#endif
    }
    holder->heart = start_heart(address, port, rank, timeout);
    holder->rank = rank;
    holder->world = world;
    return holder.release();
#else
    throw std::runtime_error("this libtorch shim was built without c10d's headers, so without distributed training");
#endif
  } catch (const c10::Error& e) {
    set_error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown C++ exception in c10d");
  }
  return nullptr;
}

M2S_API void m2s_dist_free(void* group) { delete static_cast<DistGroup*>(group); }

// Sums the tensors over the group and divides by its size, in place, bucket by bucket.
M2S_API int m2s_dist_allreduce_mean(void* group, m2s_tensor* tensors, int count, int64_t bucket_bytes) {
  return guard([&] {
    auto& g = group_of(group);
    auto list = tensor_list(tensors, count);
#ifdef M2S_WITH_C10D
    collective(g, [&] {
      bucketed(list, bucket_bytes, [&](at::Tensor& flat) {
        g.collectives->allreduce_sum(flat);
        flat.div_(g.world);
      });
    });
#endif
  });
}

// Every rank's tensors become root's, in place.
M2S_API int m2s_dist_broadcast(void* group, m2s_tensor* tensors, int count, int root, int64_t bucket_bytes) {
  return guard([&] {
    auto& g = group_of(group);
    if (root < 0 || root >= g.world) throw std::invalid_argument("root " + std::to_string(root) + " is not a rank");
    auto list = tensor_list(tensors, count);
#ifdef M2S_WITH_C10D
    collective(g, [&] { bucketed(list, bucket_bytes, [&](at::Tensor& flat) { g.collectives->broadcast(flat, root); }); });
#endif
  });
}

M2S_API int m2s_dist_barrier(void* group) {
  return guard([&] {
    auto& g = group_of(group);
#ifdef M2S_WITH_C10D
    collective(g, [&] { g.collectives->barrier(); });
#endif
  });
}
