//! The console exporter: a trace as an indented tree with a waterfall, or JSON lines.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use crate::data::SpanData;
use crate::export::{ExportError, Exporter};
use crate::id::{SpanId, TraceId};
use crate::json;

/// How the console exporter prints.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ConsoleFormat {
    /// Each finished trace as a tree with durations, status, annotations and a waterfall.
    #[default]
    Tree,
    /// One JSON object per span per line.
    Json,
}

impl ConsoleFormat {
    /// The format named by `THREADLINE_CONSOLE` (`tree` or `json`), tree when unset; an unknown
    /// value gets a warning and the tree.
    pub fn from_env() -> Self {
        match std::env::var("THREADLINE_CONSOLE") {
            Err(_) => ConsoleFormat::Tree,
            Ok(v) if v.eq_ignore_ascii_case("json") => ConsoleFormat::Json,
            Ok(v) if v.eq_ignore_ascii_case("tree") || v.is_empty() => ConsoleFormat::Tree,
            Ok(v) => {
                crate::diag::warn(format_args!(
                    "invalid value for THREADLINE_CONSOLE: {v:?} (expected tree or json); using tree"
                ));
                ConsoleFormat::Tree
            }
        }
    }
}

/// Spans buffered while waiting for their trace's local root, at most.
const MAX_PENDING: usize = 10_000;
/// Width of the waterfall bar, in characters.
const BAR_WIDTH: usize = 40;

/// Prints spans to standard output (or any writer).
///
/// In tree form a trace is printed when its local root ends (a span without a parent in this
/// process); spans whose root has not ended are printed on flush.
///
/// # Examples
///
/// ```
/// use threadline::{ConsoleExporter, ConsoleFormat};
/// let exporter = ConsoleExporter::with_writer(ConsoleFormat::Json, Vec::new());
/// ```
pub struct ConsoleExporter {
    format: ConsoleFormat,
    out: Box<dyn Write + Send>,
    pending: HashMap<TraceId, Vec<SpanData>>,
    pending_count: usize,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("format", &self.format)
            .finish()
    }
}

impl Default for ConsoleExporter {
    fn default() -> Self {
        ConsoleExporter::new(ConsoleFormat::from_env())
    }
}

impl ConsoleExporter {
    /// Prints to standard output.
    pub fn new(format: ConsoleFormat) -> Self {
        ConsoleExporter::with_writer(format, std::io::stdout())
    }

    /// Prints to `out`.
    pub fn with_writer(format: ConsoleFormat, out: impl Write + Send + 'static) -> Self {
        ConsoleExporter {
            format,
            out: Box::new(out),
            pending: HashMap::new(),
            pending_count: 0,
        }
    }

    fn print_trace(&mut self, mut spans: Vec<SpanData>) -> std::io::Result<()> {
        spans.sort_by_key(|s| s.start_time_unix_nano);
        let text = render_tree(&spans);
        self.out.write_all(text.as_bytes())
    }

    fn print_all_pending(&mut self) -> std::io::Result<()> {
        let mut traces: Vec<_> = self.pending.drain().map(|(_, spans)| spans).collect();
        self.pending_count = 0;
        traces.sort_by_key(|spans| spans.iter().map(|s| s.start_time_unix_nano).min());
        for spans in traces {
            self.print_trace(spans)?;
        }
        Ok(())
    }
}

impl Exporter for ConsoleExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        match self.format {
            ConsoleFormat::Json => {
                let mut text = String::new();
                for span in batch {
                    write_json(&mut text, span);
                    text.push('\n');
                }
                self.out.write_all(text.as_bytes())?;
            }
            ConsoleFormat::Tree => {
                for span in batch.iter().cloned() {
                    let is_local_root = span.parent_span_id.is_none() || span.parent_is_remote;
                    let trace_id = span.trace_id;
                    let list = self.pending.entry(trace_id).or_default();
                    list.push(span);
                    self.pending_count += 1;
                    if is_local_root {
                        if let Some(spans) = self.pending.remove(&trace_id) {
                            self.pending_count -= spans.len();
                            self.print_trace(spans)?;
                        }
                    }
                }
                if self.pending_count > MAX_PENDING {
                    self.print_all_pending()?;
                }
            }
        }
        self.out.flush()?;
        Ok(())
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        self.print_all_pending()?;
        self.out.flush()?;
        Ok(())
    }
}

/// Formats nanoseconds for people: `950 ns`, `12.3 µs`, `100.2 ms`, `1.01 s`.
pub fn format_duration(nanos: u64) -> String {
    let n = nanos as f64;
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", n / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.1} ms", n / 1e6)
    } else {
        format!("{:.2} s", n / 1e9)
    }
}

