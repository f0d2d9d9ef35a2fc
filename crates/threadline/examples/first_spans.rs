//! Seed 002's first spans: tagged spans, nested spans made explicit children of their parent,
//! and a parent with one CLIENT child per (simulated) request recording success or failure.

use threadline::{SpanKind, Status, StatusCode};

fn main() {
    let _tracing = threadline_export::init();
    let tracer = threadline::tracer();

    // A span with a tag.
    {
        let span = tracer.span_builder("first-span").root().enter();
        span.add_attribute("first-tag", "100");
    }

    // Nested spans: `third-span` is a child of `second-span` because it is current.
    {
        let second = tracer.span_builder("second-span").root().enter();
        second.add_attribute("second-tag", "90");
        let third = tracer.span("third-span");
        third.add_attribute("third-tag", "80");
    }

    // An explicit parent: `fifth-span` is made a child of `fourth-span` by its context, as
    // with OpenTracing's `child_of`.
    {
        let fourth = tracer.span_builder("fourth-span").root().start();
        fourth.add_attribute("fourth-tag", "60");
        let fifth = tracer
            .span_builder("fifth-span")
            .parent(fourth.context())
            .start();
        fifth.add_attribute("fifth-tag", "80");
    }

    // A parent with a child per request; tags say which ones worked.
    {
        let jobs = tracer.span_builder("get-python-jobs").root().enter();
        let companies = [("acme", true), ("initech", false), ("globex", true)];
        jobs.add_attribute("jobs-count", companies.len());
        for (company, reachable) in companies {
            let site = tracer
                .span_builder(company)
                .kind(SpanKind::Client)
                .attribute("http.request.method", "GET")
                .attribute("url.full", format!("http://{company}.invalid/"))
                .enter();
            if reachable {
                site.add_attribute("success", true);
                site.set_status(Status::ok());
            } else {
                site.add_attribute("success", false);
                site.set_status(Status::new(StatusCode::Unavailable, "unable to get site"));
            }
        }
    }
}
