//! The disk store: spans kept in a directory, on [fjall](https://docs.rs/fjall) (an LSM tree
//! with a journal), partitioned by arrival time so that retention drops whole partitions.
//!
//! # Layout
//!
//! An append groups its batch by trace: the spans of one trace from one batch are a *chunk*
//! (format in `disk/codec.rs`). The chunks of a batch are compressed together (LZ4) as one
//! value, so that the compression sees the whole batch and the store writes one large value
//! per append; under each chunk's key, its trace id and a sequence number, a small value says
//! where in the batch it is. A trace is thus one prefix scan per bucket, then one read of
//! each batch it is in (a search reading many traces decodes each batch once). Stores written
//! before batches were compressed whole hold each chunk compressed under its own key; they
//! read as before. The index has entries per batch, not per span or
//! chunk (`disk/keys.rs` describes them): one listing every chunk of the batch (the time
//! index) and one per service listing the chunks that hold its spans, with a summary per
//! chunk (span durations, and a bloom filter of span names, tag keys and `key=value` pairs)
//! that searches check before loading a trace. A batch of 512 spans thus writes about one key
//! per trace plus one per service. Services, operations and remote services are a few keys
//! per bucket, cached in memory. Index entries written before their format changed keep
//! their own format, which the key says; both read alike.
//!
//! Span names and tags have no postings of their own, so the index stays the same size
//! whatever the tags' cardinality (a request id per span costs nothing); the price is that a
//! search by a rare name or tag checks the summaries of every chunk of the service in the
//! time range, tens of nanoseconds each.
//!
//! Chunks go to the *bucket* of the time they arrive: a pair of keyspaces (data and index)
//! per bucket width (a day for a retention of two days or more, an hour for two hours or
//! more, a minute below). A bucket is dropped whole once everything in it is older than the
//! retention, so data stays between `retention` and `retention + width` after it arrived.
//!
//! # Durability
//!
//! [`SpanStore::append`] returns once its batch is in the journal and the journal is synced
//! to disk (`fdatasync`): an acknowledged batch survives a crash of the process or of the
//! machine, and is served again once the directory is reopened. Appends are encoded on the
//! caller's thread, then one writer thread commits every append waiting and syncs once for
//! all of them (group commit): the more appends arrive at once, the fewer syncs per append.
//! Each append is atomic: after a crash it is there whole or not at all. An append that fails
//! (disk full, I/O error) is not acknowledged; the store then refuses further writes until it
//! is reopened.

pub(crate) mod codec;
pub(crate) mod keys;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjall::{
    CompressionType, Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode,
};
use foldhash::fast::RandomState as FastHash;
use threadline::{SpanData, SpanKind, TraceId};

use super::{
    trace_matches, DependencyLink, DependencyLinker, Operation, SpanStore, StartedAppend,
    StoreCounters, StoreError, TraceQuery, PEER_SERVICE,
};
use keys::Summary;

const SECOND: u64 = 1_000_000_000;
/// The largest decoded chunk read back (1 GiB).
const MAX_CHUNK_BYTES: u32 = 1 << 30;
const HOUR: u64 = 3600 * SECOND;
const DAY: u64 = 24 * HOUR;

/// How a [`DiskStore`] keeps its data.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadline_server::store::DiskOptions;
///
/// let options = DiskOptions { retention: Duration::from_secs(12 * 3600), ..DiskOptions::default() };
/// assert_eq!(options.bucket_width(), Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskOptions {
    /// How long spans are kept after they arrived (at least; see [`DiskOptions::bucket_width`]
    /// for how much longer).
    pub retention: Duration,
    /// The block cache of the LSM tree, in bytes.
    pub cache_bytes: u64,
    /// Whether a background thread removes expired data (every minute at most); without it,
    /// call [`DiskStore::remove_expired`].
    pub background_retention: bool,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            retention: Duration::from_secs(7 * 24 * 3600),
            cache_bytes: 256 * 1024 * 1024,
            background_retention: true,
        }
    }
}

impl DiskOptions {
    /// The width of a time bucket, the unit retention removes: a day for a retention of two
    /// days or more, an hour for two hours or more, a minute below.
    pub fn bucket_width(&self) -> Duration {
        Duration::from_nanos(self.bucket_width_nanos())
    }

    fn bucket_width_nanos(&self) -> u64 {
        let retention = duration_nanos(self.retention);
        if retention >= 2 * DAY {
            DAY
        } else if retention >= 2 * HOUR {
            HOUR
        } else {
            60 * SECOND
        }
    }
}

fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_nanos)
        .unwrap_or(0)
}

fn failed(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{what}: {error}"))
}