/// Renders spans of one trace as an indented tree with a waterfall bar per span.
pub fn render_tree(spans: &[SpanData]) -> String {
    let mut out = String::new();
    if spans.is_empty() {
        return out;
    }
    let ids: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match span.parent_span_id.filter(|p| ids.contains_key(p)) {
            Some(parent) => children.entry(parent).or_default().push(i),
            None => roots.push(i),
        }
    }
    let start = spans
        .iter()
        .map(|s| s.start_time_unix_nano)
        .min()
        .unwrap_or(0);
    let end = spans
        .iter()
        .map(|s| s.end_time_unix_nano)
        .max()
        .unwrap_or(start);
    let total = end.saturating_sub(start).max(1);
    // Parent links from the network may form a cycle: then no span is a root.
    let first = &spans[roots.first().copied().unwrap_or(0)];
    let _ = writeln!(
        out,
        "trace {} · {} · {} span{} · {}",
        first.trace_id,
        first.resource.service_name,
        spans.len(),
        if spans.len() == 1 { "" } else { "s" },
        format_duration(total)
    );
    let name_width = spans
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        + 2 * depth_of(spans, &ids)
        + 3;
    let mut stack: Vec<(usize, String, bool)> = roots
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &i)| (i, String::new(), k == 0))
        .collect();
    // Depth-first, children in start order; (index, prefix of ancestors, is last sibling).
    // Each span once; spans a cycle keeps out of reach of every root start a tree of their own.
    let mut visited = vec![false; spans.len()];
    while let Some((i, prefix, last)) = stack.pop().or_else(|| {
        let k = visited.iter().position(|v| !v)?;
        Some((k, String::new(), true))
    }) {
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        let span = &spans[i];
        let is_root = span
            .parent_span_id
            .filter(|p| ids.contains_key(p))
            .is_none();
        let branch = if is_root {
            ""
        } else if last {
            "└─ "
        } else {
            "├─ "
        };
        let label = format!("{prefix}{branch}{}", span.name);
        let offset = span.start_time_unix_nano.saturating_sub(start);
        let bar_start = (offset as u128 * BAR_WIDTH as u128 / total as u128) as usize;
        let bar_len = ((span.duration_nanos() as u128 * BAR_WIDTH as u128).div_ceil(total as u128)
            as usize)
            .clamp(1, BAR_WIDTH - bar_start.min(BAR_WIDTH - 1));
        let bar = format!(
            "{}{}{}",
            " ".repeat(bar_start.min(BAR_WIDTH - 1)),
            "█".repeat(bar_len),
            " ".repeat(BAR_WIDTH.saturating_sub(bar_start.min(BAR_WIDTH - 1) + bar_len))
        );
        let pad = name_width.saturating_sub(label.chars().count());
        let _ = write!(
            out,
            "{label}{}{:>10}  |{bar}|",
            " ".repeat(pad),
            format_duration(span.duration_nanos())
        );
        let _ = write!(out, "  {}", span.kind.as_str());
        match &span.status {
            Some(status) if status.is_ok() => out.push_str("  ok"),
            Some(status) => {
                let _ = write!(out, "  ERROR {status}");
            }
            None => {}
        }
        out.push('\n');
        let child_prefix = if is_root {
            String::new()
        } else {
            format!("{prefix}{}", if last { "   " } else { "│  " })
        };
        let detail_prefix = format!(
            "{child_prefix}{}",
            if children.contains_key(&span.span_id) {
                "│    "
            } else {
                "     "
            }
        );
        if !span.attributes.is_empty() {
            let attrs: Vec<String> = span
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            let _ = writeln!(out, "{detail_prefix}{{{}}}", attrs.join(", "));
        }
        for annotation in &span.annotations {
            let at = annotation
                .time_unix_nano
                .saturating_sub(span.start_time_unix_nano);
            let _ = write!(
                out,
                "{detail_prefix}· +{} {}",
                format_duration(at),
                annotation.description
            );
            if !annotation.attributes.is_empty() {
                let attrs: Vec<String> = annotation
                    .attributes
                    .iter()
                    .map(|kv| format!("{}={}", kv.key, kv.value))
                    .collect();
                let _ = write!(out, " {{{}}}", attrs.join(", "));
            }
            out.push('\n');
        }
        for event in &span.message_events {
            let at = event
                .time_unix_nano
                .saturating_sub(span.start_time_unix_nano);
            let _ = writeln!(
                out,
                "{detail_prefix}· +{} message {} id={} size={}",
                format_duration(at),
                event.kind.as_str(),
                event.id,
                event.uncompressed_size
            );
        }
        if !span.dropped.is_empty() {
            let d = span.dropped;
            let _ = writeln!(
                out,
                "{detail_prefix}! dropped: {} attributes, {} annotations, {} message events, {} links",
                d.attributes, d.annotations, d.message_events, d.links
            );
        }
        if let Some(kids) = children.get(&span.span_id) {
            let mut kids = kids.clone();
            kids.sort_by_key(|&k| spans[k].start_time_unix_nano);
            let n = kids.len();
            for (k, &child) in kids.iter().enumerate().rev() {
                stack.push((child, child_prefix.clone(), k + 1 == n));
            }
        }
    }
    out
}

