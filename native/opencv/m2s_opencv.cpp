// libm2s_opencv: the C ABI the C# binding (src/M2SNet.Edge.OpenCv) calls.
//
// Conventions (as in native/torch): a matrix crosses the boundary as an opaque pointer to a
// heap-allocated cv::Mat, owned by the caller and freed with m2s_mat_free. Functions return 0 on
// success and -1 on failure (or nullptr), with the reason in m2s_cv_last_error() on the calling
// thread. Every entry point catches cv::Exception and std::exception.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "m2s_common.hpp"

#include <cstring>
#include <string>
#include <vector>

using m2s_mat = cv::Mat*;

namespace m2s {
thread_local std::string last_error;
}  // namespace m2s

using m2s::guard;
using m2s::set_error;

namespace {

cv::Scalar scalar(const double* v) { return cv::Scalar(v[0], v[1], v[2], v[3]); }

}  // namespace

M2S_API const char* m2s_cv_last_error() { return m2s::last_error.c_str(); }

M2S_API const char* m2s_cv_version() { return CV_VERSION; }

M2S_API int m2s_cv_set_num_threads(int n) {
  return guard([&] { cv::setNumThreads(n); });
}

// ---- matrices --------------------------------------------------------------------------------

M2S_API m2s_mat m2s_mat_new() { return new cv::Mat(); }

M2S_API m2s_mat m2s_mat_new_sized(int rows, int cols, int type) {
  try {
    return new cv::Mat(rows, cols, type, cv::Scalar::all(0));
  } catch (const std::exception& e) {
    set_error(e.what());
    return nullptr;
  }
}

M2S_API void m2s_mat_free(m2s_mat m) { delete m; }

// rows, cols, type, step (bytes per row), data pointer
M2S_API void m2s_mat_info(m2s_mat m, int* rows, int* cols, int* type, int64_t* step, uint8_t** data) {
  *rows = m->rows;
  *cols = m->cols;
  *type = m->type();
  *step = static_cast<int64_t>(m->step[0]);
  *data = m->data;
}

M2S_API int m2s_mat_create(m2s_mat m, int rows, int cols, int type) {
  return guard([&] { m->create(rows, cols, type); });
}

M2S_API int m2s_mat_copy_to(m2s_mat src, m2s_mat dst) {
  return guard([&] { src->copyTo(*dst); });
}

M2S_API int m2s_mat_set_to(m2s_mat m, const double* value) {
  return guard([&] { m->setTo(scalar(value)); });
}

M2S_API int m2s_mat_convert_to(m2s_mat src, m2s_mat dst, int type, double alpha, double beta) {
  return guard([&] { src->convertTo(*dst, type, alpha, beta); });
}

// ---- codecs ------------------------------------------------------------------------------------

M2S_API int m2s_imread(const char* path, int flags, m2s_mat dst) {
  return guard([&] {
    *dst = cv::imread(path, flags);
    if (dst->empty()) throw std::runtime_error(std::string("cannot read an image from ") + path + " (missing, unreadable or not an image)");
  });
}

M2S_API int m2s_imwrite(const char* path, m2s_mat src, const int* params, int nparams) {
  return guard([&] {
    std::vector<int> p(params, params + nparams);
    if (!cv::imwrite(path, *src, p)) throw std::runtime_error(std::string("cannot write ") + path);
  });
}

M2S_API int m2s_imdecode(const uint8_t* data, int64_t length, int flags, m2s_mat dst) {
  return guard([&] {
    cv::Mat buffer(1, static_cast<int>(length), CV_8UC1, const_cast<uint8_t*>(data));
    *dst = cv::imdecode(buffer, flags);
    if (dst->empty()) throw std::runtime_error("the bytes are not a decodable image (corrupt or truncated?)");
  });
}

// Encodes into a growing buffer the caller frees with m2s_buffer_free.
M2S_API int m2s_imencode(const char* ext, m2s_mat src, const int* params, int nparams, std::vector<uint8_t>** out) {
  return guard([&] {
    auto buffer = new std::vector<uint8_t>();
    std::vector<int> p(params, params + nparams);
    if (!cv::imencode(ext, *src, *buffer, p)) {
      delete buffer;
      throw std::runtime_error(std::string("cannot encode ") + ext);
    }
    *out = buffer;
  });
}

M2S_API const uint8_t* m2s_buffer_data(std::vector<uint8_t>* b) { return b->data(); }
M2S_API int64_t m2s_buffer_size(std::vector<uint8_t>* b) { return static_cast<int64_t>(b->size()); }
M2S_API void m2s_buffer_free(std::vector<uint8_t>* b) { delete b; }

