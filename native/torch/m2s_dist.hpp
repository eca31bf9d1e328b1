// Internal to libm2s_torch: the collectives a data-parallel group needs, over whichever c10d
// backend the build has. libtorch 1.13 derives its backends from c10d::ProcessGroup and 2.x from
// c10d::Backend; holding the concrete class behind this interface keeps one shim for both.
#pragma once

#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace m2s {

class Collectives {
 public:
  virtual ~Collectives() = default;
  // Sums `flat` over the group, in place.
  virtual void allreduce_sum(at::Tensor& flat) = 0;
  // `flat` becomes root's, in place.
  virtual void broadcast(at::Tensor& flat, int root) = 0;
  virtual void barrier() = 0;
  virtual std::string name() const = 0;
};

// A c10d backend class (ProcessGroupGloo, ProcessGroupNCCL) as Collectives.
template <typename Backend>
class BackendCollectives : public Collectives {
 public:
  BackendCollectives(c10::intrusive_ptr<Backend> backend, std::string name) : backend_(std::move(backend)), name_(std::move(name)) {}

  void allreduce_sum(at::Tensor& flat) override {
    std::vector<at::Tensor> one{flat};
    backend_->allreduce(one)->wait();
  }

  void broadcast(at::Tensor& flat, int root) override {
    std::vector<at::Tensor> one{flat};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    backend_->broadcast(one, options)->wait();
  }

  void barrier() override { backend_->barrier()->wait(); }

  std::string name() const override { return name_; }

 protected:
  c10::intrusive_ptr<Backend> backend_;
  std::string name_;
};

// NCCL over `store` on CUDA device `device` (m2s_torch_nccl.cpp, compiled only where the LibTorch
// has CUDA and NCCL). Where it is not compiled, nccl_built() is false and make_nccl throws.
bool nccl_built();
std::unique_ptr<Collectives> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                       std::chrono::milliseconds timeout, int device);

}  // namespace m2s
