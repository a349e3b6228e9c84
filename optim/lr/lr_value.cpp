#include "descent/optim/lr/lr_value.h"

#include <cmath>

#include "descent/optim/optimizer.h"
#include "descent/tensor/ops.h"

namespace descent::optim::lr {

LrValue::LrValue(const Value& value) {
  if (value.is_tensor()) {
    tensor_ = value.to_tensor();
  } else {
    number_ = value.to_double();
  }
}

double LrValue::to_double() const { return is_tensor() ? Value(tensor_).to_double() : number_; }

Value LrValue::to_value() const { return is_tensor() ? Value(tensor_) : Value(number_); }

LrValue operator+(const LrValue& a, const LrValue& b) {
  if (a.is_tensor()) return b.is_tensor() ? a.tensor_ + b.tensor_ : a.tensor_ + b.number_;
  if (b.is_tensor()) return b.tensor_ + a.number_;
  return a.number_ + b.number_;
}

LrValue operator-(const LrValue& a, const LrValue& b) {
  if (a.is_tensor()) return b.is_tensor() ? a.tensor_ - b.tensor_ : a.tensor_ - b.number_;
  if (b.is_tensor()) return a.number_ - b.tensor_;
  return a.number_ - b.number_;
}

LrValue operator*(const LrValue& a, const LrValue& b) {
  if (a.is_tensor()) return b.is_tensor() ? a.tensor_ * b.tensor_ : a.tensor_ * b.number_;
  if (b.is_tensor()) return b.tensor_ * a.number_;
  return a.number_ * b.number_;
}

LrValue operator/(const LrValue& a, const LrValue& b) {
  if (a.is_tensor()) return b.is_tensor() ? a.tensor_ / b.tensor_ : a.tensor_ / b.number_;
  if (b.is_tensor()) return b.tensor_.reciprocal() * a.number_;
  return divide(a.number_, b.number_, "learning rate schedule");
}

double divide(double a, double b, const char* what) {
  if (b == 0.0) raise<ValueError>(what, ": float division by zero (", format_double(a), " / 0)");
  return a / b;
}

int64_t floor_div(int64_t a, int64_t b, const char* what) {
  if (b == 0) raise<ValueError>(what, ": integer division by zero (", a, " // 0)");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b, const char* what) { return a - floor_div(a, b, what) * b; }

PerGroup::PerGroup(std::initializer_list<double> list) : is_list(true) {
  for (double v : list) values.emplace_back(v);
}

std::vector<Value> format_param(const std::string& name, const Optimizer& optimizer, const PerGroup& param) {
  const std::size_t groups = optimizer.param_groups().size();
  std::vector<Value> out;
  if (param.is_list) {
    if (param.values.size() != groups)
      raise<ValueError>(name, " must have the same length as optimizer.param_groups. ", name, " has ",
                        param.values.size(), " values, param_groups has ", groups, ".");
    for (const Value& v : param.values) out.push_back(v.is_tensor() ? Value(v.to_tensor().clone()) : v);
  } else {
    for (std::size_t i = 0; i < groups; ++i) {
      const Value& v = param.values.front();
      out.push_back(v.is_tensor() ? Value(v.to_tensor().clone()) : v);
    }
  }
  return out;
}

std::vector<Value> param_groups_values(const Optimizer& optimizer, const std::string& key) {
  std::vector<Value> out;
  for (const ParamGroup& group : optimizer.param_groups()) {
    const Value& v = group.at(key);
    out.push_back(v.is_tensor() ? Value(v.to_tensor().clone()) : v);
  }
  return out;
}

void update_param_group_value(ParamGroup& group, const std::string& key, const Value& value) {
  Value& slot = group.options.at(key);
  if (slot.is_tensor()) {
    if (value.is_tensor()) {
      slot.to_tensor().fill_(value.to_tensor());
    } else {
      slot.to_tensor().fill_(Scalar(value.to_double()));
    }
  } else {
    slot = value;
  }
}

}  // namespace descent::optim::lr
