//! Parent/child wiring: nested guards, threads, `.await`s, out-of-order ends, the seed-style
//! `start_span`/`end_span`, sampling and remote parents, and timestamps.
//!
//! Most tests use their own `Tracer` (each has its own pipeline and exporter), so they can run
//! in parallel. The `#[threadline::trace]` tests need the global tracer: it is set once for
//! this process (see [`global`]) and those tests only look at spans of their own traces.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use threadline::{
    FutureExt, InMemoryExporter, Link, LinkType, SpanContext, SpanData, SpanId, SpanKind, TraceId,
    TraceOptions, Tracer,
};

const FLUSH: Duration = Duration::from_secs(10);

fn flushed(tracer: &Tracer, exporter: &InMemoryExporter) -> Vec<SpanData> {
    tracer.flush(FLUSH).expect("flush");
    exporter.spans()
}

fn by_name<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one span named {name:?} in {spans:#?}"
    );
    found[0]
}

fn all_named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The global tracer's exporter, installed once for this test process.
fn global() -> &'static InMemoryExporter {
    static EXPORTER: OnceLock<InMemoryExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let (tracer, exporter) = Tracer::builder().service_name("tree-global").in_memory();
        threadline::set_global_tracer(tracer);
        exporter
    })
}

fn global_spans_of(trace: TraceId) -> Vec<SpanData> {
    threadline::global_tracer()
        .expect("global tracer set")
        .flush(FLUSH)
        .expect("flush");
    global()
        .spans()
        .into_iter()
        .filter(|s| s.trace_id == trace)
        .collect()
}

#[test]
fn nested_guards_three_levels_with_siblings() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    {
        let root = tracer.span("root");
        root.add_attribute("level", 0);
        for i in 0..2 {
            let mid = tracer.span(format!("mid{i}"));
            mid.add_attribute("level", 1);
            for j in 0..3 {
                let leaf = tracer.span(format!("leaf{i}.{j}"));
                leaf.add_attribute("level", 2);
            }
        }
        // A sibling of the `mid` spans after they ended.
        let _last = tracer.span("last");
    }
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 1 + 2 + 6 + 1, "{spans:#?}");

    let root = by_name(&spans, "root");
    assert_eq!(root.parent_span_id, None);
    assert!(!root.parent_is_remote);
    assert_eq!(root.kind, SpanKind::Internal);
    for span in &spans {
        assert_eq!(span.trace_id, root.trace_id, "one trace: {span:?}");
    }
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");

    for i in 0..2 {
        let mid = by_name(&spans, &format!("mid{i}"));
        assert_eq!(mid.parent_span_id, Some(root.span_id));
        assert_eq!(mid.attribute("level"), Some(&1.into()));
        for j in 0..3 {
            let leaf = by_name(&spans, &format!("leaf{i}.{j}"));
            assert_eq!(leaf.parent_span_id, Some(mid.span_id), "{leaf:?}");
            assert_eq!(leaf.attribute("level"), Some(&2.into()));
        }
    }
    assert_eq!(by_name(&spans, "last").parent_span_id, Some(root.span_id));

    // Nothing is current any more: a new span starts a new trace.
    drop(exporter.take());
    drop(tracer.span("after"));
    let spans = flushed(&tracer, &exporter);
    let after = by_name(&spans, "after");
    assert_eq!(after.parent_span_id, None);
    assert_ne!(after.trace_id, root.trace_id);
}

#[test]
fn current_span_and_context_follow_the_guards() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    assert!(!tracer.current_span().is_recording());
    assert!(!threadline::current_context().is_valid());
    let outer = tracer.span("outer");
    assert_eq!(tracer.current_span().span_id(), outer.span_id());
    {
        let inner = tracer.span("inner");
        assert_eq!(tracer.current_span().span_id(), inner.span_id());
        assert_eq!(threadline::current_context().span_id(), inner.span_id());
        assert_eq!(threadline::current_context().trace_id(), outer.trace_id());
        tracer.add_attribute_to_current_span("on", "inner");
    }
    assert_eq!(tracer.current_span().span_id(), outer.span_id());
    tracer.add_attribute_to_current_span("on", "outer");
    drop(outer);
    assert!(!tracer.current_span().is_recording());

    let spans = flushed(&tracer, &exporter);
    assert_eq!(
        by_name(&spans, "inner").attribute("on"),
        Some(&"inner".into())
    );
    assert_eq!(
        by_name(&spans, "outer").attribute("on"),
        Some(&"outer".into())
    );
}

