//! Seed 004's add/subtract program: `#[trace]` on `add`, `subtract` and the enclosing
//! `addsubtract`, so the three calls form one trace.
//!
//! ```text
//! OTEL_SERVICE_NAME=addsubtract cargo run --example addsubtract
//! ```

#[threadline::trace]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[threadline::trace]
fn subtract(a: i64, b: i64) -> i64 {
    a - b
}

#[threadline::trace(name = "addsubtract")]
fn run() -> i64 {
    let s = add(1, 2);
    let s = subtract(s, 4);
    add(s, 5)
}

fn main() {
    let _tracing = threadline_export::init();
    println!("{}", run());
}
