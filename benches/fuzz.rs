//! Every decoder of outside bytes fed ten million mutated inputs (`cargo bench --bench fuzz`,
//! or `-- N` for another count): a table of what each accepted and refused, its slowest
//! input, and its panics, which must be none (harness/src/fuzz.rs says how inputs are made).

use paxchain_harness::fuzz::{run, targets, Findings};

fn main() {
    let per_target: u64 = (std::env::args().skip(1))
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    println!(
        "{:<16} {:>12} {:>12} {:>12} {:>8} {:>12} {:>10}",
        "decoder", "inputs", "accepted", "refused", "panics", "slowest µs", "wall s"
    );
    let mut panicked = false;
    for target in targets() {
        // Two threads, each its own half of the inputs from its own seed.
        let halves: Vec<Findings> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..2u64)
                .map(|k| {
                    let target = &target;
                    s.spawn(move || run(target, per_target / 2, 0x5eed + k))
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("a fuzzing thread"))
                .collect()
        });
        let sum = |f: fn(&Findings) -> u64| halves.iter().map(f).sum::<u64>();
        let panics: usize = halves.iter().map(|h| h.panics.len()).sum();
        let slowest = halves.iter().map(|h| h.slowest).max().unwrap_or_default();
        let wall = halves.iter().map(|h| h.took).max().unwrap_or_default();
        println!(
            "{:<16} {:>12} {:>12} {:>12} {:>8} {:>12.0} {:>10.1}",
            target.name,
            sum(|h| h.inputs),
            sum(|h| h.accepted),
            sum(|h| h.refused),
            panics,
            slowest.as_secs_f64() * 1e6,
            wall.as_secs_f64()
        );
        for input in halves.iter().flat_map(|h| h.panics.iter()).take(3) {
            println!(
                "  panicked on {} bytes: {:02x?}",
                input.len(),
                &input[..input.len().min(64)]
            );
            panicked = true;
        }
    }
    assert!(!panicked, "a decoder panicked");
}