#[test]
fn owned_span_moved_to_another_thread_is_the_parent_there() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let root = tracer.span("root");
    // An owned span made here is a child of `root`.
    let job = tracer.span_builder("job").kind(SpanKind::Consumer).start();
    let job_id = job.context().span_id();
    let worker_tracer = tracer.clone();
    let worker_thread = std::thread::spawn(move || {
        job.add_attribute("thread", "worker");
        {
            let _entered = job.enter();
            for i in 0..3 {
                let step = worker_tracer.span(format!("step{i}"));
                let _sub = worker_tracer.span(format!("sub{i}"));
                step.add_attribute("i", i);
            }
            // Through the current-span handle, the change goes to the owned span.
            worker_tracer.add_attribute_to_current_span("via", "current");
        }
        // Not entered any more: spans here are roots.
        drop(worker_tracer.span("detached"));
        job.end();
        std::thread::current().id()
    });
    let worker = worker_thread.join().unwrap();
    assert_ne!(worker, std::thread::current().id());
    drop(root);

    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 1 + 1 + 6 + 1, "{spans:#?}");
    let root = by_name(&spans, "root");
    let job = by_name(&spans, "job");
    assert_eq!(job.span_id, job_id);
    assert_eq!(job.parent_span_id, Some(root.span_id));
    assert_eq!(job.trace_id, root.trace_id);
    assert_eq!(job.kind, SpanKind::Consumer);
    assert_eq!(job.attribute("thread"), Some(&"worker".into()));
    assert_eq!(job.attribute("via"), Some(&"current".into()));
    for i in 0..3 {
        let step = by_name(&spans, &format!("step{i}"));
        assert_eq!(step.parent_span_id, Some(job.span_id));
        assert_eq!(step.trace_id, root.trace_id);
        let sub = by_name(&spans, &format!("sub{i}"));
        assert_eq!(sub.parent_span_id, Some(step.span_id));
        assert_eq!(sub.trace_id, root.trace_id);
    }
    let detached = by_name(&spans, "detached");
    assert_eq!(detached.parent_span_id, None);
    assert_ne!(detached.trace_id, root.trace_id);
}

#[test]
fn span_context_sent_to_another_thread_parents_spans_there() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let (tx, rx) = std::sync::mpsc::channel::<SpanContext>();
    let worker_tracer = tracer.clone();
    let worker = std::thread::spawn(move || {
        let parent = rx.recv().unwrap();
        let handler = worker_tracer
            .span_builder("handler")
            .kind(SpanKind::Server)
            .parent(parent)
            .attribute("at", "start")
            .enter();
        let _child = worker_tracer.span("handler-child");
        handler.add_attribute("late", true);
    });
    let root_ctx;
    {
        let root = tracer.span("root");
        root_ctx = root.context();
        assert!(root_ctx.is_valid());
        assert!(root_ctx.is_sampled());
        assert!(!root_ctx.from_header());
        tx.send(root_ctx.clone()).unwrap();
        // The root may end before the worker uses its context: that is allowed.
    }
    worker.join().unwrap();

    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let root = by_name(&spans, "root");
    let handler = by_name(&spans, "handler");
    let child = by_name(&spans, "handler-child");
    assert_eq!(root.span_id, root_ctx.span_id());
    assert_eq!(handler.trace_id, root.trace_id);
    assert_eq!(handler.parent_span_id, Some(root.span_id));
    assert!(!handler.parent_is_remote, "a local context is not remote");
    assert_eq!(handler.kind, SpanKind::Server);
    assert_eq!(handler.attribute("at"), Some(&"start".into()));
    assert_eq!(handler.attribute("late"), Some(&true.into()));
    assert_eq!(child.parent_span_id, Some(handler.span_id));
    assert_eq!(child.trace_id, root.trace_id);
}

