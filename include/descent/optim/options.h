#pragma once
// Options declared once. Each options struct lists its fields with their
// PyTorch keyword names (`fields()`); from that one list the library derives
// the optimizer's defaults dict, make_optimizer's keyword binding, the
// defaults restored when an older state dict lacks a key, and the docs table.
#include <tuple>

namespace descent::optim {

/// One named hyper-parameter of an options struct: the key in param groups and state dicts, and the member that holds it.
template <class Options, class Member>
struct OptionField {
  const char* name;
  Member Options::*member;
};

template <class Options, class Member>
constexpr OptionField<Options, Member> option(const char* name, Member Options::*member) {
  return {name, member};
}

}  // namespace descent::optim

#include "descent/optim/option_setters.h"
