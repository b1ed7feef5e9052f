#include "engine/registry.h"

#include "processors/features.h"
#include "processors/inference.h"
#include "processors/filters.h"
#include "processors/rules.h"
#include "processors/validate.h"
#include "processors/window.h"
#include "processors/swinging_door.h"
#include "edgeflow/features.h"
#include "sinks/mqtt_sink.h"
#if EDGEFLOW_WITH_GPIO
#include "sinks/gpio_sink.h"
#include "sources/gpio_source.h"
#endif
#if EDGEFLOW_WITH_MODBUS
#include "sinks/modbus_sink.h"
#include "sources/modbus_source.h"
#endif
#include "sinks/uplink_sink.h"
#include "sinks/sinks.h"
#include "sources/file_source.h"
#include "sources/ingest_source.h"
#include "sources/mqtt_source.h"
#include "sources/simulator.h"
#if EDGEFLOW_WITH_VISION
#include "vision/camera.h"
#endif

namespace edgeflow {

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kSource: return "source";
    case Kind::kProcessor: return "processor";
    case Kind::kSink: return "sink";
  }
  return "component";
}

std::string LeftOutOfBuild(Kind kind, const std::string& type) {
  if (kind == Kind::kProcessor) return type == "inference" && !EDGEFLOW_WITH_ML ? "EDGEFLOW_WITH_ML" : "";
  if (type == "modbus" && !EDGEFLOW_WITH_MODBUS) return "EDGEFLOW_WITH_MODBUS";
  if (type == "gpio" && !EDGEFLOW_WITH_GPIO) return "EDGEFLOW_WITH_GPIO";
  if (kind == Kind::kSource && type == "camera" && !EDGEFLOW_WITH_VISION) return "EDGEFLOW_WITH_VISION";
  return "";
}

namespace {

ComponentType WithReferences(ComponentType t, std::vector<ComponentReference> (*refs)(const std::any&)) {
  t.references = refs;
  return t;
}

}  // namespace