#[test]
fn many_threads_keep_their_own_trees() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                let mut roots = Vec::new();
                for r in 0..50 {
                    let root = tracer.span(format!("root-{t}-{r}"));
                    roots.push(root.span_id());
                    for c in 0..4 {
                        let _c = tracer.span(format!("child-{t}-{r}-{c}"));
                    }
                }
                roots
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().len(), 50);
    }
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 4 * 50 * 5);
    let index: HashMap<&str, &SpanData> = spans.iter().map(|s| (&*s.name, s)).collect();
    for t in 0..4 {
        for r in 0..50 {
            let root = index[format!("root-{t}-{r}").as_str()];
            assert_eq!(root.parent_span_id, None);
            for c in 0..4 {
                let child = index[format!("child-{t}-{r}-{c}").as_str()];
                assert_eq!(child.parent_span_id, Some(root.span_id));
                assert_eq!(child.trace_id, root.trace_id);
            }
        }
    }
}

#[test]
fn out_of_order_guard_drops_still_end_every_span() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let a = tracer.span("a");
    let b = tracer.span("b");
    drop(a); // `a` ends while its child `b` is still current
    assert_eq!(tracer.current_span().span_id(), b.span_id());
    let c = tracer.span("c"); // a child of `b`, the innermost live span
    drop(b);
    assert_eq!(tracer.current_span().span_id(), c.span_id());
    let d = tracer.span("d");
    let e = tracer.span("e");
    drop(d);
    drop(c);
    assert_eq!(tracer.current_span().span_id(), e.span_id());
    drop(e);
    assert!(!tracer.current_span().is_recording());
    // Dropping in order again works afterwards.
    {
        let _x = tracer.span("x");
        let _y = tracer.span("y");
    }

    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 7, "{spans:#?}");
    let parent_of = |name: &str| by_name(&spans, name).parent_span_id;
    let id = |name: &str| by_name(&spans, name).span_id;
    assert_eq!(parent_of("a"), None);
    assert_eq!(parent_of("b"), Some(id("a")));
    assert_eq!(parent_of("c"), Some(id("b")));
    assert_eq!(parent_of("d"), Some(id("c")));
    assert_eq!(parent_of("e"), Some(id("d")));
    assert_eq!(parent_of("x"), None);
    assert_eq!(parent_of("y"), Some(id("x")));
    for span in &spans {
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
        assert!(span.end_time_unix_nano > 0, "{} was ended", span.name);
    }
    // `a` really ended first (before `b`), `b` before `c`.
    let end = |name: &str| by_name(&spans, name).end_time_unix_nano;
    assert!(end("a") <= end("b"));
    assert!(end("b") <= end("c"));
    assert!(end("d") <= end("c"));
}

#[test]
fn guard_end_method_and_early_drop_of_outer_in_a_loop() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let mut inner_ids = Vec::new();
    for i in 0..10 {
        let outer = tracer.span(format!("outer{i}"));
        let inner = tracer.span(format!("inner{i}"));
        inner_ids.push(inner.span_id());
        // The outer span ends first, while its child is still current.
        outer.end();
        inner.end();
    }
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 20);
    for (i, inner_id) in inner_ids.into_iter().enumerate() {
        let outer = by_name(&spans, &format!("outer{i}"));
        let inner = by_name(&spans, &format!("inner{i}"));
        assert_eq!(outer.parent_span_id, None, "each outer is a new root");
        assert_eq!(inner.parent_span_id, Some(outer.span_id));
        assert_eq!(inner.span_id, inner_id);
    }
}

