//! A small Thrift codec for exactly the structs of `jaeger.thrift` (and the `emitBatch` call of
//! `agent.thrift`), in both the compact and the binary protocol.
//!
//! Written by hand rather than generated: the `thrift` crate's generated readers allocate what
//! a length prefix asks for and recurse as deep as the input nests, which a receiver of
//! network input cannot allow. Here every length and list size is checked against the bytes
//! left before anything is allocated (each element takes at least one byte), and structs and
//! containers nest at most [`MAX_DEPTH`] levels, unknown fields included.
//!
//! The struct readers return two kinds of trouble separately: a [`Framing`] error means the
//! bytes cannot be read further (truncated, an unknown type, a negative length), while a
//! [`Problem`] means a struct was read to its end but a field had the wrong type, was missing
//! or held an unusable value, so the rest of the body can still be read.

use std::borrow::Cow;

use crate::{quote, Problem};

/// How deep structs, lists, sets and maps may nest; Jaeger's own nesting is five levels
/// (call arguments, `Batch`, `Span`, `Log`, `Tag`).
pub(crate) const MAX_DEPTH: usize = 64;

/// Bytes that cannot be read as Thrift: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Framing {
    pub offset: usize,
    pub reason: String,
}

/// The Thrift types, named as `TType` names them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TType {
    Bool,
    Byte,
    Double,
    I16,
    I32,
    I64,
    Binary,
    Struct,
    Map,
    Set,
    List,
}

impl TType {
    /// The type as an error message names it, e.g. `an i64`.
    pub fn name(self) -> &'static str {
        match self {
            TType::Bool => "a bool",
            TType::Byte => "a byte",
            TType::Double => "a double",
            TType::I16 => "an i16",
            TType::I32 => "an i32",
            TType::I64 => "an i64",
            TType::Binary => "a string",
            TType::Struct => "a struct",
            TType::Map => "a map",
            TType::Set => "a set",
            TType::List => "a list",
        }
    }

    /// A list of this type as an error message names it, e.g. `a list of i64`.
    pub fn list_name(self) -> &'static str {
        match self {
            TType::Bool => "a list of bool",
            TType::Byte => "a list of byte",
            TType::Double => "a list of double",
            TType::I16 => "a list of i16",
            TType::I32 => "a list of i32",
            TType::I64 => "a list of i64",
            TType::Binary => "a list of string",
            TType::Struct => "a list of structs",
            TType::Map => "a list of maps",
            TType::Set => "a list of sets",
            TType::List => "a list of lists",
        }
    }

    fn binary_id(self) -> u8 {
        match self {
            TType::Bool => 2,
            TType::Byte => 3,
            TType::Double => 4,
            TType::I16 => 6,
            TType::I32 => 8,
            TType::I64 => 10,
            TType::Binary => 11,
            TType::Struct => 12,
            TType::Map => 13,
            TType::Set => 14,
            TType::List => 15,
        }
    }

    fn from_binary_id(id: u8) -> Option<TType> {
        Some(match id {
            2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::Double,
            6 => TType::I16,
            8 => TType::I32,
            10 => TType::I64,
            11 => TType::Binary,
            12 => TType::Struct,
            13 => TType::Map,
            14 => TType::Set,
            15 => TType::List,
            _ => return None,
        })
    }

    /// The compact protocol's type nibble; a bool field writes its value there instead.
    fn compact_id(self) -> u8 {
        match self {
            TType::Bool => 1,
            TType::Byte => 3,
            TType::I16 => 4,
            TType::I32 => 5,
            TType::I64 => 6,
            TType::Double => 7,
            TType::Binary => 8,
            TType::List => 9,
            TType::Set => 10,
            TType::Map => 11,
            TType::Struct => 12,
        }
    }

    fn from_compact_id(id: u8) -> Option<TType> {
        Some(match id {
            1 | 2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::I16,
            5 => TType::I32,
            6 => TType::I64,
            7 => TType::Double,
            8 => TType::Binary,
            9 => TType::List,
            10 => TType::Set,
            11 => TType::Map,
            12 => TType::Struct,
            _ => return None,
        })
    }
}

/// Thrift message types (`TMessageType`).
pub(crate) mod message_type {
    pub const CALL: u8 = 1;
    pub const REPLY: u8 = 2;
    pub const ONEWAY: u8 = 4;
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes Thrift values in one protocol. Structs are written field by field; the caller ends
/// each struct with [`Writer::struct_end`], which writes the stop byte.
pub(crate) trait Writer {
    /// A writer whose buffer holds `capacity` bytes before it grows.
    fn with_capacity(capacity: usize) -> Self;
    fn bytes(self) -> Vec<u8>;
    fn message_begin(&mut self, name: &str, kind: u8, seq_id: i32);
    fn struct_begin(&mut self);
    fn struct_end(&mut self);
    fn field(&mut self, id: i16, ttype: TType);
    fn field_bool(&mut self, id: i16, value: bool);
    fn list(&mut self, element: TType, len: usize);
    fn i32(&mut self, value: i32);
    fn i64(&mut self, value: i64);
    fn f64(&mut self, value: f64);
    fn binary(&mut self, value: &[u8]);
    /// Bytes already encoded in this protocol, e.g. a struct encoded on its own.
    fn raw(&mut self, bytes: &[u8]);
}

/// The compact protocol (`TCompactProtocol`): zigzag varints, field ids as deltas.
#[derive(Default)]
pub(crate) struct CompactWriter {
    buf: Vec<u8>,
    last_field: i16,
    outer_fields: Vec<i16>,
}

impl CompactWriter {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn field_header(&mut self, id: i16, type_nibble: u8) {
        let delta = i32::from(id) - i32::from(self.last_field);
        if (1..=15).contains(&delta) {
            self.buf.push(((delta as u8) << 4) | type_nibble);
        } else {
            self.buf.push(type_nibble);
            self.varint(zigzag(i64::from(id)));
        }
        self.last_field = id;
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

impl Writer for CompactWriter {
    fn with_capacity(capacity: usize) -> Self {
        CompactWriter {
            buf: Vec::with_capacity(capacity),
            last_field: 0,
            outer_fields: Vec::with_capacity(8),
        }
    }

