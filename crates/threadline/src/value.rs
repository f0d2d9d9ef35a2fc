//! Typed attribute values.

use std::borrow::Cow;
use std::fmt;

/// A string that is usually `'static` (no allocation) but may be owned.
pub type Str = Cow<'static, str>;

/// An attribute value: string, integer, float or boolean (the seed API's types), plus the arrays
/// and bytes that OTLP peers may send.
///
/// # Examples
///
/// ```
/// use threadline::Value;
/// assert_eq!(Value::from(42), Value::I64(42));
/// assert_eq!(Value::from("x").to_string(), "x");
/// assert_eq!(Value::from(true).to_string(), "true");
/// ```
#[derive(Clone, PartialEq, Debug)]
pub enum Value {
    /// A string.
    Str(Str),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A homogeneous or mixed array.
    Array(Vec<Value>),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl Value {
    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value's type as a lowercase word (`string`, `int`, `double`, `bool`, `array`, `bytes`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::I64(_) => "int",
            Value::F64(_) => "double",
            Value::Bool(_) => "bool",
            Value::Array(_) => "array",
            Value::Bytes(_) => "bytes",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Bytes(bytes) => {
                for b in bytes {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            #[inline]
            fn from(v: $t) -> Self { Value::I64(v as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, isize);

impl From<u64> for Value {
    /// Values above `i64::MAX` saturate: the wire formats carry signed 64-bit integers.
    #[inline]
    fn from(v: u64) -> Self {
        Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Value {
    #[inline]
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}

impl From<f64> for Value {
    #[inline]
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}

impl From<f32> for Value {
    #[inline]
    fn from(v: f32) -> Self {
        Value::F64(v as f64)
    }
}

impl From<bool> for Value {
    #[inline]
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&'static str> for Value {
    #[inline]
    fn from(v: &'static str) -> Self {
        Value::Str(Cow::Borrowed(v))
    }
}

impl From<String> for Value {
    #[inline]
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}

impl From<Str> for Value {
    #[inline]
    fn from(v: Str) -> Self {
        Value::Str(v)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

/// A key and its value.
#[derive(Clone, PartialEq, Debug)]
pub struct KeyValue {
    /// The attribute key.
    pub key: Str,
    /// The attribute value.
    pub value: Value,
}

impl KeyValue {
    /// A key-value pair from anything that converts.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::KeyValue;
    /// let kv = KeyValue::new("len", 5);
    /// assert_eq!(kv.key, "len");
    /// ```
    pub fn new(key: impl Into<Str>, value: impl Into<Value>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl<K: Into<Str>, V: Into<Value>> From<(K, V)> for KeyValue {
    fn from((key, value): (K, V)) -> Self {
        KeyValue::new(key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_stays_small() {
        assert!(std::mem::size_of::<Value>() <= 32);
    }

    #[test]
    fn u64_saturates() {
        assert_eq!(Value::from(u64::MAX), Value::I64(i64::MAX));
    }
}