#[test]
fn start_span_and_end_span_seed_style() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    // Ending with nothing current is harmless.
    tracer.end_span();

    let outer = tracer.start_span("outer");
    outer.add_attribute("k", "v");
    let inner = tracer.start_span("inner");
    assert_eq!(tracer.current_span().span_id(), inner.span_id());
    inner.add_annotation("working", []);
    tracer.end_span(); // ends `inner`
    assert_eq!(tracer.current_span().span_id(), outer.span_id());
    let sibling = tracer.start_span("sibling");
    tracer.end_span(); // ends `sibling`
    tracer.end_span(); // ends `outer`
    assert!(!tracer.current_span().is_recording());
    tracer.end_span(); // one too many: ignored

    // Changes through a handle whose span ended are ignored.
    inner.add_attribute("after-end", true);

    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let outer_data = by_name(&spans, "outer");
    let inner_data = by_name(&spans, "inner");
    let sibling_data = by_name(&spans, "sibling");
    assert_eq!(outer_data.span_id, outer.span_id());
    assert_eq!(outer_data.attribute("k"), Some(&"v".into()));
    assert_eq!(inner_data.parent_span_id, Some(outer_data.span_id));
    assert_eq!(inner_data.annotations.len(), 1);
    assert_eq!(inner_data.attribute("after-end"), None);
    assert_eq!(sibling_data.span_id, sibling.span_id());
    assert_eq!(sibling_data.parent_span_id, Some(outer_data.span_id));
    assert!(inner_data.end_time_unix_nano <= sibling_data.start_time_unix_nano);
}

#[test]
fn unsampled_parent_means_no_children_are_exported() {
    let (tracer, exporter) = Tracer::builder().in_memory();

    // A local parent context that is not sampled.
    let unsampled = SpanContext::new(TraceId(0xabc), SpanId(0xdef), TraceOptions::NOT_SAMPLED);
    {
        let parent = tracer.span_builder("unsampled").parent(unsampled).enter();
        assert!(!parent.is_recording());
        parent.add_attribute("ignored", 1);
        let child = tracer.span("child");
        assert!(!child.is_recording());
        let grandchild = tracer.span("grandchild");
        assert!(!grandchild.is_recording());
        let owned = tracer.span_builder("owned").start();
        assert!(!owned.is_recording());
        std::thread::spawn(move || {
            let _entered = owned.enter();
            // The global free function too.
            let s = threadline::span("global-under-unsampled");
            assert!(!s.is_recording());
        })
        .join()
        .unwrap();
    }

    // A remote parent that is not sampled: the parent-based sampler follows it.
    let remote = SpanContext::from_hex(
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        TraceOptions::NOT_SAMPLED,
    )
    .unwrap()
    .with_from_header(true);
    {
        let server = tracer.span_builder("server").parent(remote).enter();
        assert!(!server.is_recording());
        let _child = tracer.span("server-child");
    }

    // A tracer that samples nothing.
    let (off, off_exporter) = Tracer::builder()
        .sampler(threadline::AlwaysOffSampler)
        .in_memory();
    {
        let root = off.span("root");
        assert!(!root.is_recording());
        let _child = off.span("child");
        let _other_tracer_child = tracer.span("other-tracer-child");
    }

    assert!(flushed(&tracer, &exporter).is_empty());
    assert!(flushed(&off, &off_exporter).is_empty());
    assert_eq!(tracer.stats().exported, 0);
    assert_eq!(tracer.stats().dropped, 0);

    // And sampling resumes once the unsampled spans are gone.
    drop(tracer.span("sampled-again"));
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "sampled-again");
}

#[test]
fn remote_parent_from_header() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let remote = SpanContext::from_hex(
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        TraceOptions::SAMPLED,
    )
    .unwrap()
    .with_from_header(true);
    {
        let server = tracer
            .span_builder("GET /users")
            .kind(SpanKind::Server)
            .parent(remote.clone())
            .enter();
        assert!(server.is_recording());
        assert_eq!(server.trace_id(), remote.trace_id());
        let _db = tracer.span("db");
    }
    // The same through `attach`: spans made while the context is attached are its children.
    {
        let _attached = tracer.attach(&remote);
        let _handler = tracer.span("attached-handler");
    }
    // An owned span with a remote parent.
    drop(
        tracer
            .span_builder("owned-server")
            .parent(remote.clone())
            .start(),
    );

    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let remote_trace: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    let remote_span: SpanId = "00f067aa0ba902b7".parse().unwrap();
    for name in ["GET /users", "attached-handler", "owned-server"] {
        let span = by_name(&spans, name);
        assert!(span.parent_is_remote, "{name}");
        assert_eq!(span.trace_id, remote_trace, "{name}");
        assert_eq!(span.parent_span_id, Some(remote_span), "{name}");
    }
    assert_eq!(by_name(&spans, "GET /users").kind, SpanKind::Server);
    let db = by_name(&spans, "db");
    assert!(!db.parent_is_remote, "a child of a local span is local");
    assert_eq!(db.trace_id, remote_trace);
    assert_eq!(
        db.parent_span_id,
        Some(by_name(&spans, "GET /users").span_id)
    );
}

