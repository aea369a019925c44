#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU sets and thread pinning.
///
/// `sched_getaffinity`, `pthread_setaffinity_np` and `pthread_setname_np` are
/// GNU extensions that Swift's Glibc module does not import (it is built
/// without `_GNU_SOURCE`), and this module may not add a C shim, so they are
/// looked up once with `dlsym`. Where they are missing (other libcs, Darwin)
/// we fall back to "all online CPUs" and report pinning as failed.
enum Affinity {
    /// glibc's `cpu_set_t`: 1024 bits.
    static let setBytes = 128
    static let maxCPUs = setBytes * 8

    private typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32
    private typealias SetThreadAffinity = @convention(c) (pthread_t, Int, UnsafeRawPointer?) -> Int32
    private typealias SetThreadName = @convention(c) (pthread_t, UnsafePointer<CChar>?) -> Int32

    private static let process: UnsafeMutableRawPointer? = dlopen(nil, RTLD_NOW)

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let sym = dlsym(process, name) else { return nil }
        return unsafeBitCast(sym, to: type)
    }

    private static let getAffinity = symbol("sched_getaffinity", as: GetAffinity.self)
    private static let setThreadAffinity = symbol("pthread_setaffinity_np", as: SetThreadAffinity.self)
    private static let setThreadName = symbol("pthread_setname_np", as: SetThreadName.self)

    /// The CPUs this process may run on (`sched_getaffinity` of the calling
    /// thread), ascending; all online CPUs if that is unavailable.
    static func allowedCPUs() -> [Int] {
        if let get = getAffinity {
            var words = [UInt64](repeating: 0, count: setBytes / 8)
            let rc = words.withUnsafeMutableBytes { get(0, setBytes, $0.baseAddress) }
            if rc == 0 {
                var cpus: [Int] = []
                for (w, word) in words.enumerated() where word != 0 {
                    for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 { cpus.append(w * 64 + bit) }
                }
                if !cpus.isEmpty { return cpus }
            }
        }
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return Array(0..<max(1, Int(online)))
    }

    /// Pins `thread` to one CPU. Returns false (never traps) on any failure:
    /// CPU out of range or not allowed (cgroup/cpuset), or no such libc call.
    static func pin(_ thread: pthread_t, to cpu: Int) -> Bool {
        guard cpu >= 0, cpu < maxCPUs, let set = setThreadAffinity else { return false }
        var words = [UInt64](repeating: 0, count: setBytes / 8)
        words[cpu / 64] = 1 << UInt64(cpu % 64)
        return words.withUnsafeBytes { set(thread, setBytes, $0.baseAddress) } == 0
    }

    /// Best effort, for `top -H` / perf. The kernel refuses names over 15 bytes (ERANGE),
    /// so longer ones are cut here.
    static func name(_ thread: pthread_t, _ name: String) {
        guard let set = setThreadName else { return }
        var bytes = Array(name.utf8.prefix(15))
        bytes.append(0)
        _ = bytes.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { set(thread, $0.baseAddress) } }
    }
}
