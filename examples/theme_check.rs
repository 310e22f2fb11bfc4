//! Teacher-forced NLL of a POP909 song's melody tokens inside its theme regions, with its own theme,
//! the theme transposed, and no theme: `cargo run --release --example theme_check -- MODEL SONG_DIR`.
use candle_core::{DType, Device, Tensor};
use reprise::model::theme_transformer::ThemeTransformer;
use reprise::tokens::{remi, RemiVocab, Vocab};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dev = Device::Cpu;
    let model = ThemeTransformer::load(std::path::Path::new(&args[1]), &dev)?;
    let root = std::path::Path::new(&args[2]);
    let name = root.file_name().unwrap().to_string_lossy().to_string();
    let path = root.join(format!("{name}.mid"));
    let song = reprise::midi::read_file(&path)?;
    let downbeats = reprise::pop909::downbeats(&path);
    let cfg = model.config();
    let piece = reprise::train::theme::theme_piece(
        &song,
        downbeats.as_deref(),
        &Default::default(),
        cfg.max_theme,
        cfg.time_aligned,
    )?
    .unwrap();
    let start = piece
        .ids
        .iter()
        .position(|&i| i == remi::THEME_START)
        .unwrap()
        .saturating_sub(100);
    let n = (piece.ids.len() - start - 1).min(cfg.max_len);
    let ids = &piece.ids[start..start + n + 1];
    let t = |v: &[u32]| Tensor::from_vec(v.to_vec(), (1, v.len()), &dev).unwrap();
    let gate = Tensor::from_vec(piece.gate[start..start + n].to_vec(), (1, n), &dev)?;
    let counter = t(&piece.counter[start..start + n]);
    let score = |theme: &[u32]| -> anyhow::Result<(f64, f64, usize)> {
        let th = t(theme);
        let pos = reprise::tokens::remi::encoder_positions(theme, cfg.time_aligned);
        let mem = model.encode(&th, &th.ones_like()?.to_dtype(DType::F32)?, &t(&pos), false)?;
        let logits = model.decode(&t(&ids[..n]), &counter, &gate, &mem, None, false)?;
        let lp = candle_nn::ops::log_softmax(&logits.squeeze(0)?, 1)?.to_vec2::<f32>()?;
        let (mut all, mut mel, mut k) = (0.0, 0.0, 0);
        let mut cnt = 0;
        for i in 0..n {
            if piece.gate[start + i] == 0.0 {
                continue;
            }
            let target = ids[i + 1];
            let nll = -lp[i][target as usize] as f64;
            all += nll;
            cnt += 1;
            if let Some(remi::Token::NoteOn(remi::Part::Melody, _)) = remi::token(target) {
                mel += nll;
                k += 1;
            }
        }
        Ok((all / cnt.max(1) as f64, mel / k.max(1) as f64, k))
    };
    let v = RemiVocab::default();
    for (label, theme) in [
        ("own", piece.theme.clone()),
        ("+3", v.transpose(&piece.theme, 3).unwrap()),
        ("none", vec![remi::BAR]),
    ] {
        let (a, m, k) = score(&theme)?;
        println!("{label:>5}: region NLL {a:.3}, melody Note-On NLL {m:.3} over {k} notes");
    }
    Ok(())
}
