//! Writes the JSB chorales as ordinary MIDI files, a folder to train or fine-tune on (issue 21's
//! measured fine-tune): one file per chorale, `OUT/SPLIT/SPLIT-NNN.mid`, four voices on one piano,
//! at `--bpm` (default 60: a chorale's quarter note sung at about a second).
//!
//! `cargo run --release --example jsb_midi -- ../shared/data/jsb/Jsb16thSeparated.json /tmp/jsb-midi`

use std::path::{Path, PathBuf};

use reprise::tokens::grid::JsbData;
use reprise::tokens::GridVocab;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "jsb_midi JSON OUT_DIR [--bpm BPM]";
    let (json, out) = (args.first().ok_or(usage)?, args.get(1).ok_or(usage)?);
    let bpm = match args.get(2).map(String::as_str) {
        Some("--bpm") => args.get(3).ok_or(usage)?.parse()?,
        Some(_) => return Err(usage.into()),
        None => 60.0,
    };
    let data = JsbData::load(Path::new(json))?;
    let vocab = GridVocab { program: 0, bpm };
    let mut names: Vec<&String> = data.splits.keys().collect();
    names.sort();
    for split in names {
        let dir = PathBuf::from(out).join(split);
        std::fs::create_dir_all(&dir)?;
        let chorales = data.split(split)?;
        for (i, chorale) in chorales.iter().enumerate() {
            let score = vocab.chorale_to_score(chorale)?;
            reprise::midi::write_file(&score, &dir.join(format!("{split}-{i:03}.mid")))?;
        }
        println!("{split}: {} chorales in {}", chorales.len(), dir.display());
    }
    Ok(())
}
