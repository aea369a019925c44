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
        var probabilities = [Double](repeating: 0, count: logits.count)
        var order = [Int](repeating: 0, count: max(0, min(k, logits.count)))
        let n = probabilities.withUnsafeMutableBufferPointer { p in
            order.withUnsafeMutableBufferPointer { o in
                rank(logits: logits, scale: scale, zeroPoint: zeroPoint, probabilities: p, best: o)
            }
        }
        return order.prefix(n).map { i in
            ClassScore(index: i, label: i < labels.count ? labels[i] : "class \(i)", score: probabilities[i])
        }
    }

    /// `topK` without allocating, for a per-frame loop: writes every class's probability
    /// into `probabilities` (as many as logits) and the best `best.count` class indices,
    /// most probable first (ties: lower index first), into `best`. Returns how many it ranked.
    public static func rank(logits: UnsafeBufferPointer<Int8>, scale: Float, zeroPoint: Int32,
                            probabilities p: UnsafeMutableBufferPointer<Double>,
                            best order: UnsafeMutableBufferPointer<Int>) -> Int {
        let n = logits.count, k = min(order.count, n)
        precondition(p.count >= n, "rank: probabilities buffer is shorter than the logits")
        guard n > 0, k > 0 else { return 0 }
        let s = Double(scale)
        var peak = -Double.infinity
        for x in logits { peak = max(peak, s * Double(Int32(x) - zeroPoint)) }
        var sum = 0.0
        for i in 0..<n {
            p[i] = exp(s * Double(Int32(logits[i]) - zeroPoint) - peak)
            sum += p[i]
        }
        // Insertion into the k best so far; equal values keep the earlier (lower) index first.
        var count = 0
        for i in 0..<n {
            let v = p[i]
            if count == k && v <= p[order[k - 1]] { continue }
            var j = count < k ? count : k - 1
            if count < k { count += 1 }
            while j > 0 && p[order[j - 1]] < v {
                order[j] = order[j - 1]
                j -= 1
            }
            order[j] = i
        }
        for i in 0..<n { p[i] /= sum }
        return count
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