#[test]
fn links_set_at_start_and_later() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let other = SpanContext::from_hex(
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        TraceOptions::SAMPLED,
    )
    .unwrap();
    {
        let span = tracer
            .span_builder("linked")
            .link(Link::new(&other, LinkType::ParentLinkedSpan))
            .enter();
        span.add_link(
            Link::new(&other, LinkType::ChildLinkedSpan)
                .with_attributes([threadline::KeyValue::new("k", 1)]),
        );
    }
    let spans = flushed(&tracer, &exporter);
    let span = by_name(&spans, "linked");
    assert_eq!(span.parent_span_id, None, "a link is not a parent");
    assert_eq!(span.links.len(), 2);
    assert_eq!(span.links[0].link_type, LinkType::ParentLinkedSpan);
    assert_eq!(span.links[0].trace_id, other.trace_id());
    assert_eq!(span.links[0].span_id, other.span_id());
    assert_eq!(span.links[1].link_type, LinkType::ChildLinkedSpan);
    assert_eq!(span.links[1].attributes.len(), 1);
}

#[test]
fn timestamps_are_ordered_nested_and_near_the_wall_clock() {
    // Tick-to-time conversion is calibrated, not exact: allow a little skew between a parent
    // and its child, and some distance from `SystemTime::now()`.
    const SKEW: u64 = 2_000_000; // 2 ms
    const WALL: u64 = 50_000_000; // 50 ms

    let (tracer, exporter) = Tracer::builder().in_memory();
    let before = unix_now();
    {
        let _root = tracer.span("root");
        std::thread::sleep(Duration::from_millis(5));
        {
            let child = tracer.span("child");
            std::thread::sleep(Duration::from_millis(5));
            child.add_annotation("midway", []);
            let _grandchild = tracer.span("grandchild");
            std::thread::sleep(Duration::from_millis(2));
        }
        let owned = tracer.span_builder("owned").start();
        std::thread::sleep(Duration::from_millis(3));
        owned.end();
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = unix_now();

    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 4);
    for s in &spans {
        assert!(
            s.start_time_unix_nano <= s.end_time_unix_nano,
            "start after end: {s:?}"
        );
        assert!(
            s.start_time_unix_nano + WALL >= before && s.end_time_unix_nano <= after + WALL,
            "{} [{}, {}] outside wall clock [{before}, {after}]",
            s.name,
            s.start_time_unix_nano,
            s.end_time_unix_nano
        );
    }
    let root = by_name(&spans, "root");
    let child = by_name(&spans, "child");
    let grandchild = by_name(&spans, "grandchild");
    let owned = by_name(&spans, "owned");
    for (parent, kid) in [(root, child), (child, grandchild), (root, owned)] {
        assert!(
            kid.start_time_unix_nano + SKEW >= parent.start_time_unix_nano
                && kid.end_time_unix_nano <= parent.end_time_unix_nano + SKEW,
            "{} not within {}",
            kid.name,
            parent.name
        );
    }
    // The sleeps show up in the durations (with a generous upper bound for slow machines).
    assert!(root.duration_nanos() >= 20_000_000 - SKEW, "{root:?}");
    assert!(child.duration_nanos() >= 7_000_000 - SKEW, "{child:?}");
    assert!(owned.duration_nanos() >= 3_000_000 - SKEW, "{owned:?}");
    assert!(root.duration_nanos() < (after - before) + SKEW);
    // The child started after the root's first sleep.
    assert!(child.start_time_unix_nano >= root.start_time_unix_nano + 5_000_000 - SKEW);
    let midway = &child.annotations[0];
    assert!(
        midway.time_unix_nano + SKEW >= child.start_time_unix_nano + 5_000_000
            && midway.time_unix_nano <= child.end_time_unix_nano + SKEW
    );
}

// --- #[threadline::trace] and async --------------------------------------------------------