    fn bytes(self) -> Vec<u8> {
        self.buf
    }

    fn message_begin(&mut self, name: &str, kind: u8, seq_id: i32) {
        // protocol id, then version 1 in the low 5 bits and the type in the high 3
        self.buf.push(0x82);
        self.buf.push(0x01 | (kind << 5));
        self.varint(u64::from(seq_id as u32));
        self.binary(name.as_bytes());
    }

    fn struct_begin(&mut self) {
        self.outer_fields.push(self.last_field);
        self.last_field = 0;
    }

    fn struct_end(&mut self) {
        self.buf.push(0);
        self.last_field = self.outer_fields.pop().unwrap_or(0);
    }

    fn field(&mut self, id: i16, ttype: TType) {
        self.field_header(id, ttype.compact_id());
    }

    fn field_bool(&mut self, id: i16, value: bool) {
        self.field_header(id, if value { 1 } else { 2 });
    }

    fn list(&mut self, element: TType, len: usize) {
        if len < 15 {
            self.buf.push(((len as u8) << 4) | element.compact_id());
        } else {
            self.buf.push(0xf0 | element.compact_id());
            self.varint(len as u64);
        }
    }

    fn i32(&mut self, value: i32) {
        self.varint(zigzag(i64::from(value)));
    }

    fn i64(&mut self, value: i64) {
        self.varint(zigzag(value));
    }

