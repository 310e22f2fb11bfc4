//! Any folder of MIDI files as training data (issue 21): the files [`crate::midi::folder`] finds,
//! in its train/valid split, read, encoded for the model's vocabulary, and summarised. Unreadable
//! files are skipped and counted, never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::midi::folder::{find_midi, is_valid, Found};
use crate::midi::Score;
use crate::model::VocabKind;
use crate::tokens::{PerformanceVocab, RemiVocab, Vocab, BOS};

pub use crate::midi::folder::DEFAULT_VALID_SHARE;

/// What a scan found: counts for the user and the encoded pieces of one split.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// MIDI files found.
    pub found: usize,
    /// Files read and encoded (both splits).
    pub read: usize,
    /// Skipped files by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Each skipped file and why (for `--verbose`).
    pub skipped_files: Vec<(String, String)>,
    /// Tracks in the files read.
    pub tracks: usize,
    /// General MIDI programs heard (drums left out).
    pub programs: BTreeSet<u8>,
    /// Notes in the files read (drums included).
    pub notes: usize,
    /// Seconds of music in the files read.
    pub seconds: f64,
    /// Files and tokens per split: (train files, train tokens, valid files, valid tokens).
    pub splits: (usize, usize, usize, usize),
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let skipped: usize = self.skipped.values().sum();
        writeln!(
            f,
            "{} MIDI files found, {} read, {skipped} skipped",
            self.found, self.read
        )?;
        for (why, n) in &self.skipped {
            writeln!(f, "  skipped {n}: {why}")?;
        }
        let (tf, tt, vf, vt) = self.splits;
        write!(
            f,
            "{} tracks, {} programs, {} notes, {:.2} h of music; train {tf} files, {tt} tokens; valid {vf} files, {vt} tokens",
            self.tracks,
            self.programs.len(),
            self.notes,
            self.seconds / 3600.0
        )
    }
}

/// One split's pieces: `[BOS, tokens…]` each, where crops may start, seconds of music, and each
/// piece's file (relative to the folder).
#[derive(Debug, Clone, Default)]
pub struct Pieces {
    /// Token sequences.
    pub seqs: Vec<Vec<u32>>,
    /// Crop starts per piece (empty: anywhere).
    pub starts: Vec<Vec<usize>>,
    /// Seconds of music.
    pub seconds: f64,
    /// Each piece's path relative to the folder.
    pub names: Vec<String>,
}

/// Both splits of a folder and the scan's summary.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The training split.
    pub train: Pieces,
    /// The validation split.
    pub valid: Pieces,
    /// What was found, read and skipped.
    pub summary: Summary,
}

/// Progress of a scan: files read so far and files found.
pub type OnFile<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// One split of the folder as token sequences for `kind`, and the scan's summary (both splits).
pub fn load(
    kind: VocabKind,
    root: &Path,
    split: &str,
    valid_share: f64,
) -> Result<(Pieces, Summary)> {
    let want_valid = match split {
        "train" => false,
        "valid" => true,
        other => {
            return Err(Error::bad_file(
                root,
                format!("no split '{other}' (a MIDI folder has train and valid)"),
            ))
        }
    };
    let scan = scan(kind, root, valid_share, &|_, _| {})?;
    let pieces = if want_valid { scan.valid } else { scan.train };
    Ok((pieces, scan.summary))
}

