//! Token shards (issue 21): a corpus tokenised once (`reprise tokenize`), so that training on a
//! large folder starts at once and a distributed trainer reads the very same token streams.
//!
//! A shard folder holds `manifest.json` and, per split, `SPLIT-NNN.safetensors` files of at most
//! [`SHARD_TOKENS`] tokens. Each shard has three u32 tensors: `tokens` (the pieces one after the
//! other, each starting with BOS), `lengths` (tokens per piece) and `starts` (each piece's crop
//! starts, as offsets within the piece) with `start_counts` (crop starts per piece). The manifest
//! names the format and its version, the vocabulary with its version and size, the source and its
//! split, every source file with its size, hash and token count, and every shard with its size and
//! hash, so a truncated or changed shard is refused with a clear error rather than misread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sequences::Sequences;
use crate::error::{Error, Result};
use crate::midi::folder::fnv1a;
use crate::model::VocabKind;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's `format`.
pub const FORMAT: &str = "reprise-token-shards";
/// The shard format's version.
pub const VERSION: u32 = 1;
/// The most tokens one shard file holds (16 MiB of u32).
pub const SHARD_TOKENS: usize = 1 << 22;

/// What a shard folder holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format's version ([`VERSION`]).
    pub version: u32,
    /// The vocabulary the tokens are ids of.
    pub vocab: VocabKind,
    /// Its version ([`VocabKind::version`]).
    pub vocab_version: u32,
    /// Its size.
    pub vocab_size: usize,
    /// The data folder the tokens came from, as given.
    pub source: String,
    /// The share of a plain MIDI folder's files held out for validation (`None` for POP909's
    /// numbered splits).
    pub valid_share: Option<f64>,
    /// `train` and `valid`.
    pub splits: BTreeMap<String, Split>,
    /// Every source file, in split and piece order.
    pub files: Vec<SourceFile>,
}

/// One split in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Pieces.
    pub pieces: usize,
    /// Tokens, BOS included.
    pub tokens: usize,
    /// Seconds of music.
    pub seconds: f64,
    /// Its shard files, in order.
    pub shards: Vec<ShardFile>,
}

/// One shard file in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    /// File name in the shard folder.
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// FNV-1a (64 bits, hex) of its bytes.
    pub fnv1a64: String,
    /// Pieces in it.
    pub pieces: usize,
}

/// One source file in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Its path relative to the source folder.
    pub path: String,
    /// `train` or `valid`.
    pub split: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// FNV-1a (64 bits, hex) of its bytes (for POP909, of the MIDI file then its `beat_midi.txt`).
    pub fnv1a64: String,
    /// Tokens of its piece, BOS included.
    pub tokens: usize,
}

/// True when `path` is a shard folder (it holds a manifest).
pub fn is_shards(path: &Path) -> bool {
    path.join(MANIFEST).is_file()
}

/// Writes both splits as shards into the new folder `out` (all-or-nothing: written beside it, then
/// renamed); `source` is the data folder the pieces' `names` are relative to.
pub fn write(
    out: &Path,
    kind: VocabKind,
    source: &Path,
    valid_share: Option<f64>,
    splits: [(&str, &Sequences); 2],
) -> Result<Manifest> {
    let partial = partial_dir(out)?;
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        vocab: kind,
        vocab_version: kind.version(),
        vocab_size: kind.size(),
        source: source.display().to_string(),
        valid_share,
        splits: BTreeMap::new(),
        files: Vec::new(),
    };
    for (name, seqs) in splits {
        let split = write_split(&partial, name, seqs)?;
        manifest.splits.insert(name.into(), split);
        manifest.files.extend(source_files(source, name, seqs)?);
    }
    let text =
        serde_json::to_string_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    let path = partial.join(MANIFEST);
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    std::fs::rename(&partial, out).map_err(|e| Error::io(out, e))?;
    Ok(manifest)
}