/// A persistent [`SpanStore`] in a directory, with a retention period.
///
/// See the [module documentation](self) for the layout and what is durable when.
/// Reopening the directory serves the same traces, services and operations. One process at a
/// time may open a directory.
///
/// Queries have the memory store's semantics, with one difference at the edge of a time
/// range: a trace is found through its chunks (the spans of one trace from one append) that
/// start within `[start_min, start_max]`, so a trace whose first chunk starts in the range but
/// whose chunks of the service asked for all start after `start_max` is not found. Searches
/// read the index newest first and stop as soon as `limit` traces are certain; a search for
/// a rare tag or span name reads the summaries of every chunk of the service in the range.
/// Services, operations and remote services are those of the data held (removed with it).
///
/// [`StoreCounters::stored`] and [`StoreCounters::evicted`] count since the store was opened
/// (evicted: spans removed by retention); [`StoreCounters::bytes_on_disk`] is the size of
/// the directory's data now.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_server::store::{DiskOptions, DiskStore, SpanStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = DiskStore::open(dir.path(), DiskOptions::default()).unwrap();
/// store.append(vec![SpanData::new(TraceId(1), SpanId(1), "get")]).unwrap();
/// drop(store);
/// let store = DiskStore::open(dir.path(), DiskOptions::default()).unwrap();
/// assert_eq!(store.trace(TraceId(1)).unwrap().unwrap()[0].name, "get");
/// ```
pub struct DiskStore {
    shared: Arc<Shared>,
    writer: Option<(mpsc::Sender<Request>, std::thread::JoinHandle<()>)>,
    sweeper: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

/// An append on its way to the writer thread.
struct Request {
    bucket: Arc<Bucket>,
    /// The chunks and index entries, built on the appending thread; taken by the writer.
    batch: Option<fjall::OwnedWriteBatch>,
    prepared: Prepared,
    spans: u64,
    reply: Reply,
}

/// Where the writer thread answers an append: a thread waiting in
/// [`DiskStore::append_received_at`], or a task awaiting [`SpanStore::start_append`].
enum Reply {
    Thread(mpsc::SyncSender<Result<(), String>>),
    Task(tokio::sync::oneshot::Sender<Result<(), String>>),
}

impl Reply {
    fn send(self, result: Result<(), String>) {
        // the appender may have gone (its thread panicked, its request was cancelled):
        // nothing to tell then
        match self {
            Reply::Thread(sender) => drop(sender.send(result)),
            Reply::Task(sender) => drop(sender.send(result)),
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("disk store is closed".into())
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("dir", &self.shared.dir)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

struct Shared {
    db: Database,
    dir: PathBuf,
    options: DiskOptions,
    /// Buckets by start time.
    buckets: RwLock<BTreeMap<u64, Arc<Bucket>>>,
    /// The next chunk sequence number.
    next_seq: AtomicU64,
    stored: AtomicU64,
    evicted: AtomicU64,
}

struct Bucket {
    start: u64,
    width: u64,
    data: Keyspace,
    index: Keyspace,
    meta: Mutex<BucketMeta>,
}

#[derive(Default)]
struct BucketMeta {
    /// Service -> operation name -> bit set of span kinds.
    operations: BTreeMap<String, BTreeMap<String, u8>>,
    /// Service -> remote services.
    remotes: BTreeMap<String, BTreeSet<String>>,
    spans: u64,
    last_seq: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn kind_bit(kind: SpanKind) -> u8 {
    1 << (kind as u8)
}

const KINDS: [SpanKind; 6] = [
    SpanKind::Unspecified,
    SpanKind::Internal,
    SpanKind::Server,
    SpanKind::Client,
    SpanKind::Producer,
    SpanKind::Consumer,
];

fn bucket_name(start: u64, width: u64, part: char) -> String {
    format!("t{}w{}{part}", start / SECOND, width / SECOND)
}

/// The start and width (nanoseconds) of a bucket keyspace's name, and its part (`d` or `i`).
fn parse_bucket_name(name: &str) -> Option<(u64, u64, char)> {
    let rest = name.strip_prefix('t')?;
    let part = rest.chars().last()?;
    let (start, width) = rest[..rest.len() - 1].split_once('w')?;
    Some((
        start.parse::<u64>().ok()?.checked_mul(SECOND)?,
        width.parse::<u64>().ok()?.checked_mul(SECOND)?,
        part,
    ))
}

/// Both keyspaces of a bucket hold large values (batches, and index entries listing a batch's
/// chunks) under few keys: values go to blob files, written once, so that compactions only
/// move the keys (and the small chunk pointers). The blobs are not compressed again: batches
/// are LZ4 already, and the bloom filters of index entries do not compress; nor do the keys
/// and chunk pointers left in the tree (mostly trace ids), so its blocks are not compressed
/// either. No key filters: every read is a range or prefix scan, which they do not serve.
fn keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default()
        .filter_policy(fjall::config::FilterPolicy::disabled())
        .data_block_compression_policy(fjall::config::CompressionPolicy::all(CompressionType::None))
        .with_kv_separation(Some(
            KvSeparationOptions::default()
                .separation_threshold(256)
                .compression(CompressionType::None),
        ))
}

impl DiskStore {
    /// Opens the store in `dir`, creating it when missing, and starts the retention thread
    /// when [`DiskOptions::background_retention`] is set.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the directory cannot be created or read, is in use by
    /// another process, or holds data that does not read back.
    pub fn open(dir: impl AsRef<Path>, options: DiskOptions) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| failed("cannot create the data directory", e))?;
        let db = Database::builder(&dir)
            .cache_size(options.cache_bytes)
            .manual_journal_persist(true)
            // one background worker for flushes and compactions: with two, the second one
            // re-queues compaction requests while the first is busy, and spins doing so
            // (a tenth of the CPU under sustained ingest on two cores)
            .worker_threads(1)
            // the journal's large values are batches, LZ4 already, and index entries, bloom
            // filters mostly: compressing them again costs the writer thread and saves nothing
            .journal_compression(CompressionType::None)
            // what the journal holds is also in memtables until flushed: at fjall's default
            // of 512 MiB, a minute of sustained ingest took the process to 1.4-2.1 GiB; at
            // 128 MiB it stays under 350 MiB at the same rate (flushes start sooner)
            .max_journaling_size(128 * 1024 * 1024)
            .open()
            .map_err(|e| failed("cannot open the data directory", e))?;
        let mut buckets = BTreeMap::new();
        let mut last_seq = 0;
        for name in db.list_keyspace_names() {
            let Some((start, width, 'd')) = parse_bucket_name(&name) else {
                continue;
            };
            let bucket = open_bucket(&db, start, width)?;
            last_seq = last_seq.max(lock(&bucket.meta).last_seq);
            buckets.insert(start, Arc::new(bucket));
        }
        let shared = Arc::new(Shared {
            db,
            dir,
            options: options.clone(),
            buckets: RwLock::new(buckets),
            // sequence numbers only need to grow; the clock keeps them growing even when the
            // last checkpoint lags behind
            next_seq: AtomicU64::new(last_seq.saturating_add(1).max(now_unix_nano())),
            stored: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        });
        let writer = start_writer(&shared)?;
        let sweeper = options
            .background_retention
            .then(|| start_sweeper(&shared))
            .transpose()?;
        Ok(DiskStore {
            shared,
            writer: Some(writer),
            sweeper,
        })
    }

    /// The directory given to [`DiskStore::open`].
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Appends a batch as if it arrived at `received_unix_nano` (which picks its bucket);
    /// [`SpanStore::append`] is this with the current time. Durable on return, as `append`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the batch could not be written or synced.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::{SpanData, SpanId, TraceId};
    /// use threadline_server::store::{DiskOptions, DiskStore, SpanStore};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = DiskOptions { background_retention: false, ..DiskOptions::default() };
    /// let store = DiskStore::open(dir.path(), options).unwrap();
    /// let day = 86_400_000_000_000;
    /// store.append_received_at(vec![SpanData::new(TraceId(1), SpanId(1), "old")], 1_000 * day).unwrap();
    /// assert_eq!(store.remove_expired(1_008 * day).unwrap(), 1);
    /// assert!(store.trace(TraceId(1)).unwrap().is_none());
    /// ```
    pub fn append_received_at(
        &self,
        spans: Vec<SpanData>,
        received_unix_nano: u64,
    ) -> Result<(), StoreError> {
        if spans.is_empty() {
            return Ok(());
        }
        let bucket = self.shared.bucket_for(received_unix_nano)?;
        let (reply, replied) = mpsc::sync_channel(1);
        self.enqueue(spans, bucket, Reply::Thread(reply))?;
        replied
            .recv()
            .map_err(|_| closed())?
            .map_err(StoreError::Unavailable)
    }

    /// Encodes a batch on this thread and hands it to the writer thread, which answers on
    /// `reply` once it is committed and synced.
    fn enqueue(
        &self,
        spans: Vec<SpanData>,
        bucket: Arc<Bucket>,
        reply: Reply,
    ) -> Result<(), StoreError> {
        let spans_len = spans.len() as u64;
        let mut prepared = prepare(&spans, &self.shared.next_seq, &bucket);
        // the spans are encoded: free them on this thread, not the writer's
        drop(spans);
        // so are the keys and values the writer commits
        let mut batch = self.shared.db.batch();
        let (batch_key, batch_value) = std::mem::take(&mut prepared.batch);
        batch.insert(&bucket.data, batch_key.as_slice(), batch_value);
        for (key, value) in prepared.chunks.drain(..) {
            batch.insert(&bucket.data, key.as_slice(), value);
        }
        for (key, value) in prepared.entries.drain(..) {
            batch.insert(&bucket.index, key, value);
        }
        let writer = self.writer.as_ref().ok_or_else(closed)?;
        writer
            .0
            .send(Request {
                bucket,
                batch: Some(batch),
                prepared,
                spans: spans_len,
                reply,
            })
            .map_err(|_| closed())
    }

    /// Removes the buckets whose data is all older than the retention at `now_unix_nano`,
    /// and returns how many spans they held.
    ///
    /// The background thread calls this with the current time; tests call it with their own.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when a bucket could not be removed.
    pub fn remove_expired(&self, now_unix_nano: u64) -> Result<u64, StoreError> {
        self.shared.remove_expired(now_unix_nano)
    }
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.writer.take() {
            // the writer commits what was sent before it sees the channel close
            drop(stop);
            let _ = thread.join();
        }
        if let Some((stop, thread)) = self.sweeper.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

/// The thread that commits appends: it takes every append waiting, writes them as one batch
/// and syncs the journal once for all of them (group commit), then answers each.
fn start_writer(
    shared: &Arc<Shared>,
) -> Result<(mpsc::Sender<Request>, std::thread::JoinHandle<()>), StoreError> {
    let (send, receive) = mpsc::channel::<Request>();
    let shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name("threadline-store-writer".into())
        .spawn(move || {
            while let Ok(first) = receive.recv() {
                let mut group = vec![first];
                group.extend(receive.try_iter());
                let result = shared
                    .commit_group(&mut group)
                    .map_err(|StoreError::Unavailable(message)| message);
                for request in group {
                    request.reply.send(result.clone());
                }
            }
        })
        .map_err(|e| failed("cannot start the writer thread", e))?;
    Ok((send, thread))
}

fn start_sweeper(
    shared: &Arc<Shared>,
) -> Result<(mpsc::Sender<()>, std::thread::JoinHandle<()>), StoreError> {
    let (stop, stopped) = mpsc::channel::<()>();
    let weak = Arc::downgrade(shared);
    let interval =
        Duration::from_nanos((shared.options.bucket_width_nanos() / 10).clamp(SECOND, 60 * SECOND));
    let thread = std::thread::Builder::new()
        .name("threadline-retention".into())
        .spawn(move || loop {
            // the sender is dropped when the store is: that ends the wait and the thread
            match stopped.recv_timeout(interval) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let Some(shared) = weak.upgrade() else { return };
            if let Err(error) = shared.remove_expired(now_unix_nano()) {
                eprintln!("disk store retention failed: {error}");
            }
        })
        .map_err(|e| failed("cannot start the retention thread", e))?;
    Ok((stop, thread))
}

fn open_bucket(db: &Database, start: u64, width: u64) -> Result<Bucket, StoreError> {
    let open = |part| {
        db.keyspace(&bucket_name(start, width, part), keyspace_options)
            .map_err(|e| failed("cannot open a bucket", e))
    };
    let bucket = Bucket {
        start,
        width,
        data: open('d')?,
        index: open('i')?,
        meta: Mutex::new(BucketMeta::default()),
    };
    let mut meta = BucketMeta::default();
    if let Some(checkpoint) = bucket
        .index
        .get(keys::CHECKPOINT)
        .map_err(|e| failed("cannot read a bucket", e))?
    {
        let read = |at: usize| {
            checkpoint
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .unwrap_or(0)
        };
        meta.spans = read(0);
        meta.last_seq = read(8);
    }
    for entry in bucket.index.prefix(b"M") {
        let key = entry.key().map_err(|e| failed("cannot read a bucket", e))?;
        let (service, second, kind) =
            keys::parse_meta(&key).map_err(|e| failed("cannot read a bucket", e))?;
        match key.get(..2) {
            Some(keys::META_SERVICE) => {
                meta.operations.entry(service).or_default();
            }
            Some(keys::META_OPERATION) => {
                *meta
                    .operations
                    .entry(service)
                    .or_default()
                    .entry(second)
                    .or_default() |= 1 << kind.min(7);
            }
            Some(keys::META_REMOTE) => {
                meta.remotes.entry(service).or_default().insert(second);
            }
            _ => {}
        }
    }
    *lock(&bucket.meta) = meta;
    Ok(bucket)
}

/// What one append writes: chunks and index entries, built before taking the commit lock.
struct Prepared {
    /// (data key, pointer into the batch), one per chunk
    chunks: Vec<([u8; 24], Vec<u8>)>,
    /// (data key, value) of the batch: every chunk, compressed as one
    batch: ([u8; 9], Vec<u8>),
    /// (index key, summary)
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// (service, operation name, kind), distinct.
    operations: Vec<(String, String, SpanKind)>,
    /// (service, remote service), distinct.
    remotes: Vec<(String, String)>,
    last_seq: u64,
}

/// A chunk as an index entry lists it.
struct Ref {
    trace_id: TraceId,
    seq: u64,
    start: u64,
    summary: Vec<u8>,
}

fn prepare(spans: &[SpanData], next_seq: &AtomicU64, bucket: &Bucket) -> Prepared {
    // chunks in first-seen order of their trace, spans in received order
    let mut chunk_of: HashMap<TraceId, usize, FastHash> = HashMap::default();
    let mut grouped: Vec<Vec<&SpanData>> = Vec::new();
    for span in spans {
        let index = *chunk_of.entry(span.trace_id).or_insert_with(|| {
            grouped.push(Vec::new());
            grouped.len() - 1
        });
        grouped[index].push(span);
    }
    let first_seq = next_seq.fetch_add(grouped.len() as u64, Ordering::Relaxed);
    let mut prepared = Prepared {
        chunks: Vec::with_capacity(grouped.len()),
        batch: ([0; 9], Vec::new()),
        entries: Vec::new(),
        operations: Vec::new(),
        remotes: Vec::new(),
        last_seq: first_seq + grouped.len() as u64 - 1,
    };
    let mut seen_operations: HashSet<(&str, &str, SpanKind), FastHash> = HashSet::default();
    let mut text = String::new();
    // every chunk of the batch, one after the other, compressed as one value (sized for
    // spans of a few hundred bytes, so that it rarely grows)
    let mut encoded = Vec::with_capacity(spans.len() * 384);
    // the hashes of the chunk's spans, one after the other; span i's are at offsets i..i+1
    let mut hashes: Vec<u64> = Vec::new();
    let mut offsets: Vec<usize> = Vec::new();
    let mut all_refs = Vec::with_capacity(grouped.len());
    // the batch's services, first seen first, and the refs of each
    let mut services = Services::default();
    let mut service_refs: Vec<Vec<Ref>> = Vec::new();
    // each span of the chunk's service, as an index into `services`, and those distinct
    let mut span_services: Vec<usize> = Vec::new();
    let mut chunk_services: Vec<usize> = Vec::new();
    let mut key_hashes = keys::KeyHashes::default();
    for (offset, chunk) in grouped.iter().enumerate() {
        let seq = first_seq + offset as u64;
        let trace_id = chunk[0].trace_id;
        let chunk_start = encoded.len();
        codec::encode_chunk(trace_id, chunk, &mut encoded);
        prepared.chunks.push((
            keys::data_key(trace_id, seq),
            keys::pointer(first_seq, chunk_start, encoded.len() - chunk_start),
        ));
        let start = chunk
            .iter()
            .map(|s| s.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        hashes.clear();
        offsets.clear();
        span_services.clear();
        for span in chunk {
            offsets.push(hashes.len());
            keys::span_hashes(span, &mut key_hashes, &mut text, &mut hashes);
            span_services.push(services.index_of(span));
        }
        offsets.push(hashes.len());
        let spans_hashes = SpanHashes {
            hashes: &hashes,
            offsets: &offsets,
        };
        all_refs.push(Ref {
            trace_id,
            seq,
            start,
            summary: summary(chunk, &spans_hashes, keys::ALL_FILTER_BITS, |_| true),
        });
        chunk_services.clone_from(&span_services);
        chunk_services.sort_unstable();
        chunk_services.dedup();
        for &service in &chunk_services {
            let of_service = |i: usize| span_services[i] == service;
            let start = chunk
                .iter()
                .enumerate()
                .filter(|(i, _)| of_service(*i))
                .map(|(_, s)| s.start_time_unix_nano)
                .min()
                .unwrap_or(0);
            if service_refs.len() <= service {
                service_refs.resize_with(service + 1, Vec::new);
            }
            service_refs[service].push(Ref {
                trace_id,
                seq,
                start,
                summary: summary(chunk, &spans_hashes, keys::SERVICE_FILTER_BITS, of_service),
            });
        }
        for span in chunk {
            let service = &*span.resource.service_name;
            seen_operations.insert((service, &span.name, span.kind));
            let Some(remote) = span.attributes.iter().find(|kv| kv.key == PEER_SERVICE) else {
                continue;
            };
            let remote: std::borrow::Cow<'_, str> = match remote.value.as_str() {
                Some(text) => text.into(),
                None => remote.value.to_string().into(),
            };
            // few distinct pairs per batch: a linear search is cheapest
            if !remote.is_empty()
                && !prepared
                    .remotes
                    .iter()
                    .any(|(s, r)| s == service && *r == *remote)
            {
                prepared
                    .remotes
                    .push((service.to_string(), remote.into_owned()));
            }
        }
    }
    prepared.batch = (keys::batch_key(first_seq), compress(&encoded));
    // only what the bucket does not list yet goes to the writer (which checks again, under
    // its lock, as another append may have added it since)
    let meta = lock(&bucket.meta);
    for (service, name, kind) in seen_operations {
        let kinds = meta
            .operations
            .get(service)
            .and_then(|ops| ops.get(name))
            .copied()
            .unwrap_or(0);
        if kinds & kind_bit(kind) == 0 {
            prepared
                .operations
                .push((service.to_string(), name.to_string(), kind));
        }
    }
    prepared.remotes.retain(|(service, remote)| {
        !meta
            .remotes
            .get(service.as_str())
            .is_some_and(|r| r.contains(remote.as_str()))
    });
    drop(meta);
    push_entries(&mut prepared.entries, &[keys::ALL], all_refs);
    for (service, refs) in services.names.iter().zip(service_refs) {
        push_entries(&mut prepared.entries, &keys::service_prefix(service), refs);
    }
    prepared
}

/// The services of a batch's spans, each once, in the order first seen.
#[derive(Default)]
struct Services<'a> {
    names: Vec<&'a str>,
    /// (resource, index of its service): a batch's spans share a few resources
    resources: Vec<(&'a Arc<threadline::Resource>, usize)>,
}

impl<'a> Services<'a> {
    fn index_of(&mut self, span: &'a SpanData) -> usize {
        if let Some((_, index)) = self
            .resources
            .iter()
            .find(|(resource, _)| Arc::ptr_eq(resource, &span.resource))
        {
            return *index;
        }
        let name = &*span.resource.service_name;
        let index = self
            .names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| {
                self.names.push(name);
                self.names.len() - 1
            });
        // a batch decoded from an exporter has one resource per group; many spans with
        // resources of their own (a batch assembled elsewhere) just miss this cache
        if self.resources.len() < 64 {
            self.resources.push((&span.resource, index));
        }
        index
    }
}

/// `encoded` in LZ4 with its size first (what `decompress_size_prepended` reads).
fn compress(encoded: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(encoded)
}

/// What [`compress`] compressed.
fn decompress(value: &[u8]) -> Result<Vec<u8>, StoreError> {
    // a size past any request body limit is corruption, not a reason to allocate that much
    let size = value
        .first_chunk::<4>()
        .map_or(0, |b| u32::from_le_bytes(*b));
    if size > MAX_CHUNK_BYTES {
        return Err(failed(
            "cannot read a trace",
            "stored chunk is corrupt: too large",
        ));
    }
    lz4_flex::block::decompress_size_prepended(value).map_err(|e| failed("cannot read a trace", e))
}

/// The batches one read has decoded, the few latest, so that a search reading many traces
/// of the same appends decompresses each batch once.
#[derive(Default)]
struct Batches {
    /// (bucket start, batch sequence number, decoded batch), oldest first
    recent: Vec<(u64, u64, Arc<Vec<u8>>)>,
}

impl Batches {
    const KEPT: usize = 8;

