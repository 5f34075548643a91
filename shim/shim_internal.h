// shim_internal.h — helpers shared by the shim's C++ files (not part of the C API).
//
// Every extern "C" body ends in `catch (...) { shim_report_current(errbuf, errlen,
// "context"); }`: it rethrows the in-flight exception to read its text without the
// C++ backtrace, trims TorchScript tracebacks, and writes "context: message".
#ifndef INFICOND_SHIM_INTERNAL_H
#define INFICOND_SHIM_INTERNAL_H

#include <cstddef>
#include <string>

#include "inficond_shim.h"

namespace at {
class Tensor;
}

// Upper bound on any message we hand to C (the header promises < 300 chars).
constexpr size_t SHIM_MSG_MAX = 299;

// The text of the exception being handled (call only inside a catch block):
// c10::Error without its backtrace, std::exception::what(), or a fixed string.
std::string shim_current_exception_text();
// First meaningful line of a libtorch error text, at most SHIM_MSG_MAX chars.
std::string shim_trim(const std::string &raw);
// Copy msg (cut to SHIM_MSG_MAX) into errbuf; NULL-safe.
void shim_put_error(char *errbuf, size_t errlen, const std::string &msg);
// shim_put_error(context + ": " + trimmed current exception). Call inside catch.
void shim_report_current(char *errbuf, size_t errlen, const char *context);

// glibc malloc thresholds that keep libtorch's activation buffers in the heap
// (process-wide, once; thread-safe). (shim_malloc.cpp)
void shim_tune_malloc();

// Copy a method's result (already contiguous float32 on the CPU) into a malloc'd
// shim_output. Throws on too many dimensions or out of memory. (shim_model.cpp)
void shim_output_from_tensor(const at::Tensor &res, shim_output *out);

#endif