/// Both splits of the folder as token sequences for `kind`, read once; `on_file` sees progress.
pub fn scan(kind: VocabKind, root: &Path, valid_share: f64, on_file: OnFile) -> Result<Scan> {
    if !(0.0..1.0).contains(&valid_share) {
        return Err(Error::Invalid(format!(
            "a valid share of {valid_share}: it must be in [0, 1)"
        )));
    }
    let files = find_midi(root)?;
    let mut out = Scan::default();
    out.summary.found = files.len();
    let encoded = encode_all(kind, &files, on_file)?;
    for (file, result) in files.iter().zip(encoded) {
        let valid = is_valid(&file.relative, valid_share);
        match result {
            Err(why) => {
                *out.summary.skipped.entry(reason(&why)).or_default() += 1;
                out.summary.skipped_files.push((file.relative.clone(), why));
            }
            Ok((score, seq)) => {
                count(&mut out.summary, &score, seq.len() - 1, valid);
                let pieces = if valid {
                    &mut out.valid
                } else {
                    &mut out.train
                };
                pieces.starts.push(starts(kind, &seq));
                pieces.seqs.push(seq);
                pieces.seconds += score.duration();
                pieces.names.push(file.relative.clone());
            }
        }
    }
    if out.summary.read == 0 {
        return Err(Error::bad_file(
            root,
            format!(
                "holds no MIDI file Reprise could learn from ({} found)",
                out.summary.found
            ),
        ));
    }
    Ok(out)
}

fn count(summary: &mut Summary, score: &Score, tokens: usize, valid: bool) {
    summary.read += 1;
    summary.tracks += score.tracks.len();
    summary.notes += score.notes.len();
    summary.seconds += score.duration();
    let pitched = score.notes.iter().filter(|n| !n.is_drum());
    summary.programs.extend(pitched.map(|n| n.program));
    let (tf, tt, vf, vt) = &mut summary.splits;
    if valid {
        *vf += 1;
        *vt += tokens;
    } else {
        *tf += 1;
        *tt += tokens;
    }
}

/// A file read and encoded, or why it cannot be used.
type Encoded = std::result::Result<(Score, Vec<u32>), String>;

/// Reads and encodes every file on all cores; a file that cannot be used gives its reason.
fn encode_all(kind: VocabKind, files: &[Found], on_file: OnFile) -> Result<Vec<Encoded>> {
    use rayon::prelude::*;
    if kind == VocabKind::Grid {
        return Err(Error::Invalid(
            "a folder of MIDI files trains the piano vocabularies (performance or beat-aware REMI); chorale grid models read the JSB JSON file".into(),
        ));
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    Ok(files
        .par_iter()
        .map(|f| {
            let encoded = encode_file(kind, &f.path);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            on_file(n, files.len());
            encoded
        })
        .collect())
}

fn encode_file(kind: VocabKind, path: &Path) -> std::result::Result<(Score, Vec<u32>), String> {
    let score = crate::midi::read_file(path).map_err(|e| match e {
        Error::BadFile { msg, .. } => msg,
        Error::Io { source, .. } => source.to_string(),
        e => e.to_string(),
    })?;
    if score.notes.iter().all(|n| n.is_drum()) {
        return Err("no pitched notes (drums only or empty)".into());
    }
    let tokens = match kind {
        VocabKind::Remi => RemiVocab {
            one_part: true,
            ..Default::default()
        }
        .encode(&score),
        _ => PerformanceVocab::default().encode(&score),
    }
    .map_err(|e| e.to_string())?;
    if tokens.len() < 2 {
        return Err("too short to learn from".into());
    }
    let mut seq = vec![BOS];
    seq.extend(tokens);
    Ok((score, seq))
}

/// The reason, without what is particular to one file (numbers), so that reasons can be counted.
fn reason(why: &str) -> String {
    let head = why.split([':', '(']).next().unwrap_or(why).trim();
    head.chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

/// Crop starts: at Bar tokens for REMI (as a continuation's prompt starts), anywhere otherwise.
fn starts(kind: VocabKind, seq: &[u32]) -> Vec<usize> {
    match kind {
        VocabKind::Remi => (0..seq.len())
            .filter(|&i| i == 0 || seq[i] == crate::tokens::remi::BAR)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_counted_without_their_particulars() {
        assert_eq!(
            reason("truncated file: chunk 2 claims 900 bytes"),
            reason("truncated file: chunk 1 claims 12 bytes")
        );
        assert_eq!(
            reason("no pitched notes (drums only or empty)"),
            "no pitched notes"
        );
    }
}
