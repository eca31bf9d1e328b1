// Shared by the shim's translation units: the error text of the last failed call on this thread,
// and the guard that turns every C++ exception into it.
#pragma once

#include <opencv2/core.hpp>

#include <exception>
#include <string>

#define M2S_API extern "C" __attribute__((visibility("default")))

namespace m2s {

extern thread_local std::string last_error;

inline void set_error(const char* message) { last_error = message ? message : "unknown error"; }

template <typename F>
int guard(F&& body) {
  try {
    body();
    return 0;
  } catch (const cv::Exception& e) {
    set_error(e.what());
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown C++ exception in OpenCV");
  }
  return -1;
}

}  // namespace m2s