#[threadline::trace]
fn traced_outer(n: u32) -> u32 {
    (0..n).map(traced_inner).sum()
}

#[threadline::trace(name = "inner-renamed")]
fn traced_inner(i: u32) -> u32 {
    threadline::add_attribute_to_current_span("i", i);
    i * 2
}

#[test]
fn trace_attribute_on_sync_functions() {
    global();
    let trace;
    {
        let root = threadline::span("sync-root");
        trace = root.trace_id();
        assert_eq!(traced_outer(3), 6);
    }
    let spans = global_spans_of(trace);
    assert_eq!(spans.len(), 1 + 1 + 3, "{spans:#?}");
    let root = by_name(&spans, "sync-root");
    let outer = by_name(&spans, "traced_outer");
    assert_eq!(outer.parent_span_id, Some(root.span_id));
    let inner = all_named(&spans, "inner-renamed");
    assert_eq!(inner.len(), 3);
    let mut seen: Vec<_> = inner
        .iter()
        .map(|s| {
            assert_eq!(s.parent_span_id, Some(outer.span_id));
            s.attribute("i").cloned()
        })
        .collect();
    seen.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(seen, vec![Some(0.into()), Some(1.into()), Some(2.into())]);
}

#[threadline::trace]
async fn handler(request: u64, rounds: u64) -> TraceId {
    let trace = threadline::current_context().trace_id();
    threadline::add_attribute_to_current_span("request", request);
    for round in 0..rounds {
        tokio::task::yield_now().await;
        // A child made after an await, possibly on another worker thread.
        {
            let step = threadline::span("step");
            step.add_attribute("request", request);
            step.add_attribute("round", round);
        }
        // A spawned task carrying an explicit child span.
        let spawned = tokio::spawn(
            spawned_work(request, round).in_span(
                threadline::span_builder("spawned")
                    .attribute("request", request)
                    .start(),
            ),
        );
        spawned.await.unwrap();
        // A nested traced async fn that awaits before making its own child.
        traced_child(request, round).await;
        assert_eq!(
            threadline::current_context().trace_id(),
            trace,
            "still in the request's trace after awaits"
        );
    }
    trace
}

async fn spawned_work(request: u64, round: u64) {
    tokio::task::yield_now().await;
    let s = threadline::span("in-spawned");
    s.add_attribute("request", request);
    s.add_attribute("round", round);
}

#[threadline::trace(name = "traced_child")]
async fn traced_child(request: u64, round: u64) {
    threadline::add_attribute_to_current_span("request", request);
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
    let leaf = threadline::span("leaf");
    leaf.add_attribute("request", request);
    leaf.add_attribute("round", round);
}

