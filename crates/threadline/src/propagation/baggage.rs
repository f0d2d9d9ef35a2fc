//! Baggage: bounded key-value pairs that travel with a request, and the current baggage of a
//! thread.
//!
//! Baggage lives apart from spans: starting or ending a span never reads it. It becomes current
//! with [`Baggage::attach`] (or [`super::PropagationContext::attach`]) and is read by
//! [`Baggage::current`] when a request is sent. A future carries baggage across `.await`s with
//! [`crate::FutureExt::with_baggage`].

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// At most this many entries, the W3C Baggage limit OpenTelemetry uses.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{Baggage, MAX_ENTRIES};
/// let mut baggage = Baggage::new();
/// for i in 0..MAX_ENTRIES {
///     baggage.insert(format!("k{i}"), "v").unwrap();
/// }
/// assert!(baggage.insert("one-more", "v").is_err());
/// ```
pub const MAX_ENTRIES: usize = 180;

/// At most this many bytes in the encoded `baggage` header, the W3C Baggage limit.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{Baggage, MAX_BYTES};
/// let mut baggage = Baggage::new();
/// assert!(baggage.insert("k", "v".repeat(MAX_BYTES)).is_err());
/// ```
pub const MAX_BYTES: usize = 8192;

/// Why a baggage entry was refused.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{Baggage, BaggageError};
/// let mut baggage = Baggage::new();
/// assert_eq!(baggage.insert("a key", "v"), Err(BaggageError::Key("a key".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaggageError {
    /// A list member is not of the form `key=value`.
    #[error("baggage member {0:?} is not key=value")]
    Member(String),
    /// A key is not an HTTP token (RFC 9110).
    #[error("baggage key {0:?} is not a token")]
    Key(String),
    /// A value has a bad `%` escape, does not decode to UTF-8, or holds a character the
    /// header grammar forbids.
    #[error("baggage value of {0:?} is not valid percent-encoded utf-8")]
    Value(String),
    /// A property is not `key` or `key=value` with a token key.
    #[error("baggage property {0:?} is malformed")]
    Property(String),
    /// The entry would make more than [`MAX_ENTRIES`] entries.
    #[error("baggage would have more than {MAX_ENTRIES} entries; {0:?} dropped")]
    TooManyEntries(String),
    /// The entry would make the header longer than [`MAX_BYTES`].
    #[error("baggage would be longer than {MAX_BYTES} bytes; {0:?} dropped")]
    TooLarge(String),
}

/// One baggage entry: a key, a value, and the W3C properties (metadata) that came with it.
///
/// # Examples
///
/// ```
/// use threadline::propagation::Baggage;
/// let (baggage, _) = Baggage::from_header_lossy("user=ada;sensitive");
/// let entry = baggage.iter().next().unwrap();
/// assert_eq!((entry.key(), entry.value(), entry.properties()), ("user", "ada", "sensitive"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaggageEntry {
    key: String,
    value: String,
    properties: String,
}

impl BaggageEntry {
    /// The key.
    ///
    /// # Examples
    ///
    /// ```
    /// let (baggage, _) = threadline::propagation::Baggage::from_header_lossy("k=v");
    /// assert_eq!(baggage.iter().next().unwrap().key(), "k");
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value, decoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let (baggage, _) = threadline::propagation::Baggage::from_header_lossy("k=a%20b");
    /// assert_eq!(baggage.iter().next().unwrap().value(), "a b");
    /// ```
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties as they travel: `;`-separated `key` or `key=value`, empty when none.
    ///
    /// # Examples
    ///
    /// ```
    /// let (baggage, _) = threadline::propagation::Baggage::from_header_lossy("k=v; ttl = 60");
    /// assert_eq!(baggage.iter().next().unwrap().properties(), "ttl=60");
    /// ```
    pub fn properties(&self) -> &str {
        &self.properties
    }

    fn encoded_len(&self) -> usize {
        let mut value = String::new();
        super::percent_encode(&self.value, &mut value);
        let properties = if self.properties.is_empty() {
            0
        } else {
            1 + self.properties.len()
        };
        self.key.len() + 1 + value.len() + properties
    }
}

/// Key-value pairs propagated with a trace (W3C Baggage), bounded to [`MAX_ENTRIES`] entries
/// and [`MAX_BYTES`] encoded bytes. Cloning is cheap; changes copy on write.
///
/// Baggage lives apart from spans: starting or ending a span never reads it. It becomes the
/// thread's current baggage with [`Baggage::attach`] (or [`super::PropagationContext::attach`]),
/// is read by [`Baggage::current`] when a request is sent, and follows a future across
/// `.await`s with [`crate::FutureExt::with_baggage`].
///
/// Keys are HTTP tokens and values any text (percent-encoded on the wire). Properties
/// (`key=value;property`) are kept verbatim and forwarded, not interpreted.
///
/// # Examples
///
/// ```
/// use threadline::propagation::Baggage;
/// let mut baggage = Baggage::new();
/// baggage.insert("user", "Ada Lovelace").unwrap();
/// baggage.insert("tier", "gold").unwrap();
/// assert_eq!(baggage.to_header(), "user=Ada%20Lovelace,tier=gold");
/// assert!(baggage.insert("not a token", "x").is_err());
///
/// let _current = baggage.attach();
/// assert_eq!(Baggage::current().get("tier"), Some("gold"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage(Option<Arc<Vec<BaggageEntry>>>);