/// A fresh folder beside `out` to write into; `out` itself must not exist yet (or be empty).
fn partial_dir(out: &Path) -> Result<PathBuf> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(Error::bad_file(
                out,
                "already exists: write the shards to a new folder",
            ));
        }
        std::fs::remove_dir(out).map_err(|e| Error::io(out, e))?;
    }
    let name = out
        .file_name()
        .map_or("shards".into(), |n| n.to_string_lossy().into_owned());
    let partial = out.with_file_name(format!(".{name}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    Ok(partial)
}

/// Writes one split's pieces as shard files of at most [`SHARD_TOKENS`] tokens each.
fn write_split(dir: &Path, name: &str, seqs: &Sequences) -> Result<Split> {
    let mut split = Split {
        pieces: seqs.seqs.len(),
        tokens: seqs.seqs.iter().map(Vec::len).sum(),
        seconds: seqs.seconds,
        shards: Vec::new(),
    };
    let mut first = 0;
    while first < seqs.seqs.len() {
        let mut last = first;
        let mut tokens = 0;
        while last < seqs.seqs.len()
            && (last == first || tokens + seqs.seqs[last].len() <= SHARD_TOKENS)
        {
            tokens += seqs.seqs[last].len();
            last += 1;
        }
        let file = format!("{name}-{:03}.safetensors", split.shards.len());
        let bytes = shard_bytes(seqs, first..last)?;
        let path = dir.join(&file);
        std::fs::write(&path, &bytes).map_err(|e| Error::io(&path, e))?;
        split.shards.push(ShardFile {
            file,
            bytes: bytes.len() as u64,
            fnv1a64: format!("{:016x}", fnv1a(&bytes)),
            pieces: last - first,
        });
        first = last;
    }
    Ok(split)
}

/// The safetensors bytes of pieces `range` of `seqs`.
fn shard_bytes(seqs: &Sequences, range: std::ops::Range<usize>) -> Result<Vec<u8>> {
    let mut tokens = Vec::new();
    let (mut lengths, mut starts, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for i in range {
        tokens.extend_from_slice(&seqs.seqs[i]);
        lengths.push(seqs.seqs[i].len() as u32);
        let s = seqs.starts.get(i).map_or(&[][..], Vec::as_slice);
        starts.extend(s.iter().map(|&x| x as u32));
        counts.push(s.len() as u32);
    }
    let le = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let data = [
        ("tokens", le(&tokens)),
        ("lengths", le(&lengths)),
        ("starts", le(&starts)),
        ("start_counts", le(&counts)),
    ];
    let views = data
        .iter()
        .map(|(name, bytes)| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::U32,
                vec![bytes.len() / 4],
                bytes,
            );
            view.map(|v| (name.to_string(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("safetensors: {e}")))?;
    safetensors::serialize(views, None).map_err(|e| Error::Internal(format!("safetensors: {e}")))
}

/// The manifest's entries for the source files of one split.
fn source_files(source: &Path, split: &str, seqs: &Sequences) -> Result<Vec<SourceFile>> {
    seqs.names
        .iter()
        .zip(&seqs.seqs)
        .map(|(name, seq)| {
            let path = source.join(name);
            let mut bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let size = bytes.len() as u64;
            let beats = path.with_file_name("beat_midi.txt");
            if crate::pop909::is_pop909(source) && beats.is_file() {
                bytes.extend(std::fs::read(&beats).map_err(|e| Error::io(&beats, e))?);
            }
            Ok(SourceFile {
                path: name.clone(),
                split: split.into(),
                bytes: size,
                fnv1a64: format!("{:016x}", fnv1a(&bytes)),
                tokens: seq.len(),
            })
        })
        .collect()
}

/// Reads a shard folder's manifest and checks it describes tokens of `kind` this Reprise reads.
pub fn manifest(dir: &Path, kind: VocabKind) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = crate::input::read_text(&path, "shard manifest")?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&path, format!("not a shard manifest: {e}")))?;
    let bad = |msg: String| Err(Error::bad_file(&path, msg));
    if m.format != FORMAT || m.version != VERSION {
        return bad(format!(
            "is {} version {}; this Reprise reads {FORMAT} version {VERSION}",
            m.format, m.version
        ));
    }
    if m.vocab != kind {
        return bad(format!(
            "holds {} tokens; the model reads the {} vocabulary",
            m.vocab.name(),
            kind.name()
        ));
    }
    if m.vocab_version != kind.version() || m.vocab_size != kind.size() {
        return bad(format!(
            "was written by {} vocabulary version {} ({} ids); this Reprise's is version {} ({} ids): tokenize again",
            kind.name(),
            m.vocab_version,
            m.vocab_size,
            kind.version(),
            kind.size()
        ));
    }
    Ok(m)
}

