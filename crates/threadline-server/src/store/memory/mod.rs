//! The in-memory store: bounded by a span count, evicting the oldest traces first.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use threadline::{SpanData, SpanKind, TraceId};

use super::{
    trace_matches, DependencyLink, DependencyLinker, Operation, SpanStore, StoreCounters,
    StoreError, TraceQuery, PEER_SERVICE,
};

/// A store that keeps at most `max_spans` spans in memory.
///
/// When a batch takes the store over its bound, whole traces are evicted in the order they
/// were first seen (oldest first) until it fits again; evicted spans are counted in
/// [`StoreCounters::evicted`]. A single trace larger than the bound is evicted too: the bound
/// is never exceeded after an append.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_server::store::{MemoryStore, SpanStore};
///
/// let store = MemoryStore::new(1);
/// store.append(vec![SpanData::new(TraceId(1), SpanId(1), "a")]).unwrap();
/// store.append(vec![SpanData::new(TraceId(2), SpanId(2), "b")]).unwrap();
/// assert!(store.trace(TraceId(1)).unwrap().is_none());
/// assert_eq!(store.counters().evicted, 1);
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    max_spans: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    traces: HashMap<TraceId, Vec<SpanData>>,
    /// Trace ids in first-seen order: the eviction order.
    order: VecDeque<TraceId>,
    span_count: usize,
    /// Service -> operation -> number of stored spans carrying it, so that eviction can drop
    /// what no stored span has any more.
    operations: BTreeMap<String, HashMap<Operation, usize>>,
    /// Service -> remote service -> number of stored spans naming it.
    remote_services: HashMap<String, BTreeMap<String, usize>>,
    counters: StoreCounters,
}

impl MemoryStore {
    /// An empty store holding at most `max_spans` spans.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_server::store::MemoryStore;
    ///
    /// let store = MemoryStore::new(100_000);
    /// assert_eq!((store.max_spans(), store.span_count()), (100_000, 0));
    /// ```
    pub fn new(max_spans: usize) -> Self {
        MemoryStore {
            max_spans,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The bound given to [`MemoryStore::new`] (example there).
    pub fn max_spans(&self) -> usize {
        self.max_spans
    }

    /// The number of spans held now, at most [`MemoryStore::max_spans`] (example at
    /// [`MemoryStore::new`]).
    pub fn span_count(&self) -> usize {
        self.lock().span_count
    }

    // A panic while holding the lock cannot leave `Inner` half-updated in a way that matters
    // more than losing the store, so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn remote_service_of(span: &SpanData) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == PEER_SERVICE)
        .map(|kv| kv.value.to_string())
        .filter(|name| !name.is_empty())
}

fn operation_of(span: &SpanData) -> (String, Operation) {
    (
        span.resource.service_name.to_string(),
        Operation {
            name: span.name.to_string(),
            span_kind: span.kind,
        },
    )
}

impl Inner {
    fn index(&mut self, span: &SpanData) {
        if let Some(remote) = remote_service_of(span) {
            *self
                .remote_services
                .entry(span.resource.service_name.to_string())
                .or_default()
                .entry(remote)
                .or_insert(0) += 1;
        }
        let (service, operation) = operation_of(span);
        *self
            .operations
            .entry(service)
            .or_default()
            .entry(operation)
            .or_insert(0) += 1;
    }

    fn unindex(&mut self, span: &SpanData) {
        if let Some(remote) = remote_service_of(span) {
            let service = &*span.resource.service_name;
            if let Some(remotes) = self.remote_services.get_mut(service) {
                if let Some(count) = remotes.get_mut(&remote) {
                    *count -= 1;
                    if *count == 0 {
                        remotes.remove(&remote);
                    }
                }
                if remotes.is_empty() {
                    self.remote_services.remove(service);
                }
            }
        }
        let (service, operation) = operation_of(span);
        if let Some(ops) = self.operations.get_mut(&service) {
            if let Some(count) = ops.get_mut(&operation) {
                *count -= 1;
                if *count == 0 {
                    ops.remove(&operation);
                }
            }
            if ops.is_empty() {
                self.operations.remove(&service);
            }
        }
    }

    fn evict_oldest(&mut self) -> bool {
        let Some(trace_id) = self.order.pop_front() else {
            return false;
        };
        if let Some(spans) = self.traces.remove(&trace_id) {
            for span in &spans {
                self.unindex(span);
            }
            self.span_count -= spans.len();
            self.counters.evicted += spans.len() as u64;
        }
        true
    }
}

impl SpanStore for MemoryStore {
    fn append(&self, spans: Vec<SpanData>) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for span in spans {
            inner.index(&span);
            inner.span_count += 1;
            inner.counters.stored += 1;
            let trace_id = span.trace_id;
            match inner.traces.get_mut(&trace_id) {
                Some(trace) => trace.push(span),
                None => {
                    inner.traces.insert(trace_id, vec![span]);
                    inner.order.push_back(trace_id);
                }
            }
        }
        while inner.span_count > self.max_spans {
            if !inner.evict_oldest() {
                break;
            }
        }
        Ok(())
    }

    fn trace(&self, trace_id: TraceId) -> Result<Option<Vec<SpanData>>, StoreError> {
        Ok(self.lock().traces.get(&trace_id).cloned())
    }

    fn services(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().operations.keys().cloned().collect())
    }

    fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError> {
        let inner = self.lock();
        let mut operations: Vec<Operation> = inner
            .operations
            .get(service)
            .map(|ops| ops.keys().cloned().collect())
            .unwrap_or_default();
        operations.sort_by(|a, b| {
            (a.name.as_str(), kind_rank(a.span_kind))
                .cmp(&(b.name.as_str(), kind_rank(b.span_kind)))
        });
        Ok(operations)
    }

    fn remote_services(&self, service: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()
            .remote_services
            .get(service)
            .map(|remotes| remotes.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Vec<SpanData>>, StoreError> {
        let inner = self.lock();
        let mut found: Vec<(u64, &Vec<SpanData>)> = inner
            .traces
            .values()
            .filter(|spans| trace_matches(spans, query))
            .map(|spans| {
                let start = spans
                    .iter()
                    .map(|s| s.start_time_unix_nano)
                    .min()
                    .unwrap_or(0);
                (start, spans)
            })
            .collect();
        found.sort_by_key(|(start, _)| std::cmp::Reverse(*start));
        Ok(found
            .into_iter()
            .take(query.limit)
            .map(|(_, spans)| spans.clone())
            .collect())
    }

    fn dependencies(
        &self,
        start_unix_nano: u64,
        end_unix_nano: u64,
    ) -> Result<Vec<DependencyLink>, StoreError> {
        let inner = self.lock();
        let mut linker = DependencyLinker::default();
        for spans in inner.traces.values() {
            let start = spans.iter().map(|s| s.start_time_unix_nano).min();
            if start.is_some_and(|start| (start_unix_nano..=end_unix_nano).contains(&start)) {
                linker.add_trace(spans);
            }
        }
        Ok(linker.finish())
    }

    fn counters(&self) -> StoreCounters {
        self.lock().counters
    }
}

fn kind_rank(kind: SpanKind) -> u8 {
    kind as u8
}