impl Baggage {
    /// Empty baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::Baggage;
    /// assert_eq!(Baggage::EMPTY, Baggage::new());
    /// ```
    pub const EMPTY: Baggage = Baggage(None);

    /// Empty baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadline::propagation::Baggage::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Baggage::EMPTY
    }

    /// The value of `key`, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut baggage = threadline::propagation::Baggage::new();
    /// baggage.insert("k", "v").unwrap();
    /// assert_eq!(baggage.get("k"), Some("v"));
    /// assert_eq!(baggage.get("other"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries()
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// Sets `key` to `value` (replacing an earlier value in place), without properties.
    ///
    /// # Errors
    ///
    /// [`BaggageError::Key`] when the key is not a token, [`BaggageError::TooManyEntries`] or
    /// [`BaggageError::TooLarge`] when the entry would break a limit; the baggage is then
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut baggage = threadline::propagation::Baggage::new();
    /// baggage.insert("k", "a").unwrap();
    /// baggage.insert("k", "b").unwrap();
    /// assert_eq!(baggage.len(), 1);
    /// assert!(baggage.insert("k", "x".repeat(9000)).is_err());
    /// assert_eq!(baggage.get("k"), Some("b"));
    /// ```
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), BaggageError> {
        self.insert_with_properties(key, value, "")
    }

    /// Sets `key` to `value` with W3C properties such as `"sensitive;ttl=60"`.
    ///
    /// # Errors
    ///
    /// As [`Baggage::insert`], and [`BaggageError::Property`] for a malformed property.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut baggage = threadline::propagation::Baggage::new();
    /// baggage.insert_with_properties("k", "v", "sensitive").unwrap();
    /// assert_eq!(baggage.to_header(), "k=v;sensitive");
    /// ```
    pub fn insert_with_properties(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        properties: &str,
    ) -> Result<(), BaggageError> {
        let key = key.into();
        if !is_token(&key) {
            return Err(BaggageError::Key(key));
        }
        let properties = normalize_properties(properties)?;
        self.insert_entry(BaggageEntry {
            key,
            value: value.into(),
            properties,
        })
    }

    fn insert_entry(&mut self, entry: BaggageEntry) -> Result<(), BaggageError> {
        let existing = self.entries().iter().position(|e| e.key == entry.key);
        let count = self.len() + usize::from(existing.is_none());
        if count > MAX_ENTRIES {
            return Err(BaggageError::TooManyEntries(entry.key));
        }
        let others: usize = self
            .entries()
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != existing)
            .map(|(_, e)| e.encoded_len())
            .sum();
        if others + entry.encoded_len() + (count - 1) > MAX_BYTES {
            return Err(BaggageError::TooLarge(entry.key));
        }
        let entries = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        match existing {
            Some(i) => entries[i] = entry,
            None => entries.push(entry),
        }
        Ok(())
    }

    /// Removes `key`; returns its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut baggage = threadline::propagation::Baggage::new();
    /// baggage.insert("k", "v").unwrap();
    /// assert_eq!(baggage.remove("k").as_deref(), Some("v"));
    /// assert!(baggage.is_empty());
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.entries().iter().position(|e| e.key == key)?;
        let entries = Arc::make_mut(self.0.as_mut()?);
        let removed = entries.remove(i);
        if entries.is_empty() {
            self.0 = None;
        }
        Some(removed.value)
    }

    /// The entries, in insertion order.
    ///
    /// # Examples
    ///
    /// ```
    /// let (baggage, _) = threadline::propagation::Baggage::from_header_lossy("a=1,b=2");
    /// let keys: Vec<&str> = baggage.iter().map(|e| e.key()).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, BaggageEntry> {
        self.entries().iter()
    }

    fn entries(&self) -> &[BaggageEntry] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The number of entries.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadline::propagation::Baggage::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether there are no entries.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadline::propagation::Baggage::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// The W3C `baggage` header value: `key=value;properties` members joined by `,`, values
    /// percent-encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut baggage = threadline::propagation::Baggage::new();
    /// baggage.insert("q", "a,b;c").unwrap();
    /// assert_eq!(baggage.to_header(), "q=a%2Cb%3Bc");
    /// ```
    pub fn to_header(&self) -> String {
        let mut out = String::new();
        for (i, entry) in self.entries().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&entry.key);
            out.push('=');
            super::percent_encode(&entry.value, &mut out);
            if !entry.properties.is_empty() {
                out.push(';');
                out.push_str(&entry.properties);
            }
        }
        out
    }

    /// Parses a W3C `baggage` header value, keeping every valid member: returns the baggage
    /// and one error per member that was malformed or over a limit (and so dropped).
    ///
    /// Whitespace around keys, values and properties is ignored, empty members are skipped,
    /// values are percent-decoded, and a later member with the same key replaces an earlier
    /// one. Usable as a fuzz entry point.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{Baggage, BaggageError};
    /// let (baggage, errors) = Baggage::from_header_lossy("user = Ada%20L , bad key=1, ok=2;p=1");
    /// assert_eq!(baggage.get("user"), Some("Ada L"));
    /// assert_eq!(baggage.get("ok"), Some("2"));
    /// assert_eq!(errors, [BaggageError::Key("bad key".into())]);
    /// ```
    pub fn from_header_lossy(header: &str) -> (Baggage, Vec<BaggageError>) {
        let mut baggage = Baggage::new();
        let mut errors = Vec::new();
        for member in header.split(',') {
            let member = member.trim_matches(OWS);
            if member.is_empty() {
                continue;
            }
            match parse_member(member).and_then(|entry| baggage.insert_entry(entry)) {
                Ok(()) => {}
                Err(error) => {
                    let full = matches!(error, BaggageError::TooManyEntries(_));
                    errors.push(error);
                    if full {
                        break;
                    }
                }
            }
        }
        (baggage, errors)
    }

    /// This thread's current baggage (empty unless some was attached).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadline::propagation::Baggage::current().is_empty());
    /// ```
    pub fn current() -> Baggage {
        CURRENT
            .try_with(|cell| {
                let current = cell.take();
                let copy = current.clone();
                cell.set(current);
                copy
            })
            .unwrap_or_default()
    }

    /// Makes this baggage current on this thread until the guard drops, when the previous
    /// baggage is current again. Guards should drop in reverse order of attaching.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::Baggage;
    /// let mut outer = Baggage::new();
    /// outer.insert("k", "outer").unwrap();
    /// let _outer = outer.attach();
    /// {
    ///     let mut inner = Baggage::current();
    ///     inner.insert("k", "inner").unwrap();
    ///     let _inner = inner.attach();
    ///     assert_eq!(Baggage::current().get("k"), Some("inner"));
    /// }
    /// assert_eq!(Baggage::current().get("k"), Some("outer"));
    /// ```
    pub fn attach(self) -> BaggageGuard {
        let previous = CURRENT.try_with(|cell| cell.replace(self)).ok();
        BaggageGuard {
            previous,
            _not_send: PhantomData,
        }
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Baggage({:?})", self.to_header())
    }
}

