import CEffKernels
import EffModel
import EffScheduler
import Foundation

public enum EngineError: Error, CustomStringConvertible {
    case inputSize(expected: Int, got: Int, shape: [Int])
    case outputSize(expected: Int, got: Int)

    public var description: String {
        switch self {
        case let .inputSize(expected, got, shape):
            return "input has \(got) bytes; the model expects \(expected) (shape \(shape))"
        case let .outputSize(expected, got):
            return "output buffer has \(got) bytes; the model produces \(expected)"
        }
    }
}

/// Runs a `Plan`. Owns one activation arena and the prepared kernel calls, made once;
/// `run` allocates nothing.
/// One engine runs one inference at a time; use one engine per concurrent frame. With a
/// pool, each operator's output is split into tiles that run on the pool's lanes; the
/// bytes are the same for any number of threads.
public final class Engine: @unchecked Sendable {
    public let plan: Plan
    public let pool: WorkerPool?
    private let arena: UnsafeMutableRawPointer
    /// One prepared kernel call per step, its tiling decided for this pool's lanes.
    private var runners: [StepRunner] = []

    public init(plan: Plan, pool: WorkerPool? = nil) {
        self.plan = plan
        self.pool = pool
        arena = UnsafeMutableRawPointer.allocate(byteCount: plan.arenaSize, alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: plan.arenaSize)
        let lanes = pool?.threadCount ?? 1
        runners = plan.steps.map { StepRunner($0, arena: arena, kernels: plan.kernels.pointee, lanes: lanes) }
    }

    deinit { arena.deallocate() }

    /// Runs the model on `input` (exactly `plan.input.byteCount` bytes, the model's input
    /// type and layout) and writes the result into `output`.
    /// `observe`, when given, sees each operator's output right after it is computed.
    public func run(input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer,
                    observe: ((_ op: Int, _ tensor: Int, _ bytes: UnsafeRawBufferPointer) -> Void)? = nil) throws {
        guard input.count == plan.input.byteCount else {
            throw EngineError.inputSize(expected: plan.input.byteCount, got: input.count, shape: plan.input.shape)
        }
        guard output.count == plan.output.byteCount else {
            throw EngineError.outputSize(expected: plan.output.byteCount, got: output.count)
        }
        // Workers stay awake between the steps of one inference: a futex wake per
        // step cost ~10 % at 2 threads (effctl bench --threads 2, 2.96 → 2.66 ms p50).
        // Parked ones are woken first, so their wake-up overlaps the input copy.
        if let pool {
            try pool.keepingAwake {
                copyInput(input)
                try runSteps(pool: pool, output: output, observe: observe)
            }
        } else {
            copyInput(input)
            try runSteps(pool: pool, output: output, observe: observe)
        }
    }

    private func copyInput(_ input: UnsafeRawBufferPointer) {
        if let base = input.baseAddress { (arena + plan.inputOffset).copyMemory(from: base, byteCount: input.count) }
    }

    private func runSteps(pool: WorkerPool?, output: UnsafeMutableRawBufferPointer,
                          observe: ((_ op: Int, _ tensor: Int, _ bytes: UnsafeRawBufferPointer) -> Void)?) throws {
        for (step, runner) in zip(plan.steps, runners) {
            if let pool, runner.tiles > 1 {
                pool.parallelFor(0..<runner.tiles, reusing: runner.runTiles)
            } else {
                runner.run(0, runner.count)
            }
            if let observe, let off = plan.tensorOffsets[step.output] {
                observe(step.op, step.output, UnsafeRawBufferPointer(start: arena + off, count: plan.graph.tensors[step.output].byteCount))
            }
        }
        if let base = output.baseAddress { base.copyMemory(from: arena + plan.outputOffset, byteCount: output.count) }
    }

    /// Convenience for tests and tools: bytes in, bytes out.
    public func run(_ input: [Int8]) throws -> [Int8] {
        var out = [Int8](repeating: 0, count: plan.output.byteCount)
        try input.withUnsafeBytes { i in
            try out.withUnsafeMutableBytes { o in try run(input: i, output: o) }
        }
        return out
    }

}
