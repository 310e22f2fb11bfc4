//! How close can the synth get? For a held-out program of TimGM6mb: the distance on phrase B of
//! the nearest shipped timbre, of the bundled and FluidR3 SoundFonts' same program, of a clone from
//! phrase A, and of a clone fitted on B itself (the ceiling of cloning with this network).
//! `cargo run --release --example clone_ceiling -- MODEL_DIR PROGRAM STEPS` (STEPS 0: no cloning;
//! `TARGET=other.sf2` measures against another SoundFont than TimGM6mb, from scripts/soundfonts;
//! `START=NAME` starts the clones from that timbre of the model, `LR=x` sets Adam's rate, `ONLY_B=1`
//! skips the clone from A; `NET=1` tunes the network's weights with the timbre, from A only unless
//! `ONLY_B`: how close this synth gets at all once it may change, not a timbre).

use std::collections::HashMap;

use candle_core::{DType, Device, Var};
use candle_nn::{VarBuilder, VarMap};
use reprise::synth::clone::{tune, CloneSettings};
use reprise::synth::data::render_phrase;
use reprise::synth::eval::{heldout_phrases, neural_phrase, phrase_distance};
use reprise::synth::model::{NeuralSynth, SynthConfig};
use reprise::synth::render::{load_network, load_timbre, timbre_names, timbre_path};

fn main() -> reprise::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(&args[1]);
    let program: u8 = args[2].parse().unwrap();
    let steps: usize = args[3].parse().unwrap();
    let tune_net = std::env::var("NET").is_ok();
    let (net, extra) = if tune_net {
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
        let cfg: SynthConfig = serde_json::from_str(&text).unwrap();
        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let net = NeuralSynth::new(&cfg, vb).unwrap();
        varmap.load(dir.join("model.safetensors")).unwrap();
        let vars: HashMap<String, Var> = varmap.data().lock().unwrap().clone();
        (net, vars)
    } else {
        (load_network(dir)?, HashMap::new())
    };
    let sf = |p: &str| reprise::audio::soundfont::load(Some(std::path::Path::new(p)));
    let target = std::env::var("TARGET").unwrap_or("/usr/share/sounds/sf2/TimGM6mb.sf2".into());
    let tim = sf(&target)?;
    let fluid = sf("/usr/share/sounds/sf2/FluidR3_GM.sf2")?;
    let bundled = reprise::audio::soundfont::load(None)?;
    let ((audio_a, notes_a), (audio_b, notes_b)) = heldout_phrases(&tim, program, 20.0)?;
    let n = audio_b.len();
    let d = |x: &[f32]| phrase_distance(x, &audio_b).unwrap();
    let fl = render_phrase(&fluid, program, &notes_b, 20.0)?;
    let bu = render_phrase(&bundled, program, &notes_b, 20.0)?;
    println!("fluid {:.3} bundled {:.3}", d(&fl), d(&bu));
    let mut all = Vec::new();
    for name in timbre_names(dir) {
        let t = load_timbre(&timbre_path(dir, &name), net.config())?;
        all.push((d(&neural_phrase(&net, &t, &notes_b, n)?), name));
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("{:?}", &all[..all.len().min(6)]);
    let best = all[0].clone();
    if steps == 0 {
        return Ok(());
    }
    let start = std::env::var("START").unwrap_or(best.1.clone());
    let init = load_timbre(&timbre_path(dir, &start), net.config())?;
    let lr = std::env::var("LR").map_or(0.1, |v| v.parse().unwrap());
    let settings = CloneSettings {
        max_steps: steps,
        check_every: if tune_net { steps } else { 10 },
        patience: 0,
        lr,
    };
    let only_b = std::env::var("ONLY_B").is_ok();
    for (label, audio, notes) in [("A", &audio_a, &notes_a), ("B", &audio_b, &notes_b)] {
        if (only_b && label == "A") || (tune_net && !only_b && label == "B") {
            continue;
        }
        let t0 = std::time::Instant::now();
        let (t, curve) = tune(
            &net,
            &init,
            extra.clone(),
            audio,
            notes,
            &settings,
            &mut |_, _| {},
        )?;
        let dist = d(&neural_phrase(&net, &t, &notes_b, n)?);
        println!(
            "clone from {label}: {dist:.3} (best step {}, {:.0} s) checks {:?}",
            curve.best_step,
            t0.elapsed().as_secs_f64(),
            curve
                .checks
                .iter()
                .map(|c| (c.1 * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}