    fn get(&mut self, bucket: &Bucket, seq: u64) -> Result<Arc<Vec<u8>>, StoreError> {
        if let Some((_, _, batch)) = self
            .recent
            .iter()
            .find(|(start, s, _)| *start == bucket.start && *s == seq)
        {
            return Ok(batch.clone());
        }
        let value = bucket
            .data
            .get(keys::batch_key(seq))
            .map_err(|e| failed("cannot read a trace", e))?
            .ok_or_else(|| failed("cannot read a trace", "a chunk's batch is missing"))?;
        let batch = Arc::new(decompress(&value)?);
        if self.recent.len() == Self::KEPT {
            self.recent.remove(0);
        }
        self.recent.push((bucket.start, seq, batch.clone()));
        Ok(batch)
    }
}

/// Appends the index entries listing `refs` under `prefix`: one, or more when their starts
/// are more than [`keys::ENTRY_SPREAD`] apart.
fn push_entries(entries: &mut Vec<(Vec<u8>, Vec<u8>)>, prefix: &[u8], mut refs: Vec<Ref>) {
    refs.sort_by_key(|r| r.start);
    let mut rest = &refs[..];
    while let Some(first) = rest.first() {
        let len = rest
            .iter()
            .position(|r| r.start - first.start > keys::ENTRY_SPREAD)
            .unwrap_or(rest.len());
        let (run, after) = rest.split_at(len);
        rest = after;
        let latest = run.last().map_or(first.start, |r| r.start);
        let first_seq = run.iter().map(|r| r.seq).min().unwrap_or(first.seq);
        let mut key = prefix.to_vec();
        keys::put_tail(&mut key, latest, first_seq);
        let mut value = Vec::with_capacity(run.iter().map(|r| 24 + r.summary.len()).sum::<usize>());
        for r in run {
            keys::put_ref(&mut value, r.trace_id, latest, r.start, &r.summary);
        }
        entries.push((key, value));
    }
}

/// The hashes of a chunk's spans.
struct SpanHashes<'a> {
    hashes: &'a [u64],
    offsets: &'a [usize],
}

impl SpanHashes<'_> {
    fn of(&self, span: usize) -> &[u64] {
        &self.hashes[self.offsets[span]..self.offsets[span + 1]]
    }
}

