//! Tokenisers: a `Score` to token ids and back, behind one `Vocab` trait.

pub mod grid;
pub mod infill;
pub mod performance;
pub mod remi;

use crate::error::Result;
use crate::midi::Score;

pub use grid::{Chorale, GridVocab};
pub use performance::{NoteEvent, PerformanceStream, PerformanceVocab};
pub use remi::RemiVocab;

/// Id of the padding token in every vocabulary.
pub const PAD: u32 = 0;
/// Id of the begin-of-sequence token in every vocabulary.
pub const BOS: u32 = 1;
/// Id of the end-of-sequence token in every vocabulary.
pub const EOS: u32 = 2;

/// A vocabulary: encodes a `Score` into token ids and decodes ids back into a `Score`.
///
/// Ids `PAD`, `BOS` and `EOS` are shared by all vocabularies. `encode` returns the music's tokens
/// without BOS/EOS; `decode` skips PAD and BOS and stops at EOS.
pub trait Vocab {
    /// Number of distinct ids (ids are `0..size()`).
    fn size(&self) -> usize;
    /// The score as token ids.
    fn encode(&self, score: &Score) -> Result<Vec<u32>>;
    /// Token ids back into a score; ids outside the vocabulary are an error.
    fn decode(&self, ids: &[u32]) -> Result<Score>;
    /// A readable name for `id`, e.g. `NOTE_ON(60)`.
    fn token_name(&self, id: u32) -> String;
    /// The ids transposed by `semitones`, or `None` when a pitch would leave 0–127.
    fn transpose(&self, ids: &[u32], semitones: i32) -> Option<Vec<u32>>;
    /// The ids with time stretched by `factor`, or `None` if the vocabulary has no free timing (a grid).
    fn stretch(&self, _ids: &[u32], _factor: f64) -> Option<Vec<u32>> {
        None
    }
}

/// Shifts ids inside each `(first, count)` pitch range by `semitones`; `None` if one leaves its range.
pub(crate) fn shift_ranges(ids: &[u32], ranges: &[(u32, u32)], semitones: i32) -> Option<Vec<u32>> {
    ids.iter()
        .map(|&id| {
            match ranges
                .iter()
                .find(|(first, n)| (*first..first + n).contains(&id))
            {
                None => Some(id),
                Some(&(first, n)) => {
                    let p = (id - first) as i32 + semitones;
                    (0..n as i32).contains(&p).then(|| first + p as u32)
                }
            }
        })
        .collect()
}

/// The name of a shared special token, if `id` is one.
pub(crate) fn special_name(id: u32) -> Option<&'static str> {
    match id {
        PAD => Some("PAD"),
        BOS => Some("BOS"),
        EOS => Some("EOS"),
        _ => None,
    }
}
