//! Where a cloning's time goes: one pass of the loss over every crop, and a few Adam steps, on a
//! 20 s phrase of TimGM6mb's oboe (scripts/soundfonts). `cargo run --release --example clone_profile`.

use std::time::Instant;

use reprise::synth::clone::{clone_timbre, fit_loss, CloneSettings};
use reprise::synth::eval::mono_phrase;
use reprise::synth::render::{load_network, load_timbre, timbre_path};

fn main() -> reprise::Result<()> {
    let dir = std::path::Path::new("models/gla-synth");
    let net = load_network(dir)?;
    let t = load_timbre(&timbre_path(dir, "organ"), net.config())?;
    let sf = reprise::audio::soundfont::load(Some(std::path::Path::new(
        "/usr/share/sounds/sf2/TimGM6mb.sf2",
    )))?;
    let (audio, notes) = mono_phrase(&sf, 68, (58, 91), 20.0, 1)?;
    let t0 = Instant::now();
    let d = fit_loss(&net, &t, &audio, &notes)?;
    println!(
        "fit_loss over {} notes: {d:.4} in {:.2} s",
        notes.len(),
        t0.elapsed().as_secs_f64()
    );
    let steps = 20;
    let t0 = Instant::now();
    let settings = CloneSettings {
        max_steps: steps,
        check_every: 1000,
        ..CloneSettings::default()
    };
    clone_timbre(&net, &t, &audio, &notes, &settings, &mut |_, _| {})?;
    println!(
        "{steps} steps: {:.3} s/step",
        t0.elapsed().as_secs_f64() / steps as f64
    );
    Ok(())
}