/// The summary of the chunk's spans that `include` selects (by their index in the chunk),
/// with a filter of `bits_per_item`.
fn summary(
    chunk: &[&SpanData],
    hashes: &SpanHashes<'_>,
    bits_per_item: usize,
    include: impl Fn(usize) -> bool,
) -> Vec<u8> {
    let (mut min, mut max, mut count) = (u64::MAX, 0, 0);
    for (i, span) in chunk.iter().enumerate() {
        if include(i) {
            let duration = span.duration_nanos();
            min = min.min(duration);
            max = max.max(duration);
            count += hashes.of(i).len();
        }
    }
    // two varints, then the filter `put_summary` sizes
    let mut value = Vec::with_capacity(20 + (count * bits_per_item).div_ceil(64) * 8);
    let included = (0..chunk.len())
        .filter(|&i| include(i))
        .flat_map(|i| hashes.of(i));
    keys::put_summary(&mut value, min, max, count, bits_per_item, included);
    value
}

/// The index a search scans and how it checks each chunk's summary.
struct Plan {
    prefix: Vec<u8>,
    /// Hashes every one of which a summary must hold (single-span searches), or any one of
    /// which (Zipkin searches); empty for no condition.
    hashes: Vec<u64>,
    duration: Option<(u64, u64)>,
    single_span: bool,
}