    fn f64(&mut self, value: f64) {
        // the compact protocol writes doubles little-endian
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    fn binary(&mut self, value: &[u8]) {
        self.varint(value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

/// The binary protocol (`TBinaryProtocol`, strict): fixed-width big-endian integers.
#[derive(Default)]
pub(crate) struct BinaryWriter {
    buf: Vec<u8>,
}

impl Writer for BinaryWriter {
    fn with_capacity(capacity: usize) -> Self {
        BinaryWriter {
            buf: Vec::with_capacity(capacity),
        }
    }

    fn bytes(self) -> Vec<u8> {
        self.buf
    }

    fn message_begin(&mut self, name: &str, kind: u8, seq_id: i32) {
        // strict form: version 1 in the high 16 bits, the type in the low byte
        self.i32(0x8001_0000_u32 as i32 | i32::from(kind));
        self.binary(name.as_bytes());
        self.i32(seq_id);
    }

    fn struct_begin(&mut self) {}

    fn struct_end(&mut self) {
        self.buf.push(0);
    }

    fn field(&mut self, id: i16, ttype: TType) {
        self.buf.push(ttype.binary_id());
        self.buf.extend_from_slice(&id.to_be_bytes());
    }

    fn field_bool(&mut self, id: i16, value: bool) {
        self.field(id, TType::Bool);
        self.buf.push(u8::from(value));
    }

    fn list(&mut self, element: TType, len: usize) {
        self.buf.push(element.binary_id());
        self.i32(i32::try_from(len).unwrap_or(i32::MAX));
    }

    fn i32(&mut self, value: i32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    fn i64(&mut self, value: i64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    fn f64(&mut self, value: f64) {
        self.buf.extend_from_slice(&value.to_bits().to_be_bytes());
    }

    fn binary(&mut self, value: &[u8]) {
        self.i32(i32::try_from(value.len()).unwrap_or(i32::MAX));
        self.buf.extend_from_slice(value);
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Reads Thrift values in one protocol from untrusted bytes.
pub(crate) trait Reader {
    fn pos(&self) -> usize;
    fn left(&self) -> usize;
    /// The message header: name, type and sequence id.
    /// The method name, message type and sequence id.
    fn message_begin(&mut self) -> Result<(String, u8, i32), Framing>;
    /// Enters a struct, counting the nesting depth.
    fn struct_begin(&mut self) -> Result<(), Framing>;
    fn struct_end(&mut self);
    /// The next field's id and type, or `None` at the struct's stop byte.
    fn field(&mut self) -> Result<Option<(i16, TType)>, Framing>;
    /// A list or set header: element type and size, the size checked against the bytes left.
    fn list(&mut self) -> Result<(TType, usize), Framing>;
    /// A map header: key type, value type and size, checked the same way.
    fn map(&mut self) -> Result<(TType, TType, usize), Framing>;
    fn bool(&mut self) -> Result<bool, Framing>;
    fn byte(&mut self) -> Result<i8, Framing>;
    fn i16(&mut self) -> Result<i16, Framing>;
    fn i32(&mut self) -> Result<i32, Framing>;
    fn i64(&mut self) -> Result<i64, Framing>;
    fn f64(&mut self) -> Result<f64, Framing>;
    fn binary(&mut self) -> Result<Vec<u8>, Framing>;
    fn depth(&mut self) -> &mut usize;

    /// Reads past a value of any type, nested ones included, up to [`MAX_DEPTH`].
    fn skip(&mut self, ttype: TType) -> Result<(), Framing> {
        match ttype {
            TType::Bool => self.bool().map(drop),
            TType::Byte => self.byte().map(drop),
            TType::I16 => self.i16().map(drop),
            TType::I32 => self.i32().map(drop),
            TType::I64 => self.i64().map(drop),
            TType::Double => self.f64().map(drop),
            TType::Binary => self.skip_binary(),
            TType::Struct => {
                self.struct_begin()?;
                while let Some((_, ttype)) = self.field()? {
                    self.skip(ttype)?;
                }
                self.struct_end();
                Ok(())
            }
            TType::List | TType::Set => {
                let at = self.pos();
                self.enter(at)?;
                let (element, len) = self.list()?;
                for _ in 0..len {
                    self.skip(element)?;
                }
                *self.depth() -= 1;
                Ok(())
            }
            TType::Map => {
                let at = self.pos();
                self.enter(at)?;
                let (key, value, len) = self.map()?;
                for _ in 0..len {
                    self.skip(key)?;
                    self.skip(value)?;
                }
                *self.depth() -= 1;
                Ok(())
            }
        }
    }

    fn skip_binary(&mut self) -> Result<(), Framing> {
        self.binary().map(drop)
    }

    fn enter(&mut self, at: usize) -> Result<(), Framing> {
        let depth = self.depth();
        if *depth >= MAX_DEPTH {
            return Err(Framing {
                offset: at,
                reason: format!("structs and containers nest deeper than {MAX_DEPTH} levels"),
            });
        }
        *depth += 1;
        Ok(())
    }
}

/// The shared cursor of both readers.
struct Cursor<'a> {
    body: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Framing> {
        if self.body.len() - self.pos < n {
            return Err(Framing {
                offset: self.pos,
                reason: format!("the body ends inside {what}"),
            });
        }
        let bytes = &self.body[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Framing> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn left(&self) -> usize {
        self.body.len() - self.pos
    }

    /// `len` bytes of a string whose length prefix started at `at`.
    fn string_bytes(&mut self, len: i64, at: usize) -> Result<Vec<u8>, Framing> {
        if len < 0 {
            return Err(Framing {
                offset: at,
                reason: format!("negative string length {len}"),
            });
        }
        let left = self.left();
        if len as u64 > left as u64 {
            return Err(Framing {
                offset: at,
                reason: format!("a string of {len} bytes is longer than the {left} bytes left"),
            });
        }
        Ok(self.take(len as usize, "a string")?.to_vec())
    }

    /// A container size read at `at`, checked against the bytes left: every element takes at
    /// least one byte, so a larger size cannot be honest.
    fn size(&self, size: i64, at: usize, what: &str) -> Result<usize, Framing> {
        if size < 0 {
            return Err(Framing {
                offset: at,
                reason: format!("negative {what} size {size}"),
            });
        }
        let left = self.left();
        if size as u64 > left as u64 {
            return Err(Framing {
                offset: at,
                reason: format!("a {what} of {size} elements is longer than the {left} bytes left"),
            });
        }
        Ok(size as usize)
    }
}

fn unknown_type(offset: usize, id: u8) -> Framing {
    Framing {
        offset,
        reason: format!("unknown type id {id}"),
    }
}

/// Reads the compact protocol.
pub(crate) struct CompactReader<'a> {
    cursor: Cursor<'a>,
    last_field: i16,
    outer_fields: Vec<i16>,
    /// A bool field keeps its value in the field header's type nibble.
    pending_bool: Option<bool>,
}

impl<'a> CompactReader<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        CompactReader {
            cursor: Cursor {
                body,
                pos: 0,
                depth: 0,
            },
            last_field: 0,
            outer_fields: Vec::new(),
            pending_bool: None,
        }
    }

    fn varint(&mut self, max_bytes: usize, what: &str) -> Result<u64, Framing> {
        let at = self.cursor.pos;
        let mut value = 0u64;
        for i in 0..max_bytes {
            let [byte] = self.cursor.array::<1>(what)?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Framing {
            offset: at,
            reason: format!("{what} is a varint longer than {max_bytes} bytes"),
        })
    }

    fn varint32(&mut self, what: &str) -> Result<u64, Framing> {
        let at = self.cursor.pos;
        let value = self.varint(5, what)?;
        if value > u64::from(u32::MAX) {
            return Err(Framing {
                offset: at,
                reason: format!("{what} is a varint larger than 32 bits"),
            });
        }
        Ok(value)
    }
}

impl Reader for CompactReader<'_> {
    fn pos(&self) -> usize {
        self.cursor.pos
    }

    fn left(&self) -> usize {
        self.cursor.left()
    }

    fn depth(&mut self) -> &mut usize {
        &mut self.cursor.depth
    }

    fn message_begin(&mut self) -> Result<(String, u8, i32), Framing> {
        let at = self.cursor.pos;
        let [protocol, version] = self.cursor.array::<2>("the message header")?;
        if protocol != 0x82 {
            return Err(Framing {
                offset: at,
                reason: format!("protocol id 0x{protocol:02x} is not the compact protocol's 0x82"),
            });
        }
        if version & 0x1f != 1 {
            return Err(Framing {
                offset: at + 1,
                reason: format!("compact protocol version {} is not 1", version & 0x1f),
            });
        }
        // the sequence id is an unsigned varint holding the i32's bits
        let seq_id = self.varint32("the sequence id")? as u32 as i32;
        let at = self.cursor.pos;
        let len = self.varint32("the method name's length")?;
        let name = self.cursor.string_bytes(len as i64, at)?;
        Ok((
            String::from_utf8_lossy(&name).into_owned(),
            version >> 5,
            seq_id,
        ))
    }

    fn struct_begin(&mut self) -> Result<(), Framing> {
        let at = self.cursor.pos;
        self.enter(at)?;
        self.outer_fields.push(self.last_field);
        self.last_field = 0;
        Ok(())
    }

    fn struct_end(&mut self) {
        self.cursor.depth = self.cursor.depth.saturating_sub(1);
        self.last_field = self.outer_fields.pop().unwrap_or(0);
    }

    fn field(&mut self) -> Result<Option<(i16, TType)>, Framing> {
        let at = self.cursor.pos;
        let [header] = self.cursor.array::<1>("a field header")?;
        if header == 0 {
            return Ok(None);
        }
        let type_id = header & 0x0f;
        let ttype = TType::from_compact_id(type_id).ok_or_else(|| unknown_type(at, type_id))?;
        let id = match header >> 4 {
            0 => self.i16()?,
            delta => self.last_field.wrapping_add(i16::from(delta)),
        };
        if ttype == TType::Bool {
            self.pending_bool = Some(type_id == 1);
        }
        self.last_field = id;
        Ok(Some((id, ttype)))
    }

    fn list(&mut self) -> Result<(TType, usize), Framing> {
        let at = self.cursor.pos;
        let [header] = self.cursor.array::<1>("a list header")?;
        let element =
            TType::from_compact_id(header & 0x0f).ok_or_else(|| unknown_type(at, header & 0x0f))?;
        let size = match header >> 4 {
            15 => self.varint32("a list size")?,
            short => u64::from(short),
        };
        let size = self.cursor.size(size as i64, at, "list")?;
        Ok((element, size))
    }

    fn map(&mut self) -> Result<(TType, TType, usize), Framing> {
        let at = self.cursor.pos;
        let size = self.varint32("a map size")?;
        let size = self.cursor.size(size as i64, at, "map")?;
        if size == 0 {
            return Ok((TType::Bool, TType::Bool, 0));
        }
        let at = self.cursor.pos;
        let [types] = self.cursor.array::<1>("a map header")?;
        let key = TType::from_compact_id(types >> 4).ok_or_else(|| unknown_type(at, types >> 4))?;
        let value =
            TType::from_compact_id(types & 0x0f).ok_or_else(|| unknown_type(at, types & 0x0f))?;
        Ok((key, value, size))
    }

    fn bool(&mut self) -> Result<bool, Framing> {
        if let Some(value) = self.pending_bool.take() {
            return Ok(value);
        }
        let [byte] = self.cursor.array::<1>("a bool")?;
        Ok(byte == 1)
    }

    fn byte(&mut self) -> Result<i8, Framing> {
        let [byte] = self.cursor.array::<1>("a byte")?;
        Ok(byte as i8)
    }

    fn i16(&mut self) -> Result<i16, Framing> {
        let at = self.cursor.pos;
        let value = unzigzag(self.varint(3, "an i16")?);
        i16::try_from(value).map_err(|_| Framing {
            offset: at,
            reason: "an i16 is a varint larger than 16 bits".to_string(),
        })
    }

    fn i32(&mut self) -> Result<i32, Framing> {
        Ok(unzigzag(self.varint32("an i32")?) as i32)
    }

    fn i64(&mut self) -> Result<i64, Framing> {
        Ok(unzigzag(self.varint(10, "an i64")?))
    }

    fn f64(&mut self) -> Result<f64, Framing> {
        Ok(f64::from_bits(u64::from_le_bytes(
            self.cursor.array::<8>("a double")?,
        )))
    }

    fn binary(&mut self) -> Result<Vec<u8>, Framing> {
        let at = self.cursor.pos;
        let len = self.varint32("a string length")?;
        self.cursor.string_bytes(len as i64, at)
    }
}

/// Reads the binary protocol.
pub(crate) struct BinaryReader<'a> {
    cursor: Cursor<'a>,
}

impl<'a> BinaryReader<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        BinaryReader {
            cursor: Cursor {
                body,
                pos: 0,
                depth: 0,
            },
        }
    }