fn depth_of(spans: &[SpanData], ids: &HashMap<SpanId, usize>) -> usize {
    spans
        .iter()
        .map(|s| {
            let mut depth = 0;
            let mut cur = s.parent_span_id;
            while let Some(p) = cur.and_then(|p| ids.get(&p)) {
                depth += 1;
                if depth > spans.len() {
                    break;
                }
                cur = spans[*p].parent_span_id;
            }
            depth
        })
        .max()
        .unwrap_or(0)
        .min(32)
}

/// Appends a span as one JSON object (no newline).
pub fn write_json(out: &mut String, span: &SpanData) {
    let _ = write!(
        out,
        "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",\"parent_span_id\":",
        span.trace_id, span.span_id
    );
    match span.parent_span_id {
        Some(p) => {
            let _ = write!(out, "\"{p}\"");
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"name\":");
    json::push_str(out, &span.name);
    let _ = write!(
        out,
        ",\"kind\":\"{}\",\"start_time_unix_nano\":{},\"end_time_unix_nano\":{},\"duration_ns\":{}",
        span.kind.as_str(),
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        span.duration_nanos()
    );
    out.push_str(",\"attributes\":");
    push_attributes(out, &span.attributes);
    out.push_str(",\"status\":");
    match &span.status {
        Some(status) => {
            let _ = write!(
                out,
                "{{\"code\":{},\"name\":\"{}\",\"message\":",
                status.canonical_code().as_i32(),
                status.canonical_code().name()
            );
            json::push_str(out, status.description());
            if let Some(details) = status.details() {
                out.push_str(",\"details\":");
                json::push_str(out, details);
            }
            out.push('}');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"annotations\":[");
    for (i, a) in span.annotations.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"time_unix_nano\":{},\"description\":",
            a.time_unix_nano
        );
        json::push_str(out, &a.description);
        out.push_str(",\"attributes\":");
        push_attributes(out, &a.attributes);
        out.push('}');
    }
    out.push_str("],\"message_events\":[");
    for (i, e) in span.message_events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"time_unix_nano\":{},\"type\":\"{}\",\"id\":{},\"uncompressed_size\":{},\"compressed_size\":{}}}",
            e.time_unix_nano,
            e.kind.as_str(),
            e.id,
            e.uncompressed_size,
            e.compressed_size
        );
    }
    out.push_str("],\"links\":[");
    for (i, l) in span.links.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",\"type\":\"{}\",\"attributes\":",
            l.trace_id,
            l.span_id,
            l.link_type.as_str()
        );
        push_attributes(out, &l.attributes);
        out.push('}');
    }
    out.push_str("],\"resource\":{\"service.name\":");
    json::push_str(out, &span.resource.service_name);
    for kv in &span.resource.attributes {
        out.push(',');
        json::push_str(out, &kv.key);
        out.push(':');
        json::push_value(out, &kv.value);
    }
    out.push('}');
    if !span.dropped.is_empty() {
        let d = span.dropped;
        let _ = write!(
            out,
            ",\"dropped\":{{\"attributes\":{},\"annotations\":{},\"message_events\":{},\"links\":{}}}",
            d.attributes, d.annotations, d.message_events, d.links
        );
    }
    if let Some(stack) = &span.stack_trace {
        out.push_str(",\"stack_trace\":");
        json::push_str(out, stack);
    }
    out.push('}');
}

fn push_attributes(out: &mut String, attributes: &[crate::KeyValue]) {
    out.push('{');
    for (i, kv) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::push_str(out, &kv.key);
        out.push(':');
        json::push_value(out, &kv.value);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::TraceId;

    #[test]
    fn render_tree_survives_parent_cycles() {
        let mut a = SpanData::new(TraceId(1), SpanId(1), "a");
        let mut b = SpanData::new(TraceId(1), SpanId(2), "b");
        a.parent_span_id = Some(SpanId(2));
        b.parent_span_id = Some(SpanId(1));
        let mut c = SpanData::new(TraceId(1), SpanId(3), "self-parent");
        c.parent_span_id = Some(SpanId(3));
        let text = render_tree(&[a, b, c]);
        for name in ["a", "b", "self-parent"] {
            let label = format!("─ {name} ");
            assert_eq!(text.matches(&label).count(), 1, "{text}");
        }
    }
}
