// Video capture and writing, and the per-frame work around inference (preprocess, masks,
// overlays), for the C# binding. Same conventions as m2s_opencv.cpp.
#include "m2s_common.hpp"

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

extern "C" {
#include <libavutil/log.h>
}

#include <cmath>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

using m2s_mat = cv::Mat*;
using m2s::guard;

namespace {

// FFmpeg's last warnings and errors: it reports a failed open or read only to its log.
std::mutex g_ffmpeg_mutex;
std::deque<std::string> g_ffmpeg_lines;

void ffmpeg_log(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > AV_LOG_WARNING) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  std::lock_guard<std::mutex> lock(g_ffmpeg_mutex);
  g_ffmpeg_lines.push_back(text);
  while (g_ffmpeg_lines.size() > 8) g_ffmpeg_lines.pop_front();
}

std::string take_ffmpeg_lines() {
  std::lock_guard<std::mutex> lock(g_ffmpeg_mutex);
  std::string all;
  for (auto& l : g_ffmpeg_lines) {
    if (!all.empty()) all += "; ";
    all += l;
  }
  g_ffmpeg_lines.clear();
  return all;
}

void clear_ffmpeg_lines() {
  std::lock_guard<std::mutex> lock(g_ffmpeg_mutex);
  g_ffmpeg_lines.clear();
}

}  // namespace

M2S_API void m2s_video_hook_ffmpeg_log() { av_log_set_callback(ffmpeg_log); }

// ---- capture -------------------------------------------------------------------------------------

// params: pairs of (property id, value) applied at open (timeouts, buffer size, ...).
M2S_API int m2s_capture_open(const char* source, int index, int api, const int* params, int nparams, cv::VideoCapture** out) {
  return guard([&] {
    clear_ffmpeg_lines();
    std::vector<int> p(params, params + nparams);
    auto cap = new cv::VideoCapture();
    bool ok = source ? cap->open(std::string(source), api, p) : cap->open(index, api, p);
    if (!ok || !cap->isOpened()) {
      delete cap;
      auto ff = take_ffmpeg_lines();
      throw std::runtime_error(std::string("cannot open ") + (source ? source : ("camera " + std::to_string(index))) +
                               (ff.empty() ? "" : " (FFmpeg: " + ff + ")"));
    }
    *out = cap;
  });
}

M2S_API void m2s_capture_free(cv::VideoCapture* cap) { delete cap; }

// 1 when a frame was read, 0 at the end of the stream or on a read failure (reason in the error text).
M2S_API int m2s_capture_read(cv::VideoCapture* cap, m2s_mat dst) {
  try {
    if (cap->read(*dst) && !dst->empty()) return 1;
    auto ff = take_ffmpeg_lines();
    m2s::last_error = ff.empty() ? "no more frames" : "FFmpeg: " + ff;
    return 0;
  } catch (const std::exception& e) {
    m2s::last_error = e.what();
    return -1;
  }
}

M2S_API double m2s_capture_get(cv::VideoCapture* cap, int property) { return cap->get(property); }

M2S_API int m2s_capture_set(cv::VideoCapture* cap, int property, double value) { return cap->set(property, value) ? 1 : 0; }

M2S_API int m2s_capture_backend_name(cv::VideoCapture* cap, char* out, int capacity) {
  return guard([&] {
    auto name = cap->getBackendName();
    std::snprintf(out, static_cast<size_t>(capacity), "%s", name.c_str());
  });
}

// ---- writing ---------------------------------------------------------------------------------------

M2S_API int m2s_writer_open(const char* path, int api, int fourcc, double fps, int width, int height, int is_color, cv::VideoWriter** out) {
  return guard([&] {
    clear_ffmpeg_lines();
    auto w = new cv::VideoWriter();
    if (!w->open(path, api, fourcc, fps, cv::Size(width, height), is_color != 0) || !w->isOpened()) {
      delete w;
      auto ff = take_ffmpeg_lines();
      throw std::runtime_error(std::string("cannot write video ") + path + (ff.empty() ? "" : " (FFmpeg: " + ff + ")"));
    }
    *out = w;
  });
}

M2S_API int m2s_writer_write(cv::VideoWriter* w, m2s_mat frame) {
  return guard([&] { w->write(*frame); });
}

M2S_API void m2s_writer_free(cv::VideoWriter* w) { delete w; }

// ---- around inference ------------------------------------------------------------------------------------