    fn type_id(&mut self, what: &str) -> Result<TType, Framing> {
        let at = self.cursor.pos;
        let [id] = self.cursor.array::<1>(what)?;
        TType::from_binary_id(id).ok_or_else(|| unknown_type(at, id))
    }
}

impl Reader for BinaryReader<'_> {
    fn pos(&self) -> usize {
        self.cursor.pos
    }

    fn left(&self) -> usize {
        self.cursor.left()
    }

    fn depth(&mut self) -> &mut usize {
        &mut self.cursor.depth
    }

    fn message_begin(&mut self) -> Result<(String, u8, i32), Framing> {
        let at = self.cursor.pos;
        let first = self.i32()?;
        if first < 0 {
            // strict: version in the high 16 bits, type in the low byte, then name and seqid
            let version = (first as u32) >> 16;
            if version != 0x8001 {
                return Err(Framing {
                    offset: at,
                    reason: format!("binary protocol version 0x{version:04x} is not 0x8001"),
                });
            }
            let len = self.i32()?;
            let name = self.cursor.string_bytes(len.into(), at + 4)?;
            let seq_id = self.i32()?;
            Ok((
                String::from_utf8_lossy(&name).into_owned(),
                first as u8,
                seq_id,
            ))
        } else {
            // old non-strict form: name, then a type byte and the seqid
            let name = self.cursor.string_bytes(first.into(), at)?;
            let [kind] = self.cursor.array::<1>("the message header")?;
            let seq_id = self.i32()?;
            Ok((String::from_utf8_lossy(&name).into_owned(), kind, seq_id))
        }
    }

