//! Progress on stderr for anything that may take more than a second.
//!
//! indicatif draws to stderr and draws nothing when stderr is not a terminal, so
//! piped or redirected runs (and the tests) see no progress output; stdout carries
//! only results. A bar or spinner is cleared when dropped.

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

/// A spinner with a message and the time elapsed, for work of unknown length.
pub fn spinner(message: impl Into<Cow<'static, str>>) -> ProgressBar {
    let spinner = ProgressBar::new_spinner().with_finish(ProgressFinish::AndClear);
    spinner.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"));
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

/// A bar over `total` items.
pub fn bar(total: u64, message: impl Into<Cow<'static, str>>) -> ProgressBar {
    let bar = ProgressBar::new(total).with_finish(ProgressFinish::AndClear);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} ({eta} left)")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// A spinner for work that streams its results to stdout: hidden when stdout is a
/// terminal too (the lines scrolling by are the progress, and a spinner redrawn
/// between them would garble them).
pub fn streaming_spinner(message: impl Into<Cow<'static, str>>) -> ProgressBar {
    if std::io::stdout().is_terminal() {
        ProgressBar::hidden()
    } else {
        spinner(message)
    }
}

/// A bar for work that streams its results to stdout (hidden as above), or to a file.
pub fn streaming_bar(total: u64, message: impl Into<Cow<'static, str>>, to_stdout: bool) -> ProgressBar {
    if to_stdout && std::io::stdout().is_terminal() {
        ProgressBar::hidden()
    } else {
        bar(total, message)
    }
}
