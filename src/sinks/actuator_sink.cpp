#include "sinks/actuator_sink.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<ActuatorActionConfig>& ActuatorActionSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ActuatorActionConfig>("action", "");
    s->String("rule", &ActuatorActionConfig::rule, "", "The rule whose alerts trigger the write.", true)
        .String("state", &ActuatorActionConfig::state, "open", "open or clear: which alert event triggers it.")
        .String("output", &ActuatorActionConfig::output, "", "The output to write.", true)
        .Number<double>("value", &ActuatorActionConfig::value, 0, "", "The value to write.")
        .Number<double>("pulse_secs", &ActuatorActionConfig::pulse_secs, 0, "s",
                        "Timed pulse: put the output back to its previous value after this long; 0: it stays.", 0,
                        86400)
        .StringList("unless_open", &ActuatorActionConfig::unless_open,
                    "Refuse the write while any of these rules has an open alert (interlock).")
        .Check([](const ActuatorActionConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.state != "open" && c.state != "clear") d.Error(n["state"], "state must be open or clear");
        });
    return s;
  }();
  return *s;
}

namespace {

const Schema<SequenceStepConfig>& SequenceStepSchema() {
  static const auto* s = [] {
    using S = SequenceStepConfig;
    auto* s = new Schema<S>("step", "");
    s->String("output", &S::output, "", "Write this output (with value, pulse_secs, unless_open).")
        .Number<double>("value", &S::value, 0, "", "The value to write.")
        .Number<double>("pulse_secs", &S::pulse_secs, 0, "s",
                        "Timed pulse: put the output back to its previous value after this long; 0: it stays.", 0,
                        86400)
        .StringList("unless_open", &S::unless_open,
                    "Refuse the write (and abort the sequence) while any of these rules has an open alert.")
        .Number<double>("wait_secs", &S::wait_secs, 0, "s", "Wait this long.", 0, 86400)
        .StringList("wait_clear", &S::wait_clear, "Wait until none of these rules has an open alert.")
        .StringList("wait_open", &S::wait_open, "Wait until each of these rules has an open alert.")
        .Number<double>("timeout_secs", &S::timeout_secs, 0, "s",
                        "Abort the sequence when a wait_clear/wait_open step lasts longer; 0: no limit.", 0, 604800)
        .Check([](const S& c, const YAML::Node& n, Diagnostics& d) {
          const bool write = !c.output.empty(), wait = c.wait_secs > 0,
                     until = !c.wait_clear.empty() || !c.wait_open.empty();
          if (int(write) + int(wait) + int(until) != 1) {
            d.Error(n, "a step has exactly one of output, wait_secs, wait_clear/wait_open");
            return;
          }
          for (const char* k : {"value", "pulse_secs", "unless_open"})
            if (!write && n[k]) d.Error(n[k], std::string(k) + " belongs to a step with output");
          if (!until && n["timeout_secs"]) d.Error(n["timeout_secs"], "timeout_secs belongs to a wait_clear/wait_open step");
        });
    return s;
  }();
  return *s;
}

}  // namespace

const Schema<SequenceConfig>& SequenceSchema() {
  static const auto* s = [] {
    auto* s = new Schema<SequenceConfig>("sequence", "");
    s->String("id", &SequenceConfig::id, "", "Name, used in the audit and the logs.", true)
        .String("rule", &SequenceConfig::rule, "", "The rule whose alert event starts the sequence.", true)
        .String("state", &SequenceConfig::state, "open", "open or clear: which alert event starts it.")
        .ObjectList("steps", &SequenceConfig::steps, SequenceStepSchema(), "Run in order.", true)
        .Enum<bool>("on_abort", &SequenceConfig::abort_to_safe, true, {{"safe", true}, {"hold", false}},
                    "safe: a write not carried out or a timeout puts every output of the sink in its safe state; "
                    "hold: outputs stay as they are.")
        .Check([](const SequenceConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.state != "open" && c.state != "clear") d.Error(n["state"], "state must be open or clear");
          if (c.steps.empty()) d.Error(n["steps"], "a sequence needs at least one step");
        });
    return s;
  }();
  return *s;
}

// ---- the logic ---------------------------------------------------------------

Result<std::unique_ptr<Sink>> ActuatorSink::Create(const std::string& kind, std::vector<ActuatorOutputConfig> outputs,
                                                   ActuatorSettings settings, std::unique_ptr<OutputBackend> backend,
                                                   const BuildContext& ctx) {
  std::unique_ptr<ActuatorSink> s(new ActuatorSink());
  s->id_ = ctx.component_id;
  s->name_ = kind + " sink '" + s->id_ + "'";
  s->settings_ = std::move(settings);
  s->clock_ = ctx.clock;
  s->backend_ = std::move(backend);
  for (size_t i = 0; i < outputs.size(); ++i) {
    Output o;
    o.cfg = outputs[i];
    o.index = i;
    o.value = o.cfg.safe_value;
    s->outputs_[outputs[i].name] = o;
  }
  const std::string audit = s->settings_.audit_path.empty()
                                ? (std::filesystem::path(ctx.data_dir) / "edgeflow.db").string()
                                : s->settings_.audit_path;
  auto store = Store::Open(audit);
  if (!store.ok()) return store.status();
  s->audit_ = std::move(store).value();
  const TimeUs now = ctx.clock->now();
  s->last_input_ = now;
  if (s->settings_.safe_on_start) s->SafeState("safe state: start", now);
  return std::unique_ptr<Sink>(std::move(s));
}