    fn struct_begin(&mut self) -> Result<(), Framing> {
        let at = self.cursor.pos;
        self.enter(at)
    }

    fn struct_end(&mut self) {
        self.cursor.depth = self.cursor.depth.saturating_sub(1);
    }

    fn field(&mut self) -> Result<Option<(i16, TType)>, Framing> {
        let at = self.cursor.pos;
        let [id] = self.cursor.array::<1>("a field header")?;
        if id == 0 {
            return Ok(None);
        }
        let ttype = TType::from_binary_id(id).ok_or_else(|| unknown_type(at, id))?;
        let field = i16::from_be_bytes(self.cursor.array::<2>("a field header")?);
        Ok(Some((field, ttype)))
    }

    fn list(&mut self) -> Result<(TType, usize), Framing> {
        let at = self.cursor.pos;
        let element = self.type_id("a list header")?;
        let size = i32::from_be_bytes(self.cursor.array::<4>("a list header")?);
        Ok((element, self.cursor.size(size.into(), at, "list")?))
    }

    fn map(&mut self) -> Result<(TType, TType, usize), Framing> {
        let at = self.cursor.pos;
        let key = self.type_id("a map header")?;
        let value = self.type_id("a map header")?;
        let size = i32::from_be_bytes(self.cursor.array::<4>("a map header")?);
        Ok((key, value, self.cursor.size(size.into(), at, "map")?))
    }

    fn bool(&mut self) -> Result<bool, Framing> {
        let [byte] = self.cursor.array::<1>("a bool")?;
        Ok(byte != 0)
    }

    fn byte(&mut self) -> Result<i8, Framing> {
        let [byte] = self.cursor.array::<1>("a byte")?;
        Ok(byte as i8)
    }

    fn i16(&mut self) -> Result<i16, Framing> {
        Ok(i16::from_be_bytes(self.cursor.array::<2>("an i16")?))
    }

    fn i32(&mut self) -> Result<i32, Framing> {
        Ok(i32::from_be_bytes(self.cursor.array::<4>("an i32")?))
    }

    fn i64(&mut self) -> Result<i64, Framing> {
        Ok(i64::from_be_bytes(self.cursor.array::<8>("an i64")?))
    }

    fn f64(&mut self) -> Result<f64, Framing> {
        Ok(f64::from_bits(u64::from_be_bytes(
            self.cursor.array::<8>("a double")?,
        )))
    }

    fn binary(&mut self) -> Result<Vec<u8>, Framing> {
        let at = self.cursor.pos;
        let len = self.i32()?;
        self.cursor.string_bytes(len.into(), at)
    }
}

// ---------------------------------------------------------------------------------------------
// The structs of jaeger.thrift

/// `Tag`: a key and one typed value (`vType` says which of the value fields is set).
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct Tag<'a> {
    pub key: Cow<'a, str>,
    pub value: TagValue<'a>,
}

/// The value of a [`Tag`], by `TagType`.
#[derive(Clone, PartialEq, Debug)]
pub(crate) enum TagValue<'a> {
    Str(Cow<'a, str>),
    Double(f64),
    Bool(bool),
    Long(i64),
    Binary(Cow<'a, [u8]>),
}

/// `Log`: a timestamp in microseconds and its fields.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct Log<'a> {
    pub timestamp: i64,
    pub fields: Vec<Tag<'a>>,
}

/// `SpanRefType`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RefType {
    ChildOf,
    FollowsFrom,
}

/// `SpanRef`: a causal reference to another span.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct SpanRef {
    pub ref_type: RefType,
    pub trace_id_low: i64,
    pub trace_id_high: i64,
    pub span_id: i64,
}

/// `Span`.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct Span<'a> {
    pub trace_id_low: i64,
    pub trace_id_high: i64,
    pub span_id: i64,
    pub parent_span_id: i64,
    pub operation_name: Cow<'a, str>,
    pub references: Vec<SpanRef>,
    pub flags: i32,
    pub start_time: i64,
    pub duration: i64,
    pub tags: Vec<Tag<'a>>,
    pub logs: Vec<Log<'a>>,
}

/// `Process`: the service that produced a batch.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct Process<'a> {
    pub service_name: Cow<'a, str>,
    pub tags: Vec<Tag<'a>>,
}

pub(crate) fn write_tag(w: &mut impl Writer, tag: &Tag<'_>) {
    w.struct_begin();
    w.field(1, TType::Binary);
    w.binary(tag.key.as_bytes());
    w.field(2, TType::I32);
    match &tag.value {
        TagValue::Str(text) => {
            w.i32(0);
            w.field(3, TType::Binary);
            w.binary(text.as_bytes());
        }
        TagValue::Double(x) => {
            w.i32(1);
            w.field(4, TType::Double);
            w.f64(*x);
        }
        TagValue::Bool(flag) => {
            w.i32(2);
            w.field_bool(5, *flag);
        }
        TagValue::Long(n) => {
            w.i32(3);
            w.field(6, TType::I64);
            w.i64(*n);
        }
        TagValue::Binary(bytes) => {
            w.i32(4);
            w.field(7, TType::Binary);
            w.binary(bytes);
        }
    }
    w.struct_end();
}

