//! The one place that knows the encoding of wire messages and of the log's
//! catalogue operations and causes.
//!
//! Types derive serde's `Serialize`/`Deserialize` (format-neutral); only this module
//! names the format: bincode 2.0.1 (pinned; the crate is unmaintained), standard
//! configuration: little-endian, variable-length integers ("varint"), enum variants
//! as varint tags in declaration order, sequences and strings prefixed by their
//! varint length. [`by_hand`] writes and reads the same format's primitives without
//! serde, for the hot paths. Swapping the crate means changing this file only;
//! changing the format means changing this module (and the tests that hold the hot
//! paths to it).

pub mod by_hand;

use bincode::config::{Configuration, Limit, LittleEndian, Varint};

/// The largest value the codec will decode (a bound on any allocation a decoder
/// makes for hostile input).
pub const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

type Config = Configuration<LittleEndian, Varint, Limit<MAX_DECODED_BYTES>>;

const fn config() -> Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<MAX_DECODED_BYTES>()
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot decode: {0}")]
    Decode(String),
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
}

/// Appends the encoding of `value` to `buffer`.
pub fn encode_into<T: serde::Serialize + ?Sized>(value: &T, buffer: &mut Vec<u8>) {
    bincode::serde::encode_into_std_write(value, buffer, config())
        .expect("encoding into a Vec cannot fail for serde-derived types");
}

pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut buffer = Vec::new();
    encode_into(value, &mut buffer);
    buffer
}

/// Decodes exactly one value that fills `bytes`.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes one value from the start of `bytes`, ignoring what follows it (a reader
/// that needs only the leading fields of a record).
pub fn decode_prefix<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    bincode::serde::decode_from_slice(bytes, config())
        .map(|(value, _)| value)
        .map_err(|e| CodecError::Decode(e.to_string()))
}
