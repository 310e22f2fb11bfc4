//! The chord editor: the chords an accompaniment followed, one per beat, four beats a bar. ←/→ choose
//! a beat, ↑/↓ move its root by a semitone, `m` changes its quality, `n` clears it, `b` copies it to
//! the rest of its bar; Enter accompanies again with these chords, Esc closes.

use crate::accompany::chords::{chord_name, BeatChord, BEATS_PER_BAR};
use crate::midi::Score;

use super::types::Key;

/// Chord qualities the editor cycles through, as intervals above the root.
pub const QUALITIES: [(&str, &[u8]); 7] = [
    ("major", &[0, 4, 7]),
    ("minor", &[0, 3, 7]),
    ("7", &[0, 4, 7, 10]),
    ("maj7", &[0, 4, 7, 11]),
    ("m7", &[0, 3, 7, 10]),
    ("dim", &[0, 3, 6]),
    ("sus4", &[0, 5, 7]),
];

/// The pitch classes of `quality` (index into [`QUALITIES`]) on `root`.
pub fn chord(root: u8, quality: usize) -> BeatChord {
    let pcs = QUALITIES[quality % QUALITIES.len()]
        .1
        .iter()
        .fold(0u16, |m, &i| m | 1 << ((root + i) % 12));
    BeatChord {
        root: root % 12,
        pitch_classes: pcs,
    }
}

/// The index of `c`'s quality in [`QUALITIES`], if it is one of them.
pub fn quality(c: &BeatChord) -> Option<usize> {
    (0..QUALITIES.len()).find(|&q| chord(c.root, q).pitch_classes == c.pitch_classes)
}

/// The chords of an accompaniment and the song they were written for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChordSheet {
    /// The song before the piano part was added (accompanied again with edited chords).
    pub song: Score,
    /// One chord per beat (`None`: no chord).
    pub beats: Vec<Option<BeatChord>>,
    /// The beat being edited.
    pub cursor: usize,
    /// True once the user changed a chord.
    pub edited: bool,
}

/// What a key in the editor asks of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetAction {
    /// Nothing more.
    Stay,
    /// Close the editor.
    Close,
    /// Accompany again with these chords.
    Reaccompany,
}

impl ChordSheet {
    /// A sheet over `beats` for `song`.
    pub fn new(song: Score, beats: Vec<Option<BeatChord>>) -> Self {
        ChordSheet {
            song,
            beats,
            cursor: 0,
            edited: false,
        }
    }

    /// Bars on the sheet.
    pub fn bars(&self) -> usize {
        self.beats.len().div_ceil(BEATS_PER_BAR)
    }

    /// Bar `bar` as text: `C . G7 .` (a dot repeats the chord before it).
    pub fn bar_text(&self, bar: usize) -> Vec<String> {
        let from = bar * BEATS_PER_BAR;
        (from..(from + BEATS_PER_BAR).min(self.beats.len()))
            .map(|i| {
                let same = i > 0 && i != from && self.beats[i] == self.beats[i - 1];
                match &self.beats[i] {
                    _ if same && i != self.cursor => ".".into(),
                    Some(c) => chord_name(c),
                    None => "N".into(),
                }
            })
            .collect()
    }

    /// Handles a key.
    pub fn key(&mut self, key: Key) -> SheetAction {
        let n = self.beats.len();
        match key {
            Key::Esc | Key::Char('q') | Key::Char('k') => return SheetAction::Close,
            Key::Enter => return SheetAction::Reaccompany,
            Key::Left if self.cursor > 0 => self.cursor -= 1,
            Key::Right if self.cursor + 1 < n => self.cursor += 1,
            Key::Up => self.edit(|c| c.map(|c| transpose(c, 1))),
            Key::Down => self.edit(|c| c.map(|c| transpose(c, 11))),
            Key::Char('m') => self.edit(|c| {
                let c = c.unwrap_or(chord(0, QUALITIES.len() - 1));
                Some(chord(c.root, quality(&c).map_or(0, |q| q + 1)))
            }),
            Key::Char('n') => self.edit(|_| None),
            Key::Char('b') => self.fill_bar(),
            _ => {}
        }
        SheetAction::Stay
    }

    fn edit(&mut self, f: impl FnOnce(Option<BeatChord>) -> Option<BeatChord>) {
        if let Some(slot) = self.beats.get_mut(self.cursor) {
            *slot = f(*slot);
            self.edited = true;
        }
    }

    fn fill_bar(&mut self) {
        let Some(&c) = self.beats.get(self.cursor) else {
            return;
        };
        let from = self.cursor / BEATS_PER_BAR * BEATS_PER_BAR;
        let to = (from + BEATS_PER_BAR).min(self.beats.len());
        self.beats[from..to].fill(c);
        self.edited = true;
    }
}

/// `c` moved up by `semitones`.
fn transpose(c: BeatChord, semitones: u8) -> BeatChord {
    let s = u32::from(semitones % 12);
    let pcs = u32::from(c.pitch_classes);
    BeatChord {
        root: (c.root + semitones) % 12,
        pitch_classes: (((pcs << s) | (pcs >> (12 - s))) & 0xfff) as u16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_move_qualities_cycle_and_bars_fill() {
        let song = Score::new(480, 500_000).unwrap();
        let mut s = ChordSheet::new(song, vec![Some(chord(0, 0)), None, None, None, None]);
        assert_eq!(s.bars(), 2);
        s.key(Key::Up);
        assert_eq!(chord_name(&s.beats[0].unwrap()), chord_name(&chord(1, 0)));
        s.key(Key::Down);
        s.key(Key::Down);
        assert_eq!(s.beats[0], Some(chord(11, 0)));
        s.key(Key::Char('m'));
        assert_eq!(s.beats[0], Some(chord(11, 1)));
        s.key(Key::Char('b'));
        assert!(s.beats[..4].iter().all(|c| *c == Some(chord(11, 1))));
        assert_eq!(s.bar_text(0)[1], ".");
        s.key(Key::Right);
        s.key(Key::Char('n'));
        assert_eq!(s.beats[1], None);
        assert!(s.edited);
        assert_eq!(s.key(Key::Enter), SheetAction::Reaccompany);
        assert_eq!(s.key(Key::Esc), SheetAction::Close);
    }
}
