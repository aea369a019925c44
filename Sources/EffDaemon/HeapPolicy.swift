import CMalloc

/// How the daemon keeps glibc's heap from growing across reloads.
///
/// A reload builds a new plan (packed weights, MBs), engines (activation arenas, MBs),
/// frame slots and decoded images on fresh threads, then frees the old ones. glibc serves
/// blocks of 128 KiB and up with their own mmap, but the first time such a block is freed
/// it raises that threshold to the block's size (up to 32 MiB): from then on the next
/// model's buffers come from the per-thread heaps, where they fragment and stay resident.
/// effnetd grew 1.5–4 MB per reload that way (52 → 120 MB after 20), with no object leaked.
/// Fixing the threshold turns the dynamic rule off, so big buffers go back to the kernel
/// when freed.
enum HeapPolicy {
    /// Blocks at least this big are mapped on their own (glibc's initial default).
    static let mmapThreshold: Int32 = 128 << 10

    /// Call once, before the first model is planned.
    static func configure() {
        _ = mallopt(M_MMAP_THRESHOLD, mmapThreshold)
    }

    /// Returns free pages of every heap to the kernel; after a reload has dropped the old
    /// model, the small blocks it left behind would otherwise stay resident.
    static func releaseFreeMemory() {
        _ = malloc_trim(0)
    }
}