impl Plan {
    fn new(query: &TraceQuery) -> Self {
        let mut hashes: Vec<u64> = query.tags.iter().map(keys::tag_hash).collect();
        if let Some(name) = &query.span_name {
            hashes.push(keys::name_hash(name));
        }
        let duration = (query.min_duration_nanos.is_some() || query.max_duration_nanos.is_some())
            .then(|| {
                (
                    query.min_duration_nanos.unwrap_or(0),
                    query.max_duration_nanos.unwrap_or(u64::MAX),
                )
            });
        Plan {
            prefix: match &query.service {
                Some(service) => keys::service_prefix(service),
                None => vec![keys::ALL],
            },
            hashes,
            duration,
            single_span: query.single_span,
        }
    }

    /// Whether the chunk behind a summary may hold what the query needs of it.
    fn admits(&self, summary: &Summary<'_>) -> bool {
        let lasts = |(min, max): (u64, u64)| summary.may_last(min, max);
        if self.single_span {
            self.hashes.iter().all(|h| summary.may_contain(*h)) && self.duration.is_none_or(lasts)
        } else if self.hashes.is_empty() && self.duration.is_none() {
            true
        } else {
            // the trace's other chunks may meet the other conditions: one is enough to look
            self.hashes.iter().any(|h| summary.may_contain(*h)) || self.duration.is_some_and(lasts)
        }
    }
}

