#include "processors/expr.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace edgeflow {

class ExprParser {
 public:
  ExprParser(const std::string& text, const std::vector<std::string>& fields) : s_(text), fields_(fields) {}

  Status Parse(Expr* out) {
    if (s_.size() > kMaxLength)
      return Status::Invalid("expression of " + std::to_string(s_.size()) + " characters: at most " +
                             std::to_string(kMaxLength));
    out->nodes_.push_back({});  // placeholder for the root
    int root = ParseOr(out);
    if (!err_.empty()) return Status::Invalid(err_);
    Skip();
    if (pos_ < s_.size()) return Status::Invalid(At("unexpected '" + std::string(1, s_[pos_]) + "'"));
    out->nodes_[0] = out->nodes_[static_cast<size_t>(root)];
    out->text_ = s_;
    out->first_field_ = first_field_;
    return Status::Ok();
  }

 private:
  // Parsing and evaluation recurse: bounded input keeps both within the stack
  // of any thread (a chain of 4096 characters is at most ~700 levels deep).
  static constexpr size_t kMaxLength = 4096;
  static constexpr int kMaxDepth = 100;
  struct Nest {
    explicit Nest(ExprParser* p) : p_(p) {
      if (++p_->depth_ > kMaxDepth) p_->Fail("nested more than " + std::to_string(kMaxDepth) + " levels deep");
    }
    ~Nest() { --p_->depth_; }
    ExprParser* p_;
  };

  std::string At(const std::string& msg) const {
    return "expression '" + s_ + "': " + msg + " at column " + std::to_string(pos_ + 1);
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Eat(const char* tok) {
    Skip();
    size_t n = std::char_traits<char>::length(tok);
    if (s_.compare(pos_, n, tok) != 0) return false;
    // Word operators must not run into an identifier ("android").
    if (std::isalpha(static_cast<unsigned char>(tok[0])) && pos_ + n < s_.size() &&
        (std::isalnum(static_cast<unsigned char>(s_[pos_ + n])) || s_[pos_ + n] == '_'))
      return false;
    pos_ += n;
    return true;
  }
  int Add(Expr* e, Expr::Node n) {
    e->nodes_.push_back(n);
    return static_cast<int>(e->nodes_.size() - 1);
  }
  int Bin(Expr* e, Expr::Op op, int a, int b) { return Add(e, {op, a, b, 0, -1}); }

  int ParseOr(Expr* e) {
    Nest nest(this);
    if (!err_.empty()) return 0;
    int l = ParseAnd(e);
    while (err_.empty() && (Eat("||") || Eat("or"))) l = Bin(e, Expr::Op::kOr, l, ParseAnd(e));
    return l;
  }
  int ParseAnd(Expr* e) {
    int l = ParseNot(e);
    while (err_.empty() && (Eat("&&") || Eat("and"))) l = Bin(e, Expr::Op::kAnd, l, ParseNot(e));
    return l;
  }
  int ParseNot(Expr* e) {
    Skip();
    if (s_.compare(pos_, 2, "!=") != 0 && (Eat("!") || Eat("not"))) {
      Nest nest(this);
      if (!err_.empty()) return 0;
      return Add(e, {Expr::Op::kNot, ParseNot(e), -1, 0, -1});
    }
    return ParseCmp(e);
  }
  int ParseCmp(Expr* e) {
    int l = ParseSum(e);
    struct { const char* tok; Expr::Op op; } ops[] = {{"<=", Expr::Op::kLe}, {">=", Expr::Op::kGe}, {"==", Expr::Op::kEq},
                                                      {"!=", Expr::Op::kNe}, {"<", Expr::Op::kLt},  {">", Expr::Op::kGt}};
    for (auto& o : ops)
      if (err_.empty() && Eat(o.tok)) return Bin(e, o.op, l, ParseSum(e));
    return l;
  }
  int ParseSum(Expr* e) {
    int l = ParseTerm(e);
    for (;;) {
      if (!err_.empty()) return l;
      if (Eat("+")) l = Bin(e, Expr::Op::kAdd, l, ParseTerm(e));
      else if (Eat("-")) l = Bin(e, Expr::Op::kSub, l, ParseTerm(e));
      else return l;
    }
  }
  int ParseTerm(Expr* e) {
    int l = ParseUnary(e);
    for (;;) {
      if (!err_.empty()) return l;
      if (Eat("*")) l = Bin(e, Expr::Op::kMul, l, ParseUnary(e));
      else if (Eat("/")) l = Bin(e, Expr::Op::kDiv, l, ParseUnary(e));
      else return l;
    }
  }
  int ParseUnary(Expr* e) {
    if (Eat("-") || Eat("+")) {
      const bool neg = s_[pos_ - 1] == '-';
      Nest nest(this);
      if (!err_.empty()) return 0;
      const int a = ParseUnary(e);
      return neg ? Add(e, {Expr::Op::kNeg, a, -1, 0, -1}) : a;
    }
    return ParsePrimary(e);
  }
  int ParsePrimary(Expr* e) {
    Skip();
    if (pos_ >= s_.size()) return Fail("unexpected end");
    if (Eat("(")) {
      int inner = ParseOr(e);
      if (!Eat(")")) return Fail("missing ')'");
      return inner;
    }
    char c = s_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      char* end = nullptr;
      double v = std::strtod(s_.c_str() + pos_, &end);
      pos_ = static_cast<size_t>(end - s_.c_str());
      return Add(e, {Expr::Op::kConst, -1, -1, v, -1});
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
      std::string name = s_.substr(start, pos_ - start);
      size_t after = pos_;
      while (after < s_.size() && std::isspace(static_cast<unsigned char>(s_[after]))) ++after;
      const bool call = after < s_.size() && s_[after] == '(';
      // `min`/`max` are functions when called and aggregate fields otherwise.
      if (call && (name == "abs" || name == "min" || name == "max")) {
        if (!Eat("(")) return Fail("expected '(' after " + name);
        int a = ParseOr(e);
        int b = -1;
        if (name != "abs") {
          if (!Eat(",")) return Fail("expected ',' in " + name + "()");
          b = ParseOr(e);
        }
        if (!Eat(")")) return Fail("missing ')' after arguments of " + name);
        Expr::Op op = name == "abs" ? Expr::Op::kAbs : name == "min" ? Expr::Op::kMin : Expr::Op::kMax;
        return Add(e, {op, a, b, 0, -1});
      }
      if (name == "true") return Add(e, {Expr::Op::kConst, -1, -1, 1, -1});
      if (name == "false") return Add(e, {Expr::Op::kConst, -1, -1, 0, -1});
      for (size_t i = 0; i < fields_.size(); ++i) {
        if (fields_[i] == name) {
          if (first_field_ < 0) first_field_ = static_cast<int>(i);
          return Add(e, {Expr::Op::kVar, -1, -1, 0, static_cast<int>(i)});
        }
      }
      std::string avail;
      for (const auto& f : fields_) avail += (avail.empty() ? "" : ", ") + f;
      pos_ = start;
      return Fail("unknown field '" + name + "' (available: " + avail + ")");
    }
    return Fail("unexpected '" + std::string(1, c) + "'");
  }
  int Fail(const std::string& msg) {
    if (err_.empty()) err_ = At(msg);
    return 0;
  }

