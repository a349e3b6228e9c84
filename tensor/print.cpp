// PyTorch's tensor repr: the same formatter choices (integer, fixed with 4
// decimals, or scientific), column widths, line wrapping at 80 characters,
// summarisation beyond 1000 elements, and the dtype/device/grad suffixes.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "descent/autograd/node_name.h"
#include "tensor/native.h"

namespace descent {

namespace {
constexpr int kPrecision = 4;
constexpr int kLineWidth = 80;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

std::string printf_double(const char* fmt, int width, double v) {
  char buf[128];
  if (width >= 0) {
    std::snprintf(buf, sizeof buf, fmt, width, v);
  } else {
    std::snprintf(buf, sizeof buf, fmt, v);
  }
  return buf;
}

// One _Formatter: decides the mode and width from the values it will print.
class Formatter {
 public:
  Formatter(const std::vector<double>& values, bool floating, bool is_bool = false)
      : is_bool_(is_bool), floating_(floating) {
    if (!floating_) {
      for (double v : values) width_ = std::max<int>(width_, static_cast<int>(int_string(v).size()));
      return;
    }
    std::vector<double> finite;
    for (double v : values)
      if (std::isfinite(v) && v != 0) finite.push_back(v);
    if (finite.empty()) return;
    double lo = std::abs(finite[0]), hi = lo;
    for (double v : finite) {
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    if (int_mode_) {
      sci_ = hi / lo > 1000.0 || hi > 1.0e8;
      for (double v : finite)
        width_ = std::max<int>(width_, static_cast<int>(sci_ ? sci_string(v, -1).size() : printf_double("%.0f", -1, v).size() + 1));
    } else {
      sci_ = hi / lo > 1000.0 || hi > 1.0e8 || lo < 1.0e-4;
      for (double v : finite)
        width_ = std::max<int>(width_, static_cast<int>(sci_ ? sci_string(v, -1).size() : printf_double("%.*f", kPrecision, v).size()));
    }
  }
  int width() const { return width_; }
  std::string format(double v) const {
    std::string s;
    if (!floating_) {
      s = int_string(v);
    } else if (sci_) {
      s = sci_string(v, width_);
    } else if (int_mode_) {
      s = nonfinite(v) ? printf_double("%.0f", -1, v) : printf_double("%.0f", -1, v) + ".";
    } else {
      s = nonfinite(v) ? printf_double("%.0f", -1, v) : printf_double("%.*f", kPrecision, v);
    }
    if (static_cast<int>(s.size()) < width_) s.insert(0, static_cast<std::size_t>(width_) - s.size(), ' ');
    return s;
  }

 private:
  static bool nonfinite(double v) { return !std::isfinite(v); }
  std::string int_string(double v) const {
    if (is_bool_) return v != 0 ? "True" : "False";
    return std::to_string(static_cast<long long>(v));
  }
  static std::string sci_string(double v, int width) {
    if (nonfinite(v)) return printf_double("%.0f", -1, v);
    return width < 0 ? printf_double("%.*e", kPrecision, v) : printf_double("%*.4e", width, v);
  }
  bool is_bool_;
  bool floating_;
  bool int_mode_ = true;
  bool sci_ = false;
  int width_ = 1;
};

struct Printer {
  Shape shape;
  std::vector<double> re, im;
  bool complex = false;
  bool summarize = false;
  Formatter* f1 = nullptr;
  Formatter* f2 = nullptr;

  std::string scalar(int64_t i) const {
    if (!complex) return f1->format(re[i]);
    // PyTorch pads the real part to the column width and strips the imaginary one.
    std::string r = f1->format(re[i]);
    std::string m = f2->format(im[i]) + "j";
    m.erase(0, m.find_first_not_of(' '));
    return (m[0] == '+' || m[0] == '-') ? r + m : r + "+" + m;
  }

  // Indices of dimension d to print: all, or the edges when summarising.
  std::vector<int64_t> picks(int64_t size) const {
    std::vector<int64_t> out;
    if (summarize && size > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) out.push_back(i);
      out.push_back(-1);
      for (int64_t i = size - kEdgeItems; i < size; ++i) out.push_back(i);
    } else {
      for (int64_t i = 0; i < size; ++i) out.push_back(i);
    }
    return out;
  }