impl Shared {
    /// The start of the bucket of data received at `received`.
    fn bucket_start(&self, received: u64) -> u64 {
        received - received % self.options.bucket_width_nanos()
    }

    /// The bucket of data received at `received`, when it is open already.
    fn open_bucket_for(&self, received: u64) -> Option<Arc<Bucket>> {
        let start = self.bucket_start(received);
        self.buckets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&start)
            .cloned()
    }

    /// The bucket of data received at `received`, opened (created) when needed.
    fn bucket_for(&self, received: u64) -> Result<Arc<Bucket>, StoreError> {
        if let Some(bucket) = self.open_bucket_for(received) {
            return Ok(bucket);
        }
        let start = self.bucket_start(received);
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.get(&start) {
            return Ok(bucket.clone());
        }
        let bucket = Arc::new(open_bucket(
            &self.db,
            start,
            self.options.bucket_width_nanos(),
        )?);
        buckets.insert(start, bucket.clone());
        Ok(bucket)
    }

    fn buckets(&self) -> Vec<Arc<Bucket>> {
        self.buckets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Writes a group of prepared appends as one batch and syncs the journal once for all.
    fn commit_group(&self, group: &mut [Request]) -> Result<(), StoreError> {
        // per bucket (a group rarely spans two): spans and last seq after this group
        let mut checkpoints: Vec<(&Arc<Bucket>, u64, u64)> = Vec::new();
        let mut added_operations = Vec::new();
        let mut added_remotes = Vec::new();
        for request in group.iter_mut() {
            let Some(mut batch) = request.batch.take() else {
                continue;
            };
            let bucket = &request.bucket;
            let prepared = &request.prepared;
            let meta = lock(&bucket.meta);
            for (service, name, kind) in &prepared.operations {
                let known = meta.operations.get(service.as_str());
                if known.is_none() {
                    batch.insert(&bucket.index, keys::meta_service_key(service), []);
                }
                let kinds = known.and_then(|ops| ops.get(name.as_str())).copied();
                if kinds.unwrap_or(0) & kind_bit(*kind) == 0 {
                    batch.insert(
                        &bucket.index,
                        keys::meta_operation_key(service, name, *kind as u8),
                        [],
                    );
                    added_operations.push((bucket, service, name, *kind));
                }
            }
            for (service, remote) in &prepared.remotes {
                let known = meta
                    .remotes
                    .get(service.as_str())
                    .is_some_and(|r| r.contains(remote.as_str()));
                if !known {
                    batch.insert(&bucket.index, keys::meta_remote_key(service, remote), []);
                    added_remotes.push((bucket, service, remote));
                }
            }
            match checkpoints
                .iter_mut()
                .find(|(b, _, _)| Arc::ptr_eq(b, bucket))
            {
                Some((_, spans, last_seq)) => {
                    *spans += request.spans;
                    *last_seq = (*last_seq).max(prepared.last_seq);
                }
                None => checkpoints.push((
                    bucket,
                    meta.spans + request.spans,
                    meta.last_seq.max(prepared.last_seq),
                )),
            }
            drop(meta);
            // each append is one atomic write; the sync below covers them all
            batch
                .commit()
                .map_err(|e| failed("cannot write the batch", e))?;
        }
        let mut batch = self.db.batch();
        for (bucket, spans, last_seq) in &checkpoints {
            let mut checkpoint = Vec::with_capacity(16);
            checkpoint.extend_from_slice(&spans.to_le_bytes());
            checkpoint.extend_from_slice(&last_seq.to_le_bytes());
            batch.insert(&bucket.index, keys::CHECKPOINT, checkpoint);
        }
        batch
            .commit()
            .map_err(|e| failed("cannot write the batch", e))?;
        // the caches follow only what was committed
        for (bucket, spans, last_seq) in checkpoints {
            let mut meta = lock(&bucket.meta);
            meta.spans = spans;
            meta.last_seq = last_seq;
        }
        for (bucket, service, name, kind) in added_operations {
            *lock(&bucket.meta)
                .operations
                .entry(service.clone())
                .or_default()
                .entry(name.clone())
                .or_default() |= kind_bit(kind);
        }
        for (bucket, service, remote) in added_remotes {
            lock(&bucket.meta)
                .remotes
                .entry(service.clone())
                .or_default()
                .insert(remote.clone());
        }
        self.db
            .persist(PersistMode::SyncData)
            .map_err(|e| failed("cannot sync the journal", e))?;
        let spans: u64 = group.iter().map(|r| r.spans).sum();
        self.stored.fetch_add(spans, Ordering::Relaxed);
        Ok(())
    }

    fn remove_expired(&self, now: u64) -> Result<u64, StoreError> {
        let retention = duration_nanos(self.options.retention);
        let expired: Vec<Arc<Bucket>> = {
            let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
            let starts: Vec<u64> = buckets
                .values()
                .filter(|b| b.start.saturating_add(b.width).saturating_add(retention) <= now)
                .map(|b| b.start)
                .collect();
            starts
                .into_iter()
                .filter_map(|start| buckets.remove(&start))
                .collect()
        };
        let mut removed = 0;
        for bucket in expired {
            removed += lock(&bucket.meta).spans;
            self.db
                .delete_keyspace(bucket.data.clone())
                .and_then(|()| self.db.delete_keyspace(bucket.index.clone()))
                .map_err(|e| failed("cannot remove an expired bucket", e))?;
        }
        self.evicted.fetch_add(removed, Ordering::Relaxed);
        Ok(removed)
    }

    fn trace(&self, trace_id: TraceId) -> Result<Option<Vec<SpanData>>, StoreError> {
        self.trace_with(trace_id, &mut Batches::default())
    }

    /// The spans of a trace, reading the batches its chunks are in through `batches`.
    fn trace_with(
        &self,
        trace_id: TraceId,
        batches: &mut Batches,
    ) -> Result<Option<Vec<SpanData>>, StoreError> {
        let unreadable = |e: &dyn std::fmt::Display| failed("cannot read a trace", e);
        let prefix = trace_id.0.to_be_bytes();
        let mut chunks: Vec<(u64, Arc<Bucket>, fjall::Slice)> = Vec::new();
        for bucket in self.buckets() {
            for entry in bucket.data.prefix(prefix) {
                let (key, value) = entry.into_inner().map_err(|e| unreadable(&e))?;
                let seq = key
                    .get(16..24)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_be_bytes);
                chunks.push((seq, bucket.clone(), value));
            }
        }
        if chunks.is_empty() {
            return Ok(None);
        }
        chunks.sort_by_key(|(seq, _, _)| *seq);
        let mut spans = Vec::new();
        for (_, bucket, value) in chunks {
            match keys::chunk_value(&value).map_err(|e| unreadable(&e))? {
                keys::ChunkValue::Compressed(chunk) => {
                    let encoded = decompress(chunk)?;
                    codec::decode_chunk(&encoded, &mut spans).map_err(|e| unreadable(&e))?;
                }
                keys::ChunkValue::Pointer(batch_seq, offset, len) => {
                    let batch = batches.get(&bucket, batch_seq)?;
                    let chunk = offset
                        .checked_add(len)
                        .and_then(|end| batch.get(offset..end))
                        .ok_or_else(|| unreadable(&"chunk pointer past its batch"))?;
                    codec::decode_chunk(chunk, &mut spans).map_err(|e| unreadable(&e))?;
                }
            }
        }
        Ok(Some(spans))
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Vec<SpanData>>, StoreError> {
        let (min, max) = (query.start_min_unix_nano, query.start_max_unix_nano);
        if query.limit == 0 || min > max {
            return Ok(Vec::new());
        }
        let plan = Plan::new(query);
        let mut found: Vec<(u64, Vec<SpanData>)> = Vec::new();
        let mut seen: HashSet<TraceId> = HashSet::new();
        let mut batches = Batches::default();
        let upper = max.saturating_add(keys::ENTRY_SPREAD);
        self.scan_newest_first(&plan.prefix, min, upper, |latest, format, value| {
            // a trace starts no later than any of its chunks, and the chunks of this entry
            // and those after it start at `latest` or before: once `limit` traces are found
            // that start at `latest` or after, nothing further can displace them
            if found.len() >= query.limit && found.last().is_some_and(|(last, _)| *last >= latest) {
                return Ok(false);
            }
            for chunk in keys::refs(value, format, latest) {
                let chunk = chunk.map_err(|e| failed("cannot read the index", e))?;
                // a trace is found through its chunks that start within the range
                if chunk.start < min || chunk.start > max || seen.contains(&chunk.trace_id) {
                    continue;
                }
                if !plan.admits(&chunk.summary) {
                    continue;
                }
                seen.insert(chunk.trace_id);
                let Some(spans) = self.trace_with(chunk.trace_id, &mut batches)? else {
                    continue;
                };
                if trace_matches(&spans, query) {
                    let start = spans
                        .iter()
                        .map(|s| s.start_time_unix_nano)
                        .min()
                        .unwrap_or(0);
                    let at = found.partition_point(|(s, _)| *s >= start);
                    found.insert(at, (start, spans));
                    found.truncate(query.limit);
                }
            }
            Ok(true)
        })?;
        Ok(found.into_iter().map(|(_, spans)| spans).collect())
    }

    /// Calls `visit(latest start, format, value)` for the index entries under `prefix` whose
    /// key's start is within `[min, max]`, latest first across all buckets, until it returns
    /// false.
    fn scan_newest_first(
        &self,
        prefix: &[u8],
        min: u64,
        max: u64,
        mut visit: impl FnMut(u64, u8, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut low = prefix.to_vec();
        low.extend_from_slice(&min.to_be_bytes());
        let mut high = prefix.to_vec();
        high.extend_from_slice(&max.to_be_bytes());
        high.extend_from_slice(&[0xff; keys::TAIL - 8]);
        let buckets = self.buckets();
        let mut iterators: Vec<_> = buckets
            .iter()
            .map(|b| b.index.range(low.clone()..=high.clone()).rev())
            .collect();
        type Entry = (fjall::Slice, fjall::Slice);
        let read = |guard: Option<fjall::Guard>| -> Result<Option<Entry>, StoreError> {
            guard
                .map(|g| {
                    g.into_inner()
                        .map_err(|e| failed("cannot read the index", e))
                })
                .transpose()
        };
        let mut heads = Vec::with_capacity(iterators.len());
        for iterator in &mut iterators {
            heads.push(read(iterator.next())?);
        }
        loop {
            // the head with the latest tail (start, seq): all share the prefix
            let Some(best) = heads
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.as_ref().map(|(k, _)| (i, k)))
                .max_by(|a, b| a.1.cmp(b.1))
                .map(|(i, _)| i)
            else {
                return Ok(());
            };
            let Some((key, value)) = heads[best].take() else {
                return Ok(());
            };
            heads[best] = read(iterators[best].next())?;
            let Some((latest, format)) = key.get(prefix.len()..).and_then(keys::parse_tail) else {
                continue;
            };
            if !visit(latest, format, &value)? {
                return Ok(());
            }
        }
    }

    fn dependencies(&self, start: u64, end: u64) -> Result<Vec<DependencyLink>, StoreError> {
        let mut traces: Vec<TraceId> = Vec::new();
        let mut seen = HashSet::new();
        if start <= end {
            let upper = end.saturating_add(keys::ENTRY_SPREAD);
            self.scan_newest_first(&[keys::ALL], start, upper, |latest, format, value| {
                for chunk in keys::refs(value, format, latest) {
                    let chunk = chunk.map_err(|e| failed("cannot read the index", e))?;
                    if (start..=end).contains(&chunk.start) && seen.insert(chunk.trace_id) {
                        traces.push(chunk.trace_id);
                    }
                }
                Ok(true)
            })?;
        }
        let mut linker = DependencyLinker::default();
        let mut batches = Batches::default();
        for trace_id in traces {
            let Some(spans) = self.trace_with(trace_id, &mut batches)? else {
                continue;
            };
            let first = spans.iter().map(|s| s.start_time_unix_nano).min();
            if first.is_some_and(|first| (start..=end).contains(&first)) {
                linker.add_trace(&spans);
            }
        }
        Ok(linker.finish())
    }
}