/// One split of a shard folder as token sequences for a model of `kind`, every shard checked.
pub fn read(dir: &Path, kind: VocabKind, split: &str) -> Result<Sequences> {
    let m = manifest(dir, kind)?;
    let Some(info) = m.splits.get(split) else {
        return Err(Error::bad_file(dir, format!("has no split '{split}'")));
    };
    let mut out = Sequences {
        seconds: info.seconds,
        ..Default::default()
    };
    for shard in &info.shards {
        read_shard(&dir.join(&shard.file), shard, kind.size(), &mut out)?;
    }
    out.names = m
        .files
        .iter()
        .filter(|f| f.split == split)
        .map(|f| f.path.clone())
        .collect();
    if out.seqs.len() != info.pieces {
        return Err(Error::bad_file(
            dir,
            format!(
                "the manifest counts {} pieces in {split}, the shards hold {}",
                info.pieces,
                out.seqs.len()
            ),
        ));
    }
    Ok(out)
}

/// Appends one shard's pieces to `out`, after checking its size, hash and contents.
fn read_shard(
    path: &Path,
    shard: &ShardFile,
    vocab_size: usize,
    out: &mut Sequences,
) -> Result<()> {
    let bytes = crate::input::read(path, crate::input::MAX_DATA_BYTES, "token shard")?;
    if bytes.len() as u64 != shard.bytes {
        return Err(Error::bad_file(
            path,
            format!(
                "is truncated or changed: {} bytes, the manifest says {}",
                bytes.len(),
                shard.bytes
            ),
        ));
    }
    if format!("{:016x}", fnv1a(&bytes)) != shard.fnv1a64 {
        return Err(Error::bad_file(
            path,
            "is changed or corrupt: its hash differs from the manifest's",
        ));
    }
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::bad_file(path, format!("not a token shard: {e}")))?;
    let get = |name: &str| -> Result<Vec<u32>> {
        let t = st
            .tensor(name)
            .map_err(|_| Error::bad_file(path, format!("has no tensor {name}")))?;
        if t.dtype() != safetensors::Dtype::U32 {
            return Err(Error::bad_file(path, format!("tensor {name} is not u32")));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let (tokens, lengths) = (get("tokens")?, get("lengths")?);
    let (starts, counts) = (get("starts")?, get("start_counts")?);
    split_pieces(&tokens, &lengths, &starts, &counts, vocab_size, out)
        .map_err(|msg| Error::bad_file(path, msg))
}

/// Cuts the flat tensors back into pieces, checking every bound.
fn split_pieces(
    tokens: &[u32],
    lengths: &[u32],
    starts: &[u32],
    counts: &[u32],
    vocab_size: usize,
    out: &mut Sequences,
) -> std::result::Result<(), String> {
    if counts.len() != lengths.len()
        || lengths.iter().map(|&l| l as usize).sum::<usize>() != tokens.len()
        || counts.iter().map(|&c| c as usize).sum::<usize>() != starts.len()
    {
        return Err("its piece lengths do not add up to its tokens".into());
    }
    if let Some(t) = tokens.iter().find(|&&t| t as usize >= vocab_size) {
        return Err(format!(
            "holds token id {t}, outside the vocabulary's {vocab_size}"
        ));
    }
    let (mut t, mut s) = (0, 0);
    for (&len, &count) in lengths.iter().zip(counts) {
        let (len, count) = (len as usize, count as usize);
        let piece_starts: Vec<usize> = starts[s..s + count].iter().map(|&x| x as usize).collect();
        if piece_starts.iter().any(|&x| x >= len.max(1)) {
            return Err("a crop start lies outside its piece".into());
        }
        out.seqs.push(tokens[t..t + len].to_vec());
        out.starts.push(piece_starts);
        t += len;
        s += count;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces() -> Sequences {
        Sequences {
            seqs: vec![vec![1, 40, 41, 42], vec![1, 50], vec![1, 60, 61]],
            starts: vec![vec![0, 2], vec![], vec![0]],
            seconds: 12.5,
            names: vec!["a.mid".into(), "b/c.mid".into(), "d.mid".into()],
        }
    }

    fn source() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        for name in ["a.mid", "b/c.mid", "d.mid"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        dir
    }

    #[test]
    fn shards_read_back_what_was_written() {
        let src = source();
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("shards");
        let (train, valid) = (
            pieces(),
            Sequences {
                names: vec![],
                ..Default::default()
            },
        );
        let m = write(
            &dir,
            VocabKind::Remi,
            src.path(),
            Some(0.1),
            [("train", &train), ("valid", &valid)],
        )
        .unwrap();
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.splits["train"].tokens, 9);
        let back = read(&dir, VocabKind::Remi, "train").unwrap();
        assert_eq!(back.seqs, train.seqs);
        assert_eq!(back.starts, train.starts);
        assert_eq!(back.names, train.names);
        assert_eq!(back.seconds, train.seconds);
        assert!(!out.path().join(".shards.partial").exists());
    }

    #[test]
    fn a_truncated_or_foreign_shard_is_refused_clearly() {
        let src = source();
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("shards");
        let empty = Sequences::default();
        write(
            &dir,
            VocabKind::Remi,
            src.path(),
            None,
            [("train", &pieces()), ("valid", &empty)],
        )
        .unwrap();
        let err = read(&dir, VocabKind::Performance, "train")
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds remi tokens"), "{err}");
        let shard = dir.join("train-000.safetensors");
        let bytes = std::fs::read(&shard).unwrap();
        std::fs::write(&shard, &bytes[..bytes.len() - 5]).unwrap();
        let err = read(&dir, VocabKind::Remi, "train")
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
        let again = write(
            &dir,
            VocabKind::Remi,
            src.path(),
            None,
            [("train", &empty), ("valid", &empty)],
        );
        assert!(again.unwrap_err().to_string().contains("already exists"));
    }

    /// Random corruption of a shard (its manifest entry updated so the size and hash pass) gives
    /// an error or checked pieces, never a panic.
    #[test]
    fn corrupt_shards_never_panic() {
        use rand::{Rng, SeedableRng};
        let src = source();
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("shards");
        let empty = Sequences::default();
        write(
            &dir,
            VocabKind::Remi,
            src.path(),
            None,
            [("train", &pieces()), ("valid", &empty)],
        )
        .unwrap();
        let shard = dir.join("train-000.safetensors");
        let good = std::fs::read(&shard).unwrap();
        let manifest: Manifest =
            serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).unwrap()).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for _ in 0..500 {
            let mut bytes = good.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            bytes.truncate(rng.random_range(bytes.len() / 2..=bytes.len()));
            let mut m = manifest.clone();
            let entry = &mut m.splits.get_mut("train").unwrap().shards[0];
            entry.bytes = bytes.len() as u64;
            entry.fnv1a64 = format!("{:016x}", fnv1a(&bytes));
            std::fs::write(&shard, &bytes).unwrap();
            std::fs::write(dir.join(MANIFEST), serde_json::to_string(&m).unwrap()).unwrap();
            if let Ok(seqs) = read(&dir, VocabKind::Remi, "train") {
                assert!(seqs
                    .seqs
                    .iter()
                    .flatten()
                    .all(|&t| (t as usize) < VocabKind::Remi.size()));
            }
        }
    }

    #[test]
    fn ids_outside_the_vocabulary_are_refused() {
        let mut out = Sequences::default();
        let err = split_pieces(&[1, 900], &[2], &[], &[0], 530, &mut out).unwrap_err();
        assert!(err.contains("900"), "{err}");
        let err = split_pieces(&[1, 2], &[3], &[], &[0], 530, &mut out).unwrap_err();
        assert!(err.contains("add up"), "{err}");
    }
}