#[test]
fn trace_attribute_on_async_fns_across_awaits_on_a_multi_thread_runtime() {
    global();
    const REQUESTS: u64 = 16;
    const ROUNDS: u64 = 5;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let traces: Vec<TraceId> = runtime.block_on(async {
        let tasks: Vec<_> = (0..REQUESTS)
            .map(|r| tokio::spawn(handler(r, ROUNDS)))
            .collect();
        let mut traces = Vec::new();
        for task in tasks {
            traces.push(task.await.unwrap());
        }
        traces
    });
    drop(runtime);
    assert_eq!(
        traces.iter().collect::<HashSet<_>>().len(),
        REQUESTS as usize,
        "every request is its own trace"
    );

    for (request, &trace) in traces.iter().enumerate() {
        assert!(trace.is_valid());
        let request = request as u64;
        let spans = global_spans_of(trace);
        // handler + per round: step, spawned, in-spawned, traced_child, leaf
        assert_eq!(
            spans.len() as u64,
            1 + ROUNDS * 5,
            "request {request}: {spans:#?}"
        );
        let root = by_name(&spans, "handler");
        assert_eq!(root.parent_span_id, None);
        assert_eq!(root.attribute("request"), Some(&request.into()));
        let index: HashMap<SpanId, &SpanData> = spans.iter().map(|s| (s.span_id, s)).collect();
        let parent_name = |s: &SpanData| {
            let parent = s.parent_span_id.expect("has a parent");
            index
                .get(&parent)
                .map(|p| p.name.to_string())
                .unwrap_or_else(|| panic!("parent of {s:?} is not in the trace"))
        };
        for s in &spans {
            assert_eq!(s.trace_id, trace);
            if s.name != "handler" {
                assert_eq!(
                    s.attribute("request"),
                    Some(&request.into()),
                    "{s:?} in the wrong trace"
                );
            }
        }
        for s in all_named(&spans, "step") {
            assert_eq!(s.parent_span_id, Some(root.span_id));
        }
        for s in all_named(&spans, "spawned") {
            assert_eq!(s.parent_span_id, Some(root.span_id));
        }
        for s in all_named(&spans, "traced_child") {
            assert_eq!(s.parent_span_id, Some(root.span_id));
        }
        for s in all_named(&spans, "in-spawned") {
            assert_eq!(parent_name(s), "spawned");
        }
        for s in all_named(&spans, "leaf") {
            assert_eq!(parent_name(s), "traced_child");
        }
        // Every round's leaf and in-spawned span is there, once.
        for name in ["step", "in-spawned", "leaf"] {
            let mut rounds: Vec<_> = all_named(&spans, name)
                .iter()
                .map(|s| match s.attribute("round") {
                    Some(threadline::Value::I64(r)) => *r as u64,
                    other => panic!("{name} round {other:?}"),
                })
                .collect();
            rounds.sort_unstable();
            assert_eq!(rounds, (0..ROUNDS).collect::<Vec<_>>(), "{name}");
        }
        // The handler span covers its children in time.
        for s in &spans {
            assert!(s.start_time_unix_nano + 2_000_000 >= root.start_time_unix_nano);
            assert!(s.end_time_unix_nano <= root.end_time_unix_nano + 2_000_000);
        }
    }
}

#[test]
fn in_span_on_a_current_thread_runtime_and_under_a_local_parent() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let root_id;
    {
        let root = tracer.span("root");
        root_id = root.span_id();
        // Built while `root` is current: a child of it, even though it is polled later.
        let a = tracer.span_builder("a").start();
        let b = tracer.span_builder("b").start();
        let child_tracer = tracer.clone();
        let work = |name: &'static str| {
            let tracer = child_tracer.clone();
            async move {
                for i in 0..3 {
                    tokio::task::yield_now().await;
                    let s = tracer.span(name);
                    s.add_attribute("i", i);
                }
            }
        };
        runtime.block_on(async {
            // Interleaved on one thread: the spans must not leak into each other.
            tokio::join!(work("in-a").in_span(a), work("in-b").in_span(b));
        });
    }
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 1 + 2 + 6, "{spans:#?}");
    let a = by_name(&spans, "a");
    let b = by_name(&spans, "b");
    assert_eq!(a.parent_span_id, Some(root_id));
    assert_eq!(b.parent_span_id, Some(root_id));
    for s in all_named(&spans, "in-a") {
        assert_eq!(s.parent_span_id, Some(a.span_id));
    }
    for s in all_named(&spans, "in-b") {
        assert_eq!(s.parent_span_id, Some(b.span_id));
    }
}

#[test]
fn dropping_an_in_span_future_early_ends_its_span() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let never = std::future::pending::<()>().in_span(tracer.span_builder("cancelled").start());
        // Poll once, then drop.
        let timed_out = tokio::time::timeout(Duration::from_millis(1), never).await;
        assert!(timed_out.is_err());
    });
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "cancelled");
    assert!(spans[0].end_time_unix_nano >= spans[0].start_time_unix_nano);
}

#[test]
fn flush_delivers_ended_children_of_a_span_still_open_on_this_thread() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let root = tracer.span("root");
    for _ in 0..10 {
        drop(tracer.span("child"));
    }
    let spans = flushed(&tracer, &exporter);
    assert_eq!(all_named(&spans, "child").len(), 10, "{spans:#?}");
    assert!(
        all_named(&spans, "root").is_empty(),
        "the root has not ended"
    );
    drop(root);
    let spans = flushed(&tracer, &exporter);
    let root = by_name(&spans, "root");
    for child in all_named(&spans, "child") {
        assert_eq!(child.parent_span_id, Some(root.span_id));
    }
}