impl<'a> IntoIterator for &'a Baggage {
    type Item = &'a BaggageEntry;
    type IntoIter = std::slice::Iter<'a, BaggageEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

thread_local! {
    static CURRENT: Cell<Baggage> = const { Cell::new(Baggage::EMPTY) };
}

/// Restores the previous baggage when dropped; see [`Baggage::attach`].
///
/// # Examples
///
/// ```
/// use threadline::propagation::Baggage;
/// let mut baggage = Baggage::new();
/// baggage.insert("k", "v").unwrap();
/// let guard = baggage.attach();
/// drop(guard);
/// assert!(Baggage::current().is_empty());
/// ```
#[must_use = "the baggage stops being current when the guard is dropped"]
pub struct BaggageGuard {
    previous: Option<Baggage>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for BaggageGuard {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = CURRENT.try_with(|cell| cell.set(previous));
        }
    }
}

impl fmt::Debug for BaggageGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaggageGuard").finish_non_exhaustive()
    }
}

const OWS: [char; 2] = [' ', '\t'];

fn parse_member(member: &str) -> Result<BaggageEntry, BaggageError> {
    let (pair, properties) = match member.split_once(';') {
        Some((pair, properties)) => (pair, properties),
        None => (member, ""),
    };
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| BaggageError::Member(member.to_string()))?;
    let key = key.trim_matches(OWS);
    if !is_token(key) {
        return Err(BaggageError::Key(key.to_string()));
    }
    let raw = value.trim_matches(OWS);
    if !raw.bytes().all(is_baggage_octet) {
        return Err(BaggageError::Value(key.to_string()));
    }
    let value = super::percent_decode(raw).ok_or_else(|| BaggageError::Value(key.to_string()))?;
    Ok(BaggageEntry {
        key: key.to_string(),
        value,
        properties: normalize_properties(properties)?,
    })
}

