// shim_error.cpp — turning libtorch exceptions into short C error strings.
//
// libtorch messages come in a few shapes: c10::Error (what() carries a C++
// backtrace; what_without_backtrace() does not), TorchScript interpreter failures
// ("The following operation failed in the TorchScript interpreter. Traceback of
// TorchScript ... RuntimeError: <the point>"), and compile errors (first line is the
// point, then suggestions and source excerpts). We keep the point and drop the rest.
// No torch.h here: this file compiles in a second.
#include <c10/util/Exception.h>

#include <cstring>
#include <exception>
#include <sstream>
#include <vector>

#include "inficond_shim.h"
#include "shim_internal.h"

std::string shim_current_exception_text() {
    try {
        throw;
    } catch (const c10::Error &e) {
        return e.what_without_backtrace();
    } catch (const std::exception &e) {
        return e.what();
    } catch (...) {
        return "unknown C++ exception";
    }
}

static std::string strip(const std::string &s) {
    size_t a = s.find_first_not_of(" \t\r\n");
    if (a == std::string::npos) return "";
    size_t b = s.find_last_not_of(" \t\r\n");
    return s.substr(a, b - a + 1);
}

// "RuntimeError: x" -> "x" when the line starts with an exception class name.
static bool strip_error_class(const std::string &line, std::string *rest) {
    size_t colon = line.find(": ");
    if (colon == std::string::npos || colon == 0) return false;
    std::string head = line.substr(0, colon);
    for (char c : head)
        if (!(isalnum((unsigned char)c) || c == '_' || c == '.')) return false;
    if (head.size() < 5) return false;
    std::string tail = head.substr(head.size() - 5);
    if (tail != "Error" && (head.size() < 9 || head.substr(head.size() - 9) != "Exception"))
        return false;
    *rest = strip(line.substr(colon + 2));
    return true;
}

std::string shim_trim(const std::string &raw) {
    std::vector<std::string> lines;
    std::istringstream in(raw);
    for (std::string l; std::getline(in, l);) {
        l = strip(l);
        if (!l.empty()) lines.push_back(l);
    }
    std::string msg;
    bool traceback = raw.find("Traceback of TorchScript") != std::string::npos ||
                     raw.find("The following operation failed") != std::string::npos;
    if (traceback) {
        // The interpreter prints the TorchScript (and original Python) stack, then the
        // original exception as "SomeError: text" — the last such line is the point.
        for (size_t i = lines.size(); i-- > 0;) {
            std::string rest;
            if (strip_error_class(lines[i], &rest)) {
                msg = rest;
                break;
            }
        }
    }
    if (msg.empty() && !lines.empty()) {
        msg = lines[0];
        std::string rest;
        if (strip_error_class(msg, &rest)) msg = rest;
    }
    // c10 asserts: "cond INTERNAL ASSERT FAILED at "file":N, please report a bug to
    // PyTorch. <the point>" — the point is what follows the boilerplate.
    const char *bug = "please report a bug to PyTorch.";
    size_t at = msg.find(bug);
    if (at != std::string::npos) {
        std::string rest = strip(msg.substr(at + strlen(bug)));
        if (!rest.empty()) msg = rest;
    }
    // caffe2 enforce: "[enforce fail at inline_container.cc:165] . <the point>".
    if (msg.rfind("[enforce fail at", 0) == 0) {
        size_t close = msg.find(']');
        if (close != std::string::npos) {
            std::string rest = msg.substr(close + 1);
            size_t a = rest.find_first_not_of(" .");
            msg = a == std::string::npos ? "" : rest.substr(a);
        }
    }
    if (msg.empty()) msg = "unknown libtorch error";
    if (msg.size() > SHIM_MSG_MAX) msg = msg.substr(0, SHIM_MSG_MAX - 3) + "...";
    return msg;
}

void shim_put_error(char *errbuf, size_t errlen, const std::string &msg) {
    if (!errbuf || errlen == 0) return;
    size_t n = msg.size();
    if (n > SHIM_MSG_MAX) n = SHIM_MSG_MAX;
    if (n > errlen - 1) n = errlen - 1;
    memcpy(errbuf, msg.data(), n);
    errbuf[n] = '\0';
}

void shim_report_current(char *errbuf, size_t errlen, const char *context) {
    std::string text = shim_trim(shim_current_exception_text());
    shim_put_error(errbuf, errlen, context && *context ? std::string(context) + ": " + text : text);
}

extern "C" void shim_trim_error(const char *raw, char *out, size_t outlen) {
    try {
        shim_put_error(out, outlen, shim_trim(raw ? raw : ""));
    } catch (...) {
        shim_put_error(out, outlen, "unknown libtorch error");
    }
}
