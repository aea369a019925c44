/// Static memory planning: every activation tensor gets a fixed offset in one arena,
/// and tensors whose lifetimes do not overlap share bytes.
struct ArenaPlanner {
    struct Request {
        var size: Int
        /// First and last step (inclusive) at which the bytes must hold this tensor's value.
        var firstUse: Int
        var lastUse: Int
    }

    static let alignment = 64

    /// Greedy by size (largest first), first fit among already placed blocks whose
    /// lifetimes overlap. Returns one offset per request and the arena size.
    static func plan(_ requests: [Request]) -> (offsets: [Int], size: Int) {
        let order = requests.indices.sorted {
            requests[$0].size != requests[$1].size ? requests[$0].size > requests[$1].size : $0 < $1
        }
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [(offset: Int, end: Int, first: Int, last: Int)] = []
        var total = 0
        for i in order {
            let r = requests[i]
            let size = align(r.size)
            let busy = placed
                .filter { $0.first <= r.lastUse && r.firstUse <= $0.last }
                .sorted { $0.offset < $1.offset }
            var candidate = 0
            for b in busy {
                if candidate + size <= b.offset { break }
                candidate = max(candidate, b.end)
            }
            offsets[i] = candidate
            placed.append((candidate, candidate + size, r.firstUse, r.lastUse))
            total = max(total, candidate + size)
        }
        return (offsets, total)
    }

    static func align(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}