impl SpanStore for DiskStore {
    fn append(&self, spans: Vec<SpanData>) -> Result<(), StoreError> {
        self.append_received_at(spans, now_unix_nano())
    }

    /// Encodes the batch on the calling task and awaits the writer thread's sync, unless
    /// the batch's bucket must be created first (once per bucket width): that is left to
    /// [`SpanStore::append`] on the blocking pool.
    fn start_append(&self, spans: Vec<SpanData>) -> StartedAppend {
        if spans.is_empty() {
            return StartedAppend::Waiting(Box::pin(std::future::ready(Ok(()))));
        }
        let Some(bucket) = self.shared.open_bucket_for(now_unix_nano()) else {
            return StartedAppend::Blocking(spans);
        };
        let (reply, replied) = tokio::sync::oneshot::channel();
        let queued = self.enqueue(spans, bucket, Reply::Task(reply));
        StartedAppend::Waiting(Box::pin(async move {
            queued?;
            replied
                .await
                .map_err(|_| closed())?
                .map_err(StoreError::Unavailable)
        }))
    }

    fn trace(&self, trace_id: TraceId) -> Result<Option<Vec<SpanData>>, StoreError> {
        self.shared.trace(trace_id)
    }

    fn services(&self) -> Result<Vec<String>, StoreError> {
        let mut services = BTreeSet::new();
        for bucket in self.shared.buckets() {
            services.extend(lock(&bucket.meta).operations.keys().cloned());
        }
        Ok(services.into_iter().collect())
    }

    fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError> {
        let mut operations: BTreeMap<String, u8> = BTreeMap::new();
        for bucket in self.shared.buckets() {
            if let Some(ops) = lock(&bucket.meta).operations.get(service) {
                for (name, kinds) in ops {
                    *operations.entry(name.clone()).or_default() |= kinds;
                }
            }
        }
        Ok(operations
            .into_iter()
            .flat_map(|(name, kinds)| {
                KINDS
                    .into_iter()
                    .filter(move |kind| kinds & kind_bit(*kind) != 0)
                    .map(move |span_kind| Operation {
                        name: name.clone(),
                        span_kind,
                    })
            })
            .collect())
    }

    fn remote_services(&self, service: &str) -> Result<Vec<String>, StoreError> {
        let mut remotes = BTreeSet::new();
        for bucket in self.shared.buckets() {
            if let Some(found) = lock(&bucket.meta).remotes.get(service) {
                remotes.extend(found.iter().cloned());
            }
        }
        Ok(remotes.into_iter().collect())
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Vec<SpanData>>, StoreError> {
        self.shared.find_traces(query)
    }

    fn dependencies(
        &self,
        start_unix_nano: u64,
        end_unix_nano: u64,
    ) -> Result<Vec<DependencyLink>, StoreError> {
        self.shared.dependencies(start_unix_nano, end_unix_nano)
    }

    fn counters(&self) -> StoreCounters {
        StoreCounters {
            stored: self.shared.stored.load(Ordering::Relaxed),
            evicted: self.shared.evicted.load(Ordering::Relaxed),
            bytes_on_disk: self.shared.db.disk_space().unwrap_or(0),
        }
    }
}