fn write_tags(w: &mut impl Writer, id: i16, tags: &[Tag<'_>]) {
    if tags.is_empty() {
        return;
    }
    w.field(id, TType::List);
    w.list(TType::Struct, tags.len());
    for tag in tags {
        write_tag(w, tag);
    }
}

pub(crate) fn write_span(w: &mut impl Writer, span: &Span<'_>) {
    w.struct_begin();
    for (id, value) in [
        (1, span.trace_id_low),
        (2, span.trace_id_high),
        (3, span.span_id),
        (4, span.parent_span_id),
    ] {
        w.field(id, TType::I64);
        w.i64(value);
    }
    w.field(5, TType::Binary);
    w.binary(span.operation_name.as_bytes());
    if !span.references.is_empty() {
        w.field(6, TType::List);
        w.list(TType::Struct, span.references.len());
        for reference in &span.references {
            w.struct_begin();
            w.field(1, TType::I32);
            w.i32(match reference.ref_type {
                RefType::ChildOf => 0,
                RefType::FollowsFrom => 1,
            });
            for (id, value) in [
                (2, reference.trace_id_low),
                (3, reference.trace_id_high),
                (4, reference.span_id),
            ] {
                w.field(id, TType::I64);
                w.i64(value);
            }
            w.struct_end();
        }
    }
    w.field(7, TType::I32);
    w.i32(span.flags);
    w.field(8, TType::I64);
    w.i64(span.start_time);
    w.field(9, TType::I64);
    w.i64(span.duration);
    write_tags(w, 10, &span.tags);
    if !span.logs.is_empty() {
        w.field(11, TType::List);
        w.list(TType::Struct, span.logs.len());
        for log in &span.logs {
            w.struct_begin();
            w.field(1, TType::I64);
            w.i64(log.timestamp);
            // `fields` is required, so an empty list is still written
            w.field(2, TType::List);
            w.list(TType::Struct, log.fields.len());
            for tag in &log.fields {
                write_tag(w, tag);
            }
            w.struct_end();
        }
    }
    w.struct_end();
}

pub(crate) fn write_process(w: &mut impl Writer, process: &Process<'_>) {
    w.struct_begin();
    w.field(1, TType::Binary);
    w.binary(process.service_name.as_bytes());
    write_tags(w, 2, &process.tags);
    w.struct_end();
}

/// The first problem found in a struct; later ones add nothing a caller could act on.
type FirstProblem = Option<Problem>;

fn note(first: &mut FirstProblem, problem: Problem) {
    first.get_or_insert(problem);
}

fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

/// Whether a field has the type its id calls for; one that does not is skipped and noted.
fn expect<R: Reader>(
    r: &mut R,
    found: TType,
    want: TType,
    field: impl FnOnce() -> String,
    first: &mut FirstProblem,
) -> Result<bool, Framing> {
    if found == want {
        return Ok(true);
    }
    r.skip(found)?;
    note(
        first,
        Problem::wrong_type(field(), found.name(), want.name()),
    );
    Ok(false)
}

fn read_string<R: Reader>(
    r: &mut R,
    field: impl FnOnce() -> String,
    first: &mut FirstProblem,
) -> Result<Option<String>, Framing> {
    let bytes = r.binary()?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(error) => {
            let lossy = String::from_utf8_lossy(error.as_bytes()).into_owned();
            note(
                first,
                Problem::invalid(field(), quote(&lossy), "is not valid UTF-8"),
            );
            Ok(None)
        }
    }
}

/// A list of structs, each read by `item`; a field that is not a list of structs is skipped
/// and noted.
fn read_list<R: Reader, T>(
    r: &mut R,
    found: TType,
    field: &str,
    first: &mut FirstProblem,
    mut item: impl FnMut(&mut R, &str, &mut FirstProblem) -> Result<Option<T>, Framing>,
) -> Result<Vec<T>, Framing> {
    if !expect(r, found, TType::List, || field.to_string(), first)? {
        return Ok(Vec::new());
    }
    let at = r.pos();
    r.enter(at)?;
    let (element, len) = r.list()?;
    let mut items = Vec::new();
    if element != TType::Struct {
        for _ in 0..len {
            r.skip(element)?;
        }
        note(
            first,
            Problem::wrong_type(field, element.list_name(), "a list of structs"),
        );
    } else {
        for i in 0..len {
            if let Some(value) = item(r, &format!("{field}[{i}]"), first)? {
                items.push(value);
            }
        }
    }
    *r.depth() -= 1;
    Ok(items)
}

/// Reads an i64 field into `slot`.
fn read_i64<R: Reader>(
    r: &mut R,
    found: TType,
    at: &str,
    name: &str,
    slot: &mut Option<i64>,
    first: &mut FirstProblem,
) -> Result<(), Framing> {
    if expect(r, found, TType::I64, || join(at, name), first)? {
        *slot = Some(r.i64()?);
    }
    Ok(())
}

fn read_i32<R: Reader>(
    r: &mut R,
    found: TType,
    at: &str,
    name: &str,
    slot: &mut Option<i32>,
    first: &mut FirstProblem,
) -> Result<(), Framing> {
    if expect(r, found, TType::I32, || join(at, name), first)? {
        *slot = Some(r.i32()?);
    }
    Ok(())
}

fn read_string_field<R: Reader>(
    r: &mut R,
    found: TType,
    at: &str,
    name: &str,
    slot: &mut Option<String>,
    first: &mut FirstProblem,
) -> Result<(), Framing> {
    if expect(r, found, TType::Binary, || join(at, name), first)? {
        if let Some(text) = read_string(r, || join(at, name), first)? {
            *slot = Some(text);
        }
    }
    Ok(())
}

