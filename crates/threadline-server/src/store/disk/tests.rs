use std::sync::Arc;

use threadline::{KeyValue, SpanKind, TraceId};

use super::{DiskOptions, DiskStore, DAY, HOUR};
use crate::store::suite::{ids, span, span_store_suite, MS};
use crate::store::{Operation, SpanStore, TagFilter, TraceQuery};

fn options() -> DiskOptions {
    DiskOptions {
        background_retention: false,
        cache_bytes: 8 * 1024 * 1024,
        ..DiskOptions::default()
    }
}

fn open_temp() -> (DiskStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (DiskStore::open(dir.path(), options()).unwrap(), dir)
}

span_store_suite!(open_temp());

#[test]
fn reopening_serves_the_same_traces_services_and_operations() {
    let dir = tempfile::tempdir().unwrap();
    let mut tagged = span(1, 1, "web", "get", 100, 50);
    tagged.kind = SpanKind::Server;
    tagged.attributes.push(KeyValue::new("http.method", "GET"));
    tagged.attributes.push(KeyValue::new("peer.service", "db"));
    let before = {
        let store = DiskStore::open(dir.path(), options()).unwrap();
        store
            .append(vec![tagged, span(1, 2, "db", "select", 110, 20)])
            .unwrap();
        store
            .append(vec![span(2, 3, "db", "insert", 300, 1)])
            .unwrap();
        assert_eq!(store.counters().stored, 3);
        assert!(store.counters().bytes_on_disk > 0);
        store.trace(TraceId(1)).unwrap().unwrap()
    };
    let store = DiskStore::open(dir.path(), options()).unwrap();
    assert_eq!(store.trace(TraceId(1)).unwrap().unwrap(), before);
    assert_eq!(store.services().unwrap(), ["db", "web"]);
    assert_eq!(
        store.operations("web").unwrap(),
        [Operation {
            name: "get".into(),
            span_kind: SpanKind::Server
        }]
    );
    assert_eq!(store.remote_services("web").unwrap(), ["db"]);
    let query = TraceQuery {
        tags: TagFilter::parse_zipkin("http.method=GET"),
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [1]);
    // appends after reopening add to what is there, later chunks last
    store
        .append(vec![span(1, 4, "web", "late", 90, 1)])
        .unwrap();
    let trace = store.trace(TraceId(1)).unwrap().unwrap();
    assert_eq!(trace.len(), 3);
    assert_eq!(trace[2].name, "late");
    assert_eq!(store.counters().stored, 1);
}

#[test]
fn retention_drops_whole_buckets_past_their_age() {
    let (store, _dir) = open_temp();
    // a retention of 7 days keeps day buckets
    assert_eq!(
        options().bucket_width(),
        std::time::Duration::from_nanos(DAY)
    );
    let day0 = 20_000 * DAY;
    store
        .append_received_at(vec![span(1, 1, "old", "a", 1, 1)], day0 + HOUR)
        .unwrap();
    store
        .append_received_at(
            vec![span(2, 2, "new", "b", 2, 1), span(2, 3, "new", "c", 2, 1)],
            day0 + DAY + HOUR,
        )
        .unwrap();
    // a later span of the old trace arrives in the newer bucket and stays with it
    store
        .append_received_at(vec![span(1, 4, "old", "d", 3, 1)], day0 + DAY + 2 * HOUR)
        .unwrap();
    assert_eq!(store.services().unwrap(), ["new", "old"]);
    // day 0's data is 7 days old only once day 0 has ended 7 days ago
    assert_eq!(store.remove_expired(day0 + 7 * DAY + HOUR).unwrap(), 0);
    assert_eq!(store.remove_expired(day0 + 8 * DAY).unwrap(), 1);
    assert_eq!(store.counters().evicted, 1);
    let old = store.trace(TraceId(1)).unwrap().unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].name, "d");
    assert_eq!(store.operations("old").unwrap()[0].name, "d");
    assert_eq!(store.trace(TraceId(2)).unwrap().unwrap().len(), 2);
    assert_eq!(store.remove_expired(day0 + 9 * DAY).unwrap(), 3);
    assert!(store.services().unwrap().is_empty());
    assert!(store.trace(TraceId(2)).unwrap().is_none());
    assert!(store
        .find_traces(&TraceQuery::default())
        .unwrap()
        .is_empty());
    // and the removal holds after reopening
    let dir = store.dir().to_path_buf();
    drop(store);
    let store = DiskStore::open(&dir, options()).unwrap();
    assert!(store.services().unwrap().is_empty());
}

#[test]
fn bucket_width_follows_the_retention() {
    let width = |hours: u64| {
        DiskOptions {
            retention: std::time::Duration::from_secs(hours * 3600),
            ..options()
        }
        .bucket_width()
        .as_secs()
    };
    assert_eq!(width(7 * 24), 86_400);
    assert_eq!(width(12), 3600);
    assert_eq!(width(1), 60);
}