// ---- geometry and colour -------------------------------------------------------------------------

M2S_API int m2s_resize(m2s_mat src, m2s_mat dst, int width, int height, int interpolation) {
  return guard([&] { cv::resize(*src, *dst, cv::Size(width, height), 0, 0, interpolation); });
}

M2S_API int m2s_warp_affine(m2s_mat src, m2s_mat dst, const double* m23, int width, int height, int flags, int border_mode, const double* border_value) {
  return guard([&] {
    cv::Mat m(2, 3, CV_64F, const_cast<double*>(m23));
    cv::warpAffine(*src, *dst, m, cv::Size(width, height), flags, border_mode, scalar(border_value));
  });
}

M2S_API int m2s_flip(m2s_mat src, m2s_mat dst, int code) {
  return guard([&] { cv::flip(*src, *dst, code); });
}

M2S_API int m2s_cvt_color(m2s_mat src, m2s_mat dst, int code) {
  return guard([&] { cv::cvtColor(*src, *dst, code); });
}

M2S_API int m2s_gaussian_blur(m2s_mat src, m2s_mat dst, int kw, int kh, double sigma_x, double sigma_y) {
  return guard([&] { cv::GaussianBlur(*src, *dst, cv::Size(kw, kh), sigma_x, sigma_y); });
}

M2S_API int m2s_add_weighted(m2s_mat a, double alpha, m2s_mat b, double beta, double gamma, m2s_mat dst) {
  return guard([&] { cv::addWeighted(*a, alpha, *b, beta, gamma, *dst); });
}

M2S_API int m2s_threshold(m2s_mat src, m2s_mat dst, double thresh, double maxval, int type) {
  return guard([&] { cv::threshold(*src, *dst, thresh, maxval, type); });
}

// ---- drawing (in place) -------------------------------------------------------------------------

M2S_API int m2s_circle(m2s_mat img, int x, int y, int radius, const double* color, int thickness, int line_type) {
  return guard([&] { cv::circle(*img, cv::Point(x, y), radius, scalar(color), thickness, line_type); });
}

M2S_API int m2s_ellipse(m2s_mat img, int x, int y, int ax, int ay, double angle, const double* color, int thickness, int line_type) {
  return guard([&] { cv::ellipse(*img, cv::Point(x, y), cv::Size(ax, ay), angle, 0, 360, scalar(color), thickness, line_type); });
}

M2S_API int m2s_line(m2s_mat img, int x1, int y1, int x2, int y2, const double* color, int thickness, int line_type) {
  return guard([&] { cv::line(*img, cv::Point(x1, y1), cv::Point(x2, y2), scalar(color), thickness, line_type); });
}

M2S_API int m2s_rectangle(m2s_mat img, int x, int y, int w, int h, const double* color, int thickness, int line_type) {
  return guard([&] { cv::rectangle(*img, cv::Rect(x, y, w, h), scalar(color), thickness, line_type); });
}

// points: x0, y0, x1, y1, ... (count points)
M2S_API int m2s_polylines(m2s_mat img, const int* points, int count, int closed, const double* color, int thickness, int line_type) {
  return guard([&] {
    std::vector<cv::Point> p(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) p[i] = cv::Point(points[2 * i], points[2 * i + 1]);
    cv::polylines(*img, p, closed != 0, scalar(color), thickness, line_type);
  });
}

M2S_API int m2s_fill_poly(m2s_mat img, const int* points, int count, const double* color, int line_type) {
  return guard([&] {
    std::vector<std::vector<cv::Point>> p(1, std::vector<cv::Point>(static_cast<size_t>(count)));
    for (int i = 0; i < count; ++i) p[0][i] = cv::Point(points[2 * i], points[2 * i + 1]);
    cv::fillPoly(*img, p, scalar(color), line_type);
  });
}

M2S_API int m2s_put_text(m2s_mat img, const char* text, int x, int y, int font, double scale, const double* color, int thickness, int line_type) {
  return guard([&] { cv::putText(*img, text, cv::Point(x, y), font, scale, scalar(color), thickness, line_type); });
}

M2S_API int m2s_text_size(const char* text, int font, double scale, int thickness, int* width, int* height, int* baseline) {
  return guard([&] {
    auto s = cv::getTextSize(text, font, scale, thickness, baseline);
    *width = s.width;
    *height = s.height;
  });
}

// Draws the outlines of the non-zero regions of a binary 8-bit mask onto img.
M2S_API int m2s_draw_mask_contours(m2s_mat img, m2s_mat mask, const double* color, int thickness) {
  return guard([&] {
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(*mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    cv::drawContours(*img, contours, -1, scalar(color), thickness, cv::LINE_AA);
  });
}