const std::vector<ComponentType>& ComponentTypes() {
  static const std::vector<ComponentType> types = {
#if EDGEFLOW_WITH_VISION
      MakeSourceType<vision::Camera>(
          "camera",
          "Frames from a V4L2 camera, an RTSP/HTTP stream, a video file or a generated scene, analysed on the node "
          "(motion, people, faces, ONNX detectors) in the vision module: counts and scores as readings, events with "
          "privacy-masked snapshots and clips kept locally, a live MJPEG preview through the API.",
          &vision::CameraSchema),
#endif
#if EDGEFLOW_WITH_GPIO
      MakeSourceType<GpioSource>("gpio",
                                 "Digital inputs through libgpiod: the initial level and every debounced edge as "
                                 "0/1 readings.",
                                 &GpioSourceSchema),
#endif
#if EDGEFLOW_WITH_MODBUS
      MakeSourceType<ModbusSource>("modbus",
                                   "Polls Modbus TCP or RTU devices (libmodbus): holding and input registers, coils "
                                   "and discrete inputs in groups with their own intervals; 16- to 64-bit integers and "
                                   "floats in any byte and word order; failed polls give bad-quality readings.",
                                   &ModbusSourceSchema),
#endif
      MakeSourceType<SimulatorSource>("simulator",
                                      "Deterministic simulated plant: temperature, humidity, vibration, power and motion "
                                      "sensors with daily cycles, noise, drift and injected faults.",
                                      &SimulatorSchema),
      MakeSourceType<FileSource>("file",
                                 "Replays a CSV (`timestamp,value` or `timestamp,sensor,metric,value[,quality]`, optional "
                                 "header) or JSONL recording in event time. Unparsable lines become dead letters.",
                                 &FileSourceSchema),
      MakeSourceType<MqttSource>("mqtt",
                                 "Subscribes to MQTT topics (libmosquitto; MQTT 3.1.1 or 5, QoS 0/1, TLS, "
                                 "reconnect with backoff) and decodes JSON objects, JSON arrays (batches) or bare numbers.",
                                 &MqttSourceSchema),
      MakeSourceType<IngestSource>("ingest", "Readings posted to the REST API (`POST /api/v1/ingest`) as a JSON batch.",
                                   &IngestSourceSchema),
      MakeProcessorType<ValidateProcessor>("validate",
                                           "Sends NaN/Inf, out-of-range, bad-quality and implausibly stamped readings to "
                                           "dead letters with a reason.",
                                           &ValidateSchema),
      MakeProcessorType<DeadbandProcessor>("deadband", "Report by exception: passes a reading only when it moved enough.",
                                           &DeadbandSchema),
      MakeProcessorType<SwingingDoorProcessor>(
          "swinging_door",
          "Error-bounded compression: drops readings while linear interpolation between the ones kept stays within "
          "epsilon of every reading.",
          &SwingingDoorSchema),
      MakeProcessorType<DownsampleProcessor>("downsample", "At most one reading per series per event-time interval.",
                                             &DownsampleSchema),
      MakeProcessorType<ScaleProcessor>("scale", "Linear scaling and unit conversion.", &ScaleSchema),
      MakeProcessorType<WindowProcessor>("window",
                                         "Event-time tumbling or sliding windows per series with allowed lateness; emits "
                                         "count, mean, min, max, stddev, p50, p95, rate and last.",
                                         &WindowSchema),
      WithReferences(MakeProcessorType<RulesProcessor>("rules",
                                                       "Alert rules with hysteresis, minimum duration, cooldown and "
                                                       "severity over readings or window aggregates; emits alert open "
                                                       "and clear events.",
                                                       &RulesSchema),
                     &RulesReferences),
      MakeProcessorType<FeaturesProcessor>(
          "features",
          "Signal features over windows of each series for condition monitoring: rms, peak, crest factor, "
          "kurtosis, skewness, mean, std; FFT band energies and dominant frequencies (kissfft).",
          &FeaturesSchema),
#if EDGEFLOW_WITH_ML
      MakeProcessorType<InferenceProcessor>(
          "inference",
          "Runs a deployed model (ONNX through OpenCV DNN, in a module loaded on demand) on windows of each series: "
          "scores as readings, alerts at the threshold, shadow comparison and automatic rollback.",
          &InferenceSchema),
#endif
      MakeProcessorType<AnomalyProcessor>("anomaly",
                                          "Streaming per-series anomaly detection (EWMA z-score, robust median/IQR or "
                                          "nearest-neighbour patterns) with alerts and scores in [0,1].",
                                          &AnomalySchema),
      MakeSinkType<SqliteSink>("sqlite",
                               "Local store in SQLite (WAL): readings, aggregates, alerts, dead letters; batched "
                               "inserts; retention by age and size.",
                               &SqliteSinkSchema),
      MakeSinkType<MqttSink>("mqtt",
                             "Publishes events (alerts by default) to MQTT topics built from a template; holds them in "
                             "its bounded queue while the broker is unreachable.",
                             &MqttSinkSchema),
      MakeSinkType<UplinkSink>("uplink",
                               "Store-and-forward to a cloud MQTT broker: a durable outbox on disk, QoS 1, removal "
                               "only after the broker's acknowledgement, per-stream sequence numbers, priorities, "
                               "byte and age limits, bandwidth cap.",
                               &UplinkSchema),
#if EDGEFLOW_WITH_MODBUS
      MakeSinkType<ModbusSink>("modbus",
                               "Local automation: alert events write coils and holding registers under interlocks "
                               "(range, minimum interval, blocking rules), as timed pulses and in sequences (writes, "
                               "waits, wait-until-clear with timeouts), verified by read-back, audited in the store; "
                               "safe values at start, at shutdown, when inputs go stale and when a sequence aborts.",
                               &ModbusSinkSchema),
#endif
#if EDGEFLOW_WITH_GPIO
      MakeSinkType<GpioSink>("gpio",
                             "Local automation on GPIO lines (libgpiod): alert events switch outputs under the same "
                             "interlocks, pulses, sequences, read-back, audit and safe states as the modbus sink.",
                             &GpioSinkSchema),
#endif
      MakeSinkType<FileSink>("file", "Writes events as JSON lines (or readings as CSV) to a file or standard output.",
                             &FileSinkSchema),
  };
  return types;
}

const ComponentType* FindComponentType(Kind kind, const std::string& name) {
  for (const auto& t : ComponentTypes())
    if (t.kind == kind && t.name == name) return &t;
  return nullptr;
}

}  // namespace edgeflow