/// Checks `;`-separated properties and joins them without the optional whitespace.
fn normalize_properties(properties: &str) -> Result<String, BaggageError> {
    let mut out = String::new();
    for property in properties.split(';') {
        let property = property.trim_matches(OWS);
        if property.is_empty() {
            continue;
        }
        let ok = match property.split_once('=') {
            None => is_token(property),
            Some((k, v)) => {
                is_token(k.trim_matches(OWS)) && v.trim_matches(OWS).bytes().all(is_baggage_octet)
            }
        };
        if !ok {
            return Err(BaggageError::Property(property.to_string()));
        }
        if !out.is_empty() {
            out.push(';');
        }
        match property.split_once('=') {
            None => out.push_str(property),
            Some((k, v)) => {
                out.push_str(k.trim_matches(OWS));
                out.push('=');
                out.push_str(v.trim_matches(OWS));
            }
        }
    }
    Ok(out)
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_examples() {
        let (b, errors) = Baggage::from_header_lossy(
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(b.len(), 3);
        assert_eq!(b.iter().next().unwrap().properties(), "property1;property2");
        assert_eq!(b.get("key2"), Some("value2"));
        assert_eq!(
            b.iter().nth(2).unwrap().properties(),
            "propertyKey=propertyValue"
        );
        let (b, _) =
            Baggage::from_header_lossy("userId=alice,serverNode=DF%2028,isProduction=false");
        assert_eq!(b.get("serverNode"), Some("DF 28"));
        assert_eq!(
            b.to_header(),
            "userId=alice,serverNode=DF%2028,isProduction=false"
        );
    }

    #[test]
    fn malformed_members_are_dropped_with_a_reason() {
        type Check = fn(&BaggageError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("novalue", |e| matches!(e, BaggageError::Member(_))),
            ("=v", |e| matches!(e, BaggageError::Key(_))),
            ("k y=v", |e| matches!(e, BaggageError::Key(_))),
            ("k=a b", |e| matches!(e, BaggageError::Value(_))),
            ("k=%zz", |e| matches!(e, BaggageError::Value(_))),
            ("k=%ff", |e| matches!(e, BaggageError::Value(_))),
            ("k=\"q\"", |e| matches!(e, BaggageError::Value(_))),
            ("k=v;p q", |e| matches!(e, BaggageError::Property(_))),
        ];
        for (header, check) in cases {
            let (b, errors) = Baggage::from_header_lossy(&format!("{header},good=1"));
            assert_eq!(b.get("good"), Some("1"), "{header}");
            assert_eq!(errors.len(), 1, "{header}: {errors:?}");
            assert!(check(&errors[0]), "{header}: {errors:?}");
        }
    }

    #[test]
    fn entry_limit() {
        let header = (0..200)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let (b, errors) = Baggage::from_header_lossy(&header);
        assert_eq!(b.len(), MAX_ENTRIES);
        assert_eq!(errors, [BaggageError::TooManyEntries("k180".into())]);
        let mut b = b;
        assert!(
            b.insert("k0", "replaced").is_ok(),
            "replacing is not adding"
        );
        assert!(matches!(
            b.insert("new", "x"),
            Err(BaggageError::TooManyEntries(_))
        ));
    }

    #[test]
    fn byte_limit() {
        let mut b = Baggage::new();
        b.insert("a", "x".repeat(4000)).unwrap();
        b.insert("b", "x".repeat(4000)).unwrap();
        // 8192 - 2 * (2 + 4000) - 2 commas = 186 bytes left: "c=" plus 184 bytes.
        assert!(matches!(
            b.insert("c", "x".repeat(185)),
            Err(BaggageError::TooLarge(_))
        ));
        b.insert("c", "x".repeat(184)).unwrap();
        assert_eq!(b.to_header().len(), MAX_BYTES);
        // Encoded size counts: one space becomes three bytes.
        assert!(b.insert("c", " ".repeat(62)).is_err());
        let before = b.clone();
        assert!(b.insert("d", "").is_err());
        assert_eq!(b, before);
    }

    #[test]
    fn attach_restores_the_previous_baggage() {
        assert!(Baggage::current().is_empty());
        let mut b = Baggage::new();
        b.insert("k", "v").unwrap();
        {
            let _g = b.clone().attach();
            assert_eq!(Baggage::current(), b);
        }
        assert!(Baggage::current().is_empty());
    }

    #[test]
    fn remove_and_properties_validation() {
        let mut b = Baggage::new();
        assert!(b.insert_with_properties("k", "v", " a ; b = c ").is_ok());
        assert_eq!(b.to_header(), "k=v;a;b=c");
        assert!(b.insert_with_properties("k", "v", "a b").is_err());
        assert_eq!(b.remove("missing"), None);
        assert_eq!(b.remove("k").as_deref(), Some("v"));
        assert_eq!(b, Baggage::EMPTY);
    }
}