/// A required field's value, or a `Missing` problem noted (unless a problem with it, such as
/// a wrong type, was noted already).
fn required<T>(slot: Option<T>, at: &str, name: &str, first: &mut FirstProblem) -> Option<T> {
    if slot.is_none() {
        note(first, Problem::missing(join(at, name)));
    }
    slot
}

pub(crate) fn read_tag<R: Reader>(
    r: &mut R,
    at: &str,
    first: &mut FirstProblem,
) -> Result<Option<Tag<'static>>, Framing> {
    r.struct_begin()?;
    let (mut key, mut v_type) = (None, None);
    let (mut v_str, mut v_double, mut v_bool, mut v_long, mut v_binary) =
        (None, None, None, None, None);
    let mut mine = None;
    while let Some((id, found)) = r.field()? {
        match id {
            1 => read_string_field(r, found, at, "key", &mut key, &mut mine)?,
            2 => read_i32(r, found, at, "vType", &mut v_type, &mut mine)?,
            3 => read_string_field(r, found, at, "vStr", &mut v_str, &mut mine)?,
            4 => {
                if expect(r, found, TType::Double, || join(at, "vDouble"), &mut mine)? {
                    v_double = Some(r.f64()?);
                }
            }
            5 => {
                if expect(r, found, TType::Bool, || join(at, "vBool"), &mut mine)? {
                    v_bool = Some(r.bool()?);
                }
            }
            6 => read_i64(r, found, at, "vLong", &mut v_long, &mut mine)?,
            7 => {
                if expect(r, found, TType::Binary, || join(at, "vBinary"), &mut mine)? {
                    v_binary = Some(r.binary()?);
                }
            }
            _ => r.skip(found)?,
        }
    }
    r.struct_end();
    let key = required(key, at, "key", &mut mine);
    let v_type = required(v_type, at, "vType", &mut mine);
    let value = match v_type {
        None => None,
        // A value field left out reads as its type's zero value, as Jaeger's collector reads
        // it: opencensus-python sends a STRING tag without vStr for a status with no message.
        Some(0) => Some(TagValue::Str(v_str.unwrap_or_default().into())),
        Some(1) => Some(TagValue::Double(v_double.unwrap_or_default())),
        Some(2) => Some(TagValue::Bool(v_bool.unwrap_or_default())),
        Some(3) => Some(TagValue::Long(v_long.unwrap_or_default())),
        Some(4) => Some(TagValue::Binary(v_binary.unwrap_or_default().into())),
        Some(other) => {
            note(
                &mut mine,
                Problem::invalid(
                    join(at, "vType"),
                    other.to_string(),
                    "is not a TagType (0 to 4)",
                ),
            );
            None
        }
    };
    Ok(finish(mine, first, || Tag {
        key: key.unwrap_or_default().into(),
        value: value.unwrap_or(TagValue::Bool(false)),
    }))
}

/// The struct, or nothing when a problem was found in it (the problem goes to `first`).
fn finish<T>(mine: FirstProblem, first: &mut FirstProblem, build: impl FnOnce() -> T) -> Option<T> {
    match mine {
        None => Some(build()),
        Some(problem) => {
            note(first, problem);
            None
        }
    }
}

fn read_log<R: Reader>(
    r: &mut R,
    at: &str,
    first: &mut FirstProblem,
) -> Result<Option<Log<'static>>, Framing> {
    r.struct_begin()?;
    let (mut timestamp, mut fields) = (None, None);
    let mut mine = None;
    while let Some((id, found)) = r.field()? {
        match id {
            1 => read_i64(r, found, at, "timestamp", &mut timestamp, &mut mine)?,
            2 => {
                let field = join(at, "fields");
                fields = Some(read_list(r, found, &field, &mut mine, read_tag)?);
            }
            _ => r.skip(found)?,
        }
    }
    r.struct_end();
    let timestamp = required(timestamp, at, "timestamp", &mut mine);
    let fields = required(fields, at, "fields", &mut mine);
    Ok(finish(mine, first, || Log {
        timestamp: timestamp.unwrap_or_default(),
        fields: fields.unwrap_or_default(),
    }))
}

fn read_span_ref<R: Reader>(
    r: &mut R,
    at: &str,
    first: &mut FirstProblem,
) -> Result<Option<SpanRef>, Framing> {
    r.struct_begin()?;
    let (mut ref_type, mut low, mut high, mut span_id) = (None, None, None, None);
    let mut mine = None;
    while let Some((id, found)) = r.field()? {
        match id {
            1 => read_i32(r, found, at, "refType", &mut ref_type, &mut mine)?,
            2 => read_i64(r, found, at, "traceIdLow", &mut low, &mut mine)?,
            3 => read_i64(r, found, at, "traceIdHigh", &mut high, &mut mine)?,
            4 => read_i64(r, found, at, "spanId", &mut span_id, &mut mine)?,
            _ => r.skip(found)?,
        }
    }
    r.struct_end();
    let ref_type = match required(ref_type, at, "refType", &mut mine) {
        Some(0) => Some(RefType::ChildOf),
        Some(1) => Some(RefType::FollowsFrom),
        Some(other) => {
            note(
                &mut mine,
                Problem::invalid(
                    join(at, "refType"),
                    other.to_string(),
                    "is not a SpanRefType (0 or 1)",
                ),
            );
            None
        }
        None => None,
    };
    let low = required(low, at, "traceIdLow", &mut mine);
    let high = required(high, at, "traceIdHigh", &mut mine);
    let span_id = required(span_id, at, "spanId", &mut mine);
    Ok(finish(mine, first, || SpanRef {
        ref_type: ref_type.unwrap_or(RefType::ChildOf),
        trace_id_low: low.unwrap_or_default(),
        trace_id_high: high.unwrap_or_default(),
        span_id: span_id.unwrap_or_default(),
    }))
}

