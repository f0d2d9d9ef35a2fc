//! Per-span bounds on collections.

/// How many items one span keeps; what goes beyond is dropped and counted on the span
/// ([`crate::DroppedCounts`]).
///
/// Attributes keep the first value set for each of the first `attributes` keys; setting a key
/// that is already present replaces its value and never counts as a drop.
///
/// # Examples
///
/// ```
/// use threadline::SpanLimits;
/// let limits = SpanLimits { attributes: 8, ..SpanLimits::default() };
/// assert_eq!(limits.annotations, 32);
/// assert_eq!(limits.message_events, 128);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SpanLimits {
    /// Attributes per span (default 32).
    pub attributes: u32,
    /// Annotations per span (default 32).
    pub annotations: u32,
    /// Message events per span (default 128).
    pub message_events: u32,
    /// Links per span (default 32).
    pub links: u32,
    /// Attributes per annotation (default 32).
    pub attributes_per_annotation: u32,
    /// Attributes per link (default 32).
    pub attributes_per_link: u32,
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            attributes: 32,
            annotations: 32,
            message_events: 128,
            links: 32,
            attributes_per_annotation: 32,
            attributes_per_link: 32,
        }
    }
}
