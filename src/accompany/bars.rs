//! The accompaniment model's view of music: notes on the REMI grid of a song's bars, the tokens of
//! each bar for one part (no Tempo: the output keeps the melody's tempo map), and the time positions
//! that align the melody (encoder) with the piano (decoder).

use crate::tokens::remi::{self, grid_place, Part, Token};
pub use crate::tokens::remi::{time_positions, TimeCounter};

/// A note on the bar grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GridNote {
    /// Bar (0-based).
    pub bar: usize,
    /// Sixteenth of the bar, 0–15.
    pub pos: u32,
    /// Key.
    pub pitch: u8,
    /// Velocity bin, 1–32.
    pub bin: u8,
    /// Length in sixteenths, 1–64.
    pub duration: u32,
}

/// Places `(start, end, pitch, velocity)` notes (ticks) on the grid of `bars`, sorted by time then
/// pitch; notes after the last bar are dropped.
pub fn place(notes: impl IntoIterator<Item = (u64, u64, u8, u8)>, bars: &[u64]) -> Vec<GridNote> {
    let mut out: Vec<GridNote> = notes
        .into_iter()
        .filter_map(|(start, end, pitch, velocity)| {
            let (bar, pos, duration) = grid_place(bars, start, end)?;
            (bar + 1 < bars.len()).then_some(GridNote {
                bar,
                pos,
                pitch,
                bin: crate::tokens::performance::velocity_bin(velocity),
                duration,
            })
        })
        .collect();
    out.sort();
    out
}

/// The tokens of bars `0..n_bars` for `part`: each is `Bar`, then per note `[Position] Velocity
/// Note-On Duration`, a Position only where it changes.
pub fn bar_tokens(notes: &[GridNote], n_bars: usize, part: Part) -> Vec<Vec<u32>> {
    let mut bars: Vec<Vec<u32>> = vec![vec![remi::BAR]; n_bars];
    let mut position: Option<(usize, u32)> = None;
    for n in notes.iter().filter(|n| n.bar < n_bars) {
        let ids = &mut bars[n.bar];
        if position != Some((n.bar, n.pos)) {
            ids.push(remi::POSITION + n.pos);
            position = Some((n.bar, n.pos));
        }
        ids.extend([
            part.velocity(n.bin),
            part.note_on(n.pitch),
            part.duration(n.duration),
        ]);
    }
    bars
}

/// The notes of `part` in a token stream whose first Bar is bar `first_bar`.
pub fn notes_of(ids: &[u32], first_bar: usize, part: Part) -> Vec<GridNote> {
    let mut out = Vec::new();
    let (mut bar, mut pos, mut bin, mut pitch) = (None::<usize>, 0, 64, None);
    for &id in ids {
        match remi::token(id) {
            Some(Token::Bar) => {
                bar = Some(bar.map_or(first_bar, |b| b + 1));
                pos = 0;
            }
            Some(Token::Position(p)) => pos = p,
            Some(Token::Velocity(p, b)) if p == part => bin = b,
            Some(Token::NoteOn(p, k)) if p == part => pitch = Some(k),
            Some(Token::Duration(p, d)) if p == part => {
                if let (Some(b), Some(k)) = (bar, pitch.take()) {
                    out.push(GridNote {
                        bar: b,
                        pos,
                        pitch: k,
                        bin,
                        duration: d,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Bars of melody the encoder reads beyond the decoder's window (so the piano can anticipate).
pub const LOOKAHEAD_BARS: usize = 1;

/// The melody the encoder reads for decoder bars `first..end`: bars `first..end + LOOKAHEAD_BARS`
/// (as far as they exist), at most `max_tokens`.
pub fn melody_window(melody: &[Vec<u32>], first: usize, end: usize, max_tokens: usize) -> Vec<u32> {
    let last = (end + LOOKAHEAD_BARS).min(melody.len());
    let mut ids: Vec<u32> = melody[first.min(last)..last].concat();
    ids.truncate(max_tokens);
    if ids.is_empty() {
        ids.push(remi::BAR);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_tokens_and_positions_round_trip() {
        // Bars of 1 920 ticks (4/4 at 480 PPQ).
        let bars = [0u64, 1920, 3840, 5760];
        let notes = place(
            [
                (0, 480, 72, 100),
                (0, 1920, 48, 60),
                (1920 + 240, 1920 + 480, 74, 100),
                (3840 - 10, 3840 + 470, 76, 100), // rounds to bar 2's downbeat
                (9000, 9100, 60, 100),            // after the last bar
            ],
            &bars,
        );
        assert_eq!(notes.len(), 4);
        assert_eq!((notes[0].bar, notes[0].pitch), (0, 48));
        assert_eq!((notes[3].bar, notes[3].pos, notes[3].duration), (2, 0, 4));
        let tokens = bar_tokens(&notes, 3, Part::Piano);
        assert_eq!(tokens.len(), 3);
        assert_eq!(tokens[0][..2], [remi::BAR, remi::POSITION]);
        let flat = tokens.concat();
        assert_eq!(notes_of(&flat, 0, Part::Piano), notes);
        assert!(notes_of(&flat, 0, Part::Melody).is_empty());
        // Bar 1: Bar, Position 2, three note tokens.
        let pos = time_positions(&tokens[1..].concat());
        assert_eq!(pos[..5], [1, 3, 3, 3, 3]);
        assert_eq!(pos[5], 17); // the next Bar
        assert_eq!(time_positions(&[crate::tokens::BOS, remi::BAR])[..], [0, 1]);
        // The encoder sees one bar beyond the window, and never an empty input.
        assert_eq!(melody_window(&tokens, 0, 1, 100), tokens[..2].concat());
        assert_eq!(melody_window(&tokens, 0, 3, 4).len(), 4);
        assert_eq!(melody_window(&[], 0, 3, 4), [remi::BAR]);
    }
}
