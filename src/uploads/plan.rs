//! How an upload is cut into parts.

use crate::config::{MAX_PARTS, MIN_PART_SIZE};

const MIB: u64 = 1024 * 1024;

/// Part size and count for a multipart upload of `size` bytes: parts of at least 5 MiB,
/// at most 10,000 of them, all equal but the last; the size is a whole number of MiB.
pub fn part_plan(size: u64) -> (u64, u64) {
    let needed = size.div_ceil(MAX_PARTS).max(MIN_PART_SIZE);
    let part_size = needed.div_ceil(MIB) * MIB;
    (part_size, size.div_ceil(part_size).max(1))
}

/// The size of part `number` (1-based).
pub fn part_len(size: u64, part_size: u64, count: u64, number: u64) -> u64 {
    if number < count {
        part_size
    } else {
        size - part_size * (count - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn part_plans_respect_s3_limits(size in 1u64..=5 * 1024 * 1024 * MIB) {
            let (part, count) = part_plan(size);
            prop_assert!(part >= MIN_PART_SIZE);
            prop_assert!(count <= MAX_PARTS);
            prop_assert!(part * count >= size);
            prop_assert!(part * (count - 1) < size);
            let last = part_len(size, part, count, count);
            prop_assert!(last >= 1 && last <= part);
        }
    }
}
