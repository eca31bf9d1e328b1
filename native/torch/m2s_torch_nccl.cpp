// libm2s_torch's NCCL backend: c10d's ProcessGroupNCCL, built only against a LibTorch with CUDA and
// NCCL. CMake first compiles this file on its own (try_compile); only if that succeeds is it part of
// the library, so a LibTorch whose NCCL headers differ leaves the shim with gloo instead of failing.
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include "m2s_dist.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <c10/cuda/CUDAFunctions.h>

#include <cstdlib>

namespace m2s {

namespace {

// A zero-sized all-reduce on this rank's device: NCCL's own barrier guesses the device.
class NcclCollectives : public BackendCollectives<c10d::ProcessGroupNCCL> {
 public:
  NcclCollectives(c10::intrusive_ptr<c10d::ProcessGroupNCCL> backend, int device)
      : BackendCollectives(std::move(backend), "nccl"), device_(device) {}

  void barrier() override {
    auto token = torch::zeros({1}, torch::TensorOptions().device(torch::kCUDA, static_cast<c10::DeviceIndex>(device_)));
    allreduce_sum(token);
    token.cpu();  // waits for the device
  }

 private:
  int device_;
};

}  // namespace

bool nccl_built() { return true; }

std::unique_ptr<Collectives> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                       std::chrono::milliseconds timeout, int device) {
  if (device < 0) throw std::invalid_argument("NCCL needs the rank's CUDA device");
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
  // A collective that times out or fails must throw from wait() on this thread, as gloo's do,
  // rather than have NCCL's watchdog end the process; a launcher that set these keeps its choice.
  // (libtorch 1.x reads the names without TORCH_.)
  for (const char* name : {"TORCH_NCCL_BLOCKING_WAIT", "NCCL_BLOCKING_WAIT"}) setenv(name, "1", 0);
  for (const char* name : {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "NCCL_ASYNC_ERROR_HANDLING"}) setenv(name, "0", 0);
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
  return std::make_unique<NcclCollectives>(std::move(backend), device);
}

}  // namespace m2s
