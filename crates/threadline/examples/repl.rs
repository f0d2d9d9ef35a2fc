//! Seed 001's REPL: a `repl` span per line read from standard input, with a `processInput`
//! child, and an annotation recording the line's length.
//!
//! ```text
//! printf 'hello\nworld\n' | cargo run --example repl
//! ```

use std::io::BufRead;

use threadline::KeyValue;

fn main() {
    let _tracing = threadline_export::init();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        read_evaluate_process(&line);
    }
}

fn read_evaluate_process(line: &str) {
    let span = threadline::span("repl");
    span.add_annotation(
        "Invoking processLine",
        [
            KeyValue::new("len", line.len()),
            KeyValue::new("use", "repl"),
        ],
    );
    let out = process_input(line);
    println!("< {out}");
}

fn process_input(data: &str) -> String {
    let _span = threadline::span("processInput");
    data.to_uppercase()
}
