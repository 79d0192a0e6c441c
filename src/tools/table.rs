//! Tables printed with aligned columns, two spaces apart, as every command-line tool
//! of this crate prints them.

use std::io::{self, Write};

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A header row and rows of cells, written with every column as wide as its widest
/// cell. A left-aligned last column is not padded (no trailing spaces).
pub struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[(&'static str, Align)]) -> Table {
        Table { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row: one cell for each header.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    /// Writes the header and the rows, one line each.
    pub fn write<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|(name, _)| name.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|(name, _)| (*name).to_owned()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate() {
                let (width, align) = (widths[index], self.headers[index].1);
                let pad = width - cell.chars().count();
                let last = index + 1 == row.len();
                if index > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                    Align::Left => {
                        line.push_str(cell);
                        if !last {
                            line.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                }
            }
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Headers = &'static [(&'static str, Align)];

    /// What a table of these headers and rows writes.
    fn written(headers: Headers, rows: &[&[&str]]) -> String {
        let mut table = Table::new(headers);
        for row in rows {
            table.row(row.iter().map(|cell| (*cell).to_owned()).collect());
        }
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn layouts() {
        let cases: [(Headers, &[&[&str]], &str); 3] = [
            // Every column as wide as its widest cell, two spaces apart.
            (
                &[("sku", Align::Left), ("available", Align::Right)],
                &[&["TSHIRT-RED-M", "5"]],
                "sku           available\nTSHIRT-RED-M          5\n",
            ),
            // A left-aligned last column is not padded.
            (
                &[("n", Align::Right), ("name", Align::Left)],
                &[&["10", "a"], &["2", "longer"]],
                " n  name\n10  a\n 2  longer\n",
            ),
            // Widths count characters, not bytes.
            (&[("city", Align::Left), ("n", Align::Right)], &[&["Zürich", "1"]], "city    n\nZürich  1\n"),
        ];
        for (headers, rows, expected) in cases {
            assert_eq!(written(headers, rows), expected);
        }
    }

    #[test]
    fn writes_through_a_trait_object() {
        let mut table = Table::new(&[("a", Align::Left)]);
        table.row(vec!["x".into()]);
        let mut buffer = Vec::new();
        let out: &mut dyn Write = &mut buffer;
        table.write(out).unwrap();
        assert_eq!(buffer, b"a\nx\n");
    }
}
