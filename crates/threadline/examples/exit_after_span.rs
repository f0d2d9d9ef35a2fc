//! Ends one span and returns from `main` at once: the `init` guard must still export it.
//!
//! Used by `tests/flush_at_exit.rs`. The exporter comes from the environment (for the test,
//! `OTEL_TRACES_EXPORTER=file` and `THREADLINE_FILE_PATH`). The first argument picks how the
//! span is made:
//!
//! - `guard` (default): a span guard on the main thread;
//! - `owned`: an owned span moved to another thread, ended there, the thread joined;
//! - `traced`: a `#[threadline::trace]` function.

#[threadline::trace(name = "exit-span")]
fn traced(mode: &str) {
    threadline::add_attribute_to_current_span("answer", 42);
    threadline::add_attribute_to_current_span("mode", mode.to_string());
}

fn main() {
    let _tracing = threadline::init();
    let mode = std::env::args().nth(1).unwrap_or_else(|| "guard".into());
    match mode.as_str() {
        "guard" => {
            let span = threadline::span("exit-span");
            span.add_attribute("answer", 42);
            span.add_attribute("mode", "guard");
        }
        "owned" => {
            let span = threadline::span_builder("exit-span").start();
            std::thread::spawn(move || {
                span.add_attribute("answer", 42);
                span.add_attribute("mode", "owned");
                span.end();
            })
            .join()
            .expect("worker thread");
        }
        "traced" => traced("traced"),
        other => {
            eprintln!("unknown mode {other:?}; expected guard, owned or traced");
            std::process::exit(2);
        }
    }
    // Returning drops the guard, which must flush the span before the process ends.
}
