//! Seed 000's quickstart: a `main` span with ten `doWork` children.
//!
//! Exports to the console unless `OTEL_TRACES_EXPORTER` says otherwise; set
//! `THREADLINE_CONSOLE=json` for one JSON object per span per line.

use std::time::Duration;

fn main() {
    // Flushes when dropped at the end of `main`: a short program loses nothing.
    let _tracing = threadline_export::init();

    let _main = threadline::span("main");
    for _ in 0..10 {
        do_work();
    }
}

fn do_work() {
    // A child of `main`, because `main` is current.
    let span = threadline::span("doWork");
    eprintln!("doing busy work");
    std::thread::sleep(Duration::from_millis(10));
    span.add_annotation("invoking doWork", []);
}
