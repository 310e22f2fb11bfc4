//! `reprise live`: call and response with a MIDI keyboard (or a MIDI file played as one).

use std::path::PathBuf;

use reprise::console::{cancel_on_interrupt, clock};
use reprise::generate::request::{DEFAULT_BEAT_TOP_P, DEFAULT_KEY_GUIDE};
use reprise::jam::take::AnswerReport;
use reprise::jam::{Event, Pause, Settings, TempoSetting};
use reprise::ops::live::{live, Live, LiveInput, LiveOutput, DEFAULT_MODEL};
use reprise::ports::system::PortSpec;

use super::args::{AudioOutArgs, EngineArgs, SamplingArgs};
use super::common::{clock_seed, nucleus, within};

/// Play a phrase, pause, and Reprise answers in your key and tempo; play again to interrupt it.
///
/// The answer comes after a bar of silence (or --pause SECONDS), starts on a beat and lasts
/// --answer-bars bars. Tempo: --bpm, or estimated from your first phrase (at least four notes;
/// your first note is the first downbeat). Stop with Ctrl-C; --record writes the session (you and
/// Reprise on two tracks) however it ends.
#[derive(clap::Args)]
pub struct LiveArgs {
    /// The keyboard: a MIDI input's index or part of its name (`reprise ports`), `virtual:NAME` for
    /// a new port other programs connect to, or a MIDI file played as if from a keyboard.
    #[arg(long)]
    input: String,
    /// Send Reprise's notes to this MIDI output (index, part of a name, or `virtual:NAME`) instead
    /// of the SoundFont synthesizer.
    #[arg(long, conflicts_with_all = ["engine", "device", "soundfont"])]
    midi_out: Option<String>,
    #[command(flatten)]
    out: AudioOutArgs,
    #[command(flatten)]
    synth: EngineArgs,
    /// Tempo in BPM (default: estimated from your first phrase).
    #[arg(long, value_parser = within(20.0f64, 300.0))]
    bpm: Option<f64>,
    /// Silence that ends a phrase: `bar` (one bar at the tempo) or seconds (0.1–30).
    #[arg(long, default_value = "bar", value_parser = pause)]
    pause: Pause,
    /// Bars in each answer (1–64).
    #[arg(long, default_value_t = 2, value_parser = within(1usize, 64))]
    answer_bars: usize,
    /// Echo your notes to the output: `auto` (to the synthesizer, not to a MIDI output), `on`, `off`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    thru: String,
    /// Write the session to this MIDI file when it ends.
    #[arg(long)]
    record: Option<PathBuf>,
    /// A beat-aware model's name or folder.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Nucleus sampling, in (0, 1].
    #[arg(long, default_value_t = DEFAULT_BEAT_TOP_P, value_parser = nucleus)]
    top_p: f32,
    /// Key guidance toward the key you play in, 0–10 nats (0: off).
    #[arg(long, default_value_t = DEFAULT_KEY_GUIDE, value_parser = within(0.0f32, 10.0))]
    key_guide: f32,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

fn pause(s: &str) -> Result<Pause, String> {
    if s == "bar" {
        return Ok(Pause::Bar);
    }
    match s.parse::<f64>() {
        Ok(v) if (0.1..=30.0).contains(&v) => Ok(Pause::Seconds(v)),
        _ => Err(format!("{s:?}: `bar` or seconds, 0.1–30")),
    }
}

/// `live`.
pub fn run(a: LiveArgs) -> anyhow::Result<()> {
    let output = match &a.midi_out {
        Some(p) => LiveOutput::Port(PortSpec::parse(p)),
        None => LiveOutput::Audio {
            voice: a.synth.voice(a.out.soundfont.clone()),
            device: a.out.device.clone(),
        },
    };
    let thru = match a.thru.as_str() {
        "on" => true,
        "off" => false,
        _ => a.midi_out.is_none(),
    };
    let seed = a.sampling.seed.unwrap_or_else(clock_seed);
    let settings = Settings {
        tempo: a.bpm.map_or(TempoSetting::Estimate, TempoSetting::Given),
        pause: a.pause,
        answer_bars: a.answer_bars,
        channel: 1,
        thru: thru.then_some(0),
        seed,
        lockstep: false,
    };
    let req = Live {
        model: a.model.clone(),
        top_p: a.top_p,
        temperature: a.sampling.temperature,
        key_guide: a.key_guide,
        record: a.record.clone(),
        ..Live::new(LiveInput::parse(&a.input), output, settings)
    };
    let stop = cancel_on_interrupt();
    let quiet = a.quiet;
    let result = live(&req, &stop, &mut |t, e| {
        if !quiet {
            eprintln!("{} {}", clock(t), describe(e, seed));
        }
    })?;
    if !a.quiet {
        let take = &result.take;
        let what = format!(
            "{} notes from you, {} from Reprise in {} answers",
            take.player.len(),
            take.reprise.len(),
            take.answers.len()
        );
        match &result.recorded {
            Some(p) => eprintln!("recorded {}: {what}", p.display()),
            None => eprintln!("{what}"),
        }
        if result.dropped > 0 {
            eprintln!("{} input messages were lost (queue full)", result.dropped);
        }
    }
    Ok(())
}

fn describe(e: &Event, seed: u64) -> String {
    match e {
        Event::Listening => {
            format!("listening (seed {seed}): play a phrase and pause; Ctrl-C stops")
        }
        Event::Tempo {
            bpm,
            estimated: None,
        } => format!("tempo {bpm} BPM (given)"),
        Event::Tempo {
            bpm,
            estimated: Some(fit),
        } => format!("tempo {bpm} BPM (estimated from your first phrase, fit {fit:.2})"),
        Event::NeedNotes => "play at least four notes so that Reprise can hear the tempo".into(),
        Event::Answering { bars, key, .. } => format!(
            "answering: {bars} bar{}{}",
            if *bars == 1 { "" } else { "s" },
            key.as_deref()
                .map(|k| format!(" in {k}"))
                .unwrap_or_default()
        ),
        Event::Answered(r) => answered(r),
        Event::Failed(why) => format!("no answer: {why}"),
    }
}

fn answered(r: &AnswerReport) -> String {
    let late = r
        .lateness()
        .map(|l| format!(", first note {:.0} ms after its time", l * 1e3))
        .unwrap_or_default();
    if r.interrupted {
        format!("you came in: answer stopped after {} notes{late}", r.notes)
    } else {
        format!("answered: {} notes{late}", r.notes)
    }
}
