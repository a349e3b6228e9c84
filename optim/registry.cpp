// make_optimizer: one row per optimizer, each reading its keyword arguments
// into the optimizer's options struct. Adding an optimizer = adding a row.
#include "descent/optim/registry.h"

#include <array>
#include <functional>
#include <optional>
#include <set>

#include "descent/optim/adadelta.h"
#include "descent/optim/adafactor.h"
#include "descent/optim/adagrad.h"
#include "descent/optim/adam.h"
#include "descent/optim/adamax.h"
#include "descent/optim/asgd.h"
#include "descent/optim/lbfgs.h"
#include "descent/optim/muon.h"
#include "descent/optim/nadam.h"
#include "descent/optim/radam.h"
#include "descent/optim/rmsprop.h"
#include "descent/optim/rprop.h"
#include "descent/optim/sgd.h"
#include "descent/optim/sparse_adam.h"
#include "optim/kwargs.h"

namespace descent::optim {

namespace {

using detail::Kwargs;
using Builder = std::function<std::unique_ptr<Optimizer>(Params, Kwargs&)>;

// An optimizer whose options struct declares its fields.
template <class Opt, class Options>
std::unique_ptr<Optimizer> build(Params params, Kwargs& kw) {
  return std::make_unique<Opt>(std::move(params), detail::bind_options<Options>(kw));
}

struct Row {
  const char* name;
  Builder build;
};

const std::vector<Row>& rows() {
  static const std::vector<Row> table{
      {"SGD", build<SGD, SGDOptions>},
      {"Adam", build<Adam, AdamOptions>},
      {"AdamW", build<AdamW, AdamWOptions>},
      {"Adadelta", build<Adadelta, AdadeltaOptions>},
      {"Adagrad", build<Adagrad, AdagradOptions>},
      {"Adamax", build<Adamax, AdamaxOptions>},
      {"ASGD", build<ASGD, ASGDOptions>},
      {"LBFGS", build<LBFGS, LBFGSOptions>},
      {"NAdam", build<NAdam, NAdamOptions>},
      {"RAdam", build<RAdam, RAdamOptions>},
      {"RMSprop", build<RMSprop, RMSpropOptions>},
      {"Rprop", build<Rprop, RpropOptions>},
      {"Adafactor", build<Adafactor, AdafactorOptions>},
      {"Muon", build<Muon, MuonOptions>},
      {"SparseAdam", build<SparseAdam, SparseAdamOptions>},
  };
  return table;
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, Params params, const Dict& kwargs) {
  for (const Row& row : rows())
    if (name == row.name) {
      Kwargs kw(name, kwargs);
      return row.build(std::move(params), kw);
    }
  std::string known;
  for (const Row& row : rows()) known += (known.empty() ? "" : ", ") + std::string(row.name);
  raise<ValueError>("make_optimizer: unknown optimizer '", name, "' (known: ", known, ")");
}

std::vector<std::string> optimizer_names() {
  std::vector<std::string> names;
  for (const Row& row : rows()) names.emplace_back(row.name);
  return names;
}

}  // namespace descent::optim
