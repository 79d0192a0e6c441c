//! Used by `stockd`'s tools (`src/cli/`) and by `stockctl` (`src/bin/stockctl/`),
//! so that both print and read the same way:
//!
//! - [`positions_csv`]: reading a CSV of positions (the format of `stockd snapshot
//!   import`, `stockd snapshot export --format csv` and `stockctl import`) into
//!   [`PositionRow`](crate::model::PositionRow)s, every check done before anything
//!   is loaded, with errors that name the file line.
//! - [`durable_file`]: small files replaced atomically and durably (certificates,
//!   token hashes, sourcing profiles).
//! - [`table`]: tables with aligned columns, two spaces apart.
//! - [`time_text`]: milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC`, and
//!   RFC 3339 times and dates read back.

pub mod durable_file;
pub mod positions_csv;
pub mod table;
pub mod time_text;
