//! Interned strings for decoders: attribute keys, span names and many attribute values
//! (methods, routes, hosts, status texts) repeat across the spans of a batch, and taking them
//! from a set of shared strings costs a hash lookup instead of a UTF-8 check, an allocation, a
//! copy and, later, a free.
//!
//! The set is bounded: at most [`CAPACITY`] strings of at most [`MAX_LEN`] bytes each are
//! kept, for the life of the process (so at most 512 KiB). A string is added only the second
//! time a thread meets it (a small table of recent hashes remembers the first time), so
//! unique values such as request ids never take room. Once the set is full, strings it does
//! not hold are allocated as before; nothing is ever evicted. Each thread keeps its own copy
//! of what it has looked up, so the shared set's lock is taken only for strings the thread
//! has not seen yet, and never again once the set is full.

use std::borrow::{Borrow, Cow};
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use threadline::Str;

/// The most strings the shared set holds.
pub(crate) const CAPACITY: usize = 8192;
/// The longest string interned, in bytes.
pub(crate) const MAX_LEN: usize = 64;
/// Slots in each thread's table of hashes met once.
const MET_ONCE_SLOTS: usize = 4096;

/// An interned string, found by its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry(&'static str);

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Entry {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

type Set = HashSet<Entry, foldhash::fast::FixedState>;

/// The strings shared by every thread.
struct Shared {
    strings: Set,
    capacity: usize,
}

/// One thread's copy of the strings it has found in [`Shared`], and the hashes of strings it
/// has met once.
struct Local {
    strings: Set,
    /// Whether `strings` holds all the shared set will ever hold (it was full when copied).
    complete: bool,
    met_once: Box<[u64]>,
}

impl Default for Local {
    fn default() -> Self {
        Local {
            strings: Set::default(),
            complete: false,
            met_once: vec![0; MET_ONCE_SLOTS].into_boxed_slice(),
        }
    }
}

/// Created with [`CAPACITY`] on first use.
static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::default();
}

/// `bytes` as a [`Str`], or `None` when they are not UTF-8: borrowed from the interned set
/// when it is or can be there, owned otherwise.
pub(crate) fn intern(bytes: &[u8]) -> Option<Str> {
    if bytes.len() <= MAX_LEN {
        let found = LOCAL
            .try_with(|local| {
                // a busy cell (a lookup interrupted by a panic) just means no interning
                let mut local = local.try_borrow_mut().ok()?;
                lookup(&mut local, &SHARED, CAPACITY, bytes)
            })
            .ok()
            .flatten();
        if let Some(interned) = found {
            return Some(Cow::Borrowed(interned));
        }
    }
    std::str::from_utf8(bytes)
        .ok()
        .map(|text| Cow::Owned(text.to_owned()))
}