bool ActuatorSink::Apply(Output& out, double value, const std::string& cause,
                         const std::vector<std::string>& unless_open, TimeUs now, double pulse_secs,
                         bool end_of_pulse) {
  WriteRow row{now, id_, out.cfg.name, cause, value, "", ""};
  auto refuse = [&](const std::string& why) {
    row.result = "refused";
    row.detail = why;
    spdlog::warn("{}: {} -> {} = {} refused: {}", name_, cause, out.cfg.name, value, why);
  };
  // Going to the safe value, or back from a pulse, is never held back by an interlock.
  const bool to_safe = value == out.cfg.safe_value || end_of_pulse;
  std::string blocking;
  for (const auto& r : unless_open)
    if (open_.count(r)) blocking = r;
  bool written = false;
  if (value < out.cfg.min || value > out.cfg.max) {
    refuse("value outside [" + config::FormatNumber(out.cfg.min) + ", " + config::FormatNumber(out.cfg.max) + "]");
  } else if (!to_safe && out.has_written && out.cfg.min_interval_secs > 0 &&
             now - out.last_write < SecondsToUs(out.cfg.min_interval_secs)) {
    refuse("less than min_interval_secs since the last write");
  } else if (!to_safe && !blocking.empty()) {
    refuse("interlock: rule '" + blocking + "' has an open alert");
  } else if (!backend_->Ready(now)) {
    row.result = "failed";
    row.detail = "device not reachable";
  } else if (Status st = backend_->Write(out.index, value); !st.ok()) {
    row.result = "failed";
    row.detail = st.message();
  } else {
    written = true;
    // A pulse returns to the value from before it (a pulse within a pulse too);
    // any other write ends a running pulse.
    const double before = out.pulse_end ? out.pulse_revert : out.value;
    out.pulse_end = 0;
    if (pulse_secs > 0) {
      out.pulse_end = now + SecondsToUs(pulse_secs);
      out.pulse_revert = before;
      out.pulse_cause = cause;
      pulses_.fetch_add(1, std::memory_order_relaxed);
    }
    out.value = value;
    out.last_write = now;
    out.has_written = true;
    row.result = "written";
    if (out.cfg.verify) {
      auto back = backend_->Read(out.index);
      const double want = backend_->Stored(out.index, value);
      if (back.ok() && *back == want) {
        row.result = "verified";
      } else {
        row.result = "failed";
        row.detail = back.ok() ? "read back " + config::FormatNumber(*back) : "read-back failed: " + back.status().message();
      }
    }
  }
  if (row.result == "failed") spdlog::error("{}: {} -> {} = {} failed: {}", name_, cause, out.cfg.name, value, row.detail);
  Status st = audit_->Audit(row);
  if (!st.ok()) spdlog::error("{}: audit not written: {}", name_, st.ToString());
  return written && row.result != "failed";
}

void ActuatorSink::SafeState(const std::string& why, TimeUs now) {
  for (auto& r : running_) {
    spdlog::warn("{}: sequence '{}' stopped at step {}: {}", name_, r.cfg->id, r.step + 1, why);
    seq_aborted_.fetch_add(1, std::memory_order_relaxed);
  }
  running_.clear();
  for (auto& [name, out] : outputs_) {
    out.pulse_end = 0;
    Apply(out, out.cfg.safe_value, why, {}, now);
  }
}

