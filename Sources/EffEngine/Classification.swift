import Foundation

/// One class of a prediction.
public struct ClassScore: Sendable, Equatable {
    public var index: Int
    public var label: String
    public var score: Double
}

/// Logits → probabilities → the best K classes.
public enum Classification {
    /// Softmax of the dequantized int8 logits, then the K most probable classes, ties by
    /// lower class index. Softmax in Double: it is not part of the byte-exact model.
    public static func topK(logits: UnsafeBufferPointer<Int8>, scale: Float, zeroPoint: Int32, k: Int,
                            labels: [String]) -> [ClassScore] {
        guard !logits.isEmpty, k > 0 else { return [] }
        let real = logits.map { Double(scale) * Double(Int32($0) - zeroPoint) }
        let peak = real.max()!
        let exps = real.map { exp($0 - peak) }
        let sum = exps.reduce(0, +)
        let order = exps.indices.sorted { exps[$0] != exps[$1] ? exps[$0] > exps[$1] : $0 < $1 }
        return order.prefix(k).map { i in
            ClassScore(index: i, label: i < labels.count ? labels[i] : "class \(i)", score: exps[i] / sum)
        }
    }

    /// One label per line; blank trailing lines ignored.
    public static func loadLabels(path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }
}