  std::string str(std::size_t d, int64_t offset, int indent) const {
    if (shape.empty()) return scalar(0);
    int64_t inner = numel_of(Shape(shape.begin() + static_cast<int64_t>(d) + 1, shape.end()));
    if (d + 1 == shape.size()) {
      int element = f1->width() + 2 + (complex ? f2->width() + 1 : 0);
      int per_line = std::max(1, (kLineWidth - indent) / element);
      std::vector<std::string> items;
      for (int64_t i : picks(shape[d])) items.push_back(i < 0 ? std::string(" ...") : scalar(offset + i));
      std::string out = "[";
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += (i % static_cast<std::size_t>(per_line) == 0) ? ",\n" + std::string(static_cast<std::size_t>(indent) + 1, ' ') : ", ";
        out += items[i];
      }
      return out + "]";
    }
    std::vector<std::string> slices;
    for (int64_t i : picks(shape[d]))
      slices.push_back(i < 0 ? std::string("...") : str(d + 1, offset + i * inner, indent + 1));
    std::string sep = "," + std::string(shape.size() - d - 1, '\n') + std::string(static_cast<std::size_t>(indent) + 1, ' ');
    std::string out = "[";
    for (std::size_t i = 0; i < slices.size(); ++i) out += (i ? sep : "") + slices[i];
    return out + "]";
  }
};

// Values that the formatter sees: only the printed ones when summarising.
std::vector<double> summarized(const std::vector<double>& all, const Shape& shape, bool summarize) {
  if (!summarize) return all;
  std::vector<double> out;
  std::vector<int64_t> idx(shape.size(), 0);
  Shape strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) strides[d] = strides[d + 1] * shape[d + 1];
  auto keep = [&](int64_t i, int64_t size) { return size <= 2 * kEdgeItems || i < kEdgeItems || i >= size - kEdgeItems; };
  for (std::size_t lin = 0; lin < all.size(); ++lin) {
    bool k = true;
    int64_t rem = static_cast<int64_t>(lin);
    for (std::size_t d = 0; d < shape.size(); ++d) {
      int64_t i = rem / strides[d];
      rem %= strides[d];
      k = k && keep(i, shape[d]);
    }
    if (k) out.push_back(all[lin]);
  }
  return out;
}

std::string tensor_body(const Tensor& t, int indent) {
  if (t.numel() == 0) return "[]";
  Tensor host = t.cpu();
  Printer p;
  p.shape = host.sizes();
  p.summarize = host.numel() > kThreshold;
  p.complex = host.is_complex();
  if (p.complex) {
    for (auto z : host.to_vector<std::complex<double>>()) {
      p.re.push_back(z.real());
      p.im.push_back(z.imag());
    }
  } else {
    p.re = host.to_vector<double>();
  }
  bool floating = is_floating_point(host.dtype()) || p.complex;
  Formatter f1(summarized(p.re, p.shape, p.summarize), floating, host.dtype() == kBool);
  Formatter f2(summarized(p.im, p.shape, p.summarize), floating);
  p.f1 = &f1;
  p.f2 = &f2;
  return p.str(0, 0, indent);
}

std::string tuple_string(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::string add_suffixes(const std::string& body, const std::vector<std::string>& suffixes, int indent, bool force_newline) {
  std::string out = body;
  auto nl = body.rfind('\n');
  // Python: len(s) - s.rfind("\n") + 1, where rfind gives -1 when absent.
  int64_t last = static_cast<int64_t>(body.size()) - (nl == std::string::npos ? -1 : static_cast<int64_t>(nl)) + 1;
  for (const std::string& s : suffixes) {
    auto len = static_cast<int64_t>(s.size());
    if (force_newline || last + len + 2 > kLineWidth) {
      out += ",\n" + std::string(static_cast<std::size_t>(indent), ' ') + s;
      last = indent + len;
      force_newline = false;
    } else {
      out += ", " + s;
      last += len + 2;
    }
  }
  return out + ")";
}
}  // namespace

std::string Tensor::repr() const {
  if (!defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  int indent = static_cast<int>(prefix.size());
  std::vector<std::string> suffixes;
  if (!device().is_cpu()) suffixes.push_back("device='" + device().str() + "'");
  Dtype d = dtype();
  Dtype def = get_default_dtype();
  bool default_dtype = d == def || d == to_complex_dtype(def) || d == kInt64 || d == kBool;
  std::string body;
  if (is_sparse()) {
    suffixes.push_back("size=" + tuple_string(sizes()));
    suffixes.push_back("nnz=" + std::to_string(_nnz()));
    if (!default_dtype) suffixes.push_back("dtype=" + to_string(d));
    std::string ip = "indices=tensor(", vp = "values=tensor(";
    std::string is = tensor_body(_indices(), indent + static_cast<int>(ip.size()));
    if (_indices().numel() == 0) is += ", size=" + tuple_string(_indices().sizes());
    std::string vs = tensor_body(_values(), indent + static_cast<int>(vp.size()));
    if (_values().numel() == 0) vs += ", size=" + tuple_string(_values().sizes());
    body = ip + is + "),\n" + std::string(static_cast<std::size_t>(indent), ' ') + vp + vs + ")";
  } else if (numel() == 0) {
    if (dim() != 1) suffixes.push_back("size=" + tuple_string(sizes()));
    if (d != def) suffixes.push_back("dtype=" + to_string(d));
    body = "[]";
  } else {
    if (!default_dtype) suffixes.push_back("dtype=" + to_string(d));
    body = tensor_body(*this, indent);
  }
  if (is_sparse()) suffixes.push_back("layout=torch.sparse_coo");
  if (auto fn = grad_fn()) {
    suffixes.push_back("grad_fn=<" + autograd::node_name(*fn) + ">");
  } else if (requires_grad()) {
    suffixes.push_back("requires_grad=True");
  }
  return add_suffixes(prefix + body, suffixes, indent, is_sparse());
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << t.repr(); }
std::ostream& operator<<(std::ostream& out, Dtype dtype) { return out << to_string(dtype); }
std::ostream& operator<<(std::ostream& out, const Device& device) { return out << device.str(); }

}  // namespace descent
