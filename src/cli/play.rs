//! `reprise play`: a MIDI file or an audio file through the system's audio, with keys to pause,
//! seek and stop.

use std::path::PathBuf;
use std::process::ExitCode;

use reprise::audio::device::{list, NO_DEVICE};
use reprise::console;
use reprise::ops::engine::Engine;
use reprise::ops::play::{is_audio_file, play, play_file, play_to_port, Play};

use super::args::{AudioOutArgs, EngineArgs};
use super::common::bad_flag;

/// Play a MIDI file through the system's audio with the SoundFont synthesizer or the neural synth,
/// or an audio file (WAV, FLAC, MP3, Ogg Vorbis) as it is: a render, a take, a recording to clone.
///
/// Keys: space pauses, ←/→ seek 5 s, q (or Esc, Ctrl-C) stops with all notes off.
#[derive(clap::Args)]
pub struct PlayArgs {
    /// The MIDI file, or an audio file (.wav, .flac, .mp3, .ogg).
    file: Option<PathBuf>,
    #[command(flatten)]
    out: AudioOutArgs,
    /// Start this many seconds in.
    #[arg(long, default_value_t = 0.0)]
    from: f64,
    /// Send the notes to this MIDI output (index, part of a name from `reprise ports`, or
    /// `virtual:NAME`) instead of a synthesizer.
    #[arg(long, conflicts_with_all = ["device", "soundfont"])]
    midi_out: Option<String>,
    /// List the output devices and exit.
    #[arg(long)]
    list_devices: bool,
    #[command(flatten)]
    synth: EngineArgs,
    /// No status line.
    #[arg(short, long)]
    quiet: bool,
}

/// Plays to the end or until the user stops, then reports how playback went.
pub fn run(a: PlayArgs) -> anyhow::Result<ExitCode> {
    if a.list_devices {
        return list_devices();
    }
    let Some(file) = a.file.clone() else {
        anyhow::bail!(reprise::Error::Invalid(
            "play needs a MIDI file (or --list-devices)".into()
        ));
    };
    if !a.from.is_finite() || a.from < 0.0 {
        return Err(bad_flag("--from", a.from, "must be ≥ 0"));
    }
    if is_audio_file(&file) {
        return play_audio(&file, &a);
    }
    if let Some(out) = &a.midi_out {
        return play_midi_out(&file, out, &a);
    }
    if a.synth.engine == Engine::Neural && a.from > 0.0 {
        anyhow::bail!(reprise::Error::Invalid(
            "--from is not available with --engine neural (audio rendered while it plays cannot jump)"
                .into()
        ));
    }
    let req = Play {
        score: reprise::midi::read_file(&file)?,
        origin: file,
        voice: a.synth.voice(a.out.soundfont.clone()),
        device: a.out.device.clone(),
        from: a.from,
    };
    let length = req.score.duration();
    let playing = play(&req)?;
    let stopped = console::run(playing.playback(), || length, a.quiet);
    let at = playing.playback().position();
    let stats = playing.stop()?;
    if !a.quiet {
        eprintln!(
            "{} {} ({}, {} messages, {} late, {} underruns)",
            if stopped { "stopped at" } else { "played" },
            console::clock(if stopped { at } else { length }),
            req.voice.describe(),
            stats.delivered,
            stats.late_events,
            stats.underruns
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A MIDI file to a MIDI output port.
fn play_midi_out(file: &std::path::Path, out: &str, a: &PlayArgs) -> anyhow::Result<ExitCode> {
    let score = reprise::midi::read_file(file)?;
    let length = score.duration();
    let playing = play_to_port(
        &score,
        &reprise::ports::system::PortSpec::parse(out),
        a.from,
    )?;
    let stopped = console::run(playing.playback(), || length, a.quiet);
    let at = playing.playback().position();
    playing.stop()?;
    if !a.quiet {
        eprintln!(
            "{} {} (to MIDI output {out})",
            if stopped { "stopped at" } else { "played" },
            console::clock(if stopped { at } else { length }),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// An audio file, as it is.
fn play_audio(file: &std::path::Path, a: &PlayArgs) -> anyhow::Result<ExitCode> {
    if a.synth.engine == Engine::Neural || a.out.soundfont.is_some() {
        anyhow::bail!(reprise::Error::Invalid(
            "an audio file plays as it is: --engine and --soundfont are for MIDI files".into()
        ));
    }
    let playing = play_file(file, a.out.device.as_deref(), a.from)?;
    let length = playing.seconds().unwrap_or(0.0);
    let stopped = console::run(playing.playback(), || length, a.quiet);
    let at = playing.playback().position();
    let stats = playing.stop()?;
    if !a.quiet {
        eprintln!(
            "{} {} ({}, {} underruns)",
            if stopped { "stopped at" } else { "played" },
            console::clock(if stopped { at } else { length }),
            file.display(),
            stats.underruns
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list_devices() -> anyhow::Result<ExitCode> {
    let names = list();
    if names.is_empty() {
        anyhow::bail!(reprise::Error::Invalid(NO_DEVICE.into()));
    }
    for n in names {
        println!("{n}");
    }
    Ok(ExitCode::SUCCESS)
}
