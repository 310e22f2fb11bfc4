//! Token sequences of one split, as every piano and chorale training job and the token shards hold
//! them, and what loading them reports as it goes.

/// Token sequences of one split, each starting with BOS, with the boundaries a crop may start at.
#[derive(Debug, Clone, Default)]
pub struct Sequences {
    /// `[BOS, tokens…]` per piece.
    pub seqs: Vec<Vec<u32>>,
    /// Token positions where a crop may start (e.g. the first voice of a grid step), per piece; empty
    /// for "any position".
    pub starts: Vec<Vec<usize>>,
    /// Seconds of music in all pieces, where the data says (0 otherwise).
    pub seconds: f64,
    /// Each piece's source file relative to the data folder, where the data has files (empty for
    /// the JSB JSON file).
    pub names: Vec<String>,
}

/// What loading a data set reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Loading<'a> {
    /// Files read and tokenised so far, of those found.
    Files {
        /// Done.
        done: usize,
        /// Found.
        total: usize,
    },
    /// A MIDI folder's scan: what was found, read and skipped, and the splits.
    Scanned(&'a super::folder::Summary),
}

/// A receiver of [`Loading`] reports.
pub type OnLoading<'a> = &'a (dyn Fn(Loading) + Sync);

/// An owned receiver of [`Loading`] reports (for [`super::TrainOptions::on_loading`]).
pub type LoadingReporter = Box<dyn Fn(Loading) + Sync>;

impl Sequences {
    /// Total number of predicted tokens (all but the BOS of each piece).
    pub fn tokens(&self) -> usize {
        self.seqs.iter().map(|s| s.len().saturating_sub(1)).sum()
    }
}
