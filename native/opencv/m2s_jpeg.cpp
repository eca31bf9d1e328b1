// Strict JPEG decoding over libjpeg(-turbo). OpenCV's decoder carries on past a truncated or
// corrupt stream (what is missing comes out grey, which the model may call lesion); here the first
// warning libjpeg raises about the data refuses the image, with libjpeg's own words.
//
// setjmp/longjmp is libjpeg's error protocol: nothing with a destructor lives in this function
// between setjmp and a jump back to it.
#include "m2s_common.hpp"

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <string>

#include <jpeglib.h>

using m2s_mat = cv::Mat*;

namespace {

struct StrictErrors {
  jpeg_error_mgr base;
  std::jmp_buf escape;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<StrictErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->escape, 1);
}

// Level -1 is a warning: corrupt or missing data the decoder would paper over. Trace levels pass.
void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  on_error(cinfo);
}

}  // namespace

// Decodes a JPEG into a BGR image; -1 with the reason (m2s_last_error) on any error or warning.
M2S_API int m2s_imdecode_jpeg_strict(const uint8_t* data, int64_t length, m2s_mat dst) {
  jpeg_decompress_struct cinfo;
  StrictErrors errors;
  cinfo.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = on_error;
  errors.base.emit_message = on_message;
  errors.message[0] = '\0';
  if (setjmp(errors.escape)) {
    jpeg_destroy_decompress(&cinfo);
    m2s::set_error(errors.message);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(length));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_EXT_BGR;
  jpeg_start_decompress(&cinfo);
  bool allocated = true;
  try {
    dst->create(static_cast<int>(cinfo.output_height), static_cast<int>(cinfo.output_width), CV_8UC3);
  } catch (...) {
    allocated = false;
  }
  if (!allocated) {
    jpeg_destroy_decompress(&cinfo);
    m2s::set_error("out of memory for the decoded JPEG");
    return -1;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = dst->ptr<uint8_t>(static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  // Reads on to the end-of-image marker: a stream cut short warns here.
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}