#[test]
fn newest_first_holds_across_buckets_and_many_chunks() {
    let (store, _dir) = open_temp();
    let day0 = 20_000 * DAY;
    // traces whose start order differs from their arrival order, over three buckets
    let mut expected = Vec::new();
    for i in 0..60u64 {
        let start = (i * 37) % 60;
        let trace = u128::from(i) + 1;
        let mut s = span(trace, i + 1, "svc", "op", start, 1);
        if i % 3 == 0 {
            s.attributes.push(KeyValue::new("pick", "yes"));
            expected.push((start, trace));
        }
        store
            .append_received_at(vec![s], day0 + (i % 3) * DAY)
            .unwrap();
    }
    expected.sort_by(|a, b| b.cmp(a));
    let want: Vec<u128> = expected.iter().take(5).map(|(_, t)| *t).collect();
    let query = TraceQuery {
        service: Some("svc".into()),
        tags: TagFilter::parse_zipkin("pick=yes"),
        limit: 5,
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), want);
    let query = TraceQuery {
        limit: 100,
        ..TraceQuery::default()
    };
    let starts: Vec<u64> = store
        .find_traces(&query)
        .unwrap()
        .iter()
        .map(|t| t[0].start_time_unix_nano / MS)
        .collect();
    assert_eq!(starts, (0..60).rev().collect::<Vec<_>>());
}

#[test]
fn concurrent_appends_are_all_kept() {
    let (store, _dir) = open_temp();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for b in 0..25u64 {
                    let batch = (0..20u64)
                        .map(|i| {
                            let trace = u128::from(t * 1000 + b * 20 + i / 4) + 1;
                            span(trace, t * 1000 + b * 20 + i + 1, "svc", "op", b, 1)
                        })
                        .collect();
                    store.append(batch).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(store.counters().stored, 2000);
    let all = store
        .find_traces(&TraceQuery {
            limit: usize::MAX,
            ..TraceQuery::default()
        })
        .unwrap();
    assert_eq!(all.len(), 500);
    assert!(all.iter().all(|t| t.len() == 4));
}

#[test]
fn a_directory_in_use_is_refused() {
    let (_store, dir) = open_temp();
    let error = DiskStore::open(dir.path(), options()).unwrap_err();
    assert!(error.to_string().contains("cannot open"), "{error}");
}

#[test]
fn chunks_stored_under_their_own_key_read_next_to_pointers_into_batches() {
    let (store, _dir) = open_temp();
    let now = super::now_unix_nano();
    store
        .append_received_at(vec![span(7, 1, "web", "get", 100, 50)], now)
        .unwrap();
    // a chunk of the same trace as stores wrote them before batches were compressed whole:
    // the chunk itself, compressed, under its data key
    let old = span(7, 2, "db", "select", 110, 20);
    let mut encoded = Vec::new();
    super::codec::encode_chunk(TraceId(7), &[&old], &mut encoded);
    let bucket = store.shared.bucket_for(now).unwrap();
    bucket
        .data
        .insert(
            super::keys::data_key(TraceId(7), u64::MAX),
            super::compress(&encoded),
        )
        .unwrap();
    let trace = store.trace(TraceId(7)).unwrap().unwrap();
    let span_ids: Vec<u64> = trace.iter().map(|s| s.span_id.0).collect();
    assert_eq!(span_ids, [1, 2]);
    assert_eq!(trace[1], old);
    // a batch's chunks pointing past its end are corrupt, not a panic
    bucket
        .data
        .insert(
            super::keys::data_key(TraceId(8), 1),
            super::keys::pointer(0, usize::MAX - 1, 10),
        )
        .unwrap();
    assert!(store.trace(TraceId(8)).is_err());
}

#[test]
fn index_entries_of_the_earlier_format_are_searched_with_the_current_ones() {
    let (store, _dir) = open_temp();
    let now = super::now_unix_nano();
    let mut get = span(7, 1, "web", "get", 100, 50);
    get.attributes.push(KeyValue::new("http.method", "GET"));
    store.append_received_at(vec![get], now).unwrap();
    // trace 9, later, as earlier versions indexed it: an entry of service "web" whose key
    // ends with `start | seq` and whose chunk summary has fixed-width durations and a
    // power-of-two filter (all bits set: it may hold anything)
    let old = span(9, 2, "web", "post", 200, 20);
    let mut encoded = Vec::new();
    super::codec::encode_chunk(TraceId(9), &[&old], &mut encoded);
    let bucket = store.shared.bucket_for(now).unwrap();
    bucket
        .data
        .insert(
            super::keys::data_key(TraceId(9), 1),
            super::compress(&encoded),
        )
        .unwrap();
    let start = 200 * MS;
    let mut key = super::keys::service_prefix("web");
    key.extend_from_slice(&start.to_be_bytes());
    key.extend_from_slice(&1_u64.to_be_bytes());
    let mut value = Vec::new();
    value.extend_from_slice(&9_u128.to_be_bytes());
    value.extend_from_slice(&1_u64.to_be_bytes());
    value.extend_from_slice(&start.to_be_bytes());
    value.push(16 + 8);
    value.extend_from_slice(&(20 * MS).to_le_bytes());
    value.extend_from_slice(&(20 * MS).to_le_bytes());
    value.extend_from_slice(&[0xff; 8]);
    bucket.index.insert(key, value).unwrap();
    let search = |span_name: Option<&str>, min_duration_ms: Option<u64>| {
        let query = TraceQuery {
            service: Some("web".into()),
            span_name: span_name.map(Into::into),
            min_duration_nanos: min_duration_ms.map(|ms| ms * MS),
            start_max_unix_nano: 1_000 * MS,
            ..TraceQuery::default()
        };
        ids(&store.find_traces(&query).unwrap())
    };
    // newest first across both formats
    assert_eq!(search(None, None), [9, 7]);
    assert_eq!(search(Some("post"), None), [9]);
    assert_eq!(search(Some("get"), None), [7]);
    // the old summary's durations are read: 20 ms is too short
    assert_eq!(search(None, Some(30)), [7]);
}