void ActuatorSink::Advance(TimeUs now) {
  for (auto& [name, out] : outputs_)
    if (out.pulse_end && now >= out.pulse_end) {
      const double back = out.pulse_revert;
      out.pulse_end = 0;
      Apply(out, back, "end of pulse: " + out.pulse_cause, {}, now, 0, true);
    }
  std::string safe_why;
  for (auto& r : running_) {
    const auto& steps = r.cfg->steps;
    while (r.step < steps.size()) {
      const auto& st = steps[r.step];
      if (!st.output.empty()) {
        const std::string cause = fmt::format("sequence {} step {}/{}", r.cfg->id, r.step + 1, steps.size());
        if (!Apply(outputs_.at(st.output), st.value, cause, st.unless_open, now, st.pulse_secs)) {
          Abort(r, "the write was not carried out", now, safe_why);
          break;
        }
      } else if (st.wait_secs > 0) {
        if (now - r.step_started < SecondsToUs(st.wait_secs)) break;
      } else {
        bool met = true;
        for (const auto& rule : st.wait_clear) met &= open_.count(rule) == 0;
        for (const auto& rule : st.wait_open) met &= open_.count(rule) > 0;
        if (!met) {
          if (st.timeout_secs > 0 && now - r.step_started >= SecondsToUs(st.timeout_secs))
            Abort(r, "timed out after " + config::FormatNumber(st.timeout_secs) + " s", now, safe_why);
          break;
        }
      }
      ++r.step;
      r.step_started = now;
    }
    if (r.step == steps.size()) {
      spdlog::info("{}: sequence '{}' completed", name_, r.cfg->id);
      seq_completed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::erase_if(running_, [](const Running& r) { return r.step >= r.cfg->steps.size(); });
  running_count_.store(static_cast<int64_t>(running_.size()), std::memory_order_relaxed);
  if (!safe_why.empty()) SafeState(safe_why, now);
}

void ActuatorSink::Abort(Running& r, const std::string& why, TimeUs, std::string& safe_why) {
  spdlog::error("{}: sequence '{}' aborted at step {}: {}", name_, r.cfg->id, r.step + 1, why);
  seq_aborted_.fetch_add(1, std::memory_order_relaxed);
  if (r.cfg->abort_to_safe)
    safe_why = "safe state: sequence " + r.cfg->id + " aborted at step " + std::to_string(r.step + 1) + ": " + why;
  r.step = SIZE_MAX;
}

Status ActuatorSink::Write(const Batch& b) {
  const TimeUs now = clock_->now();
  // Fresh input: a good reading or an alert (bad-quality readings from a
  // failing sensor device do not count: the control data is stale).
  bool fresh = !b.alerts.empty();
  for (const auto& r : b.readings) fresh |= r.quality == Quality::kGood;
  if (fresh) {
    last_input_ = now;
    safe_ = false;
  }
  for (const auto& a : b.alerts) {
    const std::string rule(SymName(a.rule));
    const bool opened = a.state == AlertState::kOpen;
    const char* state = opened ? "open" : "clear";
    // A one-off event (`emit: every`) triggers its actions but never clears:
    // it is not an open alert for interlocks and waits.
    if (opened && a.lasting) open_.insert(rule);
    else if (!opened) open_.erase(rule);
    for (const auto& act : settings_.actions) {
      if (act.rule != rule || act.state != state) continue;
      Apply(outputs_.at(act.output), act.value, "rule " + rule + " " + act.state, act.unless_open, now,
            act.pulse_secs);
    }
    for (const auto& q : settings_.sequences) {
      if (q.rule != rule || q.state != state) continue;
      const bool busy = std::any_of(running_.begin(), running_.end(), [&](const Running& r) { return r.cfg == &q; });
      if (busy) {
        spdlog::info("{}: sequence '{}' already running; rule {} {} ignored", name_, q.id, rule, state);
        seq_ignored_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      spdlog::info("{}: sequence '{}' started by rule {} {}", name_, q.id, rule, state);
      seq_started_.fetch_add(1, std::memory_order_relaxed);
      running_.push_back(Running{&q, 0, now});
    }
  }
  Advance(now);
  return Status::Ok();
}

Status ActuatorSink::Tick(TimeUs now) {
  backend_->Ready(now);
  if (settings_.stale_after_secs > 0 && !safe_ && now - last_input_ > SecondsToUs(settings_.stale_after_secs)) {
    safe_ = true;
    spdlog::warn("{}: no input for {} s: outputs to their safe values", name_, settings_.stale_after_secs);
    SafeState("safe state: inputs stale", now);
  }
  Advance(now);
  return Status::Ok();
}

// Pulses and sequence waits are timed to the tick: 10 ms when there are any,
// the engine's second otherwise.
TimeUs ActuatorSink::tick_interval_us() const {
  const bool timed = !settings_.sequences.empty() ||
                     std::any_of(settings_.actions.begin(), settings_.actions.end(),
                                 [](const ActuatorActionConfig& a) { return a.pulse_secs > 0; });
  return timed ? 10'000 : kUsPerSec;
}

void ActuatorSink::Metrics(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("sequences_started", static_cast<double>(seq_started_.load(std::memory_order_relaxed)));
  out.emplace_back("sequences_completed", static_cast<double>(seq_completed_.load(std::memory_order_relaxed)));
  out.emplace_back("sequences_aborted", static_cast<double>(seq_aborted_.load(std::memory_order_relaxed)));
  out.emplace_back("sequences_ignored", static_cast<double>(seq_ignored_.load(std::memory_order_relaxed)));
  out.emplace_back("sequences_running", static_cast<double>(running_count_.load(std::memory_order_relaxed)));
  out.emplace_back("pulses", static_cast<double>(pulses_.load(std::memory_order_relaxed)));
}

Status ActuatorSink::Flush() {
  SafeState("safe state: shutdown", clock_->now());
  return Status::Ok();
}

}  // namespace edgeflow
