//! `reprise record`: a phrase from a MIDI keyboard to a MIDI file, to a count-in and a metronome.

use std::path::PathBuf;

use reprise::console::cancel_on_interrupt;
use reprise::jam::record::{Phase, RecordSettings};
use reprise::midi::quantize::quantize;
use reprise::ops::record::{record, Record};

use super::args::AudioOutArgs;
use super::common::within;

/// Record from a MIDI keyboard: a bar of count-in, a metronome through the synthesizer, your
/// notes echoed; Ctrl-C ends the take, which is written at the metronome's tempo (bar 1 is the
/// first downbeat after the count-in). Continue, accompany or infill it like any MIDI file.
#[derive(clap::Args)]
pub struct RecordArgs {
    /// The keyboard: an input's index or part of its name (`reprise ports`), `virtual:NAME`, or a
    /// MIDI file played as if from a keyboard (its first note on the first downbeat).
    #[arg(long)]
    input: String,
    /// The MIDI file to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Tempo of the metronome, BPM.
    #[arg(long, default_value_t = 100.0, value_parser = within(20.0f64, 300.0))]
    bpm: f64,
    /// Bars of count-in (0–4).
    #[arg(long, default_value_t = 1, value_parser = within(0u32, 4))]
    count_in: u32,
    /// No metronome during the take (the count-in still clicks).
    #[arg(long)]
    no_metronome: bool,
    /// Snap onsets and releases to sixteenths.
    #[arg(long)]
    quantize: bool,
    #[command(flatten)]
    out: AudioOutArgs,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// `record`.
pub fn run(a: RecordArgs) -> anyhow::Result<()> {
    let input = reprise::ops::live::LiveInput::parse(&a.input);
    let mut inputs = Vec::new();
    if let reprise::ops::live::LiveInput::File(f) = &input {
        inputs.push(f.clone());
    }
    inputs.extend(a.out.soundfont.clone());
    let refs: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    reprise::atomic_file::check_output(&a.output, &refs)?;
    let req = Record {
        input,
        soundfont: a.out.soundfont.clone(),
        device: a.out.device.clone(),
        settings: RecordSettings {
            bpm: a.bpm,
            count_in_bars: a.count_in,
            metronome: !a.no_metronome,
            thru: Some(0),
        },
    };
    let stop = cancel_on_interrupt();
    let quiet = a.quiet;
    let mut score = record(req, &stop, &mut |phase| {
        if quiet {
            return;
        }
        match phase {
            Phase::CountIn(n) if n > 0 => eprintln!("count-in: {n}"),
            Phase::CountIn(_) => {}
            Phase::Recording(1) => eprintln!("recording at {} BPM; Ctrl-C ends the take", a.bpm),
            Phase::Recording(bar) => eprintln!("bar {bar}"),
        }
    })?;
    let moved = if a.quantize {
        quantize(&mut score, None)
    } else {
        0
    };
    reprise::midi::write_file(&score, &a.output)?;
    if !a.quiet {
        let q = if a.quantize {
            format!(", {moved} moved to sixteenths")
        } else {
            String::new()
        };
        eprintln!(
            "wrote {} ({} notes, {:.1} s{q})",
            a.output.display(),
            score.notes.len(),
            score.duration()
        );
    }
    Ok(())
}
