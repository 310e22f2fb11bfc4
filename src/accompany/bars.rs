//! The accompaniment model's view of music: notes on the REMI grid of a song's bars, the tokens of
//! each bar for one part (no Tempo: the output keeps the melody's tempo map), and the time positions
//! that align the melody (encoder) with the piano (decoder).

use super::chords::{BeatChord, BEATS_PER_BAR};
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

/// Key of the lowest chord root the encoder reads (C1): the roots take one octave, the chord tones
/// the octave above ([`CHORD_TONE_KEY`]), both below any melody.
pub const CHORD_ROOT_KEY: u8 = 24;
/// Key of the lowest chord tone the encoder reads (C2).
pub const CHORD_TONE_KEY: u8 = 36;

/// The chords of `beats` (one per beat, [`BEATS_PER_BAR`] a bar) as grid notes: each run of one
/// chord within a bar is its root at [`CHORD_ROOT_KEY`] + root and its pitch classes at
/// [`CHORD_TONE_KEY`] + pitch class, lasting the run.
pub fn chord_notes(beats: &[Option<BeatChord>]) -> Vec<GridNote> {
    let mut out = Vec::new();
    for (bar, chords) in beats.chunks(BEATS_PER_BAR).enumerate() {
        let mut k = 0;
        while k < chords.len() {
            let run = chords[k..].iter().take_while(|&&c| c == chords[k]).count();
            if let Some(c) = chords[k] {
                let note = |pitch: u8| GridNote {
                    bar,
                    pos: (k * 4) as u32,
                    pitch,
                    bin: 16,
                    duration: (run * 4) as u32,
                };
                out.push(note(CHORD_ROOT_KEY + c.root % 12));
                out.extend(
                    (0..12u8)
                        .filter(|pc| c.pitch_classes & (1 << pc) != 0)
                        .map(|pc| note(CHORD_TONE_KEY + pc)),
                );
            }
            k += run;
        }
    }
    out
}

/// Transposes encoder-side tokens by `k` semitones: melody notes move, chord notes (piano part,
/// keys [`CHORD_ROOT_KEY`] to [`CHORD_TONE_KEY`] + 11) move within their octave, so a root stays a
/// root. `None` if a note would leave the keyboard.
pub fn transpose_encoder(ids: &[u32], k: i32) -> Option<Vec<u32>> {
    use crate::tokens::Vocab;
    let mut out = crate::tokens::RemiVocab::default().transpose(ids, k)?;
    for (o, &id) in out.iter_mut().zip(ids) {
        if let Some(Token::NoteOn(Part::Piano, p)) = remi::token(id) {
            if (CHORD_ROOT_KEY..CHORD_TONE_KEY + 12).contains(&p) {
                let base = if p < CHORD_TONE_KEY {
                    CHORD_ROOT_KEY
                } else {
                    CHORD_TONE_KEY
                };
                let pc = (i32::from(p - base) + k).rem_euclid(12) as u8;
                *o = Part::Piano.note_on(base + pc);
            }
        }
    }
    Some(out)
}

/// The encoder's tokens of bars `0..n_bars`: the melody's notes as [`bar_tokens`] writes them,
/// and before them, at a chord's position, the chord's notes (piano part, Note-On and Duration
/// only: they are a plan, not something played).
pub fn encoder_bar_tokens(
    melody: &[GridNote],
    chords: &[GridNote],
    n_bars: usize,
) -> Vec<Vec<u32>> {
    let mut items: Vec<(bool, &GridNote)> = chords
        .iter()
        .map(|n| (false, n))
        .chain(melody.iter().map(|n| (true, n)))
        .filter(|(_, n)| n.bar < n_bars)
        .collect();
    items.sort_by_key(|&(is_melody, n)| (n.bar, n.pos, is_melody));
    let mut bars: Vec<Vec<u32>> = vec![vec![remi::BAR]; n_bars];
    let mut position: Option<(usize, u32)> = None;
    for (is_melody, n) in items {
        let ids = &mut bars[n.bar];
        if position != Some((n.bar, n.pos)) {
            ids.push(remi::POSITION + n.pos);
            position = Some((n.bar, n.pos));
        }
        if is_melody {
            let m = Part::Melody;
            ids.extend([
                m.velocity(n.bin),
                m.note_on(n.pitch),
                m.duration(n.duration),
            ]);
        } else {
            ids.extend([
                Part::Piano.note_on(n.pitch),
                Part::Piano.duration(n.duration),
            ]);
        }
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

    #[test]
    fn chords_become_low_notes_before_the_melody() {
        let c = BeatChord {
            root: 0,
            pitch_classes: 1 | 1 << 4 | 1 << 7,
        };
        let g = BeatChord {
            root: 7,
            pitch_classes: 1 << 7 | 1 << 11 | 1 << 2,
        };
        // Bar 0: C for two beats, G for two; bar 1: unlabelled, then C for three beats.
        let beats = [
            Some(c),
            Some(c),
            Some(g),
            Some(g),
            None,
            Some(c),
            Some(c),
            Some(c),
        ];
        let notes = chord_notes(&beats);
        let at = |bar, pos| -> Vec<(u8, u32)> {
            notes
                .iter()
                .filter(|n| (n.bar, n.pos) == (bar, pos))
                .map(|n| (n.pitch, n.duration))
                .collect()
        };
        assert_eq!(at(0, 0), [(24, 8), (36, 8), (40, 8), (43, 8)]);
        assert_eq!(at(0, 8), [(31, 8), (38, 8), (43, 8), (47, 8)]);
        assert_eq!(at(1, 4), [(24, 12), (36, 12), (40, 12), (43, 12)]);
        assert_eq!(notes.len(), 12);
        let bars = [0u64, 1920, 3840];
        let melody = place([(0, 480, 72, 100), (1920 + 480, 3840, 76, 90)], &bars);
        // Without chords the encoder reads what bar_tokens writes.
        assert_eq!(
            encoder_bar_tokens(&melody, &[], 2),
            bar_tokens(&melody, 2, Part::Melody)
        );
        let ids = encoder_bar_tokens(&melody, &notes, 2);
        let p = Part::Piano;
        assert_eq!(
            ids[1][..4],
            [remi::BAR, remi::POSITION + 4, p.note_on(24), p.duration(12)]
        );
        // The melody's note follows the chord's at the same position.
        let m = Part::Melody;
        assert_eq!(
            ids[1][10..],
            [m.velocity(melody[1].bin), m.note_on(76), m.duration(12)]
        );
        // Each chord note sounds for its run in the aligned-notes view.
        let pos = time_positions(&ids.concat());
        let sounding = crate::model::theme_transformer::sounding_notes(&ids.concat(), &pos);
        assert!(sounding.contains(&(1, 9, 24)) && sounding.contains(&(9, 17, 31)));
        // Up a fourth: the melody moves 5 keys; the G chord (root 31 = G) becomes C, its tones
        // wrap within their octave.
        let up = transpose_encoder(&ids[0], 5).unwrap();
        assert_eq!(up[..3], [remi::BAR, remi::POSITION, p.note_on(29)]);
        let tune = ids[0].iter().position(|&i| i == m.note_on(72)).unwrap();
        assert_eq!(up[tune], m.note_on(77));
        let g_root = ids[0].iter().position(|&i| i == p.note_on(31)).unwrap();
        assert_eq!(up[g_root], p.note_on(24));
        let b_tone = ids[0].iter().position(|&i| i == p.note_on(47)).unwrap();
        assert_eq!(up[b_tone], p.note_on(36 + 4));
    }
}