  const std::string& s_;
  const std::vector<std::string>& fields_;
  size_t pos_ = 0;
  std::string err_;
  int first_field_ = -1;
  int depth_ = 0;
};

Result<Expr> Expr::Compile(const std::string& text, const std::vector<std::string>& fields) {
  Expr e;
  ExprParser p(text, fields);
  Status st = p.Parse(&e);
  if (!st.ok()) return st;
  return e;
}

double Expr::EvalNode(int i, const double* v) const {
  const Node& n = nodes_[static_cast<size_t>(i)];
  switch (n.op) {
    case Op::kConst: return n.value;
    case Op::kVar: return v[n.var];
    case Op::kNeg: return -EvalNode(n.a, v);
    case Op::kNot: return EvalNode(n.a, v) == 0.0 ? 1.0 : 0.0;
    case Op::kAdd: return EvalNode(n.a, v) + EvalNode(n.b, v);
    case Op::kSub: return EvalNode(n.a, v) - EvalNode(n.b, v);
    case Op::kMul: return EvalNode(n.a, v) * EvalNode(n.b, v);
    case Op::kDiv: return EvalNode(n.a, v) / EvalNode(n.b, v);
    case Op::kLt: return EvalNode(n.a, v) < EvalNode(n.b, v);
    case Op::kLe: return EvalNode(n.a, v) <= EvalNode(n.b, v);
    case Op::kGt: return EvalNode(n.a, v) > EvalNode(n.b, v);
    case Op::kGe: return EvalNode(n.a, v) >= EvalNode(n.b, v);
    case Op::kEq: return EvalNode(n.a, v) == EvalNode(n.b, v);
    case Op::kNe: return EvalNode(n.a, v) != EvalNode(n.b, v);
    case Op::kAnd: return (EvalNode(n.a, v) != 0.0 && EvalNode(n.b, v) != 0.0) ? 1.0 : 0.0;
    case Op::kOr: return (EvalNode(n.a, v) != 0.0 || EvalNode(n.b, v) != 0.0) ? 1.0 : 0.0;
    case Op::kAbs: return std::fabs(EvalNode(n.a, v));
    case Op::kMin: return std::min(EvalNode(n.a, v), EvalNode(n.b, v));
    case Op::kMax: return std::max(EvalNode(n.a, v), EvalNode(n.b, v));
  }
  return 0;
}

uint64_t Expr::fields_used() const {
  uint64_t m = 0;
  for (const auto& n : nodes_)
    if (n.op == Op::kVar && n.var >= 0 && n.var < 64) m |= uint64_t{1} << n.var;
  return m;
}

}  // namespace edgeflow
