//! The POP909 data set (Wang et al. 2020, MIT licence): `ROOT/NNN/NNN.mid` for songs 001–909 (this
//! copy holds 001–873), each with MELODY, BRIDGE and PIANO tracks. Reprise trains on 001–800 and
//! validates on 801–873.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::midi::Score;

/// Song numbers of the training split.
pub const TRAIN: std::ops::RangeInclusive<u32> = 1..=800;
/// Song numbers of the validation split.
pub const VALID: std::ops::RangeInclusive<u32> = 801..=909;

/// One song's files.
#[derive(Debug, Clone)]
pub struct Song {
    /// The POP909 number, 1–909.
    pub number: u32,
    /// `ROOT/NNN/`.
    pub dir: PathBuf,
}

impl Song {
    /// `ROOT/NNN/NNN.mid`.
    pub fn midi_path(&self) -> PathBuf {
        self.dir.join(format!("{:03}.mid", self.number))
    }

    /// The song's MIDI file as a score.
    pub fn score(&self) -> Result<Score> {
        crate::midi::read_file(&self.midi_path())
    }

    /// The song's bars (start ticks of `score`, its MIDI file): from its `beat_midi.txt`
    /// downbeats, else its time signatures.
    pub fn bars(&self, score: &Score) -> Vec<u64> {
        let end = score.end_tick();
        match downbeats(&self.midi_path()) {
            Some(d) => crate::midi::bars_from_downbeats(score, &d, end),
            None => crate::midi::bar_starts(score, end),
        }
    }
}

/// Beats and downbeats (seconds) from `beat_midi.txt` next to a POP909 MIDI file: every line is a
/// beat, and those whose third column is 1 start a bar (bars of four beats). `None` if there is no
/// such file or it holds fewer than two downbeats.
pub fn beats(midi: &Path) -> Option<(Vec<f64>, Vec<f64>)> {
    let text = crate::input::read_text(&midi.parent()?.join("beat_midi.txt"), "beat file").ok()?;
    let (mut beats, mut downbeats) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let cols: Vec<f64> = line
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .collect();
        if cols.len() >= 3 && cols[0].is_finite() {
            beats.push(cols[0]);
            if cols[2] == 1.0 {
                downbeats.push(cols[0]);
            }
        }
    }
    (downbeats.len() >= 2).then_some((beats, downbeats))
}

/// Downbeats (seconds) from `beat_midi.txt` next to a POP909 MIDI file (see [`beats`]).
pub fn downbeats(midi: &Path) -> Option<Vec<f64>> {
    beats(midi).map(|(_, d)| d)
}

/// The number of annotated bars (downbeats in `beat_midi.txt`) of the songs of `split`, or `None`
/// when `root` is not POP909 or a song has no annotation: the unit that makes NLLs of different
/// vocabularies comparable.
pub fn bar_count(root: &Path, split: &str) -> Option<usize> {
    if !is_pop909(root) {
        return None;
    }
    let songs = songs(root, split).ok()?;
    songs
        .iter()
        .map(|s| downbeats(&s.midi_path()).map(|d| d.len()))
        .sum()
}

/// True if `root` looks like a POP909 copy (it has `001/001.mid` or some `NNN/NNN.mid`).
pub fn is_pop909(root: &Path) -> bool {
    root.is_dir() && songs(root, "all").is_ok_and(|s| !s.is_empty())
}

/// The songs of `split` ("train", "valid" or "all") found under `root`, in number order.
pub fn songs(root: &Path, split: &str) -> Result<Vec<Song>> {
    let range = match split {
        "train" => TRAIN,
        "valid" => VALID,
        "all" => 1..=909,
        other => {
            return Err(Error::Invalid(format!(
                "unknown split {other:?}: POP909 has train (001–800) and valid (801–873)"
            )))
        }
    };
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut songs: Vec<Song> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let number: u32 = (name.len() == 3).then(|| name.parse().ok())??;
            let song = Song {
                number,
                dir: e.path(),
            };
            (range.contains(&number) && song.midi_path().is_file()).then_some(song)
        })
        .collect();
    songs.sort_by_key(|s| s.number);
    Ok(songs)
}

/// Reads the scores of `songs` on all cores; the error is that of the first unreadable file in
/// song order, whichever thread met it first.
pub fn read_all(songs: &[Song]) -> Result<Vec<Score>> {
    let read: Vec<Result<Score>> = songs.par_iter().map(Song::score).collect();
    read.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_songs_by_split() {
        let dir = tempfile::tempdir().unwrap();
        for n in [1u32, 800, 801, 873] {
            let d = dir.path().join(format!("{n:03}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join(format!("{n:03}.mid")), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("999x")).unwrap();
        std::fs::create_dir(dir.path().join("802")).unwrap(); // no MIDI inside
        let numbers = |split| -> Vec<u32> {
            songs(dir.path(), split)
                .unwrap()
                .iter()
                .map(|s| s.number)
                .collect()
        };
        assert_eq!(numbers("train"), [1, 800]);
        assert_eq!(numbers("valid"), [801, 873]);
        assert_eq!(numbers("all").len(), 4);
        assert!(songs(dir.path(), "test").is_err());
        assert!(is_pop909(dir.path()));
        // The fake files are not MIDI: reading them is an error naming the file.
        let err = read_all(&songs(dir.path(), "train").unwrap()).unwrap_err();
        assert!(err.to_string().contains("001.mid"), "{err}");
    }
}