// One call from a BGR frame to the network's input: crop to the region of interest, resize
// (bilinear) to out_w × out_h, BGR → RGB, (v/255 − mean)/std, planar CHW float32 into dst.
M2S_API int m2s_preprocess(m2s_mat src, int roi_x, int roi_y, int roi_w, int roi_h, int out_w, int out_h,
                           const float* mean, const float* std, float* dst) {
  return guard([&] {
    thread_local cv::Mat resized;
    thread_local std::vector<cv::Mat> channels;
    cv::Mat roi = (*src)(cv::Rect(roi_x, roi_y, roi_w, roi_h));
    cv::resize(roi, resized, cv::Size(out_w, out_h), 0, 0, cv::INTER_LINEAR);
    cv::split(resized, channels);
    const size_t plane = static_cast<size_t>(out_w) * out_h;
    for (int c = 0; c < 3; ++c) {
      // Output plane c is RGB channel c, which is BGR channel 2 − c.
      cv::Mat out(out_h, out_w, CV_32F, dst + c * plane);
      channels[2 - c].convertTo(out, CV_32F, 1.0 / (255.0 * std[c]), -mean[c] / std[c]);
    }
  });
}

// Scores of the network (logits or probabilities, out_h × out_w) → an 8-bit map at the source size:
// the region of interest gets the resized scores, the rest 0. With binary, 255 where the probability
// exceeds the threshold; otherwise the probability × 255.
M2S_API int m2s_scores_to_map(const float* scores, int h, int w, int is_logits, int binary, float threshold,
                              int roi_x, int roi_y, int roi_w, int roi_h, int out_w, int out_h, m2s_mat dst) {
  return guard([&] {
    thread_local cv::Mat resized;
    thread_local cv::Mat probability;
    cv::Mat in(h, w, CV_32F, const_cast<float*>(scores));
    cv::resize(in, resized, cv::Size(roi_w, roi_h), 0, 0, cv::INTER_LINEAR);
    dst->create(out_h, out_w, CV_8UC1);
    dst->setTo(0);
    cv::Mat target = (*dst)(cv::Rect(roi_x, roi_y, roi_w, roi_h));
    if (binary) {
      // Compare the scores themselves: logit > log(t / (1 − t)) is probability > t. Written
      // straight into the mask's region: no frame-sized temporary to fault in every frame.
      double cut = is_logits ? std::log(threshold / (1.0 - threshold)) : threshold;
      cv::compare(resized, cut, target, cv::CMP_GT);
    } else {
      if (is_logits) {
        cv::exp(-resized, probability);
        probability = 1.0 / (1.0 + probability);
      } else {
        probability = resized;
      }
      probability.convertTo(target, CV_8U, 255.0);
    }
  });
}

// The frame with the mask painted over it: colour at the given opacity inside the mask, and its
// outline when contour_thickness > 0 (opacity 0 with a contour draws the outline alone).
M2S_API int m2s_overlay(m2s_mat frame, m2s_mat mask, const double* color, double opacity, int contour_thickness, m2s_mat dst) {
  return guard([&] {
    frame->copyTo(*dst);
    cv::Scalar c(color[0], color[1], color[2]);
    if (opacity > 0) {
      thread_local cv::Mat tinted;
      dst->copyTo(tinted);
      tinted.setTo(c, *mask);
      cv::addWeighted(tinted, opacity, *dst, 1.0 - opacity, 0, tinted);
      tinted.copyTo(*dst, *mask);
    }
    if (contour_thickness > 0) {
      std::vector<std::vector<cv::Point>> contours;
      cv::findContours(*mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
      cv::drawContours(*dst, contours, -1, c, contour_thickness, cv::LINE_AA);
    }
  });
}

// The bounding box of the endoscope's field of view: pixels brighter than a threshold, found on a
// quarter-size grey image (the black border around the round or octagonal view is cropped).
M2S_API int m2s_field_of_view(m2s_mat frame, int threshold, int* x, int* y, int* w, int* h) {
  return guard([&] {
    thread_local cv::Mat small, gray, bright;
    cv::resize(*frame, small, cv::Size(), 0.25, 0.25, cv::INTER_AREA);
    cv::cvtColor(small, gray, cv::COLOR_BGR2GRAY);
    cv::threshold(gray, bright, threshold, 255, cv::THRESH_BINARY);
    auto box = cv::boundingRect(bright);
    if (box.area() == 0) {
      *x = 0; *y = 0; *w = frame->cols; *h = frame->rows;
      return;
    }
    *x = std::max(0, box.x * 4);
    *y = std::max(0, box.y * 4);
    *w = std::min(frame->cols - *x, box.width * 4);
    *h = std::min(frame->rows - *y, box.height * 4);
  });
}