/// The interned copy of `bytes`: from `local`, else from `shared`, else added to `shared` when
/// this thread has met it before and `shared` has room; `None` otherwise, and when `bytes` are
/// not UTF-8.
fn lookup(
    local: &mut Local,
    shared: &Mutex<Option<Shared>>,
    capacity: usize,
    bytes: &[u8],
) -> Option<&'static str> {
    if let Some(&Entry(interned)) = local.strings.get(bytes) {
        return Some(interned);
    }
    if local.complete {
        return None;
    }
    // the first meeting only leaves its hash (never 0, the empty slot)
    let hash = local.strings.hasher().hash_one(bytes) | 1;
    let slot = &mut local.met_once[(hash >> 32) as usize % MET_ONCE_SLOTS];
    if *slot != hash {
        *slot = hash;
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
    let shared = guard.get_or_insert_with(|| Shared {
        strings: Set::default(),
        capacity,
    });
    let interned = match shared.strings.get(bytes) {
        Some(&Entry(interned)) => Some(interned),
        None if shared.strings.len() < shared.capacity => {
            let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
            shared.strings.insert(Entry(leaked));
            Some(leaked)
        }
        None => None,
    };
    if shared.strings.len() >= shared.capacity {
        local.strings.extend(shared.strings.iter().copied());
        local.complete = true;
    } else if let Some(interned) = interned {
        local.strings.insert(Entry(interned));
    }
    interned
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks `text` up twice (the first meeting only counts it).
    fn twice(
        local: &mut Local,
        shared: &Mutex<Option<Shared>>,
        capacity: usize,
        text: &str,
    ) -> Option<&'static str> {
        lookup(local, shared, capacity, text.as_bytes())
            .or_else(|| lookup(local, shared, capacity, text.as_bytes()))
    }

    #[test]
    fn a_string_met_twice_is_shared_one_met_once_is_not() {
        let shared = Mutex::new(None);
        let mut local = Local::default();
        assert_eq!(lookup(&mut local, &shared, 8, b"http.method"), None);
        let first = lookup(&mut local, &shared, 8, b"http.method").unwrap();
        let again = lookup(
            &mut local,
            &shared,
            8,
            String::from("http.method").as_bytes(),
        )
        .unwrap();
        assert!(std::ptr::eq(first, again));
        // another thread meets it twice too (its first meeting does not look at the shared
        // set, so that unique strings never take the lock), then finds the same copy
        let mut other = Local::default();
        let theirs = twice(&mut other, &shared, 8, "http.method").unwrap();
        assert!(std::ptr::eq(first, theirs));
        assert_eq!(lookup(&mut other, &shared, 8, b"request-1"), None);
        assert_eq!(lookup(&mut other, &shared, 8, b"request-2"), None);
        assert_eq!(shared.lock().unwrap().as_ref().unwrap().strings.len(), 1);
    }

    #[test]
    fn a_full_set_keeps_what_it_holds_and_interns_nothing_more() {
        let shared = Mutex::new(None);
        let mut local = Local::default();
        let a = twice(&mut local, &shared, 2, "a").unwrap();
        let mut other = Local::default();
        assert!(twice(&mut other, &shared, 2, "b").is_some());
        assert!(
            other.complete,
            "the thread that filled the set copied it whole"
        );
        assert_eq!(twice(&mut other, &shared, 2, "c"), None);
        // the first thread learns the set is full on its next miss, then holds all of it
        assert_eq!(twice(&mut local, &shared, 2, "d"), None);
        assert!(local.complete);
        assert!(std::ptr::eq(
            lookup(&mut local, &shared, 2, b"a").unwrap(),
            a
        ));
        assert_eq!(lookup(&mut local, &shared, 2, b"b"), Some("b"));
        assert_eq!(shared.lock().unwrap().as_ref().unwrap().strings.len(), 2);
    }

    #[test]
    fn invalid_utf8_is_refused_whether_or_not_it_was_met_before() {
        let shared = Mutex::new(None);
        let mut local = Local::default();
        assert_eq!(lookup(&mut local, &shared, 8, b"\xff\xfe"), None);
        assert_eq!(lookup(&mut local, &shared, 8, b"\xff\xfe"), None);
        assert!(shared
            .lock()
            .unwrap()
            .as_ref()
            .is_none_or(|s| s.strings.is_empty()));
        assert_eq!(intern(b"\xff\xfe"), None);
        assert_eq!(intern(b"\xff\xfe"), None);
    }

    #[test]
    fn long_strings_are_owned_and_short_repeated_ones_borrowed() {
        let long = "k".repeat(MAX_LEN + 1);
        assert!(matches!(intern(long.as_bytes()), Some(Cow::Owned(s)) if s == long));
        assert!(matches!(intern(long.as_bytes()), Some(Cow::Owned(s)) if s == long));
        assert!(matches!(intern(b"service.name"), Some(Cow::Owned(s)) if s == "service.name"));
        assert!(matches!(
            intern(b"service.name"),
            Some(Cow::Borrowed("service.name"))
        ));
    }
}
