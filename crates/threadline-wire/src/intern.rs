//! Interned strings for decoders: attribute keys and span names repeat in nearly every span
//! of a batch, and taking them from a set of shared strings costs a hash lookup instead of an
//! allocation, a copy and, later, a free.
//!
//! The set is bounded: at most [`CAPACITY`] strings of at most [`MAX_LEN`] bytes each are
//! kept, for the life of the process (so at most 256 KiB). Once it is full, strings it does
//! not hold are allocated as before; nothing is ever evicted, so a flood of distinct keys
//! early on only costs later batches the allocations this saves. Each thread keeps its own
//! copy of what it has looked up, so the shared set's lock is taken only for strings the
//! thread has not seen yet, and never again once the set is full.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use threadline::Str;

/// The most strings the shared set holds.
pub(crate) const CAPACITY: usize = 4096;
/// The longest string interned, in bytes.
pub(crate) const MAX_LEN: usize = 64;

type Set = HashSet<&'static str, foldhash::fast::RandomState>;

/// The strings shared by every thread.
struct Shared {
    strings: Set,
    capacity: usize,
}

/// One thread's copy of the strings it has found in [`Shared`].
#[derive(Default)]
struct Local {
    strings: Set,
    /// Whether `strings` holds all the shared set will ever hold (it was full when copied).
    complete: bool,
}

/// Created with [`CAPACITY`] on first use.
static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::default();
}

/// `text` as a [`Str`]: borrowed from the interned set when it is or can be there, owned
/// otherwise.
pub(crate) fn intern(text: &str) -> Str {
    if text.len() > MAX_LEN {
        return Cow::Owned(text.to_owned());
    }
    let found = LOCAL
        .try_with(|local| {
            // a panic mid-lookup poisons nothing here: a busy cell just means no interning
            let mut local = local.try_borrow_mut().ok()?;
            lookup(&mut local, &SHARED, CAPACITY, text)
        })
        .ok()
        .flatten();
    match found {
        Some(interned) => Cow::Borrowed(interned),
        None => Cow::Owned(text.to_owned()),
    }
}

/// The interned copy of `text`: from `local`, else from (or added to) `shared` while it has
/// room; `None` when neither holds it and `shared` is full.
fn lookup(
    local: &mut Local,
    shared: &Mutex<Option<Shared>>,
    capacity: usize,
    text: &str,
) -> Option<&'static str> {
    if let Some(&interned) = local.strings.get(text) {
        return Some(interned);
    }
    if local.complete {
        return None;
    }
    let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
    let shared = guard.get_or_insert_with(|| Shared {
        strings: Set::default(),
        capacity,
    });
    let interned = match shared.strings.get(text) {
        Some(&interned) => Some(interned),
        None if shared.strings.len() < shared.capacity => {
            let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
            shared.strings.insert(leaked);
            Some(leaked)
        }
        None => None,
    };
    if shared.strings.len() >= shared.capacity {
        local.strings.extend(shared.strings.iter().copied());
        local.complete = true;
    } else if let Some(interned) = interned {
        local.strings.insert(interned);
    }
    interned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_strings_share_one_copy() {
        let shared = Mutex::new(None);
        let mut local = Local::default();
        let first = lookup(&mut local, &shared, 8, "http.method").unwrap();
        let again = lookup(&mut local, &shared, 8, &String::from("http.method")).unwrap();
        assert!(std::ptr::eq(first, again));
        // another thread finds the same copy in the shared set
        let mut other = Local::default();
        let theirs = lookup(&mut other, &shared, 8, "http.method").unwrap();
        assert!(std::ptr::eq(first, theirs));
    }

    #[test]
    fn a_full_set_keeps_what_it_holds_and_interns_nothing_more() {
        let shared = Mutex::new(None);
        let mut local = Local::default();
        let a = lookup(&mut local, &shared, 2, "a").unwrap();
        let mut other = Local::default();
        assert!(lookup(&mut other, &shared, 2, "b").is_some());
        assert!(
            other.complete,
            "the thread that filled the set copied it whole"
        );
        assert_eq!(lookup(&mut other, &shared, 2, "c"), None);
        // the first thread learns the set is full on its next miss, then holds all of it
        assert_eq!(lookup(&mut local, &shared, 2, "d"), None);
        assert!(local.complete);
        assert!(std::ptr::eq(
            lookup(&mut local, &shared, 2, "a").unwrap(),
            a
        ));
        assert_eq!(lookup(&mut local, &shared, 2, "b"), Some("b"));
        assert_eq!(shared.lock().unwrap().as_ref().unwrap().strings.len(), 2);
    }

    #[test]
    fn long_strings_are_owned_and_short_ones_borrowed() {
        let long = "k".repeat(MAX_LEN + 1);
        assert!(matches!(intern(&long), Cow::Owned(s) if s == long));
        assert!(matches!(
            intern("service.name"),
            Cow::Borrowed("service.name")
        ));
    }
}
