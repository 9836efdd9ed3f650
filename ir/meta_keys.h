// Keys of ProgramMeta::extra that more than one file writes or reads. Facts the passes rely on
// are typed fields instead (ProgramMeta::training); these are records of where the program came
// from. (The strategy record's key is private to passes/strategy.cc, which reads it back.)
#pragma once

namespace fleet {

// Set by the ONNX importer (ir/onnx/importer.cc).
inline constexpr char kMetaOnnxOpset[] = "onnx.opset";        // the model's opset as imported
inline constexpr char kMetaOnnxProducer[] = "onnx.producer";  // "<producer name> <version>"
// The graph name; the exporters (ir/onnx/exporter.cc, executor/training/export.cc) keep it.
inline constexpr char kMetaOnnxGraph[] = "onnx.graph";

}  // namespace fleet
