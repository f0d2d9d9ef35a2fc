//! Timestamps for the hot path: a cycle counter read in a few nanoseconds, anchored to the wall
//! clock once and converted to Unix nanoseconds off the hot path, by the collector.
//!
//! On x86_64 with an invariant TSC (`constant_tsc` and `nonstop_tsc` in `/proc/cpuinfo`) a tick
//! is one TSC cycle; elsewhere a tick is a nanosecond of `std::time::Instant`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const UNKNOWN: u8 = 0;
const TSC: u8 = 1;
const MONOTONIC: u8 = 2;

static SOURCE: AtomicU8 = AtomicU8::new(UNKNOWN);
static ANCHOR: OnceLock<Anchor> = OnceLock::new();

struct Anchor {
    ticks: u64,
    instant: Instant,
    unix_nanos: u64,
    /// Latest calibration: nanoseconds per tick, refined as the baseline grows.
    scale: Mutex<f64>,
}

/// The current time in ticks.
#[inline]
pub(crate) fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if SOURCE.load(Ordering::Relaxed) == TSC {
        // SAFETY: `rdtsc` has no preconditions; TSC was chosen only on x86_64 after checking
        // that the counter is invariant.
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    slow_now()
}

#[cold]
fn slow_now() -> u64 {
    if SOURCE.load(Ordering::Relaxed) == UNKNOWN {
        init();
        return now();
    }
    monotonic_ticks()
}

fn monotonic_ticks() -> u64 {
    let anchor = ANCHOR
        .get()
        .expect("clock anchor is set before the monotonic source is used");
    anchor.instant.elapsed().as_nanos() as u64
}

/// Chooses the tick source and anchors it to the wall clock. Idempotent.
pub(crate) fn init() {
    ANCHOR.get_or_init(|| {
        let source = if invariant_tsc() { TSC } else { MONOTONIC };
        let instant = Instant::now();
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let ticks = if source == TSC { raw_tsc() } else { 0 };
        SOURCE.store(source, Ordering::Relaxed);
        Anchor {
            ticks,
            instant,
            unix_nanos,
            scale: Mutex::new(1.0),
        }
    });
}

fn raw_tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: see `now`.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

fn invariant_tsc() -> bool {
    if !cfg!(target_arch = "x86_64") || std::env::var_os("THREADLINE_CLOCK_MONOTONIC").is_some() {
        return false;
    }
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|info| {
            info.lines()
                .find(|l| l.starts_with("flags"))
                .is_some_and(|flags| {
                    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
                    has("constant_tsc") && has("nonstop_tsc")
                })
        })
        .unwrap_or(false)
}

/// Converts ticks to Unix nanoseconds. Call from off the hot path: it may recalibrate.
pub(crate) struct Converter {
    anchor_ticks: u64,
    anchor_unix: u64,
    scale: f64,
}

impl Converter {
    /// A converter calibrated against the monotonic clock over the time since `init`.
    pub(crate) fn current() -> Converter {
        init();
        let anchor = ANCHOR.get().expect("anchor set by init");
        let scale = if SOURCE.load(Ordering::Relaxed) == TSC {
            let elapsed = anchor.instant.elapsed().as_nanos() as f64;
            let ticks = raw_tsc().wrapping_sub(anchor.ticks) as f64;
            let mut stored = anchor.scale.lock().unwrap_or_else(|e| e.into_inner());
            // A baseline under 1 ms is too short to trust: keep the last scale then, unless
            // there is none yet (the nominal 1.0).
            let trusted = elapsed > 1_000_000.0 || (*stored == 1.0 && elapsed > 0.0);
            if trusted && ticks > 0.0 {
                *stored = elapsed / ticks;
            }
            *stored
        } else {
            1.0
        };
        Converter {
            anchor_ticks: anchor.ticks,
            anchor_unix: anchor.unix_nanos,
            scale,
        }
    }

    /// Unix nanoseconds for a tick value.
    pub(crate) fn unix_nanos(&self, ticks: u64) -> u64 {
        // Only the offset from the anchor goes through floating point, so absolute times keep
        // nanosecond resolution.
        let delta = (ticks.wrapping_sub(self.anchor_ticks) as i64 as f64 * self.scale) as i64;
        (self.anchor_unix as i64).saturating_add(delta).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converted_ticks_track_the_wall_clock() {
        init();
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let t0 = now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t1 = now();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let conv = Converter::current();
        let (u0, u1) = (conv.unix_nanos(t0), conv.unix_nanos(t1));
        assert!(u1 > u0);
        let elapsed = u1 - u0;
        assert!(elapsed >= 19_000_000, "elapsed {elapsed}");
        assert!(elapsed < 200_000_000, "elapsed {elapsed}");
        // Within 5 ms of the wall clock at both ends.
        assert!(u0 + 5_000_000 > before && u0 < after + 5_000_000);
        assert!(u1 + 5_000_000 > before && u1 < after + 5_000_000);
    }
}
