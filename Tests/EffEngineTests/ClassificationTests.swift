import EffEngine
import XCTest

final class ClassificationTests: XCTestCase {
    /// The insertion ranking against a plain sort of the softmax: same order (ties by lower
    /// index), same probabilities, for small and full k, heavy ties and one-hot logits.
    func testRankMatchesASortedSoftmax() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            let n = [1, 2, 7, 1000][trial % 4]
            let spread = trial % 3 == 0 ? 4 : 256  // few distinct values → many ties
            let logits = (0..<n).map { _ in Int8(truncatingIfNeeded: Int.random(in: 0..<spread, using: &rng) - 128) }
            let scale = Float.random(in: 0.01...0.5, using: &rng), zp = Int32.random(in: -20...20, using: &rng)
            let real = logits.map { Double(scale) * Double(Int32($0) - zp) }
            let exps = real.map { exp($0 - real.max()!) }
            let sum = exps.reduce(0, +)
            let want = exps.indices.sorted { exps[$0] != exps[$1] ? exps[$0] > exps[$1] : $0 < $1 }
            for k in [1, 5, n, n + 3] {
                let got = logits.withUnsafeBufferPointer {
                    Classification.topK(logits: $0, scale: scale, zeroPoint: zp, k: k, labels: [])
                }
                XCTAssertEqual(got.map(\.index), Array(want.prefix(k)), "n \(n) k \(k)")
                XCTAssertEqual(got.map(\.score), want.prefix(k).map { exps[$0] / sum }, "n \(n) k \(k)")
            }
        }
    }
}
