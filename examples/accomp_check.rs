//! Diagnoses the accompaniment model on one POP909 song: teacher-forced NLL of a window through the
//! full and the cached decoder, and piano notes per bar sampled by a naive full-forward loop against
//! `accompany` and the original. `cargo run --release --example accomp_check -- MODEL_DIR SONG_DIR`.
use candle_core::{DType, Device, Tensor};
use reprise::accompany::bars::{notes_of, place};
use reprise::generate::sampler::{Sampler, SamplerConfig};
use reprise::midi::TrackRole;
use reprise::model::theme_transformer::ThemeTransformer;
use reprise::tokens::remi::{self, Part};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dev = Device::Cpu;
    let model = ThemeTransformer::load(std::path::Path::new(&args[1]), &dev)?;
    let root = std::path::Path::new(&args[2]);
    let name = root.file_name().unwrap().to_string_lossy().to_string();
    let path = root.join(format!("{name}.mid"));
    let score = reprise::midi::read_file(&path)?;
    let d = reprise::pop909::downbeats(&path).unwrap();
    let bars = reprise::theme::retrieval::bars_from_downbeats(&score, &d, score.end_tick());
    let windows = reprise::train::accomp::song_windows(&score, &bars, model.config(), None);
    let w = &windows[1];
    let t = |v: &[u32]| Tensor::from_vec(v.to_vec(), (1, v.len()), &dev).unwrap();
    let th = t(&w.theme);
    let mem = model.encode(
        &th,
        &th.ones_like()?.to_dtype(DType::F32)?,
        &t(&w.theme_pos),
        false,
    )?;
    let n = w.ids.len() - 1;
    let gate = Tensor::ones((1, n), DType::F32, &dev)?;
    let full = model.decode(
        &t(&w.ids[..n]),
        &t(&w.counter[..n]),
        &gate,
        &mem,
        None,
        false,
    )?;
    let nll = |logits: &Tensor| -> f64 {
        let lp = candle_nn::ops::log_softmax(&logits.squeeze(0).unwrap(), 1).unwrap();
        let lp = lp.to_vec2::<f32>().unwrap();
        (0..n)
            .map(|i| -lp[i][w.ids[i + 1] as usize] as f64)
            .sum::<f64>()
            / n as f64
    };
    println!(
        "window 1: {} tokens, theme {} tokens; full NLL {:.4}",
        n,
        w.theme.len(),
        nll(&full)
    );
    let mut cache = Default::default();
    let cached = model.decode_cached(
        &t(&w.ids[..n]),
        &w.counter[..n],
        &vec![1.0; n],
        &mem,
        &mut cache,
    )?;
    println!("cached prefill NLL {:.4}", nll(&cached));
    // Wrong melody: window 2's.
    let w2 = &windows[2];
    let th2 = t(&w2.theme);
    let mem2 = model.encode(
        &th2,
        &th2.ones_like()?.to_dtype(DType::F32)?,
        &t(&w2.theme_pos),
        false,
    )?;
    let other = model.decode(
        &t(&w.ids[..n]),
        &t(&w.counter[..n]),
        &gate,
        &mem2,
        None,
        false,
    )?;
    println!("with window 2's melody NLL {:.4}", nll(&other));
    let empty = t(&[remi::BAR]);
    let mem3 = model.encode(
        &empty,
        &empty.ones_like()?.to_dtype(DType::F32)?,
        &t(&[1]),
        false,
    )?;
    let none = model.decode(
        &t(&w.ids[..n]),
        &t(&w.counter[..n]),
        &gate,
        &mem3,
        None,
        false,
    )?;
    println!("with no melody NLL {:.4}", nll(&none));
    // The melody one semitone up: harmony should clash.
    let up = reprise::tokens::RemiVocab::default();
    use reprise::tokens::Vocab;
    let th4 = t(&up.transpose(&w.theme, 5).unwrap());
    let mem4 = model.encode(
        &th4,
        &th4.ones_like()?.to_dtype(DType::F32)?,
        &t(&w.theme_pos),
        false,
    )?;
    let shifted = model.decode(
        &t(&w.ids[..n]),
        &t(&w.counter[..n]),
        &gate,
        &mem4,
        None,
        false,
    )?;
    println!("with the melody a fourth up NLL {:.4}", nll(&shifted));
    // Naive sampling, full forward each step, no mask, 4 bars.
    let mut sampler = Sampler::new(SamplerConfig {
        seed: 1,
        ..SamplerConfig::default()
    })?;
    let mut ids = vec![reprise::tokens::BOS];
    loop {
        let counter = remi::time_positions(&ids);
        let l = ids.len();
        let g = Tensor::ones((1, l), DType::F32, &dev)?;
        let logits = model.decode(&t(&ids), &t(&counter), &g, &mem, None, false)?;
        let row = logits.squeeze(0)?.get(l - 1)?.to_vec1::<f32>()?;
        let id = sampler.sample(&row, None);
        if id == remi::BAR && ids.iter().filter(|&&i| i == remi::BAR).count() == 4 {
            break;
        }
        ids.push(id);
        if ids.len() > 500 {
            break;
        }
    }
    // The same loop through the cache.
    let mut sampler = Sampler::new(SamplerConfig {
        seed: 1,
        ..SamplerConfig::default()
    })?;
    let mut cids = vec![reprise::tokens::BOS];
    let mut cache = Default::default();
    let mut logits = model.decode_cached(&t(&cids), &[0], &[1.0], &mem, &mut cache)?;
    let mut time = remi::TimeCounter::default();
    time.next(reprise::tokens::BOS);
    loop {
        let row = logits.squeeze(0)?.get(0)?.to_vec1::<f32>()?;
        let id = sampler.sample(&row, None);
        if id == remi::BAR && cids.iter().filter(|&&i| i == remi::BAR).count() == 4 {
            break;
        }
        cids.push(id);
        if cids.len() > 500 {
            break;
        }
        let c = time.next(id);
        logits = model.decode_cached(&t(&[id]), &[c], &[1.0], &mem, &mut cache)?;
    }
    println!("cached loop equals full loop: {}", cids == ids);
    // The full loop again, with the piano grammar mask.
    for seed in 1..4 {
        let mut sampler = Sampler::new(SamplerConfig {
            seed,
            ..SamplerConfig::default()
        })?;
        let mut mids = vec![reprise::tokens::BOS];
        let mut state = remi::RemiState::default();
        loop {
            let counter = remi::time_positions(&mids);
            let l = mids.len();
            let g = Tensor::ones((1, l), DType::F32, &dev)?;
            let logits = model.decode(&t(&mids), &t(&counter), &g, &mem, None, false)?;
            let row = logits.squeeze(0)?.get(l - 1)?.to_vec1::<f32>()?;
            let mut ok = state.allowed(false);
            for id in remi::TEMPO..Part::Piano.velocity(1) {
                ok[id as usize] = false;
            }
            ok[remi::BAR as usize] = true;
            if mids.len() == 1 {
                ok.iter_mut().for_each(|x| *x = false);
                ok[remi::BAR as usize] = true;
            }
            let id = sampler.sample(&row, Some(&ok));
            if id == remi::BAR && mids.iter().filter(|&&i| i == remi::BAR).count() == 4 {
                break;
            }
            mids.push(id);
            state.push(id);
            if mids.len() > 500 {
                break;
            }
        }
        let np = notes_of(&mids, 0, Part::Piano);
        println!(
            "masked full loop seed {seed}: notes per bar {:?}",
            (0..4)
                .map(|b| np.iter().filter(|n| n.bar == b).count())
                .collect::<Vec<_>>()
        );
        let mut sampler = Sampler::new(SamplerConfig {
            seed,
            ..SamplerConfig::default()
        })?;
        let mut mids = vec![reprise::tokens::BOS];
        loop {
            let counter = remi::time_positions(&mids);
            let l = mids.len();
            let g = Tensor::ones((1, l), DType::F32, &dev)?;
            let logits = model.decode(&t(&mids), &t(&counter), &g, &mem, None, false)?;
            let row = logits.squeeze(0)?.get(l - 1)?.to_vec1::<f32>()?;
            let id = sampler.sample(&row, None);
            if id == remi::BAR && mids.iter().filter(|&&i| i == remi::BAR).count() == 4 {
                break;
            }
            mids.push(id);
            if mids.len() > 500 {
                break;
            }
        }
        let np = notes_of(&mids, 0, Part::Piano);
        println!(
            "unmasked full loop seed {seed}: notes per bar {:?}",
            (0..4)
                .map(|b| np.iter().filter(|n| n.bar == b).count())
                .collect::<Vec<_>>()
        );
    }
    let per_bar = |notes: &[reprise::accompany::bars::GridNote]| {
        (0..4)
            .map(|b| notes.iter().filter(|n| n.bar == b).count())
            .collect::<Vec<_>>()
    };
    let orig = notes_of(&w.ids, 0, Part::Piano);
    println!("original notes per bar {:?}", per_bar(&orig));
    println!(
        "naive sample notes per bar {:?}",
        per_bar(&notes_of(&ids, 0, Part::Piano))
    );
    // The same bars through `accompany`: window 1 starts where window 0 ended.
    let start_bar = windows[0].ids.iter().filter(|&&i| i == remi::BAR).count();
    let melody: Vec<_> = reprise::train::accomp::track_notes(&score, TrackRole::Melody)
        .into_iter()
        .map(
            |(start, end, pitch, velocity)| reprise::theme::retrieval::MelodyNote {
                pitch,
                velocity,
                start,
                end,
            },
        )
        .collect();
    let sub = &bars[start_bar..start_bar + 5];
    let melody: Vec<_> = melody
        .into_iter()
        .filter(|n| (sub[0]..sub[4]).contains(&n.start))
        .collect();
    let req = reprise::accompany::generate::AccompanyRequest::new(SamplerConfig {
        seed: 1,
        ..SamplerConfig::default()
    });
    let acc = reprise::accompany::generate::accompany(&model, &melody, sub, &req, &mut |_, _| {})?;
    println!("accompany notes per bar {:?}", per_bar(&acc));
    let mel_notes = place(
        melody.iter().map(|n| (n.start, n.end, n.pitch, n.velocity)),
        sub,
    );
    let mel_bars = reprise::accompany::bars::bar_tokens(&mel_notes, 4, Part::Melody);
    let theme_acc = reprise::accompany::bars::melody_window(&mel_bars, 0, 4, 256);
    println!(
        "accompany theme {} tokens, prefix of the training theme: {}",
        theme_acc.len(),
        w.theme.starts_with(&theme_acc)
    );
    println!(
        "train theme head {:?}\nacc theme head {:?}",
        &w.theme[..20.min(w.theme.len())],
        &theme_acc[..20.min(theme_acc.len())]
    );
    let pcs = |notes: &[reprise::accompany::bars::GridNote]| {
        let mut h = [0usize; 12];
        notes
            .iter()
            .filter(|n| n.bar < 4)
            .for_each(|n| h[n.pitch as usize % 12] += 1);
        h
    };
    println!(
        "pitch classes C..B: original {:?}\n naive {:?}\n accompany {:?}",
        pcs(&orig),
        pcs(&notes_of(&ids, 0, Part::Piano)),
        pcs(&acc)
    );
    let mel = notes_of(&w.theme, 0, Part::Melody);
    println!(" melody {:?}", pcs(&mel));
    Ok(())
}
