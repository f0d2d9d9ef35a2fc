//! How a bench binary was asked to run, shared by the benches of several crates (each includes
//! this file with `#[path]`).

/// The run mode, from the arguments cargo and criterion pass.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// `cargo test --benches` or `--test`: run everything a little.
    Test,
    /// `--quick` or `THREADLINE_BENCH_QUICK=1`.
    Quick,
    Full,
    /// `--list` or `--profile-time`: criterion only.
    CriterionOnly,
}

/// The mode of this process.
pub fn mode() -> Mode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let quick_var =
        std::env::var("THREADLINE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    if has("--list") || args.iter().any(|a| a.starts_with("--profile-time")) {
        Mode::CriterionOnly
    } else if !has("--bench") || has("--test") {
        Mode::Test
    } else if has("--quick") || quick_var {
        Mode::Quick
    } else {
        Mode::Full
    }
}
