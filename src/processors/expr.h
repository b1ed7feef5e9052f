#pragma once
// Boolean/arithmetic expressions over named numeric fields, compiled once at
// config time and evaluated per event without allocation.
//
//   value > 80 and not (quality > 0)
//   mean > 60 && stddev < 2 || max - min > 15
//
// Operators: + - * /, < <= > >= == !=, and/&&, or/||, not/!, parentheses,
// abs(x), min(a,b), max(a,b). Comparisons and logic yield 1 or 0.
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace edgeflow {

class Expr {
 public:
  // `fields` are the identifiers allowed; an identifier's index in it is the
  // index into the array passed to Eval(). Errors name the offending column.
  static Result<Expr> Compile(const std::string& text, const std::vector<std::string>& fields);
  double Eval(const double* vars) const { return EvalNode(0, vars); }
  bool Test(const double* vars) const { return Eval(vars) != 0.0; }
  // Index of the first field referenced, or -1.
  int first_field() const { return first_field_; }
  // Bit i set when field i is referenced.
  uint64_t fields_used() const;
  const std::string& text() const { return text_; }

 private:
  enum class Op : uint8_t { kConst, kVar, kNeg, kNot, kAdd, kSub, kMul, kDiv, kLt, kLe, kGt, kGe, kEq, kNe, kAnd, kOr, kAbs, kMin, kMax };
  struct Node {
    Op op;
    int a = -1, b = -1;  // child node indices
    double value = 0;    // kConst
    int var = -1;        // kVar
  };
  double EvalNode(int i, const double* vars) const;
  friend class ExprParser;
  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::string text_;
  int first_field_ = -1;
};

}  // namespace edgeflow
