//! NLL of a beat-aware piano model per kind of token (Bar, Position, Velocity, Note-On, Duration,
//! Tempo) on the first `max_len` tokens of each POP909 validation song. It shows where a model is
//! unsure: a model that does not follow the bar predicts Positions no better than uniform
//! (ln 16 = 2.77 nats).
//!
//! `cargo run --release --example beat_nll_by_kind -- models/pop909-beat ../shared/data/pop909`

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor, D};
use reprise::model::MusicTransformer;
use reprise::tokens::remi::{token, Token};
use reprise::tokens::{RemiVocab, Vocab};

fn kind(id: u32) -> &'static str {
    match token(id) {
        Some(Token::Bar) => "Bar",
        Some(Token::Position(_)) => "Position",
        Some(Token::Velocity(..)) => "Velocity",
        Some(Token::NoteOn(..)) => "Note-On",
        Some(Token::Duration(..)) => "Duration",
        Some(Token::Tempo(_)) => "Tempo",
        _ => "other",
    }
}

fn main() -> reprise::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (model_dir, data) = match args.as_slice() {
        [_, m, d] => (m.clone(), d.clone()),
        _ => ("models/pop909-beat".into(), "../shared/data/pop909".into()),
    };
    let model = MusicTransformer::load(Path::new(&model_dir), &Device::Cpu)?;
    let max_len = model.config().max_len;
    let mut sums = BTreeMap::<&str, (f64, usize)>::new();
    for song in reprise::pop909::songs(Path::new(&data), "valid")? {
        let mut score = song.score()?;
        score.sustain.clear();
        let vocab = RemiVocab {
            bars: Some(song.bars(&score)),
            themes: vec![],
            one_part: true,
        };
        let ids = vocab.encode(&score)?;
        let ids = &ids[..ids.len().min(max_len)];
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let input = Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu)?;
            let logits = model.forward(&input, None, false)?;
            candle_nn::ops::log_softmax(&logits, D::Minus1)?
                .squeeze(0)?
                .to_vec2::<f32>()
        };
        let lp = run().map_err(reprise::Error::tensor)?;
        for t in 1..ids.len() {
            let e = sums.entry(kind(ids[t])).or_default();
            e.0 -= lp[t - 1][ids[t] as usize] as f64;
            e.1 += 1;
        }
    }
    let total: usize = sums.values().map(|v| v.1).sum();
    let nll: f64 = sums.values().map(|v| v.0).sum();
    println!("| token kind | tokens | share | NLL (nats) |\n|---|---|---|---|");
    for (k, (s, n)) in &sums {
        let share = 100.0 * *n as f64 / total as f64;
        println!("| {k} | {n} | {share:.1} % | {:.3} |", s / *n as f64);
    }
    println!("| all | {total} | 100 % | {:.3} |", nll / total as f64);
    Ok(())
}