/// One span: `Ok(Err(problem))` when the span was read to its end but is unusable.
pub(crate) fn read_span<R: Reader>(r: &mut R) -> Result<Result<Span<'static>, Problem>, Framing> {
    r.struct_begin()?;
    let mut ids = [None; 4];
    let (mut name, mut flags, mut start, mut duration) = (None, None, None, None);
    let (mut references, mut tags, mut logs) = (Vec::new(), Vec::new(), Vec::new());
    let mut mine = None;
    const ID_NAMES: [&str; 4] = ["traceIdLow", "traceIdHigh", "spanId", "parentSpanId"];
    while let Some((id, found)) = r.field()? {
        match id {
            1..=4 => {
                let i = (id - 1) as usize;
                read_i64(r, found, "", ID_NAMES[i], &mut ids[i], &mut mine)?;
            }
            5 => read_string_field(r, found, "", "operationName", &mut name, &mut mine)?,
            6 => references = read_list(r, found, "references", &mut mine, read_span_ref)?,
            7 => read_i32(r, found, "", "flags", &mut flags, &mut mine)?,
            8 => read_i64(r, found, "", "startTime", &mut start, &mut mine)?,
            9 => read_i64(r, found, "", "duration", &mut duration, &mut mine)?,
            10 => tags = read_list(r, found, "tags", &mut mine, read_tag)?,
            11 => logs = read_list(r, found, "logs", &mut mine, read_log)?,
            _ => r.skip(found)?,
        }
    }
    r.struct_end();
    let [low, high, span_id, parent] = ids;
    let low = required(low, "", "traceIdLow", &mut mine);
    let high = required(high, "", "traceIdHigh", &mut mine);
    let span_id = required(span_id, "", "spanId", &mut mine);
    let parent = required(parent, "", "parentSpanId", &mut mine);
    let name = required(name, "", "operationName", &mut mine);
    let flags = required(flags, "", "flags", &mut mine);
    let start = required(start, "", "startTime", &mut mine);
    let duration = required(duration, "", "duration", &mut mine);
    Ok(match mine {
        Some(problem) => Err(problem),
        None => Ok(Span {
            trace_id_low: low.unwrap_or_default(),
            trace_id_high: high.unwrap_or_default(),
            span_id: span_id.unwrap_or_default(),
            parent_span_id: parent.unwrap_or_default(),
            operation_name: name.unwrap_or_default().into(),
            references,
            flags: flags.unwrap_or_default(),
            start_time: start.unwrap_or_default(),
            duration: duration.unwrap_or_default(),
            tags,
            logs,
        }),
    })
}

pub(crate) fn read_process<R: Reader>(
    r: &mut R,
) -> Result<Result<Process<'static>, Problem>, Framing> {
    r.struct_begin()?;
    let (mut name, mut tags) = (None, Vec::new());
    let mut mine = None;
    while let Some((id, found)) = r.field()? {
        match id {
            1 => read_string_field(r, found, "process", "serviceName", &mut name, &mut mine)?,
            2 => tags = read_list(r, found, "process.tags", &mut mine, read_tag)?,
            _ => r.skip(found)?,
        }
    }
    r.struct_end();
    let name = required(name, "process", "serviceName", &mut mine);
    Ok(match mine {
        Some(problem) => Err(problem),
        None => Ok(Process {
            service_name: name.unwrap_or_default().into(),
            tags,
        }),
    })
}

/// What was read of a `Batch`, kept even when the bytes break off part way through.
#[derive(Default)]
pub(crate) struct BatchParts {
    /// `None` when the batch has no `process` field (yet).
    pub process: Option<Result<Process<'static>, Problem>>,
    /// `None` when the batch has no `spans` field (yet).
    pub spans: Option<Vec<Result<Span<'static>, Problem>>>,
    /// A problem with the batch's own fields (a wrong type).
    pub problem: FirstProblem,
}

/// Reads a `Batch` struct into `parts`; on a framing error, `parts` holds what came before.
pub(crate) fn read_batch<R: Reader>(r: &mut R, parts: &mut BatchParts) -> Result<(), Framing> {
    r.struct_begin()?;
    while let Some((id, found)) = r.field()? {
        match id {
            1 => {
                if expect(
                    r,
                    found,
                    TType::Struct,
                    || "process".to_string(),
                    &mut parts.problem,
                )? {
                    parts.process = Some(read_process(r)?);
                }
            }
            2 => {
                if !expect(
                    r,
                    found,
                    TType::List,
                    || "spans".to_string(),
                    &mut parts.problem,
                )? {
                    continue;
                }
                let at = r.pos();
                r.enter(at)?;
                let (element, len) = r.list()?;
                if element != TType::Struct {
                    for _ in 0..len {
                        r.skip(element)?;
                    }
                    note(
                        &mut parts.problem,
                        Problem::wrong_type("spans", element.list_name(), "a list of structs"),
                    );
                } else {
                    let spans = parts.spans.insert(Vec::new());
                    for _ in 0..len {
                        spans.push(read_span(r)?);
                    }
                }
                *r.depth() -= 1;
            }
            _ => r.skip(found)?,
        }
    }
    r.struct_end();
    Ok(())
}
